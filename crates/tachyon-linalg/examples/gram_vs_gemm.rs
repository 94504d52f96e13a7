//! `Z^T Z` for a 1,000,000 x 32 f64 matrix two ways, in the same run: GEMM (`Z^T` times `Z`, both triangles,
//! packing Z twice) and the Gram kernel (lower-triangle tiles, Z read in place), each over 4096-row blocks on the
//! rayon pool as ridge regression runs it. Prints the median of 7 runs of each, interleaved.
//!
//! Run: cargo run --release -p tachyon-linalg --example gram_vs_gemm

use std::time::Instant;

use rayon::prelude::*;
use tachyon_linalg::{gemm, Gram, MatMut, MatRef, Parallelism};

const BLOCK: usize = 4096;

fn blocks(z: &[f64], n: usize, d: usize, f: &(dyn Fn(MatRef<'_, f64>, &mut [f64]) + Sync)) -> Vec<f64> {
    let partials: Vec<Vec<f64>> = (0..n.div_ceil(BLOCK))
        .into_par_iter()
        .map(|b| {
            let rows = b * BLOCK..((b + 1) * BLOCK).min(n);
            let mut g = vec![0.0; d * d];
            f(MatRef::row_major(&z[rows.start * d..rows.end * d], rows.len(), d).unwrap(), &mut g);
            g
        })
        .collect();
    let mut sum = vec![0.0; d * d];
    for p in &partials {
        sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
    }
    sum
}

fn main() {
    let (n, d) = (1_000_000, 32);
    let mut state = 7u64;
    let z: Vec<f64> = (0..n * d)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let by_gemm = |zb: MatRef<'_, f64>, g: &mut [f64]| {
        gemm(1.0, zb.t(), zb, 0.0, MatMut::row_major(g, d, d).unwrap(), Parallelism::None).unwrap()
    };
    let gram = Gram::<f64>::active();
    let by_gram = |zb: MatRef<'_, f64>, g: &mut [f64]| gram.accumulate(zb, g).unwrap();
    let (a, b) = (blocks(&z, n, d, &by_gemm), blocks(&z, n, d, &by_gram));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs() / x.abs().max(1.0)).fold(0.0, f64::max);
    let (mut t_gemm, mut t_gram) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t = Instant::now();
        std::hint::black_box(blocks(&z, n, d, &by_gemm));
        t_gemm.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(blocks(&z, n, d, &by_gram));
        t_gram.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (g1, g2) = (median(&mut t_gemm), median(&mut t_gram));
    let flops = 2.0 * (n * d * d) as f64;
    println!(
        "Z^T Z, {n} x {d} f64, {} threads, {gram:?}: GEMM {g1:.1} ms ({:.1} GFLOP/s), Gram kernel {g2:.1} ms ({:.1} \
         GFLOP/s of the full product) -> {:.2}x; largest relative difference {worst:.1e}",
        rayon::current_num_threads(),
        flops / g1 / 1e6,
        flops / g2 / 1e6,
        g1 / g2
    );
}
