//! The canonical event: the one row shape every input becomes. Field names are
//! a public contract (`kvaudit events --format jsonl`), see
//! `docs/canonical-events.md`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// Interned, immutable text: most columns repeat a handful of values
/// (vault, operation, caller ids), so rows share one allocation per value.
pub type Text = Option<Arc<str>>;

/// A caller (appid, oid, upn) as the shared text of its events: the key of
/// the per-event folds (cheap to clone and hash).
pub type CallerId = (Text, Text, Text);

/// The caller of `e`.
pub fn caller_id(e: &Event) -> CallerId {
    (
        e.caller_appid.clone(),
        e.caller_oid.clone(),
        e.caller_upn.clone(),
    )
}

/// What differs between events alike in every other field (see
/// [`Event::alike`]): when, where in the input (the file too: an archive
/// tree's blobs hold the same callers), and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub time: DateTime<Utc>,
    pub order: u64,
    pub source: Arc<str>,
    pub record: u64,
    pub duration_ms: Option<i64>,
}

impl Occurrence {
    pub fn of(e: &Event, order: u64) -> Self {
        Occurrence {
            time: e.time,
            order,
            source: e.source.clone(),
            record: e.source_record,
            duration_ms: e.duration_ms,
        }
    }

    /// Makes `e` this occurrence of itself.
    pub fn apply(&self, e: &mut Event) {
        e.time = self.time;
        e.source = self.source.clone();
        e.source_record = self.record;
        e.duration_ms = self.duration_ms;
    }
}

impl Event {
    /// Every optional text of the event: those of [`COLUMNS`] after
    /// `time` in their order (operation and source apart), then
    /// `caller_scp` and `request_uri`.
    pub fn texts(&self) -> [&Text; 19] {
        [
            &self.vault,
            &self.resource_id,
            &self.object_type,
            &self.object_name,
            &self.result_signature,
            &self.result_description,
            &self.caller_appid,
            &self.caller_oid,
            &self.caller_upn,
            &self.caller_idtyp,
            &self.caller_appidacr,
            &self.caller_mirid,
            &self.caller_tenant,
            &self.caller_ip,
            &self.client_info,
            &self.correlation_id,
            &self.applied_assignment_id,
            &self.caller_scp,
            &self.request_uri,
        ]
    }

    /// Whether `self` and `o` are alike but for their [`Occurrence`]s:
    /// each text the same allocation (so the same text; equal texts from
    /// two allocations count as different), every other field equal.
    pub fn alike(&self, o: &Event) -> bool {
        fn same(a: &Text, b: &Text) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
        }
        Arc::ptr_eq(&self.operation, &o.operation)
            && self.status == o.status
            && self.rbac_authorized == o.rbac_authorized
            && self.access_policy_match == o.access_policy_match
            && self.vault_kind == o.vault_kind
            && self.texts().iter().zip(o.texts()).all(|(a, b)| same(a, b))
    }

    /// A hash of what [`Event::alike`] compares (the texts' addresses).
    pub fn alike_hash(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = crate::collections::State::default().build_hasher();
        let addr = |t: &Text| {
            t.as_ref()
                .map_or(0, |a| Arc::as_ptr(a) as *const u8 as usize)
        };
        for t in [
            &self.vault,
            &self.object_name,
            &self.caller_appid,
            &self.caller_oid,
            &self.caller_upn,
            &self.caller_ip,
            &self.client_info,
        ] {
            h.write_usize(addr(t));
        }
        h.write_usize(Arc::as_ptr(&self.operation) as *const u8 as usize);
        h.write_u16(self.status.unwrap_or(0));
        h.finish()
    }
}

/// The application id of AzureDatabricks (Microsoft's first-party app):
/// its reads of a Key Vault-backed secret scope are matched one by one.
pub const DATABRICKS_APPID: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// The key and value in the metadata of a Parquet file that say kvaudit
/// wrote its events (`events --format parquet`): the object, vault and
/// vault kind columns are then those it derived from the URIs and the
/// resource id, which readers may skip.
pub const PARQUET_KEY: &str = "kvaudit";
pub const PARQUET_VALUE: &str = "canonical-events";

