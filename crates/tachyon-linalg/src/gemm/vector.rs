//! Products with one output column (matrix-vector) or one inner dimension (rank 1), the shapes of single-sample
//! training and inference, as register-blocked kernels over [`Lanes`], instantiated per instruction set and
//! element type like the tile kernels. They replace one vector-table call per row (a function pointer and a
//! reduction each) and the microkernel at k = 1 (a full tile load and store per 6 x 16 outputs).
//!
//! Every kernel writes `beta * c` as `0` when `beta == 0`, ignoring NaN in C, as the rest of GEMM does.

use tachyon_simd::isa::Isa;
#[cfg(target_arch = "x86_64")]
use tachyon_simd::isa::{Avx2, Avx512};
use tachyon_simd::lanes::scalar::Scalar;
use tachyon_simd::lanes::Lanes;
use tachyon_simd::Float;

/// Rows of A reduced together in [`dot_rows`], sharing each load of x (and the shuffles of `Lanes::reduce_add4`):
/// eight measured ~7% faster than four on the single-sample MLP gradient (more independent chains in flight).
const ROWS: usize = 8;
/// Registers of C rows updated together in [`axpy_cols`] and [`rank1`].
const REGS: usize = 4;

/// Loads a full register, or the lanes of `mask`.
///
/// # Safety
/// The addressed lanes are readable.
#[inline(always)]
unsafe fn load_masked<T: Float, L: Lanes<T>>(s: L, p: *const T, mask: Option<L::M>) -> L::V {
    // SAFETY: forwarded from the caller.
    unsafe {
        match mask {
            None => s.load(p),
            Some(t) => s.load_tail(p, t),
        }
    }
}

/// Stores a full register, or the lanes of `mask`.
///
/// # Safety
/// The addressed lanes are writable.
#[inline(always)]
unsafe fn store_masked<T: Float, L: Lanes<T>>(s: L, p: *mut T, mask: Option<L::M>, v: L::V) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match mask {
            None => s.store(p, v),
            Some(t) => s.store_tail(p, t, v),
        }
    }
}

/// The last, partial block of `rows < REGS * N` rows: its registers and the mask of each (only the last may be
/// partial).
#[inline(always)]
fn partial_block<T: Float, L: Lanes<T>>(s: L, rows: usize) -> (usize, [Option<L::M>; REGS]) {
    let n = L::N;
    let regs = rows.div_ceil(n);
    let mut masks = [None; REGS];
    if !rows.is_multiple_of(n) {
        masks[regs - 1] = Some(s.tail(rows % n));
    }
    (regs, masks)
}

/// One group of `rows <= ROWS` rows of [`dot_rows`] (`a` at the group's first row, `c` at its first output).
///
/// Called with `rows == ROWS` as a constant for whole groups: after inlining, the loops over the accumulators
/// have a fixed count and stay in registers (with a runtime count LLVM kept a loop over them and spilled).
///
/// # Safety
/// As [`dot_rows`], for the group's rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dot_group<T: Float, L: Lanes<T>>(
    s: L,
    rows: usize,
    k: usize,
    a: *const T,
    lda: usize,
    x: *const T,
    c: *mut T,
    alpha: T,
    beta: T,
) {
    let n = L::N;
    let full = k - k % n;
    // SAFETY: (whole body) every access stays within the extents the caller guarantees (the tail masked).
    unsafe {
        let mut acc = [s.zero(); ROWS];
        let mut p = 0;
        while p < full {
            let xv = s.load(x.add(p));
            for (r, a_r) in acc.iter_mut().enumerate().take(rows) {
                *a_r = s.mul_add(s.load(a.add(r * lda + p)), xv, *a_r);
            }
            p += n;
        }
        if p < k {
            let tail = s.tail(k - p);
            let xv = s.load_tail(x.add(p), tail);
            for (r, a_r) in acc.iter_mut().enumerate().take(rows) {
                *a_r = s.mul_add(s.load_tail(a.add(r * lda + p), tail), xv, *a_r);
            }
        }
        // The group's sums four at a time (unused rows of a partial group are zeros, their sums unused).
        let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
        let (low, high) = (s.reduce_add4([a0, a1, a2, a3]), s.reduce_add4([a4, a5, a6, a7]));
        if rows == ROWS && ROWS.is_multiple_of(L::N) {
            // PERF: a whole group's outputs scaled in registers rather than ~6 scalar instructions per row: 7% fewer
            // instructions in this kernel on the single-sample MLP gradient.
            let mut sums = [T::ZERO; ROWS];
            sums[..4].copy_from_slice(&low);
            sums[4..].copy_from_slice(&high);
            let (alpha_v, beta_v) = (s.splat(alpha), s.splat(beta));
            for r in (0..ROWS).step_by(L::N) {
                let (sum, out) = (s.load(sums.as_ptr().add(r)), c.add(r));
                let v = if beta == T::ZERO {
                    s.mul(sum, alpha_v)
                } else {
                    s.mul_add(sum, alpha_v, s.mul(s.load(out), beta_v))
                };
                s.store(out, v);
            }
        } else {
            for (r, &sum) in low.iter().chain(&high).enumerate().take(rows) {
                let out = c.add(r);
                let ab = alpha * sum;
                *out = if beta == T::ZERO { ab } else { ab + beta * *out };
            }
        }
    }
}

