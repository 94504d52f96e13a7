//! The input of the feature engine: one market update at a time, as a time, an optional trade and the book after
//! it, whichever format it came from.
//!
//! A [`TickSource`] yields these from LOBSTER message files ([`LobsterReplay`]: our own [`Book`] rebuilt from the
//! messages, the orderbook file read only to seed it and to take levels that enter the window from beyond its
//! depth) or from the generic quotes/trades CSV ([`crate::quotes_csv::QuotesCsv`]). [`LobsterPair`] is the one
//! reader of a message file in step with its orderbook file, under both the replay and the book check
//! ([`crate::verify`]).

use std::path::{Path, PathBuf};

use crate::book::{Applied, Book, BookView, Side, Snapshot};
use crate::error::MarketError;
use crate::event::{Event, EventKind};
use crate::lobster::{MessageReader, OrderbookReader};
use crate::update::{push_snapshot, BookChange, Feed, Fringe, Update};

/// A trade print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    /// Price in ticks.
    pub price: i64,
    /// Shares.
    pub size: u64,
    /// Aggressor side: +1 buyer-initiated, -1 seller-initiated, 0 unknown (auction crosses).
    pub sign: i8,
}

impl Trade {
    /// The trade a LOBSTER message reports, if any. An execution hits a resting order of the message's side,
    /// so the aggressor is on the other side: an executed ask (direction -1) is a buy.
    pub fn from_event(event: &Event) -> Option<Trade> {
        let sign = match (event.kind, event.side) {
            (EventKind::ExecuteVisible | EventKind::ExecuteHidden, Side::Ask) => 1,
            (EventKind::ExecuteVisible | EventKind::ExecuteHidden, Side::Bid) => -1,
            (EventKind::CrossTrade, _) => 0,
            _ => return None,
        };
        (event.size > 0 && event.price > 0).then_some(Trade { price: event.price, size: event.size, sign })
    }
}

/// One update: when, whether it traded, and (filled in by the source) the book after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// Time, ns (since midnight for LOBSTER; since whatever epoch the CSV uses).
    pub time_ns: i64,
    /// Position of the update in its input: the 1-based line number of the message (LOBSTER) or row (CSV).
    pub event_id: u64,
    /// The trade, if the update is one.
    pub trade: Option<Trade>,
}

impl Tick {
    /// The tick of a LOBSTER message read from line `line`.
    pub fn from_event(event: &Event, line: usize) -> Tick {
        Tick { time_ns: event.time_ns, event_id: line as u64, trade: Trade::from_event(event) }
    }
}

/// How a source's integer prices and sizes map to currency units and shares: features are always in these units,
/// whatever the feed's tick sizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Units {
    /// Price ticks per currency unit (10,000 for LOBSTER: prices are USD x 10,000).
    pub price_ticks: f64,
    /// Size ticks per share (or per coin): 1 for LOBSTER, 10^d for sizes with d decimals.
    pub size_ticks: f64,
}

impl Units {
    /// LOBSTER's: prices in 1/10,000 of a dollar, sizes in shares.
    pub const LOBSTER: Units = Units { price_ticks: 10_000.0, size_ticks: 1.0 };

    /// Price ticks per currency unit and size ticks per share; both must be positive and finite.
    pub fn new(price_ticks: f64, size_ticks: f64) -> Result<Units, BadUnits> {
        let valid = |x: f64| x > 0.0 && x.is_finite();
        match (valid(price_ticks), valid(size_ticks)) {
            (true, true) => Ok(Units { price_ticks, size_ticks }),
            (false, _) => Err(BadUnits::PriceTicks(price_ticks)),
            (_, false) => Err(BadUnits::SizeTicks(size_ticks)),
        }
    }

    /// The units of decimal prices and sizes read as integers of `price_decimals` and `size_decimals` digits after
    /// the point.
    pub fn decimals(price_decimals: u32, size_decimals: u32) -> Units {
        Units { price_ticks: 10f64.powi(price_decimals as i32), size_ticks: 10f64.powi(size_decimals as i32) }
    }
}

/// Which of [`Units`]' values is not a positive number.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum BadUnits {
    /// Price ticks per currency unit.
    #[error("price ticks per unit {0} is not a positive number")]
    PriceTicks(f64),
    /// Size ticks per share.
    #[error("size ticks per share {0} is not a positive number")]
    SizeTicks(f64),
}

/// Something that yields ticks and the book after each.
pub trait TickSource {
    /// The next tick (`Ok(None)` at the end); [`book`](TickSource::book) then shows the book after it.
    fn next_tick(&mut self) -> Result<Option<Tick>, MarketError>;

