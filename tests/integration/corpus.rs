//! The bad-input corpus (`tests/corpus/`, written by
//! `tests/corpus/make_corpus.py`, plus inputs too large or too odd to keep in
//! git, built here): each gets a clear error naming the file, the line or
//! record and what was expected, or with `--skip-invalid` an exact count of
//! skipped records; the `--stats` accounting always balances.

use crate::harness::*;
use std::collections::BTreeMap;

fn corpus(name: &str) -> String {
    root()
        .join("tests/corpus")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs `callers` and expects exit 1 with every fragment in stderr.
fn error_says(path: &str, skip: bool, fragments: &[&str]) {
    let mut args = vec!["callers", "--format", "json", path];
    if skip {
        args.push("--skip-invalid");
    }
    let out = kvaudit(&args);
    assert_eq!(out.code, 1, "{path}: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{path}: nothing on stdout");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    for f in fragments {
        assert!(
            out.stderr.contains(f),
            "{path}: missing {f:?} in {}",
            out.stderr
        );
    }
}

/// The `--stats` total line parsed: (read, kept, skipped, by reason).
struct Stats {
    read: u64,
    kept: u64,
    skipped: u64,
    reasons: BTreeMap<String, u64>,
    files_skipped: u64,
}

fn total_stats(stderr: &str) -> Stats {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("kvaudit: stats: total:"))
        .unwrap_or_else(|| panic!("no stats total in {stderr}"));
    let num = |key: &str| -> u64 {
        let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let reasons = line[line.rfind('(').unwrap() + 1..line.rfind(')').unwrap()]
        .split(", ")
        .filter(|r| *r != "none")
        .map(|r| {
            let (k, v) = r.rsplit_once('=').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    Stats {
        read: num(" read "),
        kept: num(" kept "),
        skipped: num(" skipped "),
        reasons,
        files_skipped: num("(skipped "),
    }
}

/// With --skip-invalid: exit 0, the exact number of invalid records, and
/// read = kept + skipped.
fn skips(path: &str, invalid: u64, kept: u64) -> Stats {
    let out = kvaudit(&["events", "--skip-invalid", "--stats", path]);
    assert_eq!(out.code, 0, "{path}: {}", out.stderr);
    let s = total_stats(&out.stderr);
    assert_eq!(
        s.reasons.get("invalid").copied().unwrap_or(0),
        invalid,
        "{}",
        out.stderr
    );
    assert_eq!(s.kept, kept, "{}", out.stderr);
    assert_eq!(s.read, s.kept + s.skipped, "accounting: {}", out.stderr);
    assert_eq!(s.skipped, s.reasons.values().sum::<u64>());
    assert_eq!(
        jsonl(&out.stdout).len() as u64,
        kept,
        "events written = kept"
    );
    s
}

#[test]
fn truncated_json_names_the_position() {
    let p = corpus("truncated.json");
    error_says(
        &p,
        false,
        &["truncated.json: line 1 column", "invalid JSON", "EOF"],
    );
    // Nothing can be recovered from a cut-off single JSON document.
    error_says(&p, true, &["truncated.json", "invalid JSON"]);
}

#[test]
fn ragged_row_names_its_line_and_is_skipped_exactly() {
    let p = corpus("ragged.csv");
    error_says(
        &p,
        false,
        &[
            "ragged.csv: line 4 (record 3)",
            "expected 33 fields as in the header, found 34",
        ],
    );
    skips(&p, 1, 12);
}

#[test]
fn wrong_delimiter_is_named() {
    error_says(
        &corpus("semicolon.csv"),
        false,
        &[
            "semicolon.csv: line 1",
            "expected comma-separated values",
            "semicolons",
        ],
    );
}

#[test]
fn latin1_bytes_name_line_and_column() {
    let p = corpus("latin1.csv");
    error_says(
        &p,
        false,
        &[
            "latin1.csv: line 2 (record 1)",
            "expected UTF-8 text in column 20",
            "Latin-1",
        ],
    );
    skips(&p, 1, 12);
}

#[test]
fn duplicate_headers_are_refused() {
    error_says(
        &corpus("duplicate-headers.csv"),
        false,
        &[
            "line 1 (the header)",
            "duplicate column OperationName (columns 10 and 34)",
        ],
    );
}

#[test]
fn bom_in_the_middle_names_the_line() {
    let p = corpus("bom-in-middle.csv");
    error_says(
        &p,
        false,
        &[
            "bom-in-middle.csv: line 17 (record 7)",
            "byte-order mark",
            "expected a data row",
        ],
    );
    let s = skips(&p, 1, 13);
    assert_eq!(s.reasons.get("other resource provider"), Some(&1));
}

#[test]
fn repeated_header_without_bom_is_caught() {
    let text = std::fs::read_to_string(fixture("shapes/azurediagnostics-portal.csv")).unwrap();
    let header = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap()
        .to_string();
    let doubled = format!("{text}{header}\r\n");
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "twice.csv", doubled.as_bytes());
    error_says(&p, false, &["twice.csv: line", "found the header again"]);
    skips(&p, 1, 13);
}

#[test]
fn number_where_a_string_is_expected() {
    let p = corpus("number-for-string.json");
    error_says(
        &p,
        false,
        &[
            "number-for-string.json: record 2",
            "OperationName: expected a string, found a number (42)",
        ],
    );
    skips(&p, 1, 12);
}

#[test]
fn other_resource_provider_only_says_so() {
    error_says(
        &corpus("other-provider.csv"),
        false,
        &[
            "other-provider.csv: no Key Vault AuditEvent rows",
            "14 rows read; 14 skipped: other resource provider",
        ],
    );
}

#[test]
fn empty_tables_array_says_so() {
    error_says(
        &corpus("empty-tables.json"),
        false,
        &[
            "empty-tables.json",
            "expected at least one table",
            "empty \"tables\" array",
        ],
    );
}

#[test]
fn ten_megabyte_field_is_refused_by_name() {
    let text = std::fs::read_to_string(fixture("shapes/azurediagnostics-portal.csv")).unwrap();
    let big = "A".repeat(10 << 20);
    let huge = text.replacen("azsdk-python-keyvault-secrets/4.7.0", &big, 1);
    assert_ne!(huge, text);
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "huge.csv", huge.as_bytes());
    error_says(
        &p,
        false,
        &[
            "huge.csv: line 2 (record 1)",
            "clientInfo_s: a value of 10485",
            "expected at most 1048576 bytes",
        ],
    );
    skips(&p, 1, 12);
    // The same in JSON.
    let rows: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("shapes/azurediagnostics-array.json")).unwrap(),
    )
    .unwrap();
    let mut rows = rows.as_array().unwrap().clone();
    rows[2]["clientInfo_s"] = serde_json::Value::String(big);
    let p = write(
        d.path(),
        "huge.json",
        serde_json::to_string(&rows).unwrap().as_bytes(),
    );
    error_says(
        &p,
        false,
        &["huge.json: record 3", "clientInfo_s: a value of"],
    );
    skips(&p, 1, 12);
}

