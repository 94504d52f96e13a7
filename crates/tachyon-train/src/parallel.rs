//! Data-parallel training steps: a batch is cut into contiguous parts, one per worker; each part runs
//! [`forward_backward`] on its own [`Workspace`] (in parallel through `rayon::join`, which allocates nothing), and
//! the parts' gradients and losses are combined in part order, each weighted by its share of the rows.
//!
//! Deterministic for a given number of parts: the same seed and thread count give bit-identical weights. A
//! different number of parts sums in a different order, so the weights differ in the last bits (tested to agree
//! with the one-part gradient to 1e-5 relative).

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

/// Workspaces for batches of a fixed size split into parts.
#[derive(Clone, Debug)]
pub struct DataParallel<T> {
    parts: Vec<Workspace<T>>,
    losses: Vec<f64>,
    batch: usize,
}

impl<T: GemmFloat> DataParallel<T> {
    /// Buffers for batches of `batch` rows of `mlp` cut into `parts` parts (at most one per row; the first
    /// `batch % parts` parts take one row more).
    pub fn new(mlp: &Mlp<T>, batch: usize, parts: usize) -> Self {
        let parts = parts.clamp(1, batch.max(1));
        let sizes = (0..parts).map(|p| batch / parts + usize::from(p < batch % parts));
        DataParallel { parts: sizes.map(|rows| Workspace::new(mlp, rows)).collect(), losses: vec![0.0; parts], batch }
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
        run_parts(mlp, &mut self.parts, &mut self.losses, x, targets);
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

/// Runs each part's rows through its workspace, halving the parts between the two sides of a `rayon::join`.
fn run_parts<T: GemmFloat>(
    mlp: &Mlp<T>,
    parts: &mut [Workspace<T>],
    losses: &mut [f64],
    x: &[T],
    targets: Targets<'_, T>,
) {
    if let [ws] = parts {
        losses[0] = forward_backward(mlp, ws, x, targets);
        return;
    }
    let half = parts.len() / 2;
    let (left, right) = parts.split_at_mut(half);
    let (losses_l, losses_r) = losses.split_at_mut(half);
    let rows: usize = left.iter().map(Workspace::batch).sum();
    let (x_l, x_r) = x.split_at(rows * mlp.spec.inputs);
    let total = rows + right.iter().map(Workspace::batch).sum::<usize>();
    let (t_l, t_r) = (targets.rows(0, rows), targets.rows(rows, total));
    rayon::join(|| run_parts(mlp, left, losses_l, x_l, t_l), || run_parts(mlp, right, losses_r, x_r, t_r));
}
