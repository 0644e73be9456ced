//! Hash maps and sets tuned for the per-event folds: fixed fast hashing,
//! digests as keys, the caller table and interned-text sets; and large
//! values freed on a thread of their own.

mod aside;
mod caller_table;
mod hashing;
pub mod spill;
mod text_set;

pub use aside::{free_aside, FreedAside};
pub use caller_table::{CallerIdRef, CallerMap, CallerTable};
pub use hashing::{digest, DigestMap, Map, Set, State};
pub use text_set::TextSet;
