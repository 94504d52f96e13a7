//! The int8 network: calibrated scales, quantised weights, and their layout for the integer kernels.
//!
//! Quantisation (post-training, symmetric, no zero points):
//! - inputs: each standardised feature `z_i` gets its own scale `s_i = max |z_i| / 127` over the calibration rows,
//!   so `q_i = round(z_i / s_i)` clamped to [-127, 127];
//! - hidden activations: one scale per layer, `max a / 255` after ReLU (so `q` in [0, 255]) or `1 / 127` after
//!   tanh (`q` in [-127, 127]);
//! - weights: the input scales are folded in first (`W'[o, i] = W[o, i] s_i`; the first layer's inputs are
//!   standardised while they are quantised, `q_i = round((x_i - mean_i) / (std_i s_i))`), then each output channel gets `w_o = max_i |W'[o, i]| / 127` and `Wq = round(W' / w_o)`, so the
//!   layer's pre-activation is `acc_o w_o + b_o` with `acc_o = sum_i Wq[o, i] q_i` exact in i32.
//!
//! Layout for `vpmaddwd` (i16 x i16 pairs summed into i32, which cannot saturate here: |Wq| <= 127 and
//! |q| <= 255): weights and activations are held as i16. A panel of `regs` registers of 8 outputs stores, for
//! each input pair `(2p, 2p + 1)`, the 16 values `Wq[o, 2p], Wq[o, 2p + 1]` of each output `o` in turn, so one
//! broadcast of the activation pair and one `vpmaddwd` per register advance 8 outputs by two inputs. Layers
//! narrower than 8 outputs are stored row-major, padded to 16 inputs, and computed as dot products. The scalar
//! twin reads the same arrays.

use tachyon_simd::mem::AlignedVec;
use tachyon_train::Activation;

use crate::dense::pack::{panel_regs, round_up, Form};
use crate::network::DenseNetwork;

/// Outputs per register of i32 accumulators.
pub(crate) const OUT_LANES: usize = 8;
/// Inputs per register of i16 activations (the dot form's step, and the padding of every activation buffer).
pub(crate) const IN_LANES: usize = 16;

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
    pub weights: AlignedVec<i16>,
    /// Per output: `w_o` (padded with 0).
    pub scale: AlignedVec<f32>,
    /// Per output: `b_o` (padded with 0).
    pub bias: AlignedVec<f32>,
    /// Hidden layers: `1 / s` of the activation scale they quantise their outputs to.
    pub inv_next_scale: f32,
    /// Hidden layers: the clamp range of quantised outputs ([0, 255] after ReLU, [-127, 127] after tanh).
    pub q_min: f32,
    pub q_max: f32,
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
            input_scales: input_max.into_iter().map(|m| positive(m / 127.0)).collect(),
            activation_scales: act_max
                .into_iter()
                .map(|m| match net.activation {
                    Activation::Relu => positive(m / 255.0),
                    Activation::Tanh => 1.0 / 127.0,
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
                let q = |o: usize, i: usize| -> i16 {
                    if o < outputs && i < inputs {
                        (folded(o, i) / channel_scale[o]).round_ties_even().clamp(-127.0, 127.0) as i16
                    } else {
                        0
                    }
                };
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
                            for p in 0..inputs.div_ceil(2) {
                                for o in first..first + regs * OUT_LANES {
                                    weights.push(q(o, 2 * p));
                                    weights.push(q(o, 2 * p + 1));
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
                let (q_min, q_max) = match net.activation {
                    Activation::Relu => (0.0, 255.0),
                    Activation::Tanh => (-127.0, 127.0),
                };
                QuantLayer {
                    outputs,
                    inputs,
                    outputs_padded,
                    inputs_padded,
                    form,
                    panels,
                    weights,
                    scale: padded(&|o| channel_scale[o] as f32),
                    bias: padded(&|o| layer.bias[o] as f32),
                    inv_next_scale: (1.0 / next) as f32,
                    q_min,
                    q_max,
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

/// Per-call buffers: the quantised input and each hidden layer's quantised activations (i16, padded to
/// [`IN_LANES`], zero in the padding), and the last layer's f32 outputs.
#[derive(Clone, Debug)]
pub(crate) struct QuantScratch {
    pub input: AlignedVec<i16>,
    pub hidden: Vec<AlignedVec<i16>>,
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
