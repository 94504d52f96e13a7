//! [`CompiledModel`]: a network compiled once for one instruction set, f32 or int8, immutable and shareable
//! between threads; every call brings its own [`Scratch`].
//!
//! The split is what lets a live process hold one model behind an `Arc` (or swap it atomically) while any number
//! of threads predict with it: the model is read-only, and all per-call state lives in the caller's scratch.

use std::sync::atomic::{AtomicU64, Ordering};

use tachyon_model::{DenseNetwork, Head, ModelError};
use tachyon_simd::{Backend, Isa};

use crate::dense::{self, PackedNetwork};
use crate::quant::{
    self, compare, pack, ActivationBits, Calibration, Int8Kernel, QuantError, QuantNetwork, QuantReport, QuantScratch,
};

/// Why a network could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The network is not valid, or cannot be compiled to the precision asked for.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// A call whose buffers do not fit the model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PredictError {
    /// A row of the wrong width.
    #[error("expected {expected} features per row, got {got}")]
    Width {
        /// Features the model takes.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// The output slice does not hold one row of outputs.
    #[error("expected room for {expected} outputs, got {got}")]
    Output {
        /// Outputs per row.
        expected: usize,
        /// Slots given.
        got: usize,
    },
    /// A batch's input is not whole rows, or its output buffer does not match.
    #[error("a batch of {values} input values is not whole rows of {inputs} features with {out} output slots ({outputs} per row)")]
    Batch {
        /// Input values given.
        values: usize,
        /// Features per row.
        inputs: usize,
        /// Output slots given.
        out: usize,
        /// Outputs per row.
        outputs: usize,
    },
    /// The scratch was made by another model (its buffers may be too small).
    #[error("this scratch was made for another model: make one with `CompiledModel::scratch`")]
    Scratch,
    /// A parallel batch was given no scratch.
    #[error("a parallel batch needs at least one scratch")]
    NoScratch,
}

/// How the compiled model computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 weights and activations.
    F32,
    /// int8 weights with `bits`-wide activations, run by `kernel`.
    Int8 {
        /// Activation width.
        bits: ActivationBits,
        /// The integer kernel chosen for the instruction set on this CPU.
        kernel: Int8Kernel,
    },
}

impl Precision {
    /// Short name for reports: `f32`, `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 { .. } => "int8",
        }
    }
}

#[derive(Debug)]
enum Engine {
    F32(PackedNetwork),
    /// `fallback` computes the rows that leave the calibrated range.
    Int8 {
        kernel: Int8Kernel,
        net: QuantNetwork,
        calibration: Calibration,
        fallback: PackedNetwork,
    },
}

#[derive(Clone, Debug)]
enum Buffers {
    F32(dense::Scratch),
    Int8 { quant: QuantScratch, fallback: dense::Scratch },
}

/// Per-call buffers of one [`CompiledModel`]: the staged input and every layer's activations, allocated once by
/// [`CompiledModel::scratch`]. One per thread that predicts.
#[derive(Clone, Debug)]
pub struct Scratch {
    model: u64,
    buffers: Buffers,
    fallback_rows: u64,
}

impl Scratch {
    /// Rows predicted with this scratch by an int8 model's f32 network instead of its integer kernels, because an
    /// input or activation lay outside the calibrated range (or was NaN): a live process watches this count to
    /// see when the data has moved away from the calibration rows.
    pub fn fallback_rows(&self) -> u64 {
        self.fallback_rows
    }
}

/// Distinguishes compiled models, so that a scratch made for one is never used with another.
static NEXT_MODEL_ID: AtomicU64 = AtomicU64::new(1);

/// A network compiled for one [`Backend`]: weights packed into the layout its kernels read, standardisation
/// folded in. Immutable, `Send + Sync`: share it between threads (e.g. in an `Arc`); each thread predicts with
/// its own [`Scratch`]. [`predict`](CompiledModel::predict) allocates nothing, takes no lock and makes no system
/// call.
#[derive(Debug)]
pub struct CompiledModel {
    id: u64,
    isa: Isa,
    engine: Engine,
    inputs: usize,
    outputs: usize,
    macs: usize,
    head: Head,
}

