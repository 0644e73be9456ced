//! Explains every denial: which principal needs which role or permission,
//! at which scope, with the exact command, and whether a later success
//! resolved it. Works on log events and on a pasted error message alone.

pub mod assignments;
mod classify;
pub mod command;
mod denial;

pub use classify::{
    classify_failure, parse_description, DenialClass, DescriptionFacts, NotDenials,
};
pub use denial::{Denial, DeniedPrincipal, HeldAssignment};

use crate::analyze::permissions::knowledge;
use crate::event::{format_time, Event};
use crate::identify::{self, Catalog, Claims, Identity, Kind};
use chrono::{DateTime, Utc};
use classify::classify_with;
use command::{shown, Check, ShellCommand};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub use crate::event::DATABRICKS_APPID;

/// The narrowest ARM scope: the object, else the vault.
fn scope(
    resource_id: Option<&str>,
    vault: Option<&str>,
    object_type: Option<&str>,
    object_name: Option<&str>,
) -> String {
    let base = resource_id.map_or_else(|| {
            format!(
                "/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.KeyVault/vaults/{}",
                vault.unwrap_or("<vault>")
            )
        }, |r| {
            // Strip any object path the description may carry.
            let l = r.to_string();
            match l.to_ascii_lowercase().find("/vaults/") {
                Some(i) => {
                    let rest = &l[i + 8..];
                    let end = rest.find('/').map_or(l.len(), |j| i + 8 + j);
                    l[..end].to_string()
                }
                None => l,
            }
        });
    match (object_type, object_name) {
        (Some(t @ ("secret" | "key" | "certificate")), Some(n)) => format!("{base}/{t}s/{n}"),
        _ => base,
    }
}

/// Inputs of one finding before rendering.
struct Draft {
    denial: DenialClass,
    /// A Managed HSM: local RBAC roles, `az keyvault role assignment`.
    managed_hsm: bool,
    vault: Option<String>,
    operation: Option<String>,
    action: Option<String>,
    principal: DeniedPrincipal,
    principal_kind: Kind,
    object_type: Option<String>,
    object_name: Option<String>,
    resource_id: Option<String>,
    client_address: Option<String>,
    policy_object: Option<String>,
    policy_permission: Option<String>,
    /// The description's `Assignment:` when it names one (a condition).
    assignment: Option<String>,
    /// The description's `DecisionReason:`.
    decision_reason: Option<String>,
    /// The description's `xms_az_nwperimid`.
    perimeter: Option<String>,
    /// The description's `xms_mirid` and `xms_az_rid`: the managed
    /// identity that called, whatever the record's claims say.
    mirid: Option<String>,
    az_rid: Option<String>,
}

/// The managed identity a description names (`xms_mirid`, or the resource
/// a system-assigned one runs on, `xms_az_rid`), named from its path
/// (`id-batch on vm-batch`). None when it names none.
fn described_identity(
    mirid: Option<&str>,
    az_rid: Option<&str>,
    appid: Option<&str>,
    oid: Option<&str>,
    catalog: &Catalog,
) -> Option<Identity> {
    let any = mirid.or(az_rid)?;
    let mut id = identify::classify(
        &Claims {
            appid,
            oid,
            mirid: Some(any),
            ..Default::default()
        },
        catalog,
    );
    if let (Some(m), Some(on)) = (mirid, az_rid) {
        id.name = Some(format!(
            "{} on {}",
            identify::mi_name(m),
            identify::mi_name(on)
        ));
    }
    Some(id)
}

