//! Tachyon's inference: predictors compiled from model files.
//!
//! - [`network`]: [`DenseNetwork`], what a model file describes (standardisation, dense layers, activation), and
//!   the f64 reference forward pass.
//! - [`dense`]: [`Predictor`], the f32 network packed for one instruction set (weights in register panels,
//!   bias and activation fused, standardisation folded), zero allocation per call; batch and two-core batch.
//! - [`quant`]: [`Int8Predictor`], post-training quantisation (int8 weights, 12-bit activations) calibrated on
//!   data, refused when it would cost accuracy; integer kernels bit-identical on every instruction set.
//! - [`latency`]: per-call latency histograms (HDR), warm and cold, with the timer's own cost measured.

pub mod dense;
pub mod latency;
pub mod network;
pub mod quant;

pub use dense::{Predictor, PredictorError};
pub use network::{DenseLayer, DenseNetwork, NetworkError};
pub use quant::{ActivationBits, Calibration, Int8Kernel, Int8Predictor, QuantError, QuantReport};
