//! The scalar twin: one lane per "register", plain Rust arithmetic, available on every target.

use super::Lanes;

/// Token of the portable scalar path (always available).
#[derive(Clone, Copy, Debug, Default)]
pub struct Scalar;

macro_rules! scalar_lanes {
    ($t:ty, $bits:ty, $mant:expr, $bias:expr) => {
        impl Lanes<$t> for Scalar {
            type V = $t;
            type M = bool;
            const N: usize = 1;

            #[inline(always)]
            fn splat(self, x: $t) -> $t {
                x
            }
            #[inline(always)]
            unsafe fn load(self, p: *const $t) -> $t {
                // SAFETY: the caller guarantees `p` is readable (trait contract).
                unsafe { p.read_unaligned() }
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut $t, v: $t) {
                // SAFETY: the caller guarantees `p` is writable (trait contract).
                unsafe { p.write_unaligned(v) }
            }
            const STREAMS: bool = false;
            #[inline(always)]
            unsafe fn store_stream(self, p: *mut $t, v: $t) {
                // SAFETY: the caller guarantees `p` is writable (trait contract).
                unsafe { p.write_unaligned(v) }
            }
            #[inline(always)]
            fn stream_fence(self) {}
            #[inline(always)]
            fn tail(self, k: usize) -> bool {
                k > 0
            }
            #[inline(always)]
            unsafe fn load_tail(self, p: *const $t, m: bool) -> $t {
                if m {
                    // SAFETY: a set mask means the one element at `p` is readable (trait contract).
                    unsafe { p.read_unaligned() }
                } else {
                    0.0
                }
            }
            #[inline(always)]
            unsafe fn store_tail(self, p: *mut $t, m: bool, v: $t) {
                if m {
                    // SAFETY: a set mask means the one element at `p` is writable (trait contract).
                    unsafe { p.write_unaligned(v) }
                }
            }
            #[inline(always)]
            fn fill_tail(self, m: bool, v: $t, fill: $t) -> $t {
                if m {
                    v
                } else {
                    fill
                }
            }
            #[inline(always)]
            fn add(self, a: $t, b: $t) -> $t {
                a + b
            }
            #[inline(always)]
            fn sub(self, a: $t, b: $t) -> $t {
                a - b
            }
            #[inline(always)]
            fn mul(self, a: $t, b: $t) -> $t {
                a * b
            }
            #[inline(always)]
            fn div(self, a: $t, b: $t) -> $t {
                a / b
            }
            #[inline(always)]
            fn sqrt(self, a: $t) -> $t {
                a.sqrt()
            }
            #[inline(always)]
            fn mul_add(self, a: $t, b: $t, c: $t) -> $t {
                // PERF: unfused on purpose; `<$t>::mul_add` is a libm call on CPUs without FMA.
                a * b + c
            }
            #[inline(always)]
            fn min(self, a: $t, b: $t) -> $t {
                if a < b {
                    a
                } else {
                    b
                }
            }
            #[inline(always)]
            fn max(self, a: $t, b: $t) -> $t {
                if a > b {
                    a
                } else {
                    b
                }
            }
            #[inline(always)]
            fn abs(self, a: $t) -> $t {
                a.abs()
            }
            #[inline(always)]
            fn select_lt(self, a: $t, b: $t, x: $t, y: $t) -> $t {
                if a < b {
                    x
                } else {
                    y
                }
            }
            #[inline(always)]
            fn round(self, a: $t) -> $t {
                // PERF: adding and subtracting 1.5 * 2^mant rounds to nearest even in the default rounding mode;
                // `round_ties_even` would be a libm call on x86-64 without SSE4.1.
                let magic: $t = 1.5 * ((1u64 << $mant) as $t);
                (a + magic) - magic
            }
            #[inline(always)]
            fn scale_pow2(self, p: $t, n: $t) -> $t {
                // Two steps so that each factor 2^k is a normal number: n in [-2 emax - 30, 2 emax].
                let k = n as i32;
                let k1 = k >> 1;
                let pow2 = |k: i32| <$t>::from_bits(((k + $bias) as $bits) << $mant);
                p * pow2(k1) * pow2(k - k1)
            }
            #[inline(always)]
            fn reduce_add(self, v: $t) -> $t {
                v
            }
            #[inline(always)]
            fn reduce_min(self, v: $t) -> $t {
                v
            }
            #[inline(always)]
            fn reduce_max(self, v: $t) -> $t {
                v
            }
            #[inline(always)]
            fn eq_bits(self, a: $t, b: $t) -> u64 {
                (a == b) as u64
            }
            #[inline(always)]
            fn nan_bits(self, a: $t) -> u64 {
                a.is_nan() as u64
            }
            #[inline(always)]
            fn or_nan(self, acc: $t, a: $t) -> $t {
                if a.is_nan() {
                    1.0
                } else {
                    acc
                }
            }
            #[inline(always)]
            fn any_flag(self, flags: $t) -> bool {
                flags != 0.0
            }
        }
    };
}

scalar_lanes!(f32, u32, 23, 127);
scalar_lanes!(f64, u64, 52, 1023);
