//! `kvaudit synth`: every shape reads back to the same callers, every
//! identity kind and status class is present, output is deterministic.

use crate::harness::*;
use std::collections::BTreeSet;

#[test]
fn every_shape_reads_back_to_the_same_callers() {
    let d = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for shape in ["azdiag-csv", "raw-jsonl", "azkv-api"] {
        let p = synth(d.path(), shape, 3000, 7);
        let out = kvaudit(&["callers", "--format", "json", "--stats", &p]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stderr.contains("read 3000 kept 3000 skipped 0"),
            "{}",
            out.stderr
        );
        let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        results.push(rows);
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[1], results[2]);
    let kinds: BTreeSet<&str> = results[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for k in [
        "user",
        "guest_user",
        "service_principal",
        "managed_identity",
        "microsoft_app",
        "unauthenticated",
    ] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    let events: u64 = results[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["events"].as_u64().unwrap())
        .sum();
    assert_eq!(events, 3000);
}

#[test]
fn statuses_denials_and_automation_are_realistic() {
    let d = tempfile::tempdir().unwrap();
    let p = synth(d.path(), "raw-jsonl", 3000, 1);
    let out = kvaudit(&["events", &p]);
    let statuses: BTreeSet<u64> = jsonl(&out.stdout)
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, BTreeSet::from([200, 401, 403, 404]));
    let out = kvaudit(&["explain", "--format", "json", &p]);
    let found: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let denials: BTreeSet<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["denial"].as_str().unwrap())
        .collect();
    assert_eq!(
        denials,
        BTreeSet::from(["access_policy", "firewall", "rbac"])
    );
    let out = kvaudit(&["report", "--format", "json", &p]);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let uba: Vec<&serde_json::Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "user_bound_automation")
        .collect();
    assert_eq!(uba.len(), 1, "{uba:?}");
    assert_eq!(uba[0]["principal"]["upn"], "user00@contoso.com");
}

#[test]
fn deterministic_for_a_seed_and_never_overwrites() {
    let d = tempfile::tempdir().unwrap();
    let a = synth(d.path(), "azdiag-csv", 3000, 5);
    let b = d.path().join("again").to_string_lossy().into_owned();
    let out = kvaudit(&["synth", "--rows", "3000", "--seed", "5", "-o", &b]);
    assert_eq!(out.code, 0);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let c = synth(d.path(), "azdiag-csv", 3000, 6);
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    let out = kvaudit(&["synth", "--rows", "10", "-o", &a]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
}

/// Progress shows on a terminal (a pty from `script`, when installed) and
/// never when stderr is a pipe.
#[test]
fn progress_only_on_a_terminal() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("big.csv").to_string_lossy().into_owned();
    let out = kvaudit(&["synth", "--rows", "100000", "-o", &p]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let piped = kvaudit(&["callers", "--format", "json", &p]);
    assert_eq!(piped.code, 0);
    assert!(!piped.stderr.contains("rows/s"), "{}", piped.stderr);
    if !std::path::Path::new("/usr/bin/script").exists() {
        eprintln!("script(1) not installed: terminal half skipped");
        return;
    }
    let cmd = format!(
        "{} callers --format json {} > /dev/null",
        env!("CARGO_BIN_EXE_kvaudit"),
        p
    );
    let tty = std::process::Command::new("/usr/bin/script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("KVAUDIT_NO_PROGRESS")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{shown}");
    assert!(
        shown.contains("rows/s"),
        "no progress on a terminal: {shown:?}"
    );
}
