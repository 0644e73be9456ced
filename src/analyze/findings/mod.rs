//! Finds what a security review cares about, one rule per file: user-bound
//! automation, mass secret retrieval, sensitive operations, unresolved
//! denials, new callers and guest access. Thresholds and severities come
//! from the policy. The evidence each rule needs is gathered per caller as
//! events are read ([`FindingsAcc`], merged across parsing threads); the
//! rules run once at the end ([`FindingsFold::finish`]).
//!
//! A new rule: a file here with its `Evidence` and `check`, a
//! [`FindingKind`] and an [`Evidence`] variant, a call in `finish`, and, if
//! it needs per-event evidence, a field of `CallerAcc`.

mod access_policy_vault;
mod broader_than_used;
pub mod denied_access;
mod dormant_object;
mod guest_access;
mod mass_secret_retrieval;
mod new_caller;
mod sensitive_operation;
mod unused_assignment;
mod user_bound_automation;

use crate::analyze::explain::Explanation;
use crate::analyze::redact::Redactor;
use crate::event::{CallerId, Event};
use crate::identify::{self, CallerKey, Identity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            other => Err(format!("expected low, medium or high, found {other:?}")),
        }
    }
}

/// The finding types (`type` in the report JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    UserBoundAutomation,
    MassSecretRetrieval,
    SensitiveOperation,
    DeniedAccess,
    NewCaller,
    GuestAccess,
    BroaderThanUsed,
    UnusedAssignment,
    AccessPolicyVault,
    DormantObject,
}

impl FindingKind {
    /// The name in the report and in the policy's `[severity]` table.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::UserBoundAutomation => "user_bound_automation",
            FindingKind::MassSecretRetrieval => "mass_secret_retrieval",
            FindingKind::SensitiveOperation => "sensitive_operation",
            FindingKind::DeniedAccess => "denied_access",
            FindingKind::NewCaller => "new_caller",
            FindingKind::GuestAccess => "guest_access",
            FindingKind::BroaderThanUsed => "broader_than_used",
            FindingKind::UnusedAssignment => "unused_assignment",
            FindingKind::AccessPolicyVault => "access_policy_vault",
            FindingKind::DormantObject => "dormant_object",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `kvaudit.toml`: what the organisation accepts.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// upns, oids or appids allowed to read secrets on a schedule.
    pub allowed_user_bound: Vec<String>,
    /// upns, oids or appids never reported.
    pub ignore: Vec<String>,
    /// Distinct secrets one caller may read in a day (default 25).
    pub mass_secret_threshold: Option<usize>,
    /// Severity per finding type, e.g. `new_caller = "high"`.
    pub severity: HashMap<String, Severity>,
}

/// The severity of `kind`: the policy's, else `default`.
fn severity(policy: &Policy, kind: FindingKind, default: Severity) -> Severity {
    policy
        .severity
        .get(kind.as_str())
        .copied()
        .unwrap_or(default)
}

/// Who a finding is about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Principal {
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    pub kind: String,
    pub name: Option<String>,
}

/// One finding of the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    #[serde(rename = "type")]
    pub kind: FindingKind,
    pub severity: Severity,
    pub principal: Principal,
    pub vault: Option<String>,
    pub evidence: Evidence,
    pub recommendation: String,
}

/// What a finding shows, by type (each rule's `Evidence`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Evidence {
    UserBoundAutomation(user_bound_automation::Evidence),
    MassSecretRetrieval(mass_secret_retrieval::Evidence),
    SensitiveOperation(sensitive_operation::Evidence),
    DeniedAccess(denied_access::Evidence),
    NewCaller(new_caller::Evidence),
    GuestAccess(guest_access::Evidence),
    BroaderThanUsed(broader_than_used::Evidence),
    UnusedAssignment(unused_assignment::Evidence),
    AccessPolicyVault(access_policy_vault::Evidence),
    DormantObject(dormant_object::Evidence),
}

fn principal(e: &Event, id: &Identity) -> Principal {
    Principal {
        appid: e.caller_appid.as_deref().map(str::to_string),
        oid: e.caller_oid.as_deref().map(str::to_string),
        upn: e.caller_upn.as_deref().map(str::to_string),
        kind: id.kind.as_str().into(),
        name: id.name.clone(),
    }
}

fn ok(e: &Event) -> bool {
    e.succeeded()
}

/// Sorted texts, owned (for evidence).
fn strings(set: &BTreeSet<&str>) -> Vec<String> {
    set.iter().map(std::string::ToString::to_string).collect()
}

