//! C12 exploding: clipping sidesteps explosion (Pascanu, Mikolov & Bengio 2013). Protocol v2:
//! tanh RNNs whose W_hh starts at spectral radius 1.5 and 2, trained by SGD with momentum on the
//! adding problem at a length where a stably initialised RNN learns (the control arm decides it,
//! from its own runs: T = 20 or 50), in three arms: clipped at tau = 1, not clipped, and not
//! clipped with a tenth of the learning rate. The rule judges where the arms end; the gradient
//! norm of every step (metrics.jsonl `grad_norm`, before clipping) and the loss spikes are
//! reported. A run that diverges is a result.

use super::fmt::{mean_pm, num};
use super::recurrent::mean_baseline;
use super::{
    by_seed, Claim, Configs, Experiment, Figure, Findings, Measure, Params, PerScale, Protocol, Run, RunSet, Scale,
    Table,
};
use crate::plot::{LinePlot, Series};
use crate::stats::{mean, std};
use crate::sweep::RunRequest;

pub struct C12;

/// Pascanu et al.'s rule clips g to tau g / ||g|| when ||g|| > tau.
const TAU: f64 = 1.0;
/// SGD's learning rate (momentum 0.9); the slow unclipped arm takes a tenth of it.
const LR: f64 = 0.01;
/// The control arm's W_hh: an orthogonal matrix times this gain, every singular value 0.9, so its
/// gradients can vanish but not explode.
const CONTROL_GAIN: f64 = 0.9;

/// SGD with momentum 0.9 and lr 0.01, as Pascanu et al. (Adam divides each step by a running
/// estimate of the gradient's scale and so would hide an explosion from the weights). v1's net
/// and data, which v2 leaves as they were: one layer of 64 units, batch 64, 6,400 sequences; 24
/// epochs of them make v2's 2,400 updates, every one logged. The length T is set per run.
const CONFIGS: Configs = Configs {
    base: r#"
[data]
name = "adding"
t = 50
train = 6400
test = 500
[model]
arch = "rnn_tanh"
depth = 1
width = 64
hh_init = { kind = "spectral", radius = 1.5 }
[optim]
lr = 0.01
optimizer = { kind = "sgd", momentum = 0.9 }
[train]
epochs = 24
batch_size = 64
log_every = 1
eval_every = 4
checkpoint_every = 4
"#,
    quick: &[],
    // v2 fixes the lengths and the 2,400 updates (more updates would move the length at which
    // the control learns); the paper scale runs more seeds.
    paper: &[],
    tiny: &[
        "data.train = 64",
        "data.test = 32",
        "model.width = 8",
        "train = { epochs = 1, batch_size = 16, log_every = 1 }",
    ],
};

/// The lengths the control arm chooses from: 20 and 50 (tiny: 5 and 10).
fn lengths(p: &Params) -> Vec<usize> {
    if p.scale == Scale::Tiny {
        vec![5, 10]
    } else {
        vec![20, 50]
    }
}

const RADII: [f64; 2] = [1.5, 2.0];

/// The control and the three judged arms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arm {
    Control,
    Clipped,
    Unclipped,
    SlowUnclipped,
}

impl Arm {
    const JUDGED: [Arm; 3] = [Arm::Clipped, Arm::Unclipped, Arm::SlowUnclipped];

    fn name(self) -> &'static str {
        match self {
            Arm::Control => "control: orthogonal W_hh (gain 0.9), clipped at 1",
            Arm::Clipped => "clipped at 1",
            Arm::Unclipped => "not clipped",
            Arm::SlowUnclipped => "not clipped, lr / 10",
        }
    }

    fn clipped(self) -> bool {
        matches!(self, Arm::Control | Arm::Clipped)
    }

    fn color(self) -> usize {
        match self {
            Arm::Clipped => 0,
            Arm::SlowUnclipped => 1,
            Arm::Control => 2,
            Arm::Unclipped => 3,
        }
    }
}

