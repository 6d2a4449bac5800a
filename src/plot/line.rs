//! Line plots: series as lines and/or markers, with optional shaded bands (e.g. the spread over
//! seeds) and vertical error bars, on linear or log axes.

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axis::{fits_across, fits_along, Axis};
use super::legend::{self, Entry, Look, Swatch};
use super::style::{color, BAND_ALPHA, TICK_PX, W};
use super::{chart, draw_box, render, Drawn, Frame, Title};

pub(crate) const MARKER_R: i32 = 3;

/// One series of a plot. Points that are not finite, or not positive on a log axis, are left
/// out and the line breaks there.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// The legend entry (none if empty).
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    /// A dot at each point.
    pub markers: bool,
    /// Dots only, no connecting line (a scatter).
    pub points_only: bool,
    /// A shaded band (x, lo, hi) drawn behind every line in a light shade of this colour.
    pub band: Vec<(f64, f64, f64)>,
    /// Vertical error bars (x, lo, hi).
    pub error_bars: Vec<(f64, f64, f64)>,
    /// A palette index, to give several series one colour; by default the series' position.
    pub color: Option<usize>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points, ..Default::default() }
    }
    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
    pub fn markers(mut self) -> Self {
        self.markers = true;
        self
    }
    pub fn points_only(mut self) -> Self {
        self.points_only = true;
        self
    }
    /// A shaded band (x, lo, hi). On a log axis a lower edge <= 0 runs to the bottom of the plot.
    pub fn band(mut self, band: Vec<(f64, f64, f64)>) -> Self {
        self.band = band;
        self
    }
    /// Vertical error bars (x, lo, hi). On a log axis a lower end <= 0 runs to the bottom.
    pub fn error_bars(mut self, bars: Vec<(f64, f64, f64)>) -> Self {
        self.error_bars = bars;
        self
    }
    pub fn color(mut self, palette_index: usize) -> Self {
        self.color = Some(palette_index);
        self
    }

    /// How the series is drawn when it is the `k`-th of its plot.
    pub(crate) fn look(&self, k: usize) -> Look {
        Look {
            color: color(self.color.unwrap_or(k)),
            line: !self.points_only && !self.points.is_empty(),
            dashed: self.dashed,
            markers: self.markers || self.points_only,
            band: !self.band.is_empty(),
            error_bars: !self.error_bars.is_empty(),
        }
    }

    fn xs(&self) -> impl Iterator<Item = f64> + '_ {
        let b = self.band.iter().chain(&self.error_bars).map(|t| t.0);
        self.points.iter().map(|p| p.0).chain(b)
    }

    fn ys(&self) -> impl Iterator<Item = f64> + '_ {
        let b = self.band.iter().chain(&self.error_bars).flat_map(|t| [t.1, t.2]);
        self.points.iter().map(|p| p.1).chain(b)
    }
}

/// A line plot. With `log_y` (`log_x`), that axis is log10 and labelled at decades.
#[derive(Clone, Debug, Default)]
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    /// A fixed y range (data outside is clipped); by default the data's, padded.
    pub y_range: Option<(f64, f64)>,
    pub series: Vec<Series>,
}

