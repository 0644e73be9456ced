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
