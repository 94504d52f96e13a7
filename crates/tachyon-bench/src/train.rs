//! `tachyon bench train`: ridge in closed form on 1,000,000 x 32 f64 (compare `benches/peers/train_peers.py`,
//! same shapes), one epoch of the standard MLP workload (32 -> 64 -> 64 -> 1 ReLU, batch 256, Adam, 1,000,000
//! synthetic samples; `median_ns` per epoch); `tachyon bench grad`: a single-sample forward + backward
//! (`grad_single`).

use std::time::Instant;

use tachyon_train::{
    forward_backward, Activation, DataParallel, Head, Mlp, MlpSpec, Optimizer, Ridge, Targets, Workspace,
};

use super::harness::{time, Timing};
use super::{Row, Scale};

fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (*state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn median_of(mut samples: Vec<f64>) -> Timing {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Timing { median_ns: at(0.5), p10_ns: at(0.1), p90_ns: at(0.9) }
}

fn spec() -> MlpSpec {
    MlpSpec { inputs: 32, hidden: vec![64, 64], activation: Activation::Relu, head: Head::Regression }
}

/// Runs the training workload.
pub fn run(scale: Scale, emit: &mut dyn FnMut(Row)) -> anyhow::Result<()> {
    let rows = if scale == Scale::Smoke { 4096 } else { 1_000_000 };
    let repeats = match scale {
        Scale::Full => 5,
        Scale::Quick => 3,
        Scale::Smoke => 1,
    };
    let mut state = 7u64;
    let (d, n) = (32usize, rows);
    let z: Vec<f64> = (0..n * d).map(|_| lcg(&mut state)).collect();
    let y: Vec<f32> = z.chunks(d).map(|r| (r[0] * 0.5 - r[3] * 0.25 + 0.1 * lcg(&mut state)) as f32).collect();
    let samples = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(Ridge::fit(&z, &y, d, 1e-3).expect("positive definite"));
            t.elapsed().as_nanos() as f64
        })
        .collect();
    let mut row = Row::new("train", "ridge_1m_x32", "auto", "f64", rayon::current_num_threads(), median_of(samples));
    row.size = Some(n as u64);
    row.gflops = Some(2.0 * (n * d * d) as f64 / row.median_ns);
    emit(row);

    let x: Vec<f32> = z.iter().map(|&v| v as f32).collect();
    let batch = 256;
    let mut mlp = Mlp::<f32>::new(spec(), 1);
    // One part of each batch per thread of the pool (the caller and helper threads), as `tachyon train` runs it.
    let threads = rayon::current_num_threads();
    let mut ws = DataParallel::new(&mlp, batch, threads);
    let mut adam = Optimizer::adam(&mlp, 1e-3);
    let samples = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            for b in 0..n / batch {
                let loss = ws.forward_backward(
                    &mlp,
                    &x[b * batch * d..(b + 1) * batch * d],
                    Targets::Values(&y[b * batch..(b + 1) * batch]),
                );
                adam.step(&mut mlp, ws.gradients(), loss).expect("finite");
            }
            t.elapsed().as_nanos() as f64
        })
        .collect();
    let mut row = Row::new("train", "mlp_epoch", "auto", "f32", threads, median_of(samples));
    row.size = Some(n as u64);
    // Forward 2 FLOP per weight, backward 4 (dW and dA; the first layer's dA is skipped, counted anyway).
    let weights = (32 * 64 + 64 * 64 + 64) as f64;
    row.gflops = Some(6.0 * weights * n as f64 / row.median_ns);
    emit(row);

    Ok(())
}

/// Single-sample forward + backward of the standard network (`tachyon bench grad`).
pub fn grad(scale: Scale, emit: &mut dyn FnMut(Row)) {
    let mut state = 11u64;
    let x: Vec<f32> = (0..32).map(|_| lcg(&mut state) as f32).collect();
    let mlp = Mlp::<f32>::new(spec(), 1);
    let mut one = Workspace::new(&mlp, 1);
    let t = time(scale.budget(), || forward_backward(&mlp, &mut one, &x, Targets::Values(&[0.5])));
    emit(Row::new("grad", "grad_single", "auto", "f32", 1, t));
}
