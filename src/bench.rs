//! Reference workloads for `depthlab bench` (compared against PyTorch by bench/torch_ref.py;
//! the numbers live in BENCHMARKS.md).
//!
//! Each workload is one training step (zero the gradients, forward, loss, backward, optimiser
//! update) timed on its own after untimed warm-up steps. Beside the times it reports the work
//! a step does in matrix multiplies, counted as the products run (`tensor::matmul_macs`, two
//! flops a multiply-add) rather than by a formula, and that work's rate against the measured
//! rate of one large single-thread GEMM (`peak_gflops`): what the engine could reach if every
//! step were one big product.

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::seqtasks::adding_split;
use crate::data::{Dataset, Targets};
use crate::nn::{Init, Linear, LossKind, Model, ModelConfig};
use crate::optim::{Optimizer, Sgd, SgdConfig};
use crate::seq::batch::{make_batch, BatchInputs, BatchTargets, SeqBatch};
use crate::seq::model::{Readout, SeqModel};
use crate::seq::{CellKind, Rnn, RnnConfig, Seq, Tcn, TcnConfig};
use crate::tensor::par::with_threads;
use crate::tensor::{matmul_into, matmul_macs, Mat, View};
use crate::train::{gradflow_record, MetricsLog, Net};

/// The longest sequence `--t` takes (W2's activations grow linearly with T).
pub const MAX_T: usize = 100_000;

/// The workloads, in order.
pub const WORKLOADS: [&str; 4] = ["w1", "w2", "w3", "w4"];

/// One line per workload, for `--help` and errors.
pub const DESCRIPTIONS: [&str; 4] = [
    "w1: 50-layer tanh highway MLP, 784 -> 64 -> 10, batch 128, cross-entropy, SGD momentum 0.9",
    "w2: LSTM 32 -> 128, T = 100, batch 32, MSE on a readout of the last step, SGD",
    "w3: TCN, input 2, 8 levels of 30 channels, kernel 7, T = 400, batch 32, adding problem (MSE on the last step), SGD",
    "w4: GRU 32 -> 128, T = 100, batch 32, MSE on a readout of the last step, SGD",
];

/// The sequence length T a workload runs at unless told otherwise (None: w1 has no time axis).
pub fn default_t(workload: &str) -> Option<usize> {
    match workload {
        "w2" | "w4" => Some(100),
        "w3" => Some(400),
        _ => None,
    }
}

/// The batch a workload runs at unless told otherwise.
pub fn default_batch(workload: &str) -> Option<usize> {
    match workload {
        "w1" => Some(128),
        "w2" | "w3" | "w4" => Some(32),
        _ => None,
    }
}

#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Timed steps, after `warmup` untimed ones.
    pub steps: usize,
    pub warmup: usize,
    pub threads: usize,
    /// The workload's own batch when None.
    pub batch: Option<usize>,
    /// Sequence length T of w2, w3, w4; the workload's own (`default_t`) when None.
    pub t: Option<usize>,
    /// Also time each step with the training telemetry of `[probe] gradflow_every = 1` on (the
    /// gradient taps of every block output, and of every step for the recurrent workloads, their
    /// norms written as a gradflow.jsonl record), alternating with plain steps.
    pub probes: bool,
    /// One core's peak GFLOP/s, when already measured (`bench all` measures it once for every
    /// workload); None: measure it.
    pub peak_gflops: Option<f64>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { steps: 200, warmup: 20, threads: 1, batch: None, t: None, probes: false, peak_gflops: None }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchResult {
    pub workload: String,
    /// Trainable parameters of the workload's model.
    pub params: usize,
    pub batch: usize,
    /// Sequence length (None for w1).
    pub t: Option<usize>,
    pub threads: usize,
    pub steps: usize,
    pub warmup: usize,
    /// Milliseconds per step: median, quartiles and extremes of the timed steps.
    pub median_ms: f64,
    pub p25_ms: f64,
    pub p75_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// With `probes`: the steps above ran with the telemetry on; `plain_median_ms` is the median
    /// of as many plain steps, timed in runs alternating with theirs (`PROBE_RUN`), and
    /// `probe_overhead` the median over the pairs of runs of (probed median) / (plain median).
    pub probes: bool,
    pub plain_median_ms: Option<f64>,
    pub probe_overhead: Option<f64>,
    /// Matrix-multiply work of one step, GFLOP (2 x multiply-adds, as counted while it ran).
    pub gflop_per_step: f64,
    /// That work over the median step time.
    pub gflops: f64,
    /// One core's measured peak (see `peak_gflops`) and the fraction of `threads` such cores
    /// that `gflops` is.
    pub peak_gflops: f64,
    pub peak_fraction: f64,
    /// The process's peak resident memory (VmHWM) after the timed steps, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Process CPU time over wall time across the timed steps: about `threads` when every
    /// thread ran all the time, clearly less when the process was descheduled.
    pub cpu_wall_ratio: Option<f64>,
    /// The 1-minute load average at the end (other work on the machine; includes this).
    pub loadavg_1m: Option<f64>,
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

/// The process's peak resident set (VmHWM of /proc/self/status), MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// User + system CPU seconds of this process, all threads.
fn cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) != 0 {
            return None;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        Some(tv(u.ru_utime) + tv(u.ru_stime))
    }
}

