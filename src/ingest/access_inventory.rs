//! Reads the access inventory that `queries/access-inventory.kql` computes
//! in Log Analytics, Azure Data Explorer or the Sentinel data lake (one row
//! per day, vault, caller, object and operation) for workspaces too large
//! to export raw. `access`, `rights` and `plan-rbac` fold its rows as they
//! fold events, with their counts.

use super::inventory::{count, malformed, read_table, text, time};
use crate::error::Result;
use chrono::{DateTime, Utc};

/// The columns that mark an access inventory.
const MARKS: &[&str] = &["succeeded", "objectname", "firstok", "caller_appid"];

/// One row: a day of one caller's one operation on one object (or on the
/// vault, for lists) of one vault.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRow {
    pub vault: Option<String>,
    /// The vault's ARM id (lower case).
    pub vault_id: Option<String>,
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    pub idtyp: Option<String>,
    pub scp: Option<String>,
    pub mirid: Option<String>,
    /// `secret`, `key` or `certificate`; None for vault-level operations.
    pub object_type: Option<String>,
    pub object_name: Option<String>,
    pub operation: String,
    /// 2xx responses.
    pub succeeded: u64,
    /// 403 responses.
    pub denied: u64,
    /// Any other status, or none.
    pub other: u64,
    /// The first and last 2xx (None when there was none).
    pub first_ok: Option<DateTime<Utc>>,
    pub last_ok: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Records carrying `isAccessPolicyMatch` / `isRbacAuthorized`.
    pub access_policy_records: u64,
    pub rbac_records: u64,
}

/// Reads `path` if it is an access inventory; `Ok(None)` otherwise.
pub fn read(path: &str) -> Result<Option<Vec<AccessRow>>> {
    let Some(records) = read_table(path, MARKS, "an access inventory")? else {
        return Ok(None);
    };
    records
        .into_iter()
        .map(|(pos, m)| {
            let opt_time = |k: &str| -> std::result::Result<Option<DateTime<Utc>>, String> {
                match text(&m, k) {
                    None => Ok(None),
                    Some(_) => time(&m, k).map(Some),
                }
            };
            let row = (|| -> std::result::Result<AccessRow, String> {
                let object_type = text(&m, "objecttype")
                    .map(|t| t.to_ascii_lowercase())
                    .filter(|t| matches!(t.as_str(), "secret" | "key" | "certificate"));
                Ok(AccessRow {
                    vault: text(&m, "vault").map(|v| v.to_ascii_lowercase()),
                    vault_id: text(&m, "vaultid").map(|v| v.to_ascii_lowercase()),
                    appid: text(&m, "caller_appid"),
                    oid: text(&m, "caller_oid"),
                    upn: text(&m, "caller_upn"),
                    idtyp: text(&m, "caller_idtyp"),
                    scp: text(&m, "caller_scp"),
                    mirid: text(&m, "caller_mirid"),
                    object_name: text(&m, "objectname").filter(|_| object_type.is_some()),
                    object_type,
                    operation: text(&m, "operationname")
                        .ok_or("OperationName: expected an operation name")?,
                    succeeded: count(&m, "succeeded")?,
                    denied: count(&m, "denied")?,
                    other: count(&m, "other")?,
                    first_ok: opt_time("firstok")?,
                    last_ok: opt_time("lastok")?,
                    first_seen: time(&m, "firstseen")?,
                    last_seen: time(&m, "lastseen")?,
                    access_policy_records: count(&m, "accesspolicyrecords")?,
                    rbac_records: count(&m, "rbacrecords")?,
                })
            })();
            row.map_err(|msg| malformed(path, &pos, &msg))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}
