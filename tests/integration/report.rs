//! `kvaudit report` on three weeks of events (S1, S9): each finding type on
//! its fixture and not on the negatives, exit codes, redaction, snapshots.

use crate::harness::*;
use serde_json::Value;

fn weeks() -> String {
    fixture("scenarios/s1-s9-three-weeks.jsonl")
}

fn report(extra: &[&str]) -> (Value, Out) {
    let w = weeks();
    let mut args = vec!["report", "--format", "json", w.as_str()];
    args.extend_from_slice(extra);
    let out = kvaudit(&args);
    assert!(out.code == 0 || out.code == 3, "{}", out.stderr);
    (serde_json::from_str(&out.stdout).expect("report JSON"), out)
}

fn of_type<'a>(r: &'a Value, t: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["type"] == t)
        .collect()
}

#[test]
fn json_has_the_documented_fields() {
    let (r, _) = report(&[]);
    for k in [
        "generated_at",
        "inputs",
        "period",
        "summary",
        "callers",
        "findings",
    ] {
        assert!(r.get(k).is_some(), "{k}");
    }
    assert_eq!(r["period"]["from"], "2025-03-03T02:00:10.000000Z");
    assert_eq!(r["summary"]["events"], 117);
    assert_eq!(r["summary"]["callers_by_kind"]["user"], 4);
    assert_eq!(r["summary"]["denials_by_kind"]["rbac"], 1);
    for f in r["findings"].as_array().unwrap() {
        for k in [
            "type",
            "severity",
            "principal",
            "vault",
            "evidence",
            "recommendation",
        ] {
            assert!(f.get(k).is_some(), "{k}");
        }
    }
}

#[test]
fn user_bound_automation_flags_the_scheduled_user_only() {
    let (r, _) = report(&[]);
    let f = of_type(&r, "user_bound_automation");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["principal"]["upn"], "carol@contoso.com");
    assert_eq!(f[0]["evidence"]["days_seen"], 21);
    assert_eq!(f[0]["evidence"]["cadence"]["time_of_day_utc"], "02:01");
    assert_eq!(f[0]["evidence"]["secrets"].as_array().unwrap().len(), 3);
    // Interactive users (portal browser; CLI at irregular times) are not flagged.
    let flagged: Vec<&str> = f
        .iter()
        .map(|x| x["principal"]["upn"].as_str().unwrap())
        .collect();
    assert!(!flagged.contains(&"dave@contoso.com") && !flagged.contains(&"erin@contoso.com"));
}

#[test]
fn policy_allows_user_bound_and_ignores_principals() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "p.toml", b"allowed_user_bound = [\"carol@contoso.com\"]\nignore = [\"b8c9d0e1-5f6a-4b7c-8d8e-9f0a1b2c3d45\"]\n[severity]\nguest_access = \"low\"\n");
    let (r, _) = report(&["--policy", &p]);
    assert!(of_type(&r, "user_bound_automation").is_empty());
    assert!(of_type(&r, "mass_secret_retrieval").is_empty());
    assert_eq!(of_type(&r, "guest_access")[0]["severity"], "low");
    let bad = write(d.path(), "bad.toml", b"thresholdz = 3\n");
    let out = kvaudit(&["report", &weeks(), "--policy", &bad]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("bad.toml: invalid policy"),
        "{}",
        out.stderr
    );
}

#[test]
fn mass_retrieval_threshold() {
    let (r, _) = report(&[]);
    let f = of_type(&r, "mass_secret_retrieval");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["evidence"]["distinct_secrets"], 40);
    assert_eq!(f[0]["evidence"]["day"], "2025-03-15");
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "p.toml", b"mass_secret_threshold = 50\n");
    let (r, _) = report(&["--policy", &p]);
    assert!(of_type(&r, "mass_secret_retrieval").is_empty());
}

