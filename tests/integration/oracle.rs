//! The reference the streaming folds are checked against: the per-caller
//! aggregates computed by polars' lazy engine over every event in memory.

use kvaudit::analyze::callers::CallerRow;
use kvaudit::event::{format_time, Event};
use kvaudit::identify::{identities, Catalog, Identity};
use polars::prelude::*;

/// Aggregates events per caller, most active first.
pub(crate) fn callers(events: &[Event], catalog: &Catalog) -> PolarsResult<Vec<CallerRow>> {
    let df = frame(events)?;
    let out = df
        .lazy()
        .group_by([col("appid"), col("oid"), col("upn")])
        .agg([
            len().alias("events"),
            col("status").eq(lit(403u32)).sum().alias("denied"),
            col("vault")
                .drop_nulls()
                .unique()
                .sort(Default::default())
                .alias("vault_names"),
            distinct_objects("secret"),
            distinct_objects("key"),
            distinct_objects("certificate"),
            col("operation")
                .unique()
                .sort(Default::default())
                .alias("operations"),
            col("client")
                .drop_nulls()
                .unique()
                .sort(Default::default())
                .alias("clients"),
            col("time").min().alias("first"),
            col("time").max().alias("last"),
        ])
        .sort(
            ["events", "appid", "oid", "upn"],
            SortMultipleOptions::default()
                .with_order_descending_multi([true, false, false, false])
                .with_nulls_last(true),
        )
        .collect()?;
    rows(&out, events, catalog)
}

fn strings(s: &Series) -> Vec<String> {
    s.str()
        .map(|ca| ca.iter().flatten().map(str::to_string).collect())
        .unwrap_or_default()
}

fn rows(df: &DataFrame, events: &[Event], catalog: &Catalog) -> PolarsResult<Vec<CallerRow>> {
    let s = |n: &str| df.column(n).map(|c| c.as_materialized_series().clone());
    let appid = s("appid")?;
    let oid = s("oid")?;
    let upn = s("upn")?;
    let (appid, oid, upn) = (appid.str()?, oid.str()?, upn.str()?);
    let n = |name: &str| -> PolarsResult<Vec<u64>> {
        let c = s(name)?.cast(&DataType::UInt64)?;
        Ok(c.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
    };
    let (ev, denied, secrets, keys, certs) = (
        n("events")?,
        n("denied")?,
        n("secrets")?,
        n("keys")?,
        n("certificates")?,
    );
    let first = s("first")?;
    let last = s("last")?;
    let (first, last) = (first.i64()?, last.i64()?);
    let lists = |name: &str| -> PolarsResult<Vec<Vec<String>>> {
        let c = s(name)?;
        let l = c.list()?;
        Ok((0..df.height())
            .map(|i| l.get_as_series(i).map(|x| strings(&x)).unwrap_or_default())
            .collect())
    };
    let (vaults, ops, clients) = (
        lists("vault_names")?,
        lists("operations")?,
        lists("clients")?,
    );
    let when = |v: Option<i64>| {
        v.and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| format_time(&t))
            .unwrap_or_default()
    };
    let identities = identities(events, catalog);
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let (a, o, u) = (appid.get(i), oid.get(i), upn.get(i));
        let id: Identity = identities
            .get(&(
                a.map(str::to_string),
                o.map(str::to_string),
                u.map(str::to_string),
            ))
            .cloned()
            .unwrap_or_default();
        out.push(CallerRow {
            appid: a.map(str::to_string),
            oid: o.map(str::to_string),
            upn: u.map(str::to_string),
            kind: id.kind.as_str().to_string(),
            mi_type: id.mi_type,
            name: id.name,
            client_app: id.client_app,
            events: ev[i],
            denied: denied[i],
            vaults: vaults[i].len() as u64,
            vault_names: vaults[i].clone(),
            secrets: secrets[i],
            keys: keys[i],
            certificates: certs[i],
            operations: ops[i].clone(),
            first_seen: when(first.get(i)),
            last_seen: when(last.get(i)),
            clients: clients[i].clone(),
        });
    }
    Ok(out)
}

fn frame(events: &[Event]) -> PolarsResult<DataFrame> {
    let text = |f: &dyn Fn(&Event) -> Option<&str>| -> Vec<Option<&str>> {
        events.iter().map(f).collect()
    };
    let time: Vec<i64> = events.iter().map(|e| e.time.timestamp_micros()).collect();
    let status: Vec<Option<u32>> = events.iter().map(|e| e.status.map(u32::from)).collect();
    DataFrame::new_infer_height(vec![
        Column::new("appid".into(), text(&|e| e.caller_appid.as_deref())),
        Column::new("oid".into(), text(&|e| e.caller_oid.as_deref())),
        Column::new("upn".into(), text(&|e| e.caller_upn.as_deref())),
        Column::new("vault".into(), text(&|e| e.vault.as_deref())),
        Column::new("object_type".into(), text(&|e| e.object_type.as_deref())),
        Column::new("object_name".into(), text(&|e| e.object_name.as_deref())),
        Column::new("operation".into(), text(&|e| Some(&*e.operation))),
        Column::new("client".into(), text(&|e| e.client_info.as_deref())),
        Column::new("time".into(), time),
        Column::new("status".into(), status),
    ])
}

fn distinct_objects(kind: &str) -> Expr {
    col("object_name")
        .filter(col("object_type").eq(lit(kind)))
        .drop_nulls()
        .n_unique()
        .alias(format!("{kind}s"))
}

/// Reads an exported CSV with polars' CSV reader (every column as text)
/// and writes its rows as flat JSON Lines (one object per row, the same
/// column names) to `out`: the same records as the CSV, read by another
/// parser, for kvaudit's JSON Lines reader.
pub(crate) fn csv_rows_as_json_lines(csv: &str, out: &std::path::Path) -> PolarsResult<()> {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv.into()))?
        .finish()?;
    let cols: Vec<(String, Series)> = df
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.as_materialized_series().clone()))
        .collect();
    let mut text = String::new();
    for i in 0..df.height() {
        let mut row = serde_json::Map::new();
        for (name, s) in &cols {
            let v = s.str()?.get(i).map(str::to_string);
            row.insert(
                name.clone(),
                v.map_or(serde_json::Value::Null, serde_json::Value::String),
            );
        }
        text.push_str(&serde_json::Value::Object(row).to_string());
        text.push('\n');
    }
    std::fs::write(out, text).map_err(|e| PolarsError::ComputeError(e.to_string().into()))
}
