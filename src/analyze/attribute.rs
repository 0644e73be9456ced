//! Names the person behind the AzureDatabricks application: each
//! successful vault read by it (vault, secret, time) is matched to the
//! workspace's `getSecret` of the same scope's vault and key closest in
//! time, within a tolerance, one to one. Both sides are sorted by (key,
//! time) through an external sort (runs of a million records on disk), so
//! the join holds one cluster of nearby reads and events at a time.

use crate::collections::spill::{self, Record, Sorted, Sorter};
use crate::error::{Error, Result};
use crate::event::{format_time, Event};
use crate::ingest::databricks::{Scope, SecretEvent};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The AzureDatabricks first-party application (Microsoft's list of
/// first-party app ids; data/first-party-apps-keyvault.csv).
pub const AZURE_DATABRICKS: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// Items in one cluster (reads and events each less than the tolerance
/// apart) before it is matched and a new one starts: bounds the memory of
/// a job that reads one secret every second for days.
const CLUSTER: usize = 1 << 16;

/// The matching key: a 64-bit digest of the vault (lower case; empty when
/// scopes are not mapped) and the secret (lower case: Key Vault names are
/// case-insensitive).
fn key(vault: &str, secret: &str) -> u64 {
    crate::collections::digest(&(lower(vault), lower(secret)))
}

/// `s` in lower case, copied only when it has upper-case letters.
fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn spill_error(e: std::io::Error) -> Error {
    Error::Other(format!(
        "the attribution's temporary files (in $TMPDIR): {e}"
    ))
}

/// Text values given small numbers, in order of first sight.
#[derive(Debug)]
struct Names<K> {
    ids: HashMap<K, u32>,
    values: Vec<K>,
}

impl<K> Default for Names<K> {
    fn default() -> Self {
        Names {
            ids: HashMap::new(),
            values: Vec::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Names<K> {
    fn id<Q>(&mut self, k: &Q) -> u32
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(i) = self.ids.get(k) {
            return *i;
        }
        let k = k.to_owned();
        let i = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(k.clone());
        self.ids.insert(k, i);
        i
    }
}

/// One read of a secret by AzureDatabricks, from the vault's log: its key,
/// time, (vault, secret) as the log spells them and correlation id digest
/// (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ReadRec {
    key: u64,
    micros: i64,
    object: u32,
    correlation: u64,
}

impl Record for ReadRec {
    const SIZE: usize = 28;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.micros.to_le_bytes());
        out.extend_from_slice(&self.object.to_le_bytes());
        out.extend_from_slice(&self.correlation.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        ReadRec {
            key: spill::u64_at(b, 0),
            micros: spill::u64_at(b, 8) as i64,
            object: spill::u32_at(b, 16),
            correlation: spill::u64_at(b, 20),
        }
    }
}

/// One successful `getSecret` of the workspace: key, time, person and
/// workspace (u32::MAX: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EventRec {
    key: u64,
    micros: i64,
    user: u32,
    workspace: u32,
}

impl Record for EventRec {
    const SIZE: usize = 24;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.micros.to_le_bytes());
        out.extend_from_slice(&self.user.to_le_bytes());
        out.extend_from_slice(&self.workspace.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        EventRec {
            key: spill::u64_at(b, 0),
            micros: spill::u64_at(b, 8) as i64,
            user: spill::u32_at(b, 16),
            workspace: spill::u32_at(b, 20),
        }
    }
}

/// An attributed read, in time order for `report --databricks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct MatchRec {
    micros: i64,
    user: u32,
    object: u32,
}

impl Record for MatchRec {
    const SIZE: usize = 16;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.micros.to_le_bytes());
        out.extend_from_slice(&self.user.to_le_bytes());
        out.extend_from_slice(&self.object.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        MatchRec {
            micros: spill::u64_at(b, 0) as i64,
            user: spill::u32_at(b, 8),
            object: spill::u32_at(b, 12),
        }
    }
}

/// Keeps the AzureDatabricks application's successful secret reads.
#[derive(Debug)]
pub struct DatabricksReads {
    mapped: bool,
    reads: SortedReads,
    objects: Names<(std::sync::Arc<str>, std::sync::Arc<str>)>,
    /// Items in a cluster before it is cut ([`CLUSTER`]; tests use less).
    cluster: usize,
    /// The first error writing a run (reported by [`Self::attribute`]).
    error: Option<std::io::Error>,
}

/// The reads' sorter (a newtype so [`DatabricksReads`] can be `Debug`).
struct SortedReads(Sorter<ReadRec>);

impl std::fmt::Debug for SortedReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} read(s) in {} run(s)", self.0.len(), self.0.runs())
    }
}

