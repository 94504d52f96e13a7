//! `tachyon features`: the streaming feature engine over whole files, into one CSV or Parquet matrix.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tachyon_features::output::{self, OutputFormat};
use tachyon_features::{extract_files, ExtractOptions, Horizon, Input, LabelSpec, SCHEMA};
use tachyon_market::QuotesCsvConfig;

use crate::OnBadRow;

/// Options of `tachyon features`.
#[derive(clap::Args)]
pub struct FeaturesArgs {
    /// Input files: LOBSTER message files (`*_message_N.csv[.gz]`, read with the orderbook file beside them) or
    /// quotes/trades CSVs (see docs/MARKET.md). Each file is one stream (a symbol-day); files run in parallel.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file; `.parquet` or `.csv` (the format follows the extension unless --format is given).
    #[arg(long)]
    out: PathBuf,
    /// Output format (default: from the --out extension).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Label horizon in updates (future mid change `N` updates ahead). Conflicts with --horizon-ms.
    #[arg(long, value_name = "N", conflicts_with = "horizon_ms")]
    horizon_events: Option<usize>,
    /// Label horizon in milliseconds (mid in effect that much later).
    #[arg(long, value_name = "MS")]
    horizon_ms: Option<u64>,
    /// Changes within +-this many basis points are labelled flat (class 1).
    #[arg(long, default_value_t = 0.5, value_name = "BPS")]
    flat_bps: f64,
    /// Write no label columns.
    #[arg(long, conflicts_with_all = ["horizon_events", "horizon_ms"])]
    no_labels: bool,
    /// What to do with a malformed row: stop with an error naming file, line and field, or skip it, count it
    /// and report it.
    #[arg(long, value_enum, default_value_t = OnBadRow::Fail)]
    on_bad_row: OnBadRow,
    /// Quotes CSV: decimal places of the price tick (4: prices become integer units of 0.0001).
    #[arg(long, default_value_t = 4)]
    price_decimals: u32,
    /// Quotes CSV: decimal places of sizes (0: whole units).
    #[arg(long, default_value_t = 0)]
    size_decimals: u32,
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
    if args.flat_bps.is_nan() || args.flat_bps < 0.0 {
        bail!("--flat-bps must be a non-negative number, got {}", args.flat_bps);
    }
    if args.horizon_events == Some(0) || args.horizon_ms == Some(0) {
        bail!("a label horizon must be at least 1");
    }
    let labels = (!args.no_labels).then(|| LabelSpec {
        horizon: match (args.horizon_events, args.horizon_ms) {
            (_, Some(ms)) => Horizon::Time(ms as i64 * 1_000_000),
            (Some(n), None) => Horizon::Events(n),
            (None, None) => LabelSpec::default().horizon,
        },
        flat_bps: args.flat_bps,
    });
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
    let start = Instant::now();
    let results = {
        let bar = bar.clone();
        rayon::ThreadPoolBuilder::new().build()?.install(|| {
            use rayon::prelude::*;
            inputs
                .par_iter()
                .map(|input| {
                    let r = extract_files(std::slice::from_ref(input), &options).pop().expect("one result");
                    bar.inc(1);
                    r
                })
                .collect::<Vec<_>>()
        })
    };
    bar.finish_and_clear();
    let extract_s = start.elapsed().as_secs_f64();
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
