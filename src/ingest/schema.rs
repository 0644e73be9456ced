//! Maps the column names of flat exports (AzureDiagnostics, AZKVAuditLogs,
//! in CSV or JSON) and the claim names of raw records onto the logical
//! fields of [`RawRow`]. Knowledge of column spellings lives here only.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The logical fields a reader extracts from a row, before normalisation.
/// Each reader maps its own column names onto these.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RawRow<'a> {
    pub time: Option<Cow<'a, str>>,
    pub resource: Option<Cow<'a, str>>,
    pub resource_id: Option<Cow<'a, str>>,
    pub resource_provider: Option<Cow<'a, str>>,
    /// AzureDiagnostics `ResourceType`: `VAULTS` or `MANAGEDHSMS`.
    pub resource_type: Option<Cow<'a, str>>,
    /// The Log Analytics table a row came from (`Type`), when exported.
    pub table: Option<Cow<'a, str>>,
    pub category: Option<Cow<'a, str>>,
    pub operation: Option<Cow<'a, str>>,
    pub status: Option<Cow<'a, str>>,
    pub result_signature: Option<Cow<'a, str>>,
    pub result_description: Option<Cow<'a, str>>,
    pub appid: Option<Cow<'a, str>>,
    pub oid: Option<Cow<'a, str>>,
    pub upn: Option<Cow<'a, str>>,
    pub unique_name: Option<Cow<'a, str>>,
    pub idtyp: Option<Cow<'a, str>>,
    pub appidacr: Option<Cow<'a, str>>,
    pub mirid: Option<Cow<'a, str>>,
    pub scp: Option<Cow<'a, str>>,
    pub caller_ip: Option<Cow<'a, str>>,
    pub client_info: Option<Cow<'a, str>>,
    pub correlation_id: Option<Cow<'a, str>>,
    pub rbac_authorized: Option<Cow<'a, str>>,
    pub access_policy_match: Option<Cow<'a, str>>,
    pub applied_assignment_id: Option<Cow<'a, str>>,
    pub duration_ms: Option<Cow<'a, str>>,
    pub request_uri: Option<Cow<'a, str>>,
    pub object_uri: Option<Cow<'a, str>>,
    /// kvaudit's own `object_type` and `object_name` columns: the object
    /// when no URI names it.
    pub object_type: Option<Cow<'a, str>>,
    pub object_name: Option<Cow<'a, str>>,
    /// The time already parsed (a typed timestamp column), in microseconds
    /// since 1970 UTC: used when `time` holds no text.
    pub time_micros: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Time,
    Resource,
    ResourceId,
    Provider,
    ResourceType,
    Table,
    Category,
    Operation,
    Status,
    Signature,
    Description,
    Appid,
    Oid,
    Upn,
    UniqueName,
    Idtyp,
    Appidacr,
    Mirid,
    Scp,
    Ip,
    Client,
    Correlation,
    Rbac,
    AccessPolicy,
    Assignment,
    Duration,
    RequestUri,
    ObjectUri,
    ObjectType,
    ObjectName,
    /// AZKVAuditLogs `Identity`: the raw identity object as JSON text.
    IdentityJson,
    /// AzureDiagnostics overflow column: JSON text of further columns.
    AdditionalFields,
}

impl<'a> RawRow<'a> {
    pub fn set(&mut self, f: Field, v: impl Into<Cow<'a, str>>) {
        let v = v.into();
        let slot = match f {
            Field::Time => &mut self.time,
            Field::Resource => &mut self.resource,
            Field::ResourceId => &mut self.resource_id,
            Field::Provider => &mut self.resource_provider,
            Field::Table => &mut self.table,
            Field::ResourceType => &mut self.resource_type,
            Field::Category => &mut self.category,
            Field::Operation => &mut self.operation,
            Field::Status => &mut self.status,
            Field::Signature => &mut self.result_signature,
            Field::Description => &mut self.result_description,
            Field::Appid => &mut self.appid,
            Field::Oid => &mut self.oid,
            Field::Upn => &mut self.upn,
            Field::UniqueName => &mut self.unique_name,
            Field::Idtyp => &mut self.idtyp,
            Field::Appidacr => &mut self.appidacr,
            Field::Mirid => &mut self.mirid,
            Field::Scp => &mut self.scp,
            Field::Ip => &mut self.caller_ip,
            Field::Client => &mut self.client_info,
            Field::Correlation => &mut self.correlation_id,
            Field::Rbac => &mut self.rbac_authorized,
            Field::AccessPolicy => &mut self.access_policy_match,
            Field::Assignment => &mut self.applied_assignment_id,
            Field::Duration => &mut self.duration_ms,
            Field::RequestUri => &mut self.request_uri,
            Field::ObjectUri => &mut self.object_uri,
            Field::ObjectType => &mut self.object_type,
            Field::ObjectName => &mut self.object_name,
            Field::IdentityJson | Field::AdditionalFields => return,
        };
        if slot.is_none() && !crate::parse::trim(&v).is_empty() {
            *slot = Some(v);
        }
    }
}

