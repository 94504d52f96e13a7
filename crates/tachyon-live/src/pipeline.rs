//! The pipeline on two threads joined by two bounded single-producer/single-consumer rings (rtrb: lock-free, no
//! allocation per element):
//!
//! ```text
//! io thread:  feed -> [updates ring] -> hot thread: book -> features -> predict -> [signals ring] -> io thread: sink
//! ```
//!
//! The io thread reads the feed and writes the sink, the hot thread keeps the book and predicts: two threads, one
//! per core of a 2-core machine (pinned where the OS allows). On more cores the io thread's two jobs can be split
//! without changing the hot thread. Both threads busy-poll: an empty or full ring is retried [`SPINS`] times with a
//! spin hint (a few hundred ns, under the time of one update), then the thread yields to the OS between tries, so
//! that a stalled feed does not hold a core at full power for ever and an idle wake-up costs one scheduler tick.
//!
//! Backpressure is lossless: when the updates ring is full, the io thread drains signals and retries, so nothing
//! is dropped and the signal ring cannot deadlock the two threads.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hdrhistogram::Histogram;
use rtrb::{Consumer, Producer, RingBuffer};
use serde::Serialize;
use tachyon_market::{BadRowPolicy, Feed, MarketError, Update};
use tachyon_simd::CycleClock;

use crate::hot::{HotCounts, HotPath, StageTicks};
use crate::model::{Deployed, ModelSlot};
use crate::signal::{Signal, SignalSink, TimeBase};

/// Tries of an empty or full ring with a spin hint before the thread starts yielding to the OS.
pub const SPINS: u32 = 256;

/// When the io thread lets each record into the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Pace {
    /// As fast as the feed reads: throughput, with the latency of a full ring.
    #[default]
    Max,
    /// This many records per second, evenly spaced: latency under a load the pipeline carries.
    Rate(f64),
    /// At the recorded pace times this factor (1: as recorded), from the records' exchange times.
    Speed(f64),
}

/// How to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Elements of each ring.
    pub ring: usize,
    /// Pin the io thread and the hot thread to the first two cores (when there are two).
    pub pin: bool,
    /// Time the stages of one update in this many (1: every update; the clock reads cost about 10 ns each).
    pub stage_every: u64,
    /// Malformed records: stop with the error (file, line, field), or count them, keep their errors as examples
    /// and go on (the feed resyncs the book from the next snapshot).
    pub on_bad_row: BadRowPolicy,
    /// Skipped records' errors kept for the report.
    pub max_examples: usize,
    /// How often the io thread runs the control hook of [`run_with_control`] (a registry poll), microseconds.
    pub control_every_us: u64,
    /// When records enter the pipeline.
    pub pace: Pace,
    /// A candidate model run beside the live one on the same features (shadow A/B): its outputs go into the
    /// signals and the report compares the two.
    pub shadow: Option<Arc<Deployed>>,
    /// Set from another thread (a signal handler) to stop reading: what was read is drained, signals flushed,
    /// and the report says the run was stopped.
    pub stop: Option<Arc<AtomicBool>>,
    /// Called on the io thread about every [`progress_every_ms`](Config::progress_every_ms) with the run's
    /// [`Progress`] (e.g. to print a line).
    pub progress: Option<fn(&Progress)>,
    /// Milliseconds between [`progress`](Config::progress) calls.
    pub progress_every_ms: u64,
}

