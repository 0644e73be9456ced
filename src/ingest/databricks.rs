//! Reads a Databricks workspace's secrets audit, where the person behind a
//! Key Vault-backed secret scope is named (the vault's log only shows the
//! AzureDatabricks application): the Log Analytics `DatabricksSecrets`
//! table (portal CSV, query-API or az CLI JSON), the Unity Catalog system
//! table `system.access.audit` exported as JSON Lines, CSV, Parquet (its
//! `user_identity`, `request_params` and `response` as structs and maps)
//! or a JSON table, and raw diagnostic records (category `secrets`) from a
//! storage archive. Line, row and row-group inputs are streamed.
//! Column names:
//! Microsoft's DatabricksSecrets table reference (TimeGenerated,
//! ActionName, Identity, RequestParams, Response, _ResourceId) and
//! Databricks' audit log system table reference (event_time,
//! service_name, action_name, user_identity.email, request_params,
//! response.status_code, workspace_id).

use super::inventory::{key, malformed, read_table, text, time};
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

/// What one file held: the `getSecret` events (handed on as they are
/// read), and the other records (other actions, counted).
#[derive(Debug, Default)]
pub struct Read {
    pub events: u64,
    pub other_actions: u64,
    /// Records skipped as malformed (`--skip-invalid`), and where the
    /// first was, with what was wrong.
    pub skipped: u64,
    pub first_skipped: Option<String>,
}

/// The columns the three shapes' records are read from (any case).
const COLUMNS: &[&str] = &[
    // system.access.audit
    "event_time",
    "workspace_id",
    "service_name",
    "action_name",
    "user_identity",
    "request_params",
    "response",
    // DatabricksSecrets
    "TimeGenerated",
    "ActionName",
    "Identity",
    "RequestParams",
    "_ResourceId",
    // raw diagnostic records
    "time",
    "category",
    "properties",
    "resourceId",
    "operationName",
];

/// Where each `getSecret` goes as it is read.
pub type EventSink<'a> = dyn FnMut(SecretEvent) -> Result<()> + 'a;

/// The longest line of a JSON Lines audit kvaudit reads.
const LINE: u64 = 16 * 1024 * 1024;

/// A JSON object, or the JSON text of one (Log Analytics exports dynamic
/// columns as text).
fn object(v: Option<&Value>) -> Option<std::borrow::Cow<'_, Map<String, Value>>> {
    use std::borrow::Cow;
    match v? {
        Value::Object(o) => Some(Cow::Borrowed(o)),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => Some(Cow::Owned(o)),
            _ => None,
        },
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
    } else if field(m, "actionname").is_some() && field(m, "requestparams").is_some() {
        // The DatabricksSecrets table as Parquet or JSON Lines.
        let lower: Map<String, Value> = m.iter().map(|(k, v)| (key(k), v.clone())).collect();
        secrets_table_row(&lower)
    } else {
        Err("expected system.access.audit records (event_time, service_name, action_name, user_identity, request_params, response) or Azure Databricks diagnostic records (time, category, identity, properties)".into())
    }
}

/// Hands on each record's `getSecret`; a bad record is an error naming
/// it, or with `skip_invalid` counted (the first one kept to say where).
struct Collect<'a, 's> {
    path: &'a str,
    skip_invalid: bool,
    out: Read,
    sink: &'a mut EventSink<'s>,
}

impl Collect<'_, '_> {
    /// One record, `at` saying where it is (called only when it is bad).
    fn one(
        &mut self,
        at: impl FnOnce() -> String,
        m: std::result::Result<Map<String, Value>, String>,
        parse: fn(&Map<String, Value>) -> Parsed,
    ) -> Result<()> {
        self.parsed(at, m.and_then(|m| parse(&m)))
    }

    fn parsed(&mut self, at: impl FnOnce() -> String, p: Parsed) -> Result<()> {
        match p {
            Ok(Some(e)) => {
                self.out.events += 1;
                (self.sink)(e)?;
            }
            Ok(None) => self.out.other_actions += 1,
            Err(msg) if self.skip_invalid => {
                self.out.skipped += 1;
                let path = self.path;
                self.out
                    .first_skipped
                    .get_or_insert_with(|| format!("{path}: {}: {msg}", at()));
            }
            Err(msg) => return Err(malformed(self.path, &at(), &msg)),
        }
        Ok(())
    }
}

