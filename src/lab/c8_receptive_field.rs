//! C8 receptive-field: convolutional sequence models need depth for long range, attention looks
//! it up at constant depth. Lag-T recall (the target at step s is the symbol of step s - T)
//! for TCNs whose receptive field falls short of T or covers it, dilated and undilated, and
//! for one causal attention layer; at paper scale also Bai, Kolter & Koltun's three benchmarks.

use super::fmt::{mean_pm, num, pct};
use super::{
    by_seed, Claim, Configs, Experiment, Figure, Findings, Measure, Params, PerScale, Protocol, Run, RunSet, Scale,
    Table,
};
use crate::data::seqtasks::{recall_chance, RECALL_ALPHABET};
use crate::plot::{LinePlot, Series};
use crate::seq::TcnConfig;
use crate::stats::{mean, min_max, slope};
use crate::sweep::RunRequest;

pub struct C8;

/// Success: test accuracy over 95% (CLAIMS.md).
const SUCCESS: f64 = 0.95;
/// Dilated nets whose field reaches the lag: at least this share must succeed (protocol v2).
const SUFFICE: f64 = 0.9;
/// A net whose field falls short of the lag must stay below this many times chance (protocol
/// v2: 1.5 / alphabet).
const NEAR_CHANCE: f64 = 1.5;

/// Quick: lag-T recall, every setting taken from Bai et al.'s reference code where it has one
/// (locuslab/TCN, copy memory and adding: batch 32, gradient norm clipped to 1 as for copy
/// memory, Adam with the learning rate of their sequential-MNIST and between those of adding,
/// 4e-3, and copy, 5e-4); the data keys are set per run. Width 32 (Bai: 10 to 30 hidden
/// units), kernel 2 (the smallest, so that the levels a lag needs are the most finely
/// resolved), PyTorch's default init. 4000 training sequences for 8 epochs (1000 steps of 32
/// sequences x 32 scored steps each); 500 test sequences, 16,000 scored steps, so that the
/// accuracy's binomial error is under 0.2 points at 95%.
const CONFIGS: Configs = Configs {
    base: r#"
[data]
name = "recall"
t = 8
train = 4000
test = 500
[model]
arch = "tcn"
depth = 1
width = 32
[optim]
lr = 0.002
optimizer = { kind = "adam" }
clip_grad_norm = 1.0
[train]
epochs = 8
batch_size = 32
checkpoint_every = 8
"#,
    quick: &[],
    // As quick, at longer lags, on five times the training sequences for 10 epochs (6250
    // steps), 3 seeds.
    paper: &[
        "data.train = 20000",
        "data.test = 1000",
        "train = { epochs = 10, batch_size = 32, checkpoint_every = 5 }",
    ],
    // For the pipeline's test: one epoch of tiny nets.
    tiny: &[
        "data.train = 64",
        "data.test = 32",
        "model.width = 8",
        "optim = { lr = 0.01, optimizer = { kind = \"adam\" } }",
        "train = { epochs = 1, batch_size = 32 }",
    ],
};

/// One of Bai et al.'s benchmarks, run at paper scale with the defaults of their reference
/// code (its data, optimiser and training replace the recall setup's), beside the TCN result
/// they published (Bai et al. 2018, Table 1).
struct Benchmark {
    task: &'static str,
    measure: &'static str,
    published: f64,
    sets: &'static [&'static str],
}

impl Benchmark {
    fn accuracy(&self) -> bool {
        self.measure == "test accuracy"
    }
}

const BAI: [Benchmark; 3] = [
    // The adding problem at T = 600 (their Table 1) with the defaults of their `add_test.py`
    // (written for T = 400): 8 levels of 30 channels, kernel 7, Adam 4e-3, batch 32, 10 epochs
    // of 50,000 sequences, no clipping.
    Benchmark {
        task: "adding T=600",
        measure: "test MSE",
        published: 5.8e-5,
        sets: &[
            "data = { name = \"adding\", t = 600, train = 50000, test = 1000 }",
            "model.depth = 8",
            "model.width = 30",
            "model.kernel_size = 7",
            "optim = { lr = 0.004, optimizer = { kind = \"adam\" } }",
            "train = { epochs = 10, batch_size = 32, checkpoint_every = 5 }",
        ],
    },
    // Copy memory at T = 1000 with the defaults of `copymem_test.py`: 8 levels of 10 channels,
    // kernel 8, lr 5e-4 (RMSprop there, Adam here: this engine has no RMSprop), clipping at 1,
    // batch 32, 50 epochs of 10,000 sequences.
    Benchmark {
        task: "copy memory T=1000",
        measure: "test loss",
        published: 3.5e-5,
        sets: &[
            "data = { name = \"copy\", t = 1000, train = 10000, test = 1000 }",
            "model.depth = 8",
            "model.width = 10",
            "model.kernel_size = 8",
            "optim = { lr = 0.0005, optimizer = { kind = \"adam\" }, clip_grad_norm = 1.0 }",
            "train = { epochs = 50, batch_size = 32, checkpoint_every = 10 }",
        ],
    },
    // Sequential MNIST with the defaults of `pmnist_test.py`: 8 levels of 25 channels, kernel
    // 7, Adam 2e-3 divided by 10 after 10 epochs (938 steps of 64 images each), 20 epochs.
    Benchmark {
        task: "sequential MNIST",
        measure: "test accuracy",
        published: 0.990,
        sets: &[
            "data = { name = \"seq_mnist\" }",
            "model.depth = 8",
            "model.width = 25",
            "model.kernel_size = 7",
            "optim = { lr = 0.002, optimizer = { kind = \"adam\" }, schedule = { kind = \"step\", every = 9380, gamma = 0.1 } }",
            "train = { epochs = 20, batch_size = 64, checkpoint_every = 5 }",
        ],
    },
];

/// The sizes of one scale.
struct Grid {
    lags: &'static [usize],
    /// Scored steps per sequence: `data.len = T + scored`.
    scored: usize,
    alphabet: usize,
    /// Kernel sizes of the undilated nets (the dilated ones have kernel 2).
    undilated_kernels: &'static [usize],
    /// The longest lag the undilated nets are tried at: they need T/(2(k-1)) levels, 512 at
    /// T = 1024 for kernel 2, beyond the memory of one process.
    undilated_max_lag: usize,
}

