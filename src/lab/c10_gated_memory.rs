//! C10 gated-memory: gates protect the signal over long lags. A tanh RNN, LSTMs with forget-gate
//! bias 0 and 1, a GRU and a TCN on the adding problem (MSE; predicting the mean scores 1/6) and
//! on copy memory (recall accuracy; chance 1/8) at growing lags T. The nets are trained by
//! [`RECIPE`], protocol v1's recurrent recipe, which C9 shares; C11 probes these runs.

use super::fmt::{mean_pm, num, pct};
use super::recipes::recurrent::{adding_lag, Cell, Recipe, Task, V1};
use super::recurrent::mean_baseline;
use super::{Claim, Experiment, Figure, Findings, Measure, Params, Protocol, Run, RunSet, Scale, Table};
use crate::plot::{LinePlot, Series};
use crate::stats::mean;
use crate::sweep::RunRequest;

pub struct C10;

/// How C10's nets are trained.
const RECIPE: &Recipe = &V1;

/// The run of `cell` on `task` at lag `t` with `seed` (C11 probes the adding ones).
pub fn run(p: &Params, cell: Cell, task: Task, t: usize, seed: u64) -> RunRequest {
    RECIPE.run(p, cell, task, t, seed)
}

pub fn seeds(p: &Params) -> Vec<u64> {
    RECIPE.seeds(p)
}

/// The lags T of a task at a scale.
fn lags(p: &Params, task: Task) -> Vec<usize> {
    match (p.scale, task) {
        (_, Task::SeqMnist) => vec![784],
        (Scale::Quick, _) => vec![50, 100, 200],
        (Scale::Tiny, _) => vec![5, 10, 20],
        (Scale::Paper, Task::Adding) => vec![100, 200, 400, 600],
        (Scale::Paper, Task::Copy) => vec![100, 200, 500, 1000],
    }
}

/// The lags the rule judges ("T >= 100"; at tiny scale its stand-in, T >= 10).
fn judged_lag(p: &Params, t: usize) -> bool {
    t >= adding_lag(p)
}

fn tasks(p: &Params) -> Vec<Task> {
    if p.scale == Scale::Paper {
        vec![Task::Adding, Task::Copy, Task::SeqMnist]
    } else {
        vec![Task::Adding, Task::Copy]
    }
}

fn cells(task: Task) -> Vec<Cell> {
    if task == Task::SeqMnist {
        vec![Cell::Rnn, Cell::LstmBias1, Cell::Gru, Cell::Tcn]
    } else {
        Cell::ALL.to_vec()
    }
}

/// A task's score as shown: MSE for adding, else a percentage.
fn shown(task: Task, v: f64) -> String {
    if task == Task::Adding {
        num(v)
    } else {
        pct(v)
    }
}

/// One run, as the rule and the figures read it.
struct Scored {
    seed: u64,
    /// Test MSE (adding) or test accuracy (copy memory, sequential MNIST); NaN when the run
    /// diverged, which counts as not having learned.
    score: f64,
    diverged: bool,
    /// Adding only (NaN, empty elsewhere): the mean predictor's test MSE, and (step, training
    /// loss) of every epoch whose loss is finite.
    baseline: f64,
    losses: Vec<(f64, f64)>,
}

fn scored(r: &Run, task: Task, seed: u64) -> Result<Scored, String> {
    let diverged = r.diverged();
    let s = r.summary();
    let score = match task {
        _ if diverged => f64::NAN,
        Task::Adding => s.test_loss.unwrap_or(f64::NAN),
        _ => s.test_accuracy.unwrap_or(f64::NAN),
    };
    let (baseline, losses) = if task == Task::Adding {
        let losses = r.series("epoch", "loss")?.into_iter().map(|(e, l)| (e.step as f64, l));
        (mean_baseline(r)?, losses.filter(|q| q.1.is_finite()).collect())
    } else {
        (f64::NAN, Vec::new())
    };
    Ok(Scored { seed, score, diverged, baseline, losses })
}

/// Every run of one task: `runs[cell][lag][seed]`.
struct TaskRuns {
    task: Task,
    lags: Vec<usize>,
    cells: Vec<Cell>,
    runs: Vec<Vec<Vec<Scored>>>,
}

impl TaskRuns {
    /// The scores of `cell` at the lag of index `i`, over `seeds` (indices).
    fn scores(&self, c: usize, i: usize, seeds: &[usize]) -> Vec<f64> {
        seeds.iter().map(|&s| self.runs[c][i][s].score).collect()
    }

