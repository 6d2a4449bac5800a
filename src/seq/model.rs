//! A sequence model: an input map (token embedding, or real features as they are), a body of
//! sequence blocks (a recurrent stack, a temporal convolution net, or causal self-attention
//! layers), and a linear readout of the last step or of every step.
//!
//! ```text
//! tokens -> embed -> body -> head: W h_T + b   (one target per sequence: adding, sequential MNIST)
//! values ---------^       \-> head: W h_t + b  (one target per step: copy memory, tagging, char LM)
//! ```
//! Parameters: `embed.weight`, the body's (`rnn.weight_ih_l0`, `tcn.levels.0.conv1.weight`,
//! `attn.0.in_proj_weight`, ...), `head.weight`, `head.bias`. Gradient taps: `act.rnn.l0.h.17`.

use super::batch::{BatchInputs, BatchTargets, SeqBatch};
use super::{Embedding, Seq, SeqBlock};
use crate::nn::loss::{mse, softmax_cross_entropy, LossOut};
use crate::nn::{join, Block, Ctx, Linear, ParamList, StepOut};
use crate::tensor::{Mat, Real};

/// Where the head reads the body's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readout {
    Last,
    Each,
}

pub struct SeqModel<F> {
    pub embed: Option<Embedding<F>>,
    pub body: Vec<(String, Box<dyn SeqBlock<F>>)>,
    pub head: Linear<F>,
    pub readout: Readout,
    tap: bool,
    taps: Vec<(String, Mat<F>)>,
    /// The body's output of the last forward (time, batch) — to scatter the head's gradient.
    shape: (usize, usize),
}

impl<F: Real> SeqModel<F> {
    pub fn new(
        embed: Option<Embedding<F>>,
        body: Vec<(String, Box<dyn SeqBlock<F>>)>,
        head: Linear<F>,
        readout: Readout,
    ) -> Self {
        SeqModel { embed, body, head, readout, tap: false, taps: Vec::new(), shape: (0, 0) }
    }

    /// The head's output: `batch x out` (Last) or `(time * batch) x out`, time-major (Each).
    pub fn forward(&mut self, batch: &SeqBatch<F>, ctx: &Ctx) -> Mat<F> {
        let mut h = match (&batch.inputs, &mut self.embed) {
            (BatchInputs::Tokens(ids), Some(e)) => e.forward(ids, batch.time, batch.batch),
            (BatchInputs::Real(x), None) => x.clone(),
            (BatchInputs::Tokens(_), None) => panic!("token inputs need an embedding"),
            (BatchInputs::Real(_), Some(_)) => panic!("real-valued inputs do not go through an embedding"),
        };
        for (_, b) in self.body.iter_mut() {
            h = b.forward(&h, ctx);
        }
        self.shape = (h.time, h.batch);
        match self.readout {
            Readout::Last => self.head.forward(&h.last(), ctx),
            Readout::Each => self.head.forward(&h.data, ctx),
        }
    }

    fn loss_of(&self, out: &Mat<F>, targets: &BatchTargets<F>) -> LossOut<F> {
        match targets {
            BatchTargets::LastValue(v) => mse(out, v),
            BatchTargets::LastClass(l) | BatchTargets::EachClass(l) => softmax_cross_entropy(out, l),
        }
    }

    /// Forward, loss, backward; parameter gradients accumulate.
    pub fn forward_backward(&mut self, batch: &SeqBatch<F>) -> StepOut {
        let out = self.forward(batch, &Ctx::TRAIN);
        let l = self.loss_of(&out, &batch.targets);
        self.backward(&l.grad);
        StepOut { loss: l.loss, main_loss: l.loss, aux_losses: Vec::new(), correct: l.correct, count: l.count }
    }

    pub fn evaluate(&mut self, batch: &SeqBatch<F>) -> StepOut {
        let out = self.forward(batch, &Ctx::EVAL);
        let l = self.loss_of(&out, &batch.targets);
        StepOut { loss: l.loss, main_loss: l.loss, aux_losses: Vec::new(), correct: l.correct, count: l.count }
    }

    /// Backward from dL/d(head output).
    pub fn backward(&mut self, dout: &Mat<F>) {
        self.taps.clear();
        let (time, batch) = self.shape;
        let dh = self.head.backward(dout);
        let mut d = match self.readout {
            Readout::Each => Seq::from_mat(time, batch, dh),
            Readout::Last => {
                let mut s = Seq::zeros(time, batch, dh.cols);
                s.step_mut(time - 1).copy_from_slice(&dh.data);
                s
            }
        };
        let raw_inputs = self.embed.is_none();
        for (i, (name, b)) in self.body.iter_mut().enumerate().rev() {
            if i == 0 && raw_inputs {
                // Nothing consumes dL/d(input) of raw features: skip that product.
                b.backward_params(&d);
            } else {
                d = b.backward(&d);
            }
            if self.tap {
                b.taps(&join("act", name), &mut self.taps);
            }
        }
        if let Some(e) = &mut self.embed {
            e.backward(&d);
        }
    }

    /// Threads every block may use (results do not depend on it; see `SeqBlock::set_threads`).
    pub fn set_threads(&mut self, threads: usize) {
        self.body.iter_mut().for_each(|(_, b)| b.set_threads(threads));
    }

    /// Record per-step gradients of the recurrent states in the next backward.
    pub fn set_taps(&mut self, on: bool) {
        self.tap = on;
        self.body.iter_mut().for_each(|(_, b)| b.set_taps(on));
    }

    pub fn taps(&self) -> &[(String, Mat<F>)] {
        &self.taps
    }

    pub fn params(&mut self) -> ParamList<'_, F> {
        let mut out = Vec::new();
        if let Some(e) = &mut self.embed {
            e.params("embed", &mut out);
        }
        for (name, b) in self.body.iter_mut() {
            b.params(name, &mut out);
        }
        self.head.push_params("head", &mut out);
        out
    }

    pub fn zero_grad(&mut self) {
        self.params().into_iter().for_each(|(_, p)| p.zero_grad());
    }

    /// The first block whose output holds a NaN or Inf on this batch.
    pub fn first_non_finite(&mut self, batch: &SeqBatch<F>) -> Option<String> {
        let mut h = match (&batch.inputs, &mut self.embed) {
            (BatchInputs::Tokens(ids), Some(e)) => e.forward(ids, batch.time, batch.batch),
            (BatchInputs::Real(x), _) => x.clone(),
            _ => return None,
        };
        if !h.data.all_finite() {
            return Some(if self.embed.is_some() { "embed".into() } else { "input".into() });
        }
        for (name, b) in self.body.iter_mut() {
            h = b.forward(&h, &Ctx::EVAL);
            if !h.data.all_finite() {
                return Some(format!("{name} ({})", b.kind()));
            }
        }
        let out = self.head.forward(&h.data, &Ctx::EVAL);
        (!out.all_finite()).then(|| "head (linear)".into())
    }

    /// Receptive field of the body, when bounded (convolutions).
    pub fn receptive_field(&self) -> Option<usize> {
        self.body.iter().map(|(_, b)| b.receptive_field()).try_fold(1usize, |acc, r| r.map(|r| acc + r - 1))
    }
}
