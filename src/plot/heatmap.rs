//! Heat maps: a grid of values as colours (viridis, optionally on a log scale) with a colour
//! bar, row and column labels or numeric axes, curves overlaid in data coordinates, and
//! optional text in each cell.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{categorical, fits_across, fits_along, Axis};
use super::legend::{self, Entry, Swatch};
use super::line::{drawable_runs, Series, MARKER_R};
use super::style::{font, text_on, text_width, viridis, AXIS, LABEL_PX, NO_DATA, TICK_PX, W, WHITE};
use super::{chart, draw_box, render, Area, Drawn, Frame, Title};

/// A heat map of `values[row][col]`; row 0 is drawn at the top. With `log`, colours follow
/// log10 of the values. Cells without a value (not finite, missing, or <= 0 with `log`) are
/// grey, which the legend says.
///
/// Data coordinates (for the tick labels of numeric axes and for `overlay`): the centre of
/// column c is at x = `x_start + c * x_step`, of row r at y = `y_start + r * y_step`; a step
/// of 0 counts as 1.
#[derive(Clone, Debug, Default)]
pub struct HeatMap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// One label per row (thinned out if they would crowd); if empty, the rows get numeric
    /// ticks in their data coordinates.
    pub row_labels: Vec<String>,
    pub x_start: f64,
    pub x_step: f64,
    pub values: Vec<Vec<f64>>,
    pub log: bool,
    /// One label per column for a categorical x axis, in place of numeric ticks.
    pub col_labels: Option<Vec<String>>,
    pub y_start: f64,
    pub y_step: f64,
    /// Curves drawn over the map in data coordinates (line, dashes and markers of each series;
    /// bands and error bars are not drawn here). Named ones are in the legend.
    pub overlay: Vec<Series>,
    /// Text written in each cell, `[row][col]` like `values`.
    pub cell_text: Option<Vec<Vec<String>>>,
    /// What the colours measure, written along the colour bar.
    pub value_label: String,
}

const BAR_W: i32 = 14;
const BAR_GAP: i32 = 14;
const BAR_STEPS: usize = 64;

impl HeatMap {
    fn cols(&self) -> usize {
        self.values.iter().map(|r| r.len()).max().unwrap_or(0)
    }

    fn space(&self, v: f64) -> Option<f64> {
        super::axis::to_space(v, self.log)
    }

    pub fn to_svg(&self) -> String {
        let (rows, cols) = (self.values.len(), self.cols());
        let title = Title::new(&self.title);
        let top = title.height();
        let (has_x, has_y) = (!self.x_label.is_empty(), !self.y_label.is_empty());

        // The right panel: colour bar with its ticks and label, then the legend below it.
        let cells = || (0..rows).flat_map(move |r| (0..cols).map(move |c| (r, c)));
        let value = |r: usize, c: usize| self.values[r].get(c).copied().unwrap_or(f64::NAN);
        let missing = cells().any(|(r, c)| self.space(value(r, c)).is_none());
        let mut entries: Vec<Entry> = self
            .overlay
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.name.is_empty())
            .map(|(k, s)| Entry { label: s.name.clone(), swatch: Swatch::Series(s.look(k)) })
            .collect();
        if missing {
            let non_positive = self.log && cells().any(|(r, c)| value(r, c).is_finite() && value(r, c) <= 0.0);
            let label = if non_positive { "no data or <= 0" } else { "no data" };
            entries.push(Entry { label: label.into(), swatch: Swatch::Fill(NO_DATA) });
        }
        let plot_h = Frame::height_for(top, has_x);
        let legend_h = if entries.is_empty() { 0.0 } else { legend::height(&entries) + 12.0 };
        let bar_h = (plot_h - legend_h).max(plot_h / 2.0);
        let vals = cells().map(|(r, c)| value(r, c));
        let colour = Axis::fit(vals, self.log, None, 0.0, &fits_along(bar_h, TICK_PX));
        let bar_label_w = if self.value_label.is_empty() { 0.0 } else { LABEL_PX * 1.25 + 6.0 };
        let bar_panel = BAR_GAP as f64 + BAR_W as f64 + 8.0 + colour.widest_label(TICK_PX) + 6.0 + bar_label_w;
        let right = (bar_panel.max(legend::width(&entries) as f64 + 4.0) + 8.0).ceil() as u32;

        let y = self.row_axis(rows, plot_h);
        let frame = Frame::new(top, y.widest_label(TICK_PX), has_x, has_y, right);
        let x = self.col_axis(cols, frame.width());

