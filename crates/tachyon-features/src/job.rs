//! Extraction at scale: many inputs in, features out, in memory bounded by the threads and the chunk size rather
//! than by the inputs.
//!
//! Worker threads take inputs in order (one input is one stream: a symbol-day) and extract them in chunks
//! ([`extract_chunks`]); each chunk is encoded by the worker that made it ([`ChunkEncoder`]) and goes either to
//! the input's own file (`Destination::Dir`) or, through a small bounded queue per input, to the one writer of a
//! combined file that appends inputs in input order (`Destination::File`). A worker runs at most a few chunks ahead
//! of the writer, so memory is about `threads x (queue + 2) x chunk` whatever the number and size of the inputs;
//! the bytes written depend only on the inputs and the options, never on the thread count.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tachyon_market::MarketError;

use crate::batch::{extract_chunks, ExtractCounts, ExtractOptions, FeatureMatrix, Input};
use crate::output::{ChunkEncoder, EncodedChunk, FeatureWriter, OutputError, OutputOptions};

/// Rows per chunk (and Parquet row group) by default: as fast as larger chunks (the per-row-group cost is
/// amortised), and small enough that a chunk of 44 features is about 3.4 MB, so that memory stays small next to
/// the process itself.
pub const DEFAULT_CHUNK_ROWS: usize = 1 << 14;

/// Encoded chunks an input may have waiting for the combined file's writer.
const QUEUED_CHUNKS: usize = 2;

/// Where the features go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// One file holding every input's rows, inputs in the order given.
    File(PathBuf),
    /// One file per input in this folder, named after the input (`<input name>.<format>`).
    Dir(PathBuf),
}

/// How to run a job.
#[derive(Clone, Copy, Debug)]
pub struct JobOptions {
    /// How each input is extracted.
    pub extract: ExtractOptions,
    /// What is written.
    pub output: OutputOptions,
    /// Rows per chunk (Parquet row group).
    pub chunk_rows: usize,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// `Destination::Dir` only: leave inputs whose output file exists (written whole, so complete) as they are.
    pub resume: bool,
}

/// What happened to one input.
#[derive(Debug)]
pub enum InputOutcome {
    /// Extracted and written.
    Done(ExtractCounts),
    /// Its output existed (`resume`): not read again.
    Resumed,
    /// Failed; in a combined file this stops the job.
    Failed(JobError),
}

/// One input's report.
#[derive(Debug)]
pub struct InputReport {
    /// The input file named by the user.
    pub input: PathBuf,
    /// Its output file (`Destination::Dir`), or the combined file.
    pub output: PathBuf,
    /// What happened.
    pub outcome: InputOutcome,
}

/// Where a job's time went, summed over the threads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Reading, parsing, the book, features and labels.
    pub extract: Duration,
    /// Encoding and compressing chunks.
    pub encode: Duration,
    /// Appending encoded chunks to files and finishing them (in a combined file: the writer's time).
    pub write: Duration,
}

impl std::ops::AddAssign for StageTimes {
    fn add_assign(&mut self, other: StageTimes) {
        self.extract += other.extract;
        self.encode += other.encode;
        self.write += other.write;
    }
}

