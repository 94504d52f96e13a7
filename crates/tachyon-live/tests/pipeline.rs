//! The live pipeline against batch extraction on the shipped AAPL day: the same signals bit for bit, sequence
//! continuity, models swapped 1,000 times with every tick predicted once by a model that was live, and no
//! allocation on the hot path after warm-up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tachyon_features::batch::{extract, ExtractOptions, FeatureMatrix};
use tachyon_infer::CompiledModel;
use tachyon_live::{run, Config, Deployed, HotPath, ModelSlot, StageTicks};
use tachyon_market::{Feed, LobsterFeed, LobsterReplay, Units, Update};
use tachyon_model::{Activation, DenseNetwork};
use tachyon_simd::{Backend, CycleClock};

mod common;
use common::Keep;

tachyon_testkit::install_counting_allocator!();

fn sample() -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    (
        dir.join("AAPL_2012-06-21_34200000_57600000_message_1.csv"),
        dir.join("AAPL_2012-06-21_34200000_57600000_orderbook_1.csv"),
    )
}

fn model(seed: u64) -> CompiledModel {
    let net = DenseNetwork::seeded(&[tachyon_features::NUM_FEATURES, 32, 1], Activation::Tanh, seed);
    CompiledModel::compile(&net, &Backend::active()).unwrap()
}

fn batch() -> FeatureMatrix {
    let (m, o) = sample();
    extract(&mut LobsterReplay::open(&m, &o).unwrap(), &ExtractOptions::default()).unwrap()
}

fn predict(model: &CompiledModel, row: &[f32]) -> f32 {
    let mut out = [0.0f32];
    model.predict(row, &mut model.scratch(), &mut out).unwrap();
    out[0]
}

fn config() -> Config {
    Config { ring: 256, pin: false, stage_every: 1, ..Config::default() }
}

#[test]
fn replayed_signals_equal_batch_features_and_predictions_bit_for_bit() {
    let (m, o) = sample();
    let expected = batch();
    let served = model(7);
    let reference: Vec<f32> = (0..expected.rows()).map(|i| predict(&served, expected.row(i))).collect();
    let slot = ModelSlot::new(Deployed::new(1, "seeded", served).unwrap());
    let keep = Keep::default();
    let mut sink = keep.clone();
    let report = run(&mut LobsterFeed::open(&m, &o).unwrap(), &slot, &mut sink, &config()).unwrap();
    let signals = keep.0.lock().unwrap();
    assert_eq!(signals.len(), expected.rows());
    assert_eq!(report.signals, expected.rows() as u64);
    assert_eq!(report.ticks, expected.rows_read);
    assert_eq!(report.warmup, expected.rows_warmup);
    // The book is seeded from the first row as a snapshot: one update per level plus the clear, then one per
    // message.
    assert!(report.updates > report.ticks);
    for (i, s) in signals.iter().enumerate() {
        assert_eq!(s.event_id, expected.event_id[i], "signal {i}");
        assert_eq!(s.exchange_time_ns, expected.time_ns[i], "signal {i}");
        assert_eq!(s.prediction[0].to_bits(), reference[i].to_bits(), "signal {i} (event {})", s.event_id);
        assert_eq!(s.model_id, 1);
        assert!(s.emit_ticks >= s.receive_ticks);
    }
    // Sequence numbers increase without repeats (every update crossed the ring once, in order).
    assert!(signals.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(report.drops, 0);
    assert!(report.latency.count == report.signals && report.latency.p50_ns > 0.0);
    assert!(report.stages.predict.count > 0 && report.stages.features.count > 0);
}

#[test]
fn a_thousand_swaps_lose_no_tick_and_each_signal_comes_from_a_live_model() {
    let (m, o) = sample();
    let expected = batch();
    let (a, b) =
        (Arc::new(Deployed::new(1, "a", model(1)).unwrap()), Arc::new(Deployed::new(2, "b", model(2)).unwrap()));
    let reference = |id: u32, i: usize| predict(if id == 1 { &a.model } else { &b.model }, expected.row(i));
    let slot = ModelSlot::new(Deployed::new(1, "a", model(1)).unwrap());
    // The slot starts with a compiled copy of `a` (same weights, same outputs), then alternates b and a.
    let keep = Keep::default();
    let done = AtomicBool::new(false);
    let swaps = std::thread::scope(|scope| {
        let swapper = scope.spawn(|| {
            let mut swaps = 0;
            while swaps < 1000 {
                slot.swap(if swaps % 2 == 0 { b.clone() } else { a.clone() });
                swaps += 1;
                // Spread the swaps over the replay (it lasts tens of ms); once it is over, finish at once.
                if !done.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_micros(20));
                }
            }
            swaps
        });
        let mut sink = keep.clone();
        let report = run(&mut LobsterFeed::open(&m, &o).unwrap(), &slot, &mut sink, &config()).unwrap();
        done.store(true, Ordering::Relaxed);
        assert!(report.swaps > 0, "the hot path saw the swaps");
        swapper.join().unwrap()
    });
    assert_eq!(swaps, 1000);
    let signals = keep.0.lock().unwrap();
    assert_eq!(signals.len(), expected.rows(), "one signal per tick, none lost, none twice");
    let mut by_model = [0usize; 2];
    for (i, s) in signals.iter().enumerate() {
        assert_eq!(s.event_id, expected.event_id[i]);
        assert_eq!(s.prediction[0].to_bits(), reference(s.model_id, i).to_bits(), "signal {i} of model {}", s.model_id);
        by_model[s.model_id as usize - 1] += 1;
    }
    assert!(by_model[0] > 0 && by_model[1] > 0, "{by_model:?}");
    // Rolled back to a (the last swap): the slot serves a's outputs bit for bit.
    let live = slot.current();
    assert_eq!(live.id, 1);
    assert_eq!(predict(&live.model, expected.row(0)).to_bits(), reference(1, 0).to_bits());
}

