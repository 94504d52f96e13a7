//! A multi-layer perceptron with hand-written backpropagation over our GEMM and vector kernels.
//!
//! Layer l maps `A_{l-1}` (batch x in) to `Z_l = A_{l-1} W_l^T + b_l` (batch x out, `W_l` row-major out x in) and
//! `A_l = act(Z_l)` (hidden layers: ReLU or tanh; the last layer is linear). Heads: regression (one output, loss
//! `mean(0.5 (y_hat - y)^2)`) or 3-class softmax (loss `mean(-log p_y)`). Backward, per layer from the last:
//! `dW_l = delta_l^T A_{l-1}`, `db_l = column sums of delta_l`, `dA_{l-1} = delta_l W_l`, and for a hidden layer
//! `delta = dA * act'(Z)` (ReLU: `Z > 0`; tanh: `1 - A^2`). The three products are GEMM calls (for one sample,
//! `dW_l` and `dA_{l-1}` come from one sweep over `W_l`, `Gemm::outer_gemv_t`); nothing is allocated per step
//! once a [`Workspace`] exists for the batch size.

use tachyon_linalg::{gemm, Gemm, GemmFloat, MatMut, MatRef, Parallelism};

use tachyon_model::{Activation, DenseLayer, DenseNetwork, FeatureSet, Head, ModelError, SplitMix64, Standardizer};

use crate::metrics::softmax3;

/// Shape of a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlpSpec {
    /// Input features.
    pub inputs: usize,
    /// Width of each hidden layer.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Output head.
    pub head: Head,
}

impl MlpSpec {
    /// `(out, in)` of every layer.
    pub fn layers(&self) -> Vec<(usize, usize)> {
        let mut dims = vec![self.inputs];
        dims.extend(&self.hidden);
        dims.push(self.head.outputs());
        dims.windows(2).map(|w| (w[1], w[0])).collect()
    }
}

/// Weights of a network.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp<T> {
    /// The shape.
    pub spec: MlpSpec,
    /// Per layer, row-major `out x in`.
    pub weights: Vec<Vec<T>>,
    /// Per layer, `out`.
    pub biases: Vec<Vec<T>>,
}

impl<T: GemmFloat> Mlp<T> {
    /// Weights drawn uniformly with the variance He (ReLU) or Glorot (tanh) initialisation asks for; biases 0.
    pub fn new(spec: MlpSpec, seed: u64) -> Self {
        let mut rng = SplitMix64(seed);
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        for (out, inp) in spec.layers() {
            let var = match spec.activation {
                Activation::Relu => 2.0 / inp as f64,
                Activation::Tanh => 2.0 / (inp + out) as f64,
            };
            let limit = (3.0 * var).sqrt();
            weights.push((0..out * inp).map(|_| T::from_f64((2.0 * rng.next_f64() - 1.0) * limit)).collect());
            biases.push(vec![T::ZERO; out]);
        }
        Mlp { spec, weights, biases }
    }

