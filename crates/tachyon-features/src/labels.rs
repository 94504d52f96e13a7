//! Labels: the future mid-price change at a horizon, as a regression target (basis points) and as 3 classes.
//!
//! Row `i`'s label looks only forward from `i` (that is its purpose) and a row's *features* never look forward;
//! a row whose horizon runs past the end of its file gets no label (NaN / [`Labels::UNKNOWN`]), never a guessed
//! "flat".

use std::collections::VecDeque;

/// How far ahead the label looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Horizon {
    /// `n` updates ahead.
    Events(usize),
    /// The mid in effect `ns` nanoseconds later (after the last update at or before `t + ns`).
    Time(i64),
}

impl std::fmt::Display for Horizon {
    /// `100 updates` or `250 ms` (the units `--horizon-events` and `--horizon-ms` take).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Horizon::Events(n) => write!(f, "{n} updates"),
            Horizon::Time(ns) => write!(f, "{} ms", *ns as f64 / 1e6),
        }
    }
}

/// What to label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelSpec {
    /// Horizon.
    pub horizon: Horizon,
    /// A change within +-this many basis points is "flat".
    pub flat_bps: f64,
}

impl Default for LabelSpec {
    fn default() -> Self {
        LabelSpec { horizon: Horizon::Events(100), flat_bps: 0.5 }
    }
}

/// Labels of a file's rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Labels {
    /// Future mid change, basis points of the current mid; NaN where the horizon passes the end of the file.
    pub ret_bps: Vec<f32>,
    /// 0 down, 1 flat, 2 up, [`Labels::UNKNOWN`] where `ret_bps` is NaN.
    pub class: Vec<i8>,
}

impl Labels {
    /// Class of a row without a label.
    pub const UNKNOWN: i8 = -1;

    /// Labels rows with times `time_ns` (non-decreasing) and mids `mid` (price units) that are all at hand.
    pub fn compute(spec: &LabelSpec, time_ns: &[i64], mid: &[f64]) -> Labels {
        assert_eq!(time_ns.len(), mid.len());
        let mut stream = LabelStream::new(*spec);
        let mut labels = Labels::default();
        for (&t, &m) in time_ns.iter().zip(mid) {
            stream.push(t, m, &mut labels);
        }
        stream.finish(&mut labels);
        labels
    }

    /// Rows labelled.
    pub fn len(&self) -> usize {
        self.ret_bps.len()
    }

    /// Whether no row is labelled.
    pub fn is_empty(&self) -> bool {
        self.ret_bps.is_empty()
    }

    fn push(&mut self, ret_bps: f32, flat_bps: f64) {
        let class = if ret_bps.is_nan() {
            Labels::UNKNOWN
        } else if f64::from(ret_bps) < -flat_bps {
            0
        } else if f64::from(ret_bps) > flat_bps {
            2
        } else {
            1
        };
        self.ret_bps.push(ret_bps);
        self.class.push(class);
    }
}

/// Labels computed as rows arrive, holding only the rows whose horizon has not passed yet (the next N updates, or
/// the updates of the next T ns), never the whole file: a row is labelled as soon as the row that settles it
/// arrives, in row order.
#[derive(Clone, Debug)]
pub struct LabelStream {
    spec: LabelSpec,
    /// Time and mid of the rows not labelled yet, oldest first.
    pending: VecDeque<(i64, f64)>,
    /// Time and mid of the latest row.
    latest: Option<(i64, f64)>,
}

impl LabelStream {
    /// A stream with no rows.
    pub fn new(spec: LabelSpec) -> LabelStream {
        LabelStream { spec, pending: VecDeque::new(), latest: None }
    }

    /// Rows waiting for their label.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds the next row (time non-decreasing); appends to `out` the labels of the earlier rows it settles.
    pub fn push(&mut self, time_ns: i64, mid: f64, out: &mut Labels) {
        match self.spec.horizon {
            Horizon::Events(h) => {
                self.pending.push_back((time_ns, mid));
                if self.pending.len() > h {
                    let (_, then) = self.pending.pop_front().expect("more than h rows");
                    out.push(change_bps(then, mid), self.spec.flat_bps);
                }
            }
            Horizon::Time(h) => {
                // A row's label is the mid of the last row at or before its time + h, settled by the first row
                // after that time (the row before it is the last one at or before).
                while let (Some(&(t, then)), Some((_, before))) = (self.pending.front(), self.latest) {
                    if time_ns <= t.saturating_add(h) {
                        break;
                    }
                    out.push(change_bps(then, before), self.spec.flat_bps);
                    self.pending.pop_front();
                }
                self.pending.push_back((time_ns, mid));
            }
        }
        self.latest = Some((time_ns, mid));
    }

