//! Issue 17: real-world logs never stop a run. Each fixture in
//! `fixtures/messy/` (see its MANIFEST) gives exactly these events or skip
//! counts; a property test mixes AuditEvent records with records of other
//! categories in every JSON shape.

use crate::harness::*;
use proptest::prelude::*;
use serde_json::{json, Value};

fn messy(name: &str) -> String {
    fixture(&format!("messy/{name}"))
}

fn events(args: &[&str]) -> (Vec<Value>, Out) {
    let mut a = vec!["events"];
    a.extend_from_slice(args);
    let out = kvaudit(&a);
    (jsonl(&out.stdout), out)
}

/// `kvaudit: stats: total: ... read R kept K skipped S (...)` → (R, K, S).
fn totals(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("stats: total"))
        .unwrap_or_else(|| panic!("no totals in {stderr}"));
    let num = |key: &str| -> u64 {
        let rest = &line[line.find(key).unwrap() + key.len()..];
        rest.split_whitespace().next().unwrap().parse().unwrap()
    };
    (num(" read "), num(" kept "), num(" skipped "))
}

#[test]
fn other_categories_are_skipped_and_counted() {
    let (ev, out) = events(&[&messy("archive-with-activity-log.json"), "--stats"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ops: Vec<(&str, u64)> = ev
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ops, [("SecretGet", 200), ("SecretGet", 403)]);
    assert_eq!(totals(&out.stderr), (4, 2, 2));
    assert!(
        out.stderr.contains("other log category=2"),
        "{}",
        out.stderr
    );
    // The REST shape with an object category: skipped with the archive,
    // an error only when nothing else has events.
    let (ev, out) = events(&[
        &messy("az-activity-log-list.json"),
        &messy("archive-with-activity-log.json"),
        "--stats",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ev.len(), 2);
    assert_eq!(totals(&out.stderr), (5, 2, 3));
    let (_, alone) = events(&[&messy("az-activity-log-list.json")]);
    assert_eq!(alone.code, 1);
    assert!(
        alone
            .stderr
            .contains("no Key Vault AuditEvent rows (1 rows read; 1 skipped: other log category)"),
        "{}",
        alone.stderr
    );
}

#[test]
fn control_plane_records_without_status_are_kept_as_null() {
    let (ev, out) = events(&[&messy("control-plane-no-status.jsonl")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ev.len(), 2);
    let put = &ev[1];
    assert_eq!(put["operation"], "VaultPut");
    assert_eq!(put["status"], Value::Null);
    assert_eq!(put["caller_upn"], "alice@contoso.com");
    assert_eq!(put["vault"], "kv-data-prod");
    // Never a denial; the report sees the vault change.
    let ex = kvaudit(&[
        "explain",
        &messy("control-plane-no-status.jsonl"),
        "--format",
        "json",
    ]);
    assert_eq!(ex.code, 0, "{}", ex.stderr);
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&ex.stdout)
            .unwrap()
            .len(),
        0
    );
    let r = kvaudit(&[
        "report",
        &messy("control-plane-no-status.jsonl"),
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        v["findings"].as_array().unwrap().iter().any(|f| f["type"] == "sensitive_operation"
            && f["evidence"]["operation"] == "VaultPut"),
        "{}",
        r.stdout
    );
    // CSV: an empty cell.
    let csv = kvaudit(&[
        "events",
        &messy("control-plane-no-status.jsonl"),
        "--format",
        "csv",
    ]);
    let row = csv.stdout.lines().nth(2).unwrap();
    assert!(row.contains(",VaultPut,vault,,,,"), "{row}");
}

#[test]
fn managed_hsm_is_a_first_class_vault_kind() {
    let (ev, out) = events(&[&messy("managed-hsm.json")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got: Vec<(&str, &str, u64, &str, Option<&str>)> = ev
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["vault_kind"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
                e["caller_oid"].as_str().unwrap(),
                e["caller_upn"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "KeyGet",
                "managed_hsm",
                200,
                "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                Some("alice@contoso.com")
            ),
            (
                "KeySign",
                "managed_hsm",
                403,
                "8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44",
                None
            ),
            (
                "SecurityDomainGet",
                "managed_hsm",
                200,
                "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                Some("alice@contoso.com")
            ),
        ]
    );
    assert!(ev.iter().all(|e| e["vault"] == "contosomhsm"
        && e["client_info"]
            .as_str()
            .unwrap()
            .starts_with("azsdk-python-keyvault-keys")));
    let ex = kvaudit(&["explain", &messy("managed-hsm.json"), "--format", "json"]);
    let d: Vec<Value> = serde_json::from_str(&ex.stdout).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["role"], "Managed HSM Crypto User");
    assert_eq!(
        d[0]["action"],
        "Microsoft.KeyVault/managedHsm/keys/sign/action"
    );
    assert_eq!(d[0]["scope"], "/keys/cmk-sql");
    assert_eq!(
        d[0]["fix"],
        "az keyvault role assignment create --hsm-name contosomhsm --role 'Managed HSM Crypto User' --assignee-object-id 8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44 --assignee-principal-type ServicePrincipal --scope /keys/cmk-sql"
    );
    // A Key Vault event says so too.
    let (ev, _) = events(&[&fixture("scenarios/s6-firewall.jsonl")]);
    assert!(ev.iter().all(|e| e["vault_kind"] == "vault"));
}

#[test]
fn an_identity_as_text_is_parsed_or_the_record_is_malformed() {
    let (ev, out) = events(&[&messy("identity-as-string.jsonl")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ev[0]["caller_oid"], "8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44");
    assert_eq!(
        ev[0]["caller_appid"],
        "3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55"
    );
    let c = kvaudit(&[
        "callers",
        &messy("identity-as-string.jsonl"),
        "--format",
        "json",
    ]);
    let rows: Vec<Value> = serde_json::from_str(&c.stdout).unwrap();
    assert_eq!(rows[0]["kind"], "service_principal");
    let (_, bad) = events(&[&messy("identity-unparseable.jsonl")]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("identity-unparseable.jsonl: line 2: identity: expected a JSON object"),
        "{}",
        bad.stderr
    );
    let (ev, skipped) = events(&[
        &messy("identity-unparseable.jsonl"),
        "--skip-invalid",
        "--stats",
    ]);
    assert_eq!(skipped.code, 0);
    assert_eq!(ev.len(), 1);
    assert!(skipped.stderr.contains("invalid=1"), "{}", skipped.stderr);
}

#[test]
fn pasted_fragments_and_schema_drift_read() {
    let (ev, out) = events(&[&messy("pasted-fragments.json"), "--stats"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        ev.iter()
            .map(|e| e["operation"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["SecretGet", "SecretList"]
    );
    assert!(
        out.stderr.contains("pasted one after another"),
        "{}",
        out.stderr
    );
    let (ev, out) = events(&[&messy("schema-drift.jsonl")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got: Vec<(&str, u64, Option<i64>, &str)> = ev
        .iter()
        .map(|e| {
            (
                e["time"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
                e["duration_ms"].as_i64(),
                e["caller_oid"].as_str().unwrap(),
            )
        })
        .collect();
    let oid = "8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44";
    assert_eq!(
        got,
        [
            ("2025-03-11T14:00:00.000000Z", 200, Some(7), oid),
            ("2025-03-11T12:00:01.123456Z", 200, Some(12), oid),
            ("2025-03-11T14:00:02.000000Z", 403, Some(12), oid),
        ]
    );
}

#[test]
fn one_bad_file_in_a_folder_is_skipped_with_its_reason() {
    let dir = messy("tree-one-bad");
    let (_, stops) = events(&[&dir]);
    assert_eq!(stops.code, 1);
    assert!(
        stops.stderr.contains("b-truncated.json: line 1 column"),
        "{}",
        stops.stderr
    );
    let (ev, out) = events(&[&dir, "--skip-invalid", "--stats"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ev.len(), 4);
    assert!(out.stderr.contains("files 2 (skipped 1)"), "{}", out.stderr);
    let r = kvaudit(&["report", &dir, "--skip-invalid", "--format", "json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let skipped = v["summary"]["files_skipped"][0].as_str().unwrap();
    assert!(
        skipped.contains("b-truncated.json: line 1 column 35: invalid JSON"),
        "{skipped}"
    );
}

/// A record of kind `k` numbered `i`: 0 is an AuditEvent (kept), 1 an
/// Activity Log record (storage shape), 2 the same in the REST shape, 3 a
/// policy evaluation record.
fn record(k: u8, i: usize) -> Value {
    let t = format!("2025-03-11T10:{:02}:{:02}Z", (i / 60) % 60, i % 60);
    let id = "/SUBSCRIPTIONS/7D3B2C1A-5E4F-4A3B-9C8D-1E2F3A4B5C6D/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-A";
    match k {
        0 => {
            json!({"time": t, "category": "AuditEvent", "operationName": "SecretGet", "resultType": "Success",
            "correlationId": format!("keep-{i}"), "identity": {"claim": {"oid": "8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44"}},
            "properties": {"httpStatusCode": 200, "requestUri": format!("https://kv-a.vault.azure.net/secrets/s{i}")},
            "resourceId": id})
        }
        1 => {
            json!({"time": t, "category": "Administrative", "operationName": "MICROSOFT.KEYVAULT/VAULTS/WRITE",
            "resultType": "Success", "correlationId": format!("drop-{i}"), "resourceId": id,
            "identity": {"authorization": {"action": "Microsoft.KeyVault/vaults/write"}, "claims": {"aud": "x"}},
            "properties": {"statusCode": "OK"}})
        }
        2 => json!({"category": {"value": "Administrative", "localizedValue": "Administrative"},
            "operationName": {"value": "Microsoft.KeyVault/vaults/write", "localizedValue": "Update Key Vault"},
            "eventTimestamp": t, "correlationId": format!("drop-{i}"), "resourceId": id,
            "status": {"value": "Succeeded"}}),
        _ => {
            json!({"time": t, "category": "AzurePolicyEvaluationDetails", "operationName": "AzurePolicyEvaluation",
            "correlationId": format!("drop-{i}"), "resourceId": id, "properties": {"ObjectName": "s"}})
        }
    }
}

/// The records in one of the JSON shapes kvaudit reads.
fn in_shape(shape: u8, records: &[Value]) -> String {
    let lines = || records.iter().map(Value::to_string).collect::<Vec<_>>();
    match shape {
        0 => lines().join("\n") + "\n",
        1 => json!({ "records": records }).to_string(),
        2 => Value::Array(records.to_vec()).to_string(),
        _ => lines().join(",\n") + "\n",
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any interleaving of AuditEvent records with records of other
    /// categories, in any JSON shape, yields exactly the AuditEvent
    /// records, and read = kept + skipped.
    #[test]
    fn only_audit_events_come_through(
        kinds in proptest::collection::vec(0u8..4, 2..40),
        shape in 0u8..4,
    ) {
        let mut kinds = kinds;
        kinds[0] = 0; // at least one AuditEvent: otherwise it is an error
        let records: Vec<Value> = kinds.iter().enumerate().map(|(i, k)| record(*k, i)).collect();
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "mixed.json", in_shape(shape, &records).as_bytes());
        let out = kvaudit(&["events", &p, "--stats"]);
        prop_assert_eq!(out.code, 0, "{}", out.stderr);
        let got: Vec<String> = jsonl(&out.stdout)
            .iter()
            .map(|e| e["correlation_id"].as_str().unwrap().to_string())
            .collect();
        let want: Vec<String> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == 0)
            .map(|(i, _)| format!("keep-{i}"))
            .collect();
        prop_assert_eq!(&got, &want);
        let (read, kept, skipped) = totals(&out.stderr);
        prop_assert_eq!(read, kinds.len() as u64);
        prop_assert_eq!(kept, want.len() as u64);
        prop_assert_eq!(read, kept + skipped);
    }
}

/// `synth --messy` adds oddities without changing the clean records: the
/// callers of a messy export are those of the clean one (same events,
/// same denials), plus the control-plane caller it adds.
#[test]
fn messy_synth_reads_to_the_same_callers() {
    let d = tempfile::tempdir().unwrap();
    let clean = d.path().join("clean.jsonl");
    let messy = d.path().join("messy.jsonl");
    for (p, extra) in [(&clean, None), (&messy, Some("20"))] {
        let mut a = vec![
            "synth",
            "--rows",
            "5000",
            "--shape",
            "raw-jsonl",
            "-o",
            p.to_str().unwrap(),
        ];
        if let Some(x) = extra {
            a.extend(["--messy", x]);
        }
        assert_eq!(kvaudit(&a).code, 0);
    }
    let rows = |p: &std::path::Path| -> std::collections::BTreeMap<String, (u64, u64)> {
        let out = kvaudit(&["callers", p.to_str().unwrap(), "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str::<Vec<Value>>(&out.stdout)
            .unwrap()
            .iter()
            .map(|r| {
                (
                    format!("{}|{}|{}", r["appid"], r["oid"], r["upn"]),
                    (r["events"].as_u64().unwrap(), r["denied"].as_u64().unwrap()),
                )
            })
            .collect()
    };
    let (c, mut m) = (rows(&clean), rows(&messy));
    let added = m
        .remove("\"04b07795-8ddb-461a-bbee-02f9e1bf7b46\"|\"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\"|null")
        .expect("the control-plane caller");
    assert!(added.0 > 0);
    assert_eq!(m, c);
    let out = kvaudit(&["events", messy.to_str().unwrap(), "--stats"]);
    let (read, kept, skipped) = totals(&out.stderr);
    assert!(skipped > 0 && read == kept + skipped);
    // A drifted time whose milliseconds are 0 keeps its 7 digits (it was
    // written `18:00:130+00:00`, which no reader takes): seed 3 makes one.
    let seeded = d.path().join("seed3.jsonl");
    let m = seeded.to_str().unwrap();
    let a = [
        "synth",
        "--rows",
        "3000",
        "--shape",
        "raw-jsonl",
        "--messy",
        "20",
    ];
    let out = kvaudit(&[&a[..], &["--seed", "3", "-o", m]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&seeded).unwrap();
    assert!(
        text.contains(".0000000+00:00"),
        "no whole-second drifted time"
    );
    let out = kvaudit(&["events", m, "--stats"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// Rows of `AZKVPolicyEvaluationDetailsLogs` exported with AZKVAuditLogs
/// rows (a union query), and `AzurePolicyEvaluationDetails` rows of an
/// AzureDiagnostics export, are skipped and counted.
#[test]
fn policy_evaluation_rows_are_skipped() {
    let d = tempfile::tempdir().unwrap();
    let rows = json!({"value": [
        {"TimeGenerated": "2025-03-11T10:00:00Z", "OperationName": "SecretGet", "HttpStatusCode": 200,
         "Identity": "{\"claim\":{\"oid\":\"8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44\"}}",
         "_ResourceId": "/subscriptions/x/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv-a", "Type": "AZKVAuditLogs"},
        {"TimeGenerated": "2025-03-11T10:00:01Z", "OperationName": "AzurePolicyEvaluation", "ObjectName": "s1",
         "_ResourceId": "/subscriptions/x/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv-a", "Type": "AZKVPolicyEvaluationDetailsLogs"}
    ]});
    let p = write(d.path(), "union.json", rows.to_string().as_bytes());
    let (ev, out) = events(&[&p, "--stats"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ev.len(), 1);
    assert_eq!(totals(&out.stderr), (2, 1, 1));
    let csv = d.path().join("m.csv");
    let c = csv.to_str().unwrap();
    assert_eq!(
        kvaudit(&["synth", "--rows", "3000", "--messy", "20", "-o", c]).code,
        0
    );
    let out = kvaudit(&["events", c, "--stats"]);
    let (read, kept, skipped) = totals(&out.stderr);
    assert_eq!((kept, read), (3000, kept + skipped));
    assert!(out.stderr.contains("other log category="), "{}", out.stderr);
}
