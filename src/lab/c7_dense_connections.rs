//! C7 dense-connections: every layer wired to what follows. Dense stacks (DenseNet-style
//! concatenation with a growth rate, and a plain chain whose every layer feeds the output)
//! against residual and highway stacks on MNIST, each sized to the same parameter budgets at
//! several depths: which reaches a given test accuracy with fewer parameters.

use super::fmt::{mean_pm, num, pct};
use super::recipes::mnist;
use super::{
    by_seed, Claim, Configs, Experiment, Figure, Findings, Measure, Params, PerScale, Protocol, RunSet, Scale, Table,
};
use crate::plot::{LinePlot, Series};
use crate::stats::{mean, min_max, std};
use crate::sweep::RunRequest;
use crate::train::budget::{dims, model_size};

pub struct C7;

const ARCHS: [&str; 4] = ["dense", "dense_to_output", "residual", "highway"];
/// The dense net that the rule judges: DenseNet's concatenation (the anchor's architecture).
const JUDGED: &str = "dense";
/// Dense reaches the best residual accuracy with at most this share of its parameters.
const RATIO: f64 = 2.0 / 3.0;

/// C4's model and optimiser (the recipe: the CPU reference of Srivastava et al.'s highway
/// experiments), so that the four stacks differ here only in how they are wired and sized;
/// 20,000 training images for 5 epochs (780 steps) keep 72 runs cheap, and all 10,000 test
/// images make the accuracy's binomial error about 0.25 points. At paper scale Huang et al.'s
/// training as far as an MLP goes: SGD with Nesterov momentum 0.9, weight decay 1e-4, batch
/// 64, lr 0.1 divided by 10 halfway (they divide again at 75%), all of MNIST; 40 epochs instead
/// of 300. The runs set arch, depth and width (and the growth rate of the dense ones).
const CONFIGS: Configs = Configs {
    base: mnist::CPU_REFERENCE,
    quick: &[
        r#"data = { name = "mnist", train_subset = 20000 }"#,
        "model.growth = 8",
        "train = { epochs = 5, batch_size = 128, checkpoint_every = 5 }",
    ],
    paper: &[
        r#"data = { name = "mnist" }"#,
        "model.growth = 8",
        r#"optim = { lr = 0.1, optimizer = { kind = "sgd", momentum = 0.9, nesterov = true, weight_decay = 0.0001 }, schedule = { kind = "step", every = 18760, gamma = 0.1 }, clip_grad_norm = 5.0 }"#,
        "train = { epochs = 40, batch_size = 64, checkpoint_every = 10 }",
    ],
    tiny: &[mnist::TINY_DATA, "model.growth = 4", mnist::TINY_OPTIM, "train = { epochs = 1, batch_size = 64 }"],
};

/// The parameter budgets, each twice the last, and the depths at each scale.
fn grid(p: &Params) -> (Vec<usize>, Vec<usize>) {
    match p.scale {
        Scale::Quick => (vec![12_500, 25_000, 50_000], vec![4, 8, 16]),
        Scale::Paper => (vec![25_000, 50_000, 100_000, 200_000], vec![4, 8, 16, 32, 64]),
        Scale::Tiny => (vec![700, 1_400, 2_800], vec![1, 2]),
    }
}

/// The bootstrap of the ratio over seeds: an 80% percentile interval from this many resamples,
/// drawn by a generator of this seed so that the interval is the same on every run.
const LEVEL: f64 = 0.8;
const DRAWS: usize = 2000;
const BOOTSTRAP_SEED: u64 = 7;

/// The bootstrap's stand-in for "dense does not reach the target within the budgets tried":
/// finite, so that the resample is counted, and above every bar.
const NOT_REACHED: f64 = f64::MAX;

/// One configuration of the grid, sized to its budget.
#[derive(Clone, Debug, PartialEq)]
struct Sized {
    arch: &'static str,
    depth: usize,
    budget: usize,
    /// The stem's width (the stack input's, for dense stacks).
    width: usize,
    /// Dense only: features each layer adds.
    growth: usize,
    /// Exact, as the model will have them (train::budget::model_size).
    params: usize,
}

