//! Every vector kernel on every instruction set under test against an f64 reference, over awkward lengths and
//! misaligned slices; NaN/Inf behaviour; alignment independence; zero allocations.

mod common;

use common::{gamma, lengths, offsets, random_values, tables, Misaligned};
use tachyon_simd::{Float, KernelTable};
use tachyon_testkit::SplitMix64;

tachyon_testkit::install_counting_allocator!();

/// Checks `got` against an f64 reference with the worst-case summation bound gamma_n * sum |terms|.
fn assert_reduction<T: Float>(what: &str, table: &KernelTable<T>, n: usize, got: T, reference: f64, abs_sum: f64) {
    let bound = gamma::<T>(n.max(1)) * abs_sum;
    let err = (got.to_f64() - reference).abs();
    assert!(
        err <= bound,
        "{what} {} {} n={n}: got {got}, reference {reference}, error {err:e} > bound {bound:e}",
        table.isa,
        T::NAME
    );
}

fn reductions_match_reference<T: Float>() {
    let mut rng = SplitMix64(7);
    for table in tables::<T>() {
        for n in lengths() {
            let a_vals: Vec<T> = random_values(&mut rng, n, 2.0);
            let b_vals: Vec<T> = random_values(&mut rng, n, 2.0);
            for offset in offsets::<T>() {
                let a = Misaligned::new(n, offset, |i| a_vals[i]);
                let b = Misaligned::new(n, offset + 1, |i| b_vals[i]);
                let (a, b) = (a.get(), b.get());
                let ref_dot: f64 = a.iter().zip(b).map(|(x, y)| x.to_f64() * y.to_f64()).sum();
                let abs_dot: f64 = a.iter().zip(b).map(|(x, y)| (x.to_f64() * y.to_f64()).abs()).sum();
                assert_reduction("dot", table, n, (table.dot)(a, b), ref_dot, abs_dot);
                let ref_sum: f64 = a.iter().map(|x| x.to_f64()).sum();
                let abs_sum: f64 = a.iter().map(|x| x.to_f64().abs()).sum();
                assert_reduction("sum", table, n, (table.sum)(a), ref_sum, abs_sum);
                let ref_sq: f64 = a.iter().map(|x| x.to_f64() * x.to_f64()).sum();
                assert_reduction("sum_sq", table, n, (table.sum_sq)(a), ref_sq, ref_sq);
            }
        }
    }
}

#[test]
fn reductions_match_reference_f32() {
    reductions_match_reference::<f32>();
}

#[test]
fn reductions_match_reference_f64() {
    reductions_match_reference::<f64>();
}

/// First index of the minimum (or maximum) by a plain scan; the first NaN wins.
fn reference_arg<T: Float>(a: &[T], max: bool) -> Option<(usize, T)> {
    if let Some(i) = a.iter().position(|x| x.is_nan()) {
        return Some((i, a[i]));
    }
    let mut best: Option<(usize, T)> = None;
    for (i, &x) in a.iter().enumerate() {
        let better = match best {
            None => true,
            Some((_, b)) => (max && x > b) || (!max && x < b),
        };
        if better {
            best = Some((i, x));
        }
    }
    best
}

