//! The network a predictor is compiled from: dense layers in f64 as the model file stores them, the hidden
//! activation, and the standardisation fitted at training time. Also the f64 reference forward pass that every
//! compiled path is tested against.

use tachyon_train::{network_from_file, Activation, Mlp, ModelFile, ModelKind, Standardizer};

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
    /// Hash of the feature schema the model was trained on (0 for synthetic networks).
    pub schema_hash: u64,
}

/// A network description that cannot be compiled.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NetworkError {
    /// The model file's arrays do not describe a network.
    #[error("the model file does not describe a network: {0}")]
    Malformed(String),
    /// A predictor was handed a row of the wrong width.
    #[error("expected {expected} features per row, got {got}")]
    Width {
        /// Features the network takes.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A batch's input is not whole rows, or its output buffer does not match.
    #[error("a batch of {values} input values is not whole rows of {inputs} features with {out} output slots ({outputs} per row)")]
    Batch {
        /// Input values given.
        values: usize,
        /// Features per row.
        inputs: usize,
        /// Output slots given.
        out: usize,
        /// Outputs per row.
        outputs: usize,
    },
}

/// Runs `run(worker, rows, out)` over contiguous chunks of a batch, one chunk per worker, in parallel by
/// `rayon::join` (which allocates nothing for its stack jobs). Rows are independent, so the result equals one
/// worker running the whole batch.
pub(crate) fn split_batch<W: Send>(
    workers: &mut [W],
    rows: &[f32],
    out: &mut [f32],
    (inputs, outputs): (usize, usize),
    run: &(impl Fn(&mut W, &[f32], &mut [f32]) + Sync),
) {
    let n = rows.len() / inputs.max(1);
    if workers.len() == 1 || n < 2 {
        run(&mut workers[0], rows, out);
        return;
    }
    let (left, right) = workers.split_at_mut(workers.len() / 2);
    let at = n * left.len() / (left.len() + right.len());
    let (rows_l, rows_r) = rows.split_at(at * inputs);
    let (out_l, out_r) = out.split_at_mut(at * outputs);
    rayon::join(
        || split_batch(left, rows_l, out_l, (inputs, outputs), run),
        || split_batch(right, rows_r, out_r, (inputs, outputs), run),
    );
}

/// Rows in a batch of `values` inputs with `out` output slots, if the shapes agree.
pub(crate) fn batch_rows(inputs: usize, outputs: usize, values: usize, out: usize) -> Result<usize, NetworkError> {
    let rows = values / inputs.max(1);
    if rows * inputs == values && rows * outputs == out {
        Ok(rows)
    } else {
        Err(NetworkError::Batch { values, inputs, out, outputs })
    }
}

impl DenseNetwork {
    /// The network a model file holds: an MLP as trained (one output, or three logits: down, flat, up), logistic
    /// regression as one linear layer of three logits, or ridge regression as one linear layer in f64.
    pub fn from_model_file(file: &ModelFile) -> Result<DenseNetwork, NetworkError> {
        match file.kind {
            ModelKind::Mlp | ModelKind::Logistic => {
                let (mlp, standardizer) = network_from_file(file).map_err(NetworkError::Malformed)?;
                let mut net = DenseNetwork::from_mlp(&mlp, &standardizer);
                net.schema_hash = file.schema_hash;
                Ok(net)
            }
            ModelKind::Ridge => {
                let d = file.features as usize;
                let get = |name: &str, len: usize| -> Result<Vec<f64>, NetworkError> {
                    let a = file
                        .array(name)
                        .ok_or_else(|| NetworkError::Malformed(format!("the model has no `{name}` array")))?;
                    if a.len() != len {
                        return Err(NetworkError::Malformed(format!(
                            "`{name}` has {} values, expected {len}",
                            a.len()
                        )));
                    }
                    Ok(a.to_vec())
                };
                let layer = DenseLayer { outputs: 1, inputs: d, weights: get("weights", d)?, bias: get("bias", 1)? };
                let net = DenseNetwork {
                    inputs: d,
                    mean: get("mean", d)?,
                    std: get("std", d)?,
                    layers: vec![layer],
                    activation: Activation::Relu,
                    schema_hash: file.schema_hash,
                };
                net.validate()?;
                Ok(net)
            }
        }
    }

    /// The network of a trained MLP and its standardisation.
    pub fn from_mlp(mlp: &Mlp<f32>, standardizer: &Standardizer) -> DenseNetwork {
        let layers = mlp
            .spec
            .layers()
            .into_iter()
            .enumerate()
            .map(|(l, (outputs, inputs))| DenseLayer {
                outputs,
                inputs,
                weights: mlp.weights[l].iter().map(|&w| f64::from(w)).collect(),
                bias: mlp.biases[l].iter().map(|&b| f64::from(b)).collect(),
            })
            .collect();
        DenseNetwork {
            inputs: mlp.spec.inputs,
            mean: standardizer.mean.clone(),
            std: standardizer.std.clone(),
            layers,
            activation: mlp.spec.activation,
            schema_hash: 0,
        }
    }

    /// A network of the given widths (`widths[0]` inputs, then every layer's outputs) with seeded random weights
    /// (He / Glorot uniform, as training initialises), random biases and an identity standardisation: the
    /// benchmark's stand-in when no model file is given.
    pub fn seeded(widths: &[usize], activation: Activation, seed: u64) -> DenseNetwork {
        assert!(widths.len() >= 2 && widths.iter().all(|&w| w > 0), "a network needs inputs and >= 1 layer");
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
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
                    weights: (0..outputs * inputs).map(|_| next() * limit).collect(),
                    bias: (0..outputs).map(|_| next() * 0.1).collect(),
                }
            })
            .collect();
        DenseNetwork {
            inputs: widths[0],
            mean: vec![0.0; widths[0]],
            std: vec![1.0; widths[0]],
            layers,
            activation,
            schema_hash: 0,
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
    pub fn validate(&self) -> Result<(), NetworkError> {
        let bad = |what: String| Err(NetworkError::Malformed(what));
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
        if self.layers.is_empty() {
            return bad("no layers".into());
        }
        let mut width = self.inputs;
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.inputs != width || layer.outputs == 0 {
                return bad(format!("layer {l} takes {} inputs but receives {width}", layer.inputs));
            }
            if layer.weights.len() != layer.outputs * layer.inputs || layer.bias.len() != layer.outputs {
                return bad(format!("layer {l} has {} weights and {} biases", layer.weights.len(), layer.bias.len()));
            }
            if layer.weights.iter().chain(&layer.bias).any(|v| !v.is_finite()) {
                return bad(format!("layer {l} has a non-finite weight or bias"));
            }
            width = layer.outputs;
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
}
