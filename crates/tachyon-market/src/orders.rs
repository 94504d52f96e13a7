//! The order map of a feed with order IDs (ITCH-like feeds, LOBSTER): every resting order's side, price and
//! remaining size by ID, kept in step with the price-level [`Book`], so that messages which name only an order
//! (an execution or cancellation of N shares, a deletion) find their level.
//!
//! A feed that starts mid-day references orders placed before it started. Such a message is not an error: when it
//! carries its price and side (LOBSTER) the level is updated from them and the order counted as unknown; when it
//! does not (an ITCH deletion by ID alone) the book cannot be updated and the message is counted, and the seed
//! snapshot already holds that order's size in its level.
//!
//! The map needs every message about an order. A depth-limited file (LOBSTER level N) leaves out what happens to an
//! order while it is outside the window, so the remaining size the map holds can go stale; such files are replayed
//! from each message's own price and size ([`crate::LobsterReplay`]), and the map is for full-depth feeds whose
//! messages name only the order.

use std::collections::HashMap;

use crate::book::{Applied, Book, Side};
use crate::event::{Event, EventKind};

/// One resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// Side.
    pub side: Side,
    /// Price in ticks.
    pub price: i64,
    /// Remaining visible size, shares.
    pub size: u64,
}

/// What an order message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderApplied {
    /// The order and its level changed as the message says.
    Ok,
    /// The order was not in the map (placed before the data started): the level was updated from the message's own
    /// price and side, or left alone if it carries none.
    Unknown,
    /// An addition reused the ID of a resting order: the old order was replaced.
    DuplicateId,
    /// The message removed more than the order (or its level) held: what was there was removed.
    Underflow,
}

/// Counts of what an [`OrderBook`] has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderStats {
    /// Messages naming an order the map did not hold.
    pub unknown: u64,
    /// Additions that reused a resting order's ID.
    pub duplicate_ids: u64,
    /// Removals of more than was resting.
    pub underflows: u64,
}

/// A price-level book kept from order messages, with the map of resting orders.
#[derive(Clone, Debug, Default)]
pub struct OrderBook {
    book: Book,
    orders: HashMap<u64, Order>,
    stats: OrderStats,
}

impl OrderBook {
    /// An empty book with room for `orders` resting orders before the map grows.
    pub fn with_capacity(orders: usize) -> OrderBook {
        OrderBook {
            book: Book::with_capacity(64),
            orders: HashMap::with_capacity(orders),
            stats: OrderStats::default(),
        }
    }

    /// The price levels.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Seeds the levels from a snapshot (the feed's state when the data starts); the order map starts empty, and
    /// orders resting in the snapshot are met as unknown when a message names them.
    pub fn seed(&mut self, snapshot: &crate::book::Snapshot) {
        self.book.reset_to(snapshot);
        self.orders.clear();
    }

    /// The resting order `id`.
    pub fn order(&self, id: u64) -> Option<&Order> {
        self.orders.get(&id)
    }

    /// Resting orders held.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Whether no order rests.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// Counts so far.
    pub fn stats(&self) -> OrderStats {
        self.stats
    }

    /// A new order.
    pub fn add(&mut self, id: u64, side: Side, price: i64, size: u64) -> OrderApplied {
        let replaced = self.orders.insert(id, Order { side, price, size });
        if let Some(old) = replaced {
            self.book.remove(old.side, old.price, old.size);
        }
        self.book.add(side, price, size);
        if replaced.is_some() {
            self.stats.duplicate_ids += 1;
            OrderApplied::DuplicateId
        } else {
            OrderApplied::Ok
        }
    }

    /// `size` shares of order `id` executed or cancelled (the order leaves when nothing remains). `fallback` is the
    /// side and price the message itself carries, used for an order the map does not hold.
    pub fn reduce(&mut self, id: u64, size: u64, fallback: Option<(Side, i64)>) -> OrderApplied {
        let Some(order) = self.orders.get_mut(&id) else {
            return self.unknown(size, fallback);
        };
        let taken = size.min(order.size);
        order.size -= taken;
        let (side, price, left) = (order.side, order.price, order.size);
        if left == 0 {
            self.orders.remove(&id);
        }
        let level = self.book.remove(side, price, taken);
        if taken < size || level == Applied::Underflow {
            self.stats.underflows += 1;
            OrderApplied::Underflow
        } else {
            OrderApplied::Ok
        }
    }

    /// Order `id` removed in full.
    pub fn delete(&mut self, id: u64, fallback: Option<(Side, i64, u64)>) -> OrderApplied {
        match self.orders.get(&id).map(|o| o.size) {
            Some(size) => self.reduce(id, size, None),
            None => self.unknown(fallback.map_or(0, |f| f.2), fallback.map(|(side, price, _)| (side, price))),
        }
    }

