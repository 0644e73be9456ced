//! `kvaudit token`: decodes an access token (never printing the signature
//! or the whole token), optionally verifies it, and ties it to the logs.

use super::args::{load_catalog, read_file, read_into, read_stdin, InputArgs};
use super::Context;
use crate::analyze::explain::{Denial, ExplainFold};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::exit::Exit;
use crate::identify::token::{describe, parse, Decoded};
use crate::limits;
use crate::online::jwks::{verify, Expected, KeySource};
use crate::output::{note, Target};
use crate::pipeline::{Fields, Sink};
use crate::render::escape::printable;
use crate::render::{Renderer, Table, View};
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::collections::BTreeSet;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token itself (discouraged: command lines are visible to other users).
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
    /// Read the token from FILE.
    #[arg(long, value_name = "FILE")]
    file: Option<String>,
    /// Verify the signature (RS256), issuer, tenant, audience and times against --tenant.
    #[arg(long, requires = "tenant")]
    verify: bool,
    /// The tenant id the token must come from (a GUID): sets the expected issuer and where keys are discovered.
    #[arg(long, value_name = "GUID")]
    tenant: Option<String>,
    /// The exact issuer expected (default: the v1 and v2 issuers of --tenant in the public cloud).
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// JWKS file to verify with (default: fetched by OpenID discovery from --authority).
    #[arg(long, value_name = "FILE")]
    jwks: Option<String>,
    /// Authority base URL for discovery.
    #[arg(
        long,
        default_value = "https://login.microsoftonline.com",
        value_name = "URL"
    )]
    authority: String,
    /// Expected audience when verifying.
    #[arg(long, default_value = "https://vault.azure.net")]
    audience: String,
    /// Logs to search for this identity's events.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    logs: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
}

/// The token from `--file`, the argument, `KVAUDIT_TOKEN` or stdin.
fn raw_token(args: &TokenArgs) -> Result<String> {
    use std::io::IsTerminal;
    if let Some(f) = &args.file {
        return read_file(f, limits::TOKEN, "a token");
    }
    if let Some(t) = &args.token {
        note!("kvaudit: warning: a token on the command line is visible to other users (ps, shell history); prefer stdin, --file or KVAUDIT_TOKEN");
        return Ok(t.clone());
    }
    if let Some(t) = std::env::var("KVAUDIT_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(t);
    }
    if !std::io::stdin().is_terminal() {
        return read_stdin(limits::TOKEN, "a token");
    }
    Err(Error::Usage(
        "no token: pipe it on stdin, use --file FILE or set KVAUDIT_TOKEN".into(),
    ))
}

pub(super) fn run(args: TokenArgs, _ctx: &Context) -> Result<Exit> {
    let raw = raw_token(&args)?;
    let (header, claims) = parse(&raw)?;
    let catalog = load_catalog(&[])?;
    let mut verified = false;
    if args.verify {
        let keys = match args.jwks {
            Some(f) => KeySource::File(f),
            None => KeySource::Discovery(args.authority),
        };
        let tenant = args.tenant.as_deref().unwrap_or_default();
        let expected = Expected::new(tenant, args.issuer, args.audience, keys)?;
        verify(&raw, &header, &claims, &expected)?;
        verified = true;
    }
    let decoded = describe(&header, &claims, &catalog, chrono::Utc::now(), verified);
    let mut related = None;
    if !args.logs.is_empty() {
        // Streams: only this identity's events are folded, none held.
        let mut mine = Mine {
            oid: decoded.oid.clone(),
            appid: decoded.appid.clone(),
            events: 0,
            operations: BTreeSet::new(),
            explain: ExplainFold::default(),
        };
        let input = InputArgs {
            paths: args.logs,
            skip_invalid: false,
            stats: false,
            select: Default::default(),
            window_in_fold: false,
        };
        read_into(&input, &mut mine, Fields::Analysis)?;
        let ex = mine.explain.finish(&catalog);
        related = Some(Related {
            events: mine.events,
            operations: mine.operations,
            denials: ex.denials,
        });
    }
    let out = match args.format {
        Format::Json => json(&decoded, related.as_ref())?,
        Format::Table => table(&decoded, related.as_ref())?,
    };
    Target::Stdout.write(&out)?;
    Ok(Exit::Ok)
}

/// The events of the token's identity in `--logs`, folded as they are read.
struct Mine {
    oid: Option<String>,
    appid: Option<String>,
    events: u64,
    operations: BTreeSet<String>,
    explain: ExplainFold,
}

impl Sink for Mine {
    fn event(&mut self, e: Event) -> Result<()> {
        let same = |a: Option<&str>, b: Option<&str>| matches!((a, b), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
        let is_mine = match &self.oid {
            Some(oid) => same(e.caller_oid.as_deref(), Some(oid)),
            None => same(e.caller_appid.as_deref(), self.appid.as_deref()),
        };
        if is_mine {
            self.events += 1;
            if !self.operations.contains(&*e.operation) {
                self.operations.insert(e.operation.to_string());
            }
            self.explain.add(&e);
        }
        Ok(())
    }
}

/// What `--logs` found for the token's identity.
struct Related {
    events: u64,
    operations: BTreeSet<String>,
    denials: Vec<Denial>,
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Output(e.to_string()))
}

fn json(decoded: &Decoded, related: Option<&Related>) -> Result<Vec<u8>> {
    let mut v = to_value(decoded)?;
    if let Some(r) = related {
        v["events"] = Value::from(r.events);
        v["operations"] = to_value(&r.operations)?;
        v["denials"] = to_value(&r.denials)?;
    }
    let mut out = serde_json::to_vec_pretty(&v).map_err(|e| Error::Output(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

fn table(decoded: &Decoded, related: Option<&Related>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(m) = to_value(decoded)?.as_object() {
        for (k, val) in m {
            let text = match val {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                Value::Array(a) if a.is_empty() => continue,
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            // Claims are the token's own text: shown, never interpreted.
            let text = printable(&text).replace('\n', "\\n");
            out.extend_from_slice(format!("{k:<22} {text}\n").as_bytes());
        }
    }
    if let Some(r) = related {
        out.extend_from_slice(format!("{:<22} {}\n", "events in logs", r.events).as_bytes());
        out.extend(
            Table {
                color: false,
                width: None,
                wide: false,
            }
            .render(&View::Denials(&r.denials))?,
        );
    }
    Ok(out)
}
