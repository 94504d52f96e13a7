//! One thread against two, in alternating rounds so that neither side gets the faster vCPU or the quieter minute,
//! from both calling contexts: a thread of the 2-thread pool (as `tachyon bench gemm` times two threads, and as a
//! caller already inside rayon sees it) and the main thread calling into the global pool (the caller parks while
//! two workers wake). `Gemm::run` goes parallel only above the calling context's threshold
//! (`Gemm::parallel_threshold_flops`), so below it both columns time the same one-thread path.
//!
//! `cargo run --release -p tachyon-linalg --example gemm_threads -- [n ...]` (default 64 128 192 256 320 512)

use std::time::Instant;

use tachyon_linalg::{Gemm, GemmFloat, MatMut, MatRef, Parallelism};

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

/// Median over rounds of one thread's time over two threads' (per round), for calls made by `call_from`.
fn speedup<T: GemmFloat>(n: usize, call_from: &dyn Fn(&mut (dyn FnMut() + Send))) -> (f64, f64, f64) {
    let a: Vec<T> = (0..n * n).map(|i| T::from_f64((i % 17) as f64 * 0.1)).collect();
    let mut c = vec![T::ZERO; n * n];
    let plan = Gemm::<T>::active();
    // About 50-100 ms per median whatever n (roughly 1 ns per 2 n^3 FLOP / 100).
    let reps = (2e8 / (n as f64).powi(3)).clamp(51.0, 5001.0) as usize;
    let mut ratios = Vec::new();
    for _ in 0..7 {
        let mut us = [0.0; 2];
        for (side, par) in [Parallelism::None, Parallelism::Rayon].into_iter().enumerate() {
            call_from(&mut || {
                us[side] = median_us(
                    || {
                        let av = MatRef::row_major(&a, n, n).expect("n x n");
                        let cv = MatMut::row_major(&mut c, n, n).expect("n x n");
                        plan.run(T::ONE, av, av, T::ZERO, cv, par).expect("shapes match")
                    },
                    reps,
                )
            });
        }
        ratios.push(us[0] / us[1]);
    }
    ratios.sort_by(f64::total_cmp);
    (ratios[ratios.len() / 2], ratios[0], ratios[ratios.len() - 1])
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![64, 128, 192, 256, 320, 512] } else { sizes };
    // One pool (the global one, two threads) for both contexts: a second pool's idle threads would compete for
    // the two cores with the first's.
    rayon::ThreadPoolBuilder::new().num_threads(2).build_global().expect("the global pool is not built yet");
    let in_pool = |f: &mut (dyn FnMut() + Send)| rayon::scope(|_| f());
    let outside = |f: &mut (dyn FnMut() + Send)| f();
    println!("two threads' speed over one thread's: median of 7 rounds (min..max)");
    for n in sizes {
        for (name, (pool_median, pool_min, pool_max), (out_median, out_min, out_max)) in [
            ("f32", speedup::<f32>(n, &in_pool), speedup::<f32>(n, &outside)),
            ("f64", speedup::<f64>(n, &in_pool), speedup::<f64>(n, &outside)),
        ] {
            println!(
                "{name} n = {n}: from a pool thread {pool_median:.2}x ({pool_min:.2}..{pool_max:.2}); \
                 from the main thread {out_median:.2}x ({out_min:.2}..{out_max:.2})"
            );
        }
    }
}
