//! One explained denial as `kvaudit explain` prints it (a public JSON
//! contract): who was denied what, where, the fix, and what the principal
//! already holds.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeniedPrincipal {
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    pub tenant: Option<String>,
    pub kind: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Denial {
    pub denial: String,
    pub vault: Option<String>,
    pub operation: Option<String>,
    pub action: Option<String>,
    pub principal: DeniedPrincipal,
    pub object_type: Option<String>,
    pub object_name: Option<String>,
    pub scope: String,
    pub role: Option<String>,
    pub role_id: Option<String>,
    pub permission: Option<String>,
    pub fix: String,
    /// A value of the record is not one Azure accepts (a name with shell
    /// metacharacters, an id that is no GUID): no command is printed.
    #[serde(default)]
    pub suspicious: bool,
    pub count: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub resolved_at: Option<String>,
    pub client_address: Option<String>,
    pub hints: Vec<String>,
    /// With `--assignments`: what the principal already holds that bears on
    /// this denial (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub existing_assignments: Vec<HeldAssignment>,
}

/// What a finding's principal already holds, in the explain JSON
/// (`existing_assignments`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeldAssignment {
    pub role: String,
    pub scope: String,
    pub created_on: Option<String>,
    /// The assignment's scope contains the denied resource.
    pub covers_scope: bool,
    /// The role's dataActions include the denied action (null: a custom
    /// role kvaudit does not know).
    pub grants_action: Option<bool>,
    /// `wrong_scope`, `missing_action`, `propagation`, `granted_after`,
    /// `present_but_denied`.
    pub verdict: String,
}