fn argmin_argmax_match_reference<T: Float>() {
    let mut rng = SplitMix64(11);
    for table in tables::<T>() {
        for n in lengths() {
            // Few distinct integer values: many ties, so "first index" is really tested.
            let vals: Vec<T> = (0..n).map(|_| T::from_f64((rng.next_u64() % 7) as f64 - 3.0)).collect();
            for offset in offsets::<T>() {
                let mut a = Misaligned::new(n, offset, |i| vals[i]);
                let check = |a: &[T], what: &str| {
                    let (gmin, gmax) = ((table.argmin)(a), (table.argmax)(a));
                    let (rmin, rmax) = (reference_arg(a, false), reference_arg(a, true));
                    let same = |g: Option<(usize, T)>, r: Option<(usize, T)>| match (g, r) {
                        (None, None) => true,
                        (Some((gi, gv)), Some((ri, rv))) => {
                            gi == ri && (gv.to_f64().to_bits() == rv.to_f64().to_bits())
                        }
                        _ => false,
                    };
                    assert!(
                        same(gmin, rmin),
                        "argmin {} {what} n={n} offset={offset}: {gmin:?} vs {rmin:?}",
                        table.isa
                    );
                    assert!(
                        same(gmax, rmax),
                        "argmax {} {what} n={n} offset={offset}: {gmax:?} vs {rmax:?}",
                        table.isa
                    );
                };
                check(a.get(), "ties");
                if n > 0 {
                    // A unique extreme at the very end (the masked tail) and a NaN somewhere in the middle.
                    a.get_mut()[n - 1] = T::from_f64(-100.0);
                    check(a.get(), "min at end");
                    let k = (rng.next_u64() as usize) % n;
                    a.get_mut()[k] = T::from_f64(f64::NAN);
                    check(a.get(), "nan");
                }
            }
        }
        // Signed zeros compare equal: the first one wins on every path.
        let zeros: Vec<T> = (0..37).map(|i| T::from_f64(if i % 3 == 1 { 0.0 } else { -0.0 })).collect();
        assert_eq!((table.argmin)(&zeros).map(|r| r.0), Some(0));
    }
}

#[test]
fn argmin_argmax_match_reference_f32() {
    argmin_argmax_match_reference::<f32>();
}

#[test]
fn argmin_argmax_match_reference_f64() {
    argmin_argmax_match_reference::<f64>();
}

fn elementwise_match_reference<T: Float>() {
    let mut rng = SplitMix64(13);
    let u = T::UNIT_ROUNDOFF;
    for table in tables::<T>() {
        for n in lengths() {
            let av: Vec<T> = random_values(&mut rng, n, 3.0);
            let bv: Vec<T> = random_values(&mut rng, n, 3.0);
            let cv: Vec<T> = random_values(&mut rng, n, 3.0);
            for offset in offsets::<T>() {
                let a = Misaligned::new(n, offset, |i| av[i]);
                let b = Misaligned::new(n, offset + 2, |i| bv[i]);
                let c = Misaligned::new(n, offset + 1, |i| cv[i]);
                // The output is pre-filled with NaN: every element must be overwritten.
                let mut out = Misaligned::new(n, offset + 3, |_| T::from_f64(f64::NAN));
                let (a, b, c) = (a.get(), b.get(), c.get());
                let ctx =
                    |what: &str, i: usize| format!("{what} {} {} n={n} offset={offset} i={i}", table.isa, T::NAME);

                // add, sub, mul, scale, relu are single correctly rounded operations: bitwise equal.
                (table.add)(a, b, out.get_mut());
                (0..n).for_each(|i| {
                    assert_eq!(out.get()[i].to_f64().to_bits(), (a[i] + b[i]).to_f64().to_bits(), "{}", ctx("add", i))
                });
                (table.sub)(a, b, out.get_mut());
                (0..n).for_each(|i| {
                    assert_eq!(out.get()[i].to_f64().to_bits(), (a[i] - b[i]).to_f64().to_bits(), "{}", ctx("sub", i))
                });
                (table.mul)(a, b, out.get_mut());
                (0..n).for_each(|i| {
                    assert_eq!(out.get()[i].to_f64().to_bits(), (a[i] * b[i]).to_f64().to_bits(), "{}", ctx("mul", i))
                });
                let alpha = T::from_f64(-1.375);
                (table.scale)(alpha, a, out.get_mut());
                (0..n).for_each(|i| {
                    assert_eq!(
                        out.get()[i].to_f64().to_bits(),
                        (alpha * a[i]).to_f64().to_bits(),
                        "{}",
                        ctx("scale", i)
                    )
                });
                (table.relu)(a, out.get_mut());
                (0..n).for_each(|i| {
                    let want = if a[i] < T::ZERO { T::ZERO } else { a[i] };
                    assert_eq!(out.get()[i].to_f64().to_bits(), want.to_f64().to_bits(), "{}", ctx("relu", i))
                });
                (table.relu_grad)(a, b, out.get_mut());
                (0..n).for_each(|i| {
                    let want = if a[i] > T::ZERO { b[i] } else { T::ZERO };
                    assert_eq!(out.get()[i].to_f64().to_bits(), want.to_f64().to_bits(), "{}", ctx("relu_grad", i))
                });

                // mul_add and axpy: one rounding when fused, two on the scalar twin: within 2u (|a b| + |c|).
                (table.mul_add)(a, b, c, out.get_mut());
                for i in 0..n {
                    let exact = a[i].to_f64() * b[i].to_f64() + c[i].to_f64();
                    let bound = 2.0 * u * ((a[i].to_f64() * b[i].to_f64()).abs() + c[i].to_f64().abs());
                    assert!((out.get()[i].to_f64() - exact).abs() <= bound, "{}", ctx("mul_add", i));
                }
                out.get_mut().copy_from_slice(c);
                (table.axpy)(alpha, a, out.get_mut());
                for i in 0..n {
                    let exact = alpha.to_f64() * a[i].to_f64() + c[i].to_f64();
                    let bound = 2.0 * u * ((alpha.to_f64() * a[i].to_f64()).abs() + c[i].to_f64().abs());
                    assert!((out.get()[i].to_f64() - exact).abs() <= bound, "{}", ctx("axpy", i));
                }

                // In-place forms equal the out-of-place ones bit for bit.
                let mut inplace = Misaligned::new(n, offset, |i| a[i]);
                (table.scale_inplace)(alpha, inplace.get_mut());
                (table.scale)(alpha, a, out.get_mut());
                assert_eq!(inplace.get(), out.get(), "scale_inplace {}", table.isa);
                type Pair<T> = (fn(&[T], &mut [T]), fn(&mut [T]));
                let pairs: [(&str, Pair<T>); 4] = [
                    ("relu", (table.relu, table.relu_inplace)),
                    ("exp", (table.exp, table.exp_inplace)),
                    ("tanh", (table.tanh, table.tanh_inplace)),
                    ("sigmoid", (table.sigmoid, table.sigmoid_inplace)),
                ];
                for (what, (f, f_inplace)) in pairs {
                    let mut inplace = Misaligned::new(n, offset, |i| a[i]);
                    f_inplace(inplace.get_mut());
                    f(a, out.get_mut());
                    assert!(
                        inplace.get().iter().zip(out.get()).all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits()),
                        "{what}_inplace differs from {what} on {} n={n}",
                        table.isa
                    );
                }
            }
        }
    }
}

