//! Labelled rows, split in time order with an embargo, and standardisation fitted on the training rows.

use tachyon_features::{FeatureMatrix, NUM_FEATURES};

/// Rows of features with their labels, in time order within each source file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Row-major `rows x NUM_FEATURES`.
    pub x: Vec<f32>,
    /// Regression label: future mid change, basis points.
    pub y: Vec<f32>,
    /// Class label of the same change: 0 down, 1 flat, 2 up (the flat band is the label spec's threshold).
    pub class: Vec<i8>,
}

impl Dataset {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// Features of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * NUM_FEATURES..(i + 1) * NUM_FEATURES]
    }

    /// Every labelled row of `matrices` (rows whose horizon passes the end of their file are left out); the
    /// matrices must carry labels.
    pub fn labelled(matrices: &[FeatureMatrix]) -> Dataset {
        let mut data = Dataset::default();
        for m in matrices {
            data.push_rows(m, 0..m.rows());
        }
        data
    }

    fn push_rows(&mut self, m: &FeatureMatrix, range: std::ops::Range<usize>) {
        let labels = m.labels.as_ref().unwrap_or_else(|| panic!("{}: no labels", m.source.display()));
        for i in range {
            let y = labels.ret_bps[i];
            if y.is_finite() {
                self.x.extend_from_slice(m.row(i));
                self.y.push(y);
                self.class.push(labels.class[i]);
            }
        }
    }
}

/// Fractions of each file's rows for training and validation (the rest is test), and the gap left out at each
/// boundary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitSpec {
    /// Leading fraction of each file for training.
    pub train: f64,
    /// Next fraction for validation.
    pub validation: f64,
    /// Rows dropped after the training rows and after the validation rows. At least the label horizon in
    /// updates, so that no training label looks into validation rows (and none of those into test rows).
    pub embargo_rows: usize,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec { train: 0.6, validation: 0.2, embargo_rows: 100 }
    }
}

/// Train, validation and test rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows.
    pub validation: Dataset,
    /// Test rows (out of sample).
    pub test: Dataset,
}

impl Split {
    /// Splits each file in time order: `[train | embargo | validation | embargo | test]`; rows without a label
    /// (horizon past the end of the file) are left out. Files must carry labels.
    pub fn new(matrices: &[FeatureMatrix], spec: &SplitSpec) -> Split {
        assert!(spec.train > 0.0 && spec.validation >= 0.0 && spec.train + spec.validation < 1.0, "bad split {spec:?}");
        let mut split = Split::default();
        for m in matrices {
            assert!(m.labels.is_some(), "{}: no labels", m.source.display());
            let n = m.rows();
            let train_end = (n as f64 * spec.train) as usize;
            let val_start = (train_end + spec.embargo_rows).min(n);
            let val_end = (val_start + (n as f64 * spec.validation) as usize).min(n);
            let test_start = (val_end + spec.embargo_rows).min(n);
            split.train.push_rows(m, 0..train_end);
            split.validation.push_rows(m, val_start..val_end);
            split.test.push_rows(m, test_start..n);
        }
        split
    }
}

/// Per-feature mean and standard deviation, fitted on training rows; stored in every model file.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Means.
    pub mean: Vec<f64>,
    /// Standard deviations (1 where a feature is constant, so it maps to 0 rather than to NaN).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits on `data` (two passes in f64).
    pub fn fit(data: &Dataset) -> Standardizer {
        let n = data.rows().max(1) as f64;
        let mut mean = vec![0.0; NUM_FEATURES];
        for i in 0..data.rows() {
            for (m, &v) in mean.iter_mut().zip(data.row(i)) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; NUM_FEATURES];
        for i in 0..data.rows() {
            for ((s, &v), m) in var.iter_mut().zip(data.row(i)).zip(&mean) {
                let d = f64::from(v) - m;
                *s += d * d;
            }
        }
        let std =
            var.into_iter().map(|s| (s / n).sqrt()).map(|s| if s > 0.0 && s.is_finite() { s } else { 1.0 }).collect();
        Standardizer { mean, std }
    }

    /// `(x - mean) / std` of every row, as an f64 row-major matrix.
    pub fn transform(&self, data: &Dataset) -> Vec<f64> {
        let mut out = Vec::with_capacity(data.x.len());
        for i in 0..data.rows() {
            out.extend(data.row(i).iter().zip(&self.mean).zip(&self.std).map(|((&v, m), s)| (f64::from(v) - m) / s));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_features::Labels;

    fn matrix(n: usize) -> FeatureMatrix {
        FeatureMatrix {
            time_ns: (0..n as i64).collect(),
            event_id: (0..n as u64).collect(),
            mid: vec![1.0; n],
            features: (0..n * NUM_FEATURES).map(|i| (i / NUM_FEATURES) as f32).collect(),
            labels: Some(Labels {
                ret_bps: (0..n).map(|i| if i + 3 < n { i as f32 } else { f32::NAN }).collect(),
                class: (0..n).map(|i| if i + 3 < n { (i % 3) as i8 } else { Labels::UNKNOWN }).collect(),
            }),
            ..FeatureMatrix::default()
        }
    }

    #[test]
    fn split_keeps_time_order_and_leaves_the_embargo_out() {
        let m = matrix(1000);
        let s = Split::new(&[m], &SplitSpec { train: 0.6, validation: 0.2, embargo_rows: 50 });
        // Feature 0 of row i is i: train 0..600, validation 650..850, test 900..997 (last 3 unlabelled).
        assert_eq!(s.train.rows(), 600);
        assert_eq!(s.train.row(599)[0], 599.0);
        assert_eq!(s.validation.row(0)[0], 650.0);
        assert_eq!(s.validation.rows(), 200);
        assert_eq!(s.test.row(0)[0], 900.0);
        assert_eq!(s.test.rows(), 97);
        assert!(s.train.y.iter().all(|&y| y < 650.0 - 50.0));
        // Class labels travel with their rows.
        assert_eq!(s.validation.class[..3], [650 % 3, 651 % 3, 652 % 3].map(|c| c as i8));
        assert_eq!(s.test.class.len(), 97);
        let all = Dataset::labelled(&[matrix(10)]);
        assert_eq!((all.rows(), all.class.len(), all.y[6]), (7, 7, 6.0));
    }

    #[test]
    fn standardizer_centres_and_scales_and_survives_constant_features() {
        let d = Dataset {
            x: (0..4 * NUM_FEATURES)
                .map(|i| if i % NUM_FEATURES == 0 { (i / NUM_FEATURES) as f32 } else { 7.0 })
                .collect(),
            y: vec![0.0; 4],
            class: vec![1; 4],
        };
        let s = Standardizer::fit(&d);
        assert_eq!(s.mean[0], 1.5);
        assert!((s.std[0] - 1.25f64.sqrt()).abs() < 1e-15);
        assert_eq!(s.std[1], 1.0);
        let z = s.transform(&d);
        assert_eq!(z[NUM_FEATURES + 1], 0.0);
        assert!((z[0] + 1.5 / 1.25f64.sqrt()).abs() < 1e-15);
    }
}
