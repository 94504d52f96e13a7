//! The price-level order book Tachyon rebuilds from messages, and L-level snapshots.
//!
//! Each side is a flat array of occupied levels, best first (asks by rising price, bids by falling price): the
//! feature engine reads the best levels as a slice with no copy, and an update finds its level by binary search
//! and shifts the levels behind it (a few cache lines for the depths markets show). Nothing is allocated per
//! event once the arrays have grown to the deepest book seen.
//!
//! Prices are integer ticks (USD x 10000 for LOBSTER); sizes are shares.

use crate::event::{Event, EventKind};

/// Side of the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Buy orders.
    Bid,
    /// Sell orders.
    Ask,
}

impl Side {
    /// Lower-case name for reports: `bid`, `ask`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Bid => "bid",
            Side::Ask => "ask",
        }
    }
}

/// One occupied price level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
/// [`Book`], a [`Snapshot`] or levels stored elsewhere, without copying them into one.
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

impl BookView<'_> {
    /// The levels, copied into a [`Snapshot`].
    pub fn to_snapshot(&self) -> Snapshot {
        Snapshot { asks: self.asks.to_vec(), bids: self.bids.to_vec() }
    }
}

impl<'a> From<&'a Book> for BookView<'a> {
    fn from(book: &'a Book) -> Self {
        book.view()
    }
}

/// What applying a message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The book changed (or the event leaves it unchanged by definition: hidden executions, halts).
    Ok,
    /// The message removes more shares than the book holds at that price (orders placed before the data
    /// started, or at prices the book has not seen): the level was cleared.
    Underflow,
}

/// Aggregated visible size per price, per side, in flat arrays best first.
#[derive(Clone, Debug, Default)]
pub struct Book {
    bids: Vec<Level>,
    asks: Vec<Level>,
}

/// Levels up to which [`find`] counts instead of bisecting: a count without a branch per level beats the
/// mispredicted branches of a binary search over the few levels a window holds.
const SCAN_LEVELS: usize = 16;

/// Index of `price` in `levels` (best first on `side`), or where it would be inserted.
#[inline(always)]
fn find(levels: &[Level], side: Side, price: i64) -> Result<usize, usize> {
    let at = match (side, levels.len() <= SCAN_LEVELS) {
        (Side::Ask, true) => levels.iter().map(|l| usize::from(l.price < price)).sum(),
        (Side::Bid, true) => levels.iter().map(|l| usize::from(l.price > price)).sum(),
        (Side::Ask, false) => levels.partition_point(|l| l.price < price),
        (Side::Bid, false) => levels.partition_point(|l| l.price > price),
    };
    if levels.get(at).is_some_and(|l| l.price == price) {
        Ok(at)
    } else {
        Err(at)
    }
}

/// Whether `a` is a worse price than `b` on `side`.
#[inline]
fn worse(side: Side, a: i64, b: i64) -> bool {
    match side {
        Side::Ask => a > b,
        Side::Bid => a < b,
    }
}

impl Book {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty book with room for `levels` per side before it allocates.
    pub fn with_capacity(levels: usize) -> Self {
        Book { bids: Vec::with_capacity(levels), asks: Vec::with_capacity(levels) }
    }

    /// The levels of one side, best first.
    pub fn side(&self, side: Side) -> &[Level] {
        match side {
            Side::Bid => &self.bids,
            Side::Ask => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut Vec<Level> {
        match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        }
    }

    /// Both sides, best first.
    #[inline]
    pub fn view(&self) -> BookView<'_> {
        BookView { asks: &self.asks, bids: &self.bids }
    }

    /// Adds `size` at `price` on `side` (a level's size saturates at `u64::MAX`: only a hostile feed gets there).
    #[inline]
    pub fn add(&mut self, side: Side, price: i64, size: u64) {
        let levels = self.side_mut(side);
        match find(levels, side, price) {
            Ok(i) => levels[i].size = levels[i].size.saturating_add(size),
            Err(i) => levels.insert(i, Level { price, size }),
        }
    }