/// The run of `arm` at length `t` (at `radius` for a judged arm) with `seed`.
fn run(p: &Params, t: usize, arm: Arm, radius: f64, seed: u64) -> RunRequest {
    let mut sets = vec![format!("seed={seed}"), format!("data.t={t}")];
    let init = if arm == Arm::Control {
        sets.push(format!("model.hh_init={{ kind = \"orthogonal\", gain = {CONTROL_GAIN:?} }}"));
        format!("orthogonal W_hh gain {CONTROL_GAIN}")
    } else {
        sets.push(format!("model.hh_init={{ kind = \"spectral\", radius = {radius:?} }}"));
        format!("radius {radius}")
    };
    if arm.clipped() {
        sets.push(format!("optim.clip_grad_norm={TAU:?}"));
    }
    if arm == Arm::SlowUnclipped {
        sets.push(format!("optim.lr={:?}", LR / 10.0));
    }
    let what = match arm {
        Arm::Control => format!("clipped at {TAU} (control)"),
        Arm::Clipped => format!("clipped at {TAU}"),
        Arm::Unclipped => "not clipped".into(),
        Arm::SlowUnclipped => format!("not clipped, lr {}", LR / 10.0),
    };
    RunRequest::train(CONFIGS.at(p.scale, &sets), format!("C12 v2 tanh RNN, T={t}, {init}, {what}, seed {seed}"))
}

/// One run's history and end.
struct Hist {
    seed: u64,
    /// (step, gradient norm before clipping) of every logged step.
    norms: Vec<(f64, f64)>,
    /// (step, training loss) of every logged step.
    losses: Vec<(f64, f64)>,
    /// The largest gradient norm after the first step (a clipped and an unclipped run of one
    /// seed share the first); infinite for a run that diverged.
    max_after_first: f64,
    first_norm: f64,
    /// Test MSE after the last update; infinite for a run that diverged (worse than any).
    final_mse: f64,
    baseline: f64,
    diverged_at: Option<f64>,
    /// Steps whose training loss jumped: above 10 times the median of the 50 steps before and
    /// above the mean-prediction baseline.
    spikes: usize,
}

fn hist(r: &Run, seed: u64) -> Result<Hist, String> {
    let records = r.records()?;
    let (mut norms, mut losses) = (Vec::new(), Vec::new());
    for s in records.iter().filter(|s| s.kind == "step") {
        norms.push((s.step as f64, r.need(s, "grad_norm")?));
        losses.push((s.step as f64, r.need(s, "loss")?));
    }
    let diverged_at = records.iter().find(|d| d.kind == "diverged").map(|d| d.step as f64 + 1.0);
    let first_norm = norms.first().map_or(f64::NAN, |q| q.1);
    let mut max_after_first = norms.iter().skip(1).map(|q| q.1).filter(|g| g.is_finite()).fold(f64::NAN, f64::max);
    let final_mse = if r.diverged() {
        max_after_first = f64::INFINITY;
        f64::INFINITY
    } else {
        r.summary().test_loss.ok_or_else(|| r.error("summary.json", "no test_loss"))?
    };
    let baseline = mean_baseline(r)?;
    let spikes = spikes(&losses, baseline);
    Ok(Hist { seed, norms, losses, max_after_first, first_norm, final_mse, baseline, diverged_at, spikes })
}

/// Loss spikes: steps whose loss is above 10 times the median of the 50 steps before it and
/// above `baseline`, so that the noise of a batch near zero loss does not count.
fn spikes(losses: &[(f64, f64)], baseline: f64) -> usize {
    const WINDOW: usize = 50;
    (WINDOW..losses.len())
        .filter(|&i| {
            let l = losses[i].1;
            let before = median(&losses[i - WINDOW..i].iter().map(|q| q.1).collect::<Vec<_>>());
            l.is_finite() && l > baseline && l > 10.0 * before
        })
        .count()
}

/// Every run at one length: the control's and, per radius, the judged arms' (in
/// [`Arm::JUDGED`] order), a run per seed each.
struct Length {
    t: usize,
    control: Vec<Hist>,
    radii: Vec<(f64, [Vec<Hist>; 3])>,
}

