//! `tachyon bench`: parses the options, finds the sample data, prints what [`tachyon_bench`] measures.

use anyhow::Result;
use clap::Args;
use tachyon_bench::{Options, Printer, Scale, Workload};

/// Options of `tachyon bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = Workload::All)]
    pub workload: Workload,
    /// Fewer sizes and shorter samples (about a minute for `kernels`).
    #[arg(long)]
    pub quick: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Model file for `infer` (default: the standard 32-64-64-1 network with seeded random weights).
    #[arg(long, value_name = "FILE")]
    pub model: Option<std::path::PathBuf>,
    /// Folder with the LOBSTER sample pairs for `market` and `features` (default: TACHYON_DATA, else
    /// `data/lobster` under the working directory or above the binary).
    #[arg(long, value_name = "DIR")]
    pub data: Option<std::path::PathBuf>,
    /// Tiny sizes and one sample per figure: checks that every workload runs (for tests), measures nothing.
    #[arg(long, hide = true)]
    pub smoke: bool,
}

/// Runs `tachyon bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let scale = if args.smoke {
        Scale::Smoke
    } else if args.quick {
        Scale::Quick
    } else {
        Scale::Full
    };
    let data = match args.workload.needs_data() {
        true => Some(crate::sample_data::sample_data(args.data.as_deref())?),
        false => None,
    };
    let options = Options { workload: args.workload, scale, model: args.model.clone(), data };
    let mut printer = Printer::new(args.json);
    tachyon_bench::run(&options, &mut |row| printer.emit(row))
}