/// `c[i] = alpha * sum_p a[i * lda + p] x[p] + beta c[i]` for `i < m` (rows of A and x contiguous, c contiguous).
///
/// # Safety
/// `a` holds `m` rows of `k` readable elements at stride `lda`, `x` `k`, `c` `m` writable.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dot_rows<T: Float, L: Lanes<T>>(
    s: L,
    m: usize,
    k: usize,
    a: *const T,
    lda: usize,
    x: *const T,
    c: *mut T,
    alpha: T,
    beta: T,
) {
    // SAFETY: each group's rows and outputs lie within the caller's extents.
    unsafe {
        let mut i = 0;
        while i + ROWS <= m {
            dot_group(s, ROWS, k, a.add(i * lda), lda, x, c.add(i), alpha, beta);
            i += ROWS;
        }
        if i < m {
            dot_group(s, m - i, k, a.add(i * lda), lda, x, c.add(i), alpha, beta);
        }
    }
}

/// Registers of rows per block of [`axpy_cols`] when C has more than one column: with [`COL_BLOCK_COLS`]
/// columns, 12 accumulators + 2 A registers + 1 broadcast fill AVX2's 16 registers, and per k step 2 loads of A
/// and 6 broadcasts feed 12 FMAs (the register tile of the packed microkernel, without its packing). With blocks of
/// 4 registers x 2 columns (8 accumulators, 6 loads per 8 FMAs, just enough FMAs in flight to cover their
/// latency) the MLP epoch took 0.51-0.60 s against 0.42-0.56 s with this shape (three paired runs).
const COL_BLOCK_REGS: usize = 2;

/// Columns of C per block of [`axpy_cols`] (see [`COL_BLOCK_REGS`]).
const COL_BLOCK_COLS: usize = 6;

/// The mask of the last register of a partial block of `rows` rows (`None` when it is full). Returned as one
/// value: picking it out of [`partial_block`]'s array by a runtime index kept the array on the stack and reloaded
/// it (the hottest load of a 4 x 4 product).
#[inline(always)]
fn last_mask<T: Float, L: Lanes<T>>(s: L, rows: usize) -> Option<L::M> {
    if rows.is_multiple_of(L::N) {
        None
    } else {
        Some(s.tail(rows % L::N))
    }
}