#[test]
fn elementwise_match_reference_f32() {
    elementwise_match_reference::<f32>();
}

#[test]
fn elementwise_match_reference_f64() {
    elementwise_match_reference::<f64>();
}

fn results_do_not_depend_on_alignment<T: Float>() {
    let mut rng = SplitMix64(17);
    for table in tables::<T>() {
        for n in [1usize, 17, 100, 1031, 4099] {
            let a: Vec<T> = random_values(&mut rng, n, 1.0);
            let b: Vec<T> = random_values(&mut rng, n, 1.0);
            let at = |off: usize| (Misaligned::new(n, off, |i| a[i]), Misaligned::new(n, off, |i| b[i]));
            let (a0, b0) = at(0);
            let (dot0, sum0, sq0) = ((table.dot)(a0.get(), b0.get()), (table.sum)(a0.get()), (table.sum_sq)(a0.get()));
            for off in 1..(64 / T::BYTES) {
                let (a1, b1) = at(off);
                assert_eq!(
                    (table.dot)(a1.get(), b1.get()).to_f64().to_bits(),
                    dot0.to_f64().to_bits(),
                    "dot {} n={n} off={off}",
                    table.isa
                );
                assert_eq!(
                    (table.sum)(a1.get()).to_f64().to_bits(),
                    sum0.to_f64().to_bits(),
                    "sum {} n={n} off={off}",
                    table.isa
                );
                assert_eq!(
                    (table.sum_sq)(a1.get()).to_f64().to_bits(),
                    sq0.to_f64().to_bits(),
                    "sum_sq {} n={n} off={off}",
                    table.isa
                );
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_alignment_f32() {
    results_do_not_depend_on_alignment::<f32>();
}

#[test]
fn results_do_not_depend_on_alignment_f64() {
    results_do_not_depend_on_alignment::<f64>();
}

fn nan_and_inf_behaviour<T: Float>() {
    let f = |x: f64| T::from_f64(x);
    let (inf, nan) = (f(f64::INFINITY), f(f64::NAN));
    for table in tables::<T>() {
        for n in [1usize, 5, 16, 33, 100] {
            for pos in [0, n / 2, n - 1] {
                let mut a = vec![f(1.0); n];
                a[pos] = nan;
                assert!(
                    (table.sum)(&a).is_nan() && (table.dot)(&a, &a).is_nan() && (table.sum_sq)(&a).is_nan(),
                    "{}",
                    table.isa
                );
                a[pos] = inf;
                assert_eq!((table.sum)(&a).to_f64(), f64::INFINITY);
                assert_eq!((table.sum_sq)(&a).to_f64(), f64::INFINITY);
                assert_eq!((table.argmax)(&a), Some((pos, inf)));
                if n > 1 {
                    a[(pos + 1) % n] = -inf;
                    assert!((table.sum)(&a).is_nan(), "inf - inf is NaN");
                    assert_eq!((table.argmin)(&a), Some(((pos + 1) % n, -inf)));
                }
            }
        }
        let x = [nan, inf, -inf, f(-0.0), f(0.0), f(1e-40), f(-1e-40)];
        let mut out = [f(7.0); 7];
        (table.relu)(&x, &mut out);
        assert!(out[0].is_nan());
        assert_eq!(
            out[1..].iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>(),
            [f64::INFINITY, 0.0, -0.0, 0.0, T::from_f64(1e-40).to_f64(), 0.0].map(f64::to_bits)
        );
        // ReLU's backward pass: the gradient passes where z > 0 only (not at NaN, -0, +0), NaN gradients included.
        let g = [f(2.0), f(3.0), f(4.0), f(5.0), f(6.0), nan, f(8.0)];
        (table.relu_grad)(&x, &g, &mut out);
        assert_eq!(&out[..5], &[f(0.0), f(3.0), f(0.0), f(0.0), f(0.0)], "relu_grad on {}", table.isa);
        assert!(out[5].is_nan() && out[6] == f(0.0));
        (table.exp)(&x, &mut out);
        assert!(out[0].is_nan());
        assert_eq!(&out[1..5], &[inf, f(0.0), f(1.0), f(1.0)]);
        (table.tanh)(&x, &mut out);
        assert!(out[0].is_nan());
        assert_eq!(&out[1..3], &[f(1.0), f(-1.0)]);
        assert_eq!(out[3].to_f64().to_bits(), (-0.0f64).to_bits(), "tanh(-0) is -0 on {}", table.isa);
        (table.sigmoid)(&x, &mut out);
        assert!(out[0].is_nan());
        assert_eq!(&out[1..5], &[f(1.0), f(0.0), f(0.5), f(0.5)]);
    }
}

#[test]
fn nan_and_inf_behaviour_f32() {
    nan_and_inf_behaviour::<f32>();
}

#[test]
fn nan_and_inf_behaviour_f64() {
    nan_and_inf_behaviour::<f64>();
}

#[test]
fn kernels_with_preallocated_output_do_not_allocate() {
    for table in tables::<f32>() {
        let a = vec![0.5f32; 1031];
        let b = vec![0.25f32; 1031];
        let mut out = vec![0.0f32; 1031];
        let run = |out: &mut [f32]| {
            let mut acc = (table.dot)(&a, &b) + (table.sum)(&a) + (table.sum_sq)(&a);
            acc += (table.argmin)(&a).unwrap().1 + (table.argmax)(&a).unwrap().1;
            (table.axpy)(2.0, &a, out);
            (table.scale)(2.0, &a, out);
            (table.add)(&a, &b, out);
            (table.mul_add)(&a, &b, &a, out);
            (table.exp)(&a, out);
            (table.tanh)(&a, out);
            (table.sigmoid)(&a, out);
            (table.relu_inplace)(out);
            let step = tachyon_simd::AdamStep::at(1, 1e-3, 0.9, 0.999, 1e-8, 0.0, 1.0);
            let (mut m, mut v) = ([0.0f32; 37], [0.0f32; 37]);
            (table.adam)(&step, &a[..37], &mut out[..37], &mut m, &mut v);
            acc
        };
        run(&mut out);
        let (_, allocations) = tachyon_testkit::count_thread_allocations(|| run(&mut out));
        assert_eq!(allocations, 0, "{}", table.isa);
    }
    // The free functions (active instruction set) too.
    let a = vec![1.0f64; 100];
    let mut out = vec![0.0f64; 100];
    tachyon_simd::vec::exp(&a, &mut out);
    let (_, allocations) = tachyon_testkit::count_thread_allocations(|| {
        tachyon_simd::vec::exp(&a, &mut out);
        tachyon_simd::vec::dot(&a, &out)
    });
    assert_eq!(allocations, 0);
}

/// One Adam step on every instruction set: bit-identical to the scalar twin (the same unfused operations, each
/// correctly rounded), and within a few roundings of the formula evaluated in f64.
fn adam_matches_reference<T: Float>() {
    let mut rng = SplitMix64(23);
    let f = T::from_f64;
    let step = tachyon_simd::AdamStep::<T>::at(7, 3e-3, 0.9, 0.999, 1e-8, 0.01, 0.75);
    assert_eq!((step.one_minus_beta1, step.decay), (f(1.0 - 0.9), f(3e-3 * 0.01)));
    let u = T::UNIT_ROUNDOFF;
    let twin = T::kernels_for(tachyon_simd::Isa::Scalar).unwrap();
    for n in lengths() {
        let g: Vec<T> = random_values(&mut rng, n, 2.0);
        let p: Vec<T> = random_values(&mut rng, n, 1.0);
        let m: Vec<T> = random_values(&mut rng, n, 0.1);
        let v: Vec<T> = random_values::<T>(&mut rng, n, 0.01).into_iter().map(|x| f(x.to_f64().abs())).collect();
        let run = |table: &KernelTable<T>, offset: usize| {
            let mut bufs = [&p, &m, &v].map(|x| Misaligned::new(n, offset, |i| x[i]));
            let g = Misaligned::new(n, offset + 1, |i| g[i]);
            let [bp, bm, bv] = &mut bufs;
            (table.adam)(&step, g.get(), bp.get_mut(), bm.get_mut(), bv.get_mut());
            bufs.map(|b| b.get().to_vec())
        };
        let [tp, tm, tv] = run(twin, 0);
        for i in 0..n {
            let c = |x: T| x.to_f64();
            let gs = c(step.grad_scale) * c(g[i]);
            let b1m = c(step.beta1) * c(m[i]);
            let g1 = c(step.one_minus_beta1) * gs;
            let b2v = c(step.beta2) * c(v[i]);
            let g2 = c(step.one_minus_beta2) * gs * gs;
            let (m_ref, v_ref) = (b1m + g1, b2v + g2);
            let den = (c(step.bias2) * v_ref).sqrt() + c(step.eps);
            let move_ref = c(step.step_size) * m_ref / den;
            let decay_ref = c(step.decay) * c(p[i]);
            let p_ref = c(p[i]) - (move_ref + decay_ref);
            let what = |name: &str| format!("adam {name} {} n={n} i={i}", T::NAME);
            assert!((c(tm[i]) - m_ref).abs() <= 4.0 * u * (b1m.abs() + g1.abs()), "{}", what("m"));
            assert!((c(tv[i]) - v_ref).abs() <= 5.0 * u * (b2v.abs() + g2.abs()), "{}", what("v"));
            let bound = 16.0 * u * (c(p[i]).abs() + move_ref.abs() + decay_ref.abs());
            assert!((c(tp[i]) - p_ref).abs() <= bound, "{}", what("p"));
        }
        for table in tables::<T>() {
            for offset in offsets::<T>() {
                let [pp, pm, pv] = run(table, offset);
                let bits = |x: &[T]| x.iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&pp), bits(&tp), "adam p {} {} n={n} offset {offset}", table.isa, T::NAME);
                assert_eq!(bits(&pm), bits(&tm), "adam m {} {} n={n}", table.isa, T::NAME);
                assert_eq!(bits(&pv), bits(&tv), "adam v {} {} n={n}", table.isa, T::NAME);
            }
        }
    }
}

#[test]
fn adam_matches_reference_f32() {
    adam_matches_reference::<f32>();
}

#[test]
fn adam_matches_reference_f64() {
    adam_matches_reference::<f64>();
}

#[test]
#[should_panic(expected = "dot: slice lengths differ (3 vs 2)")]
fn mismatched_lengths_panic_with_a_clear_message() {
    tachyon_simd::vec::dot(&[1.0f32, 2.0, 3.0], &[1.0, 2.0]);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn dot_and_sum_within_bound(values in proptest::collection::vec(-1e3f32..1e3, 0..600), offset in 0usize..16) {
            for table in tables::<f32>() {
                let a = Misaligned::new(values.len(), offset, |i| values[i]);
                let b = Misaligned::new(values.len(), 15 - offset, |i| values[values.len() - 1 - i]);
                let (a, b) = (a.get(), b.get());
                let n = a.len();
                let reference: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
                let abs: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 * *y as f64).abs()).sum();
                prop_assert!(((table.dot)(a, b) as f64 - reference).abs() <= gamma::<f32>(n.max(1)) * abs);
                let reference: f64 = a.iter().map(|x| *x as f64).sum();
                let abs: f64 = a.iter().map(|x| (*x as f64).abs()).sum();
                prop_assert!(((table.sum)(a) as f64 - reference).abs() <= gamma::<f32>(n.max(1)) * abs);
            }
        }

        #[test]
        fn argmax_is_first_maximum(values in proptest::collection::vec(-5i32..5, 0..300)) {
            let a: Vec<f64> = values.iter().map(|&v| v as f64).collect();
            for table in tables::<f64>() {
                prop_assert_eq!((table.argmax)(&a), reference_arg(&a, true));
                prop_assert_eq!((table.argmin)(&a), reference_arg(&a, false));
            }
        }
    }
}