/// Where a run is: counts so far, and throughput and latency over the last interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Progress {
    /// Seconds since the run started.
    pub seconds: f64,
    /// Updates read so far.
    pub updates: u64,
    /// Signals written so far.
    pub signals: u64,
    /// Records skipped so far.
    pub skipped: u64,
    /// Updates per second over the interval.
    pub interval_events_per_s: f64,
    /// Receive -> signal over the interval's signals.
    pub interval_latency: Percentiles,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ring: 4096,
            pin: true,
            stage_every: 16,
            on_bad_row: BadRowPolicy::Fail,
            max_examples: 5,
            control_every_us: 200,
            pace: Pace::Max,
            shadow: None,
            stop: None,
            progress: None,
            progress_every_ms: 1000,
        }
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The feed failed (and bad records are not skipped).
    #[error(transparent)]
    Feed(#[from] MarketError),
    /// The sink could not be written.
    #[error("writing signals: {0}")]
    Sink(#[from] io::Error),
}

/// Percentiles of one latency, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ns: f64,
    /// 99th percentile.
    pub p99_ns: f64,
    /// 99.9th percentile.
    pub p999_ns: f64,
    /// Largest.
    pub max_ns: f64,
}

/// Per-stage split of the time an update spends on its way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stages {
    /// Reading and parsing one record (io thread).
    pub parse: Percentiles,
    /// Waiting in the updates ring (receive to taken by the hot thread): near zero when the hot thread keeps up,
    /// the ring's fill when the feed outruns it (a replay at maximum speed).
    pub queue: Percentiles,
    /// Applying the change to the book.
    pub book: Percentiles,
    /// Updating the features.
    pub features: Percentiles,
    /// The prediction.
    pub predict: Percentiles,
    /// Writing one signal to the sink (io thread).
    pub sink: Percentiles,
    /// The shadow model's prediction, after the live signal (empty without a shadow).
    pub shadow: Percentiles,
}

/// The shadow model against the live one, over every signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ShadowReport {
    /// The shadow model's id.
    pub model_id: u32,
    /// Signals with both predictions.
    pub signals: u64,
    /// Pearson correlation of the two first outputs.
    pub correlation: f64,
    /// Fraction of signals where both have the same sign.
    pub sign_agreement: f64,
    /// Mean absolute difference.
    pub mean_abs_diff: f64,
    /// Largest absolute difference.
    pub max_abs_diff: f64,
}

/// Running sums for [`ShadowReport`].
#[derive(Default)]
struct ShadowSums {
    n: u64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
    agree: u64,
    abs: f64,
    max_abs: f64,
}

impl ShadowSums {
    fn add(&mut self, live: f32, shadow: f32) {
        let (x, y) = (f64::from(live), f64::from(shadow));
        self.n += 1;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.syy += y * y;
        self.sxy += x * y;
        self.agree += u64::from((x >= 0.0) == (y >= 0.0));
        self.abs += (x - y).abs();
        self.max_abs = self.max_abs.max((x - y).abs());
    }

