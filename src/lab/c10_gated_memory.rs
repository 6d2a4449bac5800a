//! C10 gated-memory: gates protect the signal over long lags. A tanh RNN, LSTMs with forget-gate
//! bias 0 and 1, a GRU and a TCN on the adding problem (MSE; predicting the mean scores 1/6) and
//! on copy memory (recall accuracy; chance 1/8). Protocol v2 (CLAIMS.md): adding at T = 100 and
//! 200 and copy memory at T = 50 are judged, with every net trained by [`RECIPE`] (v2's); copy
//! memory at T >= 100 is reported at paper scale beside its memoryless baseline. C11 probes the
//! adding runs at T = 100.

use super::fmt::{mean_pm, num, pct};
use super::recipes::recurrent::{adding_lag, Cell, Recipe, Task, V2};
use super::recurrent::mean_baseline;
use super::{
    by_seed, Claim, Experiment, Figure, Findings, Measure, Params, PerScale, Protocol, Run, RunSet, Scale, Table,
};
use crate::data::seqtasks::{copy_memory_chance_loss, COPY_CHANCE_ACC, COPY_LEN};
use crate::plot::{LinePlot, Series};
use crate::stats::mean;
use crate::sweep::RunRequest;

pub struct C10;

/// How C10's nets are trained: protocol v2's recipe (C9 keeps v1's).
const RECIPE: &Recipe = &V2;

/// The rule's bars: adding test MSE (gated nets below, the tanh RNN above) and copy-memory recall
/// (gated nets above, the tanh RNN below).
const GATED_MSE: f64 = 0.01;
const RNN_MSE: f64 = 0.1;
const GATED_RECALL: f64 = 0.9;
const RNN_RECALL: f64 = 0.5;

/// The run of `cell` on `task` at lag `t` with `seed` (C11 probes the adding ones).
pub fn run(p: &Params, cell: Cell, task: Task, t: usize, seed: u64) -> RunRequest {
    RECIPE.run(p, cell, task, t, seed)
}

/// How the nets are trained at a scale, in words (C11's setup says it too).
pub fn training(p: &Params) -> &'static str {
    RECIPE.training(p)
}

/// The lags T of a task at a scale.
fn lags(p: &Params, task: Task) -> Vec<usize> {
    let unit = adding_lag(p);
    match (p.scale, task) {
        (_, Task::SeqMnist) => vec![784],
        (Scale::Paper, Task::Adding) => vec![100, 200, 400, 600],
        (Scale::Paper, Task::Copy) => vec![50, 100, 200, 500, 1000],
        (_, Task::Adding) => vec![unit, 2 * unit],
        (_, Task::Copy) => vec![copy_lag(p)],
    }
}

/// The copy-memory lag the rule judges: T = 50 (5 at tiny scale). Longer lags are reported only:
/// Bai et al. and Arjovsky et al. find LSTMs and GRUs at the memoryless baseline there.
fn copy_lag(p: &Params) -> usize {
    if p.scale == Scale::Tiny {
        5
    } else {
        50
    }
}

