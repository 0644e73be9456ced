//! `kvaudit attribute` on fixtures/databricks (written by its make.py):
//! ten AzureDatabricks reads of which, by hand, seven have one closest
//! getSecret within 5 s (alice x4, bob, carol, dave), one has none (the
//! api-token read: the event is 9 s later) and two share one event at equal
//! distance (ambiguous). bob's and carol's reads of the same secret are a
//! second apart; dave's scope maps to another vault (kv-other), where
//! without --scopes erin's closer event on kv-scope would be taken.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn attribute(extra: &[&str]) -> Value {
    let v = fixture("databricks/vault.jsonl");
    let out = kvaudit(&[&["attribute", &v, "--format", "json"], extra].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn people(a: &Value) -> BTreeMap<String, u64> {
    a["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["user"].as_str().unwrap().to_string(),
                p["reads"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn map(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
    v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[test]
fn each_read_goes_to_the_closest_getsecret_of_its_scopes_vault() {
    let scopes = fixture("databricks/scopes.json");
    for input in [
        "databricks/databricks-secrets.csv",
        "databricks/audit.jsonl",
    ] {
        let d = fixture(input);
        let a = attribute(&["--databricks", &d, "--scopes", &scopes]);
        assert_eq!(
            people(&a),
            map(&[
                ("alice@contoso.com", 4),
                ("bob@contoso.com", 1),
                ("carol@contoso.com", 1),
                ("dave@contoso.com", 1)
            ]),
            "{input}"
        );
        assert_eq!(
            (&a["reads"], &a["unattributed"], &a["ambiguous"]),
            (&Value::from(10), &Value::from(1), &Value::from(2))
        );
        assert_eq!(a["matched_share"], 0.7);
        let dave = a["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["user"] == "dave@contoso.com")
            .unwrap();
        assert_eq!(dave["objects"][0]["vault"], "kv-other");
        assert_eq!(dave["platform"], "databricks");
        let alice = &a["people"][0];
        assert_eq!(alice["first_seen"], "2026-03-10T10:00:00.000000Z");
        assert_eq!(alice["last_seen"], "2026-03-13T02:00:00.000000Z");
        assert_eq!(alice["workspaces"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn without_scopes_the_name_alone_decides_and_the_tolerance_is_a_flag() {
    let d = fixture("databricks/databricks-secrets.csv");
    let out = kvaudit(&[
        "attribute",
        &fixture("databricks/vault.jsonl"),
        "--databricks",
        &d,
    ]);
    assert!(
        out.stderr.contains("matching on the secret name alone"),
        "{}",
        out.stderr
    );
    // erin's event on kv-scope is 1 s from the kv-other read, dave's 2 s.
    let a = attribute(&["--databricks", &d]);
    assert_eq!(
        people(&a),
        map(&[
            ("alice@contoso.com", 4),
            ("bob@contoso.com", 1),
            ("carol@contoso.com", 1),
            ("erin@contoso.com", 1)
        ])
    );
    // 10 s: the api-token read (9 s) is alice's too.
    let scopes = fixture("databricks/scopes.json");
    let a = attribute(&["--databricks", &d, "--scopes", &scopes, "--tolerance", "10"]);
    assert_eq!(people(&a)["alice@contoso.com"], 5);
    assert_eq!(a["unattributed"], 0);
    let out = kvaudit(&[
        "attribute",
        &fixture("databricks/vault.jsonl"),
        "--databricks",
        &d,
        "--tolerance",
        "-1",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn every_format_and_bad_records_named() {
    let dir = tempfile::tempdir().unwrap();
    let v = fixture("databricks/vault.jsonl");
    let d = fixture("databricks/databricks-secrets.csv");
    let scopes = fixture("databricks/scopes.json");
    let out = kvaudit(&[
        "attribute",
        &v,
        "--databricks",
        &d,
        "--scopes",
        &scopes,
        "--format",
        "csv",
    ]);
    let mut r = csv::Reader::from_reader(out.stdout.as_bytes());
    assert_eq!(r.records().count(), 4);
    let out = kvaudit(&[
        "attribute",
        &v,
        "--databricks",
        &d,
        "--scopes",
        &scopes,
        "--format",
        "jsonl",
    ]);
    assert_eq!(jsonl(&out.stdout).len(), 1);
    let out = kvaudit(&["attribute", &v, "--databricks", &d, "--scopes", &scopes]);
    assert!(
        out.stdout.contains("1 unattributed") && out.stdout.contains("2 ambiguous"),
        "{}",
        out.stdout
    );
    // A getSecret whose RequestParams is not JSON: the file and record.
    let text = std::fs::read_to_string(&d)
        .unwrap()
        .replacen("{\"\"scope\"\"", "{oops", 1);
    let bad = write(dir.path(), "bad.csv", text.as_bytes());
    let out = kvaudit(&["attribute", &v, "--databricks", &bad]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("bad.csv")
            && out.stderr.contains("record 1")
            && out.stderr.contains("RequestParams"),
        "{}",
        out.stderr
    );
}

/// `callers --databricks`: the AzureDatabricks row keeps what no person
/// could be given (1 unattributed + 2 ambiguous reads + its denial = 4 of
/// its 11 events) and each person gets a row of their own.
#[test]
fn callers_split_azuredatabricks_into_people() {
    let v = fixture("databricks/vault.jsonl");
    let d = fixture("databricks/databricks-secrets.csv");
    let scopes = fixture("databricks/scopes.json");
    let out = kvaudit(&[
        "callers",
        &v,
        "--databricks",
        &d,
        "--scopes",
        &scopes,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let by: BTreeMap<String, (u64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["upn"]
                    .as_str()
                    .or(r["appid"].as_str())
                    .unwrap()
                    .to_string(),
                (
                    r["events"].as_u64().unwrap(),
                    r["kind"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(by["2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"].0, 4);
    assert_eq!(by["alice@contoso.com"], (4, "user".to_string()));
    assert_eq!(by["dave@contoso.com"].0, 1);
    assert_eq!(
        rows.len(),
        6,
        "AzureDatabricks, the other SP and four people"
    );
    let alice = rows
        .iter()
        .find(|r| r["upn"] == "alice@contoso.com")
        .unwrap();
    assert_eq!(alice["name"], "alice@contoso.com via AzureDatabricks");
    let plain = kvaudit(&["callers", &v, "--format", "json"]);
    let plain: Vec<Value> = serde_json::from_str(&plain.stdout).unwrap();
    assert_eq!(plain.len(), 2);
    assert_eq!(plain[0]["events"], 11);
}

/// From a review: spelling differences, skipped events said, a scope list
/// with no Key Vault scope refused, and the selection flags --databricks
/// cannot honour refused.
#[test]
fn spellings_skips_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let v = fixture("databricks/vault.jsonl");
    let scopes = fixture("databricks/scopes.json");
    let text = std::fs::read_to_string(fixture("databricks/databricks-secrets.csv")).unwrap();
    // bob's address in capitals and carol's key in another case; dave's
    // scope unknown to the list; one event without a status.
    let text = text
        .replacen("bob@contoso.com", "Bob@Contoso.com", 1)
        .replacen("carol@contoso.com\"\"}\",\"{\"\"scope\"\": \"\"kv-scope\"\", \"\"key\"\": \"\"db-password", "carol@contoso.com\"\"}\",\"{\"\"scope\"\": \"\"kv-scope\"\", \"\"key\"\": \"\"DB-Password", 1)
        .replacen("other-scope", "ghost-scope", 1)
        .replacen("{\"\"statusCode\"\": 200}", "{}", 1);
    let d = write(dir.path(), "s.csv", text.as_bytes());
    let out = kvaudit(&[
        "attribute",
        &v,
        "--databricks",
        &d,
        "--scopes",
        &scopes,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let a: Value = serde_json::from_str(&out.stdout).unwrap();
    let p = people(&a);
    assert_eq!(p.get("bob@contoso.com"), Some(&1), "{p:?}");
    assert_eq!(p.get("carol@contoso.com"), Some(&1), "{p:?}");
    assert!(!p.contains_key("dave@contoso.com"));
    assert_eq!(
        a["events_skipped"]["scope not a Key Vault scope of --scopes"],
        1
    );
    assert_eq!(
        a["events_skipped"]["not successful (or no status)"], 2,
        "mallory's 403 and the one without a status"
    );
    assert!(out.stderr.contains("not matched against"), "{}", out.stderr);
    // alice's first event lost its status: her 10:00 read is unattributed.
    assert_eq!(p["alice@contoso.com"], 3);
    let empty = write(
        dir.path(),
        "scopes.json",
        b"[{\"name\": \"x\", \"backend_type\": \"DATABRICKS\"}]",
    );
    let out = kvaudit(&["attribute", &v, "--databricks", &d, "--scopes", &empty]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no Azure Key Vault-backed scope"),
        "{}",
        out.stderr
    );
    let out = kvaudit(&["callers", &v, "--databricks", &d, "--kind", "user"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    // No reads: no share to speak of.
    let out = kvaudit(&[
        "attribute",
        &v,
        "--databricks",
        &d,
        "--from",
        "2027-01-01",
        "--format",
        "json",
    ]);
    let a: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(a["matched_share"], Value::Null);
}