/// The width whose exact parameter count is closest to `budget` (the smaller on ties). Dense
/// stacks get a growth rate k and a stem width near 2k, as DenseNet-BC's first layer has 2k
/// channels: the pair (k, width in [1.5k, 2.5k]) closest to the budget, nearest to 2k on ties;
/// the stem's freedom keeps the count close to the budget where one step of k is coarse.
fn size(p: &Params, arch: &'static str, depth: usize, budget: usize) -> Sized {
    let cfg = CONFIGS.at(p.scale, &[format!("model.arch=\"{arch}\""), format!("model.depth={depth}")]);
    let d = dims(&cfg);
    let count = |width: usize, growth: usize| {
        let mut m = cfg.model.clone();
        m.width = width;
        if arch == "dense" {
            m.growth = growth;
        }
        model_size(&m, &d).0 as usize
    };
    let mut best: Option<(usize, usize, Sized)> = None;
    let mut consider = |width: usize, growth: usize| -> usize {
        let params = count(width, growth);
        let key = (params.abs_diff(budget), (2 * growth).abs_diff(width));
        if best.as_ref().is_none_or(|b| key < (b.0, b.1)) {
            best = Some((key.0, key.1, Sized { arch, depth, budget, width, growth, params }));
        }
        params
    };
    // Every count grows with the width and the growth rate, so each search stops past the budget.
    if arch == "dense" {
        for k in 1..=budget {
            if count((3 * k).div_ceil(2), k) > budget {
                consider((3 * k).div_ceil(2), k);
                break;
            }
            for w in (3 * k).div_ceil(2)..=(5 * k) / 2 {
                if consider(w, k) >= budget {
                    break;
                }
            }
        }
    } else {
        for w in 1..=budget {
            if consider(w, 0) >= budget {
                break;
            }
        }
    }
    best.expect("one width is always tried").2
}

fn run(p: &Params, s: &Sized, seed: u64) -> RunRequest {
    let mut sets = vec![
        format!("seed={seed}"),
        format!("model.arch=\"{}\"", s.arch),
        format!("model.depth={}", s.depth),
        format!("model.width={}", s.width),
    ];
    if s.arch == "dense" {
        sets.push(format!("model.growth={}", s.growth));
    }
    let label = if s.arch == "dense" {
        format!("C7 dense depth {} growth {} width {} ({} params) seed {seed}", s.depth, s.growth, s.width, s.params)
    } else {
        format!("C7 {} depth {} width {} ({} params) seed {seed}", s.arch, s.depth, s.width, s.params)
    };
    RunRequest::train(CONFIGS.at(p.scale, &sets), label)
}

fn configs(p: &Params) -> Vec<Sized> {
    let (budgets, depths) = grid(p);
    let mut v = Vec::new();
    for arch in ARCHS {
        for &b in &budgets {
            for &d in &depths {
                v.push(size(p, arch, d, b));
            }
        }
    }
    v
}

/// A configuration's test accuracy per seed (NaN where the run diverged).
struct Cell {
    s: Sized,
    acc: Vec<f64>,
}

impl Cell {
    fn mean(&self) -> f64 {
        mean(&self.acc)
    }
}

/// Every configuration's accuracies, and a note for each run that diverged.
fn read(p: &Params, runs: &RunSet) -> Result<(Vec<Cell>, Vec<String>), String> {
    let (mut cells, mut diverged) = (Vec::new(), Vec::new());
    for s in configs(p) {
        let mut acc = Vec::new();
        for seed in CLAIM.seeds(p) {
            let r = runs.get(&run(p, &s, seed))?;
            if r.summary().params != s.params {
                return Err(format!(
                    "run {} has {} parameters, but its configuration was sized to {}: train::budget::model_size and the model disagree",
                    r.id,
                    r.summary().params,
                    s.params
                ));
            }
            if r.diverged() {
                diverged.push(format!("{} seed {seed} diverged; its accuracy is left out.", r.id));
            }
            acc.push(mnist::test_accuracy(&r)?);
        }
        cells.push(Cell { s, acc });
    }
    Ok((cells, diverged))
}

/// The best configuration of `arch` (highest mean test accuracy; fewer parameters on ties).
fn best<'a>(cells: &'a [Cell], arch: &str) -> Option<&'a Cell> {
    cells
        .iter()
        .filter(|c| c.s.arch == arch && c.mean().is_finite())
        .max_by(|a, b| a.mean().total_cmp(&b.mean()).then(b.s.params.cmp(&a.s.params)))
}

fn describe(c: &Cell) -> String {
    let g = if c.s.arch == "dense" { format!(", growth {}", c.s.growth) } else { String::new() };
    format!(
        "{} depth {} (width {}{g}, {} params): {}",
        c.s.arch,
        c.s.depth,
        c.s.width,
        c.s.params,
        mean_pm(&c.acc, pct)
    )
}

