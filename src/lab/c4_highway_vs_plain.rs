//! C4 highway-vs-plain: gates make very deep nets trainable. Plain, residual, highway and
//! dense stacks over depth on MNIST; at depth 100 the highway net trains about as well as at
//! depth 10, the plain net not at all.

use super::fmt::{mean_pm, num, pct};
use super::{config, Claim, Experiment, Figure, Findings, Measure, Params, RunSet, Scale, Table};
use crate::plot::{LinePlot, Series};
use crate::stats::{fit_line, mean};
use crate::sweep::RunRequest;

pub struct C4;

pub const DEPTHS: [usize; 4] = [10, 20, 50, 100];
const ARCHS: [&str; 4] = ["plain", "residual", "highway", "dense"];

/// The quick setup is the CPU reference's (npow/schmidhuber-problems: a 6k MNIST subset, tanh,
/// Adam 5e-3, clip 5, batch 128, gate bias -2, 12 epochs).
const QUICK: &str = r#"
[data]
name = "mnist"
train_subset = 6000
test_subset = 2000
[model]
arch = "highway"
depth = 10
width = 50
activation = "tanh"
init = { kind = "gaussian", sigma_w2 = 1.0, sigma_b2 = 0.0 }
gate_bias = -2.0
[optim]
lr = 0.005
optimizer = { kind = "adam" }
clip_grad_norm = 5.0
[train]
epochs = 12
batch_size = 128
eval_train = true
"#;

/// Srivastava et al.'s setting as far as this engine goes: all of MNIST, SGD with momentum and
/// an exponentially decaying rate, 50 units per highway layer (71 per plain layer, about equal
/// parameters), gate bias -2, longer training.
const PAPER: &str = r#"
[data]
name = "mnist"
[model]
arch = "highway"
depth = 10
width = 50
activation = "tanh"
init = { kind = "gaussian", sigma_w2 = 1.0, sigma_b2 = 0.0 }
gate_bias = -2.0
[optim]
lr = 0.01
optimizer = { kind = "sgd", momentum = 0.9 }
schedule = { kind = "exponential", gamma = 0.9999 }
clip_grad_norm = 5.0
[train]
epochs = 40
batch_size = 128
eval_train = true
"#;

/// For the pipeline's test: a few steps of small nets on MNIST-1D.
const TINY: &str = r#"
[data]
name = "mnist1d"
num_samples = 300
[model]
arch = "highway"
depth = 2
width = 8
[optim]
lr = 0.005
optimizer = { kind = "adam" }
[train]
epochs = 1
batch_size = 64
eval_train = true
"#;

/// Plain layers are wider so that every stack has about the parameters of a highway stack of
/// width 50 (Srivastava: 71 units per plain layer).
fn width(arch: &str) -> usize {
    if arch == "plain" {
        71
    } else {
        50
    }
}

/// The run of `arch` at `depth` with `seed` (C5 reads the highway ones too).
pub fn run(p: &Params, arch: &str, depth: usize, seed: u64) -> RunRequest {
    let (base, depth, width) = match p.scale {
        Scale::Quick => (QUICK, depth, width(arch)),
        Scale::Paper => (PAPER, depth, width(arch)),
        // Depth 10, 20, 50, 100 become 1, 2, 5, 10.
        Scale::Tiny => (TINY, depth / 10, 8),
    };
    let cfg = config(
        base,
        &[
            format!("seed={seed}"),
            format!("model.arch=\"{arch}\""),
            format!("model.depth={depth}"),
            format!("model.width={width}"),
        ],
    );
    RunRequest::train(cfg, format!("C4 {arch} depth {depth} seed {seed}"))
}

pub fn seeds(p: &Params) -> Vec<u64> {
    p.seeds(match p.scale {
        Scale::Paper => 3,
        _ => 2,
    })
}

/// The training-set loss after the last epoch (evaluated over the whole set; NaN if diverged).
fn final_loss(r: &super::Run) -> f64 {
    if r.diverged() {
        f64::NAN
    } else {
        r.last_or_nan("train_eval_loss")
    }
}

