//! Weight layout of the f32 predictor for one register width: what the kernel reads, in the order it reads it.
//!
//! A layer with at least one register of outputs is cut into *panels* of up to [`MAX_PANEL_REGS`] registers of
//! outputs. Within a panel the weights are stored input by input: for input `i`, the panel's `regs * lanes`
//! weights `W[o, i]` lie contiguously, so the kernel broadcasts `x[i]` once and issues one FMA per register from
//! consecutive memory (a gemv that streams the weights exactly once, in order, with every accumulator in a
//! register). Outputs are padded to whole registers with zero weights and zero bias, so padded lanes compute
//! `act(0) = 0` and the next layer may read them.
//!
//! A layer narrower than one register (the 1-output regression head) would leave most lanes idle and chain all its
//! FMAs through one accumulator; it is stored row-major instead, each row padded with zeros to whole registers,
//! and computed as dot products with two accumulators.
//!
//! The standardisation is half folded: `1 / std` scales the first layer's weights, while the mean is subtracted
//! from the raw features when they are staged, as a two-part f32 (`x - hi - lo`, `hi + lo` = the f64 mean to
//! ~48 bits). Folding the mean into the bias, or rounding it to one f32, would cancel catastrophically for
//! features whose mean is thousands of standard deviations from zero (a price level): the test with such features
//! measured errors of 1e-4 relative with a one-part mean, 1e-7 with two.

use tachyon_model::Activation;
use tachyon_simd::mem::AlignedVec;

use tachyon_model::DenseNetwork;

/// Most registers of outputs in one panel: 8 accumulators plus the broadcast fit the 16 AVX2 registers.
pub const MAX_PANEL_REGS: usize = 8;

/// How a layer's weights are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// Panels of registers of outputs, input-major within a panel.
    Panels,
    /// Row-major rows padded to whole registers (layers narrower than one register).
    Dot,
}

/// One packed layer; offsets index [`PackedNetwork::weights`] and [`PackedNetwork::bias`].
#[derive(Clone, Debug)]
pub(crate) struct PackedLayer {
    pub outputs: usize,
    pub inputs: usize,
    /// `outputs` rounded up to whole registers.
    pub outputs_padded: usize,
    /// `inputs` rounded up to whole registers.
    pub inputs_padded: usize,
    pub form: Form,
    pub weights_at: usize,
    pub bias_at: usize,
    /// Whether the hidden activation follows (every layer but the last).
    pub hidden: bool,
    /// This layer's entries of [`PackedNetwork::panels`] (empty for the dot form).
    pub panels: std::ops::Range<usize>,
}

/// One panel, resolved at packing time so that the forward pass divides nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Panel {
    /// Registers of outputs.
    pub regs: usize,
    /// Offset of its weights in [`PackedNetwork::weights`].
    pub weights_at: usize,
    /// Its first output within the layer.
    pub first_output: usize,
}

/// A network re-laid out for registers of `lanes` f32.
#[derive(Clone, Debug)]
pub(crate) struct PackedNetwork {
    pub lanes: usize,
    pub inputs: usize,
    pub activation: Activation,
    pub layers: Vec<PackedLayer>,
    pub panels: Vec<Panel>,
    pub weights: AlignedVec<f32>,
    pub bias: AlignedVec<f32>,
    /// Feature means rounded to f32, padded with zeros to whole registers.
    pub mean_hi: AlignedVec<f32>,
    /// What the rounding left: `mean - mean_hi`, rounded to f32.
    pub mean_lo: AlignedVec<f32>,
}

pub(crate) fn round_up(n: usize, multiple: usize) -> usize {
    n.div_ceil(multiple) * multiple
}

/// The means as two f32 parts, `hi = mean as f32` and `lo = (mean - hi) as f32`, zero-padded to `width`: staging
/// subtracts both (see the module docs for why the mean is not folded).
pub(crate) fn two_part_mean(mean: &[f64], width: usize) -> (AlignedVec<f32>, AlignedVec<f32>) {
    let (mut hi, mut lo) = (AlignedVec::zeroed(width), AlignedVec::zeroed(width));
    for ((h, l), &m) in hi.iter_mut().zip(lo.iter_mut()).zip(mean) {
        *h = m as f32;
        *l = (m - f64::from(*h)) as f32;
    }
    (hi, lo)
}

/// Registers of each panel of a layer with `registers` registers of outputs: full panels, then the rest.
pub(crate) fn panel_regs(registers: usize) -> impl Iterator<Item = usize> {
    (0..registers.div_ceil(MAX_PANEL_REGS)).map(move |p| (registers - p * MAX_PANEL_REGS).min(MAX_PANEL_REGS))
}

