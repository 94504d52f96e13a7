//! AVX-512 lanes: 16 x f32 or 8 x f64 per `zmm` register; tails through `k` masks (no remainder loops).

use std::arch::x86_64::*;

use super::Lanes;
use crate::isa::Avx512;

/// Runs an AVX-512 intrinsic from a method of the [`Avx512`] token.
macro_rules! avx512 {
    ($e:expr) => {
        // SAFETY: an `Avx512` token exists only after `Avx512::detect` saw AVX-512 F/BW/DQ/VL, AVX2 and FMA on
        // this CPU (or inside a function compiled for those features and reachable only through such a token).
        unsafe { $e }
    };
}

impl Lanes<f32> for Avx512 {
    type V = __m512;
    type M = __mmask16;
    const N: usize = 16;

    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        avx512!(_mm512_set1_ps(x))
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: token proves AVX-512F; the caller guarantees 16 readable elements at `p` (trait contract).
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: token proves AVX-512F; the caller guarantees 16 writable elements at `p` (trait contract).
        unsafe { _mm512_storeu_ps(p, v) }
    }
    const STREAMS: bool = true;
    #[inline(always)]
    unsafe fn store_stream(self, p: *mut f32, v: __m512) {
        // SAFETY: token proves the features; the caller guarantees 16 writable, register-aligned elements.
        unsafe { _mm512_stream_ps(p, v) }
    }
    #[inline(always)]
    fn stream_fence(self) {
        avx512!(_mm_sfence())
    }
    #[inline(always)]
    fn tail(self, k: usize) -> __mmask16 {
        debug_assert!(k > 0 && k < 16);
        ((1u32 << k) - 1) as __mmask16
    }
    #[inline(always)]
    unsafe fn load_tail(self, p: *const f32, m: __mmask16) -> __m512 {
        // SAFETY: token proves AVX-512F; masked-off lanes are not accessed (no fault), masked lanes are readable.
        unsafe { _mm512_maskz_loadu_ps(m, p) }
    }
    #[inline(always)]
    unsafe fn store_tail(self, p: *mut f32, m: __mmask16, v: __m512) {
        // SAFETY: token proves AVX-512F; masked-off lanes are not accessed (no fault), masked lanes are writable.
        unsafe { _mm512_mask_storeu_ps(p, m, v) }
    }
    #[inline(always)]
    fn fill_tail(self, m: __mmask16, v: __m512, fill: __m512) -> __m512 {
        avx512!(_mm512_mask_mov_ps(fill, m, v))
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_add_ps(a, b))
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_sub_ps(a, b))
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_mul_ps(a, b))
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_div_ps(a, b))
    }
    #[inline(always)]
    fn sqrt(self, a: __m512) -> __m512 {
        avx512!(_mm512_sqrt_ps(a))
    }
    #[inline(always)]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        avx512!(_mm512_fmadd_ps(a, b, c))
    }
    #[inline(always)]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_min_ps(a, b))
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        avx512!(_mm512_max_ps(a, b))
    }
    #[inline(always)]
    fn abs(self, a: __m512) -> __m512 {
        avx512!(_mm512_abs_ps(a))
    }
    #[inline(always)]
    fn select_lt(self, a: __m512, b: __m512, x: __m512, y: __m512) -> __m512 {
        avx512!(_mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b), y, x))
    }
    #[inline(always)]
    fn round(self, a: __m512) -> __m512 {
        avx512!(_mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a))
    }
    #[inline(always)]
    fn scale_pow2(self, p: __m512, n: __m512) -> __m512 {
        // `vscalefps` computes p * 2^floor(n) with one rounding, through underflow and overflow.
        avx512!(_mm512_scalef_ps(p, n))
    }
    #[inline(always)]
    fn reduce_add(self, v: __m512) -> f32 {
        avx512!({
            let half = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps::<1>(v));
            <crate::isa::Avx2 as Lanes<f32>>::reduce_add(crate::isa::Avx2::new_unchecked(), half)
        })
    }
    #[inline(always)]
    fn reduce_add4(self, v: [__m512; 4]) -> [f32; 4] {
        // reduce_add's order: the two 256-bit halves added, then AVX2's order on the sum.
        avx512!({
            let halves = [
                _mm256_add_ps(_mm512_castps512_ps256(v[0]), _mm512_extractf32x8_ps::<1>(v[0])),
                _mm256_add_ps(_mm512_castps512_ps256(v[1]), _mm512_extractf32x8_ps::<1>(v[1])),
                _mm256_add_ps(_mm512_castps512_ps256(v[2]), _mm512_extractf32x8_ps::<1>(v[2])),
                _mm256_add_ps(_mm512_castps512_ps256(v[3]), _mm512_extractf32x8_ps::<1>(v[3])),
            ];
            <crate::isa::Avx2 as Lanes<f32>>::reduce_add4(crate::isa::Avx2::new_unchecked(), halves)
        })
    }
    #[inline(always)]
    fn reduce_min(self, v: __m512) -> f32 {
        avx512!({
            let half = _mm256_min_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps::<1>(v));
            <crate::isa::Avx2 as Lanes<f32>>::reduce_min(crate::isa::Avx2::new_unchecked(), half)
        })
    }
    #[inline(always)]
    fn reduce_max(self, v: __m512) -> f32 {
        avx512!({
            let half = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps::<1>(v));
            <crate::isa::Avx2 as Lanes<f32>>::reduce_max(crate::isa::Avx2::new_unchecked(), half)
        })
    }
    #[inline(always)]
    fn eq_bits(self, a: __m512, b: __m512) -> u64 {
        avx512!(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b) as u64)
    }
    #[inline(always)]
    fn nan_bits(self, a: __m512) -> u64 {
        avx512!(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a) as u64)
    }
    #[inline(always)]
    fn or_nan(self, acc: __m512, a: __m512) -> __m512 {
        avx512!(_mm512_mask_mov_ps(acc, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a), _mm512_set1_ps(1.0)))
    }
    #[inline(always)]
    fn any_flag(self, flags: __m512) -> bool {
        avx512!(_mm512_cmp_ps_mask::<_CMP_NEQ_OQ>(flags, _mm512_setzero_ps()) != 0)
    }
}

