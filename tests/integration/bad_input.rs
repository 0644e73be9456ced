//! Every bad input gets a clear error naming the file, the line or record
//! and what was expected; never a panic; `--skip-invalid` counts.

use crate::harness::*;

fn fails(args: &[&str]) -> String {
    let out = kvaudit(args);
    assert_eq!(
        out.code, 1,
        "expected exit 1 for {args:?}; stderr: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // `events` streams: records before the bad one may already be on
    // stdout (the exit code says the output is incomplete); with -o FILE
    // nothing is left behind (`events_output_file_is_not_left_on_error`).
    if args[0] != "events" {
        assert!(out.stdout.is_empty());
    }
    out.stderr
}

#[test]
fn events_output_file_is_not_left_on_error() {
    let mut text = std::fs::read_to_string(fixture("shapes/raw-records.jsonl")).unwrap();
    text.push_str("{\"time\": oops}\n");
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "bad.jsonl", text.as_bytes());
    let out_path = d.path().join("events.jsonl");
    let o = out_path.to_string_lossy().into_owned();
    let e = fails(&["events", &p, "-o", &o]);
    assert!(e.contains("bad.jsonl: line 14"), "{e}");
    assert!(!out_path.exists());
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn unrecognised_file_names_the_file_and_shapes_tried() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "notes.txt", b"hello world\nthis is not a log\n");
    let e = fails(&["events", &p]);
    assert!(
        e.contains("notes.txt") && e.contains("unrecognised") && e.contains("AzureDiagnostics CSV"),
        "{e}"
    );
}

#[test]
fn empty_file_says_so() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "empty.json", b"");
    let e = fails(&["callers", &p]);
    assert!(e.contains("empty.json: the file is empty"), "{e}");
    let p = write(d.path(), "blank.csv", b"\xEF\xBB\xBF  \r\n");
    assert!(fails(&["events", &p]).contains("the file is empty"));
}

#[test]
fn no_key_vault_rows_says_so() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "sql.csv",
        b"TimeGenerated [UTC],ResourceProvider,OperationName,httpStatusCode_d\r\n\"3/10/2025, 8:00:01.123 AM\",MICROSOFT.SQL,AuditEvent,\r\n",
    );
    let e = fails(&["events", &p]);
    assert!(
        e.contains("sql.csv: no Key Vault AuditEvent rows")
            && e.contains("1 skipped: other resource provider"),
        "{e}"
    );
    let p = write(d.path(), "empty-tables.json", br#"{"tables":[]}"#);
    assert!(fails(&["events", &p]).contains("empty \"tables\" array"));
}

#[test]
fn missing_required_column_is_named() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "notime.csv",
        b"OperationName,Resource,httpStatusCode_d\nSecretGet,KV,200\n",
    );
    let e = fails(&["events", &p]);
    assert!(
        e.contains("notime.csv: missing required column TimeGenerated"),
        "{e}"
    );
}

