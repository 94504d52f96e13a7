//! GEMM against an f64 reference with Higham's element-wise bound, on every instruction set under test, over
//! awkward shapes, layouts, strides, block boundaries and alpha/beta special cases; threads vs one thread bit for
//! bit; zero allocations after warm-up.
//!
//! Bound (never flakes, it is a worst case): |C - C_ref| <= gamma_(k+2) * (|alpha| |A| |B| + |beta| |C0|) per
//! element, gamma_n = n u / (1 - n u). The ratio r = max |C - C_ref| / (u G) is asserted below 16, the threshold
//! at which the reference BLAS tests fail a GEMM, and printed to see precision regressions early. The reference is
//! `tachyon_linalg::accuracy`'s compensated dot product, so that its own error does not count against an f64 GEMM.

use tachyon_linalg::accuracy::{gamma, reference_element, ReferenceElement, MAX_ERROR_RATIO};
use tachyon_linalg::gemm::Blocking;
use tachyon_linalg::{Gemm, GemmFloat, MatMut, MatRef, Parallelism};
use tachyon_simd::isa::levels_under_test;
use tachyon_simd::Float;
use tachyon_testkit::SplitMix64;

tachyon_testkit::install_counting_allocator!();

/// Storage of an operand: its elements live in `data` at `offset + i * rs + j * cs`.
#[derive(Clone, Copy, Debug)]
enum Layout {
    RowMajor,
    ColMajor,
    /// Row-major with padding between rows and a start offset.
    RowPadded,
    /// Column-major with padding between columns and a start offset.
    ColPadded,
    /// Neither stride is 1.
    Strided,
}

const LAYOUTS: [Layout; 5] =
    [Layout::RowMajor, Layout::ColMajor, Layout::RowPadded, Layout::ColPadded, Layout::Strided];

struct Operand<T> {
    data: Vec<T>,
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<T: Float> Operand<T> {
    fn new(rows: usize, cols: usize, layout: Layout, fill: T, mut f: impl FnMut(usize, usize) -> T) -> Self {
        let (offset, rs, cs) = match layout {
            Layout::RowMajor => (0, cols, 1),
            Layout::ColMajor => (0, 1, rows),
            Layout::RowPadded => (3, cols + 5, 1),
            Layout::ColPadded => (1, 1, rows + 3),
            Layout::Strided => (2, 2, 2 * rows + 1),
        };
        let len = offset + if rows * cols == 0 { 0 } else { (rows - 1) * rs + (cols - 1) * cs + 1 };
        let mut data = vec![fill; len + 4];
        for i in 0..rows {
            for j in 0..cols {
                data[offset + i * rs + j * cs] = f(i, j);
            }
        }
        Operand { data, offset, rows, cols, rs, cs }
    }
    fn get(&self, i: usize, j: usize) -> T {
        self.data[self.offset + i * self.rs + j * self.cs]
    }
    fn view(&self) -> MatRef<'_, T> {
        MatRef::from_slice(&self.data[self.offset..], self.rows, self.cols, self.rs, self.cs).unwrap()
    }
    fn view_mut(&mut self) -> MatMut<'_, T> {
        MatMut::from_slice(&mut self.data[self.offset..], self.rows, self.cols, self.rs, self.cs).unwrap()
    }
}

/// Checks C against the f64 reference; returns r = max |err| / (u G).
#[allow(clippy::too_many_arguments)]
fn check<T: Float>(
    what: &str,
    alpha: T,
    a: &Operand<T>,
    b: &Operand<T>,
    beta: T,
    c0: &Operand<T>,
    c: &Operand<T>,
) -> f64 {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    let mut ratio: f64 = 0.0;
    for i in 0..m {
        for j in 0..n {
            let pairs = (0..k).map(|p| (a.get(i, p).to_f64(), b.get(p, j).to_f64()));
            let ReferenceElement { value: reference, gauge: g } =
                reference_element(alpha.to_f64(), pairs, beta.to_f64(), c0.get(i, j).to_f64());
            let got = c.get(i, j).to_f64();
            let err = (got - reference).abs();
            assert!(
                err <= gamma::<T>(k + 2) * g,
                "{what}: C({i},{j}) = {got}, reference {reference}, error {err:e} > bound {:e}",
                gamma::<T>(k + 2) * g
            );
            if g > 0.0 {
                ratio = ratio.max(err / (T::UNIT_ROUNDOFF * g));
            }
        }
    }
    ratio
}

