//! Labelled rows, split in time order with an embargo, and standardisation fitted on the training rows.

use tachyon_features::{FeatureMatrix, NUM_FEATURES};

/// Rows of features with their labels, in time order within each source file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Row-major `rows x NUM_FEATURES`.
    pub x: Vec<f32>,
    /// Regression label: future mid change, basis points.
    pub y: Vec<f32>,
    /// Class label of the same change: 0 down, 1 flat, 2 up (the flat band is the label spec's threshold).
    pub class: Vec<i8>,
}

impl Dataset {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.y.len()
    }

    /// Features of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * NUM_FEATURES..(i + 1) * NUM_FEATURES]
    }

    /// Every labelled row of `matrices` (rows whose horizon passes the end of their file are left out); the
    /// matrices must carry labels.
    pub fn labelled(matrices: &[FeatureMatrix]) -> Dataset {
        let mut data = Dataset::default();
        for m in matrices {
            data.push_rows(m, 0..m.rows());
        }
        data
    }

    fn push_rows(&mut self, m: &FeatureMatrix, range: std::ops::Range<usize>) {
        let labels = m.labels.as_ref().unwrap_or_else(|| panic!("{}: no labels", m.source.display()));
        for i in range {
            let y = labels.ret_bps[i];
            if y.is_finite() {
                self.x.extend_from_slice(m.row(i));
                self.y.push(y);
                self.class.push(labels.class[i]);
            }
        }
    }
}

/// Fractions of each file's rows for training and validation (the rest is test), and the gap left out at each
/// boundary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitSpec {
    /// Leading fraction of each file for training.
    pub train: f64,
    /// Next fraction for validation.
    pub validation: f64,
    /// Rows dropped after the training rows and after the validation rows. At least the label horizon in
    /// updates, so that no training label looks into validation rows (and none of those into test rows).
    pub embargo_rows: usize,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec { train: 0.6, validation: 0.2, embargo_rows: 100 }
    }
}

/// Train, validation and test rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows.
    pub validation: Dataset,
    /// Test rows (out of sample).
    pub test: Dataset,
}

impl Split {
    /// Splits each file in time order: `[train | embargo | validation | embargo | test]`; rows without a label
    /// (horizon past the end of the file) are left out. Files must carry labels.
    pub fn new(matrices: &[FeatureMatrix], spec: &SplitSpec) -> Split {
        assert!(spec.train > 0.0 && spec.validation >= 0.0 && spec.train + spec.validation < 1.0, "bad split {spec:?}");
        let mut split = Split::default();
        for m in matrices {
            assert!(m.labels.is_some(), "{}: no labels", m.source.display());
            let n = m.rows();
            let train_end = (n as f64 * spec.train) as usize;
            let val_start = (train_end + spec.embargo_rows).min(n);
            let val_end = (val_start + (n as f64 * spec.validation) as usize).min(n);
            let test_start = (val_end + spec.embargo_rows).min(n);
            split.train.push_rows(m, 0..train_end);
            split.validation.push_rows(m, val_start..val_end);
            split.test.push_rows(m, test_start..n);
        }
        split
    }
}

impl Split {
    /// Sets the inputs `excluded` flags to 0 on every row of every part: constant in training, they get zero
    /// weights from every fit (the linear solvers' exact solutions, and the MLP, which starts their first-layer
    /// weights at zero and never gets a gradient for them), so no value they take when serving can move a
    /// prediction.
    pub fn exclude(&mut self, excluded: &[bool]) {
        for part in [&mut self.train, &mut self.validation, &mut self.test] {
            let width = excluded.len();
            for row in part.x.chunks_exact_mut(width) {
                for (v, &e) in row.iter_mut().zip(excluded) {
                    if e {
                        *v = 0.0;
                    }
                }
            }
        }
    }
}

/// What a model was fitted on: each source file's name and row count, and the split rule, so that a later
/// evaluation can tell the rows the model saw (training and validation parts) from the rows it never saw.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSources {
    /// File name (without its folder) and rows read, per source.
    pub files: Vec<(String, u64)>,
    /// The split each file was cut by.
    pub spec: SplitSpec,
}

/// Text entry of the model file holding [`TrainingSources::files`]: one `name<TAB>rows` line per file.
const SOURCES_KEY: &str = "train.sources";
/// Array of the model file holding the split rule: train fraction, validation fraction, embargo rows.
const SPLIT_KEY: &str = "meta.split";

impl TrainingSources {
    /// The sources of `matrices`, split by `spec`.
    pub fn of(matrices: &[FeatureMatrix], spec: &SplitSpec) -> TrainingSources {
        let files = matrices.iter().map(|m| (file_name(m), m.rows_read)).collect();
        TrainingSources { files, spec: *spec }
    }