impl LinePlot {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        LinePlot { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), ..Default::default() }
    }
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }
    pub fn log_x(mut self, on: bool) -> Self {
        self.log_x = on;
        self
    }
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    pub fn to_svg(&self) -> String {
        let title = Title::new(&self.title);
        let top = title.height();
        let entries: Vec<Entry> = self
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.name.is_empty())
            .map(|(k, s)| Entry { label: s.name.clone(), swatch: Swatch::Series(s.look(k)) })
            .collect();
        let legend_w = legend::width(&entries);
        let right = if legend_w > 0 { legend_w + 6 } else { 24 };
        let (has_x, has_y) = (!self.x_label.is_empty(), !self.y_label.is_empty());
        let ys = self.series.iter().flat_map(|s| s.ys());
        let y = Axis::fit(ys, self.log_y, self.y_range, 0.05, &fits_along(Frame::height_for(top, has_x), TICK_PX));
        let frame = Frame::new(top, y.widest_label(TICK_PX), has_x, has_y, right);
        let xs = self.series.iter().flat_map(|s| s.xs());
        let x = Axis::fit(xs, self.log_x, None, 0.02, &fits_across(frame.width(), TICK_PX));
        render(|root| {
            let chart = chart(root, frame, &x, &y, &self.x_label, &self.y_label, (true, true))?;
            title.draw(root, frame.left as f64, (W - frame.right) as f64)?;
            let area = chart.plotting_area();
            // Every band before any line, so no band veils another series' line.
            for (k, s) in self.series.iter().enumerate() {
                draw_band(area, &x, &y, &s.band, s.look(k).color)?;
            }
            for (k, s) in self.series.iter().enumerate() {
                draw_series(area, &x, &y, s, s.look(k))?;
            }
            draw_box(&chart, &x, &y)?;
            legend::draw(root, &entries, (W - legend_w) as i32, frame.top as i32)
        })
    }
}

pub(crate) type Plotting<'a> = DrawingArea<SVGBackend<'a>, super::Coord>;

/// The points of `pts` in drawing space, split where one cannot be drawn, then clipped to the
/// axes' rectangle.
pub(crate) fn drawable_runs(pts: &[(f64, f64)], x: &Axis, y: &Axis) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for &(px, py) in pts {
        match (x.to_space(px), y.to_space(py)) {
            (Some(a), Some(b)) => run.push((a, b)),
            _ => runs.push(std::mem::take(&mut run)),
        }
    }
    runs.push(run);
    runs.iter().filter(|r| !r.is_empty()).flat_map(|r| clip(r, [x.lo, x.hi, y.lo, y.hi])).collect()
}