    /// The book after the last tick, best levels first.
    fn book(&self) -> BookView<'_>;

    /// The file being read (for messages).
    fn path(&self) -> &Path;

    /// What the integer prices and sizes are in.
    fn units(&self) -> Units;

    /// Bytes read from the input files so far (compressed, where they are), for progress displays.
    fn bytes_read(&self) -> u64;
}

/// A LOBSTER message file read in step with its orderbook file: message k and orderbook row k (the book right after
/// message k) come together, or a clear error says which file ended first and how many rows each has.
pub struct LobsterPair {
    message_path: PathBuf,
    orderbook_path: PathBuf,
    messages: MessageReader,
    orderbook: OrderbookReader,
}

impl LobsterPair {
    /// Opens a message file and its orderbook file.
    pub fn open(message_path: &Path, orderbook_path: &Path) -> Result<Self, MarketError> {
        Ok(LobsterPair {
            message_path: message_path.to_path_buf(),
            orderbook_path: orderbook_path.to_path_buf(),
            messages: MessageReader::open(message_path)?,
            orderbook: OrderbookReader::open(orderbook_path)?,
        })
    }

    /// Opens a message file and the orderbook file LOBSTER names after it (`_message_` -> `_orderbook_`).
    pub fn open_message(message_path: &Path) -> Result<Self, MarketError> {
        let orderbook = orderbook_path_for(message_path).ok_or_else(|| MarketError::Parse {
            path: message_path.to_path_buf(),
            line: 0,
            field: "file name",
            message: "not a LOBSTER message file name (expected `..._message_N.csv[.gz]`, whose orderbook file \
                      is `..._orderbook_N.csv[.gz]`)"
                .into(),
        })?;
        Self::open(message_path, &orderbook)
    }

    /// Levels per side of the orderbook file (known after the first row).
    pub fn depth(&self) -> Option<usize> {
        self.orderbook.levels()
    }

    /// The message file.
    pub fn message_path(&self) -> &Path {
        &self.message_path
    }

    /// Bytes read from both files so far (compressed, where they are).
    pub fn bytes_read(&self) -> u64 {
        self.messages.bytes_read() + self.orderbook.bytes_read()
    }

    /// The line of the last pair read (1-based; the same in both files).
    pub fn line(&self) -> usize {
        self.messages.line()
    }

    /// The next message, with its orderbook row written into `row`; `Ok(None)` at the end of both files. Both
    /// rows are read before either is judged, so that a malformed row (an error the caller may skip) leaves the
    /// files in step.
    pub fn next_pair(&mut self, row: &mut Snapshot) -> Result<Option<Event>, MarketError> {
        self.next_pair_with(|orderbook| orderbook.next_snapshot(row))
    }

    /// [`LobsterPair::next_pair`] reading only the orderbook row's worst levels into `fringe` (see
    /// [`OrderbookReader::next_fringe`]): what a replay needs after its first row.
    pub fn next_pair_fringe(&mut self, fringe: &mut Fringe) -> Result<Option<Event>, MarketError> {
        self.next_pair_with(|orderbook| orderbook.next_fringe(fringe))
    }

    fn next_pair_with(
        &mut self,
        mut read_row: impl FnMut(&mut OrderbookReader) -> Result<bool, MarketError>,
    ) -> Result<Option<Event>, MarketError> {
        let event = self.messages.next_event();
        let has_row = read_row(&mut self.orderbook);
        match (event?, has_row?) {
            (Some(event), true) => Ok(Some(event)),
            (None, false) => Ok(None),
            _ => {
                // One file ended first: read the rest of the other, so that the error gives both lengths.
                while self.messages.next_event()?.is_some() {}
                while read_row(&mut self.orderbook)? {}
                Err(MarketError::RowCountMismatch {
                    message_path: self.message_path.clone(),
                    messages: self.messages.line(),
                    orderbook_path: self.orderbook_path.clone(),
                    snapshots: self.orderbook.line(),
                })
            }
        }
    }
}

/// The orderbook file LOBSTER pairs with a message file, if the name follows LOBSTER's convention.
/// Compressed or not independently of the message file: if the name with the message file's ending does not
/// exist, the other form (`.csv` for `.csv.gz`, and back) is taken when it does.
pub fn orderbook_path_for(message_path: &Path) -> Option<PathBuf> {
    let name = message_path.file_name()?.to_str()?;
    let at = name.rfind("_message_")?;
    let book_name = format!("{}_orderbook_{}", &name[..at], &name[at + "_message_".len()..]);
    let same = message_path.with_file_name(&book_name);
    let other = match book_name.strip_suffix(".gz") {
        Some(plain) => message_path.with_file_name(plain),
        None => message_path.with_file_name(format!("{book_name}.gz")),
    };
    Some(if !same.exists() && other.exists() { other } else { same })
}

