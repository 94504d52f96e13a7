//! Tries block sizes on one square product and prints GFLOP/s beside this machine's FMA peak, each configuration's
//! median over alternating rounds and its median ratio to the default blocking within a round.
//!
//! `cargo run --release -p tachyon-linalg --example gemm_tune -- [n] [f32|f64]`

use std::time::Instant;

use tachyon_linalg::gemm::Blocking;
use tachyon_linalg::{Gemm, GemmFloat, MatMut, MatRef, Parallelism};
use tachyon_simd::isa;

fn median_seconds(mut f: impl FnMut(), reps: usize) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn run<T: GemmFloat>(n: usize) {
    let table = T::kernels_for(isa::active()).unwrap();
    let iters = 2_000_000u64;
    let peak = table.fma_probe_flops_per_iteration() as f64 * iters as f64
        / median_seconds(|| _ = std::hint::black_box((table.fma_probe)(iters)), 7)
        / 1e9;
    let a: Vec<T> = (0..n * n).map(|i| T::from_f64((i % 17) as f64 * 0.1)).collect();
    let b = a.clone();
    let mut c = vec![T::ZERO; n * n];
    let plan = Gemm::<T>::active();
    let (mr, nr) = plan.tile();
    println!("{} n={n} tile {mr}x{nr}, FMA peak {peak:.1} GFLOP/s, default {:?}", T::NAME, plan.blocking());
    let mut configs = vec![plan.blocking()];
    for kc in [192, 256, 336, 384, 512] {
        for mc in [mr * 2, mr * 3, mr * 4, mr * 6, mr * 8] {
            configs.push(Blocking { mc, kc, nc: plan.blocking().nc });
        }
    }
    // The microkernel alone: the same packed panels (L1/L2-resident) again and again.
    for kc in [64usize, 184, 256, 512] {
        let a_panel: Vec<T> = vec![T::from_f64(0.5); mr * kc];
        let b_panel: Vec<T> = vec![T::from_f64(0.25); nr * kc];
        let mut tile = vec![T::ZERO; mr * nr];
        let s = median_seconds(
            || {
                for _ in 0..1000 {
                    tachyon_linalg::gemm::bench_tile(&plan, kc, &a_panel, &b_panel, &mut tile);
                }
            },
            7,
        );
        let gflops = 2.0 * (mr * nr * kc) as f64 * 1000.0 / s / 1e9;
        println!("  microkernel kc {kc:4}: {gflops:6.1} GFLOP/s  {:5.1}% of peak", gflops / peak * 100.0);
    }
    // Alternating rounds: every configuration once per round, so that a slow minute of a shared machine hits
    // them all; the ratio to the default within each round is what decides. (Results are indexed by
    // configuration, so the ratio below pairs the same round whatever the order.)
    const ROUNDS: usize = 8;
    let mut gflops = vec![Vec::with_capacity(ROUNDS); configs.len()];
    for round in 0..ROUNDS {
        // Each round starts elsewhere in the list: the first product of a round measured ~4% slower.
        for i in (0..configs.len()).map(|i| (i + round * configs.len() / ROUNDS) % configs.len()) {
            let (blocking, results) = (configs[i], &mut gflops[i]);
            let p = plan.with_blocking(blocking);
            let s = median_seconds(
                || {
                    let (av, bv) = (MatRef::row_major(&a, n, n).unwrap(), MatRef::row_major(&b, n, n).unwrap());
                    p.run(T::ONE, av, bv, T::ZERO, MatMut::row_major(&mut c, n, n).unwrap(), Parallelism::None).unwrap()
                },
                3,
            );
            results.push(2.0 * (n as f64).powi(3) / s / 1e9);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (blocking, results) in configs.iter().zip(&gflops) {
        let ratio = median(results.iter().zip(&gflops[0]).map(|(r, d)| r / d).collect());
        let g = median(results.clone());
        println!(
            "  mc {:4} kc {:4}: {g:6.1} GFLOP/s  {:5.1}% of peak  x{ratio:.3} the default (median of {ROUNDS} rounds)",
            blocking.mc,
            blocking.kc,
            g / peak * 100.0
        );
    }
}

fn main() {
    // (Small sizes beside faer and matrixmultiply: the `gemm_small` example.)
    let args: Vec<String> = std::env::args().collect();
    let n = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    match args.get(2).map(String::as_str) {
        Some("f64") => run::<f64>(n),
        _ => run::<f32>(n),
    }
}
