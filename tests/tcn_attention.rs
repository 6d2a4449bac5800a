//! Temporal convolution nets and causal self-attention: finite-difference gradients, causality,
//! the TCN's receptive field, hand-computed examples, loop-level references of the PyTorch
//! definitions, and f32 / f64 agreement.

use depthlab::nn::{Ctx, ParamList};
use depthlab::seq::attention::{AttentionConfig, CausalSelfAttention, PosEncoding};
use depthlab::seq::gradcheck::check_seq_block;
use depthlab::seq::tcn::{ConvInit, Tcn, TcnConfig};
use depthlab::seq::{Seq, SeqBlock};
use depthlab::tensor::Mat;
use rand::{rngs::StdRng, Rng, SeedableRng};

const TOL: f64 = 1e-6;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn random_seq(time: usize, batch: usize, dim: usize, seed: u64) -> Seq<f64> {
    let mut r = rng(seed);
    Seq::from_mat(time, batch, Mat::from_fn(time * batch, dim, |_, _| r.random_range(-1.0..1.0)))
}

fn check(block: &mut dyn SeqBlock<f64>, time: usize, batch: usize, what: &str) {
    let x = random_seq(time, batch, block.in_dim(), 17);
    let report = check_seq_block(block, &x, 60, 5);
    for (name, err) in &report {
        assert!(*err < TOL, "{what}: {name} relative error {err:.2e}; all {report:?}");
    }
}

/// Overwrite a parameter's values by name.
fn set(block: &mut dyn SeqBlock<f64>, name: &str, values: &[f64]) {
    let mut ps: ParamList<f64> = Vec::new();
    block.params("", &mut ps);
    let p = ps.into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no parameter {name}")).1;
    assert_eq!(p.value.len(), values.len(), "{name}");
    p.value.data.copy_from_slice(values);
}

fn param_names(block: &mut dyn SeqBlock<f64>) -> Vec<(String, Vec<usize>)> {
    let mut ps: ParamList<f64> = Vec::new();
    block.params("", &mut ps);
    ps.into_iter().map(|(n, p)| (n, p.shape.clone())).collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    let d = max_diff(got, want);
    assert!(d < tol, "{what}: max |diff| {d:.2e}\n got  {got:?}\n want {want:?}");
}

// ---------------------------------------------------------------------------------------------
// TCN

fn tcn_configs() -> Vec<(TcnConfig, &'static str)> {
    let mut out = Vec::new();
    for k in [2, 3] {
        for dilated in [true, false] {
            out.push((TcnConfig::new(3, vec![3, 3, 3], k).dilated(dilated), "same widths, no downsample"));
            out.push((TcnConfig::new(2, vec![4, 3, 3], k).dilated(dilated), "downsample at levels 0, 1"));
        }
    }
    out
}

#[test]
fn tcn_gradients() {
    for (i, (cfg, what)) in tcn_configs().into_iter().enumerate() {
        for init in [ConvInit::PyTorch, ConvInit::Gaussian { std: 0.3 }] {
            let mut tcn = Tcn::<f64>::new(&cfg.clone().init(init), &mut rng(i as u64));
            let label = format!("tcn k={} dilated={} {what} {init:?}", cfg.kernel, cfg.dilated);
            check(&mut tcn, 6 + i % 4, 2 + i % 2, &label);
        }
    }
}

