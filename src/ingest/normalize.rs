//! Turns one logical row, whatever shape it came from, into a canonical
//! [`Event`]: coalesces claim spellings, parses the two time formats and the
//! `403`/`403.0` status, derives vault and object from whichever column has
//! them. One place, so every shape normalises the same way.

use super::interner::Interner;
use super::schema::{Field, RawRow};
use crate::event::{Event, VaultKind};
use crate::parse::{
    clean, object_from_uri, object_type_from_operation, parse_bool, parse_duration, parse_status,
    parse_time, tenant_from_description, truncate, vault_of_resource_id, vault_of_uri,
};
use crate::pipeline::Fields;
use chrono::DateTime;
use std::borrow::Cow;
use std::sync::Arc;

/// Why a row was not turned into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rejection {
    /// Not an error: a row of another resource provider or category.
    Skip(&'static str),
    /// The row is malformed: what was expected.
    Invalid(String),
}

/// What became of one record, decided in a worker.
// Nearly every outcome is an event: boxing it would cost an allocation a row.
#[allow(clippy::large_enum_variant)]
pub(super) enum Outcome {
    Event(Event),
    /// This many events in a row, folded into the worker's part of the sink
    /// (see [`crate::pipeline::Sink::fork`]).
    Folded(u64),
    /// An event folded into the worker's part and passed on for the sink's
    /// ordered side.
    Forwarded(Event),
    Skip(&'static str),
    /// `record` is numbered within the block; `byte` is the record's offset
    /// in the input, when the format places errors by line.
    Invalid {
        record: u64,
        byte: Option<u64>,
        message: String,
    },
}

impl Outcome {
    /// What normalising `row` (record `record`, at `byte`) gives.
    pub(super) fn of(
        row: std::result::Result<RawRow<'_>, String>,
        source: &Arc<str>,
        record: u64,
        byte: Option<u64>,
        interner: &mut Interner,
        fields: Fields,
    ) -> Self {
        let normalized = row
            .map_err(Rejection::Invalid)
            .and_then(|r| normalize(&r, source, record, interner, fields));
        match normalized {
            Ok(e) => Outcome::Event(e),
            Err(Rejection::Skip(why)) => Outcome::Skip(why),
            Err(Rejection::Invalid(message)) => Outcome::Invalid {
                record,
                byte,
                message,
            },
        }
    }
}

/// Normalises one row. `source` and `record` locate it for errors and output.
pub(super) fn normalize(
    row: &RawRow<'_>,
    source: &Arc<str>,
    record: u64,
    interner: &mut Interner,
    fields: Fields,
) -> Result<Event, Rejection> {
    let report = matches!(fields, Fields::Report | Fields::ReportDatabricks);
    let analysis = report || fields == Fields::Analysis;
    if let Some(p) = clean(row.resource_provider.as_deref()) {
        if !p.eq_ignore_ascii_case("MICROSOFT.KEYVAULT") {
            return Err(Rejection::Skip("other resource provider"));
        }
    }
    if clean(row.table.as_deref())
        .is_some_and(|t| t.eq_ignore_ascii_case("AZKVPolicyEvaluationDetailsLogs"))
    {
        return Err(Rejection::Skip("other log category"));
    }
    if let Some(c) = clean(row.category.as_deref()) {
        if !c.eq_ignore_ascii_case("AuditEvent") {
            return Err(Rejection::Skip("other log category"));
        }
    }
    let time = match (clean(row.time.as_deref()), row.time_micros) {
        (Some(raw), _) => parse_time(raw).ok_or_else(|| {
            Rejection::Invalid(format!(
                "expected a time like 2024-04-02T08:20:49.268Z or 5/25/2023, 4:32:49.469 AM, found {:?}",
                truncate(raw)
            ))
        })?,
        (None, Some(micros)) => DateTime::from_timestamp_micros(micros).ok_or_else(|| {
            Rejection::Invalid(format!(
                "expected a time between the years -262143 and 262142, found {micros} microseconds since 1970"
            ))
        })?,
        (None, None) => {
            return Err(Rejection::Invalid(
                "expected a time (TimeGenerated / time), found none".into(),
            ))
        }
    };
    let operation = clean(row.operation.as_deref()).ok_or_else(|| {
        Rejection::Invalid("expected an operation name (OperationName), found none".into())
    })?;
    // Control-plane records (VaultPut) may log no status: kept, as null.
    let status = match clean(row.status.as_deref()) {
        None => None,
        Some(raw) => Some(parse_status(raw).ok_or_else(|| {
            Rejection::Invalid(format!(
                "expected an HTTP status code such as 403 or 403.0, found {:?}",
                truncate(raw)
            ))
        })?),
    };
    let lean = matches!(fields, Fields::Callers | Fields::Usage)
        || (report && status.is_none_or(|s| (200..300).contains(&s)));
    let opt_bool = |v: &Option<Cow<'_, str>>, name: &str| -> Result<Option<bool>, Rejection> {
        match clean(v.as_deref()) {
            None => Ok(None),
            Some(s) => parse_bool(s).map(Some).ok_or_else(|| {
                Rejection::Invalid(format!(
                    "expected true or false in {name}, found {:?}",
                    truncate(s)
                ))
            }),
        }
    };
    let rbac_authorized = opt_bool(&row.rbac_authorized, "isRbacAuthorized")?;
    let access_policy_match = opt_bool(&row.access_policy_match, "isAccessPolicyMatch")?;
    let duration_ms = match clean(row.duration_ms.as_deref()) {
        None => None,
        Some(s) => Some(parse_duration(s).ok_or_else(|| {
            Rejection::Invalid(format!(
                "expected a number in DurationMs, found {:?}",
                truncate(s)
            ))
        })?),
    };

