//! The compliance report: summary, callers and findings over a time window,
//! optionally redacted so it can be shared. Rendered by `render::*`.

use crate::analyze::access;
use crate::analyze::activity;
use crate::analyze::callers::{self, CallerRow};
use crate::analyze::explain;
use crate::analyze::findings::{self, Finding, Policy, Severity};
use crate::analyze::redact::Redactor;
use crate::error::{Error, Result};
use crate::event::{format_time, Event, Occurrence};

use crate::identify::Catalog;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Period {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Summary {
    pub events: u64,
    /// Accounting: rows_read = rows_kept + the sum of rows_skipped (by
    /// reason); rows_kept = events + rows_outside_period.
    pub rows_read: u64,
    pub rows_kept: u64,
    pub rows_skipped: BTreeMap<String, u64>,
    pub rows_outside_period: u64,
    /// Files of walked directories passed over (not logs, or unreadable
    /// with --skip-invalid).
    pub files_skipped: Vec<String>,
    /// Blobs of an archive tree not opened: their `y=/m=/d=/h=` hour lies
    /// outside the period.
    #[serde(default)]
    pub blobs_outside_period: u64,
    pub callers: u64,
    pub callers_by_kind: BTreeMap<String, u64>,
    pub denials_by_kind: BTreeMap<String, u64>,
    pub not_denials: explain::NotDenials,
    pub findings_by_severity: BTreeMap<String, u64>,
    /// Requests and 403s per UTC day, for the chart.
    pub per_day: BTreeMap<String, DayCount>,
}

pub use super::activity::DayCount;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// The version of this document's contract: it changes when a field
    /// changes meaning or goes away (2: `status` may be null, files_skipped
    /// entries carry their reason).
    #[serde(default)]
    pub schema_version: u32,
    pub generated_at: String,
    pub inputs: Vec<String>,
    pub period: Period,
    pub summary: Summary,
    pub callers: Vec<CallerRow>,
    pub findings: Vec<Finding>,
    /// Every secret, key and certificate the log names: who read it and
    /// when last (sorted by vault, type and name).
    #[serde(default)]
    pub access: Vec<access::ObjectAccess>,
    /// Each caller's requests per day and client addresses, in the order
    /// of `callers`.
    #[serde(default)]
    pub activity: Vec<activity::CallerActivity>,
    /// `report --databricks`: who is behind the AzureDatabricks reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<super::attribute::Attribution>,
}

pub use super::select::{parse_instant, parse_since, Window};

pub struct Options<'a> {
    pub window: Window,
    pub policy: &'a Policy,
    pub baseline: Option<HashSet<String>>,
    /// With `--redact`: a redacted baseline is compared through it.
    pub redactor: Option<&'a Redactor>,
    pub now: DateTime<Utc>,
    pub inputs: Vec<String>,
    /// `--assignments`: judged against use (broader_than_used,
    /// unused_assignment).
    pub assignments: Option<&'a [crate::analyze::explain::assignments::Assignment]>,
    /// `--objects`: what the vaults hold (dormant_object).
    pub listed: Option<&'a [crate::ingest::objects::Listed]>,
    /// The `--vault` selection (lower case; empty: every vault).
    pub vaults: Vec<String>,
    /// `--databricks`: the per-person findings on the reads attributed to
    /// people ([`findings::attributed_findings`]).
    pub attributed: Option<&'a [Finding]>,
}

/// See [`Report::schema_version`].
pub const SCHEMA_VERSION: u32 = 2;

impl Report {
    /// This report with every identifier replaced by its pseudonym (see
    /// [`Redactor`]), as data, before any format escapes it.
    pub fn redacted(&self, r: &Redactor) -> Result<Report> {
        let mut v = serde_json::to_value(self).map_err(|e| Error::Output(e.to_string()))?;
        r.tree(&mut v);
        serde_json::from_value(v).map_err(|e| Error::Output(e.to_string()))
    }
}

