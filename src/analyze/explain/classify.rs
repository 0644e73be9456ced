//! What kind of denial a failed request is (RBAC, access policy, firewall,
//! throttling), and everything its description says: caller, action,
//! assignment, client address. Requests that are not denials (401 bearer
//! challenges, 404, 409, 400) are counted apart.

use crate::event::Event;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialClass {
    Rbac,
    AccessPolicy,
    Firewall,
    /// Public network access is disabled, or the request came over a
    /// private endpoint that does not serve this vault (wrong DNS record
    /// or Host header): network, never a role.
    PrivateLink,
    Throttled,
    Other,
}

impl DenialClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DenialClass::Rbac => "rbac",
            DenialClass::AccessPolicy => "access_policy",
            DenialClass::Firewall => "firewall",
            DenialClass::PrivateLink => "private_link",
            DenialClass::Throttled => "throttled",
            DenialClass::Other => "other",
        }
    }
}

/// Everything a denial description says.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DescriptionFacts {
    pub kind: Option<DenialClass>,
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub tenant: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub assignment: Option<String>,
    pub decision_reason: Option<String>,
    pub vault: Option<String>,
    pub location: Option<String>,
    /// Access-policy text: `secrets`, `keys`, `certificates`, `storage`.
    pub policy_object: Option<String>,
    /// Access-policy text: e.g. `get`, `purge`.
    pub policy_permission: Option<String>,
    pub client_address: Option<String>,
    /// `xms_mirid=` after the caller: the managed identity's resource id.
    pub mirid: Option<String>,
    /// `xms_az_rid=`: the Azure resource the managed identity runs on.
    pub az_rid: Option<String>,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

