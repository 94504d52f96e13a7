//! Plain-iterator versions of the kernels: what a user would write without us. Benchmarks compare against them
//! (they are not used by any Tachyon code path). Reductions here sum in sequential order, and the transcendental
//! functions call the platform libm per element.

use crate::float::Float;

/// `a.iter().zip(b).map(|(x, y)| x * y).sum()`.
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::ZERO, |acc, (&x, &y)| acc + x * y)
}

/// Sequential sum.
pub fn sum<T: Float>(a: &[T]) -> T {
    a.iter().fold(T::ZERO, |acc, &x| acc + x)
}

/// Sequential sum of squares.
pub fn sum_sq<T: Float>(a: &[T]) -> T {
    a.iter().fold(T::ZERO, |acc, &x| acc + x * x)
}

/// First maximum by `enumerate().fold` (ignores NaN).
pub fn argmax<T: Float>(a: &[T]) -> Option<(usize, T)> {
    a.iter().enumerate().fold(None, |best, (i, &x)| match best {
        Some((_, b)) if x > b => Some((i, x)),
        Some(_) => best,
        None => Some((i, x)),
    })
}

/// `y[i] += alpha * x[i]`.
pub fn axpy<T: Float>(alpha: T, x: &[T], y: &mut [T]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y = alpha * x + *y);
}

/// `out[i] = alpha * x[i]`.
pub fn scale<T: Float>(alpha: T, x: &[T], out: &mut [T]) {
    out.iter_mut().zip(x).for_each(|(o, &x)| *o = alpha * x);
}

/// `out[i] = a[i] + b[i]`.
pub fn add<T: Float>(a: &[T], b: &[T], out: &mut [T]) {
    out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&a, &b))| *o = a + b);
}

/// `out[i] = a[i] * b[i] + c[i]` (unfused).
pub fn mul_add<T: Float>(a: &[T], b: &[T], c: &[T], out: &mut [T]) {
    out.iter_mut().zip(a.iter().zip(b.iter().zip(c))).for_each(|(o, (&a, (&b, &c)))| *o = a * b + c);
}

/// `out[i] = max(x[i], 0)`.
pub fn relu<T: Float>(x: &[T], out: &mut [T]) {
    out.iter_mut().zip(x).for_each(|(o, &x)| *o = if x < T::ZERO { T::ZERO } else { x });
}

/// Element-wise libm `exp`.
pub fn exp<T: Float>(x: &[T], out: &mut [T]) {
    out.iter_mut().zip(x).for_each(|(o, &x)| *o = x.libm_exp());
}

/// Element-wise libm `tanh`.
pub fn tanh<T: Float>(x: &[T], out: &mut [T]) {
    out.iter_mut().zip(x).for_each(|(o, &x)| *o = x.libm_tanh());
}

/// Element-wise `1 / (1 + exp(-x))` with libm `exp`.
pub fn sigmoid<T: Float>(x: &[T], out: &mut [T]) {
    out.iter_mut().zip(x).for_each(|(o, &x)| *o = T::ONE / (T::ONE + (-x).libm_exp()));
}
