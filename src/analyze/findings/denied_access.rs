//! `denied_access`: denials no later success resolved, with the fix
//! `explain` found for each.

use super::{severity, Finding, FindingKind, Principal, Rules, Severity};
use crate::analyze::explain::Explanation;
use serde::{Deserialize, Serialize};

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub denial: String,
    pub operation: Option<String>,
    pub object: Option<String>,
    pub count: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub scope: String,
}

pub(super) fn check(explanation: &Explanation, rules: &Rules<'_>, out: &mut Vec<Finding>) {
    for f in explanation
        .denials
        .iter()
        .filter(|f| f.resolved_at.is_none())
    {
        let p = &f.principal;
        let ids: [&Option<String>; 3] = [&p.upn, &p.oid, &p.appid];
        if ids.iter().filter_map(|v| v.as_deref()).any(|v| {
            rules
                .policy
                .ignore
                .iter()
                .any(|i| i.eq_ignore_ascii_case(v))
        }) {
            continue;
        }
        let default = match f.denial.as_str() {
            "rbac" | "condition" | "access_policy" => Severity::Medium,
            _ => Severity::Low,
        };
        let kind = FindingKind::DeniedAccess;
        out.push(Finding {
            kind,
            severity: severity(rules.policy, kind, default),
            principal: Principal {
                appid: p.appid.clone(),
                oid: p.oid.clone(),
                upn: p.upn.clone(),
                kind: p.kind.clone(),
                name: p.name.clone(),
            },
            vault: f.vault.clone(),
            evidence: super::Evidence::DeniedAccess(Evidence {
                denial: f.denial.clone(),
                operation: f.operation.clone(),
                object: f.object_name.clone(),
                count: f.count,
                first_seen: f.first_seen.clone(),
                last_seen: f.last_seen.clone(),
                scope: f.scope.clone(),
            }),
            // A fix without a command points to its hint: say the hint.
            recommendation: match f.hints.first() {
                Some(h) if f.fix.ends_with("see the hint.") => h.clone(),
                _ => f.fix.clone(),
            },
        });
    }
}
