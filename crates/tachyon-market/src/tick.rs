//! The input of the feature engine: one market update at a time, as a time, an optional trade and the book after
//! it, whichever format it came from.
//!
//! A [`TickSource`] yields these from a LOBSTER pair ([`LobsterPair`]: the message says what happened, the
//! orderbook row says what the book is after it, so no level is ever guessed) or from the generic quotes/trades CSV
//! ([`crate::quotes_csv::QuotesCsv`]).

use std::path::{Path, PathBuf};

use crate::book::{Side, Snapshot};
use crate::error::MarketError;
use crate::event::{Event, EventKind};
use crate::lobster::{MessageReader, OrderbookReader};

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

/// Something that yields ticks and the book after each.
pub trait TickSource {
    /// The next tick, writing the book after it into `book` (buffers reused); `Ok(None)` at the end.
    fn next_tick(&mut self, book: &mut Snapshot) -> Result<Option<Tick>, MarketError>;

    /// The file being read (for messages).
    fn path(&self) -> &Path;

    /// Price ticks per currency unit (10,000 for LOBSTER: prices are USD x 10,000).
    fn ticks_per_unit(&self) -> f64;
}

/// A LOBSTER message file read in step with its orderbook file.
pub struct LobsterPair {
    message_path: PathBuf,
    orderbook_path: PathBuf,
    messages: MessageReader,
    orderbook: OrderbookReader,
    rows: u64,
}

impl LobsterPair {
    /// Opens a message file and its orderbook file.
    pub fn open(message_path: &Path, orderbook_path: &Path) -> Result<Self, MarketError> {
        Ok(LobsterPair {
            message_path: message_path.to_path_buf(),
            orderbook_path: orderbook_path.to_path_buf(),
            messages: MessageReader::open(message_path)?,
            orderbook: OrderbookReader::open(orderbook_path)?,
            rows: 0,
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

    /// Levels per side of the orderbook file (known after the first tick).
    pub fn depth(&self) -> Option<usize> {
        self.orderbook.levels()
    }
}

/// The orderbook file LOBSTER pairs with a message file, if the name follows LOBSTER's convention.
pub fn orderbook_path_for(message_path: &Path) -> Option<PathBuf> {
    let name = message_path.file_name()?.to_str()?;
    let at = name.rfind("_message_")?;
    let book_name = format!("{}_orderbook_{}", &name[..at], &name[at + "_message_".len()..]);
    Some(message_path.with_file_name(book_name))
}

impl TickSource for LobsterPair {
    fn next_tick(&mut self, book: &mut Snapshot) -> Result<Option<Tick>, MarketError> {
        // Read both rows before judging either, so that a skipped malformed row leaves the files in step.
        let event = self.messages.next_event();
        let has_row = self.orderbook.next_snapshot(book);
        let (event, has_row) = (event?, has_row?);
        match (event, has_row) {
            (Some(event), true) => {
                self.rows += 1;
                Ok(Some(Tick {
                    time_ns: event.time_ns,
                    event_id: self.messages.line() as u64,
                    trade: Trade::from_event(&event),
                }))
            }
            (None, false) => Ok(None),
            (event, has_row) => {
                let (mut m, mut s) = (self.rows + u64::from(event.is_some()), self.rows + u64::from(has_row));
                while self.messages.next_event()?.is_some() {
                    m += 1;
                }
                while self.orderbook.next_snapshot(book)? {
                    s += 1;
                }
                Err(MarketError::RowCountMismatch {
                    message_path: self.message_path.clone(),
                    messages: m as usize,
                    orderbook_path: self.orderbook_path.clone(),
                    snapshots: s as usize,
                })
            }
        }
    }

    fn path(&self) -> &Path {
        &self.message_path
    }

    fn ticks_per_unit(&self) -> f64 {
        10_000.0
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
    fn executions_are_signed_by_the_aggressor() {
        let e = |kind, side| Event { time_ns: 0, kind, order_id: 1, size: 10, price: 100, side };
        assert_eq!(Trade::from_event(&e(EventKind::ExecuteVisible, Side::Ask)).unwrap().sign, 1);
        assert_eq!(Trade::from_event(&e(EventKind::ExecuteHidden, Side::Bid)).unwrap().sign, -1);
        assert_eq!(Trade::from_event(&e(EventKind::CrossTrade, Side::Bid)).unwrap().sign, 0);
        assert!(Trade::from_event(&e(EventKind::Submit, Side::Bid)).is_none());
    }
}
