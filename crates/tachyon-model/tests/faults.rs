//! Saving a model file when any of its file operations fails: an error each time, the old file whole, nothing
//! left behind; then the new file once every operation has been failed once.

use tachyon_io::faults::Operation;
use tachyon_model::{FeatureSet, ModelFile, ModelKind};

#[test]
fn a_failed_save_leaves_the_old_model_whole() {
    let dir = std::env::temp_dir().join(format!("tachyon-model-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.tcy");
    let names = ["a", "b"];
    let served = FeatureSet { hash: 7, names: &names };
    let model = |w: f64| ModelFile {
        kind: ModelKind::Ridge,
        schema_hash: 7,
        features: 2,
        feature_names: names.map(String::from).to_vec(),
        text: vec![],
        arrays: vec![
            ("mean".into(), vec![0.0; 2]),
            ("std".into(), vec![1.0; 2]),
            ("weights".into(), vec![w; 2]),
            ("bias".into(), vec![0.0]),
        ],
    };
    let (old, new) = (model(1.0), model(2.0));
    old.save(&path).unwrap();
    let failed = tachyon_testkit::fail_each_operation(
        || new.save(&path),
        || {
            assert_eq!(ModelFile::load(&path, &served).unwrap(), old);
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        },
    );
    assert_eq!(failed, [Operation::Create, Operation::Write, Operation::Sync, Operation::Rename]);
    assert_eq!(ModelFile::load(&path, &served).unwrap(), new);
    std::fs::remove_dir_all(dir).unwrap();
}
