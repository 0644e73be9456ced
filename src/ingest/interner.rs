//! One allocation per distinct value across all events: most columns repeat
//! a handful of values (vault, operation, caller ids).

use crate::collections::{Map, Set};
use crate::event::Text;
use crate::parse::clean;
use std::sync::Arc;

/// Shares one allocation per distinct value across all events.
#[derive(Default)]
pub(super) struct Interner {
    map: Set<Arc<str>>,
    /// Text as given → its interned lower-case form (see [`Interner::lower`]).
    lowered: Map<Box<str>, Arc<str>>,
    /// An ARM resource id as given → its vault and whether it is a Managed
    /// HSM (see [`Interner::vault_of_resource_id`]).
    vaults: Map<Box<str>, Option<(Arc<str>, bool)>>,
    bytes: usize,
}

/// The interner stops growing past this many bytes of text: it only saves
/// memory when values repeat, and must not itself grow with the input.
const INTERNER_BYTES: usize = 64 << 20;

impl Interner {
    pub(super) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(k) = self.map.get(s) {
            return k.clone();
        }
        let k: Arc<str> = Arc::from(s);
        if self.bytes < INTERNER_BYTES {
            self.bytes += s.len() + 48;
            self.map.insert(k.clone());
        }
        k
    }
    /// The interned lower-case form of `s` (a vault name, which exports
    /// give in upper case): found by the text as given, so that it is
    /// lowered once per distinct value.
    pub(super) fn lower(&mut self, s: &str) -> Arc<str> {
        if !s.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.get(s);
        }
        if let Some(v) = self.lowered.get(s) {
            return v.clone();
        }
        let v = self.get(&s.to_ascii_lowercase());
        if self.bytes < INTERNER_BYTES {
            self.bytes += s.len() + 64;
            self.lowered.insert(Box::from(s), v.clone());
        }
        v
    }
    /// The interned vault of an ARM resource id (lower case) and whether
    /// it is a Managed HSM, found once per distinct id: every raw record
    /// carries one, and a few vaults repeat.
    pub(super) fn vault_of_resource_id(&mut self, id: &str) -> Option<(Arc<str>, bool)> {
        if let Some(v) = self.vaults.get(id) {
            return v.clone();
        }
        let v = crate::parse::vault_of_resource_id(id).map(|(v, hsm)| (self.get(&v), hsm));
        if self.bytes < INTERNER_BYTES {
            self.bytes += id.len() + 64;
            self.vaults.insert(Box::from(id), v.clone());
        }
        v
    }

    pub(super) fn text(&mut self, s: Option<&str>) -> Text {
        clean(s).map(|s| self.get(s))
    }
}
