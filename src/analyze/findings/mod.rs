//! Finds what a security review cares about: user-bound automation, mass
//! secret retrieval, sensitive operations, unresolved denials, new callers
//! and guest access. Thresholds and severities come from the policy.

use crate::analyze::explain::Explanation;
use crate::event::{format_time, Event, Text};
use crate::identify::{self, Identity, Kind};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            other => Err(format!("expected low, medium or high, found {other:?}")),
        }
    }
}

/// `kvaudit.toml`: what the organisation accepts.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// upns, oids or appids allowed to read secrets on a schedule.
    pub allowed_user_bound: Vec<String>,
    /// upns, oids or appids never reported.
    pub ignore: Vec<String>,
    /// Distinct secrets one caller may read in a day (default 25).
    pub mass_secret_threshold: Option<usize>,
    /// Severity per finding type, e.g. `new_caller = "high"`.
    pub severity: HashMap<String, Severity>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Principal {
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    pub kind: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: Severity,
    pub principal: Principal,
    pub vault: Option<String>,
    pub evidence: serde_json::Value,
    pub recommendation: String,
}

fn principal(e: &Event, id: &Identity) -> Principal {
    Principal {
        appid: e.caller_appid.as_deref().map(str::to_string),
        oid: e.caller_oid.as_deref().map(str::to_string),
        upn: e.caller_upn.as_deref().map(str::to_string),
        kind: id.kind.as_str().into(),
        name: id.name.clone(),
    }
}

fn is_browser(client: &str) -> bool {
    let c = client.to_ascii_lowercase();
    c.starts_with("mozilla/") || c.contains("azureportal") || c.contains("ibiza")
}

fn ok(e: &Event) -> bool {
    (200..300).contains(&e.status)
}

/// Cadence of a user's secret reads, if they look scheduled.
fn cadence(first_per_day: &BTreeMap<NaiveDate, u32>) -> Option<serde_json::Value> {
    let days = first_per_day.len();
    if days < 4 {
        return None;
    }
    let mut minutes: Vec<u32> = first_per_day.values().copied().collect();
    minutes.sort_unstable();
    let median = minutes[days / 2];
    let near = minutes
        .iter()
        .filter(|m| m.abs_diff(median) <= 10 || m.abs_diff(median) >= 1430)
        .count();
    let share = near as f64 / days as f64;
    (share >= 0.7).then(|| {
        json!({
            "pattern": "same time of day",
            "time_of_day_utc": format!("{:02}:{:02}", median / 60, median % 60),
            "days_at_that_time": near,
        })
    })
}

/// The successful secret reads of a caller, as the cadence check and the
/// evidence need them (not one entry per read).
#[derive(Default)]
struct Reads {
    count: u64,
    /// Day → earliest minute of the day (UTC) with a read.
    first_per_day: BTreeMap<NaiveDate, u32>,
    off_hours: u64,
    secrets: crate::collections::TextSet,
    clients: crate::collections::TextSet,
    /// First and last read in input order, with their order.
    first: Option<(u64, DateTime<Utc>)>,
    last: Option<(u64, DateTime<Utc>)>,
}

impl Reads {
    fn add(&mut self, e: &Event, order: u64) {
        self.count += 1;
        let m = e.time.hour() * 60 + e.time.minute();
        self.first_per_day
            .entry(e.time.date_naive())
            .and_modify(|v| *v = (*v).min(m))
            .or_insert(m);
        let h = e.time.hour();
        if !(7..19).contains(&h) || matches!(e.time.weekday(), Weekday::Sat | Weekday::Sun) {
            self.off_hours += 1;
        }
        if let Some(o) = &e.object_name {
            self.secrets.insert(o);
        }
        if let Some(c) = &e.client_info {
            self.clients.insert(c);
        }
        if self.first.is_none_or(|(o, _)| order < o) {
            self.first = Some((order, e.time));
        }
        if self.last.is_none_or(|(o, _)| order > o) {
            self.last = Some((order, e.time));
        }
    }

    fn merge(&mut self, o: Reads) {
        self.count += o.count;
        for (day, m) in o.first_per_day {
            self.first_per_day
                .entry(day)
                .and_modify(|v| *v = (*v).min(m))
                .or_insert(m);
        }
        self.off_hours += o.off_hours;
        self.secrets.merge(o.secrets);
        self.clients.merge(o.clients);
        self.first = self.first.into_iter().chain(o.first).min_by_key(|f| f.0);
        self.last = self.last.into_iter().chain(o.last).max_by_key(|l| l.0);
    }
}

