//! C6 effective-depth: residual nets behave like ensembles of shallow paths (Veit, Wilber,
//! Belongie 2016). A 54-block residual MLP trained on MNIST: where its gradient comes from
//! (the paths probe: gradient mass by path length), and what deleting blocks does to it (the
//! lesion probe), beside a 15-layer plain net whose layers cannot be deleted without harm.

use super::figure::over_seeds;
use super::fmt::{num, pct};
use super::recipes::mnist;
use super::{
    Claim, Configs, Experiment, Figure, Findings, Measure, Params, PerScale, Protocol, Run, RunSet, Scale, Table,
};
use crate::plot::{LinePlot, Series};
use crate::probe::lesion::Lesion;
use crate::probe::paths::{shortest_interval, PathLength, Paths};
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
/// the cost. At paper scale the example's 5 epochs (and more seeds); the tiny nets are a few
/// steps on MNIST-1D, for the pipeline's test.
const CONFIGS: Configs = Configs {
    base: r#"
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
"#,
    quick: &[],
    paper: &["train.epochs = 5"],
    tiny: &[
        mnist::TINY_DATA,
        "model.depth = 6",
        "model.width = 8",
        r#"optim = { lr = 0.003, optimizer = { kind = "adam" } }"#,
        "train = { epochs = 1, batch_size = 64 }",
    ],
};

/// The plain net shares everything with the residual one but its 15 layers (3 in the tiny
/// test), He init (the usual one for relu plain nets; it keeps the forward signal at depth 15)
/// and the absence of skips.
fn plain(p: &Params) -> Vec<String> {
    let depth = if p.scale == Scale::Tiny { 3 } else { PLAIN_DEPTH };
    vec!["model.arch=\"plain\"".into(), format!("model.depth={depth}"), "model.init={kind=\"he\"}".into()]
}

/// The run of `arch` ("residual" or "plain") with `seed`, and its probes.
fn run(p: &Params, arch: &str, seed: u64) -> RunRequest {
    let residual = arch == "residual";
    let mut sets = if residual { vec![] } else { plain(p) };
    sets.push(format!("seed={seed}"));
    let cfg = CONFIGS.at(p.scale, &sets);
    let depth = cfg.model.depth;
    let probes: &[ProbeKind] = if residual { &[ProbeKind::Paths, ProbeKind::Lesion] } else { &[ProbeKind::Lesion] };
    RunRequest::train(cfg, format!("C6 {arch} depth {depth} seed {seed}")).with_probes(probes)
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
    /// The residual nets' paths probe.
    paths: Option<Paths>,
}

fn read_net(r: &Run, seed: u64, with_paths: bool) -> Result<Net, String> {
    let l = r.probe::<Lesion>()?;
    let acc = |a: Option<f64>| a.unwrap_or(f64::NAN);
    Ok(Net {
        seed,
        test_accuracy: acc(r.summary().test_accuracy),
        examples: l.examples as f64,
        chance: acc(l.chance_accuracy),
        baseline: acc(l.baseline.accuracy),
        single: l.single.iter().map(|s| acc(s.accuracy)).collect(),
        random: l.random.iter().map(|k| k.draws.iter().map(|(_, d)| acc(d.accuracy)).collect()).collect(),
        paths: if with_paths { Some(r.probe::<Paths>()?) } else { None },
    })
}

const ARCHS: [&str; 2] = ["residual", "plain"];
/// Indices into ARCHS.
const RESIDUAL: usize = 0;
const PLAIN: usize = 1;

/// Per arch (ARCHS) and seed, the trained net; None where the run diverged (it has no probes).
struct Data {
    seeds: Vec<u64>,
    by_arch: [Vec<Option<Net>>; 2],
}

fn read(p: &Params, runs: &RunSet) -> Result<Data, String> {
    let seeds = CLAIM.seeds(p);
    let mut by_arch: [Vec<Option<Net>>; 2] = Default::default();
    for (arch, v) in ARCHS.iter().zip(by_arch.iter_mut()) {
        for &s in &seeds {
            let r = runs.get(&run(p, arch, s))?;
            v.push(if r.diverged() { None } else { Some(read_net(&r, s, *arch == "residual")?) });
        }
    }
    Ok(Data { seeds, by_arch })
}