/// Outputs beyond the L3 size take the streaming-store path (aligned head peeled, non-temporal stores, masked
/// tail): its results must equal those of the cached path, computed here in small chunks, bit for bit.
fn streaming_stores_match_cached_path<T: Float>() {
    let l3 = tachyon_simd::cache::CacheSizes::get().l3.max(8 << 20);
    let n = l3 / T::BYTES + 13;
    let mut rng = SplitMix64(23);
    let av: Vec<T> = random_values(&mut rng, n, 4.0);
    let bv: Vec<T> = random_values(&mut rng, n, 4.0);
    for table in tables::<T>() {
        for offset in [0usize, 3] {
            let a = Misaligned::new(n, offset, |i| av[i]);
            let b = Misaligned::new(n, 1, |i| bv[i]);
            let mut big = Misaligned::new(n, offset, |_| T::from_f64(f64::NAN));
            let mut chunked = vec![T::ZERO; n];
            type Op<T> = fn(&KernelTable<T>, &[T], &[T], &mut [T]);
            let ops: [(&str, Op<T>); 3] = [
                ("add", |t, a, b, o| (t.add)(a, b, o)),
                ("exp", |t, a, _, o| (t.exp)(a, o)),
                ("axpy", |t, a, b, o| {
                    o.copy_from_slice(b);
                    (t.axpy)(T::from_f64(0.5), a, o)
                }),
            ];
            for (name, op) in ops {
                op(table, a.get(), b.get(), big.get_mut());
                for ((ca, cb), co) in a.get().chunks(4099).zip(b.get().chunks(4099)).zip(chunked.chunks_mut(4099)) {
                    op(table, ca, cb, co);
                }
                let same = big.get().iter().zip(&chunked).all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits());
                assert!(same, "{name} {} {} offset {offset}: streaming path differs", table.isa, T::NAME);
            }
        }
    }
}

#[test]
fn streaming_stores_match_cached_path_f32() {
    streaming_stores_match_cached_path::<f32>();
}

#[test]
fn streaming_stores_match_cached_path_f64() {
    streaming_stores_match_cached_path::<f64>();
}
