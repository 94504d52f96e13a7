//! `tachyon train` and `tachyon eval`: models from market files, through the same feature engine that serves.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tachyon_features::{FeatureMatrix, Horizon, FEATURE_NAMES, SCHEMA};
use tachyon_infer::{CompiledModel, QuantError, QuantReport};
use tachyon_simd::Backend;
use tachyon_train::{
    fit, Activation, Dataset, DenseNetwork, FitReport, Head, LrSchedule, Method, Metrics, ModelFile, ModelKind,
    ModelSpec, Solved, Split, SplitSpec, TrainSpec, TrainingRanges, TrainingSources, FEATURES,
};

use crate::features_cmd::{extract_inputs, InputArgs, LabelArgs};

/// `--model` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelChoice {
    /// Ridge regression of the return on standardised features: closed form (X^T X on our GEMM, Cholesky) or SGD.
    Ridge,
    /// Multinomial logistic regression of the direction (down / flat / up, see --flat-bps), L2 penalty --lambda,
    /// solved by Newton's method (or SGD).
    Logistic,
    /// Multi-layer perceptron (hand-written backprop on our GEMM): regression of the return, or --head classes.
    Mlp,
}

/// `--solver` choices for the linear models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SolverChoice {
    /// Solved to the optimum in f64: ridge's normal equations (Cholesky), logistic's Newton iterations.
    Exact,
    /// Mini-batch SGD on the same penalised objective (approaches the exact solution; slowly on ill-conditioned
    /// features).
    Sgd,
}

/// `--head` choices for the MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HeadChoice {
    /// One output: the future mid change in bps, squared error.
    Regression,
    /// Three outputs: down / flat / up (flat within +-flat-bps), softmax cross-entropy.
    Classes,
}

/// `--activation` choices.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ActivationChoice {
    /// max(0, x).
    Relu,
    /// tanh(x).
    Tanh,
}

/// `--optimizer` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerChoice {
    /// Adam (AdamW with --weight-decay).
    Adam,
    /// SGD with momentum (--momentum).
    Sgd,
}

/// `--lr-schedule` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleChoice {
    /// The same learning rate throughout.
    Constant,
    /// Half a cosine from --lr to 0 over --epochs.
    Cosine,
    /// Multiply by --lr-step-factor every --lr-step-epochs epochs.
    Step,
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
    /// Ridge and logistic: how to solve.
    #[arg(long, value_enum, default_value_t = SolverChoice::Exact)]
    solver: SolverChoice,
    /// Ridge and logistic: L2 penalty per row (ridge's closed form adds lambda n to the diagonal of X^T X; the
    /// SGD fits minimise mean loss + 0.5 lambda |w|^2, which is the same problem).
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
    /// MLP: output head.
    #[arg(long, value_enum, default_value_t = HeadChoice::Regression)]
    head: HeadChoice,
    /// MLP: hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    hidden: Vec<usize>,
    /// MLP: hidden activation.
    #[arg(long, value_enum, default_value_t = ActivationChoice::Relu)]
    activation: ActivationChoice,
    /// Iterative fits (the MLP; ridge and logistic with --solver sgd): most epochs (training stops earlier when
    /// the validation loss stops improving).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Iterative fits: rows per step.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Iterative fits: update rule [default: adam for the MLP, sgd for ridge and logistic].
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerChoice>,
    /// Iterative fits: base learning rate [default: 1e-3 with adam, 5e-3 with sgd (0.05 diverged on the shipped
    /// AAPL day: its standardised features are nearly collinear and heavy-tailed)].
    #[arg(long)]
    lr: Option<f64>,
    /// Iterative fits: learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleChoice::Cosine)]
    lr_schedule: ScheduleChoice,
    /// With --lr-schedule step: epochs between decays.
    #[arg(long, default_value_t = 3)]
    lr_step_epochs: u64,
    /// With --lr-schedule step: factor per decay, in (0, 1].
    #[arg(long, default_value_t = 0.5)]
    lr_step_factor: f64,
    /// SGD momentum, in [0, 1).
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// MLP: weight decay on weights (AdamW's decoupled decay; an L2 penalty with sgd). 0: none.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Iterative fits: clip the global gradient norm to this, 0 for none [default: 1 for the MLP, 0 for linear
    /// models, whose optimum clipping would bias].
    #[arg(long)]
    clip_norm: Option<f64>,
    /// Iterative fits: stop after this many epochs without a better validation loss.
    #[arg(long, default_value_t = 3)]
    patience: usize,
    /// Iterative fits: seed of the initial weights and the batch order (same seed and threads, same weights).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Features the model does not use, comma-separated (`none`: use all 44). Price levels are left out by default:
    /// they are not stationary (another stock, or the same one a month later, sits far from the training prices),
    /// while their relative forms (microprice_dev_bps, spread_bps, the returns) carry what they know. Excluded
    /// features get zero weights in every model kind.
    #[arg(long, value_delimiter = ',', default_value = "mid,microprice")]
    exclude_features: Vec<String>,
    /// Model file to write (atomically).
    #[arg(long)]
    out: PathBuf,
    /// Also write the metrics and the per-epoch log as JSON to this file.
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

