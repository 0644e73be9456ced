//! Who holds more than they use: each role assignment that covers a vault
//! in the logs, set against the data actions its principal was seen to use
//! successfully in the window, with the least built-in role and the
//! narrowest scope that would have served, and the commands to get there.

use super::access::Who;
use super::explain::assignments::{covers, Assignment};
use super::explain::command::{Check, ShellCommand};
use super::permissions::{action_matches, knowledge};
use super::usage::Usage;
use serde::Serialize;
use std::collections::BTreeMap;

/// The window the evidence covers; under this many days, rare jobs may be
/// missing from it.
pub const SHORT_WINDOW_DAYS: f64 = 30.0;

/// One assignment as `rights` prints it (the public contract).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RightsRow {
    pub principal: Who,
    pub assignment: AssignmentFacts,
    /// Data actions seen succeed in the window that this role grants.
    pub used_actions: Vec<String>,
    /// Successful operations served by this role, by name.
    pub operations: BTreeMap<String, u64>,
    /// The least-privileged built-in role covering `used_actions`.
    pub least_role: Option<String>,
    /// The narrowest scope covering what was used.
    pub least_scope: Option<String>,
    pub verdict: Verdict,
    /// `az role assignment create` of the narrower role or scope, then
    /// `az role assignment delete` of this one; null when nothing changes.
    pub fix: Option<String>,
    /// What the verdict rests on, in words, with the window.
    pub evidence: String,
    pub window: Window,
    /// Said when the window is short or the data is partial.
    pub caution: Option<String>,
}

/// The assignment itself.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssignmentFacts {
    pub id: Option<String>,
    pub role: String,
    pub scope: String,
    pub created_on: Option<String>,
    pub condition: Option<String>,
}

/// The period the logs cover.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub from: Option<String>,
    pub to: Option<String>,
    pub days: f64,
}

/// How an assignment compares with its use.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The role grants more than was used (wins over a broad scope too).
    BroaderThanUsed,
    /// The right role, at a scope covering more than the objects used.
    ScopeBroaderThanUsed,
    /// No call this role serves in the window.
    Unused,
    /// A role that grants no data action (Owner, Contributor...).
    NotDataPlane,
    /// Already the least role at the narrowest scope.
    Least,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::BroaderThanUsed => "broader_than_used",
            Verdict::ScopeBroaderThanUsed => "scope_broader_than_used",
            Verdict::Unused => "unused",
            Verdict::NotDataPlane => "not_data_plane",
            Verdict::Least => "least",
        }
    }
}

/// What `rights` could not judge, for a note on stderr.
#[derive(Debug, Default)]
pub struct Skipped {
    /// Assignments to groups: members' calls carry their own oids.
    pub groups: usize,
    /// Custom roles whose data actions kvaudit does not know.
    pub custom_roles: BTreeMap<String, usize>,
    /// Assignments whose scope covers no vault in the logs.
    pub no_vault: usize,
    /// Records that cannot be judged: `record N: why` (missing role, scope
    /// or principal, or a principal id that is not a GUID).
    pub invalid: Vec<String>,
    /// Assignments above vault level when only some vaults were selected
    /// (they may serve vaults left out).
    pub beyond_selection: usize,
    /// Vaults whose logged resource id is not a Key Vault id (no
    /// assignment can be matched to them).
    pub bad_vault_ids: Vec<String>,
}

/// A vault as `rights` sees it: name, scope, whether it uses access
/// policies, and its first and last event (microseconds).
type VaultSpan<'a> = (&'a str, String, bool, Option<i64>, Option<i64>);

/// `/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v`
/// from a logged resource id in any case.
pub fn vault_scope(resource_id: &str) -> Option<String> {
    let parts: Vec<&str> = resource_id.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [s, sub, r, rg, p, ns, v, vault, ..]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourcegroups")
                && p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("microsoft.keyvault")
                && v.eq_ignore_ascii_case("vaults") =>
        {
            let scope = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}",
                sub.to_ascii_lowercase(),
                rg.to_ascii_lowercase(),
                vault.to_ascii_lowercase()
            );
            // Only what Azure allows: a forged id matches no assignment.
            Check::Scope.allows(&scope).then_some(scope)
        }
        _ => None,
    }
}