/// Token claims by logical field, in priority order: short name first, then
/// the URI spelling of control-plane records, then that URI flattened as
/// Managed HSM and AzureDiagnostics write it (`http_schemas_..._upn`).
pub const CLAIMS: &[(Field, &[&str])] = &[
    (Field::Appid, &["appid", "azp"]),
    (
        Field::Oid,
        &[
            "oid",
            "http://schemas.microsoft.com/identity/claims/objectidentifier",
            "http_schemas_microsoft_com_identity_claims_objectidentifier",
        ],
    ),
    (
        Field::Upn,
        &[
            "upn",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            "http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn",
        ],
    ),
    (Field::UniqueName, &["unique_name"]),
    (Field::Idtyp, &["idtyp"]),
    (Field::Appidacr, &["appidacr", "azpacr"]),
    (Field::Mirid, &["xms_mirid"]),
    (
        Field::Scp,
        &[
            "scp",
            "http://schemas.microsoft.com/identity/claims/scope",
            "http_schemas_microsoft_com_identity_claims_scope",
        ],
    ),
];

/// Plain columns of AzureDiagnostics and AZKVAuditLogs (lower-cased), in
/// priority order per field.
const COLUMNS: &[(Field, &[&str])] = &[
    (
        Field::Time,
        &["timegenerated", "timegenerated [utc]", "time", "timestamp"],
    ),
    // kvaudit's own canonical columns (`events --format parquet|csv`)
    // come after each field's Azure names.
    (Field::Resource, &["resource", "vault"]),
    (
        Field::ResourceId,
        &["resourceid", "_resourceid", "resource_id"],
    ),
    (Field::Provider, &["resourceprovider"]),
    (Field::Table, &["type"]),
    (Field::ResourceType, &["resourcetype", "vault_kind"]),
    (Field::Category, &["category"]),
    (Field::Operation, &["operationname", "operation"]),
    (
        Field::Status,
        &["httpstatuscode_d", "httpstatuscode", "status"],
    ),
    (Field::Signature, &["resultsignature", "result_signature"]),
    (
        Field::Description,
        &["resultdescription", "result_description"],
    ),
    (Field::Ip, &["calleripaddress", "caller_ip"]),
    (
        Field::Client,
        &["clientinfo_s", "clientinfo", "client_info"],
    ),
    (Field::Correlation, &["correlationid", "correlation_id"]),
    (
        Field::Rbac,
        &["isrbacauthorized_b", "isrbacauthorized", "rbac_authorized"],
    ),
    (
        Field::AccessPolicy,
        &[
            "isaccesspolicymatch_b",
            "isaccesspolicymatch",
            "access_policy_match",
        ],
    ),
    (
        Field::Assignment,
        &[
            "appliedassignmentid_g",
            "appliedassignmentid_s",
            "appliedassignmentid",
            "applied_assignment_id",
        ],
    ),
    (Field::Duration, &["durationms", "duration_ms"]),
    (
        Field::RequestUri,
        &["requesturi_s", "requesturi", "request_uri"],
    ),
    (Field::ObjectUri, &["id_s", "id"]),
    (Field::ObjectType, &["object_type"]),
    (Field::ObjectName, &["object_name"]),
    (Field::IdentityJson, &["identity"]),
    (Field::AdditionalFields, &["additionalfields"]),
];

/// `http://schemas.microsoft.com/x` → `http_schemas_microsoft_com_x`: how
/// AzureDiagnostics flattens claim names.
pub fn flatten_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut last_us = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            last_us = false;
        } else if !last_us {
            out.push('_');
            last_us = true;
        }
    }
    out
}

/// Lower-cased column name → (field, priority).
fn alias_table() -> &'static HashMap<String, (Field, usize)> {
    static T: OnceLock<HashMap<String, (Field, usize)>> = OnceLock::new();
    T.get_or_init(|| {
        let mut m = HashMap::new();
        for (f, names) in COLUMNS {
            for (p, n) in names.iter().enumerate() {
                m.insert(n.to_string(), (*f, p));
            }
        }
        // Canonical claim columns (`caller_appid`, ...), after the others.
        for (f, name) in [
            (Field::Appid, "caller_appid"),
            (Field::Oid, "caller_oid"),
            (Field::Upn, "caller_upn"),
            (Field::Idtyp, "caller_idtyp"),
            (Field::Appidacr, "caller_appidacr"),
            (Field::Mirid, "caller_mirid"),
            (Field::Scp, "caller_scp"),
        ] {
            m.insert(name.to_string(), (f, 50));
        }
        for (f, names) in CLAIMS {
            for (p, n) in names.iter().enumerate() {
                for suffix in ["g", "s", "d", "b"] {
                    let col = format!("identity_claim_{}_{}", flatten_name(n), suffix);
                    m.entry(col).or_insert((*f, p));
                }
            }
        }
        m
    })
}