impl DatabricksReads {
    /// `mapped`: scopes are mapped to vaults (`--scopes`), so reads are
    /// matched per vault and secret, else per secret.
    pub fn new(mapped: bool) -> Self {
        Self::with_run(mapped, spill::RUN)
    }

    /// As [`Self::new`], sorting runs of `run` reads (tests use tiny runs).
    pub fn with_run(mapped: bool, run: usize) -> Self {
        DatabricksReads {
            mapped,
            reads: SortedReads(Sorter::new(run)),
            objects: Names::default(),
            cluster: CLUSTER,
            error: None,
        }
    }

    /// Keeps `e` when it is an AzureDatabricks read of a named secret.
    pub fn keep(&mut self, e: &Event) {
        if !is_databricks_read(e) || self.error.is_some() {
            return;
        }
        let (Some(v), Some(s)) = (&e.vault, &e.object_name) else {
            return;
        };
        let r = ReadRec {
            key: key(if self.mapped { v } else { "" }, s),
            micros: e.time.timestamp_micros(),
            object: self.objects.id(&(v.clone(), s.clone())),
            correlation: e
                .correlation_id
                .as_deref()
                .map_or(0, |c| crate::collections::digest(c).max(1)),
        };
        if let Err(err) = self.reads.0.push(r) {
            self.error = Some(err);
        }
    }
}

impl crate::pipeline::Sink for DatabricksReads {
    fn event(&mut self, e: Event) -> Result<()> {
        self.keep(&e);
        Ok(())
    }
}

/// The workspace's `getSecret` events, keyed by the vault their scope maps
/// to and sorted on disk as they come.
pub struct WorkspaceEvents {
    /// Scope → vault (lower case); `None`: match on the secret alone.
    vault_of: Option<HashMap<String, String>>,
    users: Names<String>,
    workspaces: Names<String>,
    events: Sorter<EventRec>,
    skipped: BTreeMap<String, u64>,
}

impl WorkspaceEvents {
    /// With `scopes` mapping scope to vault (empty: match on the key alone).
    pub fn new(scopes: &[Scope]) -> Self {
        Self::with_run(scopes, spill::RUN)
    }

    /// As [`Self::new`], sorting runs of `run` events.
    pub fn with_run(scopes: &[Scope], run: usize) -> Self {
        WorkspaceEvents {
            vault_of: (!scopes.is_empty()).then(|| {
                scopes
                    .iter()
                    .map(|s| (s.name.clone(), s.vault.to_ascii_lowercase()))
                    .collect()
            }),
            users: Names::default(),
            workspaces: Names::default(),
            events: Sorter::new(run),
            skipped: BTreeMap::new(),
        }
    }

    /// Whether scopes are mapped to vaults.
    pub fn mapped(&self) -> bool {
        self.vault_of.is_some()
    }

    /// Successful events kept for matching.
    pub fn len(&self) -> u64 {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Adds one `getSecret`: kept when it succeeded and (with scopes) its
    /// scope is a Key Vault scope, else counted by reason.
    pub fn add(&mut self, e: &SecretEvent) -> Result<()> {
        if !e.ok {
            *self
                .skipped
                .entry("not successful (or no status)".into())
                .or_default() += 1;
            return Ok(());
        }
        let vault = match &self.vault_of {
            Some(map) => match map.get(e.scope.as_str()) {
                Some(v) => v.as_str(),
                None => {
                    *self
                        .skipped
                        .entry("scope not a Key Vault scope of --scopes".into())
                        .or_default() += 1;
                    return Ok(());
                }
            },
            None => "",
        };
        let r = EventRec {
            key: key(vault, &e.key),
            micros: e.time.timestamp_micros(),
            // One person however the audit spells the address.
            user: self.users.id(&*lower(&e.user)),
            workspace: e
                .workspace
                .as_ref()
                .map_or(u32::MAX, |w| self.workspaces.id(w.as_str())),
        };
        self.events.push(r).map_err(spill_error)
    }
}

/// The attribution (the public contract of `kvaudit attribute`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attribution {
    pub people: Vec<Person>,
    /// Reads with no workspace event within the tolerance.
    pub unattributed: u64,
    /// Reads an event matched as well as another read (not attributed).
    pub ambiguous: u64,
    /// Attributed reads over all AzureDatabricks reads (null: no reads).
    pub matched_share: Option<f64>,
    /// Workspace events not matched against, by reason.
    pub events_skipped: BTreeMap<String, u64>,
    /// The reads considered, and the tolerance in seconds.
    pub reads: u64,
    pub tolerance_seconds: f64,
    /// Whether scopes were mapped to vaults (`--scopes`), or matched on the
    /// secret name alone.
    pub scopes_mapped: bool,
    /// Vault records seen twice (same vault, secret, time and correlation
    /// id), counted once.
    #[serde(default)]
    pub duplicate_reads: u64,
}