    /// The mean score of `cell` at lag `t` over every seed; NaN where it was not run (copy
    /// memory at the adding problem's middle lag at paper scale).
    fn mean_at(&self, cell: Cell, t: usize) -> f64 {
        match (self.cells.iter().position(|&x| x == cell), self.lags.iter().position(|&x| x == t)) {
            (Some(c), Some(i)) => mean(&self.all_scores(c, i)),
            _ => f64::NAN,
        }
    }

    fn all_scores(&self, c: usize, i: usize) -> Vec<f64> {
        self.runs[c][i].iter().map(|r| r.score).collect()
    }

    /// Every run in cell, lag, seed order.
    fn all(&self) -> impl Iterator<Item = (Cell, usize, &Scored)> + '_ {
        self.cells.iter().zip(&self.runs).flat_map(move |(&cell, by_lag)| {
            self.lags.iter().zip(by_lag).flat_map(move |(&t, by_seed)| by_seed.iter().map(move |r| (cell, t, r)))
        })
    }

    /// The lag the learning curves are drawn at: the middle one.
    fn middle(&self) -> usize {
        self.lags.len() / 2
    }
}

fn read(p: &Params, runs: &RunSet) -> Result<Vec<TaskRuns>, String> {
    let seeds = seeds(p);
    let mut out = Vec::new();
    for task in tasks(p) {
        let (lags, cells) = (lags(p, task), cells(task));
        let mut by_cell = Vec::new();
        for &cell in &cells {
            let mut by_lag = Vec::new();
            for &t in &lags {
                let by_seed = seeds.iter().map(|&s| scored(&runs.get(&run(p, cell, task, t, s))?, task, s));
                by_lag.push(by_seed.collect::<Result<Vec<_>, _>>()?);
            }
            by_cell.push(by_lag);
        }
        out.push(TaskRuns { task, lags, cells, runs: by_cell });
    }
    Ok(out)
}

/// The rule over the runs of `seeds` (indices into each configuration's seeds): at every judged
/// lag, the LSTM with forget bias 1 and the GRU learn both tasks and the tanh RNN neither.
fn judge(p: &Params, data: &[TaskRuns], seeds: &[usize]) -> Vec<Measure> {
    let mut measured = Vec::new();
    for d in data.iter().filter(|d| d.task != Task::SeqMnist) {
        let unit = if d.task == Task::Adding { "test MSE" } else { "recall" };
        for (i, &t) in d.lags.iter().enumerate().filter(|(_, &t)| judged_lag(p, t)) {
            for (c, &cell) in d.cells.iter().enumerate() {
                let scores = d.scores(c, i, seeds);
                let v = mean(&scores);
                let all_diverged = scores.iter().all(|x| x.is_nan());
                let (cond, met) = match (d.task, cell) {
                    (Task::Adding, Cell::LstmBias1 | Cell::Gru) => ("< 0.01", !all_diverged && v < 0.01),
                    (Task::Adding, Cell::Rnn) => ("> 0.1", all_diverged || v > 0.1),
                    (Task::Copy, Cell::LstmBias1 | Cell::Gru) => ("> 90%", !all_diverged && v > 0.9),
                    (Task::Copy, Cell::Rnn) => ("< 50%", all_diverged || v < 0.5),
                    _ => continue,
                };
                let name = format!("{} {unit}, {} T={t}", cell.name(), d.task.name());
                measured.push(Measure::new(name, v, shown(d.task, v)).must(cond, Some(met)));
            }
        }
    }
    measured
}

/// Each net's score at each lag, mean ± standard deviation over the seeds.
fn table(d: &TaskRuns, n_seeds: usize) -> Table {
    let what = if d.task == Task::Adding { "test MSE" } else { "test accuracy" };
    let lag = |t: &usize| if d.task == Task::SeqMnist { "784 steps".to_string() } else { format!("T={t}") };
    let columns: Vec<String> = std::iter::once("net".to_string()).chain(d.lags.iter().map(lag)).collect();
    let mut tab = Table { title: format!("{}: {what}", d.task.name()), columns, ..Default::default() }.caption(match d.task {
        Task::Adding => format!("Mean squared error on the test sequences after the last epoch (mean ± standard deviation over {n_seeds} seed(s)); predicting the mean scores 1/6 = 0.167."),
        Task::Copy => format!("Share of the 10 recalled symbols right on the test sequences (mean ± standard deviation over {n_seeds} seed(s)); chance is 12.5%."),
        Task::SeqMnist => "Test accuracy.".into(),
    });
    for (c, cell) in d.cells.iter().enumerate() {
        let scores = (0..d.lags.len()).map(|i| mean_pm(&d.all_scores(c, i), |v| shown(d.task, v)));
        tab.row(std::iter::once(cell.name().to_string()).chain(scores).collect());
    }
    tab
}