/// Which column indices feed which field, resolved once per header.
#[derive(Debug, Clone, Default)]
pub struct FlatSchema {
    /// (field, column index), sorted by field priority.
    pub slots: Vec<(Field, usize)>,
    /// The columns' names by index, for messages, set by the readers of
    /// tables whose cells [`FlatSchema::row`] bounds (Parquet, the Log
    /// Analytics API's tables); empty otherwise.
    pub names: Vec<String>,
}

impl FlatSchema {
    pub fn resolve<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let table = alias_table();
        let mut found: Vec<(usize, Field, usize)> = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            let key = name
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase();
            if let Some((f, prio)) = table.get(&key) {
                found.push((*prio, *f, i));
            }
        }
        found.sort_by_key(|(p, _, i)| (*p, *i));
        FlatSchema {
            slots: found.into_iter().map(|(_, f, i)| (f, i)).collect(),
            names: Vec::new(),
        }
    }

    /// This schema with only the fields `keep` keeps.
    pub fn only(&self, keep: impl Fn(Field) -> bool) -> FlatSchema {
        FlatSchema {
            slots: self
                .slots
                .iter()
                .copied()
                .filter(|(f, _)| keep(*f))
                .collect(),
            names: self.names.clone(),
        }
    }

    pub fn has(&self, f: Field) -> bool {
        self.slots.iter().any(|(g, _)| *g == f)
    }

    /// Column indices that feed any field (the CSV projection).
    pub fn columns(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.slots.iter().map(|(_, i)| *i).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Builds a row from cells, `cell(i)` giving column i's text.
    pub fn row<'c>(
        &self,
        mut cell: impl FnMut(usize) -> Option<&'c str>,
    ) -> Result<RawRow<'c>, String> {
        let mut row = RawRow::default();
        let mut identity: Option<&str> = None;
        let mut additional: Option<&str> = None;
        for (f, i) in &self.slots {
            let Some(v) = cell(*i) else { continue };
            // A columnar table's cells come whole (the text readers bound
            // them as they split).
            if v.len() > MAX_FIELD_BYTES {
                let key = self
                    .names
                    .get(*i)
                    .cloned()
                    .unwrap_or_else(|| format!("{f:?}"));
                return Err(too_long(&key, v.len()).unwrap_or_default());
            }
            match f {
                Field::IdentityJson => identity = identity.or(Some(v)),
                Field::AdditionalFields => additional = additional.or(Some(v)),
                _ => row.set(*f, v),
            }
        }
        if let Some(text) = identity.filter(|t| !t.trim().is_empty()) {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| format!("expected JSON text in the Identity column: {e}"))?;
            // Anything but an object (or null) names no caller: the column
            // is not what its name says, and every row would read as
            // unauthenticated.
            if !matches!(v, Value::Object(_) | Value::Null) {
                let found = match v {
                    Value::Array(_) => "a list",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    _ => "a boolean",
                };
                return Err(format!(
                    "expected a JSON object (the caller's claims) in the Identity column, found {found}"
                ));
            }
            claims_from_identity(&mut row, &v);
        }
        if let Some(text) = additional.filter(|t| t.trim().starts_with('{')) {
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) {
                fill_from_map(&mut row, &m).map_err(|e| format!("AdditionalFields: {e}"))?;
            }
        }
        Ok(row)
    }
}

/// A JSON scalar as text; objects and arrays as JSON text; null as None.
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

impl Field {
    /// Fields whose value may be a JSON number or boolean; every other field
    /// is text, and a number there means the file is not what it claims.
    fn accepts_scalar(self) -> bool {
        matches!(
            self,
            Field::Status | Field::Duration | Field::Rbac | Field::AccessPolicy
        )
    }
}

/// The longest value kvaudit accepts in one field. Real Key Vault values
/// stay under 64 KiB (descriptions are the longest); megabytes in one cell
/// mean a corrupt or hand-edited export.
pub const MAX_FIELD_BYTES: usize = 1 << 20;

/// Why a value of `len` bytes in `key` is refused, if it is.
pub fn too_long(key: &str, len: usize) -> Option<String> {
    (len > MAX_FIELD_BYTES).then(|| {
        format!(
            "{key}: a value of {len} bytes; expected at most {MAX_FIELD_BYTES} bytes per field (a corrupt export?)"
        )
    })
}

