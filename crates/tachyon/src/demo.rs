//! `tachyon demo`: the main job on the sample data shipped in the repository.
//!
//! At this stage: report the instruction set, self-check every kernel on it against an f64 reference, rebuild
//! the order book of the shipped LOBSTER samples, checked row by row against LOBSTER's own book, and extract the
//! streaming features and labels of both days (in parallel), with a summary of what they look like, and train
//! the ridge baseline and an MLP, with their out-of-sample metrics.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tachyon_simd::{isa, Isa};

/// Checks the kernels of `table` on `n` values against f64 references; returns (checks, failures).
/// Options of `tachyon demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder with the LOBSTER sample pairs (default: TACHYON_DATA, else `data/lobster` under the working
    /// directory or above the binary).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let active = isa::active();
    println!("Tachyon demo");
    println!(
        "instruction set: {active} (supported here: {})",
        Isa::supported().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
    );
    let check = tachyon_simd::self_check::self_check(&tachyon_simd::Backend::active())?;
    println!(
        "kernel self-check on {active}: {} of {} checks passed",
        check.checks - check.failures.len(),
        check.checks
    );
    if !check.passed() {
        bail!("kernel self-check failed: {}", check.failures.join(", "));
    }

    let dir = crate::sample_data::sample_data(args.data.as_deref())?;
    for (ticker, depth, ext) in [("AAPL", 1, "csv"), ("GOOG", 10, "csv.gz")] {
        let stem = format!("{ticker}_2012-06-21_34200000_57600000");
        let messages = dir.join(format!("{stem}_message_{depth}.{ext}"));
        let orderbook = dir.join(format!("{stem}_orderbook_{depth}.{ext}"));
        let start = Instant::now();
        let options = tachyon_market::VerifyOptions { max_examples: 3, ..Default::default() };
        let report = tachyon_market::verify_book(&messages, &orderbook, &options)
            .with_context(|| format!("checking the {ticker} book (pass --data DIR if the samples are elsewhere)"))?;
        println!(
            "{ticker} level {depth}: {} rows checked in {:.2} s: {} match on every level, {} undeterminable (a level entered the window from beyond depth {depth}), {} mismatching (the book rebuilt from the messages alone)",
            report.rows_checked,
            start.elapsed().as_secs_f64(),
            report.rows_matching,
            report.rows_undeterminable,
            report.rows_mismatching
        );
        if !report.passed() {
            bail!("the rebuilt {ticker} book differs from LOBSTER's:\n{report}");
        }
    }
    let matrices = feature_summary(&dir)?;
    ridge_baseline(&matrices)
}

/// Trains the ridge baseline on the first 60% of each day, checks it on the next 20% and scores it out of
/// sample on the last 20% (100-update embargo at each boundary: the label horizon).
fn ridge_baseline(matrices: &[tachyon_features::FeatureMatrix]) -> Result<()> {
    use tachyon_train::{
        train_logistic, train_network, train_ridge, LrSchedule, Metrics, ModelFile, Split, SplitSpec, TrainSpec,
    };
    let start = Instant::now();
    let split = Split::new(matrices, &SplitSpec::default());
    let report = train_ridge(&split, 1e-3)?;
    let path = std::env::temp_dir().join(format!("tachyon-demo-ridge-{}.tcy", std::process::id()));
    report.model.save(&path)?;
    ModelFile::load(&path, &tachyon_train::FEATURES)?;
    let _ = std::fs::remove_file(&path);
    println!(
        "ridge baseline (lambda 1e-3, X^T X on our GEMM + Cholesky, f64): {} train / {} validation / {} test rows, {:.2} s; model file saved, reloaded and checked",
        split.train.rows(),
        split.validation.rows(),
        split.test.rows(),
        start.elapsed().as_secs_f64()
    );
    print_parts(&[report.train, report.validation, report.test].map(Metrics::Regression));

    let start = Instant::now();
    let logistic = train_logistic(&split, 1e-3)?;
    println!(
        "logistic regression, down / flat / up at +-0.5 bps (lambda 1e-3, Newton on our GEMM, f64): {} iterations \
         to a gradient of {:.0e}, {:.2} s",
        logistic.fit.iterations,
        logistic.fit.gradient_max,
        start.elapsed().as_secs_f64()
    );
    print_parts(&[logistic.train, logistic.validation, logistic.test]);

    let start = Instant::now();
    let spec =
        TrainSpec { epochs: 5, schedule: LrSchedule::Cosine { total_steps: 5, floor: 0.0 }, ..Default::default() };
    let mlp = train_network(&split, &spec, &mut |_| {})?;
    println!(
        "MLP 44 -> 64 -> 64 -> 1 (ReLU, Adam, cosine schedule, batch 256, up to {} epochs, early stopping on validation loss): kept epoch {}, {:.2} s",
        spec.epochs,
        mlp.best_epoch,
        start.elapsed().as_secs_f64()
    );
    print_parts(&[mlp.train, mlp.validation, mlp.test]);
    predictors(&split, &mlp.model)
}

