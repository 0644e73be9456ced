//! The streaming `callers` fold and the polars aggregation (the oracle)
//! must agree on every fixture (differential test), and JSON Lines files
//! stream with the same results as when read whole.

use crate::harness::*;
use crate::oracle::{callers, csv_rows_as_json_lines};
use kvaudit::analyze::callers::CallerFold;
use kvaudit::identify::Catalog;
use kvaudit::ingest::{read_all, read_bytes, read_into, ReadOptions};
use kvaudit::pipeline::{Fields, Sink};

fn all_fixtures() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["shapes", "scenarios"] {
        for e in std::fs::read_dir(fixture(dir)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("directory") {
                continue;
            }
            out.push(p.to_string_lossy().into_owned());
        }
    }
    out.push(fixture("tree"));
    out.push(fixture("real-world"));
    out.sort();
    out
}

#[test]
fn fold_equals_polars_on_every_fixture() {
    let catalog = Catalog::bundled();
    let opts = ReadOptions {
        skip_invalid: true,
        ..Default::default()
    };
    let mut checked = 0;
    for f in all_fixtures() {
        let Ok(ing) = read_all(std::slice::from_ref(&f), &opts) else {
            continue;
        };
        let mut fold = CallerFold::default();
        let streamed = read_into(std::slice::from_ref(&f), &opts, &mut fold).unwrap();
        assert_eq!(streamed.rows_kept(), ing.events.len() as u64, "{f}");
        let expected = callers(&ing.events, &catalog).unwrap();
        assert!(!expected.is_empty(), "{f}");
        assert_eq!(fold.rows(&catalog), expected, "{f}");
        // `callers` reads lean (unused fields neither stored nor decoded):
        // the same rows.
        let lean = ReadOptions {
            fields: Fields::Callers,
            ..opts.clone()
        };
        let mut lean_fold = CallerFold::default();
        read_into(std::slice::from_ref(&f), &lean, &mut lean_fold).unwrap();
        assert_eq!(lean_fold.rows(&catalog), expected, "{f} (lean)");
        // `explain` and `report` read every field but four that neither
        // uses: the same events, those four left out (the correlation id
        // kept for AzureDatabricks, whose reads are told apart by it).
        let analysis = ReadOptions {
            fields: Fields::Analysis,
            ..opts.clone()
        };
        let got = read_all(std::slice::from_ref(&f), &analysis)
            .unwrap()
            .events;
        let mut want = ing.events.clone();
        for e in &mut want {
            e.request_uri = None;
            if e.caller_appid.as_deref() != Some(kvaudit::event::DATABRICKS_APPID) {
                e.correlation_id = None;
            }
            e.result_signature = None;
            e.caller_appidacr = None;
        }
        assert_eq!(got, want, "{f} (analysis)");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} fixtures read");
}