/// Each net's mean score against the lag, with the mean predictor's MSE (adding) or chance
/// (copy) dashed.
fn lag_figure(d: &TaskRuns) -> Figure {
    let adding = d.task == Task::Adding;
    let title = format!("{} against the lag", d.task.name());
    let y = if adding { "test MSE" } else { "test recall accuracy (fraction)" };
    let mut fig = LinePlot::new(title.clone(), "lag T (steps)", y).log_x(true).log_y(adding);
    if !adding {
        fig = fig.y_range(0.0, 1.0);
    }
    for (c, cell) in d.cells.iter().enumerate() {
        let pts = d.lags.iter().enumerate().map(|(i, &t)| (t as f64, mean(&d.all_scores(c, i))));
        fig = fig.series(Series::new(cell.name(), pts.filter(|q| q.1.is_finite()).collect()).markers().color(c));
    }
    let base = if adding { mean(&d.all().map(|(.., r)| r.baseline).collect::<Vec<_>>()) } else { 1.0 / 8.0 };
    let (lo, hi) = (d.lags[0] as f64, d.lags[d.lags.len() - 1] as f64);
    let name = if adding { "predicting the mean" } else { "chance (1/8)" };
    fig = fig.series(Series::new(name, vec![(lo, base), (hi, base)]).dashed().color(d.cells.len()));
    let what = if adding { "test MSE" } else { "test accuracy" };
    let dashed = if adding { "; the dashed line is the mean predictor's MSE on the same test sets" } else { "" };
    Figure::new(
        title,
        format!("Mean over seeds of each net's {what} after training, against T (log axis){dashed}."),
        fig.to_svg(),
    )
}

/// The adding problem's training loss per epoch at the middle lag, first seed.
fn curves_figure(d: &TaskRuns) -> Figure {
    let mid = d.middle();
    let mut lc = LinePlot::new(
        format!("adding, T={}: training loss per epoch (first seed)", d.lags[mid]),
        "training step",
        "training MSE (running mean over the epoch)",
    )
    .log_y(true);
    for (c, cell) in d.cells.iter().enumerate() {
        lc = lc.series(Series::new(cell.name(), d.runs[c][mid][0].losses.clone()).markers().color(c));
    }
    Figure::new(
        "Learning curves on the adding problem",
        "The mean training loss of each epoch against the step it ended at: the plateau at 1/6 and the step each net leaves it.",
        lc.to_svg(),
    )
}

fn figures(data: &[TaskRuns]) -> Vec<Figure> {
    let mut figures = Vec::new();
    for d in data.iter().filter(|d| d.task != Task::SeqMnist) {
        figures.push(lag_figure(d));
        if d.task == Task::Adding {
            figures.push(curves_figure(d));
        }
    }
    figures
}

/// The unjudged nets beside the judged ones, at the middle adding lag.
fn note(p: &Params, data: &[TaskRuns]) -> String {
    let t_mid = lags(p, Task::Adding)[lags(p, Task::Adding).len() / 2];
    let at = |cell: Cell, task: Task| data.iter().find(|d| d.task == task).map_or(f64::NAN, |d| d.mean_at(cell, t_mid));
    format!(
        "Beside the rule, at T={t_mid}: LSTM with forget bias 0 {} adding MSE and {} copy recall (bias 1: {} and {}); TCN {} and {}. Jozefowicz et al. report that the bias of 1 closes most of the LSTM-GRU gap; Bai et al. that a TCN whose receptive field covers the sequence solves both tasks.",
        num(at(Cell::LstmBias0, Task::Adding)),
        pct(at(Cell::LstmBias0, Task::Copy)),
        num(at(Cell::LstmBias1, Task::Adding)),
        pct(at(Cell::LstmBias1, Task::Copy)),
        num(at(Cell::Tcn, Task::Adding)),
        pct(at(Cell::Tcn, Task::Copy)),
    )
}

