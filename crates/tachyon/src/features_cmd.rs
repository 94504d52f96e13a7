//! `tachyon features`: the streaming feature engine over whole files, into one CSV or Parquet matrix; and the
//! input and label options it shares with `tachyon train` and `tachyon eval`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tachyon_features::output::{self, OutputFormat};
use tachyon_features::{extract, ExtractOptions, FeatureMatrix, Horizon, Input, LabelSpec, SCHEMA};
use tachyon_market::QuotesCsvConfig;

use crate::OnBadRow;

/// Which market files to read, and how.
#[derive(clap::Args)]
pub struct InputArgs {
    /// Input files: LOBSTER message files (`*_message_N.csv[.gz]`, read with the orderbook file beside them) or
    /// quotes/trades CSVs (see docs/MARKET.md). Each file is one stream (a symbol-day); files run in parallel.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// What to do with a malformed row: stop with an error naming file, line and field, or skip it, count it
    /// and report it.
    #[arg(long, value_enum, default_value_t = OnBadRow::Fail)]
    pub on_bad_row: OnBadRow,
    /// Quotes CSV: decimal places of the price tick (4: prices become integer units of 0.0001).
    #[arg(long, default_value_t = 4)]
    pub price_decimals: u32,
    /// Quotes CSV: decimal places of sizes (0: whole units).
    #[arg(long, default_value_t = 0)]
    pub size_decimals: u32,
}

/// What the label is.
#[derive(clap::Args)]
pub struct LabelArgs {
    /// Label horizon in updates: the mid change N updates ahead (default 100). Conflicts with --horizon-ms.
    #[arg(long, value_name = "N", conflicts_with = "horizon_ms")]
    pub horizon_events: Option<usize>,
    /// Label horizon in milliseconds: the mid in effect that much later.
    #[arg(long, value_name = "MS")]
    pub horizon_ms: Option<u64>,
    /// Changes within +-this many basis points are labelled flat (class 1).
    #[arg(long, default_value_t = 0.5, value_name = "BPS")]
    pub flat_bps: f64,
}

impl LabelArgs {
    /// The label specification, checked.
    pub fn spec(&self) -> Result<LabelSpec> {
        if self.flat_bps.is_nan() || self.flat_bps < 0.0 {
            bail!("--flat-bps must be a non-negative number, got {}", self.flat_bps);
        }
        if self.horizon_events == Some(0) || self.horizon_ms == Some(0) {
            bail!("a label horizon must be at least 1");
        }
        let horizon = match (self.horizon_events, self.horizon_ms) {
            (_, Some(ms)) => Horizon::Time(i64::try_from(ms)?.saturating_mul(1_000_000)),
            (Some(n), None) => Horizon::Events(n),
            (None, None) => LabelSpec::default().horizon,
        };
        Ok(LabelSpec { horizon, flat_bps: self.flat_bps })
    }
}

/// Extracts every input in parallel with a progress bar, printing a line per file (rows, warm-up, skipped).
pub fn extract_inputs(args: &InputArgs, labels: Option<LabelSpec>) -> Result<Vec<FeatureMatrix>> {
    let config = QuotesCsvConfig { price_decimals: args.price_decimals, size_decimals: args.size_decimals };
    if config.price_decimals > 9 || config.size_decimals > 9 {
        bail!("--price-decimals and --size-decimals go up to 9");
    }
    let inputs: Vec<Input> = args.inputs.iter().map(|p| Input::detect(p, config)).collect();
    let options = ExtractOptions { on_bad_row: args.on_bad_row.policy(), labels, max_examples: 5 };
    let bar = indicatif::ProgressBar::new(inputs.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{spinner} extracting features: {pos}/{len} files [{elapsed}]")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let results: Vec<_> = {
        use rayon::prelude::*;
        inputs
            .par_iter()
            .map(|input| {
                let r = input.open().and_then(|mut source| extract(source.as_mut(), &options));
                bar.inc(1);
                r
            })
            .collect()
    };
    bar.finish_and_clear();
    let mut matrices = Vec::with_capacity(results.len());
    for (input, result) in inputs.iter().zip(results) {
        let m = result.with_context(|| format!("extracting features from {}", input.path().display()))?;
        println!(
            "{}: {} rows ({} read, {} before the first two-sided book, {} malformed rows skipped)",
            input.path().display(),
            m.rows(),
            m.rows_read,
            m.rows_warmup,
            m.rows_skipped
        );
        for e in &m.skipped_examples {
            println!("  skipped: {e}");
        }
        matrices.push(m);
    }
    Ok(matrices)
}

/// Options of `tachyon features`.
#[derive(clap::Args)]
pub struct FeaturesArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Output file; `.parquet` or `.csv` (the format follows the extension unless --format is given).
    #[arg(long)]
    out: PathBuf,
    /// Output format (default: from the --out extension).
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[command(flatten)]
    labels: LabelArgs,
    /// Write no label columns.
    #[arg(long, conflicts_with_all = ["horizon_events", "horizon_ms"])]
    no_labels: bool,
}

/// `--format` choices.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    /// Comma-separated text with a header.
    Csv,
    /// Apache Parquet (snappy).
    Parquet,
}

/// Runs `tachyon features`.
pub fn run(args: &FeaturesArgs) -> Result<()> {
    let format = match args.format {
        Some(Format::Csv) => OutputFormat::Csv,
        Some(Format::Parquet) => OutputFormat::Parquet,
        None => OutputFormat::from_path(&args.out).with_context(|| {
            format!("{}: say --format csv|parquet, or name the file .csv or .parquet", args.out.display())
        })?,
    };
    let labels = if args.no_labels { None } else { Some(args.labels.spec()?) };
    let start = Instant::now();
    let matrices = extract_inputs(&args.input, labels)?;
    let extract_s = start.elapsed().as_secs_f64();
    let rows = output::write(&args.out, format, &matrices)?;
    let updates: u64 = matrices.iter().map(|m| m.rows_read).sum();
    println!(
        "{rows} rows x {} features ({} {}, schema hash {:016x}) -> {} in {:.2} s ({:.0} k updates/s extracting)",
        SCHEMA.names.len(),
        SCHEMA.name,
        SCHEMA.version,
        SCHEMA.hash(),
        args.out.display(),
        start.elapsed().as_secs_f64(),
        updates as f64 / extract_s / 1e3
    );
    Ok(())
}
