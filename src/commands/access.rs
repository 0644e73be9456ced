//! `kvaudit access`: who read each secret, key and certificate and when
//! last (`--by object`), or what each caller read (`--by caller`); with
//! `--objects`, the objects nobody touched too.

use super::args::{
    format_for, load_catalog, read_file, read_usage, resolve_into, InputArgs, NamingArgs,
    OutputArgs, RowFormat,
};
use super::Context;
use crate::analyze::usage::UsageFold;
use crate::error::Result;
use crate::exit::Exit;
use crate::ingest::objects;
use crate::limits;
use crate::output::note;
use crate::render::{grids, renderer_for, View};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    input: InputArgs,
    /// One row per object (who read it) or per caller (what it read).
    #[arg(long, value_enum, default_value_t = By::Object)]
    by: By,
    /// JSON from `az keyvault secret list` / `key list` / `certificate list` (repeatable): list objects never touched as unused.
    #[arg(long, value_name = "FILE")]
    objects: Vec<String>,
    /// Output format (default table; or from the -o file's extension).
    #[arg(long, value_enum)]
    format: Option<RowFormat>,
    /// Show at most N rows.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    naming: NamingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// What `access` has one row per.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum By {
    /// A secret, key or certificate: its reads, writes, denials and readers.
    Object,
    /// A caller: the objects it read, wrote or was denied.
    Caller,
}

pub(super) fn run(args: AccessArgs, ctx: &Context) -> Result<Exit> {
    let input = &args.input;
    let protected = [
        &input.paths[..],
        &args.naming.directory[..],
        &args.objects[..],
    ]
    .concat();
    if !args.objects.is_empty() {
        input.select.refuse_narrowing(|flags| format!(
            "--objects flags objects nobody read; with {flags} it would flag objects the selection left out; drop one or the other"
        ))?;
    }
    let target = args.output.target(&protected)?;
    let format = format_for(args.format, args.output.single()?, RowFormat::Table)?;
    args.naming.resolve.cache(&protected)?;
    let mut catalog = load_catalog(&args.naming.directory)?;
    let mut listed = Vec::new();
    for f in &args.objects {
        let text = read_file(f, limits::EXPORT_FILE, "an object listing")?;
        listed.extend(objects::parse(&text, f)?);
    }
    let vaults = input.select.vaults();
    if !vaults.is_empty() {
        listed.retain(|l| vaults.contains(&l.vault));
    }
    let mut fold = UsageFold::default();
    read_usage(
        &input.named_by(&catalog, args.naming.resolve.resolve),
        &mut fold,
    )?;
    resolve_into(
        &mut catalog,
        &args.naming.resolve,
        &fold.principals(),
        &protected,
    )?;
    if args.objects.is_empty() {
        note!("kvaudit: only objects seen in the logs are listed; pass --objects FILE (az keyvault secret list --vault-name NAME -o json) to list the ones nobody touched");
    } else {
        fold.access().add_listed(&listed);
    }
    let usage = fold.finish(&catalog);
    let period = match (&usage.first, &usage.last) {
        (Some(f), Some(l)) => format!(
            ", {} to {}",
            crate::render::fit::human_time(f),
            crate::render::fit::human_time(l)
        ),
        _ => String::new(),
    };
    let (grid, total) = match args.by {
        By::Object => {
            let mut rows = fold.objects(&usage.who);
            let total = rows.len();
            let unused = rows.iter().filter(|r| r.unused).count();
            if let Some(n) = args.limit {
                rows.truncate(n);
            }
            let title = format!(
                "Who read each secret, key and certificate{period}: {total} object(s), {unused} not read"
            );
            (grids::access_objects(&rows, title)?, total)
        }
        By::Caller => {
            let mut rows = fold.by_caller(&usage.who);
            let total = rows.len();
            if let Some(n) = args.limit {
                rows.truncate(n);
            }
            let title = format!("What each caller read{period}: {total} caller(s)");
            (grids::access_callers(&rows, title)?, total)
        }
    };
    if grid.rows.len() < total {
        note!("kvaudit: {total} rows ({} shown)", grid.rows.len());
    }
    let renderer = renderer_for(format.into(), ctx.human(&target, false));
    target.write(&renderer.render(&View::Grid(&grid))?)?;
    Ok(Exit::Ok)
}