fn random_operand<T: Float>(rng: &mut SplitMix64, rows: usize, cols: usize, layout: Layout) -> Operand<T> {
    Operand::new(rows, cols, layout, T::from_f64(f64::NAN), |_, _| T::from_f64(rng.uniform(-1.0, 1.0)))
}

/// Runs one product and checks it; the C padding (NaN) must stay untouched.
#[allow(clippy::too_many_arguments)]
fn run_case<T: GemmFloat>(
    plan: &Gemm<T>,
    rng: &mut SplitMix64,
    (m, n, k): (usize, usize, usize),
    layouts: (Layout, Layout, Layout),
    transpose_a: bool,
    alpha: T,
    beta: T,
    par: Parallelism,
) -> f64 {
    let a =
        if transpose_a { random_operand::<T>(rng, k, m, layouts.0) } else { random_operand::<T>(rng, m, k, layouts.0) };
    let b = random_operand::<T>(rng, k, n, layouts.1);
    let c0 = random_operand::<T>(rng, m, n, layouts.2);
    let mut c = Operand { data: c0.data.clone(), ..c0 };
    if beta == T::ZERO {
        // beta = 0 must ignore whatever C holds, NaN included.
        for i in 0..m {
            for j in 0..n {
                let at = c.offset + i * c.rs + j * c.cs;
                c.data[at] = T::from_f64(f64::NAN);
            }
        }
    }
    let a_view = if transpose_a { a.view().t() } else { a.view() };
    plan.run(alpha, a_view, b.view(), beta, c.view_mut(), par).unwrap();
    let a_eff = if transpose_a {
        Operand::new(m, k, Layout::RowMajor, T::ZERO, |i, p| a.get(p, i))
    } else {
        Operand { data: a.data.clone(), ..a }
    };
    let what = format!("{} {} {m}x{n}x{k} {layouts:?} t={transpose_a} alpha={alpha} beta={beta}", plan.isa(), T::NAME);
    let r = check(&what, alpha, &a_eff, &b, beta, &c0, &c);
    // Elements of C's buffer outside the view (padding) keep their NaN canaries.
    let inside = |idx: usize| (0..m).any(|i| (0..n).any(|j| c.offset + i * c.rs + j * c.cs == idx));
    if m * n <= 4096 {
        for (idx, v) in c.data.iter().enumerate() {
            if !inside(idx) {
                assert!(v.is_nan(), "{what}: wrote outside C at {idx}");
            }
        }
    }
    r
}

fn shapes() -> Vec<(usize, usize, usize)> {
    let mut v = vec![(1, 1, 1), (1, 7, 3), (7, 1, 3), (2, 3, 1), (4, 4, 4), (8, 8, 8), (16, 16, 16), (17, 13, 11)];
    v.extend([(31, 37, 41), (64, 64, 64), (65, 63, 67), (97, 5, 131), (5, 97, 131), (200, 3, 50), (3, 200, 50)]);
    v.extend([(256, 64, 32), (256, 32, 64), (256, 1, 64), (1, 256, 64), (127, 129, 300)]);
    // The single-sample training shapes: matrix-vector both ways and rank 1 (k = 1), at and off register widths.
    v.extend([(64, 64, 1), (67, 45, 1), (1, 64, 32), (64, 1, 64), (130, 1, 70), (1, 130, 70), (33, 1, 17)]);
    v
}

