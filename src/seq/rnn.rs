//! Recurrent layers exactly as PyTorch's `nn.RNN` (tanh / relu), `nn.LSTM` and `nn.GRU`:
//! stacked, optionally bidirectional, zero initial states, same formulas, same parameter names
//! and layouts, so state dicts move both ways through safetensors.
//!
//! Per layer k and direction (suffix `_reverse` for the backward one), with G gate blocks of
//! H rows stacked in PyTorch's order:
//! - `weight_ih_l{k}` `[G*H, in_k]`, `weight_hh_l{k}` `[G*H, H]`, `bias_ih_l{k}` and
//!   `bias_hh_l{k}` `[G*H]`; `in_0` is the input size, `in_k` = H, or 2H when bidirectional
//!   (the step's [forward, backward] outputs concatenated, as PyTorch).
//! - RNN (G = 1): `h' = act(W_ih x + b_ih + W_hh h + b_hh)`, act = tanh or ReLU.
//! - LSTM (G = 4, gates i, f, g, o): `c' = f * c + i * g`, `h' = o * tanh(c')`.
//! - GRU (G = 3, gates r, z, n): `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`,
//!   `h' = (1 - z) * n + z * h`.
//!
//! The output is the top layer's h_t at every step (width H, or 2H when bidirectional).
//!
//! Fused: per direction and time block (a few steps: `Rnn::block_rows`), the input projection
//! of the block's steps is one GEMM ((steps*B) x in times W_ih^T); each step is one GEMM (B x H
//! times W_hh^T) and one vectorised pass for all gate nonlinearities and the state update. The
//! backward is one fused pass per step giving the gate pre-activation gradients and one GEMM for
//! dL/dh_{t-1}; after each block, one GEMM each for its share of dW_hh, dW_ih and dL/dx, while
//! its gate gradients are in cache. Buffers live in the struct and are reused. Sequences of a
//! batch are independent, so the time loops are split by batch rows into lanes run on up to
//! `threads` threads, with no synchronisation inside a block (see `Rnn::threads`).
//!
//! Truncated backpropagation through time (`bptt_truncate = Some(k)`): in each direction the
//! steps, in the order that direction processes them, are cut into blocks of k counted from the
//! last step processed; the gradient carried through the recurrent state (dh, and dc for LSTM)
//! from one block into the one before is dropped. For the forward direction the cuts lie
//! between t = T-k-1 and T-k, T-2k-1 and T-2k, ...; for the reverse direction between t = k-1
//! and k, 2k-1 and 2k, .... So a gradient travels back at most k-1 steps through the state
//! (the output gradient of the last step of a block reaches its first step, no further), each
//! step's output gradient still enters at its own step, and the parameter gradients sum over
//! all steps. It equals the exact gradient of the loss with the states passed across block
//! boundaries held constant (detached), which is what tests/rnn.rs checks.
//!
//! Probes: with `set_taps(true)` the backward records dL/dh_t (the total gradient: the step's
//! output gradient plus what comes back through the recurrence) and, for LSTM, dL/dc_t, for
//! every layer, direction and step, named `{prefix}.l{k}.h.{t}` / `.c.{t}` (`l{k}_reverse` for
//! the reverse direction); off, nothing is written. After a forward, `gate_values`,
//! `hidden_states`, `cell_states`, `h_n` and `c_n` read the kept activations.

mod cell;
mod dir;
mod init;

use rand::Rng;
use serde::{Deserialize, Serialize};

use self::dir::{Dir, Par};
pub use self::init::spectral_radius;
use super::{Seq, SeqBlock};
use crate::nn::{join, Ctx, ParamList};
use crate::tensor::{Mat, Real};

/// The cell of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// `nn.RNN(nonlinearity="tanh")`.
    RnnTanh,
    /// `nn.RNN(nonlinearity="relu")`.
    RnnRelu,
    /// `nn.LSTM`, gates i, f, g, o.
    Lstm,
    /// `nn.GRU`, gates r, z, n.
    Gru,
}

impl CellKind {
    /// Gate blocks G of the weights: 1, 4 or 3.
    pub fn gates(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// "rnn_tanh", "rnn_relu", "lstm", "gru".
    pub fn name(self) -> &'static str {
        match self {
            CellKind::RnnTanh => "rnn_tanh",
            CellKind::RnnRelu => "rnn_relu",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }

    /// The names of the gate blocks whose activations `Rnn::gate_values` returns.
    pub fn gate_names(self) -> &'static [&'static str] {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => &[],
            CellKind::Lstm => &["i", "f", "g", "o"],
            CellKind::Gru => &["r", "z", "n"],
        }
    }
}

