//! A Coinbase level-2 websocket recording (the format cryptofeed records: `<receive time>: <message JSON>` per
//! line) as a [`Feed`] and a [`TickSource`] for one product: a feed with no order IDs, the book kept from level
//! updates.
//!
//! - `snapshot` (the whole aggregated book): the book cleared and set level by level, the tick on the last level;
//! - `l2update`: each `[side, price, new_size]` change sets that level's total (0 removes it), the tick on the last
//!   change;
//! - `match` and `last_match` (trades, `side` = the resting order's side): the trade goes with the tick of the
//!   product's next level update (the one that takes the traded size off the book), never dropped: a trade still
//!   pending at the end of the file comes with a repeat of the last level change (which changes nothing);
//! - other messages (`ticker`, `subscriptions`, `heartbeat`), other products, and the lines the recorder writes about
//!   its own connection (`wss://...`) carry nothing for the book and are passed over.
//!
//! Times are the recording's receive times (seconds since the Unix epoch, in ns): they follow the order of the
//! lines, which the exchange's own `time` fields do not across message types. Prices and sizes are decimal strings
//! read exactly into integer ticks of 10^-8 (Coinbase quotes at most 8 decimals); more decimals, a malformed line or
//! a time going backwards is an error naming the file, line and field.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::book::{Book, BookView, Side};
use crate::error::{shown, MarketError};
use crate::lobster::Lines;
use crate::quotes_csv::parse_scaled_decimal;
use crate::tick::{Tick, TickSource, Trade, Units};
use crate::update::{BookChange, Feed, Update};

/// A small recording of one product, in the recorder's format (for docs, tests and fuzzing seeds).
pub const EXAMPLE: &str = r#"wss://ws-feed.pro.coinbase.com <-> 1618677816.8434298
1618677817.078905: {"type":"snapshot","product_id":"SKL-GBP","asks":[["0.5762","2865.9"],["0.5767","6327.2"]],"bids":[["0.5741","1200.5"],["0.5738","310"]]}
1618677817.1102: {"type":"l2update","product_id":"SKL-GBP","changes":[["buy","0.5745","150.0"]],"time":"2021-04-17T16:43:37.096834Z"}
1618677817.2301: {"type":"ticker","product_id":"SKL-GBP","best_bid":"0.5745","best_ask":"0.5762"}
1618677817.3312: {"type":"match","product_id":"SKL-GBP","side":"sell","price":"0.5762","size":"865.9"}
1618677817.3318: {"type":"l2update","product_id":"SKL-GBP","changes":[["sell","0.5762","2000.00000000"]],"time":"2021-04-17T16:43:37.321001Z"}
1618677817.5105: {"type":"l2update","product_id":"SKL-GBP","changes":[["buy","0.5741","0"],["sell","0.5764","42.5"]],"time":"2021-04-17T16:43:37.500102Z"}
"#;

/// Decimal places of Coinbase prices and sizes.
pub const DECIMALS: u32 = 8;

/// What the integer prices and sizes of a Coinbase feed are in: 10^-8 of the quote currency and of the coin.
pub const UNITS: Units = Units { price_ticks: 1e8, size_ticks: 1e8 };

