//! Optimiser updates: one pass over a parameter tensor and its moment buffers per step.

use super::reduce::load_at;
use crate::float::Float;
use crate::lanes::Lanes;

/// The per-step coefficients of an Adam / AdamW update (PyTorch's formulation, decoupled weight decay), applied to
/// every element by [`KernelTable::adam`](crate::KernelTable::adam):
///
/// ```text
/// g' = grad_scale g
/// m  = beta1 m + (1 - beta1) g'
/// v  = beta2 v + (1 - beta2) g'^2
/// p  = p - (step_size m / (sqrt(bias2 v) + eps) + decay p)
/// ```
///
/// Every path computes exactly these operations in this order, unfused (each correctly rounded), so the result
/// does not depend on the instruction set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep<T> {
    /// Gradient scale (clipping factor; 1 for none).
    pub grad_scale: T,
    /// First-moment decay.
    pub beta1: T,
    /// `1 - beta1`.
    pub one_minus_beta1: T,
    /// Second-moment decay.
    pub beta2: T,
    /// `1 - beta2`.
    pub one_minus_beta2: T,
    /// Learning rate over the first moment's bias correction, `lr / (1 - beta1^t)`.
    pub step_size: T,
    /// The second moment's bias correction, `1 / (1 - beta2^t)`.
    pub bias2: T,
    /// Added to the denominator.
    pub eps: T,
    /// Learning rate times weight decay (0 for plain Adam and for biases).
    pub decay: T,
}

impl<T: Float> AdamStep<T> {
    /// The coefficients of step `t` (1-based) for learning rate `lr`, moment decays `beta1` and `beta2`,
    /// denominator term `eps`, decoupled `weight_decay` (0 for none) and gradient scale `grad_scale` (the clipping
    /// factor, 1 for none); computed in f64, each rounded once to `T`.
    pub fn at(t: u64, lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64, grad_scale: f64) -> Self {
        let t = t.min(i32::MAX as u64) as i32;
        let f = T::from_f64;
        AdamStep {
            grad_scale: f(grad_scale),
            beta1: f(beta1),
            one_minus_beta1: f(1.0 - beta1),
            beta2: f(beta2),
            one_minus_beta2: f(1.0 - beta2),
            step_size: f(lr / (1.0 - beta1.powi(t))),
            bias2: f(1.0 / (1.0 - beta2.powi(t))),
            eps: f(eps),
            decay: f(lr * weight_decay),
        }
    }
}

/// Applies `step` to `n` elements: gradients `g`, parameters `p`, moments `m` and `v` (updated in place).
///
/// # Safety
/// `g` readable and `p`, `m`, `v` readable and writable for `n` elements; the four must not overlap.
#[inline(always)]
pub(crate) unsafe fn adam<T: Float, S: Lanes<T>>(
    s: S,
    step: &AdamStep<T>,
    g: *const T,
    p: *mut T,
    m: *mut T,
    v: *mut T,
    n: usize,
) {
    let c = [
        s.splat(step.grad_scale),
        s.splat(step.beta1),
        s.splat(step.one_minus_beta1),
        s.splat(step.beta2),
        s.splat(step.one_minus_beta2),
        s.splat(step.step_size),
        s.splat(step.bias2),
        s.splat(step.eps),
        s.splat(step.decay),
    ];
    // PERF: a function, not a closure: closures are not compiled with the caller's target features, so the
    // intrinsics inside one are not inlined (each became a call, and the epoch 1.6x slower).
    let mut i = 0;
    while i + S::N <= n {
        // SAFETY: i + N <= n elements of every buffer (caller's contract).
        unsafe { adam_register(s, &c, g, p, m, v, i, None) };
        i += S::N;
    }
    if i < n {
        // SAFETY: the tail masks the lanes past n.
        unsafe { adam_register(s, &c, g, p, m, v, i, Some(s.tail(n - i))) };
    }
}

/// One register (or the masked tail) of [`adam`]; `c` holds the splatted coefficients in [`AdamStep`]'s order.
///
/// # Safety
/// As for [`adam`], for the lanes at offset `i` (the masked ones when `tail` is set).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn adam_register<T: Float, S: Lanes<T>>(
    s: S,
    c: &[S::V; 9],
    g: *const T,
    p: *mut T,
    m: *mut T,
    v: *mut T,
    i: usize,
    tail: Option<S::M>,
) {
    let [scale, beta1, omb1, beta2, omb2, step_size, bias2, eps, decay] = *c;
    // SAFETY: forwarded caller contract.
    unsafe {
        let gi = s.mul(load_at(s, g, i, tail), scale);
        let mi = s.add(s.mul(beta1, load_at(s, m, i, tail)), s.mul(omb1, gi));
        let vi = s.add(s.mul(beta2, load_at(s, v, i, tail)), s.mul(omb2, s.mul(gi, gi)));
        let pi = load_at(s, p, i, tail);
        let denominator = s.add(s.sqrt(s.mul(bias2, vi)), eps);
        let pi = s.sub(pi, s.add(s.div(s.mul(step_size, mi), denominator), s.mul(decay, pi)));
        match tail {
            None => {
                s.store(m.add(i), mi);
                s.store(v.add(i), vi);
                s.store(p.add(i), pi);
            }
            Some(mask) => {
                s.store_tail(m.add(i), mask, mi);
                s.store_tail(v.add(i), mask, vi);
                s.store_tail(p.add(i), mask, pi);
            }
        }
    }
}
