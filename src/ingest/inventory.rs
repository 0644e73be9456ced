//! Reads the caller inventory that `queries/caller-inventory.kql` computes in
//! Log Analytics (one row per caller per vault per day) for workspaces too
//! large to export raw. These rows are aggregates, not events: only
//! `kvaudit callers` reads them, merging the days per caller.

use super::source::strip_bom;
use crate::error::{Error, Location, Result};
use crate::parse::parse_time;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// One row of the inventory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventoryRow {
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    pub idtyp: Option<String>,
    pub scp: Option<String>,
    pub mirid: Option<String>,
    pub vault: Option<String>,
    pub requests: u64,
    pub denied: u64,
    pub secrets: Vec<String>,
    pub keys: Vec<String>,
    pub certificates: Vec<String>,
    pub operations: Vec<String>,
    pub clients: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// The columns that mark a caller inventory.
const CALLER_MARKS: &[&str] = &["requests", "caller_appid", "firstseen"];

/// Whether `names` hold every one of `marks` (case-insensitive, a portal
/// ` [UTC]` suffix ignored).
fn has_columns<'a>(names: impl IntoIterator<Item = &'a str>, marks: &[&str]) -> bool {
    let names: Vec<String> = names.into_iter().map(key).collect();
    marks.iter().all(|n| names.iter().any(|c| c == n))
}

pub(super) fn key(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .trim()
        .trim_end_matches(" [UTC]")
        .to_ascii_lowercase()
}

/// Reads `path` if it is a caller inventory (CSV export, Log Analytics API
/// response, az CLI JSON); `Ok(None)` when it is something else.
pub fn read(path: &str) -> Result<Option<Vec<InventoryRow>>> {
    let Some(records) = read_table(path, CALLER_MARKS, "a caller inventory")? else {
        return Ok(None);
    };
    records
        .into_iter()
        .map(|(pos, m)| row(&m).map_err(|msg| malformed(path, &pos, &msg)))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Reads `path` if it is a table (CSV export, Log Analytics API response,
/// az CLI JSON) holding every column of `marks` (lower case): its rows as
/// lower-cased column name to value, each with where it is in the file.
/// `Ok(None)` when it is something else.
pub(super) fn read_table(
    path: &str,
    marks: &[&str],
    what: &str,
) -> Result<Option<Vec<Positioned>>> {
    // Only regular files are sniffed: reading the head of a pipe
    // (`<(...)`, /dev/stdin) would consume it.
    if path == "-" || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    // Inventories are small by design (rows = callers x vaults x days); a
    // large file is an event export: sniff the head before reading it all.
    let head = {
        use std::io::Read;
        let mut buf = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut buf))
            .map_err(|e| Error::io(path, e))?;
        buf
    };
    let head_text = String::from_utf8_lossy(strip_bom(&head)).into_owned();
    let first_line = head_text.lines().next().unwrap_or("");
    let looks = {
        let l = head_text.to_ascii_lowercase();
        marks.iter().all(|m| l.contains(m))
    };
    if !looks {
        return Ok(None);
    }
    let text = crate::limits::read_file(path, crate::limits::document(), what)?;
    let text = text.trim_start_matches('\u{feff}');
    let records: Vec<Positioned> = if text.trim_start().starts_with(['{', '[']) {
        match json_records(text, path, marks)? {
            Some(r) => r,
            None => return Ok(None),
        }
    } else {
        let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let header: Vec<String> = r
            .headers()
            .map_err(|e| malformed(path, "line 1", &format!("invalid CSV header: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        if !has_columns(header.iter().map(String::as_str), marks) || !first_line.contains(',') {
            return Ok(None);
        }
        let mut out = Vec::new();
        for (i, rec) in r.records().enumerate() {
            let pos = format!("record {}", i + 1);
            let rec = rec.map_err(|e| malformed(path, &pos, &format!("invalid CSV: {e}")))?;
            let m: Map<String, Value> = header
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (key(h), Value::String(v.to_string())))
                .collect();
            out.push((pos, m));
        }
        out
    };
    Ok(Some(records))
}

pub(super) fn malformed(path: &str, position: &str, message: &str) -> Error {
    Error::Malformed {
        at: Location {
            source: path.to_string(),
            position: position.to_string(),
        },
        message: message.to_string(),
    }
}

/// A row as name → value, with where it is in the file.
pub(super) type Positioned = (String, Map<String, Value>);

/// The API response (`tables`), or a flat array of row objects.
fn json_records(text: &str, path: &str, marks: &[&str]) -> Result<Option<Vec<Positioned>>> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        malformed(
            path,
            &format!("line {} column {}", e.line(), e.column()),
            &format!("invalid JSON: {e}"),
        )
    })?;
    let lower = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter().map(|(k, v)| (key(k), v.clone())).collect()
    };
    if let Some(tables) = v.get("tables").and_then(Value::as_array) {
        let Some(t) = tables.first() else {
            return Ok(None);
        };
        let cols: Vec<String> = t["columns"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| c["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        if !has_columns(cols.iter().map(String::as_str), marks) {
            return Ok(None);
        }
        let rows = t["rows"].as_array().cloned().unwrap_or_default();
        return Ok(Some(
            rows.iter()
                .enumerate()
                .map(|(i, r)| {
                    let cells = r.as_array().cloned().unwrap_or_default();
                    let m = cols
                        .iter()
                        .zip(cells)
                        .map(|(c, v)| (key(c), v))
                        .collect::<Map<_, _>>();
                    (format!("tables[0].rows[{i}]"), m)
                })
                .collect(),
        ));
    }
    let items = match &v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("value") {
            Some(Value::Array(a)) => a.clone(),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Some(first) = items.first().and_then(Value::as_object) else {
        return Ok(None);
    };
    if !has_columns(first.keys().map(String::as_str), marks) {
        return Ok(None);
    }
    Ok(Some(
        items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                (
                    format!("record {}", i + 1),
                    it.as_object().map(lower).unwrap_or_default(),
                )
            })
            .collect(),
    ))
}

