//! A feed-forward block applied to every step of a sequence (an input projection, a per-step
//! MLP): the time-major data matrix is just a taller batch.

use super::{Seq, SeqBlock};
use crate::nn::{Block, Ctx, ParamList};
use crate::tensor::Real;

pub struct PerStep<B>(pub B);

impl<F: Real, B: Block<F>> SeqBlock<F> for PerStep<B> {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn in_dim(&self) -> usize {
        self.0.in_dim()
    }
    fn out_dim(&self) -> usize {
        self.0.out_dim()
    }
    fn forward(&mut self, x: &Seq<F>, ctx: &Ctx) -> Seq<F> {
        Seq::from_mat(x.time, x.batch, self.0.forward(&x.data, ctx))
    }
    fn backward(&mut self, dy: &Seq<F>) -> Seq<F> {
        Seq::from_mat(dy.time, dy.batch, self.0.backward(&dy.data))
    }
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        self.0.params(prefix, out);
    }
}
