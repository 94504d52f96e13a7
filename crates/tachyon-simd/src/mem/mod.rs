//! Aligned memory for hot paths: owned 64-byte-aligned buffers and a scratch arena to borrow from.

mod aligned;
mod arena;

pub use aligned::{AlignedVec, ALIGN};
pub use arena::{ScratchArena, ScratchExhausted, ScratchFrame};
