//! The feed's wire format: a file sent over loopback TCP gives the same signals as the file replayed; damaged
//! streams are errors naming the byte offset, never a crash or a silent gap.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use tachyon_infer::CompiledModel;
use tachyon_live::{run, Config, Deployed, FeedWriter, ModelSlot, SocketFeed};
use tachyon_market::{Feed, LobsterFeed, Update};
use tachyon_model::{Activation, DenseNetwork};
use tachyon_simd::Backend;

mod common;
use common::Keep;

fn messages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv")
}

fn slot() -> ModelSlot {
    let net = DenseNetwork::seeded(&[tachyon_features::NUM_FEATURES, 16, 1], Activation::Tanh, 5);
    ModelSlot::new(Deployed::new(1, "seeded", CompiledModel::compile(&net, &Backend::active()).unwrap()).unwrap())
}

/// Every update of the sample as bytes in the wire format (`limit`: only the first so many updates, no end frame).
fn encoded(limit: Option<usize>) -> Vec<u8> {
    let mut feed = LobsterFeed::open_message(&messages()).unwrap();
    let mut bytes = Vec::new();
    let mut writer = FeedWriter::new(&mut bytes, "AAPL", feed.units()).unwrap();
    let mut updates = Vec::new();
    let mut sent = 0;
    while feed.next_updates(&mut updates).unwrap() {
        for u in &updates {
            if limit.is_some_and(|l| sent >= l) {
                writer.flush().unwrap();
                drop(writer);
                return bytes;
            }
            writer.send(u).unwrap();
            sent += 1;
        }
    }
    writer.finish().unwrap();
    bytes
}

#[test]
fn a_feed_over_loopback_gives_the_signals_of_the_file() {
    let config = Config { pin: false, ring: 512, ..Config::default() };
    let file = Keep::default();
    run(&mut LobsterFeed::open_message(&messages()).unwrap(), &slot(), &mut file.clone(), &config).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sender = std::thread::spawn(move || {
        let stream = TcpStream::connect(addr).unwrap();
        let mut feed = LobsterFeed::open_message(&messages()).unwrap();
        let mut writer = FeedWriter::new(stream, "AAPL", feed.units()).unwrap();
        let mut updates = Vec::new();
        while feed.next_updates(&mut updates).unwrap() {
            updates.iter().for_each(|u| writer.send(u).unwrap());
        }
        writer.finish().unwrap();
    });
    let (stream, _) = listener.accept().unwrap();
    let mut socket = SocketFeed::accept(stream).unwrap();
    assert!(socket.name().starts_with("AAPL (tcp://127.0.0.1:"), "{}", socket.name());
    let net = Keep::default();
    let report = run(&mut socket, &slot(), &mut net.clone(), &config).unwrap();
    sender.join().unwrap();
    let (a, b) = (file.0.lock().unwrap(), net.0.lock().unwrap());
    assert_eq!(a.len(), b.len());
    assert!(report.signals > 100_000);
    for (x, y) in a.iter().zip(b.iter()) {
        assert_eq!((x.seq, x.event_id, x.exchange_time_ns), (y.seq, y.event_id, y.exchange_time_ns));
        assert_eq!(x.prediction[0].to_bits(), y.prediction[0].to_bits(), "event {}", x.event_id);
    }
}

/// Reads every update of `bytes`; the error, if any.
fn read_all(bytes: &[u8]) -> Result<Vec<Update>, String> {
    let mut feed = SocketFeed::new(bytes, "test").map_err(|e| e.to_string())?;
    let (mut all, mut updates) = (Vec::new(), Vec::new());
    while feed.next_updates(&mut updates).map_err(|e| e.to_string())? {
        all.extend_from_slice(&updates);
    }
    Ok(all)
}

#[test]
fn damaged_streams_are_errors_that_name_the_offset() {
    let good = encoded(None);
    let all = read_all(&good).unwrap();
    assert!(all.len() > 100_000);
    // The sender died mid-stream: no end frame.
    let cut = encoded(Some(1000));
    let err = read_all(&cut).unwrap_err();
    assert!(err.contains("ended mid-feed") && err.contains("frame 1000"), "{err}");
    // Cut inside a frame, at many places of the first kilobytes.
    for len in (0..4096).step_by(37) {
        let err = read_all(&good[..len]).unwrap_err();
        assert!(err.contains("byte") || err.contains("bad magic"), "{len}: {err}");
    }
    // A lost frame: the next sequence number is not the one due.
    let hello = 8 + 2 + 2 + 8 + 8 + 2 + 4;
    let first = hello + 4 + u32::from_le_bytes(good[hello..hello + 4].try_into().unwrap()) as usize;
    let mut skipped = good[..hello].to_vec();
    skipped.extend_from_slice(&good[first..]);
    let err = read_all(&skipped).unwrap_err();
    assert!(err.contains("frame 1 where 0 was due: 1 frames lost"), "{err}");
    // A declared length past the limit, an unknown kind, a wrong version, garbage: refused with the place.
    let mut long = good.clone();
    long[hello..hello + 4].copy_from_slice(&100_000u32.to_le_bytes());
    assert!(read_all(&long).unwrap_err().contains("a frame of 100000 bytes"));
    let mut kind = good.clone();
    kind[hello + 4 + 8] = 77;
    assert!(read_all(&kind).unwrap_err().contains("unknown frame kind 77"));
    let mut version = good.clone();
    version[8] = 9;
    assert!(read_all(&version).unwrap_err().contains("wire format version 9"));
    let mut units = good.clone();
    units[20..28].copy_from_slice(&0f64.to_le_bytes());
    assert!(read_all(&units).unwrap_err().contains("size ticks per share 0 is not a positive number (byte 20"));
    assert!(read_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err().contains("bad magic"));
    // Random bytes after a valid hello never panic.
    let mut rng = tachyon_testkit::SplitMix64(3);
    for _ in 0..200 {
        let mut bytes = good[..hello].to_vec();
        let n = (rng.next_u64() % 300) as usize;
        bytes.extend((0..n).map(|_| rng.next_u64() as u8));
        let _ = read_all(&bytes);
    }
}
