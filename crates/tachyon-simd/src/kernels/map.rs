//! Element-wise kernels: one driver that walks registers (4 per iteration, then singles, then one masked tail)
//! and the per-element operations built on it. In-place forms pass the same pointer as source and
//! destination: each register is loaded before it is stored, so that is sound.

use super::math;
use super::reduce::load_at;
use crate::float::Float;
use crate::lanes::Lanes;

/// What to compute from one register of each of `K` sources (see the PERF note in `lanes/mod.rs` on why this
/// is a trait and not a closure).
pub(crate) trait MapOp<T: Float, S: Lanes<T>, const K: usize> {
    fn apply(&self, s: S, x: [S::V; K]) -> S::V;
}

/// Outputs at least this large (and at least the L3 size) are written with streaming stores: they cannot stay in
/// the caches anyway, and non-temporal stores skip the read-for-ownership that costs a third of the traffic.
const STREAMING_MIN_BYTES: usize = 8 << 20;

/// Applies `op` to registers of `K` sources and stores the results to `dst`.
///
/// # Safety
/// Each source must be readable and `dst` writable for `n` elements; a source may equal `dst` but must not
/// otherwise overlap it.
#[inline(always)]
unsafe fn walk<T: Float, S: Lanes<T>, const K: usize>(
    s: S,
    srcs: [*const T; K],
    dst: *mut T,
    n: usize,
    op: impl MapOp<T, S, K>,
) {
    let w = S::N;
    let bytes = n * T::BYTES;
    let register_bytes = w * T::BYTES;
    if S::STREAMS
        && bytes >= STREAMING_MIN_BYTES
        && bytes >= crate::cache::CacheSizes::get().l3
        && (dst as usize).is_multiple_of(T::BYTES)
    {
        // Peel a masked head so that the streaming stores are register-aligned.
        let head = ((register_bytes - (dst as usize) % register_bytes) % register_bytes) / T::BYTES;
        // SAFETY: head < w <= n (n is large here); the rest follows the caller's contract.
        unsafe {
            if head > 0 {
                step::<T, S, K, false>(s, &srcs, dst, 0, Some(s.tail(head)), &op);
            }
            walk_from::<T, S, K, true>(s, &srcs, dst, head, n, &op);
        }
        s.stream_fence();
    } else {
        // SAFETY: the caller's contract.
        unsafe { walk_from::<T, S, K, false>(s, &srcs, dst, 0, n, &op) }
    }
}

/// Walks elements `start..n`: 4 registers per iteration, then single registers, then one masked tail.
///
/// # Safety
/// As for [`walk`]; with `STREAM`, `dst + start` must be register-aligned.
#[inline(always)]
unsafe fn walk_from<T: Float, S: Lanes<T>, const K: usize, const STREAM: bool>(
    s: S,
    srcs: &[*const T; K],
    dst: *mut T,
    start: usize,
    n: usize,
    op: &impl MapOp<T, S, K>,
) {
    const UNROLL: usize = 4;
    let w = S::N;
    let mut i = start;
    // SAFETY: offsets stay inside 0..n (full registers: i + w <= n by the loop conditions; the tail is masked),
    // and the caller guarantees n readable/writable elements; full-register stores stay aligned from `start`.
    unsafe {
        while i + UNROLL * w <= n {
            for j in 0..UNROLL {
                step::<T, S, K, STREAM>(s, srcs, dst, i + j * w, None, op);
            }
            i += UNROLL * w;
        }
        while i + w <= n {
            step::<T, S, K, STREAM>(s, srcs, dst, i, None, op);
            i += w;
        }
        if i < n {
            step::<T, S, K, false>(s, srcs, dst, i, Some(s.tail(n - i)), op);
        }
    }
}

/// One register (or the masked tail) of [`walk`].
///
/// # Safety
/// As for [`walk`], at offset `i`; with `STREAM`, `dst + i` must be register-aligned.
#[inline(always)]
unsafe fn step<T: Float, S: Lanes<T>, const K: usize, const STREAM: bool>(
    s: S,
    srcs: &[*const T; K],
    dst: *mut T,
    i: usize,
    tail: Option<S::M>,
    op: &impl MapOp<T, S, K>,
) {
    let mut x = [s.zero(); K];
    for (v, &p) in x.iter_mut().zip(srcs) {
        // SAFETY: forwarded contract.
        *v = unsafe { load_at(s, p, i, tail) };
    }
    let out = op.apply(s, x);
    // SAFETY: forwarded contract.
    unsafe {
        match tail {
            None if STREAM => s.store_stream(dst.add(i), out),
            None => s.store(dst.add(i), out),
            Some(m) => s.store_tail(dst.add(i), m, out),
        }
    }
}