fn build(
    d: Draft,
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    resolved: Option<DateTime<Utc>>,
    extra_hints: Vec<String>,
) -> Denial {
    let k = knowledge();
    if d.managed_hsm {
        return build_hsm(d, count, first, last, resolved, extra_hints);
    }
    let op = d
        .operation
        .as_deref()
        .and_then(|o| k.operation(o))
        .or_else(|| d.action.as_deref().and_then(|a| k.by_action(a)));
    let action = d
        .action
        .clone()
        .or_else(|| op.and_then(|o| o.data_action.clone()));
    let object_type = d
        .object_type
        .clone()
        .or_else(|| op.map(|o| o.object_type.clone()));
    let scope = scope(
        d.resource_id.as_deref(),
        d.vault.as_deref(),
        object_type.as_deref(),
        d.object_name.as_deref(),
    );
    let mut hints = Vec::new();
    // A data action the operation table does not list (a newer API
    // version): the narrowest built-in role whose dataActions cover it.
    let guessed = match (op, action.as_deref()) {
        (None, Some(a)) if Check::Action.allows(a) => k.narrowest_role_granting(a),
        _ => None,
    };
    if let (Some((r, pattern)), Some(a)) = (guessed, action.as_deref()) {
        hints.push(format!("kvaudit's operation table does not list {a}: {} is the narrowest built-in role whose dataActions ({pattern}) cover it. Check that a narrower custom role is not wanted.", r.name));
    }
    let role = op
        .and_then(|o| o.role.clone())
        .or_else(|| guessed.map(|(r, _)| r.name.clone()));
    let role_id = role
        .as_deref()
        .and_then(|r| k.role(r))
        .map(|r| r.id.clone());
    let permission = match (&d.policy_object, &d.policy_permission) {
        (Some(o), Some(p)) => Some(format!("{o}:{p}")),
        _ => op.and_then(|o| o.permission.clone()),
    };
    let command = match d.denial {
        DenialClass::Rbac => {
            let cmd = ShellCommand::new(&["az", "role", "assignment", "create"]);
            let cmd = match &role {
                Some(r) => cmd.fixed(&["--role", r]),
                None => match action.as_deref() {
                    Some(a) if !Check::Action.allows(a) => {
                        cmd.value("--role", Check::Action, "action", a)
                    }
                    a => cmd.fixed(&[
                        "--role",
                        &format!("<a role granting {}>", a.unwrap_or("the action")),
                    ]),
                },
            };
            let cmd = with_assignee(cmd, &d);
            Some(cmd.value("--scope", Check::Scope, "scope", &scope))
        }
        DenialClass::AccessPolicy => {
            // A text that names no permission ("Caller was not found on
            // any access policy") and no operation: the user says which.
            let (obj, perm) = permission
                .as_deref()
                .and_then(|p| p.split_once(':'))
                .map_or(("secrets".into(), String::new()), |(o, p)| {
                    (o.to_string(), p.to_string())
                });
            let flag = match obj.trim_end_matches('s') {
                "key" => "--key-permissions",
                "certificate" => "--certificate-permissions",
                "storage" => "--storage-permissions",
                _ => "--secret-permissions",
            };
            let cmd = ShellCommand::new(&["az", "keyvault", "set-policy"]).value_or(
                "--name",
                Check::VaultName,
                "vault name",
                d.vault.as_deref(),
                "<vault>",
            );
            let cmd = match (&d.principal.oid, &d.principal.appid) {
                (Some(oid), _) => cmd.value("--object-id", Check::Guid, "object id", oid),
                (None, Some(appid)) => cmd.value("--spn", Check::Guid, "application id", appid),
                _ => cmd.fixed(&["--object-id", "<principal>"]),
            };
            hints.push("This vault uses the access-policy permission model: RBAC role assignments have no effect on its data plane; grant an access policy (or migrate the vault to RBAC).".into());
            // A Databricks Key Vault-backed scope lists the vault's secrets
            // as well as reading them: it needs both (Databricks' secret
            // scope documentation; data/first-party-apps-keyvault.csv).
            let databricks = d.principal.appid.as_deref() == Some(DATABRICKS_APPID);
            if databricks && flag == "--secret-permissions" {
                hints.push("A Databricks Key Vault-backed secret scope needs both get and list on the vault's secrets: the fix grants both.".into());
                Some(cmd.fixed(&[flag, "get", "list"]))
            } else if perm.is_empty() {
                hints.push("The text names neither the operation nor the permission: the caller has no access policy on this vault at all. Grant the permissions it needs (for reading secrets: get, and list if it enumerates them).".into());
                Some(cmd.fixed(&[flag, "<permissions>"]))
            } else {
                Some(cmd.value(flag, Check::Permission, "permission", &perm))
            }
        }
        DenialClass::Firewall => {
            let ip = d.client_address.as_deref();
            hints.push(format!("Denied by the vault's network rules, not by identity: no role assignment or access policy fixes this. The request came from {}; add its address to the vault's firewall, or reach the vault through a private endpoint, or allow trusted Microsoft services.", ip.map_or_else(|| "an address the log does not give".into(), shown)));
            Some(
                ShellCommand::new(&["az", "keyvault", "network-rule", "add"])
                    .value_or(
                        "--name",
                        Check::VaultName,
                        "vault name",
                        d.vault.as_deref(),
                        "<vault>",
                    )
                    .value_or(
                        "--ip-address",
                        Check::IpAddress,
                        "client address",
                        ip,
                        "<client-ip>",
                    ),
            )
        }
        DenialClass::PrivateLink => {
            hints.push(format!("Refused by the vault's network configuration, not by identity: no role assignment or access policy fixes this. Either public network access is disabled and the request came from {} over the public endpoint, or it came through a private endpoint that does not serve this vault (its DNS record or Host header points elsewhere). Call from a network with a private endpoint to the vault and check that {}.vault.azure.net resolves to that endpoint's private address (zone privatelink.vaultcore.azure.net); or allow trusted Microsoft services; or enable public access with firewall rules.", d.client_address.as_deref().map_or_else(|| "an address the log does not give".into(), shown), d.vault.as_deref().filter(|v| (3..=24).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).unwrap_or("<vault>")));
            None
        }
        DenialClass::NetworkPerimeter => {
            hints.push(perimeter_hint(&d));
            // The perimeter, its profile and resource group are not in the
            // vault's log: placeholders the user fills in.
            let ip = d
                .client_address
                .as_deref()
                .filter(|ip| Check::IpAddress.allows(ip))
                // One address: /32 for IPv4, /128 for IPv6.
                .map_or_else(
                    || "<client-ip>/32".to_string(),
                    |ip| format!("{ip}/{}", if ip.contains(':') { 128 } else { 32 }),
                );
            Some(
                ShellCommand::new(&[
                    "az",
                    "network",
                    "perimeter",
                    "profile",
                    "access-rule",
                    "create",
                ])
                .fixed(&[
                    "--resource-group",
                    "<perimeter-resource-group>",
                    "--perimeter-name",
                    "<perimeter>",
                    "--profile-name",
                    "<profile>",
                    "--name",
                    "<rule-name>",
                    "--address-prefixes",
                    &format!("[{ip}]"),
                ]),
            )
        }
        DenialClass::Condition => {
            hints.push(condition_hint(&d));
            // Shows the assignments the caller holds on the vault with
            // their conditions: the one to change is among them.
            let cmd = ShellCommand::new(&["az", "role", "assignment", "list"]);
            let cmd = match (&d.principal.oid, &d.principal.appid) {
                (Some(oid), _) => cmd.value("--assignee", Check::Guid, "object id", oid),
                (None, Some(appid)) => {
                    cmd.value("--assignee", Check::Guid, "application id", appid)
                }
                _ => cmd.fixed(&["--assignee", "<principal>"]),
            };
            Some(cmd.value("--scope", Check::Scope, "scope", &scope).fixed(&[
                "--include-inherited",
                "--query",
                CONDITION_QUERY,
            ]))
        }
        DenialClass::Throttled => None,
        DenialClass::Other => None,
    };
    let suspicious = suspicious_hint(command.as_ref());
    let fix = match (d.denial, &command) {
        (_, Some(c)) => c.render(),
        (DenialClass::Throttled, None) => "Reduce the request rate: cache secrets in the caller and retry with backoff (Key Vault service limits).".into(),
        (DenialClass::PrivateLink, None) => "Network (private endpoint, DNS, trusted services), not a role: see the hint.".into(),
        _ => "Read the logged description: this failure is not an authorization decision kvaudit recognises.".into(),
    };
    if let Some(s) = &suspicious {
        hints.insert(0, s.clone());
    }
    if matches!(
        d.denial,
        DenialClass::Rbac | DenialClass::AccessPolicy | DenialClass::Condition
    ) {
        match d.principal_kind {
            Kind::ServicePrincipal => {
                if let Some(a) = d.principal.appid.as_deref().filter(|a| command::is_guid(a)) {
                    hints.push(format!("The caller is an app-only service principal. Find it with `az ad sp show --id {a}` (it may be an Enterprise Application of another tenant, not an App Registration). In an externally triggered run (Airflow calling the Fabric job API, a pipeline) the caller is the identity that triggered it, not the workspace identity."));
                }
            }
            Kind::MicrosoftApp if d.principal.appid.as_deref() == Some(DATABRICKS_APPID) => {
                hints.push("Databricks Key Vault-backed secret scopes reach the vault as the AzureDatabricks application: grant that application, not the notebook user (granting the user does nothing).".into());
            }
            Kind::ManagedIdentity => {
                hints.push(format!(
                    "The caller is the managed identity {}: grant its principal (object) id, not the developer's account.",
                    d.principal.name.as_deref().unwrap_or("")
                ));
            }
            _ => {}
        }
    }
    if resolved.is_some() {
        hints.push(RESOLVED_HINT.into());
    }
    hints.extend(extra_hints);
    Denial {
        denial: d.denial.as_str().into(),
        vault: d.vault,
        operation: d.operation.or_else(|| op.map(|o| o.name.clone())),
        action,
        principal: d.principal,
        object_type,
        object_name: d.object_name,
        scope,
        role: if matches!(d.denial, DenialClass::Rbac) {
            role
        } else {
            None
        },
        role_id: if matches!(d.denial, DenialClass::Rbac) {
            role_id
        } else {
            None
        },
        permission: if matches!(d.denial, DenialClass::AccessPolicy) {
            permission
        } else {
            None
        },
        fix,
        suspicious: suspicious.is_some(),
        count,
        first_seen: first.map(|t| format_time(&t)),
        last_seen: last.map(|t| format_time(&t)),
        resolved_at: resolved.map(|t| format_time(&t)),
        client_address: d.client_address,
        hints,
        existing_assignments: Vec::new(),
    }
}