    /// Records the sources in a model file.
    pub fn record(&self, model: &mut tachyon_model::ModelFile) {
        let lines: Vec<String> = self.files.iter().map(|(name, rows)| format!("{name}\t{rows}")).collect();
        model.text.push((SOURCES_KEY.into(), lines.join("\n")));
        let spec = &self.spec;
        model.arrays.push((SPLIT_KEY.into(), vec![spec.train, spec.validation, spec.embargo_rows as f64]));
    }

    /// The sources a model file records (`None` for files that record none, such as version 1 files).
    pub fn from_model(model: &tachyon_model::ModelFile) -> Option<TrainingSources> {
        let files = model
            .text(SOURCES_KEY)?
            .lines()
            .map(|line| {
                let (name, rows) = line.rsplit_once('\t')?;
                Some((name.to_string(), rows.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        let &[train, validation, embargo] = model.array(SPLIT_KEY)? else { return None };
        let valid = train > 0.0 && validation >= 0.0 && train + validation < 1.0 && embargo >= 0.0;
        valid
            .then_some(TrainingSources { files, spec: SplitSpec { train, validation, embargo_rows: embargo as usize } })
    }

    /// Whether `m` is one of the sources (same file name and row count).
    pub fn contains(&self, m: &FeatureMatrix) -> bool {
        let name = file_name(m);
        self.files.iter().any(|(n, rows)| *n == name && *rows == m.rows_read)
    }
}

fn file_name(m: &FeatureMatrix) -> String {
    m.source.file_name().map_or_else(|| m.source.display().to_string(), |n| n.to_string_lossy().into_owned())
}

impl Dataset {
    /// Appends every row of `other`.
    pub fn append(&mut self, other: &Dataset) {
        self.x.extend_from_slice(&other.x);
        self.y.extend_from_slice(&other.y);
        self.class.extend_from_slice(&other.class);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_features::Labels;

    fn matrix(n: usize) -> FeatureMatrix {
        FeatureMatrix {
            time_ns: (0..n as i64).collect(),
            event_id: (0..n as u64).collect(),
            mid: vec![1.0; n],
            features: (0..n * NUM_FEATURES).map(|i| (i / NUM_FEATURES) as f32).collect(),
            labels: Some(Labels {
                ret_bps: (0..n).map(|i| if i + 3 < n { i as f32 } else { f32::NAN }).collect(),
                class: (0..n).map(|i| if i + 3 < n { (i % 3) as i8 } else { Labels::UNKNOWN }).collect(),
            }),
            ..FeatureMatrix::default()
        }
    }

    #[test]
    fn split_keeps_time_order_and_leaves_the_embargo_out() {
        let m = matrix(1000);
        let s = Split::new(&[m], &SplitSpec { train: 0.6, validation: 0.2, embargo_rows: 50 });
        // Feature 0 of row i is i: train 0..600, validation 650..850, test 900..997 (last 3 unlabelled).
        assert_eq!(s.train.rows(), 600);
        assert_eq!(s.train.row(599)[0], 599.0);
        assert_eq!(s.validation.row(0)[0], 650.0);
        assert_eq!(s.validation.rows(), 200);
        assert_eq!(s.test.row(0)[0], 900.0);
        assert_eq!(s.test.rows(), 97);
        assert!(s.train.y.iter().all(|&y| y < 650.0 - 50.0));
        // Class labels travel with their rows.
        assert_eq!(s.validation.class[..3], [650 % 3, 651 % 3, 652 % 3].map(|c| c as i8));
        assert_eq!(s.test.class.len(), 97);
        let all = Dataset::labelled(&[matrix(10)]);
        assert_eq!((all.rows(), all.class.len(), all.y[6]), (7, 7, 6.0));
    }

    #[test]
    fn training_sources_round_trip_through_a_model_file_and_recognise_their_files() {
        let mut a = matrix(10);
        a.source = "/data/AAPL_message_1.csv".into();
        a.rows_read = 10;
        let mut b = a.clone();
        b.source = "/elsewhere/GOOG_message_10.csv.gz".into();
        let spec = SplitSpec { train: 0.5, validation: 0.25, embargo_rows: 3 };
        let sources = TrainingSources::of(&[a.clone(), b.clone()], &spec);
        let mut model = tachyon_model::ModelFile {
            kind: tachyon_model::ModelKind::Ridge,
            schema_hash: 1,
            features: 0,
            feature_names: vec![],
            text: vec![],
            arrays: vec![],
        };
        assert_eq!(TrainingSources::from_model(&model), None);
        sources.record(&mut model);
        let back = TrainingSources::from_model(&tachyon_model::ModelFile::from_bytes(&model.to_bytes()).unwrap());
        assert_eq!(back.as_ref(), Some(&sources));
        // The same file in another folder is recognised; a file of another length is not.
        let mut moved = a.clone();
        moved.source = "/copy/AAPL_message_1.csv".into();
        assert!(sources.contains(&moved));
        a.rows_read = 11;
        assert!(!sources.contains(&a));
    }
}
