//! [`ScratchArena`]: memory that hot paths borrow instead of allocate.
//!
//! The owner sizes the arena once (warm-up, model load, plan build) with [`ScratchArena::reserve`]; each call
//! then opens a [`ScratchFrame`] and carves aligned, typed slices out of it with a bump pointer. Closing the frame
//! (dropping it) returns everything at once. Carving never allocates: if a frame runs out, it reports
//! [`ScratchExhausted`] with the sizes, so a wrong sizing shows up as an error in tests instead of a hidden
//! allocation in production.
//!
//! Scratch contents are not cleared between frames (callers must write before they read), which is why only
//! plain-old-data types can be borrowed.

use std::cell::Cell;
use std::marker::PhantomData;

use bytemuck::Pod;

use super::aligned::{AlignedVec, ALIGN};

/// A reusable, 64-byte-aligned scratch region.
#[derive(Default)]
pub struct ScratchArena {
    /// Stored as cache lines so that the whole region is aligned and every block start can be too.
    lines: AlignedVec<[u8; ALIGN]>,
}

/// A frame ran out of scratch: the arena was sized too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("scratch arena exhausted: asked for {requested} bytes with {available} of {capacity} left; size it with ScratchArena::reserve")]
pub struct ScratchExhausted {
    /// Bytes asked for (rounded up to whole cache lines).
    pub requested: usize,
    /// Bytes left in the frame.
    pub available: usize,
    /// Total bytes of the arena.
    pub capacity: usize,
}

impl ScratchArena {
    /// An arena with no memory yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// An arena of at least `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut arena = Self::new();
        arena.reserve(bytes);
        arena
    }

    /// Grows the arena to at least `bytes` bytes (allocates; call it outside hot paths).
    pub fn reserve(&mut self, bytes: usize) {
        let lines = bytes.div_ceil(ALIGN);
        if lines > self.lines.len() {
            self.lines.resize(lines, [0; ALIGN]);
        }
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.lines.len() * ALIGN
    }

    /// Bytes a sequence of blocks of `sizes` bytes takes in a frame (each block is rounded up to a cache line).
    pub fn bytes_for(sizes: &[usize]) -> usize {
        sizes.iter().map(|s| s.div_ceil(ALIGN) * ALIGN).sum()
    }

    /// Opens a frame; slices carved from it live until it is dropped.
    pub fn frame(&mut self) -> ScratchFrame<'_> {
        let lines = self.lines.len();
        ScratchFrame { base: self.lines.as_mut_ptr().cast(), lines, next: Cell::new(0), _arena: PhantomData }
    }
}

/// A bump allocator over a [`ScratchArena`], handing out disjoint slices.
pub struct ScratchFrame<'a> {
    base: *mut u8,
    lines: usize,
    next: Cell<usize>,
    _arena: PhantomData<&'a mut ScratchArena>,
}

impl<'a> ScratchFrame<'a> {
    /// A slice of `len` elements starting on a 64-byte boundary, with unspecified (stale) contents.
    pub fn take<T: Pod>(&self, len: usize) -> Result<&'a mut [T], ScratchExhausted> {
        if len == 0 {
            return Ok(&mut []);
        }
        let bytes = len * std::mem::size_of::<T>();
        let lines = bytes.div_ceil(ALIGN);
        let start = self.next.get();
        if lines > self.lines - start {
            return Err(ScratchExhausted {
                requested: lines * ALIGN,
                available: (self.lines - start) * ALIGN,
                capacity: self.lines * ALIGN,
            });
        }
        self.next.set(start + lines);
        // SAFETY: lines start..start+lines lie inside the arena (checked above) and are handed out once per frame
        // (the bump pointer only advances), so the slice aliases nothing else borrowed from this frame; the frame
        // borrows the arena mutably for 'a. The bytes are initialised (the arena zero-fills on growth) and T is
        // Pod, so any bytes are a valid T; the start is 64-byte aligned, which covers T's alignment.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.base.add(start * ALIGN).cast::<T>(), len) })
    }

    /// Bytes still free in this frame.
    pub fn remaining(&self) -> usize {
        (self.lines - self.next.get()) * ALIGN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_aligned_disjoint_and_bounded() {
        let mut arena = ScratchArena::with_capacity(ScratchArena::bytes_for(&[40, 8 * 100]));
        let frame = arena.frame();
        let a: &mut [f32] = frame.take(10).unwrap();
        let b: &mut [f64] = frame.take(100).unwrap();
        assert_eq!(a.as_ptr() as usize % ALIGN, 0);
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        a.fill(1.0);
        b.fill(2.0);
        assert!(a.iter().all(|&x| x == 1.0));
        let err = frame.take::<u8>(1).unwrap_err();
        assert_eq!(err.available, 0);
        assert!(err.to_string().contains("reserve"));
    }

    #[test]
    fn frames_reuse_the_same_memory() {
        let mut arena = ScratchArena::with_capacity(256);
        let first = arena.frame().take::<u32>(16).unwrap().as_ptr() as usize;
        let second = arena.frame().take::<u32>(16).unwrap().as_ptr() as usize;
        assert_eq!(first, second);
        assert_eq!(arena.capacity(), 256);
        assert_eq!(ScratchArena::new().frame().take::<f32>(0).unwrap().len(), 0);
    }
}
