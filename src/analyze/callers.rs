//! One row per caller identity (appid, oid, upn): how much it did, where,
//! and how often it was denied, folded event by event (memory grows with
//! callers, not events) on every parsing thread.

use crate::collections::TextSet;
use crate::error::Result;
use crate::event::{format_time, Event, Text};
use crate::identify::{classify, Catalog, Claims, Identity};
use crate::pipeline::Sink;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallerRow {
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    /// Identity kind (user, service_principal, managed_identity, ...).
    pub kind: String,
    /// For managed identities: `system` or `user`.
    pub mi_type: Option<String>,
    /// Display name: the principal, or for users the client application.
    pub name: Option<String>,
    /// For users: the client application they came through.
    pub client_app: Option<String>,
    pub events: u64,
    /// HTTP 403 responses.
    pub denied: u64,
    /// Distinct vaults.
    pub vaults: u64,
    pub vault_names: Vec<String>,
    pub secrets: u64,
    pub keys: u64,
    pub certificates: u64,
    pub operations: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub clients: Vec<String>,
}

/// The per-caller aggregates, folded one event at a time so that
/// `kvaudit callers` keeps memory flat however large the input: only one
/// accumulator per caller (and its distinct vaults, objects, operations and
/// clients) is held, never the events. `tests/integration/streaming.rs`
/// checks it against a polars aggregation on every fixture.
#[derive(Debug, Default)]
pub struct CallerFold {
    map: crate::collections::CallerTable<Acc>,
    /// One past the latest order folded in: where [`CallerFold::add`] and
    /// the parts of the next input continue.
    seen: u64,
    /// For a part: the order its input starts at.
    base: u64,
}

#[derive(Debug)]
struct Acc {
    events: u64,
    denied: u64,
    vaults: TextSet,
    secrets: TextSet,
    keys: TextSet,
    certificates: TextSet,
    operations: TextSet,
    clients: TextSet,
    first: i64,
    last: i64,
    idtyp: Text,
    scp: Text,
    mirid: Text,
    /// The order of the event each of idtyp, scp and mirid came from (the
    /// first that carried one; `u64::MAX` while none has), so that merging
    /// parts keeps the value a sequential fold would.
    claims_at: [u64; 3],
    /// The order of the caller's first event (`u64::MAX`: none given).
    order: u64,
}

impl Acc {
    /// Keeps the first idtyp, scp and mirid given (in that order), each with
    /// the order of the event it came from.
    fn first_claims<T>(
        &mut self,
        claims: [&Option<T>; 3],
        order: u64,
        text: impl Fn(&T) -> Arc<str>,
    ) {
        for (i, (slot, v)) in [&mut self.idtyp, &mut self.scp, &mut self.mirid]
            .into_iter()
            .zip(claims)
            .enumerate()
        {
            // The earliest by order, whatever order events come in (a
            // part may fold held successes after later failures).
            if let Some(v) = v {
                if slot.is_none() || order < self.claims_at[i] {
                    *slot = Some(text(v));
                    self.claims_at[i] = order;
                }
            }
        }
    }

    /// An empty accumulator whose first and last seen start at these times
    /// (microseconds).
    fn new(first: i64, last: i64) -> Self {
        Acc {
            events: 0,
            denied: 0,
            vaults: TextSet::default(),
            secrets: TextSet::default(),
            keys: TextSet::default(),
            certificates: TextSet::default(),
            operations: TextSet::default(),
            clients: TextSet::default(),
            first,
            last,
            idtyp: None,
            scp: None,
            mirid: None,
            claims_at: [u64::MAX; 3],
            order: u64::MAX,
        }
    }

    /// The identity of caller `key` from its first claims.
    fn identity(&self, key: &crate::event::CallerId, catalog: &Catalog) -> Identity {
        let (appid, oid, upn) = key;
        classify(
            &Claims {
                appid: appid.as_deref(),
                oid: oid.as_deref(),
                upn: upn.as_deref(),
                idtyp: self.idtyp.as_deref(),
                scp: self.scp.as_deref(),
                mirid: self.mirid.as_deref(),
            },
            catalog,
        )
    }

    /// Folds in the accumulator of the same caller from another part.
    fn merge(&mut self, o: Acc) {
        self.events += o.events;
        self.denied += o.denied;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.order = self.order.min(o.order);
        self.vaults.merge(o.vaults);
        self.secrets.merge(o.secrets);
        self.keys.merge(o.keys);
        self.certificates.merge(o.certificates);
        self.operations.merge(o.operations);
        self.clients.merge(o.clients);
        for (i, (slot, v)) in [
            (&mut self.idtyp, o.idtyp),
            (&mut self.scp, o.scp),
            (&mut self.mirid, o.mirid),
        ]
        .into_iter()
        .enumerate()
        {
            if o.claims_at[i] < self.claims_at[i] {
                *slot = v;
                self.claims_at[i] = o.claims_at[i];
            }
        }
    }
}

