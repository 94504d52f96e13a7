//! Metrics of regression and 3-class models, including the two traders read: the information coefficient
//! (correlation of the prediction with the realised return) and the hit rate (how often the predicted sign is
//! right). A classifier's signal is `p(up) - p(down)`.

use crate::Dataset;
use crate::Head;

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

/// Metrics of 3-class (down, flat, up) predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClassMetrics {
    /// Rows.
    pub rows: usize,
    /// Fraction of rows whose most probable class is the label.
    pub accuracy: f64,
    /// Mean over the three classes of F1 = 2 TP / (2 TP + FP + FN) (0 for a class never labelled nor predicted,
    /// as scikit-learn counts it).
    pub macro_f1: f64,
    /// Mean of `-ln p(label)` (natural log; p clamped at 1e-15).
    pub log_loss: f64,
    /// Information coefficient of `p(up) - p(down)` with the realised return.
    pub ic: f64,
    /// Hit rate of the sign of `p(up) - p(down)` on rows with a non-zero return.
    pub hit_rate: f64,
}

impl ClassMetrics {
    /// From logits (`rows x 3`, row-major), class labels and the realised returns (bps), in f64.
    pub fn compute(logits: &[f64], class: &[i8], ret_bps: &[f32]) -> ClassMetrics {
        let rows = class.len();
        assert_eq!(logits.len(), 3 * rows);
        assert_eq!(ret_bps.len(), rows);
        if rows == 0 {
            return ClassMetrics::default();
        }
        let (mut correct, mut log_loss) = (0usize, 0.0f64);
        // confusion[label][predicted]
        let mut confusion = [[0usize; 3]; 3];
        let mut signal = Vec::with_capacity(rows);
        for (z, &label) in logits.chunks_exact(3).zip(class) {
            let p = softmax3([z[0], z[1], z[2]]);
            let predicted = (0..3).fold(0, |best, k| if p[k] > p[best] { k } else { best });
            let label = usize::try_from(label).ok().filter(|&c| c < 3).expect("classes are 0, 1, 2");
            confusion[label][predicted] += 1;
            correct += usize::from(predicted == label);
            log_loss -= p[label].max(1e-15).ln();
            signal.push(p[2] - p[0]);
        }
        let f1 = |k: usize| {
            let tp = confusion[k][k];
            let fp: usize = (0..3).map(|l| confusion[l][k]).sum::<usize>() - tp;
            let fn_: usize = confusion[k].iter().sum::<usize>() - tp;
            let denominator = 2 * tp + fp + fn_;
            if denominator == 0 {
                0.0
            } else {
                2.0 * tp as f64 / denominator as f64
            }
        };
        let signal = RegressionMetrics::compute(&signal, ret_bps);
        ClassMetrics {
            rows,
            accuracy: correct as f64 / rows as f64,
            macro_f1: (f1(0) + f1(1) + f1(2)) / 3.0,
            log_loss: log_loss / rows as f64,
            ic: signal.ic,
            hit_rate: signal.hit_rate,
        }
    }
}

/// Softmax of three logits, shifted by the largest so that no exponential overflows.
pub fn softmax3(z: [f64; 3]) -> [f64; 3] {
    let max = z[0].max(z[1]).max(z[2]);
    let e = z.map(|v| (v - max).exp());
    let sum = e[0] + e[1] + e[2];
    e.map(|v| v / sum)
}

/// The metrics of a model with either head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metrics {
    /// A regression head's.
    Regression(RegressionMetrics),
    /// A 3-class head's.
    Classification(ClassMetrics),
}

impl Metrics {
    /// Scores `outputs` (`rows x head outputs`) against `data`'s labels.
    pub fn compute(head: Head, outputs: &[f64], data: &Dataset) -> Metrics {
        match head {
            Head::Regression => Metrics::Regression(RegressionMetrics::compute(outputs, &data.y)),
            Head::Softmax3 => Metrics::Classification(ClassMetrics::compute(outputs, &data.class, &data.y)),
        }
    }

    /// The loss training minimises: 0.5 MSE, or the log-loss.
    pub fn loss(&self) -> f64 {
        match self {
            Metrics::Regression(m) => 0.5 * m.mse,
            Metrics::Classification(m) => m.log_loss,
        }
    }

    /// Information coefficient of the model's signal.
    pub fn ic(&self) -> f64 {
        match self {
            Metrics::Regression(m) => m.ic,
            Metrics::Classification(m) => m.ic,
        }
    }

    /// Rows scored.
    pub fn rows(&self) -> usize {
        match self {
            Metrics::Regression(m) => m.rows,
            Metrics::Classification(m) => m.rows,
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

    #[test]
    fn class_metrics_of_a_hand_counted_case() {
        // Logits that make the predicted classes 2, 1, 0, 2, 1 with certainty ~1 (margin 40).
        let big = 40.0;
        let predicted = [2usize, 1, 0, 2, 1];
        let logits: Vec<f64> =
            predicted.iter().flat_map(|&k| (0..3).map(move |c| if c == k { big } else { 0.0 })).collect();
        let labels = [2i8, 1, 1, 0, 1];
        let ret = [3.0f32, 0.0, 0.0, -1.0, 0.0];
        let m = ClassMetrics::compute(&logits, &labels, &ret);
        assert_eq!(m.accuracy, 3.0 / 5.0);
        // Class 0: TP 0, FP 1, FN 1 -> 0. Class 1: TP 2, FP 0, FN 1 -> 4/5. Class 2: TP 1, FP 1, FN 0 -> 2/3.
        assert!((m.macro_f1 - (0.0 + 0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        // Two rows wrong with p(label) = 1 / (1 + 2 e^40) (clamped at 1e-15 it is not: e^-40 ~ 4e-18 -> clamp).
        let wrong = -(1e-15f64).ln();
        let right = (1.0 + 2.0 * (-big).exp()).ln();
        assert!((m.log_loss - (2.0 * wrong + 3.0 * right) / 5.0).abs() < 1e-9);
        // Signals +1, 0, -1, +1, 0 on returns 3, 0, 0, -1, 0: one hit of two signed rows.
        assert!((m.hit_rate - 0.5).abs() < 1e-12);
        let p = softmax3([1000.0, 0.0, -1000.0]);
        assert!(p[0] == 1.0 && p.iter().all(|v| v.is_finite()));
    }
}