/// One block of `JB` columns and `MV` registers of rows of [`axpy_cols`] (`a`, `b`, `c` at the block's first row
/// and column); `last` masks the last register when it is partial.
///
/// # Safety
/// As [`axpy_cols`], for the block's rows and columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn axpy_block<T: Float, L: Lanes<T>, const MV: usize, const JB: usize>(
    s: L,
    last: Option<L::M>,
    k: usize,
    a: *const T,
    lda: usize,
    b: *const T,
    b_rs: usize,
    b_cs: usize,
    c: *mut T,
    ldc: usize,
    alpha: T,
    beta: T,
) {
    let n = L::N;
    let mask = |r: usize| if r + 1 == MV { last } else { None };
    // SAFETY: (whole body) every access stays within the extents the caller guarantees (the tail masked).
    unsafe {
        let mut acc = [[s.zero(); MV]; JB];
        for p in 0..k {
            let col = a.add(p * lda);
            let mut av = [s.zero(); MV];
            for (r, a_r) in av.iter_mut().enumerate() {
                *a_r = load_masked(s, col.add(r * n), mask(r));
            }
            let row = b.add(p * b_rs);
            for (j, acc_j) in acc.iter_mut().enumerate() {
                let bj = s.splat(*row.add(j * b_cs));
                for r in 0..MV {
                    acc_j[r] = s.mul_add(av[r], bj, acc_j[r]);
                }
            }
        }
        let (alpha_v, beta_v) = (s.splat(alpha), s.splat(beta));
        for (j, acc_j) in acc.iter().enumerate() {
            for (r, &acc_r) in acc_j.iter().enumerate() {
                let out = c.add(r * n + j * ldc);
                let v = if beta == T::ZERO {
                    s.mul(acc_r, alpha_v)
                } else {
                    s.mul_add(acc_r, alpha_v, s.mul(load_masked(s, out, mask(r)), beta_v))
                };
                store_masked(s, out, mask(r), v);
            }
        }
    }
}

/// The columns of [`axpy_cols`] for one block of `MV` registers of rows: whole blocks of [`COL_BLOCK_COLS`]
/// columns, then the remaining columns as one narrower block (all counts constants, so the accumulators stay in
/// registers).
///
/// # Safety
/// As [`axpy_cols`], for the block's rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn axpy_rows<T: Float, L: Lanes<T>, const MV: usize>(
    s: L,
    last: Option<L::M>,
    n_cols: usize,
    k: usize,
    a: *const T,
    lda: usize,
    b: *const T,
    b_rs: usize,
    b_cs: usize,
    c: *mut T,
    ldc: usize,
    alpha: T,
    beta: T,
) {
    // SAFETY: each block's columns lie within the caller's extents.
    unsafe {
        let block = |j: usize, b_j: *const T| (b_j.add(j * b_cs), c.add(j * ldc));
        let mut j = 0;
        while j + COL_BLOCK_COLS <= n_cols {
            let (b_j, c_j) = block(j, b);
            axpy_block::<T, L, MV, COL_BLOCK_COLS>(s, last, k, a, lda, b_j, b_rs, b_cs, c_j, ldc, alpha, beta);
            j += COL_BLOCK_COLS;
        }
        let (b_j, c_j) = block(j, b);
        match n_cols - j {
            0 => {}
            1 => axpy_block::<T, L, MV, 1>(s, last, k, a, lda, b_j, b_rs, b_cs, c_j, ldc, alpha, beta),
            2 => axpy_block::<T, L, MV, 2>(s, last, k, a, lda, b_j, b_rs, b_cs, c_j, ldc, alpha, beta),
            3 => axpy_block::<T, L, MV, 3>(s, last, k, a, lda, b_j, b_rs, b_cs, c_j, ldc, alpha, beta),
            4 => axpy_block::<T, L, MV, 4>(s, last, k, a, lda, b_j, b_rs, b_cs, c_j, ldc, alpha, beta),
            _ => axpy_block::<T, L, MV, 5>(s, last, k, a, lda, b_j, b_rs, b_cs, c_j, ldc, alpha, beta),
        }
    }
}

/// Largest k for which [`axpy_resident_a`] holds all of A (at most one register of rows) in registers.
pub(crate) const RESIDENT_MAX_K: usize = 8;