fn cap(r: &Regex, text: &str) -> Option<String> {
    r.captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Parses a Key Vault denial description, or the one-line form pasted from
/// notebooks (`Caller: appid=..;oid=.. Action: ... innererror: ForbiddenByRbac`).
pub fn parse_description(text: &str) -> DescriptionFacts {
    static APPID: OnceLock<Regex> = OnceLock::new();
    static OID: OnceLock<Regex> = OnceLock::new();
    static ACTION: OnceLock<Regex> = OnceLock::new();
    static RESOURCE: OnceLock<Regex> = OnceLock::new();
    static ASSIGN: OnceLock<Regex> = OnceLock::new();
    static DECISION: OnceLock<Regex> = OnceLock::new();
    static VAULT: OnceLock<Regex> = OnceLock::new();
    static POLICY: OnceLock<Regex> = OnceLock::new();
    static CLIENT: OnceLock<Regex> = OnceLock::new();
    static LOCATION: OnceLock<Regex> = OnceLock::new();
    static MIRID: OnceLock<Regex> = OnceLock::new();
    static AZRID: OnceLock<Regex> = OnceLock::new();
    let lower = text.to_ascii_lowercase();
    let mut p = DescriptionFacts {
        appid: cap(re(&APPID, r"appid=([^;\s',]+)"), text),
        oid: cap(re(&OID, r"oid=([^;\s',]+)"), text),
        tenant: crate::parse::tenant_from_description(text).map(str::to_string),
        action: cap(re(&ACTION, r"Action:\s*'?([A-Za-z0-9./_*-]+)'?"), text),
        resource: cap(re(&RESOURCE, r"Resource:\s*'?(/[^'\s]+)'?"), text),
        // Lines end at \r\n, \n or, in one-line copies, at ` | `.
        assignment: cap(
            re(&ASSIGN, r"(?m)Assignment:\s*([^\r\n|]+?)\s*(?:\||$)"),
            text,
        ),
        decision_reason: cap(
            re(
                &DECISION,
                r"(?m)DecisionReason:\s*'?([^'\r\n|]*?)'?\s*(?:\||$)",
            ),
            text,
        )
        .filter(|s| s != "null"),
        vault: cap(re(&VAULT, r"Vault:\s*([^;\s]+)"), text),
        location: cap(re(&LOCATION, r"location=([A-Za-z0-9-]+)"), text),
        client_address: cap(re(&CLIENT, r"Client address:\s*([^\s]+)"), text),
        mirid: cap(re(&MIRID, r"xms_mirid=([^;\s',|]+)"), text),
        az_rid: cap(re(&AZRID, r"xms_az_rid=([^;\s',|]+)"), text),
        ..Default::default()
    };
    if let Some(c) = re(
        &POLICY,
        r"does not have ([A-Za-z]+) ([A-Za-z]+) permission on key vault '([^;']+)(?:;location=([A-Za-z0-9-]+))?",
    )
    .captures(text)
    {
        p.policy_object = Some(c[1].to_ascii_lowercase());
        p.policy_permission = Some(c[2].to_string());
        p.vault = p.vault.or_else(|| Some(c[3].to_string()));
        p.location = p.location.or_else(|| c.get(4).map(|m| m.as_str().to_string()));
    }
    // Texts: "Public network access is disabled and request is not from a
    // trusted service nor via an approved private link." (a vault with
    // public access disabled, as users report it from Key Vault's 403) and
    // "This TCP connection does not allow access to {host}." (Microsoft
    // Learn, "Diagnose private links configuration issues on Azure Key
    // Vault", learn.microsoft.com/azure/key-vault/general/private-link-diagnostics).
    p.kind = if lower.contains("public network access is disabled")
        || (lower.contains("tcp connection does not allow access to"))
    {
        Some(DenialClass::PrivateLink)
    } else if lower.contains("client address is not authorized")
        || lower.contains("forbiddenbyfirewall")
    {
        Some(DenialClass::Firewall)
    } else if p.policy_permission.is_some() || lower.contains("forbiddenbypolicy") {
        Some(DenialClass::AccessPolicy)
    } else if lower.contains("caller is not authorized") || lower.contains("forbiddenbyrbac") {
        Some(DenialClass::Rbac)
    } else if lower.contains("throttl") || lower.contains("too many requests") {
        Some(DenialClass::Throttled)
    } else {
        None
    };
    if let Some(v) = &p.vault {
        p.vault = Some(v.to_ascii_lowercase());
    }
    p
}

/// Not-a-denial outcomes counted apart (S8).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NotDenials {
    /// 401 on Authentication with an empty identity: the bearer challenge.
    pub bearer_challenges: u64,
    pub not_found: u64,
    pub conflict: u64,
    pub bad_request: u64,
}

/// Classifies a failed event; None for successes and for noise.
pub fn classify_failure(
    e: &Event,
    noise: &mut NotDenials,
) -> Option<(DenialClass, DescriptionFacts)> {
    classify_with(e, noise, parse_description)
}

/// [`classify_failure`] with the description parser given (a cache); the
/// description is parsed only for denials.
pub(super) fn classify_with(
    e: &Event,
    noise: &mut NotDenials,
    parse: impl FnOnce(&str) -> DescriptionFacts,
) -> Option<(DenialClass, DescriptionFacts)> {
    let parsed = || {
        e.result_description
            .as_deref()
            .map(parse)
            .unwrap_or_default()
    };
    // No status: a control-plane record, never a denial.
    let status = e.status?;
    match status {
        200..=399 => None,
        401 => {
            noise.bearer_challenges += 1;
            None
        }
        404 => {
            noise.not_found += 1;
            None
        }
        409 => {
            noise.conflict += 1;
            None
        }
        400 => {
            noise.bad_request += 1;
            None
        }
        429 => Some((DenialClass::Throttled, parsed())),
        403 => {
            let parsed = parsed();
            let kind = parsed.kind.unwrap_or(if e.rbac_authorized == Some(false) {
                DenialClass::Rbac
            } else if e.access_policy_match == Some(false) {
                DenialClass::AccessPolicy
            } else {
                DenialClass::Other
            });
            Some((kind, parsed))
        }
        _ => Some((DenialClass::Other, parsed())),
    }
}
