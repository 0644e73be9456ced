//! Sets of interned texts (a caller's vaults, secrets, clients) that find a
//! repeated allocation by its address instead of comparing text.

use super::hashing::Set;

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

/// The address of a text's allocation.
pub(super) fn addr(v: &std::sync::Arc<str>) -> usize {
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
}