/// The canonical column names, in output order.
pub const COLUMNS: &[&str] = &[
    "time",
    "vault",
    "resource_id",
    "operation",
    "object_type",
    "object_name",
    "status",
    "result_signature",
    "result_description",
    "caller_appid",
    "caller_oid",
    "caller_upn",
    "caller_idtyp",
    "caller_appidacr",
    "caller_mirid",
    "caller_tenant",
    "caller_ip",
    "client_info",
    "correlation_id",
    "rbac_authorized",
    "access_policy_match",
    "applied_assignment_id",
    "duration_ms",
    "source",
    "source_record",
    "caller_scp",
    "request_uri",
    "vault_kind",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(serialize_with = "ser_time", deserialize_with = "de_time")]
    pub time: DateTime<Utc>,
    pub vault: Text,
    pub resource_id: Text,
    pub operation: Arc<str>,
    pub object_type: Text,
    pub object_name: Text,
    /// The HTTP status; null for control-plane records that log none
    /// (a `VaultPut` adding a network rule).
    pub status: Option<u16>,
    pub result_signature: Text,
    pub result_description: Text,
    pub caller_appid: Text,
    pub caller_oid: Text,
    pub caller_upn: Text,
    pub caller_idtyp: Text,
    pub caller_appidacr: Text,
    pub caller_mirid: Text,
    pub caller_tenant: Text,
    pub caller_ip: Text,
    pub client_info: Text,
    pub correlation_id: Text,
    pub rbac_authorized: Option<bool>,
    pub access_policy_match: Option<bool>,
    pub applied_assignment_id: Text,
    pub duration_ms: Option<i64>,
    pub source: Arc<str>,
    pub source_record: u64,
    /// Extra column: delegated scopes (`scp`), present only on user tokens.
    pub caller_scp: Text,
    /// Extra column: the request URI as logged.
    pub request_uri: Text,
    /// `vault` or `managed_hsm` (Managed HSM logs the same category for
    /// `Microsoft.KeyVault/managedHSMs`); null when no vault is known.
    #[serde(default)]
    pub vault_kind: Option<VaultKind>,
}

/// What kind of vault an event is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaultKind {
    Vault,
    ManagedHsm,
}

impl VaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VaultKind::Vault => "vault",
            VaultKind::ManagedHsm => "managed_hsm",
        }
    }
}

/// RFC 3339 UTC with microseconds, e.g. `2024-04-02T08:20:49.268160Z`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

impl Event {
    /// The key that identifies a caller: object id, else application id.
    pub fn principal_key(&self) -> Option<&str> {
        self.caller_oid.as_deref().or(self.caller_appid.as_deref())
    }

    /// Whether the event is of a Managed HSM.
    pub fn is_managed_hsm(&self) -> bool {
        self.vault_kind == Some(VaultKind::ManagedHsm)
    }

    /// Whether the request succeeded: a 2xx status, or no status at all
    /// (control-plane records log none; they are never denials).
    pub fn succeeded(&self) -> bool {
        self.status.is_none_or(|s| (200..300).contains(&s))
    }

    /// The values of this event as CSV cells, in [`COLUMNS`] order.
    pub fn csv_cells(&self) -> Vec<String> {
        let t = |v: &Text| v.as_deref().unwrap_or("").to_string();
        let b = |v: Option<bool>| v.map(|b| b.to_string()).unwrap_or_default();
        vec![
            format_time(&self.time),
            t(&self.vault),
            t(&self.resource_id),
            self.operation.to_string(),
            t(&self.object_type),
            t(&self.object_name),
            self.status.map(|s| s.to_string()).unwrap_or_default(),
            t(&self.result_signature),
            t(&self.result_description),
            t(&self.caller_appid),
            t(&self.caller_oid),
            t(&self.caller_upn),
            t(&self.caller_idtyp),
            t(&self.caller_appidacr),
            t(&self.caller_mirid),
            t(&self.caller_tenant),
            t(&self.caller_ip),
            t(&self.client_info),
            t(&self.correlation_id),
            b(self.rbac_authorized),
            b(self.access_policy_match),
            t(&self.applied_assignment_id),
            self.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            self.source.to_string(),
            self.source_record.to_string(),
            t(&self.caller_scp),
            t(&self.request_uri),
            self.vault_kind
                .map(|k| k.as_str().to_string())
                .unwrap_or_default(),
        ]
    }
}
