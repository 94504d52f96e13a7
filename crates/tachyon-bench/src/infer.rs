//! `tachyon bench infer`: single-sample latency of the f32 and int8 predictors (every call timed alone into an
//! HDR histogram: >= 1M warm calls, and cold calls with L1 and L2 evicted before each), and batch throughput
//! (1024 rows, one and two threads). Without `--model`, the standard 32 -> 64 -> 64 -> 1 ReLU network with
//! seeded random weights; int8 is calibrated and checked on synthetic rows drawn from the model's own
//! standardisation (seeded), and skipped with a message if its accuracy check refuses.

use std::path::Path;

use anyhow::Context;
use tachyon_infer::latency::{measure, CacheState, LatencyReport};
use tachyon_infer::{Activation, CompiledModel, DenseNetwork, ModelFile, Precision};

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

/// The instruction set or integer kernel a row names, and `row` with an int8 model's activation width.
fn kernel_name(model: &CompiledModel) -> &'static str {
    match model.precision() {
        Precision::F32 => model.isa().name(),
        Precision::Int8 { kernel, .. } => kernel.name(),
    }
}

fn with_bits(mut row: Row, model: &CompiledModel) -> Row {
    if let Precision::Int8 { bits, .. } = model.precision() {
        row.activation_bits = Some(bits.bits());
    }
    row
}

/// The network the inference workload measures: `model` (a model file) or the standard network.
pub fn network(model: Option<&Path>) -> anyhow::Result<DenseNetwork> {
    Ok(match model {
        Some(path) => {
            let file = ModelFile::load(path, &tachyon_train::FEATURES)?;
            DenseNetwork::from_model_file(&file).with_context(|| format!("{}", path.display()))?
        }
        None => standard_network(),
    })
}

/// Runs the inference workload on `net`.
pub fn run(scale: Scale, net: &DenseNetwork, emit: &mut dyn FnMut(Row)) -> anyhow::Result<()> {
    let (warm_calls, cold_calls) = match scale {
        Scale::Full => (2_000_000, 200_000),
        Scale::Quick => (1_000_000, 50_000),
        Scale::Smoke => (1_000, 100),
    };
    // Twice L2 (per core) is enough to push the weights and scratch out of L1 and L2; they stay in L3.
    let evict_bytes = 2 * tachyon_simd::cache::CacheSizes::get().l2;
    let rows = synthetic_rows(net, 4096, 7);
    let d = net.inputs;
    let backend = tachyon_simd::Backend::active();
    let f32_model = CompiledModel::compile(net, &backend)?;
    let int8 = match CompiledModel::quantize(net, &rows[..2048 * d], &rows[2048 * d..], &backend) {
        Ok((q, report)) => {
            eprintln!(
                "int8 ({} kernel, {}-bit activations) vs f32 on {} synthetic check rows: correlation {:.6}, RMS error \
                 {:.3} and 99.9th-percentile error {:.3} f32 output stds, max |error| {:.3e} (f32 output std {:.3e})",
                kernel_name(&q),
                report.bits.bits(),
                report.rows,
                report.correlation,
                report.rms_error / report.f32_std,
                report.p999_abs_error / report.f32_std,
                report.max_abs_error,
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
    let models: Vec<&CompiledModel> = std::iter::once(&f32_model).chain(int8.as_ref()).collect();
    for (case, cache, calls) in
        [("single_warm", CacheState::Warm, warm_calls), ("single_cold", CacheState::Cold { evict_bytes }, cold_calls)]
    {
        for model in &models {
            let mut scratch = model.scratch();
            let mut y = vec![0.0f32; model.outputs()];
            let r = measure(calls, cache, |i| {
                let k = row_at(i);
                model.predict(&rows[k..k + d], &mut scratch, &mut y).expect("width");
                std::hint::black_box(y[0]);
            });
            emit(with_bits(latency_row(case, kernel_name(model), model.precision().name(), &r), model));
        }
    }

    let batch = &rows[..BATCH * d];
    let mut out = vec![0.0f32; BATCH * net.outputs()];
    let per_row = |t: Timing| Timing {
        median_ns: t.median_ns / BATCH as f64,
        p10_ns: t.p10_ns / BATCH as f64,
        p90_ns: t.p90_ns / BATCH as f64,
    };
    let threads = rayon::current_num_threads();
    let batch_row = |model: &CompiledModel, thr: usize, t: Timing| {
        let mut row = Row::new("infer", "batch1024_row", kernel_name(model), model.precision().name(), thr, per_row(t));
        row.size = Some(BATCH as u64);
        row.gflops = Some(2.0 * net.macs() as f64 / row.median_ns);
        with_bits(row, model)
    };
    for model in &models {
        let mut scratch = model.scratch();
        let mut workers: Vec<_> = (0..threads).map(|_| model.scratch()).collect();
        let t = time(scale.budget(), || model.predict_batch(batch, &mut scratch, &mut out).expect("shape"));
        emit(batch_row(model, 1, t));
        let t = time(scale.budget(), || model.predict_batch_parallel(batch, &mut workers, &mut out).expect("shape"));
        emit(batch_row(model, threads, t));
    }
    Ok(())
}
