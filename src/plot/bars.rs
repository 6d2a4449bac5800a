//! Grouped bar plots: for each category (e.g. a depth) one bar per group (e.g. an
//! architecture), with optional error bars, on a linear or log y axis.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{categorical, fits_across, fits_along, Axis};
use super::legend::{self, Entry, Swatch};
use super::style::{color, font, AXIS, TEXT, TICK_PX, W};
use super::{chart, draw_box, render, Frame, Title};

/// One group: a value per category (not finite: no bar, marked "n/a").
#[derive(Clone, Debug, Default)]
pub struct BarGroup {
    /// The legend entry (none if empty).
    pub name: String,
    pub values: Vec<f64>,
    /// Per category, the error bar's (lo, hi); empty for none.
    pub errors: Vec<(f64, f64)>,
    /// A palette index; by default the group's position.
    pub color: Option<usize>,
}

impl BarGroup {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        BarGroup { name: name.into(), values, ..Default::default() }
    }
    pub fn errors(mut self, lo_hi: Vec<(f64, f64)>) -> Self {
        self.errors = lo_hi;
        self
    }
    pub fn color(mut self, palette_index: usize) -> Self {
        self.color = Some(palette_index);
        self
    }
}

/// Bars grouped by category. On a linear axis bars rise from 0; with `log_y` from the
/// bottom of the axis, and values <= 0 get no bar.
#[derive(Clone, Debug, Default)]
pub struct BarPlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub groups: Vec<BarGroup>,
    pub log_y: bool,
    pub y_range: Option<(f64, f64)>,
}

/// The share of a category's width its bars take (the rest separates categories).
const GROUP_W: f64 = 0.8;

impl BarPlot {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        BarPlot { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), ..Default::default() }
    }
    pub fn categories<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.categories = names.into_iter().map(Into::into).collect();
        self
    }
    pub fn group(mut self, g: BarGroup) -> Self {
        self.groups.push(g);
        self
    }
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    pub fn to_svg(&self) -> String {
        let n = self.categories.len().max(self.groups.iter().map(|g| g.values.len()).max().unwrap_or(0));
        let title = Title::new(&self.title);
        let top = title.height();
        let colour = |k: usize, g: &BarGroup| color(g.color.unwrap_or(k));
        let entries: Vec<Entry> = self
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.name.is_empty())
            .map(|(k, g)| Entry { label: g.name.clone(), swatch: Swatch::Fill(colour(k, g)) })
            .collect();
        let legend_w = legend::width(&entries);
        let right = if legend_w > 0 { legend_w + 6 } else { 24 };
        let (has_x, has_y) = (!self.x_label.is_empty(), !self.y_label.is_empty());
        let ys: Vec<f64> = self
            .groups
            .iter()
            .flat_map(|g| g.values.iter().copied().chain(g.errors.iter().flat_map(|e| [e.0, e.1])))
            .collect();
        let fits = fits_along(Frame::height_for(top, has_x), TICK_PX);
        let y = if self.log_y || self.y_range.is_some() {
            Axis::fit(ys, self.log_y, self.y_range, 0.05, &fits)
        } else {
            // Bars rise from 0: the axis includes it, with no padding beyond it.
            let (lo, hi) =
                ys.iter().filter(|v| v.is_finite()).fold((0.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
            let (lo, hi) = if hi > lo { (lo, hi) } else { (0.0, 1.0) };
            let pad = (hi - lo) * 0.05;
            Axis::fit(
                [],
                false,
                Some((if lo < 0.0 { lo - pad } else { 0.0 }, if hi > 0.0 { hi + pad } else { 0.0 })),
                0.0,
                &fits,
            )
        };
        let frame = Frame::new(top, y.widest_label(TICK_PX), has_x, has_y, right);
        let across = fits_across(frame.width(), TICK_PX);
        let x = categorical(&self.categories, n, false, &|t| across(t, 0.0, n.max(1) as f64));
        let base = if y.log { y.lo } else { 0.0f64.clamp(y.lo, y.hi) };
        let bar_w = GROUP_W / self.groups.len().max(1) as f64;

        render(|root| {
            let chart = chart(root, frame, &x, &y, &self.x_label, &self.y_label, (false, true))?;
            title.draw(root, frame.left as f64, (W - frame.right) as f64)?;
            let area = chart.plotting_area();
            for (k, g) in self.groups.iter().enumerate() {
                for (i, &v) in g.values.iter().enumerate().take(n) {
                    let x0 = i as f64 + (1.0 - GROUP_W) / 2.0 + k as f64 * bar_w;
                    let mid = x0 + bar_w / 2.0;
                    match y.to_space(v) {
                        Some(t) => {
                            let t = t.clamp(y.lo, y.hi);
                            area.draw(&Rectangle::new([(x0, base), (x0 + bar_w, t)], colour(k, g).filled()))?;
                        }
                        None => {
                            let ink = TEXT.mix(0.7);
                            let style = font(10.0)
                                .color(&ink)
                                .transform(FontTransform::Rotate270)
                                .pos(Pos::new(HPos::Left, VPos::Center));
                            let at = EmptyElement::at((mid, base)) + Text::new("n/a", (0, -5), style);
                            area.draw(&at)?;
                        }
                    }
                    if let Some(&(lo, hi)) = g.errors.get(i).filter(|_| v.is_finite()) {
                        let end = |v: f64| y.to_space(v).or((y.log && v.is_finite()).then_some(y.lo));
                        if let (Some(l), Some(h)) = (end(lo), end(hi)) {
                            let (l, h) = (l.clamp(y.lo, y.hi), h.clamp(y.lo, y.hi));
                            let st = AXIS.stroke_width(1);
                            area.draw(&PathElement::new(vec![(mid, l), (mid, h)], st))?;
                            for e in [l, h] {
                                area.draw(&(EmptyElement::at((mid, e)) + PathElement::new(vec![(-3, 0), (3, 0)], st)))?;
                            }
                        }
                    }
                }
            }
            draw_box(&chart, &x, &y)?;
            legend::draw(root, &entries, (W - legend_w) as i32, frame.top as i32)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::{texts, well_formed};
    use super::*;

    fn demo(log: bool) -> BarPlot {
        BarPlot::new("final training loss by architecture", "depth", "loss (nats)")
            .categories(["10", "20", "50", "100"])
            .group(BarGroup::new("plain", vec![0.5, 1.2, 2.3, f64::NAN]).errors(vec![(0.4, 0.6); 4]))
            .group(BarGroup::new("residual", vec![0.3, 0.25, 0.2, 0.2]))
            .group(BarGroup::new("highway", vec![0.35, 0.3, 0.28, 0.0]))
            .log_y(log)
    }

    #[test]
    fn groups_categories_and_missing_values_are_shown() {
        for log in [false, true] {
            let svg = demo(log).to_svg();
            well_formed(&svg);
            let t = texts(&svg);
            for want in ["plain", "residual", "highway", "10", "100", "depth", "loss (nats)", "n/a"] {
                assert!(t.iter().any(|x| x == want), "{want} not among {t:?}");
            }
            assert_eq!(svg, demo(log).to_svg());
        }
        // On the log axis the zero also has no bar.
        let t = texts(&demo(true).to_svg());
        assert_eq!(t.iter().filter(|x| *x == "n/a").count(), 2);
    }

    #[test]
    fn linear_bars_start_at_zero() {
        let t = texts(&demo(false).to_svg());
        assert!(t.iter().any(|x| x == "0.0" || x == "0"), "{t:?}");
        well_formed(&BarPlot::new("", "", "").to_svg());
    }
}
