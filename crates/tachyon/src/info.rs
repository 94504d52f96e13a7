//! `tachyon info`: what this CPU can do and which instruction set Tachyon runs.

use anyhow::Result;
use tachyon_simd::isa::{self, CpuFeatures, Isa, IsaSource, ISA_ENV_VAR};

/// The CPU's marketing name, from /proc/cpuinfo where available.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH))
}

pub fn run() -> Result<()> {
    let features = CpuFeatures::get();
    let active = isa::active();
    println!("cpu:          {}", cpu_model());
    println!("threads:      {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let list: Vec<String> =
        features.list().iter().map(|(name, present)| format!("{name}{}", if *present { "+" } else { "-" })).collect();
    println!("features:     {}", list.join(" "));
    let supported: Vec<&str> = Isa::supported().iter().map(|i| i.name()).collect();
    println!("supported:    {}", supported.join(", "));
    let why = match isa::active_source() {
        IsaSource::Detected => format!("the best level this CPU supports ({ISA_ENV_VAR} not set)"),
        IsaSource::Environment => format!("forced by {ISA_ENV_VAR}={}", std::env::var(ISA_ENV_VAR).unwrap_or_default()),
        IsaSource::Api => "forced by --isa".to_string(),
    };
    println!("active isa:   {active} ({why})");
    let backend = tachyon_simd::Backend::active();
    println!("backend:      {} (what compiled models and GEMM plans use)", backend.describe());
    if active >= Isa::Avx512 || features.avx512vnni {
        let int8 = match (backend.int8_dot(), features.avx512vnni) {
            (true, _) => "AVX-512 VNNI (vpdpbusd / vpdpwssd)",
            (false, true) => "VNNI present, but the active level is below AVX-512: AVX2 vpmaddwd",
            (false, false) => "no VNNI: AVX2 vpmaddwd",
        };
        println!("int8 dot:     {int8}");
    }
    Ok(())
}
