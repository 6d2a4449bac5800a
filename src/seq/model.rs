//! A sequence model: an input map (token embedding, or real features as they are), a body of
//! sequence blocks (a recurrent stack, a temporal convolution net, or causal self-attention
//! layers), and a linear readout of the last step or of every step; optionally, heads on
//! layers of a stacked recurrent body, each with its own targets (deep supervision).
//!
//! ```text
//! tokens -> embed -> body -> head: W h_T + b   (one target per sequence: adding, sequential MNIST)
//! values ---------^  |   \-> head: W h_t + b  (one target per step: copy memory, tagging, char LM)
//!                    \-> layer_heads.j: W h^(k)_t + b -> weight_j * loss_j(its own targets)
//! ```
//! Parameters: `embed.weight`, the body's (`rnn.weight_ih_l0`, `tcn.levels.0.conv1.weight`,
//! `attn.0.in_proj_weight`, ...), `head.weight`, `head.bias`, `layer_heads.{j}.weight`,
//! `layer_heads.{j}.bias`. Gradient taps: `act.rnn.l0.h.17`.
//!
//! A layer head reads layer k's output sequence (h^(k)_t, `[h_fwd | h_bwd]` when bidirectional:
//! the input of layer k + 1), at every step or at the last one as its targets ask; the loss is
//! main + sum_j weight_j * loss_j, and each head's gradient enters the backward at its layer's
//! output (`SeqBlock::add_layer_grad`), below the layers above it.

use super::batch::{BatchInputs, BatchTargets, SeqBatch};
use super::{Embedding, Seq, SeqBlock};
use crate::nn::loss::{mse, softmax_cross_entropy, LossOut};
use crate::nn::{join, Block, Ctx, HeadOut, Linear, ParamList, StepOut};
use crate::tensor::{Mat, Real};

/// Where the head reads the body's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readout {
    Last,
    Each,
}

/// A head on one layer of the body's layered (recurrent) block, with its own targets.
pub struct LayerHead<F> {
    /// The layer of the stack it reads (0 = the lowest).
    pub layer: usize,
    /// Its loss weight.
    pub weight: f64,
    /// The batch's targets it learns (`SeqBatch::named`); None: the main targets.
    pub target: Option<String>,
    /// Every step (per-step targets) or the last.
    pub readout: Readout,
    pub head: Linear<F>,
    /// Its output of the last forward.
    logits: Mat<F>,
}

impl<F: Real> LayerHead<F> {
    pub fn new(layer: usize, weight: f64, target: Option<String>, readout: Readout, head: Linear<F>) -> Self {
        LayerHead { layer, weight, target, readout, head, logits: Mat::default() }
    }

    /// Its output of the last forward: `batch x out` (Last) or `(time * batch) x out` (Each).
    pub fn logits(&self) -> &Mat<F> {
        &self.logits
    }
}

pub struct SeqModel<F> {
    pub embed: Option<Embedding<F>>,
    pub body: Vec<(String, Box<dyn SeqBlock<F>>)>,
    pub head: Linear<F>,
    pub readout: Readout,
    /// Heads on layers of the body's last layered block (`SeqBlock::layers`).
    pub heads: Vec<LayerHead<F>>,
    tap: bool,
    taps: Vec<(String, Mat<F>)>,
    /// The body's output of the last forward (time, batch) — to scatter the head's gradient.
    shape: (usize, usize),
    threads: usize,
}

/// The losses of one forward: what they measured, dL/d(main output) and, per layer head,
/// dL/d(its output) (weighted).
pub struct Losses<F> {
    pub step: StepOut,
    pub grad: Mat<F>,
    pub head_grads: Vec<Mat<F>>,
}

fn loss_of<F: Real>(out: &Mat<F>, targets: &BatchTargets<F>) -> LossOut<F> {
    match targets {
        BatchTargets::LastValue(v) => mse(out, v),
        BatchTargets::LastClass(l) | BatchTargets::EachClass(l) => softmax_cross_entropy(out, l),
    }
}

