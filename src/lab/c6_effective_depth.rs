//! C6 effective-depth: residual nets behave like ensembles of shallow paths (Veit, Wilber,
//! Belongie 2016). A 54-block residual MLP trained on MNIST: where its gradient comes from
//! (the paths probe: gradient mass by path length), and what deleting blocks does to it (the
//! lesion probe), beside a 15-layer plain net whose layers cannot be deleted without harm.

use serde_json::Value;

use super::fmt::{num, pct};
use super::runs::json_num as jnum;
use super::{config, Claim, Experiment, Figure, Findings, Measure, Params, Run, RunSet, Scale, Table};
use crate::plot::{LinePlot, Series};
use crate::probe::paths::shortest_interval;
use crate::probe::ProbeKind;
use crate::stats::{mean, std};
use crate::sweep::RunRequest;

pub struct C6;

/// Veit's ResNet-110 has n = 54 residual blocks.
const BLOCKS: usize = 54;
/// Veit compares with a 15-layer VGG net.
const PLAIN_DEPTH: usize = 15;
/// The share of the gradient mass the effective range holds (the rule's 90%).
const MASS: f64 = 0.9;
/// The nets must train before their lesions mean anything: test accuracy at least this.
const TRAINED: f64 = 0.9;

/// examples/mnist-residual54.toml (54 blocks of width 64, relu, two-layer branches, Gaussian
/// sigma_w^2 = 0.5, Adam 1e-3, all of MNIST) with 2 epochs instead of 5: the README measured
/// 96.6% test accuracy after 5; after 2 it is already a trained net (about 95%), at 2/5 of
/// the cost. The plain net shares everything but its 15 layers, He init (the usual one for
/// relu plain nets; it keeps the forward signal at depth 15) and the absence of skips.
const QUICK_RESIDUAL: &str = r#"
[data]
name = "mnist"
[model]
arch = "residual"
depth = 54
width = 64
activation = "relu"
init = { kind = "gaussian", sigma_w2 = 0.5, sigma_b2 = 0.0 }
residual_layers = 2
[optim]
lr = 0.001
optimizer = { kind = "adam" }
clip_grad_norm = 5.0
[train]
epochs = 2
batch_size = 128
checkpoint_every = 2
"#;

const QUICK_PLAIN: &str = r#"
[data]
name = "mnist"
[model]
arch = "plain"
depth = 15
width = 64
activation = "relu"
init = { kind = "he" }
[optim]
lr = 0.001
optimizer = { kind = "adam" }
clip_grad_norm = 5.0
[train]
epochs = 2
batch_size = 128
checkpoint_every = 2
"#;

/// For the pipeline's test: a few steps of small nets on MNIST-1D.
const TINY: &str = r#"
[data]
name = "mnist1d"
num_samples = 300
[model]
arch = "residual"
depth = 6
width = 8
activation = "relu"
init = { kind = "gaussian", sigma_w2 = 0.5, sigma_b2 = 0.0 }
[optim]
lr = 0.003
optimizer = { kind = "adam" }
[train]
epochs = 1
batch_size = 64
"#;

/// The run of `arch` ("residual" or "plain") with `seed`, and its probes.
fn run(p: &Params, arch: &str, seed: u64) -> RunRequest {
    let residual = arch == "residual";
    let (base, mut sets) = match (p.scale, residual) {
        (Scale::Quick, true) => (QUICK_RESIDUAL, vec![]),
        (Scale::Quick, false) => (QUICK_PLAIN, vec![]),
        // The example's 5 epochs (96.6% test accuracy) and more seeds.
        (Scale::Paper, true) => (QUICK_RESIDUAL, vec!["train.epochs=5".to_string()]),
        (Scale::Paper, false) => (QUICK_PLAIN, vec!["train.epochs=5".to_string()]),
        (Scale::Tiny, true) => (TINY, vec![]),
        (Scale::Tiny, false) => {
            (TINY, vec!["model.arch=\"plain\"".into(), "model.depth=3".into(), "model.init={kind=\"he\"}".into()])
        }
    };
    sets.push(format!("seed={seed}"));
    let cfg = config(base, &sets);
    let depth = cfg.model.depth;
    let probes: &[ProbeKind] = if residual { &[ProbeKind::Paths, ProbeKind::Lesion] } else { &[ProbeKind::Lesion] };
    RunRequest::train(cfg, format!("C6 {arch} depth {depth} seed {seed}")).with_probes(probes)
}