/// [`axpy_cols`] for A of at most one register of rows and `K` columns: A's columns are loaded once into `K`
/// registers, then each column of C is one chain of `K` FMAs over broadcasts of B's column and one store. The
/// tiny products (n <= 8 f32, 4 f64) spent most of their instructions in the column- and row-block dispatch;
/// the sums are those of [`axpy_block`] (from zero, p in order), so the result is bit for bit the same.
///
/// # Safety
/// As [`axpy_cols`] with `1 <= m <= L::N` rows and `k == K`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn axpy_resident_a<T: Float, L: Lanes<T>, const K: usize>(
    s: L,
    m: usize,
    n_cols: usize,
    a: *const T,
    lda: usize,
    b: *const T,
    b_rs: usize,
    b_cs: usize,
    c: *mut T,
    ldc: usize,
    alpha: T,
    beta: T,
) {
    debug_assert!((1..=L::N).contains(&m));
    let mask = last_mask(s, m);
    // SAFETY: A's K columns of m rows lie within the caller's extents (lanes past m masked), and so do the
    // columns of B and C that `resident_a_columns` reads and writes.
    unsafe {
        let mut av = [s.zero(); K];
        for (p, a_p) in av.iter_mut().enumerate() {
            *a_p = load_masked(s, a.add(p * lda), mask);
        }
        // PERF: a partial column costs up to three stores and their branches. When C's columns are contiguous
        // (ldc == m) and C is not read (beta == 0), a column may be stored whole: its lanes past m land in the
        // first rows of the following columns, which are computed and stored after it. So every column whose
        // whole register ends inside C (its offset at most m n - N) is stored whole, the rest in pieces.
        let beta_zero = beta == T::ZERO;
        let whole_until = if beta_zero && ldc == m { (n_cols * m) as isize - L::N as isize } else { -1 };
        let args = (n_cols, b, b_rs, b_cs, c, ldc, alpha, beta);
        // One instantiation per case of the mask and of beta == 0, so that neither is tested per column (LLVM
        // did not unswitch them).
        match (mask, beta_zero) {
            (None, true) => resident_a_columns::<T, L, K, true>(s, &av, None, isize::MAX, args),
            (None, false) => resident_a_columns::<T, L, K, false>(s, &av, None, isize::MAX, args),
            (Some(t), true) => resident_a_columns::<T, L, K, true>(s, &av, Some(t), whole_until, args),
            (Some(t), false) => resident_a_columns::<T, L, K, false>(s, &av, Some(t), -1, args),
        }
    }
}

/// The columns of [`axpy_resident_a`]: `args` is `(n_cols, b, b_rs, b_cs, c, ldc, alpha, beta)`; columns that
/// start at an offset of at most `whole_until` elements are stored as whole registers, the others through `mask`.
///
/// # Safety
/// As [`axpy_resident_a`]; a whole register stored at a column's start lies inside C, and if it reaches past the
/// column's m rows, those elements belong to later columns of C and `BETA_ZERO` holds.
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn resident_a_columns<T: Float, L: Lanes<T>, const K: usize, const BETA_ZERO: bool>(
    s: L,
    av: &[L::V; K],
    mask: Option<L::M>,
    whole_until: isize,
    (n_cols, b, b_rs, b_cs, c, ldc, alpha, beta): (usize, *const T, usize, usize, *mut T, usize, T, T),
) {
    let (alpha_v, beta_v) = (s.splat(alpha), s.splat(beta));
    // SAFETY: B(p, j) for p < K, j < n_cols and C's n_cols columns of m rows lie within the caller's extents.
    unsafe {
        for j in 0..n_cols {
            let b_j = b.add(j * b_cs);
            let mut acc = s.zero();
            for (p, &a_p) in av.iter().enumerate() {
                acc = s.mul_add(a_p, s.splat(*b_j.add(p * b_rs)), acc);
            }
            let out = c.add(j * ldc);
            let v = if BETA_ZERO {
                s.mul(acc, alpha_v)
            } else {
                s.mul_add(acc, alpha_v, s.mul(load_masked(s, out, mask), beta_v))
            };
            if (j * ldc) as isize <= whole_until {
                s.store(out, v);
            } else {
                store_masked(s, out, mask, v);
            }
        }
    }
}

