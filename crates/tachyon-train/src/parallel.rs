//! Data-parallel training steps: a batch is cut into contiguous parts, one per worker; each part runs
//! [`forward_backward`] on its own [`Workspace`], and the parts' gradients and losses are combined in part order,
//! each weighted by its share of the rows.
//!
//! The calling thread runs the first part and each other part runs on a helper thread owned by the
//! [`DataParallel`] (`Helper` below): a step is ~100 us, and handing a part to a rayon pool thread and joining it
//! cost 5-20 us per step on this VM (the idle pool thread is asleep or yielding; measured 13-23 ms per epoch to
//! start the second part and 20-60 ms for the join to see it finish).
//!
//! Deterministic for a given number of parts: the same seed and thread count give bit-identical weights. A
//! different number of parts sums in a different order, so the weights differ in the last bits (tested to agree
//! with the one-part gradient to 1e-5 relative).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tachyon_linalg::GemmFloat;

use crate::mlp::{forward_backward, Mlp, Targets, Workspace};

impl<T> Targets<'_, T> {
    /// The targets of rows `start..end`.
    fn rows(&self, start: usize, end: usize) -> Targets<'_, T> {
        match *self {
            Targets::Values(v) => Targets::Values(&v[start..end]),
            Targets::Classes(c) => Targets::Classes(&c[start..end]),
        }
    }
}

/// Workspaces for batches of a fixed size split into parts, and a helper thread per part after the first.
#[derive(Debug)]
pub struct DataParallel<T> {
    parts: Vec<Workspace<T>>,
    losses: Vec<f64>,
    batch: usize,
    helpers: Vec<Helper>,
}

impl<T: GemmFloat> Clone for DataParallel<T> {
    /// The same workspaces, with helper threads of its own.
    fn clone(&self) -> Self {
        DataParallel {
            parts: self.parts.clone(),
            losses: self.losses.clone(),
            batch: self.batch,
            helpers: (1..self.parts.len()).map(|_| Helper::spawn()).collect(),
        }
    }
}

impl<T: GemmFloat> DataParallel<T> {
    /// Buffers for batches of `batch` rows of `mlp` cut into `parts` parts (at most one per row and at most 64;
    /// the first `batch % parts` parts take one row more), and a helper thread for each part after the first.
    pub fn new(mlp: &Mlp<T>, batch: usize, parts: usize) -> Self {
        let parts = parts.clamp(1, batch.clamp(1, MAX_PARTS));
        let sizes = (0..parts).map(|p| batch / parts + usize::from(p < batch % parts));
        DataParallel {
            parts: sizes.map(|rows| Workspace::new(mlp, rows)).collect(),
            losses: vec![0.0; parts],
            batch,
            helpers: (1..parts).map(|_| Helper::spawn()).collect(),
        }
    }

    /// Number of parts.
    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    /// Rows per batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Forward and backward over `x` (batch x inputs, row-major): returns the mean loss of the batch and leaves
    /// the batch's gradients in [`gradients`](DataParallel::gradients).
    pub fn forward_backward(&mut self, mlp: &Mlp<T>, x: &[T], targets: Targets<'_, T>) -> f64 {
        assert_eq!(x.len(), self.batch * mlp.spec.inputs, "input is not batch x inputs");
        run_parts(mlp, &mut self.parts, &mut self.losses, &self.helpers, x, targets);
        // Combine in part order: gradient and loss of the batch = sum over parts of (rows_p / batch) x part's.
        let share = |ws: &Workspace<T>| ws.batch() as f64 / self.batch as f64;
        // PERF: the SIMD kernels, not plain loops: this runs on one thread between parallel halves, every step.
        let kernels = tachyon_simd::kernels::<T>();
        let (first, rest) = self.parts.split_first_mut().expect(">= 1 part");
        let w0 = T::from_f64(share(first));
        for g in first.grad_w.iter_mut().chain(first.grad_b.iter_mut()) {
            (kernels.scale_inplace)(w0, g);
        }
        let mut loss = share(first) * self.losses[0];
        for (ws, &part_loss) in rest.iter().zip(&self.losses[1..]) {
            let wp = T::from_f64(share(ws));
            let pairs = first.grad_w.iter_mut().zip(&ws.grad_w).chain(first.grad_b.iter_mut().zip(&ws.grad_b));
            for (acc, part) in pairs {
                (kernels.axpy)(wp, part, acc);
            }
            loss += share(ws) * part_loss;
        }
        loss
    }

