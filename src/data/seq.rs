//! Sequence data sets: inputs of real features or tokens, targets per sequence or per step.

/// A per-step target that is not scored (PyTorch's `ignore_index`).
pub const IGNORE: u32 = u32::MAX;

#[derive(Clone, Debug, PartialEq)]
pub enum SeqInputs {
    /// `n` sequences of `time` steps of `dim` real features, batch-major `[n][time][dim]`.
    Real { n: usize, time: usize, dim: usize, values: Vec<f32> },
    /// Token ids `< vocab`, one sequence each (lengths may differ: batches group equal lengths).
    Tokens { seqs: Vec<Vec<u32>>, vocab: usize },
}

#[derive(Clone, Debug, PartialEq)]
pub enum SeqTargets {
    /// One real vector per sequence, read off the last step (adding problem): `n x dim`.
    LastValue { dim: usize, values: Vec<f32> },
    /// One class per sequence, read off the last step (sequential MNIST).
    LastClass { labels: Vec<u32>, n_classes: usize },
    /// One class per step (tagging, copy memory, language modelling); `IGNORE` marks steps
    /// that are neither trained nor scored.
    EachClass { labels: Vec<Vec<u32>>, n_classes: usize },
}

/// `n` sequences and their targets.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqDataset {
    pub inputs: SeqInputs,
    /// The main targets (what the model's head learns).
    pub targets: SeqTargets,
    /// Other targets of the same sequences, by name (e.g. Brown's `base` tags beside its `full`
    /// ones), for per-layer heads (`model.layer_heads[j].target`).
    pub named: Vec<(String, SeqTargets)>,
}

impl SeqTargets {
    /// Targets of the first `n` sequences.
    pub fn take(&self, n: usize) -> SeqTargets {
        match self {
            SeqTargets::LastValue { dim, values } => {
                SeqTargets::LastValue { dim: *dim, values: values[..(n * dim).min(values.len())].to_vec() }
            }
            SeqTargets::LastClass { labels, n_classes } => {
                SeqTargets::LastClass { labels: labels[..n.min(labels.len())].to_vec(), n_classes: *n_classes }
            }
            SeqTargets::EachClass { labels, n_classes } => {
                SeqTargets::EachClass { labels: labels[..n.min(labels.len())].to_vec(), n_classes: *n_classes }
            }
        }
    }

    /// Model outputs: classes, or the regression width.
    pub fn out_dim(&self) -> usize {
        match self {
            SeqTargets::LastValue { dim, .. } => *dim,
            SeqTargets::LastClass { n_classes, .. } | SeqTargets::EachClass { n_classes, .. } => *n_classes,
        }
    }
}

impl SeqDataset {
    /// Inputs and their main targets, no named ones.
    pub fn new(inputs: SeqInputs, targets: SeqTargets) -> Self {
        SeqDataset { inputs, targets, named: Vec::new() }
    }

    /// The targets called `name` (None: the main ones).
    pub fn targets_named(&self, name: Option<&str>) -> Option<&SeqTargets> {
        match name {
            None => Some(&self.targets),
            Some(n) => self.named.iter().find(|(k, _)| k == n).map(|(_, t)| t),
        }
    }

    pub fn len(&self) -> usize {
        match &self.inputs {
            SeqInputs::Real { n, .. } => *n,
            SeqInputs::Tokens { seqs, .. } => seqs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` sequences (all, when there are fewer).
    pub fn take(&self, n: usize) -> SeqDataset {
        let n = n.min(self.len());
        let inputs = match &self.inputs {
            SeqInputs::Real { time, dim, values, .. } => {
                SeqInputs::Real { n, time: *time, dim: *dim, values: values[..n * time * dim].to_vec() }
            }
            SeqInputs::Tokens { seqs, vocab } => SeqInputs::Tokens { seqs: seqs[..n].to_vec(), vocab: *vocab },
        };
        let named = self.named.iter().map(|(k, t)| (k.clone(), t.take(n))).collect();
        SeqDataset { inputs, targets: self.targets.take(n), named }
    }

    /// Model inputs per step: the feature width, or the vocabulary for tokens.
    pub fn in_dim(&self) -> usize {
        match &self.inputs {
            SeqInputs::Real { dim, .. } => *dim,
            SeqInputs::Tokens { vocab, .. } => *vocab,
        }
    }

    /// Model outputs: classes, or the regression width.
    pub fn out_dim(&self) -> usize {
        self.targets.out_dim()
    }

    /// Steps of sequence i.
    pub fn seq_len(&self, i: usize) -> usize {
        match &self.inputs {
            SeqInputs::Real { time, .. } => *time,
            SeqInputs::Tokens { seqs, .. } => seqs[i].len(),
        }
    }
}

/// A training set and a held-out set of sequences.
#[derive(Clone, Debug)]
pub struct SeqSplit {
    pub train: SeqDataset,
    pub test: SeqDataset,
    /// What the data set is, for logs (e.g. "adding T=100").
    pub name: String,
}
