//! The model file: versioned, checksummed, written atomically, checked on load.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "TCYMODL\0"
//!      8     4  format version (2; version 1 files, which carry no feature names, are still read)
//!     12     4  model kind (1 ridge, 2 logistic, 3 MLP)
//!     16     8  feature-schema hash (tachyon_features::SCHEMA.hash())
//!     24     4  number of input features
//!     28     4  number of named arrays
//!     32     8  payload bytes
//!     40     4  (version 2) number of text entries
//!     44    20  reserved (zero)
//!     64     -  payload: (version 2) per input feature, name length u16 and name (UTF-8); per text entry, key
//!               length u16, key, value length u32, value (UTF-8); then per array, name length u16, name (UTF-8),
//!               value count u64, values f64
//!    end     4  CRC-32 of everything before it
//! ```
//!
//! Everything little-endian. A file is written to a temporary name, synced, and renamed over the target, so a
//! crash leaves the old model or the new one. Loading rejects a short or long file, a wrong magic or version, a
//! checksum mismatch, malformed arrays, and features other than the ones the caller serves: by name where the file
//! records names, by schema hash always.

use std::path::Path;

use crate::error::{FileProblem, ModelError};

/// File magic.
pub const MAGIC: [u8; 8] = *b"TCYMODL\0";
/// Format version written.
pub const FORMAT_VERSION: u32 = 2;
/// Oldest format version read.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
const HEADER: usize = 64;

/// What the arrays describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

    /// Lower-case name for reports: `ridge`, `logistic`, `mlp`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Ridge => "ridge",
            ModelKind::Logistic => "logistic",
            ModelKind::Mlp => "mlp",
        }
    }
}

/// The features a caller will feed a model: the schema hash and the column names, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureSet<'a> {
    /// Hash of the feature schema (name, version and columns).
    pub hash: u64,
    /// Column names in order.
    pub names: &'a [&'a str],
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
    /// Names of the input features in order (empty in version 1 files, which did not record them).
    pub feature_names: Vec<String>,
    /// Text entries (e.g. `train.sources`: what the model was fitted on), in file order (empty in version 1
    /// files).
    pub text: Vec<(String, String)>,
    /// Named arrays (normalisation, weights, metadata), in file order.
    pub arrays: Vec<(String, Vec<f64>)>,
}

impl ModelFile {
    /// The array called `name`.
    pub fn array(&self, name: &str) -> Option<&[f64]> {
        self.arrays.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The text entry called `key`.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.text.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The file's bytes (version 1 if there are neither feature names nor text entries, else version 2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        let put_name = |payload: &mut Vec<u8>, name: &str| {
            let len = u16::try_from(name.len()).expect("names are shorter than 64 KiB");
            payload.extend_from_slice(&len.to_le_bytes());
            payload.extend_from_slice(name.as_bytes());
        };
        assert!(
            self.feature_names.is_empty() || self.feature_names.len() == self.features as usize,
            "one name per feature"
        );
        for name in &self.feature_names {
            put_name(&mut payload, name);
        }
        for (key, value) in &self.text {
            put_name(&mut payload, key);
            let len = u32::try_from(value.len()).expect("text values are shorter than 4 GiB");
            payload.extend_from_slice(&len.to_le_bytes());
            payload.extend_from_slice(value.as_bytes());
        }
        for (name, values) in &self.arrays {
            put_name(&mut payload, name);
            payload.extend_from_slice(&(values.len() as u64).to_le_bytes());
            for v in values {
                payload.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut out = Vec::with_capacity(HEADER + payload.len() + 4);
        out.extend_from_slice(&MAGIC);
        let version =
            if self.feature_names.is_empty() && self.text.is_empty() { OLDEST_FORMAT_VERSION } else { FORMAT_VERSION };
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&self.kind.code().to_le_bytes());
        out.extend_from_slice(&self.schema_hash.to_le_bytes());
        out.extend_from_slice(&self.features.to_le_bytes());
        out.extend_from_slice(&(self.arrays.len() as u32).to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.text.len() as u32).to_le_bytes());
        out.resize(HEADER, 0);
        out.extend_from_slice(&payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Writes atomically (see [`tachyon_io::AtomicFile`]).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        tachyon_io::write_atomic(path, &self.to_bytes())
            .map_err(|source| ModelError::Io { path: path.to_path_buf(), source })
    }

    /// Reads a file and checks it, including that it was trained on `served` features.
    pub fn load(path: &Path, served: &FeatureSet<'_>) -> Result<ModelFile, ModelError> {
        let file = |problem| ModelError::File { path: path.to_path_buf(), problem };
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
        let model = Self::from_bytes(&bytes).map_err(file)?;
        model.check_features(served).map_err(file)?;
        Ok(model)
    }

