//! Whole sequence models against central finite differences (f64): embedding, body, readout
//! and loss together, for each kind of target.

use depthlab::data::seq::IGNORE;
use depthlab::nn::{Init, Linear};
use depthlab::seq::batch::{BatchInputs, BatchTargets, SeqBatch};
use depthlab::seq::model::{LayerHead, Readout, SeqModel};
use depthlab::seq::per_step::PerStep;
use depthlab::seq::{
    AttentionConfig, CausalSelfAttention, CellKind, Embedding, PosEncoding, Rnn, RnnConfig, Seq, SeqBlock, Tcn,
    TcnConfig,
};
use depthlab::tensor::Mat;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// The optimised loss, forward only: main + sum_j weight_j * loss_j over the layer heads.
fn total_loss(model: &mut SeqModel<f64>, batch: &SeqBatch<f64>) -> f64 {
    let s = model.evaluate(batch);
    s.main_loss + model.heads.iter().zip(&s.heads).map(|(h, o)| h.weight * o.loss).sum::<f64>()
}

fn check(model: &mut SeqModel<f64>, batch: &SeqBatch<f64>) {
    model.zero_grad();
    let step = model.forward_backward(batch);
    assert!((step.loss - total_loss(model, batch)).abs() < 1e-12, "forward_backward and evaluate differ");
    let analytic: Vec<(String, Vec<f64>)> = model.params().into_iter().map(|(n, p)| (n, p.grad.data.clone())).collect();
    for (pi, (name, grad)) in analytic.iter().enumerate() {
        let (mut a, mut num) = (Vec::new(), Vec::new());
        for i in (0..grad.len()).step_by(1 + grad.len() / 20) {
            let mut l = [0.0; 2];
            for (s, sign) in [1.0, -1.0].iter().enumerate() {
                model.params()[pi].1.value.data[i] += sign * 1e-6;
                l[s] = total_loss(model, batch);
                model.params()[pi].1.value.data[i] -= sign * 1e-6;
            }
            a.push(grad[i]);
            num.push((l[0] - l[1]) / 2e-6);
        }
        let diff: f64 = a.iter().zip(&num).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        let scale = a.iter().chain(&num).map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        assert!(diff / scale < 1e-6, "{name}: relative error {:.2e} ({a:?} vs {num:?})", diff / scale);
    }
}

#[test]
fn tokens_gru_each_step_cross_entropy_with_ignored_steps() {
    let mut rng = StdRng::seed_from_u64(1);
    let embed = Embedding::new(7, 4, &mut rng);
    let rnn = Rnn::new(&RnnConfig::new(CellKind::Gru, 4, 5).bidirectional(true), &mut rng);
    let head = Linear::new(10, 3, &Init::Glorot, &mut rng);
    let mut m =
        SeqModel::new(Some(embed), vec![("rnn".into(), Box::new(rnn) as Box<dyn SeqBlock<f64>>)], head, Readout::Each);
    let (time, batch) = (5, 2);
    let ids: Vec<u32> = (0..time * batch).map(|_| rng.random_range(0..7)).collect();
    let mut labels: Vec<u32> = (0..time * batch).map(|_| rng.random_range(0..3)).collect();
    labels[3] = IGNORE;
    let b = SeqBatch::new(time, batch, BatchInputs::Tokens(ids), BatchTargets::EachClass(labels));
    check(&mut m, &b);
}

#[test]
fn real_inputs_tcn_last_step_mse() {
    let mut rng = StdRng::seed_from_u64(2);
    let tcn = Tcn::new(&TcnConfig::uniform(2, 4, 2, 2), &mut rng);
    let head = Linear::new(4, 1, &Init::Glorot, &mut rng);
    let mut m = SeqModel::new(None, vec![("tcn".into(), Box::new(tcn) as Box<dyn SeqBlock<f64>>)], head, Readout::Last);
    let x = Seq::from_mat(6, 3, Mat::from_fn(18, 2, |_, _| rng.random_range(-1.0..1.0)));
    let y = Mat::from_fn(3, 1, |_, _| rng.random_range(-1.0..1.0));
    check(&mut m, &SeqBatch::new(6, 3, BatchInputs::Real(x), BatchTargets::LastValue(y)));
}