/// `C[:, j] = alpha * sum_p B(p, j) A(:, p) + beta C[:, j]` for `j < n_cols`: the product without packing, A's
/// columns contiguous (read in place, the last register of rows masked), B at any strides, C column-major.
/// Rows go in blocks of [`COL_BLOCK_REGS`] registers and columns in blocks of [`COL_BLOCK_COLS`] (one column:
/// blocks of 2 `REGS` and `REGS` registers); each A column loaded is used for a whole block of columns. With one
/// column this is a matrix-vector product.
///
/// # Safety
/// `a` holds `k` columns of `m` readable elements at stride `lda`; `B(p, j)` at `b + p * b_rs + j * b_cs` is
/// readable for `p < k`, `j < n_cols`; `c` holds `n_cols` columns of `m` writable elements at stride `ldc`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn axpy_cols<T: Float, L: Lanes<T>>(
    s: L,
    m: usize,
    n_cols: usize,
    k: usize,
    a: *const T,
    lda: usize,
    b: *const T,
    b_rs: usize,
    b_cs: usize,
    c: *mut T,
    ldc: usize,
    alpha: T,
    beta: T,
) {
    let whole = REGS * L::N;
    // SAFETY: each block's rows lie within the caller's extents.
    unsafe {
        let mut i = 0;
        if n_cols == 1 {
            // PERF: a matrix-vector product has one accumulator per register of rows, each a chain of k dependent
            // FMAs: with twice the registers per block the chains are half as many in sequence (the single-sample
            // MLP gradient's 64 x 64 product was bound by that latency).
            while i + 2 * whole <= m {
                let (a_i, c_i) = (a.add(i), c.add(i));
                axpy_block::<T, L, { 2 * REGS }, 1>(s, None, k, a_i, lda, b, b_rs, b_cs, c_i, ldc, alpha, beta);
                i += 2 * whole;
            }
            while i + whole <= m {
                let (a_i, c_i) = (a.add(i), c.add(i));
                axpy_block::<T, L, REGS, 1>(s, None, k, a_i, lda, b, b_rs, b_cs, c_i, ldc, alpha, beta);
                i += whole;
            }
            if i < m {
                let (last, a, c) = (last_mask(s, m - i), a.add(i), c.add(i));
                match (m - i).div_ceil(L::N) {
                    1 => axpy_block::<T, L, 1, 1>(s, last, k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta),
                    2 => axpy_block::<T, L, 2, 1>(s, last, k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta),
                    3 => axpy_block::<T, L, 3, 1>(s, last, k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta),
                    _ => axpy_block::<T, L, REGS, 1>(s, last, k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta),
                }
            }
        } else {
            let whole = COL_BLOCK_REGS * L::N;
            while i + whole <= m {
                let (a_i, c_i) = (a.add(i), c.add(i));
                axpy_rows::<T, L, COL_BLOCK_REGS>(s, None, n_cols, k, a_i, lda, b, b_rs, b_cs, c_i, ldc, alpha, beta);
                i += whole;
            }
            if i < m {
                let (last, a, c) = (last_mask(s, m - i), a.add(i), c.add(i));
                match (m - i).div_ceil(L::N) {
                    1 => axpy_rows::<T, L, 1>(s, last, n_cols, k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta),
                    _ => axpy_rows::<T, L, COL_BLOCK_REGS>(
                        s, last, n_cols, k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta,
                    ),
                }
            }
        }
    }
}

/// One block of `regs` registers of rows of [`rank1`] (`x` and `c` at the block's first row), called with
/// constants for whole blocks as [`dot_group`] is.
///
/// # Safety
/// As [`rank1`], for the block's rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rank1_block<T: Float, L: Lanes<T>>(
    s: L,
    regs: usize,
    masks: [Option<L::M>; REGS],
    n_cols: usize,
    x: *const T,
    y: *const T,
    incy: usize,
    c: *mut T,
    ldc: usize,
    alpha: T,
    beta: T,
) {
    let n = L::N;
    // SAFETY: (whole body) every access stays within the extents the caller guarantees (tails masked).
    unsafe {
        let alpha_v = s.splat(alpha);
        let mut xs = [s.zero(); REGS];
        for (r, x_r) in xs.iter_mut().enumerate().take(regs) {
            *x_r = load_masked(s, x.add(r * n), masks[r]);
        }
        for j in 0..n_cols {
            let yj = s.splat(*y.add(j * incy));
            let col = c.add(j * ldc);
            for (r, &x_r) in xs.iter().enumerate().take(regs) {
                let out = col.add(r * n);
                // alpha (x y) + beta c, unfused and in that order: three roundings per term, within the gamma_3
                // bound of a k = 1 product on every path (the scalar twin's mul_add rounds twice).
                let xy = s.mul(alpha_v, s.mul(x_r, yj));
                let v =
                    if beta == T::ZERO { xy } else { s.add(xy, s.mul(load_masked(s, out, masks[r]), s.splat(beta))) };
                store_masked(s, out, masks[r], v);
            }
        }
    }
}

