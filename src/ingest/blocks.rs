//! Reads large CSV and JSON Lines inputs on every core: one thread cuts the
//! byte stream into blocks that end on a record boundary, workers parse and
//! normalise the blocks, and the calling thread hands the results to the
//! sink in input order, so events, record numbers, errors and accounting are
//! exactly those of a sequential read while memory stays bounded.

use super::collector::Collector;
use super::interner::Interner;
use super::normalize::Outcome;
use super::schema::RawRow;
use crate::error::{Error, Result};
use crate::pipeline::{Fields, ThreadFold};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{mpsc, Arc, Mutex};

/// Bytes read per block (a block is cut at the last record boundary in it).
const BLOCK: usize = 1 << 20;
/// How much the reader reads at a time.
const STEP: usize = 128 << 10;

/// The longest record read: well above a row of fields at their limit
/// (`schema::MAX_FIELD_BYTES` each); past it the input is refused rather
/// than held whole (an unterminated quote early in a large file).
const MAX_RECORD: usize = 64 << 20;

/// A run of complete records and where it starts in the input.
pub(crate) struct Block {
    pub data: Vec<u8>,
    /// Offset of `data[0]` in the input (after any byte-order mark).
    pub start: u64,
}

/// A worker's state: its own interner (values are equal across workers,
/// allocations are not shared) and the outcomes of the current block.
pub(crate) struct Worker {
    source: Arc<str>,
    detail: Fields,
    interner: Interner,
    out: Vec<Outcome>,
    /// The sink's part for this thread, when it can be split: events are
    /// folded here instead of being sent back.
    part: Option<Box<dyn ThreadFold>>,
    /// The block being parsed (its place in the input).
    seq: u64,
}

impl Worker {
    /// A worker for a reader that hands out work of its own (Parquet row
    /// groups), folding into `part` when the sink offers one.
    pub(crate) fn new(source: Arc<str>, detail: Fields, part: Option<Box<dyn ThreadFold>>) -> Self {
        Worker {
            // A copy of its own: every event clones the name, and a count
            // shared by all workers would bounce between their cores.
            source: Arc::from(&*source),
            detail,
            interner: Interner::default(),
            out: Vec::new(),
            part,
            seq: 0,
        }
    }

    /// Starts piece `seq` of the input (its events are ordered after those
    /// of earlier pieces).
    pub(crate) fn start(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// The outcomes of the current piece, in order.
    pub(crate) fn take(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.out)
    }

    /// Ends the part's work on this thread (see
    /// [`crate::pipeline::ThreadFold::done`]).
    pub(crate) fn finish(&mut self) {
        if let Some(p) = &mut self.part {
            p.done();
        }
    }

    /// Between two pieces (see [`crate::pipeline::ThreadFold::between`]).
    pub(crate) fn between(&mut self) {
        if let Some(p) = &mut self.part {
            p.between();
        }
    }

    /// The sink's part, to be joined once every piece is applied.
    pub(crate) fn into_part(self) -> Option<Box<dyn ThreadFold>> {
        self.part
    }

    /// Normalises one row (record `record` of the block).
    pub(super) fn push(
        &mut self,
        row: std::result::Result<RawRow<'_>, String>,
        record: u64,
        byte: Option<u64>,
    ) {
        let o = Outcome::of(
            row,
            &self.source,
            record,
            byte,
            &mut self.interner,
            self.detail,
        );
        match o {
            Outcome::Event(e) if self.part.is_some() => {
                if self.add(&e, record) {
                    self.out.push(Outcome::Forwarded(e));
                }
            }
            o => self.out.push(o),
        }
    }

    /// Folds `e` (record `record` of the piece) into the part, counted as
    /// folded; true when the part passes it on (not yet pushed).
    fn add(&mut self, e: &crate::event::Event, record: u64) -> bool {
        let Some(part) = &mut self.part else {
            return false;
        };
        // Blocks hold far fewer than 2^32 records.
        if part.add(e, (self.seq << 32) | record) {
            return true;
        }
        match self.out.last_mut() {
            Some(Outcome::Folded(n)) => *n += 1,
            _ => self.out.push(Outcome::Folded(1)),
        }
        false
    }

    /// Whether the sink has a part on this thread (events can be folded
    /// here rather than handed back).
    pub(crate) fn folds(&self) -> bool {
        self.part.is_some()
    }

    /// The fields events keep.
    pub(crate) fn fields(&self) -> crate::pipeline::Fields {
        self.detail
    }

    /// Whether events keep every field (`kvaudit events`).
    pub(crate) fn full(&self) -> bool {
        self.detail == crate::pipeline::Fields::Full
    }

