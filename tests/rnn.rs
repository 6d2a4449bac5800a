//! Recurrent layers (`seq::rnn`): gradients against finite differences, the forward against an
//! independent step-by-step implementation of PyTorch's formulas, truncated BPTT, gradient taps,
//! parameter names, initialisation and f32 / f64 agreement.

use std::collections::HashMap;

use depthlab::nn::gradcheck::{check, Differentiable};
use depthlab::nn::{Ctx, ParamList};
use depthlab::seq::gradcheck::check_seq_block;
use depthlab::seq::rnn::spectral_radius;
use depthlab::seq::{CellKind, HhInit, Rnn, RnnConfig, Seq, SeqBlock};
use depthlab::tensor::{Mat, Real};
use rand::{rngs::StdRng, Rng, SeedableRng};

const CELLS: [CellKind; 4] = [CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru];
const TOL: f64 = 1e-6;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn random_seq(time: usize, batch: usize, dim: usize, seed: u64) -> Seq<f64> {
    let mut r = rng(seed);
    Seq::from_mat(time, batch, Mat::from_fn(time * batch, dim, |_, _| r.random_range(-1.0..1.0)))
}

/// A model with biases drawn wider than PyTorch's default so that every term matters.
fn model(cfg: &RnnConfig, seed: u64) -> Rnn<f64> {
    let mut m = Rnn::new(cfg, &mut rng(seed));
    let mut r = rng(seed + 100);
    let mut ps: ParamList<f64> = Vec::new();
    m.params("", &mut ps);
    for (_, p) in ps {
        p.value.data.iter_mut().for_each(|v| *v += r.random_range(-0.3..0.3));
    }
    m
}

fn param_map<F: Real>(m: &mut Rnn<F>) -> HashMap<String, Vec<f64>> {
    let mut ps: ParamList<F> = Vec::new();
    m.params("", &mut ps);
    ps.into_iter().map(|(n, p)| (n, p.value.data.iter().map(|v| v.f64()).collect())).collect()
}

fn grad_map(m: &mut Rnn<f64>) -> HashMap<String, Vec<f64>> {
    let mut ps: ParamList<f64> = Vec::new();
    m.params("", &mut ps);
    ps.into_iter().map(|(n, p)| (n, p.grad.data.clone())).collect()
}

fn zero_grads(m: &mut Rnn<f64>) {
    let mut ps: ParamList<f64> = Vec::new();
    m.params("", &mut ps);
    ps.into_iter().for_each(|(_, p)| p.zero_grad());
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let d = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    d / na.max(nb).max(1e-12)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

// ---------------------------------------------------------------------------------------------
// An independent reference: PyTorch's equations, one sequence, one unit at a time.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
struct Poke {
    layer: usize,
    dir: usize,
    t: usize,
    b: usize,
    j: usize,
    cell_state: bool,
    delta: f64,
}

/// The states entering processing step s at truncation boundaries, by (layer, dir, s, b).
type Frozen = HashMap<(usize, usize, usize, usize), (Vec<f64>, Vec<f64>)>;

struct Reference<'a> {
    cfg: &'a RnnConfig,
    p: &'a HashMap<String, Vec<f64>>,
    poke: Option<Poke>,
    /// Truncation: replace the state entering each block's first step by the recorded one
    /// (`frozen`), or record it (`record`).
    trunc: Option<usize>,
    frozen: Option<&'a Frozen>,
}

