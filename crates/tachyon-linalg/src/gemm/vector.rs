//! Products with one output column (matrix-vector) or one inner dimension (rank 1), the shapes of single-sample
//! training and inference, as register-blocked kernels over [`Lanes`], instantiated per instruction set and
//! element type like the tile kernels. They replace one vector-table call per row (a function pointer and a
//! reduction each) and the microkernel at k = 1 (a full tile load and store per 6 x 16 outputs).
//!
//! Every kernel writes `beta * c` as `0` when `beta == 0`, ignoring NaN in C, as the rest of GEMM does.

use tachyon_simd::isa::Isa;
use tachyon_simd::lanes::Lanes;
use tachyon_simd::Float;

/// Rows of A reduced together in [`dot_rows`], sharing each load of x.
const ROWS: usize = 4;
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
        for (r, a_r) in acc.iter().enumerate().take(rows) {
            let out = c.add(r);
            let ab = alpha * s.reduce_add(*a_r);
            *out = if beta == T::ZERO { ab } else { ab + beta * *out };
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

/// One block of `regs` registers of rows of [`axpy_cols`] (`a` and `c` at the block's first row; `masks` for the
/// registers, only the last partial). Called with constants (`REGS`, no masks) for whole blocks, as
/// [`dot_group`] is.
///
/// # Safety
/// As [`axpy_cols`], for the block's rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn axpy_block<T: Float, L: Lanes<T>>(
    s: L,
    regs: usize,
    masks: [Option<L::M>; REGS],
    k: usize,
    a: *const T,
    lda: usize,
    x: *const T,
    incx: usize,
    c: *mut T,
    alpha: T,
    beta: T,
) {
    let n = L::N;
    // SAFETY: (whole body) every access stays within the extents the caller guarantees (tails masked).
    unsafe {
        let mut acc = [s.zero(); REGS];
        for p in 0..k {
            let xp = s.splat(alpha * *x.add(p * incx));
            let col = a.add(p * lda);
            for (r, a_r) in acc.iter_mut().enumerate().take(regs) {
                *a_r = s.mul_add(load_masked(s, col.add(r * n), masks[r]), xp, *a_r);
            }
        }
        for (r, &a_r) in acc.iter().enumerate().take(regs) {
            let out = c.add(r * n);
            let v = if beta == T::ZERO { a_r } else { s.mul_add(load_masked(s, out, masks[r]), s.splat(beta), a_r) };
            store_masked(s, out, masks[r], v);
        }
    }
}

/// `c = alpha * sum_p x[p * incx] a[p * lda ..][..m] + beta c` (columns of A contiguous, c contiguous).
///
/// # Safety
/// `a` holds `k` columns of `m` readable elements at stride `lda`, `x` `k` elements at stride `incx`, `c` `m`
/// writable.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn axpy_cols<T: Float, L: Lanes<T>>(
    s: L,
    m: usize,
    k: usize,
    a: *const T,
    lda: usize,
    x: *const T,
    incx: usize,
    c: *mut T,
    alpha: T,
    beta: T,
) {
    let whole = REGS * L::N;
    // SAFETY: each block's rows lie within the caller's extents.
    unsafe {
        let mut i = 0;
        while i + whole <= m {
            axpy_block(s, REGS, [None; REGS], k, a.add(i), lda, x, incx, c.add(i), alpha, beta);
            i += whole;
        }
        if i < m {
            let (regs, masks) = partial_block(s, m - i);
            axpy_block(s, regs, masks, k, a.add(i), lda, x, incx, c.add(i), alpha, beta);
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

/// `(m, k, a, lda, x, c, alpha, beta)`: see [`dot_rows`].
pub type DotRowsFn<T> = unsafe fn(usize, usize, *const T, usize, *const T, *mut T, T, T);
/// `(m, k, a, lda, x, incx, c, alpha, beta)`: see [`axpy_cols`].
pub type AxpyColsFn<T> = unsafe fn(usize, usize, *const T, usize, *const T, usize, *mut T, T, T);
/// `(m, n, x, y, incy, c, ldc, alpha, beta)`: see [`rank1`].
pub type Rank1Fn<T> = unsafe fn(usize, usize, *const T, *const T, usize, *mut T, usize, T, T);

/// The matrix-vector and rank-1 kernels of one instruction set for `T`.
pub struct VectorKernels<T: 'static> {
    /// The instruction set the functions were compiled for.
    pub isa: Isa,
    /// One output column, rows of A contiguous.
    pub dot_rows: DotRowsFn<T>,
    /// One output column, columns of A contiguous.
    pub axpy_cols: AxpyColsFn<T>,
    /// k = 1.
    pub rank1: Rank1Fn<T>,
}

macro_rules! vector_kernels {
    ($name:ident: $t:ty, $isa:expr, $token:expr $(, $feature:literal)?) => {
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
                m: usize, k: usize, a: *const T, lda: usize, x: *const T, incx: usize, c: *mut T, alpha: T, beta: T,
            ) {
                // SAFETY: as for `dot_rows_fn`.
                #[allow(unused_unsafe)]
                unsafe { axpy_cols($token, m, k, a, lda, x, incx, c, alpha, beta) }
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
            VectorKernels { isa: $isa, dot_rows: dot_rows_fn, axpy_cols: axpy_cols_fn, rank1: rank1_fn }
        };
    };
}

vector_kernels!(SCALAR_F32: f32, Isa::Scalar, tachyon_simd::lanes::scalar::Scalar);
vector_kernels!(SCALAR_F64: f64, Isa::Scalar, tachyon_simd::lanes::scalar::Scalar);
#[cfg(target_arch = "x86_64")]
vector_kernels!(AVX2_F32: f32, Isa::Avx2, tachyon_simd::isa::Avx2::new_unchecked(), "avx2,fma");
#[cfg(target_arch = "x86_64")]
vector_kernels!(AVX2_F64: f64, Isa::Avx2, tachyon_simd::isa::Avx2::new_unchecked(), "avx2,fma");
#[cfg(target_arch = "x86_64")]
vector_kernels!(
    AVX512_F32: f32,
    Isa::Avx512,
    tachyon_simd::isa::Avx512::new_unchecked(),
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);
#[cfg(target_arch = "x86_64")]
vector_kernels!(
    AVX512_F64: f64,
    Isa::Avx512,
    tachyon_simd::isa::Avx512::new_unchecked(),
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);
