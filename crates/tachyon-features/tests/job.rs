//! Extraction jobs over several inputs: the same bytes for any thread count and chunk layout, one file per input or
//! one combined file, failures reported without losing the other inputs, resuming.

use std::path::{Path, PathBuf};

use tachyon_features::job::{self, Destination, InputOutcome, JobOptions, NoProgress};
use tachyon_features::output::{Compression, OutputFormat, OutputOptions};
use tachyon_features::{extract, ExtractOptions, Input, LabelSpec};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster").join(name)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tachyon-job-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The shipped days, and the AAPL day again under another symbol.
fn inputs(dir: &Path) -> Vec<Input> {
    for (from, to) in [("AAPL", "AAPX")] {
        for kind in ["message", "orderbook"] {
            let name = format!("{from}_2012-06-21_34200000_57600000_{kind}_1.csv");
            std::fs::copy(data(&name), dir.join(name.replace(from, to))).unwrap();
        }
    }
    [
        data("GOOG_2012-06-21_34200000_57600000_message_10.csv.gz"),
        data("AAPL_2012-06-21_34200000_57600000_message_1.csv"),
        dir.join("AAPX_2012-06-21_34200000_57600000_message_1.csv"),
    ]
    .iter()
    .map(|p| Input::detect(p, Default::default(), None))
    .collect()
}

fn options(format: OutputFormat, threads: usize, chunk_rows: usize) -> JobOptions {
    let labels = Some(LabelSpec::default());
    JobOptions {
        extract: ExtractOptions { labels, ..Default::default() },
        output: OutputOptions { format, labels: true, compression: Compression::Snappy },
        chunk_rows,
        threads,
        resume: false,
    }
}

#[test]
fn a_job_writes_the_same_bytes_for_any_thread_count() {
    let dir = temp_dir("threads");
    let inputs = inputs(&dir);
    let expected: u64 = inputs
        .iter()
        .map(|i| extract(i.open().unwrap().as_mut(), &options(OutputFormat::Csv, 1, 1).extract).unwrap().rows() as u64)
        .sum();
    for format in [OutputFormat::Parquet, OutputFormat::Csv] {
        let mut combined = Vec::new();
        let mut per_input = Vec::new();
        for threads in [1, 2] {
            let path = dir.join(format!("all-{threads}.{}", format.extension()));
            let report =
                job::run(&inputs, &Destination::File(path.clone()), &options(format, threads, 50_000), &NoProgress)
                    .unwrap();
            assert_eq!(report.rows, expected);
            combined.push(std::fs::read(&path).unwrap());
            let out = dir.join(format!("each-{threads}"));
            let report =
                job::run(&inputs, &Destination::Dir(out.clone()), &options(format, threads, 50_000), &NoProgress)
                    .unwrap();
            assert_eq!(report.rows, expected);
            let files: Vec<Vec<u8>> = inputs
                .iter()
                .map(|i| std::fs::read(job::output_path(&out, i, &options(format, 1, 1).output)).unwrap())
                .collect();
            per_input.push(files);
        }
        assert!(combined.windows(2).all(|w| w[0] == w[1]), "{format:?}: the combined file depends on the threads");
        assert!(per_input.windows(2).all(|w| w[0] == w[1]), "{format:?}: a per-input file depends on the threads");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(feature = "parquet")]
#[test]
fn a_combined_parquet_file_holds_each_input_in_order_in_row_groups_of_the_chunk_size() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = temp_dir("combined");
    let inputs = inputs(&dir);
    let path = dir.join("all.parquet");
    job::run(&inputs, &Destination::File(path.clone()), &options(OutputFormat::Parquet, 2, 40_000), &NoProgress)
        .unwrap();
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let groups: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
    let rows: Vec<i64> = inputs
        .iter()
        .map(|i| {
            extract(i.open().unwrap().as_mut(), &options(OutputFormat::Parquet, 1, 1).extract).unwrap().rows() as i64
        })
        .collect();
    let mut expected = Vec::new();
    for r in rows {
        expected.extend(std::iter::repeat_n(40_000, (r / 40_000) as usize));
        if r % 40_000 != 0 {
            expected.push(r % 40_000);
        }
    }
    assert_eq!(groups, expected);
}

