//! Strided matrix views ([`MatRef`], [`MatMut`]) and an owned, 64-byte-aligned [`Matrix`].
//!
//! Element `(i, j)` of a view lives at `ptr + i * row_stride + j * col_stride` (strides in elements). Row-major
//! data has `col_stride == 1`, column-major data `row_stride == 1`; a transpose swaps the strides, copies
//! nothing. Constructors check that every element lies inside the slice, and [`MatMut`] also that no two
//! elements share memory, so kernels (and threads) can write through the view without aliasing.

use std::marker::PhantomData;

use tachyon_simd::mem::AlignedVec;
use tachyon_simd::Float;

/// A shape or layout that cannot be used: the message says which operand and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// A strided view would reach past the end of its slice.
    #[error(
        "{rows}x{cols} view with strides ({row_stride}, {col_stride}) needs {needed} elements, the slice has {len}"
    )]
    OutOfBounds {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Row stride (elements).
        row_stride: usize,
        /// Column stride (elements).
        col_stride: usize,
        /// Elements the view needs.
        needed: usize,
        /// Elements available.
        len: usize,
    },
    /// A mutable view whose strides make two elements share memory.
    #[error("mutable {rows}x{cols} view with strides ({row_stride}, {col_stride}) would alias elements")]
    Aliasing {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Row stride (elements).
        row_stride: usize,
        /// Column stride (elements).
        col_stride: usize,
    },
    /// Operand shapes that do not fit together.
    #[error("shape mismatch in {op}: {detail}")]
    Mismatch {
        /// The operation.
        op: &'static str,
        /// The shapes involved.
        detail: String,
    },
}

/// Index of the last element of a strided view, plus one (0 for an empty view).
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

fn check_bounds(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<(), ShapeError> {
    match extent(rows, cols, rs, cs) {
        Some(needed) if needed <= len => Ok(()),
        needed => Err(ShapeError::OutOfBounds {
            rows,
            cols,
            row_stride: rs,
            col_stride: cs,
            needed: needed.unwrap_or(usize::MAX),
            len,
        }),
    }
}

/// Whether distinct `(i, j)` of a `rows x cols` view with these strides always map to distinct offsets.
fn is_injective(rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    if rows == 0 || cols == 0 || (rows == 1 && cols == 1) {
        return true;
    }
    if rows <= 1 {
        return cs >= 1;
    }
    if cols <= 1 {
        return rs >= 1;
    }
    // One stride must step over the whole extent of the other dimension.
    (cs >= 1 && rs >= cs.saturating_mul(cols)) || (rs >= 1 && cs >= rs.saturating_mul(rows))
}

/// An immutable strided view of a `rows x cols` matrix.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    ptr: *const T,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    _data: PhantomData<&'a [T]>,
}

// SAFETY: a MatRef is a shared borrow of `T: Sync` data, like `&[T]`.
unsafe impl<T: Sync> Send for MatRef<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for MatRef<'_, T> {}

impl<'a, T: Float> MatRef<'a, T> {
    /// A view of `data` with explicit strides (elements).
    pub fn from_slice(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, ShapeError> {
        check_bounds(data.len(), rows, cols, row_stride, col_stride)?;
        Ok(MatRef { ptr: data.as_ptr(), rows, cols, rs: row_stride, cs: col_stride, _data: PhantomData })
    }

    /// A row-major view (`data[i * cols + j]`).
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        Self::from_slice(data, rows, cols, cols, 1)
    }

    /// A column-major view (`data[i + j * rows]`).
    pub fn col_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        Self::from_slice(data, rows, cols, 1, rows)
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Distance between rows, in elements.
    pub fn row_stride(&self) -> usize {
        self.rs
    }
    /// Distance between columns, in elements.
    pub fn col_stride(&self) -> usize {
        self.cs
    }
    /// Pointer to element (0, 0).
    pub fn as_ptr(&self) -> *const T {
        self.ptr
    }

    /// The transpose (swaps the strides; no copy).
    pub fn t(self) -> Self {
        MatRef { ptr: self.ptr, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, _data: PhantomData }
    }

