//! Labels: the future mid-price change at a horizon, as a regression target (basis points) and as 3 classes.
//!
//! Row `i`'s label looks only forward from `i` (that is its purpose) and a row's *features* never look forward;
//! a row whose horizon runs past the end of its file gets no label (NaN / [`Labels::UNKNOWN`]), never a guessed
//! "flat".

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

    /// Labels rows with times `time_ns` (non-decreasing) and mids `mid` (price units).
    pub fn compute(spec: &LabelSpec, time_ns: &[i64], mid: &[f64]) -> Labels {
        assert_eq!(time_ns.len(), mid.len());
        let n = mid.len();
        let mut ret_bps = vec![f32::NAN; n];
        match spec.horizon {
            Horizon::Events(h) => {
                for i in 0..n.saturating_sub(h) {
                    ret_bps[i] = change_bps(mid[i], mid[i + h]);
                }
            }
            Horizon::Time(h) => {
                // j: the last row at or before t_i + h; known only once a row at or after t_i + h exists.
                let mut j = 0;
                for i in 0..n {
                    let target = time_ns[i].saturating_add(h);
                    j = j.max(i);
                    while j + 1 < n && time_ns[j + 1] <= target {
                        j += 1;
                    }
                    if time_ns[n - 1] >= target {
                        ret_bps[i] = change_bps(mid[i], mid[j]);
                    }
                }
            }
        }
        let class = ret_bps
            .iter()
            .map(|&r| {
                if r.is_nan() {
                    Labels::UNKNOWN
                } else if f64::from(r) < -spec.flat_bps {
                    0
                } else if f64::from(r) > spec.flat_bps {
                    2
                } else {
                    1
                }
            })
            .collect();
        Labels { ret_bps, class }
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