impl Reference<'_> {
    fn run(&self, x: &Seq<f64>, mut record: Option<&mut Frozen>) -> Vec<f64> {
        let (time, batch, hs, nd) = (x.time, x.batch, self.cfg.hidden_size, self.cfg.directions());
        let mut input: Vec<f64> = x.data.data.clone();
        let mut in_dim = x.dim();
        for l in 0..self.cfg.num_layers {
            let mut out = vec![0.0; time * batch * nd * hs];
            for d in 0..nd {
                let sfx = format!("l{l}{}", if d == 1 { "_reverse" } else { "" });
                let w_ih = &self.p[&format!("weight_ih_{sfx}")];
                let w_hh = &self.p[&format!("weight_hh_{sfx}")];
                let b_ih = &self.p[&format!("bias_ih_{sfx}")];
                let b_hh = &self.p[&format!("bias_hh_{sfx}")];
                let gh = w_hh.len() / hs;
                for b in 0..batch {
                    let (mut h, mut c) = (vec![0.0; hs], vec![0.0; hs]);
                    for s in 0..time {
                        let t = if d == 1 { time - 1 - s } else { s };
                        if let Some(k) = self.trunc {
                            if s > 0 && (time - s) % k == 0 {
                                if let Some(rec) = record.as_deref_mut() {
                                    rec.insert((l, d, s, b), (h.clone(), c.clone()));
                                }
                                if let Some(fr) = self.frozen {
                                    (h, c) = fr[&(l, d, s, b)].clone();
                                }
                            }
                        }
                        let xt = &input[(t * batch + b) * in_dim..(t * batch + b + 1) * in_dim];
                        let ih: Vec<f64> = (0..gh)
                            .map(|q| b_ih[q] + (0..in_dim).map(|i| w_ih[q * in_dim + i] * xt[i]).sum::<f64>())
                            .collect();
                        let hh: Vec<f64> =
                            (0..gh).map(|q| b_hh[q] + (0..hs).map(|i| w_hh[q * hs + i] * h[i]).sum::<f64>()).collect();
                        let mut hn = vec![0.0; hs];
                        for j in 0..hs {
                            hn[j] = match self.cfg.cell {
                                CellKind::RnnTanh => (ih[j] + hh[j]).tanh(),
                                CellKind::RnnRelu => (ih[j] + hh[j]).max(0.0),
                                CellKind::Lstm => {
                                    let i = sigmoid(ih[j] + hh[j]);
                                    let f = sigmoid(ih[hs + j] + hh[hs + j]);
                                    let g = (ih[2 * hs + j] + hh[2 * hs + j]).tanh();
                                    let o = sigmoid(ih[3 * hs + j] + hh[3 * hs + j]);
                                    c[j] = f * c[j] + i * g;
                                    if let Some(pk) = self.poke {
                                        if pk.cell_state && (pk.layer, pk.dir, pk.t, pk.b, pk.j) == (l, d, t, b, j) {
                                            c[j] += pk.delta;
                                        }
                                    }
                                    o * c[j].tanh()
                                }
                                CellKind::Gru => {
                                    let r = sigmoid(ih[j] + hh[j]);
                                    let z = sigmoid(ih[hs + j] + hh[hs + j]);
                                    let n = (ih[2 * hs + j] + r * hh[2 * hs + j]).tanh();
                                    (1.0 - z) * n + z * h[j]
                                }
                            };
                            if let Some(pk) = self.poke {
                                if !pk.cell_state && (pk.layer, pk.dir, pk.t, pk.b, pk.j) == (l, d, t, b, j) {
                                    hn[j] += pk.delta;
                                }
                            }
                        }
                        h = hn;
                        out[(t * batch + b) * nd * hs + d * hs..][..hs].copy_from_slice(&h);
                    }
                }
            }
            input = out;
            in_dim = nd * hs;
        }
        input
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

// ---------------------------------------------------------------------------------------------

fn configs() -> Vec<RnnConfig> {
    let mut out = Vec::new();
    for cell in CELLS {
        for layers in [1, 2] {
            for bidir in [false, true] {
                out.push(RnnConfig::new(cell, 3, 4).layers(layers).bidirectional(bidir));
            }
        }
    }
    out
}

fn what(cfg: &RnnConfig) -> String {
    format!("{} layers={} bidirectional={}", cfg.cell.name(), cfg.num_layers, cfg.bidirectional)
}

#[test]
fn gradients_match_finite_differences() {
    for (i, cfg) in configs().iter().enumerate() {
        let mut m = model(cfg, i as u64);
        if i % 2 == 1 {
            // Exercise the threaded paths too (batch rows cut into lanes in the loops).
            m.threads = 2;
            m.min_parallel_work = 0;
            m.lane_rows = 2;
        }
        if i % 4 >= 2 {
            // Time blocks of one step, and of two (the last one short: T = 5).
            m.block_rows = 3 * (i % 4 - 1);
        }
        let x = random_seq(5, 3, 3, 50 + i as u64);
        let report = check_seq_block(&mut m, &x, 40, 3);
        for (name, err) in &report {
            assert!(*err < TOL, "{}: {name} relative error {err:.2e}; all {report:?}", what(cfg));
        }
        assert_eq!(report.len(), 1 + 4 * cfg.num_layers * cfg.directions());
    }
}

/// A stack seen with every layer's output as its output: the loss sum_k <r_k, y_k> reaches the
/// lower layers through `add_layer_grad` and the top one through `backward`'s dy (or, with
/// `top_by_add`, through `add_layer_grad` too).
struct AllLayers<'a> {
    rnn: &'a mut Rnn<f64>,
    time: usize,
    batch: usize,
    top_by_add: bool,
}

impl Differentiable for AllLayers<'_> {
    fn output(&mut self, x: &[f64]) -> Vec<f64> {
        let s = Seq::from_mat(self.time, self.batch, Mat::from_vec(self.time * self.batch, 3, x.to_vec()));
        let top = self.rnn.forward(&s, &Ctx::TRAIN);
        let mut out = Vec::new();
        for k in 0..self.rnn.layers() {
            out.extend(self.rnn.layer_output(k).unwrap().data.data);
        }
        let n = top.data.len();
        assert_eq!(&out[out.len() - n..], &top.data.data[..], "the top layer's output is the block's");
        out
    }
    fn input_grad(&mut self, x: &[f64], r: &[f64]) -> Vec<f64> {
        self.output(x);
        let (t, b, w) = (self.time, self.batch, self.rnn.out_dim());
        let n = t * b * w;
        let layers = self.rnn.layers();
        let part = |k: usize| Seq::from_mat(t, b, Mat::from_vec(t * b, w, r[k * n..(k + 1) * n].to_vec()));
        for k in 0..layers - 1 {
            self.rnn.add_layer_grad(k, &part(k));
        }
        let dy = if self.top_by_add {
            // Half through dy, half added at the top layer: the two must add up.
            let mut half = part(layers - 1);
            half.data.scale(0.5);
            self.rnn.add_layer_grad(layers - 1, &half);
            half
        } else {
            part(layers - 1)
        };
        self.rnn.backward(&dy).data.data
    }
    fn params(&mut self) -> ParamList<'_, f64> {
        let mut ps = Vec::new();
        self.rnn.params("", &mut ps);
        ps
    }
}

