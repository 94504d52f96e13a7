//! The model file: versioned, checksummed, written atomically, checked on load.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "TCYMODL\0"
//!      8     4  format version (1)
//!     12     4  model kind (1 ridge, 2 logistic, 3 MLP)
//!     16     8  feature-schema hash (tachyon_features::SCHEMA.hash())
//!     24     4  number of input features
//!     28     4  number of named arrays
//!     32     8  payload bytes
//!     40    24  reserved (zero)
//!     64     -  payload: per array, name length u16, name (UTF-8), value count u64, values f64
//!    end     4  CRC-32 of everything before it
//! ```
//!
//! Everything little-endian. A file is written to a temporary name, synced, and renamed over the target, so a
//! crash leaves the old model or the new one. Loading rejects a short or long file, a wrong magic or version, a
//! checksum mismatch, malformed arrays and a feature schema other than the one the caller serves.

use std::io::Write;
use std::path::{Path, PathBuf};

/// File magic.
pub const MAGIC: [u8; 8] = *b"TCYMODL\0";
/// Format version written and read.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 64;

/// What the arrays describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// Ridge regression.
    Ridge,
    /// Logistic regression.
    Logistic,
    /// Multi-layer perceptron.
    Mlp,
}

impl ModelKind {
    fn code(self) -> u32 {
        match self {
            ModelKind::Ridge => 1,
            ModelKind::Logistic => 2,
            ModelKind::Mlp => 3,
        }
    }

    fn from_code(code: u32) -> Option<ModelKind> {
        Some(match code {
            1 => ModelKind::Ridge,
            2 => ModelKind::Logistic,
            3 => ModelKind::Mlp,
            _ => return None,
        })
    }
}

/// A model file's content.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// Model kind.
    pub kind: ModelKind,
    /// Hash of the feature schema the model was trained on.
    pub schema_hash: u64,
    /// Input features.
    pub features: u32,
    /// Named arrays (normalisation, weights, metadata), in file order.
    pub arrays: Vec<(String, Vec<f64>)>,
}

/// A model file that cannot be written or used.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file system refused.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a usable model; `what` says why.
    #[error("{}: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

