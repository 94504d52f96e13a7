//! The streaming feature engine: one [`FeatureEngine::update`] per market update, O(1) work (amortised where a
//! rolling window is recomputed exactly), no allocation after [`FeatureEngine::new`], output into a fixed
//! `[f32; NUM_FEATURES]` in the order of [`crate::schema::FEATURE_NAMES`].
//!
//! Every state variable is f64 (prices converted from integer ticks once per update); only the output is f32.
//! Training (batch extraction) and serving call this same function, so their features are bit-identical.
//! Formulas: docs/FEATURES.md.

use tachyon_market::{BookView, Tick, Units};

use crate::rolling::{alpha_from_half_life, Ring, RollingExtremes, RollingMoments};
use crate::schema::{feature as f, NUM_FEATURES};

// The groups the update writes as runs (`o[first + k]`) must stay contiguous and in this order in the schema.
const _: () = {
    assert!(f::IMBALANCE_CUM_L10 == f::IMBALANCE_L1 + 7);
    assert!(f::RET_E1000_BPS == f::RET_E1_BPS + EVENT_HORIZONS.len() - 1);
    assert!(f::RET_T60S_BPS == f::RET_T1S_BPS + TIME_HORIZONS_CELLS.len() - 1);
    assert!(f::VOL_HL1000_BPS == f::VOL_HL10_BPS + VOL_HALF_LIVES.len() - 1);
    assert!(f::SPREAD_BPS == f::MID + 4);
};

/// Book levels that enter the cumulative features (deeper levels are ignored).
pub const MAX_LEVELS: usize = 10;
/// Resolution of the time-horizon returns, ns (100 ms).
pub const TIME_GRID_NS: i64 = 100_000_000;
const TIME_HORIZONS_CELLS: [usize; 3] = [10, 100, 600];
const EVENT_HORIZONS: [usize; 4] = [1, 10, 100, 1000];
const VOL_HALF_LIVES: [f64; 3] = [10.0, 100.0, 1000.0];
const NS_PER_S: f64 = 1e9;
/// Weight of level i (0-based) in the weighted depth: 1 / (i + 1).
const DEPTH_WEIGHTS: [f64; MAX_LEVELS] =
    [1.0, 1.0 / 2.0, 1.0 / 3.0, 0.25, 0.2, 1.0 / 6.0, 1.0 / 7.0, 0.125, 1.0 / 9.0, 0.1];
const BPS: f64 = 1e4;

/// Best bid and ask (price and size) of one update, for order-flow imbalance.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Top {
    bid_price: i64,
    bid_size: i64,
    ask_price: i64,
    ask_size: i64,
}

/// Incremental state of every feature.
#[derive(Clone, Debug)]
pub struct FeatureEngine {
    /// Currency units per price tick.
    units_per_tick: f64,
    /// Shares per size tick.
    shares_per_tick: f64,
    out: [f32; NUM_FEATURES],
    wide: [f64; NUM_FEATURES],
    updates: u64,
    first_ns: Option<i64>,
    last_ns: i64,
    /// Last mid from a two-sided book (price units); NaN before the first one.
    mid: f64,
    prev_top: Option<Top>,
    mids: Ring<f64>,
    ofi: Ring<i64>,
    ofi_sum_10: i64,
    ofi_sum_100: i64,
    ofi_decay_1s: f64,
    trade_signs: Ring<i8>,
    trade_sign_sum: i64,
    trade_alpha: f64,
    signed_volume: f64,
    volume: f64,
    last_trade_ns: Option<i64>,
    vol_alpha: [f64; 3],
    vol_sq: [f64; 3],
    ret_100: RollingMoments,
    ret_1000: RollingMoments,
    range_100: RollingExtremes,
    range_1000: RollingExtremes,
    /// Mid in effect at the end of each 100-ms cell, the newest being the cell before `cell`.
    cells: Ring<f64>,
    cell: Option<i64>,
    intensity_1s: f64,
    intensity_10s: f64,
    trade_intensity_10s: f64,
}

