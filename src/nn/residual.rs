//! Residual block, y = x + F(x), with the branch F one or two layers:
//!   post-activation (default): F = phi(W1 x + b1)            or  W2 phi(W1 x + b1) + b2
//!   pre-activation:            F = W1 phi(x) + b1             or  W2 phi(W1 phi(x) + b1) + b2
//! Parameters: `fc1.*`, `fc2.*`.

use rand::Rng;

use super::{join, Activation, Block, Ctx, Init, Linear, ParamList, Switches};
use crate::tensor::{Mat, Real};

pub struct Residual<F> {
    pub fc1: Linear<F>,
    pub fc2: Option<Linear<F>>,
    pub phi: Activation,
    pub preact: bool,
    pub switches: Switches,
    // Cached: a0 = phi(x) (pre-activation only), z1 = fc1 output, a1 = phi(z1) (two layers, or
    // the branch output of a one-layer post-activation block).
    a0: Mat<F>,
    x: Mat<F>,
    z1: Mat<F>,
    a1: Mat<F>,
}

impl<F: Real> Residual<F> {
    pub fn new(dim: usize, layers: usize, phi: Activation, preact: bool, init: &Init, rng: &mut impl Rng) -> Self {
        assert!(layers == 1 || layers == 2, "a residual branch has 1 or 2 layers, not {layers}");
        let fc1 = Linear::new(dim, dim, init, rng);
        let fc2 = (layers == 2).then(|| Linear::new(dim, dim, init, rng));
        let e = Mat::default;
        Residual { fc1, fc2, phi, preact, switches: Switches::default(), a0: e(), x: e(), z1: e(), a1: e() }
    }

    fn apply_phi(&self, z: &Mat<F>) -> Mat<F> {
        let mut a = z.clone();
        self.phi.apply(&mut a.data);
        a
    }

    /// d <- d * phi'(z), with a = phi(z).
    fn phi_back(&self, z: &Mat<F>, a: &Mat<F>, d: &mut Mat<F>) {
        self.phi.grad_in_place(Some(&z.data), &a.data, &mut d.data);
    }

    fn branch(&mut self, x: &Mat<F>) -> Mat<F> {
        self.x.clone_from(x);
        let inp = if self.preact {
            self.a0 = self.apply_phi(x);
            &self.a0
        } else {
            x
        };
        self.fc1.affine(inp, &mut self.z1);
        let last_is_linear = self.preact && self.fc2.is_none();
        if last_is_linear {
            return self.z1.clone();
        }
        self.a1 = self.apply_phi(&self.z1);
        match &self.fc2 {
            None => self.a1.clone(),
            Some(fc2) => {
                let mut out = Mat::default();
                fc2.affine(&self.a1, &mut out);
                out
            }
        }
    }

    /// dL/dx through the branch only, for dL/d(branch output) = `d`.
    fn branch_backward(&mut self, d: &Mat<F>) -> Mat<F> {
        let mut dz1 = if let Some(fc2) = &mut self.fc2 {
            let mut da1 = Mat::zeros(d.rows, self.a1.cols);
            fc2.backward_affine(&self.a1, d, Some(&mut da1));
            da1
        } else {
            d.clone()
        };
        let last_is_linear = self.preact && self.fc2.is_none();
        if !last_is_linear {
            let (z1, a1) = (std::mem::take(&mut self.z1), std::mem::take(&mut self.a1));
            self.phi_back(&z1, &a1, &mut dz1);
            (self.z1, self.a1) = (z1, a1);
        }
        let mut dinp = Mat::zeros(d.rows, self.in_dim());
        let inp = std::mem::take(if self.preact { &mut self.a0 } else { &mut self.x });
        self.fc1.backward_affine(&inp, &dz1, Some(&mut dinp));
        if self.preact {
            self.a0 = inp;
            let (x, a0) = (std::mem::take(&mut self.x), std::mem::take(&mut self.a0));
            self.phi_back(&x, &a0, &mut dinp);
            (self.x, self.a0) = (x, a0);
        } else {
            self.x = inp;
        }
        dinp
    }
}

impl<F: Real> Block<F> for Residual<F> {
    fn kind(&self) -> &'static str {
        "residual"
    }
    fn in_dim(&self) -> usize {
        self.fc1.in_dim()
    }
    fn out_dim(&self) -> usize {
        self.fc1.in_dim()
    }
    fn forward(&mut self, x: &Mat<F>, _ctx: &Ctx) -> Mat<F> {
        if self.switches.lesioned {
            return x.clone();
        }
        let mut y = self.branch(x);
        y.add_assign(x);
        y
    }
    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        if self.switches.lesioned || !self.switches.pass_branch_grad {
            return dy.clone();
        }
        let mut dx = self.branch_backward(dy);
        dx.add_assign(dy);
        dx
    }
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        self.fc1.push_params(&join(prefix, "fc1"), out);
        if let Some(fc2) = &mut self.fc2 {
            fc2.push_params(&join(prefix, "fc2"), out);
        }
    }
    fn switches(&mut self) -> Option<&mut Switches> {
        Some(&mut self.switches)
    }
}
