//! A price-level order book rebuilt from LOBSTER messages, and L-level snapshots.
//!
//! Prices are integer ticks in LOBSTER's unit (USD x 10000); sizes are shares.

use std::collections::BTreeMap;

use crate::event::{Event, EventKind};

/// Side of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Buy orders.
    Bid,
    /// Sell orders.
    Ask,
}

/// One occupied price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// Price in ticks (USD x 10000 for LOBSTER).
    pub price: i64,
    /// Total visible size, shares.
    pub size: u64,
}

/// The best levels of both sides, best first (as a LOBSTER orderbook row, without empty levels).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Asks, lowest price first.
    pub asks: Vec<Level>,
    /// Bids, highest price first.
    pub bids: Vec<Level>,
}

/// The best levels of both sides, borrowed (best first, no empty levels): what the feature engine reads, from a
/// [`Snapshot`] or straight from levels stored elsewhere (a replay buffer, a feed handler's arrays) without
/// copying them into one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BookView<'a> {
    /// Asks, lowest price first.
    pub asks: &'a [Level],
    /// Bids, highest price first.
    pub bids: &'a [Level],
}

impl<'a> From<&'a Snapshot> for BookView<'a> {
    fn from(book: &'a Snapshot) -> Self {
        BookView { asks: &book.asks, bids: &book.bids }
    }
}

/// Aggregated visible size per price, per side.
#[derive(Clone, Debug, Default)]
pub struct Book {
    bids: BTreeMap<i64, u64>,
    asks: BTreeMap<i64, u64>,
}

/// What applying a message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The book changed (or the event leaves it unchanged by definition: hidden executions, halts).
    Ok,
    /// The message removes more shares than the book holds at that price (orders placed before the file
    /// started, or at prices the book has not seen): the level was cleared.
    Underflow,
}

impl Book {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, u64> {
        match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        }
    }

    /// Applies one LOBSTER message: submissions add size at the price, cancellations, deletions and visible
    /// executions remove it; hidden executions, cross trades and halts leave the visible book unchanged.
    pub fn apply(&mut self, event: &Event) -> Applied {
        let levels = self.side_mut(event.side);
        match event.kind {
            EventKind::Submit => {
                *levels.entry(event.price).or_insert(0) += event.size;
                Applied::Ok
            }
            EventKind::Cancel | EventKind::Delete | EventKind::ExecuteVisible => match levels.get_mut(&event.price) {
                Some(size) if *size > event.size => {
                    *size -= event.size;
                    Applied::Ok
                }
                Some(size) if *size == event.size => {
                    levels.remove(&event.price);
                    Applied::Ok
                }
                _ => {
                    levels.remove(&event.price);
                    Applied::Underflow
                }
            },
            EventKind::ExecuteHidden | EventKind::CrossTrade | EventKind::Halt => Applied::Ok,
        }
    }

    /// Replaces the best `depth` levels of each side with `snapshot`'s, and forgets every level beyond it.
    pub fn reset_to(&mut self, snapshot: &Snapshot) {
        self.bids = snapshot.bids.iter().map(|l| (l.price, l.size)).collect();
        self.asks = snapshot.asks.iter().map(|l| (l.price, l.size)).collect();
    }

    /// The best `depth` levels of each side into `out` (reusing its buffers).
    pub fn snapshot_into(&self, depth: usize, out: &mut Snapshot) {
        out.asks.clear();
        out.bids.clear();
        out.asks.extend(self.asks.iter().take(depth).map(|(&price, &size)| Level { price, size }));
        out.bids.extend(self.bids.iter().rev().take(depth).map(|(&price, &size)| Level { price, size }));
    }

    /// Drops the levels beyond the best `depth` of each side: a level-`depth` message file reports nothing about
    /// them, so what we knew may be stale.
    pub fn truncate(&mut self, depth: usize) {
        while self.asks.len() > depth {
            self.asks.pop_last();
        }
        while self.bids.len() > depth {
            self.bids.pop_first();
        }
    }
}
