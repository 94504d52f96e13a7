//! Aligned memory for hot paths: owned 64-byte-aligned buffers (per-call state lives in scratch objects the caller
//! owns, such as `tachyon_infer::Scratch`).

mod aligned;

pub use aligned::{AlignedVec, ALIGN};
