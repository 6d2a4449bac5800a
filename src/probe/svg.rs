//! A small hand-written SVG writer for the probes' plots: line plots (linear or log-scale y)
//! and heat maps, with axes, tick labels and legends as `<text>` (no fonts are embedded or
//! needed to write them; a viewer renders the text with its own).

use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 440.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 56.0;
const COLORS: [&str; 10] =
    ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/// `&`, `<`, `>`, `"` escaped for text and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A short tick label: plain decimals in [1e-3, 1e5), otherwise scientific.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.0e}");
        return s;
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// About `target` round tick values covering [lo, hi].
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let start = (lo / step).ceil() as i64;
    let end = (hi / step).floor() as i64;
    (start..=end).map(|i| i as f64 * step).collect()
}

/// One line of a plot.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
    /// Draw a dot at each point.
    pub markers: bool,
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
}

/// A line plot. With `log_y`, y is drawn on a log10 scale and points with y <= 0 or not
/// finite are left out (the line breaks there).
#[derive(Clone, Debug, Default)]
pub struct LinePlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_y: bool,
    pub series: Vec<Series>,
}

struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        H - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (H - TOP - BOTTOM)
    }
}

fn header(out: &mut String, title: &str) {
    let _ = writeln!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{W}" height="{H}" fill="white"/>
<text x="{:.1}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        escape(title)
    );
}

fn axis_labels(out: &mut String, x_label: &str, y_label: &str) {
    let cx = (LEFT + W - RIGHT) / 2.0;
    let cy = (TOP + H - BOTTOM) / 2.0;
    let _ = writeln!(out, r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, H - 14.0, escape(x_label));
    let _ = writeln!(
        out,
        r#"<text x="16" y="{cy:.1}" text-anchor="middle" transform="rotate(-90 16 {cy:.1})">{}</text>"#,
        escape(y_label)
    );
}

impl LinePlot {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        LinePlot { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), ..Default::default() }
    }
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    fn ty(&self, y: f64) -> Option<f64> {
        if self.log_y {
            (y > 0.0 && y.is_finite()).then(|| y.log10())
        } else {
            y.is_finite().then_some(y)
        }
    }

    pub fn to_svg(&self) -> String {
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| p.0.is_finite()).filter_map(|&(x, y)| self.ty(y).map(|y| (x, y))))
            .collect();
        let (mut x0, mut x1, mut y0, mut y1) = pts
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY), |(a, b, c, d), &(x, y)| {
                (a.min(x), b.max(x), c.min(y), d.max(y))
            });
        if pts.is_empty() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 <= x0 {
            (x0, x1) = (x0 - 0.5, x1 + 0.5);
        }
        if y1 <= y0 {
            let pad = if self.log_y { 0.5 } else { y0.abs().max(1.0) * 0.05 };
            (y0, y1) = (y0 - pad, y1 + pad);
        } else {
            let pad = (y1 - y0) * 0.05;
            (y0, y1) = (y0 - pad, y1 + pad);
        }
        let f = Frame { x0, x1, y0, y1 };
        let mut out = String::new();
        header(&mut out, &self.title);
        // Plot area and grid.
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
            W - LEFT - RIGHT,
            H - TOP - BOTTOM
        );
        for t in nice_ticks(x0, x1, 8) {
            x_tick(&mut out, f.px(t), t);
        }
        let yticks: Vec<(f64, String)> = if self.log_y {
            let (lo, hi) = (y0.ceil() as i64, y1.floor() as i64);
            if hi - lo >= 1 {
                let every = ((hi - lo) as usize / 8 + 1) as i64;
                (lo..=hi).filter(|e| (e - lo) % every == 0).map(|e| (e as f64, format!("1e{e}"))).collect()
            } else {
                nice_ticks(10f64.powf(y0), 10f64.powf(y1), 5)
                    .into_iter()
                    .filter(|v| *v > 0.0)
                    .map(|v| (v.log10(), fmt_num(v)))
                    .collect()
            }
        } else {
            nice_ticks(y0, y1, 6).into_iter().map(|v| (v, fmt_num(v))).collect()
        };
        for (t, label) in yticks {
            let y = f.py(t);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                escape(&label)
            );
        }
        axis_labels(&mut out, &self.x_label, &self.y_label);
        for (k, s) in self.series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let dash = if s.dashed { r#" stroke-dasharray="6 4""# } else { "" };
            // Segments of consecutive drawable points.
            let mut seg: Vec<(f64, f64)> = Vec::new();
            let mut segs = Vec::new();
            for &(x, y) in &s.points {
                match self.ty(y) {
                    Some(y) if x.is_finite() => seg.push((f.px(x), f.py(y))),
                    _ => segs.push(std::mem::take(&mut seg)),
                }
            }
            segs.push(seg);
            for seg in segs.iter().filter(|s| !s.is_empty()) {
                let p: Vec<String> = seg.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = writeln!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>"#,
                    p.join(" ")
                );
                if s.markers || seg.len() == 1 {
                    for (x, y) in seg {
                        let _ = writeln!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}"/>"#);
                    }
                }
            }
            let ly = TOP + 10.0 + 18.0 * k as f64;
            let lx = W - RIGHT + 12.0;
            let _ = writeln!(
                out,
                r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 22.0,
                lx + 28.0,
                ly + 4.0,
                escape(&s.name)
            );
        }
        out.push_str("</svg>\n");
        out
    }
}

