//! What an access-policy vault needs before it is switched to RBAC: for
//! each principal the log shows succeeding there, the least built-in role
//! covering what it used, at the vault, with the command; what no built-in
//! role grants; and, given `az keyvault show`, how the existing access
//! policies compare with their use.

use super::access::Who;
use super::explain::command::{Check, ShellCommand};
use super::permissions::knowledge;
use super::rights::vault_scope;
use super::usage::Usage;
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One vault's plan (the public contract of `plan-rbac`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VaultPlan {
    pub vault: String,
    /// `access_policy`: only vaults whose records show that model are planned.
    pub permission_model: String,
    pub scope: Option<String>,
    pub principals: Vec<PlanPrincipal>,
    pub uncovered: Vec<Uncovered>,
    /// The last step, after every grant has propagated.
    pub switch_command: Option<String>,
    /// With `--vault-json`: the access policies against their use.
    pub policies: Option<PolicyReview>,
}

/// One role a principal needs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanPrincipal {
    pub principal: Who,
    /// Successful operations on the vault, by name.
    pub operations: BTreeMap<String, u64>,
    pub data_actions: Vec<String>,
    pub role: Option<String>,
    pub scope: Option<String>,
    pub command: Option<String>,
}

/// Operations no built-in data role grants.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Uncovered {
    pub principal: Who,
    pub operation: String,
    pub count: u64,
    pub advice: String,
}

/// `--vault-json`: each access policy against what its principal used.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct PolicyReview {
    /// Policies whose principal made no successful call in the window.
    pub unused_policies: Vec<PolicyFacts>,
    /// Policies used, with the permissions that never were.
    pub unused_permissions: Vec<PolicyFacts>,
    /// Principals denied on the vault in the window, with the operations.
    pub denied_principals: Vec<DeniedHere>,
}

/// An access policy, or the part of it the review is about.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PolicyFacts {
    pub object_id: String,
    /// `secrets:get`, `keys:sign`...
    pub permissions: Vec<String>,
}

/// A principal denied on the vault.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeniedHere {
    pub principal: Who,
    pub operations: BTreeMap<String, u64>,
}

/// The access policies of one vault, from `az keyvault show`.
#[derive(Debug, Clone, Default)]
pub struct VaultJson {
    pub name: String,
    pub rbac: Option<bool>,
    /// object id (lower case) -> `type:permission`.
    pub policies: Vec<(String, BTreeSet<String>)>,
}

/// Parses `az keyvault show` output (one vault object, or an array of them
/// as `az keyvault list` with details would give).
pub fn parse_vault_json(text: &str, path: &str) -> Result<Vec<VaultJson>> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::Other(format!(
            "{path}: expected the JSON printed by `az keyvault show --name NAME`: {e}"
        ))
    })?;
    let items = match v {
        serde_json::Value::Array(a) if a.is_empty() => {
            return Err(Error::Other(format!(
                "{path}: an empty array; expected a vault (az keyvault show --name NAME)"
            )))
        }
        serde_json::Value::Array(a) => a,
        o @ serde_json::Value::Object(_) => vec![o],
        _ => {
            return Err(Error::Other(format!(
                "{path}: expected a vault object (az keyvault show --name NAME)"
            )))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = item["name"].as_str().ok_or_else(|| {
                Error::Other(format!(
                    "{path}: record {}: expected a vault with a \"name\" (az keyvault show)",
                    i + 1
                ))
            })?;
            let props = &item["properties"];
            if !props["accessPolicies"].is_array() {
                return Err(Error::Other(format!(
                    "{path}: record {}: expected a vault with properties.accessPolicies (az keyvault show --name NAME)",
                    i + 1
                )));
            }
            let mut policies = Vec::new();
            for p in props["accessPolicies"].as_array().into_iter().flatten() {
                let Some(oid) = p["objectId"].as_str() else {
                    continue;
                };
                let mut perms = BTreeSet::new();
                for kind in ["keys", "secrets", "certificates", "storage"] {
                    for x in p["permissions"][kind].as_array().into_iter().flatten() {
                        if let Some(x) = x.as_str() {
                            perms.insert(format!("{kind}:{}", x.to_ascii_lowercase()));
                        }
                    }
                }
                policies.push((oid.to_ascii_lowercase(), perms));
            }
            Ok(VaultJson {
                name: name.to_ascii_lowercase(),
                rbac: props["enableRbacAuthorization"].as_bool(),
                policies,
            })
        })
        .collect()
}

fn principal_type(w: &Who) -> &'static str {
    if matches!(w.kind.as_str(), "user" | "guest_user") {
        "User"
    } else {
        "ServicePrincipal"
    }
}