/// The role assignment's assignee: the object id with its principal type,
/// else the application id, else a placeholder.
fn with_assignee(cmd: ShellCommand, d: &Draft) -> ShellCommand {
    match (&d.principal.oid, &d.principal.appid) {
        (Some(oid), _) => cmd
            .value("--assignee-object-id", Check::Guid, "object id", oid)
            .fixed(&[
                "--assignee-principal-type",
                d.principal_kind.principal_type(),
            ]),
        (None, Some(appid)) => cmd.value("--assignee", Check::Guid, "application id", appid),
        _ => cmd.fixed(&["--assignee", "<principal>"]),
    }
}

/// Why a command could not be printed, as the denial's first hint.
fn suspicious_hint(command: Option<&ShellCommand>) -> Option<String> {
    command.and_then(ShellCommand::problem).map(|p| {
        format!("Suspicious record: {p}. Azure would not accept this value, so the request was probably crafted to inject text into tools that read the log; no command is printed.")
    })
}

/// JMESPath over `az role assignment list`: each assignment's id, role
/// and condition.
const CONDITION_QUERY: &str = "[].{id:id, role:roleDefinitionName, condition:condition}";

/// A perimeter's refusal: the inbound rule to add, from the client
/// address when the log gives one.
fn perimeter_hint(d: &Draft) -> String {
    let ip = d
        .client_address
        .as_deref()
        .filter(|ip| Check::IpAddress.allows(ip));
    let perimeter = d
        .perimeter
        .as_deref()
        .map(|p| match crate::parse::is_guid(p) {
            true => format!(" (xms_az_nwperimid {p})"),
            false => format!(" (xms_az_nwperimid {})", shown(p)),
        })
        .unwrap_or_default();
    format!(
        "Refused by the network security perimeter the vault is associated with{perimeter}, not by identity: no role assignment or access policy fixes this, and the perimeter's rules override the vault's own firewall. The request came from {}. The command adds an inbound access rule for that address to the perimeter profile the vault is associated with: fill in the perimeter (the one whose perimeterGuid is the id above, in `az network perimeter list`), its resource group and the vault's profile; for Azure callers a subscription rule (--subscriptions) may fit better. To see what else the perimeter refuses, enable its NspPublicInboundPerimeterRulesDenied logs, or move the vault's association to Transition (learning) mode while you fix the rules.",
        ip.map_or_else(|| "an address the log does not give".into(), str::to_string),
    )
}

/// A condition that failed: which assignment, and that the condition
/// changes, not the role.
fn condition_hint(d: &Draft) -> String {
    let which = match d.assignment.as_deref() {
        // Its name (the GUID) and where it is, short enough to read whole.
        Some(a) if Check::AssignmentId.allows(a) || crate::parse::is_guid(a) => {
            let name = a.trim_end_matches('/').rsplit('/').next().unwrap_or(a);
            let lower = a.to_ascii_lowercase();
            match lower.find("/providers/microsoft.authorization/") {
                Some(i) if i > 0 => format!("the role assignment {name} (at {})", {
                    let segs: Vec<&str> = a[..i].trim_matches('/').rsplit('/').take(2).collect();
                    format!(
                        "{}/{}",
                        segs.get(1).unwrap_or(&""),
                        segs.first().unwrap_or(&"")
                    )
                }),
                _ => format!("the role assignment {name}"),
            }
        }
        Some(a) => format!("the role assignment {}", shown(a)),
        None => "a role assignment".to_string(),
    };
    let reason = d
        .decision_reason
        .as_deref()
        .map(|r| format!(" (DecisionReason: {})", shown(r)))
        .unwrap_or_default();
    format!(
        "Denied by a condition, not by a missing role: {which} matches this caller and action{reason}, but its condition (attribute-based access control, e.g. on the vault or secret name) was not met by this request. Change that assignment's condition to cover the request, or read through the object the condition allows; creating another assignment of the same role changes nothing if it carries the same condition. The command lists the caller's assignments with their conditions."
    )
}

const RESOLVED_HINT: &str = "A later request by the same principal for the same action succeeded: resolved (role assignments can take several minutes to propagate).";

