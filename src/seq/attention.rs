//! Multi-head causal self-attention as a memory lookup: step t reads the values of steps
//! s <= t, weighted by the softmax of its query against their keys.
//!
//! With `u = x + P` (P the positional encoding, zero when there is none):
//!
//! ```text
//! [Q | K | V] = u W_in^T + b_in                         W_in: [3E, E], b_in: [3E]
//! A_h[t, s]   = softmax_s<=t( Q_h[t] . K_h[s] / sqrt(E/H) )   per sequence and head h
//! O_h         = A_h V_h,   O = [O_1 | ... | O_H]
//! y           = O W_out^T + b_out   (+ u with the residual connection)
//! ```
//!
//! This is PyTorch's `nn.MultiheadAttention(E, H, bias=True)` (no dropout) called as
//! `attn(u, u, u, attn_mask=mask)` with `mask = torch.triu(torch.ones(T, T, dtype=torch.bool),
//! diagonal=1)`; its default `batch_first=False` input `[T, B, E]` is exactly `Seq`'s time-major
//! layout. Parameters: `in_proj_weight` [3E, E], `in_proj_bias` [3E], `out_proj.weight` [E, E],
//! `out_proj.bias` [E], and `pos.weight` [max_len, E] for a learned encoding (an `nn.Embedding`
//! looked up at positions 0..T). With the residual connection the skip carries `u` (the input
//! with its positional encoding, as in the Transformer, where the encoding is part of the
//! residual stream): `y = u + attn(u, u, u)`.
//!
//! Sinusoidal encoding (Vaswani et al. 2017), position t = 0, 1, ..., column c = 0..E:
//!
//! ```text
//! P[t, 2i]   = sin(t * w_i)      P[t, 2i+1] = cos(t * w_i)      w_i = exp(-(2i) ln(10000) / E)
//! ```
//!
//! (an odd E ends with a sine column). In PyTorch:
//! `w = torch.exp(torch.arange(0, E, 2, dtype=torch.float64) * (-math.log(10000.0) / E));
//! P = torch.zeros(T, E, dtype=torch.float64); t = torch.arange(T, dtype=torch.float64)[:, None];
//! P[:, 0::2] = torch.sin(t * w); P[:, 1::2] = torch.cos(t * w[: E // 2])`.
//!
//! Per (sequence, head), the scores Q K^T and the read-out A V are GEMMs on strided views of
//! the `(T*B) x 3E` projection (row stride `B*3E`), written straight into strided regions of the
//! attention and output buffers, so nothing is gathered or copied per head.

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use super::{Seq, SeqBlock};
use crate::nn::{join, Ctx, Param, ParamList};
use crate::tensor::{kernels::simd, matmul_into, matmul_strided_into, Mat, Real, View};

/// The positional information added to the input before the projections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PosEncoding {
    /// None: attention alone is permutation-equivariant over the visible steps.
    #[default]
    None,
    /// Fixed sin/cos (module doc), any length.
    Sinusoidal,
    /// A learned table `pos.weight` [max_len, E], initialised N(0, 1) like `nn.Embedding`.
    Learned { max_len: usize },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionConfig {
    /// Model width E (input and output).
    pub dim: usize,
    /// Heads H; must divide `dim`.
    pub heads: usize,
    /// y = u + attn(u) when true, y = attn(u) when false.
    #[serde(default)]
    pub residual: bool,
    #[serde(default)]
    pub pos: PosEncoding,
}

impl AttentionConfig {
    /// No residual connection, no positional encoding.
    pub fn new(dim: usize, heads: usize) -> Self {
        AttentionConfig { dim, heads, residual: false, pos: PosEncoding::None }
    }

    pub fn residual(mut self, on: bool) -> Self {
        self.residual = on;
        self
    }

    pub fn pos(mut self, pos: PosEncoding) -> Self {
        self.pos = pos;
        self
    }
}

/// The sinusoidal encoding of the module doc, `time x dim`, computed in f64.
pub fn sinusoidal_encoding<F: Real>(time: usize, dim: usize) -> Mat<F> {
    let ln = 10000f64.ln();
    Mat::from_fn(time, dim, |t, c| {
        let two_i = (c - c % 2) as f64;
        let a = t as f64 * (-two_i * ln / dim as f64).exp();
        F::c(if c % 2 == 0 { a.sin() } else { a.cos() })
    })
}

