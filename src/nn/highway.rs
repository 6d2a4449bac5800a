//! Highway layer (Srivastava, Greff & Schmidhuber 2015):
//!   y = T(x) * H(x) + C(x) * x,   H = phi(W_H x + b_H),  T = sigmoid(W_T x + b_T)
//! with the coupled carry C = 1 - T (default) or an independent carry gate
//! C = sigmoid(W_C x + b_C). Parameters: `transform.*` (H), `gate.*` (T), `carry.*` (C).

use rand::Rng;

use super::{join, Activation, Block, Ctx, Init, Linear, ParamList, Switches};
use crate::tensor::{Mat, Real};

pub struct Highway<F> {
    pub transform: Linear<F>,
    pub gate: Linear<F>,
    pub carry: Option<Linear<F>>,
    pub phi: Activation,
    pub switches: Switches,
    x: Mat<F>,
    h: Mat<F>,
    hz: Mat<F>,
    t: Mat<F>,
    c: Mat<F>,
}

impl<F: Real> Highway<F> {
    /// A width-`dim` highway layer; the transform gate's bias is set to `gate_bias` (negative:
    /// the layer starts out carrying its input), an independent carry gate's to `carry_bias`.
    pub fn new(
        dim: usize,
        phi: Activation,
        init: &Init,
        gate_bias: f64,
        carry_bias: Option<f64>,
        rng: &mut impl Rng,
    ) -> Self {
        let transform = Linear::new(dim, dim, init, rng);
        let mut gate = Linear::new(dim, dim, init, rng);
        gate.bias.value.fill(F::c(gate_bias));
        let carry = carry_bias.map(|cb| {
            let mut c = Linear::new(dim, dim, init, rng);
            c.bias.value.fill(F::c(cb));
            c
        });
        let e = || Mat::zeros(0, 0);
        Highway { transform, gate, carry, phi, switches: Switches::default(), x: e(), h: e(), hz: e(), t: e(), c: e() }
    }

    /// The transform gate T of the last forward (batch x width).
    pub fn gate_values(&self) -> &Mat<F> {
        &self.t
    }

    /// The carry gate C of the last forward, when it is independent.
    pub fn carry_values(&self) -> Option<&Mat<F>> {
        self.carry.as_ref().map(|_| &self.c)
    }
}

impl<F: Real> Block<F> for Highway<F> {
    fn kind(&self) -> &'static str {
        "highway"
    }
    fn in_dim(&self) -> usize {
        self.gate.in_dim()
    }
    fn out_dim(&self) -> usize {
        self.gate.out_dim()
    }

    fn forward(&mut self, x: &Mat<F>, _ctx: &Ctx) -> Mat<F> {
        let shut = self.switches.lesioned;
        self.x.clone_from(x);
        if let Some(carry) = &self.carry {
            carry.affine(x, &mut self.c);
            F::sigmoid_slice(&mut self.c.data);
        }
        let mut y = Mat::zeros(x.rows, x.cols);
        if shut {
            // T forced to 0: the layer only carries.
            self.t.reshape_for(x.rows, x.cols);
            self.t.fill(F::zero());
            match &self.carry {
                None => y.data.copy_from_slice(&x.data),
                Some(_) => y.data.iter_mut().zip(&self.c.data).zip(&x.data).for_each(|((y, &c), &x)| *y = c * x),
            }
            return y;
        }
        self.transform.affine(x, &mut self.h);
        if self.phi.needs_input() {
            self.hz.clone_from(&self.h);
        }
        self.phi.apply(&mut self.h.data);
        self.gate.affine(x, &mut self.t);
        F::sigmoid_slice(&mut self.t.data);
        let one = F::one();
        let it = y.data.iter_mut().zip(&self.t.data).zip(&self.h.data).zip(&x.data);
        match &self.carry {
            None => it.for_each(|(((y, &t), &h), &x)| *y = t * h + (one - t) * x),
            Some(_) => it.zip(&self.c.data).for_each(|((((y, &t), &h), &x), &c)| *y = t * h + c * x),
        }
        y
    }

    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        let one = F::one();
        let n = dy.len();
        let shut = self.switches.lesioned;
        let through_branch = self.switches.pass_branch_grad;
        // One pass over memory: the carry path's dx and the pre-activation gradients of H, T, C.
        let mut dx = Mat::zeros(dy.rows, dy.cols);
        let mut dzh = Mat::zeros(dy.rows, dy.cols);
        let mut dzt = Mat::zeros(dy.rows, dy.cols);
        let mut dzc = Mat::zeros(0, 0);
        match &self.carry {
            None => {
                for i in 0..n {
                    let (g, t) = (dy.data[i], self.t.data[i]);
                    dx.data[i] = g * (one - t);
                    if !shut {
                        dzh.data[i] = g * t;
                        dzt.data[i] = g * (self.h.data[i] - self.x.data[i]) * t * (one - t);
                    }
                }
            }
            Some(_) => {
                dzc.reshape_for(dy.rows, dy.cols);
                for i in 0..n {
                    let (g, t, c, x) = (dy.data[i], self.t.data[i], self.c.data[i], self.x.data[i]);
                    dx.data[i] = g * c;
                    dzc.data[i] = g * x * c * (one - c);
                    if !shut {
                        dzh.data[i] = g * t;
                        dzt.data[i] = g * self.h.data[i] * t * (one - t);
                    }
                }
            }
        }
        if !through_branch {
            return dx;
        }
        let x = std::mem::take(&mut self.x);
        if !shut {
            // dzh holds dL/dH = dy * T; through phi' it becomes dL/dz_H.
            let hz = self.phi.needs_input().then_some(&self.hz.data[..]);
            self.phi.grad_in_place(hz, &self.h.data, &mut dzh.data);
            self.transform.backward_affine(&x, &dzh, Some(&mut dx));
            self.gate.backward_affine(&x, &dzt, Some(&mut dx));
        }
        if let Some(carry) = &mut self.carry {
            carry.backward_affine(&x, &dzc, Some(&mut dx));
        }
        self.x = x;
        dx
    }

    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        self.transform.push_params(&join(prefix, "transform"), out);
        self.gate.push_params(&join(prefix, "gate"), out);
        if let Some(c) = &mut self.carry {
            c.push_params(&join(prefix, "carry"), out);
        }
    }

    fn switches(&mut self) -> Option<&mut Switches> {
        Some(&mut self.switches)
    }
}