#[test]
fn tcn_parameter_names_and_shapes_follow_pytorch() {
    let mut tcn = Tcn::<f64>::new(&TcnConfig::new(2, vec![4, 4, 3], 3), &mut rng(1));
    let names = param_names(&mut tcn);
    let want: Vec<(String, Vec<usize>)> = [
        ("levels.0.conv1.weight", vec![4, 2, 3]),
        ("levels.0.conv1.bias", vec![4]),
        ("levels.0.conv2.weight", vec![4, 4, 3]),
        ("levels.0.conv2.bias", vec![4]),
        ("levels.0.downsample.weight", vec![4, 2, 1]),
        ("levels.0.downsample.bias", vec![4]),
        ("levels.1.conv1.weight", vec![4, 4, 3]),
        ("levels.1.conv1.bias", vec![4]),
        ("levels.1.conv2.weight", vec![4, 4, 3]),
        ("levels.1.conv2.bias", vec![4]),
        ("levels.2.conv1.weight", vec![3, 4, 3]),
        ("levels.2.conv1.bias", vec![3]),
        ("levels.2.conv2.weight", vec![3, 3, 3]),
        ("levels.2.conv2.bias", vec![3]),
        ("levels.2.downsample.weight", vec![3, 4, 1]),
        ("levels.2.downsample.bias", vec![3]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(names, want);
    assert_eq!((tcn.in_dim(), tcn.out_dim(), tcn.kind()), (2, 3, "tcn"));
}

#[test]
fn tcn_init_bounds() {
    let tcn = Tcn::<f64>::new(&TcnConfig::new(5, vec![8], 3), &mut rng(2));
    let w = &tcn.levels[0].conv1.weight.value;
    let bound = 1.0 / (15.0f64).sqrt();
    assert!(w.data.iter().all(|v| v.abs() <= bound));
    assert!(w.data.iter().any(|v| v.abs() > 0.8 * bound));
    let b = &tcn.levels[0].conv1.bias.value;
    assert!(b.data.iter().all(|v| v.abs() <= bound));
    let big = Tcn::<f64>::new(&TcnConfig::new(20, vec![50], 5).init(ConvInit::BAI), &mut rng(3));
    let w = &big.levels[0].conv1.weight.value;
    let std = (w.sum_sq() / w.len() as f64).sqrt();
    assert!((std - 0.01).abs() < 0.0005, "Gaussian init std {std}");
}

/// Batch-major loop reference of PyTorch's definition: Conv1d(padding=(k-1)d, dilation=d),
/// chomp, relu, residual.
fn tcn_reference(tcn: &Tcn<f64>, x: &Seq<f64>) -> Seq<f64> {
    let conv = |c: &depthlab::seq::tcn::CausalConv1d<f64>, x: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        let (cin, cout, k, d) = (c.in_ch(), c.out_ch(), c.kernel(), c.dilation);
        let w = |o: usize, i: usize, j: usize| c.weight.value.data[(o * cin + i) * k + j];
        (0..x.len())
            .map(|t| {
                (0..cout)
                    .map(|o| {
                        let mut acc = c.bias.value.data[o];
                        for j in 0..k {
                            let lag = (k - 1 - j) * d;
                            if t >= lag {
                                acc += (0..cin).map(|i| w(o, i, j) * x[t - lag][i]).sum::<f64>();
                            }
                        }
                        acc
                    })
                    .collect()
            })
            .collect()
    };
    let relu = |v: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        v.into_iter().map(|r| r.into_iter().map(|a| a.max(0.0)).collect()).collect()
    };
    let mut out = Seq::zeros(x.time, x.batch, tcn.out_dim());
    for b in 0..x.batch {
        let mut h: Vec<Vec<f64>> = (0..x.time).map(|t| x.step_row(t, b).to_vec()).collect();
        for level in &tcn.levels {
            let h2 = relu(conv(&level.conv2, &relu(conv(&level.conv1, &h))));
            let skip = match &level.downsample {
                Some(ds) => conv(ds, &h),
                None => h.clone(),
            };
            h = relu(h2.iter().zip(&skip).map(|(a, s)| a.iter().zip(s).map(|(a, s)| a + s).collect()).collect());
        }
        for (t, row) in h.iter().enumerate() {
            out.step_row_mut(t, b).copy_from_slice(row);
        }
    }
    out
}

#[test]
fn tcn_matches_loop_reference() {
    for (i, (cfg, what)) in tcn_configs().into_iter().enumerate() {
        let mut tcn = Tcn::<f64>::new(&cfg.clone().init(ConvInit::Gaussian { std: 0.5 }), &mut rng(40 + i as u64));
        let x = random_seq(9, 3, cfg.input, 41);
        let y = tcn.forward(&x, &Ctx::TRAIN);
        let want = tcn_reference(&tcn, &x);
        assert_close(
            &y.data.data,
            &want.data.data,
            1e-12,
            &format!("tcn k={} dilated={} {what}", cfg.kernel, cfg.dilated),
        );
        assert!(y.data.data.iter().filter(|v| **v > 0.0).count() > y.data.len() / 4, "mostly dead output");
    }
}

