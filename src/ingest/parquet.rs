//! Reads Parquet (detected by its `PAR1` magic) through polars, one row
//! group at a time: a lakehouse table of `AZKVAuditLogs` or
//! `AzureDiagnostics` columns (as Log Analytics, Azure Data Explorer's
//! `.export`, Spark or DuckDB write them, `Identity` as JSON text or a
//! struct), raw diagnostic records as an Event Hub capture lands them
//! (`identity` and `properties` as structs or JSON text), or kvaudit's own
//! canonical events (`events --format parquet`). Errors name the file and
//! row group.

use super::blocks::Worker;
use super::collector::Collector;
use super::normalize::{reads, Outcome};
use super::schema::{self, require_columns, Field, FlatSchema};
use super::shape::Shape;
use crate::error::{Error, Location, Result};
use crate::pipeline::Fields;
use polars::prelude::*;
use std::sync::Arc;

fn strings(ca: &StringChunked) -> Vec<Option<String>> {
    (0..ca.len())
        .map(|i| ca.get(i).map(str::to_string))
        .collect()
}

/// The one array of a rechunked text column.
type TextArray = <StringType as PolarsDataType>::Array;

/// A column of a row group as the rows take it, without a copy or an
/// allocation per cell.
enum Cells<'a> {
    /// Text, read in place, and whether any row has none.
    Text(&'a TextArray, bool),
    /// Numbers, booleans and nested values as text, packed in one buffer.
    Packed(Packed),
    /// A timestamp, in microseconds since 1970 UTC (given to the row as it
    /// is, not as text).
    Micros(Vec<Option<i64>>),
}

/// Texts of a column end to end, with where each row's lies.
#[derive(Default)]
struct Packed {
    text: String,
    spans: Vec<Option<(usize, usize)>>,
    /// What the texts were written from.
    from: Typed,
}

/// The type of the column a [`Packed`] was written from.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Typed {
    Integer,
    Boolean,
    #[default]
    Other,
}

impl Packed {
    /// An integer: a value below 1000 (an HTTP status, a short duration)
    /// is written once and its text shared by every row that holds it.
    fn push_int(&mut self, v: Option<i64>, small: &mut [Option<(usize, usize)>]) {
        let slot = v
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&v| v < small.len());
        match slot {
            Some(i) => {
                let span = match small[i] {
                    Some(span) => span,
                    None => {
                        let from = self.text.len();
                        self.text.push_str(&i.to_string());
                        let span = (from, self.text.len());
                        small[i] = Some(span);
                        span
                    }
                };
                self.spans.push(Some(span));
            }
            None => self.push(v),
        }
    }

    fn push(&mut self, v: Option<impl std::fmt::Display>) {
        use std::fmt::Write;
        self.spans.push(v.map(|v| {
            let from = self.text.len();
            // Writing to a String cannot fail.
            let _ = write!(self.text, "{v}");
            (from, self.text.len())
        }));
    }
}

impl Cells<'_> {
    fn get(&self, row: usize) -> Option<&str> {
        match self {
            Cells::Text(a, _) => a.get(row),
            Cells::Packed(p) => p
                .spans
                .get(row)
                .copied()
                .flatten()
                .and_then(|(from, to)| p.text.get(from..to)),
            Cells::Micros(_) => None,
        }
    }

    /// For each of `rows`, in `out`, a value that is equal for two rows
    /// only when their texts are (absent and empty may share one); false
    /// when a row has none short enough to give (a long packed text, a
    /// timestamp).
    fn keys(&self, rows: std::ops::Range<usize>, out: &mut [u128]) -> bool {
        let slots = out.iter_mut();
        match self {
            // The view: length and prefix, then the text itself when it is
            // short, else where in which buffer it lies.
            Cells::Text(a, false) => {
                let views = a.views();
                for (row, slot) in rows.zip(slots) {
                    match views.get(row) {
                        Some(v) => *slot = v.as_u128(),
                        None => return false,
                    }
                }
            }
            Cells::Text(a, true) => {
                for (row, slot) in rows.zip(slots) {
                    *slot = a.get(row).map_or(0, |_| a.views()[row].as_u128());
                }
            }
            _ => {
                for (row, slot) in rows.zip(slots) {
                    match self.key(row) {
                        Some(v) => *slot = v,
                        None => return false,
                    }
                }
            }
        }
        true
    }

    /// Whether every one of `rows` rows holds the same value, by their
    /// [`Cells::keys`] (false when one differs or cannot be keyed).
    fn constant(&self, rows: usize) -> bool {
        let mut keys = [0u128; 256];
        let mut first = None;
        let mut start = 0;
        while start < rows {
            let end = (start + keys.len()).min(rows);
            let chunk = &mut keys[..end - start];
            if !self.keys(start..end, chunk) {
                return false;
            }
            let f = *first.get_or_insert(chunk[0]);
            if chunk.iter().any(|&k| k != f) {
                return false;
            }
            start = end;
        }
        first.is_some()
    }

    /// [`Cells::keys`] of one row of packed text.
    fn key(&self, row: usize) -> Option<u128> {
        match self {
            Cells::Text(..) => None,
            Cells::Packed(p) => match p.spans.get(row).copied().flatten() {
                None => Some(0),
                Some((from, to)) if to - from < 16 => {
                    let mut b = [0u8; 16];
                    b[..to - from].copy_from_slice(p.text.as_bytes().get(from..to)?);
                    b[15] = (to - from + 1) as u8;
                    Some(u128::from_le_bytes(b))
                }
                Some(_) => None,
            },
            Cells::Micros(_) => None,
        }
    }
}

