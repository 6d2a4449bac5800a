//! C7 dense-connections: every layer wired to what follows. Dense stacks (DenseNet-style
//! concatenation with a growth rate, and a plain chain whose every layer feeds the output)
//! against residual and highway stacks on MNIST, each sized to the same parameter budgets at
//! several depths: which reaches a given test accuracy with fewer parameters.

use super::fmt::{mean_pm, num, pct};
use super::recipes::mnist;
use super::{Claim, Configs, Experiment, Figure, Findings, Measure, Params, Protocol, RunSet, Scale, Table};
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

fn seeds(p: &Params) -> Vec<u64> {
    p.seeds(match p.scale {
        Scale::Paper => 3,
        Scale::Quick => 2,
        Scale::Tiny => 1,
    })
}

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
        for seed in seeds(p) {
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
                acc.push(f64::NAN);
            } else {
                acc.push(r.summary().test_accuracy.unwrap_or(f64::NAN));
            }
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

/// What the rule compares: the best residual configuration, and per arch the configuration
/// with the fewest parameters whose mean test accuracy reaches it.
struct Race<'a> {
    cells: &'a [Cell],
    best: Option<&'a Cell>,
    target: f64,
}

impl<'a> Race<'a> {
    fn of(cells: &'a [Cell]) -> Race<'a> {
        let best = best(cells, "residual");
        Race { cells, best, target: best.map_or(f64::NAN, Cell::mean) }
    }

    fn reach(&self, arch: &str) -> Option<&'a Cell> {
        self.cells.iter().filter(|c| c.s.arch == arch && c.mean() >= self.target).min_by_key(|c| c.s.params)
    }

    /// The parameters of `arch`'s configuration reaching the target over the best residual's
    /// (infinite: none reaches it).
    fn ratio(&self, arch: &str) -> f64 {
        match (self.reach(arch), self.best) {
            (Some(d), Some(r)) => d.s.params as f64 / r.s.params as f64,
            (None, Some(_)) => f64::INFINITY,
            _ => f64::NAN,
        }
    }

    fn shown(&self, arch: &str) -> String {
        match self.reach(arch) {
            Some(d) => format!("{} ({})", num(self.ratio(arch)), describe(d)),
            None if self.best.is_some() => format!("no {arch} configuration reaches {}", pct(self.target)),
            None => "n/a".into(),
        }
    }
}

/// The configurations with the accuracies of `seeds` alone.
fn of_seeds(cells: &[Cell], seeds: &[usize]) -> Vec<Cell> {
    cells.iter().map(|c| Cell { s: c.s.clone(), acc: seeds.iter().map(|&i| c.acc[i]).collect() }).collect()
}

/// The rule over `seeds`.
fn judge(cells: &[Cell], seeds: &[usize]) -> Vec<Measure> {
    let cells = of_seeds(cells, seeds);
    let race = Race::of(&cells);
    let r_dense = race.ratio(JUDGED);
    let mut measured = vec![
        Measure::new(
            "best residual configuration (highest mean test accuracy)",
            race.target,
            race.best.map_or("n/a".into(), describe),
        ),
        Measure::new(
            "parameters of the smallest dense configuration reaching it / the residual's",
            r_dense,
            race.shown(JUDGED),
        )
        .must("<= 2/3", (!r_dense.is_nan()).then_some(r_dense <= RATIO)),
    ];
    for arch in ["dense_to_output", "highway"] {
        measured.push(Measure::new(format!("the same for {arch} (not judged)"), race.ratio(arch), race.shown(arch)));
    }
    for arch in ["dense", "dense_to_output", "highway"] {
        if let Some(b) = best(&cells, arch) {
            measured.push(Measure::new(format!("best {arch} configuration"), b.mean(), describe(b)));
        }
    }
    measured
}

