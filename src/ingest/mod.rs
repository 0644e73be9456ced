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
mod delta;
mod detect;
mod files;
mod interner;
pub mod inventory;
mod json;
mod like;
mod nested;
mod normalize;
pub mod objects;
mod options;
mod ordered;
mod parquet;
mod progress;
mod raw_line;
pub mod schema;
mod shape;
mod source;
mod walk;

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
    let Expanded {
        paths,
        unreadable,
        all_small,
    } = expand_paths(args, opts.skip_invalid)?;
    let mut interner = Interner::default();
    let mut progress = Progress::new();
    let mut out = Ingested {
        files_skipped: unreadable,
        ..Default::default()
    };
    let mut empty = Vec::new();
    // Blobs of an archive tree whose hour lies outside the period are not
    // opened (counted). Without a period no path is looked at.
    let period = opts.period.0.is_some() || opts.period.1.is_some();
    let paths: Vec<(String, bool)> = paths
        .into_iter()
        .filter(|(p, walked)| {
            let outside = period
                && *walked
                && files::blob_hour(p).is_some_and(|h| !files::blob_in_period(h, &opts.period));
            if outside {
                out.blobs_outside_period += 1;
            }
            !outside
        })
        .collect();
    if out.blobs_outside_period > 0 {
        crate::output::note!(
            "kvaudit: {} blob(s) outside the period by their y=/m=/d=/h= path were not opened",
            out.blobs_outside_period
        );
    }
    // Many small files (an archive tree): read on every core, handed on in
    // order. A single file, a pipe or a large file: the block reader.
    // (Walked entries are regular files; a named path is looked at.)
    let jobs: Vec<usize> = paths
        .iter()
        .enumerate()
        .filter(|(_, (p, walked))| {
            p != "-" && (*walked || std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        })
        .map(|(i, _)| i)
        .collect();
    let jobs = if jobs.len() >= 2 { jobs } else { Vec::new() };
    // When every input is a small file of a tree (an archive), the sink's
    // folds run on the workers too, events ordered by file and record; a
    // large file among them is read here with parts of its own, whose
    // order would not compare, so then the folds stay on this thread.
    let parts: Vec<Box<dyn crate::pipeline::ThreadFold>> =
        if all_small && !jobs.is_empty() && jobs.len() == paths.len() {
            let parts: Vec<_> = (0..blocks::workers()).map_while(|_| sink.fork()).collect();
            parts
        } else {
            Vec::new()
        };
    let in_parts = !parts.is_empty();
    progress.files(paths.len());
    let parts = files::read_in_order(&paths, &jobs, opts, parts, |i, read| {
        let (p, walked) = &paths[i];
        let result = match read {
            // Not a file job, or larger than a worker takes: read here.
            None | Some(None) => read_one(p, opts, &mut interner, sink, &mut progress),
            Some(Some(Ok((stats, events)))) => {
                progress.tick_n(stats.rows_kept);
                for e in events {
                    if in_parts {
                        sink.forwarded(e)?;
                    } else {
                        sink.event(e)?;
                    }
                }
                Ok(stats)
            }
            Some(Some(Err(e))) => Err(e),
        };
        progress.file_done();
        match result {
            Ok(stats) => {
                // Only other categories or providers (an Activity Log
                // export): counted, and an error only if no input has events.
                if let Some(e) = detect::no_rows(&stats) {
                    empty.push(e);
                }
                out.files.push(stats);
                Ok(())
            }
            // In a walked directory, files that are not logs (a README, an
            // empty blob) are reported and passed over, not fatal; so is an
            // unreadable or malformed file with --skip-invalid. The reason
            // and first position are kept in `files_skipped`.
            Err(e) if (*walked || matches!(e, Error::Malformed { .. })) && skippable(&e, opts) => {
                crate::output::note!("kvaudit: warning: skipping {e}");
                out.files_skipped.push(e.to_string());
                Ok(())
            }
            Err(e) => Err(e),
        }
    })?;
    for part in parts {
        sink.join(part)?;
    }
    progress.done();
    // Every blob of an archive tree lying outside the period is what the
    // period asked for, as when a file's rows all lie outside it.
    if out.files.is_empty() && out.files_skipped.is_empty() && out.blobs_outside_period > 0 {
        return Ok(out);
    }
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