impl Lanes<f64> for Avx512 {
    type V = __m512d;
    type M = __mmask8;
    const N: usize = 8;

    #[inline(always)]
    fn splat(self, x: f64) -> __m512d {
        avx512!(_mm512_set1_pd(x))
    }
    #[inline(always)]
    unsafe fn load(self, p: *const f64) -> __m512d {
        // SAFETY: token proves AVX-512F; the caller guarantees 8 readable elements at `p` (trait contract).
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f64, v: __m512d) {
        // SAFETY: token proves AVX-512F; the caller guarantees 8 writable elements at `p` (trait contract).
        unsafe { _mm512_storeu_pd(p, v) }
    }
    const STREAMS: bool = true;
    #[inline(always)]
    unsafe fn store_stream(self, p: *mut f64, v: __m512d) {
        // SAFETY: token proves the features; the caller guarantees 8 writable, register-aligned elements.
        unsafe { _mm512_stream_pd(p, v) }
    }
    #[inline(always)]
    fn stream_fence(self) {
        avx512!(_mm_sfence())
    }
    #[inline(always)]
    fn tail(self, k: usize) -> __mmask8 {
        debug_assert!(k > 0 && k < 8);
        ((1u32 << k) - 1) as __mmask8
    }
    #[inline(always)]
    unsafe fn load_tail(self, p: *const f64, m: __mmask8) -> __m512d {
        // SAFETY: token proves AVX-512F; masked-off lanes are not accessed (no fault), masked lanes are readable.
        unsafe { _mm512_maskz_loadu_pd(m, p) }
    }
    #[inline(always)]
    unsafe fn store_tail(self, p: *mut f64, m: __mmask8, v: __m512d) {
        // SAFETY: token proves AVX-512F; masked-off lanes are not accessed (no fault), masked lanes are writable.
        unsafe { _mm512_mask_storeu_pd(p, m, v) }
    }
    #[inline(always)]
    fn fill_tail(self, m: __mmask8, v: __m512d, fill: __m512d) -> __m512d {
        avx512!(_mm512_mask_mov_pd(fill, m, v))
    }
    #[inline(always)]
    fn add(self, a: __m512d, b: __m512d) -> __m512d {
        avx512!(_mm512_add_pd(a, b))
    }
    #[inline(always)]
    fn sub(self, a: __m512d, b: __m512d) -> __m512d {
        avx512!(_mm512_sub_pd(a, b))
    }
    #[inline(always)]
    fn mul(self, a: __m512d, b: __m512d) -> __m512d {
        avx512!(_mm512_mul_pd(a, b))
    }
    #[inline(always)]
    fn div(self, a: __m512d, b: __m512d) -> __m512d {
        avx512!(_mm512_div_pd(a, b))
    }
    #[inline(always)]
    fn sqrt(self, a: __m512d) -> __m512d {
        avx512!(_mm512_sqrt_pd(a))
    }
    #[inline(always)]
    fn mul_add(self, a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        avx512!(_mm512_fmadd_pd(a, b, c))
    }
    #[inline(always)]
    fn min(self, a: __m512d, b: __m512d) -> __m512d {
        avx512!(_mm512_min_pd(a, b))
    }
    #[inline(always)]
    fn max(self, a: __m512d, b: __m512d) -> __m512d {
        avx512!(_mm512_max_pd(a, b))
    }
    #[inline(always)]
    fn abs(self, a: __m512d) -> __m512d {
        avx512!(_mm512_abs_pd(a))
    }
    #[inline(always)]
    fn select_lt(self, a: __m512d, b: __m512d, x: __m512d, y: __m512d) -> __m512d {
        avx512!(_mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b), y, x))
    }
    #[inline(always)]
    fn round(self, a: __m512d) -> __m512d {
        avx512!(_mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a))
    }
    #[inline(always)]
    fn scale_pow2(self, p: __m512d, n: __m512d) -> __m512d {
        avx512!(_mm512_scalef_pd(p, n))
    }
    #[inline(always)]
    fn reduce_add(self, v: __m512d) -> f64 {
        avx512!({
            let half = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd::<1>(v));
            <crate::isa::Avx2 as Lanes<f64>>::reduce_add(crate::isa::Avx2::new_unchecked(), half)
        })
    }
    #[inline(always)]
    fn reduce_add4(self, v: [__m512d; 4]) -> [f64; 4] {
        // reduce_add's order: the two 256-bit halves added, then AVX2's order on the sum.
        avx512!({
            let halves = [
                _mm256_add_pd(_mm512_castpd512_pd256(v[0]), _mm512_extractf64x4_pd::<1>(v[0])),
                _mm256_add_pd(_mm512_castpd512_pd256(v[1]), _mm512_extractf64x4_pd::<1>(v[1])),
                _mm256_add_pd(_mm512_castpd512_pd256(v[2]), _mm512_extractf64x4_pd::<1>(v[2])),
                _mm256_add_pd(_mm512_castpd512_pd256(v[3]), _mm512_extractf64x4_pd::<1>(v[3])),
            ];
            <crate::isa::Avx2 as Lanes<f64>>::reduce_add4(crate::isa::Avx2::new_unchecked(), halves)
        })
    }
    #[inline(always)]
    fn reduce_min(self, v: __m512d) -> f64 {
        avx512!({
            let half = _mm256_min_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd::<1>(v));
            <crate::isa::Avx2 as Lanes<f64>>::reduce_min(crate::isa::Avx2::new_unchecked(), half)
        })
    }
    #[inline(always)]
    fn reduce_max(self, v: __m512d) -> f64 {
        avx512!({
            let half = _mm256_max_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd::<1>(v));
            <crate::isa::Avx2 as Lanes<f64>>::reduce_max(crate::isa::Avx2::new_unchecked(), half)
        })
    }
    #[inline(always)]
    fn eq_bits(self, a: __m512d, b: __m512d) -> u64 {
        avx512!(_mm512_cmp_pd_mask::<_CMP_EQ_OQ>(a, b) as u64)
    }
    #[inline(always)]
    fn nan_bits(self, a: __m512d) -> u64 {
        avx512!(_mm512_cmp_pd_mask::<_CMP_UNORD_Q>(a, a) as u64)
    }
    #[inline(always)]
    fn or_nan(self, acc: __m512d, a: __m512d) -> __m512d {
        avx512!(_mm512_mask_mov_pd(acc, _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(a, a), _mm512_set1_pd(1.0)))
    }
    #[inline(always)]
    fn any_flag(self, flags: __m512d) -> bool {
        avx512!(_mm512_cmp_pd_mask::<_CMP_NEQ_OQ>(flags, _mm512_setzero_pd()) != 0)
    }
}