/// Test accuracy per (arch, depth) and budget.
fn table(p: &Params, cells: &[Cell]) -> Table {
    let (budgets, depths) = grid(p);
    let mut cols: Vec<String> = vec!["arch".into(), "depth".into()];
    cols.extend(budgets.iter().map(|b| format!("budget {b}")));
    let col_refs: Vec<&str> = cols.iter().map(|s| s.as_str()).collect();
    let mut t = Table::new("Test accuracy at each parameter budget", &col_refs).caption(format!(
        "Mean ± standard deviation over {} seeds on the test images; in brackets the exact parameter count and the width (dense: growth rate / stem width).",
        seeds(p).len()
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

/// Accuracy against parameters: per arch, the best depth at each budget as a line, every
/// configuration as points.
fn by_params(p: &Params, cells: &[Cell], target: f64) -> Figure {
    let (budgets, _) = grid(p);
    let (xmin, xmax) = cells.iter().fold((f64::INFINITY, 0.0f64), |(a, b), c| {
        let x = c.s.params as f64;
        (a.min(x), b.max(x))
    });
    let mut plot =
        LinePlot::new("Test accuracy against parameters", "parameters (exact count, log scale)", "test accuracy")
            .log_x(true);
    for (i, arch) in ARCHS.iter().enumerate() {
        let (mut line, mut bars) = (Vec::new(), Vec::new());
        for &b in &budgets {
            let at = cells.iter().filter(|c| c.s.arch == *arch && c.s.budget == b && c.mean().is_finite());
            if let Some(c) = at.max_by(|x, y| x.mean().total_cmp(&y.mean())) {
                line.push((c.s.params as f64, c.mean()));
                bars.push(bar(c.s.params as f64, c));
            }
        }
        let mut all: Vec<(f64, f64)> =
            cells.iter().filter(|c| c.s.arch == *arch).map(|c| (c.s.params as f64, c.mean())).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        plot = plot
            .series(Series::new(format!("{arch}: best depth"), line).markers().error_bars(bars).color(i))
            .series(Series::new(format!("{arch}: every depth"), all).points_only().color(i));
    }
    if target.is_finite() {
        plot = plot.series(
            Series::new(format!("best residual ({})", pct(target)), vec![(xmin, target), (xmax, target)]).dashed(),
        );
    }
    Figure::new(
        "Accuracy against parameters",
        format!("Lines: at each budget, the depth of highest mean test accuracy (error bars: the range over {} seeds); points: every depth. Dashed: the best residual configuration's accuracy, which the rule asks dense to reach with at most 2/3 of its parameters.", seeds(p).len()),
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

fn notes(p: &Params, cells: &[Cell], race: &Race) -> Vec<String> {
    let (budgets, depths) = grid(p);
    let mut notes = Vec::new();
    // How much of the best residual net the stem holds: MNIST's 784 inputs make it most.
    if let Some(c) = race.best.filter(|_| p.scale != Scale::Tiny) {
        let input = dims(&run(p, &c.s, 1).config).input;
        notes.push(format!(
            "The stem (784 inputs to the first width) holds {} of the best residual net's parameters: at these budgets on MNIST, most of what an architecture can trade is the stem's width, which dense nets pay for with their wider heads and concatenated inputs.",
            pct(((input + 1) * c.s.width) as f64 / c.s.params as f64)
        ));
    }
    notes.push("The budgets are each twice the last, and each net's parameter count lies within a small fraction of its budget, so the ratio the rule reads is close to a power of 2: at most 2/3 means that dense reaches the best residual accuracy from a budget at least one step below that residual net's.".into());
    // Whether the rule's comparison of two noisy maxima is decided by the seeds.
    let envelope: Vec<String> = budgets
        .iter()
        .map(|&b| {
            let at = cells.iter().filter(|c| c.s.arch == "residual" && c.s.budget == b);
            format!("{} at {b}", pct(at.map(Cell::mean).fold(f64::NAN, f64::max)))
        })
        .collect();
    let spread = cells.iter().map(|c| std(&c.acc)).fold(f64::NAN, f64::max);
    notes.push(format!(
        "'Reaches' compares means over seeds with no allowance for noise, as the rule reads. The rule turns on the difference of two noisy means, one of them a maximum over {} (the best residual depth at each budget: {}; a maximum of noisy means is biased upwards), and the largest standard deviation over seeds in the table is {:.2} points. A better rule: per architecture, the best-depth mean accuracy at each budget over at least 4 seeds, interpolated linearly in log parameters; dense holds if the parameters at which its curve reaches the residual curve's highest value are at most 2/3 of the residual's, and the claim is inconclusive when a bootstrap over seeds puts that ratio on both sides of 2/3.",
        budgets.len() * depths.len(),
        envelope.join(", "),
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
    rule: "Holds if dense reaches the best residual accuracy with at most 2/3 of its parameters. Fixed here before any run: 'dense' is the concatenating DenseNet-style stack (dense_to_output is measured the same way and shown, not judged); the best residual configuration is the one of highest mean test accuracy over seeds among every budget and depth; dense reaches it with the dense configuration of fewest parameters whose mean test accuracy is at least that; the rule compares the two exact parameter counts. No dense configuration reaching it: did not hold.",
    data: &["MNIST (IDX files; a subset of the training images at quick scale)"],
    anchor_headline: "Huang et al.: DenseNet-BC matches ResNet-1001 with under 1/10 of the parameters",
    protocol: Protocol::V1,
};

impl Experiment for C7 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let (budgets, depths) = grid(p);
        let s = seeds(p).len();
        let list = |v: &[usize]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ");
        let grid = format!(
            "Dense (concatenation: each layer adds k = `growth` features and reads all before it; the stem is about 2k wide, within 1.5k..2.5k, as DenseNet-BC's first layer has 2k channels), dense_to_output (a plain chain whose every layer feeds the head), residual (two-layer branches) and highway (coupled carry, gate bias -2) MLPs at depths {} and parameter budgets {}; each (arch, depth, budget) gets the width (dense: the growth rate and stem width) whose exact parameter count (train::budget::model_size, which counts what the model builds) is closest to the budget.",
            list(&depths),
            list(&budgets)
        );
        match p.scale {
            Scale::Quick => format!("{grid} tanh, Gaussian init (sigma_w^2 = 1) and C4's training recipe (Adam lr 5e-3, gradient norm clipped to 5, batch 128): the first 20,000 MNIST training images for 5 epochs; test accuracy on all 10,000 test images; {s} seeds."),
            Scale::Paper => format!("{grid} All of MNIST, 40 epochs of SGD with Nesterov momentum 0.9, weight decay 1e-4, batch 64, lr 0.1 divided by 10 halfway (Huang et al.: 300 epochs, divided at 50% and 75%, on CIFAR with batch normalisation and convolutions), {s} seeds."),
            Scale::Tiny => format!("{grid} One epoch on 300 MNIST-1D examples, {s} seed: a test of the pipeline."),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        configs(p).iter().flat_map(|s| seeds(p).into_iter().map(move |seed| run(p, s, seed))).collect()
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let (cells, mut notes) = read(p, runs)?;
        let race = Race::of(&cells);
        let mut figures = vec![by_params(p, &cells, race.target)];
        figures.extend(grid(p).0.into_iter().map(|b| at_budget(&cells, b)));
        notes.extend(self::notes(p, &cells, &race));
        let note = format!(
            "The best residual net reaches {}; the smallest dense net reaching it has {} of its parameters.",
            pct(race.target),
            num(race.ratio(JUDGED))
        );
        Ok(Findings {
            tables: vec![table(p, &cells)],
            figures,
            measured: judge(&cells, &(0..seeds(p).len()).collect::<Vec<_>>()),
            note,
            notes,
            ..Default::default()
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
}
