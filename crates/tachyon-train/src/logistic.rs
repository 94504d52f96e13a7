//! Multinomial (3-class) logistic regression solved exactly: Newton's method in f64 with a backtracking line
//! search, the Hessian's nine weighted Gram blocks on our GEMM (six distinct, by symmetry) and a Cholesky solve.
//!
//! Objective, over standardised features z and classes c in {0, 1, 2}, weights W (3 x d) and intercepts b (3):
//! `mean_i -ln softmax(W z_i + b)_{c_i} + 0.5 lambda |W|^2 + 0.5 eps (|W|^2 + |b|^2)`. The softmax does not change
//! when the three classes' parameters move together (the same vector added to every row of W, or the same number
//! to every intercept), so without a penalty the Hessian is singular along those directions; the tiny
//! `eps` = [`SHIFT_EPS`] picks the solution whose classes' parameters sum to zero and changes nothing else
//! measurable.
//! scikit-learn's `LogisticRegression(C = 1 / (lambda n))` minimises the same objective (up to that choice):
//! `benches/peers/train_compare.py` compares the two coefficient by coefficient.

use tachyon_linalg::{gemm, MatMut, MatRef, Parallelism};

use crate::metrics::{softmax3, Metrics};
use crate::mlp::{Mlp, MlpSpec};
use crate::ridge::{cholesky_in_place, cholesky_solve, FitError};
use crate::trainer::network_to_file;
use crate::{Activation, Dataset, Head, ModelFile, ModelKind, Split, Standardizer};

/// Penalty on every parameter that only fixes the classes' common shift.
pub const SHIFT_EPS: f64 = 1e-9;
/// Rows per block of the Hessian products (a block of 45 augmented features is 1.4 MiB of f64).
const BLOCK_ROWS: usize = 4096;
/// Newton stops when the largest gradient component is below this (the objective is a mean, so this is absolute).
const GRADIENT_TOLERANCE: f64 = 1e-10;
const MAX_ITERATIONS: usize = 100;

/// A fitted model over standardised features.
#[derive(Clone, Debug, PartialEq)]
pub struct Logistic {
    /// Row-major 3 x d: one row of coefficients per class (down, flat, up).
    pub weights: Vec<f64>,
    /// Intercept per class (summing to zero).
    pub biases: [f64; 3],
    /// Penalty per row on the weights.
    pub lambda: f64,
    /// Newton iterations taken.
    pub iterations: usize,
    /// Largest component of the objective's gradient at the solution.
    pub gradient_max: f64,
}

/// Objective value, gradient and (optionally) Hessian of one pass over the rows.
struct Pass {
    loss: f64,
    /// 3 x (d + 1): per class, the weights' then the intercept's gradient.
    gradient: Vec<f64>,
    /// (3 (d + 1))^2, row-major; empty unless asked for.
    hessian: Vec<f64>,
}

impl Logistic {
    /// Logits of one standardised row.
    pub fn logits(&self, z_row: &[f64]) -> [f64; 3] {
        let d = z_row.len();
        std::array::from_fn(|k| {
            self.biases[k] + self.weights[k * d..(k + 1) * d].iter().zip(z_row).map(|(w, z)| w * z).sum::<f64>()
        })
    }

    /// Fits on `z` (row-major `rows x d`, standardised) and classes 0, 1, 2.
    pub fn fit(z: &[f64], class: &[i8], d: usize, lambda: f64) -> Result<Logistic, FitError> {
        let n = class.len();
        if n == 0 || d == 0 || z.len() != n * d {
            return Err(FitError::Shape(format!("{} values for {n} rows x {d} features", z.len())));
        }
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(FitError::Shape(format!("lambda must be finite and >= 0, got {lambda}")));
        }
        if let Some(bad) = class.iter().position(|c| !(0..3).contains(c)) {
            return Err(FitError::Shape(format!("row {bad}: class {} is not 0, 1 or 2", class[bad])));
        }
        let width = d + 1;
        let params = 3 * width;
        // theta: per class, d weights then the intercept.
        let mut theta = vec![0.0f64; params];
        let mut current = pass(z, class, d, lambda, &theta, false);
        let mut iterations = 0;
        while iterations < MAX_ITERATIONS && max_abs(&current.gradient) > GRADIENT_TOLERANCE {
            iterations += 1;
            let with_hessian = pass(z, class, d, lambda, &theta, true);
            let mut h = with_hessian.hessian;
            cholesky_in_place(&mut h, params)?;
            let mut step = with_hessian.gradient;
            cholesky_solve(&h, params, &mut step);
            // Backtracking: halve until the objective does not rise (a full Newton step almost always passes).
            let mut t = 1.0;
            let mut accepted = None;
            for _ in 0..40 {
                let candidate: Vec<f64> = theta.iter().zip(&step).map(|(p, s)| p - t * s).collect();
                let next = pass(z, class, d, lambda, &candidate, false);
                if next.loss <= current.loss {
                    accepted = Some((candidate, next));
                    break;
                }
                t *= 0.5;
            }
            // No decrease at any step size: the objective is flat to rounding, which is the optimum.
            let Some((candidate, next)) = accepted else { break };
            (theta, current) = (candidate, next);
        }
        let weights = (0..3).flat_map(|k| theta[k * width..k * width + d].to_vec()).collect();
        let biases = std::array::from_fn(|k| theta[k * width + d]);
        Ok(Logistic { weights, biases, lambda, iterations, gradient_max: max_abs(&current.gradient) })
    }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, g| m.max(g.abs()))
}

