//! Names the person behind the AzureDatabricks application: each
//! successful vault read by it (vault, secret, time) is matched to the
//! workspace's `getSecret` of the same scope's vault and key closest in
//! time, within a tolerance, one to one.

use crate::error::Result;
use crate::event::{format_time, Event};
use crate::ingest::databricks::{Scope, SecretEvent};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The AzureDatabricks first-party application (Microsoft's list of
/// first-party app ids; data/first-party-apps-keyvault.csv).
pub const AZURE_DATABRICKS: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// One read of a secret by AzureDatabricks, from the vault's log.
#[derive(Debug, Clone)]
struct VaultRead {
    vault: String,
    secret: String,
    micros: i64,
}

/// Keeps the AzureDatabricks application's successful secret reads.
#[derive(Debug, Default)]
pub struct DatabricksReads {
    reads: Vec<VaultRead>,
    /// Digests of (vault, secret, time, correlation id) kept: a record
    /// delivered twice (two diagnostic settings, overlapping exports) is
    /// one read.
    seen: std::collections::HashSet<u64>,
    duplicates: u64,
}

impl DatabricksReads {
    /// Keeps `e` when it is an AzureDatabricks read of a named secret.
    pub fn keep(&mut self, e: &Event) {
        if !is_databricks_read(e) {
            return;
        }
        if let (Some(v), Some(s)) = (&e.vault, &e.object_name) {
            if let Some(c) = e.correlation_id.as_deref() {
                let key = crate::collections::digest(&(&**v, &**s, e.time.timestamp_micros(), c));
                if !self.seen.insert(key) {
                    self.duplicates += 1;
                    return;
                }
            }
            self.reads.push(VaultRead {
                vault: v.to_string(),
                secret: s.to_string(),
                micros: e.time.timestamp_micros(),
            });
        }
    }
}

impl crate::pipeline::Sink for DatabricksReads {
    fn event(&mut self, e: Event) -> Result<()> {
        self.keep(&e);
        Ok(())
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
    /// Each attributed read, in time order (for `report --databricks`).
    #[serde(skip)]
    pub matched: Vec<AttributedRead>,
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

impl DatabricksReads {
    /// Matches the reads to `events` (successful `getSecret`s only), with
    /// `scopes` mapping scope to vault (empty: match on the key alone).
    pub fn attribute(
        self,
        events: &[SecretEvent],
        scopes: &[Scope],
        tolerance: f64,
    ) -> Attribution {
        let tol = (tolerance * 1e6) as i64;
        let mapped = !scopes.is_empty();
        let vault_of: BTreeMap<&str, &str> = scopes
            .iter()
            .map(|s| (s.name.as_str(), s.vault.as_str()))
            .collect();
        // Events by (vault or "", secret), in time order.
        let mut by_key: BTreeMap<(String, String), Vec<(i64, usize)>> = BTreeMap::new();
        let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            if !e.ok {
                *skipped
                    .entry("not successful (or no status)".into())
                    .or_default() += 1;
                continue;
            }
            let vault = if mapped {
                match vault_of.get(e.scope.as_str()) {
                    Some(v) => v.to_string(),
                    None => {
                        *skipped
                            .entry("scope not a Key Vault scope of --scopes".into())
                            .or_default() += 1;
                        continue;
                    }
                }
            } else {
                String::new()
            };
            // Key Vault names are case-insensitive.
            by_key
                .entry((vault, e.key.to_ascii_lowercase()))
                .or_default()
                .push((e.time.timestamp_micros(), i));
        }
        let mut reads_by_key: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for (i, r) in self.reads.iter().enumerate() {
            let vault = if mapped {
                r.vault.clone()
            } else {
                String::new()
            };
            reads_by_key
                .entry((vault, r.secret.clone()))
                .or_default()
                .push(i);
        }
        let mut owner: Vec<Option<usize>> = vec![None; self.reads.len()];
        let mut ambiguous = 0u64;
        for (key, mut reads) in reads_by_key {
            let Some(evs) = by_key.get_mut(&key) else {
                continue;
            };
            evs.sort_unstable();
            reads.sort_by_key(|i| self.reads[*i].micros);
            let rs: Vec<(i64, usize)> = reads.iter().map(|i| (self.reads[*i].micros, *i)).collect();
            let user = |e: usize| events[e].user.as_str();
            ambiguous += match_group(&rs, evs, &user, tol, &mut owner);
        }
        let total = self.reads.len() as u64;
        let matched = owner.iter().filter(|o| o.is_some()).count() as u64;
        // People.
        #[derive(Default)]
        struct Acc {
            objects: BTreeMap<(String, String), (u64, i64, i64)>,
            workspaces: BTreeSet<String>,
        }
        let mut people: BTreeMap<String, Acc> = BTreeMap::new();
        for (ri, o) in owner.iter().enumerate() {
            let Some(ei) = o else { continue };
            let (r, e) = (&self.reads[ri], &events[*ei]);
            // One person however the audit spells the address.
            let a = people.entry(e.user.to_ascii_lowercase()).or_default();
            let x = a
                .objects
                .entry((r.vault.clone(), r.secret.clone()))
                .or_insert((0, i64::MAX, i64::MIN));
            x.0 += 1;
            x.1 = x.1.min(r.micros);
            x.2 = x.2.max(r.micros);
            if let Some(w) = &e.workspace {
                a.workspaces.insert(w.clone());
            }
        }
        let mut people: Vec<Person> = people
            .into_iter()
            .map(|(user, a)| {
                let first = a.objects.values().map(|x| x.1).min().unwrap_or(0);
                let last = a.objects.values().map(|x| x.2).max().unwrap_or(0);
                Person {
                    user,
                    platform: "databricks".into(),
                    reads: a.objects.values().map(|x| x.0).sum(),
                    objects: a
                        .objects
                        .into_iter()
                        .map(|((vault, object_name), (n, f, l))| PersonObject {
                            vault,
                            object_name,
                            reads: n,
                            first_seen: when(f),
                            last_seen: when(l),
                        })
                        .collect(),
                    first_seen: when(first),
                    last_seen: when(last),
                    workspaces: a.workspaces.into_iter().collect(),
                }
            })
            .collect();
        people.sort_by(|a, b| b.reads.cmp(&a.reads).then_with(|| a.user.cmp(&b.user)));
        let mut pairs: Vec<AttributedRead> = owner
            .iter()
            .enumerate()
            .filter_map(|(ri, o)| {
                let r = &self.reads[ri];
                o.map(|ei| AttributedRead {
                    vault: r.vault.clone(),
                    secret: r.secret.clone(),
                    micros: r.micros,
                    user: events[ei].user.to_ascii_lowercase(),
                })
            })
            .collect();
        pairs.sort_by(|a, b| a.micros.cmp(&b.micros).then_with(|| a.user.cmp(&b.user)));
        Attribution {
            people,
            unattributed: total - matched - ambiguous,
            ambiguous,
            matched_share: (total > 0)
                .then(|| ((matched as f64 / total as f64) * 1000.0).round() / 1000.0),
            events_skipped: skipped,
            reads: total,
            tolerance_seconds: tolerance,
            scopes_mapped: mapped,
            duplicate_reads: self.duplicates,
            matched: pairs,
        }
    }
}

/// `callers --databricks`: the callers, and the AzureDatabricks reads on
/// the side (passed on from the parsing threads, the rest folded there).
#[derive(Debug, Default)]
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

/// Matches one (vault, secret)'s reads and events, both in time order:
/// within each cluster (items closer than the tolerance to the next), the
/// matching that pairs the most reads, then with the least total distance,
/// keeping order (a later read never gets an earlier event than an earlier
/// read); a matched read is ambiguous when a free event as close names
/// another person, or a free read is as close to its event. Returns the
/// ambiguous reads (left unmatched).
fn match_group<'u>(
    reads: &[(i64, usize)],
    events: &[(i64, usize)],
    user: &dyn Fn(usize) -> &'u str,
    tol: i64,
    owner: &mut [Option<usize>],
) -> u64 {
    let (mut ri, mut ei) = (0, 0);
    let mut ambiguous = 0;
    while ri < reads.len() || ei < events.len() {
        // One cluster: from the earliest item, while the next item is
        // within the tolerance of the previous one.
        let (r0, e0) = (ri, ei);
        let mut last = i64::MIN;
        loop {
            let next_r = reads.get(ri).map(|r| r.0);
            let next_e = events.get(ei).map(|e| e.0);
            let (t, is_read) = match (next_r, next_e) {
                (Some(a), Some(b)) if a <= b => (a, true),
                (Some(a), None) => (a, true),
                (_, Some(b)) => (b, false),
                (None, None) => break,
            };
            if last != i64::MIN && t - last > tol {
                break;
            }
            last = t;
            if is_read {
                ri += 1;
            } else {
                ei += 1;
            }
        }
        let (rc, ec) = (&reads[r0..ri], &events[e0..ei]);
        if rc.is_empty() || ec.is_empty() {
            continue;
        }
        let pairs = best_pairs(rc, ec, tol);
        let used: std::collections::HashSet<usize> = pairs.iter().map(|p| p.1).collect();
        let matched: std::collections::HashSet<usize> = pairs.iter().map(|p| p.0).collect();
        for (r, e) in pairs {
            let (rt, et) = (rc[r].0, ec[e].0);
            let d = (rt - et).abs();
            let other_event = ec.iter().enumerate().any(|(k, x)| {
                k != e && !used.contains(&k) && (x.0 - rt).abs() == d && user(x.1) != user(ec[e].1)
            });
            let other_read = rc
                .iter()
                .enumerate()
                .any(|(k, x)| k != r && !matched.contains(&k) && (x.0 - et).abs() == d);
            if other_event || other_read {
                ambiguous += 1 + u64::from(other_read);
                continue;
            }
            owner[rc[r].1] = Some(ec[e].1);
        }
    }
    ambiguous
}

/// The order-keeping matching of a cluster with the most pairs within
/// `tol`, then the least total distance: (read, event) indices. Large
/// clusters (a job reading one secret every second for hours) fall back to
/// nearest-first pairing to bound the work.
fn best_pairs(reads: &[(i64, usize)], events: &[(i64, usize)], tol: i64) -> Vec<(usize, usize)> {
    let (n, m) = (reads.len(), events.len());
    if n.saturating_mul(m) > 1_000_000 {
        let mut all = Vec::new();
        for (i, r) in reads.iter().enumerate() {
            for (j, e) in events.iter().enumerate() {
                let d = (r.0 - e.0).abs();
                if d <= tol {
                    all.push((d, i, j));
                }
            }
        }
        all.sort_unstable();
        let (mut ru, mut eu) = (vec![false; n], vec![false; m]);
        let mut out = Vec::new();
        for (_, i, j) in all {
            if !ru[i] && !eu[j] {
                ru[i] = true;
                eu[j] = true;
                out.push((i, j));
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
                let d = (reads[i - 1].0 - events[j - 1].0).abs();
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
        let d = (reads[i - 1].0 - events[j - 1].0).abs();
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
}
