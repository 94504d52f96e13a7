//! [`Backend`]: the instruction set code runs on and the capabilities beyond it that kernels may use, resolved
//! once and handed to every planner (GEMM plans, compiled models), so that nothing below reads ambient state on a
//! hot path and an instruction set can be chosen per plan (A/B, rollback of a bad kernel).

use crate::isa::{self, Avx512Vnni, CpuFeatures, Isa, IsaError, IsaRequest};

/// An instruction set this CPU supports, with the optional capabilities usable at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Backend {
    isa: Isa,
    vnni: Option<Avx512Vnni>,
    bf16: bool,
}

impl Backend {
    /// The backend for `isa`: an error if this CPU lacks it. Capabilities are those of this CPU that run at that
    /// level (AVX-512 VNNI and BF16 only with AVX-512).
    pub fn new(isa: Isa) -> Result<Backend, IsaError> {
        let isa = IsaRequest::Exactly(isa).resolve()?;
        let cpu = CpuFeatures::get();
        let wide = isa == Isa::Avx512;
        let vnni = if wide { Avx512Vnni::detect() } else { None };
        Ok(Backend { isa, vnni, bf16: wide && cpu.avx512bf16 })
    }

    /// The best backend this CPU has.
    pub fn best() -> Backend {
        Backend::new(Isa::best()).expect("the best level is supported")
    }

    /// The backend of the process-wide default instruction set ([`isa::active`]: `TACHYON_ISA`, `--isa`, or the
    /// best): for the command line and tests. Libraries take a `Backend` from their caller.
    pub fn active() -> Backend {
        Backend::new(isa::active()).expect("the active level is supported")
    }

    /// The instruction set.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether int8 dot-product instructions (AVX-512 VNNI `vpdpbusd` / `vpdpwssd`) may be used.
    pub fn int8_dot(&self) -> bool {
        self.vnni.is_some()
    }

    /// The token for AVX-512 VNNI code, if this backend may use it.
    pub fn vnni(&self) -> Option<Avx512Vnni> {
        self.vnni
    }

    /// Whether bf16 dot-product instructions (AVX-512 BF16 `vdpbf16ps`) may be used.
    pub fn bf16(&self) -> bool {
        self.bf16
    }

    /// The same instruction set without int8 dot-product instructions (to run and compare the kernel that stands
    /// in for them).
    pub fn without_int8_dot(self) -> Backend {
        Backend { vnni: None, ..self }
    }

    /// Short description for reports, e.g. `avx512+vnni+bf16`.
    pub fn describe(&self) -> String {
        let mut s = self.isa.name().to_string();
        for (name, on) in [("vnni", self.int8_dot()), ("bf16", self.bf16)] {
            if on {
                s.push('+');
                s.push_str(name);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_exist_for_supported_levels_only_and_carry_capabilities_at_avx512_only() {
        for isa in Isa::ALL {
            match Backend::new(isa) {
                Ok(b) => {
                    assert!(isa.is_supported());
                    assert_eq!(b.isa(), isa);
                    assert!(isa == Isa::Avx512 || !(b.int8_dot() || b.bf16()), "{b:?}");
                    assert!(!b.without_int8_dot().int8_dot());
                    // The VNNI token exists exactly where the CPU has VNNI and the backend runs AVX-512.
                    let cpu = CpuFeatures::get();
                    assert_eq!(b.vnni().is_some(), isa == Isa::Avx512 && cpu.avx512vnni, "{b:?}");
                }
                Err(e) => assert!(!isa.is_supported(), "{e}"),
            }
        }
        assert_eq!(Backend::new(Isa::Scalar).unwrap().describe(), "scalar");
    }
}
