//! The external proof of the book: replay a LOBSTER message file and compare, row by row, with LOBSTER's own
//! orderbook file.
//!
//! The book is seeded from the first orderbook row (the state right after the first message). For every later
//! row the message is applied, the book is cut to the file's depth N (a level-N message file says nothing
//! about deeper levels, so anything we knew there may be stale), and each level 1..N of each side is compared:
//!
//! - equal on both sides: the level matches;
//! - the file shows a level where the replayed book has none: the level entered the window from beyond depth N
//!   without a message (LOBSTER only reports events inside the window), so its size cannot be determined from
//!   the messages: the row counts as *undeterminable*;
//! - anything else (different price or size, or a level the file does not have): a *mismatch*.
//!
//! After the comparison the book is resynchronised to the file's row, so one undeterminable level never
//! propagates into later rows. Rows that follow a skipped malformed pair (see [`BadRowPolicy`]) reseed the book
//! and are not counted as checked.

use std::fmt;
use std::path::Path;

use crate::book::{Applied, Book, Level, Side, Snapshot};
use crate::error::MarketError;
use crate::event::Event;
use crate::lobster::{MessageReader, OrderbookReader};

/// One level that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Line in both files (1-based).
    pub line: usize,
    /// The message of that line.
    pub event: Event,
    /// Side of the level.
    pub side: Side,
    /// Level, 1-based.
    pub level: usize,
    /// What the orderbook file says.
    pub expected: Option<Level>,
    /// What the replayed book says.
    pub replayed: Option<Level>,
}

/// Result of [`verify_book`].
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Levels per side in the orderbook file.
    pub depth: usize,
    /// Rows compared (all but the seed row).
    pub rows_checked: usize,
    /// Rows equal on every level.
    pub rows_matching: usize,
    /// Rows where every determinable level matched but some level entered from beyond the depth.
    pub rows_undeterminable: usize,
    /// Rows with at least one determinable level that differs.
    pub rows_mismatching: usize,
    /// Messages that removed more shares than the replayed book held at the price.
    pub underflows: usize,
    /// The first few mismatching levels.
    pub first_mismatches: Vec<Mismatch>,
    /// Row pairs skipped as malformed (with [`BadRowPolicy::Skip`]).
    pub rows_skipped: usize,
    /// The errors of the first few skipped rows (file, line, field, what).
    pub skipped_examples: Vec<String>,
}

/// What to do with a malformed row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BadRowPolicy {
    /// Stop with an error naming the file, line and field (the default).
    #[default]
    Fail,
    /// Skip the row, count it and report it; never drop it silently.
    Skip,
}

impl VerifyReport {
    /// Whether no determinable level differed.
    pub fn passed(&self) -> bool {
        self.rows_mismatching == 0
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "depth:                 {} levels per side", self.depth)?;
        writeln!(f, "rows checked:          {}", self.rows_checked)?;
        writeln!(f, "rows matching:         {} (every level equal)", self.rows_matching)?;
        writeln!(
            f,
            "rows undeterminable:   {} (a level entered from beyond the file's depth)",
            self.rows_undeterminable
        )?;
        writeln!(f, "rows mismatching:      {}", self.rows_mismatching)?;
        if self.underflows > 0 {
            writeln!(f, "removal underflows:    {}", self.underflows)?;
        }
        if self.rows_skipped > 0 {
            writeln!(f, "rows skipped:          {} (malformed; the book was reseeded after each)", self.rows_skipped)?;
            for e in &self.skipped_examples {
                writeln!(f, "  skipped: {e}")?;
            }
        }
        for m in &self.first_mismatches {
            writeln!(
                f,
                "  line {}: {:?} level {}: file {:?}, replay {:?} (after {:?} {} @ {} on {:?})",
                m.line,
                m.side,
                m.level,
                m.expected,
                m.replayed,
                m.event.kind,
                m.event.size,
                m.event.price,
                m.event.side
            )?;
        }
        Ok(())
    }
}

/// Outcome of comparing one row.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RowOutcome {
    Match,
    Undeterminable,
    Mismatch,
}