#[test]
fn gradients_at_every_layer_match_finite_differences() {
    let mut n = 0;
    for cell in CELLS {
        for bidir in [false, true] {
            let cfg = RnnConfig::new(cell, 3, 4).layers(3).bidirectional(bidir);
            for top_by_add in [false, true] {
                let mut m = model(&cfg, 70 + n);
                if n % 2 == 1 {
                    m.threads = 2;
                    m.min_parallel_work = 0;
                    m.block_rows = 6;
                }
                let x = random_seq(5, 3, 3, 90 + n);
                let mut f = AllLayers { rnn: &mut m, time: 5, batch: 3, top_by_add };
                let report = check(&mut f, &x.data.data, 40, 5 + n);
                report.assert_below(TOL);
                assert_eq!(report.tensors.len(), 1 + 4 * 3 * cfg.directions());
                n += 1;
            }
        }
    }
    // A gradient given and then a forward: the forward drops it.
    let mut m = model(&RnnConfig::new(CellKind::Gru, 3, 4).layers(2), 1);
    let x = random_seq(4, 2, 3, 2);
    let dy = random_seq(4, 2, 4, 3);
    let y = m.forward(&x, &Ctx::TRAIN);
    m.add_layer_grad(0, &random_seq(4, 2, 4, 4));
    m.forward(&x, &Ctx::TRAIN);
    let dx = m.backward(&dy);
    let mut fresh = model(&RnnConfig::new(CellKind::Gru, 3, 4).layers(2), 1);
    assert_eq!(fresh.forward(&x, &Ctx::TRAIN), y);
    assert_eq!(fresh.backward(&dy), dx);
}

#[test]
fn forward_matches_reference_equations() {
    for (i, cfg) in configs().iter().enumerate() {
        let mut m = model(cfg, 10 + i as u64);
        let x = random_seq(6, 3, 3, 60 + i as u64);
        let y = m.forward(&x, &Ctx::TRAIN);
        let p = param_map(&mut m);
        let want = Reference { cfg, p: &p, poke: None, trunc: None, frozen: None }.run(&x, None);
        assert_eq!(y.dim(), cfg.output_size());
        let err = y.data.data.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-12, "{}: forward differs from the reference by {err:e}", what(cfg));
        // h_n / c_n as PyTorch returns them: the reverse direction ends at t = 0.
        let hn = m.h_n();
        assert_eq!(hn.len(), cfg.num_layers * cfg.directions());
        let top = hn.len() - cfg.directions();
        for b in 0..3 {
            assert_eq!(hn[top].row(b), &y.step_row(5, b)[..4]);
            if cfg.bidirectional {
                assert_eq!(hn[top + 1].row(b), &y.step_row(0, b)[4..]);
            }
        }
        assert_eq!(m.c_n().len(), if cfg.cell == CellKind::Lstm { hn.len() } else { 0 });
    }
}

/// Truncated BPTT against finite differences of the loss with the states passed across block
/// boundaries held fixed: parameters and input, every cell, stacked and bidirectional.
#[test]
fn truncated_bptt_is_the_gradient_with_detached_block_states() {
    for (i, cfg) in configs().iter().enumerate() {
        for k in [1, 2, 3] {
            let mut m = model(cfg, 20 + i as u64);
            m.bptt_truncate = Some(k);
            // Time blocks of two steps, whose edges fall across the truncation's.
            m.block_rows = if (i + k) % 2 == 1 { 4 } else { m.block_rows };
            let (time, batch) = (7, 2);
            let x = random_seq(time, batch, 3, 70 + i as u64);
            let mut r = rng(80 + i as u64);
            let dy = Mat::from_fn(time * batch, cfg.output_size(), |_, _| r.random_range(-1.0..1.0));
            zero_grads(&mut m);
            m.forward(&x, &Ctx::TRAIN);
            let dx = m.backward(&Seq::from_mat(time, batch, dy.clone()));
            let grads = grad_map(&mut m);
            let p0 = param_map(&mut m);
            let mut frozen = Frozen::new();
            Reference { cfg, p: &p0, poke: None, trunc: Some(k), frozen: None }.run(&x, Some(&mut frozen));
            let h = 1e-6;
            let loss = |p: &HashMap<String, Vec<f64>>, x: &Seq<f64>| {
                dot(&Reference { cfg, p, poke: None, trunc: Some(k), frozen: Some(&frozen) }.run(x, None), &dy.data)
            };
            let mut num = Vec::new();
            for e in 0..x.data.len() {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp.data.data[e] += h;
                xm.data.data[e] -= h;
                num.push((loss(&p0, &xp) - loss(&p0, &xm)) / (2.0 * h));
            }
            let err = rel_err(&dx.data.data, &num);
            assert!(err < TOL, "{} k={k}: input relative error {err:.2e}", what(cfg));
            for (name, g) in &grads {
                let mut num = Vec::new();
                for e in 0..g.len() {
                    let (mut pp, mut pm) = (p0.clone(), p0.clone());
                    pp.get_mut(name).unwrap()[e] += h;
                    pm.get_mut(name).unwrap()[e] -= h;
                    num.push((loss(&pp, &x) - loss(&pm, &x)) / (2.0 * h));
                }
                let err = rel_err(g, &num);
                assert!(err < TOL, "{} k={k}: {name} relative error {err:.2e}", what(cfg));
            }
        }
    }
}

/// With only the last step's output carrying gradient, truncation at k leaves dx zero at every
/// step before T - k and exactly the full-BPTT dx on the last k steps.
#[test]
fn truncation_cuts_the_gradient_k_steps_back() {
    for cell in CELLS {
        for layers in [1, 2] {
            let cfg = RnnConfig::new(cell, 3, 5).layers(layers);
            let (time, batch, k) = (9, 2, 3);
            let x = random_seq(time, batch, 3, 5);
            let mut dy = Mat::zeros(time * batch, 5);
            let mut r = rng(6);
            for b in 0..batch {
                dy.row_mut((time - 1) * batch + b).iter_mut().for_each(|v| *v = r.random_range(-1.0..1.0));
            }
            let dy = Seq::from_mat(time, batch, dy);
            let mut full = model(&cfg, 7);
            full.forward(&x, &Ctx::TRAIN);
            let dx_full = full.backward(&dy);
            let mut cut = model(&cfg, 7);
            cut.bptt_truncate = Some(k);
            cut.forward(&x, &Ctx::TRAIN);
            let dx_cut = cut.backward(&dy);
            for t in 0..time {
                for b in 0..batch {
                    let (f, c) = (dx_full.step_row(t, b), dx_cut.step_row(t, b));
                    if t < time - k {
                        assert!(c.iter().all(|v| *v == 0.0), "{} layers={layers}: dx at t={t} is {c:?}", cell.name());
                        assert!(f.iter().any(|v| *v != 0.0));
                    } else {
                        assert!(rel_err(c, f) < 1e-14, "{} layers={layers}: dx at t={t}: {c:?} vs {f:?}", cell.name());
                    }
                }
            }
        }
    }
}

