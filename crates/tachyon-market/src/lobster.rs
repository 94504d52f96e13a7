//! Streaming readers for LOBSTER message and orderbook files (`.csv` or `.csv.gz`), with bounded memory.
//!
//! Every malformed row is an error naming the file, the line (1-based) and the field. Time is parsed as a decimal
//! and rounded to the nanosecond (files carry 4 to 9 decimals, and float artefacts with more, such as
//! `43002.632812672004`); prices stay integers in LOBSTER's unit (USD x 10000), so nothing drifts.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::book::{Level, Side, Snapshot};
use crate::error::{shown, MarketError};
use crate::event::{Event, EventKind};
use crate::order::{Rows, TimeOrdered};
use crate::update::{Fringe, FRINGE};

/// LOBSTER's price of an empty ask level (size 0).
pub const EMPTY_ASK_PRICE: i64 = 9_999_999_999;
/// LOBSTER's price of an empty bid level (size 0).
pub const EMPTY_BID_PRICE: i64 = -9_999_999_999;

/// Opens `path` for reading, decompressing when it ends in `.gz` (unbuffered: [`Lines`] buffers). A compressed
/// file is decompressed on a thread of its own, ahead of the reader, so that parsing and inflating overlap.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, MarketError> {
    open_counted(path, Arc::default())
}

/// [`open`], adding the bytes read from the file itself (compressed, where it is) to `read`.
fn open_counted(path: &Path, read: Arc<AtomicU64>) -> Result<Box<dyn Read + Send>, MarketError> {
    let file = CountedRead { inner: File::open(path).map_err(|e| MarketError::io(path, e))?, read };
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(ReadAhead::spawn(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(file)
    })
}

/// A reader that adds the bytes it reads to a shared counter (read by progress displays on other threads).
struct CountedRead<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A reader whose source is read on another thread, [`READ_AHEAD_BLOCKS`] blocks ahead; blocks are recycled.
///
/// The hand-over is a mutex and a condition variable around queues reserved up front, so that waiting for the
/// other thread never allocates (a channel's first blocking wait on a thread does, at a moment set by timing).
struct ReadAhead {
    shared: Arc<Handover>,
    current: Vec<u8>,
    at: usize,
}