#[test]
fn real_inputs_projection_attention_last_class() {
    let mut rng = StdRng::seed_from_u64(3);
    let proj = PerStep(Linear::new(2, 4, &Init::Glorot, &mut rng));
    let attn =
        CausalSelfAttention::new(&AttentionConfig::new(4, 2).residual(true).pos(PosEncoding::Sinusoidal), &mut rng);
    let head = Linear::new(4, 3, &Init::Glorot, &mut rng);
    let body: Vec<(String, Box<dyn SeqBlock<f64>>)> =
        vec![("input".into(), Box::new(proj)), ("attn.0".into(), Box::new(attn))];
    let mut m = SeqModel::new(None, body, head, Readout::Last);
    let x = Seq::from_mat(5, 2, Mat::from_fn(10, 2, |_, _| rng.random_range(-1.0..1.0)));
    check(&mut m, &SeqBatch::new(5, 2, BatchInputs::Real(x), BatchTargets::LastClass(vec![2, 0])));
}

#[test]
fn model_taps_name_every_step_of_the_recurrent_state() {
    let mut rng = StdRng::seed_from_u64(4);
    let rnn = Rnn::new(&RnnConfig::new(CellKind::Lstm, 2, 3), &mut rng);
    let head = Linear::new(3, 1, &Init::Glorot, &mut rng);
    let mut m =
        SeqModel::<f64>::new(None, vec![("rnn".into(), Box::new(rnn) as Box<dyn SeqBlock<f64>>)], head, Readout::Last);
    m.set_taps(true);
    let x = Seq::from_mat(4, 2, Mat::from_fn(8, 2, |_, _| rng.random_range(-1.0..1.0)));
    let y = Mat::from_fn(2, 1, |_, _| 0.5);
    m.forward_backward(&SeqBatch::new(4, 2, BatchInputs::Real(x), BatchTargets::LastValue(y)));
    let names: Vec<&str> = m.taps().iter().map(|(n, _)| n.as_str()).collect();
    for t in 0..4 {
        assert!(names.contains(&format!("act.rnn.l0.h.{t}").as_str()), "missing act.rnn.l0.h.{t} in {names:?}");
        assert!(names.contains(&format!("act.rnn.l0.c.{t}").as_str()), "missing act.rnn.l0.c.{t} in {names:?}");
    }
}

/// A stacked recurrent body with heads on its layers, each on its own targets.
fn with_heads(
    cell: CellKind,
    layers: usize,
    bidir: bool,
    tokens: bool,
    heads: &[(usize, f64, Option<&str>, Readout, usize)],
    rng: &mut StdRng,
) -> SeqModel<f64> {
    let (vocab, e) = (7, 4);
    let embed = tokens.then(|| Embedding::new(vocab, e, rng));
    let rnn = Rnn::new(&RnnConfig::new(cell, e, 3).layers(layers).bidirectional(bidir), rng);
    let w = rnn.out_dim();
    let main = Linear::new(w, 4, &Init::Glorot, rng);
    let hs = heads
        .iter()
        .map(|&(layer, weight, target, readout, classes)| {
            LayerHead::new(
                layer,
                weight,
                target.map(String::from),
                readout,
                Linear::new(w, classes, &Init::Glorot, rng),
            )
        })
        .collect();
    SeqModel::new(embed, vec![("rnn".into(), Box::new(rnn) as Box<dyn SeqBlock<f64>>)], main, Readout::Each)
        .with_heads(hs)
}

fn labels(n: usize, classes: u32, rng: &mut StdRng) -> Vec<u32> {
    (0..n).map(|_| rng.random_range(0..classes)).collect()
}

#[test]
fn layer_heads_on_stacked_recurrent_bodies() {
    let (time, batch) = (5, 2);
    let mut n = 0;
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
        for bidir in [false, true] {
            let mut rng = StdRng::seed_from_u64(10 + n);
            n += 1;
            // Base-like tags at the lowest layer, a per-sequence class at the middle one, the
            // main targets again at the top: three heads, three weights.
            let heads = [
                (0, 0.7, Some("base"), Readout::Each, 3),
                (1, 0.4, Some("kind"), Readout::Last, 2),
                (2, 0.3, None, Readout::Each, 4),
            ];
            let mut m = with_heads(cell, 3, bidir, true, &heads, &mut rng);
            let ids: Vec<u32> = (0..time * batch).map(|_| rng.random_range(0..7)).collect();
            let mut main = labels(time * batch, 4, &mut rng);
            main[1] = IGNORE;
            let mut base = labels(time * batch, 3, &mut rng);
            base[4] = IGNORE;
            let mut b = SeqBatch::new(time, batch, BatchInputs::Tokens(ids), BatchTargets::EachClass(main));
            b.named = vec![
                ("kind".into(), BatchTargets::LastClass(labels(batch, 2, &mut rng))),
                ("base".into(), BatchTargets::EachClass(base)),
            ];
            check(&mut m, &b);
            let s = m.evaluate(&b);
            assert_eq!(s.heads.len(), 3);
            assert_eq!((s.heads[0].count, s.heads[1].count, s.heads[2].count), (9, 2, 9));
        }
    }
}

