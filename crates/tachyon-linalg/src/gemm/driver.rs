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
//! Packing space comes from the caller ([`super::scratch`]): the B block, then one A area per worker.

use rayon::prelude::*;

use super::blocking::Blocking;
use super::dispatch::{GemmFloat, TileKernel};
use super::pack::{pack_a, pack_b_panel};
use super::scratch::{column_block, packed_areas};
use crate::matrix::{MatMut, MatRef};

/// A raw pointer shared by the threads of the ic loop, which write disjoint parts of what it points to (row
/// blocks of C, their own A areas).
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: each thread writes only its own part (disjoint), and the pointer outlives the scope.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
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

/// The row blocks of the threaded ic loop: `threads` contiguous shares of `m` rows, as equal in rows as whole
/// `mr`-row tiles allow, each cut into the same number of blocks of at most `mc` rows.
///
/// PERF: work is proportional to rows, and rayon halves an index range between two threads, so the blocks of the
/// first half must hold half the rows. One block size for all (the earlier scheme) cannot always do that: n = 1024
/// f64 (43 tiles of 24 rows, the last of 16, blocks of at most 4 tiles) ran as ten blocks of 96 rows and one of
/// 64, halved as 480 and 544 rows: two threads at 1.81x one. Shares of 504 and 520 rows (21 tiles, and 21 plus the
/// partial one), six blocks each: 1.88x (alternating rounds, same process).
#[derive(Clone, Copy, Debug)]
struct RowBlocks {
    m: usize,
    mr: usize,
    threads: usize,
    /// Blocks per share (the same for every share, so that an even split of the block indices splits the rows).
    per_share: usize,
}

impl RowBlocks {
    fn new(m: usize, mr: usize, mc: usize, threads: usize) -> Self {
        let threads = threads.max(1);
        let max_tiles = (mc / mr).max(1);
        let mut blocks = RowBlocks { m, mr, threads, per_share: 1 };
        blocks.per_share = (0..threads)
            .map(|t| (blocks.share_start(t + 1) - blocks.share_start(t)).div_ceil(max_tiles))
            .max()
            .unwrap_or(1)
            .max(1);
        blocks
    }

    /// First tile of share `t` (`t == threads`: the tile count): the tile boundary nearest to `t * m / threads` rows.
    fn share_start(&self, t: usize) -> usize {
        if t >= self.threads {
            return self.m.div_ceil(self.mr);
        }
        (2 * t * self.m + self.threads * self.mr) / (2 * self.threads * self.mr)
    }

    /// How many blocks there are (some may be empty when there are fewer tiles than blocks).
    fn count(&self) -> usize {
        self.threads * self.per_share
    }

    /// Block `b` (< `count()`): its first row and its row count (0 for an empty block).
    fn block(&self, b: usize) -> (usize, usize) {
        let (t, j) = (b / self.per_share, b % self.per_share);
        let first = self.share_start(t);
        let tiles = self.share_start(t + 1) - first;
        let tile_at = |j: usize| first + j * tiles / self.per_share;
        let start = (tile_at(j) * self.mr).min(self.m);
        let end = (tile_at(j + 1) * self.mr).min(self.m);
        (start, end - start)
    }
}

/// How many A areas the packed driver's space holds: one per worker of the current pool when the ic loop runs
/// on it, else one.
pub(crate) fn a_slots(threads: Threads) -> usize {
    match threads {
        Threads::One => 1,
        Threads::Pool => rayon::current_num_threads(),
    }
}

/// Elements of packing space [`packed_gemm`] needs (see [`packed_areas`]).
pub(crate) fn packed_space<T>(
    m: usize,
    n: usize,
    k: usize,
    tile: (usize, usize),
    blocking: Blocking,
    threads: Threads,
) -> usize {
    let (b_area, a_area) = packed_areas::<T>(m, n, k, tile, blocking);
    b_area + a_slots(threads) * a_area
}

