//! End-to-end tests of the `tachyon` binary: exit codes, messages, JSON output.

use std::process::{Command, Output};

fn tachyon(args: &[&str], isa_env: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tachyon"));
    cmd.args(args).env_remove("TACHYON_ISA");
    if let Some(value) = isa_env {
        cmd.env("TACHYON_ISA", value);
    }
    cmd.output().expect("run tachyon")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn info_reports_the_active_instruction_set_and_why() {
    let out = tachyon(&["info"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("active isa:") && stdout.contains("best level"), "{stdout}");
    let out = tachyon(&["info"], Some("scalar"));
    assert!(text(&out.stdout).contains("active isa:   scalar (forced by TACHYON_ISA=scalar)"), "{}", text(&out.stdout));
}

#[test]
fn unknown_instruction_set_is_a_clear_error() {
    for (args, env) in [(&["info"][..], Some("bogus")), (&["--isa", "bogus", "info"][..], None)] {
        let out = tachyon(args, env);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("\"bogus\"") && stderr.contains("scalar, avx2, avx512 or auto"), "{stderr}");
    }
}

#[test]
fn forcing_an_instruction_set_the_cpu_lacks_is_an_error() {
    for isa in tachyon_simd::Isa::ALL {
        let out = tachyon(&["info"], Some(isa.name()));
        if isa.is_supported() {
            assert!(out.status.success());
        } else {
            assert_eq!(out.status.code(), Some(2));
            let stderr = text(&out.stderr);
            assert!(stderr.contains("cannot run") && stderr.contains("valid choices here are"), "{stderr}");
        }
    }
}

#[test]
fn bench_json_lines_carry_the_required_fields() {
    let out = tachyon(&["bench", "kernels", "--json", "--smoke"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut kernel_rows = 0;
    for line in stdout.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["workload", "case", "isa", "dtype", "threads", "median_ns"] {
            assert!(row.get(field).is_some(), "{field} missing in {line}");
        }
        assert!(row["median_ns"].as_f64().unwrap() > 0.0, "{line}");
        if row["workload"] == "kernels" {
            kernel_rows += 1;
            assert!(row["gb_per_s"].as_f64().is_some(), "{line}");
            assert!(row["speedup_vs_scalar"].as_f64().is_some(), "{line}");
        }
    }
    // 12 kernels x 2 types x 2 sizes x (instruction sets + iter).
    let impls = tachyon_simd::Isa::supported().len() + 1;
    assert_eq!(kernel_rows, 12 * 2 * 2 * impls, "{stdout}");
}

#[test]
fn bench_table_has_a_header_and_rejects_unknown_workloads() {
    let out = tachyon(&["bench", "probes", "--smoke"], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("workload"));
    let out = tachyon(&["bench", "nonsense"], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("possible values"), "{}", text(&out.stderr));
}

#[test]
fn demo_runs_and_passes_its_self_check() {
    let out = tachyon(&["demo"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("checks passed"), "{stdout}");
    assert!(stdout.contains("GOOG level 10: 147915 rows checked") && stdout.contains(" 0 mismatching"), "{stdout}");
    // int8 earns its accuracy limits on the real data (it was refused while out-of-range inputs were clamped).
    assert!(stdout.contains("predictor (int8, ") && !stdout.contains("predictor (int8): not used"), "{stdout}");
}

#[test]
fn verify_book_exits_non_zero_on_a_mismatch_and_zero_on_the_sample() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let stem = "AAPL_2012-06-21_34200000_57600000";
    let m = data.join(format!("{stem}_message_1.csv"));
    let o = data.join(format!("{stem}_orderbook_1.csv"));
    let out = tachyon(&["verify-book", m.to_str().unwrap(), o.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("rows mismatching:      0"));

    let dir = std::env::temp_dir().join(format!("tachyon-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (m, o) = (dir.join("m.csv"), dir.join("o.csv"));
    std::fs::write(&m, "1.0,1,1,100,5000000,1\n2.0,1,2,50,5010000,-1\n").unwrap();
    std::fs::write(&o, "5020000,10,5000000,100\n5010000,49,5000000,100\n").unwrap();
    let out = tachyon(&["verify-book", m.to_str().unwrap(), o.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("line 2"), "{}", text(&out.stdout));
    let out = tachyon(&["verify-book", "/nonexistent/m.csv", o.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(3), "a file that cannot be opened is an I/O failure");
    assert!(text(&out.stderr).contains("/nonexistent/m.csv"));
    // Without the orderbook file, the one LOBSTER names after the message file.
    let out = tachyon(&["verify-book", data.join(format!("{stem}_message_1.csv")).to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tachyon(&["verify-book", m.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("give the orderbook file too"), "{}", text(&out.stderr));
}

#[test]
fn convert_writes_a_checked_binary_file() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("GOOG_2012-06-21_34200000_57600000_message_10.csv.gz");
    let out = std::env::temp_dir().join(format!("tachyon-cli-convert-{}.tcye", std::process::id()));
    let result = tachyon(&["convert", input.to_str().unwrap(), "--out", out.to_str().unwrap()], None);
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert!(text(&result.stdout).starts_with("147916 events written"));
    assert_eq!(tachyon_market::binary::EventFile::open(&out).unwrap().records().len(), 147_916);
    std::fs::remove_file(out).unwrap();
}

#[test]
fn features_csv_holds_exactly_the_engine_features_and_labels() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let out = std::env::temp_dir().join(format!("tachyon-cli-features-{}.csv", std::process::id()));
    let result =
        tachyon(&["features", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--horizon-events", "10"], None);
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert!(text(&result.stdout).contains("118497 rows x 44 features"), "{}", text(&result.stdout));

    let options = tachyon_features::ExtractOptions {
        labels: Some(tachyon_features::LabelSpec { horizon: tachyon_features::Horizon::Events(10), flat_bps: 0.5 }),
        ..Default::default()
    };
    let input = tachyon_features::Input::detect(&input, Default::default(), None);
    let m = tachyon_features::extract(input.open().unwrap().as_mut(), &options).unwrap();
    let labels = m.labels.as_ref().unwrap();
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), tachyon_features::output::column_names(true).join(","));
    let mut rows = 0;
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 3 + 44 + 2);
        assert_eq!(fields[0], "AAPL_2012-06-21_34200000_57600000_message_1.csv");
        assert_eq!(fields[1].parse::<i64>().unwrap(), m.time_ns[i]);
        assert_eq!(fields[2].parse::<u64>().unwrap(), m.event_id[i]);
        for (j, f) in fields[3..47].iter().enumerate() {
            // Shortest round-trip text: parsing gives back the very same f32.
            assert_eq!(f.parse::<f32>().unwrap().to_bits(), m.row(i)[j].to_bits(), "row {i} column {j}");
        }
        let ret: f32 = fields[47].parse().unwrap();
        assert!(ret.to_bits() == labels.ret_bps[i].to_bits() || (ret.is_nan() && labels.ret_bps[i].is_nan()));
        assert_eq!(fields[48].parse::<i8>().unwrap(), labels.class[i]);
        rows += 1;
    }
    assert_eq!(rows, m.rows());
    std::fs::remove_file(out).unwrap();
}

#[test]
fn features_errors_name_the_problem() {
    let out = std::env::temp_dir().join("tachyon-cli-features.unknown");
    let result = tachyon(&["features", "no-such_message_1.csv", "--out", out.to_str().unwrap()], None);
    assert_eq!(result.status.code(), Some(2));
    assert!(text(&result.stderr).contains("--format"), "{}", text(&result.stderr));
    let result = tachyon(&["features", "/nonexistent/X_message_1.csv", "--out", "/tmp/x.csv"], None);
    assert_eq!(result.status.code(), Some(3));
    let stderr = text(&result.stderr);
    assert!(stderr.contains("/nonexistent/X_message_1.csv"), "{stderr}");
    // The operating system's message once, not once per layer that quotes it.
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
    // A binary file given as a CSV: one short line saying so, not its bytes.
    let binary = std::env::temp_dir().join(format!("tachyon-cli-binary-{}.csv", std::process::id()));
    let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    bytes.extend((0..4000u32).map(|i| (i * 7919 % 251) as u8));
    std::fs::write(&binary, &bytes).unwrap();
    for command in ["features", "train"] {
        let target = if command == "train" { "/tmp/x.tcy" } else { "/tmp/x.csv" };
        let result = tachyon(&[command, binary.to_str().unwrap(), "--out", target], None);
        assert_eq!(result.status.code(), Some(2), "{command}");
        let stderr = text(&result.stderr);
        assert!(stderr.contains(":1: field `row`: a NUL byte at byte 7: a binary file"), "{stderr}");
        assert!(stderr.len() < 400, "{stderr}");
    }
    std::fs::remove_file(&binary).unwrap();
}

/// Trained on one stock and scored on another: price levels are left out by default, so they cannot move the
/// predictions, and an input used far outside its training range is named in a warning.
#[test]
fn price_levels_are_left_out_by_default_and_drift_is_named() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let aapl = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let goog = data.join("GOOG_2012-06-21_34200000_57600000_message_10.csv.gz");
    let dir = std::env::temp_dir().join(format!("tachyon-cli-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (default, all) = (dir.join("default.tcy"), dir.join("all.tcy"));
    for (model, extra) in [(&default, None), (&all, Some("none"))] {
        let mut args = vec!["train", aapl.to_str().unwrap(), "--out", model.to_str().unwrap()];
        args.extend(extra.map(|e| ["--exclude-features", e]).into_iter().flatten());
        assert!(tachyon(&args, None).status.success());
    }
    let file = tachyon_train::ModelFile::load(&default, &tachyon_train::FEATURES).unwrap();
    let net = tachyon_train::DenseNetwork::from_model_file(&file).unwrap();
    for j in 0..2 {
        assert!(net.layers[0].weights.iter().skip(j).step_by(net.inputs).all(|&w| w == 0.0), "input {j}");
    }
    let eval = |model: &std::path::Path| {
        text(&tachyon(&["eval", "--model", model.to_str().unwrap(), goog.to_str().unwrap()], None).stderr)
    };
    let (default_warnings, all_warnings) = (eval(&default), eval(&all));
    assert!(!default_warnings.contains("input `mid`"), "{default_warnings}");
    assert!(all_warnings.contains("warning: input `mid` is far outside its training range"), "{all_warnings}");
    // The live pipeline counts the same on every tick.
    let signals = dir.join("s.csv");
    let args = ["run", goog.to_str().unwrap(), "--model", all.to_str().unwrap(), "--out", signals.to_str().unwrap()];
    let run = text(&tachyon(&[&args[..], &["--no-pin"]].concat(), None).stderr);
    assert!(run.contains("warning: input `mid` was far outside the live model's training range"), "{run}");
    let bad = tachyon(&["train", aapl.to_str().unwrap(), "--out", "/tmp/x.tcy", "--exclude-features", "middle"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("no feature `middle`"), "{}", text(&bad.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_features_smoke_runs_every_case() {
    let out = tachyon(&["bench", "features", "--json", "--smoke"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for case in ["update_l1", "update_l10", "rolling_mean", "rolling_std", "ewm_mean"] {
        assert!(stdout.contains(&format!("\"case\":\"{case}\"")), "{case} missing: {stdout}");
    }
}

#[test]
fn train_writes_a_model_that_eval_reads_and_a_damaged_one_is_refused() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let dir = std::env::temp_dir();
    let model = dir.join(format!("tachyon-cli-train-{}.tcy", std::process::id()));
    let log = dir.join(format!("tachyon-cli-train-{}.json", std::process::id()));
    let (i, m, l) = (input.to_str().unwrap(), model.to_str().unwrap(), log.to_str().unwrap());
    let out = tachyon(&["train", i, "--out", m, "--log", l], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("test "), "{}", text(&out.stdout));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    for part in ["train", "validation", "test"] {
        assert!(json[part]["ic"].as_f64().unwrap().abs() <= 1.0, "{json}");
        assert!(json[part]["rows"].as_u64().unwrap() > 10_000, "{json}");
    }
    let out = tachyon(&["eval", "--model", m, i], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("IC"), "{}", text(&out.stdout));

    // An embargo shorter than the horizon would leak: refused.
    let out = tachyon(&["train", i, "--out", m, "--embargo", "5"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("embargo"), "{}", text(&out.stderr));

    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&model, &bytes).unwrap();
    let out = tachyon(&["eval", "--model", m, i], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("checksum mismatch") && text(&out.stderr).contains(m), "{}", text(&out.stderr));
}

#[test]
fn train_mlp_logs_every_epoch_and_eval_reads_it() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let dir = std::env::temp_dir();
    let model = dir.join(format!("tachyon-cli-mlp-{}.tcy", std::process::id()));
    let log = dir.join(format!("tachyon-cli-mlp-{}.json", std::process::id()));
    let (i, m, l) = (input.to_str().unwrap(), model.to_str().unwrap(), log.to_str().unwrap());
    let args =
        ["train", i, "--model", "mlp", "--hidden", "16,8", "--epochs", "2", "--patience", "5", "--out", m, "--log", l];
    let out = tachyon(&args, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    assert_eq!(json["model"], "mlp");
    assert_eq!(json["epochs"].as_array().unwrap().len(), 2, "{json}");
    let out = tachyon(&["eval", "--model", m, i], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("mlp model"), "{stdout}");
    // Evaluated on its own training file, the test part is unseen and the rest was fitted on; the two add up to
    // every labelled row (118,497 updates less the 100 whose horizon passes the end, less two embargoes of 100).
    let rows_of = |part: &str| -> u64 {
        let line = stdout.lines().find(|l| l.trim_start().starts_with(part)).unwrap_or_else(|| panic!("{stdout}"));
        line.trim_start()[part.len()..].split_whitespace().next().unwrap().parse().unwrap()
    };
    assert_eq!(rows_of("unseen") + rows_of("fitted on"), 118_497 - 100 - 200, "{stdout}");
    assert!(rows_of("unseen") * 4 < rows_of("fitted on"), "{stdout}");
    // A model file written before the format recorded its sources is scored on all rows alike.
    let v1 = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tachyon-model/tests/data/mlp-v1.tcy");
    let out = tachyon(&["eval", "--model", v1.to_str().unwrap(), i], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("does not record what it was fitted on"), "{}", text(&out.stdout));
    // It records no int8 scales either: served in f32 only.
    let args = ["run", i, "--model", v1.to_str().unwrap(), "--precision", "int8", "--no-pin"];
    let out = tachyon(&args, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no int8 scales recorded"), "{}", text(&out.stderr));
    assert!(json["int8"].get("bits").is_some() || json["int8"].get("refused").is_some(), "{json}");
    // The trained file compiles into both predictors.
    let out = tachyon(&["bench", "infer", "--model", m, "--json", "--smoke"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = infer_rows(&text(&out.stdout));
    assert!(rows.iter().any(|r| r["dtype"] == "f32") && rows.iter().any(|r| r["dtype"] == "int8"), "{rows:?}");
    let out = tachyon(&["train", i, "--model", "mlp", "--hidden", "16,0", "--out", m], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--hidden"), "{}", text(&out.stderr));
}

/// The `infer` rows of `tachyon bench --json` output.
fn infer_rows(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["workload"] == "infer")
        .collect()
}

#[test]
fn bench_infer_reports_percentiles_for_f32_and_int8() {
    let out = tachyon(&["bench", "infer", "--json", "--smoke"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = infer_rows(&text(&out.stdout));
    for dtype in ["f32", "int8"] {
        for case in ["single_warm", "single_cold"] {
            let row = rows
                .iter()
                .find(|r| r["dtype"] == dtype && r["case"] == case)
                .unwrap_or_else(|| panic!("{dtype} {case} missing: {rows:?}"));
            let (p50, p99, p999) =
                (row["p50_ns"].as_f64().unwrap(), row["p99_ns"].as_f64().unwrap(), row["p999_ns"].as_f64().unwrap());
            assert!(p50 > 0.0 && p50 <= p99 && p99 <= p999, "{row}");
        }
        assert!(rows.iter().any(|r| r["dtype"] == dtype && r["case"] == "batch1024_row"), "{rows:?}");
    }
    // int8 rows name the kernel that ran and the activation width the accuracy check chose; f32 rows carry no width.
    for row in &rows {
        if row["dtype"] == "int8" {
            assert!(["scalar", "avx2", "avx512vnni"].contains(&row["isa"].as_str().unwrap()), "{row}");
            assert!([8, 12].contains(&row["activation_bits"].as_u64().unwrap()), "{row}");
        } else {
            assert!(row.get("activation_bits").is_none(), "{row}");
        }
    }
    assert!(text(&out.stderr).contains("correlation"), "{}", text(&out.stderr));
    let out = tachyon(&["bench", "infer", "--model", "/nonexistent/model.tcy", "--smoke"], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/model.tcy"), "{}", text(&out.stderr));
    let out = tachyon(&["bench", "grad", "--json", "--smoke"], None);
    assert!(out.status.success() && text(&out.stdout).contains("\"case\":\"grad_single\""), "{}", text(&out.stderr));
}

#[test]
fn export_writes_weights_whose_forward_pass_gives_the_exported_outputs() {
    let path = std::env::temp_dir().join(format!("tachyon-cli-export-{}.json", std::process::id()));
    let out = tachyon(&["export", "--out", path.to_str().unwrap(), "--probes", "20"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let net: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let floats = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<_>>();
    let (mean, std) = (floats(&net["mean"]), floats(&net["std"]));
    let layers = net["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    let rows = net["probe"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20);
    // An independent f64 forward pass over the exported numbers reproduces the exported f32 outputs.
    for (row, want) in rows.iter().zip(net["probe"]["f32"].as_array().unwrap()) {
        let mut x: Vec<f64> = floats(row).iter().zip(&mean).zip(&std).map(|((v, m), s)| (v - m) / s).collect();
        for (l, layer) in layers.iter().enumerate() {
            let bias = floats(&layer["bias"]);
            x = layer["weights"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&bias)
                .map(|(w, b)| {
                    let y = b + floats(w).iter().zip(&x).map(|(w, v)| w * v).sum::<f64>();
                    if l + 1 < layers.len() {
                        y.max(0.0)
                    } else {
                        y
                    }
                })
                .collect();
        }
        let want = floats(want)[0];
        assert!((x[0] - want).abs() <= 1e-5 * x[0].abs().max(1.0), "{} vs {want}", x[0]);
    }
    assert_eq!(net["probe"]["int8"].as_array().unwrap().len(), 20);
}

#[test]
fn classifiers_and_sgd_ridge_train_evaluate_and_compile() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let dir = std::env::temp_dir();
    let model = dir.join(format!("tachyon-cli-classes-{}.tcy", std::process::id()));
    let log = dir.join(format!("tachyon-cli-classes-{}.json", std::process::id()));
    let (i, m, l) = (input.to_str().unwrap(), model.to_str().unwrap(), log.to_str().unwrap());
    let read_log = || -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap() };
    for (kind, extra) in [
        ("logistic", &["--model", "logistic"][..]),
        ("logistic", &["--model", "logistic", "--solver", "sgd", "--epochs", "3"][..]),
        (
            "mlp",
            &["--model", "mlp", "--head", "classes", "--hidden", "8", "--epochs", "2", "--lr-schedule", "step"][..],
        ),
    ] {
        let mut args = vec!["train", i, "--out", m, "--log", l];
        args.extend_from_slice(extra);
        let out = tachyon(&args, None);
        assert!(out.status.success(), "{kind}: {}", text(&out.stderr));
        let json = read_log();
        assert_eq!(json["model"], kind);
        let test = &json["test"];
        for metric in ["accuracy", "macro_f1", "hit_rate"] {
            let v = test[metric].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{kind} {metric}: {json}");
        }
        // Three classes: a model no better than uniform has log-loss ln 3 = 1.0986; training must not be worse.
        assert!(json["train"]["log_loss"].as_f64().unwrap() < 1.0986, "{kind}: {json}");
        if let Some(epoch) = json["epochs"].get(0) {
            assert!(epoch["lr"].as_f64().unwrap() > 0.0, "{json}");
        }
        let out = tachyon(&["eval", "--model", m, i], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("macro-F1"), "{}", text(&out.stdout));
        // The classifier compiles into the predictor (three logits).
        let out = tachyon(&["bench", "infer", "--model", m, "--json", "--smoke"], None);
        assert!(out.status.success(), "{kind}: {}", text(&out.stderr));
    }

    let out = tachyon(&["train", i, "--solver", "sgd", "--out", m, "--log", l], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = read_log();
    assert_eq!(
        (json["model"].as_str(), json["epochs"].as_array().map(Vec::len).unwrap_or(0) > 0),
        (Some("ridge"), true)
    );
    let out = tachyon(&["eval", "--model", m, i], None);
    assert!(out.status.success() && text(&out.stdout).contains("R^2"), "{}", text(&out.stderr));

    for (bad, named) in [
        (
            &["--model", "logistic", "--solver", "sgd", "--lr-schedule", "step", "--lr-step-factor", "1.5"][..],
            "--lr-step-factor",
        ),
        (&["--model", "mlp", "--optimizer", "sgd", "--momentum", "1"][..], "--momentum"),
        (&["--model", "ridge", "--solver", "sgd", "--lr", "0"][..], "--lr"),
    ] {
        let mut args = vec!["train", i, "--out", m];
        args.extend_from_slice(bad);
        let out = tachyon(&args, None);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(text(&out.stderr).contains(named), "{bad:?}: {}", text(&out.stderr));
    }
    let _ = (std::fs::remove_file(&model), std::fs::remove_file(&log));
}

#[test]
fn run_writes_one_signal_per_tick_and_a_report_and_models_promote_and_roll_back() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let dir = std::env::temp_dir().join(format!("tachyon-cli-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (model, signals, report) = (dir.join("ridge.tcy"), dir.join("signals.csv"), dir.join("report.json"));
    let i = input.to_str().unwrap();
    let out = tachyon(&["train", i, "--out", model.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tachyon(
        &[
            "run",
            i,
            "--model",
            model.to_str().unwrap(),
            "--out",
            signals.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--no-pin",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("receive->signal"), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let signal_count = json[0]["signals"].as_u64().unwrap();
    assert!(signal_count > 100_000, "{json}");
    assert_eq!(json[0]["drops"], 0);
    for stage in ["parse", "queue", "book", "features", "predict", "sink"] {
        assert!(json[0]["stages"][stage]["count"].as_u64().unwrap() > 0, "{stage}: {json}");
    }
    let csv = std::fs::read_to_string(&signals).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "seq,event_id,exchange_time_ns,receive_ns,emit_ns,model_id,prediction_0");
    assert_eq!(lines.count() as u64, signal_count);

    // The int8 predictor with the scales `train` recorded: one signal per tick again, close to the f32 ones.
    let signals8 = dir.join("signals8.csv");
    let m = model.to_str().unwrap();
    let args = ["run", i, "--model", m, "--precision", "int8", "--out", signals8.to_str().unwrap(), "--no-pin"];
    let out = tachyon(&args, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("int8 with 8-bit") || text(&out.stderr).contains("int8 with 12-bit"));
    let predictions = |path: &std::path::Path| -> Vec<f64> {
        let csv = std::fs::read_to_string(path).unwrap();
        csv.lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect()
    };
    let (f32s, int8s) = (predictions(&signals), predictions(&signals8));
    assert_eq!(f32s.len(), int8s.len());
    let n = f32s.len() as f64;
    let mean = f32s.iter().sum::<f64>() / n;
    let std = (f32s.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    let rms = (f32s.iter().zip(&int8s).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / n).sqrt();
    assert!(rms > 0.0 && rms < 0.05 * std, "int8 RMS error {rms} against an f32 std of {std}");

    // The registry: add, promote, serve, roll back; a damaged model is refused with its path.
    let registry = dir.join("registry");
    let r = registry.to_str().unwrap();
    for _ in 0..2 {
        let out = tachyon(&["models", "--registry", r, "add", model.to_str().unwrap()], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = tachyon(&["run", i, "--registry", r, "--no-pin"], None);
    assert!(!out.status.success() && text(&out.stderr).contains("no model promoted yet"), "{}", text(&out.stderr));
    for id in ["1", "2"] {
        assert!(tachyon(&["models", "--registry", r, "promote", id], None).status.success());
    }
    let out = tachyon(&["models", "--registry", r, "rollback"], None);
    assert!(text(&out.stdout).contains("model 1 is live"), "{}", text(&out.stdout));
    let out = tachyon(&["models", "--registry", r, "list"], None);
    assert!(text(&out.stdout).contains("*      1"), "{}", text(&out.stdout));
    let out = tachyon(&["run", i, "--registry", r, "--no-pin"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&model, &bytes).unwrap();
    let out = tachyon(&["models", "--registry", r, "add", model.to_str().unwrap()], None);
    assert!(!out.status.success() && text(&out.stderr).contains("checksum"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bench_live_rows_carry_throughput_latency_and_drops() {
    let out = tachyon(&["bench", "live", "--json", "--smoke"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["workload"] == "live")
        .collect();
    assert_eq!(rows.len(), 6, "{stdout}");
    for dtype in ["f32", "int8"] {
        assert_eq!(rows.iter().filter(|r| r["dtype"] == dtype).count(), 3, "{stdout}");
    }
    for row in &rows {
        for field in ["case", "events_per_s", "p50_ns", "p99_ns", "p999_ns", "drops"] {
            assert!(row.get(field).is_some(), "{field} missing in {row}");
        }
        assert!(row["events_per_s"].as_f64().unwrap() > 0.0 && row["drops"] == 0, "{row}");
    }
}

/// A model file with a valid checksum but a zero standard deviation or a NaN weight is refused on load by every
/// command that reads models (eval, bench infer, run, models add), with exit code 2 and the problem named.
#[test]
fn models_with_nan_weights_or_zero_std_are_refused_by_every_command() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let dir = std::env::temp_dir().join(format!("tachyon-cli-bad-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.tcy");
    let i = input.to_str().unwrap();
    assert!(tachyon(&["train", i, "--out", good.to_str().unwrap()], None).status.success());
    let file = tachyon_train::ModelFile::load(&good, &tachyon_train::FEATURES).unwrap();
    for (array, value, problem) in [("std", 0.0, "standardisation"), ("mean", f64::NAN, "standardisation")] {
        let mut broken = file.clone();
        broken.arrays.iter_mut().find(|(n, _)| n == array).unwrap().1[3] = value;
        let path = dir.join(format!("{array}.tcy"));
        broken.save(&path).unwrap();
        let p = path.to_str().unwrap();
        let registry = dir.join("registry");
        for args in [
            vec!["eval", "--model", p, i],
            vec!["bench", "infer", "--smoke", "--model", p],
            vec!["run", i, "--model", p, "--no-pin"],
            vec!["models", "--registry", registry.to_str().unwrap(), "add", p],
        ] {
            let out = tachyon(&args, None);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
            assert!(text(&out.stderr).contains(problem), "{args:?}: {}", text(&out.stderr));
        }
    }
    // A NaN weight too.
    let mut broken = file.clone();
    let (_, weights) = broken.arrays.iter_mut().find(|(n, _)| n.starts_with("w")).unwrap();
    weights[0] = f64::NAN;
    let path = dir.join("nan.tcy");
    broken.save(&path).unwrap();
    let out = tachyon(&["eval", "--model", path.to_str().unwrap(), i], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("non-finite"), "{}", text(&out.stderr));
    // A file that is no model is refused before anything is measured.
    let out = tachyon(&["bench", "infer", "--smoke", "--model", i], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(i) && text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    // And --model with a workload that does not measure it is a usage error, not silently ignored.
    let out = tachyon(&["bench", "gemm", "--smoke", "--model", good.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Starts `tachyon run --listen 127.0.0.1:0 ...` and returns the child and the address it listens on.
// The child is returned for the caller to wait on.
#[allow(clippy::zombie_processes)]
fn listening_run(extra: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tachyon"))
        .args(["run", "--listen", "127.0.0.1:0", "--no-pin"])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            let status = child.wait();
            panic!("run exited before listening: {status:?}");
        }
        if let Some(addr) = line.trim().strip_prefix("listening on ") {
            let addr = addr.to_string();
            // Keep draining stderr so that the child never blocks on a full pipe.
            std::thread::spawn(move || std::io::read_to_string(stderr));
            return (child, addr);
        }
    }
}

/// The signals' columns that do not depend on when they were made: seq, event_id, exchange time, model, outputs.
fn timeless(csv: &str) -> Vec<String> {
    csv.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            [&f[..3], &f[5..]].concat().join(",")
        })
        .collect()
}

#[test]
fn a_feed_process_drives_a_listening_run_and_its_signals_equal_the_file_replay() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let dir = std::env::temp_dir().join(format!("tachyon-cli-feed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.tcy");
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    assert!(tachyon(&["train", i, "--out", m], None).status.success());
    let (from_file, from_socket) = (dir.join("file.csv"), dir.join("socket.csv"));
    let out = tachyon(&["run", i, "--model", m, "--out", from_file.to_str().unwrap(), "--no-pin"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let (run, addr) = listening_run(&["--model", m, "--out", from_socket.to_str().unwrap()]);
    let out = tachyon(&["feed", i, "--to", &addr], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(run.wait_with_output().unwrap().status.success());
    let (a, b) = (std::fs::read_to_string(&from_file).unwrap(), std::fs::read_to_string(&from_socket).unwrap());
    assert!(a.lines().count() > 100_000);
    assert_eq!(timeless(&a), timeless(&b));

    // A feed that dies mid-stream: the run stops with an error naming where, and writes no signal file.
    let cut = dir.join("cut.csv");
    let (run, addr) = listening_run(&["--model", m, "--out", cut.to_str().unwrap()]);
    {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        let mut hello = b"TCYFEED\0".to_vec();
        hello.extend_from_slice(&1u16.to_le_bytes());
        hello.extend_from_slice(&0u16.to_le_bytes());
        hello.extend_from_slice(&10_000f64.to_le_bytes());
        hello.extend_from_slice(&0u16.to_le_bytes());
        stream.write_all(&hello).unwrap();
        stream.write_all(&[9, 0, 0]).unwrap();
    }
    let status = run.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(2));
    assert!(!cut.exists(), "no partial signal file");
    std::fs::remove_dir_all(dir).unwrap();
}

/// SIGINT stops a run at the recorded pace: what was read is drained, the signal file is written whole, the
/// report printed, and the exit code is 0 (nothing was dropped).
#[test]
fn sigint_drains_flushes_and_reports() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let dir = std::env::temp_dir().join(format!("tachyon-cli-sigint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (model, signals) = (dir.join("m.tcy"), dir.join("s.csv"));
    let (i, m) = (input.to_str().unwrap(), model.to_str().unwrap());
    assert!(tachyon(&["train", i, "--out", m], None).status.success());
    let out = tachyon(&["run", i, "--model", m, "--speed", "fast"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected `max` or a positive factor"), "{}", text(&out.stderr));
    let child = Command::new(env!("CARGO_BIN_EXE_tachyon"))
        .args(["run", i, "--model", m, "--speed", "10x", "--no-pin", "--out", signals.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped by a signal") && stderr.contains("0 dropped"), "{stderr}");
    let csv = std::fs::read_to_string(&signals).unwrap();
    let rows = csv.lines().count() - 1;
    // At ten times the recorded pace, well under a second covers some ticks and far from all of them.
    assert!(rows > 0 && rows < 100_000, "{rows} rows");
    assert!(csv.ends_with('\n'));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn features_resume_after_a_kill_writes_the_same_files_as_an_uninterrupted_run() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let dir = std::env::temp_dir().join(format!("tachyon-cli-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let inputs_dir = dir.join("in");
    std::fs::create_dir_all(&inputs_dir).unwrap();
    let mut inputs = Vec::new();
    for k in 0..8 {
        for kind in ["message", "orderbook"] {
            let from = data.join(format!("AAPL_2012-06-21_34200000_57600000_{kind}_1.csv"));
            let to = inputs_dir.join(format!("S{k}_2012-06-21_34200000_57600000_{kind}_1.csv"));
            std::fs::copy(from, &to).unwrap();
            if kind == "message" {
                inputs.push(to.to_str().unwrap().to_string());
            }
        }
    }
    let run = |out: &std::path::Path, extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tachyon"));
        cmd.arg("features").args(&inputs).arg("--out").arg(format!("{}/", out.display()));
        cmd.args(["--threads", "1"]).args(extra);
        cmd
    };
    let whole = dir.join("whole");
    let result = run(&whole, &[]).output().unwrap();
    assert!(result.status.success(), "{}", text(&result.stderr));

    let resumed = dir.join("resumed");
    let mut child = run(&resumed, &[]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let outputs = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .map_or(0, |e| e.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".parquet")).count())
    };
    while outputs(&resumed) == 0 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let done = outputs(&resumed);
    assert!(done < inputs.len(), "the run was killed before it finished ({done} outputs)");

    let result = run(&resumed, &["--resume"]).output().unwrap();
    assert!(result.status.success(), "{}", text(&result.stderr));
    assert!(
        text(&result.stdout).contains(&format!("{done} inputs already had their output")),
        "{}",
        text(&result.stdout)
    );
    let mut names: Vec<_> = std::fs::read_dir(&whole).unwrap().flatten().map(|e| e.file_name()).collect();
    names.sort();
    let mut resumed_names: Vec<_> = std::fs::read_dir(&resumed).unwrap().flatten().map(|e| e.file_name()).collect();
    resumed_names.sort();
    assert_eq!(resumed_names, names, "the same files, and no temporary file left");
    for name in names {
        assert_eq!(std::fs::read(whole.join(&name)).unwrap(), std::fs::read(resumed.join(&name)).unwrap(), "{name:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_locations_are_checked_before_any_work() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let input = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let input = input.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("tachyon-cli-outputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("m.tcy");
    let out = dir.join("f.parquet");
    for (args, output) in [
        (vec!["train", input, "--out", model.to_str().unwrap(), "--log", "/nonexistent-dir/log.json"], &model),
        (vec!["features", input, "--out", out.to_str().unwrap(), "--report", "/nonexistent-dir/r.json"], &out),
    ] {
        let result = tachyon(&args, None);
        assert_eq!(result.status.code(), Some(3), "{args:?}");
        let stderr = text(&result.stderr);
        assert!(stderr.contains("cannot write /nonexistent-dir/"), "{stderr}");
        assert!(text(&result.stdout).is_empty(), "nothing ran: {}", text(&result.stdout));
        assert!(!output.exists(), "{} was written", output.display());
    }
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "no probe file left behind: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validate_passes_here_and_fails_on_a_damaged_orderbook() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let out = tachyon(&["validate", "--json"], None);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    let checks = doc["checks"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["passed"] != true).collect();
    assert!(failed.is_empty(), "failed checks: {failed:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(doc["passed"], true);
    // Every level this CPU has, and each check within its limit with a measured value.
    for isa in tachyon_simd::Isa::supported() {
        assert_eq!(checks.iter().filter(|c| c["isa"] == isa.name()).count(), 16, "{isa}");
    }
    for c in checks {
        let (measured, limit) = (c["measured"].as_f64().unwrap(), c["limit"].as_f64().unwrap());
        assert!(measured >= 0.0 && measured <= limit, "{c}");
    }
    assert_eq!(checks.iter().filter(|c| c["isa"].is_null()).count(), 4, "books and features of both days");

    // One level when one is asked for; a changed size in an orderbook row fails the book check, exit 1.
    let dir = std::env::temp_dir().join(format!("tachyon-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let orderbook = dir.join("AAPL_2012-06-21_34200000_57600000_orderbook_1.csv");
    let mut rows: Vec<String> = std::fs::read_to_string(&orderbook).unwrap().lines().map(String::from).collect();
    let mut fields: Vec<String> = rows[5000].split(',').map(String::from).collect();
    fields[1] = (fields[1].parse::<i64>().unwrap() + 7).to_string();
    rows[5000] = fields.join(",");
    std::fs::write(&orderbook, rows.join("\n") + "\n").unwrap();
    let out = tachyon(&["--isa", "scalar", "validate", "--data", dir.to_str().unwrap()], None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains("avx2"), "only the level asked for: {stdout}");
    let book = stdout.lines().find(|l| l.starts_with("AAPL level-1 book")).unwrap();
    assert!(book.contains("FAIL"), "{stdout}");
    assert!(text(&out.stderr).contains("check(s) failed"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn soak_runs_a_minute_with_swaps_retrains_and_nothing_growing() {
    let dir = std::env::temp_dir().join(format!("tachyon-cli-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("soak.json");
    let out = tachyon(&["soak", "--duration", "60s", "--no-pin", "--report", report.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let totals = &json["totals"];
    assert!(totals["rounds"].as_u64().unwrap() >= 5, "{totals}");
    assert!(totals["swaps"].as_u64().unwrap() >= 2, "{totals}");
    assert!(totals["retrains"].as_u64().unwrap() >= 1, "{totals}");
    assert_eq!((totals["output_mismatches"].as_u64(), totals["retrain_mismatches"].as_u64()), (Some(0), Some(0)));
    assert_eq!(json["open_files_end"], json["open_files_after_warm_up"]);
    assert!(json["samples"].as_array().unwrap().len() > 5);
    assert!(text(&out.stdout).contains("resident memory (medians):"), "{}", text(&out.stdout));

    // Ctrl-C ends a long soak at once, with its report.
    let child = Command::new(env!("CARGO_BIN_EXE_tachyon"))
        .args(["soak", "--duration", "1h", "--no-pin"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(8));
    let sent = std::time::Instant::now();
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert!(sent.elapsed() < std::time::Duration::from_secs(5), "{:?} to stop", sent.elapsed());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("(stopped by a signal)"), "{}", text(&out.stdout));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_coinbase_recording_is_read_one_product_at_a_time() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let recording = data.join("coinbase/coinbase_ws_level2_2021-04-17_set_a.txt");
    let model = data.join("lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let dir = std::env::temp_dir().join(format!("tachyon-cli-coinbase-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = dir.join("ridge.tcy");
    assert!(tachyon(&["train", model.to_str().unwrap(), "--out", m.to_str().unwrap()], None).status.success());
    let r = recording.to_str().unwrap();
    let out = tachyon(&["run", r, "--model", m.to_str().unwrap(), "--no-pin"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("several products") && text(&out.stderr).contains("SKL-USD"));
    let signals = dir.join("signals.csv");
    let args = ["run", r, "--product", "SKL-USD", "--model", m.to_str().unwrap(), "--out", signals.to_str().unwrap()];
    let out = tachyon(&[&args[..], &["--no-pin"]].concat(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // One signal per tick once the book has two sides: the product's snapshot, then its 2,592 level updates.
    assert_eq!(std::fs::read_to_string(&signals).unwrap().lines().count(), 1 + 2593);
    let parquet = dir.join("signals.parquet");
    let args = ["run", r, "--product", "SKL-USD", "--model", m.to_str().unwrap(), "--out", parquet.to_str().unwrap()];
    let out = tachyon(&[&args[..], &["--no-pin"]].concat(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(&std::fs::read(&parquet).unwrap()[..4], b"PAR1");
    let features = dir.join("f.csv");
    let out = tachyon(&["features", r, "--product", "SKL-BTC", "--out", features.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::remove_dir_all(dir).unwrap();
}