fn seeds(p: &Params) -> Vec<u64> {
    p.seeds(match p.scale {
        Scale::Paper => 5,
        Scale::Quick => 3,
        Scale::Tiny => 1,
    })
}

/// What one trained net's probes say.
struct Net {
    seed: u64,
    test_accuracy: f64,
    /// The lesion probe's examples and baseline accuracy on them.
    examples: f64,
    chance: f64,
    baseline: f64,
    /// Accuracy with block i deleted.
    single: Vec<f64>,
    /// Accuracy of every draw with k blocks deleted, k = 1..n.
    random: Vec<Vec<f64>>,
    paths: Option<Value>,
}

fn read(r: &Run, seed: u64, with_paths: bool) -> Result<Net, String> {
    let l = r.probe_json(ProbeKind::Lesion)?;
    let arr = |v: &Value, what: &str| -> Result<Vec<Value>, String> {
        v.as_array().cloned().ok_or_else(|| format!("run {}: lesion.json has no `{what}` list", r.id))
    };
    let single = arr(&l["single"], "single")?.iter().map(|s| jnum(&s["accuracy"])).collect();
    let random = arr(&l["random"], "random")?
        .iter()
        .map(|k| k["draws"].as_array().map(|d| d.iter().map(|d| jnum(&d[1]["accuracy"])).collect()).unwrap_or_default())
        .collect();
    Ok(Net {
        seed,
        test_accuracy: r.summary().test_accuracy.unwrap_or(f64::NAN),
        examples: jnum(&l["examples"]),
        chance: jnum(&l["chance_accuracy"]),
        baseline: jnum(&l["baseline"]["accuracy"]),
        single,
        random,
        paths: if with_paths { Some(r.probe_json(ProbeKind::Paths)?) } else { None },
    })
}

/// The nets of `arch` that trained to the end (a diverged run has no probes); the seeds of
/// those that diverged.
fn nets(p: &Params, runs: &RunSet, arch: &str) -> Result<(Vec<Net>, Vec<u64>), String> {
    let (mut ok, mut diverged) = (Vec::new(), Vec::new());
    for s in seeds(p) {
        let r = runs.get(&run(p, arch, s))?;
        if r.diverged() {
            diverged.push(s);
        } else {
            ok.push(read(&r, s, arch == "residual")?);
        }
    }
    Ok((ok, diverged))
}

/// Baseline minus lesioned accuracy, averaged over the deleted blocks.
fn single_cost(n: &Net) -> f64 {
    mean(&n.single.iter().map(|a| n.baseline - a).collect::<Vec<_>>())
}

/// The random-deletion curve over nets: for k = 0 (nothing deleted) .. n, the mean accuracy
/// over every net and draw, the sample standard deviation, the evaluations M and the test
/// examples N per evaluation.
struct Curve {
    k: Vec<usize>,
    mean: Vec<f64>,
    sd: Vec<f64>,
    evals: Vec<usize>,
    examples: f64,
}

fn curve(nets: &[Net]) -> Curve {
    let n = nets.iter().map(|x| x.random.len()).min().unwrap_or(0);
    let mut c = Curve { k: Vec::new(), mean: Vec::new(), sd: Vec::new(), evals: Vec::new(), examples: f64::NAN };
    c.examples = nets.iter().map(|x| x.examples).fold(f64::INFINITY, f64::min);
    for k in 0..=n {
        let v: Vec<f64> = if k == 0 {
            nets.iter().map(|x| x.baseline).collect()
        } else {
            nets.iter().flat_map(|x| x.random[k - 1].iter().copied()).collect()
        };
        c.k.push(k);
        c.mean.push(mean(&v));
        c.sd.push(std(&v));
        c.evals.push(v.iter().filter(|a| a.is_finite()).count());
    }
    c
}

impl Curve {
    /// The standard error of mean accuracy a(k): the larger of the binomial error of M N
    /// scored examples, sqrt(a (1 - a) / (M N)), and the spread over the M evaluations
    /// (which blocks a draw deleted, which net), sd / sqrt(M).
    fn se(&self, i: usize) -> f64 {
        let (a, m) = (self.mean[i], self.evals[i].max(1) as f64);
        let binomial = (a * (1.0 - a) / (m * self.examples)).max(0.0).sqrt();
        binomial.max(self.sd[i] / m.sqrt())
    }