/// Reads `path`: a DatabricksSecrets export, `system.access.audit` (JSON
/// Lines, CSV, Parquet or a JSON table), or raw diagnostic records (JSON
/// Lines or `{"records": [...]}`), handing each `getSecret` to `sink`.
/// JSON Lines, CSV and Parquet are read as a stream (one line, row or row
/// group at a time); a JSON document is read whole, within the document
/// limit. An error names the file and record and says what was expected;
/// with `skip_invalid` bad records are counted instead.
pub fn read(path: &str, skip_invalid: bool, sink: &mut EventSink<'_>) -> Result<Read> {
    let mut c = Collect {
        path,
        skip_invalid,
        out: Read::default(),
        sink,
    };
    match head_kind(path)? {
        Head::Parquet => {
            // A cell past the bound is an error of a getSecret row only: the
            // table's other actions (a notebook's command text) are not read.
            super::parquet::rows(path, COLUMNS, |at, m, long| {
                let parsed = match (json_record(&m), long) {
                    (Ok(Some(_)), Some(why)) => Err(why),
                    (parsed, _) => parsed,
                };
                c.parsed(|| at, parsed)
            })?;
            return Ok(c.out);
        }
        Head::JsonLines => {
            json_lines(path, &mut c)?;
            return Ok(c.out);
        }
        Head::Other => {}
    }
    for (marks, what, parse) in [
        (
            &["actionname", "requestparams"][..],
            "a DatabricksSecrets export",
            secrets_table_row as fn(&Map<String, Value>) -> Parsed,
        ),
        (
            &["action_name", "request_params"][..],
            "a system.access.audit export",
            system_audit_record,
        ),
    ] {
        if csv_rows(path, marks, &mut |at, m| c.one(|| at, m, parse))? {
            return Ok(c.out);
        }
        if let Some(r) = read_table(path, marks, what)? {
            for (at, m) in r {
                c.one(|| at, Ok(m), parse)?;
            }
            return Ok(c.out);
        }
    }
    let text =
        crate::limits::read_file(path, crate::limits::document(), "a Databricks audit export")?;
    let text = text.trim_start_matches('\u{feff}');
    // A storage archive's document: {"records": [...]}.
    if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(text) {
        if let Some(Value::Array(records)) = doc.get("records") {
            for (i, r) in records.iter().enumerate() {
                let m = r
                    .as_object()
                    .cloned()
                    .ok_or_else(|| "expected a JSON object".to_string());
                c.one(|| format!("records[{i}]"), m, json_record)?;
            }
            return Ok(c.out);
        }
    }
    for (i, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            c.one(|| format!("line {}", i + 1), json_object(line), json_record)?;
        }
    }
    Ok(c.out)
}

fn json_object(line: &str) -> std::result::Result<Map<String, Value>, String> {
    serde_json::from_str::<Value>(line)
        .map_err(|e| format!("expected a DatabricksSecrets export, system.access.audit or diagnostic records as JSON Lines; invalid JSON: {e}"))
        .and_then(|v| match v {
            Value::Object(m) => Ok(m),
            _ => Err("expected a JSON object".to_string()),
        })
}

/// JSON Lines, one line at a time (each at most [`LINE`] bytes); a
/// one-line storage archive document (`{"records": [...]}`) is read whole.
fn json_lines(path: &str, c: &mut Collect<'_, '_>) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let r = std::io::BufReader::with_capacity(1 << 20, f);
    let long = |n: u64| {
        malformed(
            path,
            &format!("line {n}"),
            &format!(
                "expected a JSON object per line; this line is longer than {}",
                crate::limits::shown(LINE)
            ),
        )
    };
    crate::limits::each_line(r, LINE, path, long, |n, bytes| {
        let at = || format!("line {n}");
        let line = match std::str::from_utf8(bytes) {
            Ok(l) => l.trim_start_matches('\u{feff}'),
            Err(e) => return c.one(at, Err(format!("expected UTF-8 text: {e}")), json_record),
        };
        if line.trim().is_empty() {
            return Ok(());
        }
        if let Some(p) = system_audit_line(line) {
            return c.parsed(at, p);
        }
        let m = json_object(line);
        // A one-line archive document.
        if let Ok(doc) = &m {
            if let Some(Value::Array(records)) = doc.get("records") {
                for (i, rec) in records.iter().enumerate() {
                    let m = rec
                        .as_object()
                        .cloned()
                        .ok_or_else(|| "expected a JSON object".to_string());
                    c.one(|| format!("{}: records[{i}]", at()), m, json_record)?;
                }
                return Ok(());
            }
        }
        c.one(at, m, json_record)
    })
}

