//! y = x W^T + b, and the fused y = phi(x W^T + b) that plain layers are made of.

use rand::Rng;

use super::{join, Activation, Block, Ctx, Init, Param, ParamList, Switches};
use crate::tensor::{fill_rows, matmul_into, Mat, Real, View};

/// An affine map `in -> out`: `weight` is `out x in`, `bias` is `[out]`.
pub struct Linear<F> {
    pub weight: Param<F>,
    pub bias: Param<F>,
    x: Mat<F>,
}

impl<F: Real> Linear<F> {
    pub fn new(fan_in: usize, out: usize, init: &Init, rng: &mut impl Rng) -> Self {
        Linear {
            weight: Param::matrix(init.weight(out, fan_in, rng)),
            bias: Param::vector(init.bias(out, rng)),
            x: Mat::zeros(0, 0),
        }
    }

    /// `y = x W^T + b` into `y` (resized).
    pub fn affine(&self, x: &Mat<F>, y: &mut Mat<F>) {
        y.reshape_for(x.rows, self.weight.value.rows);
        fill_rows(&mut y.data, &self.bias.value.data);
        matmul_into(y, 0, View::of(x), View::of(&self.weight.value).t(), true);
    }

    /// Given dL/dz at input x: accumulate dW += dz^T x and db += colsum(dz), and, when asked,
    /// dx += dz W (accumulated, so several maps of one input can share a dx).
    pub fn backward_affine(&mut self, x: &Mat<F>, dz: &Mat<F>, dx: Option<&mut Mat<F>>) {
        self.param_grads(x, dz);
        if let Some(dx) = dx {
            self.input_grad(dz, dx, true);
        }
    }

    /// dW += dz^T x and db += colsum(dz).
    pub(super) fn param_grads(&mut self, x: &Mat<F>, dz: &Mat<F>) {
        matmul_into(&mut self.weight.grad, 0, View::of(dz).t(), View::of(x), true);
        dz.col_sums_into(&mut self.bias.grad.data);
    }

    /// dx = dz W, or dx += dz W with `accumulate`.
    pub(super) fn input_grad(&self, dz: &Mat<F>, dx: &mut Mat<F>, accumulate: bool) {
        matmul_into(dx, 0, View::of(dz), View::of(&self.weight.value), accumulate);
    }

    pub fn push_params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        out.push((join(prefix, "weight"), &mut self.weight));
        out.push((join(prefix, "bias"), &mut self.bias));
    }
}

impl<F: Real> Block<F> for Linear<F> {
    fn kind(&self) -> &'static str {
        "linear"
    }
    fn in_dim(&self) -> usize {
        self.weight.value.cols
    }
    fn out_dim(&self) -> usize {
        self.weight.value.rows
    }
    fn forward(&mut self, x: &Mat<F>, ctx: &Ctx) -> Mat<F> {
        let mut y = Mat::zeros(0, 0);
        self.affine(x, &mut y);
        if ctx.train {
            self.x.clone_from(x);
        }
        y
    }
    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        let x = std::mem::take(&mut self.x);
        let mut dx = Mat::zeros(dy.rows, self.in_dim());
        self.backward_affine(&x, dy, Some(&mut dx));
        self.x = x;
        dx
    }
    fn backward_params(&mut self, dy: &Mat<F>) {
        let x = std::mem::take(&mut self.x);
        self.backward_affine(&x, dy, None);
        self.x = x;
    }
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        self.push_params(prefix, out);
    }
}

/// One plain layer, y = phi(x W^T + b), bias add and phi fused in one pass.
/// Its parameters are `linear.weight` / `linear.bias`.
pub struct LinearAct<F> {
    pub linear: Linear<F>,
    pub phi: Activation,
    pub switches: Switches,
    /// Whether this layer is a member of a depth stack (it then has a lesion switch).
    removable: bool,
    z: Mat<F>,
    y: Mat<F>,
}

impl<F: Real> LinearAct<F> {
    pub fn new(fan_in: usize, out: usize, phi: Activation, init: &Init, rng: &mut impl Rng) -> Self {
        LinearAct {
            linear: Linear::new(fan_in, out, init, rng),
            phi,
            switches: Switches::default(),
            removable: fan_in == out,
            z: Mat::zeros(0, 0),
            y: Mat::zeros(0, 0),
        }
    }

