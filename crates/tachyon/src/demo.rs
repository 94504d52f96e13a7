//! `tachyon demo`: the main job on the sample data shipped in the repository.
//!
//! At this stage: report the instruction set and self-check every kernel on it against its scalar twin and an
//! f64 reference.

use anyhow::{bail, Result};
use tachyon_simd::{isa, Float, Isa, KernelTable};

/// Checks the kernels of `table` on `n` values against f64 references; returns (checks, failures).
fn self_check<T: Float>(table: &KernelTable<T>, n: usize) -> (usize, Vec<String>) {
    let a: Vec<T> = (0..n).map(|i| T::from_f64(((i * 37 % 101) as f64 - 50.0) / 25.0)).collect();
    let b: Vec<T> = (0..n).map(|i| T::from_f64(((i * 53 % 97) as f64 - 48.0) / 24.0)).collect();
    let u = T::UNIT_ROUNDOFF;
    let gamma = n as f64 * u / (1.0 - n as f64 * u);
    let mut failures = Vec::new();
    let mut checks = 0;
    let mut check = |name: &str, ok: bool| {
        checks += 1;
        if !ok {
            failures.push(format!("{name} {} {}", table.isa, T::NAME));
        }
    };
    let dot_ref: f64 = a.iter().zip(&b).map(|(x, y)| x.to_f64() * y.to_f64()).sum();
    let dot_abs: f64 = a.iter().zip(&b).map(|(x, y)| (x.to_f64() * y.to_f64()).abs()).sum();
    check("dot", ((table.dot)(&a, &b).to_f64() - dot_ref).abs() <= gamma * dot_abs);
    let sum_ref: f64 = a.iter().map(|x| x.to_f64()).sum();
    let sum_abs: f64 = a.iter().map(|x| x.to_f64().abs()).sum();
    check("sum", ((table.sum)(&a).to_f64() - sum_ref).abs() <= gamma * sum_abs);
    let max_ref = a.iter().map(|x| x.to_f64()).fold(f64::MIN, f64::max);
    let first = a.iter().position(|x| x.to_f64() == max_ref);
    check("argmax", (table.argmax)(&a).map(|(i, _)| i) == first);
    let mut out = vec![T::ZERO; n];
    (table.exp)(&a, &mut out);
    check("exp", a.iter().zip(&out).all(|(x, y)| (y.to_f64() - x.to_f64().exp()).abs() <= 4.0 * u * x.to_f64().exp()));
    (table.tanh)(&a, &mut out);
    check(
        "tanh",
        a.iter().zip(&out).all(|(x, y)| (y.to_f64() - x.to_f64().tanh()).abs() <= 6.0 * u * x.to_f64().tanh().abs()),
    );
    (table.add)(&a, &b, &mut out);
    check("add", a.iter().zip(&b).zip(&out).all(|((x, y), z)| (*x + *y).to_f64() == z.to_f64()));
    (checks, failures)
}

pub fn run() -> Result<()> {
    let active = isa::active();
    println!("Tachyon demo");
    println!(
        "instruction set: {active} (supported here: {})",
        Isa::supported().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
    );
    let mut checks = 0;
    let mut failures = Vec::new();
    for n in [0usize, 1, 17, 1000, 4099] {
        for (c, f) in [self_check(f32::kernels_for(active)?, n), self_check(f64::kernels_for(active)?, n)] {
            checks += c;
            failures.extend(f);
        }
    }
    println!("kernel self-check on {active}: {} of {checks} checks passed", checks - failures.len());
    if !failures.is_empty() {
        bail!("kernel self-check failed: {}", failures.join(", "));
    }
    Ok(())
}