/// A finished job.
#[derive(Debug, Default)]
pub struct JobReport {
    /// Every input, in input order.
    pub inputs: Vec<InputReport>,
    /// Rows written by this run.
    pub rows: u64,
    /// Updates read by this run.
    pub updates: u64,
    /// Bytes of the inputs read by this run (compressed size where compressed).
    pub input_bytes: u64,
    /// Stage times.
    pub times: StageTimes,
    /// Stale temporary files of an interrupted run removed before writing.
    pub stale_removed: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl JobReport {
    /// Inputs that failed.
    pub fn failures(&self) -> impl Iterator<Item = &InputReport> {
        self.inputs.iter().filter(|r| matches!(r.outcome, InputOutcome::Failed(_)))
    }
}

/// Why a job or an input failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// An input could not be read.
    #[error(transparent)]
    Market(#[from] MarketError),
    /// An output could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The job cannot run as asked.
    #[error("{0}")]
    Invalid(String),
    /// Another input failed and the combined file was abandoned.
    #[error("stopped: another input failed")]
    Stopped,
}

/// Progress, reported by the workers as chunks and inputs complete: rows written, and bytes of input read (which
/// add up to the inputs' sizes once every input is finished or skipped).
pub trait Progress: Sync {
    /// `rows` more rows were written.
    fn rows(&self, rows: u64);
    /// `bytes` more bytes of input were read (or skipped).
    fn bytes(&self, bytes: u64);
}

/// No progress display.
pub struct NoProgress;

impl Progress for NoProgress {
    fn rows(&self, _: u64) {}
    fn bytes(&self, _: u64) {}
}

/// Bytes of an input's files (0 for a file that cannot be read: opening it will report why).
pub fn input_bytes(input: &Input) -> u64 {
    input.files().iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum()
}

/// The output file of `input` in `dir`: its file name without `.gz` and `.csv`, with the format's extension.
pub fn output_path(dir: &Path, input: &Input, options: &OutputOptions) -> PathBuf {
    let name = input.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let stem = stem.strip_suffix(".csv").unwrap_or(stem);
    dir.join(format!("{stem}.{}", options.format.extension()))
}

/// Runs the job: every input extracted and written to `destination`.
///
/// With `Destination::Dir`, an input that fails is reported and the others go on; with `Destination::File`, the
/// first failure stops the job and the combined file is not written (`Err`).
pub fn run(
    inputs: &[Input],
    destination: &Destination,
    options: &JobOptions,
    progress: &dyn Progress,
) -> Result<JobReport, JobError> {
    let start = Instant::now();
    let mut report = match destination {
        Destination::Dir(dir) => run_per_input(inputs, dir, options, progress)?,
        Destination::File(path) => {
            if options.resume {
                return Err(JobError::Invalid(
                    "resuming needs one output file per input: give --out a folder (ending in /)".into(),
                ));
            }
            run_combined(inputs, path, options, progress)?
        }
    };
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Extracts `input` chunk by chunk, encoding each with `encoder` and handing it to `sink`; `times` gets the
/// time of each stage (the sink's as writing). `pipelined`: the input is a two-stage pipeline, this thread
/// extracting while a second one encodes and writes the chunk before (its buffers come back for reuse). The
/// input's bytes are reported to `progress` as they are read, all of them by the end, whatever happens.
fn extract_encoded(
    input: &Input,
    pipelined: bool,
    options: &JobOptions,
    encoder: &ChunkEncoder,
    times: &Mutex<StageTimes>,
    progress: &dyn Progress,
    sink: impl FnMut(EncodedChunk) -> Result<(), JobError> + Send,
) -> Result<ExtractCounts, JobError> {
    let mut reported = 0;
    let result = extract_encoded_reporting(input, pipelined, options, encoder, times, progress, &mut reported, sink);
    progress.bytes(input_bytes(input).saturating_sub(reported));
    result
}

/// [`extract_encoded`], adding the bytes it reports to `reported`.
#[allow(clippy::too_many_arguments)]
fn extract_encoded_reporting(
    input: &Input,
    pipelined: bool,
    options: &JobOptions,
    encoder: &ChunkEncoder,
    totals: &Mutex<StageTimes>,
    progress: &dyn Progress,
    reported: &mut u64,
    mut sink: impl FnMut(EncodedChunk) -> Result<(), JobError> + Send,
) -> Result<ExtractCounts, JobError> {
    let started = Instant::now();
    let mut source = input.open()?;
    let mut read_progress = |chunk: &FeatureMatrix| {
        progress.bytes(chunk.bytes_read.saturating_sub(*reported));
        *reported = (*reported).max(chunk.bytes_read);
    };
    let mut encode_and_write = |chunk: &FeatureMatrix, times: &mut StageTimes| {
        let t = Instant::now();
        let encoded = encoder.encode(chunk)?;
        let t1 = Instant::now();
        times.encode += t1 - t;
        let rows = encoded.rows();
        sink(encoded)?;
        times.write += t1.elapsed();
        progress.rows(rows);
        Ok::<_, JobError>(())
    };
    if !pipelined {
        let mut times = StageTimes::default();
        let counts = extract_chunks(source.as_mut(), &options.extract, options.chunk_rows, |chunk| {
            read_progress(chunk);
            encode_and_write(chunk, &mut times)
        })?;
        times.extract = started.elapsed().saturating_sub(times.encode + times.write);
        *totals.lock().expect("no panics while held") += times;
        return Ok(counts);
    }
    std::thread::scope(|scope| {
        let (to_encoder, chunks) = sync_channel::<FeatureMatrix>(1);
        let (recycle, recycled) = std::sync::mpsc::channel::<FeatureMatrix>();
        let encoding = scope.spawn(move || {
            let mut times = StageTimes::default();
            for chunk in chunks {
                encode_and_write(&chunk, &mut times)?;
                let _ = recycle.send(chunk);
            }
            Ok::<_, JobError>(times)
        });
        let mut waiting = Duration::ZERO;
        let extracted = extract_chunks(source.as_mut(), &options.extract, options.chunk_rows, |chunk| {
            read_progress(chunk);
            let spare = recycled.try_recv().unwrap_or_default();
            let t = Instant::now();
            let sent = to_encoder.send(std::mem::replace(chunk, spare));
            waiting += t.elapsed();
            sent.map_err(|_| JobError::Stopped)
        });
        drop(to_encoder);
        let encoded = encoding.join().expect("the encoding thread does not panic");
        // The encoder's error first: the extractor only saw its end (`Stopped`).
        let mut times = encoded?;
        let counts = extracted?;
        times.extract = started.elapsed().saturating_sub(waiting);
        *totals.lock().expect("no panics while held") += times;
        Ok(counts)
    })
}

/// How `threads` threads share `inputs` inputs: inputs run at once, and whether each is a two-stage pipeline.
/// Inputs in parallel scale best (no hand-off, no stage waiting for the other); an input is split in two stages
/// only when there are fewer inputs than threads, so that one input alone keeps two cores busy.
fn schedule(threads: usize, inputs: usize) -> (usize, bool) {
    let at_once = threads.min(inputs).max(1);
    (at_once, threads >= 2 * at_once)
}

/// `threads` workers each taking the next input index until there are none (or `stop` is set).
fn for_each_input(count: usize, threads: usize, stop: &AtomicBool, work: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, count.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || stop.load(Ordering::Relaxed) {
                    break;
                }
                work(i);
            });
        }
    });
}