    /// Folds an event normalised elsewhere (record `record` of the piece)
    /// as [`Worker::push`] folds the one it normalises. Only when
    /// [`Worker::folds`] says so.
    pub(super) fn fold(&mut self, e: &crate::event::Event, record: u64) {
        if self.add(e, record) {
            self.out.push(Outcome::Forwarded(e.clone()));
        }
    }

    /// Folds the events that are all `e` but for `rows` (their records
    /// in the piece as orders), as [`Worker::fold`] would fold each, when
    /// the part takes them at once (see
    /// [`crate::pipeline::ThreadFold::add_rows`]): true when it did.
    /// `rows` are spent either way.
    pub(super) fn fold_rows(
        &mut self,
        e: &crate::event::Event,
        rows: &mut Vec<crate::event::Occurrence>,
    ) -> bool {
        let Some(part) = &mut self.part else {
            return false;
        };
        let n = rows.len() as u64;
        for o in rows.iter_mut() {
            o.order |= self.seq << 32;
        }
        if !part.add_rows(e, rows) {
            return false;
        }
        match self.out.last_mut() {
            Some(Outcome::Folded(m)) => *m += n,
            _ => self.out.push(Outcome::Folded(n)),
        }
        true
    }

    /// Whether the part takes rows like `e` at once (see
    /// [`crate::pipeline::ThreadFold::takes_rows`]).
    pub(super) fn takes_rows(&self, e: &crate::event::Event) -> bool {
        self.part.as_ref().is_some_and(|p| p.takes_rows(e))
    }

    /// Whether the sink's part folds like events at once (see
    /// [`crate::pipeline::ThreadFold::takes_like`]).
    pub(crate) fn takes_like(&self) -> bool {
        self.part.as_ref().is_some_and(|p| p.takes_like())
    }

    /// What normalising one row (record `record` of the piece) gives,
    /// neither folded nor kept.
    pub(super) fn normalise(
        &mut self,
        row: std::result::Result<RawRow<'_>, String>,
        record: u64,
    ) -> Outcome {
        Outcome::of(
            row,
            &self.source,
            record,
            None,
            &mut self.interner,
            self.detail,
        )
    }

    /// Folds `n` events like `e` at once (see
    /// [`crate::pipeline::ThreadFold::add_like`]): `records` are the first
    /// and last of their record numbers in the piece. Only when
    /// [`Worker::takes_like`] says so.
    pub(super) fn fold_like(
        &mut self,
        e: &crate::event::Event,
        n: u64,
        times: (i64, i64),
        records: (u64, u64),
    ) {
        let Some(part) = &mut self.part else { return };
        let orders = ((self.seq << 32) | records.0, (self.seq << 32) | records.1);
        part.add_like(e, n, times, orders);
        match self.out.last_mut() {
            Some(Outcome::Folded(m)) => *m += n,
            _ => self.out.push(Outcome::Folded(n)),
        }
    }

    /// A record that is not even a row.
    pub(super) fn invalid(&mut self, record: u64, byte: Option<u64>, message: String) {
        self.out.push(Outcome::Invalid {
            record,
            byte,
            message,
        });
    }
}

/// Finds where complete records end in a growing buffer.
pub(crate) trait Cutter: Send {
    /// The end of the last complete record in `buf` (0: none yet). The
    /// buffer only grows between calls, until [`Cutter::consumed`].
    fn cut(&mut self, buf: &[u8]) -> usize;
    /// The first `n` bytes were handed on; the buffer now starts there.
    fn consumed(&mut self, n: usize);
}

/// Cuts after the last newline (JSON Lines: a string cannot hold a raw
/// newline). Each byte is looked at once: a line of many megabytes costs
/// linear time, not a rescan per read.
#[derive(Default)]
pub(crate) struct Lines {
    /// Bytes of the buffer already looked at.
    scanned: usize,
    /// The end of the last complete line found (0: none).
    last: usize,
}

impl Cutter for Lines {
    fn cut(&mut self, buf: &[u8]) -> usize {
        let from = self.scanned.min(buf.len());
        if let Some(i) = memchr::memrchr(b'\n', &buf[from..]) {
            self.last = from + i + 1;
        }
        self.scanned = buf.len();
        self.last
    }
    fn consumed(&mut self, n: usize) {
        self.scanned = self.scanned.saturating_sub(n);
        self.last = self.last.saturating_sub(n);
    }
}

/// How many workers parse blocks.
pub(super) fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
}

/// A block's outcomes and how many record numbers it used, or why reading
/// stopped.
type Parsed = std::result::Result<(Vec<Outcome>, u64), Stop>;

