//! `tachyon bench features`: the feature engine per update over the shipped LOBSTER days (ticks preloaded, so
//! only the engine is timed), our book and the engine per message (messages preloaded: book update, window cut,
//! revealed levels, then every feature), end-to-end extraction (parse + book + features) per update, and the batch
//! rolling statistics over a 10M-value series (compare `benches/peers/rolling_polars.py`, same series and windows).

use std::path::Path;

use tachyon_features::rolling::{ewm_mean, rolling_mean, rolling_std};
use tachyon_features::{extract, feature, ExtractOptions, FeatureEngine};
use tachyon_infer::latency::{measure, CacheState};
use tachyon_market::{
    replay_step, Book, BookView, Event, Level, LobsterPair, LobsterReplay, Side, Snapshot, Tick, TickSource, Units,
};

use super::harness::{time, Timing};
use super::{Row, Scale};

/// Levels of many books in one flat array (as a replay buffer or a feed handler's arrays would hold them), each
/// handed out as a borrowed view, so that a timed loop reads them as a live process would, without copies.
#[derive(Default)]
struct FlatBooks {
    /// Per book: offset of its first level, bid levels, ask levels.
    books: Vec<(u32, u32, u32)>,
    levels: Vec<Level>,
}

impl FlatBooks {
    fn push(&mut self, book: BookView<'_>) {
        self.books.push((self.levels.len() as u32, book.bids.len() as u32, book.asks.len() as u32));
        self.levels.extend_from_slice(book.bids);
        self.levels.extend_from_slice(book.asks);
    }

    #[inline]
    fn get(&self, i: usize) -> BookView<'_> {
        let (at, bids, asks) = self.books[i];
        let (at, bids, asks) = (at as usize, bids as usize, asks as usize);
        BookView { bids: &self.levels[at..at + bids], asks: &self.levels[at + bids..at + bids + asks] }
    }
}

/// Ticks of a file held in memory with the book after each (our book, replayed from the messages): only the
/// engine is timed.
pub struct RecordedTicks {
    ticks: Vec<Tick>,
    books: FlatBooks,
}

impl RecordedTicks {
    /// Reads up to `limit` ticks of a LOBSTER pair.
    pub fn load(message_file: &Path, limit: usize) -> anyhow::Result<RecordedTicks> {
        let mut source = LobsterReplay::open_message(message_file)?;
        let mut out = RecordedTicks { ticks: Vec::new(), books: FlatBooks::default() };
        while out.ticks.len() < limit {
            let Some(t) = source.next_tick()? else { break };
            out.books.push(source.book());
            out.ticks.push(t);
        }
        Ok(out)
    }

    /// Ticks held.
    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    /// Tick `i` and its book.
    #[inline]
    pub fn get(&self, i: usize) -> (Tick, BookView<'_>) {
        (self.ticks[i], self.books.get(i))
    }
}

/// Messages of a LOBSTER file held in memory, each with the levels it reveals from beyond the window (taken from
/// its orderbook row by a replay at load time; usually none), so that the timed replay does what
/// [`LobsterReplay`] does on a row it has just parsed, without streaming every preloaded row from memory.
struct RecordedMessages {
    depth: usize,
    messages: Vec<(Event, Tick)>,
    first: Snapshot,
    revealed: FlatBooks,
}

impl RecordedMessages {
    fn load(message_file: &Path, limit: usize) -> anyhow::Result<RecordedMessages> {
        let mut pair = LobsterPair::open_message(message_file)?;
        let mut row = Snapshot::default();
        let mut out = RecordedMessages {
            depth: 0,
            messages: Vec::new(),
            first: Snapshot::default(),
            revealed: FlatBooks::default(),
        };
        let mut book = Book::new();
        while out.messages.len() < limit {
            let Some(event) = pair.next_pair(&mut row)? else { break };
            let tick = Tick::from_event(&event, pair.line());
            out.messages.push((event, tick));
            out.depth = pair.depth().unwrap_or(0);
            if out.messages.len() == 1 {
                book.reset_to(&row);
                out.first = row.clone();
                out.revealed.push(BookView::default());
                continue;
            }
            let [asks, bids] = replay_step(&mut book, &event, (&row).into(), out.depth).revealed;
            let (a, b) = (book.side(Side::Ask), book.side(Side::Bid));
            out.revealed.push(BookView { asks: &a[a.len() - asks..], bids: &b[b.len() - bids..] });
        }
        Ok(out)
    }

    /// Seeds a book from the first row, then replays every later message into it and, with an engine, updates
    /// every feature; the checksum keeps the work observable.
    fn replay(&self, book: &mut Book, mut engine: Option<&mut FeatureEngine>) -> f64 {
        book.reset_to(&self.first);
        let mut checksum = 0.0;
        for (i, (event, tick)) in self.messages.iter().enumerate() {
            if i > 0 {
                replay_step(book, event, self.revealed.get(i), self.depth);
            }
            checksum += match engine.as_deref_mut() {
                Some(engine) => f64::from(engine.update(tick, book.view())[feature::RET_E1_BPS]),
                None => book.view().bids.first().map_or(0.0, |l| l.size as f64),
            };
        }
        checksum
    }
}