    /// The network these weights and `standardizer` make, for `features` (one name per input).
    pub fn to_network(&self, standardizer: &Standardizer, features: &FeatureSet<'_>) -> DenseNetwork {
        assert_eq!(features.names.len(), self.spec.inputs, "one feature name per input");
        let layers = self
            .spec
            .layers()
            .into_iter()
            .enumerate()
            .map(|(l, (outputs, inputs))| DenseLayer {
                outputs,
                inputs,
                weights: self.weights[l].iter().map(|w| w.to_f64()).collect(),
                bias: self.biases[l].iter().map(|b| b.to_f64()).collect(),
            })
            .collect();
        DenseNetwork {
            inputs: self.spec.inputs,
            mean: standardizer.mean.clone(),
            std: standardizer.std.clone(),
            layers,
            activation: self.spec.activation,
            head: self.spec.head,
            schema_hash: features.hash,
            feature_names: features.names.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// Trainable parameters.
    pub fn parameters(&self) -> usize {
        self.weights.iter().map(Vec::len).sum::<usize>() + self.biases.iter().map(Vec::len).sum::<usize>()
    }
}

impl Mlp<f32> {
    /// The weights of `net` (rounded to f32) and its standardisation.
    pub fn from_network(net: &DenseNetwork) -> Result<(Mlp<f32>, Standardizer), ModelError> {
        net.validate()?;
        let hidden = net.layers[..net.layers.len() - 1].iter().map(|l| l.outputs).collect();
        let spec = MlpSpec { inputs: net.inputs, hidden, activation: net.activation, head: net.head };
        let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let mlp = Mlp {
            spec,
            weights: net.layers.iter().map(|l| narrow(&l.weights)).collect(),
            biases: net.layers.iter().map(|l| narrow(&l.bias)).collect(),
        };
        Ok((mlp, Standardizer { mean: net.mean.clone(), std: net.std.clone() }))
    }
}

/// Buffers for one batch size: activations, deltas and gradients. Reused every step.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    batch: usize,
    /// `(out, in)` per layer (kept here so that a step computes no shapes and allocates nothing).
    layers: Vec<(usize, usize)>,
    /// Per layer, batch x out: the activation A, computed in place over the pre-activation Z (the backward
    /// passes need only A: ReLU's `z > 0` is `a > 0`, NaN and -0 included; tanh's derivative is `1 - a^2`).
    a: Vec<Vec<T>>,
    /// Per layer, batch x out: delta.
    delta: Vec<Vec<T>>,
    /// Per layer, batch x in: gradient with respect to the layer's input.
    d_input: Vec<Vec<T>>,
    /// Gradients, shaped as the weights.
    pub grad_w: Vec<Vec<T>>,
    /// Gradients, shaped as the biases.
    pub grad_b: Vec<Vec<T>>,
}

impl<T: GemmFloat> Workspace<T> {
    /// Buffers for batches of `batch` rows of `mlp`.
    pub fn new(mlp: &Mlp<T>, batch: usize) -> Self {
        let layers = mlp.spec.layers();
        let per = |f: &dyn Fn(usize, usize) -> usize| -> Vec<Vec<T>> {
            layers.iter().map(|&(o, i)| vec![T::ZERO; f(o, i)]).collect()
        };
        Workspace {
            batch,
            layers: layers.clone(),
            a: per(&|o, _| batch * o),
            delta: per(&|o, _| batch * o),
            d_input: per(&|_, i| batch * i),
            grad_w: per(&|o, i| o * i),
            grad_b: per(&|o, _| o),
        }
    }

