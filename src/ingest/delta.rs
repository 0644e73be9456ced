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

/// Reader features whose tables' files read as plain Parquet from the
/// JSON commits (Databricks turns the first two on by default):
/// `vacuumProtocolCheck` only guards VACUUM, `timestampNtz` allows
/// timestamps without a time zone (read as UTC, as Key Vault logs are),
/// `v2Checkpoint` changes checkpoints, which kvaudit does not read.
const PLAIN_FEATURES: &[&str] = &["vacuumProtocolCheck", "timestampNtz", "v2Checkpoint"];

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
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        if let (b'%', Some(hex)) = (b[i], hex) {
            let hex = std::str::from_utf8(hex).unwrap_or("");
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
/// added, each as it lies under `dir` once links inside the table are
/// resolved.
pub(super) fn active_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let log = dir.join("_delta_log");
    let shown = dir.display().to_string();
    let mut commits: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(&log).map_err(|e| Error::io(&log, e))? {
        let entry = entry.map_err(|e| Error::io(&log, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // A commit is named by its version in 20 digits (other files of
        // the log, checkpoints and checksums among them, are not read).
        let digits = name
            .strip_suffix(".json")
            .filter(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()));
        if let Some(n) = digits {
            let v = n.parse::<u64>().map_err(|_| {
                Error::Other(format!(
                    "{shown}: Delta table: the commit {name} is past the last version a log can have"
                ))
            })?;
            commits.insert(v, entry.path());
        }
    }
    let refuse = |why: String| Error::Other(format!("{shown}: Delta table: {why}"));
    let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let given = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    // The log is the table's own: a commit may not lead out of it.
    for (v, path) in &commits {
        let real = path.canonicalize().map_err(|e| Error::io(path, e))?;
        if !real.starts_with(&root) {
            return Err(refuse(format!(
                "commit {v} leads outside the table directory (through a link); kvaudit reads the table's own log only"
            )));
        }
    }
    match commits.keys().next() {
        None => return Err(refuse("its _delta_log holds no JSON commit".into())),
        Some(&first) if first != 0 => {
            return Err(refuse(format!(
                "its log starts at commit {first} (the earlier ones were cleaned up after a checkpoint); kvaudit reads the JSON commits from 0, not checkpoints: read the table's Parquet files of the latest snapshot with Spark or DuckDB's delta_scan, or point kvaudit at an export"
            )))
        }
        _ => {}
    }
    // Every version from 0 on: a missing one would give another snapshot.
    if let Some((expected, _)) = (0u64..).zip(commits.keys()).find(|(e, v)| e != *v) {
        return Err(refuse(format!(
            "commit {expected} is missing from its _delta_log (expected every version from 0 to {})",
            commits.keys().next_back().copied().unwrap_or(0)
        )));
    }
    // Path -> (order added, the commit that added it); removed paths drop
    // out.
    let mut files: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    // The table's partition columns, as its latest metadata gives them.
    let mut partitions: Vec<String> = Vec::new();
    let mut order = 0u64;
    for (version, path) in &commits {
        actions(path, |at, v| {
            if let Some(p) = v.get("protocol") {
                let reader = match &p["minReaderVersion"] {
                    Value::Null => 1,
                    n => n.as_u64().ok_or_else(|| {
                        Error::Other(format!(
                            "{at}: minReaderVersion: expected a number, found {n}"
                        ))
                    })?,
                };
                let features: Vec<&str> = match &p["readerFeatures"] {
                    Value::Null => Vec::new(),
                    Value::Array(a) => a.iter().map(|f| f.as_str().unwrap_or("?")).collect(),
                    other => {
                        return Err(Error::Other(format!(
                            "{at}: readerFeatures: expected a list of names, found {other}"
                        )))
                    }
                };
                // Reader versions 1 (plain) and 3 with no reader feature
                // but these read as plain Parquet; 2 is column mapping.
                let features: Vec<&str> = features
                    .into_iter()
                    .filter(|f| !PLAIN_FEATURES.contains(f))
                    .collect();
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
                partitions = match &m["partitionColumns"] {
                    Value::Null => Vec::new(),
                    Value::Array(a) => a
                        .iter()
                        .map(|c| c.as_str().unwrap_or("?").to_string())
                        .collect(),
                    other => {
                        return Err(Error::Other(format!(
                            "{at}: partitionColumns: expected a list of names, found {other}"
                        )))
                    }
                };
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
                let p = unescape(p).map_err(|e| Error::Other(format!("{at}: {e}")))?;
                if p.contains("://") || p.starts_with('/') || p.split('/').any(|s| s == "..") {
                    return Err(refuse(format!(
                        "the data file {p} is not inside the table directory; kvaudit reads local tables only"
                    )));
                }
                let path = relative(&p)
                    .ok_or_else(|| Error::Other(format!("{at}: add with an empty path")))?;
                // The file's own partition values: one of a column kvaudit
                // reads is missing from its rows, whatever the metadata said.
                if let Some(c) = a["partitionValues"]
                    .as_object()
                    .and_then(|m| m.keys().find(|k| reads_column(k)))
                {
                    return Err(refuse(partitioned(&format!(
                        "{path} is in a partition by {c}"
                    ))));
                }
                files.insert(path, (order, *version));
                order += 1;
            }
            if let Some(r) = v.get("remove") {
                if let Some(p) = r["path"].as_str() {
                    let p = unescape(p).map_err(|e| Error::Other(format!("{at}: {e}")))?;
                    // The protocol allows an absolute path (or file URI)
                    // here: one inside the table is its relative path; one
                    // kvaudit cannot place might remove a file it reads.
                    let local = p
                        .strip_prefix("file://")
                        .or_else(|| p.strip_prefix("file:"));
                    let local = local.unwrap_or(&p);
                    let inside = if local.starts_with('/') {
                        // The table by its real path, or by the path given
                        // (a table reached through a link).
                        let at_root = Path::new(local)
                            .strip_prefix(&root)
                            .or_else(|_| Path::new(local).strip_prefix(&given))
                            .ok();
                        let Some(inside) = at_root.and_then(Path::to_str) else {
                            return Err(refuse(format!(
                                "commit {version} removes {p}, a path outside the table directory; kvaudit reads tables whose log names their files inside them"
                            )));
                        };
                        inside.to_string()
                    } else if p.contains("://") {
                        return Err(refuse(format!(
                            "commit {version} removes {p}, not a local path; kvaudit reads local tables only"
                        )));
                    } else {
                        p.clone()
                    };
                    if let Some(path) = relative(&inside) {
                        files.remove(&path);
                    }
                }
            }
            Ok(())
        })?;
    }
    // A partition column's values are in the log, not in the files: one
    // kvaudit reads would be missing from every row.
    let read: Vec<&str> = partitions
        .iter()
        .map(String::as_str)
        .filter(|c| reads_column(c))
        .collect();
    if !read.is_empty() {
        return Err(refuse(partitioned(&format!(
            "it is partitioned by {}",
            read.join(", ")
        ))));
    }
    let mut by_order: Vec<((u64, u64), String)> = files.into_iter().map(|(p, o)| (o, p)).collect();
    by_order.sort();
    by_order
        .into_iter()
        .map(|((_, added), p)| {
            // Through links too: the file must resolve inside the table.
            let file = dir.join(&p);
            let real = file.canonicalize().map_err(|e| {
                refuse(format!("the data file {p}, added by commit {added}, cannot be read: {e}"))
            })?;
            if !real.starts_with(&root) {
                return Err(refuse(format!(
                    "the data file {p} leads outside the table directory (through a link); kvaudit reads files inside the table only"
                )));
            }
            // Not a folder, nor a FIFO that would block the read.
            if !real.is_file() {
                return Err(refuse(format!(
                    "the data file {p}, added by commit {added}, is not a regular file"
                )));
            }
            // Read at the path its links led to when checked, under the
            // table's path as given (a folder swapped for a link after
            // the check would still be followed).
            Ok(real
                .strip_prefix(&root)
                .map_or(file, |inside| dir.join(inside)))
        })
        .collect()
}

/// Each action (line) of the commit file `path` as JSON, with where it
/// is (`path: line n`); blank lines are passed over. Read as a stream,
/// each line within [`crate::limits::DELTA_ACTION`], the file (a regular
/// one) within the document bound.
fn actions(path: &Path, mut each: impl FnMut(&str, Value) -> Result<()>) -> Result<()> {
    use std::io::Read;
    let whole = crate::limits::document();
    let refuse = |why: &str| {
        Error::Other(format!(
            "{}: expected a Delta log commit: {why}",
            path.display()
        ))
    };
    let past = || {
        refuse(&format!(
            "it is larger than {}, the limit for one (KVAUDIT_MAX_DOCUMENT_MIB)",
            crate::limits::shown(whole)
        ))
    };
    // Looked at before it is opened: a FIFO would block the open.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(refuse("it is not a regular file"));
    }
    if meta.len() > whole {
        return Err(past());
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut read = 0u64;
    let mut r = std::io::BufReader::new(file.take(whole + 1));
    let at = |n: u64| format!("{}: line {n}", path.display());
    let limit = crate::limits::DELTA_ACTION;
    let long = |n| {
        Error::Other(format!(
            "{}: a Delta action longer than {}, the limit for one; is this a Delta log?",
            at(n),
            crate::limits::shown(limit)
        ))
    };
    let lines =
        crate::limits::each_line(&mut r, limit, &path.to_string_lossy(), long, |n, line| {
            // A file grown past the bound since it was looked at (a line
            // counted with its newline, which the last may lack).
            read += line.len() as u64 + 1;
            if read > whole + 1 {
                return Err(past());
            }
            let line = std::str::from_utf8(line).map_err(|e| {
                Error::Other(format!(
                    "{}: expected a Delta action as UTF-8 text; invalid byte at offset {}",
                    at(n),
                    e.valid_up_to()
                ))
            })?;
            if line.trim().is_empty() {
                return Ok(());
            }
            let v: Value = serde_json::from_str(line).map_err(|e| {
                Error::Other(format!("{}: expected a Delta action (JSON): {e}", at(n)))
            })?;
            each(&at(n), v)
        });
    // Every byte the bound allows was read: the file grew past it.
    if r.get_ref().limit() == 0 {
        return Err(past());
    }
    lines
}

/// A data file's path as the log gives it, without `.` steps or empty
/// ones (`./a.parquet` and `a.parquet` are one file); None when nothing
/// is left.
fn relative(p: &str) -> Option<String> {
    let steps: Vec<&str> = p
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    (!steps.is_empty()).then(|| steps.join("/"))
}

/// Why a table partitioned by a column kvaudit reads is refused, `what`
/// saying which column (and file).
fn partitioned(what: &str) -> String {
    format!(
        "{what}, which kvaudit reads, and a partitioned table keeps those values in its log, not in its files; kvaudit reads the files only: write the table unpartitioned, or partitioned by a column of its own (a date)"
    )
}

/// Whether kvaudit reads a column named `name`, as a table's column or a
/// raw record's key.
fn reads_column(name: &str) -> bool {
    !super::schema::FlatSchema::resolve([name]).slots.is_empty()
        || super::parquet::RAW_KEYS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(name))
}
