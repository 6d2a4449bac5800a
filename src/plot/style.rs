//! The look shared by every plot: canvas, fonts, palette, and a text-width estimate.

use plotters::style::{IntoFont, RGBColor, TextStyle};

/// Every plot is drawn on this canvas, so plots placed side by side in a report line up.
pub(crate) const W: u32 = 720;
pub(crate) const H: u32 = 440;

pub(crate) const FONT: &str = "sans-serif";
pub(crate) const TITLE_PX: f64 = 15.0;
pub(crate) const LABEL_PX: f64 = 13.0;
pub(crate) const TICK_PX: f64 = 12.0;
pub(crate) const LEGEND_PX: f64 = 12.0;

pub(crate) const TEXT: RGBColor = RGBColor(34, 34, 34);
pub(crate) const AXIS: RGBColor = RGBColor(68, 68, 68);
pub(crate) const GRID: RGBColor = RGBColor(221, 221, 221);
pub(crate) const MINOR_GRID: RGBColor = RGBColor(241, 241, 241);
/// Heat-map cells without a value: a grey that the viridis ramp never produces.
pub(crate) const NO_DATA: RGBColor = RGBColor(189, 189, 189);
pub(crate) const WHITE: RGBColor = RGBColor(255, 255, 255);

/// Opacity of a series' shaded band, so the line drawn over it stays the darker shade.
pub(crate) const BAND_ALPHA: f64 = 0.2;

/// matplotlib's tab10: ten colours chosen to stay apart from one another.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th palette colour (cycling).
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A text style whose SVG `font-size` is `px` (plotters writes `font-size` as its size / 1.24).
pub(crate) fn font(px: f64) -> TextStyle<'static> {
    (FONT, px * 1.24).into_font().color(&TEXT)
}

/// An estimate of the rendered width in pixels of `s` at `px` in a common sans-serif font.
/// SVG text is laid out by the viewer, so the layout can only be planned from such an estimate;
/// it errs wide so that labels keep apart.
pub(crate) fn text_width(s: &str, px: f64) -> f64 {
    let em: f64 = s
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '|' | '!' | '.' | ',' | ':' | ';' | '\'' => 0.3,
            'f' | 't' | 'r' | '(' | ')' | '[' | ']' | ' ' | '-' | '/' => 0.38,
            'm' | 'w' | 'M' | 'W' => 0.88,
            'A'..='Z' => 0.7,
            '\u{2070}'..='\u{209f}' | '\u{00b2}' | '\u{00b3}' | '\u{00b9}' => 0.4,
            _ => 0.55,
        })
        .sum();
    em * px
}

/// `s` broken at spaces into lines no wider than `max_px` (a single longer word stays whole).
pub(crate) fn wrap(s: &str, px: f64, max_px: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if !line.is_empty() && text_width(&candidate, px) > max_px {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Dark text on light cells, white text on dark ones.
pub(crate) fn text_on(fill: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = fill;
    if 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64 > 140.0 {
        TEXT
    } else {
        WHITE
    }
}

/// Viridis (low: dark blue, high: yellow), `t` in [0, 1]; readable in grey and by most
/// colour-blind readers.
pub(crate) fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let u = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let c = |p: f64, q: f64| (p + (q - p) * u).round() as u8;
    RGBColor(c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_only() {
        assert_eq!(wrap("a b c", 12.0, 1000.0), ["a b c"]);
        assert_eq!(wrap("alpha beta gamma", 12.0, 50.0), ["alpha", "beta", "gamma"]);
        assert_eq!(wrap("unbreakable_long_word", 12.0, 10.0), ["unbreakable_long_word"]);
        assert_eq!(wrap("", 12.0, 10.0), [""]);
    }

    #[test]
    fn ramp_ends_and_contrast() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        assert_eq!(text_on(viridis(0.0)), WHITE);
        assert_eq!(text_on(viridis(1.0)), TEXT);
    }
}
