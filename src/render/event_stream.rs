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
    Csv,
    /// Tab-separated; tabs and line breaks in values become spaces.
    Tsv,
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
    Csv(Box<csv::Writer<&'w mut dyn Write>>),
    Tsv(Box<csv::Writer<&'w mut dyn Write>>),
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
            EventFormat::Csv => {
                let mut cw = csv::Writer::from_writer(w);
                cw.write_record(COLUMNS)?;
                Out::Csv(Box::new(cw))
            }
            EventFormat::Tsv => {
                let mut cw = csv::WriterBuilder::new()
                    .delimiter(b'\t')
                    .quote_style(csv::QuoteStyle::Never)
                    .from_writer(w);
                cw.write_record(COLUMNS)?;
                Out::Tsv(Box::new(cw))
            }
        };
        Ok(EventWriter { out })
    }

    /// Flushes what is buffered.
    pub fn finish(self) -> std::io::Result<()> {
        match self.out {
            Out::Jsonl(w) => w.flush(),
            Out::Json(w, any) => {
                w.write_all(if any { b"\n]\n" } else { b"]\n" })?;
                w.flush()
            }
            Out::Csv(mut cw) | Out::Tsv(mut cw) => cw.flush(),
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
            Out::Json(w, any) => w
                .write_all(if *any { b",\n" } else { b"\n" })
                .and_then(|()| serde_json::to_writer(&mut **w, &e).map_err(std::io::Error::from))
                .map(|()| *any = true),
            Out::Csv(cw) => cw
                .write_record(e.csv_cells())
                .map_err(crate::output::csv_io),
            Out::Tsv(cw) => cw
                .write_record(
                    e.csv_cells()
                        .into_iter()
                        .map(|c| c.replace(['\t', '\n', '\r'], " ")),
                )
                .map_err(crate::output::csv_io),
        };
        r.map_err(|err| Error::write("<output>", err))
    }
}