/// Reads the principal keys of a previous report (`--baseline`).
pub fn load_baseline(text: &str, path: &str) -> Result<HashSet<String>> {
    let r: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::Other(format!("{path}: expected a kvaudit report JSON: {e}")))?;
    let callers = r.get("callers").and_then(|c| c.as_array()).ok_or_else(|| {
        Error::Other(format!(
            "{path}: expected a kvaudit report JSON with a \"callers\" array"
        ))
    })?;
    Ok(callers
        .iter()
        .filter_map(|c| {
            c.get("oid")
                .and_then(|v| v.as_str())
                .or_else(|| c.get("appid").and_then(|v| v.as_str()))
        })
        .map(str::to_ascii_lowercase)
        .collect())
}

/// Everything the report needs, gathered one event at a time so that
/// `kvaudit report` never holds the events: callers, denial groups, finding
/// evidence and daily counts (memory grows with callers, objects and days).
pub struct ReportFold<'p> {
    policy: &'p Policy,
    /// Everything but the denials: on the parsing threads when it can be
    /// (see [`crate::pipeline::Sink::fork`]).
    tally: ReportPart,
    /// Failed requests (denials and noise) are explained on a thread of
    /// their own, in input order.
    explain: ExplainThread,
    /// Failed requests of the period not yet handed to the explaining thread.
    batch: Vec<Event>,
    /// `report --databricks`: the AzureDatabricks reads of the period, to
    /// name the people behind them.
    databricks: Option<super::attribute::DatabricksReads>,
}

/// What the report gathers of every event of the period: counts, first and
/// last times, daily counts, callers, finding evidence and the successes
/// that resolve denials. Each merges (sums, unions, extremes, the earliest
/// or latest by input order), so parsing threads each fold one over their
/// own events and pass on only the failed requests; the parts are merged at
/// the end. Every field but the settings (`window`, `base`, `databricks`)
/// is filled by folding events only: [`ReportPart::merge`] takes a part
/// whole into a tally that [`ReportPart::untouched`] says is empty, so a
/// field filled otherwise must be kept there too.
struct ReportPart {
    window: Window,
    callers: callers::CallerFold,
    findings: findings::FindingsAcc,
    access: access::AccessFold,
    activity: activity::ActivityFold,
    uses: super::usage::UsesFold,
    successes: explain::SuccessFold,
    per_day: BTreeMap<chrono::NaiveDate, DayCount>,
    events: u64,
    outside: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    /// One past the latest order folded: where the next input's orders
    /// start.
    seen: u64,
    /// For a part: the order its input starts at.
    base: u64,
    /// Pass AzureDatabricks reads on too (`report --databricks`).
    databricks: bool,
    /// A part's successes not yet folded, gathered by what they share.
    pending: Pending,
}

/// Successes alike but for their [`Occurrence`]s (see [`Event::alike`]),
/// gathered so that each set is folded at once: a lookup of its caller,
/// object and vault for all of them rather than one per event. The folds
/// take events in any order (they keep the first by its order), so the
/// successes may come after later failures. All are held but
/// AzureDatabricks reads with `--databricks` (matched one by one).
///
/// The occurrences are held in one log, each with its set, and grouped by
/// set only when folded (a counting sort): no list per set to grow, and
/// the room of every vector is kept from one fold of them to the next.
#[derive(Default)]
struct Pending {
    index: hashbrown::HashTable<u32>,
    /// Each set's event (its first occurrence applied), hash and size.
    sets: Vec<Event>,
    hashes: Vec<u64>,
    sizes: Vec<u32>,
    /// Every occurrence held, in the order held, and its set.
    log: Vec<Held>,
    of_set: Vec<u32>,
    /// The files of the occurrences held ([`Held::source`]), and the last
    /// one's place among them.
    sources: Vec<std::sync::Arc<str>>,
    source_at: crate::collections::Map<usize, u32>,
    last_source: usize,
    /// Room for the log's places grouped by set, and for one set's
    /// occurrences.
    grouped: Vec<u32>,
    rows: Vec<Occurrence>,
}

