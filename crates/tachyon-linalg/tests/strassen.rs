//! Strassen-Winograd against the classical GEMM and an f64 reference, with Higham's normwise bound for the
//! Winograd variant (Theorem 23.3): max |C - C_hat| <= [(n/n0)^log2(18) (n0^2 + 6 n0) - 6 n] u max|A| max|B|.

use tachyon_linalg::strassen::product_pair;
use tachyon_linalg::{Gemm, GemmFloat, MatMut, Matrix, Parallelism, Strassen};
use tachyon_simd::isa::levels_under_test;
use tachyon_simd::Float;
use tachyon_testkit::SplitMix64;

fn random<T: Float>(rng: &mut SplitMix64, rows: usize, cols: usize) -> Matrix<T> {
    Matrix::from_fn(rows, cols, |_, _| T::from_f64(rng.uniform(-1.0, 1.0)))
}

/// Higham's constant for the Winograd variant with `levels` levels down to leaves of size n0 (square case;
/// for rectangles we use the largest dimension, which only loosens it).
fn winograd_constant(n: usize, levels: u32) -> f64 {
    let n0 = (n >> levels) as f64;
    let ratio = (1u64 << levels) as f64;
    ratio.powf(18f64.log2()) * (n0 * n0 + 6.0 * n0) - 6.0 * n as f64
}

fn check_against_reference<T: GemmFloat>(s: &Strassen<T>, m: usize, n: usize, k: usize, seed: u64) -> f64 {
    let mut rng = SplitMix64(seed);
    let (a, b) = (random::<T>(&mut rng, m, k), random::<T>(&mut rng, k, n));
    let (_, fast) = product_pair(s, &a, &b);
    let levels = s.levels(m, n, k);
    assert!(levels > 0, "the test shape must recurse");
    let max_a = a.as_slice().iter().fold(0.0f64, |x, v| x.max(v.to_f64().abs()));
    let max_b = b.as_slice().iter().fold(0.0f64, |x, v| x.max(v.to_f64().abs()));
    let bound = winograd_constant(m.max(n).max(k), levels) * T::UNIT_ROUNDOFF * max_a * max_b;
    let mut worst: f64 = 0.0;
    for i in 0..m {
        for j in 0..n {
            let exact: f64 = (0..k).map(|p| a.get(i, p).to_f64() * b.get(p, j).to_f64()).sum();
            worst = worst.max((fast.get(i, j).to_f64() - exact).abs());
        }
    }
    assert!(worst <= bound, "{} {m}x{n}x{k}, {levels} levels: error {worst:e} > bound {bound:e}", T::NAME);
    worst / (T::UNIT_ROUNDOFF * max_a * max_b)
}

#[test]
fn strassen_meets_its_error_bound() {
    for isa in levels_under_test() {
        for (m, n, k, crossover) in [(64, 64, 64, 16), (128, 128, 128, 16), (64, 96, 128, 16), (256, 256, 256, 64)] {
            let s32 = Strassen::new(Gemm::<f32>::new(isa).unwrap(), crossover);
            let r32 = check_against_reference(&s32, m, n, k, 5);
            let s64 = Strassen::new(Gemm::<f64>::new(isa).unwrap(), crossover);
            let r64 = check_against_reference(&s64, m, n, k, 6);
            println!("{isa} {m}x{n}x{k} n0>={crossover}: max err / (u max|A| max|B|) = {r32:.1} (f32), {r64:.1} (f64)");
        }
    }
}

#[test]
fn integer_inputs_give_the_exact_product() {
    // Small integers: every intermediate is an exactly representable integer, so any wrong quadrant or sign shows.
    for isa in levels_under_test() {
        let s = Strassen::new(Gemm::<f64>::new(isa).unwrap(), 8);
        let a = Matrix::from_fn(64, 32, |i, j| ((i * 3 + j * 5) % 7) as f64 - 3.0);
        let b = Matrix::from_fn(32, 48, |i, j| ((i * 11 + j) % 5) as f64 - 2.0);
        let (classical, fast) = product_pair(&s, &a, &b);
        assert!(s.levels(64, 48, 32) >= 2);
        assert_eq!(classical, fast, "{isa}");
    }
}

#[test]
fn alpha_beta_and_fallbacks() {
    let plan = Gemm::<f64>::active();
    let s = Strassen::new(plan, 16);
    let mut rng = SplitMix64(9);
    let (a, b) = (random::<f64>(&mut rng, 64, 64), random::<f64>(&mut rng, 64, 64));
    let c0 = random::<f64>(&mut rng, 64, 64);
    let (mut c_fast, mut c_ref) = (c0.clone(), c0.clone());
    s.run(0.5, a.as_ref(), b.as_ref(), -2.0, c_fast.as_mut(), Parallelism::None).unwrap();
    plan.run(0.5, a.as_ref(), b.as_ref(), -2.0, c_ref.as_mut(), Parallelism::None).unwrap();
    for (x, y) in c_fast.as_slice().iter().zip(c_ref.as_slice()) {
        assert!((x - y).abs() < 1e-12, "{x} vs {y}");
    }
    // beta = 0 ignores NaN in C.
    let mut c_nan = Matrix::from_fn(64, 64, |_, _| f64::NAN);
    s.run(1.0, a.as_ref(), b.as_ref(), 0.0, c_nan.as_mut(), Parallelism::None).unwrap();
    assert!(c_nan.as_slice().iter().all(|v| v.is_finite()));
    // Odd sizes do not recurse: the result is the classical one, bit for bit.
    let (a, b) = (random::<f64>(&mut rng, 63, 65), random::<f64>(&mut rng, 65, 67));
    assert_eq!(s.levels(63, 67, 65), 0);
    let (classical, fast) = product_pair(&s, &a, &b);
    assert_eq!(classical, fast);
    // Shape mismatches are reported, not panics.
    let mut wrong = vec![0.0; 64 * 63];
    let err =
        s.run(1.0, a.as_ref(), b.as_ref(), 0.0, MatMut::row_major(&mut wrong, 64, 63).unwrap(), Parallelism::None);
    assert!(err.is_err());
}
