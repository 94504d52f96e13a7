//! The f32 forward pass, written once over [`Lanes`] and instantiated per instruction set by the predictor's
//! dispatch. Reads the layout of [`super::pack`]; bias and activation are fused into the register epilogue.

use tachyon_model::Activation;
use tachyon_simd::lanes::Lanes;
use tachyon_simd::math;

use super::pack::{Form, PackedNetwork, Scratch, MAX_PANEL_REGS};

/// The activation applied to one register in a layer's epilogue.
#[inline(always)]
fn activate<L: Lanes<f32>>(s: L, hidden: bool, activation: Activation, v: L::V) -> L::V {
    match (hidden, activation) {
        (false, _) => v,
        // max(0, v) with v second: NaN propagates and -0.0 stays -0.0, as the training kernel's ReLU does.
        (true, Activation::Relu) => s.max(s.zero(), v),
        (true, Activation::Tanh) => math::tanh(s, v),
    }
}

/// One panel of `R` registers of outputs: `out = act(bias + W x)`.
///
/// # Safety
/// `w` holds `inputs * R * L::N` weights, `x` `inputs` values, `bias` and `out` `R * L::N` values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn panel<L: Lanes<f32>, const R: usize>(
    s: L,
    w: *const f32,
    x: *const f32,
    inputs: usize,
    bias: *const f32,
    out: *mut f32,
    hidden: bool,
    activation: Activation,
) {
    let (n, stride) = (L::N, R * L::N);
    let mut acc = [s.zero(); R];
    // SAFETY: (whole body) every offset stays inside the extents the caller guarantees.
    unsafe {
        for (r, a) in acc.iter_mut().enumerate() {
            *a = s.load(bias.add(r * n));
        }
        if R <= 4 {
            // Few accumulators cannot hide the FMA latency (4 cycles x 2 units): alternate two sets over the inputs.
            let mut odd = [s.zero(); R];
            let mut i = 0;
            while i + 1 < inputs {
                let (x0, x1) = (s.splat(*x.add(i)), s.splat(*x.add(i + 1)));
                let w0 = w.add(i * stride);
                for r in 0..R {
                    acc[r] = s.mul_add(s.load(w0.add(r * n)), x0, acc[r]);
                    odd[r] = s.mul_add(s.load(w0.add(stride + r * n)), x1, odd[r]);
                }
                i += 2;
            }
            if i < inputs {
                let xi = s.splat(*x.add(i));
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = s.mul_add(s.load(w.add(i * stride + r * n)), xi, *a);
                }
            }
            for r in 0..R {
                acc[r] = s.add(acc[r], odd[r]);
            }
        } else {
            for i in 0..inputs {
                let xi = s.splat(*x.add(i));
                let wi = w.add(i * stride);
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = s.mul_add(s.load(wi.add(r * n)), xi, *a);
                }
            }
        }
        for (r, &a) in acc.iter().enumerate() {
            s.store(out.add(r * n), activate(s, hidden, activation, a));
        }
    }
}

/// Rows of a layer narrower than one register: dot products over zero-padded rows, zeros in the padded outputs.
///
/// # Safety
/// `w` holds `outputs * inputs_padded` weights, `x` `inputs_padded` values, `bias` `outputs` values and `out`
/// `outputs_padded` values; `inputs_padded` and `outputs_padded` are multiples of `L::N`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dot_rows<L: Lanes<f32>>(
    s: L,
    w: *const f32,
    x: *const f32,
    inputs_padded: usize,
    bias: *const f32,
    outputs: usize,
    outputs_padded: usize,
    out: *mut f32,
    hidden: bool,
    activation: Activation,
) {
    let n = L::N;
    // SAFETY: (whole body) every offset stays inside the extents the caller guarantees.
    unsafe {
        for o in 0..outputs {
            let row = w.add(o * inputs_padded);
            let (mut a0, mut a1) = (s.zero(), s.zero());
            let mut i = 0;
            while i + 2 * n <= inputs_padded {
                a0 = s.mul_add(s.load(row.add(i)), s.load(x.add(i)), a0);
                a1 = s.mul_add(s.load(row.add(i + n)), s.load(x.add(i + n)), a1);
                i += 2 * n;
            }
            if i < inputs_padded {
                a0 = s.mul_add(s.load(row.add(i)), s.load(x.add(i)), a0);
            }
            *out.add(o) = *bias.add(o) + s.reduce_add(s.add(a0, a1));
        }
        for o in outputs..outputs_padded {
            *out.add(o) = 0.0;
        }
        if hidden {
            for o in (0..outputs_padded).step_by(n) {
                s.store(out.add(o), activate(s, hidden, activation, s.load(out.add(o))));
            }
        }
    }
}

/// Runs the network on one row of raw features; the outputs are left in the last scratch buffer.
///
/// # Safety
/// `x` holds `net.inputs` readable values; `scratch` was made for `net`; `net` was packed for `L::N` lanes.
#[inline(always)]
pub(crate) unsafe fn forward<L: Lanes<f32>>(s: L, net: &PackedNetwork, x: *const f32, scratch: &mut Scratch) {
    let n = L::N;
    debug_assert_eq!(net.lanes, n);
    // SAFETY: (whole body) buffers and weights have the padded extents `PackedNetwork::new` and `Scratch::new`
    // gave them; `x` is read only within `net.inputs` (masked tail).
    unsafe {
        // Stage x - mean into the padded input buffer (the padded lanes stay zero).
        let staged = scratch.input.as_mut_ptr();
        let (hi, lo) = (net.mean_hi.as_ptr(), net.mean_lo.as_ptr());
        let mut i = 0;
        while i < net.inputs {
            let v = if i + n <= net.inputs { s.load(x.add(i)) } else { s.load_tail(x.add(i), s.tail(net.inputs - i)) };
            s.store(staged.add(i), s.sub(s.sub(v, s.load(hi.add(i))), s.load(lo.add(i))));
            i += n;
        }
        let weights = net.weights.as_ptr();
        let bias = net.bias.as_ptr();
        let mut input: *const f32 = staged;
        for (layer, buffer) in net.layers.iter().zip(scratch.layers.iter_mut()) {
            let out = buffer.as_mut_ptr();
            let (w, b) = (weights.add(layer.weights_at), bias.add(layer.bias_at));
            match layer.form {
                Form::Dot => dot_rows(
                    s,
                    w,
                    input,
                    layer.inputs_padded,
                    b,
                    layer.outputs,
                    layer.outputs_padded,
                    out,
                    layer.hidden,
                    net.activation,
                ),
                Form::Panels => {
                    let (k, act, h) = (layer.inputs, net.activation, layer.hidden);
                    for p in &net.panels[layer.panels.clone()] {
                        let (w, b, o) = (weights.add(p.weights_at), b.add(p.first_output), out.add(p.first_output));
                        match p.regs {
                            1 => panel::<L, 1>(s, w, input, k, b, o, h, act),
                            2 => panel::<L, 2>(s, w, input, k, b, o, h, act),
                            3 => panel::<L, 3>(s, w, input, k, b, o, h, act),
                            4 => panel::<L, 4>(s, w, input, k, b, o, h, act),
                            5 => panel::<L, 5>(s, w, input, k, b, o, h, act),
                            6 => panel::<L, 6>(s, w, input, k, b, o, h, act),
                            7 => panel::<L, 7>(s, w, input, k, b, o, h, act),
                            _ => panel::<L, MAX_PANEL_REGS>(s, w, input, k, b, o, h, act),
                        }
                    }
                }
            }
            input = out;
        }
    }
}
