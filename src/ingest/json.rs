//! Reader for every JSON shape: raw `{"records":[...]}` blobs, JSON Lines,
//! bare arrays, `{"value":[...]}`, az CLI output and the Log Analytics query
//! API response (`tables`/`columns`/`rows`).

use super::blocks::{self, Block, Lines, Worker};
use super::collector::Collector;
use super::schema::RawRow;
use super::schema::{self, require_columns, Field, FlatSchema};
use super::shape::Shape;
use crate::error::{Error, Location, Result};
use serde_json::{Map, Value};

pub(super) fn read(body: &[u8], c: &mut Collector) -> Result<Shape> {
    // JSON Lines: the first non-empty line is a whole object on its own.
    if is_lines(body) {
        return read_lines(Box::new(body), body, c);
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            // Records pasted one after another, with or without commas.
            if let Some(items) = value_sequence(body) {
                return read_records(items, c, Shape::PastedValues);
            }
            return Err(Error::Malformed {
                at: Location {
                    source: c.source().to_string(),
                    position: format!("line {} column {}", e.line(), e.column()),
                },
                message: format!("invalid JSON: {e}"),
            });
        }
    };
    match value {
        Value::Object(mut m) => {
            if let Some(Value::Array(records)) = m.remove("records") {
                read_records(records, c, Shape::RawRecords)
            } else if m.contains_key("tables") {
                read_api(&m, c)
            } else if let Some(Value::Array(rows)) = m.remove("value") {
                read_records(rows, c, Shape::ValueWrapper)
            } else if schema::is_raw_record(&m) {
                record(&m, c, 1, "record 1".into())?;
                Ok(Shape::RawJsonLines)
            } else if schema::is_flat_row(&m) {
                record(&m, c, 1, "record 1".into())?;
                Ok(Shape::FlatJsonLines)
            } else {
                Err(unrecognised(c))
            }
        }
        Value::Array(items) => read_records(items, c, Shape::RawArray),
        _ => Err(unrecognised(c)),
    }
}

/// True when `body` starts with a whole line that is a raw record, valid
/// UTF-8, naming no wrapper key anywhere, with more after it: raw records
/// as JSON Lines, found with one parse of the line (an archive's blobs are
/// each detected). The line is parsed as every line of JSON Lines is: the
/// values kvaudit does not read are checked for syntax only (a number too
/// large for a float, a lone surrogate escape pass, as on later lines),
/// where [`looks_like_lines`] parses them whole; files and trees both ask
/// this first, so a blob reads as the same file read alone.
pub(super) fn starts_with_raw_record(body: &[u8]) -> bool {
    let Some(end) = memchr::memchr(b'\n', body) else {
        return false;
    };
    let line = &body[..end];
    let wrapper = [&b"\"records\""[..], b"\"tables\"", b"\"value\""]
        .iter()
        .any(|k| memchr::memmem::find(line, k).is_some());
    // Valid UTF-8 as a whole (the parse below skips unread values).
    !wrapper
        && body[end..].iter().any(|b| !b.is_ascii_whitespace())
        && simdutf8::basic::from_utf8(line).is_ok()
        && schema::FastRaw::of_line(line.trim_ascii())
            .and_then(schema::FastRaw::into_row)
            .is_some()
}

/// Whether `head` (an input's start) is JSON Lines: a raw record first
/// (see [`starts_with_raw_record`]), else as [`looks_like_lines`] says.
pub(super) fn is_lines(head: &[u8]) -> bool {
    let at = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    starts_with_raw_record(&head[at..]) || looks_like_lines(head)
}