/// The taps are dL/dh_t and dL/dc_t: finite differences of the loss when h_t (or c_t) is nudged
/// inside the reference recurrence; also under truncation.
#[test]
fn taps_are_the_state_gradients() {
    for (i, cfg) in configs().iter().enumerate() {
        for trunc in [None, Some(2)] {
            let mut m = model(cfg, 30 + i as u64);
            m.bptt_truncate = trunc;
            if i % 2 == 1 {
                m.block_rows = 4;
            }
            let (time, batch) = (5, 2);
            let x = random_seq(time, batch, 3, 90 + i as u64);
            let mut r = rng(91 + i as u64);
            let dy = Mat::from_fn(time * batch, cfg.output_size(), |_, _| r.random_range(-1.0..1.0));
            // Off: nothing is recorded.
            m.forward(&x, &Ctx::TRAIN);
            m.backward(&Seq::from_mat(time, batch, dy.clone()));
            let mut taps = Vec::new();
            m.taps("act.rnn", &mut taps);
            assert!(taps.is_empty());
            m.set_taps(true);
            m.forward(&x, &Ctx::TRAIN);
            m.backward(&Seq::from_mat(time, batch, dy.clone()));
            m.taps("act.rnn", &mut taps);
            let lstm = cfg.cell == CellKind::Lstm;
            let per_step = cfg.num_layers * cfg.directions() * (1 + lstm as usize);
            assert_eq!(taps.len(), per_step * time);
            let taps: HashMap<String, Mat<f64>> = taps.into_iter().collect();
            let p = param_map(&mut m);
            let mut frozen = Frozen::new();
            Reference { cfg, p: &p, poke: None, trunc, frozen: None }.run(&x, Some(&mut frozen));
            let h = 1e-6;
            for l in 0..cfg.num_layers {
                for d in 0..cfg.directions() {
                    let sfx = if d == 1 { "_reverse" } else { "" };
                    for state in if lstm { vec!["h", "c"] } else { vec!["h"] } {
                        let (mut got, mut num) = (Vec::new(), Vec::new());
                        for t in 0..time {
                            let tap = &taps[&format!("act.rnn.l{l}{sfx}.{state}.{t}")];
                            assert_eq!(tap.shape(), (batch, 4));
                            for b in 0..batch {
                                for j in 0..4 {
                                    let eval = |delta: f64| {
                                        let poke = Poke { layer: l, dir: d, t, b, j, cell_state: state == "c", delta };
                                        let rf =
                                            Reference { cfg, p: &p, poke: Some(poke), trunc, frozen: Some(&frozen) };
                                        dot(&rf.run(&x, None), &dy.data)
                                    };
                                    num.push((eval(h) - eval(-h)) / (2.0 * h));
                                    got.push(tap.at(b, j));
                                }
                            }
                        }
                        let err = rel_err(&got, &num);
                        assert!(err < TOL, "{} trunc={trunc:?}: l{l}{sfx}.{state} relative error {err:.2e}", what(cfg));
                    }
                }
            }
        }
    }
}

/// At the top layer's last step nothing comes back through the recurrence: the tap is the
/// injected output gradient. One step earlier it adds dz_{t+1} W_hh (vanilla RNN).
#[test]
fn taps_chain_relation() {
    let cfg = RnnConfig::new(CellKind::RnnTanh, 3, 4);
    let mut m = model(&cfg, 3);
    m.set_taps(true);
    let (time, batch) = (4, 3);
    let x = random_seq(time, batch, 3, 4);
    let mut r = rng(5);
    let dy = Seq::from_mat(time, batch, Mat::from_fn(time * batch, 4, |_, _| r.random_range(-1.0..1.0)));
    let y = m.forward(&x, &Ctx::TRAIN);
    m.backward(&dy);
    let mut taps = Vec::new();
    m.taps("", &mut taps);
    let taps: HashMap<String, Mat<f64>> = taps.into_iter().collect();
    assert_eq!(taps["l0.h.3"], dy.step_mat(3));
    let w = param_map(&mut m)["weight_hh_l0"].clone();
    let (g3, g2) = (&taps["l0.h.3"], &taps["l0.h.2"]);
    for b in 0..batch {
        for j in 0..4 {
            let back: f64 = (0..4).map(|q| g3.at(b, q) * (1.0 - y.step_row(3, b)[q].powi(2)) * w[q * 4 + j]).sum();
            assert!((g2.at(b, j) - dy.step_row(2, b)[j] - back).abs() < 1e-14);
        }
    }
}

