//! Reads a Databricks workspace's secrets audit, where the person behind a
//! Key Vault-backed secret scope is named (the vault's log only shows the
//! AzureDatabricks application): the Log Analytics `DatabricksSecrets`
//! table (portal CSV, query-API or az CLI JSON) and the Unity Catalog
//! system table `system.access.audit` exported as JSON Lines. Column names:
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

/// Reads `path`: a DatabricksSecrets export or a `system.access.audit`
/// JSON Lines export. An error names the file and record and says what was
/// expected.
pub fn read(path: &str) -> Result<Read> {
    if let Some(rows) = read_table(
        path,
        &["actionname", "requestparams"],
        "a DatabricksSecrets export",
    )? {
        let mut out = Read::default();
        for (pos, m) in rows {
            let action = text(&m, "actionname").unwrap_or_default();
            if !action.eq_ignore_ascii_case("getSecret") {
                out.other_actions += 1;
                continue;
            }
            let e = (|| -> std::result::Result<SecretEvent, String> {
                let params = object(m.get("requestparams"))
                    .ok_or("RequestParams: expected a JSON object with scope and key")?;
                let identity = object(m.get("identity"))
                    .ok_or("Identity: expected a JSON object with email")?;
                let response = object(m.get("response")).unwrap_or_default();
                Ok(SecretEvent {
                    time: time(&m, "timegenerated")?,
                    user: string(field(&identity, "email"))
                        .or_else(|| string(field(&identity, "subjectName")))
                        .ok_or("Identity: no email")?,
                    scope: string(field(&params, "scope")).ok_or("RequestParams: no scope")?,
                    key: string(field(&params, "key")).ok_or("RequestParams: no key")?,
                    ok: status_ok(field(&response, "statusCode")),
                    workspace: text(&m, "_resourceid").map(|w| w.to_ascii_lowercase()),
                })
            })()
            .map_err(|msg| malformed(path, &pos, &msg))?;
            out.events.push(e);
        }
        return Ok(out);
    }
    // system.access.audit as JSON Lines.
    let text =
        crate::limits::read_file(path, crate::limits::document(), "a Databricks audit export")?;
    let mut out = Read::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| {
            malformed(path, &at, &format!("expected a DatabricksSecrets export or system.access.audit JSON Lines; invalid JSON: {e}"))
        })?;
        let m = v
            .as_object()
            .ok_or_else(|| malformed(path, &at, "expected a JSON object"))?;
        if field(m, "event_time").is_none() || field(m, "action_name").is_none() {
            return Err(malformed(path, &at, "expected system.access.audit records (event_time, service_name, action_name, user_identity, request_params, response)"));
        }
        let service = string(field(m, "service_name")).unwrap_or_default();
        let action = string(field(m, "action_name")).unwrap_or_default();
        if !service.eq_ignore_ascii_case("secrets") || !action.eq_ignore_ascii_case("getSecret") {
            out.other_actions += 1;
            continue;
        }
        let e = (|| -> std::result::Result<SecretEvent, String> {
            let t = string(field(m, "event_time")).ok_or("event_time: expected a time")?;
            let params = object(field(m, "request_params"))
                .ok_or("request_params: expected scope and key")?;
            let identity =
                object(field(m, "user_identity")).ok_or("user_identity: expected an email")?;
            let response = object(field(m, "response")).unwrap_or_default();
            Ok(SecretEvent {
                // Exports without a zone are UTC.
                time: crate::parse::parse_time(&t)
                    .ok_or(format!("event_time: expected a time, found {t:?}"))?,
                user: string(field(&identity, "email")).ok_or("user_identity: no email")?,
                scope: string(field(&params, "scope")).ok_or("request_params: no scope")?,
                key: string(field(&params, "key")).ok_or("request_params: no key")?,
                ok: status_ok(field(&response, "status_code")),
                workspace: string(field(m, "workspace_id")),
            })
        })()
        .map_err(|msg| malformed(path, &at, &msg))?;
        out.events.push(e);
    }
    Ok(out)
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