pub use crate::nn::HhInit;

/// Rows of a time block by default: 512 (16 steps of W2, 1 MiB of its gate pre-activations or
/// gradients) ran W2 and W4 fastest of 64..1024, at batch 32 and 64 (BENCHMARKS.md, "Time
/// blocks"), and keeps the blocks' weight-gradient products at k <= 512, where `tensor::gemm`
/// may share them among threads.
const BLOCK_ROWS: usize = 512;

fn one() -> usize {
    1
}

fn default_forget_bias() -> Option<f64> {
    Some(1.0)
}

/// A recurrent layer stack's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnConfig {
    pub cell: CellKind,
    pub input_size: usize,
    pub hidden_size: usize,
    /// Stacked layers (PyTorch's `num_layers`), default 1.
    #[serde(default = "one")]
    pub num_layers: usize,
    #[serde(default)]
    pub bidirectional: bool,
    #[serde(default)]
    pub hh_init: HhInit,
    /// LSTM only: after the rest of the initialisation, `bias_ih`'s forget-gate block (rows
    /// H..2H) is set to this value and `bias_hh`'s to 0, so the forget gate starts near
    /// sigmoid(value) (Gers et al. 2000; Jozefowicz et al. 2015). Default `Some(1.0)`; `None`
    /// keeps PyTorch's uniform biases.
    #[serde(default = "default_forget_bias")]
    pub forget_bias: Option<f64>,
    /// Truncated BPTT: see the module documentation. Default None (full).
    #[serde(default)]
    pub bptt_truncate: Option<usize>,
}

impl RnnConfig {
    /// One unidirectional layer with the default initialisation.
    pub fn new(cell: CellKind, input_size: usize, hidden_size: usize) -> Self {
        RnnConfig {
            cell,
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            hh_init: HhInit::Default,
            forget_bias: default_forget_bias(),
            bptt_truncate: None,
        }
    }

    pub fn layers(mut self, num_layers: usize) -> Self {
        self.num_layers = num_layers;
        self
    }

    pub fn bidirectional(mut self, on: bool) -> Self {
        self.bidirectional = on;
        self
    }

    pub fn hh_init(mut self, init: HhInit) -> Self {
        self.hh_init = init;
        self
    }

    pub fn forget_bias(mut self, value: Option<f64>) -> Self {
        self.forget_bias = value;
        self
    }

    pub fn bptt_truncate(mut self, k: Option<usize>) -> Self {
        self.bptt_truncate = k;
        self
    }

    pub fn directions(&self) -> usize {
        1 + self.bidirectional as usize
    }

    pub fn output_size(&self) -> usize {
        self.directions() * self.hidden_size
    }
}

/// A stack of recurrent layers (`nn.RNN` / `nn.LSTM` / `nn.GRU`), see the module docs.
pub struct Rnn<F> {
    cfg: RnnConfig,
    /// Truncated BPTT window (see the module docs); None: full backpropagation through time.
    pub bptt_truncate: Option<usize>,
    /// Threads the forward and backward may use (default: the machine's parallelism). The time
    /// loops run lanes of batch rows; the products between time blocks are shared by
    /// `tensor::gemm`. Lanes and blocks follow from the shapes, `min_parallel_work`, `lane_rows`
    /// and `block_rows` only, so results are bit-identical whatever the thread count.
    pub threads: usize,
    /// Multiply-adds a lane of the time loops must have before the batch is cut into another
    /// (default 2^22, about 40 us of work; 0 cuts whenever there are rows to cut, as the tests
    /// do).
    pub min_parallel_work: usize,
    /// Batch rows per lane of the time loops, at most (default 16: a batch of 32 gives two
    /// threads work; on one thread W2's two lanes of 16 cost ~3% more CPU time than one of 32).
    pub lane_rows: usize,
    /// Rows (steps x batch) per time block, at least one step (default 512; see the module docs
    /// and `dir`). It sets the order in which the weight gradients are summed, so it is part
    /// of the result; the thread count is not.
    pub block_rows: usize,
    /// Whether `backward` computes dL/dx (default true). Set it to false when the input is data
    /// rather than the output of a trainable block: the first layer's dx GEMM is then skipped
    /// and `backward` returns zeros.
    pub input_grad: bool,
    /// Index `layer * directions + direction`.
    dirs: Vec<Dir<F>>,
    /// The last forward's input.
    x: Mat<F>,
    /// Bidirectional: each layer's output [h_fwd | h_bwd], `(T*B) x 2H`.
    cat: Vec<Mat<F>>,
    /// Backward: dL/d(output of layer k), for k below the top.
    dbuf: Vec<Mat<F>>,
    taps_on: bool,
    /// Whether the last backward recorded taps.
    taps_valid: bool,
    /// Per layer: a gradient at its output to add in the next backward (`add_layer_grad`).
    pending: Vec<Option<Mat<F>>>,
    time: usize,
    batch: usize,
}

