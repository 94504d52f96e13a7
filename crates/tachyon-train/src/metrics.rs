//! Regression metrics, including the two traders read: the information coefficient (correlation of prediction
//! with realised return) and the hit rate (how often the predicted sign is right).

/// Metrics of predictions against labels.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RegressionMetrics {
    /// Rows.
    pub rows: usize,
    /// Mean squared error.
    pub mse: f64,
    /// `1 - SSE / SST` (0 for predicting the label's mean; negative if worse).
    pub r2: f64,
    /// Pearson correlation of prediction and label.
    pub ic: f64,
    /// Fraction of rows with a non-zero label where the prediction has the label's sign.
    pub hit_rate: f64,
}

impl RegressionMetrics {
    /// Computes every metric in f64.
    pub fn compute(pred: &[f64], label: &[f32]) -> RegressionMetrics {
        assert_eq!(pred.len(), label.len());
        let n = pred.len();
        if n == 0 {
            return RegressionMetrics::default();
        }
        let y: Vec<f64> = label.iter().map(|&v| f64::from(v)).collect();
        let nf = n as f64;
        let (mp, my) = (pred.iter().sum::<f64>() / nf, y.iter().sum::<f64>() / nf);
        let (mut sse, mut sst, mut sxy, mut sxx, mut hits, mut signed) = (0.0, 0.0, 0.0, 0.0, 0usize, 0usize);
        for (&p, &t) in pred.iter().zip(&y) {
            sse += (p - t) * (p - t);
            sst += (t - my) * (t - my);
            sxy += (p - mp) * (t - my);
            sxx += (p - mp) * (p - mp);
            if t != 0.0 {
                signed += 1;
                hits += usize::from((p > 0.0) == (t > 0.0) && p != 0.0);
            }
        }
        RegressionMetrics {
            rows: n,
            mse: sse / nf,
            r2: if sst > 0.0 { 1.0 - sse / sst } else { 0.0 },
            ic: if sxx > 0.0 && sst > 0.0 { sxy / (sxx * sst).sqrt() } else { 0.0 },
            hit_rate: if signed > 0 { hits as f64 / signed as f64 } else { 0.0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_known_cases() {
        let m = RegressionMetrics::compute(&[1.0, -1.0, 2.0, 0.5], &[1.0, -1.0, 2.0, 0.5]);
        assert_eq!((m.mse, m.r2, m.hit_rate), (0.0, 1.0, 1.0));
        assert!((m.ic - 1.0).abs() < 1e-12);
        let m = RegressionMetrics::compute(&[-1.0, 1.0, 1.0, 1.0], &[1.0, -1.0, 0.0, 3.0]);
        // Signs: wrong, wrong, (label 0: not counted), right.
        assert!((m.hit_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.mse, (4.0 + 4.0 + 1.0 + 4.0) / 4.0);
    }
}
