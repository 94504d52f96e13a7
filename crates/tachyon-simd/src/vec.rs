//! Vector kernels on the active instruction set, generic over [`Float`] (`f32`, `f64`).
//!
//! Each function looks up the active table ([`crate::kernels`]) and calls its entry; code that calls kernels in
//! a loop should hold a [`KernelTable`](crate::KernelTable) instead. All functions panic if slice lengths differ.

use crate::float::Float;
use crate::table::kernels;

/// `sum_i a[i] * b[i]`.
#[inline]
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    (kernels::<T>().dot)(a, b)
}

/// `sum_i a[i]`.
#[inline]
pub fn sum<T: Float>(a: &[T]) -> T {
    (kernels::<T>().sum)(a)
}

/// `sum_i a[i]^2`.
#[inline]
pub fn sum_sq<T: Float>(a: &[T]) -> T {
    (kernels::<T>().sum_sq)(a)
}

/// Index and value of the first minimum (the first NaN if any); `None` if empty.
#[inline]
pub fn argmin<T: Float>(a: &[T]) -> Option<(usize, T)> {
    (kernels::<T>().argmin)(a)
}

/// Index and value of the first maximum (the first NaN if any); `None` if empty.
#[inline]
pub fn argmax<T: Float>(a: &[T]) -> Option<(usize, T)> {
    (kernels::<T>().argmax)(a)
}

/// `y[i] += alpha * x[i]`.
#[inline]
pub fn axpy<T: Float>(alpha: T, x: &[T], y: &mut [T]) {
    (kernels::<T>().axpy)(alpha, x, y)
}

/// `out[i] = alpha * x[i]`.
#[inline]
pub fn scale<T: Float>(alpha: T, x: &[T], out: &mut [T]) {
    (kernels::<T>().scale)(alpha, x, out)
}

/// `x[i] *= alpha`.
#[inline]
pub fn scale_inplace<T: Float>(alpha: T, x: &mut [T]) {
    (kernels::<T>().scale_inplace)(alpha, x)
}

/// `out[i] = a[i] + b[i]`.
#[inline]
pub fn add<T: Float>(a: &[T], b: &[T], out: &mut [T]) {
    (kernels::<T>().add)(a, b, out)
}

/// `out[i] = a[i] - b[i]`.
#[inline]
pub fn sub<T: Float>(a: &[T], b: &[T], out: &mut [T]) {
    (kernels::<T>().sub)(a, b, out)
}

/// `out[i] = a[i] * b[i]`.
#[inline]
pub fn mul<T: Float>(a: &[T], b: &[T], out: &mut [T]) {
    (kernels::<T>().mul)(a, b, out)
}

/// `out[i] = a[i] * b[i] + c[i]` (one rounding on FMA paths).
#[inline]
pub fn mul_add<T: Float>(a: &[T], b: &[T], c: &[T], out: &mut [T]) {
    (kernels::<T>().mul_add)(a, b, c, out)
}

/// `out[i] = max(x[i], 0)`.
#[inline]
pub fn relu<T: Float>(x: &[T], out: &mut [T]) {
    (kernels::<T>().relu)(x, out)
}

/// `out[i] = e^x[i]`.
#[inline]
pub fn exp<T: Float>(x: &[T], out: &mut [T]) {
    (kernels::<T>().exp)(x, out)
}

/// `out[i] = tanh x[i]`.
#[inline]
pub fn tanh<T: Float>(x: &[T], out: &mut [T]) {
    (kernels::<T>().tanh)(x, out)
}

/// `out[i] = 1 / (1 + e^-x[i])`.
#[inline]
pub fn sigmoid<T: Float>(x: &[T], out: &mut [T]) {
    (kernels::<T>().sigmoid)(x, out)
}