/// How many distinct secrets a caller read per (day, vault): for each
/// secret read (by the digest of its vault and name), the days it was read
/// on, as bits. A read is one lookup in a table as large as the caller's
/// secrets (not its secrets times days), which most callers keep small
/// enough to stay in cache; the counts are made at the end.
#[derive(Default)]
struct DistinctPerDay {
    secrets: crate::collections::DigestMap<ReadDays>,
}

/// The days one secret was read on, as (days from the Common Era / 64,
/// one bit per day) words: the first two held inline (most logs span a few
/// weeks, so a read touches no other memory), any others sorted in `far`.
struct ReadDays {
    vault: Text,
    /// A word with no bits is free.
    near: [(i32, u64); 2],
    far: Vec<(i32, u64)>,
}

impl ReadDays {
    fn set(&mut self, word: i32, bits: u64) {
        for w in &mut self.near {
            if w.1 == 0 {
                *w = (word, bits);
                return;
            }
            if w.0 == word {
                w.1 |= bits;
                return;
            }
        }
        match self.far.binary_search_by_key(&word, |w| w.0) {
            Ok(i) => self.far[i].1 |= bits,
            Err(i) => self.far.insert(i, (word, bits)),
        }
    }

    fn words(&self) -> impl Iterator<Item = &(i32, u64)> {
        self.near.iter().filter(|w| w.1 != 0).chain(&self.far)
    }
}

impl DistinctPerDay {
    fn add(&mut self, day: NaiveDate, vault: &Text, secret: &str) {
        let key = crate::analyze::explain::object_key(vault.as_deref(), Some(secret));
        let n = day.num_days_from_ce();
        self.secrets
            .entry(key)
            .or_insert_with(|| ReadDays {
                vault: vault.clone(),
                near: [(0, 0); 2],
                far: Vec::new(),
            })
            .set(n.div_euclid(64), 1 << n.rem_euclid(64));
    }

    fn merge(&mut self, o: DistinctPerDay) {
        for (key, days) in o.secrets {
            match self.secrets.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut mine) => {
                    for &(w, bits) in days.words() {
                        mine.get_mut().set(w, bits);
                    }
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(days);
                }
            }
        }
    }

    /// (day, vault) → how many distinct secrets were read.
    fn counts(&self) -> BTreeMap<(NaiveDate, Text), u32> {
        let mut out: BTreeMap<(NaiveDate, Text), u32> = BTreeMap::new();
        for d in self.secrets.values() {
            for &(w, bits) in d.words() {
                let mut b = bits;
                while b != 0 {
                    let day = w * 64 + b.trailing_zeros() as i32;
                    b &= b - 1;
                    if let Some(day) = NaiveDate::from_num_days_from_ce_opt(day) {
                        *out.entry((day, d.vault.clone())).or_default() += 1;
                    }
                }
            }
        }
        out
    }
}

/// A sensitive success: its order in the input, time and object.
type Touch = (u64, DateTime<Utc>, Text);

/// What the findings need of one caller, gathered event by event. Every
/// field merges (sums, unions, extremes, the earliest by order), so each
/// parsing thread can fold its own events (see [`FindingsAcc`]).
struct CallerAcc {
    /// The caller's first event, with its order (boxed: read once, at the
    /// end, it would otherwise spread the fields read per event apart).
    first: (u64, Box<Event>),
    events: u64,
    /// The successful secret reads made with delegated claims (upn, scp,
    /// idtyp user): only users' tokens carry them, so only those reads are
    /// detailed.
    reads: Reads,
    /// Successful secret reads without delegated claims (not detailed).
    undetailed: u64,
    /// Vaults of all successful secret reads.
    read_vaults: crate::collections::TextSet,
    read_count: u64,
    /// Distinct secrets read per (day, vault).
    per_day: DistinctPerDay,
    /// (operation, vault) → each success.
    sensitive: BTreeMap<(Arc<str>, Text), Vec<Touch>>,
}

impl CallerAcc {
    fn merge(&mut self, o: CallerAcc) {
        if o.first.0 < self.first.0 {
            self.first = o.first;
        }
        self.events += o.events;
        self.undetailed += o.undetailed;
        self.reads.merge(o.reads);
        self.read_vaults.merge(o.read_vaults);
        self.read_count += o.read_count;
        self.per_day.merge(o.per_day);
        for (k, list) in o.sensitive {
            self.sensitive.entry(k).or_default().extend(list);
        }
    }