/// `alpha * x + y`.
struct Axpy<V>(V);
impl<T: Float, S: Lanes<T>> MapOp<T, S, 2> for Axpy<S::V> {
    #[inline(always)]
    fn apply(&self, s: S, [x, y]: [S::V; 2]) -> S::V {
        s.mul_add(self.0, x, y)
    }
}

/// `alpha * x`.
struct Scale<V>(V);
impl<T: Float, S: Lanes<T>> MapOp<T, S, 1> for Scale<S::V> {
    #[inline(always)]
    fn apply(&self, s: S, [x]: [S::V; 1]) -> S::V {
        s.mul(self.0, x)
    }
}

/// `y[i] = alpha * x[i] + y[i]`.
///
/// # Safety
/// `x` readable and `y` writable for `n` elements, not overlapping.
#[inline(always)]
pub(crate) unsafe fn axpy<T: Float, S: Lanes<T>>(s: S, alpha: T, x: *const T, y: *mut T, n: usize) {
    // SAFETY: forwarded caller contract; y is both a source and the destination.
    unsafe { walk(s, [x, y.cast_const()], y, n, Axpy(s.splat(alpha))) }
}

/// `out[i] = alpha * x[i]`.
///
/// # Safety
/// `x` readable and `out` writable for `n` elements; `x == out` allowed, other overlap not.
#[inline(always)]
pub(crate) unsafe fn scale<T: Float, S: Lanes<T>>(s: S, alpha: T, x: *const T, out: *mut T, n: usize) {
    // SAFETY: forwarded caller contract.
    unsafe { walk(s, [x], out, n, Scale(s.splat(alpha))) }
}

/// The binary element-wise operations.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    /// `b` where `a > 0`, else 0 (NaN in `a` gives 0): ReLU's backward pass, `a` the pre-activation, `b` the
    /// gradient of the activation.
    ReluGrad,
}

impl<T: Float, S: Lanes<T>> MapOp<T, S, 2> for Binary {
    #[inline(always)]
    fn apply(&self, s: S, [a, b]: [S::V; 2]) -> S::V {
        match self {
            Binary::Add => s.add(a, b),
            Binary::Sub => s.sub(a, b),
            Binary::Mul => s.mul(a, b),
            Binary::ReluGrad => s.select_lt(s.zero(), a, b, s.zero()),
        }
    }
}

/// `out[i] = a[i] op b[i]`.
///
/// # Safety
/// `a`, `b` readable and `out` writable for `n` elements; `out` may equal a source but not otherwise overlap.
#[inline(always)]
pub(crate) unsafe fn binary<T: Float, S: Lanes<T>>(s: S, op: Binary, a: *const T, b: *const T, out: *mut T, n: usize) {
    // SAFETY: forwarded caller contract.
    unsafe { walk(s, [a, b], out, n, op) }
}

/// `a * b + c`.
struct MulAdd;
impl<T: Float, S: Lanes<T>> MapOp<T, S, 3> for MulAdd {
    #[inline(always)]
    fn apply(&self, s: S, [a, b, c]: [S::V; 3]) -> S::V {
        s.mul_add(a, b, c)
    }
}

/// `out[i] = a[i] * b[i] + c[i]` (fused where the instruction set has FMA).
///
/// # Safety
/// `a`, `b`, `c` readable and `out` writable for `n` elements; `out` may equal a source but not otherwise overlap.
#[inline(always)]
pub(crate) unsafe fn mul_add<T: Float, S: Lanes<T>>(
    s: S,
    a: *const T,
    b: *const T,
    c: *const T,
    out: *mut T,
    n: usize,
) {
    // SAFETY: forwarded caller contract.
    unsafe { walk(s, [a, b, c], out, n, MulAdd) }
}

/// The unary element-wise functions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unary {
    Relu,
    Exp,
    Tanh,
    Sigmoid,
}

impl<T: Float, S: Lanes<T>> MapOp<T, S, 1> for Unary {
    #[inline(always)]
    fn apply(&self, s: S, [x]: [S::V; 1]) -> S::V {
        match self {
            // x second: a NaN input propagates, and -0.0 stays -0.0 (see Lanes::max).
            Unary::Relu => s.max(s.zero(), x),
            Unary::Exp => math::exp(s, x),
            Unary::Tanh => math::tanh(s, x),
            Unary::Sigmoid => math::sigmoid(s, x),
        }
    }
}

/// `out[i] = f(x[i])`.
///
/// # Safety
/// `x` readable and `out` writable for `n` elements; `x == out` allowed, other overlap not.
#[inline(always)]
pub(crate) unsafe fn unary<T: Float, S: Lanes<T>>(s: S, f: Unary, x: *const T, out: *mut T, n: usize) {
    // SAFETY: forwarded caller contract.
    unsafe { walk(s, [x], out, n, f) }
}
