//! The generic quotes-and-trades CSV, for users' own data (any venue, any asset).
//!
//! A header row names the columns (any order; other columns are ignored):
//!
//! | column | rows | meaning |
//! |---|---|---|
//! | `time_ns` *or* `time` | all | integer nanoseconds since any epoch, *or* decimal seconds (rounded to the ns) |
//! | `type` | all | `quote` (or `q`) or `trade` (or `t`), case-insensitive |
//! | `bid_price`, `bid_size`, `ask_price`, `ask_size` | quote | best bid and ask after the update (size 0: side empty) |
//! | `price`, `size`, `side` | trade | the print; `side` is the aggressor: `buy`/`b`/`1`, `sell`/`s`/`-1`, empty if unknown |
//!
//! Prices are decimals and become integer ticks once, exactly (no float on the way): with `price_decimals = 4`
//! (the default, LOBSTER's unit) `101.25` is 1,012,500 ticks; more decimals than that is an error, not a
//! rounding. Sizes are non-negative decimals in whole units (a fractional size, as crypto venues have, is
//! scaled by `size_decimals`). Time must not go backwards (judged one row ahead: a row with a time in the future
//! is that row's error); a quote with ask <= bid is a crossed book and an
//! error. A trade row reports the book as the last quote left it.

use std::path::Path;

use crate::book::{BookView, Level};
use crate::error::{shown, MarketError};
use crate::lobster::{parse_time_ns, Lines};
use crate::order::{Rows, TimeOrdered};
use crate::tick::{Tick, TickSource, Trade, Units};

/// A small file in this format: quotes, trades of both signs (long and short type names), an emptied side.
pub const EXAMPLE: &str = "\
time,type,bid_price,bid_size,ask_price,ask_size,price,size,side
34200.000000001,quote,100.00,300,100.02,100,,,
34200.5,trade,,,,,100.02,50,buy
34201,quote,100.01,200,100.02,50,,,
34201.5,t,,,,,100.01,20,sell
34202,q,100.01,0,100.03,10,,,
";

/// How to read prices and sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotesCsvConfig {
    /// Decimal places of a price tick (4: ticks are 1/10,000 of the currency unit).
    pub price_decimals: u32,
    /// Decimal places of a size unit (0: whole shares or contracts).
    pub size_decimals: u32,
}

impl Default for QuotesCsvConfig {
    fn default() -> Self {
        QuotesCsvConfig { price_decimals: 4, size_decimals: 0 }
    }
}

#[derive(Clone, Copy, Default)]
struct Columns {
    time_ns: Option<usize>,
    time: Option<usize>,
    kind: Option<usize>,
    bid_price: Option<usize>,
    bid_size: Option<usize>,
    ask_price: Option<usize>,
    ask_size: Option<usize>,
    price: Option<usize>,
    size: Option<usize>,
    side: Option<usize>,
}

/// Streams ticks from a quotes/trades CSV (`.csv` or `.csv.gz`), in time order judged one row ahead
/// ([`crate::order`]: a row with a time in the future is that row's error, not every later row's).
pub struct QuotesCsv {
    rows: TimeOrdered<QuoteRows>,
    bid: Option<Level>,
    ask: Option<Level>,
}

/// The rows of a quotes/trades CSV, parsed one by one.
struct QuoteRows {
    lines: Lines,
    config: QuotesCsvConfig,
    columns: Columns,
    fields: Vec<(usize, usize)>,
}

/// One parsed row.
#[derive(Clone, Copy)]
struct QuoteRow {
    time_ns: i64,
    /// A trade, or the quote's best bid and ask (`None`: that side empty).
    what: RowKind,
}

#[derive(Clone, Copy)]
enum RowKind {
    Quote { bid: Option<Level>, ask: Option<Level> },
    Trade(Trade),
}

fn find(header: &[&str], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
}

/// Parses a non-negative decimal into an integer scaled by 10^decimals, exactly; `None` if malformed, too
/// precise or too large.
pub fn parse_scaled_decimal(text: &[u8], decimals: u32) -> Option<i64> {
    let text = text.trim_ascii();
    let dot = text.iter().position(|&b| b == b'.').unwrap_or(text.len());
    let (int, frac) = (&text[..dot], text.get(dot + 1..).unwrap_or(&[]));
    if int.is_empty() && frac.is_empty() || !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    // Trailing zeros beyond the scale are harmless ("1.250000"); other digits would need rounding.
    let significant = frac.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1);
    if significant > decimals as usize {
        return None;
    }
    let mut value: i64 = 0;
    for &b in int {
        value = value.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    for i in 0..decimals as usize {
        let digit = frac.get(i).map_or(0, |&b| i64::from(b - b'0'));
        value = value.checked_mul(10)?.checked_add(digit)?;
    }
    Some(value)
}

