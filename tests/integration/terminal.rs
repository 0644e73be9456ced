//! Issue 18: what a person sees. The human views run in a real
//! pseudo-terminal (`script`) at 80 and 120 columns, colour on and off:
//! snapshots, no line wider than the terminal (but a single command
//! argument), fixes that paste back to their JSON `fix`; selection flags
//! against counts computed here from `kvaudit events`; formats from `-o`.

use crate::harness::*;
use serde_json::Value;
use std::process::Command;

/// `kvaudit ARGS` in a pseudo-terminal `cols` wide; colour as `color`.
fn in_terminal(cols: u16, color: bool, args: &[&str]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let script = format!(
        "stty cols {cols} rows 50; {} {}",
        env!("CARGO_BIN_EXE_kvaudit"),
        quoted.join(" ")
    );
    let mut c = Command::new("script");
    c.args(["-qec", &script, "/dev/null"])
        .env_remove("COLUMNS")
        .env_remove("CLICOLOR_FORCE")
        .env("KVAUDIT_NO_PROGRESS", "1");
    if color {
        c.env_remove("NO_COLOR");
    } else {
        c.env("NO_COLOR", "1");
    }
    let o = c.output().expect("script runs");
    String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n")
}

/// The text without ANSI styles.
fn plain(s: &str) -> String {
    let re = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
    re.replace_all(s, "").into_owned()
}

fn width(line: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(line)
}

/// Lines wider than `cols`, leaving out a fix command's line that is one
/// argument (the only thing allowed to be wider).
fn too_wide(text: &str, cols: usize) -> Vec<String> {
    plain(text)
        .lines()
        .filter(|l| width(l) > cols)
        .filter(|l| {
            let t = l.trim().trim_end_matches(" \\");
            let one_argument = t.starts_with("--") && t.split(' ').count() <= 2;
            !one_argument
        })
        .map(str::to_string)
        .collect()
}

const S1: &str = "scenarios/s1-s9-three-weeks.jsonl";

fn views() -> Vec<(&'static str, Vec<String>)> {
    let all = fixture(S1);
    let portal = fixture("shapes/azurediagnostics-portal.csv");
    vec![
        (
            "events",
            vec![
                "events".into(),
                portal.clone(),
                "--format".into(),
                "table".into(),
            ],
        ),
        ("callers", vec!["callers".into(), portal]),
        ("explain", vec!["explain".into(), all.clone()]),
        ("report", vec!["report".into(), all]),
    ]
}

#[test]
fn human_views_fit_80_and_120_columns_with_colour_on_and_off() {
    for cols in [80u16, 120] {
        for color in [false, true] {
            for (name, args) in views() {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = in_terminal(cols, color, &a);
                assert!(!out.trim().is_empty(), "{name}: no output");
                let wide = too_wide(&out, cols.into());
                assert!(
                    wide.is_empty(),
                    "{name} at {cols} (colour {color}): {wide:#?}"
                );
                assert_eq!(color, out.contains('\x1b'), "{name}: colour {color}");
            }
        }
    }
}

/// The same on a 50,000-row `synth` export (many callers, many denials).
#[test]
fn human_views_fit_on_a_large_export() {
    let d = tempfile::tempdir().unwrap();
    let csv = synth(d.path(), "azdiag-csv", 50_000, 7);
    for cmd in ["callers", "explain", "report"] {
        let out = in_terminal(80, false, &[cmd, &csv]);
        let wide = too_wide(&out, 80);
        assert!(wide.is_empty(), "{cmd}: {wide:#?}");
        if cmd == "callers" {
            // One line per caller, not a wrapped block per caller.
            let callers: Vec<Value> =
                serde_json::from_str(&kvaudit(&["callers", &csv, "--format", "json"]).stdout)
                    .unwrap();
            assert_eq!(
                plain(&out)
                    .lines()
                    .filter(|l| !l.starts_with("kvaudit:"))
                    .count(),
                callers.len() + 1
            );
        }
    }
}

