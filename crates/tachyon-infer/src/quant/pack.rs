//! The int8 network: calibrated scales, quantised weights, and their layout for the integer kernels.
//!
//! Quantisation (post-training, symmetric, no zero points): int8 weights, 8- or 12-bit activations.
//! - weights: per output channel, `w_o = max_i |W[o, i]| / 127` and `Wq = round(W / w_o)` in [-127, 127] (for the
//!   first layer, `W` acts on standardised features);
//! - activations: one scale per tensor, calibrated on data, with `L` levels ([`ActivationBits`]: `L` = 127 for 8
//!   bits, 2047 for 12): the standardised inputs share `s_in = max |z| / (L - 1)` (over every feature and
//!   calibration row), each hidden layer's activations `s = max a / 2L` after ReLU or `1 / L` after tanh, so
//!   `q = round(a / s)` lies in [-L, L] or [0, 2L + 1];
//! - the extreme level (`±L` for inputs, `2L + 1` after ReLU) is reserved: a value quantises to it only when it lies
//!   more than half a step beyond the calibrated range (or is NaN), where clamping would change it. A call that
//!   produces one is out of range and its row is computed by the f32 network instead (see
//!   [`crate::CompiledModel::quantize`]); tanh needs no reserve, its outputs never leave [-1, 1];
//! - a layer's pre-activation is then `acc_o (w_o s) + b_o` with `acc_o = sum_i Wq[o, i] q_i` exact in i32.
//!
//! Why two widths: 8-bit activations halve the multiply-adds on AVX-512 VNNI (`vpdpbusd`: four u8 x i8 products
//! per i32 lane, against two i16 x i16 for `vpdpwssd`), but on the shipped real features (heavy-tailed:
//! standardised maxima from 1.7 to 49 across features) they gave outputs correlated only 0.96-0.99 with f32
//! (per-tensor or per-feature scales, any clipping quantile tried), which the 0.999 rule refuses; 12 bits keep the
//! step at <= 0.025 standard deviations for every feature. `CompiledModel::quantize` therefore tries 8 bits and
//! keeps them only if they pass the check, else 12. The AVX2 and scalar kernels multiply i16 pairs either way.
//!
//! Overflow: a pair sum is at most `2 x 127 x 4095 = 1,040,130`, so i32 accumulators hold layers of up to
//! [`MAX_LAYER_INPUTS`] inputs exactly; wider layers are refused.
//!
//! Layout for `vpmaddwd` / `vpdpwssd`: a panel of `regs` registers of 8 outputs stores, for each input pair `(2p,
//! 2p + 1)`, the 2 weights of each output in turn (16 i16 per register), so one broadcast of the activation pair
//! and one `vpmaddwd` per register advance 8 outputs by two inputs. Layers narrower than 8 outputs are stored
//! row-major, padded to 16 inputs, and computed as dot products. The scalar twin reads the same arrays.
//!
//! Layout for `vpdpbusd` (8-bit activations), beside it ([`QuantLayer::quads`]): the same panels with, for each
//! quad of inputs, the 4 weights (i8) of each output in turn; the dot form's rows padded to [`BYTE_LANES`]. The
//! activations are stored as unsigned bytes `q + b`, with `b` = 128 for signed ones (standardised inputs, tanh)
//! and 0 after ReLU, and the constant `-b sum_i Wq[o, i]` ([`QuantLayer::byte_offset`]) restores the exact sum.

use tachyon_model::Activation;
use tachyon_simd::mem::AlignedVec;

use crate::dense::pack::{panel_regs, round_up, two_part_mean, Form};
use tachyon_model::{DenseNetwork, ModelError, ModelFile};

/// Outputs per register of i32 accumulators.
pub(crate) const OUT_LANES: usize = 8;
/// Inputs per register of i16 activations (the dot form's step, and the padding of every activation buffer).
pub(crate) const IN_LANES: usize = 16;
/// Bytes per row of the dot form's i8 weights and per buffer of byte activations (whole 64-byte registers).
pub(crate) const BYTE_LANES: usize = 64;

/// Width of the quantised activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivationBits {
    /// Signed activations in [-127, 127], ReLU outputs in [0, 255]: `vpdpbusd` on AVX-512 VNNI.
    Eight,
    /// Signed activations in [-2047, 2047], ReLU outputs in [0, 4095].
    Twelve,
}

impl ActivationBits {
    /// Largest magnitude of a signed activation (standardised inputs, tanh outputs).
    pub fn signed_levels(self) -> f64 {
        match self {
            ActivationBits::Eight => 127.0,
            ActivationBits::Twelve => 2047.0,
        }
    }

    /// Largest ReLU activation.
    pub fn unsigned_levels(self) -> f64 {
        2.0 * self.signed_levels() + 1.0
    }

