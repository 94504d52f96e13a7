//! `tachyon validate`: can this machine's numbers be trusted? Every check Tachyon's tests make of its arithmetic,
//! run here on every instruction set this CPU has, with the measured value, its limit and the room between them.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use tachyon_simd::accuracy::{
    every_f32_count, max_ulp_error, max_ulp_error_every_f32, sweep, MathFunction, SWEEP_POINTS,
};
use tachyon_simd::isa::{self, IsaRequest, IsaSource};
use tachyon_simd::{Backend, Float, Isa};

/// Options of `tachyon validate`.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Also check f32 exp, tanh and sigmoid on every f32 of their ranges (about 2.2 billion inputs each, minutes
    /// per instruction set) instead of a 2-million-point sweep.
    #[arg(long)]
    pub full: bool,
    /// Print the checks as a JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Folder with the LOBSTER sample pairs (default: TACHYON_DATA, else `data/lobster` under the working
    /// directory or above the binary).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

/// One check: what was measured against what limit.
#[derive(Serialize)]
struct Check {
    /// What was checked.
    check: String,
    /// The instruction set it ran on (none for checks that do not depend on it).
    isa: Option<&'static str>,
    /// The measured value (an error, a ratio, a count), in `unit`.
    measured: f64,
    /// The largest value that passes, in `unit`.
    limit: f64,
    unit: &'static str,
    passed: bool,
}

impl Check {
    fn new(check: impl Into<String>, isa: Option<Isa>, measured: f64, limit: f64, unit: &'static str) -> Check {
        Check { check: check.into(), isa: isa.map(Isa::name), measured, limit, unit, passed: measured <= limit }
    }

    /// How many times the measured value fits under its limit ("-" when it measured zero).
    fn headroom(&self) -> String {
        if !self.passed {
            "FAIL".into()
        } else if self.measured > 0.0 {
            format!("{:.1}x", self.limit / self.measured)
        } else {
            "-".into()
        }
    }
}