/// Compiles the trained MLP into the f32 and int8 predictors, checks them against the training-side forward pass
/// on the test rows, and prints their per-call latency.
fn predictors(split: &tachyon_train::Split, model: &tachyon_train::ModelFile) -> Result<()> {
    use tachyon_infer::latency::{measure, CacheState, LatencyReport};
    use tachyon_infer::{CompiledModel, DenseNetwork, Precision};
    use tachyon_train::{network_from_file, predict_all, RegressionMetrics, Workspace};

    let net = DenseNetwork::from_model_file(model)?;
    let backend = tachyon_simd::Backend::active();
    let f32_model = CompiledModel::compile(&net, &backend)?;
    let test = &split.test;
    let mut served = vec![0.0f32; test.rows()];
    f32_model.predict_batch(&test.x, &mut f32_model.scratch(), &mut served)?;
    // The training side: standardise in f64, then the batched GEMM forward pass.
    let (mlp, standardizer) = network_from_file(model)?;
    let z: Vec<f32> = standardizer.transform(&test.x).into_iter().map(|v| v as f32).collect();
    let trained = predict_all(&mlp, &mut Workspace::new(&mlp, 256), &z, &mut Vec::new());
    let typical = trained.iter().map(|v| v.abs()).sum::<f64>() / trained.len().max(1) as f64;
    let worst =
        served.iter().zip(&trained).map(|(&s, &t)| (f64::from(s) - t).abs() / t.abs().max(typical)).fold(0.0, f64::max);
    let ic =
        |pred: &[f32]| RegressionMetrics::compute(&pred.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(), &test.y).ic;
    println!(
        "predictor (f32, {}): {} test rows, largest difference from the training forward pass {worst:.1e} \
         (relative); test IC {:.4}",
        backend.isa(),
        test.rows(),
        ic(&served)
    );
    // Calibration rows spread over all training rows (both days): the first rows would be one day's morning.
    let calibration = tachyon_infer::quant::spread_rows(&split.train.x, net.inputs, 50_000);
    let int8 = match CompiledModel::quantize(&net, &calibration, &split.validation.x, &backend) {
        Ok((q, r)) => {
            let mut quantised = vec![0.0f32; test.rows()];
            q.predict_batch(&test.x, &mut q.scratch(), &mut quantised)?;
            let Precision::Int8 { kernel, .. } = q.precision() else { unreachable!("quantize makes int8 models") };
            println!(
                "predictor (int8, {} kernel, {}-bit activations): calibrated on {} training rows; on {} validation \
                 rows correlation with f32 {:.5}, RMS error {:.3} and 99.9th-percentile error {:.3} f32 output \
                 stds, max |error| {:.3} bps (f32 output std {:.3} bps), {:.2}% of the rows outside the calibrated \
                 range (computed in f32); test IC {:.4}",
                kernel.name(),
                r.bits.bits(),
                calibration.len() / net.inputs,
                r.rows,
                r.correlation,
                r.rms_error / r.f32_std,
                r.p999_abs_error / r.f32_std,
                r.max_abs_error,
                r.f32_std,
                100.0 * r.fallback_share,
                ic(&quantised)
            );
            Some(q)
        }
        Err(e) => {
            println!("predictor (int8): not used: {e}");
            None
        }
    };
    // 4096 rows (a few hundred KB, cache-resident like a live feature vector): this times the predictor, not
    // the fetch of a row from DRAM.
    let d = net.inputs;
    let rows = &test.x[..test.x.len().min(4096 * d)];
    let n = rows.len() / d;
    let at = |i: u64| (i as usize % n) * d;
    let evict = CacheState::Cold { evict_bytes: 2 * tachyon_simd::cache::CacheSizes::get().l2 };
    let line = |name: &str, r: &LatencyReport| {
        println!(
            "  {name:<12} {:>9} {:>7.0} {:>7.0} {:>7.0} {:>7.0} {:>8.0}",
            r.calls, r.p50_ns, r.p90_ns, r.p99_ns, r.p999_ns, r.max_ns
        )
    };
    println!(
        "single-sample latency, ns (every call timed alone; timer cost subtracted; `tachyon bench infer` for more):"
    );
    println!("  {:<12} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8}", "predictor", "calls", "p50", "p90", "p99", "p99.9", "max");
    let models = [Some(("f32", &f32_model)), int8.as_ref().map(|q| ("int8", q))];
    for (cache, calls, state) in [("warm", 300_000, CacheState::Warm), ("cold", 20_000, evict)] {
        for (name, model) in models.iter().flatten() {
            let mut scratch = model.scratch();
            let mut y = vec![0.0f32; model.outputs()];
            let r = measure(calls, state, |i| {
                model.predict(&rows[at(i)..at(i) + d], &mut scratch, &mut y).expect("width");
                std::hint::black_box(y[0]);
            });
            line(&format!("{name} {cache}"), &r);
        }
    }
    Ok(())
}

