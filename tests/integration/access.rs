//! `access`, `rights` and `plan-rbac` on fixtures/access (written by its
//! make.py): every expected value below is counted by hand from the CALLS
//! and assignments listed there.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn json(args: &[&str]) -> (Vec<Value>, String) {
    let out = kvaudit(args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).expect("a JSON array");
    (v.as_array().unwrap().clone(), out.stderr)
}

fn events() -> String {
    fixture("access/events.jsonl")
}

fn object<'a>(rows: &'a [Value], vault: &str, kind: &str, name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["vault"] == vault && r["object_type"] == kind && r["object_name"] == name)
        .unwrap_or_else(|| panic!("no row for {vault}/{kind}/{name}"))
}

#[test]
fn access_by_object_counts_reads_writes_denials_and_readers() {
    let (secrets, certs) = (
        fixture("access/secrets.json"),
        fixture("access/certificates.json"),
    );
    let (rows, stderr) = json(&[
        "access",
        &events(),
        "--objects",
        &secrets,
        "--objects",
        &certs,
        "--format",
        "json",
    ]);
    assert!(!stderr.contains("only objects seen"), "{stderr}");
    // 11 objects in the log plus old-ftp-password, listed only.
    assert_eq!(rows.len(), 12);
    let db = object(&rows, "kv-app", "secret", "db-password");
    assert_eq!(
        (&db["reads"], &db["writes"], &db["deletes"], &db["denied"]),
        (
            &Value::from(3),
            &Value::from(0),
            &Value::from(0),
            &Value::from(1)
        )
    );
    assert!(db["first_read"]
        .as_str()
        .unwrap()
        .starts_with("2026-03-02T"));
    assert!(db["last_read"].as_str().unwrap().starts_with("2026-03-16T"));
    let readers = db["readers"].as_array().unwrap();
    assert_eq!(readers.len(), 1, "the denied caller is not a reader");
    assert_eq!(readers[0]["oid"], "11111111-1111-4111-8111-111111111111");
    assert_eq!(readers[0]["reads"], 3);
    for k in ["appid", "oid", "upn", "kind", "name", "reads", "last_read"] {
        assert!(readers[0].get(k).is_some(), "reader field {k}");
    }
    // The certificate: one CertificateGet (public) and one read of its
    // secret (the private key).
    let tls = object(&rows, "kv-app", "certificate", "web-tls");
    assert_eq!(
        (
            &tls["reads"],
            &tls["public_reads"],
            &tls["private_key_reads"]
        ),
        (&Value::from(2), &Value::from(1), &Value::from(1))
    );
    assert_eq!(tls["readers"][0]["reads"], 2);
    let key = object(&rows, "kv-app", "key", "cmk");
    assert_eq!(
        (&key["reads"], &key["public_reads"]),
        (&Value::from(5), &Value::from(1))
    );
    let rotated = object(&rows, "kv-legacy-ap", "secret", "rotated");
    assert_eq!(
        (&rotated["reads"], &rotated["writes"]),
        (&Value::from(1), &Value::from(1))
    );
    assert!(rotated["last_write"]
        .as_str()
        .unwrap()
        .starts_with("2026-03-09T"));
    let old = object(&rows, "kv-app", "secret", "old-ftp-password");
    assert_eq!(
        (&old["reads"], &old["unused"]),
        (&Value::from(0), &Value::Bool(true))
    );
    assert_eq!(rows.iter().filter(|r| r["unused"] == true).count(), 1);
    // Without --objects: only what the log names, and stderr says so.
    let (rows, stderr) = json(&["access", &events(), "--format", "json"]);
    assert_eq!(rows.len(), 11);
    assert!(
        stderr.contains("only objects seen in the logs are listed"),
        "{stderr}"
    );
}