/// What the findings need of one caller, gathered event by event. Every
/// field merges (sums, unions, extremes, the earliest by order), so each
/// parsing thread can fold its own events (see [`FindingsAcc`]).
struct CallerAcc {
    /// The caller's first event, with its order (boxed: read once, at the
    /// end, it would otherwise spread the fields read per event apart).
    first: (u64, Box<Event>),
    events: u64,
    /// The successful secret reads made with delegated claims (upn, scp,
    /// idtyp user): only users' tokens carry them, so only those reads are
    /// detailed.
    reads: user_bound_automation::Reads,
    /// Successful secret reads without delegated claims (not detailed).
    undetailed: u64,
    /// Vaults of all successful secret reads.
    read_vaults: crate::collections::TextSet,
    read_count: u64,
    /// Distinct secrets read per (day, vault).
    per_day: mass_secret_retrieval::DistinctPerDay,
    /// Each sensitive success.
    sensitive: sensitive_operation::Touches,
}

impl CallerAcc {
    fn merge(&mut self, o: CallerAcc) {
        if o.first.0 < self.first.0 {
            self.first = o.first;
        }
        self.events += o.events;
        self.undetailed += o.undetailed;
        self.reads.merge(o.reads);
        self.read_vaults.merge(o.read_vaults);
        self.read_count += o.read_count;
        self.per_day.merge(o.per_day);
        self.sensitive.merge(o.sensitive);
    }

    /// Whether every successful read was made with delegated claims (the
    /// reads are then the whole evidence of a user).
    fn reads_complete(&self) -> bool {
        self.undetailed == 0
    }
}

/// What every per-caller rule sees of one caller.
struct Caller<'a> {
    acc: &'a CallerAcc,
    id: &'a Identity,
    principal: &'a Principal,
    /// Secrets of the delegated reads.
    secrets: BTreeSet<&'a str>,
    /// Vaults of all successful secret reads.
    vaults: BTreeSet<&'a str>,
    /// Clients of the delegated reads.
    clients: BTreeSet<&'a str>,
}

/// What the rules are checked against.
struct Rules<'a> {
    policy: &'a Policy,
    baseline: Option<&'a HashSet<String>>,
    /// Pseudonyms of principal keys, when the baseline may be redacted.
    redactor: Option<&'a Redactor>,
}

/// The findings, from the evidence gathered one event at a time: memory
/// grows with callers, days and distinct secrets, not with events.
pub struct FindingsFold<'p> {
    policy: &'p Policy,
    acc: FindingsAcc,
    /// The caller of each slot.
    keys: Vec<CallerKey>,
}

/// The per-caller evidence of [`FindingsFold`], which merges: a parsing
/// thread folds its own events into one (see [`FindingsAcc::part`]), and
/// the parts are merged back with [`FindingsAcc::merge`].
pub struct FindingsAcc {
    /// `Policy::ignore`: callers never reported, never gathered.
    ignore: Arc<[String]>,
    /// By caller slot, as [`crate::analyze::callers::CallerFold::add_ordered`]
    /// numbers them (one caller lookup per event serves both folds); None
    /// for a caller ignored.
    callers: Vec<Option<CallerAcc>>,
}

impl<'p> FindingsFold<'p> {
    /// A fold of the evidence gathered in `acc`, whose slots are those of
    /// the callers `keys`.
    pub fn with<'k>(
        policy: &'p Policy,
        acc: FindingsAcc,
        keys: impl Iterator<Item = &'k CallerId>,
    ) -> Self {
        FindingsFold {
            policy,
            acc,
            keys: keys.map(identify::owned_key).collect(),
        }
    }

    /// Runs every rule: per caller, then over the unresolved denials.
    pub fn finish(
        self,
        explanation: &Explanation,
        baseline: Option<&HashSet<String>>,
        redactor: Option<&Redactor>,
        ids: &HashMap<CallerKey, Identity>,
    ) -> Vec<Finding> {
        let rules = Rules {
            policy: self.policy,
            baseline,
            redactor,
        };
        let mut out = Vec::new();
        let mut callers: Vec<(CallerKey, CallerAcc)> = self
            .acc
            .callers
            .into_iter()
            .zip(self.keys)
            .filter_map(|(acc, key)| Some((key, acc?)))
            .collect();
        callers.sort_by(|x, y| x.0.cmp(&y.0));
        for (key, acc) in &callers {
            let id = ids.get(key).cloned().unwrap_or_default();
            let p = principal(&acc.first.1, &id);
            let c = Caller {
                acc,
                id: &id,
                principal: &p,
                secrets: acc.reads.secrets.iter().map(|v| &**v).collect(),
                vaults: acc.read_vaults.iter().map(|v| &**v).collect(),
                clients: acc.reads.clients.iter().map(|v| &**v).collect(),
            };
            user_bound_automation::check(&c, &rules, &mut out);
            guest_access::check(&c, &rules, &mut out);
            mass_secret_retrieval::check(&c, &rules, &mut out);
            sensitive_operation::check(&c, &rules, &mut out);
            new_caller::check(&c, &rules, &mut out);
        }
        denied_access::check(explanation, &rules, &mut out);
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.kind.as_str().cmp(b.kind.as_str()))
        });
        out
    }
}

