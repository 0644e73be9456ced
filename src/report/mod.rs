//! Renders results for people and for scripts. One renderer per format
//! behind one trait; each returns bytes so every format can be snapshot
//! tested and written atomically.

mod csv_out;
mod html;
mod json;
mod markdown;
mod table;

use crate::callers::CallerRow;
use crate::error::Result;
use crate::explain::Finding;

pub use csv_out::Csv;
pub use html::Html;
pub use json::Json;
pub use markdown::Markdown;
pub use table::Table;

/// A view kvaudit can render.
pub enum View<'a> {
    Callers(&'a [CallerRow]),
    Findings(&'a [Finding]),
    Report(&'a crate::audit::Report),
}

/// One output format.
pub trait Renderer {
    fn render(&self, view: &View) -> Result<Vec<u8>>;
}
