//! `events --format parquet`: the canonical events with real types, read
//! back here with polars (and in CI with DuckDB), row for row as the JSON
//! Lines the same command writes.

use crate::harness::*;
use polars::prelude::*;
use serde_json::Value;

#[test]
fn parquet_events_read_back_typed_and_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("scenarios/s1-s9-three-weeks.jsonl");
    let file = dir.path().join("events.parquet");
    let f = file.to_string_lossy().into_owned();
    // The format from the file name.
    let out = kvaudit(&["events", &input, "-o", &f]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("117 event(s) written as Parquet"),
        "{}",
        out.stderr
    );
    let json = kvaudit(&["events", &input]);
    let events: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let df = ParquetReader::new(std::fs::File::open(&file).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), events.len());
    assert_eq!(df.width(), kvaudit::event::COLUMNS.len());
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    assert_eq!(names, kvaudit::event::COLUMNS.to_vec());
    let time = df.column("time").unwrap();
    assert_eq!(
        time.dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );
    assert_eq!(df.column("status").unwrap().dtype(), &DataType::Int32);
    assert_eq!(
        df.column("rbac_authorized").unwrap().dtype(),
        &DataType::Boolean
    );
    assert_eq!(
        df.column("source_record").unwrap().dtype(),
        &DataType::UInt64
    );
    // Row by row: the time in microseconds, the status, the caller.
    let micros = time.cast(&DataType::Int64).unwrap();
    let micros = micros.i64().unwrap();
    let status = df.column("status").unwrap().i32().unwrap().clone();
    let oid = df.column("caller_oid").unwrap().str().unwrap().clone();
    for (i, e) in events.iter().enumerate() {
        let t = chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap()).unwrap();
        assert_eq!(micros.get(i), Some(t.timestamp_micros()), "row {i}");
        assert_eq!(
            status.get(i).map(i64::from),
            e["status"].as_i64(),
            "row {i}"
        );
        assert_eq!(oid.get(i), e["caller_oid"].as_str(), "row {i}");
    }
    // An existing file is not replaced without --force.
    let again = kvaudit(&["events", &input, "-o", &f]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

/// Parquet in: kvaudit's own Parquet reads back to the same callers as the
/// JSON Lines it came from; an AZKVAuditLogs export as a Parquet table
/// (here written by polars from the portal CSV, every column text; CI
/// also checks DuckDB's conversion with a typed TimeGenerated) reads to
/// the same callers as the CSV.
#[test]
fn parquet_inputs_read_to_the_same_callers() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("scenarios/s1-s9-three-weeks.jsonl");
    let pq = dir
        .path()
        .join("events.parquet")
        .to_string_lossy()
        .into_owned();
    assert_eq!(kvaudit(&["events", &input, "-o", &pq]).code, 0);
    let callers = |p: &str| {
        let out = kvaudit(&["callers", p, "--format", "json"]);
        assert_eq!(out.code, 0, "{p}: {}", out.stderr);
        out.stdout
    };
    assert_eq!(callers(&pq), callers(&input));
    let stats = kvaudit(&["callers", &pq, "--stats"]);
    assert!(stats.stderr.contains("Parquet"), "{}", stats.stderr);

    let (csv, mut df) = portal_frame();
    let table = dir.path().join("azkv.parquet");
    ParquetWriter::new(std::fs::File::create(&table).unwrap())
        .finish(&mut df)
        .unwrap();
    assert_eq!(callers(&table.to_string_lossy()), callers(&csv));

    // A truncated file: the error names it.
    let bytes = std::fs::read(&pq).unwrap();
    let cut = write(dir.path(), "cut.parquet", &bytes[..bytes.len() / 2]);
    let out = kvaudit(&["callers", &cut]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("cut.parquet"), "{}", out.stderr);
}

/// A Delta table directory: the files of the latest snapshot (adds minus
/// later removes; paths URI-escaped in the log), read to the same callers
/// as the CSV they came from; a removed file is not read; reader features
/// kvaudit does not apply are refused, named.
#[test]
fn a_delta_tables_latest_snapshot_reads_and_features_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("kv_audit");
    std::fs::create_dir_all(table.join("_delta_log")).unwrap();
    let (csv, df) = portal_frame();
    let half = df.height() / 2;
    let write = |name: &str, mut part: DataFrame| {
        ParquetWriter::new(std::fs::File::create(table.join(name)).unwrap())
            .finish(&mut part)
            .unwrap();
    };
    write("part-0.parquet", df.slice(0, half));
    write("part 1.parquet", df.slice(half as i64, df.height() - half));
    // Every row again: added, then removed; reading it would double counts.
    write("old.parquet", df.clone());
    let commit = |v: u32, lines: &[&str]| {
        std::fs::write(
            table.join(format!("_delta_log/{v:020}.json")),
            lines.join("\n") + "\n",
        )
        .unwrap();
    };
    commit(
        0,
        &[
            r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#,
            r#"{"metaData":{"id":"t","format":{"provider":"parquet","options":{}},"schemaString":"{}","partitionColumns":[],"configuration":{}}}"#,
            r#"{"add":{"path":"old.parquet","size":1,"modificationTime":0,"dataChange":true}}"#,
            r#"{"add":{"path":"part-0.parquet","size":1,"modificationTime":0,"dataChange":true}}"#,
        ],
    );
    commit(
        1,
        &[
            r#"{"remove":{"path":"old.parquet","deletionTimestamp":1,"dataChange":true}}"#,
            r#"{"add":{"path":"part%201.parquet","size":1,"modificationTime":1,"dataChange":true}}"#,
        ],
    );
    let t = table.to_string_lossy().into_owned();
    let out = kvaudit(&["callers", &t, "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = kvaudit(&["callers", &csv, "--format", "json"]);
    assert_eq!(out.stdout, expected.stdout);
    // Deletion vectors: refused, saying which feature.
    commit(
        2,
        &[
            r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}"#,
        ],
    );
    let out = kvaudit(&["callers", &t]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("Delta table") && out.stderr.contains("deletionVectors"),
        "{}",
        out.stderr
    );
}

