//! Gram matrices, `G += Z^T Z` (the symmetric rank-k update, BLAS `syrk`), and with them `Z^T y`, for the normal
//! equations of ridge regression and the Hessians of logistic regression.
//!
//! GEMM computes `Z^T Z` as a general product: it packs Z twice (once as A, once as B) and fills both triangles.
//! Here the kernel reads row blocks of Z in place (or from one padded copy when the width is not a whole number of
//! strips) and computes only the lower triangle, one strip of `TILE_REGS` registers of G's columns at a time: the
//! strip's rows (G's rows from the strip's first column down, then `y` if given) are cut into register tiles of
//! at most `MAX_TILE_ROWS` rows, balanced so that no tile is needlessly short (a short tile waits on the FMA
//! latency). Each tile keeps its accumulators in registers while it streams the block's rows. While one block is
//! in L1 the kernel prefetches the next: without it the first tile of each block waits on memory, and at 1M x 32
//! f64 the kernel ran at half its in-cache speed. The other triangle is mirrored at the end.
//!
//! - kernel ([`gram_block`]): one instruction set's strips and tiles, written once over [`Lanes`] and instantiated
//!   per instruction set and element type;
//! - driver ([`Gram::accumulate`], [`Gram::accumulate_with_rhs`]): row blocks sized for L1, the padded copy, the
//!   mirror;
//! - dispatch: [`Gram::new`] checks the CPU, [`Gram::active`] takes the process-wide instruction set.
//!
//! Summation order: per element of G (and of `Z^T y`), rows in order within a block, blocks in order; the same on
//! every call and independent of the tiling, so a caller that splits rows into fixed chunks and adds the chunks'
//! results in order is deterministic for any thread count. Error: each element is a dot product of length `rows`,
//! so `|G - G_exact| <= gamma_rows |Z|^T |Z|` (tested on every instruction set), and likewise for `Z^T y`.

use tachyon_simd::isa::{self, Isa, IsaError, IsaRequest};
use tachyon_simd::lanes::Lanes;
use tachyon_simd::Float;

use crate::gemm::prefetch;
use crate::{GemmFloat, MatRef, ShapeError};

/// Registers of G's columns per strip (and per register tile).
const TILE_REGS: usize = 2;
/// Most rows of G per register tile: 6 x 2 = 12 accumulators, enough to cover the FMA latency (4 cycles x 2
/// ports on Zen 3) with 2 + 6 loads per 12 FMAs, and 15 of the 16 AVX2 registers with the two loaded columns.
const MAX_TILE_ROWS: usize = 6;
/// Bytes of Z per row block: half of a 32 KiB L1, so that the block stays there while every tile reads it and
/// the next block can be prefetched beside it.
const BLOCK_BYTES: usize = 16 * 1024;
/// Bytes per cache line, the prefetch step.
const LINE_BYTES: usize = 64;

/// One register tile's operands: `R` rows of G from Z's columns (plus `y`'s row), `TILE_REGS` registers of G's
/// columns.
#[derive(Clone, Copy)]
struct Tile<T> {
    /// Rows of Z (and of `y`) to stream.
    rows: usize,
    /// The strip's first column of Z (Z + G's first column index); each Z row advances it by `ldz`.
    x: *const T,
    /// The tile's first Z column (Z + G's first row index), advanced like `x`.
    z_cols: *const T,
    ldz: usize,
    /// G's row of the tile's first Z column, at the strip's first column; G's rows at stride `ldg`.
    out: *mut T,
    ldg: usize,
    /// `y`'s value for Z's first row, advanced by `y_step` per row, and the `Z^T y` row at the strip's first
    /// column (both only used by a tile with a `y` row).
    y: *const T,
    y_step: usize,
    y_out: *mut T,
}

/// The next block's lines still to prefetch, and how many per tile.
struct Prefetch<T> {
    next: *const T,
    end: *const T,
    rows_per_tile: usize,
}