#[test]
fn sensitive_operations_guests_and_denials() {
    let (r, _) = report(&[]);
    let s = of_type(&r, "sensitive_operation");
    let ops: Vec<&str> = s
        .iter()
        .map(|f| f["evidence"]["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops.len(), 2);
    assert!(ops.contains(&"SecretPurge") && ops.contains(&"SecretBackup"));
    assert_eq!(
        s.iter()
            .find(|f| f["evidence"]["operation"] == "SecretPurge")
            .unwrap()["severity"],
        "high"
    );
    let g = of_type(&r, "guest_access");
    assert_eq!(g.len(), 1);
    assert_eq!(g[0]["principal"]["kind"], "guest_user");
    let d = of_type(&r, "denied_access");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["principal"]["name"], "factories/adf-prod");
    assert!(d[0]["recommendation"]
        .as_str()
        .unwrap()
        .starts_with("az role assignment create --role 'Key Vault Secrets User'"));
    // The S2 fixture's denial is resolved: no denied_access finding.
    let out = kvaudit(&[
        "report",
        "--format",
        "json",
        &fixture("scenarios/s2-airflow-spn-forbidden.jsonl"),
    ]);
    let r2: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(of_type(&r2, "denied_access").is_empty());
}

#[test]
fn new_callers_against_a_baseline() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("base.json").to_string_lossy().into_owned();
    let out = kvaudit(&[
        "report",
        "--format",
        "json",
        &weeks(),
        "--to",
        "2025-03-10",
        "-o",
        &base,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (r, _) = report(&["--baseline", &base]);
    let mut names: Vec<String> = of_type(&r, "new_caller")
        .iter()
        .map(|f| {
            f["principal"]["upn"]
                .as_str()
                .or(f["principal"]["name"].as_str())
                .or(f["principal"]["appid"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    // Before 2025-03-10 only carol, dave and erin had called.
    assert_eq!(
        names,
        [
            "alice@contoso.com",
            "b8c9d0e1-5f6a-4b7c-8d8e-9f0a1b2c3d45",
            "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "factories/adf-prod"
        ]
    );
    let (r, _) = report(&[]);
    assert!(of_type(&r, "new_caller").is_empty());
}

#[test]
fn fail_on_exit_codes() {
    let w = weeks();
    assert_eq!(kvaudit(&["report", &w, "--fail-on", "high"]).code, 3);
    let calm = fixture("scenarios/s8-noise.jsonl");
    assert_eq!(kvaudit(&["report", &calm, "--fail-on", "low"]).code, 0);
    let s6 = fixture("scenarios/s6-firewall.jsonl");
    assert_eq!(kvaudit(&["report", &s6, "--fail-on", "medium"]).code, 0);
    assert_eq!(kvaudit(&["report", &s6, "--fail-on", "low"]).code, 3);
    assert_eq!(kvaudit(&["report", &w, "--fail-on", "severe"]).code, 2);
    assert_eq!(kvaudit(&["report", &w, "--since", "thirty"]).code, 2);
}

#[test]
fn time_windows() {
    let (r, _) = report(&["--from", "2025-03-20", "--to", "2025-03-22T00:00:00Z"]);
    assert_eq!(r["summary"]["events"], 7); // carol 2 nights x 3 + the guest
    assert_eq!(r["period"]["from"], "2025-03-20T00:00:00.000000Z");
    // Logs from 2025 are older than 30 days before today.
    let (r, _) = report(&["--since", "30d"]);
    assert_eq!(r["summary"]["events"], 0);
}

#[test]
fn redaction_leaves_no_original_identifier() {
    let w = weeks();
    let events = kvaudit(&["events", &w]);
    let mut originals = std::collections::BTreeSet::new();
    for e in jsonl(&events.stdout) {
        for k in ["caller_upn", "caller_oid", "caller_ip", "caller_tenant"] {
            if let Some(v) = e[k].as_str() {
                originals.insert(v.to_string());
            }
        }
        if let Some(a) = e["caller_appid"].as_str() {
            if a.starts_with("b8c9") || a.starts_with("4b0d") {
                originals.insert(a.to_string());
            }
        }
    }
    originals.insert("7d3b2c1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d".into()); // subscription
    assert!(originals.len() > 8);
    for format in ["json", "markdown", "html", "table", "ocsf"] {
        let out = kvaudit(&["report", "--redact", "--format", format, &w]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        for o in &originals {
            assert!(
                !out.stdout.to_lowercase().contains(&o.to_lowercase()),
                "{format}: {o} survived"
            );
        }
    }
    // Stable pseudonyms under one key: the same run twice gives the same
    // report body.
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("k");
    let k = key.to_str().unwrap();
    let a = kvaudit(&[
        "report",
        "--redact",
        "--redact-key",
        k,
        "--format",
        "markdown",
        &w,
    ])
    .stdout;
    let b = kvaudit(&[
        "report",
        "--redact",
        "--redact-key",
        k,
        "--format",
        "markdown",
        &w,
    ])
    .stdout;
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("Period"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&a), strip(&b));
    assert!(a.contains("@redacted"));
}

pub(crate) fn snapshot(name: &str, actual: &str) {
    let path = root().join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {name}; run with UPDATE_SNAPSHOTS=1"));
    assert_eq!(
        actual, expected,
        "snapshot {name} differs; review and rerun with UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn snapshots_of_json_and_markdown() {
    let (mut r, _) = report(&[]);
    r["generated_at"] = Value::from("<now>");
    r["inputs"] = Value::from(vec!["<weeks>"]);
    snapshot("report.json", &serde_json::to_string_pretty(&r).unwrap());
    let md = kvaudit(&["report", "--format", "markdown", &weeks()]).stdout;
    let md: String = md
        .lines()
        .map(|l| {
            if l.starts_with("Period:") {
                "Period: <normalised>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    snapshot("report.md", &md);
    let html = kvaudit(&["report", "--format", "html", &weeks()]).stdout;
    // One offline file: the only script is inline, nothing is fetched.
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && html.contains("<svg")
            && html.matches("<script").count() == 1
            && html.contains("<script>// The report page's only script")
            && !html.contains("id=\"kv-packed\"")
            && !html.contains("src=")
            && !html.contains("<link")
            && !html.contains("http://")
            && !html.contains("url(")
    );
    // Every caller row has its details, reachable without the script.
    let rows = html.matches("<tr data-principal=").count();
    assert!(
        rows > 0
            && rows
                == html
                    .matches("<details class=\"caller\" data-principal=")
                    .count()
    );
    snapshot("report-html.txt", &html_text(&html));
}

/// What a reader of the HTML page sees, as text: script and style
/// removed, tags as line breaks, entities decoded, the generation time
/// normalised.
fn html_text(html: &str) -> String {
    let mut s = html.to_string();
    for (open, close) in [("<script", "</script>"), ("<style", "</style>")] {
        while let Some(i) = s.find(open) {
            let j = s[i..].find(close).map_or(s.len(), |j| i + j + close.len());
            s.replace_range(i..j, "");
        }
    }
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push('\n');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.find(". Generated ") {
            Some(i) => format!("{}. Generated <now>.", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `report --format ocsf`: one OCSF Detection Finding per finding, parsed
/// back; uids stable across runs; the JSON Lines form holds the same
/// events; snapshot with the generation time normalised.
#[test]
fn ocsf_findings_parse_back_and_keep_their_uids() {
    let w = weeks();
    let run = || {
        let out = kvaudit(&["report", "--format", "ocsf", &w]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str::<Vec<Value>>(&out.stdout).expect("OCSF JSON array")
    };
    let (a, b) = (run(), run());
    let (r, _) = report(&[]);
    let findings = r["findings"].as_array().unwrap();
    assert_eq!(a.len(), findings.len());
    let uids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|e| e["finding_info"]["uid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(uids(&a), uids(&b));
    let unique: std::collections::HashSet<_> = uids(&a).into_iter().collect();
    assert_eq!(unique.len(), a.len());
    for (e, f) in a.iter().zip(findings) {
        assert_eq!(e["class_uid"], 2004);
        assert_eq!(e["type_uid"], 200_401);
        assert_eq!(e["metadata"]["version"], "1.5.0");
        assert_eq!(e["finding_info"]["types"][0], f["type"]);
        let sev = f["severity"].as_str().unwrap();
        let id = match sev {
            "low" => 2,
            "medium" => 3,
            _ => 4,
        };
        assert_eq!(e["severity_id"], id);
        assert_eq!(e["remediation"]["desc"], f["recommendation"]);
        let actor = &e["evidences"][0]["actor"];
        let p = &f["principal"];
        let uid = if p["oid"].is_null() {
            &p["appid"]
        } else {
            &p["oid"]
        };
        assert_eq!(&actor["user"]["uid"], uid);
        assert_eq!(e["resources"][0]["name"], f["vault"]);
        assert!(e["finding_info"]["first_seen_time"].is_i64() || f["type"] == "guest_access");
    }
    let out = kvaudit(&["report", "--format", "ocsf-jsonl", &w]);
    let lines = jsonl(&out.stdout);
    assert_eq!(uids(&lines), uids(&a));
    let mut snap = a.clone();
    for e in &mut snap {
        e["time"] = Value::from(0);
    }
    snapshot(
        "report.ocsf.json",
        &(serde_json::to_string_pretty(&snap).unwrap() + "\n"),
    );
}

#[test]
fn ocsf_takes_its_format_from_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let w = weeks();
    let file = dir.path().join("findings.ocsf.jsonl");
    let f = file.to_string_lossy();
    let out = kvaudit(&["report", &w, "-o", &f]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = jsonl(&std::fs::read_to_string(&file).unwrap());
    assert!(!lines.is_empty() && lines.iter().all(|e| e["class_uid"] == 2004));
    let plain = dir.path().join("findings.json");
    let out = kvaudit(&[
        "report",
        &w,
        "--format",
        "ocsf",
        "-o",
        &plain.to_string_lossy(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&plain).unwrap()).unwrap();
    assert_eq!(v.len(), lines.len());
}