/// Events as JSON values without where they were read from.
fn events_of(path: &str) -> Vec<Value> {
    let out = kvaudit(&["events", path]);
    assert_eq!(out.code, 0, "{path}: {}", out.stderr);
    out.stdout
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let m = v.as_object_mut().unwrap();
            m.remove("source");
            m.remove("source_record");
            v
        })
        .collect()
}

/// Lakehouse tables keep `identity` and `properties` (raw records as an
/// Event Hub capture lands them) or `Identity` (an AZKVAuditLogs table) as
/// structs or DuckDB's JSON type, times as timestamps, ids as UUIDs
/// (fixtures/lakehouse/make.py writes them with DuckDB from the text
/// fixtures): the same events as the text.
#[test]
fn nested_columns_read_to_the_same_events_as_their_text() {
    for (parquet, text, n) in [
        (
            "lakehouse/raw-nested.parquet",
            "shapes/raw-records.jsonl",
            13,
        ),
        (
            "lakehouse/azkvauditlogs-nested.parquet",
            "shapes/azkvauditlogs-azcli.json",
            13,
        ),
        // DuckDB's UUID and JSON types, both bytes in the file.
        (
            "lakehouse/raw-duckdb-types.parquet",
            "lakehouse/raw-duckdb-types.jsonl",
            13,
        ),
        // The same types as DuckDB gives them by default: UUIDs and JSON
        // fields inside the structs.
        (
            "lakehouse/raw-duckdb-default.parquet",
            "shapes/raw-records.jsonl",
            13,
        ),
    ] {
        let (a, b) = (events_of(&fixture(parquet)), events_of(&fixture(text)));
        assert_eq!(a.len(), n, "{parquet}");
        assert_eq!(a, b, "{parquet} against {text}");
        // Callers decoded from the struct claims, not left empty.
        assert!(a.iter().any(|e| e["caller_upn"].is_string()), "{parquet}");
    }
}

/// A JSON-typed cell (bytes) that is not UTF-8 is an error of its row,
/// not of its row group: with `--skip-invalid` the other rows are read.
#[test]
fn a_json_cell_that_is_not_text_is_an_error_of_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture("lakehouse/raw-duckdb-types.parquet");
    let df = ParquetReader::new(std::fs::File::open(&source).unwrap())
        .finish()
        .unwrap();
    // The UUID column would not stay a UUID through polars.
    let mut df = df.drop("correlationId").unwrap();
    let identity = df.column("identity").unwrap().binary().unwrap().clone();
    assert!(identity.len() > 3);
    let broken: Vec<Option<Vec<u8>>> = identity
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if i == 2 {
                Some(vec![b'{', 0xff, b'}'])
            } else {
                b.map(<[u8]>::to_vec)
            }
        })
        .collect();
    let broken = BinaryChunked::from_iter_options("identity".into(), broken.into_iter());
    df.with_column(broken.into_series().into_column()).unwrap();
    let path = dir.path().join("broken.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let p = path.to_string_lossy().into_owned();
    let out = kvaudit(&["events", &p]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("row group 0, row 3")
            && out
                .stderr
                .contains("identity: expected text (UTF-8), found 3 bytes"),
        "{}",
        out.stderr
    );
    let out = kvaudit(&["events", &p, "--skip-invalid"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let read = out.stdout.lines().map(serde_json::from_str::<Value>);
    assert_eq!(
        read.map(Result::unwrap).count(),
        events_of(&source).len() - 1
    );
    // A record of another category is skipped whatever it holds.
    let categories: Vec<String> = (0..df.height())
        .map(|i| {
            if i == 2 {
                "AzurePolicyEvaluationDetails".into()
            } else {
                "AuditEvent".into()
            }
        })
        .collect();
    df.with_column(Series::new("category".into(), categories).into_column())
        .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let out = kvaudit(&["events", &p]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), events_of(&source).len() - 1);
}

/// The same for a flat table (AZKVAuditLogs) whose `Identity` is
/// DuckDB's JSON type: the row is refused, not read as a caller without
/// claims, and with `--skip-invalid` the others give the callers of the
/// table without it.
#[test]
fn a_flat_tables_identity_that_is_not_text_is_an_error_of_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let (_, df) = portal_frame();
    let write = |df: &DataFrame, bad: Option<usize>, name: &str| {
        let identity = df.column("Identity").unwrap().str().unwrap().clone();
        let bytes: Vec<Option<Vec<u8>>> = identity
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if Some(i) == bad {
                    Some(vec![b'{', 0xff, b'}'])
                } else {
                    t.map(|t| t.as_bytes().to_vec())
                }
            })
            .collect();
        let bytes = BinaryChunked::from_iter_options("Identity".into(), bytes.into_iter());
        let mut df = df.clone();
        df.with_column(bytes.into_series().into_column()).unwrap();
        let path = dir.path().join(name);
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        path.to_string_lossy().into_owned()
    };
    let broken = write(&df, Some(1), "broken.parquet");
    for command in ["callers", "report"] {
        let out = kvaudit(&[command, &broken]);
        assert_eq!(out.code, 1, "{command}: {}", out.stderr);
        assert!(
            out.stderr.contains("row group 0, row 2")
                && out.stderr.contains("Identity: expected text (UTF-8)"),
            "{command}: {}",
            out.stderr
        );
    }
    let without = df.slice(0, 1).vstack(&df.slice(2, df.height())).unwrap();
    let without = write(&without, None, "without.parquet");
    let skipped = kvaudit(&["callers", &broken, "--skip-invalid", "--format", "json"]);
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    let expected = kvaudit(&["callers", &without, "--format", "json"]);
    let callers = |s: &str| without_inputs(serde_json::from_str(s).unwrap());
    assert_eq!(callers(&skipped.stdout), callers(&expected.stdout));
}

