//! A compact binary event file for fast replay: fixed-size records, read into memory in one pass and checked.
//!
//! Layout (little-endian, as on every x86-64 and AArch64 target Tachyon supports):
//!
//! ```text
//! offset  size  field
//!      0     8  magic "TCYEVT\0\x01"
//!      8     4  format version (1)
//!     12     4  record size in bytes (40)
//!     16     8  record count
//!     24     4  CRC-32 of the record bytes
//!     28    36  reserved (zero)
//!     64  40*n  records: time_ns i64, price i64, order_id u64, size u64, kind u8, side u8, 6 bytes zero
//! ```
//!
//! Files are written to a temporary name, synced and renamed, so a crash leaves the old file or the new one,
//! never half of one. Opening checks the magic, version, record size, length (a truncated file is an error) and
//! the checksum, then hands out the records as a slice of the mapped file (no copy, no parse).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use bytemuck::{Pod, Zeroable};

use crate::book::Side;
use crate::error::MarketError;
use crate::event::{Event, EventKind};
use crate::lobster::MessageReader;

/// File magic.
pub const MAGIC: [u8; 8] = *b"TCYEVT\0\x01";
/// Format version.
pub const VERSION: u32 = 1;
/// Header size, bytes.
pub const HEADER_BYTES: usize = 64;

/// One event as stored (40 bytes, 8-byte aligned).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct EventRecord {
    /// Time since midnight, ns.
    pub time_ns: i64,
    /// Price in ticks.
    pub price: i64,
    /// Order reference.
    pub order_id: u64,
    /// Shares.
    pub size: u64,
    /// LOBSTER event type 1..7.
    pub kind: u8,
    /// 1 bid, 2 ask.
    pub side: u8,
    /// Zero.
    pub pad: [u8; 6],
}

impl EventRecord {
    /// The record of an event.
    pub fn from_event(e: &Event) -> Self {
        EventRecord {
            time_ns: e.time_ns,
            price: e.price,
            order_id: e.order_id,
            size: e.size,
            kind: e.kind.code(),
            side: match e.side {
                Side::Bid => 1,
                Side::Ask => 2,
            },
            pad: [0; 6],
        }
    }

    /// The event, or `None` for a record with an invalid kind or side (checked when the file is opened).
    pub fn to_event(&self) -> Option<Event> {
        let kind = EventKind::from_lobster(i64::from(self.kind))?;
        let side = match self.side {
            1 => Side::Bid,
            2 => Side::Ask,
            _ => return None,
        };
        Some(Event { time_ns: self.time_ns, kind, order_id: self.order_id, size: self.size, price: self.price, side })
    }
}

fn bad(path: &Path, message: impl Into<String>) -> MarketError {
    MarketError::Parse { path: path.to_path_buf(), line: 0, field: "header", message: message.into() }
}

/// Converts a LOBSTER message file into a binary event file at `out` (atomically); returns the event count.
pub fn convert_lobster(messages: &Path, out: &Path) -> Result<u64, MarketError> {
    let mut reader = MessageReader::open(messages)?;
    let io = |e| MarketError::io(out, e);
    let mut file = tachyon_io::AtomicFile::create(out).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 20, &mut file);
    w.write_all(&[0u8; HEADER_BYTES]).map_err(io)?;
    let mut crc = crc32fast::Hasher::new();
    let mut count = 0u64;
    while let Some(event) = reader.next_event()? {
        let record = EventRecord::from_event(&event);
        let bytes = bytemuck::bytes_of(&record);
        crc.update(bytes);
        w.write_all(bytes).map_err(io)?;
        count += 1;
    }
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&(std::mem::size_of::<EventRecord>() as u32).to_le_bytes());
    header[16..24].copy_from_slice(&count.to_le_bytes());
    header[24..28].copy_from_slice(&crc.finalize().to_le_bytes());
    w.flush().map_err(io)?;
    drop(w);
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    file.commit().map_err(io)?;
    Ok(count)
}

/// A binary event file read into memory and checked.
///
/// Read, not mapped: a mapped file truncated by another program after it was opened would fault (SIGBUS) on the
/// next access to the lost pages, which no check at open time can prevent. Reading costs one copy at disk or page
/// cache speed (gigabytes per second) and leaves nothing that can change under the reader.
pub struct EventFile {
    /// The records' bytes, in 8-byte words so that they can be viewed as records (8-byte aligned).
    words: Vec<u64>,
    count: usize,
}

impl EventFile {
    /// Reads and checks `path` (magic, version, record size, length, checksum, kinds and sides). The record count
    /// in the header is checked against the file's length before anything is allocated.
    pub fn open(path: &Path) -> Result<EventFile, MarketError> {
        use std::io::Read;
        let io = |e| MarketError::io(path, e);
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut header = [0u8; HEADER_BYTES];
        let got = (&mut file).take(HEADER_BYTES as u64).read(&mut header).map_err(io)?;
        let got = got + (&mut file).take((HEADER_BYTES - got) as u64).read(&mut header[got..]).map_err(io)?;
        if got < MAGIC.len() || header[0..8] != MAGIC {
            return Err(bad(path, "not a Tachyon event file (bad magic)"));
        }
        if got < HEADER_BYTES {
            return Err(bad(path, format!("{got} bytes: truncated header")));
        }
        let u32_at = |o: usize| u32::from_le_bytes(header[o..o + 4].try_into().expect("4 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(bad(path, format!("format version {version}, this build reads version {VERSION}")));
        }
        let record = u32_at(12) as usize;
        if record != std::mem::size_of::<EventRecord>() {
            return Err(bad(path, format!("record size {record}, expected {}", std::mem::size_of::<EventRecord>())));
        }
        let count = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
        let bytes = count.checked_mul(record as u64);
        if bytes.and_then(|b| b.checked_add(HEADER_BYTES as u64)) != Some(len) {
            return Err(bad(path, format!("{len} bytes for {count} records: truncated or padded")));
        }
        let bytes = bytes.expect("checked above") as usize;
        let mut words = vec![0u64; bytes.div_ceil(8)];
        file.read_exact(&mut bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                bad(path, "the file shrank while it was read")
            } else {
                io(e)
            }
        })?;
        let file = EventFile { words, count: count as usize };
        if crc32fast::hash(file.record_bytes()) != u32_at(24) {
            return Err(bad(path, "checksum mismatch: the records are corrupted"));
        }
        if let Some(i) = file.records().iter().position(|r| r.to_event().is_none()) {
            return Err(bad(path, format!("record {i} has an invalid kind or side")));
        }
        Ok(file)
    }

    fn record_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.count * std::mem::size_of::<EventRecord>()]
    }

    /// The records.
    pub fn records(&self) -> &[EventRecord] {
        bytemuck::cast_slice(self.record_bytes())
    }
}