/// A JSON value as the text of `field`, or why it cannot be (a number,
/// boolean, array or object where a string is expected).
pub fn checked_text(f: Field, key: &str, v: &Value) -> Result<Option<String>, String> {
    let found = match v {
        Value::Null => return Ok(None),
        Value::String(s) => {
            return match too_long(key, s.len()) {
                Some(msg) => Err(msg),
                None => Ok(Some(s.clone())),
            }
        }
        Value::Number(_) | Value::Bool(_) if f.accepts_scalar() => return Ok(value_text(v)),
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let mut shown = v.to_string();
    if shown.len() > 40 {
        let cut = (0..=40)
            .rev()
            .find(|i| shown.is_char_boundary(*i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push_str("...");
    }
    Err(format!("{key}: expected a string, found {found} ({shown})"))
}

/// Fills a row from a flat JSON object (one exported row).
pub fn fill_from_map(row: &mut RawRow<'_>, m: &Map<String, Value>) -> Result<(), String> {
    let keys: Vec<&str> = m.keys().map(String::as_str).collect();
    let schema = FlatSchema::resolve(keys.iter().copied());
    let values: Vec<&Value> = m.values().collect();
    for (f, i) in &schema.slots {
        let v = values[*i];
        match f {
            Field::IdentityJson => {
                if let Some(id) = identity_value(v)? {
                    claims_from_identity(row, &id);
                }
            }
            Field::AdditionalFields => {
                if let Some(Ok(Value::Object(inner))) =
                    v.as_str().map(serde_json::from_str::<Value>)
                {
                    fill_from_map(row, &inner)?;
                }
            }
            _ => {
                if let Some(t) = checked_text(*f, keys[*i], v)? {
                    row.set(*f, t);
                }
            }
        }
    }
    Ok(())
}

/// Reads claims from an `identity` object: `{"claim": {...}}`, the claims
/// at its top, or Managed HSM's nested form (`{"http_schemas_microsoft_com_
/// identity": {"claims": {"objectidentifier": ...}}}`), which is flattened
/// into the third spelling of [`CLAIMS`].
pub fn claims_from_identity(row: &mut RawRow<'_>, identity: &Value) {
    let claim = identity.get("claim").unwrap_or(identity);
    let Some(m) = claim.as_object() else { return };
    let mut flat = Map::new();
    flatten_into(m, "", &mut flat, 0);
    for (f, names) in CLAIMS {
        for n in *names {
            if let Some(t) = m.get(*n).or_else(|| flat.get(*n)).and_then(value_text) {
                row.set(*f, t);
            }
        }
    }
}

/// Nested objects' keys joined with `_` (depth-limited).
fn flatten_into(m: &Map<String, Value>, prefix: &str, out: &mut Map<String, Value>, depth: u8) {
    for (k, v) in m {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}_{k}")
        };
        match v {
            Value::Object(inner) if depth < 4 => flatten_into(inner, &key, out, depth + 1),
            other => {
                out.insert(key, other.clone());
            }
        }
    }
}

/// A record's `identity`: an object, or JSON text of one (Managed HSM,
/// some exports). Unparseable text is a malformed record, never a
/// missing identity.
pub fn identity_value(v: &Value) -> Result<Option<Value>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ Value::Object(_)) => Ok(Some(inner)),
            Ok(_) | Err(_) => Err(format!(
                "identity: expected a JSON object or the JSON text of one, found {:?}",
                crate::parse::truncate(s)
            )),
        },
        Value::Object(_) => Ok(Some(v.clone())),
        _ => Err("identity: expected a JSON object".into()),
    }
}

/// A category as text: a string, or the `value` of Activity Log's
/// `{"value": ..., "localizedValue": ...}`.
fn category_text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("value").and_then(Value::as_str),
        _ => None,
    }
}

/// Whether a raw record is of another category than `AuditEvent` (an
/// Activity Log or policy evaluation record), or its category is not
/// text: it is skipped whatever its other fields hold.
pub fn other_category(m: &Map<String, Value>) -> bool {
    m.get("category").is_some_and(|c| match category_text(c) {
        Some(text) => {
            crate::parse::clean(Some(text)).is_some_and(|t| !t.eq_ignore_ascii_case("AuditEvent"))
        }
        None => !c.is_null(),
    })
}

