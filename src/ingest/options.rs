//! What a command asks of the readers.

use crate::pipeline::Fields;

/// Options for reading.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Skip malformed records (counted) instead of failing on the first.
    pub skip_invalid: bool,
    /// Which event fields to keep (the others are still validated where
    /// they are read, but not stored or, in CSV, decoded).
    pub fields: Fields,
}