fn print_metrics(name: &str, m: &Metrics) {
    match m {
        Metrics::Regression(m) => println!(
            "  {name:<11} {:>8} rows  IC {:>7.4}  R^2 {:>8.4}  hit rate {:.4}  MSE {:.4}",
            m.rows, m.ic, m.r2, m.hit_rate, m.mse
        ),
        Metrics::Classification(m) => println!(
            "  {name:<11} {:>8} rows  accuracy {:.4}  macro-F1 {:.4}  log-loss {:.4}  IC {:>7.4}  hit rate {:.4}",
            m.rows, m.accuracy, m.macro_f1, m.log_loss, m.ic, m.hit_rate
        ),
    }
}

fn metrics_json(m: &Metrics) -> serde_json::Value {
    match m {
        Metrics::Regression(m) => {
            serde_json::json!({"rows": m.rows, "ic": m.ic, "r2": m.r2, "hit_rate": m.hit_rate, "mse": m.mse})
        }
        Metrics::Classification(m) => serde_json::json!({"rows": m.rows, "accuracy": m.accuracy,
            "macro_f1": m.macro_f1, "log_loss": m.log_loss, "ic": m.ic, "hit_rate": m.hit_rate}),
    }
}

impl TrainArgs {
    /// The iterative fit's hyper-parameters, checked.
    fn train_spec(&self) -> Result<TrainSpec> {
        let linear = self.model != ModelChoice::Mlp;
        let (hidden, head) = match self.model {
            ModelChoice::Ridge => (vec![], Head::Regression),
            ModelChoice::Logistic => (vec![], Head::Softmax3),
            ModelChoice::Mlp => {
                if self.hidden.is_empty() || self.hidden.contains(&0) {
                    bail!("--hidden needs positive widths, e.g. --hidden 64,64");
                }
                let head = if self.head == HeadChoice::Classes { Head::Softmax3 } else { Head::Regression };
                (self.hidden.clone(), head)
            }
        };
        if self.batch == 0 || self.epochs == 0 {
            bail!("--batch and --epochs must be at least 1");
        }
        let optimizer = self.optimizer.unwrap_or(if linear { OptimizerChoice::Sgd } else { OptimizerChoice::Adam });
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("--momentum must be in [0, 1), got {}", self.momentum);
        }
        let (method, default_lr) = match optimizer {
            OptimizerChoice::Adam => (Method::ADAM, 1e-3),
            OptimizerChoice::Sgd => (Method::Sgd { momentum: self.momentum }, 5e-3),
        };
        let lr = self.lr.unwrap_or(default_lr);
        let clip_norm = self.clip_norm.unwrap_or(if linear { 0.0 } else { 1.0 });
        let weight_decay = if linear { self.lambda } else { self.weight_decay };
        for (name, value) in [("--lr", lr), ("--clip-norm", clip_norm), ("--lambda / --weight-decay", weight_decay)] {
            if !value.is_finite() || value < 0.0 || (name == "--lr" && value == 0.0) {
                bail!("{name} must be a finite number {}, got {value}", if name == "--lr" { "> 0" } else { ">= 0" });
            }
        }
        let schedule = match self.lr_schedule {
            ScheduleChoice::Constant => LrSchedule::Constant,
            ScheduleChoice::Cosine => LrSchedule::Cosine { total_steps: self.epochs as u64, floor: 0.0 },
            ScheduleChoice::Step => {
                if self.lr_step_epochs == 0 || !(self.lr_step_factor > 0.0 && self.lr_step_factor <= 1.0) {
                    bail!("--lr-step-epochs must be >= 1 and --lr-step-factor in (0, 1]");
                }
                LrSchedule::Step { every_steps: self.lr_step_epochs, factor: self.lr_step_factor }
            }
        };
        Ok(TrainSpec {
            hidden,
            activation: match self.activation {
                ActivationChoice::Relu => Activation::Relu,
                ActivationChoice::Tanh => Activation::Tanh,
            },
            head,
            epochs: self.epochs,
            batch: self.batch,
            method,
            lr,
            schedule,
            weight_decay,
            clip_norm,
            patience: self.patience,
            seed: self.seed,
        })
    }
}