/// Counts events without keeping them.
struct Count(u64);
impl Sink for Count {
    fn event(&mut self, _: kvaudit::event::Event) -> kvaudit::error::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

#[test]
fn json_lines_stream_like_whole_reads() {
    let opts = ReadOptions::default();
    for f in [
        "shapes/raw-records.jsonl",
        "scenarios/s1-s9-three-weeks.jsonl",
    ] {
        let path = fixture(f);
        let bytes = std::fs::read(&path).unwrap();
        let whole = read_bytes("mem", bytes, &opts).unwrap();
        let mut n = Count(0);
        let streamed = read_into(std::slice::from_ref(&path), &opts, &mut n).unwrap();
        assert_eq!(streamed.files[0].shape, whole.files[0].shape, "{f}");
        assert_eq!(n.0, whole.events.len() as u64, "{f}");
        assert_eq!(streamed.rows_read(), whole.rows_read(), "{f}");
    }
    // A malformed line in a streamed file still names its line.
    let d = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(fixture("shapes/raw-records.jsonl")).unwrap();
    text.push_str("{\"time\": oops}\n");
    let lines = text.lines().count();
    let p = write(d.path(), "bad.jsonl", text.as_bytes());
    let e = read_into(std::slice::from_ref(&p), &opts, &mut Count(0)).unwrap_err();
    assert!(
        e.to_string().contains(&format!("bad.jsonl: line {lines}")),
        "{e}"
    );
}

/// A named pipe (as `<(zcat logs.csv.gz)` gives) can be read only once:
/// it is read whole, like stdin, and gives the same callers as the file.
#[cfg(unix)]
#[test]
fn pipes_are_read_once_and_whole() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("logs.pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo not available: skipped");
        return;
    }
    let src = fixture("shapes/azurediagnostics-portal.csv");
    let writer = {
        let (fifo, src) = (fifo.clone(), src.clone());
        std::thread::spawn(move || {
            let bytes = std::fs::read(src).unwrap();
            std::fs::write(fifo, bytes).unwrap();
        })
    };
    let piped = kvaudit(&["callers", "--format", "json", &fifo.to_string_lossy()]);
    writer.join().unwrap();
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    let direct = kvaudit(&["callers", "--format", "json", &src]);
    assert_eq!(piped.stdout, direct.stdout);
}

/// stdin larger than the read-ahead streams (not read whole) and gives the
/// same results as the file; an error in it is placed by record number.
#[test]
fn large_stdin_streams_like_a_file() {
    let d = tempfile::tempdir().unwrap();
    for shape in ["azdiag-csv", "raw-jsonl"] {
        let p = d.path().join(shape).to_string_lossy().into_owned();
        let out = kvaudit(&["synth", "--rows", "2000", "--shape", shape, "-o", &p]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.len() > 1 << 17, "bigger than the read-ahead");
        let direct = kvaudit(&["callers", "--format", "json", &p]);
        let piped = kvaudit_stdin(&["callers", "--format", "json", "-"], Some(&bytes));
        assert_eq!(piped.code, 0, "{}", piped.stderr);
        assert_eq!(piped.stdout, direct.stdout, "{shape}");
    }
    // A ragged row deep in a piped CSV.
    let p = d.path().join("azdiag-csv").to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&p).unwrap();
    // The 1500th record's last line ends with its Type column.
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    let ends: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].ends_with(",AzureDiagnostics"))
        .collect();
    lines[ends[1499]].push_str(",extra");
    let broken = lines.join("\r\n");
    let out = kvaudit_stdin(&["events", "-"], Some(broken.as_bytes()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("<stdin>: record 1500") && out.stderr.contains("found 34"),
        "{}",
        out.stderr
    );
}