pub struct CausalSelfAttention<F> {
    /// [3E, E]: rows 0..E project to queries, E..2E to keys, 2E..3E to values.
    pub in_proj_weight: Param<F>,
    pub in_proj_bias: Param<F>,
    pub out_proj_weight: Param<F>,
    pub out_proj_bias: Param<F>,
    /// `pos.weight` [max_len, E] for a learned encoding.
    pub pos_weight: Option<Param<F>>,
    pub config: AttentionConfig,
    head_dim: usize,
    /// The sinusoidal table, grown to the longest sequence seen.
    sin_table: Mat<F>,
    time: usize,
    batch: usize,
    // Kept from the last forward: u = x + P, [Q | K | V], the attention weights
    // (row (b*H + h)*T + t, column s), and the concatenated head outputs O.
    u: Mat<F>,
    qkv: Mat<F>,
    attn: Mat<F>,
    heads_out: Mat<F>,
}

impl<F: Real> CausalSelfAttention<F> {
    /// PyTorch's init: `in_proj_weight` Xavier uniform over [3E, E] (U(-a, a), a =
    /// sqrt(6 / 4E)), `out_proj.weight` U(-1/sqrt(E), 1/sqrt(E)), both biases zero; a learned
    /// position table N(0, 1).
    pub fn new(config: &AttentionConfig, rng: &mut impl Rng) -> Self {
        let (e, h) = (config.dim, config.heads);
        assert!(e > 0 && h > 0 && e % h == 0, "attention: {h} heads do not divide width {e}");
        let a = (6.0 / (4 * e) as f64).sqrt();
        let u = Uniform::new(-a, a).expect("a > 0");
        let w_in = Mat::from_fn(3 * e, e, |_, _| F::c(u.sample(rng)));
        let b = 1.0 / (e as f64).sqrt();
        let u = Uniform::new(-b, b).expect("b > 0");
        let w_out = Mat::from_fn(e, e, |_, _| F::c(u.sample(rng)));
        let pos_weight = match config.pos {
            PosEncoding::Learned { max_len } => {
                assert!(max_len > 0, "attention: learned positions need max_len > 0");
                let n = Normal::new(0.0, 1.0).expect("unit normal");
                Some(Param::matrix(Mat::from_fn(max_len, e, |_, _| F::c(n.sample(rng)))))
            }
            _ => None,
        };
        let z = Mat::default;
        CausalSelfAttention {
            in_proj_weight: Param::matrix(w_in),
            in_proj_bias: Param::vector(vec![F::zero(); 3 * e]),
            out_proj_weight: Param::matrix(w_out),
            out_proj_bias: Param::vector(vec![F::zero(); e]),
            pos_weight,
            config: config.clone(),
            head_dim: e / h,
            sin_table: z(),
            time: 0,
            batch: 0,
            u: z(),
            qkv: z(),
            attn: z(),
            heads_out: z(),
        }
    }