/// Fills a row from a raw diagnostic-settings record.
pub fn raw_record(m: &Map<String, Value>) -> Result<RawRow<'static>, String> {
    let mut row = RawRow::default();
    if other_category(m) {
        let c = m.get("category").and_then(category_text);
        row.set(Field::Category, c.unwrap_or("(not a category)").to_string());
        return Ok(row);
    }
    let top: &[(&str, Field)] = &[
        ("time", Field::Time),
        ("resourceId", Field::ResourceId),
        ("category", Field::Category),
        ("operationName", Field::Operation),
        ("resultSignature", Field::Signature),
        ("resultDescription", Field::Description),
        ("callerIpAddress", Field::Ip),
        ("correlationId", Field::Correlation),
        ("durationMs", Field::Duration),
    ];
    for (k, f) in top {
        if let Some(v) = m.get(*k) {
            if let Some(t) = checked_text(*f, k, v)? {
                row.set(*f, t);
            }
        }
    }
    if let Some(p) = m.get("properties").and_then(Value::as_object) {
        let props: &[(&str, Field)] = &[
            ("httpStatusCode", Field::Status),
            ("clientInfo", Field::Client),
            ("isRbacAuthorized", Field::Rbac),
            ("isAccessPolicyMatch", Field::AccessPolicy),
            ("appliedAssignmentId", Field::Assignment),
            ("requestUri", Field::RequestUri),
            ("id", Field::ObjectUri),
        ];
        for (k, f) in props {
            if let Some(v) = p.get(*k) {
                if let Some(t) = checked_text(*f, &format!("properties.{k}"), v)? {
                    row.set(*f, t);
                }
            }
        }
    }
    // Managed HSM writes these at the top, not under `properties`.
    let hsm_top: &[(&str, Field)] = &[
        ("httpStatusCode", Field::Status),
        ("clientInfo", Field::Client),
        ("requestUri", Field::RequestUri),
    ];
    for (k, f) in hsm_top {
        if let Some(v) = m.get(*k) {
            if let Some(t) = checked_text(*f, k, v)? {
                row.set(*f, t);
            }
        }
    }
    if let Some(id) = m.get("identity") {
        if let Some(id) = identity_value(id)? {
            claims_from_identity(&mut row, &id);
        }
    }
    Ok(row)
}

/// A JSON scalar of a field that may be a string, number or boolean (read
/// by one visitor: an untagged enum would buffer the value and build an
/// error for every number).
#[cfg_attr(test, derive(Debug, PartialEq))]
pub enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num(serde_json::Number),
    Bool(bool),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Num(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Num(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar<'a>, E> {
                serde_json::Number::from_f64(v)
                    .map(Scalar::Num)
                    .ok_or_else(|| E::custom("expected a finite number"))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Slots of [`CLAIMS`]: claim `j` of field `i` is slot `i * CLAIM_NAMES + j`.
const CLAIM_NAMES: usize = 3;

/// The claims of a raw record's `identity` (`{"claim": {...}}`, or the
/// claims at its top), borrowed from the line: the fast path's equivalent
/// of [`claims_from_identity`] on a parsed `Value`.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub struct FastIdentity<'a> {
    /// Per slot: the claim was present, with its text (None for null).
    pub(super) slots: Slots<'a>,
}

impl<'a> FastIdentity<'a> {
    fn apply(self, row: &mut RawRow<'a>) {
        let mut slots = self.slots.into_iter();
        for (f, names) in CLAIMS {
            for j in 0..CLAIM_NAMES {
                let slot = slots.next().flatten();
                if j < names.len() {
                    if let Some(Some(t)) = slot {
                        row.set(*f, t);
                    }
                }
            }
        }
    }
}

/// Which slot a key names, if any.
pub(super) fn claim_slot(key: &str) -> Option<usize> {
    CLAIMS.iter().enumerate().find_map(|(i, (_, names))| {
        names
            .iter()
            .position(|n| *n == key)
            .map(|j| i * CLAIM_NAMES + j)
    })
}

/// A key of `identity` or of its claims.
enum Key {
    Claim,
    Slot(usize),
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(if v == "claim" {
                    Key::Claim
                } else {
                    claim_slot(v).map_or(Key::Other, Key::Slot)
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// A claim's text, as [`value_text`] gives it.
struct ClaimText<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for ClaimText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Strings, null and booleans directly; anything else through Value.
        match Scalar::deserialize(d) {
            Ok(Scalar::Str(s)) => Ok(ClaimText(Some(s))),
            Ok(Scalar::Num(n)) => Ok(ClaimText(Some(Cow::Owned(n.to_string())))),
            Ok(Scalar::Bool(b)) => Ok(ClaimText(Some(Cow::Borrowed(if b {
                "true"
            } else {
                "false"
            })))),
            Err(e) => Err(e),
        }
    }
}

/// Per slot of [`CLAIMS`]: the claim was present, with its text.
/// Boxed: one allocation per record, where moving the array through the
/// parser's layers copied hundreds of bytes several times.
pub(super) type Slots<'a> = Box<[Option<Option<Cow<'a, str>>>; SLOTS]>;

/// Every (field, spelling) of [`CLAIMS`].
pub(super) const SLOTS: usize = CLAIMS.len() * CLAIM_NAMES;

/// Claims read from a map, last of duplicate keys winning (as in `Value`).
fn read_claims<'de, A: serde::de::MapAccess<'de>>(
    mut map: A,
    mut on_claim: impl FnMut(&mut A) -> Result<(), A::Error>,
) -> Result<Slots<'de>, A::Error> {
    let mut slots: Slots<'de> = Box::new(std::array::from_fn(|_| None));
    while let Some(k) = map.next_key::<Key>()? {
        match k {
            Key::Slot(i) => {
                slots[i] = Some(map.next_value::<Option<ClaimText>>()?.and_then(|t| t.0));
            }
            Key::Claim => on_claim(&mut map)?,
            Key::Other => {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
    }
    Ok(slots)
}

/// The `claim` object (its own keys named `claim` are ordinary keys).
struct ClaimMap<'a>(Slots<'a>);

impl<'de> serde::Deserialize<'de> for ClaimMap<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ClaimMap<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of claims")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ClaimMap<'de>, A::Error> {
                read_claims(map, |m| m.next_value::<serde::de::IgnoredAny>().map(|_| ()))
                    .map(ClaimMap)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for FastIdentity<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = FastIdentity<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an identity object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<FastIdentity<'a>, A::Error> {
                let mut claim: Option<ClaimMap<'de>> = None;
                let top = read_claims(map, |m| {
                    claim = Some(m.next_value::<ClaimMap>()?);
                    Ok(())
                })?;
                Ok(FastIdentity {
                    slots: claim.map_or(top, |c| c.0),
                })
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<'a> Scalar<'a> {
    fn text(self) -> Cow<'a, str> {
        match self {
            Scalar::Str(s) => s,
            // An HTTP status (every raw record has one) or a short
            // duration: shared text rather than a string per record.
            Scalar::Num(n) => match n.as_u64().and_then(small_number) {
                Some(t) => Cow::Borrowed(t),
                None => Cow::Owned(n.to_string()),
            },
            Scalar::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        }
    }
}

