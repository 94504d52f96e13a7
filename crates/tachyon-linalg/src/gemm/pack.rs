//! (b) Packing: copies blocks of A and B into the contiguous, zero-padded micro-panels the microkernel streams.
//!
//! ```text
//!  A block (mc x kc) -> ceil(mc / MR) panels       B block (kc x nc) -> ceil(nc / NR) panels
//!  panel q, element (i, p) at q*MR*kc + p*MR + i   panel q, element (p, j) at q*NR*kc + p*NR + j
//!
//!      p ->                                             j ->
//!    i [0 MR 2MR ...]   one MR-column per p          p [0 .. NR-1][NR .. 2NR-1] ...  one NR-row per p
//!    | [1            ]  rows past mc are zero          columns past nc are zero
//! ```
//!
//! Any strides are accepted; the unit-stride cases are the fast ones (contiguous runs of MR or NR elements).
//! Packing buffers come from the caller (the driver keeps them per thread), so packing never allocates.

use tachyon_simd::Float;

use super::microkernel::prefetch;
use crate::matrix::MatRef;

/// Elements an A block of `mc x kc` takes when packed with `mr`-row panels.
pub(crate) fn packed_a_len(mc: usize, kc: usize, mr: usize) -> usize {
    mc.div_ceil(mr) * mr * kc
}

/// Elements a B block of `kc x nc` takes when packed with `nr`-column panels.
pub(crate) fn packed_b_len(kc: usize, nc: usize, nr: usize) -> usize {
    nc.div_ceil(nr) * nr * kc
}

/// Evaluates `$body` with `$w` bound to `$width`, as a constant when it is one of our kernels' tile sides (4, 6,
/// 8, 12, 16, 24, 32), so that runs of `$w` elements compile to register moves and gathers unroll (with the width only
/// known at run time, every 24-64-byte run went through a `memcpy` call: ~8% of an MLP training epoch).
macro_rules! with_constant_width {
    ($width:expr, $w:ident => $body:expr) => {
        with_constant_width!(@arms $width, $w, $body; 4 6 8 12 16 24 32)
    };
    (@arms $width:expr, $w:ident, $body:expr; $($n:literal)*) => {
        match $width {
            $($n => {
                #[allow(non_upper_case_globals)]
                const $w: usize = $n;
                $body
            })*
            $w => $body,
        }
    };
}

/// Packs one `width`-wide panel: `dst[p * width + t] = src(t, p)` for `t < len`, zero for `len <= t < width`,
/// where `src(t, p)` is at `base + t * t_stride + p * p_stride`.
///
/// The tile sides of our kernels instantiate [`pack_panel_body`] with the width a constant
/// ([`with_constant_width`]).
///
/// # Safety
/// `src(t, p)` must be readable for `t < len`, `p < kc`; `dst` must hold `kc * width` elements.
#[inline(always)]
unsafe fn pack_panel<T: Float>(
    base: *const T,
    t_stride: usize,
    p_stride: usize,
    len: usize,
    kc: usize,
    width: usize,
    dst: &mut [T],
) {
    debug_assert!(dst.len() >= kc * width && len <= width);
    // SAFETY: the caller's contract, with `w == width`.
    with_constant_width!(width, w => unsafe { pack_panel_body(base, t_stride, p_stride, len, kc, w, dst) })
}

/// `out[t] = src(t)` for every `t` of `out`, `src(t)` at `col + t * t_stride`.
///
/// # Safety
/// `src(t)` must be readable for `t < out.len()`.
#[inline(always)]
unsafe fn copy_run<T: Float>(col: *const T, t_stride: usize, out: &mut [T]) {
    if t_stride == 1 {
        // SAFETY: a contiguous run of `out.len()` readable elements (contract).
        out.copy_from_slice(unsafe { std::slice::from_raw_parts(col, out.len()) });
    } else {
        for (t, o) in out.iter_mut().enumerate() {
            // SAFETY: t < out.len() is readable (contract).
            *o = unsafe { *col.add(t * t_stride) };
        }
    }
}

