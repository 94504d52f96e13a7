//! Signals and where they go: a CSV file (written atomically: complete or absent), stdout, or nowhere (for
//! measuring the pipeline alone).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use tachyon_io::AtomicFile;

/// Outputs a signal carries at most (a regression head has one, a class head one per class).
pub const MAX_OUTPUTS: usize = 4;

/// One prediction, made after one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signal {
    /// Position of the update in the pipeline's input (0-based, no gaps unless updates were dropped).
    pub seq: u64,
    /// Position of the tick in its file (line of the LOBSTER message).
    pub event_id: u64,
    /// Exchange time of the tick, ns (since midnight for LOBSTER).
    pub exchange_time_ns: i64,
    /// When the source had read the update, [`tachyon_simd::CycleClock`] ticks.
    pub receive_ticks: u64,
    /// When the prediction was made, ticks.
    pub emit_ticks: u64,
    /// The model that made it.
    pub model_id: u32,
    /// How many of `prediction` are outputs.
    pub outputs: u8,
    /// The model's outputs (the first `outputs`).
    pub prediction: [f32; MAX_OUTPUTS],
    /// The shadow model's first output on the same features, when a shadow runs (made after the signal's
    /// `emit_ticks`, so it adds nothing to the live model's latency).
    pub shadow: Option<f32>,
}

/// Converts clock ticks to ns since the pipeline started.
#[derive(Clone, Copy, Debug)]
pub struct TimeBase {
    /// Ticks at the start.
    pub origin: u64,
    /// ns per tick.
    pub ns_per_tick: f64,
}

impl TimeBase {
    /// ns from the start to `ticks`.
    pub fn ns(&self, ticks: u64) -> u64 {
        (ticks.saturating_sub(self.origin) as f64 * self.ns_per_tick) as u64
    }
}

/// Where signals go.
pub trait SignalSink: Send {
    /// Takes one signal.
    fn write(&mut self, signal: &Signal, time: &TimeBase) -> io::Result<()>;
    /// Flushes and, for a file, makes it appear whole.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Drops every signal (the pipeline measured alone).
pub struct NullSink;

impl SignalSink for NullSink {
    fn write(&mut self, _: &Signal, _: &TimeBase) -> io::Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// Signals as CSV: `seq,event_id,exchange_time_ns,receive_ns,emit_ns,model_id,prediction_0..`, times since the
/// pipeline started (receive and emit) or as the exchange stamped them.
pub struct CsvSink<W: Write> {
    out: BufWriter<W>,
    file: Option<fn(W) -> io::Result<()>>,
    shadow: bool,
}

fn header(outputs: usize, shadow: bool) -> String {
    let mut h = String::from("seq,event_id,exchange_time_ns,receive_ns,emit_ns,model_id");
    for i in 0..outputs {
        h.push_str(&format!(",prediction_{i}"));
    }
    if shadow {
        h.push_str(",shadow_0");
    }
    h
}

impl CsvSink<AtomicFile> {
    /// A CSV file at `path` with `outputs` prediction columns (and the shadow model's, with `shadow`), which
    /// appears when the sink finishes.
    pub fn create(path: &Path, outputs: usize, shadow: bool) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, AtomicFile::create(path)?);
        writeln!(out, "{}", header(outputs, shadow))?;
        Ok(CsvSink { out, file: Some(AtomicFile::commit), shadow })
    }
}

impl CsvSink<io::Stdout> {
    /// CSV on stdout.
    pub fn stdout(outputs: usize, shadow: bool) -> io::Result<Self> {
        let mut out = BufWriter::new(io::stdout());
        writeln!(out, "{}", header(outputs, shadow))?;
        Ok(CsvSink { out, file: None, shadow })
    }
}

impl<W: Write + Send> SignalSink for CsvSink<W> {
    fn write(&mut self, s: &Signal, time: &TimeBase) -> io::Result<()> {
        write!(
            self.out,
            "{},{},{},{},{},{}",
            s.seq,
            s.event_id,
            s.exchange_time_ns,
            time.ns(s.receive_ticks),
            time.ns(s.emit_ticks),
            s.model_id
        )?;
        for p in &s.prediction[..s.outputs as usize] {
            write!(self.out, ",{p}")?;
        }
        if self.shadow {
            match s.shadow {
                Some(p) => write!(self.out, ",{p}")?,
                None => self.out.write_all(b",")?,
            }
        }
        self.out.write_all(b"\n")
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let CsvSink { out, file, .. } = *self;
        let inner = out.into_inner().map_err(|e| e.into_error())?;
        match file {
            Some(commit) => commit(inner),
            None => Ok(()),
        }
    }
}
