//! TEMPORARY stand-in until the plotters-based module lands (branch `plot`).
pub use crate::probe::svg::LinePlot;
pub use crate::probe::svg::{escape, fmt_num};

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
/// TEMPORARY stand-in for the plotters heat map: the fields the experiments set; `overlay`,
/// `cell_text` and `col_labels` are not drawn here.
#[derive(Clone, Debug, Default)]
pub struct HeatMap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub row_labels: Vec<String>,
    pub x_start: f64,
    pub x_step: f64,
    pub values: Vec<Vec<f64>>,
    pub log: bool,
    pub col_labels: Option<Vec<String>>,
    pub overlay: Vec<crate::probe::svg::Series>,
    pub cell_text: Option<Vec<Vec<String>>>,
    pub y_start: f64,
    pub y_step: f64,
    pub value_label: String,
}
impl HeatMap {
    pub fn to_svg(&self) -> String {
        crate::probe::svg::HeatMap {
            title: self.title.clone(),
            x_label: self.x_label.clone(),
            y_label: self.y_label.clone(),
            row_labels: self.row_labels.clone(),
            x_start: self.x_start,
            x_step: self.x_step,
            values: self.values.clone(),
            log: self.log,
        }
        .to_svg()
    }
}
pub trait ErrorBarsStub {
    fn error_bars(self, b: Vec<(f64, f64, f64)>) -> Self;
}
impl ErrorBarsStub for crate::probe::svg::Series {
    fn error_bars(self, _b: Vec<(f64, f64, f64)>) -> Self {
        self
    }
}
pub trait PointsOnlyStub {
    fn points_only(self) -> Self;
}
impl PointsOnlyStub for crate::probe::svg::Series {
    fn points_only(self) -> Self {
        self.markers()
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
