//! Temporal convolution net (Bai, Kolter & Koltun 2018), without weight norm and dropout.
//!
//! Level i (i = 0..L-1) has dilation d = 2^i (or 1 at every level when dilation is off) and is
//! a residual block
//!
//! ```text
//! out = relu(x' + relu(conv2(relu(conv1(x)))))      x' = x, or downsample(x) (a 1x1 conv)
//! ```
//!
//! where conv1, conv2 are dilated *causal* 1-D convolutions of kernel size k:
//! `y_t = b + sum_j W[:, :, j] x_{t - (k-1-j) d}` with zeros for negative times. That is
//! PyTorch's `Conv1d(padding=(k-1)d, dilation=d)` followed by a chomp of the last (k-1)d steps:
//! tap j = k-1 multiplies x_t, tap 0 multiplies x_{t-(k-1)d}.
//!
//! Parameters, named and laid out as PyTorch's `Conv1d` inside a module list:
//! `levels.{i}.conv1.weight` [out, in, k], `levels.{i}.conv1.bias` [out], `levels.{i}.conv2.*`,
//! and, where the level changes the width, `levels.{i}.downsample.weight` [out, in, 1] and
//! `.bias`.
//!
//! Each convolution is k GEMMs over the time-major layout: with step t at rows
//! `t*batch..(t+1)*batch`, shifting time by s shifts rows by `s*batch`, so tap j (shift
//! `s = (k-1-j) d`) adds `X[0..T-s] W_j^T` into rows `s..T` of the output in one contiguous GEMM,
//! where W_j is the strided `out x in` view of column j of the [out, in, k] weight. No im2col,
//! no padding copies.
//!
//! Receptive field: `1 + 2 (k-1) sum_i d_i`, i.e. `1 + 2 (k-1) (2^L - 1)` with dilation.

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use super::{Seq, SeqBlock};
use crate::nn::{join, Ctx, Param, ParamList};
use crate::tensor::{kernels::simd, matmul_strided_into, Mat, Real, View};

/// How convolution weights are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConvInit {
    /// PyTorch's default `Conv1d` init (kaiming uniform, a = sqrt(5)): weight and bias both
    /// ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in * k.
    #[default]
    PyTorch,
    /// Bai et al.: weight ~ N(0, std^2) (their std = 0.01); the bias keeps PyTorch's default
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as in their code.
    Gaussian { std: f64 },
}

impl ConvInit {
    /// Bai et al.'s N(0, 0.01^2).
    pub const BAI: ConvInit = ConvInit::Gaussian { std: 0.01 };
}

/// A TCN's shape and options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcnConfig {
    /// Input features.
    pub input: usize,
    /// Output channels of each level (the number of levels is its length).
    pub channels: Vec<usize>,
    /// Kernel size k (>= 1).
    pub kernel: usize,
    /// Dilation 2^i at level i (true, Bai et al.) or 1 at every level (false).
    #[serde(default = "yes")]
    pub dilated: bool,
    #[serde(default)]
    pub init: ConvInit,
}

fn yes() -> bool {
    true
}

impl TcnConfig {
    /// Levels with the given widths, dilated, PyTorch init.
    pub fn new(input: usize, channels: Vec<usize>, kernel: usize) -> Self {
        TcnConfig { input, channels, kernel, dilated: true, init: ConvInit::PyTorch }
    }

    /// `levels` levels of one width.
    pub fn uniform(input: usize, width: usize, levels: usize, kernel: usize) -> Self {
        TcnConfig::new(input, vec![width; levels], kernel)
    }

    pub fn dilated(mut self, on: bool) -> Self {
        self.dilated = on;
        self
    }

    pub fn init(mut self, init: ConvInit) -> Self {
        self.init = init;
        self
    }

    pub fn dilation(&self, level: usize) -> usize {
        if self.dilated {
            1 << level
        } else {
            1
        }
    }

    /// `1 + 2 (k-1) sum_i d_i`.
    pub fn receptive_field(&self) -> usize {
        1 + 2 * (self.kernel - 1) * (0..self.channels.len()).map(|i| self.dilation(i)).sum::<usize>()
    }
}

