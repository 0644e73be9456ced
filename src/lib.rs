//! kvaudit: reads Azure Key Vault audit logs in any export shape, decodes
//! every caller, explains every denial and reports for reviewers.
//!
//! Data flow, and the one direction modules import in (see
//! `ARCHITECTURE.md`): [`ingest`] (one reader per shape, each row normalised
//! into an [`event::Event`]) → [`identify`] (who the caller is) →
//! [`analyze`] (callers, denials, findings, the report) → [`render`] (one
//! renderer per format). [`online`] talks to Azure beside the flow;
//! [`commands`] sits on top: one file per subcommand. Underneath everything:
//! [`event`], [`pipeline`] (how events reach the folds), [`parse`],
//! [`collections`], [`output`] and [`error`]. [`run`] is the whole program;
//! `main.rs` only maps its result to an exit code.

pub mod analyze;
pub mod collections;
pub mod commands;
pub mod error;
pub mod event;
pub mod exit;
pub mod identify;
pub mod ingest;
pub mod limits;
pub mod online;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod render;
pub mod synth;

use clap::Parser;
use error::Error;
use exit::Exit;
use std::ffi::OsString;

/// Parses arguments and runs one command.
pub fn run<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match commands::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return code;
        }
    };
    output::remove_partial_files_on_interrupt();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => Exit::Ok,
        Err(e) => {
            output::note!("kvaudit: error: {e}");
            match e {
                Error::Usage(_) | Error::NoInput => Exit::Usage,
                _ => Exit::Error,
            }
        }
    }
}
