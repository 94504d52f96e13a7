//! The crates depend only on the crates before them in the data flow, and serving links no training code: each
//! crate's `[dependencies]` (not its dev-dependencies) name only the Tachyon crates allowed here.

use std::path::Path;

/// Each crate and the Tachyon crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("tachyon-simd", &[]),
    ("tachyon-io", &[]),
    ("tachyon-model", &["tachyon-io"]),
    ("tachyon-market", &["tachyon-io"]),
    ("tachyon-testkit", &["tachyon-io", "tachyon-model"]),
    ("tachyon-linalg", &["tachyon-simd"]),
    ("tachyon-features", &["tachyon-io", "tachyon-market"]),
    ("tachyon-infer", &["tachyon-simd", "tachyon-model"]),
    ("tachyon-train", &["tachyon-simd", "tachyon-linalg", "tachyon-features", "tachyon-model"]),
    (
        "tachyon-live",
        &["tachyon-simd", "tachyon-io", "tachyon-market", "tachyon-features", "tachyon-model", "tachyon-infer"],
    ),
    (
        "tachyon-fuzz",
        &["tachyon-simd", "tachyon-market", "tachyon-features", "tachyon-model", "tachyon-infer", "tachyon-live"],
    ),
    (
        "tachyon-bench",
        &[
            "tachyon-simd",
            "tachyon-io",
            "tachyon-linalg",
            "tachyon-market",
            "tachyon-features",
            "tachyon-model",
            "tachyon-train",
            "tachyon-infer",
            "tachyon-live",
        ],
    ),
];

/// The Tachyon crates named in the `[dependencies]` table of a manifest.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_table = false;
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[dependencies]";
        } else if in_table && line.starts_with("tachyon-") {
            let name = line.split(['.', ' ', '=']).next().unwrap_or_default();
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn crates_depend_only_on_the_crates_before_them() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name == "tachyon" {
            continue;
        }
        let manifest = std::fs::read_to_string(crates.join(&name).join("Cargo.toml")).unwrap();
        let allowed = ALLOWED
            .iter()
            .find(|(c, _)| *c == name)
            .unwrap_or_else(|| panic!("{name}: a new crate; add it to ALLOWED (and docs/ARCHITECTURE.md)"))
            .1;
        for dependency in dependencies(&manifest) {
            assert!(allowed.contains(&dependency.as_str()), "{name} depends on {dependency}, which comes after it");
        }
        found.push(name);
    }
    assert_eq!(found.len(), ALLOWED.len(), "{found:?}");
    // The parser sees what it should: a manifest naming training from inference is caught.
    let bad = "[dependencies]\ntachyon-simd.workspace = true\ntachyon-train = { path = \"x\" }\n[dev-dependencies]\n";
    assert_eq!(dependencies(bad), ["tachyon-simd", "tachyon-train"]);
}