#[test]
fn parameter_names_and_shapes_follow_pytorch() {
    let cfg = RnnConfig::new(CellKind::Lstm, 3, 5).layers(2).bidirectional(true);
    let mut m: Rnn<f32> = Rnn::new(&cfg, &mut rng(1));
    let mut ps: ParamList<f32> = Vec::new();
    m.params("rnn", &mut ps);
    let got: Vec<(String, Vec<usize>)> = ps.iter().map(|(n, p)| (n.clone(), p.shape.clone())).collect();
    let mut want = Vec::new();
    for l in 0..2 {
        for sfx in ["", "_reverse"] {
            let fan_in = if l == 0 { 3 } else { 10 };
            want.push((format!("rnn.weight_ih_l{l}{sfx}"), vec![20, fan_in]));
            want.push((format!("rnn.weight_hh_l{l}{sfx}"), vec![20, 5]));
            want.push((format!("rnn.bias_ih_l{l}{sfx}"), vec![20]));
            want.push((format!("rnn.bias_hh_l{l}{sfx}"), vec![20]));
        }
    }
    assert_eq!(got, want);
    for (cell, g) in [(CellKind::RnnTanh, 1), (CellKind::RnnRelu, 1), (CellKind::Gru, 3)] {
        let mut m: Rnn<f32> = Rnn::new(&RnnConfig::new(cell, 7, 6), &mut rng(1));
        let mut ps: ParamList<f32> = Vec::new();
        m.params("", &mut ps);
        let shapes: Vec<Vec<usize>> = ps.iter().map(|(_, p)| p.shape.clone()).collect();
        assert_eq!(shapes, vec![vec![g * 6, 7], vec![g * 6, 6], vec![g * 6], vec![g * 6]]);
        assert_eq!(m.kind(), cell.name());
    }
    assert_eq!((m.in_dim(), m.out_dim()), (3, 10));
}

/// Set every parameter of a one-layer model from explicit values.
fn set(m: &mut Rnn<f64>, values: &[(&str, &[f64])]) {
    let mut ps: ParamList<f64> = Vec::new();
    m.params("", &mut ps);
    for (name, v) in values {
        let p = ps.iter_mut().find(|(n, _)| n == name).unwrap();
        p.1.value.data.copy_from_slice(v);
    }
}

fn two_steps(m: &mut Rnn<f64>, x1: &[f64], x2: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = x1.len();
    let x = Seq::from_mat(2, 1, Mat::from_vec(2, n, [x1, x2].concat()));
    let y = m.forward(&x, &Ctx::EVAL);
    (y.step(0).to_vec(), y.step(1).to_vec())
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-14, "got {got:?}, want {want:?}");
    }
}

/// Two steps of each cell with explicit numbers, written out from the formulas.
#[test]
fn hand_computed_steps() {
    // Vanilla RNN, in 2, hidden 2.
    for relu in [false, true] {
        let cell = if relu { CellKind::RnnRelu } else { CellKind::RnnTanh };
        let mut m = Rnn::new(&RnnConfig::new(cell, 2, 2), &mut rng(0));
        set(
            &mut m,
            &[
                ("weight_ih_l0", &[0.1, -0.2, 0.3, 0.4]),
                ("weight_hh_l0", &[0.5, -0.1, 0.2, 0.3]),
                ("bias_ih_l0", &[0.01, -0.02]),
                ("bias_hh_l0", &[0.03, -0.5]),
            ],
        );
        let act = |v: f64| if relu { v.max(0.0) } else { v.tanh() };
        let (y1, y2) = two_steps(&mut m, &[1.0, 2.0], &[-1.0, 0.5]);
        // h1 = act(W_ih x1 + b_ih + b_hh)
        let h1 = [act(0.1 - 0.4 + 0.01 + 0.03), act(0.3 + 0.8 - 0.02 - 0.5)];
        close(&y1, &h1);
        let h2 = [
            act(-0.1 - 0.1 + 0.01 + 0.03 + 0.5 * h1[0] - 0.1 * h1[1]),
            act(-0.3 + 0.2 - 0.02 - 0.5 + 0.2 * h1[0] + 0.3 * h1[1]),
        ];
        close(&y2, &h2);
        if relu {
            assert_eq!(h2[1], 0.0, "the second unit should be cut by the ReLU");
        }
    }

    // LSTM, in 1, hidden 1: rows i, f, g, o.
    let mut m = Rnn::new(&RnnConfig::new(CellKind::Lstm, 1, 1), &mut rng(0));
    set(
        &mut m,
        &[
            ("weight_ih_l0", &[0.5, -0.3, 0.8, 0.2]),
            ("weight_hh_l0", &[0.1, 0.4, -0.6, 0.9]),
            ("bias_ih_l0", &[0.1, 1.0, 0.0, -0.1]),
            ("bias_hh_l0", &[0.05, 0.0, 0.2, 0.0]),
        ],
    );
    let (y1, y2) = two_steps(&mut m, &[2.0], &[-1.0]);
    let (i, f, g, o) = (sigmoid(1.0 + 0.15), sigmoid(-0.6 + 1.0), (1.6_f64 + 0.2).tanh(), sigmoid(0.4 - 0.1));
    let c1 = f * 0.0 + i * g;
    let h1 = o * c1.tanh();
    close(&y1, &[h1]);
    let i = sigmoid(-0.5 + 0.15 + 0.1 * h1);
    let f = sigmoid(0.3 + 1.0 + 0.4 * h1);
    let g = (-0.8 + 0.2 - 0.6 * h1).tanh();
    let o = sigmoid(-0.2 - 0.1 + 0.9 * h1);
    let c2 = f * c1 + i * g;
    close(&y2, &[o * c2.tanh()]);
    assert_eq!(m.c_n()[0].data, vec![c2]);
    let gates = m.gate_values(0, 0);
    let names: Vec<&str> = gates.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["i", "f", "g", "o"]);
    close(
        &[gates[0].1.data.at(1, 0), gates[1].1.data.at(1, 0), gates[2].1.data.at(1, 0), gates[3].1.data.at(1, 0)],
        &[i, f, g, o],
    );

    // GRU, in 1, hidden 1: rows r, z, n; the reset gate multiplies W_hn h + b_hn.
    let mut m = Rnn::new(&RnnConfig::new(CellKind::Gru, 1, 1), &mut rng(0));
    set(
        &mut m,
        &[
            ("weight_ih_l0", &[0.5, -0.3, 0.8]),
            ("weight_hh_l0", &[0.1, 0.4, -0.6]),
            ("bias_ih_l0", &[0.1, 0.2, -0.3]),
            ("bias_hh_l0", &[0.05, -0.1, 0.25]),
        ],
    );
    let (y1, y2) = two_steps(&mut m, &[2.0], &[-1.0]);
    let (r, z) = (sigmoid(1.0 + 0.1 + 0.05), sigmoid(-0.6 + 0.2 - 0.1));
    let n = (1.6 - 0.3 + r * 0.25_f64).tanh();
    let h1 = (1.0 - z) * n + z * 0.0;
    close(&y1, &[h1]);
    let r = sigmoid(-0.5 + 0.1 + 0.1 * h1 + 0.05);
    let z = sigmoid(0.3 + 0.2 + 0.4 * h1 - 0.1);
    let n = (-0.8 - 0.3 + r * (-0.6 * h1 + 0.25)).tanh();
    close(&y2, &[(1.0 - z) * n + z * h1]);
    let gates = m.gate_values(0, 0);
    assert_eq!(gates.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["r", "z", "n"]);
    close(&[gates[0].1.data.at(1, 0), gates[1].1.data.at(1, 0), gates[2].1.data.at(1, 0)], &[r, z, n]);
}

