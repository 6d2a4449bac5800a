//! C11 temporal-depth: effective depth in time. The temporal probe's distribution of gradient
//! mass over time lags (how far back from the loss the gradient reaching the inputs comes
//! from), per cell type, before and after training on the adding problem at T = 100 (C10's
//! runs, protocol v2's training), and the effective temporal depth: the lag below which 90% of
//! the mass lies.

use super::c10_gated_memory as c10;
use super::fmt::{mean_pm, num, pct};
use super::recipes::recurrent::{adding_lag, probed, Cell, Task};
use super::{by_seed, Claim, Experiment, Figure, Findings, Measure, Params, Protocol, Run, RunSet, Scale, Table};
use crate::plot::{LinePlot, Series};
use crate::probe::temporal::Temporal;
use crate::probe::ProbeKind;
use crate::stats::mean;
use crate::sweep::RunRequest;

pub struct C11;

const CELLS: [Cell; 5] = [Cell::Rnn, Cell::LstmBias0, Cell::LstmBias1, Cell::Gru, Cell::Tcn];

/// C10's run of `cell` on the adding problem with `seed`, probed at initialisation and after
/// training.
fn net_runs(p: &Params, cell: Cell, seed: u64) -> [RunRequest; 2] {
    probed(c10::run(p, cell, Task::Adding, adding_lag(p), seed), ProbeKind::Temporal)
}

/// One temporal report, as the analysis uses it.
struct Depth {
    depth: f64,
    mean_lag: f64,
    /// The share of the mass at lags of at least T/2 (the first marked value's half).
    far_mass: f64,
    mass: Vec<f64>,
}

fn depth(r: &Run) -> Result<Depth, String> {
    let t = r.probe::<Temporal>()?;
    Ok(Depth {
        depth: t.effective_depth.map_or(f64::NAN, |d| d as f64),
        mean_lag: t.mean_lag,
        far_mass: t.mass.iter().skip(t.mass.len() / 2).sum(),
        mass: t.mass,
    })
}

/// One seed of a net.
struct Seed {
    seed: u64,
    at_init: Depth,
    /// The trained report and the test MSE; None when training diverged.
    trained: Option<(Depth, f64)>,
}

/// One net over its seeds.
struct Net {
    cell: Cell,
    seeds: Vec<Seed>,
}

impl Net {
    fn at_init(&self) -> Vec<&Depth> {
        self.seeds.iter().map(|s| &s.at_init).collect()
    }

    /// The trained reports of `seeds` (indices) that did not diverge.
    fn trained(&self, seeds: &[usize]) -> Vec<&Depth> {
        seeds.iter().filter_map(|&s| self.seeds[s].trained.as_ref().map(|t| &t.0)).collect()
    }

    /// The mean effective depth after training over `seeds`.
    fn depth(&self, seeds: &[usize]) -> f64 {
        mean(&of(&self.trained(seeds), |d| d.depth))
    }

    fn mse(&self) -> Vec<f64> {
        self.seeds.iter().filter_map(|s| s.trained.as_ref().map(|t| t.1)).collect()
    }

    /// The first seed's report (after training: the first seed that finished).
    fn first(&self, trained: bool) -> Option<&Depth> {
        if trained {
            self.seeds.iter().find_map(|s| s.trained.as_ref().map(|t| &t.0))
        } else {
            self.seeds.first().map(|s| &s.at_init)
        }
    }

    fn every_seed(&self) -> Vec<usize> {
        (0..self.seeds.len()).collect()
    }
}

fn of(reports: &[&Depth], f: fn(&Depth) -> f64) -> Vec<f64> {
    reports.iter().map(|d| f(d)).collect()
}

fn read(p: &Params, runs: &RunSet) -> Result<Vec<Net>, String> {
    let seed = |cell: Cell, seed: u64| -> Result<Seed, String> {
        let [init, trained] = net_runs(p, cell, seed);
        let at_init = depth(&runs.get(&init)?)?;
        let r = runs.get(&trained)?;
        let trained = if r.diverged() { None } else { Some((depth(&r)?, r.summary().test_loss.unwrap_or(f64::NAN))) };
        Ok(Seed { seed, at_init, trained })
    };
    CELLS
        .iter()
        .map(|&cell| {
            Ok(Net { cell, seeds: c10::CLAIM.seeds(p).into_iter().map(|s| seed(cell, s)).collect::<Result<_, _>>()? })
        })
        .collect()
}

