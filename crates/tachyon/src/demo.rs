//! `tachyon demo`: the main job on the sample data shipped in the repository.
//!
//! At this stage: report the instruction set, self-check every kernel on it against an f64 reference, and
//! rebuild the order book of the shipped LOBSTER samples, checked row by row against LOBSTER's own book.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tachyon_simd::{isa, Float, Isa, KernelTable};

/// Checks the kernels of `table` on `n` values against f64 references; returns (checks, failures).
fn self_check<T: Float>(table: &KernelTable<T>, n: usize) -> (usize, Vec<String>) {
    let a: Vec<T> = (0..n).map(|i| T::from_f64(((i * 37 % 101) as f64 - 50.0) / 25.0)).collect();
    let b: Vec<T> = (0..n).map(|i| T::from_f64(((i * 53 % 97) as f64 - 48.0) / 24.0)).collect();
    let u = T::UNIT_ROUNDOFF;
    let gamma = n as f64 * u / (1.0 - n as f64 * u);
    let mut failures = Vec::new();
    let mut checks = 0;
    let mut check = |name: &str, ok: bool| {
        checks += 1;
        if !ok {
            failures.push(format!("{name} {} {}", table.isa, T::NAME));
        }
    };
    let dot_ref: f64 = a.iter().zip(&b).map(|(x, y)| x.to_f64() * y.to_f64()).sum();
    let dot_abs: f64 = a.iter().zip(&b).map(|(x, y)| (x.to_f64() * y.to_f64()).abs()).sum();
    check("dot", ((table.dot)(&a, &b).to_f64() - dot_ref).abs() <= gamma * dot_abs);
    let sum_ref: f64 = a.iter().map(|x| x.to_f64()).sum();
    let sum_abs: f64 = a.iter().map(|x| x.to_f64().abs()).sum();
    check("sum", ((table.sum)(&a).to_f64() - sum_ref).abs() <= gamma * sum_abs);
    let max_ref = a.iter().map(|x| x.to_f64()).fold(f64::MIN, f64::max);
    let first = a.iter().position(|x| x.to_f64() == max_ref);
    check("argmax", (table.argmax)(&a).map(|(i, _)| i) == first);
    let mut out = vec![T::ZERO; n];
    (table.exp)(&a, &mut out);
    check("exp", a.iter().zip(&out).all(|(x, y)| (y.to_f64() - x.to_f64().exp()).abs() <= 4.0 * u * x.to_f64().exp()));
    (table.tanh)(&a, &mut out);
    check(
        "tanh",
        a.iter().zip(&out).all(|(x, y)| (y.to_f64() - x.to_f64().tanh()).abs() <= 6.0 * u * x.to_f64().tanh().abs()),
    );
    (table.add)(&a, &b, &mut out);
    check("add", a.iter().zip(&b).zip(&out).all(|((x, y), z)| (*x + *y).to_f64() == z.to_f64()));
    (checks, failures)
}

/// Options of `tachyon demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder with the LOBSTER sample pairs (default: the repository's `data/lobster`).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// The repository's sample data folder.
fn default_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster")
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let active = isa::active();
    println!("Tachyon demo");
    println!(
        "instruction set: {active} (supported here: {})",
        Isa::supported().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
    );
    let mut checks = 0;
    let mut failures = Vec::new();
    for n in [0usize, 1, 17, 1000, 4099] {
        for (c, f) in [self_check(f32::kernels_for(active)?, n), self_check(f64::kernels_for(active)?, n)] {
            checks += c;
            failures.extend(f);
        }
    }
    println!("kernel self-check on {active}: {} of {checks} checks passed", checks - failures.len());
    if !failures.is_empty() {
        bail!("kernel self-check failed: {}", failures.join(", "));
    }

    let dir = args.data.clone().unwrap_or_else(default_data);
    for (ticker, depth, ext) in [("AAPL", 1, "csv"), ("GOOG", 10, "csv.gz")] {
        let stem = format!("{ticker}_2012-06-21_34200000_57600000");
        let messages = dir.join(format!("{stem}_message_{depth}.{ext}"));
        let orderbook = dir.join(format!("{stem}_orderbook_{depth}.{ext}"));
        let start = Instant::now();
        let report = tachyon_market::verify_book(&messages, &orderbook, 3)
            .with_context(|| format!("checking the {ticker} book (pass --data DIR if the samples are elsewhere)"))?;
        println!(
            "{ticker} level {depth}: {} rows checked in {:.2} s: {} match on every level, {} undeterminable (a level entered from beyond depth {depth}), {} mismatching",
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
    Ok(())
}
