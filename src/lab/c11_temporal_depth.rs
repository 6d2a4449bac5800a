//! C11 temporal-depth: effective depth in time. The temporal probe's distribution of gradient
//! mass over time lags (how far back from the loss the gradient reaching the inputs comes
//! from), per cell type, before and after training on the adding problem at T = 100 (C10's
//! runs), and the effective temporal depth: the lag below which 90% of the mass lies.

use super::c10_gated_memory::{self as c10, Cell};
use super::c9_bptt_vanishing::{cell_run, lag};
use super::fmt::{mean_pm, num, pct};
use super::runs::json_num as jnum;
use super::{Claim, Experiment, Figure, Findings, Measure, Params, RunSet, Scale, Table};
use crate::plot::{LinePlot, Series};
use crate::probe::ProbeKind;
use crate::stats::mean;
use crate::sweep::RunRequest;

pub struct C11;

const CELLS: [Cell; 5] = [Cell::Rnn, Cell::LstmBias0, Cell::LstmBias1, Cell::Gru, Cell::Tcn];

/// One temporal report, as the analysis uses it.
struct Depth {
    depth: f64,
    mean_lag: f64,
    /// The share of the mass at lags of at least T/2 (the first marked value's half).
    far_mass: f64,
    mass: Vec<f64>,
}

fn depth(v: &serde_json::Value) -> Depth {
    let mass: Vec<f64> = v["mass"].as_array().map(|a| a.iter().map(jnum).collect()).unwrap_or_default();
    let half = mass.len() / 2;
    Depth {
        depth: jnum(&v["effective_depth"]),
        mean_lag: jnum(&v["mean_lag"]),
        far_mass: mass.iter().skip(half).sum(),
        mass,
    }
}

pub const CLAIM: Claim = Claim {
    id: "C11",
    slug: "temporal-depth",
    title: "Effective depth in time",
    quote: "So what does effective depth mean for an RNN?",
    anchor: "No published number: the temporal analogue of Veit, Wilber & Belongie 2016 (C6), where a trained residual net's gradient comes from paths of 5-17 of its 54 blocks. On the adding problem the target depends on one value in the first half of the sequence and one in the second, so a net that solves it must take gradient from lags up to T - 1.",
    rule: "Holds (gates buy temporal depth) if after training on the adding problem at T = 100 the effective temporal depth (the smallest L such that lags 0..L-1 hold 90% of the gradient mass reaching the inputs) of the LSTM (forget bias 1) and of the GRU is each at least 4 times that of the tanh RNN (means over seeds).",
    data: &["the adding problem (generated from the seed)"],
};

