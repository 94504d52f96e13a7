//! Tachyon's linear algebra: strided matrix views, GEMM and Gram matrices.
//!
//! - [`matrix`]: [`MatRef`], [`MatMut`] (any strides, checked, transposes without copies), owned [`Matrix`].
//! - [`accuracy`]: a GEMM's error ratio against a compensated reference, as the reference BLAS tests measure it.
//! - [`gemm`]: `C = alpha op(A) op(B) + beta C`, f32/f64, packed and cache-blocked (BLIS design), multithreaded
//!   with bitwise-reproducible results, with unpacked paths for small and skinny shapes.
//! - [`gram`]: `G += Z^T Z` (symmetric rank-k update) computing only the lower triangle's tiles, for normal
//!   equations.
//! - [`strassen`]: Strassen-Winograd on top of the blocked GEMM, for large products.

pub mod accuracy;
pub mod gemm;
pub mod gram;
pub mod matrix;
pub mod strassen;

pub use gemm::{gemm, Gemm, GemmFloat, Parallelism};
pub use gram::Gram;
pub use matrix::{MatMut, MatRef, Matrix, ShapeError};
pub use strassen::Strassen;
