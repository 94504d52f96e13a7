//! What a model was fitted on, feature by feature: the inputs it leaves out and the range each input it uses
//! spanned in training, so that scoring or serving it on other data can say, by name, when an input has drifted
//! far from anything the model saw (a price level of another stock, sizes of another market).

use crate::ModelFile;

/// Text entry of the model file naming the inputs training left out (comma-separated).
const EXCLUDED_KEY: &str = "train.excluded_features";
/// Arrays of the model file holding each input's training range: its 0.1st and 99.9th percentiles.
const LOW_KEY: &str = "train.p001";
const HIGH_KEY: &str = "train.p999";
/// Lower and upper percentile of a training range, as fractions.
const RANGE_QUANTILES: (f64, f64) = (0.001, 0.999);
/// Share of rows outside the widened range (see [`TrainingRanges::outside`]) from which an input has drifted.
pub const DRIFT_SHARE: f64 = 0.01;

/// Per input: whether the model uses it, and the range it spanned over the training rows.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingRanges {
    /// Input names, in order.
    pub names: Vec<String>,
    /// Whether training left the input out (its weights are zero: it cannot affect a prediction).
    pub excluded: Vec<bool>,
    /// 0.1st percentile per input over the training rows, feature units.
    pub low: Vec<f64>,
    /// 99.9th percentile per input, feature units.
    pub high: Vec<f64>,
}

/// An input far outside its training range on a share of the rows scored.
#[derive(Clone, Debug, PartialEq)]
pub struct Drift {
    /// The input's name.
    pub name: String,
    /// Share of the rows outside the widened training range, in (0, 1].
    pub share: f64,
    /// Median of the input over the rows scored, feature units.
    pub median: f64,
    /// The training range (0.1st and 99.9th percentiles), feature units.
    pub low: f64,
    /// See `low`.
    pub high: f64,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "input `{}` is far outside its training range on {:.1}% of rows (training {:.6}..{:.6}, here median \
             {:.6}): the model never saw such values, its predictions there are extrapolation",
            self.name,
            100.0 * self.share,
            self.low,
            self.high,
            self.median
        )
    }
}

impl TrainingRanges {
    /// The ranges of `rows` (row-major, one value per name), with the inputs `excluded` left out.
    pub fn fit(rows: &[f32], names: &[&str], excluded: &[bool]) -> TrainingRanges {
        let width = names.len();
        assert_eq!(excluded.len(), width, "one flag per input");
        let n = rows.len() / width.max(1);
        let (mut low, mut high) = (Vec::with_capacity(width), Vec::with_capacity(width));
        let mut column = Vec::with_capacity(n);
        for j in 0..width {
            column.clear();
            column.extend(rows.chunks_exact(width).map(|r| f64::from(r[j])).filter(|v| v.is_finite()));
            let (lo, hi) = quantile_pair(&mut column, RANGE_QUANTILES);
            low.push(lo);
            high.push(hi);
        }
        TrainingRanges { names: names.iter().map(|s| s.to_string()).collect(), excluded: excluded.to_vec(), low, high }
    }

    /// Writes the ranges and the excluded inputs into `model`.
    pub fn record(&self, model: &mut ModelFile) {
        let excluded: Vec<&str> =
            self.names.iter().zip(&self.excluded).filter(|(_, &e)| e).map(|(n, _)| n.as_str()).collect();
        model.text.push((EXCLUDED_KEY.into(), excluded.join(",")));
        model.arrays.push((LOW_KEY.into(), self.low.clone()));
        model.arrays.push((HIGH_KEY.into(), self.high.clone()));
    }

    /// The ranges `model` records (`None` for a file that records none, or records them for other inputs).
    pub fn from_model(model: &ModelFile) -> Option<TrainingRanges> {
        let (low, high) = (model.array(LOW_KEY)?, model.array(HIGH_KEY)?);
        let names = &model.feature_names;
        if low.len() != names.len() || high.len() != names.len() {
            return None;
        }
        let listed: Vec<&str> = model.text(EXCLUDED_KEY).unwrap_or("").split(',').filter(|s| !s.is_empty()).collect();
        Some(TrainingRanges {
            names: names.clone(),
            excluded: names.iter().map(|n| listed.contains(&n.as_str())).collect(),
            low: low.to_vec(),
            high: high.to_vec(),
        })
    }

    /// Whether `value` of input `j` is far outside its training range: beyond the 0.1st..99.9th percentile range
    /// widened by its own width on each side (a constant input: by its magnitude, or 1 if it is 0). Within that,
    /// values are ordinary tails; beyond it, the model extrapolates.
    #[inline]
    pub fn outside(&self, j: usize, value: f64) -> bool {
        let (lo, hi) = self.bounds(j);
        !(value >= lo && value <= hi)
    }

