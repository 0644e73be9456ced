//! `kvaudit rights`: every role assignment covering a vault in the logs,
//! set against what its principal used, with the least role, the
//! narrowest scope and the commands to get there.

use super::args::{
    format_for, load_catalog, read_file, read_usage, resolve_into, InputArgs, NamingArgs,
    OutputArgs, RowFormat,
};
use super::Context;
use crate::analyze::explain::assignments;
use crate::analyze::rights::{self, SHORT_WINDOW_DAYS};
use crate::analyze::usage::UsageFold;
use crate::error::Result;
use crate::exit::Exit;
use crate::limits;
use crate::output::note;
use crate::render::{grids, renderer_for, View};
use clap::Args;

#[derive(Debug, Args)]
pub struct RightsArgs {
    #[command(flatten)]
    input: InputArgs,
    /// JSON from `az role assignment list --all` (the role assignments to judge).
    #[arg(long, value_name = "FILE", required = true)]
    assignments: String,
    /// Output format (default table; or from the -o file's extension).
    #[arg(long, value_enum)]
    format: Option<RowFormat>,
    /// Show at most N rows (the most actionable first).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    naming: NamingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

pub(super) fn run(args: RightsArgs, ctx: &Context) -> Result<Exit> {
    let input = &args.input;
    let protected = [
        &input.paths[..],
        &args.naming.directory[..],
        std::slice::from_ref(&args.assignments),
    ]
    .concat();
    input.select.refuse_narrowing(|flags| format!(
        "rights judges each assignment against every call of its principal: {flags} would make used access look unused; select with --vault and the period only"
    ))?;
    let target = args.output.target(&protected)?;
    let format = format_for(args.format, args.output.single()?, RowFormat::Table)?;
    args.naming.resolve.cache(&protected)?;
    let mut catalog = load_catalog(&args.naming.directory)?;
    let held = assignments::parse(
        &read_file(
            &args.assignments,
            limits::EXPORT_FILE,
            "a role assignment list",
        )?,
        &args.assignments,
    )?;
    let mut fold = UsageFold::default();
    read_usage(input, &mut fold)?;
    resolve_into(
        &mut catalog,
        &args.naming.resolve,
        &fold.principals(),
        &protected,
    )?;
    let usage = fold.finish(&catalog);
    let (mut rows, skipped) = rights::rights(&usage, &held, &input.select.vaults());
    if skipped.no_vault > 0 {
        note!(
            "kvaudit: {} assignment(s) cover no vault in the selected logs and are not listed",
            skipped.no_vault
        );
    }
    if skipped.beyond_selection > 0 {
        note!(
            "kvaudit: {} assignment(s) at a scope above the --vault selection not judged: they may serve vaults left out",
            skipped.beyond_selection
        );
    }
    if skipped.groups > 0 {
        note!(
            "kvaudit: {} assignment(s) to groups not judged: members call with their own ids, so the log cannot tie a call to the group",
            skipped.groups
        );
    }
    for (role, n) in &skipped.custom_roles {
        note!(
            "kvaudit: {n} assignment(s) of {role:?} not judged: a custom role, whose data actions kvaudit does not know"
        );
    }
    for why in &skipped.invalid {
        note!("kvaudit: warning: {}: {why}; not judged", args.assignments);
    }
    for v in &skipped.bad_vault_ids {
        note!("kvaudit: warning: vault {v}: the logged resource id is not a Key Vault id; no assignment can be matched to it (the records may be forged)");
    }
    let short = rows
        .iter()
        .filter(|r| r.window.days < SHORT_WINDOW_DAYS)
        .count();
    if short > 0 {
        note!(
            "kvaudit: warning: for {short} assignment(s) the logs cover under {SHORT_WINDOW_DAYS} days (see each row's caution): rare jobs (monthly, quarterly) may be missing; confirm before deleting any assignment"
        );
    }
    let total = rows.len();
    if let Some(n) = args.limit {
        rows.truncate(n);
        if n < total {
            note!("kvaudit: {total} rows ({n} shown)");
        }
    }
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &rows {
        *by.entry(r.verdict.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let title = format!(
        "Role assignments against use, {} to {}: {total} assignment(s){}",
        usage
            .first
            .as_deref()
            .map_or("-".into(), crate::render::fit::human_time),
        usage
            .last
            .as_deref()
            .map_or("-".into(), crate::render::fit::human_time),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    );
    let grid = grids::rights(&rows, title)?;
    let renderer = renderer_for(format.into(), ctx.human(&target, false));
    target.write(&renderer.render(&View::Grid(&grid))?)?;
    Ok(Exit::Ok)
}
