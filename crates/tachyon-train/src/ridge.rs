//! Ridge regression in closed form: `(Z^T Z + lambda n I) w = Z^T (y - mean y)` on standardised features Z,
//! with `Z^T Z` and `Z^T y` computed in one pass by our Gram kernel (lower triangle only), and the system solved
//! by Cholesky, all in f64.

use tachyon_linalg::{Gram, MatRef};

/// Rows per block of the Gram product (a parallel task and a partial sum): 122 blocks on 1M rows, so two threads
/// share the work within 2%; 4096 and 16384 run level with it on 1M x 32 (`examples/ridge_fit`), 1024 slower
/// (the per-block partial sums start to count).
const GRAM_BLOCK_ROWS: usize = 8192;

/// Why a closed-form fit (ridge, logistic) failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    /// No rows, shapes that do not agree, or labels out of range.
    #[error("{0}")]
    Shape(String),
    /// The system to solve (`Z^T Z + lambda n I`, or logistic's Hessian) is not positive definite (lambda = 0 with
    /// collinear features).
    #[error("the system to solve is not positive definite at pivot {pivot} (collinear features: raise --lambda)")]
    NotPositiveDefinite {
        /// Column where Cholesky failed.
        pivot: usize,
    },
}

/// A fitted ridge model over standardised features.
#[derive(Clone, Debug, PartialEq)]
pub struct Ridge {
    /// Coefficient per standardised feature.
    pub weights: Vec<f64>,
    /// Intercept (the training mean of the label).
    pub bias: f64,
    /// Penalty per row (`lambda n` is added to the diagonal).
    pub lambda: f64,
}

impl Ridge {
    /// Fits on `z` (row-major `rows x d`, standardised) and labels `y`.
    pub fn fit(z: &[f64], y: &[f32], d: usize, lambda: f64) -> Result<Ridge, FitError> {
        let n = y.len();
        if n == 0 || d == 0 || z.len() != n * d {
            return Err(FitError::Shape(format!("{} values for {n} rows x {d} features", z.len())));
        }
        if lambda.is_nan() || lambda < 0.0 || lambda.is_infinite() {
            return Err(FitError::Shape(format!("lambda must be finite and >= 0, got {lambda}")));
        }
        let bias = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        // [Z^T Z | Z^T (y - mean y)] over fixed blocks of rows, one pass of the Gram kernel each, in parallel; the
        // partial sums are added in block order, so the result does not depend on the thread count.
        let partials: Vec<Vec<f64>> = {
            use rayon::prelude::*;
            (0..n.div_ceil(GRAM_BLOCK_ROWS))
                .into_par_iter()
                .map(|block| {
                    let rows = block * GRAM_BLOCK_ROWS..((block + 1) * GRAM_BLOCK_ROWS).min(n);
                    let zb = MatRef::row_major(&z[rows.start * d..rows.end * d], rows.len(), d).expect("block");
                    let yc: Vec<f64> = y[rows].iter().map(|&v| f64::from(v) - bias).collect();
                    let mut out = vec![0.0f64; d * d + d];
                    let (g, r) = out.split_at_mut(d * d);
                    Gram::<f64>::active().accumulate_with_rhs(zb, &yc, g, r).expect("shapes agree");
                    out
                })
                .collect()
        };
        let mut sums = vec![0.0f64; d * d + d];
        for p in &partials {
            for (s, v) in sums.iter_mut().zip(p) {
                *s += v;
            }
        }
        let mut rhs = sums.split_off(d * d);
        let mut gram = sums;
        for i in 0..d {
            gram[i * d + i] += lambda * n as f64;
        }
        cholesky_in_place(&mut gram, d)?;
        cholesky_solve(&gram, d, &mut rhs);
        Ok(Ridge { weights: rhs, bias, lambda })
    }

    /// Prediction for one standardised row.
    pub fn predict(&self, z_row: &[f64]) -> f64 {
        self.bias + self.weights.iter().zip(z_row).map(|(w, z)| w * z).sum::<f64>()
    }
}

/// Overwrites the lower triangle of the symmetric positive-definite `a` (row-major `d x d`) with L, `a = L L^T`.
pub fn cholesky_in_place(a: &mut [f64], d: usize) -> Result<(), FitError> {
    for j in 0..d {
        let mut diag = a[j * d + j];
        for k in 0..j {
            diag -= a[j * d + k] * a[j * d + k];
        }
        if diag.is_nan() || diag <= 0.0 || diag.is_infinite() {
            return Err(FitError::NotPositiveDefinite { pivot: j });
        }
        let l_jj = diag.sqrt();
        a[j * d + j] = l_jj;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = v / l_jj;
        }
    }
    Ok(())
}