/// One level, 1 channel, k = 2: conv1 w = [0.5, 1] (tap 0 on x_{t-1}, tap 1 on x_t), b = 0.1;
/// conv2 w = [-1, 2], b = -0.5; x = [1, 2, -1, 3].
///   h1 = relu(0.5 x_{t-1} + x_t + 0.1)      = [1.1, 2.6, 0.1, 2.6]
///   h2 = relu(-h1_{t-1} + 2 h1_t - 0.5)     = [1.7, 3.6, 0 (-2.9), 4.6]
///   y  = relu(h2 + x)                       = [2.7, 5.6, 0 (-1), 7.6]
/// A second level (conv1 w = [1, -0.5], b = 0; conv2 w = [0.5, 1], b = 0.2) on z = y:
///   dilation 2: h1 = relu(z_{t-2} - 0.5 z_t) = [0, 0, 2.7, 1.8]; h2 = [0.2, 0.2, 2.9, 2.0];
///               y = [2.9, 5.8, 2.9, 9.6]
///   dilation 1: h1 = relu(z_{t-1} - 0.5 z_t) = [0, 0 (-0.1), 5.6, 0]; h2 = [0.2, 0.2, 5.8, 3.0];
///               y = [2.9, 5.8, 5.8, 10.6]
#[test]
fn tcn_hand_computed() {
    let x = Seq::from_mat(4, 1, Mat::from_vec(4, 1, vec![1.0, 2.0, -1.0, 3.0]));
    let mut one = Tcn::<f64>::new(&TcnConfig::new(1, vec![1], 2), &mut rng(0));
    set(&mut one, "levels.0.conv1.weight", &[0.5, 1.0]);
    set(&mut one, "levels.0.conv1.bias", &[0.1]);
    set(&mut one, "levels.0.conv2.weight", &[-1.0, 2.0]);
    set(&mut one, "levels.0.conv2.bias", &[-0.5]);
    assert_close(&one.forward(&x, &Ctx::TRAIN).data.data, &[2.7, 5.6, 0.0, 7.6], 1e-12, "one level");
    assert_eq!(one.receptive_field(), Some(3));
    for (dilated, want, rf) in [(true, [2.9, 5.8, 2.9, 9.6], 7), (false, [2.9, 5.8, 5.8, 10.6], 5)] {
        let mut two = Tcn::<f64>::new(&TcnConfig::new(1, vec![1, 1], 2).dilated(dilated), &mut rng(0));
        set(&mut two, "levels.0.conv1.weight", &[0.5, 1.0]);
        set(&mut two, "levels.0.conv1.bias", &[0.1]);
        set(&mut two, "levels.0.conv2.weight", &[-1.0, 2.0]);
        set(&mut two, "levels.0.conv2.bias", &[-0.5]);
        set(&mut two, "levels.1.conv1.weight", &[1.0, -0.5]);
        set(&mut two, "levels.1.conv1.bias", &[0.0]);
        set(&mut two, "levels.1.conv2.weight", &[0.5, 1.0]);
        set(&mut two, "levels.1.conv2.bias", &[0.2]);
        assert_close(&two.forward(&x, &Ctx::TRAIN).data.data, &want, 1e-12, &format!("two levels, dilated {dilated}"));
        assert_eq!(two.receptive_field(), Some(rf));
    }
}

/// Steps t whose output (any sequence, any channel) changes when input step `s` of sequence 0
/// is nudged.
fn changed_steps(block: &mut dyn SeqBlock<f64>, x: &Seq<f64>, s: usize, delta: f64) -> Vec<usize> {
    let y = block.forward(x, &Ctx::EVAL);
    let mut xp = x.clone();
    xp.step_row_mut(s, 0).iter_mut().for_each(|v| *v += delta);
    let yp = block.forward(&xp, &Ctx::EVAL);
    (0..x.time).filter(|&t| max_diff(y.step(t), yp.step(t)) > 0.0).collect()
}

