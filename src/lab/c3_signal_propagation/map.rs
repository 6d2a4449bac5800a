//! C3 (b): the trainability map. Plain tanh nets trained briefly on MNIST over a grid of
//! sigma_w^2 and depth, once per seed; a cell is on the predicted side when it trains (test
//! accuracy above twice chance, averaged over the seeds read) exactly where its depth is at most
//! 6 xi_c.

use super::{CONFIGS, SIGMA_B2};
use crate::lab::fmt::{mean_pm, num, pct};
use crate::lab::{Figure, Measure, Params, RunSet, Table};
use crate::nn::Activation;
use crate::plot::{HeatMap, LinePlot, Series};
use crate::probe::meanfield::MeanField;
use crate::stats::mean;
use crate::sweep::RunRequest;

/// Trainable: test accuracy above twice chance (10 classes).
const TRAINABLE: f64 = 0.2;
/// What a diverged run counts as: chance, a net that learned nothing.
const CHANCE: f64 = 0.1;
/// Nets train up to about this many xi_c (Schoenholz et al.).
const XI_MULT: f64 = 6.0;
/// The rule's bar on the cells of the map on the predicted side.
const MAP_BAR: f64 = 0.8;

/// The grid: sigma_w^2 (columns) and depths.
pub(super) struct Sizes {
    pub sw: Vec<f64>,
    pub depths: Vec<usize>,
}

fn run(p: &Params, sw: f64, depth: usize, seed: u64) -> RunRequest {
    let sets = [
        format!("seed={seed}"),
        format!("model.depth={depth}"),
        format!("model.init={{ kind = \"gaussian\", sigma_w2 = {sw:?}, sigma_b2 = {SIGMA_B2:?} }}"),
    ];
    RunRequest::train(CONFIGS.at(p.scale, &sets), format!("C3 map sigma_w^2 {sw} depth {depth} seed {seed}"))
}

pub(super) fn runs(p: &Params, s: &Sizes, seeds: &[u64]) -> Vec<RunRequest> {
    let mut v = Vec::new();
    for &seed in seeds {
        for &d in &s.depths {
            v.extend(s.sw.iter().map(|&sw| run(p, sw, d, seed)));
        }
    }
    v
}

/// The map as read: test accuracy by row (the deepest nets first) and column.
pub(super) struct Map {
    sw: Vec<f64>,
    /// Depths, deepest first (row 0 is drawn at the top).
    rows: Vec<usize>,
    /// xi_c at each sigma_w^2.
    xi: Vec<f64>,
    /// Test accuracy after training, [row][column][seed]; NaN for a diverged run.
    acc: Vec<Vec<Vec<f64>>>,
}

pub(super) fn read(p: &Params, runs: &RunSet, s: &Sizes, seeds: &[u64]) -> Result<Map, String> {
    let rows: Vec<usize> = s.depths.iter().rev().copied().collect();
    let mut acc = Vec::new();
    for &depth in &rows {
        let mut row = Vec::new();
        for &sw in &s.sw {
            let mut cell = Vec::new();
            for &seed in seeds {
                let r = runs.get(&run(p, sw, depth, seed))?;
                cell.push(if r.diverged() {
                    f64::NAN
                } else {
                    r.summary().test_accuracy.ok_or_else(|| r.error("summary.json", "no test_accuracy"))?
                });
            }
            row.push(cell);
        }
        acc.push(row);
    }
    let xi = s.sw.iter().map(|&sw| MeanField::compute(Activation::Tanh, sw, SIGMA_B2).xi_c).collect();
    Ok(Map { sw: s.sw.clone(), rows, xi, acc })
}

/// A cell's prediction and outcome.
struct Cell {
    /// Trainable by the theory: depth <= 6 xi_c.
    predicted: bool,
    /// The outcome is on the predicted side (a diverged run counts as untrainable).
    ok: bool,
}

impl Cell {
    fn side(&self) -> &'static str {
        if self.predicted {
            "T"
        } else {
            "U"
        }
    }
}

impl Map {
    /// A cell's test accuracy over `seeds`: the mean, a diverged run counted as chance.
    fn accuracy(&self, r: usize, c: usize, seeds: &[usize]) -> f64 {
        let a = &self.acc[r][c];
        mean(&seeds.iter().map(|&s| if a[s].is_nan() { CHANCE } else { a[s] }).collect::<Vec<_>>())
    }

