//! Training any dense network on a time-ordered split: a linear model (ridge by SGD, or multinomial logistic
//! regression) or an MLP, with a regression or 3-class head. Standardisation fitted on the training rows, shuffled
//! mini-batches (seeded), Adam / AdamW or SGD with momentum under a learning-rate schedule, early stopping on the
//! validation loss (the best epoch's weights are kept), a log line per epoch, and the model file.

use std::time::Instant;

use tachyon_features::NUM_FEATURES;
use tachyon_linalg::GemmFloat;

use crate::metrics::Metrics;
use crate::mlp::{forward, Mlp, MlpSpec, Targets, Workspace};
use crate::optim::{LrSchedule, Method, NonFinite, Optimizer};
use crate::parallel::DataParallel;
use crate::{Activation, Dataset, DenseNetwork, Head, ModelError, ModelFile, ModelKind, Split, Standardizer};

/// Hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// Hidden layer widths; empty for a linear model.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Output head: regression on the return (bps) or down / flat / up.
    pub head: Head,
    /// Most epochs.
    pub epochs: usize,
    /// Rows per step.
    pub batch: usize,
    /// Update rule.
    pub method: Method,
    /// Base learning rate.
    pub lr: f64,
    /// Learning-rate schedule, in epochs (`Cosine { total_steps: epochs, .. }` decays over the whole run).
    pub schedule: LrSchedule,
    /// Weight decay on weights (Adam: decoupled, AdamW; SGD: L2 penalty, ridge's lambda).
    pub weight_decay: f64,
    /// Global gradient-norm clip (0: none).
    pub clip_norm: f64,
    /// Stop after this many epochs without a better validation loss.
    pub patience: usize,
    /// Seed of the initial weights and the batch order.
    pub seed: u64,
}

impl Default for TrainSpec {
    /// The standard MLP: 64, 64 ReLU, regression, Adam 1e-3 at a constant rate, batch 256, clip 1, 10 epochs,
    /// patience 3 (`tachyon train` defaults to a cosine schedule instead).
    fn default() -> Self {
        TrainSpec {
            hidden: vec![64, 64],
            activation: Activation::Relu,
            head: Head::Regression,
            epochs: 10,
            batch: 256,
            method: Method::ADAM,
            lr: 1e-3,
            schedule: LrSchedule::Constant,
            weight_decay: 0.0,
            clip_norm: 1.0,
            patience: 3,
            seed: 1,
        }
    }
}

impl TrainSpec {
    /// The kind of model file this spec trains: a linear regression is written as ridge, a linear classifier as
    /// logistic regression, anything with a hidden layer as an MLP.
    pub fn model_kind(&self) -> ModelKind {
        match (self.hidden.is_empty(), self.head) {
            (true, Head::Regression) => ModelKind::Ridge,
            (true, Head::Softmax3) => ModelKind::Logistic,
            (false, _) => ModelKind::Mlp,
        }
    }
}

impl LrSchedule {
    /// The same schedule counted in steps, for a schedule counted in epochs of `steps_per_epoch` steps.
    pub fn epochs_to_steps(self, steps_per_epoch: usize) -> LrSchedule {
        let k = steps_per_epoch.max(1) as u64;
        match self {
            LrSchedule::Constant => LrSchedule::Constant,
            LrSchedule::Cosine { total_steps, floor } => LrSchedule::Cosine { total_steps: total_steps * k, floor },
            LrSchedule::Step { every_steps, factor } => LrSchedule::Step { every_steps: every_steps * k, factor },
        }
    }
}

/// One epoch's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochLog {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (0.5 squared error in bps^2, or log-loss).
    pub train_loss: f64,
    /// Validation loss after the epoch.
    pub validation_loss: f64,
    /// Validation information coefficient after the epoch.
    pub validation_ic: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch's steps, s.
    pub seconds: f64,
}

/// Outcome of [`train_network`].
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// The model (best epoch), ready to save.
    pub model: ModelFile,
    /// Per epoch.
    pub log: Vec<EpochLog>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// In-sample metrics.
    pub train: Metrics,
    /// Validation metrics.
    pub validation: Metrics,
    /// Out-of-sample metrics.
    pub test: Metrics,
}

