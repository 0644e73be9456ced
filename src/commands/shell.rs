//! `kvaudit completions SHELL` and `kvaudit man`: shell completions and
//! the man page, generated from the same command-line definition.

use super::{Cli, Context};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::output::Target;
use clap::{Args, CommandFactory};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {}

pub(super) fn completions(args: CompletionsArgs, _ctx: &Context) -> Result<Exit> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "kvaudit", &mut out);
    Target::Stdout.write(&out)?;
    Ok(Exit::Ok)
}

pub(super) fn man(_args: ManArgs, _ctx: &Context) -> Result<Exit> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::Output(e.to_string()))?;
    Target::Stdout.write(&out)?;
    Ok(Exit::Ok)
}
