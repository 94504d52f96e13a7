//! `tachyon train` and `tachyon eval`: models from market files, through the same feature engine that serves.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tachyon_features::{Horizon, SCHEMA};
use tachyon_train::{
    mlp_from_file, predict_all, train_mlp, train_ridge, Activation, Dataset, MlpTrainSpec, ModelFile, ModelKind,
    RegressionMetrics, RidgePredictor, Split, SplitSpec, Workspace,
};

use crate::features_cmd::{extract_inputs, InputArgs, LabelArgs};

/// `--model` choices (logistic regression comes with the rest of issue #6).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ModelChoice {
    /// Ridge regression in closed form (X^T X on our GEMM, Cholesky), on standardised features.
    Ridge,
    /// Multi-layer perceptron regression (hand-written backprop on our GEMM, Adam/AdamW, early stopping).
    Mlp,
}

/// `--activation` choices.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ActivationChoice {
    /// max(0, x).
    Relu,
    /// tanh(x).
    Tanh,
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
    /// MLP: hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    hidden: Vec<usize>,
    /// MLP: hidden activation.
    #[arg(long, value_enum, default_value_t = ActivationChoice::Relu)]
    activation: ActivationChoice,
    /// MLP: most epochs (training stops earlier when the validation loss stops improving).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// MLP: rows per step.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// MLP: Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// MLP: AdamW decoupled weight decay (0: plain Adam).
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// MLP: clip the global gradient norm to this (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    clip_norm: f64,
    /// MLP: stop after this many epochs without a better validation loss.
    #[arg(long, default_value_t = 3)]
    patience: usize,
    /// MLP: seed of the initial weights and the batch order (same seed, same weights).
    #[arg(long, default_value_t = 1)]
    seed: u64,
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
    let (mut model, metrics, epochs) = match args.model {
        ModelChoice::Ridge => {
            let r = train_ridge(&split, args.lambda, SCHEMA.hash())?;
            (r.model, [r.train, r.validation, r.test], Vec::new())
        }
        ModelChoice::Mlp => {
            if args.hidden.is_empty() || args.hidden.contains(&0) || args.batch == 0 || args.epochs == 0 {
                bail!("--hidden needs positive widths, --batch and --epochs must be at least 1");
            }
            if split.train.rows() < args.batch {
                bail!("{} training rows is less than one batch of {}", split.train.rows(), args.batch);
            }
            let spec = MlpTrainSpec {
                hidden: args.hidden.clone(),
                activation: match args.activation {
                    ActivationChoice::Relu => Activation::Relu,
                    ActivationChoice::Tanh => Activation::Tanh,
                },
                epochs: args.epochs,
                batch: args.batch,
                lr: args.lr,
                weight_decay: args.weight_decay,
                clip_norm: args.clip_norm,
                patience: args.patience,
                seed: args.seed,
            };
            let bar = indicatif::ProgressBar::new(args.epochs as u64).with_style(
                indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} [{elapsed}]")
                    .expect("valid template"),
            );
            let r = train_mlp(&split, &spec, SCHEMA.hash(), &mut |e| {
                bar.suspend(|| {
                    println!(
                        "  epoch {:>3}: train loss {:.4}  validation loss {:.4}  validation IC {:.4}  ({:.2} s)",
                        e.epoch, e.train_loss, e.validation_loss, e.validation_ic, e.seconds
                    )
                });
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            println!("  kept the weights of epoch {} (lowest validation loss)", r.best_epoch);
            (r.model, [r.train, r.validation, r.test], r.log)
        }
    };
    let (kind, value) = match spec.horizon {
        Horizon::Events(h) => ("meta.horizon_events", h as f64),
        Horizon::Time(ns) => ("meta.horizon_ns", ns as f64),
    };
    model.arrays.push((kind.into(), vec![value]));
    model.save(&args.out)?;
    println!(
        "{:?} on {} train / {} validation / {} test rows (embargo {embargo}) in {:.2} s -> {}",
        model.kind,
        split.train.rows(),
        split.validation.rows(),
        split.test.rows(),
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    print_metrics("train", &metrics[0]);
    print_metrics("validation", &metrics[1]);
    print_metrics("test", &metrics[2]);
    if let Some(log) = &args.log {
        let epochs: Vec<_> = epochs
            .iter()
            .map(|e| {
                serde_json::json!({"epoch": e.epoch, "train_loss": e.train_loss, "validation_loss": e.validation_loss,
                    "validation_ic": e.validation_ic, "seconds": e.seconds})
            })
            .collect();
        let json = serde_json::json!({
            "model": format!("{:?}", model.kind).to_lowercase(), "schema_hash": format!("{:016x}", SCHEMA.hash()),
            "train": metrics_json(&metrics[0]), "validation": metrics_json(&metrics[1]),
            "test": metrics_json(&metrics[2]), "epochs": epochs,
        });
        std::fs::write(log, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", log.display()))?;
    }
    Ok(())
}

/// Runs `tachyon eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let file = ModelFile::load(&args.model, SCHEMA.hash())?;
    let spec = args.labels.spec()?;
    let trained = file.array("meta.horizon_events").map(|v| Horizon::Events(v[0] as usize));
    let trained = trained.or(file.array("meta.horizon_ns").map(|v| Horizon::Time(v[0] as i64)));
    if let Some(trained) = trained {
        if trained != spec.horizon {
            eprintln!("warning: the model was trained for horizon {trained:?}, evaluating against {:?}", spec.horizon);
        }
    }
    let matrices = extract_inputs(&args.input, Some(spec))?;
    let mut data = Dataset::default();
    for m in &matrices {
        let labels = m.labels.as_ref().expect("asked for labels");
        for i in 0..m.rows() {
            if labels.ret_bps[i].is_finite() {
                data.x.extend_from_slice(m.row(i));
                data.y.push(labels.ret_bps[i]);
            }
        }
    }
    let bad = |e: String| anyhow::anyhow!("{}: {e}", args.model.display());
    let pred: Vec<f64> = match file.kind {
        ModelKind::Ridge => {
            let predictor = RidgePredictor::from_file(&file).map_err(bad)?;
            (0..data.rows()).map(|i| predictor.predict(data.row(i))).collect()
        }
        ModelKind::Mlp => {
            let (mlp, standardizer) = mlp_from_file(&file).map_err(bad)?;
            let z: Vec<f32> = standardizer.transform(&data).into_iter().map(|v| v as f32).collect();
            let mut ws = Workspace::new(&mlp, 1024);
            predict_all(&mlp, &mut ws, &z, &mut Vec::new())
        }
        ModelKind::Logistic => bail!("{}: logistic models are not supported by this build", args.model.display()),
    };
    let label = data.y;
    println!("{} ({:?} model) on every labelled row:", args.model.display(), file.kind);
    print_metrics("all", &RegressionMetrics::compute(&pred, &label));
    Ok(())
}
