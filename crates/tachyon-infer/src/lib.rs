//! Tachyon's inference: models compiled from model files for one instruction set, shared between threads.
//!
//! - [`compiled`]: [`CompiledModel`], a network compiled to f32 or int8 for one instruction set, immutable and
//!   `Send + Sync`, with a caller-owned [`Scratch`] per thread; zero allocation per call; batch and parallel
//!   batch on the same object.
//! - [`dense`]: the f32 path (weights in register panels, bias and activation fused, standardisation folded).
//! - [`quant`]: the int8 path: post-training quantisation (int8 weights, 8- or 12-bit activations) calibrated on
//!   data and refused when it would cost accuracy; integer kernels bit-identical on every instruction set.
//! - [`check`]: the predictors of one instruction set checked against the f64 forward pass and the scalar twin.
//! - [`latency`]: per-call latency histograms (HDR), warm and cold, with the timer's own cost measured.
//!
//! The networks themselves ([`DenseNetwork`]) and the model file come from `tachyon-model`; nothing here depends
//! on training.

pub mod check;
pub mod compiled;
pub mod dense;
pub mod latency;
pub mod quant;

pub use compiled::{CompileError, CompiledModel, Precision, PredictError, Scratch};
pub use quant::{
    ActivationBits, Calibration, Int8Kernel, QuantError, QuantReport, MAX_FALLBACK_SHARE, MAX_P999_ERROR,
    MAX_RMS_ERROR, MIN_CORRELATION,
};
pub use tachyon_model::{Activation, DenseLayer, DenseNetwork, Head, ModelError, ModelFile};
