//! Strassen's algorithm, Winograd's variant (7 multiplications, 15 additions per level), on top of the blocked
//! GEMM.
//!
//! Complexity: O(n^log2(7)) = O(n^2.807) multiplications. Each level trades one of 8 half-size products for 15
//! half-size additions, which are memory-bound; whether that wins depends on how close the classical GEMM runs
//! to the FMA peak and on memory bandwidth. `tachyon bench gemm` measures it; docs/GEMM.md gives the crossover
//! found on the development machine.
//!
//! Schedule of one level (C quadrants written in place; X, Y, Z, Q are scratch):
//!
//! ```text
//! C11 = A11 B11                       (M1)
//! X = A21 + A22, Y = B12 - B11        (S1, T1);  Z = X Y  (M5)
//! X = X - A11,  Y = B22 - Y           (S2, T2);  Q = X Y  (M6)
//! C12 = C11 + Q                       (U2 = M1 + M6)
//! C21 = C12, C22 = C12 + Z, C12 += Z  (U2, U2 + M5, U4 = U2 + M5)
//! X = A12 - X                         (S4);  Q = X B22 (M3);  C12 += Q   (U5 = C12)
//! Y = Y - B21                         (T4);  Q = A22 Y (M4);  C21 -= Q   (U2 - M4)
//! X = A11 - A21, Y = B22 - B12        (S3, T3); Q = X Y (M7); C21 += Q, C22 += Q   (U6 = C21, U7 = C22)
//! Q = A12 B21                         (M2);  C11 += Q    (U1 = C11)
//! ```
//!
//! Error (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., Theorem 23.3, Winograd variant, with
//! recursion down to a classical n0 x n0 product): max |C - C_hat| <= [ (n/n0)^log2(18) (n0^2 + 6 n0) - 6 n ] u
//! max|A| max|B| + O(u^2): normwise, not element-wise, and looser than the classical gamma_(k+2) bound by a
//! factor growing like n^(log2 18 - 1) = n^3.17.

use tachyon_simd::{Float, KernelTable};

use crate::gemm::{Gemm, GemmFloat, Parallelism};
use crate::matrix::{axpby, MatMut, MatRef, Matrix, ShapeError};

/// Strassen-Winograd on top of a classical [`Gemm`] plan.
#[derive(Clone, Copy, Debug)]
pub struct Strassen<T: GemmFloat> {
    plan: Gemm<T>,
    /// Recursion stops (classical product) once a dimension is below this or odd.
    pub crossover: usize,
}

impl<T: GemmFloat> Strassen<T> {
    /// Strassen over `plan`, recursing while every dimension is even and at least `crossover`.
    pub fn new(plan: Gemm<T>, crossover: usize) -> Self {
        Strassen { plan, crossover: crossover.max(2) }
    }

    /// Recursion levels used for an `m x k` by `k x n` product.
    pub fn levels(&self, m: usize, n: usize, k: usize) -> u32 {
        let (mut m, mut n, mut k, mut levels) = (m, n, k, 0);
        while m.min(n).min(k) >= self.crossover && m % 2 == 0 && n % 2 == 0 && k % 2 == 0 {
            (m, n, k) = (m / 2, n / 2, k / 2);
            levels += 1;
        }
        levels
    }

    /// Scratch elements a product needs: per level X, Y, Z, Q, plus a full-size temporary when alpha != 1 or
    /// beta != 0.
    fn scratch_len(&self, m: usize, n: usize, k: usize) -> usize {
        let mut total = m * n;
        let (mut m, mut n, mut k) = (m, n, k);
        for _ in 0..self.levels(m, n, k) {
            (m, n, k) = (m / 2, n / 2, k / 2);
            total += m * k + k * n + 2 * m * n;
        }
        total
    }