#[test]
fn malformed_json_line_names_line_and_skip_counts() {
    let good = std::fs::read_to_string(fixture("shapes/raw-records.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines[4] = "{\"time\": \"2025-03-10T09:00:00Z\", \"operationName\": ";
    lines[7] = "[1,2]";
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "broken.jsonl", lines.join("\n").as_bytes());
    let e = fails(&["events", &p]);
    assert!(
        e.contains("broken.jsonl: line 5") && e.contains("expected a JSON object"),
        "{e}"
    );
    let out = kvaudit(&["events", "--skip-invalid", "--stats", &p]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(jsonl(&out.stdout).len(), 11);
    assert!(
        out.stderr
            .contains("skipped 2 invalid record(s); first at line 5"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("read 13 kept 11 skipped 2"),
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_csv_values_name_line_and_expectation() {
    let text = std::fs::read_to_string(fixture("shapes/azurediagnostics-portal.csv")).unwrap();
    let bad = text.replacen("\"3/10/2025, 9:00:00.000 AM\"", "\"not a time\"", 1);
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "badtime.csv", bad.as_bytes());
    let e = fails(&["events", &p]);
    assert!(
        e.contains("badtime.csv: line")
            && e.contains("expected a time")
            && e.contains("not a time"),
        "{e}"
    );
    let out = kvaudit(&["callers", "--skip-invalid", "--format", "json", &p]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("skipped 1 invalid record(s)"),
        "{}",
        out.stderr
    );
}

#[test]
fn ragged_csv_row_names_the_line() {
    let mut text = std::fs::read_to_string(fixture("shapes/azkvauditlogs-portal.csv")).unwrap();
    text.push_str("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z\r\n");
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "ragged.csv", text.as_bytes());
    let e = fails(&["events", &p]);
    assert!(
        e.contains("ragged.csv: line") && e.contains("fields"),
        "{e}"
    );
    let out = kvaudit(&["events", "--skip-invalid", &p]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(jsonl(&out.stdout).len(), 13);
    assert!(
        out.stderr.contains("skipped 1 invalid record(s)"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_status_and_truncated_json() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "status.json",
        br#"[{"TimeGenerated":"2025-03-10T08:00:00Z","OperationName":"SecretGet","httpStatusCode_d":"Forbidden","Resource":"KV"}]"#,
    );
    let e = fails(&["events", &p]);
    assert!(
        e.contains("status.json: record 1") && e.contains("expected an HTTP status code"),
        "{e}"
    );
    let p = write(
        d.path(),
        "trunc.json",
        br#"{"records":[{"time":"2025-03-10T08:00:00Z","#,
    );
    let e = fails(&["events", &p]);
    assert!(
        e.contains("trunc.json: line 1 column") && e.contains("invalid JSON"),
        "{e}"
    );
}

#[test]
fn missing_file_and_usage_errors() {
    let e = fails(&["events", "/nonexistent/kv.json"]);
    assert!(e.contains("/nonexistent/kv.json"), "{e}");
    let out = kvaudit(&["events"]);
    assert_eq!(out.code, 2);
    let out = kvaudit(&["callers", "--format", "yaml", &fixture("tree")]);
    assert_eq!(out.code, 2);
}

#[test]
fn output_file_is_not_overwritten_without_force() {
    let d = tempfile::tempdir().unwrap();
    let out_path = write(d.path(), "events.jsonl", b"keep me");
    let src = fixture("shapes/raw-records.jsonl");
    let out = kvaudit(&["events", &src, "-o", &out_path]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "keep me");
    let out = kvaudit(&["events", &src, "-o", &out_path, "--force"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        jsonl(&std::fs::read_to_string(&out_path).unwrap()).len(),
        13
    );
    let out = kvaudit(&["events", &out_path, "-o", &out_path, "--force"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("one of the inputs"));
}

/// A quote that never closes early in a large CSV: the reader refuses the
/// runaway record at 64 MiB instead of holding the rest of the file, and
/// names where it starts.
#[test]
fn unterminated_quote_in_a_large_csv_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let header = std::fs::read_to_string(fixture("shapes/azurediagnostics-portal.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let mut text = format!("{header}\nx,\"");
    let line = format!("{}\n", "a".repeat(1023));
    text.push_str(&line.repeat(70 * 1024));
    let p = write(d.path(), "runaway.csv", text.as_bytes());
    let err = fails(&["callers", &p]);
    assert!(
        err.contains("runaway.csv: line 2 (record 1): found no end of record in 64 MiB"),
        "{err}"
    );
}

/// A JSON Lines line that is an array is not a record, and `properties`
/// that is not an object gives no properties, on the fast path as on the
/// general one (serde's derived reader of a struct takes an array too).
#[test]
fn arrays_in_raw_json_lines_are_not_records() {
    let text = std::fs::read_to_string(fixture("shapes/raw-records.jsonl")).unwrap();
    let first = text.lines().next().unwrap();
    let d = tempfile::tempdir().unwrap();
    let array = r#"["2025-03-01T00:00:00Z",null,null,"SecretGet"]"#;
    let mut v: serde_json::Value = serde_json::from_str(first).unwrap();
    let status = v["properties"]["httpStatusCode"].clone();
    assert!(!status.is_null(), "{first}");
    v["properties"] = serde_json::json!([status]);
    let lines = format!("{first}\n{array}\n{v}\n");
    let p = write(d.path(), "arrays.jsonl", lines.as_bytes());
    let e = fails(&["events", &p, "--format", "jsonl"]);
    assert!(
        e.contains("arrays.jsonl: line 2") && e.contains("expected a JSON object"),
        "{e}"
    );
    let out = kvaudit(&["events", &p, "--format", "jsonl", "--skip-invalid"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{}", out.stdout);
    assert!(!events[0]["status"].is_null());
    assert!(events[1]["status"].is_null(), "{}", events[1]);
}
