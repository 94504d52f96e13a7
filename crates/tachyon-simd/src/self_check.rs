//! A quick check that one instruction set's kernels compute what they should on this machine: a few kernels on
//! awkward lengths against f64 references, within their documented error bounds. It runs in milliseconds, so a
//! process can run it at start (the demo does) before trusting a CPU it has never seen.

use crate::float::Float;
use crate::isa::IsaError;
use crate::{Backend, KernelTable};

/// Lengths checked: empty, one, a prime, more than a register group, and one past a power of two.
const LENGTHS: [usize; 5] = [0, 1, 17, 1000, 4099];

/// Outcome of [`self_check`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelfCheck {
    /// Checks run.
    pub checks: usize,
    /// The failed ones, as `kernel isa type length`.
    pub failures: Vec<String>,
    /// The largest error of any check as a share of its bound (1 is at the bound; an exact kernel that differs
    /// counts as infinitely far over it).
    pub worst: f64,
}

impl SelfCheck {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Checks the f32 and f64 kernels of `backend`'s instruction set.
pub fn self_check(backend: &Backend) -> Result<SelfCheck, IsaError> {
    let mut report = SelfCheck::default();
    for n in LENGTHS {
        check_table(f32::kernels_for(backend.isa())?, n, &mut report);
        check_table(f64::kernels_for(backend.isa())?, n, &mut report);
    }
    Ok(report)
}

fn check_table<T: Float>(table: &KernelTable<T>, n: usize, report: &mut SelfCheck) {
    let a: Vec<T> = (0..n).map(|i| T::from_f64(((i * 37 % 101) as f64 - 50.0) / 25.0)).collect();
    let b: Vec<T> = (0..n).map(|i| T::from_f64(((i * 53 % 97) as f64 - 48.0) / 24.0)).collect();
    let u = T::UNIT_ROUNDOFF;
    let gamma = n as f64 * u / (1.0 - n as f64 * u);
    // Each check gives its error as a share of its bound: <= 1 passes.
    let mut check = |name: &str, share: f64| {
        report.checks += 1;
        report.worst = if share.is_nan() { f64::INFINITY } else { report.worst.max(share) };
        if share.is_nan() || share > 1.0 {
            report.failures.push(format!("{name} {} {} n={n}", table.isa, T::NAME));
        }
    };
    // |got - want| / bound, 0 when both are 0 (an empty sum is exactly right).
    let share = |err: f64, bound: f64| if err == 0.0 { 0.0 } else { err / bound };
    let exact = |same: bool| if same { 0.0 } else { f64::INFINITY };
    let dot_ref: f64 = a.iter().zip(&b).map(|(x, y)| x.to_f64() * y.to_f64()).sum();
    let dot_abs: f64 = a.iter().zip(&b).map(|(x, y)| (x.to_f64() * y.to_f64()).abs()).sum();
    check("dot", share(((table.dot)(&a, &b).to_f64() - dot_ref).abs(), gamma * dot_abs));
    let sum_ref: f64 = a.iter().map(|x| x.to_f64()).sum();
    let sum_abs: f64 = a.iter().map(|x| x.to_f64().abs()).sum();
    check("sum", share(((table.sum)(&a).to_f64() - sum_ref).abs(), gamma * sum_abs));
    let max_ref = a.iter().map(|x| x.to_f64()).fold(f64::MIN, f64::max);
    let first = a.iter().position(|x| x.to_f64() == max_ref);
    check("argmax", exact((table.argmax)(&a).map(|(i, _)| i) == first));
    let mut out = vec![T::ZERO; n];
    (table.exp)(&a, &mut out);
    let worst_of = |f: fn(f64) -> f64, ulps: f64, out: &[T]| {
        a.iter()
            .zip(out)
            .map(|(x, y)| share((y.to_f64() - f(x.to_f64())).abs(), ulps * u * f(x.to_f64()).abs()))
            .fold(0.0, f64::max)
    };
    check("exp", worst_of(f64::exp, 4.0, &out));
    (table.tanh)(&a, &mut out);
    check("tanh", worst_of(f64::tanh, 6.0, &out));
    (table.add)(&a, &b, &mut out);
    check("add", exact(a.iter().zip(&b).zip(&out).all(|((x, y), z)| (*x + *y).to_f64() == z.to_f64())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Isa;

    #[test]
    fn every_supported_instruction_set_passes_and_a_wrong_kernel_fails() {
        let mut ran = Vec::new();
        for isa in Isa::ALL {
            let Ok(backend) = Backend::new(isa) else { continue };
            let report = self_check(&backend).unwrap();
            assert!(report.passed(), "{isa}: {:?}", report.failures);
            assert!(report.worst > 0.0 && report.worst <= 1.0, "{isa}: {}", report.worst);
            assert_eq!(report.checks, LENGTHS.len() * 2 * 6);
            ran.push(isa.name());
        }
        println!("self-check ran on {ran:?} (the others are not supported by this CPU)");
        // The check can fail: a table whose dot product is off by 1 (far beyond the bound at n = 1000) is caught.
        let mut wrong = SelfCheck::default();
        let mut table = f32::kernels_for(Isa::Scalar).unwrap().clone();
        table.dot = |a, b| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() + 1.0;
        check_table(&table, 1000, &mut wrong);
        assert_eq!(wrong.failures, vec!["dot scalar f32 n=1000".to_string()]);
        assert!(wrong.worst > 1.0);
    }
}
