//! The int8 network: calibrated scales, quantised weights, and their layout for the integer kernels.
//!
//! Quantisation (post-training, symmetric scales, 7-bit activations):
//! - inputs: each standardised feature `z_i` gets its own scale `s_i = max |z_i| / 63` over the calibration rows,
//!   `q_i = round(z_i / s_i)` clamped to [-63, 63];
//! - hidden activations: one scale per layer, `max a / 127` after ReLU (`q` in [0, 127]) or `1 / 63` after tanh
//!   (`q` in [-63, 63]);
//! - weights: the input scales are folded in first (`W'[o, i] = W[o, i] s_i`; the first layer's inputs are
//!   standardised while they are quantised, `q_i = round((x_i - mean_i) / (std_i s_i))`), then each output
//!   channel gets `w_o = max_i |W'[o, i]| / 127` and `Wq = round(W' / w_o)` in [-127, 127], so the layer's
//!   pre-activation is `acc_o w_o + b_o` with `acc_o = sum_i Wq[o, i] q_i` exact in i32.
//!
//! Why 7 bits: the kernel multiplies with `vpmaddubsw` (u8 x i8, adjacent products summed into a saturating
//! i16), which moves 32 multiply-adds per 32-byte load, twice what the i16 `vpmaddwd` does (measured on this
//! machine: a 64 x 64 layer in 51-83 ns against 98-103 ns). Its saturation cannot bite when the unsigned operand
//! is at most 127: `2 x 127 x 127 = 32258 < 32767`. Signed activations are stored offset by 64 (`u = q + 64` in
//! [1, 127]) and the offset's contribution, `64 sum_i Wq[o, i]`, is subtracted exactly by starting the
//! accumulator at its negation.
//!
//! Layout: a panel of `regs` registers of 8 outputs stores, for each input quad `(4k .. 4k + 3)`, the 4 weights
//! of each output in turn (32 bytes per register), so one broadcast of the 4 activations and one `vpmaddubsw` +
//! `vpmaddwd` (by ones, widening to i32) per register advance 8 outputs by four inputs. Layers narrower than 8
//! outputs are stored row-major, padded to 32 inputs, and computed as dot products. The scalar twin reads the same
//! arrays.

use tachyon_simd::mem::AlignedVec;
use tachyon_train::Activation;

use crate::dense::pack::{panel_regs, round_up, Form};
use crate::network::DenseNetwork;

/// Outputs per register of i32 accumulators.
pub(crate) const OUT_LANES: usize = 8;
/// Inputs per register of u8 activations (the dot form's step, and the padding of every activation buffer).
pub(crate) const IN_LANES: usize = 32;
/// Inputs per broadcast in the panel form.
pub(crate) const QUAD: usize = 4;
/// Largest activation magnitude: 7 bits keep `vpmaddubsw` from saturating.
const ACT_MAX: f64 = 127.0;
/// Largest magnitude of a signed activation before its offset of 64.
const SIGNED_MAX: f64 = 63.0;

/// One quantised layer.
#[derive(Clone, Debug)]
pub(crate) struct QuantLayer {
    pub outputs: usize,
    pub inputs: usize,
    /// `outputs` rounded up to whole registers of [`OUT_LANES`].
    pub outputs_padded: usize,
    /// `inputs` rounded up to [`IN_LANES`].
    pub inputs_padded: usize,
    pub form: Form,
    /// `(regs, offset in weights, first output)` per panel.
    pub panels: Vec<(usize, usize, usize)>,
    /// Quantised weights in the kernel's layout.
    pub weights: AlignedVec<i8>,
    /// Per output: `offset x sum_i Wq[o, i]` for this layer's input offset, negated (accumulators start there).
    pub start: AlignedVec<i32>,
    /// Per output: `w_o` (padded with 0).
    pub scale: AlignedVec<f32>,
    /// Per output: `b_o` (padded with 0).
    pub bias: AlignedVec<f32>,
    /// Hidden layers: `1 / s` of the activation scale they quantise their outputs to.
    pub inv_next_scale: f32,
    /// Hidden layers: the clamp range of quantised outputs ([0, 127] after ReLU, [-63, 63] after tanh) and the
    /// offset added before they are stored as u8 (0 after ReLU, 64 after tanh).
    pub q_min: f32,
    pub q_max: f32,
    pub q_offset: f32,
    pub hidden: bool,
}