#[test]
fn f32_and_f64_forward_agree() {
    for cell in CELLS {
        let cfg = RnnConfig::new(cell, 6, 16).layers(2).bidirectional(true);
        let mut m64: Rnn<f64> = Rnn::new(&cfg, &mut rng(4));
        let mut m32: Rnn<f32> = Rnn::new(&cfg, &mut rng(4));
        let (p64, p32) = (param_map(&mut m64), param_map(&mut m32));
        for (n, v) in &p64 {
            assert!(v.iter().zip(&p32[n]).all(|(a, b)| (a - b).abs() < 1e-7), "{n} differs between f32 and f64");
        }
        let x = random_seq(20, 4, 6, 8);
        let y64 = m64.forward(&x, &Ctx::EVAL);
        let y32 = m32.forward(&Seq::from_mat(20, 4, x.data.cast()), &Ctx::EVAL);
        let err = y64.data.data.iter().zip(&y32.data.data).map(|(a, b)| (a - b.f64()).abs()).fold(0.0, f64::max);
        assert!(err < 1e-5, "{}: f32 and f64 differ by {err:e}", cell.name());
    }
}

/// What one run of `threads_give_bit_identical_results` gives: output, dL/dx, taps and
/// parameter gradients.
type RunResult = (Vec<f64>, Vec<f64>, Vec<(String, Vec<f64>)>, Vec<(String, Vec<f64>)>);

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The thread count does not change a bit of the results: lanes and time blocks are cut from
/// the shapes (here as finely as they go), the threads only share them out.
#[test]
fn threads_give_bit_identical_results() {
    for cell in CELLS {
        let cfg = RnnConfig::new(cell, 5, 8).layers(2).bidirectional(true);
        let x = random_seq(6, 5, 5, 9);
        let mut r = rng(10);
        let dy = Seq::from_mat(6, 5, Mat::from_fn(30, 16, |_, _| r.random_range(-1.0..1.0)));
        let run = |threads: usize| -> RunResult {
            let mut m = model(&cfg, 11);
            m.threads = threads;
            m.min_parallel_work = 0;
            m.lane_rows = 2;
            m.block_rows = 10;
            m.set_taps(true);
            let y = m.forward(&x, &Ctx::TRAIN);
            let dx = m.backward(&dy);
            let mut taps = Vec::new();
            m.taps("", &mut taps);
            let mut g: Vec<(String, Vec<f64>)> = grad_map(&mut m).into_iter().collect();
            g.sort_by(|a, b| a.0.cmp(&b.0));
            (y.data.data, dx.data.data, taps.into_iter().map(|(n, t)| (n, t.data)).collect::<Vec<_>>(), g)
        };
        let one = run(1);
        for threads in [2, 3, 8] {
            let other = run(threads);
            assert_eq!(bits(&one.0), bits(&other.0), "{}: outputs with {threads} threads", cell.name());
            assert_eq!(bits(&one.1), bits(&other.1), "{}: dL/dx with {threads} threads", cell.name());
            assert_eq!(one.2.len(), other.2.len());
            for ((na, ta), (nb, tb)) in one.2.iter().zip(&other.2) {
                assert_eq!((na, bits(ta)), (nb, bits(tb)), "{}: tap with {threads} threads", cell.name());
            }
            for ((n, ga), (_, gb)) in one.3.iter().zip(&other.3) {
                assert_eq!(bits(ga), bits(gb), "{}: {n} with {threads} threads", cell.name());
            }
        }
    }
}

