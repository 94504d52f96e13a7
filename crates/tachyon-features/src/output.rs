//! Writing feature matrices: CSV always, Parquet with the default `parquet` feature (through the arrow and
//! parquet crates, so polars, pandas, Spark and Ray read it as is).
//!
//! Columns, in order: `source` (input file name), `time_ns` (i64), `event_id` (u64: line in the input), every
//! feature of the schema (f32, named from [`crate::schema::FEATURE_NAMES`]), then, if labels were asked for,
//! `label_ret_bps` (f32, NaN where the horizon passes the end of the file) and `label_class` (i8: 0 down, 1 flat,
//! 2 up, -1 unknown). The file is written under a temporary name and renamed when complete, so a reader never
//! sees half a file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tachyon_io::AtomicFile;

use crate::batch::FeatureMatrix;
use crate::schema::FEATURE_NAMES;

/// File formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Comma-separated text with a header row; floats in their shortest exact form.
    Csv,
    /// Apache Parquet, snappy-compressed (needs the `parquet` feature).
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

/// Writes `matrices` one after the other into `path`; returns the rows written. Labels are written if the
/// first matrix has them (all must agree).
pub fn write(path: &Path, format: OutputFormat, matrices: &[FeatureMatrix]) -> Result<u64, OutputError> {
    let labels = matrices.first().is_some_and(|m| m.labels.is_some());
    assert!(matrices.iter().all(|m| m.labels.is_some() == labels), "all matrices must agree on labels");
    let io = |source| OutputError::Io { path: path.to_path_buf(), source };
    let mut file = AtomicFile::create(path).map_err(io)?;
    let rows = match format {
        OutputFormat::Csv => write_csv(&mut file, matrices, labels).map_err(io)?,
        OutputFormat::Parquet => write_parquet(&mut file, matrices, labels, path)?,
    };
    file.commit().map_err(io)?;
    Ok(rows)
}

fn write_csv(file: &mut AtomicFile, matrices: &[FeatureMatrix], labels: bool) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, file);
    writeln!(w, "{}", column_names(labels).join(","))?;
    let mut rows = 0;
    for m in matrices {
        let source = source_name(m);
        for i in 0..m.rows() {
            write!(w, "{},{},{}", source, m.time_ns[i], m.event_id[i])?;
            for v in m.row(i) {
                write!(w, ",{v}")?;
            }
            if let Some(l) = &m.labels {
                write!(w, ",{},{}", l.ret_bps[i], l.class[i])?;
            }
            w.write_all(b"\n")?;
            rows += 1;
        }
    }
    w.flush()?;
    Ok(rows)
}

#[cfg(feature = "parquet")]
fn write_parquet(
    file: &mut AtomicFile,
    matrices: &[FeatureMatrix],
    labels: bool,
    path: &Path,
) -> Result<u64, OutputError> {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float32Array, Int64Array, Int8Array, RecordBatch, StringArray, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;

    let error = |e: &dyn std::fmt::Display| OutputError::Parquet { path: path.to_path_buf(), message: e.to_string() };
    let mut fields = vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("time_ns", DataType::Int64, false),
        Field::new("event_id", DataType::UInt64, false),
    ];
    fields.extend(FEATURE_NAMES.iter().map(|n| Field::new(*n, DataType::Float32, false)));
    if labels {
        fields.push(Field::new("label_ret_bps", DataType::Float32, false));
        fields.push(Field::new("label_class", DataType::Int8, false));
    }
    let schema = Arc::new(Schema::new(fields));
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| error(&e))?;
    let mut rows = 0u64;
    for m in matrices {
        let n = m.rows();
        let source = source_name(m);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(source.as_str(), n))),
            Arc::new(Int64Array::from(m.time_ns.clone())),
            Arc::new(UInt64Array::from(m.event_id.clone())),
        ];
        use crate::schema::NUM_FEATURES;
        for j in 0..NUM_FEATURES {
            columns.push(Arc::new(Float32Array::from_iter_values((0..n).map(|i| m.features[i * NUM_FEATURES + j]))));
        }
        if let Some(l) = &m.labels {
            columns.push(Arc::new(Float32Array::from(l.ret_bps.clone())));
            columns.push(Arc::new(Int8Array::from(l.class.clone())));
        }
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| error(&e))?;
        writer.write(&batch).map_err(|e| error(&e))?;
        rows += n as u64;
    }
    writer.close().map_err(|e| error(&e))?;
    Ok(rows)
}

#[cfg(not(feature = "parquet"))]
fn write_parquet(_: &mut AtomicFile, _: &[FeatureMatrix], _: bool, path: &Path) -> Result<u64, OutputError> {
    Err(OutputError::Parquet {
        path: path.to_path_buf(),
        message: "this build has no Parquet support (built without the `parquet` feature); write .csv".into(),
    })
}

#[cfg(all(test, feature = "parquet"))]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::schema::NUM_FEATURES;

    #[test]
    fn parquet_round_trips_every_value_and_names_the_columns() {
        use arrow_array::{Array, Float32Array, Int64Array, Int8Array, StringArray, UInt64Array};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        let rows = 37;
        let m = FeatureMatrix {
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
        };
        let path = std::env::temp_dir().join(format!("tachyon-output-{}.parquet", std::process::id()));
        assert_eq!(write(&path, OutputFormat::Parquet, &[m.clone(), m.clone()]).unwrap(), 2 * rows as u64);
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
        assert_eq!(seen, 2 * rows);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let leftovers = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&format!("{name}.tmp")))
            .count();
        assert_eq!(leftovers, 0, "the temporary file is renamed away");
    }
}
