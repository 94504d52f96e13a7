//! Writing features as they are computed: CSV always, Parquet with the default `parquet` feature (through the arrow
//! and parquet crates, so polars, pandas, Spark and Ray read it as is).
//!
//! Columns, in order: `source` (input file name), `time_ns` (i64), `event_id` (u64: line in the input), every
//! feature of the schema (f32, named from [`crate::schema::FEATURE_NAMES`]), then, if labels were asked for,
//! `label_ret_bps` (f32, NaN where the horizon passes the end of the file) and `label_class` (i8: 0 down, 1 flat,
//! 2 up, -1 unknown).
//!
//! A [`FeatureWriter`] appends chunks of rows in order; each Parquet chunk is one row group. Encoding a chunk (the
//! costly part: formatting or column encoding and compression) is done by a [`ChunkEncoder`], which any thread can
//! hold, so that the threads that extract also encode while one writer appends. The bytes depend only on the
//! chunks, never on which thread encoded them. The file is written under a temporary name and renamed when
//! complete, so a reader never sees half a file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tachyon_io::AtomicFile;

use crate::batch::FeatureMatrix;
use crate::schema::{FEATURE_NAMES, NUM_FEATURES};

/// File formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Comma-separated text with a header row; floats in their shortest round-trip form.
    Csv,
    /// Apache Parquet (needs the `parquet` feature).
    Parquet,
}

impl OutputFormat {
    /// The format a file name asks for (`.csv`, `.parquet`/`.pq`).
    pub fn from_path(path: &Path) -> Option<OutputFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(OutputFormat::Csv),
            "parquet" | "pq" => Some(OutputFormat::Parquet),
            _ => None,
        }
    }

    /// The file name extension of the format.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
        }
    }
}

/// Parquet page compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Stored as encoded.
    None,
    /// Snappy: read by every Parquet reader, and as fast as LZ4 here for the same size.
    #[default]
    Snappy,
    /// LZ4 (raw; older readers, such as Spark before 3.4, cannot read it).
    Lz4,
    /// Zstandard, level 1: the smallest files, for more CPU.
    Zstd,
}

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputOptions {
    /// File format.
    pub format: OutputFormat,
    /// Whether the rows carry label columns.
    pub labels: bool,
    /// Parquet compression (CSV is written uncompressed).
    pub compression: Compression,
}

/// A failed write.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The file system refused.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The Parquet encoder refused, or this build has no Parquet support.
    #[error("{}: {message}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Column names of a file written with or without labels.
pub fn column_names(labels: bool) -> Vec<&'static str> {
    let mut names = vec!["source", "time_ns", "event_id"];
    names.extend_from_slice(&FEATURE_NAMES);
    if labels {
        names.extend_from_slice(&["label_ret_bps", "label_class"]);
    }
    names
}

