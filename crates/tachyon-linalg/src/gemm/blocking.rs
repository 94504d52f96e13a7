//! Cache blocking: MC, KC, NC derived from the cache sizes (the BLIS analytical model, simplified).
//!
//! - KC: one B micro-panel (KC x NR) stays in L1 while every A micro-panel (MR x KC) of the block streams past it
//!   from L2; it takes half of L1: KC = L1d / 2 / (NR * bytes), rounded down to a multiple of 8, in [64, 512].
//!   A large KC also means fewer passes over C (k / KC read-modify-writes of every C tile).
//! - MC: the packed A block (MC x KC) takes at most a quarter of L2: MC = L2 / 4 / (KC * bytes), a multiple of MR.
//!   L2 also carries the B micro-panels streaming in from L3 and the C tiles being updated, and the A block is
//!   reused for every B micro-panel of the block (and on an SMT core the other hyperthread shares L2). Measured
//!   in alternating rounds in one process on the development VM: level (within 2%) in its quiet minutes, and a
//!   quarter 2-13% faster than half in its busy ones (1024 f32 MC 64 or 48 against 128, f64 48 against 96).
//! - NC: the packed B block (KC x NC) takes at most a sixteenth of L3: NC = L3 / 16 / (KC * bytes), a multiple of
//!   NR, at least one block of 16 micro-panels. L3 is shared by the cores of a CCX (and, on a VM, by other
//!   tenants): at n = 2048 a quarter of L3 measured 6-16% slower than a sixteenth, in alternating rounds in one
//!   process. The driver balances the column blocks (n = 1024 with NC 1020 runs as 516 + 508 columns, not 1020 + 4).
//!
//! With the development machine's caches (L1d 32 KiB, L2 512 KiB, L3 32 MiB) this gives KC 512, MC 64, NC 1020
//! for the AVX2 f32 tile (16 x 6) and KC 336, MC 48, NC 780 for f64 (8 x 6); `tachyon bench gemm` measures the
//! result.

use tachyon_simd::cache::CacheSizes;

/// Block sizes of the packed GEMM, in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Rows of the packed A block.
    pub mc: usize,
    /// Depth (k) of one packed block.
    pub kc: usize,
    /// Columns of the packed B block.
    pub nc: usize,
}

impl Blocking {
    /// Block sizes for an `mr x nr` tile of `bytes`-byte elements on caches `c`.
    pub fn derive(c: CacheSizes, mr: usize, nr: usize, bytes: usize) -> Blocking {
        let kc = (c.l1d / 2 / (nr * bytes) / 8 * 8).clamp(64, 512);
        let mc = (c.l2 / 4 / (kc * bytes) / mr * mr).max(mr);
        let l3 = if c.l3 > 0 { c.l3 } else { 4 * c.l2 };
        let nc = (l3 / 16 / (kc * bytes) / nr * nr).max(16 * nr);
        Blocking { mc, kc, nc }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_tile_multiples_and_fit_their_caches() {
        let c = CacheSizes { l1d: 32 << 10, l2: 512 << 10, l3: 32 << 20 };
        let b = Blocking::derive(c, 16, 6, 4);
        assert_eq!(b.mc % 16, 0);
        assert_eq!(b.nc % 6, 0);
        assert!(6 * b.kc * 4 <= c.l1d / 2);
        assert!(b.mc * b.kc * 4 <= c.l2 / 4);
        assert_eq!((b.kc, b.mc, b.nc), (512, 64, 1020));
        let b64 = Blocking::derive(c, 8, 6, 8);
        assert_eq!((b64.kc, b64.mc, b64.nc), (336, 48, 780));
        let tiny = Blocking::derive(CacheSizes { l1d: 1024, l2: 2048, l3: 0 }, 32, 12, 8);
        assert!(tiny.kc >= 64 && tiny.mc >= 32 && tiny.nc >= 16 * 12);
    }
}