/// Files of many blocks (the reader cuts about every MiB and parses blocks
/// on every core) read exactly as a sequential reader does: CSV against the
/// same rows read by polars' CSV reader (written as JSON Lines), JSON Lines
/// against the same records as one JSON array (read whole, in one thread).
/// Every event, in order, with its number.
#[test]
fn multi_block_reads_equal_sequential_reads() {
    let d = tempfile::tempdir().unwrap();
    let events = |path: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kvaudit"));
        cmd.args(["events", "--format", "jsonl", path]);
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        jsonl(&String::from_utf8(o.stdout).unwrap())
    };
    let big = |shape: &str| {
        let p = synth(d.path(), shape, 8000, 42);
        assert!(
            std::fs::metadata(&p).unwrap().len() > 6 << 20,
            "several blocks"
        );
        p
    };
    let without_source = |mut v: Vec<serde_json::Value>| {
        for e in &mut v {
            e.as_object_mut().unwrap().remove("source");
        }
        v
    };
    let csv = big("azdiag-csv");
    let blocks = events(&csv);
    assert!(blocks.len() > 7000, "{}", blocks.len());
    let by_polars = d.path().join("by-polars.jsonl");
    csv_rows_as_json_lines(&csv, &by_polars).unwrap();
    assert_eq!(
        without_source(blocks.clone()),
        without_source(events(&by_polars.to_string_lossy()))
    );
    let numbers: Vec<u64> = blocks
        .iter()
        .map(|e| e["source_record"].as_u64().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in input order");
    // An error deep in the file (a later block) names its line and record.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    let ends = |lines: &[String]| -> Vec<usize> {
        (0..lines.len())
            .filter(|i| lines[*i].ends_with(",AzureDiagnostics"))
            .collect()
    };
    let e = ends(&lines);
    // A record on one line, well past the first MiB.
    let k = (7000..e.len()).find(|k| e[*k - 1] + 1 == e[*k]).unwrap();
    lines[e[k]].push_str(",extra");
    let broken = write(d.path(), "broken.csv", lines.join("\r\n").as_bytes());
    let out = kvaudit(&["events", &broken]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let want = format!("line {} (record {})", e[k] + 1, k + 1);
    assert!(out.stderr.contains(&want), "{want}: {}", out.stderr);

    let lines = big("raw-jsonl");
    let text = std::fs::read_to_string(&lines).unwrap();
    let array = format!("[{}]", text.trim_end().replace('\n', ","));
    let whole = write(d.path(), "array.json", array.as_bytes());
    let blocks = without_source(events(&lines));
    assert!(blocks.len() > 7000, "{}", blocks.len());
    assert_eq!(blocks, without_source(events(&whole)));
}

/// `explain` and `report` spill success times to a temporary file past a
/// bound (memory flat in the input size): the same output whether they
/// spilled. S2's denial resolves; its success is read first, so it is among
/// those spilled by the 20,000 rows that follow.
#[test]
fn output_is_the_same_when_success_times_spill() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("log.csv").to_string_lossy().into_owned();
    let out = kvaudit(&["synth", "--rows", "20000", "--seed", "3", "-o", &p]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s2 = fixture("scenarios/s2-airflow-spn-forbidden.jsonl");
    let run = |command: &str, spill: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kvaudit"));
        cmd.args([command, "--format", "json", &s2, &p]);
        if let Some(n) = spill {
            cmd.env("KVAUDIT_SPILL_AT", n);
        }
        let o = cmd.output().unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 3)),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if let Some(m) = v.as_object_mut() {
            m.remove("generated_at");
        }
        v
    };
    let held = run("explain", None);
    let resolved = held.to_string().matches("\"resolved_at\":\"").count();
    assert!(resolved > 0, "S2's denial resolves");
    assert_eq!(run("explain", Some("100")), held);
    assert_eq!(run("report", Some("100")), run("report", None));
}