impl Data {
    fn all(&self) -> Vec<usize> {
        (0..self.seeds.len()).collect()
    }

    /// The nets of ARCHS[a] among `seeds` that trained to the end.
    fn nets(&self, a: usize, seeds: &[usize]) -> Vec<&Net> {
        seeds.iter().filter_map(|&i| self.by_arch[a][i].as_ref()).collect()
    }

    /// The seeds whose run of ARCHS[a] diverged.
    fn diverged(&self, a: usize) -> Vec<u64> {
        self.seeds.iter().zip(&self.by_arch[a]).filter(|(_, n)| n.is_none()).map(|(s, _)| *s).collect()
    }
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

fn curve(nets: &[&Net]) -> Curve {
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

/// Per path length k = 0..n, `field` of each net's paths probe (columns: one value per net).
fn per_length(nets: &[&Net], field: fn(&PathLength) -> f64) -> Vec<Vec<f64>> {
    let rows: Vec<Vec<f64>> =
        nets.iter().filter_map(|x| x.paths.as_ref()).map(|p| p.lengths.iter().map(field).collect()).collect();
    columnwise(&rows)
}

fn columnwise(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = rows.iter().map(|r| r.len()).min().unwrap_or(0);
    (0..n).map(|k| rows.iter().map(|r| r[k]).collect()).collect()
}

/// Where the residual nets' gradient comes from: the mass by path length, mean over nets, and
/// the shortest range of lengths holding MASS of it.
struct Mass {
    /// Per length k = 0..n, the share of the gradient mass of each net (total_fraction).
    per_net: Vec<Vec<f64>>,
    mean: Vec<f64>,
    /// The share of all paths that have length k.
    fraction: Vec<f64>,
    /// Blocks, and the median path length n/2.
    n: usize,
    median: f64,
    range: [usize; 2],
    /// The share of the mean mass the range holds (not finite: no paths measured).
    held: f64,
}

impl Mass {
    fn of(res: &[&Net]) -> Mass {
        let per_net = per_length(res, |l| l.total_fraction);
        let mean_mass: Vec<f64> = per_net.iter().map(|v| mean(v)).collect();
        let fraction = per_length(res, |l| l.path_fraction).iter().map(|v| mean(v)).collect();
        let n = mean_mass.len().saturating_sub(1);
        let (range, held) = shortest_interval(&mean_mass, MASS);
        Mass { per_net, mean: mean_mass, fraction, n, median: n as f64 / 2.0, range, held }
    }

    fn found(&self) -> bool {
        !self.mean.is_empty() && self.held.is_finite()
    }

    /// The share of all paths whose length lies in the range.
    fn paths_in_range(&self) -> f64 {
        let [lo, hi] = self.range;
        if self.found() {
            self.fraction[lo..=hi].iter().sum()
        } else {
            f64::NAN
        }
    }

    /// The path length of the largest mass.
    fn peak(&self) -> Option<usize> {
        self.mean.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(k, _)| k)
    }
}

/// What the rule reads, over some seeds.
struct Reading {
    /// Mean test accuracy per arch (ARCHS), and whether it shows a trained net.
    accuracy: [f64; 2],
    trained: [bool; 2],
    mass: Mass,
    /// Mean accuracy cost of one deletion per arch.
    cost: [f64; 2],
    /// The residual nets' random-deletion curve, and its rise most above its tolerance.
    curve: Curve,
    worst: Option<(usize, f64, f64)>,
}

fn reading(data: &Data, seeds: &[usize]) -> Reading {
    let nets = [data.nets(RESIDUAL, seeds), data.nets(PLAIN, seeds)];
    let accuracy = nets.each_ref().map(|v| mean(&v.iter().map(|x| x.test_accuracy).collect::<Vec<_>>()));
    let curve = curve(&nets[RESIDUAL]);
    let worst = curve.rises().into_iter().max_by(|a, b| (a.1 - a.2).total_cmp(&(b.1 - b.2)));
    Reading {
        accuracy,
        trained: accuracy.map(|a| a >= TRAINED),
        mass: Mass::of(&nets[RESIDUAL]),
        cost: nets.each_ref().map(|v| mean(&v.iter().map(|x| single_cost(x)).collect::<Vec<_>>())),
        curve,
        worst,
    }
}

/// The rule over `seeds`.
fn judge(data: &Data, seeds: &[usize]) -> Vec<Measure> {
    measures(&reading(data, seeds))
}

fn measures(r: &Reading) -> Vec<Measure> {
    let m = &r.mass;
    let [lo, hi] = m.range;
    let [res_cost, plain_cost] = [r.cost[RESIDUAL], r.cost[PLAIN]];
    let excess = r.worst.map_or(f64::NAN, |w| w.1 - w.2);
    let judged = |v: f64, ok: bool, trained: bool| (v.is_finite() && trained).then_some(ok);
    let in_range = m.paths_in_range();
    let peak = m.peak();
    vec![
        Measure::new(
            "upper end of the shortest range holding 90% of the gradient mass (path length)",
            hi as f64,
            if m.found() {
                format!("{lo}..{hi} (holds {}); median path length {}", pct(m.held), num(m.median))
            } else {
                "n/a".into()
            },
        )
        .must(format!("< {} (n/2)", num(m.median)), m.found().then_some((hi as f64) < m.median)),
        Measure::new("mean accuracy cost of deleting one residual block", res_cost, points(res_cost))
            .must("< 2 points", judged(res_cost, res_cost < 0.02, r.trained[RESIDUAL])),
        Measure::new("mean accuracy cost of deleting one plain layer", plain_cost, points(plain_cost))
            .must("> 20 points", judged(plain_cost, plain_cost > 0.20, r.trained[PLAIN])),
        Measure::new(
            "largest rise a(k+1) - a(k) of residual accuracy with k random blocks deleted, less its tolerance",
            excess,
            r.worst.map_or("n/a".into(), |(k, rise, t)| {
                format!("{} at k = {k} -> {} (rise {}, tolerance {})", points(rise - t), k + 1, pp(rise), pp(t))
            }),
        )
        .must("<= 0", judged(excess, excess <= 0.0, r.trained[RESIDUAL])),
        Measure::new(
            format!("residual test accuracy (trained if >= {})", pct(TRAINED)),
            r.accuracy[RESIDUAL],
            pct(r.accuracy[RESIDUAL]),
        ),
        Measure::new(
            format!("plain test accuracy (trained if >= {})", pct(TRAINED)),
            r.accuracy[PLAIN],
            pct(r.accuracy[PLAIN]),
        ),
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
    ]
}

fn nets_table(data: &Data) -> Table {
    let mut t = Table::new(
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
    for (a, arch) in ARCHS.iter().enumerate() {
        for x in data.nets(a, &data.all()) {
            let worst_single = x.single.iter().copied().fold(f64::INFINITY, f64::min);
            let (range, peak, slope) = match &x.paths {
                Some(p) => (
                    format!("{}..{}", p.effective_range[0], p.effective_range[1]),
                    p.peak.to_string(),
                    num(p.per_path_log_slope),
                ),
                None => ("".into(), "".into(), "".into()),
            };
            t.row(vec![
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
    t
}

/// a(k) at the steps worth showing: the first ten, every fourth, the last, and every rise past
/// its tolerance.
fn deletions_table(r: &Reading) -> Table {
    let (c, n) = (&r.curve, r.mass.n);
    let rises = c.rises();
    let mut t = Table::new(
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
        t.row(vec![k.to_string(), pct(c.mean[i]), pp(c.sd[i]), c.evals[i].to_string(), rise, tol]);
    }
    t
}

/// (k, y) for k = 0, 1, ...
fn ks(v: &[f64]) -> Vec<(f64, f64)> {
    v.iter().enumerate().map(|(k, &y)| (k as f64, y)).collect()
}

/// `cols` (one per k = 0, 1, ...) as a mean over seeds in a band spanning them.
fn over_k(name: impl Into<String>, cols: &[Vec<f64>]) -> Series {
    over_seeds(name, cols.iter().enumerate().map(|(k, v)| (k as f64, v.clone()))).markers()
}

fn path_figures(data: &Data, m: &Mass) -> Vec<Figure> {
    let res = data.nets(RESIDUAL, &data.all());
    let ([lo, hi], n) = (m.range, m.n);
    let mass = LinePlot::new(
        format!("Gradient mass by path length ({n} blocks): 90% in {lo}..{hi}, median length {}", num(m.median)),
        "path length k (blocks whose branch the path passes)",
        "share of the total",
    )
    .series(over_k("gradient mass m(k) C(n,k)", &m.per_net))
    .series(Series::new("paths C(n,k) / 2^n", ks(&m.fraction)).dashed());
    let per_path =
        LinePlot::new("Gradient through one path of length k", "path length k (blocks)", "||dL/dh_0|| per path")
            .log_y(true)
            .series(over_k("m(k), mean over seeds", &per_length(&res, |l| l.per_path)));
    vec![
        Figure::new(
            "Gradient mass by path length",
            format!("The share of ||dL/dh_0|| carried by all paths of length k, m(k) C(n, k), normalised to sum to 1, mean over {} seeds (band: their range), beside the share of paths of length k. The shortest range holding 90% of the mean mass is {lo}..{hi}.", res.len()),
            mass.to_svg(),
        ),
        Figure::new(
            "Gradient per path",
            "m(k): the norm of the gradient at the stack input through one path of k blocks (branches of k blocks, skips of the others), mean over draws and batches; mean over seeds, band their range.",
            per_path.to_svg(),
        ),
    ]
}

fn lesion_figures(data: &Data, n: usize) -> Vec<Figure> {
    let mut single =
        LinePlot::new("Test accuracy with one layer deleted", "deleted layer (index in the stack)", "test accuracy")
            .y_range(0.0, 1.0);
    let mut random =
        LinePlot::new("Test accuracy with k random layers deleted", "k (layers deleted at random)", "test accuracy")
            .y_range(0.0, 1.0);
    let mut chance = f64::NAN;
    for (i, arch) in ARCHS.iter().enumerate() {
        let v = data.nets(i, &data.all());
        if v.is_empty() {
            continue;
        }
        chance = v[0].chance;
        let cols = columnwise(&v.iter().map(|x| x.single.clone()).collect::<Vec<_>>());
        let base = mean(&v.iter().map(|x| x.baseline).collect::<Vec<_>>());
        let last = (cols.len().max(1) - 1) as f64;
        single = single
            .series(over_k(format!("{arch}, mean over seeds"), &cols))
            .series(Series::new(format!("{arch}, nothing deleted"), vec![(0.0, base), (last, base)]).dashed());
        let c = curve(&v);
        let errs = (0..c.k.len()).map(|j| (c.k[j] as f64, c.mean[j] - 2.0 * c.se(j), c.mean[j] + 2.0 * c.se(j)));
        let pts = c.k.iter().zip(&c.mean).map(|(&k, &a)| (k as f64, a)).collect();
        random = random.series(
            Series::new(format!("{arch}, mean over seeds and draws"), pts)
                .markers()
                .error_bars(errs.collect())
                .color(i),
        );
    }
    if chance.is_finite() {
        random = random
            .series(Series::new("chance (most frequent class)", vec![(0.0, chance), (n as f64, chance)]).dashed());
    }
    vec![
        Figure::new(
            "Deleting one layer",
            "Accuracy on the lesion probe's test images with layer i deleted (a residual block's branch dropped; a plain layer passed through), mean over seeds (band: their range); dashed: the intact nets.",
            single.to_svg(),
        ),
        Figure::new(
            "Deleting k random layers",
            "Mean accuracy over seeds and 3 random draws per seed; error bars: ±2 standard errors as the rule defines them.",
            random.to_svg(),
        ),
    ]
}

fn note(r: &Reading) -> String {
    let [lo, hi] = r.mass.range;
    format!(
        "90% of the residual nets' gradient mass comes from paths of {lo}..{hi} blocks (peak {}), {} of all paths, against a median path length of {}; deleting one residual block costs {} on average, one plain layer {}.",
        r.mass.peak().map_or("n/a".into(), |k| k.to_string()),
        format_args!("{:.3}%", 100.0 * r.mass.paths_in_range()),
        num(r.mass.median),
        points(r.cost[RESIDUAL]),
        points(r.cost[PLAIN])
    )
}

fn notes(data: &Data, r: &Reading) -> Vec<String> {
    let mut notes = Vec::new();
    for (a, arch) in ARCHS.iter().enumerate() {
        let d = data.diverged(a);
        if !d.is_empty() {
            notes.push(format!("The {arch} runs of seeds {d:?} diverged; the analysis uses the others."));
        }
    }
    if !r.trained.iter().all(|t| *t) {
        notes.push(format!(
            "A net that did not reach {} test accuracy did not train; the lesion conditions on it are not judged (inconclusive), since deleting a layer of an untrained net says nothing about trained ones.",
            pct(TRAINED)
        ));
    }
    notes.push("'Monotonically within noise' is fixed in code (Curve::rises): a(k) may rise from k to k+1 by no more than twice the standard error of the difference, where each a(k)'s standard error is the larger of the binomial error of the M x N test examples scored (M evaluations: seeds x draws; N = the lesion probe's examples) and the measured spread over those evaluations divided by sqrt(M). The spread is included because which blocks a draw deletes is itself a source of noise in a(k).".into());
    notes.push("Lesions are scored on the lesion probe's first 500 test images (one image is 0.2 points); the intact net's accuracy on the same images is the baseline each cost is measured from.".into());
    notes
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
    anchor_headline: "Veit et al.: gradient from paths of 5-17 blocks of 54; one block deleted barely matters",
    seeds: PerScale { quick: 3, paper: 5, tiny: 1 },
    protocol: Protocol::UNCHANGED,
};

impl Experiment for C6 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let s = CLAIM.seeds(p).len();
        match p.scale {
            Scale::Quick => format!("A residual MLP of {BLOCKS} blocks (examples/mnist-residual54.toml: width 64, relu, two-layer branches, Gaussian init sigma_w^2 = 0.5) and a plain relu net of {PLAIN_DEPTH} layers of width 64 (He init; Veit's plain comparison is a 15-layer VGG net), both trained on all 60,000 MNIST training images for 2 epochs of Adam (lr 1e-3, gradient norm clipped to 5, batch 128), {s} seeds. Two epochs instead of the example's five: the README measured 96.6% test accuracy after five, and after two the net is already trained (about 95%), which is what the claim is about, at 2/5 of the cost. Then the paths probe on 4 training batches (2 draws of block sets per path length) and the lesion probe on the first 500 test images (every single block deleted; 3 random draws of k blocks for k = 1..n). Test accuracy in the tables is on all 10,000 test images."),
            Scale::Paper => format!("As quick, for the example's 5 epochs, {s} seeds. What differs from Veit et al.: MLP blocks on MNIST instead of convolutional ResNet-110 on CIFAR-10, Adam instead of SGD with momentum and weight decay, no batch normalisation; the lesion probe scores 500 test images."),
            Scale::Tiny => format!("A residual net of 6 blocks and a plain net of 3 layers, width 8, one epoch on 300 MNIST-1D examples, {s} seed: a test of the pipeline."),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for arch in ["residual", "plain"] {
            for s in CLAIM.seeds(p) {
                v.push(run(p, arch, s));
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let data = read(p, runs)?;
        let all = data.all();
        let r = reading(&data, &all);
        let (measured, per_seed) = super::by_seed(&CLAIM.seeds(p), |s| judge(&data, s));
        let mut figures = path_figures(&data, &r.mass);
        figures.extend(lesion_figures(&data, r.mass.n));
        Ok(Findings {
            tables: vec![nets_table(&data), deletions_table(&r)],
            figures,
            measured,
            per_seed,
            note: note(&r),
            notes: notes(&data, &r),
            ..Default::default()
        })
    }
}