    fn lower(s: &str) -> Cow<'_, str> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    }
    let from_resource =
        clean(row.resource.as_deref()).filter(|r| memchr::memchr(b'/', r.as_bytes()).is_none());
    // The resource id as the event keeps it (lower case): not in a lean
    // event but `usage`'s. The vault is found from the text as given.
    let raw_id = clean(row.resource_id.as_deref());
    let resource_id = if lean && fields != Fields::Usage {
        None
    } else {
        raw_id.map(lower)
    };
    let request_uri = clean(row.request_uri.as_deref());
    let object_uri = clean(row.object_uri.as_deref());
    // The vault, and whether it is a Managed HSM: from `ResourceType`
    // with `Resource` (exports), else from the ARM id or the host.
    let (vault, hsm): (Option<Arc<str>>, bool) = match from_resource {
        Some(r) => (
            Some(interner.lower(r)),
            clean(row.resource_type.as_deref()).map_or_else(
                || is_managed_hsm(row),
                // `ResourceType` of exports, or kvaudit's own `vault_kind`.
                |t| t.eq_ignore_ascii_case("MANAGEDHSMS") || t == "managed_hsm",
            ),
        ),
        None => match raw_id.and_then(|id| interner.vault_of_resource_id(id)) {
            Some((v, hsm)) => (Some(v), hsm),
            None => match request_uri
                .and_then(vault_of_uri)
                .or_else(|| object_uri.and_then(vault_of_uri))
            {
                Some((v, hsm)) => (Some(interner.get(&v)), hsm),
                None => (None, false),
            },
        },
    };
    let object = object_uri
        .and_then(object_from_uri)
        .or_else(|| request_uri.and_then(object_from_uri));
    // No URI: kvaudit's own object columns, else the operation's type.
    let (object_type, object_name) = match (object, clean(row.object_type.as_deref())) {
        (Some((t, n)), _) => (Some(t), n),
        (None, Some(t)) => (Some(Cow::Borrowed(t)), clean(row.object_name.as_deref())),
        (None, None) => (
            object_type_from_operation(operation).map(Cow::Borrowed),
            None,
        ),
    };
    let vault_kind = vault.as_ref().map(|_| {
        if hsm {
            VaultKind::ManagedHsm
        } else {
            VaultKind::Vault
        }
    });
    let description = clean(row.result_description.as_deref());
    let upn = clean(row.upn.as_deref()).or(clean(row.unique_name.as_deref()));