    fn report(&self, model_id: u32) -> ShadowReport {
        let n = self.n.max(1) as f64;
        let cov = self.sxy / n - self.sx / n * self.sy / n;
        let var = |s: f64, ss: f64| (ss / n - (s / n) * (s / n)).max(0.0);
        let denom = (var(self.sx, self.sxx) * var(self.sy, self.syy)).sqrt();
        ShadowReport {
            model_id,
            signals: self.n,
            correlation: if denom > 0.0 { cov / denom } else { f64::NAN },
            sign_agreement: self.agree as f64 / n,
            mean_abs_diff: self.abs / n,
            max_abs_diff: self.max_abs,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// The feed.
    pub source: String,
    /// Updates that went through the pipeline.
    pub updates: u64,
    /// Ticks (updates that complete one).
    pub ticks: u64,
    /// Signals written.
    pub signals: u64,
    /// Ticks before the features were ready (no signal).
    pub warmup: u64,
    /// Records the feed could not read, skipped.
    pub skipped: u64,
    /// The first skipped records' errors.
    pub skipped_examples: Vec<String>,
    /// Updates dropped (always 0: backpressure is lossless).
    pub drops: u64,
    /// Whether the run was stopped (SIGINT, SIGTERM) before its feed ended.
    pub stopped: bool,
    /// Times the hot path changed model.
    pub swaps: u64,
    /// Signals of int8 models computed by their f32 network (inputs or activations outside the calibrated range).
    pub fallback_rows: u64,
    /// Wall time, s.
    pub seconds: f64,
    /// Updates per second, end to end.
    pub events_per_s: f64,
    /// The shadow model against the live one, when a shadow ran.
    pub shadow: Option<ShadowReport>,
    /// The first signal of each model after the first: when a swap reached the signals.
    pub model_changes: Vec<ModelChange>,
    /// Receive (record parsed) to signal emitted, over every signal.
    pub latency: Percentiles,
    /// The split by stage, over sampled updates.
    pub stages: Stages,
    /// Inputs far outside the live model's training range on at least 1% of the ticks it served: name and share.
    pub drifted: Vec<(String, f64)>,
}

/// The first signal a model made after another model's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelChange {
    /// The signal's sequence number.
    pub seq: u64,
    /// The new model.
    pub model_id: u32,
    /// When the signal was made, ns since the Unix epoch.
    pub emit_unix_ns: u128,
}

// Ring slots are allocated once, at the size of the largest variant; the end marker comes once per run.
#[allow(clippy::large_enum_variant)]
enum Inbound {
    Update { seq: u64, receive: u64, update: Update },
    End,
}

enum Outbound {
    Signal { signal: Signal, stages: Option<StageTicks> },
    Done,
}

/// Waits a little: a spin hint for the first [`SPINS`] tries, then a yield to the OS.
fn backoff(tries: &mut u32) {
    if *tries < SPINS {
        std::hint::spin_loop();
        *tries += 1;
    } else {
        std::thread::yield_now();
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1_000_000_000_000, 3).expect("valid bounds")
}

fn percentiles(h: &Histogram<u64>, ns_per_tick: f64) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let at = |q: f64| h.value_at_quantile(q) as f64 * ns_per_tick;
    Percentiles {
        count: h.len(),
        p50_ns: at(0.5),
        p99_ns: at(0.99),
        p999_ns: at(0.999),
        max_ns: h.max() as f64 * ns_per_tick,
    }
}

/// Histograms of the io thread, in clock ticks.
struct Timings {
    latency: Histogram<u64>,
    parse: Histogram<u64>,
    queue: Histogram<u64>,
    book: Histogram<u64>,
    features: Histogram<u64>,
    predict: Histogram<u64>,
    sink: Histogram<u64>,
    shadow: Histogram<u64>,
    /// Receive -> signal since the last [`Progress`].
    interval: Histogram<u64>,
}

/// The io thread's side of the signal ring: writes each signal, records its times.
struct Drain<'a> {
    rx: Consumer<Outbound>,
    sink: &'a mut dyn SignalSink,
    time: TimeBase,
    clock: CycleClock,
    timings: Timings,
    signals: u64,
    done: bool,
    last_model: Option<u32>,
    changes: Vec<ModelChange>,
    origin_unix_ns: u128,
    shadow: ShadowSums,
}

impl Drain<'_> {
    /// Takes every signal waiting; returns how many messages it took.
    fn drain(&mut self) -> io::Result<usize> {
        let mut taken = 0;
        while let Ok(message) = self.rx.pop() {
            taken += 1;
            match message {
                Outbound::Signal { signal, stages } => {
                    if self.last_model.is_some_and(|m| m != signal.model_id) {
                        self.changes.push(ModelChange {
                            seq: signal.seq,
                            model_id: signal.model_id,
                            emit_unix_ns: self.origin_unix_ns + u128::from(self.time.ns(signal.emit_ticks)),
                        });
                    }
                    self.last_model = Some(signal.model_id);
                    if let Some(shadow) = signal.shadow {
                        self.shadow.add(signal.prediction[0], shadow);
                    }
                    let t = &mut self.timings;
                    let latency = signal.emit_ticks.saturating_sub(signal.receive_ticks).max(1);
                    t.latency.saturating_record(latency);
                    t.interval.saturating_record(latency);
                    if let Some(s) = stages {
                        t.queue.saturating_record(s.start.saturating_sub(signal.receive_ticks).max(1));
                        t.book.saturating_record(s.book.saturating_sub(s.start).max(1));
                        t.features.saturating_record(s.features.saturating_sub(s.book).max(1));
                        t.predict.saturating_record(s.predict.saturating_sub(s.features).max(1));
                        if signal.shadow.is_some() {
                            t.shadow.saturating_record(s.shadow.saturating_sub(s.predict).max(1));
                        }
                        let t0 = self.clock.now();
                        self.sink.write(&signal, &self.time)?;
                        t.sink.saturating_record(self.clock.now().saturating_sub(t0).max(1));
                    } else {
                        self.sink.write(&signal, &self.time)?;
                    }
                    self.signals += 1;
                }
                Outbound::Done => self.done = true,
            }
        }
        Ok(taken)
    }
}