/// `--exclude-features` as one flag per feature of the schema.
fn excluded_features(names: &[String]) -> Result<Vec<bool>> {
    let mut excluded = vec![false; FEATURE_NAMES.len()];
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty() && *n != "none") {
        match SCHEMA.index_of(name) {
            Some(j) => excluded[j] = true,
            None => bail!("--exclude-features: no feature `{name}`; the features are {}", FEATURE_NAMES.join(", ")),
        }
    }
    if excluded.iter().all(|&e| e) {
        bail!("--exclude-features leaves no feature to train on");
    }
    Ok(excluded)
}

/// Runs `tachyon train`.
pub fn train(args: &TrainArgs) -> Result<()> {
    crate::check_writable(std::iter::once(args.out.as_path()).chain(args.log.as_deref()))?;
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
    let model_spec = match (args.model, args.solver) {
        (ModelChoice::Ridge, SolverChoice::Exact) => ModelSpec::Ridge { lambda: args.lambda },
        (ModelChoice::Logistic, SolverChoice::Exact) => ModelSpec::Logistic { lambda: args.lambda },
        _ => ModelSpec::Iterative(args.train_spec()?),
    };
    let excluded = excluded_features(&args.exclude_features)?;
    let start = Instant::now();
    let matrices = extract_inputs(&args.input, Some(spec))?;
    let split_spec = SplitSpec { train: args.train_frac, validation: args.val_frac, embargo_rows: embargo };
    let mut split = Split::new(&matrices, &split_spec);
    let ranges = TrainingRanges::fit(&split.train.x, &FEATURE_NAMES, &excluded);
    split.exclude(&excluded);
    if split.train.rows() < 2 {
        bail!("only {} labelled training rows: give longer files or a shorter horizon", split.train.rows());
    }
    let fit_start = Instant::now();
    let bar = match &model_spec {
        ModelSpec::Iterative(t) => indicatif::ProgressBar::new(t.epochs as u64).with_style(
            indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} [{elapsed}]").expect("valid template"),
        ),
        _ => indicatif::ProgressBar::hidden(),
    };
    let report = fit(&model_spec, &split, &mut |e| {
        bar.suspend(|| {
            println!(
                "  epoch {:>3}: train loss {:.4}  validation loss {:.4}  validation IC {:.4}  lr {:.2e}  ({:.2} s)",
                e.epoch, e.train_loss, e.validation_loss, e.validation_ic, e.lr, e.seconds
            )
        });
        bar.inc(1);
    });
    bar.finish_and_clear();
    let FitReport { mut model, metrics, log: epochs, solved } = report?;
    match solved {
        Solved::Exactly => {}
        Solved::Newton { iterations, gradient_max } => {
            println!("  Newton: {iterations} iterations, largest gradient component at the solution {gradient_max:.1e}")
        }
        Solved::Steps { best_epoch } => println!("  kept the weights of epoch {best_epoch} (lowest validation loss)"),
    }
    let fit_seconds = fit_start.elapsed().as_secs_f64();
    let (kind, value) = match spec.horizon {
        Horizon::Events(h) => ("meta.horizon_events", h as f64),
        Horizon::Time(ns) => ("meta.horizon_ns", ns as f64),
    };
    model.arrays.push((kind.into(), vec![value]));
    model.arrays.push(("meta.flat_bps".into(), vec![spec.flat_bps]));
    TrainingSources::of(&matrices, &split_spec).record(&mut model);
    ranges.record(&mut model);
    let int8 = record_int8_scales(&mut model, &split)?;
    model.save(&args.out)?;
    println!(
        "{} on {} train / {} validation / {} test rows (embargo {embargo}) in {:.2} s -> {}",
        model.kind.name(),
        split.train.rows(),
        split.validation.rows(),
        split.test.rows(),
        start.elapsed().as_secs_f64(),
        args.out.display()
    );
    print_metrics("train", &metrics[0]);
    print_metrics("validation", &metrics[1]);
    print_metrics("test", &metrics[2]);
    match &int8 {
        Ok(r) => println!(
            "  int8: {}-bit activations recorded (serve with `tachyon run --precision int8`); against f32 on the \
             validation rows: correlation {:.5}, RMS error {:.3} and 99.9th-percentile error {:.3} output stds, \
             {:.2}% of the rows outside the calibrated range (served in f32)",
            r.bits.bits(),
            r.correlation,
            r.rms_error / r.f32_std,
            r.p999_abs_error / r.f32_std,
            100.0 * r.fallback_share
        ),
        Err(why) => println!("  int8: not recorded, the model serves in f32 only: {why}"),
    }
    if let Some(log) = &args.log {
        let epochs: Vec<_> = epochs
            .iter()
            .map(|e| {
                serde_json::json!({"epoch": e.epoch, "train_loss": e.train_loss, "validation_loss": e.validation_loss,
                    "validation_ic": e.validation_ic, "lr": e.lr, "seconds": e.seconds})
            })
            .collect();
        let json = serde_json::json!({
            "model": model.kind.name(), "schema_hash": format!("{:016x}", SCHEMA.hash()),
            "train": metrics_json(&metrics[0]), "validation": metrics_json(&metrics[1]),
            "test": metrics_json(&metrics[2]), "epochs": epochs, "fit_seconds": fit_seconds,
            "int8": match &int8 {
                Ok(r) => serde_json::json!({"bits": r.bits.bits(), "correlation": r.correlation,
                    "rms_error_std": r.rms_error / r.f32_std, "p999_error_std": r.p999_abs_error / r.f32_std,
                    "fallback_share": r.fallback_share}),
                Err(why) => serde_json::json!({"refused": why}),
            },
        });
        tachyon_io::write_atomic(log, (serde_json::to_string_pretty(&json)? + "\n").as_bytes())
            .with_context(|| format!("writing {}", log.display()))?;
    }
    Ok(())
}

