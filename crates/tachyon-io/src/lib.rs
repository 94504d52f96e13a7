//! Files written whole or not at all. Every file Tachyon writes (models, event files, features, signals) goes
//! through [`AtomicFile`]: the bytes go to a temporary file beside the target, which is synced and renamed over
//! the target on [`AtomicFile::commit`], so a reader or a crash sees the old file or the new one, never half of
//! one. A file dropped without a commit (an error on the way) is removed.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub mod faults;

use faults::{injected, Operation};

/// A file being written to a temporary name beside its target.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: File,
    committed: bool,
}

impl AtomicFile {
    /// Starts writing `target`: creates the temporary file `<target>.tmp<pid>` in the same folder (the same file
    /// system, so that the rename is atomic).
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp{}", std::process::id()));
        let temp = target.with_file_name(name);
        injected(Operation::Create)?;
        let file = File::create(&temp)?;
        Ok(AtomicFile { target: target.to_path_buf(), temp, file, committed: false })
    }

    /// The file being replaced.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file written until the commit.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Syncs the data, renames the temporary file over the target and syncs the folder, so that the new file
    /// survives a crash.
    pub fn commit(mut self) -> io::Result<()> {
        injected(Operation::Sync)?;
        self.file.sync_all()?;
        injected(Operation::Rename)?;
        std::fs::rename(&self.temp, &self.target)?;
        self.committed = true;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // A folder that cannot be opened for syncing (some platforms) is not an error.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        injected(Operation::Write)?;
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        injected(Operation::Seek)?;
        self.file.seek(pos)
    }
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tachyon-io-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_target_changes_only_on_commit() {
        let dir = folder("commit");
        let path = dir.join("out.bin");
        std::fs::write(&path, b"old").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"new contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old", "the target is untouched before the commit");
        let temp = file.temp_path().to_path_buf();
        assert!(temp.exists());
        file.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        assert!(!temp.exists(), "the temporary file is renamed away");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_dropped_without_commit_leaves_nothing_behind() {
        let dir = folder("drop");
        let path = dir.join("out.bin");
        std::fs::write(&path, b"old").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"half").unwrap();
        let temp = file.temp_path().to_path_buf();
        drop(file);
        assert!(!temp.exists());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        write_atomic(&path, b"whole").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let err = write_atomic(Path::new("/nonexistent-tachyon-folder/x.bin"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