impl Length {
    /// The mean-prediction baseline over every run at this length, on the test sets of `seeds`.
    fn baseline(&self, seeds: &[usize]) -> f64 {
        let runs = std::iter::once(&self.control).chain(self.radii.iter().flat_map(|r| r.1.iter()));
        mean(&runs.flat_map(|h| seeds.iter().map(move |&s| h[s].baseline)).collect::<Vec<_>>())
    }

    fn control_mse(&self, seeds: &[usize]) -> f64 {
        mean_all(&seeds.iter().map(|&s| self.control[s].final_mse).collect::<Vec<_>>())
    }

    /// Whether the control's runs of `seeds` end below half the baseline.
    fn learns(&self, seeds: &[usize]) -> bool {
        self.control_mse(seeds) < self.baseline(seeds) / 2.0
    }

    fn every_seed(&self) -> Vec<usize> {
        (0..self.control.len()).collect()
    }
}

/// The length the judged arms are judged at: the larger at which the control's runs (all seeds)
/// end below half the baseline; None where the control learns at neither (the claim is then
/// inconclusive, and the shortest length is shown).
fn chosen(data: &[Length]) -> Option<usize> {
    data.iter().rposition(|d| d.learns(&d.every_seed()))
}

fn read(p: &Params, runs: &RunSet) -> Result<Vec<Length>, String> {
    let hists = |t: usize, arm: Arm, radius: f64| -> Result<Vec<Hist>, String> {
        CLAIM.seeds(p).into_iter().map(|s| hist(&runs.get(&run(p, t, arm, radius, s))?, s)).collect()
    };
    lengths(p)
        .into_iter()
        .map(|t| {
            let control = hists(t, Arm::Control, f64::NAN)?;
            let radii = RADII
                .into_iter()
                .map(|r| {
                    let [a, b, c] = Arm::JUDGED;
                    Ok((r, [hists(t, a, r)?, hists(t, b, r)?, hists(t, c, r)?]))
                })
                .collect::<Result<_, String>>()?;
            Ok(Length { t, control, radii })
        })
        .collect()
}

/// The seeds' standard deviation of the final test MSE that a gap between the clipped arm and
/// `other` must exceed twice: over every seed, the larger of the two arms' (sample standard
/// deviations of their finite final MSEs; 0 where neither has two).
fn spread(clipped: &[Hist], other: &[Hist]) -> f64 {
    let sd = |h: &[Hist]| std(&h.iter().map(|x| x.final_mse).collect::<Vec<_>>());
    [sd(clipped), sd(other)].into_iter().filter(|s| s.is_finite()).fold(0.0, f64::max)
}

/// The rule at one length over the runs of `seeds` (indices): valid only if the control ends
/// below half the baseline (else nothing is judged); then at every radius the clipped arm's mean
/// final MSE is at most half the baseline and below each unclipped arm's by more than twice the
/// seeds' standard deviation (taken over every seed, whichever seeds are judged). Beside them,
/// unjudged: the largest gradient norms after the first step.
fn judge(d: &Length, seeds: &[usize]) -> Vec<Measure> {
    let half = d.baseline(seeds) / 2.0;
    let ctrl = d.control_mse(seeds);
    let valid = ctrl < half;
    let mut measured = vec![Measure::new(
        format!("control arm (orthogonal W_hh, gain {CONTROL_GAIN}) mean final test MSE, T={}", d.t),
        ctrl,
        num(ctrl),
    )
    .against(format!("< half the baseline, {} (else inconclusive)", num(half)), half, valid.then_some(true))];
    let fin = |h: &[Hist]| mean_all(&seeds.iter().map(|&s| h[s].final_mse).collect::<Vec<_>>());
    let largest = |h: &[Hist]| mean_all(&seeds.iter().map(|&s| h[s].max_after_first).collect::<Vec<_>>());
    for (radius, arms) in &d.radii {
        let r = num(*radius);
        let c = fin(&arms[0]);
        let m = Measure::new(format!("clipped arm mean final test MSE, radius {r}"), c, num(c)).at_most(half);
        // The larger radius is the harder case for clipping: the verdict's one number.
        measured.push(if *radius == RADII[RADII.len() - 1] { m.headline() } else { m });
        for (k, arm) in [(1, Arm::Unclipped), (2, Arm::SlowUnclipped)] {
            let u = fin(&arms[k]);
            let gap = u - c;
            let bar = 2.0 * spread(&arms[0], &arms[k]);
            measured.push(
                Measure::new(
                    format!("{} minus clipped, mean final test MSE, radius {r}", arm.name()),
                    gap,
                    format!("{} ({} against {})", num(gap), num(u), num(c)),
                )
                .against(
                    format!("> twice the seeds' standard deviation, {}", num(bar)),
                    bar,
                    (!gap.is_nan()).then_some(gap > bar),
                ),
            );
        }
        measured.push(Measure::new(
            format!("largest gradient norm after step 1, radius {r} (reported)"),
            largest(&arms[1]),
            format!(
                "not clipped {}, lr / 10 {}, clipped {} (before clipping)",
                num(largest(&arms[1])),
                num(largest(&arms[2])),
                num(largest(&arms[0]))
            ),
        ));
    }
    if !valid {
        for m in &mut measured[1..] {
            m.met = None;
        }
    }
    measured
}

