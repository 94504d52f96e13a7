//! AVX2 + FMA lanes: 8 x f32 or 4 x f64 per `ymm` register; tails through `vmaskmovps/pd`.

use std::arch::x86_64::*;

use super::Lanes;
use crate::isa::Avx2;

/// Runs an AVX2/FMA intrinsic from a method of the [`Avx2`] token (or a helper only such methods call).
macro_rules! avx2 {
    ($e:expr) => {
        // SAFETY: an `Avx2` token exists only after `Avx2::detect` saw AVX2 and FMA on this CPU (or inside a
        // function compiled for those features and reachable only through such a token); the private helpers
        // using this macro are called only from the token's methods.
        unsafe { $e }
    };
}

/// `-1` lanes followed by `0` lanes: the mask of the first `k` lanes starts `k` entries before the middle.
static TAIL_I32: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
static TAIL_I64: [i64; 8] = [-1, -1, -1, -1, 0, 0, 0, 0];

/// 2^k for integer-valued k in [-126, 127].
#[inline(always)]
fn pow2_f32(k: __m256) -> __m256 {
    avx2!({
        let biased = _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127));
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased))
    })
}

/// 2^k for integer-valued k in [-1022, 1023].
#[inline(always)]
fn pow2_f64(k: __m256d) -> __m256d {
    // AVX2 has no f64 -> i64 conversion: adding 1.5 * 2^52 puts the integer k in the low mantissa bits; adding
    // the bias there and shifting by 52 leaves exactly (k + 1023) in the exponent field.
    avx2!({
        let bits = _mm256_castpd_si256(_mm256_add_pd(k, _mm256_set1_pd(6755399441055744.0)));
        _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_add_epi64(bits, _mm256_set1_epi64x(1023))))
    })
}

