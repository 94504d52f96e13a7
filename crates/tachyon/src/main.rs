//! `tachyon`: market ticks to trading signals at the speed of the hardware.

mod bench;
mod demo;
mod info;

use anyhow::Result;
use clap::{Parser, Subcommand};
use tachyon_simd::isa::{self, IsaRequest};

/// Tachyon: order-book features, small models and sub-microsecond predictions, on an ordinary CPU.
///
/// The instruction set (scalar, avx2, avx512) is detected at start; override it with --isa or the
/// TACHYON_ISA environment variable for A/B tests and rollback.
#[derive(Parser)]
#[command(name = "tachyon", version, about, long_about)]
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
    Bench(bench::BenchArgs),
    /// Run the main job on the sample data shipped in the repository.
    Demo,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error:#}");
        std::process::exit(2);
    }
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
        Command::Bench(args) => bench::run(&args),
        Command::Demo => demo::run(),
    }
}
