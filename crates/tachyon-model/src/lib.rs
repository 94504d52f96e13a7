//! Tachyon's models as files and as networks: what training writes and inference reads, with no dependency on
//! either.
//!
//! - [`file`]: [`ModelFile`], the versioned, checksummed model file (kind, feature schema and names, named
//!   arrays), written atomically and checked on load.
//! - [`network`]: [`DenseNetwork`], what a model file describes (standardisation, dense layers, activation,
//!   head), its conversion to and from a model file, and the f64 reference forward pass.
//! - [`ranges`]: [`TrainingRanges`], the inputs a model leaves out and the range of each it uses, to warn by
//!   name when an input drifts far from anything the model was fitted on.
//! - [`error`]: [`ModelError`], what can be wrong with a model.

pub mod error;
pub mod file;
pub mod network;
pub mod ranges;

pub use error::{FileProblem, ModelError};
pub use file::{FeatureSet, ModelFile, ModelKind};
pub use network::{Activation, DenseLayer, DenseNetwork, Head, Standardizer};
pub use ranges::{Drift, TrainingRanges};

/// SplitMix64: the deterministic pseudo-random sequence Tachyon uses wherever it needs reproducible randomness
/// (initial weights, shuffles, seeded stand-in networks).
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}