/// `c[:, j] = alpha (x y[j * incy]) + beta c[:, j]` for `j < n`: `x` (length m) contiguous, C column-major with
/// leading dimension `ldc`.
///
/// # Safety
/// `x` holds `m` readable elements, `y` `n` at stride `incy`, `c` `n` columns of `m` writable at stride `ldc`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn rank1<T: Float, L: Lanes<T>>(
    s: L,
    m: usize,
    n_cols: usize,
    x: *const T,
    y: *const T,
    incy: usize,
    c: *mut T,
    ldc: usize,
    alpha: T,
    beta: T,
) {
    let whole = REGS * L::N;
    // SAFETY: each block's rows lie within the caller's extents.
    unsafe {
        let mut i = 0;
        while i + whole <= m {
            rank1_block(s, REGS, [None; REGS], n_cols, x.add(i), y, incy, c.add(i), ldc, alpha, beta);
            i += whole;
        }
        if i < m {
            let (regs, masks) = partial_block(s, m - i);
            rank1_block(s, regs, masks, n_cols, x.add(i), y, incy, c.add(i), ldc, alpha, beta);
        }
    }
}

/// Registers of columns per block of [`outer_gemv_t`]: its products and the input chunk they scale stay in
/// registers (4 + 4, with one broadcast and a temporary: within 16).
const OUTER_REGS: usize = 4;

/// One block of `MV` registers of columns of [`outer_gemv_t`] (`x`, `g`, `w`, `gx` at the block's first column;
/// `last` masks the last register when it is partial).
///
/// # Safety
/// As [`outer_gemv_t`], for the block's columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn outer_gemv_t_block<T: Float, L: Lanes<T>, const MV: usize>(
    s: L,
    last: Option<L::M>,
    rows: usize,
    d: *const T,
    x: *const T,
    w: *const T,
    g: *mut T,
    ld: usize,
    gx: *mut T,
) {
    let n = L::N;
    let mask = |r: usize| if r + 1 == MV { last } else { None };
    // SAFETY: (whole body) every access stays within the extents the caller guarantees (the tail masked).
    unsafe {
        let mut xs = [s.zero(); MV];
        for (r, x_r) in xs.iter_mut().enumerate() {
            *x_r = load_masked(s, x.add(r * n), mask(r));
        }
        let mut acc = [s.zero(); MV];
        for i in 0..rows {
            let di = s.splat(*d.add(i));
            let (w_i, g_i) = (w.add(i * ld), g.add(i * ld));
            for r in 0..MV {
                store_masked(s, g_i.add(r * n), mask(r), s.mul(xs[r], di));
                if !gx.is_null() {
                    acc[r] = s.mul_add(load_masked(s, w_i.add(r * n), mask(r)), di, acc[r]);
                }
            }
        }
        if !gx.is_null() {
            for (r, &acc_r) in acc.iter().enumerate() {
                store_masked(s, gx.add(r * n), mask(r), acc_r);
            }
        }
    }
}

/// One sample's backward pass through a dense layer in one sweep over the rows of `W` (`rows x cols`, row-major
/// at stride `ld`, as is `G`): `G[i, :] = x d[i]` (the weight gradient, an outer product) and, unless `gx` is
/// null, `gx = W^T d` (the input gradient), `d` the layer's output gradient. Each row of W is read once and
/// each row of G written once, `d[i]` broadcast once for both; columns go in blocks of `OUTER_REGS` registers
/// with their products and `gx` accumulators in registers.
///
/// Bit for bit what [`rank1`] (`G = 1 (x d^T)`, transposed) and [`axpy_cols`] (`gx = 1 sum_i d[i] W[i, :]`, in
/// order of i, beta 0) give: the same operations in the same order on every element (GEMM routes `gx` there
/// whenever `cols > 1`).
///
/// # Safety
/// `d` holds `rows` readable elements, `x` `cols`, `gx` (unless null) `cols` writable; `w` `rows` rows of `cols`
/// readable elements at stride `ld`, `g` as many writable.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn outer_gemv_t<T: Float, L: Lanes<T>>(
    s: L,
    rows: usize,
    cols: usize,
    d: *const T,
    x: *const T,
    w: *const T,
    g: *mut T,
    ld: usize,
    gx: *mut T,
) {
    let whole = OUTER_REGS * L::N;
    let gx_at = |j: usize| if gx.is_null() { gx } else { gx.wrapping_add(j) };
    // SAFETY: each block's columns lie within the caller's extents.
    unsafe {
        let mut j = 0;
        while j + whole <= cols {
            outer_gemv_t_block::<T, L, OUTER_REGS>(s, None, rows, d, x.add(j), w.add(j), g.add(j), ld, gx_at(j));
            j += whole;
        }
        if j < cols {
            let rest = cols - j;
            let last = last_mask(s, rest);
            let (x, w, g, gx) = (x.add(j), w.add(j), g.add(j), gx_at(j));
            match rest.div_ceil(L::N) {
                1 => outer_gemv_t_block::<T, L, 1>(s, last, rows, d, x, w, g, ld, gx),
                2 => outer_gemv_t_block::<T, L, 2>(s, last, rows, d, x, w, g, ld, gx),
                3 => outer_gemv_t_block::<T, L, 3>(s, last, rows, d, x, w, g, ld, gx),
                _ => outer_gemv_t_block::<T, L, OUTER_REGS>(s, last, rows, d, x, w, g, ld, gx),
            }
        }
    }
}