    /// Whether the model takes `served` features: the same names in the same order (where the file records
    /// names) and the same schema hash.
    pub fn check_features(&self, served: &FeatureSet<'_>) -> Result<(), FileProblem> {
        if !self.feature_names.is_empty() {
            if let Some(index) = self.feature_names.iter().zip(served.names).position(|(model, served)| model != served)
            {
                return Err(FileProblem::FeatureName {
                    index,
                    model: self.feature_names[index].clone(),
                    served: served.names[index].to_string(),
                });
            }
            if self.feature_names.len() != served.names.len() {
                return Err(FileProblem::FeatureCount { model: self.feature_names.len(), served: served.names.len() });
            }
        } else if self.features as usize != served.names.len() {
            return Err(FileProblem::FeatureCount { model: self.features as usize, served: served.names.len() });
        }
        if self.schema_hash != served.hash {
            return Err(FileProblem::Schema { model: self.schema_hash, served: served.hash });
        }
        Ok(())
    }

    /// Parses and checks bytes (integrity and layout; the features are checked by [`check_features`]).
    ///
    /// [`check_features`]: ModelFile::check_features
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile, FileProblem> {
        if bytes.len() < HEADER + 4 {
            return Err(FileProblem::Truncated { bytes: bytes.len(), minimum: HEADER + 4 });
        }
        if bytes[..8] != MAGIC {
            return Err(FileProblem::NotAModel);
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(FileProblem::Version { found: version });
        }
        let payload = u64_at(32);
        let announced = (HEADER as u64).checked_add(payload).and_then(|l| l.checked_add(4));
        if announced != Some(bytes.len() as u64) {
            return Err(FileProblem::Length { bytes: bytes.len() as u64, announced });
        }
        let body = &bytes[..bytes.len() - 4];
        let stored = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
        if crc32fast::hash(body) != stored {
            return Err(FileProblem::Checksum);
        }
        let kind = ModelKind::from_code(u32_at(12)).ok_or(FileProblem::Kind(u32_at(12)))?;
        let schema_hash = u64_at(16);
        let features = u32_at(24);
        let count = u32_at(28) as usize;
        let layout = FileProblem::Layout;
        let mut at = HEADER;
        let take = |at: &mut usize, n: usize, what: &dyn Fn() -> String| -> Result<&[u8], FileProblem> {
            let end = at.checked_add(n).filter(|&end| end <= body.len()).ok_or_else(|| layout(what()))?;
            let s = &body[*at..end];
            *at = end;
            Ok(s)
        };
        let name = |at: &mut usize, what: &dyn Fn() -> String| -> Result<String, FileProblem> {
            let len = u16::from_le_bytes(take(at, 2, what)?.try_into().expect("2 bytes")) as usize;
            let text =
                std::str::from_utf8(take(at, len, what)?).map_err(|_| layout(format!("{}: not UTF-8", what())))?;
            Ok(text.to_string())
        };
        // Each name takes at least two bytes, so a count the payload cannot hold is refused before any allocation.
        let mut feature_names = Vec::new();
        let mut text = Vec::new();
        if version >= 2 {
            if features as usize > body.len() / 2 {
                return Err(layout(format!("{features} feature names do not fit in the file")));
            }
            feature_names.reserve(features as usize);
            for i in 0..features as usize {
                feature_names.push(name(&mut at, &|| format!("feature name {i}"))?);
            }
            let entries = u32_at(40) as usize;
            if entries > body.len() / 6 {
                return Err(layout(format!("{entries} text entries do not fit in the file")));
            }
            for i in 0..entries {
                let what = || format!("text entry {i}");
                let key = name(&mut at, &what)?;
                let len = u32::from_le_bytes(take(&mut at, 4, &what)?.try_into().expect("4 bytes")) as usize;
                let value = std::str::from_utf8(take(&mut at, len, &what)?)
                    .map_err(|_| layout(format!("{}: not UTF-8", what())))?;
                text.push((key, value.to_string()));
            }
        } else if bytes[40..HEADER].iter().any(|&b| b != 0) {
            return Err(layout("reserved header bytes are not zero".into()));
        }
        let mut arrays = Vec::with_capacity(count.min(body.len() / 10));
        for i in 0..count {
            let array_name = name(&mut at, &|| format!("array {i}"))?;
            let n = u64::from_le_bytes(take(&mut at, 8, &|| format!("array {i}"))?.try_into().expect("8 bytes"));
            let n_bytes = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(8))
                .ok_or_else(|| layout(format!("array {i} (`{array_name}`): absurd length {n}")))?;
            let values = take(&mut at, n_bytes, &|| format!("array {i} (`{array_name}`)"))?
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            arrays.push((array_name, values));
        }
        if at != body.len() {
            return Err(layout(format!("{} bytes after the last array", body.len() - at)));
        }
        Ok(ModelFile { kind, schema_hash, features, feature_names, text, arrays })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["mid", "spread", "ofi"];
    const SERVED: FeatureSet<'static> = FeatureSet { hash: 0x1234_5678_9abc_def0, names: &NAMES };

