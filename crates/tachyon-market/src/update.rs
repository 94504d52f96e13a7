//! Book changes as a feed reports them, separate from the book they change, so that reading a feed and keeping its
//! book can run on different threads (the live pipeline's source thread and hot thread) or one after the other in
//! one loop (batch extraction), with the same code and the same result.
//!
//! A [`Feed`] turns its input into [`Update`]s; [`Book::apply_change`] applies them. A LOBSTER message carries the
//! orderbook row's worst levels ([`Fringe`]): after the message, the book is cut to the file's depth and the levels
//! that entered the window from beyond it (which no message reports) are taken from there, the way a live feed
//! resyncs one level from a snapshot. A message removes at most one level per side, so the fringe's [`FRINGE`]
//! levels per side hold every level that can enter; `LobsterReplay`'s test checks that the book equals the one kept
//! with whole rows on every message of the shipped days.

use crate::book::{Book, BookView, Level, Side};
use crate::error::MarketError;
use crate::event::Event;
use crate::tick::{replay_step, ReplayStep, Tick, TickSource, Units};

/// Levels per side a [`Fringe`] carries.
pub const FRINGE: usize = 4;

/// The worst (up to) [`FRINGE`] levels of each side of an orderbook row, best first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fringe {
    asks: [Level; FRINGE],
    bids: [Level; FRINGE],
    ask_count: u8,
    bid_count: u8,
}

impl Fringe {
    /// The worst levels of `row`.
    pub fn of(row: BookView<'_>) -> Fringe {
        let mut fringe = Fringe::default();
        let tail = |levels: &[Level], out: &mut [Level; FRINGE]| {
            let from = levels.len().saturating_sub(FRINGE);
            let n = levels.len() - from;
            out[..n].copy_from_slice(&levels[from..]);
            n as u8
        };
        fringe.ask_count = tail(row.asks, &mut fringe.asks);
        fringe.bid_count = tail(row.bids, &mut fringe.bids);
        fringe
    }

    /// The levels given worst first (at most [`FRINGE`] per side), as [`Fringe::of`] would hold them.
    pub(crate) fn from_worst_first(asks: &[Level], bids: &[Level]) -> Fringe {
        let mut fringe = Fringe::default();
        let fill = |levels: &[Level], out: &mut [Level; FRINGE]| {
            for (slot, level) in out.iter_mut().zip(levels.iter().rev()) {
                *slot = *level;
            }
            levels.len() as u8
        };
        fringe.ask_count = fill(asks, &mut fringe.asks);
        fringe.bid_count = fill(bids, &mut fringe.bids);
        fringe
    }

    /// The levels, as a (partial) view of the row.
    pub fn view(&self) -> BookView<'_> {
        BookView { asks: &self.asks[..self.ask_count as usize], bids: &self.bids[..self.bid_count as usize] }
    }
}

/// One change to a book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookChange {
    /// Empty both sides (a snapshot follows as [`BookChange::Level`]s).
    Clear,
    /// Set one level to `size` shares (0 removes it): snapshots and level-based feeds.
    Level {
        /// The side.
        side: Side,
        /// Price, ticks.
        price: i64,
        /// Total size at the price, shares.
        size: u64,
    },
    /// A LOBSTER message of a level-`depth` file, then the cut to `depth` levels and the levels revealed from the
    /// orderbook row's `fringe`.
    Message {
        /// The message.
        event: Event,
        /// Levels per side of the file.
        depth: u32,
        /// The worst levels of the orderbook row after the message.
        fringe: Fringe,
    },
}

/// A change, and the tick it completes: the feature engine runs after a change that carries a tick (the last of a
/// snapshot, every message), not after the ones inside a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    /// The change.
    pub change: BookChange,
    /// The tick completed by this change, if any.
    pub tick: Option<Tick>,
}

impl Book {
    /// Applies one change; for a message, says whether it underflowed and which levels it revealed.
    #[inline]
    pub fn apply_change(&mut self, change: &BookChange) -> ReplayStep {
        match change {
            BookChange::Clear => {
                self.truncate(0);
                ReplayStep::default()
            }
            BookChange::Level { side, price, size } => {
                self.set(*side, *price, *size);
                ReplayStep::default()
            }
            BookChange::Message { event, depth, fringe } => replay_step(self, event, fringe.view(), *depth as usize),
        }
    }
}

/// Appends `book` as a snapshot: a clear, then every level, the tick on the last of them.
pub fn push_snapshot(out: &mut Vec<Update>, book: BookView<'_>, tick: Tick) {
    out.push(Update { change: BookChange::Clear, tick: None });
    for (side, levels) in [(Side::Ask, book.asks), (Side::Bid, book.bids)] {
        out.extend(
            levels
                .iter()
                .map(|l| Update { change: BookChange::Level { side, price: l.price, size: l.size }, tick: None }),
        );
    }
    out.last_mut().expect("a snapshot starts with Clear").tick = Some(tick);
}

/// A source of book updates: a file replayed, a socket, a recording.
pub trait Feed: Send {
    /// Appends the updates of the next input record to `out` (cleared first); `Ok(false)` at the end. A record
    /// that cannot be read is an error naming the file, line and field; the caller may count it and go on.
    fn next_updates(&mut self, out: &mut Vec<Update>) -> Result<bool, MarketError>;

    /// What the integer prices and sizes are in.
    fn units(&self) -> Units;

    /// What is being read, for messages.
    fn name(&self) -> String;
}

/// A [`TickSource`] that shows a whole book after each tick (a quotes file: the top of the book) as a [`Feed`]:
/// each tick becomes the book it shows, cleared and set level by level, the tick on the last change.
pub struct SnapshotFeed<S> {
    source: S,
}

impl<S: TickSource> SnapshotFeed<S> {
    /// The feed of `source`.
    pub fn new(source: S) -> Self {
        SnapshotFeed { source }
    }
}

impl<S: TickSource + Send> Feed for SnapshotFeed<S> {
    fn next_updates(&mut self, out: &mut Vec<Update>) -> Result<bool, MarketError> {
        out.clear();
        let Some(tick) = self.source.next_tick()? else { return Ok(false) };
        push_snapshot(out, self.source.book(), tick);
        Ok(true)
    }

    fn units(&self) -> Units {
        self.source.units()
    }

    fn name(&self) -> String {
        self.source.path().display().to_string()
    }
}
