//! `tachyon features`: the streaming feature engine over many files into CSV or Parquet, in bounded memory; and the
//! input and label options it shares with `tachyon train` and `tachyon eval`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tachyon_features::job::{self, Destination, InputOutcome, JobOptions, JobReport};
use tachyon_features::output::{Compression, OutputFormat, OutputOptions};
use tachyon_features::{extract, ExtractOptions, FeatureMatrix, Horizon, Input, LabelSpec, SCHEMA};
use tachyon_market::QuotesCsvConfig;

use crate::OnBadRow;

/// Which market files to read, and how.
#[derive(clap::Args)]
pub struct InputArgs {
    /// Input files: LOBSTER message files (`*_message_N.csv[.gz]`, read with the orderbook file beside them),
    /// Coinbase level-2 recordings, or quotes/trades CSVs (see docs/MARKET.md). Each file is one stream (a
    /// symbol-day, one product); files run in parallel.
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
    /// Coinbase recordings: the product to read (e.g. SKL-USD); needed when a recording holds several.
    #[arg(long)]
    pub product: Option<String>,
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

impl InputArgs {
    /// The inputs, each detected as LOBSTER or quotes CSV.
    pub fn inputs(&self) -> Result<Vec<Input>> {
        detect_inputs(&self.inputs, self.price_decimals, self.size_decimals, self.product.as_deref())
    }
}

/// `paths` as LOBSTER message files, Coinbase recordings (of `product`) or quotes CSVs (prices and sizes with the
/// given decimals), checked.
pub fn detect_inputs(
    paths: &[PathBuf],
    price_decimals: u32,
    size_decimals: u32,
    product: Option<&str>,
) -> Result<Vec<Input>> {
    if price_decimals > 9 || size_decimals > 9 {
        bail!("--price-decimals and --size-decimals go up to 9");
    }
    let config = QuotesCsvConfig { price_decimals, size_decimals };
    Ok(paths.iter().map(|p| Input::detect(p, config, product)).collect())
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
    let inputs = args.inputs()?;
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
    /// Output: a file (`.parquet` or `.csv`) holding every input's rows in input order, or a folder (a path ending
    /// in `/`, or an existing folder) receiving one file per input, named after it.
    #[arg(long)]
    out: PathBuf,
    /// Output format (default: from the --out extension; Parquet for a folder).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Parquet compression. snappy (the default) is read by every Parquet reader and halves the files; lz4
    /// writes the same size as fast (newer readers only); zstd writes files a quarter smaller in 1.5x the time;
    /// none writes about 20% faster and twice as large.
    #[arg(long, value_enum, default_value_t = CompressionArg::Snappy)]
    compression: CompressionArg,
    /// Worker threads (default: the cores this process may use). The output is the same bytes for any count.
    #[arg(long)]
    threads: Option<usize>,
    /// Rows per chunk and Parquet row group: memory is about threads x 4 chunks of ~200 bytes per row.
    #[arg(long, default_value_t = job::DEFAULT_CHUNK_ROWS)]
    chunk_rows: usize,
    /// Write a summary of the run (rows, rows/s, stage times, peak memory) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// With a folder --out: skip inputs whose output file exists (files are written whole, so an existing one is
    /// complete), to continue an interrupted run.
    #[arg(long)]
    resume: bool,
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
    /// Apache Parquet.
    Parquet,
}

/// `--compression` choices.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CompressionArg {
    /// Snappy.
    Snappy,
    /// LZ4 (raw).
    Lz4,
    /// Zstandard, level 1.
    Zstd,
    /// Uncompressed.
    None,
}

/// A progress bar over the inputs' bytes, with the rows written.
struct Bar {
    bar: indicatif::ProgressBar,
    rows: std::sync::atomic::AtomicU64,
}

impl job::Progress for Bar {
    fn rows(&self, rows: u64) {
        let total = self.rows.fetch_add(rows, std::sync::atomic::Ordering::Relaxed) + rows;
        self.bar.set_message(total.to_string());
    }

