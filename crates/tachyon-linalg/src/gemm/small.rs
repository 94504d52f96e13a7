//! The unpacked paths for small and skinny products, where packing would cost more than it saves.
//!
//! - [`direct_gemm`]: the same microkernel, reading A (unit row stride) in place and packing only B's panels and
//!   A's partial row tile. Used when A is small enough to stay in L1 across the column tiles and k needs no
//!   blocking.
//! - [`unpacked`]: products with few rows of C: nothing packed, A read in place, B at its strides,
//!   [`super::vector`]'s `axpy_cols` kernel (its resident-A twin for at most one register of rows and
//!   k <= [`RESIDENT_MAX_K`]: the tiny products); [`unpacked_copy_a`] first copies an A whose columns are not
//!   contiguous.
//! - [`gemv`]: one output column: register-blocked dot products (contiguous rows) or [`unpacked`] (contiguous
//!   columns).
//! - [`rank1`]: k == 1, an outer product, [`super::vector`]'s kernel.

use tachyon_simd::Float;

use super::dispatch::{GemmFloat, TileKernel};
use super::pack::{pack_a, pack_b_panel};
use super::scratch::lines;
use super::vector::VectorKernels;
pub(crate) use super::vector::RESIDENT_MAX_K;
use crate::matrix::{MatMut, MatRef};

/// Largest k the direct path handles (beyond it, k blocking pays).
pub(crate) const DIRECT_MAX_K: usize = 256;

/// Elements of packing space [`direct_gemm`] needs for depth `k`: A's partial row tile and one B panel, each on
/// whole cache lines.
pub(crate) fn direct_space<T>(k: usize, (mr, nr): (usize, usize)) -> usize {
    lines::<T>(k * mr) + lines::<T>(k * nr)
}