/// A head's gradient at the body's output, as a sequence: every step (Each), or the last step
/// only (Last).
fn scatter<F: Real>(readout: Readout, time: usize, batch: usize, dh: Mat<F>) -> Seq<F> {
    match readout {
        Readout::Each => Seq::from_mat(time, batch, dh),
        Readout::Last => {
            let mut s = Seq::zeros(time, batch, dh.cols);
            s.step_mut(time - 1).copy_from_slice(&dh.data);
            s
        }
    }
}

impl<F: Real> SeqModel<F> {
    pub fn new(
        embed: Option<Embedding<F>>,
        body: Vec<(String, Box<dyn SeqBlock<F>>)>,
        head: Linear<F>,
        readout: Readout,
    ) -> Self {
        SeqModel {
            embed,
            body,
            head,
            readout,
            heads: Vec::new(),
            tap: false,
            taps: Vec::new(),
            shape: (0, 0),
            threads: 1,
        }
    }

    /// With heads on layers of the body's layered block; each must read a layer it has, at
    /// that layer's width.
    pub fn with_heads(mut self, heads: Vec<LayerHead<F>>) -> Self {
        if !heads.is_empty() {
            let b = self.layered().expect("layer heads need a body block with layers (a recurrent stack)");
            let block = &self.body[b].1;
            for (j, h) in heads.iter().enumerate() {
                assert!(h.layer < block.layers(), "layer_heads.{j}: no layer {} in {}", h.layer, block.kind());
                assert_eq!(h.head.weight.value.cols, block.out_dim(), "layer_heads.{j}: input width");
            }
        }
        self.heads = heads;
        self
    }

    /// The body block the layer heads read: the last one that exposes layers.
    fn layered(&self) -> Option<usize> {
        self.body.iter().rposition(|(_, b)| b.layers() > 0)
    }

    /// The head's output: `batch x out` (Last) or `(time * batch) x out`, time-major (Each).
    /// Layer heads' outputs are kept (`LayerHead::logits`).
    pub fn forward(&mut self, batch: &SeqBatch<F>, ctx: &Ctx) -> Mat<F> {
        crate::tensor::par::with_threads(self.threads, || self.forward_here(batch, ctx))
    }

    fn forward_here(&mut self, batch: &SeqBatch<F>, ctx: &Ctx) -> Mat<F> {
        let mut h = match (&batch.inputs, &mut self.embed) {
            (BatchInputs::Tokens(ids), Some(e)) => e.forward(ids, batch.time, batch.batch),
            (BatchInputs::Real(x), None) => x.clone(),
            (BatchInputs::Tokens(_), None) => panic!("token inputs need an embedding"),
            (BatchInputs::Real(_), Some(_)) => panic!("real-valued inputs do not go through an embedding"),
        };
        let layered = if self.heads.is_empty() { None } else { self.layered() };
        for (i, (_, b)) in self.body.iter_mut().enumerate() {
            h = b.forward(&h, ctx);
            if layered == Some(i) {
                for hd in self.heads.iter_mut() {
                    let y = b.layer_output(hd.layer).expect("the layered block keeps its layers' outputs");
                    hd.logits = match hd.readout {
                        Readout::Last => hd.head.forward(&y.last(), ctx),
                        Readout::Each => hd.head.forward(&y.data, ctx),
                    };
                }
            }
        }
        self.shape = (h.time, h.batch);
        match self.readout {
            Readout::Last => self.head.forward(&h.last(), ctx),
            Readout::Each => self.head.forward(&h.data, ctx),
        }
    }