/// The longest common ARM path of `scopes` (whole segments).
fn common_scope(scopes: &[String]) -> Option<String> {
    let first = scopes.first()?;
    let mut common: Vec<&str> = first.split('/').collect();
    for s in &scopes[1..] {
        let segs: Vec<&str> = s.split('/').collect();
        let n = common
            .iter()
            .zip(&segs)
            .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
            .count();
        common.truncate(n);
    }
    // Only whole levels: /subscriptions/x or /subscriptions/x/resourceGroups/y.
    while common.len() > 1 && common.len().is_multiple_of(2) {
        common.pop();
    }
    let s = common.join("/");
    (s.len() > 1).then_some(s)
}

fn principal_type(a: &Assignment, w: &Who) -> &'static str {
    match a.principal_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("User") => "User",
        Some(t) if t.eq_ignore_ascii_case("ServicePrincipal") => "ServicePrincipal",
        _ if matches!(w.kind.as_str(), "user" | "guest_user") => "User",
        _ => "ServicePrincipal",
    }
}

/// One row per assignment covering a vault in `usage` (not a Managed HSM),
/// most actionable first.
/// `selected_vaults`: the `--vault` selection (empty: every vault); an
/// assignment above vault level is then not judged.
pub fn rights(
    usage: &Usage,
    assignments: &[Assignment],
    selected_vaults: &[String],
) -> (Vec<RightsRow>, Skipped) {
    let k = knowledge();
    let mut skipped = Skipped::default();
    let when = |t: Option<i64>| {
        t.and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| crate::event::format_time(&t))
    };
    // Each vault's scope and what the logs cover of it.
    let mut vaults: Vec<VaultSpan> = Vec::new();
    for (name, f) in &usage.vaults {
        let Some(name) = name.as_deref() else {
            continue;
        };
        if f.managed_hsm {
            continue;
        }
        match f.resource_id.as_deref().map(|r| (r, vault_scope(r))) {
            Some((_, Some(scope))) => {
                let policy_model = f.access_policy_records > 0 && f.rbac_records == 0;
                vaults.push((name, scope, policy_model, f.first, f.last));
            }
            Some((r, None)) => skipped
                .bad_vault_ids
                .push(format!("{name}: {}", super::explain::command::shown(r))),
            None => {}
        }
    }
    let mut rows = Vec::new();
    for (i, a) in assignments.iter().enumerate() {
        let (Some(role_name), Some(scope), Some(pid)) = (
            a.role_definition_name.as_deref(),
            a.scope.as_deref(),
            a.principal_id.as_deref(),
        ) else {
            skipped.invalid.push(format!(
                "record {}: no roleDefinitionName, scope or principalId",
                i + 1
            ));
            continue;
        };
        if !Check::Guid.allows(pid) {
            skipped.invalid.push(format!(
                "record {}: principalId {} is not a GUID (the record may be forged)",
                i + 1,
                super::explain::command::shown(pid)
            ));
            continue;
        }
        // Vaults under the scope, or the vault an object scope is in.
        let covered: Vec<&VaultSpan> = vaults
            .iter()
            .filter(|(_, vs, ..)| covers(scope, vs) || covers(vs, scope))
            .collect();
        if covered.is_empty() {
            skipped.no_vault += 1;
            continue;
        }
        if !selected_vaults.is_empty() && !covered.iter().any(|c| covers(&c.1, scope)) {
            skipped.beyond_selection += 1;
            continue;
        }
        // The evidence window: what the logs cover of these vaults, from
        // the assignment's creation when that came later.
        let created = a
            .created_on
            .as_deref()
            .and_then(crate::parse::parse_time)
            .map(|t| t.timestamp_micros());
        let first = covered.iter().filter_map(|c| c.3).min();
        let last = covered.iter().filter_map(|c| c.4).max();
        let from = first.into_iter().chain(created).max();
        let days = match (from, last) {
            (Some(f), Some(l)) if l > f => ((l - f) as f64 / 8_640_000_000.0).round() / 10.0,
            _ => 0.0,
        };
        let window = Window {
            from: when(from),
            to: when(last),
            days,
        };
        let too_new = matches!((created, last), (Some(c), Some(l)) if c > l);
        if a.principal_type
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("group"))
        {
            skipped.groups += 1;
            continue;
        }
        let role = k.role(role_name);
        let control = super::permissions::CONTROL_PLANE_ROLES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(role_name));
        if role.is_none() && !control {
            *skipped
                .custom_roles
                .entry(role_name.to_string())
                .or_default() += 1;
            continue;
        }
        let slots: Vec<usize> = usage
            .who
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                w.oid
                    .as_deref()
                    .is_some_and(|o| o.eq_ignore_ascii_case(pid))
            })
            .map(|(i, _)| i)
            .collect();
        // The caller of the principal first seen (of several apps).
        let earliest = slots
            .iter()
            .min_by_key(|&&s| usage.first_order.get(s).copied().unwrap_or(u64::MAX));
        let who = earliest.map_or_else(
            || Who {
                oid: Some(pid.to_string()),
                kind: match a.principal_type.as_deref() {
                    Some("User") => "user".into(),
                    Some("ServicePrincipal") => "service_principal".into(),
                    _ => "unknown".into(),
                },
                ..Who::default()
            },
            |s| usage.who[*s].clone(),
        );
        let facts = AssignmentFacts {
            id: a.id.clone(),
            role: role_name.to_string(),
            scope: scope.to_string(),
            created_on: a.created_on.clone(),
            condition: a.condition.clone(),
        };
        let mut row = RightsRow {
            principal: who.clone(),
            assignment: facts,
            used_actions: Vec::new(),
            operations: BTreeMap::new(),
            least_role: None,
            least_scope: None,
            verdict: Verdict::NotDataPlane,
            fix: None,
            evidence: String::new(),
            window: window.clone(),
            caution: None,
        };
        let data_actions = role.map(|r| r.data_actions.clone()).unwrap_or_default();
        if data_actions.is_empty() {
            row.evidence = format!(
                "{role_name} grants no Key Vault data action: it does not let {} read or write secrets, keys or certificates (it may manage the vault or its access)",
                if who.kind == "user" { "this person" } else { "this principal" }
            );
            rows.push(row);
            continue;
        }
        // What this role served: operations on the covered vaults (RBAC
        // model; an access-policy vault ignores roles) that it grants.
        let object_scope = covered.len() == 1 && !covers(scope, &covered[0].1);
        let covered: Vec<(&str, &String, bool)> =
            covered.iter().map(|c| (c.0, &c.1, c.2)).collect();
        let mut used_objects: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        let mut vault_level_ops = false;
        let mut used_vaults: Vec<String> = Vec::new();
        let mut policy_vaults = 0;
        for (slot, vault, u) in &usage.uses {
            if !slots.contains(slot) {
                continue;
            }
            let Some((vname, vscope, policy)) = covered
                .iter()
                .find(|(n, _, _)| Some(*n) == vault.as_deref())
                .copied()
            else {
                continue;
            };
            if policy {
                policy_vaults += 1;
                continue;
            }
            let mut any = false;
            for (op, n) in &u.ok {
                let Some(action) = k.operation(op).and_then(|o| o.data_action.clone()) else {
                    continue;
                };
                if !data_actions.iter().any(|p| action_matches(p, &action)) {
                    continue;
                }
                let on_objects: Vec<(&(String, String), &u64)> = u
                    .objects
                    .iter()
                    .filter(|((t, _), _)| k.operation(op).is_some_and(|o| &o.object_type == t))
                    .collect();
                if object_scope {
                    // Only calls on the object the scope names count.
                    let on_it = on_objects
                        .iter()
                        .any(|((t, name), _)| covers(scope, &format!("{vscope}/{t}s/{name}")));
                    if !on_it {
                        continue;
                    }
                }
                any = true;
                *row.operations.entry(op.clone()).or_default() += n;
                if !row.used_actions.contains(&action) {
                    row.used_actions.push(action);
                }
                let object_level = k.operation(op).is_some_and(|o| {
                    matches!(
                        o.access,
                        super::permissions::Access::Value
                            | super::permissions::Access::Public
                            | super::permissions::Access::Use
                            | super::permissions::Access::Write
                            | super::permissions::Access::Delete
                    )
                });
                if object_level && !on_objects.is_empty() {
                    for ((t, name), c) in on_objects {
                        *used_objects
                            .entry((vscope.clone(), t.clone(), name.clone()))
                            .or_default() += c;
                    }
                } else {
                    vault_level_ops = true;
                }
            }
            if any && !used_vaults.contains(vscope) {
                used_vaults.push(vscope.clone());
            }
            let _ = vname;
        }
        row.used_actions.sort();
        // `2026-03-02 10:02:00 UTC`.
        let readable = |t: Option<&str>| {
            t.and_then(|t| t.get(..19))
                .map_or("?".into(), |t| format!("{} UTC", t.replace('T', " ")))
        };
        let span = format!(
            "{} to {} ({days} days)",
            readable(window.from.as_deref()),
            readable(window.to.as_deref())
        );
        if too_new {
            row.caution = Some(format!(
                "created {} after the last event of the logs: too new to judge",
                a.created_on.as_deref().unwrap_or("?")
            ));
        } else if days < SHORT_WINDOW_DAYS {
            row.caution = Some(format!(
                "the logs cover {days} days of this scope{}, less than {SHORT_WINDOW_DAYS}: a monthly or quarterly job may not be in them; check with the owner before removing anything",
                if created.is_some_and(|c| first.is_some_and(|f| c > f)) {
                    " since the assignment was created"
                } else {
                    ""
                }
            ));
        }
        if row.used_actions.is_empty() {
            row.verdict = Verdict::Unused;
            let on = if covered.len() > 1
                || covers(scope, covered[0].1) && !covers(covered[0].1, scope)
            {
                format!(
                    " on the vaults in the logs ({}; vaults without diagnostic logs are not seen)",
                    covered.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
                )
            } else {
                String::new()
            };
            row.evidence = if policy_vaults > 0 {
                format!("no call this role serves from {span}; the vault uses access policies, so the role grants nothing there until it is switched to RBAC (see kvaudit plan-rbac)")
            } else {
                format!("no successful call this role serves{on} from {span}")
            };
            row.fix = if too_new { None } else { delete_command(a) };
            rows.push(row);
            continue;
        }
        let least = k.least_role_covering(&row.used_actions);
        row.least_role = least.map(|r| r.name.clone());
        // The narrowest scope: the one object, the one vault, or the
        // common resource group or subscription.
        let narrow = if !vault_level_ops && used_objects.len() == 1 && used_vaults.len() == 1 {
            used_objects
                .keys()
                .next()
                .map(|(v, t, n)| format!("{v}/{t}s/{n}"))
        } else {
            common_scope(&used_vaults)
        };
        row.least_scope = narrow.clone();
        let broader_role = match (role, least) {
            (Some(r), Some(l)) => k.breadth(r) > k.breadth(l),
            _ => false,
        };
        let broader_scope = narrow
            .as_deref()
            .is_some_and(|n| !covers(n, scope) && covers(scope, n));
        let ops: Vec<String> = row
            .operations
            .iter()
            .map(|(o, n)| format!("{o} x{n}"))
            .collect();
        let objects = if used_objects.is_empty() {
            String::new()
        } else {
            format!(" on {} object(s)", used_objects.len())
        };
        row.evidence = format!("{}{objects} from {span}", ops.join(", "));
        row.verdict = if broader_role {
            Verdict::BroaderThanUsed
        } else if broader_scope {
            Verdict::ScopeBroaderThanUsed
        } else {
            Verdict::Least
        };
        if row.verdict != Verdict::Least {
            let target_role = row
                .least_role
                .clone()
                .unwrap_or_else(|| role_name.to_string());
            let target_scope = narrow.clone().unwrap_or_else(|| scope.to_string());
            let create = ShellCommand::new(&["az", "role", "assignment", "create", "--role"])
                .fixed(&[target_role.as_str()])
                .value("--assignee-object-id", Check::Guid, "principal id", pid)
                .fixed(&["--assignee-principal-type", principal_type(a, &who)])
                .value("--scope", Check::AnyScope, "scope", &target_scope);
            // Never the delete without the grant that replaces it.
            row.fix = Some(match (create.problem(), delete_command(a)) {
                (None, Some(d)) => format!("{}\n{d}", create.render()),
                _ => create.render(),
            });
        }
        rows.push(row);
    }
    rows.sort_by(|x, y| {
        x.verdict
            .cmp(&y.verdict)
            .then_with(|| x.assignment.scope.cmp(&y.assignment.scope))
            .then_with(|| x.principal.oid.cmp(&y.principal.oid))
    });
    (rows, skipped)
}

/// `az role assignment delete --ids <id>`, when the export gave the id.
fn delete_command(a: &Assignment) -> Option<String> {
    let id = a.id.as_deref()?;
    Some(
        ShellCommand::new(&["az", "role", "assignment", "delete"])
            .value("--ids", Check::AssignmentId, "assignment id", id)
            .render(),
    )
}
