//! Who read, wrote and deleted each secret, key and certificate, and when
//! last (Key Vault keeps no last-accessed attribute; only the log knows),
//! folded event by event on the parsing threads: memory grows with objects
//! and their readers, never with events.

use super::permissions::{knowledge, Access};
use crate::collections::Map;
use crate::event::{format_time, Event, Text};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One object's use over the window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectAccess {
    pub vault: Option<String>,
    pub object_type: String,
    pub object_name: String,
    /// Successful operations that return or use the object (see
    /// [`Access::is_read`]).
    pub reads: u64,
    /// Of the reads, those that returned only public material (KeyGet,
    /// CertificateGet).
    pub public_reads: u64,
    /// For a certificate: reads of the secret of the same name, which
    /// returns its private key (counted in `reads` too).
    #[serde(default)]
    pub private_key_reads: u64,
    /// Successful metadata operations (attributes, versions), not reads of
    /// a value.
    pub metadata: u64,
    pub writes: u64,
    pub deletes: u64,
    /// HTTP 403 responses on the object.
    pub denied: u64,
    pub first_read: Option<String>,
    pub last_read: Option<String>,
    pub last_write: Option<String>,
    /// No read in the window (listed by `--objects`, or only written,
    /// listed or denied).
    #[serde(default)]
    pub unused: bool,
    /// Most reads first.
    pub readers: Vec<Reader>,
}

/// A principal that read an object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reader {
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    pub kind: String,
    pub name: Option<String>,
    pub reads: u64,
    pub last_read: Option<String>,
}

/// Who a caller slot is (see [`crate::analyze::callers::CallerFold::add_ordered`]):
/// the `principal` object of the public contract.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Who {
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    pub kind: String,
    pub name: Option<String>,
}

/// (vault, object type, object name).
type ObjectKey = (Text, Arc<str>, Arc<str>);

#[derive(Debug, Default)]
struct ObjectAcc {
    reads: u64,
    public_reads: u64,
    metadata: u64,
    writes: u64,
    deletes: u64,
    denied: u64,
    /// Microseconds; `i64::MAX` / `i64::MIN` while there is none.
    first_read: Option<i64>,
    last_read: Option<i64>,
    last_write: Option<i64>,
    /// What each caller slot did to the object.
    readers: Map<usize, CallerUse>,
}

/// One caller's use of one object.
#[derive(Debug, Clone, Copy)]
struct CallerUse {
    reads: u64,
    writes: u64,
    denied: u64,
    /// Microseconds; `i64::MIN` while there is none.
    last_read: i64,
}

impl Default for CallerUse {
    fn default() -> Self {
        CallerUse {
            reads: 0,
            writes: 0,
            denied: 0,
            last_read: i64::MIN,
        }
    }
}

fn min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

fn max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

impl ObjectAcc {
    fn merge(&mut self, o: ObjectAcc, to: &[usize]) {
        self.reads += o.reads;
        self.public_reads += o.public_reads;
        self.metadata += o.metadata;
        self.writes += o.writes;
        self.deletes += o.deletes;
        self.denied += o.denied;
        self.first_read = min(self.first_read, o.first_read);
        self.last_read = max(self.last_read, o.last_read);
        self.last_write = max(self.last_write, o.last_write);
        for (slot, u) in o.readers {
            let r = self
                .readers
                .entry(to.get(slot).copied().unwrap_or(slot))
                .or_default();
            r.reads += u.reads;
            r.writes += u.writes;
            r.denied += u.denied;
            r.last_read = r.last_read.max(u.last_read);
        }
    }
}

/// Per object: reads, writes, deletes, denials and readers.
#[derive(Debug, Default)]
pub struct AccessFold {
    objects: Map<ObjectKey, ObjectAcc>,
    /// Per caller slot: successful lists and other metadata operations
    /// that name no object (SecretList, KeyList...): counted apart, never
    /// as reads.
    lists: Map<usize, u64>,
    /// What each operation name seen does (looked up once per name).
    classes: Map<Arc<str>, Access>,
}

impl AccessFold {
    fn class(&mut self, op: &Arc<str>) -> Access {
        if let Some(c) = self.classes.get(op) {
            return *c;
        }
        let c = knowledge()
            .operation(op)
            .or_else(|| knowledge().hsm_operation(op))
            .map_or(Access::None, |o| o.access);
        self.classes.insert(op.clone(), c);
        c
    }

    /// Folds in one event of the caller in `slot`: events on a secret, key
    /// or certificate whose name the log gives.
    pub fn add(&mut self, slot: usize, e: &Event) {
        self.add_n(slot, e, 1);
    }