/// Time blocks change only how the products are cut along time (and so the order in which the
/// weight gradients are summed over steps): outputs, dL/dx, taps and gradients agree to rounding
/// whatever the block length, the last block short or not.
#[test]
fn time_blocks_change_only_the_rounding() {
    for cell in CELLS {
        let cfg = RnnConfig::new(cell, 5, 8).layers(2).bidirectional(true);
        let (time, batch) = (7, 3);
        let x = random_seq(time, batch, 5, 21);
        let mut r = rng(22);
        let dy = Seq::from_mat(time, batch, Mat::from_fn(time * batch, 16, |_, _| r.random_range(-1.0..1.0)));
        let run = |block_rows: usize| {
            let mut m = model(&cfg, 23);
            m.block_rows = block_rows;
            m.set_taps(true);
            let y = m.forward(&x, &Ctx::TRAIN);
            let dx = m.backward(&dy);
            let mut taps = Vec::new();
            m.taps("", &mut taps);
            let mut all = vec![("output".to_string(), y.data.data), ("dx".to_string(), dx.data.data)];
            all.extend(taps.into_iter().map(|(n, t)| (n, t.data)));
            let mut g: Vec<(String, Vec<f64>)> = grad_map(&mut m).into_iter().collect();
            g.sort_by(|a, b| a.0.cmp(&b.0));
            all.extend(g);
            all
        };
        let whole = run(512);
        for block_rows in [1, 3, 6, 7, 20] {
            let blocked = run(block_rows);
            assert_eq!(blocked.len(), whole.len());
            for ((n, a), (_, b)) in blocked.iter().zip(&whole) {
                let err = rel_err(a, b);
                assert!(err < 1e-13, "{}: {n} with blocks of {block_rows} rows: relative error {err:.1e}", cell.name());
            }
        }
    }
}

/// Gradients accumulate over backward calls; buffers are reused across calls of other sizes.
#[test]
fn gradients_accumulate_and_shapes_may_change() {
    let cfg = RnnConfig::new(CellKind::Lstm, 3, 4).layers(2).bidirectional(true);
    let mut m = model(&cfg, 12);
    let x = random_seq(5, 3, 3, 13);
    let dy = Seq::from_mat(5, 3, Mat::from_fn(15, 8, |r, c| ((r * 3 + c) % 7) as f64 * 0.1 - 0.3));
    m.forward(&x, &Ctx::TRAIN);
    m.backward(&dy);
    let once = grad_map(&mut m);
    // A different shape in between must not disturb the next call.
    m.forward(&random_seq(2, 7, 3, 14), &Ctx::TRAIN);
    m.backward(&Seq::zeros(2, 7, 8));
    m.forward(&x, &Ctx::TRAIN);
    m.backward(&dy);
    for (n, g) in grad_map(&mut m) {
        let twice: Vec<f64> = once[&n].iter().map(|v| 2.0 * v).collect();
        assert!(rel_err(&g, &twice) < 1e-13, "{n}");
    }
}

/// Without the input gradient, the parameter gradients are unchanged and dx is zero.
#[test]
fn input_grad_off_skips_dx_only() {
    for cell in CELLS {
        let cfg = RnnConfig::new(cell, 3, 4).layers(2).bidirectional(true);
        let x = random_seq(5, 3, 3, 15);
        let dy = Seq::from_mat(5, 3, Mat::from_fn(15, 8, |r, c| ((r * 5 + c) % 9) as f64 * 0.1 - 0.4));
        let mut on = model(&cfg, 16);
        on.forward(&x, &Ctx::TRAIN);
        let dx = on.backward(&dy);
        assert!(dx.data.data.iter().any(|v| *v != 0.0));
        let mut off = model(&cfg, 16);
        off.input_grad = false;
        off.forward(&x, &Ctx::TRAIN);
        let dx = off.backward(&dy);
        assert!(dx.data.data.iter().all(|v| *v == 0.0) && dx.data.shape() == (15, 3));
        let (a, b) = (grad_map(&mut on), grad_map(&mut off));
        for (n, g) in a {
            assert_eq!(g, b[&n], "{}: {n}", cell.name());
        }
    }
}

