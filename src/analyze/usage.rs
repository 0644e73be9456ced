//! One streaming fold behind `access`, `rights` and `plan-rbac`: the
//! callers, who read and wrote each object, and per caller and vault the
//! operations that succeeded or were denied, with the vault's permission
//! model as its records show it. Memory grows with callers, vaults,
//! operations and objects, never with events; parsing threads each fold
//! their own events and the parts merge.

use super::access::{AccessFold, Who};
use super::callers::CallerFold;
use crate::collections::Map;
use crate::error::Result;
use crate::event::{format_time, Event, Text};
use crate::identify::Catalog;
use crate::pipeline::{Sink, ThreadFold};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What one caller did on one vault.
#[derive(Debug, Default, Clone)]
pub struct VaultUse {
    /// Successful operations by name, and on which objects.
    pub ok: BTreeMap<String, u64>,
    /// 403s by operation name.
    pub denied: BTreeMap<String, u64>,
    /// Objects (type, name) of successful operations, with counts.
    pub objects: BTreeMap<(String, String), u64>,
    /// Successful operations authorised by an access policy
    /// (`isAccessPolicyMatch` true) rather than RBAC.
    pub by_policy: u64,
}

/// Keeps in `kept` the least of it and `id`.
fn least(kept: &mut Option<String>, id: Option<&str>) {
    if let Some(id) = id {
        if kept.as_deref().is_none_or(|k| id < k) {
            *kept = Some(id.to_string());
        }
    }
}

/// What a vault's records say about it.
#[derive(Debug, Default, Clone)]
pub struct VaultFacts {
    /// The ARM id as logged (`resource_id`), when any record gave it: of
    /// its spellings (exports differ in case), the least, so that the
    /// order events are folded in (which differs between runs on many
    /// threads) does not change it.
    pub resource_id: Option<String>,
    /// Records carrying `isAccessPolicyMatch` (the access-policy model).
    pub access_policy_records: u64,
    /// Records carrying `isRbacAuthorized` (the RBAC model).
    pub rbac_records: u64,
    /// A Managed HSM (local RBAC; neither `rights` nor `plan-rbac` apply).
    pub managed_hsm: bool,
    /// The vault's first and last event (microseconds): what the logs
    /// cover of it, which may be less than of the others.
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// [`VaultUse`] as folded: interned keys, no allocation per event.
#[derive(Debug, Default)]
struct UseAcc {
    ok: Map<Arc<str>, u64>,
    denied: Map<Arc<str>, u64>,
    objects: Map<(Arc<str>, Arc<str>), u64>,
    by_policy: u64,
}

impl UseAcc {
    fn merge(&mut self, u: UseAcc) {
        for (k, n) in u.ok {
            *self.ok.entry(k).or_default() += n;
        }
        for (k, n) in u.denied {
            *self.denied.entry(k).or_default() += n;
        }
        for (k, n) in u.objects {
            *self.objects.entry(k).or_default() += n;
        }
        self.by_policy += u.by_policy;
    }

    fn public(&self) -> VaultUse {
        let s = |m: &Map<Arc<str>, u64>| m.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        VaultUse {
            ok: s(&self.ok),
            denied: s(&self.denied),
            objects: self
                .objects
                .iter()
                .map(|((t, n), c)| ((t.to_string(), n.to_string()), *c))
                .collect(),
            by_policy: self.by_policy,
        }
    }
}

/// Per caller slot and vault, what succeeded and what was denied, and
/// what the records say of each vault: the part of the fold `report` shares
/// (it keeps its own callers and access folds).
#[derive(Debug, Default)]
pub struct UsesFold {
    uses: Map<(usize, Text), UseAcc>,
    vaults: Map<Text, VaultFacts>,
    first: Option<i64>,
    last: Option<i64>,
}

impl UsesFold {
    /// Folds in one event of the caller in `slot`.
    pub fn add(&mut self, slot: usize, e: &Event) {
        self.add_n(slot, e, 1);
    }

