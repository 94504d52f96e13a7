//! The feature schema: names, order, version and a hash that every model file carries, so a model is never fed
//! features it was not trained on.

/// Name and version of the feature set computed by [`crate::FeatureEngine`].
pub const SCHEMA_NAME: &str = "tachyon.lob";
/// Bumped whenever a formula, parameter or the order changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Declares the columns once, in output order: their names ([`FEATURE_NAMES`]), their count ([`NUM_FEATURES`])
/// and a named position for each ([`feature`]), so that inserting a column moves every later position by itself.
macro_rules! columns {
    ($($position:ident = $name:literal,)*) => {
        /// Column names, in output order (formulas in docs/FEATURES.md).
        pub const FEATURE_NAMES: [&str; NUM_FEATURES] = [$($name),*];
        /// Features per row.
        pub const NUM_FEATURES: usize = [$($name),*].len();
        /// The position of every column in a feature row, named after the column.
        pub mod feature {
            positions!(0; $($position),*);
        }
    };
}

macro_rules! positions {
    ($at:expr;) => {};
    ($at:expr; $position:ident $(, $rest:ident)*) => {
        #[doc = concat!("Position of `", stringify!($position), "` (lower case) in a feature row.")]
        pub const $position: usize = $at;
        positions!($at + 1; $($rest),*);
    };
}

columns! {
    MID = "mid",
    MICROPRICE = "microprice",
    MICROPRICE_DEV_BPS = "microprice_dev_bps",
    SPREAD = "spread",
    SPREAD_BPS = "spread_bps",
    IMBALANCE_L1 = "imbalance_l1",
    IMBALANCE_L2 = "imbalance_l2",
    IMBALANCE_L3 = "imbalance_l3",
    IMBALANCE_L4 = "imbalance_l4",
    IMBALANCE_L5 = "imbalance_l5",
    IMBALANCE_CUM_L3 = "imbalance_cum_l3",
    IMBALANCE_CUM_L5 = "imbalance_cum_l5",
    IMBALANCE_CUM_L10 = "imbalance_cum_l10",
    WDEPTH_BID = "wdepth_bid",
    WDEPTH_ASK = "wdepth_ask",
    WDEPTH_IMBALANCE = "wdepth_imbalance",
    OFI_E10 = "ofi_e10",
    OFI_E100 = "ofi_e100",
    OFI_T1S = "ofi_t1s",
    TRADE_SIGN_IMB_100 = "trade_sign_imb_100",
    TRADE_VOL_IMB_HL50 = "trade_vol_imb_hl50",
    RET_E1_BPS = "ret_e1_bps",
    RET_E10_BPS = "ret_e10_bps",
    RET_E100_BPS = "ret_e100_bps",
    RET_E1000_BPS = "ret_e1000_bps",
    RET_T1S_BPS = "ret_t1s_bps",
    RET_T10S_BPS = "ret_t10s_bps",
    RET_T60S_BPS = "ret_t60s_bps",
    VOL_HL10_BPS = "vol_hl10_bps",
    VOL_HL100_BPS = "vol_hl100_bps",
    VOL_HL1000_BPS = "vol_hl1000_bps",
    RET_MEAN_E100_BPS = "ret_mean_e100_bps",
    RET_STD_E100_BPS = "ret_std_e100_bps",
    RET_MEAN_E1000_BPS = "ret_mean_e1000_bps",
    RET_STD_E1000_BPS = "ret_std_e1000_bps",
    MID_MAX_E100_BPS = "mid_max_e100_bps",
    MID_MIN_E100_BPS = "mid_min_e100_bps",
    MID_MAX_E1000_BPS = "mid_max_e1000_bps",
    MID_MIN_E1000_BPS = "mid_min_e1000_bps",
    TIME_SINCE_TRADE_S = "time_since_trade_s",
    INTENSITY_T1S = "intensity_t1s",
    INTENSITY_T10S = "intensity_t10s",
    TRADE_INTENSITY_T10S = "trade_intensity_t10s",
    TIME_OF_DAY_H = "time_of_day_h",
}

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

    #[test]
    fn positions_are_named_after_their_columns_and_the_hash_is_stable() {
        assert_eq!((feature::MID, feature::TIME_OF_DAY_H, NUM_FEATURES), (0, 43, 44));
        assert_eq!(FEATURE_NAMES[feature::RET_E1_BPS], "ret_e1_bps");
        assert_eq!(FEATURE_NAMES[feature::WDEPTH_IMBALANCE], "wdepth_imbalance");
        // Model files carry this hash: it changes only with the columns or the version (docs/FEATURES.md).
        assert_eq!(format!("{:016x}", SCHEMA.hash()), "ef6295eae1432366");
    }
}