impl PackedNetwork {
    /// Packs `net` (already validated) for registers of `lanes` f32.
    pub fn new(net: &DenseNetwork, lanes: usize) -> PackedNetwork {
        let mut weights = AlignedVec::<f32>::with_capacity(0);
        let mut bias = AlignedVec::<f32>::with_capacity(0);
        let mut layers = Vec::with_capacity(net.layers.len());
        let mut panels = Vec::new();
        let last = net.layers.len() - 1;
        for (l, layer) in net.layers.iter().enumerate() {
            let (outputs, inputs) = (layer.outputs, layer.inputs);
            // Weight (o, i) as the kernel uses it: the first layer's carry 1/std.
            let w = |o: usize, i: usize| {
                let v = layer.weights[o * inputs + i];
                (if l == 0 { v / net.std[i] } else { v }) as f32
            };
            let form = if outputs < lanes { Form::Dot } else { Form::Panels };
            let packed = PackedLayer {
                outputs,
                inputs,
                outputs_padded: round_up(outputs, lanes),
                inputs_padded: round_up(inputs, lanes),
                form,
                weights_at: weights.len(),
                bias_at: bias.len(),
                hidden: l != last,
                panels: panels.len()..panels.len(),
            };
            match form {
                Form::Panels => {
                    let mut first = 0;
                    for regs in panel_regs(packed.outputs_padded / lanes) {
                        panels.push(Panel { regs, weights_at: weights.len(), first_output: first });
                        for i in 0..inputs {
                            for o in first..first + regs * lanes {
                                weights.push(if o < outputs { w(o, i) } else { 0.0 });
                            }
                        }
                        first += regs * lanes;
                    }
                }
                Form::Dot => {
                    for o in 0..outputs {
                        for i in 0..packed.inputs_padded {
                            weights.push(if i < inputs { w(o, i) } else { 0.0 });
                        }
                    }
                }
            }
            let mut packed = packed;
            packed.panels.end = panels.len();
            for o in 0..packed.outputs_padded {
                bias.push(if o < outputs { layer.bias[o] as f32 } else { 0.0 });
            }
            layers.push(packed);
        }
        let (mean_hi, mean_lo) = two_part_mean(&net.mean, round_up(net.inputs, lanes));
        PackedNetwork {
            lanes,
            inputs: net.inputs,
            activation: net.activation,
            layers,
            panels,
            weights,
            bias,
            mean_hi,
            mean_lo,
        }
    }

    /// Outputs of the last layer.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }
}

/// Per-call buffers: the staged input and one activation buffer per layer, all padded to whole registers and
/// allocated once.
#[derive(Clone, Debug)]
pub(crate) struct Scratch {
    pub input: AlignedVec<f32>,
    pub layers: Vec<AlignedVec<f32>>,
}

impl Scratch {
    pub fn new(net: &PackedNetwork) -> Scratch {
        Scratch {
            input: AlignedVec::zeroed(round_up(net.inputs, net.lanes)),
            layers: net.layers.iter().map(|l| AlignedVec::zeroed(l.outputs_padded)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_cover_every_register_once() {
        for registers in 1..40 {
            let regs: Vec<usize> = panel_regs(registers).collect();
            assert_eq!(regs.iter().sum::<usize>(), registers);
            assert!(regs.iter().all(|&r| (1..=MAX_PANEL_REGS).contains(&r)));
        }
    }

    #[test]
    fn layout_places_each_weight_where_the_kernel_reads_it() {
        let net = DenseNetwork::seeded(&[3, 20, 1], Activation::Relu, 3);
        let packed = PackedNetwork::new(&net, 8);
        let first = &packed.layers[0];
        assert_eq!((first.form, first.outputs_padded, first.panels.len()), (Form::Panels, 24, 1));
        assert_eq!(packed.panels[0].regs, 3);
        // One panel of 3 registers: input i's 24 weights start at i * 24.
        for o in 0..20 {
            for i in 0..3 {
                assert_eq!(packed.weights[first.weights_at + i * 24 + o], net.layers[0].weights[o * 3 + i] as f32);
            }
        }
        assert_eq!(packed.weights[first.weights_at + 2 * 24 + 22], 0.0);
        let head = &packed.layers[1];
        assert_eq!((head.form, head.inputs_padded), (Form::Dot, 24));
        assert_eq!(packed.weights[head.weights_at + 19], net.layers[1].weights[19] as f32);
        assert_eq!(packed.weights[head.weights_at + 20], 0.0);
    }
}