/// Replays `message_path` and compares the book with `orderbook_path` row by row; keeps up to `max_examples`
/// mismatching levels for the report.
pub fn verify_book(
    message_path: &Path,
    orderbook_path: &Path,
    max_examples: usize,
) -> Result<VerifyReport, MarketError> {
    verify_book_with(message_path, orderbook_path, max_examples, BadRowPolicy::Fail)
}

/// [`verify_book`] with a policy for malformed rows. With [`BadRowPolicy::Skip`], a pair with a malformed
/// message or orderbook row is skipped (counted, the first few errors kept), and the book is reseeded from the
/// next good orderbook row, since the skipped message's effect is unknown.
pub fn verify_book_with(
    message_path: &Path,
    orderbook_path: &Path,
    max_examples: usize,
    policy: BadRowPolicy,
) -> Result<VerifyReport, MarketError> {
    let mut messages = MessageReader::open(message_path)?;
    let mut orderbook = OrderbookReader::open(orderbook_path)?;
    let mut report = VerifyReport::default();
    let mut file_row = Snapshot::default();
    let mut replayed = Snapshot::default();
    let mut book = Book::new();
    let mut rows = 0usize;
    let mut reseed = true;
    loop {
        // Read both rows before judging either, so that a skipped pair leaves both files in step.
        let event = messages.next_event();
        let has_row = orderbook.next_snapshot(&mut file_row);
        let (event, has_row) = match (event, has_row) {
            (Ok(event), Ok(has_row)) => (event, has_row),
            (Err(error @ MarketError::Parse { .. }), _) | (_, Err(error @ MarketError::Parse { .. }))
                if policy == BadRowPolicy::Skip =>
            {
                rows += 1;
                report.rows_skipped += 1;
                if report.skipped_examples.len() < max_examples {
                    report.skipped_examples.push(error.to_string());
                }
                reseed = true;
                continue;
            }
            (Err(error), _) | (_, Err(error)) => return Err(error),
        };
        let event = match (event, has_row) {
            (None, false) => break,
            (Some(event), true) => event,
            (event, has_row) => {
                // Count the rest of the longer file so the error gives both totals.
                let (mut m, mut s) = (rows + usize::from(event.is_some()), rows + usize::from(has_row));
                while messages.next_event()?.is_some() {
                    m += 1;
                }
                while orderbook.next_snapshot(&mut file_row)? {
                    s += 1;
                }
                return Err(MarketError::RowCountMismatch {
                    message_path: message_path.to_path_buf(),
                    messages: m,
                    orderbook_path: orderbook_path.to_path_buf(),
                    snapshots: s,
                });
            }
        };
        rows += 1;
        let depth = orderbook.levels().expect("known after a row");
        report.depth = depth;
        if reseed {
            book.reset_to(&file_row);
            reseed = false;
            continue;
        }
        if book.apply(&event) == Applied::Underflow {
            report.underflows += 1;
        }
        book.truncate(depth);
        book.snapshot_into(depth, &mut replayed);
        let mut outcome = RowOutcome::Match;
        for (side, expected, got) in
            [(Side::Ask, &file_row.asks, &replayed.asks), (Side::Bid, &file_row.bids, &replayed.bids)]
        {
            for level in 0..depth {
                let (e, g) = (expected.get(level).copied(), got.get(level).copied());
                let this = match (e, g) {
                    (e, g) if e == g => RowOutcome::Match,
                    (Some(_), None) => RowOutcome::Undeterminable,
                    _ => RowOutcome::Mismatch,
                };
                if this == RowOutcome::Mismatch && report.first_mismatches.len() < max_examples {
                    report.first_mismatches.push(Mismatch {
                        line: messages.line(),
                        event,
                        side,
                        level: level + 1,
                        expected: e,
                        replayed: g,
                    });
                }
                outcome = outcome.max(this);
            }
        }
        report.rows_checked += 1;
        match outcome {
            RowOutcome::Match => report.rows_matching += 1,
            RowOutcome::Undeterminable => report.rows_undeterminable += 1,
            RowOutcome::Mismatch => report.rows_mismatching += 1,
        }
        book.reset_to(&file_row);
    }
    Ok(report)
}
