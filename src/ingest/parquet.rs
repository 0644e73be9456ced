//! Reads Parquet (detected by its `PAR1` magic) through polars, one row
//! group at a time: a lakehouse table of `AZKVAuditLogs` or
//! `AzureDiagnostics` columns (as Log Analytics, Azure Data Explorer's
//! `.export` or DuckDB write them, `Identity` as JSON text), or kvaudit's
//! own canonical events (`events --format parquet`). Errors name the file
//! and row group.

use super::collector::Collector;
use super::interner::Interner;
use super::normalize::Outcome;
use super::schema::{require_columns, FlatSchema};
use super::shape::Shape;
use crate::error::{Error, Location, Result};
use polars::prelude::*;
use std::sync::Arc;

fn strings(ca: &StringChunked) -> Vec<Option<String>> {
    (0..ca.len())
        .map(|i| ca.get(i).map(str::to_string))
        .collect()
}

/// A column of a row group as the rows take it: text columns borrowed as
/// they are, others turned into text once.
enum Cells {
    Borrowed(StringChunked),
    Owned(Vec<Option<String>>),
}

impl Cells {
    fn of(c: &Column, name: &str) -> std::result::Result<Cells, String> {
        match c.dtype() {
            DataType::String => Ok(Cells::Borrowed(
                c.as_materialized_series()
                    .str()
                    .map_err(|e| e.to_string())?
                    .rechunk()
                    .into_owned(),
            )),
            _ => texts(c, name).map(Cells::Owned),
        }
    }

    fn get(&self, row: usize) -> Option<&str> {
        match self {
            Cells::Borrowed(ca) => ca.get(row),
            Cells::Owned(v) => v.get(row).and_then(Option::as_deref),
        }
    }
}

/// One column's values as text, the way the flat readers take them.
fn texts(c: &Column, name: &str) -> std::result::Result<Vec<Option<String>>, String> {
    let s = c.as_materialized_series();
    match s.dtype() {
        DataType::Datetime(unit, _) => {
            let per_micro = match unit {
                TimeUnit::Nanoseconds => 1000,
                TimeUnit::Microseconds => 1,
                TimeUnit::Milliseconds => -1000,
            };
            let raw = s.cast(&DataType::Int64).map_err(|e| e.to_string())?;
            let raw = raw.i64().map_err(|e| e.to_string())?;
            Ok((0..raw.len())
                .map(|i| raw.get(i))
                .map(|v| {
                    v.and_then(|v| {
                        let micros = if per_micro > 0 { v / per_micro } else { v * -per_micro };
                        chrono::DateTime::from_timestamp_micros(micros)
                    })
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                })
                .collect())
        }
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
        other => Err(format!(
            "column {name} is {other}: kvaudit reads flat columns (strings, numbers, booleans, timestamps; Identity and properties as JSON text); write nested columns as JSON text"
        )),
    }
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

/// Reads the Parquet file `open` opens (once for the footer, then once per
/// row group): row groups are decoded and normalised on every core and
/// handed on in order, so events, record numbers and errors are those of
/// reading them one after another.
pub(super) fn read<R: polars::io::mmap::MmapBytesReader>(
    open: impl Fn() -> std::io::Result<R> + Sync,
    c: &mut Collector,
) -> Result<Shape> {
    let mut head = ParquetReader::new(open().map_err(|e| Error::io(c.source(), e))?);
    let metadata = head
        .get_metadata()
        .map_err(|e| at(c, "footer".into(), format!("expected a Parquet file: {e}")))?
        .clone();
    let names: Vec<String> = head
        .schema()
        .map_err(|e| {
            at(
                c,
                "footer".into(),
                format!("unreadable Parquet schema: {e}"),
            )
        })?
        .iter_names()
        .map(PlSmallStr::to_string)
        .collect();
    let schema = FlatSchema::resolve(names.iter().map(String::as_str));
    require_columns(&schema, c.source())?;
    let wanted: Vec<usize> = schema.columns();
    // Where each row group starts (rows before it).
    let mut starts = Vec::with_capacity(metadata.row_groups.len());
    let mut offset = 0usize;
    for rg in &metadata.row_groups {
        starts.push(offset);
        offset += rg.num_rows();
    }
    let source: Arc<str> = Arc::from(c.source());
    let fields = c.fields();
    let group = |g: usize, interner: &mut Interner| -> std::result::Result<Vec<Outcome>, String> {
        let n = metadata.row_groups[g].num_rows();
        let mut r = ParquetReader::new(open().map_err(|e| e.to_string())?)
            .with_slice(Some((starts[g], n)))
            .with_columns(Some(wanted.iter().map(|&i| names[i].clone()).collect()));
        r.set_metadata(metadata.clone());
        let df = r.finish().map_err(|e| format!("unreadable: {e}"))?;
        let mut cells: Vec<Option<Cells>> = (0..names.len()).map(|_| None).collect();
        for &i in &wanted {
            let col = df.column(&names[i]).map_err(|e| e.to_string())?;
            cells[i] = Some(Cells::of(col, &names[i])?);
        }
        Ok((0..df.height())
            .map(|row| {
                let raw = schema.row(|i| {
                    cells
                        .get(i)
                        .and_then(Option::as_ref)
                        .and_then(|v| v.get(row))
                });
                Outcome::of(raw, &source, row as u64 + 1, None, interner, fields)
            })
            .collect())
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
    // One decoded row group per worker waits to be handed on.
    super::ordered::map_in_order(
        starts.len(),
        workers,
        workers,
        Interner::default,
        |g, interner| group(g, interner),
        |g, outcomes| {
            let outcomes = outcomes.map_err(|m| at(c, format!("row group {g}"), m))?;
            for o in outcomes {
                c.apply(o, starts[g] as u64, &position)?;
            }
            Ok(())
        },
    )?;
    Ok(Shape::Parquet)
}
