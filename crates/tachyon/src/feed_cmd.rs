//! `tachyon feed`: a market file sent over TCP in the feed's wire format (docs/LIVE.md), for `tachyon run
//! --listen` in another process.

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use tachyon_live::FeedWriter;
use tachyon_market::{Feed, LobsterFeed};

/// Options of `tachyon feed`.
#[derive(Args, Debug)]
pub struct FeedArgs {
    /// A LOBSTER message file (the orderbook file beside it seeds the book).
    pub input: PathBuf,
    /// Where `tachyon run --listen` waits, e.g. 127.0.0.1:7000.
    #[arg(long, value_name = "ADDR")]
    pub to: String,
    /// Records sent per second (default: as fast as the connection takes them).
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Keep trying to connect for this many seconds (the listener may start after the feed).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub connect_timeout: f64,
}

/// Runs `tachyon feed`.
pub fn run(args: &FeedArgs) -> Result<()> {
    let mut feed = LobsterFeed::open_message(&args.input)?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.connect_timeout.max(0.0));
    let stream = loop {
        match TcpStream::connect(&args.to) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e).with_context(|| format!("connecting to {}", args.to)),
        }
    };
    stream.set_nodelay(true)?;
    let name = args.input.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut writer = FeedWriter::new(stream, &name, feed.units())?;
    let (start, mut records, mut sent) = (Instant::now(), 0u64, 0u64);
    let mut updates = Vec::new();
    while feed.next_updates(&mut updates)? {
        if let Some(rate) = args.rate.filter(|r| *r > 0.0) {
            let due = start + Duration::from_secs_f64(records as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                writer.flush()?;
                std::thread::sleep(wait);
            }
        }
        for update in &updates {
            writer.send(update).with_context(|| format!("sending to {}", args.to))?;
            sent += 1;
        }
        records += 1;
    }
    writer.finish().with_context(|| format!("sending to {}", args.to))?;
    eprintln!("sent {records} records ({sent} updates) to {} in {:.3} s", args.to, start.elapsed().as_secs_f64());
    Ok(())
}
