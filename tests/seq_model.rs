//! Whole sequence models against central finite differences (f64): embedding, body, readout
//! and loss together, for each kind of target.

use depthlab::data::seq::IGNORE;
use depthlab::nn::{Init, Linear};
use depthlab::seq::batch::{BatchInputs, BatchTargets, SeqBatch};
use depthlab::seq::model::{Readout, SeqModel};
use depthlab::seq::per_step::PerStep;
use depthlab::seq::{
    AttentionConfig, CausalSelfAttention, CellKind, Embedding, PosEncoding, Rnn, RnnConfig, Seq, SeqBlock, Tcn,
    TcnConfig,
};
use depthlab::tensor::Mat;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn check(model: &mut SeqModel<f64>, batch: &SeqBatch<f64>) {
    model.zero_grad();
    model.forward_backward(batch);
    let analytic: Vec<(String, Vec<f64>)> = model.params().into_iter().map(|(n, p)| (n, p.grad.data.clone())).collect();
    for (pi, (name, grad)) in analytic.iter().enumerate() {
        let (mut a, mut num) = (Vec::new(), Vec::new());
        for i in (0..grad.len()).step_by(1 + grad.len() / 20) {
            let mut l = [0.0; 2];
            for (s, sign) in [1.0, -1.0].iter().enumerate() {
                model.params()[pi].1.value.data[i] += sign * 1e-6;
                l[s] = model.evaluate(batch).loss;
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
    let b = SeqBatch { time, batch, inputs: BatchInputs::Tokens(ids), targets: BatchTargets::EachClass(labels) };
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
    check(&mut m, &SeqBatch { time: 6, batch: 3, inputs: BatchInputs::Real(x), targets: BatchTargets::LastValue(y) });
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
    check(
        &mut m,
        &SeqBatch { time: 5, batch: 2, inputs: BatchInputs::Real(x), targets: BatchTargets::LastClass(vec![2, 0]) },
    );
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
    m.forward_backward(&SeqBatch {
        time: 4,
        batch: 2,
        inputs: BatchInputs::Real(x),
        targets: BatchTargets::LastValue(y),
    });
    let names: Vec<&str> = m.taps().iter().map(|(n, _)| n.as_str()).collect();
    for t in 0..4 {
        assert!(names.contains(&format!("act.rnn.l0.h.{t}").as_str()), "missing act.rnn.l0.h.{t} in {names:?}");
        assert!(names.contains(&format!("act.rnn.l0.c.{t}").as_str()), "missing act.rnn.l0.c.{t} in {names:?}");
    }
}