/// One register tile: `R` rows of G from Z's columns (plus `y` when `Y`) over the tile's rows of Z; prefetches
/// one line of the next block for each of its first `rows_per_tile` rows.
///
/// # Safety
/// As [`gram_block`]: every pointer offset the loops form is within the caller's buffers.
#[inline(always)]
unsafe fn tile<T: Float, L: Lanes<T>, const R: usize, const Y: bool>(s: L, t: Tile<T>, pf: &mut Prefetch<T>) {
    let n = L::N;
    let line = LINE_BYTES / T::BYTES;
    // SAFETY: (whole body) per the function's contract; the prefetch pointer is only advanced with wrapping
    // arithmetic and only used as a hint, which never faults.
    unsafe {
        let mut acc = [[s.zero(); TILE_REGS]; R];
        let mut acc_y = [s.zero(); TILE_REGS];
        for (k, acc_k) in acc.iter_mut().enumerate() {
            for (r, a) in acc_k.iter_mut().enumerate() {
                *a = s.load(t.out.add(k * t.ldg + r * n));
            }
        }
        if Y {
            for (r, a) in acc_y.iter_mut().enumerate() {
                *a = s.load(t.y_out.add(r * n));
            }
        }
        for row in 0..t.rows {
            if row < pf.rows_per_tile && pf.next < pf.end {
                prefetch(pf.next);
                pf.next = pf.next.wrapping_add(line);
            }
            let xr = t.x.add(row * t.ldz);
            let mut xv = [s.zero(); TILE_REGS];
            for (r, x_r) in xv.iter_mut().enumerate() {
                *x_r = s.load(xr.add(r * n));
            }
            let zr = t.z_cols.add(row * t.ldz);
            for (k, acc_k) in acc.iter_mut().enumerate() {
                let b = s.splat(*zr.add(k));
                for (a, &x_r) in acc_k.iter_mut().zip(&xv) {
                    *a = s.mul_add(b, x_r, *a);
                }
            }
            if Y {
                let b = s.splat(*t.y.add(row * t.y_step));
                for (a, &x_r) in acc_y.iter_mut().zip(&xv) {
                    *a = s.mul_add(b, x_r, *a);
                }
            }
        }
        for (k, acc_k) in acc.iter().enumerate() {
            for (r, &a) in acc_k.iter().enumerate() {
                s.store(t.out.add(k * t.ldg + r * n), a);
            }
        }
        if Y {
            for (r, &a) in acc_y.iter().enumerate() {
                s.store(t.y_out.add(r * n), a);
            }
        }
    }
}

/// One row block of Z for [`gram_block`], with the optional `y` and the output.
#[derive(Clone, Copy)]
pub struct Block<T> {
    /// Rows of Z (and of `y`) in the block.
    pub rows: usize,
    /// Columns of Z read, and of G: a multiple of the kernel's `strip_cols`.
    pub width: usize,
    /// Z's first row, `width` elements per row.
    pub z: *const T,
    /// Elements between Z's rows.
    pub ldz: usize,
    /// `y`'s first element; null for none.
    pub y: *const T,
    /// Elements between `y`'s values.
    pub y_step: usize,
    /// G, `width` rows (`width + 1` with `y`: the last is `Z^T y`) of `width` elements.
    pub g: *mut T,
    /// Elements between G's rows.
    pub ldg: usize,
    /// The next block's first row (same row count and stride), prefetched while this one is computed: a hint, any
    /// address will do.
    pub next: *const T,
}

