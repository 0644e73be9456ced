//! `kvaudit callers`: one row per caller identity. Reads raw logs and the
//! caller inventory of `queries/caller-inventory.kql`, alone or mixed.

use super::args::{
    format_for, load_catalog, read_logs, resolve_into, InputArgs, NamingArgs, OutputArgs, RowFormat,
};
use super::Context;
use crate::analyze::callers::CallerFold;
use crate::error::Result;
use crate::exit::Exit;
use crate::ingest::inventory;
use crate::output::note;
use crate::pipeline::Fields;
use crate::render::{renderer_for, View};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct CallersArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Output format (default table; or from the -o file's extension).
    #[arg(long, value_enum)]
    format: Option<RowFormat>,
    /// Order of the rows.
    #[arg(long, value_enum, default_value_t = Sort::Events)]
    sort: Sort,
    /// Show at most N rows (the first N in --sort order).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Every column in the table: appid, oid, objects, operations, first seen, clients.
    #[arg(long)]
    wide: bool,
    /// One row per person behind AzureDatabricks (see `kvaudit attribute`).
    #[command(flatten)]
    databricks: super::attribute::DatabricksArgs,
    #[command(flatten)]
    naming: NamingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// How `callers` orders its rows.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Sort {
    /// Most events first.
    Events,
    /// Most 403s first.
    Denied,
    /// Most recently seen first.
    LastSeen,
    /// By name, upn or id.
    Name,
}

pub(super) fn run(args: CallersArgs, ctx: &Context) -> Result<Exit> {
    let input = &args.input;
    // Nothing kvaudit writes may replace what it reads.
    let protected = [
        &input.paths[..],
        &args.naming.directory[..],
        &args.databricks.paths()[..],
    ]
    .concat();
    if !args.databricks.databricks.is_empty()
        && (input.select.principal.is_some() || !input.select.kind.is_empty())
    {
        return Err(crate::error::Error::Usage(
            "--databricks with --principal or --kind: the people behind AzureDatabricks are named after the selection; select them from the output (or use kvaudit attribute)".into(),
        ));
    }
    let target = args.output.target(&protected)?;
    let format = format_for(args.format, args.output.single()?, RowFormat::Table)?;
    args.naming.resolve.cache(&protected)?;
    let mut catalog = load_catalog(&args.naming.directory)?;
    // Streams: one accumulator per caller, never the events. Caller
    // inventories (queries/caller-inventory.kql) merge in directly.
    let mut fold = CallerFold::default();
    let mut logs = Vec::new();
    for p in &input.paths {
        match inventory::read(p)? {
            Some(rows) => {
                input.refuse_selection_of(&format!("{p} is a caller inventory"))?;
                note!(
                    "kvaudit: {p}: caller inventory, {} row(s) (caller x vault x day)",
                    rows.len()
                );
                rows.iter().for_each(|r| fold.add_inventory(r));
            }
            None => logs.push(p.clone()),
        }
    }
    let mut attribution = None;
    if !logs.is_empty() || input.paths.is_empty() {
        let logs = InputArgs {
            paths: logs,
            ..input.named_by(&catalog, args.naming.resolve.resolve)
        };
        if args.databricks.databricks.is_empty() {
            read_logs(&logs, &mut fold, Fields::Callers)?;
        } else {
            let mut both = crate::analyze::attribute::CallersAndReads {
                callers: fold,
                reads: args.databricks.reads(),
            };
            // The reads' correlation ids too (a read delivered twice is
            // told by it), which `Fields::Callers` leaves out.
            read_logs(&logs, &mut both, Fields::Usage)?;
            fold = both.callers;
            attribution = Some(
                args.databricks
                    .attribute(both.reads, input.skip_invalid, false)?
                    .0,
            );
        }
    }
    resolve_into(
        &mut catalog,
        &args.naming.resolve,
        &fold.principals(),
        &protected,
    )?;
    let mut rows = fold.rows(&catalog);
    if let Some(a) = &attribution {
        crate::analyze::attribute::split_callers(&mut rows, a);
    }
    let name = |r: &crate::analyze::callers::CallerRow| {
        r.name
            .clone()
            .or(r.upn.clone())
            .or(r.appid.clone())
            .unwrap_or_default()
            .to_lowercase()
    };
    match args.sort {
        Sort::Events => rows.sort_by_key(|r| std::cmp::Reverse(r.events)),
        Sort::Denied => rows.sort_by(|a, b| b.denied.cmp(&a.denied).then(b.events.cmp(&a.events))),
        Sort::LastSeen => rows.sort_by(|a, b| b.last_seen.cmp(&a.last_seen)),
        Sort::Name => rows.sort_by_key(name),
    }
    let total = rows.len();
    if let Some(n) = args.limit {
        rows.truncate(n);
    }
    let human = ctx.human(&target, args.wide);
    let renderer = renderer_for(format.into(), human);
    let mut bytes = renderer.render(&View::Callers(&rows))?;
    if rows.len() < total {
        let footer = format!("{total} rows ({} shown)", rows.len());
        if format == RowFormat::Table {
            bytes.extend_from_slice(format!("{footer}\n").as_bytes());
        } else {
            note!("kvaudit: {footer}");
        }
    }
    target.write(&bytes)?;
    Ok(Exit::Ok)
}