/// `C = alpha A B + beta C` reading A's full MR-row tiles in place (unit row stride). A's last, partial row
/// tile, if any, is packed once (zero rows below m), and each k x NR panel of B is packed and used down all the
/// row tiles: every tile then reads whole operands and runs the microkernel's branch-free loop, with only its
/// stores masked. C has unit row stride; `k <= DIRECT_MAX_K`; `space` holds [`direct_space`] elements.
pub(crate) fn direct_gemm<T: GemmFloat>(
    kernel: &TileKernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
    space: &mut [T],
) {
    debug_assert!(c.row_stride() == 1 && a.row_stride() == 1 && a.cols() <= DIRECT_MAX_K);
    let (m, n, k) = (c.rows(), c.cols(), a.cols());
    let (mr, nr) = (kernel.mr, kernel.nr);
    let (lda, ldc) = (a.col_stride(), c.col_stride());
    let c_ptr = c.as_mut_ptr();
    let full_rows = m / mr * mr;
    let edge_rows = m - full_rows;
    let (a_edge, panel) = space.split_at_mut(lines::<T>(k * mr));
    let panel = &mut panel[..k * nr];
    if edge_rows > 0 {
        pack_a(a.submatrix(full_rows, 0, edge_rows, k), mr, &mut a_edge[..k * mr]);
    }
    for j in (0..n).step_by(nr) {
        let nv = nr.min(n - j);
        pack_b_panel(b.submatrix(0, j, k, nv), nr, 0, panel);
        for i in (0..full_rows).step_by(mr) {
            // SAFETY: rows i..i + MR (all below m) of A's k columns are inside the view; the B panel holds
            // k x NR packed elements; C's tile lies inside C and `nv` masks the columns past its edge; the
            // kernel's instruction set was checked.
            unsafe {
                (kernel.tile)(
                    k,
                    a.as_ptr().add(i),
                    lda,
                    panel.as_ptr(),
                    c_ptr.add(i + j * ldc),
                    ldc,
                    alpha,
                    beta,
                    mr,
                    nv,
                )
            }
        }
        if edge_rows > 0 {
            // SAFETY: the packed edge holds MR x k elements (zero rows past m); C's rows full_rows..m of
            // columns j..j + nv lie inside C (`edge_rows`, `nv` mask the rest); ISA checked as above.
            unsafe {
                (kernel.for_rows(edge_rows))(
                    k,
                    a_edge.as_ptr(),
                    mr,
                    panel.as_ptr(),
                    c_ptr.add(full_rows + j * ldc),
                    ldc,
                    alpha,
                    beta,
                    edge_rows,
                    nv,
                )
            }
        }
    }
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
        // Rows of A and the vector b are contiguous: dot products, eight rows sharing each load of b.
        // SAFETY: A has m rows of k elements at stride row_stride, b k contiguous elements, c m contiguous
        // elements (unit row stride, one column); the kernel table's instruction set was checked.
        unsafe { (kernels.dot_rows)(m, k, a.as_ptr(), a.row_stride(), b.as_ptr(), c.as_mut_ptr(), alpha, beta) }
    } else if a.row_stride() == 1 {
        // Columns of A are contiguous: c = beta c + alpha sum_p b_p A(:, p), a block of c held in registers.
        unpacked(kernels, alpha, a, b, beta, c);
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

/// [`unpacked`] for an A whose columns are not contiguous (a row-major weight matrix, say): A is first copied
/// column-major into `space` (at least m x k elements).
pub(crate) fn unpacked_copy_a<T: GemmFloat>(
    kernels: &VectorKernels<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    space: &mut [T],
) {
    let (m, k) = (a.rows(), a.cols());
    let buf = &mut space[..m * k];
    // One A panel as wide as A: its columns, contiguous (column-major with leading dimension m).
    pack_a(a, m, buf);
    let a = MatRef::col_major(buf, m, k).expect("the buffer holds m x k elements");
    unpacked(kernels, alpha, a, b, beta, c);
}

/// `C = alpha A B + beta C` without packing anything: A (unit row stride) read in place, one column of A
/// loaded for a block of columns of C, B at its own strides. For small products (C up to two
/// [`VectorKernels::small_rows`] of rows, A in L1) and one-column ones; C has unit row stride. A of at most one
/// register of rows and k <= [`RESIDENT_MAX_K`] is held in registers ([`VectorKernels::axpy_for`]); inlined, so
/// that the tiny products routed from [`super::Gemm::run`] reach their kernel without another call.
#[inline(always)]
pub(crate) fn unpacked<T: Float>(
    kernels: &VectorKernels<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
) {
    debug_assert!(a.row_stride() == 1 && c.row_stride() == 1);
    // SAFETY: A has k columns of m contiguous elements at stride col_stride, B(p, j) lies inside its view for
    // p < k, j < n, C has n columns of m contiguous elements at stride col_stride; the instruction set was checked.
    unsafe {
        (kernels.axpy_for(c.rows(), a.cols()))(
            c.rows(),
            c.cols(),
            a.cols(),
            a.as_ptr(),
            a.col_stride(),
            b.as_ptr(),
            b.row_stride(),
            b.col_stride(),
            c.as_mut_ptr(),
            c.col_stride(),
            alpha,
            beta,
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::vector::AxpyColsFn;
    use tachyon_simd::isa::levels_under_test;
    use tachyon_testkit::SplitMix64;

    #[test]
    fn resident_is_unpacked_bit_for_bit() {
        resident_matches_unpacked::<f32>();
        resident_matches_unpacked::<f64>();
    }

    /// Every row count up to one register, every k the resident kernel takes, C's columns contiguous (a column
    /// stored whole spills into the next ones when beta = 0) or padded (the padding must stay untouched), beta
    /// zero (over NaN) or not, on a source misaligned by one element: the whole C buffer, padding and the
    /// elements past its end included, is the general kernel's bit for bit.
    fn resident_matches_unpacked<T: GemmFloat>() {
        let mut rng = SplitMix64(7);
        let mut random = |len: usize| -> Vec<T> { (0..len).map(|_| T::from_f64(rng.uniform(-1.0, 1.0))).collect() };
        for isa in levels_under_test() {
            let kernels = T::vectors(isa);
            for m in 1..=kernels.resident_rows {
                for k in 2..=RESIDENT_MAX_K {
                    for n in [2, 3, 5, 9] {
                        for (ldc, beta) in [(m, 0.0), (m, -1.5), (m + 3, 0.0), (m + 3, 0.5)] {
                            let (a, b) = (random(1 + m * k), random(1 + k * n));
                            let a = MatRef::col_major(&a[1..], m, k).unwrap();
                            let b = MatRef::row_major(&b[1..], k, n).unwrap();
                            let mut c0 = random(1 + ldc * n + 4);
                            if beta == 0.0 {
                                c0.iter_mut().for_each(|v| *v = T::from_f64(f64::NAN));
                            }
                            let (mut got, mut want) = (c0.clone(), c0.clone());
                            let (alpha, beta) = (T::from_f64(0.75), T::from_f64(beta));
                            let call = |kernel: AxpyColsFn<T>, c: &mut [T]| {
                                // SAFETY: A is m x k with contiguous columns, B k x n row-major, C m x n with
                                // contiguous columns at stride ldc, all inside their buffers; the kernels'
                                // instruction set is one this CPU has (levels_under_test).
                                unsafe {
                                    kernel(m, n, k, a.as_ptr(), m, b.as_ptr(), n, 1, c.as_mut_ptr(), ldc, alpha, beta)
                                }
                            };
                            call(kernels.axpy_resident[k - 2], &mut got[1..]);
                            call(kernels.axpy_cols, &mut want[1..]);
                            for (at, (g, w)) in got.iter().zip(&want).enumerate() {
                                assert!(
                                    g.to_f64().to_bits() == w.to_f64().to_bits(),
                                    "{isa} {} m={m} n={n} k={k} ldc={ldc} beta={beta}: element {at} is {g}, not {w}",
                                    T::NAME
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
