//! `tachyon`: market ticks to trading signals at the speed of the hardware.

mod bench_cmd;
mod demo;
mod export_cmd;
mod features_cmd;
mod feed_cmd;
mod info;
mod models_cmd;
mod run_cmd;
mod sample_data;
mod soak_cmd;
mod train_cmd;
mod validate_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tachyon_simd::isa::{self, IsaRequest};

/// Tachyon: order-book features, small models and sub-microsecond predictions, on an ordinary CPU.
///
/// The instruction set (scalar, avx2, avx512) is detected at start; override it with --isa or the
/// TACHYON_ISA environment variable for A/B tests and rollback.
#[derive(Parser)]
#[command(name = "tachyon", version, about, long_about, after_help = EXIT_STATUS)]
struct Cli {
    /// Instruction set to run: scalar, avx2, avx512 or auto (default: TACHYON_ISA, else the best this CPU has).
    #[arg(long, global = true, value_name = "ISA")]
    isa: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CPU, its features, the chosen instruction set and why.
    Info,
    /// Run built-in benchmarks and print a table (or JSON lines with --json).
    ///
    /// Every figure Tachyon claims is reproduced by one of these workloads. Each run measures its own peaks
    /// (FMA throughput, memory bandwidth) so that fractions of peak come from the same run.
    Bench(bench_cmd::BenchArgs),
    /// Run the main job on the sample data shipped in the repository.
    Demo(demo::DemoArgs),
    /// Export a model's network (or the standard benchmark network) as JSON, with probe rows and our f32 and
    /// int8 outputs on them, for peers to load (benches/peers/infer_peers.py builds ONNX and PyTorch models from
    /// it and compares outputs number by number).
    Export(export_cmd::ExportArgs),
    /// Rebuild the order book from a LOBSTER message file and check it, row by row, against LOBSTER's own
    /// orderbook file (any ticker, day and depth; `.csv` or `.csv.gz`).
    ///
    /// Prints rows checked, rows matching on every level, rows where a level entered from beyond the file's
    /// depth (its size cannot be known from the messages) and rows mismatching, with the first mismatches.
    /// Exits with status 1 if any determinable level differs or a message removes more shares than the rebuilt
    /// book holds at its price.
    VerifyBook(VerifyBookArgs),
    /// Convert a LOBSTER message file (`.csv` or `.csv.gz`) into Tachyon's binary event file for fast replay.
    ///
    /// The output is written to a temporary file, synced and renamed, and carries a checksum that is verified
    /// when it is opened.
    Convert(ConvertArgs),
    /// Extract the streaming features (and labels) of whole files into a Parquet or CSV matrix.
    ///
    /// The same engine serves live predictions, so these are the features a model will see. Columns: source,
    /// time_ns, event_id, the features of the schema (docs/FEATURES.md), label_ret_bps and label_class.
    Features(features_cmd::FeaturesArgs),
    /// Train a model on market files (features and labels from the same engine that serves) and write a
    /// checksummed model file.
    ///
    /// Each file is split in time order into train / validation / test with an embargo at each boundary;
    /// standardisation is fitted on the training rows and stored in the model. Prints IC, R^2, hit rate and MSE
    /// of each part.
    Train(train_cmd::TrainArgs),
    /// Replay market files through the live pipeline: one signal per tick, with a latency report.
    ///
    /// Two threads: one reads the files and writes the signals, the other keeps the book, updates the features
    /// and predicts. Reports updates/s and receive-to-signal latency percentiles, split by stage.
    Run(run_cmd::RunArgs),
    /// Send a market file over TCP to `tachyon run --listen` (the feed's wire format, docs/LIVE.md).
    Feed(feed_cmd::FeedArgs),
    /// The model registry: versioned model files and which one is live (`list`, `add`, `promote`, `rollback`).
    ///
    /// Promotions and rollbacks are single atomic file replacements: a process killed at any moment leaves the
    /// registry before or after the change. A running `tachyon run --registry DIR` swaps to the new live model
    /// between two ticks.
    Models(models_cmd::ModelsArgs),
    /// Score a model file on market files (IC, R^2, hit rate, MSE over every labelled row).
    Eval(train_cmd::EvalArgs),
    /// Check that this machine computes what Tachyon claims, on every instruction set the CPU has (or the one
    /// --isa / TACHYON_ISA names): vector kernels and exp / tanh / sigmoid against f64 references, GEMM's error
    /// ratio, MLP gradients against central differences, the f32 and int8 predictors, our book against the
    /// shipped orderbook files and the 44 features against an independent oracle.
    ///
    /// Prints each check's measured value, its limit and the headroom between them; exits with status 1 if any
    /// check fails. About a minute; --full checks f32 exp, tanh and sigmoid on every input (minutes).
    Validate(validate_cmd::ValidateArgs),
    /// Run the live loop for a long time and check that nothing grows and nothing drifts: replays of the shipped
    /// day through the pipeline (each model's signals equal to its first replay, bit for bit), hot swaps and
    /// rollbacks through a registry under load, periodic retraining (the same model file each time).
    ///
    /// Samples resident memory, open files and threads after every round; reports the memory's slope after
    /// warm-up at the end or on Ctrl-C, and exits with status 1 on growth or a mismatch.
    Soak(soak_cmd::SoakArgs),
}

/// Options of `tachyon convert`.
#[derive(clap::Args)]
struct ConvertArgs {
    /// LOBSTER message file.
    input: std::path::PathBuf,
    /// Output file (conventionally `.tcye`).
    #[arg(long)]
    out: std::path::PathBuf,
}

