//! Features on the shipped LOBSTER data and on generic CSVs: streaming equals batch bit for bit, files in
//! parallel equal files one by one, no look-ahead, no allocation per update, bounded drift, bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use tachyon_features::rolling::RollingMoments;
use tachyon_features::{
    extract, extract_chunks, extract_files, ExtractOptions, FeatureEngine, FeatureMatrix, Horizon, Input, LabelSpec,
    Labels, NUM_FEATURES,
};
use tachyon_market::{
    BadRowPolicy, LobsterPair, LobsterReplay, MarketError, QuotesCsv, QuotesCsvConfig, Snapshot, Tick, TickSource,
    Units,
};
use tachyon_testkit::{count_thread_allocations, SplitMix64};

tachyon_testkit::install_counting_allocator!();

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster").join(name)
}

const AAPL_MSG: &str = "AAPL_2012-06-21_34200000_57600000_message_1.csv";
const AAPL_BOOK: &str = "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv";
const GOOG_MSG: &str = "GOOG_2012-06-21_34200000_57600000_message_10.csv.gz";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tachyon-features-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    path
}

fn load_ticks(source: &mut dyn TickSource) -> Vec<(Tick, Snapshot)> {
    let mut out = Vec::new();
    while let Some(tick) = source.next_tick().unwrap() {
        out.push((tick, source.book().to_snapshot()));
    }
    out
}

#[test]
fn streaming_and_batch_features_are_bit_identical_on_real_data() {
    for msg in [AAPL_MSG, GOOG_MSG] {
        let input = Input::detect(&data(msg), QuotesCsvConfig::default(), None);
        let batch = extract(input.open().unwrap().as_mut(), &ExtractOptions::default()).unwrap();
        assert!(batch.rows() > 100_000, "{msg}: {} rows", batch.rows());
        assert_eq!(batch.rows_read, batch.rows() as u64 + batch.rows_warmup);

        // Streaming: the serving loop, one update at a time, features read from the engine after each.
        let mut engine = FeatureEngine::new(Units::LOBSTER);
        let mut row = 0;
        for (tick, book) in load_ticks(input.open().unwrap().as_mut()) {
            let f = *engine.update(&tick, &book);
            if engine.ready() {
                assert_eq!(tick.time_ns, batch.time_ns[row]);
                let same = f.iter().zip(batch.row(row)).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{msg}: row {row} differs");
                row += 1;
            }
        }
        assert_eq!(row, batch.rows());
        // Every feature is finite on real data.
        let bad = batch.features.iter().position(|v| !v.is_finite());
        assert!(bad.is_none(), "{msg}: non-finite feature {:?}", bad.map(|i| (i / NUM_FEATURES, i % NUM_FEATURES)));
    }
}