/// Inputs after step t change, outputs up to t do not (exactly); later outputs do.
fn assert_causal(block: &mut dyn SeqBlock<f64>, time: usize, batch: usize, what: &str) {
    let x = random_seq(time, batch, block.in_dim(), 3);
    let y = block.forward(&x, &Ctx::EVAL);
    let mut r = rng(4);
    for t in 0..time {
        let mut xp = x.clone();
        for u in t + 1..time {
            xp.step_mut(u).iter_mut().for_each(|v| *v = r.random_range(-2.0..2.0));
        }
        let yp = block.forward(&xp, &Ctx::EVAL);
        for u in 0..=t {
            assert_eq!(y.step(u), yp.step(u), "{what}: output {u} changed with inputs after {t}");
        }
        if t + 1 < time {
            let later = (t + 1..time).map(|u| max_diff(y.step(u), yp.step(u))).fold(0.0, f64::max);
            assert!(later > 0.0, "{what}: no output after {t} sees the inputs after {t}");
        }
    }
}

#[test]
fn tcn_is_causal() {
    for (i, (cfg, what)) in tcn_configs().into_iter().enumerate() {
        // Larger weights than PyTorch's keep most relus alive, so the test is not vacuous.
        let mut tcn = Tcn::<f64>::new(&cfg.init(ConvInit::Gaussian { std: 0.5 }), &mut rng(60 + i as u64));
        assert_causal(&mut tcn, 9, 2, what);
    }
}

/// Make every pre-activation positive (weights |w|, biases |b| + 0.1, positive inputs), so all
/// relus pass and no dependency can be hidden by a dead unit: the measured field is then the
/// true one.
fn all_positive(tcn: &mut Tcn<f64>) {
    let mut ps: ParamList<f64> = Vec::new();
    tcn.params("", &mut ps);
    for (name, p) in ps {
        let add = if name.ends_with("bias") { 0.1 } else { 0.0 };
        p.value.data.iter_mut().for_each(|v| *v = v.abs() + add);
    }
}

#[test]
fn tcn_receptive_field_is_measured() {
    for k in [2, 3, 4] {
        for levels in 1..=4 {
            for dilated in [true, false] {
                let cfg = TcnConfig::new(2, vec![3; levels], k).dilated(dilated);
                let want = if dilated { 1 + 2 * (k - 1) * ((1 << levels) - 1) } else { 1 + 2 * (k - 1) * levels };
                let mut tcn = Tcn::<f64>::new(&cfg, &mut rng(k as u64 * 10 + levels as u64));
                assert_eq!(tcn.receptive_field(), Some(want));
                all_positive(&mut tcn);
                let time = want + 6;
                let mut x = random_seq(time, 2, 2, 9);
                x.data.data.iter_mut().for_each(|v| *v = v.abs() + 0.1);
                // Perturb x_0: the first output step that does not change is the field.
                let changed = changed_steps(&mut tcn, &x, 0, 1.0);
                let measured = (0..time).find(|t| !changed.contains(t)).unwrap();
                assert_eq!(measured, want, "k={k} L={levels} dilated={dilated}");
                // Lag dependency from any step s: y_t depends on x_s exactly for s <= t < s + field.
                for s in [1, 4] {
                    let changed = changed_steps(&mut tcn, &x, s, 1.0);
                    let expect: Vec<usize> = (s..(s + want).min(time)).collect();
                    assert_eq!(changed, expect, "k={k} L={levels} dilated={dilated} s={s}");
                }
                // With random (mixed-sign) weights the field is still an upper bound.
                let mut free = Tcn::<f64>::new(&cfg, &mut rng(99));
                let changed = changed_steps(&mut free, &random_seq(time, 2, 2, 10), 2, 1.0);
                assert!(changed.iter().all(|&t| (2..2 + want).contains(&t)), "{changed:?}");
            }
        }
    }
}

#[test]
fn tcn_taps_name_every_level_and_step() {
    let mut tcn = Tcn::<f64>::new(&TcnConfig::new(2, vec![3, 4], 2), &mut rng(5));
    let x = random_seq(5, 2, 2, 6);
    tcn.set_taps(true);
    let y = tcn.forward(&x, &Ctx::TRAIN);
    tcn.backward(&y);
    let mut taps = Vec::new();
    tcn.taps("act.tcn", &mut taps);
    assert_eq!(taps.len(), 10);
    assert_eq!(taps[0].0, "act.tcn.l0.h.0");
    assert_eq!(taps[9].0, "act.tcn.l1.h.4");
    assert_eq!(taps[0].1.shape(), (2, 3));
    // The last level's tap is dL/dy itself.
    assert_eq!(taps[9].1.data, y.step(4));
}

// ---------------------------------------------------------------------------------------------
// Attention

