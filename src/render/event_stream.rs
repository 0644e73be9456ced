//! `kvaudit events`: canonical events written as they are read (JSON Lines,
//! CSV or TSV), so the whole input is never held.

use crate::error::{Error, Result};
use crate::event::{Event, COLUMNS};
use crate::pipeline::Sink;
use std::io::Write;

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    Jsonl,
    /// One JSON array, written as events arrive.
    Json,
    /// For people: one line per event (time, status, operation, vault,
    /// object, caller), cut to `width` columns when given.
    Table {
        width: Option<usize>,
        color: bool,
    },
    /// With `terminal` (written to one), control characters in values are
    /// shown as escapes rather than sent to it.
    Csv {
        terminal: bool,
    },
    /// Tab-separated; tabs and line breaks in values become spaces.
    Tsv {
        terminal: bool,
    },
}

/// Writes events as they arrive. The first write error stops the reading
/// and is returned.
pub struct EventWriter<'w> {
    out: Out<'w>,
}

enum Out<'w> {
    Jsonl(&'w mut dyn Write),
    /// The writer, and whether an element was written.
    Json(&'w mut dyn Write, bool),
    /// The writer and the widths of the columns.
    Table(&'w mut dyn Write, [usize; 6], bool),
    /// The writer, and whether it writes to a terminal.
    Csv(Box<csv::Writer<&'w mut dyn Write>>, bool),
    Tsv(Box<csv::Writer<&'w mut dyn Write>>, bool),
}

impl<'w> EventWriter<'w> {
    /// A writer to `w`; CSV starts with the header.
    pub fn new(w: &'w mut dyn Write, format: EventFormat) -> std::io::Result<Self> {
        let out = match format {
            EventFormat::Jsonl => Out::Jsonl(w),
            EventFormat::Json => {
                w.write_all(b"[")?;
                Out::Json(w, false)
            }
            EventFormat::Table { width, color } => {
                let widths = table_widths(width);
                let header = [
                    "time (UTC)",
                    "status",
                    "operation",
                    "vault",
                    "object",
                    "caller",
                ];
                let line = table_line(&header.map(String::from), &widths);
                let line = super::fit::paint(line.trim_end(), super::fit::Style::Bold, color);
                w.write_all(format!("{line}\n").as_bytes())?;
                Out::Table(w, widths, color)
            }
            EventFormat::Csv { terminal } => {
                let mut cw = csv::Writer::from_writer(w);
                cw.write_record(COLUMNS)?;
                Out::Csv(Box::new(cw), terminal)
            }
            EventFormat::Tsv { terminal } => {
                let mut cw = csv::WriterBuilder::new()
                    .delimiter(b'\t')
                    .quote_style(csv::QuoteStyle::Never)
                    .from_writer(w);
                cw.write_record(COLUMNS)?;
                Out::Tsv(Box::new(cw), terminal)
            }
        };
        Ok(EventWriter { out })
    }

    /// Flushes what is buffered.
    pub fn finish(self) -> std::io::Result<()> {
        match self.out {
            Out::Jsonl(w) | Out::Table(w, _, _) => w.flush(),
            Out::Json(w, any) => {
                w.write_all(if any { b"\n]\n" } else { b"]\n" })?;
                w.flush()
            }
            Out::Csv(mut cw, _) | Out::Tsv(mut cw, _) => cw.flush(),
        }
    }
}

impl Sink for EventWriter<'_> {
    /// A write error (a closed pipe, a full disk) stops the reading.
    fn event(&mut self, e: Event) -> Result<()> {
        let r = match &mut self.out {
            Out::Jsonl(w) => serde_json::to_writer(&mut **w, &e)
                .map_err(std::io::Error::from)
                .and_then(|()| w.write_all(b"\n")),
            Out::Table(w, widths, color) => {
                let cells = [
                    super::fit::human_time(&crate::event::format_time(&e.time))
                        .trim_end_matches(" UTC")
                        .to_string(),
                    e.status.map_or_else(|| "-".into(), |s| s.to_string()),
                    e.operation.to_string(),
                    e.vault.as_deref().unwrap_or("").to_string(),
                    e.object_name.as_deref().unwrap_or("").to_string(),
                    super::words::who(
                        None,
                        e.caller_upn.as_deref(),
                        e.caller_appid.as_deref(),
                        e.caller_oid.as_deref(),
                    ),
                ];
                let line = table_line(&cells, widths);
                let style = if e.status == Some(403) {
                    super::fit::Style::Red
                } else {
                    super::fit::Style::Plain
                };
                let line = super::fit::paint(line.trim_end(), style, *color);
                w.write_all(format!("{line}\n").as_bytes())
            }
            Out::Json(w, any) => w
                .write_all(if *any { b",\n" } else { b"\n" })
                .and_then(|()| serde_json::to_writer(&mut **w, &e).map_err(std::io::Error::from))
                .map(|()| *any = true),
            Out::Csv(cw, terminal) => {
                let cells = e.csv_cells();
                if *terminal {
                    cw.write_record(cells.iter().map(|c| super::escape::printable(c)))
                } else {
                    cw.write_record(cells)
                }
                .map_err(crate::output::csv_io)
            }
            Out::Tsv(cw, terminal) => cw
                .write_record(e.csv_cells().into_iter().map(|c| {
                    let c = c.replace(['\t', '\n', '\r'], " ");
                    if *terminal {
                        super::escape::printable(&c)
                    } else {
                        c
                    }
                }))
                .map_err(crate::output::csv_io),
        };
        r.map_err(|err| Error::write("<output>", err))
    }
}

/// Column widths of the events table: time, status and operation fixed,
/// the rest shared out of `width` (generous without one).
fn table_widths(width: Option<usize>) -> [usize; 6] {
    let fixed = [19, 6, 16];
    let rest = width
        .map_or(120, |w| w.saturating_sub(19 + 6 + 16 + 10))
        .max(24);
    let vault = (rest * 3 / 10).max(8);
    let object = (rest * 3 / 10).max(8);
    let caller = rest.saturating_sub(vault + object).max(8);
    [fixed[0], fixed[1], fixed[2], vault, object, caller]
}

/// One line of the events table: each value printable and cut to its
/// column.
fn table_line(cells: &[String; 6], widths: &[usize; 6]) -> String {
    let mut line = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        let t = super::fit::cut(&super::escape::printable(c).replace(['\n', '\r'], " "), *w);
        line.push_str(&t);
        if i < 5 {
            line.push_str(&" ".repeat(w.saturating_sub(super::fit::width_of(&t)) + 2));
        }
    }
    let mut line = line.trim_end().to_string();
    line.push('\n');
    line
}
