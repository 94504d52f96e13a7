//! (c) The driver: the five BLIS loops around the microkernel, edges, and threading.
//!
//! ```text
//! for jc in 0..n step NC                      B block columns (L3)
//!   for pc in 0..k step KC                    depth blocks; C accumulates (beta on the first only)
//!     pack B[pc.., jc..] into NR panels       in parallel over panels, into the caller's buffer
//!     for ic in 0..m step MC   (parallel)     A blocks (L2); each thread packs its own A block
//!       pack A[ic.., pc..] into MR panels
//!       for jr in 0..nc step NR               B micro-panel (L1)
//!         for ir in 0..mc step MR             one microkernel call per MR x NR tile
//! ```
//!
//! Threads split only the ic loop (rows of C), never k, so every element of C is computed by the same
//! operations in the same order whatever the thread count: results are bitwise identical across thread counts.
//! Packing buffers are kept per thread and taken out of their slot while in use (a nested call, e.g. from a
//! rayon task stolen while we wait, gets a fresh buffer rather than a borrow panic).

use std::cell::Cell;

use rayon::prelude::*;
use tachyon_simd::mem::AlignedVec;

use super::blocking::Blocking;
use super::dispatch::{GemmFloat, TileKernel};
use super::pack::{pack_a, pack_b_panel, packed_a_len, packed_b_len};
use crate::matrix::{MatMut, MatRef};

thread_local! {
    /// This thread's buffer for packed A blocks.
    pub(crate) static PACK_A: Cell<AlignedVec<u8>> = const { Cell::new(AlignedVec::new()) };
    /// This thread's buffer for packed B blocks (and the direct path's B panel).
    pub(crate) static PACK_B: Cell<AlignedVec<u8>> = const { Cell::new(AlignedVec::new()) };
}

/// Runs `f` on this thread's buffer in `slot`, grown to at least `len` elements of `T` (grows only: after the
/// first call of a given size on a thread, no allocation).
pub(crate) fn with_buffer<T: GemmFloat, R>(
    slot: &'static std::thread::LocalKey<Cell<AlignedVec<u8>>>,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    if len == 0 {
        // An unused buffer may not be allocated yet, and its dangling pointer is not aligned for `T`.
        return f(&mut []);
    }
    let mut buf = slot.with(|cell| cell.take());
    let bytes = len * std::mem::size_of::<T>();
    if buf.len() < bytes {
        buf.resize(bytes, 0);
    }
    let result = f(bytemuck::cast_slice_mut::<u8, T>(&mut buf[..bytes]));
    slot.with(|cell| cell.set(buf));
    result
}

/// A raw pointer to C that can be shared by the threads of the ic loop, which write disjoint row blocks.
#[derive(Clone, Copy)]
struct SharedC<T>(*mut T);
// SAFETY: each thread writes only the rows of its own ic block (disjoint), and the pointer outlives the scope.
unsafe impl<T: Send> Send for SharedC<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedC<T> {}

impl<T> SharedC<T> {
    /// The pointer (a method, so that closures capture the whole `Send + Sync` wrapper, not the raw field).
    fn get(self) -> *mut T {
        self.0
    }
}

/// Whether the ic loop runs on the rayon pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threads {
    One,
    Pool,
}

/// Rows per block when `threads` threads share `m` rows in blocks of at most `mc` (whole `mr`-row tiles): a
/// multiple of the thread count of equal blocks, so that no thread idles. Blocks of equal size need the tile count
/// to divide evenly; the smallest such block count is taken, else (a tile count without a fitting divisor) the
/// fewest blocks that fit, a multiple of the thread count.
fn balanced_row_block(m: usize, mr: usize, mc: usize, threads: usize) -> usize {
    let tiles = m.div_ceil(mr);
    let max_tiles = (mc / mr).max(1);
    let first = threads * tiles.div_ceil(threads * max_tiles);
    let even =
        (first..=tiles).step_by(threads).find(|&blocks| tiles.is_multiple_of(blocks) && tiles / blocks <= max_tiles);
    let blocks = even.unwrap_or(first);
    tiles.div_ceil(blocks) * mr
}