fn source_name(m: &FeatureMatrix) -> String {
    m.source.file_name().map_or_else(|| m.source.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A chunk of rows in its file format, ready to append.
pub struct EncodedChunk {
    rows: u64,
    body: Body,
}

enum Body {
    Csv(Vec<u8>),
    #[cfg(feature = "parquet")]
    Parquet(Vec<parquet::arrow::arrow_writer::ArrowColumnChunk>),
}

impl EncodedChunk {
    /// Rows in the chunk.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

/// Encodes chunks of rows for one [`FeatureWriter`], on any thread.
pub struct ChunkEncoder {
    options: OutputOptions,
    /// The file, for errors, and its column encoder (a CSV file has none).
    #[cfg(feature = "parquet")]
    parquet: Option<(PathBuf, parquet_format::Encoder)>,
}

impl ChunkEncoder {
    /// Encodes `chunk` (its label columns present exactly when the writer's options say so).
    pub fn encode(&self, chunk: &FeatureMatrix) -> Result<EncodedChunk, OutputError> {
        assert_eq!(chunk.labels.is_some(), self.options.labels, "chunk and writer disagree on labels");
        let rows = chunk.rows() as u64;
        #[cfg(feature = "parquet")]
        if let Some((path, encoder)) = &self.parquet {
            let columns = encoder.encode(chunk).map_err(|e| parquet_error(path, &e))?;
            return Ok(EncodedChunk { rows, body: Body::Parquet(columns) });
        }
        Ok(EncodedChunk { rows, body: Body::Csv(encode_csv(chunk)) })
    }
}

/// Formats `chunk`'s rows as CSV lines (integers with itoa, floats in ryu's shortest round-trip form).
fn encode_csv(chunk: &FeatureMatrix) -> Vec<u8> {
    let source = source_name(chunk);
    let mut out = Vec::with_capacity(chunk.rows() * (NUM_FEATURES + 5) * 12);
    let (mut ints, mut floats) = (itoa::Buffer::new(), ryu::Buffer::new());
    for i in 0..chunk.rows() {
        out.extend_from_slice(source.as_bytes());
        out.push(b',');
        out.extend_from_slice(ints.format(chunk.time_ns[i]).as_bytes());
        out.push(b',');
        out.extend_from_slice(ints.format(chunk.event_id[i]).as_bytes());
        for &v in chunk.row(i) {
            out.push(b',');
            out.extend_from_slice(floats.format(v).as_bytes());
        }
        if let Some(l) = &chunk.labels {
            out.push(b',');
            out.extend_from_slice(floats.format(l.ret_bps[i]).as_bytes());
            out.push(b',');
            out.extend_from_slice(ints.format(l.class[i]).as_bytes());
        }
        out.push(b'\n');
    }
    out
}

enum Sink {
    Csv(BufWriter<AtomicFile>),
    #[cfg(feature = "parquet")]
    Parquet(parquet::file::writer::SerializedFileWriter<AtomicFile>),
}

/// A feature file being written: chunks appended in order, committed whole at the end (or removed if dropped).
pub struct FeatureWriter {
    path: PathBuf,
    sink: Sink,
    encoder: Arc<ChunkEncoder>,
    rows: u64,
}

impl FeatureWriter {
    /// Starts writing `path` (under a temporary name until [`FeatureWriter::commit`]).
    pub fn create(path: &Path, options: OutputOptions) -> Result<FeatureWriter, OutputError> {
        let io = |source| OutputError::Io { path: path.to_path_buf(), source };
        let file = AtomicFile::create(path).map_err(io)?;
        let (sink, encoder) = match options.format {
            OutputFormat::Csv => {
                let mut w = BufWriter::with_capacity(1 << 20, file);
                writeln!(w, "{}", column_names(options.labels).join(",")).map_err(io)?;
                let encoder = ChunkEncoder {
                    options,
                    #[cfg(feature = "parquet")]
                    parquet: None,
                };
                (Sink::Csv(w), encoder)
            }
            #[cfg(feature = "parquet")]
            OutputFormat::Parquet => {
                let (writer, parquet) = parquet_format::create(file, options).map_err(|e| parquet_error(path, &e))?;
                (Sink::Parquet(writer), ChunkEncoder { options, parquet: Some((path.to_path_buf(), parquet)) })
            }
            #[cfg(not(feature = "parquet"))]
            OutputFormat::Parquet => {
                return Err(OutputError::Parquet {
                    path: path.to_path_buf(),
                    message: "this build has no Parquet support (built without the `parquet` feature); write .csv"
                        .into(),
                })
            }
        };
        Ok(FeatureWriter { path: path.to_path_buf(), sink, encoder: Arc::new(encoder), rows: 0 })
    }

    /// The encoder of this file's chunks, for the threads that produce them.
    pub fn encoder(&self) -> Arc<ChunkEncoder> {
        Arc::clone(&self.encoder)
    }

    /// Appends an encoded chunk (a Parquet row group).
    pub fn append(&mut self, chunk: EncodedChunk) -> Result<(), OutputError> {
        self.rows += chunk.rows;
        match (&mut self.sink, chunk.body) {
            (Sink::Csv(w), Body::Csv(bytes)) => {
                w.write_all(&bytes).map_err(|source| OutputError::Io { path: self.path.clone(), source })
            }
            #[cfg(feature = "parquet")]
            (Sink::Parquet(writer), Body::Parquet(columns)) => {
                parquet_format::append(writer, columns).map_err(|e| parquet_error(&self.path, &e))
            }
            #[cfg(feature = "parquet")]
            _ => unreachable!("a chunk is encoded by its writer's encoder"),
        }
    }

    /// Encodes and appends `chunk` on this thread.
    pub fn write(&mut self, chunk: &FeatureMatrix) -> Result<(), OutputError> {
        let encoded = self.encoder.encode(chunk)?;
        self.append(encoded)
    }

    /// Finishes the file and renames it into place; returns the rows written.
    pub fn commit(self) -> Result<u64, OutputError> {
        let io = |source| OutputError::Io { path: self.path.clone(), source };
        let file = match self.sink {
            Sink::Csv(w) => w.into_inner().map_err(|e| io(e.into_error()))?,
            #[cfg(feature = "parquet")]
            Sink::Parquet(writer) => writer.into_inner().map_err(|e| parquet_error(&self.path, &e))?,
        };
        file.commit().map_err(io)?;
        Ok(self.rows)
    }
}

/// Writes `matrices` one after the other into `path`; returns the rows written.
pub fn write(path: &Path, options: OutputOptions, matrices: &[FeatureMatrix]) -> Result<u64, OutputError> {
    let mut writer = FeatureWriter::create(path, options)?;
    for m in matrices {
        writer.write(m)?;
    }
    writer.commit()
}

#[cfg(feature = "parquet")]
fn parquet_error(path: &Path, e: &dyn std::fmt::Display) -> OutputError {
    OutputError::Parquet { path: path.to_path_buf(), message: e.to_string() }
}

#[cfg(feature = "parquet")]
mod parquet_format {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float32Array, Int64Array, Int8Array, StringArray, UInt64Array};
    use arrow_schema::{DataType, Field, Schema, SchemaRef};
    use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
    use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
    use parquet::basic::{Compression as Codec, ZstdLevel};
    use parquet::errors::Result;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::ColumnPath;

    use super::{Compression, OutputOptions};
    use crate::batch::FeatureMatrix;
    use crate::schema::{FEATURE_NAMES, NUM_FEATURES};
    use tachyon_io::AtomicFile;

    /// Encodes chunks into column chunks of one file's schema.
    pub(super) struct Encoder {
        schema: SchemaRef,
        factory: ArrowRowGroupWriterFactory,
    }

    pub(super) fn create(
        file: AtomicFile,
        options: OutputOptions,
    ) -> Result<(SerializedFileWriter<AtomicFile>, Encoder)> {
        let mut fields = vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("time_ns", DataType::Int64, false),
            Field::new("event_id", DataType::UInt64, false),
        ];
        fields.extend(FEATURE_NAMES.iter().map(|n| Field::new(*n, DataType::Float32, false)));
        if options.labels {
            fields.push(Field::new("label_ret_bps", DataType::Float32, false));
            fields.push(Field::new("label_class", DataType::Int8, false));
        }
        let schema = Arc::new(Schema::new(fields));
        let codec = match options.compression {
            Compression::None => Codec::UNCOMPRESSED,
            Compression::Snappy => Codec::SNAPPY,
            Compression::Lz4 => Codec::LZ4_RAW,
            Compression::Zstd => Codec::ZSTD(ZstdLevel::try_new(1)?),
        };
        // Dictionaries pay for the repeated file name only: measured values rarely repeat, and building a
        // dictionary costs more than all the other encoding work. Min/max statistics are kept where readers
        // prune by them (time, event id), not for every feature.
        let mut builder = WriterProperties::builder()
            .set_compression(codec)
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(ColumnPath::from("source"), true)
            .set_statistics_enabled(EnabledStatistics::None);

        for column in ["time_ns", "event_id"] {
            builder = builder.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::Page);
        }
        let mut props = builder.build();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let props = Arc::new(props);
        let parquet_schema = ArrowSchemaConverter::new().with_coerce_types(props.coerce_types()).convert(&schema)?;
        let writer = SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), props)?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, Arc::clone(&schema));
        Ok((writer, Encoder { schema, factory }))
    }

    impl Encoder {
        pub(super) fn encode(&self, m: &FeatureMatrix) -> Result<Vec<ArrowColumnChunk>> {
            let n = m.rows();
            let source = super::source_name(m);
            let mut columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(source.as_str(), n))),
                Arc::new(Int64Array::from(m.time_ns.clone())),
                Arc::new(UInt64Array::from(m.event_id.clone())),
            ];
            columns.extend(transpose(&m.features, n).into_iter().map(|c| Arc::new(Float32Array::from(c)) as ArrayRef));
            if let Some(l) = &m.labels {
                columns.push(Arc::new(Float32Array::from(l.ret_bps.clone())));
                columns.push(Arc::new(Int8Array::from(l.class.clone())));
            }
            // Row group index 0: it only matters to encryption, which these files do not use.
            let mut writers = self.factory.create_column_writers(0)?;
            for ((writer, field), array) in writers.iter_mut().zip(self.schema.fields()).zip(&columns) {
                for leaf in compute_leaves(field, array)? {
                    writer.write(&leaf)?;
                }
            }
            writers.into_iter().map(|w| w.close()).collect()
        }
    }

    /// The `NUM_FEATURES` columns of `rows` row-major rows, in blocks of rows that stay in L1.
    fn transpose(features: &[f32], rows: usize) -> Vec<Vec<f32>> {
        const BLOCK: usize = 64;
        let mut columns: Vec<Vec<f32>> = (0..NUM_FEATURES).map(|_| Vec::with_capacity(rows)).collect();
        for block in features[..rows * NUM_FEATURES].chunks(BLOCK * NUM_FEATURES) {
            for (j, column) in columns.iter_mut().enumerate() {
                column.extend(block.chunks_exact(NUM_FEATURES).map(|row| row[j]));
            }
        }
        columns
    }

    pub(super) fn append(writer: &mut SerializedFileWriter<AtomicFile>, columns: Vec<ArrowColumnChunk>) -> Result<()> {
        let mut row_group = writer.next_row_group()?;
        for column in columns {
            column.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }
}

