//! Fast, deterministic hashing for the per-event folds: the default SipHash
//! guards against hash flooding, which input logs cannot exploit here, and
//! costs a fifth of the run time on large exports.

use std::hash::{BuildHasher, Hash};

pub type State = foldhash::fast::FixedState;
pub type Map<K, V> = std::collections::HashMap<K, V, State>;
pub type Set<T> = std::collections::HashSet<T, State>;

/// A 64-bit digest of `v` (keys kept only as digests to save memory; a
/// collision between two distinct keys is a 1-in-2^64 event per pair).
pub fn digest<T: Hash + ?Sized>(v: &T) -> u64 {
    State::default().hash_one(v)
}

/// Hashes a key that is already a [`digest`] by taking it as it is (hashing
/// it again would only cost time).
#[derive(Default, Clone, Copy)]
pub struct Digested;

pub struct DigestHasher(u64);

impl BuildHasher for Digested {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` digests are keyed with this hasher; anything else is
        // still hashed, if slowly (FNV-1a).
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A map keyed by [`digest`]s.
pub type DigestMap<V> = std::collections::HashMap<u64, V, Digested>;

/// A map keyed by a caller's (appid, oid, upn), looked up with
/// [`CallerRef`]: a caller already seen is found without cloning (and later
/// dropping) the three shared strings of the event.
pub type CallerMap<V> = hashbrown::HashMap<crate::identify::CallerText, V, State>;

/// An event's (appid, oid, upn), borrowed; hashes and compares exactly as
/// the owned key.
#[derive(Hash)]
pub struct CallerRef<'a>(
    pub &'a crate::event::Text,
    pub &'a crate::event::Text,
    pub &'a crate::event::Text,
);

impl<'a> CallerRef<'a> {
    pub fn of(e: &'a crate::event::Event) -> Self {
        CallerRef(&e.caller_appid, &e.caller_oid, &e.caller_upn)
    }
}

impl hashbrown::Equivalent<crate::identify::CallerText> for CallerRef<'_> {
    fn equivalent(&self, k: &crate::identify::CallerText) -> bool {
        *self.0 == k.0 && *self.1 == k.1 && *self.2 == k.2
    }
}

impl From<&CallerRef<'_>> for crate::identify::CallerText {
    fn from(r: &CallerRef<'_>) -> Self {
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
    slots: Vec<(crate::identify::CallerText, V)>,
    by_value: CallerMap<usize>,
    by_addr: hashbrown::HashMap<AddrKey, usize, State>,
}

/// How many allocation keys a table holds at most (past the interner's
/// bound every row brings new allocations: they are then found by value).
const ADDR_KEYS: usize = 1 << 20;

/// A caller key that hashes and compares by the addresses of its texts.
struct AddrKey(crate::identify::CallerText);

fn text_addr(t: &crate::event::Text) -> usize {
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
        self.addrs().hash(h)
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
    pub fn find(&mut self, e: &crate::event::Event) -> Option<usize> {
        let addrs = Addrs([
            text_addr(&e.caller_appid),
            text_addr(&e.caller_oid),
            text_addr(&e.caller_upn),
        ]);
        if let Some(&i) = self.by_addr.get(&addrs) {
            return Some(i);
        }
        let r = CallerRef::of(e);
        let i = *self.by_value.get(&r)?;
        self.remember(&r, i);
        Some(i)
    }

    /// Gives `e`'s caller (which has no slot yet) the value `v`; its slot.
    pub fn insert(&mut self, e: &crate::event::Event, v: V) -> usize {
        let r = CallerRef::of(e);
        let i = self.slots.len();
        let key = crate::identify::CallerText::from(&r);
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

    fn remember(&mut self, r: &CallerRef<'_>, i: usize) {
        if self.by_addr.len() < ADDR_KEYS {
            self.by_addr
                .insert(AddrKey(crate::identify::CallerText::from(r)), i);
        }
    }

    /// The value of the caller `key` (by value), made when absent.
    pub fn get_or_insert_with(
        &mut self,
        key: crate::identify::CallerText,
        make: impl FnOnce() -> V,
    ) -> &mut V {
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

    pub fn iter(&self) -> impl Iterator<Item = (&crate::identify::CallerText, &V)> {
        self.slots.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &crate::identify::CallerText> {
        self.slots.iter().map(|(k, _)| k)
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for CallerTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A set of interned texts that recognises the allocations it was given
/// before: a caller's events mostly repeat a handful of vaults, secrets,
/// clients and operations, which are then found by address without
/// comparing text (the last few by a scan of their addresses, the others,
/// in a large set, by a hash of the address). Exact: every remembered
/// address is that of a text the set keeps alive (an element, or another
/// allocation of an element's text held in `aliases`), so only the same
/// allocation, hence the same text, matches it.
///
/// Laid out so that `recent`, all an insert of a repeated text reads, is
/// one cache line.
#[derive(Debug, Default, Clone)]
#[repr(C, align(64))]
pub struct TextSet {
    recent: [usize; RECENT],
    set: std::collections::BTreeSet<std::sync::Arc<str>>,
    /// Where the next remembered address goes (round robin).
    next: usize,
    /// Every address remembered, once the set outgrows `recent`.
    known: Set<usize>,
    /// Allocations of texts already in the set, kept so that their
    /// addresses stay theirs (at most [`ALIASES`]).
    aliases: Vec<std::sync::Arc<str>>,
}

/// How many addresses a [`TextSet`] scans before hashing one.
const RECENT: usize = 8;
/// How many other allocations of its texts a [`TextSet`] keeps at most
/// (they come from other threads' interners, or past an interner's bound).
const ALIASES: usize = 64;

impl TextSet {
    pub fn insert(&mut self, v: &std::sync::Arc<str>) {
        let a = addr(v);
        if self.recent.contains(&a) {
            return;
        }
        let large = self.set.len() >= RECENT;
        if !(large && self.known.contains(&a)) {
            let kept = match self.set.get(v) {
                Some(kept) => addr(kept),
                None => {
                    // The set now holds this very allocation.
                    self.set.insert(v.clone());
                    a
                }
            };
            if kept != a {
                if self.aliases.len() >= ALIASES {
                    return;
                }
                self.aliases.push(v.clone());
            }
            if self.set.len() >= RECENT {
                self.known.insert(a);
            }
        }
        self.recent[self.next] = a;
        self.next = (self.next + 1) % RECENT;
    }

    /// Adds every text of `other`.
    pub fn merge(&mut self, other: TextSet) {
        self.set.extend(other.set);
    }
}

impl std::ops::Deref for TextSet {
    type Target = std::collections::BTreeSet<std::sync::Arc<str>>;
    fn deref(&self) -> &Self::Target {
        &self.set
    }
}

impl Extend<std::sync::Arc<str>> for TextSet {
    fn extend<I: IntoIterator<Item = std::sync::Arc<str>>>(&mut self, items: I) {
        self.set.extend(items);
    }
}

fn addr(v: &std::sync::Arc<str>) -> usize {
    std::sync::Arc::as_ptr(v) as *const u8 as usize
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn text_set_matches_by_value_and_by_allocation() {
        let a1: Arc<str> = Arc::from("vault-a");
        let a2: Arc<str> = Arc::from("vault-a");
        let b: Arc<str> = Arc::from("vault-b");
        let mut s = TextSet::default();
        for v in [&a1, &a1, &a2, &b, &a2, &b, &a1] {
            s.insert(v);
        }
        assert_eq!(s.len(), 2);
        let mut t = TextSet::default();
        t.insert(&Arc::from("vault-c"));
        t.insert(&a2);
        s.merge(t);
        let all: Vec<&str> = s.iter().map(|v| &**v).collect();
        assert_eq!(all, ["vault-a", "vault-b", "vault-c"]);
    }

    #[test]
    fn text_set_counts_more_texts_than_it_remembers() {
        let texts: Vec<Arc<str>> = (0..20).map(|i| Arc::from(format!("s{i:02}"))).collect();
        let copies: Vec<Arc<str>> = texts.iter().map(|t| Arc::from(&**t)).collect();
        let mut s = TextSet::default();
        for round in 0..3 {
            for (t, c) in texts.iter().zip(&copies) {
                s.insert(if round == 1 { c } else { t });
            }
        }
        assert_eq!(s.len(), 20);
        assert_eq!(s.iter().next().map(|v| &**v), Some("s00"));
    }

    #[test]
    fn borrowed_caller_key_hashes_as_the_owned_one() {
        let texts: [crate::event::Text; 3] = [None, Some(Arc::from("a")), Some(Arc::from(""))];
        for a in &texts {
            for o in &texts {
                for u in &texts {
                    let owned: crate::identify::CallerText = (a.clone(), o.clone(), u.clone());
                    let r = CallerRef(a, o, u);
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
