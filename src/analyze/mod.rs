//! What the events mean: per-caller aggregates, explained denials, the
//! findings of a review and the report that gathers them. Every fold here
//! takes events one at a time (see [`crate::pipeline::Sink`]), so memory
//! grows with callers and objects, not with the input.

pub mod access;
pub mod activity;
pub mod attribute;
pub mod callers;
pub mod explain;
pub mod findings;
pub mod permissions;
pub mod plan;
pub mod redact;
pub mod report;
pub mod rights;
pub mod select;
pub mod usage;