/// A column that is not text, as [`Cells`]: integers and booleans written
/// straight into one buffer, timestamps that give the time (`time`) kept
/// as numbers, others (floats, other timestamps, nested values) through
/// [`texts`].
fn other_cells(
    c: &Column,
    name: &str,
    dt: Option<&ArrowDataType>,
    time: bool,
) -> std::result::Result<Cells<'static>, String> {
    let s = c.as_materialized_series();
    let failed = |e: PolarsError| e.to_string();
    let mut p = Packed::default();
    match s.dtype() {
        DataType::Datetime(unit, _) if time => {
            let unit = *unit;
            let raw = s.cast(&DataType::Int64).map_err(failed)?;
            return Ok(Cells::Micros(
                raw.i64()
                    .map_err(failed)?
                    .iter()
                    .map(|v| {
                        v.map(|v| match unit {
                            TimeUnit::Nanoseconds => v.div_euclid(1000),
                            TimeUnit::Microseconds => v,
                            TimeUnit::Milliseconds => v.saturating_mul(1000),
                        })
                    })
                    .collect(),
            ));
        }
        DataType::Boolean => {
            p.from = Typed::Boolean;
            s.bool().map_err(failed)?.iter().for_each(|v| p.push(v));
        }
        t if super::nested::widens_to_i64(t) => {
            p.from = Typed::Integer;
            let wide = s.cast(&DataType::Int64).map_err(failed)?;
            let mut small = vec![None; 1000];
            wide.i64()
                .map_err(failed)?
                .iter()
                .for_each(|v| p.push_int(v, &mut small));
        }
        DataType::UInt64 => {
            p.from = Typed::Integer;
            s.u64().map_err(failed)?.iter().for_each(|v| p.push(v));
        }
        _ => texts(c, name, dt)?
            .iter()
            .for_each(|v| p.push(v.as_deref())),
    }
    Ok(Cells::Packed(p))
}

/// One column's values as text, the way the flat readers take them;
/// nested columns (an `Identity` struct) as the JSON text of their values.
fn texts(
    c: &Column,
    name: &str,
    dt: Option<&ArrowDataType>,
) -> std::result::Result<Vec<Option<String>>, String> {
    let s = c.as_materialized_series();
    match s.dtype() {
        DataType::Datetime(..) => super::nested::datetime_texts(s),
        DataType::String => Ok(strings(s.str().map_err(|e| e.to_string())?)),
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64 => {
            let t = s.cast(&DataType::String).map_err(|e| e.to_string())?;
            Ok(strings(t.str().map_err(|e| e.to_string())?))
        }
        DataType::Null => Ok(vec![None; s.len()]),
        DataType::Struct(_) | DataType::List(_) | DataType::Date => super::nested::texts(s, dt),
        other => Err(format!(
            "column {name} is {other}: kvaudit reads strings, numbers, booleans, timestamps and nested columns (structs, lists, maps)"
        )),
    }
}

/// Binary columns as the text they hold: those of `uuids` (16 bytes, as
/// DuckDB writes ids it recognises) in their 8-4-4-4-12 form, others
/// (DuckDB's JSON type: identity, properties) as the UTF-8 text they must
/// be. A cell of bytes that are not is left empty and its row given back
/// (in order, once) with why, naming the column: an error of that row.
fn binary_as_text(
    df: &mut DataFrame,
    uuids: &[String],
) -> std::result::Result<Vec<(usize, String)>, String> {
    let mut bad: Vec<(usize, String)> = Vec::new();
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::Binary | DataType::BinaryOffset))
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let uuid = uuids.iter().any(|u| u.as_str() == name.as_str());
        let col = df.column(&name).map_err(|e| e.to_string())?;
        let bytes = col
            .as_materialized_series()
            .cast(&DataType::Binary)
            .map_err(|e| e.to_string())?;
        let bytes = bytes.binary().map_err(|e| e.to_string())?;
        let mut texts = Vec::with_capacity(bytes.len());
        for (row, v) in bytes.iter().enumerate() {
            let text = v.and_then(|b| {
                let text = super::nested::binary_text(b, uuid);
                if text.is_none() {
                    let expected = if uuid {
                        "a UUID (16 bytes)"
                    } else {
                        "text (UTF-8)"
                    };
                    bad.push((
                        row,
                        format!(
                            "{name}: expected {expected}, found {} bytes that are not",
                            b.len()
                        ),
                    ));
                }
                text
            });
            texts.push(text);
        }
        let text = StringChunked::from_iter_options(name.clone(), texts.into_iter());
        df.with_column(text.into_series().into_column())
            .map_err(|e| e.to_string())?;
    }
    // The first reason of each row, rows in order.
    bad.sort_by_key(|b| b.0);
    bad.dedup_by_key(|b| b.0);
    Ok(bad)
}

