//! Highway layer (Srivastava, Greff & Schmidhuber 2015):
//!   y = T(x) * H(x) + C(x) * x,   H = phi(W_H x + b_H),  T = sigmoid(W_T x + b_T)
//! with the coupled carry C = 1 - T (default) or an independent carry gate
//! C = sigmoid(W_C x + b_C). Parameters: `transform.*` (H), `gate.*` (T), `carry.*` (C).
//!
//! Fused: H, T (and C) come from one matrix multiply against the stacked weights [W_H; W_T; W_C]
//! (one GEMM of twice or three times the width runs faster than two or three narrow ones), the
//! nonlinearities and the carry combine run in one vectorised pass, and the backward mirrors it:
//! one pass for the pre-activation gradients of all gates, one GEMM for their weight gradients,
//! one for dL/dx.

use rand::Rng;

use super::{join, Activation, Block, Ctx, Init, Linear, ParamList, Switches};
use crate::tensor::par::{current_threads, elementwise_parts, elementwise_threads, par_for, split_rows};
use crate::tensor::{kernels::simd, matmul_into, Mat, Real, View};
use crate::with_activation;

pub struct Highway<F> {
    pub transform: Linear<F>,
    pub gate: Linear<F>,
    pub carry: Option<Linear<F>>,
    pub phi: Activation,
    pub switches: Switches,
    x: Mat<F>,
    /// After forward: [H | T | C] per row (the activations, not the pre-activations).
    z: Mat<F>,
    /// H's pre-activation, kept only when phi's derivative needs it (GELU).
    hz: Mat<F>,
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
        let e = Mat::default;
        Highway { transform, gate, carry, phi, switches: Switches::default(), x: e(), z: e(), hz: e() }
    }

    /// [W_H; W_T; W_C] in a scratch matrix: rebuilt when needed rather than kept per layer, so
    /// that one warm buffer serves all layers.
    fn stacked_weights(&self) -> Mat<F> {
        let wlen = self.out_dim() * self.in_dim();
        let mut w_all = Mat::scratch(self.maps() * self.out_dim(), self.in_dim());
        for (i, lin) in self.linears().enumerate() {
            w_all.data[i * wlen..(i + 1) * wlen].copy_from_slice(&lin.weight.value.data);
        }
        w_all
    }

    fn maps(&self) -> usize {
        2 + self.carry.is_some() as usize
    }

    fn linears(&self) -> impl Iterator<Item = &Linear<F>> {
        [&self.transform, &self.gate].into_iter().chain(self.carry.as_ref())
    }

    /// The transform gate T of the last forward (batch x width).
    pub fn gate_values(&self) -> Mat<F> {
        let w = self.out_dim();
        self.z.cols_slice(w, w)
    }

    /// The carry gate C of the last forward, when it is independent.
    pub fn carry_values(&self) -> Option<Mat<F>> {
        let w = self.out_dim();
        self.carry.as_ref().map(|_| self.z.cols_slice(2 * w, w))
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

    fn forward(&mut self, x: &Mat<F>, ctx: &Ctx) -> Mat<F> {
        self.forward_owned(x.clone(), ctx)
    }

    fn forward_owned(&mut self, x: Mat<F>, _ctx: &Ctx) -> Mat<F> {
        // x is kept for the backward; the buffer of the input kept last time becomes y (every
        // element is written below).
        let mut y = std::mem::replace(&mut self.x, x);
        let x = &self.x;
        let (n, w, k) = (x.rows, self.out_dim(), self.maps());
        y.reshape_for(n, w);
        // z = x [W_H; W_T; W_C]^T; the biases [b_H; b_T; b_C] are added in the pass below.
        let w_all = self.stacked_weights();
        let bias: Vec<F> = self.linears().flat_map(|l| l.bias.value.data.iter().copied()).collect();
        self.z.reshape_for(n, k * w);
        matmul_into(&mut self.z, 0, View::of(x), View::of(&w_all).t(), false);
        w_all.recycle();
        if self.phi.needs_input() {
            self.hz.reshape_for(n, w);
        } else {
            self.hz = Mat::default();
        }
        let (shut, independent, keep_hz) = (self.switches.lesioned, self.carry.is_some(), self.phi.needs_input());
        let phi = self.phi;
        let pass = |((z, hz), y): ((&mut [F], &mut [F]), &mut [F]), (r0, r1): (usize, usize)| {
            let x = &x.data[r0 * w..r1 * w];
            with_activation!(phi, F, |phi, _dphi| simd(
                #[inline(always)]
                || {
                    let one = F::one();
                    for r in 0..r1 - r0 {
                        let (zr, xr, yr) =
                            (&mut z[r * k * w..(r + 1) * k * w], &x[r * w..(r + 1) * w], &mut y[r * w..(r + 1) * w]);
                        zr.iter_mut().zip(&bias).for_each(|(z, &b)| *z += b);
                        if keep_hz {
                            hz[r * w..(r + 1) * w].copy_from_slice(&zr[..w]);
                        }
                        let (h, rest) = zr.split_at_mut(w);
                        let (t, c) = rest.split_at_mut(w);
                        h.iter_mut().for_each(|v| *v = phi(*v));
                        if shut {
                            // T forced to 0: the layer only carries.
                            t.fill(F::zero());
                        } else {
                            t.iter_mut().for_each(|v| *v = v.sigmoid_fast());
                        }
                        let it = yr.iter_mut().zip(&*t).zip(&*h).zip(xr);
                        if independent {
                            c.iter_mut().for_each(|v| *v = v.sigmoid_fast());
                            it.zip(&*c).for_each(|((((y, &t), &h), &x), &c)| *y = t * h + c * x);
                        } else {
                            it.for_each(|(((y, &t), &h), &x)| *y = t * h + (one - t) * x);
                        }
                    }
                }
            ));
        };
        let threads = elementwise_threads(current_threads(), n * k * w);
        if threads == 1 {
            pass(((&mut self.z.data, &mut self.hz.data), &mut y.data), (0, n));
        } else {
            let blocks = row_parts(threads, n, k * w);
            let items: Vec<_> = split_rows(&mut self.z.data, k * w, &blocks)
                .into_iter()
                .zip(split_rows(&mut self.hz.data, w, &blocks))
                .zip(split_rows(&mut y.data, w, &blocks))
                .zip(blocks.iter().copied())
                .collect();
            par_for(threads, items, |(slices, rows)| pass(slices, rows));
        }
        y
    }

    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        self.backward_owned(dy.clone())
    }

    fn backward_owned(&mut self, dy: Mat<F>) -> Mat<F> {
        let (n, w, k) = (dy.rows, self.out_dim(), self.maps());
        let (shut, independent) = (self.switches.lesioned, self.carry.is_some());
        let through_branch = self.switches.pass_branch_grad;
        // dL/dx is computed in dL/dy's place: each element of the carry path's dx is read from
        // the same element of dy, after the gate gradients that also read it.
        let mut dx = dy;
        // [dz_H | dz_T | dz_C]: every element is written below.
        let mut dz_all = Mat::scratch(n, k * w);
        let (z, x, hz, phi) = (&self.z, &self.x, &self.hz, self.phi);
        // One pass: the pre-activation gradients of H, T and C, and the carry path's dL/dx.
        let pass = |(d, dz): (&mut [F], &mut [F]), (r0, r1): (usize, usize)| {
            with_activation!(phi, F, |_phi, dphi| simd(
                #[inline(always)]
                || {
                    let one = F::one();
                    for (i, r) in (r0..r1).enumerate() {
                        let (zr, xr) = (z.row(r), x.row(r));
                        let (dr, dzr) = (&mut d[i * w..(i + 1) * w], &mut dz[i * k * w..(i + 1) * k * w]);
                        let (h, t) = (&zr[..w], &zr[w..2 * w]);
                        let hzr = if hz.is_empty() { h } else { hz.row(r) };
                        let (dh, rest) = dzr.split_at_mut(w);
                        let (dt, dc) = rest.split_at_mut(w);
                        // dL/dH through phi', and dL/dz_T through sigmoid', from dy.
                        let inputs = dr.iter().zip(t).zip(h).zip(hzr);
                        dh.iter_mut().zip(inputs).for_each(|(d, (((&g, &t), &h), &hz))| *d = g * t * dphi(hz, h));
                        if independent {
                            let it = dt.iter_mut().zip(&*dr).zip(t).zip(h);
                            it.for_each(|(((d, &g), &t), &h)| *d = g * h * t * (one - t));
                            let c = &zr[2 * w..];
                            let it = dr.iter_mut().zip(dc.iter_mut()).zip(c).zip(xr);
                            it.for_each(|(((d, dc), &c), &x)| {
                                let g = *d;
                                *dc = g * x * c * (one - c);
                                *d = g * c;
                            });
                        } else {
                            let it = dr.iter_mut().zip(dt.iter_mut()).zip(t).zip(h).zip(xr);
                            it.for_each(|((((d, dt), &t), &h), &x)| {
                                let g = *d;
                                *dt = g * (h - x) * t * (one - t);
                                *d = g * (one - t);
                            });
                        }
                        if shut {
                            // T is a constant 0: no gradient reaches H or the transform gate.
                            dh.fill(F::zero());
                            dt.fill(F::zero());
                        }
                    }
                }
            ));
        };
        let threads = elementwise_threads(current_threads(), n * k * w);
        if threads == 1 {
            pass((&mut dx.data, &mut dz_all.data), (0, n));
        } else {
            let blocks = row_parts(threads, n, k * w);
            let items: Vec<_> = split_rows(&mut dx.data, w, &blocks)
                .into_iter()
                .zip(split_rows(&mut dz_all.data, k * w, &blocks))
                .zip(blocks.iter().copied())
                .collect();
            par_for(threads, items, |(slices, rows)| pass(slices, rows));
        }
        if !through_branch {
            dz_all.recycle();
            return dx;
        }
        // Stacked weight gradient [dW_H; dW_T; dW_C] = dz^T x, split into the parameters.
        let mut dw_all = Mat::scratch(k * w, self.in_dim());
        matmul_into(&mut dw_all, 0, View::of(&dz_all).t(), View::of(&self.x), false);
        let mut db = vec![F::zero(); k * w];
        simd(
            #[inline(always)]
            || dz_all.col_sums_into(&mut db),
        );
        let wlen = w * self.in_dim();
        let dw = &dw_all;
        let linears = [&mut self.transform, &mut self.gate].into_iter().chain(self.carry.as_mut());
        simd(
            #[inline(always)]
            || {
                for (i, lin) in linears.enumerate() {
                    lin.weight.grad.data.iter_mut().zip(&dw.data[i * wlen..(i + 1) * wlen]).for_each(|(g, d)| *g += *d);
                    lin.bias.grad.data.iter_mut().zip(&db[i * w..(i + 1) * w]).for_each(|(g, d)| *g += *d);
                }
            },
        );
        // dx += dz_H W_H + dz_T W_T (+ dz_C W_C): one product per map, reading the weights in
        // place rather than stacking them a second time (as fast at one thread, and one copy
        // less on the serial path at two; keeping the forward's stack per layer was 2% slower).
        for (i, lin) in self.linears().enumerate() {
            matmul_into(&mut dx, 0, View::left_cols(&dz_all, i * w, w), View::of(&lin.weight.value), true);
        }
        dz_all.recycle();
        dw_all.recycle();
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

/// The row ranges in which a pass over `rows` rows of `cols` values is shared among `threads`.
fn row_parts(threads: usize, rows: usize, cols: usize) -> Vec<(usize, usize)> {
    elementwise_parts(threads, rows * cols, cols).into_iter().map(|(a, b)| (a / cols, b / cols)).collect()
}
