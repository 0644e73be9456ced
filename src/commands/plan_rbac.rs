//! `kvaudit plan-rbac`: what each access-policy vault needs before it is
//! switched to Azure RBAC, from what the log shows each principal using.

use super::args::{
    format_for, load_catalog, read_file, read_usage, resolve_into, InputArgs, NamingArgs,
    OutputArgs, RowFormat,
};
use super::Context;
use crate::analyze::plan;
use crate::analyze::usage::UsageFold;
use crate::error::Result;
use crate::exit::Exit;
use crate::limits;
use crate::output::note;
use crate::render::{grids, renderer_for, View};
use clap::Args;

#[derive(Debug, Args)]
pub struct PlanRbacArgs {
    #[command(flatten)]
    input: InputArgs,
    /// JSON from `az keyvault show --name NAME` (repeatable): compare its access policies with their use.
    #[arg(long, value_name = "FILE")]
    vault_json: Vec<String>,
    /// Output format (default table; or from the -o file's extension).
    #[arg(long, value_enum)]
    format: Option<RowFormat>,
    #[command(flatten)]
    naming: NamingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

pub(super) fn run(args: PlanRbacArgs, ctx: &Context) -> Result<Exit> {
    let input = &args.input;
    let protected = [
        &input.paths[..],
        &args.naming.directory[..],
        &args.vault_json[..],
    ]
    .concat();
    input.select.refuse_narrowing(|flags| format!(
        "plan-rbac plans for every principal of a vault: with {flags} the plan would leave callers without a role when the vault switches; select with --vault and the period only"
    ))?;
    let target = args.output.target(&protected)?;
    let format = format_for(args.format, args.output.single()?, RowFormat::Table)?;
    args.naming.resolve.cache(&protected)?;
    let mut catalog = load_catalog(&args.naming.directory)?;
    let mut vaults = Vec::new();
    for f in &args.vault_json {
        let text = read_file(f, limits::EXPORT_FILE, "a vault description")?;
        vaults.extend(plan::parse_vault_json(&text, f)?);
    }
    let mut fold = UsageFold::default();
    read_usage(input, &mut fold)?;
    resolve_into(
        &mut catalog,
        &args.naming.resolve,
        &fold.principals(),
        &protected,
    )?;
    let usage = fold.finish(&catalog);
    let plans = plan::plan(&usage, &vaults);
    let rbac: Vec<&str> = usage
        .vaults
        .iter()
        .filter(|(_, f)| f.rbac_records > 0)
        .filter_map(|(n, _)| n.as_deref())
        .collect();
    if !rbac.is_empty() {
        note!(
            "kvaudit: not planned, their records show RBAC already: {}",
            rbac.join(", ")
        );
    }
    for v in &vaults {
        if v.rbac == Some(true) {
            note!(
                "kvaudit: {}: --vault-json says RBAC is already enabled",
                v.name
            );
        } else if !plans.iter().any(|p| p.vault == v.name) {
            note!(
                "kvaudit: {}: in --vault-json but no access-policy record of it in the logs",
                v.name
            );
        }
    }
    if usage.days < crate::analyze::rights::SHORT_WINDOW_DAYS && !plans.is_empty() {
        note!(
            "kvaudit: warning: the logs cover {:.1} days: a caller that runs monthly or quarterly is not in them and would lose access at the switch; plan on 30 days or more",
            usage.days
        );
    }
    let human = |t: &Option<String>| {
        t.as_deref()
            .map_or("-".into(), crate::render::fit::human_time)
    };
    let title = format!(
        "Switching to Azure RBAC, from the logs of {} to {}: {} access-policy vault(s), {} role assignment(s) to create first",
        human(&usage.first),
        human(&usage.last),
        plans.len(),
        plans.iter().map(|p| p.principals.len()).sum::<usize>()
    );
    let grid = grids::plan(&plans, title)?;
    let renderer = renderer_for(format.into(), ctx.human(&target, false));
    target.write(&renderer.render(&View::Grid(&grid))?)?;
    Ok(Exit::Ok)
}
