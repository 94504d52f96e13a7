//! Element-wise kernels: one driver that walks registers (4 per iteration, then singles, then one masked tail)
//! and the per-element operations built on it. In-place forms pass the same pointer as source and
//! destination: each register is loaded before it is stored, so that is sound.

use super::math;
use super::reduce::load_at;
use crate::float::Float;
use crate::lanes::Lanes;

/// Applies `f` to registers of up to three sources and stores the result to `dst`.
///
/// # Safety
/// Each source `srcs[j]` must be readable and `dst` writable for `n` elements; a source may equal `dst` but
/// must not otherwise overlap it.
#[inline(always)]
unsafe fn walk<T: Float, S: Lanes<T>, const K: usize>(
    s: S,
    srcs: [*const T; K],
    dst: *mut T,
    n: usize,
    f: impl Fn([S::V; K]) -> S::V,
) {
    const UNROLL: usize = 4;
    let w = S::N;
    // SAFETY: offsets stay inside 0..n (full registers: i + w <= n; the tail is masked), and the caller
    // guarantees n readable/writable elements.
    let apply = |i: usize, tail: Option<S::M>| unsafe {
        let out = f(srcs.map(|p| load_at(s, p, i, tail)));
        match tail {
            None => s.store(dst.add(i), out),
            Some(m) => s.store_tail(dst.add(i), m, out),
        }
    };
    let mut i = 0;
    while i + UNROLL * w <= n {
        for j in 0..UNROLL {
            apply(i + j * w, None);
        }
        i += UNROLL * w;
    }
    while i + w <= n {
        apply(i, None);
        i += w;
    }
    if i < n {
        apply(i, Some(s.tail(n - i)));
    }
}

/// `y[i] = alpha * x[i] + y[i]`.
///
/// # Safety
/// `x` readable and `y` writable for `n` elements, not overlapping.
#[inline(always)]
pub(crate) unsafe fn axpy<T: Float, S: Lanes<T>>(s: S, alpha: T, x: *const T, y: *mut T, n: usize) {
    let alpha = s.splat(alpha);
    // SAFETY: forwarded caller contract; y is both a source and the destination.
    unsafe { walk(s, [x, y.cast_const()], y, n, |[x, y]| s.mul_add(alpha, x, y)) }
}

/// `out[i] = alpha * x[i]`.
///
/// # Safety
/// `x` readable and `out` writable for `n` elements; `x == out` allowed, other overlap not.
#[inline(always)]
pub(crate) unsafe fn scale<T: Float, S: Lanes<T>>(s: S, alpha: T, x: *const T, out: *mut T, n: usize) {
    let alpha = s.splat(alpha);
    // SAFETY: forwarded caller contract.
    unsafe { walk(s, [x], out, n, |[x]| s.mul(alpha, x)) }
}

/// The binary element-wise operations.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
}

/// `out[i] = a[i] op b[i]`.
///
/// # Safety
/// `a`, `b` readable and `out` writable for `n` elements; `out` may equal a source but not otherwise overlap.
#[inline(always)]
pub(crate) unsafe fn binary<T: Float, S: Lanes<T>>(s: S, op: Binary, a: *const T, b: *const T, out: *mut T, n: usize) {
    // SAFETY: forwarded caller contract.
    unsafe {
        walk(s, [a, b], out, n, |[a, b]| match op {
            Binary::Add => s.add(a, b),
            Binary::Sub => s.sub(a, b),
            Binary::Mul => s.mul(a, b),
        })
    }
}

/// `out[i] = a[i] * b[i] + c[i]` (fused where the instruction set has FMA).
///
/// # Safety
/// `a`, `b`, `c` readable and `out` writable for `n` elements; `out` may equal a source but not otherwise overlap.
#[inline(always)]
pub(crate) unsafe fn mul_add<T: Float, S: Lanes<T>>(s: S, a: *const T, b: *const T, c: *const T, out: *mut T, n: usize) {
    // SAFETY: forwarded caller contract.
    unsafe { walk(s, [a, b, c], out, n, |[a, b, c]| s.mul_add(a, b, c)) }
}

/// The unary element-wise functions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unary {
    Relu,
    Exp,
    Tanh,
    Sigmoid,
}

/// `out[i] = f(x[i])`.
///
/// # Safety
/// `x` readable and `out` writable for `n` elements; `x == out` allowed, other overlap not.
#[inline(always)]
pub(crate) unsafe fn unary<T: Float, S: Lanes<T>>(s: S, f: Unary, x: *const T, out: *mut T, n: usize) {
    // SAFETY: forwarded caller contract.
    unsafe {
        walk(s, [x], out, n, |[x]| match f {
            // x second: a NaN input propagates, and -0.0 stays -0.0 (see Lanes::max).
            Unary::Relu => s.max(s.zero(), x),
            Unary::Exp => math::exp(s, x),
            Unary::Tanh => math::tanh(s, x),
            Unary::Sigmoid => math::sigmoid(s, x),
        })
    }
}
