//! `kvaudit attribute`: the person behind each AzureDatabricks read of a
//! secret, from the workspace's secrets audit.

use super::args::{format_for, read_file, read_into, InputArgs, OutputArgs, RowFormat};
use super::Context;
use crate::analyze::attribute::{Attribution, DatabricksReads, Matched, WorkspaceEvents};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::ingest::databricks;
use crate::limits;
use crate::output::note;
use crate::pipeline::Fields;
use crate::render::{grids, renderer_for, View};
use clap::Args;

#[derive(Debug, Args)]
pub struct AttributeArgs {
    #[command(flatten)]
    input: InputArgs,
    /// The workspace's secrets audit (repeatable): a DatabricksSecrets export (CSV or JSON), system.access.audit (JSON Lines, CSV, Parquet or JSON), or raw diagnostic records (category secrets).
    #[arg(long, value_name = "FILE", required = true)]
    databricks: Vec<String>,
    /// JSON of `databricks secrets list-scopes --output json` (or the REST API's): match each scope's vault, not only the secret name.
    #[arg(long, value_name = "FILE")]
    scopes: Option<String>,
    /// Seconds between a vault read and its getSecret event for them to match.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = tolerance)]
    tolerance: f64,
    /// Output format (default table; or from the -o file's extension).
    #[arg(long, value_enum)]
    format: Option<RowFormat>,
    #[command(flatten)]
    output: OutputArgs,
}

/// `callers --databricks` and `report --databricks`: the workspace audit
/// that names the people behind AzureDatabricks.
#[derive(Debug, Clone, Args)]
pub(super) struct DatabricksArgs {
    /// The workspace's secrets audit (repeatable; see `kvaudit attribute`): name the people behind AzureDatabricks.
    #[arg(long, value_name = "FILE")]
    pub(super) databricks: Vec<String>,
    /// With --databricks: `databricks secrets list-scopes --output json`.
    #[arg(long, value_name = "FILE", requires = "databricks")]
    pub(super) scopes: Option<String>,
    /// With --databricks: seconds between a vault read and its getSecret.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 5.0,
        requires = "databricks",
        value_parser = tolerance
    )]
    pub(super) tolerance: f64,
}

impl DatabricksArgs {
    /// The files read, which nothing kvaudit writes may replace.
    pub(super) fn paths(&self) -> Vec<String> {
        [&self.databricks[..], self.scopes.as_slice()].concat()
    }

    /// Where the AzureDatabricks reads are kept while the logs are read.
    pub(super) fn reads(&self) -> DatabricksReads {
        DatabricksReads::new(self.scopes.is_some())
    }

    /// Matches `reads` to the workspace audit, with notes on stderr
    /// (`skip_invalid`: malformed audit records are counted, not fatal);
    /// with `keep_matches` also the attributed reads in time order.
    pub(super) fn attribute(
        &self,
        reads: DatabricksReads,
        skip_invalid: bool,
        keep_matches: bool,
    ) -> Result<(Attribution, Option<Matched>)> {
        let events = load(&self.databricks, self.scopes.as_deref(), skip_invalid)?;
        let (a, m) = reads.attribute(events, self.tolerance, keep_matches)?;
        note!(
            "kvaudit: AzureDatabricks: {} of {} read(s) attributed to {} person(s); {} unattributed, {} ambiguous",
            a.people.iter().map(|p| p.reads).sum::<u64>(),
            a.reads,
            a.people.len(),
            a.unattributed,
            a.ambiguous
        );
        Ok((a, m))
    }
}

/// `--tolerance`: seconds from 0 to 3600.
pub(super) fn tolerance(v: &str) -> std::result::Result<f64, String> {
    let t: f64 = v
        .trim()
        .parse()
        .map_err(|_| "expected a number of seconds".to_string())?;
    if t.is_finite() && (0.0..=3600.0).contains(&t) {
        Ok(t.abs())
    } else {
        Err("expected seconds between 0 and 3600".into())
    }
}

/// Reads the scope list and the workspace audits (streamed into the
/// sorted events), with notes on stderr.
pub(super) fn load(
    files: &[String],
    scopes: Option<&str>,
    skip_invalid: bool,
) -> Result<WorkspaceEvents> {
    let scopes = match scopes {
        Some(p) => {
            let s =
                databricks::parse_scopes(&read_file(p, limits::EXPORT_FILE, "a scope list")?, p)?;
            if s.is_empty() {
                return Err(Error::Other(format!(
                    "{p}: no Azure Key Vault-backed scope (keyvault_metadata with resource_id or dns_name); without --scopes the secret name alone is matched"
                )));
            }
            s
        }
        None => {
            note!("kvaudit: no --scopes: matching on the secret name alone (a secret of the same name in two vaults can be confused)");
            Vec::new()
        }
    };
    let mut events = WorkspaceEvents::new(&scopes);
    for f in files {
        let r = databricks::read(f, skip_invalid, &mut |e| events.add(&e))?;
        note!(
            "kvaudit: {f}: {} getSecret event(s){}{}",
            r.events,
            if r.other_actions > 0 {
                format!(", {} other record(s) skipped", r.other_actions)
            } else {
                String::new()
            },
            match &r.first_skipped {
                Some(first) => format!(
                    ", {} malformed record(s) skipped (--skip-invalid; the first: {first})",
                    r.skipped
                ),
                None => String::new(),
            }
        );
    }
    Ok(events)
}

pub(super) fn run(args: AttributeArgs, ctx: &Context) -> Result<Exit> {
    let input = &args.input;
    let protected = [
        &input.paths[..],
        &args.databricks[..],
        args.scopes.as_slice(),
    ]
    .concat();
    let target = args.output.target(&protected)?;
    let format = format_for(args.format, args.output.single()?, RowFormat::Table)?;
    let events = load(&args.databricks, args.scopes.as_deref(), input.skip_invalid)?;
    if events.is_empty() {
        note!("kvaudit: warning: the workspace audit holds no successful getSecret event: nothing to match the reads against");
    }
    let mut fold = DatabricksReads::new(events.mapped());
    read_into(input, &mut fold, Fields::Usage)?;
    let (a, _) = fold.attribute(events, args.tolerance, false)?;
    for (why, n) in &a.events_skipped {
        note!("kvaudit: {n} workspace event(s) not matched against: {why}");
    }
    let bytes = match format {
        RowFormat::Json => {
            let mut b = serde_json::to_vec_pretty(&a).map_err(|e| Error::Output(e.to_string()))?;
            b.push(b'\n');
            b
        }
        RowFormat::Jsonl => {
            let mut b = serde_json::to_vec(&a).map_err(|e| Error::Output(e.to_string()))?;
            b.push(b'\n');
            b
        }
        _ => {
            let title = format!(
                "Who read through AzureDatabricks: {} person(s)",
                a.people.len()
            );
            let grid = grids::attribution(&a, title)?;
            if !matches!(format, RowFormat::Table | RowFormat::Markdown) {
                for f in &grid.footer {
                    note!("kvaudit: {f}");
                }
            }
            renderer_for(format.into(), ctx.human(&target, false)).render(&View::Grid(&grid))?
        }
    };
    target.write(&bytes)?;
    Ok(Exit::Ok)
}
