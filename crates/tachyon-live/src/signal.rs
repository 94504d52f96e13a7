//! Signals and where they go: a CSV or Parquet file (written atomically: complete or absent), CSV on stdout, or
//! nowhere (for measuring the pipeline alone).

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

#[cfg(feature = "parquet")]
pub use parquet_sink::ParquetSink;

/// Signals as Parquet: the CSV's columns, typed (`seq`, `event_id` u64; `exchange_time_ns`, `receive_ns`,
/// `emit_ns` i64; `model_id` u32; `prediction_i` and `shadow_0` f32, a missing shadow null), in row groups of
/// [`ROW_GROUP`](parquet_sink::ROW_GROUP) signals, Snappy-compressed; the file appears whole when the sink
/// finishes.
#[cfg(feature = "parquet")]
mod parquet_sink {
    use std::io;
    use std::path::Path;
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch, UInt32Array, UInt64Array};
    use arrow_schema::{DataType, Field, Schema, SchemaRef};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    use tachyon_io::AtomicFile;

    use super::{header, Signal, SignalSink, TimeBase};

    /// Signals per row group: a few MB of columns, written by the io thread between batches of signals.
    pub const ROW_GROUP: usize = 65_536;

    /// See the module doc.
    pub struct ParquetSink {
        writer: ArrowWriter<AtomicFile>,
        schema: SchemaRef,
        columns: Columns,
    }

    /// The signals of the row group being filled.
    #[derive(Default)]
    struct Columns {
        seq: Vec<u64>,
        event_id: Vec<u64>,
        exchange_time_ns: Vec<i64>,
        receive_ns: Vec<i64>,
        emit_ns: Vec<i64>,
        model_id: Vec<u32>,
        predictions: Vec<Vec<f32>>,
        shadow: Option<Vec<Option<f32>>>,
    }

    fn to_io(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
        io::Error::other(e)
    }

    impl ParquetSink {
        /// A Parquet file at `path` with `outputs` prediction columns (and the shadow model's, with `shadow`),
        /// which appears when the sink finishes.
        pub fn create(path: &Path, outputs: usize, shadow: bool) -> io::Result<ParquetSink> {
            let fields: Vec<Field> = header(outputs, shadow)
                .split(',')
                .map(|name| {
                    let kind = match name {
                        "seq" | "event_id" => DataType::UInt64,
                        "model_id" => DataType::UInt32,
                        n if n.ends_with("_ns") => DataType::Int64,
                        _ => DataType::Float32,
                    };
                    Field::new(name, kind, name == "shadow_0")
                })
                .collect();
            let schema = Arc::new(Schema::new(fields));
            let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
            let writer =
                ArrowWriter::try_new(AtomicFile::create(path)?, Arc::clone(&schema), Some(props)).map_err(to_io)?;
            let columns =
                Columns { predictions: vec![Vec::new(); outputs], shadow: shadow.then(Vec::new), ..Columns::default() };
            Ok(ParquetSink { writer, schema, columns })
        }

        /// Writes the signals held as one row group.
        fn flush(&mut self) -> io::Result<()> {
            let c = &mut self.columns;
            if c.seq.is_empty() {
                return Ok(());
            }
            let mut arrays: Vec<ArrayRef> = vec![
                Arc::new(UInt64Array::from(std::mem::take(&mut c.seq))),
                Arc::new(UInt64Array::from(std::mem::take(&mut c.event_id))),
                Arc::new(Int64Array::from(std::mem::take(&mut c.exchange_time_ns))),
                Arc::new(Int64Array::from(std::mem::take(&mut c.receive_ns))),
                Arc::new(Int64Array::from(std::mem::take(&mut c.emit_ns))),
                Arc::new(UInt32Array::from(std::mem::take(&mut c.model_id))),
            ];
            arrays
                .extend(c.predictions.iter_mut().map(|p| Arc::new(Float32Array::from(std::mem::take(p))) as ArrayRef));
            if let Some(shadow) = &mut c.shadow {
                arrays.push(Arc::new(Float32Array::from(std::mem::take(shadow))));
            }
            let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(to_io)?;
            self.writer.write(&batch).map_err(to_io)?;
            self.writer.flush().map_err(to_io)
        }
    }

    impl SignalSink for ParquetSink {
        fn write(&mut self, s: &Signal, time: &TimeBase) -> io::Result<()> {
            let c = &mut self.columns;
            c.seq.push(s.seq);
            c.event_id.push(s.event_id);
            c.exchange_time_ns.push(s.exchange_time_ns);
            c.receive_ns.push(time.ns(s.receive_ticks) as i64);
            c.emit_ns.push(time.ns(s.emit_ticks) as i64);
            c.model_id.push(s.model_id);
            for (column, &p) in c.predictions.iter_mut().zip(&s.prediction) {
                column.push(p);
            }
            if let Some(shadow) = &mut c.shadow {
                shadow.push(s.shadow);
            }
            if c.seq.len() >= ROW_GROUP {
                self.flush()?;
            }
            Ok(())
        }

        fn finish(mut self: Box<Self>) -> io::Result<()> {
            self.flush()?;
            self.writer.into_inner().map_err(to_io)?.commit()
        }
    }
}

#[cfg(all(test, feature = "parquet"))]
mod parquet_tests {
    use arrow_array::{Array, Float32Array, Int64Array, UInt32Array, UInt64Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    #[test]
    fn parquet_signals_read_back_as_written_and_appear_whole() {
        let dir = std::env::temp_dir().join(format!("tachyon-signals-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.parquet");
        let time = TimeBase { origin: 100, ns_per_tick: 0.5 };
        let n = parquet_sink::ROW_GROUP + 7; // two row groups
        let mut sink: Box<dyn SignalSink> = Box::new(ParquetSink::create(&path, 2, true).unwrap());
        for i in 0..n as u64 {
            let signal = Signal {
                seq: i,
                event_id: i + 1,
                exchange_time_ns: -(i as i64),
                receive_ticks: 100 + 2 * i,
                emit_ticks: 104 + 2 * i,
                model_id: 3,
                outputs: 2,
                prediction: [i as f32, 0.5, 9.0, 9.0],
                shadow: (i % 2 == 0).then_some(-1.0),
            };
            sink.write(&signal, &time).unwrap();
        }
        assert!(!path.exists(), "the file appears only when finished");
        sink.finish().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
        let names: Vec<String> = reader.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names.join(","), header(2, true));
        let mut rows = 0u64;
        for batch in reader.build().unwrap() {
            let batch = batch.unwrap();
            let column = |i: usize| batch.column(i).clone();
            let seq = column(0).as_any().downcast_ref::<UInt64Array>().unwrap().clone();
            let emit = column(4).as_any().downcast_ref::<Int64Array>().unwrap().clone();
            let model = column(5).as_any().downcast_ref::<UInt32Array>().unwrap().clone();
            let p0 = column(6).as_any().downcast_ref::<Float32Array>().unwrap().clone();
            let shadow = column(8).as_any().downcast_ref::<Float32Array>().unwrap().clone();
            for r in 0..batch.num_rows() {
                let i = seq.value(r);
                assert_eq!(i, rows);
                assert_eq!((emit.value(r), model.value(r), p0.value(r)), (2 + i as i64, 3, i as f32));
                assert_eq!(shadow.is_null(r), i % 2 == 1);
                rows += 1;
            }
        }
        assert_eq!(rows, n as u64);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