fn grid(p: &Params) -> Grid {
    match p.scale {
        Scale::Quick => Grid {
            lags: &[8, 16, 32],
            scored: 32,
            alphabet: RECALL_ALPHABET,
            undilated_kernels: &[2, 3],
            undilated_max_lag: usize::MAX,
        },
        Scale::Paper => Grid {
            lags: &[16, 64, 256, 1024],
            scored: 64,
            alphabet: RECALL_ALPHABET,
            undilated_kernels: &[2, 3],
            undilated_max_lag: 256,
        },
        Scale::Tiny => {
            Grid { lags: &[4], scored: 4, alphabet: 4, undilated_kernels: &[2], undilated_max_lag: usize::MAX }
        }
    }
}

impl Grid {
    /// The lags family `f` is tried at.
    fn lags_of(&self, f: Family) -> Vec<usize> {
        self.lags.iter().copied().filter(|&t| f.dilated || t <= self.undilated_max_lag).collect()
    }
}

/// A kind of TCN: dilated (2^i at level i) or not, and its kernel size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Family {
    dilated: bool,
    k: usize,
}

impl Family {
    fn name(self) -> String {
        format!("{}, k = {}", if self.dilated { "dilated" } else { "undilated" }, self.k)
    }

    /// The receptive field of `levels` levels, by the engine's own formula (two convolutions
    /// per level: 1 + 2 (k-1) sum_i d_i).
    fn rf(self, levels: usize) -> usize {
        TcnConfig::uniform(1, 1, levels, self.k).dilated(self.dilated).receptive_field()
    }

    /// The fewest levels whose receptive field reaches lag `t`: the output at step s must see
    /// step s - t, i.e. t + 1 steps.
    fn needed(self, t: usize) -> usize {
        (1..).find(|&l| self.rf(l) > t).expect("the receptive field grows with the levels")
    }

    /// The levels tried at lag `t`: around the fewest that reach it (n), two below and one above
    /// for dilated nets (whose field doubles per level), and for undilated nets n/2, n-1 (one
    /// level short: the field stops 2(k-1) steps short of the lag, or fewer), n and n+2.
    fn levels(self, t: usize) -> Vec<usize> {
        let n = self.needed(t);
        let mut v: Vec<usize> = if self.dilated {
            vec![n.saturating_sub(2), n - 1, n, n + 1]
        } else {
            vec![n.div_ceil(2), n - 1, n, n + 2]
        };
        v.retain(|&l| l >= 1);
        v.dedup();
        v
    }

    /// What the rule's formula says of the levels needed: log2 T for dilated nets; T/(k-1)
    /// convolutions, two per level, for undilated ones.
    fn formula(self, t: usize) -> (f64, &'static str) {
        if self.dilated {
            ((t as f64).log2(), "log2 T")
        } else {
            (t as f64 / (2.0 * (self.k - 1) as f64), "T/(2(k-1))")
        }
    }
}

fn families(g: &Grid) -> Vec<Family> {
    std::iter::once(Family { dilated: true, k: 2 })
        .chain(g.undilated_kernels.iter().map(|&k| Family { dilated: false, k }))
        .collect()
}

/// How many levels above the fewest that reach the lag still count as "about" that many: one,
/// or a quarter of them when that is more (fixed before any run).
fn slack(n: usize) -> usize {
    (n / 4).max(1)
}

/// Lag-T recall with `seed`, and the run's own model keys.
fn recall_run(p: &Params, t: usize, seed: u64, model: &[String], label: String) -> RunRequest {
    let g = grid(p);
    let mut sets = vec![
        format!("seed={seed}"),
        format!("data.t={t}"),
        format!("data.len={}", t + g.scored),
        format!("data.alphabet={}", g.alphabet),
    ];
    sets.extend_from_slice(model);
    RunRequest::train(CONFIGS.at(p.scale, &sets), label)
}

fn tcn_run(p: &Params, f: Family, t: usize, levels: usize, seed: u64) -> RunRequest {
    let model = [
        format!("model.depth={levels}"),
        format!("model.kernel_size={}", f.k),
        format!("model.dilation={}", f.dilated),
    ];
    let label = format!("C8 T={t} tcn {} levels {levels} (receptive field {}) seed {seed}", f.name(), f.rf(levels));
    recall_run(p, t, seed, &model, label)
}

fn attention_run(p: &Params, t: usize, seed: u64) -> RunRequest {
    let model = ["model.arch=\"attention\"", "model.heads=1", "model.positional=\"sinusoidal\""].map(String::from);
    recall_run(p, t, seed, &model, format!("C8 T={t} one causal attention layer seed {seed}"))
}

/// Bai et al.'s benchmarks (paper scale only), each with the index of its `BAI` entry.
fn bai_runs(p: &Params) -> Vec<(usize, RunRequest)> {
    if p.scale != Scale::Paper {
        return Vec::new();
    }
    let mut v = Vec::new();
    for s in CLAIM.seeds(p) {
        for (i, b) in BAI.iter().enumerate() {
            let sets: Vec<String> =
                std::iter::once(format!("seed={s}")).chain(b.sets.iter().map(|x| x.to_string())).collect();
            v.push((i, RunRequest::train(CONFIGS.at(p.scale, &sets), format!("C8 Bai et al. {} seed {s}", b.task))));
        }
    }
    v
}

type Points = Vec<(f64, f64)>;

/// One TCN configuration: its test accuracy per seed (a diverged run counts as chance: it
/// recalled nothing).
struct Row {
    f: Family,
    t: usize,
    levels: usize,
    acc: Vec<f64>,
}

impl Row {
    /// The receptive field, which the trained model reported (checked against the formula).
    fn rf(&self) -> usize {
        self.f.rf(self.levels)
    }
    fn accuracy(&self, seeds: &[usize]) -> f64 {
        mean(&pick(&self.acc, seeds))
    }
    fn success(&self, seeds: &[usize]) -> bool {
        self.accuracy(seeds) > SUCCESS
    }
    fn covers(&self) -> bool {
        self.rf() > self.t
    }
}

/// The values of `seeds` (indices).
fn pick(v: &[f64], seeds: &[usize]) -> Vec<f64> {
    seeds.iter().map(|&s| v[s]).collect()
}

