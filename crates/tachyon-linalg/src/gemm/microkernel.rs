//! (a) The microkernel: one MR x NR register tile of C, nothing else (no loops over m or n).
//!
//! Contract, for `p` in `0..k`:
//!
//! ```text
//!   C[0..mv, 0..nv] = alpha * sum_p A[0..MR, p] * B[p, 0..NR] + beta * C     (beta == 0: C is not read)
//!
//!   A(i, p) at a + i + p * a_step        packed: a_step = MR; in place: a_step = A's column stride
//!   B(p, j) at b + p * NR + j            always a packed panel (one NR-row per p, zero-padded columns)
//!   C(i, j) at c + i + j * ldc           column-major tile: rows are contiguous, so vectors run along i
//!
//!              NR columns of B, broadcast one at a time
//!            +---+---+---+---+---+---+
//!   A column | acc(0,0) ...  acc(0,NR-1) |   MV registers of N lanes = MR rows
//!   (MV regs)| acc(1,0) ...  acc(1,NR-1) |
//!            +---------------------------+
//! ```
//!
//! Both operands are read whole (MR rows of A, NR columns of B: padded panels, or A in place where MR rows
//! exist), so the k loop has no branch; only the first `mv <= MR` rows and `nv <= NR` columns of C are touched
//! (masked stores along i). Edge tiles therefore run the same arithmetic as interior ones and a result never
//! depends on where a tile boundary fell.
//! `mul_add(acc, alpha, beta * c)` is the final update: with the blocking fixed, every C element is computed by
//! the same operations in the same order whichever thread computes it.
//!
//! Tile shapes per instruction set (registers: accumulators + A registers + a broadcast B):
//!
//! | isa | f32 tile | f64 tile | accumulators |
//! |---|---|---|---|
//! | AVX-512 (32 zmm) | 32 x 12 | 24 x 8 | 24 |
//! | AVX2 (16 ymm) | 16 x 6 | 8 x 6 | 12 |
//! | scalar (16 xmm, 1 lane) | 4 x 4 | 4 x 4 | 16 |
//!
//! PERF: 2 A registers per k step against 12 (AVX-512) or 6 (AVX2) broadcasts keeps loads (2 + NR) below the FMA
//! count (2 NR), so the kernel is FMA-bound on cores with two load ports. The AVX-512 f64 tile is 3 registers x 8
//! columns instead: its B micro-panel (8 x 512 x 8 bytes = 32 KiB) then fits a 48 KiB L1 with room for A's
//! stream, where a 16 x 12 tile's (48 KiB) does not (2.5-4% faster at n = 1024 and 2048).

use tachyon_simd::lanes::Lanes;
use tachyon_simd::Float;

/// Computes one tile; see the module docs for the contract.
///
/// # Safety
/// A must be readable at `(i, p)` for `i < MR`, `p < k`; B at `(p, j)` for `j < NR`, `p < k`; C readable and
/// writable at `(i, j)` for `i < mv`, `j < nv`; `mv <= MR`, `nv <= NR`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile<T: Float, S: Lanes<T>, const MV: usize, const NR: usize>(
    s: S,
    k: usize,
    a: *const T,
    a_step: usize,
    b: *const T,
    c: *mut T,
    ldc: usize,
    alpha: T,
    beta: T,
    mv: usize,
    nv: usize,
) {
    let n = S::N;
    let mut acc = [[s.zero(); MV]; NR];
    // PERF: C's tile is touched only after the k loop; fetch its lines now so the misses overlap the FMAs
    // (each column of a column-major tile is a separate line, often a separate page).
    for j in 0..nv {
        let col = c.wrapping_add(j * ldc);
        prefetch(col);
        prefetch(col.wrapping_add(MV * n - 1));
    }
    let mut a_p = a;
    let mut b_p = b;
    // PERF: four k steps per iteration: loop overhead once per 4 MV NR FMAs.
    for _ in 0..k / 4 {
        for u in 0..4 {
            // SAFETY: step p + u < k of A and B is readable (contract).
            unsafe { kstep::<T, S, MV, NR>(s, &mut acc, a_p.wrapping_add(u * a_step), b_p.wrapping_add(u * NR)) };
        }
        a_p = a_p.wrapping_add(4 * a_step);
        b_p = b_p.wrapping_add(4 * NR);
    }
    for _ in 0..k % 4 {
        // SAFETY: as above.
        unsafe { kstep::<T, S, MV, NR>(s, &mut acc, a_p, b_p) };
        // Wrapping: after the last step the pointers may point past the operands; they are not dereferenced then.
        a_p = a_p.wrapping_add(a_step);
        b_p = b_p.wrapping_add(NR);
    }

    let alpha_v = s.splat(alpha);
    let beta_v = s.splat(beta);
    let beta_zero = beta == T::ZERO;
    for (j, acc_j) in acc.iter().enumerate().take(nv) {
        for (r, &acc_r) in acc_j.iter().enumerate() {
            let lanes = mv.saturating_sub(r * n).min(n);
            if lanes == 0 {
                break;
            }
            // SAFETY: C(i, j) for i < mv, j < nv is readable and writable (contract); partial registers are masked.
            unsafe {
                let p = c.add(r * n + j * ldc);
                if lanes == n {
                    let out = if beta_zero {
                        s.mul(acc_r, alpha_v)
                    } else {
                        s.mul_add(acc_r, alpha_v, s.mul(s.load(p), beta_v))
                    };
                    s.store(p, out);
                } else {
                    let m = s.tail(lanes);
                    let out = if beta_zero {
                        s.mul(acc_r, alpha_v)
                    } else {
                        s.mul_add(acc_r, alpha_v, s.mul(s.load_tail(p, m), beta_v))
                    };
                    s.store_tail(p, m, out);
                }
            }
        }
    }
}

/// One k step: MV full loads of A, NR broadcasts of B, MV x NR FMAs.
///
/// # Safety
/// `a_p` must be readable for MR = MV * N elements and `b_p` for NR (the tile contract for one step).
#[inline(always)]
unsafe fn kstep<T: Float, S: Lanes<T>, const MV: usize, const NR: usize>(
    s: S,
    acc: &mut [[S::V; MV]; NR],
    a_p: *const T,
    b_p: *const T,
) {
    let n = S::N;
    let mut av = [s.zero(); MV];
    for (r, v) in av.iter_mut().enumerate() {
        // SAFETY: MR = MV * N rows of A are readable per k step (tile contract).
        *v = unsafe { s.load(a_p.add(r * n)) };
    }
    for (j, acc_j) in acc.iter_mut().enumerate() {
        // SAFETY: a B panel holds NR elements per k step (tile contract).
        let bj = s.splat(unsafe { *b_p.add(j) });
        for r in 0..MV {
            acc_j[r] = s.mul_add(av[r], bj, acc_j[r]);
        }
    }
}

/// Hints the cache to fetch the line holding `p` (never faults, whatever the address).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a hint; it does not fault on any address and SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