/// A dilated causal 1-D convolution on a time-major batch (see the module doc).
pub struct CausalConv1d<F> {
    /// [out, in, k], stored as an `out x (in*k)` matrix (PyTorch's memory order).
    pub weight: Param<F>,
    /// [out].
    pub bias: Param<F>,
    pub dilation: usize,
    in_ch: usize,
    out_ch: usize,
    kernel: usize,
}

impl<F: Real> CausalConv1d<F> {
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        dilation: usize,
        init: ConvInit,
        rng: &mut impl Rng,
    ) -> Self {
        assert!(in_ch > 0 && out_ch > 0 && kernel > 0 && dilation > 0, "conv1d: zero size");
        let fan_in = in_ch * kernel;
        let bound = 1.0 / (fan_in as f64).sqrt();
        let u = Uniform::new(-bound, bound).expect("bound > 0");
        let w: Vec<F> = match init {
            ConvInit::PyTorch => (0..out_ch * fan_in).map(|_| F::c(u.sample(rng))).collect(),
            ConvInit::Gaussian { std } => {
                let n = Normal::new(0.0, std).expect("finite std");
                (0..out_ch * fan_in).map(|_| F::c(n.sample(rng))).collect()
            }
        };
        let b: Vec<F> = (0..out_ch).map(|_| F::c(u.sample(rng))).collect();
        CausalConv1d {
            weight: Param::new(Mat::from_vec(out_ch, fan_in, w), vec![out_ch, in_ch, kernel]),
            bias: Param::vector(b),
            dilation,
            in_ch,
            out_ch,
            kernel,
        }
    }

    pub fn in_ch(&self) -> usize {
        self.in_ch
    }

    pub fn out_ch(&self) -> usize {
        self.out_ch
    }

    pub fn kernel(&self) -> usize {
        self.kernel
    }

    /// Tap j's `out x in` weight: element (o, c) is `weight[o, c, j]`.
    fn tap(&self, j: usize) -> View<'_, F> {
        View::new(&self.weight.value.data[j..], self.out_ch, self.in_ch, self.in_ch * self.kernel, self.kernel)
    }

    /// The time shift of tap j.
    fn shift(&self, j: usize) -> usize {
        (self.kernel - 1 - j) * self.dilation
    }

    /// `y = conv(x)` for `x` of `time * batch` rows (time-major); `y` is resized.
    pub fn forward_into(&self, x: &Mat<F>, time: usize, batch: usize, y: &mut Mat<F>) {
        assert_eq!(x.cols, self.in_ch, "conv1d: input has {} channels, want {}", x.cols, self.in_ch);
        assert_eq!(x.rows, time * batch);
        y.reshape_for(x.rows, self.out_ch);
        for r in 0..y.rows {
            y.row_mut(r).copy_from_slice(&self.bias.value.data);
        }
        let (cin, cout) = (self.in_ch, self.out_ch);
        for j in 0..self.kernel {
            let s = self.shift(j);
            if s >= time {
                continue;
            }
            let n = (time - s) * batch;
            let xs = View::new(&x.data, n, cin, cin, 1);
            matmul_strided_into(&mut y.data[s * batch * cout..], cout, 1, xs, self.tap(j).t(), true);
        }
    }

    /// Given dL/dy at input `x`: accumulate the weight and bias gradients and, when asked,
    /// `dx += dL/dx`.
    pub fn backward_into(&mut self, x: &Mat<F>, dy: &Mat<F>, time: usize, batch: usize, mut dx: Option<&mut Mat<F>>) {
        assert_eq!(dy.shape(), (time * batch, self.out_ch));
        dy.col_sums_into(&mut self.bias.grad.data);
        let (cin, cout, k) = (self.in_ch, self.out_ch, self.kernel);
        for j in 0..k {
            let s = self.shift(j);
            if s >= time {
                continue;
            }
            let n = (time - s) * batch;
            let dys = View::new(&dy.data[s * batch * cout..], n, cout, cout, 1);
            let xs = View::new(&x.data, n, cin, cin, 1);
            // dW_j += dY_s^T X, written straight into the strided tap of the [out, in, k] grad.
            matmul_strided_into(&mut self.weight.grad.data[j..], cin * k, k, dys.t(), xs, true);
            if let Some(dx) = dx.as_deref_mut() {
                matmul_strided_into(&mut dx.data, cin, 1, dys, self.tap(j), true);
            }
        }
    }

    pub fn push_params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        out.push((join(prefix, "weight"), &mut self.weight));
        out.push((join(prefix, "bias"), &mut self.bias));
    }
}