/// An [`Occurrence`] held: its file by its place in [`Pending::sources`].
#[derive(Clone, Copy)]
struct Held {
    time: DateTime<Utc>,
    order: u64,
    record: u64,
    duration_ms: Option<i64>,
    source: u32,
}

/// Successes held, by all parts together, before they are folded (between
/// pieces of the input; within one only at twice as many). The more
/// are held, the larger each set and the fewer folds: 2^19 per part rather
/// than 2^17 made `report` 8-12% faster on 1M rows with two parts (the
/// heavy mix's many distinct sets most); peak RSS of the 1M CSV `report`
/// 191-210 MiB -> 227-233 MiB. An occurrence held takes 52 bytes, and 4 more
/// while they are folded.
const PENDING: usize = 1 << 20;

/// How many successes a part holds before folding them: [`PENDING`]
/// shared by one part per core (as many as read at once, at most 8, so
/// at least 2^17 each);
/// `KVAUDIT_PENDING` lowers it (tests compare 0, folding each at once,
/// with small and large sets).
fn pending_bound() -> usize {
    static BOUND: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BOUND.get_or_init(|| {
        let parts = std::thread::available_parallelism().map_or(1, usize::from);
        let each = PENDING / parts.clamp(1, 8);
        std::env::var("KVAUDIT_PENDING")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(each, |n: usize| n.min(each))
    })
}

impl Pending {
    /// How many occurrences are held.
    fn held(&self) -> usize {
        self.log.len()
    }

    /// The set of events like `e`, made when there is none (its event `e`,
    /// as its `first` occurrence when one is given).
    fn set_of(&mut self, e: &Event, first: Option<&Occurrence>) -> u32 {
        let h = e.alike_hash();
        let sets = &self.sets;
        if let Some(&i) = self.index.find(h, |&i| sets[i as usize].alike(e)) {
            return i;
        }
        // Fewer sets than occurrences, held fewer than 2^32 at once.
        let i = self.sets.len() as u32;
        let hashes = &self.hashes;
        self.index.insert_unique(h, i, |&i| hashes[i as usize]);
        self.hashes.push(h);
        let mut held = e.clone();
        if let Some(first) = first {
            first.apply(&mut held);
        }
        self.sets.push(held);
        self.sizes.push(0);
        i
    }

    /// The place of `source` among the files held, added when new.
    fn source(&mut self, source: &std::sync::Arc<str>) -> u32 {
        let last = self.last_source;
        if !self
            .sources
            .get(last)
            .is_some_and(|s| std::sync::Arc::ptr_eq(s, source))
        {
            // Known by its address while it is held here.
            let address = std::sync::Arc::as_ptr(source) as *const u8 as usize;
            let next = self.sources.len() as u32;
            let at = *self.source_at.entry(address).or_insert(next);
            if at == next {
                self.sources.push(source.clone());
            }
            self.last_source = at as usize;
        }
        self.last_source as u32
    }

    /// Adds `held` to the log, in set `set`.
    fn hold(&mut self, set: u32, held: Held) {
        if self.log.capacity() == 0 {
            // Room for as many as are held before a fold and a piece more
            // (a block holds a few thousand rows, a row group often up to
            // 2^17), taken as used; a larger piece grows it.
            let room = pending_bound() + (pending_bound() / 4).max(1 << 17);
            self.log.reserve(room);
            self.of_set.reserve(room);
        }
        self.log.push(held);
        self.of_set.push(set);
        self.sizes[set as usize] += 1;
    }

    /// Holds `e` (at `order`); true when it must be folded now (see
    /// [`Pending::full`]).
    fn push(&mut self, e: &Event, order: u64) -> bool {
        let set = self.set_of(e, None);
        let held = Held {
            time: e.time,
            order,
            record: e.source_record,
            duration_ms: e.duration_ms,
            source: self.source(&e.source),
        };
        self.hold(set, held);
        self.full()
    }