/// The control arm at each length, and the length it chooses.
fn choice_table(data: &[Length], chosen: Option<usize>, n_seeds: usize) -> Table {
    let mut tab = Table::new(
        "The length T, chosen from the control arm alone",
        &["T", "control's final test MSE", "baseline", "half the baseline", "control below half", "judged here"],
    )
    .caption(format!("The control arm (orthogonal W_hh of gain {CONTROL_GAIN}, clipped at {TAU}, otherwise as the judged arms) over {n_seeds} seeds (mean ± standard deviation); the rule is judged at the larger T at which its mean ends below half the mean-prediction baseline."));
    for (i, d) in data.iter().enumerate() {
        let all = d.every_seed();
        let base = d.baseline(&all);
        tab.row(vec![
            d.t.to_string(),
            mean_pm(&d.control.iter().map(|h| h.final_mse).collect::<Vec<_>>(), num),
            num(base),
            num(base / 2.0),
            if d.learns(&all) { "yes" } else { "no" }.into(),
            if chosen == Some(i) { "yes" } else { "no" }.into(),
        ]);
    }
    tab
}

fn arms_tables(data: &[Length], chosen: Option<usize>, n_seeds: usize) -> Vec<Table> {
    let mut by_arm = Table::new(
        "By arm",
        &["T", "radius", "arm", "final test MSE", "diverged", "largest norm after step 1", "median norm, last 100 steps", "loss spikes per run"],
    )
    .caption(format!("Means over {n_seeds} seeds (final test MSE: mean ± standard deviation of the runs that finished; a diverged run counts as infinite in the rule). Gradient norms are the global norm of each step's gradient before clipping; a loss spike is a step whose training loss exceeds 10 times the median of the 50 steps before it and the mean-prediction baseline. Only the chosen T is judged."));
    let mut per_run = Table::new(
        "Every run",
        &[
            "T",
            "radius",
            "arm",
            "seed",
            "norm at step 1",
            "largest after step 1",
            "final test MSE",
            "loss spikes",
            "status",
        ],
    )
    .caption("A diverged run ended with a non-finite loss or gradient; the training loop logs the steps before it.");
    for (i, d) in data.iter().enumerate() {
        let t = if chosen == Some(i) { format!("{} (judged)", d.t) } else { d.t.to_string() };
        let mut rows: Vec<(String, Arm, &[Hist])> = vec![("-".into(), Arm::Control, &d.control)];
        for (r, arms) in &d.radii {
            rows.extend(Arm::JUDGED.iter().zip(arms).map(|(&a, h)| (num(*r), a, h.as_slice())));
        }
        for (r, arm, h) in rows {
            let finals: Vec<f64> = h.iter().map(|x| x.final_mse).collect();
            let late = median(&h.iter().flat_map(|x| x.norms.iter().rev().take(100).map(|q| q.1)).collect::<Vec<_>>());
            by_arm.row(vec![
                t.clone(),
                r.clone(),
                arm.name().into(),
                mean_pm(&finals, num),
                format!("{} of {}", h.iter().filter(|x| x.diverged_at.is_some()).count(), h.len()),
                num(mean_all(&h.iter().map(|x| x.max_after_first).collect::<Vec<_>>())),
                num(late),
                num(mean(&h.iter().map(|x| x.spikes as f64).collect::<Vec<_>>())),
            ]);
            for x in h {
                per_run.row(vec![
                    d.t.to_string(),
                    r.clone(),
                    arm.name().into(),
                    x.seed.to_string(),
                    num(x.first_norm),
                    num(x.max_after_first),
                    num(x.final_mse),
                    x.spikes.to_string(),
                    match x.diverged_at {
                        Some(step) => format!("diverged at step {step}"),
                        None => "finished".into(),
                    },
                ]);
            }
        }
    }
    vec![by_arm, per_run]
}