/// One vault read and the person it was attributed to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributedRead {
    pub vault: String,
    pub secret: String,
    pub micros: i64,
    /// The person, lowercased (one person however the audit spells it).
    pub user: String,
}

/// The attributed reads in time order, read back from disk.
pub struct Matched {
    sorted: Sorted<MatchRec>,
    objects: std::sync::Arc<[(String, String)]>,
    users: std::sync::Arc<[String]>,
}

impl Iterator for Matched {
    type Item = Result<AttributedRead>;

    fn next(&mut self) -> Option<Result<AttributedRead>> {
        let m = match self.sorted.next()? {
            Ok(m) => m,
            Err(e) => return Some(Err(spill_error(e))),
        };
        let (vault, secret) = self
            .objects
            .get(m.object as usize)
            .cloned()
            .unwrap_or_default();
        Some(Ok(AttributedRead {
            vault,
            secret,
            micros: m.micros,
            user: self.users.get(m.user as usize).cloned().unwrap_or_default(),
        }))
    }
}

/// A person and what they read through Databricks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Person {
    pub user: String,
    pub platform: String,
    pub reads: u64,
    pub objects: Vec<PersonObject>,
    pub first_seen: String,
    pub last_seen: String,
    pub workspaces: Vec<String>,
}

/// One secret a person read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PersonObject {
    pub vault: String,
    pub object_name: String,
    pub reads: u64,
    pub first_seen: String,
    pub last_seen: String,
}

fn when(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| format_time(&t))
        .unwrap_or_default()
}

/// A sorted stream with its next record at hand.
struct Stream<T: Record> {
    sorted: Sorted<T>,
    head: Option<T>,
}

impl<T: Record> Stream<T> {
    fn new(sorted: Sorted<T>) -> Result<Self> {
        let mut s = Stream { sorted, head: None };
        s.advance()?;
        Ok(s)
    }

    fn advance(&mut self) -> Result<()> {
        self.head = self.sorted.next().transpose().map_err(spill_error)?;
        Ok(())
    }
}

/// What each person read: per object (reads, first, last) and workspaces.
#[derive(Default)]
struct Acc {
    objects: BTreeMap<u32, (u64, i64, i64)>,
    workspaces: BTreeSet<u32>,
}