    /// Whether it is time to fold, between pieces of the input (see
    /// [`crate::pipeline::ThreadFold::between`]).
    fn due(&self) -> bool {
        self.held() >= pending_bound()
    }

    /// Whether it is past time to fold, within a piece: a piece (a row
    /// group above all) may hold many events, but not without bound.
    fn full(&self) -> bool {
        self.held() >= pending_bound() * 2
    }

    /// Holds the events like `e` of `rows` (taken from it, in input
    /// order, not empty); true when they must be folded now.
    fn extend(&mut self, e: &Event, rows: &mut Vec<Occurrence>) -> bool {
        let Some(first) = rows.first() else {
            return false;
        };
        let set = self.set_of(e, Some(first));
        for o in rows.drain(..) {
            let held = Held {
                time: o.time,
                order: o.order,
                record: o.record,
                duration_ms: o.duration_ms,
                source: self.source(&o.source),
            };
            self.hold(set, held);
        }
        self.full()
    }

    /// Calls `fold` with each set's event and occurrences (in the order
    /// held), then lets go of them all, keeping the room.
    fn fold_each(&mut self, mut fold: impl FnMut(&mut Event, &mut Vec<Occurrence>)) {
        // Where each set's occurrences start in `grouped`.
        let mut at = 0u32;
        for n in &mut self.sizes {
            let size = *n;
            *n = at;
            at += size;
        }
        self.grouped.clear();
        self.grouped.resize(self.log.len(), 0);
        for (i, &set) in self.of_set.iter().enumerate() {
            let to = &mut self.sizes[set as usize];
            // Fewer than 2^32 held at once (see `set_of`).
            self.grouped[*to as usize] = i as u32;
            *to += 1;
        }
        // `sizes` now holds where each set ends.
        let mut from = 0usize;
        for (e, &end) in self.sets.iter_mut().zip(&self.sizes) {
            let end = end as usize;
            self.rows.extend(self.grouped[from..end].iter().map(|&i| {
                let h = &self.log[i as usize];
                Occurrence {
                    time: h.time,
                    order: h.order,
                    source: self.sources[h.source as usize].clone(),
                    record: h.record,
                    duration_ms: h.duration_ms,
                }
            }));
            from = end;
            fold(e, &mut self.rows);
            self.rows.clear();
        }
        self.index.clear();
        self.sets.clear();
        self.hashes.clear();
        self.sizes.clear();
        self.log.clear();
        self.of_set.clear();
        self.sources.clear();
        self.source_at.clear();
        self.last_source = 0;
    }
}

impl ReportPart {
    fn new(window: Window, findings: findings::FindingsAcc, base: u64) -> Self {
        ReportPart {
            window,
            callers: Default::default(),
            findings,
            access: Default::default(),
            activity: Default::default(),
            uses: Default::default(),
            successes: Default::default(),
            per_day: BTreeMap::new(),
            events: 0,
            outside: 0,
            first: None,
            last: None,
            seen: base,
            base,
            databricks: false,
            pending: Pending::default(),
        }
    }

    /// Folds in the events held (see [`Pending`]).
    fn flush(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        pending.fold_each(|e, rows| {
            // A set's rows come in input order but from a columnar
            // reader's groups, which may interleave.
            if !rows.is_sorted_by_key(|o| o.order) {
                rows.sort_by_key(|o| o.order);
            }
            self.fold_alike(e, rows);
        });
        self.pending = pending;
    }