/// At most this many points per line: each point the largest value of its window of steps, so
/// that a spike survives the thinning.
const POINTS: usize = 80;

fn thinned(series: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let finite: Vec<(f64, f64)> = series.iter().copied().filter(|q| q.1.is_finite() && q.1 > 0.0).collect();
    let w = finite.len().div_ceil(POINTS).max(1);
    finite.chunks(w).map(|c| c.iter().copied().fold((c[0].0, f64::NEG_INFINITY), |a, q| (a.0, a.1.max(q.1)))).collect()
}

/// Every seed's `what` at every step at one radius, each arm and the control, at length `d`.
fn per_step(d: &Length, k: usize, what: &str, y: &str, series: fn(&Hist) -> &[(f64, f64)], tau: bool) -> Figure {
    let (radius, arms) = &d.radii[k];
    let title = format!("{what} per step, T={}, radius {}", d.t, num(*radius));
    let mut plot = LinePlot::new(title.clone(), "training step", y).log_y(true);
    let mut lines: Vec<(Arm, &[Hist])> = vec![(Arm::Control, &d.control)];
    lines.extend(Arm::JUDGED.iter().zip(arms).map(|(&a, h)| (a, h.as_slice())));
    for (arm, h) in lines {
        for (i, x) in h.iter().enumerate() {
            // One colour per arm, one legend entry for all its seeds.
            let name = if i == 0 { format!("{} ({} seeds)", arm.name(), h.len()) } else { String::new() };
            let s = Series::new(name, thinned(series(x))).color(arm.color());
            plot = plot.series(if arm.clipped() { s } else { s.dashed() });
        }
    }
    if tau {
        let n = d.control.iter().map(|x| x.norms.len()).max().unwrap_or(1) as f64;
        plot = plot.series(Series::new(format!("tau = {TAU}"), vec![(1.0, TAU), (n, TAU)]).dashed().color(7));
    }
    Figure::new(
        title,
        format!("One line per seed (each point the largest of a window of steps, at most {POINTS} per line); dashed: the unclipped arms. The control arm (orthogonal W_hh) does not depend on the radius. A diverged run's line ends at the step before it diverged."),
        plot.to_svg(),
    )
}

fn figures(d: &Length) -> Vec<Figure> {
    let mut figures = Vec::new();
    for k in 0..d.radii.len() {
        figures.push(per_step(d, k, "gradient norm", "global gradient norm before clipping", |x| &x.norms, true));
        figures.push(per_step(d, k, "training loss", "training MSE of the step's batch", |x| &x.losses, false));
    }
    figures
}

fn notes(data: &[Length], chosen: Option<usize>) -> Vec<String> {
    let mut notes = Vec::new();
    let controls: Vec<String> = data
        .iter()
        .map(|d| {
            let all = d.every_seed();
            format!("T={}: {} against half the baseline {}", d.t, num(d.control_mse(&all)), num(d.baseline(&all) / 2.0))
        })
        .collect();
    notes.push(match chosen {
        Some(i) => format!("The control arm's mean final test MSE: {}. T = {} is the larger length at which it ends below half the baseline, so the rule is judged there; the arms' runs at the other length are shown, not judged.", controls.join("; "), data[i].t),
        None => format!("The control arm's mean final test MSE: {}: it ends below half the baseline at neither length, so the rule cannot be applied (inconclusive); the arms are shown at T = {}.", controls.join("; "), data[0].t),
    });
    for d in data {
        let mut dv = Vec::new();
        for (radius, arms) in &d.radii {
            for (arm, h) in Arm::JUDGED.iter().zip(arms) {
                for x in h {
                    if let Some(at) = x.diverged_at {
                        dv.push(format!("{}, radius {}, seed {} at step {at}", arm.name(), num(*radius), x.seed));
                    }
                }
            }
        }
        if !dv.is_empty() {
            notes.push(format!("T={}: diverged (final MSE counted as infinite): {}.", d.t, dv.join("; ")));
        }
    }
    notes.push("Gradient norms and loss spikes are reported, not judged: a clipped and an unclipped run of one seed start from the same weights and batches, so their first gradients are equal; clipping rescales the update, not the gradient it is given.".into());
    notes
}

