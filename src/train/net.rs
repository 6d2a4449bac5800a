//! What the training loop needs of a model and of its data, so feed-forward and sequence models
//! share one loop.

use super::epoch_order;
use crate::data::seq::{SeqSplit, SeqTargets};
use crate::data::{Dataset, Split, Targets};
use crate::nn::{Model, ParamList, StepOut, Target};
use crate::seq::batch::{epoch_batches, eval_batches, make_batch, SeqBatch};
use crate::seq::model::SeqModel;
use crate::tensor::kernels::l2_norm;

/// A trainable model over batches of type `B`.
pub trait Net<B> {
    /// Forward, loss and backward: parameter gradients are accumulated.
    fn train_step(&mut self, batch: &B) -> StepOut;
    /// Forward and loss only.
    fn eval_step(&mut self, batch: &B) -> StepOut;
    fn params(&mut self) -> ParamList<'_, f32>;
    /// The first block whose output is not finite on this batch (for a diverged run).
    fn first_non_finite(&mut self, batch: &B) -> Option<String>;
    fn zero_grad(&mut self) {
        self.params().into_iter().for_each(|(_, p)| p.zero_grad());
    }
    fn num_params(&mut self) -> usize {
        self.params().iter().map(|(_, p)| p.len()).sum()
    }
    /// Steps of input one output can see, for models whose view is bounded (convolutions).
    fn receptive_field(&self) -> Option<usize> {
        None
    }
    /// Record dL/d(output) of every block in the next training steps (their norms at least).
    fn set_taps(&mut self, on: bool);
    /// ||dL/dh|| of every tapped output of the last backward, named (`act.layers.3`).
    fn tap_norms(&self) -> Vec<(String, f64)>;
}

/// Training and held-out examples, cut into batches of type `B`.
pub trait Batches<B> {
    /// The training batches of `epoch` (as example indices), deterministic in (seed, epoch).
    fn train_order(&self, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>>;
    fn train_batch(&self, idx: &[usize]) -> B;
    /// All held-out (or, with `train`, training) examples in batches.
    fn eval_order(&self, train: bool) -> Vec<Vec<usize>>;
    fn eval_batch(&self, train: bool, idx: &[usize]) -> B;
    fn is_empty(&self) -> bool;
    /// Whether accuracy means something (class targets).
    fn classes(&self) -> bool;
    /// Reference numbers to log beside the test loss (e.g. the predict-the-mean baseline).
    fn baselines(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
}

impl Net<Dataset> for Model<f32> {
    fn train_step(&mut self, b: &Dataset) -> StepOut {
        self.forward_backward(&b.x, &target(&b.y))
    }
    fn eval_step(&mut self, b: &Dataset) -> StepOut {
        self.evaluate(&b.x, &target(&b.y))
    }
    fn params(&mut self) -> ParamList<'_, f32> {
        Model::params(self)
    }
    fn first_non_finite(&mut self, b: &Dataset) -> Option<String> {
        Model::first_non_finite(self, &b.x)
    }
    fn set_taps(&mut self, on: bool) {
        // The training loop reads only the norms.
        Model::set_tap_norms(self, on)
    }
    fn tap_norms(&self) -> Vec<(String, f64)> {
        Model::tap_norms(self)
    }
}

fn target(y: &Targets) -> Target<'_, f32> {
    match y {
        Targets::Classes { labels, .. } => Target::Classes(labels),
        Targets::Values(v) => Target::Values(v),
    }
}

const EVAL_BATCH: usize = 1000;

impl Batches<Dataset> for Split {
    fn train_order(&self, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
        epoch_order(seed, epoch, self.train.len()).chunks(batch_size).map(|c| c.to_vec()).collect()
    }
    fn train_batch(&self, idx: &[usize]) -> Dataset {
        self.train.batch(idx)
    }
    fn eval_order(&self, train: bool) -> Vec<Vec<usize>> {
        let n = if train { self.train.len() } else { self.test.len() };
        (0..n).collect::<Vec<_>>().chunks(EVAL_BATCH).map(|c| c.to_vec()).collect()
    }
    fn eval_batch(&self, train: bool, idx: &[usize]) -> Dataset {
        if train {
            self.train.batch(idx)
        } else {
            self.test.batch(idx)
        }
    }
    fn is_empty(&self) -> bool {
        self.train.is_empty()
    }
    fn classes(&self) -> bool {
        matches!(self.train.y, Targets::Classes { .. })
    }
}

impl Net<SeqBatch<f32>> for SeqModel<f32> {
    fn train_step(&mut self, b: &SeqBatch<f32>) -> StepOut {
        self.forward_backward(b)
    }
    fn eval_step(&mut self, b: &SeqBatch<f32>) -> StepOut {
        self.evaluate(b)
    }
    fn params(&mut self) -> ParamList<'_, f32> {
        SeqModel::params(self)
    }
    fn first_non_finite(&mut self, b: &SeqBatch<f32>) -> Option<String> {
        SeqModel::first_non_finite(self, b)
    }
    fn receptive_field(&self) -> Option<usize> {
        SeqModel::receptive_field(self)
    }
    fn set_taps(&mut self, on: bool) {
        SeqModel::set_taps(self, on)
    }
    fn tap_norms(&self) -> Vec<(String, f64)> {
        self.taps().iter().map(|(n, g)| (n.clone(), l2_norm(&g.data))).collect()
    }
}

const SEQ_EVAL_BATCH: usize = 256;

impl Batches<SeqBatch<f32>> for SeqSplit {
    fn train_order(&self, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
        epoch_batches(&self.train, batch_size, seed, epoch)
    }
    fn train_batch(&self, idx: &[usize]) -> SeqBatch<f32> {
        make_batch(&self.train, idx)
    }
    fn eval_order(&self, train: bool) -> Vec<Vec<usize>> {
        eval_batches(if train { &self.train } else { &self.test }, SEQ_EVAL_BATCH)
    }
    fn eval_batch(&self, train: bool, idx: &[usize]) -> SeqBatch<f32> {
        make_batch(if train { &self.train } else { &self.test }, idx)
    }
    fn is_empty(&self) -> bool {
        self.train.is_empty()
    }
    fn classes(&self) -> bool {
        !matches!(self.train.targets, SeqTargets::LastValue { .. })
    }
    /// Regression: the test MSE of always predicting the training targets' mean (the adding
    /// problem's 0.167).
    fn baselines(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if let (SeqTargets::LastValue { dim, values: tr }, SeqTargets::LastValue { values: te, .. }) =
            (&self.train.targets, &self.test.targets)
        {
            if te.is_empty() || tr.is_empty() {
                return m;
            }
            let mean: Vec<f64> = (0..*dim)
                .map(|c| tr.iter().skip(c).step_by(*dim).map(|v| *v as f64).sum::<f64>() / (tr.len() / dim) as f64)
                .collect();
            let mse =
                te.iter().enumerate().map(|(i, v)| (*v as f64 - mean[i % dim]).powi(2)).sum::<f64>() / te.len() as f64;
            m.insert("test_mean_baseline_mse".into(), serde_json::json!(mse));
        }
        m
    }
}
