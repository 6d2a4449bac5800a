//! The legend, drawn outside the plotting rectangle (to its right) so it never covers data.
//! Each entry's sample is drawn the way its data is: line style, markers, band, error bars.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{font, text_width, wrap, AXIS, BAND_ALPHA, LEGEND_PX};
use super::{Area, Drawn};

/// How one series is drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look {
    pub color: RGBColor,
    /// A connecting line (false: markers only).
    pub line: bool,
    pub dashed: bool,
    pub markers: bool,
    pub band: bool,
    pub error_bars: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Swatch {
    Series(Look),
    /// A filled square: a bar's colour or a heat map's "no data" grey.
    Fill(RGBColor),
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub label: String,
    pub swatch: Swatch,
}

const SAMPLE: i32 = 28;
const GAP: i32 = 6;
const PAD: i32 = 10;
/// Names longer than this wrap onto more lines.
const MAX_TEXT: f64 = 210.0;
const LINE: f64 = LEGEND_PX * 1.25;
const ENTRY_GAP: f64 = 5.0;

fn lines(e: &Entry) -> Vec<String> {
    wrap(&e.label, LEGEND_PX, MAX_TEXT)
}

/// The width the legend needs right of the plot (0 for no entries).
pub(crate) fn width(entries: &[Entry]) -> u32 {
    let text =
        entries.iter().flat_map(lines).map(|l| text_width(&l, LEGEND_PX)).fold(0.0, f64::max).min(MAX_TEXT + 40.0);
    if entries.is_empty() {
        0
    } else {
        (PAD as f64 + SAMPLE as f64 + GAP as f64 + text + PAD as f64).ceil() as u32
    }
}

/// The height the entries take.
pub(crate) fn height(entries: &[Entry]) -> f64 {
    entries.iter().map(|e| lines(e).len() as f64 * LINE + ENTRY_GAP).sum()
}

/// Draws the entries top-down from (x, y) in canvas pixels.
pub(crate) fn draw(area: &Area, entries: &[Entry], x: i32, y: i32) -> Drawn {
    let mut top = y as f64;
    let x0 = x + PAD;
    for e in entries {
        let cy = (top + LINE / 2.0).round() as i32;
        sample(area, &e.swatch, x0, cy)?;
        for (i, l) in lines(e).iter().enumerate() {
            let ly = (top + LINE / 2.0 + i as f64 * LINE).round() as i32;
            let style = font(LEGEND_PX).pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(l.clone(), (x0 + SAMPLE + GAP, ly), style))?;
        }
        top += lines(e).len() as f64 * LINE + ENTRY_GAP;
    }
    Ok(())
}

fn sample(area: &Area, s: &Swatch, x: i32, y: i32) -> Drawn {
    match s {
        Swatch::Fill(c) => {
            area.draw(&Rectangle::new([(x + 7, y - 6), (x + 21, y + 6)], c.filled()))?;
            area.draw(&Rectangle::new([(x + 7, y - 6), (x + 21, y + 6)], AXIS.mix(0.6).stroke_width(1)))
        }
        Swatch::Series(look) => {
            let c = look.color;
            if look.band {
                area.draw(&Rectangle::new([(x, y - 6), (x + SAMPLE, y + 6)], c.mix(BAND_ALPHA).filled()))?;
            }
            if look.line {
                let pts = vec![(x, y), (x + SAMPLE, y)];
                if look.dashed {
                    area.draw(&DashedPathElement::new(pts, 6, 4, c.stroke_width(2)))?;
                } else {
                    area.draw(&PathElement::new(pts, c.stroke_width(2)))?;
                }
            }
            let mid = x + SAMPLE / 2;
            if look.error_bars {
                let st = c.stroke_width(1);
                area.draw(&PathElement::new(vec![(mid, y - 7), (mid, y + 7)], st))?;
                area.draw(&PathElement::new(vec![(mid - 3, y - 7), (mid + 3, y - 7)], st))?;
                area.draw(&PathElement::new(vec![(mid - 3, y + 7), (mid + 3, y + 7)], st))?;
            }
            if look.markers || !look.line {
                area.draw(&Circle::new((mid, y), super::line::MARKER_R, c.filled()))?;
            }
            Ok(())
        }
    }
}