impl<F: Real> Rnn<F> {
    /// Built and initialised as described by `cfg` (PyTorch's default, then `cfg.hh_init`, then
    /// the LSTM forget-gate bias).
    pub fn new(cfg: &RnnConfig, rng: &mut impl Rng) -> Self {
        assert!(cfg.num_layers >= 1, "rnn: num_layers must be at least 1");
        assert!(cfg.hidden_size >= 1, "rnn: hidden_size must be at least 1");
        let nd = cfg.directions();
        let mut dirs = Vec::with_capacity(cfg.num_layers * nd);
        for l in 0..cfg.num_layers {
            let fan_in = if l == 0 { cfg.input_size } else { cfg.output_size() };
            for d in 0..nd {
                let v = init::init_dir(cfg, fan_in, rng);
                let gh = cfg.cell.gates() * cfg.hidden_size;
                let cast = |v: &[f64]| v.iter().map(|&a| F::c(a)).collect::<Vec<F>>();
                dirs.push(Dir::new(
                    Mat::from_vec(gh, fan_in, cast(&v.w_ih)),
                    Mat::from_vec(gh, cfg.hidden_size, cast(&v.w_hh)),
                    cast(&v.b_ih),
                    cast(&v.b_hh),
                    d == 1,
                ));
            }
        }
        Rnn {
            cfg: cfg.clone(),
            bptt_truncate: cfg.bptt_truncate,
            threads: crate::tensor::par::all_cores(),
            min_parallel_work: 1 << 22,
            lane_rows: 16,
            block_rows: BLOCK_ROWS,
            input_grad: true,
            dirs,
            x: Mat::default(),
            cat: Vec::new(),
            dbuf: Vec::new(),
            taps_on: false,
            taps_valid: false,
            pending: Vec::new(),
            time: 0,
            batch: 0,
        }
    }

    pub fn config(&self) -> &RnnConfig {
        &self.cfg
    }

    pub fn cell(&self) -> CellKind {
        self.cfg.cell
    }

    pub fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    pub fn num_layers(&self) -> usize {
        self.cfg.num_layers
    }

    pub fn directions(&self) -> usize {
        self.cfg.directions()
    }

    fn par(&self) -> Par {
        Par {
            threads: self.threads.max(1),
            min_work: self.min_parallel_work,
            lane_rows: self.lane_rows,
            block_rows: self.block_rows,
        }
    }

    fn dir(&self, layer: usize, direction: usize) -> &Dir<F> {
        assert!(
            layer < self.cfg.num_layers && direction < self.directions(),
            "rnn: no layer {layer} direction {direction}"
        );
        &self.dirs[layer * self.directions() + direction]
    }

    /// One `(T*B) x H` column block of a time-major buffer as a `Seq`.
    fn seq_of(&self, m: &Mat<F>, block: usize, width: usize) -> Seq<F> {
        Seq::from_mat(self.time, self.batch, m.cols_slice(block * width, width))
    }

    /// The gate activations of the last forward, per step, for layer `layer` and `direction`
    /// (0 forward, 1 reverse): LSTM ("i", f, g, o), GRU ("r", z, n), each `T x B x H`;
    /// empty for vanilla RNNs.
    pub fn gate_values(&self, layer: usize, direction: usize) -> Vec<(&'static str, Seq<F>)> {
        let d = self.dir(layer, direction);
        let hs = self.cfg.hidden_size;
        self.cfg.cell.gate_names().iter().enumerate().map(|(k, &n)| (n, self.seq_of(&d.gates, k, hs))).collect()
    }

    /// The hidden states h_t of the last forward for one layer and direction, `T x B x H`.
    pub fn hidden_states(&self, layer: usize, direction: usize) -> Seq<F> {
        Seq::from_mat(self.time, self.batch, self.dir(layer, direction).h.clone())
    }