    fn unknown(&mut self, size: u64, fallback: Option<(Side, i64)>) -> OrderApplied {
        self.stats.unknown += 1;
        if let Some((side, price)) = fallback {
            if self.book.remove(side, price, size) == Applied::Underflow {
                self.stats.underflows += 1;
            }
        }
        OrderApplied::Unknown
    }

    /// Applies one LOBSTER message: submissions add an order; cancellations and visible executions reduce it;
    /// deletions remove it; hidden executions, cross trades and halts leave the visible book unchanged. Orders not
    /// in the map are updated at the message's own price and side.
    pub fn apply_lobster(&mut self, event: &Event) -> OrderApplied {
        let fallback = Some((event.side, event.price));
        match event.kind {
            EventKind::Submit => self.add(event.order_id, event.side, event.price, event.size),
            EventKind::Cancel | EventKind::ExecuteVisible => self.reduce(event.order_id, event.size, fallback),
            EventKind::Delete => self.delete(event.order_id, Some((event.side, event.price, event.size))),
            EventKind::ExecuteHidden | EventKind::CrossTrade | EventKind::Halt => OrderApplied::Ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Level;

    fn l(price: i64, size: u64) -> Level {
        Level { price, size }
    }

    #[test]
    fn messages_that_name_only_an_order_find_its_level() {
        let mut ob = OrderBook::with_capacity(16);
        assert_eq!(ob.add(1, Side::Bid, 100, 10), OrderApplied::Ok);
        assert_eq!(ob.add(2, Side::Bid, 100, 5), OrderApplied::Ok);
        assert_eq!(ob.add(3, Side::Ask, 102, 7), OrderApplied::Ok);
        // An execution of 4 shares of order 1, by ID alone (ITCH style).
        assert_eq!(ob.reduce(1, 4, None), OrderApplied::Ok);
        assert_eq!(ob.book().side(Side::Bid), &[l(100, 11)]);
        assert_eq!(ob.order(1).map(|o| o.size), Some(6));
        // A deletion by ID removes what remains, and the order leaves the map.
        assert_eq!(ob.delete(1, None), OrderApplied::Ok);
        assert_eq!((ob.book().side(Side::Bid), ob.order(1)), (&[l(100, 5)][..], None));
        // Executing more than rests is an underflow, counted; the order and its share of the level are gone.
        assert_eq!(ob.reduce(2, 9, None), OrderApplied::Underflow);
        assert!(ob.book().side(Side::Bid).is_empty());
        // An order the map never saw: updated at the message's price when it carries one, counted either way.
        ob.add(4, Side::Ask, 102, 3);
        assert_eq!(ob.reduce(99, 2, Some((Side::Ask, 102))), OrderApplied::Unknown);
        assert_eq!(ob.delete(98, None), OrderApplied::Unknown);
        assert_eq!(ob.book().side(Side::Ask), &[l(102, 8)]);
        // A reused ID replaces the resting order.
        assert_eq!(ob.add(3, Side::Ask, 103, 1), OrderApplied::DuplicateId);
        assert_eq!(ob.book().side(Side::Ask), &[l(102, 1), l(103, 1)]);
        assert_eq!(ob.stats(), OrderStats { unknown: 2, duplicate_ids: 1, underflows: 1 });
        assert_eq!(ob.len(), 2);
    }

    #[test]
    fn lobster_messages_through_the_order_map_equal_the_level_book() {
        // Submissions, partial and full removals by ID, an order from before the data, and a hidden execution.
        let e = |kind, order_id, size, price, side| Event { time_ns: 0, kind, order_id, size, price, side };
        let events = [
            e(EventKind::Submit, 1, 100, 5000, Side::Bid),
            e(EventKind::Submit, 2, 50, 5010, Side::Ask),
            e(EventKind::Submit, 3, 30, 5000, Side::Bid),
            e(EventKind::ExecuteVisible, 1, 40, 5000, Side::Bid),
            e(EventKind::Cancel, 3, 10, 5000, Side::Bid),
            e(EventKind::ExecuteHidden, 0, 5, 5005, Side::Ask),
            e(EventKind::Delete, 2, 50, 5010, Side::Ask),
            e(EventKind::Delete, 7, 20, 4990, Side::Bid),
        ];
        let (mut ob, mut plain) = (OrderBook::with_capacity(8), Book::new());
        plain.add(Side::Bid, 4990, 20);
        ob.seed(&crate::book::Snapshot { asks: vec![], bids: vec![l(4990, 20)] });
        for ev in &events {
            ob.apply_lobster(ev);
            plain.apply(ev);
            assert_eq!(ob.book().view(), plain.view(), "{ev:?}");
        }
        assert_eq!(ob.book().side(Side::Bid), &[l(5000, 80)]);
        assert_eq!(ob.stats().unknown, 1);
    }
}
