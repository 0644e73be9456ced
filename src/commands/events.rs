//! `kvaudit events`: every input as canonical events, written as they are
//! read.

use super::args::{emit, format_for, read_into, InputArgs, OutputArgs};
use super::Context;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::pipeline::Fields;
use crate::render::event_stream::{EventFormat, EventWriter};
use crate::render::parquet::ParquetEvents;
use clap::{Args, ValueEnum};
use std::io::Write;

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Output format (default jsonl, the canonical pipe; or from the -o file's extension).
    #[arg(long, value_enum)]
    format: Option<Format>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// One canonical event per line (the default).
    Jsonl,
    /// One JSON array.
    Json,
    /// For people: one line per event, fitted to the terminal.
    Table,
    Csv,
    Tsv,
    /// Parquet with real types (UTC timestamp, integers, booleans), one row group at a time (needs -o FILE or a pipe).
    Parquet,
}

pub(super) fn run(args: EventsArgs, ctx: &Context) -> Result<Exit> {
    let target = args.output.target(&args.input.paths)?;
    let chosen = format_for(args.format, args.output.single()?, Format::Jsonl)?;
    if chosen == Format::Parquet {
        return parquet(&args, &target);
    }
    // Values written to a terminal are made printable there.
    let terminal = target.is_terminal();
    let format = match chosen {
        Format::Jsonl => EventFormat::Jsonl,
        Format::Json => EventFormat::Json,
        Format::Table => {
            let human = ctx.human(&target, false);
            EventFormat::Table {
                width: human.width,
                color: human.color,
            }
        }
        Format::Csv => EventFormat::Csv { terminal },
        Format::Tsv => EventFormat::Tsv { terminal },
        Format::Parquet => unreachable!("written above"),
    };
    // Streams: each event is written as it is read.
    let mut failed: Option<Error> = None;
    let written = emit(&target, |w: &mut dyn Write| {
        let mut sink = EventWriter::new(w, format)?;
        if let Err(e) = read_into(&args.input, &mut sink, Fields::Full) {
            failed = Some(e);
            // An output file is then discarded, never left half-written.
            return Err(std::io::Error::other("input error"));
        }
        sink.finish()
    });
    match (failed, written) {
        (Some(e), _) => Err(e),
        (None, r) => r.map(|()| Exit::Ok),
    }
}

/// `--format parquet`: binary, so never to a terminal.
fn parquet(args: &EventsArgs, target: &crate::output::Target) -> Result<Exit> {
    if target.is_terminal() {
        return Err(Error::Usage(
            "Parquet is binary: write it with -o FILE.parquet, or pipe it".into(),
        ));
    }
    let mut failed: Option<Error> = None;
    let mut rows = 0;
    let written = emit(target, |w: &mut dyn Write| {
        let mut sink = ParquetEvents::new(w)?;
        if let Err(e) = read_into(&args.input, &mut sink, Fields::Full) {
            failed = Some(e);
            return Err(std::io::Error::other("input error"));
        }
        rows = sink.finish()?;
        Ok(())
    });
    match (failed, written) {
        (Some(e), _) => Err(e),
        (None, r) => r.map(|()| {
            crate::output::note!("kvaudit: {rows} event(s) written as Parquet");
            Exit::Ok
        }),
    }
}