#[test]
fn a_layer_head_on_raw_inputs_and_regression_targets() {
    let mut rng = StdRng::seed_from_u64(30);
    let rnn = Rnn::new(&RnnConfig::new(CellKind::Lstm, 2, 3).layers(2), &mut rng);
    let head = Linear::new(3, 1, &Init::Glorot, &mut rng);
    let aux = LayerHead::new(0, 0.5, Some("sum".into()), Readout::Last, Linear::new(3, 2, &Init::Glorot, &mut rng));
    let mut m = SeqModel::new(None, vec![("rnn".into(), Box::new(rnn) as Box<dyn SeqBlock<f64>>)], head, Readout::Last)
        .with_heads(vec![aux]);
    let x = Seq::from_mat(4, 3, Mat::from_fn(12, 2, |_, _| rng.random_range(-1.0..1.0)));
    let mut b = SeqBatch::new(4, 3, BatchInputs::Real(x), BatchTargets::LastValue(Mat::from_fn(3, 1, |_, _| 0.3)));
    b.named = vec![("sum".into(), BatchTargets::LastValue(Mat::from_fn(3, 2, |r, c| (r + c) as f64 * 0.2)))];
    check(&mut m, &b);
}

#[test]
fn a_head_adds_its_gradient_to_the_layer_taps() {
    // With the head's weight 0 the model's gradients and taps are the plain model's; with a
    // weight, the taps of the layer it reads and of those below change, those above do not.
    let run = |weight: f64| {
        let mut rng = StdRng::seed_from_u64(40);
        let mut m = with_heads(CellKind::Lstm, 3, false, true, &[(1, weight, None, Readout::Each, 4)], &mut rng);
        let ids: Vec<u32> = (0..8).map(|_| rng.random_range(0..7)).collect();
        let b = SeqBatch::new(4, 2, BatchInputs::Tokens(ids), BatchTargets::EachClass(labels(8, 4, &mut rng)));
        m.set_taps(true);
        m.forward_backward(&b);
        m.taps().iter().map(|(n, g)| (n.clone(), g.data.clone())).collect::<Vec<_>>()
    };
    let (off, on) = (run(0.0), run(1.0));
    assert_eq!(off.len(), on.len());
    for ((name, a), (_, b)) in off.iter().zip(&on) {
        let top = name.starts_with("act.rnn.l2.");
        assert_eq!(a == b, top, "{name}: the head on layer 1 {} it", if top { "changed" } else { "left" });
    }
}

/// Every sequence arch as a config builds it (`seq::build`), whole, against finite
/// differences: the list is `Arch::ALL`, so a new arch is checked here without being named.
#[test]
fn every_sequence_arch_built_from_its_config() {
    use depthlab::config::{load_data, Config, Data};
    use depthlab::nn::Arch;
    use depthlab::seq::batch::make_batch;
    use depthlab::seq::build::build_seq_model;
    for arch in Arch::ALL.into_iter().filter(|a| a.is_sequence()) {
        let text = format!(
            "[data]\nname = \"adding\"\nt = 6\ntrain = 4\ntest = 2\n[model]\narch = \"{}\"\ndepth = 2\nwidth = 4\n[optim]\nlr = 0.1\noptimizer = {{ kind = \"sgd\" }}\n[train]\nepochs = 1\nloss = \"mse\"\n",
            arch.name()
        );
        let cfg = Config::parse(&text, "test", &[]).unwrap();
        let Data::Seq(split) = load_data(&cfg, None).unwrap() else { panic!("adding gives sequences") };
        let mut m =
            build_seq_model::<f64>(&cfg.model, &split, None, 3).unwrap_or_else(|e| panic!("{}: {e}", arch.name()));
        let b = make_batch::<f64>(&split.train, &[0, 1, 2]);
        check(&mut m, &b);
    }
}
