//! What a model file describes: the standardisation fitted at training time, dense layers in f64, the hidden
//! activation and the output head. Also the f64 reference forward pass that every compiled path is tested
//! against.

use crate::error::ModelError;
use crate::file::{ModelFile, ModelKind};

/// Hidden-layer activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
}

/// Output layer and loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Head {
    /// The forward return, bps (squared error); one output as trained here, several for networks built elsewhere.
    Regression,
    /// Three logits: down, flat, up (softmax cross-entropy).
    Softmax3,
}

impl Head {
    /// Outputs of the last layer.
    pub fn outputs(self) -> usize {
        match self {
            Head::Regression => 1,
            Head::Softmax3 => 3,
        }
    }
}

/// Per-feature mean and standard deviation, fitted on training rows; stored in every model file.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Means, feature units.
    pub mean: Vec<f64>,
    /// Standard deviations, feature units (1 where a feature is constant, so it maps to 0 rather than to NaN).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits on `rows` (row-major, `width` values per row; two passes in f64).
    pub fn fit(rows: &[f32], width: usize) -> Standardizer {
        let n = (rows.len() / width.max(1)).max(1) as f64;
        let mut mean = vec![0.0; width];
        for row in rows.chunks_exact(width) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; width];
        for row in rows.chunks_exact(width) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                let d = f64::from(v) - m;
                *s += d * d;
            }
        }
        let std =
            var.into_iter().map(|s| (s / n).sqrt()).map(|s| if s > 0.0 && s.is_finite() { s } else { 1.0 }).collect();
        Standardizer { mean, std }
    }

    /// `(x - mean) / std` of every row, as an f64 row-major matrix.
    pub fn transform(&self, rows: &[f32]) -> Vec<f64> {
        let width = self.mean.len().max(1);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows.chunks_exact(width) {
            out.extend(row.iter().zip(&self.mean).zip(&self.std).map(|((&v, m), s)| (f64::from(v) - m) / s));
        }
        out
    }
}

/// One dense layer `y = W x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    /// Outputs.
    pub outputs: usize,
    /// Inputs.
    pub inputs: usize,
    /// Row-major `outputs x inputs`.
    pub weights: Vec<f64>,
    /// `outputs` biases.
    pub bias: Vec<f64>,
}

/// A feed-forward network on raw features: standardise, then dense layers with the hidden activation between
/// them; the last layer is linear (a regression output, or logits).
#[derive(Clone, Debug, PartialEq)]
pub struct DenseNetwork {
    /// Raw input features.
    pub inputs: usize,
    /// Per-feature mean subtracted before the first layer.
    pub mean: Vec<f64>,
    /// Per-feature standard deviation divided out before the first layer (never 0).
    pub std: Vec<f64>,
    /// Layers, first to last.
    pub layers: Vec<DenseLayer>,
    /// Activation after every layer but the last.
    pub activation: Activation,
    /// What the outputs mean.
    pub head: Head,
    /// Hash of the feature schema the model was trained on (0 for synthetic networks).
    pub schema_hash: u64,
    /// Names of the input features (empty for synthetic networks and version 1 model files).
    pub feature_names: Vec<String>,
}

/// The array names of layer `l` of a model of `kind`.
fn layer_arrays(kind: ModelKind, l: usize) -> (String, String) {
    match kind {
        ModelKind::Ridge => ("weights".into(), "bias".into()),
        ModelKind::Logistic | ModelKind::Mlp => (format!("w{l}"), format!("b{l}")),
    }
}

/// Reads a flag array holding 0 or 1 (absent: 0).
fn flag(file: &ModelFile, name: &str) -> Result<bool, ModelError> {
    match file.array(name) {
        None => Ok(false),
        Some([v]) if *v == 0.0 || *v == 1.0 => Ok(*v == 1.0),
        Some(v) => Err(ModelError::Malformed(format!("`{name}` must be one value, 0 or 1, got {v:?}"))),
    }
}

