//! What reading did: rows read, kept and skipped by reason, per input.

use crate::event::Event;
use std::collections::BTreeMap;

/// What reading one input did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FileStats {
    pub source: String,
    pub shape: String,
    pub rows_read: u64,
    pub rows_kept: u64,
    pub rows_skipped: BTreeMap<String, u64>,
    /// Where the first skipped invalid record was.
    pub first_invalid: Option<String>,
}

/// All events read, and the accounting for each input.
#[derive(Debug, Default)]
pub struct Ingested {
    pub events: Vec<Event>,
    pub files: Vec<FileStats>,
    /// Files in walked directories that were not Key Vault logs.
    pub files_skipped: Vec<String>,
    /// Events read but left out by the selection flags (`--vault`, ...).
    pub selected_out: u64,
    /// Blobs of an archive tree not opened: their `y=/m=/d=/h=` hour lies
    /// outside the period.
    pub blobs_outside_period: u64,
}

impl Ingested {
    pub fn rows_read(&self) -> u64 {
        self.files.iter().map(|f| f.rows_read).sum()
    }
    pub fn rows_kept(&self) -> u64 {
        self.files.iter().map(|f| f.rows_kept).sum()
    }
    pub fn rows_skipped(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for f in &self.files {
            for (k, v) in &f.rows_skipped {
                *m.entry(k.clone()).or_insert(0) += v;
            }
        }
        m
    }
}
