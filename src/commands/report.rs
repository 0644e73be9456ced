//! `kvaudit report`: the compliance report (summary, callers, findings)
//! over a time window, for reviewers, CI jobs and SIEMs.

use super::args::{
    format_for, load_catalog, read_file, read_into, resolve_into, InputArgs, NamingArgs, OutputArgs,
};
use super::Context;
use crate::analyze::findings::{Policy, Severity};
use crate::analyze::redact::{key_file, Redactor};
use crate::analyze::report::{exceeds, load_baseline, Options, ReportFold};
use crate::collections::FreedAside;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::limits;
use crate::output::{note, Target};
use crate::pipeline::Fields;
use crate::render::fit::human_time;
use crate::render::{renderer_for, Format as Rendered, Ocsf, OcsfVersion, Renderer, View};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Output format (default table; or from the -o file's extension: .json .jsonl .md .html .ocsf.json .ocsf.jsonl).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Policy file (kvaudit.toml): allowed user-bound principals, thresholds, severities, ignored principals.
    #[arg(long, value_name = "FILE")]
    policy: Option<String>,
    /// Exit 3 when a finding at or above this severity remains.
    #[arg(long, value_enum)]
    fail_on: Option<Level>,
    /// Replace upns, user names, GUIDs (oids, appids, tenant and subscription ids), IP addresses and tokens with keyed pseudonyms.
    #[arg(long)]
    redact: bool,
    /// Key for --redact pseudonyms (created, readable by you only, if FILE does not exist): reports redacted with the same key stay comparable. Without it the key is random and kept nowhere.
    #[arg(long, value_name = "FILE", requires = "redact")]
    redact_key: Option<String>,
    /// With --fail-on: a period holding no events is not an error (by default it is: nothing was checked).
    #[arg(long)]
    allow_empty: bool,
    /// A previous report (JSON): principals absent from it are new callers.
    #[arg(long, value_name = "FILE")]
    baseline: Option<String>,
    /// JSON from `az role assignment list --all`: adds broader_than_used and unused_assignment findings (see `kvaudit rights`).
    #[arg(long, value_name = "FILE")]
    assignments: Option<String>,
    /// JSON from `az keyvault secret list` / `key list` / `certificate list` (repeatable): adds dormant_object findings and lists untouched objects.
    #[arg(long, value_name = "FILE")]
    objects: Vec<String>,
    /// User-bound automation and mass retrieval on the people behind AzureDatabricks (see `kvaudit attribute`).
    #[command(flatten)]
    databricks: super::attribute::DatabricksArgs,
    /// OCSF version of --format ocsf/ocsf-jsonl: 1.5 (every finding a Detection Finding) or 1.6 (least-privilege results as IAM Analysis Findings, class 2008).
    #[arg(long, value_enum, default_value = "1.5", value_name = "VERSION")]
    ocsf_version: OcsfArg,
    #[command(flatten)]
    naming: NamingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OcsfArg {
    #[value(name = "1.5")]
    V15,
    #[value(name = "1.6")]
    V16,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Fitted to the terminal (the default).
    Table,
    /// One JSON document (the public contract, with schema_version).
    Json,
    /// The same document on one line.
    Jsonl,
    Markdown,
    /// One offline HTML file.
    Html,
    /// The findings as OCSF Detection Findings (a JSON array; see --ocsf-version), for SIEMs and security hubs.
    Ocsf,
    /// The same, one event per line.
    OcsfJsonl,
}

impl From<Format> for Rendered {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => Rendered::Table,
            Format::Json => Rendered::Json,
            Format::Jsonl => Rendered::Jsonl,
            Format::Markdown => Rendered::Markdown,
            Format::Html => Rendered::Html,
            Format::Ocsf => Rendered::Ocsf,
            Format::OcsfJsonl => Rendered::OcsfJsonl,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Level {
    Low,
    Medium,
    High,
}

impl From<Level> for Severity {
    fn from(l: Level) -> Self {
        match l {
            Level::Low => Severity::Low,
            Level::Medium => Severity::Medium,
            Level::High => Severity::High,
        }
    }
}

pub(super) fn run(args: ReportArgs, ctx: &Context) -> Result<Exit> {
    let input = &args.input;
    // Nothing kvaudit writes may replace what it reads.
    let protected = [
        &input.paths[..],
        &args.naming.directory[..],
        args.baseline.as_slice(),
        args.policy.as_slice(),
        args.redact_key.as_slice(),
        args.assignments.as_slice(),
        &args.objects[..],
        &args.databricks.paths()[..],
    ]
    .concat();
    // Each -o FILE in its own format (several only by extension), all
    // checked before the logs are read, which they are once.
    let outputs: Vec<(Target, Format)> = match args.output.output.as_slice() {
        [] | [_] => {
            let one = args.output.single()?;
            vec![(
                Target::new(one, args.output.force, &protected)?,
                format_for(args.format, one, Format::Table)?,
            )]
        }
        many => {
            if args.format.is_some() {
                return Err(Error::Usage(
                    "with several -o FILE each takes its format from its extension; leave out --format".into(),
                ));
            }
            let mut v = Vec::new();
            for o in many {
                let f = format_for(None, Some(o), Format::Table)?;
                if o.ends_with(".txt") || !o.contains('.') {
                    return Err(Error::Usage(format!(
                        "-o {o}: with several outputs each needs an extension naming its format (.json .jsonl .md .html)"
                    )));
                }
                v.push((Target::new(Some(o), args.output.force, &protected)?, f));
            }
            v
        }
    };
    args.naming.resolve.cache(&protected)?;
    let policy: Policy = match &args.policy {
        Some(p) => toml::from_str(&read_file(p, limits::CONFIG_FILE, "a policy file")?)
            .map_err(|e| Error::Usage(format!("{p}: invalid policy: {e}")))?,
        None => Policy::default(),
    };
    let redactor = match (&args.redact, &args.redact_key) {
        (false, _) => None,
        (true, Some(f)) => Some(Redactor::new(key_file(std::path::Path::new(f))?)?),
        (true, None) => {
            if args.baseline.is_some() {
                note!("kvaudit: warning: --redact without --redact-key uses a random key: a redacted --baseline cannot be matched (every caller would look new); pass the --redact-key FILE the baseline was made with");
            }
            Some(Redactor::random()?)
        }
    };
    let baseline = match &args.baseline {
        Some(b) => Some(load_baseline(
            &read_file(b, limits::EXPORT_FILE, "a baseline report")?,
            b,
        )?),
        None => None,
    };
    let now = chrono::Utc::now();
    // The report applies the window itself, to count what is outside it.
    let window = input.select.selection(now)?.window;
    let mut catalog = load_catalog(&args.naming.directory)?;
    // Streams: the events are folded into the report as they are read.
    let mut fold = ReportFold::new(window, &policy);
    if !args.databricks.databricks.is_empty() {
        if input.select.principal.is_some() || !input.select.kind.is_empty() {
            return Err(Error::Usage(
                "--databricks with --principal or --kind: the people behind AzureDatabricks are named from its reads, which the selection leaves out".into(),
            ));
        }
        fold = fold.with_databricks(args.databricks.scopes.is_some());
    }
    let input = InputArgs {
        window_in_fold: true,
        ..input.named_by(&catalog, args.naming.resolve.resolve)
    };
    let held = match &args.assignments {
        Some(p) => Some(crate::analyze::explain::assignments::parse(
            &read_file(p, limits::EXPORT_FILE, "a role assignment list")?,
            p,
        )?),
        None => None,
    };
    let mut listed = Vec::new();
    for f in &args.objects {
        let text = read_file(f, limits::EXPORT_FILE, "an object listing")?;
        listed.extend(crate::ingest::objects::parse(&text, f)?);
    }
    let narrowing = input.select.narrowing();
    let (held, mut listed) = if !narrowing.is_empty() && (held.is_some() || !listed.is_empty()) {
        note!(
            "kvaudit: warning: with {} the findings on assignments and dormant objects are left out: unused by the selection is not unused",
            narrowing.join(", ")
        );
        (None, Vec::new())
    } else {
        (held, listed)
    };
    let vaults = input.select.vaults();
    if !vaults.is_empty() {
        listed.retain(|l| vaults.contains(&l.vault));
    }
    let with_objects = !args.objects.is_empty() && narrowing.is_empty();
    // Judging assignments needs every vault's resource id, which the lean
    // read of successes drops when an export has a Resource column.
    let fields = if held.is_some() {
        Fields::Analysis
    } else if args.databricks.databricks.is_empty() {
        Fields::Report
    } else {
        Fields::ReportDatabricks
    };
    let ing = read_into(&input, &mut fold, fields)?;
    let (attribution, attributed) = match fold.take_databricks() {
        Some(reads) => {
            let (a, matched) = args.databricks.attribute(reads, input.skip_invalid, true)?;
            let found = match matched {
                Some(m) => crate::analyze::findings::attributed_findings(&policy, m)?,
                None => Vec::new(),
            };
            (Some(a), Some(found))
        }
        None => (None, None),
    };
    resolve_into(
        &mut catalog,
        &args.naming.resolve,
        &fold.principals(),
        &protected,
    )?;
    let opts = Options {
        window,
        policy: &policy,
        baseline,
        redactor: redactor.as_ref(),
        now,
        inputs: ing.files.iter().map(|f| f.source.clone()).collect(),
        assignments: held.as_deref(),
        listed: with_objects.then_some(listed.as_slice()),
        vaults,
        attributed: attributed.as_deref(),
    };
    // Freed on a thread of its own: freeing a large report's millions of
    // strings one by one would only delay the exit.
    let mut report = FreedAside(Some(fold.finish(&ing, &catalog, &opts)));
    report.attribution = attribution;
    // Outside the selection flags counts as outside the period.
    report.summary.rows_outside_period += ing.selected_out;
    if report.summary.events == 0 && report.summary.rows_kept > 0 {
        note!(
            "kvaudit: warning: the selection holds no events: all {} Key Vault event(s) read are outside it; the report says nothing about them",
            report.summary.rows_kept
        );
    }
    // Redacted as data, before any format escapes it.
    if let Some(r) = &redactor {
        let redacted = report.redacted(r)?;
        drop(FreedAside(Some(std::mem::replace(&mut *report, redacted))));
    }
    for (target, format) in &outputs {
        let renderer: Box<dyn Renderer> = match format {
            Format::Ocsf | Format::OcsfJsonl => Box::new(Ocsf {
                lines: *format == Format::OcsfJsonl,
                version: match args.ocsf_version {
                    OcsfArg::V15 => OcsfVersion::V1_5,
                    OcsfArg::V16 => OcsfVersion::V1_6,
                },
            }),
            _ => renderer_for((*format).into(), ctx.human(target, false)),
        };
        // Written as it is rendered: a large report is never held as bytes.
        target.write_with(|w| renderer.render_to(&View::Report(&report), w))?;
    }
    let Some(level) = args.fail_on.map(Severity::from) else {
        return Ok(Exit::Ok);
    };
    if report.summary.events == 0 && !args.allow_empty {
        let period = |t: &Option<String>| t.as_deref().map_or("-".into(), human_time);
        return Err(Error::Other(format!(
            "the selection (period {} to {}) holds no events ({} rows read, {} outside the selection): nothing was checked, so --fail-on cannot pass; widen the period or the other selection flags, or pass --allow-empty",
            period(&report.period.from),
            period(&report.period.to),
            report.summary.rows_read,
            report.summary.rows_outside_period
        )));
    }
    if !exceeds(&report, level) {
        return Ok(Exit::Ok);
    }
    let mut at: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= level)
        .collect();
    at.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let count = |s: Severity| at.iter().filter(|f| f.severity == s).count();
    let by: Vec<String> = [Severity::High, Severity::Medium, Severity::Low]
        .into_iter()
        .filter(|s| *s >= level)
        .map(|s| format!("{} {}", count(s), format!("{s:?}").to_lowercase()))
        .collect();
    note!(
        "kvaudit: {} finding(s) at or above --fail-on {} ({}):",
        at.len(),
        format!("{level:?}").to_lowercase(),
        by.join(", ")
    );
    for f in at.iter().take(5) {
        note!(
            "kvaudit:   {} {} {}{}",
            format!("{:?}", f.severity).to_lowercase(),
            f.kind,
            crate::render::words::principal(&f.principal),
            f.vault
                .as_deref()
                .map(|v| format!(" on {v}"))
                .unwrap_or_default()
        );
    }
    if at.len() > 5 {
        note!("kvaudit:   (+{} more)", at.len() - 5);
    }
    Ok(Exit::Findings)
}
