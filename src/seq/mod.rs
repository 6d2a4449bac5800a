//! Sequence models: recurrent cells unrolled through time, temporal convolution nets and causal
//! self-attention, under one contract, `SeqBlock`, the sequence twin of `nn::Block`.
//!
//! A batch of sequences is time-major (`Seq`): step t is rows `t*batch .. (t+1)*batch` of one
//! `(time*batch) x dim` matrix, so a step is a contiguous batch matrix (one GEMM per step for
//! the recurrence) and all steps together are one matrix (one GEMM for the input projection).

use crate::nn::ParamList;

pub mod batch;
pub mod build;
pub mod embedding;
pub mod rnn;
pub use rnn::{CellKind, HhInit, Rnn, RnnConfig};
pub mod model;
pub mod per_step;
pub mod attention;
pub mod tcn;
pub use attention::{AttentionConfig, CausalSelfAttention, PosEncoding};
pub use tcn::{ConvInit, Tcn, TcnConfig};
use crate::nn::Ctx;
use crate::tensor::{Mat, Real};
pub use embedding::Embedding;

/// `batch` sequences of `time` steps of `dim` features, time-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Seq<F> {
    pub time: usize,
    pub batch: usize,
    /// `(time * batch) x dim`; row `t * batch + b` is step t of sequence b.
    pub data: Mat<F>,
}

impl<F: Real> Seq<F> {
    pub fn zeros(time: usize, batch: usize, dim: usize) -> Self {
        Seq { time, batch, data: Mat::zeros(time * batch, dim) }
    }

    pub fn from_mat(time: usize, batch: usize, data: Mat<F>) -> Self {
        assert_eq!(data.rows, time * batch, "Seq: {} rows for {time} steps x {batch} sequences", data.rows);
        Seq { time, batch, data }
    }

    /// From batch-major values `[batch][time][dim]` (the layout of PyTorch's batch_first and of
    /// .npy files).
    pub fn from_batch_major(batch: usize, time: usize, dim: usize, values: &[F]) -> Self {
        assert_eq!(values.len(), batch * time * dim);
        let mut s = Seq::zeros(time, batch, dim);
        for b in 0..batch {
            for t in 0..time {
                let src = &values[(b * time + t) * dim..(b * time + t + 1) * dim];
                s.step_row_mut(t, b).copy_from_slice(src);
            }
        }
        s
    }

    /// The values as `[batch][time][dim]`.
    pub fn to_batch_major(&self) -> Vec<F> {
        let mut out = Vec::with_capacity(self.data.len());
        for b in 0..self.batch {
            for t in 0..self.time {
                out.extend_from_slice(self.step_row(t, b));
            }
        }
        out
    }

    pub fn dim(&self) -> usize {
        self.data.cols
    }

    /// Step t as a slice of `batch * dim` values (a row-major `batch x dim` matrix).
    pub fn step(&self, t: usize) -> &[F] {
        let n = self.batch * self.data.cols;
        &self.data.data[t * n..(t + 1) * n]
    }

    pub fn step_mut(&mut self, t: usize) -> &mut [F] {
        let n = self.batch * self.data.cols;
        &mut self.data.data[t * n..(t + 1) * n]
    }

    /// Step t as its own matrix.
    pub fn step_mat(&self, t: usize) -> Mat<F> {
        Mat::from_vec(self.batch, self.data.cols, self.step(t).to_vec())
    }

    pub fn step_row(&self, t: usize, b: usize) -> &[F] {
        self.data.row(t * self.batch + b)
    }

    pub fn step_row_mut(&mut self, t: usize, b: usize) -> &mut [F] {
        let bt = self.batch;
        self.data.row_mut(t * bt + b)
    }

    /// The last step, `batch x dim`.
    pub fn last(&self) -> Mat<F> {
        self.step_mat(self.time - 1)
    }
}

