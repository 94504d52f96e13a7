//! `tachyon soak`: the live loop run for hours to show that nothing grows and nothing drifts. Each round replays
//! the shipped AAPL day through the pipeline twice: once with the live model alone (its signals must be bit for
//! bit those of the model's first replay), once while the model is promoted away and rolled back under load
//! (hot swaps through the registry). Every few rounds a model is retrained (the same model file, byte for byte, as
//! the first time it was trained with those settings). After each round the process's resident memory, open files
//! and threads are sampled; the report gives the memory's slope after warm-up and fails on growth.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tachyon_features::{extract, ExtractOptions, FeatureMatrix, Input, LabelSpec};
use tachyon_live::{
    Config, Deployed, ModelSlot, Registry, RegistryWatch, ServedPrecision, Signal, SignalSink, TimeBase,
};
use tachyon_market::{LobsterFeed, QuotesCsvConfig};
use tachyon_simd::Backend;
use tachyon_train::{train_ridge, Split, SplitSpec};

/// Options of `tachyon soak`.
#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How long to run: seconds, or a number with s, m or h (`90s`, `10m`, `24h`).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Retrain a model every this many rounds.
    #[arg(long, default_value_t = 5)]
    pub retrain_every: u64,
    /// Write the report as JSON here too (samples included).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Folder with the LOBSTER sample pairs (default: TACHYON_DATA, else `data/lobster` under the working
    /// directory or above the binary).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Do not pin the pipeline's threads to cores.
    #[arg(long)]
    pub no_pin: bool,
}