/// Checks the page headers of the column chunks of row group `g` under
/// the top-level columns `roots` before polars decodes them: a negative
/// count or size (one changed byte) makes polars ask for exabytes, and a
/// failed allocation aborts the process, past any error handling. Each
/// page's counts and sizes must be at least 0, its values within its
/// chunk's, its bytes within the chunk; a column without repetition must
/// hold one value per row.
fn pages_sound(
    file: impl std::io::Read + std::io::Seek,
    metadata: &polars::io::parquet::read::FileMetadata,
    g: usize,
    roots: &[String],
) -> std::result::Result<(), String> {
    use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
    use polars_parquet_format::{PageHeader, PageType};
    use std::io::{Seek, SeekFrom};
    let rg = &metadata.row_groups[g];
    let rows = i64::try_from(rg.num_rows()).unwrap_or(i64::MAX);
    let mut f = std::io::BufReader::with_capacity(1 << 12, file);
    for root in roots {
        let Some(chunks) = rg.columns_under_root_iter(root) else {
            continue;
        };
        for c in chunks {
            let column = c.descriptor().path_in_schema.join(".");
            let bad = |why: String| format!("column {column}: {why} (a damaged file?)");
            let total = c.num_values();
            let repeated = c.descriptor().descriptor.max_rep_level > 0;
            if total < 0 || (!repeated && total != rows) {
                return Err(bad(format!(
                    "the footer gives {total} values for a row group of {rows} rows"
                )));
            }
            let range = c.byte_range();
            let mut at = range.start;
            let mut seen = 0i64;
            f.seek(SeekFrom::Start(at))
                .map_err(|e| bad(format!("its page at byte {at} cannot be reached: {e}")))?;
            while seen < total && at < range.end {
                let h = PageHeader::read_from_in_protocol(&mut TCompactInputProtocol::new(
                    &mut f,
                    crate::limits::PARQUET_FOOTER as usize,
                ))
                .map_err(|e| bad(format!("page header at byte {at}: {e}")))?;
                let body = f.stream_position().map_err(|e| e.to_string())?;
                // Every count and size any header gives, and the values
                // of the page as polars takes it (by its type).
                let mut counts = vec![h.uncompressed_page_size, h.compressed_page_size];
                if let Some(d) = &h.data_page_header {
                    counts.push(d.num_values);
                }
                if let Some(d) = &h.data_page_header_v2 {
                    counts.extend([
                        d.num_values,
                        d.num_nulls,
                        d.num_rows,
                        d.definition_levels_byte_length,
                        d.repetition_levels_byte_length,
                    ]);
                }
                if let Some(d) = &h.dictionary_page_header {
                    counts.push(d.num_values);
                }
                if counts.iter().any(|&n| n < 0) {
                    return Err(bad(format!(
                        "the page at byte {at} gives a negative count or size"
                    )));
                }
                let values = match h.type_ {
                    PageType::DATA_PAGE => h.data_page_header.as_ref().map(|d| d.num_values),
                    PageType::DATA_PAGE_V2 => h.data_page_header_v2.as_ref().map(|d| d.num_values),
                    PageType::DICTIONARY_PAGE | PageType::INDEX_PAGE => Some(0),
                    _ => None,
                };
                let Some(values) = values else {
                    return Err(bad(format!(
                        "the page at byte {at} has no header of its type"
                    )));
                };
                seen = seen.saturating_add(i64::from(values));
                // Sizes are at least 0 here, and i32.
                let next = body + h.compressed_page_size as u64;
                if seen > total || next > range.end {
                    return Err(bad(format!(
                        "the page at byte {at} goes past its column chunk"
                    )));
                }
                f.seek_relative(i64::from(h.compressed_page_size))
                    .map_err(|e| bad(format!("its page at byte {next} cannot be reached: {e}")))?;
                at = next;
            }
            if seen != total {
                return Err(bad(format!(
                    "its pages hold {seen} values where the footer gives {total}"
                )));
            }
        }
    }
    Ok(())
}

/// Row group `g` (its rows starting at `start`) decoded, of `columns`
/// only: its page headers checked first, its columns then of its length.
fn decode_group<R: polars::io::mmap::MmapBytesReader>(
    open: impl Fn() -> std::result::Result<R, String>,
    metadata: &Arc<polars::io::parquet::read::FileMetadata>,
    g: usize,
    start: usize,
    columns: Vec<String>,
) -> std::result::Result<DataFrame, String> {
    pages_sound(open()?, metadata, g, &columns)?;
    let rows = metadata.row_groups[g].num_rows();
    let mut r = ParquetReader::new(open()?)
        .with_slice(Some((start, rows)))
        .with_columns(Some(columns));
    r.set_metadata(metadata.clone());
    let df = super::ordered::decoded(|| r.finish())?.map_err(|e| format!("unreadable: {e}"))?;
    even(&df)?;
    Ok(df)
}

/// Whether every column of a decoded row group holds a value for each of
/// its rows: a damaged file can give polars columns of other lengths
/// (the footer's row count changed where [`pages_sound`] cannot tell, in
/// a repeated column), which reading by row would overrun.
fn even(df: &DataFrame) -> std::result::Result<(), String> {
    let rows = df.height();
    match df.columns().iter().find(|c| c.len() != rows) {
        Some(c) => Err(format!(
            "column {} holds {} values for the {rows} rows of the row group (a damaged file?)",
            c.name(),
            c.len()
        )),
        None => Ok(()),
    }
}

/// `row` as read, or the error [`binary_as_text`] gave it.
fn unless_bad<'r>(
    bad: &[(usize, String)],
    row: usize,
    read: impl FnOnce() -> std::result::Result<schema::RawRow<'r>, String>,
) -> std::result::Result<schema::RawRow<'r>, String> {
    match bad.binary_search_by_key(&row, |b| b.0) {
        Ok(i) => Err(bad[i].1.clone()),
        Err(_) => read(),
    }
}

