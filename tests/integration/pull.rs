//! `kvaudit pull` against a real HTTP server on 127.0.0.1 that plays the Log
//! Analytics query API: 429 with Retry-After, a partial error, a row-limited
//! response that forces a split, and a 401. No test touches the internet.

use crate::harness::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Event times the fake workspace holds: 2 per hour over the last 10 hours.
fn times() -> Vec<chrono::DateTime<chrono::Utc>> {
    let now = chrono::Utc::now();
    (0..20)
        .map(|i| now - chrono::Duration::minutes(30 * i + 5))
        .collect()
}

fn rows_between(from: &str, to: &str, all: &[chrono::DateTime<chrono::Utc>]) -> Vec<Value> {
    let f = chrono::DateTime::parse_from_rfc3339(from).unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(to).unwrap();
    all.iter()
        .filter(|x| **x >= f && **x < t)
        .map(|x| {
            json!([
                x.to_rfc3339(),
                "SecretGet",
                200.0,
                "KV-PROD",
                "5b1c7e2a-8f3d-4c6b-9a1e-2d4f6b8c0a11"
            ])
        })
        .collect()
}

fn response(rows: Vec<Value>) -> Value {
    json!({"tables": [{"name": "PrimaryResult", "columns": [
        {"name": "TimeGenerated", "type": "datetime"}, {"name": "OperationName", "type": "string"},
        {"name": "httpStatusCode_d", "type": "real"}, {"name": "Resource", "type": "string"},
        {"name": "identity_claim_oid_g", "type": "guid"}], "rows": rows}]})
}

/// Starts the fake API; returns its base URL and a request counter.
fn serve() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let all = times();
    std::thread::spawn(move || {
        let mut seen_429 = false;
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if lower.starts_with("authorization:") {
                    auth = h["authorization:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
            let req: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
            let ts = req["timespan"].as_str().unwrap_or("/").to_string();
            let (from, to) = ts.split_once('/').unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let ws = path
                .trim_start_matches("/v1/workspaces/")
                .trim_end_matches("/query")
                .to_string();
            let (status, extra, body) = match ws.as_str() {
                _ if auth != "Bearer test-token" => (
                    "401 Unauthorized",
                    "",
                    json!({"error": {"message": "Valid authentication was not provided"}}),
                ),
                "ws-429" if !seen_429 => {
                    seen_429 = true;
                    (
                        "429 Too Many Requests",
                        "Retry-After: 1\r\n",
                        json!({"error": {"message": "throttled"}}),
                    )
                }
                "ws-partial" => {
                    let mut v = response(rows_between(from, to, &all));
                    v["error"] = json!({"code": "PartialError", "message": "Query result set has exceeded the internal limit"});
                    ("200 OK", "", v)
                }
                "ws-403" => (
                    "403 Forbidden",
                    "",
                    json!({"error": {"message": "The provided credentials have insufficient access"}}),
                ),
                _ => ("200 OK", "", response(rows_between(from, to, &all))),
            };
            let b = body.to_string();
            let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len());
        }
    });
    (base, count)
}

fn pull(base: &str, ws: &str, extra: &[&str]) -> Out {
    let mut args = vec![
        "pull",
        "--workspace",
        ws,
        "--endpoint",
        base,
        "--timespan",
        "PT12H",
        "--token-stdin",
    ];
    args.extend_from_slice(extra);
    kvaudit_stdin(&args, Some(b"test-token\n"))
}

#[test]
fn pulls_and_other_commands_read_the_response() {
    let (base, _) = serve();
    let d = tempfile::tempdir().unwrap();
    let out_file = d.path().join("pulled.json").to_string_lossy().into_owned();
    let out = pull(&base, "ws-ok", &["-o", &out_file]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(v["tables"][0]["rows"].as_array().unwrap().len(), 20);
    let c = kvaudit(&["callers", "--format", "json", &out_file]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    let callers: Vec<Value> = serde_json::from_str(&c.stdout).unwrap();
    assert_eq!(callers[0]["events"], 20);
    // Straight through a pipe: `kvaudit pull ... | kvaudit callers -`.
    let piped = pull(&base, "ws-ok", &[]);
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    let c2 = kvaudit_stdin(
        &["callers", "--format", "json", "-"],
        Some(piped.stdout.as_bytes()),
    );
    assert_eq!(c2.code, 0, "{}", c2.stderr);
    assert_eq!(c2.stdout, c.stdout);
}

#[test]
fn retries_429_honouring_retry_after() {
    let (base, count) = serve();
    let start = std::time::Instant::now();
    let out = pull(&base, "ws-429", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(start.elapsed() >= std::time::Duration::from_millis(950));
    assert!(
        out.stderr.contains("HTTP 429") && out.stderr.contains("retrying in 1.0s"),
        "{}",
        out.stderr
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["tables"][0]["rows"].as_array().unwrap().len(), 20);
}

#[test]
fn splits_the_time_range_at_the_row_limit() {
    let (base, count) = serve();
    let out = pull(&base, "ws-ok", &["--row-limit", "8"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("splitting the time range"),
        "{}",
        out.stderr
    );
    assert!(count.load(Ordering::SeqCst) > 3);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = v["tables"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20, "every row once, none lost or doubled");
    let times: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(times.len(), 20);
}

#[test]
fn partial_errors_are_reported_not_ignored() {
    let (base, _) = serve();
    let out = pull(&base, "ws-partial", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("partial result") && out.stderr.contains("exceeded the internal limit"),
        "{}",
        out.stderr
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "PartialError");
    // Reading the saved response warns again.
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "partial.json", out.stdout.as_bytes());
    let c = kvaudit(&["callers", &p]);
    assert!(c.stderr.contains("partial error"), "{}", c.stderr);
}

#[test]
fn unauthorised_gets_a_clear_message() {
    let (base, _) = serve();
    let out = kvaudit_stdin(
        &[
            "pull",
            "--workspace",
            "ws-ok",
            "--endpoint",
            &base,
            "--token-stdin",
        ],
        Some(b"wrong-token"),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("HTTP 401")
            && out.stderr.contains("Log Analytics Reader")
            && out.stderr.contains("ws-ok"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-token"));
    let out = pull(&base, "ws-403", &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("HTTP 403") && out.stderr.contains("insufficient access"),
        "{}",
        out.stderr
    );
}
