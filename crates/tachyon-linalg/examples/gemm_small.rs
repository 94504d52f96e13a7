//! Per-call time of small row-major products (n x n times n x n), ours beside faer and matrixmultiply, in a
//! tight loop (for profiling the small path; `tachyon bench gemm` gives the recorded figures).
//!
//! `cargo run --release -p tachyon-linalg --example gemm_small -- [f32|f64] [n...]`

use std::hint::black_box;
use std::time::Instant;

use tachyon_linalg::{Gemm, MatMut, MatRef, Parallelism};

/// Best of seven per-call means over `calls` calls, in ns.
fn best_ns(calls: u64, mut f: impl FnMut()) -> f64 {
    (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_nanos() as f64 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

macro_rules! run {
    ($t:ty, $mm:path, $sizes:expr) => {{
        let plan = Gemm::<$t>::active();
        for &n in $sizes {
            let a: Vec<$t> = (0..n * n).map(|i| ((i * 7919) % 1000) as $t / 1000.0 - 0.5).collect();
            let b: Vec<$t> = (0..n * n).map(|i| ((i * 104_729) % 1000) as $t / 1000.0 - 0.5).collect();
            let mut c = vec![0.0 as $t; n * n];
            let calls = (20_000_000 / (n * n * n)).clamp(10_000, 2_000_000) as u64;
            let ours = best_ns(calls, || {
                let (av, bv) = (MatRef::row_major(&a, n, n).unwrap(), MatRef::row_major(&b, n, n).unwrap());
                plan.run(1.0, av, bv, 0.0, MatMut::row_major(&mut c, n, n).unwrap(), Parallelism::None).unwrap();
                black_box(&mut c);
            });
            let (fa, fb) = (faer::MatRef::from_row_major_slice(&a, n, n), faer::MatRef::from_row_major_slice(&b, n, n));
            let faer_ns = best_ns(calls, || {
                let fc = faer::MatMut::from_row_major_slice_mut(&mut c, n, n);
                faer::linalg::matmul::matmul(fc, faer::Accum::Replace, fa, fb, 1.0, faer::Par::Seq);
                black_box(&mut c);
            });
            let mm_ns = best_ns(calls, || {
                // SAFETY: row-major n x n buffers.
                unsafe {
                    $mm(
                        n,
                        n,
                        n,
                        1.0,
                        a.as_ptr(),
                        n as isize,
                        1,
                        b.as_ptr(),
                        n as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                };
                black_box(&mut c);
            });
            println!(
                "{:>4} {:>5}: ours {ours:8.1} ns  faer {faer_ns:8.1} ns  matrixmultiply {mm_ns:8.1} ns",
                stringify!($t),
                n
            );
        }
    }};
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ty = args.first().map_or("f32", String::as_str).to_owned();
    let mut sizes: Vec<usize> = args.iter().skip(1).filter_map(|s| s.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![1, 2, 3, 4, 5, 7, 8, 12, 16, 17, 24, 31, 32, 48, 64];
    }
    if ty == "f64" {
        run!(f64, matrixmultiply::dgemm, &sizes);
    } else {
        run!(f32, matrixmultiply::sgemm, &sizes);
    }
}
