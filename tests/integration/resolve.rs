//! `--resolve` against a real HTTP server on 127.0.0.1 playing Microsoft
//! Graph (`directoryObjects/getByIds`), with the answers cached on disk.

use crate::harness::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn graph() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut len = 0;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let ok = line.starts_with("POST /v1.0/directoryObjects/getByIds");
            let resp = json!({"value": [
                {"@odata.type": "#microsoft.graph.user", "id": "d4e5f6a7-1b2c-4d3e-8f4a-5b6c7d8e9f01", "displayName": "Carol Jones", "userPrincipalName": "carol@contoso.com", "userType": "Member", "accountEnabled": false},
                {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "a7b8c9d0-4e5f-4a6b-9c7d-8e9f0a1b2c34", "appId": "b8c9d0e1-5f6a-4b7c-8d8e-9f0a1b2c3d45", "displayName": "backup-spn", "servicePrincipalType": "Application", "accountEnabled": true}
            ]})
            .to_string();
            let status = if ok { "200 OK" } else { "404 Not Found" };
            let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{resp}", resp.len());
        }
    });
    (base, n)
}

fn run(args: &[&str]) -> Out {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kvaudit"))
        .args(args)
        .env("KVAUDIT_GRAPH_TOKEN", "graph-test-token")
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn resolve_names_disabled_users_and_caches() {
    let (base, hits) = graph();
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("graph.json").to_string_lossy().into_owned();
    let w = fixture("scenarios/s1-s9-three-weeks.jsonl");
    let args = [
        "report",
        "--format",
        "json",
        &w,
        "--resolve",
        "--graph-endpoint",
        &base,
        "--resolve-cache",
        &cache,
    ];
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    let ub = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "user_bound_automation")
        .unwrap();
    assert_eq!(ub["evidence"]["account_enabled"], false);
    assert_eq!(ub["severity"], "high");
    assert!(ub["recommendation"].as_str().unwrap().contains("disabled"));
    let backup = r["callers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["appid"] == "b8c9d0e1-5f6a-4b7c-8d8e-9f0a1b2c3d45")
        .unwrap();
    assert_eq!(backup["name"], "backup-spn");
    let first = hits.load(Ordering::SeqCst);
    assert_eq!(first, 1);
    // Second run: answered from the cache file, no request.
    let out = run(&[
        "callers",
        "--format",
        "json",
        &w,
        "--resolve",
        "--graph-endpoint",
        &base,
        "--resolve-cache",
        &cache,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(hits.load(Ordering::SeqCst), first);
    assert!(out.stdout.contains("backup-spn"));
}
