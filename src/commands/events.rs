//! `kvaudit events`: every input as canonical events, written as they are
//! read.

use super::args::{emit, format_for, read_into, InputArgs, OutputArgs};
use super::Context;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::pipeline::Fields;
use crate::render::event_stream::{EventFormat, EventWriter};
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
}

pub(super) fn run(args: EventsArgs, ctx: &Context) -> Result<Exit> {
    let target = args.output.target(&args.input.paths)?;
    let format = match format_for(args.format, args.output.single()?, Format::Jsonl)? {
        Format::Jsonl => EventFormat::Jsonl,
        Format::Json => EventFormat::Json,
        Format::Table => {
            let human = ctx.human(&target, false);
            EventFormat::Table {
                width: human.width,
                color: human.color,
            }
        }
        Format::Csv => EventFormat::Csv,
        Format::Tsv => EventFormat::Tsv,
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
