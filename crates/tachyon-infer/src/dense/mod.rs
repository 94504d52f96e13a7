//! The f32 predictor: a [`DenseNetwork`] packed for one instruction set ([`pack`]), the forward pass written once
//! over lanes ([`kernel`]), and the dispatch that picks the instruction set once, at compile time of the
//! predictor (this file).

pub(crate) mod kernel;
pub(crate) mod pack;

use tachyon_simd::isa::{self, Isa, IsaError};
use tachyon_simd::lanes::scalar::Scalar;

use crate::network::{batch_rows, split_batch, DenseNetwork, NetworkError};
use pack::{PackedNetwork, Scratch};

/// Runs [`kernel::forward`] for `isa` on every row of `rows`, copying each row's outputs into `out`.
///
/// One dispatch per call, so that a batch pays for it once; the loop runs inside the target-feature function.
///
/// # Safety
/// `isa` must be supported by this CPU and `net` packed for its lane count; `rows` holds whole rows of
/// `net.inputs` and `out` the matching rows of `net.outputs()`.
unsafe fn run(isa: Isa, net: &PackedNetwork, scratch: &mut Scratch, rows: &[f32], out: &mut [f32]) {
    #[inline(always)]
    fn rows_with<L: tachyon_simd::lanes::Lanes<f32>>(
        s: L,
        net: &PackedNetwork,
        scratch: &mut Scratch,
        rows: &[f32],
        out: &mut [f32],
    ) {
        let (inputs, outputs) = (net.inputs, net.outputs());
        // Row offsets by multiplication: `chunks_exact` would divide twice per call, which costs more than a small
        // layer.
        let rows_count = out.len().checked_div(outputs).unwrap_or(0);
        debug_assert_eq!(rows.len(), rows_count * inputs);
        for r in 0..rows_count {
            let last = scratch.layers.last().expect("validated: >= 1 layer").as_ptr();
            // SAFETY: row r lies inside `rows` (checked by the caller); scratch and net were made together for
            // `L::N` lanes; the last buffer holds at least `outputs` values and row r of `out` exactly `outputs`.
            unsafe {
                kernel::forward(s, net, rows.as_ptr().add(r * inputs), scratch);
                let y = out.as_mut_ptr().add(r * outputs);
                if outputs == 1 {
                    *y = *last;
                } else {
                    std::ptr::copy_nonoverlapping(last, y, outputs);
                }
            }
        }
    }
    match isa {
        Isa::Scalar => rows_with(Scalar, net, scratch, rows, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(net: &PackedNetwork, scratch: &mut Scratch, rows: &[f32], out: &mut [f32]) {
                // SAFETY: reached only for a CPU with AVX2 and FMA (the caller's contract).
                rows_with(unsafe { isa::Avx2::new_unchecked() }, net, scratch, rows, out)
            }
            // SAFETY: the caller guarantees the CPU supports AVX2.
            unsafe { avx2(net, scratch, rows, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512(net: &PackedNetwork, scratch: &mut Scratch, rows: &[f32], out: &mut [f32]) {
                // SAFETY: reached only for a CPU with AVX-512 F/BW/DQ/VL (the caller's contract).
                rows_with(unsafe { isa::Avx512::new_unchecked() }, net, scratch, rows, out)
            }
            // SAFETY: the caller guarantees the CPU supports AVX-512.
            unsafe { avx512(net, scratch, rows, out) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the scalar path exists on this target"),
    }
}

/// Errors making a predictor.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PredictorError {
    /// The network is not valid.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The instruction set asked for cannot run here.
    #[error(transparent)]
    Isa(#[from] IsaError),
}

/// A network compiled for one instruction set, with every buffer it needs: [`predict`](Predictor::predict)
/// allocates nothing, takes no lock and makes no system call.
#[derive(Clone, Debug)]
pub struct Predictor {
    isa: Isa,
    net: PackedNetwork,
    scratch: Scratch,
    /// One scratch per worker of [`predict_batch_parallel`](Predictor::predict_batch_parallel), made on first use.
    workers: Vec<Scratch>,
    /// The outputs of the last [`predict`](Predictor::predict).
    output: Vec<f32>,
    /// MACs per sample, for reports.
    macs: usize,
}

impl Predictor {
    /// Compiles `net` for the active instruction set ([`tachyon_simd::isa::active`]).
    pub fn new(net: &DenseNetwork) -> Result<Predictor, PredictorError> {
        Predictor::with_isa(net, isa::active())
    }

    /// Compiles `net` for `isa`; an instruction set this CPU lacks is an error.
    pub fn with_isa(net: &DenseNetwork, isa: Isa) -> Result<Predictor, PredictorError> {
        net.validate()?;
        let isa = isa::IsaRequest::Exactly(isa).resolve()?;
        let packed = PackedNetwork::new(net, isa.lanes(4));
        let scratch = Scratch::new(&packed);
        Ok(Predictor {
            isa,
            output: vec![0.0; net.outputs()],
            net: packed,
            scratch,
            workers: Vec::new(),
            macs: net.macs(),
        })
    }

    /// The instruction set this predictor runs.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Raw features per row.
    pub fn inputs(&self) -> usize {
        self.net.inputs
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.net.outputs()
    }

    /// Multiply-adds per sample.
    pub fn macs(&self) -> usize {
        self.macs
    }

    /// Outputs for one row of raw features (`inputs()` values). Zero allocations.
    #[inline]
    pub fn predict(&mut self, features: &[f32]) -> Result<&[f32], NetworkError> {
        if features.len() != self.net.inputs {
            return Err(NetworkError::Width { expected: self.net.inputs, got: features.len() });
        }
        // SAFETY: `isa` was checked at construction and `net` packed for it; `features` is one whole row and
        // `output` holds one row of outputs.
        unsafe { run(self.isa, &self.net, &mut self.scratch, features, &mut self.output) };
        Ok(&self.output)
    }

    /// Outputs for `rows` (whole rows of `inputs()` values) into `out` (`outputs()` per row), on this thread.
    pub fn predict_batch(&mut self, rows: &[f32], out: &mut [f32]) -> Result<(), NetworkError> {
        self.check_batch(rows, out)?;
        // SAFETY: as in `predict`; the shapes were just checked.
        unsafe { run(self.isa, &self.net, &mut self.scratch, rows, out) };
        Ok(())
    }

    /// [`predict_batch`](Predictor::predict_batch) split into contiguous chunks over the current rayon pool (one
    /// chunk per thread). Results are identical to the one-thread batch: rows are independent.
    pub fn predict_batch_parallel(&mut self, rows: &[f32], out: &mut [f32]) -> Result<(), NetworkError> {
        self.check_batch(rows, out)?;
        let threads = rayon::current_num_threads().max(1);
        if self.workers.len() != threads {
            self.workers = vec![self.scratch.clone(); threads];
        }
        let (isa, net) = (self.isa, &self.net);
        split_batch(&mut self.workers, rows, out, (net.inputs, net.outputs()), &|scratch, rows, out| {
            // SAFETY: `isa` was checked at construction and `net` packed for it; the chunks are whole rows.
            unsafe { run(isa, net, scratch, rows, out) }
        });
        Ok(())
    }

    fn check_batch(&self, rows: &[f32], out: &mut [f32]) -> Result<(), NetworkError> {
        batch_rows(self.net.inputs, self.net.outputs(), rows.len(), out.len()).map(|_| ())
    }
}
