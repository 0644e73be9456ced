//! Names the person behind the AzureDatabricks application: each
//! successful vault read by it (vault, secret, time) is matched to the
//! workspace's `getSecret` of the same scope's vault and key closest in
//! time, within a tolerance, one to one.

use crate::error::Result;
use crate::event::{format_time, Event};
use crate::ingest::databricks::{Scope, SecretEvent};
use serde::Serialize;
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
}

impl crate::pipeline::Sink for DatabricksReads {
    fn event(&mut self, e: Event) -> Result<()> {
        if e.caller_appid.as_deref() == Some(AZURE_DATABRICKS)
            && e.succeeded()
            && &*e.operation == "SecretGet"
        {
            if let (Some(v), Some(s)) = (&e.vault, &e.object_name) {
                self.reads.push(VaultRead {
                    vault: v.to_string(),
                    secret: s.to_string(),
                    micros: e.time.timestamp_micros(),
                });
            }
        }
        Ok(())
    }
}

/// The attribution (the public contract of `kvaudit attribute`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attribution {
    pub people: Vec<Person>,
    /// Reads with no workspace event within the tolerance.
    pub unattributed: u64,
    /// Reads an event matched as well as another read (not attributed).
    pub ambiguous: u64,
    /// Attributed reads over all AzureDatabricks reads.
    pub matched_share: f64,
    /// The reads considered, and the tolerance in seconds.
    pub reads: u64,
    pub tolerance_seconds: f64,
    /// Whether scopes were mapped to vaults (`--scopes`), or matched on the
    /// secret name alone.
    pub scopes_mapped: bool,
}

/// A person and what they read through Databricks.
#[derive(Debug, Clone, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, PartialEq)]
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
        for (i, e) in events.iter().enumerate().filter(|(_, e)| e.ok) {
            let vault = if mapped {
                match vault_of.get(e.scope.as_str()) {
                    Some(v) => v.to_string(),
                    // A scope not backed by a vault in the list.
                    None => continue,
                }
            } else {
                String::new()
            };
            by_key
                .entry((vault, e.key.clone()))
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
            // Every (distance, read, event) pair within the tolerance.
            let mut pairs = Vec::new();
            let mut lo = 0;
            for &ri in &reads {
                let t = self.reads[ri].micros;
                while lo < evs.len() && evs[lo].0 < t - tol {
                    lo += 1;
                }
                let mut j = lo;
                while j < evs.len() && evs[j].0 <= t + tol {
                    pairs.push(((evs[j].0 - t).abs(), ri, j));
                    j += 1;
                }
            }
            pairs.sort_unstable();
            let mut read_done = BTreeSet::new();
            let mut event_done = BTreeSet::new();
            let mut k = 0;
            while k < pairs.len() {
                let (d, ri, ej) = pairs[k];
                k += 1;
                if read_done.contains(&ri) || event_done.contains(&ej) {
                    continue;
                }
                // Another free read at the same distance from this event:
                // the event cannot tell them apart.
                let tie: Vec<usize> = pairs[k..]
                    .iter()
                    .take_while(|p| p.0 == d)
                    .filter(|p| p.2 == ej && !read_done.contains(&p.1))
                    .map(|p| p.1)
                    .collect();
                if !tie.is_empty() {
                    for r in std::iter::once(ri).chain(tie) {
                        if read_done.insert(r) {
                            ambiguous += 1;
                        }
                    }
                    event_done.insert(ej);
                    continue;
                }
                read_done.insert(ri);
                event_done.insert(ej);
                owner[ri] = Some(evs[ej].1);
            }
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
            let a = people.entry(e.user.clone()).or_default();
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
        Attribution {
            people,
            unattributed: total - matched - ambiguous,
            ambiguous,
            matched_share: if total == 0 {
                0.0
            } else {
                ((matched as f64 / total as f64) * 1000.0).round() / 1000.0
            },
            reads: total,
            tolerance_seconds: tolerance,
            scopes_mapped: mapped,
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

fn is_databricks_read(e: &Event) -> bool {
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
        "{} (not attributed: {} read(s), {} ambiguous)",
        app.name.as_deref().unwrap_or("AzureDatabricks"),
        a.unattributed,
        a.ambiguous
    ));
    rows[at] = app;
    rows.extend(people);
}