/// `C = alpha A B + beta C` for C with unit row stride (column-major tiles), through packed panels.
///
/// `k > 0`, `alpha != 0`, shapes already checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn packed_gemm<T: GemmFloat>(
    kernel: &TileKernel<T>,
    blocking: Blocking,
    threads: Threads,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
) {
    debug_assert_eq!(c.row_stride(), 1);
    let (m, n, k) = (c.rows(), c.cols(), a.cols());
    let (mr, nr) = (kernel.mr, kernel.nr);
    let Blocking { mc, kc, nc } = blocking;
    let mc = match threads {
        Threads::One => mc,
        Threads::Pool => balanced_row_block(m, mr, mc, rayon::current_num_threads().max(1)),
    };
    // Column blocks of equal width (whole micro-panels): a last block of a few columns would repack all of A.
    let nc = n.div_ceil(n.div_ceil(nc)).div_ceil(nr) * nr;
    let ldc = c.col_stride();
    let c_ptr = SharedC(c.as_mut_ptr());
    for jc in (0..n).step_by(nc) {
        let ncb = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            let beta_block = if pc == 0 { beta } else { T::ONE };
            let b_block = b.submatrix(pc, jc, kcb, ncb);
            with_buffer::<T, _>(&PACK_B, packed_b_len(kcb, ncb, nr), |b_packed| {
                match threads {
                    Threads::One => b_packed
                        .chunks_exact_mut(nr * kcb)
                        .enumerate()
                        .for_each(|(q, panel)| pack_b_panel(b_block, nr, q, panel)),
                    Threads::Pool => b_packed
                        .par_chunks_exact_mut(nr * kcb)
                        .enumerate()
                        .for_each(|(q, panel)| pack_b_panel(b_block, nr, q, panel)),
                }
                let b_packed: &[T] = b_packed;
                let block = |ic: usize| {
                    let mcb = mc.min(m - ic);
                    let a_block = a.submatrix(ic, pc, mcb, kcb);
                    with_buffer::<T, _>(&PACK_A, packed_a_len(mcb, kcb, mr), |a_packed| {
                        pack_a(a_block, mr, a_packed);
                        for jr in (0..ncb).step_by(nr) {
                            let b_panel = &b_packed[(jr / nr) * nr * kcb..];
                            for ir in (0..mcb).step_by(mr) {
                                let a_panel = &a_packed[(ir / mr) * mr * kcb..];
                                // SAFETY: the panels hold mr x kcb and kcb x nr packed elements (zero-padded);
                                // C(ic + ir + i, jc + jr + j) for i < mv, j < nv lies inside C (shapes checked
                                // by the caller), this thread alone writes rows ic..ic + mcb, and the kernel's
                                // instruction set was checked when `kernel` was obtained.
                                unsafe {
                                    (kernel.for_rows(mr.min(mcb - ir)))(
                                        kcb,
                                        a_panel.as_ptr(),
                                        mr,
                                        b_panel.as_ptr(),
                                        c_ptr.get().add((ic + ir) + (jc + jr) * ldc),
                                        ldc,
                                        alpha,
                                        beta_block,
                                        mr.min(mcb - ir),
                                        nr.min(ncb - jr),
                                    )
                                }
                            }
                        }
                    })
                };
                match threads {
                    Threads::One => (0..m).step_by(mc).for_each(block),
                    Threads::Pool => (0..m).into_par_iter().step_by(mc).for_each(block),
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::balanced_row_block;

    #[test]
    fn row_blocks_split_evenly_between_threads() {
        // 1024 rows, 32-row tiles, blocks of at most 192 rows, two threads: 8 blocks of 128, not 6 of 192 / 64.
        assert_eq!(balanced_row_block(1024, 32, 192, 2), 128);
        assert_eq!(balanced_row_block(2048, 32, 192, 2), 128);
        assert_eq!(balanced_row_block(1536, 32, 192, 2), 192);
        // 31 tiles (prime): no even split, so the fewest blocks that fit (a multiple of the threads).
        assert_eq!(balanced_row_block(31 * 32, 32, 192, 2), 192);
        for (m, mr, mc, t) in [(1000, 32, 192, 2), (7, 32, 192, 2), (4096, 16, 192, 3), (100, 8, 64, 4)] {
            let rows = balanced_row_block(m, mr, mc, t);
            assert!(rows.is_multiple_of(mr) && rows <= mc.max(mr), "{m} {mr} {mc} {t}: {rows}");
        }
    }
}