    /// Whether every successful read was made with delegated claims (the
    /// reads are then the whole evidence of a user).
    fn reads_complete(&self) -> bool {
        self.undetailed == 0
    }
}

fn sensitive_op(op: &str) -> bool {
    let data = ["Secret", "Key", "Certificate"]
        .iter()
        .any(|p| op.starts_with(p))
        && ["Delete", "Purge", "Backup", "Restore"]
            .iter()
            .any(|s| op.ends_with(s));
    data || matches!(
        op,
        "VaultDelete"
            | "VaultPurge"
            | "VaultAccessPolicyChangedEventGridNotification"
            | "VaultPut"
            | "VaultPatch"
    )
}

/// [`find`] one event at a time: memory grows with callers, days and
/// distinct secrets, not with events.
pub struct FindingsFold<'p> {
    policy: &'p Policy,
    acc: FindingsAcc,
    /// The caller of each slot.
    keys: Vec<identify::CallerKey>,
}

/// The per-caller evidence of [`FindingsFold`], which merges: a parsing
/// thread folds its own events into one (see [`FindingsAcc::part`]), and
/// the parts are merged back with [`FindingsAcc::merge`].
pub struct FindingsAcc {
    /// `Policy::ignore`: callers never reported, never gathered.
    ignore: Arc<[String]>,
    /// By caller slot, as [`crate::analyze::callers::CallerFold::add_ordered`]
    /// numbers them (one caller lookup per event serves both folds); None
    /// for a caller ignored.
    callers: Vec<Option<CallerAcc>>,
}