    /// 8 or 12.
    pub fn bits(self) -> u32 {
        match self {
            ActivationBits::Eight => 8,
            ActivationBits::Twelve => 12,
        }
    }
}
/// Widest layer whose i32 sums cannot overflow: `2^31 / (127 x 4095)` inputs, rounded down to even.
pub const MAX_LAYER_INPUTS: usize = 4128;

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
    /// The same weights as i8 in the `vpdpbusd` layout (see the module doc): per panel (at byte
    /// `first * quads * 4`), per quad of inputs, the 4 weights of each output; dot-form rows padded to
    /// [`BYTE_LANES`] inputs.
    pub quads: AlignedVec<i8>,
    /// Per output: `-b sum_i Wq[o, i]` for the byte bias `b` of this layer's inputs (padded with 0).
    pub byte_offset: AlignedVec<i32>,
    /// Per output: `w_o` times the input scale (padded with 0).
    pub scale: AlignedVec<f32>,
    /// Per output: `b_o` (padded with 0).
    pub bias: AlignedVec<f32>,
    /// Hidden layers: `1 / s` of the activation scale they quantise their outputs to.
    pub inv_next_scale: f32,
    /// Hidden layers: the clamp range of quantised outputs ([0, 4095] after ReLU, [-2047, 2047] after tanh).
    pub q_min: f32,
    pub q_max: f32,
    pub hidden: bool,
}

/// A network quantised for the int8 kernels.
#[derive(Clone, Debug)]
pub(crate) struct QuantNetwork {
    pub inputs: usize,
    pub activation: Activation,
    /// Width of the activations.
    pub bits: ActivationBits,
    /// Clamp of the quantised inputs: [-levels, levels].
    pub input_levels: f32,
    /// Feature means as two f32 parts (as the f32 predictor stages them), padded to [`IN_LANES`].
    pub mean_hi: AlignedVec<f32>,
    pub mean_lo: AlignedVec<f32>,
    /// `1 / (std_i s_in)`: standardise and quantise in one multiplication (0 in the padding).
    pub input_factor: AlignedVec<f32>,
    pub layers: Vec<QuantLayer>,
}

/// Activation scales found on the calibration rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Width of the quantised activations.
    pub bits: ActivationBits,
    /// Scale of the standardised inputs (one for all features).
    pub input_scale: f64,
    /// Per hidden layer, the scale of its activations.
    pub activation_scales: Vec<f64>,
}

impl Calibration {
    /// [`fit_bits`](Calibration::fit_bits) with 12-bit activations.
    pub fn fit(net: &DenseNetwork, rows: &[f32]) -> Calibration {
        Calibration::fit_bits(net, rows, ActivationBits::Twelve)
    }

    /// Scales for `bits`-wide activations from the f64 reference run over `rows` (whole rows of raw features):
    /// each maps the largest magnitude seen to the largest quantised value below the reserved one (see the module
    /// doc), so that larger values met later are detected rather than clamped.
    pub fn fit_bits(net: &DenseNetwork, rows: &[f32], bits: ActivationBits) -> Calibration {
        let mut input_max = 0.0f64;
        let unused = unused_inputs(net);
        let hidden = net.layers.len() - 1;
        let mut act_max = vec![0.0f64; hidden];
        let finite_max = |m: f64, v: &[f64]| v.iter().filter(|x| x.is_finite()).fold(m, |m, x| m.max(x.abs()));
        for row in rows.chunks_exact(net.inputs) {
            let mut x: Vec<f64> =
                row.iter().zip(&net.mean).zip(&net.std).map(|((&v, m), s)| (f64::from(v) - m) / s).collect();
            for (v, &unused) in x.iter_mut().zip(&unused) {
                if unused {
                    *v = 0.0;
                }
            }
            input_max = finite_max(input_max, &x);
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
                act_max[l] = finite_max(act_max[l], &x);
            }
        }
        let positive = |s: f64| if s > 0.0 && s.is_finite() { s } else { 1.0 };
        Calibration {
            bits,
            input_scale: positive(input_max / (bits.signed_levels() - 1.0)),
            activation_scales: act_max
                .into_iter()
                .map(|m| match net.activation {
                    Activation::Relu => positive(m / (bits.unsigned_levels() - 1.0)),
                    Activation::Tanh => 1.0 / bits.signed_levels(),
                })
                .collect(),
        }
    }
}

/// Model-file array holding the scales: activation bits, input scale, then each hidden layer's scale.
const SCALES_KEY: &str = "int8.scales";

impl Calibration {
    /// Stores the scales in `model`, so that a serving process compiles the same int8 model without the
    /// calibration rows.
    pub fn record(&self, model: &mut ModelFile) {
        model.arrays.retain(|(key, _)| key != SCALES_KEY);
        let mut values = vec![f64::from(self.bits.bits()), self.input_scale];
        values.extend(&self.activation_scales);
        model.arrays.push((SCALES_KEY.into(), values));
    }

