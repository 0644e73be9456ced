//! Reader for Log Analytics portal CSV exports of AzureDiagnostics and
//! AZKVAuditLogs. polars parses the file (multi-threaded, only the columns
//! kvaudit uses); when polars rejects the file's structure, a streaming
//! `csv` pass finds the exact line and, with `--skip-invalid`, reads the rest.

use super::json::require_columns;
use super::schema::{Field, FlatSchema};
use super::{Collector, Shape, Source, SHAPES_TRIED};
use crate::error::{Error, Location, Result};
use polars::prelude::*;

pub(super) fn read(src: &Source, head: &[u8], c: &mut Collector) -> Result<Shape> {
    if let Some(sep) = other_delimiter(head) {
        return Err(Error::Malformed {
            at: Location {
                source: c.source().to_string(),
                position: "line 1 (the header)".into(),
            },
            message: format!(
                "expected comma-separated values, found columns separated by {sep} (re-export from Log Analytics as CSV, or convert the delimiter to a comma)"
            ),
        });
    }
    let names = header(head).ok_or_else(|| Error::Unrecognised {
        path: c.source().to_string(),
        tried: SHAPES_TRIED.to_string(),
    })?;
    if let Some(msg) = duplicate_column(&names) {
        return Err(Error::Malformed {
            at: Location {
                source: c.source().to_string(),
                position: "line 1 (the header)".into(),
            },
            message: msg,
        });
    }
    let schema = FlatSchema::resolve(names.iter().map(String::as_str));
    require_columns(&schema, c.source())?;
    let shape = if schema.has(Field::IdentityJson)
        || names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("HttpStatusCode"))
    {
        Shape::AzkvAuditLogsCsv
    } else {
        Shape::AzureDiagnosticsCsv
    };
    if std::env::var_os("KVAUDIT_CSV_ENGINE").is_some_and(|v| v == "polars") {
        match read_polars(src, &schema) {
            Ok(df) => rows_from_frame(&df, &schema, src, c)?,
            Err(_) => read_streaming(src, &schema, &names, c)?,
        }
    } else {
        read_streaming(src, &schema, &names, c)?;
    }
    Ok(shape)
}

/// A column name given twice makes every value of it ambiguous.
fn duplicate_column(names: &[String]) -> Option<String> {
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for (i, n) in names.iter().enumerate() {
        if let Some(first) = seen.insert(n.to_ascii_lowercase(), i) {
            return Some(format!(
                "duplicate column {n} (columns {} and {}); expected each column name once",
                first + 1,
                i + 1
            ));
        }
    }
    None
}

/// The 1-based line of the record starting at `byte` of the (BOM-stripped)
/// content (on CRLF files the `csv` crate puts that start on the previous
/// line's `\n`, so the byte itself is counted).
/// Computed only when an error is shown: the `csv` crate's own line count
/// is off by one on CRLF files.
fn line_of(src: &Source, byte: u64) -> Option<u64> {
    if !src.rereadable() {
        return None;
    }
    let Ok(r) = src.reader() else { return None };
    let mut newlines = 0u64;
    let mut buf = [0u8; 1 << 16];
    let mut left = byte + 1;
    let mut r = std::io::Read::take(r, byte + 1);
    while left > 0 {
        match std::io::Read::read(&mut r, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                newlines += buf[..k].iter().filter(|b| **b == b'\n').count() as u64;
                left -= k as u64;
            }
        }
    }
    Some(newlines + 1)
}

/// A Key Vault export header saved with another delimiter (Excel in a
/// locale with a decimal comma writes `;`), named for the message.
fn other_delimiter(head: &[u8]) -> Option<&'static str> {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]).to_ascii_lowercase();
    if !line.contains("operationname") || line.contains(',') {
        return None;
    }
    [(';', "semicolons"), ('\t', "tabs"), ('|', "pipes")]
        .into_iter()
        .find(|(c, _)| line.contains(*c))
        .map(|(_, name)| name)
}