fn gemm_matches_reference<T: GemmFloat>() {
    let mut rng = SplitMix64(31);
    let mut worst: f64 = 0.0;
    for isa in levels_under_test() {
        let plan = Gemm::<T>::new(isa).unwrap();
        let (mr, nr) = plan.tile();
        // Small blocks so that every blocking loop runs several times on small shapes, and shapes at the tile
        // and block sides and one past them.
        let small = plan.with_blocking(Blocking { mc: 2 * mr, kc: 16, nc: 3 * nr });
        let mut edge_shapes = shapes();
        for d in [mr - 1, mr, mr + 1, 2 * mr + 1, nr - 1, nr, nr + 1, 17, 33] {
            edge_shapes.push((d, d + 1, d.max(2) - 1));
        }
        // Rows at and around the unpacked path's register blocks (4 and 8 scalar rows, 16/32 f64 and 32/64 f32
        // rows on AVX2) and past its limit with a small k (the direct tile path), both orientations.
        for d in [3, 4, 5, 8, 9, 15, 16, 31, 32, 63, 64, 65, 70, 100] {
            edge_shapes.push((d, 9, 20));
            edge_shapes.push((9, d, 20));
        }
        // The tiny products with A held in registers: every row count up to and past one register (8 f32 / 4 f64
        // on AVX2), k from 1 to one past their limit, both orientations.
        for d in 1..=9 {
            for k in [1, 2, 3, 8, 9] {
                edge_shapes.push((d, 6, k));
                edge_shapes.push((6, d, k));
            }
        }
        for &(m, n, k) in &edge_shapes {
            for (li, &la) in LAYOUTS.iter().enumerate() {
                let lb = LAYOUTS[(li + 1) % LAYOUTS.len()];
                let lc = LAYOUTS[(li + 2) % LAYOUTS.len()];
                for (p, transpose_a) in [(&plan, false), (&small, true), (&small, false)] {
                    worst = worst.max(run_case(
                        p,
                        &mut rng,
                        (m, n, k),
                        (la, lb, lc),
                        transpose_a,
                        T::from_f64(0.75),
                        T::from_f64(-1.5),
                        Parallelism::None,
                    ));
                }
            }
        }
        // Every combination of layouts on one mid-size shape.
        for &la in &LAYOUTS {
            for &lb in &LAYOUTS {
                for &lc in &LAYOUTS {
                    worst = worst.max(run_case(
                        &small,
                        &mut rng,
                        (23, 19, 37),
                        (la, lb, lc),
                        false,
                        T::ONE,
                        T::ONE,
                        Parallelism::None,
                    ));
                }
            }
        }
        // alpha/beta special cases, including beta = 0 over NaN-filled C.
        for (alpha, beta) in [(1.0, 0.0), (0.0, 2.0), (0.0, 0.0), (-2.0, 1.0), (1.0, -1.0)] {
            // (4, 4, 4), (3, 7, 2), (8, 3, 8): the tiny kernel (with a row-major C, beta = 0 stores whole columns
            // into the next ones). The last four reach the matrix-vector and rank-1 kernels' whole-block paths
            // (beta = 0 has its own).
            for &(m, n, k) in &[
                (33, 29, 70),
                (5, 5, 5),
                (4, 4, 4),
                (3, 7, 2),
                (8, 3, 8),
                (300, 7, 9),
                (64, 64, 1),
                (67, 45, 1),
                (130, 1, 70),
                (1, 130, 70),
            ] {
                // A row-major as well: one output column then takes the dot-product kernel.
                for (la, lc) in [Layout::RowMajor, Layout::ColPadded, Layout::Strided]
                    .into_iter()
                    .flat_map(|lc| [(Layout::ColMajor, lc), (Layout::RowMajor, lc)])
                {
                    run_case(
                        &small,
                        &mut rng,
                        (m, n, k),
                        (la, Layout::RowMajor, lc),
                        false,
                        T::from_f64(alpha),
                        T::from_f64(beta),
                        Parallelism::None,
                    );
                }
            }
        }
        // k = 0: C = beta C.
        run_case(
            &plan,
            &mut rng,
            (9, 4, 0),
            (Layout::RowMajor, Layout::RowMajor, Layout::RowMajor),
            false,
            T::ONE,
            T::from_f64(3.0),
            Parallelism::None,
        );
    }
    println!("{}: worst ratio max|err| / (u G) = {worst:.2}", T::NAME);
    assert!(worst < MAX_ERROR_RATIO, "{}: error ratio {worst:.2} >= 16 (the reference BLAS threshold)", T::NAME);
}