enum Stop {
    Failed(Error),
    /// No end of record within [`MAX_RECORD`] bytes of this offset.
    Runaway(u64),
}

/// Reads `reader` block by block. `parse` turns one block into outcomes
/// (through the worker) and returns how many record numbers the block used;
/// `position` names record `n` (numbered across the input) at `byte` for
/// messages.
pub(crate) fn run<C, P>(
    reader: Box<dyn Read + Send + '_>,
    mut cutter: C,
    parse: P,
    c: &mut Collector,
    position: impl Fn(u64, Option<u64>) -> String,
) -> Result<()>
where
    C: Cutter,
    P: Fn(&Block, &mut Worker) -> u64 + Sync,
{
    if c.opts.inline {
        return run_inline(reader, parse, c, &position);
    }
    let n_workers = workers();
    // Blocks read but not yet applied (each about 1 MiB): enough that a
    // slow stretch of the in-order side (a burst of denials for `report`'s
    // explaining thread) does not leave the parsers waiting. 2n + 2 cost
    // `report` 8-9% on the heavy mix against 6n + 4 (16 MiB more at most).
    let in_flight = 6 * n_workers + 4;
    let (work_tx, work_rx) = mpsc::channel::<(u64, Block)>();
    let work_rx = Mutex::new(work_rx);
    let (res_tx, res_rx) = mpsc::channel::<(u64, Parsed)>();
    // Tokens bound the blocks in flight (read but not yet applied).
    let (tok_tx, tok_rx) = mpsc::sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = tok_tx.send(());
    }
    // Buffers go back and forth instead of being allocated per block.
    let blocks: Pool<u8> = Pool::default();
    let outcomes: Pool<Outcome> = Pool::default();
    let source: Arc<str> = Arc::from(c.source());
    let detail = c.fields();
    let label = c.source().to_string();
    std::thread::scope(|scope| {
        let reader_res = res_tx.clone();
        let mut reader = reader;
        let pool = &blocks;
        let spawned = std::thread::Builder::new()
            .name("kvaudit-read".into())
            .spawn_scoped(scope, move || {
                let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + (BLOCK >> 2));
                let mut offset = 0u64;
                let mut seq = 0u64;
                let mut want = BLOCK;
                let mut eof = false;
                loop {
                    while !eof && buf.len() < want {
                        // In steps, each scanned for record ends while it
                        // is still in cache from the copy.
                        let need = (want - buf.len()).min(STEP) as u64;
                        match (&mut reader).take(need).read_to_end(&mut buf) {
                            Ok(got) if (got as u64) < need => eof = true,
                            Ok(_) => {}
                            Err(e) => {
                                let e = Stop::Failed(Error::io(&label, e));
                                let _ = reader_res.send((seq, Err(e)));
                                return;
                            }
                        }
                        if !eof {
                            cutter.cut(&buf);
                        }
                    }
                    let cut = if eof { buf.len() } else { cutter.cut(&buf) };
                    if cut == 0 {
                        if eof {
                            return;
                        }
                        if buf.len() >= MAX_RECORD {
                            let _ = reader_res.send((seq, Err(Stop::Runaway(offset))));
                            return;
                        }
                        // One record longer than a block: read more.
                        want = (buf.len() * 2).min(MAX_RECORD);
                        continue;
                    }
                    want = BLOCK;
                    if tok_rx.recv().is_err() {
                        return;
                    }
                    let mut next = pool.take(BLOCK + (BLOCK >> 2));
                    next.extend_from_slice(&buf[cut..]);
                    buf.truncate(cut);
                    let data = std::mem::replace(&mut buf, next);
                    cutter.consumed(cut);
                    let block = Block {
                        data,
                        start: offset,
                    };
                    offset += cut as u64;
                    if work_tx.send((seq, block)).is_err() {
                        return;
                    }
                    seq += 1;
                    if eof && buf.is_empty() {
                        return;
                    }
                }
            });
        spawned.map_err(|e| Error::Other(format!("cannot start a thread: {e}")))?;
        let mut handles = Vec::with_capacity(n_workers);
        for _ in 0..n_workers {
            let res_tx = res_tx.clone();
            let (work_rx, parse, source) = (&work_rx, &parse, source.clone());
            let (blocks, outcomes) = (&blocks, &outcomes);
            let part = c.fork();
            let spawned = std::thread::Builder::new()
                .name("kvaudit-parse".into())
                .spawn_scoped(scope, move || {
                    let mut w = Worker::new(source, detail, part);
                    loop {
                        let next = work_rx.lock().map(|rx| rx.recv());
                        let Ok(Ok((seq, block))) = next else {
                            w.finish();
                            return w.part;
                        };
                        w.seq = seq;
                        w.out = outcomes.take(0);
                        let records = parse(&block, &mut w);
                        blocks.give(block.data);
                        let out = std::mem::take(&mut w.out);
                        if res_tx.send((seq, Ok((out, records)))).is_err() {
                            return None;
                        }
                        w.between();
                    }
                });
            handles.push(spawned.map_err(|e| Error::Other(format!("cannot start a thread: {e}")))?);
        }
        drop(res_tx);
        // Takes the receiving ends: when it returns (an error included) they
        // are dropped, which stops the reader and the workers.
        apply_in_order(res_rx, tok_tx, &outcomes, c, &position)?;
        // Every block was applied, so every worker has ended: their parts
        // hold the events they folded.
        for h in handles {
            let part = h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if let Some(part) = part {
                c.join(part)?;
            }
        }
        Ok(())
    })
}