    /// Batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Network outputs of the last forward pass (batch x outputs).
    pub fn outputs(&self) -> &[T] {
        self.a.last().expect("at least one layer")
    }
}

/// The label of a batch.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, T> {
    /// Regression targets, one per row.
    Values(&'a [T]),
    /// Classes 0, 1, 2, one per row.
    Classes(&'a [i8]),
}

/// Forward pass over `x` (batch x inputs, row-major); outputs in `ws.outputs()`.
pub fn forward<T: GemmFloat>(mlp: &Mlp<T>, ws: &mut Workspace<T>, x: &[T]) {
    let batch = ws.batch;
    assert_eq!(x.len(), batch * mlp.spec.inputs, "input is not batch x inputs");
    let last = ws.layers.len() - 1;
    for l in 0..=last {
        let (out, inp) = ws.layers[l];
        let (done, rest) = ws.a.split_at_mut(l);
        let input: &[T] = if l == 0 { x } else { &done[l - 1] };
        let a = &mut rest[0];
        // A = act(input W^T + b): fill A with the bias rows, accumulate the product (beta = 1), then the
        // activation in place (the last layer has none).
        fill_rows(a, &mlp.biases[l]);
        gemm(
            T::ONE,
            MatRef::row_major(input, batch, inp).expect("sized by the workspace"),
            MatRef::row_major(&mlp.weights[l], out, inp).expect("sized by the spec").t(),
            T::ONE,
            MatMut::row_major(a, batch, out).expect("sized by the workspace"),
            Parallelism::Rayon,
        )
        .expect("shapes agree");
        let k = tachyon_simd::kernels::<T>();
        match (l == last, mlp.spec.activation) {
            (true, _) => {}
            (false, Activation::Relu) => (k.relu_inplace)(a),
            (false, Activation::Tanh) => (k.tanh_inplace)(a),
        }
    }
}

/// Copies `row` into every row of `rows` (a whole number of rows), doubling the filled part with each copy: a
/// handful of `memcpy` calls instead of one per row (a row of 64 f32 is a call of 256 bytes).
fn fill_rows<T: Copy>(rows: &mut [T], row: &[T]) {
    let width = row.len();
    if width == 0 {
        return;
    }
    rows[..width].copy_from_slice(row);
    let mut filled = width;
    while filled < rows.len() {
        let n = filled.min(rows.len() - filled);
        rows.copy_within(..n, filled);
        filled += n;
    }
}

/// Forward and backward pass: returns the mean loss of the batch and leaves the gradients in the workspace.
pub fn forward_backward<T: GemmFloat>(mlp: &Mlp<T>, ws: &mut Workspace<T>, x: &[T], targets: Targets<'_, T>) -> f64 {
    forward(mlp, ws, x);
    let batch = ws.batch;
    let last = ws.layers.len() - 1;
    let inv_batch = 1.0 / batch as f64;

    // delta of the linear output layer: d loss / d Z_last.
    let out = ws.a[last].as_slice();
    let delta = &mut ws.delta[last];
    let mut loss = 0.0f64;
    match (mlp.spec.head, targets) {
        (Head::Regression, Targets::Values(y)) => {
            assert_eq!(y.len(), batch);
            for ((d, &o), &t) in delta.iter_mut().zip(out).zip(y) {
                let e = o.to_f64() - t.to_f64();
                loss += 0.5 * e * e;
                *d = T::from_f64(e * inv_batch);
            }
        }
        (Head::Softmax3, Targets::Classes(c)) => {
            assert_eq!(c.len(), batch);
            for ((d, o), &class) in delta.chunks_exact_mut(3).zip(out.chunks_exact(3)).zip(c) {
                assert!((0..3).contains(&class), "class {class} is not 0, 1 or 2");
                let p = softmax3([o[0].to_f64(), o[1].to_f64(), o[2].to_f64()]);
                loss -= p[class as usize].max(f64::MIN_POSITIVE).ln();
                for (k, (d, p)) in d.iter_mut().zip(p).enumerate() {
                    let onehot = if k == class as usize { 1.0 } else { 0.0 };
                    *d = T::from_f64((p - onehot) * inv_batch);
                }
            }
        }
        (head, _) => panic!("targets do not match the {head:?} head"),
    }

    for l in (0..=last).rev() {
        let (out_dim, in_dim) = ws.layers[l];
        if l < last {
            // delta_l = dA_l * act'(Z_l), dA_l being the next layer's d_input.
            let (d_next, a) = (&ws.d_input[l + 1], &ws.a[l]);
            let delta = &mut ws.delta[l];
            match mlp.spec.activation {
                Activation::Relu => (tachyon_simd::kernels::<T>().relu_grad)(a, d_next, delta),
                Activation::Tanh => {
                    for ((d, &g), &av) in delta.iter_mut().zip(d_next).zip(a) {
                        *d = g * (T::ONE - av * av);
                    }
                }
            }
        }
        let input: &[T] = if l == 0 { x } else { &ws.a[l - 1] };
        // db = column sums of delta from zero, in row order (deterministic); the first row initialises the sums
        // (0 + d, as a fill and an add would give, without a memset call per layer).
        let gb = &mut ws.grad_b[l];
        let (first, rest) = ws.delta[l].split_at(out_dim);
        for (g, &d) in gb.iter_mut().zip(first) {
            *g = T::ZERO + d;
        }
        for row in rest.chunks_exact(out_dim) {
            for (g, &d) in gb.iter_mut().zip(row) {
                *g = *g + d;
            }
        }
        if batch == 1 {
            // One sample: dW = delta^T input and dA_{l-1} = delta W in one sweep over the rows of W (the same
            // bits as the two products below; W read once, no second pass over it).
            let d_input = if l > 0 { Some(&mut ws.d_input[l][..]) } else { None };
            Gemm::<T>::active()
                .outer_gemv_t(&ws.delta[l], input, &mlp.weights[l], &mut ws.grad_w[l], d_input)
                .expect("sized by the workspace");
            continue;
        }
        let delta = MatRef::row_major(&ws.delta[l], batch, out_dim).expect("sized");
        // dW = delta^T input (out x in).
        gemm(
            T::ONE,
            delta.t(),
            MatRef::row_major(input, batch, in_dim).expect("sized"),
            T::ZERO,
            MatMut::row_major(&mut ws.grad_w[l], out_dim, in_dim).expect("sized"),
            Parallelism::Rayon,
        )
        .expect("shapes agree");
        // dA_{l-1} = delta W (batch x in); not needed below the first layer.
        if l > 0 {
            gemm(
                T::ONE,
                delta,
                MatRef::row_major(&mlp.weights[l], out_dim, in_dim).expect("sized"),
                T::ZERO,
                MatMut::row_major(&mut ws.d_input[l], batch, in_dim).expect("sized"),
                Parallelism::Rayon,
            )
            .expect("shapes agree");
        }
    }
    loss * inv_batch
}

/// Largest relative error of the backward pass [`gradient_check`] accepts. Central differences in f64 with
/// h = 1e-5 balance truncation (h^2) against rounding (u / h) and agree with a right gradient to 1e-7 at worst on
/// these networks; a wrong term is off by order 1.
pub const GRADIENT_TOLERANCE: f64 = 1e-6;

/// Checks the backward pass against central differences on every parameter of a small f64 network (5 inputs,
/// hidden 7 and 6) with `activation` and `head`, for a batch of `batch` rows (1 takes the fused single-sample
/// backward); returns the largest relative error, `|analytic - numeric| / max(|analytic|, |numeric|, 1e-3 max|g|)`.
pub fn gradient_check(activation: Activation, head: Head, batch: usize) -> f64 {
    let spec = MlpSpec { inputs: 5, hidden: vec![7, 6], activation, head };
    let mut mlp = Mlp::<f64>::new(spec, 11);
    // Non-zero biases, so every term of the gradient is exercised.
    for b in mlp.biases.iter_mut().flatten() {
        *b = 0.05;
    }
    let (x, y, c) = synthetic(batch, 5, 3);
    let targets = || match head {
        Head::Regression => Targets::Values(&y),
        Head::Softmax3 => Targets::Classes(&c),
    };
    let mut ws = Workspace::new(&mlp, batch);
    forward_backward(&mlp, &mut ws, &x, targets());
    let analytic: Vec<f64> = ws.grad_w.iter().chain(&ws.grad_b).flatten().copied().collect();
    let mut numeric = Vec::with_capacity(analytic.len());
    let h = 1e-5;
    let n_layers = mlp.weights.len();
    for which in 0..2 * n_layers {
        let len = if which < n_layers { mlp.weights[which].len() } else { mlp.biases[which - n_layers].len() };
        for i in 0..len {
            let loss_at = |delta: f64| {
                let mut m = mlp.clone();
                let p = if which < n_layers { &mut m.weights[which][i] } else { &mut m.biases[which - n_layers][i] };
                *p += delta;
                let mut w = Workspace::new(&m, batch);
                forward_backward(&m, &mut w, &x, targets())
            };
            numeric.push((loss_at(h) - loss_at(-h)) / (2.0 * h));
        }
    }
    let scale = analytic.iter().map(|g| g.abs()).fold(0.0, f64::max);
    // ReLU kinks make finite differences meaningless within h of zero; none occur with these inputs (the bound
    // holding for every parameter shows it).
    analytic
        .iter()
        .zip(&numeric)
        .map(|(a, n)| (a - n).abs() / (a.abs().max(n.abs()).max(1e-3 * scale)))
        .fold(0.0, f64::max)
}

/// `rows` inputs uniform in [-1, 1), a smooth regression target of them and its down / flat / up class.
fn synthetic(rows: usize, inputs: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<i8>) {
    let mut rng = SplitMix64(seed);
    let x: Vec<f64> = (0..rows * inputs).map(|_| 2.0 * rng.next_f64() - 1.0).collect();
    let y: Vec<f64> =
        x.chunks(inputs).map(|r| r.iter().enumerate().map(|(j, v)| v * (j as f64 - 1.5)).sum::<f64>().sin()).collect();
    let c = y
        .iter()
        .map(|&v| {
            if v < -0.3 {
                0
            } else if v > 0.3 {
                2
            } else {
                1
            }
        })
        .collect();
    (x, y, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Optimizer;

    #[test]
    fn gradients_match_central_differences_for_every_layer_activation_and_loss() {
        for activation in [Activation::Relu, Activation::Tanh] {
            for head in [Head::Regression, Head::Softmax3] {
                for batch in [9, 1] {
                    let worst = gradient_check(activation, head, batch);
                    assert!(
                        worst <= GRADIENT_TOLERANCE,
                        "{activation:?} {head:?} batch {batch}: relative error {worst:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let spec = MlpSpec { inputs: 4, hidden: vec![16, 16], activation: Activation::Tanh, head: Head::Regression };
        let (x, y, _) = synthetic(4096, 4, 9);
        let (x, y): (Vec<f32>, Vec<f32>) =
            (x.iter().map(|&v| v as f32).collect(), y.iter().map(|&v| v as f32).collect());
        let batch = 128;
        let run = || {
            let mut mlp = Mlp::<f32>::new(spec.clone(), 5);
            let mut ws = Workspace::new(&mlp, batch);
            let mut adam = Optimizer::adam(&mlp, 3e-3);
            let mut losses = Vec::with_capacity(100);
            for epoch in 0..15 {
                let mut total = 0.0;
                for b in 0..x.len() / 4 / batch {
                    let (xs, ys) = (&x[b * batch * 4..(b + 1) * batch * 4], &y[b * batch..(b + 1) * batch]);
                    let loss = forward_backward(&mlp, &mut ws, xs, Targets::Values(ys));
                    adam.step(&mut mlp, &ws, loss).unwrap();
                    total += loss;
                }
                let _ = epoch;
                losses.push(total);
            }
            (mlp, losses)
        };
        let (a, losses) = run();
        let (b, _) = run();
        assert_eq!(a, b, "same seed and thread count: bit-identical weights");
        assert!(losses[14] < 0.2 * losses[0], "loss should fall: {losses:?}");
    }
}