    /// The values of input `j` beyond which it is far outside its training range (see
    /// [`outside`](Self::outside)); infinite for an excluded input.
    pub fn bounds(&self, j: usize) -> (f64, f64) {
        if self.excluded[j] {
            return (f64::NEG_INFINITY, f64::INFINITY);
        }
        let (lo, hi) = (self.low[j], self.high[j]);
        let width = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
        (lo - width, hi + width)
    }

    /// The inputs the model uses that drifted on `rows` (row-major, one value per input): far outside their
    /// training range on at least [`DRIFT_SHARE`] of the rows. Excluded inputs are not checked.
    pub fn drifted(&self, rows: &[f32]) -> Vec<Drift> {
        let width = self.names.len();
        let n = rows.len() / width.max(1);
        let mut column = Vec::with_capacity(n);
        let mut drifts = Vec::new();
        for j in (0..width).filter(|&j| !self.excluded[j]) {
            column.clear();
            column.extend(rows.chunks_exact(width).map(|r| f64::from(r[j])));
            let outside = column.iter().filter(|&&v| self.outside(j, v)).count();
            let share = outside as f64 / n.max(1) as f64;
            if n > 0 && share >= DRIFT_SHARE {
                column.retain(|v| v.is_finite());
                let median = quantile_pair(&mut column, (0.5, 0.5)).0;
                let (low, high) = (self.low[j], self.high[j]);
                drifts.push(Drift { name: self.names[j].clone(), share, median, low, high });
            }
        }
        drifts
    }
}

/// The `q.0` and `q.1` quantiles of `values` (nearest rank; reorders them); NaN for none.
fn quantile_pair(values: &mut [f64], q: (f64, f64)) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let rank = |q: f64| ((values.len() - 1) as f64 * q).round() as usize;
    let (lo_rank, hi_rank) = (rank(q.0), rank(q.1));
    let lo = *values.select_nth_unstable_by(lo_rank, f64::total_cmp).1;
    let hi = *values.select_nth_unstable_by(hi_rank, f64::total_cmp).1;
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_with(names: &[&str]) -> ModelFile {
        ModelFile {
            kind: crate::ModelKind::Ridge,
            schema_hash: 1,
            features: names.len() as u32,
            feature_names: names.iter().map(|s| s.to_string()).collect(),
            text: Vec::new(),
            arrays: Vec::new(),
        }
    }

    #[test]
    fn ranges_round_trip_through_the_model_file_and_flag_only_far_inputs_that_are_used() {
        let names = ["price", "flow", "level"];
        // 1000 training rows: price 100..110, flow -5..5, level 580..590 (excluded).
        let rows: Vec<f32> = (0..1000)
            .flat_map(|i| {
                let t = i as f32 / 999.0;
                [100.0 + 10.0 * t, -5.0 + 10.0 * t, 580.0 + 10.0 * t]
            })
            .collect();
        let ranges = TrainingRanges::fit(&rows, &names, &[false, false, true]);
        assert!((ranges.low[0] - 100.01).abs() < 0.01 && (ranges.high[0] - 109.99).abs() < 0.01, "{ranges:?}");
        let mut model = model_with(&names);
        ranges.record(&mut model);
        let back = TrainingRanges::from_model(&ModelFile::from_bytes(&model.to_bytes()).unwrap()).unwrap();
        assert_eq!(back, ranges);
        // Scored on the training rows: nothing drifted. Within the widened range (up to 120): still nothing.
        assert!(ranges.drifted(&rows).is_empty());
        let near: Vec<f32> = rows.chunks(3).flat_map(|r| [r[0] + 9.0, r[1], r[2]]).collect();
        assert!(ranges.drifted(&near).is_empty());
        // Another stock: price at 30 on every row, and the excluded level at 31; only the used input is named.
        let other: Vec<f32> = rows.chunks(3).flat_map(|r| [30.0, r[1], 31.0]).collect();
        let drifts = ranges.drifted(&other);
        assert_eq!(drifts.len(), 1, "{drifts:?}");
        assert_eq!((drifts[0].name.as_str(), drifts[0].share, drifts[0].median), ("price", 1.0, 30.0));
        assert!(drifts[0].to_string().contains("input `price` is far outside its training range on 100.0% of rows"));
        // Fewer than 1% of rows out: ordinary.
        let few: Vec<f32> =
            rows.chunks(3).enumerate().flat_map(|(i, r)| [if i < 9 { 1e6 } else { r[0] }, r[1], r[2]]).collect();
        assert!(ranges.drifted(&few).is_empty());
        // NaN is outside every range; an excluded input is never outside.
        assert!(ranges.outside(0, f64::NAN));
        assert!(!ranges.outside(2, 1e30) && ranges.bounds(2) == (f64::NEG_INFINITY, f64::INFINITY));
        // A file without ranges, or with ranges for other inputs, has none.
        assert!(TrainingRanges::from_model(&model_with(&names)).is_none());
        assert!(TrainingRanges::from_model(&ModelFile { feature_names: vec!["x".into()], ..model }).is_none());
    }
}