/// Calibrates int8 on the training rows, checks it against f32 on the validation rows and, if it passes, records
/// its scales in `model` (so that `tachyon run --precision int8` serves it): the report, or why int8 was refused.
fn record_int8_scales(model: &mut ModelFile, split: &Split) -> Result<std::result::Result<QuantReport, String>> {
    let net = DenseNetwork::from_model_file(model)?;
    let calibration = tachyon_infer::quant::spread_rows(&split.train.x, net.inputs, 50_000);
    match CompiledModel::quantize(&net, &calibration, &split.validation.x, &Backend::active()) {
        Ok((compiled, report)) => {
            compiled.calibration().expect("an int8 model").record(model);
            Ok(Ok(report))
        }
        Err(QuantError::Compile(e)) => Err(e.into()),
        Err(refused) => Ok(Err(refused.to_string())),
    }
}

/// Runs `tachyon eval`: scores through the compiled f32 model (what serves), separately on the rows the model
/// never saw and on the rows it was fitted on (training and validation parts of its training files).
pub fn eval(args: &EvalArgs) -> Result<()> {
    let file = ModelFile::load(&args.model, &FEATURES)?;
    let spec = args.labels.spec()?;
    let first = |name: &str| file.array(name).and_then(|v| v.first().copied());
    let trained = first("meta.horizon_events").map(|h| Horizon::Events(h as usize));
    let trained = trained.or(first("meta.horizon_ns").map(|ns| Horizon::Time(ns as i64)));
    if let Some(trained) = trained {
        if trained != spec.horizon {
            eprintln!("warning: the model was trained for horizon {trained}, evaluating against {}", spec.horizon);
        }
    }
    if let Some(trained) = first("meta.flat_bps") {
        if trained != spec.flat_bps && file.kind != ModelKind::Ridge {
            eprintln!("warning: the model was trained with --flat-bps {trained}, evaluating against {}", spec.flat_bps);
        }
    }
    let net = DenseNetwork::from_model_file(&file).with_context(|| args.model.display().to_string())?;
    let model = CompiledModel::compile(&net, &tachyon_simd::Backend::active())?;
    let matrices = extract_inputs(&args.input, Some(spec))?;
    let sources = TrainingSources::from_model(&file);
    let (unseen, seen) = partition_by_training(&matrices, sources.as_ref());
    if let Some(ranges) = TrainingRanges::from_model(&file) {
        for drift in ranges.drifted(&unseen.x) {
            eprintln!("warning: {drift}");
        }
    }
    let score = |data: &Dataset| -> Result<Metrics> {
        let mut out = vec![0.0f32; data.rows() * model.outputs()];
        let mut scratches: Vec<_> = (0..rayon::current_num_threads()).map(|_| model.scratch()).collect();
        model.predict_batch_parallel(&data.x, &mut scratches, &mut out)?;
        let out: Vec<f64> = out.iter().map(|&v| f64::from(v)).collect();
        Ok(Metrics::compute(model.head(), &out, data))
    };
    println!(
        "{} ({} model, compiled f32 for {}) on every labelled row:",
        args.model.display(),
        file.kind.name(),
        model.isa()
    );
    match sources {
        None => {
            println!("  (the model file does not record what it was fitted on: rows are not told apart)");
            print_metrics("all", &score(&unseen)?);
        }
        Some(_) => {
            if unseen.rows() > 0 {
                print_metrics("unseen", &score(&unseen)?);
            }
            if seen.rows() > 0 {
                print_metrics("fitted on", &score(&seen)?);
                println!(
                    "  (`fitted on`: the training and validation parts of the files the model was trained on; \
                     `unseen`: their test parts and every other file)"
                );
            }
        }
    }
    Ok(())
}

/// The labelled rows of `matrices` the model never saw, and those it was fitted on (the training and validation
/// parts of its training files, cut by the split it was trained with).
fn partition_by_training(matrices: &[FeatureMatrix], sources: Option<&TrainingSources>) -> (Dataset, Dataset) {
    let (mut unseen, mut seen) = (Dataset::default(), Dataset::default());
    for m in matrices {
        match sources.filter(|s| s.contains(m)) {
            Some(sources) => {
                let split = Split::new(std::slice::from_ref(m), &sources.spec);
                seen.append(&split.train);
                seen.append(&split.validation);
                unseen.append(&split.test);
            }
            None => unseen.append(&Dataset::labelled(std::slice::from_ref(m))),
        }
    }
    (unseen, seen)
}