    /// The batch's gradients after [`forward_backward`](DataParallel::forward_backward), to hand to
    /// [`Optimizer::step`](crate::Optimizer::step).
    pub fn gradients(&self) -> &Workspace<T> {
        &self.parts[0]
    }
}

/// Runs each part's rows through its workspace: the first on this thread, the others on the helpers.
fn run_parts<T: GemmFloat>(
    mlp: &Mlp<T>,
    parts: &mut [Workspace<T>],
    losses: &mut [f64],
    helpers: &[Helper],
    x: &[T],
    targets: Targets<'_, T>,
) {
    let inputs = mlp.spec.inputs;
    let (first, rest) = parts.split_first_mut().expect(">= 1 part");
    let (loss_first, loss_rest) = losses.split_first_mut().expect(">= 1 part");
    let helped = rest.len();
    let mut start = first.batch();
    // One job per helper, each owning its part's workspace, loss and rows; they live on this stack frame until
    // every helper has finished (the guard below waits, also when this thread's own part panics).
    let mut jobs: [Option<PartJob<'_, T>>; MAX_PARTS] = std::array::from_fn(|_| None);
    for ((ws, loss), job) in rest.iter_mut().zip(loss_rest.iter_mut()).zip(jobs.iter_mut()) {
        let end = start + ws.batch();
        *job = Some(PartJob { mlp, ws, loss, x: &x[start * inputs..end * inputs], targets: targets.rows(start, end) });
        start = end;
    }
    let _wait = Posted::post(helpers, &mut jobs[..helped]);
    *loss_first = forward_backward(mlp, first, &x[..first.batch() * inputs], targets.rows(0, first.batch()));
}

/// Most parts per batch (one per thread).
const MAX_PARTS: usize = 64;

/// One part of a batch, run on a helper.
struct PartJob<'a, T> {
    mlp: &'a Mlp<T>,
    ws: &'a mut Workspace<T>,
    loss: &'a mut f64,
    x: &'a [T],
    targets: Targets<'a, T>,
}

/// Work a helper runs.
trait Job: Send {
    fn run(&mut self);
}

impl<T: GemmFloat> Job for PartJob<'_, T> {
    fn run(&mut self) {
        *self.loss = forward_backward(self.mlp, self.ws, self.x, self.targets);
    }
}

/// The helpers' jobs while they run: it keeps the jobs borrowed, and dropping it waits for every helper (so the
/// jobs outlive their use, whether this thread returns or unwinds) and then re-raises a helper's panic.
struct Posted<'h, 'j> {
    helpers: &'h [Helper],
    _jobs: std::marker::PhantomData<&'j mut ()>,
}