fn attention_configs() -> Vec<AttentionConfig> {
    let mut out = Vec::new();
    for heads in [1, 2] {
        for pos in [PosEncoding::None, PosEncoding::Sinusoidal, PosEncoding::Learned { max_len: 10 }] {
            for residual in [false, true] {
                out.push(AttentionConfig::new(4, heads).pos(pos).residual(residual));
            }
        }
    }
    out
}

fn randomise_biases(block: &mut dyn SeqBlock<f64>, seed: u64) {
    let mut r = rng(seed);
    let mut ps: ParamList<f64> = Vec::new();
    block.params("", &mut ps);
    for (name, p) in ps {
        if name.ends_with("bias") {
            p.value.data.iter_mut().for_each(|v| *v = r.random_range(-0.5..0.5));
        }
    }
}

#[test]
fn attention_gradients() {
    for (i, cfg) in attention_configs().into_iter().enumerate() {
        let mut a = CausalSelfAttention::<f64>::new(&cfg, &mut rng(i as u64));
        // PyTorch zeroes the biases; random ones test their gradients better.
        randomise_biases(&mut a, 100 + i as u64);
        check(&mut a, 6 + i % 4, 2 + i % 2, &format!("{cfg:?}"));
    }
}

#[test]
fn attention_parameter_names_and_shapes_follow_pytorch() {
    let cfg = AttentionConfig::new(6, 3).pos(PosEncoding::Learned { max_len: 12 });
    let mut a = CausalSelfAttention::<f64>::new(&cfg, &mut rng(1));
    let names = param_names(&mut a);
    let want: Vec<(String, Vec<usize>)> = [
        ("in_proj_weight", vec![18, 6]),
        ("in_proj_bias", vec![18]),
        ("out_proj.weight", vec![6, 6]),
        ("out_proj.bias", vec![6]),
        ("pos.weight", vec![12, 6]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(names, want);
    let mut plain = CausalSelfAttention::<f64>::new(&AttentionConfig::new(6, 2), &mut rng(1));
    assert_eq!(param_names(&mut plain).len(), 4);
    assert_eq!(plain.receptive_field(), None);
    assert_eq!(plain.kind(), "attention");
}

/// Loop reference of nn.MultiheadAttention with a causal mask, with the encoding computed from
/// the documented formula.
#[allow(clippy::needless_range_loop)]
fn attention_reference(a: &CausalSelfAttention<f64>, x: &Seq<f64>) -> (Seq<f64>, Vec<f64>) {
    let (e, nh) = (a.config.dim, a.config.heads);
    let hd = e / nh;
    let (tl, bl) = (x.time, x.batch);
    let pe = |t: usize, c: usize| -> f64 {
        match a.config.pos {
            PosEncoding::None => 0.0,
            PosEncoding::Sinusoidal => {
                let w = 10000f64.powf(-((c / 2 * 2) as f64) / e as f64);
                if c.is_multiple_of(2) {
                    (t as f64 * w).sin()
                } else {
                    (t as f64 * w).cos()
                }
            }
            PosEncoding::Learned { .. } => a.pos_weight.as_ref().unwrap().value.at(t, c),
        }
    };
    let w_in = &a.in_proj_weight.value;
    let b_in = &a.in_proj_bias.value.data;
    let mut y = Seq::zeros(tl, bl, e);
    let mut weights = vec![0.0; bl * nh * tl * tl];
    for b in 0..bl {
        let u: Vec<Vec<f64>> = (0..tl).map(|t| (0..e).map(|c| x.step_row(t, b)[c] + pe(t, c)).collect()).collect();
        let proj = |t: usize, r: usize| b_in[r] + (0..e).map(|c| w_in.at(r, c) * u[t][c]).sum::<f64>();
        let mut o = vec![vec![0.0; e]; tl];
        for h in 0..nh {
            for t in 0..tl {
                let scores: Vec<f64> = (0..=t)
                    .map(|s| {
                        (0..hd).map(|i| proj(t, h * hd + i) * proj(s, e + h * hd + i)).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = scores.iter().map(|v| (v - m).exp()).sum();
                for s in 0..=t {
                    let p = (scores[s] - m).exp() / z;
                    weights[((b * nh + h) * tl + t) * tl + s] = p;
                    for i in 0..hd {
                        o[t][h * hd + i] += p * proj(s, 2 * e + h * hd + i);
                    }
                }
            }
        }
        for t in 0..tl {
            for c in 0..e {
                let mut v = a.out_proj_bias.value.data[c]
                    + (0..e).map(|j| a.out_proj_weight.value.at(c, j) * o[t][j]).sum::<f64>();
                if a.config.residual {
                    v += u[t][c];
                }
                y.step_row_mut(t, b)[c] = v;
            }
        }
    }
    (y, weights)
}

#[test]
fn attention_matches_loop_reference() {
    for (i, cfg) in attention_configs().into_iter().enumerate() {
        let mut a = CausalSelfAttention::<f64>::new(&cfg, &mut rng(20 + i as u64));
        randomise_biases(&mut a, 30 + i as u64);
        let x = random_seq(7, 3, 4, 21);
        let y = a.forward(&x, &Ctx::EVAL);
        let (want, weights) = attention_reference(&a, &x);
        assert_close(&y.data.data, &want.data.data, 1e-12, &format!("{cfg:?}"));
        assert_close(&a.attention_weights().data, &weights, 1e-12, &format!("weights {cfg:?}"));
        for r in 0..a.attention_weights().rows {
            let s: f64 = a.attention_weights().row(r).iter().sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
    }
}

#[test]
fn attention_is_causal() {
    for cfg in attention_configs() {
        let mut a = CausalSelfAttention::<f64>::new(&cfg, &mut rng(7));
        assert_causal(&mut a, 8, 3, &format!("{cfg:?}"));
    }
}

fn identity_projections(a: &mut CausalSelfAttention<f64>, out_bias: &[f64]) {
    let e = a.config.dim;
    let eye: Vec<f64> = (0..e * e).map(|i| (i / e == i % e) as u8 as f64).collect();
    let stacked: Vec<f64> = eye.iter().chain(&eye).chain(&eye).copied().collect();
    set(a, "in_proj_weight", &stacked);
    set(a, "in_proj_bias", &vec![0.0; 3 * e]);
    set(a, "out_proj.weight", &eye);
    set(a, "out_proj.bias", out_bias);
}

/// Identity projections (Q = K = V = u), E = 2.
/// One head, x = [1, 0], [0, 1], out bias [0.1, -0.2], scale 1/sqrt(2):
///   y_0 = v_0 + b = [1.1, -0.2]
///   t = 1: scores [0, 1/sqrt 2] -> A = [1, e^{1/sqrt 2}] / (1 + e^{1/sqrt 2})
///          = [0.3302384506733431, 0.6697615493266569]; y_1 = A V + b = [0.43023.., 0.46976..]
/// Two heads (head_dim 1, scale 1), residual on, x = [1, 0], [0, 1], [1, 1], no bias:
///   head 0 sees q = k = v = [1, 0, 1]: o = [1, (1 + 0)/2, (e + 0 + e)/(2e + 1)]
///   head 1 sees q = k = v = [0, 1, 1]: o = [0, e/(1 + e), 2e/(1 + 2e)]
///   y = x + o.
#[test]
fn attention_hand_computed() {
    let e1 = std::f64::consts::E;
    let mut one = CausalSelfAttention::<f64>::new(&AttentionConfig::new(2, 1), &mut rng(0));
    identity_projections(&mut one, &[0.1, -0.2]);
    let x = Seq::from_mat(2, 1, Mat::from_vec(2, 2, vec![1.0, 0.0, 0.0, 1.0]));
    let y = one.forward(&x, &Ctx::EVAL);
    assert_close(&y.data.data, &[1.1, -0.2, 0.4302384506733431, 0.4697615493266569], 1e-15, "one head");
    assert_close(one.attention_weights().row(1), &[0.3302384506733431, 0.6697615493266569], 1e-15, "one head, weights");
    assert_eq!(one.attention_weights().row(0), &[1.0, 0.0]);

    let mut two = CausalSelfAttention::<f64>::new(&AttentionConfig::new(2, 2).residual(true), &mut rng(0));
    identity_projections(&mut two, &[0.0, 0.0]);
    let x = Seq::from_mat(3, 1, Mat::from_vec(3, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]));
    let y = two.forward(&x, &Ctx::EVAL);
    let want = [2.0, 0.0, 0.5, 1.731_058_578_630_005, 1.8446375965030364, 1.8446375965030364];
    assert_close(&y.data.data, &want, 1e-15, "two heads, residual");
    assert!((2.0 * e1 / (2.0 * e1 + 1.0) - 0.8446375965030364).abs() < 1e-15);
    // Head 1, query 2: keys [0, 1, 1] -> [1, e, e] / (1 + 2e).
    let z = 1.0 + 2.0 * e1;
    for (s, w) in [1.0 / z, e1 / z, e1 / z].into_iter().enumerate() {
        assert!((two.attention_weight(0, 1, 2, s) - w).abs() < 1e-15);
    }
    assert_eq!(two.attention_weight(0, 0, 1, 0), 0.5);
}

/// E = 4: w_0 = 1, w_1 = 10000^(-2/4) = 0.01.
#[test]
fn sinusoidal_encoding_values() {
    let p: Mat<f64> = depthlab::seq::attention::sinusoidal_encoding(3, 4);
    let want = [
        [0.0, 1.0, 0.0, 1.0],
        [1f64.sin(), 1f64.cos(), 0.01f64.sin(), 0.01f64.cos()],
        [2f64.sin(), 2f64.cos(), 0.02f64.sin(), 0.02f64.cos()],
    ];
    for (t, row) in want.iter().enumerate() {
        assert_close(p.row(t), row, 1e-15, &format!("step {t}"));
    }
    // An odd width ends with a sine column: E = 3, column 2 has w_1 = 10000^(-2/3).
    let q: Mat<f64> = depthlab::seq::attention::sinusoidal_encoding(2, 3);
    assert!((q.at(1, 2) - (10000f64.powf(-2.0 / 3.0)).sin()).abs() < 1e-15);
    // With zero projections but the residual on, the block adds exactly the encoding.
    let mut a = CausalSelfAttention::<f64>::new(
        &AttentionConfig::new(4, 2).residual(true).pos(PosEncoding::Sinusoidal),
        &mut rng(0),
    );
    set(&mut a, "out_proj.weight", &[0.0; 16]);
    let x = random_seq(3, 2, 4, 1);
    let y = a.forward(&x, &Ctx::EVAL);
    for t in 0..3 {
        for b in 0..2 {
            let want: Vec<f64> = x.step_row(t, b).iter().zip(p.row(t)).map(|(x, p)| x + p).collect();
            assert_close(y.step_row(t, b), &want, 1e-15, "x + P");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// f32 against f64

fn agree<B32: SeqBlock<f32>, B64: SeqBlock<f64>>(mut b32: B32, mut b64: B64, time: usize, batch: usize, what: &str) {
    let x = random_seq(time, batch, b64.in_dim(), 8);
    let x32 = Seq::from_mat(time, batch, x.data.cast::<f32>());
    let y64 = b64.forward(&x, &Ctx::EVAL);
    let y32 = b32.forward(&x32, &Ctx::EVAL);
    let scale = y64.data.data.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let d = max_diff(&y32.data.cast::<f64>().data, &y64.data.data);
    assert!(d < 1e-5 * scale, "{what}: f32 and f64 differ by {d:.2e} (scale {scale:.2})");
    // The backward agrees as well.
    let dx64 = b64.backward(&y64);
    let dx32 = b32.backward(&y32);
    let gscale = dx64.data.data.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let d = max_diff(&dx32.data.cast::<f64>().data, &dx64.data.data);
    assert!(d < 1e-4 * gscale, "{what}: backward differs by {d:.2e} (scale {gscale:.2})");
}

fn tcn_pair(cfg: &TcnConfig) -> (Tcn<f32>, Tcn<f64>) {
    (Tcn::new(cfg, &mut rng(11)), Tcn::new(cfg, &mut rng(11)))
}

#[test]
fn f32_agrees_with_f64() {
    for (cfg, what) in tcn_configs() {
        let (a, b) = tcn_pair(&cfg);
        agree(a, b, 20, 4, what);
    }
    for cfg in attention_configs() {
        let a = CausalSelfAttention::<f32>::new(&cfg, &mut rng(12));
        let b = CausalSelfAttention::<f64>::new(&cfg, &mut rng(12));
        agree(a, b, 10, 3, &format!("{cfg:?}"));
    }
    let wide = AttentionConfig::new(32, 4).pos(PosEncoding::Sinusoidal).residual(true);
    agree(
        CausalSelfAttention::<f32>::new(&wide, &mut rng(13)),
        CausalSelfAttention::<f64>::new(&wide, &mut rng(13)),
        50,
        4,
        "wide",
    );
    let deep = TcnConfig::uniform(8, 16, 5, 3);
    let (a, b) = tcn_pair(&deep);
    agree(a, b, 64, 4, "deep tcn");
}

/// Long and wide enough that the convolutions cut their rows into time blocks (the threads'
/// work items): the cut forward still equals the loop reference, the cut backward agrees with
/// a directional finite difference, and 1 and 3 threads give the same bits.
#[test]
fn tcn_cut_into_time_blocks_is_exact_and_thread_independent() {
    // 3072 rows x 24 channels: the elementwise passes are shared among threads too.
    let cfg = TcnConfig::new(1, vec![24, 24], 5).init(ConvInit::Gaussian { std: 0.2 });
    let (time, batch) = (128, 24);
    let x = random_seq(time, batch, 1, 61);
    let r = random_seq(time, batch, 24, 62);
    let run = |threads: usize| {
        let mut tcn = Tcn::<f64>::new(&cfg, &mut rng(60));
        assert!(tcn.levels[1].conv2.time_blocks(time, batch) > 1, "the shape is not cut");
        assert_eq!(tcn.levels[0].conv1.time_blocks(time, batch), 1, "a narrow input is one block");
        tcn.set_threads(threads);
        let y = tcn.forward(&x, &Ctx::TRAIN);
        let dx = tcn.backward(&r);
        let mut ps: ParamList<f64> = Vec::new();
        tcn.params("", &mut ps);
        let grads: Vec<f64> = ps.iter().flat_map(|(_, p)| p.grad.data.clone()).collect();
        drop(ps);
        (tcn, y, dx, grads)
    };
    let (mut tcn, y, dx, grads) = run(1);
    assert_close(&y.data.data, &tcn_reference(&tcn, &x).data.data, 1e-12, "cut forward");
    let (_, y3, dx3, grads3) = run(3);
    assert!(y3.data.data == y.data.data && dx3.data.data == dx.data.data && grads3 == grads, "3 threads differ from 1");

    // L = sum(y * r): along a random direction u of every parameter and of x,
    // (L(+e u) - L(-e u)) / 2e = <grad, u>.
    let loss = |tcn: &mut Tcn<f64>, x: &Seq<f64>| -> f64 {
        tcn.forward(x, &Ctx::EVAL).data.data.iter().zip(&r.data.data).map(|(a, b)| a * b).sum()
    };
    let mut gen = rng(63);
    let u: Vec<f64> = grads.iter().map(|_| gen.random_range(-1.0..1.0)).collect();
    let ux = random_seq(time, batch, 1, 64);
    let shift = |tcn: &mut Tcn<f64>, e: f64| {
        let mut ps: ParamList<f64> = Vec::new();
        tcn.params("", &mut ps);
        let mut k = 0;
        for (_, p) in ps {
            for v in p.value.data.iter_mut() {
                *v += e * u[k];
                k += 1;
            }
        }
    };
    let e = 1e-7;
    shift(&mut tcn, e);
    let plus = loss(&mut tcn, &x);
    shift(&mut tcn, -2.0 * e);
    let minus = loss(&mut tcn, &x);
    shift(&mut tcn, e);
    let want: f64 = grads.iter().zip(&u).map(|(g, u)| g * u).sum();
    let fd = (plus - minus) / (2.0 * e);
    assert!((fd - want).abs() <= 1e-6 * want.abs().max(1.0), "parameters: fd {fd} vs backward {want}");
    let moved = |s: f64| {
        let mut m = x.clone();
        m.data.data.iter_mut().zip(&ux.data.data).for_each(|(a, b)| *a += s * b);
        m
    };
    let fd = (loss(&mut tcn, &moved(e)) - loss(&mut tcn, &moved(-e))) / (2.0 * e);
    let want: f64 = dx.data.data.iter().zip(&ux.data.data).map(|(g, u)| g * u).sum();
    assert!((fd - want).abs() <= 1e-6 * want.abs().max(1.0), "input: fd {fd} vs backward {want}");
}
