//! Model files written by the version 1 format (no feature names, no text entries) still load, as the networks
//! they were trained as. The two files were written by `tachyon train` before the format recorded names: a ridge
//! model and a 44 -> 8 -> 1 MLP, both trained on the shipped AAPL day.

use std::path::Path;

use tachyon_model::{Activation, DenseNetwork, Head, ModelFile, ModelKind};

fn load(name: &str) -> ModelFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    ModelFile::from_bytes(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn version_1_ridge_and_mlp_files_load_as_their_networks() {
    let ridge = load("ridge-v1.tcy");
    assert_eq!((ridge.kind, ridge.features, ridge.feature_names.len()), (ModelKind::Ridge, 44, 0));
    let net = DenseNetwork::from_model_file(&ridge).unwrap();
    assert_eq!((net.layers.len(), net.head, net.outputs()), (1, Head::Regression, 1));
    assert_eq!(net.layers[0].weights.as_slice(), ridge.array("weights").unwrap());

    let mlp = load("mlp-v1.tcy");
    assert_eq!((mlp.kind, mlp.features), (ModelKind::Mlp, 44));
    let net = DenseNetwork::from_model_file(&mlp).unwrap();
    let widths: Vec<usize> = net.layers.iter().map(|l| l.outputs).collect();
    assert_eq!((widths, net.activation, net.head), (vec![8, 1], Activation::Relu, Head::Regression));
    // The reference forward pass on the training means is the network's output at the standardised origin.
    let at_mean: Vec<f32> = net.mean.iter().map(|&m| m as f32).collect();
    assert!(net.forward_f64(&at_mean)[0].is_finite());
    // Written back, a version 1 file is byte for byte what was read.
    assert_eq!(ModelFile::from_bytes(&mlp.to_bytes()).unwrap(), mlp);
}