/// A `system.access.audit` line as the Databricks export writes it (its
/// own column names), read without building the whole object: records of
/// other actions (most of the table) stop at their names. `None`: not
/// that shape, for the general reader.
fn system_audit_line(line: &str) -> Option<Parsed> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        event_time: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        service_name: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        action_name: Option<std::borrow::Cow<'a, str>>,
        user_identity: Option<Value>,
        request_params: Option<Value>,
        response: Option<Value>,
        workspace_id: Option<Value>,
    }
    let l: Line<'_> = serde_json::from_str(line).ok()?;
    let (t, service, action) = (l.event_time?, l.service_name?, l.action_name?);
    if !service.eq_ignore_ascii_case("secrets") || !action.eq_ignore_ascii_case("getSecret") {
        return Some(Ok(None));
    }
    let mut m = Map::new();
    m.insert("event_time".into(), Value::String(t.into_owned()));
    m.insert("service_name".into(), Value::String(service.into_owned()));
    m.insert("action_name".into(), Value::String(action.into_owned()));
    for (k, v) in [
        ("user_identity", l.user_identity),
        ("request_params", l.request_params),
        ("response", l.response),
        ("workspace_id", l.workspace_id),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    Some(system_audit_record(&m))
}

/// A CSV export with the columns `marks` names, one row at a time
/// (column names lower-cased): false when the file is not such a CSV.
fn csv_rows(
    path: &str,
    marks: &[&str],
    each: &mut dyn FnMut(String, std::result::Result<Map<String, Value>, String>) -> Result<()>,
) -> Result<bool> {
    if path == "-" || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(false);
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, f));
    let header: Vec<String> = match r.headers() {
        Ok(h) => h.iter().map(key).collect(),
        Err(_) => return Ok(false),
    };
    if header.len() < 2 || !marks.iter().all(|m| header.iter().any(|h| h == m)) {
        return Ok(false);
    }
    let mut rec = csv::StringRecord::new();
    let mut n = 0u64;
    loop {
        n += 1;
        let at = format!("record {n}");
        match r.read_record(&mut rec) {
            Ok(false) => return Ok(true),
            Ok(true) => {
                let m: Map<String, Value> = header
                    .iter()
                    .zip(rec.iter())
                    .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
                    .collect();
                each(at, Ok(m))?;
            }
            // A ragged row is bad (counted with --skip-invalid); a read
            // error ends the file.
            Err(e)
                if matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) =>
            {
                each(at, Err(format!("invalid CSV: {e}")))?;
            }
            Err(e) => return Err(malformed(path, &at, &format!("invalid CSV: {e}"))),
        }
    }
}

enum Head {
    Parquet,
    JsonLines,
    Other,
}

/// What the file's head says it is: Parquet (its magic), JSON Lines (a
/// first non-blank line that opens an object and is not the start of a
/// pretty-printed document or a whole `tables`/`value` response; a first
/// line that is long, broken or not UTF-8 is still JSON Lines, for the
/// line reader to name), or another shape.
fn head_kind(path: &str) -> Result<Head> {
    if path == "-" || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(Head::Other);
    }
    use std::io::{BufRead, BufReader, Read as _};
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::new(f.take(1 << 20));
    if r.fill_buf()
        .map_err(|e| Error::io(path, e))?
        .starts_with(b"PAR1")
    {
        return Ok(Head::Parquet);
    }
    let mut head = Vec::new();
    r.read_to_end(&mut head).map_err(|e| Error::io(path, e))?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let Some(line) = head
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .find(|l| !l.is_empty())
    else {
        return Ok(Head::Other);
    };
    if line.first() != Some(&b'{') || line == b"{" {
        return Ok(Head::Other);
    }
    Ok(match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(o)) if o.contains_key("tables") || o.contains_key("value") => Head::Other,
        _ => Head::JsonLines,
    })
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