/// Runs `feed` through the pipeline until it ends, predicting with the model live in `slot` and writing signals
/// to `sink` (which the caller finishes); returns the report.
pub fn run(
    feed: &mut dyn Feed,
    slot: &ModelSlot,
    sink: &mut dyn SignalSink,
    config: &Config,
) -> Result<Report, LiveError> {
    run_with_control(feed, slot, sink, config, &mut || {})
}

/// [`run`], with `control` called on the io thread about every [`Config::control_every_us`] (between records,
/// and while waiting): where a [`crate::RegistryWatch`] polls, so that a promotion needs no third thread (on two
/// cores it would wait for a scheduler slice).
pub fn run_with_control(
    feed: &mut dyn Feed,
    slot: &ModelSlot,
    sink: &mut dyn SignalSink,
    config: &Config,
    control: &mut (dyn FnMut() + Send),
) -> Result<Report, LiveError> {
    let clock = CycleClock::new();
    // The tick rate, measured over a short window before anything runs (1e-4 relative or better).
    std::thread::sleep(std::time::Duration::from_millis(5));
    let time = TimeBase { origin: clock.now(), ns_per_tick: clock.ns_per_tick() };
    let origin_unix_ns = crate::registry::unix_ns();
    let (tx, updates_rx) = RingBuffer::<Inbound>::new(config.ring.max(2));
    let (signals_tx, signals_rx) = RingBuffer::<Outbound>::new(config.ring.max(2));
    let cores = if config.pin { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
    let mut hot = HotPath::new(slot.clone(), feed.units());
    if let Some(shadow) = &config.shadow {
        hot = hot.with_shadow(shadow.clone());
    }
    let stage_every = config.stage_every.max(1);
    let started = std::time::Instant::now();
    let mut report = Report { source: feed.name(), ..Report::default() };

    let result = std::thread::scope(|scope| {
        let hot_core = cores.get(1).copied();
        let hot_thread = scope.spawn(move || {
            if let Some(core) = hot_core {
                core_affinity::set_for_current(core);
            }
            hot_loop(&mut hot, updates_rx, signals_tx, clock, stage_every);
            (hot.counts(), hot.drifted())
        });
        // The io thread is a thread of its own too, so that pinning it leaves the caller's thread as it was.
        let io_core = cores.first().copied().filter(|_| cores.len() >= 2);
        let report = &mut report;
        let io_thread = scope.spawn(move || {
            if let Some(core) = io_core {
                core_affinity::set_for_current(core);
            }
            io_side(feed, sink, tx, signals_rx, control, report, config, clock, time, origin_unix_ns)
        });
        let io = io_thread.join().expect("the io thread does not panic");
        let counts: (HotCounts, _) = hot_thread.join().expect("the hot thread does not panic");
        (io, counts)
    });
    let ((fed, drained, timings, signals, changes, shadow), (counts, drifted)) = result;
    report.drifted = drifted.into_iter().map(|(name, share)| (name.to_string(), share)).collect();
    report.shadow = config.shadow.as_ref().map(|model| shadow.report(model.id));
    report.model_changes = changes;
    fed?;
    drained?;
    let ns = time.ns_per_tick;
    report.ticks = counts.ticks;
    report.warmup = counts.warmup;
    report.swaps = counts.swaps;
    report.fallback_rows = counts.fallback_rows;
    report.signals = signals;
    report.seconds = started.elapsed().as_secs_f64();
    report.events_per_s = report.updates as f64 / report.seconds.max(1e-9);
    report.latency = percentiles(&timings.latency, ns);
    report.stages = Stages {
        parse: percentiles(&timings.parse, ns),
        queue: percentiles(&timings.queue, ns),
        book: percentiles(&timings.book, ns),
        features: percentiles(&timings.features, ns),
        predict: percentiles(&timings.predict, ns),
        sink: percentiles(&timings.sink, ns),
        shadow: percentiles(&timings.shadow, ns),
    };
    Ok(report)
}

/// What the io thread hands back: the feed's and the sink's outcome, its histograms, the signals written and the
/// model changes seen.
type IoOutcome = (Result<(), LiveError>, io::Result<()>, Timings, u64, Vec<ModelChange>, ShadowSums);

/// The io thread: the feed into the updates ring until it ends, then the end marker, then every signal until the
/// hot thread is done.
#[allow(clippy::too_many_arguments)]
fn io_side(
    feed: &mut dyn Feed,
    sink: &mut dyn SignalSink,
    mut tx: Producer<Inbound>,
    signals_rx: Consumer<Outbound>,
    control: &mut (dyn FnMut() + Send),
    report: &mut Report,
    config: &Config,
    clock: CycleClock,
    time: TimeBase,
    origin_unix_ns: u128,
) -> IoOutcome {
    let timings = Timings {
        latency: histogram(),
        parse: histogram(),
        queue: histogram(),
        book: histogram(),
        features: histogram(),
        predict: histogram(),
        sink: histogram(),
        shadow: histogram(),
        interval: histogram(),
    };
    let mut drain = Drain {
        rx: signals_rx,
        sink,
        time,
        clock,
        timings,
        signals: 0,
        done: false,
        last_model: None,
        changes: Vec::new(),
        origin_unix_ns,
        shadow: ShadowSums::default(),
    };
    let control_every = (config.control_every_us as f64 * 1e3 / time.ns_per_tick) as u64;
    let mut control = Control { hook: control, every: control_every.max(1), next: 0 };
    let fed = io_loop(feed, &mut tx, &mut drain, &mut control, report, config, &clock);
    // Whatever happened, tell the hot thread to stop and wait for it (it drains the ring first).
    let mut tries = 0;
    while tx.push(Inbound::End).is_err() {
        let _ = drain.drain();
        backoff(&mut tries);
    }
    let mut drained = Ok(());
    tries = 0;
    while !drain.done {
        match drain.drain() {
            Ok(0) => backoff(&mut tries),
            Ok(_) => tries = 0,
            Err(e) => {
                // Keep emptying the ring so that the hot thread can finish, but write nothing more.
                drained = Err(e);
                while let Ok(message) = drain.rx.pop() {
                    drain.done |= matches!(message, Outbound::Done);
                }
            }
        }
    }
    (fed, drained, drain.timings, drain.signals, drain.changes, drain.shadow)
}

/// The control hook and when it runs next.
struct Control<'a> {
    hook: &'a mut (dyn FnMut() + Send),
    every: u64,
    next: u64,
}