/// Everything the analysis reads from the runs.
struct Data {
    n_seeds: usize,
    chance: f64,
    rows: Vec<Row>,
    /// The attention layer's test accuracy per seed at each lag.
    attention: Vec<(usize, Vec<f64>)>,
    /// Test accuracy per epoch (first seed) at the longest lag each family is tried at, of the
    /// nets one level short of reaching it and with the fewest that reach it: (family, T,
    /// levels, curve); and of the attention layer at the longest lag.
    curves: Vec<(Family, usize, usize, Points)>,
    attention_curve: Points,
    /// The runs that diverged (ids).
    diverged: Vec<String>,
    /// Bai et al.'s benchmarks (paper scale): each one's value per seed, in `BAI` order.
    bai: Vec<Vec<f64>>,
}

impl Data {
    fn every_seed(&self) -> Vec<usize> {
        (0..self.n_seeds).collect()
    }
}

/// A run's test accuracy after each epoch (1-based).
fn epoch_accuracy(r: &Run) -> Result<Points, String> {
    let evaluated = r.evaluated("test_accuracy")?;
    Ok(evaluated.into_iter().map(|(e, a)| (e.epoch as f64 + 1.0, a)).filter(|q| q.1.is_finite()).collect())
}

/// The runs of one TCN configuration, their receptive field checked against the formula.
fn tcn_runs(
    p: &Params,
    f: Family,
    t: usize,
    levels: usize,
    runs: &RunSet,
    diverged: &mut Vec<String>,
) -> Result<Vec<Run>, String> {
    let rs: Vec<Run> =
        CLAIM.seeds(p).iter().map(|&s| runs.get(&tcn_run(p, f, t, levels, s))).collect::<Result<_, _>>()?;
    for r in &rs {
        if r.diverged() {
            diverged.push(r.id.clone());
            continue;
        }
        let got = r
            .summary()
            .receptive_field
            .ok_or_else(|| format!("run {} (a TCN) reports no receptive field in its summary.json", r.id))?;
        if got != f.rf(levels) {
            return Err(format!(
                "run {} reports a receptive field of {got}, but {} levels of {} have {}: the formula and the model disagree",
                r.id,
                levels,
                f.name(),
                f.rf(levels)
            ));
        }
    }
    Ok(rs)
}

fn read(p: &Params, runs: &RunSet) -> Result<Data, String> {
    let g = grid(p);
    let chance = recall_chance(g.alphabet);
    let accuracy = |rs: &[Run]| -> Vec<f64> {
        rs.iter().map(|r| if r.diverged() { chance } else { r.summary().test_accuracy.unwrap_or(f64::NAN) }).collect()
    };
    let (mut rows, mut curves, mut diverged) = (Vec::new(), Vec::new(), Vec::new());
    for f in families(&g) {
        let longest = g.lags_of(f).last().copied();
        for t in g.lags_of(f) {
            for levels in f.levels(t) {
                let rs = tcn_runs(p, f, t, levels, runs, &mut diverged)?;
                if Some(t) == longest && (levels == f.needed(t) || levels + 1 == f.needed(t)) {
                    curves.push((f, t, levels, epoch_accuracy(&rs[0])?));
                }
                rows.push(Row { f, t, levels, acc: accuracy(&rs) });
            }
        }
    }
    let (mut attention, mut attention_curve) = (Vec::new(), Vec::new());
    for &t in g.lags {
        let rs: Vec<Run> =
            CLAIM.seeds(p).iter().map(|&s| runs.get(&attention_run(p, t, s))).collect::<Result<_, _>>()?;
        if Some(&t) == g.lags.last() {
            attention_curve = epoch_accuracy(&rs[0])?;
        }
        attention.push((t, accuracy(&rs)));
    }
    let mut bai = vec![Vec::new(); BAI.len()];
    for (i, r) in bai_runs(p) {
        let run = runs.get(&r)?;
        let s = run.summary();
        bai[i].push(match () {
            _ if run.diverged() => f64::NAN,
            _ if BAI[i].accuracy() => s.test_accuracy.unwrap_or(f64::NAN),
            _ => s.test_loss.unwrap_or(f64::NAN),
        });
    }
    Ok(Data { n_seeds: CLAIM.seeds(p).len(), chance, rows, attention, curves, attention_curve, diverged, bai })
}

/// A family's fewest successful levels at one lag it is tried at, beside n, the fewest whose
/// field reaches the lag.
struct Fewest {
    t: usize,
    n: usize,
    levels: Option<usize>,
}

impl Fewest {
    /// "About n" (fixed before running): at least n and at most max(1, floor(n/4)) more.
    fn about_n(&self) -> bool {
        self.levels.is_some_and(|l| l >= self.n && l <= self.n + slack(self.n))
    }
}

fn fewest(g: &Grid, d: &Data, f: Family, seeds: &[usize]) -> Vec<Fewest> {
    let at = |t: usize| d.rows.iter().filter(|r| r.f == f && r.t == t && r.success(seeds)).map(|r| r.levels).min();
    g.lags_of(f).into_iter().map(|t| Fewest { t, n: f.needed(t), levels: at(t) }).collect()
}

/// v1's two halves of "coincides", over `seeds`: configurations whose field falls short of T
/// (and how many of them succeed), and those whose field reaches T that succeed.
struct Halves {
    short: usize,
    short_ok: usize,
    reach_ok: usize,
}

fn halves(d: &Data, seeds: &[usize]) -> Halves {
    let count = |f: &dyn Fn(&Row) -> bool| d.rows.iter().filter(|r| f(r)).count();
    Halves {
        short: count(&|r| !r.covers()),
        short_ok: count(&|r| !r.covers() && r.success(seeds)),
        reach_ok: count(&|r| r.covers() && r.success(seeds)),
    }
}

/// The attention layer's accuracy at each lag, as the verdict shows it.
fn attention_shown(d: &Data, seeds: &[usize]) -> Vec<String> {
    d.attention.iter().map(|(t, a)| format!("{} at T = {t}", pct(mean(&pick(a, seeds))))).collect()
}

/// Necessity (every TCN): the configurations whose field falls short of T, and the highest
/// test accuracy among them over `seeds` (the one that comes nearest to recalling).
fn necessity<'a>(d: &'a Data, seeds: &[usize]) -> (usize, Option<&'a Row>) {
    let short: Vec<&Row> = d.rows.iter().filter(|r| !r.covers()).collect();
    let worst = short.iter().copied().max_by(|a, b| a.accuracy(seeds).total_cmp(&b.accuracy(seeds)));
    (short.len(), worst)
}

