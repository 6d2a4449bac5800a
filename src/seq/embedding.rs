//! Token embedding: step t of sequence b becomes row `tokens[t][b]` of `weight` (PyTorch's
//! nn.Embedding: `weight` is `[vocab, dim]`).

use rand::Rng;
use rand_distr::{Distribution, Normal};

use super::Seq;
use crate::nn::{join, Param, ParamList};
use crate::tensor::{Mat, Real};

pub struct Embedding<F> {
    pub weight: Param<F>,
    /// The token ids of the last forward, time-major.
    ids: Vec<u32>,
}

impl<F: Real> Embedding<F> {
    /// N(0, 1) entries, as PyTorch initialises nn.Embedding.
    pub fn new(vocab: usize, dim: usize, rng: &mut impl Rng) -> Self {
        let n = Normal::new(0.0, 1.0).unwrap();
        Embedding { weight: Param::matrix(Mat::from_fn(vocab, dim, |_, _| F::c(n.sample(rng)))), ids: Vec::new() }
    }

    pub fn vocab(&self) -> usize {
        self.weight.value.rows
    }

    pub fn dim(&self) -> usize {
        self.weight.value.cols
    }

    /// `ids` time-major (`ids[t * batch + b]`); each must be `< vocab` (checked by the caller's
    /// data validation; out-of-range ids panic here).
    pub fn forward(&mut self, ids: &[u32], time: usize, batch: usize) -> Seq<F> {
        assert_eq!(ids.len(), time * batch);
        let mut out = Seq::zeros(time, batch, self.dim());
        for (r, &id) in ids.iter().enumerate() {
            out.data.row_mut(r).copy_from_slice(self.weight.value.row(id as usize));
        }
        self.ids = ids.to_vec();
        out
    }

    /// Scatter-add dL/d(output) into the rows of the used tokens.
    pub fn backward(&mut self, dy: &Seq<F>) {
        for (r, &id) in self.ids.iter().enumerate() {
            let g = self.weight.grad.row_mut(id as usize);
            g.iter_mut().zip(dy.data.row(r)).for_each(|(g, d)| *g += *d);
        }
    }

    pub fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        out.push((join(prefix, "weight"), &mut self.weight));
    }
}
