//! TEMPORARY stand-in until the plotters-based module lands (branch `plot`).
pub use crate::probe::svg::LinePlot;
pub use crate::probe::svg::{escape, fmt_num, HeatMap};

pub struct Series;
#[allow(clippy::new_ret_no_self)]
impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> crate::probe::svg::Series {
        crate::probe::svg::Series::new(name, points)
    }
}
pub trait BandStub {
    fn band(self, b: Vec<(f64, f64, f64)>) -> Self;
}
impl BandStub for crate::probe::svg::Series {
    fn band(self, _b: Vec<(f64, f64, f64)>) -> Self {
        self
    }
}
pub trait LogXStub {
    fn log_x(self, on: bool) -> Self;
}
impl LogXStub for LinePlot {
    fn log_x(self, _on: bool) -> Self {
        self
    }
}
/// TEMPORARY: more of the plotters module's API, as no-ops, so that experiments written against
/// it compile until it lands.
pub trait SeriesStub {
    fn error_bars(self, e: Vec<(f64, f64, f64)>) -> Self;
    fn points_only(self) -> Self;
    fn color(self, i: usize) -> Self;
}
impl SeriesStub for crate::probe::svg::Series {
    fn error_bars(self, _e: Vec<(f64, f64, f64)>) -> Self {
        self
    }
    fn points_only(self) -> Self {
        self.markers()
    }
    fn color(self, _i: usize) -> Self {
        self
    }
}
pub trait YRangeStub {
    fn y_range(self, lo: f64, hi: f64) -> Self;
}
impl YRangeStub for LinePlot {
    fn y_range(self, _lo: f64, _hi: f64) -> Self {
        self
    }
}