/// A Managed HSM denial: every data-plane 403 is a local RBAC decision
/// (no access policies, no Azure role on the resource grants key use), fixed
/// with `az keyvault role assignment create --hsm-name` at `/keys/<name>`.
fn build_hsm(
    d: Draft,
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    resolved: Option<DateTime<Utc>>,
    extra_hints: Vec<String>,
) -> Denial {
    let k = knowledge();
    let op = d.operation.as_deref().and_then(|o| k.hsm_operation(o));
    // Managed HSM's own action names (`.../managedHsm/keys/sign/action`).
    let action = op.and_then(|o| o.data_action.clone()).or(d.action.clone());
    let object_type = d
        .object_type
        .clone()
        .or_else(|| op.map(|o| o.object_type.clone()));
    let scope = match (object_type.as_deref(), d.object_name.as_deref()) {
        (Some("key"), Some(n)) => format!("/keys/{n}"),
        (Some("key"), None) => "/keys".to_string(),
        _ => "/".to_string(),
    };
    let role = op.and_then(|o| o.role.clone());
    let role_id = role
        .as_deref()
        .and_then(|r| k.role(r))
        .map(|r| r.id.clone());
    let denial = match d.denial {
        DenialClass::Firewall
        | DenialClass::PrivateLink
        | DenialClass::NetworkPerimeter
        | DenialClass::Throttled => d.denial,
        _ => DenialClass::Rbac,
    };
    let mut hints = Vec::new();
    let command = match denial {
        DenialClass::Rbac => {
            let cmd = ShellCommand::new(&["az", "keyvault", "role", "assignment", "create"])
                .value_or(
                    "--hsm-name",
                    Check::VaultName,
                    "Managed HSM name",
                    d.vault.as_deref(),
                    "<hsm-name>",
                );
            let cmd = match &role {
                Some(r) => cmd.fixed(&["--role", r]),
                None => cmd.fixed(&["--role", "<a Managed HSM role granting the action>"]),
            };
            let cmd = with_assignee(cmd, &d);
            hints.push("Managed HSM authorises data-plane requests with its own local RBAC: Key Vault roles, access policies and Azure role assignments on the resource grant no key operations. Assign a Managed HSM role at the key (or /keys) scope.".into());
            Some(cmd.value("--scope", Check::HsmScope, "scope", &scope))
        }
        DenialClass::Firewall => {
            let ip = d.client_address.as_deref();
            hints.push(format!("Denied by the Managed HSM's network rules, not by identity. The request came from {}; allow its address or reach the HSM through a private endpoint.", ip.map_or_else(|| "an address the log does not give".into(), shown)));
            None
        }
        _ => None,
    };
    let suspicious = suspicious_hint(command.as_ref());
    if let Some(s) = &suspicious {
        hints.insert(0, s.clone());
    }
    if resolved.is_some() {
        hints.push(RESOLVED_HINT.into());
    }
    hints.extend(extra_hints);
    let fix = match (&command, denial) {
        (Some(c), _) => c.render(),
        (None, DenialClass::Throttled) => "Reduce the request rate: cache keys and retry with backoff (Managed HSM service limits).".into(),
        (None, d) if d.is_network() => "Network rules, not a role: see the hint.".into(),
        _ => "Read the logged description: this failure is not an authorization decision kvaudit recognises.".into(),
    };
    Denial {
        denial: denial.as_str().into(),
        vault: d.vault,
        operation: d.operation.or_else(|| op.map(|o| o.name.clone())),
        action,
        principal: d.principal,
        object_type,
        object_name: d.object_name,
        scope,
        role: role.filter(|_| denial == DenialClass::Rbac),
        role_id: role_id.filter(|_| denial == DenialClass::Rbac),
        permission: None,
        fix,
        suspicious: suspicious.is_some(),
        count,
        first_seen: first.map(|t| format_time(&t)),
        last_seen: last.map(|t| format_time(&t)),
        resolved_at: resolved.map(|t| format_time(&t)),
        client_address: d.client_address,
        hints,
        existing_assignments: Vec::new(),
    }
}

/// Result of explaining logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Explanation {
    pub denials: Vec<Denial>,
    pub not_denials: NotDenials,
}

/// One finding per (denial kind, vault, principal, action, object).
pub fn explain(events: &[Event], catalog: &Catalog) -> Explanation {
    let mut fold = ExplainFold::default();
    for e in events {
        fold.add(e);
    }
    fold.finish(catalog)
}