    /// `C = alpha A B + beta C` (beta == 0 overwrites C, ignoring NaN in it). Allocates its scratch per call
    /// (about a third of the operands' size); intended for large products, where that cost is negligible.
    pub fn run(
        &self,
        alpha: T,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        beta: T,
        c: MatMut<'_, T>,
        par: Parallelism,
    ) -> Result<(), ShapeError> {
        let (m, n, k) = (a.rows(), b.cols(), a.cols());
        if self.levels(m, n, k) == 0 || b.rows() != k || c.rows() != m || c.cols() != n {
            // Shape errors and small or odd sizes: the classical product (which reports mismatches).
            return self.plan.run(alpha, a, b, beta, c, par);
        }
        let mut scratch = vec![T::ZERO; self.scratch_len(m, n, k)];
        let vector = T::kernels_for(self.plan.isa()).expect("plan's isa is supported");
        let ctx = Ctx { plan: &self.plan, vector, par, crossover: self.crossover };
        let (full, rest) = scratch.split_at_mut(m * n);
        let mut p = MatMut::row_major(full, m, n)?;
        ctx.product(a, b, p.rb_mut(), rest);
        axpby(alpha, p.rb(), beta, c);
        Ok(())
    }
}

struct Ctx<'p, T: GemmFloat> {
    plan: &'p Gemm<T>,
    vector: &'static KernelTable<T>,
    par: Parallelism,
    crossover: usize,
}

/// Quadrant `(r, s)` (each 0 or 1) of `v`, of `rows x cols`.
fn quad<T: Float>(v: MatRef<'_, T>, r: usize, s: usize, rows: usize, cols: usize) -> MatRef<'_, T> {
    v.submatrix(r * rows, s * cols, rows, cols)
}

/// Row `i` of a view with unit column stride as a slice.
///
/// # Safety
/// `v` must have column stride 1 and `i < v.rows()`.
unsafe fn row<'a, T: Float>(v: MatRef<'a, T>, i: usize) -> &'a [T] {
    // SAFETY: row i holds `cols` contiguous elements inside the view's slice (caller contract).
    unsafe { std::slice::from_raw_parts(v.as_ptr().add(i * v.row_stride()), v.cols()) }
}

/// Row `i` of a mutable view with unit column stride as a mutable slice.
///
/// # Safety
/// As for [`row`]; the returned slice must not outlive the exclusive use of `v`.
unsafe fn row_mut<'a, T: Float>(v: &'a mut MatMut<'_, T>, i: usize) -> &'a mut [T] {
    let (stride, cols) = (v.row_stride(), v.cols());
    // SAFETY: as for `row`; `v` is borrowed mutably for the slice's lifetime.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().add(i * stride), cols) }
}

