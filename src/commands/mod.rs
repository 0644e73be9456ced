//! The subcommands. Each file owns its clap arguments and a `run` that turns
//! them into validated library options, calls the library and says what
//! the process exits with. [`Cli`] is the whole command line.

mod args;
mod callers;
mod events;
mod explain;
mod pull;
mod report;
mod synth;
mod token;

use crate::error::Result;
use crate::exit::Exit;
use crate::output::{use_color, ColorWhen};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kvaudit",
    version,
    about = "Who is really calling your Azure Key Vault, as which identity, and why was it denied?",
    max_term_width = 100,
    after_help = "Exit codes: 0 ok, 1 error, 2 usage error, 3 findings at or above --fail-on.\nInputs: Key Vault AuditEvent logs as raw records (PT1H.json, JSON Lines), or AzureDiagnostics / AZKVAuditLogs exported from Log Analytics (CSV, JSON, API response). - reads stdin; a directory is walked."
)]
pub struct Cli {
    /// When to use colour: auto honours NO_COLOR and whether stdout is a terminal.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, global = true)]
    pub color: ColorArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

impl From<ColorArg> for ColorWhen {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Auto => ColorWhen::Auto,
            ColorArg::Always => ColorWhen::Always,
            ColorArg::Never => ColorWhen::Never,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write every input as canonical events (one clean table from any export).
    Events(events::EventsArgs),
    /// One row per caller identity: kind, events, denials, vaults, objects, clients.
    Callers(callers::CallersArgs),
    /// Explain every denial: who needs which role or permission, at which scope, with the exact command.
    Explain(explain::ExplainArgs),
    /// Findings for security reviews and scheduled compliance runs.
    Report(report::ReportArgs),
    /// Decode an access token (from stdin, --file or KVAUDIT_TOKEN) and tie it to the logs.
    Token(token::TokenArgs),
    /// Generate realistic audit logs of any size (benchmarks, demos), deterministic for a seed.
    Synth(synth::SynthArgs),
    /// Run the export query in a Log Analytics workspace and write the API response (readable by every command).
    Pull(pull::PullArgs),
}

/// What every command may use besides its own arguments.
pub struct Context {
    /// Whether stdout may be coloured (`--color`, `NO_COLOR`,
    /// `CLICOLOR_FORCE`, a terminal).
    pub color: bool,
    /// The terminal's width (`COLUMNS`), None when stdout is not one.
    pub width: Option<usize>,
}

impl Context {
    /// How human views are shown on `target`: a file gets no colour and
    /// no width.
    pub fn human(&self, target: &crate::output::Target, wide: bool) -> crate::render::Human {
        let stdout = target.is_stdout();
        crate::render::Human {
            color: self.color && stdout,
            width: self.width.filter(|_| stdout),
            wide,
        }
    }
}

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<Exit> {
    let ctx = Context {
        color: use_color(cli.color.into()),
        width: crate::output::width(),
    };
    match cli.command {
        Command::Events(a) => events::run(a, &ctx),
        Command::Callers(a) => callers::run(a, &ctx),
        Command::Explain(a) => explain::run(a, &ctx),
        Command::Report(a) => report::run(a, &ctx),
        Command::Token(a) => token::run(a, &ctx),
        Command::Synth(a) => synth::run(a, &ctx),
        Command::Pull(a) => pull::run(a, &ctx),
    }
}