/// The loop of [`pack_panel`], inlined into each of its width cases.
///
/// # Safety
/// As for [`pack_panel`].
#[inline(always)]
unsafe fn pack_panel_body<T: Float>(
    base: *const T,
    t_stride: usize,
    p_stride: usize,
    len: usize,
    kc: usize,
    width: usize,
    dst: &mut [T],
) {
    // A gather whose rows run along p (t_stride large, p_stride 1) reads `len` short sequential streams a page
    // or more apart, which the hardware prefetcher picks up too late: fetch the next panel's rows (same p, `width`
    // rows on) one line at a time, a whole panel ahead. Past the block's end such hints are harmless.
    let line = (64 / std::mem::size_of::<T>()).max(1);
    let prefetch_next_panel = p_stride == 1 && t_stride != 1;
    let next_panel = base.wrapping_add(width * t_stride);
    // A full gather: blocks of `step` p moved as SSE transposes, the rest of the depth by the scalar loop below.
    let step = if prefetch_next_panel && len == width { transpose_step::<T>(width) } else { None };
    let transposed = step.map_or(0, |step| kc / step * step);
    for p in (0..transposed).step_by(step.unwrap_or(1)) {
        if p % line == 0 {
            prefetch_rows(next_panel, t_stride, width, p);
        }
        // SAFETY: the caller's contract: `width` rows hold p..p + step <= kc contiguous elements; `dst` holds
        // kc x width.
        unsafe { transpose_block(base, t_stride, width, p, dst.as_mut_ptr()) };
    }
    for (p, out) in dst.chunks_exact_mut(width).take(kc).enumerate().skip(transposed) {
        if prefetch_next_panel && p % line == 0 {
            prefetch_rows(next_panel, t_stride, width, p);
        }
        // SAFETY: p < kc and t < len are readable (contract).
        let col = unsafe { base.add(p * p_stride) };
        // A full run is copied with the width as its length, a constant in the width cases of `pack_panel`, so
        // that it compiles to register moves (a run of length `len` would be a `memcpy` call).
        // SAFETY: elements t < len (== width in the first branch) of this column are readable (contract).
        unsafe {
            if len == width {
                copy_run(col, t_stride, &mut out[..width]);
            } else {
                copy_run(col, t_stride, &mut out[..len]);
            }
        }
        // PERF: a plain loop, not `fill`: a variable-length fill is a memset call, costly for 0..NR elements.
        for o in &mut out[len..] {
            *o = T::ZERO;
        }
    }
}

/// Prefetches element `p` of each of `rows` rows `t_stride` apart from `first_row`: the next panel's rows, a
/// panel ahead of a gather along contiguous rows (never faults, whatever the address).
#[inline(always)]
fn prefetch_rows<T>(first_row: *const T, t_stride: usize, rows: usize, p: usize) {
    for t in 0..rows {
        prefetch(first_row.wrapping_add(t * t_stride + p));
    }
}

/// Depth of one [`transpose_block`] for `T` and `width`: 4 for 4-byte elements, 2 for 8-byte ones, `None`
/// where there is none (odd widths, other architectures).
#[inline(always)]
fn transpose_step<T>(width: usize) -> Option<usize> {
    match std::mem::size_of::<T>() {
        4 | 8 if cfg!(target_arch = "x86_64") && width.is_multiple_of(2) => Some(16 / std::mem::size_of::<T>()),
        _ => None,
    }
}

