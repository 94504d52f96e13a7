//! The Coinbase level-2 reader: on the shipped recording, the book it keeps agrees with the exchange's own ticker
//! messages; on crafted recordings, every message kind, trade and error does what docs/MARKET.md says.

use std::path::{Path, PathBuf};

use tachyon_market::{Book, BookChange, CoinbaseL2, CoinbaseReplay, Feed, Side, TickSource, Update};

fn recording() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase/coinbase_ws_level2_2021-04-17_set_a.txt")
}

/// Exact ticks of 10^-8 of a decimal string (at most 8 places), independently of the reader's parser.
fn ticks(text: &str) -> i64 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 8, "{text}");
    int.parse::<i64>().unwrap() * 100_000_000 + format!("{frac:0<8}").parse::<i64>().unwrap()
}

/// Every `ticker` message of the recording: line, product, best bid, best ask.
fn tickers(path: &Path) -> Vec<(u64, String, i64, i64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some((_, json)) = line.split_once(": ") else { continue };
        let Ok(m) = serde_json::from_str::<serde_json::Value>(json) else { continue };
        if m["type"] == "ticker" {
            let field = |k: &str| ticks(m[k].as_str().unwrap());
            out.push((
                (i + 1) as u64,
                m["product_id"].as_str().unwrap().to_string(),
                field("best_bid"),
                field("best_ask"),
            ));
        }
    }
    out
}

#[test]
fn the_book_agrees_with_the_exchanges_tickers_and_never_crosses() {
    let path = recording();
    let all = tickers(&path);
    assert_eq!(all.len(), 74);
    let products = tachyon_market::coinbase::products(&path).unwrap();
    assert_eq!(products.len(), 5, "{products:?}");
    let (mut checked, mut agreed) = (0, 0);
    for (product, _) in &products {
        let mine: Vec<_> = all.iter().filter(|t| &t.1 == product).collect();
        let mut feed = CoinbaseL2::open(&path, Some(product)).unwrap();
        let mut book = Book::with_capacity(64);
        let mut updates: Vec<Update> = Vec::new();
        let mut next = 0;
        let mut compare = |book: &Book, before_line: u64, next: &mut usize| {
            while *next < mine.len() && mine[*next].0 < before_line {
                let (line, _, bid, ask) = mine[*next];
                let view = book.view();
                let same = view.bids.first().map(|l| l.price) == Some(*bid)
                    && view.asks.first().map(|l| l.price) == Some(*ask);
                // The first ticker of a product comes on subscription and may be out of step with the snapshot.
                assert!(same || *next == 0, "{product} ticker at line {line}: {bid} / {ask} against {view:?}");
                checked += 1;
                agreed += usize::from(same);
                *next += 1;
            }
        };
        while feed.next_updates(&mut updates).unwrap() {
            let line = updates.iter().find_map(|u| u.tick).unwrap().event_id;
            compare(&book, line, &mut next);
            for u in &updates {
                book.apply_change(&u.change);
            }
            let view = book.view();
            if let (Some(b), Some(a)) = (view.bids.first(), view.asks.first()) {
                assert!(b.price < a.price, "{product}: crossed at line {line}");
            }
        }
        compare(&book, u64::MAX, &mut next);
    }
    assert_eq!(checked, 74);
    assert!(agreed >= 70, "{agreed} of 74 tickers agree");
}

#[test]
fn the_feed_and_the_tick_source_give_the_same_book() {
    let path = recording();
    let mut replay = CoinbaseReplay::open(&path, Some("SKL-BTC")).unwrap();
    let mut feed = CoinbaseL2::open(&path, Some("SKL-BTC")).unwrap();
    let (mut book, mut updates, mut ticks) = (Book::with_capacity(64), Vec::new(), 0);
    while feed.next_updates(&mut updates).unwrap() {
        for u in &updates {
            book.apply_change(&u.change);
        }
        let tick = replay.next_tick().unwrap().unwrap();
        assert_eq!(Some(tick), updates.last().unwrap().tick);
        assert_eq!(replay.book(), book.view());
        ticks += 1;
    }
    assert!(replay.next_tick().unwrap().is_none());
    assert!(ticks > 1000, "{ticks}");
}

