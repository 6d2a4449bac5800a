//! Data sets: generated in-process from a seed (MNIST-1D, synthetic tasks) or read from files
//! (IDX for MNIST / Fashion-MNIST, the Brown corpus, text) found in the data folders of
//! [`search`], and fetched there from their public sources ([`fetch`], [`require`]).

use crate::tensor::Mat;

pub mod brown;
pub mod cli;
mod error;
pub mod fetch;
pub mod idx;
pub mod mnist1d;
pub mod require;
pub mod search;
pub mod seq;
pub mod seqtasks;
pub mod synthetic;
pub mod text;

pub use error::DataError;

/// What a model is trained to predict for each example.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class index per example, each `< n_classes`.
    Classes { labels: Vec<u32>, n_classes: usize },
    /// One real vector per example (regression), `n x dim`.
    Values(Mat<f32>),
}

impl Targets {
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values(m) => m.rows,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of model outputs needed: classes, or the regression width.
    pub fn out_dim(&self) -> usize {
        match self {
            Targets::Classes { n_classes, .. } => *n_classes,
            Targets::Values(m) => m.cols,
        }
    }

    /// The targets of the examples `idx`, in that order.
    pub fn gather(&self, idx: &[usize]) -> Targets {
        match self {
            Targets::Classes { labels, n_classes } => {
                Targets::Classes { labels: idx.iter().map(|&i| labels[i]).collect(), n_classes: *n_classes }
            }
            Targets::Values(m) => Targets::Values(m.gather_rows(idx)),
        }
    }
}

/// `n` examples: inputs `x` (`n x dim`, f32) and their targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub x: Mat<f32>,
    pub y: Targets,
}

impl Dataset {
    pub fn new(x: Mat<f32>, y: Targets) -> Self {
        assert_eq!(x.rows, y.len(), "Dataset: {} inputs but {} targets", x.rows, y.len());
        Dataset { x, y }
    }

    pub fn len(&self) -> usize {
        self.x.rows
    }

    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }

    pub fn in_dim(&self) -> usize {
        self.x.cols
    }

    /// The examples `idx` as a mini-batch.
    pub fn batch(&self, idx: &[usize]) -> Dataset {
        Dataset { x: self.x.gather_rows(idx), y: self.y.gather(idx) }
    }

    /// The first `n` examples (or all of them when there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.batch(&idx)
    }
}

/// A training set and a held-out set.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}