    pub fn heads(&self) -> usize {
        self.config.heads
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// The attention weights of the last forward, `(batch * heads * time) x time`: row
    /// `(b * heads + h) * time + t`, column s is the weight step t of sequence b gives step s in
    /// head h (zero for s > t; each row sums to 1). This is PyTorch's `need_weights=True,
    /// average_attn_weights=False` output `[B, H, T, T]`, flattened.
    pub fn attention_weights(&self) -> &Mat<F> {
        &self.attn
    }

    /// One weight of the last forward: sequence b, head h, query step t, key step s.
    pub fn attention_weight(&self, b: usize, h: usize, t: usize, s: usize) -> F {
        self.attn.at((b * self.config.heads + h) * self.time + t, s)
    }

    /// The positional encoding the last forward added, `time x dim` (zeros when none).
    pub fn encoding(&self, time: usize) -> Mat<F> {
        let e = self.config.dim;
        match (&self.config.pos, &self.pos_weight) {
            (PosEncoding::Sinusoidal, _) => sinusoidal_encoding(time, e),
            (PosEncoding::Learned { .. }, Some(p)) => Mat::from_vec(time, e, p.value.data[..time * e].to_vec()),
            _ => Mat::zeros(time, e),
        }
    }

    /// u = x + P into `self.u`.
    fn add_positions(&mut self, x: &Seq<F>) {
        let (t_len, b_len, e) = (x.time, x.batch, self.config.dim);
        self.u.clone_from(&x.data);
        let table = match self.config.pos {
            PosEncoding::None => return,
            PosEncoding::Sinusoidal => {
                if self.sin_table.rows < t_len {
                    self.sin_table = sinusoidal_encoding(t_len, e);
                }
                &self.sin_table.data
            }
            PosEncoding::Learned { max_len } => {
                assert!(t_len <= max_len, "attention: {t_len} steps but learned positions go to {max_len}");
                &self.pos_weight.as_ref().expect("learned table").value.data
            }
        };
        for t in 0..t_len {
            let p = &table[t * e..(t + 1) * e];
            for b in 0..b_len {
                self.u.row_mut(t * b_len + b).iter_mut().zip(p).for_each(|(a, p)| *a += *p);
            }
        }
    }
}

/// Row t of a causal `T x T` score block: scale, stable softmax over s <= t, zeros after.
fn causal_softmax_row<F: Real>(row: &mut [F], t: usize, scale: F) {
    let (live, dead) = row.split_at_mut(t + 1);
    let m = live.iter().fold(F::neg_infinity(), |m, v| m.max(*v)) * scale;
    simd(
        #[inline(always)]
        || live.iter_mut().for_each(|v| *v = *v * scale - m),
    );
    F::exp_slice(live);
    let inv = F::one() / live.iter().copied().sum::<F>();
    live.iter_mut().for_each(|v| *v *= inv);
    dead.iter_mut().for_each(|v| *v = F::zero());
}

impl<F: Real> SeqBlock<F> for CausalSelfAttention<F> {
    fn kind(&self) -> &'static str {
        "attention"
    }
    fn in_dim(&self) -> usize {
        self.config.dim
    }
    fn out_dim(&self) -> usize {
        self.config.dim
    }

    fn forward(&mut self, x: &Seq<F>, _ctx: &Ctx) -> Seq<F> {
        let (e, nh, hd) = (self.config.dim, self.config.heads, self.head_dim);
        assert_eq!(x.dim(), e, "attention: input has {} features, want {e}", x.dim());
        let (tl, bl) = (x.time, x.batch);
        (self.time, self.batch) = (tl, bl);
        self.add_positions(x);
        let n = tl * bl;
        // [Q | K | V] = u W_in^T + b_in.
        self.qkv.reshape_for(n, 3 * e);
        for r in 0..n {
            self.qkv.row_mut(r).copy_from_slice(&self.in_proj_bias.value.data);
        }
        matmul_into(&mut self.qkv, 0, View::of(&self.u), View::of(&self.in_proj_weight.value).t(), true);
        self.attn.reshape_for(bl * nh * tl, tl);
        self.heads_out.reshape_for(n, e);
        let scale = F::c(1.0 / (hd as f64).sqrt());
        let rs = bl * 3 * e;
        for b in 0..bl {
            for h in 0..nh {
                let q = View::new(&self.qkv.data[b * 3 * e + h * hd..], tl, hd, rs, 1);
                let k = View::new(&self.qkv.data[b * 3 * e + e + h * hd..], tl, hd, rs, 1);
                let v = View::new(&self.qkv.data[b * 3 * e + 2 * e + h * hd..], tl, hd, rs, 1);
                let blk = &mut self.attn.data[(b * nh + h) * tl * tl..(b * nh + h + 1) * tl * tl];
                matmul_strided_into(blk, tl, 1, q, k.t(), false);
                for t in 0..tl {
                    causal_softmax_row(&mut blk[t * tl..(t + 1) * tl], t, scale);
                }
                let a = View::new(blk, tl, tl, tl, 1);
                matmul_strided_into(&mut self.heads_out.data[b * e + h * hd..], bl * e, 1, a, v, false);
            }
        }
        let mut y = Mat::zeros(n, e);
        for r in 0..n {
            y.row_mut(r).copy_from_slice(&self.out_proj_bias.value.data);
        }
        matmul_into(&mut y, 0, View::of(&self.heads_out), View::of(&self.out_proj_weight.value).t(), true);
        if self.config.residual {
            y.add_assign(&self.u);
        }
        Seq::from_mat(tl, bl, y)
    }