/// `x <- max(x, 0)`.
fn relu<F: Real>(x: &mut [F]) {
    simd(
        #[inline(always)]
        || x.iter_mut().for_each(|v| *v = v.relu()),
    )
}

/// `d <- d * [y > 0]`.
fn relu_back<F: Real>(y: &[F], d: &mut [F]) {
    assert_eq!(y.len(), d.len());
    simd(
        #[inline(always)]
        || {
            d.iter_mut().zip(y).for_each(|(d, y)| {
                if *y <= F::zero() {
                    *d = F::zero()
                }
            })
        },
    )
}

/// One residual level of a TCN.
pub struct TcnLevel<F> {
    pub conv1: CausalConv1d<F>,
    pub conv2: CausalConv1d<F>,
    /// The 1x1 convolution on the skip path, present when the width changes.
    pub downsample: Option<CausalConv1d<F>>,
    /// Kept from the last forward: relu(conv1(x)), relu(conv2(h1)), the level's output.
    h1: Mat<F>,
    h2: Mat<F>,
    out: Mat<F>,
}

impl<F: Real> TcnLevel<F> {
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        kernel: usize,
        dilation: usize,
        init: ConvInit,
        rng: &mut impl Rng,
    ) -> Self {
        let conv1 = CausalConv1d::new(in_ch, out_ch, kernel, dilation, init, rng);
        let conv2 = CausalConv1d::new(out_ch, out_ch, kernel, dilation, init, rng);
        let downsample = (in_ch != out_ch).then(|| CausalConv1d::new(in_ch, out_ch, 1, 1, init, rng));
        let e = Mat::default;
        TcnLevel { conv1, conv2, downsample, h1: e(), h2: e(), out: e() }
    }

    /// The level's output of the last forward, `(time*batch) x out`.
    pub fn output(&self) -> &Mat<F> {
        &self.out
    }

    fn forward(&mut self, x: &Mat<F>, time: usize, batch: usize) {
        self.conv1.forward_into(x, time, batch, &mut self.h1);
        relu(&mut self.h1.data);
        self.conv2.forward_into(&self.h1, time, batch, &mut self.h2);
        relu(&mut self.h2.data);
        match &self.downsample {
            Some(ds) => ds.forward_into(x, time, batch, &mut self.out),
            None => self.out.clone_from(x),
        }
        let (out, h2) = (&mut self.out.data, &self.h2.data);
        simd(
            #[inline(always)]
            || out.iter_mut().zip(h2).for_each(|(o, h)| *o = (*o + *h).relu()),
        );
    }

    /// dL/dx for dL/d(out) = `dz` (consumed), at the input `x` of the last forward.
    fn backward(&mut self, x: &Mat<F>, mut dz: Mat<F>, time: usize, batch: usize) -> Mat<F> {
        relu_back(&self.out.data, &mut dz.data);
        let mut dh2 = dz.clone();
        relu_back(&self.h2.data, &mut dh2.data);
        let mut dh1 = Mat::zeros(x.rows, self.conv1.out_ch);
        self.conv2.backward_into(&self.h1, &dh2, time, batch, Some(&mut dh1));
        relu_back(&self.h1.data, &mut dh1.data);
        let mut dx = Mat::zeros(x.rows, x.cols);
        self.conv1.backward_into(x, &dh1, time, batch, Some(&mut dx));
        match &mut self.downsample {
            Some(ds) => ds.backward_into(x, &dz, time, batch, Some(&mut dx)),
            None => dx.add_assign(&dz),
        }
        dx
    }

    fn push_params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        self.conv1.push_params(&join(prefix, "conv1"), out);
        self.conv2.push_params(&join(prefix, "conv2"), out);
        if let Some(ds) = &mut self.downsample {
            ds.push_params(&join(prefix, "downsample"), out);
        }
    }
}