    /// LSTM: the cell states c_t of the last forward, `T x B x H`.
    pub fn cell_states(&self, layer: usize, direction: usize) -> Option<Seq<F>> {
        (self.cfg.cell == CellKind::Lstm)
            .then(|| Seq::from_mat(self.time, self.batch, self.dir(layer, direction).c.clone()))
    }

    /// PyTorch's `h_n`: the final hidden state of every layer and direction (index
    /// `layer * directions + direction`), each `B x H`; the reverse direction ends at t = 0.
    pub fn h_n(&self) -> Vec<Mat<F>> {
        self.final_of(|d| &d.h)
    }

    /// PyTorch's `c_n` (LSTM; empty otherwise).
    pub fn c_n(&self) -> Vec<Mat<F>> {
        if self.cfg.cell != CellKind::Lstm {
            return Vec::new();
        }
        self.final_of(|d| &d.c)
    }

    fn final_of(&self, m: impl Fn(&Dir<F>) -> &Mat<F>) -> Vec<Mat<F>> {
        let (b, hs) = (self.batch, self.cfg.hidden_size);
        self.dirs
            .iter()
            .map(|d| {
                if self.time == 0 {
                    return Mat::zeros(b, hs);
                }
                let t = if d.reverse { 0 } else { self.time - 1 };
                Mat::from_vec(b, hs, m(d).data[t * b * hs..(t + 1) * b * hs].to_vec())
            })
            .collect()
    }
}

