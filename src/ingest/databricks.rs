//! Reads a Databricks workspace's secrets audit, where the person behind a
//! Key Vault-backed secret scope is named (the vault's log only shows the
//! AzureDatabricks application): the Log Analytics `DatabricksSecrets`
//! table (portal CSV, query-API or az CLI JSON), the Unity Catalog system
//! table `system.access.audit` exported as JSON Lines, CSV or a JSON table,
//! and raw diagnostic records (category `secrets`) from a storage archive.
//! Column names:
//! Microsoft's DatabricksSecrets table reference (TimeGenerated,
//! ActionName, Identity, RequestParams, Response, _ResourceId) and
//! Databricks' audit log system table reference (event_time,
//! service_name, action_name, user_identity.email, request_params,
//! response.status_code, workspace_id).

use super::inventory::{malformed, read_table, text, time};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// One `getSecret` of the workspace's audit.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretEvent {
    pub time: DateTime<Utc>,
    /// The person (or service principal) the workspace names.
    pub user: String,
    pub scope: String,
    pub key: String,
    /// The workspace answered 2xx.
    pub ok: bool,
    /// The workspace (ARM id or workspace id).
    pub workspace: Option<String>,
}

/// What one file held: the `getSecret` events, and the other records
/// (other actions, counted).
#[derive(Debug, Default)]
pub struct Read {
    pub events: Vec<SecretEvent>,
    pub other_actions: u64,
    /// Records skipped as malformed (`--skip-invalid`), and where the
    /// first was, with what was wrong.
    pub skipped: u64,
    pub first_skipped: Option<String>,
}

/// A JSON object, or the JSON text of one (Log Analytics exports dynamic
/// columns as text).
fn object(v: Option<&Value>) -> Option<Map<String, Value>> {
    match v? {
        Value::Object(o) => Some(o.clone()),
        Value::String(s) => serde_json::from_str::<Value>(s)
            .ok()
            .and_then(|v| v.as_object().cloned()),
        _ => None,
    }
}

fn field<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(k))
        .map(|(_, v)| v)
}

fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn status_ok(v: Option<&Value>) -> bool {
    let code = match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    code.is_some_and(|c| (200.0..300.0).contains(&c))
}

/// A record's `getSecret`, `Ok(None)` for another action, or what is
/// wrong with it.
type Parsed = std::result::Result<Option<SecretEvent>, String>;

/// A row of the Log Analytics `DatabricksSecrets` table (column names
/// lower-cased).
fn secrets_table_row(m: &Map<String, Value>) -> Parsed {
    let action = text(m, "actionname").unwrap_or_default();
    if !action.eq_ignore_ascii_case("getSecret") {
        return Ok(None);
    }
    let params = object(m.get("requestparams"))
        .ok_or("RequestParams: expected a JSON object with scope and key")?;
    let identity =
        object(m.get("identity")).ok_or("Identity: expected a JSON object with email")?;
    let response = object(m.get("response")).unwrap_or_default();
    Ok(Some(SecretEvent {
        time: time(m, "timegenerated")?,
        user: string(field(&identity, "email"))
            .or_else(|| string(field(&identity, "subjectName")))
            .ok_or("Identity: no email")?,
        scope: string(field(&params, "scope")).ok_or("RequestParams: no scope")?,
        key: string(field(&params, "key")).ok_or("RequestParams: no key")?,
        ok: status_ok(field(&response, "statusCode")),
        workspace: text(m, "_resourceid").map(|w| w.to_ascii_lowercase()),
    }))
}

/// A record of `system.access.audit` (JSON Lines, or a CSV / JSON table of
/// it, where the struct columns are JSON text).
fn system_audit_record(m: &Map<String, Value>) -> Parsed {
    let service = string(field(m, "service_name")).unwrap_or_default();
    let action = string(field(m, "action_name")).unwrap_or_default();
    if !service.eq_ignore_ascii_case("secrets") || !action.eq_ignore_ascii_case("getSecret") {
        return Ok(None);
    }
    let t = string(field(m, "event_time")).ok_or("event_time: expected a time")?;
    let params =
        object(field(m, "request_params")).ok_or("request_params: expected scope and key")?;
    let identity = object(field(m, "user_identity")).ok_or("user_identity: expected an email")?;
    let response = object(field(m, "response")).unwrap_or_default();
    Ok(Some(SecretEvent {
        // Exports without a zone are UTC.
        time: crate::parse::parse_time(&t)
            .ok_or(format!("event_time: expected a time, found {t:?}"))?,
        user: string(field(&identity, "email")).ok_or("user_identity: no email")?,
        scope: string(field(&params, "scope")).ok_or("request_params: no scope")?,
        key: string(field(&params, "key")).ok_or("request_params: no key")?,
        ok: status_ok(field(&response, "status_code")),
        workspace: string(field(m, "workspace_id")),
    }))
}