fn standardized_f32(s: &Standardizer, d: &Dataset) -> Vec<f32> {
    s.transform(&d.x).into_iter().map(|v| v as f32).collect()
}

/// Outputs (`rows x outputs`) for every row of `z` (standardised, row-major), batch by batch; the tail is
/// zero-padded.
pub fn predict_all(mlp: &Mlp<f32>, ws: &mut Workspace<f32>, z: &[f32], pad: &mut Vec<f32>) -> Vec<f64> {
    let (batch, d, outputs) = (ws.batch(), mlp.spec.inputs, mlp.spec.head.outputs());
    let mut out = Vec::with_capacity(z.len() / d * outputs);
    for chunk in z.chunks(batch * d) {
        let rows = chunk.len() / d;
        let input = if rows == batch {
            chunk
        } else {
            pad.clear();
            pad.extend_from_slice(chunk);
            pad.resize(batch * d, 0.0);
            pad.as_slice()
        };
        forward(mlp, ws, input);
        out.extend(ws.outputs()[..rows * outputs].iter().map(|&v| f64::from(v)));
    }
    out
}

/// Per column of `rows` (row-major, `width` per row): whether every row holds the same value.
fn constant_columns(rows: &[f32], width: usize) -> Vec<bool> {
    let mut constant = vec![true; width];
    if let Some(first) = rows.chunks_exact(width).next() {
        for row in rows.chunks_exact(width) {
            for ((c, v), f) in constant.iter_mut().zip(row).zip(first) {
                *c &= v.to_bits() == f.to_bits();
            }
        }
    }
    constant
}

