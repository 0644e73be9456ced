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
    /// Refused by a network security perimeter the vault is associated
    /// with: an inbound access rule of the perimeter's profile, never a role.
    NetworkPerimeter,
    /// An RBAC role assignment matched the caller and the action, but its
    /// condition (attribute-based access control) was not met: the
    /// condition, not the role, must change.
    Condition,
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
            DenialClass::NetworkPerimeter => "network_perimeter",
            DenialClass::Condition => "condition",
            DenialClass::Throttled => "throttled",
            DenialClass::Other => "other",
        }
    }

    /// Refused by the network (firewall, private link, perimeter), not by
    /// identity.
    pub fn is_network(self) -> bool {
        matches!(
            self,
            DenialClass::Firewall | DenialClass::PrivateLink | DenialClass::NetworkPerimeter
        )
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
    /// `xms_az_nwperimid=`: the network security perimeter the request
    /// was evaluated against.
    pub perimeter: Option<String>,
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
    static PERIM: OnceLock<Regex> = OnceLock::new();
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
        // One token (`'DeniedWithNoValidRBAC'`, null): in a one-line copy
        // the rest of the text follows it.
        decision_reason: cap(
            re(
                &DECISION,
                r"(?m)DecisionReason:\s*'?([^'\r\n|]*?)'?\s*(?:\||$)",
            ),
            text,
        )
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .map(|t| t.trim_matches(|c| c == '\'' || c == '"').to_string())
        })
        .filter(|s| !s.is_empty() && s != "null"),
        vault: cap(re(&VAULT, r"Vault:\s*([^;\s]+)"), text),
        // The vault's location, not a `location=` pair after the caller.
        location: cap(
            re(&LOCATION, r"Vault:\s*[^;\s]+;\s*location=([A-Za-z0-9-]+)"),
            text,
        ),
        client_address: cap(re(&CLIENT, r"Client address:\s*([^\s]+)"), text),
        // Pairs of the caller line: each after a `;` (a key merely ending
        // in the name is another key); a resource id Azure would accept.
        mirid: cap(re(&MIRID, r"[;\s]xms_mirid=([^;\s',|]+)"), text).filter(|v| arm_id(v)),
        az_rid: cap(re(&AZRID, r"[;\s]xms_az_rid=([^;\s',|]+)"), text).filter(|v| arm_id(v)),
        perimeter: cap(re(&PERIM, r"[;\s]xms_az_nwperimid=([^;\s',|]+)"), text)
            .filter(|v| !v.eq_ignore_ascii_case("null") && v.len() <= 128),
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
    let network = lower.contains("public network access is disabled")
        || lower.contains("tcp connection does not allow access to")
        || lower.contains("client address is not authorized")
        || lower.contains("forbiddenbyfirewall");
    p.kind = if perimeter_text(&lower) || (p.perimeter.is_some() && network) {
        Some(DenialClass::NetworkPerimeter)
    // Texts: "Public network access is disabled and request is not from a
    // trusted service nor via an approved private link." (a vault with
    // public access disabled, as users report it from Key Vault's 403) and
    // "This TCP connection does not allow access to {host}." (Microsoft
    // Learn, "Diagnose private links configuration issues on Azure Key
    // Vault", learn.microsoft.com/azure/key-vault/general/private-link-diagnostics).
    } else if lower.contains("public network access is disabled")
        || (lower.contains("tcp connection does not allow access to"))
    {
        Some(DenialClass::PrivateLink)
    } else if lower.contains("client address is not authorized")
        || lower.contains("forbiddenbyfirewall")
    {
        Some(DenialClass::Firewall)
    } else if p.policy_permission.is_some()
        || lower.contains("forbiddenbypolicy")
        // Java SDK issue Azure/azure-sdk-for-java#8229, Terraform
        // aztfmod/level0#23: "Access denied. Caller was not found on any
        // access policy."
        || lower.contains("caller was not found on any access policy")
    {
        Some(DenialClass::AccessPolicy)
    } else if lower.contains("caller is not authorized") || lower.contains("forbiddenbyrbac") {
        if condition_not_met(&lower, &p) {
            Some(DenialClass::Condition)
        } else {
            Some(DenialClass::Rbac)
        }
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

/// A resource id as Azure writes one (`/subscriptions/...`, no spaces or
/// quotes, at most 1,024 characters): anything else in `xms_mirid` is not
/// used to name the caller.
fn arm_id(v: &str) -> bool {
    v.len() <= 1024
        && v.to_ascii_lowercase().starts_with("/subscriptions/")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.()".contains(&b))
}

/// A network security perimeter's refusal. Microsoft documents no Key
/// Vault-specific text; the family's published text is App
/// Configuration's "Access to this resource is governed by a Network
/// Security Perimeter. The request fails to meet the criteria for inbound
/// access." (learn.microsoft.com/azure/azure-app-configuration/network-access-errors),
/// a vault secured by a perimeter reports `publicNetworkAccess:
/// SecuredByPerimeter`, and the perimeter's own access log names denials
/// `NspPublicInboundPerimeterRulesDenied` (learn.microsoft.com/azure/private-link/network-security-perimeter-diagnostic-logs).
/// A network refusal whose caller line carries `xms_az_nwperimid` is also
/// the perimeter's (its rules override the resource's firewall).
fn perimeter_text(lower: &str) -> bool {
    lower.contains("network security perimeter")
        || lower.contains("securedbyperimeter")
        || lower.contains("nsppublicinbound")
        || lower.contains("nsp-rejected")
}

/// An RBAC refusal where an assignment matched but did not grant: the
/// description's `DecisionReason` (or text) speaks of a condition, or its
/// `Assignment:` line names an assignment (Key Vault writes
/// `Assignment: (not found)` when none applies; one that applies and still
/// denies can only have failed its condition). Azure role assignment
/// conditions: learn.microsoft.com/azure/role-based-access-control/conditions-overview;
/// for Key Vault: learn.microsoft.com/azure/key-vault/general/rbac-guide.
fn condition_not_met(lower: &str, p: &DescriptionFacts) -> bool {
    let reason = p
        .decision_reason
        .as_deref()
        .is_some_and(|r| r.to_ascii_lowercase().contains("condition"));
    let text = lower.contains("condition was not met")
        || lower.contains("conditions were not met")
        || lower.contains("conditionnotmet")
        || lower.contains("condition not met");
    reason || text || p.assignment.as_deref().is_some_and(names_an_assignment)
}

/// The assignment an `Assignment:` value names (its first word), if any.
pub(super) fn assignment_named(a: &str) -> Option<String> {
    names_an_assignment(a).then(|| a.split_whitespace().next().unwrap_or("").to_string())
}

/// The `Assignment:` value names an assignment: its first word is a GUID
/// or a role assignment's resource id (not `(not found)`, `null`).
pub(super) fn names_an_assignment(a: &str) -> bool {
    let first = a
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c| c == '\'' || c == '"');
    let last = first.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    crate::parse::is_guid(last)
        && (first == last || first.to_ascii_lowercase().contains("/roleassignments/"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const APPID: &str = "3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55";
    const OID: &str = "8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44";
    const TENANT: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
    const ASSIGNMENT: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1/providers/Microsoft.Authorization/roleAssignments/7e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b";

    fn separator() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["\r\n", "\n", "\r |", " | ", "\r\n |", "\r | "])
    }

    fn pair() -> impl Strategy<Value = String> {
        let known = prop::sample::select(vec![
            "xms_mirid",
            "xms_az_rid",
            "numgroups",
            "location",
            "xms_az_nwperimid",
        ])
        .prop_map(str::to_string);
        (prop_oneof![known, "[a-z_]{1,14}"], "[A-Za-z0-9/._-]{0,40}")
            .prop_map(|(k, v)| format!(";{k}={v}"))
    }

    /// A Key Vault RBAC description with random pairs after `iss`, random
    /// line separators, and any data action.
    fn description() -> impl Strategy<Value = (String, String, bool)> {
        (
            prop::collection::vec(separator(), 8),
            prop::collection::vec(pair(), 0..5),
            prop::sample::select(vec!["secrets", "keys", "certificates"]),
            "[a-z][a-zA-Z]{1,12}",
            any::<bool>(),
        )
            .prop_map(|(sep, pairs, object, verb, condition)| {
                let action = format!("Microsoft.KeyVault/vaults/{object}/{verb}/action");
                let assignment = if condition { ASSIGNMENT } else { "(not found)" };
                let text = format!(
                    "Caller is not authorized to perform action on resource.{}If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.{}Caller: appid={APPID};oid={OID};iss=https://sts.windows.net/{TENANT}/{}{}Action: '{action}'{}Resource: '/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv1/{object}/x'{}Assignment: {assignment}{}DenyAssignmentId: null{}DecisionReason: null {}Vault: kv1;location=westeurope",
                    sep[0], sep[1], pairs.concat(), sep[2], sep[3], sep[4], sep[5], sep[6], sep[7]
                );
                (text, action, condition)
            })
    }

    proptest! {
        #[test]
        fn any_pairs_and_separators_give_the_same_facts((text, action, condition) in description()) {
            let p = parse_description(&text);
            prop_assert_eq!(p.appid.as_deref(), Some(APPID));
            prop_assert_eq!(p.oid.as_deref(), Some(OID));
            prop_assert_eq!(p.tenant.as_deref(), Some(TENANT));
            prop_assert_eq!(p.action.as_deref(), Some(action.as_str()));
            prop_assert_eq!(p.vault.as_deref(), Some("kv1"));
            prop_assert_eq!(p.location.as_deref(), Some("westeurope"));
            prop_assert!(p.resource.as_deref().is_some_and(|r| r.ends_with("/x")));
            prop_assert_eq!(p.decision_reason, None);
            let want = if condition { DenialClass::Condition } else { DenialClass::Rbac };
            prop_assert_eq!(p.kind, Some(want));
        }
    }

    #[test]
    fn a_one_line_null_assignment_is_not_a_condition() {
        let p = parse_description("Caller is not authorized to perform action on resource. Caller: appid=a;oid=b Assignment: null DenyAssignmentId: null DecisionReason: null Vault: kv1");
        assert_eq!(p.kind, Some(DenialClass::Rbac));
        assert!(names_an_assignment(ASSIGNMENT));
        assert!(names_an_assignment("7e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b"));
        assert!(!names_an_assignment("(not found) DenyAssignmentId: null"));
        assert!(!names_an_assignment(
            "/subscriptions/s/x/7e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b"
        ));
    }

    #[test]
    fn perimeter_by_text_or_by_claim_on_a_network_refusal() {
        let text = "Access to this resource is governed by a Network Security Perimeter. The request fails to meet the criteria for inbound access.";
        assert_eq!(
            parse_description(text).kind,
            Some(DenialClass::NetworkPerimeter)
        );
        let fw = "Client address is not authorized and caller is not a trusted service.\r\nClient address: 1.2.3.4\r\nCaller: appid=a;oid=b;iss=x;xms_az_nwperimid=p1";
        let p = parse_description(fw);
        assert_eq!(p.kind, Some(DenialClass::NetworkPerimeter));
        assert_eq!(p.perimeter.as_deref(), Some("p1"));
        // The claim on an RBAC refusal does not make it a network one.
        let rbac = "Caller is not authorized to perform action on resource.\r\nCaller: appid=a;oid=b;iss=x;xms_az_nwperimid=p1";
        assert_eq!(parse_description(rbac).kind, Some(DenialClass::Rbac));
        assert_eq!(
            parse_description(&fw.replace(";xms_az_nwperimid=p1", "")).kind,
            Some(DenialClass::Firewall)
        );
    }
}