impl QuotesCsv {
    /// Opens a file and reads its header.
    pub fn open(path: &Path, config: QuotesCsvConfig) -> Result<Self, MarketError> {
        let mut lines = Lines::open(path)?;
        let header =
            if lines.advance()? { String::from_utf8_lossy(lines.current()).into_owned() } else { String::new() };
        let error = |field, message: String| lines.error(field, message);
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let columns = Columns {
            time_ns: find(&names, &["time_ns"]),
            time: find(&names, &["time"]),
            kind: find(&names, &["type"]),
            bid_price: find(&names, &["bid_price"]),
            bid_size: find(&names, &["bid_size"]),
            ask_price: find(&names, &["ask_price"]),
            ask_size: find(&names, &["ask_size"]),
            price: find(&names, &["price"]),
            size: find(&names, &["size"]),
            side: find(&names, &["side"]),
        };
        if columns.time_ns.is_none() && columns.time.is_none() {
            return Err(error("header", format!("no `time_ns` or `time` column in {}", shown(header.as_bytes()))));
        }
        if columns.kind.is_none() {
            return Err(error("header", format!("no `type` column in {}", shown(header.as_bytes()))));
        }
        let quote = [columns.bid_price, columns.bid_size, columns.ask_price, columns.ask_size];
        let trade = [columns.price, columns.size];
        if quote.iter().all(Option::is_none) && trade.iter().all(Option::is_none) {
            return Err(error("header", format!("neither quote nor trade columns in {}", shown(header.as_bytes()))));
        }
        if quote.iter().any(Option::is_some) && quote.iter().any(Option::is_none) {
            return Err(error("header", "quote columns need all of bid_price, bid_size, ask_price, ask_size".into()));
        }
        if trade.iter().any(Option::is_some) && trade.iter().any(Option::is_none) {
            return Err(error("header", "trade columns need both price and size".into()));
        }
        let rows = QuoteRows { lines, config, columns, fields: Vec::with_capacity(16) };
        Ok(QuotesCsv { rows: TimeOrdered::new(rows), bid: None, ask: None })
    }
}

impl QuoteRows {
    fn error(&self, field: &'static str, message: impl Into<String>) -> MarketError {
        self.lines.error(field, message)
    }

    fn field(&self, column: Option<usize>, name: &'static str) -> Result<&[u8], MarketError> {
        let column = column.ok_or_else(|| self.error(name, "the header has no such column"))?;
        let &(start, end) = self
            .fields
            .get(column)
            .ok_or_else(|| self.error(name, format!("missing (row has {} fields)", self.fields.len())))?;
        Ok(self.lines.current()[start..end].trim_ascii())
    }

    fn scaled(&self, column: Option<usize>, name: &'static str, decimals: u32) -> Result<i64, MarketError> {
        let text = self.field(column, name)?;
        parse_scaled_decimal(text, decimals).ok_or_else(|| {
            self.error(
                name,
                format!("{} is not a non-negative decimal with at most {decimals} decimal places", shown(text)),
            )
        })
    }

    fn level(
        &self,
        price: Option<usize>,
        price_name: &'static str,
        size: Option<usize>,
        size_name: &'static str,
    ) -> Result<Option<Level>, MarketError> {
        let size = self.scaled(size, size_name, self.config.size_decimals)?;
        if size == 0 {
            return Ok(None);
        }
        let price = self.scaled(price, price_name, self.config.price_decimals)?;
        if price == 0 {
            return Err(self.error(price_name, "zero price with a positive size"));
        }
        Ok(Some(Level { price, size: size as u64 }))
    }
}

impl Rows for QuoteRows {
    type Row = QuoteRow;

    fn lines(&self) -> &Lines {
        &self.lines
    }

    fn lines_mut(&mut self) -> &mut Lines {
        &mut self.lines
    }

