//! Turns Parquet's nested columns (structs, lists, maps) into JSON values:
//! lakehouse tables keep `Identity`, `properties`, `user_identity` or
//! `request_params` as nested types where Log Analytics exports JSON text,
//! and the readers take them the same way either way.

use polars::prelude::*;
use serde_json::{Map, Number, Value};

fn failed(e: PolarsError) -> String {
    e.to_string()
}

/// Deepest nesting of structs, lists and maps read (decoders recurse per
/// level; a crafted file of hundreds of levels would exhaust the stack).
const MAX_DEPTH: usize = 32;

/// Why a Parquet column of type `dt` cannot be read (a type kvaudit has no
/// use for and the Parquet decoder it is built with cannot take, such as a
/// decimal, or nesting deeper than [`MAX_DEPTH`]); None when it can.
/// Checked from the footer, before any row is decoded.
pub(super) fn unreadable(dt: &ArrowDataType) -> Option<String> {
    check(dt, 0)
}

fn check(dt: &ArrowDataType, depth: usize) -> Option<String> {
    use ArrowDataType as D;
    if depth > MAX_DEPTH {
        return Some(format!("nests more than {MAX_DEPTH} levels"));
    }
    match dt {
        D::Null
        | D::Boolean
        | D::Int8
        | D::Int16
        | D::Int32
        | D::Int64
        | D::UInt8
        | D::UInt16
        | D::UInt32
        | D::UInt64
        | D::Float16
        | D::Float32
        | D::Float64
        | D::Timestamp(..)
        | D::Date32
        | D::Utf8
        | D::LargeUtf8
        | D::Utf8View
        | D::Binary
        | D::LargeBinary
        | D::BinaryView => None,
        // A UUID (DuckDB's type for ids it recognises), read as its text,
        // a column of its own or a field (a claim's oid) of a struct.
        D::FixedSizeBinary(16) => None,
        D::List(f) | D::LargeList(f) | D::Map(f, _) => check(&f.dtype, depth + 1),
        D::Struct(fields) => fields.iter().find_map(|f| check(&f.dtype, depth + 1)),
        D::Dictionary(_, v, _) => check(v, depth),
        // pyarrow's `arrow.json` among them: polars 0.55 reads none.
        D::Extension(ext) => Some(format!(
            "holds the extension type {} (write it as its storage type, a string)",
            ext.name
        )),
        other => Some(format!("holds {other:?}")),
    }
}

/// A timestamp column as RFC 3339 text in UTC with microseconds.
pub(super) fn datetime_texts(s: &Series) -> Result<Vec<Option<String>>, String> {
    let DataType::Datetime(unit, _) = s.dtype() else {
        return Err(format!("column {} is not a timestamp", s.name()));
    };
    let to_micros = |v: i64| match unit {
        TimeUnit::Nanoseconds => v.div_euclid(1000),
        TimeUnit::Microseconds => v,
        TimeUnit::Milliseconds => v.saturating_mul(1000),
    };
    let raw = s.cast(&DataType::Int64).map_err(failed)?;
    let raw = raw.i64().map_err(failed)?;
    Ok(raw
        .iter()
        .map(|v| {
            v.and_then(|v| chrono::DateTime::from_timestamp_micros(to_micros(v)))
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        })
        .collect())
}

/// A list of `{key, value}` structs (how Parquet's MAP type reads) as one
/// object; any other list as an array.
fn map_or_array(items: Vec<Value>) -> Value {
    let is_entry = |v: &Value| {
        v.as_object().is_some_and(|o| {
            o.len() == 2 && o.get("key").is_some_and(Value::is_string) && o.contains_key("value")
        })
    };
    if !items.is_empty() && items.iter().all(is_entry) {
        let mut m = Map::new();
        for item in items {
            if let Value::Object(mut o) = item {
                if let (Some(Value::String(k)), Some(v)) = (o.remove("key"), o.remove("value")) {
                    m.insert(k, v);
                }
            }
        }
        Value::Object(m)
    } else {
        Value::Array(items)
    }
}

/// The type the file gives the field `name` of a struct of type `dt`.
fn field<'a>(dt: Option<&'a ArrowDataType>, name: &str) -> Option<&'a ArrowDataType> {
    match dt? {
        ArrowDataType::Struct(fields) => fields.iter().find(|f| f.name == name).map(|f| &f.dtype),
        _ => None,
    }
}

/// The type the file gives the items of a list or map of type `dt`.
fn items(dt: Option<&ArrowDataType>) -> Option<&ArrowDataType> {
    match dt? {
        ArrowDataType::List(f) | ArrowDataType::LargeList(f) | ArrowDataType::Map(f, _) => {
            Some(&f.dtype)
        }
        _ => None,
    }
}

/// `b` as text: a UUID's 16 bytes in their 8-4-4-4-12 form, else UTF-8
/// as it is.
pub(super) fn binary_text(b: &[u8], uuid: bool) -> Option<String> {
    if !uuid {
        return std::str::from_utf8(b).ok().map(str::to_string);
    }
    let b: &[u8; 16] = b.try_into().ok()?;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push(char::from(HEX[usize::from(x >> 4)]));
        text.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    Some(text)
}

