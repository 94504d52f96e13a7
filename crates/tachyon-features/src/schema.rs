//! The feature schema: names, order, version and a hash that every model file carries, so a model is never fed
//! features it was not trained on.

/// Name and version of the feature set computed by [`crate::FeatureEngine`].
pub const SCHEMA_NAME: &str = "tachyon.lob";
/// Bumped whenever a formula, parameter or the order changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Column names, in output order (formulas in docs/FEATURES.md).
pub const FEATURE_NAMES: [&str; NUM_FEATURES] = [
    "mid",
    "microprice",
    "microprice_dev_bps",
    "spread",
    "spread_bps",
    "imbalance_l1",
    "imbalance_l2",
    "imbalance_l3",
    "imbalance_l4",
    "imbalance_l5",
    "imbalance_cum_l3",
    "imbalance_cum_l5",
    "imbalance_cum_l10",
    "wdepth_bid",
    "wdepth_ask",
    "wdepth_imbalance",
    "ofi_e10",
    "ofi_e100",
    "ofi_t1s",
    "trade_sign_imb_100",
    "trade_vol_imb_hl50",
    "ret_e1_bps",
    "ret_e10_bps",
    "ret_e100_bps",
    "ret_e1000_bps",
    "ret_t1s_bps",
    "ret_t10s_bps",
    "ret_t60s_bps",
    "vol_hl10_bps",
    "vol_hl100_bps",
    "vol_hl1000_bps",
    "ret_mean_e100_bps",
    "ret_std_e100_bps",
    "ret_mean_e1000_bps",
    "ret_std_e1000_bps",
    "mid_max_e100_bps",
    "mid_min_e100_bps",
    "mid_max_e1000_bps",
    "mid_min_e1000_bps",
    "time_since_trade_s",
    "intensity_t1s",
    "intensity_t10s",
    "trade_intensity_t10s",
    "time_of_day_h",
];

/// Features per row.
pub const NUM_FEATURES: usize = 44;

/// A schema's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureSchema {
    /// Name of the feature set.
    pub name: &'static str,
    /// Its version.
    pub version: u32,
    /// Column names in order.
    pub names: &'static [&'static str],
}

/// The schema of [`crate::FeatureEngine`].
pub const SCHEMA: FeatureSchema = FeatureSchema { name: SCHEMA_NAME, version: SCHEMA_VERSION, names: &FEATURE_NAMES };

impl FeatureSchema {
    /// A 64-bit FNV-1a hash of the name, version and every column name in order: equal hashes mean the same
    /// columns in the same order from the same formulas version.
    pub const fn hash(&self) -> u64 {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        const fn eat(mut h: u64, bytes: &[u8]) -> u64 {
            let mut i = 0;
            while i < bytes.len() {
                h ^= bytes[i] as u64;
                h = h.wrapping_mul(PRIME);
                i += 1;
            }
            // A separator, so ["ab", "c"] and ["a", "bc"] differ.
            (h ^ 0xff).wrapping_mul(PRIME)
        }
        let mut h = eat(0xcbf2_9ce4_8422_2325, self.name.as_bytes());
        h = eat(h, &self.version.to_le_bytes());
        let mut i = 0;
        while i < self.names.len() {
            h = eat(h, self.names[i].as_bytes());
            i += 1;
        }
        h
    }

    /// Index of a column by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_the_hash_sees_order_and_version() {
        let mut sorted = FEATURE_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), NUM_FEATURES);
        let mut swapped = FEATURE_NAMES;
        swapped.swap(0, 1);
        let leaked: &'static [&'static str] = Box::leak(Box::new(swapped));
        assert_ne!(SCHEMA.hash(), FeatureSchema { names: leaked, ..SCHEMA }.hash());
        assert_ne!(SCHEMA.hash(), FeatureSchema { version: SCHEMA_VERSION + 1, ..SCHEMA }.hash());
        assert_eq!(SCHEMA.hash(), SCHEMA.hash());
    }
}