#[cfg(all(test, feature = "parquet"))]
mod tests {
    use super::*;
    use crate::labels::Labels;

    fn sample(rows: usize) -> FeatureMatrix {
        FeatureMatrix {
            source: PathBuf::from("/x/day_message_1.csv"),
            time_ns: (0..rows as i64).map(|i| 1000 + i).collect(),
            event_id: (0..rows as u64).map(|i| i + 2).collect(),
            mid: vec![1.0; rows],
            features: (0..rows * NUM_FEATURES).map(|i| i as f32 * 0.37 - 5.0).collect(),
            labels: Some(Labels {
                ret_bps: (0..rows).map(|i| if i < 30 { i as f32 } else { f32::NAN }).collect(),
                class: (0..rows).map(|i| if i < 30 { (i % 3) as i8 } else { -1 }).collect(),
            }),
            ..FeatureMatrix::default()
        }
    }

    #[test]
    fn parquet_round_trips_every_value_and_names_the_columns() {
        use arrow_array::{Array, Float32Array, Int64Array, Int8Array, StringArray, UInt64Array};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        let rows = 37;
        let m = sample(rows);
        for compression in [Compression::None, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let path = std::env::temp_dir().join(format!("tachyon-output-{}.parquet", std::process::id()));
            let options = OutputOptions { format: OutputFormat::Parquet, labels: true, compression };
            assert_eq!(write(&path, options, &[m.clone(), m.clone()]).unwrap(), 2 * rows as u64);
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap().build().unwrap();
            let mut seen = 0;
            for batch in reader {
                let batch = batch.unwrap();
                let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
                assert_eq!(names, column_names(true));
                let col = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
                let source = col("source");
                let source = source.as_any().downcast_ref::<StringArray>().unwrap();
                let time = col("time_ns");
                let time = time.as_any().downcast_ref::<Int64Array>().unwrap();
                let id = col("event_id");
                let id = id.as_any().downcast_ref::<UInt64Array>().unwrap();
                let class = col("label_class");
                let class = class.as_any().downcast_ref::<Int8Array>().unwrap();
                for r in 0..batch.num_rows() {
                    let i = (seen + r) % rows;
                    assert_eq!(source.value(r), "day_message_1.csv");
                    assert_eq!(time.value(r), m.time_ns[i]);
                    assert_eq!(id.value(r), m.event_id[i]);
                    assert_eq!(class.value(r), m.labels.as_ref().unwrap().class[i]);
                    for (j, name) in FEATURE_NAMES.iter().enumerate() {
                        let c = col(name);
                        let v = c.as_any().downcast_ref::<Float32Array>().unwrap().value(r);
                        assert_eq!(v.to_bits(), m.row(i)[j].to_bits());
                    }
                }
                seen += batch.num_rows();
            }
            assert_eq!(seen, 2 * rows, "{compression:?}");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let leftovers = std::fs::read_dir(path.parent().unwrap())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&format!("{name}.tmp")))
                .count();
            assert_eq!(leftovers, 0, "the temporary file is renamed away");
        }
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_whole_in_either_format() {
        let dir = std::env::temp_dir().join(format!("tachyon-output-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for format in [OutputFormat::Parquet, OutputFormat::Csv] {
            let path = dir.join(format!("f.{}", format.extension()));
            let options = OutputOptions { format, labels: true, compression: Compression::Snappy };
            write(&path, options, &[sample(5)]).unwrap();
            let old = std::fs::read(&path).unwrap();
            let new = [sample(37), sample(37)];
            let failed = tachyon_testkit::fail_each_operation(
                || write(&path, options, &new).map(drop),
                || {
                    assert_eq!(std::fs::read(&path).unwrap(), old, "{format:?}");
                    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "{format:?}: no temporary file left");
                },
            );
            assert!(failed.len() >= 4, "{format:?}: {failed:?}");
            assert_ne!(std::fs::read(&path).unwrap(), old);
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn csv_floats_round_trip_exactly() {
        let m = sample(40);
        let text = String::from_utf8(encode_csv(&m)).unwrap();
        for (i, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 3 + NUM_FEATURES + 2);
            assert_eq!(fields[1].parse::<i64>().unwrap(), m.time_ns[i]);
            for (j, f) in fields[3..3 + NUM_FEATURES].iter().enumerate() {
                assert_eq!(f.parse::<f32>().unwrap().to_bits(), m.row(i)[j].to_bits(), "{f}");
            }
            let label: f32 = fields[3 + NUM_FEATURES].parse().unwrap();
            assert!(label.to_bits() == m.labels.as_ref().unwrap().ret_bps[i].to_bits() || label.is_nan());
        }
    }
}
