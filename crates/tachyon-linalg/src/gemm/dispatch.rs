//! Dispatch: the tile kernel of each instruction set, instantiated once per element type inside a
//! `#[target_feature]` function, and chosen by [`tile_kernel`] only for a CPU that supports it.

use tachyon_simd::isa::{Isa, IsaError, IsaRequest};
use tachyon_simd::lanes::Lanes;
use tachyon_simd::Float;

use super::microkernel::{tile, Edge};

/// A packed-panel tile: `(k, a, b, c, ldc, alpha, beta, mv, nv)`, see `microkernel.rs`.
pub type PackedTile<T> = unsafe fn(usize, *const T, *const T, *mut T, usize, T, T, usize, usize);
/// A direct tile reading A (unit row stride, `lda`) and B (`b_rs`, `b_cs`) in place:
/// `(k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta, mv, nv)`.
pub type DirectTile<T> = unsafe fn(usize, *const T, usize, *const T, usize, usize, *mut T, usize, T, T, usize, usize);

/// The microkernel of one instruction set for `T`.
pub struct TileKernel<T: 'static> {
    /// The instruction set the functions were compiled for.
    pub isa: Isa,
    /// Rows of the register tile.
    pub mr: usize,
    /// Columns of the register tile.
    pub nr: usize,
    /// Tile over packed A and B panels.
    pub packed: PackedTile<T>,
    /// Tile over A and B read in place.
    pub direct: DirectTile<T>,
}

macro_rules! tile_kernel {
    ($name:ident: $t:ty, $isa:expr, $token_ty:ty, $token:expr, $mv:literal x $nr:literal $(, $feature:literal)?) => {
        pub(crate) static $name: TileKernel<$t> = {
            const MR: usize = $mv * <$token_ty as Lanes<$t>>::N;
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments)]
            unsafe fn packed(k: usize, a: *const $t, b: *const $t, c: *mut $t, ldc: usize, alpha: $t, beta: $t, mv: usize, nv: usize) {
                // SAFETY: compiled for the token's features; reachable only through `tile_kernel`, which checked the
                // CPU. (The scalar token needs no unsafe, hence the allow.)
                #[allow(unused_unsafe)]
                let s = unsafe { $token };
                // SAFETY: the caller upholds the tile contract for packed panels (microkernel.rs).
                unsafe { tile::<$t, _, $mv, $nr>(s, k, a, MR, Edge::Padded, b, $nr, 1, Edge::Padded, c, ldc, alpha, beta, mv, nv) }
            }
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments)]
            unsafe fn direct(
                k: usize, a: *const $t, lda: usize, b: *const $t, b_rs: usize, b_cs: usize,
                c: *mut $t, ldc: usize, alpha: $t, beta: $t, mv: usize, nv: usize,
            ) {
                // SAFETY: as in `packed`.
                #[allow(unused_unsafe)]
                let s = unsafe { $token };
                // SAFETY: the caller upholds the tile contract for operands read in place (microkernel.rs).
                unsafe { tile::<$t, _, $mv, $nr>(s, k, a, lda, Edge::Masked, b, b_rs, b_cs, Edge::Masked, c, ldc, alpha, beta, mv, nv) }
            }
            TileKernel { isa: $isa, mr: MR, nr: $nr, packed, direct }
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
    AVX512_F64: f64, Isa::Avx512, tachyon_simd::isa::Avx512, tachyon_simd::isa::Avx512::new_unchecked(), 2 x 12,
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);

/// Element types GEMM supports (`f32`, `f64`).
pub trait GemmFloat: Float {
    /// The tile kernels of this type, by instruction set (unchecked).
    #[doc(hidden)]
    fn tiles(isa: Isa) -> &'static TileKernel<Self>;
}

impl GemmFloat for f32 {
    fn tiles(isa: Isa) -> &'static TileKernel<f32> {
        match isa {
            Isa::Scalar => &SCALAR_F32,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => &AVX2_F32,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => &AVX512_F32,
            #[cfg(not(target_arch = "x86_64"))]
            _ => &SCALAR_F32,
        }
    }
}

impl GemmFloat for f64 {
    fn tiles(isa: Isa) -> &'static TileKernel<f64> {
        match isa {
            Isa::Scalar => &SCALAR_F64,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => &AVX2_F64,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => &AVX512_F64,
            #[cfg(not(target_arch = "x86_64"))]
            _ => &SCALAR_F64,
        }
    }
}

/// The tile kernel of `isa` for `T`, if this CPU supports `isa`.
pub fn tile_kernel<T: GemmFloat>(isa: Isa) -> Result<&'static TileKernel<T>, IsaError> {
    IsaRequest::Exactly(isa).resolve()?;
    Ok(T::tiles(isa))
}
