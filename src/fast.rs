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
