//! Renders results for people and for scripts. One renderer per format
//! behind one trait; each returns bytes so every format can be snapshot
//! tested and written atomically, and JSON also writes a report as it
//! renders it ([`Renderer::render_to`]). `kvaudit events` streams
//! ([`event_stream`]).

mod csv;
pub mod escape;
pub mod event_stream;
pub mod fit;
pub mod grid;
pub mod grids;
mod html;
mod json;
mod jsonl;
mod markdown;
mod ocsf;
pub mod parquet;
mod table;
pub mod words;

use crate::analyze::callers::CallerRow;
use crate::analyze::explain::Denial;
use crate::analyze::report::Report;
use crate::error::Result;

pub use self::csv::Csv;
pub use html::Html;
pub use json::Json;
pub use jsonl::Jsonl;
pub use markdown::Markdown;
pub use ocsf::{Ocsf, OcsfVersion};
pub use table::{findings_line, summary_line, Table};

/// A view kvaudit can render.
pub enum View<'a> {
    Callers(&'a [CallerRow]),
    Denials(&'a [Denial]),
    Report(&'a Report),
    /// Rows of `access`, `rights` and `plan-rbac` (see [`grid::Grid`]).
    Grid(&'a grid::Grid),
}

/// One output format.
pub trait Renderer {
    fn render(&self, view: &View) -> Result<Vec<u8>>;

    /// Writes the view to `out`. A format that can write as it goes
    /// overrides it, so that a large report is never held whole as bytes.
    /// An error of rendering comes back inside the I/O error (see
    /// [`crate::output::Target::write_with`]).
    fn render_to(&self, view: &View, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        write_rendered(self, view, out)
    }
}

/// [`Renderer::render_to`] for a renderer that renders to bytes first.
pub fn write_rendered<R: Renderer + ?Sized>(
    r: &R,
    view: &View,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let bytes = r.render(view).map_err(std::io::Error::other)?;
    out.write_all(&bytes)
}

/// The formats views render to (each command offers the ones that fit it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
    Tsv,
    Markdown,
    Html,
    /// OCSF Detection Findings, a JSON array.
    Ocsf,
    /// OCSF Detection Findings, one per line.
    OcsfJsonl,
}

/// How the terminal views are shown (other formats ignore it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Human {
    pub color: bool,
    /// Columns available; None: not a terminal, nothing cut or wrapped.
    pub width: Option<usize>,
    /// Every column, not only the compact ones.
    pub wide: bool,
}

/// The renderer of `format`.
pub fn renderer_for(format: Format, human: Human) -> Box<dyn Renderer> {
    match format {
        Format::Table => Box::new(Table {
            color: human.color,
            width: human.width,
            wide: human.wide,
        }),
        Format::Json => Box::new(Json),
        Format::Jsonl => Box::new(Jsonl),
        Format::Csv => Box::new(Csv { tabs: false }),
        Format::Tsv => Box::new(Csv { tabs: true }),
        Format::Markdown => Box::new(Markdown),
        Format::Html => Box::new(Html),
        Format::Ocsf => Box::new(Ocsf {
            lines: false,
            version: OcsfVersion::default(),
        }),
        Format::OcsfJsonl => Box::new(Ocsf {
            lines: true,
            version: OcsfVersion::default(),
        }),
    }
}