pub const CLAIM: Claim = Claim {
    id: "C4",
    slug: "highway-vs-plain",
    title: "Gates make very deep nets trainable",
    quote: "we introduce the concept of a gate ... highway networks.",
    anchor: "Srivastava, Greff, Schmidhuber, NIPS 2015, Fig. 1 (MNIST, 50 units per highway layer, 71 per plain layer, depth 10/20/50/100, SGD with momentum, gate bias -1 to -3): plain nets get worse with depth; 50- and 100-layer highway nets train as well as shallow ones; at 100 layers highway is more than 2 orders of magnitude better in training loss. CPU reference (npow/schmidhuber-problems: 6k MNIST subset, tanh, Adam 5e-3, clip 5, batch 128, 12 epochs, gate bias -2): test accuracy highway .903/.913/.910/.926/.905 at depth 5/10/20/30/50, plain .857/.292/.098/.124/.124.",
    rule: "Holds if at depth 100 highway's final training loss is at most 1/10 of plain's, highway at depth 100 is within 2x of its depth-10 loss, and plain at depth 100 is at least 10x its depth-10 loss (means over seeds).",
    data: &["MNIST (IDX files; a subset at quick scale)"],
};

impl Experiment for C4 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let s = seeds(p).len();
        match p.scale {
            Scale::Quick => format!("Plain (width 71), residual (two-layer branches), highway (coupled carry, gate bias -2) and dense (concatenation, growth 12) stacks of width 50, tanh, Gaussian init (sigma_w^2 = 1), at depth 10, 20, 50 and 100; the first 6,000 MNIST training images, 12 epochs of Adam (lr 5e-3, gradient norm clipped to 5, batch 128), {s} seeds. Training loss is evaluated on the whole training subset after the last epoch; test accuracy on the first 2,000 test images."),
            Scale::Paper => format!("As quick, on all 60,000 MNIST training images and the whole test set, 40 epochs of SGD with momentum 0.9 (lr 0.01 decaying by 0.9999 per step, clip 5), {s} seeds."),
            Scale::Tiny => format!("Depth 1, 2, 5 and 10, width 8, one epoch on 300 MNIST-1D examples, {s} seeds: a test of the pipeline."),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for arch in ARCHS {
            for d in DEPTHS {
                for s in seeds(p) {
                    v.push(run(p, arch, d, s));
                }
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let seeds = seeds(p);
        // loss[arch][depth] over seeds, and test accuracy.
        let mut loss = vec![vec![Vec::new(); DEPTHS.len()]; ARCHS.len()];
        let mut acc = loss.clone();
        let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for (a, arch) in ARCHS.iter().enumerate() {
            for (d, depth) in DEPTHS.iter().enumerate() {
                for &s in &seeds {
                    let r = runs.get(&run(p, arch, *depth, s))?;
                    loss[a][d].push(final_loss(&r));
                    acc[a][d].push(r.summary().test_accuracy.unwrap_or(f64::NAN));
                    if *depth == 100 && s == seeds[0] {
                        let pts = r
                            .records_json("epoch")
                            .iter()
                            .map(|e| {
                                (super::runs::json_num(&e["epoch"]) + 1.0, super::runs::json_num(&e["train_eval_loss"]))
                            })
                            .collect();
                        curves.push((arch.to_string(), pts));
                    }
                }
            }
        }
        let m = |a: usize, d: usize| mean(&loss[a][d]);
        let (plain, highway) = (0, 2);
        let (d10, d100) = (0, DEPTHS.len() - 1);
        let ratio_hp = m(highway, d100) / m(plain, d100);
        let ratio_h = m(highway, d100) / m(highway, d10);
        let ratio_p = m(plain, d100) / m(plain, d10);
        let judged = |v: f64, ok: bool| v.is_finite().then_some(ok);
        let measured = vec![
            Measure::new("highway / plain training loss at depth 100", ratio_hp, num(ratio_hp))
                .must("<= 0.1", judged(ratio_hp, ratio_hp <= 0.1)),
            Measure::new("highway depth 100 / depth 10 training loss", ratio_h, num(ratio_h))
                .must("<= 2", judged(ratio_h, ratio_h <= 2.0)),
            Measure::new("plain depth 100 / depth 10 training loss", ratio_p, num(ratio_p))
                .must(">= 10", judged(ratio_p, ratio_p >= 10.0)),
            Measure::new("highway training loss at depth 100", m(highway, d100), num(m(highway, d100))),
            Measure::new("plain training loss at depth 100", m(plain, d100), num(m(plain, d100))),
        ];
        let mut t_loss = Table::new(
            "Training loss after the last epoch",
            &["arch", "depth 10", "depth 20", "depth 50", "depth 100"],
        )
        .caption(format!(
            "Cross-entropy on the whole training set, mean ± standard deviation over {} seeds.",
            seeds.len()
        ));
        let mut t_acc = Table::new("Test accuracy", &["arch", "depth 10", "depth 20", "depth 50", "depth 100"])
            .caption(format!("Mean ± standard deviation over {} seeds.", seeds.len()));
        for (a, arch) in ARCHS.iter().enumerate() {
            t_loss.row(std::iter::once(arch.to_string()).chain(loss[a].iter().map(|v| mean_pm(v, num))).collect());
            t_acc.row(std::iter::once(arch.to_string()).chain(acc[a].iter().map(|v| mean_pm(v, pct))).collect());
        }
        let mut by_depth =
            LinePlot::new("Training loss against depth", "depth (layers in the stack)", "training loss (nats)")
                .log_y(true)
                .log_x(true);
        for (a, arch) in ARCHS.iter().enumerate() {
            let pts: Vec<(f64, f64)> = DEPTHS.iter().enumerate().map(|(d, depth)| (*depth as f64, m(a, d))).collect();
            let band = DEPTHS
                .iter()
                .enumerate()
                .map(|(d, depth)| {
                    let v = &loss[a][d];
                    (
                        *depth as f64,
                        v.iter().copied().fold(f64::INFINITY, f64::min),
                        v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    )
                })
                .collect();
            by_depth = by_depth.series(Series::new(*arch, pts).markers().band(band));
        }
        let mut curve_plot =
            LinePlot::new("Training loss per epoch at depth 100 (first seed)", "epoch", "training loss (nats)")
                .log_y(true);
        for (arch, pts) in curves {
            curve_plot = curve_plot.series(Series::new(arch, pts).markers());
        }
        let slope = fit_line(
            &DEPTHS.iter().enumerate().map(|(d, depth)| ((*depth as f64).ln(), m(plain, d).ln())).collect::<Vec<_>>(),
        );
        let accs =
            |a: usize| DEPTHS.iter().enumerate().map(|(d, _)| pct(mean(&acc[a][d]))).collect::<Vec<_>>().join(" / ");
        let note = format!(
            "Test accuracy at depth 10 / 20 / 50 / 100: highway {}, plain {} (the CPU reference: highway .913 / .910 / .905 and plain .292 / .098 / .124 at depth 10 / 20 / 50). Plain nets' training loss grows with depth (log-log slope {}); at depth 100 the highway net's is {} of the plain net's.",
            accs(highway),
            accs(plain),
            slope.map_or("n/a".into(), |s| num(s.slope)),
            num(ratio_hp)
        );
        Ok(Findings {
            tables: vec![t_loss, t_acc],
            figures: vec![
                Figure::new(
                    "Training loss against depth",
                    "Mean over seeds; the band spans the seeds.",
                    by_depth.to_svg(),
                ),
                Figure::new(
                    "Training curves at depth 100",
                    "The training-set loss after each epoch.",
                    curve_plot.to_svg(),
                ),
            ],
            measured,
            note,
            notes: vec![],
        })
    }
}
