//! `dormant_object`: secrets, keys and certificates a vault holds (from
//! `--objects`) that nothing read in the window, one finding per vault.

use super::{severity, Finding, FindingKind, Principal, Rules, Severity};
use crate::analyze::access::ObjectAccess;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// `secret/name`, `key/name`, `certificate/name`.
    pub objects: Vec<String>,
    pub count: usize,
    /// What the logs cover of the vault.
    pub window_from: Option<String>,
    pub window_to: Option<String>,
    pub window_days: f64,
    pub caution: Option<String>,
}

pub(super) fn check(
    objects: &[ObjectAccess],
    windows: &BTreeMap<String, (Option<String>, Option<String>, f64)>,
    rules: &Rules<'_>,
    out: &mut Vec<Finding>,
) {
    let kind = FindingKind::DormantObject;
    let mut by_vault: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in objects.iter().filter(|o| o.unused) {
        by_vault
            .entry(o.vault.clone().unwrap_or_default())
            .or_default()
            .push(format!("{}/{}", o.object_type, o.object_name));
    }
    for (vault, objects) in by_vault {
        let (from, to, days) = windows.get(&vault).cloned().unwrap_or((None, None, 0.0));
        let caution = (days < crate::analyze::rights::SHORT_WINDOW_DAYS).then(|| {
            format!("the logs cover {days} days of this vault: an object read monthly or quarterly may look dormant; disable before deleting")
        });
        out.push(Finding {
            kind,
            severity: severity(rules.policy, kind, Severity::Low),
            principal: Principal {
                appid: None,
                oid: None,
                upn: None,
                kind: "vault".into(),
                name: Some(vault.clone()),
            },
            vault: Some(vault),
            evidence: super::Evidence::DormantObject(Evidence {
                count: objects.len(),
                objects,
                window_from: from,
                window_to: to,
                window_days: days,
                caution,
            }),
            recommendation: "Nothing read these objects in the window: find their owners, then disable (az keyvault secret set-attributes --enabled false) before deleting, so a rare reader fails loudly and can be restored.".into(),
        });
    }
}
