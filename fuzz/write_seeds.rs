//! Writes one starting input per fuzz target into `corpus/<target>/seed` from the repository's LOBSTER samples.
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = tachyon_fuzz::seeds(&root.join("../data/lobster"), 300).expect("the shipped samples");
    for (target, input) in tachyon_fuzz::seed_inputs(&seeds) {
        let dir = root.join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        std::fs::write(dir.join("seed"), input).expect("seed file");
    }
}
