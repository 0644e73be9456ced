//! `user_bound_automation`: a user reading secrets at the same time of day
//! on most days through runtime or SDK clients: a person's account is the
//! production credential, and the job stops when they leave.

use super::{severity, Caller, Finding, FindingKind, Rules, Severity};
use crate::collections::TextSet;
use crate::event::{format_time, Event};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub cadence: Cadence,
    pub days_seen: usize,
    pub reads: u64,
    pub reads_outside_working_hours: u64,
    pub secrets: Vec<String>,
    pub vaults: Vec<String>,
    pub clients: Vec<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub account_enabled: Option<bool>,
}

/// When the reads happen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cadence {
    pub pattern: String,
    pub time_of_day_utc: String,
    pub days_at_that_time: usize,
}

/// Cadence of a user's secret reads, if they look scheduled.
fn cadence(first_per_day: &BTreeMap<NaiveDate, u32>) -> Option<Cadence> {
    let days = first_per_day.len();
    if days < 4 {
        return None;
    }
    let mut minutes: Vec<u32> = first_per_day.values().copied().collect();
    minutes.sort_unstable();
    let median = minutes[days / 2];
    let near = minutes
        .iter()
        .filter(|m| m.abs_diff(median) <= 10 || m.abs_diff(median) >= 1430)
        .count();
    let share = near as f64 / days as f64;
    (share >= 0.7).then(|| Cadence {
        pattern: "same time of day".into(),
        time_of_day_utc: format!("{:02}:{:02}", median / 60, median % 60),
        days_at_that_time: near,
    })
}

fn is_browser(client: &str) -> bool {
    let c = client.to_ascii_lowercase();
    c.starts_with("mozilla/") || c.contains("azureportal") || c.contains("ibiza")
}

pub(super) fn check(c: &Caller<'_>, rules: &Rules<'_>, out: &mut Vec<Finding>) {
    let (p, id, reads) = (c.principal, c.id, &c.acc.reads);
    let allowed = [&p.upn, &p.oid, &p.appid]
        .iter()
        .filter_map(|v| v.as_deref())
        .any(|v| {
            rules
                .policy
                .allowed_user_bound
                .iter()
                .any(|a| a.eq_ignore_ascii_case(v))
        });
    if !(id.kind.is_user() && c.acc.reads_complete() && reads.count > 0 && !allowed) {
        return;
    }
    let non_browser = !c.clients.is_empty() && c.clients.iter().all(|c| !is_browser(c));
    let (Some(cadence), true) = (cadence(&reads.first_per_day), non_browser) else {
        return;
    };
    let disabled = id.account_enabled == Some(false);
    let kind = FindingKind::UserBoundAutomation;
    out.push(Finding {
        kind,
        severity: if disabled {
            Severity::High
        } else {
            severity(rules.policy, kind, Severity::High)
        },
        vault: c.vaults.iter().next().map(std::string::ToString::to_string),
        principal: p.clone(),
        evidence: super::Evidence::UserBoundAutomation(Evidence {
            cadence,
            days_seen: reads.first_per_day.len(),
            reads: reads.count,
            reads_outside_working_hours: reads.off_hours,
            secrets: super::strings(&c.secrets),
            vaults: super::strings(&c.vaults),
            clients: super::strings(&c.clients),
            first_seen: reads.first.as_ref().map(|f| format_time(&f.1)),
            last_seen: reads.last.as_ref().map(|l| format_time(&l.1)),
            account_enabled: id.account_enabled,
        }),
        recommendation: format!("{}A person's account is the production credential: the job stops when they leave. Run it as a workspace identity, service principal or managed identity and grant that identity Key Vault Secrets User on the secrets it reads.", if disabled { "The user's account is disabled: the job is already failing or will. " } else { "" }),
    });
}

/// The successful secret reads of a caller, as the cadence check and the
/// evidence need them (not one entry per read).
#[derive(Default)]
pub(super) struct Reads {
    pub(super) count: u64,
    /// Day → earliest minute of the day (UTC) with a read.
    pub(super) first_per_day: BTreeMap<NaiveDate, u32>,
    pub(super) off_hours: u64,
    pub(super) secrets: TextSet,
    pub(super) clients: TextSet,
    /// The earliest and the latest read (ties: the first in input order),
    /// with their order: inputs are not always sorted by time.
    pub(super) first: Option<(u64, DateTime<Utc>)>,
    pub(super) last: Option<(u64, DateTime<Utc>)>,
}

impl Reads {
    pub(super) fn add(&mut self, e: &Event, order: u64) {
        self.count += 1;
        let m = e.time.hour() * 60 + e.time.minute();
        self.first_per_day
            .entry(e.time.date_naive())
            .and_modify(|v| *v = (*v).min(m))
            .or_insert(m);
        let h = e.time.hour();
        if !(7..19).contains(&h) || matches!(e.time.weekday(), Weekday::Sat | Weekday::Sun) {
            self.off_hours += 1;
        }
        if let Some(o) = &e.object_name {
            self.secrets.insert(o);
        }
        if let Some(c) = &e.client_info {
            self.clients.insert(c);
        }
        if self.first.is_none_or(|(o, t)| (e.time, order) < (t, o)) {
            self.first = Some((order, e.time));
        }
        if self
            .last
            .is_none_or(|(o, t)| (e.time, std::cmp::Reverse(order)) > (t, std::cmp::Reverse(o)))
        {
            self.last = Some((order, e.time));
        }
    }

    pub(super) fn merge(&mut self, o: Reads) {
        self.count += o.count;
        for (day, m) in o.first_per_day {
            self.first_per_day
                .entry(day)
                .and_modify(|v| *v = (*v).min(m))
                .or_insert(m);
        }
        self.off_hours += o.off_hours;
        self.secrets.merge(o.secrets);
        self.clients.merge(o.clients);
        self.first = self
            .first
            .into_iter()
            .chain(o.first)
            .min_by_key(|f| (f.1, f.0));
        self.last = self
            .last
            .into_iter()
            .chain(o.last)
            .max_by_key(|l| (l.1, std::cmp::Reverse(l.0)));
    }
}
