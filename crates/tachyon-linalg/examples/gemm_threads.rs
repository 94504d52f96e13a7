//! One thread against two, timed from the same thread of a 2-thread pool in alternating rounds, so that neither
//! side gets the faster vCPU or the quieter minute (`tachyon bench gemm` times two threads on a pool thread and
//! one on the main thread).
//!
//! `cargo run --release -p tachyon-linalg --example gemm_threads -- [n ...]` (default 64 128 192 256 512)

use std::time::Instant;

use tachyon_linalg::{Gemm, MatMut, MatRef, Parallelism};

/// Median of `reps` timed calls after one warm-up, in microseconds.
fn median_us(mut f: impl FnMut(), reps: usize) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![64, 128, 192, 256, 512] } else { sizes };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a 2-thread pool");
    let plan = Gemm::<f32>::active();
    for n in sizes {
        let a: Vec<f32> = (0..n * n).map(|i| (i % 17) as f32 * 0.1).collect();
        let mut c = vec![0f32; n * n];
        // About 50-100 ms per median whatever n (roughly 1 ns per 2 n^3 FLOP / 100).
        let reps = (2e8 / (n as f64).powi(3)).clamp(51.0, 5001.0) as usize;
        let mut rounds = [Vec::new(), Vec::new()];
        for _ in 0..5 {
            for (side, par) in [Parallelism::None, Parallelism::Rayon].into_iter().enumerate() {
                let us = pool.install(|| {
                    median_us(
                        || {
                            let av = MatRef::row_major(&a, n, n).expect("n x n");
                            let cv = MatMut::row_major(&mut c, n, n).expect("n x n");
                            plan.run(1.0, av, av, 0.0, cv, par).expect("shapes match")
                        },
                        reps,
                    )
                });
                rounds[side].push(format!("{us:.1}"));
            }
        }
        println!("f32 n = {n}: one thread {} us; two threads {} us", rounds[0].join(" "), rounds[1].join(" "));
    }
}