#[test]
fn gemm_matches_reference_f32() {
    gemm_matches_reference::<f32>();
}

#[test]
fn gemm_matches_reference_f64() {
    gemm_matches_reference::<f64>();
}

#[test]
fn large_blocked_products_match_reference() {
    // Default blocking, sizes across KC and MC boundaries (KC = 184 / MC = 352 for AVX2 f32 here).
    let mut rng = SplitMix64(37);
    for isa in levels_under_test() {
        let plan = Gemm::<f32>::new(isa).unwrap();
        let Blocking { mc, kc, .. } = plan.blocking();
        for (m, n, k) in [(mc + 1, 50, kc + 1), (mc - 1, 13, 2 * kc + 3), (70, 70, kc)] {
            run_case(
                &plan,
                &mut rng,
                (m, n, k),
                (Layout::RowMajor, Layout::RowMajor, Layout::RowMajor),
                false,
                1.0f32,
                0.0,
                Parallelism::None,
            );
            run_case(
                &plan,
                &mut rng,
                (m, n, k),
                (Layout::ColMajor, Layout::RowPadded, Layout::ColMajor),
                true,
                1.0f32,
                1.0,
                Parallelism::Rayon,
            );
        }
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// Threads split rows of C, never k: results must be bitwise identical to one thread, on structured inputs
/// (where a wrong block offset cannot hide in noise) and random ones. The shapes include C's with 1000 columns
/// (row-major C: the driver's rows), which split into unequal row blocks between the two threads.
#[test]
fn threads_give_bitwise_identical_results() {
    threads_bitwise::<f32>();
    threads_bitwise::<f64>();
}

fn threads_bitwise<T: GemmFloat>() {
    let two = pool(2);
    for isa in levels_under_test() {
        for (m, n, k) in [(300, 200, 250), (513, 97, 400), (1000, 64, 64), (120, 1000, 80)] {
            type Gen = Box<dyn Fn(usize, usize) -> f64>;
            let inputs: [(&str, Gen); 4] = [
                ("identity", Box::new(|i, j| if i == j { 1.0 } else { 0.0 })),
                ("ones", Box::new(|_, _| 1.0)),
                ("integers", Box::new(|i, j| ((i * 7 + j * 3) % 11) as f64 - 5.0)),
                ("random", Box::new(|i, j| ((i * 7919 + j * 104_729) % 1000) as f64 / 997.0 - 0.5)),
            ];
            let flops = 2.0 * (m * n * k) as f64;
            assert!(flops >= two.install(|| Gemm::<T>::new(isa).unwrap().parallel_threshold_flops()), "{m}x{n}x{k}");
            for (name, f) in &inputs {
                let a = Operand::<T>::new(m, k, Layout::RowMajor, T::ZERO, |i, j| T::from_f64(f(i, j)));
                let b = Operand::<T>::new(k, n, Layout::RowMajor, T::ZERO, |i, j| T::from_f64(f(j, i) + 0.25));
                let plan = Gemm::<T>::new(isa).unwrap();
                let mut c1 = Operand::<T>::new(m, n, Layout::RowMajor, T::ZERO, |_, _| T::ZERO);
                plan.run(T::ONE, a.view(), b.view(), T::ZERO, c1.view_mut(), Parallelism::None).unwrap();
                let mut c2 = Operand::<T>::new(m, n, Layout::RowMajor, T::ZERO, |_, _| T::ZERO);
                two.install(|| plan.run(T::ONE, a.view(), b.view(), T::ZERO, c2.view_mut(), Parallelism::Rayon))
                    .unwrap();
                // The caller's scratch, sized in the pool that runs the product: one A area per worker.
                let mut c3 = Operand::<T>::new(m, n, Layout::RowMajor, T::ZERO, |_, _| T::ZERO);
                two.install(|| {
                    let mut scratch = vec![T::ZERO; plan.scratch_len(m, n, k)];
                    let (a, b, c) = (a.view(), b.view(), c3.view_mut());
                    plan.run_with_scratch(T::ONE, a, b, T::ZERO, c, Parallelism::Rayon, &mut scratch)
                })
                .unwrap();
                let bits = |c: &Operand<T>| c.data.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
                assert!(bits(&c1) == bits(&c2) && bits(&c1) == bits(&c3), "{} {isa} {name} {m}x{n}x{k}", T::NAME);
                if *name != "random" {
                    // Structured inputs are exact in f32 and f64: compare with the integer reference.
                    let expected = check(name, T::ONE, &a, &b, T::ZERO, &c1, &c1);
                    assert_eq!(expected, 0.0, "{} {isa} {name}: structured product not exact", T::NAME);
                }
            }
        }
    }
}

/// Outside the pool a fork-join parks the caller and wakes two workers, so products go parallel only from ~500 us
/// of one core's work (4 M vector FMAs of 2 x lanes FLOP); on a pool thread from 250 k vector FMAs.
#[test]
fn parallel_threshold_depends_on_the_calling_thread() {
    let two = pool(2);
    for isa in levels_under_test() {
        let (lanes, f64_lanes) = (isa.lanes(4) as f64, isa.lanes(8) as f64);
        let (f32_plan, f64_plan) = (Gemm::<f32>::new(isa).unwrap(), Gemm::<f64>::new(isa).unwrap());
        assert_eq!(f32_plan.parallel_threshold_flops(), 8.0e6 * lanes, "{isa}");
        assert_eq!(f64_plan.parallel_threshold_flops(), 8.0e6 * f64_lanes, "{isa}");
        assert_eq!(two.install(|| f32_plan.parallel_threshold_flops()), 5.0e5 * lanes, "{isa}");
        assert_eq!(two.install(|| f64_plan.parallel_threshold_flops()), 5.0e5 * f64_lanes, "{isa}");
    }
}

/// The fused single-sample dense backward gives bit for bit the two products through `run`, on every instruction
/// set, awkward sizes and misaligned slices, with and without the input gradient; and is within the product
/// bound of an f64 reference (so that agreeing with `run` is not agreeing on a wrong answer).
fn outer_gemv_t_is_the_two_products<T: GemmFloat>() {
    let mut rng = SplitMix64(41);
    let sizes = [0usize, 1, 2, 7, 15, 17, 31, 32, 33, 63, 64, 65, 131];
    for isa in levels_under_test() {
        let plan = Gemm::<T>::new(isa).unwrap();
        for &rows in &sizes {
            for &cols in &sizes {
                // One element of offset: misaligned for every register width.
                let mut buf = |len: usize| -> Vec<T> {
                    (0..len + 1)
                        .map(|_| T::from_f64(rng.uniform(-1.0, 1.0) * 2f64.powi((rng.next_u64() % 9) as i32 - 4)))
                        .collect()
                };
                let (d, x, w) = (buf(rows), buf(cols), buf(rows * cols));
                let (d, x, w) = (&d[1..], &x[1..], &w[1..]);
                let mut fused_w = vec![T::from_f64(f64::NAN); rows * cols + 1];
                let mut fused_x = vec![T::from_f64(f64::NAN); cols + 1];
                plan.outer_gemv_t(d, x, w, &mut fused_w[1..], Some(&mut fused_x[1..])).unwrap();
                let mut run_w = vec![T::ZERO; rows * cols];
                let mut run_x = vec![T::ZERO; cols];
                let (dv, xv) = (MatRef::row_major(d, 1, rows).unwrap(), MatRef::row_major(x, 1, cols).unwrap());
                let out_w = MatMut::row_major(&mut run_w, rows, cols).unwrap();
                plan.run(T::ONE, dv.t(), xv, T::ZERO, out_w, Parallelism::None).unwrap();
                let wv = MatRef::row_major(w, rows, cols).unwrap();
                let out_x = MatMut::row_major(&mut run_x, 1, cols).unwrap();
                plan.run(T::ONE, dv, wv, T::ZERO, out_x, Parallelism::None).unwrap();
                let bits = |v: &[T]| v.iter().map(|e| e.to_f64().to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fused_w[1..]), bits(&run_w), "{isa} {rows} x {cols}: grad_w");
                if cols > 1 {
                    // (With one column, `run` takes a dot product in another order; the bound below still holds.)
                    assert_eq!(bits(&fused_x[1..]), bits(&run_x), "{isa} {rows} x {cols}: grad_x");
                }
                for j in 0..cols {
                    let (mut exact, mut scale) = (0.0f64, 0.0f64);
                    for i in 0..rows {
                        exact += d[i].to_f64() * w[i * cols + j].to_f64();
                        scale += (d[i].to_f64() * w[i * cols + j].to_f64()).abs();
                    }
                    let err = (fused_x[1 + j].to_f64() - exact).abs();
                    assert!(err <= gamma::<T>(rows + 2) * scale, "{isa} {rows} x {cols}: grad_x[{j}] off by {err}");
                    for i in 0..rows {
                        assert_eq!(fused_w[1 + i * cols + j].to_f64(), (d[i] * x[j]).to_f64());
                    }
                }
                // Without the input gradient, the weight gradient is the same and nothing else is written.
                let mut only_w = vec![T::ZERO; rows * cols];
                plan.outer_gemv_t(d, x, w, &mut only_w, None).unwrap();
                assert_eq!(bits(&only_w), bits(&run_w), "{isa} {rows} x {cols}: grad_w alone");
            }
        }
        let err =
            plan.outer_gemv_t(&[T::ONE; 3], &[T::ONE; 2], &[T::ONE; 6], &mut [T::ZERO; 6], Some(&mut [T::ZERO; 3]));
        assert!(err.unwrap_err().to_string().contains("grad_x of 2 (it has 3)"));
        let err = plan.outer_gemv_t(&[T::ONE; 3], &[T::ONE; 2], &[T::ONE; 5], &mut [T::ZERO; 6], None);
        assert!(err.unwrap_err().to_string().contains("need W and grad_w of 6 (they have 5 and 6)"));
    }
}

#[test]
fn outer_gemv_t_is_the_two_products_f32() {
    outer_gemv_t_is_the_two_products::<f32>();
}

#[test]
fn outer_gemv_t_is_the_two_products_f64() {
    outer_gemv_t_is_the_two_products::<f64>();
}

#[test]
fn shape_mismatch_is_an_error() {
    let a = vec![0.0f64; 6];
    let b = vec![0.0f64; 6];
    let mut c = vec![0.0f64; 4];
    let err = tachyon_linalg::gemm(
        1.0,
        MatRef::row_major(&a, 2, 3).unwrap(),
        MatRef::row_major(&b, 2, 3).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        Parallelism::None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("A is 2x3, B is 2x3, C is 2x2"), "{err}");
}

/// The caller's scratch gives what the per-thread space gives, bit for bit, on every route (tiny, matrix-vector,
/// rank-1, unpacked with and without the copy of A, direct, packed with several blocks) and layout, from a
/// misaligned start, with no allocation even on the first call; a slice shorter than the product needs is an
/// error that leaves C untouched.
#[test]
fn caller_scratch_matches_per_thread_space() {
    caller_scratch::<f32>();
    caller_scratch::<f64>();
}

fn caller_scratch<T: GemmFloat>() {
    let mut rng = SplitMix64(11);
    for isa in levels_under_test() {
        let plan = Gemm::<T>::new(isa).unwrap();
        let (mr, nr) = plan.tile();
        let small = plan.with_blocking(Blocking { mc: 2 * mr, kc: 16, nc: 3 * nr });
        let shapes = [(4, 6, 3), (40, 1, 30), (33, 29, 1), (20, 9, 20), (9, 200, 20), (150, 40, 30), (70, 90, 300)];
        for p in [&plan, &small] {
            for &(m, n, k) in &shapes {
                for (li, &la) in LAYOUTS.iter().enumerate() {
                    let lc = [Layout::RowMajor, Layout::ColMajor, Layout::ColPadded][li % 3];
                    let a = random_operand::<T>(&mut rng, m, k, la);
                    let b = random_operand::<T>(&mut rng, k, n, LAYOUTS[(li + 1) % LAYOUTS.len()]);
                    let c0 = random_operand::<T>(&mut rng, m, n, lc);
                    let mut expected = Operand { data: c0.data.clone(), ..c0 };
                    p.run(T::ONE, a.view(), b.view(), T::ONE, expected.view_mut(), Parallelism::None).unwrap();
                    let len = p.scratch_len(m, n, k);
                    let mut scratch = vec![T::ZERO; len + 1];
                    let mut c = Operand { data: c0.data.clone(), ..c0 };
                    let (result, allocations) = tachyon_testkit::count_thread_allocations(|| {
                        let s = &mut scratch[1..];
                        p.run_with_scratch(T::ONE, a.view(), b.view(), T::ONE, c.view_mut(), Parallelism::None, s)
                    });
                    result.unwrap();
                    let what = format!("{isa} {} {m}x{n}x{k} {la:?} {lc:?}", T::NAME);
                    assert_eq!(allocations, 0, "{what}");
                    let bits = |c: &Operand<T>| c.data.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
                    assert!(bits(&c) == bits(&expected), "{what}");
                }
            }
        }
        // The packed route needs its space: a slice far too short is refused before C is touched.
        let (m, n, k) = (150, 40, 300);
        let (a, b) = (
            random_operand::<T>(&mut rng, m, k, Layout::RowMajor),
            random_operand::<T>(&mut rng, k, n, Layout::ColMajor),
        );
        let mut c = Operand::<T>::new(m, n, Layout::ColMajor, T::ONE, |_, _| T::ONE);
        let mut short = vec![T::ZERO; 16];
        let err = plan
            .run_with_scratch(T::ONE, a.view(), b.view(), T::ZERO, c.view_mut(), Parallelism::None, &mut short)
            .unwrap_err();
        assert!(err.to_string().contains("scratch"), "{err}");
        assert!(c.data.iter().all(|&x| x == T::ONE), "{isa}: C written despite the error");
    }
    println!("caller scratch: ran {:?}", levels_under_test());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_shapes_and_layouts(m in 1usize..70, n in 1usize..70, k in 0usize..90, la in 0usize..5, lb in 0usize..5, lc in 0usize..5, t in any::<bool>(), seed in any::<u64>()) {
            let mut rng = SplitMix64(seed);
            for isa in levels_under_test() {
                let plan = Gemm::<f64>::new(isa).unwrap();
                let (mr, nr) = plan.tile();
                let small = plan.with_blocking(Blocking { mc: mr, kc: 8, nc: nr });
                for p in [&plan, &small] {
                    run_case(p, &mut rng, (m, n, k), (LAYOUTS[la], LAYOUTS[lb], LAYOUTS[lc]), t, 1.25, 0.5, Parallelism::None);
                }
            }
        }
    }
}