    /// [`UsesFold::add`] for `n` events like `e` (access inventories).
    pub fn add_n(&mut self, slot: usize, e: &Event, n: u64) {
        let t = e.time.timestamp_micros();
        self.add_range(slot, e, n, (t, t));
    }

    /// [`UsesFold::add_n`] for `n` events like `e` whose earliest and
    /// latest times are `times` (microseconds).
    pub fn add_range(&mut self, slot: usize, e: &Event, n: u64, times: (i64, i64)) {
        let (early, late) = times;
        self.first = Some(self.first.map_or(early, |f| f.min(early)));
        self.last = Some(self.last.map_or(late, |l| l.max(late)));
        let v = self.vaults.entry(e.vault.clone()).or_default();
        least(&mut v.resource_id, e.resource_id.as_deref());
        v.access_policy_records += n * u64::from(e.access_policy_match.is_some());
        v.rbac_records += n * u64::from(e.rbac_authorized.is_some());
        v.managed_hsm |= e.vault_kind == Some(crate::event::VaultKind::ManagedHsm);
        v.first = Some(v.first.map_or(early, |f| f.min(early)));
        v.last = Some(v.last.map_or(late, |l| l.max(late)));
        let denied = e.status == Some(403);
        if n == 0 || (!denied && !e.succeeded()) {
            return;
        }
        let u = self.uses.entry((slot, e.vault.clone())).or_default();
        if denied {
            *u.denied.entry(e.operation.clone()).or_default() += n;
            return;
        }
        *u.ok.entry(e.operation.clone()).or_default() += n;
        u.by_policy += n * u64::from(e.access_policy_match == Some(true));
        if let (Some(k), Some(name)) = (&e.object_type, &e.object_name) {
            if matches!(&**k, "secret" | "key" | "certificate") {
                *u.objects.entry((k.clone(), name.clone())).or_default() += n;
            }
        }
    }

    /// Merges another part in; `to` maps its caller slots to these (see
    /// [`CallerFold::merge`]).
    pub fn merge(&mut self, o: UsesFold, to: &[usize]) {
        for ((slot, vault), u) in o.uses {
            let slot = to.get(slot).copied().unwrap_or(slot);
            self.uses.entry((slot, vault)).or_default().merge(u);
        }
        for (vault, f) in o.vaults {
            let mine = self.vaults.entry(vault).or_default();
            least(&mut mine.resource_id, f.resource_id.as_deref());
            mine.access_policy_records += f.access_policy_records;
            mine.rbac_records += f.rbac_records;
            mine.managed_hsm |= f.managed_hsm;
            mine.first = mine.first.into_iter().chain(f.first).min();
            mine.last = mine.last.into_iter().chain(f.last).max();
        }
        self.first = self.first.into_iter().chain(o.first).min();
        self.last = self.last.into_iter().chain(o.last).max();
    }

    /// What was seen, with `who` naming each caller slot and `first_order`
    /// the order of its first event.
    pub fn usage(&self, who: Vec<Who>, first_order: Vec<u64>) -> Usage {
        let mut uses: Vec<(usize, Option<String>, VaultUse)> = self
            .uses
            .iter()
            .map(|((slot, vault), u)| (*slot, vault.as_deref().map(str::to_string), u.public()))
            .collect();
        uses.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let when = |t: Option<i64>| {
            t.and_then(chrono::DateTime::from_timestamp_micros)
                .map(|t| format_time(&t))
        };
        let days = match (self.first, self.last) {
            (Some(f), Some(l)) => (l - f) as f64 / 86_400_000_000.0,
            _ => 0.0,
        };
        Usage {
            who,
            first_order,
            uses,
            vaults: self
                .vaults
                .iter()
                .map(|(k, v)| (k.as_deref().map(str::to_string), v.clone()))
                .collect(),
            first: when(self.first),
            last: when(self.last),
            days,
        }
    }
}

#[derive(Debug, Default)]
struct Part {
    callers: CallerFold,
    access: AccessFold,
    uses: UsesFold,
}

impl Part {
    fn add(&mut self, e: &Event, order: u64) {
        let slot = self.callers.add_ordered(e, order);
        self.access.add(slot, e);
        self.uses.add(slot, e);
    }