/// A network quantised for the int8 kernels.
#[derive(Clone, Debug)]
pub(crate) struct QuantNetwork {
    pub inputs: usize,
    pub activation: Activation,
    /// Feature means as two f32 parts (as the f32 predictor stages them), padded to [`IN_LANES`].
    pub mean_hi: AlignedVec<f32>,
    pub mean_lo: AlignedVec<f32>,
    /// `1 / (std_i s_i)`: standardise and quantise in one multiplication (0 in the padding).
    pub input_factor: AlignedVec<f32>,
    pub layers: Vec<QuantLayer>,
}

/// Scales found on the calibration rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Per input feature, the scale of its standardised value.
    pub input_scales: Vec<f64>,
    /// Per hidden layer, the scale of its activations.
    pub activation_scales: Vec<f64>,
}

impl Calibration {
    /// Scales from the f64 reference run over `rows` (whole rows of raw features).
    pub fn fit(net: &DenseNetwork, rows: &[f32]) -> Calibration {
        let mut input_max = vec![0.0f64; net.inputs];
        let hidden = net.layers.len() - 1;
        let mut act_max = vec![0.0f64; hidden];
        for row in rows.chunks_exact(net.inputs) {
            let mut x: Vec<f64> =
                row.iter().zip(&net.mean).zip(&net.std).map(|((&v, m), s)| (f64::from(v) - m) / s).collect();
            for (m, v) in input_max.iter_mut().zip(&x) {
                if v.is_finite() {
                    *m = m.max(v.abs());
                }
            }
            for (l, layer) in net.layers[..hidden].iter().enumerate() {
                x = (0..layer.outputs)
                    .map(|o| {
                        let w = &layer.weights[o * layer.inputs..(o + 1) * layer.inputs];
                        let y = layer.bias[o] + w.iter().zip(&x).map(|(w, v)| w * v).sum::<f64>();
                        match net.activation {
                            Activation::Relu => y.max(0.0),
                            Activation::Tanh => y.tanh(),
                        }
                    })
                    .collect();
                for v in &x {
                    if v.is_finite() {
                        act_max[l] = act_max[l].max(v.abs());
                    }
                }
            }
        }
        let positive = |s: f64| if s > 0.0 && s.is_finite() { s } else { 1.0 };
        Calibration {
            input_scales: input_max.into_iter().map(|m| positive(m / SIGNED_MAX)).collect(),
            activation_scales: act_max
                .into_iter()
                .map(|m| match net.activation {
                    Activation::Relu => positive(m / ACT_MAX),
                    Activation::Tanh => 1.0 / SIGNED_MAX,
                })
                .collect(),
        }
    }
}