    /// [`ReportPart::fold`] for successes like `e`, each of `rows` (in
    /// input order) making one of them.
    fn fold_alike(&mut self, e: &mut Event, rows: &[Occurrence]) {
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return;
        };
        let n = rows.len() as u64;
        let (mut early, mut late) = (first.time, first.time);
        // How many on each day: a count per run of one day, then the runs
        // of a day added up (sorting: a set may span many days).
        let mut days: Vec<(chrono::NaiveDate, u64)> = Vec::new();
        for r in rows {
            early = early.min(r.time);
            late = late.max(r.time);
            let date = r.time.date_naive();
            match days.last_mut() {
                Some((d, k)) if *d == date => *k += 1,
                _ => days.push((date, 1)),
            }
        }
        if days.len() > 1 {
            days.sort_unstable_by_key(|d| d.0);
            days.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 += later.1;
                }
                same
            });
        }
        self.seen = self.seen.max(last.order + 1);
        self.events += n;
        self.first = Some(self.first.map_or(early, |t| t.min(early)));
        self.last = Some(self.last.map_or(late, |t| t.max(late)));
        for &(d, k) in &days {
            self.per_day.entry(d).or_default().requests += k;
        }
        let micros = (early.timestamp_micros(), late.timestamp_micros());
        let slot = self
            .callers
            .add_range(e, n, micros, (first.order, last.order));
        self.access.add_range(slot, e, n, micros);
        self.activity.add_days(slot, e, &days);
        self.uses.add_range(slot, e, n, micros);
        self.findings.add_rows(slot, e, rows, &days);
        self.successes.add_rows(e, rows);
    }

    /// Whether `e` falls in the period (counted as outside when not).
    fn in_window(&mut self, e: &Event) -> bool {
        let w = &self.window;
        let inside = w.from.is_none_or(|f| e.time >= f) && w.to.is_none_or(|t| e.time < t);
        if !inside {
            self.outside += 1;
        }
        inside
    }

    /// Folds in an event of the period at `order`.
    fn fold(&mut self, e: &Event, order: u64) {
        self.seen = self.seen.max(order + 1);
        self.events += 1;
        self.first = Some(self.first.map_or(e.time, |t| t.min(e.time)));
        self.last = Some(self.last.map_or(e.time, |t| t.max(e.time)));
        let d = self.per_day.entry(e.time.date_naive()).or_default();
        d.requests += 1;
        if e.status == Some(403) {
            d.denied += 1;
        }
        let slot = self.callers.add_ordered(e, order);
        self.findings.add(slot, e, order);
        self.access.add(slot, e);
        self.activity.add(slot, e);
        self.uses.add(slot, e);
        if succeeded(e) {
            self.successes.add(e, order);
        }
    }

    /// Whether nothing was folded, held or counted here.
    fn untouched(&self) -> bool {
        self.events == 0
            && self.outside == 0
            && self.pending.held() == 0
            && self.callers.keys().next().is_none()
    }

    /// An empty part for a parsing thread, its events after those so far.
    fn part(&self) -> ReportPart {
        ReportPart {
            databricks: self.databricks,
            ..ReportPart::new(self.window, self.findings.part(), self.seen)
        }
    }

    fn merge(&mut self, mut o: ReportPart) {
        o.flush();
        o.pending = Pending::default();
        // Nothing folded here yet (the first part of a read): the part,
        // whose orders are already the input's, becomes the tally whole
        // rather than merged into empty folds an entry at a time.
        if self.untouched() {
            let seen = self.seen.max(o.seen);
            *self = ReportPart {
                window: self.window,
                base: self.base,
                databricks: self.databricks,
                seen,
                ..o
            };
            return;
        }
        let to = self.callers.merge(o.callers);
        self.findings.merge(o.findings, &to);
        self.access.merge(o.access, &to);
        self.activity.merge(o.activity, &to);
        self.uses.merge(o.uses, &to);
        self.successes.merge(o.successes);
        for (day, c) in o.per_day {
            let d = self.per_day.entry(day).or_default();
            d.requests += c.requests;
            d.denied += c.denied;
        }
        self.events += o.events;
        self.outside += o.outside;
        self.first = self.first.into_iter().chain(o.first).min();
        self.last = self.last.into_iter().chain(o.last).max();
        self.seen = self.seen.max(o.seen);
    }
}