/// A raw Azure Databricks diagnostic record, as a storage archive keeps
/// it (Databricks' diagnostic log reference: `category` `secrets`,
/// `operationName` `Microsoft.Databricks/secrets/getSecret`, `identity` as
/// JSON text with `email`, `properties` {`actionName`, `requestParams`,
/// `response` (JSON text), `serviceName`, `sourceIPAddress`}).
fn diagnostic_record(m: &Map<String, Value>) -> Parsed {
    let props = object(field(m, "properties")).ok_or("properties: expected an object")?;
    let category = string(field(m, "category")).unwrap_or_default();
    let action = string(field(&props, "actionName")).unwrap_or_default();
    if !category.eq_ignore_ascii_case("secrets") || !action.eq_ignore_ascii_case("getSecret") {
        return Ok(None);
    }
    let t = string(field(m, "time")).ok_or("time: expected a time")?;
    let params = object(field(&props, "requestParams"))
        .ok_or("properties.requestParams: expected scope and key")?;
    let identity =
        object(field(m, "identity")).ok_or("identity: expected a JSON object with email")?;
    let response = object(field(&props, "response")).unwrap_or_default();
    Ok(Some(SecretEvent {
        time: crate::parse::parse_time(&t).ok_or(format!("time: expected a time, found {t:?}"))?,
        user: string(field(&identity, "email"))
            .or_else(|| string(field(&identity, "subjectName")))
            .ok_or("identity: no email")?,
        scope: string(field(&params, "scope")).ok_or("properties.requestParams: no scope")?,
        key: string(field(&params, "key")).ok_or("properties.requestParams: no key")?,
        ok: status_ok(field(&response, "statusCode")),
        workspace: string(field(m, "resourceId")).map(|w| w.to_ascii_lowercase()),
    }))
}

/// A JSON record of either kind that comes one per line or in a
/// `records` array.
fn json_record(m: &Map<String, Value>) -> Parsed {
    if field(m, "event_time").is_some() && field(m, "action_name").is_some() {
        system_audit_record(m)
    } else if field(m, "category").is_some() && field(m, "properties").is_some() {
        diagnostic_record(m)
    } else {
        Err("expected system.access.audit records (event_time, service_name, action_name, user_identity, request_params, response) or Azure Databricks diagnostic records (time, category, identity, properties)".into())
    }
}

/// Adds each record's `getSecret`; a bad record is an error naming it, or
/// with `skip_invalid` counted (the first one kept to say where).
fn collect(
    path: &str,
    records: impl Iterator<Item = (String, std::result::Result<Map<String, Value>, String>)>,
    parse: fn(&Map<String, Value>) -> Parsed,
    skip_invalid: bool,
    out: &mut Read,
) -> Result<()> {
    for (at, m) in records {
        match m.and_then(|m| parse(&m)) {
            Ok(Some(e)) => out.events.push(e),
            Ok(None) => out.other_actions += 1,
            Err(msg) if skip_invalid => {
                out.skipped += 1;
                out.first_skipped
                    .get_or_insert_with(|| format!("{path}: {at}: {msg}"));
            }
            Err(msg) => return Err(malformed(path, &at, &msg)),
        }
    }
    Ok(())
}

