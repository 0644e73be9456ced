//! The per-caller table every fold keys by: callers found by the addresses
//! of their interned texts before their value, so a repeated caller costs no
//! text comparison.

use super::hashing::State;
use super::text_set::addr;
use crate::event::{CallerId, Event, Text};

/// A map keyed by a caller's (appid, oid, upn), looked up with
/// [`CallerIdRef`]: a caller already seen is found without cloning (and later
/// dropping) the three shared strings of the event.
pub type CallerMap<V> = hashbrown::HashMap<CallerId, V, State>;

/// An event's (appid, oid, upn), borrowed; hashes and compares exactly as
/// the owned key.
#[derive(Hash)]
pub struct CallerIdRef<'a>(pub &'a Text, pub &'a Text, pub &'a Text);

impl<'a> CallerIdRef<'a> {
    pub fn of(e: &'a Event) -> Self {
        CallerIdRef(&e.caller_appid, &e.caller_oid, &e.caller_upn)
    }
}

impl hashbrown::Equivalent<CallerId> for CallerIdRef<'_> {
    fn equivalent(&self, k: &CallerId) -> bool {
        *self.0 == k.0 && *self.1 == k.1 && *self.2 == k.2
    }
}

impl From<&CallerIdRef<'_>> for CallerId {
    fn from(r: &CallerIdRef<'_>) -> Self {
        (r.0.clone(), r.1.clone(), r.2.clone())
    }
}

/// Values per caller (appid, oid, upn), found first by the allocations of
/// the event's interned texts (three addresses hashed and compared, no
/// text), then by value. Within one interner equal texts share one
/// allocation, so the lookup by value runs once per caller and interner
/// (and for texts past the interner's bound); keys seen by allocation are
/// held, so their addresses are never reused while the table lives.
pub struct CallerTable<V> {
    slots: Vec<(CallerId, V)>,
    by_value: CallerMap<usize>,
    by_addr: hashbrown::HashMap<AddrKey, usize, State>,
}

/// How many allocation keys a table holds at most (past the interner's
/// bound every row brings new allocations: they are then found by value).
const ADDR_KEYS: usize = 1 << 20;

/// A caller key that hashes and compares by the addresses of its texts.
struct AddrKey(CallerId);

fn text_addr(t: &Text) -> usize {
    t.as_ref().map_or(0, addr)
}

impl AddrKey {
    fn addrs(&self) -> [usize; 3] {
        [
            text_addr(&self.0 .0),
            text_addr(&self.0 .1),
            text_addr(&self.0 .2),
        ]
    }
}

impl std::hash::Hash for AddrKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.addrs().hash(h);
    }
}

impl PartialEq for AddrKey {
    fn eq(&self, o: &Self) -> bool {
        self.addrs() == o.addrs()
    }
}

impl Eq for AddrKey {}

/// The addresses of an event's (appid, oid, upn), hashed as [`AddrKey`].
#[derive(Hash)]
struct Addrs([usize; 3]);

impl hashbrown::Equivalent<AddrKey> for Addrs {
    fn equivalent(&self, k: &AddrKey) -> bool {
        self.0 == k.addrs()
    }
}

impl<V> Default for CallerTable<V> {
    fn default() -> Self {
        CallerTable {
            slots: Vec::new(),
            by_value: Default::default(),
            by_addr: Default::default(),
        }
    }
}

impl<V> CallerTable<V> {
    /// The slot of `e`'s caller, when it has one.
    pub fn find(&mut self, e: &Event) -> Option<usize> {
        let addrs = Addrs([
            text_addr(&e.caller_appid),
            text_addr(&e.caller_oid),
            text_addr(&e.caller_upn),
        ]);
        if let Some(&i) = self.by_addr.get(&addrs) {
            return Some(i);
        }
        let r = CallerIdRef::of(e);
        let i = *self.by_value.get(&r)?;
        self.remember(&r, i);
        Some(i)
    }

    /// Gives `e`'s caller (which has no slot yet) the value `v`; its slot.
    pub fn insert(&mut self, e: &Event, v: V) -> usize {
        let r = CallerIdRef::of(e);
        let i = self.slots.len();
        let key = CallerId::from(&r);
        self.slots.push((key.clone(), v));
        self.by_value.insert(key, i);
        self.remember(&r, i);
        i
    }