#[test]
fn the_hot_path_allocates_nothing_after_warm_up() {
    let (m, o) = sample();
    let mut feed = LobsterFeed::open(&m, &o).unwrap();
    let mut all: Vec<Update> = Vec::new();
    let mut updates = Vec::new();
    while feed.next_updates(&mut updates).unwrap() {
        all.extend_from_slice(&updates);
    }
    let slot = ModelSlot::new(Deployed::new(1, "seeded", model(3)).unwrap());
    // With a shadow model too, which must not allocate either.
    let shadow = Arc::new(Deployed::new(2, "shadow", model(4)).unwrap());
    let mut hot = HotPath::new(slot, feed.units()).with_shadow(shadow);
    let clock = CycleClock::new();
    let mut stages = StageTicks::default();
    let warm = 10_000;
    let mut signals = 0u64;
    for (i, u) in all[..warm].iter().enumerate() {
        hot.on_update(u, i as u64, 0, &clock, true, &mut stages);
    }
    let ((), allocations) = tachyon_testkit::count_thread_allocations(|| {
        for (i, u) in all[warm..].iter().enumerate() {
            let signal = hot.on_update(u, (warm + i) as u64, 0, &clock, i % 16 == 0, &mut stages);
            signals += u64::from(signal.is_some_and(|s| s.shadow.is_some()));
        }
    });
    assert!(signals > 100_000, "{signals} signals");
    assert_eq!(allocations, 0, "over {} updates", all.len() - warm);
}