fn notes(p: &Params, data: &[TaskRuns]) -> Vec<String> {
    let mut notes = Vec::new();
    let runs = || data.iter().flat_map(|d| d.all().map(move |(cell, t, r)| (d.task, cell, t, r)));
    // Still on the plateau of predicting the mean (1/6).
    let plateau: Vec<String> = runs()
        .filter_map(|(_, cell, t, r)| {
            let last = r.losses.last()?.1;
            (last > 0.15).then(|| format!("{} T={t} seed {} ({})", cell.name(), r.seed, num(last)))
        })
        .collect();
    if !plateau.is_empty() {
        let budget = if p.scale == Scale::Quick {
            " At quick scale the width (32 units) and the 1,600 steps are the budget's; the repository's 64-unit LSTM reference leaves the plateau after about 900 steps."
        } else {
            ""
        };
        notes.push(format!("On the adding problem's plateau after the last epoch (training MSE of that epoch above 0.15, against 1/6 for predicting the mean): {}. Such a net has not started to use the marked values within its training.{budget}", plateau.join("; ")));
    }
    let diverged: Vec<String> = runs()
        .filter(|(.., r)| r.diverged)
        .map(|(task, cell, t, r)| format!("{} on {} T={t} seed {}", cell.name(), task.name(), r.seed))
        .collect();
    if !diverged.is_empty() {
        notes.push(format!(
            "Diverged (a non-finite loss or gradient ended the run; scored as not learned): {}.",
            diverged.join("; ")
        ));
    }
    if p.scale == Scale::Quick {
        notes.push("One seed per configuration at quick scale (the budget's choice): a net that leaves the adding plateau late in one seed may leave it early in another, so a single miss at T=200 is weak evidence; the paper scale runs three.".into());
    }
    notes
}

pub const CLAIM: Claim = Claim {
    id: "C10",
    slug: "gated-memory",
    title: "Gates protect the signal over long lags",
    quote: "put in other little memory systems using a gating mechanism.",
    anchor: "Hochreiter & Schmidhuber 1997 (the adding problem; predicting the mean gives MSE 1/6 = 0.167). npow/schmidhuber-problems: adding T=100, hidden 8, 8000 iterations: LSTM MSE 0.0007, RNN 0.0706. Jozefowicz et al., ICML 2015: a forget-gate bias of 1 closes most of the LSTM-GRU gap. Bai, Kolter, Koltun 2018, Table 1: adding T=600 MSE TCN 5.8e-5, GRU 5.3e-5, LSTM 0.164, RNN 0.177; copy memory T=1000 loss TCN 3.5e-5, GRU 0.0197, LSTM 0.0204, RNN 0.0202; sequential MNIST accuracy TCN 99.0, GRU 96.2, LSTM 87.2, RNN 21.5. This repository (README, adding T=100, 10,000 sequences, 20 epochs, batch 64, Adam 3e-3, clip 1): LSTM(64) 0.00017, GRU(64) 0.00009, tanh RNN 0.173; copy T=50, GRU(128): 99.9% recall after 20 epochs, 97.7% after 8.",
    rule: "Holds if at every T >= 100 the LSTM with forget bias 1 and the GRU reach adding test MSE below 0.01 and copy-memory test recall above 90%, while the tanh RNN stays above 0.1 MSE and below 50% recall (means over seeds; a run that diverged counts as not having learned).",
    data: &["the adding problem (generated from the seed)", "copy memory (generated from the seed)", "MNIST pixel by pixel (paper scale)"],
    anchor_headline: "npow: adding T=100, LSTM MSE 0.0007 vs RNN 0.0706 (targets on [-1, 1])",
    protocol: Protocol::V1,
};