/// The decimal text of `n` below 1000, written once.
fn small_number(n: u64) -> Option<&'static str> {
    static TEXTS: std::sync::OnceLock<Box<[String]>> = std::sync::OnceLock::new();
    let texts = TEXTS.get_or_init(|| (0..1000).map(|i: u32| i.to_string()).collect());
    texts.get(usize::try_from(n).ok()?).map(String::as_str)
}

/// A text field of the fast path, borrowed from the line when it has no
/// escapes: serde's own `Option<Cow<str>>` copies every value into a new
/// string, even with `#[serde(borrow)]`. Null is None; anything but a
/// string is an error, as before.
fn borrowed_text<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct V<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
        type Value = Option<Cow<'a, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

/// `properties` as an object or null only: serde's derived reader of a
/// struct also takes an array (its fields in order), which the general
/// path, and so every other line, reads as no properties at all.
fn props_object<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<FastProps<'a>>, D::Error> {
    struct V<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
        type Value = Option<FastProps<'a>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            use serde::Deserialize;
            FastProps::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

#[derive(serde::Deserialize, Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(rename_all = "camelCase")]
pub struct FastProps<'a> {
    #[serde(borrow, default)]
    pub(super) http_status_code: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) client_info: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) is_rbac_authorized: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub(super) is_access_policy_match: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) applied_assignment_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) request_uri: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) id: Option<Cow<'a, str>>,
}

/// A raw diagnostic record parsed straight into borrowed fields (no
/// `serde_json::Value` per field): the fast path for large JSON Lines files.
/// Anything it cannot take (a number where text is expected, a duplicate
/// key) goes through [`raw_record`], which explains the problem.
#[derive(serde::Deserialize, Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(rename_all = "camelCase")]
pub struct FastRaw<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) time: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) resource_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) category: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) operation_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) result_signature: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) result_description: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) caller_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) correlation_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) duration_ms: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "props_object")]
    pub(super) properties: Option<FastProps<'a>>,
    /// Managed HSM: at the top, not under `properties`.
    #[serde(borrow, default)]
    pub(super) http_status_code: Option<Scalar<'a>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) client_info: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed_text")]
    pub(super) request_uri: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) identity: Option<FastIdentity<'a>>,
}

