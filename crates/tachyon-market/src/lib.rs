//! Tachyon's market data: where ticks enter.
//!
//! - [`event`]: order-book events as LOBSTER numbers them (1..7), nanosecond timestamps, integer prices.
//! - [`lobster`]: streaming readers of LOBSTER message and orderbook files (`.csv`, `.csv.gz`).
//! - [`book`]: the price-level book rebuilt from messages (flat arrays, best first); L-level snapshots.
//! - [`orders`]: the order map of a feed with order IDs, kept in step with the book.
//! - [`tick`], [`quotes_csv`]: the feature engine's input (time, trade, book after), from LOBSTER messages
//!   replayed into our book, or the generic quotes/trades CSV.
//! - `order`: rows in time order, judged one row ahead (one bad time costs one row), for the CSV readers.
//! - [`update`]: book changes as a feed reports them ([`Feed`], [`Update`]), applied by whoever owns the book.
//! - [`coinbase`]: a Coinbase level-2 websocket recording (one product; the book kept from level updates).
//! - [`binary`]: a compact binary event file, written atomically, read back in one pass and checked.
//! - [`verify`]: the row-by-row check of the rebuilt book against LOBSTER's own orderbook file.

pub mod binary;
pub mod book;
pub mod coinbase;
pub mod error;
pub mod event;
pub mod lobster;
mod order;
pub mod orders;
pub mod quotes_csv;
pub mod tick;
pub mod update;
pub mod verify;

pub use book::{Applied, Book, BookView, Level, Side, Snapshot};
pub use coinbase::{CoinbaseL2, CoinbaseReplay};
pub use error::MarketError;
pub use event::{Event, EventKind};
pub use orders::{Order, OrderApplied, OrderBook, OrderStats};
pub use quotes_csv::{QuotesCsv, QuotesCsvConfig};
pub use tick::{
    replay_step, BadUnits, LobsterFeed, LobsterPair, LobsterReplay, ReplayStats, ReplayStep, Tick, TickSource, Trade,
    Units,
};
pub use update::{BookChange, Feed, Fringe, SnapshotFeed, Update, FRINGE};
pub use verify::{verify_book, BadRowPolicy, VerifyMode, VerifyOptions, VerifyReport};