/// Writes `lines` as a recording in a fresh file.
fn crafted(name: &str, lines: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tachyon-coinbase-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn all_updates(path: &Path, product: Option<&str>) -> Result<Vec<Update>, String> {
    let mut feed = CoinbaseL2::open(path, product).map_err(|e| e.to_string())?;
    let (mut all, mut updates) = (Vec::new(), Vec::new());
    while feed.next_updates(&mut updates).map_err(|e| e.to_string())? {
        all.extend_from_slice(&updates);
    }
    Ok(all)
}

const SNAPSHOT: &str =
    r#"100.5: {"type":"snapshot","product_id":"X-USD","asks":[["10.5","2"],["11","1.5"]],"bids":[["10","3"]]}"#;

#[test]
fn messages_become_level_changes_and_trades_ride_on_the_next_update() {
    let path = crafted(
        "ok.txt",
        &[
            "wss://ws-feed.pro.coinbase.com <-> 100.0",
            r#"100.1: {"type":"subscriptions","channels":[]}"#,
            SNAPSHOT,
            r#"100.6: {"type":"ticker","product_id":"X-USD","best_bid":"10","best_ask":"10.5"}"#,
            r#"100.7: {"type":"match","product_id":"X-USD","side":"sell","price":"10.5","size":"0.5"}"#,
            r#"100.8: {"type":"l2update","product_id":"X-USD","changes":[["sell","10.5","1.5"],["buy","10.2","0.00000001"]]}"#,
            r#"100.9: {"type":"l2update","product_id":"Y-USD","changes":[["sell","1","1"]]}"#,
            r#"101.0: {"type":"l2update","product_id":"X-USD","changes":[["buy","10","0"]]}"#,
            r#"101.1: {"type":"match","product_id":"X-USD","side":"buy","price":"10.2","size":"0.00000001"}"#,
        ],
    );
    let updates = all_updates(&path, Some("X-USD")).unwrap();
    let level =
        |side, price: &str, size: &str| BookChange::Level { side, price: ticks(price), size: ticks(size) as u64 };
    let changes: Vec<BookChange> = updates.iter().map(|u| u.change).collect();
    assert_eq!(
        changes,
        vec![
            BookChange::Clear,
            level(Side::Ask, "10.5", "2"),
            level(Side::Ask, "11", "1.5"),
            level(Side::Bid, "10", "3"),
            level(Side::Ask, "10.5", "1.5"),
            level(Side::Bid, "10.2", "0.00000001"),
            level(Side::Bid, "10", "0"),
            level(Side::Bid, "10", "0"), // repeated to carry the last trade: changes nothing
        ]
    );
    let ticks_at: Vec<(usize, i64, u64)> =
        updates.iter().enumerate().filter_map(|(i, u)| u.tick.map(|t| (i, t.time_ns, t.event_id))).collect();
    assert_eq!(
        ticks_at,
        vec![(3, 100_500_000_000, 3), (5, 100_800_000_000, 6), (6, 101_000_000_000, 8), (7, 101_100_000_000, 9)]
    );
    // A resting ask was lifted: a buy (+1); a resting bid hit: a sell (-1).
    let trade = updates[5].tick.unwrap().trade.unwrap();
    assert_eq!((trade.price, trade.size, trade.sign), (ticks("10.5"), ticks("0.5") as u64, 1));
    assert_eq!(updates[6].tick.unwrap().trade, None);
    assert_eq!(updates[7].tick.unwrap().trade.unwrap().sign, -1);
    // The only product of a file is chosen without asking; several need a choice, and the error lists them.
    let one = crafted("one.txt", &[SNAPSHOT]);
    assert_eq!(all_updates(&one, None).unwrap().len(), 4);
    let e = all_updates(&path, None).unwrap_err();
    assert!(e.contains("X-USD (6 level updates)") && e.contains("Y-USD (1 level updates)"), "{e}");
    let e = all_updates(&path, Some("Z-USD")).unwrap_err();
    assert!(e.contains("no product \"Z-USD\"") && e.contains("X-USD"), "{e}");
}

#[test]
fn bad_lines_are_errors_naming_line_and_field() {
    let cases: [(&str, &str, &str); 6] = [
        ("not a message", "row", ":2:"),
        (r#"abc: {"type":"l2update","product_id":"X-USD","changes":[]}"#, "time", ":2:"),
        (r#"100.9: {"type":"l2update","product_id":"X-USD","changes":[["sell","1.123456789","1"]]}"#, "price", ":2:"),
        (r#"100.9: {"type":"l2update","product_id":"X-USD","changes":[["up","1","1"]]}"#, "side", ":2:"),
        (r#"100.9: {"type":"l2update","product_id":"X-USD","changes":[["sell","1"]]}"#, "message", ":2:"),
        (r#"99: {"type":"l2update","product_id":"X-USD","changes":[["sell","1","1"]]}"#, "time", ":2:"),
    ];
    for (k, (line, field, at)) in cases.into_iter().enumerate() {
        let path = crafted(&format!("bad{k}.txt"), &[SNAPSHOT, line]);
        let e = all_updates(&path, Some("X-USD")).unwrap_err();
        assert!(e.contains(&format!("field `{field}`")) && e.contains(at), "{line}: {e}");
    }
}