type GroupKey = (
    DenialClass,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
use crate::event::CallerId;

struct Group {
    draft: Draft,
    caller: CallerId,
    count: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// [`explain`] one event at a time: keeps the denial groups, the success
/// times per (principal, operation, vault, object) for `resolved_at`, and
/// which callers succeeded on which object (S5), never the events.
#[derive(Default)]
pub struct ExplainFold {
    ids: identify::IdentityFold,
    /// The caller identities are gathered elsewhere (the report's callers
    /// fold holds the same claims) and given to [`ExplainFold::finish_with`].
    ids_elsewhere: bool,
    noise: NotDenials,
    groups: BTreeMap<GroupKey, Group>,
    /// Every success, for `resolved_at` and S5.
    success: SuccessFold,
    /// Events folded so far (the order of the next).
    seq: u64,
    /// DescriptionFacts descriptions by digest.
    parsed: crate::collections::Map<u64, DescriptionFacts>,
}

/// What an explanation needs of the successful requests: when each
/// (principal, action, object) succeeded (`resolved_at`) and which users
/// succeeded on each object (S5). It merges, so each parsing thread can fold
/// the successes of its own events (see [`ExplainFold::add_successes`]).
#[derive(Default)]
pub struct SuccessFold {
    /// (digest of (principal, operation, vault, object), time) of every
    /// success.
    successes: Successes,
    /// The successes of parts merged in, each with its own spill file.
    merged: Vec<Successes>,
    /// The first success of each caller with delegated claims on each
    /// (vault, object) (only users can be "the laptop" of S5).
    succeeded: Succeeded,
}

impl SuccessFold {
    /// Folds in a successful request (2xx); `order` is its place in the
    /// input.
    pub fn add(&mut self, e: &Event, order: u64) {
        let principal = e.caller_oid.as_deref().or(e.caller_appid.as_deref());
        self.successes.add(
            success_key(
                principal,
                &e.operation,
                e.vault.as_deref(),
                e.object_name.as_deref(),
            ),
            nanos(e.time),
        );
        if identify::delegated(e) {
            let object = object_key(e.vault.as_deref(), e.object_name.as_deref());
            let d = crate::collections::digest(&(
                object,
                e.caller_appid.as_deref(),
                e.caller_oid.as_deref(),
                e.caller_upn.as_deref(),
            ));
            self.succeeded
                .entry(d)
                .and_modify(|f| f.order = f.order.min(order))
                .or_insert_with(|| FirstSuccess {
                    object,
                    caller: crate::event::caller_id(e),
                    order,
                });
        }
    }

    /// [`SuccessFold::add`] for events like `e`, each of `rows` making
    /// one of them (in input order).
    pub fn add_rows(&mut self, e: &mut Event, rows: &[crate::event::Occurrence]) {
        let Some(first) = rows.first() else { return };
        first.apply(e);
        self.add(e, first.order);
        let principal = e.caller_oid.as_deref().or(e.caller_appid.as_deref());
        let key = success_key(
            principal,
            &e.operation,
            e.vault.as_deref(),
            e.object_name.as_deref(),
        );
        for r in &rows[1..] {
            self.successes.add(key, nanos(r.time));
        }
    }

    /// Merges another part's successes in.
    pub fn merge(&mut self, other: SuccessFold) {
        self.merged.push(other.successes);
        self.merged.extend(other.merged);
        for (d, f) in other.succeeded {
            self.succeeded
                .entry(d)
                .and_modify(|mine| mine.order = mine.order.min(f.order))
                .or_insert(f);
        }
    }

    /// For each key and each of its times `last`, the first success after
    /// `last`, over every part.
    fn first_after(
        &mut self,
        wanted: &crate::collections::Map<u64, Vec<i64>>,
    ) -> crate::collections::Map<(u64, i64), i64> {
        let mut out = self.successes.first_after(wanted);
        for s in &mut self.merged {
            for (k, t) in s.first_after(wanted) {
                out.entry(k).and_modify(|m| *m = (*m).min(t)).or_insert(t);
            }
        }
        out
    }
}

/// Digest of (object, caller) → the caller's first success on the object.
type Succeeded = crate::collections::DigestMap<FirstSuccess>;

struct FirstSuccess {
    /// [`object_key`] of the (vault, object).
    object: u64,
    caller: CallerId,
    order: u64,
}

/// The digest a (vault, object) is known by (in `Succeeded`, and in the
/// findings' distinct secrets per day).
pub fn object_key(vault: Option<&str>, object: Option<&str>) -> u64 {
    crate::collections::digest(&(vault, object))
}

/// The success key of a denial group's principal, action and object.
fn group_success_key(d: &Draft) -> u64 {
    success_key(
        d.principal.oid.as_deref().or(d.principal.appid.as_deref()),
        d.operation.as_deref().unwrap_or(""),
        d.vault.as_deref(),
        d.object_name.as_deref(),
    )
}

/// How many success times are held in memory before they are written to a
/// temporary file (16 bytes each: 1 MiB, which stays in cache).
const SUCCESSES_HELD: usize = 1 << 16;

/// The (key, time) of every success. Up to [`SUCCESSES_HELD`] are kept in
/// memory; beyond that they go to an unnamed temporary file, read back once
/// at the end, so memory stays flat however many successes the input holds
/// while `resolved_at` stays exact.
struct Successes {
    /// How many are held before spilling.
    hold: usize,
    held: Vec<(u64, i64)>,
    /// The bytes of the held records, as written to the file.
    bytes: Vec<u8>,
    spill: Option<std::fs::File>,
    /// Writing to the temporary file failed: everything stays in memory.
    in_memory_only: bool,
}

impl Default for Successes {
    fn default() -> Self {
        // KVAUDIT_SPILL_AT lowers the bound (tests spill small inputs).
        let hold = std::env::var("KVAUDIT_SPILL_AT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(SUCCESSES_HELD);
        Successes {
            hold,
            held: Vec::new(),
            bytes: Vec::new(),
            spill: None,
            in_memory_only: false,
        }
    }
}

impl Successes {
    fn add(&mut self, key: u64, t: i64) {
        self.held.push((key, t));
        if self.held.len() >= self.hold && !self.in_memory_only {
            self.spill();
        }
    }

    fn spill(&mut self) {
        use std::io::Write;
        let f = match &mut self.spill {
            Some(f) => f,
            None => match tempfile::tempfile() {
                Ok(f) => self.spill.insert(f),
                Err(e) => return self.keep_in_memory(&e),
            },
        };
        // One buffer, reused: the held records and it stay in cache.
        self.bytes.clear();
        for (k, t) in &self.held {
            self.bytes.extend_from_slice(&k.to_le_bytes());
            self.bytes.extend_from_slice(&t.to_le_bytes());
        }
        if let Err(e) = f.write_all(&self.bytes) {
            return self.keep_in_memory(&e);
        }
        self.held.clear();
    }

    fn keep_in_memory(&mut self, e: &std::io::Error) {
        crate::output::note!("kvaudit: warning: cannot write success times to a temporary file ({e}); keeping them in memory");
        self.in_memory_only = true;
    }

    /// For each key and each of its times `last`, the first success after
    /// `last`, keyed by (key, last).
    fn first_after(
        &mut self,
        wanted: &crate::collections::Map<u64, Vec<i64>>,
    ) -> crate::collections::Map<(u64, i64), i64> {
        let mut out: crate::collections::Map<(u64, i64), i64> = Default::default();
        let mut see = |k: u64, t: i64| {
            if let Some(lasts) = wanted.get(&k) {
                for &last in lasts {
                    if t > last {
                        out.entry((k, last))
                            .and_modify(|m| *m = (*m).min(t))
                            .or_insert(t);
                    }
                }
            }
        };
        for (k, t) in &self.held {
            see(*k, *t);
        }
        if let Some(w) = self.spill.take() {
            if let Err(e) = read_spill(w, &mut see) {
                crate::output::note!("kvaudit: warning: cannot read success times back from the temporary file ({e}); some resolved_at may be missing");
            }
        }
        out
    }
}

/// Reads the (key, time) records of a spill file.
fn read_spill(mut f: std::fs::File, see: &mut impl FnMut(u64, i64)) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    f.rewind()?;
    let mut buf = vec![0u8; 1 << 20];
    // Bytes of a record split across two reads.
    let mut have = 0;
    loop {
        let n = f.read(&mut buf[have..])?;
        if n == 0 {
            return Ok(());
        }
        have += n;
        let whole = have - have % 16;
        for rec in buf[..whole].chunks_exact(16) {
            let (mut k, mut t) = ([0u8; 8], [0u8; 8]);
            k.copy_from_slice(&rec[..8]);
            t.copy_from_slice(&rec[8..]);
            see(u64::from_le_bytes(k), i64::from_le_bytes(t));
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
    }
}

fn success_key(
    principal: Option<&str>,
    op: &str,
    vault: Option<&str>,
    object: Option<&str>,
) -> u64 {
    crate::collections::digest(&(principal, op, vault, object))
}

impl crate::pipeline::Sink for ExplainFold {
    fn event(&mut self, e: Event) -> crate::error::Result<()> {
        self.add(&e);
        Ok(())
    }
}

#[cfg(test)]
mod fold_tests {
    use super::*;

    /// Spilled or held, the first success after each time is exact.
    #[test]
    fn spilled_successes_answer_exactly() {
        let mut s = Successes {
            hold: 7,
            ..Default::default()
        };
        let mut all = Vec::new();
        for i in 0..1000i64 {
            let (k, t) = ((i % 13) as u64, (i * 7919) % 1009);
            s.add(k, t);
            all.push((k, t));
        }
        assert!(s.spill.is_some(), "spilled");
        let mut wanted: crate::collections::Map<u64, Vec<i64>> = Default::default();
        for k in 0..15u64 {
            wanted.insert(k, vec![-1, 500, 1008]);
        }
        let got = s.first_after(&wanted);
        for (k, lasts) in &wanted {
            for last in lasts {
                let want = all
                    .iter()
                    .filter(|(kk, t)| kk == k && t > last)
                    .map(|(_, t)| *t)
                    .min();
                assert_eq!(got.get(&(*k, *last)).copied(), want, "{k} {last}");
            }
        }
    }

    #[test]
    fn success_keys_tell_missing_from_empty() {
        assert_ne!(
            success_key(None, "SecretGet", Some("kv"), None),
            success_key(Some(""), "SecretGet", Some("kv"), None)
        );
        assert_eq!(
            success_key(Some("o"), "SecretGet", Some("kv"), Some("s")),
            success_key(Some("o"), "SecretGet", Some("kv"), Some("s"))
        );
    }
}

impl ExplainFold {
    /// Folds one event in; returns the denial kind when it is a denial.
    /// Merges in the successes of events folded elsewhere (a report folds
    /// them on its parsing threads and hands only the other events here).
    pub fn add_successes(&mut self, s: SuccessFold) {
        self.success.merge(s);
    }

    /// A fold that leaves the caller identities to another fold of the same
    /// events: finished with [`ExplainFold::finish_with`].
    pub fn without_identities() -> Self {
        ExplainFold {
            ids_elsewhere: true,
            ..Default::default()
        }
    }

    pub fn add(&mut self, e: &Event) -> Option<DenialClass> {
        if !self.ids_elsewhere {
            self.ids.add(e);
        }
        if e.succeeded() {
            self.seq += 1;
            self.success.add(e, self.seq);
            return None;
        }
        let cache = &mut self.parsed;
        let (denial, parsed) = classify_with(e, &mut self.noise, |text| {
            let k = crate::collections::digest(text);
            if let Some(p) = cache.get(&k) {
                return p.clone();
            }
            let p = parse_description(text);
            // Descriptions repeat per (caller, action, resource): a bounded
            // cache saves the regexes on retries.
            if cache.len() < 50_000 {
                cache.insert(k, p.clone());
            }
            p
        })?;
        // Only for denials: most failures are noise (401, 404).
        let caller = crate::event::caller_id(e);
        let appid = e
            .caller_appid
            .as_deref()
            .map(str::to_string)
            .or(parsed.appid.clone());
        let oid = e
            .caller_oid
            .as_deref()
            .map(str::to_string)
            .or(parsed.oid.clone());
        let vault = e
            .vault
            .as_deref()
            .map(str::to_string)
            .or(parsed.vault.clone());
        let action = parsed.action.clone().or_else(|| {
            knowledge()
                .operation(&e.operation)
                .and_then(|o| o.data_action.clone())
        });
        let key: GroupKey = (
            denial,
            vault.clone(),
            e.principal_key().map(str::to_string).or(oid.clone()),
            action.clone(),
            e.object_name.as_deref().map(str::to_string),
        );
        let g = self.groups.entry(key).or_insert_with(|| Group {
            draft: Draft {
                denial,
                managed_hsm: e.is_managed_hsm(),
                vault,
                operation: Some(e.operation.to_string()),
                action,
                principal: DeniedPrincipal {
                    appid,
                    oid,
                    upn: e.caller_upn.as_deref().map(str::to_string),
                    tenant: e
                        .caller_tenant
                        .as_deref()
                        .map(str::to_string)
                        .or(parsed.tenant.clone()),
                    // Known once every event is seen (claims merge).
                    kind: String::new(),
                    name: None,
                },
                principal_kind: Kind::Unknown,
                object_type: e.object_type.as_deref().map(str::to_string),
                object_name: e.object_name.as_deref().map(str::to_string),
                resource_id: e
                    .resource_id
                    .as_deref()
                    .map(str::to_string)
                    .or(parsed.resource.clone()),
                client_address: client_address(&parsed, e).filter(|_| denial.is_network()),
                policy_object: parsed.policy_object.clone(),
                policy_permission: parsed.policy_permission.clone(),
                assignment: parsed
                    .assignment
                    .as_deref()
                    .and_then(classify::assignment_named),
                decision_reason: parsed.decision_reason.clone(),
                perimeter: parsed.perimeter.clone(),
                mirid: parsed.mirid.clone(),
                az_rid: parsed.az_rid.clone(),
            },
            caller,
            count: 0,
            first: e.time,
            last: e.time,
        });
        // A later record of the group may carry what the first lacked (or
        // carried forged): a perimeter id, a valid client address.
        if g.count > 0 {
            let d = &mut g.draft;
            if !d.perimeter.as_deref().is_some_and(crate::parse::is_guid)
                && parsed
                    .perimeter
                    .as_deref()
                    .is_some_and(crate::parse::is_guid)
            {
                d.perimeter.clone_from(&parsed.perimeter);
            }
            let valid =
                |a: &Option<String>| a.as_deref().is_some_and(|a| Check::IpAddress.allows(a));
            if denial.is_network() && !valid(&d.client_address) {
                let next = client_address(&parsed, e);
                if valid(&next) {
                    d.client_address = next;
                }
            }
        }
        g.count += 1;
        g.first = g.first.min(e.time);
        g.last = g.last.max(e.time);
        Some(denial)
    }

    /// The (appid, oid) of every caller seen, for `--resolve`.
    pub fn principals(&self) -> Vec<(Option<&str>, Option<&str>)> {
        self.ids.principals()
    }

    pub fn finish(self, catalog: &Catalog) -> Explanation {
        let ids = self.ids.identities(catalog);
        self.finish_with(catalog, &ids)
    }

    /// [`ExplainFold::finish`] with the identity of every caller of the
    /// events folded, gathered by another fold.
    pub fn finish_with(
        mut self,
        catalog: &Catalog,
        ids: &HashMap<identify::CallerKey, Identity>,
    ) -> Explanation {
        let laptop_hints = laptop_vs_deployed(&self.success.succeeded, ids);
        // The first success after each group's last denial, in one pass.
        let keys: Vec<u64> = self
            .groups
            .values()
            .map(|g| group_success_key(&g.draft))
            .collect();
        let mut wanted: crate::collections::Map<u64, Vec<i64>> = Default::default();
        for (k, g) in keys.iter().zip(self.groups.values()) {
            wanted.entry(*k).or_default().push(nanos(g.last));
        }
        let first_after = self.success.first_after(&wanted);
        let findings = self
            .groups
            .into_values()
            .zip(keys)
            .map(|(g, key)| {
                let mut d = g.draft;
                let id: Identity = ids
                    .get(&identify::owned_key(&g.caller))
                    .cloned()
                    .unwrap_or_default();
                let (appid, oid) = (d.principal.appid.as_deref(), d.principal.oid.as_deref());
                // The description names the managed identity that called:
                // it wins over claims that would say service_principal.
                let described = (id.kind != Kind::ManagedIdentity)
                    .then(|| {
                        described_identity(
                            d.mirid.as_deref(),
                            d.az_rid.as_deref(),
                            appid,
                            oid,
                            catalog,
                        )
                    })
                    .flatten();
                let id = if let Some(described) = described {
                    described
                } else if id.kind == Kind::Unauthenticated && (appid.is_some() || oid.is_some()) {
                    identify::classify(
                        &Claims {
                            appid,
                            oid,
                            ..Default::default()
                        },
                        catalog,
                    )
                } else {
                    id
                };
                d.principal.kind = id.kind.as_str().into();
                d.principal.name = id.name.clone();
                d.principal_kind = id.kind;
                let resolved = first_after
                    .get(&(key, nanos(g.last)))
                    .copied()
                    .map(DateTime::from_timestamp_nanos);
                let extra = laptop_hints
                    .get(&object_key(d.vault.as_deref(), d.object_name.as_deref()))
                    .filter(|_| !d.principal_kind.is_user())
                    .cloned()
                    .into_iter()
                    .collect();
                build(d, g.count, Some(g.first), Some(g.last), resolved, extra)
            })
            .collect();
        Explanation {
            denials: findings,
            not_denials: self.noise,
        }
    }
}

/// S5: a user read the object successfully (laptop, Azure CLI / VS Code)
/// while a non-user identity was denied it. The first user to succeed on
/// each (vault, object) is named.
fn laptop_vs_deployed(
    succeeded: &Succeeded,
    ids: &HashMap<identify::CallerKey, Identity>,
) -> HashMap<u64, String> {
    // Per object, the user who succeeded first.
    let mut first: HashMap<u64, (u64, &CallerId, &Identity)> = HashMap::new();
    for f in succeeded.values() {
        let Some(id) = ids.get(&identify::owned_key(&f.caller)) else {
            continue;
        };
        if !id.kind.is_user() {
            continue;
        }
        first
            .entry(f.object)
            .and_modify(|m| {
                if f.order < m.0 {
                    *m = (f.order, &f.caller, id);
                }
            })
            .or_insert((f.order, &f.caller, id));
    }
    first
        .into_iter()
        .map(|(object, (_, c, id))| {
            let hint = format!(
                "Works on a laptop, fails in Azure: {} read this successfully as a user{}; the deployed code runs as a different principal. A role granted to the developer does not cover the deployed identity (DefaultAzureCredential picks the managed identity in Azure).",
                c.2.as_deref().unwrap_or("someone"),
                id.client_app.as_deref().map(|c| format!(" through {c}")).unwrap_or_default()
            );
            (object, hint)
        })
        .collect()
}

/// The client address of a network denial: the description's when Azure
/// would accept it, else the record's caller address when valid, else
/// whatever the description says (shown, never put in a command).
fn client_address(parsed: &DescriptionFacts, e: &Event) -> Option<String> {
    let ok = |a: &&str| Check::IpAddress.allows(a);
    parsed
        .client_address
        .as_deref()
        .filter(ok)
        .or(e.caller_ip.as_deref().filter(ok))
        .or(parsed.client_address.as_deref())
        .or(e.caller_ip.as_deref())
        .map(str::to_string)
}

/// JSON escapes undone (up to twice nested): `\r\n`, `\n`, `\"`,
/// `\/` and `\\`, so wrapped descriptions read like logged ones.
fn unescape_pasted(text: &str) -> String {
    let mut s = text.to_string();
    for _ in 0..2 {
        if !s.contains('\\') {
            break;
        }
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(e @ ('"' | '/' | '\\' | '\'')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        s = out;
    }
    s
}

/// The key of `... with scope S and key K` (Databricks), when it is a
/// plausible Key Vault object name.
fn databricks_key(text: &str) -> Option<String> {
    let i = text.find(" and key ")?;
    let key: String = text[i + 9..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!key.is_empty() && key.len() <= 127 && text[..i].contains("with scope ")).then_some(key)
}

/// Explains a pasted error message. None when it is not a Key Vault
/// authorization error.
pub fn explain_message(text: &str, catalog: &Catalog) -> Option<Denial> {
    // SDKs and tools wrap the vault's JSON body in their own messages,
    // sometimes escaped once or twice (Java's `Status code 403, "{...}"`,
    // Go autorest's `Message="...\r\n..."`, .NET's `Content:`).
    let unescaped = unescape_pasted(text);
    let text = unescaped.as_str();
    let p = parse_description(text);
    let denial = p.kind?;
    // A description naming a managed identity (`xms_mirid`), or the
    // resource a system-assigned one runs on (`xms_az_rid`), says who the
    // caller is whatever the other claims suggest.
    let (appid, oid) = (p.appid.as_deref(), p.oid.as_deref());
    let mut id = described_identity(p.mirid.as_deref(), p.az_rid.as_deref(), appid, oid, catalog)
        .unwrap_or_else(|| {
            identify::classify(
                &Claims {
                    appid,
                    oid,
                    ..Default::default()
                },
                catalog,
            )
        });
    // A pasted error without caller ids (Fabric's Py4JJavaError, an SDK's
    // message) does not say who called: unknown, not unauthenticated.
    if appid.is_none() && oid.is_none() && p.mirid.is_none() && p.az_rid.is_none() {
        id.kind = Kind::Unknown;
    }
    let (object_type, object_name) = p
        .resource
        .as_deref()
        .and_then(|r| {
            let l = r.to_ascii_lowercase();
            let i = l.find("/vaults/")?;
            let mut segs = r[i + 8..].split('/').skip(1);
            let t = segs.next()?.trim_end_matches('s').to_ascii_lowercase();
            Some((Some(t), segs.next().map(str::to_string)))
        })
        .unwrap_or((None, None));
    // Databricks names the scope and the key (the vault's secret name):
    // `The SECRET function failed to find a secret with scope S and key K`.
    let object_name = object_name.or_else(|| databricks_key(text));
    let vault = p.vault.clone().or_else(|| {
        p.resource
            .as_deref()
            .and_then(crate::parse::vault_from_resource_id)
    });
    // An access-policy text names the permission (`secrets get`): the
    // operation is the one that needs it.
    let from_permission = match (&p.policy_object, &p.policy_permission) {
        (Some(obj), Some(perm)) => {
            let wanted = format!("{obj}:{}", perm.to_ascii_lowercase());
            crate::analyze::permissions::knowledge()
                .operations
                .iter()
                .find(|o| o.permission.as_deref() == Some(wanted.as_str()))
        }
        _ => None,
    };
    let lower = text.to_ascii_lowercase();
    // Notebook helpers name the operation: `credentials.getSecret` (Fabric
    // and Synapse mssparkutils / notebookutils), `dbutils.secrets.get`.
    let from_helper = (lower.contains("credentials.getsecret") || lower.contains("secrets.get"))
        .then(|| crate::analyze::permissions::knowledge().operation("SecretGet"))
        .flatten();
    let from_permission = from_permission.or(from_helper);
    let object_type = object_type.or_else(|| from_permission.map(|o| o.object_type.clone()));
    let d = Draft {
        denial,
        managed_hsm: false,
        vault,
        operation: from_permission.map(|o| o.name.clone()),
        action: p.action.clone(),
        principal: DeniedPrincipal {
            appid: p.appid.clone(),
            oid: p.oid.clone(),
            upn: None,
            tenant: p.tenant.clone(),
            kind: id.kind.as_str().into(),
            name: id.name.clone(),
        },
        principal_kind: id.kind,
        object_type,
        object_name,
        resource_id: p.resource.clone(),
        client_address: p.client_address.clone(),
        policy_object: p.policy_object.clone(),
        policy_permission: p.policy_permission.clone(),
        assignment: p.assignment.as_deref().and_then(classify::assignment_named),
        decision_reason: p.decision_reason.clone(),
        perimeter: p.perimeter.clone(),
        mirid: p.mirid.clone(),
        az_rid: p.az_rid.clone(),
    };
    let mut hints = Vec::new();
    let fabric = lower.contains("mssparkutils") || lower.contains("notebookutils");
    if id.kind == Kind::Unknown {
        if fabric {
            hints.push("This is a Fabric (or Synapse) notebook's error: the caller is the identity the notebook ran as, which the text does not give: the person who ran it interactively, the owner of the schedule that ran it, or the principal that triggered it through the job API (for example Airflow's service principal).".into());
        }
        hints.push("To find the caller: run `kvaudit explain` on the vault's AuditEvent export for that minute (or `queries/denials.kql` with the time filled in), or run `kvaudit token` on the token the notebook gets from `notebookutils.credentials.getToken('keyvault')` (`mssparkutils` on older runtimes) to see its appid, oid and upn. The fix above needs that identity and the vault filled in.".into());
    }
    if let (Kind::User | Kind::GuestUser, Some(tool)) = (id.kind, &id.client_app) {
        let oid = p
            .oid
            .as_deref()
            .filter(|o| o.len() == 36 && o.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
            .unwrap_or("<oid>");
        hints.push(format!("The caller is a person signed in through {tool} (its tokens are always a signed-in user's): the oid is that user's, not the tool's; `az ad user show --id {oid}` names them."));
    }
    Some(build(d, 1, None, None, None, hints))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55;oid=8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44;iss=https://sts.windows.net/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a/\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nResource: '/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv1/secrets/db'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: kv1;location=westeurope\r\n";

    #[test]
    fn long_rbac() {
        let p = parse_description(LONG);
        assert_eq!(p.kind, Some(DenialClass::Rbac));
        assert_eq!(
            p.appid.as_deref(),
            Some("3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55")
        );
        assert_eq!(
            p.oid.as_deref(),
            Some("8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44")
        );
        assert_eq!(
            p.tenant.as_deref(),
            Some("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")
        );
        assert_eq!(
            p.action.as_deref(),
            Some("Microsoft.KeyVault/vaults/secrets/getSecret/action")
        );
        assert_eq!(p.resource.as_deref(), Some("/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv1/secrets/db"));
        assert_eq!(p.assignment.as_deref(), Some("(not found)"));
        assert_eq!(p.decision_reason.as_deref(), Some("DeniedWithNoValidRBAC"));
        assert_eq!(
            (p.vault.as_deref(), p.location.as_deref()),
            (Some("kv1"), Some("westeurope"))
        );
    }

    #[test]
    fn short_rbac() {
        let p = parse_description("Caller is not authorized to perform action on resource.");
        assert_eq!(p.kind, Some(DenialClass::Rbac));
        assert_eq!(p.appid, None);
    }

    #[test]
    fn access_policy() {
        let p = parse_description("The user, group or application 'appid=a1;oid=o1;numgroups=2;iss=https://sts.windows.net/t1/' does not have keys purge permission on key vault 'kv-x;location=eastus'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287");
        assert_eq!(p.kind, Some(DenialClass::AccessPolicy));
        assert_eq!(
            (p.policy_object.as_deref(), p.policy_permission.as_deref()),
            (Some("keys"), Some("purge"))
        );
        assert_eq!(
            (
                p.vault.as_deref(),
                p.location.as_deref(),
                p.tenant.as_deref()
            ),
            (Some("kv-x"), Some("eastus"), Some("t1"))
        );
        assert_eq!(
            (p.appid.as_deref(), p.oid.as_deref()),
            (Some("a1"), Some("o1"))
        );
    }

    #[test]
    fn firewall() {
        let p = parse_description("Client address is not authorized and caller is not a trusted service.\r\nClient address: 52.14.7.9 from unknown subnet\r\nCaller: appid=a;oid=o;iss=https://sts.windows.net/t/\r\nVault: kv-locked;location=westeurope");
        assert_eq!(p.kind, Some(DenialClass::Firewall));
        assert_eq!(p.client_address.as_deref(), Some("52.14.7.9"));
        assert_eq!(p.vault.as_deref(), Some("kv-locked"));
    }

    #[test]
    fn pasted_one_line() {
        let c = Catalog::bundled();
        let f = explain_message("Caller: appid=3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55;oid=8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44 Action: Microsoft.KeyVault/vaults/secrets/getSecret/action innererror: ForbiddenByRbac", &c).unwrap();
        assert_eq!(f.denial, "rbac");
        assert_eq!(f.role.as_deref(), Some("Key Vault Secrets User"));
        assert_eq!(f.principal.kind, "service_principal");
        assert!(f.fix.starts_with("az role assignment create --role 'Key Vault Secrets User' --assignee-object-id 8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44 --assignee-principal-type ServicePrincipal --scope "));
    }

    #[test]
    fn garbage_is_not_a_denial() {
        assert_eq!(
            parse_description("ValueError: invalid literal for int()").kind,
            None
        );
        assert!(explain_message("", &Catalog::bundled()).is_none());
        assert!(
            explain_message("Caller: appid=\u{0}\u{1};oid= Action:", &Catalog::bundled()).is_none()
        );
    }
}