/// [`run`] on the calling thread, for a small file read among many at once
/// (see [`super::files`]): one read, one block, no thread started.
fn run_inline<P>(
    mut reader: Box<dyn Read + Send + '_>,
    parse: P,
    c: &mut Collector,
    position: &dyn Fn(u64, Option<u64>) -> String,
) -> Result<()>
where
    P: Fn(&Block, &mut Worker) -> u64,
{
    let mut data = Vec::new();
    reader
        .read_to_end(&mut data)
        .map_err(|e| Error::io(c.source(), e))?;
    run_owned(data, parse, c, position)
}

/// [`run_inline`] on bytes already in memory (no copy).
pub(super) fn run_owned<P>(
    data: Vec<u8>,
    parse: P,
    c: &mut Collector,
    position: &dyn Fn(u64, Option<u64>) -> String,
) -> Result<()>
where
    P: Fn(&Block, &mut Worker) -> u64,
{
    // The collector's interner (the file worker's, kept across its files),
    // and the sink's part when it lends one (a file worker's, whose events
    // then fold as they are parsed, ordered by the file's place).
    let part = c.lend();
    let mut w = Worker {
        source: Arc::from(c.source()),
        detail: c.fields(),
        interner: std::mem::take(c.interner),
        out: Vec::new(),
        part,
        seq: c.opts.file,
    };
    parse(&Block { data, start: 0 }, &mut w);
    *c.interner = std::mem::take(&mut w.interner);
    let part = w.part.take();
    let mut applied = Ok(());
    for o in w.out {
        applied = c.apply(o, 0, position);
        if applied.is_err() {
            break;
        }
    }
    if let Some(p) = part {
        c.give_back(p);
    }
    applied
}

/// Emptied vectors, for reuse.
struct Pool<T>(Mutex<Vec<Vec<T>>>);

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool(Mutex::new(Vec::new()))
    }
}

impl<T> Pool<T> {
    fn take(&self, capacity: usize) -> Vec<T> {
        let reused = self.0.lock().ok().and_then(|mut p| p.pop());
        reused.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    fn give(&self, mut v: Vec<T>) {
        v.clear();
        if let Ok(mut p) = self.0.lock() {
            p.push(v);
        }
    }
}

fn apply_in_order(
    results: mpsc::Receiver<(u64, Parsed)>,
    tokens: mpsc::SyncSender<()>,
    pool: &Pool<Outcome>,
    c: &mut Collector,
    position: &dyn Fn(u64, Option<u64>) -> String,
) -> Result<()> {
    let mut pending: BTreeMap<u64, Parsed> = BTreeMap::new();
    let mut next = 0u64;
    let mut base = 0u64;
    for (seq, parsed) in results.iter() {
        pending.insert(seq, parsed);
        while let Some(parsed) = pending.remove(&next) {
            let (mut outcomes, records) = match parsed {
                Ok(parsed) => parsed,
                Err(Stop::Failed(e)) => return Err(e),
                Err(Stop::Runaway(byte)) => {
                    return Err(Error::Malformed {
                        at: crate::error::Location {
                            source: c.source().to_string(),
                            position: position(base + 1, Some(byte)),
                        },
                        message: format!(
                            "found no end of record in {} MiB; expected a line end (an unterminated quote?)",
                            MAX_RECORD >> 20
                        ),
                    })
                }
            };
            for o in outcomes.drain(..) {
                c.apply(o, base, position)?;
            }
            pool.give(outcomes);
            base += records;
            next += 1;
            let _ = tokens.send(());
        }
    }
    Ok(())
}
