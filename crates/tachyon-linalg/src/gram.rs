//! Gram matrices, `G += Z^T Z` (the symmetric rank-k update, BLAS `syrk`), for the normal equations of ridge
//! regression and the Hessians of logistic regression.
//!
//! GEMM computes `Z^T Z` as a general product: it packs Z twice (once as A, once as B) and fills both triangles.
//! Here the kernel reads row blocks of Z in place (or from one padded copy when the width is not a whole number of
//! tiles), keeps a tile of G in registers while it streams the block's rows, and computes only the tiles that touch
//! the lower triangle: 20 of 32 tiles at d = 32 with AVX2 f64. The other triangle is mirrored at the end.
//!
//! - kernel ([`gram_block`]): one instruction set's register tile, `TILE_ROWS` rows of G x `TILE_REGS` registers
//!   of columns, written once over [`Lanes`] and instantiated per instruction set and element type;
//! - driver ([`Gram::accumulate`]): row blocks sized for L1, the padded copy, the mirror;
//! - dispatch: [`Gram::new`] checks the CPU, [`Gram::active`] takes the process-wide instruction set.
//!
//! Summation order: per element of G, rows in order within a block, blocks in order; the same on every call, so a
//! caller that splits rows into fixed chunks and adds the chunks' results in order is deterministic for any thread
//! count. Error: each element is a dot product of length `rows`, so `|G - G_exact| <= gamma_rows |Z|^T |Z|`
//! (tested on every instruction set).

use tachyon_simd::isa::{self, Isa, IsaError, IsaRequest};
use tachyon_simd::lanes::Lanes;
use tachyon_simd::Float;

use crate::{GemmFloat, MatRef, ShapeError};

/// Rows of G per register tile.
const TILE_ROWS: usize = 4;
/// Registers of G's columns per register tile.
const TILE_REGS: usize = 2;
/// Bytes of Z per row block: half of a 32 KiB L1, so that the block stays there while every tile reads it.
const BLOCK_BYTES: usize = 16 * 1024;

/// `G[i][j] += sum_r Z[r][i] Z[r][j]` for the tiles of `G` (`width x width`, row stride `ldg`) that touch the lower
/// triangle, over `rows` rows of Z (row stride `ldz`, `width` columns read).
///
/// # Safety
/// `width` is a multiple of `TILE_ROWS` and of `TILE_REGS * L::N`; `z` holds `rows` rows of `width` readable
/// elements at stride `ldz`; `g` holds `width` rows of `width` writable elements at stride `ldg`.
#[inline(always)]
unsafe fn gram_block<T: Float, L: Lanes<T>>(
    s: L,
    rows: usize,
    width: usize,
    z: *const T,
    ldz: usize,
    g: *mut T,
    ldg: usize,
) {
    let n = L::N;
    let tile_cols = TILE_REGS * n;
    // SAFETY: (whole body) every index is below `width` in both G and Z's columns and below `rows` in Z's rows.
    unsafe {
        let mut j = 0;
        while j < width {
            // The first row tile with a row >= j: its rows i..i + TILE_ROWS include j's row tile.
            let mut i = j / TILE_ROWS * TILE_ROWS;
            while i < width {
                let mut acc = [[s.zero(); TILE_REGS]; TILE_ROWS];
                for (t, acc_t) in acc.iter_mut().enumerate() {
                    for (r, a) in acc_t.iter_mut().enumerate() {
                        *a = s.load(g.add((i + t) * ldg + j + r * n));
                    }
                }
                for row in 0..rows {
                    let zr = z.add(row * ldz);
                    let mut x = [s.zero(); TILE_REGS];
                    for (r, x_r) in x.iter_mut().enumerate() {
                        *x_r = s.load(zr.add(j + r * n));
                    }
                    for (t, acc_t) in acc.iter_mut().enumerate() {
                        let b = s.splat(*zr.add(i + t));
                        for (a, &x_r) in acc_t.iter_mut().zip(&x) {
                            *a = s.mul_add(b, x_r, *a);
                        }
                    }
                }
                for (t, acc_t) in acc.iter().enumerate() {
                    for (r, &a) in acc_t.iter().enumerate() {
                        s.store(g.add((i + t) * ldg + j + r * n), a);
                    }
                }
                i += TILE_ROWS;
            }
            j += tile_cols;
        }
    }
}