    /// Removes `size` at `price` on `side`; a level that empties is removed. More than the level holds (or no
    /// level at the price) clears it and is reported as [`Applied::Underflow`].
    #[inline]
    pub fn remove(&mut self, side: Side, price: i64, size: u64) -> Applied {
        let levels = self.side_mut(side);
        match find(levels, side, price) {
            Ok(i) if levels[i].size > size => {
                levels[i].size -= size;
                Applied::Ok
            }
            Ok(i) => {
                let exact = levels[i].size == size;
                levels.remove(i);
                if exact {
                    Applied::Ok
                } else {
                    Applied::Underflow
                }
            }
            Err(_) => Applied::Underflow,
        }
    }

    /// Sets the size at `price` on `side` (0 removes the level): the update of a feed that sends level totals
    /// rather than orders.
    #[inline]
    pub fn set(&mut self, side: Side, price: i64, size: u64) {
        let levels = self.side_mut(side);
        match (find(levels, side, price), size) {
            (Ok(i), 0) => {
                levels.remove(i);
            }
            (Ok(i), _) => levels[i].size = size,
            (Err(_), 0) => {}
            (Err(i), _) => levels.insert(i, Level { price, size }),
        }
    }

    /// Applies one LOBSTER message: submissions add size at the price, cancellations, deletions and visible
    /// executions remove it; hidden executions, cross trades and halts leave the visible book unchanged.
    #[inline]
    pub fn apply(&mut self, event: &Event) -> Applied {
        match event.kind {
            EventKind::Submit => {
                self.add(event.side, event.price, event.size);
                Applied::Ok
            }
            EventKind::Cancel | EventKind::Delete | EventKind::ExecuteVisible => {
                self.remove(event.side, event.price, event.size)
            }
            EventKind::ExecuteHidden | EventKind::CrossTrade | EventKind::Halt => Applied::Ok,
        }
    }

    /// Replaces both sides with `snapshot`'s levels.
    pub fn reset_to(&mut self, snapshot: &Snapshot) {
        self.bids.clear();
        self.bids.extend_from_slice(&snapshot.bids);
        self.asks.clear();
        self.asks.extend_from_slice(&snapshot.asks);
    }

    /// The best `depth` levels of each side into `out` (reusing its buffers).
    pub fn snapshot_into(&self, depth: usize, out: &mut Snapshot) {
        out.asks.clear();
        out.bids.clear();
        out.asks.extend_from_slice(&self.asks[..self.asks.len().min(depth)]);
        out.bids.extend_from_slice(&self.bids[..self.bids.len().min(depth)]);
    }

    /// Drops the levels beyond the best `depth` of each side: a level-`depth` message file reports nothing about
    /// them, so what we knew may be stale.
    #[inline]
    pub fn truncate(&mut self, depth: usize) {
        self.asks.truncate(depth);
        self.bids.truncate(depth);
    }

    /// Takes from `shown` (one side of an orderbook row, best first: the whole side or only its worst levels) the
    /// levels worse than `beyond` until `side` holds `depth` levels, and returns how many it took. `beyond` is the
    /// window's worst price before a message emptied a level of this side: only a level worse than it can have been
    /// out of the window, so only such a level can enter it without a message reporting it.
    #[inline]
    pub fn reveal_beyond(&mut self, side: Side, shown: &[Level], beyond: i64, depth: usize) -> usize {
        let levels = self.side_mut(side);
        let from = shown.partition_point(|l| !worse(side, l.price, beyond));
        let take = depth.saturating_sub(levels.len()).min(shown.len() - from);
        levels.extend_from_slice(&shown[from..from + take]);
        take
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn l(price: i64, size: u64) -> Level {
        Level { price, size }
    }

    #[test]
    fn sides_stay_sorted_best_first_and_match_a_tree_map() {
        // A reference book in BTreeMaps, driven by the same pseudo-random adds and removes.
        let mut book = Book::new();
        let mut reference: [BTreeMap<i64, u64>; 2] = [BTreeMap::new(), BTreeMap::new()];
        let mut state = 7u64;
        let mut next = |m: u64| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % m
        };
        for _ in 0..20_000 {
            let side = if next(2) == 0 { Side::Bid } else { Side::Ask };
            let r = &mut reference[usize::from(side == Side::Ask)];
            let price = 100 + next(60) as i64;
            let size = 1 + next(5);
            match next(3) {
                0 => {
                    let held = r.get(&price).copied().unwrap_or(0);
                    let expect = if held >= size && held > 0 { Applied::Ok } else { Applied::Underflow };
                    if held > size {
                        r.insert(price, held - size);
                    } else {
                        r.remove(&price);
                    }
                    assert_eq!(book.remove(side, price, size), expect);
                }
                1 => {
                    book.set(side, price, size - 1);
                    if size == 1 {
                        r.remove(&price);
                    } else {
                        r.insert(price, size - 1);
                    }
                }
                _ => {
                    *r.entry(price).or_insert(0) += size;
                    book.add(side, price, size);
                }
            }
            let bids: Vec<Level> = reference[0].iter().rev().map(|(&p, &s)| l(p, s)).collect();
            let asks: Vec<Level> = reference[1].iter().map(|(&p, &s)| l(p, s)).collect();
            assert_eq!((book.side(Side::Bid), book.side(Side::Ask)), (&bids[..], &asks[..]));
        }
    }