/// `C = alpha A B + beta C` for C with unit row stride (column-major tiles), through packed panels.
///
/// `k > 0`, `alpha != 0`, shapes already checked; `space` holds at least [`packed_space`] elements and starts
/// on a cache line.
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
    space: &mut [T],
) {
    debug_assert_eq!(c.row_stride(), 1);
    let (m, n, k) = (c.rows(), c.cols(), a.cols());
    let (mr, nr) = (kernel.mr, kernel.nr);
    let Blocking { mc, kc, .. } = blocking;
    let (b_area, a_area) = packed_areas::<T>(m, n, k, (mr, nr), blocking);
    let slots = a_slots(threads);
    assert!(space.len() >= b_area + slots * a_area, "packing space checked by the caller");
    let (b_space, a_space) = space.split_at_mut(b_area);
    let a_base = Shared(a_space.as_mut_ptr());
    let row_blocks = RowBlocks::new(m, mr, mc, slots);
    let nc = column_block(n, blocking.nc, nr);
    let ldc = c.col_stride();
    let c_ptr = Shared(c.as_mut_ptr());
    for jc in (0..n).step_by(nc) {
        let ncb = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            let beta_block = if pc == 0 { beta } else { T::ONE };
            let b_block = b.submatrix(pc, jc, kcb, ncb);
            let b_packed = &mut b_space[..ncb.div_ceil(nr) * nr * kcb];
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
            let block = |ic: usize, mcb: usize| {
                let a_block = a.submatrix(ic, pc, mcb, kcb);
                // The worker's own A area: a worker runs one block at a time (a block makes no rayon call, so
                // no other block is stolen onto this thread while it runs), and workers have distinct indices
                // below the pool's size.
                let slot = match threads {
                    Threads::One => 0,
                    Threads::Pool => rayon::current_thread_index().unwrap_or(0),
                };
                assert!(slot < slots, "a pool worker's index is below the pool's size");
                // SAFETY: area `slot` (a_area elements from slot * a_area) lies inside `a_space` (length checked
                // above) and no other thread uses it while this block runs (see above).
                let a_packed = unsafe { std::slice::from_raw_parts_mut(a_base.get().add(slot * a_area), a_area) };
                pack_a(a_block, mr, a_packed);
                for jr in (0..ncb).step_by(nr) {
                    let b_panel = &b_packed[(jr / nr) * nr * kcb..];
                    for ir in (0..mcb).step_by(mr) {
                        let a_panel = &a_packed[(ir / mr) * mr * kcb..];
                        // SAFETY: the panels hold mr x kcb and kcb x nr packed elements (zero-padded);
                        // C(ic + ir + i, jc + jr + j) for i < mv, j < nv lies inside C (shapes checked by the
                        // caller), this thread alone writes rows ic..ic + mcb, and the kernel's instruction set
                        // was checked when `kernel` was obtained.
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
            };
            match threads {
                Threads::One => (0..m).step_by(mc).for_each(|ic| block(ic, mc.min(m - ic))),
                Threads::Pool => (0..row_blocks.count()).into_par_iter().for_each(|b| {
                    let (ic, mcb) = row_blocks.block(b);
                    if mcb > 0 {
                        block(ic, mcb);
                    }
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RowBlocks;

    /// The blocks in index order: (first row, rows) of the non-empty ones, and the rows of each share.
    fn layout(m: usize, mr: usize, mc: usize, threads: usize) -> (Vec<(usize, usize)>, Vec<usize>) {
        let blocks = RowBlocks::new(m, mr, mc, threads);
        assert_eq!(blocks.count() % threads, 0);
        let all: Vec<(usize, usize)> = (0..blocks.count()).map(|b| blocks.block(b)).collect();
        let shares = all.chunks(blocks.count() / threads).map(|s| s.iter().map(|b| b.1).sum()).collect();
        (all.into_iter().filter(|b| b.1 > 0).collect(), shares)
    }

    #[test]
    fn row_blocks_give_each_thread_an_equal_share() {
        // f64 n = 1024 (24-row tiles, blocks of at most 96 rows): 504 + 520 rows, not 576 + 448.
        let (blocks, shares) = layout(1024, 24, 96, 2);
        assert_eq!(shares, [504, 520]);
        assert_eq!(blocks.len(), 12);
        // f32 n = 1024 (32-row tiles, at most 192 rows): 512 rows each, in blocks of 160, 160, 192.
        let (blocks, shares) = layout(1024, 32, 192, 2);
        assert_eq!(shares, [512, 512]);
        assert_eq!(blocks[..3], [(0, 160), (160, 160), (320, 192)]);
        // Fewer tiles than threads: the empty shares hold empty blocks only.
        let (blocks, shares) = layout(7, 32, 192, 3);
        assert_eq!((blocks, shares), (vec![(0, 7)], vec![0, 0, 7]));
    }

    #[test]
    fn row_blocks_tile_the_rows_exactly() {
        for (m, mr, mc, threads) in [
            (1000, 32, 192, 2),
            (1, 24, 96, 2),
            (4096, 16, 192, 3),
            (100, 8, 64, 4),
            (31 * 32, 32, 192, 2),
            (2048, 24, 96, 2),
        ] {
            let (blocks, shares) = layout(m, mr, mc, threads);
            let mut next = 0;
            for &(start, rows) in &blocks {
                assert_eq!(start, next, "{m} {mr} {mc} {threads}: blocks out of order or overlapping");
                assert!(start.is_multiple_of(mr) && rows <= mc.max(mr), "{m} {mr} {mc} {threads}: {start} {rows}");
                next = start + rows;
            }
            assert_eq!(next, m);
            let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(hi - lo <= mr, "{m} {mr} {mc} {threads}: shares {shares:?}");
        }
    }
}
