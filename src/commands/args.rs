//! Arguments several commands share (inputs, output file, Graph lookups)
//! and what they do with them: read inputs with the accounting on stderr,
//! write output, name principals.

use crate::error::{Error, Result};
use crate::identify::Catalog;
use crate::ingest::{self, Ingested, ReadOptions};
use crate::limits;
use crate::online::graph;
use crate::output::{note, write_atomic, Target};
use crate::pipeline::{Fields, Sink};
use clap::Args;
use std::io::Write;

#[derive(Debug, Args, Clone)]
pub(super) struct InputArgs {
    /// Log exports to read: files, directories (walked), or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Skip malformed records (counted and reported on stderr) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Print rows read, kept and skipped (by reason) to stderr.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Write to FILE instead of stdout (atomically; - means stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<String>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

impl OutputArgs {
    /// Where output goes, checked against `inputs` before any work is done.
    pub(super) fn target(&self, inputs: &[String]) -> Result<Target> {
        Target::new(self.output.as_deref(), self.force, inputs)
    }
}

/// Where principals' names come from: directory exports and Graph.
#[derive(Debug, Args, Clone)]
pub(crate) struct NamingArgs {
    /// JSON from `az ad sp list --all` / `az ad user list` to name principals (repeatable).
    #[arg(long, value_name = "FILE")]
    pub directory: Vec<String>,
    #[command(flatten)]
    pub resolve: ResolveArgs,
}

/// Online name resolution through Microsoft Graph.
#[derive(Debug, Args, Clone)]
pub(super) struct ResolveArgs {
    /// Ask Microsoft Graph for names, servicePrincipalType and accountEnabled (token: KVAUDIT_GRAPH_TOKEN or the az CLI).
    #[arg(long)]
    pub resolve: bool,
    /// Microsoft Graph base URL.
    #[arg(
        long,
        default_value = "https://graph.microsoft.com",
        value_name = "URL"
    )]
    pub graph_endpoint: String,
    /// Cache file for Graph answers (default ~/.cache/kvaudit/graph.json).
    #[arg(long, value_name = "FILE")]
    pub resolve_cache: Option<String>,
    /// Hours a cached answer stays valid.
    #[arg(long, default_value_t = 24)]
    pub resolve_ttl_hours: i64,
}

/// Reads every input into `sink`. Caller inventories are refused here:
/// only `callers` (which reads them itself) takes aggregates.
pub(super) fn read_into(
    input: &InputArgs,
    sink: &mut dyn Sink,
    fields: Fields,
) -> Result<Ingested> {
    refuse_inventories(&input.paths)?;
    read_logs(input, sink, fields)
}

/// Caller inventories are aggregates: only `callers` reads them.
fn refuse_inventories(paths: &[String]) -> Result<()> {
    for p in paths {
        if ingest::inventory::read(p)?.is_some() {
            return Err(Error::Usage(format!(
                "{p} is a caller inventory (pre-aggregated by queries/caller-inventory.kql), not events: only `kvaudit callers` reads it; export raw events (queries/azurediagnostics-export.kql) for this command"
            )));
        }
    }
    Ok(())
}

/// Reads log inputs into `sink`, keeping the event `fields` named, and
/// reports skips (and `--stats`) on stderr.
pub(super) fn read_logs(
    input: &InputArgs,
    sink: &mut dyn Sink,
    fields: Fields,
) -> Result<Ingested> {
    let opts = ReadOptions {
        skip_invalid: input.skip_invalid,
        fields,
    };
    let ing = ingest::read_into(&input.paths, &opts, sink)?;
    for f in &ing.files {
        if let Some(first) = &f.first_invalid {
            let n = f.rows_skipped.get("invalid").copied().unwrap_or(0);
            note!(
                "kvaudit: warning: {}: skipped {n} invalid record(s); first at {first}",
                f.source
            );
        }
        let other: u64 = f
            .rows_skipped
            .iter()
            .filter(|(k, _)| k.as_str() != "invalid")
            .map(|(_, v)| v)
            .sum();
        if other > 0 && input.stats {
            note!(
                "kvaudit: {}: skipped {other} row(s) that are not Key Vault audit events",
                f.source
            );
        }
    }
    if input.stats {
        print_stats(&ing);
    }
    Ok(ing)
}

/// `--stats`: rows read, kept and skipped by reason, per file and in total.
fn print_stats(ing: &Ingested) {
    let reasons = |m: &std::collections::BTreeMap<String, u64>| {
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    };
    for f in &ing.files {
        note!(
            "kvaudit: stats: {} [{}]: read {} kept {} skipped {} ({})",
            f.source,
            f.shape,
            f.rows_read,
            f.rows_kept,
            f.rows_skipped.values().sum::<u64>(),
            reasons(&f.rows_skipped)
        );
    }
    let by_reason = ing.rows_skipped();
    note!(
        "kvaudit: stats: total: files {} (skipped {}) read {} kept {} skipped {} ({})",
        ing.files.len(),
        ing.files_skipped.len(),
        ing.rows_read(),
        ing.rows_kept(),
        by_reason.values().sum::<u64>(),
        reasons(&by_reason)
    );
}

/// Streams `write` to stdout (buffered) or atomically to a file.
pub(super) fn emit(
    target: &Target,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    match target {
        Target::Stdout => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            write(&mut w)
                .and_then(|_| w.flush())
                .map_err(|e| Error::write("<stdout>", e))
        }
        Target::File { path, force } => write_atomic(path, *force, write),
    }
}

pub(super) use crate::limits::{read_file, read_stdin};

impl ResolveArgs {
    /// The Graph cache file, checked like `-o` (never an input, never a
    /// directory): call before any work is done.
    pub(super) fn cache(&self, inputs: &[String]) -> Result<std::path::PathBuf> {
        let path = self
            .resolve_cache
            .clone()
            .map_or_else(graph::default_cache, Into::into);
        if self.resolve {
            crate::output::check_output(&path, true, inputs, "the Graph cache ")?;
        }
        Ok(path)
    }
}

/// `--resolve`: names from Microsoft Graph (cached).
pub(super) fn resolve_into(
    catalog: &mut Catalog,
    args: &ResolveArgs,
    principals: &[(Option<&str>, Option<&str>)],
    inputs: &[String],
) -> Result<()> {
    if !args.resolve {
        return Ok(());
    }
    let cfg = graph::GraphConfig {
        endpoint: args.graph_endpoint.clone(),
        token: graph::graph_token()?,
        cache: args.cache(inputs)?,
        ttl: chrono::Duration::hours(args.resolve_ttl_hours.max(0)),
    };
    let (fetched, named) = graph::resolve(principals, catalog, &cfg)?;
    note!(
        "kvaudit: resolved {named} principal(s) ({fetched} fetched from Graph, the rest from {})",
        cfg.cache.display()
    );
    Ok(())
}

/// The bundled Microsoft catalog plus any `--directory` files.
pub(super) fn load_catalog(directory: &[String]) -> Result<Catalog> {
    let mut catalog = Catalog::bundled();
    for d in directory {
        let text = read_file(d, limits::EXPORT_FILE, "a directory export")?;
        catalog.load_directory(&text, d).map_err(Error::Other)?;
    }
    Ok(catalog)
}
