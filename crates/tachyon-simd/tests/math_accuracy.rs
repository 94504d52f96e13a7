//! Maximum error of the vectorized exp, tanh and sigmoid on every instruction set under test, in ulps of the
//! result, over dense sweeps of their ranges. The bounds asserted here are the ones documented in
//! `src/kernels/math.rs`: the largest error measured on these sweeps (deterministic points, so the same on every
//! run) plus a margin of [`MARGIN_ULP`], so that a change that makes any of them less accurate fails; the measured
//! maxima are printed (run with `--nocapture` to see them).

mod common;

use common::tables;
use tachyon_simd::{Float, Isa, KernelTable};

/// Size of one unit in the last place of the `T` nearest to `r` (denormal spacing below the normal range).
fn ulp_of<T: Float>(r: f64) -> f64 {
    let (mant_bits, min_exp) = if T::BYTES == 4 { (23, -126) } else { (52, -1022) };
    let e = if r == 0.0 { min_exp } else { (r.abs().log2().floor() as i32).max(min_exp) };
    pow2(e - mant_bits)
}

/// 2^k exactly, for k in [-1074, 1023] (powi loses the denormal range).
fn pow2(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074))
    }
}

/// Maximum error in ulps of `f` against `reference` over `xs`.
fn max_ulp_error<T: Float>(f: fn(&[T], &mut [T]), reference: impl Fn(f64) -> f64, xs: &[T]) -> (f64, f64) {
    let mut out = vec![T::ZERO; xs.len()];
    f(xs, &mut out);
    let mut worst = (0.0, 0.0);
    for (x, y) in xs.iter().zip(&out) {
        let r = reference(x.to_f64());
        let err = (y.to_f64() - r).abs() / ulp_of::<T>(r);
        assert!(!err.is_nan(), "NaN result at x = {x}");
        if err > worst.0 {
            worst = (err, x.to_f64());
        }
    }
    worst
}

/// `n` points evenly spread over [lo, hi], plus every representable point near 0 at several scales.
fn sweep<T: Float>(lo: f64, hi: f64, n: usize) -> Vec<T> {
    let mut v: Vec<T> = (0..=n).map(|i| T::from_f64(lo + (hi - lo) * i as f64 / n as f64)).collect();
    for k in 1..60 {
        let x = 2f64.powi(-k);
        if x >= lo.abs().min(hi.abs()) {
            continue;
        }
        v.extend([T::from_f64(x), T::from_f64(-x), T::from_f64(x * 1.37), T::from_f64(-x * 1.37)]);
    }
    v.retain(|x| x.to_f64() >= lo && x.to_f64() <= hi);
    v
}

/// Room above the largest error measured on a sweep, ulps: rounding of a different FMA contraction by another
/// compiler may move a result by a fraction of an ulp, never by this much.
const MARGIN_ULP: f64 = 0.25;

/// Largest errors measured on a sweep, ulps: (FMA paths, scalar twin); the bound adds [`MARGIN_ULP`].
struct Bound {
    fma: f64,
    scalar: f64,
}

fn check<T: Float>(
    name: &str,
    table: &KernelTable<T>,
    f: fn(&[T], &mut [T]),
    reference: fn(f64) -> f64,
    xs: &[T],
    bound: Bound,
) {
    let (err, at) = max_ulp_error(f, reference, xs);
    let limit = MARGIN_ULP + if table.isa == Isa::Scalar { bound.scalar } else { bound.fma };
    println!("{name} {} {}: max error {err:.3} ulp at x = {at:e} (bound {limit})", T::NAME, table.isa);
    assert!(err <= limit, "{name} {} {}: {err:.3} ulp at x = {at:e} exceeds {limit}", T::NAME, table.isa);
}

/// The logistic function in f64, accurate for both signs.
fn sigmoid_ref(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[test]
fn exp_error_f32() {
    let xs = sweep::<f32>(-87.0, 88.0, 2_000_000);
    for table in tables::<f32>() {
        check("exp", table, table.exp, f64::exp, &xs, Bound { fma: 0.91, scalar: 1.19 });
    }
}

#[test]
fn exp_error_f32_denormal_results_are_within_one_denormal_ulp() {
    let xs = sweep::<f32>(-103.0, -87.4, 200_000);
    for table in tables::<f32>() {
        let mut out = vec![0.0f32; xs.len()];
        (table.exp)(&xs, &mut out);
        for (x, y) in xs.iter().zip(&out) {
            let err = (*y as f64 - (*x as f64).exp()).abs() / pow2(-149);
            assert!(err <= 1.0, "exp({x}) = {y:e} on {}: {err} denormal ulps", table.isa);
        }
    }
}

#[test]
fn exp_error_f64() {
    let xs = sweep::<f64>(-708.0, 709.0, 2_000_000);
    for table in tables::<f64>() {
        check("exp", table, table.exp, f64::exp, &xs, Bound { fma: 1.0, scalar: 1.0 });
    }
}

#[test]
fn tanh_error() {
    let xs = sweep::<f32>(-12.0, 12.0, 2_000_000);
    for table in tables::<f32>() {
        check("tanh", table, table.tanh, f64::tanh, &xs, Bound { fma: 1.37, scalar: 1.28 });
    }
    let xs = sweep::<f64>(-25.0, 25.0, 2_000_000);
    for table in tables::<f64>() {
        check("tanh", table, table.tanh, f64::tanh, &xs, Bound { fma: 2.0, scalar: 2.0 });
    }
}

#[test]
fn sigmoid_error() {
    let xs = sweep::<f32>(-87.0, 20.0, 2_000_000);
    for table in tables::<f32>() {
        check("sigmoid", table, table.sigmoid, sigmoid_ref, &xs, Bound { fma: 2.66, scalar: 2.57 });
    }
    let xs = sweep::<f64>(-700.0, 40.0, 2_000_000);
    for table in tables::<f64>() {
        check("sigmoid", table, table.sigmoid, sigmoid_ref, &xs, Bound { fma: 2.0, scalar: 3.0 });
    }
}
