//! The report's findings as OCSF Detection Findings (class 2004), for
//! SIEMs and security hubs that ingest the Open Cybersecurity Schema
//! Framework: a JSON array (`ocsf`) or one event per line (`ocsf-jsonl`).
//! Schema: <https://schema.ocsf.io/1.5.0/classes/detection_finding>. Under
//! OCSF 1.6 the least-privilege results (broader_than_used,
//! unused_assignment) are IAM Analysis Findings (class 2008,
//! <https://schema.ocsf.io/1.6.0/classes/iam_analysis_finding>).

use super::{Renderer, View};
use crate::analyze::findings::{Evidence, Finding, Severity};
use crate::analyze::report::Report;
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub struct Ocsf {
    /// One event per line instead of one array.
    pub lines: bool,
    pub version: OcsfVersion,
}

/// The OCSF version the events follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OcsfVersion {
    /// Every finding a Detection Finding.
    #[default]
    V1_5,
    /// Least-privilege results as IAM Analysis Findings (added in 1.6).
    V1_6,
}

impl OcsfVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            OcsfVersion::V1_5 => "1.5.0",
            OcsfVersion::V1_6 => "1.6.0",
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn millis(t: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// (first, last) seen of a finding, from its evidence (or the period).
fn seen(f: &Finding, r: &Report) -> (Option<i64>, Option<i64>) {
    let period = (
        millis(r.period.from.as_deref()),
        millis(r.period.to.as_deref()),
    );
    match &f.evidence {
        Evidence::UserBoundAutomation(e) => (
            millis(e.first_seen.as_deref()),
            millis(e.last_seen.as_deref()),
        ),
        Evidence::MassSecretRetrieval(e) => {
            let day = millis(Some(&format!("{}T00:00:00Z", e.day)));
            (day, day.map(|d| d + 86_400_000 - 1))
        }
        Evidence::SensitiveOperation(e) => (
            millis(e.times.first().map(String::as_str)),
            millis(e.times.last().map(String::as_str)),
        ),
        Evidence::DeniedAccess(e) => (
            millis(e.first_seen.as_deref()),
            millis(e.last_seen.as_deref()),
        ),
        Evidence::NewCaller(e) => (millis(Some(&e.first_seen)), period.1),
        Evidence::BroaderThanUsed(e) => (
            millis(e.window_from.as_deref()),
            millis(e.window_to.as_deref()),
        ),
        Evidence::UnusedAssignment(e) => (
            millis(e.window_from.as_deref()),
            millis(e.window_to.as_deref()),
        ),
        Evidence::DormantObject(e) => (
            millis(e.window_from.as_deref()),
            millis(e.window_to.as_deref()),
        ),
        Evidence::GuestAccess(_) | Evidence::AccessPolicyVault(_) => period,
    }
}

/// What tells this finding from another of the same type, principal and
/// vault (so that its uid is the same in every run that finds it).
fn discriminator(f: &Finding) -> String {
    match &f.evidence {
        Evidence::MassSecretRetrieval(e) => e.day.clone(),
        Evidence::SensitiveOperation(e) => e.operation.clone(),
        Evidence::DeniedAccess(e) => format!(
            "{}|{}|{}",
            e.denial,
            e.operation.as_deref().unwrap_or(""),
            e.object.as_deref().unwrap_or("")
        ),
        Evidence::BroaderThanUsed(e) => e.assignment_id.clone().unwrap_or_else(|| e.scope.clone()),
        Evidence::UnusedAssignment(e) => e.assignment_id.clone().unwrap_or_else(|| e.scope.clone()),
        _ => String::new(),
    }
}

/// A stable id: the same finding gets the same uid in every report.
fn uid(f: &Finding) -> String {
    let p = &f.principal;
    let key = [
        "kvaudit",
        f.kind.as_str(),
        p.oid.as_deref().or(p.appid.as_deref()).unwrap_or(""),
        p.upn.as_deref().unwrap_or(""),
        f.vault.as_deref().unwrap_or(""),
        &discriminator(f),
    ]
    .join("|")
    .to_ascii_lowercase();
    let d = Sha256::digest(key.as_bytes());
    format!(
        "kvaudit-{}",
        d[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn severity(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
    }
}

/// The vault (and, for a denial, the object) as OCSF resources, with ARM
/// ids where the finding carries them.
fn resources(f: &Finding) -> Vec<Value> {
    let mut out = Vec::new();
    let scope = match &f.evidence {
        Evidence::DeniedAccess(e) if e.scope.starts_with("/subscriptions/") => Some(&e.scope),
        _ => None,
    };
    if let Some(vault) = &f.vault {
        let mut v = Map::new();
        v.insert("type".into(), json!("Microsoft.KeyVault/vaults"));
        v.insert("name".into(), json!(vault));
        // The vault's ARM id is the scope up to `/vaults/<name>`.
        let marker = format!("/vaults/{}", vault.to_ascii_lowercase());
        if let Some(s) = scope {
            if let Some(i) = s.to_ascii_lowercase().find(&marker) {
                v.insert("uid".into(), json!(&s[..i + marker.len()]));
            }
        }
        out.push(Value::Object(v));
    }
    if let (Evidence::DeniedAccess(e), Some(s)) = (&f.evidence, scope) {
        if let Some(object) = &e.object {
            if s.contains("/secrets/") || s.contains("/keys/") || s.contains("/certificates/") {
                let kind = ["secrets", "keys", "certificates"]
                    .into_iter()
                    .find(|k| s.contains(&format!("/{k}/")))
                    .unwrap_or("secrets");
                out.push(json!({
                    "type": format!("Microsoft.KeyVault/vaults/{kind}"),
                    "name": object,
                    "uid": s,
                }));
            }
        }
    }
    out
}

/// The principal: a person as `actor.user`, an application as
/// `actor.app_name` with its ids on `actor.user`.
fn actor(f: &Finding) -> Value {
    let p = &f.principal;
    let person = matches!(p.kind.as_str(), "user" | "guest_user");
    let mut user = Map::new();
    if let Some(id) = p.oid.as_deref().or(p.appid.as_deref()) {
        user.insert("uid".into(), json!(id));
    }
    if let Some(n) = p.upn.as_deref().or(p.name.as_deref()) {
        user.insert("name".into(), json!(n));
    }
    if let Some(u) = p.upn.as_deref().filter(|u| u.contains('@')) {
        user.insert("email_addr".into(), json!(u));
    }
    // OCSF user types: 1 User, 99 Other (with the kind as its name).
    let (type_id, type_name) = if person {
        (1, "User".to_string())
    } else {
        // "Service Principal", "Managed Identity": cased as "User" is.
        let words: Vec<String> = p
            .kind
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        (99, words.join(" "))
    };
    user.insert("type_id".into(), json!(type_id));
    user.insert("type".into(), json!(type_name));
    let mut a = Map::new();
    a.insert("user".into(), Value::Object(user));
    if !person {
        if let Some(n) = &p.name {
            a.insert("app_name".into(), json!(n));
        }
        if let Some(id) = &p.appid {
            a.insert("app_uid".into(), json!(id));
        }
    }
    Value::Object(a)
}

/// The principal as an OCSF user (the subject of an IAM analysis).
fn subject(f: &Finding) -> Value {
    actor(f)["user"].clone()
}

/// A role assignment's analysis: the role as the policy, its data actions
/// granted, how many of them the window did not use.
fn permission_analysis(f: &Finding) -> Option<Value> {
    let (role, scope, id, used): (&str, &str, Option<&String>, &[String]) = match &f.evidence {
        Evidence::BroaderThanUsed(e) => {
            (&e.role, &e.scope, e.assignment_id.as_ref(), &e.used_actions)
        }
        Evidence::UnusedAssignment(e) => (&e.role, &e.scope, e.assignment_id.as_ref(), &[]),
        _ => return None,
    };
    let k = crate::analyze::permissions::knowledge();
    let granted: Vec<String> = k
        .role(role)
        .map(|r| r.data_actions.clone())
        .unwrap_or_default();
    // The data actions the role's patterns grant, of those Key Vault
    // defines (the operation table), less the ones the window used.
    let mut actions: Vec<&str> = k
        .operations
        .iter()
        .filter_map(|o| o.data_action.as_deref())
        .filter(|a| {
            granted
                .iter()
                .any(|g| crate::analyze::permissions::action_matches(g, a))
        })
        .collect();
    actions.sort_unstable();
    actions.dedup();
    let unused = actions
        .iter()
        .filter(|a| !used.iter().any(|u| u.eq_ignore_ascii_case(a)))
        .count();
    let mut policy = json!({
        "name": role,
        "desc": format!("Azure role assignment of {role} at {scope}"),
    });
    if let Some(id) = id {
        policy["uid"] = json!(id);
    }
    let mut out = json!({ "policy": policy });
    if !granted.is_empty() {
        out["granted_privileges"] = json!(granted);
        out["unused_privileges_count"] = json!(unused);
    }
    Some(out)
}

/// One finding as an event of its class.
fn event(f: &Finding, r: &Report, version: OcsfVersion) -> Result<Value> {
    let mut v = detection(f, r, version)?;
    let analysis = match version {
        OcsfVersion::V1_6 => permission_analysis(f),
        OcsfVersion::V1_5 => None,
    };
    if let (Some(a), Some(o)) = (analysis, v.as_object_mut()) {
        // IAM Analysis Finding: the principal is its subject (`user`), the
        // assignment its permission analysis; no evidences attribute.
        let data = o
            .remove("evidences")
            .and_then(|e| e.get(0).and_then(|e| e.get("data")).cloned());
        o.insert("class_uid".into(), json!(2008));
        o.insert("class_name".into(), json!("IAM Analysis Finding"));
        o.insert("type_uid".into(), json!(200_801));
        o.insert("type_name".into(), json!("IAM Analysis Finding: Create"));
        o.insert("user".into(), subject(f));
        o.insert("permission_analysis_results".into(), json!([a]));
        // The supporting counts stay with the event, unmapped.
        if let Some(d) = data {
            o.insert("unmapped".into(), json!({ "kvaudit_evidence": d }));
        }
    }
    Ok(v)
}

/// One finding as a Detection Finding.
fn detection(f: &Finding, r: &Report, version: OcsfVersion) -> Result<Value> {
    let (sev_id, sev) = severity(f.severity);
    let (first, last) = seen(f, r);
    let now = millis(Some(&r.generated_at)).unwrap_or(0);
    let data = serde_json::to_value(&f.evidence).map_err(|e| Error::Output(e.to_string()))?;
    let who = super::words::principal(&f.principal);
    let title = match &f.vault {
        Some(v) => format!("{}: {who} on {v}", f.kind.as_str()),
        None => format!("{}: {who}", f.kind.as_str()),
    };
    let mut info = json!({
        "uid": uid(f),
        "title": title,
        "desc": super::words::evidence(f).join("; "),
        "types": [f.kind.as_str()],
        "data_sources": ["Azure Key Vault AuditEvent"],
    });
    if let Some(t) = first {
        info["first_seen_time"] = json!(t);
    }
    if let Some(t) = last {
        info["last_seen_time"] = json!(t);
    }
    let count = match &f.evidence {
        Evidence::DeniedAccess(e) => Some(e.count),
        Evidence::SensitiveOperation(e) => Some(e.count as u64),
        Evidence::UserBoundAutomation(e) => Some(e.reads),
        Evidence::GuestAccess(e) => Some(e.reads),
        Evidence::NewCaller(e) => Some(e.events),
        Evidence::MassSecretRetrieval(e) => Some(u64::from(e.distinct_secrets)),
        Evidence::BroaderThanUsed(e) => Some(e.operations.values().sum()),
        Evidence::UnusedAssignment(_) => Some(0),
        Evidence::AccessPolicyVault(e) => Some(e.principals as u64),
        Evidence::DormantObject(e) => Some(e.count as u64),
    };
    let mut v = json!({
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200_401,
        "type_name": "Detection Finding: Create",
        "severity_id": sev_id,
        "severity": sev,
        "status_id": 1,
        "status": "New",
        "time": now,
        "metadata": {
            "version": version.as_str(),
            "product": {
                "name": "kvaudit",
                "vendor_name": "kvaudit",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "log_name": "AuditEvent",
            "profiles": ["cloud"],
        },
        "cloud": { "provider": "Azure" },
        "finding_info": info,
        "resources": resources(f),
        "evidences": [{ "actor": actor(f), "data": data }],
        "remediation": { "desc": f.recommendation },
    });
    if let Some(t) = first {
        v["start_time"] = json!(t);
    }
    if let Some(t) = last {
        v["end_time"] = json!(t);
    }
    if let Some(c) = count {
        v["count"] = json!(c);
    }
    Ok(v)
}

impl Renderer for Ocsf {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let View::Report(r) = view else {
            return Err(Error::Output(
                "OCSF is available for `kvaudit report` only".into(),
            ));
        };
        let events = r
            .findings
            .iter()
            .map(|f| event(f, r, self.version))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::new();
        let err = |e: serde_json::Error| Error::Output(e.to_string());
        if self.lines {
            for e in &events {
                serde_json::to_writer(&mut out, e).map_err(err)?;
                out.push(b'\n');
            }
        } else {
            serde_json::to_writer_pretty(&mut out, &events).map_err(err)?;
            out.push(b'\n');
        }
        Ok(out)
    }
}
