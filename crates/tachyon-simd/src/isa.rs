//! Instruction-set dispatch: detect once, choose once, override for A/B tests and rollback.
//!
//! The active [`Isa`] is resolved on first use from `TACHYON_ISA` (if set) or from CPU detection, cached in an
//! atomic, and can be changed through [`set_active`]. Asking for an instruction set the CPU lacks is an
//! [`IsaError`], never undefined behaviour: the only way to reach an AVX2 or AVX-512 kernel is through a token
//! ([`Avx2`], [`Avx512`]) whose constructor checks the CPU.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// Name of the environment variable that caps or forces the instruction set (`scalar`, `avx2`, `avx512`, `auto`).
pub const ISA_ENV_VAR: &str = "TACHYON_ISA";

/// An instruction-set level, ordered from least to most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable scalar code (the reference twin of every kernel); works on every target.
    Scalar,
    /// x86-64 AVX2 with FMA3 (256-bit vectors).
    Avx2,
    /// x86-64 AVX-512 F, BW, DQ and VL (512-bit vectors, masked tails). VNNI and BF16 are reported separately.
    Avx512,
}

impl Isa {
    /// Every level, least capable first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// The name used by `TACHYON_ISA` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run code for this level.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => Avx2::detect().is_some(),
            Isa::Avx512 => Avx512::detect().is_some(),
        }
    }

    /// All levels this CPU supports, least capable first.
    pub fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_supported()).collect()
    }

    /// The most capable level this CPU supports.
    pub fn best() -> Isa {
        Isa::ALL.into_iter().rev().find(|isa| isa.is_supported()).unwrap_or(Isa::Scalar)
    }

    /// Width of one vector register of this level in bytes (the scalar twin counts one 8-byte lane).
    pub fn vector_bytes(self) -> usize {
        match self {
            Isa::Scalar => 8,
            Isa::Avx2 => 32,
            Isa::Avx512 => 64,
        }
    }

    /// Elements of `element_bytes` bytes in one register of this level (the scalar twin: one).
    pub fn lanes(self, element_bytes: usize) -> usize {
        match self {
            Isa::Scalar => 1,
            isa => isa.vector_bytes() / element_bytes,
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Isa {
        Isa::ALL[code as usize]
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A request for an instruction set: a specific level, or `auto` for the best the CPU has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsaRequest {
    /// The most capable level the CPU supports.
    Auto,
    /// Exactly this level (an error if the CPU lacks it).
    Exactly(Isa),
}

impl FromStr for IsaRequest {
    type Err = IsaError;

    fn from_str(text: &str) -> Result<Self, IsaError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" | "best" => Ok(IsaRequest::Auto),
            "scalar" => Ok(IsaRequest::Exactly(Isa::Scalar)),
            "avx2" => Ok(IsaRequest::Exactly(Isa::Avx2)),
            "avx512" => Ok(IsaRequest::Exactly(Isa::Avx512)),
            _ => Err(IsaError::Unknown { given: text.to_string() }),
        }
    }
}

impl IsaRequest {
    /// Resolves the request against this CPU.
    pub fn resolve(self) -> Result<Isa, IsaError> {
        match self {
            IsaRequest::Auto => Ok(Isa::best()),
            IsaRequest::Exactly(isa) if isa.is_supported() => Ok(isa),
            IsaRequest::Exactly(isa) => {
                Err(IsaError::Unsupported { isa, missing: CpuFeatures::get().missing_for(isa), best: Isa::best() })
            }
        }
    }
}

/// Why an instruction set could not be chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IsaError {
    /// The name is not one of the known levels.
    #[error("unknown instruction set {given:?}: valid choices are scalar, avx2, avx512 or auto")]
    Unknown {
        /// The text that was given.
        given: String,
    },
    /// The CPU lacks features the level needs.
    #[error(
        "this CPU cannot run the {isa} instruction set (missing: {}); valid choices here are {}",
        missing.join(", "),
        Isa::supported().iter().map(|i| i.name()).chain(["auto"]).collect::<Vec<_>>().join(", ")
    )]
    Unsupported {
        /// The level asked for.
        isa: Isa,
        /// CPU feature names that are absent.
        missing: Vec<&'static str>,
        /// The best level this CPU supports.
        best: Isa,
    },
}

