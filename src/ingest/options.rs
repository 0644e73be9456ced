//! What a command asks of the readers.

use crate::pipeline::Fields;
use chrono::{DateTime, Utc};

/// Options for reading.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Skip malformed records (counted) instead of failing on the first.
    pub skip_invalid: bool,
    /// Which event fields to keep (the others are still validated where
    /// they are read, but not stored or, in CSV, decoded).
    pub fields: Fields,
    /// The period (`--since`, `--from`, `--to`) as (from, to), to inclusive
    /// of nothing: blobs of an archive tree whose `y=/m=/d=/h=` hour lies
    /// outside it are not opened.
    pub period: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    /// Parse on the calling thread (a file read among many at once).
    pub inline: bool,
    /// With `inline`: the file's place among those read at once, which
    /// orders the events folded on the calling thread (see
    /// [`crate::pipeline::ThreadFold::add`]).
    pub file: u64,
}