impl QuantNetwork {
    /// Quantises `net` (validated) with `calibration`.
    pub fn new(net: &DenseNetwork, calibration: &Calibration) -> QuantNetwork {
        let last = net.layers.len() - 1;
        let layers = net
            .layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let (outputs, inputs) = (layer.outputs, layer.inputs);
                let input_scale = |i: usize| {
                    if l == 0 {
                        // Staging already divided by std (`input_factor`): q_i s_i approximates z_i.
                        calibration.input_scales[i]
                    } else {
                        calibration.activation_scales[l - 1]
                    }
                };
                let folded = |o: usize, i: usize| layer.weights[o * inputs + i] * input_scale(i);
                let channel_scale: Vec<f64> = (0..outputs)
                    .map(|o| {
                        let m = (0..inputs).map(|i| folded(o, i).abs()).fold(0.0, f64::max) / 127.0;
                        if m > 0.0 {
                            m
                        } else {
                            1.0
                        }
                    })
                    .collect();
                let q = |o: usize, i: usize| -> i8 {
                    if o < outputs && i < inputs {
                        (folded(o, i) / channel_scale[o]).round_ties_even().clamp(-127.0, 127.0) as i8
                    } else {
                        0
                    }
                };
                // The first layer's inputs and tanh activations are signed, stored with an offset of 64.
                let input_offset = if l == 0 || net.activation == Activation::Tanh { 64 } else { 0 };
                let mut start = AlignedVec::<i32>::zeroed(round_up(outputs, OUT_LANES));
                for (o, st) in start.iter_mut().enumerate().take(outputs) {
                    *st = -input_offset * (0..inputs).map(|i| i32::from(q(o, i))).sum::<i32>();
                }
                let form = if outputs < OUT_LANES { Form::Dot } else { Form::Panels };
                let outputs_padded = round_up(outputs, OUT_LANES);
                let inputs_padded = round_up(inputs, IN_LANES);
                let mut weights = AlignedVec::with_capacity(0);
                let mut panels = Vec::new();
                match form {
                    Form::Panels => {
                        let mut first = 0;
                        for regs in panel_regs(outputs_padded / OUT_LANES) {
                            panels.push((regs, weights.len(), first));
                            for k in 0..inputs.div_ceil(QUAD) {
                                for o in first..first + regs * OUT_LANES {
                                    for j in 0..QUAD {
                                        weights.push(q(o, QUAD * k + j));
                                    }
                                }
                            }
                            first += regs * OUT_LANES;
                        }
                    }
                    Form::Dot => {
                        for o in 0..outputs {
                            for i in 0..inputs_padded {
                                weights.push(q(o, i));
                            }
                        }
                    }
                }
                let padded = |v: &dyn Fn(usize) -> f32| {
                    let mut a = AlignedVec::zeroed(outputs_padded);
                    for (o, x) in a.iter_mut().enumerate().take(outputs) {
                        *x = v(o);
                    }
                    a
                };
                let hidden = l != last;
                let next = if hidden { calibration.activation_scales[l] } else { 1.0 };
                let (q_min, q_max, q_offset) = match net.activation {
                    Activation::Relu => (0.0, ACT_MAX as f32, 0.0),
                    Activation::Tanh => (-SIGNED_MAX as f32, SIGNED_MAX as f32, 64.0),
                };
                QuantLayer {
                    outputs,
                    inputs,
                    outputs_padded,
                    inputs_padded,
                    form,
                    panels,
                    weights,
                    start,
                    scale: padded(&|o| channel_scale[o] as f32),
                    bias: padded(&|o| layer.bias[o] as f32),
                    inv_next_scale: (1.0 / next) as f32,
                    q_min,
                    q_max,
                    q_offset,
                    hidden,
                }
            })
            .collect();
        let width = round_up(net.inputs, IN_LANES);
        let (mut mean_hi, mut mean_lo, mut input_factor) =
            (AlignedVec::zeroed(width), AlignedVec::zeroed(width), AlignedVec::zeroed(width));
        for i in 0..net.inputs {
            mean_hi[i] = net.mean[i] as f32;
            mean_lo[i] = (net.mean[i] - f64::from(mean_hi[i])) as f32;
            input_factor[i] = (1.0 / (net.std[i] * calibration.input_scales[i])) as f32;
        }
        QuantNetwork { inputs: net.inputs, activation: net.activation, mean_hi, mean_lo, input_factor, layers }
    }

    /// Outputs of the last layer.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }
}

/// Per-call buffers: the quantised input and each hidden layer's quantised activations (u8 with their offset,
/// padded to [`IN_LANES`]; the padding meets zero weights), and the last layer's f32 outputs.
#[derive(Clone, Debug)]
pub(crate) struct QuantScratch {
    pub input: AlignedVec<u8>,
    pub hidden: Vec<AlignedVec<u8>>,
    pub output: AlignedVec<f32>,
}

impl QuantScratch {
    pub fn new(net: &QuantNetwork) -> QuantScratch {
        let last = net.layers.last().expect("validated: >= 1 layer");
        QuantScratch {
            input: AlignedVec::zeroed(round_up(net.inputs, IN_LANES)),
            hidden: net.layers[..net.layers.len() - 1]
                .iter()
                .map(|l| AlignedVec::zeroed(round_up(l.outputs_padded, IN_LANES)))
                .collect(),
            output: AlignedVec::zeroed(last.outputs_padded),
        }
    }
}