    /// The main loss of `out` (the last forward's output) and every layer head's, each on its
    /// own targets; the optimised loss is main + sum_j weight_j * loss_j.
    pub fn losses(&self, out: &Mat<F>, batch: &SeqBatch<F>) -> Losses<F> {
        let main = loss_of(out, &batch.targets);
        let mut step = StepOut {
            loss: main.loss,
            main_loss: main.loss,
            correct: main.correct,
            count: main.count,
            ..Default::default()
        };
        let mut head_grads = Vec::with_capacity(self.heads.len());
        for (j, hd) in self.heads.iter().enumerate() {
            let t = batch.targets_named(hd.target.as_deref()).unwrap_or_else(|| {
                panic!("layer_heads.{j}: the batch has no targets named {:?}", hd.target.as_deref().unwrap_or(""))
            });
            let l = loss_of(&hd.logits, t);
            step.loss += hd.weight * l.loss;
            let classes = !matches!(t, BatchTargets::LastValue(_));
            step.heads.push(HeadOut { loss: l.loss, correct: l.correct, count: l.count, classes });
            let mut g = l.grad;
            g.scale(F::c(hd.weight));
            head_grads.push(g);
        }
        Losses { step, grad: main.grad, head_grads }
    }

    /// Forward, loss, backward; parameter gradients accumulate.
    pub fn forward_backward(&mut self, batch: &SeqBatch<F>) -> StepOut {
        let out = self.forward(batch, &Ctx::TRAIN);
        let l = self.losses(&out, batch);
        self.backward(&l.grad, &l.head_grads);
        l.step
    }

    /// Forward and losses: `loss` is the main loss alone (as a feed-forward model's), each
    /// layer head's in `heads`.
    pub fn evaluate(&mut self, batch: &SeqBatch<F>) -> StepOut {
        let out = self.forward(batch, &Ctx::EVAL);
        let mut step = self.losses(&out, batch).step;
        step.loss = step.main_loss;
        step
    }

    /// Backward from dL/d(head output) and, per layer head, dL/d(its output) (none given: no
    /// gradient from them).
    pub fn backward(&mut self, dout: &Mat<F>, head_grads: &[Mat<F>]) {
        crate::tensor::par::with_threads(self.threads, || self.backward_here(dout, head_grads))
    }

    fn backward_here(&mut self, dout: &Mat<F>, head_grads: &[Mat<F>]) {
        self.taps.clear();
        let (time, batch) = self.shape;
        let dh = self.head.backward(dout);
        let mut d = scatter(self.readout, time, batch, dh);
        let raw_inputs = self.embed.is_none();
        let layered = if head_grads.is_empty() { None } else { self.layered() };
        for (i, (name, b)) in self.body.iter_mut().enumerate().rev() {
            if layered == Some(i) {
                let top = b.layers() - 1;
                for (hd, g) in self.heads.iter_mut().zip(head_grads) {
                    let dl = scatter(hd.readout, time, batch, hd.head.backward(g));
                    if hd.layer == top {
                        // The block's output: part of the gradient that reaches it.
                        d.data.add_assign(&dl.data);
                    } else {
                        b.add_layer_grad(hd.layer, &dl);
                    }
                }
            }
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

    /// Threads every block may use, and the products outside the blocks' own parallel loops
    /// (results do not depend on it; see `SeqBlock::set_threads`).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
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
        for (j, hd) in self.heads.iter_mut().enumerate() {
            hd.head.push_params(&format!("layer_heads.{j}"), &mut out);
        }
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
        if !out.all_finite() {
            return Some("head (linear)".into());
        }
        let layered = self.layered()?;
        for (j, hd) in self.heads.iter_mut().enumerate() {
            let y = self.body[layered].1.layer_output(hd.layer)?;
            if !hd.head.forward(&y.data, &Ctx::EVAL).all_finite() {
                return Some(format!("layer_heads.{j} (linear)"));
            }
        }
        None
    }

    /// Receptive field of the body, when bounded (convolutions).
    pub fn receptive_field(&self) -> Option<usize> {
        self.body.iter().map(|(_, b)| b.receptive_field()).try_fold(1usize, |acc, r| r.map(|r| acc + r - 1))
    }
}
