//! Every shape reads to the same canonical events; events and callers work
//! on every fixture and on the real-world records in fixtures/real-world.

use crate::harness::*;
use serde_json::Value;

const SHAPES: &[&str] = &[
    "shapes/raw-records-PT1H.json",
    "shapes/raw-records.jsonl",
    "shapes/raw-records-array.json",
    "shapes/azurediagnostics-portal.csv",
    "shapes/azurediagnostics-api.json",
    "shapes/azurediagnostics-azcli.json",
    "shapes/azurediagnostics-array.json",
    "shapes/azurediagnostics-value.json",
    "shapes/azkvauditlogs-portal.csv",
    "shapes/azkvauditlogs-api.json",
    "shapes/azkvauditlogs-azcli.json",
    "tree",
];

const CONTRACT: &[&str] = &[
    "time",
    "vault",
    "resource_id",
    "operation",
    "object_type",
    "object_name",
    "status",
    "result_signature",
    "result_description",
    "caller_appid",
    "caller_oid",
    "caller_upn",
    "caller_idtyp",
    "caller_appidacr",
    "caller_mirid",
    "caller_tenant",
    "caller_ip",
    "client_info",
    "correlation_id",
    "rbac_authorized",
    "access_policy_match",
    "applied_assignment_id",
    "duration_ms",
    "source",
    "source_record",
];

fn canonical(path: &str) -> Vec<Value> {
    let out = kvaudit(&["events", "--format", "jsonl", path]);
    assert_eq!(out.code, 0, "{path}: {}", out.stderr);
    let mut rows = jsonl(&out.stdout);
    for r in &mut rows {
        let m = r.as_object_mut().unwrap();
        for c in CONTRACT {
            assert!(m.contains_key(*c), "{path}: column {c} missing");
        }
        m.remove("source");
        m.remove("source_record");
    }
    rows.sort_by_key(|r| {
        (
            r["time"].as_str().unwrap().to_string(),
            r["operation"].as_str().unwrap().to_string(),
        )
    });
    rows
}

#[test]
fn every_shape_gives_identical_canonical_events() {
    let reference = canonical(&fixture(SHAPES[0]));
    assert_eq!(reference.len(), 13);
    for shape in &SHAPES[1..] {
        let got = canonical(&fixture(shape));
        assert_eq!(got.len(), reference.len(), "{shape}");
        for (a, b) in reference.iter().zip(&got) {
            assert_eq!(a, b, "{shape} differs from the raw records");
        }
    }
}

#[test]
fn normalisation_facts_hold() {
    let rows = canonical(&fixture("shapes/azurediagnostics-azcli.json"));
    let denied = rows
        .iter()
        .find(|r| r["caller_idtyp"] == "app" && r["status"] == 403)
        .unwrap();
    // "403.0" in az CLI output becomes the integer 403; status never from ResultType.
    assert_eq!(denied["status"], 403);
    assert_eq!(denied["vault"], "kv-data-prod");
    assert_eq!(denied["object_type"], "secret");
    assert_eq!(denied["object_name"], "sql-password");
    assert_eq!(
        denied["caller_tenant"],
        "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
    );
    assert_eq!(denied["rbac_authorized"], false);
    assert_eq!(denied["duration_ms"], 12);
    let auth = rows
        .iter()
        .find(|r| r["operation"] == "Authentication")
        .unwrap();
    assert_eq!(auth["status"], 401);
    assert!(auth["caller_oid"].is_null());
}

