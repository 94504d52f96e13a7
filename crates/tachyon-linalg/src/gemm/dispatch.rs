//! Dispatch: the tile kernel of each instruction set, instantiated once per element type inside a
//! `#[target_feature]` function, and chosen by [`tile_kernel`] only for a CPU that supports it.

use tachyon_simd::isa::{Isa, IsaError, IsaRequest};
use tachyon_simd::lanes::Lanes;
use tachyon_simd::Float;

use super::microkernel::tile;
use super::vector::{self, VectorKernels};
use super::Gemm;
use crate::gram::{self, GramKernel};
use std::sync::OnceLock;

/// One register tile: `(k, a, a_step, b, c, ldc, alpha, beta, mv, nv)`, the contract of `microkernel::tile`.
pub type TileFn<T> = unsafe fn(usize, *const T, usize, *const T, *mut T, usize, T, T, usize, usize);

/// The microkernel of one instruction set for `T`.
pub struct TileKernel<T: 'static> {
    /// The instruction set the function was compiled for.
    pub isa: Isa,
    /// Rows of the register tile.
    pub mr: usize,
    /// Columns of the register tile.
    pub nr: usize,
    /// The tile function.
    pub tile: TileFn<T>,
    /// Rows per register (the lane count).
    lanes: usize,
    /// Entry `r - 1`: the same kernel with `r` registers of rows (at most the full tile's), for a last row tile
    /// of at most `r * lanes` rows: it reads the first rows of the same packed panel (`a_step` = MR) and skips the
    /// FMAs of rows past the edge. Each C element gets the same operations in the same order either way.
    by_registers: [TileFn<T>; 4],
}

impl<T> TileKernel<T> {
    /// The tile function for a row tile of `rows` (<= MR) rows: the fewest registers that cover them.
    #[inline(always)]
    pub(crate) fn for_rows(&self, rows: usize) -> TileFn<T> {
        self.by_registers[rows.div_ceil(self.lanes).clamp(1, 4) - 1]
    }
}

macro_rules! tile_kernel {
    ($name:ident: $t:ty, $isa:expr, $token_ty:ty, $token:expr, $mv:literal x $nr:literal $(, $feature:literal)?) => {
        pub(crate) static $name: TileKernel<$t> = {
            const LANES: usize = <$token_ty as Lanes<$t>>::N;
            const MR: usize = $mv * LANES;
            // `by_registers` holds up to 4 registers of rows: a taller tile would need more entries.
            const _: () = assert!($mv <= 4, "tile kernels have at most 4 registers of rows");
            /// `R` registers of rows, at most the tile's.
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments)]
            unsafe fn tile_fn<const R: usize>(
                k: usize, a: *const $t, a_step: usize, b: *const $t, c: *mut $t, ldc: usize, alpha: $t, beta: $t,
                mv: usize, nv: usize,
            ) {
                // SAFETY: compiled for the token's features; reachable only through `tile_kernel`, which checked the
                // CPU. (The scalar token needs no unsafe, hence the allow.)
                #[allow(unused_unsafe)]
                let s = unsafe { $token };
                // SAFETY: the caller upholds the tile contract (microkernel.rs) for R registers of rows (R <= the
                // tile's, so the rows read lie inside the panel).
                unsafe { tile::<$t, _, R, $nr>(s, k, a, a_step, b, c, ldc, alpha, beta, mv, nv) }
            }
            const fn at_most(r: usize) -> usize {
                if r < $mv { r } else { $mv }
            }
            TileKernel {
                isa: $isa,
                mr: MR,
                nr: $nr,
                tile: tile_fn::<$mv>,
                lanes: LANES,
                by_registers: [
                    tile_fn::<{ at_most(1) }>,
                    tile_fn::<{ at_most(2) }>,
                    tile_fn::<{ at_most(3) }>,
                    tile_fn::<{ at_most(4) }>,
                ],
            }
        };
    };
}

