//! Cache sizes of this machine (bytes), read once from Linux sysfs, with conservative defaults elsewhere.
//!
//! GEMM blocking and the streaming-store threshold are derived from these.

use std::sync::OnceLock;

/// Data-cache sizes seen by one core, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache per core.
    pub l1d: usize,
    /// Level-2 cache per core.
    pub l2: usize,
    /// Level-3 cache (shared) seen by the core; 0 if none.
    pub l3: usize,
}

impl CacheSizes {
    /// Used when sysfs cannot be read: 32 KiB / 512 KiB / 8 MiB.
    pub const DEFAULT: CacheSizes = CacheSizes { l1d: 32 << 10, l2: 512 << 10, l3: 8 << 20 };

    /// The sizes of cpu0's caches, detected once.
    pub fn get() -> CacheSizes {
        static SIZES: OnceLock<CacheSizes> = OnceLock::new();
        *SIZES.get_or_init(|| Self::from_sysfs("/sys/devices/system/cpu/cpu0/cache").unwrap_or(Self::DEFAULT))
    }

    /// Reads `index*/{level,type,size}` under `dir`; `None` if nothing usable is there.
    pub fn from_sysfs(dir: &str) -> Option<CacheSizes> {
        let mut sizes = CacheSizes { l1d: 0, l2: 0, l3: 0 };
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok().map(|s| s.trim().to_string());
            let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size")) else { continue };
            let Some(bytes) = parse_size(&size) else { continue };
            match (level.as_str(), kind.as_str()) {
                ("1", "Data") => sizes.l1d = bytes,
                ("2", "Unified" | "Data") => sizes.l2 = bytes,
                ("3", "Unified" | "Data") => sizes.l3 = bytes,
                _ => {}
            }
        }
        (sizes.l1d > 0 && sizes.l2 > 0).then_some(sizes)
    }
}

/// Parses sysfs sizes such as `32K`, `1024K`, `32768K`, `8M`.
fn parse_size(text: &str) -> Option<usize> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: usize = digits.parse().ok()?;
    match unit {
        "" => Some(n),
        "K" => Some(n << 10),
        "M" => Some(n << 20),
        "G" => Some(n << 30),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysfs_sizes() {
        assert_eq!(parse_size("32K"), Some(32768));
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn detected_sizes_are_plausible() {
        let c = CacheSizes::get();
        assert!(c.l1d >= 4 << 10 && c.l2 >= c.l1d, "{c:?}");
    }
}