/// What the rules built on use (`access`, `rights`, `plan-rbac`) see.
pub struct UseInputs<'a> {
    /// `report --assignments`: each assignment's verdict.
    pub rights: Option<&'a [crate::analyze::rights::RightsRow]>,
    /// The access-policy vaults' plans.
    pub plans: &'a [crate::analyze::plan::VaultPlan],
    /// `report --objects`: the objects, with those never read flagged.
    pub objects: Option<&'a [crate::analyze::access::ObjectAccess]>,
    /// What the logs cover of each vault: from, to, days.
    pub vault_windows: std::collections::BTreeMap<String, (Option<String>, Option<String>, f64)>,
}

/// Runs the rules built on use and adds their findings to `found`, in the
/// report's order (by severity, then type).
pub fn add_use_findings(policy: &Policy, inputs: &UseInputs<'_>, found: &mut Vec<Finding>) {
    let rules = Rules {
        policy,
        baseline: None,
        redactor: None,
    };
    let ignored = |f: &Finding| {
        [&f.principal.appid, &f.principal.oid, &f.principal.upn]
            .into_iter()
            .flatten()
            .any(|v| policy.ignore.iter().any(|i| i.eq_ignore_ascii_case(v)))
    };
    let mut out = Vec::new();
    if let Some(rows) = inputs.rights {
        broader_than_used::check(rows, &rules, &mut out);
        unused_assignment::check(rows, &rules, &mut out);
    }
    access_policy_vault::check(inputs.plans, &rules, &mut out);
    if let Some(objects) = inputs.objects {
        dormant_object::check(objects, &inputs.vault_windows, &rules, &mut out);
    }
    found.extend(out.into_iter().filter(|f| !ignored(f)));
    found.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.as_str().cmp(b.kind.as_str()))
    });
}

impl FindingsAcc {
    /// Empty, for the callers `policy` does not ignore.
    pub fn new(policy: &Policy) -> Self {
        FindingsAcc {
            ignore: policy.ignore.clone().into(),
            callers: Default::default(),
        }
    }

    /// An empty part for a parsing thread.
    pub fn part(&self) -> FindingsAcc {
        FindingsAcc {
            ignore: self.ignore.clone(),
            callers: Default::default(),
        }
    }

    /// Folds one event of the caller in `slot` in; `order` is its place in
    /// the input.
    pub fn add(&mut self, slot: usize, e: &Event, order: u64) {
        if slot >= self.callers.len() {
            self.callers.resize_with(slot + 1, || None);
        }
        let a = match &mut self.callers[slot] {
            Some(a) => a,
            None => {
                let ignore = &self.ignore;
                let ignored = [&e.caller_upn, &e.caller_oid, &e.caller_appid]
                    .iter()
                    .filter_map(|v| v.as_deref())
                    .any(|v| ignore.iter().any(|i| i.eq_ignore_ascii_case(v)));
                if ignored {
                    return;
                }
                self.callers[slot].insert(CallerAcc {
                    first: (order, Box::new(e.clone())),
                    events: 0,
                    reads: Default::default(),
                    undetailed: 0,
                    read_vaults: Default::default(),
                    read_count: 0,
                    per_day: Default::default(),
                    sensitive: Default::default(),
                })
            }
        };
        if order < a.first.0 {
            a.first = (order, Box::new(e.clone()));
        }
        a.events += 1;
        if !ok(e) {
            return;
        }
        if e.operation.as_ref() == "SecretGet" {
            a.read_count += 1;
            if identify::delegated(e) {
                a.reads.add(e, order);
            } else {
                a.undetailed += 1;
            }
            if let Some(v) = &e.vault {
                a.read_vaults.insert(v);
            }
            if let Some(n) = e.object_name.as_deref() {
                a.per_day.add(e.time.date_naive(), &e.vault, n);
            }
        }
        a.sensitive.add(e, order);
    }