/// True when the first non-empty line of `head` is a whole JSON object that
/// is not a wrapper (`records`, `tables`, `value`): JSON Lines.
pub(super) fn looks_like_lines(head: &[u8]) -> bool {
    let Some(first_line) = head
        .split(|b| *b == b'\n')
        .find(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
    else {
        return false;
    };
    // The line must end inside the head, or it may be cut short.
    let complete = first_line.len() < head.trim_ascii_end().len();
    complete
        && first_line.trim_ascii().starts_with(b"{")
        && matches!(serde_json::from_slice::<Value>(first_line), Ok(Value::Object(m)) if !is_wrapper(&m))
}

/// Two or more JSON values separated by whitespace or commas (records
/// pasted from a ticket or an issue thread), wrappers and arrays opened;
/// None when the text is not such a sequence.
fn value_sequence(body: &[u8]) -> Option<Vec<Value>> {
    let mut values = Vec::new();
    let mut i = 0;
    loop {
        while body
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b',')
        {
            i += 1;
        }
        if i >= body.len() {
            break;
        }
        let mut it = serde_json::Deserializer::from_slice(&body[i..]).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => values.push(v),
            _ => return None,
        }
        i += it.byte_offset();
    }
    if values.len() < 2 {
        return None;
    }
    let mut items = Vec::new();
    for v in values {
        match v {
            Value::Object(mut m) if matches!(m.get("records"), Some(Value::Array(_))) => {
                if let Some(Value::Array(r)) = m.remove("records") {
                    items.extend(r);
                }
            }
            Value::Array(a) => items.extend(a),
            other => items.push(other),
        }
    }
    Some(items)
}

fn is_wrapper(m: &Map<String, Value>) -> bool {
    m.contains_key("records") || m.contains_key("tables") || m.contains_key("value")
}

fn unrecognised(c: &Collector) -> Error {
    Error::Unrecognised {
        path: c.source().to_string(),
        tried: Shape::tried(),
    }
}

/// One object: a raw record or a flat exported row.
fn record(m: &Map<String, Value>, c: &mut Collector, n: u64, position: String) -> Result<()> {
    c.push(object_row(m), n, || position.clone())
}

/// The row of one object, or what was expected of it.
fn object_row(m: &Map<String, Value>) -> std::result::Result<RawRow<'_>, String> {
    if schema::is_raw_record(m) {
        schema::raw_record(m)
    } else if schema::is_flat_row(m) {
        let mut row = RawRow::default();
        schema::fill_from_map(&mut row, m).map(|()| row)
    } else {
        Err("expected a Key Vault log record (operationName/time) or an exported row (OperationName/TimeGenerated)".into())
    }
}

fn read_records(items: Vec<Value>, c: &mut Collector, wrapper: Shape) -> Result<Shape> {
    let mut shape = wrapper;
    for (i, item) in items.iter().enumerate() {
        let n = i as u64 + 1;
        match item {
            Value::Object(m) => {
                if i == 0 && wrapper == Shape::RawArray && !schema::is_raw_record(m) {
                    shape = if m.contains_key("TableName") {
                        Shape::AzCliJson
                    } else {
                        Shape::FlatJsonArray
                    };
                }
                record(m, c, n, format!("record {n}"))?;
            }
            other => {
                c.count_read_only();
                c.invalid(
                    format!("record {n}"),
                    format!("expected a JSON object, found {}", kind(other)),
                )?;
            }
        }
    }
    Ok(shape)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// JSON Lines, one object per line, streamed in blocks parsed on every
/// core (memory does not grow with the file). `head` is the start of the
/// content, which decides the shape.
pub(super) fn read_lines(
    r: Box<dyn std::io::Read + Send + '_>,
    head: &[u8],
    c: &mut Collector,
) -> Result<Shape> {
    let shape = lines_shape(head);
    blocks::run(
        r,
        Lines::default(),
        |block, w| parse_lines(block, shape, w),
        c,
        |n, _| format!("line {n}"),
    )?;
    Ok(shape)
}

/// [`read_lines`] of a small file already in memory, parsed on this
/// thread without copying it (a file read among many at once).
pub(super) fn read_lines_owned(mut all: Vec<u8>, shape: Shape, c: &mut Collector) -> Result<()> {
    if all.starts_with(b"\xEF\xBB\xBF") {
        all.drain(..3);
    }
    blocks::run_owned(all, |block, w| parse_lines(block, shape, w), c, &|n, _| {
        format!("line {n}")
    })
}

/// Raw records unless the first object of the file is an exported row.
pub(super) fn lines_shape(head: &[u8]) -> Shape {
    for line in head.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if schema::FastRaw::of_line(line)
            .and_then(schema::FastRaw::into_row)
            .is_some()
        {
            return Shape::RawJsonLines;
        }
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(line) {
            return if schema::is_raw_record(&m) {
                Shape::RawJsonLines
            } else {
                Shape::FlatJsonLines
            };
        }
    }
    Shape::RawJsonLines
}