#[test]
fn initialisation_options() {
    let hs = 16;
    // PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)), LSTM forget-gate bias 1 on bias_ih, 0 on bias_hh.
    let mut m: Rnn<f64> = Rnn::new(&RnnConfig::new(CellKind::Lstm, 5, hs), &mut rng(1));
    let p = param_map(&mut m);
    let k = 1.0 / (hs as f64).sqrt();
    assert!(p["weight_ih_l0"].iter().chain(&p["weight_hh_l0"]).all(|v| v.abs() <= k));
    assert!(p["bias_ih_l0"][hs..2 * hs].iter().all(|v| *v == 1.0));
    assert!(p["bias_hh_l0"][hs..2 * hs].iter().all(|v| *v == 0.0));
    assert!(p["bias_ih_l0"][..hs].iter().all(|v| v.abs() <= k && *v != 1.0));
    let mut m: Rnn<f64> = Rnn::new(&RnnConfig::new(CellKind::Lstm, 5, hs).forget_bias(None), &mut rng(1));
    assert!(param_map(&mut m)["bias_hh_l0"][hs..2 * hs].iter().all(|v| *v != 0.0));

    // IRNN: identity recurrence, zero biases.
    let cfg = RnnConfig::new(CellKind::RnnRelu, 5, hs).hh_init(HhInit::Identity);
    let p = param_map(&mut Rnn::<f64>::new(&cfg, &mut rng(1)));
    let w = &p["weight_hh_l0"];
    assert!((0..hs * hs).all(|i| w[i] == if i / hs == i % hs { 1.0 } else { 0.0 }));
    assert!(p["bias_ih_l0"].iter().chain(&p["bias_hh_l0"]).all(|v| *v == 0.0));

    // Orthogonal per gate block: each H x H block B has B B^T = gain^2 I.
    let cfg = RnnConfig::new(CellKind::Gru, 5, hs).hh_init(HhInit::Orthogonal { gain: 1.5 });
    let p = param_map(&mut Rnn::<f64>::new(&cfg, &mut rng(2)));
    for blk in p["weight_hh_l0"].chunks_exact(hs * hs) {
        for i in 0..hs {
            for j in 0..hs {
                let d: f64 = (0..hs).map(|q| blk[i * hs + q] * blk[j * hs + q]).sum();
                assert!((d - if i == j { 2.25 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }

    // Spectral: each block's spectral radius is the one asked for, checked by Gelfand's formula
    // rho = lim ||B^n||^(1/n) with a long matrix power.
    let cfg = RnnConfig::new(CellKind::Lstm, 5, hs).hh_init(HhInit::Spectral { radius: 0.9 }).layers(2);
    let p = param_map(&mut Rnn::<f64>::new(&cfg, &mut rng(3)));
    for name in ["weight_hh_l0", "weight_hh_l1"] {
        for blk in p[name].chunks_exact(hs * hs) {
            let rho = gelfand(blk, hs, 3000);
            assert!((rho - 0.9).abs() < 0.02, "{name}: spectral radius {rho}");
        }
    }
}

/// ||A^n||_F^(1/n), by repeated squaring with renormalisation.
fn gelfand(a: &[f64], n: usize, power: u32) -> f64 {
    let mut m = a.to_vec();
    let mut log_scale = 0.0;
    let mut p = 1u32;
    while p < power {
        let mut sq = vec![0.0; n * n];
        for i in 0..n {
            for k in 0..n {
                let v = m[i * n + k];
                for j in 0..n {
                    sq[i * n + j] += v * m[k * n + j];
                }
            }
        }
        log_scale *= 2.0;
        let norm = sq.iter().map(|v| v * v).sum::<f64>().sqrt();
        sq.iter_mut().for_each(|v| *v /= norm);
        log_scale += norm.ln();
        m = sq;
        p *= 2;
    }
    (log_scale / p as f64).exp()
}

#[test]
fn spectral_radius_of_known_matrices() {
    let mut r = rng(1);
    // Diagonal.
    let d = [0.3, -0.95, 0.5, 0.1];
    let a: Vec<f64> = (0..16).map(|i| if i / 4 == i % 4 { d[i / 4] } else { 0.0 }).collect();
    assert!((spectral_radius(&a, 4, &mut r) - 0.95).abs() < 1e-6);
    // A scaled rotation (a complex pair of modulus 1.2) next to a real eigenvalue 0.7, in a
    // rotated basis: power iteration never settles, the growth rate does.
    let (c, s) = (1.2 * 0.7f64.cos(), 1.2 * 0.7f64.sin());
    let blk = [c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 0.7];
    let q = [0.6, 0.8, 0.0, -0.8, 0.6, 0.0, 0.0, 0.0, 1.0];
    let mm = |a: &[f64], b: &[f64]| -> Vec<f64> {
        (0..9).map(|i| (0..3).map(|k| a[i / 3 * 3 + k] * b[k * 3 + i % 3]).sum()).collect()
    };
    let qt: Vec<f64> = (0..9).map(|i| q[i % 3 * 3 + i / 3]).collect();
    let a = mm(&mm(&q, &blk), &qt);
    let rho = spectral_radius(&a, 3, &mut r);
    assert!((rho - 1.2).abs() < 2e-3, "rho = {rho}");
    assert_eq!(spectral_radius(&[0.0, 1.0, 0.0, 0.0], 2, &mut r), 0.0);
}

#[test]
fn config_reads_from_toml() {
    let cfg: RnnConfig = toml::from_str(
        "cell = \"lstm\"\ninput_size = 3\nhidden_size = 8\nnum_layers = 2\nbidirectional = true\nhh_init = { kind = \"spectral\", radius = 1.1 }\nbptt_truncate = 20",
    )
    .unwrap();
    let want = RnnConfig::new(CellKind::Lstm, 3, 8)
        .layers(2)
        .bidirectional(true)
        .hh_init(HhInit::Spectral { radius: 1.1 })
        .bptt_truncate(Some(20));
    assert_eq!(cfg, want);
    let cfg: RnnConfig =
        toml::from_str("cell = \"rnn_relu\"\ninput_size = 1\nhidden_size = 4\nhh_init = { kind = \"identity\" }")
            .unwrap();
    assert_eq!((cfg.num_layers, cfg.bidirectional, cfg.forget_bias), (1, false, Some(1.0)));
}

/// W2 of DESIGN.md: LSTM(32 -> 128), T = 100, batch 32, f32, forward + backward with the
/// gradient of the last step only (a readout of the last hidden state), on one and two threads,
/// with and without dL/dx (PyTorch's W2 needs none: its input is data).
/// `cargo test --release --test rnn bench -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_lstm_w2() {
    let cfg = RnnConfig::new(CellKind::Lstm, 32, 128);
    let mut m: Rnn<f32> = Rnn::new(&cfg, &mut rng(1));
    let mut r = rng(2);
    let (time, batch) = (100, 32);
    let x = Seq::from_mat(time, batch, Mat::from_fn(time * batch, 32, |_, _| r.random_range(-1.0f32..1.0)));
    let mut dy = Seq::zeros(time, batch, 128);
    dy.step_mut(time - 1).iter_mut().for_each(|v| *v = r.random_range(-1.0f32..1.0));
    for (threads, input_grad) in [(1, true), (1, false), (2, true), (2, false)] {
        m.threads = threads;
        m.input_grad = input_grad;
        let mut times = Vec::new();
        for i in 0..110 {
            let t0 = std::time::Instant::now();
            let mut ps: ParamList<f32> = Vec::new();
            m.params("", &mut ps);
            ps.into_iter().for_each(|(_, p)| p.zero_grad());
            m.forward(&x, &Ctx::TRAIN);
            m.backward(&dy);
            if i >= 10 {
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!(
            "LSTM 32->128 T=100 B=32 f32, {threads} thread(s), input grad {input_grad}: median {:.2} ms, min {:.2} ms",
            times[times.len() / 2],
            times[0],
        );
    }
}