#[test]
fn snapshots_at_80_and_120_columns() {
    for cols in [80u16, 120] {
        for (name, args) in views() {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = in_terminal(cols, false, &a);
            // Paths differ between machines.
            let out = out.replace(&root().to_string_lossy().into_owned(), "<repo>");
            crate::report::snapshot(&format!("{name}-{cols}.txt"), &out);
        }
    }
}

#[test]
fn a_pipe_gets_whole_lines_and_no_colour() {
    let out = kvaudit(&["callers", &fixture("shapes/azurediagnostics-portal.csv")]);
    assert!(!out.stdout.contains('\x1b'), "{}", out.stdout);
    assert!(out
        .stdout
        .contains("bob_fabrikam.com#EXT#@contoso.onmicrosoft.com"));
}

/// Each fix in the terminal view, its ` \` continuations joined, is the
/// JSON `fix`.
#[test]
fn fixes_paste_back_to_their_json() {
    let f = fixture(S1);
    let json: Vec<Value> =
        serde_json::from_str(&kvaudit(&["explain", &f, "--format", "json"]).stdout).unwrap();
    for cols in [80u16, 120] {
        let text = plain(&in_terminal(cols, false, &["explain", &f]));
        let mut fixes = Vec::new();
        let mut lines = text.lines().peekable();
        while let Some(l) = lines.next() {
            if l.trim_start().starts_with("fix") && l.trim_end().ends_with(':') {
                let mut cmd = String::new();
                for next in lines.by_ref() {
                    let part = next.trim();
                    match part.strip_suffix(" \\") {
                        Some(p) => {
                            cmd.push_str(p);
                            cmd.push(' ');
                        }
                        None => {
                            cmd.push_str(part);
                            break;
                        }
                    }
                }
                fixes.push(cmd);
            }
        }
        let want: Vec<String> = json
            .iter()
            .map(|d| d["fix"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(fixes, want, "at {cols} columns");
    }
}

fn all_events() -> Vec<Value> {
    jsonl(&kvaudit(&["events", &fixture(S1)]).stdout)
}

fn count(args: &[&str]) -> usize {
    let mut a = vec!["events".to_string(), fixture(S1)];
    a.extend(args.iter().map(std::string::ToString::to_string));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = kvaudit(&a);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    jsonl(&out.stdout).len()
}

#[test]
fn selection_flags_match_counts_computed_here() {
    let ev = all_events();
    let n = |f: &dyn Fn(&Value) -> bool| ev.iter().filter(|e| f(e)).count();
    let s = |e: &Value, k: &str| e[k].as_str().unwrap_or("").to_string();
    assert_eq!(
        count(&["--operation", "SecretGet"]),
        n(&|e| s(e, "operation") == "SecretGet")
    );
    assert_eq!(count(&["--status", "403"]), n(&|e| e["status"] == 403));
    assert_eq!(
        count(&["--status", "failed"]),
        n(&|e| !(200..300).contains(&e["status"].as_u64().unwrap_or(0)))
    );
    assert_eq!(
        count(&["--vault", "kv-data-prod"]),
        n(&|e| s(e, "vault") == "kv-data-prod")
    );
    assert_eq!(
        count(&["--from", "2025-03-10", "--to", "2025-03-15"]),
        n(&|e| {
            let t = s(e, "time");
            t.as_str() >= "2025-03-10" && t.as_str() < "2025-03-15"
        })
    );
    assert_eq!(count(&["--from", "2025-03"]), ev.len());
    assert_eq!(count(&["--to", "2025-03"]), 0);
    assert_eq!(
        count(&["--principal", "carol@contoso.com"]),
        n(&|e| s(e, "caller_upn") == "carol@contoso.com")
    );
    assert_eq!(
        count(&["--principal", "adf-prod"]),
        n(&|e| s(e, "caller_mirid").contains("adf-prod"))
    );
    // --kind against the callers view's own kinds.
    let callers: Vec<Value> =
        serde_json::from_str(&kvaudit(&["callers", &fixture(S1), "--format", "json"]).stdout)
            .unwrap();
    let users: u64 = callers
        .iter()
        .filter(|c| c["kind"] == "user")
        .map(|c| c["events"].as_u64().unwrap())
        .sum();
    assert_eq!(count(&["--kind", "user"]) as u64, users);
    // The same flags on the other commands, and a note of what was left out.
    let out = kvaudit(&[
        "callers",
        &fixture(S1),
        "--kind",
        "user",
        "--format",
        "json",
    ]);
    let rows: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    assert!(rows.iter().all(|r| r["kind"] == "user"));
    assert!(
        out.stderr.contains("outside the selection"),
        "{}",
        out.stderr
    );
    let out = kvaudit(&[
        "explain",
        &fixture(S1),
        "--vault",
        "kv-none",
        "--format",
        "json",
    ]);
    assert_eq!(out.stdout.trim(), "[]");
    // Usage errors.
    for bad in [
        &["--since", "7x"][..],
        &["--from", "March"],
        &["--status", "abc"],
        &["--from", "2025-03-12", "--to", "2025-03-01"],
    ] {
        let mut a = vec!["callers", S1];
        a.extend_from_slice(bad);
        let f = fixture(S1);
        a[1] = &f;
        assert_eq!(kvaudit(&a).code, 2, "{bad:?}");
    }
}

#[test]
fn sort_limit_and_footer() {
    let f = fixture(S1);
    let out = kvaudit(&["callers", &f, "--sort", "events", "--limit", "2"]);
    assert!(
        out.stdout.trim_end().ends_with("7 rows (2 shown)"),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().count(), 4);
    let j: Vec<Value> = serde_json::from_str(
        &kvaudit(&["callers", &f, "--sort", "events", "--format", "json"]).stdout,
    )
    .unwrap();
    let ev: Vec<u64> = j.iter().map(|r| r["events"].as_u64().unwrap()).collect();
    assert!(ev.windows(2).all(|w| w[0] >= w[1]), "{ev:?}");
}

#[test]
fn an_empty_window_does_not_pass_ci() {
    let f = fixture(S1);
    let out = kvaudit(&["report", &f, "--since", "30d", "--fail-on", "low"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("holds no events (117 rows read, 117 outside the selection)"),
        "{}",
        out.stderr
    );
    let ok = kvaudit(&[
        "report",
        &f,
        "--since",
        "30d",
        "--fail-on",
        "low",
        "--allow-empty",
    ]);
    assert_eq!(ok.code, 0);
    let found = kvaudit(&["report", &f, "--fail-on", "medium"]);
    assert_eq!(found.code, 3);
    assert!(
        found
            .stderr
            .contains("6 finding(s) at or above --fail-on medium (4 high, 2 medium)"),
        "{}",
        found.stderr
    );
}

#[test]
fn formats_from_the_output_extension() {
    let d = tempfile::tempdir().unwrap();
    let f = fixture(S1);
    let p = |n: &str| d.path().join(n).to_string_lossy().into_owned();
    assert_eq!(kvaudit(&["report", &f, "-o", &p("r.html")]).code, 0);
    assert!(std::fs::read_to_string(p("r.html"))
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    assert_eq!(kvaudit(&["report", &f, "-o", &p("r.json")]).code, 0);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p("r.json")).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 2);
    assert_eq!(kvaudit(&["callers", &f, "-o", &p("c.tsv")]).code, 0);
    assert!(std::fs::read_to_string(p("c.tsv"))
        .unwrap()
        .starts_with("appid\toid\tupn"));
    assert_eq!(kvaudit(&["explain", &f, "-o", &p("e.jsonl")]).code, 0);
    assert_eq!(
        jsonl(&std::fs::read_to_string(p("e.jsonl")).unwrap()).len(),
        1
    );
    let clash = kvaudit(&["callers", &f, "--format", "json", "-o", &p("c.csv")]);
    assert_eq!(clash.code, 2);
    assert!(
        clash
            .stderr
            .contains("the extension says csv, but --format is json"),
        "{}",
        clash.stderr
    );
    let cannot = kvaudit(&["callers", &f, "-o", &p("c.html")]);
    assert_eq!(cannot.code, 2);
    assert!(!d.path().join("c.html").exists() && !d.path().join("c.csv").exists());
    assert_eq!(kvaudit(&["callers", &f, "-o", "/dev/null"]).code, 0);
    // report writes several formats in one run, each by its extension.
    let out = kvaudit(&[
        "report",
        &f,
        "-o",
        &p("both.html"),
        "-o",
        &p("both.json"),
        "-o",
        &p("both.md"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(std::fs::read_to_string(p("both.html"))
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p("both.json")).unwrap()).unwrap();
    assert_eq!(v["summary"]["events"], 117);
    assert!(std::fs::read_to_string(p("both.md"))
        .unwrap()
        .starts_with("# Key Vault access report"));
    let mixed = kvaudit(&[
        "report",
        &f,
        "--format",
        "json",
        "-o",
        &p("x.html"),
        "-o",
        &p("x.json"),
    ]);
    assert_eq!(mixed.code, 2, "{}", mixed.stderr);
    assert_eq!(
        kvaudit(&["callers", &f, "-o", &p("a.json"), "-o", &p("b.json")]).code,
        2
    );
}

#[test]
fn completions_man_and_version() {
    let bash = kvaudit(&["completions", "bash"]);
    assert_eq!(bash.code, 0);
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "kvaudit.bash", bash.stdout.as_bytes());
    assert!(Command::new("bash")
        .args(["-n", &p])
        .status()
        .unwrap()
        .success());
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = kvaudit(&["completions", shell]);
        assert!(out.code == 0 && out.stdout.contains("kvaudit"), "{shell}");
    }
    let man = kvaudit(&["man"]);
    assert!(man.stdout.contains(".TH kvaudit 1"));
    let v = kvaudit(&["--version"]);
    assert!(v.stdout.starts_with("kvaudit 0.1.0 ("), "{}", v.stdout);
    for cmd in [
        "events", "callers", "explain", "report", "token", "synth", "pull",
    ] {
        let help = kvaudit(&[cmd, "--help"]);
        assert!(
            help.stdout.contains("Examples:\n  kvaudit")
                || help.stdout.contains("Examples:\n  az "),
            "{cmd}"
        );
    }
}

/// `events --format csv` and `tsv` written to a terminal show a log's
/// control characters as escapes (an escape sequence could rewrite the
/// screen or its title); piped, the values stay as the log gave them.
#[test]
fn events_csv_to_a_terminal_escapes_control_characters() {
    let line = std::fs::read_to_string(fixture("shapes/raw-records.jsonl"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let mut v: Value = serde_json::from_str(&line).unwrap();
    v["identity"]["claim"]["upn"] = Value::from("evil\u{1b}]0;pwned\u{7}@contoso.com");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.jsonl");
    std::fs::write(&path, format!("{v}\n")).unwrap();
    let p = path.to_string_lossy().into_owned();
    for format in ["csv", "tsv"] {
        let shown = in_terminal(80, false, &["events", &p, "--format", format]);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{shown}"
        );
        assert!(
            shown.contains(r"evil\u{1b}]0;pwned\u{7}@contoso.com"),
            "{shown}"
        );
        let piped = kvaudit(&["events", &p, "--format", format]);
        assert_eq!(piped.code, 0, "{}", piped.stderr);
        assert!(piped.stdout.contains("evil\u{1b}]0;pwned\u{7}@contoso.com"));
    }
}
