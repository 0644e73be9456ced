//! What each Key Vault and Managed HSM operation needs: data action,
//! access-policy permission and least-privileged built-in role. Loaded
//! from the bundled data files (`data/operations.csv`,
//! `data/managed-hsm-operations.csv`, `data/roles.json`; sources in
//! `data/SOURCES.md`), never from match arms.

use std::collections::HashMap;
use std::sync::OnceLock;

const OPERATIONS: &str = include_str!("../../data/operations.csv");
const ROLES: &str = include_str!("../../data/roles.json");
const HSM_OPERATIONS: &str = include_str!("../../data/managed-hsm-operations.csv");

#[derive(Debug, Clone)]
pub struct Operation {
    pub name: String,
    pub object_type: String,
    pub data_action: Option<String>,
    /// e.g. `secrets:get`
    pub permission: Option<String>,
    pub role: Option<String>,
    /// What a success does to the object (the `access` column).
    pub access: Access,
}

/// What a successful operation does to its object, from the `access`
/// column of `data/operations.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Returns the secret material (a secret's value, a key released or
    /// backed up).
    Value,
    /// Returns only public material (a key's public part, a certificate).
    Public,
    /// A cryptographic operation with the key (sign, decrypt, unwrap...).
    Use,
    /// Attributes or lists, no value.
    Metadata,
    Write,
    Delete,
    /// Vault-level records and notifications.
    None,
}

impl Access {
    fn parse(s: &str) -> Access {
        match s.trim() {
            "value" => Access::Value,
            "public" => Access::Public,
            "use" => Access::Use,
            "metadata" => Access::Metadata,
            "write" => Access::Write,
            "delete" => Access::Delete,
            _ => Access::None,
        }
    }

    /// Whether the operation returns or uses the object (a read).
    pub fn is_read(self) -> bool {
        matches!(self, Access::Value | Access::Public | Access::Use)
    }
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub data_actions: Vec<String>,
}

pub struct Knowledge {
    pub operations: Vec<Operation>,
    /// Managed HSM's operations, granted by its local RBAC roles.
    pub hsm_operations: Vec<Operation>,
    pub roles: Vec<Role>,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && !s.starts_with("n/a") && !s.starts_with('(')).then(|| s.to_string())
}

/// Built-in roles that grant no data action (Key Vault's data plane
/// ignores them; they manage resources or access), from Microsoft's
/// built-in roles reference.
pub const CONTROL_PLANE_ROLES: &[&str] = &[
    "Owner",
    "Contributor",
    "Reader",
    "User Access Administrator",
    "Role Based Access Control Administrator",
];