impl FeatureEngine {
    /// An engine for a source whose integer prices and sizes are in `units` ([`Units::LOBSTER`] for LOBSTER):
    /// prices come out in currency units and sizes in shares, whatever the tick sizes.
    pub fn new(units: Units) -> Self {
        if let Err(bad) = Units::new(units.price_ticks, units.size_ticks) {
            panic!("{bad}");
        }
        FeatureEngine {
            units_per_tick: 1.0 / units.price_ticks,
            shares_per_tick: 1.0 / units.size_ticks,
            out: [0.0; NUM_FEATURES],
            wide: [0.0; NUM_FEATURES],
            updates: 0,
            first_ns: None,
            last_ns: 0,
            mid: f64::NAN,
            prev_top: None,
            mids: Ring::new(EVENT_HORIZONS[3] + 1),
            ofi: Ring::new(100),
            ofi_sum_10: 0,
            ofi_sum_100: 0,
            ofi_decay_1s: 0.0,
            trade_signs: Ring::new(100),
            trade_sign_sum: 0,
            trade_alpha: alpha_from_half_life(50.0),
            signed_volume: 0.0,
            volume: 0.0,
            last_trade_ns: None,
            vol_alpha: VOL_HALF_LIVES.map(alpha_from_half_life),
            vol_sq: [0.0; 3],
            ret_100: RollingMoments::new(100),
            ret_1000: RollingMoments::new(1000),
            range_100: RollingExtremes::new(100),
            range_1000: RollingExtremes::new(1000),
            cells: Ring::new(TIME_HORIZONS_CELLS[2] + 2),
            cell: None,
            intensity_1s: 0.0,
            intensity_10s: 0.0,
            trade_intensity_10s: 0.0,
        }
    }

    /// Whether a two-sided book has been seen (before that, price features are NaN).
    pub fn ready(&self) -> bool {
        self.mid.is_finite()
    }

    /// The mid after the last update, price units (NaN before the first two-sided book; held while a side is
    /// empty).
    pub fn mid(&self) -> f64 {
        self.mid
    }

    /// Updates processed.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The features after the last update.
    pub fn features(&self) -> &[f32; NUM_FEATURES] {
        &self.out
    }