/// Sufficiency (dilated nets): those whose field reaches T, and those of them that succeed.
fn sufficiency<'a>(d: &'a Data, seeds: &[usize]) -> (Vec<&'a Row>, Vec<&'a Row>) {
    let reach: Vec<&Row> = d.rows.iter().filter(|r| r.f.dilated && r.covers()).collect();
    let ok = reach.iter().copied().filter(|r| r.success(seeds)).collect();
    (reach, ok)
}

/// The rule over the runs of `seeds` (indices): necessity for every TCN, sufficiency and levels
/// for the dilated nets, the attention layer at every T; the undilated nets and the slopes
/// beside them, not judged.
fn judge(g: &Grid, d: &Data, seeds: &[usize]) -> Vec<Measure> {
    let bar = NEAR_CHANCE * d.chance;
    let (short, worst) = necessity(d, seeds);
    let worst_acc = worst.map_or(f64::NAN, |r| r.accuracy(seeds));
    let above = d.rows.iter().filter(|r| !r.covers() && r.accuracy(seeds) >= bar).count();
    let mut measured = vec![Measure::new(
        "receptive field short of T (every TCN): highest test accuracy",
        worst_acc,
        match worst {
            Some(r) => format!(
                "{} (T = {}, {}, {} levels, field {}); {above} of {short} at or above the bar",
                pct(worst_acc),
                r.t,
                r.f.name(),
                r.levels,
                r.rf()
            ),
            None => "no configuration falls short".into(),
        },
    )
    .below(bar)];
    let (reach, ok) = sufficiency(d, seeds);
    let share = ok.len() as f64 / reach.len().max(1) as f64;
    let failed: Vec<String> = reach
        .iter()
        .filter(|r| !r.success(seeds))
        .map(|r| format!("T = {} {} levels {}", r.t, r.levels, pct(r.accuracy(seeds))))
        .collect();
    measured.push(
        Measure::new(
            "dilated nets whose receptive field reaches T that succeed (test accuracy > 95%)",
            share,
            format!(
                "{} of {} ({}){}",
                ok.len(),
                reach.len(),
                pct(share),
                if failed.is_empty() { String::new() } else { format!("; below 95%: {}", failed.join(", ")) }
            ),
        )
        .at_least(SUFFICE)
        .headline(),
    );
    let (mut dilated, mut undilated) = (Vec::new(), Vec::new());
    for f in families(g) {
        let fewest = fewest(g, d, f, seeds);
        let m = levels_measure(f, &fewest);
        // Undilated nets test trainability, not the field (protocol v2): shown, not judged.
        measured.push(if f.dilated { m } else { Measure { condition: String::new(), met: None, ..m } });
        // Against the formulas: slope 1 for dilated nets against log2 T, 1/2 for undilated ones
        // against T/(k-1) (two convolutions per level).
        for x in &fewest {
            if let Some(l) = x.levels {
                let t = x.t as f64;
                if f.dilated {
                    dilated.push((t.log2(), l as f64));
                } else {
                    undilated.push((t / (f.k - 1) as f64, l as f64));
                }
            }
        }
    }
    let reach_und: Vec<String> = families(g)
        .into_iter()
        .filter(|f| !f.dilated)
        .map(|f| {
            let r: Vec<&Row> = d.rows.iter().filter(|r| r.f == f && r.covers()).collect();
            format!("{}: {} of {}", f.name(), r.iter().filter(|r| r.success(seeds)).count(), r.len())
        })
        .collect();
    measured.push(Measure::new(
        "undilated nets whose receptive field reaches T that succeed (reported, not judged)",
        d.rows.iter().filter(|r| !r.f.dilated && r.covers() && r.success(seeds)).count() as f64,
        reach_und.join("; "),
    ));
    let worst_attention = d.attention.iter().map(|(_, a)| mean(&pick(a, seeds))).fold(f64::INFINITY, f64::min);
    measured.push(
        Measure::new(
            "one attention layer: lowest test accuracy over T",
            worst_attention,
            attention_shown(d, seeds).join(", "),
        )
        .above(SUCCESS),
    );
    let (sd, su) = (slope(&dilated), slope(&undilated));
    measured.push(Measure::new("dilated: slope of the fewest successful levels against log2 T", sd, num(sd)));
    measured.push(Measure::new(
        "undilated: slope of the fewest successful levels against T/(k-1) (1/2: two convolutions per level)",
        su,
        num(su),
    ));
    measured
}

/// For a claim that does not hold: what shows that the setup could recall the lags, from the
/// runs (the attention layer, and the best dilated net at each lag).
fn control(d: &Data, seeds: &[usize]) -> String {
    let best: Vec<String> = d
        .attention
        .iter()
        .map(|(t, _)| {
            let b = d.rows.iter().filter(|r| r.t == *t).map(|r| r.accuracy(seeds)).fold(f64::NAN, f64::max);
            format!("{} at T = {t}", pct(b))
        })
        .collect();
    format!(
        "one attention layer recalls {} in the same budget, and the best TCN at each lag {}.",
        attention_shown(d, seeds).join(", "),
        best.join(", ")
    )
}

/// For an inconclusive claim: the judged configurations whose seeds disagree on them.
fn decide(d: &Data, seeds: &[usize]) -> String {
    let bar = NEAR_CHANCE * d.chance;
    let split = |ok: &dyn Fn(f64) -> bool, acc: &[f64]| {
        let v: Vec<bool> = seeds.iter().map(|&s| ok(acc[s])).collect();
        v.iter().any(|x| *x) && v.iter().any(|x| !*x)
    };
    let mut rows: Vec<String> =
        d.rows
            .iter()
            .filter(|r| {
                if r.covers() {
                    r.f.dilated && split(&|a| a > SUCCESS, &r.acc)
                } else {
                    split(&|a| a < bar, &r.acc)
                }
            })
            .map(|r| format!("T = {} {} levels {}", r.t, r.f.name(), r.levels))
            .collect();
    rows.extend(
        d.attention.iter().filter(|(_, a)| split(&|x| x > SUCCESS, a)).map(|(t, _)| format!("attention at T = {t}")),
    );
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "more seeds of the judged configurations on which the seeds split ({}): each is one run per seed.",
        rows.join("; ")
    )
}