impl Experiment for C10 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let s = seeds(p).len();
        match p.scale {
            Scale::Quick => format!("Adding problem and copy memory (10 symbols, T blanks, recall; only the recall steps are trained and scored) at T = 50, 100 and 200. Recurrent nets: one layer of 32 units (PyTorch's initialisation; LSTM forget-gate bias 0 or 1), copy-memory tokens embedded in 16 dimensions; TCN: 16 channels, kernel 3, dilations 2^i, the fewest levels whose receptive field covers the sequence. 6,400 training sequences, 16 epochs of Adam (lr 3e-3, gradient norm clipped to 1, batch 64): 1,600 steps, about half the repository's reference and about 1.5 times the steps its 64-unit LSTM needed to leave the 1/6 plateau at T = 100 (measured: GRU below 0.01 MSE after 630 steps, LSTM after 1,100); 32 units instead of the reference's 64 to fit the budget (a 32-unit LSTM step costs 0.4 of a 64-unit one; npow/schmidhuber-problems uses 8). Scored on 500 fresh test sequences; {s} seed(s). What the budget costs: at T = 200 a recurrent net needs more steps to leave the plateau than at T = 100, so a failure there may be the budget's; and 32 units instead of the references' 64 (adding) and 128 (copy)."),
            Scale::Paper => format!("Adding at T = 100, 200, 400, 600 (50,000 sequences, 10 epochs, batch 32) and copy memory at T = 100, 200, 500, 1000 (10,000 sequences, 50 epochs): recurrent nets of 128 units, Adam 1e-3, clip 1; TCNs as Bai et al.'s code (adding 8 levels, kernel 7, 30 channels, Adam 4e-3; copy 8 levels, kernel 8, 10 channels, Adam 5e-4 instead of RMSprop, clip 1); sequential MNIST for the RNN, LSTM, GRU and TCN (8 levels, kernel 7, 25 channels, Adam 2e-3), 20 epochs of batch 64; {s} seeds. No dropout or weight normalisation in the TCN, and no learning-rate decay on MNIST."),
            Scale::Tiny => format!("T = 5, 10, 20, 8 units, one epoch on 64 sequences, {s} seed(s): a test of the pipeline."),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for task in tasks(p) {
            for t in lags(p, task) {
                for cell in cells(task) {
                    for s in seeds(p) {
                        v.push(run(p, cell, task, t, s));
                    }
                }
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let seeds = seeds(p);
        let data = read(p, runs)?;
        let all: Vec<usize> = (0..seeds.len()).collect();
        Ok(Findings {
            tables: data.iter().map(|d| table(d, seeds.len())).collect(),
            figures: figures(&data),
            measured: judge(p, &data, &all),
            note: note(p, &data),
            notes: notes(p, &data),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `task`'s runs at T = 50 and 100, each cell's score per seed the same at both lags (NaN:
    /// diverged).
    fn task(task: Task, scores: [&[f64]; 5]) -> TaskRuns {
        let run = |(seed, &score): (usize, &f64)| Scored {
            seed: seed as u64 + 1,
            score,
            diverged: score.is_nan(),
            baseline: f64::NAN,
            losses: Vec::new(),
        };
        let runs = scores.iter().map(|s| (0..2).map(|_| s.iter().enumerate().map(run).collect()).collect());
        TaskRuns { task, lags: vec![50, 100], cells: Cell::ALL.to_vec(), runs: runs.collect() }
    }

    #[test]
    fn the_rule_judges_the_gated_nets_and_the_rnn_at_the_long_lags_over_the_seeds_asked_for() {
        let p = Params { scale: Scale::Quick, seeds: None };
        let data = [
            task(Task::Adding, [&[0.17, 0.05], &[0.17, 0.17], &[0.005, 0.004], &[0.002, 0.2], &[0.001, 0.001]]),
            task(Task::Copy, [&[0.2, 0.2], &[0.1, 0.1], &[0.95, 0.97], &[f64::NAN, 0.99], &[1.0, 1.0]]),
        ];
        let judged = |seeds: &[usize]| -> Vec<(String, Option<bool>)> {
            judge(&p, &data, seeds).into_iter().map(|m| (m.name, m.met)).collect()
        };
        let first = judged(&[0]);
        let names: Vec<&str> = first.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "tanh RNN test MSE, adding T=100",
                "LSTM, forget bias 1 test MSE, adding T=100",
                "GRU test MSE, adding T=100",
                "tanh RNN recall, copy memory T=100",
                "LSTM, forget bias 1 recall, copy memory T=100",
                "GRU recall, copy memory T=100",
            ],
            "T = 50 is not judged, nor the LSTM with bias 0 or the TCN"
        );
        let met = |v: Vec<(String, Option<bool>)>| v.into_iter().map(|m| m.1).collect::<Vec<_>>();
        assert_eq!(met(first), [Some(true), Some(true), Some(true), Some(true), Some(true), Some(false)]);
        assert_eq!(met(judged(&[1])), [Some(false), Some(true), Some(false), Some(true), Some(true), Some(true)]);
    }
}
