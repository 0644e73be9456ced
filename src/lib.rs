//! kvaudit: reads Azure Key Vault audit logs in any export shape, decodes
//! every caller, explains every denial and reports for reviewers.
//!
//! Data flow: [`ingest`] (one reader per shape) → [`normalize`] (canonical
//! events) → [`identify`] (who) → [`callers`] (aggregate) → [`report`]
//! (renderers). [`run`] is the whole program; `main.rs` only maps its result
//! to an exit code.

pub mod assignments;
pub mod audit;
pub mod callers;
pub mod cli;
pub mod error;
pub mod event;
pub mod exit;
pub mod explain;
pub mod fast;
pub mod findings;
pub mod identify;
pub mod ingest;
pub mod inventory;
pub mod knowledge;
pub mod normalize;
pub mod output;
pub mod pull;
pub mod report;
pub mod resolve;
pub mod synth;
pub mod token;

use clap::Parser;
use cli::{CallersFormat, Cli, Command, EventsFormat, ExplainFormat, InputArgs, ReportFormat};
use error::{Error, Result};
use exit::Exit;
use ingest::{Detail, Ingested, ReadOptions};
use output::Target;
use report::{Renderer, View};
use std::ffi::OsString;
use std::io::Write;

/// Parses arguments and runs one command.
pub fn run<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
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
    match execute(cli) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => Exit::Ok,
        Err(e) => {
            eprintln!("kvaudit: error: {e}");
            match e {
                Error::Usage(_) | Error::NoInput => Exit::Usage,
                _ => Exit::Error,
            }
        }
    }
}

/// Caller inventories are aggregates: only `callers` reads them.
fn refuse_inventories(paths: &[String]) -> Result<()> {
    for p in paths {
        if inventory::read(p)?.is_some() {
            return Err(Error::Usage(format!(
                "{p} is a caller inventory (pre-aggregated by queries/caller-inventory.kql), not events: only `kvaudit callers` reads it; export raw events (queries/azurediagnostics-export.kql) for this command"
            )));
        }
    }
    Ok(())
}

fn read(input: &InputArgs) -> Result<Ingested> {
    let mut events = Vec::new();
    let mut ing = read_with(input, &mut events, Detail::Full)?;
    ing.events = events;
    Ok(ing)
}

/// Reads every input into `sink`, reporting skips (and `--stats`) on stderr.
/// Caller inventories are refused here: only `callers` (which reads them
/// itself) takes aggregates.
fn read_with(input: &InputArgs, sink: &mut dyn ingest::Sink, detail: Detail) -> Result<Ingested> {
    refuse_inventories(&input.paths)?;
    read_opts(input, sink, detail)
}

/// [`read_with`], keeping the event fields `detail` names.
fn read_opts(input: &InputArgs, sink: &mut dyn ingest::Sink, detail: Detail) -> Result<Ingested> {
    let opts = ReadOptions {
        skip_invalid: input.skip_invalid,
        detail,
    };
    let ing = ingest::read_into(&input.paths, &opts, sink)?;
    for f in &ing.files {
        if let Some(first) = &f.first_invalid {
            let n = f.rows_skipped.get("invalid").copied().unwrap_or(0);
            eprintln!(
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
            eprintln!(
                "kvaudit: {}: skipped {other} row(s) that are not Key Vault audit events",
                f.source
            );
        }
    }
    if input.stats {
        for f in &ing.files {
            let skipped: Vec<String> = f
                .rows_skipped
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            eprintln!(
                "kvaudit: stats: {} [{}]: read {} kept {} skipped {} ({})",
                f.source,
                f.shape,
                f.rows_read,
                f.rows_kept,
                f.rows_skipped.values().sum::<u64>(),
                if skipped.is_empty() {
                    "none".to_string()
                } else {
                    skipped.join(", ")
                }
            );
        }
        let by_reason = ing.rows_skipped();
        let skipped: u64 = by_reason.values().sum();
        let reasons: Vec<String> = by_reason.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!(
            "kvaudit: stats: total: files {} (skipped {}) read {} kept {} skipped {} ({})",
            ing.files.len(),
            ing.files_skipped.len(),
            ing.rows_read(),
            ing.rows_kept(),
            skipped,
            if reasons.is_empty() {
                "none".to_string()
            } else {
                reasons.join(", ")
            }
        );
    }
    Ok(ing)
}

/// Streams `write` to stdout (buffered) or atomically to a file.
fn emit(target: &Target, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    match target {
        Target::Stdout => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            write(&mut w)
                .and_then(|_| w.flush())
                .map_err(|e| Error::io("<stdout>", e))
        }
        Target::File { path, force } => output::write_atomic(path, *force, write),
    }
}