impl Control<'_> {
    /// Runs the hook if it is due at `now` (ticks).
    #[inline]
    fn tick(&mut self, now: u64) {
        if now >= self.next {
            (self.hook)();
            self.next = now + self.every;
        }
    }
}

/// The io thread's loop: reads the feed into the updates ring, draining signals whenever it would wait.
fn io_loop(
    feed: &mut dyn Feed,
    tx: &mut Producer<Inbound>,
    drain: &mut Drain<'_>,
    control: &mut Control<'_>,
    report: &mut Report,
    config: &Config,
    clock: &CycleClock,
) -> Result<(), LiveError> {
    let mut updates = Vec::with_capacity(64);
    let mut seq = 0u64;
    let ns_per_tick = drain.time.ns_per_tick;
    let start = clock.now();
    let (mut records, mut first_time_ns) = (0u64, None);
    let progress_every = ((config.progress_every_ms.max(1) as f64 * 1e6 / ns_per_tick) as u64).max(1);
    let (mut progress_due, mut last_progress) = (start + progress_every, (start, 0u64));
    loop {
        drain.drain()?;
        if config.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            report.stopped = true;
            return Ok(());
        }
        let t0 = clock.now();
        let read = feed.next_updates(&mut updates);
        let parsed = clock.now();
        control.tick(parsed);
        if let Some(hook) = config.progress.filter(|_| parsed >= progress_due) {
            let (at, updates) = last_progress;
            let seconds = (parsed - at) as f64 * ns_per_tick * 1e-9;
            hook(&Progress {
                seconds: (parsed - start) as f64 * ns_per_tick * 1e-9,
                updates: report.updates,
                signals: drain.signals,
                skipped: report.skipped,
                interval_events_per_s: (report.updates - updates) as f64 / seconds.max(1e-9),
                interval_latency: percentiles(&drain.timings.interval, ns_per_tick),
            });
            drain.timings.interval.reset();
            last_progress = (parsed, report.updates);
            progress_due = parsed + progress_every;
        }
        match read {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(error @ MarketError::Parse { .. }) if config.on_bad_row == BadRowPolicy::Skip => {
                report.skipped += 1;
                if report.skipped_examples.len() < config.max_examples {
                    report.skipped_examples.push(error.to_string());
                }
                continue;
            }
            Err(error) => return Err(error.into()),
        }
        // The record is let in at its due time (a busy wait that keeps draining signals); it is received then.
        let due_ns = match config.pace {
            Pace::Max => None,
            Pace::Rate(rate) => Some(records as f64 * 1e9 / rate),
            Pace::Speed(speed) => updates.iter().rev().find_map(|u| u.tick).map(|tick| {
                let first = *first_time_ns.get_or_insert(tick.time_ns);
                (tick.time_ns - first).max(0) as f64 / speed
            }),
        };
        records += 1;
        let receive = match due_ns {
            None => parsed,
            Some(ns) => {
                let due = start + (ns / ns_per_tick) as u64;
                let mut now = clock.now();
                while now < due {
                    drain.drain()?;
                    control.tick(now);
                    std::hint::spin_loop();
                    now = clock.now();
                }
                now
            }
        };
        drain.timings.parse.saturating_record(parsed.saturating_sub(t0).max(1));
        for update in &updates {
            let mut message = Inbound::Update { seq, receive, update: *update };
            let mut tries = 0;
            while let Err(rtrb::PushError::Full(back)) = tx.push(message) {
                message = back;
                if drain.drain()? == 0 {
                    control.tick(clock.now());
                    backoff(&mut tries);
                }
            }
            seq += 1;
        }
        report.updates = seq;
    }
}

/// The hot thread's loop: every update through book, features and model, until the end marker.
fn hot_loop(
    hot: &mut HotPath,
    mut rx: Consumer<Inbound>,
    mut tx: Producer<Outbound>,
    clock: CycleClock,
    stage_every: u64,
) {
    let mut stages = StageTicks::default();
    let mut tries = 0;
    loop {
        let (seq, receive, update) = match rx.pop() {
            Ok(Inbound::Update { seq, receive, update }) => (seq, receive, update),
            Ok(Inbound::End) => break,
            Err(_) => {
                backoff(&mut tries);
                continue;
            }
        };
        tries = 0;
        let timed = seq % stage_every == 0;
        if let Some(signal) = hot.on_update(&update, seq, receive, &clock, timed, &mut stages) {
            let mut message = Outbound::Signal { signal, stages: timed.then_some(stages) };
            let mut full = 0;
            while let Err(rtrb::PushError::Full(back)) = tx.push(message) {
                message = back;
                backoff(&mut full);
            }
        }
    }
    let mut full = 0;
    while tx.push(Outbound::Done).is_err() {
        backoff(&mut full);
    }
}
