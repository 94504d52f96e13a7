//! A check of the predictors on one instruction set of this machine: the f32 model against the f64 forward pass,
//! the int8 model bit for bit against its scalar twin, and int8 against f32 by the limits that decide whether
//! int8 may serve ([`QuantReport::acceptable`]). For `tachyon validate`; the tests check more shapes.

use tachyon_model::{Activation, DenseNetwork, SplitMix64};
use tachyon_simd::{Backend, Isa};

use crate::quant::{Calibration, QuantError, QuantReport};
use crate::CompiledModel;

/// Largest relative error of an f32 output against the f64 forward pass, relative to the larger of the output's
/// magnitude and the mean magnitude of the outputs: a 44-64-64-1 network sums 44 and 64 products per layer in
/// f32 (u = 6e-8), so a correct kernel stays two orders of magnitude below it.
pub const F32_TOLERANCE: f64 = 1e-5;

/// Rows each check computes.
const ROWS: usize = 2000;

/// The outcome of [`check_predictors`].
#[derive(Clone, Debug)]
pub struct PredictorCheck {
    /// The instruction set checked.
    pub isa: Isa,
    /// Largest relative error of the f32 model against the f64 forward pass (see [`F32_TOLERANCE`]).
    pub f32_relative_error: f64,
    /// The int8 outputs equal the scalar path's bit for bit.
    pub int8_bit_identical: bool,
    /// The int8 model against the f32 model on rows it was not calibrated on.
    pub int8_vs_f32: QuantReport,
}

impl PredictorCheck {
    /// Whether every part passed.
    pub fn passed(&self) -> bool {
        self.f32_relative_error <= F32_TOLERANCE && self.int8_bit_identical && self.int8_vs_f32.acceptable()
    }
}

/// Checks the predictors of `backend`'s instruction set on a seeded 44-64-64-1 ReLU network (the shape of the standard benchmark
/// network) with raw feature rows around its standardisation means.
pub fn check_predictors(backend: &Backend) -> Result<PredictorCheck, QuantError> {
    let isa = backend.isa();
    let scalar = Backend::new(Isa::Scalar).expect("the scalar twin runs everywhere");
    let mut net = DenseNetwork::seeded(&[44, 64, 64, 1], Activation::Relu, 5);
    let mut rng = SplitMix64(9);
    for (m, s) in net.mean.iter_mut().zip(net.std.iter_mut()) {
        *m = (rng.next_f64() - 0.5) * 1000.0;
        *s = 0.2 + rng.next_f64() * 20.0;
    }
    let rows = |seed| {
        let mut rng = SplitMix64(seed);
        let mut out = Vec::with_capacity(ROWS * net.inputs);
        for _ in 0..ROWS {
            out.extend(net.mean.iter().zip(&net.std).map(|(m, s)| (m + s * rng.uniform(-1.0, 1.0)) as f32));
        }
        out
    };
    let (calibration_rows, check_rows) = (rows(1), rows(2));

    let f32_model = CompiledModel::compile(&net, backend)?;
    let mut got = vec![0.0f32; ROWS * net.outputs()];
    f32_model.predict_batch(&check_rows, &mut f32_model.scratch(), &mut got).expect("sized");
    let want: Vec<f64> = check_rows.chunks_exact(net.inputs).flat_map(|row| net.forward_f64(row)).collect();
    let typical = want.iter().map(|v| v.abs()).sum::<f64>() / want.len() as f64;
    let f32_relative_error =
        got.iter().zip(&want).map(|(&g, &w)| (f64::from(g) - w).abs() / w.abs().max(typical)).fold(0.0, f64::max);

    let (int8_model, int8_vs_f32) = match CompiledModel::quantize(&net, &calibration_rows, &check_rows, backend) {
        Ok(done) => done,
        Err(QuantError::Inaccurate { report }) => {
            // Refused: still compare the paths, at the width the report was made with.
            let calibration = Calibration::fit_bits(&net, &calibration_rows, report.bits);
            (CompiledModel::with_calibration(&net, calibration, backend)?, report)
        }
        Err(e) => return Err(e),
    };
    let calibration = int8_model.calibration().expect("an int8 model").clone();
    let twin = CompiledModel::with_calibration(&net, calibration, &scalar)?;
    let int8_bit_identical = integer_rows(&int8_model, &check_rows) == integer_rows(&twin, &check_rows);
    Ok(PredictorCheck { isa, f32_relative_error, int8_bit_identical, int8_vs_f32 })
}

/// The output bits of every row that `model`'s integer kernels computed, and `None` for each row its f32 network
/// computed instead (out of the calibrated range): what must be identical on every path, since the f32 network's
/// rounding differs between instruction sets.
pub fn integer_rows(model: &CompiledModel, rows: &[f32]) -> Vec<Option<Vec<u32>>> {
    let mut scratch = model.scratch();
    let mut y = vec![0.0f32; model.outputs()];
    rows.chunks_exact(model.inputs())
        .map(|row| {
            let before = scratch.fallback_rows();
            model.predict(row, &mut scratch, &mut y).expect("whole rows");
            (scratch.fallback_rows() == before).then(|| y.iter().map(|v| v.to_bits()).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_instruction_set_passes() {
        for isa in tachyon_simd::isa::levels_under_test() {
            let check = check_predictors(&Backend::new(isa).unwrap()).unwrap();
            assert!(check.passed(), "{check:?}");
            assert!(check.f32_relative_error > 0.0, "an f32 model rounds somewhere: {check:?}");
        }
    }
}