/// The lags the rule judges: adding at T = 100 and 200, copy memory at T = 50 (tiny scale: 10,
/// 20 and 5, stand-ins).
fn judged(p: &Params, task: Task, t: usize) -> bool {
    match task {
        Task::Adding => t == adding_lag(p) || t == 2 * adding_lag(p),
        Task::Copy => t == copy_lag(p),
        Task::SeqMnist => false,
    }
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

/// The score of a net that has not learned, which a diverged run counts as: an infinite adding
/// MSE, chance recall.
fn not_learned(task: Task) -> f64 {
    if task == Task::Adding {
        f64::INFINITY
    } else {
        COPY_CHANCE_ACC
    }
}

/// Copy memory's memoryless baseline in Bai et al.'s unit (cross-entropy per step, averaged over
/// all T + 20 steps): 10 ln 8 / (T + 20).
fn copy_baseline(t: usize) -> f64 {
    COPY_LEN as f64 * copy_memory_chance_loss() / (t + 20) as f64
}

/// The mean, infinite where any value is (a diverged run's MSE).
fn mean_all(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// One run, as the rule and the figures read it.
struct Scored {
    seed: u64,
    /// Test MSE (adding) or test recall accuracy (copy memory, sequential MNIST); a diverged run
    /// scores as not learned ([`not_learned`]).
    score: f64,
    /// Copy memory: the test cross-entropy per recalled symbol (NaN on the other tasks and for a
    /// diverged run).
    loss: f64,
    diverged: bool,
    /// Adding only (NaN, empty elsewhere): the mean predictor's test MSE, and (step, training
    /// loss) of every epoch whose loss is finite.
    baseline: f64,
    losses: Vec<(f64, f64)>,
}

fn scored(r: &Run, task: Task, seed: u64) -> Result<Scored, String> {
    let diverged = r.diverged();
    let s = r.summary();
    let need = |v: Option<f64>, what: &str| v.ok_or_else(|| r.error("summary.json", format!("no {what}")));
    let (score, loss) = if diverged {
        (not_learned(task), f64::NAN)
    } else {
        let loss = need(s.test_loss, "test_loss")?;
        match task {
            Task::Adding => (loss, f64::NAN),
            _ => (need(s.test_accuracy, "test_accuracy")?, loss),
        }
    };
    let (baseline, losses) = if task == Task::Adding {
        let losses = r.series("epoch", "loss")?.into_iter().map(|(e, l)| (e.step as f64, l));
        (mean_baseline(r)?, losses.filter(|q| q.1.is_finite()).collect())
    } else {
        (f64::NAN, Vec::new())
    };
    Ok(Scored { seed, score, loss, diverged, baseline, losses })
}

/// Every run of one task: `runs[cell][lag][seed]`.
struct TaskRuns {
    task: Task,
    lags: Vec<usize>,
    cells: Vec<Cell>,
    runs: Vec<Vec<Vec<Scored>>>,
}

impl TaskRuns {
    /// The scores of the cell of index `c` at the lag of index `i`, over `seeds` (indices).
    fn scores(&self, c: usize, i: usize, seeds: &[usize]) -> Vec<f64> {
        seeds.iter().map(|&s| self.runs[c][i][s].score).collect()
    }

    fn all_scores(&self, c: usize, i: usize) -> Vec<f64> {
        self.runs[c][i].iter().map(|r| r.score).collect()
    }

    /// Copy memory: the test cross-entropy of every seed in Bai et al.'s unit (per step over all
    /// T + 20 steps, the T + 10 steps before the recall counted as 0).
    fn per_step_losses(&self, c: usize, i: usize) -> Vec<f64> {
        let t = self.lags[i];
        self.runs[c][i].iter().map(|r| r.loss * COPY_LEN as f64 / (t + 20) as f64).collect()
    }

    /// Every run in cell, lag, seed order.
    fn all(&self) -> impl Iterator<Item = (Cell, usize, &Scored)> + '_ {
        self.cells.iter().zip(&self.runs).flat_map(move |(&cell, by_lag)| {
            self.lags.iter().zip(by_lag).flat_map(move |(&t, by_seed)| by_seed.iter().map(move |r| (cell, t, r)))
        })
    }
}

fn read(p: &Params, runs: &RunSet) -> Result<Vec<TaskRuns>, String> {
    let seeds = CLAIM.seeds(p);
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

/// The rule over the runs of `seeds` (indices into each configuration's seeds): at the judged
/// lags, the LSTM with forget bias 1 and the GRU learn (adding MSE below 0.01, copy recall above
/// 90%) and the tanh RNN does not (above 0.1, below 50%); means over the seeds, a diverged run
/// counting as not learned. Beside them, unjudged: the LSTM with bias 0 and the TCN at the judged
/// lags, and copy memory's loss at the longer lags against its memoryless baseline.
fn judge(p: &Params, data: &[TaskRuns], seeds: &[usize]) -> Vec<Measure> {
    let mut measured = Vec::new();
    for d in data.iter().filter(|d| d.task != Task::SeqMnist) {
        let unit = if d.task == Task::Adding { "test MSE" } else { "recall" };
        for (i, &t) in d.lags.iter().enumerate().filter(|(_, &t)| judged(p, d.task, t)) {
            for (c, &cell) in d.cells.iter().enumerate() {
                let v = mean_all(&d.scores(c, i, seeds));
                let m = Measure::new(format!("{} {unit}, {} T={t}", cell.name(), d.task.name()), v, shown(d.task, v));
                measured.push(match (d.task, cell) {
                    // The longest judged lag is where the LSTM, the slower gated net to leave
                    // the plateau, is most likely to miss: the verdict's one number.
                    (Task::Adding, Cell::LstmBias1) if t == 2 * adding_lag(p) => m.below(GATED_MSE).headline(),
                    (Task::Adding, Cell::LstmBias1 | Cell::Gru) => m.below(GATED_MSE),
                    (Task::Adding, Cell::Rnn) => m.above(RNN_MSE),
                    (Task::Copy, Cell::LstmBias1 | Cell::Gru) => m.against(
                        format!("> {}", pct(GATED_RECALL)),
                        GATED_RECALL,
                        (!v.is_nan()).then_some(v > GATED_RECALL),
                    ),
                    (Task::Copy, Cell::Rnn) => {
                        m.against(format!("< {}", pct(RNN_RECALL)), RNN_RECALL, (!v.is_nan()).then_some(v < RNN_RECALL))
                    }
                    _ => m,
                });
            }
        }
    }
    for d in data.iter().filter(|d| d.task == Task::Copy) {
        for (i, &t) in d.lags.iter().enumerate().filter(|(_, &t)| !judged(p, d.task, t)) {
            for (c, &cell) in d.cells.iter().enumerate() {
                let per_step = d.per_step_losses(c, i);
                let v = mean(&seeds.iter().map(|&s| per_step[s]).collect::<Vec<_>>());
                measured.push(Measure::new(
                    format!("{} copy-memory loss per step, T={t} (reported)", cell.name()),
                    v,
                    format!("{} (memoryless baseline {})", num(v), num(copy_baseline(t))),
                ));
            }
        }
    }
    measured
}

/// The control for a claim that did not hold: what the same training did manage (every gated
/// net's condition that was met), and the TCN, outside the rule, on the same sequences.
fn control(p: &Params, data: &[TaskRuns], measured: &[Measure]) -> String {
    let gated =
        |m: &&Measure| [Cell::LstmBias1, Cell::Gru].iter().any(|c| m.name.starts_with(&format!("{} ", c.name())));
    let met: Vec<String> = measured
        .iter()
        .filter(|m| m.met == Some(true))
        .filter(gated)
        .map(|m| format!("{} {}", m.name, m.shown))
        .collect();
    let mut tcn = Vec::new();
    for d in data.iter().filter(|d| d.task != Task::SeqMnist) {
        let Some(c) = d.cells.iter().position(|&x| x == Cell::Tcn) else { continue };
        for (i, &t) in d.lags.iter().enumerate().filter(|(_, &t)| judged(p, d.task, t)) {
            tcn.push(format!("{} {} at T={t}", d.task.name(), shown(d.task, mean_all(&d.all_scores(c, i)))));
        }
    }
    let met = if met.is_empty() {
        "No gated net met its bar in this training.".to_string()
    } else {
        format!("Met in the same training: {}.", met.join("; "))
    };
    format!("{met} The TCN (outside the rule) on the same sequences: {}.", tcn.join(", "))
}

/// Each net's score at each lag, mean ± standard deviation over the seeds.
fn table(d: &TaskRuns, n_seeds: usize) -> Table {
    let what = if d.task == Task::Adding { "test MSE" } else { "test accuracy" };
    let lag = |t: &usize| if d.task == Task::SeqMnist { "784 steps".to_string() } else { format!("T={t}") };
    let columns: Vec<String> = std::iter::once("net".to_string()).chain(d.lags.iter().map(lag)).collect();
    let mut tab = Table { title: format!("{}: {what}", d.task.name()), columns, ..Default::default() }.caption(match d.task {
        Task::Adding => format!("Mean squared error on the test sequences after the last update (mean ± standard deviation over {n_seeds} seed(s)); predicting the mean scores 1/6 = 0.167."),
        Task::Copy => format!("Share of the 10 recalled symbols right on the test sequences (mean ± standard deviation over {n_seeds} seed(s)); chance is 12.5%."),
        Task::SeqMnist => "Test accuracy.".into(),
    });
    for (c, cell) in d.cells.iter().enumerate() {
        let scores = (0..d.lags.len()).map(|i| mean_pm(&d.all_scores(c, i), |v| shown(d.task, v)));
        tab.row(std::iter::once(cell.name().to_string()).chain(scores).collect());
    }
    tab
}

/// Copy memory's test loss in Bai et al.'s unit beside the memoryless baseline.
fn copy_loss_table(d: &TaskRuns, n_seeds: usize) -> Table {
    let columns: Vec<String> =
        std::iter::once("net".to_string()).chain(d.lags.iter().map(|t| format!("T={t}"))).collect();
    let mut tab = Table { title: "copy memory: test loss per step".into(), columns, ..Default::default() }.caption(format!(
        "Cross-entropy per recalled symbol times 10 / (T + 20): Bai et al.'s loss, averaged over all T + 20 steps, with the T + 10 steps before the recall (trivial to predict, and not trained here) counted as 0. A net that remembers nothing but knows the task scores the memoryless baseline 10 ln 8 / (T + 20) (last row). Mean ± standard deviation over {n_seeds} seed(s)."
    ));
    for (c, cell) in d.cells.iter().enumerate() {
        let cells = (0..d.lags.len()).map(|i| mean_pm(&d.per_step_losses(c, i), num));
        tab.row(std::iter::once(cell.name().to_string()).chain(cells).collect());
    }
    tab.row(
        std::iter::once("memoryless baseline".to_string())
            .chain(d.lags.iter().map(|&t| num(copy_baseline(t))))
            .collect(),
    );
    tab
}

fn tables(data: &[TaskRuns], n_seeds: usize) -> Vec<Table> {
    let mut tables: Vec<Table> = data.iter().map(|d| table(d, n_seeds)).collect();
    tables.extend(data.iter().filter(|d| d.task == Task::Copy).map(|d| copy_loss_table(d, n_seeds)));
    tables
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
    let base = if adding { mean(&d.all().map(|(.., r)| r.baseline).collect::<Vec<_>>()) } else { COPY_CHANCE_ACC };
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

/// The adding problem's training loss per epoch at lag index `i`, first seed.
fn curves_figure(d: &TaskRuns, i: usize) -> Figure {
    let t = d.lags[i];
    let mut lc = LinePlot::new(
        format!("adding, T={t}: training loss per epoch (first seed)"),
        "training step",
        "training MSE (running mean over the epoch)",
    )
    .log_y(true);
    for (c, cell) in d.cells.iter().enumerate() {
        lc = lc.series(Series::new(cell.name(), d.runs[c][i][0].losses.clone()).markers().color(c));
    }
    let base = mean(&d.runs.iter().map(|by_lag| by_lag[i][0].baseline).collect::<Vec<_>>());
    let last = d.runs.iter().filter_map(|by_lag| by_lag[i][0].losses.last().map(|q| q.0)).fold(1.0, f64::max);
    lc = lc.series(Series::new("predicting the mean", vec![(0.0, base), (last, base)]).dashed().color(d.cells.len()));
    Figure::new(
        format!("Learning curves on the adding problem, T={t}"),
        "The mean training loss of each epoch against the update it ended at: the plateau at 1/6 (dashed: the mean predictor's test MSE) and the update each net leaves it.",
        lc.to_svg(),
    )
}

fn figures(p: &Params, data: &[TaskRuns]) -> Vec<Figure> {
    let mut figures = Vec::new();
    for d in data.iter().filter(|d| d.task != Task::SeqMnist) {
        if d.lags.len() > 1 {
            figures.push(lag_figure(d));
        }
        if d.task == Task::Adding {
            for (i, _) in d.lags.iter().enumerate().filter(|(_, &t)| judged(p, d.task, t)) {
                figures.push(curves_figure(d, i));
            }
        }
    }
    figures
}

/// The unjudged nets beside the judged ones, at the judged lags.
fn note(p: &Params, data: &[TaskRuns]) -> String {
    let mut parts = Vec::new();
    for d in data.iter().filter(|d| d.task != Task::SeqMnist) {
        for (i, &t) in d.lags.iter().enumerate().filter(|(_, &t)| judged(p, d.task, t)) {
            let at = |cell: Cell| {
                d.cells.iter().position(|&x| x == cell).map_or(f64::NAN, |c| mean_all(&d.all_scores(c, i)))
            };
            parts.push(format!(
                "{} T={t}: LSTM with forget bias 0 {} (bias 1: {}), TCN {}",
                d.task.name(),
                shown(d.task, at(Cell::LstmBias0)),
                shown(d.task, at(Cell::LstmBias1)),
                shown(d.task, at(Cell::Tcn))
            ));
        }
    }
    format!(
        "Beside the rule (means over seeds): {}. Jozefowicz et al. report that the bias of 1 closes most of the LSTM-GRU gap; Bai et al. that a TCN whose receptive field covers the sequence solves both tasks.",
        parts.join("; ")
    )
}

fn notes(p: &Params, data: &[TaskRuns]) -> Vec<String> {
    let mut notes = vec![
        "The anchors' adding numbers are on another scale: npow/schmidhuber-problems draws the values from [-1, 1] (the target, a sum of two, has variance 2/3, so predicting the mean scores 0.667), ours from [0, 1] (variance 1/6, predicting the mean scores 0.167). The same relative error is 4 times smaller here: on our scale its LSTM's 0.0007 is 0.00018 and its RNN's 0.0706 is 0.018, below the 0.1 our rule asks the tanh RNN to stay above.".to_string(),
    ];
    let runs = || data.iter().flat_map(|d| d.all().map(move |(cell, t, r)| (d.task, cell, t, r)));
    // Still on the plateau of predicting the mean (1/6).
    let plateau: Vec<String> = runs()
        .filter_map(|(_, cell, t, r)| {
            let last = r.losses.last()?.1;
            (last > 0.15).then(|| format!("{} T={t} seed {} ({})", cell.name(), r.seed, num(last)))
        })
        .collect();
    if !plateau.is_empty() {
        notes.push(format!("On the adding problem's plateau after the last epoch (training MSE of that epoch above 0.15, against 1/6 for predicting the mean): {}. Such a net has not started to use the marked values within its training.", plateau.join("; ")));
    }
    let diverged: Vec<String> = runs()
        .filter(|(.., r)| r.diverged)
        .map(|(task, cell, t, r)| format!("{} on {} T={t} seed {}", cell.name(), task.name(), r.seed))
        .collect();
    if !diverged.is_empty() {
        notes.push(format!(
            "Diverged (a non-finite loss or gradient ended the run; scored as not learned: infinite MSE, chance recall): {}.",
            diverged.join("; ")
        ));
    }
    notes.push(if p.scale == Scale::Paper {
        "Copy memory at T >= 100 is reported, not judged: Bai et al. and Arjovsky et al. find LSTMs and GRUs at the memoryless baseline there; its loss is shown in Bai et al.'s unit beside that baseline.".to_string()
    } else {
        "Copy memory is judged at T = 50 only; T = 100 and 200 are at paper scale, reported beside the memoryless baseline 10 ln 8 / (T + 20), not judged (Bai et al. and Arjovsky et al. find LSTMs and GRUs at that baseline there).".to_string()
    });
    notes
}

pub const CLAIM: Claim = Claim {
    id: "C10",
    slug: "gated-memory",
    title: "Gates protect the signal over long lags",
    quote: "put in other little memory systems using a gating mechanism.",
    anchor: "Hochreiter & Schmidhuber 1997 (the adding problem; predicting the mean gives MSE 1/6 = 0.167 with values on [0, 1]). npow/schmidhuber-problems: adding T=100, hidden 8, 8000 iterations: LSTM MSE 0.0007, RNN 0.0706, with values on [-1, 1] (predicting the mean: 0.667; on our [0, 1] scale divide by 4: 0.00018 and 0.018). Jozefowicz et al., ICML 2015: a forget-gate bias of 1 closes most of the LSTM-GRU gap. Bai, Kolter, Koltun 2018, Table 1: adding T=600 MSE TCN 5.8e-5, GRU 5.3e-5, LSTM 0.164, RNN 0.177; copy memory T=1000 loss TCN 3.5e-5, GRU 0.0197, LSTM 0.0204, RNN 0.0202 (the memoryless baseline 10 ln 8 / 1020 = 0.0204); sequential MNIST accuracy TCN 99.0, GRU 96.2, LSTM 87.2, RNN 21.5. This repository (README, adding T=100, 10,000 sequences, 20 epochs, batch 64, Adam 3e-3, clip 1): LSTM(64) 0.00017, GRU(64) 0.00009, tanh RNN 0.173; copy T=50, GRU(128): 99.9% recall after 20 epochs, 97.7% after 8.",
    rule: "Holds if at T = 100 and 200 the LSTM (forget bias 1) and the GRU reach adding test MSE below 0.01 while the tanh RNN stays above 0.1, and at T = 50 the LSTM (forget bias 1) and the GRU recall copy memory above 90% while the tanh RNN stays below 50% (means over seeds; a run that diverged counts as not having learned). Copy memory at T >= 100 is reported, not judged, beside the memoryless baseline 10 ln 8 / (T + 20).",
    data: &["the adding problem (generated from the seed)", "copy memory (generated from the seed)", "MNIST pixel by pixel (paper scale)"],
    anchor_headline: "npow: adding T=100, LSTM MSE 0.0007 vs RNN 0.0706 (values on [-1, 1]: 4x our scale)",
    seeds: PerScale { quick: 3, paper: 3, tiny: 2 },
    protocol: Protocol {
        version: 2,
        changed: "v1 trained every net for 1,600 updates of Adam 3e-3 (batch 64), about where a 32-unit LSTM only begins to leave the adding problem's 1/6 plateau (published LSTMs at this size leave it after about 1,000-3,500 updates), and judged copy memory at T >= 100, where Bai et al. and Arjovsky et al. find LSTMs and GRUs at the memoryless baseline. v2 trains every cell alike within that range (Adam 1e-2, gradient norm clipped to 1, 3,000 updates of batch 32, 32 units), judges adding at T = 100 and 200 and copy memory at T = 50, and reports copy memory at T >= 100 (paper scale) beside its memoryless baseline; 3 seeds.",
    },
};

impl Experiment for C10 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let s = CLAIM.seeds(p).len();
        match p.scale {
            Scale::Quick => format!("Adding problem at T = 100 and 200 (MSE; predicting the mean scores 1/6) and copy memory at T = 50 (10 symbols from 8, T blanks, a delimiter, then recall; only the recall steps are trained and scored; chance 12.5%). Nets: tanh RNN, LSTM with forget-gate bias 0 and 1 and GRU of one layer of 32 units (PyTorch's initialisation; copy-memory tokens embedded in 16 dimensions), and a TCN as in v1 (16 channels, kernel 3, dilations 2^i, the fewest levels whose receptive field covers the sequence). Every net the same training (protocol v2): {}: the range where published LSTMs of this size leave the 1/6 plateau (about 1,000-3,500 updates). Scored on 500 fresh test sequences after the last update; {s} seeds. Fixed before the v2 runs (CLAIMS.md leaves them open): v1's 6,400 training sequences, 15 epochs of which make the 3,000 updates (a net of a few thousand weights cannot memorise them); copy memory trained as adding, since v2 gives one training for every cell; the test set evaluated every 5 epochs and after the last. Copy memory at T = 100 and 200 is at paper scale (reported, not judged).", training(p)),
            Scale::Paper => format!("Adding at T = 100, 200, 400, 600 (50,000 sequences, 10 epochs, batch 32) and copy memory at T = 50, 100, 200, 500, 1000 (10,000 sequences, 50 epochs): recurrent nets of 128 units, Adam 1e-3, clip 1; TCNs as Bai et al.'s code (adding 8 levels, kernel 7, 30 channels, Adam 4e-3; copy 8 levels, kernel 8, 10 channels, Adam 5e-4 instead of RMSprop, clip 1); sequential MNIST for the RNN, LSTM, GRU and TCN (8 levels, kernel 7, 25 channels, Adam 2e-3), 20 epochs of batch 64; {s} seeds. No dropout or weight normalisation in the TCN, and no learning-rate decay on MNIST. The rule judges adding at T = 100 and 200 and copy memory at T = 50; the longer lags are reported. v2 keeps v1's paper training: its 15,600 updates already lie past the range where LSTMs leave the plateau."),
            Scale::Tiny => format!("Adding at T = 10 and 20 and copy memory at T = 5 (the judged lags' stand-ins), 8 units, one epoch on 64 sequences, {s} seeds: a test of the pipeline."),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for task in tasks(p) {
            for t in lags(p, task) {
                for cell in cells(task) {
                    for s in CLAIM.seeds(p) {
                        v.push(run(p, cell, task, t, s));
                    }
                }
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let seeds = CLAIM.seeds(p);
        let data = read(p, runs)?;
        let (measured, per_seed) = by_seed(&seeds, |s| judge(p, &data, s));
        Ok(Findings {
            tables: tables(&data, seeds.len()),
            figures: figures(p, &data),
            control: control(p, &data, &measured),
            decide: format!("more seeds than {}: the seeds' own outcomes split.", seeds.len()),
            measured,
            per_seed,
            note: note(p, &data),
            notes: notes(p, &data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `task`'s runs at `lags`, each cell's score per seed the same at every lag (NaN: diverged).
    fn task(task: Task, lags: &[usize], scores: [&[f64]; 5]) -> TaskRuns {
        let run = |(seed, &score): (usize, &f64)| Scored {
            seed: seed as u64 + 1,
            score: if score.is_nan() { not_learned(task) } else { score },
            loss: 1.0,
            diverged: score.is_nan(),
            baseline: f64::NAN,
            losses: Vec::new(),
        };
        let runs = scores.iter().map(|s| lags.iter().map(|_| s.iter().enumerate().map(run).collect()).collect());
        TaskRuns { task, lags: lags.to_vec(), cells: Cell::ALL.to_vec(), runs: runs.collect() }
    }

    fn judged_names(m: &[Measure]) -> Vec<&str> {
        m.iter().filter(|m| !m.condition.is_empty()).map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn the_rule_judges_adding_at_100_and_200_and_copy_at_50_over_the_seeds_asked_for() {
        let p = Params { scale: Scale::Quick, seeds: None };
        let data = [
            task(
                Task::Adding,
                &[100, 200],
                [&[0.17, 0.05], &[0.17, 0.17], &[0.005, 0.004], &[0.002, 0.2], &[0.001, 0.001]],
            ),
            task(Task::Copy, &[50], [&[0.2, 0.2], &[0.1, 0.1], &[0.95, 0.97], &[f64::NAN, 0.99], &[1.0, 1.0]]),
        ];
        let first = judge(&p, &data, &[0]);
        assert_eq!(
            judged_names(&first),
            [
                "tanh RNN test MSE, adding T=100",
                "LSTM, forget bias 1 test MSE, adding T=100",
                "GRU test MSE, adding T=100",
                "tanh RNN test MSE, adding T=200",
                "LSTM, forget bias 1 test MSE, adding T=200",
                "GRU test MSE, adding T=200",
                "tanh RNN recall, copy memory T=50",
                "LSTM, forget bias 1 recall, copy memory T=50",
                "GRU recall, copy memory T=50",
            ],
            "the LSTM with bias 0 and the TCN are shown, not judged"
        );
        assert_eq!(first.len(), 15);
        let met =
            |v: Vec<Measure>| v.into_iter().filter(|m| !m.condition.is_empty()).map(|m| m.met).collect::<Vec<_>>();
        let t = Some(true);
        let f = Some(false);
        assert_eq!(met(first), [t, t, t, t, t, t, t, t, f], "seed 1: its GRU diverged on copy memory: chance recall");
        assert_eq!(met(judge(&p, &data, &[1])), [f, t, f, f, t, f, t, t, t]);
        let both = judge(&p, &data, &[0, 1]);
        let gru = both.iter().find(|m| m.name == "GRU recall, copy memory T=50").unwrap();
        assert!((gru.value - (COPY_CHANCE_ACC + 0.99) / 2.0).abs() < 1e-12, "a diverged seed counts as chance");
        let headline: Vec<&str> = both.iter().filter(|m| m.headline).map(|m| m.name.as_str()).collect();
        assert_eq!(headline, ["LSTM, forget bias 1 test MSE, adding T=200"]);
    }

    #[test]
    fn a_diverged_run_is_an_unlearned_one_and_the_control_names_what_was_met() {
        let p = Params { scale: Scale::Quick, seeds: None };
        let nan = f64::NAN;
        let data = [
            task(Task::Adding, &[100, 200], [&[nan], &[0.17], &[nan], &[0.003], &[0.002]]),
            task(Task::Copy, &[50], [&[0.3], &[0.9], &[0.99], &[0.98], &[1.0]]),
        ];
        let m = judge(&p, &data, &[0]);
        let find = |n: &str| m.iter().find(|x| x.name == n).unwrap();
        assert_eq!(find("tanh RNN test MSE, adding T=100").met, Some(true), "a diverged RNN has not learned");
        let lstm = find("LSTM, forget bias 1 test MSE, adding T=200");
        assert!(lstm.value.is_infinite() && lstm.met == Some(false), "nor has a diverged LSTM");
        let c = control(&p, &data, &m);
        assert!(c.contains("GRU test MSE, adding T=200 0.003") && !c.contains("LSTM, forget bias 1 test MSE"), "{c}");
        assert!(!c.contains("tanh RNN"), "the RNN's staying on the plateau is no control: {c}");
        assert!(c.contains("TCN (outside the rule) on the same sequences: adding 0.002 at T=100"), "{c}");
    }

    #[test]
    fn copy_memory_beyond_the_judged_lag_is_reported_against_the_memoryless_baseline() {
        let p = Params { scale: Scale::Paper, seeds: None };
        let data = [task(Task::Copy, &[50, 100], [&[0.2], &[0.1], &[0.95], &[0.99], &[1.0]])];
        let m = judge(&p, &data, &[0]);
        assert_eq!(judged_names(&m).len(), 3, "T = 50 judged");
        let reported: Vec<&Measure> = m.iter().filter(|m| m.name.contains("T=100 (reported)")).collect();
        assert_eq!(reported.len(), 5);
        assert!(reported.iter().all(|m| m.condition.is_empty()));
        assert!((reported[0].value - 10.0 / 120.0).abs() < 1e-12, "cross-entropy 1 per recalled symbol");
        assert!((copy_baseline(1000) - 0.0204).abs() < 1e-4, "Bai et al.'s T = 1000 baseline");
    }

    #[test]
    fn the_lags_at_each_scale() {
        let at = |scale| Params { scale, seeds: None };
        assert_eq!(lags(&at(Scale::Quick), Task::Adding), [100, 200]);
        assert_eq!(lags(&at(Scale::Quick), Task::Copy), [50]);
        assert_eq!(lags(&at(Scale::Tiny), Task::Adding), [10, 20]);
        let paper = at(Scale::Paper);
        assert!(
            judged(&paper, Task::Copy, 50) && !judged(&paper, Task::Copy, 100) && !judged(&paper, Task::Adding, 400)
        );
        assert_eq!(CLAIM.seeds(&at(Scale::Quick)).len(), 3);
    }
}