fn execute(cli: Cli) -> Result<Exit> {
    let color = output::use_color(cli.color);
    match cli.command {
        Command::Events {
            input,
            format,
            output,
        } => {
            let target = Target::new(output.output.as_deref(), output.force, &input.paths)?;
            // Streams: each event is written as it is read.
            let mut failed: Option<Error> = None;
            let written = emit(&target, |w: &mut dyn Write| {
                let mut sink = EventWriter::new(w, format)?;
                if let Err(e) = read_with(&input, &mut sink, Detail::Full) {
                    failed = Some(e);
                    // An output file is then discarded, never left half-written.
                    return Err(std::io::Error::other("input error"));
                }
                sink.finish()
            });
            match (failed, written) {
                (Some(e), _) => Err(e),
                (None, r) => r.map(|()| Exit::Ok),
            }
        }
        Command::Synth {
            rows,
            shape,
            seed,
            days,
            output,
        } => {
            let target = Target::new(output.output.as_deref(), output.force, &[])?;
            let cfg = synth::SynthConfig {
                rows,
                shape,
                seed,
                days,
            };
            emit(&target, |w: &mut dyn Write| synth::synth(&cfg, w))?;
            Ok(Exit::Ok)
        }
        Command::Callers {
            input,
            format,
            directory,
            resolve,
            output,
        } => {
            let target = Target::new(output.output.as_deref(), output.force, &input.paths)?;
            let mut catalog = load_catalog(&directory)?;
            // Streams: one accumulator per caller, never the events. Caller
            // inventories (queries/caller-inventory.kql) merge in directly.
            let mut fold = callers::CallerFold::default();
            let mut logs = Vec::new();
            for p in &input.paths {
                match inventory::read(p)? {
                    Some(rows) => {
                        eprintln!(
                            "kvaudit: {p}: caller inventory, {} row(s) (caller x vault x day)",
                            rows.len()
                        );
                        rows.iter().for_each(|r| fold.add_inventory(r));
                    }
                    None => logs.push(p.clone()),
                }
            }
            if !logs.is_empty() || input.paths.is_empty() {
                read_opts(
                    &InputArgs {
                        paths: logs,
                        ..input.clone()
                    },
                    &mut fold,
                    Detail::Callers,
                )?;
            }
            resolve_into(&mut catalog, &resolve, &fold.principals())?;
            let rows = fold.rows(&catalog);
            let renderer: Box<dyn Renderer> = match format {
                CallersFormat::Table => Box::new(report::Table {
                    color: color && target.is_stdout(),
                }),
                CallersFormat::Json => Box::new(report::Json),
                CallersFormat::Csv => Box::new(report::Csv),
            };
            target.write(&renderer.render(&View::Callers(&rows))?)?;
            Ok(Exit::Ok)
        }
        cmd @ Command::Report { .. } => report_cmd(cmd, color),
        cmd @ Command::Token { .. } => token_cmd(cmd),
        cmd @ Command::Pull { .. } => pull_cmd(cmd),
        cmd @ Command::Explain { .. } => explain_cmd(cmd, color),
    }
}

