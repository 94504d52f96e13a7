//! The model registry: a folder of versioned model files and the history of promotions.
//!
//! ```text
//! DIR/models/000001.tcy   every model added, under its id (never changed after it is written)
//! DIR/promotions          one line per promotion, `ID UNIX_NS`, oldest first: the last line is the live model
//! ```
//!
//! Every change is one file written whole and renamed over the old one ([`tachyon_io::AtomicFile`]), so a process
//! killed at any moment leaves the registry before or after the change, never between. Rollback removes the last
//! promotion, so the model before it is live again. A model is checked against the served features (by name and
//! hash) when it is added and again when it is promoted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tachyon_simd::Backend;

use crate::model::{DeployError, Deployed, ModelSlot, ServedPrecision};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A model that cannot serve the engine's features.
    #[error(transparent)]
    Model(#[from] DeployError),
    /// A promotions file that does not parse.
    #[error("{path}, line {line}: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// An id with no model file.
    #[error("no model {id} in {dir} (`tachyon models list` shows them)")]
    Unknown {
        /// The id.
        id: u32,
        /// The registry.
        dir: PathBuf,
    },
    /// Nothing to roll back to.
    #[error("{0}: no earlier promotion to roll back to")]
    NothingToRollBack(PathBuf),
}

/// One promotion: which model went live and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Promotion {
    /// The model.
    pub id: u32,
    /// When, ns since the Unix epoch.
    pub unix_ns: u128,
}

/// A registry folder.
#[derive(Clone, Debug)]
pub struct Registry {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io { path: path.to_path_buf(), source }
}

/// Now, ns since the Unix epoch.
pub fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

impl Registry {
    /// Opens (creating if needed) the registry in `dir`.
    pub fn open(dir: &Path) -> Result<Registry, RegistryError> {
        let models = dir.join("models");
        std::fs::create_dir_all(&models).map_err(io(&models))?;
        Ok(Registry { dir: dir.to_path_buf() })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of model `id`.
    pub fn model_path(&self, id: u32) -> PathBuf {
        self.dir.join("models").join(format!("{id:06}.tcy"))
    }

    /// The promotions file.
    pub fn promotions_path(&self) -> PathBuf {
        self.dir.join("promotions")
    }

    /// Ids of the models added, ascending.
    pub fn ids(&self) -> Result<Vec<u32>, RegistryError> {
        let models = self.dir.join("models");
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&models).map_err(io(&models))? {
            let name = entry.map_err(io(&models))?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".tcy").and_then(|s| s.parse::<u32>().ok()) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Adds the model file at `path` (checked against the served features) under the next id; returns the id.
    pub fn add(&self, path: &Path) -> Result<u32, RegistryError> {
        check(path)?;
        let bytes = std::fs::read(path).map_err(io(path))?;
        let id = self.ids()?.last().map_or(1, |last| last + 1);
        let target = self.model_path(id);
        tachyon_io::write_atomic(&target, &bytes).map_err(io(&target))?;
        Ok(id)
    }

    /// The promotions, oldest first.
    pub fn promotions(&self) -> Result<Vec<Promotion>, RegistryError> {
        let path = self.promotions_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        parse_promotions(&path, &text)
    }

    /// The live model's id, if any was promoted.
    pub fn current(&self) -> Result<Option<Promotion>, RegistryError> {
        Ok(self.promotions()?.last().copied())
    }

    /// Makes model `id` live (checked against the served features first).
    pub fn promote(&self, id: u32) -> Result<Promotion, RegistryError> {
        let path = self.model_path(id);
        if !path.exists() {
            return Err(RegistryError::Unknown { id, dir: self.dir.clone() });
        }
        check(&path)?;
        let mut promotions = self.promotions()?;
        let promotion = Promotion { id, unix_ns: unix_ns() };
        promotions.push(promotion);
        self.write_promotions(&promotions)?;
        Ok(promotion)
    }

    /// Removes the last promotion: the one before it is live again. Returns the promotion now live.
    pub fn rollback(&self) -> Result<Promotion, RegistryError> {
        let mut promotions = self.promotions()?;
        if promotions.len() < 2 {
            return Err(RegistryError::NothingToRollBack(self.dir.clone()));
        }
        promotions.pop();
        // The model before goes live now: stamp the rollback's time on it, so that swap latency is measured from it.
        let last = promotions.last_mut().expect("at least one left");
        last.unix_ns = unix_ns();
        let live = *last;
        self.write_promotions(&promotions)?;
        Ok(live)
    }

    fn write_promotions(&self, promotions: &[Promotion]) -> Result<(), RegistryError> {
        let text: String = promotions.iter().map(|p| format!("{} {}\n", p.id, p.unix_ns)).collect();
        let path = self.promotions_path();
        tachyon_io::write_atomic(&path, text.as_bytes()).map_err(io(&path))
    }
}

/// A model the watcher put live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swap {
    /// The promotion (or rollback) that asked for it.
    pub promotion: Promotion,
    /// When the watch saw the promotions file change, ns since the Unix epoch (the promotion's own time is
    /// stamped before its file is made durable, which takes a few ms on some disks).
    pub seen_unix_ns: u128,
    /// When it was live in the slot, ns since the Unix epoch.
    pub swapped_unix_ns: u128,
}