impl DenseNetwork {
    /// The network a model file holds: an MLP as trained (one output, or three logits: down, flat, up), logistic
    /// regression as one linear layer of three logits, or ridge regression as one linear layer. Every size is
    /// checked against the arrays present before anything is allocated.
    pub fn from_model_file(file: &ModelFile) -> Result<DenseNetwork, ModelError> {
        let bad = |what: String| ModelError::Malformed(what);
        let d = file.features as usize;
        let (hidden, activation, head) = match file.kind {
            ModelKind::Ridge => (Vec::new(), Activation::Relu, Head::Regression),
            ModelKind::Logistic | ModelKind::Mlp => {
                // Files written before the classification head carry no `meta.head`: regression.
                let head = if flag(file, "meta.head")? { Head::Softmax3 } else { Head::Regression };
                let activation = if flag(file, "meta.activation")? { Activation::Tanh } else { Activation::Relu };
                let hidden = file
                    .array("meta.hidden")
                    .unwrap_or_default()
                    .iter()
                    .map(|&h| {
                        (h >= 1.0 && h <= u32::MAX as f64 && h.fract() == 0.0)
                            .then_some(h as usize)
                            .ok_or_else(|| bad(format!("`meta.hidden` has the width {h}")))
                    })
                    .collect::<Result<Vec<usize>, _>>()?;
                (hidden, activation, head)
            }
        };
        if file.kind == ModelKind::Logistic && (!hidden.is_empty() || head != Head::Softmax3) {
            return Err(bad("a logistic model has no hidden layer and a 3-class head".into()));
        }
        let get = |name: &str, len: Option<usize>| -> Result<Vec<f64>, ModelError> {
            let a = file.array(name).ok_or_else(|| bad(format!("the model has no `{name}` array")))?;
            match len {
                Some(len) if a.len() == len => Ok(a.to_vec()),
                _ => Err(bad(format!(
                    "`{name}` has {} values, expected {}",
                    a.len(),
                    len.map_or("a size that overflows".into(), |l| l.to_string())
                ))),
            }
        };
        let mut widths = vec![d];
        widths.extend(&hidden);
        widths.push(head.outputs());
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(l, w)| {
                let (inputs, outputs) = (w[0], w[1]);
                let (w_name, b_name) = layer_arrays(file.kind, l);
                Ok(DenseLayer {
                    outputs,
                    inputs,
                    weights: get(&w_name, outputs.checked_mul(inputs))?,
                    bias: get(&b_name, Some(outputs))?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let net = DenseNetwork {
            inputs: d,
            mean: get("mean", Some(d))?,
            std: get("std", Some(d))?,
            layers,
            activation,
            head,
            schema_hash: file.schema_hash,
            feature_names: file.feature_names.clone(),
        };
        net.validate()?;
        Ok(net)
    }

    /// The model file of this network as a model of `kind` (ridge: one linear regression layer; logistic: one
    /// linear 3-class layer; MLP: anything), with `extra` arrays (hyper-parameters, row counts) appended.
    pub fn to_model_file(&self, kind: ModelKind, extra: Vec<(String, Vec<f64>)>) -> ModelFile {
        let linear = self.layers.len() == 1;
        match kind {
            ModelKind::Ridge => assert!(linear && self.head == Head::Regression, "ridge is a linear regression"),
            ModelKind::Logistic => assert!(linear && self.head == Head::Softmax3, "logistic is a linear classifier"),
            ModelKind::Mlp => {}
        }
        let mut arrays = vec![("mean".to_string(), self.mean.clone()), ("std".to_string(), self.std.clone())];
        for (l, layer) in self.layers.iter().enumerate() {
            let (w, b) = layer_arrays(kind, l);
            arrays.push((w, layer.weights.clone()));
            arrays.push((b, layer.bias.clone()));
        }
        if kind != ModelKind::Ridge {
            let hidden = self.layers[..self.layers.len() - 1].iter().map(|l| l.outputs as f64).collect();
            arrays.push(("meta.hidden".into(), hidden));
            arrays.push(("meta.activation".into(), vec![f64::from(u8::from(self.activation == Activation::Tanh))]));
            arrays.push(("meta.head".into(), vec![f64::from(u8::from(self.head == Head::Softmax3))]));
        }
        arrays.extend(extra);
        ModelFile {
            kind,
            schema_hash: self.schema_hash,
            features: self.inputs as u32,
            feature_names: self.feature_names.clone(),
            text: Vec::new(),
            arrays,
        }
    }

    /// A network of the given widths (`widths[0]` inputs, then every layer's outputs) with seeded random weights
    /// (He / Glorot uniform, as training initialises), random biases, an identity standardisation and a regression
    /// head: the benchmark's stand-in when no model file is given.
    pub fn seeded(widths: &[usize], activation: Activation, seed: u64) -> DenseNetwork {
        assert!(widths.len() >= 2 && widths.iter().all(|&w| w > 0), "a network needs inputs and >= 1 layer");
        let mut rng = crate::SplitMix64(seed);
        let layers = widths
            .windows(2)
            .map(|w| {
                let (inputs, outputs) = (w[0], w[1]);
                let limit = match activation {
                    Activation::Relu => (6.0 / inputs as f64).sqrt(),
                    Activation::Tanh => (6.0 / (inputs + outputs) as f64).sqrt(),
                };
                DenseLayer {
                    outputs,
                    inputs,
                    weights: (0..outputs * inputs).map(|_| rng.uniform(-1.0, 1.0) * limit).collect(),
                    bias: (0..outputs).map(|_| rng.uniform(-1.0, 1.0) * 0.1).collect(),
                }
            })
            .collect();
        DenseNetwork {
            inputs: widths[0],
            mean: vec![0.0; widths[0]],
            std: vec![1.0; widths[0]],
            layers,
            activation,
            head: Head::Regression,
            schema_hash: 0,
            feature_names: Vec::new(),
        }
    }

    /// Outputs of the last layer.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// Multiply-adds per sample.
    pub fn macs(&self) -> usize {
        self.layers.iter().map(|l| l.outputs * l.inputs).sum()
    }

    /// Checks that shapes chain and every number is finite.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |what: String| Err(ModelError::Malformed(what));
        if self.mean.len() != self.inputs || self.std.len() != self.inputs {
            return bad(format!(
                "standardisation has {}/{} values for {} inputs",
                self.mean.len(),
                self.std.len(),
                self.inputs
            ));
        }
        if self.std.iter().any(|&s| !(s > 0.0 && s.is_finite())) || self.mean.iter().any(|m| !m.is_finite()) {
            return bad("standardisation has a non-finite mean or a non-positive std".into());
        }
        if !self.feature_names.is_empty() && self.feature_names.len() != self.inputs {
            return bad(format!("{} feature names for {} inputs", self.feature_names.len(), self.inputs));
        }
        if self.layers.is_empty() {
            return bad("no layers".into());
        }
        let mut width = self.inputs;
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.inputs != width || layer.outputs == 0 {
                return bad(format!("layer {l} takes {} inputs but receives {width}", layer.inputs));
            }
            if Some(layer.weights.len()) != layer.outputs.checked_mul(layer.inputs) || layer.bias.len() != layer.outputs
            {
                return bad(format!("layer {l} has {} weights and {} biases", layer.weights.len(), layer.bias.len()));
            }
            if layer.weights.iter().chain(&layer.bias).any(|v| !v.is_finite()) {
                return bad(format!("layer {l} has a non-finite weight or bias"));
            }
            width = layer.outputs;
        }
        if self.head == Head::Softmax3 && width != 3 {
            return bad(format!("the last layer has {width} outputs, a 3-class head takes 3"));
        }
        Ok(())
    }

    /// The f64 reference: standardise, then every layer with `tanh`/`max(0, .)` from the standard library.
    pub fn forward_f64(&self, features: &[f32]) -> Vec<f64> {
        assert_eq!(features.len(), self.inputs, "row width");
        let mut x: Vec<f64> =
            features.iter().zip(&self.mean).zip(&self.std).map(|((&v, m), s)| (f64::from(v) - m) / s).collect();
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            x = (0..layer.outputs)
                .map(|o| {
                    let row = &layer.weights[o * layer.inputs..(o + 1) * layer.inputs];
                    let y = layer.bias[o] + row.iter().zip(&x).map(|(w, v)| w * v).sum::<f64>();
                    match (l == last, self.activation) {
                        (true, _) => y,
                        (false, Activation::Relu) => y.max(0.0),
                        (false, Activation::Tanh) => y.tanh(),
                    }
                })
                .collect();
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_networks_are_valid_and_reproducible() {
        let a = DenseNetwork::seeded(&[32, 64, 64, 1], Activation::Relu, 7);
        a.validate().unwrap();
        assert_eq!(a, DenseNetwork::seeded(&[32, 64, 64, 1], Activation::Relu, 7));
        assert_ne!(a, DenseNetwork::seeded(&[32, 64, 64, 1], Activation::Relu, 8));
        assert_eq!(a.macs(), 32 * 64 + 64 * 64 + 64);
    }

    #[test]
    fn validation_names_the_broken_part() {
        let mut net = DenseNetwork::seeded(&[4, 3, 1], Activation::Tanh, 1);
        net.layers[1].inputs = 5;
        assert!(net.validate().unwrap_err().to_string().contains("layer 1"));
        let mut net = DenseNetwork::seeded(&[4, 3, 1], Activation::Tanh, 1);
        net.std[2] = 0.0;
        assert!(net.validate().unwrap_err().to_string().contains("standardisation"));
        let mut net = DenseNetwork::seeded(&[4, 3, 1], Activation::Tanh, 1);
        net.layers[0].weights[0] = f64::NAN;
        assert!(net.validate().is_err());
    }

    #[test]
    fn every_kind_round_trips_through_its_model_file() {
        let names: Vec<String> = (0..4).map(|i| format!("f{i}")).collect();
        let cases = [
            (ModelKind::Mlp, &[4, 8, 5, 1][..], Activation::Tanh, Head::Regression),
            (ModelKind::Mlp, &[4, 6, 3], Activation::Relu, Head::Softmax3),
            (ModelKind::Ridge, &[4, 1], Activation::Relu, Head::Regression),
            (ModelKind::Logistic, &[4, 3], Activation::Relu, Head::Softmax3),
        ];
        for (seed, (kind, widths, activation, head)) in cases.into_iter().enumerate() {
            let mut net = DenseNetwork::seeded(widths, activation, seed as u64 + 1);
            net.head = head;
            net.feature_names = names.clone();
            net.schema_hash = 99;
            let file = net.to_model_file(kind, vec![("meta.lambda".into(), vec![0.5])]);
            let bytes = file.to_bytes();
            let back = DenseNetwork::from_model_file(&ModelFile::from_bytes(&bytes).unwrap()).unwrap();
            assert_eq!(back, net, "{kind:?}");
        }
    }

    #[test]
    fn huge_or_inconsistent_widths_are_refused_without_allocating() {
        let net = DenseNetwork::seeded(&[4, 8, 1], Activation::Relu, 1);
        let mut file = net.to_model_file(ModelKind::Mlp, vec![]);
        for (name, values) in &mut file.arrays {
            if name == "meta.hidden" {
                *values = vec![1e13];
            }
        }
        let e = DenseNetwork::from_model_file(&file).unwrap_err().to_string();
        assert!(e.contains("meta.hidden") || e.contains("`w0`"), "{e}");
        file.features = u32::MAX;
        assert!(DenseNetwork::from_model_file(&file).is_err());
        let mut file = net.to_model_file(ModelKind::Mlp, vec![]);
        file.arrays.retain(|(n, _)| n != "b1");
        assert!(DenseNetwork::from_model_file(&file).unwrap_err().to_string().contains("no `b1` array"));
    }
}