/// Solves `L L^T x = b` in place, `L` the lower triangle of `l`.
pub fn cholesky_solve(l: &[f64], d: usize, b: &mut [f64]) {
    for i in 0..d {
        let mut v = b[i];
        for k in 0..i {
            v -= l[i * d + k] * b[k];
        }
        b[i] = v / l[i * d + i];
    }
    for i in (0..d).rev() {
        let mut v = b[i];
        for k in i + 1..d {
            v -= l[k * d + i] * b[k];
        }
        b[i] = v / l[i * d + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_testkit::SplitMix64;

    /// Reference: normal equations by naive loops, solved by Gaussian elimination with partial pivoting.
    fn reference(z: &[f64], y: &[f32], d: usize, lambda: f64) -> Vec<f64> {
        let n = y.len();
        let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let mut a = vec![vec![0.0; d + 1]; d];
        for i in 0..d {
            for j in 0..d {
                a[i][j] = (0..n).map(|r| z[r * d + i] * z[r * d + j]).sum::<f64>();
            }
            a[i][i] += lambda * n as f64;
            a[i][d] = (0..n).map(|r| z[r * d + i] * (f64::from(y[r]) - mean)).sum::<f64>();
        }
        for c in 0..d {
            let p = (c..d).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap();
            a.swap(c, p);
            let pivot_row = a[c].clone();
            for row in a.iter_mut().skip(c + 1) {
                let f = row[c] / pivot_row[c];
                for (v, p) in row.iter_mut().zip(&pivot_row).skip(c) {
                    *v -= f * p;
                }
            }
        }
        let mut x = vec![0.0; d];
        for r in (0..d).rev() {
            x[r] = (a[r][d] - (r + 1..d).map(|k| a[r][k] * x[k]).sum::<f64>()) / a[r][r];
        }
        x
    }

    #[test]
    fn coefficients_equal_an_independent_f64_solve() {
        let mut rng = SplitMix64(5);
        for (n, d, lambda) in [(500, 7, 0.0), (2000, 44, 1e-3), (97, 13, 0.5)] {
            let z: Vec<f64> = (0..n * d).map(|_| rng.uniform(-2.0, 2.0)).collect();
            let truth: Vec<f64> = (0..d).map(|j| j as f64 * 0.1 - 0.3).collect();
            let y: Vec<f32> = (0..n)
                .map(|r| (1.5 + (0..d).map(|j| z[r * d + j] * truth[j]).sum::<f64>() + rng.uniform(-0.1, 0.1)) as f32)
                .collect();
            let fit = Ridge::fit(&z, &y, d, lambda).unwrap();
            let want = reference(&z, &y, d, lambda);
            let scale = want.iter().map(|w| w.abs()).fold(0.0, f64::max);
            for (got, want) in fit.weights.iter().zip(&want) {
                assert!((got - want).abs() <= 1e-9 * scale, "n={n} d={d}: {got} vs {want}");
            }
            if lambda == 0.0 {
                for (w, t) in fit.weights.iter().zip(&truth) {
                    assert!((w - t).abs() < 0.02, "{w} vs {t}");
                }
            }
        }
    }

    #[test]
    fn the_fit_does_not_depend_on_the_thread_count() {
        let mut rng = SplitMix64(8);
        let (n, d) = (3 * GRAM_BLOCK_ROWS + 123, 9);
        let z: Vec<f64> = (0..n * d).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let y: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let fit = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| Ridge::fit(&z, &y, d, 1e-3).unwrap())
        };
        let one = fit(1);
        assert_eq!(
            one.weights.iter().map(|w| w.to_bits()).collect::<Vec<_>>(),
            fit(2).weights.iter().map(|w| w.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn collinear_features_without_penalty_are_a_clear_error() {
        let z: Vec<f64> = (0..100).flat_map(|i| [i as f64, i as f64]).collect();
        let y = vec![1.0f32; 100];
        assert_eq!(Ridge::fit(&z, &y, 2, 0.0), Err(FitError::NotPositiveDefinite { pivot: 1 }));
        assert!(Ridge::fit(&z, &y, 2, 1e-3).is_ok());
        assert!(matches!(Ridge::fit(&z, &y, 3, 0.0), Err(FitError::Shape(_))));
    }
}

/// Outcome of [`train`]: the model file and its metrics on each part of the split.
#[derive(Clone, Debug)]
pub struct RidgeReport {
    /// The model, ready to save.
    pub model: crate::ModelFile,
    /// In-sample metrics.
    pub train: crate::RegressionMetrics,
    /// Validation metrics.
    pub validation: crate::RegressionMetrics,
    /// Out-of-sample (test) metrics.
    pub test: crate::RegressionMetrics,
}

/// Standardises on the training rows, fits ridge with penalty `lambda`, and scores every part of the split.
pub fn train(split: &crate::Split, lambda: f64) -> Result<RidgeReport, FitError> {
    use crate::{Activation, Head};
    use tachyon_features::NUM_FEATURES;
    let standardizer = crate::Standardizer::fit(&split.train.x, NUM_FEATURES);
    let z = standardizer.transform(&split.train.x);
    let ridge = Ridge::fit(&z, &split.train.y, NUM_FEATURES, lambda)?;
    let linear = crate::Mlp::<f64> {
        spec: crate::MlpSpec {
            inputs: NUM_FEATURES,
            hidden: vec![],
            activation: Activation::Relu,
            head: Head::Regression,
        },
        weights: vec![ridge.weights.clone()],
        biases: vec![vec![ridge.bias]],
    };
    let extra = vec![("meta.lambda".into(), vec![lambda]), ("meta.train_rows".into(), vec![split.train.rows() as f64])];
    let model = crate::network_to_file(&linear, &standardizer, crate::ModelKind::Ridge, extra);
    let score = |data: &crate::Dataset| {
        let z = standardizer.transform(&data.x);
        let pred: Vec<f64> = z.chunks_exact(NUM_FEATURES).map(|row| ridge.predict(row)).collect();
        crate::RegressionMetrics::compute(&pred, &data.y)
    };
    Ok(RidgeReport {
        train: score(&split.train),
        validation: score(&split.validation),
        test: score(&split.test),
        model,
    })
}