/// The levels part for one family: at every lag it is tried at, the fewest levels that succeed
/// are about n(T) (judged for the dilated nets only).
fn levels_measure(f: Family, fewest: &[Fewest]) -> Measure {
    let ok = fewest.iter().filter(|x| x.about_n()).count();
    let shown: Vec<String> = fewest
        .iter()
        .map(|x| format!("{} (n = {}) at T = {}", x.levels.map_or("none".to_string(), |l| l.to_string()), x.n, x.t))
        .collect();
    let what = if f.dilated { "about log2 T" } else { "about T/(k-1) convolutions, T/(2(k-1)) levels" };
    Measure::new(
        format!("{}: lags reached with {what}", f.name()),
        ok as f64 / fewest.len() as f64,
        format!("{ok} of {}: fewest successful levels {}", fewest.len(), shown.join(", ")),
    )
    .must("every T: n(T) to n(T) + max(1, floor(n/4)) levels", Some(ok == fewest.len()))
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// The TCN configurations in the order the table lists them: by lag, dilated first, by kernel
/// and levels.
fn sorted(d: &Data) -> Vec<&Row> {
    let mut sorted: Vec<&Row> = d.rows.iter().collect();
    sorted.sort_by_key(|r| (r.t, !r.f.dilated, r.f.k, r.levels));
    sorted
}

fn tables(g: &Grid, d: &Data) -> Vec<Table> {
    let all = d.every_seed();
    let mut runs = Table::new(
        "TCN configurations",
        &["T", "TCN", "levels", "receptive field", "reaches T", "test accuracy", "in the rule", "meets it"],
    )
    .caption(format!(
        "Receptive field as the trained model reports it (summary.json); it reaches T when it spans T + 1 steps. Test accuracy on the scored steps of fresh sequences{}; chance is {}. In the rule: necessity (field short of T: below {}), sufficiency (dilated, field reaching T: over 95%), or reported (undilated, field reaching T: not judged; 'meets it' says whether it succeeded).",
        if d.n_seeds > 1 { format!(", mean ± standard deviation over {} seeds", d.n_seeds) } else { String::new() },
        pct(d.chance),
        pct(NEAR_CHANCE * d.chance)
    ));
    for r in sorted(d) {
        let acc = r.accuracy(&all);
        let (role, met) = match (r.covers(), r.f.dilated) {
            (false, _) => ("necessity", acc < NEAR_CHANCE * d.chance),
            (true, true) => ("sufficiency", acc > SUCCESS),
            (true, false) => ("reported", acc > SUCCESS),
        };
        let cells = [r.t.to_string(), r.f.name(), r.levels.to_string(), r.rf().to_string(), yes(r.covers())];
        runs.row([cells.as_slice(), &[mean_pm(&r.acc, pct), role.to_string(), yes(met)]].concat());
    }
    let columns: Vec<String> = std::iter::once("TCN".to_string())
        .chain(g.lags.iter().map(|t| format!("T = {t}")))
        .chain(["formula".to_string()])
        .collect();
    let mut levels = Table::new("Fewest levels that succeed", &columns.iter().map(|c| c.as_str()).collect::<Vec<&str>>())
        .caption("Each cell: the fewest levels among those tried whose test accuracy is over 95% (— when none is), then n, the fewest whose receptive field reaches T, and the rule's formula for it. 'About n' (fixed before running): at least n and at most max(1, floor(n/4)) more.");
    for f in families(g) {
        let fewest = fewest(g, d, f, &all);
        let cell = |t: usize| match fewest.iter().find(|x| x.t == t) {
            None => "not tried".to_string(),
            Some(x) => {
                let l = x.levels.map_or("—".to_string(), |l| l.to_string());
                format!("{l} (n = {}, formula {})", x.n, num(f.formula(t).0))
            }
        };
        let cells = std::iter::once(f.name()).chain(g.lags.iter().map(|&t| cell(t)));
        levels.row(cells.chain([f.formula(1).1.to_string()]).collect());
    }
    let mut attention = Table::new("One causal attention layer", &["T", "test accuracy", "success"])
        .caption("One head, width 32 (8 at tiny scale), sinusoidal positions, a residual connection; its reach is the whole prefix at any T.");
    for (t, a) in &d.attention {
        attention.row(vec![t.to_string(), mean_pm(a, pct), yes(mean(a) > SUCCESS)]);
    }
    let mut tables = vec![runs, levels, attention];
    if !d.bai.iter().all(Vec::is_empty) {
        let mut bai = Table::new("Bai et al.'s benchmarks", &["task", "measure", "TCN here", "TCN published"])
            .caption("Test MSE for adding, cross-entropy per recalled symbol for copy memory (Bai et al. average it over all T + 20 steps: theirs is about 10/(T + 20) of this when the blanks are predicted), test accuracy for sequential MNIST.");
        for (b, vals) in BAI.iter().zip(&d.bai) {
            let show = |v: f64| if b.accuracy() { pct(v) } else { num(v) };
            bai.row(vec![b.task.to_string(), b.measure.to_string(), mean_pm(vals, show), show(b.published)]);
        }
        tables.push(bai);
    }
    tables
}

/// Every configuration's accuracy against its receptive field relative to the lag.
fn collapse_plot(g: &Grid, d: &Data) -> LinePlot {
    let x = |r: &Row| r.rf() as f64 / (r.t + 1) as f64;
    let mut plot = LinePlot::new(
        "Test accuracy against receptive field",
        "receptive field / (T + 1)  (1: the field just reaches step s - T)",
        "test accuracy (fraction of scored steps)",
    )
    .log_x(true)
    .y_range(0.0, 1.05);
    for (i, f) in families(g).into_iter().enumerate() {
        let mine: Vec<&Row> = d.rows.iter().filter(|r| r.f == f).collect();
        let mut s = Series::new(f.name(), mine.iter().map(|r| (x(r), mean(&r.acc))).collect()).points_only().color(i);
        if d.n_seeds > 1 {
            s = s.error_bars(mine.iter().map(|r| (x(r), min_max(&r.acc).0, min_max(&r.acc).1)).collect());
        }
        plot = plot.series(s);
    }
    let xs: Vec<f64> = d.rows.iter().map(x).collect();
    let (lo, hi) = (xs.iter().copied().fold(1.0, f64::min), xs.iter().copied().fold(1.0, f64::max));
    let chance = d.chance;
    plot.series(Series::new("95% (success)", vec![(lo, SUCCESS), (hi, SUCCESS)]).dashed().color(5))
        .series(Series::new(format!("chance ({})", pct(chance)), vec![(lo, chance), (hi, chance)]).dashed().color(6))
        .series(Series::new("field reaches T", vec![(1.0, 0.0), (1.0, 1.05)]).dashed().color(7))
}

/// The fewest levels that succeed and the fewest that reach the lag, per family.
fn levels_plot(g: &Grid, d: &Data) -> LinePlot {
    let mut plot = LinePlot::new("Levels needed to recall lag T", "lag T (steps)", "levels (layers for attention)")
        .log_x(true)
        .log_y(true);
    let fams = families(g);
    for (i, &f) in fams.iter().enumerate() {
        let fewest = fewest(g, d, f, &d.every_seed());
        let got: Points = fewest.iter().filter_map(|x| Some((x.t as f64, x.levels? as f64))).collect();
        let need: Points = fewest.iter().map(|x| (x.t as f64, x.n as f64)).collect();
        let what = if got.is_empty() { "none succeeds at any T" } else { "fewest that succeed" };
        plot = plot
            .series(Series::new(format!("{}: {what}", f.name()), got).markers().color(i))
            .series(Series::new(format!("{}: n(T), the field reaches T", f.name()), need).dashed().color(i));
    }
    let ok: Points = d.attention.iter().filter(|(_, a)| mean(a) > SUCCESS).map(|(t, _)| (*t as f64, 1.0)).collect();
    plot.series(Series::new("one attention layer (succeeds)", ok).markers().color(fams.len()))
}

/// Test accuracy per epoch at the longest lag, of the nets one level short and at the fewest
/// levels that reach it (first seed).
fn curves_plot(g: &Grid, d: &Data) -> LinePlot {
    let longest = *g.lags.last().expect("lags");
    let fams = families(g);
    let mut plot = LinePlot::new(
        format!("Test accuracy per epoch at the longest lag, T = {longest} (first seed)"),
        "epoch",
        "test accuracy (fraction of scored steps)",
    )
    .y_range(0.0, 1.05);
    for (f, t, levels, pts) in &d.curves {
        let i = fams.iter().position(|x| x == f).unwrap_or(0);
        let at = if *t == longest { String::new() } else { format!(" at T = {t}") };
        let s = Series::new(format!("{}, {levels} levels (field {}){at}", f.name(), f.rf(*levels)), pts.clone())
            .markers()
            .color(i);
        plot = plot.series(if *levels < f.needed(*t) { s.dashed() } else { s });
    }
    plot.series(Series::new("one attention layer", d.attention_curve.clone()).markers().color(fams.len()))
}

fn figures(g: &Grid, d: &Data) -> Vec<Figure> {
    vec![
        Figure::new(
            "Accuracy against receptive field",
            "Every TCN configuration (mean over seeds), its receptive field relative to the T + 1 steps that step s - T lies back: left of the vertical line the field misses the target's step.",
            collapse_plot(g, d).to_svg(),
        ),
        Figure::new(
            "Levels needed",
            "The fewest levels that succeed (markers) and the fewest whose receptive field reaches T (dashed): doubling T adds one dilated level but doubles the undilated ones. One attention layer is marked at 1 where it succeeds.",
            levels_plot(g, d).to_svg(),
        ),
        Figure::new(
            "Training at the longest lag",
            "Test accuracy after each epoch of the nets one level short of reaching the lag (dashed) and of those with the fewest levels that reach it (solid), at the longest lag each family is tried at, and of the attention layer. Chance is 1/alphabet.",
            curves_plot(g, d).to_svg(),
        ),
    ]
}

fn note(d: &Data) -> String {
    let all = d.every_seed();
    let (reach, ok) = sufficiency(d, &all);
    let (short, worst) = necessity(d, &all);
    let und: Vec<&Row> = d.rows.iter().filter(|r| !r.f.dilated && r.covers()).collect();
    format!(
        "Necessity: the {short} TCN configurations whose receptive field falls short of T score at most {} (chance {}, bar {}). Sufficiency: {} of {} dilated configurations whose field reaches T succeed. Undilated nets whose field reaches T (reported, not judged): {} of {} succeed. One attention layer: {}. The anchor's numbers are Bai et al.'s benchmarks, run at paper scale only; their per-level history (k-1)d with d = 2^i is what n(T) counts here, twice per level.",
        worst.map_or("n/a".to_string(), |r| pct(r.accuracy(&all))),
        pct(d.chance),
        pct(NEAR_CHANCE * d.chance),
        ok.len(),
        reach.len(),
        und.iter().filter(|r| r.success(&all)).count(),
        und.len(),
        attention_shown(d, &all).join(", "),
    )
}

fn notes(d: &Data) -> Vec<String> {
    let mut notes: Vec<String> = d.diverged.iter().map(|id| format!("{id} diverged; it counts as chance.")).collect();
    if !d.bai.iter().all(Vec::is_empty) {
        notes.push("Bai et al.'s benchmarks are set beside the published TCN numbers; they are not part of the rule, which reads the recall grid. The engine's TCN has no weight norm or dropout (Bai: 0.05 on sequential MNIST), PyTorch's default init instead of N(0, 0.01), and token embeddings for copy memory where Bai feeds the symbol as one real channel.".into());
    }
    let h = halves(d, &d.every_seed());
    notes.push("Why 'reaches T' is a receptive field of at least T + 1: the target at step s is the symbol of step s - T, so the output at s must see steps s - T ..= s. Every receptive field here is odd (1 + 2(k-1) sum of dilations) and every T even, so 'at least T + 1' and the rule's 'at least T' pick the same configurations.".into());
    notes.push("'About log2 T levels' (as v1, fixed before running): the fewest dilated levels that succeed at T are at least n(T), the fewest whose receptive field reaches T, and at most max(1, floor(n/4)) more; for kernel 2 a dilated net of L levels spans 2^(L+1) - 1 steps, so n(T) = log2 T exactly at T = 8, 16, 32. The undilated nets' n(T) is T/(2(k-1)) levels (Bai's per-layer history (k-1)d at d = 1, two convolutions per level of this TCN); their levels and the slopes against log2 T and T/(k-1) are shown, not judged.".into());
    notes.push(format!(
        "Protocol v2 judges the two halves of v1's 'coincides' apart. Necessity holds for every TCN: a net whose field falls short of T sees nothing the target depends on, so on fresh sequences it can only score chance ({} of {} such configurations succeed here). Sufficiency is judged for dilated nets only: with dilation 1 the lag-T path must use the oldest tap of every one of T/(k-1) convolutions in a row, so undilated nets test trainability, not the field (Bai et al. report that dilation is required); {} of {} configurations of every kind whose field reaches T succeed.",
        h.short_ok,
        h.short,
        h.reach_ok,
        d.rows.len() - h.short
    ));
    notes.push(format!(
        "Each configuration is one training run per seed ({} here); the rule reads each configuration's mean test accuracy over the seeds, and each seed's runs alone for the seeds' own outcomes.",
        d.n_seeds
    ));
    notes
}

pub const CLAIM: Claim = Claim {
    id: "C8",
    slug: "receptive-field",
    title: "Convolutional sequence models need depth for long range",
    quote: "you actually require a certain level of depth to take into account long-range correlations ... skip connections and also things like attention are acting as memory lookup.",
    anchor: "Bai, Kolter, Koltun 2018, Table 1: adding T=600 MSE TCN 5.8e-5, GRU 5.3e-5, LSTM 0.164, RNN 0.177; copy memory T=1000 loss TCN 3.5e-5, GRU 0.0197, LSTM 0.0204, RNN 0.0202; sequential MNIST accuracy TCN 99.0, GRU 96.2, LSTM 87.2, RNN 21.5. Per-level history (k-1)d, d = 2^i: a dilated TCN's receptive field grows exponentially with its levels, an undilated one's linearly.",
    rule: "Holds if (necessity, every TCN) every net whose receptive field falls short of T stays near chance, test accuracy below 1.5 / alphabet; (sufficiency, dilated nets only) at least 90% of the dilated nets whose field reaches T succeed (test accuracy over 95%), and the fewest successful dilated levels at each T is about log2 T; and one attention layer succeeds at every T. Undilated nets are trained and reported, not judged. Fixed before running: the receptive field reaches lag T when it spans T + 1 steps (the output at step s must see step s - T); 'about log2 T levels' means that the fewest levels that succeed at T are at least the fewest whose receptive field reaches T, n(T), and at most max(1, floor(n/4)) more (for kernel 2 and T a power of 2, n(T) = log2 T). A configuration's accuracy is its mean over the seeds; the rule is applied to the seeds together and to each seed's runs alone.",
    data: &["lag-T recall (generated from the seed)", "paper scale: adding, copy memory (generated), MNIST (IDX files)"],
    anchor_headline: "Bai et al.: TCNs with a receptive field >= T solve lag-T tasks (e.g. copy T=1000 loss 3.5e-5)",
    seeds: PerScale { quick: 3, paper: 3, tiny: 2 },
    protocol: Protocol {
        version: 2,
        changed: "The rule. v1 asked that success coincide with a field reaching T in 90% of all TCN configurations, undilated ones included, and failed (71%) on undilated nets whose field reached T but did not train: with dilation 1 the lag-T path must use the oldest tap of every layer, so those nets test trainability, not the receptive field (Bai et al. report that dilation is required). v2 judges necessity for every TCN (a field short of T stays below 1.5 / alphabet), sufficiency for dilated nets only (at least 90% of those whose field reaches T succeed, with about log2 T levels, as v1), and the attention layer as v1; undilated nets are trained and reported, not judged. Three seeds at quick scale (v1: one).",
    },
};

impl Experiment for C8 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let g = grid(p);
        let s = CLAIM.seeds(p).len();
        let lags: Vec<String> = g.lags.iter().map(|t| t.to_string()).collect();
        let mut levels = Vec::new();
        for f in families(&g) {
            let per_t: Vec<String> = g
                .lags_of(f)
                .into_iter()
                .map(|t| {
                    let l: Vec<String> = f.levels(t).iter().map(|l| l.to_string()).collect();
                    format!("{} at T = {t}", l.join("/"))
                })
                .collect();
            levels.push(format!("{}: {} levels", f.name(), per_t.join(", ")));
        }
        let recall = format!(
            "Lag-T recall at T = {} (data `recall`): sequences of T + {} symbols drawn uniformly from an alphabet of {}, the target at every step s >= T the symbol of step s - T ({} scored steps per sequence; chance {}). The symbols are independent, so a causal net whose receptive field spans T steps or fewer scores chance on fresh sequences and one that spans T + 1 can score 100%.",
            lags.join(", "),
            g.scored,
            g.alphabet,
            g.scored,
            pct(recall_chance(g.alphabet)),
        );
        match p.scale {
            Scale::Quick => format!("{recall} TCNs (Bai et al.'s residual blocks of two causal convolutions, no weight norm or dropout) of width 32 around the fewest levels n whose receptive field reaches T: {}; and one causal attention layer (one head, width 32, sinusoidal positions, residual). Token embeddings of width 32; Adam 2e-3, gradient norm clipped to 1, batch 32, 8 epochs of 4,000 sequences (1,000 steps); test accuracy on 500 fresh sequences (16,000 scored steps); {s} seeds (protocol v2: v1 ran one), every configuration once per seed. Dilated nets are judged (necessity and sufficiency), undilated nets only for necessity: those whose field reaches T are trained and reported. The settings follow Bai et al.'s reference code (batch 32, clipping at 1 as for their copy memory, the learning rate of their sequential MNIST); the levels follow from the receptive-field formula, chosen before running.", levels.join("; ")),
            Scale::Paper => format!("{recall} As quick with 20,000 training sequences for 10 epochs (6,250 steps), 1,000 test sequences and {s} seeds, at lags up to Bai et al.'s copy-memory length (T = 1024 against their 1000); the undilated nets up to T = {} only (at T = 1024 kernel 2 would need 512 levels, 1,024 convolutions, beyond one process's memory); the levels: {}. Beside them, TCNs on Bai et al.'s benchmarks with the defaults of their reference code: adding T = 600 (8 levels x 30, kernel 7, Adam 4e-3, 10 epochs of 50,000), copy memory T = 1000 (8 x 10, kernel 8, lr 5e-4 with Adam instead of RMSprop, clip 1, 50 epochs of 10,000) and sequential MNIST (8 x 25, kernel 7, Adam 2e-3 / 10 after 10 epochs, 20 epochs).", g.undilated_max_lag, levels.join("; ")),
            Scale::Tiny => format!("{recall} Width 8, one epoch of 64 sequences; {}; one attention layer; {s} seeds: a test of the pipeline.", levels.join("; ")),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let g = grid(p);
        let mut v = Vec::new();
        for s in CLAIM.seeds(p) {
            for &t in g.lags {
                for f in families(&g).into_iter().filter(|&f| g.lags_of(f).contains(&t)) {
                    for l in f.levels(t) {
                        v.push(tcn_run(p, f, t, l, s));
                    }
                }
                v.push(attention_run(p, t, s));
            }
        }
        v.extend(bai_runs(p).into_iter().map(|(_, r)| r));
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let (g, d) = (grid(p), read(p, runs)?);
        let all = d.every_seed();
        let (measured, per_seed) = by_seed(&CLAIM.seeds(p), |s| judge(&g, &d, s));
        Ok(Findings {
            tables: tables(&g, &d),
            figures: figures(&g, &d),
            measured,
            per_seed,
            control: control(&d, &all),
            decide: decide(&d, &all),
            note: note(&d),
            notes: notes(&d),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_needed_follow_the_formulas() {
        let dil = Family { dilated: true, k: 2 };
        let und = Family { dilated: false, k: 2 };
        let und3 = Family { dilated: false, k: 3 };
        for t in [8usize, 16, 32, 64, 256] {
            assert_eq!(dil.needed(t), t.ilog2() as usize, "dilated k = 2 at T = {t}");
            assert_eq!(und.needed(t), t / 2, "undilated k = 2 at T = {t}");
            assert_eq!(und3.needed(t), t / 4, "undilated k = 3 at T = {t}");
            for f in [dil, und, und3] {
                let n = f.needed(t);
                assert!(f.rf(n) > t && f.rf(n - 1) <= t);
                assert!(f.rf(n) % 2 == 1, "receptive fields are odd");
                assert!(f.levels(t).contains(&n) && f.levels(t).contains(&(n - 1)));
            }
        }
        assert_eq!(dil.levels(8), [1, 2, 3, 4]);
        assert_eq!(und.levels(16), [4, 7, 8, 10]);
        assert_eq!(und3.levels(8), [1, 2, 4]);
        assert_eq!((slack(3), slack(8), slack(16)), (1, 2, 4));
    }

    /// Tiny scale's grid (T = 4; dilated and undilated k = 2) with three seeds: in the first
    /// every net whose field reaches T recalls it; in the second only the dilated ones do; in
    /// the third none does, a net short of T scores twice chance, and the attention layer fails.
    fn data(g: &Grid) -> Data {
        let chance = recall_chance(g.alphabet);
        let rows = families(g)
            .into_iter()
            .flat_map(|f| f.levels(4).into_iter().map(move |levels| Row { f, t: 4, levels, acc: Vec::new() }))
            .map(|r| {
                let acc = if r.covers() {
                    vec![1.0, if r.f.dilated { 1.0 } else { chance }, chance]
                } else {
                    vec![chance, chance, if r.f.dilated && r.levels == 1 { 2.0 * chance } else { chance }]
                };
                Row { acc, ..r }
            })
            .collect();
        Data {
            n_seeds: 3,
            chance,
            rows,
            attention: vec![(4, vec![0.99, 0.99, 0.9])],
            curves: Vec::new(),
            attention_curve: Vec::new(),
            diverged: Vec::new(),
            bai: vec![Vec::new(); BAI.len()],
        }
    }

    #[test]
    fn the_rule_reads_any_subset_of_the_seeds_and_judges_undilated_nets_only_for_necessity() {
        let g = grid(&Params { scale: Scale::Tiny, seeds: None });
        let d = data(&g);
        let judged = |seeds: &[usize]| -> Vec<Option<bool>> {
            judge(&g, &d, seeds).into_iter().filter(|m| !m.condition.is_empty()).map(|m| m.met).collect()
        };
        // necessity, sufficiency, dilated levels, attention
        assert_eq!(judged(&[0]), [Some(true); 4]);
        assert_eq!(judged(&[1]), [Some(true); 4], "undilated nets that fail to train are not judged");
        assert_eq!(judged(&[2]), [Some(false); 4]);
        let m = judge(&g, &d, &[2]);
        assert!(m[0].shown.contains("50.0% (T = 4, dilated, k = 2, 1 levels"), "{}", m[0].shown);
        assert!(m[1].headline && m[1].value == 0.0);
        // Seeds together: the short net's mean is 1/3 (below 1.5 / 4), the dilated nets' 2/3.
        assert_eq!(judged(&[0, 1, 2]), [Some(true), Some(false), Some(false), Some(true)]);
        assert!(decide(&d, &[0, 1, 2]).contains("T = 4 dilated, k = 2 levels 1"));
        assert!(control(&d, &[0, 1, 2]).contains("one attention layer recalls 96.0% at T = 4"));
        assert_eq!(halves(&d, &[0]).short_ok, 0);
    }

    #[test]
    fn paper_scale_tries_the_undilated_nets_only_up_to_their_lag_limit() {
        let p = Params { scale: Scale::Paper, seeds: Some(1) };
        let g = grid(&p);
        let dil = Family { dilated: true, k: 2 };
        let und = Family { dilated: false, k: 2 };
        assert_eq!(g.lags_of(dil), g.lags);
        assert_eq!(*g.lags_of(und).last().unwrap(), g.undilated_max_lag);
        let runs = C8.runs(&p);
        let at_1024 = runs.iter().filter(|r| r.label.starts_with("C8 T=1024 ")).count();
        // four dilated depths and the attention layer
        assert_eq!(at_1024, dil.levels(1024).len() + 1);
        assert!(runs.iter().all(|r| !r.label.contains("T=1024 tcn undilated")));
    }
}