/// Temporal convolution net: a stack of residual levels of dilated causal convolutions.
pub struct Tcn<F> {
    pub levels: Vec<TcnLevel<F>>,
    pub config: TcnConfig,
    x: Mat<F>,
    time: usize,
    batch: usize,
    taps_on: bool,
    /// dL/d(output of level i) of the last backward, when taps are on.
    tap_grads: Vec<Mat<F>>,
}

impl<F: Real> Tcn<F> {
    pub fn new(config: &TcnConfig, rng: &mut impl Rng) -> Self {
        assert!(!config.channels.is_empty(), "a TCN needs at least one level");
        assert!(config.kernel >= 1 && config.input >= 1, "TCN: kernel and input must be positive");
        let mut levels = Vec::with_capacity(config.channels.len());
        let mut width = config.input;
        for (i, &ch) in config.channels.iter().enumerate() {
            levels.push(TcnLevel::new(width, ch, config.kernel, config.dilation(i), config.init, rng));
            width = ch;
        }
        Tcn {
            levels,
            config: config.clone(),
            x: Mat::default(),
            time: 0,
            batch: 0,
            taps_on: false,
            tap_grads: Vec::new(),
        }
    }
}

impl<F: Real> SeqBlock<F> for Tcn<F> {
    fn kind(&self) -> &'static str {
        "tcn"
    }
    fn in_dim(&self) -> usize {
        self.config.input
    }
    fn out_dim(&self) -> usize {
        *self.config.channels.last().expect("at least one level")
    }

    fn forward(&mut self, x: &Seq<F>, _ctx: &Ctx) -> Seq<F> {
        assert_eq!(x.dim(), self.in_dim(), "tcn: input has {} features, want {}", x.dim(), self.in_dim());
        self.x.clone_from(&x.data);
        (self.time, self.batch) = (x.time, x.batch);
        for i in 0..self.levels.len() {
            let (done, rest) = self.levels.split_at_mut(i);
            let inp = if i == 0 { &self.x } else { &done[i - 1].out };
            rest[0].forward(inp, x.time, x.batch);
        }
        Seq::from_mat(x.time, x.batch, self.levels.last().expect("a level").out.clone())
    }

    fn backward(&mut self, dy: &Seq<F>) -> Seq<F> {
        assert_eq!((dy.time, dy.batch), (self.time, self.batch), "tcn: backward for another shape than forward");
        let (time, batch) = (self.time, self.batch);
        if self.taps_on {
            self.tap_grads.resize_with(self.levels.len(), Mat::default);
        }
        let mut d = dy.data.clone();
        for i in (0..self.levels.len()).rev() {
            if self.taps_on {
                self.tap_grads[i].clone_from(&d);
            }
            let (done, rest) = self.levels.split_at_mut(i);
            let inp = if i == 0 { &self.x } else { &done[i - 1].out };
            d = rest[0].backward(inp, d, time, batch);
        }
        Seq::from_mat(time, batch, d)
    }

    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        for (i, level) in self.levels.iter_mut().enumerate() {
            level.push_params(&join(prefix, &format!("levels.{i}")), out);
        }
    }

    fn set_taps(&mut self, on: bool) {
        self.taps_on = on;
        if !on {
            self.tap_grads.clear();
        }
    }

    /// dL/d(output of level l) at step t, `batch x channels[l]`, as `{prefix}.l{l}.h.{t}`.
    fn taps(&self, prefix: &str, out: &mut Vec<(String, Mat<F>)>) {
        for (l, g) in self.tap_grads.iter().enumerate() {
            let seq = Seq::from_mat(self.time, self.batch, g.clone());
            for t in 0..self.time {
                out.push((join(prefix, &format!("l{l}.h.{t}")), seq.step_mat(t)));
            }
        }
    }

    fn receptive_field(&self) -> Option<usize> {
        Some(self.config.receptive_field())
    }
}
