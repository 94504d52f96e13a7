//! Cache blocking: MC, KC, NC derived from the cache sizes read at run time (the BLIS analytical model,
//! simplified).
//!
//! - KC: one B micro-panel (KC x NR) lives in L1 while every A micro-panel (MR x KC) of the block streams past it
//!   from L2: KC = L1d / (NR * bytes), rounded down to a multiple of 8, in [64, 512]. A large KC also means
//!   fewer passes over C (k / KC read-modify-writes of every C tile, each column of a tile on its own page), which
//!   is why the panel takes the whole of L1 rather than half (3-7% faster at n = 1024 and 2048).
//! - MC: the packed A block (MC x KC) takes 3/8 of L2: MC = L2 * 3/8 / (KC * bytes), a multiple of MR. L2 also
//!   carries the B micro-panels streaming in from L3 and the C tiles being updated, and the A block is reused for
//!   every B micro-panel of the block; a larger share is level in quiet minutes and slower when other tenants use
//!   the cache.
//! - NC: the packed B block (KC x NC) takes at most an eighth of L3: NC = L3 / 8 / (KC * bytes), a multiple of NR,
//!   at least one block of 16 micro-panels. L3 is shared by the cores of a CCX (and, on a VM, by other tenants): a
//!   quarter is 6-16% slower than a sixteenth at n = 2048, an eighth level with it, and an eighth lets n = 1024 f32
//!   run as one column block on a 32 MiB L3, so A is packed once per KC step. The driver balances the column
//!   blocks (n = 2048 with NC 2040 runs as 1032 + 1016 columns, not 2040 + 8).
//!
//! For example, L1d 48 KiB, L2 1 MiB and L3 32 MiB give KC 512, MC 192, NC 2040 for the f32 tile (32 x 12) and
//! KC 512, MC 96, NC 1024 for f64 (24 x 8); `tachyon bench gemm` measures the result.

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
        let kc = (c.l1d / (nr * bytes) / 8 * 8).clamp(64, 512);
        let mc = (c.l2 * 3 / 8 / (kc * bytes) / mr * mr).max(mr);
        let l3 = if c.l3 > 0 { c.l3 } else { 4 * c.l2 };
        let nc = (l3 / 8 / (kc * bytes) / nr * nr).max(16 * nr);
        Blocking { mc, kc, nc }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_tile_multiples_and_fit_their_caches() {
        let c = CacheSizes { l1d: 48 << 10, l2: 1 << 20, l3: 32 << 20 };
        let b = Blocking::derive(c, 32, 12, 4);
        assert_eq!(b.mc % 32, 0);
        assert_eq!(b.nc % 12, 0);
        assert!(12 * b.kc * 4 <= c.l1d);
        assert!(b.mc * b.kc * 4 <= c.l2 * 3 / 8);
        assert!(b.kc * b.nc * 4 <= c.l3 / 8);
        assert_eq!((b.kc, b.mc, b.nc), (512, 192, 2040));
        let b64 = Blocking::derive(c, 24, 8, 8);
        assert!(8 * b64.kc * 8 <= c.l1d && b64.mc * b64.kc * 8 <= c.l2 * 3 / 8);
        assert_eq!((b64.kc, b64.mc, b64.nc), (512, 96, 1024));
        let zen3 = Blocking::derive(CacheSizes { l1d: 32 << 10, l2: 512 << 10, l3: 32 << 20 }, 16, 6, 4);
        assert_eq!((zen3.kc, zen3.mc, zen3.nc), (512, 96, 2046));
        let tiny = Blocking::derive(CacheSizes { l1d: 1024, l2: 2048, l3: 0 }, 32, 12, 8);
        assert!(tiny.kc >= 64 && tiny.mc >= 32 && tiny.nc >= 16 * 12);
    }
}