/// The callers, objects, use and activity of the tally, the activity in
/// the order of the callers' rows.
fn tabled(
    tally: &ReportPart,
    catalog: &Catalog,
    ids: &std::collections::HashMap<crate::identify::CallerKey, crate::identify::Identity>,
) -> (
    Vec<CallerRow>,
    Vec<access::ObjectAccess>,
    super::usage::Usage,
    Vec<activity::CallerActivity>,
) {
    let callers = tally.callers.rows(catalog);
    let who = access::who_with(&tally.callers, ids);
    let objects = tally.access.rows(&who);
    let usage = tally.uses.usage(who, tally.callers.first_orders());
    let mut by_key: std::collections::HashMap<_, _> = tally
        .activity
        .rows(tally.callers.keys())
        .into_iter()
        .map(|a| ((a.appid.clone(), a.oid.clone(), a.upn.clone()), a))
        .collect();
    let activity = callers
        .iter()
        .filter_map(|c| by_key.remove(&(c.appid.clone(), c.oid.clone(), c.upn.clone())))
        .collect();
    (callers, objects, usage, activity)
}

/// A 2xx response: folded with the successes, never explained.
fn succeeded(e: &Event) -> bool {
    e.succeeded()
}

impl crate::pipeline::ThreadFold for ReportPart {
    fn add(&mut self, e: &Event, order: u64) -> bool {
        if !self.in_window(e) {
            return false;
        }
        let order = self.base + order;
        let databricks = self.databricks && super::attribute::is_databricks_read(e);
        // Failures are folded at once: held like the successes they took
        // 20-50 MiB more on the heavy mix for no time saved.
        if succeeded(e) && !databricks && pending_bound() > 0 {
            self.seen = self.seen.max(order + 1);
            if self.pending.push(e, order) {
                self.flush();
            }
            return false;
        }
        self.fold(e, order);
        !succeeded(e) || databricks
    }

    fn takes_rows(&self, e: &Event) -> bool {
        // What `add` holds, taken as a set at once.
        let databricks = self.databricks && super::attribute::is_databricks_read(e);
        succeeded(e) && !databricks && pending_bound() > 0
    }

    fn add_rows(&mut self, e: &Event, rows: &mut Vec<Occurrence>) -> bool {
        if !self.takes_rows(e) {
            return false;
        }
        let w = self.window;
        let n = rows.len();
        rows.retain(|o| w.from.is_none_or(|f| o.time >= f) && w.to.is_none_or(|t| o.time < t));
        self.outside += (n - rows.len()) as u64;
        let Some(last) = rows.last() else {
            return true;
        };
        self.seen = self.seen.max(self.base + last.order + 1);
        for o in rows.iter_mut() {
            o.order += self.base;
        }
        if self.pending.extend(e, rows) {
            self.flush();
        }
        true
    }

    fn done(&mut self) {
        self.flush();
        // Nothing more is held here: the room goes with the thread.
        self.pending = Pending::default();
    }

