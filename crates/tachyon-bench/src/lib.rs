//! The measurements behind `tachyon bench`, which reproduce every figure Tachyon claims: each workload times its
//! cases with [`harness`] and hands one [`Row`] per figure to the caller, which prints them ([`Printer`]).

mod extract;
mod features;
mod gemm;
pub mod harness;
pub mod infer;
mod kernels;
mod live;
mod market;
mod probes;
mod train;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::Serialize;

use harness::{Budget, Timing};

/// A workload of `tachyon bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Everything below.
    All,
    /// The machine's peaks: FMA throughput per instruction set, memory read and triad bandwidth (1 and 2 threads).
    Probes,
    /// Vector kernels on every instruction set vs their scalar twins and plain iterators, 8 to 32M elements.
    Kernels,
    /// GEMM, n = 4..2048 and the training shapes, f32/f64, 1 and 2 threads, vs naive (and peers with
    /// `--features peers`).
    Gemm,
    /// LOBSTER parsing throughput and the book check on the shipped samples.
    Market,
    /// Feature engine per update on the shipped samples, end-to-end extraction, and rolling mean / std / EWM
    /// over a 10M-value series (compare benches/peers/rolling_polars.py).
    Features,
    /// `tachyon features` over 1, 4, 16 and 64 synthetic symbol-days (copies of the shipped days) to one Parquet
    /// file each, 1 and 2 threads: end-to-end rows/s and peak resident memory.
    Extract,
    /// Ridge on 1M x 32 f64 and one epoch of the standard MLP workload (32-64-64-1, batch 256, Adam, 1M rows).
    Train,
    /// Single-sample forward + backward of the standard MLP.
    Grad,
    /// The live pipeline on the shipped AAPL day with a 44-64-64-1 MLP: events/s at full speed and
    /// receive-to-signal latency at fixed offered loads.
    Live,
    /// Predictor latency per call (HDR histogram, warm and cold, f32 and int8) and batch throughput; the
    /// standard 32-64-64-1 network with seeded weights, or `--model FILE`.
    Infer,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The workload(s).
    pub workload: Workload,
    /// How much of each.
    pub scale: Scale,
    /// Model file for `infer` (`None`: the standard 32-64-64-1 network with seeded random weights).
    pub model: Option<PathBuf>,
    /// Folder with the LOBSTER sample pairs, for `market` and `features` (needed by them only).
    pub data: Option<PathBuf>,
}

impl Workload {
    /// The name `tachyon bench` takes.
    pub fn name(self) -> String {
        self.to_possible_value().map_or_else(String::new, |v| v.get_name().to_string())
    }

    /// Whether this workload reads the LOBSTER sample data.
    pub fn needs_data(self) -> bool {
        matches!(self, Workload::All | Workload::Market | Workload::Features | Workload::Extract | Workload::Live)
    }
}

/// How much of a workload to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Every size, 31 samples.
    Full,
    /// The sizes behind our claims, 11 samples.
    Quick,
    /// Tiny sizes, one sample: a test that every code path runs.
    Smoke,
}

impl Scale {
    /// The timing budget of this scale.
    pub fn budget(self) -> Budget {
        match self {
            Scale::Full => Budget::FULL,
            Scale::Quick => Budget::QUICK,
            Scale::Smoke => Budget::SMOKE,
        }
    }
}

/// One measured figure. Times are per call, in nanoseconds, median over samples.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Workload name (`probes`, `kernels`, ...).
    pub workload: &'static str,
    /// What was measured inside the workload (kernel name, probe name).
    pub case: &'static str,
    /// Instruction set, `iter` for plain iterators, `auto` where the compiler chose.
    pub isa: &'static str,
    /// Element type.
    pub dtype: &'static str,
    /// Threads used.
    pub threads: usize,
    /// Problem size (elements), where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Median time per call, ns.
    pub median_ns: f64,
    /// 10th percentile, ns.
    pub p10_ns: f64,
    /// 90th percentile, ns.
    pub p90_ns: f64,
    /// Throughput in GFLOP/s, where the FLOP count is meaningful.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// Bytes read + written by the API per second, GB/s (1 GB = 1e9 bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gb_per_s: Option<f64>,
    /// Fraction of the peak named by `peak_of`, measured by this run's own probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_fraction: Option<f64>,
    /// Which peak: `fma`, `memory_read` or `memory_triad`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_of: Option<&'static str>,
    /// Scalar twin's median / this median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup_vs_scalar: Option<f64>,
    /// Latency rows (every call timed alone): median per call, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ns: Option<f64>,
    /// Latency rows: 99th percentile per call, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ns: Option<f64>,
    /// Latency rows: 99.9th percentile per call, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p999_ns: Option<f64>,
    /// Latency rows: slowest call, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ns: Option<f64>,
    /// Extract rows: input files (symbol-days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
    /// Extract rows: feature rows written per second, end to end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_per_s: Option<f64>,
    /// Extract rows: peak resident memory of the process, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// Live rows: updates per second through the whole pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_per_s: Option<f64>,
    /// Live rows: updates dropped (0: backpressure is lossless).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops: Option<u64>,
    /// int8 inference rows: width of the quantized activations, bits (8 or 12, chosen by the accuracy check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_bits: Option<u32>,
}

