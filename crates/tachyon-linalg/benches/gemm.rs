//! Criterion benchmarks of GEMM against faer and matrixmultiply in the same run, with a peak-FMA probe so that
//! throughput can be read as a fraction of this machine's peak. Throughput is reported in "elements" = FLOP.
//!
//! Run: `cargo bench -p tachyon-linalg --bench gemm` (filter: `-- gemm/f32/1024`).
//! `tachyon bench gemm` measures the same with the naive loop and Strassen beside it.

#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tachyon_linalg::{Gemm, MatMut, MatRef, Parallelism};
use tachyon_simd::{isa, Float};

const SIZES: [usize; 9] = [4, 8, 16, 32, 64, 128, 256, 512, 1024];

fn fma_peak(c: &mut Criterion) {
    let mut group = c.benchmark_group("fma_peak");
    let iterations = 100_000u64;
    let t32 = f32::kernels_for(isa::active()).unwrap();
    let t64 = f64::kernels_for(isa::active()).unwrap();
    group.throughput(Throughput::Elements(t32.fma_probe_flops_per_iteration() * iterations));
    group.bench_function("f32", |b| b.iter(|| (t32.fma_probe)(black_box(iterations))));
    group.throughput(Throughput::Elements(t64.fma_probe_flops_per_iteration() * iterations));
    group.bench_function("f64", |b| b.iter(|| (t64.fma_probe)(black_box(iterations))));
    group.finish();
}

macro_rules! gemm_group {
    ($fn_name:ident, $t:ty, $mm:path) => {
        fn $fn_name(c: &mut Criterion) {
            let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let plan = Gemm::<$t>::active();
            let mut group = c.benchmark_group(concat!("gemm/", stringify!($t)));
            group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2)).sample_size(20);
            for n in SIZES {
                let a: Vec<$t> = (0..n * n).map(|i| ((i * 7919) % 1000) as $t / 1000.0 - 0.5).collect();
                let b: Vec<$t> = (0..n * n).map(|i| ((i * 104_729) % 1000) as $t / 1000.0 - 0.5).collect();
                let mut out = vec![0.0 as $t; n * n];
                group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
                let mut ours = |par| {
                    let (av, bv) = (MatRef::row_major(&a, n, n).unwrap(), MatRef::row_major(&b, n, n).unwrap());
                    plan.run(1.0, av, bv, 0.0, MatMut::row_major(&mut out, n, n).unwrap(), par).unwrap()
                };
                group.bench_function(BenchmarkId::new("tachyon-1t", n), |bch| bch.iter(|| ours(Parallelism::None)));
                group.bench_function(BenchmarkId::new("tachyon-2t", n), |bch| {
                    bch.iter(|| two.install(|| ours(Parallelism::Rayon)))
                });
                let (fa, fb) =
                    (faer::MatRef::from_row_major_slice(&a, n, n), faer::MatRef::from_row_major_slice(&b, n, n));
                for (label, par) in [("faer-1t", faer::Par::Seq), ("faer-2t", faer::Par::rayon(2))] {
                    group.bench_function(BenchmarkId::new(label, n), |bch| {
                        bch.iter(|| {
                            two.install(|| {
                                let fc = faer::MatMut::from_row_major_slice_mut(&mut out, n, n);
                                faer::linalg::matmul::matmul(fc, faer::Accum::Replace, fa, fb, 1.0, par)
                            })
                        })
                    });
                }
                group.bench_function(BenchmarkId::new("matrixmultiply-1t", n), |bch| {
                    bch.iter(|| {
                        // SAFETY: row-major n x n buffers of exactly n * n elements.
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
                                out.as_mut_ptr(),
                                n as isize,
                                1,
                            )
                        }
                    })
                });
            }
            group.finish();
        }
    };
}

gemm_group!(gemm_f32, f32, matrixmultiply::sgemm);
gemm_group!(gemm_f64, f64, matrixmultiply::dgemm);

criterion_group!(benches, fma_peak, gemm_f32, gemm_f64);
criterion_main!(benches);