    fn cell(&self, r: usize, c: usize, seeds: &[usize]) -> Cell {
        let predicted = (self.rows[r] as f64) <= XI_MULT * self.xi[c];
        Cell { predicted, ok: (self.accuracy(r, c, seeds) > TRAINABLE) == predicted }
    }

    fn every_seed(&self) -> Vec<usize> {
        (0..self.acc.first().and_then(|r| r.first()).map_or(0, Vec::len)).collect()
    }

    /// Cells on the predicted side, and cells.
    fn on_side(&self, seeds: &[usize]) -> (usize, usize) {
        let cells: Vec<Cell> = (0..self.rows.len())
            .flat_map(|r| (0..self.sw.len()).map(move |c| (r, c)))
            .map(|(r, c)| self.cell(r, c, seeds))
            .collect();
        (cells.iter().filter(|c| c.ok).count(), cells.len())
    }

    /// The shallowest row's lowest accuracy over the columns, over `seeds`: the control that
    /// nets of this setup train at all.
    pub fn shallowest(&self, seeds: &[usize]) -> (usize, f64) {
        let r = self.rows.len() - 1;
        let worst = (0..self.sw.len()).map(|c| self.accuracy(r, c, seeds)).fold(f64::INFINITY, f64::min);
        (self.rows[r], worst)
    }

    pub fn judge(&self, seeds: &[usize]) -> Measure {
        let (on_side, cells) = self.on_side(seeds);
        let frac = on_side as f64 / cells.max(1) as f64;
        Measure::new(
            "(b) map cells on the predicted side of 6 xi_c",
            frac,
            format!("{on_side} of {cells} ({})", pct(frac)),
        )
        .must(format!(">= {}", pct(MAP_BAR)), (cells > 0).then_some(frac >= MAP_BAR))
    }

    pub fn note(&self, seeds: &[usize]) -> String {
        let (on_side, cells) = self.on_side(seeds);
        format!("{on_side} of {cells} map cells lie on the predicted side of 6 xi_c")
    }

    pub fn tables(&self) -> Vec<Table> {
        let cols = std::iter::once("depth".to_string()).chain(self.sw.iter().map(|sw| format!("sigma_w^2 = {sw}")));
        let all = self.every_seed();
        let mut t_map = Table::with_columns("(b) Test accuracy after training, and the side of 6 xi_c", cols)
            .caption(format!("Each cell: test accuracy (mean ± sd over {} seeds); T / U = predicted trainable (depth <= 6 xi_c) or untrainable; a mark (x) where the mean is on the other side. Diverged runs count as chance (10%), untrainable.", all.len()));
        for (r, depth) in self.rows.iter().enumerate() {
            let mut row = vec![depth.to_string()];
            for c in 0..self.sw.len() {
                let cell = self.cell(r, c, &all);
                let accs: Vec<f64> = self.acc[r][c].iter().map(|&a| if a.is_nan() { CHANCE } else { a }).collect();
                row.push(format!("{} {}{}", mean_pm(&accs, pct), cell.side(), if cell.ok { "" } else { " (x)" }));
            }
            t_map.row(row);
        }
        let mut t_xi =
            Table::new("(b) Depth scales from mean-field theory", &["sigma_w^2", "chi_1", "phase", "xi_c", "6 xi_c"])
                .caption("tanh, sigma_b^2 = 0.05; xi_c = -1/ln chi_c, infinite at the transition (chi_1 = 1).");
        for (&sw, &xi) in self.sw.iter().zip(&self.xi) {
            let m = MeanField::compute(Activation::Tanh, sw, SIGMA_B2);
            t_xi.row(vec![num(sw), format!("{:.4}", m.chi_1), m.phase.clone(), num(xi), num(XI_MULT * xi)]);
        }
        vec![t_map, t_xi]
    }