/// `G[i][j] += sum_r Z[r][i] Z[r][j]` for `i >= j` rounded out to whole strips, over the block's rows; with `y`,
/// also `G[width][j] += sum_r y[r] Z[r][j]`.
///
/// # Safety
/// The buffers hold what [`Block`] describes, readable (Z, y) and writable (G).
#[inline(always)]
unsafe fn gram_block<T: Float, L: Lanes<T>>(s: L, b: Block<T>) {
    let Block { rows, width, z, ldz, y, y_step, g, ldg, next } = b;
    let strip_cols = TILE_REGS * L::N;
    let with_y = !y.is_null();
    let strip_tiles = |j: usize| (width - j + usize::from(with_y)).div_ceil(MAX_TILE_ROWS);
    let all_tiles: usize = (0..width).step_by(strip_cols).map(strip_tiles).sum();
    // The next block's lines spread evenly over this block's tiles: a burst would fill the miss buffers and stall
    // the tile's own loads.
    let lines = (rows * ldz * T::BYTES).div_ceil(LINE_BYTES);
    let mut pf = Prefetch { next, end: next.wrapping_add(rows * ldz), rows_per_tile: lines.div_ceil(all_tiles.max(1)) };
    // SAFETY: (whole body) every G row index is below `width` (or is `width`, the y row, when `y` is given),
    // every column index below `width`, every Z row below `rows`: the contract above.
    unsafe {
        let mut j = 0;
        while j < width {
            // G's rows j..width of this strip, then y's: balanced tiles of at most MAX_TILE_ROWS rows.
            let total = width - j + usize::from(with_y);
            let tiles = strip_tiles(j);
            let mut i = j;
            for k in 0..tiles {
                let size = total / tiles + usize::from(k < total % tiles);
                let last = k + 1 == tiles;
                let z_rows = if last && with_y { size - 1 } else { size };
                let t = Tile {
                    rows,
                    x: z.add(j),
                    z_cols: z.add(i),
                    ldz,
                    out: g.add(i * ldg + j),
                    ldg,
                    y,
                    y_step,
                    y_out: g.add(width * ldg + j),
                };
                macro_rules! call {
                    ($($r:literal)*) => {
                        match (z_rows, last && with_y) {
                            $(($r, false) => tile::<T, L, $r, false>(s, t, &mut pf),
                              ($r, true) => tile::<T, L, $r, true>(s, t, &mut pf),)*
                            _ => unreachable!("tiles have at most MAX_TILE_ROWS rows"),
                        }
                    };
                }
                call!(0 1 2 3 4 5 6);
                i += z_rows;
            }
            j += strip_cols;
        }
    }
}

/// See [`gram_block`].
pub type GramBlockFn<T> = unsafe fn(Block<T>);

/// The Gram kernel of one instruction set for `T`.
pub struct GramKernel<T: 'static> {
    /// The instruction set the kernel was compiled for.
    pub isa: Isa,
    /// Columns per strip of G: widths are padded to a multiple of this.
    pub strip_cols: usize,
    /// The kernel.
    pub block: GramBlockFn<T>,
}

macro_rules! gram_kernel {
    ($name:ident: $t:ty, $isa:expr, $token:expr, $lanes:ty $(, $feature:literal)?) => {
        pub(crate) static $name: GramKernel<$t> = {
            type T = $t;
            $(#[target_feature(enable = $feature)])?
            unsafe fn block_fn(block: Block<T>) {
                // SAFETY: compiled for the token's features and reachable only through `Gram::new` after the CPU
                // check; the caller upholds the kernel's contract.
                #[allow(unused_unsafe)]
                unsafe { gram_block($token, block) }
            }
            GramKernel { isa: $isa, strip_cols: TILE_REGS * <$lanes as Lanes<T>>::N, block: block_fn }
        };
    };
}

gram_kernel!(SCALAR_F32: f32, Isa::Scalar, tachyon_simd::lanes::scalar::Scalar, tachyon_simd::lanes::scalar::Scalar);
gram_kernel!(SCALAR_F64: f64, Isa::Scalar, tachyon_simd::lanes::scalar::Scalar, tachyon_simd::lanes::scalar::Scalar);
#[cfg(target_arch = "x86_64")]
gram_kernel!(AVX2_F32: f32, Isa::Avx2, tachyon_simd::isa::Avx2::new_unchecked(), tachyon_simd::isa::Avx2, "avx2,fma");
#[cfg(target_arch = "x86_64")]
gram_kernel!(AVX2_F64: f64, Isa::Avx2, tachyon_simd::isa::Avx2::new_unchecked(), tachyon_simd::isa::Avx2, "avx2,fma");
#[cfg(target_arch = "x86_64")]
gram_kernel!(
    AVX512_F32: f32,
    Isa::Avx512,
    tachyon_simd::isa::Avx512::new_unchecked(),
    tachyon_simd::isa::Avx512,
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);
#[cfg(target_arch = "x86_64")]
gram_kernel!(
    AVX512_F64: f64,
    Isa::Avx512,
    tachyon_simd::isa::Avx512::new_unchecked(),
    tachyon_simd::isa::Avx512,
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);

/// A Gram plan: the kernel of one instruction set for `T`.
#[derive(Clone, Copy)]
pub struct Gram<T: GemmFloat> {
    kernel: &'static GramKernel<T>,
}

impl<T: GemmFloat> std::fmt::Debug for Gram<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gram").field("isa", &self.kernel.isa).field("strip_cols", &self.kernel.strip_cols).finish()
    }
}