/// A quotes/trades CSV through the pipeline (each quote a snapshot of the top of the book) gives the batch
/// features' predictions bit for bit.
#[test]
fn a_quotes_csv_replays_like_its_batch_features() {
    use tachyon_market::{QuotesCsv, QuotesCsvConfig, SnapshotFeed};
    let dir = std::env::temp_dir().join(format!("tachyon-live-quotes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("quotes.csv");
    let mut rng = tachyon_testkit::SplitMix64(9);
    let mut text = String::from("time,type,bid_price,bid_size,ask_price,ask_size,price,size,side\n");
    let mut mid = 10_000i64;
    for i in 0..5000 {
        let t = 34_200.0 + i as f64 * 0.01;
        mid += (rng.next_u64() % 3) as i64 - 1;
        if i % 7 == 3 {
            text.push_str(&format!(
                "{t:.3},trade,,,,,{:.2},{},buy\n",
                (mid + 1) as f64 / 100.0,
                1 + rng.next_u64() % 50
            ));
        } else {
            let (bs, as_) = (1 + rng.next_u64() % 900, 1 + rng.next_u64() % 900);
            text.push_str(&format!(
                "{t:.3},quote,{:.2},{bs},{:.2},{as_},,,\n",
                (mid - 1) as f64 / 100.0,
                (mid + 1) as f64 / 100.0
            ));
        }
    }
    std::fs::write(&path, text).unwrap();
    let quotes = QuotesCsvConfig { price_decimals: 2, size_decimals: 0 };
    let expected = extract(&mut QuotesCsv::open(&path, quotes).unwrap(), &ExtractOptions::default()).unwrap();
    let served = model(11);
    let reference: Vec<f32> = (0..expected.rows()).map(|i| predict(&served, expected.row(i))).collect();
    let slot = ModelSlot::new(Deployed::new(1, "seeded", served).unwrap());
    let keep = Keep::default();
    let mut feed = SnapshotFeed::new(QuotesCsv::open(&path, quotes).unwrap());
    let report = run(&mut feed, &slot, &mut keep.clone(), &config()).unwrap();
    let signals = keep.0.lock().unwrap();
    assert_eq!(signals.len(), expected.rows());
    assert!(report.signals > 4000);
    for (i, s) in signals.iter().enumerate() {
        assert_eq!(s.event_id, expected.event_id[i]);
        assert_eq!(s.prediction[0].to_bits(), reference[i].to_bits(), "row {i}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Shadow A/B: the candidate's outputs ride along with the live model's, equal to its own batch predictions, and
/// the report compares the two (a model against itself: correlation 1, no difference).
#[test]
fn a_shadow_model_predicts_beside_the_live_one() {
    let (m, o) = sample();
    let expected = batch();
    let (live, candidate) = (model(7), Arc::new(Deployed::new(2, "candidate", model(8)).unwrap()));
    let reference: Vec<f32> = (0..expected.rows()).map(|i| predict(&candidate.model, expected.row(i))).collect();
    let slot = ModelSlot::new(Deployed::new(1, "live", live).unwrap());
    let keep = Keep::default();
    let with_candidate = Config { shadow: Some(candidate.clone()), ..config() };
    let report = run(&mut LobsterFeed::open(&m, &o).unwrap(), &slot, &mut keep.clone(), &with_candidate).unwrap();
    let signals = keep.0.lock().unwrap();
    for (i, s) in signals.iter().enumerate() {
        assert_eq!(s.shadow.unwrap().to_bits(), reference[i].to_bits(), "signal {i}");
        assert_eq!(s.model_id, 1);
    }
    let shadow = report.shadow.unwrap();
    assert_eq!((shadow.model_id, shadow.signals), (2, signals.len() as u64));
    assert!(shadow.correlation.abs() <= 1.0 && shadow.max_abs_diff > 0.0, "{shadow:?}");
    assert!(report.stages.shadow.count > 0);
    // The live model as its own shadow: identical outputs.
    let twin = Arc::new(Deployed::new(3, "twin", model(7)).unwrap());
    let with_twin = Config { shadow: Some(twin), ..config() };
    let report = run(&mut LobsterFeed::open(&m, &o).unwrap(), &slot, &mut Keep::default(), &with_twin).unwrap();
    let shadow = report.shadow.unwrap();
    assert_eq!((shadow.max_abs_diff, shadow.sign_agreement), (0.0, 1.0), "{shadow:?}");
    assert!((shadow.correlation - 1.0).abs() < 1e-9, "{shadow:?}");
}

/// The shipped day's updates again and again (each pass starts with the day's snapshot), each tick numbered in
/// order across passes.
struct Cycle {
    updates: Vec<Update>,
    at: usize,
    left: u64,
    ticks: u64,
}

impl Feed for Cycle {
    fn next_updates(&mut self, out: &mut Vec<Update>) -> Result<bool, tachyon_market::MarketError> {
        out.clear();
        if self.left == 0 {
            return Ok(false);
        }
        let mut update = self.updates[self.at];
        if let Some(tick) = update.tick.as_mut() {
            self.ticks += 1;
            tick.event_id = self.ticks;
        }
        out.push(update);
        self.at = (self.at + 1) % self.updates.len();
        self.left -= 1;
        Ok(true)
    }
    fn units(&self) -> Units {
        Units::LOBSTER
    }
    fn name(&self) -> String {
        "cycle".into()
    }
}

/// Checks, signal by signal, that sequence numbers rise and tick numbers rise by exactly one.
#[derive(Default)]
struct Continuity {
    signals: u64,
    last_seq: Option<u64>,
    last_event: Option<u64>,
    breaks: u64,
}

impl tachyon_live::SignalSink for Continuity {
    fn write(&mut self, s: &tachyon_live::Signal, _: &tachyon_live::TimeBase) -> std::io::Result<()> {
        let seq_ok = self.last_seq.is_none_or(|l| s.seq > l);
        let event_ok = self.last_event.is_none_or(|l| s.event_id == l + 1);
        self.breaks += u64::from(!(seq_ok && event_ok));
        (self.last_seq, self.last_event) = (Some(s.seq), Some(s.event_id));
        self.signals += 1;
        Ok(())
    }
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        Ok(())
    }
}

/// Over ten million updates crossing the rings between two threads, no signal is lost, repeated or out of order.
#[test]
fn ten_million_updates_keep_their_order() {
    let (m, o) = sample();
    let mut feed = LobsterFeed::open(&m, &o).unwrap();
    let (mut day, mut updates) = (Vec::new(), Vec::new());
    while feed.next_updates(&mut updates).unwrap() {
        day.extend_from_slice(&updates);
    }
    let total = 10_000_000u64.div_ceil(day.len() as u64) * day.len() as u64;
    let mut cycle = Cycle { updates: day, at: 0, left: total, ticks: 0 };
    let slot = ModelSlot::new(Deployed::new(1, "seeded", model(12)).unwrap());
    let mut sink = Continuity::default();
    let report = run(&mut cycle, &slot, &mut sink, &Config { ring: 1024, ..config() }).unwrap();
    assert_eq!(report.updates, total);
    assert_eq!(sink.breaks, 0);
    assert_eq!(sink.signals, report.ticks - report.warmup);
    assert_eq!(sink.last_event, Some(cycle.ticks));
    assert!(total >= 10_000_000);
}

/// Every progress call of the run below, in order.
static PROGRESS: std::sync::Mutex<Vec<tachyon_live::Progress>> = std::sync::Mutex::new(Vec::new());

fn keep_progress(p: &tachyon_live::Progress) {
    PROGRESS.lock().unwrap().push(*p);
}

#[test]
fn progress_is_reported_while_a_run_goes() {
    let (m, o) = sample();
    let slot = ModelSlot::new(Deployed::new(1, "seeded", model(7)).unwrap());
    // About 0.12 s at this rate: a dozen calls 10 ms apart.
    let config = Config {
        pace: tachyon_live::Pace::Rate(1_000_000.0),
        progress: Some(keep_progress),
        progress_every_ms: 10,
        ..config()
    };
    let report = run(&mut LobsterFeed::open(&m, &o).unwrap(), &slot, &mut Keep::default(), &config).unwrap();
    let calls = PROGRESS.lock().unwrap().clone();
    assert!(calls.len() >= 3, "{calls:?}");
    for w in calls.windows(2) {
        assert!(w[0].seconds < w[1].seconds && w[0].updates <= w[1].updates && w[0].signals <= w[1].signals);
    }
    let last = calls.last().unwrap();
    assert!(last.updates <= report.updates && last.signals <= report.signals, "{last:?} {report:?}");
    assert!(calls.iter().any(|p| p.interval_latency.count > 0 && p.interval_events_per_s > 0.0), "{calls:?}");
    // The intervals' latency samples are disjoint: together no more than the run's.
    assert!(calls.iter().map(|p| p.interval_latency.count).sum::<u64>() <= report.latency.count);
}

/// The int8 predictor in the pipeline gives what it gives on the batch features, row for row (rows out of its
/// calibrated range included: its f32 network computes them in both).
#[test]
fn replayed_int8_signals_equal_batch_int8_predictions() {
    let (m, o) = sample();
    let expected = batch();
    let width = tachyon_features::NUM_FEATURES;
    let mut net = DenseNetwork::seeded(&[width, 32, 1], Activation::Relu, 3);
    let standardizer = tachyon_model::Standardizer::fit(&expected.features, width);
    (net.mean, net.std) = (standardizer.mean, standardizer.std);
    let backend = Backend::active();
    let calibration = tachyon_infer::quant::spread_rows(&expected.features, width, 5_000);
    let (int8, _) = CompiledModel::quantize(&net, &calibration, &expected.features, &backend).unwrap();
    let reference: Vec<f32> = (0..expected.rows()).map(|i| predict(&int8, expected.row(i))).collect();
    let slot = ModelSlot::new(Deployed::new(1, "int8", int8).unwrap());
    let keep = Keep::default();
    let report = run(&mut LobsterFeed::open(&m, &o).unwrap(), &slot, &mut keep.clone(), &config()).unwrap();
    let signals = keep.0.lock().unwrap();
    assert_eq!(signals.len(), expected.rows());
    for (i, s) in signals.iter().enumerate() {
        assert_eq!(s.prediction[0].to_bits(), reference[i].to_bits(), "signal {i} (event {})", s.event_id);
    }
    // Calibrated on a sample of these very rows: the report counts the rows beyond it, fewer than 1%.
    assert!(report.fallback_rows < report.signals / 100, "{report:?}");
}