impl Sink for CallerFold {
    fn event(&mut self, e: Event) -> Result<()> {
        self.add(&e);
        Ok(())
    }

    /// Callers are counts, extremes and sets: each parsing thread folds its
    /// own events and the parts are merged.
    fn fork(&mut self) -> Option<Box<dyn crate::pipeline::ThreadFold>> {
        Some(Box::new(self.part()))
    }

    fn join(&mut self, part: Box<dyn crate::pipeline::ThreadFold>) -> Result<()> {
        self.merge(crate::pipeline::take_part(part)?);
        Ok(())
    }
}

impl crate::pipeline::ThreadFold for CallerFold {
    fn add(&mut self, e: &Event, order: u64) -> bool {
        self.add_in_part(e, order);
        false
    }

    /// Callers are counts, sets and extremes: like events fold at once.
    fn takes_like(&self) -> bool {
        true
    }

    fn add_like(&mut self, e: &Event, n: u64, times: (i64, i64), orders: (u64, u64)) {
        self.add_range(e, n, times, (self.base + orders.0, self.base + orders.1));
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl CallerFold {
    /// Folds one event in (after every event folded before it).
    pub fn add(&mut self, e: &Event) {
        let order = self.seen;
        self.add_ordered(e, order);
    }

    /// An empty fold for one parsing thread, whose events come after those
    /// folded here so far (merged back with [`CallerFold::merge`]).
    pub fn part(&self) -> CallerFold {
        CallerFold {
            seen: self.seen,
            base: self.seen,
            ..Default::default()
        }
    }

    /// Folds one event into a part made by [`CallerFold::part`]; `order` is
    /// its place in the part's input.
    pub fn add_in_part(&mut self, e: &Event, order: u64) {
        self.add_ordered(e, self.base + order);
    }

    /// The order the next event folded with [`CallerFold::add`] gets (one
    /// past the latest folded).
    pub fn next_order(&self) -> u64 {
        self.seen
    }

    /// Merges another fold's callers into this one; the slot (see
    /// [`CallerFold::add_ordered`]) here of each of `other`'s slots.
    pub fn merge(&mut self, other: CallerFold) -> Vec<usize> {
        self.seen = self.seen.max(other.seen);
        self.map.merge(other.map, Acc::merge)
    }

    /// The callers in slot order (see [`CallerFold::add_ordered`]).
    pub fn keys(&self) -> impl Iterator<Item = &crate::event::CallerId> {
        self.map.keys()
    }

    /// The order of each slot's first event (`u64::MAX` where none was
    /// given), in slot order: which caller came first, however the events
    /// were split between threads or held.
    pub fn first_orders(&self) -> Vec<u64> {
        self.map.iter().map(|(_, a)| a.order).collect()
    }

    /// Folds in one event whose place in the input is `order` (orders grow
    /// with the input; every event of a fold has its own). The caller's
    /// slot: callers are numbered 0, 1, 2… as first seen, so that other
    /// per-caller folds can share this lookup.
    pub fn add_ordered(&mut self, e: &Event, order: u64) -> usize {
        self.add_weighted(e, order, 1)
    }

    /// [`CallerFold::add_ordered`] for `n` events like `e` at once (rows
    /// of an access inventory; `n` may be 0 for a row's first or last
    /// time).
    pub fn add_weighted(&mut self, e: &Event, order: u64, n: u64) -> usize {
        let t = e.time.timestamp_micros();
        self.add_range(e, n, (t, t), (order, order))
    }

    /// Folds in `n` events that are all `e` but for their times, the
    /// earliest and latest of which are `times` (microseconds), and their
    /// orders, the first and last of which are `orders`.
    pub fn add_range(&mut self, e: &Event, n: u64, times: (i64, i64), orders: (u64, u64)) -> usize {
        let (order, last_order) = orders;
        self.seen = self.seen.max(last_order + 1);
        let at = match self.map.find(e) {
            Some(i) => i,
            None => self.map.insert(e, Acc::new(times.0, times.1)),
        };
        let a = self.map.slot(at);
        a.events += n;
        if e.status == Some(403) {
            a.denied += n;
        }
        a.first = a.first.min(times.0);
        a.last = a.last.max(times.1);
        a.order = a.order.min(order);
        if let Some(v) = &e.vault {
            a.vaults.insert(v);
        }
        if let (Some(kind), Some(name)) = (e.object_type.as_deref(), &e.object_name) {
            let set = match kind {
                "secret" => Some(&mut a.secrets),
                "key" => Some(&mut a.keys),
                "certificate" => Some(&mut a.certificates),
                _ => None,
            };
            if let Some(set) = set {
                set.insert(name);
            }
        }
        a.operations.insert(&e.operation);
        if let Some(c) = &e.client_info {
            a.clients.insert(c);
        }
        a.first_claims(
            [&e.caller_idtyp, &e.caller_scp, &e.caller_mirid],
            order,
            Arc::clone,
        );
        at
    }
}

impl CallerFold {
    /// The (appid, oid) of every caller, for `--resolve`.
    pub fn principals(&self) -> Vec<(Option<&str>, Option<&str>)> {
        self.map
            .keys()
            .map(|(a, o, _)| (a.as_deref(), o.as_deref()))
            .collect()
    }

    /// The identity of every caller, as [`crate::identify::IdentityFold`]
    /// gives it for the same events (the same first claims).
    pub fn identities(
        &self,
        catalog: &Catalog,
    ) -> std::collections::HashMap<crate::identify::CallerKey, Identity> {
        self.map
            .iter()
            .map(|(key, a)| (crate::identify::owned_key(key), a.identity(key, catalog)))
            .collect()
    }

    /// One row per caller, most active first (most events first, then by appid, oid and upn).
    pub fn rows(&self, catalog: &Catalog) -> Vec<CallerRow> {
        let when = |micros: i64| {
            DateTime::from_timestamp_micros(micros)
                .map(|t| format_time(&t))
                .unwrap_or_default()
        };
        let list = |s: &TextSet| {
            s.iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>()
        };
        let mut out: Vec<CallerRow> = self
            .map
            .iter()
            .map(|(key, a)| {
                let id = a.identity(key, catalog);
                let (appid, oid, upn) = key;
                CallerRow {
                    appid: appid.as_deref().map(str::to_string),
                    oid: oid.as_deref().map(str::to_string),
                    upn: upn.as_deref().map(str::to_string),
                    kind: id.kind.as_str().to_string(),
                    mi_type: id.mi_type,
                    name: id.name,
                    client_app: id.client_app,
                    events: a.events,
                    denied: a.denied,
                    vaults: a.vaults.len() as u64,
                    vault_names: list(&a.vaults),
                    secrets: a.secrets.len() as u64,
                    keys: a.keys.len() as u64,
                    certificates: a.certificates.len() as u64,
                    operations: list(&a.operations),
                    first_seen: when(a.first),
                    last_seen: when(a.last),
                    clients: list(&a.clients),
                }
            })
            .collect();
        // events descending, then appid, oid, upn ascending with nulls last.
        let nulls_last = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(x), Some(y)) => x.cmp(y),
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
        };
        out.sort_by(|x, y| {
            y.events
                .cmp(&x.events)
                .then_with(|| nulls_last(&x.appid, &y.appid))
                .then_with(|| nulls_last(&x.oid, &y.oid))
                .then_with(|| nulls_last(&x.upn, &y.upn))
        });
        out
    }
}