    fn between(&mut self) {
        if self.pending.due() {
            self.flush();
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl<'p> ReportFold<'p> {
    pub fn new(window: Window, policy: &'p Policy) -> Self {
        ReportFold {
            policy,
            tally: ReportPart::new(window, findings::FindingsAcc::new(policy), 0),
            explain: ExplainThread::start(),
            batch: Vec::with_capacity(BATCH),
            databricks: None,
        }
    }

    /// Also keeps the AzureDatabricks reads of the period (see
    /// [`ReportFold::take_databricks`]).
    /// `mapped`: `--scopes` maps scopes to vaults.
    pub fn with_databricks(mut self, mapped: bool) -> Self {
        self.databricks = Some(super::attribute::DatabricksReads::new(mapped));
        self.tally.databricks = true;
        self
    }

    /// The AzureDatabricks reads kept, once every event is in.
    pub fn take_databricks(&mut self) -> Option<super::attribute::DatabricksReads> {
        self.databricks.take()
    }

    pub fn add(&mut self, e: Event) {
        if !self.tally.in_window(&e) {
            return;
        }
        let order = self.tally.seen;
        self.tally.fold(&e, order);
        if !succeeded(&e) {
            self.queue(e);
        } else if let Some(d) = &mut self.databricks {
            d.keep(&e);
        }
    }

    /// Queues a failed request of the period for the explaining thread.
    fn queue(&mut self, e: Event) {
        self.batch.push(e);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    /// Hands the batch to the explaining thread.
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.explain.send(batch);
    }

    /// The (appid, oid) of every caller in the period, for `--resolve`.
    pub fn principals(&mut self) -> Vec<(Option<&str>, Option<&str>)> {
        self.tally.callers.principals()
    }

    /// The report (redacted by the caller, see [`Report::redacted`]). The
    /// folds it is made from are freed on a thread of their own
    /// ([`crate::collections::free_aside`]).
    pub fn finish(
        mut self,
        files: &crate::ingest::Ingested,
        catalog: &Catalog,
        opts: &Options,
    ) -> Report {
        self.flush();
        let (mut explain, denials_by_kind) = self.explain.join();
        let mut tally = self.tally;
        explain.add_successes(std::mem::take(&mut tally.successes));
        // The callers fold saw the same events as the explaining one.
        let ids = tally.callers.identities(catalog);
        if let Some(l) = opts.listed {
            tally.access.add_listed(l);
        }
        // The denials are explained and the findings judged while the rest
        // is tabled (each needs only the folds and the identities).
        let empty = tally.findings.part();
        let acc = std::mem::replace(&mut tally.findings, empty);
        let (ex, mut found, (callers, objects, usage, activity)) = std::thread::scope(|s| {
            let tally = &tally;
            let table = || tabled(tally, catalog, &ids);
            let tabling = std::thread::Builder::new()
                .name("kvaudit-table".into())
                .spawn_scoped(s, table);
            let ex = explain.finish_with(catalog, &ids);
            let found = findings::FindingsFold::with(self.policy, acc, tally.callers.keys())
                .finish(&ex, opts.baseline.as_ref(), opts.redactor, &ids);
            // No thread to be had: tabled here.
            let tabled = match tabling {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => table(),
            };
            (ex, found, tabled)
        });
        let rights = opts
            .assignments
            .map(|a| super::rights::rights(&usage, a, &opts.vaults).0);
        let plans = super::plan::plan(&usage, &[]);
        findings::add_use_findings(
            self.policy,
            &findings::UseInputs {
                rights: rights.as_deref(),
                plans: &plans,
                objects: opts.listed.map(|_| objects.as_slice()),
                vault_windows: usage.vault_windows(),
            },
            &mut found,
        );
        if let Some(more) = opts.attributed {
            found.extend(more.iter().cloned());
            found.sort_by(|a, b| {
                b.severity
                    .cmp(&a.severity)
                    .then(a.kind.as_str().cmp(b.kind.as_str()))
            });
        }
        let mut s = Summary {
            events: tally.events,
            rows_read: files.rows_read(),
            rows_kept: files.rows_kept(),
            rows_skipped: files.rows_skipped(),
            rows_outside_period: tally.outside,
            files_skipped: files.files_skipped.clone(),
            blobs_outside_period: files.blobs_outside_period,
            callers: callers.len() as u64,
            not_denials: ex.not_denials.clone(),
            denials_by_kind,
            per_day: std::mem::take(&mut tally.per_day)
                .into_iter()
                .map(|(d, c)| (d.to_string(), c))
                .collect(),
            ..Default::default()
        };
        for c in &callers {
            *s.callers_by_kind.entry(c.kind.clone()).or_insert(0) += 1;
        }
        for f in &found {
            *s.findings_by_severity
                .entry(format!("{:?}", f.severity).to_ascii_lowercase())
                .or_insert(0) += 1;
        }
        let period = Period {
            from: opts.window.from.or(tally.first).map(|t| format_time(&t)),
            to: opts.window.to.or(tally.last).map(|t| format_time(&t)),
        };
        // The folds are freed while the report is written.
        crate::collections::free_aside((tally, usage, ex, ids, plans, rights));
        Report {
            schema_version: SCHEMA_VERSION,
            generated_at: format_time(&opts.now),
            inputs: opts.inputs.clone(),
            period,
            summary: s,
            callers,
            findings: found,
            access: objects,
            activity,
            attribution: None,
        }
    }
}

impl crate::pipeline::Sink for ReportFold<'_> {
    fn event(&mut self, e: Event) -> Result<()> {
        self.add(e);
        Ok(())
    }

    /// Everything but the explanation of failed requests folds on the
    /// parsing threads.
    fn fork(&mut self) -> Option<Box<dyn crate::pipeline::ThreadFold>> {
        Some(Box::new(self.tally.part()))
    }

    fn join(&mut self, part: Box<dyn crate::pipeline::ThreadFold>) -> Result<()> {
        self.tally.merge(crate::pipeline::take_part(part)?);
        Ok(())
    }

    fn forwarded(&mut self, e: Event) -> Result<()> {
        if succeeded(&e) {
            if let Some(d) = &mut self.databricks {
                d.keep(&e);
            }
        } else {
            self.queue(e);
        }
        Ok(())
    }
}

/// Events handed at a time to the explaining thread.
const BATCH: usize = 1024;

/// What the explaining side gathers: the fold and the denials by kind.
type Explained = (explain::ExplainFold, BTreeMap<String, u64>);

/// The [`explain::ExplainFold`] of a report, on its own thread (it is a
/// third of the report's work per event), or here when no thread could be
/// started.
enum ExplainThread {
    Thread {
        /// None once the thread is gone (it panicked: `join` reports it).
        tx: Option<std::sync::mpsc::SyncSender<Vec<Event>>>,
        handle: std::thread::JoinHandle<Explained>,
    },
    /// Boxed: the rare case.
    Inline(Box<Explained>),
}

fn explain_batch((fold, kinds): &mut Explained, batch: &[Event]) {
    for e in batch {
        if let Some(kind) = fold.add(e) {
            *kinds.entry(kind.as_str().into()).or_insert(0) += 1;
        }
    }
}

impl ExplainThread {
    fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(4);
        let spawned = std::thread::Builder::new()
            .name("kvaudit-explain".into())
            .spawn(move || {
                let mut done: Explained =
                    (explain::ExplainFold::without_identities(), BTreeMap::new());
                for batch in rx {
                    explain_batch(&mut done, &batch);
                }
                done
            });
        match spawned {
            Ok(handle) => ExplainThread::Thread {
                tx: Some(tx),
                handle,
            },
            Err(_) => ExplainThread::Inline(Box::new((
                explain::ExplainFold::without_identities(),
                BTreeMap::new(),
            ))),
        }
    }

    fn send(&mut self, batch: Vec<Event>) {
        match self {
            ExplainThread::Inline(done) => explain_batch(done, &batch),
            ExplainThread::Thread { tx, .. } => {
                if tx.as_ref().is_some_and(|t| t.send(batch).is_err()) {
                    *tx = None;
                }
            }
        }
    }

    fn join(self) -> Explained {
        match self {
            ExplainThread::Inline(done) => *done,
            ExplainThread::Thread { tx, handle } => {
                drop(tx);
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}

/// Whether any finding is at or above `level`.
pub fn exceeds(report: &Report, level: Severity) -> bool {
    report.findings.iter().any(|f| f.severity >= level)
}
