//! `events --format parquet`: the canonical events as a Parquet file with
//! real types (time as a UTC timestamp in microseconds, integers,
//! booleans, strings), written one row group at a time through polars so
//! that any number of events stays in flat memory; DuckDB, polars and
//! Spark read it as it is.

use crate::error::{Error, Result};
use crate::event::{Event, Text, VaultKind};
use crate::pipeline::Sink;
use polars::prelude::*;
use std::io::Write;

/// Events per row group.
const ROW_GROUP: usize = 128 * 1024;

/// How many of [`Event::texts`] are string columns of their own (the
/// rest, `caller_scp` and `request_uri`, come after `source_record`).
const TEXTS: usize = 17;

/// One row group's columns, filled event by event.
#[derive(Default)]
struct Columns {
    time: Vec<i64>,
    operation: Vec<String>,
    status: Vec<Option<i32>>,
    texts: Vec<Vec<Option<String>>>,
    rbac_authorized: Vec<Option<bool>>,
    access_policy_match: Vec<Option<bool>>,
    duration_ms: Vec<Option<i64>>,
    source: Vec<String>,
    source_record: Vec<u64>,
    caller_scp: Vec<Option<String>>,
    request_uri: Vec<Option<String>>,
    vault_kind: Vec<Option<&'static str>>,
}

impl Columns {
    fn push(&mut self, e: &Event) {
        if self.texts.is_empty() {
            self.texts = vec![Vec::new(); TEXTS];
        }
        let s = |t: &Text| t.as_deref().map(str::to_string);
        self.time.push(e.time.timestamp_micros());
        self.operation.push(e.operation.to_string());
        self.status.push(e.status.map(i32::from));
        for (col, v) in self.texts.iter_mut().zip(&e.texts()[..TEXTS]) {
            col.push(s(v));
        }
        self.rbac_authorized.push(e.rbac_authorized);
        self.access_policy_match.push(e.access_policy_match);
        self.duration_ms.push(e.duration_ms);
        self.source.push(e.source.to_string());
        self.source_record.push(e.source_record);
        self.caller_scp.push(s(&e.caller_scp));
        self.request_uri.push(s(&e.request_uri));
        self.vault_kind.push(e.vault_kind.map(|k| match k {
            VaultKind::Vault => "vault",
            VaultKind::ManagedHsm => "managed_hsm",
        }));
    }

    fn len(&self) -> usize {
        self.time.len()
    }

    /// The columns as a data frame in [`crate::event::COLUMNS`] order,
    /// leaving this empty.
    fn take(&mut self) -> PolarsResult<DataFrame> {
        let c = std::mem::take(self);
        let time = Series::new("time".into(), c.time).cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))?;
        let mut texts = c.texts.into_iter();
        let mut text = |name: &str| Column::new(name.into(), texts.next().unwrap_or_default());
        let cols = vec![
            time.into(),
            text("vault"),
            text("resource_id"),
            Column::new("operation".into(), c.operation),
            text("object_type"),
            text("object_name"),
            Column::new("status".into(), c.status),
            text("result_signature"),
            text("result_description"),
            text("caller_appid"),
            text("caller_oid"),
            text("caller_upn"),
            text("caller_idtyp"),
            text("caller_appidacr"),
            text("caller_mirid"),
            text("caller_tenant"),
            text("caller_ip"),
            text("client_info"),
            text("correlation_id"),
            Column::new("rbac_authorized".into(), c.rbac_authorized),
            Column::new("access_policy_match".into(), c.access_policy_match),
            text("applied_assignment_id"),
            Column::new("duration_ms".into(), c.duration_ms),
            Column::new("source".into(), c.source),
            Column::new("source_record".into(), c.source_record),
            Column::new("caller_scp".into(), c.caller_scp),
            Column::new("request_uri".into(), c.request_uri),
            Column::new("vault_kind".into(), c.vault_kind),
        ];
        DataFrame::new_infer_height(cols)
    }
}

/// Writes events to Parquet as they arrive, a row group at a time.
pub struct ParquetEvents<'w> {
    writer: polars::io::parquet::write::BatchedWriter<&'w mut dyn Write>,
    buffered: Columns,
    rows: u64,
}

fn io(e: PolarsError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl<'w> ParquetEvents<'w> {
    pub fn new(w: &'w mut dyn Write) -> std::io::Result<Self> {
        // The schema, from an empty row group.
        let schema = Columns::default().take().map_err(io)?.schema().clone();
        let writer = ParquetWriter::new(w)
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![(
                crate::event::PARQUET_KEY.to_string(),
                crate::event::PARQUET_VALUE.to_string(),
            )])))
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::default())
            .batched(&schema)
            .map_err(io)?;
        Ok(ParquetEvents {
            writer,
            buffered: Columns::default(),
            rows: 0,
        })
    }

    fn flush_group(&mut self) -> std::io::Result<()> {
        if self.buffered.len() == 0 {
            return Ok(());
        }
        self.rows += self.buffered.len() as u64;
        let df = self.buffered.take().map_err(io)?;
        self.writer.write_batch(&df).map_err(io)
    }

    /// Writes the last row group and the footer.
    pub fn finish(mut self) -> std::io::Result<u64> {
        self.flush_group()?;
        self.writer.finish().map_err(io)?;
        Ok(self.rows)
    }
}

impl Sink for ParquetEvents<'_> {
    fn event(&mut self, e: Event) -> Result<()> {
        self.buffered.push(&e);
        if self.buffered.len() >= ROW_GROUP {
            self.flush_group()
                .map_err(|e| Error::Output(e.to_string()))?;
        }
        Ok(())
    }
}
