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

/// Longest field text an error message quotes, characters.
const SHOWN_CHARS: usize = 40;

/// A field's text as an error message quotes it: escaped, and cut after [`SHOWN_CHARS`] characters with its
/// length, so that a binary or runaway field cannot flood the terminal.
pub(crate) fn shown(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let chars = text.chars().count();
    if chars <= SHOWN_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{head:?}... ({} bytes)", text.len())
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn shown_text_is_escaped_and_cut() {
        assert_eq!(shown(b"12a"), r#""12a""#);
        assert_eq!(shown(b"\x00\x01"), r#""\0\u{1}""#);
        let long = shown(&[b'7'; 1000]);
        assert!(long.starts_with(&format!("{:?}", "7".repeat(40))) && long.ends_with("... (1000 bytes)"), "{long}");
    }
}