    fn bytes(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
}

/// Runs `tachyon features`.
pub fn run(args: &FeaturesArgs) -> Result<()> {
    crate::check_writable(args.report.as_deref())?;
    let is_dir = args.out.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) || args.out.is_dir();
    let format = match (args.format, is_dir) {
        (Some(Format::Csv), _) => OutputFormat::Csv,
        (Some(Format::Parquet), _) | (None, true) => OutputFormat::Parquet,
        (None, false) => OutputFormat::from_path(&args.out).with_context(|| {
            format!("{}: say --format csv|parquet, or name the file .csv or .parquet", args.out.display())
        })?,
    };
    let inputs = args.input.inputs()?;
    let labels = if args.no_labels { None } else { Some(args.labels.spec()?) };
    let compression = match args.compression {
        CompressionArg::Lz4 => Compression::Lz4,
        CompressionArg::Snappy => Compression::Snappy,
        CompressionArg::Zstd => Compression::Zstd,
        CompressionArg::None => Compression::None,
    };
    if args.chunk_rows == 0 {
        bail!("--chunk-rows must be at least 1");
    }
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let options = JobOptions {
        extract: ExtractOptions { on_bad_row: args.input.on_bad_row.policy(), labels, max_examples: 5 },
        output: OutputOptions { format, labels: labels.is_some(), compression },
        chunk_rows: args.chunk_rows,
        threads,
        resume: args.resume,
    };
    let destination = if is_dir { Destination::Dir(args.out.clone()) } else { Destination::File(args.out.clone()) };
    let total_bytes: u64 = inputs.iter().map(job::input_bytes).sum();
    let bar = indicatif::ProgressBar::new(total_bytes).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bar:30} {bytes}/{total_bytes} of input, {msg} rows written [{elapsed}, {eta} left]",
        )
        .expect("valid template"),
    );
    bar.set_message("0");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let result = job::run(&inputs, &destination, &options, &Bar { bar: bar.clone(), rows: Default::default() });
    bar.finish_and_clear();
    // Input errors name their file, line and field already; only an output error needs the output's name.
    let report = match result {
        Err(error @ job::JobError::Output(_)) => Err(error).with_context(|| format!("writing {}", args.out.display())),
        other => other.map_err(anyhow::Error::new),
    }?;
    print_report(&report, inputs.len() <= 20);
    if let Some(path) = &args.report {
        let summary = Summary::of(&report, threads);
        tachyon_io::write_atomic(path, &serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = report.failures().count();
    if failed > 0 {
        bail!("{failed} of {} inputs failed (listed above); their outputs were not written", inputs.len());
    }
    Ok(())
}

/// The `--report` JSON of a run.
#[derive(serde::Serialize)]
struct Summary {
    inputs: usize,
    failed: usize,
    resumed: usize,
    threads: usize,
    rows: u64,
    updates: u64,
    input_bytes: u64,
    elapsed_s: f64,
    rows_per_s: f64,
    extract_thread_s: f64,
    encode_thread_s: f64,
    write_thread_s: f64,
    /// The process's peak resident memory (Linux), bytes.
    peak_rss_bytes: Option<u64>,
}

impl Summary {
    fn of(report: &JobReport, threads: usize) -> Summary {
        let elapsed_s = report.elapsed.as_secs_f64();
        Summary {
            inputs: report.inputs.len(),
            failed: report.failures().count(),
            resumed: report.inputs.iter().filter(|r| matches!(r.outcome, InputOutcome::Resumed)).count(),
            threads,
            rows: report.rows,
            updates: report.updates,
            input_bytes: report.input_bytes,
            elapsed_s,
            rows_per_s: report.rows as f64 / elapsed_s.max(1e-9),
            extract_thread_s: report.times.extract.as_secs_f64(),
            encode_thread_s: report.times.encode.as_secs_f64(),
            write_thread_s: report.times.write.as_secs_f64(),
            peak_rss_bytes: peak_rss_bytes(),
        }
    }
}

/// The peak resident memory of this process so far (`VmHWM` of /proc/self/status), where the OS tells it.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim();
    kb.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn print_report(report: &JobReport, each_input: bool) {
    let mut resumed = 0;
    for r in &report.inputs {
        match &r.outcome {
            InputOutcome::Done(c) => {
                if each_input || c.rows_skipped > 0 {
                    println!(
                        "{}: {} rows ({} read, {} before the first two-sided book, {} malformed rows skipped)",
                        r.input.display(),
                        c.rows,
                        c.rows_read,
                        c.rows_warmup,
                        c.rows_skipped
                    );
                }
                for e in &c.skipped_examples {
                    println!("  skipped: {e}");
                }
            }
            InputOutcome::Resumed => resumed += 1,
            InputOutcome::Failed(e) => println!("{}: FAILED: {e}", r.input.display()),
        }
    }
    if resumed > 0 {
        println!("{resumed} inputs already had their output (--resume): left as they are");
    }
    if report.stale_removed > 0 {
        println!("{} temporary files of an interrupted run removed", report.stale_removed);
    }
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let t = report.times;
    let busy = (t.extract + t.encode + t.write).as_secs_f64().max(1e-9);
    let share = |d: std::time::Duration| 100.0 * d.as_secs_f64() / busy;
    println!(
        "{} rows x {} features ({} {}, schema hash {:016x}) in {:.2} s: {:.0} k rows/s, {:.0} MB/s of input \
         (thread time: extract {:.0}%, encode {:.0}%, write {:.0}%){}",
        report.rows,
        SCHEMA.names.len(),
        SCHEMA.name,
        SCHEMA.version,
        SCHEMA.hash(),
        secs,
        report.rows as f64 / secs / 1e3,
        report.input_bytes as f64 / secs / 1e6,
        share(t.extract),
        share(t.encode),
        share(t.write),
        peak_rss_bytes().map_or_else(String::new, |b| format!(", peak memory {} MB", b >> 20)),
    );
}
