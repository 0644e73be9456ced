//! The caller inventory of `queries/caller-inventory.kql` (CSV export and
//! API response): `callers` on it equals `callers` on the raw events it was
//! computed from; other commands refuse it clearly; bad rows are named.

use crate::harness::*;
use serde_json::Value;

fn callers(paths: &[String]) -> Value {
    let mut args = vec!["callers", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    let out = kvaudit(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn inventory_equals_raw_events() {
    let raw = callers(&[
        fixture("scenarios/s1-s9-three-weeks.jsonl"),
        fixture("shapes/raw-records.jsonl"),
    ]);
    assert!(raw.as_array().unwrap().len() >= 10);
    for inv in [
        "scenarios/caller-inventory.csv",
        "scenarios/caller-inventory-api.json",
    ] {
        assert_eq!(callers(&[fixture(inv)]), raw, "{inv}");
    }
    // Mixed with raw events: the counts add up.
    let mixed = callers(&[
        fixture("scenarios/caller-inventory.csv"),
        fixture("shapes/raw-records.jsonl"),
    ]);
    let total = |v: &Value| -> u64 {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["events"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(total(&mixed), total(&raw) + 13);
}

#[test]
fn other_commands_refuse_an_inventory() {
    for cmd in ["events", "explain", "report"] {
        let out = kvaudit(&[cmd, &fixture("scenarios/caller-inventory.csv")]);
        assert_eq!(out.code, 2, "{cmd}: {}", out.stderr);
        assert!(
            out.stderr.contains("is a caller inventory")
                && out.stderr.contains("only `kvaudit callers` reads it"),
            "{}",
            out.stderr
        );
    }
}

/// An inventory is aggregated by caller, vault and day: a selection of
/// events cannot apply to it, so it is refused rather than ignored (its
/// callers were all listed before, whatever the flags).
#[test]
fn callers_refuses_a_selection_of_an_inventory() {
    let inv = fixture("scenarios/caller-inventory.csv");
    for flag in [
        &["--principal", "x"][..],
        &["--kind", "user"],
        &["--since", "7d"],
        &["--vault", "kv"],
    ] {
        let mut args = vec!["callers", inv.as_str()];
        args.extend_from_slice(flag);
        refused(&kvaudit(&args), "a caller inventory", &format!("{flag:?}"));
    }
    // `access` refuses its own inventory the same way.
    let access = fixture("access/access-inventory.csv");
    let out = kvaudit(&["access", &access, "--vault", "kv"]);
    refused(&out, "an access inventory", "access --vault");
}

/// `out` is the refusal of a selection of `inventory` (exit 2, nothing on
/// stdout).
fn refused(out: &Out, inventory: &str, case: &str) {
    assert_eq!(out.code, 2, "{case}: {}", out.stderr);
    let why = format!("is {inventory} (aggregated by day): the selection flags apply to events");
    assert!(out.stderr.contains(&why), "{case}: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{case}");
}

#[test]
fn bad_inventory_rows_are_named() {
    let text = std::fs::read_to_string(fixture("scenarios/caller-inventory-api.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["tables"][0]["rows"][3][8] = Value::String("many".into());
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "inv.json", v.to_string().as_bytes());
    let out = kvaudit(&["callers", &p]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("inv.json: tables[0].rows[3]: requests: expected a count, found \"many\""),
        "{}",
        out.stderr
    );
}