impl CompiledModel {
    fn new(net: &DenseNetwork, isa: Isa, engine: Engine) -> CompiledModel {
        CompiledModel {
            id: NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed),
            isa,
            engine,
            inputs: net.inputs,
            outputs: net.outputs(),
            macs: net.macs(),
            head: net.head,
        }
    }

    /// Compiles `net` to f32 for `backend`.
    pub fn compile(net: &DenseNetwork, backend: &Backend) -> Result<CompiledModel, CompileError> {
        net.validate()?;
        let isa = backend.isa();
        Ok(CompiledModel::new(net, isa, Engine::F32(PackedNetwork::new(net, isa.lanes(4)))))
    }

    /// Quantises `net` to int8 with scales calibrated on `calibration_rows`, then compares its outputs with the
    /// f32 model's on `check_rows` (both whole rows of raw features): 8-bit activations if their outputs are
    /// [acceptable](QuantReport::acceptable) (correlation, RMS error, 99.9th-percentile error and the share of
    /// rows outside the calibrated range), else 12-bit ones if theirs are, else an error with the 12-bit figures.
    ///
    /// The int8 model computes a row whose inputs or activations leave the calibrated range with the f32 network
    /// (see [`Scratch::fallback_rows`]), so that no output is clamped.
    pub fn quantize(
        net: &DenseNetwork,
        calibration_rows: &[f32],
        check_rows: &[f32],
        backend: &Backend,
    ) -> Result<(CompiledModel, QuantReport), QuantError> {
        let reference = CompiledModel::compile(net, backend)?;
        let (calibration, check) = (calibration_rows.len() / net.inputs, check_rows.len() / net.inputs);
        if calibration < 2 || check < 2 {
            return Err(QuantError::TooFewRows { calibration, check });
        }
        let check_rows = &check_rows[..check * net.inputs];
        let outputs = net.outputs();
        let mut want = vec![0.0f32; check * outputs];
        let mut got = vec![0.0f32; check * outputs];
        reference.predict_batch(check_rows, &mut reference.scratch(), &mut want).expect("shapes checked above");
        let mut report = None;
        for bits in [ActivationBits::Eight, ActivationBits::Twelve] {
            let calibration = Calibration::fit_bits(net, calibration_rows, bits);
            let q = CompiledModel::with_calibration(net, calibration, backend)?;
            let mut scratch = q.scratch();
            q.predict_batch(check_rows, &mut scratch, &mut got).expect("shapes checked above");
            let r = compare(&got, &want, bits, scratch.fallback_rows() as f64 / check as f64);
            if r.acceptable() {
                return Ok((q, r));
            }
            report = Some(r);
        }
        Err(QuantError::Inaccurate { report: report.expect("two widths were tried") })
    }

    /// Quantises with given scales, without the accuracy check (for tests and for scales stored elsewhere).
    pub fn with_calibration(
        net: &DenseNetwork,
        calibration: Calibration,
        backend: &Backend,
    ) -> Result<CompiledModel, CompileError> {
        net.validate()?;
        let malformed = |what: String| CompileError::Model(ModelError::Malformed(what));
        if calibration.activation_scales.len() + 1 != net.layers.len() {
            return Err(malformed("calibration does not match the network's shape".into()));
        }
        let scales = std::iter::once(&calibration.input_scale).chain(&calibration.activation_scales);
        if scales.into_iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(malformed("calibration scales must be positive and finite".into()));
        }
        if let Some(l) = net.layers.iter().position(|l| l.inputs > pack::MAX_LAYER_INPUTS) {
            return Err(malformed(format!(
                "layer {l} has {} inputs; int8 sums overflow beyond {}",
                net.layers[l].inputs,
                pack::MAX_LAYER_INPUTS
            )));
        }
        let kernel = Int8Kernel::for_backend(backend);
        let fallback = PackedNetwork::new(net, backend.isa().lanes(4));
        let engine = Engine::Int8 { kernel, net: QuantNetwork::new(net, &calibration), calibration, fallback };
        Ok(CompiledModel::new(net, backend.isa(), engine))
    }

    /// Buffers for one thread's calls.
    pub fn scratch(&self) -> Scratch {
        let buffers = match &self.engine {
            Engine::F32(net) => Buffers::F32(dense::Scratch::new(net)),
            Engine::Int8 { net, fallback, .. } => {
                Buffers::Int8 { quant: QuantScratch::new(net), fallback: dense::Scratch::new(fallback) }
            }
        };
        Scratch { model: self.id, buffers, fallback_rows: 0 }
    }

    /// The instruction set compiled for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// f32, or int8 with its activation width and kernel.
    pub fn precision(&self) -> Precision {
        match &self.engine {
            Engine::F32(_) => Precision::F32,
            Engine::Int8 { kernel, calibration, .. } => Precision::Int8 { bits: calibration.bits, kernel: *kernel },
        }
    }

    /// The int8 scales, for an int8 model.
    pub fn calibration(&self) -> Option<&Calibration> {
        match &self.engine {
            Engine::F32(_) => None,
            Engine::Int8 { calibration, .. } => Some(calibration),
        }
    }

    /// Raw features per row.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// What the outputs mean.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Multiply-adds per sample.
    pub fn macs(&self) -> usize {
        self.macs
    }

    /// Outputs for one row of raw features (`inputs()` values) into `out` (at least `outputs()` slots). Zero
    /// allocations.
    #[inline]
    pub fn predict(&self, features: &[f32], scratch: &mut Scratch, out: &mut [f32]) -> Result<(), PredictError> {
        if features.len() != self.inputs {
            return Err(PredictError::Width { expected: self.inputs, got: features.len() });
        }
        if out.len() < self.outputs {
            return Err(PredictError::Output { expected: self.outputs, got: out.len() });
        }
        self.check_scratch(scratch)?;
        self.run_rows(features, scratch, &mut out[..self.outputs]);
        Ok(())
    }

    /// Outputs for `rows` (whole rows of `inputs()` values) into `out` (`outputs()` per row), on this thread.
    pub fn predict_batch(&self, rows: &[f32], scratch: &mut Scratch, out: &mut [f32]) -> Result<(), PredictError> {
        self.check_batch(rows, out)?;
        self.check_scratch(scratch)?;
        self.run_rows(rows, scratch, out);
        Ok(())
    }

    /// [`predict_batch`](CompiledModel::predict_batch) split into contiguous chunks, one per scratch in
    /// `scratches`, run in parallel on the current rayon pool. Results are identical to the one-thread batch: rows
    /// are independent.
    pub fn predict_batch_parallel(
        &self,
        rows: &[f32],
        scratches: &mut [Scratch],
        out: &mut [f32],
    ) -> Result<(), PredictError> {
        self.check_batch(rows, out)?;
        if scratches.is_empty() {
            return Err(PredictError::NoScratch);
        }
        scratches.iter().try_for_each(|s| self.check_scratch(s))?;
        split_batch(scratches, rows, out, (self.inputs, self.outputs), &|scratch, rows, out| {
            self.run_rows(rows, scratch, out)
        });
        Ok(())
    }

    fn check_batch(&self, rows: &[f32], out: &[f32]) -> Result<(), PredictError> {
        let n = rows.len() / self.inputs.max(1);
        if n * self.inputs == rows.len() && n * self.outputs == out.len() {
            Ok(())
        } else {
            Err(PredictError::Batch { values: rows.len(), inputs: self.inputs, out: out.len(), outputs: self.outputs })
        }
    }

    /// A scratch made by this model (same id, so its buffers have this model's sizes).
    fn check_scratch(&self, scratch: &Scratch) -> Result<(), PredictError> {
        if scratch.model == self.id {
            Ok(())
        } else {
            Err(PredictError::Scratch)
        }
    }

    /// Every row of `rows` into `out` (whole rows and a scratch of this model: checked by the caller).
    #[inline(always)]
    fn run_rows(&self, rows: &[f32], scratch: &mut Scratch, out: &mut [f32]) {
        match (&self.engine, &mut scratch.buffers) {
            // SAFETY: `isa` was checked when the model was compiled and `net` packed for it; the scratch was made
            // for this model (same id, checked by the caller); the caller checked that `rows` and `out` are whole
            // rows.
            (Engine::F32(net), Buffers::F32(s)) => unsafe { dense::run(self.isa, net, s, rows, out) },
            (Engine::Int8 { kernel, net, fallback, .. }, Buffers::Int8 { quant, fallback: f32_scratch }) => {
                for (row, y) in rows.chunks_exact(self.inputs).zip(out.chunks_exact_mut(self.outputs)) {
                    if !quant::row_into(*kernel, net, quant, row, y) {
                        fallback_row(self.isa, fallback, f32_scratch, row, y);
                        scratch.fallback_rows += 1;
                    }
                }
            }
            _ => unreachable!("a scratch of this model has this model's buffers"),
        }
    }
}

