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
pub mod attention;
pub mod model;
pub mod per_step;
pub mod tcn;
use crate::nn::Ctx;
use crate::tensor::{Mat, Real};
pub use attention::{AttentionConfig, CausalSelfAttention, PosEncoding};
pub use embedding::Embedding;
pub use tcn::{ConvInit, Tcn, TcnConfig};

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
    /// As `backward`, for a caller that does not need dL/dx (the first block on raw inputs).
    fn backward_params(&mut self, dy: &Seq<F>) {
        self.backward(dy);
    }
    /// Parameters named as the PyTorch module's state dict under `prefix`.
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>);
    /// Record, in the next backward, the per-step gradients a probe wants (dL/dh_t, and
    /// dL/dc_t for LSTM). Costs nothing while off.
    fn set_taps(&mut self, _on: bool) {}
    /// The recorded gradients, each `batch x hidden`, named under `prefix` as
    /// `{prefix}.l{layer}.h.{t}` (`.c.{t}` for cell states; `_reverse` for the backward
    /// direction), e.g. `act.rnn.l0.h.17`.
    fn taps(&self, _prefix: &str, _out: &mut Vec<(String, Mat<F>)>) {}
    /// Threads the block's forward and backward may use. A block's results must not depend on
    /// it (bit for bit): it only says how many threads share work cut from the shapes.
    fn set_threads(&mut self, _threads: usize) {}
    /// Steps of input that one output step can see (convolutions; None when unbounded).
    fn receptive_field(&self) -> Option<usize> {
        None
    }
    /// Layers whose outputs a head may read (`layer_output`): the stacked layers of a
    /// recurrent block; 0 for blocks that expose none.
    fn layers(&self) -> usize {
        0
    }
    /// The output sequence of layer `k < layers()` in the last forward (width H, or 2H when
    /// bidirectional); the last layer's is the block's output.
    fn layer_output(&self, _k: usize) -> Option<Seq<F>> {
        None
    }
    /// Add `g` to dL/d(output of layer k) in the next backward, as a loss read off that layer
    /// does (per-layer heads); consumed by that backward.
    fn add_layer_grad(&mut self, k: usize, _g: &Seq<F>) {
        panic!("{}: no layer {k} to take a gradient at (the block exposes no layers)", self.kind());
    }
}

/// Finite-difference check of a `SeqBlock` in f64, through `nn::gradcheck::check`.
pub mod gradcheck {
    use super::{Seq, SeqBlock};
    use crate::nn::gradcheck::{check, Differentiable};
    use crate::nn::{Ctx, ParamList};
    use crate::tensor::Mat;

    /// A `SeqBlock` on `.2` sequences of `.1` steps.
    struct SeqAt<'a>(&'a mut dyn SeqBlock<f64>, usize, usize);

    impl SeqAt<'_> {
        fn seq(&self, v: &[f64]) -> Seq<f64> {
            let (t, b) = (self.1, self.2);
            Seq::from_mat(t, b, Mat::from_vec(t * b, v.len() / (t * b), v.to_vec()))
        }
    }

    impl Differentiable for SeqAt<'_> {
        fn output(&mut self, x: &[f64]) -> Vec<f64> {
            let s = self.seq(x);
            self.0.forward(&s, &Ctx::TRAIN).data.data
        }
        fn input_grad(&mut self, x: &[f64], r: &[f64]) -> Vec<f64> {
            self.output(x);
            let dy = self.seq(r);
            self.0.backward(&dy).data.data
        }
        fn params(&mut self) -> ParamList<'_, f64> {
            let mut ps = Vec::new();
            self.0.params("", &mut ps);
            ps
        }
    }

    /// Per tensor (`input` and each parameter): ||analytic - numeric|| / max(norms, 1e-12),
    /// over at most `max_per_tensor` sampled elements.
    pub fn check_seq_block(
        block: &mut dyn SeqBlock<f64>,
        x: &Seq<f64>,
        max_per_tensor: usize,
        seed: u64,
    ) -> Vec<(String, f64)> {
        check(&mut SeqAt(block, x.time, x.batch), &x.data.data, max_per_tensor, seed).tensors
    }
}
