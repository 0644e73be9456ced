//! Reads Parquet (detected by its `PAR1` magic) through polars, one row
//! group at a time: a lakehouse table of `AZKVAuditLogs` or
//! `AzureDiagnostics` columns (as Log Analytics, Azure Data Explorer's
//! `.export` or DuckDB write them, `Identity` as JSON text), or kvaudit's
//! own canonical events (`events --format parquet`). Errors name the file
//! and row group.

use super::collector::Collector;
use super::schema::{require_columns, FlatSchema};
use super::shape::Shape;
use crate::error::{Error, Location, Result};
use polars::prelude::*;

fn strings(ca: &StringChunked) -> Vec<Option<String>> {
    (0..ca.len())
        .map(|i| ca.get(i).map(str::to_string))
        .collect()
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
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
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
/// row group) row group by row group.
pub(super) fn read<R: polars::io::mmap::MmapBytesReader>(
    open: impl Fn() -> std::io::Result<R>,
    c: &mut Collector,
) -> Result<Shape> {
    let reader = |c: &Collector| open().map_err(|e| Error::io(c.source(), e));
    let mut head = ParquetReader::new(reader(c)?);
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
    let mut offset = 0usize;
    let mut record = 0u64;
    for (g, rg) in metadata.row_groups.iter().enumerate() {
        let n = rg.num_rows();
        let mut r = ParquetReader::new(reader(c)?)
            .with_slice(Some((offset, n)))
            .with_columns(Some(wanted.iter().map(|&i| names[i].clone()).collect()));
        r.set_metadata(metadata.clone());
        offset += n;
        let df = r
            .finish()
            .map_err(|e| at(c, format!("row group {g}"), format!("unreadable: {e}")))?;
        // Column i of the file → its values in this row group.
        let mut cells: Vec<Option<Vec<Option<String>>>> = vec![None; names.len()];
        for &i in &wanted {
            let col = df
                .column(&names[i])
                .map_err(|e| at(c, format!("row group {g}"), e.to_string()))?;
            cells[i] = Some(texts(col, &names[i]).map_err(|m| at(c, format!("row group {g}"), m))?);
        }
        for row in 0..df.height() {
            record += 1;
            let raw = schema.row(|i| {
                cells
                    .get(i)
                    .and_then(Option::as_ref)
                    .and_then(|v| v.get(row))
                    .and_then(Option::as_deref)
            });
            c.push(raw, record, || format!("row group {g}, row {}", row + 1))?;
        }
    }
    Ok(Shape::Parquet)
}
