//! What each caller did day by day and from where (requests and denials
//! per UTC day, client addresses), for the report's per-caller view;
//! gathered by caller slot on the parsing threads and merged.

use crate::collections::TextSet;
use crate::event::Event;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Requests and 403s of one UTC day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DayCount {
    pub requests: u64,
    pub denied: u64,
}

/// One caller's days and addresses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallerActivity {
    pub appid: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    /// Requests and 403s per UTC day (`YYYY-MM-DD`), days with requests
    /// only.
    pub per_day: BTreeMap<String, DayCount>,
    /// Distinct client IP addresses, sorted (at most [`MAX_IPS`]).
    pub ips: Vec<String>,
    /// How many distinct addresses there were in all.
    pub ip_count: u64,
}

/// Addresses listed per caller; the rest are counted.
pub const MAX_IPS: usize = 50;

#[derive(Debug, Default)]
struct Acc {
    per_day: BTreeMap<chrono::NaiveDate, DayCount>,
    ips: TextSet,
}

/// Per caller slot (see [`crate::analyze::callers::CallerFold::add_ordered`]).
#[derive(Debug, Default)]
pub struct ActivityFold {
    callers: Vec<Acc>,
}

impl ActivityFold {
    pub fn add(&mut self, slot: usize, e: &Event) {
        if slot >= self.callers.len() {
            self.callers.resize_with(slot + 1, Acc::default);
        }
        let a = &mut self.callers[slot];
        let d = a.per_day.entry(e.time.date_naive()).or_default();
        d.requests += 1;
        if e.status == Some(403) {
            d.denied += 1;
        }
        if let Some(ip) = &e.caller_ip {
            a.ips.insert(ip);
        }
    }

    /// Folds in requests like `e` of the caller in `slot`:
    /// `days` are how many fell on each UTC day.
    pub fn add_days(&mut self, slot: usize, e: &Event, days: &[(chrono::NaiveDate, u64)]) {
        if slot >= self.callers.len() {
            self.callers.resize_with(slot + 1, Acc::default);
        }
        let a = &mut self.callers[slot];
        let denied = u64::from(e.status == Some(403));
        for &(day, n) in days {
            let d = a.per_day.entry(day).or_default();
            d.requests += n;
            d.denied += n * denied;
        }
        if let Some(ip) = &e.caller_ip {
            a.ips.insert(ip);
        }
    }

    /// Merges another part in: `to` maps each of its slots to one here.
    pub fn merge(&mut self, other: ActivityFold, to: &[usize]) {
        for (acc, &i) in other.callers.into_iter().zip(to) {
            if i >= self.callers.len() {
                self.callers.resize_with(i + 1, Acc::default);
            }
            let mine = &mut self.callers[i];
            for (day, c) in acc.per_day {
                let d = mine.per_day.entry(day).or_default();
                d.requests += c.requests;
                d.denied += c.denied;
            }
            mine.ips.merge(acc.ips);
        }
    }

    /// The activity of each caller, in slot order; `keys` are the callers
    /// of the slots.
    pub fn rows<'k>(
        &self,
        keys: impl Iterator<Item = &'k crate::event::CallerId>,
    ) -> Vec<CallerActivity> {
        let empty = Acc::default();
        keys.enumerate()
            .map(|(i, (appid, oid, upn))| {
                let a = self.callers.get(i).unwrap_or(&empty);
                let s = |v: &crate::event::Text| v.as_deref().map(str::to_string);
                CallerActivity {
                    appid: s(appid),
                    oid: s(oid),
                    upn: s(upn),
                    per_day: a
                        .per_day
                        .iter()
                        .map(|(d, c)| (d.to_string(), c.clone()))
                        .collect(),
                    ips: a
                        .ips
                        .iter()
                        .take(MAX_IPS)
                        .map(std::string::ToString::to_string)
                        .collect(),
                    ip_count: a.ips.len() as u64,
                }
            })
            .collect()
    }
}
