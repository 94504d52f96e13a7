//! `tachyon bench gemm`: GEMM over square sizes 4..2048 and the training shapes, f32 and f64, one and two
//! threads, as GFLOP/s and fraction of the FMA peak (the larger of the run's probe and one taken just before the
//! row); beside it the naive triple loop and (built with `--features peers`) faer and matrixmultiply, in the same
//! run.

use std::hint::black_box;

use tachyon_linalg::{Gemm, GemmFloat, MatMut, MatRef, Parallelism, Strassen};
use tachyon_simd::{Float, Isa};

use super::harness::time;
use super::probes::Peaks;
use super::{Row, Scale};

/// One product shape: `C (m x n) = A (m x k) B (k x n)`, all row-major.
#[derive(Clone, Copy)]
struct Shape {
    case: &'static str,
    m: usize,
    n: usize,
    k: usize,
}

fn shapes(scale: Scale) -> Vec<Shape> {
    let square = |n| Shape { case: "square", m: n, n, k: n };
    let sizes: &[usize] = match scale {
        Scale::Full => &[4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
        Scale::Quick => &[4, 8, 16, 32, 128, 512, 1024],
        Scale::Smoke => &[4, 33],
    };
    let mut v: Vec<Shape> = sizes.iter().map(|&n| square(n)).collect();
    if scale != Scale::Smoke {
        // An MLP layer on a batch of 256: activations (256 x in) times weights (in x out).
        v.push(Shape { case: "batch256_32x64", m: 256, n: 64, k: 32 });
        v.push(Shape { case: "batch256_64x64", m: 256, n: 64, k: 64 });
        v.push(Shape { case: "batch256_64x1", m: 256, n: 1, k: 64 });
    }
    v
}

/// Textbook triple loop (i, p, j order, row-major), the baseline a user would write.
fn naive<T: Float>(m: usize, n: usize, k: usize, a: &[T], b: &[T], c: &mut [T]) {
    c.fill(T::ZERO);
    for i in 0..m {
        for p in 0..k {
            let aip = a[i * k + p];
            for j in 0..n {
                c[i * n + j] = c[i * n + j] + aip * b[p * n + j];
            }
        }
    }
}

fn run_type<T: GemmFloat>(scale: Scale, peaks: &Peaks, emit: &mut dyn FnMut(Row)) {
    let budget = scale.budget();
    let plan = Gemm::<T>::new(tachyon_simd::isa::active()).expect("active isa");
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("thread pool");
    for shape in shapes(scale) {
        let Shape { case, m, n, k } = shape;
        let a: Vec<T> = (0..m * k).map(|i| T::from_f64(((i * 7919) % 1000) as f64 / 1000.0 - 0.5)).collect();
        let b: Vec<T> = (0..k * n).map(|i| T::from_f64(((i * 104_729) % 1000) as f64 / 1000.0 - 0.5)).collect();
        let mut c = vec![T::ZERO; m * n];
        let flops = 2.0 * (m * n * k) as f64;
        // The peak of this minute as well as the run's: on a shared machine a probe taken minutes earlier can be
        // far lower (or higher) than the one the row ran beside; the larger of the two keeps the fraction honest.
        let peak = peaks.fma_gflops::<T>().max(super::probes::fma_gflops_now::<T>(plan.isa()));
        let mut rows = Vec::new();
        let mut record = |impl_name: &'static str, threads: usize, t| {
            let mut row = Row::new("gemm", case, impl_name, T::NAME, threads, t);
            row.size = Some(n.max(m) as u64);
            row.gflops = Some(flops / t.median_ns);
            row.peak_fraction = Some(flops / t.median_ns / (peak * threads as f64));
            row.peak_of = Some("fma");
            rows.push(row);
        };
        let ours = |par: Parallelism, c: &mut [T]| {
            let (av, bv) = (MatRef::row_major(&a, m, k).unwrap(), MatRef::row_major(&b, k, n).unwrap());
            plan.run(T::ONE, av, bv, T::ZERO, MatMut::row_major(c, m, n).unwrap(), par).unwrap();
        };
        let isa_name = plan.isa().name();
        record(isa_name, 1, time(budget, || ours(Parallelism::None, &mut c)));
        record(isa_name, 2, two.install(|| time(budget, || ours(Parallelism::Rayon, &mut c))));
        if plan.isa() != Isa::Scalar {
            let scalar = Gemm::<T>::new(Isa::Scalar).unwrap();
            let t = time(budget, || {
                let (av, bv) = (MatRef::row_major(&a, m, k).unwrap(), MatRef::row_major(&b, k, n).unwrap());
                scalar
                    .run(T::ONE, av, bv, T::ZERO, MatMut::row_major(&mut c, m, n).unwrap(), Parallelism::None)
                    .unwrap()
            });
            record("scalar", 1, t);
        }
        if m * n * k <= 512 * 512 * 512 {
            record("naive", 1, time(budget, || naive(m, n, k, &a, &b, &mut c)));
        }
        if case == "square" && n >= 512 {
            // Strassen-Winograd, one and two levels above the classical product.
            for (label, levels) in [("strassen1", 1u32), ("strassen2", 2)] {
                let strassen = Strassen::new(plan, n >> levels);
                let t = time(budget, || {
                    let (av, bv) = (MatRef::row_major(&a, m, k).unwrap(), MatRef::row_major(&b, k, n).unwrap());
                    strassen
                        .run(T::ONE, av, bv, T::ZERO, MatMut::row_major(&mut c, m, n).unwrap(), Parallelism::None)
                        .unwrap()
                });
                record(label, 1, t);
            }
        }
        #[cfg(feature = "peers")]
        peers::measure::<T>(budget, &two, (m, n, k), &a, &b, &mut c, &mut record);
        black_box(&c);
        // Speed-up of each row against our one-thread figure.
        let ours_1 = rows[0].median_ns;
        for row in &mut rows {
            row.speedup_vs_scalar = None;
            if row.isa == isa_name && row.threads == 2 {
                row.speedup_vs_scalar = Some(ours_1 / row.median_ns);
            }
        }
        rows.into_iter().for_each(&mut *emit);
    }
}