impl<'p> FindingsFold<'p> {
    /// A fold of the evidence gathered in `acc`, whose slots are those of
    /// the callers `keys`.
    pub fn with<'k>(
        policy: &'p Policy,
        acc: FindingsAcc,
        keys: impl Iterator<Item = &'k crate::event::CallerId>,
    ) -> Self {
        FindingsFold {
            policy,
            acc,
            keys: keys.map(identify::owned_key).collect(),
        }
    }

    pub fn finish(
        self,
        explanation: &Explanation,
        baseline: Option<&HashSet<String>>,
        ids: &HashMap<identify::CallerKey, Identity>,
    ) -> Vec<Finding> {
        let policy = self.policy;
        let mut out = Vec::new();
        let sev = |t: &str, default: Severity| policy.severity.get(t).copied().unwrap_or(default);
        let threshold = policy.mass_secret_threshold.unwrap_or(25);
        let mut callers: Vec<(identify::CallerKey, CallerAcc)> = self
            .acc
            .callers
            .into_iter()
            .zip(self.keys)
            .filter_map(|(acc, key)| Some((key, acc?)))
            .collect();
        callers.sort_by(|x, y| x.0.cmp(&y.0));
        for (key, acc) in &callers {
            let id = ids.get(key).cloned().unwrap_or_default();
            let first = &acc.first.1;
            let p = principal(first, &id);
            let reads = &acc.reads;
            let complete = acc.reads_complete();
            let secrets: BTreeSet<&str> = reads.secrets.iter().map(|v| &**v).collect();
            let vaults: BTreeSet<&str> = acc.read_vaults.iter().map(|v| &**v).collect();
            let clients: BTreeSet<&str> = reads.clients.iter().map(|v| &**v).collect();
            // user_bound_automation
            let allowed = [&p.upn, &p.oid, &p.appid]
                .iter()
                .filter_map(|v| v.as_deref())
                .any(|v| {
                    policy
                        .allowed_user_bound
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(v))
                });
            if id.kind.is_user() && complete && reads.count > 0 && !allowed {
                let non_browser = !clients.is_empty() && clients.iter().all(|c| !is_browser(c));
                if let (Some(c), true) = (cadence(&reads.first_per_day), non_browser) {
                    let disabled = id.account_enabled == Some(false);
                    out.push(Finding {
                        kind: "user_bound_automation".into(),
                        severity: if disabled { Severity::High } else { sev("user_bound_automation", Severity::High) },
                        vault: vaults.iter().next().map(|v| v.to_string()),
                        principal: p.clone(),
                        evidence: json!({
                            "cadence": c,
                            "days_seen": reads.first_per_day.len(),
                            "reads": reads.count,
                            "reads_outside_working_hours": reads.off_hours,
                            "secrets": secrets,
                            "vaults": vaults,
                            "clients": clients,
                            "first_seen": reads.first.as_ref().map(|f| format_time(&f.1)),
                            "last_seen": reads.last.as_ref().map(|l| format_time(&l.1)),
                            "account_enabled": id.account_enabled,
                        }),
                        recommendation: format!("{}A person's account is the production credential: the job stops when they leave. Run it as a workspace identity, service principal or managed identity and grant that identity Key Vault Secrets User on the secrets it reads.", if disabled { "The user's account is disabled: the job is already failing or will. " } else { "" }),
                    });
                }
            }
            // guest_access
            if id.kind == Kind::GuestUser && acc.read_count > 0 {
                out.push(Finding {
                    kind: "guest_access".into(),
                    severity: sev("guest_access", Severity::High),
                    vault: vaults.iter().next().map(|v| v.to_string()),
                    principal: p.clone(),
                    evidence: json!({"reads": acc.read_count, "secrets": secrets, "vaults": vaults}),
                    recommendation: "A guest (external) user reads secrets: confirm it is intended, prefer a member account or a workload identity, and review the guest's role assignments.".into(),
                });
            }
            // mass_secret_retrieval
            let busy: Vec<_> = acc
                .per_day
                .counts()
                .into_iter()
                .filter(|(_, n)| *n as usize > threshold)
                .collect();
            for ((day, vault), names) in busy {
                out.push(Finding {
                    kind: "mass_secret_retrieval".into(),
                    severity: sev("mass_secret_retrieval", Severity::High),
                    vault: Some(vault.as_deref().unwrap_or("").to_string()),
                    principal: p.clone(),
                    evidence: json!({"day": day.to_string(), "distinct_secrets": names, "threshold": threshold}),
                    recommendation: "One caller read more distinct secrets in a day than the threshold: check it is expected (a migration, a backup job) and not credential harvesting.".into(),
                });
            }
            // sensitive_operation
            for ((op, vault), list) in &acc.sensitive {
                let op: &str = op;
                // In input order, as they happened.
                let mut list: Vec<&Touch> = list.iter().collect();
                list.sort_by_key(|t| t.0);
                let high = op.ends_with("Purge") || op == "VaultDelete";
                out.push(Finding {
                    kind: "sensitive_operation".into(),
                    severity: sev("sensitive_operation", if high { Severity::High } else { Severity::Medium }),
                    vault: Some(vault.as_deref().unwrap_or("").to_string()),
                    principal: p.clone(),
                    evidence: json!({
                        "operation": op,
                        "count": list.len(),
                        "objects": list.iter().filter_map(|(_, _, o)| o.as_deref()).collect::<BTreeSet<_>>(),
                        "times": list.iter().take(10).map(|(_, t, _)| format_time(t)).collect::<Vec<_>>(),
                    }),
                    recommendation: format!("{op} succeeded: confirm it was a sanctioned change (deletions, purges, backups and access-policy changes are the operations an attacker or a mistake leaves behind)."),
                });
            }
            // new_caller
            if let Some(base) = baseline {
                let key = first.principal_key().map(str::to_string);
                if let Some(k) = key.filter(|k| !base.contains(&k.to_ascii_lowercase())) {
                    out.push(Finding {
                        kind: "new_caller".into(),
                        severity: sev("new_caller", Severity::Medium),
                        vault: vaults.iter().next().map(|v| v.to_string()).or(first.vault.as_deref().map(str::to_string)),
                        principal: p.clone(),
                        evidence: json!({"principal_key": k, "events": acc.events, "first_seen": format_time(&first.time)}),
                        recommendation: "This principal was not in the baseline report: confirm who owns it and why it reads this vault.".into(),
                    });
                }
            }
        }
        // denied_access: unresolved denials from explain
        for f in explanation
            .denials
            .iter()
            .filter(|f| f.resolved_at.is_none())
        {
            let p = &f.principal;
            let ids: [&Option<String>; 3] = [&p.upn, &p.oid, &p.appid];
            if ids
                .iter()
                .filter_map(|v| v.as_deref())
                .any(|v| policy.ignore.iter().any(|i| i.eq_ignore_ascii_case(v)))
            {
                continue;
            }
            let default = match f.denial.as_str() {
                "rbac" | "access_policy" => Severity::Medium,
                _ => Severity::Low,
            };
            out.push(Finding {
            kind: "denied_access".into(),
            severity: sev("denied_access", default),
            principal: Principal { appid: p.appid.clone(), oid: p.oid.clone(), upn: p.upn.clone(), kind: p.kind.clone(), name: p.name.clone() },
            vault: f.vault.clone(),
            evidence: json!({"denial": f.denial, "operation": f.operation, "object": f.object_name, "count": f.count, "first_seen": f.first_seen, "last_seen": f.last_seen, "scope": f.scope}),
            recommendation: f.fix.clone(),
        });
        }
        out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)));
        out
    }
}