    /// [`AccessFold::add`] for `n` events like `e` (access inventories).
    pub fn add_n(&mut self, slot: usize, e: &Event, n: u64) {
        let t = e.time.timestamp_micros();
        self.add_range(slot, e, n, (t, t));
    }

    /// [`AccessFold::add_n`] for `n` events like `e` whose earliest and
    /// latest times are `times` (microseconds).
    pub fn add_range(&mut self, slot: usize, e: &Event, n: u64, times: (i64, i64)) {
        if n == 0 {
            return;
        }
        let (Some(kind), Some(name)) = (&e.object_type, &e.object_name) else {
            if e.succeeded() && self.class(&e.operation) == Access::Metadata {
                *self.lists.entry(slot).or_default() += n;
            }
            return;
        };
        if !matches!(&**kind, "secret" | "key" | "certificate") {
            return;
        }
        let denied = e.status == Some(403);
        let ok = e.succeeded();
        if !denied && !ok {
            return;
        }
        let class = if ok {
            self.class(&e.operation)
        } else {
            Access::None
        };
        let key = (e.vault.clone(), kind.clone(), name.clone());
        let a = self.objects.entry(key).or_default();
        if denied {
            a.denied += n;
            a.readers.entry(slot).or_default().denied += n;
            return;
        }
        match class {
            Access::Value | Access::Public | Access::Use => {
                a.reads += n;
                if class == Access::Public {
                    a.public_reads += n;
                }
                a.first_read = min(a.first_read, Some(times.0));
                a.last_read = max(a.last_read, Some(times.1));
                let r = a.readers.entry(slot).or_default();
                r.reads += n;
                r.last_read = r.last_read.max(times.1);
            }
            Access::Metadata => a.metadata += n,
            Access::Write => {
                a.writes += n;
                a.last_write = max(a.last_write, Some(times.1));
                a.readers.entry(slot).or_default().writes += n;
            }
            Access::Delete => {
                a.deletes += n;
                a.last_write = max(a.last_write, Some(times.1));
                a.readers.entry(slot).or_default().writes += n;
            }
            Access::None => {}
        }
    }

    /// Merges another part's objects in: `to` maps each of its caller slots
    /// to one here (see [`crate::analyze::callers::CallerFold::merge`]).
    pub fn merge(&mut self, other: AccessFold, to: &[usize]) {
        for (k, o) in other.objects {
            self.objects.entry(k).or_default().merge(o, to);
        }
        for (slot, n) in other.lists {
            *self
                .lists
                .entry(to.get(slot).copied().unwrap_or(slot))
                .or_default() += n;
        }
    }

    /// Adds objects a listing names (`az keyvault secret list` ...; see
    /// [`crate::ingest::objects`]) that the log never touched, so they come
    /// out with no reads and flagged unused.
    pub fn add_listed(&mut self, listed: &[crate::ingest::objects::Listed]) {
        for l in listed {
            let key: ObjectKey = (
                Some(Arc::from(l.vault.as_str())),
                Arc::from(l.object_type.as_str()),
                Arc::from(l.object_name.as_str()),
            );
            self.objects.entry(key).or_default();
        }
    }

