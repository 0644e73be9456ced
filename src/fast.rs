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

/// A set of interned texts that remembers the allocation of the last one
/// seen: a caller's events mostly repeat its vault, client and operation,
/// which are then recognised by address without comparing text. Exact:
/// the remembered address is that of an element of the set (kept alive by
/// it), so only the same allocation, hence the same text, matches it.
#[derive(Debug, Default, Clone)]
pub struct TextSet {
    set: std::collections::BTreeSet<std::sync::Arc<str>>,
    last: usize,
}

impl TextSet {
    pub fn insert(&mut self, v: &std::sync::Arc<str>) {
        if addr(v) == self.last {
            return;
        }
        self.last = match self.set.get(v) {
            Some(kept) => addr(kept),
            None => {
                // The set now holds this very allocation.
                self.set.insert(v.clone());
                addr(v)
            }
        };
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