/// Side of the square GEMM that measures the peak: large enough that packing and edges are a
/// small share, small enough to take ~20 ms.
pub const PEAK_N: usize = 1024;

/// One core's f32 GEMM rate, GFLOP/s: the best of 5 products `PEAK_N` cubed on this thread,
/// through the same wrapper and kernels as the engine (after one untimed product).
pub fn peak_gflops() -> f64 {
    let n = PEAK_N;
    let a = Mat::from_fn(n, n, |r, c| ((r * 7 + c * 3) % 17) as f32 * 0.01);
    let b = Mat::from_fn(n, n, |r, c| ((r * 5 + c * 11) % 13) as f32 * 0.01);
    let mut c = Mat::zeros(n, n);
    let mut best = f64::INFINITY;
    for i in 0..6 {
        let t = Instant::now();
        matmul_into(&mut c, 0, View::of(&a), View::of(&b), false);
        if i > 0 {
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    std::hint::black_box(&c);
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// W1: a 50-layer tanh highway MLP (input 784, width 64, gate bias -2, 10 classes), batch 128,
/// softmax cross-entropy, SGD with momentum 0.9: forward, backward and update.
pub fn w1_model() -> Model<f32> {
    let cfg: ModelConfig =
        toml::from_str("arch = \"highway\"\ndepth = 50\nwidth = 64\ninit = { kind = \"glorot\" }").unwrap();
    Model::build(&cfg, 784, 10, LossKind::CrossEntropy, 0).unwrap()
}

fn rnn_model(cell: CellKind, threads: usize) -> SeqModel<f32> {
    let mut rng = StdRng::seed_from_u64(0);
    let mut rnn = Rnn::new(&RnnConfig::new(cell, 32, 128), &mut rng);
    rnn.threads = threads;
    let head = Linear::new(128, 1, &Init::Glorot, &mut rng);
    SeqModel::new(None, vec![("rnn".into(), Box::new(rnn))], head, Readout::Last)
}

/// W2: LSTM (input 32, hidden 128), T = 100, batch 32, MSE on a linear readout of the last
/// hidden state, plain SGD: forward, backward and update.
pub fn w2_model() -> SeqModel<f32> {
    rnn_model(CellKind::Lstm, 1)
}

/// W3: a TCN (Bai et al.), input 2, 8 levels of 30 channels, kernel 7, dilations 1..128, a
/// linear readout of the last step.
pub fn w3_model() -> SeqModel<f32> {
    let mut rng = StdRng::seed_from_u64(0);
    let tcn = Tcn::new(&TcnConfig::uniform(2, 30, 8, 7), &mut rng);
    let head = Linear::new(30, 1, &Init::Glorot, &mut rng);
    SeqModel::new(None, vec![("tcn".into(), Box::new(tcn))], head, Readout::Last)
}

/// W4: GRU with W2's sizes.
pub fn w4_model() -> SeqModel<f32> {
    rnn_model(CellKind::Gru, 1)
}

/// What `time_steps` measured.
struct Timed {
    /// ms of each timed step (with the telemetry on, when probed).
    times: Vec<f64>,
    /// ms of each plain step alternating with them (probed runs only).
    plain: Vec<f64>,
    /// The median over pairs of runs of (probed median) / (plain median).
    probe_overhead: Option<f64>,
    /// Multiply-adds of one plain step.
    macs: u64,
    cpu_wall_ratio: Option<f64>,
}

/// Steps per run of plain or probed steps when `time_steps` alternates them: as in training
/// with `gradflow_every = 1`, a probed step then follows a probed one (whose taps it replaces).
pub const PROBE_RUN: usize = 8;

/// Times of `steps` steps after `warmup` untimed ones (`step(probed)`), the multiply-adds of
/// one plain warm-up step, and the CPU/wall ratio over the timed steps. With `probes`, `steps`
/// steps with the telemetry on and as many plain ones, in alternating runs of `PROBE_RUN`
/// (which of the two comes first alternating too); `probe_overhead` is then the median over
/// the pairs of runs of the ratio of their medians.
fn time_steps(steps: usize, warmup: usize, probes: bool, mut step: impl FnMut(bool)) -> Timed {
    let before = matmul_macs();
    step(false);
    let macs = matmul_macs() - before;
    for i in 1..warmup {
        step(probes && i % 2 == 1);
    }
    let (wall0, cpu0) = (Instant::now(), cpu_seconds());
    let mut times = Vec::with_capacity(steps);
    let mut plain = Vec::with_capacity(if probes { steps } else { 0 });
    let mut ratios = Vec::new();
    let mut timed = |probed: bool, n: usize, out: &mut Vec<f64>| {
        let mut run = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            step(probed);
            run.push(t.elapsed().as_secs_f64() * 1e3);
        }
        out.extend_from_slice(&run);
        median(&mut run)
    };
    if probes {
        let mut left = steps;
        for i in 0.. {
            if left == 0 {
                break;
            }
            let n = left.min(PROBE_RUN);
            left -= n;
            let (p, q) = if i % 2 == 0 {
                let q = timed(false, n, &mut plain);
                (timed(true, n, &mut times), q)
            } else {
                let p = timed(true, n, &mut times);
                (p, timed(false, n, &mut plain))
            };
            ratios.push(p / q);
        }
    } else {
        timed(false, steps, &mut times);
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cpu_wall_ratio = cpu0.zip(cpu_seconds()).map(|(a, b)| (b - a) / wall);
    let probe_overhead = probes.then(|| median(&mut ratios));
    Timed { times, plain, probe_overhead, macs, cpu_wall_ratio }
}

/// The telemetry of `[probe] gradflow_every = 1`, as the training loop runs it: taps on for
/// the step, then one gradflow.jsonl record of the tap norms appended to `log`.
fn train_step<B, M: Net<B>>(model: &mut M, batch: &B, probed: bool, log: &mut Option<MetricsLog>, step: usize) {
    model.zero_grad();
    if probed {
        model.set_taps(true);
    }
    model.train_step(batch);
    if probed {
        model.set_taps(false);
        if let Some(log) = log.as_mut() {
            log.write(&gradflow_record(model, step, 0)).expect("bench: cannot write the gradflow record");
        }
    }
}

/// A gradflow.jsonl in the temporary folder for a probed run (removed when dropped).
struct FlowLog {
    path: std::path::PathBuf,
}

impl Drop for FlowLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn flow_log(probes: bool) -> Result<(Option<FlowLog>, Option<MetricsLog>), String> {
    if !probes {
        return Ok((None, None));
    }
    let path = std::env::temp_dir().join(format!("depthlab-bench-gradflow-{}.jsonl", std::process::id()));
    let log = MetricsLog::open(&path, None).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    Ok((Some(FlowLog { path }), Some(log)))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = &v[(v.len() - 1) / 2..=v.len() / 2];
    mid.iter().sum::<f64>() / mid.len() as f64
}

/// Real inputs `[batch, time, 32]` and one target per sequence, drawn once.
fn random_seq_batch(rng: &mut StdRng, time: usize, batch: usize) -> SeqBatch<f32> {
    let x = Seq::from_mat(time, batch, Mat::from_fn(time * batch, 32, |_, _| rng.random::<f32>()));
    let y = Mat::from_fn(batch, 1, |_, _| rng.random::<f32>());
    SeqBatch::new(time, batch, BatchInputs::Real(x), BatchTargets::LastValue(y))
}

/// Time `workload` ("w1" .. "w4").
pub fn run(workload: &str, opts: &BenchOptions) -> Result<BenchResult, String> {
    let Some(default) = default_batch(workload) else {
        return Err(format!("unknown workload `{workload}`; known: {}", WORKLOADS.join(", ")));
    };
    if opts.steps == 0 {
        return Err("--steps must be at least 1".into());
    }
    let batch = opts.batch.unwrap_or(default);
    if batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let t = match (opts.t, default_t(workload)) {
        (Some(_), None) => {
            return Err(format!("--t (sequence length) applies to the sequence workloads w2, w3, w4, not {workload}"))
        }
        (Some(0), _) => return Err("--t must be at least 1".into()),
        (Some(t), Some(_)) if t > MAX_T => return Err(format!("--t {t} is more than {MAX_T}")),
        (t, d) => t.or(d),
    };
    let threads = opts.threads.max(1);
    let (steps, warmup) = (opts.steps, opts.warmup.max(1));
    let mut rng = StdRng::seed_from_u64(1);
    let (_flow_file, mut log) = flow_log(opts.probes)?;
    let mut n = 0;
    let (timed, params) = match workload {
        "w1" => {
            let mut model = w1_model();
            model.set_threads(threads);
            let x = Mat::from_fn(batch, 784, |_, _| rng.random::<f32>());
            let labels: Vec<u32> = (0..batch).map(|_| rng.random_range(0..10)).collect();
            let b = Dataset::new(x, Targets::Classes { labels, n_classes: 10 });
            let mut sgd = Sgd::<f32>::new(SgdConfig { momentum: 0.9, ..Default::default() })?;
            let timed = time_steps(steps, warmup, opts.probes, |probed| {
                train_step(&mut model, &b, probed, &mut log, n);
                with_threads(threads, || sgd.step(&mut Net::<Dataset>::params(&mut model), 0.01));
                n += 1;
            });
            (timed, model.num_params())
        }
        _ => {
            let t = t.expect("a sequence workload");
            let (mut model, b) = if workload == "w3" {
                let split = adding_split(t, batch, 0, 1);
                let idx: Vec<usize> = (0..batch).collect();
                (w3_model(), make_batch(&split.train, &idx))
            } else {
                let m = if workload == "w2" { w2_model() } else { w4_model() };
                (m, random_seq_batch(&mut rng, t, batch))
            };
            model.set_threads(threads);
            let mut sgd = Sgd::<f32>::plain();
            let timed = time_steps(steps, warmup, opts.probes, |probed| {
                train_step(&mut model, &b, probed, &mut log, n);
                with_threads(threads, || sgd.step(&mut model.params(), 0.01));
                n += 1;
            });
            let params = Net::<SeqBatch<f32>>::num_params(&mut model);
            (timed, params)
        }
    };
    // Before the peak GEMM, whose buffers would count.
    let peak_rss = peak_rss_mib();
    let Timed { mut times, mut plain, probe_overhead, macs, cpu_wall_ratio } = timed;
    let plain_median_ms = opts.probes.then(|| median(&mut plain));
    times.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let median_ms = q(0.5);
    let gflop_per_step = 2.0 * macs as f64 / 1e9;
    let gflops = gflop_per_step / (median_ms / 1e3);
    let peak = opts.peak_gflops.unwrap_or_else(peak_gflops);
    let cores = threads.min(crate::tensor::par::all_cores()) as f64;
    Ok(BenchResult {
        workload: workload.into(),
        params,
        batch,
        t,
        threads,
        steps,
        warmup,
        median_ms,
        p25_ms: q(0.25),
        p75_ms: q(0.75),
        min_ms: times[0],
        max_ms: *times.last().unwrap(),
        probes: opts.probes,
        plain_median_ms,
        probe_overhead,
        gflop_per_step,
        gflops,
        peak_gflops: peak,
        peak_fraction: gflops / (peak * cores),
        peak_rss_mib: peak_rss,
        cpu_wall_ratio,
        loadavg_1m: loadavg_1m(),
        cpu: cpu_model(),
    })
}

/// The header of `table_row`'s table.
pub fn table_header() -> String {
    format!(
        "{:<4} {:>8} {:>5} {:>5} {:>7} {:>9} {:>17} {:>10} {:>8} {:>8} {:>9} {:>8} {:>8}",
        "work",
        "params",
        "batch",
        "T",
        "threads",
        "median ms",
        "p25-p75 ms",
        "GFLOP/step",
        "GFLOP/s",
        "of peak",
        "RSS MiB",
        "cpu/wall",
        "probes x"
    )
}

/// One human-readable line of a result.
pub fn table_row(r: &BenchResult) -> String {
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    format!(
        "{:<4} {:>8} {:>5} {:>5} {:>7} {:>9.2} {:>17} {:>10.3} {:>8.1} {:>7.0}% {:>9} {:>8} {:>8}",
        r.workload,
        r.params,
        r.batch,
        r.t.map_or("-".to_string(), |t| t.to_string()),
        r.threads,
        r.median_ms,
        format!("{:.2}-{:.2}", r.p25_ms, r.p75_ms),
        r.gflop_per_step,
        r.gflops,
        100.0 * r.peak_fraction,
        opt(r.peak_rss_mib, 1),
        opt(r.cpu_wall_ratio, 2),
        opt(r.probe_overhead, 3),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(workload: &str, batch: usize) -> BenchResult {
        let opts =
            BenchOptions { steps: 2, warmup: 1, batch: Some(batch), peak_gflops: Some(100.0), ..Default::default() };
        run(workload, &opts).unwrap()
    }

    /// The counted work is the models' own: W2's LSTM does, per step of T = 100 at batch B,
    /// 4H x (32 + H) multiply-adds per row forward, the same again for dh and the weight
    /// gradients (no dL/dx: the input is data), and the readout's few; W4's GRU 3H where LSTM
    /// has 4H.
    #[test]
    fn counts_the_recurrent_models_matrix_work() {
        let (h, t) = (128u64, 100u64);
        for (w, g) in [("w2", 4u64), ("w4", 3u64)] {
            let b = 4u64;
            let r = quick(w, b as usize);
            // Forward: x W_ih^T for all steps, h W_hh^T for T - 1 steps. Backward: dh for T - 1
            // steps, dW_hh over T - 1 steps, dW_ih over T.
            let fwd = t * b * 32 * g * h + (t - 1) * b * h * g * h;
            let bwd = (t - 1) * b * g * h * h + (t - 1) * b * g * h * h + t * b * g * h * 32;
            let want = 2.0 * (fwd + bwd) as f64 / 1e9;
            // The readout (B x 128 x 1 each way) is all that may come on top.
            let extra = r.gflop_per_step - want;
            assert!(
                (0.0..1e-4).contains(&extra),
                "{w}: counted {} GFLOP, the recurrence alone {want}",
                r.gflop_per_step
            );
            assert_eq!(r.batch, b as usize);
            assert!(r.median_ms > 0.0 && r.min_ms <= r.p25_ms && r.p25_ms <= r.median_ms);
            assert!(r.median_ms <= r.p75_ms && r.p75_ms <= r.max_ms);
            assert!((r.peak_fraction - r.gflops / 100.0).abs() < 1e-9);
        }
    }

    #[test]
    fn every_workload_runs_at_a_small_batch_and_unknown_ones_are_named() {
        for w in WORKLOADS {
            let r = quick(w, 2);
            assert!(r.gflop_per_step > 0.0 && r.gflops.is_finite(), "{w}: {r:?}");
            assert!(r.peak_rss_mib.is_some_and(|m| m > 0.0));
        }
        let e = run("w9", &BenchOptions::default()).unwrap_err();
        assert!(e.contains("w9") && e.contains("w1, w2, w3, w4"), "{e}");
    }
}