    /// One row per object, sorted by vault, type and name; `who` names each
    /// caller slot. A certificate's private key is read through the secret
    /// of the same name: those reads count for the certificate too
    /// (`private_key_reads`).
    pub fn rows(&self, who: &[Who]) -> Vec<ObjectAccess> {
        let mut out: Vec<ObjectAccess> = self
            .objects
            .iter()
            .map(|((vault, kind, name), a)| {
                let mut readers: Vec<Reader> = a
                    .readers
                    .iter()
                    .filter(|(_, u)| u.reads > 0)
                    .map(|(slot, u)| {
                        let w = who.get(*slot).cloned().unwrap_or_default();
                        Reader {
                            appid: w.appid,
                            oid: w.oid,
                            upn: w.upn,
                            kind: w.kind,
                            name: w.name,
                            reads: u.reads,
                            last_read: when(Some(u.last_read)),
                        }
                    })
                    .collect();
                sort_readers(&mut readers);
                ObjectAccess {
                    vault: vault.as_deref().map(str::to_string),
                    object_type: kind.to_string(),
                    object_name: name.to_string(),
                    reads: a.reads,
                    public_reads: a.public_reads,
                    private_key_reads: 0,
                    metadata: a.metadata,
                    writes: a.writes,
                    deletes: a.deletes,
                    denied: a.denied,
                    first_read: when(a.first_read),
                    last_read: when(a.last_read),
                    last_write: when(a.last_write),
                    unused: a.reads == 0,
                    readers,
                }
            })
            .collect();
        out.sort_by(|x, y| {
            (&x.vault, &x.object_type, &x.object_name).cmp(&(
                &y.vault,
                &y.object_type,
                &y.object_name,
            ))
        });
        // The secret backing each certificate: same vault, same name.
        let secrets: Map<(Option<String>, String), usize> = out
            .iter()
            .enumerate()
            .filter(|(_, o)| o.object_type == "secret")
            .map(|(i, o)| ((o.vault.clone(), o.object_name.clone()), i))
            .collect();
        for i in 0..out.len() {
            if out[i].object_type != "certificate" {
                continue;
            }
            let Some(&si) = secrets.get(&(out[i].vault.clone(), out[i].object_name.clone())) else {
                continue;
            };
            let secret = out[si].clone();
            let c = &mut out[i];
            c.private_key_reads = secret.reads;
            c.reads += secret.reads;
            c.first_read = min_text(c.first_read.take(), secret.first_read);
            c.last_read = max_text(c.last_read.take(), secret.last_read);
            for r in secret.readers {
                match c
                    .readers
                    .iter_mut()
                    .find(|x| (&x.appid, &x.oid, &x.upn) == (&r.appid, &r.oid, &r.upn))
                {
                    Some(x) => {
                        x.reads += r.reads;
                        x.last_read = max_text(x.last_read.take(), r.last_read);
                    }
                    None => c.readers.push(r),
                }
            }
            sort_readers(&mut c.readers);
            c.unused = c.reads == 0;
        }
        out
    }

    /// One row per caller that read, wrote or was denied an object, with
    /// its objects (most reads first); `who` names each caller slot.
    pub fn by_caller(&self, who: &[Who]) -> Vec<CallerObjects> {
        let mut per: Map<usize, Vec<CallerObject>> = Map::default();
        for ((vault, kind, name), a) in &self.objects {
            for (slot, u) in &a.readers {
                per.entry(*slot).or_default().push(CallerObject {
                    vault: vault.as_deref().map(str::to_string),
                    object_type: kind.to_string(),
                    object_name: name.to_string(),
                    reads: u.reads,
                    writes: u.writes,
                    denied: u.denied,
                    last_read: when((u.reads > 0).then_some(u.last_read)),
                });
            }
        }
        for slot in self.lists.keys() {
            per.entry(*slot).or_default();
        }
        // As in `rows`: a read of the secret behind a certificate is a
        // read of the certificate's private key.
        let certificates: std::collections::HashSet<(Option<&str>, &str)> = self
            .objects
            .keys()
            .filter(|(_, k, _)| &**k == "certificate")
            .map(|(v, _, n)| (v.as_deref(), &**n))
            .collect();
        for objects in per.values_mut() {
            let backing: Vec<CallerObject> = objects
                .iter()
                .filter(|o| {
                    o.object_type == "secret"
                        && o.reads > 0
                        && certificates.contains(&(o.vault.as_deref(), o.object_name.as_str()))
                })
                .cloned()
                .collect();
            for b in backing {
                match objects.iter_mut().find(|o| {
                    o.object_type == "certificate"
                        && o.vault == b.vault
                        && o.object_name == b.object_name
                }) {
                    Some(c) => {
                        c.reads += b.reads;
                        c.last_read = max_text(c.last_read.take(), b.last_read);
                    }
                    None => objects.push(CallerObject {
                        object_type: "certificate".into(),
                        writes: 0,
                        denied: 0,
                        ..b
                    }),
                }
            }
        }
        let mut out: Vec<CallerObjects> = per
            .into_iter()
            .map(|(slot, mut objects)| {
                objects.sort_by(|x, y| {
                    y.reads.cmp(&x.reads).then_with(|| {
                        (&x.vault, &x.object_type, &x.object_name).cmp(&(
                            &y.vault,
                            &y.object_type,
                            &y.object_name,
                        ))
                    })
                });
                let w = who.get(slot).cloned().unwrap_or_default();
                CallerObjects {
                    reads: objects.iter().map(|o| o.reads).sum(),
                    lists: self.lists.get(&slot).copied().unwrap_or(0),
                    principal: w,
                    objects,
                }
            })
            .collect();
        out.sort_by(|x, y| {
            y.reads.cmp(&x.reads).then_with(|| {
                (&x.principal.oid, &x.principal.appid, &x.principal.upn).cmp(&(
                    &y.principal.oid,
                    &y.principal.appid,
                    &y.principal.upn,
                ))
            })
        });
        out
    }
}