#[test]
fn access_by_caller_lists_each_principals_objects() {
    let (rows, _) = json(&["access", &events(), "--by", "caller", "--format", "json"]);
    assert_eq!(
        rows.len(),
        10,
        "every caller that read, wrote or was denied"
    );
    let app = rows
        .iter()
        .find(|r| r["principal"]["oid"] == "66666666-6666-4666-8666-666666666666")
        .unwrap();
    for k in ["appid", "oid", "upn", "kind", "name"] {
        assert!(app["principal"].get(k).is_some(), "principal field {k}");
    }
    let objects: BTreeMap<String, u64> = app["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                format!(
                    "{}/{}",
                    o["object_type"].as_str().unwrap(),
                    o["object_name"].as_str().unwrap()
                ),
                o["reads"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: BTreeMap<String, u64> = [
        // 1 CertificateGet + 1 read of its secret (the private key), as
        // in --by object.
        ("certificate/web-tls", 2),
        ("secret/s-a", 1),
        ("secret/s-b", 1),
        ("secret/web-tls", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(objects, want);
    let denied = rows
        .iter()
        .find(|r| r["principal"]["oid"] == "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb")
        .unwrap();
    assert_eq!(denied["objects"][0]["denied"], 2);
    assert_eq!(denied["objects"][0]["reads"], 0);
}

/// What `data/operations.csv` says each operation does.
fn access_classes() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("data/operations.csv")).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    let (op, access) = (
        h.iter().position(|c| c == "operation").unwrap(),
        h.iter().position(|c| c == "access").unwrap(),
    );
    r.records()
        .map(|x| {
            let x = x.unwrap();
            (x[op].to_string(), x[access].to_string())
        })
        .collect()
}

/// On random synth logs, `access` counts exactly the successful reads of
/// named objects that `events` prints, and each object's readers add up.
#[test]
fn access_totals_equal_the_successful_reads_in_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let classes = access_classes();
    for seed in [3, 11, 29] {
        let path = synth(dir.path(), "raw-jsonl", 6000, seed);
        let out = kvaudit(&["events", &path, "--format", "jsonl"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mut want: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        for e in jsonl(&out.stdout) {
            let ok = e["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s));
            let (Some(t), Some(n)) = (e["object_type"].as_str(), e["object_name"].as_str()) else {
                continue;
            };
            let read = classes
                .get(e["operation"].as_str().unwrap())
                .is_some_and(|c| matches!(c.as_str(), "value" | "public" | "use"));
            if ok && read && matches!(t, "secret" | "key" | "certificate") {
                *want
                    .entry((e["vault"].as_str().unwrap_or("").into(), t.into(), n.into()))
                    .or_default() += 1;
            }
        }
        let (rows, _) = json(&["access", &path, "--format", "json"]);
        let mut got = BTreeMap::new();
        for r in &rows {
            let own = r["reads"].as_u64().unwrap() - r["private_key_reads"].as_u64().unwrap();
            let readers: u64 = r["readers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["reads"].as_u64().unwrap())
                .sum();
            assert_eq!(readers, r["reads"].as_u64().unwrap(), "readers add up: {r}");
            if own > 0 {
                got.insert(
                    (
                        r["vault"].as_str().unwrap_or("").to_string(),
                        r["object_type"].as_str().unwrap().to_string(),
                        r["object_name"].as_str().unwrap().to_string(),
                    ),
                    own,
                );
            }
        }
        assert!(!want.is_empty());
        assert_eq!(got, want, "seed {seed}");
    }
}

fn rights() -> (Vec<Value>, String) {
    let a = fixture("access/assignments.json");
    json(&["rights", &events(), "--assignments", &a, "--format", "json"])
}

fn assignment(rows: &[Value], n: u32) -> &Value {
    let id = format!("10000000-0000-4000-8000-00000000000{n}");
    rows.iter()
        .find(|r| r["assignment"]["id"].as_str().unwrap().ends_with(&id))
        .unwrap_or_else(|| panic!("no row for assignment {n}"))
}

#[test]
fn rights_gives_each_assignment_its_verdict_least_role_and_scope() {
    let (rows, stderr) = rights();
    let kv_app = "/subscriptions/7d3b2c1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d/resourceGroups/rg-app/providers/Microsoft.KeyVault/vaults/kv-app";
    // 9 assignments: the group's, the custom role's and kv-elsewhere's are
    // not judged, and stderr says why.
    assert_eq!(rows.len(), 6);
    assert!(
        stderr.contains("1 assignment(s) to groups not judged"),
        "{stderr}"
    );
    assert!(stderr.contains("Contoso Vault Reader (custom)"), "{stderr}");
    assert!(
        stderr.contains("1 assignment(s) cover no vault in the selected logs"),
        "{stderr}"
    );
    assert!(
        stderr.contains("under 30 days"),
        "the window is short: {stderr}"
    );

    // 1: Secrets Officer used for get and list only.
    let r = assignment(&rows, 1);
    assert_eq!(r["verdict"], "broader_than_used");
    assert_eq!(r["least_role"], "Key Vault Secrets User");
    assert_eq!(r["least_scope"], kv_app, "a list is vault-wide");
    assert_eq!(
        r["used_actions"],
        serde_json::json!([
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
        ])
    );
    assert_eq!(
        r["operations"],
        serde_json::json!({"SecretGet": 3, "SecretList": 1})
    );
    let fix = r["fix"].as_str().unwrap();
    let lines: Vec<&str> = fix.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        format!("az role assignment create --role 'Key Vault Secrets User' --assignee-object-id 11111111-1111-4111-8111-111111111111 --assignee-principal-type ServicePrincipal --scope {kv_app}")
    );
    assert_eq!(
        lines[1],
        format!("az role assignment delete --ids {kv_app}/providers/Microsoft.Authorization/roleAssignments/10000000-0000-4000-8000-000000000001")
    );
    // The window is what the logs cover of kv-app: its first call on
    // 03-02 (10:02) to its last on 03-25 (08:30), 22.9 days.
    assert!(
        r["evidence"]
            .as_str()
            .unwrap()
            .contains("2026-03-02 10:02:00 UTC to 2026-03-25 08:30:00 UTC (22.9 days)"),
        "{}",
        r["evidence"]
    );
    assert!(r["caution"].as_str().unwrap().contains("monthly"));
    assert_eq!(r["window"]["days"], 22.9);

    // 2: the right role at the resource group, for one secret.
    let r = assignment(&rows, 2);
    assert_eq!(r["verdict"], "scope_broader_than_used");
    assert_eq!(r["least_role"], "Key Vault Secrets User");
    assert_eq!(r["least_scope"], format!("{kv_app}/secrets/api-key"));
    assert_eq!(r["principal"]["kind"], "managed_identity");

    // 3: Administrator, never used.
    let r = assignment(&rows, 3);
    assert_eq!(r["verdict"], "unused");
    assert_eq!(r["least_role"], Value::Null);
    assert!(r["fix"]
        .as_str()
        .unwrap()
        .starts_with("az role assignment delete --ids "));
    assert!(r["evidence"].as_str().unwrap().contains("2026-03-02"));

    // 4: Contributor grants no data action.
    let r = assignment(&rows, 4);
    assert_eq!(r["verdict"], "not_data_plane");
    assert_eq!(r["fix"], Value::Null);

    // 5: Crypto User on the one key it signs with.
    let r = assignment(&rows, 5);
    assert_eq!(r["verdict"], "least");
    assert_eq!(
        r["operations"],
        serde_json::json!({"KeyGet": 1, "KeySign": 4})
    );
    assert_eq!(r["fix"], Value::Null);

    // 6: Secrets User on a vault where it reads four secrets.
    let r = assignment(&rows, 6);
    assert_eq!(r["verdict"], "least");
    assert_eq!(r["least_scope"], kv_app);
    for k in ["appid", "oid", "upn", "kind", "name"] {
        assert!(r["principal"].get(k).is_some(), "principal field {k}");
    }
    for k in ["id", "role", "scope", "created_on", "condition"] {
        assert!(r["assignment"].get(k).is_some(), "assignment field {k}");
    }
}

#[test]
fn plan_rbac_grants_each_principal_its_least_role_then_switches() {
    let vj = fixture("access/kv-legacy-ap.json");
    let (plans, stderr) = json(&[
        "plan-rbac",
        &events(),
        "--vault-json",
        &vj,
        "--format",
        "json",
    ]);
    assert!(
        stderr.contains("not planned, their records show RBAC already: kv-app"),
        "{stderr}"
    );
    assert_eq!(plans.len(), 1);
    let p = &plans[0];
    assert_eq!(
        (&p["vault"], &p["permission_model"]),
        (&Value::from("kv-legacy-ap"), &Value::from("access_policy"))
    );
    let roles: BTreeMap<String, String> = p["principals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["principal"]["oid"].as_str().unwrap()[..8].to_string(),
                x["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = [
        ("77777777", "Key Vault Secrets User"),
        ("88888888", "Key Vault Secrets Officer"),
        ("99999999", "Key Vault Crypto Service Encryption User"),
        ("aaaaaaaa", "Key Vault Crypto User"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(roles, want);
    let dbx = p["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["principal"]["appid"] == "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d")
        .unwrap();
    assert_eq!(
        dbx["operations"],
        serde_json::json!({"SecretGet": 5, "SecretList": 2})
    );
    let scope = "/subscriptions/7d3b2c1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d/resourceGroups/rg-app/providers/Microsoft.KeyVault/vaults/kv-legacy-ap";
    assert_eq!(
        dbx["command"],
        format!("az role assignment create --role 'Key Vault Secrets User' --assignee-object-id 77777777-7777-4777-8777-777777777777 --assignee-principal-type ServicePrincipal --scope {scope}")
    );
    let eve = p["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["principal"]["upn"] == "eve@contoso.com")
        .unwrap();
    assert!(eve["command"]
        .as_str()
        .unwrap()
        .contains("--assignee-principal-type User"));
    assert_eq!(
        p["switch_command"],
        "az keyvault update --name kv-legacy-ap --resource-group rg-app --enable-rbac-authorization true"
    );
    assert_eq!(p["uncovered"], serde_json::json!([]));
    let review = &p["policies"];
    assert_eq!(
        review["unused_policies"][0]["object_id"],
        "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
    );
    let never: BTreeMap<String, Value> = review["unused_permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["object_id"].as_str().unwrap()[..8].to_string(),
                x["permissions"].clone(),
            )
        })
        .collect();
    assert_eq!(
        never["88888888"],
        serde_json::json!(["secrets:delete", "secrets:list"])
    );
    assert_eq!(never["aaaaaaaa"], serde_json::json!(["keys:verify"]));
    assert_eq!(
        never.len(),
        2,
        "databricks and id-sql used all they hold: {never:?}"
    );
    assert_eq!(
        review["denied_principals"][0]["operations"],
        serde_json::json!({"SecretGet": 2})
    );
}

/// Every format of the three commands, parsed back; the terminal view fits
/// 80 columns but for command lines, which are never cut.
#[test]
fn every_format_of_the_three_commands() {
    let a = fixture("access/assignments.json");
    let e = events();
    let cmds: [Vec<&str>; 4] = [
        vec!["access", &e],
        vec!["access", &e, "--by", "caller"],
        vec!["rights", &e, "--assignments", &a],
        vec!["plan-rbac", &e],
    ];
    for c in &cmds {
        let (rows, _) = json(&[c.as_slice(), &["--format", "json"]].concat());
        let out = kvaudit(&[c.as_slice(), &["--format", "jsonl"]].concat());
        assert_eq!(jsonl(&out.stdout).len(), rows.len(), "{c:?}");
        for (f, sep) in [("csv", b','), ("tsv", b'\t')] {
            let out = kvaudit(&[c.as_slice(), &["--format", f]].concat());
            assert_eq!(out.code, 0, "{}", out.stderr);
            let mut r = csv::ReaderBuilder::new()
                .delimiter(sep)
                .from_reader(out.stdout.as_bytes());
            let recs: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().unwrap();
            // plan-rbac: a CSV row per principal to grant (4), JSON per vault.
            let want = if c[0] == "plan-rbac" { 4 } else { rows.len() };
            assert_eq!(recs.len(), want, "{c:?} {f}");
        }
        let out = kvaudit(&[c.as_slice(), &["--format", "markdown"]].concat());
        assert!(out.stdout.starts_with("## "), "{}", out.stdout);
        assert!(out.stdout.contains("|---"), "{c:?}");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvaudit"))
            .args(c)
            .env("COLUMNS", "80")
            .env("NO_COLOR", "1")
            .env("CLICOLOR_FORCE", "0")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.is_empty());
        // Wider lines are only a single argument (a scope or an id).
        for l in text.lines().filter(|l| l.chars().count() > 80) {
            assert!(
                l.trim().trim_end_matches(" \\").split_whitespace().count() <= 2,
                "{c:?}: {l}"
            );
        }
        // Commands broken with ` \` read back whole.
        let joined = text.replace(" \\\n", " ");
        let joined: String = joined.split_whitespace().collect::<Vec<_>>().join(" ");
        if c[0] == "rights" {
            assert!(
                joined.contains("az role assignment delete --ids /subscriptions/"),
                "{text}"
            );
            assert!(joined.contains("az role assignment create --role 'Key Vault Secrets User' --assignee-object-id 11111111-1111-4111-8111-111111111111"), "{text}");
        }
        if c[0] == "plan-rbac" {
            assert!(joined.contains("az keyvault update --name kv-legacy-ap --resource-group rg-app --enable-rbac-authorization true"), "{text}");
        }
    }
}

/// The hostile and partial inputs a review found: a refused grant never
/// comes with the delete or the switch it was meant to precede, bad
/// assignment records are named, and the window is each scope's own.
#[test]
fn refused_grants_hold_back_deletes_and_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let ev = std::fs::read_to_string(events()).unwrap();
    // A forged object name: the narrower grant cannot be written.
    let forged = write(
        dir.path(),
        "forged.jsonl",
        ev.replace("secrets/api-key", "secrets/api-key';id;'$(id)")
            .as_bytes(),
    );
    let a = fixture("access/assignments.json");
    let (rows, _) = json(&["rights", &forged, "--assignments", &a, "--format", "json"]);
    let etl = assignment(&rows, 2);
    let fix = etl["fix"].as_str().unwrap();
    assert!(fix.starts_with("# no command: "), "{fix}");
    assert!(
        !fix.contains("delete"),
        "no delete without its grant: {fix}"
    );
    assert!(fix.contains("$(id)"), "the bad part is shown: {fix}");
    // plan-rbac: one principal id forged, so no switch.
    let forged = write(
        dir.path(),
        "forged-oid.jsonl",
        ev.replace(
            "\"oid\": \"77777777-7777-4777-8777-777777777777\"",
            "\"oid\": \"77777777-7777-4777-8777-777777777777;id\"",
        )
        .as_bytes(),
    );
    let (plans, _) = json(&["plan-rbac", &forged, "--format", "json"]);
    let switch = plans[0]["switch_command"].as_str().unwrap();
    assert!(switch.starts_with("# no command: 1 grant(s)"), "{switch}");
}

#[test]
fn bad_assignment_records_are_named_and_new_ones_not_judged() {
    let dir = tempfile::tempdir().unwrap();
    let mut list: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("access/assignments.json")).unwrap())
            .unwrap();
    list[0]["principalId"] = Value::from("11111111-1111-4111-8111-111111111111\n; rm -rf ~");
    list[3]["roleDefinitionName"] = Value::Null;
    list[2]["createdOn"] = Value::from("2026-04-02T00:00:00Z");
    let a = write(
        dir.path(),
        "a.json",
        serde_json::to_vec(&list).unwrap().as_slice(),
    );
    let (rows, stderr) = json(&["rights", &events(), "--assignments", &a, "--format", "json"]);
    assert!(stderr.contains("record 1: principalId"), "{stderr}");
    assert!(
        stderr.contains("record 4: no roleDefinitionName"),
        "{stderr}"
    );
    assert_eq!(rows.len(), 4);
    let dana = assignment(&rows, 3);
    assert_eq!(dana["verdict"], "unused");
    assert_eq!(dana["fix"], Value::Null, "created after the logs end");
    assert!(dana["caution"]
        .as_str()
        .unwrap()
        .contains("too new to judge"));
    // CSV keeps create and delete as one line that runs the delete only
    // after the grant.
    let out = kvaudit(&[
        "rights",
        &events(),
        "--assignments",
        &fixture("access/assignments.json"),
        "--format",
        "csv",
    ]);
    let mut r = csv::Reader::from_reader(out.stdout.as_bytes());
    let fix_col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "fix")
        .unwrap();
    let fixes: Vec<String> = r
        .records()
        .map(|x| x.unwrap()[fix_col].to_string())
        .collect();
    assert!(
        fixes
            .iter()
            .any(|f| f.contains(" && az role assignment delete --ids ")),
        "{fixes:?}"
    );
    // --vault-json must be a vault.
    let out = kvaudit(&[
        "plan-rbac",
        &events(),
        "--vault-json",
        &fixture("access/assignments.json"),
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("record 1: expected a vault with properties.accessPolicies"),
        "{}",
        out.stderr
    );
}

/// `report --assignments --objects` adds the findings built on use; their
/// evidence survives redaction (which round-trips the report as data).
#[test]
fn the_report_gains_findings_built_on_use() {
    let dir = tempfile::tempdir().unwrap();
    let (a, o) = (
        fixture("access/assignments.json"),
        fixture("access/secrets.json"),
    );
    let out = kvaudit(&[
        "report",
        &events(),
        "--assignments",
        &a,
        "--objects",
        &o,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    let of = |t: &str| -> Vec<Value> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["type"] == t)
            .cloned()
            .collect()
    };
    let broader = of("broader_than_used");
    assert_eq!(broader.len(), 2, "both broader verdicts");
    assert_eq!(broader[0]["severity"], "medium");
    let e = &broader
        .iter()
        .find(|f| f["evidence"]["verdict"] == "broader_than_used")
        .unwrap()["evidence"];
    assert_eq!(e["least_role"], "Key Vault Secrets User");
    assert!(e["fix"]
        .as_str()
        .unwrap()
        .contains("\naz role assignment delete --ids "));
    let unused = of("unused_assignment");
    assert_eq!(unused.len(), 1);
    assert_eq!(
        unused[0]["principal"]["oid"],
        "33333333-3333-4333-8333-333333333333"
    );
    let ap = of("access_policy_vault");
    assert_eq!(ap.len(), 1);
    assert_eq!(ap[0]["vault"], "kv-legacy-ap");
    assert_eq!(ap[0]["evidence"]["principals"], 4);
    let dormant = of("dormant_object");
    assert_eq!(
        dormant[0]["evidence"]["objects"],
        serde_json::json!(["secret/old-ftp-password"])
    );
    // Without the files: only the plan's finding, from the logs alone.
    let out = kvaudit(&["report", &events(), "--format", "json"]);
    let plain: Value = serde_json::from_str(&out.stdout).unwrap();
    let types: Vec<&str> = plain["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"access_policy_vault"));
    assert!(!types
        .iter()
        .any(|t| ["broader_than_used", "unused_assignment", "dormant_object"].contains(t)));
    // Redacted, the evidence keeps its shape (the untagged enum picks the
    // same variant back).
    let key = dir.path().join("k").to_string_lossy().into_owned();
    let out = kvaudit(&[
        "report",
        &events(),
        "--assignments",
        &a,
        "--objects",
        &o,
        "--format",
        "json",
        "--redact",
        "--redact-key",
        &key,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let red: Value = serde_json::from_str(&out.stdout).unwrap();
    let keys = |v: &Value, t: &str| -> Vec<Vec<String>> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["type"] == t)
            .map(|f| f["evidence"].as_object().unwrap().keys().cloned().collect())
            .collect()
    };
    for t in [
        "broader_than_used",
        "unused_assignment",
        "access_policy_vault",
        "dormant_object",
    ] {
        assert_eq!(keys(&red, t), keys(&r, t), "{t}");
    }
    assert!(!out.stdout.contains("11111111-1111-4111-8111-111111111111"));
}

/// `queries/access-inventory.kql`'s output (as make.py computes it from the
/// same records: a portal CSV, and the same rows as a Log Analytics API
/// response) gives every command exactly what the raw events give.
#[test]
fn the_access_inventory_answers_as_the_raw_events_do() {
    let dir = tempfile::tempdir().unwrap();
    let csv_path = fixture("access/access-inventory.csv");
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_end_matches(" [UTC]").to_string())
        .collect();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert!(rows.len() > 20);
    let api = serde_json::json!({"tables": [{
        "name": "PrimaryResult",
        "columns": headers.iter().map(|h| serde_json::json!({"name": h, "type": "string"})).collect::<Vec<_>>(),
        "rows": rows,
    }]});
    let api_path = write(dir.path(), "inventory-api.json", api.to_string().as_bytes());
    let a = fixture("access/assignments.json");
    let vj = fixture("access/kv-legacy-ap.json");
    let e = events();
    let cmds: [Vec<&str>; 4] = [
        vec!["access"],
        vec!["access", "--by", "caller"],
        vec!["rights", "--assignments", &a],
        vec!["plan-rbac", "--vault-json", &vj],
    ];
    for c in &cmds {
        let run = |input: &str| {
            let out = kvaudit(&[c.as_slice(), &[input, "--format", "json"]].concat());
            assert_eq!(out.code, 0, "{c:?} {input}: {}", out.stderr);
            (out.stdout, out.stderr)
        };
        let (raw, _) = run(&e);
        let (inv, stderr) = run(&csv_path);
        assert!(stderr.contains("access inventory"), "{stderr}");
        assert_eq!(inv, raw, "{c:?} on the CSV inventory");
        let (inv, _) = run(&api_path);
        assert_eq!(inv, raw, "{c:?} on the API inventory");
    }
    // Selection flags apply to events, not to day aggregates.
    let out = kvaudit(&["access", &csv_path, "--since", "7d"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// Selection flags that leave out callers or operations would make used
/// access look unused: the commands that advise removing access refuse
/// them, and --vault keeps listed objects and broad scopes out.
#[test]
fn selections_never_turn_used_access_into_a_delete() {
    let a = fixture("access/assignments.json");
    let o = fixture("access/secrets.json");
    let e = events();
    for args in [
        vec![
            "rights",
            &e,
            "--assignments",
            &a,
            "--principal",
            "11111111-1111-4111-8111-111111111111",
        ],
        vec!["rights", &e, "--assignments", &a, "--kind", "user"],
        vec!["plan-rbac", &e, "--kind", "user"],
        vec!["access", &e, "--objects", &o, "--operation", "SecretGet"],
    ] {
        let out = kvaudit(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
    // --vault kv-legacy-ap: the resource-group assignment that serves
    // kv-app is not judged, nothing on kv-app is unused.
    let (rows, stderr) = json(&[
        "rights",
        &e,
        "--assignments",
        &a,
        "--vault",
        "kv-legacy-ap",
        "--format",
        "json",
    ]);
    assert!(rows.is_empty(), "{rows:?}");
    assert!(
        stderr.contains("above the --vault selection not judged"),
        "{stderr}"
    );
    let (rows, _) = json(&[
        "access",
        &e,
        "--objects",
        &o,
        "--vault",
        "kv-legacy-ap",
        "--format",
        "json",
    ]);
    assert!(
        rows.iter().all(|r| r["vault"] == "kv-legacy-ap"),
        "{rows:?}"
    );
    // The report leaves those findings out under a narrowing flag.
    let out = kvaudit(&[
        "report",
        &e,
        "--assignments",
        &a,
        "--objects",
        &o,
        "--kind",
        "user",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(r["findings"].as_array().unwrap().iter().all(|f| ![
        "unused_assignment",
        "dormant_object",
        "broader_than_used"
    ]
    .contains(&f["type"].as_str().unwrap())));
    assert!(
        out.stderr.contains("unused by the selection is not unused"),
        "{}",
        out.stderr
    );
}

/// Lists are counted apart, per caller; Contributor grants no data action,
/// so a Contributor denied a secret still gets the create.
#[test]
fn lists_are_counted_apart_and_contributor_covers_nothing() {
    let (rows, _) = json(&["access", &events(), "--by", "caller", "--format", "json"]);
    let lists: BTreeMap<String, u64> = rows
        .iter()
        .filter(|r| r["lists"].as_u64().unwrap() > 0)
        .map(|r| {
            (
                r["principal"]["oid"].as_str().unwrap()[..8].to_string(),
                r["lists"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lists,
        [("11111111".to_string(), 1), ("77777777".to_string(), 2)]
            .into_iter()
            .collect()
    );
    let out = kvaudit(&[
        "explain",
        &events(),
        "--assignments",
        &fixture("access/assignments.json"),
        "--format",
        "json",
    ]);
    let all: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    let d = all
        .iter()
        .find(|d| d["principal"]["oid"] == "44444444-4444-4444-8444-444444444444")
        .unwrap();
    assert!(
        d["fix"]
            .as_str()
            .unwrap()
            .starts_with("az role assignment create --role 'Key Vault Secrets User'"),
        "{}",
        d["fix"]
    );
    assert_eq!(d["existing_assignments"][0]["verdict"], "missing_action");
}

/// `--ocsf-version 1.6`: the least-privilege results go out as IAM
/// Analysis Findings (class 2008) with the principal as `user` and the
/// assignment as a permission analysis; the other findings stay
/// Detection Findings; 1.5 (the default) keeps every one a Detection
/// Finding.
#[test]
fn ocsf_16_sends_rights_results_as_iam_analysis_findings() {
    let a = fixture("access/assignments.json");
    let run = |version: &str| -> Vec<Value> {
        let out = kvaudit(&[
            "report",
            &events(),
            "--assignments",
            &a,
            "--format",
            "ocsf",
            "--ocsf-version",
            version,
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap()
    };
    let v16 = run("1.6");
    let v15 = run("1.5");
    assert_eq!(v16.len(), v15.len());
    let iam: Vec<&Value> = v16.iter().filter(|e| e["class_uid"] == 2008).collect();
    // broader_than_used x2 and unused_assignment x1 (as the JSON report).
    assert_eq!(iam.len(), 3);
    for e in &iam {
        assert_eq!(e["metadata"]["version"], "1.6.0");
        assert_eq!(e["type_uid"], 200_801);
        assert!(e.get("evidences").is_none());
        assert!(e["user"]["uid"].is_string());
        let pa = &e["permission_analysis_results"][0];
        assert!(pa["policy"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Key Vault"));
    }
    let admin = iam
        .iter()
        .find(|e| e["finding_info"]["types"][0] == "unused_assignment")
        .unwrap();
    assert_eq!(admin["user"]["uid"], "33333333-3333-4333-8333-333333333333");
    let pa = &admin["permission_analysis_results"][0];
    assert_eq!(pa["policy"]["name"], "Key Vault Administrator");
    // The secrets data actions of the operation table, counted here from
    // the CSV: the Officer (secrets/*) used two of them.
    let table = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/operations.csv"),
    )
    .unwrap();
    let mut secret_actions: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split(',').nth(2))
        .filter(|a| a.starts_with("Microsoft.KeyVault/vaults/secrets/"))
        .collect();
    secret_actions.sort_unstable();
    secret_actions.dedup();
    let officer = iam
        .iter()
        .find(|e| {
            e["permission_analysis_results"][0]["policy"]["name"] == "Key Vault Secrets Officer"
        })
        .unwrap();
    assert_eq!(
        officer["permission_analysis_results"][0]["granted_privileges"],
        serde_json::json!(["Microsoft.KeyVault/vaults/secrets/*"])
    );
    assert_eq!(
        officer["permission_analysis_results"][0]["unused_privileges_count"].as_u64(),
        Some(secret_actions.len() as u64 - 2)
    );
    assert!(pa["unused_privileges_count"].as_u64().unwrap() > secret_actions.len() as u64);
    // The same finding keeps its uid in both versions.
    let uids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|e| e["finding_info"]["uid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(uids(&v16), uids(&v15));
    assert!(v15.iter().all(|e| e["class_uid"] == 2004));
}
