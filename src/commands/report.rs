//! `kvaudit report`: the compliance report (summary, callers, findings)
//! over a time window, for reviewers, CI jobs and SIEMs.

use super::args::{
    load_catalog, read_file, read_into, resolve_into, InputArgs, NamingArgs, OutputArgs,
};
use super::Context;
use crate::analyze::findings::{Policy, Severity};
use crate::analyze::redact::{key_file, Redactor};
use crate::analyze::report::{
    exceeds, load_baseline, parse_instant, parse_since, Options, ReportFold, Window,
};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::limits;
use crate::output::note;
use crate::pipeline::Fields;
use crate::render::{renderer_for, Format as Rendered, View};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    input: InputArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
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
    /// A previous report (JSON): principals absent from it are new callers.
    #[arg(long, value_name = "FILE")]
    baseline: Option<String>,
    /// Only events in the last DURATION (30d, 12h, 2w), counted back from now.
    #[arg(long, value_name = "DURATION", conflicts_with = "from")]
    since: Option<String>,
    /// Only events at or after this date/time (2025-03-01 or RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Only events before this date/time.
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    naming: NamingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Markdown,
    Html,
}

impl From<Format> for Rendered {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => Rendered::Table,
            Format::Json => Rendered::Json,
            Format::Markdown => Rendered::Markdown,
            Format::Html => Rendered::Html,
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
    ]
    .concat();
    let target = args.output.target(&protected)?;
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
    let window = Window {
        from: match (&args.since, &args.from) {
            (Some(s), _) => Some(now - parse_since(s)?),
            (None, Some(f)) => Some(parse_instant("--from", f)?),
            _ => None,
        },
        to: args
            .to
            .as_deref()
            .map(|t| parse_instant("--to", t))
            .transpose()?,
    };
    if let (Some(f), Some(t)) = (window.from, window.to) {
        if f >= t {
            return Err(Error::Usage(format!(
                "the period is empty: --from/--since ({}) is not before --to ({}); swap them?",
                crate::event::format_time(&f),
                crate::event::format_time(&t)
            )));
        }
    }
    let mut catalog = load_catalog(&args.naming.directory)?;
    // Streams: the events are folded into the report as they are read.
    let mut fold = ReportFold::new(window, &policy);
    let ing = read_into(input, &mut fold, Fields::Report)?;
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
    };
    let mut report = fold.finish(&ing, &catalog, &opts);
    // Redacted as data, before any format escapes it.
    if let Some(r) = &redactor {
        report = report.redacted(r)?;
    }
    let renderer = renderer_for(args.format.into(), ctx.human(&target, false));
    let bytes = renderer.render(&View::Report(&report))?;
    target.write(&bytes)?;
    match args.fail_on.map(Severity::from) {
        Some(l) if exceeds(&report, l) => {
            note!("kvaudit: findings at or above --fail-on {l:?} remain");
            Ok(Exit::Findings)
        }
        _ => Ok(Exit::Ok),
    }
}