impl Lanes<f32> for Avx2 {
    type V = __m256;
    type M = __m256i;
    const N: usize = 8;

    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        avx2!(_mm256_set1_ps(x))
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: token proves AVX; the caller guarantees 8 readable elements at `p` (trait contract).
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m256) {
        // SAFETY: token proves AVX; the caller guarantees 8 writable elements at `p` (trait contract).
        unsafe { _mm256_storeu_ps(p, v) }
    }
    const STREAMS: bool = true;
    #[inline(always)]
    unsafe fn store_stream(self, p: *mut f32, v: __m256) {
        // SAFETY: token proves the features; the caller guarantees 8 writable, register-aligned elements.
        unsafe { _mm256_stream_ps(p, v) }
    }
    #[inline(always)]
    fn stream_fence(self) {
        avx2!(_mm_sfence())
    }
    #[inline(always)]
    fn tail(self, k: usize) -> __m256i {
        debug_assert!(k > 0 && k < 8);
        // SAFETY: token proves AVX; 8 - k in 1..=7, so the 8 loaded i32 lie inside the 16-entry table.
        unsafe { _mm256_loadu_si256(TAIL_I32.as_ptr().add(8 - k).cast()) }
    }
    #[inline(always)]
    unsafe fn load_tail(self, p: *const f32, m: __m256i) -> __m256 {
        // SAFETY: token proves AVX; masked-off lanes are not accessed, masked lanes are readable (contract).
        unsafe { _mm256_maskload_ps(p, m) }
    }
    #[inline(always)]
    unsafe fn store_tail(self, p: *mut f32, m: __m256i, v: __m256) {
        // PERF: `vmaskmovps` stores are microcoded on AMD Zen 1-3 (profiles showed them as the hottest spot of
        // small GEMM tiles); the k leading lanes go out as 4-, 2- and 1-lane stores instead. The mask is a prefix
        // (by `tail`), so k is the count of its trailing ones (no `popcnt` needed).
        let k = (!avx2!(_mm256_movemask_ps(_mm256_castsi256_ps(m))) as u32).trailing_zeros() as usize;
        // SAFETY: token proves AVX; lanes 0..k (a prefix) are writable (contract), and each store below writes
        // only lanes below k.
        unsafe {
            // k < 8: one store per set bit of k, each from the lanes that follow the ones already stored.
            let (mut p, mut x) = (p, _mm256_castps256_ps128(v));
            if k & 4 != 0 {
                _mm_storeu_ps(p, x);
                (p, x) = (p.add(4), _mm256_extractf128_ps::<1>(v));
            }
            if k & 2 != 0 {
                _mm_store_sd(p.cast(), _mm_castps_pd(x));
                (p, x) = (p.add(2), _mm_movehl_ps(x, x));
            }
            if k & 1 != 0 {
                _mm_store_ss(p, x);
            }
        }
    }
    #[inline(always)]
    fn fill_tail(self, m: __m256i, v: __m256, fill: __m256) -> __m256 {
        avx2!(_mm256_blendv_ps(fill, v, _mm256_castsi256_ps(m)))
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        avx2!(_mm256_add_ps(a, b))
    }
    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        avx2!(_mm256_sub_ps(a, b))
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        avx2!(_mm256_mul_ps(a, b))
    }
    #[inline(always)]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        avx2!(_mm256_div_ps(a, b))
    }
    #[inline(always)]
    fn sqrt(self, a: __m256) -> __m256 {
        avx2!(_mm256_sqrt_ps(a))
    }
    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        avx2!(_mm256_fmadd_ps(a, b, c))
    }
    #[inline(always)]
    fn min(self, a: __m256, b: __m256) -> __m256 {
        avx2!(_mm256_min_ps(a, b))
    }
    #[inline(always)]
    fn max(self, a: __m256, b: __m256) -> __m256 {
        avx2!(_mm256_max_ps(a, b))
    }
    #[inline(always)]
    fn abs(self, a: __m256) -> __m256 {
        avx2!(_mm256_andnot_ps(_mm256_set1_ps(-0.0), a))
    }
    #[inline(always)]
    fn select_lt(self, a: __m256, b: __m256, x: __m256, y: __m256) -> __m256 {
        avx2!(_mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_LT_OQ>(a, b)))
    }
    #[inline(always)]
    fn round(self, a: __m256) -> __m256 {
        avx2!(_mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a))
    }
    #[inline(always)]
    fn scale_pow2(self, p: __m256, n: __m256) -> __m256 {
        avx2!({
            // Two factors 2^n1 * 2^n2, each a normal number, so underflow rounds once, in the last multiply.
            let n1 = _mm256_floor_ps(_mm256_mul_ps(n, _mm256_set1_ps(0.5)));
            let n2 = _mm256_sub_ps(n, n1);
            _mm256_mul_ps(_mm256_mul_ps(p, pow2_f32(n1)), pow2_f32(n2))
        })
    }
    #[inline(always)]
    fn reduce_add(self, v: __m256) -> f32 {
        avx2!({
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
        })
    }
    #[inline(always)]
    fn reduce_add4(self, v: [__m256; 4]) -> [f32; 4] {
        // reduce_add's order for each register: t = lo + hi, then (t0 + t2) + (t1 + t3). Here the four t are
        // paired up so that one add forms (t0 + t2, t1 + t3) of two registers and one horizontal add the finals.
        // PERF: no closure (`v.map`): intrinsics in a closure are not inlined into the target-feature caller.
        avx2!({
            let a = _mm_add_ps(_mm256_castps256_ps128(v[0]), _mm256_extractf128_ps::<1>(v[0]));
            let b = _mm_add_ps(_mm256_castps256_ps128(v[1]), _mm256_extractf128_ps::<1>(v[1]));
            let c = _mm_add_ps(_mm256_castps256_ps128(v[2]), _mm256_extractf128_ps::<1>(v[2]));
            let d = _mm_add_ps(_mm256_castps256_ps128(v[3]), _mm256_extractf128_ps::<1>(v[3]));
            let ab = _mm_add_ps(_mm_movelh_ps(a, b), _mm_movehl_ps(b, a));
            let cd = _mm_add_ps(_mm_movelh_ps(c, d), _mm_movehl_ps(d, c));
            let mut out = [0.0f32; 4];
            _mm_storeu_ps(out.as_mut_ptr(), _mm_hadd_ps(ab, cd));
            out
        })
    }
    #[inline(always)]
    fn reduce_min(self, v: __m256) -> f32 {
        avx2!({
            let s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_min_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_min_ss(s, _mm_shuffle_ps::<1>(s, s)))
        })
    }
    #[inline(always)]
    fn reduce_max(self, v: __m256) -> f32 {
        avx2!({
            let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps::<1>(s, s)))
        })
    }
    #[inline(always)]
    fn eq_bits(self, a: __m256, b: __m256) -> u64 {
        avx2!(_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(a, b)) as u32 as u64)
    }
    #[inline(always)]
    fn nan_bits(self, a: __m256) -> u64 {
        avx2!(_mm256_movemask_ps(_mm256_cmp_ps::<_CMP_UNORD_Q>(a, a)) as u32 as u64)
    }
    #[inline(always)]
    fn or_nan(self, acc: __m256, a: __m256) -> __m256 {
        avx2!(_mm256_or_ps(acc, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a)))
    }
    #[inline(always)]
    fn any_flag(self, flags: __m256) -> bool {
        avx2!(_mm256_movemask_ps(flags) != 0)
    }
}