/// The median of the finite values (NaN when there are none).
fn median(v: &[f64]) -> f64 {
    let mut f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        return f64::NAN;
    }
    f.sort_by(f64::total_cmp);
    let n = f.len();
    if n % 2 == 1 {
        f[n / 2]
    } else {
        (f[n / 2 - 1] + f[n / 2]) / 2.0
    }
}

/// The mean, infinite when any value is (a diverged seed), NaN when any is NaN.
fn mean_all(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

pub const CLAIM: Claim = Claim {
    id: "C12",
    slug: "exploding",
    title: "Clipping sidesteps explosion",
    quote: "we haven't solved the vanishing or exploding gradients problem at all, we just side stepped it.",
    anchor: "Pascanu, Mikolov, Bengio, ICML 2013: with a largest singular value of W_hh above 1/gamma gradients can explode; clipping g to tau g / ||g|| when ||g|| > tau keeps SGD from being thrown off by the resulting cliffs in the loss surface.",
    rule: "Valid only if the control arm (a tanh RNN with orthogonal W_hh of gain 0.9) ends below half the mean-prediction baseline at the length judged (else inconclusive). Holds if at every initial spectral radius (1.5 and 2) the clipped arm's mean final test MSE is at most half the baseline and below both unclipped arms' (the same learning rate, and a tenth of it) by more than twice the seeds' standard deviation. Gradient norms and loss spikes are reported, not judged.",
    data: &["the adding problem (generated from the seed)"],
    anchor_headline: "Pascanu et al.: clipping at tau lets SGD train where it would explode",
    seeds: PerScale { quick: 5, paper: 10, tiny: 2 },
    protocol: Protocol {
        version: 2,
        changed: "v1's rule was ill-posed: it compared the largest gradient norms, which a clipped and an unclipped run of one seed share at their first step, and it ran at T = 100, where a tanh RNN's trouble is vanishing rather than explosion, so no arm could learn and clipping could show no benefit in the loss. v2 judges clipping where the unclipped net's trouble is explosion: the adding problem at the larger of T = 20 and 50 at which a stably initialised RNN (orthogonal W_hh, gain 0.9: the control arm) learns, decided from the control's runs alone; SGD lr 0.01 with momentum 0.9, 2,400 updates, 5 seeds, radius 1.5 and 2, three arms (clipped at tau = 1, not clipped, not clipped with lr / 10); the rule judges final losses against half the baseline and the seeds' spread, and reports gradient norms and loss spikes.",
    },
};

impl Experiment for C12 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let s = CLAIM.seeds(p).len();
        let common = format!("The adding problem. Tanh RNNs of one layer of 64 units trained by SGD (lr {LR}, momentum 0.9) for 2,400 updates of batch 64 (24 epochs of 6,400 sequences; every step logged), scored on 500 test sequences after the last update; {s} seeds. Arms, each at T = 20 and T = 50: the control (W_hh an orthogonal matrix times {CONTROL_GAIN}, clipped at tau = {TAU}) and, for W_hh a standard Gaussian matrix rescaled to spectral radius 1.5 and 2 (largest singular value about twice that), three judged arms: clipped at tau = {TAU}, not clipped, and not clipped with lr {}. SGD as Pascanu et al. (Adam would rescale an exploding step away).", LR / 10.0);
        let fixed = "Fixed before the v2 runs, where CLAIMS.md leaves them open: the length is chosen from the control's runs alone, and the engine plans every run before any has finished, so all arms run at both lengths and only those at the chosen length are judged (the others are shown); the control is clipped like the judged clipped arm, so that the two differ in the initialisation only, and the control's learning says that this training reaches the bar (half the baseline) asked of the clipped arm at this length once the start does not explode; v1's width (64), batch (64) and 6,400 sequences, which v2 does not change; the seeds' standard deviation is taken over every seed, the larger of the two compared arms' (finite runs), also when one seed is judged alone; a loss spike is a step whose training loss exceeds 10 times the median of the 50 steps before it and the baseline. Each seed alone is judged at the length chosen from all seeds.";
        match p.scale {
            Scale::Quick => format!("{common} {fixed}"),
            Scale::Paper => format!("As quick with {s} seeds: v2 fixes the lengths and the 2,400 updates, and more updates would move the length at which the control learns. {common} {fixed}"),
            Scale::Tiny => format!("T = 5 and 10, 8 units, 4 updates, {s} seeds: a test of the pipeline."),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for t in lengths(p) {
            for s in CLAIM.seeds(p) {
                v.push(run(p, t, Arm::Control, f64::NAN, s));
            }
            for r in RADII {
                for arm in Arm::JUDGED {
                    for s in CLAIM.seeds(p) {
                        v.push(run(p, t, arm, r, s));
                    }
                }
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let seeds = CLAIM.seeds(p);
        let data = read(p, runs)?;
        let chosen = chosen(&data);
        let d = &data[chosen.unwrap_or(0)];
        let (measured, per_seed) = by_seed(&seeds, |s| judge(d, s));
        let all = d.every_seed();
        let control = format!(
            "the control arm (orthogonal W_hh of gain {CONTROL_GAIN}, clipped at {TAU}) ends at {} at T={}, below half the baseline ({}): from a start that does not explode, this training learns the task at this length.",
            num(d.control_mse(&all)),
            d.t,
            num(d.baseline(&all) / 2.0)
        );
        let decide = if chosen.is_none() {
            let at: Vec<String> =
                data.iter().map(|l| format!("{} at T={}", num(l.control_mse(&l.every_seed())), l.t)).collect();
            format!("a length at which the control arm learns within the 2,400 updates (its mean final MSE: {}, against half the baseline, about {}): a shorter T or a longer training, for protocol v3.", at.join(", "), num(d.baseline(&all) / 2.0))
        } else {
            format!("more seeds than {}: the seeds' own outcomes split.", seeds.len())
        };
        let mut tables = vec![choice_table(&data, chosen, seeds.len())];
        tables.extend(arms_tables(&data, chosen, seeds.len()));
        Ok(Findings {
            tables,
            figures: figures(d),
            measured,
            per_seed,
            note: format!("Judged at T = {}; gradient norms before clipping, clipping at tau = {TAU}. The rule applies to the means over seeds at each radius; the seeds' standard deviation to the final MSEs over every seed.", d.t),
            control,
            decide,
            notes: notes(&data, chosen),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, final_mse: f64) -> Hist {
        let diverged = final_mse.is_infinite();
        Hist {
            seed,
            norms: vec![(1.0, 2.0), (2.0, 3.0)],
            losses: vec![(1.0, 0.2), (2.0, 0.1)],
            max_after_first: if diverged { f64::INFINITY } else { 3.0 },
            first_norm: 2.0,
            final_mse,
            baseline: 0.16,
            diverged_at: diverged.then_some(2.0),
            spikes: 0,
        }
    }

    fn runs(v: &[f64]) -> Vec<Hist> {
        v.iter().enumerate().map(|(i, &x)| run(i as u64 + 1, x)).collect()
    }

    /// One length whose control ends at `control` and whose arms (clipped, unclipped, slow) end
    /// at these final MSEs per seed, the same at both radii.
    fn length(t: usize, control: &[f64], arms: [&[f64]; 3]) -> Length {
        let arms = || [runs(arms[0]), runs(arms[1]), runs(arms[2])];
        Length { t, control: runs(control), radii: RADII.iter().map(|&r| (r, arms())).collect() }
    }

    fn met(m: &[Measure]) -> Vec<Option<bool>> {
        m.iter().filter(|m| !m.condition.is_empty()).map(|m| m.met).collect()
    }

    #[test]
    fn the_clipped_arm_must_end_below_half_the_baseline_and_both_unclipped_arms_by_twice_the_spread() {
        let inf = f64::INFINITY;
        let d = length(50, &[0.01, 0.01, 0.01], [&[0.02, 0.03, 0.04], &[inf, 0.16, 0.17], &[0.15, 0.16, 0.17]]);
        let t = Some(true);
        assert_eq!(met(&judge(&d, &[0, 1, 2])), [t, t, t, t, t, t, t], "control valid; then per radius 3 conditions");
        // Seed 2 alone: the gap is judged against the spread over every seed (the larger of the
        // clipped arm's 0.01 and the unclipped arm's 0.007 over its finished runs): 0.13 > 0.02.
        let m = judge(&d, &[1]);
        assert_eq!(m[2].value, 0.16 - 0.03);
        assert!((m[2].bar.unwrap() - 0.02).abs() < 1e-12);
        // A clipped arm above half the baseline fails, and so does a gap within the spread.
        let d = length(50, &[0.01; 3], [&[0.1, 0.1, 0.1], &[0.11, 0.3, 0.5], &[0.15, 0.16, 0.17]]);
        let m = judge(&d, &[0, 1, 2]);
        assert_eq!(met(&m)[..4], [t, Some(false), Some(false), t]);
        assert!(!m[1].headline && m[5].headline, "the larger radius is the headline");
    }

    #[test]
    fn without_a_control_that_learns_nothing_is_judged_and_the_length_is_the_larger_that_learns() {
        let good = [&[0.01, 0.02][..], &[0.16, 0.17], &[0.16, 0.17]];
        let d = length(50, &[0.1, 0.12], good);
        let m = judge(&d, &[0, 1]);
        assert!(met(&m).iter().all(|x| x.is_none()), "control at 0.11 > 0.08: inconclusive");
        let short = length(20, &[0.01, 0.01], good);
        let long = length(50, &[0.01, 0.02], good);
        assert_eq!(chosen(&[short, long]), Some(1));
        let (short, long) = (length(20, &[0.01, 0.01], good), length(50, &[0.1, 0.12], good));
        assert_eq!(chosen(&[short, long]), Some(0));
        let (short, long) = (length(20, &[0.1, 0.1], good), length(50, &[f64::INFINITY, 0.1], good));
        assert_eq!(chosen(&[short, long]), None, "a diverged control counts as not learning");
    }

    #[test]
    fn a_spike_is_a_jump_above_the_recent_median_and_the_baseline() {
        let mut l: Vec<(f64, f64)> = (0..60).map(|i| (i as f64, 0.01)).collect();
        l[55].1 = 0.5;
        l[57].1 = 0.09;
        assert_eq!(spikes(&l, 0.16), 1, "0.09 is 9x the median and below the baseline");
        assert_eq!(thinned(&l).len(), 60);
        let long: Vec<(f64, f64)> = (0..2400).map(|i| (i as f64, if i == 1001 { 5.0 } else { 1.0 })).collect();
        let t = thinned(&long);
        assert!(t.len() <= POINTS && t.iter().any(|q| q.1 == 5.0), "the spike survives the thinning");
    }

    #[test]
    fn the_runs_at_quick_scale() {
        let p = Params { scale: Scale::Quick, seeds: None };
        let v = C12.runs(&p);
        assert_eq!(v.len(), 2 * 5 * (1 + 2 * 3));
        let c = &v[0].config;
        assert_eq!((c.optim.clip_grad_norm, c.train.epochs * 6400 / c.train.batch_size), (Some(TAU), 2400));
        let slow = super::run(&p, 50, Arm::SlowUnclipped, 2.0, 3);
        assert_eq!((slow.config.optim.lr, slow.config.optim.clip_grad_norm), (LR / 10.0, None));
        assert_eq!(slow.label, "C12 v2 tanh RNN, T=50, radius 2, not clipped, lr 0.001, seed 3");
    }
}