/// Bytes as the value they hold: a UUID (`uuid`: the file's type is 16
/// fixed bytes) as its 8-4-4-4-12 text; else UTF-8 text, as the JSON it
/// holds when it is JSON (DuckDB's JSON type, which it gives a field whose
/// values differ in type), else as a string. None: neither.
fn bytes_value(b: &[u8], uuid: bool) -> Option<Value> {
    if uuid {
        return binary_text(b, true).map(Value::String);
    }
    let text = std::str::from_utf8(b).ok()?;
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())))
}

/// Every value of column `s` as JSON (null where the column is null),
/// `dt` the type the file gives it (for bytes: a UUID or text); types
/// kvaudit has no use for are an error naming the column.
pub(super) fn values(s: &Series, dt: Option<&ArrowDataType>) -> Result<Vec<Value>, String> {
    let n = s.len();
    let mut out: Vec<Value> = match s.dtype() {
        DataType::Struct(_) => {
            let ca = s.struct_().map_err(failed)?;
            let mut cols: Vec<(String, Vec<Value>)> = Vec::new();
            for f in ca.fields_as_series() {
                let name = f.name().to_string();
                let v = values(&f, field(dt, &name))?;
                cols.push((name, v));
            }
            (0..n)
                .map(|i| {
                    let mut m = Map::new();
                    for (name, v) in &mut cols {
                        m.insert(name.clone(), std::mem::take(&mut v[i]));
                    }
                    Value::Object(m)
                })
                .collect()
        }
        DataType::List(_) => {
            let ca = s.list().map_err(failed)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(match ca.get_as_series(i) {
                    None => Value::Null,
                    Some(list) => map_or_array(values(&list, items(dt))?),
                });
            }
            out
        }
        DataType::String => s
            .str()
            .map_err(failed)?
            .iter()
            .map(|v| v.map_or(Value::Null, |v| Value::String(v.to_string())))
            .collect(),
        DataType::Boolean => s
            .bool()
            .map_err(failed)?
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Bool))
            .collect(),
        t if widens_to_i64(t) => {
            let c = s.cast(&DataType::Int64).map_err(failed)?;
            c.i64()
                .map_err(failed)?
                .iter()
                .map(|v| v.map_or(Value::Null, |v| Value::Number(v.into())))
                .collect()
        }
        DataType::UInt64 => s
            .u64()
            .map_err(failed)?
            .iter()
            .map(|v| v.map_or(Value::Null, |v| Value::Number(v.into())))
            .collect(),
        DataType::Float32 | DataType::Float64 => {
            let c = s.cast(&DataType::Float64).map_err(failed)?;
            c.f64()
                .map_err(failed)?
                .iter()
                .map(|v| v.and_then(Number::from_f64).map_or(Value::Null, Value::Number))
                .collect()
        }
        DataType::Datetime(..) => datetime_texts(s)?
            .into_iter()
            .map(|v| v.map_or(Value::Null, Value::String))
            .collect(),
        DataType::Date => {
            let c = s.cast(&DataType::Int32).map_err(failed)?;
            c.i32()
                .map_err(failed)?
                .iter()
                .map(|v| {
                    v.and_then(|days| chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0))
                        .map_or(Value::Null, |t| Value::String(t.date_naive().to_string()))
                })
                .collect()
        }
        DataType::Null => vec![Value::Null; n],
        DataType::Binary | DataType::BinaryOffset => {
            let uuid = matches!(dt, Some(ArrowDataType::FixedSizeBinary(16)));
            let b = s.cast(&DataType::Binary).map_err(failed)?;
            let b = b.binary().map_err(failed)?;
            let mut out = Vec::with_capacity(n);
            for (row, v) in b.iter().enumerate() {
                out.push(match v {
                    None => Value::Null,
                    Some(v) => bytes_value(v, uuid).ok_or_else(|| {
                        format!(
                            "{}, row {}: expected {}, found {} bytes that are not",
                            s.name(),
                            row + 1,
                            if uuid { "a UUID (16 bytes)" } else { "text (UTF-8)" },
                            v.len()
                        )
                    })?,
                });
            }
            out
        }
        other => {
            return Err(format!(
                "column {} is {other}: kvaudit reads strings, numbers, booleans, timestamps, bytes (text, JSON or UUIDs), structs, lists and maps",
                s.name()
            ))
        }
    };
    // A null struct or list row is null, whatever its children hold.
    if matches!(s.dtype(), DataType::Struct(_) | DataType::List(_)) && s.null_count() > 0 {
        for (v, null) in out.iter_mut().zip(s.is_null().iter()) {
            if null == Some(true) {
                *v = Value::Null;
            }
        }
    }
    Ok(out)
}

/// A nested column as the JSON text a Log Analytics export would hold.
pub(super) fn texts(s: &Series, dt: Option<&ArrowDataType>) -> Result<Vec<Option<String>>, String> {
    Ok(values(s, dt)?
        .into_iter()
        .map(|v| match v {
            Value::Null => None,
            Value::String(t) => Some(t),
            other => Some(other.to_string()),
        })
        .collect())
}

/// Whether a column of this type is read as 64-bit signed integers
/// without loss (every integer type but `UInt64`).
pub(super) fn widens_to_i64(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
    )
}