impl FindingsAcc {
    /// Empty, for the callers `policy` does not ignore.
    pub fn new(policy: &Policy) -> Self {
        FindingsAcc {
            ignore: policy.ignore.clone().into(),
            callers: Default::default(),
        }
    }

    /// An empty part for a parsing thread.
    pub fn part(&self) -> FindingsAcc {
        FindingsAcc {
            ignore: self.ignore.clone(),
            callers: Default::default(),
        }
    }

    /// Folds one event of the caller in `slot` in; `order` is its place in
    /// the input.
    pub fn add(&mut self, slot: usize, e: &Event, order: u64) {
        if slot >= self.callers.len() {
            self.callers.resize_with(slot + 1, || None);
        }
        let a = match &mut self.callers[slot] {
            Some(a) => a,
            None => {
                let ignore = &self.ignore;
                let ignored = [&e.caller_upn, &e.caller_oid, &e.caller_appid]
                    .iter()
                    .filter_map(|v| v.as_deref())
                    .any(|v| ignore.iter().any(|i| i.eq_ignore_ascii_case(v)));
                if ignored {
                    return;
                }
                self.callers[slot].insert(CallerAcc {
                    first: (order, Box::new(e.clone())),
                    events: 0,
                    reads: Reads::default(),
                    undetailed: 0,
                    read_vaults: Default::default(),
                    read_count: 0,
                    per_day: Default::default(),
                    sensitive: BTreeMap::new(),
                })
            }
        };
        a.events += 1;
        if !ok(e) {
            return;
        }
        if e.operation.as_ref() == "SecretGet" {
            a.read_count += 1;
            if identify::delegated(e) {
                a.reads.add(e, order);
            } else {
                a.undetailed += 1;
            }
            if let Some(v) = &e.vault {
                a.read_vaults.insert(v);
            }
            if let Some(n) = e.object_name.as_deref() {
                a.per_day.add(e.time.date_naive(), &e.vault, n);
            }
        }
        if sensitive_op(&e.operation) {
            a.sensitive
                .entry((e.operation.clone(), e.vault.clone()))
                .or_default()
                .push((order, e.time, e.object_name.clone()));
        }
    }

    /// Merges another part's callers in: `to` maps each of its slots to
    /// one here (see [`crate::analyze::callers::CallerFold::merge`]).
    pub fn merge(&mut self, other: FindingsAcc, to: &[usize]) {
        for (acc, &i) in other.callers.into_iter().zip(to) {
            let Some(acc) = acc else { continue };
            if i >= self.callers.len() {
                self.callers.resize_with(i + 1, || None);
            }
            match &mut self.callers[i] {
                Some(mine) => mine.merge(acc),
                None => self.callers[i] = Some(acc),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_secrets_per_day_count_each_secret_once_a_day_across_parts() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (a, b): (Text, Text) = (Some(Arc::from("kv-a")), Some(Arc::from("kv-b")));
        // Days 63 days apart fall in different 64-day words.
        let reads = [
            ("2025-01-01", &a, "s1"),
            ("2025-01-01", &a, "s1"),
            ("2025-01-01", &a, "s2"),
            ("2025-01-01", &b, "s1"),
            ("2025-03-05", &a, "s1"),
            ("2025-03-06", &a, "s1"),
            ("1999-12-31", &a, "s3"),
            // More than the two words held inline, out of order.
            ("2026-01-01", &a, "s1"),
            ("2025-06-01", &a, "s1"),
            ("2025-06-01", &a, "s1"),
        ];
        let mut whole = DistinctPerDay::default();
        let (mut p1, mut p2) = (DistinctPerDay::default(), DistinctPerDay::default());
        for (i, (d, v, s)) in reads.iter().enumerate() {
            whole.add(day(d), v, s);
            if i % 2 == 0 { &mut p1 } else { &mut p2 }.add(day(d), v, s);
        }
        p1.merge(p2);
        let want: BTreeMap<(NaiveDate, Text), u32> = [
            ((day("1999-12-31"), a.clone()), 1),
            ((day("2025-01-01"), a.clone()), 2),
            ((day("2025-01-01"), b.clone()), 1),
            ((day("2025-03-05"), a.clone()), 1),
            ((day("2025-03-06"), a.clone()), 1),
            ((day("2025-06-01"), a.clone()), 1),
            ((day("2026-01-01"), a.clone()), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(whole.counts(), want);
        assert_eq!(p1.counts(), want);
    }
}