    /// [`FindingsAcc::add`] for events like `e` (which each `rows` makes
    /// one of, in input order), `days` how many fell on each UTC day.
    pub fn add_rows(
        &mut self,
        slot: usize,
        e: &mut Event,
        rows: &[crate::event::Occurrence],
        days: &[(chrono::NaiveDate, u64)],
    ) {
        let Some(first) = rows.first() else { return };
        first.apply(e);
        self.add(slot, e, first.order);
        let Some(Some(a)) = self.callers.get_mut(slot) else {
            return;
        };
        let more = rows.len() as u64 - 1;
        a.events += more;
        if !ok(e) {
            return;
        }
        if e.operation.as_ref() == "SecretGet" {
            a.read_count += more;
            if identify::delegated(e) {
                for r in &rows[1..] {
                    r.apply(e);
                    a.reads.add(e, r.order);
                }
            } else {
                a.undetailed += more;
            }
            if let Some(n) = e.object_name.as_deref() {
                for &(day, _) in days {
                    a.per_day.add(day, &e.vault, n);
                }
            }
        }
        if sensitive_operation::sensitive_op(&e.operation) {
            for r in &rows[1..] {
                r.apply(e);
                a.sensitive.add(e, r.order);
            }
        }
    }

    /// Merges another part's callers in: `to` maps each of its slots to
    /// one here (see [`crate::analyze::callers::CallerFold::merge`]).
    pub fn merge(&mut self, other: FindingsAcc, to: &[usize]) {
        for (acc, &i) in other.callers.into_iter().zip(to) {
            let Some(acc) = acc else { continue };
            if i >= self.callers.len() {
                self.callers.resize_with(i + 1, || None);
            }
            match &mut self.callers[i] {
                Some(mine) => mine.merge(acc),
                None => self.callers[i] = Some(acc),
            }
        }
    }
}

/// A read attributed to a person, as the per-caller rules see events: a
/// successful SecretGet by that person (delegated, through the Azure
/// Databricks client) on the vault's secret at the vault's time.
fn attributed_event(r: &crate::analyze::attribute::AttributedRead) -> Event {
    let t = |s: &str| Some(Arc::<str>::from(s));
    Event {
        time: chrono::DateTime::from_timestamp_micros(r.micros).unwrap_or_default(),
        vault: t(&r.vault),
        resource_id: None,
        operation: Arc::from("SecretGet"),
        object_type: t("secret"),
        object_name: t(&r.secret),
        status: Some(200),
        result_signature: None,
        result_description: None,
        caller_appid: t(crate::analyze::attribute::AZURE_DATABRICKS),
        caller_oid: None,
        caller_upn: t(&r.user),
        caller_idtyp: t("user"),
        caller_appidacr: None,
        caller_mirid: None,
        caller_tenant: None,
        caller_ip: None,
        client_info: t("Azure Databricks (dbutils.secrets.get)"),
        correlation_id: None,
        rbac_authorized: None,
        access_policy_match: None,
        applied_assignment_id: None,
        duration_ms: None,
        source: Arc::from("databricks attribution"),
        source_record: 0,
        caller_scp: None,
        request_uri: None,
        vault_kind: None,
    }
}

/// `report --databricks`: user-bound automation and mass retrieval over
/// the reads attributed to each person behind the AzureDatabricks
/// application (a nightly job reading a scope as a person is user-bound,
/// and named). `reads` come in time order.
pub fn attributed_findings(
    policy: &Policy,
    reads: impl Iterator<Item = crate::error::Result<crate::analyze::attribute::AttributedRead>>,
) -> crate::error::Result<Vec<Finding>> {
    let mut acc = FindingsAcc::new(policy);
    let mut slots: std::collections::BTreeMap<String, usize> = Default::default();
    for (order, r) in reads.enumerate() {
        let r = r?;
        let n = slots.len();
        let slot = *slots.entry(r.user.clone()).or_insert(n);
        acc.add(slot, &attributed_event(&r), order as u64);
    }
    let rules = Rules {
        policy,
        baseline: None,
        redactor: None,
    };
    let mut out = Vec::new();
    for (user, slot) in slots {
        let Some(Some(a)) = acc.callers.get(slot) else {
            continue;
        };
        let id = Identity {
            kind: identify::Kind::User,
            name: Some(format!("{user} via AzureDatabricks")),
            client_app: Some("Azure Databricks".into()),
            ..Default::default()
        };
        let p = principal(&a.first.1, &id);
        let c = Caller {
            acc: a,
            id: &id,
            principal: &p,
            secrets: a.reads.secrets.iter().map(|v| &**v).collect(),
            vaults: a.read_vaults.iter().map(|v| &**v).collect(),
            clients: a.reads.clients.iter().map(|v| &**v).collect(),
        };
        user_bound_automation::check(&c, &rules, &mut out);
        mass_secret_retrieval::check(&c, &rules, &mut out);
    }
    Ok(out)
}
