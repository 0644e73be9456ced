//! Receives rows from a reader, normalises them and keeps the accounting
//! (rows read, kept and skipped by reason; the first invalid record).

use super::accounting::FileStats;
use super::interner::Interner;
use super::normalize::Outcome;
use super::options::ReadOptions;
use super::progress::Progress;
use super::schema::RawRow;
use crate::error::{Error, Location, Result};
use crate::event::Event;
use crate::pipeline::{Fields, Sink, ThreadFold};
use std::sync::Arc;

/// Receives rows from a reader, normalises them and keeps the accounting.
pub(super) struct Collector<'a> {
    pub(super) interner: &'a mut Interner,
    pub(super) events: &'a mut dyn Sink,
    pub(super) progress: &'a mut Progress,
    pub(super) stats: FileStats,
    pub(super) source: Arc<str>,
    pub(super) opts: &'a ReadOptions,
}

impl<'a> Collector<'a> {
    /// A collector for the input `label`, its accounting empty.
    pub(super) fn new(
        label: &str,
        interner: &'a mut Interner,
        events: &'a mut dyn Sink,
        progress: &'a mut Progress,
        opts: &'a ReadOptions,
    ) -> Self {
        Collector {
            interner,
            events,
            progress,
            stats: FileStats {
                source: label.to_string(),
                ..Default::default()
            },
            source: Arc::from(label),
            opts,
        }
    }

    /// `position` is "line N" or "record N"; `record` the 1-based number kept
    /// in `source_record`.
    pub(super) fn push(
        &mut self,
        row: std::result::Result<RawRow<'_>, String>,
        record: u64,
        position: impl Fn() -> String,
    ) -> Result<()> {
        let o = Outcome::of(
            row,
            &self.source,
            record,
            None,
            self.interner,
            self.opts.fields,
        );
        self.apply(o, 0, &|_, _| position())
    }

    /// Counts a kept event, numbered within its block, and numbers it in
    /// the input.
    fn kept(&mut self, mut e: Event, base: u64) -> Event {
        e.source_record += base;
        self.stats.rows_read += 1;
        self.stats.rows_kept += 1;
        self.progress.tick();
        e
    }

    /// Takes the outcome of a record a worker normalised; `base` is the
    /// number of records before its block, `position` names a record.
    pub(crate) fn apply(
        &mut self,
        o: Outcome,
        base: u64,
        position: &dyn Fn(u64, Option<u64>) -> String,
    ) -> Result<()> {
        match o {
            Outcome::Event(e) => {
                let e = self.kept(e, base);
                self.events.event(e)
            }
            Outcome::Forwarded(e) => {
                let e = self.kept(e, base);
                self.events.forwarded(e)
            }
            Outcome::Folded(n) => {
                // Events a parsing thread already folded into its part.
                self.stats.rows_read += n;
                self.stats.rows_kept += n;
                self.progress.tick_n(n);
                Ok(())
            }
            Outcome::Skip(why) => {
                self.stats.rows_read += 1;
                *self.stats.rows_skipped.entry(why.to_string()).or_insert(0) += 1;
                Ok(())
            }
            Outcome::Invalid {
                record,
                byte,
                message,
            } => {
                self.stats.rows_read += 1;
                self.invalid_with(|| position(base + record, byte), message)
            }
        }
    }

    /// A record that could not even be parsed into a row (already counted
    /// as read).
    pub(super) fn invalid(&mut self, position: String, message: String) -> Result<()> {
        self.invalid_with(|| position.clone(), message)
    }

    /// Like [`invalid`], computing the position only when it is shown.
    pub(crate) fn invalid_with(
        &mut self,
        position: impl Fn() -> String,
        message: String,
    ) -> Result<()> {
        if !self.opts.skip_invalid {
            return Err(Error::Malformed {
                at: Location {
                    source: self.source.to_string(),
                    position: position(),
                },
                message: format!("{message} (use --skip-invalid to skip such records)"),
            });
        }
        *self.stats.rows_skipped.entry("invalid".into()).or_insert(0) += 1;
        if self.stats.first_invalid.is_none() {
            self.stats.first_invalid = Some(format!("{}: {message}", position()));
        }
        Ok(())
    }

    pub(super) fn count_read_only(&mut self) {
        self.stats.rows_read += 1;
    }

    pub(super) fn fields(&self) -> Fields {
        self.opts.fields
    }

    /// A part of the sink for one parsing thread, when it can be split.
    pub(crate) fn fork(&mut self) -> Option<Box<dyn ThreadFold>> {
        self.events.fork()
    }

    /// Merges back a parsing thread's part.
    pub(crate) fn join(&mut self, part: Box<dyn ThreadFold>) -> Result<()> {
        self.events.join(part)
    }

    /// The sink's own part, lent to a parser on this thread (see
    /// [`crate::pipeline::Sink::lend`]).
    pub(crate) fn lend(&mut self) -> Option<Box<dyn ThreadFold>> {
        self.events.lend()
    }

    /// Gives back a part [`Collector::lend`] lent.
    pub(crate) fn give_back(&mut self, part: Box<dyn ThreadFold>) {
        self.events.give_back(part);
    }

    pub(super) fn source(&self) -> &str {
        &self.source
    }
}