        render(|root| {
            let chart = chart(root, frame, &x, &y, &self.x_label, &self.y_label, (false, false))?;
            title.draw(root, frame.left as f64, (W - frame.right) as f64)?;
            let area = chart.plotting_area();
            let fill = |r: usize, c: usize| {
                self.space(value(r, c)).map(|t| viridis((t - colour.lo) / (colour.hi - colour.lo))).unwrap_or(NO_DATA)
            };
            for (r, c) in cells() {
                let (x0, y0) = (c as f64, (rows - r) as f64);
                area.draw(&Rectangle::new([(x0, y0), (x0 + 1.0, y0 - 1.0)], fill(r, c).filled()))?;
            }
            if let Some(text) = &self.cell_text {
                let (cw, ch) = (frame.width() / cols.max(1) as f64, frame.height() / rows.max(1) as f64);
                let widest = text.iter().flatten().map(|t| text_width(t, 1.0)).fold(0.0, f64::max);
                let px = (ch * 0.6).min(11.0).min(0.85 * cw / widest.max(1e-9)).max(7.0).floor();
                for (r, row) in text.iter().enumerate().take(rows) {
                    for (c, t) in row.iter().enumerate().take(cols) {
                        let ink = text_on(fill(r, c));
                        let style = font(px).color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                        area.draw(&Text::new(t.clone(), (c as f64 + 0.5, (rows - r) as f64 - 0.5), style))?;
                    }
                }
            }
            self.draw_overlay(area, rows, cols)?;
            draw_box(&chart, &x, &y)?;
            let px0 = (W - right) as i32 + BAR_GAP;
            self.draw_colour_bar(root, &colour, px0, frame.top as i32, bar_h)?;
            legend::draw(root, &entries, px0 - 10, (frame.top as f64 + bar_h + 14.0) as i32)
        })
    }

    /// The column axis in cell units (column c spans [c, c + 1]).
    fn col_axis(&self, cols: usize, width_px: f64) -> Axis {
        let fits = fits_across(width_px, TICK_PX);
        match &self.col_labels {
            Some(labels) => categorical(labels, cols, false, &|t| fits(t, 0.0, cols.max(1) as f64)),
            None => numeric(self.x_start, self.x_step, cols, false, &fits),
        }
    }

    /// The row axis in cell units, upwards: row r spans [rows - r - 1, rows - r].
    fn row_axis(&self, rows: usize, height_px: f64) -> Axis {
        if self.row_labels.is_empty() {
            numeric(self.y_start, self.y_step, rows, true, &fits_along(height_px, TICK_PX))
        } else {
            let room = |t: &[(f64, String)]| {
                t.windows(2).all(|w| (w[1].0 - w[0].0).abs() / rows.max(1) as f64 * height_px >= 1.3 * TICK_PX)
            };
            categorical(&self.row_labels, rows, true, &room)
        }
    }

    fn draw_overlay(&self, area: &super::line::Plotting, rows: usize, cols: usize) -> Drawn {
        let step = |s: f64| if s == 0.0 { 1.0 } else { s };
        let to_cell = |(x, y): (f64, f64)| {
            ((x - self.x_start) / step(self.x_step) + 0.5, rows as f64 - ((y - self.y_start) / step(self.y_step) + 0.5))
        };
        let any = |_: &[(f64, String)], _: f64, _: f64| true;
        let (xa, ya) = (Axis::over(0.0, cols as f64, false, &any), Axis::over(0.0, rows as f64, false, &any));
        for (k, s) in self.overlay.iter().enumerate() {
            let look = s.look(k);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|&p| to_cell(p)).collect();
            let runs = drawable_runs(&pts, &xa, &ya);
            // A white casing under each curve keeps it visible on dark and light cells alike.
            for (colour, width) in [(WHITE, 4), (look.color, 2)] {
                if look.line {
                    for run in runs.iter().filter(|r| r.len() >= 2) {
                        if look.dashed {
                            area.draw(&DashedPathElement::new(run.clone(), 6, 4, colour.stroke_width(width)))?;
                        } else {
                            area.draw(&PathElement::new(run.clone(), colour.stroke_width(width)))?;
                        }
                    }
                }
                for run in runs.iter().filter(|r| look.markers || r.len() == 1) {
                    for &p in run {
                        area.draw(&Circle::new(p, MARKER_R + width as i32 / 2 - 1, colour.filled()))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn draw_colour_bar(&self, root: &Area, colour: &Axis, x0: i32, top: i32, bar_h: f64) -> Drawn {
        let at = |v: f64| top as f64 + (colour.hi - v) / (colour.hi - colour.lo) * bar_h;
        for i in 0..BAR_STEPS {
            let (y0, y1) = (
                top as f64 + bar_h * i as f64 / BAR_STEPS as f64,
                top as f64 + bar_h * (i + 1) as f64 / BAR_STEPS as f64,
            );
            let t = 1.0 - (i as f64 + 0.5) / BAR_STEPS as f64;
            root.draw(&Rectangle::new(
                [(x0, y0.round() as i32), (x0 + BAR_W, y1.round() as i32)],
                viridis(t).filled(),
            ))?;
        }
        let bottom = top + bar_h.round() as i32;
        root.draw(&Rectangle::new([(x0, top), (x0 + BAR_W, bottom)], AXIS.stroke_width(1)))?;
        let label_x = x0 + BAR_W + 8;
        for (p, label) in &colour.ticks {
            let y = at(*p).round() as i32;
            root.draw(&PathElement::new(vec![(x0 + BAR_W, y), (x0 + BAR_W + 4, y)], AXIS.stroke_width(1)))?;
            let style = font(TICK_PX).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(label.clone(), (label_x, y), style))?;
        }
        if !self.value_label.is_empty() {
            let x = label_x + colour.widest_label(TICK_PX).ceil() as i32 + 6;
            let style = font(LABEL_PX).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Center, VPos::Top));
            root.draw(&Text::new(self.value_label.clone(), (x, (top + bottom) / 2), style))?;
        }
        Ok(())
    }
}

