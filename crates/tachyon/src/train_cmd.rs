//! `tachyon train` and `tachyon eval`: models from market files, through the same feature engine that serves.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tachyon_features::{Horizon, SCHEMA};
use tachyon_train::{train_ridge, ModelFile, RegressionMetrics, RidgePredictor, Split, SplitSpec};

use crate::features_cmd::{extract_inputs, InputArgs, LabelArgs};

/// `--model` choices (logistic regression and the MLP come with the rest of issue #6).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ModelChoice {
    /// Ridge regression in closed form (X^T X on our GEMM, Cholesky), on standardised features.
    Ridge,
}

/// Options of `tachyon train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    labels: LabelArgs,
    /// Model to train.
    #[arg(long, value_enum, default_value_t = ModelChoice::Ridge)]
    model: ModelChoice,
    /// Ridge penalty per row (lambda n is added to the diagonal of X^T X).
    #[arg(long, default_value_t = 1e-3)]
    lambda: f64,
    /// Leading fraction of each file used for training.
    #[arg(long, default_value_t = 0.6)]
    train_frac: f64,
    /// Next fraction of each file used for validation (the rest is the out-of-sample test).
    #[arg(long, default_value_t = 0.2)]
    val_frac: f64,
    /// Rows left out at each boundary of the split (default: the label horizon in updates, or 1000 rows for a
    /// time horizon). Must cover the horizon, or training labels see validation prices.
    #[arg(long)]
    embargo: Option<usize>,
    /// Model file to write (atomically).
    #[arg(long)]
    out: PathBuf,
    /// Also write the metrics as JSON to this file.
    #[arg(long)]
    log: Option<PathBuf>,
}

/// Options of `tachyon eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Model file written by `tachyon train`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    labels: LabelArgs,
}

fn print_metrics(name: &str, m: &RegressionMetrics) {
    println!(
        "  {name:<11} {:>8} rows  IC {:>7.4}  R^2 {:>8.4}  hit rate {:.4}  MSE {:.4}",
        m.rows, m.ic, m.r2, m.hit_rate, m.mse
    );
}

fn metrics_json(m: &RegressionMetrics) -> serde_json::Value {
    serde_json::json!({"rows": m.rows, "ic": m.ic, "r2": m.r2, "hit_rate": m.hit_rate, "mse": m.mse})
}

/// Runs `tachyon train`.
pub fn train(args: &TrainArgs) -> Result<()> {
    let spec = args.labels.spec()?;
    if !(args.train_frac > 0.0 && args.val_frac >= 0.0 && args.train_frac + args.val_frac < 1.0) {
        bail!(
            "need --train-frac > 0, --val-frac >= 0 and their sum < 1 (got {} and {})",
            args.train_frac,
            args.val_frac
        );
    }
    let embargo = args.embargo.unwrap_or(match spec.horizon {
        Horizon::Events(h) => h,
        Horizon::Time(_) => 1000,
    });
    if let Horizon::Events(h) = spec.horizon {
        if embargo < h {
            bail!("--embargo {embargo} is shorter than the label horizon ({h} updates): training labels would see validation prices");
        }
    }
    let start = Instant::now();
    let matrices = extract_inputs(&args.input, Some(spec))?;
    let split =
        Split::new(&matrices, &SplitSpec { train: args.train_frac, validation: args.val_frac, embargo_rows: embargo });
    if split.train.rows() < 2 {
        bail!("only {} labelled training rows: give longer files or a shorter horizon", split.train.rows());
    }
    let ModelChoice::Ridge = args.model;
    let mut report = train_ridge(&split, args.lambda, SCHEMA.hash())?;
    let (kind, value) = match spec.horizon {
        Horizon::Events(h) => ("meta.horizon_events", h as f64),
        Horizon::Time(ns) => ("meta.horizon_ns", ns as f64),
    };
    report.model.arrays.push((kind.into(), vec![value]));
    report.model.save(&args.out)?;
    println!(
        "ridge (lambda {}) on {} train / {} validation / {} test rows (embargo {embargo}) in {:.2} s -> {}",
        args.lambda,
        split.train.rows(),
        split.validation.rows(),
        split.test.rows(),
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    print_metrics("train", &report.train);
    print_metrics("validation", &report.validation);
    print_metrics("test", &report.test);
    if let Some(log) = &args.log {
        let json = serde_json::json!({
            "model": "ridge", "lambda": args.lambda, "schema_hash": format!("{:016x}", SCHEMA.hash()),
            "train": metrics_json(&report.train), "validation": metrics_json(&report.validation),
            "test": metrics_json(&report.test),
        });
        std::fs::write(log, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", log.display()))?;
    }
    Ok(())
}

/// Runs `tachyon eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let file = ModelFile::load(&args.model, SCHEMA.hash())?;
    let predictor = RidgePredictor::from_file(&file).map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    let spec = args.labels.spec()?;
    let trained = file.array("meta.horizon_events").map(|v| Horizon::Events(v[0] as usize));
    let trained = trained.or(file.array("meta.horizon_ns").map(|v| Horizon::Time(v[0] as i64)));
    if let Some(trained) = trained {
        if trained != spec.horizon {
            eprintln!("warning: the model was trained for horizon {trained:?}, evaluating against {:?}", spec.horizon);
        }
    }
    let matrices = extract_inputs(&args.input, Some(spec))?;
    let (mut pred, mut label) = (Vec::new(), Vec::new());
    for m in &matrices {
        let labels = m.labels.as_ref().expect("asked for labels");
        for i in 0..m.rows() {
            if labels.ret_bps[i].is_finite() {
                pred.push(predictor.predict(m.row(i)));
                label.push(labels.ret_bps[i]);
            }
        }
    }
    println!("{} ({:?} model) on every labelled row:", args.model.display(), file.kind);
    print_metrics("all", &RegressionMetrics::compute(&pred, &label));
    Ok(())
}