#[test]
fn portal_csv_time_and_other_providers() {
    let out = kvaudit(&[
        "events",
        "--stats",
        &fixture("shapes/azurediagnostics-portal.csv"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = jsonl(&out.stdout);
    assert_eq!(rows[0]["time"], "2025-03-10T08:00:01.123000Z");
    assert_eq!(rows.len(), 13);
    assert!(
        out.stderr
            .contains("read 14 kept 13 skipped 1 (other resource provider=1)"),
        "{}",
        out.stderr
    );
    // CSV records are numbered from the first data row; the SQL row is record 4.
    assert_eq!(rows[3]["source_record"], 5);
}

#[test]
fn mixed_shapes_and_stdin_at_once() {
    let csv = std::fs::read(fixture("shapes/azkvauditlogs-portal.csv")).unwrap();
    let out = kvaudit_stdin(
        &[
            "events",
            &fixture("shapes/raw-records.jsonl"),
            "-",
            &fixture("shapes/azurediagnostics-api.json"),
        ],
        Some(&csv),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = jsonl(&out.stdout);
    assert_eq!(rows.len(), 39);
    assert!(rows.iter().any(|r| r["source"] == "<stdin>"));
}

#[test]
fn events_csv_has_the_contract_header() {
    let out = kvaudit(&[
        "events",
        "--format",
        "csv",
        &fixture("shapes/raw-records.jsonl"),
    ]);
    assert_eq!(out.code, 0);
    let header = out.stdout.lines().next().unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    assert_eq!(&cols[..CONTRACT.len()], CONTRACT);
    let mut r = csv_rows(&out.stdout);
    assert_eq!(r.len(), 13);
    assert_eq!(r.remove(0)[6], "401");
}

fn csv_rows(s: &str) -> Vec<Vec<String>> {
    csv::Reader::from_reader(s.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn callers_json_fields_and_kinds() {
    let out = kvaudit(&[
        "callers",
        "--format",
        "json",
        &fixture("shapes/azurediagnostics-portal.csv"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    for field in [
        "appid",
        "oid",
        "upn",
        "events",
        "denied",
        "vaults",
        "first_seen",
        "last_seen",
        "kind",
    ] {
        assert!(v.iter().all(|c| c.get(field).is_some()), "field {field}");
    }
    let alice = v.iter().find(|c| c["upn"] == "alice@contoso.com").unwrap();
    assert_eq!(
        (alice["events"].as_u64(), alice["denied"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(
        (
            alice["secrets"].as_u64(),
            alice["keys"].as_u64(),
            alice["certificates"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(alice["kind"], "user");
    assert_eq!(alice["client_app"], "Microsoft Azure CLI");
    let uami = v.iter().find(|c| c["mi_type"] == "user").unwrap();
    assert_eq!(uami["vaults"], 2);
    assert_eq!(uami["denied"], 1);
    assert_eq!(
        uami["first_seen"],
        "2025-03-10T11:00:00Z".replace("Z", ".000000Z")
    );
    let total: u64 = v.iter().map(|c| c["events"].as_u64().unwrap()).sum();
    assert_eq!(total, 13);
    let kinds: std::collections::BTreeSet<&str> =
        v.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "guest_user",
            "managed_identity",
            "microsoft_app",
            "service_principal",
            "unauthenticated",
            "user"
        ]
    );
}

#[test]
fn callers_table_and_csv_render() {
    let t = kvaudit(&["callers", &fixture("tree")]);
    assert_eq!(t.code, 0);
    assert!(t.stdout.contains("factories/adf-prod") && t.stdout.contains("managed id (system)"));
    let c = kvaudit(&["callers", "--format", "csv", &fixture("tree")]);
    assert!(c.stdout.starts_with("appid,oid,upn,kind,"));
    assert_eq!(c.stdout.lines().count(), 8);
}

#[test]
fn shared_corpus_reads() {
    let out = kvaudit(&[
        "events",
        "--stats",
        &fixture("real-world/securathesis_raw"),
        &fixture("real-world/google_secops_doc_samples"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = jsonl(&out.stdout);
    assert_eq!(rows.len(), 8);
    let vault_put = rows.iter().find(|r| r["operation"] == "VaultPut").unwrap();
    // URI claim names coalesce with the short ones.
    assert_eq!(
        vault_put["caller_oid"],
        "30a6c29d-de7c-4830-815f-9b3bb366e975"
    );
    assert_eq!(
        vault_put["caller_upn"],
        "attacker@securathesis.onmicrosoft.com"
    );
    let auth = rows
        .iter()
        .find(|r| r["operation"] == "Authentication")
        .unwrap();
    assert_eq!(auth["status"], 401);
    assert_eq!(auth["duration_ms"], 17);
    let vg = rows.iter().find(|r| r["operation"] == "VaultGet").unwrap();
    assert_eq!(vg["vault"], "example-vault");
    let callers = kvaudit(&["callers", "--format", "json", &fixture("real-world")]);
    assert_eq!(callers.code, 0, "{}", callers.stderr);
    let v: Vec<Value> = serde_json::from_str(&callers.stdout).unwrap();
    let attacker = v
        .iter()
        .find(|c| c["upn"] == "attacker@securathesis.onmicrosoft.com")
        .unwrap();
    assert_eq!(attacker["events"], 5);
    assert_eq!(attacker["kind"], "user");
}

/// With a period, the archive tree's blobs whose `y=/m=/d=/h=` hour (with
/// an hour's margin) lies outside it are not opened, and counted: from
/// 13:00 the blobs of 08, 09, 10 and 11 o'clock (11:00 + 2 h of margin ends
/// at 13:00). What is read answers as the same records in one file do.
#[test]
fn a_period_skips_the_trees_blobs_outside_it() {
    let tree = fixture("tree");
    let out = kvaudit(&[
        "callers",
        &tree,
        "--from",
        "2025-03-10T13:00:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("4 blob(s) outside the period by their y=/m=/d=/h= path were not opened"),
        "{}",
        out.stderr
    );
    let one = kvaudit(&[
        "callers",
        &fixture("shapes/raw-records.jsonl"),
        "--from",
        "2025-03-10T13:00:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(out.stdout, one.stdout);
    let r = kvaudit(&[
        "report",
        &tree,
        "--from",
        "2025-03-10T13:00:00Z",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["summary"]["blobs_outside_period"], 4);
    // Without a period every blob is read.
    let all = kvaudit(&["callers", &tree, "--format", "json"]);
    assert!(!all.stderr.contains("not opened"), "{}", all.stderr);
    // A period no blob lies in: an empty report, as for the same records
    // in one file, not an error (a scheduled report on a quiet vault).
    let none = ["--from", "2030-01-01T00:00:00Z", "--format", "json"];
    let r = kvaudit(&[&["report", tree.as_str()][..], &none[..]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["summary"]["events"], 0);
    assert!(v["summary"]["blobs_outside_period"].as_u64() > Some(0));
    let one = fixture("shapes/raw-records.jsonl");
    let r1 = kvaudit(&[&["report", one.as_str()][..], &none[..]].concat());
    assert_eq!(r1.code, 0, "{}", r1.stderr);
    let c = kvaudit(&[&["callers", tree.as_str()][..], &none[..]].concat());
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(c.stdout.trim(), "[]");
}
