//! The feed's wire format (version 2): how `tachyon feed` sends book updates over TCP and [`SocketFeed`] reads
//! them, so that a separate process (or a Python script) drives the pipeline. Little-endian throughout.
//!
//! ```text
//! hello   "TCYFEED\0"  u16 version (2)  u16 reserved (0)  f64 price ticks per currency unit
//!         f64 size ticks per share  u16 name length  name (UTF-8)
//! frame   u32 body length (<= 1024)  body
//! body    u64 seq  u8 kind  u8 has_tick  [tick]  [change]
//!         kind 0 clear | 1 level | 2 message | 255 end (no tick, no change)
//! tick    i64 time_ns  u64 event_id  u8 has_trade  [i64 price  u64 size  i8 sign]
//! level   u8 side (0 bid, 1 ask)  i64 price  u64 size
//! message i64 time_ns  u8 type (LOBSTER 1..7)  u64 order_id  u64 size  i64 price  u8 side  u32 depth
//!         u8 asks  u8 bids (each <= 4)  then (i64 price, u64 size) per fringe level, asks then bids
//! ```
//!
//! `seq` counts frames from 0 without gaps; a gap, a frame longer than its body, an unknown kind or a stream that
//! ends without the end frame is an error naming the byte offset where it was found.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use tachyon_market::{
    BadUnits, BookChange, BookView, Event, EventKind, Feed, Fringe, Level, MarketError, Side, Tick, Trade, Units,
    Update, FRINGE,
};

/// The first bytes of a connection.
pub const MAGIC: [u8; 8] = *b"TCYFEED\0";
/// The version this build writes and reads.
pub const VERSION: u16 = 2;
/// Longest body a frame may declare (a message with a full fringe takes 129 bytes).
pub const MAX_BODY: usize = 1024;

const CLEAR: u8 = 0;
const LEVEL: u8 = 1;
const MESSAGE: u8 = 2;
const END: u8 = 255;

fn side_code(side: Side) -> u8 {
    match side {
        Side::Bid => 0,
        Side::Ask => 1,
    }
}

/// Writes updates as frames.
pub struct FeedWriter<W: Write> {
    out: BufWriter<W>,
    seq: u64,
    body: Vec<u8>,
}

impl<W: Write> FeedWriter<W> {
    /// Sends the hello: `name` (at most 65,535 bytes) and the feed's units.
    pub fn new(out: W, name: &str, units: Units) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 16, out);
        let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
        out.write_all(&MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&units.price_ticks.to_le_bytes())?;
        out.write_all(&units.size_ticks.to_le_bytes())?;
        out.write_all(&(name.len() as u16).to_le_bytes())?;
        out.write_all(name)?;
        Ok(FeedWriter { out, seq: 0, body: Vec::with_capacity(MAX_BODY) })
    }

    /// Sends one update.
    pub fn send(&mut self, update: &Update) -> io::Result<()> {
        let b = &mut self.body;
        b.clear();
        b.extend_from_slice(&self.seq.to_le_bytes());
        let kind = match update.change {
            BookChange::Clear => CLEAR,
            BookChange::Level { .. } => LEVEL,
            BookChange::Message { .. } => MESSAGE,
        };
        b.push(kind);
        b.push(u8::from(update.tick.is_some()));
        if let Some(t) = update.tick {
            b.extend_from_slice(&t.time_ns.to_le_bytes());
            b.extend_from_slice(&t.event_id.to_le_bytes());
            b.push(u8::from(t.trade.is_some()));
            if let Some(trade) = t.trade {
                b.extend_from_slice(&trade.price.to_le_bytes());
                b.extend_from_slice(&trade.size.to_le_bytes());
                b.push(trade.sign as u8);
            }
        }
        match update.change {
            BookChange::Clear => {}
            BookChange::Level { side, price, size } => {
                b.push(side_code(side));
                b.extend_from_slice(&price.to_le_bytes());
                b.extend_from_slice(&size.to_le_bytes());
            }
            BookChange::Message { event, depth, fringe } => {
                b.extend_from_slice(&event.time_ns.to_le_bytes());
                b.push(event.kind.code());
                b.extend_from_slice(&event.order_id.to_le_bytes());
                b.extend_from_slice(&event.size.to_le_bytes());
                b.extend_from_slice(&event.price.to_le_bytes());
                b.push(side_code(event.side));
                b.extend_from_slice(&depth.to_le_bytes());
                let view = fringe.view();
                b.push(view.asks.len() as u8);
                b.push(view.bids.len() as u8);
                for level in view.asks.iter().chain(view.bids) {
                    b.extend_from_slice(&level.price.to_le_bytes());
                    b.extend_from_slice(&level.size.to_le_bytes());
                }
            }
        }
        self.frame()
    }

    fn frame(&mut self) -> io::Result<()> {
        self.out.write_all(&(self.body.len() as u32).to_le_bytes())?;
        self.out.write_all(&self.body)?;
        self.seq += 1;
        Ok(())
    }

    /// Sends the end frame and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        self.body.clear();
        self.body.extend_from_slice(&self.seq.to_le_bytes());
        self.body.extend_from_slice(&[END, 0]);
        self.frame()?;
        self.out.flush()
    }

    /// Flushes what was sent.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads a body field by field, naming the offset of what is wrong.