/// One message, as far as the book needs it.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    product_id: Option<&'a str>,
    #[serde(default, borrow)]
    bids: Vec<[&'a str; 2]>,
    #[serde(default, borrow)]
    asks: Vec<[&'a str; 2]>,
    #[serde(default, borrow)]
    changes: Vec<[&'a str; 3]>,
    #[serde(default, borrow)]
    price: Option<&'a str>,
    #[serde(default, borrow)]
    size: Option<&'a str>,
    #[serde(default, borrow)]
    side: Option<&'a str>,
}

/// The products a recording holds, with their level updates (snapshot levels and changes), in order of first
/// appearance: what to choose from when a file holds several.
pub fn products(path: &Path) -> Result<Vec<(String, u64)>, MarketError> {
    let mut lines = Lines::open(path)?;
    let mut found: Vec<(String, u64)> = Vec::new();
    while lines.advance()? {
        let Some((_, json)) = split_line(&lines)? else { continue };
        let message: Message<'_> = parse(&lines, json)?;
        let (Some(product), true) = (message.product_id, matches!(message.kind, "snapshot" | "l2update")) else {
            continue;
        };
        let levels = (message.bids.len() + message.asks.len() + message.changes.len()) as u64;
        match found.iter_mut().find(|(p, _)| p == product) {
            Some((_, n)) => *n += levels,
            None => found.push((product.to_string(), levels)),
        }
    }
    Ok(found)
}

/// Whether `path` looks like a Coinbase recording: its first line is the recorder's connection line or a
/// received message (`<seconds>: {...}`).
pub fn is_recording(path: &Path) -> bool {
    let Ok(mut lines) = Lines::open(path) else { return false };
    if !matches!(lines.advance(), Ok(true)) {
        return false;
    }
    let line = lines.current();
    line.starts_with(b"wss://")
        || memchr::memchr(b':', line).is_some_and(|colon| {
            parse_scaled_decimal(&line[..colon], 9).is_some() && line[colon + 1..].trim_ascii_start().starts_with(b"{")
        })
}

/// The receive time and the message of a line, or `None` for a line the recorder wrote about its connection.
fn split_line(lines: &Lines) -> Result<Option<(i64, &[u8])>, MarketError> {
    let line = lines.current();
    if line.starts_with(b"wss://") {
        return Ok(None);
    }
    let Some(colon) = memchr::memchr(b':', line) else {
        return Err(lines.error("row", format!("expected `<time>: <message>`, got {}", shown(line))));
    };
    let time = &line[..colon];
    let ns = parse_scaled_decimal(time, 9)
        .ok_or_else(|| lines.error("time", format!("expected seconds since the epoch, got {}", shown(time))))?;
    Ok(Some((ns, &line[colon + 1..])))
}

fn parse<'a>(lines: &Lines, json: &'a [u8]) -> Result<Message<'a>, MarketError> {
    serde_json::from_slice(json).map_err(|e| lines.error("message", format!("not a Coinbase message: {e}")))
}

/// Reads one product of a Coinbase level-2 recording.
pub struct CoinbaseL2 {
    lines: Lines,
    product: String,
    pending: Vec<Update>,
    /// A trade waiting for the next level update, and its line.
    trade: Option<(Trade, u64)>,
    /// The last level change handed out: repeated (a no-op) to carry a trade left at the end of the file.
    last_level: Option<BookChange>,
    last_time_ns: i64,
    done: bool,
}

impl CoinbaseL2 {
    /// Opens `path` for `product`, or for the only product the file holds (found by reading it through once); a
    /// file with several products and none chosen is an error listing them.
    pub fn open(path: &Path, product: Option<&str>) -> Result<CoinbaseL2, MarketError> {
        let product = match product {
            Some(p) => p.to_string(),
            None => match products(path)?.as_slice() {
                [(only, _)] => only.clone(),
                [] => return Err(problem(path, "no snapshot or l2update message in the recording".into())),
                found => {
                    let listed = listed(found);
                    return Err(problem(path, format!("the recording holds several products: {listed}; choose one")));
                }
            },
        };
        Ok(CoinbaseL2 {
            lines: Lines::open(path)?,
            product,
            pending: Vec::with_capacity(64),
            trade: None,
            last_level: None,
            last_time_ns: i64::MIN,
            done: false,
        })
    }

    /// The product read.
    pub fn product(&self) -> &str {
        &self.product
    }