/// Checks that every level named in `required` (comma-separated) is among `levels`.
fn check_required(levels: &[Isa], required: &str) -> Result<(), String> {
    for name in required.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let isa = match name.parse::<IsaRequest>().map_err(|e| e.to_string())? {
            IsaRequest::Exactly(isa) => isa,
            IsaRequest::Auto => Isa::best(),
        };
        if !levels.contains(&isa) {
            return Err(format!(
                "{isa} is required but this run does not test it (the CPU lacks {:?}, or {ISA_ENV_VAR} forces another \
                 level)",
                CpuFeatures::get().missing_for(isa)
            ));
        }
    }
    Ok(())
}

/// Where the active instruction set came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsaSource {
    /// CPU detection chose the best supported level.
    Detected,
    /// The `TACHYON_ISA` environment variable.
    Environment,
    /// A call to [`set_active`].
    Api,
}

/// The x86 features Tachyon cares about, as detected at run time (all false on other targets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// AVX2 integer and float 256-bit operations.
    pub avx2: bool,
    /// FMA3 fused multiply-add.
    pub fma: bool,
    /// AVX-512 Foundation.
    pub avx512f: bool,
    /// AVX-512 byte and word operations.
    pub avx512bw: bool,
    /// AVX-512 doubleword and quadword operations.
    pub avx512dq: bool,
    /// AVX-512 vector-length extensions (128/256-bit forms with masks).
    pub avx512vl: bool,
    /// AVX-512 VNNI (`vpdpbusd`, int8 dot products).
    pub avx512vnni: bool,
    /// AVX-512 BF16 (`vdpbf16ps`).
    pub avx512bf16: bool,
}

impl CpuFeatures {
    /// The features of this CPU, detected once and cached.
    pub fn get() -> &'static CpuFeatures {
        static FEATURES: OnceLock<CpuFeatures> = OnceLock::new();
        FEATURES.get_or_init(CpuFeatures::detect)
    }

    #[cfg(target_arch = "x86_64")]
    fn detect() -> CpuFeatures {
        CpuFeatures {
            avx2: std::arch::is_x86_feature_detected!("avx2"),
            fma: std::arch::is_x86_feature_detected!("fma"),
            avx512f: std::arch::is_x86_feature_detected!("avx512f"),
            avx512bw: std::arch::is_x86_feature_detected!("avx512bw"),
            avx512dq: std::arch::is_x86_feature_detected!("avx512dq"),
            avx512vl: std::arch::is_x86_feature_detected!("avx512vl"),
            avx512vnni: std::arch::is_x86_feature_detected!("avx512vnni"),
            avx512bf16: std::arch::is_x86_feature_detected!("avx512bf16"),
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn detect() -> CpuFeatures {
        CpuFeatures::default()
    }

    /// `(name, present)` for every feature, in a fixed order, for reports.
    pub fn list(&self) -> [(&'static str, bool); 8] {
        [
            ("avx2", self.avx2),
            ("fma", self.fma),
            ("avx512f", self.avx512f),
            ("avx512bw", self.avx512bw),
            ("avx512dq", self.avx512dq),
            ("avx512vl", self.avx512vl),
            ("avx512vnni", self.avx512vnni),
            ("avx512bf16", self.avx512bf16),
        ]
    }

    /// Feature names a level needs that this CPU lacks (empty when the level is supported).
    pub fn missing_for(&self, isa: Isa) -> Vec<&'static str> {
        let needed: &[&str] = match isa {
            Isa::Scalar => &[],
            Isa::Avx2 => &["avx2", "fma"],
            Isa::Avx512 => &["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"],
        };
        let list = self.list();
        needed.iter().copied().filter(|name| !list.iter().any(|(have, present)| have == name && *present)).collect()
    }
}

/// Proof that the CPU supports AVX2 and FMA. Only [`Avx2::detect`] makes one.
#[derive(Clone, Copy, Debug)]
pub struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// Returns the token if this CPU has AVX2 and FMA.
    pub fn detect() -> Option<Avx2> {
        let f = CpuFeatures::get();
        (f.avx2 && f.fma).then_some(Avx2 { _private: () })
    }

    /// Makes the token without checking.
    ///
    /// # Safety
    /// The caller must run on a CPU with AVX2 and FMA, e.g. inside a function compiled with
    /// `#[target_feature(enable = "avx2,fma")]` that is only reachable after [`Avx2::detect`] succeeded.
    #[inline(always)]
    pub unsafe fn new_unchecked() -> Avx2 {
        Avx2 { _private: () }
    }
}