#[cfg(unix)]
#[test]
fn unreadable_file_in_a_directory_is_named_or_skipped() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("shapes/raw-records.jsonl"), dir.join("a.jsonl")).unwrap();
    let locked = dir.join("b.jsonl");
    std::fs::copy(fixture("shapes/raw-records.jsonl"), &locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&locked).is_ok() {
        // Running as root: permissions do not stop reads, so make the entry
        // unreadable another way (a dangling symlink).
        std::fs::remove_file(&locked).unwrap();
        std::os::unix::fs::symlink(d.path().join("gone"), &locked).unwrap();
    }
    let dir = dir.to_string_lossy().into_owned();
    error_says(&dir, false, &["cannot read", "b.jsonl"]);
    let out = kvaudit(&["events", "--skip-invalid", "--stats", &dir]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("warning: skipping cannot read"),
        "{}",
        out.stderr
    );
    let s = total_stats(&out.stderr);
    assert_eq!(
        (s.files_skipped, s.kept, s.read),
        (1, 13, 13),
        "{}",
        out.stderr
    );
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_named_or_skipped() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("logs");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(fixture("shapes/raw-records.jsonl"), dir.join("sub/a.jsonl")).unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("sub/loop")).unwrap();
    let dir = dir.to_string_lossy().into_owned();
    error_says(
        &dir,
        false,
        &["cannot read", "loop", "File system loop found"],
    );
    let out = kvaudit(&["events", "--skip-invalid", "--stats", &dir]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = total_stats(&out.stderr);
    assert_eq!((s.files_skipped, s.kept), (1, 13), "{}", out.stderr);
}

#[test]
fn report_json_accounting_balances() {
    let p = corpus("ragged.csv");
    let out = kvaudit(&[
        "report",
        "--format",
        "json",
        "--skip-invalid",
        "--from",
        "2025-03-10T09:00:00Z",
        &p,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let s = &r["summary"];
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    let skipped: u64 = s["rows_skipped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(s["rows_skipped"]["invalid"], 1);
    assert_eq!(n("rows_read"), n("rows_kept") + skipped);
    assert_eq!(n("rows_kept"), n("events") + n("rows_outside_period"));
    assert!(n("rows_outside_period") > 0, "the window cut some rows");
}
