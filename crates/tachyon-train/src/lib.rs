//! Tachyon's training: from feature matrices to a model file.
//!
//! - [`dataset`]: labelled rows, a time-ordered train / validation / test split with an embargo gap, and
//!   standardisation fitted on the training rows only.
//! - [`ridge`]: ridge regression in closed form, `X^T X` on our GEMM and a Cholesky solve, in f64.
//! - [`mlp`]: multi-layer perceptron with hand-written backprop on our GEMM, and Adam/AdamW.
//! - [`parallel`]: data-parallel steps over both cores with a deterministic reduction order.
//! - [`metrics`]: MSE, R^2, information coefficient, hit rate.
//! - [`artifact`]: the versioned, checksummed model file, written atomically and checked on load.

pub mod artifact;
pub mod dataset;
pub mod metrics;
pub mod mlp;
pub mod mlp_train;
pub mod parallel;
pub mod ridge;

pub use artifact::{ArtifactError, ModelFile, ModelKind};
pub use dataset::{Dataset, Split, SplitSpec, Standardizer};
pub use metrics::RegressionMetrics;
pub use mlp::{forward, forward_backward, Activation, Adam, Head, Mlp, MlpSpec, NonFinite, Targets, Workspace};
pub use mlp_train::{mlp_from_file, predict_all, train_mlp, EpochLog, MlpReport, MlpTrainSpec};
pub use parallel::DataParallel;
pub use ridge::{train as train_ridge, Ridge, RidgePredictor, RidgeReport};
