//! `unused_assignment`: a data-plane role assignment no call used in the
//! window (`report --assignments`).

use super::broader_than_used::{principal, vault_of};
use super::{severity, Finding, FindingKind, Rules, Severity};
use crate::analyze::rights::{RightsRow, Verdict};
use serde::{Deserialize, Serialize};

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub assignment_id: Option<String>,
    pub role: String,
    pub scope: String,
    pub created_on: Option<String>,
    /// Why it counts as unused, with the window.
    pub evidence: String,
    pub window_from: Option<String>,
    pub window_to: Option<String>,
    pub window_days: f64,
    /// The delete; null when the assignment is too new to judge.
    pub fix: Option<String>,
    pub caution: Option<String>,
}

pub(super) fn check(rows: &[RightsRow], rules: &Rules<'_>, out: &mut Vec<Finding>) {
    let kind = FindingKind::UnusedAssignment;
    for r in rows.iter().filter(|r| r.verdict == Verdict::Unused) {
        out.push(Finding {
            kind,
            severity: severity(rules.policy, kind, Severity::Medium),
            principal: principal(r),
            vault: vault_of(&r.assignment.scope),
            evidence: super::Evidence::UnusedAssignment(Evidence {
                assignment_id: r.assignment.id.clone(),
                role: r.assignment.role.clone(),
                scope: r.assignment.scope.clone(),
                created_on: r.assignment.created_on.clone(),
                evidence: r.evidence.clone(),
                window_from: r.window.from.clone(),
                window_to: r.window.to.clone(),
                window_days: r.window.days,
                fix: r.fix.clone(),
                caution: r.caution.clone(),
            }),
            recommendation: "No call in the window used this role assignment: confirm with its owner (rare jobs may not be in the logs) and remove it.".into(),
        });
    }
}