impl<F: Real> SeqBlock<F> for Rnn<F> {
    fn kind(&self) -> &'static str {
        self.cfg.cell.name()
    }

    fn in_dim(&self) -> usize {
        self.cfg.input_size
    }

    fn out_dim(&self) -> usize {
        self.cfg.output_size()
    }

    fn forward(&mut self, x: &Seq<F>, _ctx: &Ctx) -> Seq<F> {
        assert_eq!(x.dim(), self.cfg.input_size, "rnn: input width {}, want {}", x.dim(), self.cfg.input_size);
        let (time, batch, nd, hs) = (x.time, x.batch, self.directions(), self.cfg.hidden_size);
        let (cell, par) = (self.cfg.cell, self.par());
        self.time = time;
        self.batch = batch;
        self.taps_valid = false;
        self.pending.clear();
        self.x.clone_from(&x.data);
        self.cat.resize_with(if nd == 2 { self.cfg.num_layers } else { 0 }, Mat::default);
        for l in 0..self.cfg.num_layers {
            let (lower, upper) = self.dirs.split_at_mut(l * nd);
            let input = match (l, nd) {
                (0, _) => &self.x,
                (_, 1) => &lower[l - 1].h,
                _ => &self.cat[l - 1],
            };
            for dir in &mut upper[..nd] {
                dir.forward(cell, input, time, batch, par);
            }
            if nd == 2 {
                let cat = &mut self.cat[l];
                cat.reshape_for(time * batch, 2 * hs);
                let (f, b) = (&upper[0].h, &upper[1].h);
                for ((row, hf), hb) in
                    cat.data.chunks_exact_mut(2 * hs).zip(f.data.chunks_exact(hs)).zip(b.data.chunks_exact(hs))
                {
                    row[..hs].copy_from_slice(hf);
                    row[hs..].copy_from_slice(hb);
                }
            }
        }
        let top = if nd == 2 {
            self.cat[self.cfg.num_layers - 1].clone()
        } else {
            self.dirs[self.cfg.num_layers - 1].h.clone()
        };
        Seq::from_mat(time, batch, top)
    }

    fn backward_params(&mut self, dy: &Seq<F>) {
        let keep = std::mem::replace(&mut self.input_grad, false);
        self.backward(dy);
        self.input_grad = keep;
    }

    fn backward(&mut self, dy: &Seq<F>) -> Seq<F> {
        let (time, batch, nd, hs) = (self.time, self.batch, self.directions(), self.cfg.hidden_size);
        assert_eq!(
            (dy.time, dy.batch, dy.dim()),
            (time, batch, self.out_dim()),
            "rnn backward: dy shape differs from the output"
        );
        let (cell, par, trunc, taps) = (self.cfg.cell, self.par(), self.bptt_truncate, self.taps_on);
        assert!(trunc != Some(0), "rnn: bptt_truncate must be at least 1");
        let nl = self.cfg.num_layers;
        self.dbuf.resize_with(nl - 1, Mat::default);
        let mut pending = std::mem::take(&mut self.pending);
        pending.resize_with(nl, || None);
        // A gradient at the top layer's output joins dy; lower layers' join their dbuf below.
        let dy_top = pending[nl - 1].take().map(|mut g| {
            g.add_assign(&dy.data);
            g
        });
        let dy_top = dy_top.as_ref().unwrap_or(&dy.data);
        let mut dx_out = Mat::zeros(time * batch, self.cfg.input_size);
        for l in (0..nl).rev() {
            let mut dx = if l == 0 { std::mem::take(&mut dx_out) } else { std::mem::take(&mut self.dbuf[l - 1]) };
            if l > 0 {
                dx.reshape_for(time * batch, nd * hs);
            }
            let (lower, upper) = self.dirs.split_at_mut(l * nd);
            let input = match (l, nd) {
                (0, _) => &self.x,
                (_, 1) => &lower[l - 1].h,
                _ => &self.cat[l - 1],
            };
            if let (true, Some(g)) = (l + 1 < nl, pending[l].take()) {
                self.dbuf[l].add_assign(&g);
            }
            let dy_l = if l == nl - 1 { dy_top } else { &self.dbuf[l] };
            let want_dx = l > 0 || self.input_grad;
            for (d, dir) in upper[..nd].iter_mut().enumerate() {
                let dxo = if want_dx { Some(&mut dx) } else { None };
                dir.backward(cell, input, dy_l, d * hs, dxo, d > 0, trunc, taps, par);
            }
            if l == 0 {
                dx_out = dx;
            } else {
                self.dbuf[l - 1] = dx;
            }
        }
        self.taps_valid = taps;
        Seq::from_mat(time, batch, dx_out)
    }

    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>) {
        let nd = self.directions();
        for (i, d) in self.dirs.iter_mut().enumerate() {
            let sfx = format!("l{}{}", i / nd, if i % nd == 1 { "_reverse" } else { "" });
            out.push((join(prefix, &format!("weight_ih_{sfx}")), &mut d.w_ih));
            out.push((join(prefix, &format!("weight_hh_{sfx}")), &mut d.w_hh));
            out.push((join(prefix, &format!("bias_ih_{sfx}")), &mut d.b_ih));
            out.push((join(prefix, &format!("bias_hh_{sfx}")), &mut d.b_hh));
        }
    }

    fn set_taps(&mut self, on: bool) {
        self.taps_on = on;
    }

    fn layers(&self) -> usize {
        self.cfg.num_layers
    }

    /// Layer k's h_t at every step, `[h_fwd | h_bwd]` when bidirectional (the input of layer
    /// k + 1).
    fn layer_output(&self, k: usize) -> Option<Seq<F>> {
        if k >= self.cfg.num_layers || self.dirs.is_empty() {
            return None;
        }
        let m = if self.directions() == 2 { self.cat.get(k)?.clone() } else { self.dirs[k].h.clone() };
        Some(Seq::from_mat(self.time, self.batch, m))
    }

    fn add_layer_grad(&mut self, k: usize, g: &Seq<F>) {
        assert!(k < self.cfg.num_layers, "rnn: no layer {k} (the stack has {})", self.cfg.num_layers);
        assert_eq!(
            (g.time, g.batch, g.dim()),
            (self.time, self.batch, self.out_dim()),
            "rnn: the gradient at layer {k} differs in shape from its output"
        );
        self.pending.resize_with(self.cfg.num_layers, || None);
        match &mut self.pending[k] {
            Some(p) => p.add_assign(&g.data),
            slot => *slot = Some(g.data.clone()),
        }
    }

    fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// dL/dh_t (total: the output gradient of step t plus what comes back through the
    /// recurrence, under truncation what survives it) and, for LSTM, dL/dc_t, for every layer,
    /// direction and step of the last backward run with taps on; each `B x H`.
    fn taps(&self, prefix: &str, out: &mut Vec<(String, Mat<F>)>) {
        if !self.taps_valid {
            return;
        }
        let (nd, b, hs) = (self.directions(), self.batch, self.cfg.hidden_size);
        for (i, d) in self.dirs.iter().enumerate() {
            let name = format!("l{}{}", i / nd, if i % nd == 1 { "_reverse" } else { "" });
            for (what, m) in [("h", &d.taps_h), ("c", &d.taps_c)] {
                if m.is_empty() {
                    continue;
                }
                for t in 0..self.time {
                    let step = Mat::from_vec(b, hs, m.data[t * b * hs..(t + 1) * b * hs].to_vec());
                    out.push((join(prefix, &format!("{name}.{what}.{t}")), step));
                }
            }
        }
    }
}