impl<'h, 'j> Posted<'h, 'j> {
    fn post<T: GemmFloat>(helpers: &'h [Helper], jobs: &'j mut [Option<PartJob<'_, T>>]) -> Posted<'h, 'j> {
        assert!(jobs.len() <= helpers.len(), "a helper per part after the first");
        for (helper, job) in helpers.iter().zip(jobs.iter_mut()) {
            let job: &mut dyn Job = job.as_mut().expect("filled");
            // SAFETY: the job stays borrowed (and alive on the caller's frame) until `Posted` is dropped, which
            // waits for every helper to finish with it.
            unsafe { helper.post(job) };
        }
        Posted { helpers: &helpers[..jobs.len()], _jobs: std::marker::PhantomData }
    }
}

impl Drop for Posted<'_, '_> {
    fn drop(&mut self) {
        let mut panic = None;
        for helper in self.helpers {
            if let Some(p) = helper.wait() {
                panic.get_or_insert(p);
            }
        }
        if let Some(p) = panic {
            if !std::thread::panicking() {
                std::panic::resume_unwind(p);
            }
        }
    }
}

/// Helper states.
const IDLE: u8 = 0;
const POSTED: u8 = 1;
const DONE: u8 = 2;
const EXIT: u8 = 3;

/// How long a helper spins for the next job before it parks: steps come every ~100 us while training, and
/// between epochs (evaluation, logging) it should not burn a core.
const SPIN: Duration = Duration::from_millis(2);

/// A thread that runs one borrowed job at a time for the thread that posts it, spinning between jobs and parking
/// when idle for longer than [`SPIN`].
#[derive(Debug)]
struct Helper {
    shared: Arc<HelperShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct HelperShared {
    /// IDLE, POSTED (a job waits), DONE (finished; the poster resets to IDLE) or EXIT.
    state: AtomicU8,
    /// Set while the helper is parked or about to park, so that the poster knows to unpark it.
    parked: AtomicBool,
    /// The posted job; written by the poster only while IDLE, read by the helper only while POSTED.
    job: UnsafeCell<Option<*mut (dyn Job + 'static)>>,
    /// A job's panic, handed back to the poster.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

// SAFETY: `job` is accessed under the state protocol above (poster while IDLE, helper while POSTED, the
// transitions made with release/acquire orderings); every other field is thread-safe.
unsafe impl Sync for HelperShared {}
// SAFETY: as above; the raw job pointer is only dereferenced under that protocol.
unsafe impl Send for HelperShared {}

impl Helper {
    fn spawn() -> Helper {
        let shared = Arc::new(HelperShared {
            state: AtomicU8::new(IDLE),
            parked: AtomicBool::new(false),
            job: UnsafeCell::new(None),
            panic: Mutex::new(None),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tachyon-step".into())
            .spawn(move || worker.serve())
            .expect("spawn a training helper thread");
        Helper { shared, thread: Some(thread) }
    }

    /// Hands `job` to the helper.
    ///
    /// # Safety
    /// `job` must stay valid until [`Helper::wait`] has returned.
    unsafe fn post(&self, job: &mut dyn Job) {
        debug_assert_eq!(self.shared.state.load(Ordering::Relaxed), IDLE);
        // SAFETY: lifetime erased; the caller keeps the job alive until `wait` returns (contract).
        let job: *mut (dyn Job + 'static) = unsafe { std::mem::transmute(job) };
        // SAFETY: IDLE: the helper does not read `job` until it sees POSTED, stored below with release order.
        unsafe { *self.shared.job.get() = Some(job) };
        self.shared.state.store(POSTED, Ordering::SeqCst);
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.as_ref().expect("running").thread().unpark();
        }
    }

    /// Waits for the posted job; returns its panic, if it panicked.
    fn wait(&self) -> Option<Box<dyn std::any::Any + Send>> {
        let started = Instant::now();
        let mut spins = 0u32;
        while self.shared.state.load(Ordering::Acquire) != DONE {
            spins += 1;
            // PERF: spin while the job runs (a part is tens of microseconds); yield only if it takes far longer
            // (the helper descheduled).
            if spins.is_multiple_of(1024) && started.elapsed() > SPIN {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        self.shared.state.store(IDLE, Ordering::Relaxed);
        self.shared.panic.lock().expect("helper panic slot").take()
    }
}

impl HelperShared {
    fn serve(&self) {
        loop {
            let idle_since = Instant::now();
            let mut spins = 0u32;
            loop {
                match self.state.load(Ordering::Acquire) {
                    POSTED => break,
                    EXIT => return,
                    _ => {}
                }
                spins += 1;
                if spins.is_multiple_of(256) && idle_since.elapsed() > SPIN {
                    self.parked.store(true, Ordering::SeqCst);
                    // Re-check after announcing: a poster that stored POSTED before seeing `parked` is caught
                    // here; one that stores it after will unpark us (and an early unpark makes park return).
                    if !matches!(self.state.load(Ordering::SeqCst), POSTED | EXIT) {
                        std::thread::park();
                    }
                    self.parked.store(false, Ordering::SeqCst);
                    spins = 0;
                } else {
                    std::hint::spin_loop();
                }
            }
            // SAFETY: POSTED, seen with acquire order: the poster wrote the job before and keeps it alive and
            // untouched until it sees DONE.
            let job = unsafe { (*self.job.get()).take().expect("a posted job") };
            // SAFETY: as above; the job is valid and only this thread uses it until DONE.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*job).run() }));
            if let Err(p) = result {
                *self.panic.lock().expect("helper panic slot") = Some(p);
            }
            self.state.store(DONE, Ordering::Release);
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.shared.state.store(EXIT, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