/// The ratio the rule asks of each gated net's depth to the tanh RNN's.
const RATIO: f64 = 4.0;

/// The rule over the runs of `seeds` (indices), and each net's depth beside it.
fn judge(nets: &[Net], seeds: &[usize]) -> Vec<Measure> {
    let rnn = nets[0].depth(seeds);
    let mut measured = Vec::new();
    for n in nets.iter().filter(|n| matches!(n.cell, Cell::LstmBias1 | Cell::Gru)) {
        let d = n.depth(seeds);
        let ratio = d / rnn;
        let m = Measure::new(
            format!("effective temporal depth after training, {} / tanh RNN", n.cell.name()),
            ratio,
            format!("{} ({} / {} steps)", num(ratio), num(d), num(rnn)),
        )
        .at_least(RATIO);
        // The LSTM with forget bias 1 is the rule's first gated net, as in C10.
        measured.push(if n.cell == Cell::LstmBias1 { m.headline() } else { m });
    }
    for n in nets {
        let d = n.depth(seeds);
        measured.push(Measure::new(
            format!("effective temporal depth after training, {}", n.cell.name()),
            d,
            format!("{} steps", num(d)),
        ));
    }
    measured
}

fn table(p: &Params, nets: &[Net]) -> Table {
    let mut tab = Table::new(
        format!("Effective temporal depth on the adding problem, T = {}", adding_lag(p)),
        &["net", "depth at init", "mean lag at init", "depth trained", "mean lag trained", "mass at lags >= T/2, trained", "test MSE"],
    )
    .caption(format!("Effective depth: the smallest L such that lags 0..L-1 hold 90% of the gradient mass (at most T = {}); mean lag: the mass-weighted mean; means ± standard deviations over {} seed(s).", adding_lag(p), c10::CLAIM.seeds(p).len()));
    for n in nets {
        let (init, trained) = (n.at_init(), n.trained(&n.every_seed()));
        let pm = |v: &[&Depth], f: fn(&Depth) -> f64| mean_pm(&of(v, f), num);
        tab.row(vec![
            n.cell.name().to_string(),
            pm(&init, |x| x.depth),
            pm(&init, |x| x.mean_lag),
            pm(&trained, |x| x.depth),
            pm(&trained, |x| x.mean_lag),
            mean_pm(&of(&trained, |x| x.far_mass), pct),
            mean_pm(&n.mse(), num),
        ]);
    }
    tab
}

fn figures(p: &Params, nets: &[Net]) -> Vec<Figure> {
    let mut figures = Vec::new();
    for (when, trained) in [("after training", true), ("at initialisation", false)] {
        let mut plot = LinePlot::new(
            format!("Gradient mass by time lag, {when} (adding, T = {})", adding_lag(p)),
            "lag (steps between the input and the loss)",
            "share of the gradient mass (first seed)",
        )
        .log_y(true);
        for (k, n) in nets.iter().enumerate() {
            if let Some(r) = n.first(trained) {
                let pts: Vec<(f64, f64)> = r
                    .mass
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| **m > 0.0 && m.is_finite())
                    .map(|(l, m)| (l as f64, *m))
                    .collect();
                plot = plot.series(Series::new(format!("{} (depth {})", n.cell.name(), num(r.depth)), pts).color(k));
            }
        }
        figures.push(Figure::new(
            format!("Gradient mass by lag, {when}"),
            "The temporal probe's mass(lag): the share of the gradient reaching the inputs that comes from lag steps before the loss (log scale; lags whose gradient underflowed to 0 are left out). A flat curve spreads the gradient over the whole sequence; a falling one keeps it near the loss.",
            plot.to_svg(),
        ));
    }
    let mut cum = LinePlot::new(
        format!("Cumulative gradient mass after training (adding, T = {})", adding_lag(p)),
        "lag (steps between the input and the loss)",
        "share of the mass at lags <= lag (first seed)",
    )
    .y_range(0.0, 1.0);
    for (k, n) in nets.iter().enumerate() {
        if let Some(r) = n.first(true) {
            let pts = r
                .mass
                .iter()
                .scan(0.0, |a, m| {
                    *a += m;
                    Some(*a)
                })
                .enumerate()
                .map(|(l, c)| (l as f64, c))
                .collect();
            cum = cum.series(Series::new(n.cell.name(), pts).color(k));
        }
    }
    let t_last = adding_lag(p) as f64 - 1.0;
    cum = cum.series(Series::new("90%", vec![(0.0, 0.9), (t_last, 0.9)]).dashed().color(CELLS.len()));
    figures.push(Figure::new(
        "Cumulative gradient mass after training",
        "Where each curve crosses 90% is the net's effective temporal depth.",
        cum.to_svg(),
    ));
    figures
}

