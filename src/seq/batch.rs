//! From a `SeqDataset` to mini-batches: sequences of one batch have one length (token data sets
//! are bucketed by length, so no padding and no masks are needed), time-major.

use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use super::Seq;
use crate::data::seq::{SeqDataset, SeqInputs, SeqTargets};
use crate::tensor::{Mat, Real};

pub enum BatchInputs<F> {
    Real(Seq<F>),
    /// Token ids, time-major: `ids[t * batch + b]`.
    Tokens(Vec<u32>),
}

pub enum BatchTargets<F> {
    /// `batch x dim`, read off the last step.
    LastValue(Mat<F>),
    LastClass(Vec<u32>),
    /// One label per step, time-major (`IGNORE` for unscored steps).
    EachClass(Vec<u32>),
}

pub struct SeqBatch<F> {
    pub time: usize,
    pub batch: usize,
    pub inputs: BatchInputs<F>,
    pub targets: BatchTargets<F>,
    /// The data set's named targets for these sequences (`SeqDataset::named`).
    pub named: Vec<(String, BatchTargets<F>)>,
}

impl<F> SeqBatch<F> {
    /// A batch with main targets only.
    pub fn new(time: usize, batch: usize, inputs: BatchInputs<F>, targets: BatchTargets<F>) -> Self {
        SeqBatch { time, batch, inputs, targets, named: Vec::new() }
    }

    /// The targets called `name` (None: the main ones).
    pub fn targets_named(&self, name: Option<&str>) -> Option<&BatchTargets<F>> {
        match name {
            None => Some(&self.targets),
            Some(n) => self.named.iter().find(|(k, _)| k == n).map(|(_, t)| t),
        }
    }
}

/// The examples `idx` (all of one length) as a batch.
pub fn make_batch<F: Real>(ds: &SeqDataset, idx: &[usize]) -> SeqBatch<F> {
    let batch = idx.len();
    let time = ds.seq_len(idx[0]);
    assert!(idx.iter().all(|&i| ds.seq_len(i) == time), "a batch mixes sequence lengths");
    let inputs = match &ds.inputs {
        SeqInputs::Real { time, dim, values, .. } => {
            let mut s = Seq::zeros(*time, batch, *dim);
            for (b, &i) in idx.iter().enumerate() {
                for t in 0..*time {
                    let src = &values[(i * time + t) * dim..(i * time + t + 1) * dim];
                    s.step_row_mut(t, b).iter_mut().zip(src).for_each(|(d, v)| *d = F::c(*v as f64));
                }
            }
            BatchInputs::Real(s)
        }
        SeqInputs::Tokens { seqs, .. } => {
            BatchInputs::Tokens((0..time).flat_map(|t| idx.iter().map(move |&i| seqs[i][t])).collect())
        }
    };
    let targets = batch_targets(&ds.targets, idx, time);
    let named = ds.named.iter().map(|(n, t)| (n.clone(), batch_targets(t, idx, time))).collect();
    SeqBatch { time, batch, inputs, targets, named }
}

fn batch_targets<F: Real>(targets: &SeqTargets, idx: &[usize], time: usize) -> BatchTargets<F> {
    match targets {
        SeqTargets::LastValue { dim, values } => {
            BatchTargets::LastValue(Mat::from_fn(idx.len(), *dim, |b, c| F::c(values[idx[b] * dim + c] as f64)))
        }
        SeqTargets::LastClass { labels, .. } => BatchTargets::LastClass(idx.iter().map(|&i| labels[i]).collect()),
        SeqTargets::EachClass { labels, .. } => {
            BatchTargets::EachClass((0..time).flat_map(|t| idx.iter().map(move |&i| labels[i][t])).collect())
        }
    }
}

/// The batches of one epoch: examples shuffled by (seed, epoch), grouped by length into
/// batches of at most `batch_size`, and the batches shuffled. Deterministic.
pub fn epoch_batches(ds: &SeqDataset, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut rng = StdRng::seed_from_u64(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(epoch as u64 + 1)));
    let mut idx: Vec<usize> = (0..ds.len()).collect();
    idx.shuffle(&mut rng);
    // Stable sort by length keeps the shuffled order within each length.
    idx.sort_by_key(|&i| ds.seq_len(i));
    let mut batches = Vec::new();
    let mut start = 0;
    while start < idx.len() {
        let len = ds.seq_len(idx[start]);
        let mut end = start;
        while end < idx.len() && end - start < batch_size && ds.seq_len(idx[end]) == len {
            end += 1;
        }
        batches.push(idx[start..end].to_vec());
        start = end;
    }
    batches.shuffle(&mut rng);
    batches
}

/// All examples in batches, in order (for evaluation), grouped by length.
pub fn eval_batches(ds: &SeqDataset, batch_size: usize) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..ds.len()).collect();
    idx.sort_by_key(|&i| ds.seq_len(i));
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in idx {
        match out.last_mut() {
            Some(b) if b.len() < batch_size && ds.seq_len(b[0]) == ds.seq_len(i) => b.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}