pub(super) fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn count(m: &Map<String, Value>, k: &str) -> Result<u64, String> {
    match m.get(k) {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
            .ok_or_else(|| format!("{k}: expected a count, found {n}")),
        Some(Value::String(s)) => {
            let f: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("{k}: expected a count, found {s:?}"))?;
            if f >= 0.0 && f.fract() == 0.0 {
                Ok(f as u64)
            } else {
                Err(format!("{k}: expected a count, found {s:?}"))
            }
        }
        _ => Err(format!("{k}: expected a count")),
    }
}

/// A dynamic array: a JSON array, or its JSON text (CSV exports and the
/// API both print dynamic columns as text).
fn list(m: &Map<String, Value>, k: &str) -> Result<Vec<String>, String> {
    let v = match m.get(k) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .map_err(|e| format!("{k}: expected a JSON array (a KQL dynamic set): {e}"))?,
        Some(v) => v.clone(),
    };
    let a = v
        .as_array()
        .ok_or_else(|| format!("{k}: expected a JSON array (a KQL dynamic set)"))?;
    Ok(a.iter()
        .filter_map(|x| x.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

pub(super) fn time(m: &Map<String, Value>, k: &str) -> Result<DateTime<Utc>, String> {
    let t = text(m, k).ok_or_else(|| format!("{k}: expected a time"))?;
    parse_time(&t).ok_or_else(|| format!("{k}: expected a time, found {t:?}"))
}

fn row(m: &Map<String, Value>) -> Result<InventoryRow, String> {
    Ok(InventoryRow {
        appid: text(m, "caller_appid"),
        oid: text(m, "caller_oid"),
        upn: text(m, "caller_upn"),
        idtyp: text(m, "caller_idtyp"),
        scp: text(m, "caller_scp"),
        mirid: text(m, "caller_mirid"),
        vault: text(m, "vault").map(|v| v.to_ascii_lowercase()),
        requests: count(m, "requests")?,
        denied: count(m, "denied")?,
        secrets: list(m, "secrets")?,
        keys: list(m, "keys")?,
        certificates: list(m, "certificates")?,
        operations: list(m, "operations")?,
        clients: list(m, "clients")?,
        first_seen: time(m, "firstseen")?,
        last_seen: time(m, "lastseen")?,
    })
}