    /// phi(x W^T + b), keeping x, y (and z when phi needs it).
    pub fn forward_keep(&mut self, x: &Mat<F>) -> &Mat<F> {
        self.linear.x.clone_from(x);
        self.forward_kept()
    }

    /// As `forward_keep`, for the input already kept in `linear.x`.
    fn forward_kept(&mut self) -> &Mat<F> {
        self.linear.affine(&self.linear.x, &mut self.y);
        if self.phi.needs_input() {
            self.z.clone_from(&self.y);
        }
        self.phi.apply(&mut self.y.data);
        &self.y
    }

    pub fn output(&self) -> &Mat<F> {
        &self.y
    }

    /// Whether the layer is lesioned (the identity); a layer that changes the width cannot be.
    fn lesioned(&self) -> bool {
        assert!(
            !self.switches.lesioned || self.removable,
            "a plain layer {} -> {} cannot be lesioned (widths differ)",
            self.linear.in_dim(),
            self.linear.out_dim()
        );
        self.switches.lesioned
    }

    /// Evaluation: nothing is kept for a backward, so y is computed straight into a scratch
    /// buffer (the caller's input goes back to the pool for a later layer's output).
    fn evaluate(&self, x: &Mat<F>) -> Mat<F> {
        let mut y = Mat::scratch(x.rows, self.linear.out_dim());
        self.linear.affine(x, &mut y);
        self.phi.apply(&mut y.data);
        y
    }

    /// Given dL/dy: accumulate parameter gradients and, when asked, dx += dL/dx.
    pub fn backward_keep(&mut self, dy: &Mat<F>, dx: Option<&mut Mat<F>>) {
        let mut dz = dy.clone();
        let z = self.phi.needs_input().then_some(&self.z.data[..]);
        self.phi.grad_in_place(z, &self.y.data, &mut dz.data);
        let x = std::mem::take(&mut self.linear.x);
        self.linear.backward_affine(&x, &dz, dx);
        self.linear.x = x;
    }
}

impl<F: Real> Block<F> for LinearAct<F> {
    fn kind(&self) -> &'static str {
        "plain"
    }
    fn in_dim(&self) -> usize {
        self.linear.in_dim()
    }
    fn out_dim(&self) -> usize {
        self.linear.out_dim()
    }
    fn forward(&mut self, x: &Mat<F>, ctx: &Ctx) -> Mat<F> {
        if self.lesioned() {
            return x.clone();
        }
        if !ctx.train {
            return self.evaluate(x);
        }
        // A new output of its own size (a model's stem is called this way, and its input is
        // wider than its output: handing on that buffer would pass 784-wide allocations down
        // the chain).
        self.forward_keep(x).clone()
    }
    fn forward_owned(&mut self, x: Mat<F>, ctx: &Ctx) -> Mat<F> {
        if self.lesioned() {
            return x;
        }
        if !ctx.train {
            let y = self.evaluate(&x);
            x.recycle();
            return y;
        }
        // x is kept for the backward; the buffer of the input kept last time carries y out.
        let mut out = std::mem::replace(&mut self.linear.x, x);
        out.clone_from(self.forward_kept());
        out
    }
    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        self.backward_owned(dy.clone())
    }
    fn backward_owned(&mut self, dy: Mat<F>) -> Mat<F> {
        if self.switches.lesioned {
            return dy;
        }
        if !self.switches.pass_branch_grad {
            return Mat::zeros(dy.rows, self.in_dim());
        }
        // dz = dy * phi'(z) in dy's place; dx into a scratch buffer, and dz's back to the pool
        // for the next layer's (a buffer kept per layer would hold a batch's worth each).
        let mut dz = dy;
        let z = self.phi.needs_input().then_some(&self.z.data[..]);
        self.phi.grad_in_place(z, &self.y.data, &mut dz.data);
        let x = std::mem::take(&mut self.linear.x);
        self.linear.param_grads(&x, &dz);
        self.linear.x = x;
        let mut dx = Mat::scratch(dz.rows, self.in_dim());
        self.linear.input_grad(&dz, &mut dx, false);
        dz.recycle();
        dx
    }
    fn backward_params(&mut self, dy: &Mat<F>) {
        if !self.switches.lesioned && self.switches.pass_branch_grad {
            self.backward_keep(dy, None);
        }
    }
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        self.linear.push_params(&join(prefix, "linear"), out);
    }
    fn switches(&mut self) -> Option<&mut Switches> {
        self.removable.then_some(&mut self.switches)
    }
}