/// Parses the lines of one block; returns how many lines it held (blank
/// ones count: errors name lines).
fn parse_lines(block: &Block, shape: Shape, w: &mut Worker) -> u64 {
    let data = &block.data[..];
    match simdutf8::basic::from_utf8(data) {
        // Valid text is checked once, not once per string.
        Ok(text) => parse_lines_of(
            lines(data).map(|r| text[r].trim_ascii()),
            shape,
            w,
            |line| super::raw_line::raw_record(line).or_else(|| schema::FastRaw::of_text(line)),
            serde_json::from_str::<Value>,
        ),
        Err(_) => parse_lines_of(
            lines(data).map(|r| data[r].trim_ascii()),
            shape,
            w,
            schema::FastRaw::of_line,
            serde_json::from_slice::<Value>,
        ),
    }
}

/// The lines of `data`, each with its `\n` (as `split_inclusive`), found
/// with memchr's vectorised search.
fn lines(data: &[u8]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', data).map(|p| p + 1);
    ends.chain(std::iter::once(data.len()))
        .filter_map(move |end| {
            let r = start..end;
            start = end;
            (!r.is_empty()).then_some(r)
        })
}

fn parse_lines_of<'a, L: AsRef<[u8]> + ?Sized + 'a>(
    lines: impl Iterator<Item = &'a L>,
    shape: Shape,
    w: &mut Worker,
    fast: impl Fn(&'a L) -> Option<schema::FastRaw<'a>>,
    general: impl Fn(&'a L) -> serde_json::Result<Value>,
) -> u64 {
    let mut n = 0u64;
    for line in lines {
        n += 1;
        if line.as_ref().is_empty() {
            continue;
        }
        // Fast path for raw records (the shape of large exports).
        if shape == Shape::RawJsonLines {
            if let Some(row) = fast(line).and_then(schema::FastRaw::into_row) {
                w.push(Ok(row), n, None);
                continue;
            }
        }
        match general(line) {
            Ok(Value::Object(m)) => w.push(object_row(&m), n, None),
            Ok(other) => w.invalid(
                n,
                None,
                format!("expected a JSON object, found {}", kind(&other)),
            ),
            Err(e) => w.invalid(n, None, format!("expected a JSON object: {e}")),
        }
    }
    n
}

/// `{"tables":[{"name","columns":[{"name","type"}],"rows":[[...]]}]}`.
fn read_api(m: &Map<String, Value>, c: &mut Collector) -> Result<Shape> {
    let malformed = |c: &Collector, position: &str, message: &str| Error::Malformed {
        at: Location {
            source: c.source().to_string(),
            position: position.to_string(),
        },
        message: message.to_string(),
    };
    if let Some(err) = m.get("error").filter(|e| !e.is_null()) {
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)");
        let code = err.get("code").and_then(Value::as_str).unwrap_or("");
        crate::output::note!(
            "warning: {}: the query API reported a partial error ({code}): {msg}; the rows may be incomplete",
            c.source()
        );
    }
    let tables = m
        .get("tables")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(c, "tables", "expected \"tables\" to be an array"))?;
    if tables.is_empty() {
        return Err(malformed(
            c,
            "tables",
            "expected at least one table, found an empty \"tables\" array",
        ));
    }
    let mut n = 0u64;
    for (t, table) in tables.iter().enumerate() {
        let pos = format!("tables[{t}]");
        let columns = table
            .get("columns")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(c, &pos, "expected a \"columns\" array"))?;
        let names: Vec<&str> = columns
            .iter()
            .map(|col| col.get("name").and_then(Value::as_str).unwrap_or(""))
            .collect();
        let mut schema = FlatSchema::resolve(names.iter().copied());
        schema.names = names.iter().map(ToString::to_string).collect();
        require_columns(&schema, c.source())?;
        let rows = table
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(c, &pos, "expected a \"rows\" array"))?;
        for (r, row) in rows.iter().enumerate() {
            n += 1;
            let position = format!("tables[{t}].rows[{r}] (record {n})");
            let Some(cells) = row.as_array() else {
                c.count_read_only();
                c.invalid(position, "expected an array of cells".into())?;
                continue;
            };
            if cells.len() != names.len() {
                c.count_read_only();
                c.invalid(
                    position,
                    format!(
                        "expected {} cells (one per column), found {}",
                        names.len(),
                        cells.len()
                    ),
                )?;
                continue;
            }
            let wrong_type = schema.slots.iter().find_map(|(f, i)| {
                if matches!(f, Field::IdentityJson | Field::AdditionalFields) {
                    return None;
                }
                schema::checked_text(*f, names[*i], &cells[*i]).err()
            });
            if let Some(msg) = wrong_type {
                c.count_read_only();
                c.invalid(position, msg)?;
                continue;
            }
            let texts: Vec<Option<String>> = cells.iter().map(schema::value_text).collect();
            let raw = schema.row(|i| texts[i].as_deref());
            c.push(raw, n, || position.clone())?;
        }
    }
    Ok(Shape::LogAnalyticsApi)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// `lines` cuts exactly as `split_inclusive('\n')`.
        #[test]
        fn lines_split_like_split_inclusive(data in proptest::collection::vec(prop::sample::select(b"a\n\r ".to_vec()), 0..200)) {
            let ours: Vec<&[u8]> = super::lines(&data).map(|r| &data[r]).collect();
            let std: Vec<&[u8]> = data.split_inclusive(|b| *b == b'\n').collect();
            prop_assert_eq!(ours, std);
        }
    }

    /// The quick test of a blob says raw records for an archive's blob and
    /// declines a wrapper, a single record, invalid UTF-8 and bad syntax;
    /// what it accepts reads as raw JSON Lines.
    #[test]
    fn a_raw_record_first_is_raw_json_lines_either_way() {
        let a = r#"{"time": "2025-03-10T08:00:01.123Z", "category": "AuditEvent", "operationName": "SecretGet", "resourceId": "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV", "identity": {"claim": {"appid": "a"}}, "properties": {"httpStatusCode": 200}}"#;
        let mut bad_utf8 = a
            .replace("\"category\"", "\"x\": \"\u{1}\", \"category\"")
            .into_bytes();
        let at = bad_utf8.iter().position(|b| *b == 1).unwrap();
        bad_utf8[at] = 0xff;
        // A first line with `extra` before its time, then a record.
        let with = |extra: &str| {
            let first = a.replace("\"time\"", &format!("{extra} \"time\""));
            format!("{first}\n{a}\n").into_bytes()
        };
        let cases: Vec<(Vec<u8>, bool)> = vec![
            (format!("{a}\n{a}\n").into_bytes(), true),
            (format!("{a}\r\n{a}").into_bytes(), true),
            // One record: a document, not lines.
            (format!("{a}\n \n").into_bytes(), false),
            (a.as_bytes().to_vec(), false),
            (format!("{{\"records\": [{a}]}}\n{a}\n").into_bytes(), false),
            (
                format!("{}\n{a}\n", a.replace("\"time\"", "\"value\": 1, \"time\"")).into_bytes(),
                false,
            ),
            ([&bad_utf8[..], b"\n", a.as_bytes()].concat(), false),
            (
                format!("{{\"TimeGenerated\": \"x\"}}\n{a}\n").into_bytes(),
                false,
            ),
            (with("\"tables\": 1,"), false),
            (with("\"x\": [,"), false),
            // Values kvaudit skips are checked for syntax only, as on every
            // later line of JSON Lines.
            (with("\"x\": 1e400,"), true),
            (with("\"x\": \"\\ud800\","), true),
            (
                with(&format!("\"x\": {}{},", "[".repeat(200), "]".repeat(200))),
                true,
            ),
        ];
        for (body, quick) in cases {
            let text = String::from_utf8_lossy(&body).into_owned();
            assert_eq!(super::starts_with_raw_record(&body), quick, "{text}");
            if quick {
                assert!(super::is_lines(&body), "{text}");
                assert_eq!(
                    super::lines_shape(&body),
                    crate::ingest::shape::Shape::RawJsonLines
                );
            }
        }
    }
}