    /// For each step k -> k + 1: the rise a(k + 1) - a(k) and its tolerance, 2 standard errors
    /// of the difference.
    fn rises(&self) -> Vec<(usize, f64, f64)> {
        (0..self.k.len().saturating_sub(1))
            .map(|i| {
                let tol = 2.0 * (self.se(i).powi(2) + self.se(i + 1).powi(2)).sqrt();
                (self.k[i], self.mean[i + 1] - self.mean[i], tol)
            })
            .collect()
    }
}

/// Means over nets of a per-length field of paths.json, k = 0..n.
fn paths_field(nets: &[Net], field: &str) -> Vec<Vec<f64>> {
    nets.iter()
        .filter_map(|x| x.paths.as_ref())
        .map(|p| p["lengths"].as_array().map(|l| l.iter().map(|e| jnum(&e[field])).collect()).unwrap_or_default())
        .collect()
}

fn columnwise(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = rows.iter().map(|r| r.len()).min().unwrap_or(0);
    (0..n).map(|k| rows.iter().map(|r| r[k]).collect()).collect()
}

fn range_of(v: &[f64]) -> (f64, f64) {
    (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
}

/// Accuracy points to two decimals.
fn pp(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}", 100.0 * v)
    } else {
        "n/a".into()
    }
}

/// A difference of accuracies in points: "1.23 points".
fn points(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2} points", 100.0 * v)
    } else {
        "n/a".into()
    }
}

pub const CLAIM: Claim = Claim {
    id: "C6",
    slug: "effective-depth",
    title: "Residual nets behave like ensembles of shallow paths",
    quote: "deep residual networks actually have an effective depth that is significantly smaller than the specified depth.",
    anchor: "Veit, Wilber, Belongie, NIPS 2016 (ResNet-110 on CIFAR-10, n = 54 blocks): 95% of paths have 19-35 blocks, but the gradient comes from paths of 5-17 blocks (0.45% of all paths); deleting one block barely changes test error, while deleting a layer of a 15-layer VGG net drops it to chance; error rises smoothly with the number of deleted blocks.",
    rule: "Holds if the range holding 90% of the gradient mass lies entirely below the median path length, deleting one residual block costs under 2 points of test accuracy on average while deleting one plain layer costs more than 20, and residual accuracy falls monotonically (within noise) with k. Fixed here before any run: the gradient mass per path length is averaged over seeds and its shortest 90% interval must end below n/2; a deletion's cost is the accuracy without it minus the accuracy with it on the lesion probe's test examples, averaged over blocks and seeds; a(k), the accuracy with k random blocks deleted (k = 0..n), is averaged over seeds and draws, and 'monotonically within noise' means no rise a(k+1) - a(k) exceeds 2 standard errors of the difference, each a(k)'s standard error being the larger of the binomial sqrt(a(1-a)/(M N)) (M evaluations of N examples) and the spread over evaluations sd/sqrt(M). Lesion conditions are judged only for nets that trained (test accuracy at least 90%).",
    data: &["MNIST (IDX files; all of it)"],
};

