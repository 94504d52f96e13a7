//! Reductions: dot, sum, sum of squares, min/max with index.
//!
//! Order of summation (fixed per instruction set and length, independent of alignment): element `i` of the main
//! body goes to accumulator register `(i / N) % 8`, lane `i % N`; whole registers past the last block of 8 go to
//! accumulator 0, the masked tail to accumulator 1; the 8 registers are added as a balanced tree, then the lanes
//! in the order of [`Lanes::reduce_add`]. From `TWO_STREAMS_MIN` elements on, the first `2h` elements (h = n/2
//! rounded down to whole blocks of 4 registers) are read as two streams: element `i < h` goes to register
//! `(i / N) % 4`, element `h + i` to register `4 + (i / N) % 4`; the rest continues as above. The error bound is therefore that of pairwise-blocked summation,
//! |error| <= gamma_(n/(8N) + log2(8N)) * sum |terms|, far below the plain loop's gamma_n.

use crate::float::Float;
use crate::lanes::Lanes;

/// Independent accumulators: enough to hide the FMA/add latency (3-4 cycles) at two operations per cycle.
const ACCUMULATORS: usize = 8;

/// From this many elements on, reductions read the two halves of the input as two streams.
const TWO_STREAMS_MIN: usize = 1 << 18;

/// Loads the register at `p + i`, or the masked tail there.
///
/// # Safety
/// `p + i .. p + i + N` (or the masked part of it) must be readable.
#[inline(always)]
pub(crate) unsafe fn load_at<T: Float, S: Lanes<T>>(s: S, p: *const T, i: usize, tail: Option<S::M>) -> S::V {
    // SAFETY: forwarded caller contract.
    unsafe {
        match tail {
            None => s.load(p.add(i)),
            Some(m) => s.load_tail(p.add(i), m),
        }
    }
}

/// One step of a reduction: folds the register at element offset `i` into an accumulator.
pub(crate) trait FoldStep<T: Float, S: Lanes<T>> {
    /// Folds the register at offset `i` (the masked tail when `tail` is set, other lanes loading as zero).
    ///
    /// # Safety
    /// `i + N <= n` for the slices the step reads, or `tail` masks the lanes past `n`.
    unsafe fn step(&self, s: S, acc: S::V, i: usize, tail: Option<S::M>) -> S::V;
}

/// Folds `n` elements register by register into 8 accumulators and returns their tree sum.
///
/// # Safety
/// `op.step` must be safe for every offset below `n` (see [`FoldStep::step`]).
#[inline(always)]
unsafe fn fold<T: Float, S: Lanes<T>>(s: S, n: usize, op: impl FoldStep<T, S>) -> S::V {
    let w = S::N;
    let mut acc = [s.zero(); ACCUMULATORS];
    let mut i = 0;
    // SAFETY: full registers satisfy i + w <= n by the loop conditions; the tail is masked.
    unsafe {
        if n >= TWO_STREAMS_MIN {
            // PERF: beyond the caches, one sequential stream leaves memory bandwidth unused (fewer prefetch
            // streams in flight); walk the two halves side by side, 4 accumulators each.
            let half = (n / 2) / (4 * w) * (4 * w);
            while i < half {
                for j in 0..4 {
                    acc[j] = op.step(s, acc[j], i + j * w, None);
                    acc[4 + j] = op.step(s, acc[4 + j], half + i + j * w, None);
                }
                i += 4 * w;
            }
            i = 2 * half;
        }
        while i + ACCUMULATORS * w <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                *a = op.step(s, *a, i + j * w, None);
            }
            i += ACCUMULATORS * w;
        }
        while i + w <= n {
            acc[0] = op.step(s, acc[0], i, None);
            i += w;
        }
        if i < n {
            acc[1] = op.step(s, acc[1], i, Some(s.tail(n - i)));
        }
    }
    let q0 = s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3]));
    let q1 = s.add(s.add(acc[4], acc[5]), s.add(acc[6], acc[7]));
    s.add(q0, q1)
}

struct Dot<T> {
    a: *const T,
    b: *const T,
}

impl<T: Float, S: Lanes<T>> FoldStep<T, S> for Dot<T> {
    #[inline(always)]
    unsafe fn step(&self, s: S, acc: S::V, i: usize, tail: Option<S::M>) -> S::V {
        // SAFETY: forwarded contract of `FoldStep::step`.
        unsafe { s.mul_add(load_at(s, self.a, i, tail), load_at(s, self.b, i, tail), acc) }
    }
}

struct Sum<T> {
    a: *const T,
}

impl<T: Float, S: Lanes<T>> FoldStep<T, S> for Sum<T> {
    #[inline(always)]
    unsafe fn step(&self, s: S, acc: S::V, i: usize, tail: Option<S::M>) -> S::V {
        // SAFETY: forwarded contract of `FoldStep::step`.
        unsafe { s.add(acc, load_at(s, self.a, i, tail)) }
    }
}

struct SumSq<T> {
    a: *const T,
}

impl<T: Float, S: Lanes<T>> FoldStep<T, S> for SumSq<T> {
    #[inline(always)]
    unsafe fn step(&self, s: S, acc: S::V, i: usize, tail: Option<S::M>) -> S::V {
        // SAFETY: forwarded contract of `FoldStep::step`.
        let x = unsafe { load_at(s, self.a, i, tail) };
        s.mul_add(x, x, acc)
    }
}