impl CallerFold {
    /// Merges one row of a caller inventory (`queries/caller-inventory.kql`):
    /// a day of one caller on one vault, already aggregated.
    pub fn add_inventory(&mut self, r: &crate::ingest::inventory::InventoryRow) {
        let arc = |s: &Option<String>| s.as_deref().map(Arc::<str>::from);
        let key = (arc(&r.appid), arc(&r.oid), arc(&r.upn));
        let (first, last) = (
            r.first_seen.timestamp_micros(),
            r.last_seen.timestamp_micros(),
        );
        let a = self.map.get_or_insert_with(key, || Acc::new(first, last));
        a.events += r.requests;
        a.denied += r.denied;
        a.first = a.first.min(first);
        a.last = a.last.max(last);
        a.vaults
            .extend(r.vault.iter().map(|v| Arc::from(v.as_str())));
        a.secrets
            .extend(r.secrets.iter().map(|v| Arc::from(v.as_str())));
        a.keys.extend(r.keys.iter().map(|v| Arc::from(v.as_str())));
        a.certificates
            .extend(r.certificates.iter().map(|v| Arc::from(v.as_str())));
        a.operations
            .extend(r.operations.iter().map(|v| Arc::from(v.as_str())));
        a.clients
            .extend(r.clients.iter().map(|v| Arc::from(v.as_str())));
        let order = self.seen;
        self.seen += 1;
        a.first_claims([&r.idtyp, &r.scp, &r.mirid], order, |v| {
            Arc::from(v.as_str())
        });
    }
}