fn explain_cmd(cmd: Command, color: bool) -> Result<Exit> {
    let Command::Explain {
        paths,
        message,
        skip_invalid,
        stats,
        format,
        directory,
        assignments,
        resolve,
        output,
    } = cmd
    else {
        unreachable!("explain_cmd is only called for explain")
    };
    let input = InputArgs {
        paths,
        skip_invalid,
        stats,
    };
    let (directory, assignments, resolve) = (&directory, assignments.as_deref(), &resolve);
    let target = Target::new(output.output.as_deref(), output.force, &input.paths)?;
    let mut catalog = load_catalog(directory)?;
    let held = match assignments {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            assignments::parse(&text, p)?
        }
        None => Vec::new(),
    };
    let mut findings = match message {
        Some(m) => {
            let text = if m == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| Error::io("<stdin>", e))?;
                s
            } else {
                m
            };
            match explain::explain_message(&text, &catalog) {
                Some(f) => vec![f],
                None => {
                    return Err(Error::Other(
                        "this text is not a Key Vault authorization error: expected \"Caller is not authorized\" / ForbiddenByRbac, \"does not have ... permission on key vault\", or \"Client address is not authorized\"".into(),
                    ))
                }
            }
        }
        None => {
            // Streams: denials are grouped as they are read.
            let mut fold = explain::ExplainFold::default();
            read_with(&input, &mut fold, Detail::Analysis)?;
            resolve_into(&mut catalog, resolve, &fold.principals())?;
            let ex = fold.finish(&catalog);
            let n = &ex.noise;
            eprintln!(
                "kvaudit: {} finding(s); not denials: {} bearer challenge(s) (401), {} not found (404), {} conflict (409), {} bad request (400)",
                ex.findings.len(),
                n.bearer_challenges,
                n.not_found,
                n.conflict,
                n.bad_request
            );
            ex.findings
        }
    };
    assignments::apply(&mut findings, &held);
    let renderer: Box<dyn Renderer> = match format {
        ExplainFormat::Table => Box::new(report::Table {
            color: color && target.is_stdout(),
        }),
        ExplainFormat::Json => Box::new(report::Json),
        ExplainFormat::Markdown => Box::new(report::Markdown),
    };
    target.write(&renderer.render(&View::Findings(&findings))?)?;
    Ok(Exit::Ok)
}

fn report_cmd(cmd: Command, color: bool) -> Result<Exit> {
    let Command::Report {
        input,
        format,
        policy,
        fail_on,
        redact,
        baseline,
        since,
        from,
        to,
        directory,
        resolve,
        output,
    } = cmd
    else {
        return Err(Error::Other("internal: not a report command".into()));
    };
    let target = Target::new(output.output.as_deref(), output.force, &input.paths)?;
    let policy: findings::Policy = match &policy {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            toml::from_str(&text).map_err(|e| Error::Usage(format!("{p}: invalid policy: {e}")))?
        }
        None => findings::Policy::default(),
    };
    let baseline = match &baseline {
        Some(b) => {
            let text = std::fs::read_to_string(b).map_err(|e| Error::io(b, e))?;
            Some(audit::load_baseline(&text, b)?)
        }
        None => None,
    };
    let now = chrono::Utc::now();
    let window = audit::Window {
        from: match (&since, &from) {
            (Some(s), _) => Some(now - audit::parse_since(s)?),
            (None, Some(f)) => Some(audit::parse_instant("--from", f)?),
            _ => None,
        },
        to: to
            .as_deref()
            .map(|t| audit::parse_instant("--to", t))
            .transpose()?,
    };
    let mut catalog = load_catalog(&directory)?;
    // Streams: the events are folded into the report as they are read.
    let mut fold = audit::ReportFold::new(window, &policy, redact);
    // The redactor looks at every field of every event.
    let detail = if redact {
        Detail::Analysis
    } else {
        Detail::Report
    };
    let ing = read_with(&input, &mut fold, detail)?;
    resolve_into(&mut catalog, &resolve, &fold.principals())?;
    let opts = audit::Options {
        window,
        policy: &policy,
        baseline,
        now,
        inputs: ing.files.iter().map(|f| f.source.clone()).collect(),
    };
    let (report, redactor) = fold.finish(&ing, &catalog, &opts);
    let renderer: Box<dyn Renderer> = match format {
        ReportFormat::Table => Box::new(report::Table {
            color: color && target.is_stdout(),
        }),
        ReportFormat::Json => Box::new(report::Json),
        ReportFormat::Markdown => Box::new(report::Markdown),
        ReportFormat::Html => Box::new(report::Html),
    };
    let mut bytes = renderer.render(&View::Report(&report))?;
    if let Some(r) = redactor {
        bytes = r.apply(&String::from_utf8_lossy(&bytes)).into_bytes();
    }
    target.write(&bytes)?;
    let level = fail_on.map(|l| match l {
        cli::Level::Low => findings::Severity::Low,
        cli::Level::Medium => findings::Severity::Medium,
        cli::Level::High => findings::Severity::High,
    });
    match level {
        Some(l) if audit::exceeds(&report, l) => {
            eprintln!(
                "kvaudit: findings at or above --fail-on {l:?} remain",
                l = l
            );
            Ok(Exit::Findings)
        }
        _ => Ok(Exit::Ok),
    }
}

