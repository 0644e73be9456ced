//! `kvaudit events`: every input as canonical events, written as they are
//! read.

use super::args::{emit, read_into, InputArgs, OutputArgs};
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
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
}

pub(super) fn run(args: EventsArgs, _ctx: &Context) -> Result<Exit> {
    let target = args.output.target(&args.input.paths)?;
    let format = match args.format {
        Format::Jsonl => EventFormat::Jsonl,
        Format::Csv => EventFormat::Csv,
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