/// An axis of `n` cells whose centres are at start + i * step in data coordinates, with round
/// ticks in those coordinates.
fn numeric(start: f64, step: f64, n: usize, upward: bool, fits: super::axis::Fits) -> Axis {
    let step = if step == 0.0 { 1.0 } else { step };
    let (a, b) = (start - step / 2.0, start + step * (n.max(1) as f64 - 0.5));
    let data = Axis::over(a.min(b), a.max(b), false, fits);
    let to_cell = |v: f64| {
        let i = (v - start) / step + 0.5;
        if upward {
            n.max(1) as f64 - i
        } else {
            i
        }
    };
    let mut ticks: Vec<(f64, String)> = data.ticks.into_iter().map(|(v, l)| (to_cell(v), l)).collect();
    ticks.sort_by(|p, q| p.0.total_cmp(&q.0));
    Axis { log: false, lo: 0.0, hi: n.max(1) as f64, ticks, minor: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::super::check::{texts, well_formed};
    use super::*;

    fn demo() -> HeatMap {
        let values: Vec<Vec<f64>> =
            (0..6).map(|r| (0..12).map(|c| 10f64.powf(-(r as f64) - c as f64 / 4.0)).collect()).collect();
        let mut values = values;
        values[2][3] = f64::NAN;
        values[4][5] = 0.0;
        HeatMap {
            title: "||dL/dh|| during training".into(),
            x_label: "step".into(),
            y_label: "block output".into(),
            row_labels: (0..6).map(|i| format!("layers.{i}")).collect(),
            x_start: 0.0,
            x_step: 50.0,
            values,
            log: true,
            value_label: "||dL/dh||".into(),
            overlay: vec![Series::new("theory", vec![(0.0, 0.0), (550.0, 5.0)]).dashed()],
            y_step: 1.0,
            ..Default::default()
        }
    }

    #[test]
    fn well_formed_with_colour_bar_and_no_data_legend() {
        let svg = demo().to_svg();
        well_formed(&svg);
        let t = texts(&svg);
        for want in ["layers.0", "layers.5", "step", "block output", "||dL/dh||", "theory", "no data or &lt;= 0"] {
            assert!(t.iter().any(|x| x == want), "{want} not among {t:?}");
        }
        // The colour bar: its gradient steps, and decade labels on the log scale.
        assert!(svg.matches("<rect").count() >= 6 * 12 + BAR_STEPS, "cells and colour bar");
        assert!(t.iter().any(|x| x.starts_with("10&#8315;")), "{t:?}");
        // The grey of the missing cells, which the ramp never gives.
        assert!(svg.contains("fill=\"#BDBDBD\""));
        // The overlay has its white casing and its colour.
        assert!(svg.contains("stroke=\"#FFFFFF\"") && svg.contains("stroke=\"#1F77B4\""));
    }

    #[test]
    fn complete_linear_map_says_no_no_data() {
        let m = HeatMap {
            title: "accuracy".into(),
            values: vec![vec![0.1, 0.5], vec![0.9, 1.0]],
            row_labels: vec!["a".into(), "b".into()],
            col_labels: Some(vec!["relu".into(), "tanh".into()]),
            cell_text: Some(vec![vec!["0.1".into(), "0.5".into()], vec!["0.9".into(), "1.0".into()]]),
            ..Default::default()
        };
        let svg = m.to_svg();
        well_formed(&svg);
        let t = texts(&svg);
        assert!(!t.iter().any(|x| x.contains("no data")));
        for want in ["relu", "tanh", "0.1", "1.0", "a", "b"] {
            assert!(t.iter().any(|x| x == want), "{want} not among {t:?}");
        }
        assert_eq!(svg, m.to_svg(), "deterministic");
    }

    #[test]
    fn empty_and_ragged_maps_still_draw() {
        well_formed(&HeatMap::default().to_svg());
        let m = HeatMap { values: vec![vec![1.0], vec![1.0, 2.0, 3.0]], ..Default::default() };
        well_formed(&m.to_svg());
    }

    #[test]
    fn crowded_row_labels_thin_out() {
        let m = HeatMap {
            values: vec![vec![1.0; 3]; 80],
            row_labels: (0..80).map(|i| format!("r{i}")).collect(),
            ..Default::default()
        };
        let t = texts(&m.to_svg());
        let shown = t.iter().filter(|x| x.starts_with('r')).count();
        assert!((5..=30).contains(&shown), "{shown} row labels");
        assert!(t.iter().any(|x| x == "r0"), "the top row keeps its label");
    }
}