#[test]
fn files_in_parallel_equal_files_one_by_one() {
    let inputs: Vec<Input> =
        [AAPL_MSG, GOOG_MSG].iter().map(|m| Input::detect(&data(m), QuotesCsvConfig::default(), None)).collect();
    let options = ExtractOptions { labels: Some(LabelSpec::default()), ..ExtractOptions::default() };
    let parallel = extract_files(&inputs, &options);
    for (input, par) in inputs.iter().zip(parallel) {
        let one = extract(input.open().unwrap().as_mut(), &options).unwrap();
        let par = par.unwrap();
        assert_eq!(par.source, input.path());
        assert!(par.features.iter().zip(&one.features).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!(par.time_ns, one.time_ns);
        assert_eq!(par.labels.as_ref().map(|l| &l.class), one.labels.as_ref().map(|l| &l.class));
    }
}

/// Writes the first `rows` lines of a LOBSTER pair to a temporary pair.
fn truncated_pair(dir: &Path, rows: usize) -> (PathBuf, PathBuf) {
    let take = |name: &str| {
        let text = std::fs::read_to_string(data(name)).unwrap();
        text.lines().take(rows).map(|l| format!("{l}\n")).collect::<String>()
    };
    let m = write(dir, "X_message_1.csv", &take(AAPL_MSG));
    let b = write(dir, "X_orderbook_1.csv", &take(AAPL_BOOK));
    (m, b)
}

#[test]
fn features_from_our_book_equal_features_from_the_orderbook_file_on_both_days() {
    for msg in [AAPL_MSG, GOOG_MSG] {
        // Ours: the messages replayed into our book. Theirs: every row of LOBSTER's orderbook file as the book.
        let mut replay = LobsterReplay::open_message(&data(msg)).unwrap();
        let mut pair = LobsterPair::open_message(&data(msg)).unwrap();
        let (mut ours, mut theirs) = (FeatureEngine::new(Units::LOBSTER), FeatureEngine::new(Units::LOBSTER));
        let mut row = Snapshot::default();
        let mut rows = 0;
        while let Some(tick) = replay.next_tick().unwrap() {
            let event = pair.next_pair(&mut row).unwrap().expect("same length");
            let file_tick = Tick::from_event(&event, pair.line());
            assert_eq!(tick, file_tick);
            assert_eq!(replay.book(), (&row).into(), "{msg} line {}: book", pair.line());
            let a = *ours.update(&tick, replay.book());
            let b = theirs.update(&file_tick, &row);
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{msg} line {}: features differ", pair.line());
            rows += 1;
        }
        assert!(pair.next_pair(&mut row).unwrap().is_none());
        let stats = replay.stats();
        println!("{msg}: {rows} rows, {stats:?}");
        assert_eq!((stats.seeds, stats.messages), (1, rows - 1));
        if msg == GOOG_MSG {
            assert!(stats.reveals > 10_000, "levels enter the level-10 window from beyond it: {stats:?}");
        }
    }
}

#[test]
fn features_never_look_ahead_and_labels_look_exactly_to_the_horizon() {
    let dir = temp_dir("prefix");
    let full =
        extract(&mut LobsterReplay::open(&data(AAPL_MSG), &data(AAPL_BOOK)).unwrap(), &ExtractOptions::default())
            .unwrap();
    for rows in [1usize, 2, 1000, 5003] {
        let (m, b) = truncated_pair(&dir, rows);
        let options = ExtractOptions { labels: Some(LabelSpec::default()), ..ExtractOptions::default() };
        let prefix = extract(&mut LobsterReplay::open(&m, &b).unwrap(), &options).unwrap();
        // The rows of the prefix equal the first rows of the whole day: nothing later changed them.
        assert_eq!(prefix.rows(), full.rows().min(rows - full.rows_warmup as usize));
        assert!(prefix.features.iter().zip(&full.features).all(|(a, b)| a.to_bits() == b.to_bits()));
        // Labels: only rows with a full horizon inside the prefix have one.
        let labels = prefix.labels.as_ref().unwrap();
        let h = 100;
        for i in 0..prefix.rows() {
            assert_eq!(labels.ret_bps[i].is_nan(), i + h >= prefix.rows(), "row {i} of {rows}");
            assert_eq!(labels.class[i] == Labels::UNKNOWN, i + h >= prefix.rows());
        }
    }
    // Time labels on the full day: each equals the mid change to the last row at or before t + 1 s.
    let spec = LabelSpec { horizon: Horizon::Time(1_000_000_000), flat_bps: 0.5 };
    let labels = Labels::compute(&spec, &full.time_ns, &full.mid);
    let mut rng = SplitMix64(3);
    for _ in 0..200 {
        let i = (rng.next_u64() % full.rows() as u64) as usize;
        let target = full.time_ns[i] + 1_000_000_000;
        let j = full.time_ns.partition_point(|&t| t <= target) - 1;
        if *full.time_ns.last().unwrap() >= target {
            assert_eq!(labels.ret_bps[i], ((full.mid[j] - full.mid[i]) / full.mid[i] * 1e4) as f32);
        } else {
            assert!(labels.ret_bps[i].is_nan());
        }
    }
}

#[test]
fn an_update_allocates_nothing_after_warm_up() {
    let ticks = load_ticks(&mut LobsterReplay::open(&data(AAPL_MSG), &data(AAPL_BOOK)).unwrap());
    let mut engine = FeatureEngine::new(Units::LOBSTER);
    let (warm, rest) = ticks.split_at(2_000);
    for (t, b) in warm {
        engine.update(t, b);
    }
    let (checksum, allocations) = count_thread_allocations(|| {
        let mut s = 0.0f64;
        for (t, b) in rest {
            s += f64::from(engine.update(t, b)[tachyon_features::feature::RET_E1_BPS]);
        }
        s
    });
    assert!(checksum.is_finite());
    assert_eq!(allocations, 0, "{} updates", rest.len());

    // The whole serving loop, reading and our book included, after its buffers have grown.
    let mut source = LobsterReplay::open_message(&data(GOOG_MSG)).unwrap();
    let mut engine = FeatureEngine::new(Units::LOBSTER);
    for _ in 0..1000 {
        let t = source.next_tick().unwrap().unwrap();
        engine.update(&t, source.book());
    }
    let (n, allocations) = count_thread_allocations(|| {
        let mut n = 0;
        while let Some(t) = source.next_tick().unwrap() {
            engine.update(&t, source.book());
            n += 1;
        }
        n
    });
    assert!(n > 100_000);
    assert_eq!(allocations, 0, "read + book + update of {n} GOOG level-10 events");
}

#[test]
fn rolling_variance_does_not_drift_over_ten_million_updates() {
    // A price-like series: a large level with small moves, where sum-of-squares formulas lose digits.
    let window = 1000;
    let mut rng = SplitMix64(42);
    let mut level = 5850.0;
    let mut ring = std::collections::VecDeque::with_capacity(window);
    let mut m = RollingMoments::new(window);
    // The textbook running sums without recomputation, to show what is being prevented.
    let (mut naive_sum, mut naive_sq) = (0.0f64, 0.0f64);
    let n = 10_000_777; // not a multiple of the window: the last exact recomputation was 777 updates ago
    for _ in 0..n {
        level += rng.uniform(-0.01, 0.01);
        let x = level + rng.uniform(-0.05, 0.05);
        m.push(x);
        naive_sum += x;
        naive_sq += x * x;
        ring.push_back(x);
        if ring.len() > window {
            let y = ring.pop_front().unwrap();
            naive_sum -= y;
            naive_sq -= y * y;
        }
    }
    let w: Vec<f64> = ring.into_iter().collect();
    let mean = w.iter().sum::<f64>() / window as f64;
    let var = w.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (window - 1) as f64;
    let rel_mean = (m.mean() - mean).abs() / mean.abs();
    let rel_std = (m.std() - var.sqrt()).abs() / var.sqrt();
    let naive_var = (naive_sq - naive_sum * naive_sum / window as f64) / (window - 1) as f64;
    let naive_rel_std = (naive_var.max(0.0).sqrt() - var.sqrt()).abs() / var.sqrt();
    println!(
        "after {n} updates: mean rel err {rel_mean:.2e}, std rel err {rel_std:.2e}, naive std {naive_rel_std:.2e}"
    );
    // Bounded by the updates since the last exact recomputation (< window), not by n.
    assert!(rel_mean <= 1e-13, "{rel_mean:e}");
    assert!(rel_std <= 1e-9, "{rel_std:e}");
    assert!(naive_rel_std > rel_std, "the naive sums should drift more ({naive_rel_std:e} vs {rel_std:e})");
}

const QUOTES: &str = tachyon_market::quotes_csv::EXAMPLE;

#[test]
fn a_quotes_csv_becomes_ticks_and_features() {
    let dir = temp_dir("quotes");
    let path = write(&dir, "quotes.csv", QUOTES);
    let mut csv = QuotesCsv::open(&path, QuotesCsvConfig { price_decimals: 2, size_decimals: 0 }).unwrap();
    let ticks = load_ticks(&mut csv);
    assert_eq!(ticks.len(), 5);
    assert_eq!(ticks[0].0.time_ns, 34_200_000_000_001);
    assert_eq!(ticks[0].1.bids[0].price, 10_000);
    assert_eq!(ticks[1].0.trade.unwrap().sign, 1);
    assert_eq!(ticks[1].1, ticks[0].1, "a trade reports the last quote");
    assert_eq!(ticks[3].0.trade.unwrap().sign, -1);
    assert!(ticks[4].1.bids.is_empty(), "size 0: the side is empty");
    let m = extract(
        &mut QuotesCsv::open(&path, QuotesCsvConfig { price_decimals: 2, size_decimals: 0 }).unwrap(),
        &ExtractOptions::default(),
    )
    .unwrap();
    assert_eq!(m.rows(), 5);
    assert_eq!(m.row(0)[0], 100.01f32);
    // The one-sided last row holds the last mid.
    assert_eq!(m.row(4)[0], m.row(3)[0]);
    assert_eq!(m.event_id, vec![2, 3, 4, 5, 6]);
}

/// Sizes in shares whatever the size decimals the file is read with: the same file gives the same features.
#[test]
fn quote_features_are_in_shares_for_any_size_decimals() {
    use tachyon_features::schema::feature as f;
    let dir = temp_dir("size-decimals");
    let path = write(&dir, "quotes.csv", QUOTES);
    let matrix = |size_decimals| {
        let config = QuotesCsvConfig { price_decimals: 2, size_decimals };
        extract(&mut QuotesCsv::open(&path, config).unwrap(), &ExtractOptions::default()).unwrap()
    };
    let shares = matrix(0);
    // Row 0: bid 300 shares at level 1 (weight 1), ask 100.
    assert_eq!((shares.row(0)[f::WDEPTH_BID], shares.row(0)[f::WDEPTH_ASK]), (300.0, 100.0));
    for size_decimals in [6, 8] {
        let scaled = matrix(size_decimals);
        for (a, b) in shares.features.iter().zip(&scaled.features) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{size_decimals} decimals: {a} vs {b}");
        }
    }
}