    fn sample() -> ModelFile {
        ModelFile {
            kind: ModelKind::Ridge,
            schema_hash: SERVED.hash,
            features: 3,
            feature_names: NAMES.map(String::from).to_vec(),
            text: vec![("train.sources".into(), "a.csv\t100\nb.csv\t2".into())],
            arrays: vec![
                ("mean".into(), vec![1.0, 2.0, 3.0]),
                ("std".into(), vec![0.5, 1.0, 2.0]),
                ("weights".into(), vec![-0.25, 0.0, 7.5]),
                ("bias".into(), vec![0.125]),
            ],
        }
    }

    fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
        let n = bytes.len();
        let crc = crc32fast::hash(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn round_trip_and_atomic_save() {
        let m = sample();
        let path = std::env::temp_dir().join(format!("tachyon-model-{}.tcy", std::process::id()));
        m.save(&path).unwrap();
        assert_eq!(ModelFile::load(&path, &SERVED).unwrap(), m);
        let dir = path.parent().unwrap();
        let leftovers = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name().to_string_lossy().starts_with(&format!("tachyon-model-{}.tcy.tmp", std::process::id()))
            })
            .count();
        assert_eq!(leftovers, 0);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn every_flipped_bit_and_every_truncation_is_rejected() {
        let m = sample();
        let bytes = m.to_bytes();
        for at in 0..bytes.len() {
            for bit in [0, 3, 7] {
                let mut bad = bytes.clone();
                bad[at] ^= 1 << bit;
                let accepted = ModelFile::from_bytes(&bad).and_then(|f| f.check_features(&SERVED));
                assert!(accepted.is_err(), "flip at byte {at} bit {bit} accepted");
            }
        }
        for len in 0..bytes.len() {
            let e = ModelFile::from_bytes(&bytes[..len]).unwrap_err().to_string();
            assert!(e.contains("truncated"), "length {len}: {e}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(ModelFile::from_bytes(&long).is_err());
    }

    #[test]
    fn wrong_version_schema_and_names_are_named() {
        let m = sample();
        let mut bytes = m.to_bytes();
        bytes[8] = 9;
        let e = ModelFile::from_bytes(&with_crc(bytes)).unwrap_err().to_string();
        assert!(e.contains("format version 9"), "{e}");
        let file = ModelFile::from_bytes(&m.to_bytes()).unwrap();
        let e = file.check_features(&FeatureSet { hash: 42, names: &NAMES }).unwrap_err().to_string();
        assert!(e.contains("feature schema 123456789abcdef0") && e.contains("000000000000002a"), "{e}");
        let swapped = ["mid", "ofi", "spread"];
        let e = file.check_features(&FeatureSet { names: &swapped, ..SERVED }).unwrap_err().to_string();
        assert!(e.contains("feature 1") && e.contains("`spread`") && e.contains("`ofi`"), "{e}");
        let e = file.check_features(&FeatureSet { names: &NAMES[..2], ..SERVED }).unwrap_err().to_string();
        assert!(e.contains("3 features") && e.contains("2"), "{e}");
    }

    #[test]
    fn version_1_files_without_names_still_load() {
        let mut m = sample();
        m.feature_names.clear();
        m.text.clear();
        let bytes = m.to_bytes();
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(file, m);
        file.check_features(&SERVED).unwrap();
        assert!(file.check_features(&FeatureSet { names: &NAMES[..2], ..SERVED }).is_err());
    }

    #[test]
    fn huge_declared_counts_are_refused_before_allocating() {
        let m = sample();
        let mut bytes = m.to_bytes();
        bytes[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = ModelFile::from_bytes(&with_crc(bytes)).unwrap_err().to_string();
        assert!(e.contains("do not fit"), "{e}");
        let mut bytes = m.to_bytes();
        bytes[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(ModelFile::from_bytes(&with_crc(bytes)).is_err());
    }
}