    /// Takes one update (`book` is the book after it: a `&Snapshot` or a [`BookView`] of levels held elsewhere)
    /// and returns every feature.
    pub fn update<'b>(&mut self, tick: &Tick, book: impl Into<BookView<'b>>) -> &[f32; NUM_FEATURES] {
        self.update_view(tick, book.into())
    }

    #[inline(always)]
    fn update_view(&mut self, tick: &Tick, book: BookView<'_>) -> &[f32; NUM_FEATURES] {
        let t = tick.time_ns;
        let first_ns = *self.first_ns.get_or_insert(t);
        let dt_ns = if self.updates == 0 { 0 } else { (t - self.last_ns).max(0) };
        self.last_ns = t;
        self.updates += 1;
        let u = self.units_per_tick;
        // Features are computed in f64 and narrowed to f32 together at the end (one packed conversion).
        let o = &mut self.wide;

        // Time cells for the time-horizon returns: close every cell that ended before this update with the mid
        // in effect then (before this update changes it).
        let cell = t.div_euclid(TIME_GRID_NS);
        match self.cell {
            None => self.cell = Some(cell),
            Some(current) if cell > current => {
                let gap = ((cell - current) as usize).min(self.cells.capacity());
                for _ in 0..gap {
                    self.cells.push(self.mid);
                }
                self.cell = Some(cell);
            }
            Some(_) => {}
        }

        // Book state.
        let (bid, ask) = (book.bids.first(), book.asks.first());
        let prev_mid = self.mid;
        if let (Some(b), Some(a)) = (bid, ask) {
            let (bp, ap) = (b.price as f64 * u, a.price as f64 * u);
            let (bs, asz) = (b.size as i64 as f64, a.size as i64 as f64);
            self.mid = 0.5 * (bp + ap);
            let micro = (ap * bs + bp * asz) / (bs + asz);
            let spread = ap - bp;
            o[f::MID] = self.mid;
            o[f::MICROPRICE] = micro;
            let bps = BPS / self.mid;
            o[f::MICROPRICE_DEV_BPS] = (micro - self.mid) * bps;
            o[f::SPREAD] = spread;
            o[f::SPREAD_BPS] = spread * bps;
        } else if !self.mid.is_finite() {
            o[f::MID..=f::SPREAD_BPS].fill(f64::NAN);
        }
        let mid = self.mid;
        // Every return and distance below is in basis points of the current mid: one division per update.
        let bps = BPS / mid;

        // Depth: sizes of the first MAX_LEVELS levels (0 where the book is shallower), then eight imbalances
        // (levels 1..5, cumulative 3, 5, 10) in one element-wise pass the compiler vectorises.
        // A fixed-count loop per side (unrolled: the sizes stay in registers; a loop over the book's own depth
        // stored them one by one and read them back in pairs, which store-to-load forwarding cannot serve).
        // Sizes go through i64: one instruction, where u64 -> f64 is a sequence.
        let sizes = |side: &[tachyon_market::Level]| -> [f64; MAX_LEVELS] {
            std::array::from_fn(|i| side.get(i).map_or(0.0, |l| l.size as i64 as f64))
        };
        let (b, a) = (sizes(book.bids), sizes(book.asks));
        let (mut cum_b, mut cum_a) = ([0.0f64; MAX_LEVELS], [0.0f64; MAX_LEVELS]);
        let (mut wd_b, mut wd_a, mut sb, mut sa) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..MAX_LEVELS {
            sb += b[i];
            sa += a[i];
            cum_b[i] = sb;
            cum_a[i] = sa;
            wd_b += DEPTH_WEIGHTS[i] * b[i];
            wd_a += DEPTH_WEIGHTS[i] * a[i];
        }
        let num_b = [b[0], b[1], b[2], b[3], b[4], cum_b[2], cum_b[4], cum_b[9]];
        let num_a = [a[0], a[1], a[2], a[3], a[4], cum_a[2], cum_a[4], cum_a[9]];
        for k in 0..8 {
            o[f::IMBALANCE_L1 + k] = imbalance(num_b[k], num_a[k]);
        }
        // Imbalances are ratios, free of the size unit; depths and flows are scaled to shares once, at the end.
        let shares = self.shares_per_tick;
        o[f::WDEPTH_BID] = wd_b * shares;
        o[f::WDEPTH_ASK] = wd_a * shares;
        o[f::WDEPTH_IMBALANCE] = imbalance(wd_b, wd_a);

        // Order-flow imbalance (Cont, Kukanov & Stoikov 2014): exact integer sums of size ticks, then shares.
        let top = Top {
            bid_price: bid.map_or(0, |l| l.price),
            bid_size: bid.map_or(0, |l| l.size as i64),
            ask_price: ask.map_or(0, |l| l.price),
            ask_size: ask.map_or(0, |l| l.size as i64),
        };
        let e = match self.prev_top {
            Some(p) => order_flow(&p, &top),
            None => 0,
        };
        self.prev_top = Some(top);
        let evicted = self.ofi.push(e).unwrap_or(0);
        self.ofi_sum_100 += e - evicted;
        self.ofi_sum_10 += e - self.ofi.back_or(10, 0);
        // Updates often share a timestamp (a sweep is several messages at one ns): no decay, no exp.
        let (decay_1s, decay_10s) = if dt_ns == 0 {
            (1.0, 1.0)
        } else {
            // One exp: exp(-dt/1s) = exp(-dt/10s)^10.
            let d10 = (-(dt_ns as f64) / (10.0 * NS_PER_S)).exp();
            let d2 = d10 * d10;
            let d8 = (d2 * d2) * (d2 * d2);
            (d8 * d2, d10)
        };
        self.ofi_decay_1s = self.ofi_decay_1s * decay_1s + e as f64;
        o[f::OFI_E10] = self.ofi_sum_10 as f64 * shares;
        o[f::OFI_E100] = self.ofi_sum_100 as f64 * shares;
        o[f::OFI_T1S] = self.ofi_decay_1s * shares;

        // Trades.
        self.intensity_1s = self.intensity_1s * decay_1s + 1.0;
        self.intensity_10s = self.intensity_10s * decay_10s + 1.0;
        self.trade_intensity_10s *= decay_10s;
        if let Some(trade) = tick.trade {
            let sign = trade.sign;
            let evicted = self.trade_signs.push(sign).unwrap_or(0);
            self.trade_sign_sum += i64::from(sign) - i64::from(evicted);
            let size = trade.size as i64 as f64;
            self.signed_volume += self.trade_alpha * (f64::from(sign) * size - self.signed_volume);
            self.volume += self.trade_alpha * (size - self.volume);
            self.last_trade_ns = Some(t);
            self.trade_intensity_10s += 1.0;
            // These two change only with a trade (they start at 0): two divisions saved on every other update.
            o[f::TRADE_SIGN_IMB_100] = self.trade_sign_sum as f64 / self.trade_signs.len() as f64;
            o[f::TRADE_VOL_IMB_HL50] = if self.volume > 0.0 { self.signed_volume / self.volume } else { 0.0 };
        }

        // Returns over events and time, in basis points of the earlier mid (0 while the earlier mid is unknown).
        self.mids.push(mid);
        for (k, h) in EVENT_HORIZONS.into_iter().enumerate() {
            o[f::RET_E1_BPS + k] = change_bps(mid, self.mids.back_or(h, f64::NAN), bps);
        }
        for (k, cells) in TIME_HORIZONS_CELLS.into_iter().enumerate() {
            // The mid in effect at the start of the cell holding t - H: the end of the cell before it.
            o[f::RET_T1S_BPS + k] = change_bps(mid, self.cells.back_or(cells, f64::NAN), bps);
        }

        // Volatility and rolling statistics of one-update returns, and rolling extremes of the mid.
        let r1 = change_bps(mid, prev_mid, bps);
        for k in 0..3 {
            self.vol_sq[k] += self.vol_alpha[k] * (r1 * r1 - self.vol_sq[k]);
        }
        self.ret_100.push(r1);
        self.ret_1000.push(r1);
        // Five square roots side by side, so that they go through the packed square root together.
        let squares =
            [self.vol_sq[0], self.vol_sq[1], self.vol_sq[2], self.ret_100.variance(), self.ret_1000.variance()];
        let roots = squares.map(|v| zero_if_nan(v.sqrt()));
        o[f::VOL_HL10_BPS..=f::VOL_HL1000_BPS].copy_from_slice(&roots[..3]);
        o[f::RET_MEAN_E100_BPS] = self.ret_100.mean();
        o[f::RET_STD_E100_BPS] = roots[3];
        o[f::RET_MEAN_E1000_BPS] = self.ret_1000.mean();
        o[f::RET_STD_E1000_BPS] = roots[4];
        let (max_100, min_100) = self.range_100.push(mid);
        let (max_1000, min_1000) = self.range_1000.push(mid);
        o[f::MID_MAX_E100_BPS] = change_bps(max_100, mid, bps);
        o[f::MID_MIN_E100_BPS] = change_bps(mid, min_100, bps);
        o[f::MID_MAX_E1000_BPS] = change_bps(max_1000, mid, bps);
        o[f::MID_MIN_E1000_BPS] = change_bps(mid, min_1000, bps);

        // Time.
        o[f::TIME_SINCE_TRADE_S] = (t - self.last_trade_ns.unwrap_or(first_ns)) as f64 * (1.0 / NS_PER_S);
        o[f::INTENSITY_T1S] = self.intensity_1s;
        o[f::INTENSITY_T10S] = self.intensity_10s * 0.1;
        o[f::TRADE_INTENSITY_T10S] = self.trade_intensity_10s * 0.1;
        o[f::TIME_OF_DAY_H] = t.rem_euclid(86_400_000_000_000) as f64 * (1.0 / 3.6e12);
        for (narrow, &wide) in self.out.iter_mut().zip(&self.wide) {
            *narrow = wide as f32;
        }
        &self.out
    }
}