/// Cases of the book alone and of the book with every feature, per message.
fn book_cases(case: &str) -> (&'static str, &'static str) {
    if case.ends_with("l1") {
        ("book_l1", "book_update_l1")
    } else {
        ("book_l10", "book_update_l10")
    }
}

fn latency_case(case: &str) -> &'static str {
    if case.ends_with("l1") {
        "latency_l1"
    } else {
        "latency_l10"
    }
}

/// Per-update latency distribution: each update timed alone by the latency harness of the predictors
/// (`tachyon_infer::latency`: time-stamp counter, the empty bracket's cost subtracted, HDR histogram). Returns
/// median, p10 and p90 over every update of the best of `passes` passes (by median).
fn per_update_latency(ticks: &RecordedTicks, passes: usize) -> Timing {
    let mut best: Option<Timing> = None;
    for _ in 0..passes {
        let mut engine = FeatureEngine::new(Units::LOBSTER);
        let r = measure(ticks.len() as u64, CacheState::Warm, |i| {
            let (tick, book) = ticks.get(i as usize);
            std::hint::black_box(engine.update(&tick, book));
        });
        let t = Timing { median_ns: r.p50_ns, p10_ns: r.p10_ns, p90_ns: r.p90_ns };
        if best.is_none_or(|b| t.median_ns < b.median_ns) {
            best = Some(t);
        }
    }
    best.expect("at least one pass")
}

/// Timing of a call that processes `n` items, as time per item.
fn per_item(t: Timing, n: usize) -> Timing {
    let n = n as f64;
    Timing { median_ns: t.median_ns / n, p10_ns: t.p10_ns / n, p90_ns: t.p90_ns / n }
}

/// The series of the rolling benchmark: 10M uniform values in [0, 1) from a fixed LCG (the polars script builds
/// the same one with numpy).
pub fn rolling_series(n: usize) -> Vec<f64> {
    let mut state = 1u64;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Runs the features workload. Engine rows: `median_ns` per update; rolling rows: per 10M-value series.
pub fn run(scale: Scale, data: &Path, emit: &mut dyn FnMut(Row)) -> anyhow::Result<()> {
    let budget = scale.budget();
    for (case, end_case, file) in [
        ("update_l1", "extract_l1", "AAPL_2012-06-21_34200000_57600000_message_1.csv"),
        ("update_l10", "extract_l10", "GOOG_2012-06-21_34200000_57600000_message_10.csv.gz"),
    ] {
        let ticks = RecordedTicks::load(&data.join(file), if scale == Scale::Smoke { 1000 } else { usize::MAX })?;
        let t = time(budget, || {
            let mut engine = FeatureEngine::new(Units::LOBSTER);
            let mut checksum = 0.0f32;
            for i in 0..ticks.len() {
                let (tick, book) = ticks.get(i);
                checksum += engine.update(&tick, book)[feature::RET_E1_BPS];
            }
            checksum
        });
        let mut row = Row::new("features", case, "auto", "f32", 1, per_item(t, ticks.len()));
        row.size = Some(ticks.len() as u64);
        emit(row);
        let messages = RecordedMessages::load(&data.join(file), ticks.len())?;
        let mut book = Book::with_capacity(64);
        let (book_only, book_and_features) = book_cases(case);
        let t = time(budget, || messages.replay(&mut book, None));
        let mut row = Row::new("features", book_only, "auto", "f32", 1, per_item(t, messages.messages.len()));
        row.size = Some(messages.messages.len() as u64);
        emit(row);
        let t = time(budget, || messages.replay(&mut book, Some(&mut FeatureEngine::new(Units::LOBSTER))));
        let mut row = Row::new("features", book_and_features, "auto", "f32", 1, per_item(t, messages.messages.len()));
        row.size = Some(messages.messages.len() as u64);
        emit(row);
        let t = per_update_latency(&ticks, if scale == Scale::Full { 5 } else { 2 });
        let mut row = Row::new("features", latency_case(case), "auto", "f32", 1, t);
        row.size = Some(ticks.len() as u64);
        emit(row);

        if scale != Scale::Smoke {
            let t = time(budget, || {
                let mut source = LobsterReplay::open_message(&data.join(file)).expect("sample pair");
                extract(&mut source, &ExtractOptions::default()).expect("sample pair").rows()
            });
            let mut row = Row::new("features", end_case, "auto", "f32", 1, per_item(t, ticks.len()));
            row.size = Some(ticks.len() as u64);
            emit(row);
        }
    }

    let n = if scale == Scale::Smoke { 10_000 } else { 10_000_000 };
    let x = rolling_series(n);
    let mut out = vec![0.0; n];
    for (case, f) in [
        ("rolling_mean", &(|x: &[f64], o: &mut [f64]| rolling_mean(x, 100, o)) as &dyn Fn(&[f64], &mut [f64])),
        ("rolling_std", &|x: &[f64], o: &mut [f64]| rolling_std(x, 100, o)),
        ("ewm_mean", &|x: &[f64], o: &mut [f64]| ewm_mean(x, 0.1, o)),
    ] {
        let t = time(budget, || {
            f(&x, &mut out);
            out[n - 1]
        });
        let mut row = Row::new("features", case, "auto", "f64", 1, t);
        row.size = Some(n as u64);
        row.gb_per_s = Some(16.0 * n as f64 / t.median_ns);
        emit(row);
    }
    Ok(())
}