/// Proof that the CPU supports AVX-512 F/BW/DQ/VL (and therefore AVX2 and FMA). Only [`Avx512::detect`] makes one.
#[derive(Clone, Copy, Debug)]
pub struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// Returns the token if this CPU has AVX-512 F, BW, DQ, VL, AVX2 and FMA.
    pub fn detect() -> Option<Avx512> {
        let f = CpuFeatures::get();
        (f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl).then_some(Avx512 { _private: () })
    }

    /// Makes the token without checking.
    ///
    /// # Safety
    /// The caller must run on a CPU with AVX-512 F/BW/DQ/VL, AVX2 and FMA, e.g. inside a function compiled with
    /// those target features that is only reachable after [`Avx512::detect`] succeeded.
    #[inline(always)]
    pub unsafe fn new_unchecked() -> Avx512 {
        Avx512 { _private: () }
    }
}

/// Proof that the CPU supports AVX-512 VNNI (`vpdpbusd`, `vpdpwssd`) on top of AVX-512 F/BW/DQ/VL. Only
/// [`Avx512Vnni::detect`] makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Avx512Vnni {
    _private: (),
}

impl Avx512Vnni {
    /// Returns the token if this CPU has AVX-512 VNNI and everything [`Avx512`] needs.
    pub fn detect() -> Option<Avx512Vnni> {
        Avx512::detect().filter(|_| CpuFeatures::get().avx512vnni).map(|_| Avx512Vnni { _private: () })
    }

    /// The AVX-512 token this one implies.
    pub fn avx512(self) -> Avx512 {
        Avx512 { _private: () }
    }
}

const UNSET: u8 = u8::MAX;
static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);
static SOURCE: AtomicU8 = AtomicU8::new(0);

fn source_code(source: IsaSource) -> u8 {
    match source {
        IsaSource::Detected => 0,
        IsaSource::Environment => 1,
        IsaSource::Api => 2,
    }
}

/// Reads `TACHYON_ISA`: `Ok(None)` when unset, the resolved level when valid and supported.
pub fn from_env() -> Result<Option<Isa>, IsaError> {
    match std::env::var(ISA_ENV_VAR) {
        Ok(text) => text.parse::<IsaRequest>()?.resolve().map(Some),
        Err(_) => Ok(None),
    }
}

/// Resolves the active instruction set now (environment, else detection) and reports errors instead of panicking.
///
/// Binaries call this first so that a bad `TACHYON_ISA` is a clean error message; library code may rely on
/// [`active`], which resolves lazily.
pub fn init() -> Result<Isa, IsaError> {
    let (isa, source) = match from_env()? {
        Some(isa) => (isa, IsaSource::Environment),
        None => (Isa::best(), IsaSource::Detected),
    };
    // Keep an earlier `set_active` choice: the API override wins over the environment.
    if ACTIVE.load(Ordering::Acquire) == UNSET {
        SOURCE.store(source_code(source), Ordering::Relaxed);
        let _ = ACTIVE.compare_exchange(UNSET, isa.code(), Ordering::AcqRel, Ordering::Acquire);
    }
    Ok(active())
}

/// The instruction set kernels use now.
///
/// # Panics
/// On first use, if `TACHYON_ISA` names an unknown level or one this CPU lacks. Call [`init`] at start-up to
/// get that as an error instead.
#[inline]
pub fn active() -> Isa {
    let code = ACTIVE.load(Ordering::Acquire);
    if code != UNSET {
        return Isa::from_code(code);
    }
    match init() {
        Ok(isa) => isa,
        Err(error) => panic!("{ISA_ENV_VAR}: {error}"),
    }
}

/// The environment variable naming levels a test run must exercise (`avx512`, or a list: `avx2,avx512`).
pub const REQUIRE_ISA_ENV_VAR: &str = "TACHYON_REQUIRE_ISA";

