//! Ridge trained on the shipped LOBSTER days: the saved model file, loaded back, predicts what training scored.

use std::path::Path;

use tachyon_features::{extract_files, ExtractOptions, Input, LabelSpec, NUM_FEATURES};
use tachyon_train::{train_ridge, DenseNetwork, FeatureSet, ModelFile, Split, SplitSpec, Standardizer, FEATURES};

#[test]
fn a_saved_ridge_model_predicts_what_training_scored() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let inputs: Vec<Input> = ["AAPL_2012-06-21_34200000_57600000_message_1.csv"]
        .iter()
        .map(|f| Input::detect(&dir.join(f), Default::default(), None))
        .collect();
    let options = ExtractOptions { labels: Some(LabelSpec::default()), ..ExtractOptions::default() };
    let matrices: Vec<_> = extract_files(&inputs, &options).into_iter().map(Result::unwrap).collect();
    let split = Split::new(&matrices, &SplitSpec::default());
    assert!(split.train.rows() > 50_000 && split.test.rows() > 10_000);
    let report = train_ridge(&split, 1e-3).unwrap();
    assert!(report.train.r2 > 0.0, "in sample, least squares cannot do worse than the mean: {:?}", report.train);

    let path = std::env::temp_dir().join(format!("tachyon-ridge-{}.tcy", std::process::id()));
    report.model.save(&path).unwrap();
    let loaded = ModelFile::load(&path, &FEATURES).unwrap();
    assert_eq!(loaded, report.model);
    assert!(ModelFile::load(&path, &FeatureSet { hash: FEATURES.hash ^ 1, ..FEATURES }).is_err());
    let network = DenseNetwork::from_model_file(&loaded).unwrap();

    // The network's reference forward pass (raw features) equals standardise-then-predict on test rows.
    let standardizer = Standardizer::fit(&split.train.x, NUM_FEATURES);
    let z = standardizer.transform(&split.test.x);
    let w = loaded.array("weights").unwrap();
    let b = loaded.array("bias").unwrap()[0];
    for i in (0..split.test.rows()).step_by(97) {
        let direct = b + w.iter().zip(&z[i * 44..(i + 1) * 44]).map(|(w, z)| w * z).sum::<f64>();
        let folded = network.forward_f64(split.test.row(i))[0];
        assert!((direct - folded).abs() <= 1e-9 * (1.0 + direct.abs()), "row {i}: {direct} vs {folded}");
    }
}

#[test]
fn a_saved_mlp_predicts_what_training_scored_and_training_repeats_bit_for_bit() {
    use tachyon_train::{network_from_file, predict_all, train_network, Metrics, TrainSpec, Workspace};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = Input::detect(&dir.join("AAPL_2012-06-21_34200000_57600000_message_1.csv"), Default::default(), None);
    let options = ExtractOptions { labels: Some(LabelSpec::default()), ..ExtractOptions::default() };
    let matrices: Vec<_> = extract_files(&[input], &options).into_iter().map(Result::unwrap).collect();
    let split = Split::new(&matrices, &SplitSpec::default());
    let spec = TrainSpec { epochs: 2, hidden: vec![16], ..TrainSpec::default() };
    let mut epochs = 0;
    let report = train_network(&split, &spec, &mut |_| epochs += 1).unwrap();
    assert_eq!(epochs, report.log.len());
    let again = train_network(&split, &spec, &mut |_| {}).unwrap();
    assert_eq!(report.model, again.model, "same seed: bit-identical model");

    let path = std::env::temp_dir().join(format!("tachyon-mlp-{}.tcy", std::process::id()));
    report.model.save(&path).unwrap();
    let (mlp, standardizer) = network_from_file(&ModelFile::load(&path, &FEATURES).unwrap()).unwrap();
    let z: Vec<f32> = standardizer.transform(&split.test.x).into_iter().map(|v| v as f32).collect();
    let mut ws = Workspace::new(&mlp, 512);
    let pred = predict_all(&mlp, &mut ws, &z, &mut Vec::new());
    assert_eq!(Metrics::compute(mlp.spec.head, &pred, &split.test), report.test);
}
