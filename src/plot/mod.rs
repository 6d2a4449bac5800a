//! Plots as SVG: line plots (linear or log axes, dashed lines, markers, shaded bands, error
//! bars), heat maps (with a colour bar, categorical or numeric axes, overlaid curves and cell
//! annotations) and grouped bar plots. Drawn with `plotters` through its SVG backend only: text
//! is written as `<text>` and laid out by the viewer, so no font files are read or needed.
//!
//! This module sits below everything that draws (`probe`, `train`, reports) and knows nothing
//! of them. Every plot has the same canvas (720 x 440, with a `viewBox`, so it also scales when
//! inlined into HTML), fonts and palette, and the same input gives a byte-identical SVG.

mod axis;
mod bars;
mod heatmap;
mod legend;
mod line;
mod style;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use axis::nice_ticks;
pub use bars::{BarGroup, BarPlot};
pub use heatmap::HeatMap;
pub use line::{LinePlot, Series};

use axis::Axis;
use style::{font, text_width, wrap, AXIS, GRID, H, LABEL_PX, MINOR_GRID, TICK_PX, TITLE_PX, W};

/// `&`, `<`, `>`, `"` escaped for text and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A short number for titles and labels: plain decimals in [1e-3, 1e5), otherwise scientific.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.0e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;
type Coord = Cartesian2d<Axis, Axis>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Coord>;

/// The SVG of whatever `draw` puts on a white canvas.
fn render(draw: impl FnOnce(&Area) -> Drawn) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let drawn = root.fill(&style::WHITE).and_then(|_| draw(&root)).and_then(|_| root.present());
        // Drawing into a String fails only on a bug here (the naive font layout cannot fail).
        debug_assert!(drawn.is_ok(), "{drawn:?}");
    }
    finish(svg)
}