fn quotes_error(body: &str) -> String {
    let dir = temp_dir("bad");
    let path =
        write(&dir, "bad.csv", &format!("time_ns,type,bid_price,bid_size,ask_price,ask_size,price,size,side\n{body}"));
    let mut csv = match QuotesCsv::open(&path, QuotesCsvConfig::default()) {
        Ok(csv) => csv,
        Err(e) => return e.to_string(),
    };
    match extract(&mut csv, &ExtractOptions::default()) {
        Ok(m) => panic!("accepted {body:?}: {} rows", m.rows()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_quotes_name_the_file_line_and_field() {
    let good = "1,quote,10,1,11,1,,,\n";
    for (body, line, field) in [
        ("1,quote,10,1,11\n", 2, "ask_size"),
        ("1,quote,ten,1,11,1,,,\n", 2, "bid_price"),
        ("1,quote,10,-5,11,1,,,\n", 2, "bid_size"),
        ("1,quote,0,5,11,1,,,\n", 2, "bid_price"),
        ("1,quote,NaN,5,11,1,,,\n", 2, "bid_price"),
        ("1,quote,10.00001,5,11,1,,,\n", 2, "bid_price"),
        ("1,quote,11,5,11,1,,,\n", 2, "ask_price"),
        ("x,quote,10,5,11,1,,,\n", 2, "time_ns"),
        ("1,fill,10,5,11,1,,,\n", 2, "type"),
        ("1,trade,,,,,0,5,buy\n", 2, "price"),
        ("1,trade,,,,,10,5,up\n", 2, "side"),
    ] {
        let e = quotes_error(body);
        assert!(e.contains(&format!("bad.csv:{line}: field `{field}`")), "{body:?} -> {e}");
    }
    let e = quotes_error(&format!("{good}0,quote,10,1,11,1,,,\n"));
    assert!(e.contains("bad.csv:3: field `time`") && e.contains("backwards"), "{e}");
    // A header without the needed columns.
    let dir = temp_dir("bad-header");
    let path = write(&dir, "h.csv", "when,what\n1,2\n");
    let e = QuotesCsv::open(&path, QuotesCsvConfig::default()).err().unwrap().to_string();
    assert!(e.contains("h.csv:1: field `header`"), "{e}");
}

#[test]
fn skipped_rows_are_counted_and_reported() {
    let dir = temp_dir("skip");
    let path = write(
        &dir,
        "skip.csv",
        "time_ns,type,bid_price,bid_size,ask_price,ask_size\n1,quote,10,1,11,1\n2,quote,oops,1,11,1\n3,quote,10,2,11,1\n",
    );
    let options = ExtractOptions { on_bad_row: BadRowPolicy::Skip, max_examples: 5, ..ExtractOptions::default() };
    let m = extract(&mut QuotesCsv::open(&path, QuotesCsvConfig::default()).unwrap(), &options).unwrap();
    assert_eq!((m.rows(), m.rows_skipped, m.rows_read), (2, 1, 2));
    assert!(m.skipped_examples[0].contains("skip.csv:3: field `bid_price`"), "{:?}", m.skipped_examples);
}

#[test]
fn a_lobster_pair_with_different_row_counts_or_a_truncated_gzip_is_an_error() {
    let dir = temp_dir("pairs");
    let m = write(&dir, "Y_message_1.csv", "34200.1,1,1,100,5000000,1\n34200.2,1,2,50,5010000,-1\n");
    let b = write(&dir, "Y_orderbook_1.csv", "5020000,10,5000000,100\n");
    let e = extract(&mut LobsterReplay::open(&m, &b).unwrap(), &ExtractOptions::default()).unwrap_err();
    assert!(matches!(e, MarketError::RowCountMismatch { messages: 2, snapshots: 1, .. }), "{e}");

    let gz = std::fs::read(data(GOOG_MSG)).unwrap();
    let cut = write(&dir, "Z_message_10.csv.gz", "");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let book = data(&GOOG_MSG.replace("message", "orderbook"));
    let e = extract(&mut LobsterReplay::open(&cut, &book).unwrap(), &ExtractOptions::default()).unwrap_err();
    assert!(e.to_string().contains("Z_message_10.csv.gz"), "{e}");
}

#[test]
fn chunks_of_any_size_hold_the_rows_and_labels_of_the_whole_file() {
    let (m, b) = truncated_pair(&temp_dir("chunks"), 5_000);
    for horizon in [Horizon::Events(100), Horizon::Time(250_000_000)] {
        let options = ExtractOptions { labels: Some(LabelSpec { horizon, flat_bps: 0.5 }), ..Default::default() };
        let whole = extract(&mut LobsterReplay::open(&m, &b).unwrap(), &options).unwrap();
        for chunk_rows in [1usize, 99, 100, 101, 65_536] {
            let mut source = LobsterReplay::open(&m, &b).unwrap();
            let mut joined = FeatureMatrix::default();
            let mut largest = 0;
            let counts = extract_chunks(&mut source, &options, chunk_rows, |chunk| {
                largest = largest.max(chunk.rows());
                let labels = chunk.labels.as_ref().unwrap();
                assert_eq!(labels.len(), chunk.rows(), "every row of a chunk has its label");
                joined.time_ns.extend_from_slice(&chunk.time_ns);
                joined.features.extend_from_slice(&chunk.features);
                let all = joined.labels.get_or_insert_with(Labels::default);
                all.ret_bps.extend_from_slice(&labels.ret_bps);
                all.class.extend_from_slice(&labels.class);
                Ok::<_, MarketError>(())
            })
            .unwrap();
            assert!(largest <= chunk_rows);
            assert_eq!(counts.rows, whole.rows() as u64);
            assert_eq!((counts.rows_read, counts.rows_warmup), (whole.rows_read, whole.rows_warmup));
            assert_eq!(joined.time_ns, whole.time_ns, "{horizon} in chunks of {chunk_rows}");
            assert!(joined.features.iter().zip(&whole.features).all(|(a, b)| a.to_bits() == b.to_bits()));
            let (a, b) = (joined.labels.unwrap(), whole.labels.clone().unwrap());
            assert!(a.ret_bps.iter().zip(&b.ret_bps).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert_eq!(a.class, b.class);
        }
    }
}

#[test]
fn one_row_with_a_time_in_the_future_is_skipped_alone() {
    let dir = temp_dir("future");
    let (m, b) = truncated_pair(&dir, 2_000);
    let text = std::fs::read_to_string(&m).unwrap();
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 9 { format!("99999.5{}", &l[l.find(',').unwrap()..]) } else { l.to_string() })
        .collect();
    std::fs::write(&m, lines.join("\n") + "\n").unwrap();
    let skip = ExtractOptions { on_bad_row: BadRowPolicy::Skip, max_examples: 5, ..ExtractOptions::default() };
    let kept = extract(&mut LobsterReplay::open(&m, &b).unwrap(), &skip).unwrap();
    assert_eq!((kept.rows_read, kept.rows_skipped), (1_999, 1));
    assert!(kept.skipped_examples[0].contains(":10: field `time`"), "{:?}", kept.skipped_examples);
    let error = extract(&mut LobsterReplay::open(&m, &b).unwrap(), &ExtractOptions::default()).unwrap_err();
    assert!(error.to_string().contains(":10: field `time`"), "{error}");
}

#[test]
fn a_quote_with_a_time_in_the_future_is_skipped_alone() {
    let dir = temp_dir("future-quotes");
    let mut text = String::from("time_ns,type,bid_price,bid_size,ask_price,ask_size\n");
    for i in 1..=20 {
        let time = if i == 10 { 9_999_999 } else { i };
        text.push_str(&format!("{time},quote,10,{i},11,1\n"));
    }
    let path = write(&dir, "future.csv", &text);
    let options = ExtractOptions { on_bad_row: BadRowPolicy::Skip, max_examples: 5, ..ExtractOptions::default() };
    let m = extract(&mut QuotesCsv::open(&path, QuotesCsvConfig::default()).unwrap(), &options).unwrap();
    assert_eq!((m.rows_read, m.rows_skipped), (19, 1));
    assert!(m.skipped_examples[0].contains("future.csv:11: field `time`"), "{:?}", m.skipped_examples);
}
