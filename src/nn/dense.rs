//! Densely connected stacks, as one block each (their layers read more than the last output).
//!
//! * `Concat` (DenseNet, Huang et al. 2017): layer l reads the concatenation of the stack input
//!   and every earlier layer's output, [x_0, x_1, ..., x_{l-1}], and adds `growth` features:
//!   x_l = phi(W_l [x_0 .. x_{l-1}] + b_l). The stack's output is [x_0 .. x_L].
//! * `ToOutput`: a plain chain x_l = phi(W_l x_{l-1} + b_l) whose every layer is wired to the
//!   output: the stack's output is [x_1 .. x_L], so the head sees each layer directly.
//!
//! Parameters: `{l}.linear.weight`, `{l}.linear.bias` under the stack's prefix (`layers.3.linear.weight`).

use rand::Rng;

use super::{join, Activation, Block, Ctx, Init, Linear, LinearAct, ParamList};
use crate::tensor::{matmul_into, Mat, Real, View};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DenseMode {
    Concat { growth: usize },
    ToOutput,
}

pub struct DenseStack<F> {
    pub mode: DenseMode,
    in_dim: usize,
    /// Concat mode's layers (their input is a strided prefix of `feat`).
    concat: Vec<Linear<F>>,
    /// ToOutput mode's layers.
    chain: Vec<LinearAct<F>>,
    pub phi: Activation,
    feat: Mat<F>,
    pre: Vec<Mat<F>>,
    tap: bool,
    taps: Vec<Mat<F>>,
}

impl<F: Real> DenseStack<F> {
    pub fn new(
        in_dim: usize,
        width: usize,
        depth: usize,
        mode: DenseMode,
        phi: Activation,
        init: &Init,
        rng: &mut impl Rng,
    ) -> Self {
        let (mut concat, mut chain) = (Vec::new(), Vec::new());
        match mode {
            DenseMode::Concat { growth } => {
                for l in 0..depth {
                    concat.push(Linear::new(in_dim + l * growth, growth, init, rng));
                }
            }
            DenseMode::ToOutput => {
                for l in 0..depth {
                    chain.push(LinearAct::new(if l == 0 { in_dim } else { width }, width, phi, init, rng));
                }
            }
        }
        DenseStack {
            mode,
            in_dim,
            concat,
            chain,
            phi,
            feat: Mat::default(),
            pre: Vec::new(),
            tap: false,
            taps: Vec::new(),
        }
    }

    pub fn depth(&self) -> usize {
        self.concat.len().max(self.chain.len())
    }

    /// (first column, width) of layer l's output in the stack output.
    fn out_cols(&self, l: usize) -> (usize, usize) {
        match self.mode {
            DenseMode::Concat { growth } => (self.in_dim + l * growth, growth),
            DenseMode::ToOutput => {
                let w = self.chain[0].out_dim();
                (l * w, w)
            }
        }
    }
}

impl<F: Real> Block<F> for DenseStack<F> {
    fn kind(&self) -> &'static str {
        match self.mode {
            DenseMode::Concat { .. } => "dense",
            DenseMode::ToOutput => "dense_to_output",
        }
    }
    fn in_dim(&self) -> usize {
        self.in_dim
    }
    fn out_dim(&self) -> usize {
        let (start, w) = self.out_cols(self.depth() - 1);
        start + w
    }

    fn forward(&mut self, x: &Mat<F>, _ctx: &Ctx) -> Mat<F> {
        let total = self.out_dim();
        let mut out = Mat::zeros(x.rows, total);
        match self.mode {
            DenseMode::Concat { growth } => {
                for r in 0..x.rows {
                    out.row_mut(r)[..self.in_dim].copy_from_slice(x.row(r));
                }
                self.pre.resize_with(self.concat.len(), Mat::default);
                for (l, lin) in self.concat.iter().enumerate() {
                    let start = self.in_dim + l * growth;
                    let mut z = Mat::zeros(x.rows, growth);
                    for r in 0..x.rows {
                        z.row_mut(r).copy_from_slice(&lin.bias.value.data);
                    }
                    matmul_into(&mut z, 0, View::left_cols(&out, 0, start), View::of(&lin.weight.value).t(), true);
                    if self.phi.needs_input() {
                        self.pre[l].clone_from(&z);
                    }
                    self.phi.apply(&mut z.data);
                    for r in 0..x.rows {
                        out.row_mut(r)[start..start + growth].copy_from_slice(z.row(r));
                    }
                }
            }
            DenseMode::ToOutput => {
                let mut h = x.clone();
                for l in 0..self.chain.len() {
                    h = self.chain[l].forward_keep(&h).clone();
                    let (start, w) = self.out_cols(l);
                    for r in 0..x.rows {
                        out.row_mut(r)[start..start + w].copy_from_slice(h.row(r));
                    }
                }
            }
        }
        self.feat.clone_from(&out);
        out
    }

    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        let depth = self.depth();
        self.taps.clear();
        let mut taps = vec![Mat::default(); if self.tap { depth } else { 0 }];
        let dx = match self.mode {
            DenseMode::Concat { growth } => {
                let mut dfeat = dy.clone();
                for l in (0..depth).rev() {
                    let start = self.in_dim + l * growth;
                    let d_out = dfeat.cols_slice(start, growth);
                    if self.tap {
                        taps[l] = d_out.clone();
                    }
                    let y = self.feat.cols_slice(start, growth);
                    let mut dz = d_out;
                    self.phi.grad_in_place(
                        self.phi.needs_input().then_some(&self.pre[l].data[..]),
                        &y.data,
                        &mut dz.data,
                    );
                    let lin = &mut self.concat[l];
                    matmul_into(
                        &mut lin.weight.grad,
                        0,
                        View::of(&dz).t(),
                        View::left_cols(&self.feat, 0, start),
                        true,
                    );
                    dz.col_sums_into(&mut lin.bias.grad.data);
                    matmul_into(&mut dfeat, 0, View::of(&dz), View::of(&lin.weight.value), true);
                }
                dfeat.cols_slice(0, self.in_dim)
            }
            DenseMode::ToOutput => {
                let mut d_next: Option<Mat<F>> = None;
                for l in (0..depth).rev() {
                    let (start, w) = self.out_cols(l);
                    let mut d = dy.cols_slice(start, w);
                    if let Some(dn) = &d_next {
                        d.add_assign(dn);
                    }
                    if self.tap {
                        taps[l] = d.clone();
                    }
                    let mut dprev = Mat::zeros(dy.rows, self.chain[l].in_dim());
                    self.chain[l].backward_keep(&d, Some(&mut dprev));
                    d_next = Some(dprev);
                }
                d_next.expect("a dense stack has at least one layer")
            }
        };
        self.taps = taps;
        dx
    }

    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        for (l, lin) in self.concat.iter_mut().enumerate() {
            lin.push_params(&join(&join(prefix, &l.to_string()), "linear"), out);
        }
        for (l, layer) in self.chain.iter_mut().enumerate() {
            layer.params(&join(prefix, &l.to_string()), out);
        }
    }

    fn set_inner_taps(&mut self, on: bool) {
        self.tap = on;
    }

    fn inner_taps(&self, prefix: &str, out: &mut Vec<(String, Mat<F>)>) {
        for (l, t) in self.taps.iter().enumerate() {
            out.push((join(prefix, &l.to_string()), t.clone()));
        }
    }
}
