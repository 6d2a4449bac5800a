//! The temporal-depth probe on models whose answer is known: a linear recurrence with
//! W_hh = a I (mass falls as a^lag exactly), a TCN (no mass beyond its receptive field); the
//! input gradient it rests on against finite differences; and every kind of sequence model, with
//! either readout, without panicking.

use depthlab::data::seq::SeqSplit;
use depthlab::data::seqtasks::{adding_split, copy_split};
use depthlab::nn::ModelConfig;
use depthlab::probe::temporal::{input_gradient, temporal, TemporalOptions};
use depthlab::probe::{ProbeKind, ProbeOptions};
use depthlab::seq::batch::{make_batch, SeqBatch};
use depthlab::seq::build::build_seq_model;
use depthlab::seq::model::SeqModel;
use depthlab::tensor::Real;

fn model<F: Real>(toml_text: &str, split: &SeqSplit) -> SeqModel<F> {
    let cfg: ModelConfig = toml::from_str(toml_text).unwrap();
    build_seq_model::<F>(&cfg, split, None, 3).unwrap()
}

fn batches<F: Real>(split: &SeqSplit, n: usize, size: usize) -> Vec<SeqBatch<F>> {
    (0..n).map(|k| make_batch(&split.train, &(k * size..(k + 1) * size).collect::<Vec<_>>())).collect()
}

#[test]
fn input_gradient_matches_finite_differences() {
    let split = adding_split(7, 8, 2, 5);
    for arch in ["rnn_tanh", "lstm", "gru", "tcn", "attention"] {
        let mut m = model::<f64>(&format!("arch = \"{arch}\"\ndepth = 2\nwidth = 5"), &split);
        let b: SeqBatch<f64> = make_batch(&split.train, &[0, 1, 2]);
        let depthlab::seq::batch::BatchInputs::Real(x) = &b.inputs else { panic!("adding has real inputs") };
        let x = x.clone();
        m.zero_grad();
        let out = m.forward(&b, &depthlab::nn::Ctx::TRAIN);
        let depthlab::seq::batch::BatchTargets::LastValue(y) = &b.targets else { panic!("adding has values") };
        let l = depthlab::nn::loss::mse(&out, y);
        let dx = input_gradient(&mut m, &l.grad, b.time, b.batch);
        // The parameter gradients are those of the training backward.
        let ours: Vec<Vec<f64>> = m.params().into_iter().map(|(_, p)| p.grad.data.clone()).collect();
        m.zero_grad();
        m.forward_backward(&b);
        for ((name, p), g) in m.params().into_iter().zip(&ours) {
            let d: f64 = p.grad.data.iter().zip(g).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(d < 1e-12, "{arch} {name}: parameter gradients differ by {d}");
        }
        let loss_at = |m: &mut SeqModel<f64>, v: &depthlab::seq::Seq<f64>| {
            let bb = SeqBatch::new(
                b.time,
                b.batch,
                depthlab::seq::batch::BatchInputs::Real(v.clone()),
                depthlab::seq::batch::BatchTargets::LastValue(y.clone()),
            );
            m.evaluate(&bb).loss
        };
        for i in (0..x.data.data.len()).step_by(3) {
            let (mut p, mut q) = (x.clone(), x.clone());
            p.data.data[i] += 1e-6;
            q.data.data[i] -= 1e-6;
            let num = (loss_at(&mut m, &p) - loss_at(&mut m, &q)) / 2e-6;
            let a = dx.data.data[i];
            assert!((a - num).abs() <= 1e-6 * (1.0 + num.abs()), "{arch}: input {i}: {a} vs {num}");
        }
    }
}