#[test]
fn a_failing_input_is_reported_and_the_others_are_written_or_the_combined_file_is_not() {
    let dir = temp_dir("failing");
    let mut inputs = inputs(&dir);
    let bad = dir.join("BAD_2012-06-21_34200000_57600000_message_1.csv");
    std::fs::write(&bad, "34200.1,1,5,100,5859400,1\n34200.2,9,5,100,5859400,1\n").unwrap();
    std::fs::write(
        dir.join("BAD_2012-06-21_34200000_57600000_orderbook_1.csv"),
        "5859500,10,5859400,100\n5859500,10,5859400,100\n",
    )
    .unwrap();
    inputs.insert(1, Input::detect(&bad, Default::default(), None));
    let out = dir.join("each");
    let o = options(OutputFormat::Parquet, 2, 50_000);
    let report = job::run(&inputs, &Destination::Dir(out.clone()), &o, &NoProgress).unwrap();
    let failures: Vec<String> = report.failures().map(|r| r.input.display().to_string()).collect();
    assert_eq!(failures, vec![bad.display().to_string()]);
    match &report.inputs[1].outcome {
        InputOutcome::Failed(e) => assert!(e.to_string().contains(":2: field `type`"), "{e}"),
        other => panic!("{other:?}"),
    }
    for (i, input) in inputs.iter().enumerate() {
        assert_eq!(job::output_path(&out, input, &o.output).exists(), i != 1);
    }
    let all = dir.join("all.parquet");
    let error = job::run(&inputs, &Destination::File(all.clone()), &o, &NoProgress).unwrap_err();
    assert!(error.to_string().contains(":2: field `type`"), "{error}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("all."))
        .collect();
    assert!(left.is_empty(), "nothing of the combined file is left: {left:?}");
}

#[test]
fn resume_leaves_finished_outputs_and_removes_what_an_interrupted_run_left() {
    let dir = temp_dir("resume");
    let inputs = inputs(&dir);
    let out = dir.join("each");
    let mut o = options(OutputFormat::Parquet, 2, 50_000);
    job::run(&inputs, &Destination::Dir(out.clone()), &o, &NoProgress).unwrap();
    let first = job::output_path(&out, &inputs[0], &o.output);
    let second = job::output_path(&out, &inputs[1], &o.output);
    let whole = std::fs::read(&second).unwrap();
    // As a killed run leaves it: the second input's file half written under its temporary name.
    std::fs::remove_file(&second).unwrap();
    let stale = PathBuf::from(format!("{}.tmp4242", second.display()));
    std::fs::write(&stale, &whole[..whole.len() / 2]).unwrap();
    let modified = std::fs::metadata(&first).unwrap().modified().unwrap();
    o.resume = true;
    let report = job::run(&inputs, &Destination::Dir(out.clone()), &o, &NoProgress).unwrap();
    assert!(matches!(report.inputs[0].outcome, InputOutcome::Resumed));
    assert!(matches!(report.inputs[1].outcome, InputOutcome::Done(_)));
    assert_eq!(report.stale_removed, 1);
    assert!(!stale.exists());
    assert_eq!(std::fs::read(&second).unwrap(), whole);
    assert_eq!(std::fs::metadata(&first).unwrap().modified().unwrap(), modified, "a finished output is not rewritten");
    let error = job::run(&inputs, &Destination::File(dir.join("all.parquet")), &o, &NoProgress).unwrap_err();
    assert!(error.to_string().contains("folder"), "{error}");
}

#[test]
fn progress_adds_up_to_the_rows_written_and_the_inputs_bytes() {
    use std::sync::atomic::{AtomicU64, Ordering};
    #[derive(Default)]
    struct Count {
        rows: AtomicU64,
        bytes: AtomicU64,
        calls: AtomicU64,
    }
    impl job::Progress for Count {
        fn rows(&self, rows: u64) {
            self.rows.fetch_add(rows, Ordering::Relaxed);
        }
        fn bytes(&self, bytes: u64) {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            self.calls.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dir = temp_dir("progress");
    let inputs = inputs(&dir);
    let total: u64 = inputs.iter().map(job::input_bytes).sum();
    for threads in [1, 2] {
        let count = Count::default();
        let report = job::run(
            &inputs,
            &Destination::Dir(dir.join("out")),
            &options(OutputFormat::Parquet, threads, 20_000),
            &count,
        )
        .unwrap();
        assert_eq!(count.rows.load(Ordering::Relaxed), report.rows);
        assert_eq!(count.bytes.load(Ordering::Relaxed), total);
        assert!(count.calls.load(Ordering::Relaxed) > inputs.len() as u64, "bytes are reported as they are read");
    }
}
