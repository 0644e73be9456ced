//! `kvaudit token`: decodes an access token (never printing the signature
//! or the whole token), optionally verifies it, and ties it to the logs.

use super::args::{load_catalog, read_events, read_file, read_stdin, InputArgs};
use super::Context;
use crate::analyze::explain::{explain, Denial};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::exit::Exit;
use crate::identify::token::{describe, parse, Decoded};
use crate::online::jwks::{verify, KeySource};
use crate::output::{note, Target};
use crate::render::{Renderer, Table, View};
use clap::{Args, ValueEnum};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token itself (discouraged: command lines are visible to other users).
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
    /// Read the token from FILE.
    #[arg(long, value_name = "FILE")]
    file: Option<String>,
    /// Verify the signature, issuer, audience and times.
    #[arg(long)]
    verify: bool,
    /// JWKS file to verify with (default: fetched by OpenID discovery).
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
        return read_file(f);
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
        return read_stdin();
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
        let source = match args.jwks {
            Some(f) => KeySource::File(f),
            None => KeySource::Discovery(args.authority),
        };
        verify(&raw, &claims, &source, &args.audience)?;
        verified = true;
    }
    let decoded = describe(&header, &claims, &catalog, chrono::Utc::now(), verified);
    let mut related = None;
    if !args.logs.is_empty() {
        let ing = read_events(&InputArgs {
            paths: args.logs,
            skip_invalid: false,
            stats: false,
        })?;
        let key = decoded.oid.clone().or(decoded.appid.clone());
        let mine: Vec<Event> = ing
            .events
            .into_iter()
            .filter(|e| {
                key.is_some()
                    && (e.caller_oid.as_deref() == key.as_deref()
                        || (decoded.oid.is_none() && e.caller_appid.as_deref() == key.as_deref()))
            })
            .collect();
        let ex = explain(&mine, &catalog);
        related = Some((mine, ex.denials));
    }
    let out = match args.format {
        Format::Json => json(&decoded, related.as_ref())?,
        Format::Table => table(&decoded, related.as_ref())?,
    };
    Target::Stdout.write(&out)?;
    Ok(Exit::Ok)
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Output(e.to_string()))
}

fn json(decoded: &Decoded, related: Option<&(Vec<Event>, Vec<Denial>)>) -> Result<Vec<u8>> {
    let mut v = to_value(decoded)?;
    if let Some((evs, denials)) = related {
        v["events"] = Value::from(evs.len());
        v["operations"] = serde_json::to_value(
            evs.iter()
                .map(|e| e.operation.to_string())
                .collect::<std::collections::BTreeSet<_>>(),
        )
        .unwrap_or_default();
        v["denials"] = to_value(denials)?;
    }
    let mut out = serde_json::to_vec_pretty(&v).map_err(|e| Error::Output(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

fn table(decoded: &Decoded, related: Option<&(Vec<Event>, Vec<Denial>)>) -> Result<Vec<u8>> {
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
            out.extend_from_slice(format!("{k:<22} {text}\n").as_bytes());
        }
    }
    if let Some((evs, denials)) = related {
        out.extend_from_slice(format!("{:<22} {}\n", "events in logs", evs.len()).as_bytes());
        out.extend(Table { color: false }.render(&View::Denials(denials))?);
    }
    Ok(out)
}