/// Tidies what plotters writes: font sizes rounded (it writes size / 1.24 to 16 digits), every
/// non-ASCII character as a character reference (so the SVG reads the same in a page of any
/// encoding), axis, grid and box lines and rectangles crisp (plotters puts them on whole
/// pixels, where a 1 px line antialiases into a grey 2 px smear and cells show seams), and the
/// root scaled down to its container when inlined into HTML.
fn finish(svg: String) -> String {
    let svg = crisp(&svg);
    let mut out = String::with_capacity(svg.len() + 64);
    let mut rest = svg.as_str();
    const FS: &str = "font-size=\"";
    while let Some(p) = rest.find(FS) {
        out.push_str(&rest[..p + FS.len()]);
        rest = &rest[p + FS.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        match rest[..end].parse::<f64>() {
            Ok(v) => out.push_str(&format!("{}", (v * 10.0).round() / 10.0)),
            Err(_) => out.push_str(&rest[..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    let mut ascii = String::with_capacity(out.len());
    for c in out.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            ascii.push_str(&format!("&#{};", c as u32));
        }
    }
    ascii.replacen("<svg ", "<svg style=\"max-width:100%;height:auto\" ", 1)
}

fn crisp(svg: &str) -> String {
    let axis = format!("stroke=\"#{:02X}{:02X}{:02X}\"", AXIS.0, AXIS.1, AXIS.2);
    let mut out = String::with_capacity(svg.len() + svg.len() / 8);
    for (i, tag) in svg.split('<').enumerate() {
        if i > 0 {
            out.push('<');
        }
        let end = tag.find('>').unwrap_or(tag.len());
        let sharp = tag.starts_with("line ")
            || tag.starts_with("rect ")
            || (tag.starts_with("polyline ") && tag[..end].contains(&axis));
        if sharp {
            let name = tag.find(' ').unwrap_or(0);
            out.push_str(&tag[..name]);
            out.push_str(" shape-rendering=\"crispEdges\"");
            out.push_str(&tag[name..]);
        } else {
            out.push_str(tag);
        }
    }
    out
}

/// A title wrapped to the canvas (two lines at most before the font shrinks).
struct Title {
    lines: Vec<String>,
    px: f64,
}

impl Title {
    fn new(text: &str) -> Title {
        if text.is_empty() {
            return Title { lines: Vec::new(), px: TITLE_PX };
        }
        let max = W as f64 - 40.0;
        let mut px = TITLE_PX;
        loop {
            let lines = wrap(text, px, max);
            if lines.len() <= 2 || px <= 11.0 {
                return Title { lines, px };
            }
            px -= 1.0;
        }
    }

    /// The height the title takes from the top of the canvas, with the gap below it.
    fn height(&self) -> u32 {
        if self.lines.is_empty() {
            14
        } else {
            (10.0 + self.lines.len() as f64 * self.px * 1.3 + 10.0).round() as u32
        }
    }

    /// Centred over [x0, x1] if every line fits there, else over the canvas.
    fn draw(&self, area: &Area, x0: f64, x1: f64) -> Drawn {
        let fits = self.lines.iter().all(|l| text_width(l, self.px) <= x1 - x0);
        let cx = if fits { (x0 + x1) / 2.0 } else { W as f64 / 2.0 };
        for (i, line) in self.lines.iter().enumerate() {
            let y = 10.0 + i as f64 * self.px * 1.3;
            let style = font(self.px).pos(Pos::new(HPos::Center, VPos::Top));
            area.draw(&Text::new(line.clone(), (cx.round() as i32, y.round() as i32), style))?;
        }
        Ok(())
    }
}

/// Where the plotting rectangle sits on the canvas.
#[derive(Clone, Copy, Debug)]
struct Frame {
    top: u32,
    /// Left of the canvas to the y axis: room for tick labels and the rotated axis label.
    left: u32,
    /// The x axis to the bottom of the canvas.
    bottom: u32,
    /// The plot's right edge to the right of the canvas (legend and colour bar live there).
    right: u32,
}

const MARGIN: u32 = 8;

impl Frame {
    /// The frame for tick labels as wide as `y_ticks_px`, with or without axis labels.
    fn new(top: u32, y_ticks_px: f64, has_x_label: bool, has_y_label: bool, right: u32) -> Frame {
        let y_label = if has_y_label { LABEL_PX * 1.25 + 6.0 } else { 0.0 };
        let left = MARGIN as f64 + y_label + y_ticks_px + 12.0;
        let x_label = if has_x_label { LABEL_PX * 1.25 + 6.0 } else { 0.0 };
        let bottom = MARGIN as f64 + 8.0 + TICK_PX * 1.25 + x_label + 4.0;
        Frame { top, left: left.ceil() as u32, bottom: bottom.ceil() as u32, right }
    }
    fn width(&self) -> f64 {
        W as f64 - (self.left + self.right) as f64
    }
    fn height(&self) -> f64 {
        H as f64 - (self.top + self.bottom) as f64
    }
    /// The plot's vertical length available before the bottom label area, before the frame
    /// is known (tick labels of the y axis are chosen from it).
    fn height_for(top: u32, has_x_label: bool) -> f64 {
        Frame::new(top, 0.0, has_x_label, false, 0).height()
    }
}

/// A chart over `x` and `y` in `frame`, with grid, ticks, tick labels, axis labels and a box.
fn chart<'a, 'b>(
    area: &'a Area<'b>,
    frame: Frame,
    x: &Axis,
    y: &Axis,
    x_label: &str,
    y_label: &str,
    (x_grid, y_grid): (bool, bool),
) -> Result<Chart<'a, 'b>, DrawingAreaErrorKind<std::io::Error>> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(frame.top)
        .margin_bottom(MARGIN)
        .margin_left(MARGIN)
        .margin_right(frame.right)
        .x_label_area_size(frame.bottom - MARGIN)
        .y_label_area_size(frame.left - MARGIN)
        .build_cartesian_2d(x.clone(), y.clone())?;
    let (xf, yf) = (|v: &f64| x.label(*v), |v: &f64| y.label(*v));
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(GRID)
        .light_line_style(MINOR_GRID)
        .axis_style(AXIS)
        .label_style(font(TICK_PX))
        .axis_desc_style(font(LABEL_PX))
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .set_all_tick_mark_size(4);
    if !x_grid {
        mesh.disable_x_mesh();
    }
    if !y_grid {
        mesh.disable_y_mesh();
    }
    if !x_label.is_empty() {
        mesh.x_desc(x_label);
    }
    if !y_label.is_empty() {
        mesh.y_desc(y_label);
    }
    mesh.draw()?;
    Ok(chart)
}

/// The top and right sides of the box around the plotting rectangle (plotters' axes are the
/// other two), drawn last so data never covers them.
fn draw_box(chart: &Chart, x: &Axis, y: &Axis) -> Drawn {
    let edges = vec![(x.lo, y.hi), (x.hi, y.hi), (x.hi, y.lo)];
    chart.plotting_area().draw(&PathElement::new(edges, AXIS.stroke_width(1)))
}

#[cfg(test)]
pub(crate) mod check {
    //! Checks shared by the plot tests.

    /// Panics unless `svg` is one `<svg>` element with a viewBox and width/height, with
    /// matched tags, known entities and only ASCII.
    pub fn well_formed(svg: &str) {
        assert!(svg.is_ascii(), "non-ASCII output");
        let mut stack: Vec<String> = Vec::new();
        let mut roots = 0;
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            assert!(!stack.is_empty() || text.trim().is_empty(), "text outside the root: {text:?}");
            assert!(!text.contains('>'), "stray > in {text:?}");
            let mut t = text;
            while let Some(p) = t.find('&') {
                let end = t[p..].find(';').expect("bare &");
                let ent = &t[p + 1..p + end];
                assert!(["amp", "lt", "gt", "quot", "apos"].contains(&ent) || ent.starts_with('#'), "&{ent};");
                t = &t[p + end..];
            }
            let close = rest[open..].find('>').expect("unclosed tag") + open;
            let tag = &rest[open + 1..close];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
            } else {
                let name: String = tag.chars().take_while(|c| !c.is_whitespace() && *c != '/').collect();
                assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
                if stack.is_empty() {
                    roots += 1;
                    assert_eq!(name, "svg");
                    for attr in ["viewBox=\"0 0 720 440\"", "width=\"720\"", "height=\"440\"", "xmlns="] {
                        assert!(tag.contains(attr), "root lacks {attr}: {tag}");
                    }
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
        }
        assert!(rest.trim().is_empty() && stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(roots, 1);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "non-finite coordinates");
    }

    /// The text content of every `<text>` element, in document order.
    pub fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_num_is_short() {
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(3e-9), "3e-9");
        assert_eq!(fmt_num(-0.00001), "-1e-5");
        assert_eq!(fmt_num(1.5), "1.5");
    }

    #[test]
    fn finish_rounds_font_sizes_and_escapes_non_ascii() {
        let s = finish(
            "<svg width=\"1\"><text font-size=\"12.000000001\">10\u{207b}\u{b3}</text><line x=\"1\"/></svg>".into(),
        );
        assert_eq!(
            s,
            "<svg style=\"max-width:100%;height:auto\" width=\"1\"><text font-size=\"12\">10&#8315;&#179;</text>\
             <line shape-rendering=\"crispEdges\" x=\"1\"/></svg>"
        );
    }

    #[test]
    fn long_titles_wrap() {
        let t = Title::new(&"word ".repeat(60));
        assert!(t.lines.len() <= 2 || t.px <= 11.0);
        assert!(Title::new("short").lines.len() == 1);
    }
}