#[test]
fn embedding_inputs_get_the_gradient_the_embedding_scatters() {
    let split = copy_split(4, 6, 2, 2);
    let mut m = model::<f64>("arch = \"gru\"\ndepth = 1\nwidth = 6\nembed_dim = 3", &split);
    let b: SeqBatch<f64> = make_batch(&split.train, &[0, 1, 2, 3]);
    m.zero_grad();
    let out = m.forward(&b, &depthlab::nn::Ctx::TRAIN);
    let depthlab::seq::batch::BatchTargets::EachClass(labels) = &b.targets else { panic!("copy has per-step labels") };
    let dx = input_gradient(&mut m, &depthlab::nn::loss::softmax_cross_entropy(&out, labels).grad, b.time, b.batch);
    let depthlab::seq::batch::BatchInputs::Tokens(ids) = &b.inputs else { panic!("copy has tokens") };
    let mut scattered = vec![0.0; 10 * 3];
    for (r, &id) in ids.iter().enumerate() {
        for c in 0..3 {
            scattered[id as usize * 3 + c] += dx.data.data[r * 3 + c];
        }
    }
    m.zero_grad();
    m.forward_backward(&b);
    let e = &m.embed.as_ref().unwrap().weight.grad.data;
    let d: f64 = e.iter().zip(&scattered).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(d < 1e-12, "embedding gradient differs by {d}");
}