pub fn run(args: &ValidateArgs) -> Result<()> {
    let start = Instant::now();
    // Found before any work, so that a missing folder is a quick error.
    let dir = crate::sample_data::sample_data(args.data.as_deref())?;
    // Every level this CPU has, unless one was asked for.
    let levels = match isa::active_source() {
        IsaSource::Detected => Isa::supported(),
        _ => vec![isa::active()],
    };
    let restore = isa::active();
    let mut checks = Vec::new();
    let say = |what: &str| {
        if !args.json {
            eprintln!("checking {what} ...");
        }
    };
    say("kernels, transcendental functions, GEMM, gradients and predictors");
    for &isa in &levels {
        // The global level too: training's GEMM calls read it.
        isa::set_active(IsaRequest::Exactly(isa))?;
        let backend = Backend::new(isa)?;
        kernels(&backend, &mut checks)?;
        math::<f32>(isa, args.full, &mut checks)?;
        math::<f64>(isa, false, &mut checks)?;
        gemm(isa, &mut checks)?;
        gradients(isa, &mut checks);
        predictors(&backend, &mut checks)?;
    }
    isa::set_active(IsaRequest::Exactly(restore))?;

    for (ticker, depth, ext) in [("AAPL", 1, "csv"), ("GOOG", 10, "csv.gz")] {
        let stem = format!("{ticker}_2012-06-21_34200000_57600000");
        let message = dir.join(format!("{stem}_message_{depth}.{ext}"));
        let orderbook = dir.join(format!("{stem}_orderbook_{depth}.{ext}"));
        say(&format!("the {ticker} book and features"));
        let book = tachyon_market::verify_book(&message, &orderbook, &Default::default())
            .with_context(|| format!("checking the {ticker} book"))?;
        checks.push(Check::new(
            format!("{ticker} level-{depth} book vs LOBSTER's ({} rows): mismatching rows", book.rows_checked),
            None,
            book.rows_mismatching as f64,
            0.0,
            "rows",
        ));
        let oracle = tachyon_features::oracle::compare_with_engine(&message, &orderbook)
            .with_context(|| format!("recomputing the {ticker} features"))?;
        let (feature, share, _) = oracle.worst_feature();
        let mut check = Check::new(
            format!("{ticker} 44 features vs their definitions ({} rows): worst, {feature}", oracle.rows),
            None,
            share,
            1.0,
            "of bound",
        );
        check.passed &= oracle.passed();
        checks.push(check);
    }

    let failed = checks.iter().filter(|c| !c.passed).count();
    if args.json {
        let doc = serde_json::json!({
            "cpu": crate::info::cpu_model(),
            "instruction_sets": levels.iter().map(|i| i.name()).collect::<Vec<_>>(),
            "full": args.full,
            "seconds": start.elapsed().as_secs_f64(),
            "passed": failed == 0,
            "checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(&checks);
        println!(
            "{} of {} checks passed on {} ({}) in {:.1} s",
            checks.len() - failed,
            checks.len(),
            crate::info::cpu_model(),
            levels.iter().map(|i| i.name()).collect::<Vec<_>>().join(", "),
            start.elapsed().as_secs_f64()
        );
    }
    if failed > 0 {
        eprintln!("error: {failed} check(s) failed");
        std::process::exit(crate::EXIT_MISMATCH);
    }
    Ok(())
}

fn print_table(checks: &[Check]) {
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(5).max(5);
    println!("{:<width$}  {:<7} {:>12} {:>12}  {:<10} {:>8}", "check", "isa", "measured", "limit", "unit", "headroom");
    for c in checks {
        println!(
            "{:<width$}  {:<7} {:>12} {:>12}  {:<10} {:>8}",
            c.check,
            c.isa.unwrap_or("-"),
            shown(c.measured, c.unit),
            shown(c.limit, c.unit),
            c.unit,
            c.headroom()
        );
    }
}

/// A value in the table: counts as integers, others to three decimals, scientific where small.
fn shown(x: f64, unit: &str) -> String {
    if x == 0.0 || matches!(unit, "rows" | "outputs") {
        format!("{x:.0}")
    } else if x.abs() >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

/// The vector kernels on awkward lengths against f64 references.
fn kernels(backend: &Backend, checks: &mut Vec<Check>) -> Result<()> {
    let report = tachyon_simd::self_check::self_check(backend)?;
    let mut check = Check::new(
        format!("vector kernels, f32 and f64, {} cases: worst error", report.checks),
        Some(backend.isa()),
        report.worst,
        1.0,
        "of bound",
    );
    check.passed &= report.passed();
    checks.push(check);
    Ok(())
}

/// exp, tanh and sigmoid in ulps of the result, on a sweep or (f32, `full`) on every input of their ranges.
fn math<T: Float>(isa: Isa, full: bool, checks: &mut Vec<Check>) -> Result<()> {
    let table = T::kernels_for(isa)?;
    for function in MathFunction::ALL {
        let (lo, hi) = function.range::<T>();
        let (err, how) = if full && T::BYTES == 4 {
            let f32_table = f32::kernels_for(isa)?;
            let bar = indicatif::ProgressBar::new(every_f32_count((lo, hi))).with_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{} f32 on {isa}, every input: {{bar:30}} {{percent}}% [{{elapsed}} / {{duration}}]",
                    function.name()
                ))
                .expect("valid template"),
            );
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let err = max_ulp_error_every_f32(function, f32_table, (lo, hi), threads, &|done| bar.set_position(done));
            bar.finish_and_clear();
            (err, format!("all {} f32 inputs", err.points))
        } else {
            let err = max_ulp_error(function, table, &sweep::<T>(lo, hi, SWEEP_POINTS));
            (err, format!("{}-point sweep", err.points))
        };
        let mut check = Check::new(
            format!("{} {} on [{lo}, {hi}], {how}: max error", function.name(), T::NAME),
            Some(isa),
            err.ulps,
            function.bound_ulp::<T>(isa),
            "ulp",
        );
        check.passed &= err.nan_results == 0;
        checks.push(check);
    }
    Ok(())
}