/// A JSON document without what names its input (file names, record
/// numbers, the time it was made): what must not change when the same
/// events are read from another file.
fn without_inputs(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "generated_at" | "inputs" | "source" | "source_record" | "sources"
                    )
                })
                .map(|(k, v)| (k, without_inputs(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_inputs).collect()),
        v => v,
    }
}

/// `command`'s JSON answer on `path`, without what names the input.
fn answer(command: &str, path: &str) -> Value {
    let out = kvaudit(&[command, path, "--format", "json"]);
    assert!(
        out.code == 0 || out.code == 3,
        "{command} {path}: {}",
        out.stderr
    );
    without_inputs(serde_json::from_str(&out.stdout).unwrap())
}

/// kvaudit's own Parquet is read by each command with only the columns it
/// needs (the object, vault and vault kind from their own columns rather
/// than the URIs): every command's answer is the one it gives on the
/// events the file was written from, Managed HSM and denials included.
#[test]
fn every_command_reads_its_own_parquet_as_the_source() {
    let dir = tempfile::tempdir().unwrap();
    for input in [
        "scenarios/s1-s9-three-weeks.jsonl",
        "scenarios/s11-denial-classes.jsonl",
        "messy/managed-hsm.json",
    ] {
        let input = fixture(input);
        let pq = dir.path().join("events.parquet");
        let _ = std::fs::remove_file(&pq);
        let pq = pq.to_string_lossy().into_owned();
        assert_eq!(kvaudit(&["events", &input, "-o", &pq]).code, 0);
        for command in ["callers", "access", "explain", "report", "events"] {
            let (a, b) = (answer(command, &input), answer(command, &pq));
            assert_ne!(a, Value::Array(vec![]), "{command} {input}");
            assert_eq!(a, b, "{command} on {input} and on its Parquet");
        }
    }
}

/// One row group of `synth` rows: more distinct rows than the blocks they
/// are gathered in (512), the last block short, and columns with one value
/// in the whole group (the vault kind) or none (the assignment id), left
/// out of the rows' keys. Every row has one client but the last 300,
/// copies of the first 300 with another: a column alike in most of the
/// group still tells those apart. Every command answers as it does on the
/// same events as JSON Lines, read row by row.
#[test]
fn a_large_row_group_reads_as_its_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let raw = synth(dir.path(), "raw-jsonl", 6000, 7);
    let (events, lines, pq) = (
        path("events.jsonl"),
        path("lines.jsonl"),
        path("events.parquet"),
    );
    let out = kvaudit(&["events", &raw, "--format", "jsonl", "-o", &events]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut rows: Vec<serde_json::Map<String, Value>> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for r in &mut rows {
        r.insert("client_info".into(), "kvaudit-test/1.0".into());
    }
    let copies: Vec<_> = rows[..300].to_vec();
    for mut r in copies {
        r.insert("client_info".into(), "kvaudit-test/2.0".into());
        rows.push(r);
    }
    let text: String = rows
        .iter()
        .map(|r| format!("{}\n", Value::Object(r.clone())))
        .collect();
    std::fs::write(&lines, &text).unwrap();
    let out = kvaudit(&["events", &lines, "-o", &pq]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The premises: distinct rows past a block and a half, one vault
    // kind, no assignment id.
    let mut distinct = std::collections::HashSet::new();
    let (mut kinds, mut assignments) = (std::collections::HashSet::new(), 0);
    for r in &rows {
        let mut v = r.clone();
        for varying in ["time", "correlation_id", "source_record", "duration_ms"] {
            v.remove(varying);
        }
        kinds.insert(v["vault_kind"].clone());
        assignments += usize::from(!v["applied_assignment_id"].is_null());
        distinct.insert(Value::Object(v).to_string());
    }
    assert!(distinct.len() > 768, "{} distinct rows", distinct.len());
    assert_eq!((kinds.len(), assignments), (1, 0));
    for command in ["callers", "report", "explain", "access"] {
        let (a, b) = (answer(command, &lines), answer(command, &pq));
        assert_ne!(a, Value::Array(vec![]), "{command}");
        assert_eq!(
            a, b,
            "{command} on 6,300 synth rows as JSON Lines and as Parquet"
        );
    }
}

/// kvaudit's own events written 100 times over as one Parquet file: the
/// callers fold each distinct row once for all its copies (every count a
/// hundredfold, every set and time as once); a row without a time among
/// them is named as when rows are read one by one, and skipped and counted
/// with `--skip-invalid`.
#[test]
fn alike_rows_fold_at_once_and_a_bad_one_is_still_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("scenarios/s1-s9-three-weeks.jsonl");
    let pq = dir
        .path()
        .join("events.parquet")
        .to_string_lossy()
        .into_owned();
    assert_eq!(kvaudit(&["events", &input, "-o", &pq]).code, 0);
    let once = ParquetReader::new(std::fs::File::open(&pq).unwrap())
        .finish()
        .unwrap();
    let mut many = once.clone();
    for _ in 1..100 {
        many.vstack_mut(&once).unwrap();
    }
    let save = |name: &str, df: &mut DataFrame| {
        let p = dir.path().join(name);
        ParquetWriter::new(std::fs::File::create(&p).unwrap())
            .finish(df)
            .unwrap();
        p.to_string_lossy().into_owned()
    };
    let callers = |p: &str, extra: &[&str]| {
        let out = kvaudit(&[&["callers", p, "--format", "json"], extra].concat());
        (
            out.code,
            out.stderr,
            serde_json::from_str::<Value>(&out.stdout).ok(),
        )
    };
    let (_, _, Some(Value::Array(one))) = callers(&pq, &[]) else {
        panic!("callers of {pq}")
    };
    let big = save("many.parquet", &mut many);
    let (code, err, Some(Value::Array(hundred))) = callers(&big, &[]) else {
        panic!("callers of {big}")
    };
    assert_eq!(code, 0, "{err}");
    assert_eq!(hundred.len(), one.len());
    for (a, b) in one.iter().zip(&hundred) {
        let mut want = a.clone();
        for n in ["events", "denied"] {
            want[n] = Value::from(a[n].as_u64().unwrap() * 100);
        }
        assert_eq!(&want, b);
    }

    // Row 5,001 without a time.
    let dtype = once.column("time").unwrap().dtype().clone();
    let mut hole = many.slice(5000, 1);
    hole.with_column(Column::full_null("time".into(), 1, &dtype))
        .unwrap();
    let mut holed = many.slice(0, 5000);
    holed.vstack_mut(&hole).unwrap();
    holed
        .vstack_mut(&many.slice(5001, many.height() - 5001))
        .unwrap();
    let bad = save("holed.parquet", &mut holed);
    let (code, err, _) = callers(&bad, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("holed.parquet") && err.contains("row 5001"),
        "{err}"
    );
    assert!(err.contains("expected a time"), "{err}");
    let (code, err, Some(Value::Array(skipped))) = callers(&bad, &["--skip-invalid"]) else {
        panic!("callers --skip-invalid of {bad}")
    };
    assert_eq!(code, 0, "{err}");
    let events: u64 = skipped.iter().map(|c| c["events"].as_u64().unwrap()).sum();
    assert_eq!(events, 100 * 117 - 1);
    assert!(
        err.contains("1 invalid") || err.contains("skipped 1"),
        "{err}"
    );
}

