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
        "databricks/audit.csv",
        "databricks/diagnostic.json",
        // system.access.audit's own types: struct, map, timestamp, date.
        "databricks/audit.parquet",
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

/// `report --databricks`: the per-person rules run on the attributed
/// reads. On the fixture alice's nightly reads through AzureDatabricks
/// (02:00 on 3 of her 4 days, 4 reads) are user-bound automation, named
/// "alice@contoso.com via AzureDatabricks"; without --databricks there is
/// no finding, because the application is not a person.
#[test]
fn report_names_user_bound_automation_behind_databricks() {
    let v = fixture("databricks/vault.jsonl");
    let d = fixture("databricks/audit.jsonl");
    let s = fixture("databricks/scopes.json");
    let out = kvaudit(&[
        "report",
        &v,
        "--databricks",
        &d,
        "--scopes",
        &s,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    let ub: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "user_bound_automation")
        .collect();
    assert_eq!(ub.len(), 1, "{}", r["findings"]);
    let f = ub[0];
    assert_eq!(f["principal"]["upn"], "alice@contoso.com");
    assert_eq!(
        f["principal"]["name"],
        "alice@contoso.com via AzureDatabricks"
    );
    assert_eq!(f["principal"]["kind"], "user");
    assert_eq!(f["evidence"]["reads"], 4);
    assert_eq!(f["evidence"]["days_seen"], 4);
    assert_eq!(f["evidence"]["cadence"]["time_of_day_utc"], "02:00");
    assert_eq!(f["evidence"]["cadence"]["days_at_that_time"], 3);
    assert_eq!(f["vault"], "kv-data");
    // The attribution travels with the report, and the summary counts it.
    assert_eq!(r["attribution"]["unattributed"], 1);
    assert_eq!(r["attribution"]["ambiguous"], 2);
    assert_eq!(r["summary"]["findings_by_severity"]["high"], 1);
    let plain = kvaudit(&["report", &v, "--format", "json"]);
    let p: Value = serde_json::from_str(&plain.stdout).unwrap();
    assert!(p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["type"] != "user_bound_automation"));
    assert!(p.get("attribution").is_none());
    // The table says who is behind the reads.
    let t = kvaudit(&["report", &v, "--databricks", &d, "--scopes", &s]);
    assert!(
        t.stdout
            .contains("behind AzureDatabricks: 7 of 10 read(s) named"),
        "{}",
        t.stdout
    );
    // Narrowing by principal would leave the application's reads out.
    let n = kvaudit(&[
        "report",
        &v,
        "--databricks",
        &d,
        "--principal",
        "alice@contoso.com",
    ]);
    assert_eq!(n.code, 2, "{}", n.stderr);
}

