//! The int8 path of a [`crate::CompiledModel`]: post-training quantisation calibrated on data ([`pack`]), integer
//! kernels bit-identical on every instruction set ([`kernel`]), and the accuracy figures that decide whether a
//! quantisation is accepted (this file).
//!
//! Kernels: scalar, AVX2 (`vpmaddwd`) and, on an AVX-512 CPU with VNNI, `vpdpbusd` (u8 x i8 quads summed into i32
//! in one instruction) for 8-bit activations or `vpdpwssd` (i16 pairs) for 12-bit ones.
//! [`crate::CompiledModel::quantize`] keeps 8-bit activations where they pass the accuracy check and falls back to
//! 12 bits (see [`pack`]). An AVX-512 CPU without VNNI runs the AVX2 kernel (the same results by construction).
//!
//! A row whose inputs or activations leave the calibrated range is not clamped: the kernels report it, and the
//! compiled model computes that row with its f32 network (counted in [`crate::Scratch::fallback_rows`]).
//! Clamping was the int8 path's largest error on real data: a feature 63 standard deviations out on a validation
//! row, against a calibrated maximum of 49, moved that row's output by a whole output standard deviation.

pub(crate) mod kernel;
pub(crate) mod pack;

pub use pack::{ActivationBits, Calibration};

use tachyon_simd::isa::Avx512Vnni;
use tachyon_simd::{Backend, Isa};

use crate::compiled::CompileError;
pub(crate) use pack::{QuantNetwork, QuantScratch};

/// Lowest correlation between int8 and f32 outputs on the check rows that [`crate::CompiledModel::quantize`]
/// accepts.
pub const MIN_CORRELATION: f64 = 0.999;
/// Largest RMS error of the int8 outputs accepted, in standard deviations of the f32 outputs. A correlation of
/// 0.999 allows sqrt(2 x 0.001) = 0.045 when the error is noise; correlation cannot see a scale or offset error,
/// this does (a 5% scale error alone reaches 0.05).
pub const MAX_RMS_ERROR: f64 = 0.05;
/// Largest 99.9th percentile of |int8 - f32| accepted, in standard deviations of the f32 outputs: no more than one
/// signal in a thousand moves by more than a quarter of the signal's spread.
pub const MAX_P999_ERROR: f64 = 0.25;
/// Largest share of the check rows that may fall outside the calibrated range (and be computed in f32): beyond it,
/// the calibration rows do not describe the data, and int8 would serve too few rows to be worth its check.
pub const MAX_FALLBACK_SHARE: f64 = 0.01;

/// How much quantisation changed the outputs, on rows held out from calibration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantReport {
    /// Outputs compared (rows times outputs per row).
    pub rows: usize,
    /// Largest |int8 - f32| over all outputs (output units, e.g. bps).
    pub max_abs_error: f64,
    /// Mean |int8 - f32|.
    pub mean_abs_error: f64,
    /// Root mean square of int8 - f32.
    pub rms_error: f64,
    /// 99.9th percentile of |int8 - f32|.
    pub p999_abs_error: f64,
    /// Standard deviation of the f32 outputs, to read the errors against.
    pub f32_std: f64,
    /// Pearson correlation of int8 with f32 outputs.
    pub correlation: f64,
    /// Width of the activations this report is for.
    pub bits: ActivationBits,
    /// Share of the rows outside the calibrated range, computed by the f32 network (their error is 0).
    pub fallback_share: f64,
}

/// Why a network was not quantised.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The network or instruction set is not usable.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// Too few rows to calibrate or check on.
    #[error("quantisation needs at least 2 calibration rows and 2 check rows, got {calibration} and {check}")]
    TooFewRows {
        /// Calibration rows given.
        calibration: usize,
        /// Check rows given.
        check: usize,
    },
    /// The int8 outputs track the f32 outputs too loosely.
    #[error(
        "int8 outputs on {} check rows, even with {}-bit activations: correlation with f32 {:.5} (required >= \
         {MIN_CORRELATION}), RMS error {:.3} and 99.9th-percentile error {:.3} f32 output standard deviations \
         (required <= {MAX_RMS_ERROR} and <= {MAX_P999_ERROR}; f32 output std {:.4e}, max |error| {:.4e}), rows \
         outside the calibrated range {:.2}% (required <= {}%): refusing to quantise; keep the f32 predictor, or \
         calibrate on rows that cover the live feature ranges",
        report.rows, report.bits.bits(), report.correlation, report.rms_error / report.f32_std,
        report.p999_abs_error / report.f32_std, report.f32_std, report.max_abs_error,
        100.0 * report.fallback_share, 100.0 * MAX_FALLBACK_SHARE
    )]
    Inaccurate {
        /// The measured accuracy.
        report: QuantReport,
    },
}

/// Calibration rows spread evenly over `rows` (whole rows of `width` values, in time order), at most `at_most`
/// of them: the first rows alone would describe one part of the period (a day's morning), not all of it.
pub fn spread_rows(rows: &[f32], width: usize, at_most: usize) -> Vec<f32> {
    let n = rows.len() / width.max(1);
    let stride = n.div_ceil(at_most.max(1)).max(1);
    rows.chunks_exact(width.max(1)).step_by(stride).flatten().copied().collect()
}

/// Which integer kernel runs: chosen once, when the predictor is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Int8Kernel {
    /// The scalar twin.
    Scalar,
    /// AVX2 `vpmaddwd` (also on AVX-512 CPUs without VNNI).
    Avx2,
    /// AVX-512 VNNI `vpdpwssd` / `vpdpbusd` (the token proves the CPU has them).
    Avx512Vnni(Avx512Vnni),
}