/// `(m, k, a, lda, x, c, alpha, beta)`: see [`dot_rows`].
pub type DotRowsFn<T> = unsafe fn(usize, usize, *const T, usize, *const T, *mut T, T, T);
/// `(m, n, k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta)`: see [`axpy_cols`].
pub type AxpyColsFn<T> = unsafe fn(usize, usize, usize, *const T, usize, *const T, usize, usize, *mut T, usize, T, T);
/// `(m, n, x, y, incy, c, ldc, alpha, beta)`: see [`rank1`].
pub type Rank1Fn<T> = unsafe fn(usize, usize, *const T, *const T, usize, *mut T, usize, T, T);
/// `(rows, cols, d, x, w, g, ld, gx)`: see [`outer_gemv_t`].
pub type OuterGemvTFn<T> = unsafe fn(usize, usize, *const T, *const T, *const T, *mut T, usize, *mut T);

/// The matrix-vector and rank-1 kernels of one instruction set for `T`.
pub struct VectorKernels<T: 'static> {
    /// The instruction set the functions were compiled for.
    pub isa: Isa,
    /// One output column, rows of A contiguous.
    pub dot_rows: DotRowsFn<T>,
    /// Columns of A contiguous, B at any strides, no packing: small products and matrix-vector.
    pub axpy_cols: AxpyColsFn<T>,
    /// [`axpy_cols`] for at most [`VectorKernels::resident_rows`] rows and `2 <= k <= RESIDENT_MAX_K`, A held
    /// in registers (bit for bit the same results): the tiny products, one function per k (entry `k - 2`, taking
    /// only that k), so that a call does not dispatch on k and each function keeps only its own registers.
    /// [`VectorKernels::axpy_for`] picks between them.
    pub axpy_resident: [AxpyColsFn<T>; RESIDENT_MAX_K - 1],
    /// One register of rows (8 f32 / 4 f64 on AVX2).
    pub resident_rows: usize,
    /// `REGS` registers of rows (32 f32 / 16 f64 on AVX2): the unit in which GEMM's routing sizes the products
    /// it sends to [`axpy_cols`].
    pub small_rows: usize,
    /// k = 1.
    pub rank1: Rank1Fn<T>,
    /// An outer product and a transposed matrix-vector product over the same rows (a dense layer's backward
    /// pass for one sample).
    pub outer_gemv_t: OuterGemvTFn<T>,
}

impl<T> VectorKernels<T> {
    /// The [`axpy_cols`] kernel for an m x k A: its resident-A twin when A fits ([`VectorKernels::axpy_resident`]),
    /// else the general one.
    #[inline(always)]
    pub fn axpy_for(&self, m: usize, k: usize) -> AxpyColsFn<T> {
        if m <= self.resident_rows && (2..=RESIDENT_MAX_K).contains(&k) {
            self.axpy_resident[k - 2]
        } else {
            self.axpy_cols
        }
    }
}