impl<T: GemmFloat> Gram<T> {
    /// A plan for `isa`; an error if this CPU lacks it.
    pub fn new(isa: Isa) -> Result<Self, IsaError> {
        IsaRequest::Exactly(isa).resolve()?;
        Ok(Gram { kernel: T::grams(isa) })
    }

    /// A plan for the active instruction set.
    pub fn active() -> Self {
        Gram { kernel: T::grams(isa::active()) }
    }

    /// The instruction set of this plan.
    pub fn isa(&self) -> Isa {
        self.kernel.isa
    }

    /// `g += z^T z`, `g` row-major `d x d` (`d` = columns of `z`), both triangles. One thread; allocates a padded
    /// `(w + 1) x w` accumulator (`w` = `d` rounded up to the strip width; the last row takes `Z^T y` in
    /// [`Gram::accumulate_with_rhs`]), and a row-block copy unless `z` is row-major with `d` a multiple of the strip
    /// width.
    pub fn accumulate(&self, z: MatRef<'_, T>, g: &mut [T]) -> Result<(), ShapeError> {
        self.run(z, None, g, &mut [])
    }

    /// `g += z^T z` as [`Gram::accumulate`], and `zty += z^T y` (`y` one value per row of `z`, `zty` one per
    /// column) in the same pass over `z`.
    pub fn accumulate_with_rhs(&self, z: MatRef<'_, T>, y: &[T], g: &mut [T], zty: &mut [T]) -> Result<(), ShapeError> {
        let (rows, d) = (z.rows(), z.cols());
        if y.len() != rows || zty.len() != d {
            return Err(ShapeError::Mismatch {
                op: "gram",
                detail: format!(
                    "{rows} x {d} needs {rows} right-hand values and {d} outputs, got {} and {}",
                    y.len(),
                    zty.len()
                ),
            });
        }
        self.run(z, Some(y), g, zty)
    }