impl DatabricksReads {
    /// Matches the reads to `events`; with `keep_matches` also gives each
    /// attributed read back in time order (for `report --databricks`).
    pub fn attribute(
        self,
        events: WorkspaceEvents,
        tolerance: f64,
        keep_matches: bool,
    ) -> Result<(Attribution, Option<Matched>)> {
        if let Some(e) = self.error {
            return Err(spill_error(e));
        }
        if self.mapped != events.mapped() {
            return Err(Error::Other(
                "internal: the reads and the workspace events were keyed differently (with and without --scopes)".into(),
            ));
        }
        let tol = (tolerance * 1e6) as i64;
        let mut reads = Stream::new(self.reads.0.finish().map_err(spill_error)?)?;
        let mut evs = Stream::new(events.events.finish().map_err(spill_error)?)?;
        let mut matches: Option<Sorter<MatchRec>> = keep_matches.then(|| Sorter::new(spill::RUN));
        let (mut total, mut matched, mut ambiguous, mut duplicates) = (0u64, 0u64, 0u64, 0u64);
        let mut people: HashMap<u32, Acc> = HashMap::new();
        let (mut rc, mut ec): (Vec<ReadRec>, Vec<EventRec>) = (Vec::new(), Vec::new());
        loop {
            // The key of this cluster: that of the items carried over from
            // a cluster cut at its size limit, else of the next item.
            let carried = rc.first().map(|r| r.key).or(ec.first().map(|e| e.key));
            let k = match (carried, reads.head.map(|r| r.key), evs.head.map(|e| e.key)) {
                (Some(k), _, _) => k,
                (None, None, None) => break,
                (None, Some(a), Some(b)) => a.min(b),
                (None, Some(a), None) | (None, None, Some(a)) => a,
            };
            // One cluster of key k: from its earliest item, while the next
            // is within the tolerance of the previous one.
            let mut last: Option<i64> = rc
                .last()
                .map(|r| r.micros)
                .into_iter()
                .chain(ec.last().map(|e| e.micros))
                .max();
            let mut cut = false;
            loop {
                if rc.len() + ec.len() >= self.cluster {
                    cut = true;
                    break;
                }
                let next_r = reads.head.filter(|r| r.key == k).map(|r| r.micros);
                let next_e = evs.head.filter(|e| e.key == k).map(|e| e.micros);
                let (t, is_read) = match (next_r, next_e) {
                    (Some(a), Some(b)) if a <= b => (a, true),
                    (Some(a), None) => (a, true),
                    (_, Some(b)) => (b, false),
                    (None, None) => break,
                };
                if last.is_some_and(|l| t.saturating_sub(l) > tol) {
                    break;
                }
                last = Some(t);
                if is_read {
                    let Some(r) = reads.head else { break };
                    reads.advance()?;
                    // The same record delivered twice is one read.
                    if r.correlation != 0 && rc.last() == Some(&r) {
                        duplicates += 1;
                        continue;
                    }
                    total += 1;
                    rc.push(r);
                } else if let Some(e) = evs.head {
                    ec.push(e);
                    evs.advance()?;
                }
            }
            // A cluster cut at its size limit (a job reading one secret
            // every second for a day): reads within twice the tolerance of
            // its end, and the events they could take, start the next one.
            let edge = match (cut, last) {
                (true, Some(l)) => {
                    let edge = l.saturating_sub(tol.saturating_mul(2));
                    let tail = rc.iter().filter(|r| r.micros > edge).count()
                        + ec.iter().filter(|e| e.micros > edge).count();
                    // A tail as large as a cluster (thousands of reads in
                    // one instant) is matched as it is, not carried.
                    if tail < self.cluster / 2 {
                        edge
                    } else {
                        i64::MAX
                    }
                }
                _ => i64::MAX,
            };
            let (pairs, amb) = if rc.is_empty() || ec.is_empty() {
                (Vec::new(), Vec::new())
            } else {
                let rt: Vec<(i64, usize)> =
                    rc.iter().enumerate().map(|(i, r)| (r.micros, i)).collect();
                let et: Vec<(i64, usize)> =
                    ec.iter().enumerate().map(|(i, e)| (e.micros, i)).collect();
                match_cluster(&rt, &et, &|e| ec[e].user, tol)
            };
            ambiguous += amb.iter().filter(|&&r| rc[r].micros <= edge).count() as u64;
            let mut taken = vec![false; ec.len()];
            for (ri, ei) in pairs {
                let (r, e) = (rc[ri], ec[ei]);
                if r.micros > edge {
                    continue;
                }
                taken[ei] = true;
                matched += 1;
                let a = people.entry(e.user).or_default();
                let x = a.objects.entry(r.object).or_insert((0, i64::MAX, i64::MIN));
                x.0 += 1;
                x.1 = x.1.min(r.micros);
                x.2 = x.2.max(r.micros);
                if e.workspace != u32::MAX {
                    a.workspaces.insert(e.workspace);
                }
                if let Some(m) = &mut matches {
                    m.push(MatchRec {
                        micros: r.micros,
                        user: e.user,
                        object: r.object,
                    })
                    .map_err(spill_error)?;
                }
            }
            // What is carried into the next cluster (nothing unless cut).
            if edge == i64::MAX {
                rc.clear();
                ec.clear();
            } else {
                rc.retain(|r| r.micros > edge);
                let mut i = 0;
                ec.retain(|e| {
                    i += 1;
                    !taken[i - 1] && e.micros > edge.saturating_sub(tol)
                });
            }
        }
        let objects: std::sync::Arc<[(String, String)]> = self
            .objects
            .values
            .iter()
            .map(|(v, s)| (v.to_string(), s.to_string()))
            .collect();
        let users: std::sync::Arc<[String]> = events.users.values.into();
        let workspaces = events.workspaces.values;
        let mut people: Vec<Person> = people
            .into_iter()
            .map(|(user, a)| {
                let first = a.objects.values().map(|x| x.1).min().unwrap_or(0);
                let last = a.objects.values().map(|x| x.2).max().unwrap_or(0);
                let mut objs: Vec<PersonObject> = a
                    .objects
                    .into_iter()
                    .map(|(o, (n, f, l))| {
                        let (vault, object_name) = objects[o as usize].clone();
                        PersonObject {
                            vault,
                            object_name,
                            reads: n,
                            first_seen: when(f),
                            last_seen: when(l),
                        }
                    })
                    .collect();
                objs.sort_by(|a, b| (&a.vault, &a.object_name).cmp(&(&b.vault, &b.object_name)));
                let ws: BTreeSet<String> = a
                    .workspaces
                    .into_iter()
                    .map(|w| workspaces[w as usize].clone())
                    .collect();
                Person {
                    user: users[user as usize].clone(),
                    platform: "databricks".into(),
                    reads: objs.iter().map(|x| x.reads).sum(),
                    objects: objs,
                    first_seen: when(first),
                    last_seen: when(last),
                    workspaces: ws.into_iter().collect(),
                }
            })
            .collect();
        people.sort_by(|a, b| b.reads.cmp(&a.reads).then_with(|| a.user.cmp(&b.user)));
        let attribution = Attribution {
            people,
            unattributed: total.saturating_sub(matched + ambiguous),
            ambiguous,
            matched_share: (total > 0)
                .then(|| ((matched as f64 / total as f64) * 1000.0).round() / 1000.0),
            events_skipped: events.skipped,
            reads: total,
            tolerance_seconds: tolerance,
            scopes_mapped: self.mapped,
            duplicate_reads: duplicates,
        };
        let matched = match matches {
            Some(m) => Some(Matched {
                sorted: m.finish().map_err(spill_error)?,
                objects,
                users,
            }),
            None => None,
        };
        Ok((attribution, matched))
    }
}