/// Reads `path`: a DatabricksSecrets export, `system.access.audit` (JSON
/// Lines, CSV or a JSON table), or raw diagnostic records (JSON Lines or
/// `{"records": [...]}`). An error names the file and record and says what
/// was expected; with `skip_invalid` bad records are counted instead.
pub fn read(path: &str, skip_invalid: bool) -> Result<Read> {
    let mut out = Read::default();
    let rows = |r: Vec<super::inventory::Positioned>| r.into_iter().map(|(p, m)| (p, Ok(m)));
    if !json_lines_head(path)? {
        if let Some(r) = read_table(
            path,
            &["actionname", "requestparams"],
            "a DatabricksSecrets export",
        )? {
            collect(path, rows(r), secrets_table_row, skip_invalid, &mut out)?;
            return Ok(out);
        }
        if let Some(r) = read_table(
            path,
            &["action_name", "request_params"],
            "a system.access.audit export",
        )? {
            collect(path, rows(r), system_audit_record, skip_invalid, &mut out)?;
            return Ok(out);
        }
    }
    let text =
        crate::limits::read_file(path, crate::limits::document(), "a Databricks audit export")?;
    let text = text.trim_start_matches('\u{feff}');
    // A storage archive's document: {"records": [...]}.
    if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(text) {
        if let Some(Value::Array(records)) = doc.get("records") {
            let it = records.iter().enumerate().map(|(i, r)| {
                (
                    format!("records[{i}]"),
                    r.as_object()
                        .cloned()
                        .ok_or_else(|| "expected a JSON object".to_string()),
                )
            });
            collect(path, it, json_record, skip_invalid, &mut out)?;
            return Ok(out);
        }
    }
    let it = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let m = serde_json::from_str::<Value>(line)
                .map_err(|e| format!("expected a DatabricksSecrets export, system.access.audit or diagnostic records as JSON Lines; invalid JSON: {e}"))
                .and_then(|v| v.as_object().cloned().ok_or_else(|| "expected a JSON object".to_string()));
            (format!("line {}", i + 1), m)
        });
    collect(path, it, json_record, skip_invalid, &mut out)?;
    Ok(out)
}

/// Whether the file's first line is a JSON object of its own (JSON Lines
/// or a one-line archive document), not a table.
fn json_lines_head(path: &str) -> Result<bool> {
    if path == "-" || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(false);
    }
    use std::io::{BufRead, BufReader, Read as _};
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut line = String::new();
    BufReader::new(f.take(1 << 20))
        .read_line(&mut line)
        .map_err(|e| Error::io(path, e))?;
    Ok(
        match serde_json::from_str::<Value>(line.trim_start_matches('\u{feff}').trim()) {
            Ok(Value::Object(o)) => !o.contains_key("tables") && !o.contains_key("value"),
            _ => false,
        },
    )
}

/// A Key Vault-backed scope and its vault (lower-case name).
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub name: String,
    pub vault: String,
}

/// Parses `databricks secrets list-scopes --output json` (either CLI
/// generation: a bare array) or the REST API's `{"scopes": [...]}`; only
/// Key Vault-backed scopes are kept.
pub fn parse_scopes(text: &str, path: &str) -> Result<Vec<Scope>> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        Error::Other(format!(
            "{path}: expected the JSON of `databricks secrets list-scopes --output json`: {e}"
        ))
    })?;
    let items = match &v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("scopes") {
            Some(Value::Array(a)) => a.clone(),
            _ => {
                return Err(Error::Other(format!(
                    "{path}: expected an array of scopes or {{\"scopes\": [...]}}"
                )))
            }
        },
        _ => return Err(Error::Other(format!("{path}: expected an array of scopes"))),
    };
    let mut out = Vec::new();
    for (i, s) in items.iter().enumerate() {
        let name = s["name"].as_str().ok_or_else(|| {
            Error::Other(format!(
                "{path}: record {}: expected a scope with a name",
                i + 1
            ))
        })?;
        let meta = &s["keyvault_metadata"];
        let from_id = meta["resource_id"].as_str().and_then(|r| {
            let parts: Vec<&str> = r.split('/').collect();
            parts
                .iter()
                .position(|p| p.eq_ignore_ascii_case("vaults"))
                .and_then(|i| parts.get(i + 1))
                .map(|v| v.to_ascii_lowercase())
        });
        let from_dns = meta["dns_name"].as_str().and_then(|d| {
            d.trim_start_matches("https://")
                .split('.')
                .next()
                .filter(|v| !v.is_empty())
                .map(str::to_ascii_lowercase)
        });
        if let Some(vault) = from_id.or(from_dns) {
            out.push(Scope {
                name: name.to_string(),
                vault,
            });
        }
    }
    Ok(out)
}