fn notes(p: &Params, nets: &[Net]) -> Vec<String> {
    let mut notes = vec![
        "The inputs are the raw features (value, marker) of each step; the gradient at a step is ||dL/dx_t|| per sequence, summed over the sequences of the probe's 4 training batches. A net that solves the adding problem must read one value anywhere in the first half, so its mass reaches lags up to T - 1; one that only predicts the mean has nowhere in particular to look, and its mass stays where the recurrence leaves it (near the loss for a vanishing RNN).".to_string(),
    ];
    let unlearned: Vec<String> = nets
        .iter()
        .filter(|n| mean(&n.mse()) > 0.1)
        .map(|n| format!("{} (test MSE {})", n.cell.name(), num(mean(&n.mse()))))
        .collect();
    if !unlearned.is_empty() {
        notes.push(format!("Not learned in training (test MSE above 0.1, against 1/6 for predicting the mean): {}. Their effective depth is that of a net that does not use the marked values, so the comparison with them says what training bought, not what the cell can hold.", unlearned.join(", ")));
    }
    let diverged: Vec<String> = nets
        .iter()
        .flat_map(|n| {
            n.seeds.iter().filter(|s| s.trained.is_none()).map(|s| format!("{} seed {}", n.cell.name(), s.seed))
        })
        .collect();
    if !diverged.is_empty() {
        notes.push(format!("Diverged in training (left out): {}.", diverged.join(", ")));
    }
    if p.scale == Scale::Tiny {
        notes.push("Tiny scale: T = 10, one epoch; nothing is decided.".into());
    }
    notes
}

/// The control for a claim that did not hold: the probe does see long lags in a net that uses
/// them (the deepest net after training), and whether each judged net learned the task at all.
fn control(p: &Params, nets: &[Net]) -> String {
    let depth = |n: &Net| n.depth(&n.every_seed());
    let deepest = nets.iter().filter(|n| depth(n).is_finite()).max_by(|a, b| depth(a).total_cmp(&depth(b)));
    let seen = deepest.map_or("No net finished its training.".to_string(), |n| {
        format!(
            "The probe sees long lags where a net uses them: after training the {} reaches an effective depth of {} of {} steps, with {} of its gradient mass at lags >= T/2.",
            n.cell.name(),
            num(depth(n)),
            adding_lag(p),
            pct(mean(&of(&n.trained(&n.every_seed()), |x| x.far_mass)))
        )
    });
    let mse: Vec<String> = nets
        .iter()
        .filter(|n| matches!(n.cell, Cell::Rnn | Cell::LstmBias1 | Cell::Gru))
        .map(|n| format!("{} {}", n.cell.name(), num(mean(&n.mse()))))
        .collect();
    format!("{seen} Test MSE after C10's training (below 0.01: the net uses the marked values): {}.", mse.join(", "))
}

fn note(p: &Params, nets: &[Net]) -> String {
    let d = |k: usize| num(nets[k].depth(&nets[k].every_seed()));
    format!(
        "After training: effective depth tanh RNN {}, LSTM (bias 0) {}, LSTM (bias 1) {}, GRU {}, TCN {} steps of {}; at initialisation the tanh RNN's is {}.",
        d(0),
        d(1),
        d(2),
        d(3),
        d(4),
        adding_lag(p),
        num(mean(&of(&nets[0].at_init(), |x| x.depth))),
    )
}