struct Body<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Body<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let field = self.bytes.get(self.at..self.at + N)?.try_into().ok()?;
        self.at += N;
        Some(field)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
}

/// A feed read from a socket (or any byte stream) in the wire format.
pub struct SocketFeed<R: Read> {
    input: BufReader<R>,
    name: String,
    units: Units,
    /// Bytes read so far (the offset errors name).
    offset: u64,
    seq: u64,
    ended: bool,
    body: Vec<u8>,
}

impl SocketFeed<TcpStream> {
    /// Reads the hello from a connected socket.
    pub fn accept(stream: TcpStream) -> Result<Self, MarketError> {
        let peer = stream.peer_addr().map_or_else(|_| "tcp".to_string(), |a| format!("tcp://{a}"));
        let _ = stream.set_nodelay(true);
        SocketFeed::new(stream, &peer)
    }
}

impl<R: Read> SocketFeed<R> {
    /// Reads the hello from `input`; `source` names the stream in errors.
    pub fn new(input: R, source: &str) -> Result<Self, MarketError> {
        let mut feed = SocketFeed {
            input: BufReader::with_capacity(1 << 16, input),
            name: source.to_string(),
            units: Units::LOBSTER,
            offset: 0,
            seq: 0,
            ended: false,
            body: vec![0; MAX_BODY],
        };
        // The magic alone first: a short stream of another protocol is told apart from a cut feed.
        let mut hello = [0u8; 30];
        feed.read_exact_at(&mut hello[..8], "hello")?;
        if hello[..8] != MAGIC {
            return Err(feed.error(0, "hello", "not a Tachyon feed (bad magic)".into()));
        }
        feed.read_exact_at(&mut hello[8..], "hello")?;
        let version = u16::from_le_bytes([hello[8], hello[9]]);
        if version != VERSION {
            return Err(feed.error(8, "hello", format!("wire format version {version}, this build reads {VERSION}")));
        }
        let price_ticks = f64::from_le_bytes(hello[12..20].try_into().expect("8 bytes"));
        let size_ticks = f64::from_le_bytes(hello[20..28].try_into().expect("8 bytes"));
        let units = Units::new(price_ticks, size_ticks).map_err(|bad| {
            let offset = match bad {
                BadUnits::PriceTicks(_) => 12,
                BadUnits::SizeTicks(_) => 20,
            };
            feed.error(offset, "hello", bad.to_string())
        })?;
        let name_len = u16::from_le_bytes([hello[28], hello[29]]) as usize;
        let mut name = vec![0u8; name_len];
        feed.read_exact_at(&mut name, "hello")?;
        feed.units = units;
        feed.name = format!("{} ({})", String::from_utf8_lossy(&name), source);
        Ok(feed)
    }

    fn error(&self, offset: u64, field: &'static str, message: String) -> MarketError {
        MarketError::Parse {
            path: PathBuf::from(&self.name),
            line: self.seq as usize + 1,
            field,
            message: format!("{message} (byte {offset} of the stream, frame {})", self.seq),
        }
    }