/// Tables that only look like kvaudit's own or whose typed columns have
/// stand-ins (found by a review of the columnar reader): a typed duration
/// absent where a text one is junk, a vault and object only in the URIs
/// of a file kvaudit did not write, and a timestamp where an id is
/// expected are all read as they would be as text.
#[test]
fn typed_columns_are_read_as_their_text_would_be() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100;
    let micros: Vec<i64> = (0..n)
        .map(|i| 1_740_823_200_000_000 + i * 1_000_000)
        .collect();
    let time = Column::new("TimeGenerated".into(), micros)
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))
        .unwrap();
    let text = |name: &str, v: Option<&str>| Column::new(name.into(), vec![v; n as usize]);
    let save = |name: &str, mut df: DataFrame| {
        let p = dir.path().join(name);
        ParquetWriter::new(std::fs::File::create(&p).unwrap())
            .finish(&mut df)
            .unwrap();
        p.to_string_lossy().into_owned()
    };
    let base = || {
        vec![
            time.clone(),
            text("OperationName", Some("SecretGet")),
            text("caller_appid", Some("app1")),
        ]
    };

    // DurationMs typed but given on the first row only; duration_ms junk.
    let mut cols = base();
    cols.push(text("Resource", Some("kv1")));
    let mut dur: Vec<Option<i64>> = vec![None; n as usize];
    dur[0] = Some(5);
    cols.push(Column::new("DurationMs".into(), dur));
    cols.push(text("duration_ms", Some("junk")));
    let p = save("dur.parquet", DataFrame::new_infer_height(cols).unwrap());
    let out = kvaudit(&["callers", &p, "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("row group 0, row 2"), "{}", out.stderr);

    // Canonical names, not written by kvaudit: the vault and the secret
    // are in the resource id and the request URI only.
    let mut cols = base();
    cols.extend([
        text("vault", None),
        text("vault_kind", None),
        text("object_type", Some("secret")),
        text("object_name", None),
        text(
            "resource_id",
            Some("/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv1"),
        ),
        text(
            "request_uri",
            Some("https://kv1.vault.azure.net/secrets/db-pass?api-version=7.4"),
        ),
    ]);
    let p = save("own.parquet", DataFrame::new_infer_height(cols).unwrap());
    for (command, object) in [("callers", "\"secrets\": 1"), ("access", "db-pass")] {
        let out = kvaudit(&[command, &p, "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains("kv1") && out.stdout.contains(object),
            "{command}: {}",
            out.stdout
        );
    }

    // A timestamp where the appid is expected: its text.
    let mut cols = vec![time.clone(), text("OperationName", Some("SecretGet"))];
    cols.push(text("Resource", Some("kv1")));
    cols.push(time.clone().with_name("caller_appid".into()));
    let p = save("ts.parquet", DataFrame::new_infer_height(cols).unwrap());
    let out = kvaudit(&["callers", &p, "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\"appid\": \"2025-03-01T10:00:00"),
        "{}",
        out.stdout
    );
}

/// `events` is the canonical pipe: its JSON Lines, JSON and CSV read back
/// to the same callers as the logs they were written from.
#[test]
fn canonical_events_in_every_format_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("scenarios/s1-s9-three-weeks.jsonl");
    let callers = |p: &str| {
        let out = kvaudit(&["callers", p, "--format", "json"]);
        assert_eq!(out.code, 0, "{p}: {}", out.stderr);
        out.stdout
    };
    let want = callers(&input);
    for ext in ["jsonl", "json", "csv"] {
        let p = dir.path().join(format!("events.{ext}"));
        let p = p.to_string_lossy().into_owned();
        assert_eq!(kvaudit(&["events", &input, "-o", &p]).code, 0);
        assert_eq!(callers(&p), want, "{ext}");
    }
    let piped = kvaudit_stdin(
        &["callers", "-", "--format", "json"],
        Some(kvaudit(&["events", &input]).stdout.as_bytes()),
    );
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert_eq!(piped.stdout, want);
}

/// Alike rows of a Parquet row group are normalised once and folded one
/// by one with their own times by the commands whose folds need every
/// event (`report`, `explain`, `access`): each answer is the one given on
/// the same events as JSON Lines, read row by row. The copies are an hour
/// apart, so rows alike but for the time span days and hours; a second
/// timestamp column gives the time.
#[test]
fn alike_rows_replayed_give_every_command_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    for input in [
        "scenarios/s1-s9-three-weeks.jsonl",
        "scenarios/s11-denial-classes.jsonl",
    ] {
        let pq = path("events.parquet");
        let _ = std::fs::remove_file(&pq);
        assert_eq!(kvaudit(&["events", &fixture(input), "-o", &pq]).code, 0);
        let mut once = ParquetReader::new(std::fs::File::open(&pq).unwrap())
            .finish()
            .unwrap();
        // Without a zone (read as UTC), as shifting it gives.
        let dtype = DataType::Datetime(TimeUnit::Microseconds, None);
        let naive = once.column("time").unwrap().cast(&dtype).unwrap();
        once.with_column(naive).unwrap();
        let mut many = once.clone();
        for copy in 1..60i64 {
            let mut shifted = once.clone();
            let micros = once.column("time").unwrap().cast(&DataType::Int64).unwrap();
            let later = (micros.as_materialized_series() + copy * 3_600_000_000)
                .cast(&dtype)
                .unwrap();
            shifted
                .with_column(later.with_name("time".into()).into())
                .unwrap();
            many.vstack_mut(&shifted).unwrap();
        }
        // A TimeGenerated five minutes later, after `time` in the file: it
        // gives the time (as an export's TimeGenerated does), whatever the
        // order of the columns.
        let micros = many.column("time").unwrap().cast(&DataType::Int64).unwrap();
        let generated = (micros.as_materialized_series() + 300_000_000i64)
            .cast(&dtype)
            .unwrap();
        many.with_column(generated.with_name("TimeGenerated".into()).into())
            .unwrap();
        let big = path("many.parquet");
        let _ = std::fs::remove_file(&big);
        // Row groups of 500 rows: many pieces, each alike row's copies
        // spread over several.
        ParquetWriter::new(std::fs::File::create(&big).unwrap())
            .with_row_group_size(Some(500))
            .finish(&mut many)
            .unwrap();
        let lines = path("many.jsonl");
        let _ = std::fs::remove_file(&lines);
        let out = kvaudit(&["events", &big, "--format", "jsonl", "-o", &lines]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        for command in ["report", "explain", "access", "callers"] {
            let (a, b) = (answer(command, &lines), answer(command, &big));
            assert_ne!(a, Value::Array(vec![]), "{command} {input}");
            assert_eq!(
                a, b,
                "{command} on {input} 60 times, as JSON Lines and as Parquet"
            );
        }
        // A period that cuts through the copies (rows alike but for the
        // time, some inside it and some outside, held together), a
        // selection of what alike rows share, and both.
        let period = [
            "--from",
            "2025-03-13T05:30:00Z",
            "--to",
            "2025-03-20T00:00:00Z",
        ];
        let operation = ["--operation", "SecretGet"];
        for command in ["report", "callers"] {
            for selection in [
                &period[..],
                &operation[..],
                &[&period[..], &operation[..]].concat(),
            ] {
                let selected = |path: &str| {
                    let out =
                        kvaudit(&[&[command, path, "--format", "json"][..], selection].concat());
                    assert!(out.code == 0 || out.code == 3, "{}", out.stderr);
                    without_inputs(serde_json::from_str(&out.stdout).unwrap())
                };
                let (a, b) = (selected(&lines), selected(&big));
                assert_ne!(
                    a,
                    answer(command, &lines),
                    "{command} {selection:?}: some left out"
                );
                if command == "report" {
                    assert!(a["summary"]["rows_outside_period"].as_u64() > Some(0));
                    assert!(a["summary"]["events"].as_u64() > Some(0));
                }
                assert_eq!(a, b, "{command} {selection:?} on {input}");
            }
        }
        // Successes held for none, a few or many at a time; and after
        // another input, the orders starting past its own.
        let want = answer("report", &lines);
        for held in ["0", "7", "100000"] {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_kvaudit"))
                .args(["report", &big, "--format", "json"])
                .env("KVAUDIT_PENDING", held)
                .output()
                .unwrap();
            assert!(matches!(o.status.code(), Some(0 | 3)));
            let got = without_inputs(serde_json::from_slice(&o.stdout).unwrap());
            assert_eq!(got, want, "KVAUDIT_PENDING={held} on {input}");
        }
        let before = fixture("scenarios/s11-denial-classes.jsonl");
        let after = |path: &str| {
            let out = kvaudit(&["report", &before, path, "--format", "json"]);
            assert!(out.code == 0 || out.code == 3, "{}", out.stderr);
            without_inputs(serde_json::from_str(&out.stdout).unwrap())
        };
        assert_eq!(after(&big), after(&lines), "after another input: {input}");
    }
}

/// A damaged footer on which the Parquet decoder panics is an error of
/// the file, named, without the panic's report; with `--skip-invalid` in a
/// folder it is skipped like any other unreadable file.
#[test]
fn a_damaged_footer_is_an_error_of_its_file_not_a_panic() {
    let damaged = fixture("lakehouse/damaged-footer.parquet");
    let out = kvaudit(&["callers", &damaged]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("damaged-footer.parquet: footer: expected a Parquet file"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&damaged, dir.path().join("damaged.parquet")).unwrap();
    std::fs::copy(
        fixture("shapes/azkvauditlogs-portal.csv"),
        dir.path().join("good.csv"),
    )
    .unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    let out = kvaudit(&["callers", &d, "--skip-invalid", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("skipping") && out.stderr.contains("damaged.parquet"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let callers: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(!callers.as_array().unwrap().is_empty());
    // One byte of the footer changed so that it gives the row group 14
    // rows, one more than its columns hold: polars would decode columns
    // of 13, which reading by row overran (a panic of kvaudit's). The
    // page check finds it first, from the footer's own counts.
    let mut b = std::fs::read(fixture("lakehouse/azkvauditlogs-nested.parquet")).unwrap();
    assert_eq!(
        b[11749], 0x1a,
        "the fixture changed: find the row count again"
    );
    b[11749] = 0x1c;
    let rows = dir.path().join("rows.parquet");
    std::fs::write(&rows, b).unwrap();
    let out = kvaudit(&["events", &rows.to_string_lossy()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "rows.parquet: row group 0: column TimeGenerated: the footer gives 13 values for a row group of 14 rows"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // One byte of a page header changed to give it -14 values: polars
    // would ask for exabytes, and a failed allocation aborts the process
    // whatever handles errors. The headers are checked first; in a walked
    // folder, with --skip-invalid, the file is skipped.
    let mut b = std::fs::read(fixture("lakehouse/raw-nested.parquet")).unwrap();
    assert_eq!(
        b[14], 0x1a,
        "the fixture changed: find the page's count again"
    );
    b[14] = 0x1b;
    let folder = dir.path().join("walked");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a.parquet"), b).unwrap();
    std::fs::copy(fixture("shapes/raw-records.jsonl"), folder.join("b.jsonl")).unwrap();
    let a = folder.join("a.parquet").to_string_lossy().into_owned();
    let out = kvaudit(&["events", &a]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "row group 0: column time: the page at byte 4 gives a negative count or size"
        ),
        "{}",
        out.stderr
    );
    let walked = folder.to_string_lossy().into_owned();
    let out = kvaudit(&["events", &walked, "--skip-invalid"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().count(),
        events_of(&fixture("shapes/raw-records.jsonl")).len()
    );
}

/// A Delta table's log is checked before its files are read: a missing
/// commit, a partition column kvaudit reads (its values are in the log,
/// not the files), a data file that leads out of the table through a
/// link. A table in a walked folder is read as a table; `./a` and `a` are
/// one file; features that leave the files plain Parquet are read.
#[test]
fn a_delta_log_is_checked_and_a_walked_table_is_read_as_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("lake");
    let table = parent.join("kv_audit");
    std::fs::create_dir_all(table.join("_delta_log")).unwrap();
    let (csv, mut df) = portal_frame();
    for name in ["part-0.parquet", "old.parquet"] {
        ParquetWriter::new(std::fs::File::create(table.join(name)).unwrap())
            .finish(&mut df)
            .unwrap();
    }
    let commit = |v: u32, lines: &[&str]| {
        std::fs::write(
            table.join(format!("_delta_log/{v:020}.json")),
            lines.join("\n") + "\n",
        )
        .unwrap();
    };
    let meta = |partitions: &str| {
        format!(
            r#"{{"metaData":{{"id":"t","format":{{"provider":"parquet","options":{{}}}},"schemaString":"{{}}","partitionColumns":{partitions},"configuration":{{}}}}}}"#
        )
    };
    let protocol = r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["vacuumProtocolCheck","timestampNtz"],"writerFeatures":[]}}"#;
    let plain = meta(r#"["date"]"#);
    commit(
        0,
        &[
            protocol,
            &plain,
            r#"{"add":{"path":"./old.parquet","partitionValues":{"date":"2025-03-01"},"size":1,"modificationTime":0,"dataChange":true}}"#,
            r#"{"add":{"path":"part-0.parquet","partitionValues":{"date":"2025-03-01"},"size":1,"modificationTime":0,"dataChange":true}}"#,
        ],
    );
    commit(
        1,
        &[r#"{"remove":{"path":"old.parquet","deletionTimestamp":1,"dataChange":true}}"#],
    );
    let expected = kvaudit(&["callers", &csv, "--format", "json"]);
    let t = table.to_string_lossy().into_owned();
    let out = kvaudit(&["callers", &t, "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected.stdout);
    // In a walked folder: the table's snapshot, not its
    // files one by one (old.parquet would double every count). A file
    // named `_delta_log` makes no table of its folder.
    std::fs::create_dir_all(parent.join("notes")).unwrap();
    std::fs::write(parent.join("notes/_delta_log"), "not a log\n").unwrap();
    // A link beside the table to its removed file (the walk then follows
    // links): read through the table, that is not at all.
    std::os::unix::fs::symlink(table.join("old.parquet"), parent.join("old-link.parquet")).unwrap();
    let p = parent.to_string_lossy().into_owned();
    let out = kvaudit(&["callers", &p, "--format", "json", "--skip-invalid"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected.stdout);
    assert!(out.stderr.contains("skipping"), "{}", out.stderr);
    // A commit missing between two others.
    commit(2, &[r#"{"commitInfo":{}}"#]);
    std::fs::rename(
        table.join(format!("_delta_log/{:020}.json", 1)),
        dir.path().join("one.json"),
    )
    .unwrap();
    let out = kvaudit(&["callers", &t]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("commit 1 is missing"), "{}", out.stderr);
    std::fs::rename(
        dir.path().join("one.json"),
        table.join(format!("_delta_log/{:020}.json", 1)),
    )
    .unwrap();
    // Partitioned by a column kvaudit reads.
    commit(3, &[&meta(r#"["date","OperationName"]"#)]);
    let out = kvaudit(&["callers", &t]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("partitioned by OperationName") && !out.stderr.contains("date,"),
        "{}",
        out.stderr
    );
    commit(3, &[&plain]);
    // A data file that is a link to a file outside the table.
    let outside = dir.path().join("outside.parquet");
    std::fs::copy(table.join("part-0.parquet"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, table.join("link.parquet")).unwrap();
    commit(
        4,
        &[
            r#"{"add":{"path":"link.parquet","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}"#,
        ],
    );
    let out = kvaudit(&["callers", &t]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("link.parquet leads outside the table"),
        "{}",
        out.stderr
    );
}

/// A Parquet cell is bounded as a text field is (1 MiB): a 2 MiB caller
/// name is an error of its row, not a table padded to its width.
#[test]
fn a_parquet_cell_larger_than_a_field_is_an_error_of_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut df) = portal_frame();
    let huge = "o".repeat(2 << 20);
    let ops: Vec<String> = (0..df.height())
        .map(|i| {
            if i == 1 {
                huge.clone()
            } else {
                "SecretGet".into()
            }
        })
        .collect();
    df.with_column(Series::new("OperationName".into(), ops).into_column())
        .unwrap();
    let path = dir.path().join("huge.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let out = kvaudit(&["callers", &path.to_string_lossy()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("row 2")
            && out
                .stderr
                .contains("OperationName: a value of 2097152 bytes; expected at most 1048576"),
        "{}",
        out.stderr
    );
    // A Databricks audit table read for `attribute` is bounded too, in
    // the getSecret rows it reads (row 2); another action's row (row 12,
    // a `create`) is not read, whatever it holds.
    let audit = fixture("databricks/audit.parquet");
    let long_in = |long: usize| {
        let mut df = ParquetReader::new(std::fs::File::open(&audit).unwrap())
            .finish()
            .unwrap();
        let ids = df
            .column("workspace_id")
            .unwrap()
            .cast(&DataType::String)
            .unwrap();
        let ids: Vec<Option<String>> = ids
            .str()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i == long {
                    Some(huge.clone())
                } else {
                    v.map(str::to_string)
                }
            })
            .collect();
        let ids = StringChunked::from_iter_options("workspace_id".into(), ids.into_iter());
        df.with_column(ids.into_series().into_column()).unwrap();
        let path = dir.path().join(format!("audit-{long}.parquet"));
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        path.to_string_lossy().into_owned()
    };
    let vault = fixture("databricks/vault.jsonl");
    let attribute = |d: &str, extra: &[&str]| {
        kvaudit(
            &[
                &["attribute", &vault, "--databricks", d, "--format", "json"],
                extra,
            ]
            .concat(),
        )
    };
    let expected = attribute(&audit, &[]);
    assert_eq!(expected.code, 0, "{}", expected.stderr);
    let read = |stdout: &str| without_inputs(serde_json::from_str(stdout).unwrap());
    let get = long_in(1);
    let out = attribute(&get, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("row group 0, row 2")
            && out
                .stderr
                .contains("workspace_id: a value of 2097152 bytes; expected at most 1048576"),
        "{}",
        out.stderr
    );
    let out = attribute(&get, &["--skip-invalid"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_ne!(read(&out.stdout), read(&expected.stdout));
    assert!(out.stderr.contains("row group 0, row 2"), "{}", out.stderr);
    let out = attribute(&long_in(11), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(read(&out.stdout), read(&expected.stdout));
}

/// A Delta table whose log is empty, in a walked folder, is a table (and
/// refused), not loose files; a data file reached through a link inside
/// the table is read; a commit line past its bound is refused by line.
#[test]
fn an_empty_delta_log_is_a_table_and_a_commit_line_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("lake/kv_audit");
    std::fs::create_dir_all(table.join("_delta_log")).unwrap();
    std::fs::create_dir_all(table.join("data")).unwrap();
    let (csv, mut df) = portal_frame();
    ParquetWriter::new(std::fs::File::create(table.join("data/part-0.parquet")).unwrap())
        .finish(&mut df)
        .unwrap();
    let lake = dir.path().join("lake").to_string_lossy().into_owned();
    let empty = |why: &str| {
        let out = kvaudit(&["callers", &lake]);
        assert_eq!(out.code, 1, "{why}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("kv_audit: Delta table: its _delta_log holds no JSON commit"),
            "{why}: {}",
            out.stderr
        );
    };
    empty("a plain tree, listed on every core");
    // A link in the tree: walked the careful way.
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join("lake/link")).unwrap();
    empty("a tree with a link");
    // A link inside the table to a file inside it, read at the file it
    // leads to; an empty log folder inside the table is not a table.
    std::os::unix::fs::symlink("data/part-0.parquet", table.join("linked.parquet")).unwrap();
    std::fs::create_dir(table.join("data/_delta_log")).unwrap();
    let log = table.join(format!("_delta_log/{:020}.json", 0));
    std::fs::write(
        &log,
        r#"{"add":{"path":"linked.parquet","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}"#,
    )
    .unwrap();
    let expected = kvaudit(&["callers", &csv, "--format", "json"]);
    let out = kvaudit(&["callers", &lake, "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected.stdout);
    assert!(
        out.stderr.contains("holds a Delta log inside the table"),
        "{}",
        out.stderr
    );
    let out = kvaudit(&["events", &lake]);
    let first: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert!(
        first["source"]
            .as_str()
            .unwrap()
            .ends_with("kv_audit/data/part-0.parquet"),
        "{first}"
    );
    // A folder inside the table, given: read, with a warning.
    std::fs::remove_dir(table.join("data/_delta_log")).unwrap();
    let data = table.join("data").to_string_lossy().into_owned();
    let out = kvaudit(&["callers", &data]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("is inside the Delta table") && out.stderr.contains("removed ones too"),
        "{}",
        out.stderr
    );
    let part = table
        .join("data/part-0.parquet")
        .to_string_lossy()
        .into_owned();
    let out = kvaudit(&["callers", &part]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("is inside the Delta table"),
        "{}",
        out.stderr
    );
    // The commit as a whole is bounded (here at 1 MiB), and must be a
    // regular file.
    let add = std::fs::read_to_string(&log).unwrap();
    let mut big = add.clone() + "\n";
    while big.len() < 2 << 20 {
        big.push_str("{\"commitInfo\":{}}\n");
    }
    std::fs::write(&log, big).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kvaudit"))
        .args(["callers", &lake])
        .env("KVAUDIT_MAX_DOCUMENT_MIB", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("larger than 1 MiB, the limit for one"),
        "{stderr}"
    );
    std::fs::write(&log, &add).unwrap();
    let dir_commit = table.join(format!("_delta_log/{:020}.json", 1));
    std::fs::create_dir(&dir_commit).unwrap();
    let out = kvaudit(&["callers", &lake]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("it is not a regular file"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir(&dir_commit).unwrap();
    // A data file that is not a regular file (a folder here; a FIFO
    // would block the read).
    std::fs::create_dir(table.join("folder.parquet")).unwrap();
    std::fs::write(
        table.join(format!("_delta_log/{:020}.json", 1)),
        r#"{"add":{"path":"folder.parquet","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}"#,
    )
    .unwrap();
    let out = kvaudit(&["callers", &lake]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the data file folder.parquet, added by commit 1, is not a regular file"),
        "{}",
        out.stderr
    );
    // A remove may name its file by an absolute path or file URI inside
    // the table; one outside it is refused (it may name a file read).
    let real = table.canonicalize().unwrap();
    for (remove, removed) in [
        (format!("file://{}/folder.parquet", real.display()), true),
        (format!("{}/folder.parquet", real.display()), true),
        ("/elsewhere/folder.parquet".to_string(), false),
    ] {
        std::fs::write(
            table.join(format!("_delta_log/{:020}.json", 2)),
            format!(
                r#"{{"remove":{{"path":"{remove}","deletionTimestamp":1,"dataChange":true}}}}"#
            ),
        )
        .unwrap();
        let out = kvaudit(&["callers", &lake, "--format", "json"]);
        if removed {
            assert_eq!(out.code, 0, "{remove}: {}", out.stderr);
            assert_eq!(out.stdout, expected.stdout, "{remove}");
        } else {
            assert_eq!(out.code, 1, "{remove}: {}", out.stderr);
            assert!(
                out.stderr.contains("a path outside the table directory"),
                "{}",
                out.stderr
            );
        }
    }
    // The table given through a link, its remove naming the file by the
    // path given.
    let via = dir.path().join("via-link");
    std::os::unix::fs::symlink(&table, &via).unwrap();
    std::fs::write(
        table.join(format!("_delta_log/{:020}.json", 2)),
        format!(
            r#"{{"remove":{{"path":"{}/folder.parquet","deletionTimestamp":1,"dataChange":true}}}}"#,
            via.display()
        ),
    )
    .unwrap();
    let out = kvaudit(&["callers", &via.to_string_lossy(), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected.stdout);
    // A commit that leads out of the table through a link.
    let outside = dir.path().join("outside.json");
    std::fs::write(&outside, r#"{"commitInfo":{}}"#).unwrap();
    let linked = table.join(format!("_delta_log/{:020}.json", 1));
    std::fs::rename(&linked, dir.path().join("one.json")).unwrap();
    std::os::unix::fs::symlink(&outside, &linked).unwrap();
    let out = kvaudit(&["callers", &lake]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("commit 1 leads outside the table directory"),
        "{}",
        out.stderr
    );
    std::fs::remove_file(&linked).unwrap();
    std::fs::rename(dir.path().join("one.json"), &linked).unwrap();
    // A commit name past the last version a log can have.
    let past = table.join("_delta_log/99999999999999999999.json");
    std::fs::write(&past, "").unwrap();
    let out = kvaudit(&["callers", &lake]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("past the last version"),
        "{}",
        out.stderr
    );
    std::fs::remove_file(&past).unwrap();
    for v in [1, 2] {
        std::fs::remove_file(table.join(format!("_delta_log/{v:020}.json"))).unwrap();
    }
    // A table whose snapshot is empty (just made, or emptied), in a
    // walked folder: no rows, a warning, and the other files read.
    let empty = dir.path().join("lake/empty_table/_delta_log");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(
        empty.join(format!("{:020}.json", 0)),
        r#"{"commitInfo":{}}"#,
    )
    .unwrap();
    let out = kvaudit(&["callers", &lake, "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected.stdout);
    assert!(
        out.stderr
            .contains("empty_table: the Delta table's latest snapshot holds no file"),
        "{}",
        out.stderr
    );
    // A second line of 17 MiB.
    let mut long = std::fs::read(&log).unwrap();
    long.extend_from_slice(b"\n{\"commitInfo\":\"");
    long.resize(long.len() + (17 << 20), b'x');
    long.extend_from_slice(b"\"}\n");
    std::fs::write(&log, long).unwrap();
    let out = kvaudit(&["callers", &lake]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("line 2: a Delta action longer than 16 MiB"),
        "{}",
        out.stderr
    );
}

/// The AZKVAuditLogs portal export fixture's path, and its rows as text
/// columns.
fn portal_frame() -> (String, DataFrame) {
    let csv = fixture("shapes/azkvauditlogs-portal.csv");
    let df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv.clone().into()))
        .unwrap()
        .finish()
        .unwrap();
    (csv, df)
}
