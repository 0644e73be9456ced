//! Reads many small files (an archive tree of hourly blobs) on every core:
//! workers take files from a shared queue, each read in one go and parsed
//! on the worker's thread, and the calling thread hands each file's events
//! to the sink in input order, so events, accounting, errors and
//! `--skip-invalid` are those of reading the files one after another.

use super::accounting::FileStats;
use super::interner::Interner;
use super::options::ReadOptions;
use super::progress::Progress;
use super::source::Source;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::pipeline::ThreadFold;

/// Files up to this size are read by the file workers; larger ones by the
/// block reader, which splits them across cores itself.
pub(super) const SMALL: u64 = crate::limits::SMALL_FILE;

/// One file read by a worker: its accounting and events, or its error;
/// None: it is larger than [`SMALL`] (the caller reads it).
pub(super) type FileRead = Option<Result<(FileStats, Vec<Event>)>>;

/// Files a worker takes at a time (fewer hand-overs between threads).
const BATCH: usize = 16;

/// Reads the files at `jobs` (indices into `paths`) on worker threads and
/// calls `each(index, result)` on the calling thread for every index of
/// `paths` in order: for a job with the worker's result, for any other
/// index with None (the caller reads it itself). Stops at the first error
/// `each` returns. With `parts` (one per worker, from the sink's
/// [`crate::pipeline::Sink::fork`]) each file's events are folded on the
/// worker that read it, once the whole file has read without error, and
/// only the events a part passes on come back; the parts are returned to
/// be joined.
pub(super) fn read_in_order(
    paths: &[(String, bool)],
    jobs: &[usize],
    opts: &ReadOptions,
    parts: Vec<Box<dyn ThreadFold>>,
    mut each: impl FnMut(usize, Option<FileRead>) -> Result<()>,
) -> Result<Vec<Box<dyn ThreadFold>>> {
    let n_workers = if parts.is_empty() {
        super::blocks::workers()
    } else {
        parts.len()
    };
    let batches: Vec<&[usize]> = jobs.chunks(BATCH).collect();
    let inline = ReadOptions {
        inline: true,
        ..opts.clone()
    };
    let parts = std::sync::Mutex::new(parts);
    let mut done = 0usize;
    let states = super::ordered::map_in_order(
        batches.len(),
        n_workers,
        3 * n_workers,
        || {
            let part = parts.lock().ok().and_then(|mut p| p.pop());
            (Interner::default(), part)
        },
        |b, (interner, part)| {
            batches[b]
                .iter()
                .map(|&i| {
                    let path = &paths[i].0;
                    let opts = ReadOptions {
                        file: i as u64,
                        ..inline.clone()
                    };
                    // Without --skip-invalid a file either reads whole or
                    // ends the run, so its events fold as they are read;
                    // with it, only once the file has read without error.
                    let direct = !opts.skip_invalid;
                    let read =
                        super::ordered::caught(|| read_file(path, &opts, interner, part, direct))
                            .unwrap_or_else(|m| {
                                Some(Err(Error::Malformed {
                                    at: crate::error::Location {
                                        source: path.clone(),
                                        position: "file".into(),
                                    },
                                    message: m,
                                }))
                            });
                    (
                        i,
                        if direct {
                            read
                        } else {
                            fold(read, i, part.as_mut())
                        },
                    )
                })
                .collect::<Vec<_>>()
        },
        super::ordered::Hooks {
            between: |(_, part): &mut (Interner, Option<Box<dyn ThreadFold>>)| {
                if let Some(p) = part {
                    p.between();
                }
            },
            finish: |(_, part): &mut (Interner, Option<Box<dyn ThreadFold>>)| {
                if let Some(p) = part {
                    p.done();
                }
            },
        },
        |_, reads| {
            for (i, read) in reads {
                caller_reads(jobs, &mut done, i, &mut each)?;
                each(i, Some(read))?;
                done = i + 1;
            }
            Ok(())
        },
    )?;
    caller_reads(jobs, &mut done, paths.len(), &mut each)?;
    // Parts of workers that never started (fewer batches than workers).
    let mut out: Vec<Box<dyn ThreadFold>> = states.into_iter().filter_map(|s| s.1).collect();
    out.extend(parts.into_inner().unwrap_or_default());
    Ok(out)
}

