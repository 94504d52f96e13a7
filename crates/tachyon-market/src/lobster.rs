//! Streaming readers for LOBSTER message and orderbook files (`.csv` or `.csv.gz`), with bounded memory.
//!
//! Every malformed row is an error naming the file, the line (1-based) and the field. Time is parsed as a decimal
//! and rounded to the nanosecond (files carry 4 to 9 decimals, and float artefacts with more, such as
//! `43002.632812672004`); prices stay integers in LOBSTER's unit (USD x 10000), so nothing drifts.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::book::{Level, Side, Snapshot};
use crate::error::MarketError;
use crate::event::{Event, EventKind};

/// LOBSTER's price of an empty ask level (size 0).
pub const EMPTY_ASK_PRICE: i64 = 9_999_999_999;
/// LOBSTER's price of an empty bid level (size 0).
pub const EMPTY_BID_PRICE: i64 = -9_999_999_999;

/// Opens `path` for buffered reading, decompressing when it ends in `.gz`.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, MarketError> {
    let file = File::open(path).map_err(|e| MarketError::io(path, e))?;
    let reader: Box<dyn Read + Send> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
}

/// Reads a file line by line, keeping the path and line number for errors.
pub(crate) struct Lines {
    pub(crate) path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    pub(crate) line: usize,
    buf: Vec<u8>,
}

impl Lines {
    pub(crate) fn open(path: &Path) -> Result<Lines, MarketError> {
        Ok(Lines { path: path.to_path_buf(), reader: open(path)?, line: 0, buf: Vec::with_capacity(256) })
    }

    /// Moves to the next non-empty line; `false` at the end of the file.
    pub(crate) fn advance(&mut self) -> Result<bool, MarketError> {
        loop {
            self.buf.clear();
            let n = self.reader.read_until(b'\n', &mut self.buf).map_err(|e| MarketError::io(&self.path, e))?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            // Blank lines carry no data; skip them (a data line starts with a digit, so the scan is short).
            if !self.buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(true);
            }
        }
    }

    /// The current line without its line ending (bytes: no UTF-8 validation on the hot path).
    pub(crate) fn current(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn error(&self, field: &'static str, message: impl Into<String>) -> MarketError {
        MarketError::Parse { path: self.path.clone(), line: self.line, field, message: message.into() }
    }
}

/// Parses seconds after midnight with any number of decimals into nanoseconds, rounding half up at the 10th.
pub fn parse_time_ns(text: &str) -> Result<i64, String> {
    parse_time_bytes(text.trim().as_bytes())
}

#[inline]
fn parse_time_bytes(text: &[u8]) -> Result<i64, String> {
    let shown = || String::from_utf8_lossy(text).into_owned();
    let dot = text.iter().position(|&b| b == b'.').unwrap_or(text.len());
    let (int, frac) = (&text[..dot], text.get(dot + 1..).unwrap_or(&[]));
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit) {
        return Err(format!("{:?} is not a non-negative decimal number of seconds", shown()));
    }
    let too_large = || format!("{:?} is too large", shown());
    let mut seconds: i64 = 0;
    for &b in int {
        seconds = seconds.checked_mul(10).and_then(|s| s.checked_add(i64::from(b - b'0'))).ok_or_else(too_large)?;
    }
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |&b| i64::from(b - b'0'));
    }
    if frac.len() > 9 && frac[9] >= b'5' {
        nanos += 1;
    }
    seconds.checked_mul(1_000_000_000).and_then(|s| s.checked_add(nanos)).ok_or_else(too_large)
}

/// Parses an optionally signed decimal integer (surrounding spaces allowed).
#[inline]
fn parse_int_bytes(text: &[u8]) -> Option<i64> {
    let text = text.trim_ascii();
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some(if negative { -value } else { value })
}

#[inline]
fn parse_int(lines: &Lines, field: &'static str, text: &[u8]) -> Result<i64, MarketError> {
    parse_int_bytes(text).ok_or_else(|| {
        lines.error(field, format!("{:?} is not an integer", String::from_utf8_lossy(text.trim_ascii())))
    })
}

/// Streams the events of a LOBSTER message file.
pub struct MessageReader {
    lines: Lines,
    last_time: i64,
}

impl MessageReader {
    /// Opens a message file (`.csv` or `.csv.gz`).
    pub fn open(path: &Path) -> Result<Self, MarketError> {
        Ok(MessageReader { lines: Lines::open(path)?, last_time: i64::MIN })
    }

