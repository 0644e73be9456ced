//! Arguments several commands share (inputs, output file, Graph lookups)
//! and what they do with them: read inputs with the accounting on stderr,
//! write output, name principals.

use crate::analyze::select::{Selected, Selection, StatusFilter, Window};
use crate::error::{Error, Result};
use crate::identify::Catalog;
use crate::ingest::{self, Ingested, ReadOptions};
use crate::limits;
use crate::online::graph;
use crate::output::{note, write_atomic, Target};
use crate::pipeline::{Fields, Sink};
use clap::Args;
use std::io::Write;
use std::sync::Arc;

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
    #[command(flatten)]
    pub select: SelectArgs,
    /// The command's fold applies the time window itself (the report
    /// counts the rows outside its period).
    #[arg(skip)]
    pub window_in_fold: bool,
}

impl InputArgs {
    /// A usage error when a selection flag is given for `what` (an
    /// inventory, aggregated by day, which the flags cannot select from).
    pub(super) fn refuse_selection_of(&self, what: &str) -> Result<()> {
        if self.select.selection(chrono::Utc::now())?.is_everything() {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "{what} (aggregated by day): the selection flags apply to events; filter in the query instead"
        )))
    }

    /// These inputs with `--kind` and `--principal` naming principals as
    /// `catalog` does: the bundled names and the `--directory` files. The
    /// names `--resolve` asks Graph for come after reading, too late to
    /// select by (a note says so when both are given).
    pub(super) fn named_by(&self, catalog: &Catalog, resolve: bool) -> InputArgs {
        let mut named = self.clone();
        let s = &self.select;
        if s.principal.is_some() || !s.kind.is_empty() {
            named.select.catalog = Some(Arc::new(catalog.clone()));
            if resolve {
                note!("kvaudit: note: --principal and --kind match the names of --directory and the bundled catalog, not those --resolve asks Graph for after reading");
            }
        }
        named
    }
}

/// Which events to look at: the same flags on every command that reads logs.
#[derive(Debug, Args, Clone, Default)]
pub(super) struct SelectArgs {
    /// Only events in the last DURATION (30m, 24h, 7d, 2w), counted back from now.
    #[arg(
        long,
        help_heading = "Selection",
        value_name = "DURATION",
        conflicts_with = "from"
    )]
    pub since: Option<String>,
    /// Only events at or after TIME: a date (2026-03-01, midnight UTC), a month (2026-03) or RFC 3339.
    #[arg(long, help_heading = "Selection", value_name = "TIME")]
    pub from: Option<String>,
    /// Only events before TIME (exclusive; the same forms as --from).
    #[arg(long, help_heading = "Selection", value_name = "TIME")]
    pub to: Option<String>,
    /// Only these vaults (repeat the flag or separate with commas).
    #[arg(
        long,
        help_heading = "Selection",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub vault: Vec<String>,
    /// Only this principal: an appid, oid or upn, or part of a upn or name.
    #[arg(long, help_heading = "Selection", value_name = "ID|NAME")]
    pub principal: Option<String>,
    /// Only callers of these kinds (comma-separated).
    #[arg(long, help_heading = "Selection", value_enum, value_delimiter = ',')]
    pub kind: Vec<KindArg>,
    /// Only these operations, e.g. SecretGet (comma-separated).
    #[arg(
        long,
        help_heading = "Selection",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub operation: Vec<String>,
    /// Only this status: a code (403), a class (4xx) or failed (anything but 2xx).
    #[arg(long, help_heading = "Selection", value_name = "STATUS")]
    pub status: Option<String>,
    /// Names principals for `--kind` and `--principal`: the `--directory`
    /// names of the command too, set by [`InputArgs::named_by`] (else the
    /// bundled catalog alone).
    #[arg(skip)]
    pub catalog: Option<Arc<Catalog>>,
}

/// Identity kinds, as `--kind` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum KindArg {
    User,
    #[value(alias = "guest_user")]
    GuestUser,
    #[value(alias = "service_principal")]
    ServicePrincipal,
    #[value(alias = "managed_identity")]
    ManagedIdentity,
    #[value(alias = "microsoft_app")]
    MicrosoftApp,
    Unauthenticated,
    Unknown,
}