/// GEMM's error ratio against a compensated reference, the reference BLAS tests' measure.
fn gemm(isa: Isa, checks: &mut Vec<Check>) -> Result<()> {
    use tachyon_linalg::accuracy::{error_ratio, CHECK_SHAPES, MAX_ERROR_RATIO};
    let f32_ratio = error_ratio(&tachyon_linalg::Gemm::<f32>::new(isa)?, &CHECK_SHAPES, 7);
    let f64_ratio = error_ratio(&tachyon_linalg::Gemm::<f64>::new(isa)?, &CHECK_SHAPES, 7);
    for (name, ratio) in [("f32", f32_ratio), ("f64", f64_ratio)] {
        // A broken worst-case bound is a wrong product: reported as infinitely far over the limit.
        let measured = ratio.unwrap_or(f64::INFINITY);
        checks.push(Check::new(
            format!("GEMM {name}, {} shapes: error ratio max|err| / (u G)", CHECK_SHAPES.len()),
            Some(isa),
            measured,
            MAX_ERROR_RATIO,
            "ratio",
        ));
    }
    Ok(())
}

/// The MLP's backward pass against central differences (f64, on the active level's GEMM).
fn gradients(isa: Isa, checks: &mut Vec<Check>) {
    use tachyon_train::{gradient_check, GRADIENT_TOLERANCE};
    let (mut worst, mut cases) = (0.0f64, 0);
    for activation in [tachyon_infer::Activation::Relu, tachyon_infer::Activation::Tanh] {
        for head in [tachyon_infer::Head::Regression, tachyon_infer::Head::Softmax3] {
            for batch in [9, 1] {
                let err = gradient_check(activation, head, batch);
                worst = if err.is_nan() { f64::INFINITY } else { worst.max(err) };
                cases += 1;
            }
        }
    }
    checks.push(Check::new(
        format!("MLP gradients vs central differences, {cases} cases: worst"),
        Some(isa),
        worst,
        GRADIENT_TOLERANCE,
        "relative",
    ));
}

/// The f32 and int8 predictors against the f64 forward pass, the scalar twin and each other.
fn predictors(backend: &Backend, checks: &mut Vec<Check>) -> Result<()> {
    use tachyon_infer::check::{check_predictors, F32_TOLERANCE};
    use tachyon_infer::quant::{MAX_FALLBACK_SHARE, MAX_P999_ERROR, MAX_RMS_ERROR, MIN_CORRELATION};
    let isa = Some(backend.isa());
    let c = check_predictors(backend)?;
    let q = &c.int8_vs_f32;
    checks.push(Check::new(
        "f32 predictor vs f64 forward pass: worst",
        isa,
        c.f32_relative_error,
        F32_TOLERANCE,
        "relative",
    ));
    checks.push(Check::new(
        "int8 predictor vs its scalar twin: differing outputs",
        isa,
        if c.int8_bit_identical { 0.0 } else { 1.0 },
        0.0,
        "outputs",
    ));
    checks.push(Check::new(
        format!("int8 vs f32 ({}-bit activations): RMS error", q.bits.bits()),
        isa,
        q.rms_error / q.f32_std,
        MAX_RMS_ERROR,
        "f32 std",
    ));
    checks.push(Check::new(
        "int8 vs f32: 99.9th-percentile error",
        isa,
        q.p999_abs_error / q.f32_std,
        MAX_P999_ERROR,
        "f32 std",
    ));
    checks.push(Check::new("int8 vs f32: 1 - correlation", isa, 1.0 - q.correlation, 1.0 - MIN_CORRELATION, "-"));
    checks.push(Check::new(
        "int8: rows outside the calibrated range (served in f32)",
        isa,
        q.fallback_share,
        MAX_FALLBACK_SHARE,
        "share",
    ));
    Ok(())
}
