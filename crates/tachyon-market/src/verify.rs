//! The external proof of the book: replay a LOBSTER message file into our [`Book`] and compare it, row by row,
//! with LOBSTER's own orderbook file.
//!
//! The book is seeded from the first orderbook row (the state right after the first message). For every later
//! row the message is replayed as the feature path replays it ([`replay_step`]: apply, cut to the file's depth N,
//! take the levels that enter the window from beyond it from the row), and each level 1..N of each side is
//! compared:
//!
//! - every level equal: the row *matches*;
//! - every level equal, but a level entered the window from beyond depth N on this row: LOBSTER reports only events
//!   inside the window, so no message can tell that level's size; it was taken from the orderbook row, and the row
//!   counts as *undeterminable*;
//! - any level different, or a message that removes more shares than the replayed book holds at its price (the
//!   book before it was wrong, or the message is): a *mismatch*.
//!
//! Two modes ([`VerifyMode`]): *cumulative* never reseeds, so the book after row k is the messages' doing since the
//! start (plus the revealed levels), which is what the features read; *reseed* resets the book to each row after
//! comparing it, which checks one message at a time. Rows that follow a skipped malformed pair (see
//! [`BadRowPolicy`]) reseed the book in both modes and are not counted as checked.

use std::fmt;
use std::path::Path;

use crate::book::{Book, Level, Side, Snapshot};
use crate::error::MarketError;
use crate::event::Event;
use crate::tick::{replay_step, LobsterPair};

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

/// How the replayed book is compared with the orderbook file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VerifyMode {
    /// Never reseed: the book is rebuilt from the messages alone since the first row (the default; what the
    /// features read).
    #[default]
    Cumulative,
    /// Reset the book to each orderbook row after comparing it: one message at a time.
    Reseed,
}

/// How to verify.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Cumulative or reseeding.
    pub mode: VerifyMode,
    /// Mismatching levels and skipped rows to keep for the report.
    pub max_examples: usize,
    /// What to do with a malformed row.
    pub on_bad_row: BadRowPolicy,
}

/// Result of [`verify_book`].
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// The mode the rows were checked in.
    pub mode: VerifyMode,
    /// Levels per side in the orderbook file.
    pub depth: usize,
    /// Rows compared (all but the seed row).
    pub rows_checked: usize,
    /// Rows equal on every level.
    pub rows_matching: usize,
    /// Rows where every level matched but a level entered the window from beyond the depth (its size taken from
    /// the orderbook row, since no message reports it).
    pub rows_undeterminable: usize,
    /// Levels taken from orderbook rows because they entered the window from beyond the depth.
    pub levels_revealed: usize,
    /// Rows with at least one determinable level that differs, or whose message underflowed.
    pub rows_mismatching: usize,
    /// Messages that removed more shares than the replayed book held at the price (each a mismatching row).
    pub underflows: usize,
    /// The first few mismatching levels.
    pub first_mismatches: Vec<Mismatch>,
    /// The first few underflowing messages, with their lines.
    pub first_underflows: Vec<(usize, Event)>,
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
        let mode = match self.mode {
            VerifyMode::Cumulative => "cumulative (the book rebuilt from the messages alone, never reseeded)",
            VerifyMode::Reseed => "reseed (the book reset to each row after comparing it: one message at a time)",
        };
        writeln!(f, "mode:                  {mode}")?;
        writeln!(f, "depth:                 {} levels per side", self.depth)?;
        writeln!(f, "rows checked:          {}", self.rows_checked)?;
        writeln!(f, "rows matching:         {} (every level equal)", self.rows_matching)?;
        writeln!(
            f,
            "rows undeterminable:   {} (every level equal, but a level entered the window from beyond the file's \
             depth: no message reports its size, so it was taken from the orderbook row; {} levels in all)",
            self.rows_undeterminable, self.levels_revealed
        )?;
        writeln!(f, "rows mismatching:      {}", self.rows_mismatching)?;
        if self.underflows > 0 {
            writeln!(
                f,
                "removal underflows:    {} (messages removing more shares than the replayed book held at the price; \
                 each counts as a mismatching row)",
                self.underflows
            )?;
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
                "  line {}: {} level {}: file {}, replay {} (after a type-{} message: {} @ {} on the {} side)",
                m.line,
                m.side.name(),
                m.level,
                level_text(m.expected),
                level_text(m.replayed),
                m.event.kind.code(),
                m.event.size,
                m.event.price,
                m.event.side.name()
            )?;
        }
        for (line, event) in &self.first_underflows {
            writeln!(
                f,
                "  line {line}: a type-{} message removes {} @ {} on the {} side, more than the replayed book held",
                event.kind.code(),
                event.size,
                event.price,
                event.side.name()
            )?;
        }
        Ok(())
    }
}

fn level_text(level: Option<Level>) -> String {
    level.map_or("none".into(), |l| format!("{} @ {}", l.size, l.price))
}

/// Replays `message_path` into our book and compares it with `orderbook_path` row by row.
pub fn verify_book(
    message_path: &Path,
    orderbook_path: &Path,
    options: &VerifyOptions,
) -> Result<VerifyReport, MarketError> {
    let mut pair = LobsterPair::open(message_path, orderbook_path)?;
    let mut report = VerifyReport { mode: options.mode, ..VerifyReport::default() };
    let mut row = Snapshot::default();
    let mut book = Book::new();
    let mut reseed = true;
    loop {
        let event = match pair.next_pair(&mut row) {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(error @ MarketError::Parse { .. }) if options.on_bad_row == BadRowPolicy::Skip => {
                report.rows_skipped += 1;
                if report.skipped_examples.len() < options.max_examples {
                    report.skipped_examples.push(error.to_string());
                }
                reseed = true;
                continue;
            }
            Err(error) => return Err(error),
        };
        let depth = pair.depth().expect("known after a row");
        report.depth = depth;
        if reseed {
            book.reset_to(&row);
            reseed = false;
            continue;
        }
        let step = replay_step(&mut book, &event, (&row).into(), depth);
        report.levels_revealed += step.revealed[0] + step.revealed[1];
        let mut mismatch = step.underflow;
        if step.underflow {
            report.underflows += 1;
            if report.first_underflows.len() < options.max_examples {
                report.first_underflows.push((pair.line(), event));
            }
        }
        for (side, expected) in [(Side::Ask, &row.asks), (Side::Bid, &row.bids)] {
            let got = book.side(side);
            for level in 0..depth {
                let (e, g) = (expected.get(level).copied(), got.get(level).copied());
                if e != g {
                    mismatch = true;
                    if report.first_mismatches.len() < options.max_examples {
                        report.first_mismatches.push(Mismatch {
                            line: pair.line(),
                            event,
                            side,
                            level: level + 1,
                            expected: e,
                            replayed: g,
                        });
                    }
                }
            }
        }
        report.rows_checked += 1;
        match (mismatch, step.revealed_any()) {
            (true, _) => report.rows_mismatching += 1,
            (false, true) => report.rows_undeterminable += 1,
            (false, false) => report.rows_matching += 1,
        }
        if options.mode == VerifyMode::Reseed {
            book.reset_to(&row);
        }
    }
    Ok(report)
}
