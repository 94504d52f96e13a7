//! Vectorized exp, tanh and sigmoid, written once over [`Lanes`] so that every instruction set (and the scalar
//! twin) runs the same algorithm.
//!
//! Maximum errors in ulps of the result, f32 over every f32 of the range (`tachyon validate --full`), f64 over the
//! 2M-point sweeps of `tests/math_accuracy.rs` (against glibc's f64 functions, themselves within 1 ulp). The bounds
//! of [`crate::accuracy::MathFunction::bound_ulp`] are each maximum plus 0.25 ulp, so that any loss of accuracy
//! fails:
//!
//! | function | range | f32 measured (scalar / AVX2 / AVX-512) | f64 measured (scalar / AVX2 / AVX-512) |
//! |---|---|---|---|
//! | exp | [-87, 88] (f32), [-708, 709] (f64) | 1.22 / 0.94 / 0.94 | 1.00 / 1.00 / 1.00 |
//! | tanh | [-12, 12] (f32), [-25, 25] (f64); exactly +-1 beyond | 1.35 / 1.38 / 1.38 | 2.00 / 2.00 / 2.00 |
//! | sigmoid | [-87, 20] (f32), [-700, 40] (f64) | 2.82 / 2.79 / 2.79 | 3.00 / 2.00 / 2.00 |
//!
//! Special values: exp(-inf) = 0, exp(+inf) = +inf, exp overflows to +inf above
//! ln(MAX) and returns denormals, then 0, below ln(MIN_POSITIVE) (absolute error <= 1 denormal ulp there);
//! tanh(+-inf) = +-1, tanh(-0) = -0; sigmoid(-inf) = 0, sigmoid(+inf) = 1; NaN in, NaN out for all three.

use crate::float::Float;
use crate::lanes::Lanes;

/// Horner evaluation of `coeffs` (highest degree first) at `x`.
#[inline(always)]
fn horner<T: Float, S: Lanes<T>>(s: S, coeffs: &[f64], x: S::V) -> S::V {
    let mut acc = s.splat(T::from_f64(coeffs[0]));
    for &c in &coeffs[1..] {
        acc = s.mul_add(acc, x, s.splat(T::from_f64(c)));
    }
    acc
}

/// `e^x`: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, two-part ln 2), e^r by its Taylor polynomial,
/// then scaled by 2^n through [`Lanes::scale_pow2`].
#[inline(always)]
pub fn exp<T: Float, S: Lanes<T>>(s: S, x: S::V) -> S::V {
    let c = &T::EXP;
    // Clamp with x second in each call so that NaN passes through (see Lanes::min).
    let x = s.min(s.splat(T::from_f64(c.hi)), s.max(s.splat(T::from_f64(c.lo)), x));
    let n = s.round(s.mul(x, s.splat(T::from_f64(std::f64::consts::LOG2_E))));
    let r = s.mul_add(n, s.splat(T::from_f64(-c.ln2_hi)), x);
    let r = s.mul_add(n, s.splat(T::from_f64(-c.ln2_lo)), r);
    s.scale_pow2(horner(s, c.poly, r), n)
}

/// `tanh x`: an odd polynomial for |x| < 0.625; `1 - 2 / (e^(2|x|) + 1)` with the sign of x above.
#[inline(always)]
pub fn tanh<T: Float, S: Lanes<T>>(s: S, x: S::V) -> S::V {
    let ax = s.abs(x);
    let x2 = s.mul(x, x);
    let one = s.splat(T::ONE);
    // x * (1 + x^2 P(x^2)) rather than x + x^3 P: the product keeps the sign of -0.0.
    let small = s.mul(x, s.mul_add(x2, horner(s, T::TANH_POLY, x2), one));
    let two = s.splat(T::from_f64(2.0));
    let e = exp(s, s.add(ax, ax));
    let large = s.sub(one, s.div(two, s.add(e, one)));
    let large = s.select_lt(x, s.zero(), s.sub(s.zero(), large), large);
    s.select_lt(ax, s.splat(T::from_f64(T::TANH_SMALL)), small, large)
}

/// `1 / (1 + e^-x)`, computed as `1 / (1 + e^-|x|)` for x >= 0 and `e^x / (1 + e^x)` for x < 0 so that the
/// result keeps its relative accuracy down to the denormal range.
#[inline(always)]
pub fn sigmoid<T: Float, S: Lanes<T>>(s: S, x: S::V) -> S::V {
    let e = exp(s, s.sub(s.zero(), s.abs(x)));
    let p = s.div(s.splat(T::ONE), s.add(s.splat(T::ONE), e));
    s.select_lt(x, s.zero(), s.mul(e, p), p)
}