/// One pass: per block of rows (in parallel; partial sums added in block order, so the result does not depend on
/// the thread count), the probabilities, the loss, the gradient and, if asked, the Hessian blocks
/// `Z~^T diag(p_k (delta_kl - p_l)) Z~` on our GEMM, `Z~` being the rows with a 1 appended.
fn pass(z: &[f64], class: &[i8], d: usize, lambda: f64, theta: &[f64], hessian: bool) -> Pass {
    use rayon::prelude::*;
    let (n, width) = (class.len(), d + 1);
    let params = 3 * width;
    let partials: Vec<Pass> = (0..n.div_ceil(BLOCK_ROWS))
        .into_par_iter()
        .map(|block| {
            let rows = block * BLOCK_ROWS..((block + 1) * BLOCK_ROWS).min(n);
            let m = rows.len();
            let mut augmented = vec![1.0f64; m * width];
            for (dst, src) in augmented.chunks_exact_mut(width).zip(z[rows.start * d..rows.end * d].chunks_exact(d)) {
                dst[..d].copy_from_slice(src);
            }
            let mut part = Pass { loss: 0.0, gradient: vec![0.0; params], hessian: Vec::new() };
            // Kept only for the Hessian (the line search's passes need the loss and gradient alone).
            let mut probabilities = Vec::with_capacity(if hessian { m } else { 0 });
            for (row, &c) in augmented.chunks_exact(width).zip(&class[rows.clone()]) {
                let logits: [f64; 3] = std::array::from_fn(|k| {
                    theta[k * width..(k + 1) * width].iter().zip(row).map(|(t, x)| t * x).sum::<f64>()
                });
                let p = softmax3(logits);
                let c = c as usize;
                part.loss -= p[c].max(f64::MIN_POSITIVE).ln();
                for (k, (pk, gradient)) in p.iter().zip(part.gradient.chunks_exact_mut(width)).enumerate() {
                    let residual = pk - f64::from(u8::from(k == c));
                    for (g, x) in gradient.iter_mut().zip(row) {
                        *g += residual * x;
                    }
                }
                if hessian {
                    probabilities.push(p);
                }
            }
            if hessian {
                part.hessian = vec![0.0; params * params];
                let mut scaled = vec![0.0f64; m * width];
                let mut block_kl = vec![0.0f64; width * width];
                let a = MatRef::row_major(&augmented, m, width).expect("sized");
                for k in 0..3 {
                    for l in k..3 {
                        for ((dst, src), p) in
                            scaled.chunks_exact_mut(width).zip(augmented.chunks_exact(width)).zip(&probabilities)
                        {
                            let w = p[k] * (f64::from(u8::from(k == l)) - p[l]);
                            dst.iter_mut().zip(src).for_each(|(o, x)| *o = w * x);
                        }
                        let s = MatRef::row_major(&scaled, m, width).expect("sized");
                        let out = MatMut::row_major(&mut block_kl, width, width).expect("sized");
                        gemm(1.0, a.t(), s, 0.0, out, Parallelism::None).expect("shapes agree");
                        for i in 0..width {
                            for j in 0..width {
                                let v = block_kl[i * width + j];
                                part.hessian[(k * width + i) * params + l * width + j] = v;
                                part.hessian[(l * width + j) * params + k * width + i] = v;
                            }
                        }
                    }
                }
            }
            part
        })
        .collect();
    let mut total =
        Pass { loss: 0.0, gradient: vec![0.0; params], hessian: vec![0.0; if hessian { params * params } else { 0 }] };
    for p in &partials {
        total.loss += p.loss;
        total.gradient.iter_mut().zip(&p.gradient).for_each(|(t, v)| *t += v);
        total.hessian.iter_mut().zip(&p.hessian).for_each(|(t, v)| *t += v);
    }
    let inv_n = 1.0 / n as f64;
    total.loss *= inv_n;
    total.gradient.iter_mut().for_each(|g| *g *= inv_n);
    total.hessian.iter_mut().for_each(|h| *h *= inv_n);
    for k in 0..3 {
        for i in 0..width {
            let at = k * width + i;
            let penalty = if i < d { lambda + SHIFT_EPS } else { SHIFT_EPS };
            total.loss += 0.5 * penalty * theta[at] * theta[at];
            total.gradient[at] += penalty * theta[at];
            if hessian {
                total.hessian[at * params + at] += penalty;
            }
        }
    }
    total
}