impl<T: GemmFloat> Ctx<'_, T> {
    /// `out = x + y` (or `x - y` when `subtract`), row by row through the vector kernels.
    fn add(&self, x: MatRef<'_, T>, y: MatRef<'_, T>, mut out: MatMut<'_, T>, subtract: bool) {
        if x.col_stride() == 1 && y.col_stride() == 1 && out.col_stride() == 1 {
            for i in 0..out.rows() {
                // SAFETY: unit column strides checked above, i < rows; `out` does not overlap x or y (scratch and
                // quadrants are disjoint from the operands).
                let (xr, yr, or) = unsafe { (row(x, i), row(y, i), row_mut(&mut out, i)) };
                if subtract {
                    (self.vector.sub)(xr, yr, or)
                } else {
                    (self.vector.add)(xr, yr, or)
                }
            }
        } else {
            for i in 0..out.rows() {
                for j in 0..out.cols() {
                    let v = if subtract { x.get(i, j) - y.get(i, j) } else { x.get(i, j) + y.get(i, j) };
                    out.set(i, j, v);
                }
            }
        }
    }

    /// `out += alpha x` with alpha = +-1 (exact scaling, so this is a plain add or subtract).
    fn axpy(&self, alpha: T, x: MatRef<'_, T>, out: &mut MatMut<'_, T>) {
        if x.col_stride() == 1 && out.col_stride() == 1 {
            for i in 0..out.rows() {
                // SAFETY: unit column strides checked above, i < rows; `out` does not overlap x.
                let (xr, or) = unsafe { (row(x, i), row_mut(out, i)) };
                (self.vector.axpy)(alpha, xr, or);
            }
        } else {
            for i in 0..out.rows() {
                for j in 0..out.cols() {
                    out.set(i, j, out.get(i, j) + alpha * x.get(i, j));
                }
            }
        }
    }

    /// `c = a b` (overwrite), recursing while worthwhile; `scratch` holds this level's and deeper temporaries.
    fn product(&self, a: MatRef<'_, T>, b: MatRef<'_, T>, mut c: MatMut<'_, T>, scratch: &mut [T]) {
        let (m, n, k) = (a.rows(), b.cols(), a.cols());
        if m.min(n).min(k) < self.crossover || m % 2 == 1 || n % 2 == 1 || k % 2 == 1 {
            self.plan.run(T::ONE, a, b, T::ZERO, c, self.par).expect("shapes checked by the caller");
            return;
        }
        let (m2, n2, k2) = (m / 2, n / 2, k / 2);
        let (xs, rest) = scratch.split_at_mut(m2 * k2);
        let (ys, rest) = rest.split_at_mut(k2 * n2);
        let (zs, rest) = rest.split_at_mut(m2 * n2);
        let (qs, deeper) = rest.split_at_mut(m2 * n2);
        let mut x = MatMut::row_major(xs, m2, k2).expect("scratch sized");
        let mut y = MatMut::row_major(ys, k2, n2).expect("scratch sized");
        let mut z = MatMut::row_major(zs, m2, n2).expect("scratch sized");
        let mut q = MatMut::row_major(qs, m2, n2).expect("scratch sized");
        let (a11, a12, a21, a22) =
            (quad(a, 0, 0, m2, k2), quad(a, 0, 1, m2, k2), quad(a, 1, 0, m2, k2), quad(a, 1, 1, m2, k2));
        let (b11, b12, b21, b22) =
            (quad(b, 0, 0, k2, n2), quad(b, 0, 1, k2, n2), quad(b, 1, 0, k2, n2), quad(b, 1, 1, k2, n2));
        // Quadrants of C, as four disjoint mutable views.
        let cp = c.as_mut_ptr();
        let (crs, ccs) = (c.row_stride(), c.col_stride());
        let quad_mut = |r: usize, s: usize| {
            // SAFETY: the four quadrants of C are disjoint blocks of an injective view that `c` borrows
            // exclusively for this call; each is built once and used only while `c` is not touched directly.
            unsafe { quadrant_mut(cp, crs, ccs, r * m2, s * n2, m2, n2) }
        };
        let (mut c11, mut c12, mut c21, mut c22) = (quad_mut(0, 0), quad_mut(0, 1), quad_mut(1, 0), quad_mut(1, 1));

        self.product(a11, b11, c11.rb_mut(), deeper); // M1
        self.add(a21, a22, x.rb_mut(), false); // S1
        self.add(b12, b11, y.rb_mut(), true); // T1
        self.product(x.rb(), y.rb(), z.rb_mut(), deeper); // M5
        self.axpy(-T::ONE, a11, &mut x); // S2 = S1 - A11
        negate(&mut y, self.vector);
        self.axpy(T::ONE, b22, &mut y); // T2 = B22 - T1
        self.product(x.rb(), y.rb(), q.rb_mut(), deeper); // M6
        self.add(c11.rb(), q.rb(), c12.rb_mut(), false); // U2 = M1 + M6
        self.add(c12.rb(), z.rb(), c22.rb_mut(), false); // U2 + M5
        copy(c12.rb(), &mut c21); // U2
        self.axpy(T::ONE, z.rb(), &mut c12); // U4 = U2 + M5
        negate(&mut x, self.vector);
        self.axpy(T::ONE, a12, &mut x); // S4 = A12 - S2
        self.product(x.rb(), b22, q.rb_mut(), deeper); // M3
        self.axpy(T::ONE, q.rb(), &mut c12); // U5 = U4 + M3
        self.axpy(-T::ONE, b21, &mut y); // T4 = T2 - B21
        self.product(a22, y.rb(), q.rb_mut(), deeper); // M4
        self.axpy(-T::ONE, q.rb(), &mut c21); // U2 - M4
        self.add(a11, a21, x.rb_mut(), true); // S3
        self.add(b22, b12, y.rb_mut(), true); // T3
        self.product(x.rb(), y.rb(), q.rb_mut(), deeper); // M7
        self.axpy(T::ONE, q.rb(), &mut c21); // U6 = U3 - M4
        self.axpy(T::ONE, q.rb(), &mut c22); // U7 = U3 + M5
        self.product(a12, b21, q.rb_mut(), deeper); // M2
        self.axpy(T::ONE, q.rb(), &mut c11); // U1 = M1 + M2
    }
}