    #[test]
    fn revealed_levels_are_the_ones_beyond_the_window_worst_before_the_message() {
        let mut book = Book::new();
        // Depth 3: the asks were 101, 102, 103 and a message emptied 102.
        book.reset_to(&Snapshot { asks: vec![l(101, 5), l(103, 2)], bids: vec![l(99, 1)] });
        let row = [l(101, 5), l(103, 2), l(104, 9)];
        assert_eq!(book.reveal_beyond(Side::Ask, &row, 103, 3), 1);
        assert_eq!(book.side(Side::Ask), &row[..]);
        assert_eq!(book.reveal_beyond(Side::Ask, &row, 103, 3), 0, "a full window reveals nothing");
        // Only the levels beyond the old worst, handed alone, reveal the same.
        let mut again = Book::new();
        again.reset_to(&Snapshot { asks: vec![l(101, 5), l(103, 2)], bids: vec![] });
        assert_eq!(again.reveal_beyond(Side::Ask, &row[2..], 103, 3), 1);
        assert_eq!(again.side(Side::Ask), &row[..]);
        // The emptied level was the worst (103): a level better than it cannot have been out of the window.
        let mut worst_emptied = Book::new();
        worst_emptied.reset_to(&Snapshot { asks: vec![l(101, 5), l(102, 1)], bids: vec![] });
        assert_eq!(worst_emptied.reveal_beyond(Side::Ask, &[l(101, 5), l(102, 1), l(102, 7)], 103, 3), 0);
        assert_eq!(worst_emptied.reveal_beyond(Side::Ask, &[l(102, 1), l(104, 9)], 103, 3), 1);
        assert_eq!(worst_emptied.side(Side::Ask), &[l(101, 5), l(102, 1), l(104, 9)][..]);
    }

    #[test]
    fn lobster_messages_add_and_remove_size() {
        let e = |kind, side, price, size| Event { time_ns: 0, kind, order_id: 1, size, price, side };
        let mut book = Book::new();
        assert_eq!(book.apply(&e(EventKind::Submit, Side::Bid, 100, 10)), Applied::Ok);
        assert_eq!(book.apply(&e(EventKind::Submit, Side::Bid, 101, 5)), Applied::Ok);
        assert_eq!(book.apply(&e(EventKind::ExecuteHidden, Side::Bid, 101, 5)), Applied::Ok);
        assert_eq!(book.side(Side::Bid), &[l(101, 5), l(100, 10)]);
        assert_eq!(book.apply(&e(EventKind::ExecuteVisible, Side::Bid, 101, 5)), Applied::Ok);
        assert_eq!(book.apply(&e(EventKind::Cancel, Side::Bid, 100, 11)), Applied::Underflow);
        assert!(book.side(Side::Bid).is_empty());
        // Sizes a hostile feed sends saturate instead of overflowing (found by the wire fuzz target).
        book.add(Side::Ask, 7, u64::MAX - 1);
        book.add(Side::Ask, 7, 5);
        assert_eq!(book.side(Side::Ask), &[l(7, u64::MAX)]);
    }
}