/// Trains on `split`; `on_epoch` sees each epoch's log line.
pub fn train_network(
    split: &Split,
    spec: &TrainSpec,
    on_epoch: &mut dyn FnMut(&EpochLog),
) -> Result<TrainReport, NonFinite> {
    let standardizer = Standardizer::fit(&split.train.x, NUM_FEATURES);
    let (zt, zv, zs) = (
        standardized_f32(&standardizer, &split.train),
        standardized_f32(&standardizer, &split.validation),
        standardized_f32(&standardizer, &split.test),
    );
    let net =
        MlpSpec { inputs: NUM_FEATURES, hidden: spec.hidden.clone(), activation: spec.activation, head: spec.head };
    let mut mlp = Mlp::<f32>::new(net, spec.seed);
    if spec.hidden.is_empty() {
        // A linear model starts at zero, as scikit-learn's solvers do: the same optimum, and no random offset.
        mlp.weights.iter_mut().flatten().for_each(|w| *w = 0.0);
    }
    // An input constant over the training rows standardises to 0 there, so its first-layer weights never get a
    // gradient: starting them at zero keeps them zero, and a value it takes when serving cannot move a prediction.
    let constant = constant_columns(&split.train.x, NUM_FEATURES);
    for row in mlp.weights[0].chunks_exact_mut(NUM_FEATURES) {
        row.iter_mut().zip(&constant).filter(|(_, &c)| c).for_each(|(w, _)| *w = 0.0);
    }
    let mut ws = Workspace::new(&mlp, spec.batch);
    // Steps on every core of the pool: the batch is cut into one part per thread (deterministic per thread count).
    let mut steps_ws = DataParallel::new(&mlp, spec.batch, rayon::current_num_threads());
    let steps = split.train.rows() / spec.batch;
    let mut optimizer = Optimizer::new(&mlp, spec.method, spec.lr);
    optimizer.schedule = spec.schedule.epochs_to_steps(steps);
    optimizer.weight_decay = spec.weight_decay;
    optimizer.clip_norm = spec.clip_norm;
    let mut order: Vec<usize> = (0..steps).collect();
    let mut rng = spec.seed ^ 0xA5A5_A5A5;
    let mut pad = Vec::new();
    let (mut best, mut best_loss, mut best_epoch, mut log) = (mlp.clone(), f64::INFINITY, 0, Vec::new());
    for epoch in 0..spec.epochs {
        // Fisher-Yates over batch indices, seeded: the same order for the same seed.
        for i in (1..order.len()).rev() {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            order.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let start = Instant::now();
        let mut total = 0.0;
        for &b in &order {
            let rows = b * spec.batch..(b + 1) * spec.batch;
            let x = &zt[rows.start * NUM_FEATURES..rows.end * NUM_FEATURES];
            let targets = match spec.head {
                Head::Regression => Targets::Values(&split.train.y[rows]),
                Head::Softmax3 => Targets::Classes(&split.train.class[rows]),
            };
            let loss = steps_ws.forward_backward(&mlp, x, targets);
            optimizer.step(&mut mlp, steps_ws.gradients(), loss)?;
            total += loss;
        }
        let seconds = start.elapsed().as_secs_f64();
        let validation = Metrics::compute(spec.head, &predict_all(&mlp, &mut ws, &zv, &mut pad), &split.validation);
        let entry = EpochLog {
            epoch,
            train_loss: total / steps.max(1) as f64,
            validation_loss: validation.loss(),
            validation_ic: validation.ic(),
            lr: optimizer.lr * optimizer.schedule.factor(optimizer.steps()),
            seconds,
        };
        on_epoch(&entry);
        log.push(entry);
        if entry.validation_loss < best_loss || split.validation.rows() == 0 {
            (best, best_loss, best_epoch) = (mlp.clone(), entry.validation_loss, epoch);
        } else if epoch >= best_epoch + spec.patience {
            break;
        }
    }
    let mut score = |z: &[f32], d: &Dataset| Metrics::compute(spec.head, &predict_all(&best, &mut ws, z, &mut pad), d);
    let (train, validation, test) = (score(&zt, &split.train), score(&zv, &split.validation), score(&zs, &split.test));
    let mut extra = Vec::new();
    if spec.model_kind() == ModelKind::Ridge {
        extra.push(("meta.lambda".into(), vec![spec.weight_decay]));
    }
    extra.push(("meta.train_rows".into(), vec![split.train.rows() as f64]));
    let model = network_to_file(&best, &standardizer, spec.model_kind(), extra);
    Ok(TrainReport { model, log, best_epoch, train, validation, test })
}

/// The model file of a network and its standardisation, with `extra` arrays appended. `kind` Ridge writes the
/// ridge layout (`weights`, `bias`), which needs a linear regression network; the others write `w{l}`, `b{l}`
/// and the shape.
pub fn network_to_file<T: GemmFloat>(
    mlp: &Mlp<T>,
    standardizer: &Standardizer,
    kind: ModelKind,
    extra: Vec<(String, Vec<f64>)>,
) -> ModelFile {
    mlp.to_network(standardizer, &crate::FEATURES).to_model_file(kind, extra)
}

/// A model file (ridge, logistic or MLP) back as a network (f32 weights) and its standardisation.
pub fn network_from_file(file: &ModelFile) -> Result<(Mlp<f32>, Standardizer), ModelError> {
    Mlp::from_network(&DenseNetwork::from_model_file(file)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::forward_backward;
    use crate::Ridge;
    use tachyon_testkit::SplitMix64;

    /// Rows with a linear return (plus noise) and classes cut from it at +-0.2 bps.
    fn linear_data(rows: usize, seed: u64) -> Dataset {
        let mut rng = SplitMix64(seed);
        let truth: Vec<f64> =
            (0..NUM_FEATURES).map(|j| if j % 4 == 0 { 0.3 - 0.05 * (j / 4) as f64 } else { 0.0 }).collect();
        let mut data = Dataset::default();
        for _ in 0..rows {
            // Features at different scales and offsets, as real ones are: standardisation must matter.
            let row: Vec<f32> =
                (0..NUM_FEATURES).map(|j| (rng.uniform(-1.0, 1.0) * (1 + j % 5) as f64 + j as f64) as f32).collect();
            let signal: f64 =
                row.iter().enumerate().map(|(j, &v)| truth[j] * (f64::from(v) - j as f64) / (1 + j % 5) as f64).sum();
            let y = signal + rng.uniform(-0.2, 0.2);
            data.x.extend_from_slice(&row);
            data.y.push(y as f32);
            data.class.push(if y < -0.2 {
                0
            } else if y > 0.2 {
                2
            } else {
                1
            });
        }
        data
    }

    fn split(rows: usize) -> Split {
        Split { train: linear_data(rows, 1), validation: linear_data(rows / 4, 2), test: linear_data(rows / 4, 3) }
    }

    /// Without validation rows training keeps its last epoch: the optimum of the training objective, not the epoch
    /// that validated best.
    fn split_to_convergence(rows: usize) -> Split {
        Split { validation: Dataset::default(), ..split(rows) }
    }

    fn linear_spec(head: Head, weight_decay: f64, epochs: usize) -> TrainSpec {
        TrainSpec {
            hidden: vec![],
            head,
            epochs,
            batch: 256,
            method: Method::Sgd { momentum: 0.9 },
            lr: 0.05,
            schedule: LrSchedule::Cosine { total_steps: epochs as u64, floor: 0.0 },
            weight_decay,
            clip_norm: 0.0,
            patience: epochs,
            ..TrainSpec::default()
        }
    }

    #[test]
    fn ridge_by_sgd_reaches_the_closed_form_solution() {
        let split = split_to_convergence(8192);
        let lambda = 1e-2;
        let report = train_network(&split, &linear_spec(Head::Regression, lambda, 60), &mut |_| {}).unwrap();
        assert_eq!(report.model.kind, ModelKind::Ridge);
        let z = Standardizer::fit(&split.train.x, NUM_FEATURES).transform(&split.train.x);
        let exact = Ridge::fit(&z, &split.train.y, NUM_FEATURES, lambda).unwrap();
        let got = report.model.array("weights").unwrap();
        let scale = exact.weights.iter().map(|w| w.abs()).fold(0.0, f64::max);
        let worst = got.iter().zip(&exact.weights).map(|(g, e)| (g - e).abs()).fold(0.0, f64::max);
        assert!(worst <= 2e-3 * scale, "largest coefficient difference {worst:e} (largest coefficient {scale})");
        assert!((report.model.array("bias").unwrap()[0] - exact.bias).abs() <= 2e-3 * scale);
        let Metrics::Regression(test) = report.test else { panic!("regression head") };
        assert!(test.r2 > 0.85, "{test:?}");
    }

    #[test]
    fn logistic_regression_reaches_the_optimum_and_round_trips() {
        let split = split_to_convergence(8192);
        let lambda = 1e-2;
        let report = train_network(&split, &linear_spec(Head::Softmax3, lambda, 150), &mut |_| {}).unwrap();
        assert_eq!(report.model.kind, ModelKind::Logistic);
        let Metrics::Classification(test) = report.test else { panic!("3-class head") };
        assert!(test.accuracy > 0.7 && test.macro_f1 > 0.7 && test.ic > 0.8, "{test:?}");

        // First-order optimality of the penalised objective, in f64 over every training row: the gradient of
        // mean log-loss + 0.5 lambda |W|^2 is small next to its value at the starting point (all zeros).
        let (mlp, standardizer) = network_from_file(&report.model).unwrap();
        let wide = |m: &Mlp<f32>| Mlp::<f64> {
            spec: m.spec.clone(),
            weights: m.weights.iter().map(|w| w.iter().map(|&v| f64::from(v)).collect()).collect(),
            biases: m.biases.iter().map(|b| b.iter().map(|&v| f64::from(v)).collect()).collect(),
        };
        let z = standardizer.transform(&split.train.x);
        let gradient_norm = |m: &Mlp<f64>| {
            let mut ws = Workspace::new(m, split.train.rows());
            forward_backward(m, &mut ws, &z, Targets::Classes(&split.train.class));
            let weights = ws.grad_w[0].iter().zip(&m.weights[0]).map(|(g, w)| g + lambda * w);
            weights.chain(ws.grad_b[0].iter().copied()).map(|g| g * g).sum::<f64>().sqrt()
        };
        let trained = wide(&mlp);
        let mut zero = trained.clone();
        zero.weights.iter_mut().chain(zero.biases.iter_mut()).flatten().for_each(|v| *v = 0.0);
        let (at_fit, at_start) = (gradient_norm(&trained), gradient_norm(&zero));
        assert!(at_fit < 1e-3 * at_start, "gradient norm {at_fit:e} at the fit, {at_start:e} at zero");

        // The file holds what training scored.
        let zs: Vec<f32> = standardizer.transform(&split.test.x).into_iter().map(|v| v as f32).collect();
        let pred = predict_all(&mlp, &mut Workspace::new(&mlp, 100), &zs, &mut Vec::new());
        assert_eq!(Metrics::compute(Head::Softmax3, &pred, &split.test), report.test);
    }

    #[test]
    fn an_mlp_classifier_learns_and_its_file_says_so() {
        let split = split(8192);
        let spec = TrainSpec { hidden: vec![16], head: Head::Softmax3, epochs: 8, lr: 3e-3, ..TrainSpec::default() };
        let mut lines = Vec::new();
        let report = train_network(&split, &spec, &mut |e| lines.push(*e)).unwrap();
        assert_eq!(report.model.kind, ModelKind::Mlp);
        assert_eq!(lines.len(), report.log.len());
        assert!(lines.last().unwrap().validation_loss < 0.7 * lines[0].validation_loss, "{lines:?}");
        let Metrics::Classification(test) = report.test else { panic!("3-class head") };
        assert!(test.accuracy > 0.7, "{test:?}");
        let (mlp, _) = network_from_file(&report.model).unwrap();
        assert_eq!((mlp.spec.head, mlp.spec.hidden.clone()), (Head::Softmax3, vec![16]));
    }

    /// Every kind of fit gives excluded inputs exactly zero first-layer weights, so that no value they take when
    /// serving moves a prediction.
    #[test]
    fn excluded_inputs_get_zero_weights_from_every_fit() {
        let excluded: Vec<bool> = (0..NUM_FEATURES).map(|j| j % 4 == 0 || j == 1).collect();
        let mut split = split(2048);
        split.exclude(&excluded);
        let mlp = TrainSpec { hidden: vec![8], epochs: 2, ..TrainSpec::default() };
        for spec in [
            crate::ModelSpec::Ridge { lambda: 1e-3 },
            crate::ModelSpec::Logistic { lambda: 1e-3 },
            crate::ModelSpec::Iterative(linear_spec(Head::Regression, 1e-3, 2)),
            crate::ModelSpec::Iterative(mlp),
        ] {
            let report = crate::fit(&spec, &split, &mut |_| {}).unwrap();
            let net = DenseNetwork::from_model_file(&report.model).unwrap();
            let first = &net.layers[0];
            for row in first.weights.chunks_exact(NUM_FEATURES) {
                for (j, w) in row.iter().enumerate() {
                    assert!(!excluded[j] || *w == 0.0, "{spec:?}: excluded input {j} has weight {w}");
                }
            }
            assert!(first.weights.iter().any(|&w| w != 0.0), "{spec:?}: the other inputs are used");
        }
    }

    #[test]
    fn files_that_do_not_describe_a_network_are_refused() {
        let split = split(512);
        let spec = TrainSpec { epochs: 1, hidden: vec![4], ..TrainSpec::default() };
        let mut file = train_network(&split, &spec, &mut |_| {}).unwrap().model;
        file.arrays.retain(|(name, _)| name != "b1");
        assert!(network_from_file(&file).unwrap_err().to_string().contains("the model has no `b1` array"));
        let mut logistic = train_network(&split, &linear_spec(Head::Softmax3, 0.0, 1), &mut |_| {}).unwrap().model;
        logistic.arrays.iter_mut().filter(|(n, _)| n == "meta.hidden").for_each(|(_, v)| *v = vec![3.0]);
        assert!(network_from_file(&logistic).unwrap_err().to_string().contains("no hidden layer"));
    }
}