/// `90`, `90s`, `10m`, `24h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.trim().strip_suffix(['s', 'm', 'h']) {
        Some(number) => (number, &text.trim()[number.len()..]),
        None => (text.trim(), "s"),
    };
    let value: f64 = number.parse().map_err(|_| format!("`{text}`: expected a duration such as 90s, 10m or 24h"))?;
    let seconds = value
        * match unit {
            "m" => 60.0,
            "h" => 3600.0,
            _ => 1.0,
        };
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(format!("`{text}`: expected a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Growth of resident memory after warm-up that fails the soak, bytes. The allocator keeps and returns freed
/// memory in steps (a retraining's matrices come and go): RSS moves by 10 to 20 MiB without any leak, so growth
/// is judged between medians of many samples, and a leak of a few KiB per round still shows within the hour.
const MAX_GROWTH_BYTES: f64 = 32.0 * 1024.0 * 1024.0;
/// Share of the samples after warm-up whose median is the start (and, at the end, the end) of the growth measured.
const MEDIAN_SHARE: f64 = 0.1;
/// Share of the run before the baseline is taken (buffers, caches and the registry reach their size).
const WARM_UP_SHARE: f64 = 0.1;

/// The process at one moment.
#[derive(Clone, Copy, Debug, Serialize)]
struct Sample {
    seconds: f64,
    rss_bytes: u64,
    open_files: usize,
    threads: usize,
}

impl Sample {
    fn now(start: Instant) -> Sample {
        let page = 4096;
        let rss_pages = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or(0);
        let open_files = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        let threads = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").and_then(|v| v.trim().parse().ok())))
            .unwrap_or(0);
        Sample { seconds: start.elapsed().as_secs_f64(), rss_bytes: rss_pages * page, open_files, threads }
    }
}

/// A sink that folds every signal into a hash (FNV-1a over event id, model id and output bits).
struct HashSink(Arc<std::sync::Mutex<(u64, u64)>>);

impl SignalSink for HashSink {
    fn write(&mut self, s: &Signal, _: &TimeBase) -> std::io::Result<()> {
        let mut state = self.0.lock().expect("not poisoned");
        let mut h = state.0;
        for word in [s.event_id, u64::from(s.model_id)]
            .into_iter()
            .chain(s.prediction[..usize::from(s.outputs)].iter().map(|p| u64::from(p.to_bits())))
        {
            for byte in word.to_le_bytes() {
                h = (h ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
            }
        }
        *state = (h, state.1 + 1);
        Ok(())
    }
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Default, Serialize)]
struct Totals {
    rounds: u64,
    replays: u64,
    events: u64,
    swaps: u64,
    promotions: u64,
    rollbacks: u64,
    retrains: u64,
    /// Rounds whose second replay ended before the promotion and the rollback were both made.
    rounds_without_swaps: u64,
    /// Replays whose signals differ from the model's first replay.
    output_mismatches: u64,
    /// Retrained model files that differ from the first training with the same settings.
    retrain_mismatches: u64,
}

#[derive(Serialize)]
struct SoakReport {
    seconds: f64,
    stopped_by_signal: bool,
    totals: Totals,
    /// Resident memory slope after warm-up, MiB per hour (least squares over the samples).
    rss_slope_mib_per_hour: f64,
    /// Median resident memory of the first tenth of the samples after warm-up, MiB.
    rss_after_warm_up_mib: f64,
    /// Median resident memory of the last tenth of the samples, MiB.
    rss_end_mib: f64,
    open_files_after_warm_up: usize,
    open_files_end: usize,
    threads_after_warm_up: usize,
    threads_end: usize,
    passed: bool,
    failures: Vec<String>,
    samples: Vec<Sample>,
}

pub fn run(args: &SoakArgs) -> Result<()> {
    crate::check_writable(args.report.as_deref())?;
    if args.retrain_every == 0 {
        bail!("--retrain-every 0: expected a number of rounds, 1 or more");
    }
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing the signal handler")?;
    }
    let data = crate::sample_data::sample_data(args.data.as_deref())?;
    let message = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let orderbook = data.join("AAPL_2012-06-21_34200000_57600000_orderbook_1.csv");
    let dir = std::env::temp_dir().join(format!("tachyon-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let result = soak(args, &stop, start, &message, &orderbook, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Trains ridge with `lambda` on the features; the model file's bytes.
fn retrain(matrices: &[FeatureMatrix], lambda: f64) -> Result<Vec<u8>> {
    let split = Split::new(matrices, &SplitSpec::default());
    Ok(train_ridge(&split, lambda)?.model.to_bytes())
}

fn soak(
    args: &SoakArgs,
    stop: &Arc<AtomicBool>,
    start: Instant,
    message: &std::path::Path,
    orderbook: &std::path::Path,
    dir: &std::path::Path,
) -> Result<()> {
    let backend = Backend::active();
    let options = ExtractOptions { labels: Some(LabelSpec::default()), ..ExtractOptions::default() };
    let input = Input::detect(message, QuotesCsvConfig::default(), None);
    let matrices = vec![extract(input.open()?.as_mut(), &options)?];
    let registry = Registry::open(&dir.join("registry"))?;
    // The models rounds cycle through: ridge at four penalties, each trained once here and again every few rounds.
    let lambdas = [1e-3, 1e-2, 1e-1, 1.0];
    let mut first_training: HashMap<usize, Vec<u8>> = HashMap::new();
    for (k, &lambda) in lambdas.iter().enumerate() {
        let bytes = retrain(&matrices, lambda)?;
        let path = dir.join(format!("ridge-{k}.tcy"));
        std::fs::write(&path, &bytes)?;
        registry.add(&path)?;
        first_training.insert(k, bytes);
    }
    let ids = registry.ids()?;
    registry.promote(ids[0])?;
    let config = Config { pin: !args.no_pin, stop: Some(stop.clone()), ..Config::default() };
    let total = args.duration.as_secs_f64();
    let bar = indicatif::ProgressBar::new(total.ceil() as u64).with_style(
        indicatif::ProgressStyle::with_template("soak {bar:30} {pos}/{len} s  {msg}").expect("valid template"),
    );
    let mut totals = Totals::default();
    let mut reference: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    while start.elapsed() < args.duration && !stop.load(Ordering::Relaxed) {
        let round = totals.rounds;
        // The round in a block of its own: its files and threads are gone before the sample after it.
        {
            let live = registry.current()?.context("a model is live")?.id;

            // 1. The live model alone: the same signals as its first replay.
            let slot =
                ModelSlot::new(Deployed::load(live, &registry.model_path(live), &backend, ServedPrecision::F32)?);
            let hash = Arc::new(std::sync::Mutex::new((0xcbf2_9ce4_8422_2325u64, 0u64)));
            let mut feed = LobsterFeed::open(message, orderbook)?;
            let report = tachyon_live::run(&mut feed, &slot, &mut HashSink(hash.clone()), &config)?;
            let replay_seconds = report.seconds;
            totals.replays += 1;
            totals.events += report.updates;
            let got = *hash.lock().expect("not poisoned");
            if !report.stopped {
                let want = *reference.entry(live).or_insert(got);
                if got != want {
                    totals.output_mismatches += 1;
                    failures.push(format!("round {round}: model {live}'s signals differ from its first replay"));
                }
            }

            // 2. Promote the next model and roll back while the replay runs: two hot swaps under load.
            let next = ids[(ids.iter().position(|&i| i == live).expect("a registry id") + 1) % ids.len()];
            let mut watch = RegistryWatch::new(registry.clone(), slot.clone(), backend, ServedPrecision::F32)?;
            // Promote a fifth of the way through the replay, roll back at three fifths.
            let (replay_start, mut changes) = (Instant::now(), 0u64);
            let mut change_error = None;
            let mut control = || {
                let share = replay_start.elapsed().as_secs_f64() / replay_seconds.max(1e-3);
                let change = match changes {
                    0 if share >= 0.2 => Some(registry.promote(next).map(drop)),
                    1 if share >= 0.6 => Some(registry.rollback().map(drop)),
                    _ => None,
                };
                match change {
                    Some(Ok(())) => changes += 1,
                    Some(Err(e)) => {
                        change_error.get_or_insert(e);
                    }
                    None => {}
                }
                watch.poll();
            };
            let mut feed = LobsterFeed::open(message, orderbook)?;
            let report =
                tachyon_live::run_with_control(&mut feed, &slot, &mut tachyon_live::NullSink, &config, &mut control)?;
            if let Some(e) = change_error {
                return Err(e.into());
            }
            totals.replays += 1;
            totals.events += report.updates;
            totals.swaps += report.swaps;
            totals.promotions += u64::from(changes >= 1);
            totals.rollbacks += u64::from(changes >= 2);
            // A replay quicker than the one before may end before its changes: they are counted, not failed.
            totals.rounds_without_swaps += u64::from(changes < 2 && !report.stopped);
            // The rollback left the live model as it was; a stop in between leaves the promotion: undo it too.
            if registry.current()?.map(|p| p.id) != Some(live) {
                registry.promote(live)?;
            }

            // 3. Every few rounds, retrain and compare with the first training at the same penalty.
            if (round + 1) % args.retrain_every == 0 {
                let k = (round / args.retrain_every) as usize % lambdas.len();
                let bytes = retrain(&matrices, lambdas[k])?;
                totals.retrains += 1;
                if bytes != first_training[&k] {
                    totals.retrain_mismatches += 1;
                    failures
                        .push(format!("round {round}: ridge lambda {} trained to a different model file", lambdas[k]));
                }
            }
        }
        totals.rounds += 1;
        samples.push(Sample::now(start));
        let last = samples.last().expect("sampled");
        bar.set_position(start.elapsed().as_secs().min(total.ceil() as u64));
        bar.set_message(format!(
            "round {} · {:.0} M events · RSS {:.1} MiB · {} files · {} threads",
            totals.rounds,
            totals.events as f64 / 1e6,
            last.rss_bytes as f64 / 1048576.0,
            last.open_files,
            last.threads
        ));
    }
    bar.finish_and_clear();
    if samples.is_empty() {
        samples.push(Sample::now(start));
    }
    let report = summarise(start, stop.load(Ordering::Relaxed), totals, samples, failures);
    print_report(&report);
    if let Some(path) = &args.report {
        tachyon_io::write_atomic(path, &serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !report.passed {
        eprintln!("error: the soak failed: {}", report.failures.join("; "));
        std::process::exit(crate::EXIT_MISMATCH);
    }
    Ok(())
}

fn summarise(
    start: Instant,
    stopped: bool,
    totals: Totals,
    samples: Vec<Sample>,
    mut failures: Vec<String>,
) -> SoakReport {
    let seconds = start.elapsed().as_secs_f64();
    let mut settled: Vec<&Sample> = samples.iter().filter(|s| s.seconds >= WARM_UP_SHARE * seconds).collect();
    if settled.is_empty() {
        settled.push(samples.last().expect("sampled"));
    }
    let (base, end) = (settled[0], *settled.last().expect("not empty"));
    // Median RSS of the first and the last tenth of the settled samples.
    let span = ((settled.len() as f64 * MEDIAN_SHARE).ceil() as usize).max(1);
    let median = |part: &[&Sample]| {
        let mut rss: Vec<u64> = part.iter().map(|s| s.rss_bytes).collect();
        rss.sort_unstable();
        rss[rss.len() / 2] as f64
    };
    let (rss_start, rss_end) = (median(&settled[..span]), median(&settled[settled.len() - span..]));
    // Least-squares slope of RSS against time over the settled samples.
    let n = settled.len() as f64;
    let (mt, mr) = (
        settled.iter().map(|s| s.seconds).sum::<f64>() / n,
        settled.iter().map(|s| s.rss_bytes as f64).sum::<f64>() / n,
    );
    let (sxy, sxx) = settled.iter().fold((0.0, 0.0), |(xy, xx), s| {
        (xy + (s.seconds - mt) * (s.rss_bytes as f64 - mr), xx + (s.seconds - mt).powi(2))
    });
    let slope_bytes_per_s = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let mib = |b: f64| b / 1048576.0;
    if rss_end - rss_start > MAX_GROWTH_BYTES {
        failures.push(format!("resident memory grew {:.1} MiB after warm-up", mib(rss_end - rss_start)));
    }
    if end.open_files > base.open_files {
        failures.push(format!("open files grew from {} to {}", base.open_files, end.open_files));
    }
    if end.threads > base.threads {
        failures.push(format!("threads grew from {} to {}", base.threads, end.threads));
    }
    if totals.rounds == 0 {
        failures.push("no round completed".into());
    }
    SoakReport {
        seconds,
        stopped_by_signal: stopped,
        rss_slope_mib_per_hour: mib(slope_bytes_per_s * 3600.0),
        rss_after_warm_up_mib: mib(rss_start),
        rss_end_mib: mib(rss_end),
        open_files_after_warm_up: base.open_files,
        open_files_end: end.open_files,
        threads_after_warm_up: base.threads,
        threads_end: end.threads,
        passed: failures.is_empty(),
        failures,
        totals,
        samples,
    }
}

fn print_report(r: &SoakReport) {
    let t = &r.totals;
    println!(
        "soak: {:.0} s{}, {} rounds, {} replays, {:.1} M events",
        r.seconds,
        if r.stopped_by_signal { " (stopped by a signal)" } else { "" },
        t.rounds,
        t.replays,
        t.events as f64 / 1e6
    );
    println!(
        "models: {} hot swaps ({} promotions, {} rollbacks; {} rounds ended before theirs), {} retrains; \
         mismatches: {} replays, {} retrains",
        t.swaps,
        t.promotions,
        t.rollbacks,
        t.rounds_without_swaps,
        t.retrains,
        t.output_mismatches,
        t.retrain_mismatches
    );
    println!(
        "resident memory (medians): {:.1} MiB after warm-up, {:.1} MiB at the end, slope {:+.2} MiB/h",
        r.rss_after_warm_up_mib, r.rss_end_mib, r.rss_slope_mib_per_hour
    );
    println!(
        "open files: {} -> {}; threads: {} -> {}",
        r.open_files_after_warm_up, r.open_files_end, r.threads_after_warm_up, r.threads_end
    );
    println!("{}", if r.passed { "passed" } else { "FAILED" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("0.5h").unwrap(), Duration::from_secs(1800));
        for bad in ["", "x", "-1h", "0", "5d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
