//! Packing space: the caller's slice ([`super::Gemm::run_with_scratch`]) or, as the convenience default of
//! [`super::Gemm::run`], a buffer kept per thread. Both are cut the same way: every area starts on a cache line,
//! the packed B block first, then one packed A block per worker of the rayon pool (a worker packs the A block of
//! the row block it is computing into its own area).

use std::cell::Cell;

use tachyon_simd::mem::{AlignedVec, ALIGN};

use super::blocking::Blocking;
use super::dispatch::GemmFloat;
use super::pack::{packed_a_len, packed_b_len};
use crate::matrix::ShapeError;

thread_local! {
    /// This thread's packing space for [`super::Gemm::run`].
    static PER_THREAD: Cell<AlignedVec<u8>> = const { Cell::new(AlignedVec::new()) };
}

/// Elements of `T` in one cache line.
fn line<T>() -> usize {
    ALIGN / std::mem::size_of::<T>()
}

/// `len` elements rounded up to whole cache lines.
pub(crate) fn lines<T>(len: usize) -> usize {
    len.div_ceil(line::<T>()) * line::<T>()
}

/// Width of the driver's column blocks for `n` columns: equal blocks of whole micro-panels, at most `nc` wide,
/// since a last block of a few columns would repack all of A.
pub(crate) fn column_block(n: usize, nc: usize, nr: usize) -> usize {
    n.div_ceil(n.div_ceil(nc)).div_ceil(nr) * nr
}

/// The packed driver's areas for an `m x n x k` product, in elements of `T`, each rounded to whole cache lines:
/// (the B block, one A block).
pub(crate) fn packed_areas<T>(
    m: usize,
    n: usize,
    k: usize,
    (mr, nr): (usize, usize),
    blocking: Blocking,
) -> (usize, usize) {
    let kc = blocking.kc.min(k);
    let nc = column_block(n, blocking.nc, nr);
    (lines::<T>(packed_b_len(kc, nc, nr)), lines::<T>(packed_a_len(blocking.mc.min(m), kc, mr)))
}

/// Where one product's packing space comes from.
pub(crate) enum Space<'a, T> {
    /// This thread's buffer, grown as needed.
    PerThread,
    /// The caller's slice, of a length from [`super::Gemm::scratch_len`].
    Caller(&'a mut [T]),
}

impl<T: GemmFloat> Space<'_, T> {
    /// Runs `f` on `len` elements starting on a cache line, or says that the caller's slice is too short.
    pub(crate) fn with<R>(self, len: usize, f: impl FnOnce(&mut [T]) -> R) -> Result<R, ShapeError> {
        if len == 0 {
            return Ok(f(&mut []));
        }
        match self {
            Space::Caller(slice) => {
                let skip = slice.as_ptr().align_offset(ALIGN).min(slice.len());
                let have = slice.len() - skip;
                if have < len {
                    return Err(ShapeError::Mismatch {
                        op: "gemm scratch",
                        detail: format!(
                            "this product needs {} elements of scratch (Gemm::scratch_len), the slice has {}",
                            len + line::<T>() - 1,
                            slice.len()
                        ),
                    });
                }
                Ok(f(&mut slice[skip..skip + len]))
            }
            Space::PerThread => {
                // Taken out of its slot while in use: a nested call on this thread (a rayon task stolen while
                // this one waits) gets a buffer of its own instead of a borrow panic.
                let mut buf = PER_THREAD.with(|cell| cell.take());
                let bytes = len * std::mem::size_of::<T>();
                if buf.len() < bytes {
                    buf.resize(bytes, 0);
                }
                let result = f(bytemuck::cast_slice_mut::<u8, T>(&mut buf[..bytes]));
                PER_THREAD.with(|cell| cell.set(buf));
                Ok(result)
            }
        }
    }
}

/// Elements of slack a caller's slice needs so that its first cache line boundary can start the areas.
pub(crate) fn alignment_slack<T>() -> usize {
    line::<T>() - 1
}
