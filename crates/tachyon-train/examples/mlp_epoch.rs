//! One epoch of the standard workload (MLP 32 -> 64 -> 64 -> 1, ReLU, batch 256, Adam, 1,000,000 synthetic
//! samples), timed: `cargo run --release -p tachyon-train --example mlp_epoch [EPOCHS]`. Prints each epoch's time
//! and the median, with the batch cut into one part per thread (`PARTS` env var overrides; the benchmark is
//! `tachyon bench train`).

use std::time::Instant;

use tachyon_train::{Activation, DataParallel, Head, Mlp, MlpSpec, Optimizer, Targets};

fn main() {
    let epochs: usize = std::env::args().nth(1).map_or(3, |e| e.parse().expect("EPOCHS is a number"));
    let (rows, batch) = (1_000_000usize, 256usize);
    let mut state = 7u64;
    let mut rand = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
    };
    let x: Vec<f32> = (0..rows * 32).map(|_| rand()).collect();
    let y: Vec<f32> = x.chunks(32).map(|r| r[0] * 0.5 - r[3] * r[7] + 0.1 * r[12]).collect();
    let spec = MlpSpec { inputs: 32, hidden: vec![64, 64], activation: Activation::Relu, head: Head::Regression };
    let mut mlp = Mlp::<f32>::new(spec, 1);
    let parts = std::env::var("PARTS").ok().and_then(|p| p.parse().ok()).unwrap_or_else(rayon::current_num_threads);
    let mut ws = DataParallel::new(&mlp, batch, parts);
    let mut adam = Optimizer::adam(&mlp, 1e-3);
    let mut times = Vec::new();
    for epoch in 0..epochs {
        let start = Instant::now();
        let mut total = 0.0;
        for b in 0..rows / batch {
            let loss = ws.forward_backward(
                &mlp,
                &x[b * batch * 32..(b + 1) * batch * 32],
                Targets::Values(&y[b * batch..(b + 1) * batch]),
            );
            adam.step(&mut mlp, ws.gradients(), loss).expect("finite");
            total += loss;
        }
        let s = start.elapsed().as_secs_f64();
        times.push(s);
        println!("epoch {epoch}: {s:.3} s, mean loss {:.5}", total / (rows / batch) as f64);
    }
    times.sort_by(f64::total_cmp);
    println!("median epoch {:.3} s", times[times.len() / 2]);
}