/// Mass retrieval on an attributed person: four distinct secrets read
/// through AzureDatabricks in a day by one person, over a threshold of 3.
#[test]
fn report_finds_mass_retrieval_by_a_person_behind_databricks() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = String::new();
    let mut audit = String::new();
    for (i, name) in ["s-a", "s-b", "s-c", "s-d"].iter().enumerate() {
        vault.push_str(&format!(
            r#"{{"time":"2026-04-01T09:0{i}:00.000Z","category":"AuditEvent","operationName":"SecretGet","resultType":"Success","identity":{{"claim":{{"appid":"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d","oid":"b17c4d8a-5f9e-4c3b-96a4-8e0f2b4c6a00","idtyp":"app"}}}},"properties":{{"httpStatusCode":200,"id":"https://kv-data.vault.azure.net/secrets/{name}","requestUri":"https://kv-data.vault.azure.net/secrets/{name}?api-version=7.4"}},"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-DATA","resultSignature":"OK"}}"#
        ));
        vault.push('\n');
        audit.push_str(&format!(
            r#"{{"event_time":"2026-04-01 09:0{i}:01.000","service_name":"secrets","action_name":"getSecret","user_identity":{{"email":"mallet@contoso.com"}},"request_params":{{"scope":"kv-scope","key":"{name}"}},"response":{{"status_code":200}}}}"#
        ));
        audit.push('\n');
    }
    let v = write(dir.path(), "vault.jsonl", vault.as_bytes());
    let a = write(dir.path(), "audit.jsonl", audit.as_bytes());
    let policy = write(dir.path(), "kvaudit.toml", b"mass_secret_threshold = 3\n");
    let out = kvaudit(&[
        "report",
        &v,
        "--databricks",
        &a,
        "--policy",
        &policy,
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Value = serde_json::from_str(&out.stdout).unwrap();
    let mass: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "mass_secret_retrieval" && f["principal"]["kind"] == "user")
        .collect();
    // (The application's own finding stays beside it: it did read them.)
    assert_eq!(mass.len(), 1, "{}", r["findings"]);
    assert_eq!(mass[0]["principal"]["upn"], "mallet@contoso.com");
    assert_eq!(mass[0]["evidence"]["distinct_secrets"], 4);
    assert_eq!(mass[0]["evidence"]["day"], "2026-04-01");
    // Without the attribution the application itself is over the
    // threshold, but it is not named as a person.
    let plain = kvaudit(&["report", &v, "--policy", &policy, "--format", "json"]);
    let p: Value = serde_json::from_str(&plain.stdout).unwrap();
    let app: Vec<&Value> = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == "mass_secret_retrieval")
        .collect();
    assert!(app.iter().all(|f| f["principal"]["upn"].is_null()));
}