/// `callers --databricks`: the callers, and the AzureDatabricks reads on
/// the side (passed on from the parsing threads, the rest folded there).
#[derive(Debug)]
pub struct CallersAndReads {
    pub callers: crate::analyze::callers::CallerFold,
    pub reads: DatabricksReads,
}

/// A parsing thread's callers; AzureDatabricks reads go on to the main
/// thread.
struct CallersPart(crate::analyze::callers::CallerFold);

/// A successful secret read by the AzureDatabricks application: what the
/// attribution matches.
pub fn is_databricks_read(e: &Event) -> bool {
    e.caller_appid.as_deref() == Some(AZURE_DATABRICKS)
        && e.succeeded()
        && &*e.operation == "SecretGet"
}

impl crate::pipeline::ThreadFold for CallersPart {
    fn add(&mut self, e: &Event, order: u64) -> bool {
        self.0.add_in_part(e, order);
        is_databricks_read(e)
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl crate::pipeline::Sink for CallersAndReads {
    fn event(&mut self, e: Event) -> Result<()> {
        self.callers.add(&e);
        self.reads.event(e)
    }

    fn fork(&mut self) -> Option<Box<dyn crate::pipeline::ThreadFold>> {
        Some(Box::new(CallersPart(self.callers.part())))
    }

    fn join(&mut self, part: Box<dyn crate::pipeline::ThreadFold>) -> Result<()> {
        let p: CallersPart = crate::pipeline::take_part(part)?;
        self.callers.merge(p.0);
        Ok(())
    }

    fn forwarded(&mut self, e: Event) -> Result<()> {
        self.reads.event(e)
    }
}

/// Splits the AzureDatabricks caller row into one row per attributed
/// person (`<user> via AzureDatabricks`, kind user) and what is left of it
/// (the reads no person could be given, and everything else it did).
pub fn split_callers(rows: &mut Vec<crate::analyze::callers::CallerRow>, a: &Attribution) {
    let Some(at) = rows
        .iter()
        .position(|r| r.appid.as_deref() == Some(AZURE_DATABRICKS))
    else {
        return;
    };
    let mut app = rows[at].clone();
    let mut people = Vec::new();
    for p in &a.people {
        let vaults: BTreeSet<String> = p.objects.iter().map(|o| o.vault.clone()).collect();
        people.push(crate::analyze::callers::CallerRow {
            appid: app.appid.clone(),
            oid: None,
            upn: Some(p.user.clone()),
            kind: "user".into(),
            mi_type: None,
            name: Some(format!("{} via AzureDatabricks", p.user)),
            client_app: Some("Azure Databricks".into()),
            events: p.reads,
            denied: 0,
            vaults: vaults.len() as u64,
            vault_names: vaults.into_iter().collect(),
            secrets: p.objects.len() as u64,
            keys: 0,
            certificates: 0,
            operations: vec!["SecretGet".into()],
            first_seen: p.first_seen.clone(),
            last_seen: p.last_seen.clone(),
            clients: app.clients.clone(),
        });
    }
    let attributed: u64 = a.people.iter().map(|p| p.reads).sum();
    app.events = app.events.saturating_sub(attributed);
    app.name = Some(format!(
        "{} (not attributed)",
        app.name.as_deref().unwrap_or("AzureDatabricks")
    ));
    if app.events == 0 {
        rows.remove(at);
    } else {
        rows[at] = app;
    }
    rows.extend(people);
}

/// Matches one cluster of a key's reads and events, both in time order:
/// the matching that pairs the most reads, then with the least total
/// distance, keeping order (a later read never gets an earlier event than
/// an earlier read); a matched read is ambiguous when a free event as
/// close names another person, or a free read is as close to its event
/// (then both reads are). Returns the (read, event) pairs kept and the
/// ambiguous reads (each once; left unmatched), as payload indices.
fn match_cluster(
    rc: &[(i64, usize)],
    ec: &[(i64, usize)],
    user: &dyn Fn(usize) -> u32,
    tol: i64,
) -> (Vec<(usize, usize)>, Vec<usize>) {
    let mut ambiguous = std::collections::BTreeSet::new();
    let mut kept = Vec::new();
    let pairs = best_pairs(rc, ec, tol);
    let used: std::collections::HashSet<usize> = pairs.iter().map(|p| p.1).collect();
    let matched: std::collections::HashSet<usize> = pairs.iter().map(|p| p.0).collect();
    for (r, e) in pairs {
        let (rt, et) = (rc[r].0, ec[e].0);
        let d = dist(rt, et);
        // Items exactly d away, found by time (both sides are sorted).
        let near = |v: &[(i64, usize)], t: i64| -> Vec<usize> {
            [t.saturating_sub(d), t.saturating_add(d)]
                .into_iter()
                .flat_map(|at| {
                    let from = v.partition_point(|x| x.0 < at);
                    let to = v.partition_point(|x| x.0 <= at);
                    from..to
                })
                .collect()
        };
        let other_event = near(ec, rt)
            .into_iter()
            .any(|k| k != e && !used.contains(&k) && user(ec[k].1) != user(ec[e].1));
        let other_reads: Vec<usize> = near(rc, et)
            .into_iter()
            .filter(|&k| k != r && !matched.contains(&k))
            .collect();
        if other_event || !other_reads.is_empty() {
            ambiguous.insert(rc[r].1);
            ambiguous.extend(other_reads.into_iter().map(|k| rc[k].1));
            continue;
        }
        kept.push((rc[r].1, ec[e].1));
    }
    (kept, ambiguous.into_iter().collect())
}

/// How far apart two times are (saturating: times at chrono's extremes).
fn dist(a: i64, b: i64) -> i64 {
    i64::try_from(a.abs_diff(b)).unwrap_or(i64::MAX)
}

/// The order-keeping matching of a cluster with the most pairs within
/// `tol`, then the least total distance: (read, event) indices. Large
/// clusters (a job reading one secret every second for hours) fall back to
/// pairing each read, in order, with the nearest free event after the one
/// the read before took: linear work and memory.
fn best_pairs(reads: &[(i64, usize)], events: &[(i64, usize)], tol: i64) -> Vec<(usize, usize)> {
    let (n, m) = (reads.len(), events.len());
    if n.saturating_mul(m) > 1_000_000 {
        let mut out = Vec::new();
        let mut floor = 0usize;
        for (i, r) in reads.iter().enumerate() {
            let p = floor + events[floor..].partition_point(|e| e.0 < r.0);
            let near = [
                p.checked_sub(1).filter(|&j| j >= floor),
                (p < m).then_some(p),
            ]
            .into_iter()
            .flatten()
            .map(|j| (events[j].0.abs_diff(r.0), j))
            .filter(|&(d, _)| d <= tol.unsigned_abs())
            .min();
            if let Some((_, j)) = near {
                out.push((i, j));
                floor = j + 1;
                if floor >= m {
                    break;
                }
            }
        }
        return out;
    }
    // f[i][j]: best (pairs, -distance) over the first i reads and j events.
    let w = m + 1;
    let mut f = vec![(0u32, 0i64); (n + 1) * w];
    let better = |a: (u32, i64), b: (u32, i64)| a.0 > b.0 || (a.0 == b.0 && a.1 > b.1);
    for i in 0..=n {
        for j in 0..=m {
            if i == 0 && j == 0 {
                continue;
            }
            let mut best = (0u32, i64::MIN);
            if i > 0 && better(f[(i - 1) * w + j], best) {
                best = f[(i - 1) * w + j];
            }
            if j > 0 && better(f[i * w + j - 1], best) {
                best = f[i * w + j - 1];
            }
            if i > 0 && j > 0 {
                let d = dist(reads[i - 1].0, events[j - 1].0);
                if d <= tol {
                    let prev = f[(i - 1) * w + j - 1];
                    let cand = (prev.0 + 1, prev.1 - d);
                    if better(cand, best) {
                        best = cand;
                    }
                }
            }
            f[i * w + j] = best;
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        let here = f[i * w + j];
        let d = dist(reads[i - 1].0, events[j - 1].0);
        if d <= tol
            && f[(i - 1) * w + j - 1].0 + 1 == here.0
            && f[(i - 1) * w + j - 1].1 - d == here.1
        {
            out.push((i - 1, j - 1));
            i -= 1;
            j -= 1;
        } else if f[(i - 1) * w + j] == here {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(reads: &[i64], events: &[i64], tol: i64) -> Vec<(usize, usize)> {
        let r: Vec<(i64, usize)> = reads.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let e: Vec<(i64, usize)> = events.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        best_pairs(&r, &e, tol)
    }

    /// The cases a review found greedy pairing got wrong.
    #[test]
    fn pairs_keep_order_and_pair_the_most() {
        // Reads 10, 13; events 12, 14: 10-12 and 13-14, not 13-12.
        assert_eq!(pairs(&[10, 13], &[12, 14], 5), vec![(0, 0), (1, 1)]);
        // Reads 10, 14; events 12, 16 (tolerance 2): both pair.
        assert_eq!(pairs(&[10, 14], &[12, 16], 2), vec![(0, 0), (1, 1)]);
        // Three reads, each event 0.9 after its read.
        assert_eq!(
            pairs(&[100, 110, 120], &[109, 119, 129], 10),
            vec![(0, 0), (1, 1), (2, 2)]
        );
        // Out of tolerance: nothing.
        assert!(pairs(&[0], &[10], 5).is_empty());
    }

    fn read(vault: &str, secret: &str, secs: f64, corr: Option<&str>) -> Event {
        let t = |s: &str| Some(std::sync::Arc::<str>::from(s));
        Event {
            time: chrono::DateTime::from_timestamp_micros(
                1_772_323_200_000_000 + (secs * 1e6) as i64,
            )
            .unwrap_or_default(),
            vault: t(vault),
            resource_id: None,
            operation: std::sync::Arc::from("SecretGet"),
            object_type: t("secret"),
            object_name: t(secret),
            status: Some(200),
            result_signature: None,
            result_description: None,
            caller_appid: t(AZURE_DATABRICKS),
            caller_oid: None,
            caller_upn: None,
            caller_idtyp: t("app"),
            caller_appidacr: None,
            caller_mirid: None,
            caller_tenant: None,
            caller_ip: None,
            client_info: None,
            correlation_id: corr.map(std::sync::Arc::from),
            rbac_authorized: None,
            access_policy_match: None,
            applied_assignment_id: None,
            duration_ms: None,
            source: std::sync::Arc::from("test"),
            source_record: 0,
            caller_scp: None,
            request_uri: None,
            vault_kind: None,
        }
    }

    fn event(user: &str, scope: &str, key: &str, secs: f64) -> SecretEvent {
        SecretEvent {
            time: chrono::DateTime::from_timestamp_micros(
                1_772_323_200_000_000 + (secs * 1e6) as i64,
            )
            .unwrap_or_default(),
            user: user.into(),
            scope: scope.into(),
            key: key.into(),
            ok: true,
            workspace: Some("ws-1".into()),
        }
    }

    /// The same attribution whether everything fits in one run or every
    /// side is spilled to disk a few records at a time, and the cases the
    /// join must get right: the closest event, a read outside the
    /// tolerance, two readers a second apart, a duplicate record, a scope
    /// mapped to another vault, keys compared without case.
    #[test]
    fn spilled_runs_give_the_same_attribution() {
        let scopes = vec![
            Scope {
                name: "s-data".into(),
                vault: "kv-data".into(),
            },
            Scope {
                name: "s-other".into(),
                vault: "kv-other".into(),
            },
        ];
        let reads = vec![
            read("kv-data", "db-password", 0.0, Some("c1")),
            read("kv-data", "db-password", 0.0, Some("c1")), // delivered twice
            read("kv-data", "db-password", 100.0, Some("c2")),
            read("kv-data", "db-password", 101.0, Some("c3")),
            read("kv-data", "DB-Password", 500.0, None),
            read("kv-data", "db-password", 900.0, None), // no event within 5 s
            read("kv-other", "db-password", 0.5, None),
            read("kv-data", "api-key", 50.0, None),
        ];
        let events = vec![
            event("alice@contoso.com", "s-data", "db-password", 0.4),
            event("bob@contoso.com", "s-data", "db-password", 100.2),
            event("Carol@contoso.com", "s-data", "db-password", 101.3),
            event("alice@contoso.com", "s-data", "db-password", 500.1),
            event("alice@contoso.com", "s-data", "db-password", 910.0),
            event("dave@contoso.com", "s-other", "db-password", 0.6),
            event("erin@contoso.com", "s-other", "api-key", 50.1), // other vault
            event("frank@contoso.com", "not-kv", "api-key", 50.1),
        ];
        let run = |size: usize| {
            let mut r = DatabricksReads::with_run(true, size);
            for e in &reads {
                r.keep(e);
            }
            let mut w = WorkspaceEvents::with_run(&scopes, size);
            for e in &events {
                w.add(e).unwrap();
            }
            let (a, m) = r.attribute(w, 5.0, true).unwrap();
            let m: Vec<(i64, String)> = m
                .unwrap()
                .map(|x| x.map(|x| (x.micros, x.user)).unwrap())
                .collect();
            (a, m)
        };
        let (a, m) = run(spill::RUN);
        let people: Vec<(&str, u64)> = a
            .people
            .iter()
            .map(|p| (p.user.as_str(), p.reads))
            .collect();
        assert_eq!(
            people,
            vec![
                ("alice@contoso.com", 2),
                ("bob@contoso.com", 1),
                ("carol@contoso.com", 1),
                ("dave@contoso.com", 1)
            ]
        );
        // 7 distinct reads: 5 attributed, the 900 s read and api-key not.
        assert_eq!(
            (a.reads, a.unattributed, a.ambiguous, a.duplicate_reads),
            (7, 2, 0, 1)
        );
        assert_eq!(
            a.events_skipped
                .get("scope not a Key Vault scope of --scopes"),
            Some(&1)
        );
        assert_eq!(m.len(), 5);
        assert!(
            m.windows(2).all(|w| w[0].0 <= w[1].0),
            "in time order: {m:?}"
        );
        for size in [1, 2, 3] {
            assert_eq!(run(size), (a.clone(), m.clone()), "runs of {size}");
        }
    }

    /// Three reads at one instant and two people's events equally close:
    /// each read is counted once (ambiguous), and nothing wraps.
    #[test]
    fn equally_close_reads_are_each_ambiguous_once() {
        let scopes = vec![Scope {
            name: "s".into(),
            vault: "kv".into(),
        }];
        let mut r = DatabricksReads::new(true);
        for c in ["a", "b", "c"] {
            r.keep(&read("kv", "k", 10.0, Some(c)));
        }
        let mut w = WorkspaceEvents::new(&scopes);
        w.add(&event("alice@x", "s", "k", 9.0)).unwrap();
        w.add(&event("bob@x", "s", "k", 11.0)).unwrap();
        let (a, _) = r.attribute(w, 5.0, false).unwrap();
        assert_eq!((a.reads, a.ambiguous, a.unattributed), (3, 3, 0), "{a:?}");
    }

    /// A chain of reads 2 s apart, each with its event 0.5 s after, is one
    /// cluster; cut every 64 items, the reads at a cut go on to the next
    /// cluster with the events they could take: the same answer as uncut,
    /// and a duplicate record at a cut is still one read.
    #[test]
    fn a_cut_cluster_loses_no_match() {
        let scopes = vec![Scope {
            name: "s".into(),
            vault: "kv".into(),
        }];
        let run = |cluster: usize| {
            let mut r = DatabricksReads::new(true);
            r.cluster = cluster;
            r.keep(&read("kv", "k", -1.0, None)); // no event: unattributed
            for i in 0..400 {
                let t = f64::from(i) * 2.0;
                r.keep(&read("kv", "k", t, Some(&format!("c{i}"))));
                if i % 50 == 7 {
                    r.keep(&read("kv", "k", t, Some(&format!("c{i}"))));
                }
            }
            let mut w = WorkspaceEvents::new(&scopes);
            for i in 0..400 {
                let user = format!("u{}@x", i % 7);
                w.add(&event(&user, "s", "k", f64::from(i) * 2.0 + 0.5))
                    .unwrap();
            }
            r.attribute(w, 5.0, false).unwrap().0
        };
        let whole = run(CLUSTER);
        assert_eq!(
            (whole.reads, whole.unattributed, whole.ambiguous),
            (401, 1, 0)
        );
        assert_eq!(whole.duplicate_reads, 8);
        assert_eq!(run(64), whole);
    }

    /// Past a million read x event pairs the linear fallback pairs each
    /// read with the nearest free event after the previous one's.
    #[test]
    fn large_clusters_pair_in_order_without_all_pairs() {
        let reads: Vec<i64> = (0..1500).map(|i| i * 1000).collect();
        let events: Vec<i64> = (0..1500).map(|i| i * 1000 + 300).collect();
        let p = pairs(&reads, &events, 5000);
        assert_eq!(p.len(), 1500);
        assert!(p.iter().all(|(r, e)| r == e), "{:?}", &p[..5]);
        // An event missing in the middle: its read is left, the rest pair.
        let mut gap = events.clone();
        gap.remove(700);
        let p = pairs(&reads, &gap, 400);
        assert_eq!(p.len(), 1499);
        assert!(!p.iter().any(|(r, _)| *r == 700));
    }
}