    /// Element `(i, j)`.
    ///
    /// # Panics
    /// If `i >= rows` or `j >= cols`.
    pub fn get(&self, i: usize, j: usize) -> T {
        assert!(i < self.rows && j < self.cols, "index ({i}, {j}) out of a {}x{} matrix", self.rows, self.cols);
        // SAFETY: in bounds by the assert and the constructor's extent check.
        unsafe { *self.ptr.add(i * self.rs + j * self.cs) }
    }

    /// The `rows x cols` block starting at `(i, j)`.
    ///
    /// # Panics
    /// If the block does not fit.
    pub fn submatrix(self, i: usize, j: usize, rows: usize, cols: usize) -> Self {
        assert!(i + rows <= self.rows && j + cols <= self.cols, "block out of bounds");
        let offset = if rows == 0 || cols == 0 { 0 } else { i * self.rs + j * self.cs };
        // SAFETY: the block lies inside this view (assert), so the offset is inside the borrowed slice.
        MatRef { ptr: unsafe { self.ptr.add(offset) }, rows, cols, rs: self.rs, cs: self.cs, _data: PhantomData }
    }
}

/// A mutable strided view of a `rows x cols` matrix whose elements never alias each other.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    ptr: *mut T,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    _data: PhantomData<&'a mut [T]>,
}

// SAFETY: a MatMut is an exclusive borrow of `T: Send` data, like `&mut [T]`.
unsafe impl<T: Send> Send for MatMut<'_, T> {}
// SAFETY: shared access to a MatMut only reads (through `rb`), like `&&mut [T]`.
unsafe impl<T: Sync> Sync for MatMut<'_, T> {}

impl<'a, T: Float> MatMut<'a, T> {
    /// A view of `data` with explicit strides (elements); rejects strides under which elements alias.
    pub fn from_slice(
        data: &'a mut [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, ShapeError> {
        check_bounds(data.len(), rows, cols, row_stride, col_stride)?;
        if !is_injective(rows, cols, row_stride, col_stride) {
            return Err(ShapeError::Aliasing { rows, cols, row_stride, col_stride });
        }
        Ok(MatMut { ptr: data.as_mut_ptr(), rows, cols, rs: row_stride, cs: col_stride, _data: PhantomData })
    }

    /// A row-major view (`data[i * cols + j]`).
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        Self::from_slice(data, rows, cols, cols, 1)
    }

    /// A column-major view (`data[i + j * rows]`).
    pub fn col_major(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self, ShapeError> {
        Self::from_slice(data, rows, cols, 1, rows)
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Distance between rows, in elements.
    pub fn row_stride(&self) -> usize {
        self.rs
    }
    /// Distance between columns, in elements.
    pub fn col_stride(&self) -> usize {
        self.cs
    }
    /// Pointer to element (0, 0).
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr
    }

    /// A shorter-lived mutable view of the same elements.
    pub fn rb_mut(&mut self) -> MatMut<'_, T> {
        MatMut { ptr: self.ptr, rows: self.rows, cols: self.cols, rs: self.rs, cs: self.cs, _data: PhantomData }
    }

    /// An immutable view of the same elements.
    pub fn rb(&self) -> MatRef<'_, T> {
        MatRef { ptr: self.ptr, rows: self.rows, cols: self.cols, rs: self.rs, cs: self.cs, _data: PhantomData }
    }

    /// The transpose (swaps the strides; no copy).
    pub fn t(self) -> Self {
        MatMut { ptr: self.ptr, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, _data: PhantomData }
    }

    /// Element `(i, j)`.
    ///
    /// # Panics
    /// If out of bounds.
    pub fn get(&self, i: usize, j: usize) -> T {
        self.rb().get(i, j)
    }

    /// Sets element `(i, j)`.
    ///
    /// # Panics
    /// If out of bounds.
    pub fn set(&mut self, i: usize, j: usize, value: T) {
        assert!(i < self.rows && j < self.cols, "index ({i}, {j}) out of a {}x{} matrix", self.rows, self.cols);
        // SAFETY: in bounds by the assert and the constructor's extent check; exclusive by `&mut self`.
        unsafe { *self.ptr.add(i * self.rs + j * self.cs) = value }
    }

    /// The `rows x cols` block starting at `(i, j)`.
    ///
    /// # Panics
    /// If the block does not fit.
    pub fn submatrix(self, i: usize, j: usize, rows: usize, cols: usize) -> Self {
        assert!(i + rows <= self.rows && j + cols <= self.cols, "block out of bounds");
        let offset = if rows == 0 || cols == 0 { 0 } else { i * self.rs + j * self.cs };
        // SAFETY: the block lies inside this view (assert); a sub-block of an injective view is injective.
        MatMut { ptr: unsafe { self.ptr.add(offset) }, rows, cols, rs: self.rs, cs: self.cs, _data: PhantomData }
    }
}

