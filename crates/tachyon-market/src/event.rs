//! Order-book events as LOBSTER numbers them, with nanosecond timestamps and integer prices.

use crate::book::Side;

/// What happened (LOBSTER's event types 1..7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// 1: submission of a new limit order.
    Submit,
    /// 2: partial cancellation.
    Cancel,
    /// 3: deletion (total cancellation).
    Delete,
    /// 4: execution of a visible limit order.
    ExecuteVisible,
    /// 5: execution of a hidden limit order (does not change the visible book).
    ExecuteHidden,
    /// 6: cross trade / auction (does not change the visible book).
    CrossTrade,
    /// 7: trading halt indicator (price -1 halt, 0 quoting resumes, 1 trading resumes).
    Halt,
}

impl EventKind {
    /// The kind for LOBSTER's type code.
    pub fn from_lobster(code: i64) -> Option<EventKind> {
        Some(match code {
            1 => EventKind::Submit,
            2 => EventKind::Cancel,
            3 => EventKind::Delete,
            4 => EventKind::ExecuteVisible,
            5 => EventKind::ExecuteHidden,
            6 => EventKind::CrossTrade,
            7 => EventKind::Halt,
            _ => return None,
        })
    }

    /// LOBSTER's type code.
    pub fn code(self) -> u8 {
        match self {
            EventKind::Submit => 1,
            EventKind::Cancel => 2,
            EventKind::Delete => 3,
            EventKind::ExecuteVisible => 4,
            EventKind::ExecuteHidden => 5,
            EventKind::CrossTrade => 6,
            EventKind::Halt => 7,
        }
    }

    /// Whether the event carries a real order (positive size and price), as opposed to a halt marker.
    pub fn changes_book(self) -> bool {
        matches!(self, EventKind::Submit | EventKind::Cancel | EventKind::Delete | EventKind::ExecuteVisible)
    }

    /// Whether the event is a trade (visible, hidden or cross).
    pub fn is_trade(self) -> bool {
        matches!(self, EventKind::ExecuteVisible | EventKind::ExecuteHidden | EventKind::CrossTrade)
    }
}

/// One message of the feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Time since midnight, ns.
    pub time_ns: i64,
    /// Event type.
    pub kind: EventKind,
    /// Order reference (0 for hidden executions).
    pub order_id: u64,
    /// Shares.
    pub size: u64,
    /// Price in ticks (USD x 10000 for LOBSTER); -1/0/1 for halts.
    pub price: i64,
    /// Side of the order (for executions, of the resting order).
    pub side: Side,
}