impl Int8Kernel {
    /// The kernel for `backend`.
    pub(crate) fn for_backend(backend: &Backend) -> Int8Kernel {
        match (backend.isa(), backend.vnni()) {
            (Isa::Scalar, _) => Int8Kernel::Scalar,
            (_, Some(vnni)) => Int8Kernel::Avx512Vnni(vnni),
            _ => Int8Kernel::Avx2,
        }
    }

    /// Short name for reports: `scalar`, `avx2`, `avx512vnni`.
    pub fn name(self) -> &'static str {
        match self {
            Int8Kernel::Scalar => "scalar",
            Int8Kernel::Avx2 => "avx2",
            Int8Kernel::Avx512Vnni(_) => "avx512vnni",
        }
    }
}

/// One whole row through `kernel` into `y` (`net.outputs()` slots); false, with `y` untouched, if an input or
/// activation was out of the calibrated range.
#[inline(always)]
pub(crate) fn row_into(
    kernel: Int8Kernel,
    net: &QuantNetwork,
    scratch: &mut QuantScratch,
    row: &[f32],
    y: &mut [f32],
) -> bool {
    debug_assert_eq!(row.len(), net.inputs);
    // SAFETY: the kernel's CPU features were checked when the predictor was made; the row is whole (the caller's
    // check, asserted above); scratch made for `net`.
    let in_range = unsafe { run(kernel, net, scratch, row.as_ptr()) };
    if in_range {
        y.copy_from_slice(&scratch.output[..y.len()]);
    }
    in_range
}

/// One row through `kernel`; returns whether every activation was in the calibrated range.
///
/// # Safety
/// This CPU has `kernel`'s features (as [`Int8Kernel::for_backend`] chose it for a backend); `x`
/// holds `net.inputs` values; `scratch` was made for `net`.
#[inline(always)]
pub(crate) unsafe fn run(kernel: Int8Kernel, net: &QuantNetwork, scratch: &mut QuantScratch, x: *const f32) -> bool {
    match kernel {
        // SAFETY: forwarded from the caller.
        Int8Kernel::Scalar => unsafe { kernel::forward_scalar(net, x, scratch) },
        // SAFETY: AVX2 or AVX-512 (which implies AVX2 and FMA) was checked at construction.
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx2 => unsafe { kernel::forward_avx2(net, x, scratch) },
        // SAFETY: the token proves the CPU has AVX-512 F/BW/DQ/VL and VNNI; the rest is forwarded from the caller.
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx512Vnni(vnni) => unsafe {
            match net.bits {
                ActivationBits::Eight => kernel::forward_vnni8(vnni, net, x, scratch),
                ActivationBits::Twelve => kernel::forward_vnni(vnni, net, x, scratch),
            }
        },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the scalar path exists on this target"),
    }
}

impl QuantReport {
    /// Whether the int8 outputs are close enough to serve: correlation, RMS error, 99.9th-percentile error and the
    /// share of rows outside the calibrated range all within their limits ([`MIN_CORRELATION`],
    /// [`MAX_RMS_ERROR`], [`MAX_P999_ERROR`], [`MAX_FALLBACK_SHARE`]).
    pub fn acceptable(&self) -> bool {
        self.correlation >= MIN_CORRELATION
            && self.rms_error <= MAX_RMS_ERROR * self.f32_std
            && self.p999_abs_error <= MAX_P999_ERROR * self.f32_std
            && self.fallback_share <= MAX_FALLBACK_SHARE
    }
}

/// Error statistics of `got` (computed with `bits`-wide activations, a `fallback_share` of the rows by the f32
/// network) against `want`.
pub fn compare(got: &[f32], want: &[f32], bits: ActivationBits, fallback_share: f64) -> QuantReport {
    let n = want.len().max(1) as f64;
    let (mut max_abs, mut sum_abs, mut sum_sq) = (0.0f64, 0.0, 0.0);
    let mut errors: Vec<f64> = Vec::with_capacity(want.len());
    for (&g, &w) in got.iter().zip(want) {
        let e = (f64::from(g) - f64::from(w)).abs();
        let e = if e.is_nan() { f64::INFINITY } else { e };
        max_abs = max_abs.max(e);
        sum_abs += e;
        sum_sq += e * e;
        errors.push(e);
    }
    let p999 = match errors.len() {
        0 => 0.0,
        len => *errors.select_nth_unstable_by(((len - 1) as f64 * 0.999).round() as usize, f64::total_cmp).1,
    };
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let (mg, mw) = (mean(got), mean(want));
    let (mut cov, mut vg, mut vw) = (0.0, 0.0, 0.0);
    for (&g, &w) in got.iter().zip(want) {
        let (dg, dw) = (f64::from(g) - mg, f64::from(w) - mw);
        cov += dg * dw;
        vg += dg * dg;
        vw += dw * dw;
    }
    let correlation = if vg > 0.0 && vw > 0.0 {
        cov / (vg * vw).sqrt()
    } else if max_abs == 0.0 {
        1.0
    } else {
        0.0
    };
    QuantReport {
        bits,
        fallback_share,
        rows: want.len(),
        max_abs_error: max_abs,
        mean_abs_error: sum_abs / n,
        rms_error: (sum_sq / n).sqrt(),
        p999_abs_error: p999,
        f32_std: (vw / n).sqrt(),
        correlation: if correlation.is_nan() { 0.0 } else { correlation },
    }
}
