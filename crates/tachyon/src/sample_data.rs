//! Where the sample market data shipped with Tachyon is: the `--data` flag, else `TACHYON_DATA`, else
//! `data/lobster` under the working directory or under any folder above the binary (a build in
//! `target/release/` of a checkout finds the checkout's). Never a path fixed at build time.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Environment variable naming the sample data folder.
pub const DATA_ENV_VAR: &str = "TACHYON_DATA";

/// A file every sample folder holds, to tell it from a folder of the same name.
const MARKER: &str = "AAPL_2012-06-21_34200000_57600000_message_1.csv";

/// The sample data folder: `flag` if given (checked), else the first of `TACHYON_DATA`, `./data/lobster` and
/// `data/lobster` in the folders above the running binary that holds the samples.
pub fn sample_data(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        if !dir.join(MARKER).is_file() {
            bail!("--data {}: no LOBSTER sample files there (expected {MARKER})", dir.display());
        }
        return Ok(dir.to_path_buf());
    }
    let mut tried = Vec::new();
    let env = std::env::var_os(DATA_ENV_VAR).map(PathBuf::from);
    let cwd = std::env::current_dir().ok().map(|d| d.join("data/lobster"));
    let exe = std::env::current_exe().ok();
    let above_exe = exe.iter().flat_map(|e| e.ancestors().skip(1)).map(|d| d.join("data/lobster"));
    for dir in env.into_iter().chain(cwd).chain(above_exe) {
        if dir.join(MARKER).is_file() {
            return Ok(dir);
        }
        let shown = dir.display().to_string();
        if !tried.contains(&shown) {
            tried.push(shown);
        }
    }
    bail!(
        "the sample data was not found (looked in {}): pass --data DIR or set {DATA_ENV_VAR} to the folder holding \
         the LOBSTER sample files ({MARKER} and the others of data/lobster in the repository)",
        tried.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_checked_and_the_checkout_is_found_from_the_working_directory() {
        let e = sample_data(Some(Path::new("/nonexistent"))).unwrap_err().to_string();
        assert!(e.contains("--data /nonexistent") && e.contains(MARKER), "{e}");
        // Tests run in the crate's folder; the samples are two folders up, above the test binary in target/.
        let found = sample_data(None).unwrap();
        assert!(found.join(MARKER).is_file(), "{}", found.display());
    }
}
