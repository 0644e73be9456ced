//! A Delta table directory (`_delta_log/` beside Parquet files, as
//! Databricks, Fabric and Event Hubs capture land Key Vault logs): the
//! files of its latest snapshot, from the log's JSON commits (each `add`
//! minus each later `remove`), or a clear refusal of what kvaudit does not
//! read (reader features such as deletion vectors or column mapping, a log
//! whose early commits were cleaned up after a checkpoint). Protocol: the
//! Delta transaction log specification, github.com/delta-io/delta
//! (PROTOCOL.md).

use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether `dir` is a Delta table (it holds `_delta_log/`).
pub(super) fn is_table(dir: &Path) -> bool {
    dir.join("_delta_log").is_dir()
}

/// `%XX` escapes of a path in the log undone (the log stores URIs).
fn unescape(p: &str) -> Result<String> {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Error::Other(format!("a Delta log path is not UTF-8: {p}")))
}

/// The data files of the table's latest snapshot, in the order they were
/// added.
pub(super) fn active_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let log = dir.join("_delta_log");
    let shown = dir.display().to_string();
    let mut commits: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(&log).map_err(|e| Error::io(&log, e))? {
        let entry = entry.map_err(|e| Error::io(&log, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(v) = name
            .strip_suffix(".json")
            .and_then(|n| n.parse::<u64>().ok())
        {
            commits.insert(v, entry.path());
        }
    }
    let refuse = |why: String| Error::Other(format!("{shown}: Delta table: {why}"));
    match commits.keys().next() {
        None => return Err(refuse("its _delta_log holds no JSON commit".into())),
        Some(&first) if first != 0 => {
            return Err(refuse(format!(
                "its log starts at commit {first} (the earlier ones were cleaned up after a checkpoint); kvaudit reads the JSON commits from 0, not checkpoints: read the table's Parquet files of the latest snapshot with Spark or DuckDB's delta_scan, or point kvaudit at an export"
            )))
        }
        _ => {}
    }
    // Path -> order added; removed paths drop out.
    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    let mut order = 0u64;
    for (version, path) in &commits {
        let text = crate::limits::read_file(
            &path.to_string_lossy(),
            crate::limits::document(),
            "a Delta log commit",
        )?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let at = format!("{}: line {}", path.display(), i + 1);
            let v: Value = serde_json::from_str(line)
                .map_err(|e| Error::Other(format!("{at}: expected a Delta action (JSON): {e}")))?;
            if let Some(p) = v.get("protocol") {
                let reader = p["minReaderVersion"].as_u64().unwrap_or(1);
                let features: Vec<&str> = p["readerFeatures"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                // Reader versions 1 (plain) and 3 with no reader feature
                // read as plain Parquet; 2 is column mapping.
                if reader == 2 || !features.is_empty() || reader > 3 {
                    return Err(refuse(format!(
                        "commit {version} needs reader version {reader}{}; kvaudit reads tables whose files are plain Parquet (no column mapping, deletion vectors or other reader features)",
                        if features.is_empty() { String::new() } else { format!(" with {}", features.join(", ")) }
                    )));
                }
            }
            if let Some(m) = v.get("metaData") {
                let mapping = m["configuration"]["delta.columnMapping.mode"]
                    .as_str()
                    .unwrap_or("none");
                if mapping != "none" {
                    return Err(refuse(format!(
                        "commit {version} uses column mapping ({mapping}); kvaudit reads plain Parquet column names"
                    )));
                }
            }
            if let Some(a) = v.get("add") {
                let p = a["path"]
                    .as_str()
                    .ok_or_else(|| Error::Other(format!("{at}: add without a path")))?;
                if a.get("deletionVector").is_some_and(|d| !d.is_null()) {
                    return Err(refuse(format!(
                        "{p} has a deletion vector; kvaudit does not apply them"
                    )));
                }
                files.insert(unescape(p)?, order);
                order += 1;
            }
            if let Some(r) = v.get("remove") {
                if let Some(p) = r["path"].as_str() {
                    files.remove(&unescape(p)?);
                }
            }
        }
    }
    let mut by_order: Vec<(u64, String)> = files.into_iter().map(|(p, o)| (o, p)).collect();
    by_order.sort();
    by_order
        .into_iter()
        .map(|(_, p)| {
            if p.contains("://") || p.starts_with('/') || p.split('/').any(|s| s == "..") {
                return Err(refuse(format!(
                    "the data file {p} is not inside the table directory; kvaudit reads local tables only"
                )));
            }
            Ok(dir.join(p))
        })
        .collect()
}