    fn merge(&mut self, o: Part) {
        let to = self.callers.merge(o.callers);
        self.access.merge(o.access, &to);
        self.uses.merge(o.uses, &to);
    }
}

/// The fold: a [`Sink`] for the ingest pipeline.
#[derive(Debug, Default)]
pub struct UsageFold {
    whole: Part,
}

/// A parsing thread's part of a [`UsageFold`].
struct UsagePart {
    part: Part,
    base: u64,
}

impl ThreadFold for UsagePart {
    fn add(&mut self, e: &Event, order: u64) -> bool {
        self.part.add(e, self.base + order);
        false
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl Sink for UsageFold {
    fn event(&mut self, e: Event) -> Result<()> {
        let order = self.whole.callers.next_order();
        self.whole.add(&e, order);
        Ok(())
    }

    fn fork(&mut self) -> Option<Box<dyn ThreadFold>> {
        let callers = self.whole.callers.part();
        let base = callers.next_order();
        Some(Box::new(UsagePart {
            part: Part {
                callers,
                ..Part::default()
            },
            base,
        }))
    }

    fn join(&mut self, part: Box<dyn ThreadFold>) -> Result<()> {
        let p: UsagePart = crate::pipeline::take_part(part)?;
        self.whole.merge(p.part);
        Ok(())
    }
}

impl Usage {
    /// What the logs cover of each vault: from, to and days (one decimal).
    pub fn vault_windows(
        &self,
    ) -> std::collections::BTreeMap<String, (Option<String>, Option<String>, f64)> {
        let when = |t: Option<i64>| {
            t.and_then(chrono::DateTime::from_timestamp_micros)
                .map(|t| format_time(&t))
        };
        self.vaults
            .iter()
            .filter_map(|(name, f)| {
                let days = match (f.first, f.last) {
                    (Some(a), Some(b)) => ((b - a) as f64 / 8_640_000_000.0).round() / 10.0,
                    _ => 0.0,
                };
                Some((name.clone()?, (when(f.first), when(f.last), days)))
            })
            .collect()
    }
}

/// What the fold found, with every caller named.
#[derive(Debug)]
pub struct Usage {
    /// Each caller slot, named.
    pub who: Vec<Who>,
    /// The order of each slot's first event
    /// ([`crate::analyze::callers::CallerFold::first_orders`]).
    pub first_order: Vec<u64>,
    /// Per (caller slot, vault).
    pub uses: Vec<(usize, Option<String>, VaultUse)>,
    pub vaults: BTreeMap<Option<String>, VaultFacts>,
    /// The first and last event's times (RFC 3339), if any.
    pub first: Option<String>,
    pub last: Option<String>,
    /// Days between the first and last event.
    pub days: f64,
}

impl UsageFold {
    /// The (appid, oid) of every caller, for `--resolve`.
    pub fn principals(&self) -> Vec<(Option<&str>, Option<&str>)> {
        self.whole.callers.principals()
    }

    /// The access fold (for `kvaudit access`).
    pub fn access(&mut self) -> &mut AccessFold {
        &mut self.whole.access
    }

    /// Names every caller and returns what was seen.
    pub fn finish(&self, catalog: &Catalog) -> Usage {
        let who = super::access::who(&self.whole.callers, catalog);
        self.whole
            .uses
            .usage(who, self.whole.callers.first_orders())
    }

    /// Folds in one row of an access inventory (`queries/access-inventory.kql`):
    /// its successes and denials as weighted events at the row's first and
    /// last times, so that counts, first and last times come out as from
    /// the raw events.
    pub fn add_inventory(&mut self, r: &crate::ingest::access_inventory::AccessRow) {
        let arc = |v: &Option<String>| v.as_deref().map(Arc::<str>::from);
        let model = |ok: bool| {
            (
                (r.rbac_records > 0).then_some(ok),
                (r.access_policy_records > 0).then_some(ok),
            )
        };
        let event = |time: chrono::DateTime<chrono::Utc>,
                     status: Option<u16>,
                     flags: (Option<bool>, Option<bool>)| Event {
            time,
            vault: arc(&r.vault),
            resource_id: arc(&r.vault_id),
            operation: Arc::from(r.operation.as_str()),
            object_type: arc(&r.object_type),
            object_name: arc(&r.object_name),
            status,
            result_signature: None,
            result_description: None,
            caller_appid: arc(&r.appid),
            caller_oid: arc(&r.oid),
            caller_upn: arc(&r.upn),
            caller_idtyp: arc(&r.idtyp),
            caller_appidacr: None,
            caller_mirid: arc(&r.mirid),
            caller_tenant: None,
            caller_ip: None,
            client_info: None,
            correlation_id: None,
            rbac_authorized: flags.0,
            access_policy_match: flags.1,
            applied_assignment_id: None,
            duration_ms: None,
            source: Arc::from("access inventory"),
            source_record: 0,
            caller_scp: arc(&r.scp),
            request_uri: None,
            vault_kind: None,
        };
        let mut add = |e: Event, n: u64| {
            let order = self.whole.callers.next_order();
            let slot = self.whole.callers.add_weighted(&e, order, n);
            self.whole.access.add_n(slot, &e, n);
            self.whole.uses.add_n(slot, &e, n);
        };
        // The row's span (and its other statuses, counted nowhere else).
        add(event(r.first_seen, None, (None, None)), 0);
        add(event(r.last_seen, None, (None, None)), 0);
        if let (Some(f), Some(l)) = (r.first_ok, r.last_ok) {
            if r.succeeded > 0 {
                add(event(f, Some(200), model(true)), 1);
            }
            if r.succeeded > 1 {
                add(event(l, Some(200), model(true)), r.succeeded - 1);
            }
        }
        if r.denied > 0 {
            add(event(r.last_seen, Some(403), model(false)), r.denied);
        }
    }

    /// The access rows (see [`AccessFold::rows`]).
    pub fn objects(&self, who: &[Who]) -> Vec<super::access::ObjectAccess> {
        self.whole.access.rows(who)
    }

    /// The access rows by caller (see [`AccessFold::by_caller`]).
    pub fn by_caller(&self, who: &[Who]) -> Vec<super::access::CallerObjects> {
        self.whole.access.by_caller(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(resource_id: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "time": "2025-03-01T00:00:00.000000Z",
            "vault": "kv-a",
            "resource_id": resource_id,
            "operation": "SecretGet",
            "status": 200,
            "source": "test",
            "source_record": 1,
        }))
        .unwrap()
    }

    /// Two exports spell a vault's ARM id in different cases: whichever
    /// is folded first, and in whichever part, the same one is kept.
    #[test]
    fn a_vaults_resource_id_does_not_depend_on_the_order_folded() {
        let upper = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-A";
        let lower = upper.to_ascii_lowercase();
        let kept = |first: &str, second: &str, parts: bool| {
            let mut a = UsesFold::default();
            a.add(0, &ev(first));
            if parts {
                let mut b = UsesFold::default();
                b.add(0, &ev(second));
                a.merge(b, &[0]);
            } else {
                a.add(0, &ev(second));
            }
            let u = a.usage(Vec::new(), Vec::new());
            u.vaults[&Some("kv-a".to_string())].resource_id.clone()
        };
        for parts in [false, true] {
            assert_eq!(kept(upper, &lower, parts), Some(upper.to_string()));
            assert_eq!(kept(&lower, upper, parts), Some(upper.to_string()));
        }
    }
}