    /// The map with 6 xi_c drawn over it, and its columns as curves.
    pub fn figures(&self, theory: &[MeanField]) -> Vec<Figure> {
        let all = self.every_seed();
        let (first, last) = (self.sw[0], self.sw[self.sw.len() - 1]);
        // 6 xi_c in the map's cell coordinates (columns at sigma_w^2, rows by depth).
        let curve: Vec<(f64, f64)> = theory
            .iter()
            .filter(|m| m.sigma_w2 >= first - 1e-9 && m.sigma_w2 <= last + 1e-9)
            .map(|m| (m.sigma_w2, row_of(XI_MULT * m.xi_c, &self.rows).unwrap_or(f64::NAN)))
            .collect();
        let text = (0..self.rows.len())
            .map(|r| {
                (0..self.sw.len())
                    .map(|c| {
                        let cell = self.cell(r, c, &all);
                        format!("{}{}", cell.side(), if cell.ok { "" } else { " x" })
                    })
                    .collect()
            })
            .collect();
        let heat = HeatMap {
            title: "Test accuracy of plain tanh nets after training".into(),
            x_label: "sigma_w^2".into(),
            y_label: "depth (layers)".into(),
            row_labels: self.rows.iter().map(|d| d.to_string()).collect(),
            x_start: first,
            x_step: if self.sw.len() > 1 { self.sw[1] - self.sw[0] } else { 1.0 },
            values: (0..self.rows.len())
                .map(|r| (0..self.sw.len()).map(|c| self.accuracy(r, c, &all)).collect())
                .collect(),
            overlay: vec![Series::new("6 xi_c", curve).dashed()],
            cell_text: Some(text),
            ..Default::default()
        };
        let mut p_acc = LinePlot::new("(b) Test accuracy against depth", "depth (layers)", "test accuracy");
        for (c, &sw) in self.sw.iter().enumerate() {
            let pts = self.rows.iter().enumerate().rev().map(|(r, &d)| (d as f64, self.accuracy(r, c, &all))).collect();
            p_acc = p_acc.series(
                Series::new(format!("sigma_w^2 = {sw} (6 xi_c = {})", num(XI_MULT * self.xi[c])), pts).markers(),
            );
        }
        let (shallowest, deepest) = (self.rows[self.rows.len() - 1] as f64, self.rows[0] as f64);
        p_acc = p_acc.series(Series::new("twice chance", vec![(shallowest, TRAINABLE), (deepest, TRAINABLE)]).dashed());
        vec![
            Figure::new(
                "(b) Trainability map",
                format!(
                    "Test accuracy after training (mean over seeds) by sigma_w^2 and depth (rows not evenly spaced in depth), with 6 xi_c from mean-field theory drawn over it; cells read T / U for the predicted side, x where the outcome is on the other. Chance is 10%; trainable means above {}.",
                    pct(TRAINABLE)
                ),
                heat.to_svg(),
            ),
            Figure::new("(b) Accuracy by depth", "The map's columns as curves.", p_acc.to_svg()),
        ]
    }
}

/// Where `depth` falls among the map's rows (row 0 at the top holds the deepest nets), as a
/// fractional row for the overlay; None outside the rows.
fn row_of(depth: f64, rows: &[usize]) -> Option<f64> {
    for r in 0..rows.len().saturating_sub(1) {
        let (hi, lo) = (rows[r] as f64, rows[r + 1] as f64);
        if depth <= hi && depth >= lo {
            return Some(r as f64 + (hi - depth) / (hi - lo));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_interpolated_between_depths() {
        let rows = [100, 70, 40, 20, 10];
        assert_eq!(row_of(100.0, &rows), Some(0.0));
        assert_eq!(row_of(55.0, &rows), Some(1.5));
        assert_eq!(row_of(10.0, &rows), Some(4.0));
        assert_eq!(row_of(150.0, &rows), None);
        assert_eq!(row_of(5.0, &rows), None);
    }

    #[test]
    fn cells_read_the_mean_over_the_seeds_given_and_a_diverged_run_is_chance() {
        // sigma_w^2 = 1 (6 xi_c about 19): depth 10 predicted trainable, depth 40 not.
        let sw = 1.0;
        let xi = MeanField::compute(Activation::Tanh, sw, SIGMA_B2).xi_c;
        assert!(10.0 <= XI_MULT * xi && 40.0 > XI_MULT * xi, "6 xi_c = {}", XI_MULT * xi);
        let m = Map {
            sw: vec![sw],
            rows: vec![40, 10],
            xi: vec![xi],
            // depth 40: seeds 0 and 2 untrainable, seed 1 trains; depth 10: seed 2 diverged.
            acc: vec![vec![vec![0.1, 0.3, 0.1]], vec![vec![0.9, 0.9, f64::NAN]]],
        };
        let frac = |seeds: &[usize]| m.judge(seeds).value;
        assert_eq!(frac(&[0]), 1.0);
        assert_eq!(frac(&[1]), 0.5, "seed 1 trains at depth 40");
        assert_eq!(frac(&[2]), 0.5, "seed 2 diverged at depth 10: untrainable");
        assert_eq!(frac(&[0, 1, 2]), 1.0, "means 0.17 at depth 40, 0.63 at depth 10");
        assert_eq!(m.judge(&[1]).met, Some(false));
        assert_eq!(m.shallowest(&[0, 1]), (10, 0.9));
    }
}