impl From<KindArg> for crate::identify::Kind {
    fn from(k: KindArg) -> Self {
        use crate::identify::Kind;
        match k {
            KindArg::User => Kind::User,
            KindArg::GuestUser => Kind::GuestUser,
            KindArg::ServicePrincipal => Kind::ServicePrincipal,
            KindArg::ManagedIdentity => Kind::ManagedIdentity,
            KindArg::MicrosoftApp => Kind::MicrosoftApp,
            KindArg::Unauthenticated => Kind::Unauthenticated,
            KindArg::Unknown => Kind::Unknown,
        }
    }
}

impl SelectArgs {
    /// The flags that leave out some callers' or operations' events
    /// (`--principal`, `--kind`, `--operation`, `--status`), named: with
    /// them, "unused" would only mean unused by the selection.
    pub(super) fn narrowing(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.principal.is_some() {
            v.push("--principal");
        }
        if !self.kind.is_empty() {
            v.push("--kind");
        }
        if !self.operation.is_empty() {
            v.push("--operation");
        }
        if self.status.is_some() {
            v.push("--status");
        }
        v
    }

    /// A usage error, worded by `why` from the narrowing flags given, when
    /// any is (see [`SelectArgs::narrowing`]).
    pub(super) fn refuse_narrowing(&self, why: impl Fn(&str) -> String) -> Result<()> {
        let n = self.narrowing();
        if n.is_empty() {
            Ok(())
        } else {
            Err(Error::Usage(why(&n.join(", "))))
        }
    }

    /// The `--vault` names, lower case.
    pub(super) fn vaults(&self) -> Vec<String> {
        self.vault
            .iter()
            .map(|v| v.trim().to_ascii_lowercase())
            .collect()
    }