/// One row of an int8 model out of its calibrated range, through its f32 network: rare, so kept out of line, away
/// from the integer kernels' loop.
#[cold]
#[inline(never)]
fn fallback_row(isa: Isa, net: &PackedNetwork, scratch: &mut dense::Scratch, row: &[f32], y: &mut [f32]) {
    // SAFETY: as for the f32 engine in `run_rows`: `net` was packed for `isa` (checked when the model was
    // compiled) and `scratch` made with it; one whole row and its outputs.
    unsafe { dense::run(isa, net, scratch, row, y) };
}

/// Runs `run(worker, rows, out)` over contiguous chunks of a batch, one chunk per worker, in parallel by
/// `rayon::join` (which allocates nothing for its stack jobs). Rows are independent, so the result equals one
/// worker running the whole batch.
fn split_batch<W: Send>(
    workers: &mut [W],
    rows: &[f32],
    out: &mut [f32],
    (inputs, outputs): (usize, usize),
    run: &(impl Fn(&mut W, &[f32], &mut [f32]) + Sync),
) {
    let n = rows.len() / inputs.max(1);
    if workers.len() == 1 || n < 2 {
        run(&mut workers[0], rows, out);
        return;
    }
    let (left, right) = workers.split_at_mut(workers.len() / 2);
    let at = n * left.len() / (left.len() + right.len());
    let (rows_l, rows_r) = rows.split_at(at * inputs);
    let (out_l, out_r) = out.split_at_mut(at * outputs);
    rayon::join(
        || split_batch(left, rows_l, out_l, (inputs, outputs), run),
        || split_batch(right, rows_r, out_r, (inputs, outputs), run),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_model::Activation;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn compiled_models_are_shareable_and_scratch_is_checked() {
        assert_send_sync::<CompiledModel>();
        let net = DenseNetwork::seeded(&[5, 8, 1], Activation::Relu, 1);
        let scalar = Backend::new(Isa::Scalar).unwrap();
        let a = CompiledModel::compile(&net, &scalar).unwrap();
        let b = CompiledModel::compile(&net, &scalar).unwrap();
        let mut out = [0.0f32; 1];
        let x = [0.5f32; 5];
        assert_eq!(a.predict(&x, &mut b.scratch(), &mut out), Err(PredictError::Scratch));
        a.predict(&x, &mut a.scratch(), &mut out).unwrap();
        assert_eq!(a.predict(&x[..4], &mut a.scratch(), &mut out), Err(PredictError::Width { expected: 5, got: 4 }));
        assert_eq!(a.predict(&x, &mut a.scratch(), &mut []), Err(PredictError::Output { expected: 1, got: 0 }));
        assert_eq!(a.predict_batch_parallel(&x, &mut [], &mut out), Err(PredictError::NoScratch));
    }
}
