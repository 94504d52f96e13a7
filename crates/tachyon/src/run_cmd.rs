//! `tachyon run`: LOBSTER files replayed through the live pipeline, one signal per tick, with a latency report.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use tachyon_live::{
    Config, CsvSink, Deployed, ModelSlot, NullSink, Pace, Progress, Registry, RegistryWatch, Report, ServedPrecision,
    SignalSink, SocketFeed,
};
use tachyon_market::Feed;
use tachyon_simd::Backend;

use crate::OnBadRow;

/// Options of `tachyon run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// LOBSTER message files (`..._message_N.csv[.gz]`; the orderbook file beside each seeds the book and
    /// supplies levels that enter the window from beyond its depth) or quotes/trades CSVs (docs/MARKET.md).
    /// Replayed one after the other.
    #[arg(required_unless_present = "listen")]
    pub inputs: Vec<PathBuf>,
    /// Quotes CSV: decimal places of the price tick (4: prices become integer units of 0.0001).
    #[arg(long, default_value_t = 4)]
    pub price_decimals: u32,
    /// Quotes CSV: decimal places of sizes (0: whole units).
    #[arg(long, default_value_t = 0)]
    pub size_decimals: u32,
    /// Coinbase recordings: the product to replay (e.g. SKL-USD); needed when a recording holds several.
    #[arg(long)]
    pub product: Option<String>,
    /// Instead of files, accept one feed on this address (e.g. 127.0.0.1:7000) from `tachyon feed` or any program
    /// that speaks the wire format (docs/LIVE.md); port 0 picks a free one, printed on stderr.
    #[arg(long, value_name = "ADDR", conflicts_with = "inputs")]
    pub listen: Option<String>,
    /// Model file (from `tachyon train`), checked against the served features by name and hash.
    #[arg(long, value_name = "FILE", required_unless_present = "registry", conflicts_with = "registry")]
    pub model: Option<PathBuf>,
    /// Serve the f32 predictor, or the int8 one with the scales `tachyon train` recorded in the model file (rows
    /// outside their range are computed in f32 and counted in the report).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Shadow A/B: run this model file beside the live model on the same features (after each live signal is
    /// stamped), write its first output as a `shadow_0` column and report how the two compare.
    #[arg(long, value_name = "FILE")]
    pub shadow: Option<PathBuf>,
    /// Serve the live model of this registry (`tachyon models`) and swap to each model promoted or rolled back
    /// while running.
    #[arg(long, value_name = "DIR")]
    pub registry: Option<PathBuf>,
    /// Signals as CSV, or Parquet for a `.parquet` name (`-` for CSV on stdout): seq, event_id, exchange_time_ns,
    /// receive_ns, emit_ns, model_id, prediction_0.. (receive and emit in ns since the run started). Written whole
    /// or not at all. Without it, signals are counted only.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the final report (counts, events/s, latency percentiles and the stage split) as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// What to do with a malformed row: stop with an error naming file, line and field, or skip it (counted,
    /// reported, the book resynced from the next row).
    #[arg(long, value_enum, default_value_t = OnBadRow::Fail)]
    pub on_bad_row: OnBadRow,
    /// Offer this many records per second instead of reading as fast as possible (latency under a load the
    /// pipeline carries; at full speed the latency is mostly queueing in a full ring).
    #[arg(long, value_name = "PER_SECOND", conflicts_with = "speed")]
    pub rate: Option<f64>,
    /// Replay pace: `max` (as fast as possible), or the recorded pace times a factor (`1x`, `10x`, `0.5x`).
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    pub speed: Pace,
    /// Elements of each ring between the threads.
    #[arg(long, default_value_t = 4096)]
    pub ring: usize,
    /// Do not pin the two threads to cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Print a progress line (counts so far, updates/s and receive -> signal percentiles over the last interval)
    /// every this many seconds; 0 for none.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub progress_every: f64,
}

/// A Parquet signal file.
#[cfg(feature = "parquet")]
fn parquet_sink(path: &std::path::Path, outputs: usize, shadow: bool) -> Result<Box<dyn SignalSink>> {
    let sink = tachyon_live::ParquetSink::create(path, outputs, shadow);
    Ok(Box::new(sink.with_context(|| format!("creating {}", path.display()))?))
}

#[cfg(not(feature = "parquet"))]
fn parquet_sink(path: &std::path::Path, _: usize, _: bool) -> Result<Box<dyn SignalSink>> {
    anyhow::bail!(
        "{}: this build has no Parquet support (built without the `parquet` feature); write .csv",
        path.display()
    )
}