macro_rules! vector_kernels {
    ($name:ident: $t:ty, $isa:expr, $token_ty:ty, $token:expr $(, $feature:literal)?) => {
        pub(crate) static $name: VectorKernels<$t> = {
            type T = $t;
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments)]
            unsafe fn dot_rows_fn(m: usize, k: usize, a: *const T, lda: usize, x: *const T, c: *mut T, alpha: T, beta: T) {
                // SAFETY: compiled for the token's features and reachable only through `GemmFloat::vectors` after
                // the CPU check; the caller upholds the kernel's contract.
                #[allow(unused_unsafe)]
                unsafe { dot_rows($token, m, k, a, lda, x, c, alpha, beta) }
            }
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments)]
            unsafe fn axpy_cols_fn(
                m: usize, n: usize, k: usize, a: *const T, lda: usize, b: *const T, b_rs: usize, b_cs: usize,
                c: *mut T, ldc: usize, alpha: T, beta: T,
            ) {
                // SAFETY: as for `dot_rows_fn`.
                #[allow(unused_unsafe)]
                unsafe { axpy_cols($token, m, n, k, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta) }
            }
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments)]
            unsafe fn axpy_resident_fn<const K: usize>(
                m: usize, n: usize, k: usize, a: *const T, lda: usize, b: *const T, b_rs: usize, b_cs: usize,
                c: *mut T, ldc: usize, alpha: T, beta: T,
            ) {
                debug_assert_eq!(k, K);
                // SAFETY: as for `dot_rows_fn`.
                #[allow(unused_unsafe)]
                unsafe { axpy_resident_a::<T, _, K>($token, m, n, a, lda, b, b_rs, b_cs, c, ldc, alpha, beta) }
            }
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments)]
            unsafe fn rank1_fn(
                m: usize, n: usize, x: *const T, y: *const T, incy: usize, c: *mut T, ldc: usize, alpha: T, beta: T,
            ) {
                // SAFETY: as for `dot_rows_fn`.
                #[allow(unused_unsafe)]
                unsafe { rank1($token, m, n, x, y, incy, c, ldc, alpha, beta) }
            }
            $(#[target_feature(enable = $feature)])?
            #[allow(clippy::too_many_arguments)]
            unsafe fn outer_gemv_t_fn(
                rows: usize, cols: usize, d: *const T, x: *const T, w: *const T, g: *mut T, ld: usize, gx: *mut T,
            ) {
                // SAFETY: as for `dot_rows_fn`.
                #[allow(unused_unsafe)]
                unsafe { outer_gemv_t($token, rows, cols, d, x, w, g, ld, gx) }
            }
            VectorKernels {
                isa: $isa,
                dot_rows: dot_rows_fn,
                axpy_cols: axpy_cols_fn,
                axpy_resident: [
                    axpy_resident_fn::<2>,
                    axpy_resident_fn::<3>,
                    axpy_resident_fn::<4>,
                    axpy_resident_fn::<5>,
                    axpy_resident_fn::<6>,
                    axpy_resident_fn::<7>,
                    axpy_resident_fn::<8>,
                ],
                resident_rows: <$token_ty as Lanes<T>>::N,
                small_rows: REGS * <$token_ty as Lanes<T>>::N,
                rank1: rank1_fn,
                outer_gemv_t: outer_gemv_t_fn,
            }
        };
    };
}

vector_kernels!(SCALAR_F32: f32, Isa::Scalar, Scalar, Scalar);
vector_kernels!(SCALAR_F64: f64, Isa::Scalar, Scalar, Scalar);
#[cfg(target_arch = "x86_64")]
vector_kernels!(AVX2_F32: f32, Isa::Avx2, Avx2, Avx2::new_unchecked(), "avx2,fma");
#[cfg(target_arch = "x86_64")]
vector_kernels!(AVX2_F64: f64, Isa::Avx2, Avx2, Avx2::new_unchecked(), "avx2,fma");
#[cfg(target_arch = "x86_64")]
vector_kernels!(
    AVX512_F32: f32,
    Isa::Avx512,
    Avx512,
    Avx512::new_unchecked(),
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);
#[cfg(target_arch = "x86_64")]
vector_kernels!(
    AVX512_F64: f64,
    Isa::Avx512,
    Avx512,
    Avx512::new_unchecked(),
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);
