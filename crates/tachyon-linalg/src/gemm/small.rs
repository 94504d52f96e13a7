//! The unpacked paths for small and skinny products, where packing would cost more than it saves.
//!
//! - [`direct_gemm`]: the same microkernel, reading A (unit row stride) and B in place. Used when the A operand
//!   is small enough to stay in L1/L2 across the column tiles and k needs no blocking.
//! - [`gemv`]: one output column: register-blocked dot products (contiguous rows) or axpy updates (contiguous
//!   columns), [`super::vector`]'s kernels.
//! - [`rank1`]: k == 1, an outer product, [`super::vector`]'s kernel.

use tachyon_simd::Float;

use super::dispatch::{GemmFloat, TileKernel};
use super::driver::{with_buffer, PACK_B};
use super::pack::pack_b_panel;
use super::vector::VectorKernels;
use crate::matrix::{MatMut, MatRef};

/// Largest k the direct path handles (beyond it, k blocking pays).
pub(crate) const DIRECT_MAX_K: usize = 256;

/// `C = alpha A B + beta C` reading A in place (unit row stride). When C has more than one row of tiles, one
/// k x NR panel of B at a time is copied into the thread's packing buffer and reused down the rows, so the
/// microkernel runs its padded, branch-free loop wherever a tile is full; with a single row of tiles B is read
/// in place.
/// C has unit row stride; `k <= DIRECT_MAX_K`.
pub(crate) fn direct_gemm<T: GemmFloat>(
    kernel: &TileKernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
) {
    debug_assert!(c.row_stride() == 1 && a.row_stride() == 1 && a.cols() <= DIRECT_MAX_K);
    let (m, n, k) = (c.rows(), c.cols(), a.cols());
    let (mr, nr) = (kernel.mr, kernel.nr);
    let (lda, ldc) = (a.col_stride(), c.col_stride());
    let c_ptr = c.as_mut_ptr();
    if m <= mr {
        // One row of tiles: each B panel would be used once, so read B in place (masked at the edges).
        for j in (0..n).step_by(nr) {
            // SAFETY: A rows below m and B columns j..j + nv are inside their views (masked reads stop there);
            // C's tile lies inside C; the kernel's instruction set was checked.
            unsafe {
                (kernel.tile)(
                    k,
                    a.as_ptr(),
                    lda,
                    m == mr,
                    b.as_ptr().add(j * b.col_stride()),
                    b.row_stride(),
                    b.col_stride(),
                    false,
                    c_ptr.add(j * ldc),
                    ldc,
                    alpha,
                    beta,
                    m,
                    nr.min(n - j),
                )
            }
        }
        return;
    }
    with_buffer::<T, _>(&PACK_B, k * nr, |panel| {
        for j in (0..n).step_by(nr) {
            let nv = nr.min(n - j);
            pack_b_panel(b.submatrix(0, j, k, nv), nr, 0, panel);
            for i in (0..m).step_by(mr) {
                let mv = mr.min(m - i);
                // SAFETY: A(i.., 0..k) rows below m - i are inside the view (full MR rows when mv == MR, so the
                // padded reads stay inside); the B panel holds k x nr packed elements; C's tile lies inside C and
                // `mv`/`nv` mask everything past its edges; the kernel's instruction set was checked.
                unsafe {
                    (kernel.tile)(
                        k,
                        a.as_ptr().add(i),
                        lda,
                        mv == mr,
                        panel.as_ptr(),
                        nr,
                        1,
                        true,
                        c_ptr.add(i + j * ldc),
                        ldc,
                        alpha,
                        beta,
                        mv,
                        nv,
                    )
                }
            }
        }
    });
}

/// `c = alpha A b + beta c` for a single output column `c` (n == 1, C with unit row stride).
pub(crate) fn gemv<T: Float>(
    kernels: &VectorKernels<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
) {
    let (m, k) = (a.rows(), a.cols());
    debug_assert!(c.row_stride() == 1 && c.cols() == 1);
    if a.col_stride() == 1 && b.row_stride() == 1 {
        // Rows of A and the vector b are contiguous: dot products, four rows sharing each load of b.
        // SAFETY: A has m rows of k elements at stride row_stride, b k contiguous elements, c m contiguous
        // elements (unit row stride, one column); the kernel table's instruction set was checked.
        unsafe { (kernels.dot_rows)(m, k, a.as_ptr(), a.row_stride(), b.as_ptr(), c.as_mut_ptr(), alpha, beta) }
    } else if a.row_stride() == 1 {
        // Columns of A are contiguous: c = beta c + alpha sum_p b_p A(:, p), a block of c held in registers.
        // SAFETY: A has k columns of m contiguous elements at stride col_stride, b k elements at stride
        // row_stride, c m contiguous elements; the instruction set was checked.
        unsafe {
            (kernels.axpy_cols)(
                m,
                k,
                a.as_ptr(),
                a.col_stride(),
                b.as_ptr(),
                b.row_stride(),
                c.as_mut_ptr(),
                alpha,
                beta,
            )
        }
    } else {
        for i in 0..m {
            let mut ab = T::ZERO;
            for p in 0..k {
                ab = ab + a.get(i, p) * b.get(p, 0);
            }
            let old = if beta == T::ZERO { T::ZERO } else { beta * c.get(i, 0) };
            c.set(i, 0, alpha * ab + old);
        }
    }
}

/// `C = alpha a b + beta C` for k == 1: `a` an m x 1 column with unit row stride, C with unit row stride.
pub(crate) fn rank1<T: Float>(
    kernels: &VectorKernels<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
) {
    debug_assert!(a.cols() == 1 && a.row_stride() == 1 && c.row_stride() == 1);
    let (m, n) = (c.rows(), c.cols());
    // SAFETY: a holds m contiguous elements, b n elements at stride col_stride, C n columns of m contiguous
    // elements at stride col_stride; the instruction set was checked.
    unsafe {
        (kernels.rank1)(m, n, a.as_ptr(), b.as_ptr(), b.col_stride(), c.as_mut_ptr(), c.col_stride(), alpha, beta)
    }
}