    /// The next event, `Ok(None)` at the end of the file.
    pub fn next_event(&mut self) -> Result<Option<Event>, MarketError> {
        if !self.lines.advance()? {
            return Ok(None);
        }
        let mut fields: [&[u8]; 6] = [&[]; 6];
        let mut count = 0;
        for (i, field) in self.lines.current().split(|&b| b == b',').enumerate() {
            if i < 6 {
                fields[i] = field;
            }
            count += 1;
        }
        if count != 6 {
            return Err(self.lines.error("row", format!("expected 6 comma-separated fields, found {count}")));
        }
        let time_ns = parse_time_bytes(fields[0].trim_ascii()).map_err(|m| self.lines.error("time", m))?;
        if time_ns < self.last_time {
            return Err(self.lines.error("time", "time goes backwards"));
        }
        self.last_time = time_ns;
        let code = parse_int(&self.lines, "type", fields[1])?;
        let kind = EventKind::from_lobster(code)
            .ok_or_else(|| self.lines.error("type", format!("unknown event type {code} (LOBSTER types are 1..7)")))?;
        let order_id = parse_int(&self.lines, "order id", fields[2])?;
        let size = parse_int(&self.lines, "size", fields[3])?;
        let price = parse_int(&self.lines, "price", fields[4])?;
        let direction = parse_int(&self.lines, "direction", fields[5])?;
        let side = match direction {
            1 => Side::Bid,
            -1 => Side::Ask,
            other => return Err(self.lines.error("direction", format!("{other} is neither 1 (buy) nor -1 (sell)"))),
        };
        if kind.changes_book() {
            if size <= 0 {
                return Err(self.lines.error("size", format!("{size} is not a positive size")));
            }
            if price <= 0 {
                return Err(self.lines.error("price", format!("{price} is not a positive price")));
            }
        }
        let order_id = u64::try_from(order_id).map_err(|_| self.lines.error("order id", "negative order id"))?;
        Ok(Some(Event { time_ns, kind, order_id, size: size.max(0) as u64, price, side }))
    }

    /// The line number of the last event read (1-based).
    pub fn line(&self) -> usize {
        self.lines.line
    }
}

/// Streams the snapshots of a LOBSTER orderbook file.
pub struct OrderbookReader {
    lines: Lines,
    levels: Option<usize>,
}

impl OrderbookReader {
    /// Opens an orderbook file (`.csv` or `.csv.gz`); its depth is read from the first row.
    pub fn open(path: &Path) -> Result<Self, MarketError> {
        Ok(OrderbookReader { lines: Lines::open(path)?, levels: None })
    }

    /// Levels per side (known after the first row).
    pub fn levels(&self) -> Option<usize> {
        self.levels
    }

    /// Reads the next row into `snapshot` (levels replaced; empty levels dropped); `Ok(false)` at the end.
    pub fn next_snapshot(&mut self, snapshot: &mut Snapshot) -> Result<bool, MarketError> {
        if !self.lines.advance()? {
            return Ok(false);
        }
        let line = self.lines.current();
        let count = line.iter().filter(|&&b| b == b',').count() + 1;
        if count == 0 || !count.is_multiple_of(4) {
            return Err(self.lines.error("row", format!("expected 4 fields per level, found {count} fields")));
        }
        let levels = count / 4;
        match self.levels {
            None => self.levels = Some(levels),
            Some(n) if n != levels => {
                return Err(self.lines.error("row", format!("{levels} levels, but the first row had {n}")));
            }
            Some(_) => {}
        }
        snapshot.asks.clear();
        snapshot.bids.clear();
        let mut fields = line.split(|&b| b == b',');
        const NAMES: [&str; 4] = ["ask price", "ask size", "bid price", "bid size"];
        for _ in 0..levels {
            let mut v = [0i64; 4];
            for (slot, name) in v.iter_mut().zip(NAMES) {
                *slot = parse_int(&self.lines, name, fields.next().expect("counted above"))?;
            }
            let [ask_price, ask_size, bid_price, bid_size] = v;
            for (side, price, size, empty, name) in [
                (&mut snapshot.asks, ask_price, ask_size, EMPTY_ASK_PRICE, "ask size"),
                (&mut snapshot.bids, bid_price, bid_size, EMPTY_BID_PRICE, "bid size"),
            ] {
                if size < 0 {
                    return Err(self.lines.error(name, format!("{size} is negative")));
                }
                if price != empty && size > 0 {
                    side.push(Level { price, size: size as u64 });
                }
            }
        }
        if let (Some(a), Some(b)) = (snapshot.asks.first(), snapshot.bids.first()) {
            if a.price <= b.price {
                return Err(self
                    .lines
                    .error("ask price 1", format!("crossed book: ask {} <= bid {}", a.price, b.price)));
            }
        }
        Ok(true)
    }

    /// The line number of the last row read (1-based).
    pub fn line(&self) -> usize {
        self.lines.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_rounded_to_the_nanosecond_from_any_precision() {
        assert_eq!(parse_time_ns("34200.015105074"), Ok(34_200_015_105_074));
        assert_eq!(parse_time_ns("57059.4011"), Ok(57_059_401_100_000));
        assert_eq!(parse_time_ns("43002.632812672004"), Ok(43_002_632_812_672));
        assert_eq!(parse_time_ns("43002.6328126725"), Ok(43_002_632_812_673));
        assert_eq!(parse_time_ns("7"), Ok(7_000_000_000));
        assert!(parse_time_ns("-1.5").is_err());
        assert!(parse_time_ns("12a.5").is_err());
        assert!(parse_time_ns("").is_err());
    }
}
