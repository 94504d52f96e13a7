//! The unpacked paths for small and skinny products, where packing would cost more than it saves.
//!
//! - [`direct_gemm`]: the same microkernel, reading A (unit row stride) and B in place. Used when the A operand
//!   is small enough to stay in L1/L2 across the column tiles and k needs no blocking.
//! - [`gemv`]: one output row or column: dot products (contiguous rows) or axpy updates (contiguous columns)
//!   through the vector kernel table.

use tachyon_simd::{Float, KernelTable};

use super::dispatch::{GemmFloat, TileKernel};
use super::driver::{with_buffer, PACK_B};
use super::pack::pack_b_panel;
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

/// `c = alpha A b + beta c` for a single output column `c` (n == 1).
pub(crate) fn gemv<T: Float>(
    table: &KernelTable<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
) {
    let (m, k) = (a.rows(), a.cols());
    let scale = |c: &mut MatMut<'_, T>, i: usize, ab: T| {
        let old = if beta == T::ZERO { T::ZERO } else { beta * c.get(i, 0) };
        c.set(i, 0, alpha * ab + old);
    };
    if a.col_stride() == 1 && b.row_stride() == 1 {
        // Rows of A and the vector b are contiguous: one dot product per output.
        // SAFETY: b(0..k, 0) is contiguous and inside the view.
        let x = unsafe { std::slice::from_raw_parts(b.as_ptr(), k) };
        for i in 0..m {
            // SAFETY: row i of A is contiguous (col_stride 1) and inside the view.
            let row = unsafe { std::slice::from_raw_parts(a.as_ptr().add(i * a.row_stride()), k) };
            scale(&mut c, i, (table.dot)(row, x));
        }
    } else if a.row_stride() == 1 && c.row_stride() == 1 {
        // Columns of A and c are contiguous: c = beta c, then one axpy per column of A.
        // SAFETY: c(0..m, 0) is contiguous and exclusively borrowed.
        let out = unsafe { std::slice::from_raw_parts_mut(c.as_mut_ptr(), m) };
        if beta == T::ZERO {
            out.fill(T::ZERO);
        } else if beta != T::ONE {
            (table.scale_inplace)(beta, out);
        }
        for p in 0..k {
            // SAFETY: column p of A is contiguous (row_stride 1) and inside the view.
            let col = unsafe { std::slice::from_raw_parts(a.as_ptr().add(p * a.col_stride()), m) };
            (table.axpy)(alpha * b.get(p, 0), col, out);
        }
    } else {
        for i in 0..m {
            let mut ab = T::ZERO;
            for p in 0..k {
                ab = ab + a.get(i, p) * b.get(p, 0);
            }
            scale(&mut c, i, ab);
        }
    }
}