impl Row {
    /// A row with the timing filled in and no derived figures.
    pub fn new(
        workload: &'static str,
        case: &'static str,
        isa: &'static str,
        dtype: &'static str,
        threads: usize,
        t: Timing,
    ) -> Row {
        Row {
            workload,
            case,
            isa,
            dtype,
            threads,
            size: None,
            median_ns: t.median_ns,
            p10_ns: t.p10_ns,
            p90_ns: t.p90_ns,
            gflops: None,
            gb_per_s: None,
            peak_fraction: None,
            peak_of: None,
            speedup_vs_scalar: None,
            p50_ns: None,
            p99_ns: None,
            p999_ns: None,
            max_ns: None,
            files: None,
            rows_per_s: None,
            peak_rss_bytes: None,
            events_per_s: None,
            drops: None,
            activation_bits: None,
        }
    }
}

/// Prints rows as they come, as a table or as JSON lines.
pub struct Printer {
    json: bool,
    header_done: bool,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
}

fn human_ns(ns: f64) -> String {
    match ns {
        x if x < 1e3 => format!("{x:.1} ns"),
        x if x < 1e6 => format!("{:.2} us", x / 1e3),
        x if x < 1e9 => format!("{:.2} ms", x / 1e6),
        x => format!("{:.2} s", x / 1e9),
    }
}

/// The table's column layout, shared by the header and the rows (widths fit the longest names: `batch256_32x64`,
/// `avx512vnni`).
macro_rules! table_columns {
    () => {
        "{:<8} {:<14} {:<10} {:<5} {:>3} {:>9} {:>11} {:>17} {:>8} {:>8} {:>12} {:>8} {:>15}"
    };
}

impl Printer {
    /// A printer of JSON lines (`json`) or of a table.
    pub fn new(json: bool) -> Printer {
        Printer { json, header_done: false }
    }

    /// Prints one row to stdout.
    pub fn emit(&mut self, row: &Row) {
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(out, "{}", serde_json::to_string(row).expect("rows serialise"));
        } else {
            if !self.header_done {
                let _ = writeln!(
                    out,
                    table_columns!(),
                    "workload",
                    "case",
                    "isa",
                    "dtype",
                    "thr",
                    "size",
                    "median",
                    "p10..p90",
                    "GFLOP/s",
                    "GB/s",
                    "peak",
                    "x scalar",
                    "p99 / p99.9"
                );
                self.header_done = true;
            }
            let peak = match (row.peak_fraction, row.peak_of) {
                (Some(f), Some(of)) => format!("{:.0}% {}", f * 100.0, of.trim_start_matches("memory_")),
                _ => "-".to_string(),
            };
            let _ = writeln!(
                out,
                table_columns!(),
                row.workload,
                row.case,
                row.isa,
                row.dtype,
                row.threads,
                row.size.map_or("-".to_string(), |s| s.to_string()),
                human_ns(row.median_ns),
                format!("{}..{}", human_ns(row.p10_ns), human_ns(row.p90_ns))
                    .replace(" ns", "")
                    .replace(" us", "u")
                    .replace(" ms", "m"),
                opt(row.gflops, 1),
                opt(row.gb_per_s, 1),
                peak,
                opt(row.speedup_vs_scalar, 1),
                match (row.p99_ns, row.p999_ns) {
                    (Some(a), Some(b)) => format!("{a:.0} / {b:.0} ns"),
                    _ => "-".to_string(),
                },
            );
        }
        let _ = out.flush();
    }
}

/// Runs the chosen workload(s), handing each figure to `emit` as soon as it is measured.
pub fn run(options: &Options, emit: &mut dyn FnMut(&Row)) -> Result<()> {
    let scale = options.scale;
    let workload = options.workload;
    // Refused before anything is measured.
    let data: Option<&Path> = match (workload.needs_data(), options.data.as_deref()) {
        (true, None) => anyhow::bail!("the {} workload needs the LOBSTER sample folder", workload.name()),
        (true, Some(dir)) => Some(dir),
        (false, _) => None,
    };
    let network = match (matches!(workload, Workload::All | Workload::Infer), options.model.as_deref()) {
        (true, model) => Some(infer::network(model)?),
        (false, Some(_)) => anyhow::bail!("--model is measured by the infer workload, not by {}", workload.name()),
        (false, None) => None,
    };
    let mut probe_rows = Vec::new();
    let peaks = probes::run(scale, &mut probe_rows);
    // The probes are printed with every workload: its fractions of peak divide by them.
    probe_rows.iter().for_each(&mut *emit);
    if matches!(workload, Workload::All | Workload::Kernels) {
        kernels::run(scale, &peaks, &mut |row| emit(&row));
    }
    if matches!(workload, Workload::All | Workload::Gemm) {
        gemm::run(scale, &peaks, &mut |row| emit(&row));
    }
    if let Some(data) = data {
        if matches!(workload, Workload::All | Workload::Market) {
            market::run(scale, data, &mut |row| emit(&row))?;
        }
        if matches!(workload, Workload::All | Workload::Features) {
            features::run(scale, data, &mut |row| emit(&row))?;
        }
        if matches!(workload, Workload::All | Workload::Extract) {
            let exe = std::env::current_exe().context("finding the tachyon binary")?;
            extract::run(scale, data, &exe, &mut |row| emit(&row))?;
        }
    }
    if matches!(workload, Workload::All | Workload::Train) {
        train::run(scale, &mut |row| emit(&row))?;
    }
    if matches!(workload, Workload::All | Workload::Grad) {
        train::grad(scale, &mut |row| emit(&row));
    }
    if let (Some(data), true) = (data, matches!(workload, Workload::All | Workload::Live)) {
        live::run(scale, data, &mut |row| emit(&row))?;
    }
    if let Some(network) = &network {
        infer::run(scale, network, &mut |row| emit(&row))?;
    }
    Ok(())
}
