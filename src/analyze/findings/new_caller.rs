//! `new_caller`: a principal absent from the `--baseline` report.

use super::{severity, Caller, Finding, FindingKind, Rules, Severity};
use crate::event::format_time;
use serde::{Deserialize, Serialize};

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub principal_key: String,
    pub events: u64,
    pub first_seen: String,
}

pub(super) fn check(c: &Caller<'_>, rules: &Rules<'_>, out: &mut Vec<Finding>) {
    let Some(base) = rules.baseline else { return };
    let first = &c.acc.first.1;
    let key = first.principal_key().map(str::to_string);
    let known = |k: &str| {
        base.contains(&k.to_ascii_lowercase())
            || rules
                .redactor
                .is_some_and(|r| base.contains(&r.principal_key(k)))
    };
    let Some(k) = key.filter(|k| !known(k)) else {
        return;
    };
    let kind = FindingKind::NewCaller;
    out.push(Finding {
        kind,
        severity: severity(rules.policy, kind, Severity::Medium),
        vault: c
            .vaults
            .iter()
            .next()
            .map(std::string::ToString::to_string)
            .or(first.vault.as_deref().map(str::to_string)),
        principal: c.principal.clone(),
        evidence: super::Evidence::NewCaller(Evidence {
            principal_key: k,
            events: c.acc.events,
            first_seen: format_time(&first.time),
        }),
        recommendation: "This principal was not in the baseline report: confirm who owns it and why it reads this vault.".into(),
    });
}
