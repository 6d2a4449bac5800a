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
use crate::tensor::par::{elementwise_parts, par_for, ranges, split_rows};
use crate::tensor::{fill_rows, kernels::simd, matmul_strided_into, Mat, Real, View};

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

    /// Into how many blocks of time steps to cut this convolution over `time * batch` rows: from
    /// the shape alone (so results never depend on the thread count), about a million
    /// multiply-adds or more per block, at most `MAX_TIME_BLOCKS`.
    pub fn time_blocks(&self, time: usize, batch: usize) -> usize {
        let work = time * batch * self.in_ch * self.out_ch * self.kernel;
        work.div_ceil(BLOCK_MACS).clamp(1, MAX_TIME_BLOCKS.min(time.max(1)))
    }

    /// `y = conv(x)` for `x` of `time * batch` rows (time-major); `y` is resized. The output's
    /// time blocks are independent (each row sums its k taps in tap order), so `threads` share
    /// them without changing a bit.
    /// With `then_relu`, `y = max(conv(x), 0)`, each block as soon as it is done.
    pub fn forward_into(&self, x: &Mat<F>, time: usize, batch: usize, y: &mut Mat<F>, threads: usize, then_relu: bool) {
        assert_eq!(x.cols, self.in_ch, "conv1d: input has {} channels, want {}", x.cols, self.in_ch);
        assert_eq!(x.rows, time * batch);
        y.reshape_for(x.rows, self.out_ch);
        let (cin, cout) = (self.in_ch, self.out_ch);
        let parts = ranges(time, self.time_blocks(time, batch));
        let items =
            zigzag(split_rows(&mut y.data, batch * cout, &parts).into_iter().zip(parts.iter().copied()).collect());
        par_for(threads, items, |(yb, (t0, t1))| {
            fill_rows(yb, &self.bias.value.data);
            // Rows t0..t1 of tap j read x at t - s, for the t >= s.
            for j in 0..self.kernel {
                let s = self.shift(j);
                let from = t0.max(s);
                if from >= t1 {
                    continue;
                }
                let n = (t1 - from) * batch;
                let xs = View::new(&x.data[(from - s) * batch * cin..], n, cin, cin, 1);
                matmul_strided_into(&mut yb[(from - t0) * batch * cout..], cout, 1, xs, self.tap(j).t(), true);
            }
            if then_relu {
                relu(yb);
            }
        });
    }

    /// Given dL/dy at input `x`: accumulate the weight and bias gradients and, when asked, add
    /// dL/dx into `dx` (`Dx::Add`) or write it there (`Dx::Set`, resizing). Cut into the
    /// forward's time blocks: each block writes its own rows of dx and its own partial weight
    /// and bias gradients, and the partials are added in block order.
    pub fn backward_into(&mut self, x: &Mat<F>, dy: &Mat<F>, time: usize, batch: usize, dx: Dx<F>, threads: usize) {
        assert_eq!(dy.shape(), (time * batch, self.out_ch));
        let (cin, cout, k) = (self.in_ch, self.out_ch, self.kernel);
        let parts = ranges(time, self.time_blocks(time, batch));
        let cut = parts.len() > 1;
        if !cut {
            // One block adds straight into the gradients, as the uncut products always did.
            dy.col_sums_into(&mut self.bias.grad.data);
        }
        // A block's partials: its weight gradient (`out x in*k`, the weight's layout) and its
        // bias gradient.
        let wk = cin * k;
        let mut partial: Vec<(Mat<F>, Vec<F>)> =
            if cut { parts.iter().map(|_| (Mat::zeros(cout, wk), vec![F::zero(); cout])).collect() } else { vec![] };
        let (dx, set) = match dx {
            Dx::None => (None, false),
            Dx::Add(m) => (Some(m), false),
            Dx::Set(m) => {
                m.reshape_for(time * batch, cin);
                (Some(m), true)
            }
        };
        let dx_rows: Vec<Option<&mut [F]>> = match dx {
            Some(dx) => split_rows(&mut dx.data, batch * cin, &parts).into_iter().map(Some).collect(),
            None => parts.iter().map(|_| None).collect(),
        };
        // Out of `self` while the blocks write it, so that they can read the weights through it.
        let mut grad = std::mem::take(&mut self.weight.grad.data);
        let gw: Vec<(&mut [F], &mut [F])> = if cut {
            partial.iter_mut().map(|(m, b)| (&mut m.data[..], &mut b[..])).collect()
        } else {
            vec![(&mut grad[..], &mut [][..])]
        };
        let me = &*self;
        let items: Vec<_> = gw.into_iter().zip(dx_rows).zip(parts).collect();
        par_for(threads, items, |(((gw, gb), dxb), (t0, t1))| {
            if cut {
                for row in dy.data[t0 * batch * cout..t1 * batch * cout].chunks_exact(cout) {
                    gb.iter_mut().zip(row).for_each(|(g, v)| *g += *v);
                }
            }
            for j in 0..k {
                let s = me.shift(j);
                // dW_j += dY[t]^T X[t - s] over the block's t >= s.
                let from = t0.max(s);
                if from < t1 {
                    let n = (t1 - from) * batch;
                    let dys = View::new(&dy.data[from * batch * cout..], n, cout, cout, 1);
                    let xs = View::new(&x.data[(from - s) * batch * cin..], n, cin, cin, 1);
                    matmul_strided_into(&mut gw[j..], wk, k, dys.t(), xs, true);
                }
            }
            if let Some(dxb) = dxb {
                if set {
                    dxb.fill(F::zero());
                }
                // dX[t] += dY[t + s] W_j over the block's rows t with t + s < time, taps in order.
                for j in 0..k {
                    let s = me.shift(j);
                    let to = t1.min(time.saturating_sub(s));
                    if t0 >= to {
                        continue;
                    }
                    let n = (to - t0) * batch;
                    let dys = View::new(&dy.data[(t0 + s) * batch * cout..], n, cout, cout, 1);
                    matmul_strided_into(dxb, cin, 1, dys, me.tap(j), true);
                }
            }
        });
        self.weight.grad.data = grad;
        for (w, b) in &partial {
            self.weight.grad.data.iter_mut().zip(&w.data).for_each(|(g, v)| *g += *v);
            self.bias.grad.data.iter_mut().zip(b).for_each(|(g, v)| *g += *v);
        }
    }

    pub fn push_params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        out.push((join(prefix, "weight"), &mut self.weight));
        out.push((join(prefix, "bias"), &mut self.bias));
    }
}