#[cfg(feature = "peers")]
mod peers {
    //! faer (one and two threads) and matrixmultiply (one thread) on the same operands.
    use super::*;
    use crate::harness::{Budget, Timing};

    macro_rules! peer_fns {
        ($faer:ident, $mm:ident, $t:ty, $gemm:path) => {
            pub fn $faer(
                budget: Budget,
                two: &rayon::ThreadPool,
                (m, n, k): (usize, usize, usize),
                a: &[$t],
                b: &[$t],
                c: &mut [$t],
                record: &mut dyn FnMut(&'static str, usize, Timing),
            ) {
                let av = faer::MatRef::from_row_major_slice(a, m, k);
                let bv = faer::MatRef::from_row_major_slice(b, k, n);
                for (threads, par) in [(1usize, faer::Par::Seq), (2, faer::Par::rayon(2))] {
                    let t = two.install(|| {
                        time(budget, || {
                            let cv = faer::MatMut::from_row_major_slice_mut(&mut *c, m, n);
                            faer::linalg::matmul::matmul(cv, faer::Accum::Replace, av, bv, 1.0, par);
                        })
                    });
                    record("faer", threads, t);
                }
            }
            pub fn $mm(
                budget: Budget,
                (m, n, k): (usize, usize, usize),
                a: &[$t],
                b: &[$t],
                c: &mut [$t],
                record: &mut dyn FnMut(&'static str, usize, Timing),
            ) {
                let t = time(budget, || {
                    // SAFETY: row-major m x k, k x n and m x n buffers of exactly those sizes.
                    unsafe {
                        $gemm(
                            m,
                            k,
                            n,
                            1.0,
                            a.as_ptr(),
                            k as isize,
                            1,
                            b.as_ptr(),
                            n as isize,
                            1,
                            0.0,
                            c.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    }
                });
                record("matrixmultiply", 1, t);
            }
        };
    }
    peer_fns!(faer_f32, mm_f32, f32, matrixmultiply::sgemm);
    peer_fns!(faer_f64, mm_f64, f64, matrixmultiply::dgemm);

    /// Measures the peers for `T` (dispatching on its width).
    pub fn measure<T: GemmFloat>(
        budget: Budget,
        two: &rayon::ThreadPool,
        shape: (usize, usize, usize),
        a: &[T],
        b: &[T],
        c: &mut [T],
        record: &mut dyn FnMut(&'static str, usize, Timing),
    ) {
        if T::BYTES == 4 {
            let (a, b, c): (&[f32], &[f32], &mut [f32]) =
                (bytemuck::cast_slice(a), bytemuck::cast_slice(b), bytemuck::cast_slice_mut(c));
            faer_f32(budget, two, shape, a, b, c, record);
            mm_f32(budget, shape, a, b, c, record);
        } else {
            let (a, b, c): (&[f64], &[f64], &mut [f64]) =
                (bytemuck::cast_slice(a), bytemuck::cast_slice(b), bytemuck::cast_slice_mut(c));
            faer_f64(budget, two, shape, a, b, c, record);
            mm_f64(budget, shape, a, b, c, record);
        }
    }
}

/// Runs the GEMM workload for f32 and f64.
pub fn run(scale: Scale, peaks: &Peaks, emit: &mut dyn FnMut(Row)) {
    run_type::<f32>(scale, peaks, emit);
    run_type::<f64>(scale, peaks, emit);
}