impl Lanes<f64> for Avx2 {
    type V = __m256d;
    type M = __m256i;
    const N: usize = 4;

    #[inline(always)]
    fn splat(self, x: f64) -> __m256d {
        avx2!(_mm256_set1_pd(x))
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f64) -> __m256d {
        // SAFETY: token proves AVX; the caller guarantees 4 readable elements at `p` (trait contract).
        unsafe { _mm256_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64, v: __m256d) {
        // SAFETY: token proves AVX; the caller guarantees 4 writable elements at `p` (trait contract).
        unsafe { _mm256_storeu_pd(p, v) }
    }
    const STREAMS: bool = true;
    #[inline(always)]
    unsafe fn store_stream(self, p: *mut f64, v: __m256d) {
        // SAFETY: token proves the features; the caller guarantees 4 writable, register-aligned elements.
        unsafe { _mm256_stream_pd(p, v) }
    }
    #[inline(always)]
    fn stream_fence(self) {
        avx2!(_mm_sfence())
    }
    #[inline(always)]
    fn tail(self, k: usize) -> __m256i {
        debug_assert!(k > 0 && k < 4);
        // SAFETY: token proves AVX; 4 - k in 1..=3, so the 4 loaded i64 lie inside the 8-entry table.
        unsafe { _mm256_loadu_si256(TAIL_I64.as_ptr().add(4 - k).cast()) }
    }
    #[inline(always)]
    unsafe fn load_tail(self, p: *const f64, m: __m256i) -> __m256d {
        // SAFETY: token proves AVX; masked-off lanes are not accessed, masked lanes are readable (contract).
        unsafe { _mm256_maskload_pd(p, m) }
    }
    #[inline(always)]
    unsafe fn store_tail(self, p: *mut f64, m: __m256i, v: __m256d) {
        // PERF: as for f32, avoid the microcoded `vmaskmovpd` store on AMD: a 2- and a 1-lane store.
        let k = (!avx2!(_mm256_movemask_pd(_mm256_castsi256_pd(m))) as u32).trailing_zeros() as usize;
        // SAFETY: token proves AVX; lanes 0..k (a prefix) are writable (contract), each store writes lanes below k.
        unsafe {
            let (mut p, mut x) = (p, _mm256_castpd256_pd128(v));
            if k >= 2 {
                _mm_storeu_pd(p, x);
                (p, x) = (p.add(2), _mm256_extractf128_pd::<1>(v));
            }
            if k % 2 == 1 {
                _mm_store_sd(p, x);
            }
        }
    }
    #[inline(always)]
    fn fill_tail(self, m: __m256i, v: __m256d, fill: __m256d) -> __m256d {
        avx2!(_mm256_blendv_pd(fill, v, _mm256_castsi256_pd(m)))
    }
    #[inline(always)]
    fn add(self, a: __m256d, b: __m256d) -> __m256d {
        avx2!(_mm256_add_pd(a, b))
    }
    #[inline(always)]
    fn sub(self, a: __m256d, b: __m256d) -> __m256d {
        avx2!(_mm256_sub_pd(a, b))
    }
    #[inline(always)]
    fn mul(self, a: __m256d, b: __m256d) -> __m256d {
        avx2!(_mm256_mul_pd(a, b))
    }
    #[inline(always)]
    fn div(self, a: __m256d, b: __m256d) -> __m256d {
        avx2!(_mm256_div_pd(a, b))
    }
    #[inline(always)]
    fn sqrt(self, a: __m256d) -> __m256d {
        avx2!(_mm256_sqrt_pd(a))
    }
    #[inline(always)]
    fn mul_add(self, a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        avx2!(_mm256_fmadd_pd(a, b, c))
    }
    #[inline(always)]
    fn min(self, a: __m256d, b: __m256d) -> __m256d {
        avx2!(_mm256_min_pd(a, b))
    }
    #[inline(always)]
    fn max(self, a: __m256d, b: __m256d) -> __m256d {
        avx2!(_mm256_max_pd(a, b))
    }
    #[inline(always)]
    fn abs(self, a: __m256d) -> __m256d {
        avx2!(_mm256_andnot_pd(_mm256_set1_pd(-0.0), a))
    }
    #[inline(always)]
    fn select_lt(self, a: __m256d, b: __m256d, x: __m256d, y: __m256d) -> __m256d {
        avx2!(_mm256_blendv_pd(y, x, _mm256_cmp_pd::<_CMP_LT_OQ>(a, b)))
    }
    #[inline(always)]
    fn round(self, a: __m256d) -> __m256d {
        avx2!(_mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a))
    }
    #[inline(always)]
    fn scale_pow2(self, p: __m256d, n: __m256d) -> __m256d {
        avx2!({
            let n1 = _mm256_floor_pd(_mm256_mul_pd(n, _mm256_set1_pd(0.5)));
            let n2 = _mm256_sub_pd(n, n1);
            _mm256_mul_pd(_mm256_mul_pd(p, pow2_f64(n1)), pow2_f64(n2))
        })
    }
    #[inline(always)]
    fn reduce_add(self, v: __m256d) -> f64 {
        avx2!({
            let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
            _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
        })
    }
    #[inline(always)]
    fn reduce_add4(self, v: [__m256d; 4]) -> [f64; 4] {
        // reduce_add's order for each register: (v0 + v2) + (v1 + v3); the final adds of two registers in one
        // horizontal add.
        avx2!({
            let a = _mm_add_pd(_mm256_castpd256_pd128(v[0]), _mm256_extractf128_pd::<1>(v[0]));
            let b = _mm_add_pd(_mm256_castpd256_pd128(v[1]), _mm256_extractf128_pd::<1>(v[1]));
            let c = _mm_add_pd(_mm256_castpd256_pd128(v[2]), _mm256_extractf128_pd::<1>(v[2]));
            let d = _mm_add_pd(_mm256_castpd256_pd128(v[3]), _mm256_extractf128_pd::<1>(v[3]));
            let mut out = [0.0f64; 4];
            _mm_storeu_pd(out.as_mut_ptr(), _mm_hadd_pd(a, b));
            _mm_storeu_pd(out.as_mut_ptr().add(2), _mm_hadd_pd(c, d));
            out
        })
    }
    #[inline(always)]
    fn reduce_min(self, v: __m256d) -> f64 {
        avx2!({
            let s = _mm_min_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
            _mm_cvtsd_f64(_mm_min_sd(s, _mm_unpackhi_pd(s, s)))
        })
    }
    #[inline(always)]
    fn reduce_max(self, v: __m256d) -> f64 {
        avx2!({
            let s = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
            _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)))
        })
    }
    #[inline(always)]
    fn eq_bits(self, a: __m256d, b: __m256d) -> u64 {
        avx2!(_mm256_movemask_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(a, b)) as u32 as u64)
    }
    #[inline(always)]
    fn nan_bits(self, a: __m256d) -> u64 {
        avx2!(_mm256_movemask_pd(_mm256_cmp_pd::<_CMP_UNORD_Q>(a, a)) as u32 as u64)
    }
    #[inline(always)]
    fn or_nan(self, acc: __m256d, a: __m256d) -> __m256d {
        avx2!(_mm256_or_pd(acc, _mm256_cmp_pd::<_CMP_UNORD_Q>(a, a)))
    }
    #[inline(always)]
    fn any_flag(self, flags: __m256d) -> bool {
        avx2!(_mm256_movemask_pd(flags) != 0)
    }
}