/// How a replayed message changed the book, beyond applying it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStep {
    /// The message removed more than the book held at its price (the level was cleared).
    pub underflow: bool,
    /// Levels that entered the window from beyond the file's depth, asks then bids, taken from the orderbook row
    /// (no message can tell them): the last levels of each side.
    pub revealed: [usize; 2],
}

impl ReplayStep {
    /// Whether any level entered the window from beyond it.
    pub fn revealed_any(&self) -> bool {
        self.revealed != [0, 0]
    }
}

/// One message of a level-`depth` LOBSTER file applied to `book`: the message, then the cut to the window (what
/// lies beyond it is unknown to the file, so what we knew there may be stale), then the level the orderbook `row`
/// shows entering the window from beyond it. A level can enter only when the message emptied one of a full window
/// (`depth` levels on its side), and only from beyond that window's worst level; anything else the row shows
/// differently is a mismatch for the caller to see, never taken.
#[inline]
pub fn replay_step(book: &mut Book, event: &Event, row: BookView<'_>, depth: usize) -> ReplayStep {
    let side = event.side;
    let before = book.side(side);
    let full_window_worst = before.last().filter(|_| before.len() >= depth).map(|worst| worst.price);
    let levels_before = before.len();
    let underflow = book.apply(event) == Applied::Underflow;
    book.truncate(depth);
    let mut revealed = [0; 2];
    if let Some(beyond) = full_window_worst.filter(|_| book.side(side).len() < levels_before) {
        let (slot, shown) = match side {
            Side::Ask => (0, row.asks),
            Side::Bid => (1, row.bids),
        };
        revealed[slot] = book.reveal_beyond(side, shown, beyond, depth);
    }
    ReplayStep { underflow, revealed }
}

/// Counts of a [`LobsterReplay`] so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Messages applied (the first row seeds the book instead).
    pub messages: u64,
    /// Times the book was seeded from an orderbook row: the first row, and the row after each skipped one.
    pub seeds: u64,
    /// Messages after which a level entered the window from beyond it (taken from the orderbook row).
    pub reveals: u64,
    /// Messages that removed more than the book held at their price.
    pub underflows: u64,
}

/// A LOBSTER message file and its orderbook file as a [`Feed`]: the first row (and the row after a skipped one,
/// whose effect is unknown) as a snapshot, then each message with the worst levels of its row ([`Fringe`]).
pub struct LobsterFeed {
    pair: LobsterPair,
    row: Snapshot,
    /// Send the next good row as a snapshot.
    reseed: bool,
}

impl LobsterFeed {
    /// Opens a message file and its orderbook file.
    pub fn open(message_path: &Path, orderbook_path: &Path) -> Result<Self, MarketError> {
        Ok(LobsterFeed::new(LobsterPair::open(message_path, orderbook_path)?))
    }

    /// Opens a message file and the orderbook file LOBSTER names after it.
    pub fn open_message(message_path: &Path) -> Result<Self, MarketError> {
        Ok(LobsterFeed::new(LobsterPair::open_message(message_path)?))
    }

    fn new(pair: LobsterPair) -> Self {
        LobsterFeed { pair, row: Snapshot::default(), reseed: true }
    }

    /// Levels per side of the orderbook file (known after the first record).
    pub fn depth(&self) -> Option<usize> {
        self.pair.depth()
    }

    /// The message file.
    pub fn path(&self) -> &Path {
        self.pair.message_path()
    }
}

impl Feed for LobsterFeed {
    fn next_updates(&mut self, out: &mut Vec<Update>) -> Result<bool, MarketError> {
        out.clear();
        let mut fringe = Fringe::default();
        let read =
            if self.reseed { self.pair.next_pair(&mut self.row) } else { self.pair.next_pair_fringe(&mut fringe) };
        let event = match read {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(false),
            Err(e) => {
                self.reseed = true;
                return Err(e);
            }
        };
        let tick = Tick::from_event(&event, self.pair.line());
        if self.reseed {
            self.reseed = false;
            push_snapshot(out, (&self.row).into(), tick);
        } else {
            let depth = self.pair.depth().expect("known after a row") as u32;
            out.push(Update { change: BookChange::Message { event, depth, fringe }, tick: Some(tick) });
        }
        Ok(true)
    }

    fn units(&self) -> Units {
        Units::LOBSTER
    }

