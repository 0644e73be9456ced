//! `guest_access`: a guest (external) user reads secrets.

use super::{severity, Caller, Finding, FindingKind, Rules, Severity};
use crate::identify::Kind;
use serde::{Deserialize, Serialize};

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub reads: u64,
    pub secrets: Vec<String>,
    pub vaults: Vec<String>,
}

pub(super) fn check(c: &Caller<'_>, rules: &Rules<'_>, out: &mut Vec<Finding>) {
    if c.id.kind != Kind::GuestUser || c.acc.read_count == 0 {
        return;
    }
    let kind = FindingKind::GuestAccess;
    out.push(Finding {
        kind,
        severity: severity(rules.policy, kind, Severity::High),
        vault: c.vaults.iter().next().map(std::string::ToString::to_string),
        principal: c.principal.clone(),
        evidence: super::Evidence::GuestAccess(Evidence {
            reads: c.acc.read_count,
            secrets: super::strings(&c.secrets),
            vaults: super::strings(&c.vaults),
        }),
        recommendation: "A guest (external) user reads secrets: confirm it is intended, prefer a member account or a workload identity, and review the guest's role assignments.".into(),
    });
}