    /// The value in slot `i` (from [`CallerTable::find`] or
    /// [`CallerTable::insert`]).
    pub fn slot(&mut self, i: usize) -> &mut V {
        &mut self.slots[i].1
    }

    fn remember(&mut self, r: &CallerIdRef<'_>, i: usize) {
        if self.by_addr.len() < ADDR_KEYS {
            self.by_addr.insert(AddrKey(CallerId::from(r)), i);
        }
    }

    /// The value of the caller `key` (by value), made when absent.
    pub fn get_or_insert_with(&mut self, key: CallerId, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.by_value.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.slots.len();
                self.slots.push((key.clone(), make()));
                self.by_value.insert(key, i);
                i
            }
        };
        &mut self.slots[i].1
    }

    /// Merges `other` in: `merge` combines the values of a caller in both.
    /// The slot here of each of `other`'s slots, in order.
    pub fn merge(&mut self, other: CallerTable<V>, mut merge: impl FnMut(&mut V, V)) -> Vec<usize> {
        let mut to = Vec::with_capacity(other.slots.len());
        for (k, v) in other.slots {
            match self.by_value.get(&k) {
                Some(&i) => {
                    merge(&mut self.slots[i].1, v);
                    to.push(i);
                }
                None => {
                    let i = self.slots.len();
                    self.by_value.insert(k.clone(), i);
                    self.slots.push((k, v));
                    to.push(i);
                }
            }
        }
        to
    }

    pub fn iter(&self) -> impl Iterator<Item = (&CallerId, &V)> {
        self.slots.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &CallerId> {
        self.slots.iter().map(|(k, _)| k)
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for CallerTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;
    use std::sync::Arc;

    #[test]
    fn caller_table_finds_callers_by_allocation_and_by_value() {
        let ev = |appid: &str| {
            let mut e: crate::event::Event = serde_json::from_value(serde_json::json!({
                "time": "2025-03-10T09:00:00Z", "vault": null, "resource_id": null,
                "operation": "SecretGet", "object_type": null, "object_name": null,
                "status": 200, "result_signature": null, "result_description": null,
                "caller_appid": null, "caller_oid": null, "caller_upn": null,
                "caller_idtyp": null, "caller_appidacr": null, "caller_mirid": null,
                "caller_tenant": null, "caller_ip": null, "client_info": null,
                "correlation_id": null, "rbac_authorized": null,
                "access_policy_match": null, "applied_assignment_id": null,
                "duration_ms": null, "source": "t", "source_record": 1,
                "caller_scp": null, "request_uri": null
            }))
            .unwrap();
            e.caller_appid = Some(Arc::from(appid));
            e
        };
        let (a1, a2, b) = (ev("a"), ev("a"), ev("b"));
        let mut t: CallerTable<u32> = CallerTable::default();
        assert_eq!(t.find(&a1), None);
        let i = t.insert(&a1, 1);
        // The same allocation, then an equal text in another allocation.
        assert_eq!(t.find(&a1), Some(i));
        assert_eq!(t.find(&a2), Some(i));
        assert_eq!(t.find(&a2), Some(i));
        assert_eq!(t.find(&b), None);
        let mut other: CallerTable<u32> = CallerTable::default();
        other.insert(&a2, 10);
        other.insert(&b, 5);
        t.merge(other, |x, y| *x += y);
        let got: Vec<(Option<&str>, u32)> = t.iter().map(|(k, v)| (k.0.as_deref(), *v)).collect();
        assert_eq!(got, [(Some("a"), 11), (Some("b"), 5)]);
    }

    #[test]
    fn borrowed_caller_key_hashes_as_the_owned_one() {
        let texts: [crate::event::Text; 3] = [None, Some(Arc::from("a")), Some(Arc::from(""))];
        for a in &texts {
            for o in &texts {
                for u in &texts {
                    let owned: CallerId = (a.clone(), o.clone(), u.clone());
                    let r = CallerIdRef(a, o, u);
                    assert_eq!(
                        State::default().hash_one(&r),
                        State::default().hash_one(&owned)
                    );
                    let mut m: CallerMap<u8> = CallerMap::default();
                    m.insert(owned, 1);
                    assert_eq!(m.get(&r), Some(&1));
                }
            }
        }
    }
}