impl Experiment for C6 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let s = seeds(p).len();
        match p.scale {
            Scale::Quick => format!("A residual MLP of {BLOCKS} blocks (examples/mnist-residual54.toml: width 64, relu, two-layer branches, Gaussian init sigma_w^2 = 0.5) and a plain relu net of {PLAIN_DEPTH} layers of width 64 (He init; Veit's plain comparison is a 15-layer VGG net), both trained on all 60,000 MNIST training images for 2 epochs of Adam (lr 1e-3, gradient norm clipped to 5, batch 128), {s} seeds. Two epochs instead of the example's five: the README measured 96.6% test accuracy after five, and after two the net is already trained (about 95%), which is what the claim is about, at 2/5 of the cost. Then the paths probe on 4 training batches (2 draws of block sets per path length) and the lesion probe on the first 500 test images (every single block deleted; 3 random draws of k blocks for k = 1..n). Test accuracy in the tables is on all 10,000 test images."),
            Scale::Paper => format!("As quick, for the example's 5 epochs, {s} seeds. What differs from Veit et al.: MLP blocks on MNIST instead of convolutional ResNet-110 on CIFAR-10, Adam instead of SGD with momentum and weight decay, no batch normalisation; the lesion probe scores 500 test images."),
            Scale::Tiny => format!("A residual net of 6 blocks and a plain net of 3 layers, width 8, one epoch on 300 MNIST-1D examples, {s} seed: a test of the pipeline."),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for arch in ["residual", "plain"] {
            for s in seeds(p) {
                v.push(run(p, arch, s));
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let (res, res_div) = nets(p, runs, "residual")?;
        let (plain, plain_div) = nets(p, runs, "plain")?;
        let mut notes = Vec::new();
        for (arch, d) in [("residual", &res_div), ("plain", &plain_div)] {
            if !d.is_empty() {
                notes.push(format!("The {arch} runs of seeds {d:?} diverged; the analysis uses the others."));
            }
        }
        let acc = |v: &[Net]| mean(&v.iter().map(|x| x.test_accuracy).collect::<Vec<_>>());
        let (res_acc, plain_acc) = (acc(&res), acc(&plain));
        let res_trained = res_acc >= TRAINED;
        let plain_trained = plain_acc >= TRAINED;

        // Gradient mass by path length, averaged over seeds.
        let mass = columnwise(&paths_field(&res, "total_fraction"));
        let per_path = columnwise(&paths_field(&res, "per_path"));
        let fraction: Vec<f64> = columnwise(&paths_field(&res, "path_fraction")).iter().map(|v| mean(v)).collect();
        let mass_mean: Vec<f64> = mass.iter().map(|v| mean(v)).collect();
        let n = mass_mean.len().saturating_sub(1);
        let median = n as f64 / 2.0;
        let ([lo, hi], held) = shortest_interval(&mass_mean, MASS);
        let have_paths = !mass_mean.is_empty() && held.is_finite();
        let in_range: f64 = if have_paths { fraction[lo..=hi].iter().sum() } else { f64::NAN };
        let peak = mass_mean.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(k, _)| k);

        let res_cost = mean(&res.iter().map(single_cost).collect::<Vec<_>>());
        let plain_cost = mean(&plain.iter().map(single_cost).collect::<Vec<_>>());
        let c = curve(&res);
        let rises = c.rises();
        let worst = rises.iter().copied().max_by(|a, b| (a.1 - a.2).total_cmp(&(b.1 - b.2)));
        let excess = worst.map_or(f64::NAN, |w| w.1 - w.2);

        let judged = |v: f64, ok: bool, trained: bool| (v.is_finite() && trained).then_some(ok);
        let pts = points;
        let measured = vec![
            Measure::new(
                "upper end of the shortest range holding 90% of the gradient mass (path length)",
                hi as f64,
                if have_paths {
                    format!("{lo}..{hi} (holds {}); median path length {}", pct(held), num(median))
                } else {
                    "n/a".into()
                },
            )
            .must(format!("< {} (n/2)", num(median)), have_paths.then_some((hi as f64) < median)),
            Measure::new("mean accuracy cost of deleting one residual block", res_cost, pts(res_cost))
                .must("< 2 points", judged(res_cost, res_cost < 0.02, res_trained)),
            Measure::new("mean accuracy cost of deleting one plain layer", plain_cost, pts(plain_cost))
                .must("> 20 points", judged(plain_cost, plain_cost > 0.20, plain_trained)),
            Measure::new(
                "largest rise a(k+1) - a(k) of residual accuracy with k random blocks deleted, less its tolerance",
                excess,
                worst.map_or("n/a".into(), |(k, r, t)| {
                    format!("{} at k = {k} -> {} (rise {}, tolerance {})", pts(r - t), k + 1, pp(r), pp(t))
                }),
            )
            .must("<= 0", judged(excess, excess <= 0.0, res_trained)),
            Measure::new(format!("residual test accuracy (trained if >= {})", pct(TRAINED)), res_acc, pct(res_acc)),
            Measure::new(format!("plain test accuracy (trained if >= {})", pct(TRAINED)), plain_acc, pct(plain_acc)),
            Measure::new(
                "share of all paths in the 90% range (Veit: 0.45%)",
                in_range,
                format!("{:.3}%", 100.0 * in_range),
            ),
            Measure::new(
                "path length of the largest gradient mass",
                peak.map_or(f64::NAN, |k| k as f64),
                peak.map_or("n/a".into(), |k| k.to_string()),
            ),
        ];
        if !res_trained || !plain_trained {
            notes.push(format!(
                "A net that did not reach {} test accuracy did not train; the lesion conditions on it are not judged (inconclusive), since deleting a layer of an untrained net says nothing about trained ones.",
                pct(TRAINED)
            ));
        }

        // Tables.
        let mut t_nets = Table::new(
            "Each trained net",
            &[
                "net",
                "seed",
                "test accuracy",
                "lesion baseline",
                "mean cost of one deletion",
                "worst single deletion",
                "90% gradient mass in",
                "peak length",
                "ln m(k) per block",
            ],
        )
        .caption("Test accuracy on all 10,000 test images; the lesion columns on the probe's first N test images (N below); the cost of a deletion is the accuracy lost, in points; m(k) is the gradient through one path of length k.");
        for (arch, v) in [("residual", &res), ("plain", &plain)] {
            for x in v.iter() {
                let worst_single = x.single.iter().copied().fold(f64::INFINITY, f64::min);
                let (range, peak, slope) = match &x.paths {
                    Some(pj) => (
                        format!("{}..{}", pj["effective_range"][0], pj["effective_range"][1]),
                        pj["peak"].to_string(),
                        num(jnum(&pj["per_path_log_slope"])),
                    ),
                    None => ("".into(), "".into(), "".into()),
                };
                t_nets.row(vec![
                    format!("{arch} ({} layers)", x.single.len()),
                    x.seed.to_string(),
                    pct(x.test_accuracy),
                    pct(x.baseline),
                    pp(single_cost(x)),
                    pct(worst_single),
                    range,
                    peak,
                    slope,
                ]);
            }
        }
        let mut t_k = Table::new(
            "Residual accuracy with k random blocks deleted",
            &["k", "a(k)", "sd over evaluations", "evaluations M", "rise from k-1", "tolerance"],
        )
        .caption(format!(
            "a(k): mean over seeds and draws of the accuracy on the first {} test images (N); k = 0 is the intact net. Tolerance: 2 standard errors of the difference a(k) - a(k-1) (the rule's 'within noise'). Points of accuracy.",
            num(c.examples)
        ));
        for (i, &k) in c.k.iter().enumerate() {
            let show = k <= 10 || k % 4 == 0 || k == n || rises.get(i.wrapping_sub(1)).is_some_and(|r| r.1 > r.2);
            if !show {
                continue;
            }
            let (rise, tol) = if i == 0 { ("".into(), "".into()) } else { (pp(rises[i - 1].1), pp(rises[i - 1].2)) };
            t_k.row(vec![k.to_string(), pct(c.mean[i]), pp(c.sd[i]), c.evals[i].to_string(), rise, tol]);
        }

        // Figures.
        let ks = |v: &[f64]| v.iter().enumerate().map(|(k, &y)| (k as f64, y)).collect::<Vec<_>>();
        let band = |cols: &[Vec<f64>]| {
            cols.iter()
                .enumerate()
                .map(|(k, v)| {
                    let (a, b) = range_of(v);
                    (k as f64, a, b)
                })
                .collect::<Vec<_>>()
        };
        let mass_plot = LinePlot::new(
            format!("Gradient mass by path length ({n} blocks): 90% in {lo}..{hi}, median length {}", num(median)),
            "path length k (blocks whose branch the path passes)",
            "share of the total",
        )
        .series(Series::new("gradient mass m(k) C(n,k)", ks(&mass_mean)).markers().band(band(&mass)))
        .series(Series::new("paths C(n,k) / 2^n", ks(&fraction)).dashed());
        let per_path_plot =
            LinePlot::new("Gradient through one path of length k", "path length k (blocks)", "||dL/dh_0|| per path")
                .log_y(true)
                .series(
                    Series::new("m(k), mean over seeds", ks(&per_path.iter().map(|v| mean(v)).collect::<Vec<_>>()))
                        .markers()
                        .band(band(&per_path)),
                );
        let mut single_plot = LinePlot::new(
            "Test accuracy with one layer deleted",
            "deleted layer (index in the stack)",
            "test accuracy",
        )
        .y_range(0.0, 1.0);
        let mut random_plot = LinePlot::new(
            "Test accuracy with k random layers deleted",
            "k (layers deleted at random)",
            "test accuracy",
        )
        .y_range(0.0, 1.0);
        let mut chance = f64::NAN;
        for (i, (arch, v)) in [("residual", &res), ("plain", &plain)].into_iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            chance = v[0].chance;
            let cols = columnwise(&v.iter().map(|x| x.single.clone()).collect::<Vec<_>>());
            let m: Vec<f64> = cols.iter().map(|c| mean(c)).collect();
            single_plot =
                single_plot.series(Series::new(format!("{arch}, mean over seeds"), ks(&m)).markers().band(band(&cols)));
            let base = mean(&v.iter().map(|x| x.baseline).collect::<Vec<_>>());
            single_plot = single_plot.series(
                Series::new(
                    format!("{arch}, nothing deleted"),
                    vec![(0.0, base), ((cols.len().max(1) - 1) as f64, base)],
                )
                .dashed(),
            );
            let cv = curve(v);
            let errs: Vec<(f64, f64, f64)> = (0..cv.k.len())
                .map(|j| (cv.k[j] as f64, cv.mean[j] - 2.0 * cv.se(j), cv.mean[j] + 2.0 * cv.se(j)))
                .collect();
            random_plot = random_plot.series(
                Series::new(
                    format!("{arch}, mean over seeds and draws"),
                    cv.k.iter().zip(&cv.mean).map(|(&k, &a)| (k as f64, a)).collect(),
                )
                .markers()
                .error_bars(errs)
                .color(i),
            );
        }
        if chance.is_finite() {
            random_plot = random_plot
                .series(Series::new("chance (most frequent class)", vec![(0.0, chance), (n as f64, chance)]).dashed());
        }

        let note = format!(
            "90% of the residual nets' gradient mass comes from paths of {lo}..{hi} blocks (peak {}), {} of all paths, against a median path length of {}; deleting one residual block costs {} on average, one plain layer {}.",
            peak.map_or("n/a".into(), |k| k.to_string()),
            format_args!("{:.3}%", 100.0 * in_range),
            num(median),
            pts(res_cost),
            pts(plain_cost)
        );
        notes.push("'Monotonically within noise' is fixed in code (Curve::rises): a(k) may rise from k to k+1 by no more than twice the standard error of the difference, where each a(k)'s standard error is the larger of the binomial error of the M x N test examples scored (M evaluations: seeds x draws; N = the lesion probe's examples) and the measured spread over those evaluations divided by sqrt(M). The spread is included because which blocks a draw deletes is itself a source of noise in a(k).".into());
        notes.push("Lesions are scored on the lesion probe's first 500 test images (one image is 0.2 points); the intact net's accuracy on the same images is the baseline each cost is measured from.".into());
        Ok(Findings {
            tables: vec![t_nets, t_k],
            figures: vec![
                Figure::new(
                    "Gradient mass by path length",
                    format!("The share of ||dL/dh_0|| carried by all paths of length k, m(k) C(n, k), normalised to sum to 1, mean over {} seeds (band: their range), beside the share of paths of length k. The shortest range holding 90% of the mean mass is {lo}..{hi}.", res.len()),
                    mass_plot.to_svg(),
                ),
                Figure::new(
                    "Gradient per path",
                    "m(k): the norm of the gradient at the stack input through one path of k blocks (branches of k blocks, skips of the others), mean over draws and batches; mean over seeds, band their range.",
                    per_path_plot.to_svg(),
                ),
                Figure::new(
                    "Deleting one layer",
                    "Accuracy on the lesion probe's test images with layer i deleted (a residual block's branch dropped; a plain layer passed through), mean over seeds (band: their range); dashed: the intact nets.",
                    single_plot.to_svg(),
                ),
                Figure::new(
                    "Deleting k random layers",
                    "Mean accuracy over seeds and 3 random draws per seed; error bars: ±2 standard errors as the rule defines them.",
                    random_plot.to_svg(),
                ),
            ],
            measured,
            note,
            notes,
        })
    }
}