/// Options of `tachyon verify-book`.
#[derive(clap::Args)]
struct VerifyBookArgs {
    /// LOBSTER message file (`*_message_N.csv[.gz]`).
    message_file: std::path::PathBuf,
    /// The matching orderbook file (default: the `*_orderbook_N.csv[.gz]` LOBSTER names after the message file).
    orderbook_file: Option<std::path::PathBuf>,
    /// How many mismatching levels (and skipped rows) to show.
    #[arg(long, default_value_t = 5)]
    examples: usize,
    /// What to do with a malformed row: stop with an error naming file, line and field, or skip the pair,
    /// count it and report it.
    #[arg(long, value_enum, default_value_t = OnBadRow::Fail)]
    on_bad_row: OnBadRow,
    /// How to compare the rebuilt book with the orderbook file.
    #[arg(long, value_enum, default_value_t = VerifyModeChoice::Cumulative)]
    mode: VerifyModeChoice,
}

/// `--mode` choices of `verify-book`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum VerifyModeChoice {
    /// Rebuild the book from the messages alone and never reseed it (levels that enter the window from beyond
    /// the file's depth are taken from the orderbook row, as the features take them): what the features read.
    Cumulative,
    /// Reset the book to each orderbook row after comparing it: checks one message at a time.
    Reseed,
}

/// `--on-bad-row` choices.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OnBadRow {
    /// Stop at the first malformed row.
    Fail,
    /// Skip malformed rows; they are counted and reported.
    Skip,
}

impl OnBadRow {
    /// The library policy of this choice.
    pub fn policy(self) -> tachyon_market::BadRowPolicy {
        match self {
            OnBadRow::Fail => tachyon_market::BadRowPolicy::Fail,
            OnBadRow::Skip => tachyon_market::BadRowPolicy::Skip,
        }
    }
}

/// Checks, before any work, that a file can be written at each of `paths` (its folder exists and takes a new file),
/// so that a long run does not end in "no such folder" with its results lost.
pub fn check_writable<'a>(paths: impl IntoIterator<Item = &'a std::path::Path>) -> Result<()> {
    for path in paths {
        tachyon_io::AtomicFile::create(path).map(drop).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The exit statuses, as `--help` states them.
const EXIT_STATUS: &str = "Exit status: 0 success; 1 a check found a mismatch (verify-book, validate, soak); 2 a usage \
                           or input error (bad arguments, a malformed or damaged file); 3 an I/O failure (a file or socket \
                           could not be opened, read or written).";

/// A check that ran and found a mismatch: exit status 1.
const EXIT_MISMATCH: i32 = 1;

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {}", message(&error));
        std::process::exit(exit_status(&error));
    }
}

/// 3 when the failure is the operating system's (a file or socket that could not be opened, read or written),
/// 2 for everything else: bad arguments and bad content, including bytes a decompressor rejects.
fn exit_status(error: &anyhow::Error) -> i32 {
    let io = error.chain().find_map(|cause| cause.downcast_ref::<std::io::Error>());
    match io.map(std::io::Error::kind) {
        Some(std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput) | None => 2,
        Some(_) => 3,
    }
}

/// The error and its causes in one line, each cause once: library errors often quote their cause already
/// ("FILE: No such file or directory"), and printing the chain again would repeat it.
fn message(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    // Resolve the instruction set first, so that a bad TACHYON_ISA or --isa is a clean error, not a panic later.
    isa::init()?;
    if let Some(text) = &cli.isa {
        isa::set_active(text.parse::<IsaRequest>()?)?;
    }
    match cli.command {
        Command::Info => info::run(),
        Command::Bench(args) => bench_cmd::run(&args),
        Command::Run(args) => run_cmd::run(&args),
        Command::Models(args) => models_cmd::run(&args),
        Command::Feed(args) => feed_cmd::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Export(args) => export_cmd::run(&args),
        Command::Features(args) => features_cmd::run(&args),
        Command::Train(args) => train_cmd::train(&args),
        Command::Eval(args) => train_cmd::eval(&args),
        Command::Validate(args) => validate_cmd::run(&args),
        Command::Soak(args) => soak_cmd::run(&args),
        Command::Convert(args) => {
            let start = std::time::Instant::now();
            let count = tachyon_market::binary::convert_lobster(&args.input, &args.out)?;
            println!("{count} events written to {} in {:.2} s", args.out.display(), start.elapsed().as_secs_f64());
            Ok(())
        }
        Command::VerifyBook(args) => {
            let options = tachyon_market::VerifyOptions {
                mode: match args.mode {
                    VerifyModeChoice::Cumulative => tachyon_market::VerifyMode::Cumulative,
                    VerifyModeChoice::Reseed => tachyon_market::VerifyMode::Reseed,
                },
                max_examples: args.examples,
                on_bad_row: args.on_bad_row.policy(),
            };
            let orderbook = match &args.orderbook_file {
                Some(path) => path.clone(),
                None => tachyon_market::tick::orderbook_path_for(&args.message_file).with_context(|| {
                    format!(
                        "{}: not named like a LOBSTER message file (*_message_N.csv); give the orderbook file too",
                        args.message_file.display()
                    )
                })?,
            };
            let report = tachyon_market::verify_book(&args.message_file, &orderbook, &options)?;
            print!("{report}");
            if !report.passed() {
                eprintln!(
                    "error: the rebuilt book differs from {} on {} rows",
                    orderbook.display(),
                    report.rows_mismatching
                );
                std::process::exit(EXIT_MISMATCH);
            }
            Ok(())
        }
    }
}
