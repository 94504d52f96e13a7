//! How accurate the vectorized exp, tanh and sigmoid are on one instruction set: the largest error in ulps of the
//! result against f64 references, over a dense sweep of each function's range (milliseconds) or over every `f32`
//! in it (minutes), and the bounds Tachyon documents and asserts (the table in `kernels/math.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::float::Float;
use crate::isa::Isa;
use crate::KernelTable;

/// Room above the largest error measured, ulps: a different FMA contraction by another compiler may move a result
/// by a fraction of an ulp, never by this much.
pub const MARGIN_ULP: f64 = 0.25;

/// Points of a [`sweep`] of a function's range (besides the points near zero).
pub const SWEEP_POINTS: usize = 2_000_000;

/// One of the transcendental kernels of [`KernelTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathFunction {
    /// `e^x`.
    Exp,
    /// The hyperbolic tangent.
    Tanh,
    /// The logistic function `1 / (1 + e^-x)`.
    Sigmoid,
}

impl MathFunction {
    /// All three.
    pub const ALL: [MathFunction; 3] = [MathFunction::Exp, MathFunction::Tanh, MathFunction::Sigmoid];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            MathFunction::Exp => "exp",
            MathFunction::Tanh => "tanh",
            MathFunction::Sigmoid => "sigmoid",
        }
    }

    /// The function in f64 (glibc's exp and tanh, within 1 ulp of f64; sigmoid written to be accurate for both
    /// signs).
    pub fn reference(self, x: f64) -> f64 {
        match self {
            MathFunction::Exp => x.exp(),
            MathFunction::Tanh => x.tanh(),
            MathFunction::Sigmoid if x >= 0.0 => 1.0 / (1.0 + (-x).exp()),
            MathFunction::Sigmoid => {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
    }

    /// The slice kernel of `table` computing this function.
    pub fn kernel<T>(self, table: &KernelTable<T>) -> fn(&[T], &mut [T]) {
        match self {
            MathFunction::Exp => table.exp,
            MathFunction::Tanh => table.tanh,
            MathFunction::Sigmoid => table.sigmoid,
        }
    }

    /// The range over which [`bound_ulp`](Self::bound_ulp) holds: where the result is a normal number that is not
    /// yet saturated (beyond it exp goes denormal or infinite, tanh is exactly +-1, sigmoid exactly 0 or 1).
    pub fn range<T: Float>(self) -> (f64, f64) {
        match (self, T::BYTES) {
            (MathFunction::Exp, 4) => (-87.0, 88.0),
            (MathFunction::Exp, _) => (-708.0, 709.0),
            (MathFunction::Tanh, 4) => (-12.0, 12.0),
            (MathFunction::Tanh, _) => (-25.0, 25.0),
            (MathFunction::Sigmoid, 4) => (-87.0, 20.0),
            (MathFunction::Sigmoid, _) => (-700.0, 40.0),
        }
    }

    /// The largest error measured on `isa` in ulps of the result, over every f32 of the range for f32 and the
    /// sweep for f64 (FMA paths share one algorithm, the scalar twin rounds differently), rounded up to 0.01, plus
    /// [`MARGIN_ULP`].
    pub fn bound_ulp<T: Float>(self, isa: Isa) -> f64 {
        let scalar = isa == Isa::Scalar;
        let measured = match (self, T::BYTES == 4, scalar) {
            (MathFunction::Exp, true, false) => 0.94,
            (MathFunction::Exp, true, true) => 1.22,
            (MathFunction::Exp, false, _) => 1.0,
            (MathFunction::Tanh, true, false) => 1.38,
            (MathFunction::Tanh, true, true) => 1.35,
            (MathFunction::Tanh, false, _) => 2.0,
            (MathFunction::Sigmoid, true, false) => 2.79,
            (MathFunction::Sigmoid, true, true) => 2.82,
            (MathFunction::Sigmoid, false, false) => 2.0,
            (MathFunction::Sigmoid, false, true) => 3.0,
        };
        measured + MARGIN_ULP
    }
}

/// The largest error found, in ulps of the result, and where.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UlpError {
    /// The largest error, ulps of the correctly rounded result.
    pub ulps: f64,
    /// The input where it occurred.
    pub at: f64,
    /// Inputs checked.
    pub points: u64,
    /// Inputs whose result was NaN (never right inside the range).
    pub nan_results: u64,
}

impl UlpError {
    fn merge(self, other: UlpError) -> UlpError {
        let worst = if other.ulps > self.ulps { other } else { self };
        UlpError {
            ulps: worst.ulps,
            at: worst.at,
            points: self.points + other.points,
            nan_results: self.nan_results + other.nan_results,
        }
    }
}

/// Size of one unit in the last place of the `T` nearest to `r` (denormal spacing below the normal range).
pub fn ulp_of<T: Float>(r: f64) -> f64 {
    let (mantissa_bits, min_exponent) = if T::BYTES == 4 { (23, -126) } else { (52, -1022) };
    // The unbiased exponent of r, read from its bits: floor(log2 |r|) for a normal r, -1023 for zero and denormals.
    let exponent = ((r.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    pow2(exponent.max(min_exponent) - mantissa_bits)
}

/// 2^k exactly, for k in [-1074, 1023] (powi loses the denormal range).
fn pow2(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074))
    }
}

/// `n + 1` points evenly spread over [lo, hi], plus points near zero at every scale down to 2^-59.
pub fn sweep<T: Float>(lo: f64, hi: f64, n: usize) -> Vec<T> {
    let mut v: Vec<T> = (0..=n).map(|i| T::from_f64(lo + (hi - lo) * i as f64 / n as f64)).collect();
    for k in 1..60 {
        let x = pow2(-k);
        if x >= lo.abs().min(hi.abs()) {
            continue;
        }
        v.extend([T::from_f64(x), T::from_f64(-x), T::from_f64(x * 1.37), T::from_f64(-x * 1.37)]);
    }
    v.retain(|x| x.to_f64() >= lo && x.to_f64() <= hi);
    v
}

