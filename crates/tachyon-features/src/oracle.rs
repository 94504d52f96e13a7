//! An independent oracle for the 44 features: each recomputed from its definition in docs/FEATURES.md by plain
//! code over the whole series (windows summed and searched directly, time-decayed sums summed term by term over
//! the past; only the three event-count EWMAs of r^2 use their defining recursion, since a direct sum over a
//! half-life of 1000 updates would take 60,000 terms per row), from LOBSTER files read here by a parser of its
//! own, with LOBSTER's orderbook rows as the book (not our replay). Nothing here shares code with the engine, so
//! [`compare_with_engine`] is a check of the engine, not of itself. It holds whole files in memory: a validation
//! tool for a symbol-day, not a production path.
//!
//! Bound: |engine - oracle| <= [`RELATIVE_BOUND`] |oracle| + [`ABSOLUTE_BOUND`] per value (units of the feature).
//! The engine narrows to f32 (2^-24 relative), its rolling sums and EWMAs are recursions whose rounding drifts
//! between exact recomputations (docs/FEATURES.md: 1.5e-5 relative on a rolling std at worst), and the oracle
//! truncates its decayed sums where the weights fall below 1e-12 (a relative error of 1e-12 at most).

use std::io::Read;
use std::path::{Path, PathBuf};

use tachyon_market::QuotesCsvConfig;

use crate::schema::{feature as f, FEATURE_NAMES, NUM_FEATURES};
use crate::{extract, ExtractOptions, Input};

/// Relative part of the bound on |engine - oracle|.
pub const RELATIVE_BOUND: f64 = 2e-5;
/// Absolute part of the bound on |engine - oracle|, units of the feature.
pub const ABSOLUTE_BOUND: f64 = 1e-6;

/// A file the oracle could not read, or a row it could not parse.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// A row the oracle's parser rejects.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The files could not be read, or the engine failed on them.
    #[error("{0}")]
    Read(String),
}

/// One message and the book after it, as the files say.
pub struct OracleRow {
    time_ns: i64,
    /// Aggressor sign and size of a trade (executions of types 4 and 5 hit the message's side; 6 has no sign).
    trade: Option<(f64, f64)>,
    /// (price in dollars, size) per level, best first; LOBSTER's empty-level dummies left out.
    bids: Vec<(f64, f64)>,
    asks: Vec<(f64, f64)>,
}

fn read_text(path: &Path) -> Result<String, OracleError> {
    let mut text = String::new();
    tachyon_market::lobster::open(path)
        .map_err(|e| OracleError::Read(e.to_string()))?
        .read_to_string(&mut text)
        .map_err(|e| OracleError::Read(format!("{}: {e}", path.display())))?;
    Ok(text)
}

/// Seconds with up to 9 decimals to ns, by digits.
fn ns(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac = format!("{frac:0<9}");
    Some(whole.parse::<i64>().ok()?.checked_mul(1_000_000_000)? + frac.parse::<i64>().ok()?)
}

/// Reads a LOBSTER message file and its orderbook file, row by row.
pub fn load(message: &Path, orderbook: &Path) -> Result<Vec<OracleRow>, OracleError> {
    let (m, o) = (read_text(message)?, read_text(orderbook)?);
    let mut rows = Vec::new();
    for (i, (m, o)) in m.lines().zip(o.lines()).enumerate() {
        let bad = |path: &Path, message: &str| OracleError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message: message.to_string(),
        };
        let m: Vec<&str> = m.split(',').collect();
        if m.len() < 6 {
            return Err(bad(message, "fewer than 6 fields"));
        }
        let kind: i32 = m[1].parse().map_err(|_| bad(message, "type"))?;
        let number = |text: &str, what: &str| text.parse::<f64>().map_err(|_| bad(message, what));
        let (size, price, direction) = (number(m[3], "size")?, number(m[4], "price")?, number(m[5], "direction")?);
        let trade = match kind {
            4 | 5 => Some(-direction),
            6 => Some(0.0),
            _ => None,
        }
        .filter(|_| size > 0.0 && price > 0.0)
        .map(|sign| (sign, size));
        let o = o
            .split(',')
            .map(str::parse::<f64>)
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|_| bad(orderbook, "a level"))?;
        let level = |i: usize| (o[i] / 1e4, o[i + 1]);
        let real = |(p, s): &(f64, f64)| *s > 0.0 && p.abs() < 999_999.0;
        let asks = (0..o.len() / 4).map(|l| level(4 * l)).filter(real).collect();
        let bids = (0..o.len() / 4).map(|l| level(4 * l + 2)).filter(real).collect();
        let time_ns = ns(m[0]).ok_or_else(|| bad(message, "time"))?;
        rows.push(OracleRow { time_ns, trade, bids, asks });
    }
    Ok(rows)
}