    fn run(&self, z: MatRef<'_, T>, y: Option<&[T]>, g: &mut [T], zty: &mut [T]) -> Result<(), ShapeError> {
        let (rows, d) = (z.rows(), z.cols());
        if g.len() != d * d {
            return Err(ShapeError::Mismatch {
                op: "gram",
                detail: format!("{d} columns need a {d} x {d} output ({} values), got {}", d * d, g.len()),
            });
        }
        if rows == 0 || d == 0 {
            return Ok(());
        }
        let step = self.kernel.strip_cols;
        let width = d.div_ceil(step) * step;
        // G's padded lower triangle, then the Z^T y row.
        let mut acc = vec![T::ZERO; (width + 1) * width];
        let block_rows = (BLOCK_BYTES / (width * T::BYTES)).max(1);
        let in_place = z.col_stride() == 1 && width == d;
        let mut copy = if in_place { Vec::new() } else { vec![T::ZERO; block_rows * width] };
        let mut start = 0;
        while start < rows {
            let count = block_rows.min(rows - start);
            let (ptr, ld) = if in_place {
                // SAFETY: row `start` exists, so its offset is within the view's allocation.
                (unsafe { z.as_ptr().add(start * z.row_stride()) }, z.row_stride())
            } else {
                for (r, dst) in copy.chunks_exact_mut(width).take(count).enumerate() {
                    for (c, v) in dst[..d].iter_mut().enumerate() {
                        *v = z.get(start + r, c);
                    }
                }
                (copy.as_ptr(), width)
            };
            let block = Block {
                rows: count,
                width,
                z: ptr,
                ldz: ld,
                y: y.map_or(std::ptr::null(), |y| y[start..].as_ptr()),
                y_step: 1,
                g: acc.as_mut_ptr(),
                ldg: width,
                // The source's next rows (in place: the next block itself); only a prefetch hint.
                next: z.as_ptr().wrapping_add((start + count) * z.row_stride()),
            };
            // SAFETY: `width` is a multiple of the strip width; the block has `count` rows of `width` readable
            // elements at stride `ld` (in place: `width == d` columns of a view with unit column stride; copied:
            // the zero-padded buffer); `y`, when given, has `rows - start >= count` values from `start`; `acc`
            // is `(width + 1) x width`. The kernel's instruction set was checked when the plan was made.
            unsafe { (self.kernel.block)(block) };
            start += count;
        }
        for i in 0..d {
            for j in 0..=i {
                let v = acc[i * width + j];
                g[i * d + j] = g[i * d + j] + v;
                if i != j {
                    g[j * d + i] = g[j * d + i] + v;
                }
            }
        }
        for (out, &v) in zty.iter_mut().zip(&acc[width * width..]) {
            *out = *out + v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_testkit::SplitMix64;

    /// The f64 Gram matrix and the bound's scale `|Z|^T |Z|`.
    fn reference(z: &MatRef<'_, f64>) -> (Vec<f64>, Vec<f64>) {
        let (rows, d) = (z.rows(), z.cols());
        let (mut g, mut scale) = (vec![0.0; d * d], vec![0.0; d * d]);
        for i in 0..d {
            for j in 0..d {
                for r in 0..rows {
                    g[i * d + j] += z.get(r, i) * z.get(r, j);
                    scale[i * d + j] += (z.get(r, i) * z.get(r, j)).abs();
                }
            }
        }
        (g, scale)
    }

    fn gamma(n: usize, u: f64) -> f64 {
        n as f64 * u / (1.0 - n as f64 * u)
    }

    #[test]
    fn every_instruction_set_matches_the_f64_reference_within_the_bound() {
        let mut rng = SplitMix64(3);
        for isa in tachyon_simd::isa::levels_under_test() {
            for d in [1, 2, 3, 8, 15, 17, 32, 33, 63, 65] {
                for rows in [0, 1, 7, 100, 1031] {
                    // Row-major in place, row-major with a misaligned start and padded stride, column-major.
                    let offset = 1;
                    let ld = d + 3;
                    let data: Vec<f64> = (0..offset + rows * ld + d).map(|_| rng.uniform(-1.0, 1.0)).collect();
                    let views = [
                        MatRef::row_major(&data[..rows * d], rows, d).unwrap(),
                        MatRef::from_slice(&data[offset..], rows, d, ld, 1).unwrap(),
                        MatRef::col_major(&data[..rows * d], rows, d).unwrap(),
                    ];
                    let y: Vec<f64> = (0..rows).map(|_| rng.uniform(-1.0, 1.0)).collect();
                    for (v, z) in views.iter().enumerate() {
                        let (want, scale) = reference(z);
                        let bound = gamma(rows + 1, f64::EPSILON / 2.0);
                        let gram = Gram::<f64>::new(isa).unwrap();
                        let mut g = vec![0.5f64; d * d];
                        gram.accumulate(*z, &mut g).unwrap();
                        let mut g_rhs = vec![0.5f64; d * d];
                        let mut zty = vec![0.25f64; d];
                        gram.accumulate_with_rhs(*z, &y, &mut g_rhs, &mut zty).unwrap();
                        // The right-hand side changes the tiling, never an element's summation order.
                        assert_eq!(g, g_rhs, "{isa} d={d} rows={rows} view {v}: G with and without y");
                        for k in 0..d * d {
                            let err = (g[k] - 0.5 - want[k]).abs();
                            assert!(err <= bound * (scale[k] + 0.5), "{isa} d={d} rows={rows} view {v} [{k}]: {err:e}");
                        }
                        for (c, &got) in zty.iter().enumerate() {
                            let exact: f64 = (0..rows).map(|r| z.get(r, c) * y[r]).sum();
                            let scale: f64 = (0..rows).map(|r| (z.get(r, c) * y[r]).abs()).sum();
                            let err = (got - 0.25 - exact).abs();
                            assert!(
                                err <= bound * (scale + 0.25),
                                "{isa} d={d} rows={rows} view {v} Z^T y [{c}]: {err:e}"
                            );
                        }
                        // f32 against the same reference, on the values rounded to f32.
                        let z32: Vec<f32> = (0..rows * d).map(|k| z.get(k / d, k % d) as f32).collect();
                        let z64: Vec<f64> = z32.iter().map(|&v| f64::from(v)).collect();
                        let (want, scale) = reference(&MatRef::row_major(&z64, rows, d).unwrap());
                        let mut g = vec![0.0f32; d * d];
                        Gram::<f32>::new(isa)
                            .unwrap()
                            .accumulate(MatRef::row_major(&z32, rows, d).unwrap(), &mut g)
                            .unwrap();
                        let bound = gamma(rows + 1, f64::from(f32::EPSILON) / 2.0);
                        for k in 0..d * d {
                            let err = (f64::from(g[k]) - want[k]).abs();
                            assert!(err <= bound * scale[k] + 1e-30, "{isa} f32 d={d} rows={rows} [{k}]: {err:e}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn integer_inputs_give_exact_symmetric_results_on_every_path() {
        // Small integers: every product and sum is exact, so any wrong offset or missing tile shows as a
        // difference, not as rounding.
        for isa in tachyon_simd::isa::levels_under_test() {
            for d in [5, 16, 33] {
                let rows = 300;
                let z: Vec<f64> = (0..rows * d).map(|k| ((k * 7 + k / d) % 11) as f64 - 5.0).collect();
                let view = MatRef::row_major(&z, rows, d).unwrap();
                let (want, _) = reference(&view);
                let mut g = vec![0.0; d * d];
                Gram::<f64>::new(isa).unwrap().accumulate(view, &mut g).unwrap();
                assert_eq!(g, want, "{isa} d={d}");
                let y: Vec<f64> = (0..rows).map(|r| (r % 7) as f64 - 3.0).collect();
                let want_zty: Vec<f64> = (0..d).map(|c| (0..rows).map(|r| view.get(r, c) * y[r]).sum()).collect();
                let (mut g, mut zty) = (vec![0.0; d * d], vec![0.0; d]);
                Gram::<f64>::new(isa).unwrap().accumulate_with_rhs(view, &y, &mut g, &mut zty).unwrap();
                assert_eq!((g, zty), (want, want_zty), "{isa} d={d} with y");
            }
        }
    }

    #[test]
    fn a_wrong_output_size_is_an_error() {
        let z = [1.0f64; 6];
        let mut g = vec![0.0; 5];
        assert!(Gram::<f64>::active().accumulate(MatRef::row_major(&z, 3, 2).unwrap(), &mut g).is_err());
        let (mut g, mut zty) = (vec![0.0; 4], vec![0.0; 2]);
        let view = MatRef::row_major(&z, 3, 2).unwrap();
        assert!(Gram::<f64>::active().accumulate_with_rhs(view, &[1.0; 2], &mut g, &mut zty).is_err());
        assert!(Gram::<f64>::active().accumulate_with_rhs(view, &[1.0; 3], &mut g, &mut zty[..1]).is_err());
        assert!(Gram::<f64>::active().accumulate_with_rhs(view, &[1.0; 3], &mut g, &mut zty).is_ok());
    }
}