/// The keys of a raw diagnostic record kvaudit reads (Azure Monitor's
/// resource log schema; Managed HSM writes the last three at the top).
pub(super) const RAW_KEYS: &[&str] = &[
    "time",
    "resourceId",
    "category",
    "operationName",
    "resultSignature",
    "resultDescription",
    "callerIpAddress",
    "correlationId",
    "durationMs",
    "identity",
    "properties",
    "httpStatusCode",
    "clientInfo",
    "requestUri",
];

/// A row group of raw records as JSON objects (named as the record
/// spells them), `identity` and `properties` whether structs or JSON text.
fn raw_rows(
    df: &DataFrame,
    arrow: &ArrowSchema,
    names: &[String],
    keys: &[Option<&'static str>],
    wanted: &[usize],
) -> std::result::Result<Vec<serde_json::Map<String, serde_json::Value>>, String> {
    use serde_json::Value;
    let mut rows = vec![serde_json::Map::new(); df.height()];
    for &i in wanted {
        let Some(key) = keys[i] else { continue };
        let col = df.column(&names[i]).map_err(|e| e.to_string())?;
        let dt = arrow.get(names[i].as_str()).map(|f| &f.dtype);
        let values = super::nested::values(col.as_materialized_series(), dt)?;
        for (row, v) in rows.iter_mut().zip(values) {
            let v = match v {
                Value::String(t) if matches!(key, "identity" | "properties") => {
                    match serde_json::from_str::<Value>(&t) {
                        Ok(o @ Value::Object(_)) => o,
                        _ => Value::String(t),
                    }
                }
                Value::Null => continue,
                v => v,
            };
            row.insert(key.to_string(), v);
        }
    }
    Ok(rows)
}

/// Distinct rows whose values are gathered at a time (see [`fold_alike`]).
const GATHER: usize = 512;

/// Folds the row group's alike rows (see [`super::like`]) when the sink
/// has a part: all at once when the part takes like events, else each row
/// in order as its distinct row's event with the row's own time, record
/// and duration (the same event reading it alone would give, without
/// normalising it again). True when it did, false to read row by row (a
/// time that is not a timestamp, a row without one, a value that cannot
/// be keyed, too many distinct rows, or a row that does not normalise,
/// whose error is then that of reading row by row). `sources` are the
/// columns that feed the time, in the schema's order.
fn fold_alike(
    schema: &FlatSchema,
    cells: &[Option<Cells>],
    sources: &[&Cells],
    rows: usize,
    w: &mut Worker,
) -> bool {
    let cell = |i: usize| cells.get(i).and_then(Option::as_ref);
    // Overflow columns can fill any field (the time among them).
    if schema.has(Field::AdditionalFields) {
        return false;
    }
    let at_once = w.takes_like();
    let only_source = |f: Field| schema.slots.iter().filter(|(g, _)| *g == f).count() == 1;
    let mut times = Vec::new();
    let mut keyed = Vec::new();
    // The duration's column when it is left out of the key (each row's
    // value is then put in its event).
    let mut duration = None;
    for i in schema.columns() {
        let Some(c) = cell(i) else { continue };
        let fields = || {
            schema
                .slots
                .iter()
                .filter(move |(_, j)| *j == i)
                .map(|(f, _)| *f)
        };
        if fields().any(|f| f == Field::Time) {
            if !matches!(c, Cells::Micros(_)) {
                return false;
            }
            continue;
        }
        // Values that normalise whatever they are (a typed value, when no
        // other column could stand in for it where it is absent) and that
        // a part taking like events does not fold, or that are put in each
        // row's event: left out of the key.
        let free = |f: Field| match (f, c) {
            (Field::Correlation, _) => true,
            (Field::Duration, Cells::Packed(p)) => p.from == Typed::Integer && only_source(f),
            (Field::Rbac | Field::AccessPolicy, Cells::Packed(p)) => {
                at_once && p.from == Typed::Boolean && only_source(f)
            }
            _ => false,
        };
        if !fields().all(free) {
            // A column with one value in every row tells no rows apart.
            if !c.constant(rows) {
                keyed.push(c);
            }
        } else if fields().any(|f| f == Field::Duration) {
            duration = Some(c);
        }
    }
    // The time columns in the order they give the time (the first with a
    // value wins, as reading row by row).
    for c in sources {
        match c {
            Cells::Micros(v) => times.push(v),
            _ => return false,
        }
    }
    if times.is_empty() {
        return false;
    }
    let time = |row: usize| times.iter().find_map(|t| t.get(row).copied().flatten());
    let mut of_row = Vec::new();
    let likes = super::like::group(
        rows,
        keyed.len(),
        |column, range, keys| keyed.get(column).is_some_and(|c| c.keys(range, keys)),
        time,
        &mut of_row,
        super::like::most(rows, at_once),
    );
    let Some(likes) = likes else { return false };
    // Each distinct row normalised once, at its earliest time (the
    // latest checked too: a time out of range is an error of its row).
    let mut events = Vec::with_capacity(likes.len());
    // The distinct rows' values are gathered a column at a time, a block
    // of rows after another: each column is then read in row order rather
    // than every column at each distinct row.
    // Where each column read is among those gathered.
    let mut at = vec![None; cells.len()];
    let mut read = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        if let Some(c) = c {
            at[i] = Some(read.len());
            read.push(c);
        }
    }
    let mut values: Vec<Option<&str>> = vec![None; read.len() * GATHER];
    for block in likes.chunks(GATHER) {
        for (c, column) in read.iter().zip(values.chunks_exact_mut(GATHER)) {
            for (v, l) in column.iter_mut().zip(block) {
                *v = c.get(l.first);
            }
        }
        for (k, l) in block.iter().enumerate() {
            if chrono::DateTime::from_timestamp_micros(l.times.1).is_none() {
                return false;
            }
            let value = |i: usize| {
                let p = at.get(i).copied().flatten()?;
                values.get(p * GATHER + k).copied().flatten()
            };
            let mut raw = schema.row(value);
            if let Ok(r) = &mut raw {
                r.time_micros = Some(l.times.0);
            }
            match w.normalise(raw, l.first as u64 + 1) {
                // The correlation id is kept (for AzureDatabricks) and then
                // differs from row to row.
                Outcome::Event(e) if at_once || !w.full() => events.push(e),
                _ => return false,
            }
        }
    }
    if at_once {
        for (e, l) in events.iter().zip(&likes) {
            w.fold_like(e, l.n, l.times, (l.first as u64 + 1, l.last as u64 + 1));
        }
        return true;
    }
    // The rows whose correlation ids are kept are read alone.
    let alone: Vec<bool> = events
        .iter()
        .map(|e| keeps_correlation(e, w.fields()))
        .collect();
    // Groups the part folds at once (the successes `report` holds), each
    // row with its own time, record and duration; the others row by row.
    let taken = fold_groups(&events, &likes, &of_row, &alone, &time, duration, w);
    // Every time is in range: it lies between its group's extremes.
    for (row, &g) in of_row.iter().enumerate() {
        if taken[g as usize] {
            continue;
        }
        if alone[g as usize] {
            w.push(row_of(schema, cells, sources, row), row as u64 + 1, None);
            continue;
        }
        let e = &mut events[g as usize];
        let Some(t) = time(row).and_then(chrono::DateTime::from_timestamp_micros) else {
            return false;
        };
        e.time = t;
        e.source_record = row as u64 + 1;
        if let Some(d) = duration {
            e.duration_ms = d.get(row).and_then(crate::parse::parse_duration);
        }
        w.fold(e, row as u64 + 1);
    }
    true
}