/// Packs depths `p..p + step` ([`transpose_step`]) of `width` rows of contiguous elements (`src(t, p)` at
/// `base + t * t_stride + p`) as a transpose in SSE registers: 4 x 4 blocks of 4-byte elements (and 2 x 4 for a
/// last pair of rows), or 2 x 2 blocks of 8-byte ones, instead of one scalar load and store per element.
/// [`pack_panel_body`]'s scalar loop, its twin, packs the remaining depth (the tests check every width and depth
/// against the layout). Values are moved, never computed on: bit-identical.
///
/// PERF: the gather packing of a row-major operand (A of a row-major product, X in the MLP's forward) was 3-5%
/// of a 1024 product.
///
/// # Safety
/// [`transpose_step`] must be `Some(step)` for `T` and `width`; `src(t, q)` must be readable for `t < width`,
/// `p <= q < p + step`; `dst` must be writable for `(p + step) * width` elements.
#[inline(always)]
unsafe fn transpose_block<T: Float>(base: *const T, t_stride: usize, width: usize, p: usize, dst: *mut T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        if std::mem::size_of::<T>() == 4 {
            let (base, out) = (base.cast::<f32>(), dst.cast::<f32>());
            // SAFETY: rows t < width hold p..p + 4 (contract); the stores write elements (p + j) * width + t,
            // t < width, j < 4, inside dst. SSE is part of x86-64, and T is f32 (Float is sealed to f32 and f64;
            // 4 bytes), so the bits move unchanged.
            unsafe {
                let row = |t: usize| _mm_loadu_ps(base.add(t * t_stride + p));
                let store = |t: usize, j: usize, v: __m128| _mm_storeu_ps(out.add((p + j) * width + t), v);
                for t in (0..width - width % 4).step_by(4) {
                    let (r0, r1, r2, r3) = (row(t), row(t + 1), row(t + 2), row(t + 3));
                    let (l01, h01) = (_mm_unpacklo_ps(r0, r1), _mm_unpackhi_ps(r0, r1));
                    let (l23, h23) = (_mm_unpacklo_ps(r2, r3), _mm_unpackhi_ps(r2, r3));
                    store(t, 0, _mm_movelh_ps(l01, l23));
                    store(t, 1, _mm_movehl_ps(l23, l01));
                    store(t, 2, _mm_movelh_ps(h01, h23));
                    store(t, 3, _mm_movehl_ps(h23, h01));
                }
                if width % 4 == 2 {
                    let t = width - 2;
                    let (r0, r1) = (row(t), row(t + 1));
                    let (lo, hi) = (_mm_unpacklo_ps(r0, r1), _mm_unpackhi_ps(r0, r1));
                    // The low 8 bytes of `v` to elements (p + j) * width + t, t + 1 (an unaligned store).
                    let pair = |j: usize, v: __m128| {
                        _mm_storel_epi64(out.add((p + j) * width + t).cast::<__m128i>(), _mm_castps_si128(v))
                    };
                    pair(0, lo);
                    pair(1, _mm_movehl_ps(lo, lo));
                    pair(2, hi);
                    pair(3, _mm_movehl_ps(hi, hi));
                }
            }
        } else {
            let (base, out) = (base.cast::<f64>(), dst.cast::<f64>());
            for t in (0..width).step_by(2) {
                // SAFETY: rows t, t + 1 < width hold p, p + 1 (contract); the stores write elements
                // (p + j) * width + t..t + 2 inside dst; T is f64 (8 bytes, Float is sealed).
                unsafe {
                    let (r0, r1) =
                        (_mm_loadu_pd(base.add(t * t_stride + p)), _mm_loadu_pd(base.add((t + 1) * t_stride + p)));
                    _mm_storeu_pd(out.add(p * width + t), _mm_unpacklo_pd(r0, r1));
                    _mm_storeu_pd(out.add((p + 1) * width + t), _mm_unpackhi_pd(r0, r1));
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (base, t_stride, width, p, dst);
        unreachable!("transpose_step is None off x86-64");
    }
}

/// Packs the A block `a` (mc x kc) into `dst` as `mr`-row panels.
pub(crate) fn pack_a<T: Float>(a: MatRef<'_, T>, mr: usize, dst: &mut [T]) {
    let (mc, kc) = (a.rows(), a.cols());
    if a.row_stride() == 1 && mc > mr {
        // SAFETY: `a` is mc x kc with unit row stride; `dst` holds the packed block (sliced below).
        return with_constant_width!(mr, w => unsafe {
            pack_a_by_columns(a.as_ptr(), a.col_stride(), mc, kc, w, &mut dst[..packed_a_len(mc, kc, mr)])
        });
    }
    for (q, panel) in dst[..packed_a_len(mc, kc, mr)].chunks_exact_mut(mr * kc).enumerate() {
        let i0 = q * mr;
        let rows = (mc - i0).min(mr);
        // SAFETY: rows i0..i0+rows and columns 0..kc are inside `a`; the panel holds mr * kc elements.
        unsafe { pack_panel(a.as_ptr().add(i0 * a.row_stride()), a.row_stride(), a.col_stride(), rows, kc, mr, panel) };
    }
}

/// How many columns ahead [`pack_a_by_columns`] prefetches: enough to cover a last-level-cache miss (~100 ns)
/// at the ~10 ns one column of a block takes to copy.
const COLUMN_PREFETCH_DISTANCE: usize = 8;

/// Packs an A block with contiguous columns (unit row stride) column by column into all of its `mr`-row panels
/// at once: each column is one contiguous run of `mc` elements, read in one visit to its page.
///
/// PERF: packing panel by panel visits a page per column per panel (columns are a row length apart): the
/// 1024 f32 product's A packing was load-miss-bound at 4-7% of its time. Whole columns, prefetched a few columns
/// ahead, are read sequentially.
///
/// # Safety
/// `a(i, p)` at `a + i + p * col_stride` must be readable for `i < mc`, `p < kc`; `dst` must hold
/// `packed_a_len(mc, kc, mr)` elements.
#[inline(always)]
unsafe fn pack_a_by_columns<T: Float>(a: *const T, col_stride: usize, mc: usize, kc: usize, mr: usize, dst: &mut [T]) {
    let line = (64 / std::mem::size_of::<T>()).max(1);
    let panels = mc.div_ceil(mr);
    let full = mc / mr;
    debug_assert_eq!(dst.len(), panels * mr * kc);
    for p in 0..kc {
        let ahead = a.wrapping_add((p + COLUMN_PREFETCH_DISTANCE) * col_stride);
        for i in (0..mc).step_by(line) {
            prefetch(ahead.wrapping_add(i));
        }
        // SAFETY: column p < kc is readable for mc elements (contract).
        let col = unsafe { std::slice::from_raw_parts(a.add(p * col_stride), mc) };
        for (q, run) in col.chunks_exact(mr).enumerate() {
            dst[q * mr * kc + p * mr..][..mr].copy_from_slice(run);
        }
        if full < panels {
            let out = &mut dst[full * mr * kc + p * mr..][..mr];
            let rest = mc - full * mr;
            out[..rest].copy_from_slice(&col[full * mr..]);
            for o in &mut out[rest..] {
                *o = T::ZERO;
            }
        }
    }
}

/// Packs panel `q` of the B block `b` (kc x nc) into `dst` (`nr * kc` elements).
pub(crate) fn pack_b_panel<T: Float>(b: MatRef<'_, T>, nr: usize, q: usize, dst: &mut [T]) {
    let (kc, nc) = (b.rows(), b.cols());
    let j0 = q * nr;
    let cols = (nc - j0).min(nr);
    // SAFETY: columns j0..j0+cols and rows 0..kc are inside `b`; the panel holds nr * kc elements.
    unsafe { pack_panel(b.as_ptr().add(j0 * b.col_stride()), b.col_stride(), b.row_stride(), cols, kc, nr, dst) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;

    #[test]
    fn panels_of_every_tile_width_follow_the_layout() {
        panels_follow_the_layout::<f32>();
        panels_follow_the_layout::<f64>();
    }

    /// Every width, partial and full panels, both layouts, awkward depths (the SSE transpose of full gathers
    /// packs p in fours or twos and the scalar loop the rest) and a source misaligned by one element.
    fn panels_follow_the_layout<T: Float>() {
        let src: Vec<T> = (0..40 * 40 + 1).map(|v| T::from_f64(v as f64)).collect();
        let src = &src[1..];
        for width in [4, 6, 8, 12, 16, 24, 32] {
            for len in [1, width - 1, width] {
                // Contiguous runs (t_stride 1) and gathers (t_stride 40), as A and B panels of either layout.
                for (t_stride, p_stride) in [(1, 40), (40, 1)] {
                    for kc in [0, 1, 2, 3, 4, 5, 7, 8, 17, 33] {
                        let mut fixed = vec![T::from_f64(f64::NAN); kc * width];
                        // SAFETY: t < len <= 32 and p < 33 index inside the 40 x 40 source; the panel holds
                        // kc * width elements.
                        unsafe { pack_panel(src.as_ptr(), t_stride, p_stride, len, kc, width, &mut fixed) };
                        let any: Vec<T> = (0..kc * width)
                            .map(|e| {
                                let (p, t) = (e / width, e % width);
                                if t < len {
                                    src[t * t_stride + p * p_stride]
                                } else {
                                    T::ZERO
                                }
                            })
                            .collect();
                        assert_eq!(fixed, any, "{} width {width} len {len} t_stride {t_stride} kc {kc}", T::NAME);
                    }
                }
            }
        }
    }

    #[test]
    fn column_by_column_packing_equals_panel_by_panel() {
        // Unit row stride (columns contiguous) takes `pack_a_by_columns`; the row-major copy of the same values
        // takes the panel-by-panel gather. Both must give the same panels, partial last panel included.
        for mr in [4, 6, 8, 12, 16, 32, 5] {
            for mc in [mr + 1, 2 * mr, 3 * mr - 1, 5 * mr + 3] {
                let kc = 11;
                let cols = Matrix::from_fn(kc, mc, |p, i| (1000 * i + p) as f64);
                let rows = Matrix::from_fn(mc, kc, |i, p| (1000 * i + p) as f64);
                let (by_columns, by_panels) = (cols.as_ref().t(), rows.as_ref());
                assert_eq!(by_columns.row_stride(), 1);
                let mut a = vec![f64::NAN; packed_a_len(mc, kc, mr)];
                let mut b = vec![f64::NAN; a.len()];
                pack_a(by_columns, mr, &mut a);
                pack_a(by_panels, mr, &mut b);
                assert_eq!(a, b, "mr {mr} mc {mc}");
            }
        }
    }

    #[test]
    fn packed_layout_matches_the_picture() {
        let a = Matrix::from_fn(5, 3, |i, p| (10 * i + p) as f32);
        let mut dst = vec![f32::NAN; packed_a_len(5, 3, 4)];
        pack_a(a.as_ref(), 4, &mut dst);
        // panel 0, p = 1: rows 0..4 of column 1
        assert_eq!(&dst[4..8], &[1.0, 11.0, 21.0, 31.0]);
        // panel 1, p = 2: row 4 then zero padding
        assert_eq!(&dst[12 + 8..12 + 12], &[42.0, 0.0, 0.0, 0.0]);
        // The transposed view packs the same values through the strided path.
        let at = Matrix::from_fn(3, 5, |p, i| (10 * i + p) as f32);
        let mut dst_t = vec![f32::NAN; dst.len()];
        pack_a(at.as_ref().t(), 4, &mut dst_t);
        assert_eq!(dst, dst_t);

        let b = Matrix::from_fn(2, 3, |p, j| (10 * p + j) as f64);
        let mut panel = vec![f64::NAN; 2 * 2];
        pack_b_panel(b.as_ref(), 2, 1, &mut panel);
        assert_eq!(panel, [2.0, 0.0, 12.0, 0.0]);
    }
}