fn token_cmd(cmd: Command) -> Result<Exit> {
    let Command::Token {
        token,
        file,
        verify,
        jwks,
        authority,
        audience,
        logs,
        format,
    } = cmd
    else {
        return Err(Error::Other("internal: not a token command".into()));
    };
    use std::io::IsTerminal;
    let raw = if let Some(f) = &file {
        std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?
    } else if let Some(t) = token {
        eprintln!("kvaudit: warning: a token on the command line is visible to other users (ps, shell history); prefer stdin, --file or KVAUDIT_TOKEN");
        t
    } else if let Some(t) = std::env::var("KVAUDIT_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        t
    } else if !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io("<stdin>", e))?;
        s
    } else {
        return Err(Error::Usage(
            "no token: pipe it on stdin, use --file FILE or set KVAUDIT_TOKEN".into(),
        ));
    };
    let (header, claims) = token::parse(&raw)?;
    let catalog = load_catalog(&[])?;
    let mut verified = false;
    if verify {
        let source = match jwks {
            Some(f) => token::KeySource::File(f),
            None => token::KeySource::Discovery(authority),
        };
        token::verify(&raw, &claims, &source, &audience)?;
        verified = true;
    }
    let decoded = token::describe(&header, &claims, &catalog, chrono::Utc::now(), verified);
    let mut related = None;
    if !logs.is_empty() {
        let ing = read(&InputArgs {
            paths: logs,
            skip_invalid: false,
            stats: false,
        })?;
        let key = decoded.oid.clone().or(decoded.appid.clone());
        let mine: Vec<event::Event> = ing
            .events
            .into_iter()
            .filter(|e| {
                key.is_some()
                    && (e.caller_oid.as_deref() == key.as_deref()
                        || (decoded.oid.is_none() && e.caller_appid.as_deref() == key.as_deref()))
            })
            .collect();
        let ex = explain::explain(&mine, &catalog);
        related = Some((mine, ex.findings));
    }
    let mut out = Vec::new();
    match format {
        cli::TokenFormat::Json => {
            let mut v = serde_json::to_value(&decoded).map_err(|e| Error::Output(e.to_string()))?;
            if let Some((evs, findings)) = &related {
                v["events"] = serde_json::Value::from(evs.len());
                v["operations"] = serde_json::to_value(
                    evs.iter()
                        .map(|e| e.operation.to_string())
                        .collect::<std::collections::BTreeSet<_>>(),
                )
                .unwrap_or_default();
                v["denials"] =
                    serde_json::to_value(findings).map_err(|e| Error::Output(e.to_string()))?;
            }
            out = serde_json::to_vec_pretty(&v).map_err(|e| Error::Output(e.to_string()))?;
            out.push(b'\n');
        }
        cli::TokenFormat::Table => {
            let v = serde_json::to_value(&decoded).map_err(|e| Error::Output(e.to_string()))?;
            if let Some(m) = v.as_object() {
                for (k, val) in m {
                    let text = match val {
                        serde_json::Value::Null => continue,
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Array(a) if a.is_empty() => continue,
                        serde_json::Value::Array(a) => a
                            .iter()
                            .map(|x| {
                                x.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| x.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                        other => other.to_string(),
                    };
                    out.extend_from_slice(format!("{k:<22} {text}\n").as_bytes());
                }
            }
            if let Some((evs, findings)) = &related {
                out.extend_from_slice(
                    format!("{:<22} {}\n", "events in logs", evs.len()).as_bytes(),
                );
                out.extend(report::Table { color: false }.render(&View::Findings(findings))?);
            }
        }
    }
    Target::Stdout.write(&out)?;
    Ok(Exit::Ok)
}

fn pull_cmd(cmd: Command) -> Result<Exit> {
    let Command::Pull {
        workspace,
        table,
        query,
        timespan,
        endpoint,
        token_stdin,
        row_limit,
        retries,
        timeout,
        output,
    } = cmd
    else {
        return Err(Error::Other("internal: not a pull command".into()));
    };
    let target = Target::new(output.output.as_deref(), output.force, &[])?;
    let query = match &query {
        Some(f) => std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?,
        None => match table {
            cli::Table::Azurediagnostics => pull::AZDIAG_QUERY.to_string(),
            cli::Table::Azkvauditlogs => pull::AZKV_QUERY.to_string(),
        },
    };
    let token = if token_stdin {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::io("<stdin>", e))?;
        s.trim().to_string()
    } else {
        pull::token_from_env()?
    };
    let to = chrono::Utc::now();
    let cfg = pull::PullConfig {
        endpoint,
        workspace,
        query,
        from: to - pull::parse_timespan(&timespan)?,
        to,
        token,
        row_limit: row_limit.max(1),
        max_attempts: retries.max(1),
        timeout: std::time::Duration::from_secs(timeout),
        max_backoff: std::time::Duration::from_secs(60),
    };
    let resp = pull::pull(&cfg)?;
    let mut bytes = serde_json::to_vec(&resp).map_err(|e| Error::Output(e.to_string()))?;
    bytes.push(b'\n');
    target.write(&bytes)?;
    Ok(Exit::Ok)
}