    if lean {
        return Ok(Event {
            time,
            vault,
            resource_id: if fields == Fields::Usage {
                resource_id.as_deref().map(|v| interner.get(v))
            } else {
                None
            },
            operation: interner.get(operation),
            object_type: object_type.as_deref().map(|v| interner.get(v)),
            object_name: object_name.map(|v| interner.get(v)),
            status,
            result_signature: None,
            result_description: None,
            caller_appid: interner.text(row.appid.as_deref()),
            caller_oid: interner.text(row.oid.as_deref()),
            caller_upn: interner.text(upn),
            caller_idtyp: interner.text(row.idtyp.as_deref()),
            caller_appidacr: None,
            caller_mirid: interner.text(row.mirid.as_deref()),
            caller_tenant: None,
            // The report lists each caller's addresses.
            caller_ip: if report {
                interner.text(row.caller_ip.as_deref())
            } else {
                None
            },
            client_info: interner.text(row.client_info.as_deref()),
            // Kept for the AzureDatabricks application alone: its reads are
            // matched one by one (`attribute`), and a record delivered
            // twice is told by its correlation id.
            correlation_id: if reads(Field::Correlation, fields, false)
                && row.appid.as_deref() == Some(crate::event::DATABRICKS_APPID)
            {
                clean(row.correlation_id.as_deref()).map(Arc::from)
            } else {
                None
            },
            rbac_authorized,
            access_policy_match,
            applied_assignment_id: None,
            duration_ms,
            source: source.clone(),
            source_record: record,
            caller_scp: interner.text(row.scp.as_deref()),
            request_uri: None,
            vault_kind,
        });
    }
    Ok(Event {
        time,
        vault,
        resource_id: resource_id.as_deref().map(|v| interner.get(v)),
        operation: interner.get(operation),
        object_type: object_type.as_deref().map(|v| interner.get(v)),
        object_name: object_name.map(|v| interner.get(v)),
        status,
        result_signature: if analysis {
            None
        } else {
            interner.text(row.result_signature.as_deref())
        },
        result_description: interner.text(description),
        caller_appid: interner.text(row.appid.as_deref()),
        caller_oid: interner.text(row.oid.as_deref()),
        caller_upn: interner.text(upn),
        caller_idtyp: interner.text(row.idtyp.as_deref()),
        caller_appidacr: if analysis {
            None
        } else {
            interner.text(row.appidacr.as_deref())
        },
        caller_mirid: interner.text(row.mirid.as_deref()),
        caller_tenant: interner.text(description.and_then(tenant_from_description)),
        caller_ip: interner.text(row.caller_ip.as_deref()),
        client_info: interner.text(row.client_info.as_deref()),
        // Analysis keeps it for AzureDatabricks alone, as lean events do.
        correlation_id: clean(row.correlation_id.as_deref())
            .filter(|_| reads(Field::Correlation, fields, false))
            .filter(|_| !analysis || row.appid.as_deref() == Some(crate::event::DATABRICKS_APPID))
            .map(Arc::from),
        rbac_authorized,
        access_policy_match,
        applied_assignment_id: interner.text(row.applied_assignment_id.as_deref()),
        duration_ms,
        source: source.clone(),
        source_record: record,
        caller_scp: interner.text(row.scp.as_deref()),
        // Unique per secret version: not worth interning.
        request_uri: request_uri.filter(|_| !analysis).map(Arc::from),
        vault_kind,
    })
}