/// `(b - a) / (b + a)`, 0 when both are 0 (written as a select, so a loop of them vectorises).
#[inline(always)]
fn imbalance(b: f64, a: f64) -> f64 {
    let total = b + a;
    let ratio = (b - a) / total;
    if total > 0.0 {
        ratio
    } else {
        0.0
    }
}

/// `(now - then) * bps`, with `bps` = 10,000 / current mid: a change in basis points of the current mid; 0 when
/// either price is unknown.
#[inline(always)]
fn change_bps(now: f64, then: f64, bps: f64) -> f64 {
    let r = (now - then) * bps;
    if r.is_finite() {
        r
    } else {
        0.0
    }
}

#[inline(always)]
fn zero_if_nan(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x
    }
}

/// Order-flow contribution of one update (Cont, Kukanov & Stoikov 2014, eq. 10): bid-side size added at or above
/// the previous best bid, minus size removed at or below it; the ask side mirrored. A side that is empty before or
/// after contributes nothing.
#[inline(always)]
fn order_flow(prev: &Top, now: &Top) -> i64 {
    let mut e = 0;
    if prev.bid_size > 0 && now.bid_size > 0 {
        if now.bid_price >= prev.bid_price {
            e += now.bid_size;
        }
        if now.bid_price <= prev.bid_price {
            e -= prev.bid_size;
        }
    }
    if prev.ask_size > 0 && now.ask_size > 0 {
        if now.ask_price <= prev.ask_price {
            e -= now.ask_size;
        }
        if now.ask_price >= prev.ask_price {
            e += prev.ask_size;
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_market::{Level, Snapshot, Trade};

    fn book(bid: (i64, u64), ask: (i64, u64)) -> Snapshot {
        Snapshot { bids: vec![Level { price: bid.0, size: bid.1 }], asks: vec![Level { price: ask.0, size: ask.1 }] }
    }

    fn tick(time_ns: i64, trade: Option<Trade>) -> Tick {
        Tick { time_ns, event_id: 0, trade }
    }

    #[test]
    fn book_features_follow_their_formulas() {
        let mut e = FeatureEngine::new(Units { price_ticks: 100.0, size_ticks: 1.0 });
        let f = *e.update(&tick(0, None), &book((10_000, 300), (10_002, 100)));
        assert_eq!(f[0], 100.01);
        // microprice = (ask * bid_size + bid * ask_size) / (bid_size + ask_size)
        assert_eq!(f[1], ((100.02 * 300.0 + 100.0 * 100.0) / 400.0) as f32);
        assert_eq!(f[3], 0.02f32);
        assert_eq!(f[5], 0.5);
        assert_eq!(f[12], 0.5);
        assert!(f[21..28].iter().all(|&r| r == 0.0), "no history: returns are 0");
    }

    #[test]
    fn a_borrowed_view_gives_the_features_of_the_snapshot() {
        // Levels stored flat elsewhere (as a replay buffer holds them: 10 bids best first, then 10 asks) and the
        // same books as snapshots, at depths 1..10.
        let bid = |i: i64| Level { price: 9_999 - i, size: 7 * i as u64 + 1 };
        let ask = |i: i64| Level { price: 10_001 + i, size: 5 * i as u64 + 3 };
        let levels: Vec<Level> = (0..10).map(bid).chain((0..10).map(ask)).collect();
        let (mut owned, mut borrowed) = (
            FeatureEngine::new(Units { price_ticks: 100.0, size_ticks: 1.0 }),
            FeatureEngine::new(Units { price_ticks: 100.0, size_ticks: 1.0 }),
        );
        for k in 0..30usize {
            let depth = 1 + k % 10;
            let (bids, asks) = (&levels[..depth], &levels[10..10 + depth]);
            let snapshot = Snapshot { bids: bids.to_vec(), asks: asks.to_vec() };
            let t = tick(1_000 * k as i64, None);
            let a = *owned.update(&t, &snapshot);
            let b = *borrowed.update(&t, BookView { bids, asks });
            assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "update {k}");
        }
    }

    #[test]
    fn order_flow_imbalance_matches_the_paper_cases() {
        let p = Top { bid_price: 100, bid_size: 10, ask_price: 105, ask_size: 20 };
        // Queue grows at an unchanged best bid: the difference.
        assert_eq!(order_flow(&p, &Top { bid_size: 15, ..p }), 5);
        // Bid improves: the whole new queue.
        assert_eq!(order_flow(&p, &Top { bid_price: 101, bid_size: 7, ..p }), 7);
        // Best bid consumed, the next is lower: minus the old queue.
        assert_eq!(order_flow(&p, &Top { bid_price: 99, bid_size: 50, ..p }), -10);
        // Ask improves (down): minus the new queue; ask recedes (up): plus the old one.
        assert_eq!(order_flow(&p, &Top { ask_price: 104, ask_size: 7, ..p }), -7);
        assert_eq!(order_flow(&p, &Top { ask_price: 106, ask_size: 30, ..p }), 20);
        // An empty side contributes nothing.
        assert_eq!(order_flow(&p, &Top { bid_size: 0, ..p }), 0);
    }

    #[test]
    fn returns_use_the_mid_h_updates_ago() {
        let mut e = FeatureEngine::new(Units { price_ticks: 1.0, size_ticks: 1.0 });
        for i in 0..20i64 {
            let f = *e.update(&tick(i, None), &book((100 + i, 1), (102 + i, 1)));
            if i >= 10 {
                let expected = ((101 + i) as f64 - (101 + i - 10) as f64) * (1e4 / (101 + i) as f64);
                assert_eq!(f[22], expected as f32);
            }
        }
    }

    #[test]
    fn time_returns_look_back_whole_cells() {
        let mut e = FeatureEngine::new(Units { price_ticks: 1.0, size_ticks: 1.0 });
        // Mid 100 until 0.95 s, then 110 from 1.0 s on.
        e.update(&tick(0, None), &book((99, 1), (101, 1)));
        e.update(&tick(950_000_000, None), &book((99, 1), (101, 1)));
        let f = *e.update(&tick(1_000_000_000, None), &book((109, 1), (111, 1)));
        // At t = 1.0 s, t - 1 s = 0 lies in cell 0, whose start has no mid yet: 0.
        assert_eq!(f[25], 0.0);
        let f = *e.update(&tick(1_150_000_000, None), &book((109, 1), (111, 1)));
        // At 1.15 s, t - 1 s = 0.15 s is in cell 1; the mid at its start (end of cell 0) was 100.
        assert_eq!(f[25], (10.0 * (1e4 / 110.0)) as f32);
    }

    #[test]
    fn trades_move_the_trade_features() {
        let mut e = FeatureEngine::new(Units { price_ticks: 1.0, size_ticks: 1.0 });
        let b = book((99, 1), (101, 1));
        e.update(&tick(0, None), &b);
        let buy = Some(Trade { price: 101, size: 10, sign: 1 });
        let f = *e.update(&tick(2_000_000_000, buy), &b);
        assert_eq!(f[19], 1.0);
        assert_eq!(f[20], 1.0);
        assert_eq!(f[39], 0.0);
        let f = *e.update(&tick(3_500_000_000, None), &b);
        assert_eq!(f[39], 1.5);
    }
}