/// A polyline cut to the rectangle [x0, x1] x [y0, y1] (Liang-Barsky on each segment); the
/// pieces inside, in order.
fn clip(pts: &[(f64, f64)], [x0, x1, y0, y1]: [f64; 4]) -> Vec<Vec<(f64, f64)>> {
    let inside = |p: (f64, f64)| p.0 >= x0 && p.0 <= x1 && p.1 >= y0 && p.1 <= y1;
    if pts.len() == 1 {
        return if inside(pts[0]) { vec![pts.to_vec()] } else { Vec::new() };
    }
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for w in pts.windows(2) {
        let (p, q) = (w[0], w[1]);
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let mut visible = true;
        for (d, e) in [(-dx, p.0 - x0), (dx, x1 - p.0), (-dy, p.1 - y0), (dy, y1 - p.1)] {
            if d == 0.0 {
                visible &= e >= 0.0;
            } else if d < 0.0 {
                t0 = t0.max(e / d);
            } else {
                t1 = t1.min(e / d);
            }
        }
        if !visible || t0 > t1 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let at = |t: f64| (p.0 + t * dx, p.1 + t * dy);
        if cur.is_empty() || t0 > 0.0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.push(at(t0));
        }
        cur.push(at(t1));
        if t1 < 1.0 {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// An interval's ends in drawing space, clamped to the y axis; a lower end below a log axis
/// (<= 0) runs to its bottom. None if it cannot be drawn at all.
fn interval(y: &Axis, lo: f64, hi: f64) -> Option<(f64, f64)> {
    let hi = y.to_space(hi)?;
    let lo = match y.to_space(lo) {
        Some(v) => v,
        None if y.log && lo.is_finite() => y.lo,
        None => return None,
    };
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    (hi >= y.lo && lo <= y.hi).then(|| (lo.max(y.lo), hi.min(y.hi)))
}

fn draw_band(area: &Plotting, x: &Axis, y: &Axis, band: &[(f64, f64, f64)], c: RGBColor) -> Drawn {
    let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new()];
    for &(bx, lo, hi) in band {
        match (x.to_space(bx).filter(|v| *v >= x.lo && *v <= x.hi), interval(y, lo, hi)) {
            (Some(px), Some((l, h))) => runs.last_mut().unwrap().push((px, l, h)),
            _ => runs.push(Vec::new()),
        }
    }
    for run in runs.iter().filter(|r| r.len() >= 2) {
        let mut poly: Vec<(f64, f64)> = run.iter().map(|t| (t.0, t.1)).collect();
        poly.extend(run.iter().rev().map(|t| (t.0, t.2)));
        area.draw(&Polygon::new(poly, c.mix(BAND_ALPHA).filled()))?;
    }
    Ok(())
}

fn draw_series(area: &Plotting, x: &Axis, y: &Axis, s: &Series, look: Look) -> Drawn {
    let c = look.color;
    let runs = drawable_runs(&s.points, x, y);
    if look.line {
        for run in runs.iter().filter(|r| r.len() >= 2) {
            if look.dashed {
                area.draw(&DashedPathElement::new(run.clone(), 6, 4, c.stroke_width(2)))?;
            } else {
                area.draw(&PathElement::new(run.clone(), c.stroke_width(2)))?;
            }
        }
    }
    for &(bx, lo, hi) in &s.error_bars {
        let (Some(px), Some((l, h))) = (x.to_space(bx).filter(|v| *v >= x.lo && *v <= x.hi), interval(y, lo, hi))
        else {
            continue;
        };
        area.draw(&PathElement::new(vec![(px, l), (px, h)], c.stroke_width(1)))?;
        // A cap marks an end that is the interval's own, not the axis cutting it off.
        for (end, own) in
            [(l, y.to_space(lo).is_some_and(|v| v >= y.lo)), (h, y.to_space(hi).is_some_and(|v| v <= y.hi))]
        {
            if own {
                let cap = EmptyElement::at((px, end)) + PathElement::new(vec![(-4, 0), (4, 0)], c.stroke_width(1));
                area.draw(&cap)?;
            }
        }
    }
    for run in &runs {
        // A lone point has no line to show it: it gets a dot whatever the style.
        if look.markers || run.len() == 1 {
            for &p in run {
                area.draw(&Circle::new(p, MARKER_R, c.filled()))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::check::{texts, well_formed};
    use super::super::escape;
    use super::*;

    fn demo() -> LinePlot {
        let pts: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 10f64.powf(-(i as f64) / 4.0))).collect();
        let band = pts.iter().map(|&(x, y)| (x, y * 0.5, y * 2.0)).collect();
        let err = pts.iter().step_by(4).map(|&(x, y)| (x, y * 0.7, y * 1.4)).collect();
        LinePlot::new("decay & <growth>", "step", "loss (nats)")
            .log_y(true)
            .series(Series::new("mean over 3 seeds", pts.clone()).markers().band(band))
            .series(Series::new("theory: 10^(-t/4)", pts.iter().map(|&(x, y)| (x, y * 1.5)).collect()).dashed())
            .series(Series::new("measured \"α\"", pts.iter().map(|&(x, y)| (x + 0.5, y)).collect()).points_only())
            .series(Series::new("with error bars", pts.iter().map(|&(x, y)| (x, y * 3.0)).collect()).error_bars(err))
    }

    /// The `<polyline>` tags drawn in `colour`, in order.
    fn lines_of(svg: &str, colour: &str) -> Vec<String> {
        let want = format!("stroke=\"{colour}\"");
        svg.split('<').filter(|t| t.starts_with("polyline") && t.contains(&want)).map(|t| format!("<{t}")).collect()
    }

    #[test]
    fn one_svg_root_with_a_view_box() {
        well_formed(&demo().to_svg());
        well_formed(&LinePlot::new("", "", "").to_svg());
        well_formed(&LinePlot::new("empty series", "x", "y").series(Series::new("none", vec![])).to_svg());
    }

    #[test]
    fn every_series_is_in_the_legend_and_labels_are_there() {
        let svg = demo().to_svg();
        let t = texts(&svg);
        for s in &demo().series {
            let name = escape(&s.name).replace('α', "&#945;");
            assert!(t.contains(&name), "{name} not among {t:?}");
        }
        for want in ["decay &amp; &lt;growth&gt;", "step", "loss (nats)"] {
            assert!(t.iter().any(|x| x == want), "{want} not among {t:?}");
        }
        // Decades: 10^-4 as a superscript.
        assert!(t.iter().any(|x| x == "10&#8315;&#8308;"), "{t:?}");
    }

    #[test]
    fn same_input_same_bytes() {
        assert_eq!(demo().to_svg(), demo().to_svg());
    }

    #[test]
    fn log_axes_leave_out_non_positive_points() {
        let x = Axis::fit([0.0, 10.0], false, None, 0.0, &|_, _, _| true);
        let y = Axis::fit([1e-3, 1.0], true, None, 0.0, &|_, _, _| true);
        let pts = [(0.0, 1.0), (1.0, 0.1), (2.0, 0.0), (3.0, -1.0), (4.0, f64::NAN), (5.0, 0.01), (6.0, 0.001)];
        let runs = drawable_runs(&pts, &x, &y);
        assert_eq!(runs, vec![vec![(0.0, 0.0), (1.0, -1.0)], vec![(5.0, -2.0), (6.0, -3.0)]]);
        // And in the SVG: the line breaks into two polylines (plus the legend's sample).
        let plot = LinePlot::new("t", "x", "y").log_y(true).series(Series::new("s", pts.to_vec()));
        let svg = plot.to_svg();
        well_formed(&svg);
        assert_eq!(lines_of(&svg, "#1F77B4").len(), 3, "{svg}");
    }

    #[test]
    fn clipping_to_a_fixed_range() {
        let r = [0.0, 10.0, 0.0, 1.0];
        assert_eq!(clip(&[(0.0, 0.5), (10.0, 0.5)], r), vec![vec![(0.0, 0.5), (10.0, 0.5)]]);
        assert_eq!(
            clip(&[(0.0, 0.0), (2.0, 2.0), (4.0, 0.0)], r),
            vec![vec![(0.0, 0.0), (1.0, 1.0)], vec![(3.0, 1.0), (4.0, 0.0)]]
        );
        assert!(clip(&[(0.0, 5.0), (10.0, 5.0)], r).is_empty());
        let svg = LinePlot::new("t", "x", "y")
            .y_range(0.0, 1.0)
            .series(Series::new("s", vec![(0.0, 0.0), (1.0, 5.0)]))
            .to_svg();
        well_formed(&svg);
    }

    #[test]
    fn a_band_is_drawn_behind_its_line() {
        let svg = demo().to_svg();
        let band = svg.find("<polygon").expect("band polygon");
        let first_line = svg.find(&lines_of(&svg, "#1F77B4")[0]).unwrap();
        assert!(band < first_line, "band after its line");
        for c in ["#FF7F0E", "#D62728"] {
            assert!(band < svg.find(&format!("stroke=\"{c}\"")).unwrap(), "band after the line in {c}");
        }
        // The band's fill is the series colour, lighter (translucent).
        let tag = &svg[band..band + svg[band..].find('>').unwrap()];
        assert!(tag.contains("fill=\"#1F77B4\"") && tag.contains("opacity=\"0.2\""), "{tag}");
    }

    #[test]
    fn series_can_share_a_colour() {
        let p = LinePlot::new("t", "x", "y")
            .series(Series::new("a", vec![(0.0, 1.0), (1.0, 2.0)]))
            .series(Series::new("b", vec![(0.0, 2.0), (1.0, 3.0)]).dashed().color(0));
        let svg = p.to_svg();
        assert!(!svg.contains("#FF7F0E"), "the second series took the first one's colour");
    }
}
