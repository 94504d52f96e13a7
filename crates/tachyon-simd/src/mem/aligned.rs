//! [`AlignedVec`]: an owned, growable buffer whose data starts on a 64-byte (cache-line, `zmm`) boundary.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use bytemuck::Pod;

/// Alignment of every [`AlignedVec`] and scratch block, in bytes: one cache line, one `zmm` register.
pub const ALIGN: usize = 64;

/// A vector of plain-old-data elements whose first element sits on a [`ALIGN`]-byte boundary.
///
/// New elements are zero-initialised. Growth reallocates (amortised doubling); hot paths size their buffers
/// once during warm-up and then only reuse them.
pub struct AlignedVec<T: Pod> {
    ptr: NonNull<T>,
    len: usize,
    cap: usize,
}

// SAFETY: AlignedVec owns its elements exclusively, like Vec<T>; T: Pod is Send + Sync.
unsafe impl<T: Pod> Send for AlignedVec<T> {}
// SAFETY: shared access only hands out &[T]; T: Pod is Sync.
unsafe impl<T: Pod> Sync for AlignedVec<T> {}

impl<T: Pod> AlignedVec<T> {
    /// An empty vector (no allocation).
    pub const fn new() -> Self {
        AlignedVec { ptr: NonNull::dangling(), len: 0, cap: 0 }
    }

    /// `len` zeroed elements.
    pub fn zeroed(len: usize) -> Self {
        let mut v = Self::new();
        v.resize(len, T::zeroed());
        v
    }

    /// A copy of `data`.
    pub fn from_slice(data: &[T]) -> Self {
        let mut v = Self::new();
        v.extend_from_slice(data);
        v
    }

    /// An empty vector with room for `cap` elements.
    pub fn with_capacity(cap: usize) -> Self {
        let mut v = Self::new();
        v.reserve(cap);
        v
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements that fit without reallocating.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    fn layout(cap: usize) -> Layout {
        let bytes = cap.checked_mul(std::mem::size_of::<T>()).expect("AlignedVec: capacity overflows usize");
        Layout::from_size_align(bytes.max(1), ALIGN.max(std::mem::align_of::<T>()))
            .expect("AlignedVec: layout too large")
    }

    /// Makes room for at least `additional` more elements.
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len.checked_add(additional).expect("AlignedVec: length overflows usize");
        if needed <= self.cap {
            return;
        }
        let new_cap = needed.max(self.cap.saturating_mul(2)).max(ALIGN / std::mem::size_of::<T>().max(1));
        let new_layout = Self::layout(new_cap);
        let new_ptr = if self.cap == 0 || std::mem::size_of::<T>() == 0 {
            // SAFETY: the layout has non-zero size (at least 1 byte, see `layout`).
            unsafe { alloc::alloc_zeroed(new_layout) }
        } else {
            // SAFETY: ptr was allocated with `layout(self.cap)`; the new size is non-zero and fits isize (checked
            // by Layout). New bytes past the old size are zeroed below.
            let p = unsafe { alloc::realloc(self.ptr.as_ptr().cast(), Self::layout(self.cap), new_layout.size()) };
            if !p.is_null() {
                let old_bytes = self.cap * std::mem::size_of::<T>();
                // SAFETY: p holds new_layout.size() bytes; the zeroed range lies past the preserved old bytes.
                unsafe { p.add(old_bytes).write_bytes(0, new_layout.size() - old_bytes) };
            }
            p
        };
        let Some(ptr) = NonNull::new(new_ptr.cast::<T>()) else { alloc::handle_alloc_error(new_layout) };
        debug_assert_eq!(ptr.as_ptr() as usize % ALIGN, 0);
        self.ptr = ptr;
        self.cap = new_cap;
    }

    /// Sets the length to `new_len`, filling new elements with `value`.
    pub fn resize(&mut self, new_len: usize, value: T) {
        if new_len > self.len {
            self.reserve(new_len - self.len);
            // SAFETY: capacity >= new_len after reserve; elements len..new_len are allocated (and zeroed).
            let tail = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(self.len), new_len - self.len) };
            tail.fill(value);
        }
        self.len = new_len;
    }

    /// Appends the elements of `data`.
    pub fn extend_from_slice(&mut self, data: &[T]) {
        self.reserve(data.len());
        // SAFETY: capacity >= len + data.len(); the regions cannot overlap because `data` is borrowed immutably
        // while `self` is borrowed mutably.
        unsafe { self.ptr.as_ptr().add(self.len).copy_from_nonoverlapping(data.as_ptr(), data.len()) };
        self.len += data.len();
    }

    /// Appends one element.
    pub fn push(&mut self, value: T) {
        self.extend_from_slice(std::slice::from_ref(&value));
    }

    /// Sets the length to 0, keeping the allocation.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<T: Pod> Default for AlignedVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Pod> Drop for AlignedVec<T> {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: ptr was allocated with `layout(self.cap)` and is freed once.
            unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), Self::layout(self.cap)) };
        }
    }
}

impl<T: Pod> Deref for AlignedVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr is valid (or dangling-but-aligned with len 0) for len initialised elements.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Pod> DerefMut for AlignedVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Pod> Clone for AlignedVec<T> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for AlignedVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Pod + PartialEq> PartialEq for AlignedVec<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_aligned_and_zeroed_through_growth() {
        let mut v = AlignedVec::<f32>::zeroed(3);
        assert_eq!(v.as_ptr() as usize % ALIGN, 0);
        assert_eq!(&*v, &[0.0; 3]);
        for i in 0..1000 {
            v.push(i as f32);
            assert_eq!(v.as_ptr() as usize % ALIGN, 0);
        }
        assert_eq!(v.len(), 1003);
        assert_eq!(v[1002], 999.0);
        v.clear();
        v.resize(2000, 0.0);
        assert!(v[1003..].iter().all(|&x| x == 0.0));
        let w = v.clone();
        assert_eq!(v, w);
        assert_eq!(w.as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn empty_vector_does_not_allocate_and_derefs_to_empty() {
        let v = AlignedVec::<f64>::new();
        assert!(v.is_empty());
        assert_eq!(v.capacity(), 0);
        assert_eq!(&*v, &[] as &[f64]);
        let u = AlignedVec::<u8>::with_capacity(5);
        assert!(u.capacity() >= 5);
    }
}