    /// The selection these flags describe, checked (a reversed or empty
    /// period, an unknown status or duration is a usage error).
    pub(super) fn selection(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Selection> {
        Ok(Selection {
            window: Window::of(
                self.since.as_deref(),
                self.from.as_deref(),
                self.to.as_deref(),
                now,
            )?,
            vaults: self
                .vault
                .iter()
                .map(|v| v.trim().to_ascii_lowercase())
                .collect(),
            principal: self.principal.clone(),
            kinds: self.kind.iter().map(|k| (*k).into()).collect(),
            operations: self
                .operation
                .iter()
                .map(|o| o.trim().to_string())
                .collect(),
            status: self
                .status
                .as_deref()
                .map(StatusFilter::parse)
                .transpose()?,
            catalog: self.catalog.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Write to FILE instead of stdout (atomically; - means stdout). `report` takes several, each in the format of its extension.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Vec<String>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// The formats of commands that print rows (`callers`, `explain`).
#[derive(Debug, Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(super) enum RowFormat {
    /// Fitted to the terminal (the default).
    Table,
    /// A JSON array (the public contract).
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated, a header row.
    Csv,
    /// Tab-separated, a header row.
    Tsv,
    /// For a ticket or a wiki.
    Markdown,
}

impl From<RowFormat> for crate::render::Format {
    fn from(f: RowFormat) -> Self {
        use crate::render::Format as R;
        match f {
            RowFormat::Table => R::Table,
            RowFormat::Json => R::Json,
            RowFormat::Jsonl => R::Jsonl,
            RowFormat::Csv => R::Csv,
            RowFormat::Tsv => R::Tsv,
            RowFormat::Markdown => R::Markdown,
        }
    }
}

/// The format to write: `--format` when given, else the one `-o FILE`'s
/// extension names (.json .jsonl .csv .tsv .md .html .txt, .ocsf.json
/// .ocsf.jsonl), else
/// `default`. A `--format` the extension contradicts, or an extension the
/// command cannot write, is a usage error.
pub(super) fn format_for<F: clap::ValueEnum + Copy + PartialEq>(
    explicit: Option<F>,
    output: Option<&str>,
    default: F,
) -> Result<F> {
    let name = |f: F| {
        f.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    };
    let file = output.filter(|o| *o != "-");
    let ext = file
        .and_then(|o| std::path::Path::new(o).extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let lower = file.map(str::to_ascii_lowercase).unwrap_or_default();
    let by_ext = ext.as_deref().and_then(|e| match e {
        // OCSF findings: `findings.ocsf.json`, `findings.ocsf.jsonl`.
        "json" if lower.ends_with(".ocsf.json") => Some("ocsf"),
        "jsonl" if lower.ends_with(".ocsf.jsonl") => Some("ocsf-jsonl"),
        "json" => Some("json"),
        "jsonl" | "ndjson" => Some("jsonl"),
        "csv" => Some("csv"),
        "tsv" => Some("tsv"),
        "md" | "markdown" => Some("markdown"),
        "html" | "htm" => Some("html"),
        "txt" => Some("table"),
        "parquet" => Some("parquet"),
        _ => None,
    });
    let file = file.unwrap_or_default();
    match (explicit, by_ext) {
        // OCSF is JSON: `--format ocsf -o findings.json` agrees.
        (Some(f), Some(e))
            if name(f) == format!("ocsf-{e}") || (name(f) == "ocsf" && e == "json") =>
        {
            Ok(f)
        }
        (Some(f), Some(e))
            if F::from_str(e, true).is_ok_and(|x| x != f) || F::from_str(e, true).is_err() =>
        {
            Err(Error::Usage(format!(
                "-o {file}: the extension says {e}, but --format is {}; make them agree",
                name(f)
            )))
        }
        (Some(f), _) => Ok(f),
        (None, Some(e)) => F::from_str(e, true).map_err(|_| {
            let all: Vec<String> = F::value_variants().iter().map(|v| name(*v)).collect();
            Error::Usage(format!(
                "-o {file}: this command does not write {e} (it writes {}); pass --format",
                all.join(", ")
            ))
        }),
        (None, None) => Ok(default),
    }
}

impl OutputArgs {
    /// The one `-o FILE` of a command that writes one output.
    pub(super) fn single(&self) -> Result<Option<&str>> {
        match self.output.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(Error::Usage(
                "only one -o FILE here (kvaudit report takes several)".into(),
            )),
        }
    }

    /// Where output goes, checked against `inputs` before any work is done.
    pub(super) fn target(&self, inputs: &[String]) -> Result<Target> {
        Target::new(self.single()?, self.force, inputs)
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

/// Reads logs and access inventories (`queries/access-inventory.kql`, CSV
/// or API output) into the fold of `access`, `rights` and `plan-rbac`.
pub(super) fn read_usage(
    input: &InputArgs,
    fold: &mut crate::analyze::usage::UsageFold,
) -> Result<()> {
    let mut logs = Vec::new();
    for p in &input.paths {
        match ingest::access_inventory::read(p)? {
            Some(rows) => {
                input.refuse_selection_of(&format!("{p} is an access inventory"))?;
                note!(
                    "kvaudit: {p}: access inventory, {} row(s) (day x vault x caller x object x operation)",
                    rows.len()
                );
                rows.iter().for_each(|r| fold.add_inventory(r));
            }
            None => logs.push(p.clone()),
        }
    }
    if !logs.is_empty() {
        let logs = InputArgs {
            paths: logs,
            ..input.clone()
        };
        read_into(&logs, fold, Fields::Usage)?;
    }
    Ok(())
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
    let selection = input.select.selection(chrono::Utc::now())?;
    let opts = ReadOptions {
        skip_invalid: input.skip_invalid,
        fields,
        period: (selection.window.from, selection.window.to),
        ..Default::default()
    };
    let ing = if selection.is_everything() {
        ingest::read_into(&input.paths, &opts, sink)?
    } else {
        let mut selected = Selected::new(sink, Arc::new(selection), !input.window_in_fold);
        let mut ing = ingest::read_into(&input.paths, &opts, &mut selected)?;
        ing.selected_out = selected.outside;
        if selected.outside > 0 && selected.outside >= ing.rows_kept() {
            note!(
                "kvaudit: warning: no event matches the selection flags: all {} event(s) read were left out; check --vault, --principal, --kind, --operation, --status and the period",
                selected.outside
            );
        } else if selected.outside > 0 {
            note!(
                "kvaudit: {} event(s) outside the selection were left out",
                selected.outside
            );
        }
        ing
    };
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