fn run_per_input(
    inputs: &[Input],
    dir: &Path,
    options: &JobOptions,
    progress: &dyn Progress,
) -> Result<JobReport, JobError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError::Io { path: dir.to_path_buf(), source })?;
    let outputs: Vec<PathBuf> = inputs.iter().map(|i| output_path(dir, i, &options.output)).collect();
    for (a, out) in outputs.iter().enumerate() {
        if let Some(b) = outputs[..a].iter().position(|o| o == out) {
            return Err(JobError::Invalid(format!(
                "{} and {} would both write {}: give inputs distinct file names",
                inputs[b].path().display(),
                inputs[a].path().display(),
                out.display()
            )));
        }
    }
    let stale_removed = remove_stale_temporaries(dir, &outputs);
    let outcomes: Vec<Mutex<Option<InputOutcome>>> = inputs.iter().map(|_| Mutex::new(None)).collect();
    let totals = Mutex::new(StageTimes::default());
    let never = AtomicBool::new(false);
    let (at_once, pipelined) = schedule(options.threads, inputs.len());
    let set_outcome = |i: usize, outcome: InputOutcome| {
        *outcomes[i].lock().expect("no panics while held") = Some(outcome);
    };
    // Files are synced and renamed into place by a thread of their own, so that a worker goes on to its next input
    // while the disk catches up; at most `at_once` finished files wait for it.
    let (to_committer, finished) = sync_channel::<(usize, FeatureWriter, ExtractCounts)>(at_once);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for (i, writer, counts) in finished {
                let t = Instant::now();
                let committed = writer.commit();
                totals.lock().expect("no panics while held").write += t.elapsed();
                set_outcome(
                    i,
                    match committed {
                        Ok(_) => InputOutcome::Done(counts),
                        Err(e) => InputOutcome::Failed(e.into()),
                    },
                );
            }
        });
        for_each_input(inputs.len(), at_once, &never, |i| {
            let (input, output) = (&inputs[i], &outputs[i]);
            if options.resume && output.exists() {
                progress.bytes(input_bytes(input));
                return set_outcome(i, InputOutcome::Resumed);
            }
            let writer =
                FeatureWriter::create(output, options.output).inspect_err(|_| progress.bytes(input_bytes(input)));
            let result = writer.map_err(JobError::from).and_then(|mut w| {
                let encoder = w.encoder();
                let counts = extract_encoded(input, pipelined, options, &encoder, &totals, progress, |chunk| {
                    Ok(w.append(chunk)?)
                })?;
                Ok((w, counts))
            });
            match result {
                Ok((writer, counts)) => {
                    to_committer.send((i, writer, counts)).expect("the committer runs until the workers are done")
                }
                Err(e) => set_outcome(i, InputOutcome::Failed(e)),
            }
        });
        drop(to_committer);
    });
    let mut report = JobReport { stale_removed, ..JobReport::default() };
    for ((input, output), outcome) in inputs.iter().zip(outputs).zip(outcomes) {
        let outcome = outcome.into_inner().expect("no panics while held").expect("every input is visited");
        report.add(input, output, outcome);
    }
    report.times = totals.into_inner().expect("no panics while held");
    Ok(report)
}