fn print_parts(parts: &[tachyon_train::Metrics; 3]) {
    use tachyon_train::Metrics;
    let names = ["train", "validation", "test (out of sample)"];
    match parts[0] {
        Metrics::Regression(_) => println!("  {:<20} {:>8} {:>8} {:>9} {:>9}", "part", "IC", "R^2", "hit rate", "MSE"),
        Metrics::Classification(_) => println!(
            "  {:<20} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "part", "IC", "hit rate", "accuracy", "macro-F1", "log-loss"
        ),
    }
    for (name, m) in names.iter().zip(parts) {
        match m {
            Metrics::Regression(m) => {
                println!("  {name:<20} {:>8.4} {:>8.4} {:>9.4} {:>9.3}", m.ic, m.r2, m.hit_rate, m.mse)
            }
            Metrics::Classification(m) => println!(
                "  {name:<20} {:>8.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
                m.ic, m.hit_rate, m.accuracy, m.macro_f1, m.log_loss
            ),
        }
    }
}

/// Features shown in the summary (all are computed; these are the ones a reader checks first).
const SHOWN: [&str; 12] = [
    "mid",
    "spread_bps",
    "microprice_dev_bps",
    "imbalance_l1",
    "imbalance_cum_l5",
    "ofi_e100",
    "trade_sign_imb_100",
    "ret_e100_bps",
    "ret_t10s_bps",
    "vol_hl100_bps",
    "ret_std_e1000_bps",
    "intensity_t1s",
];

/// Extracts the features and labels of both sample days and prints per-feature statistics and the information
/// coefficient (correlation with the label: the future mid change over 100 updates).
fn feature_summary(dir: &std::path::Path) -> Result<Vec<tachyon_features::FeatureMatrix>> {
    use tachyon_features::{extract_files, ExtractOptions, Input, LabelSpec, NUM_FEATURES, SCHEMA};

    let inputs: Vec<Input> =
        ["AAPL_2012-06-21_34200000_57600000_message_1.csv", "GOOG_2012-06-21_34200000_57600000_message_10.csv.gz"]
            .iter()
            .map(|f| Input::detect(&dir.join(f), Default::default(), None))
            .collect();
    let options = ExtractOptions { labels: Some(LabelSpec::default()), ..ExtractOptions::default() };
    let start = Instant::now();
    let matrices = extract_files(&inputs, &options).into_iter().collect::<Result<Vec<_>, _>>()?;
    let rows: usize = matrices.iter().map(|m| m.rows()).sum();
    println!(
        "features: {rows} rows x {NUM_FEATURES} ({} v{}, schema hash {:016x}) from 2 files in parallel in {:.2} s \
         (parse + book + features; docs/FEATURES.md)",
        SCHEMA.name,
        SCHEMA.version,
        SCHEMA.hash(),
        start.elapsed().as_secs_f64()
    );
    let non_finite = matrices.iter().flat_map(|m| &m.features).filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        bail!("{non_finite} feature values are not finite");
    }
    for m in &matrices {
        let name = m.source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let ticker = name.split('_').next().unwrap_or("?");
        let labels = m.labels.as_ref().expect("asked for labels");
        let counts = [0, 1, 2].map(|c| labels.class.iter().filter(|&&k| k == c).count());
        println!(
            "{ticker}: {} rows; label = mid change over the next 100 updates: {} down / {} flat / {} up (+-0.5 bps), IC = corr(feature, label)",
            m.rows(),
            counts[0],
            counts[1],
            counts[2]
        );
        println!("  {:<20} {:>11} {:>11} {:>11} {:>11} {:>7}", "feature", "mean", "std", "min", "max", "IC");
        for name in SHOWN {
            let j = SCHEMA.index_of(name).expect("a schema column");
            let column: Vec<f64> = (0..m.rows()).map(|i| f64::from(m.row(i)[j])).collect();
            let (mean, std) = mean_std(&column);
            let (min, max) = column.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let ic = correlation(&column, &labels.ret_bps);
            println!("  {name:<20} {mean:>11.4} {std:>11.4} {min:>11.4} {max:>11.4} {ic:>7.3}");
        }
    }
    Ok(matrices)
}

fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// Information coefficient (Pearson correlation) over the rows where the label is known.
fn correlation(x: &[f64], label: &[f32]) -> f64 {
    let (x, label): (Vec<f64>, Vec<f32>) =
        x.iter().zip(label).filter(|(_, l)| !l.is_nan()).map(|(&a, &b)| (a, b)).unzip();
    tachyon_train::RegressionMetrics::compute(&x, &label).ic
}