/// Whether a row named by `Resource` alone is of a Managed HSM: its ARM id
/// or its host says so (rare: exports carry `ResourceType`).
fn is_managed_hsm(row: &RawRow<'_>) -> bool {
    let of_id = |v: &Option<Cow<'_, str>>| v.as_deref().and_then(vault_of_resource_id);
    let of_uri = |v: &Option<Cow<'_, str>>| v.as_deref().and_then(vault_of_uri);
    of_id(&row.resource_id)
        .or_else(|| of_uri(&row.request_uri))
        .or_else(|| of_uri(&row.object_uri))
        .is_some_and(|(_, hsm)| hsm)
}

/// Whether normalising for `fields` reads `f`: what a columnar reader
/// (Parquet) decodes. `own`: the input is kvaudit's own events (marked so
/// by the writer, with object, vault and vault kind columns), whose URIs
/// and resource id those columns were derived from, so they are not needed
/// unless kept in the event.
pub(super) fn reads(f: Field, fields: Fields, own: bool) -> bool {
    use Field as F;
    match (f, fields) {
        (_, Fields::Full) => true,
        (F::Signature | F::Appidacr, _) => false,
        (F::Description | F::Assignment | F::Ip, Fields::Callers | Fields::Usage) => false,
        // AzureDatabricks reads are told apart by it (`attribute`,
        // `--databricks`); the caller inventory and a report without
        // `--databricks` never read it.
        (F::Correlation, Fields::Callers | Fields::Report) => false,
        (F::RequestUri | F::ObjectUri, _) => !own,
        (F::ResourceId, Fields::Callers) => !own,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::VaultKind;

    /// A row without a `Resource` column takes its vault from its ARM id,
    /// whatever its case, with or without the id kept, and the same again
    /// when the id is found in the interner's cache.
    #[test]
    fn the_vault_of_a_resource_id_in_every_case() {
        let source: Arc<str> = Arc::from("t");
        let mut interner = Interner::default();
        let cases = [
            ("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-A", Some(("kv-a", VaultKind::Vault))),
            ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/Hsm1?x=1", Some(("hsm1", VaultKind::ManagedHsm))),
            ("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/", None),
            ("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG", None),
        ];
        for fields in [Fields::Callers, Fields::Usage, Fields::Report, Fields::Full] {
            for _ in 0..2 {
                for (id, want) in cases {
                    let row = RawRow {
                        time: Some(Cow::Borrowed("2025-03-10T08:00:00Z")),
                        operation: Some(Cow::Borrowed("SecretGet")),
                        status: Some(Cow::Borrowed("200")),
                        resource_id: Some(Cow::Borrowed(id)),
                        ..RawRow::default()
                    };
                    let e = normalize(&row, &source, 1, &mut interner, fields).unwrap();
                    let got = e.vault.as_deref().zip(e.vault_kind);
                    assert_eq!(got, want, "{id} {fields:?}");
                    let kept = matches!(fields, Fields::Usage | Fields::Full);
                    let lowered = id.to_ascii_lowercase();
                    assert_eq!(
                        e.resource_id.as_deref(),
                        kept.then_some(lowered.as_str()),
                        "{id} {fields:?}"
                    );
                }
            }
        }
        // Without one, the request URI names the vault.
        let row = RawRow {
            time: Some(Cow::Borrowed("2025-03-10T08:00:00Z")),
            operation: Some(Cow::Borrowed("SecretGet")),
            resource_id: Some(Cow::Borrowed("/SUBSCRIPTIONS/S")),
            request_uri: Some(Cow::Borrowed(
                "https://kv-b.vault.azure.net/secrets/x?api-version=7.4",
            )),
            ..RawRow::default()
        };
        let e = normalize(&row, &source, 1, &mut interner, Fields::Callers).unwrap();
        assert_eq!(e.vault.as_deref(), Some("kv-b"));
    }
}