/// Folds a file read without error into the worker's part: its events
/// take their place in the input as (file index, record), and only those
/// the part passes on are kept.
fn fold(read: FileRead, file: usize, part: Option<&mut Box<dyn ThreadFold>>) -> FileRead {
    match (read, part) {
        (Some(Ok((stats, events))), Some(part)) => {
            let base = (file as u64) << 32;
            // In place: an event is large, and moving each out costs more
            // than folding it.
            let mut passed = events;
            passed.retain(|e| part.add(e, base | (e.source_record & 0xffff_ffff)));
            // The list was sized for every event; few are passed on.
            passed.shrink_to_fit();
            Some(Ok((stats, passed)))
        }
        (read, _) => read,
    }
}

fn caller_reads(
    jobs: &[usize],
    done: &mut usize,
    upto: usize,
    each: &mut impl FnMut(usize, Option<FileRead>) -> Result<()>,
) -> Result<()> {
    for i in *done..upto {
        if jobs.binary_search(&i).is_err() {
            each(i, None)?;
        }
    }
    *done = (*done).max(upto);
    Ok(())
}

/// Reads one small file whole (one open, one size check on it, one read)
/// and parses it on this thread into events; None when it is larger than
/// [`SMALL`]. With `direct` (and a part), its events fold into the part as
/// they are read and only those it passes on are returned.
fn read_file(
    path: &str,
    opts: &ReadOptions,
    interner: &mut Interner,
    part: &mut Option<Box<dyn ThreadFold>>,
    direct: bool,
) -> FileRead {
    use std::io::Read;
    let read = || -> std::io::Result<Option<Vec<u8>>> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        if len > SMALL {
            return Ok(None);
        }
        // Read into a buffer of the size found, in one call for a file
        // that does not grow meanwhile (`File::read_to_end` would look at
        // the size and the position again; `take` would read 8 KiB first).
        let mut bytes = vec![0; usize::try_from(len).unwrap_or(0) + 1];
        let mut got = 0;
        loop {
            if got == bytes.len() {
                // Its size was looked at when opened: a file written to
                // meanwhile is read up to the limit of a file read whole.
                if got as u64 > SMALL {
                    return Err(std::io::Error::other(format!(
                        "grew past {} MiB while it was read (a file among many is read whole)",
                        SMALL >> 20
                    )));
                }
                bytes.resize(
                    (got * 2).min(usize::try_from(SMALL).unwrap_or(usize::MAX) + 1),
                    0,
                );
            }
            match f.read(&mut bytes[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        bytes.truncate(got);
        Ok(Some(bytes))
    };
    let bytes = match read() {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => return Some(Err(Error::io(path, e))),
    };
    // Folding as they are read, the events the part passes on are kept;
    // else every event, with room for a record every 512 bytes (raw
    // records and export rows are larger) so that none is moved as the
    // list grows.
    let direct = direct && part.is_some();
    let mut sink = Folding {
        part: if direct { part.take() } else { None },
        base: opts.file << 32,
        passed: Vec::with_capacity(if direct { 0 } else { bytes.len() / 512 + 8 }),
    };
    let read = super::detect::read_source(
        path,
        Source::Bytes(bytes),
        opts,
        interner,
        &mut sink,
        &mut Progress::hidden(),
    );
    if let Some(p) = sink.part.take() {
        *part = Some(p);
    }
    Some(read.map(|stats| (stats, sink.passed)))
}

/// A file worker's sink: with the worker's part, events fold as they are
/// read, the part lent to the parser (see [`super::blocks::run_owned`])
/// or given each event, ordered as (file, record), and what it passes on
/// is kept to be handed on in order; without one, every event is kept. It forks no part: a reader that
/// splits its input between threads (Parquet) gives it every event.
struct Folding {
    part: Option<Box<dyn ThreadFold>>,
    base: u64,
    passed: Vec<Event>,
}

impl crate::pipeline::Sink for Folding {
    fn event(&mut self, e: Event) -> Result<()> {
        let order = self.base | (e.source_record & 0xffff_ffff);
        let folded = match &mut self.part {
            Some(p) => !p.add(&e, order),
            None => false,
        };
        if !folded {
            self.passed.push(e);
        }
        Ok(())
    }
    fn forwarded(&mut self, e: Event) -> Result<()> {
        self.passed.push(e);
        Ok(())
    }
    fn lend(&mut self) -> Option<Box<dyn ThreadFold>> {
        self.part.take()
    }
    fn give_back(&mut self, part: Box<dyn ThreadFold>) {
        self.part = Some(part);
    }
}

/// The hour a blob of an Azure Monitor storage archive holds, from its
/// path (`.../y=2026/m=03/d=10/h=14/m=00/PT1H.json`); None for any other
/// path.
pub(super) fn blob_hour(path: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut y = None;
    let (mut mo, mut d, mut h) = (None, None, None);
    for seg in path.split(['/', '\\']) {
        let Some((k, v)) = seg.split_once('=') else {
            continue;
        };
        let n: u32 = match v.parse() {
            Ok(n) => n,
            Err(_) => continue,
        };
        match k {
            "y" => y = Some(n),
            // The first m= is the month; the second (minutes) comes after h=.
            "m" if mo.is_none() => mo = Some(n),
            "d" => d = Some(n),
            "h" => h = Some(n),
            _ => {}
        }
    }
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(y?).ok()?, mo?, d?)?;
    Some(date.and_hms_opt(h?, 0, 0)?.and_utc())
}

/// Whether a blob of `hour` can hold an event of the period: its hour, with
/// an hour's margin either side for records the archive files late.
pub(super) fn blob_in_period(
    hour: chrono::DateTime<chrono::Utc>,
    period: &(
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ),
) -> bool {
    // At the ends of the calendar the margin is cut short (a path may name
    // any year chrono can hold).
    let start = hour
        .checked_sub_signed(chrono::Duration::hours(1))
        .unwrap_or(hour);
    let end = hour
        .checked_add_signed(chrono::Duration::hours(2))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    period.0.is_none_or(|f| end > f) && period.1.is_none_or(|t| start < t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_hours_and_the_period() {
        let p = "logs/insights-logs-auditevent/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV/y=2026/m=03/d=10/h=14/m=00/PT1H.json";
        let h = blob_hour(p).unwrap();
        assert_eq!(h.to_rfc3339(), "2026-03-10T14:00:00+00:00");
        assert_eq!(blob_hour("a/b.json"), None);
        let t = |s: &str| Some(chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc());
        assert!(blob_in_period(h, &(None, None)));
        // The hour 14:00-15:00, an hour's margin either side: 13:00-16:00.
        assert!(blob_in_period(h, &(t("2026-03-10T15:59:59Z"), None)));
        assert!(!blob_in_period(h, &(t("2026-03-10T16:00:00Z"), None)));
        assert!(blob_in_period(h, &(None, t("2026-03-10T13:00:01Z"))));
        assert!(!blob_in_period(h, &(None, t("2026-03-10T13:00:00Z"))));
        // The last hour chrono holds: no overflow.
        let edge = blob_hour("y=262142/m=12/d=31/h=23/x.json").unwrap();
        assert!(blob_in_period(edge, &(t("2026-03-10T13:00:00Z"), None)));
        assert!(!blob_in_period(edge, &(None, t("2026-03-10T13:00:00Z"))));
    }
}