/// `out = x`, row by row where rows are contiguous.
fn copy<T: GemmFloat>(x: MatRef<'_, T>, out: &mut MatMut<'_, T>) {
    for i in 0..out.rows() {
        if x.col_stride() == 1 && out.col_stride() == 1 {
            // SAFETY: unit column strides checked, i < rows; `out` does not overlap x (disjoint quadrants).
            let (xr, or) = unsafe { (row(x, i), row_mut(out, i)) };
            or.copy_from_slice(xr);
        } else {
            for j in 0..out.cols() {
                out.set(i, j, x.get(i, j));
            }
        }
    }
}

/// `x = -x`, row by row (x is row-major scratch).
fn negate<T: GemmFloat>(x: &mut MatMut<'_, T>, vector: &KernelTable<T>) {
    for i in 0..x.rows() {
        // SAFETY: scratch matrices are row-major (unit column stride), i < rows.
        (vector.scale_inplace)(-T::ONE, unsafe { row_mut(x, i) });
    }
}

/// The `rows x cols` block at `(r, s)` of the strided view at `ptr` as its own mutable view.
///
/// # Safety
/// The block must lie inside an injective view the caller borrows exclusively, and no other live view may cover
/// the same elements.
unsafe fn quadrant_mut<'a, T: Float>(
    ptr: *mut T,
    rs: usize,
    cs: usize,
    r: usize,
    s: usize,
    rows: usize,
    cols: usize,
) -> MatMut<'a, T> {
    let start = r * rs + s * cs;
    let len = (rows - 1) * rs + (cols - 1) * cs + 1;
    // SAFETY: the caller guarantees the block is inside the exclusively borrowed view, so these `len` elements
    // are valid; the view built over them is injective because the parent is.
    let slice = unsafe { std::slice::from_raw_parts_mut(ptr.add(start), len) };
    MatMut::from_slice(slice, rows, cols, rs, cs).expect("quadrant of a valid view")
}

/// A random-free helper for tests and benches: the classical and Strassen products of the same operands.
#[doc(hidden)]
pub fn product_pair<T: GemmFloat>(s: &Strassen<T>, a: &Matrix<T>, b: &Matrix<T>) -> (Matrix<T>, Matrix<T>) {
    let (m, n) = (a.rows(), b.cols());
    let mut classical = Matrix::zeros(m, n);
    let mut fast = Matrix::zeros(m, n);
    s.plan.run(T::ONE, a.as_ref(), b.as_ref(), T::ZERO, classical.as_mut(), Parallelism::None).expect("shapes");
    s.run(T::ONE, a.as_ref(), b.as_ref(), T::ZERO, fast.as_mut(), Parallelism::None).expect("shapes");
    (classical, fast)
}
