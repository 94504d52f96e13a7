//! One register's worth of operations per instruction set: the only place that names intrinsics.
//!
//! Public so that other Tachyon crates (GEMM microkernels, feature engines) write their kernels once over
//! [`Lanes`] too; the trait is sealed, and a value of an implementing token proves the CPU supports it.
//!
//! Every kernel body in [`crate::kernels`] is written once, generic over [`Lanes`], and instantiated per
//! instruction set inside a `#[target_feature]` function (see [`crate::table`]). An implementor is a token
//! ([`Scalar`](scalar::Scalar), [`Avx2`](crate::isa::Avx2), [`Avx512`](crate::isa::Avx512)) whose existence proves
//! that the CPU supports the instructions, which is why the arithmetic methods are safe; only the raw-pointer
//! loads and stores are `unsafe`.
//!
//! Semantics shared by every implementation, so that all paths agree:
//! - `min`/`max` follow x86 `minps`/`maxps`: `min(a, b)` is `if a < b { a } else { b }`, so a NaN in either operand
//!   returns `b`. Kernels put the operand whose NaN must propagate second.
//! - `mul_add(a, b, c)` is `a * b + c`, fused (one rounding) on AVX2/AVX-512, two roundings on the scalar twin
//!   (a software `fma` call would cost tens of ns per element there).
//! - Reductions combine lanes in a fixed order, so a result never depends on where a slice starts in memory.
//! - Nothing changes the FPU mode: denormals are computed with full IEEE semantics on every path.
//!
//! PERF: never call these methods from a closure. Intrinsics inline only into functions compiled with their
//! target features; a generic `#[inline(always)]` function is inlined into the `#[target_feature]` entry point
//! and inherits them, but a closure is a separate function that LLVM may keep out of line (it did, for the
//! larger bodies), and then every intrinsic becomes a call: 20-50x slower. Kernel bodies therefore use plain
//! loops and small structs with `#[inline(always)]` methods instead of closures.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

use crate::float::Float;

mod sealed {
    /// Only this crate's tokens implement [`Lanes`](super::Lanes): their existence is the proof of CPU support.
    pub trait Sealed {}
    impl Sealed for super::scalar::Scalar {}
    #[cfg(target_arch = "x86_64")]
    impl Sealed for crate::isa::Avx2 {}
    #[cfg(target_arch = "x86_64")]
    impl Sealed for crate::isa::Avx512 {}
}

/// Vector operations on lanes of `T` for one instruction set. See the module docs for the shared semantics.
pub trait Lanes<T: Float>: Copy + sealed::Sealed {
    /// One register of `N` lanes.
    type V: Copy;
    /// A mask selecting the first `k < N` lanes, for tails.
    type M: Copy;
    /// Lanes per register.
    const N: usize;

    /// All lanes equal to `x`.
    fn splat(self, x: T) -> Self::V;
    /// All lanes zero.
    #[inline(always)]
    fn zero(self) -> Self::V {
        self.splat(T::ZERO)
    }
    /// Loads `N` elements from `p` (any alignment).
    ///
    /// # Safety
    /// `p..p + N` must be readable.
    unsafe fn load(self, p: *const T) -> Self::V;
    /// Stores `N` elements to `p` (any alignment).
    ///
    /// # Safety
    /// `p..p + N` must be writable.
    unsafe fn store(self, p: *mut T, v: Self::V);
    /// Whether [`store_stream`](Lanes::store_stream) bypasses the caches (otherwise it is a plain store).
    const STREAMS: bool;
    /// Non-temporal store of a full register (write-combining, no read-for-ownership).
    ///
    /// # Safety
    /// `p..p + N` must be writable and `p` aligned to `N * size_of::<T>()` bytes. Call
    /// [`stream_fence`](Lanes::stream_fence) before the stored data is handed to another thread.
    unsafe fn store_stream(self, p: *mut T, v: Self::V);
    /// Orders earlier streaming stores before all later stores (`sfence`).
    fn stream_fence(self);
    /// The mask of the first `k` lanes, `0 < k < N`.
    fn tail(self, k: usize) -> Self::M;
    /// Loads the masked lanes from `p`, zero in the others; never touches memory outside the mask.
    ///
    /// # Safety
    /// The masked elements `p..p + k` must be readable.
    unsafe fn load_tail(self, p: *const T, m: Self::M) -> Self::V;
    /// Stores the masked lanes to `p`; never touches memory outside the mask.
    ///
    /// # Safety
    /// The masked elements `p..p + k` must be writable.
    unsafe fn store_tail(self, p: *mut T, m: Self::M, v: Self::V);

