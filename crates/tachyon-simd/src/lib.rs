//! Tachyon's kernel layer.
//!
//! - [`backend`]: [`Backend`], an instruction set with its optional capabilities (VNNI, BF16), resolved once and
//!   handed to planners.
//! - [`isa`]: which instruction set runs ([`Isa`]: scalar, AVX2+FMA, AVX-512), detected once, overridable by
//!   `TACHYON_ISA` or [`isa::set_active`], with CPU-checked tokens as the only way into SIMD code.
//! - [`vec`]: vector kernels (dot, sums, min/max with index, axpy, element-wise arithmetic, ReLU, exp, tanh,
//!   sigmoid) for `f32` and `f64`; [`KernelTable`] holds one instruction set's entry points so that plans resolve
//!   them once.
//! - [`accuracy`]: the largest error of exp, tanh and sigmoid in ulps, over a sweep or every f32 of a range,
//!   and the documented bounds.
//! - [`self_check`]: a millisecond check of one instruction set's kernels against f64 references, for a process
//!   to run at start on a CPU it has never seen.
//! - [`mem`]: 64-byte-aligned buffers, so that hot paths allocate nothing and vector loads are aligned.
//!
//! Layout of the code: `lanes/` holds the only intrinsics (one register's operations per instruction set),
//! `kernels/` the algorithms written once over those lanes, `table.rs` the per-instruction-set instantiation.
//!
//! Floating-point environment: nothing here changes MXCSR or any global FPU mode; denormal inputs and results
//! get full IEEE treatment on every path (they may run slower on some CPUs, never differently).

pub mod accuracy;
pub mod backend;
pub mod baseline;
pub mod cache;
pub mod clock;
pub mod float;
pub mod isa;
mod kernels;
pub mod lanes;
pub mod mem;
pub mod self_check;
mod table;
pub mod vec;

pub use backend::Backend;
pub use clock::CycleClock;
pub use float::Float;
pub use isa::{Isa, IsaError, IsaRequest};
/// Register-level exp, tanh and sigmoid over [`lanes::Lanes`], for kernels elsewhere (predictors) that fuse an
/// activation into their own loops and must compute exactly what the slice kernels of [`KernelTable`] compute.
pub use kernels::math;
pub use kernels::optim::AdamStep;
pub use table::{kernels, KernelTable, FMA_PROBE_CHAINS};
