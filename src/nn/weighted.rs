//! Weighted skip, y = a * x + phi(W x + b), with a learned scalar or per-unit vector `a`
//! (initialised to 1): the simplest gate on a skip connection. Parameters: `linear.*`, `alpha`.

use rand::Rng;

use super::{join, Activation, Block, Ctx, Init, LinearAct, Param, ParamList, Switches};
use crate::tensor::{Mat, Real};

pub struct WeightedSkip<F> {
    pub branch: LinearAct<F>,
    /// Shape `[1]` (scalar) or `[dim]` (per unit).
    pub alpha: Param<F>,
    pub switches: Switches,
    x: Mat<F>,
}

impl<F: Real> WeightedSkip<F> {
    pub fn new(dim: usize, per_unit: bool, phi: Activation, init: &Init, rng: &mut impl Rng) -> Self {
        let alpha = Param::vector(vec![F::one(); if per_unit { dim } else { 1 }]);
        WeightedSkip {
            branch: LinearAct::new(dim, dim, phi, init, rng),
            alpha,
            switches: Switches::default(),
            x: Mat::default(),
        }
    }

    fn a(&self, col: usize) -> F {
        let a = &self.alpha.value.data;
        if a.len() == 1 {
            a[0]
        } else {
            a[col]
        }
    }
}

impl<F: Real> Block<F> for WeightedSkip<F> {
    fn kind(&self) -> &'static str {
        "weighted_skip"
    }
    fn in_dim(&self) -> usize {
        self.branch.in_dim()
    }
    fn out_dim(&self) -> usize {
        self.branch.out_dim()
    }
    fn forward(&mut self, x: &Mat<F>, _ctx: &Ctx) -> Mat<F> {
        if self.switches.lesioned {
            return x.clone();
        }
        self.x.clone_from(x);
        let mut y = self.branch.forward_keep(x).clone();
        for r in 0..y.rows {
            for (c, (y, &x)) in y.row_mut(r).iter_mut().zip(x.row(r)).enumerate() {
                *y += self.a(c) * x;
            }
        }
        y
    }
    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        if self.switches.lesioned {
            return dy.clone();
        }
        let mut dx = Mat::zeros(dy.rows, dy.cols);
        let scalar = self.alpha.len() == 1;
        for r in 0..dy.rows {
            for c in 0..dy.cols {
                let (g, x) = (dy.at(r, c), self.x.at(r, c));
                dx.data[r * dy.cols + c] = self.a(c) * g;
                self.alpha.grad.data[if scalar { 0 } else { c }] += g * x;
            }
        }
        if self.switches.pass_branch_grad {
            self.branch.backward_keep(dy, Some(&mut dx));
        }
        dx
    }
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        self.branch.params(prefix, out);
        out.push((join(prefix, "alpha"), &mut self.alpha));
    }
    fn switches(&mut self) -> Option<&mut Switches> {
        Some(&mut self.switches)
    }
}