    /// The end of the rows: labels every pending row, NaN where its horizon passes the last row.
    pub fn finish(&mut self, out: &mut Labels) {
        for (t, then) in self.pending.drain(..) {
            let ret = match (self.spec.horizon, self.latest) {
                (Horizon::Time(h), Some((last_t, last_mid))) if last_t >= t.saturating_add(h) => {
                    change_bps(then, last_mid)
                }
                _ => f32::NAN,
            };
            out.push(ret, self.spec.flat_bps);
        }
    }
}

fn change_bps(now: f64, later: f64) -> f32 {
    ((later - now) / now * 1e4) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_horizon_labels_look_exactly_h_ahead_and_no_further() {
        let mid = [100.0, 101.0, 100.0, 100.0, 102.0];
        let t = [0, 1, 2, 3, 4];
        let l = Labels::compute(&LabelSpec { horizon: Horizon::Events(2), flat_bps: 1.0 }, &t, &mid);
        assert_eq!(&l.ret_bps[..3], &[0.0, change_bps(101.0, 100.0), 200.0]);
        assert!(l.ret_bps[3].is_nan() && l.ret_bps[4].is_nan());
        assert_eq!(l.class, vec![1, 0, 2, -1, -1]);
    }

    /// The definition, row by row over all rows at hand: what the stream must equal.
    fn reference(spec: &LabelSpec, t: &[i64], mid: &[f64]) -> Vec<f32> {
        let n = mid.len();
        (0..n)
            .map(|i| match spec.horizon {
                Horizon::Events(h) => {
                    if i + h < n {
                        change_bps(mid[i], mid[i + h])
                    } else {
                        f32::NAN
                    }
                }
                Horizon::Time(h) => {
                    let target = t[i].saturating_add(h);
                    let j = (i..n).take_while(|&j| t[j] <= target).last().unwrap();
                    if t[n - 1] >= target {
                        change_bps(mid[i], mid[j])
                    } else {
                        f32::NAN
                    }
                }
            })
            .collect()
    }

    #[test]
    fn streamed_labels_equal_the_definition_on_random_times_with_ties() {
        let mut state = 11u64;
        let mut next = |m: u64| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % m
        };
        for n in [0usize, 1, 2, 3, 17, 300] {
            let mut t = vec![0i64; n];
            for i in 1..n {
                t[i] = t[i - 1] + next(4) as i64;
            }
            let mid: Vec<f64> = (0..n).map(|_| 100.0 + next(50) as f64 * 0.01).collect();
            for horizon in [
                Horizon::Events(1),
                Horizon::Events(5),
                Horizon::Events(400),
                Horizon::Time(0),
                Horizon::Time(3),
                Horizon::Time(1000),
            ] {
                let spec = LabelSpec { horizon, flat_bps: 1.0 };
                let got = Labels::compute(&spec, &t, &mid);
                let want = reference(&spec, &t, &mid);
                assert_eq!(got.len(), n);
                for (i, (g, w)) in got.ret_bps.iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "{horizon} row {i} of {n}");
                }
            }
        }
    }

    #[test]
    fn a_stream_holds_only_the_rows_inside_the_horizon() {
        let mut stream = LabelStream::new(LabelSpec { horizon: Horizon::Time(10), flat_bps: 0.0 });
        let mut out = Labels::default();
        for i in 0..10_000 {
            stream.push(i * 3, 100.0, &mut out);
            assert!(stream.pending() <= 5, "{} rows held at row {i}", stream.pending());
        }
        assert_eq!(out.len() + stream.pending(), 10_000);
    }

    #[test]
    fn time_horizon_takes_the_mid_in_effect_then() {
        let t = [0, 5, 10, 30, 31];
        let mid = [100.0, 110.0, 120.0, 130.0, 140.0];
        let l = Labels::compute(&LabelSpec { horizon: Horizon::Time(10), flat_bps: 0.0 }, &t, &mid);
        // t=0 -> last row at or before 10 is t=10 (120); t=5 -> 15 -> t=10 (120); t=10 -> 20 -> t=10 (itself);
        // t=30 -> 40 is past the end: unknown.
        assert_eq!(l.ret_bps[0], 2000.0);
        assert_eq!(l.ret_bps[1], change_bps(110.0, 120.0));
        assert_eq!(l.ret_bps[2], 0.0);
        assert!(l.ret_bps[3].is_nan() && l.ret_bps[4].is_nan());
    }
}