/// Raw diagnostic records one per line read as the archive document does;
/// a malformed record stops the run naming file and line, or with
/// --skip-invalid is counted; a vault record delivered twice is one read.
#[test]
fn diagnostic_lines_skip_invalid_and_duplicate_vault_records() {
    let dir = tempfile::tempdir().unwrap();
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("databricks/diagnostic.json")).unwrap(),
    )
    .unwrap();
    let mut lines: Vec<String> = doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let scopes = fixture("databricks/scopes.json");
    let good = write(
        dir.path(),
        "diag.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
    );
    let a = attribute(&["--databricks", &good, "--scopes", &scopes]);
    assert_eq!(people(&a)["alice@contoso.com"], 4);
    assert_eq!(a["unattributed"], 1);
    // Line 3 loses its requestParams.
    lines[2] = lines[2].replace("requestParams", "requestParamz");
    let bad = write(
        dir.path(),
        "bad.jsonl",
        (lines.join("\n") + "\n").as_bytes(),
    );
    let v = fixture("databricks/vault.jsonl");
    let out = kvaudit(&["attribute", &v, "--databricks", &bad, "--scopes", &scopes]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("bad.jsonl")
            && out.stderr.contains("line 3")
            && out.stderr.contains("requestParams"),
        "{}",
        out.stderr
    );
    let out = kvaudit(&[
        "attribute",
        &v,
        "--databricks",
        &bad,
        "--scopes",
        &scopes,
        "--skip-invalid",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("1 malformed record(s) skipped") && out.stderr.contains("line 3"),
        "{}",
        out.stderr
    );
    // The third event was carol's: her read (11:00:01) and bob's
    // (11:00:00) are now both 0.5 s from bob's event (11:00:00.5), so both
    // are ambiguous: 2 + 2.
    let a: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(!people(&a).contains_key("carol@contoso.com"));
    assert!(!people(&a).contains_key("bob@contoso.com"));
    assert_eq!(
        (&a["unattributed"], &a["ambiguous"]),
        (&Value::from(1), &Value::from(4))
    );
    // Every vault record twice (two diagnostic settings): the same answer,
    // with the duplicates counted.
    let vault = std::fs::read_to_string(&v).unwrap();
    let twice = write(
        dir.path(),
        "twice.jsonl",
        format!("{vault}{vault}").as_bytes(),
    );
    let d = fixture("databricks/audit.jsonl");
    let out = kvaudit(&[
        "attribute",
        &twice,
        "--databricks",
        &d,
        "--scopes",
        &scopes,
        "--format",
        "json",
    ]);
    let a: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(a["reads"], 10);
    assert_eq!(a["duplicate_reads"], 10);
    assert_eq!(people(&a)["alice@contoso.com"], 4);
    assert_eq!(
        (&a["unattributed"], &a["ambiguous"]),
        (&Value::from(1), &Value::from(2))
    );
    // `attribute`, `callers --databricks` and `report --databricks` tell
    // the duplicates by their correlation ids, from JSON Lines, Parquet
    // (whose plain `callers` leaves that column unread) and CSV.
    let pq = dir
        .path()
        .join("twice.parquet")
        .to_string_lossy()
        .into_owned();
    assert_eq!(kvaudit(&["events", &twice, "-o", &pq]).code, 0);
    let csv = dir.path().join("twice.csv").to_string_lossy().into_owned();
    assert_eq!(kvaudit(&["events", &twice, "-o", &csv]).code, 0);
    let roles = fixture("access/assignments.json");
    for input in [&twice, &pq, &csv] {
        let out = kvaudit(&[
            "attribute",
            input,
            "--databricks",
            &d,
            "--scopes",
            &scopes,
            "--format",
            "json",
        ]);
        let a: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(
            (&a["reads"], &a["duplicate_reads"]),
            (&Value::from(10), &Value::from(10)),
            "{input}"
        );
        // `report --databricks`, with `--assignments` too (which reads
        // every field of every event).
        for extra in [&[][..], &["--assignments", &roles][..]] {
            let args = [
                &[
                    "report",
                    input.as_str(),
                    "--databricks",
                    &d,
                    "--scopes",
                    &scopes,
                    "--format",
                    "json",
                ][..],
                extra,
            ]
            .concat();
            let out = kvaudit(&args);
            assert!(matches!(out.code, 0 | 3), "{}", out.stderr);
            let r: Value = serde_json::from_str(&out.stdout).unwrap();
            let a = &r["attribution"];
            assert_eq!(
                (&a["reads"], &a["duplicate_reads"]),
                (&Value::from(10), &Value::from(10)),
                "report {extra:?} {input}"
            );
        }
        let out = kvaudit(&[
            "callers",
            input,
            "--databricks",
            &d,
            "--scopes",
            &scopes,
            "--format",
            "json",
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stderr.contains("7 of 10 read(s)"),
            "{input}: {}",
            out.stderr
        );
    }
}

/// A system.access.audit CSV is read a row at a time: a ragged row stops
/// the run naming the file and record, or with --skip-invalid is counted
/// and the rest still attributed (carol's row is the ragged one).
#[test]
fn a_ragged_csv_row_is_named_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(fixture("databricks/audit.csv")).unwrap();
    let mut rows: Vec<String> = csv.lines().map(str::to_string).collect();
    // Record 3 (line 4): carol's getSecret, cut short.
    assert!(rows[3].contains("carol"), "{}", rows[3]);
    rows[3] = "2026-03-10 11:00:01.400,1234567890123456,secrets".into();
    let bad = write(dir.path(), "audit.csv", (rows.join("\n") + "\n").as_bytes());
    let v = fixture("databricks/vault.jsonl");
    let scopes = fixture("databricks/scopes.json");
    let out = kvaudit(&["attribute", &v, "--databricks", &bad, "--scopes", &scopes]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("audit.csv") && out.stderr.contains("record 3"),
        "{}",
        out.stderr
    );
    let a = attribute(&["--databricks", &bad, "--scopes", &scopes, "--skip-invalid"]);
    assert!(!people(&a).contains_key("carol@contoso.com"));
    assert_eq!(people(&a)["alice@contoso.com"], 4);
}