/// Offers each group of alike rows to the part whole (see
/// [`Worker::fold_rows`]); which groups it took.
fn fold_groups(
    events: &[crate::event::Event],
    likes: &[super::like::Like],
    of_row: &[u32],
    alone: &[bool],
    time: &dyn Fn(usize) -> Option<i64>,
    duration: Option<&Cells>,
    w: &mut Worker,
) -> Vec<bool> {
    let mut taken = vec![false; likes.len()];
    // Only groups of several rows the part takes are worth it.
    let wanted: Vec<bool> = events
        .iter()
        .zip(likes)
        .zip(alone)
        .map(|((e, l), &a)| l.n > 1 && !a && w.takes_rows(e))
        .collect();
    if !wanted.contains(&true) {
        return taken;
    }
    // Each group's rows, in order: where each group's start in `members`.
    let mut starts = Vec::with_capacity(likes.len() + 1);
    let mut at = 0;
    for l in likes {
        starts.push(at);
        at += l.n as usize;
    }
    let mut next = starts.clone();
    let mut members = vec![0u32; of_row.len()];
    for (row, &g) in of_row.iter().enumerate() {
        members[next[g as usize]] = row as u32;
        next[g as usize] += 1;
    }
    starts.push(at);
    let mut rows = Vec::new();
    for (g, e) in events.iter().enumerate() {
        if !wanted[g] {
            continue;
        }
        rows.clear();
        for &row in &members[starts[g]..starts[g + 1]] {
            let row = row as usize;
            // Every time of a group is in range (checked at its extremes).
            let Some(t) = time(row).and_then(chrono::DateTime::from_timestamp_micros) else {
                break;
            };
            rows.push(crate::event::Occurrence {
                time: t,
                order: row as u64 + 1,
                source: e.source.clone(),
                record: row as u64 + 1,
                duration_ms: match duration {
                    Some(d) => d.get(row).and_then(crate::parse::parse_duration),
                    None => e.duration_ms,
                },
            });
        }
        if rows.len() == likes[g].n as usize {
            taken[g] = w.fold_rows(e, &mut rows);
        }
    }
    taken
}

/// Row `row` of a row group as the normaliser takes it; `times` are the
/// columns that feed the time, in the schema's order.
fn row_of<'a>(
    schema: &FlatSchema,
    cells: &'a [Option<Cells>],
    times: &[&Cells],
    row: usize,
) -> std::result::Result<schema::RawRow<'a>, String> {
    let mut raw = schema.row(|i| {
        cells
            .get(i)
            .and_then(Option::as_ref)
            .and_then(|v| v.get(row))
    });
    if let Ok(r) = &mut raw {
        // The first time column with a value gives the time, as when
        // every column is text: a timestamp replaces a text of a later
        // column or of the overflow column.
        for t in times {
            match t {
                Cells::Micros(v) => {
                    if let Some(m) = v.get(row).copied().flatten() {
                        r.time = None;
                        r.time_micros = Some(m);
                        break;
                    }
                }
                t if t
                    .get(row)
                    .is_some_and(|v| !crate::parse::trim(v).is_empty()) =>
                {
                    break
                }
                _ => {}
            }
        }
    }
    raw
}