/// The plan of every access-policy vault in `usage` (never of a vault
/// whose records carry `isRbacAuthorized`, nor of a Managed HSM).
pub fn plan(usage: &Usage, vault_json: &[VaultJson]) -> Vec<VaultPlan> {
    let k = knowledge();
    // The least role covering each set of actions, found once per set:
    // thousands of principals share a handful of sets.
    let mut least: HashMap<Vec<String>, Option<String>> = HashMap::new();
    let mut least_role = |actions: &[String]| {
        let mut key = actions.to_vec();
        key.sort_unstable();
        least
            .entry(key)
            .or_insert_with(|| k.least_role_covering(actions).map(|r| r.name.clone()))
            .clone()
    };
    let mut out = Vec::new();
    for (name, facts) in &usage.vaults {
        let Some(name) = name else { continue };
        if facts.managed_hsm || facts.rbac_records > 0 || facts.access_policy_records == 0 {
            continue;
        }
        let scope = facts.resource_id.as_deref().and_then(vault_scope);
        let mut principals = Vec::new();
        let mut uncovered = Vec::new();
        let mut denied = Vec::new();
        let mut used_by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (slot, vault, u) in &usage.uses {
            if vault.as_deref() != Some(name.as_str()) {
                continue;
            }
            let who = usage.who.get(*slot).cloned().unwrap_or_default();
            if !u.denied.is_empty() {
                denied.push(DeniedHere {
                    principal: who.clone(),
                    operations: u.denied.clone(),
                });
            }
            // Data actions by object type, so a principal using secrets and
            // keys gets a role for each when no one role covers both.
            let mut groups: BTreeMap<String, (BTreeMap<String, u64>, Vec<String>)> =
                BTreeMap::new();
            for (op, n) in &u.ok {
                let known = k.operation(op);
                if known.is_some_and(|o| o.object_type == "vault") {
                    continue;
                }
                if let (Some(oid), Some(p)) = (&who.oid, known.and_then(|o| o.permission.clone())) {
                    used_by
                        .entry(oid.to_ascii_lowercase())
                        .or_default()
                        .insert(p.to_ascii_lowercase());
                }
                match known.and_then(|o| o.data_action.clone().map(|a| (o, a))) {
                    Some((o, action)) => {
                        let g = groups.entry(o.object_type.clone()).or_default();
                        g.0.insert(op.clone(), *n);
                        if !g.1.contains(&action) {
                            g.1.push(action);
                        }
                    }
                    // Service-generated (notifications, scheduled rotation):
                    // no caller permission to carry over.
                    None if known.is_some() => {}
                    None => uncovered.push(Uncovered {
                        principal: who.clone(),
                        operation: op.clone(),
                        count: *n,
                        advice: "no built-in role is known to grant this operation: look it up in Microsoft's Key Vault RBAC guide and, if it needs a data action no built-in role has, grant a custom role before switching".into(),
                    }),
                }
            }
            if groups.is_empty() {
                continue;
            }
            let all: Vec<String> = groups.values().flat_map(|g| g.1.clone()).collect();
            let merged = least_role(&all).map(|r| {
                let ops = groups.values().flat_map(|g| g.0.clone()).collect();
                vec![(ops, all.clone(), Some(r))]
            });
            let rows = merged.unwrap_or_else(|| {
                groups
                    .into_values()
                    .map(|(ops, actions)| {
                        let role = least_role(&actions);
                        (ops, actions, role)
                    })
                    .collect()
            });
            for (operations, mut data_actions, role) in rows {
                data_actions.sort();
                let command = match (&role, &who.oid, &scope) {
                    (Some(r), Some(oid), Some(s)) => Some(
                        ShellCommand::new(&["az", "role", "assignment", "create", "--role"])
                            .fixed(&[r.as_str()])
                            .value("--assignee-object-id", Check::Guid, "principal id", oid)
                            .fixed(&["--assignee-principal-type", principal_type(&who)])
                            .value("--scope", Check::Scope, "scope", s)
                            .render(),
                    ),
                    _ => None,
                };
                principals.push(PlanPrincipal {
                    principal: who.clone(),
                    operations,
                    data_actions,
                    role,
                    scope: scope.clone(),
                    command,
                });
            }
        }
        let refused = principals
            .iter()
            .filter(|p| p.command.as_deref().is_none_or(|c| c.starts_with('#')))
            .count();
        let switch_command = scope.as_deref().and_then(|s| {
            let rg = s.split('/').nth(4)?;
            Some(
                ShellCommand::new(&["az", "keyvault", "update"])
                    .value("--name", Check::VaultName, "vault name", name)
                    .value(
                        "--resource-group",
                        Check::ResourceGroup,
                        "resource group",
                        rg,
                    )
                    .fixed(&["--enable-rbac-authorization", "true"])
                    .render(),
            )
        });
        // Switching before every caller holds its role locks them out.
        let switch_command = match (refused, switch_command) {
            (0, s) => s,
            (n, _) => Some(format!(
                "# no command: {n} grant(s) above could not be written; switch only once every principal holds its role"
            )),
        };
        let policies = vault_json.iter().find(|v| &v.name == name).map(|v| {
            let mut review = PolicyReview {
                denied_principals: denied.clone(),
                ..PolicyReview::default()
            };
            for (oid, perms) in &v.policies {
                match used_by.get(oid) {
                    None => review.unused_policies.push(PolicyFacts {
                        object_id: oid.clone(),
                        permissions: perms.iter().cloned().collect(),
                    }),
                    Some(used) => {
                        let never: Vec<String> = perms
                            .iter()
                            .filter(|p| !used.contains(*p) && !p.ends_with(":all"))
                            .cloned()
                            .collect();
                        if !never.is_empty() {
                            review.unused_permissions.push(PolicyFacts {
                                object_id: oid.clone(),
                                permissions: never,
                            });
                        }
                    }
                }
            }
            review
        });
        out.push(VaultPlan {
            vault: name.clone(),
            permission_model: "access_policy".into(),
            scope,
            principals,
            uncovered,
            switch_command,
            policies,
        });
    }
    out
}