/// One progress line on stderr.
fn print_progress(p: &Progress) {
    eprintln!(
        "[{:>7.1} s] {} updates, {} signals, {} skipped; last interval: {:.0} updates/s, receive->signal p50 {:.0} ns, \
         p99 {:.0} ns, p99.9 {:.0} ns",
        p.seconds,
        p.updates,
        p.signals,
        p.skipped,
        p.interval_events_per_s,
        p.interval_latency.p50_ns,
        p.interval_latency.p99_ns,
        p.interval_latency.p999_ns
    );
}

/// `--precision`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// f32 weights and activations.
    F32,
    /// int8 weights, 8- or 12-bit activations (the width recorded with the scales).
    Int8,
}

fn parse_speed(text: &str) -> Result<Pace, String> {
    if text.eq_ignore_ascii_case("max") {
        return Ok(Pace::Max);
    }
    match text.trim_end_matches(['x', 'X']).parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(Pace::Speed(f)),
        _ => Err(format!("{text:?}: expected `max` or a positive factor such as `1x` or `10x`")),
    }
}

/// Opens one feed when its turn comes (a listener accepts its connection only then).
type OpenFeed<'a> = Box<dyn FnOnce() -> Result<Box<dyn Feed>> + 'a>;

/// Runs `tachyon run`.
pub fn run(args: &RunArgs) -> Result<()> {
    crate::check_writable(args.report.as_deref())?;
    let backend = Backend::active();
    let precision = match args.precision {
        Precision::F32 => ServedPrecision::F32,
        Precision::Int8 => ServedPrecision::Int8,
    };
    let registry = args.registry.as_deref().map(Registry::open).transpose()?;
    let deployed = match (&registry, &args.model) {
        (Some(registry), _) => {
            let live = registry.current()?.with_context(|| {
                format!(
                    "{}: no model promoted yet (tachyon models add FILE, then promote ID)",
                    registry.dir().display()
                )
            })?;
            Deployed::load(live.id, &registry.model_path(live.id), &backend, precision)?
        }
        (None, Some(model)) => Deployed::load(1, model, &backend, precision)?,
        (None, None) => unreachable!("clap requires --model or --registry"),
    };
    let outputs = deployed.model.outputs();
    let served = match deployed.model.precision() {
        tachyon_infer::Precision::F32 => "f32".to_string(),
        tachyon_infer::Precision::Int8 { bits, kernel } => {
            format!("int8 with {}-bit activations, {} kernel,", bits.bits(), kernel.name())
        }
    };
    eprintln!(
        "model {} ({} inputs, {} outputs, {served} on {})",
        deployed.name,
        deployed.model.inputs(),
        outputs,
        backend.describe()
    );
    let shadow = match &args.shadow {
        Some(path) => {
            let shadow = Deployed::load(0, path, &backend, precision)?;
            if shadow.model.outputs() != outputs {
                anyhow::bail!(
                    "--shadow {}: {} outputs, the live model has {outputs}",
                    path.display(),
                    shadow.model.outputs()
                );
            }
            Some(Arc::new(shadow))
        }
        None => None,
    };
    let slot = ModelSlot::new(deployed);
    let mut sink: Box<dyn SignalSink> = match &args.out {
        None => Box::new(NullSink),
        Some(p) if p.as_os_str() == "-" => Box::new(CsvSink::stdout(outputs, shadow.is_some())?),
        Some(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) => {
            parquet_sink(p, outputs, shadow.is_some())?
        }
        Some(p) => Box::new(
            CsvSink::create(p, outputs, shadow.is_some()).with_context(|| format!("creating {}", p.display()))?,
        ),
    };
    // SIGINT and SIGTERM stop the reading; what was read is drained and the signals flushed.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing the signal handler")?;
    }
    let config = Config {
        ring: args.ring,
        pin: !args.no_pin,
        on_bad_row: args.on_bad_row.policy(),
        pace: match args.rate {
            Some(rate) if rate > 0.0 && rate.is_finite() => Pace::Rate(rate),
            Some(rate) => anyhow::bail!("--rate {rate}: expected a positive number of records per second"),
            None => args.speed,
        },
        stop: Some(stop.clone()),
        shadow,
        progress: (args.progress_every > 0.0).then_some(print_progress as fn(&Progress)),
        progress_every_ms: match args.progress_every {
            s if s.is_finite() && s >= 0.0 => (s * 1e3).round() as u64,
            s => anyhow::bail!("--progress-every {s}: expected a number of seconds, 0 or more"),
        },
        ..Config::default()
    };
    let mut watch = match registry {
        Some(registry) => Some(RegistryWatch::new(registry, slot.clone(), backend, precision)?),
        None => None,
    };
    let mut feeds: Vec<OpenFeed<'_>> = Vec::new();
    let detected = crate::features_cmd::detect_inputs(
        &args.inputs,
        args.price_decimals,
        args.size_decimals,
        args.product.as_deref(),
    )?;
    for input in detected {
        feeds.push(Box::new(move || Ok(input.open_feed()?)));
    }
    if let Some(addr) = &args.listen {
        let listener = TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
        eprintln!("listening on {}", listener.local_addr()?);
        feeds.push(Box::new(move || {
            let (stream, peer) = listener.accept()?;
            eprintln!("feed from {peer}");
            Ok(Box::new(SocketFeed::accept(stream)?) as Box<dyn Feed>)
        }));
    }
    let mut reports = Vec::new();
    for open in feeds {
        let mut feed = open()?;
        let mut control = || {
            if let Some(watch) = watch.as_mut() {
                watch.poll();
            }
        };
        let report = tachyon_live::run_with_control(feed.as_mut(), &slot, sink.as_mut(), &config, &mut control)?;
        print_report(&report);
        let stopped = report.stopped;
        reports.push(report);
        if stopped {
            eprintln!("stopped by a signal: the rest is not read");
            break;
        }
    }
    let swaps = watch.as_ref().map_or(&[][..], |w| w.swaps());
    // Swap latency: from the promotion (or rollback) written to the registry to the first signal of its model.
    for swap in swaps {
        let first = reports
            .iter()
            .flat_map(|r| &r.model_changes)
            .find(|c| c.model_id == swap.promotion.id && c.emit_unix_ns >= swap.promotion.unix_ns);
        match first {
            Some(c) => eprintln!(
                "model {} live: promotion seen -> first signal {:.1} us (swap {:.1} us); promote command -> first \
                 signal {:.1} us (includes making the registry change durable)",
                swap.promotion.id,
                (c.emit_unix_ns.saturating_sub(swap.seen_unix_ns)) as f64 / 1e3,
                swap.swapped_unix_ns.saturating_sub(swap.seen_unix_ns) as f64 / 1e3,
                (c.emit_unix_ns.saturating_sub(swap.promotion.unix_ns)) as f64 / 1e3,
            ),
            None => eprintln!("model {} went live after the last signal", swap.promotion.id),
        }
    }
    sink.finish().context("writing the signals")?;
    if let Some(out) = &args.out.as_ref().filter(|p| p.as_os_str() != "-") {
        eprintln!("signals: {}", out.display());
    }
    if let Some(path) = &args.report {
        tachyon_io::write_atomic(path, &serde_json::to_vec_pretty(&reports)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report: {}", path.display());
    }
    Ok(())
}