    /// Lanes of `v` where the mask is set, `fill` in the others.
    fn fill_tail(self, m: Self::M, v: Self::V, fill: Self::V) -> Self::V;

    /// `a + b` per lane.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b` per lane.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b` per lane.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b` per lane.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// Square root per lane, correctly rounded (IEEE 754) on every path.
    fn sqrt(self, a: Self::V) -> Self::V;
    /// `a * b + c`.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `if a < b { a } else { b }` per lane.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if a > b { a } else { b }` per lane.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `|a|` (clears the sign bit, NaN stays NaN).
    fn abs(self, a: Self::V) -> Self::V;
    /// Per lane `if a < b { x } else { y }` (false for NaN).
    fn select_lt(self, a: Self::V, b: Self::V, x: Self::V, y: Self::V) -> Self::V;
    /// Rounds to the nearest integer, ties to even, for |a| < 2^22 (f32) / 2^51 (f64).
    fn round(self, a: Self::V) -> Self::V;
    /// `p * 2^n` for integer-valued `n` in [-2 emax - 30, 2 emax], correct through underflow and overflow.
    fn scale_pow2(self, p: Self::V, n: Self::V) -> Self::V;

    /// Sum of the lanes in a fixed order.
    fn reduce_add(self, v: Self::V) -> T;
    /// The lane sums of four registers, each bit for bit [`reduce_add`](Lanes::reduce_add) of its register (the
    /// same order), computed together where the instruction set can share the shuffles (AVX2: 15 instructions
    /// for four sums of 8 f32 lanes instead of 24).
    #[inline(always)]
    fn reduce_add4(self, v: [Self::V; 4]) -> [T; 4] {
        [self.reduce_add(v[0]), self.reduce_add(v[1]), self.reduce_add(v[2]), self.reduce_add(v[3])]
    }
    /// Minimum of the lanes (NaN-free input).
    fn reduce_min(self, v: Self::V) -> T;
    /// Maximum of the lanes (NaN-free input).
    fn reduce_max(self, v: Self::V) -> T;
    /// Bit `i` set where lane `i` of `a` equals lane `i` of `b` (ordered comparison, so NaN never matches).
    fn eq_bits(self, a: Self::V, b: Self::V) -> u64;
    /// Bit `i` set where lane `i` is NaN.
    fn nan_bits(self, a: Self::V) -> u64;
    /// Accumulates NaN-ness: lanes of the result are non-zero where `acc` or `a` had a NaN.
    fn or_nan(self, acc: Self::V, a: Self::V) -> Self::V;
    /// Whether any lane of an [`or_nan`](Lanes::or_nan) accumulator flags a NaN.
    fn any_flag(self, flags: Self::V) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `reduce_add4` gives each register's `reduce_add`, bit for bit, on values of mixed magnitude and sign (where a
    /// different summation order would round differently).
    fn reduce_add4_matches_reduce_add<T: Float, L: Lanes<T>>(s: L) {
        let n = L::N;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            unit * 2f64.powi((state % 41) as i32 - 20)
        };
        for _ in 0..200 {
            let values: Vec<T> = (0..4 * n).map(|_| T::from_f64(next())).collect();
            // SAFETY: `values` holds 4 N elements; register r reads N of them from r N.
            let v: [L::V; 4] = std::array::from_fn(|r| unsafe { s.load(values.as_ptr().add(r * n)) });
            let together = s.reduce_add4(v);
            for (r, &sum) in together.iter().enumerate() {
                assert_eq!(sum.to_f64().to_bits(), s.reduce_add(v[r]).to_f64().to_bits(), "register {r} of {n} lanes");
            }
        }
    }

    #[test]
    fn reduce_add4_is_reduce_add_on_every_instruction_set() {
        reduce_add4_matches_reduce_add::<f32, _>(scalar::Scalar);
        reduce_add4_matches_reduce_add::<f64, _>(scalar::Scalar);
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(t) = crate::isa::Avx2::detect() {
                reduce_add4_matches_reduce_add::<f32, _>(t);
                reduce_add4_matches_reduce_add::<f64, _>(t);
            }
            if let Some(t) = crate::isa::Avx512::detect() {
                reduce_add4_matches_reduce_add::<f32, _>(t);
                reduce_add4_matches_reduce_add::<f64, _>(t);
            }
        }
    }
}