/// Every feature of every row, by its definition. `None` for rows without a two-sided book.
pub fn definitions(rows: &[OracleRow]) -> Vec<Option<[f64; NUM_FEATURES]>> {
    let n = rows.len();
    let t: Vec<i64> = rows.iter().map(|r| r.time_ns).collect();
    let seconds = |a: usize, b: usize| (t[a] - t[b]) as f64 / 1e9;
    // The mid after each update, held while a side is empty (NaN before the first two-sided book).
    let mut mid = vec![f64::NAN; n];
    for i in 0..n {
        let r = &rows[i];
        mid[i] = match (r.bids.first(), r.asks.first()) {
            (Some(b), Some(a)) => 0.5 * (b.0 + a.0),
            _ if i > 0 => mid[i - 1],
            _ => f64::NAN,
        };
    }
    let change = |now: f64, then: f64, m: f64| {
        let r = (now - then) * 1e4 / m;
        if r.is_finite() {
            r
        } else {
            0.0
        }
    };
    // Order-flow contribution of each update against the previous one's best levels.
    let e: Vec<f64> = (0..n)
        .map(|i| {
            if i == 0 {
                return 0.0;
            }
            let (p, c) = (&rows[i - 1], &rows[i]);
            let mut e = 0.0;
            if let (Some(pb), Some(cb)) = (p.bids.first(), c.bids.first()) {
                e += if cb.0 >= pb.0 { cb.1 } else { 0.0 } - if cb.0 <= pb.0 { pb.1 } else { 0.0 };
            }
            if let (Some(pa), Some(ca)) = (p.asks.first(), c.asks.first()) {
                e += if ca.0 >= pa.0 { pa.1 } else { 0.0 } - if ca.0 <= pa.0 { ca.1 } else { 0.0 };
            }
            e
        })
        .collect();
    let r1: Vec<f64> = (0..n).map(|i| if i == 0 { 0.0 } else { change(mid[i], mid[i - 1], mid[i]) }).collect();
    let trades: Vec<usize> = (0..n).filter(|&i| rows[i].trade.is_some()).collect();
    // The mid in effect just before time `at`: after the last update earlier than it.
    let mid_before = |at: i64| match t.partition_point(|&x| x < at) {
        0 => f64::NAN,
        k => mid[k - 1],
    };
    let decayed = |i: usize, over: &[usize], tau_s: f64, value: &dyn Fn(usize) -> f64| -> f64 {
        over[..over.partition_point(|&j| j <= i)]
            .iter()
            .rev()
            .map(|&j| (j, (-seconds(i, j) / tau_s).exp()))
            .take_while(|&(_, w)| w > 1e-12)
            .map(|(j, w)| w * value(j))
            .sum()
    };
    let all: Vec<usize> = (0..n).collect();
    // EWMA(r^2) with alpha = 1 - 2^(-1/hl), from 0.
    let vol_sq: Vec<Vec<f64>> = [10.0f64, 100.0, 1000.0]
        .iter()
        .map(|half_life| {
            let a = 1.0 - 2f64.powf(-1.0 / half_life);
            r1.iter()
                .scan(0.0, |v, r| {
                    *v = (1.0 - a) * *v + a * r * r;
                    Some(*v)
                })
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if !mid[i].is_finite() {
            out.push(None);
            continue;
        }
        let mut x = [0.0f64; NUM_FEATURES];
        let r = &rows[i];
        let m = mid[i];
        // A finite mid is a two-sided row or one held from the last two-sided row: the book features of a one-sided
        // row have no definition to check (the engine emits no such row).
        let (Some(&(bp, bs)), Some(&(ap, as_))) = (r.bids.first(), r.asks.first()) else {
            out.push(None);
            continue;
        };
        let micro = (ap * bs + bp * as_) / (bs + as_);
        x[f::MID] = m;
        x[f::MICROPRICE] = micro;
        x[f::MICROPRICE_DEV_BPS] = (micro - m) * 1e4 / m;
        x[f::SPREAD] = ap - bp;
        x[f::SPREAD_BPS] = (ap - bp) * 1e4 / m;
        let size = |side: &[(f64, f64)], l: usize| side.get(l).map_or(0.0, |v| v.1);
        let imbalance = |b: f64, a: f64| if b + a > 0.0 { (b - a) / (b + a) } else { 0.0 };
        for l in 0..5 {
            x[f::IMBALANCE_L1 + l] = imbalance(size(&r.bids, l), size(&r.asks, l));
        }
        for (k, depth) in [3, 5, 10].into_iter().enumerate() {
            let (b, a): (f64, f64) = (0..depth)
                .map(|l| (size(&r.bids, l), size(&r.asks, l)))
                .fold((0.0, 0.0), |s, v| (s.0 + v.0, s.1 + v.1));
            x[f::IMBALANCE_CUM_L3 + k] = imbalance(b, a);
        }
        let wdepth = |side: &[(f64, f64)]| (0..10).map(|l| size(side, l) / (l + 1) as f64).sum::<f64>();
        x[f::WDEPTH_BID] = wdepth(&r.bids);
        x[f::WDEPTH_ASK] = wdepth(&r.asks);
        x[f::WDEPTH_IMBALANCE] = imbalance(x[f::WDEPTH_BID], x[f::WDEPTH_ASK]);
        x[f::OFI_E10] = e[i.saturating_sub(9)..=i].iter().sum();
        x[f::OFI_E100] = e[i.saturating_sub(99)..=i].iter().sum();
        x[f::OFI_T1S] = decayed(i, &all, 1.0, &|j| e[j]);
        let past_trades = &trades[..trades.partition_point(|&j| j <= i)];
        if !past_trades.is_empty() {
            let last = &past_trades[past_trades.len().saturating_sub(100)..];
            x[f::TRADE_SIGN_IMB_100] = last.iter().map(|&j| rows[j].trade.unwrap().0).sum::<f64>() / last.len() as f64;
            // EWMA(sign size) / EWMA(size) over trades, half-life 50 trades: the same weights on both sides.
            let w = 2f64.powf(-1.0 / 50.0);
            let (mut signed, mut volume, mut weight) = (0.0, 0.0, 1.0);
            for &j in past_trades.iter().rev() {
                let (sign, size) = rows[j].trade.unwrap();
                signed += weight * sign * size;
                volume += weight * size;
                weight *= w;
                if weight < 1e-12 {
                    break;
                }
            }
            x[f::TRADE_VOL_IMB_HL50] = if volume > 0.0 { signed / volume } else { 0.0 };
        }
        for (k, h) in [1usize, 10, 100, 1000].into_iter().enumerate() {
            x[f::RET_E1_BPS + k] = if i >= h { change(m, mid[i - h], m) } else { 0.0 };
        }
        for (k, horizon_ms) in [1_000i64, 10_000, 60_000].into_iter().enumerate() {
            // The start of the 100-ms cell holding t - H.
            let start = (t[i] - horizon_ms * 1_000_000).div_euclid(100_000_000) * 100_000_000;
            x[f::RET_T1S_BPS + k] = change(m, mid_before(start), m);
        }
        for k in 0..3 {
            x[f::VOL_HL10_BPS + k] = vol_sq[k][i].sqrt();
        }
        for (mean_at, std_at, window) in
            [(f::RET_MEAN_E100_BPS, f::RET_STD_E100_BPS, 100), (f::RET_MEAN_E1000_BPS, f::RET_STD_E1000_BPS, 1000)]
        {
            let w = &r1[(i + 1).saturating_sub(window)..=i];
            let mean = w.iter().sum::<f64>() / w.len() as f64;
            x[mean_at] = mean;
            x[std_at] = if w.len() < 2 {
                0.0
            } else {
                (w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (w.len() - 1) as f64).sqrt()
            };
        }
        for (max_at, min_at, window) in
            [(f::MID_MAX_E100_BPS, f::MID_MIN_E100_BPS, 100), (f::MID_MAX_E1000_BPS, f::MID_MIN_E1000_BPS, 1000)]
        {
            let w = &mid[(i + 1).saturating_sub(window)..=i];
            let (hi, lo) = w.iter().fold((f64::MIN, f64::MAX), |(hi, lo), &v| (hi.max(v), lo.min(v)));
            x[max_at] = change(hi, m, m);
            x[min_at] = change(m, lo, m);
        }
        x[f::TIME_SINCE_TRADE_S] = seconds(i, past_trades.last().copied().unwrap_or(0));
        x[f::INTENSITY_T1S] = decayed(i, &all, 1.0, &|_| 1.0);
        x[f::INTENSITY_T10S] = decayed(i, &all, 10.0, &|_| 1.0) / 10.0;
        x[f::TRADE_INTENSITY_T10S] = decayed(i, past_trades, 10.0, &|_| 1.0) / 10.0;
        x[f::TIME_OF_DAY_H] = t[i].rem_euclid(86_400_000_000_000) as f64 / 3.6e12;
        out.push(Some(x));
    }
    out
}

/// The engine against the oracle on one symbol-day.
#[derive(Clone, Debug)]
pub struct OracleReport {
    /// Rows the engine emitted, each compared on every feature.
    pub rows: usize,
    /// Rows the oracle defines (every two-sided row): equal to `rows` when the engine emits each of them.
    pub defined_rows: usize,
    /// Per feature: the largest error as a share of its bound, and the line of the message file where it occurred.
    pub worst: [(f64, u64); NUM_FEATURES],
    /// Values beyond their bound.
    pub failures: usize,
    /// The first value beyond its bound, described.
    pub first_failure: Option<String>,
}

impl OracleReport {
    /// Whether every value is within its bound and every defined row was emitted.
    pub fn passed(&self) -> bool {
        self.failures == 0 && self.rows == self.defined_rows
    }

    /// The feature with the largest error as a share of its bound: (name, share, line).
    pub fn worst_feature(&self) -> (&'static str, f64, u64) {
        let (j, (share, line)) =
            self.worst.iter().enumerate().max_by(|a, b| a.1 .0.total_cmp(&b.1 .0)).expect("44 features");
        (FEATURE_NAMES[j], *share, *line)
    }
}

/// Extracts the features of a LOBSTER message file with the engine (our book, replayed from the messages) and
/// compares every value of every row with the oracle's, computed from the message and orderbook files.
pub fn compare_with_engine(message: &Path, orderbook: &Path) -> Result<OracleReport, OracleError> {
    let expected = definitions(&load(message, orderbook)?);
    let input = Input::detect(message, QuotesCsvConfig::default(), None);
    let engine = input
        .open()
        .and_then(|mut source| extract(source.as_mut(), &ExtractOptions::default()))
        .map_err(|e| OracleError::Read(e.to_string()))?;
    let mut report = OracleReport {
        rows: 0,
        defined_rows: expected.iter().flatten().count(),
        worst: [(0.0, 0); NUM_FEATURES],
        failures: 0,
        first_failure: None,
    };
    for (row, &id) in engine.event_id.iter().enumerate() {
        let Some(want) = expected.get(id as usize - 1).copied().flatten() else {
            report.failures += 1;
            report.first_failure.get_or_insert_with(|| format!("line {id}: a row without a two-sided book"));
            continue;
        };
        for (j, (&got, want)) in engine.row(row).iter().zip(want).enumerate() {
            let error = (f64::from(got) - want).abs();
            let share = error / (RELATIVE_BOUND * want.abs() + ABSOLUTE_BOUND);
            if share.is_nan() || share > 1.0 {
                report.failures += 1;
                report.first_failure.get_or_insert_with(|| {
                    format!("line {id}: {} = {got}, definition {want} (error {error:e})", FEATURE_NAMES[j])
                });
            }
            if share > report.worst[j].0 || share.is_nan() {
                report.worst[j] = (share, id);
            }
        }
        report.rows += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_by_their_digits() {
        assert_eq!(ns("34200.004241176"), Some(34_200_004_241_176));
        assert_eq!(ns("1.5"), Some(1_500_000_000));
        assert_eq!(ns("1.1234567891"), None);
        assert_eq!(ns("x"), None);
    }
}