    fn name(&self) -> String {
        self.pair.message_path().display().to_string()
    }
}

/// LOBSTER messages replayed into our own [`Book`]: the ticks the feature engine reads, in training as in serving.
/// The orderbook file seeds the book from its first row (the state after the first message, as a live feed starts
/// from a snapshot) and supplies the levels that enter the window from beyond its depth; every other level is the
/// messages' doing. The same [`LobsterFeed`] and [`Book::apply_change`] as the live pipeline, in one loop.
pub struct LobsterReplay {
    feed: LobsterFeed,
    book: Book,
    updates: Vec<Update>,
    stats: ReplayStats,
}

impl LobsterReplay {
    /// Opens a message file and its orderbook file.
    pub fn open(message_path: &Path, orderbook_path: &Path) -> Result<Self, MarketError> {
        Ok(Self::new(LobsterFeed::open(message_path, orderbook_path)?))
    }

    /// Opens a message file and the orderbook file LOBSTER names after it.
    pub fn open_message(message_path: &Path) -> Result<Self, MarketError> {
        Ok(Self::new(LobsterFeed::open_message(message_path)?))
    }

    fn new(feed: LobsterFeed) -> Self {
        LobsterReplay { feed, book: Book::with_capacity(64), updates: Vec::new(), stats: Default::default() }
    }

    /// Levels per side of the orderbook file (known after the first tick).
    pub fn depth(&self) -> Option<usize> {
        self.feed.depth()
    }

    /// Counts so far.
    pub fn stats(&self) -> ReplayStats {
        self.stats
    }
}

impl TickSource for LobsterReplay {
    fn next_tick(&mut self) -> Result<Option<Tick>, MarketError> {
        if !self.feed.next_updates(&mut self.updates)? {
            return Ok(None);
        }
        let mut tick = None;
        for update in &self.updates {
            let step = self.book.apply_change(&update.change);
            match update.change {
                BookChange::Clear => self.stats.seeds += 1,
                BookChange::Level { .. } => {}
                BookChange::Message { .. } => {
                    self.stats.messages += 1;
                    self.stats.reveals += u64::from(step.revealed_any());
                    self.stats.underflows += u64::from(step.underflow);
                }
            }
            tick = update.tick.or(tick);
        }
        Ok(tick)
    }

    #[inline]
    fn book(&self) -> BookView<'_> {
        self.book.view()
    }

    fn path(&self) -> &Path {
        self.feed.path()
    }

    fn units(&self) -> Units {
        Units::LOBSTER
    }

    fn bytes_read(&self) -> u64 {
        self.feed.pair.bytes_read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orderbook_file_is_named_after_the_message_file() {
        let p = Path::new("/d/AAPL_2012-06-21_34200000_57600000_message_1.csv.gz");
        assert_eq!(
            orderbook_path_for(p).unwrap(),
            Path::new("/d/AAPL_2012-06-21_34200000_57600000_orderbook_1.csv.gz")
        );
        assert!(orderbook_path_for(Path::new("quotes.csv")).is_none());
    }

    #[test]
    fn a_compressed_message_file_finds_a_plain_orderbook_file_and_back() {
        let dir = std::env::temp_dir().join(format!("tachyon-orderbook-name-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("X_message_5.csv.gz"), b"").unwrap();
        std::fs::write(dir.join("X_orderbook_5.csv"), b"").unwrap();
        assert_eq!(orderbook_path_for(&dir.join("X_message_5.csv.gz")).unwrap(), dir.join("X_orderbook_5.csv"));
        std::fs::write(dir.join("Y_orderbook_5.csv.gz"), b"").unwrap();
        assert_eq!(orderbook_path_for(&dir.join("Y_message_5.csv")).unwrap(), dir.join("Y_orderbook_5.csv.gz"));
        // Neither exists: the name with the message file's ending, for the error to name.
        assert_eq!(orderbook_path_for(&dir.join("Z_message_5.csv")).unwrap(), dir.join("Z_orderbook_5.csv"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn executions_are_signed_by_the_aggressor() {
        let e = |kind, side| Event { time_ns: 0, kind, order_id: 1, size: 10, price: 100, side };
        assert_eq!(Trade::from_event(&e(EventKind::ExecuteVisible, Side::Ask)).unwrap().sign, 1);
        assert_eq!(Trade::from_event(&e(EventKind::ExecuteHidden, Side::Bid)).unwrap().sign, -1);
        assert_eq!(Trade::from_event(&e(EventKind::CrossTrade, Side::Bid)).unwrap().sign, 0);
        assert!(Trade::from_event(&e(EventKind::Submit, Side::Bid)).is_none());
    }
}