impl Experiment for C11 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        format!(
            "The temporal probe (4 training batches of 64 sequences; mass(lag) = the summed norms ||dL/dx_(T-1-lag)|| of the gradient reaching each sequence's input at lag steps before the last-step loss, normalised to sum 1) on the tanh RNN (PyTorch's default W_hh), LSTMs with forget bias 0 and 1, the GRU and the TCN of C10 on the adding problem at T = {}, at initialisation and after C10's training (the same runs); {} seed(s).",
            lag(p),
            c10::seeds(p).len()
        )
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for s in c10::seeds(p) {
            for c in CELLS {
                v.push(cell_run(p, c, s, false, ProbeKind::Temporal));
                v.push(cell_run(p, c, s, true, ProbeKind::Temporal));
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let seeds = c10::seeds(p);
        // [cell] -> (init reports, trained reports, test MSE, diverged seeds)
        let mut at_init: Vec<Vec<Depth>> = Vec::new();
        let mut trained: Vec<Vec<Depth>> = Vec::new();
        let mut mse: Vec<Vec<f64>> = Vec::new();
        let mut diverged = Vec::new();
        for c in CELLS {
            let (mut i, mut t, mut m) = (Vec::new(), Vec::new(), Vec::new());
            for &s in &seeds {
                let ri = runs.get(&cell_run(p, c, s, false, ProbeKind::Temporal))?;
                i.push(depth(&ri.probe_json(ProbeKind::Temporal)?));
                let rt = runs.get(&cell_run(p, c, s, true, ProbeKind::Temporal))?;
                if rt.diverged() {
                    diverged.push(format!("{} seed {s}", c.name()));
                    continue;
                }
                t.push(depth(&rt.probe_json(ProbeKind::Temporal)?));
                m.push(rt.summary().test_loss.unwrap_or(f64::NAN));
            }
            at_init.push(i);
            trained.push(t);
            mse.push(m);
        }
        let avg = |v: &[Depth], f: &dyn Fn(&Depth) -> f64| mean(&v.iter().map(f).collect::<Vec<_>>());
        let d = |k: usize| avg(&trained[k], &|x| x.depth);
        let rnn = d(0);
        let mut measured = Vec::new();
        for k in [2, 3] {
            let ratio = d(k) / rnn;
            measured.push(
                Measure::new(
                    format!("effective temporal depth after training, {} / tanh RNN", CELLS[k].name()),
                    ratio,
                    format!("{} ({} / {} steps)", num(ratio), num(d(k)), num(rnn)),
                )
                .must(">= 4", ratio.is_finite().then_some(ratio >= 4.0)),
            );
        }
        for (k, c) in CELLS.iter().enumerate() {
            measured.push(Measure::new(
                format!("effective temporal depth after training, {}", c.name()),
                d(k),
                format!("{} steps", num(d(k))),
            ));
        }
        let mut tab = Table::new(
            format!("Effective temporal depth on the adding problem, T = {}", lag(p)),
            &["net", "depth at init", "mean lag at init", "depth trained", "mean lag trained", "mass at lags >= T/2, trained", "test MSE"],
        )
        .caption(format!("Effective depth: the smallest L such that lags 0..L-1 hold 90% of the gradient mass (at most T = {}); mean lag: the mass-weighted mean; means ± standard deviations over {} seed(s).", lag(p), seeds.len()));
        for (k, c) in CELLS.iter().enumerate() {
            let pm = |v: &[Depth], f: &dyn Fn(&Depth) -> f64| mean_pm(&v.iter().map(f).collect::<Vec<_>>(), num);
            tab.row(vec![
                c.name().to_string(),
                pm(&at_init[k], &|x| x.depth),
                pm(&at_init[k], &|x| x.mean_lag),
                pm(&trained[k], &|x| x.depth),
                pm(&trained[k], &|x| x.mean_lag),
                mean_pm(&trained[k].iter().map(|x| x.far_mass).collect::<Vec<_>>(), pct),
                mean_pm(&mse[k], num),
            ]);
        }
        let mut figures = Vec::new();
        for (when, reports) in [("after training", &trained), ("at initialisation", &at_init)] {
            let mut plot = LinePlot::new(
                format!("Gradient mass by time lag, {when} (adding, T = {})", lag(p)),
                "lag (steps between the input and the loss)",
                "share of the gradient mass (first seed)",
            )
            .log_y(true);
            for (k, c) in CELLS.iter().enumerate() {
                if let Some(r) = reports[k].first() {
                    let pts: Vec<(f64, f64)> = r
                        .mass
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| **m > 0.0 && m.is_finite())
                        .map(|(l, m)| (l as f64, *m))
                        .collect();
                    plot = plot.series(Series::new(format!("{} (depth {})", c.name(), num(r.depth)), pts).color(k));
                }
            }
            figures.push(Figure::new(
                format!("Gradient mass by lag, {when}"),
                "The temporal probe's mass(lag): the share of the gradient reaching the inputs that comes from lag steps before the loss (log scale; lags whose gradient underflowed to 0 are left out). A flat curve spreads the gradient over the whole sequence; a falling one keeps it near the loss.",
                plot.to_svg(),
            ));
        }
        let mut cum = LinePlot::new(
            format!("Cumulative gradient mass after training (adding, T = {})", lag(p)),
            "lag (steps between the input and the loss)",
            "share of the mass at lags <= lag (first seed)",
        )
        .y_range(0.0, 1.0);
        for (k, c) in CELLS.iter().enumerate() {
            if let Some(r) = trained[k].first() {
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
                cum = cum.series(Series::new(c.name(), pts).color(k));
            }
        }
        let t_last = lag(p) as f64 - 1.0;
        cum = cum.series(Series::new("90%", vec![(0.0, 0.9), (t_last, 0.9)]).dashed().color(CELLS.len()));
        figures.push(Figure::new(
            "Cumulative gradient mass after training",
            "Where each curve crosses 90% is the net's effective temporal depth.",
            cum.to_svg(),
        ));
        let mut notes = vec![
            "The inputs are the raw features (value, marker) of each step; the gradient at a step is ||dL/dx_t|| per sequence, summed over the sequences of the probe's 4 training batches. A net that solves the adding problem must read one value anywhere in the first half, so its mass reaches lags up to T - 1; one that only predicts the mean has nowhere in particular to look, and its mass stays where the recurrence leaves it (near the loss for a vanishing RNN).".to_string(),
        ];
        let unlearned: Vec<String> = CELLS
            .iter()
            .zip(&mse)
            .filter(|(_, m)| mean(m) > 0.1)
            .map(|(c, m)| format!("{} (test MSE {})", c.name(), num(mean(m))))
            .collect();
        if !unlearned.is_empty() {
            notes.push(format!("Not learned in training (test MSE above 0.1, against 1/6 for predicting the mean): {}. Their effective depth is that of a net that does not use the marked values, so the comparison with them says what training bought, not what the cell can hold.", unlearned.join(", ")));
        }
        if !diverged.is_empty() {
            notes.push(format!("Diverged in training (left out): {}.", diverged.join(", ")));
        }
        if p.scale == Scale::Tiny {
            notes.push("Tiny scale: T = 10, one epoch; nothing is decided.".into());
        }
        let note = format!(
            "After training: effective depth tanh RNN {}, LSTM (bias 0) {}, LSTM (bias 1) {}, GRU {}, TCN {} steps of {}; at initialisation the tanh RNN's is {}.",
            num(rnn),
            num(d(1)),
            num(d(2)),
            num(d(3)),
            num(d(4)),
            lag(p),
            num(avg(&at_init[0], &|x| x.depth)),
        );
        Ok(Findings { tables: vec![tab], figures, measured, note, notes })
    }
}