/// The sequence twin of `nn::Block`: `forward` keeps what `backward` needs; `backward` returns
/// dL/dx for every step and accumulates parameter gradients.
pub trait SeqBlock<F: Real>: Send {
    /// The field's name ("lstm", "gru", "rnn_tanh", "tcn", "attention").
    fn kind(&self) -> &'static str;
    fn in_dim(&self) -> usize;
    fn out_dim(&self) -> usize;
    fn forward(&mut self, x: &Seq<F>, ctx: &Ctx) -> Seq<F>;
    fn backward(&mut self, dy: &Seq<F>) -> Seq<F>;
    /// Parameters named as the PyTorch module's state dict under `prefix`.
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>);
    /// Record, in the next backward, the per-step gradients a probe wants (dL/dh_t, and
    /// dL/dc_t for LSTM). Costs nothing while off.
    fn set_taps(&mut self, _on: bool) {}
    /// The recorded gradients, each `batch x hidden`, named under `prefix` as
    /// `{prefix}.l{layer}.h.{t}` (`.c.{t}` for cell states; `_reverse` for the backward
    /// direction), e.g. `act.rnn.l0.h.17`.
    fn taps(&self, _prefix: &str, _out: &mut Vec<(String, Mat<F>)>) {}
    /// Steps of input that one output step can see (convolutions; None when unbounded).
    fn receptive_field(&self) -> Option<usize> {
        None
    }
}

/// Finite-difference check of a `SeqBlock` in f64, like `nn::gradcheck::check_block`.
pub mod gradcheck {
    use super::{Seq, SeqBlock};
    use crate::nn::{Ctx, ParamList};
    use crate::tensor::Mat;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Per tensor (`input` and each parameter): ||analytic - numeric|| / max(norms, 1e-12),
    /// over at most `max_per_tensor` sampled elements.
    pub fn check_seq_block(
        block: &mut dyn SeqBlock<f64>,
        x: &Seq<f64>,
        max_per_tensor: usize,
        seed: u64,
    ) -> Vec<(String, f64)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let y = block.forward(x, &Ctx::TRAIN);
        let r =
            Seq::from_mat(y.time, y.batch, Mat::from_fn(y.data.rows, y.data.cols, |_, _| rng.random_range(-1.0..1.0)));
        let loss = |block: &mut dyn SeqBlock<f64>, x: &Seq<f64>| -> f64 {
            let y = block.forward(x, &Ctx::TRAIN);
            y.data.data.iter().zip(&r.data.data).map(|(a, b)| a * b).sum()
        };
        {
            let mut ps: ParamList<f64> = Vec::new();
            block.params("", &mut ps);
            ps.into_iter().for_each(|(_, p)| p.zero_grad());
        }
        block.forward(x, &Ctx::TRAIN);
        let dx = block.backward(&r);
        let mut analytic = vec![("input".to_string(), dx.data.data.clone())];
        {
            let mut ps: ParamList<f64> = Vec::new();
            block.params("", &mut ps);
            analytic.extend(ps.into_iter().map(|(n, p)| (n, p.grad.data.clone())));
        }
        let h = 1e-6;
        let mut out = Vec::new();
        for (t, (name, grad)) in analytic.iter().enumerate() {
            let n = grad.len();
            let idx: Vec<usize> = if n <= max_per_tensor {
                (0..n).collect()
            } else {
                (0..max_per_tensor).map(|_| rng.random_range(0..n)).collect()
            };
            let (mut a, mut num) = (Vec::new(), Vec::new());
            for &i in &idx {
                let mut eval = |delta: f64| {
                    if t == 0 {
                        let mut xp = x.clone();
                        xp.data.data[i] += delta;
                        loss(block, &xp)
                    } else {
                        nudge(block, t - 1, i, delta);
                        let l = loss(block, x);
                        nudge(block, t - 1, i, -delta);
                        l
                    }
                };
                let fd = (eval(h) - eval(-h)) / (2.0 * h);
                a.push(grad[i]);
                num.push(fd);
            }
            let diff = a.iter().zip(&num).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
            let na = a.iter().map(|v| v * v).sum::<f64>().sqrt();
            let nn = num.iter().map(|v| v * v).sum::<f64>().sqrt();
            out.push((name.clone(), diff / na.max(nn).max(1e-12)));
        }
        out
    }

    fn nudge(block: &mut dyn SeqBlock<f64>, p: usize, i: usize, delta: f64) {
        let mut ps: ParamList<f64> = Vec::new();
        block.params("", &mut ps);
        ps[p].1.value.data[i] += delta;
    }
}
