//! `--redact`: stable pseudonyms for upns, oids, non-Microsoft appids, IPs,
//! tenant and subscription ids, so a report can be shared.

use crate::event::Event;
use crate::identify::Catalog;
use std::collections::{BTreeMap, HashSet};

/// Collects the identifiers to redact, event by event.
pub struct RedactorFold {
    set: BTreeMap<String, &'static str>,
    guid: regex::Regex,
    /// Microsoft application ids are public: never redacted.
    microsoft: Catalog,
    /// Texts already scanned for GUIDs (descriptions repeat).
    scanned: HashSet<String>,
}

impl RedactorFold {
    pub fn new() -> Self {
        RedactorFold {
            set: BTreeMap::new(),
            guid: regex::Regex::new(
                r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
            )
            .expect("static regex"),
            microsoft: Catalog::bundled(),
            scanned: HashSet::new(),
        }
    }

    pub fn add(&mut self, e: &Event) {
        let set = &mut self.set;
        let mut put = |v: &str, kind: &'static str| match set.get_mut(v) {
            Some(k) => *k = kind,
            None => {
                set.insert(v.to_string(), kind);
            }
        };
        if let Some(u) = e.caller_upn.as_deref() {
            put(u, "user");
        }
        for v in [&e.caller_oid, &e.caller_tenant, &e.applied_assignment_id]
            .into_iter()
            .flatten()
        {
            put(v, "id");
        }
        if let Some(a) = e.caller_appid.as_deref() {
            if self.microsoft.microsoft_app(a).is_none() {
                put(a, "app");
            }
        }
        if let Some(v) = e.caller_ip.as_deref() {
            put(v, "ip");
        }
        // GUIDs inside resource ids and descriptions (subscriptions, tenants).
        for text in [&e.resource_id, &e.result_description, &e.caller_mirid]
            .into_iter()
            .flatten()
        {
            if self.scanned.len() < 100_000 && !self.scanned.insert(text.to_string()) {
                continue;
            }
            for m in self.guid.find_iter(text) {
                if self.microsoft.microsoft_app(m.as_str()).is_none()
                    && !self.set.contains_key(m.as_str())
                {
                    self.set.insert(m.as_str().to_string(), "id");
                }
            }
        }
    }

    pub fn finish(self) -> Redactor {
        let mut pairs: Vec<(String, String)> = self
            .set
            .into_iter()
            .filter(|(k, _)| k.len() >= 4)
            .map(|(k, kind)| {
                let p = match kind {
                    "user" => format!("user-{:08x}@redacted", fnv(&k) as u32),
                    "ip" => format!("ip-{:08x}", fnv(&k) as u32),
                    "app" => format!("app-{:08x}", fnv(&k) as u32),
                    _ => format!("id-{:08x}", fnv(&k) as u32),
                };
                (k, p)
            })
            .collect();
        // Longest first, so a upn is replaced before a part of it.
        pairs.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Redactor { pairs }
    }
}

impl Default for RedactorFold {
    fn default() -> Self {
        Self::new()
    }
}

/// Stable pseudonyms for upns, oids, non-Microsoft appids, IPs, tenant and
/// subscription ids: the same input always gives the same pseudonym, so
/// reports stay comparable, and no original survives in the output.
pub struct Redactor {
    pairs: Vec<(String, String)>,
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.to_ascii_lowercase().bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl Redactor {
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.pairs {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), v);
            }
            let lower = k.to_ascii_lowercase();
            if lower != *k && out.contains(&lower) {
                out = out.replace(&lower, v);
            }
            let upper = k.to_ascii_uppercase();
            if upper != *k && out.contains(&upper) {
                out = out.replace(&upper, v);
            }
        }
        out
    }
}
