//! Optimisers over a network's gradients: Adam / AdamW and SGD with momentum, one learning-rate schedule for both,
//! global-norm clipping, and a refusal (naming the step) when the loss or a gradient is not finite.
//!
//! Weight decay touches weights, never biases: for AdamW it is decoupled (`p -= lr wd p`, Loshchilov & Hutter);
//! for SGD it is the L2 penalty `0.5 wd |W|^2` added to the loss, so that SGD on a linear model with `wd = lambda`
//! converges to the closed-form ridge solution (tested in `ridge_sgd`).

use tachyon_linalg::GemmFloat;

use crate::mlp::{Mlp, Workspace};

/// The update rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Adam (Kingma & Ba) with bias-corrected moments.
    Adam {
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Denominator guard.
        eps: f64,
    },
    /// SGD with heavy-ball momentum as PyTorch defines it: `u = momentum u + g; p -= lr u`.
    Sgd {
        /// Momentum (0: plain SGD).
        momentum: f64,
    },
}

impl Method {
    /// Adam with the usual betas (0.9, 0.999) and eps 1e-8.
    pub const ADAM: Method = Method::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
}

/// How the learning rate moves with the step count: `lr(step) = base lr x factor(step)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    /// Factor 1 throughout.
    Constant,
    /// Half a cosine from 1 at the first step to `floor` at `total_steps` (and `floor` after).
    Cosine {
        /// Steps of the whole run.
        total_steps: u64,
        /// Final factor, in [0, 1].
        floor: f64,
    },
    /// Multiply by `factor` every `every_steps` steps.
    Step {
        /// Steps between decays (>= 1).
        every_steps: u64,
        /// Decay per period, in (0, 1].
        factor: f64,
    },
}

impl LrSchedule {
    /// Factor for the 1-based `step`.
    pub fn factor(&self, step: u64) -> f64 {
        let done = step.saturating_sub(1);
        match *self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine { total_steps, floor } => {
                let progress = (done as f64 / total_steps.saturating_sub(1).max(1) as f64).min(1.0);
                floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            LrSchedule::Step { every_steps, factor } => {
                factor.powi((done / every_steps.max(1)).min(i32::MAX as u64) as i32)
            }
        }
    }
}

/// A step that cannot be taken.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("training step {step}: {what} is not finite (lower the learning rate or clip gradients)")]
pub struct NonFinite {
    /// The 1-based step.
    pub step: u64,
    /// `loss` or `gradient`.
    pub what: &'static str,
}

/// Optimiser state for one network: hyper-parameters, step count, and the moment buffers (allocated once).
#[derive(Clone, Debug)]
pub struct Optimizer<T> {
    /// Update rule.
    pub method: Method,
    /// Base learning rate.
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// Weight decay on weights (AdamW: decoupled; SGD: L2 penalty); 0 for none.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    pub clip_norm: f64,
    step: u64,
    /// Adam's first moment or SGD's momentum buffer, shaped as weights then biases.
    first: Vec<Vec<T>>,
    /// Adam's second moment (empty for SGD).
    second: Vec<Vec<T>>,
}

impl<T: GemmFloat> Optimizer<T> {
    /// An optimiser for `mlp` with learning rate `lr`, constant schedule, no decay and no clipping.
    pub fn new(mlp: &Mlp<T>, method: Method, lr: f64) -> Self {
        let zeros = || mlp.weights.iter().chain(&mlp.biases).map(|x| vec![T::ZERO; x.len()]).collect::<Vec<_>>();
        let second = if matches!(method, Method::Adam { .. }) { zeros() } else { Vec::new() };
        Optimizer {
            method,
            lr,
            schedule: LrSchedule::Constant,
            weight_decay: 0.0,
            clip_norm: 0.0,
            step: 0,
            first: zeros(),
            second,
        }
    }

    /// Adam with the usual betas.
    pub fn adam(mlp: &Mlp<T>, lr: f64) -> Self {
        Self::new(mlp, Method::ADAM, lr)
    }

