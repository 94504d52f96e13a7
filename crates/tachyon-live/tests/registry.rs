//! The model registry: add, promote, roll back, refuse models for other features; and the watcher swapping the
//! live model of a running pipeline when a model is promoted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tachyon_features::{FEATURE_NAMES, NUM_FEATURES, SCHEMA};
use tachyon_live::{
    run_with_control, Config, Deployed, ModelSlot, NullSink, Pace, Registry, RegistryWatch, ServedPrecision,
};
use tachyon_market::LobsterFeed;
use tachyon_model::{Activation, DenseNetwork, Head, ModelKind};
use tachyon_simd::Backend;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tachyon-registry-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A model file for the served features (or for other feature names with `rename`).
fn model_file(dir: &Path, name: &str, seed: u64, rename: bool) -> PathBuf {
    let mut net = DenseNetwork::seeded(&[NUM_FEATURES, 8, 1], Activation::Tanh, seed);
    net.schema_hash = SCHEMA.hash();
    net.feature_names = FEATURE_NAMES.iter().map(|n| n.to_string()).collect();
    if rename {
        net.feature_names[3] = "something_else".into();
    }
    let path = dir.join(name);
    net.to_model_file(ModelKind::Mlp, Vec::new()).save(&path).unwrap();
    path
}

#[test]
fn promote_and_rollback_move_the_live_model_and_foreign_models_are_refused() {
    let dir = temp_dir("ops");
    let registry = Registry::open(&dir.join("reg")).unwrap();
    assert_eq!(registry.current().unwrap(), None);
    let a = registry.add(&model_file(&dir, "a.tcy", 1, false)).unwrap();
    let b = registry.add(&model_file(&dir, "b.tcy", 2, false)).unwrap();
    assert_eq!((a, b), (1, 2));
    assert_eq!(registry.ids().unwrap(), [1, 2]);
    let err = registry.rollback().unwrap_err();
    assert!(err.to_string().contains("no earlier promotion"), "{err}");
    registry.promote(a).unwrap();
    registry.promote(b).unwrap();
    assert_eq!(registry.current().unwrap().unwrap().id, b);
    assert_eq!(registry.rollback().unwrap().id, a);
    assert_eq!(registry.current().unwrap().unwrap().id, a);
    // A model trained on other features is refused by name, and nothing changes.
    let err = registry.add(&model_file(&dir, "c.tcy", 3, true)).unwrap_err();
    assert!(err.to_string().contains("something_else"), "{err}");
    assert_eq!(registry.ids().unwrap(), [1, 2]);
    let err = registry.promote(9).unwrap_err();
    assert!(err.to_string().contains("no model 9"), "{err}");
    // A damaged promotions file is an error naming the line, never a guess.
    std::fs::write(dir.join("reg/promotions"), "1 5\nx\n").unwrap();
    let err = registry.current().unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_promotion_reaches_a_running_pipeline() {
    let dir = temp_dir("watch");
    let registry = Registry::open(&dir.join("reg")).unwrap();
    let a = registry.add(&model_file(&dir, "a.tcy", 1, false)).unwrap();
    let b = registry.add(&model_file(&dir, "b.tcy", 2, false)).unwrap();
    registry.promote(a).unwrap();
    let backend = Backend::active();
    let slot = ModelSlot::new(Deployed::load(a, &registry.model_path(a), &backend, ServedPrecision::F32).unwrap());
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let messages = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let mut watch = RegistryWatch::new(registry.clone(), slot.clone(), backend, ServedPrecision::F32).unwrap();
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            registry.promote(b).unwrap();
        });
        // Offered at a rate that lasts long enough for the promotion to land mid-replay.
        let config = Config { pin: false, pace: Pace::Rate(500_000.0), ..Config::default() };
        let mut feed = LobsterFeed::open_message(&messages).unwrap();
        run_with_control(&mut feed, &slot, &mut NullSink, &config, &mut || watch.poll()).unwrap()
    });
    let swaps = watch.swaps();
    assert_eq!(swaps.len(), 1);
    assert_eq!(swaps[0].promotion.id, b);
    assert_eq!(report.model_changes.len(), 1, "{:?}", report.model_changes);
    let change = report.model_changes[0];
    assert_eq!(change.model_id, b);
    assert!(change.emit_unix_ns >= swaps[0].promotion.unix_ns);
    assert_eq!(slot.current().id, b);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A promoted model whose output count differs from the running signals' columns is not put live.
#[test]
fn a_model_with_other_outputs_is_not_swapped_in() {
    let dir = temp_dir("outputs");
    let registry = Registry::open(&dir.join("reg")).unwrap();
    let a = registry.add(&model_file(&dir, "a.tcy", 1, false)).unwrap();
    let mut net = DenseNetwork::seeded(&[NUM_FEATURES, 8, 3], Activation::Tanh, 2);
    net.head = Head::Softmax3;
    net.schema_hash = SCHEMA.hash();
    net.feature_names = FEATURE_NAMES.iter().map(|n| n.to_string()).collect();
    let two = dir.join("two.tcy");
    net.to_model_file(ModelKind::Mlp, Vec::new()).save(&two).unwrap();
    let b = registry.add(&two).unwrap();
    registry.promote(a).unwrap();
    let backend = Backend::active();
    let slot = ModelSlot::new(Deployed::load(a, &registry.model_path(a), &backend, ServedPrecision::F32).unwrap());
    let mut watch = RegistryWatch::new(registry.clone(), slot.clone(), backend, ServedPrecision::F32).unwrap();
    registry.promote(b).unwrap();
    watch.poll();
    assert!(watch.swaps().is_empty());
    assert_eq!(slot.current().id, a);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Names in the registry's folders that are temporary files.
fn temporary_files(dir: &Path) -> Vec<String> {
    [dir.to_path_buf(), dir.join("models")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect()
}

#[test]
fn a_failed_add_promotion_or_rollback_leaves_the_registry_as_it_was() {
    let dir = temp_dir("faults");
    let reg = dir.join("reg");
    let registry = Registry::open(&reg).unwrap();
    let a = registry.add(&model_file(&dir, "a.tcy", 1, false)).unwrap();
    let second = model_file(&dir, "b.tcy", 2, false);
    let failed = tachyon_testkit::fail_each_operation(
        || registry.add(&second).map(drop),
        || {
            assert_eq!(registry.ids().unwrap(), [a]);
            assert_eq!(temporary_files(&reg), Vec::<String>::new());
        },
    );
    assert_eq!(failed.len(), 4, "{failed:?}");
    let b = registry.ids().unwrap()[1];
    registry.promote(a).unwrap();
    for (change, live_before, live_after) in [("promote", a, b), ("rollback", b, a)] {
        let before = std::fs::read(registry.promotions_path()).unwrap();
        let failed = tachyon_testkit::fail_each_operation(
            || if change == "promote" { registry.promote(b).map(drop) } else { registry.rollback().map(drop) },
            || {
                assert_eq!(std::fs::read(registry.promotions_path()).unwrap(), before, "{change}");
                assert_eq!(registry.current().unwrap().unwrap().id, live_before, "{change}");
                assert_eq!(temporary_files(&reg), Vec::<String>::new(), "{change}");
            },
        );
        assert_eq!(failed.len(), 4, "{change}: {failed:?}");
        assert_eq!(registry.current().unwrap().unwrap().id, live_after, "{change}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
