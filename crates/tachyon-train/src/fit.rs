//! One entry point for every model kind: [`fit`] a [`ModelSpec`] on a split, get the model file and its metrics
//! on each part. Callers (the command line, the Python binding) choose a spec; they do not dispatch on kinds.

use crate::metrics::Metrics;
use crate::optim::NonFinite;
use crate::ridge::FitError;
use crate::trainer::{train_network, EpochLog, TrainSpec};
use crate::{train_logistic, train_ridge, ModelFile, Split};

/// What to fit.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    /// Ridge regression of the return, solved exactly (normal equations on our GEMM, Cholesky) with penalty
    /// `lambda` (times the number of rows).
    Ridge {
        /// L2 penalty.
        lambda: f64,
    },
    /// Multinomial logistic regression of the direction (down / flat / up), solved exactly by Newton's method with
    /// penalty `lambda`.
    Logistic {
        /// L2 penalty.
        lambda: f64,
    },
    /// Anything trained by mini-batch steps: linear models by SGD, MLPs by Adam or SGD.
    Iterative(TrainSpec),
}

/// How the fit ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Solved {
    /// Closed form (ridge).
    Exactly,
    /// Newton's method: iterations taken, and the largest gradient component at the solution.
    Newton {
        /// Iterations.
        iterations: usize,
        /// Largest gradient component at the solution.
        gradient_max: f64,
    },
    /// Mini-batch steps: the epoch whose weights were kept (lowest validation loss).
    Steps {
        /// 0-based epoch kept.
        best_epoch: usize,
    },
}

/// A fitted model and its metrics on each part of the split.
#[derive(Clone, Debug)]
pub struct FitReport {
    /// The model, ready to save.
    pub model: ModelFile,
    /// Metrics on the training, validation and test parts.
    pub metrics: [Metrics; 3],
    /// One line per epoch (iterative fits only).
    pub log: Vec<EpochLog>,
    /// How the fit ended.
    pub solved: Solved,
}

/// Why a fit failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitFailure {
    /// A closed-form solve failed.
    #[error(transparent)]
    Solve(#[from] FitError),
    /// A training step met a non-finite loss or gradient.
    #[error(transparent)]
    NonFinite(#[from] NonFinite),
    /// Too few training rows for the spec.
    #[error("{rows} training rows is less than one batch of {batch}")]
    TooFewRows {
        /// Training rows.
        rows: usize,
        /// Rows per batch.
        batch: usize,
    },
}

/// Fits `spec` on `split`; `on_epoch` sees each epoch's log line of an iterative fit.
pub fn fit(spec: &ModelSpec, split: &Split, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<FitReport, FitFailure> {
    Ok(match spec {
        ModelSpec::Ridge { lambda } => {
            let r = train_ridge(split, *lambda)?;
            let metrics = [r.train, r.validation, r.test].map(Metrics::Regression);
            FitReport { model: r.model, metrics, log: Vec::new(), solved: Solved::Exactly }
        }
        ModelSpec::Logistic { lambda } => {
            let r = train_logistic(split, *lambda)?;
            let solved = Solved::Newton { iterations: r.fit.iterations, gradient_max: r.fit.gradient_max };
            FitReport { model: r.model, metrics: [r.train, r.validation, r.test], log: Vec::new(), solved }
        }
        ModelSpec::Iterative(train_spec) => {
            if split.train.rows() < train_spec.batch {
                return Err(FitFailure::TooFewRows { rows: split.train.rows(), batch: train_spec.batch });
            }
            let r = train_network(split, train_spec, on_epoch)?;
            let solved = Solved::Steps { best_epoch: r.best_epoch };
            FitReport { model: r.model, metrics: [r.train, r.validation, r.test], log: r.log, solved }
        }
    })
}
