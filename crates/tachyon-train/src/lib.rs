//! Tachyon's training: from feature matrices to a model file.
//!
//! - [`dataset`]: labelled rows, a time-ordered train / validation / test split with an embargo gap, and
//!   standardisation fitted on the training rows only.
//! - [`ridge`]: ridge regression in closed form, `X^T X` on our GEMM and a Cholesky solve, in f64.
//! - [`logistic`]: multinomial logistic regression solved exactly (Newton, Hessian on our GEMM, Cholesky), f64.
//! - [`mlp`]: dense networks (linear or multi-layer) with hand-written backprop on our GEMM and vector kernels.
//! - [`optim`]: Adam / AdamW and SGD with momentum, learning-rate schedules, clipping, non-finite refusal.
//! - [`fit`]: one entry point for every model kind ([`ModelSpec`] -> model file and metrics).
//! - [`trainer`]: the training loop for ridge (SGD), logistic regression and MLPs, with early stopping.
//! - [`parallel`]: data-parallel steps over both cores with a deterministic reduction order.
//! - [`metrics`]: MSE, R^2, accuracy, macro-F1, log-loss, information coefficient, hit rate.
//!
//! Models are written as [`tachyon_model::ModelFile`]s, with the feature set of [`FEATURES`].

pub mod dataset;
pub mod fit;
pub mod logistic;
pub mod metrics;
pub mod mlp;
pub mod optim;
pub mod parallel;
pub mod ridge;
pub mod trainer;

pub use dataset::{Dataset, Split, SplitSpec, TrainingSources};
pub use fit::{fit, FitFailure, FitReport, ModelSpec, Solved};
pub use logistic::{train as train_logistic, Logistic, LogisticReport};
pub use metrics::{ClassMetrics, Metrics, RegressionMetrics};
pub use mlp::{forward, forward_backward, gradient_check, Mlp, MlpSpec, Targets, Workspace, GRADIENT_TOLERANCE};
pub use optim::{LrSchedule, Method, NonFinite, Optimizer};
pub use parallel::DataParallel;
pub use ridge::{train as train_ridge, FitError, Ridge, RidgeReport};
pub use tachyon_model::{
    Activation, DenseNetwork, FeatureSet, Head, ModelError, ModelFile, ModelKind, Standardizer, TrainingRanges,
};
pub use trainer::{network_from_file, network_to_file, predict_all, train_network, EpochLog, TrainReport, TrainSpec};

/// The features every model trained here takes: the feature engine's schema ([`tachyon_features::SCHEMA`]).
pub const FEATURES: FeatureSet<'static> =
    FeatureSet { hash: tachyon_features::SCHEMA.hash(), names: &tachyon_features::FEATURE_NAMES };