/// `--resolve`: names from Microsoft Graph (cached).
fn resolve_into(
    catalog: &mut identify::Catalog,
    args: &cli::ResolveArgs,
    principals: &[(Option<&str>, Option<&str>)],
) -> Result<()> {
    if !args.resolve {
        return Ok(());
    }
    let cfg = resolve::GraphConfig {
        endpoint: args.graph_endpoint.clone(),
        token: resolve::graph_token()?,
        cache: args
            .resolve_cache
            .clone()
            .map(Into::into)
            .unwrap_or_else(resolve::default_cache),
        ttl: chrono::Duration::hours(args.resolve_ttl_hours.max(0)),
    };
    let (fetched, named) = resolve::resolve(principals, catalog, &cfg)?;
    eprintln!(
        "kvaudit: resolved {named} principal(s) ({fetched} fetched from Graph, the rest from {})",
        cfg.cache.display()
    );
    Ok(())
}

/// The bundled Microsoft catalog plus any `--directory` files.
pub fn load_catalog(directory: &[String]) -> Result<identify::Catalog> {
    let mut catalog = identify::Catalog::bundled();
    for d in directory {
        let text = std::fs::read_to_string(d).map_err(|e| Error::io(d, e))?;
        catalog.load_directory(&text, d).map_err(Error::Other)?;
    }
    Ok(catalog)
}

/// Streams canonical events as JSON Lines or CSV.
/// Writes events as they arrive (JSON Lines or CSV). The first write error
/// is kept and returned by [`EventWriter::finish`].
struct EventWriter<'w> {
    out: EventOut<'w>,
}

enum EventOut<'w> {
    Jsonl(&'w mut dyn Write),
    Csv(Box<csv::Writer<&'w mut dyn Write>>),
}

impl<'w> EventWriter<'w> {
    fn new(w: &'w mut dyn Write, format: EventsFormat) -> std::io::Result<Self> {
        let out = match format {
            EventsFormat::Jsonl => EventOut::Jsonl(w),
            EventsFormat::Csv => {
                let mut cw = csv::Writer::from_writer(w);
                cw.write_record(event::COLUMNS)?;
                EventOut::Csv(Box::new(cw))
            }
        };
        Ok(EventWriter { out })
    }

    fn finish(self) -> std::io::Result<()> {
        match self.out {
            EventOut::Jsonl(w) => w.flush(),
            EventOut::Csv(mut cw) => cw.flush(),
        }
    }
}

impl ingest::Sink for EventWriter<'_> {
    /// A write error (a closed pipe, a full disk) stops the reading.
    fn event(&mut self, e: event::Event) -> Result<()> {
        let r = match &mut self.out {
            EventOut::Jsonl(w) => serde_json::to_writer(&mut **w, &e)
                .map_err(std::io::Error::from)
                .and_then(|()| w.write_all(b"\n")),
            EventOut::Csv(cw) => cw.write_record(e.csv_cells()).map_err(std::io::Error::from),
        };
        r.map_err(|err| Error::io("<output>", err))
    }
}