impl ModelFile {
    /// The array called `name`.
    pub fn array(&self, name: &str) -> Option<&[f64]> {
        self.arrays.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        for (name, values) in &self.arrays {
            payload.extend_from_slice(&(name.len() as u16).to_le_bytes());
            payload.extend_from_slice(name.as_bytes());
            payload.extend_from_slice(&(values.len() as u64).to_le_bytes());
            for v in values {
                payload.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut out = Vec::with_capacity(HEADER + payload.len() + 4);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.kind.code().to_le_bytes());
        out.extend_from_slice(&self.schema_hash.to_le_bytes());
        out.extend_from_slice(&self.features.to_le_bytes());
        out.extend_from_slice(&(self.arrays.len() as u32).to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.resize(HEADER, 0);
        out.extend_from_slice(&payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Writes atomically: temporary file in the same folder, fsync, rename.
    pub fn save(&self, path: &Path) -> Result<(), ArtifactError> {
        let io = |source| ArtifactError::Io { path: path.to_path_buf(), source };
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(name);
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.to_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// Reads and checks a file; `expected_schema` is the hash of the features the caller will feed.
    pub fn load(path: &Path, expected_schema: u64) -> Result<ModelFile, ArtifactError> {
        let bytes = std::fs::read(path).map_err(|source| ArtifactError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes, expected_schema)
            .map_err(|what| ArtifactError::Invalid { path: path.to_path_buf(), what })
    }

    /// Parses and checks bytes; the error says what is wrong.
    pub fn from_bytes(bytes: &[u8], expected_schema: u64) -> Result<ModelFile, String> {
        if bytes.len() < HEADER + 4 {
            return Err(format!("truncated: {} bytes, a model file has at least {}", bytes.len(), HEADER + 4));
        }
        if bytes[..8] != MAGIC {
            return Err("not a Tachyon model file (wrong magic)".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(format!("format version {version}, this build reads version {FORMAT_VERSION}"));
        }
        let payload = u64_at(32);
        let expected_len = (HEADER as u64).checked_add(payload).and_then(|l| l.checked_add(4));
        if expected_len != Some(bytes.len() as u64) {
            return Err(format!(
                "truncated or padded: {} bytes, the header announces {}",
                bytes.len(),
                expected_len.map_or("an impossible size".to_string(), |l| l.to_string())
            ));
        }
        let body = &bytes[..bytes.len() - 4];
        let stored = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
        if crc32fast::hash(body) != stored {
            return Err("checksum mismatch: the file is corrupted".into());
        }
        let kind = ModelKind::from_code(u32_at(12)).ok_or_else(|| format!("unknown model kind {}", u32_at(12)))?;
        let schema_hash = u64_at(16);
        if schema_hash != expected_schema {
            return Err(format!(
                "trained on feature schema {schema_hash:016x}, but the features served have schema \
                 {expected_schema:016x}: retrain the model or use the matching Tachyon version"
            ));
        }
        let features = u32_at(24);
        let count = u32_at(28) as usize;
        let mut arrays = Vec::with_capacity(count.min(64));
        let mut at = HEADER;
        let end = body.len();
        for i in 0..count {
            let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
                let s =
                    body.get(*at..*at + n).filter(|_| *at + n <= end).ok_or(format!("array {i} runs past the end"))?;
                *at += n;
                Ok(s)
            };
            let name_len = u16::from_le_bytes(take(&mut at, 2)?.try_into().expect("2 bytes")) as usize;
            let name =
                std::str::from_utf8(take(&mut at, name_len)?).map_err(|_| format!("array {i}: name is not UTF-8"))?;
            let n = u64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8 bytes"));
            let n_bytes =
                usize::try_from(n).ok().and_then(|n| n.checked_mul(8)).ok_or(format!("array {i}: absurd length"))?;
            let values =
                take(&mut at, n_bytes)?.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8"))).collect();
            arrays.push((name.to_string(), values));
        }
        if at != end {
            return Err(format!("{} bytes after the last array", end - at));
        }
        Ok(ModelFile { kind, schema_hash, features, arrays })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelFile {
        ModelFile {
            kind: ModelKind::Ridge,
            schema_hash: 0x1234_5678_9abc_def0,
            features: 3,
            arrays: vec![
                ("mean".into(), vec![1.0, 2.0, 3.0]),
                ("std".into(), vec![0.5, 1.0, 2.0]),
                ("weights".into(), vec![-0.25, 0.0, 7.5]),
                ("bias".into(), vec![0.125]),
            ],
        }
    }

    #[test]
    fn round_trip_and_atomic_save() {
        let m = sample();
        let path = std::env::temp_dir().join(format!("tachyon-model-{}.tcy", std::process::id()));
        m.save(&path).unwrap();
        assert_eq!(ModelFile::load(&path, m.schema_hash).unwrap(), m);
        let dir = path.parent().unwrap();
        let leftovers = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name().to_string_lossy().starts_with(&format!("tachyon-model-{}.tcy.tmp", std::process::id()))
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_rejected() {
        let m = sample();
        let bytes = m.to_bytes();
        for at in 0..bytes.len() {
            for bit in [0, 3, 7] {
                let mut bad = bytes.clone();
                bad[at] ^= 1 << bit;
                assert!(ModelFile::from_bytes(&bad, m.schema_hash).is_err(), "flip at byte {at} bit {bit} accepted");
            }
        }
        for len in 0..bytes.len() {
            let e = ModelFile::from_bytes(&bytes[..len], m.schema_hash).unwrap_err();
            assert!(e.contains("truncated"), "length {len}: {e}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(ModelFile::from_bytes(&long, m.schema_hash).is_err());
    }

    #[test]
    fn wrong_version_and_schema_are_named() {
        let m = sample();
        let mut bytes = m.to_bytes();
        bytes[8] = 9;
        let n = bytes.len();
        let crc = crc32fast::hash(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
        assert!(ModelFile::from_bytes(&bytes, m.schema_hash).unwrap_err().contains("format version 9"));
        let e = ModelFile::from_bytes(&m.to_bytes(), 42).unwrap_err();
        assert!(e.contains("feature schema 123456789abcdef0") && e.contains("000000000000002a"), "{e}");
    }
}