/// A tick on the x axis at pixel `x`, labelled with the value `t`.
fn x_tick(out: &mut String, x: f64, t: f64) {
    let _ = writeln!(
        out,
        r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#444"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
        H - BOTTOM,
        H - BOTTOM + 5.0,
        H - BOTTOM + 18.0,
        fmt_num(t)
    );
}

/// A heat map of `values[row][col]`; row 0 is drawn at the top. With `log`, colours follow
/// log10 of the values (non-positive and non-finite cells are grey).
#[derive(Clone, Debug, Default)]
pub struct HeatMap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub row_labels: Vec<String>,
    /// The value of column 0 and the step between columns (tick labels).
    pub x_start: f64,
    pub x_step: f64,
    pub values: Vec<Vec<f64>>,
    pub log: bool,
}

/// A blue (low) to yellow (high) ramp, t in [0, 1].
fn ramp(t: f64) -> String {
    let stops =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let u = t - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let c = |p: f64, q: f64| (p + (q - p) * u).round() as u8;
    format!("#{:02x}{:02x}{:02x}", c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
}

impl HeatMap {
    pub fn to_svg(&self) -> String {
        let tv = |v: f64| {
            if self.log {
                (v > 0.0 && v.is_finite()).then(|| v.log10())
            } else {
                v.is_finite().then_some(v)
            }
        };
        let rows = self.values.len();
        let cols = self.values.iter().map(|r| r.len()).max().unwrap_or(0);
        let (lo, hi) = self
            .values
            .iter()
            .flatten()
            .filter_map(|&v| tv(v))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
        let mut out = String::new();
        header(&mut out, &self.title);
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let (cw, ch) = (pw / cols.max(1) as f64, ph / rows.max(1) as f64);
        for (r, row) in self.values.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let fill = tv(v).map(|t| ramp((t - lo) / (hi - lo))).unwrap_or_else(|| "#bbbbbb".into());
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{fill}" shape-rendering="crispEdges"/>"#,
                    LEFT + c as f64 * cw,
                    TOP + r as f64 * ch,
                    cw + 0.5,
                    ch + 0.5
                );
            }
        }
        let _ = writeln!(out, r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##);
        if cols > 0 {
            let xe = self.x_start + self.x_step * (cols - 1) as f64;
            let step = if self.x_step == 0.0 { 1.0 } else { self.x_step };
            for t in nice_ticks(self.x_start.min(xe), self.x_start.max(xe), 8) {
                let c = (t - self.x_start) / step;
                x_tick(&mut out, LEFT + (c + 0.5) * cw, t);
            }
        }
        let every = rows / 16 + 1;
        for (r, label) in self.row_labels.iter().enumerate().filter(|(r, _)| r % every == 0) {
            let y = TOP + (r as f64 + 0.5) * ch + 4.0;
            let _ =
                writeln!(out, r#"<text x="{:.1}" y="{y:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, escape(label));
        }
        axis_labels(&mut out, &self.x_label, &self.y_label);
        // Colour bar.
        let (bx, by, bh) = (W - RIGHT + 24.0, TOP, ph);
        for i in 0..50 {
            let t = 1.0 - i as f64 / 49.0;
            let _ = writeln!(
                out,
                r#"<rect x="{bx:.1}" y="{:.2}" width="16" height="{:.2}" fill="{}" shape-rendering="crispEdges"/>"#,
                by + i as f64 * bh / 50.0,
                bh / 50.0 + 0.5,
                ramp(t)
            );
        }
        let lab = |v: f64| if self.log { fmt_num(10f64.powf(v)) } else { fmt_num(v) };
        let _ = writeln!(out, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, bx + 22.0, by + 10.0, escape(&lab(hi)));
        let _ = writeln!(out, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, bx + 22.0, by + bh, escape(&lab(lo)));
        out.push_str("</svg>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 49.0, 8), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        let t: Vec<String> = nice_ticks(0.0, 1.0, 5).into_iter().map(fmt_num).collect();
        assert_eq!(t, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(3e-9), "3e-9");
    }
}