    fn parse_row(&mut self) -> Result<QuoteRow, MarketError> {
        self.fields.clear();
        let mut start = 0;
        let line = self.lines.current();
        for (i, &b) in line.iter().enumerate() {
            if b == b',' {
                self.fields.push((start, i));
                start = i + 1;
            }
        }
        self.fields.push((start, line.len()));

        let time_ns = if self.columns.time_ns.is_some() {
            let text = self.field(self.columns.time_ns, "time_ns")?;
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| self.error("time_ns", format!("{} is not an integer", shown(text))))?
        } else {
            let text = self.field(self.columns.time, "time")?;
            parse_time_ns(&String::from_utf8_lossy(text)).map_err(|m| self.error("time", m))?
        };
        let kind = self.field(self.columns.kind, "type")?;
        let what = if kind.eq_ignore_ascii_case(b"quote") || kind.eq_ignore_ascii_case(b"q") {
            let c = self.columns;
            let bid = self.level(c.bid_price, "bid_price", c.bid_size, "bid_size")?;
            let ask = self.level(c.ask_price, "ask_price", c.ask_size, "ask_size")?;
            if let (Some(b), Some(a)) = (bid, ask) {
                if a.price <= b.price {
                    return Err(self.error("ask_price", format!("crossed book: ask {} <= bid {}", a.price, b.price)));
                }
            }
            RowKind::Quote { bid, ask }
        } else if kind.eq_ignore_ascii_case(b"trade") || kind.eq_ignore_ascii_case(b"t") {
            let price = self.scaled(self.columns.price, "price", self.config.price_decimals)?;
            let size = self.scaled(self.columns.size, "size", self.config.size_decimals)?;
            if price == 0 || size == 0 {
                return Err(
                    self.error(if price == 0 { "price" } else { "size" }, "a trade needs a positive price and size")
                );
            }
            let side = if self.columns.side.is_some() { self.field(self.columns.side, "side")? } else { b"" };
            let sign = match side.to_ascii_lowercase().as_slice() {
                b"buy" | b"b" | b"1" | b"+1" => 1,
                b"sell" | b"s" | b"-1" => -1,
                b"" => 0,
                other => return Err(self.error("side", format!("{} is not buy/b/1, sell/s/-1 or empty", shown(other)))),
            };
            RowKind::Trade(Trade { price, size: size as u64, sign })
        } else {
            return Err(self.error("type", format!("{} is neither quote nor trade", shown(kind))));
        };
        Ok(QuoteRow { time_ns, what })
    }

    fn time_ns(row: &QuoteRow) -> i64 {
        row.time_ns
    }
}

impl TickSource for QuotesCsv {
    fn next_tick(&mut self) -> Result<Option<Tick>, MarketError> {
        let Some(row) = self.rows.next()? else { return Ok(None) };
        let trade = match row.what {
            RowKind::Quote { bid, ask } => {
                (self.bid, self.ask) = (bid, ask);
                None
            }
            RowKind::Trade(trade) => Some(trade),
        };
        Ok(Some(Tick { time_ns: row.time_ns, event_id: self.rows.line() as u64, trade }))
    }

    fn book(&self) -> BookView<'_> {
        BookView { asks: self.ask.as_slice(), bids: self.bid.as_slice() }
    }

    fn path(&self) -> &Path {
        &self.rows.rows.lines.path
    }

    fn units(&self) -> Units {
        let config = self.rows.rows.config;
        Units::decimals(config.price_decimals, config.size_decimals)
    }

    fn bytes_read(&self) -> u64 {
        self.rows.rows.lines.bytes_read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_exact_ticks() {
        assert_eq!(parse_scaled_decimal(b"101.25", 4), Some(1_012_500));
        assert_eq!(parse_scaled_decimal(b" 7 ", 2), Some(700));
        assert_eq!(parse_scaled_decimal(b"0.0001", 4), Some(1));
        assert_eq!(parse_scaled_decimal(b"1.250000", 2), Some(125));
        assert_eq!(parse_scaled_decimal(b".5", 1), Some(5));
        assert_eq!(parse_scaled_decimal(b"0.00001", 4), None);
        assert_eq!(parse_scaled_decimal(b"-1", 4), None);
        assert_eq!(parse_scaled_decimal(b"NaN", 4), None);
        assert_eq!(parse_scaled_decimal(b"1e3", 4), None);
        assert_eq!(parse_scaled_decimal(b"", 4), None);
        assert_eq!(parse_scaled_decimal(b".", 4), None);
        assert_eq!(parse_scaled_decimal(b"99999999999999999999", 0), None);
    }
}