/// `y = alpha x + beta y`, element by element; with `beta == 0`, `y` is overwritten (NaN in it is ignored).
///
/// # Panics
/// If the shapes differ.
pub fn axpby<T: Float>(alpha: T, x: MatRef<'_, T>, beta: T, mut y: MatMut<'_, T>) {
    assert!(
        x.rows() == y.rows() && x.cols() == y.cols(),
        "axpby: {}x{} into {}x{}",
        x.rows(),
        x.cols(),
        y.rows(),
        y.cols()
    );
    for i in 0..y.rows() {
        for j in 0..y.cols() {
            let old = if beta == T::ZERO { T::ZERO } else { beta * y.get(i, j) };
            y.set(i, j, alpha * x.get(i, j) + old);
        }
    }
}

/// An owned row-major matrix in a 64-byte-aligned buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<T: Float> {
    data: AlignedVec<T>,
    rows: usize,
    cols: usize,
}

impl<T: Float> Matrix<T> {
    /// A `rows x cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { data: AlignedVec::zeroed(rows * cols), rows, cols }
    }

    /// A matrix whose element `(i, j)` is `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> T) -> Self {
        let mut m = Self::zeros(rows, cols);
        for i in 0..rows {
            for j in 0..cols {
                m.data[i * cols + j] = f(i, j);
            }
        }
        m
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// The elements, row by row.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }
    /// The elements, row by row, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }
    /// An immutable view.
    pub fn as_ref(&self) -> MatRef<'_, T> {
        MatRef { ptr: self.data.as_ptr(), rows: self.rows, cols: self.cols, rs: self.cols, cs: 1, _data: PhantomData }
    }
    /// A mutable view.
    pub fn as_mut(&mut self) -> MatMut<'_, T> {
        MatMut {
            ptr: self.data.as_mut_ptr(),
            rows: self.rows,
            cols: self.cols,
            rs: self.cols,
            cs: 1,
            _data: PhantomData,
        }
    }
    /// Element `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> T {
        self.as_ref().get(i, j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_check_bounds_and_aliasing() {
        let data = vec![0.0f32; 12];
        assert!(MatRef::row_major(&data, 3, 4).is_ok());
        assert!(matches!(MatRef::row_major(&data, 4, 4), Err(ShapeError::OutOfBounds { needed: 16, len: 12, .. })));
        assert!(MatRef::from_slice(&data, 3, 4, 0, 1).is_ok(), "broadcast rows are fine to read");
        let mut data = vec![0.0f32; 12];
        let err = MatMut::from_slice(&mut data, 3, 4, 0, 1).unwrap_err();
        assert!(err.to_string().contains("alias"), "{err}");
        assert!(MatMut::from_slice(&mut data, 3, 2, 4, 1).is_ok(), "a sub-block of a row-major 3x4");
        assert!(MatMut::from_slice(&mut data, 3, 4, 1, 3).is_ok());
        assert!(MatMut::from_slice(&mut data, 3, 4, 1, 2).is_err());
        assert!(MatMut::from_slice(&mut data, 0, 4, 0, 0).is_ok());
    }

    #[test]
    fn transpose_and_blocks_index_the_same_elements() {
        let m = Matrix::from_fn(3, 5, |i, j| (10 * i + j) as f64);
        let v = m.as_ref();
        assert_eq!(v.t().get(4, 2), 24.0);
        let b = v.submatrix(1, 2, 2, 3);
        assert_eq!((b.rows(), b.cols(), b.get(1, 2)), (2, 3, 24.0));
        assert_eq!(b.t().get(2, 1), 24.0);
    }
}