/// Follows a registry for a running pipeline: [`RegistryWatch::poll`] (called by the pipeline's io thread every
/// [`crate::Config::control_every_us`]) puts each newly promoted (or rolled back to) model live in the slot. Every
/// model of the registry is compiled when the watch starts and each new one when it first appears, so a swap is a
/// pointer exchange; a poll that finds nothing new costs one `stat` of the promotions file.
pub struct RegistryWatch {
    registry: Registry,
    backend: Backend,
    precision: ServedPrecision,
    slot: ModelSlot,
    compiled: HashMap<u32, Arc<Deployed>>,
    seen: Option<Promotion>,
    stamp: Option<(u64, i64, i64)>,
    swaps: Vec<Swap>,
}

impl RegistryWatch {
    /// A watch that swaps `slot`, starting from the registry's live model (which `slot` is expected to serve),
    /// compiling each model to `precision`.
    pub fn new(
        registry: Registry,
        slot: ModelSlot,
        backend: Backend,
        precision: ServedPrecision,
    ) -> Result<RegistryWatch, RegistryError> {
        let mut watch = RegistryWatch {
            seen: registry.current()?,
            registry,
            backend,
            precision,
            slot,
            compiled: HashMap::new(),
            stamp: None,
            swaps: Vec::new(),
        };
        for id in watch.registry.ids()? {
            watch.compile(id)?;
        }
        watch.stamp = watch.stamp();
        Ok(watch)
    }

    fn compile(&mut self, id: u32) -> Result<Arc<Deployed>, RegistryError> {
        if let Some(model) = self.compiled.get(&id) {
            return Ok(model.clone());
        }
        let model = Arc::new(Deployed::load(id, &self.registry.model_path(id), &self.backend, self.precision)?);
        self.compiled.insert(id, model.clone());
        Ok(model)
    }

    /// Identity of the promotions file's current version (inode, modification time, length).
    fn stamp(&self) -> Option<(u64, i64, i64)> {
        let meta = std::fs::metadata(self.registry.promotions_path()).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some((meta.ino(), meta.mtime_nsec() + meta.mtime() * 1_000_000_000, meta.size() as i64))
        }
        #[cfg(not(unix))]
        {
            let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos() as i64;
            Some((0, modified, meta.len() as i64))
        }
    }

    /// Checks the registry; swaps the slot if the live model changed. A model that cannot be loaded is reported
    /// on stderr and the live one kept.
    pub fn poll(&mut self) {
        let stamp = self.stamp();
        if stamp == self.stamp {
            return;
        }
        let seen_unix_ns = unix_ns();
        self.stamp = stamp;
        let current = match self.registry.current() {
            Ok(current) => current,
            Err(e) => return eprintln!("registry: {e}"),
        };
        let Some(promotion) = current.filter(|c| Some(*c) != self.seen) else { return };
        self.seen = Some(promotion);
        let live_outputs = self.slot.current().model.outputs();
        match self.compile(promotion.id) {
            // The signals' columns are fixed when the run starts.
            Ok(model) if model.model.outputs() != live_outputs => eprintln!(
                "registry: model {} not put live: {} outputs, the running signals have {live_outputs}",
                promotion.id,
                model.model.outputs()
            ),
            Ok(model) => {
                self.slot.swap(model);
                self.swaps.push(Swap { promotion, seen_unix_ns, swapped_unix_ns: unix_ns() });
            }
            Err(e) => eprintln!("registry: model {} not put live: {e}", promotion.id),
        }
    }

    /// The swaps made so far.
    pub fn swaps(&self) -> &[Swap] {
        &self.swaps
    }
}

/// Checks that the model file at `path` loads, matches the served features and compiles.
fn check(path: &Path) -> Result<(), RegistryError> {
    Deployed::load(0, path, &Backend::best(), ServedPrecision::F32)?;
    Ok(())
}

fn parse_promotions(path: &Path, text: &str) -> Result<Vec<Promotion>, RegistryError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let bad = |problem: &str| RegistryError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                problem: format!("{problem} in `{line}` (expected `ID UNIX_NS`)"),
            };
            let mut fields = line.split_whitespace();
            let id = fields.next().and_then(|f| f.parse().ok()).ok_or_else(|| bad("bad id"))?;
            let unix_ns = fields.next().and_then(|f| f.parse().ok()).ok_or_else(|| bad("bad time"))?;
            Ok(Promotion { id, unix_ns })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_promotions_file_names_the_line() {
        let err = parse_promotions(Path::new("p"), "1 5\n2 x\n").unwrap_err();
        assert!(err.to_string().contains("p, line 2: bad time"), "{err}");
        assert_eq!(parse_promotions(Path::new("p"), "1 5\n\n3 7\n").unwrap().len(), 2);
    }
}