/// The levels a test suite should exercise: the one `TACHYON_ISA` forces (CI runs the suites once per level),
/// else every level this CPU supports. The first call in a process writes to stderr (past the test harness's
/// capture) which levels run and which are skipped and why.
///
/// # Panics
/// If `TACHYON_ISA` names an unknown level or one this CPU lacks (a test setup error), or if a level named by
/// `TACHYON_REQUIRE_ISA` is not among those that run: a missing instruction set fails the run instead of being
/// skipped in silence.
pub fn levels_under_test() -> Vec<Isa> {
    let forced = match from_env() {
        Ok(forced) => forced,
        Err(error) => panic!("{ISA_ENV_VAR}: {error}"),
    };
    let levels = forced.map_or_else(Isa::supported, |isa| vec![isa]);
    static REPORTED: std::sync::Once = std::sync::Once::new();
    REPORTED.call_once(|| {
        let skipped: Vec<String> = Isa::ALL
            .iter()
            .filter(|isa| !levels.contains(isa))
            .map(|&isa| match forced {
                Some(f) => format!("{isa} ({ISA_ENV_VAR}={f})"),
                None => format!("{isa} (CPU lacks {})", CpuFeatures::get().missing_for(isa).join(", ")),
            })
            .collect();
        let names: Vec<&str> = levels.iter().map(|i| i.name()).collect();
        let line = format!(
            "instruction sets under test: ran {}; skipped {}\n",
            names.join(", "),
            if skipped.is_empty() { "none".to_string() } else { skipped.join(", ") }
        );
        // Straight to the stream: the test harness captures print! and eprint!.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    });
    if let Ok(required) = std::env::var(REQUIRE_ISA_ENV_VAR) {
        if let Err(problem) = check_required(&levels, &required) {
            panic!("{REQUIRE_ISA_ENV_VAR}: {problem}");
        }
    }
    levels
}

/// Where the active instruction set came from.
pub fn active_source() -> IsaSource {
    let _ = active();
    match SOURCE.load(Ordering::Relaxed) {
        1 => IsaSource::Environment,
        2 => IsaSource::Api,
        _ => IsaSource::Detected,
    }
}

/// Overrides the active instruction set for the whole process (A/B tests, rollback).
///
/// Kernel tables and plans resolved before the call keep the level they were built with.
pub fn set_active(request: IsaRequest) -> Result<Isa, IsaError> {
    let isa = request.resolve()?;
    SOURCE.store(source_code(IsaSource::Api), Ordering::Relaxed);
    ACTIVE.store(isa.code(), Ordering::Release);
    Ok(isa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_level_that_does_not_run_is_an_error() {
        let ran = [Isa::Scalar, Isa::Avx2];
        assert!(check_required(&ran, "avx2").is_ok());
        assert!(check_required(&ran, " scalar , avx2 ").is_ok());
        assert!(check_required(&ran, "").is_ok());
        let err = check_required(&ran, "avx2,avx512").unwrap_err();
        assert!(err.contains("avx512 is required"), "{err}");
        assert!(check_required(&ran, "sse9").unwrap_err().contains("unknown instruction set"));
    }

    #[test]
    fn lanes_per_register() {
        assert_eq!([Isa::Scalar, Isa::Avx2, Isa::Avx512].map(|isa| isa.lanes(4)), [1, 8, 16]);
        assert_eq!([Isa::Scalar, Isa::Avx2, Isa::Avx512].map(|isa| isa.lanes(8)), [1, 4, 8]);
    }

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!("AVX2".parse::<IsaRequest>(), Ok(IsaRequest::Exactly(Isa::Avx2)));
        assert_eq!(" scalar ".parse::<IsaRequest>(), Ok(IsaRequest::Exactly(Isa::Scalar)));
        assert_eq!("auto".parse::<IsaRequest>(), Ok(IsaRequest::Auto));
        let err = "sse9".parse::<IsaRequest>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("sse9") && message.contains("scalar, avx2, avx512"), "{message}");
    }

    #[test]
    fn unsupported_levels_are_errors_that_name_the_missing_features() {
        for isa in Isa::ALL {
            let result = IsaRequest::Exactly(isa).resolve();
            if isa.is_supported() {
                assert_eq!(result, Ok(isa));
            } else {
                let message = result.unwrap_err().to_string();
                assert!(message.contains("missing") && message.contains("valid choices"), "{message}");
            }
        }
        assert!(Isa::Scalar.is_supported());
        assert_eq!(IsaRequest::Auto.resolve(), Ok(Isa::best()));
    }

    #[test]
    fn tokens_agree_with_feature_detection() {
        let f = CpuFeatures::get();
        assert_eq!(Avx2::detect().is_some(), f.avx2 && f.fma);
        assert_eq!(Avx512::detect().is_some(), f.missing_for(Isa::Avx512).is_empty());
        assert!(Isa::supported().contains(&Isa::best()));
    }
}