    fn backward(&mut self, dy: &Seq<F>) -> Seq<F> {
        let (e, nh, hd) = (self.config.dim, self.config.heads, self.head_dim);
        let (tl, bl) = (self.time, self.batch);
        assert_eq!((dy.time, dy.batch, dy.dim()), (tl, bl, e), "attention: backward for another shape than forward");
        let dy = &dy.data;
        let n = tl * bl;
        let mut du = if self.config.residual { dy.clone() } else { Mat::zeros(n, e) };
        // Output projection.
        matmul_into(&mut self.out_proj_weight.grad, 0, View::of(dy).t(), View::of(&self.heads_out), true);
        dy.col_sums_into(&mut self.out_proj_bias.grad.data);
        let mut dout = Mat::zeros(n, e);
        matmul_into(&mut dout, 0, View::of(dy), View::of(&self.out_proj_weight.value), false);
        // Per sequence and head.
        let mut dqkv = Mat::zeros(n, 3 * e);
        let mut ds = vec![F::zero(); tl * tl];
        let scale = F::c(1.0 / (hd as f64).sqrt());
        let rs = bl * 3 * e;
        for b in 0..bl {
            for h in 0..nh {
                let (qo, ko, vo) = (b * 3 * e + h * hd, b * 3 * e + e + h * hd, b * 3 * e + 2 * e + h * hd);
                let q = View::new(&self.qkv.data[qo..], tl, hd, rs, 1);
                let k = View::new(&self.qkv.data[ko..], tl, hd, rs, 1);
                let v = View::new(&self.qkv.data[vo..], tl, hd, rs, 1);
                let blk = &self.attn.data[(b * nh + h) * tl * tl..(b * nh + h + 1) * tl * tl];
                let a = View::new(blk, tl, tl, tl, 1);
                let d_o = View::new(&dout.data[b * e + h * hd..], tl, hd, bl * e, 1);
                // dV = A^T dO; dA = dO V^T.
                matmul_strided_into(&mut dqkv.data[vo..], rs, 1, a.t(), d_o, false);
                matmul_strided_into(&mut ds, tl, 1, d_o, v.t(), false);
                // dS = scale * A (dA - rowsum(A dA)), zero above the diagonal (A is zero there).
                for t in 0..tl {
                    let ar = &blk[t * tl..t * tl + t + 1];
                    let dr = &mut ds[t * tl..(t + 1) * tl];
                    let dot: F = ar.iter().zip(dr.iter()).map(|(a, d)| *a * *d).sum();
                    let (live, dead) = dr.split_at_mut(t + 1);
                    live.iter_mut().zip(ar).for_each(|(d, a)| *d = *a * (*d - dot) * scale);
                    dead.iter_mut().for_each(|d| *d = F::zero());
                }
                let dsv = View::new(&ds, tl, tl, tl, 1);
                // dQ = dS K; dK = dS^T Q.
                matmul_strided_into(&mut dqkv.data[qo..], rs, 1, dsv, k, false);
                matmul_strided_into(&mut dqkv.data[ko..], rs, 1, dsv.t(), q, false);
            }
        }
        // Input projection.
        matmul_into(&mut self.in_proj_weight.grad, 0, View::of(&dqkv).t(), View::of(&self.u), true);
        dqkv.col_sums_into(&mut self.in_proj_bias.grad.data);
        matmul_into(&mut du, 0, View::of(&dqkv), View::of(&self.in_proj_weight.value), true);
        if let Some(p) = &mut self.pos_weight {
            for t in 0..tl {
                let g = &mut p.grad.data[t * e..(t + 1) * e];
                for b in 0..bl {
                    g.iter_mut().zip(du.row(t * bl + b)).for_each(|(g, d)| *g += *d);
                }
            }
        }
        Seq::from_mat(tl, bl, du)
    }

    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        out.push((join(prefix, "in_proj_weight"), &mut self.in_proj_weight));
        out.push((join(prefix, "in_proj_bias"), &mut self.in_proj_bias));
        out.push((join(prefix, "out_proj.weight"), &mut self.out_proj_weight));
        out.push((join(prefix, "out_proj.bias"), &mut self.out_proj_bias));
        if let Some(p) = &mut self.pos_weight {
            out.push((join(prefix, "pos.weight"), p));
        }
    }
}