impl JobReport {
    fn add(&mut self, input: &Input, output: PathBuf, outcome: InputOutcome) {
        if let InputOutcome::Done(counts) = &outcome {
            self.rows += counts.rows;
            self.updates += counts.rows_read;
            self.input_bytes += input_bytes(input);
        }
        self.inputs.push(InputReport { input: input.path().to_path_buf(), output, outcome });
    }
}

/// Removes the temporary files an interrupted run left for `outputs` (`<output>.tmp<pid>`, see
/// [`tachyon_io::AtomicFile`]); returns how many.
fn remove_stale_temporaries(dir: &Path, outputs: &[PathBuf]) -> usize {
    let names: std::collections::HashSet<String> =
        outputs.iter().filter_map(|o| o.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((base, pid)) = name.rsplit_once(".tmp") else { continue };
        if names.contains(base)
            && !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// What a worker sends the combined file's writer for one input.
enum Message {
    Chunk(EncodedChunk),
    Done(Result<ExtractCounts, JobError>),
}

fn run_combined(
    inputs: &[Input],
    path: &Path,
    options: &JobOptions,
    progress: &dyn Progress,
) -> Result<JobReport, JobError> {
    let mut writer = FeatureWriter::create(path, options.output)?;
    let encoder = writer.encoder();
    let (senders, receivers): (Vec<SyncSender<Message>>, Vec<Receiver<Message>>) =
        inputs.iter().map(|_| sync_channel(QUEUED_CHUNKS)).unzip();
    let senders: Vec<Mutex<Option<SyncSender<Message>>>> = senders.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let totals = Mutex::new(StageTimes::default());
    let stop = AtomicBool::new(false);
    let mut report = JobReport::default();
    let written: Result<(), JobError> = std::thread::scope(|scope| {
        let (stop, totals, senders, encoder) = (&stop, &totals, &senders, &encoder);
        scope.spawn(move || {
            let (at_once, pipelined) = schedule(options.threads, inputs.len());
            for_each_input(inputs.len(), at_once, stop, |i| {
                let sender = senders[i].lock().expect("no panics while held").take().expect("each input once");
                let mine = Mutex::new(StageTimes::default());
                let result = extract_encoded(&inputs[i], pipelined, options, encoder, &mine, progress, |chunk| {
                    if stop.load(Ordering::Relaxed) {
                        return Err(JobError::Stopped);
                    }
                    sender.send(Message::Chunk(chunk)).map_err(|_| JobError::Stopped)
                });
                // A worker's "writing" is waiting for the writer's queue: the writer's own time is counted instead.
                let mine = mine.into_inner().expect("no panics while held");
                *totals.lock().expect("no panics while held") += StageTimes { write: Duration::ZERO, ..mine };
                let _ = sender.send(Message::Done(result));
            });
        });
        // The writer: inputs in order, each input's chunks as they come. The scope joins the workers only after
        // this closure returns and drops the receivers, so a worker blocked on a full queue is released.
        let mut writing = Duration::ZERO;
        let written = (|| {
            for (input, receiver) in inputs.iter().zip(receivers) {
                let counts = loop {
                    match receiver.recv() {
                        Ok(Message::Chunk(chunk)) => {
                            let t = Instant::now();
                            writer.append(chunk)?;
                            writing += t.elapsed();
                        }
                        Ok(Message::Done(result)) => break result?,
                        Err(_) => return Err(JobError::Stopped),
                    }
                };
                report.add(input, path.to_path_buf(), InputOutcome::Done(counts));
            }
            Ok(())
        })();
        if written.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        totals.lock().expect("no panics while held").write += writing;
        written
    });
    written?;
    let t = Instant::now();
    writer.commit()?;
    report.times = totals.into_inner().expect("no panics while held");
    report.times.write += t.elapsed();
    Ok(report)
}
