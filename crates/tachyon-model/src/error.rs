//! What can be wrong with a model.

use std::path::PathBuf;

/// A model that cannot be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file system refused.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a usable model for these features.
    #[error("{}: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: FileProblem,
    },
    /// The model's arrays do not describe a network.
    #[error("the model does not describe a network: {0}")]
    Malformed(String),
}

/// What is wrong with a model file's bytes, or with the features it asks for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    /// Shorter than the fixed header.
    #[error("truncated: {bytes} bytes, a model file has at least {minimum}")]
    Truncated {
        /// Bytes present.
        bytes: usize,
        /// Bytes of the smallest file.
        minimum: usize,
    },
    /// The size differs from the one the header announces.
    #[error("truncated or padded: {bytes} bytes, the header announces {}", announced.map_or("an impossible size".to_string(), |a| a.to_string()))]
    Length {
        /// Bytes present.
        bytes: u64,
        /// Bytes announced (`None` if the announced size overflows).
        announced: Option<u64>,
    },
    /// Wrong magic.
    #[error("not a Tachyon model file (wrong magic)")]
    NotAModel,
    /// A format version this build does not read.
    #[error(
        "format version {found}, this build reads versions {}..={}",
        crate::file::OLDEST_FORMAT_VERSION,
        crate::file::FORMAT_VERSION
    )]
    Version {
        /// The file's version.
        found: u32,
    },
    /// The checksum does not match.
    #[error("checksum mismatch: the file is corrupted")]
    Checksum,
    /// An unknown model kind.
    #[error("unknown model kind {0}")]
    Kind(u32),
    /// The payload does not hold what the header announces.
    #[error("{0}")]
    Layout(String),
    /// Trained on a different feature schema.
    #[error(
        "trained on feature schema {model:016x}, but the features served have schema {served:016x}: retrain the \
         model or use the matching Tachyon version"
    )]
    Schema {
        /// The model's schema hash.
        model: u64,
        /// The served features' schema hash.
        served: u64,
    },
    /// A feature's name differs.
    #[error("feature {index} is `{model}` in the model but `{served}` in the features served: retrain the model")]
    FeatureName {
        /// 0-based position.
        index: usize,
        /// The model's name.
        model: String,
        /// The served name.
        served: String,
    },
    /// The number of features differs.
    #[error("the model takes {model} features, the features served have {served}")]
    FeatureCount {
        /// The model's count.
        model: usize,
        /// The served count.
        served: usize,
    },
}