/// A caller's objects (`kvaudit access --by caller`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallerObjects {
    pub principal: Who,
    /// Reads over all its objects (for ordering; not in the contract).
    #[serde(skip)]
    pub reads: u64,
    /// Successful lists and metadata operations naming no object
    /// (SecretList, KeyList...): not reads of a value.
    pub lists: u64,
    pub objects: Vec<CallerObject>,
}

/// One object as one caller used it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallerObject {
    pub vault: Option<String>,
    pub object_type: String,
    pub object_name: String,
    pub reads: u64,
    pub writes: u64,
    pub denied: u64,
    pub last_read: Option<String>,
}

fn when(t: Option<i64>) -> Option<String> {
    t.and_then(chrono::DateTime::from_timestamp_micros)
        .map(|t| format_time(&t))
}

/// Canonical times compare as text (one format, UTC).
fn min_text(a: Option<String>, b: Option<String>) -> Option<String> {
    a.into_iter().chain(b).min()
}

fn max_text(a: Option<String>, b: Option<String>) -> Option<String> {
    a.into_iter().chain(b).max()
}

fn sort_readers(readers: &mut [Reader]) {
    readers.sort_by(|x, y| {
        y.reads
            .cmp(&x.reads)
            .then_with(|| (&x.oid, &x.appid, &x.upn).cmp(&(&y.oid, &y.appid, &y.upn)))
    });
}

/// Names each slot of `callers` (in slot order) as the catalog knows it.
pub fn who(
    callers: &crate::analyze::callers::CallerFold,
    catalog: &crate::identify::Catalog,
) -> Vec<Who> {
    let ids = callers.identities(catalog);
    who_with(callers, &ids)
}

/// [`who`] with identities already computed.
pub fn who_with(
    callers: &crate::analyze::callers::CallerFold,
    ids: &std::collections::HashMap<crate::identify::CallerKey, crate::identify::Identity>,
) -> Vec<Who> {
    callers
        .keys()
        .map(|k| {
            let key = crate::identify::owned_key(k);
            let id = ids.get(&key).cloned().unwrap_or_default();
            Who {
                appid: key.0,
                oid: key.1,
                upn: key.2,
                kind: id.kind.as_str().to_string(),
                name: id.name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: &str, name: &str, status: u16, secs: i64) -> Event {
        let time = chrono::DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap();
        serde_json::from_value(serde_json::json!({
            "time": format_time(&time),
            "vault": "kv-a",
            "operation": op,
            "object_type": if op.starts_with("Key") { "key" } else { "secret" },
            "object_name": name,
            "status": status,
            "source": "test",
            "source_record": 1,
        }))
        .unwrap()
    }

    #[test]
    fn counts_reads_writes_denials_and_readers_across_parts() {
        let mut a = AccessFold::default();
        a.add(0, &ev("SecretGet", "db", 200, 10));
        a.add(1, &ev("SecretGet", "db", 200, 30));
        a.add(0, &ev("SecretList", "db", 200, 5));
        a.add(1, &ev("SecretGet", "db", 403, 40));
        let mut b = AccessFold::default();
        b.add(0, &ev("SecretGet", "db", 200, 50));
        b.add(0, &ev("SecretSet", "db", 200, 60));
        b.add(0, &ev("KeyDecrypt", "k1", 200, 70));
        b.add(0, &ev("SecretGet", "db", 500, 80));
        // b's slot 0 is a's slot 1.
        a.merge(b, &[1]);
        let who = vec![
            Who {
                oid: Some("o-0".into()),
                kind: "user".into(),
                ..Who::default()
            },
            Who {
                oid: Some("o-1".into()),
                kind: "service_principal".into(),
                ..Who::default()
            },
        ];
        let rows = a.rows(&who);
        assert_eq!(rows.len(), 2);
        let k = &rows[0];
        assert_eq!((k.object_type.as_str(), k.reads), ("key", 1));
        let db = &rows[1];
        assert_eq!((db.reads, db.metadata, db.writes, db.denied), (3, 1, 1, 1));
        assert_eq!(db.readers.len(), 2);
        assert_eq!(db.readers[0].oid.as_deref(), Some("o-1"));
        assert_eq!(db.readers[0].reads, 2);
        assert_eq!(db.readers[1].reads, 1);
        assert_eq!(
            db.first_read.as_deref(),
            Some(&*format_time(&ev("", "", 0, 10).time))
        );
        assert_eq!(
            db.last_read.as_deref(),
            Some(&*format_time(&ev("", "", 0, 50).time))
        );
        assert_eq!(
            db.last_write.as_deref(),
            Some(&*format_time(&ev("", "", 0, 60).time))
        );
    }
}