/// A fit and its metrics.
#[derive(Clone, Debug)]
pub struct LogisticReport {
    /// The model file's content.
    pub model: ModelFile,
    /// The fit.
    pub fit: Logistic,
    /// In-sample metrics.
    pub train: Metrics,
    /// Validation metrics.
    pub validation: Metrics,
    /// Out-of-sample metrics.
    pub test: Metrics,
}

/// Standardises on the training rows, fits, and scores every part of `split` on the class labels.
pub fn train(split: &Split, lambda: f64) -> Result<LogisticReport, FitError> {
    let d = tachyon_features::NUM_FEATURES;
    let standardizer = Standardizer::fit(&split.train.x, d);
    let fit = Logistic::fit(&standardizer.transform(&split.train.x), &split.train.class, d, lambda)?;
    let net = Mlp::<f64> {
        spec: MlpSpec { inputs: d, hidden: vec![], activation: Activation::Relu, head: Head::Softmax3 },
        weights: vec![fit.weights.clone()],
        biases: vec![fit.biases.to_vec()],
    };
    let extra = vec![("meta.lambda".into(), vec![lambda]), ("meta.train_rows".into(), vec![split.train.rows() as f64])];
    let model = network_to_file(&net, &standardizer, ModelKind::Logistic, extra);
    let score = |data: &Dataset| {
        let logits: Vec<f64> =
            standardizer.transform(&data.x).chunks_exact(d).flat_map(|row| fit.logits(row)).collect();
        Metrics::compute(Head::Softmax3, &logits, data)
    };
    Ok(LogisticReport {
        train: score(&split.train),
        validation: score(&split.validation),
        test: score(&split.test),
        model,
        fit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::{forward_backward, Targets, Workspace};
    use tachyon_testkit::SplitMix64;

    fn data(n: usize, d: usize, seed: u64) -> (Vec<f64>, Vec<i8>) {
        let mut rng = SplitMix64(seed);
        let z: Vec<f64> = (0..n * d).map(|_| rng.uniform(-2.0, 2.0)).collect();
        let class = z
            .chunks_exact(d)
            .map(|row| {
                let s = row.iter().enumerate().map(|(j, v)| v * (0.5 - 0.1 * j as f64)).sum::<f64>()
                    + rng.uniform(-1.0, 1.0);
                if s < -0.5 {
                    0
                } else if s > 0.5 {
                    2
                } else {
                    1
                }
            })
            .collect();
        (z, class)
    }

    /// The gradient of the objective by the MLP's own backward pass (independent of the Newton code), f64.
    fn objective_gradient(fit: &Logistic, z: &[f64], class: &[i8], d: usize) -> Vec<f64> {
        let mlp = Mlp::<f64> {
            spec: MlpSpec { inputs: d, hidden: vec![], activation: Activation::Relu, head: Head::Softmax3 },
            weights: vec![fit.weights.clone()],
            biases: vec![fit.biases.to_vec()],
        };
        let mut ws = Workspace::new(&mlp, class.len());
        forward_backward(&mlp, &mut ws, z, Targets::Classes(class));
        let w = ws.grad_w[0].iter().zip(&fit.weights).map(|(g, w)| g + (fit.lambda + SHIFT_EPS) * w);
        w.chain(ws.grad_b[0].iter().zip(&fit.biases).map(|(g, b)| g + SHIFT_EPS * b)).collect()
    }

    #[test]
    fn newton_reaches_the_optimum_in_few_iterations() {
        for (n, d, lambda) in [(3000, 5, 1e-3), (2 * BLOCK_ROWS + 77, 13, 1e-2), (500, 3, 0.0)] {
            let (z, class) = data(n, d, d as u64);
            let fit = Logistic::fit(&z, &class, d, lambda).unwrap();
            assert!(fit.iterations <= 25, "{} iterations", fit.iterations);
            let gradient = objective_gradient(&fit, &z, &class, d);
            let worst = max_abs(&gradient);
            assert!(worst <= 1e-9, "n={n} d={d} lambda={lambda}: gradient {worst:e} at the fit");
            assert!(fit.biases.iter().sum::<f64>().abs() < 1e-6, "{:?}", fit.biases);
        }
    }

    #[test]
    fn the_fit_does_not_depend_on_the_thread_count() {
        let (z, class) = data(3 * BLOCK_ROWS + 5, 6, 4);
        let fit = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| Logistic::fit(&z, &class, 6, 1e-3).unwrap())
        };
        assert_eq!(fit(1), fit(2));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let (z, mut class) = data(10, 2, 1);
        assert!(matches!(Logistic::fit(&z, &class, 3, 1e-3), Err(FitError::Shape(_))));
        class[4] = -1;
        let e = Logistic::fit(&z, &class, 2, 1e-3).unwrap_err();
        assert_eq!(e.to_string(), "row 4: class -1 is not 0, 1 or 2");
    }
}