impl<'a> FastRaw<'a> {
    /// serde's reading of a line (trimmed) that is an object: its derived
    /// reader of a struct also takes an array, which the general path
    /// refuses as not an object.
    pub fn of_line(line: &'a [u8]) -> Option<FastRaw<'a>> {
        if line.first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(line).ok()
    }

    /// [`FastRaw::of_line`] of text already checked for UTF-8.
    pub fn of_text(line: &'a str) -> Option<FastRaw<'a>> {
        if !line.starts_with('{') {
            return None;
        }
        serde_json::from_str(line).ok()
    }

    /// The row, when this is a raw record whose fields all fit (None: use
    /// the general path).
    pub fn into_row(self) -> Option<RawRow<'a>> {
        let raw =
            self.operation_name.is_some() || (self.properties.is_some() && self.time.is_some());
        if !raw {
            return None;
        }
        // A value: None when blank (a later spelling may give it), an
        // error past the limit (the general path explains it).
        fn take(v: Option<Cow<'_, str>>) -> Option<Option<Cow<'_, str>>> {
            match v {
                Some(v) if v.len() > MAX_FIELD_BYTES => None,
                Some(v) if crate::parse::trim(&v).is_empty() => Some(None),
                v => Some(v),
            }
        }
        // Each field straight into its place: the top-level fields, then
        // those of `properties` (no field is given by both).
        let p = self.properties;
        let (status, client, rbac, policy, assignment, uri, id) = match p {
            Some(p) => (
                p.http_status_code.map(Scalar::text),
                p.client_info,
                p.is_rbac_authorized.map(Scalar::text),
                p.is_access_policy_match.map(Scalar::text),
                p.applied_assignment_id,
                p.request_uri,
                p.id,
            ),
            None => Default::default(),
        };
        let mut row = RawRow {
            time: take(self.time)?,
            resource_id: take(self.resource_id)?,
            category: take(self.category)?,
            operation: take(self.operation_name)?,
            result_signature: take(self.result_signature)?,
            result_description: take(self.result_description)?,
            caller_ip: take(self.caller_ip_address)?,
            correlation_id: take(self.correlation_id)?,
            duration_ms: take(self.duration_ms.map(Scalar::text))?,
            status: take(status)?,
            client_info: take(client)?,
            rbac_authorized: take(rbac)?,
            access_policy_match: take(policy)?,
            applied_assignment_id: take(assignment)?,
            request_uri: take(uri)?,
            object_uri: take(id)?,
            ..RawRow::default()
        };
        // Managed HSM's top-level spellings, where `properties` gave none.
        let top = [
            (Field::Status, self.http_status_code.map(Scalar::text)),
            (Field::Client, self.client_info),
            (Field::RequestUri, self.request_uri),
        ];
        for (f, v) in top {
            if let Some(v) = v {
                if v.len() > MAX_FIELD_BYTES {
                    return None;
                }
                row.set(f, v);
            }
        }
        if let Some(id) = self.identity {
            id.apply(&mut row);
        }
        Some(row)
    }
}

/// True when the object looks like a raw record (camelCase keys).
pub fn is_raw_record(m: &Map<String, Value>) -> bool {
    m.contains_key("operationName") || (m.contains_key("properties") && m.contains_key("time"))
}

/// True when the object looks like an exported table row.
pub fn is_flat_row(m: &Map<String, Value>) -> bool {
    // Or kvaudit's own canonical events (`events`, JSON Lines or JSON).
    m.keys().any(|k| k.eq_ignore_ascii_case("OperationName"))
        || (m.contains_key("operation")
            && m.contains_key("time")
            && m.contains_key("source_record"))
}

/// The columns without which no event can be built.
pub fn require_columns(schema: &FlatSchema, source: &str) -> Result<()> {
    let required = [
        (
            Field::Time,
            "TimeGenerated",
            "TimeGenerated, TimeGenerated [UTC]",
        ),
        (Field::Operation, "OperationName", "OperationName"),
    ];
    for (f, column, expected) in required {
        if !schema.has(f) {
            return Err(Error::MissingColumn {
                path: source.to_string(),
                column: column.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_uri_claims() {
        assert_eq!(
            flatten_name("http://schemas.microsoft.com/identity/claims/objectidentifier"),
            "http_schemas_microsoft_com_identity_claims_objectidentifier"
        );
        assert_eq!(
            flatten_name("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"),
            "http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn"
        );
    }

    /// The fast path gives exactly the row of the general path, on every
    /// raw record of the fixtures and on mutations of them.
    #[test]
    fn fast_raw_records_equal_general_path() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut lines = Vec::new();
        for f in [
            "shapes/raw-records.jsonl",
            "scenarios/s1-s9-three-weeks.jsonl",
            "scenarios/s3-databricks-scope.jsonl",
        ] {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            lines.extend(text.lines().map(str::to_string));
        }
        let mut variants = Vec::new();
        for l in &lines {
            variants.push(l.clone());
            variants.push(
                l.replace("\"durationMs\":\"", "\"durationMs\":1")
                    .replacen("\"12\"", "", 1),
            );
            variants.push(l.replace("\"httpStatusCode\": 403", "\"httpStatusCode\": \"403.0\""));
            // Numbers on either side of the shared texts (below 1000).
            for n in ["0", "999", "1000", "-5", "403.0", "18446744073709551616"] {
                variants.push(l.replace(
                    "\"httpStatusCode\": 200",
                    &format!("\"httpStatusCode\": {n}"),
                ));
                variants.push(l.replace(
                    "\"httpStatusCode\": 403",
                    &format!("\"httpStatusCode\": {n}"),
                ));
            }
            variants.push(l.replace("\"operationName\": \"", "\"operationName\": 5, \"x\": \""));
            variants.push(l.replace("\"category\": \"AuditEvent\"", "\"category\": null"));
            variants.push(l.replace(
                "\"properties\": {",
                "\"properties\": {\"clientInfo\": null, \"extra\": [1],",
            ));
            variants.push(l.replace("\\u", "\\u0041\\u"));
        }
        let mut fast_taken = 0;
        for v in &variants {
            let Ok(Value::Object(m)) = serde_json::from_str::<Value>(v) else {
                continue;
            };
            let slow = raw_record(&m);
            if let Some(fast) = serde_json::from_str::<FastRaw>(v)
                .ok()
                .and_then(FastRaw::into_row)
            {
                fast_taken += 1;
                assert_eq!(Ok(fast), slow, "{v}");
            }
        }
        assert!(fast_taken > lines.len(), "{fast_taken}");
    }

    #[test]
    fn short_and_uri_oid_coalesce() {
        let s = FlatSchema::resolve([
            "identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g",
            "identity_claim_oid_g",
        ]);
        let cells = [Some("uri-oid"), Some("short-oid")];
        let row = s.row(|i| cells[i]).unwrap();
        assert_eq!(row.oid.as_deref(), Some("short-oid"));
        let cells = [Some("uri-oid"), None];
        let row = s.row(|i| cells[i]).unwrap();
        assert_eq!(row.oid.as_deref(), Some("uri-oid"));
    }

    /// An `Identity` column that holds JSON but not an object (a number
    /// from a mistyped table) is an error of the row, not a row without a
    /// caller; an object, null or nothing is a row.
    #[test]
    fn an_identity_that_is_not_an_object_is_an_error() {
        let s = FlatSchema::resolve(["Identity"]);
        for bad in ["42", "[1]", "\"x\"", "true"] {
            let e = s.row(|_| Some(bad)).err().unwrap_or_default();
            assert!(e.contains("expected a JSON object"), "{bad}: {e}");
        }
        for good in [r#"{"claim":{"appid":"a"}}"#, "{}", "null", ""] {
            assert!(s.row(|_| Some(good)).is_ok(), "{good}");
        }
        let row = s.row(|_| Some(r#"{"claim":{"appid":"a"}}"#)).unwrap();
        assert_eq!(row.appid.as_deref(), Some("a"));
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;
    use proptest::prelude::*;

    /// A claim value of any JSON type, keys that are claims (in any
    /// spelling), `claim` itself and others, possibly repeated.
    fn member() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "appid",
            "azp",
            "oid",
            "upn",
            "unique_name",
            "idtyp",
            "xms_mirid",
            "scp",
            "http://schemas.microsoft.com/identity/claims/objectidentifier",
            "claim",
            "other",
            "ipaddr",
        ]);
        let value = prop::sample::select(vec![
            r#""a-1""#,
            r#""esc\"aped""#,
            "null",
            "12",
            "4.0",
            "true",
            "[1]",
            r#"{"x":1}"#,
            r#""""#,
        ]);
        (key, value).prop_map(|(k, v)| format!("{k:?}:{v}"))
    }

    fn object(members: Vec<String>) -> String {
        format!("{{{}}}", members.join(","))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Whatever the identity holds, the fast path gives the general
        /// path's row, or leaves the record to it.
        #[test]
        fn fast_identity_equals_value(
            top in proptest::collection::vec(member(), 0..5),
            claim in proptest::option::of(proptest::collection::vec(member(), 0..6)),
        ) {
            let mut members = top;
            if let Some(c) = claim {
                members.push(format!("\"claim\":{}", object(c)));
            }
            let line = format!(
                r#"{{"time":"2025-03-01T12:12:15.427Z","operationName":"SecretGet","properties":{{"httpStatusCode":200}},"identity":{}}}"#,
                object(members)
            );
            let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&line) else {
                return Ok(());
            };
            let slow = raw_record(&m);
            if let Some(fast) = serde_json::from_str::<FastRaw>(&line).ok().and_then(FastRaw::into_row) {
                prop_assert_eq!(Ok(fast), slow, "{}", line);
            }
        }
    }
}
