//! `broader_than_used`: a role assignment grants more than its principal
//! used in the window (a broader role, or the right role over far more
//! than the objects used), from `kvaudit rights` (`report --assignments`).

use super::{severity, Finding, FindingKind, Principal, Rules, Severity};
use crate::analyze::rights::{RightsRow, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// `broader_than_used` or `scope_broader_than_used`.
    pub verdict: String,
    pub assignment_id: Option<String>,
    pub role: String,
    pub scope: String,
    pub least_role: Option<String>,
    pub least_scope: Option<String>,
    pub used_actions: Vec<String>,
    pub operations: BTreeMap<String, u64>,
    pub window_from: Option<String>,
    pub window_to: Option<String>,
    pub window_days: f64,
    /// The grant of what was used, then the delete of the broad one.
    pub fix: Option<String>,
    pub caution: Option<String>,
}

/// The principal of a rights row.
pub(super) fn principal(r: &RightsRow) -> Principal {
    let p = &r.principal;
    Principal {
        appid: p.appid.clone(),
        oid: p.oid.clone(),
        upn: p.upn.clone(),
        kind: p.kind.clone(),
        name: p.name.clone(),
    }
}

/// The vault an assignment's scope names, when it names one.
pub(super) fn vault_of(scope: &str) -> Option<String> {
    let parts: Vec<&str> = scope.split('/').collect();
    parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("vaults"))
        .and_then(|i| parts.get(i + 1))
        .map(|v| v.to_ascii_lowercase())
}

pub(super) fn check(rows: &[RightsRow], rules: &Rules<'_>, out: &mut Vec<Finding>) {
    let kind = FindingKind::BroaderThanUsed;
    for r in rows {
        if !matches!(
            r.verdict,
            Verdict::BroaderThanUsed | Verdict::ScopeBroaderThanUsed
        ) {
            continue;
        }
        out.push(Finding {
            kind,
            severity: severity(rules.policy, kind, Severity::Medium),
            principal: principal(r),
            vault: vault_of(&r.assignment.scope),
            evidence: super::Evidence::BroaderThanUsed(Evidence {
                verdict: r.verdict.as_str().into(),
                assignment_id: r.assignment.id.clone(),
                role: r.assignment.role.clone(),
                scope: r.assignment.scope.clone(),
                least_role: r.least_role.clone(),
                least_scope: r.least_scope.clone(),
                used_actions: r.used_actions.clone(),
                operations: r.operations.clone(),
                window_from: r.window.from.clone(),
                window_to: r.window.to.clone(),
                window_days: r.window.days,
                fix: r.fix.clone(),
                caution: r.caution.clone(),
            }),
            recommendation: "The role assignment grants more than its principal used in the window: grant the least role at the narrowest scope that covers what was used (the fix), then remove the broad assignment; check with the owner first when the window is short.".into(),
        });
    }
}
