//! A view every format can show without knowing the command behind it:
//! records for JSON and JSON Lines, flat cells for CSV, TSV, Markdown and
//! the terminal, and commands printed whole after the terminal table (so a
//! fix is never cut to fit). `access`, `rights` and `plan-rbac` build one.

use super::fit::Column;

/// A command's rows, ready for any format.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    /// The heading of the terminal and Markdown views.
    pub title: String,
    /// The columns of the flat views.
    pub columns: Vec<GridColumn>,
    /// One per row, a cell per column.
    pub rows: Vec<Vec<String>>,
    /// One per row: the JSON object of the public contract, serialised
    /// (compact; far smaller than a `serde_json::Value` tree).
    pub records: Vec<String>,
    /// Commands to print whole after the terminal and Markdown tables,
    /// each with a line saying what it does.
    pub commands: Vec<(String, String)>,
    /// Lines after everything else in the terminal and Markdown views.
    pub footer: Vec<String>,
}

/// One column of a [`Grid`].
#[derive(Debug, Clone, Copy)]
pub struct GridColumn {
    /// How the terminal table fits it.
    pub fit: Column,
    /// Shown in the terminal table (CSV, TSV and Markdown show every
    /// column).
    pub human: bool,
    /// Shown in the terminal table only when it is at least this wide
    /// (0: always); a pipe or a file shows it.
    pub from_width: usize,
    /// In CSV and TSV, under `name` (the JSON field's name).
    pub data: bool,
    pub name: &'static str,
}

impl GridColumn {
    pub const fn text(header: &'static str) -> Self {
        GridColumn {
            fit: Column::text(header),
            human: true,
            from_width: 0,
            data: true,
            name: header,
        }
    }
    pub const fn fixed(header: &'static str) -> Self {
        GridColumn {
            fit: Column::fixed(header),
            human: true,
            from_width: 0,
            data: true,
            name: header,
        }
    }
    pub const fn number(header: &'static str) -> Self {
        GridColumn {
            fit: Column::number(header),
            human: true,
            from_width: 0,
            data: true,
            name: header,
        }
    }
    /// The same column, only in CSV, TSV and Markdown.
    pub const fn data_only(self) -> Self {
        GridColumn {
            human: false,
            ..self
        }
    }
    /// The same column, only in the terminal and Markdown (a display form
    /// of data CSV carries in other columns).
    pub const fn human_only(self) -> Self {
        GridColumn {
            data: false,
            ..self
        }
    }
    /// The same column, called `name` in CSV and TSV.
    pub const fn named(self, name: &'static str) -> Self {
        GridColumn { name, ..self }
    }
    /// The same column, left out of terminals narrower than `width`.
    pub const fn from_width(self, width: usize) -> Self {
        GridColumn {
            from_width: width,
            ..self
        }
    }
    /// The same column, never narrower than `min` in the terminal.
    pub const fn at_least(self, min: usize) -> Self {
        GridColumn {
            fit: self.fit.at_least(min),
            ..self
        }
    }
}

impl Grid {
    /// The records as one pretty JSON array, byte for byte what
    /// `serde_json::to_vec_pretty` gives for the rows, built one row at a
    /// time.
    pub fn pretty_json(&self) -> serde_json::Result<Vec<u8>> {
        if self.records.is_empty() {
            return Ok(b"[]".to_vec());
        }
        let mut out = b"[\n".to_vec();
        for (i, r) in self.records.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(r)?;
            let pretty = serde_json::to_string_pretty(&v)?;
            for (j, line) in pretty.lines().enumerate() {
                if j > 0 {
                    out.push(b'\n');
                }
                out.extend_from_slice(b"  ");
                out.extend_from_slice(line.as_bytes());
            }
            out.extend_from_slice(if i + 1 < self.records.len() {
                b",\n"
            } else {
                b"\n"
            });
        }
        out.push(b']');
        Ok(out)
    }
}
