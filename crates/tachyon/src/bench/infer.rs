//! `tachyon bench infer`: single-sample latency of the f32 and int8 predictors (every call timed alone into an
//! HDR histogram: >= 1M warm calls, and cold calls with L1 and L2 evicted before each), and batch throughput
//! (1024 rows, one and two threads). Without `--model`, the standard 32 -> 64 -> 64 -> 1 ReLU network with
//! seeded random weights; int8 is calibrated and checked on synthetic rows drawn from the model's own
//! standardisation (seeded), and skipped with a message if its accuracy check refuses.

use std::path::Path;

use anyhow::Context;
use tachyon_infer::latency::{measure, CacheState, LatencyReport};
use tachyon_infer::{DenseNetwork, Int8Predictor, Predictor};
use tachyon_train::{Activation, ModelFile};

use super::harness::{time, Timing};
use super::{Row, Scale};

/// Rows in the batch workload.
const BATCH: usize = 1024;

/// The standard benchmark network: 32 -> 64 -> 64 -> 1, ReLU, weights from seed 42.
pub fn standard_network() -> DenseNetwork {
    DenseNetwork::seeded(&[32, 64, 64, 1], Activation::Relu, 42)
}

/// `n` rows of raw features: each feature its mean plus its std times a uniform value in [-1.7, 1.7] (unit
/// variance), from a fixed LCG.
pub fn synthetic_rows(net: &DenseNetwork, n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    (0..n)
        .flat_map(|_| net.mean.iter().zip(&net.std).map(|(m, s)| (m + s * 1.73 * next()) as f32).collect::<Vec<_>>())
        .collect()
}

fn latency_row(case: &'static str, isa: &'static str, dtype: &'static str, r: &LatencyReport) -> Row {
    let mut row =
        Row::new("infer", case, isa, dtype, 1, Timing { median_ns: r.p50_ns, p10_ns: r.p10_ns, p90_ns: r.p90_ns });
    row.size = Some(r.calls);
    row.p50_ns = Some(r.p50_ns);
    row.p99_ns = Some(r.p99_ns);
    row.p999_ns = Some(r.p999_ns);
    row.max_ns = Some(r.max_ns);
    row
}

/// `row` with the int8 predictor's activation width.
fn int8_row(mut row: Row, q: &Int8Predictor) -> Row {
    row.activation_bits = Some(q.activation_bits().bits());
    row
}

/// Runs the inference workload on `model` (a model file) or the standard network.
pub fn run(scale: Scale, model: Option<&Path>, emit: &mut dyn FnMut(Row)) -> anyhow::Result<()> {
    let net = match model {
        Some(path) => {
            let file = ModelFile::load(path, tachyon_features::SCHEMA.hash())?;
            DenseNetwork::from_model_file(&file).with_context(|| format!("{}", path.display()))?
        }
        None => standard_network(),
    };
    let (warm_calls, cold_calls) = match scale {
        Scale::Full => (2_000_000, 200_000),
        Scale::Quick => (1_000_000, 50_000),
        Scale::Smoke => (1_000, 100),
    };
    // Twice L2 (per core) is enough to push the weights and scratch out of L1 and L2; they stay in L3.
    let evict_bytes = 2 * tachyon_simd::cache::CacheSizes::get().l2;
    let rows = synthetic_rows(&net, 4096, 7);
    let d = net.inputs;
    let mut f32_predictor = Predictor::new(&net)?;
    let isa = f32_predictor.isa().name();
    let int8 = match Int8Predictor::quantize(&net, &rows[..2048 * d], &rows[2048 * d..]) {
        Ok((q, report)) => {
            eprintln!(
                "int8 ({} kernel, {}-bit activations) vs f32 on {} synthetic check rows: correlation {:.6}, max |error| \
                 {:.3e}, mean |error| {:.3e} (f32 output std {:.3e})",
                q.kernel().name(),
                report.bits.bits(),
                report.rows,
                report.correlation,
                report.max_abs_error,
                report.mean_abs_error,
                report.f32_std
            );
            Some(q)
        }
        Err(e) => {
            eprintln!("int8 skipped: {e}");
            None
        }
    };
    let row_at = |i: u64| (i as usize % 4096) * d;

    let r = measure(warm_calls, CacheState::Warm, |i| {
        let k = row_at(i);
        std::hint::black_box(f32_predictor.predict(&rows[k..k + d]).expect("width")[0]);
    });
    emit(latency_row("single_warm", isa, "f32", &r));
    let mut int8 = int8;
    if let Some(q) = int8.as_mut() {
        let r = measure(warm_calls, CacheState::Warm, |i| {
            let k = row_at(i);
            std::hint::black_box(q.predict(&rows[k..k + d]).expect("width")[0]);
        });
        emit(int8_row(latency_row("single_warm", q.kernel().name(), "int8", &r), q));
    }
    let cold = CacheState::Cold { evict_bytes };
    let r = measure(cold_calls, cold, |i| {
        let k = row_at(i);
        std::hint::black_box(f32_predictor.predict(&rows[k..k + d]).expect("width")[0]);
    });
    emit(latency_row("single_cold", isa, "f32", &r));
    if let Some(q) = int8.as_mut() {
        let r = measure(cold_calls, cold, |i| {
            let k = row_at(i);
            std::hint::black_box(q.predict(&rows[k..k + d]).expect("width")[0]);
        });
        emit(int8_row(latency_row("single_cold", q.kernel().name(), "int8", &r), q));
    }

    let batch = &rows[..BATCH * d];
    let mut out = vec![0.0f32; BATCH * net.outputs()];
    let per_row = |t: Timing| Timing {
        median_ns: t.median_ns / BATCH as f64,
        p10_ns: t.p10_ns / BATCH as f64,
        p90_ns: t.p90_ns / BATCH as f64,
    };
    let threads = rayon::current_num_threads();
    let batch_row = |dtype: &'static str, isa: &'static str, thr: usize, t: Timing| {
        let mut row = Row::new("infer", "batch1024_row", isa, dtype, thr, per_row(t));
        row.size = Some(BATCH as u64);
        row.gflops = Some(2.0 * net.macs() as f64 / row.median_ns);
        row
    };
    let t = time(scale.budget(), || f32_predictor.predict_batch(batch, &mut out).expect("shape"));
    emit(batch_row("f32", isa, 1, t));
    let t = time(scale.budget(), || f32_predictor.predict_batch_parallel(batch, &mut out).expect("shape"));
    emit(batch_row("f32", isa, threads, t));
    if let Some(q) = int8.as_mut() {
        let kernel = q.kernel().name();
        let t = time(scale.budget(), || q.predict_batch(batch, &mut out).expect("shape"));
        emit(int8_row(batch_row("int8", kernel, 1, t), q));
        let t = time(scale.budget(), || q.predict_batch_parallel(batch, &mut out).expect("shape"));
        emit(int8_row(batch_row("int8", kernel, threads, t), q));
    }
    Ok(())
}