/// The largest error of `function` on `table` over `xs`.
pub fn max_ulp_error<T: Float>(function: MathFunction, table: &KernelTable<T>, xs: &[T]) -> UlpError {
    let mut out = vec![T::ZERO; xs.len()];
    errors_of(function, table, xs, &mut out)
}

fn errors_of<T: Float>(function: MathFunction, table: &KernelTable<T>, xs: &[T], out: &mut [T]) -> UlpError {
    function.kernel(table)(xs, out);
    let mut worst = UlpError { points: xs.len() as u64, ..UlpError::default() };
    for (x, y) in xs.iter().zip(out.iter()) {
        let r = function.reference(x.to_f64());
        let err = (y.to_f64() - r).abs() / ulp_of::<T>(r);
        if err.is_nan() {
            worst.nan_results += 1;
        } else if err > worst.ulps {
            (worst.ulps, worst.at) = (err, x.to_f64());
        }
    }
    worst
}

/// Finite f32 ordered by value map to consecutive integers: negatives by their magnitude's bits, reversed; -0.0 and
/// +0.0 share 0, so that each value is visited once.
fn f32_key(x: f32) -> i64 {
    if x < 0.0 {
        -i64::from((-x).to_bits())
    } else {
        i64::from(x.abs().to_bits())
    }
}

/// How many distinct f32 values lie in [lo, hi] (-0.0 and +0.0 counted once).
pub fn every_f32_count((lo, hi): (f64, f64)) -> u64 {
    (f32_key(hi as f32) - f32_key(lo as f32) + 1).max(0) as u64
}

/// The largest error of `function` on `table` over every `f32` in [lo, hi] (about 2 x 10^9 inputs for a
/// function's whole [`range`](MathFunction::range)), on `threads` threads; `progress` receives the inputs done so
/// far now and then.
pub fn max_ulp_error_every_f32(
    function: MathFunction,
    table: &KernelTable<f32>,
    (lo, hi): (f64, f64),
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> UlpError {
    const CHUNK: u64 = 1 << 16;
    let value = |k: i64| if k < 0 { -f32::from_bits((-k) as u32) } else { f32::from_bits(k as u32) };
    let first = f32_key(lo as f32);
    let total = every_f32_count((lo, hi));
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let (mut xs, mut out) = (vec![0f32; CHUNK as usize], vec![0f32; CHUNK as usize]);
                    let mut worst = UlpError::default();
                    loop {
                        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                        if start >= total {
                            return worst;
                        }
                        let n = CHUNK.min(total - start) as usize;
                        for (i, x) in xs[..n].iter_mut().enumerate() {
                            *x = value(first + (start as i64) + i as i64);
                        }
                        worst = worst.merge(errors_of(function, table, &xs[..n], &mut out[..n]));
                        progress(done.fetch_add(n as u64, Ordering::Relaxed) + n as u64);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("an accuracy worker panicked"))
            .fold(UlpError::default(), UlpError::merge)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulps_are_the_spacing_of_the_result() {
        assert_eq!(ulp_of::<f32>(1.0), f64::from(f32::EPSILON));
        assert_eq!(ulp_of::<f32>(1.5), f64::from(f32::EPSILON));
        assert_eq!(ulp_of::<f32>(-0.75), f64::from(f32::EPSILON) / 2.0);
        assert_eq!(ulp_of::<f64>(2.0), 2.0 * f64::EPSILON);
        // Zero and denormal results: the denormal spacing.
        assert_eq!(ulp_of::<f32>(0.0), pow2(-149));
        assert_eq!(ulp_of::<f32>(1e-40), pow2(-149));
        assert_eq!(ulp_of::<f64>(0.0), pow2(-1074));
    }

    #[test]
    fn every_f32_of_a_range_is_visited_once_and_a_wrong_kernel_is_found() {
        // A kernel one ulp off everywhere: exactly what the exhaustive walk must see, at its true size.
        let mut table = f32::kernels_for(Isa::Scalar).unwrap().clone();
        table.tanh = |xs, out| {
            for (x, y) in xs.iter().zip(out) {
                let t = (f64::from(*x)).tanh() as f32;
                *y = if t == 0.0 { t } else { f32::from_bits(t.to_bits() + 1) };
            }
        };
        // Across zero: the 7 positive denormals up to 1e-44, their negatives and zero (once for both signs).
        let err = max_ulp_error_every_f32(MathFunction::Tanh, &table, (-1e-44, 1e-44), 2, &|_| {});
        assert_eq!((err.points, err.nan_results, err.ulps), (15, 0, 1.0));
        let seen = AtomicU64::new(0);
        let err = max_ulp_error_every_f32(MathFunction::Tanh, &table, (1.0, 1.001), 2, &|n| {
            seen.fetch_max(n, Ordering::Relaxed);
        });
        let expected = u64::from(1.001f32.to_bits() - 1f32.to_bits()) + 1;
        assert_eq!(err.points, expected);
        assert_eq!(seen.load(Ordering::Relaxed), expected);
        assert!(err.ulps > 0.5 && err.ulps <= 1.5, "{err:?}");
        assert!(
            max_ulp_error_every_f32(
                MathFunction::Tanh,
                f32::kernels_for(Isa::Scalar).unwrap(),
                (1.0, 1.001),
                1,
                &|_| {}
            )
            .ulps
                < 1.0 + MARGIN_ULP
        );
    }
}