    /// The scales `model` records for `net` (built from it): `None` if it records none, an error if they do not
    /// fit the network or are not positive and finite.
    pub fn from_model(model: &ModelFile, net: &DenseNetwork) -> Result<Option<Calibration>, ModelError> {
        let Some(values) = model.array(SCALES_KEY) else { return Ok(None) };
        let malformed = |what: &str| Err(ModelError::Malformed(format!("{SCALES_KEY}: {what}")));
        let bits = match values.first() {
            Some(8.0) => ActivationBits::Eight,
            Some(12.0) => ActivationBits::Twelve,
            _ => return malformed("the activation width must be 8 or 12 bits"),
        };
        if values.len() != net.layers.len() + 1 {
            return malformed(&format!(
                "{} scales for a network of {} layers (expected {})",
                values.len() - 1,
                net.layers.len(),
                net.layers.len()
            ));
        }
        if values[1..].iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return malformed("scales must be positive and finite");
        }
        Ok(Some(Calibration { bits, input_scale: values[1], activation_scales: values[2..].to_vec() }))
    }
}

/// Inputs that no first-layer weight reads (features left out of training get exactly zero weights): their values,
/// however far from the training rows, change nothing, so they are neither calibrated nor range-checked.
fn unused_inputs(net: &DenseNetwork) -> Vec<bool> {
    let first = &net.layers[0];
    (0..net.inputs).map(|i| (0..first.outputs).all(|o| first.weights[o * first.inputs + i] == 0.0)).collect()
}

/// What is added to the quantised inputs of layer `l` to store them as unsigned bytes (8-bit activations): 128 for
/// signed ones (the standardised inputs of layer 0, tanh outputs), 0 for ReLU outputs.
pub(crate) fn byte_bias(l: usize, activation: Activation) -> i32 {
    match (l, activation) {
        (0, _) | (_, Activation::Tanh) => 128,
        (_, Activation::Relu) => 0,
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
                // One scale for the whole input vector (the first layer's inputs are standardised while they are
                // quantised), so it factors out of the sum.
                let input_scale = if l == 0 { calibration.input_scale } else { calibration.activation_scales[l - 1] };
                let folded = |o: usize, i: usize| layer.weights[o * inputs + i];
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
                let bits = calibration.bits;
                let (q_min, q_max) = match net.activation {
                    Activation::Relu => (0.0, bits.unsigned_levels() as f32),
                    Activation::Tanh => (-bits.signed_levels() as f32, bits.signed_levels() as f32),
                };
                let quads_per_row = inputs.div_ceil(4);
                let mut quads = AlignedVec::with_capacity(0);
                match form {
                    Form::Panels => {
                        for &(regs, _, first) in &panels {
                            for p in 0..quads_per_row {
                                for o in first..first + regs * OUT_LANES {
                                    for i in 4 * p..4 * p + 4 {
                                        quads.push(q(o, i) as i8);
                                    }
                                }
                            }
                        }
                    }
                    Form::Dot => {
                        for o in 0..outputs {
                            for i in 0..round_up(inputs, BYTE_LANES) {
                                quads.push(q(o, i) as i8);
                            }
                        }
                    }
                }
                let input_bias = byte_bias(l, net.activation);
                let mut byte_offset = AlignedVec::zeroed(outputs_padded);
                for (o, d) in byte_offset.iter_mut().enumerate().take(outputs) {
                    *d = -input_bias * (0..inputs).map(|i| i32::from(q(o, i))).sum::<i32>();
                }
                QuantLayer {
                    outputs,
                    inputs,
                    outputs_padded,
                    inputs_padded,
                    form,
                    panels,
                    weights,
                    quads,
                    byte_offset,
                    scale: padded(&|o| (channel_scale[o] * input_scale) as f32),
                    bias: padded(&|o| layer.bias[o] as f32),
                    inv_next_scale: (1.0 / next) as f32,
                    q_min,
                    q_max,
                    hidden,
                }
            })
            .collect();
        let width = round_up(net.inputs, IN_LANES);
        let (mean_hi, mean_lo) = two_part_mean(&net.mean, width);
        let mut input_factor = AlignedVec::zeroed(width);
        for ((f, &s), unused) in input_factor.iter_mut().zip(&net.std).zip(unused_inputs(net)) {
            *f = if unused { 0.0 } else { (1.0 / (s * calibration.input_scale)) as f32 };
        }
        QuantNetwork {
            inputs: net.inputs,
            activation: net.activation,
            bits: calibration.bits,
            input_levels: calibration.bits.signed_levels() as f32,
            mean_hi,
            mean_lo,
            input_factor,
            layers,
        }
    }
}

/// Per-call buffers: the quantised input and each hidden layer's quantised activations (i16, padded to
/// [`IN_LANES`], zero in the padding), and the last layer's f32 outputs.
#[derive(Clone, Debug)]
pub(crate) struct QuantScratch {
    pub input: AlignedVec<i16>,
    pub hidden: Vec<AlignedVec<i16>>,
    pub output: AlignedVec<f32>,
    /// For the `vpdpbusd` kernel, each layer's input activations as unsigned bytes (see the module doc), padded to
    /// [`BYTE_LANES`].
    pub bytes: Vec<AlignedVec<u8>>,
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
            bytes: net.layers.iter().map(|l| AlignedVec::zeroed(round_up(l.inputs, BYTE_LANES))).collect(),
        }
    }
}