/// The header row, if this looks like a Key Vault export CSV.
fn header(head: &[u8]) -> Option<Vec<String>> {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    if !line.contains(',') || !line.to_ascii_lowercase().contains("operationname") {
        return None;
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.trim_end_matches('\r').as_bytes());
    let rec = r.records().next()?.ok()?;
    Some(rec.iter().map(|s| s.trim().to_string()).collect())
}

fn read_polars(src: &Source, schema: &FlatSchema) -> PolarsResult<DataFrame> {
    let projection = Arc::new(schema.columns());
    let opts = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_projection(Some(projection))
        .with_raise_if_empty(false);
    match src {
        Source::File(p) => {
            let f = std::fs::File::open(p)?;
            opts.into_reader_with_file_handle(f).finish()
        }
        Source::Bytes(b) => opts
            .into_reader_with_file_handle(std::io::Cursor::new(super::strip_bom(b)))
            .finish(),
        // A pipe is read once, by the streaming reader.
        Source::Stream { .. } => Err(PolarsError::ComputeError(
            "a pipe is read by the streaming reader".into(),
        )),
    }
}

fn rows_from_frame(
    df: &DataFrame,
    schema: &FlatSchema,
    src: &Source,
    c: &mut Collector,
) -> Result<()> {
    let projection = schema.columns();
    let cols = df.columns();
    if cols.len() != projection.len() {
        return Err(Error::Other(format!(
            "{}: expected {} columns from the CSV reader, got {}",
            c.source(),
            projection.len(),
            cols.len()
        )));
    }
    let mut strs = Vec::with_capacity(cols.len());
    for col in cols {
        let s = col
            .as_materialized_series()
            .str()
            .map_err(|e| Error::Other(format!("{}: {e}", c.source())))?
            .rechunk();
        strs.push(s.into_owned());
    }
    // Column index in the file → position in `strs`.
    let width = projection.last().map_or(0, |m| m + 1);
    let mut pos = vec![usize::MAX; width];
    for (k, i) in projection.iter().enumerate() {
        pos[*i] = k;
    }
    for r in 0..df.height() {
        let raw = schema.row(|i| strs[pos[i]].get(r));
        let n = r as u64 + 1;
        c.push(raw, n, || record_position(src, n))?;
    }
    Ok(())
}

/// "record N (line L)": finds the line where data record N starts.
fn record_position(src: &Source, n: u64) -> String {
    let line = src.reader().ok().and_then(|rd| {
        let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(rd);
        let mut rec = csv::ByteRecord::new();
        let mut k = 0u64;
        loop {
            match r.read_byte_record(&mut rec) {
                Ok(true) => {
                    k += 1;
                    if k == n {
                        return rec.position().map(|p| p.line());
                    }
                }
                _ => return None,
            }
        }
    });
    match line {
        Some(l) => format!("line {l} (record {n})"),
        None => format!("record {n}"),
    }
}

/// Streaming fallback with exact positions for files polars rejects (a
/// ragged row, broken quoting, invalid UTF-8).
/// What every record is checked against.
struct Layout<'a> {
    src: &'a Source,
    schema: &'a FlatSchema,
    names: &'a [String],
    /// Only the columns kvaudit reads are decoded.
    needed: Vec<bool>,
}

/// Records per batch handed from the parsing thread to the normalising one.
const BATCH: usize = 2048;

type Batch = (Vec<csv::ByteRecord>, usize);

