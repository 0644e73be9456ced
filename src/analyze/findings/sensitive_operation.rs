//! `sensitive_operation`: a successful delete, purge, backup or restore of a
//! secret, key or certificate, a vault deletion, or a change to the vault:
//! what an attacker or a mistake leaves behind.

use super::{severity, Caller, Finding, FindingKind, Rules, Severity};
use crate::event::{format_time, Event, Text};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub operation: String,
    pub count: usize,
    /// The objects touched (secret, key or certificate names).
    pub objects: Vec<String>,
    /// When, in input order (the first ten).
    pub times: Vec<String>,
}

/// A sensitive success: its order in the input, time and object.
type Touch = (u64, DateTime<Utc>, Text);

/// Each sensitive success of one caller, by (operation, vault).
#[derive(Default)]
pub(super) struct Touches(BTreeMap<(Arc<str>, Text), Vec<Touch>>);

impl Touches {
    /// Keeps `e` if it is a sensitive operation; `order` is its place in
    /// the input.
    pub(super) fn add(&mut self, e: &Event, order: u64) {
        if sensitive_op(&e.operation) {
            self.0
                .entry((e.operation.clone(), e.vault.clone()))
                .or_default()
                .push((order, e.time, e.object_name.clone()));
        }
    }

    pub(super) fn merge(&mut self, o: Touches) {
        for (k, list) in o.0 {
            self.0.entry(k).or_default().extend(list);
        }
    }
}

pub(super) fn sensitive_op(op: &str) -> bool {
    let data = ["Secret", "Key", "Certificate"]
        .iter()
        .any(|p| op.starts_with(p))
        && ["Delete", "Purge", "Backup", "Restore"]
            .iter()
            .any(|s| op.ends_with(s));
    data || matches!(
        op,
        "VaultDelete"
            | "VaultPurge"
            | "VaultAccessPolicyChangedEventGridNotification"
            | "VaultPut"
            | "VaultPatch"
    )
}

pub(super) fn check(c: &Caller<'_>, rules: &Rules<'_>, out: &mut Vec<Finding>) {
    for ((op, vault), list) in &c.acc.sensitive.0 {
        let op: &str = op;
        // In input order, as they happened.
        let mut list: Vec<&Touch> = list.iter().collect();
        list.sort_by_key(|t| t.0);
        let high = op.ends_with("Purge") || op == "VaultDelete";
        let kind = FindingKind::SensitiveOperation;
        let objects: BTreeSet<&str> = list.iter().filter_map(|(_, _, o)| o.as_deref()).collect();
        out.push(Finding {
            kind,
            severity: severity(
                rules.policy,
                kind,
                if high { Severity::High } else { Severity::Medium },
            ),
            vault: Some(vault.as_deref().unwrap_or("").to_string()),
            principal: c.principal.clone(),
            evidence: super::Evidence::SensitiveOperation(Evidence {
                operation: op.to_string(),
                count: list.len(),
                objects: super::strings(&objects),
                times: list.iter().take(10).map(|(_, t, _)| format_time(t)).collect(),
            }),
            recommendation: format!("{op} succeeded: confirm it was a sanctioned change (deletions, purges, backups and access-policy changes are the operations an attacker or a mistake leaves behind)."),
        });
    }
}
