//! Reads every shape of Key Vault log export (raw records, Log Analytics
//! exports of AzureDiagnostics and AZKVAuditLogs as CSV or JSON) into
//! canonical events. The shape is detected from the content, never the file
//! name; one reader per shape family, one normaliser for all.

pub mod access_inventory;
mod accounting;
mod blocks;
mod collector;
mod csv;
pub mod databricks;
mod detect;
mod interner;
pub mod inventory;
mod json;
mod normalize;
pub mod objects;
mod options;
mod progress;
pub mod schema;
mod shape;
mod source;

pub use accounting::{FileStats, Ingested};
pub use options::ReadOptions;
pub use shape::Shape;
pub use source::{expand_paths, strip_bom, Expanded};

use crate::error::{Error, Result};
use crate::pipeline::Sink;
use interner::Interner;
use progress::Progress;
use source::Source;

/// Whether a file found by walking a directory may be passed over.
fn skippable(e: &Error, opts: &ReadOptions) -> bool {
    match e {
        Error::Unrecognised { .. } | Error::Empty { .. } | Error::NoKeyVaultRows { .. } => true,
        Error::Io { .. } | Error::Malformed { .. } => opts.skip_invalid,
        _ => false,
    }
}

/// Reads all inputs into one event table.
pub fn read_all(args: &[String], opts: &ReadOptions) -> Result<Ingested> {
    let mut events = Vec::new();
    let mut out = read_into(args, opts, &mut events)?;
    out.events = events;
    Ok(out)
}

/// Reads all inputs, handing each event to `sink` as it is read (the
/// returned `events` is empty): large CSV and JSON Lines files stream.
pub fn read_into(args: &[String], opts: &ReadOptions, sink: &mut dyn Sink) -> Result<Ingested> {
    let Expanded { paths, unreadable } = expand_paths(args, opts.skip_invalid)?;
    let mut interner = Interner::default();
    let mut progress = Progress::new();
    let mut out = Ingested {
        files_skipped: unreadable,
        ..Default::default()
    };
    let mut empty = Vec::new();
    for (p, walked) in &paths {
        match read_one(p, opts, &mut interner, sink, &mut progress) {
            Ok(stats) => {
                // Only other categories or providers (an Activity Log
                // export): counted, and an error only if no input has events.
                if let Some(e) = detect::no_rows(&stats) {
                    empty.push(e);
                }
                out.files.push(stats);
            }
            // In a walked directory, files that are not logs (a README, an
            // empty blob) are reported and passed over, not fatal; so is an
            // unreadable or malformed file with --skip-invalid. The reason
            // and first position are kept in `files_skipped`.
            Err(e) if (*walked || matches!(e, Error::Malformed { .. })) && skippable(&e, opts) => {
                crate::output::note!("kvaudit: warning: skipping {e}");
                out.files_skipped.push(e.to_string());
            }
            Err(e) => return Err(e),
        }
    }
    progress.done();
    if out.files.is_empty() {
        return Err(Error::Other(format!(
            "no Key Vault logs found in {}",
            args.join(", ")
        )));
    }
    if out.rows_kept() == 0 {
        return Err(if empty.len() == 1 {
            empty.remove(0)
        } else {
            Error::Other(format!(
                "no Key Vault AuditEvent rows in any input ({} rows read; skipped: {})",
                out.rows_read(),
                out.rows_skipped()
                    .iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        });
    }
    for e in empty {
        crate::output::note!("kvaudit: warning: {e}; its rows are counted as skipped");
    }
    Ok(out)
}

fn read_one(
    path: &str,
    opts: &ReadOptions,
    interner: &mut Interner,
    events: &mut dyn Sink,
    progress: &mut Progress,
) -> Result<FileStats> {
    let label = if path == "-" { "<stdin>" } else { path };
    detect::read_source(label, Source::open(path)?, opts, interner, events, progress)
}

/// Reads bytes already in memory as one input named `label` (fuzzing,
/// embedding). Errors and accounting are those of a file.
pub fn read_bytes(label: &str, bytes: Vec<u8>, opts: &ReadOptions) -> Result<Ingested> {
    let mut interner = Interner::default();
    let mut out = Ingested::default();
    let stats = detect::read_source(
        label,
        Source::Bytes(bytes),
        opts,
        &mut interner,
        &mut out.events,
        &mut Progress::hidden(),
    )?;
    if let Some(e) = detect::no_rows(&stats) {
        return Err(e);
    }
    out.files.push(stats);
    Ok(out)
}