/// What the two threads of a [`ReadAhead`] share.
#[derive(Default)]
struct Handover {
    state: std::sync::Mutex<HandoverState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct HandoverState {
    /// Blocks read, in order, waiting for the reader (at most [`READ_AHEAD_BLOCKS`]).
    full: std::collections::VecDeque<Vec<u8>>,
    /// Blocks the reader has finished with, for the source thread to fill again.
    spare: Vec<Vec<u8>>,
    /// The source failed after the blocks in `full`.
    failure: Option<std::io::Error>,
    /// The source ended (or failed) after the blocks in `full`.
    done: bool,
    /// The reader was dropped: the source thread stops.
    reader_gone: bool,
}

/// Blocks a [`ReadAhead`] may hold decoded before the reader takes them.
const READ_AHEAD_BLOCKS: usize = 2;

impl ReadAhead {
    fn spawn(mut source: impl Read + Send + 'static) -> ReadAhead {
        let shared = Arc::new(Handover::default());
        {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            state.full.reserve(READ_AHEAD_BLOCKS);
            state.spare.reserve(READ_AHEAD_BLOCKS + 2);
        }
        let producer = Arc::clone(&shared);
        std::thread::spawn(move || {
            let mut block = vec![0; READ_BYTES];
            loop {
                // Whole blocks (a decoder returns a few KiB per call), so that the reader is a block ahead.
                block.resize(READ_BYTES, 0);
                let (mut filled, mut failure) = (0, None);
                while filled < block.len() {
                    match source.read(&mut block[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                block.truncate(filled);
                let done = filled < READ_BYTES || failure.is_some();
                let mut state = producer.state.lock().unwrap_or_else(|e| e.into_inner());
                while state.full.len() == READ_AHEAD_BLOCKS && !state.reader_gone {
                    state = producer.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                if state.reader_gone {
                    return;
                }
                if filled > 0 {
                    state.full.push_back(block);
                }
                state.failure = failure;
                state.done = done;
                block = state.spare.pop().unwrap_or_default();
                drop(state);
                producer.changed.notify_all();
                if done {
                    return;
                }
            }
        });
        ReadAhead { shared, current: Vec::new(), at: 0 }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.current.len() {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            let next = loop {
                if let Some(block) = state.full.pop_front() {
                    break block;
                }
                if let Some(e) = state.failure.take() {
                    return Err(e);
                }
                if state.done {
                    return Ok(0);
                }
                state = self.shared.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            };
            let used = std::mem::replace(&mut self.current, next);
            if state.spare.len() < state.spare.capacity() {
                state.spare.push(used);
            }
            drop(state);
            self.shared.changed.notify_all();
            self.at = 0;
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).reader_gone = true;
        self.shared.changed.notify_all();
    }
}

/// Bytes [`Lines`] reads at a time.
const READ_BYTES: usize = 1 << 20;
/// Longest line [`Lines`] accepts, bytes (a LOBSTER orderbook row of 200 levels is about 8 KB): beyond it the
/// file is not a line-oriented text file of ours, and holding it would make memory unbounded.
pub(crate) const MAX_LINE_BYTES: usize = 16 << 20;

/// Reads a file line by line, keeping the path and line number for errors.
///
/// Lines are found (SIMD `memchr`) and handed out where they lie in one reused buffer, so that no byte is copied
/// per line; only a line cut by the end of a read moves (to the front of the buffer) before the next read.
pub(crate) struct Lines {
    pub(crate) path: PathBuf,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Bytes of `buf` holding data.
    filled: usize,
    /// Start of the first line not yet handed out.
    next: usize,
    /// The current line (without its line ending) as a range of `buf`.
    current: (usize, usize),
    eof: bool,
    pub(crate) line: usize,
    /// Bytes read from the file so far (compressed, where it is).
    bytes_read: Arc<AtomicU64>,
}

impl Lines {
    pub(crate) fn open(path: &Path) -> Result<Lines, MarketError> {
        Self::open_with(path, READ_BYTES)
    }

    /// Reads `read_bytes` at a time (tests use a few bytes, so that lines straddle reads).
    fn open_with(path: &Path, read_bytes: usize) -> Result<Lines, MarketError> {
        let bytes_read = Arc::new(AtomicU64::new(0));
        Ok(Lines {
            path: path.to_path_buf(),
            reader: open_counted(path, Arc::clone(&bytes_read))?,
            buf: vec![0; read_bytes.max(1)],
            filled: 0,
            next: 0,
            current: (0, 0),
            eof: false,
            line: 0,
            bytes_read,
        })
    }

    /// Bytes read from the file so far (compressed, where it is).
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Moves to the next non-empty line; `false` at the end of the file.
    pub(crate) fn advance(&mut self) -> Result<bool, MarketError> {
        loop {
            let end = match memchr::memchr(b'\n', &self.buf[self.next..self.filled]) {
                Some(at) => self.next + at,
                None if !self.eof => {
                    self.refill()?;
                    continue;
                }
                // The last line may lack its line ending.
                None if self.next < self.filled => self.filled,
                None => return Ok(false),
            };
            let start = self.next;
            self.next = (end + 1).min(self.filled);
            self.line += 1;
            let text = self.buf[start..end].trim_ascii_end();
            // Blank lines carry no data; skip them (a data line starts with a digit, so the scan is short).
            if !text.iter().all(u8::is_ascii_whitespace) {
                self.current = (start, start + text.len());
                return Ok(true);
            }
        }
    }

    /// Moves the unread tail to the front of the buffer and reads more after it (growing the buffer only for a
    /// line longer than it).
    #[cold]
    fn refill(&mut self) -> Result<(), MarketError> {
        self.buf.copy_within(self.next..self.filled, 0);
        self.filled -= self.next;
        self.next = 0;
        if self.filled == self.buf.len() {
            if self.buf.len() >= MAX_LINE_BYTES {
                return Err(self.line_error());
            }
            self.buf.resize(2 * self.buf.len(), 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) if self.line == 0 && self.filled == 0 => {
                    // Text never holds a NUL byte; a binary file read as lines would only give noise errors.
                    if let Some(at) = memchr::memchr(0, &self.buf[..n]) {
                        return Err(MarketError::Parse {
                            path: self.path.clone(),
                            line: 1,
                            field: "row",
                            message: format!("a NUL byte at byte {at}: a binary file, not comma-separated text"),
                        });
                    }
                    self.filled = n;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(MarketError::io(&self.path, e)),
            }
            return Ok(());
        }
    }

    #[cold]
    fn line_error(&self) -> MarketError {
        MarketError::Parse {
            path: self.path.clone(),
            line: self.line + 1,
            field: "row",
            message: format!(
                "longer than {} MiB without a line ending: not a text file of this format",
                MAX_LINE_BYTES >> 20
            ),
        }
    }

    /// The current line without its line ending (bytes: no UTF-8 validation on the hot path).
    pub(crate) fn current(&self) -> &[u8] {
        &self.buf[self.current.0..self.current.1]
    }

    pub(crate) fn error(&self, field: &'static str, message: impl Into<String>) -> MarketError {
        MarketError::Parse { path: self.path.clone(), line: self.line, field, message: message.into() }
    }
}

/// Parses seconds after midnight with any number of decimals into nanoseconds, rounding half up at the 10th.
pub fn parse_time_ns(text: &str) -> Result<i64, String> {
    parse_time_bytes(text.trim().as_bytes())
}

/// `parse_time_ns` on bytes, in one pass over them.
#[inline]
fn parse_time_bytes(text: &[u8]) -> Result<i64, String> {
    const SCALE: [i64; 10] = [1_000_000_000, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];
    let invalid = || format!("{} is not a non-negative decimal number of seconds", shown(text));
    let too_large = || format!("{} is too large", shown(text));
    let digit = |i: usize| text.get(i).map(|b| b.wrapping_sub(b'0')).filter(|&d| d <= 9);
    let mut i = 0;
    let mut seconds: i64 = 0;
    while let Some(d) = digit(i) {
        seconds = seconds.checked_mul(10).and_then(|s| s.checked_add(i64::from(d))).ok_or_else(too_large)?;
        i += 1;
    }
    if i == 0 {
        return Err(invalid());
    }
    let (mut nanos, mut decimals, mut round_up) = (0i64, 0usize, false);
    if text.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = digit(i) {
            if decimals < 9 {
                nanos = nanos * 10 + i64::from(d);
            } else if decimals == 9 {
                round_up = d >= 5;
            }
            decimals += 1;
            i += 1;
        }
    }
    if i != text.len() {
        return Err(invalid());
    }
    let nanos = nanos * SCALE[decimals.min(9)] + i64::from(round_up);
    seconds.checked_mul(1_000_000_000).and_then(|s| s.checked_add(nanos)).ok_or_else(too_large)
}

/// Parses the integer field starting at `line[*pos]` in one pass (ASCII spaces around it allowed, optional sign,
/// 1 to 18 digits) and moves `*pos` past the comma that ends it, or to the end of the line. `None` if the field
/// is not such an integer. One pass, where splitting at commas and then parsing read every byte twice.
#[inline]
fn take_int(line: &[u8], pos: &mut usize) -> Option<i64> {
    let mut i = *pos;
    while line.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let negative = match line.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits_start = i;
    let mut value: i64 = 0;
    while let Some(&b) = line.get(i) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        // Wrapping: more than 18 digits is refused below, before the value is used.
        value = value.wrapping_mul(10).wrapping_add(i64::from(digit));
        i += 1;
    }
    if !(1..=18).contains(&(i - digits_start)) {
        return None;
    }
    while line.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    match line.get(i) {
        None => *pos = i,
        Some(b',') => *pos = i + 1,
        Some(_) => return None,
    }
    Some(if negative { -value } else { value })
}

/// The integer field at `line[*pos]` (see [`take_int`]), or an error naming `field` and showing its text.
#[inline]
fn int_field(lines: &Lines, line: &[u8], pos: &mut usize, field: &'static str) -> Result<i64, MarketError> {
    let start = *pos;
    take_int(line, pos).ok_or_else(|| {
        let text = line[start..].split(|&b| b == b',').next().unwrap_or_default();
        lines.error(field, format!("{} is not an integer", shown(text.trim_ascii())))
    })
}

/// Fields of a comma-separated line. Counted in blocks of 255 bytes into a byte counter, which compilers turn
/// into whole-vector compares and adds (a count widened per byte is several times slower).
fn field_count(line: &[u8]) -> usize {
    let mut commas = 0;
    for block in line.chunks(255) {
        let mut n: u8 = 0;
        for &b in block {
            n += u8::from(b == b',');
        }
        commas += usize::from(n);
    }
    commas + 1
}

/// Names of a LOBSTER orderbook level's fields, in file order.
const LEVEL_FIELDS: [&str; 4] = ["ask price", "ask size", "bid price", "bid size"];

/// [`take_int_back`] for the common field, 1 to 7 digits after a comma, with eight bytes at once (SWAR) instead
/// of a branch per digit; any other field (sign, spaces, longer, the start of the line) goes to [`take_int_back`].
#[inline]
fn take_int_back_fast(line: &[u8], end: usize) -> Option<(i64, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let Some(bytes) = end.checked_sub(8).and_then(|start| line.get(start..end)) else {
        return take_int_back(line, end);
    };
    let word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    // With every byte below 0x80 these sums cannot carry from byte to byte: b + 0x46 reaches 0x80 exactly when
    // b > b'9', b + 0x50 exactly when b >= b'0'.
    let non_digit = ((word.wrapping_add(0x46 * ONES)) | !(word.wrapping_add(0x50 * ONES))) & HIGH;
    if word & HIGH != 0 || non_digit == 0 {
        return take_int_back(line, end);
    }
    // The last non-digit byte (the highest address: the most significant byte here) ends the run of digits.
    let comma = (63 - non_digit.leading_zeros() as usize) / 8;
    let digits = 7 - comma;
    if digits == 0 || bytes[comma] != b',' {
        return take_int_back(line, end);
    }
    // The digits, first digit lowest, moved to the top so that the bytes below are leading zeros.
    let shift = 8 * (8 - digits) as u32;
    let mut v = ((word >> (8 * (comma + 1) as u32)) << shift).wrapping_sub((0x30 * ONES) << shift);
    v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    v = v.wrapping_mul(10_000) + (v >> 32);
    Some(((v & 0xFFFF_FFFF) as i64, end - digits))
}

/// Parses the integer field that ends at `line[..end]` (the end of the line or the comma after it), reading
/// backwards: the same fields as [`take_int`] accepts. Returns the value and where the field starts, which is 0
/// or just after a comma; `None` if the field is not such an integer.
#[inline]
fn take_int_back(line: &[u8], end: usize) -> Option<(i64, usize)> {
    let mut i = end;
    while i > 0 && line[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    let digits_end = i;
    let (mut value, mut scale) = (0i64, 1i64);
    while i > 0 {
        let digit = line[i - 1].wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        // Wrapping: more than 18 digits is refused below, before the value is used.
        value = value.wrapping_add(i64::from(digit).wrapping_mul(scale));
        scale = scale.wrapping_mul(10);
        i -= 1;
    }
    if !(1..=18).contains(&(digits_end - i)) {
        return None;
    }
    let negative = i > 0 && line[i - 1] == b'-';
    if i > 0 && (line[i - 1] == b'-' || line[i - 1] == b'+') {
        i -= 1;
    }
    while i > 0 && line[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    if i > 0 && line[i - 1] != b',' {
        return None;
    }
    Some((if negative { -value } else { value }, i))
}

/// Streams the events of a LOBSTER message file, in time order judged one row ahead
/// ([`crate::order`]: a row with a time in the future is that row's error, not every later row's).
pub struct MessageReader {
    rows: TimeOrdered<MessageRows>,
}

/// The rows of a message file, parsed one by one.
struct MessageRows {
    lines: Lines,
}

impl MessageReader {
    /// Opens a message file (`.csv` or `.csv.gz`).
    pub fn open(path: &Path) -> Result<Self, MarketError> {
        Ok(MessageReader { rows: TimeOrdered::new(MessageRows { lines: Lines::open(path)? }) })
    }

    /// The next event, `Ok(None)` at the end of the file. A row that cannot be read is an error naming its file,
    /// line and field; the rows after it can still be read.
    pub fn next_event(&mut self) -> Result<Option<Event>, MarketError> {
        self.rows.next()
    }

    /// The line number of the last event read (1-based).
    pub fn line(&self) -> usize {
        self.rows.line()
    }

    /// Bytes read from the file so far (compressed, where it is).
    pub fn bytes_read(&self) -> u64 {
        self.rows.rows.lines.bytes_read()
    }
}

impl Rows for MessageRows {
    type Row = Event;

    fn lines(&self) -> &Lines {
        &self.lines
    }

    fn lines_mut(&mut self) -> &mut Lines {
        &mut self.lines
    }

    fn parse_row(&mut self) -> Result<Event, MarketError> {
        let (lines, line) = (&self.lines, self.lines.current());
        let count = field_count(line);
        if count != 6 {
            return Err(lines.error("row", format!("expected 6 comma-separated fields, found {count}")));
        }
        let time_end = memchr::memchr(b',', line).expect("6 fields");
        let time_ns = parse_time_bytes(line[..time_end].trim_ascii()).map_err(|m| lines.error("time", m))?;
        let mut pos = time_end + 1;
        let code = int_field(lines, line, &mut pos, "type")?;
        let kind = EventKind::from_lobster(code)
            .ok_or_else(|| lines.error("type", format!("unknown event type {code} (LOBSTER types are 1..7)")))?;
        let order_id = int_field(lines, line, &mut pos, "order id")?;
        let size = int_field(lines, line, &mut pos, "size")?;
        let price = int_field(lines, line, &mut pos, "price")?;
        let direction = int_field(lines, line, &mut pos, "direction")?;
        let side = match direction {
            1 => Side::Bid,
            -1 => Side::Ask,
            other => return Err(lines.error("direction", format!("{other} is neither 1 (buy) nor -1 (sell)"))),
        };
        if kind.changes_book() {
            if size <= 0 {
                return Err(lines.error("size", format!("{size} is not a positive size")));
            }
            if price <= 0 {
                return Err(lines.error("price", format!("{price} is not a positive price")));
            }
        }
        let order_id = u64::try_from(order_id).map_err(|_| lines.error("order id", "negative order id"))?;
        Ok(Event { time_ns, kind, order_id, size: size.max(0) as u64, price, side })
    }

    fn time_ns(row: &Event) -> i64 {
        row.time_ns
    }
}

/// The level of an orderbook row's price and size (a size of at least 0), `None` if the row shows it empty (LOBSTER's
/// empty price, or no size).
#[inline(always)]
fn non_empty(price: i64, size: i64, empty_price: i64) -> Option<Level> {
    (price != empty_price && size > 0).then_some(Level { price, size: size as u64 })
}

/// Up to [`FRINGE`] non-empty levels of one side, worst first.
#[derive(Default)]
struct FringeSide {
    levels: [Level; FRINGE],
    len: usize,
}

impl FringeSide {
    fn full(&self) -> bool {
        self.len == FRINGE
    }

    /// Takes the level unless it is `None` (empty) or the side is full.
    #[inline(always)]
    fn push_worse(&mut self, level: Option<Level>) {
        if let (Some(level), true) = (level, self.len < FRINGE) {
            self.levels[self.len] = level;
            self.len += 1;
        }
    }

    fn levels(&self) -> &[Level] {
        &self.levels[..self.len]
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

    /// Moves to the next row and checks its shape (4 fields per level, the first row's depth); its levels, or
    /// `None` at the end of the file.
    fn next_row(&mut self) -> Result<Option<usize>, MarketError> {
        if !self.lines.advance()? {
            return Ok(None);
        }
        let count = field_count(self.lines.current());
        if !count.is_multiple_of(4) {
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
        Ok(Some(levels))
    }

    /// The level whose 4 fields start at `line[*pos]`: the non-empty ask and bid (`None` for an empty one).
    #[inline]
    fn level(&self, line: &[u8], pos: &mut usize) -> Result<[Option<Level>; 2], MarketError> {
        let mut v = [0i64; 4];
        for (slot, name) in v.iter_mut().zip(LEVEL_FIELDS) {
            *slot = int_field(&self.lines, line, pos, name)?;
        }
        self.sides(v)
    }

    /// The 4 fields of the level that ends at `line[..*end]`, read backwards; `*end` moves to the comma before
    /// them. `None` if a field is not an integer ([`OrderbookReader::level_back_error`] says which).
    #[inline(always)]
    fn level_back(line: &[u8], end: &mut usize) -> Option<[i64; 4]> {
        let mut field = || {
            let (value, start) = take_int_back_fast(line, *end)?;
            *end = start.saturating_sub(1);
            Some(value)
        };
        let (bid_size, bid_price, ask_size, ask_price) = (field()?, field()?, field()?, field()?);
        Some([ask_price, ask_size, bid_price, bid_size])
    }

    /// The error of the level ending at `line[..end]` that [`OrderbookReader::level_back`] refused or whose sizes
    /// are negative.
    #[cold]
    fn level_back_error(&self, line: &[u8], mut end: usize) -> MarketError {
        for name in LEVEL_FIELDS.iter().rev() {
            let field_end = end;
            let Some((value, start)) = take_int_back(line, field_end) else {
                let start = memchr::memrchr(b',', &line[..field_end]).map_or(0, |c| c + 1);
                return self
                    .lines
                    .error(name, format!("{} is not an integer", shown(line[start..field_end].trim_ascii())));
            };
            if name.ends_with("size") && value < 0 {
                return self.lines.error(name, format!("{value} is negative"));
            }
            end = start.saturating_sub(1);
        }
        unreachable!("a level that parses with non-negative sizes is not an error")
    }

    /// The ask and bid of a level's fields, `None` for an empty side.
    #[inline]
    fn sides(&self, [ask_price, ask_size, bid_price, bid_size]: [i64; 4]) -> Result<[Option<Level>; 2], MarketError> {
        let side = |price: i64, size: i64, empty: i64, name: &'static str| {
            if size < 0 {
                return Err(self.lines.error(name, format!("{size} is negative")));
            }
            Ok(non_empty(price, size, empty))
        };
        Ok([
            side(ask_price, ask_size, EMPTY_ASK_PRICE, "ask size")?,
            side(bid_price, bid_size, EMPTY_BID_PRICE, "bid size")?,
        ])
    }

    fn check_not_crossed(&self, best_ask: Option<&Level>, best_bid: Option<&Level>) -> Result<(), MarketError> {
        match (best_ask, best_bid) {
            (Some(a), Some(b)) if a.price <= b.price => Err(self.crossed(a.price, b.price)),
            _ => Ok(()),
        }
    }

    #[cold]
    fn crossed(&self, ask: i64, bid: i64) -> MarketError {
        self.lines.error("ask price 1", format!("crossed book: ask {ask} <= bid {bid}"))
    }

    /// Reads the next row into `snapshot` (levels replaced; empty levels dropped); `Ok(false)` at the end.
    pub fn next_snapshot(&mut self, snapshot: &mut Snapshot) -> Result<bool, MarketError> {
        let Some(levels) = self.next_row()? else { return Ok(false) };
        snapshot.asks.clear();
        snapshot.bids.clear();
        let (line, mut pos) = (self.lines.current(), 0);
        for _ in 0..levels {
            let [ask, bid] = self.level(line, &mut pos)?;
            snapshot.asks.extend(ask);
            snapshot.bids.extend(bid);
        }
        self.check_not_crossed(snapshot.asks.first(), snapshot.bids.first())?;
        Ok(true)
    }

    /// Reads the next row's worst levels into `fringe`: the levels [`Fringe::of`] takes from the whole row, read
    /// from the end of the line until each side has [`FRINGE`] non-empty levels or the row is exhausted. The
    /// row's shape is checked; the fields of the levels before them are not read (a replayed book has those from
    /// the messages; `tachyon verify-book` checks every field). `Ok(false)` at the end.
    pub fn next_fringe(&mut self, fringe: &mut Fringe) -> Result<bool, MarketError> {
        let Some(levels) = self.next_row()? else { return Ok(false) };
        let line = self.lines.current();
        let (mut asks, mut bids) = (FringeSide::default(), FringeSide::default());
        // The end of the level being read: its trailing comma, or the end of the line.
        let mut end = line.len();
        for level in (0..levels).rev() {
            if asks.full() && bids.full() {
                break;
            }
            let level_end = end;
            let Some([ask_price, ask_size, bid_price, bid_size]) = Self::level_back(line, &mut end) else {
                return Err(self.level_back_error(line, level_end));
            };
            if ask_size < 0 || bid_size < 0 {
                return Err(self.level_back_error(line, level_end));
            }
            let (ask, bid) =
                (non_empty(ask_price, ask_size, EMPTY_ASK_PRICE), non_empty(bid_price, bid_size, EMPTY_BID_PRICE));
            if level == 0 {
                self.check_not_crossed(ask.as_ref(), bid.as_ref())?;
            }
            asks.push_worse(ask);
            bids.push_worse(bid);
        }
        *fringe = Fringe::from_worst_first(asks.levels(), bids.levels());
        Ok(true)
    }

    /// The line number of the last row read (1-based).
    pub fn line(&self) -> usize {
        self.lines.line
    }

    /// Bytes read from the file so far (compressed, where it is).
    pub fn bytes_read(&self) -> u64 {
        self.lines.bytes_read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_straddling_reads_come_out_whole_with_their_numbers() {
        let long = "9".repeat(50);
        let text = format!("1,2\r\n\n  \n34,5\n{long}\r\n\n7,8");
        let path = std::env::temp_dir().join(format!("tachyon-lines-{}.csv", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let expected = [(1, "1,2"), (4, "34,5"), (5, long.as_str()), (7, "7,8")];
        for read_bytes in [1, 2, 3, 7, 64, 1 << 20] {
            let mut lines = Lines::open_with(&path, read_bytes).unwrap();
            let mut got = Vec::new();
            while lines.advance().unwrap() {
                got.push((lines.line, String::from_utf8(lines.current().to_vec()).unwrap()));
            }
            let want: Vec<_> = expected.iter().map(|&(n, l)| (n, l.to_string())).collect();
            assert_eq!(got, want, "read {read_bytes} bytes at a time");
            assert!(!lines.advance().unwrap(), "the end stays the end");
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_line_beyond_the_limit_is_an_error_not_unbounded_memory() {
        let path = std::env::temp_dir().join(format!("tachyon-long-line-{}.csv", std::process::id()));
        std::fs::write(&path, format!("1,2\n{}", "7".repeat(MAX_LINE_BYTES + 1))).unwrap();
        let mut lines = Lines::open(&path).unwrap();
        assert!(lines.advance().unwrap());
        let message = lines.advance().unwrap_err().to_string();
        assert!(message.contains(".csv:2: field `row`") && message.contains("without a line ending"), "{message}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_rows_fringe_read_from_its_end_equals_the_fringe_of_the_whole_row() {
        use crate::book::BookView;
        // Rows of 1 to 7 levels, sides filled to every count (empty levels LOBSTER's way, at the worst end).
        let (ea, eb) = (EMPTY_ASK_PRICE, EMPTY_BID_PRICE);
        let mut rows = Vec::new();
        for levels in 1..=7usize {
            for (filled_asks, filled_bids) in [(levels, levels), (0, levels), (levels, 0), (levels / 2, levels - 1)] {
                let fields: Vec<String> = (0..levels)
                    .map(|i| {
                        let ask = if i < filled_asks { (1000 + i as i64, 10 + i as i64) } else { (ea, 0) };
                        let bid = if i < filled_bids { (999 - i as i64, 20 + i as i64) } else { (eb, 0) };
                        format!("{},{},{},{}", ask.0, ask.1, bid.0, bid.1)
                    })
                    .collect();
                rows.push((levels, fields.join(",")));
            }
        }
        for (levels, row) in rows {
            let path = std::env::temp_dir().join(format!("tachyon-fringe-{}-{levels}.csv", std::process::id()));
            std::fs::write(&path, format!("{row}\n{row}\n")).unwrap();
            let (mut whole, mut tail) = (OrderbookReader::open(&path).unwrap(), OrderbookReader::open(&path).unwrap());
            let mut snapshot = Snapshot::default();
            let mut fringe = Fringe::default();
            while whole.next_snapshot(&mut snapshot).unwrap() {
                assert!(tail.next_fringe(&mut fringe).unwrap());
                assert_eq!(fringe, Fringe::of(BookView::from(&snapshot)), "{row}");
            }
            assert!(!tail.next_fringe(&mut fringe).unwrap());
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn a_fringe_row_of_another_depth_or_with_a_bad_tail_field_is_an_error() {
        let path = std::env::temp_dir().join(format!("tachyon-fringe-bad-{}.csv", std::process::id()));
        let mut fringe = Fringe::default();
        for (text, expected) in [
            ("1,2,0,3\n1,2,0,3,4,5,1,6\n", "2 levels, but the first row had 1"),
            ("1,2,0,3\n1,2,0,x\n", "field `bid size`"),
            ("1,2,0,3\n1,-2,0,3\n", "field `ask size`"),
            ("5,2,6,3\n", "crossed book"),
        ] {
            std::fs::write(&path, text).unwrap();
            let mut reader = OrderbookReader::open(&path).unwrap();
            let error = loop {
                match reader.next_fringe(&mut fringe) {
                    Ok(true) => {}
                    Ok(false) => panic!("{text:?} was accepted"),
                    Err(e) => break e.to_string(),
                }
            };
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_time_in_the_future_is_that_rows_error_and_the_rows_after_it_are_kept() {
        let path = std::env::temp_dir().join(format!("tachyon-future-{}.csv", std::process::id()));
        let rows: Vec<String> = (1..=20)
            .map(|i| {
                let time = if i == 10 { "99999.0".to_string() } else { format!("34200.{i:02}") };
                format!("{time},1,{i},100,5859400,1")
            })
            .collect();
        std::fs::write(&path, rows.join("\n")).unwrap();
        let mut reader = MessageReader::open(&path).unwrap();
        let (mut kept, mut errors) = (Vec::new(), Vec::new());
        loop {
            match reader.next_event() {
                Ok(Some(e)) => kept.push((reader.line(), e.order_id)),
                Ok(None) => break,
                Err(e) => errors.push(e.to_string()),
            }
        }
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(":10: field `time`") && errors[0].contains("in the future"), "{}", errors[0]);
        assert_eq!(kept.len(), 19);
        assert!(kept.iter().all(|&(line, id)| line as u64 == id && id != 10));

        // A row that goes back before the last good row is that row's error, and the next rows go on.
        std::fs::write(&path, "34200.1,1,1,100,5859400,1\n34200.3,1,2,100,5859400,1\n34200.2,1,3,100,5859400,1\n34200.4,1,4,100,5859400,1\n").unwrap();
        let mut reader = MessageReader::open(&path).unwrap();
        assert_eq!(reader.next_event().unwrap().unwrap().order_id, 1);
        assert!(reader.next_event().unwrap_err().to_string().contains(":2: field `time`"));
        assert_eq!(reader.next_event().unwrap().unwrap().order_id, 3);
        assert_eq!(reader.next_event().unwrap().unwrap().order_id, 4);
        assert!(reader.next_event().unwrap().is_none());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn read_ahead_hands_over_every_byte_then_the_sources_error() {
        /// `len` bytes, `step` at a time, then an error if `fail`.
        struct Source {
            len: usize,
            at: usize,
            step: usize,
            fail: bool,
        }
        impl Read for Source {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.at == self.len {
                    return if self.fail { Err(std::io::Error::other("cut short")) } else { Ok(0) };
                }
                let n = buf.len().min(self.step).min(self.len - self.at);
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = ((self.at + i) % 251) as u8;
                }
                self.at += n;
                Ok(n)
            }
        }
        for (len, fail) in [(0, false), (0, true), (5, false), (3 * READ_BYTES + 17, false), (READ_BYTES, true)] {
            let mut reader = ReadAhead::spawn(Source { len, at: 0, step: 4093, fail });
            let mut got = Vec::new();
            let result = reader.read_to_end(&mut got);
            assert_eq!(got.len(), len);
            assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
            assert_eq!(result.is_err(), fail, "{len} bytes, fail {fail}");
        }
    }

    #[test]
    fn integer_fields_parse_in_one_pass() {
        let take_all = |line: &str| -> Option<Vec<i64>> {
            let (line, mut pos, mut out) = (line.as_bytes(), 0, Vec::new());
            while pos < line.len() {
                out.push(take_int(line, &mut pos)?);
            }
            Some(out)
        };
        assert_eq!(take_all("5859400,200, -7 ,+3"), Some(vec![5859400, 200, -7, 3]));
        assert_eq!(take_all("999999999999999999"), Some(vec![999_999_999_999_999_999]));
        for bad in ["12x,3", "1,,2", "1,-", "1, ,2", "1.5", "9999999999999999999", "1 2"] {
            assert_eq!(take_all(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integer_fields_read_backwards_equal_them_read_forwards() {
        let take_all_back = |line: &str| -> Option<Vec<i64>> {
            let (line, mut out) = (line.as_bytes(), Vec::new());
            let mut end = line.len();
            loop {
                let (value, start) = take_int_back(line, end)?;
                out.push(value);
                if start == 0 {
                    break;
                }
                end = start - 1;
            }
            out.reverse();
            Some(out)
        };
        assert_eq!(take_all_back("5859400,200, -7 ,+3"), Some(vec![5859400, 200, -7, 3]));
        assert_eq!(
            take_all_back("999999999999999999,-9999999999"),
            Some(vec![999_999_999_999_999_999, -9_999_999_999])
        );
        for bad in ["12x,3", "1,,2", "1,-", "1, ,2", "1.5", "9999999999999999999", "1 2", "-", "3,"] {
            assert_eq!(take_all_back(bad), None, "{bad:?}");
        }
        for line in
            ["12345678,1", ",1234567", "x,1234567", "7,-123456", "7, 123456", "1,99999999", "0,0000001", "1,2,3"]
        {
            for end in 0..=line.len() {
                assert_eq!(
                    take_int_back_fast(line.as_bytes(), end),
                    take_int_back(line.as_bytes(), end),
                    "{line:?}[..{end}]"
                );
            }
        }
        let mut state = 3u64;
        for _ in 0..2000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let v = (state >> 1) as i64 % 1_000_000_000_000_000_000 * if state & 1 == 0 { 1 } else { -1 };
            let line = format!("{},{v}", v / 7);
            assert_eq!(take_all_back(&line), Some(vec![v / 7, v]), "{line}");
            let short = format!("{},{}", v % 1000, v.unsigned_abs() % 10u64.pow(1 + (state >> 60) as u32 % 8));
            for end in 0..=short.len() {
                assert_eq!(
                    take_int_back_fast(short.as_bytes(), end),
                    take_int_back(short.as_bytes(), end),
                    "{short:?}"
                );
            }
        }
    }

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
        assert!(parse_time_ns(".5").is_err());
        assert!(parse_time_ns("5.").is_ok_and(|t| t == 5_000_000_000));
        assert!(parse_time_ns("1.2.3").is_err());
        assert!(parse_time_ns("99999999999999999999").is_err());
    }
}