tile_kernel!(SCALAR_F32: f32, Isa::Scalar, tachyon_simd::lanes::scalar::Scalar, tachyon_simd::lanes::scalar::Scalar, 4 x 4);
tile_kernel!(SCALAR_F64: f64, Isa::Scalar, tachyon_simd::lanes::scalar::Scalar, tachyon_simd::lanes::scalar::Scalar, 4 x 4);
#[cfg(target_arch = "x86_64")]
tile_kernel!(AVX2_F32: f32, Isa::Avx2, tachyon_simd::isa::Avx2, tachyon_simd::isa::Avx2::new_unchecked(), 2 x 6, "avx2,fma");
#[cfg(target_arch = "x86_64")]
tile_kernel!(AVX2_F64: f64, Isa::Avx2, tachyon_simd::isa::Avx2, tachyon_simd::isa::Avx2::new_unchecked(), 2 x 6, "avx2,fma");
#[cfg(target_arch = "x86_64")]
tile_kernel!(
    AVX512_F32: f32, Isa::Avx512, tachyon_simd::isa::Avx512, tachyon_simd::isa::Avx512::new_unchecked(), 2 x 12,
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);
#[cfg(target_arch = "x86_64")]
tile_kernel!(
    AVX512_F64: f64, Isa::Avx512, tachyon_simd::isa::Avx512, tachyon_simd::isa::Avx512::new_unchecked(), 3 x 8,
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);

/// Element types GEMM supports (`f32`, `f64`).
pub trait GemmFloat: Float {
    /// The tile kernels of this type, by instruction set (unchecked).
    #[doc(hidden)]
    fn tiles(isa: Isa) -> &'static TileKernel<Self>;
    /// The matrix-vector and rank-1 kernels of this type, by instruction set (unchecked).
    #[doc(hidden)]
    fn vectors(isa: Isa) -> &'static VectorKernels<Self>;
    /// The Gram (`Z^T Z`) kernels of this type, by instruction set (unchecked).
    #[doc(hidden)]
    fn grams(isa: Isa) -> &'static GramKernel<Self>;
    /// Plans made once per instruction set (indexed scalar, AVX2, AVX-512), so that [`super::gemm`] does not
    /// derive the blocking on every call.
    #[doc(hidden)]
    fn plans() -> &'static [OnceLock<Gemm<Self>>; 3];
}

/// The static of `isa` among a kernel kind's three (the scalar one where the x86-64 kernels do not exist).
macro_rules! by_isa {
    ($isa:expr, $scalar:path, $avx2:path, $avx512:path) => {
        match $isa {
            Isa::Scalar => &$scalar,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => &$avx2,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => &$avx512,
            #[cfg(not(target_arch = "x86_64"))]
            _ => &$scalar,
        }
    };
}

/// `GemmFloat` for `$t`, whose kernels of every kind are the statics named `$scalar`, `$avx2`, `$avx512`.
macro_rules! gemm_float {
    ($t:ty, $scalar:ident, $avx2:ident, $avx512:ident) => {
        impl GemmFloat for $t {
            fn tiles(isa: Isa) -> &'static TileKernel<$t> {
                by_isa!(isa, $scalar, $avx2, $avx512)
            }

            fn vectors(isa: Isa) -> &'static VectorKernels<$t> {
                by_isa!(isa, vector::$scalar, vector::$avx2, vector::$avx512)
            }

            fn grams(isa: Isa) -> &'static GramKernel<$t> {
                by_isa!(isa, gram::$scalar, gram::$avx2, gram::$avx512)
            }

            fn plans() -> &'static [OnceLock<Gemm<$t>>; 3] {
                static PLANS: [OnceLock<Gemm<$t>>; 3] = [const { OnceLock::new() }; 3];
                &PLANS
            }
        }
    };
}

gemm_float!(f32, SCALAR_F32, AVX2_F32, AVX512_F32);
gemm_float!(f64, SCALAR_F64, AVX2_F64, AVX512_F64);

/// The tile kernel of `isa` for `T`, if this CPU supports `isa`.
pub fn tile_kernel<T: GemmFloat>(isa: Isa) -> Result<&'static TileKernel<T>, IsaError> {
    IsaRequest::Exactly(isa).resolve()?;
    Ok(T::tiles(isa))
}