/// Multiply-adds that make a time block worth handing to another thread (~25 us of work).
const BLOCK_MACS: usize = 1 << 20;
/// At most this many time blocks per convolution: each costs a little on one thread.
const MAX_TIME_BLOCKS: usize = 4;

/// Blocks in the order first, last, second, second to last, ...: `par_for` gives a thread
/// consecutive items, and a late time block has more taps to add than an early one (whose
/// shifted taps fall before time 0), so pairing them evens out the threads' work.
fn zigzag<T>(items: Vec<T>) -> Vec<T> {
    let mut d: std::collections::VecDeque<T> = items.into();
    let mut out = Vec::with_capacity(d.len());
    while let Some(a) = d.pop_front() {
        out.push(a);
        out.extend(d.pop_back());
    }
    out
}

/// Where a convolution's backward puts dL/dx.
pub enum Dx<'a, F> {
    None,
    Add(&'a mut Mat<F>),
    Set(&'a mut Mat<F>),
}

/// `f(piece, start)` on the pieces of `out` that `elementwise_parts` cuts, shared among the
/// threads.
fn par_elementwise<F: Send>(threads: usize, out: &mut [F], unit: usize, f: impl Fn(&mut [F], usize) + Sync) {
    let parts = elementwise_parts(threads, out.len(), unit);
    let items: Vec<_> = split_rows(out, 1, &parts).into_iter().zip(parts.iter().map(|p| p.0)).collect();
    par_for(threads, items, |(piece, start)| f(piece, start));
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

/// `d2 <- d * [y > 0]`: `relu_back` into another buffer, in one pass.
fn relu_back_into<F: Real>(y: &[F], d: &[F], d2: &mut [F]) {
    assert!(y.len() == d.len() && d.len() == d2.len());
    simd(
        #[inline(always)]
        || {
            d2.iter_mut().zip(d).zip(y).for_each(|((d2, d), y)| *d2 = if *y <= F::zero() { F::zero() } else { *d });
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
    /// Backward's buffers for dL/d(h1), dL/d(h2), kept warm across steps.
    dh1: Mat<F>,
    dh2: Mat<F>,
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
        TcnLevel { conv1, conv2, downsample, h1: e(), h2: e(), out: e(), dh1: e(), dh2: e() }
    }

    /// The level's output of the last forward, `(time*batch) x out`.
    pub fn output(&self) -> &Mat<F> {
        &self.out
    }

    fn forward(&mut self, x: &Mat<F>, time: usize, batch: usize, threads: usize) {
        self.conv1.forward_into(x, time, batch, &mut self.h1, threads, true);
        self.conv2.forward_into(&self.h1, time, batch, &mut self.h2, threads, true);
        let (h2, unit) = (self.h2.data.as_slice(), self.h2.cols);
        // out = relu(skip + h2), the skip the downsampled or the unchanged input.
        let skip: Option<&[F]> = match &self.downsample {
            Some(ds) => {
                ds.forward_into(x, time, batch, &mut self.out, threads, false);
                None
            }
            None => {
                self.out.reshape_for(x.rows, x.cols);
                Some(&x.data)
            }
        };
        par_elementwise(threads, &mut self.out.data, unit, |o, a| {
            let h = &h2[a..a + o.len()];
            simd(
                #[inline(always)]
                || match skip {
                    Some(x) => o.iter_mut().zip(h).zip(&x[a..]).for_each(|((o, h), x)| *o = (*x + *h).relu()),
                    None => o.iter_mut().zip(h).for_each(|(o, h)| *o = (*o + *h).relu()),
                },
            )
        });
    }

    /// dL/dx for dL/d(out) = `dz` (consumed), at the input `x` of the last forward.
    fn backward(&mut self, x: &Mat<F>, mut dz: Mat<F>, time: usize, batch: usize, threads: usize) -> Mat<F> {
        let parts = elementwise_parts(threads, dz.len(), dz.cols);
        // dz *= [out > 0]; dh2 = dz * [h2 > 0].
        self.dh2.reshape_for(dz.rows, dz.cols);
        let (out, h2) = (&self.out.data, &self.h2.data);
        let items: Vec<_> = split_rows(&mut dz.data, 1, &parts)
            .into_iter()
            .zip(split_rows(&mut self.dh2.data, 1, &parts))
            .zip(&parts)
            .collect();
        par_for(threads, items, |((d, d2), &(a, b))| {
            relu_back(&out[a..b], d);
            relu_back_into(&h2[a..b], d, d2);
        });
        self.conv2.backward_into(&self.h1, &self.dh2, time, batch, Dx::Set(&mut self.dh1), threads);
        let h1 = &self.h1.data;
        par_elementwise(threads, &mut self.dh1.data, self.h1.cols, |d, a| relu_back(&h1[a..a + d.len()], d));
        let mut dx = Mat::default();
        self.conv1.backward_into(x, &self.dh1, time, batch, Dx::Set(&mut dx), threads);
        match &mut self.downsample {
            Some(ds) => ds.backward_into(x, &dz, time, batch, Dx::Add(&mut dx), threads),
            None => {
                let dz = &dz.data;
                par_elementwise(threads, &mut dx.data, x.cols, |d, a| {
                    simd(
                        #[inline(always)]
                        || d.iter_mut().zip(&dz[a..]).for_each(|(d, g)| *d += *g),
                    )
                });
            }
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
    threads: usize,
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
            threads: 1,
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
            rest[0].forward(inp, x.time, x.batch, self.threads);
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
            d = rest[0].backward(inp, d, time, batch, self.threads);
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

    fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    fn receptive_field(&self) -> Option<usize> {
        Some(self.config.receptive_field())
    }
}
