//! `tachyon bench extract`: files in, Parquet out, as a user runs it: `tachyon features` over N synthetic
//! symbol-days (the shipped GOOG and AAPL days, decompressed, under new names, alternating), one file per input,
//! on 1 and 2 threads. Each run is its own process, so that its peak resident memory is its own; the figures are
//! the child's `--report` (wall time of the job, rows, peak RSS). Each case runs `samples` times; the median run is
//! reported.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use super::harness::Timing;
use super::{Row, Scale};

/// The day files behind the synthetic symbol-days: (message file, orderbook file, levels).
const DAYS: [(&str, &str, u32); 2] = [
    (
        "GOOG_2012-06-21_34200000_57600000_message_10.csv.gz",
        "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz",
        10,
    ),
    ("AAPL_2012-06-21_34200000_57600000_message_1.csv", "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv", 1),
];

/// A temporary folder removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Decompresses (or copies) `from` to `to`.
fn plain_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut reader = tachyon_market::lobster::open(from)?;
    let mut writer = std::io::BufWriter::new(std::fs::File::create(to)?);
    std::io::copy(&mut reader, &mut writer).with_context(|| format!("copying {}", from.display()))?;
    Ok(())
}

/// Runs the extract workload with the `tachyon` binary `exe`.
pub fn run(scale: Scale, data: &Path, exe: &Path, emit: &mut dyn FnMut(Row)) -> anyhow::Result<()> {
    let scratch = Scratch(std::env::temp_dir().join(format!("tachyon-bench-extract-{}", std::process::id())));
    let days = scratch.0.join("days");
    std::fs::create_dir_all(&days)?;
    let mut plain = Vec::new();
    for (message, orderbook, levels) in DAYS {
        let (m, o) = (days.join(message.trim_end_matches(".gz")), days.join(orderbook.trim_end_matches(".gz")));
        plain_copy(&data.join(message), &m)?;
        plain_copy(&data.join(orderbook), &o)?;
        plain.push((m, o, levels));
    }
    let (counts, samples): (&[usize], usize) = match scale {
        Scale::Full => (&[1, 4, 16, 64], 3),
        Scale::Quick => (&[1, 4, 16, 64], 1),
        Scale::Smoke => (&[1, 2], 1),
    };
    for &files in counts {
        let inputs_dir = scratch.0.join(format!("inputs-{files}"));
        std::fs::create_dir_all(&inputs_dir)?;
        let mut inputs = Vec::new();
        for k in 0..files {
            let (m, o, levels) = &plain[k % plain.len()];
            let name = |kind: &str| format!("S{k:04}_2012-06-21_34200000_57600000_{kind}_{levels}.csv");
            let (mk, ok) = (inputs_dir.join(name("message")), inputs_dir.join(name("orderbook")));
            link_or_copy(m, &mk)?;
            link_or_copy(o, &ok)?;
            inputs.push(mk);
        }
        for threads in [1usize, 2] {
            let mut runs: Vec<Report> = Vec::new();
            for _ in 0..samples {
                runs.push(run_once(exe, &inputs, threads, &scratch.0)?);
            }
            runs.sort_by(|a, b| a.rows_per_s.total_cmp(&b.rows_per_s));
            // Runs sorted by rate, so time per row falls along them: its q-quantile is run (1 - q) of the way.
            let ns_at =
                |q: f64| 1e9 / runs[((1.0 - q) * (runs.len() - 1) as f64).round() as usize].rows_per_s.max(1e-9);
            let timing = Timing { median_ns: ns_at(0.5), p10_ns: ns_at(0.1), p90_ns: ns_at(0.9) };
            let median = &runs[runs.len() / 2];
            let mut row = Row::new("extract", "lobster_parquet", "auto", "f32", threads, timing);
            row.size = Some(median.rows);
            row.files = Some(files);
            row.rows_per_s = Some(median.rows_per_s);
            row.peak_rss_bytes = median.peak_rss_bytes;
            emit(row);
        }
        std::fs::remove_dir_all(&inputs_dir)?;
    }
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ()))
}

/// The fields of `tachyon features --report` this workload reads.
#[derive(serde::Deserialize)]
struct Report {
    rows: u64,
    rows_per_s: f64,
    peak_rss_bytes: Option<u64>,
}

fn run_once(exe: &Path, inputs: &[PathBuf], threads: usize, scratch: &Path) -> anyhow::Result<Report> {
    let out = scratch.join("out");
    let report = scratch.join("report.json");
    let _ = std::fs::remove_dir_all(&out);
    let result = Command::new(exe)
        .arg("features")
        .args(inputs)
        .arg("--out")
        .arg(format!("{}{}", out.display(), std::path::MAIN_SEPARATOR))
        .args(["--threads", &threads.to_string(), "--report"])
        .arg(&report)
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    if !result.status.success() {
        bail!("`tachyon features` failed: {}", String::from_utf8_lossy(&result.stderr));
    }
    let report: Report = serde_json::from_slice(&std::fs::read(&report)?)?;
    std::fs::remove_dir_all(&out)?;
    Ok(report)
}