/// A ReLU RNN with W_hh = a I, zero biases and non-negative input weights on non-negative inputs
/// never leaves the linear region: dL/dx_{T-1-lag} = a^lag W_ih^T dL/dh_{T-1} for every sequence.
#[test]
fn a_linear_recurrence_loses_a_factor_a_per_step() {
    let split = adding_split(30, 64, 4, 7);
    for a in [0.5, 0.8, 1.0] {
        let mut m =
            model::<f64>("arch = \"rnn_relu\"\ndepth = 1\nwidth = 4\nhh_init = { kind = \"identity\" }", &split);
        for (name, p) in m.params() {
            match name.as_str() {
                "rnn.weight_hh_l0" => p.value.data.iter_mut().for_each(|w| *w *= a),
                "rnn.weight_ih_l0" => p.value.data.iter_mut().for_each(|w| *w = w.abs() + 0.01),
                _ => {}
            }
        }
        let t = temporal(&mut m, &batches(&split, 2, 32), &TemporalOptions::default()).unwrap();
        assert_eq!(t.readout, "last");
        assert_eq!(t.norm_by_lag.len(), 30);
        for (lag, v) in t.norm_by_lag.iter().enumerate() {
            let want = t.norm_by_lag[0] * f64::powi(a, lag as i32);
            assert!((v - want).abs() <= 1e-9 * want, "a = {a}, lag {lag}: {v} vs {want}");
        }
        assert!((t.slope_per_step - f64::ln(a)).abs() < 1e-9, "a = {a}: slope {}", t.slope_per_step);
        assert!((t.mass.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        if a == 0.5 {
            // 1 - 0.5^3 = 0.875 < 0.9 <= 1 - 0.5^4 (less the tail beyond lag 29).
            assert_eq!(t.effective_depth, Some(4));
        }
        if a == 1.0 {
            // Equal mass at every lag: 27 of 30 lags hold 90%.
            assert_eq!(t.effective_depth, Some(27));
        }
    }
}

#[test]
fn a_tcn_has_no_mass_beyond_its_receptive_field() {
    // Two levels, kernel 2, dilations 1 and 2: 1 + 2 (2 - 1) (1 + 2) = 7 steps.
    let split = adding_split(20, 32, 4, 3);
    let mut m = model::<f32>("arch = \"tcn\"\ndepth = 2\nwidth = 6\nkernel_size = 2", &split);
    let t = temporal(&mut m, &batches(&split, 2, 16), &TemporalOptions::default()).unwrap();
    assert_eq!(t.receptive_field, Some(7));
    assert!(t.norm_by_lag[7..].iter().all(|v| *v == 0.0), "{:?}", t.norm_by_lag);
    assert!(t.norm_by_lag[..7].iter().all(|v| *v > 0.0), "{:?}", t.norm_by_lag);
    assert_eq!(t.mass_beyond_receptive_field, Some(0.0));
    assert!(t.effective_depth.unwrap() <= 7);
    // Per-step readouts too: every loss step's gradient stays within 7 steps of it.
    let split = copy_split(5, 32, 4, 3);
    let mut m = model::<f32>("arch = \"tcn\"\ndepth = 2\nwidth = 6\nkernel_size = 2", &split);
    let t = temporal(&mut m, &batches(&split, 1, 16), &TemporalOptions { loss_steps: 4, fraction: 0.9 }).unwrap();
    assert_eq!((t.readout.as_str(), t.input.as_str(), t.loss_steps), ("each", "embedding", 4));
    assert!(t.norm_by_lag[7..].iter().all(|v| *v == 0.0), "{:?}", t.norm_by_lag);
    assert_eq!(t.future_fraction, 0.0);
}

#[test]
fn every_sequence_model_with_either_readout() {
    let adding = adding_split(12, 16, 4, 1);
    let copy = copy_split(3, 16, 4, 1);
    for arch in ["rnn_tanh", "rnn_relu", "lstm", "gru", "tcn", "attention"] {
        for (split, readout) in [(&adding, "last"), (&copy, "each")] {
            let mut m = model::<f32>(&format!("arch = \"{arch}\"\ndepth = 2\nwidth = 8"), split);
            let t = temporal(&mut m, &batches(split, 2, 8), &TemporalOptions::default()).unwrap();
            assert_eq!(t.readout, readout, "{arch}");
            assert!((t.mass.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{arch} {readout}: {:?}", t.mass);
            let d = t.effective_depth.unwrap();
            assert!(d >= 1 && d <= t.time, "{arch} {readout}: depth {d}");
            assert_eq!(t.future_fraction, 0.0, "{arch} {readout}: a causal model sees no future");
            assert!(m.params().iter().all(|(_, p)| p.grad.data.iter().all(|g| *g == 0.0)), "gradients left behind");
        }
    }
    // A bidirectional recurrence reads the future: that share is reported, not counted as lags.
    let mut m = model::<f32>("arch = \"lstm\"\ndepth = 1\nwidth = 8\nbidirectional = true", &copy);
    let t = temporal(&mut m, &batches(&copy, 1, 8), &TemporalOptions::default()).unwrap();
    assert!(t.future_fraction > 0.0 && (t.mass.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

#[test]
fn the_probe_command_writes_json_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gru.toml");
    std::fs::write(
        &cfg,
        "seed = 1\n[data]\nname = \"adding\"\nt = 16\ntrain = 64\ntest = 16\n[model]\narch = \"gru\"\ndepth = 1\nwidth = 8\n[optim]\nlr = 0.01\noptimizer = { kind = \"adam\" }\n[train]\nepochs = 1\nbatch_size = 16\n",
    )
    .unwrap();
    let out = dir.path().join("probes");
    let opts = ProbeOptions { what: vec![ProbeKind::Temporal], out: Some(out.clone()), ..Default::default() };
    depthlab::probe::run(&cfg, &opts).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("temporal.json")).unwrap()).unwrap();
    assert_eq!(v["probe"], "temporal");
    assert_eq!(v["mass"].as_array().unwrap().len(), 16);
    assert_eq!(v["batches"], 4);
    for f in ["temporal.svg", "temporal_cumulative.svg"] {
        assert!(std::fs::read_to_string(out.join(f)).unwrap().contains("<svg"), "{f}");
    }
    let ff: ModelConfig = toml::from_str("arch = \"residual\"\ndepth = 2\nwidth = 8").unwrap();
    assert!(ProbeKind::Temporal.applies(&ff).unwrap_err().contains("sequence models"));
    assert_eq!(ProbeKind::parse("temporal"), Ok(ProbeKind::Temporal));
}