pub fn knowledge() -> &'static Knowledge {
    static K: OnceLock<Knowledge> = OnceLock::new();
    K.get_or_init(|| {
        let mut operations = Vec::new();
        let mut r = csv::Reader::from_reader(OPERATIONS.as_bytes());
        for rec in r.records().flatten() {
            let g = |i: usize| rec.get(i).unwrap_or("");
            operations.push(Operation {
                name: g(0).to_string(),
                object_type: g(1).to_string(),
                data_action: opt(g(2)).map(|a| a.trim_end_matches(" (ARM action)").to_string()),
                permission: opt(g(3)),
                role: opt(g(4)),
                access: Access::parse(g(8)),
            });
        }
        let mut hsm_operations = Vec::new();
        let mut r = csv::Reader::from_reader(HSM_OPERATIONS.as_bytes());
        for rec in r.records().flatten() {
            let g = |i: usize| rec.get(i).unwrap_or("");
            hsm_operations.push(Operation {
                name: g(0).to_string(),
                object_type: g(1).to_string(),
                data_action: opt(g(2)),
                permission: None,
                role: opt(g(3)),
                access: Access::None,
            });
        }
        let roles_json: Vec<serde_json::Value> = serde_json::from_str(ROLES).unwrap_or_default();
        let roles = roles_json
            .iter()
            .map(|r| Role {
                name: r["name"].as_str().unwrap_or("").to_string(),
                id: r["id"].as_str().unwrap_or("").to_string(),
                data_actions: r["dataActions"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Knowledge {
            operations,
            hsm_operations,
            roles,
        }
    })
}

impl Knowledge {
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// A Managed HSM operation (local RBAC).
    pub fn hsm_operation(&self, name: &str) -> Option<&Operation> {
        self.hsm_operations
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The first operation needing this data action (for pasted errors).
    pub fn by_action(&self, action: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| {
            o.data_action
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(action))
        })
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// The narrowest built-in Key Vault role whose dataActions cover
    /// `action` (for data actions the operation table does not list, such
    /// as newer API versions add): an exact entry first, then the longest
    /// matching wildcard, then the fewest dataActions.
    pub fn narrowest_role_granting(&self, action: &str) -> Option<(&Role, &str)> {
        self.roles
            .iter()
            .filter(|r| !r.name.starts_with("Managed HSM"))
            .filter_map(|r| {
                r.data_actions
                    .iter()
                    .filter(|p| action_matches(p, action))
                    .max_by_key(|p| (!p.contains('*'), p.len()))
                    .map(|p| (r, p.as_str()))
            })
            .min_by_key(|(r, p)| {
                (
                    p.contains('*'),
                    std::cmp::Reverse(p.len()),
                    r.data_actions.len(),
                )
            })
    }

    /// How much a role grants: the Key Vault data actions of the operation
    /// table it covers (a wildcard counts every action it matches).
    pub fn breadth(&self, role: &Role) -> usize {
        let mut actions: Vec<&str> = self
            .operations
            .iter()
            .filter_map(|o| o.data_action.as_deref())
            .collect();
        actions.sort_unstable();
        actions.dedup();
        actions
            .iter()
            .filter(|a| role.data_actions.iter().any(|p| action_matches(p, a)))
            .count()
    }

    /// The least-privileged built-in Key Vault role whose dataActions cover
    /// every one of `actions`: the one of least [`Knowledge::breadth`], then
    /// by name. None when no built-in role covers them all (or `actions`
    /// is empty).
    pub fn least_role_covering(&self, actions: &[String]) -> Option<&Role> {
        if actions.is_empty() {
            return None;
        }
        self.roles
            .iter()
            .filter(|r| r.name.starts_with("Key Vault") && !r.data_actions.is_empty())
            .filter(|r| {
                actions
                    .iter()
                    .all(|a| r.data_actions.iter().any(|p| action_matches(p, a)))
            })
            .min_by(|a, b| {
                self.breadth(a)
                    .cmp(&self.breadth(b))
                    .then_with(|| a.name.cmp(&b.name))
            })
    }

    /// Built-in roles whose dataActions cover `action` (wildcards honoured).
    pub fn roles_granting(&self, action: &str) -> Vec<&Role> {
        self.roles
            .iter()
            .filter(|r| r.data_actions.iter().any(|p| action_matches(p, action)))
            .collect()
    }
}

/// `Microsoft.KeyVault/vaults/*` matches `Microsoft.KeyVault/vaults/secrets/getSecret/action`.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    match p.split_once('*') {
        None => p == a,
        Some((pre, post)) => {
            a.starts_with(pre) && a.ends_with(post) && a.len() >= pre.len() + post.len()
        }
    }
}

/// Map of operation name → least-privileged role (for reports).
pub fn least_roles() -> HashMap<String, String> {
    knowledge()
        .operations
        .iter()
        .filter_map(|o| o.role.clone().map(|r| (o.name.clone(), r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Managed HSM table names real roles, each granting its action.
    #[test]
    fn every_managed_hsm_role_grants_its_action() {
        let k = knowledge();
        assert!(k.hsm_operations.len() >= 25);
        for o in &k.hsm_operations {
            let role = o.role.as_deref().unwrap();
            let action = o.data_action.as_deref().unwrap();
            let granting: Vec<&str> = k
                .roles_granting(action)
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            assert!(
                granting.contains(&role),
                "{}: {role} does not grant {action}",
                o.name
            );
        }
        assert_eq!(
            k.hsm_operation("KeySign").unwrap().role.as_deref(),
            Some("Managed HSM Crypto User")
        );
    }

    #[test]
    fn secret_get_needs_secrets_user() {
        let k = knowledge();
        let op = k.operation("SecretGet").unwrap();
        assert_eq!(op.role.as_deref(), Some("Key Vault Secrets User"));
        assert_eq!(op.permission.as_deref(), Some("secrets:get"));
        assert_eq!(
            k.by_action("Microsoft.KeyVault/vaults/secrets/getSecret/action")
                .unwrap()
                .name,
            "SecretGet"
        );
        let granting: Vec<&str> = k
            .roles_granting("Microsoft.KeyVault/vaults/secrets/getSecret/action")
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert!(
            granting.contains(&"Key Vault Secrets User")
                && granting.contains(&"Key Vault Administrator")
        );
        assert!(!granting.contains(&"Key Vault Reader"));
        assert!(k
            .role("Key Vault Secrets User")
            .unwrap()
            .id
            .starts_with("4633458b"));
    }
}