/// Whether normalising for `fields` keeps the correlation ids of events
/// like `e` (the reads of AzureDatabricks, matched one by one).
fn keeps_correlation(e: &crate::event::Event, fields: Fields) -> bool {
    e.correlation_id.is_some()
        || (reads(Field::Correlation, fields, false)
            && e.caller_appid
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(crate::event::DATABRICKS_APPID)))
}

fn at(c: &Collector, position: String, message: String) -> Error {
    Error::Malformed {
        at: Location {
            source: c.source().to_string(),
            position,
        },
        message,
    }
}

/// `file`, back at its start, when its footer (its length in the last 8
/// bytes) is within [`crate::limits::PARQUET_FOOTER`]: the decoder holds a
/// footer whole, and a file of millions of empty row groups has one of
/// hundreds of megabytes.
fn bounded<R: std::io::Read + std::io::Seek>(mut file: R) -> std::result::Result<R, String> {
    use std::io::SeekFrom;
    let io = |e: std::io::Error| e.to_string();
    let end = file.seek(SeekFrom::End(0)).map_err(io)?;
    if end >= 12 {
        file.seek(SeekFrom::End(-8)).map_err(io)?;
        let mut tail = [0u8; 8];
        file.read_exact(&mut tail).map_err(io)?;
        let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
        if length > crate::limits::PARQUET_FOOTER {
            return Err(format!(
                "a footer of {length} bytes; kvaudit reads footers (the file's metadata) of at most {}",
                crate::limits::shown(crate::limits::PARQUET_FOOTER)
            ));
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(file)
}

/// The footer of `file`, its metadata and schema, or what is wrong with
/// it: past the bound (see [`bounded`]), or damaged, which can make the
/// decoder panic (an error of the file).
fn footer<R: polars::io::mmap::MmapBytesReader>(
    file: R,
) -> std::result::Result<
    (
        Arc<polars::io::parquet::read::FileMetadata>,
        Arc<ArrowSchema>,
    ),
    String,
> {
    let mut head = ParquetReader::new(bounded(file)?);
    let metadata = super::ordered::decoded(|| head.get_metadata().map(Arc::clone))
        .and_then(|m| m.map_err(|e| e.to_string()))
        .map_err(|e| format!("expected a Parquet file: {e}"))?;
    let schema = super::ordered::decoded(|| head.schema())
        .and_then(|s| s.map_err(|e| e.to_string()))
        .map_err(|e| format!("unreadable Parquet schema: {e}"))?;
    Ok((metadata, schema))
}

/// Reads the Parquet file `open` opens (once for the footer, then once per
/// row group): row groups are decoded and normalised on every core and
/// handed on in order, so events, record numbers and errors are those of
/// reading them one after another.
pub(super) fn read<R: polars::io::mmap::MmapBytesReader>(
    open: impl Fn() -> std::io::Result<R> + Sync,
    c: &mut Collector,
) -> Result<Shape> {
    let file = open().map_err(|e| Error::io(c.source(), e))?;
    let (metadata, arrow) = footer(file).map_err(|e| at(c, "footer".into(), e))?;
    let names: Vec<String> = arrow.iter_names().map(PlSmallStr::to_string).collect();
    // Raw diagnostic records as an Event Hub pipeline lands them
    // (`time`, `operationName`, `identity`, `properties`, ...), or an
    // exported table's flat columns.
    let raw_keys: Vec<Option<&'static str>> = names
        .iter()
        .map(|n| RAW_KEYS.iter().copied().find(|k| k.eq_ignore_ascii_case(n)))
        .collect();
    let raw = raw_keys.contains(&Some("properties")) || names.iter().any(|n| n == "operationName");
    let mut schema = FlatSchema::resolve(names.iter().map(String::as_str));
    schema.names.clone_from(&names);
    let wanted: Vec<usize> = if raw {
        (0..names.len())
            .filter(|&i| raw_keys[i].is_some())
            .collect()
    } else {
        require_columns(&schema, c.source())?;
        // Only the columns normalising for this command reads are decoded;
        // the caller inventory keeps no duration or authorisation flag, so
        // those are not decoded either when typed (they cannot be wrong).
        let typed = |f: Field, t: fn(&ArrowDataType) -> bool| {
            schema
                .slots
                .iter()
                .filter(|(g, _)| *g == f)
                .all(|(_, i)| arrow.get(names[*i].as_str()).is_some_and(|a| t(&a.dtype)))
        };
        let unused = |f: Field| {
            c.fields() == Fields::Callers
                && !schema.has(Field::AdditionalFields)
                && match f {
                    Field::Duration => typed(f, |t| {
                        use ArrowDataType as A;
                        matches!(
                            t,
                            A::Int8
                                | A::Int16
                                | A::Int32
                                | A::Int64
                                | A::UInt8
                                | A::UInt16
                                | A::UInt32
                        )
                    }),
                    Field::Rbac | Field::AccessPolicy => {
                        typed(f, |t| matches!(t, ArrowDataType::Boolean))
                    }
                    _ => false,
                }
        };
        // kvaudit's own events, marked so by the writer.
        let own = metadata.key_value_metadata().as_ref().is_some_and(|kv| {
            kv.iter().any(|e| {
                e.key == crate::event::PARQUET_KEY
                    && e.value.as_deref() == Some(crate::event::PARQUET_VALUE)
            })
        }) && [Field::ObjectType, Field::Resource, Field::ResourceType]
            .iter()
            .all(|f| schema.has(*f));
        schema = schema.only(|f| reads(f, c.fields(), own) && !unused(f));
        schema.columns()
    };
    for &i in &wanted {
        let why = arrow
            .get(names[i].as_str())
            .and_then(|f| super::nested::unreadable(&f.dtype));
        if let Some(why) = why {
            return Err(at(
                c,
                "footer".into(),
                format!(
                    "column {} {why}: kvaudit reads strings, numbers, booleans, timestamps, dates and nested columns (structs, lists, maps) up to 32 levels",
                    names[i]
                ),
            ));
        }
    }
    // UUID columns (their bytes are read as the UUID's text).
    let uuids: Vec<String> = wanted
        .iter()
        .filter(|&&i| {
            arrow
                .get(names[i].as_str())
                .is_some_and(|f| f.dtype == ArrowDataType::FixedSizeBinary(16))
        })
        .map(|&i| names[i].clone())
        .collect();
    // Where each row group starts (rows before it).
    let mut starts = Vec::with_capacity(metadata.row_groups.len());
    let mut offset = 0usize;
    for rg in &metadata.row_groups {
        starts.push(offset);
        offset += rg.num_rows();
    }
    let group = |g: usize, w: &mut Worker| -> std::result::Result<Vec<Outcome>, String> {
        let columns: Vec<String> = wanted.iter().map(|&i| names[i].clone()).collect();
        let opened = || open().map_err(|e| e.to_string());
        let mut df = decode_group(opened, &metadata, g, starts[g], columns)?;
        let bad = binary_as_text(&mut df, &uuids)?;
        w.start(g as u64);
        if raw {
            for (row, m) in raw_rows(&df, &arrow, &names, &raw_keys, &wanted)?
                .into_iter()
                .enumerate()
            {
                // A record of another category is skipped whatever its
                // other cells hold.
                let read = if schema::other_category(&m) {
                    schema::raw_record(&m)
                } else {
                    unless_bad(&bad, row, || schema::raw_record(&m))
                };
                w.push(read, row as u64 + 1, None);
            }
            return Ok(w.take());
        }
        // Text columns rechunked (one array each), then read in place.
        let mut text: Vec<Option<StringChunked>> = (0..names.len()).map(|_| None).collect();
        let mut other: Vec<Option<Cells<'static>>> = (0..names.len()).map(|_| None).collect();
        for &i in &wanted {
            let col = df.column(&names[i]).map_err(|e| e.to_string())?;
            if col.dtype() == &DataType::String {
                let ca = col
                    .as_materialized_series()
                    .str()
                    .map_err(|e| e.to_string())?;
                text[i] = Some(ca.rechunk().into_owned());
            } else {
                let time = schema
                    .slots
                    .iter()
                    .any(|(f, j)| *j == i && *f == Field::Time)
                    && schema
                        .slots
                        .iter()
                        .all(|(f, j)| *j != i || *f == Field::Time);
                let dt = arrow.get(names[i].as_str()).map(|f| &f.dtype);
                other[i] = Some(other_cells(col, &names[i], dt, time)?);
            }
        }
        let cells: Vec<Option<Cells>> = text
            .iter()
            .zip(other)
            .map(|(t, o)| {
                o.or_else(|| {
                    t.as_ref()
                        .map(|ca| Cells::Text(ca.downcast_as_array(), ca.null_count() > 0))
                })
            })
            .collect();
        // The columns that feed the time, in the schema's order.
        let times: Vec<&Cells> = schema
            .slots
            .iter()
            .filter(|(f, _)| *f == Field::Time)
            .filter_map(|(_, i)| cells.get(*i).and_then(Option::as_ref))
            .collect();
        if bad.is_empty() && w.folds() && fold_alike(&schema, &cells, &times, df.height(), w) {
            return Ok(w.take());
        }
        for row in 0..df.height() {
            let read = unless_bad(&bad, row, || row_of(&schema, &cells, &times, row));
            w.push(read, row as u64 + 1, None);
        }
        Ok(w.take())
    };
    // A record number (across the file) → its row group and row.
    let position = |record: u64, _: Option<u64>| {
        let r = usize::try_from(record.saturating_sub(1)).unwrap_or(usize::MAX);
        let g = starts.partition_point(|&s| s <= r).saturating_sub(1);
        format!(
            "row group {g}, row {}",
            r - starts.get(g).copied().unwrap_or(0) + 1
        )
    };
    let workers = super::blocks::workers();
    // Each worker folds its events into a part of the sink when it offers
    // one, so only what the part passes on crosses threads.
    let parts = std::sync::Mutex::new((0..workers).map(|_| c.fork()).collect::<Vec<_>>());
    let (source, fields): (Arc<str>, _) = (Arc::from(c.source()), c.fields());
    // One decoded row group per worker waits to be handed on; when the
    // workers fold, what waits is only what their parts pass on (for
    // `report`, the failures: at most four row groups' worth per worker).
    let folding = parts.lock().is_ok_and(|p| p.iter().all(Option::is_some));
    let in_flight = if folding { 4 * workers } else { workers };
    let done = super::ordered::map_in_order(
        starts.len(),
        workers,
        in_flight,
        || {
            let part = parts.lock().ok().and_then(|mut p| p.pop()).flatten();
            Worker::new(source.clone(), fields, part)
        },
        |g, w| super::ordered::caught(|| group(g, w)).and_then(|r| r),
        super::ordered::Hooks {
            between: Worker::between,
            finish: Worker::finish,
        },
        |g, outcomes| {
            let outcomes = outcomes.map_err(|m| at(c, format!("row group {g}"), m))?;
            for o in outcomes {
                c.apply(o, starts[g] as u64, &position)?;
            }
            Ok(())
        },
    )?;
    let unused = parts.into_inner().unwrap_or_default().into_iter().flatten();
    for part in done.into_iter().filter_map(Worker::into_part).chain(unused) {
        c.join(part)?;
    }
    Ok(Shape::Parquet)
}

/// Each row of the Parquet file at `path` as a JSON object of the columns
/// named in `columns` (any case; nested columns as JSON values), one row
/// group at a time, with where it is (`row group g, row r`): for inputs
/// read record by record (a workspace's audit). Other columns are not
/// decoded; one of `columns` of a type that cannot be read is an error.
/// A row with a cell holding more text than a field may comes with why
/// (for the reader to refuse it if it is a row it reads).
pub(super) fn rows(
    path: &str,
    columns: &[&str],
    mut each: impl FnMut(
        String,
        serde_json::Map<String, serde_json::Value>,
        Option<String>,
    ) -> Result<()>,
) -> Result<()> {
    let open = || std::fs::File::open(path).map_err(|e| Error::io(path, e));
    let bad = |position: String, message: String| Error::Malformed {
        at: Location {
            source: path.to_string(),
            position,
        },
        message,
    };
    let (metadata, arrow) = footer(open()?).map_err(|e| bad("footer".into(), e))?;
    let mut wanted = Vec::new();
    for (name, field) in arrow.iter() {
        if !columns.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            continue;
        }
        if let Some(why) = super::nested::unreadable(&field.dtype) {
            return Err(bad(
                "footer".into(),
                format!("column {name} {why}: expected strings, numbers, timestamps and nested columns up to 32 levels"),
            ));
        }
        wanted.push(name.to_string());
    }
    let mut start = 0usize;
    for (g, rg) in metadata.row_groups.iter().enumerate() {
        let opened = || std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"));
        let df = decode_group(opened, &metadata, g, start, wanted.clone())
            .map_err(|m| bad(format!("row group {g}"), m))?;
        start += rg.num_rows();
        let mut cols = Vec::with_capacity(df.width());
        for c in df.columns() {
            let dt = arrow.get(c.name().as_str()).map(|f| &f.dtype);
            let v = super::nested::values(c.as_materialized_series(), dt)
                .map_err(|m| bad(format!("row group {g}"), m))?;
            cols.push((c.name().to_string(), v));
        }
        for row in 0..df.height() {
            let mut m = serde_json::Map::new();
            let mut long = None;
            for (name, v) in &mut cols {
                let v = std::mem::take(&mut v[row]);
                if long.is_none() {
                    long = schema::too_long(name, text_bytes(&v));
                }
                m.insert(name.clone(), v);
            }
            each(format!("row group {g}, row {}", row + 1), m, long)?;
        }
    }
    Ok(())
}

/// The bytes of text in a cell decoded as JSON (a nested cell's keys and
/// values together), to bound it as a text field is bounded.
fn text_bytes(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(text_bytes).sum(),
        Value::Object(m) => m.iter().map(|(k, v)| k.len() + text_bytes(v)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A footer longer than the bound is refused from the file's last 8
    /// bytes alone; a file within it is handed back at its start.
    #[test]
    fn a_footer_past_the_bound_is_refused_before_it_is_read() {
        let with_footer = |length: u32| {
            let mut b = b"PAR1 rows and footer ".to_vec();
            b.extend_from_slice(&length.to_le_bytes());
            b.extend_from_slice(b"PAR1");
            std::io::Cursor::new(b)
        };
        let huge = (crate::limits::PARQUET_FOOTER + 1) as u32;
        let e = bounded(with_footer(huge)).err().unwrap_or_default();
        assert!(e.contains(&format!("a footer of {huge} bytes")), "{e}");
        let ok = bounded(with_footer(12)).unwrap();
        assert_eq!(ok.position(), 0);
        // Too short to have a footer: the decoder says what is wrong.
        assert!(bounded(std::io::Cursor::new(b"PAR1".to_vec())).is_ok());
    }

    /// Integers below 1000 share their text; others, negatives and nulls
    /// read and key as their own text.
    #[test]
    fn small_integers_share_their_text() {
        let values = [
            Some(200),
            Some(-5),
            None,
            Some(1000),
            Some(200),
            Some(0),
            Some(999),
        ];
        let mut p = Packed {
            from: Typed::Integer,
            ..Default::default()
        };
        let mut small = vec![None; 1000];
        for v in values {
            p.push_int(v, &mut small);
        }
        let cells = Cells::Packed(p);
        for (row, v) in values.iter().enumerate() {
            let text = v.map(|v| v.to_string());
            assert_eq!(cells.get(row), text.as_deref(), "row {row}");
            let mut key = [0u8; 16];
            if let Some(t) = &text {
                key[..t.len()].copy_from_slice(t.as_bytes());
                key[15] = t.len() as u8 + 1;
            }
            assert_eq!(cells.key(row), Some(u128::from_le_bytes(key)), "row {row}");
        }
        // The second 200 is the first's text.
        let Cells::Packed(p) = &cells else {
            unreachable!()
        };
        assert_eq!(p.spans[0], p.spans[4]);
    }
}