    fn read_exact_at(&mut self, buf: &mut [u8], field: &'static str) -> Result<(), MarketError> {
        let at = self.offset;
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.error(
                at,
                field,
                if self.ended {
                    "data after the end frame".into()
                } else {
                    "the stream ended mid-feed, without its end frame".into()
                },
            )),
            Err(e) => Err(MarketError::Io { path: PathBuf::from(&self.name), source: e }),
        }
    }

    fn decode(&self, body: &[u8], at: u64) -> Result<Option<Update>, MarketError> {
        let bad = |field: &'static str, message: &str| self.error(at, field, message.to_string());
        let mut b = Body { bytes: body, at: 0 };
        let short = |field| move || bad(field, "the frame is shorter than its fields");
        let seq = b.u64().ok_or_else(short("seq"))?;
        if seq != self.seq {
            return Err(bad(
                "seq",
                &format!("frame {seq} where {} was due: {} frames lost", self.seq, seq.wrapping_sub(self.seq)),
            ));
        }
        let kind = b.u8().ok_or_else(short("kind"))?;
        let has_tick = b.u8().ok_or_else(short("tick"))?;
        if kind == END {
            return Ok(None);
        }
        let tick = match has_tick {
            0 => None,
            1 => {
                let time_ns = b.i64().ok_or_else(short("tick"))?;
                let event_id = b.u64().ok_or_else(short("tick"))?;
                let trade = match b.u8().ok_or_else(short("trade"))? {
                    0 => None,
                    1 => {
                        let price = b.i64().ok_or_else(short("trade"))?;
                        let size = b.u64().ok_or_else(short("trade"))?;
                        let sign = b.u8().ok_or_else(short("trade"))? as i8;
                        Some(Trade { price, size, sign })
                    }
                    _ => return Err(bad("trade", "has_trade is neither 0 nor 1")),
                };
                Some(Tick { time_ns, event_id, trade })
            }
            _ => return Err(bad("tick", "has_tick is neither 0 nor 1")),
        };
        let side = |code: u8| match code {
            0 => Ok(Side::Bid),
            1 => Ok(Side::Ask),
            _ => Err(bad("side", "side is neither 0 (bid) nor 1 (ask)")),
        };
        let change = match kind {
            CLEAR => BookChange::Clear,
            LEVEL => {
                let s = side(b.u8().ok_or_else(short("level"))?)?;
                let price = b.i64().ok_or_else(short("level"))?;
                let size = b.u64().ok_or_else(short("level"))?;
                BookChange::Level { side: s, price, size }
            }
            MESSAGE => {
                let time_ns = b.i64().ok_or_else(short("message"))?;
                let code = b.u8().ok_or_else(short("message"))?;
                let kind = EventKind::from_lobster(i64::from(code)).ok_or_else(|| bad("type", "unknown event type"))?;
                let order_id = b.u64().ok_or_else(short("message"))?;
                let size = b.u64().ok_or_else(short("message"))?;
                let price = b.i64().ok_or_else(short("message"))?;
                let s = side(b.u8().ok_or_else(short("message"))?)?;
                let depth = b.u32().ok_or_else(short("depth"))?;
                let (asks, bids) = (b.u8().ok_or_else(short("fringe"))?, b.u8().ok_or_else(short("fringe"))?);
                if asks as usize > FRINGE || bids as usize > FRINGE {
                    return Err(bad("fringe", &format!("{asks} and {bids} fringe levels, at most {FRINGE} a side")));
                }
                let mut levels = [[Level::default(); FRINGE]; 2];
                for (side_levels, n) in levels.iter_mut().zip([asks, bids]) {
                    for level in &mut side_levels[..n as usize] {
                        let price = b.i64().ok_or_else(short("fringe"))?;
                        let size = b.u64().ok_or_else(short("fringe"))?;
                        *level = Level { price, size };
                    }
                }
                let fringe =
                    Fringe::of(BookView { asks: &levels[0][..asks as usize], bids: &levels[1][..bids as usize] });
                BookChange::Message { event: Event { time_ns, kind, order_id, size, price, side: s }, depth, fringe }
            }
            other => return Err(bad("kind", &format!("unknown frame kind {other}"))),
        };
        if b.at != body.len() {
            return Err(bad("frame", &format!("{} bytes after the fields", body.len() - b.at)));
        }
        Ok(Some(Update { change, tick }))
    }
}

impl<R: Read + Send> Feed for SocketFeed<R> {
    fn next_updates(&mut self, out: &mut Vec<Update>) -> Result<bool, MarketError> {
        out.clear();
        if self.ended {
            return Ok(false);
        }
        let at = self.offset;
        let mut len = [0u8; 4];
        self.read_exact_at(&mut len, "length")?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_BODY {
            return Err(self.error(at, "length", format!("a frame of {len} bytes, at most {MAX_BODY}")));
        }
        let mut body = std::mem::take(&mut self.body);
        let read = self.read_exact_at(&mut body[..len], "frame");
        let decoded = read.and_then(|()| self.decode(&body[..len], at));
        self.body = body;
        self.seq += 1;
        match decoded? {
            Some(update) => {
                out.push(update);
                Ok(true)
            }
            None => {
                self.ended = true;
                Ok(false)
            }
        }
    }

    fn units(&self) -> Units {
        self.units
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}
