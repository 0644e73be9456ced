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
    // The role is held: the advice is to wait, not another create.
    let fix = rbac["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("# no new role assignment: \"Key Vault Secrets User\" at "),
        "{fix}"
    );
    // Without the assignments the same denial gets the create.
    let plain = s2_rbac_without();
    assert!(plain["fix"]
        .as_str()
        .unwrap()
        .starts_with("az role assignment create"));
}

fn s2_rbac_without() -> Value {
    let f = fixture("scenarios/s2-airflow-spn-forbidden.jsonl");
    let out = kvaudit(&["explain", "--format", "json", &f]);
    serde_json::from_str::<Vec<Value>>(&out.stdout)
        .unwrap()
        .into_iter()
        .find(|f| f["denial"] == "rbac")
        .unwrap()
}

/// A held role with a condition: the condition, not the role, must change.
#[test]
fn a_held_role_with_a_condition_names_the_condition() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("scenarios/role-assignments-recent.json")).unwrap();
    let mut list: Vec<Value> = serde_json::from_str(&text).unwrap();
    for a in &mut list {
        a["createdOn"] = Value::from("2024-01-01T00:00:00Z");
        a["condition"] = Value::from("((!(ActionMatches{'Microsoft.KeyVault/vaults/secrets/getSecret/action'})) OR (@Resource[Microsoft.KeyVault/vaults/secrets:name] StringStartsWith 'app-'))");
    }
    let a = write(
        dir.path(),
        "cond.json",
        serde_json::to_vec(&list).unwrap().as_slice(),
    );
    let f = fixture("scenarios/s2-airflow-spn-forbidden.jsonl");
    let out = kvaudit(&["explain", "--format", "json", "--assignments", &a, &f]);
    let rbac = serde_json::from_str::<Vec<Value>>(&out.stdout)
        .unwrap()
        .into_iter()
        .find(|f| f["denial"] == "rbac")
        .unwrap();
    assert_eq!(
        verdicts(&rbac),
        vec![("Key Vault Secrets User".into(), "present_but_denied".into())]
    );
    let hints = rbac["hints"].to_string();
    assert!(
        hints.contains("carries a condition") && hints.contains("StringStartsWith"),
        "{hints}"
    );
    assert!(rbac["fix"]
        .as_str()
        .unwrap()
        .starts_with("# no new role assignment"));
}

/// A Databricks Key Vault-backed scope on an access-policy vault needs
/// secret get and list.
#[test]
fn databricks_on_an_access_policy_vault_gets_get_and_list() {
    let f = fixture("shapes/azurediagnostics-portal.csv");
    let out = kvaudit(&["explain", "--format", "json", &f]);
    let all: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let d = all
        .iter()
        .find(|d| d["principal"]["appid"] == "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d")
        .unwrap();
    assert_eq!(d["denial"], "access_policy");
    assert_eq!(
        d["fix"],
        "az keyvault set-policy --name kv-legacy --object-id b17c4d8a-5f9e-4c3b-96a4-8e0f2b4c6a00 --secret-permissions get list"
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
