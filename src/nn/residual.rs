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

    /// d <- d * phi'(z), with a = phi(z).
    fn phi_back(&self, z: &Mat<F>, a: &Mat<F>, d: &mut Mat<F>) {
        self.phi.grad_in_place(Some(&z.data), &a.data, &mut d.data);
    }

    /// y = x + F(x) into `y` (resized), for the input kept in `x`.
    fn forward_kept(&mut self, y: &mut Mat<F>) {
        let x = &self.x;
        let inp = if self.preact {
            self.a0.clone_from(x);
            self.phi.apply(&mut self.a0.data);
            &self.a0
        } else {
            x
        };
        self.fc1.affine(inp, &mut self.z1);
        let last_is_linear = self.preact && self.fc2.is_none();
        if last_is_linear {
            y.clone_from(&self.z1);
        } else {
            self.a1.clone_from(&self.z1);
            self.phi.apply(&mut self.a1.data);
            match &self.fc2 {
                None => y.clone_from(&self.a1),
                Some(fc2) => fc2.affine(&self.a1, y),
            }
        }
        y.add_assign(x);
    }

    /// dL/dx for dL/dy = `d`, computed in `d`'s place: dL/dx = dL/dy + the branch's dL/dx.
    fn backward_in_place(&mut self, d: &mut Mat<F>) {
        let mut dz1 = Mat::scratch(0, 0);
        if let Some(fc2) = &mut self.fc2 {
            dz1.reshape_for(d.rows, self.a1.cols);
            fc2.param_grads(&self.a1, d);
            fc2.input_grad(d, &mut dz1, false);
        } else {
            dz1.clone_from(d);
        }
        let last_is_linear = self.preact && self.fc2.is_none();
        if !last_is_linear {
            let (z1, a1) = (std::mem::take(&mut self.z1), std::mem::take(&mut self.a1));
            self.phi_back(&z1, &a1, &mut dz1);
            (self.z1, self.a1) = (z1, a1);
        }
        if self.preact {
            // The branch's dL/dx passes through phi'(x) before it joins dL/dy.
            let mut dinp = Mat::zeros(d.rows, self.in_dim());
            self.fc1.param_grads(&self.a0, &dz1);
            self.fc1.input_grad(&dz1, &mut dinp, true);
            let (x, a0) = (std::mem::take(&mut self.x), std::mem::take(&mut self.a0));
            self.phi_back(&x, &a0, &mut dinp);
            (self.x, self.a0) = (x, a0);
            dinp.add_assign(d);
            *d = dinp;
        } else {
            self.fc1.param_grads(&self.x, &dz1);
            self.fc1.input_grad(&dz1, d, true);
        }
        dz1.recycle();
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
    fn forward(&mut self, x: &Mat<F>, ctx: &Ctx) -> Mat<F> {
        self.forward_owned(x.clone(), ctx)
    }
    fn forward_owned(&mut self, x: Mat<F>, _ctx: &Ctx) -> Mat<F> {
        if self.switches.lesioned {
            return x;
        }
        // x is kept for the backward; the buffer of the input kept last time carries y out.
        let mut y = std::mem::replace(&mut self.x, x);
        self.forward_kept(&mut y);
        y
    }
    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        self.backward_owned(dy.clone())
    }
    fn backward_owned(&mut self, dy: Mat<F>) -> Mat<F> {
        let mut d = dy;
        if !self.switches.lesioned && self.switches.pass_branch_grad {
            self.backward_in_place(&mut d);
        }
        d
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