fn print_report(r: &Report) {
    eprintln!(
        "{}: {} updates, {} ticks, {} signals ({} warm-up ticks, {} skipped rows, {} dropped) in {:.3} s: {:.2} M updates/s",
        r.source,
        r.updates,
        r.ticks,
        r.signals,
        r.warmup,
        r.skipped,
        r.drops,
        r.seconds,
        r.events_per_s / 1e6
    );
    for example in &r.skipped_examples {
        eprintln!("  skipped: {example}");
    }
    if r.fallback_rows > 0 {
        eprintln!(
            "  int8: {} signals ({:.2}%) computed in f32, their inputs outside the calibrated range",
            r.fallback_rows,
            100.0 * r.fallback_rows as f64 / r.signals.max(1) as f64
        );
    }
    for (name, share) in &r.drifted {
        eprintln!(
            "warning: input `{name}` was far outside the live model's training range on {:.1}% of its ticks: the \
             model never saw such values, its predictions there are extrapolation",
            100.0 * share
        );
    }
    let line = |name: &str, p: &tachyon_live::Percentiles| {
        eprintln!(
            "  {name:<16} p50 {:>8.0} ns  p99 {:>8.0} ns  p99.9 {:>8.0} ns  max {:>10.0} ns  ({} samples)",
            p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns, p.count
        )
    };
    line("receive->signal", &r.latency);
    line("parse", &r.stages.parse);
    line("queue", &r.stages.queue);
    line("book", &r.stages.book);
    line("features", &r.stages.features);
    line("predict", &r.stages.predict);
    line("sink", &r.stages.sink);
    if let Some(s) = &r.shadow {
        line("shadow predict", &r.stages.shadow);
        eprintln!(
            "  shadow vs live over {} signals: correlation {:.4}, same sign {:.1}%, mean |diff| {:.4}, max |diff| {:.4}",
            s.signals,
            s.correlation,
            100.0 * s.sign_agreement,
            s.mean_abs_diff,
            s.max_abs_diff
        );
    }
}
