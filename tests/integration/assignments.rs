//! `explain --assignments`: what a denied principal already holds, from
//! `az role assignment list --all` (wrong scope, missing action,
//! propagation, RBAC on an access-policy vault).

use crate::harness::*;
use serde_json::Value;

fn explain(paths: &[&str], assignments: &str) -> Vec<Value> {
    let a = fixture(&format!("scenarios/{assignments}"));
    let mut args = vec!["explain", "--format", "json", "--assignments", &a];
    let paths: Vec<String> = paths.iter().map(|p| fixture(p)).collect();
    args.extend(paths.iter().map(String::as_str));
    let out = kvaudit(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn verdicts(f: &Value) -> Vec<(String, String)> {
    f["existing_assignments"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["role"].as_str().unwrap().to_string(),
                        x["verdict"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The RBAC finding of scenario S2 (Airflow's service principal) explained
/// with `assignments`.
fn s2_rbac(assignments: &str) -> Value {
    explain(&["scenarios/s2-airflow-spn-forbidden.jsonl"], assignments)
        .into_iter()
        .find(|f| f["denial"] == "rbac")
        .unwrap()
}

#[test]
fn wrong_scope_and_missing_action() {
    let rbac = s2_rbac("role-assignments.json");
    assert_eq!(
        verdicts(&rbac),
        vec![
            ("Key Vault Secrets User".into(), "wrong_scope".into()),
            ("Key Vault Reader".into(), "missing_action".into()),
        ]
    );
    let hints = rbac["hints"].to_string();
    assert!(
        hints.contains("vaults/kv-data-dev") && hints.contains("(wrong scope)"),
        "{hints}"
    );
    assert!(
        hints.contains("assign Key Vault Secrets User instead"),
        "{hints}"
    );
    // The ADF identity's assignment is someone else's: not listed.
    assert!(!rbac.to_string().contains("9f5a2b6e"));
}

#[test]
fn recent_grant_is_propagation() {
    let rbac = s2_rbac("role-assignments-recent.json");
    assert_eq!(
        verdicts(&rbac),
        vec![("Key Vault Secrets User".into(), "propagation".into())]
    );
    assert!(
        rbac["hints"]
            .to_string()
            .contains("4 minute(s) before the first denial"),
        "{}",
        rbac["hints"]
    );
}

#[test]
fn rbac_role_on_access_policy_vault_is_called_out() {
    let found = explain(
        &["scenarios/s7-access-policy-vault.jsonl"],
        "role-assignments.json",
    );
    assert!(!found.is_empty());
    for f in found.iter().filter(|f| f["denial"] == "access_policy") {
        assert_eq!(
            verdicts(f),
            vec![("Key Vault Crypto User".into(), "present_but_denied".into())]
        );
        assert!(f["hints"]
            .to_string()
            .contains("uses access policies, not RBAC"));
    }
}

#[test]
fn without_assignments_the_field_is_absent_and_bad_files_are_named() {
    let out = kvaudit(&[
        "explain",
        "--format",
        "json",
        &fixture("scenarios/s2-airflow-spn-forbidden.jsonl"),
    ]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v[0].get("existing_assignments").is_none());
    let d = tempfile::tempdir().unwrap();
    let bad = write(d.path(), "ra.json", br#"{"value": []}"#);
    let out = kvaudit(&[
        "explain",
        "--assignments",
        &bad,
        &fixture("scenarios/s2-airflow-spn-forbidden.jsonl"),
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("ra.json: expected a JSON array of role assignments"),
        "{}",
        out.stderr
    );
    let bad = write(d.path(), "ra2.json", br#"[{"principalId": 5}]"#);
    let out = kvaudit(&[
        "explain",
        "--assignments",
        &bad,
        &fixture("scenarios/s2-airflow-spn-forbidden.jsonl"),
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("ra2.json: record 1"), "{}", out.stderr);
}