/// `(rows, width, z, ldz, g, ldg)`: see [`gram_block`].
pub type GramBlockFn<T> = unsafe fn(usize, usize, *const T, usize, *mut T, usize);

/// The Gram kernel of one instruction set for `T`.
pub struct GramKernel<T: 'static> {
    /// The instruction set the kernel was compiled for.
    pub isa: Isa,
    /// Columns per register tile: widths are padded to a multiple of this (and of `TILE_ROWS`).
    pub tile_cols: usize,
    /// The kernel.
    pub block: GramBlockFn<T>,
}

macro_rules! gram_kernel {
    ($name:ident: $t:ty, $isa:expr, $token:expr, $lanes:ty $(, $feature:literal)?) => {
        pub(crate) static $name: GramKernel<$t> = {
            type T = $t;
            $(#[target_feature(enable = $feature)])?
            unsafe fn block_fn(rows: usize, width: usize, z: *const T, ldz: usize, g: *mut T, ldg: usize) {
                // SAFETY: compiled for the token's features and reachable only through `Gram::new` after the CPU
                // check; the caller upholds the kernel's contract.
                #[allow(unused_unsafe)]
                unsafe { gram_block($token, rows, width, z, ldz, g, ldg) }
            }
            GramKernel { isa: $isa, tile_cols: TILE_REGS * <$lanes as Lanes<T>>::N, block: block_fn }
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
        f.debug_struct("Gram").field("isa", &self.kernel.isa).field("tile_cols", &self.kernel.tile_cols).finish()
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
    /// `w x w` accumulator (`w` = `d` rounded up to the tile), and a row-block copy unless `z` is row-major with
    /// `d` a multiple of the tile width.
    pub fn accumulate(&self, z: MatRef<'_, T>, g: &mut [T]) -> Result<(), ShapeError> {
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
        let step = self.kernel.tile_cols.max(TILE_ROWS);
        let width = d.div_ceil(step) * step;
        let mut acc = vec![T::ZERO; width * width];
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
            // SAFETY: `width` is a multiple of the tile sides; the block has `count` rows of `width` readable
            // elements at stride `ld` (in place: `width == d` columns of a view with unit column stride; copied:
            // the zero-padded buffer), and `acc` is `width x width`. The kernel's instruction set was checked when
            // the plan was made.
            unsafe { (self.kernel.block)(count, width, ptr, ld, acc.as_mut_ptr(), width) };
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
        for isa in Isa::supported() {
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
                    for (v, z) in views.iter().enumerate() {
                        let (want, scale) = reference(z);
                        let mut g = vec![0.5f64; d * d];
                        Gram::<f64>::new(isa).unwrap().accumulate(*z, &mut g).unwrap();
                        let bound = gamma(rows + 1, f64::EPSILON / 2.0);
                        for k in 0..d * d {
                            let err = (g[k] - 0.5 - want[k]).abs();
                            assert!(err <= bound * (scale[k] + 0.5), "{isa} d={d} rows={rows} view {v} [{k}]: {err:e}");
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
        for isa in Isa::supported() {
            for d in [5, 16, 33] {
                let rows = 300;
                let z: Vec<f64> = (0..rows * d).map(|k| ((k * 7 + k / d) % 11) as f64 - 5.0).collect();
                let view = MatRef::row_major(&z, rows, d).unwrap();
                let (want, _) = reference(&view);
                let mut g = vec![0.0; d * d];
                Gram::<f64>::new(isa).unwrap().accumulate(view, &mut g).unwrap();
                assert_eq!(g, want, "{isa} d={d}");
            }
        }
    }

    #[test]
    fn a_wrong_output_size_is_an_error() {
        let z = [1.0f64; 6];
        let mut g = vec![0.0; 5];
        assert!(Gram::<f64>::active().accumulate(MatRef::row_major(&z, 3, 2).unwrap(), &mut g).is_err());
    }
}
