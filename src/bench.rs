//! Reference workloads for `depthlab bench` (compared against PyTorch by bench/torch_ref.py;
//! the numbers live in BENCHMARKS.md).

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;

use crate::nn::{Init, Linear, LossKind, Model, ModelConfig, Target};
use crate::optim::{Optimizer, Sgd, SgdConfig};
use crate::seq::batch::{BatchInputs, BatchTargets, SeqBatch};
use crate::seq::model::{Readout, SeqModel};
use crate::seq::{CellKind, Rnn, RnnConfig, Seq};
use crate::tensor::Mat;

#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub workload: String,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub steps: usize,
    pub threads: usize,
    pub cpu: String,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// W1: a 50-layer tanh highway MLP (input 784, width 64, gate bias -2, 10 classes), batch 128,
/// softmax cross-entropy, SGD with momentum 0.9: forward, backward and update, one thread.
pub fn w1_model() -> Model<f32> {
    let cfg: ModelConfig =
        toml::from_str("arch = \"highway\"\ndepth = 50\nwidth = 64\ninit = { kind = \"glorot\" }").unwrap();
    Model::build(&cfg, 784, 10, LossKind::CrossEntropy, 0).unwrap()
}

/// W2: LSTM (input 32, hidden 128), T = 100, batch 32, MSE on a linear readout of the last
/// hidden state, plain SGD: forward, backward and update, one thread.
pub fn w2_model() -> SeqModel<f32> {
    let mut rng = StdRng::seed_from_u64(0);
    let mut rnn = Rnn::new(&RnnConfig::new(CellKind::Lstm, 32, 128), &mut rng);
    rnn.threads = 1;
    let head = Linear::new(128, 1, &Init::Glorot, &mut rng);
    SeqModel::new(None, vec![("rnn".into(), Box::new(rnn))], head, Readout::Last)
}

/// Median of timed steps after `warmup` untimed ones.
fn time_steps(steps: usize, warmup: usize, mut step: impl FnMut()) -> Vec<f64> {
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let t = Instant::now();
        step();
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    times
}

pub fn run(workload: &str, steps: usize, warmup: usize) -> Result<BenchResult, String> {
    let mut rng = StdRng::seed_from_u64(1);
    let mut times = match workload {
        "w1" => {
            let mut model = w1_model();
            let x = Mat::from_fn(128, 784, |_, _| rng.random::<f32>());
            let labels: Vec<u32> = (0..128).map(|_| rng.random_range(0..10)).collect();
            let mut sgd = Sgd::<f32>::new(SgdConfig { momentum: 0.9, ..Default::default() })?;
            time_steps(steps, warmup, || {
                model.zero_grad();
                model.forward_backward(&x, &Target::Classes(&labels));
                sgd.step(&mut model.params(), 0.01);
            })
        }
        "w2" => {
            let mut model = w2_model();
            let x = Seq::from_mat(100, 32, Mat::from_fn(3200, 32, |_, _| rng.random::<f32>()));
            let y = Mat::from_fn(32, 1, |_, _| rng.random::<f32>());
            let batch = SeqBatch::new(100, 32, BatchInputs::Real(x), BatchTargets::LastValue(y));
            let mut sgd = Sgd::<f32>::plain();
            time_steps(steps, warmup, || {
                model.zero_grad();
                model.forward_backward(&batch);
                sgd.step(&mut model.params(), 0.01);
            })
        }
        other => return Err(format!("unknown workload `{other}`; known: w1, w2")),
    };
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Ok(BenchResult {
        workload: workload.into(),
        median_ms: times[times.len() / 2],
        min_ms: times[0],
        max_ms: *times.last().unwrap(),
        steps,
        threads: 1,
        cpu: cpu_model(),
    })
}
