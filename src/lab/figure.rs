//! What an analysis shows: tables of formatted cells, and figures (SVG) with a caption.

use serde::Serialize;

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