/// Streams the CSV: one thread parses records (the `csv` crate, exact
/// positions), the calling thread checks and normalises them, in order.
fn read_streaming(
    src: &Source,
    schema: &FlatSchema,
    names: &[String],
    c: &mut Collector,
) -> Result<()> {
    use super::schema::Field;
    let width = names.len();
    let mut needed = vec![false; width];
    // In lean mode, columns that feed only fields it drops are not decoded.
    let dropped = |f: &Field| {
        c.lean()
            && matches!(
                f,
                Field::Description
                    | Field::Correlation
                    | Field::Assignment
                    | Field::Signature
                    | Field::Appidacr
                    | Field::Ip
            )
    };
    for (f, i) in &schema.slots {
        if *i < width && !dropped(f) {
            needed[*i] = true;
        }
    }
    let layout = Layout {
        src,
        schema,
        names,
        needed,
    };
    let reader = src.reader()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::result::Result<Batch, csv::Error>>(4);
    let (back, spare) = std::sync::mpsc::channel::<Vec<csv::ByteRecord>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
            loop {
                let mut batch = spare.try_recv().unwrap_or_default();
                batch.resize_with(BATCH, csv::ByteRecord::new);
                let mut n = 0;
                let mut failed = None;
                while n < BATCH {
                    match r.read_byte_record(&mut batch[n]) {
                        Ok(true) => n += 1,
                        Ok(false) => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                let done = n < BATCH;
                // The receiver is gone when the reading stopped on an error.
                if tx.send(Ok((batch, n))).is_err() {
                    return;
                }
                if let Some(e) = failed {
                    let _ = tx.send(Err(e));
                    return;
                }
                if done {
                    return;
                }
            }
        });
        let mut count = 0u64;
        for msg in rx {
            match msg {
                Ok((batch, n)) => {
                    for rec in &batch[..n] {
                        count += 1;
                        record(rec, count, &layout, c)?;
                    }
                    let _ = back.send(batch);
                }
                Err(e) => {
                    let line = match e.kind() {
                        csv::ErrorKind::Utf8 { pos: Some(p), .. }
                        | csv::ErrorKind::UnequalLengths { pos: Some(p), .. } => {
                            line_of(src, p.byte())
                        }
                        _ => None,
                    };
                    return Err(Error::Malformed {
                        at: Location {
                            source: c.source().to_string(),
                            position: match line {
                                Some(l) => format!("line {l}"),
                                None => format!("after record {count}"),
                            },
                        },
                        message: format!("invalid CSV: {e}"),
                    });
                }
            }
        }
        Ok(())
    })
}

/// Checks one record (record number `n`) and hands it on.
fn record(rec: &csv::ByteRecord, n: u64, l: &Layout, c: &mut Collector) -> Result<()> {
    let (src, schema, names, needed) = (l.src, l.schema, l.names, &l.needed);
    let width = names.len();
    let byte = rec.position().map_or(0, |p| p.byte());
    let position = || match line_of(src, byte) {
        Some(line) => format!("line {line} (record {n})"),
        None => format!("record {n}"),
    };
    if rec.get(0).is_some_and(|f| f.starts_with(b"\xEF\xBB\xBF")) {
        c.count_read_only();
        return c.invalid_with(
            position,
            "found a byte-order mark at the start of this row; expected a data row (were two exports concatenated? remove the second header)".into(),
        );
    }
    if rec.len() == width && rec.iter().zip(names).all(|(a, b)| a == b.as_bytes()) {
        c.count_read_only();
        return c.invalid_with(
            position,
            "found the header again; expected a data row (were two exports concatenated? remove the second header)".into(),
        );
    }
    if rec.len() != width {
        c.count_read_only();
        return c.invalid_with(
            position,
            format!(
                "expected {width} fields as in the header, found {}",
                rec.len()
            ),
        );
    }
    let mut cells: Vec<Option<&str>> = Vec::with_capacity(width);
    let mut bad_utf8 = None;
    let mut long = None;
    for (i, f) in rec.iter().enumerate() {
        if !needed[i] {
            cells.push(None);
            continue;
        }
        if long.is_none() {
            long = super::schema::too_long(&names[i], f.len());
        }
        match std::str::from_utf8(f) {
            Ok(s) => cells.push(Some(s)),
            Err(_) => {
                bad_utf8 = Some(i);
                cells.push(None);
            }
        }
    }
    if let Some(msg) = long {
        c.count_read_only();
        return c.invalid_with(position, msg);
    }
    if let Some(i) = bad_utf8 {
        c.count_read_only();
        return c.invalid_with(
            position,
            format!("expected UTF-8 text in column {}, found other bytes (is the file Latin-1? re-export it as UTF-8)", i + 1),
        );
    }
    c.push(schema.row(|i| cells[i]), n, position)
}