/// `sum_i a[i] * b[i]`.
///
/// # Safety
/// `a` and `b` must be readable for `n` elements.
#[inline(always)]
pub(crate) unsafe fn dot<T: Float, S: Lanes<T>>(s: S, a: *const T, b: *const T, n: usize) -> T {
    // SAFETY: a and b are readable for n elements (caller contract).
    s.reduce_add(unsafe { fold(s, n, Dot { a, b }) })
}

/// `sum_i a[i]`.
///
/// # Safety
/// `a` must be readable for `n` elements.
#[inline(always)]
pub(crate) unsafe fn sum<T: Float, S: Lanes<T>>(s: S, a: *const T, n: usize) -> T {
    // SAFETY: a is readable for n elements (caller contract).
    s.reduce_add(unsafe { fold(s, n, Sum { a }) })
}

/// `sum_i a[i]^2`.
///
/// # Safety
/// `a` must be readable for `n` elements.
#[inline(always)]
pub(crate) unsafe fn sum_sq<T: Float, S: Lanes<T>>(s: S, a: *const T, n: usize) -> T {
    // SAFETY: a is readable for n elements (caller contract).
    s.reduce_add(unsafe { fold(s, n, SumSq { a }) })
}

/// Which extreme [`arg_extreme`] looks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extreme {
    Min,
    Max,
}

/// Index and value of the first minimum (or maximum) of `a[..n]`; `None` when `n == 0`.
///
/// NaN policy: if any element is NaN, the result is the first NaN and its index. Ties (including `-0.0` against
/// `0.0`) resolve to the lowest index. Two passes: a vectorized min/max with a NaN flag, then a vectorized
/// search for the first element equal to it, so no index vectors are carried and every path returns the same
/// index.
///
/// # Safety
/// `a` must be readable for `n` elements.
#[inline(always)]
pub(crate) unsafe fn arg_extreme<T: Float, S: Lanes<T>>(
    s: S,
    a: *const T,
    n: usize,
    which: Extreme,
) -> Option<(usize, T)> {
    if n == 0 {
        return None;
    }
    let w = S::N;
    // SAFETY: n > 0, so a[0] is readable.
    let fill = s.splat(unsafe { *a });
    let mut best = [fill; ACCUMULATORS];
    let mut nan = s.zero();
    let mut i = 0;
    while i + ACCUMULATORS * w <= n {
        for (slot, b) in best.iter_mut().enumerate() {
            // SAFETY: i + (slot + 1) * w <= n.
            let x = unsafe { s.load(a.add(i + slot * w)) };
            nan = s.or_nan(nan, x);
            *b = extreme(s, which, x, *b);
        }
        i += ACCUMULATORS * w;
    }
    while i + w <= n {
        // SAFETY: i + w <= n.
        let x = unsafe { s.load(a.add(i)) };
        nan = s.or_nan(nan, x);
        best[0] = extreme(s, which, x, best[0]);
        i += w;
    }
    if i < n {
        let m = s.tail(n - i);
        // Lanes past the end take a[0], which cannot change the extreme.
        // SAFETY: the masked lanes i..n are readable.
        let x = s.fill_tail(m, unsafe { s.load_tail(a.add(i), m) }, fill);
        nan = s.or_nan(nan, x);
        best[1] = extreme(s, which, x, best[1]);
    }
    let target = if s.any_flag(nan) {
        None
    } else {
        let mut v = best[0];
        for b in &best[1..] {
            v = extreme(s, which, *b, v);
        }
        Some(match which {
            Extreme::Min => s.reduce_min(v),
            Extreme::Max => s.reduce_max(v),
        })
    };
    // SAFETY: a is readable for n elements.
    let index = unsafe { first_match(s, a, n, target) };
    // SAFETY: first_match returns an index < n.
    Some((index, unsafe { *a.add(index) }))
}

/// The smaller (larger) of `x` and `best`; `best` when `x` is NaN.
#[inline(always)]
fn extreme<T: Float, S: Lanes<T>>(s: S, which: Extreme, x: S::V, best: S::V) -> S::V {
    match which {
        Extreme::Min => s.min(x, best),
        Extreme::Max => s.max(x, best),
    }
}

/// Bits of the lanes of `x` equal to `wanted`, or of its NaN lanes when `target` is `None`.
#[inline(always)]
fn match_bits<T: Float, S: Lanes<T>>(s: S, x: S::V, wanted: S::V, target: Option<T>) -> u64 {
    match target {
        Some(_) => s.eq_bits(x, wanted),
        None => s.nan_bits(x),
    }
}

/// Index of the first element equal to `target`, or of the first NaN when `target` is `None`.
///
/// # Safety
/// `a` must be readable for `n` elements, and a match must exist.
#[inline(always)]
unsafe fn first_match<T: Float, S: Lanes<T>>(s: S, a: *const T, n: usize, target: Option<T>) -> usize {
    let w = S::N;
    let wanted = s.splat(target.unwrap_or(T::ZERO));
    let mut i = 0;
    while i + w <= n {
        // SAFETY: i + w <= n.
        let found = match_bits(s, unsafe { s.load(a.add(i)) }, wanted, target);
        if found != 0 {
            return i + found.trailing_zeros() as usize;
        }
        i += w;
    }
    if i < n {
        // SAFETY: the masked lanes i..n are readable; lanes past n are masked out of the result.
        let found =
            match_bits(s, unsafe { s.load_tail(a.add(i), s.tail(n - i)) }, wanted, target) & ((1u64 << (n - i)) - 1);
        if found != 0 {
            return i + found.trailing_zeros() as usize;
        }
    }
    unreachable!("first_match: the extreme found in pass 1 is not in the slice")
}