    /// SGD with `momentum`.
    pub fn sgd(mlp: &Mlp<T>, lr: f64, momentum: f64) -> Self {
        Self::new(mlp, Method::Sgd { momentum }, lr)
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Learning rate the next step will use.
    pub fn current_lr(&self) -> f64 {
        self.lr * self.schedule.factor(self.step + 1)
    }

    /// Applies the gradients of `ws` to `mlp`; refuses (and changes nothing) if `loss` or a gradient is not
    /// finite.
    pub fn step(&mut self, mlp: &mut Mlp<T>, ws: &Workspace<T>, loss: f64) -> Result<(), NonFinite> {
        let step = self.step + 1;
        if !loss.is_finite() {
            return Err(NonFinite { step, what: "loss" });
        }
        let grads = || ws.grad_w.iter().chain(&ws.grad_b);
        let table = tachyon_simd::kernels::<T>();
        let mut norm_sq: f64 = grads().map(|g| (table.sum_sq)(g).to_f64()).sum();
        if !norm_sq.is_finite() {
            // An f32 sum of squares overflows beyond |g| ~ 1.8e19: recount in f64 before calling it non-finite.
            norm_sq = grads().flatten().map(|g| g.to_f64() * g.to_f64()).sum();
        }
        if !norm_sq.is_finite() {
            return Err(NonFinite { step, what: "gradient" });
        }
        let clip =
            if self.clip_norm > 0.0 && norm_sq.sqrt() > self.clip_norm { self.clip_norm / norm_sq.sqrt() } else { 1.0 };
        let lr = self.current_lr();
        self.step = step;
        let layers = mlp.weights.len();
        let params = mlp.weights.iter_mut().chain(mlp.biases.iter_mut());
        for (index, ((p, g), first)) in params.zip(grads()).zip(&mut self.first).enumerate() {
            let decay = if index < layers { self.weight_decay } else { 0.0 };
            match self.method {
                Method::Adam { beta1, beta2, eps } => {
                    let adam = tachyon_simd::AdamStep::at(step, lr, beta1, beta2, eps, decay, clip);
                    (table.adam)(&adam, g, p, first, &mut self.second[index]);
                }
                Method::Sgd { momentum } => {
                    for ((p, &g), u) in p.iter_mut().zip(g).zip(first.iter_mut()) {
                        let g = g.to_f64() * clip + decay * p.to_f64();
                        let un = momentum * u.to_f64() + g;
                        *u = T::from_f64(un);
                        *p = T::from_f64(p.to_f64() - lr * un);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::{forward_backward, MlpSpec, Targets};
    use crate::{Activation, Head};

    #[test]
    fn schedules_start_at_one_and_end_where_asked() {
        let cosine = LrSchedule::Cosine { total_steps: 101, floor: 0.1 };
        assert_eq!(cosine.factor(1), 1.0);
        assert!((cosine.factor(51) - 0.55).abs() < 1e-12);
        assert!((cosine.factor(101) - 0.1).abs() < 1e-12);
        assert!((cosine.factor(500) - 0.1).abs() < 1e-12);
        let step = LrSchedule::Step { every_steps: 10, factor: 0.5 };
        assert_eq!([step.factor(1), step.factor(10), step.factor(11), step.factor(21)], [1.0, 1.0, 0.5, 0.25]);
        assert_eq!(LrSchedule::Constant.factor(1_000_000), 1.0);
    }

    /// One parameter, loss 0.5 (w - 3)^2: the gradient is w - 3, so every update can be written out by hand.
    fn scalar_problem() -> (Mlp<f64>, Workspace<f64>) {
        let spec = MlpSpec { inputs: 1, hidden: vec![], activation: Activation::Relu, head: Head::Regression };
        let mlp = Mlp::<f64>::new(spec, 1);
        let ws = Workspace::new(&mlp, 1);
        (mlp, ws)
    }

    fn loss_and_gradient(mlp: &Mlp<f64>, ws: &mut Workspace<f64>) -> f64 {
        // x = 1, y = 3: the gradient of 0.5 (w + b - 3)^2 = w + b - 3.
        forward_backward(mlp, ws, &[1.0], Targets::Values(&[3.0]))
    }

    #[test]
    fn sgd_with_momentum_matches_the_update_written_out() {
        let (mut mlp, mut ws) = scalar_problem();
        mlp.weights[0][0] = 0.0;
        let mut opt = Optimizer::sgd(&mlp, 0.1, 0.9);
        opt.weight_decay = 0.5;
        let (mut w, mut b, mut uw, mut ub) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for _ in 0..5 {
            let loss = loss_and_gradient(&mlp, &mut ws);
            opt.step(&mut mlp, &ws, loss).unwrap();
            let g = w + b - 3.0;
            uw = 0.9 * uw + g + 0.5 * w;
            ub = 0.9 * ub + g;
            w -= 0.1 * uw;
            b -= 0.1 * ub;
            assert!((mlp.weights[0][0] - w).abs() < 1e-15 && (mlp.biases[0][0] - b).abs() < 1e-15);
        }
    }

    #[test]
    fn the_schedule_scales_every_step() {
        let (mut mlp, mut ws) = scalar_problem();
        mlp.weights[0][0] = 0.0;
        let mut opt = Optimizer::sgd(&mlp, 0.1, 0.0);
        opt.schedule = LrSchedule::Step { every_steps: 1, factor: 0.5 };
        let mut w = 0.0;
        let mut b = 0.0;
        for k in 0..4 {
            assert!((opt.current_lr() - 0.1 * 0.5f64.powi(k)).abs() < 1e-15);
            let loss = loss_and_gradient(&mlp, &mut ws);
            opt.step(&mut mlp, &ws, loss).unwrap();
            let g = w + b - 3.0;
            w -= 0.1 * 0.5f64.powi(k) * g;
            b -= 0.1 * 0.5f64.powi(k) * g;
        }
        assert!((mlp.weights[0][0] - w).abs() < 1e-15);
    }

    #[test]
    fn adamw_decays_weights_but_not_biases() {
        let (mut mlp, mut ws) = scalar_problem();
        (mlp.weights[0][0], mlp.biases[0][0]) = (3.0, 0.0);
        // At the optimum the gradient is zero, so only the decay moves anything.
        let mut opt = Optimizer::adam(&mlp, 0.01);
        opt.weight_decay = 0.1;
        let loss = loss_and_gradient(&mlp, &mut ws);
        opt.step(&mut mlp, &ws, loss).unwrap();
        assert!((mlp.weights[0][0] - 3.0 * (1.0 - 0.01 * 0.1)).abs() < 1e-15);
        assert_eq!(mlp.biases[0][0], 0.0);
    }
}