    /// The updates of the next message that changes the product's book; `Ok(false)` at the end.
    fn read(&mut self, out: &mut Vec<Update>) -> Result<bool, MarketError> {
        out.clear();
        while !self.done {
            if !self.lines.advance()? {
                self.done = true;
                let Some(change) = self.last_level else {
                    let found = products(&self.lines.path)?;
                    let message =
                        format!("no product {:?} in the recording; it holds {}", self.product, listed(&found));
                    return Err(problem(&self.lines.path, message));
                };
                // A trade after the last level update, with a repeat of that update.
                if let Some((trade, line)) = self.trade.take() {
                    let tick = Tick { time_ns: self.last_time_ns, event_id: line, trade: Some(trade) };
                    out.push(Update { change, tick: Some(tick) });
                    return Ok(true);
                }
                return Ok(false);
            }
            let Some((time_ns, json)) = split_line(&self.lines)? else { continue };
            let message = parse(&self.lines, json)?;
            if message.product_id != Some(self.product.as_str()) {
                continue;
            }
            let kind = message.kind;
            if !matches!(kind, "snapshot" | "l2update" | "match" | "last_match") {
                continue;
            }
            if time_ns < self.last_time_ns {
                return Err(self.lines.error("time", format!("{time_ns} ns is before the previous message's")));
            }
            let lines = &self.lines;
            let decimal = |text: &str, field| {
                parse_scaled_decimal(text.as_bytes(), DECIMALS).ok_or_else(|| {
                    lines
                        .error(field, format!("expected a decimal of at most 8 places, got {}", shown(text.as_bytes())))
                })
            };
            let side_of = |text: &str| match text {
                "buy" => Ok(Side::Bid),
                "sell" => Ok(Side::Ask),
                other => Err(lines.error("side", format!("expected `buy` or `sell`, got {}", shown(other.as_bytes())))),
            };
            let level = |side, price: &str, size: &str| -> Result<Update, MarketError> {
                let size = decimal(size, "size")?;
                let change = BookChange::Level { side, price: decimal(price, "price")?, size: size as u64 };
                Ok(Update { change, tick: None })
            };
            let pending = &mut self.pending;
            pending.clear();
            match kind {
                "match" | "last_match" => {
                    let missing = |name| lines.error(name, "missing");
                    let resting = side_of(message.side.ok_or_else(|| missing("side"))?)?;
                    let price = decimal(message.price.ok_or_else(|| missing("price"))?, "price")?;
                    let size = decimal(message.size.ok_or_else(|| missing("size"))?, "size")? as u64;
                    // The resting order's side: a resting bid was hit by a seller.
                    let sign = if resting == Side::Bid { -1 } else { 1 };
                    self.trade = Some((Trade { price, size, sign }, self.lines.line as u64));
                    self.last_time_ns = time_ns;
                    continue;
                }
                "snapshot" => {
                    pending.push(Update { change: BookChange::Clear, tick: None });
                    for [price, size] in &message.asks {
                        pending.push(level(Side::Ask, price, size)?);
                    }
                    for [price, size] in &message.bids {
                        pending.push(level(Side::Bid, price, size)?);
                    }
                }
                _ => {
                    for [side, price, size] in &message.changes {
                        pending.push(level(side_of(side)?, price, size)?);
                    }
                    if pending.is_empty() {
                        continue;
                    }
                }
            }
            self.last_time_ns = time_ns;
            let tick = Tick { time_ns, event_id: self.lines.line as u64, trade: self.trade.take().map(|(t, _)| t) };
            let last = pending.last_mut().expect("at least the clear or one change");
            last.tick = Some(tick);
            if matches!(last.change, BookChange::Level { .. }) {
                self.last_level = Some(last.change);
            }
            out.append(pending);
            return Ok(true);
        }
        Ok(false)
    }
}

fn listed(found: &[(String, u64)]) -> String {
    found.iter().map(|(p, n)| format!("{p} ({n} level updates)")).collect::<Vec<_>>().join(", ")
}

fn problem(path: &Path, message: String) -> MarketError {
    MarketError::Parse { path: path.to_path_buf(), line: 0, field: "product_id", message }
}

impl Feed for CoinbaseL2 {
    fn next_updates(&mut self, out: &mut Vec<Update>) -> Result<bool, MarketError> {
        self.read(out)
    }

    fn units(&self) -> Units {
        UNITS
    }

    fn name(&self) -> String {
        format!("{} ({})", self.lines.path.display(), self.product)
    }
}

/// The same recording as ticks with the book after each, for batch extraction: the updates applied to a book of
/// its own.
pub struct CoinbaseReplay {
    feed: CoinbaseL2,
    book: Book,
    updates: Vec<Update>,
    path: PathBuf,
}

impl CoinbaseReplay {
    /// See [`CoinbaseL2::open`].
    pub fn open(path: &Path, product: Option<&str>) -> Result<CoinbaseReplay, MarketError> {
        Ok(CoinbaseReplay {
            feed: CoinbaseL2::open(path, product)?,
            book: Book::with_capacity(64),
            updates: Vec::new(),
            path: path.to_path_buf(),
        })
    }
}

impl TickSource for CoinbaseReplay {
    fn next_tick(&mut self) -> Result<Option<Tick>, MarketError> {
        if !self.feed.read(&mut self.updates)? {
            return Ok(None);
        }
        let mut tick = None;
        for update in &self.updates {
            self.book.apply_change(&update.change);
            tick = update.tick.or(tick);
        }
        Ok(tick)
    }

    fn book(&self) -> BookView<'_> {
        self.book.view()
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn units(&self) -> Units {
        UNITS
    }

    fn bytes_read(&self) -> u64 {
        self.feed.lines.bytes_read()
    }
}