/// A parsing thread's share of `report` holds successes alike but for
/// their times and folds each set at once, after later failures: the
/// report is the same as when each is folded as it comes (0), or when a
/// few at a time are held (7), on the heavy mix and on S1-S9's users
/// read over and over, months and hours apart.
#[test]
fn report_is_the_same_however_many_successes_are_held() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("log.jsonl").to_string_lossy().into_owned();
    let out = kvaudit(&[
        "synth",
        "--rows",
        "30000",
        "--seed",
        "5",
        "--profile",
        "denials",
        "--shape",
        "raw-jsonl",
        "-o",
        &p,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s1 = std::fs::read_to_string(fixture("scenarios/s1-s9-three-weeks.jsonl")).unwrap();
    let days: String = (0..40)
        .map(|day| {
            s1.replace("2025-03-", &format!("2025-{:02}-", 4 + day / 9))
                .replace("T0", if day % 2 == 0 { "T0" } else { "T1" })
        })
        .collect();
    let again = write(d.path(), "again.jsonl", days.as_bytes());
    // After the heavy mix (so read by the parsing threads): S2's last 403
    // and the success that resolves it 400 ns later, and a caller whose
    // first event, a success, says it is an application and whose second,
    // a 403, says it is a user.
    let s2: Vec<String> =
        std::fs::read_to_string(fixture("scenarios/s2-airflow-spn-forbidden.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
    let at = |line: &str, time: &str| {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["time"] = time.into();
        v
    };
    let denied = at(&s2[2], "2025-03-13T02:00:03.0000001Z");
    let success = at(&s2[3], "2025-03-13T02:00:03.0000005Z");
    let mut app = success.clone();
    app["identity"]["claim"]["appid"] = "0f6b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".into();
    app["identity"]["claim"]["oid"] = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d".into();
    app["identity"]["claim"]["idtyp"] = "app".into();
    let mut user = denied.clone();
    user["identity"]["claim"] = app["identity"]["claim"].clone();
    user["identity"]["claim"]["idtyp"] = "user".into();
    // The same object id through the Azure CLI (a success, first) and the
    // portal (a 403, after): its role assignment is judged as the CLI's.
    let oid = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
    let mut cli = success.clone();
    cli["identity"]["claim"]["appid"] = "04b07795-8ddb-461a-bbee-02f9e1bf7b46".into();
    cli["identity"]["claim"]["oid"] = oid.into();
    let mut portal = denied.clone();
    portal["identity"]["claim"]["appid"] = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c".into();
    portal["identity"]["claim"]["oid"] = oid.into();
    let vault = "/subscriptions/7d3b2c1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d/resourceGroups/rg-data-prod/providers/Microsoft.KeyVault/vaults/kv-data-prod";
    let assignments = serde_json::json!([{
        "createdOn": "2025-01-15T09:00:00.000000+00:00",
        "id": format!("{vault}/providers/Microsoft.Authorization/roleAssignments/20000000-0000-4000-8000-000000000002"),
        "name": "20000000-0000-4000-8000-000000000002",
        "principalId": oid,
        "principalType": "User",
        "roleDefinitionName": "Key Vault Secrets Officer",
        "scope": vault,
        "type": "Microsoft.Authorization/roleAssignments"
    }]);
    let held_roles = write(d.path(), "roles.json", assignments.to_string().as_bytes());
    let mut heavy = std::fs::read_to_string(&p).unwrap();
    for v in [&denied, &success, &success, &app, &user, &cli, &portal] {
        heavy.push_str(&v.to_string());
        heavy.push('\n');
    }
    let tail = write(d.path(), "tail.jsonl", heavy.as_bytes());
    for input in [&p, &again, &tail] {
        let roles: &[&str] = if input == &tail {
            &["--assignments", &held_roles]
        } else {
            &[]
        };
        let run = |held: &str| {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_kvaudit"))
                .args(["report", "--format", "json", input])
                .args(roles)
                .env("KVAUDIT_PENDING", held)
                .output()
                .unwrap();
            assert!(
                matches!(o.status.code(), Some(0 | 3)),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            v.as_object_mut().unwrap().remove("generated_at");
            v
        };
        let each = run("0");
        assert!(each["summary"]["events"].as_u64().unwrap() > 4000);
        if input == &tail {
            // Resolved 400 ns later: no denied_access finding for it.
            let findings = each["findings"].to_string();
            assert!(
                !findings.contains("3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55"),
                "S2 resolves"
            );
            assert!(
                findings.contains("04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
                "{findings:.2000}"
            );
        }
        assert_eq!(run("7"), each, "{input}");
        assert_eq!(run("1000000000"), each, "{input}");
    }
}

/// `callers` folds on every parsing thread and merges the parts: on inputs
/// of many blocks (CSV and JSON Lines), read after and before small files
/// that are read on the calling thread, the callers are exactly those of
/// the polars aggregation over every event read in order.
#[test]
fn callers_folded_on_parsing_threads_equal_polars() {
    let d = tempfile::tempdir().unwrap();
    let catalog = Catalog::bundled();
    let big = |shape: &str, seed: u32| {
        let p = synth(d.path(), shape, 12000, seed);
        assert!(
            std::fs::metadata(&p).unwrap().len() > 8 << 20,
            "several blocks"
        );
        p
    };
    let inputs = vec![
        fixture("scenarios/s2-airflow-spn-forbidden.jsonl"),
        big("azdiag-csv", 5),
        fixture("shapes/azurediagnostics-portal.csv"),
        big("raw-jsonl", 6),
    ];
    for detail in [Fields::Full, Fields::Callers] {
        let opts = ReadOptions {
            fields: detail,
            ..Default::default()
        };
        let ing = read_all(&inputs, &opts).unwrap();
        let expected = callers(&ing.events, &catalog).unwrap();
        assert!(expected.len() > 10, "{}", expected.len());
        let mut fold = CallerFold::default();
        let streamed = read_into(&inputs, &opts, &mut fold).unwrap();
        assert_eq!(streamed.rows_kept(), ing.events.len() as u64);
        assert_eq!(streamed.rows_read(), ing.rows_read());
        assert_eq!(fold.rows(&catalog), expected, "{detail:?}");
    }
}

/// `report` folds its period, counts and callers on the parsing threads
/// and the order-dependent rest (findings, explanations) on the calling
/// thread: on JSON Lines of many blocks it says exactly what it says of the
/// same records as one JSON array, which is read whole on one thread.
#[test]
fn report_split_across_parsing_threads_equals_one_thread() {
    let d = tempfile::tempdir().unwrap();
    let lines = synth(d.path(), "raw-jsonl", 12000, 8);
    assert!(std::fs::metadata(&lines).unwrap().len() > 8 << 20);
    let text = std::fs::read_to_string(&lines).unwrap();
    let array = format!("[{}]", text.trim_end().replace('\n', ","));
    let whole = write(d.path(), "array.json", array.as_bytes());
    let s2 = fixture("scenarios/s2-airflow-spn-forbidden.jsonl");
    let report = |args: &[&str]| {
        let mut all = vec!["report", "--format", "json"];
        all.extend_from_slice(args);
        let out = kvaudit(&all);
        assert!(matches!(out.code, 0 | 3), "{}", out.stderr);
        let mut v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let m = v.as_object_mut().unwrap();
        m.remove("generated_at");
        m.remove("inputs");
        v
    };
    let split = report(&[&s2, &lines]);
    assert!(split["summary"]["events"].as_u64().unwrap() > 12000);
    // Findings of each kind the parts gather evidence for.
    let kinds: std::collections::BTreeSet<&str> = split["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    for kind in ["user_bound_automation", "guest_access", "denied_access"] {
        assert!(kinds.contains(kind), "{kind}: {kinds:?}");
    }
    assert_eq!(split, report(&[&s2, &whole]));
    // A period: events outside it are counted on the parsing threads.
    let from = ["--from", "2025-03-10"];
    let windowed = report(&[&from[..], &[&s2, &lines]].concat());
    assert!(windowed["summary"]["rows_outside_period"].as_u64().unwrap() > 0);
    assert_eq!(windowed, report(&[&from[..], &[&s2, &whole]].concat()));
}

/// `report` reads successful requests lean (only what it folds of them),
/// with or without the correlation ids of `--databricks`: the same report
/// as reading every field, on every fixture.
#[test]
fn report_reads_successes_lean_with_the_same_result() {
    use kvaudit::analyze::report::{Options, ReportFold, Window};
    let catalog = Catalog::bundled();
    let policy = kvaudit::analyze::findings::Policy::default();
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let report = |f: &str, detail: Fields| {
        let opts = ReadOptions {
            skip_invalid: true,
            fields: detail,
            ..Default::default()
        };
        let mut fold = ReportFold::new(Window::default(), &policy);
        let ing = read_into(&[f.to_string()], &opts, &mut fold).ok()?;
        let o = Options {
            window: Window::default(),
            policy: &policy,
            baseline: None,
            redactor: None,
            now,
            inputs: vec![],
            assignments: None,
            listed: None,
            vaults: vec![],
            attributed: None,
        };
        Some(serde_json::to_value(fold.finish(&ing, &catalog, &o)).unwrap())
    };
    let mut checked = 0;
    for f in all_fixtures() {
        let Some(full) = report(&f, Fields::Analysis) else {
            continue;
        };
        for lean in [Fields::Report, Fields::ReportDatabricks] {
            assert_eq!(report(&f, lean), Some(full.clone()), "{f} {lean:?}");
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} fixtures read");
}

/// A reader of many files (an archive tree) or of Parquet row groups on
/// several threads stops, exit 0, when the pipe it writes to closes early
/// (a worker waiting for work must not keep the process alive).
#[test]
fn a_closed_pipe_stops_the_file_and_row_group_readers() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let line = std::fs::read_to_string(fixture("scenarios/s2-airflow-spn-forbidden.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    // 200 blobs of 50 records: many batches of files.
    for i in 0..200 {
        let d = dir
            .path()
            .join(format!("tree/y=2025/m=03/d=11/h={:02}/m={i:03}", i % 24));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("PT1H.json"), format!("{line}\n").repeat(50)).unwrap();
    }
    let tree = dir.path().join("tree").to_string_lossy().into_owned();
    let pq = dir.path().join("e.parquet").to_string_lossy().into_owned();
    assert_eq!(kvaudit(&["events", &tree, "-o", &pq]).code, 0);
    for input in [&tree, &pq] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kvaudit"))
            .args(["events", input.as_str()])
            .env("KVAUDIT_NO_PROGRESS", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with("{\"time\""), "{first}");
        // The reader is dropped: the pipe is closed.
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > std::time::Duration::from_secs(30) {
                let _ = child.kill();
                panic!("{input}: still running 30 s after its pipe closed");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(0), "{input}");
    }
}

/// An archive tree (hourly blobs, folded on the file workers as they are
/// read, or with --skip-invalid once each blob has read whole) answers as
/// its records in one file, in the walk's order; a file that is not a log
/// among the blobs is passed over.
#[test]
fn an_archive_tree_answers_as_its_records_in_one_file() {
    let d = tempfile::tempdir().unwrap();
    let lines = synth(d.path(), "raw-jsonl", 6000, 5);
    let mut text = std::fs::read_to_string(&lines).unwrap();
    text.push_str(
        &std::fs::read_to_string(fixture("scenarios/s2-airflow-spn-forbidden.jsonl")).unwrap(),
    );
    // One caller whose kind is its first event's (by place in the input,
    // not by time): an app token at line 2 of vault A's blob, a user token
    // at line 1 of vault B's, at the same time (blobs of two lines, read as
    // JSON Lines). Read in order, the caller is a service principal.
    let s2: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let record = |vault: &str, oid: &str, idtyp: &str| {
        let mut r = s2.clone();
        r["time"] = "2025-03-11T05:00:00.000Z".into();
        r["identity"]["claim"] = serde_json::json!({
            "oid": oid, "appid": "0badc0de-0000-4000-8000-000000000002", "idtyp": idtyp
        });
        r["resourceId"] = format!(
            "/SUBSCRIPTIONS/7D3B2C1A-5E4F-4A3B-9C8D-1E2F3A4B5C6D/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}"
        )
        .into();
        r["properties"]["httpStatusCode"] = 200.into();
        format!("{r}\n")
    };
    let oid = "0badc0de-0000-4000-8000-000000000001";
    text.push_str(&record(
        "KV-A",
        "0badc0de-0000-4000-8000-000000000009",
        "app",
    ));
    text.push_str(&record("KV-A", oid, "app"));
    text.push_str(&record("KV-B", oid, "user"));
    text.push_str(&record(
        "KV-B",
        "0badc0de-0000-4000-8000-000000000009",
        "app",
    ));
    // Blobs by vault and hour, as Azure Monitor archives them.
    let tree = d.path().join("tree");
    let mut blobs: std::collections::BTreeMap<std::path::PathBuf, String> = Default::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = r["time"].as_str().unwrap();
        let id = r["resourceId"].as_str().unwrap().trim_start_matches('/');
        let p = tree.join(format!(
            "insights-logs-auditevent/resourceId={id}/y={}/m={}/d={}/h={}/m=00/PT1H.json",
            &t[0..4],
            &t[5..7],
            &t[8..10],
            &t[11..13]
        ));
        let blob = blobs.entry(p).or_default();
        blob.push_str(line);
        blob.push('\n');
    }
    assert!(blobs.len() > 20, "{} blobs", blobs.len());
    for (p, body) in &blobs {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    std::fs::write(tree.join("README.md"), "not a log\n").unwrap();
    // The same records in one file, in the walk's order (paths compare by
    // component, as `BTreeMap` keeps them).
    let one = write(
        d.path(),
        "one.jsonl",
        blobs.values().cloned().collect::<String>().as_bytes(),
    );
    let tree = tree.to_string_lossy().into_owned();
    let answer = |args: &[&str]| {
        let out = kvaudit(args);
        assert!(matches!(out.code, 0 | 3), "{args:?}: {}", out.stderr);
        let mut v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        if let Some(m) = v.as_object_mut() {
            m.remove("generated_at");
            m.remove("inputs");
            // The README, in the tree only.
            if let Some(s) = m.get_mut("summary").and_then(|s| s.as_object_mut()) {
                let skipped = s.remove("files_skipped").unwrap_or_default();
                let named = skipped.to_string().contains("README.md");
                assert_eq!(named, args.contains(&tree.as_str()), "{skipped}");
            }
        }
        v
    };
    let callers = answer(&["callers", "--format", "json", &tree]);
    let kind = callers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["oid"] == oid)
        .map(|c| c["kind"].clone());
    assert_eq!(kind, Some("service_principal".into()));
    for cmd in ["report", "callers", "access", "explain"] {
        let want = answer(&[cmd, "--format", "json", &one]);
        assert_eq!(answer(&[cmd, "--format", "json", &tree]), want, "{cmd}");
        assert_eq!(
            answer(&[cmd, "--format", "json", "--skip-invalid", &tree]),
            want,
            "{cmd} --skip-invalid"
        );
    }
}

/// Parquet files among an archive's blobs are read by their own reader,
/// which splits them between threads: their events reach the file
/// worker's part all the same, in the file's place (the same report as
/// folding each file once it has read, with --skip-invalid).
#[test]
fn parquet_files_in_a_tree_fold_like_the_other_files() {
    let d = tempfile::tempdir().unwrap();
    let tree = d.path().join("tree");
    for (i, f) in ["azkvauditlogs-nested.parquet", "raw-nested.parquet"]
        .iter()
        .enumerate()
    {
        let sub = tree.join(format!("p{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(fixture(&format!("lakehouse/{f}")), sub.join(f)).unwrap();
    }
    for (i, s) in ["s11-denial-classes.jsonl", "s2-airflow-spn-forbidden.jsonl"]
        .iter()
        .enumerate()
    {
        let sub = tree.join(format!("j{i}"));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(fixture(&format!("scenarios/{s}")), sub.join("PT1H.json")).unwrap();
    }
    let tree = tree.to_string_lossy().into_owned();
    let report = |extra: &[&str]| {
        let out = kvaudit(&[&["report", "--format", "json", &tree], extra].concat());
        assert!(matches!(out.code, 0 | 3), "{}", out.stderr);
        let mut v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v.as_object_mut().unwrap().remove("generated_at");
        v
    };
    let direct = report(&[]);
    let s = &direct["summary"];
    assert_eq!(s["events"], s["rows_kept"], "{s}");
    assert_eq!(direct, report(&["--skip-invalid"]));
}