/// A family's accuracy against parameters: at each budget (in order) the depth of highest
/// mean test accuracy, as (its exact parameters, that mean); budgets where every run diverged
/// are left out. Between the points the curve is linear in log parameters.
fn curve(cells: &[Cell], arch: &str) -> Vec<(f64, f64)> {
    let mut budgets: Vec<usize> = cells.iter().filter(|c| c.s.arch == arch).map(|c| c.s.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    budgets
        .into_iter()
        .filter_map(|b| {
            let at = cells.iter().filter(|c| c.s.arch == arch && c.s.budget == b && c.mean().is_finite());
            at.max_by(|x, y| x.mean().total_cmp(&y.mean()).then(y.s.params.cmp(&x.s.params)))
                .map(|c| (c.s.params as f64, c.mean()))
        })
        .collect()
}

/// Where a family's curve first reaches `target`: the parameters, interpolated linearly in log
/// parameters between the two budgets around the crossing. A curve already at the target at
/// its smallest budget reaches it there (the crossing may lie lower: the ratio is then an upper
/// bound); one that never reaches it: None.
fn reach(curve: &[(f64, f64)], target: f64) -> Option<f64> {
    let first = curve.first()?;
    if first.1 >= target {
        return Some(first.0);
    }
    curve.windows(2).find(|w| w[0].1 < target && w[1].1 >= target).map(|w| {
        let ((p0, a0), (p1, a1)) = (w[0], w[1]);
        (p0.ln() + (target - a0) / (a1 - a0) * (p1.ln() - p0.ln())).exp()
    })
}

/// The highest point of the residual curve (fewer parameters on ties): (parameters, accuracy).
fn peak(curve: &[(f64, f64)]) -> Option<(f64, f64)> {
    curve.iter().copied().reduce(|best, x| if x.1 > best.1 { x } else { best })
}

/// The ratio the rule reads: `arch`'s parameters where its curve reaches the residual curve's
/// highest accuracy, over the residual net's parameters there; infinite where it never reaches
/// it, NaN where there is no residual curve.
fn ratio(cells: &[Cell], arch: &str) -> f64 {
    match peak(&curve(cells, "residual")) {
        Some((p_r, target)) => reach(&curve(cells, arch), target).map_or(f64::INFINITY, |p| p / p_r),
        None => f64::NAN,
    }
}

/// The configurations with the accuracies of `seeds` alone (indices into each cell's seeds,
/// repeats allowed: a bootstrap resample).
fn of_seeds(cells: &[Cell], seeds: &[usize]) -> Vec<Cell> {
    cells.iter().map(|c| Cell { s: c.s.clone(), acc: seeds.iter().map(|&i| c.acc[i]).collect() }).collect()
}

/// The ratio of `arch` over `seeds`, and its 80% bootstrap interval over resamples of those
/// seeds (the best depth per budget chosen anew in each; NOT_REACHED where dense never
/// reaches the target).
fn ratio_with_interval(cells: &[Cell], arch: &str, seeds: &[usize]) -> (f64, Option<(f64, f64)>) {
    let r = ratio(&of_seeds(cells, seeds), arch);
    let interval = crate::stats::bootstrap(seeds.len(), DRAWS, LEVEL, BOOTSTRAP_SEED, |pick| {
        let picked: Vec<usize> = pick.iter().map(|&i| seeds[i]).collect();
        let r = ratio(&of_seeds(cells, &picked), arch);
        if r == f64::INFINITY {
            NOT_REACHED
        } else {
            r
        }
    });
    (r, interval)
}

/// A ratio as shown: "not reached" where the curve never reaches the target (infinite, or the
/// bootstrap's stand-in).
fn show_ratio(r: f64) -> String {
    if r >= NOT_REACHED {
        "not reached".into()
    } else {
        num(r)
    }
}

/// The rule's three outcomes: holds if the ratio is at most 2/3 and its interval's upper end
/// below 1; did not hold if the lower end is above 2/3; else (or nothing to judge)
/// inconclusive.
fn decision(r: f64, interval: Option<(f64, f64)>) -> Option<bool> {
    let (lo, hi) = interval?;
    if r.is_nan() {
        None
    } else if r <= RATIO && hi < 1.0 {
        Some(true)
    } else if lo > RATIO {
        Some(false)
    } else {
        None
    }
}

fn interval_shown(interval: Option<(f64, f64)>) -> String {
    interval.map_or("no interval".into(), |(lo, hi)| {
        format!("{:.0}% interval {} to {}", 100.0 * LEVEL, show_ratio(lo), show_ratio(hi))
    })
}

/// The rule over `seeds`.
fn judge(cells: &[Cell], seeds: &[usize]) -> Vec<Measure> {
    let picked = of_seeds(cells, seeds);
    let res = curve(&picked, "residual");
    let (p_r, target) = peak(&res).unwrap_or((f64::NAN, f64::NAN));
    let (r, interval) = ratio_with_interval(cells, JUDGED, seeds);
    let reached = reach(&curve(&picked, JUDGED), target);
    // One seed alone has no spread to resample: its interval is the ratio itself.
    let spread = if seeds.len() > 1 { interval_shown(interval) } else { "one seed".into() };
    // The bootstrap's stand-in is not a number a reader should see: "not reached" is infinite
    // (null in verdicts.json).
    let stand_in = |v: f64| if v >= NOT_REACHED { f64::INFINITY } else { v };
    let (lo, hi) = interval.map_or((f64::NAN, f64::NAN), |(lo, hi)| (stand_in(lo), stand_in(hi)));
    let mut measured = vec![
        Measure::new("best residual accuracy (the highest point of its curve)", target, pct(target)),
        Measure::new(
            "dense parameters at the best residual accuracy / the residual's",
            r,
            format!("{} ({spread})", show_ratio(r)),
        )
        .against(
            format!("<= 2/3 and {:.0}% interval below 1 (held); interval above 2/3: did not hold", 100.0 * LEVEL),
            RATIO,
            decision(r, interval),
        )
        .headline(),
        Measure::new(
            "parameters where the curves reach the best residual accuracy",
            reached.unwrap_or(f64::INFINITY),
            format!("dense {}, residual {p_r:.0}", reached.map_or("at no budget tried".into(), |p| format!("{p:.0}"))),
        ),
        Measure::new("the ratio's interval, lower end", lo, show_ratio(lo)),
        Measure::new("the ratio's interval, upper end", hi, show_ratio(hi)),
    ];
    for arch in ["dense_to_output", "highway"] {
        let r = ratio(&picked, arch);
        measured.push(Measure::new(format!("the same ratio for {arch} (not judged)"), r, num(r)));
    }
    for arch in ARCHS {
        if let Some(b) = best(&picked, arch) {
            measured.push(Measure::new(format!("best {arch} configuration"), b.mean(), describe(b)));
        }
    }
    measured
}

/// The control of a failure, from the runs: whether the budgets resolve a 2/3 advantage, read
/// from the residual curve's own rise against the seeds' spread.
fn control(cells: &[Cell]) -> String {
    let res = curve(cells, "residual");
    let (Some(&(p0, a0)), Some(&(p1, a1))) = (res.first(), res.last()) else {
        return String::new();
    };
    let per_doubling = (a1 - a0) / (p1 / p0).log2();
    let spread = cells
        .iter()
        .filter(|c| c.s.arch == "residual" || c.s.arch == JUDGED)
        .map(|c| std(&c.acc))
        .fold(f64::NAN, f64::max);
    format!(
        "the residual curve rises from {} at {p0:.0} parameters to {} at {p1:.0}, {} points per doubling, so a net with 2/3 of the parameters would be about {} points less accurate, against a largest standard deviation over seeds of {} points among the residual and dense configurations.",
        pct(a0),
        pct(a1),
        num(100.0 * per_doubling),
        num(100.0 * per_doubling * 1.5f64.log2()),
        num(100.0 * spread)
    )
}

/// What would decide an inconclusive verdict: seeds that split, or an interval across a bar
/// and the number of seeds that would narrow it past the bar if the ratio stayed where it is.
fn decide(cells: &[Cell], seeds: &[usize], per_seed: &[(u64, Vec<Measure>)]) -> String {
    let split = super::recipes::mnist::seeds_split(per_seed);
    let (r, interval) = ratio_with_interval(cells, JUDGED, seeds);
    let n = seeds.len() as f64;
    let Some((lo, hi)) = interval else { return "runs that finish: no interval could be drawn.".into() };
    let across = if hi >= NOT_REACHED || r.is_infinite() {
        "in some resamples of the seeds dense does not reach the target within the budgets tried; a larger budget for dense, or more seeds, would decide.".to_string()
    } else {
        // The interval narrows roughly as 1/sqrt(seeds) about the ratio.
        let (half, room, bar) = if r <= RATIO { (hi - r, 1.0 - r, "1") } else { (r - lo, r - RATIO, "2/3") };
        if room <= 0.0 {
            format!("the ratio {} sits on the bar {bar}; no number of seeds decides it if it stays there.", num(r))
        } else {
            let need = (n * (half / room).powi(2)).ceil();
            format!(
                "the {} reaches across {bar}; if the ratio stayed at {}, about {need} seeds would narrow it past.",
                interval_shown(interval),
                num(r)
            )
        }
    };
    if split.is_empty() {
        across
    } else {
        format!("the seeds split on {split}; {across}")
    }
}

/// Test accuracy per (arch, depth) and budget.
fn table(p: &Params, cells: &[Cell]) -> Table {
    let (budgets, depths) = grid(p);
    let mut cols: Vec<String> = vec!["arch".into(), "depth".into()];
    cols.extend(budgets.iter().map(|b| format!("budget {b}")));
    let col_refs: Vec<&str> = cols.iter().map(|s| s.as_str()).collect();
    let mut t = Table::new("Test accuracy at each parameter budget", &col_refs).caption(format!(
        "Mean ± standard deviation over {} seeds on the test images; in brackets the exact parameter count and the width (dense: growth rate / stem width).",
        CLAIM.seeds(p).len()
    ));
    for arch in ARCHS {
        for &d in &depths {
            let mut row = vec![arch.to_string(), d.to_string()];
            for &b in &budgets {
                let c = cells.iter().find(|c| c.s.arch == arch && c.s.depth == d && c.s.budget == b);
                row.push(c.map_or("".into(), |c| {
                    let w = if arch == "dense" {
                        format!("k {} / {}", c.s.growth, c.s.width)
                    } else {
                        format!("w {}", c.s.width)
                    };
                    format!("{} ({}, {w})", mean_pm(&c.acc, pct), c.s.params)
                }));
            }
            t.row(row);
        }
    }
    t
}

/// An error bar at `x` over the seeds' accuracies: their range.
fn bar(x: f64, c: &Cell) -> (f64, f64, f64) {
    let (lo, hi) = min_max(&c.acc);
    (x, lo, hi)
}

/// Accuracy against parameters: per arch, its curve (the best depth at each budget) as a line,
/// every configuration as points; the best residual accuracy, and where the judged dense
/// curve reaches it.
fn by_params(p: &Params, cells: &[Cell]) -> Figure {
    let (budgets, _) = grid(p);
    let (xmin, xmax) = cells.iter().fold((f64::INFINITY, 0.0f64), |(a, b), c| {
        let x = c.s.params as f64;
        (a.min(x), b.max(x))
    });
    let mut plot =
        LinePlot::new("Test accuracy against parameters", "parameters (exact count, log scale)", "test accuracy")
            .log_x(true);
    for (i, arch) in ARCHS.iter().enumerate() {
        let line = curve(cells, arch);
        let bars = budgets
            .iter()
            .filter_map(|&b| {
                let at = cells.iter().filter(|c| c.s.arch == *arch && c.s.budget == b && c.mean().is_finite());
                at.max_by(|x, y| x.mean().total_cmp(&y.mean()).then(y.s.params.cmp(&x.s.params)))
            })
            .map(|c| bar(c.s.params as f64, c))
            .collect();
        let mut all: Vec<(f64, f64)> =
            cells.iter().filter(|c| c.s.arch == *arch).map(|c| (c.s.params as f64, c.mean())).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        plot = plot
            .series(Series::new(format!("{arch}: best depth"), line).markers().error_bars(bars).color(i))
            .series(Series::new(format!("{arch}: every depth"), all).points_only().color(i));
    }
    if let Some((p_r, target)) = peak(&curve(cells, "residual")) {
        plot = plot.series(
            Series::new(format!("best residual ({})", pct(target)), vec![(xmin, target), (xmax, target)]).dashed(),
        );
        let mut at = vec![(p_r, target)];
        at.extend(reach(&curve(cells, JUDGED), target).map(|p_d| (p_d, target)));
        plot = plot.series(Series::new("the two parameter counts the ratio compares", at).points_only());
    }
    Figure::new(
        "Accuracy against parameters",
        format!("Lines: each family's curve, at each budget the depth of highest mean test accuracy (error bars: the range over {} seeds), linear in log parameters between budgets; points: every depth. Dashed: the best residual accuracy; the ratio the rule reads is the parameters where the dense curve reaches it over the residual net's.", CLAIM.seeds(p).len()),
        plot.to_svg(),
    )
}

/// Accuracy against depth at the budget `b`, per arch.
fn at_budget(cells: &[Cell], b: usize) -> Figure {
    let mut plot = LinePlot::new(
        format!("Test accuracy against depth at about {b} parameters"),
        "depth (layers in the stack)",
        "test accuracy",
    )
    .log_x(true);
    for (i, arch) in ARCHS.iter().enumerate() {
        let at: Vec<&Cell> = cells.iter().filter(|c| c.s.arch == *arch && c.s.budget == b).collect();
        let pts = at.iter().map(|c| (c.s.depth as f64, c.mean())).collect();
        let bars = at.iter().map(|c| bar(c.s.depth as f64, c)).collect();
        plot = plot.series(Series::new(*arch, pts).markers().error_bars(bars).color(i));
    }
    Figure::new(
        format!("Depth at a budget of {b} parameters"),
        format!(
            "Each net sized to within a few parameters of {b}; mean test accuracy over seeds, error bars their range."
        ),
        plot.to_svg(),
    )
}

fn notes(p: &Params, cells: &[Cell]) -> Vec<String> {
    let mut notes = Vec::new();
    // How much of the best residual net the stem holds: MNIST's 784 inputs make it most.
    if let Some(c) = best(cells, "residual").filter(|_| p.scale != Scale::Tiny) {
        let input = dims(&run(p, &c.s, 1).config).input;
        notes.push(format!(
            "The stem (784 inputs to the first width) holds {} of the best residual net's parameters: at these budgets on MNIST, most of what an architecture can trade is the stem's width, which dense nets pay for with their wider heads and concatenated inputs.",
            pct(((input + 1) * c.s.width) as f64 / c.s.params as f64)
        ));
    }
    let spread = cells.iter().map(|c| std(&c.acc)).fold(f64::NAN, f64::max);
    notes.push(format!(
        "Each family's curve takes, at each budget, the depth of highest mean accuracy: a maximum of noisy means, biased upwards. The bootstrap chooses that depth anew in every resample of the seeds, so the interval carries the choice's noise; the largest standard deviation over seeds in the table is {:.2} points. Where the dense curve is at the target already at its smallest budget, its parameters are taken as that budget's (the ratio is then an upper bound); where it never reaches it, the ratio is infinite and the resample counts above every bar.",
        100.0 * spread
    ));
    notes.push("Convolutional DenseNets (Huang et al.'s setting: convolutions, batch normalisation, transition layers, CIFAR) are out of scope: this engine's stacks are fully connected, so the anchor's numbers are set beside an MLP analogue, not reproduced.".into());
    notes
}

pub const CLAIM: Claim = Claim {
    id: "C7",
    slug: "dense-connections",
    title: "Dense connections: every layer wired to what follows",
    quote: "can be explicitly made so by having a connection between every layer and the output which is called a dense network.",
    anchor: "Huang et al., CVPR 2017: DenseNet-BC (L = 100, k = 12, 0.8M parameters) has 4.51% error on CIFAR-10+ against 4.62% for the pre-activation ResNet-1001 (10.2M parameters): the same accuracy with under a tenth of the parameters.",
    rule: "Protocol v2, at least 4 seeds. For each family (dense: the concatenating DenseNet-style stack; residual), accuracy against log parameters is interpolated linearly between the budgets tried, taking at each budget the depth of highest mean test accuracy over seeds; the ratio is the dense net's parameters where its curve first reaches the residual curve's highest accuracy, over the residual net's parameters there (infinite if dense never reaches it). Holds if the ratio is at most 2/3 and the upper end of its 80% bootstrap interval (2,000 resamples of the seeds, fixed generator seed, percentile interval) is below 1; did not hold if the lower end is above 2/3; inconclusive otherwise. Each seed is judged alone too (its interval is the ratio itself), and at least two thirds of the seeds must agree. dense_to_output and highway are measured the same way and shown, not judged.",
    data: &["MNIST (IDX files; a subset of the training images at quick scale)"],
    anchor_headline: "Huang et al.: DenseNet-BC matches ResNet-1001 with 0.08 of its parameters",
    seeds: PerScale { quick: 4, paper: 4, tiny: 2 },
    protocol: Protocol {
        version: 2,
        changed: "Rule: noise decided v1's outcome (the ratio moved from 0.99 with 2 seeds to 0.51 with 4), so v2 takes at least 4 seeds, reads each family's accuracy as a curve interpolated in log parameters between the budgets rather than comparing single configurations (v1's ratio could only be near a power of 2), and asks a bootstrap over seeds to put the ratio's 80% interval below 1 (held) or above 2/3 (did not hold); between, inconclusive. Setup unchanged: v1's runs of seeds 1 and 2 are kept, seeds 3 and 4 added.",
    },
};

impl Experiment for C7 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let (budgets, depths) = grid(p);
        let s = CLAIM.seeds(p).len();
        let list = |v: &[usize]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
        let grid = format!(
            "Dense (concatenation: each layer adds k = `growth` features and reads all before it; the stem is about 2k wide, within 1.5k..2.5k, as DenseNet-BC's first layer has 2k channels), dense_to_output (a plain chain whose every layer feeds the head), residual (two-layer branches) and highway (coupled carry, gate bias -2) MLPs at depths {} and parameter budgets {}; each (arch, depth, budget) gets the width (dense: the growth rate and stem width) whose exact parameter count (train::budget::model_size, which counts what the model builds) is closest to the budget.",
            list(&depths),
            list(&budgets)
        );
        match p.scale {
            Scale::Quick => format!("{grid} tanh, Gaussian init (sigma_w^2 = 1) and C4's training recipe (Adam lr 5e-3, gradient norm clipped to 5, batch 128): the first 20,000 MNIST training images for 5 epochs; test accuracy on all 10,000 test images; {s} seeds."),
            Scale::Paper => format!("{grid} All of MNIST, 40 epochs of SGD with Nesterov momentum 0.9, weight decay 1e-4, batch 64, lr 0.1 divided by 10 halfway (Huang et al.: 300 epochs, divided at 50% and 75%, on CIFAR with batch normalisation and convolutions), {s} seeds."),
            Scale::Tiny => format!("{grid} One epoch on 300 MNIST-1D examples, {s} seeds: a test of the pipeline."),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        configs(p).iter().flat_map(|s| CLAIM.seeds(p).into_iter().map(move |seed| run(p, s, seed))).collect()
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let (cells, mut notes) = read(p, runs)?;
        let mut figures = vec![by_params(p, &cells)];
        figures.extend(grid(p).0.into_iter().map(|b| at_budget(&cells, b)));
        notes.extend(self::notes(p, &cells));
        let all: Vec<usize> = (0..CLAIM.seeds(p).len()).collect();
        let (r, interval) = ratio_with_interval(&cells, JUDGED, &all);
        let target = peak(&curve(&cells, "residual")).map_or(f64::NAN, |x| x.1);
        let note = format!(
            "The residual curve's highest point is {}; the dense curve reaches it with {} of the residual net's parameters ({}).",
            pct(target),
            num(r),
            interval_shown(interval)
        );
        let (measured, per_seed) = by_seed(&CLAIM.seeds(p), |s| judge(&cells, s));
        Ok(Findings {
            tables: vec![table(p, &cells)],
            figures,
            control: control(&cells),
            decide: decide(&cells, &all, &per_seed),
            measured,
            per_seed,
            note,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{LossKind, Model, ModelConfig};

    #[test]
    fn the_stacks_are_c4s_but_for_their_data_training_and_growth_rate() {
        for scale in [Scale::Quick, Scale::Tiny] {
            let (c7, c4) = (CONFIGS.at(scale, &[]), mnist::SRIVASTAVA.at(scale, &[]));
            assert_eq!(c7.optim, c4.optim, "{scale:?}");
            assert_eq!(ModelConfig { growth: c4.model.growth, width: c4.model.width, ..c7.model.clone() }, c4.model);
            assert_ne!(c7.model.growth, c4.model.growth, "a growth rate of its own: 8, 4 at tiny scale");
        }
    }

    #[test]
    fn every_configuration_has_the_parameters_it_was_sized_to() {
        for scale in [Scale::Quick, Scale::Tiny] {
            let p = Params { scale, seeds: None };
            for s in configs(&p) {
                let cfg = run(&p, &s, 1).config;
                let d = dims(&cfg);
                let mut m = Model::<f32>::build(&cfg.model, d.input, d.out, LossKind::CrossEntropy, 0).unwrap();
                assert_eq!(m.num_params(), s.params, "{s:?}");
                let off = s.params.abs_diff(s.budget) as f64 / s.budget as f64;
                assert!(off < 0.1, "{s:?} is {:.1}% off its budget", 100.0 * off);
            }
        }
    }

    /// Residual and dense cells at budgets of 10k, 20k and 40k parameters (one depth each),
    /// with per-seed accuracies; residual is the same on every seed.
    fn cells(dense: &[[f64; 3]]) -> Vec<Cell> {
        let sized = |arch, budget| Sized { arch, depth: 4, budget, width: 10, growth: 0, params: budget };
        let res = [0.90, 0.92, 0.93];
        let mut v = Vec::new();
        for (k, b) in [10_000, 20_000, 40_000].into_iter().enumerate() {
            v.push(Cell { s: sized("residual", b), acc: vec![res[k]; dense.len()] });
            v.push(Cell { s: sized(JUDGED, b), acc: dense.iter().map(|d| d[k]).collect() });
        }
        v
    }

    fn headline(m: &[Measure]) -> &Measure {
        m.iter().find(|m| m.headline).unwrap()
    }

    #[test]
    fn the_ratio_is_read_where_the_dense_curve_crosses_the_best_residual_accuracy() {
        // Dense crosses 0.93 two thirds of the way (in log parameters) from 10k to 20k.
        let c = cells(&[[0.91, 0.94, 0.95]; 4]);
        let m = judge(&c, &[0, 1, 2, 3]);
        let want = 10_000.0 * 2f64.powf(2.0 / 3.0) / 40_000.0;
        assert!((headline(&m).value - want).abs() < 1e-9, "{}", headline(&m).value);
        assert_eq!(headline(&m).met, Some(true), "no noise: the interval is the ratio");
        // Already at the target at the smallest budget: that budget's parameters.
        assert_eq!(ratio(&cells(&[[0.95, 0.96, 0.97]]), JUDGED), 0.25);
    }

    #[test]
    fn a_dense_curve_that_never_reaches_it_did_not_hold_and_one_just_short_of_2_3_is_judged_by_its_interval() {
        let never = judge(&cells(&[[0.85, 0.88, 0.92]; 4]), &[0, 1, 2, 3]);
        assert_eq!((headline(&never).value, headline(&never).met), (f64::INFINITY, Some(false)));
        // Crossing at 0.8 of the residual's parameters on every seed: did not hold.
        let late = cells(&[[0.85, 0.90, 0.935]; 4]);
        let r = headline(&judge(&late, &[0, 1, 2, 3])).clone();
        assert!(r.value > RATIO && r.value < 1.0 && r.met == Some(false), "{r:?}");
    }

    #[test]
    fn seeds_on_both_sides_make_the_interval_reach_across_and_the_seeds_disagree() {
        // Two seeds reach 0.93 early (ratio 0.31), two never: the means cross at about 0.63.
        let c = cells(&[[0.92, 0.95, 0.96], [0.92, 0.95, 0.96], [0.85, 0.90, 0.92], [0.85, 0.90, 0.92]]);
        let all = [0, 1, 2, 3];
        let (r, interval) = ratio_with_interval(&c, JUDGED, &all);
        let (lo, hi) = interval.unwrap();
        assert!(r < RATIO && lo < RATIO && hi == NOT_REACHED, "{r} {lo} {hi}");
        assert_eq!(decision(r, interval), None, "held needs the upper end below 1");
        let (measured, per_seed) = by_seed(&[1, 2, 3, 4], |s| judge(&c, s));
        assert_eq!(headline(&measured).met, None);
        let met: Vec<Option<bool>> = per_seed.iter().map(|(_, m)| headline(m).met).collect();
        assert_eq!(met, [Some(true), Some(true), Some(false), Some(false)], "one seed's interval is its ratio");
        let d = decide(&c, &all, &per_seed);
        assert!(d.contains("met by seeds 1, 2; failed by seeds 3, 4") && d.contains("does not reach"), "{d}");
        // The bootstrap is the same on every call.
        assert_eq!(ratio_with_interval(&c, JUDGED, &all).1, interval);
    }

    #[test]
    fn an_interval_across_a_bar_says_how_many_seeds_would_narrow_it() {
        // Two seeds cross early (ratio 0.4), two only at the residual's own budget (1): the means
        // cross at 0.71, the interval reaches below 2/3.
        let (early, late) = ([0.91, 0.94, 0.95], [0.88, 0.90, 0.93]);
        let c = cells(&[early, early, late, late]);
        let all = [0, 1, 2, 3];
        let (r, interval) = ratio_with_interval(&c, JUDGED, &all);
        let (lo, hi) = interval.unwrap();
        // All four resamples late (1/16 of them) lie beyond the 90th percentile.
        assert!(r > RATIO && lo < RATIO && hi > 0.8 && hi < 1.0, "{r} {lo} {hi}");
        assert_eq!(decision(r, interval), None);
        assert!(decide(&c, &all, &[]).contains("seeds would narrow it past"), "{}", decide(&c, &all, &[]));
        assert!(control(&c).contains("1.5 points per doubling"), "{}", control(&c));
    }
}
