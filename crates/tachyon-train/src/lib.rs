//! Tachyon's training: from feature matrices to a model file.
//!
//! - [`dataset`]: labelled rows, a time-ordered train / validation / test split with an embargo gap, and
//!   standardisation fitted on the training rows only.
//! - [`ridge`]: ridge regression in closed form, `X^T X` on our GEMM and a Cholesky solve, in f64.
//! - [`logistic`]: multinomial logistic regression solved exactly (Newton, Hessian on our GEMM, Cholesky), f64.
//! - [`mlp`]: dense networks (linear or multi-layer) with hand-written backprop on our GEMM and vector kernels.
//! - [`optim`]: Adam / AdamW and SGD with momentum, learning-rate schedules, clipping, non-finite refusal.
//! - [`trainer`]: the training loop for ridge (SGD), logistic regression and MLPs, with early stopping.
//! - [`parallel`]: data-parallel steps over both cores with a deterministic reduction order.
//! - [`metrics`]: MSE, R^2, accuracy, macro-F1, log-loss, information coefficient, hit rate.
//! - [`artifact`]: the versioned, checksummed model file, written atomically and checked on load.

pub mod artifact;
pub mod dataset;
pub mod logistic;
pub mod metrics;
pub mod mlp;
pub mod optim;
pub mod parallel;
pub mod ridge;
pub mod trainer;

pub use artifact::{ArtifactError, ModelFile, ModelKind};
pub use dataset::{Dataset, Split, SplitSpec, Standardizer};
pub use logistic::{train as train_logistic, Logistic, LogisticReport};
pub use metrics::{ClassMetrics, Metrics, RegressionMetrics};
pub use mlp::{forward, forward_backward, Activation, Head, Mlp, MlpSpec, Targets, Workspace};
pub use optim::{LrSchedule, Method, NonFinite, Optimizer};
pub use parallel::DataParallel;
pub use ridge::{train as train_ridge, FitError, Ridge, RidgePredictor, RidgeReport};
pub use trainer::{network_from_file, network_to_file, predict_all, train_network, EpochLog, TrainReport, TrainSpec};
