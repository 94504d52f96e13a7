//! Errors of the market-data layer: every one names the file, and parse errors the line and field.

use std::path::{Path, PathBuf};

/// A market-data error.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// Reading failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A malformed row.
    #[error("{}:{line}: field `{field}`: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line number, 1-based.
        line: usize,
        /// The field that is wrong (`row` for the row as a whole).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The message and orderbook files of a pair have different row counts.
    #[error("{} has {messages} rows but {} has {snapshots}: a LOBSTER pair has one orderbook row per message", message_path.display(), orderbook_path.display())]
    RowCountMismatch {
        /// The message file.
        message_path: PathBuf,
        /// Rows read from it.
        messages: usize,
        /// The orderbook file.
        orderbook_path: PathBuf,
        /// Rows read from it.
        snapshots: usize,
    },
}

impl MarketError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        MarketError::Io { path: path.to_path_buf(), source }
    }
}