pub const CLAIM: Claim = Claim {
    id: "C11",
    slug: "temporal-depth",
    title: "Effective depth in time",
    quote: "So what does effective depth mean for an RNN?",
    anchor: "No published number: the temporal analogue of Veit, Wilber & Belongie 2016 (C6), where a trained residual net's gradient comes from paths of 5-17 of its 54 blocks. On the adding problem the target depends on one value in the first half of the sequence and one in the second, so a net that solves it must take gradient from lags up to T - 1.",
    rule: "Holds (gates buy temporal depth) if after training on the adding problem at T = 100 (C10's v2 runs) the effective temporal depth (the smallest L such that lags 0..L-1 hold 90% of the gradient mass reaching the inputs) of the LSTM (forget bias 1) and of the GRU is each at least 4 times that of the tanh RNN (means over seeds).",
    data: &["the adding problem (generated from the seed)"],
    anchor_headline: "(no published number: the temporal analogue of Veit's path lengths)",
    seeds: c10::CLAIM.seeds,
    protocol: Protocol {
        version: 2,
        changed: "The rule is unchanged; the nets are C10's v2 runs (Adam 1e-2, gradient norm clipped to 1, 3,000 updates of batch 32, 32 units, 3 seeds), trained within the range where LSTMs leave the adding problem's plateau: in v1 the 1,600 updates left the gated nets close to it, so their trained depth said what training had not yet bought.",
    },
};

impl Experiment for C11 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        format!(
            "The temporal probe (4 training batches of 64 sequences; mass(lag) = the summed norms ||dL/dx_(T-1-lag)|| of the gradient reaching each sequence's input at lag steps before the last-step loss, normalised to sum 1) on the tanh RNN (PyTorch's default W_hh), LSTMs with forget bias 0 and 1, the GRU and the TCN of C10 on the adding problem at T = {}, at initialisation and after C10's v2 training (the same runs: {}); {} seed(s).",
            adding_lag(p),
            c10::training(p),
            c10::CLAIM.seeds(p).len()
        )
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        c10::CLAIM.seeds(p).into_iter().flat_map(|s| CELLS.into_iter().flat_map(move |c| net_runs(p, c, s))).collect()
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let nets = read(p, runs)?;
        let seeds = c10::CLAIM.seeds(p);
        let (measured, per_seed) = by_seed(&seeds, |s| judge(&nets, s));
        Ok(Findings {
            tables: vec![table(p, &nets)],
            figures: figures(p, &nets),
            measured,
            per_seed,
            control: control(p, &nets),
            decide: format!("more seeds than {}, or runs of the nets that diverged: the seeds' own outcomes split, or a ratio had no finished run to be read from.", seeds.len()),
            note: note(p, &nets),
            notes: notes(p, &nets),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(depth: f64) -> Depth {
        Depth { depth, mean_lag: depth / 2.0, far_mass: 0.0, mass: vec![1.0] }
    }

    /// A net whose seeds reached these depths after training (None: diverged).
    fn net(cell: Cell, trained: &[Option<f64>]) -> Net {
        let seeds = trained.iter().enumerate().map(|(s, d)| Seed {
            seed: s as u64 + 1,
            at_init: report(3.0),
            trained: d.map(|d| (report(d), 0.01)),
        });
        Net { cell, seeds: seeds.collect() }
    }

    #[test]
    fn the_rule_compares_trained_depths_over_the_seeds_asked_for() {
        let nets = [
            net(Cell::Rnn, &[Some(5.0), Some(20.0)]),
            net(Cell::LstmBias0, &[Some(5.0), Some(5.0)]),
            net(Cell::LstmBias1, &[Some(40.0), Some(40.0)]),
            net(Cell::Gru, &[Some(90.0), None]),
            net(Cell::Tcn, &[Some(5.0), Some(5.0)]),
        ];
        let judged = |seeds: &[usize]| -> Vec<(f64, Option<bool>)> {
            judge(&nets, seeds).iter().filter(|m| !m.condition.is_empty()).map(|m| (m.value, m.met)).collect()
        };
        assert_eq!(judged(&[0]), [(8.0, Some(true)), (18.0, Some(true))]);
        assert_eq!(judged(&[0, 1]), [(3.2, Some(false)), (7.2, Some(true))], "the GRU's diverged seed is left out");
        let second = judged(&[1]);
        assert_eq!(second[0], (2.0, Some(false)));
        assert!(second[1].0.is_nan() && second[1].1.is_none(), "the GRU's only seed diverged: nothing to judge");
        let headline: Vec<String> = judge(&nets, &[0]).into_iter().filter(|m| m.headline).map(|m| m.name).collect();
        assert_eq!(headline, ["effective temporal depth after training, LSTM, forget bias 1 / tanh RNN"]);
        let c = control(&Params { scale: Scale::Quick, seeds: None }, &nets);
        assert!(c.contains("the GRU reaches an effective depth of 90 of 100 steps"), "{c}");
    }
}
