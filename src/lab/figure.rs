//! What an analysis shows: tables of formatted cells, and figures (SVG) with a caption.

use serde::Serialize;

use crate::plot::Series;
use crate::stats::{mean, min_max};

#[derive(Clone, Debug, Default, Serialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// A sentence under the table: what the numbers are (units, over which seeds).
    pub caption: String,
}

impl Table {
    pub fn new(title: impl Into<String>, columns: &[&str]) -> Table {
        Table { title: title.into(), columns: columns.iter().map(|c| c.to_string()).collect(), ..Default::default() }
    }

    /// A table whose columns are made, not fixed text: one per value of a grid.
    pub fn with_columns(title: impl Into<String>, columns: impl IntoIterator<Item = String>) -> Table {
        Table { title: title.into(), columns: columns.into_iter().collect(), ..Default::default() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "{}: a row of {} cells", self.title, cells.len());
        self.rows.push(cells);
    }

    pub fn caption(mut self, c: impl Into<String>) -> Table {
        self.caption = c.into();
        self
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Figure {
    pub title: String,
    pub caption: String,
    pub svg: String,
}

impl Figure {
    pub fn new(title: impl Into<String>, caption: impl Into<String>, svg: String) -> Figure {
        Figure { title: title.into(), caption: caption.into(), svg }
    }
}

/// A series of the mean over seeds at each x, in a band that spans the seeds (their min..max):
/// `cols` gives each x with its values, one per seed.
pub fn over_seeds(name: impl Into<String>, cols: impl IntoIterator<Item = (f64, Vec<f64>)>) -> Series {
    let (mut line, mut band) = (Vec::new(), Vec::new());
    for (x, v) in cols {
        let (lo, hi) = min_max(&v);
        line.push((x, mean(&v)));
        band.push((x, lo, hi));
    }
    Series::new(name, line).band(band)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_over_seeds_is_their_mean_in_a_band_of_their_range() {
        let s = over_seeds("loss", [(1.0, vec![1.0, f64::NAN, 3.0]), (2.0, vec![f64::NAN])]);
        assert_eq!((s.name.as_str(), s.points[0], s.band[0]), ("loss", (1.0, 2.0), (1.0, 1.0, 3.0)));
        assert!(s.points[1].1.is_nan(), "no seed measured it: no point");
    }
}
