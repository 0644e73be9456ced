//! Reads every shape of Key Vault log export (raw records, Log Analytics
//! exports of AzureDiagnostics and AZKVAuditLogs as CSV or JSON) into
//! canonical events. The shape is detected from the content, never the file
//! name; one reader per shape family, one normaliser for all.

mod csv;
mod json;
mod parallel;
pub mod schema;

use crate::error::{Error, Location, Result};
use crate::event::Event;
use crate::normalize::{Interner, RawRow};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The shapes kvaudit recognises, for messages and `--stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    RawRecords,
    RawJsonLines,
    RawArray,
    LogAnalyticsApi,
    AzCliJson,
    FlatJsonArray,
    ValueWrapper,
    FlatJsonLines,
    AzureDiagnosticsCsv,
    AzkvAuditLogsCsv,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::RawRecords => "raw diagnostic records ({\"records\":[...]})",
            Shape::RawJsonLines => "raw records as JSON Lines",
            Shape::RawArray => "raw records as a JSON array",
            Shape::LogAnalyticsApi => "Log Analytics query API response (tables/columns/rows)",
            Shape::AzCliJson => "az monitor log-analytics query JSON",
            Shape::FlatJsonArray => "exported rows as a JSON array",
            Shape::ValueWrapper => "exported rows as {\"value\":[...]}",
            Shape::FlatJsonLines => "exported rows as JSON Lines",
            Shape::AzureDiagnosticsCsv => "AzureDiagnostics CSV export",
            Shape::AzkvAuditLogsCsv => "AZKVAuditLogs CSV export",
        }
    }
}

pub const SHAPES_TRIED: &str = "raw diagnostic records ({\"records\":[...]}), JSON Lines, a JSON array of records or rows, {\"value\":[...]}, a Log Analytics query API response ({\"tables\":[...]}), az monitor log-analytics query JSON, AzureDiagnostics CSV, AZKVAuditLogs CSV (a header with OperationName)";

/// Options for reading.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Skip malformed records (counted) instead of failing on the first.
    pub skip_invalid: bool,
    /// Which event fields to keep (the others are still validated where
    /// they are read, but not stored or, in CSV, decoded).
    pub detail: Detail,
}

/// Which fields of each event a command uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Every field (`events`, `token --logs`).
    #[default]
    Full,
    /// What `explain` and `report` read: everything but the request URI,
    /// correlation id, result signature and appidacr.
    Analysis,
    /// What the caller inventory needs (identity, vault, object, operation,
    /// status, client, time).
    Callers,
    /// What `report` (without `--redact`) reads: [`Detail::Analysis`] for
    /// failed requests, [`Detail::Callers`] for successful ones (it folds
    /// no more of them; the explanation of denials needs the rest).
    Report,
}

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

/// Where normalised events go: a vector (commands that need every event)
/// or a fold that keeps only aggregates (memory flat in the input size).
pub trait Sink {
    /// Takes one event; an error (writing it out failed) stops the reading.
    fn event(&mut self, e: Event) -> Result<()>;

    /// A fold of its own for one parsing thread, merged back with
    /// [`Sink::join`]. Only sinks whose result does not depend on how the
    /// events are split between threads offer one (events still arrive at
    /// each part in input order, with their place in the input as `order`);
    /// the others see every event on the calling thread.
    fn fork(&mut self) -> Option<Box<dyn Partial>> {
        None
    }

    /// Merges back a part made by [`Sink::fork`], once its thread is done.
    fn join(&mut self, _part: Box<dyn Partial>) -> Result<()> {
        Ok(())
    }

    /// An event a part folded and passed on, in input order: the work that
    /// needs every event in order.
    fn forwarded(&mut self, e: Event) -> Result<()> {
        self.event(e)
    }
}

/// Takes back a part as the type its sink made it.
pub fn take_part<T: 'static>(part: Box<dyn Partial>) -> Result<T> {
    part.into_any()
        .downcast::<T>()
        .map(|p| *p)
        .map_err(|_| Error::Other("internal error: a part of another fold".into()))
}

/// One parsing thread's share of a [`Sink`] (see [`Sink::fork`]).
pub trait Partial: Send {
    /// Takes one event; `order` grows with the event's place in the input
    /// (comparable across parts), for folds that keep a first value.
    /// Whether the sink's ordered side must see it too
    /// ([`Sink::forwarded`]). By reference: most events are only folded,
    /// and an event is large enough for moves to cost.
    fn add(&mut self, e: &Event, order: u64) -> bool;
    /// The part as `Any`, for the sink to take back its own type.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

impl Sink for Vec<Event> {
    fn event(&mut self, e: Event) -> Result<()> {
        self.push(e);
        Ok(())
    }
}

/// Receives rows from a reader, normalises them and keeps the accounting.
pub(crate) struct Collector<'a> {
    interner: &'a mut Interner,
    events: &'a mut dyn Sink,
    progress: &'a mut Progress,
    stats: FileStats,
    source: Arc<str>,
    opts: &'a ReadOptions,
}

impl Collector<'_> {
    /// `position` is "line N" or "record N"; `record` the 1-based number kept
    /// in `source_record`.
    pub fn push(
        &mut self,
        row: std::result::Result<RawRow<'_>, String>,
        record: u64,
        position: impl Fn() -> String,
    ) -> Result<()> {
        let o = parallel::Outcome::of(
            row,
            &self.source,
            record,
            None,
            self.interner,
            self.opts.detail,
        );
        self.apply(o, 0, &|_, _| position())
    }

    /// Counts a kept event, numbered within its block, and numbers it in
    /// the input.
    fn kept(&mut self, mut e: Event, base: u64) -> Event {
        e.source_record += base;
        self.stats.rows_read += 1;
        self.stats.rows_kept += 1;
        self.progress.tick();
        e
    }

    /// Takes the outcome of a record a worker normalised; `base` is the
    /// number of records before its block, `position` names a record.
    pub(crate) fn apply(
        &mut self,
        o: parallel::Outcome,
        base: u64,
        position: &dyn Fn(u64, Option<u64>) -> String,
    ) -> Result<()> {
        match o {
            parallel::Outcome::Event(e) => {
                let e = self.kept(e, base);
                self.events.event(e)
            }
            parallel::Outcome::Forwarded(e) => {
                let e = self.kept(e, base);
                self.events.forwarded(e)
            }
            parallel::Outcome::Folded(n) => {
                // Events a parsing thread already folded into its part.
                self.stats.rows_read += n;
                self.stats.rows_kept += n;
                self.progress.tick_n(n);
                Ok(())
            }
            parallel::Outcome::Skip(why) => {
                self.stats.rows_read += 1;
                *self.stats.rows_skipped.entry(why.to_string()).or_insert(0) += 1;
                Ok(())
            }
            parallel::Outcome::Invalid {
                record,
                byte,
                message,
            } => {
                self.stats.rows_read += 1;
                self.invalid_with(|| position(base + record, byte), message)
            }
        }
    }

    /// A record that could not even be parsed into a row (already counted
    /// as read).
    pub fn invalid(&mut self, position: String, message: String) -> Result<()> {
        self.invalid_with(|| position.clone(), message)
    }

    /// Like [`invalid`], computing the position only when it is shown.
    pub(crate) fn invalid_with(
        &mut self,
        position: impl Fn() -> String,
        message: String,
    ) -> Result<()> {
        if !self.opts.skip_invalid {
            return Err(Error::Malformed {
                at: Location {
                    source: self.source.to_string(),
                    position: position(),
                },
                message: format!("{message} (use --skip-invalid to skip such records)"),
            });
        }
        *self.stats.rows_skipped.entry("invalid".into()).or_insert(0) += 1;
        if self.stats.first_invalid.is_none() {
            self.stats.first_invalid = Some(format!("{}: {message}", position()));
        }
        Ok(())
    }

    pub fn count_read_only(&mut self) {
        self.stats.rows_read += 1;
    }

    pub fn detail(&self) -> Detail {
        self.opts.detail
    }

    /// A part of the sink for one parsing thread, when it can be split.
    pub(crate) fn fork(&mut self) -> Option<Box<dyn Partial>> {
        self.events.fork()
    }

    /// Merges back a parsing thread's part.
    pub(crate) fn join(&mut self, part: Box<dyn Partial>) -> Result<()> {
        self.events.join(part)
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Expands arguments: `-` is stdin, a directory is walked (sorted, hidden
/// files skipped). Each path comes with whether it was found by walking a
/// directory. An entry of a walked directory that cannot be read (a symlink
/// loop, a dangling link, no permission) is an error naming it, or with
/// `skip_unreadable` a warning, and is listed in the second value.
pub fn expand_paths(args: &[String], skip_unreadable: bool) -> Result<Expanded> {
    if args.is_empty() {
        return Err(Error::NoInput);
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for a in args {
        if a == "-" {
            out.push((a.clone(), false));
            continue;
        }
        let p = Path::new(a);
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            for entry in walkdir::WalkDir::new(p)
                .follow_links(true)
                .sort_by_file_name()
            {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => {
                        let path = e
                            .path()
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| p.to_path_buf());
                        let msg = e.to_string();
                        let err = Error::io(
                            &path,
                            e.into_io_error()
                                .unwrap_or_else(|| std::io::Error::other(msg)),
                        );
                        if !skip_unreadable {
                            return Err(err);
                        }
                        eprintln!("kvaudit: warning: skipping {err}");
                        skipped.push(path.to_string_lossy().into_owned());
                        continue;
                    }
                };
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if entry.file_type().is_file() && !hidden {
                    files.push(entry.path().to_string_lossy().into_owned());
                }
            }
            if files.is_empty() {
                return Err(Error::Other(format!("{a}: the directory holds no files")));
            }
            out.extend(files.into_iter().map(|f| (f, true)));
        } else {
            out.push((a.clone(), false));
        }
    }
    Ok(Expanded {
        paths: out,
        unreadable: skipped,
    })
}

/// The inputs named on the command line, directories expanded.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Each file, with whether it was found by walking a directory.
    pub paths: Vec<(String, bool)>,
    /// Entries of walked directories that could not be read (skipped).
    pub unreadable: Vec<String>,
}

/// Whether a file found by walking a directory may be passed over.
fn skippable(e: &Error, opts: &ReadOptions) -> bool {
    match e {
        Error::Unrecognised { .. } | Error::Empty { .. } | Error::NoKeyVaultRows { .. } => true,
        Error::Io { .. } => opts.skip_invalid,
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
    for (p, walked) in &paths {
        match read_one(p, opts, &mut interner, sink, &mut progress) {
            Ok(stats) => out.files.push(stats),
            // In a walked directory, files that are not logs (a README, an
            // empty blob) are reported and passed over, not fatal; so is an
            // unreadable file with --skip-invalid.
            Err(e) if *walked && skippable(&e, opts) => {
                eprintln!("kvaudit: warning: skipping {e}");
                out.files_skipped.push(p.clone());
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
    Ok(out)
}

/// An input: a file on disk (read by path, so large CSV files are not
/// loaded whole) or bytes already in memory (stdin).
pub(crate) enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
    /// stdin or a pipe larger than its head: read once, streamed. Error
    /// positions in it are record numbers (lines cannot be re-counted).
    Stream {
        head: Vec<u8>,
        rest: std::sync::Mutex<Option<Box<dyn Read + Send>>>,
        label: String,
    },
}

/// How much of a pipe is read ahead for shape detection; a smaller input is
/// kept in memory whole.
const PIPE_HEAD: usize = 1 << 16;

/// Reads up to PIPE_HEAD bytes of `r`; a shorter input ends as bytes, a
/// longer one streams.
fn from_pipe(mut r: Box<dyn Read + Send>, label: &str) -> Result<Source> {
    let mut head = Vec::with_capacity(PIPE_HEAD);
    (&mut r)
        .take(PIPE_HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(label, e))?;
    if head.len() < PIPE_HEAD {
        return Ok(Source::Bytes(head));
    }
    Ok(Source::Stream {
        head,
        rest: std::sync::Mutex::new(Some(r)),
        label: label.to_string(),
    })
}

impl Source {
    /// Whether the content can be read again (to count lines for a message).
    pub(crate) fn rereadable(&self) -> bool {
        !matches!(self, Source::Stream { .. })
    }

    fn open(path: &str) -> Result<Self> {
        if path == "-" {
            from_pipe(Box::new(std::io::stdin()), "<stdin>")
        } else {
            let p = PathBuf::from(path);
            let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
            let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
            if !regular {
                // A pipe or device (`<(zcat ...)`, /dev/stdin) can be read
                // only once.
                return from_pipe(Box::new(f), path);
            }
            Ok(Source::File(p))
        }
    }

    /// The first `n` bytes, for shape detection.
    fn head(&self, n: usize) -> Result<Vec<u8>> {
        match self {
            Source::Bytes(b) | Source::Stream { head: b, .. } => Ok(b[..b.len().min(n)].to_vec()),
            Source::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
                let mut buf = Vec::with_capacity(n);
                f.take(n as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::io(p, e))?;
                Ok(buf)
            }
        }
    }

    /// The whole content.
    fn bytes(self) -> Result<Vec<u8>> {
        match self {
            Source::Bytes(b) => Ok(b),
            Source::Stream {
                mut head,
                rest,
                label,
            } => {
                let taken = rest.into_inner().ok().flatten();
                if let Some(mut r) = taken {
                    r.read_to_end(&mut head).map_err(|e| Error::io(&label, e))?;
                }
                Ok(head)
            }
            Source::File(p) => std::fs::read(&p).map_err(|e| Error::io(&p, e)),
        }
    }

    /// A streaming reader over the content.
    pub(crate) fn reader(&self) -> Result<Box<dyn Read + Send + '_>> {
        match self {
            Source::Bytes(b) => Ok(Box::new(strip_bom(b))),
            Source::Stream { head, rest, label } => {
                let r = rest.lock().ok().and_then(|mut g| g.take()).ok_or_else(|| {
                    Error::io(label, std::io::Error::other("a pipe can be read only once"))
                })?;
                Ok(Box::new(strip_bom(head).chain(r)))
            }
            Source::File(p) => {
                // Unbuffered: its readers read large blocks themselves.
                use std::io::Seek;
                let mut f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
                let mut bom = Vec::with_capacity(3);
                (&mut f)
                    .take(3)
                    .read_to_end(&mut bom)
                    .map_err(|e| Error::io(p, e))?;
                if bom != b"\xEF\xBB\xBF" {
                    f.rewind().map_err(|e| Error::io(p, e))?;
                }
                Ok(Box::new(f))
            }
        }
    }
}

fn read_one(
    path: &str,
    opts: &ReadOptions,
    interner: &mut Interner,
    events: &mut dyn Sink,
    progress: &mut Progress,
) -> Result<FileStats> {
    let label = if path == "-" { "<stdin>" } else { path };
    read_source(label, Source::open(path)?, opts, interner, events, progress)
}

/// Reads bytes already in memory as one input named `label` (fuzzing,
/// embedding). Errors and accounting are those of a file.
pub fn read_bytes(label: &str, bytes: Vec<u8>, opts: &ReadOptions) -> Result<Ingested> {
    let mut interner = Interner::default();
    let mut out = Ingested::default();
    let stats = read_source(
        label,
        Source::Bytes(bytes),
        opts,
        &mut interner,
        &mut out.events,
        &mut Progress::hidden(),
    )?;
    out.files.push(stats);
    Ok(out)
}

fn read_source(
    label: &str,
    src: Source,
    opts: &ReadOptions,
    interner: &mut Interner,
    events: &mut dyn Sink,
    progress: &mut Progress,
) -> Result<FileStats> {
    let head = src.head(1 << 16)?;
    let head_body = strip_bom(&head);
    let Some(first) = head_body.iter().position(|b| !b.is_ascii_whitespace()) else {
        // The head is blank: the file is empty or whitespace only.
        let all = src.bytes()?;
        if strip_bom(&all).iter().all(|b| b.is_ascii_whitespace()) {
            return Err(Error::Empty { path: label.into() });
        }
        return Err(Error::Unrecognised {
            path: label.into(),
            tried: SHAPES_TRIED.into(),
        });
    };
    let mut c = Collector {
        interner,
        events,
        progress,
        stats: FileStats {
            source: label.to_string(),
            ..Default::default()
        },
        source: Arc::from(label),
        opts,
    };
    let shape = match head_body[first] {
        // JSON Lines in a file stream line by line; other JSON is one
        // document and is read whole.
        b'{' if matches!(src, Source::File(_) | Source::Stream { .. })
            && json::looks_like_lines(&head_body[first..]) =>
        {
            json::read_lines(src.reader()?, &head_body[first..], &mut c)?
        }
        b'{' | b'[' => {
            let all = src.bytes()?;
            json::read(strip_bom(&all), &mut c)?
        }
        _ => csv::read(&src, head_body, &mut c)?,
    };
    let mut stats = c.stats;
    stats.shape = shape.name().to_string();
    if stats.rows_kept == 0 {
        let detail = if stats.rows_read == 0 {
            " (no rows at all)".to_string()
        } else {
            let skipped: Vec<String> = stats
                .rows_skipped
                .iter()
                .map(|(k, v)| format!("{v} skipped: {k}"))
                .collect();
            format!(" ({} rows read; {})", stats.rows_read, skipped.join(", "))
        };
        return Err(Error::NoKeyVaultRows {
            path: label.into(),
            detail,
        });
    }
    Ok(stats)
}

/// Progress on stderr for long reads: rows and rate, redrawn at most a few
/// times a second, only when stderr is a terminal.
pub struct Progress {
    enabled: bool,
    rows: u64,
    started: std::time::Instant,
    last: std::time::Instant,
    shown: bool,
}

impl Progress {
    pub fn new() -> Self {
        use std::io::IsTerminal;
        let enabled =
            std::io::stderr().is_terminal() && std::env::var_os("KVAUDIT_NO_PROGRESS").is_none();
        let now = std::time::Instant::now();
        Progress {
            enabled,
            rows: 0,
            started: now,
            last: now,
            shown: false,
        }
    }

    pub fn hidden() -> Self {
        Progress {
            enabled: false,
            ..Self::new()
        }
    }

    fn tick(&mut self) {
        self.rows += 1;
        if !self.enabled || self.rows % 16384 != 0 {
            return;
        }
        self.draw();
    }

    /// `n` rows at once (folded on a parsing thread).
    fn tick_n(&mut self, n: u64) {
        let before = self.rows / 16384;
        self.rows += n;
        if self.enabled && self.rows / 16384 != before {
            self.draw();
        }
    }

    fn draw(&mut self) {
        let now = std::time::Instant::now();
        if now.duration_since(self.last).as_millis() < 250 {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.started).as_secs_f64().max(1e-6);
        eprint!(
            "\r\x1b[2Kkvaudit: read {} rows ({:.0} rows/s)",
            self.rows,
            self.rows as f64 / secs
        );
        self.shown = true;
    }

    fn done(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}
