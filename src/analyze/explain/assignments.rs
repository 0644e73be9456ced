//! Reads the output of `az role assignment list --all` so an explanation can
//! say what a denied principal already holds: a role at another scope (wrong
//! scope), a role here that lacks the action, or one granted so recently that
//! it has not propagated yet.

use super::denial::{Denial, HeldAssignment};
use crate::analyze::permissions::{action_matches, knowledge};
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// One role assignment, as `az role assignment list` prints it (fields
/// kvaudit does not use are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The assignment's ARM id (`.../providers/Microsoft.Authorization/roleAssignments/<guid>`).
    pub id: Option<String>,
    pub principal_id: Option<String>,
    pub principal_type: Option<String>,
    pub role_definition_name: Option<String>,
    pub scope: Option<String>,
    pub created_on: Option<String>,
    pub condition: Option<String>,
}

/// How long role assignments may take to apply (Azure documents up to ten
/// minutes; cached tokens can take longer).
const PROPAGATION: i64 = 10;

/// Parses `az role assignment list --all` output (a JSON array).
pub fn parse(text: &str, path: &str) -> Result<Vec<Assignment>> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::Other(format!(
            "{path}: expected the JSON array printed by `az role assignment list --all`: {e}"
        ))
    })?;
    let items = v.as_array().ok_or_else(|| {
        Error::Other(format!(
            "{path}: expected a JSON array of role assignments (az role assignment list --all), found {}",
            match v {
                serde_json::Value::Object(_) => "an object",
                _ => "a scalar",
            }
        ))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value::<Assignment>(item.clone()).map_err(|e| {
                Error::Other(format!(
                    "{path}: record {}: expected a role assignment (principalId, roleDefinitionName, scope): {e}",
                    i + 1
                ))
            })
        })
        .collect()
}

/// A value from the assignments file in a comment: quoted and escaped,
/// whole up to 400 characters (an ARM scope is long; its end matters).
fn whole(v: &str) -> String {
    if v.chars().count() <= 400 {
        format!("{v:?}")
    } else {
        super::command::shown(v)
    }
}

fn norm(scope: &str) -> String {
    scope.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// True when `outer` contains `inner` (`/` contains everything).
pub fn covers(outer: &str, inner: &str) -> bool {
    let (o, i) = (norm(outer), norm(inner));
    o.is_empty() || i == o || i.starts_with(&format!("{o}/"))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| crate::parse::parse_time(s))
}

/// Adds what each denied principal already holds (from `assignments`) to
/// RBAC and access-policy findings, with a hint per case.
pub fn apply(findings: &mut [Denial], assignments: &[Assignment]) {
    for f in findings.iter_mut() {
        if !matches!(f.denial.as_str(), "rbac" | "condition" | "access_policy") {
            continue;
        }
        let Some(oid) = f.principal.oid.as_deref() else {
            continue;
        };
        let first = f.first_seen.as_deref().and_then(parse_time);
        let last = f.last_seen.as_deref().and_then(parse_time);
        for a in assignments {
            if !a
                .principal_id
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(oid))
            {
                continue;
            }
            let (Some(role), Some(scope)) = (a.role_definition_name.as_deref(), a.scope.as_deref())
            else {
                continue;
            };
            let covers_scope = covers(scope, &f.scope);
            let grants = match (&f.action, knowledge().role(role)) {
                (Some(action), Some(r)) => {
                    Some(r.data_actions.iter().any(|p| action_matches(p, action)))
                }
                // Owner, Contributor...: built in, no data action at all.
                (Some(_), None)
                    if crate::analyze::permissions::CONTROL_PLANE_ROLES
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case(role)) =>
                {
                    Some(false)
                }
                _ => None,
            };
            let created = a.created_on.as_deref().and_then(parse_time);
            let action = f.action.as_deref().unwrap_or("the action");
            let since = a
                .created_on
                .as_deref()
                .map(|c| format!(" (granted {c})"))
                .unwrap_or_default();
            let (verdict, hint) = if f.denial == "access_policy" {
                // Any role at all: the data plane ignores RBAC here.
                if !covers_scope {
                    continue;
                }
                (
                    "present_but_denied",
                    format!("{role} at {scope}{since} does nothing on this vault: it uses access policies, not RBAC; add an access policy (the fix above) or switch the vault to RBAC"),
                )
            } else {
                match (covers_scope, grants) {
                    (false, Some(false) | None) => continue,
                    (false, Some(true)) => (
                        "wrong_scope",
                        format!("already holds {role} at {scope}{since}, which grants {action} but does not cover {} (wrong scope): assign it at {} or a scope containing it", f.scope, f.scope),
                    ),
                    (true, Some(false)) => (
                        "missing_action",
                        format!("holds {role} at {scope}{since}, which covers this resource but does not include {action}: assign {} instead", f.role.as_deref().unwrap_or("a role that grants it")),
                    ),
                    (true, granted) => match (created, first, last) {
                        (Some(c), _, Some(l)) if c > l => (
                            "granted_after",
                            format!("{role} was granted at {scope} at {}, after the last denial ({}): retry; the denial should be resolved", a.created_on.as_deref().unwrap_or(""), f.last_seen.as_deref().unwrap_or("")),
                        ),
                        (Some(c), Some(fs), _) if c > fs - Duration::minutes(PROPAGATION) => (
                            "propagation",
                            format!("{role} was granted at {scope} at {}, {} minute(s) before the first denial: role assignments take up to {PROPAGATION} minutes to apply (cached tokens longer); retry before changing anything", a.created_on.as_deref().unwrap_or(""), (fs - c).num_minutes()),
                        ),
                        _ => (
                            "present_but_denied",
                            match &a.condition {
                                Some(c) => format!(
                                    "holds {role} at {scope}{since}, yet was denied: the assignment carries a condition ({}), and this request did not meet it; change the condition (not the role) if this access is intended",
                                    super::command::shown(c)
                                ),
                                None => format!(
                                    "holds {role} at {scope}{since}{}, yet was denied: the role is not the problem; check for a deny assignment, that the vault uses RBAC (not access policies), that the token came from this tenant (a guest or multi-tenant app signs in elsewhere), and the vault's network rules",
                                    if granted.is_none() { " (a custom role: check its dataActions)" } else { "" },
                                ),
                            },
                        ),
                    },
                }
            };
            // A covering role is already held: another create would change
            // nothing; the hint says where the cause lies.
            // (Only a built-in role known to grant the action: a custom
            // role's data actions are not known.)
            if f.denial == "rbac" && covers_scope && grants == Some(true) {
                f.fix = format!(
                    "# no new role assignment: {} at {} already covers this request; see the hint for the cause",
                    whole(role),
                    whole(scope)
                );
            }
            f.hints.push(hint);
            f.existing_assignments.push(HeldAssignment {
                role: role.to_string(),
                scope: scope.to_string(),
                created_on: a.created_on.clone(),
                covers_scope,
                grants_action: grants,
                verdict: verdict.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_coverage() {
        let v = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv";
        assert!(covers(v, &format!("{v}/secrets/x")));
        assert!(covers("/subscriptions/S", &v.to_ascii_lowercase()));
        assert!(covers("/", v));
        assert!(!covers(&format!("{v}2"), v));
        assert!(!covers(
            &format!("{v}/secrets/a"),
            &format!("{v}/secrets/b")
        ));
    }
}
