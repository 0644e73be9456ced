//! `access_policy_vault`: a vault still on the access-policy permission
//! model, with what `kvaudit plan-rbac` says its switch to RBAC needs.

use super::{severity, Finding, FindingKind, Principal, Rules, Severity};
use crate::analyze::plan::VaultPlan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub permission_model: String,
    /// Principals that succeeded there in the window (each needs a role).
    pub principals: usize,
    /// Roles the plan grants, with how many principals get each.
    pub roles: BTreeMap<String, usize>,
    /// Operations no built-in role grants.
    pub uncovered: usize,
}

pub(super) fn check(plans: &[VaultPlan], rules: &Rules<'_>, out: &mut Vec<Finding>) {
    let kind = FindingKind::AccessPolicyVault;
    for p in plans {
        let mut roles = BTreeMap::new();
        for x in &p.principals {
            *roles
                .entry(x.role.clone().unwrap_or_else(|| "(none)".into()))
                .or_default() += 1;
        }
        let who: std::collections::BTreeSet<_> = p
            .principals
            .iter()
            .map(|x| (&x.principal.appid, &x.principal.oid, &x.principal.upn))
            .collect();
        out.push(Finding {
            kind,
            severity: severity(rules.policy, kind, Severity::Low),
            principal: Principal {
                appid: None,
                oid: None,
                upn: None,
                kind: "vault".into(),
                name: Some(p.vault.clone()),
            },
            vault: Some(p.vault.clone()),
            evidence: super::Evidence::AccessPolicyVault(Evidence {
                permission_model: p.permission_model.clone(),
                principals: who.len(),
                roles,
                uncovered: p.uncovered.len(),
            }),
            recommendation: "The vault uses access policies: plan the switch to Azure RBAC with `kvaudit plan-rbac` (a role per principal from what the logs show it using, then `az keyvault update --enable-rbac-authorization true` once the grants have propagated). Control-plane API versions before 2026-02-01 retire on 27 February 2027: review templates and scripts that set access policies.".into(),
        });
    }
}
