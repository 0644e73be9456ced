//! The detail of each caller in the report page: who it is, what it did
//! day by day (a sparkline with its summary in words), the objects it read,
//! its clients, addresses and unresolved denials.

use super::{cell_time, esc};
use crate::analyze::activity::CallerActivity;
use crate::analyze::findings::Evidence;
use crate::analyze::report::{DayCount, Report};
use crate::render::fit::human_time;
use crate::render::words;
use std::collections::{BTreeMap, HashMap};

/// A caller's (appid, oid, upn), to join the report's lists.
type Key<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// Each caller's reads: (object, reads, last read).
type Reads<'a> = HashMap<Key<'a>, Vec<(String, u64, Option<&'a str>)>>;

/// Objects named per caller; the rest are counted.
const OBJECTS_SHOWN: usize = 10;
/// Denials described per caller.
const DENIALS_SHOWN: usize = 5;
/// Clients named per caller.
const CLIENTS_SHOWN: usize = 5;

/// One bar per day of the report (`▁` to `█`, a space for none), then the
/// same in words.
fn timeline(all_days: &[&String], mine: &BTreeMap<String, DayCount>) -> (String, String) {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = mine.values().map(|d| d.requests).max().unwrap_or(0).max(1);
    let bars: String = all_days
        .iter()
        .map(|d| match mine.get(*d) {
            Some(c) if c.requests > 0 => {
                // The busiest day is a full bar.
                let i = ((c.requests * 8).div_ceil(max) - 1).min(7) as usize;
                BARS[i]
            }
            _ => ' ',
        })
        .collect();
    let busiest = mine
        .iter()
        .max_by(|a, b| a.1.requests.cmp(&b.1.requests).then(b.0.cmp(a.0)));
    let denied_days = mine.values().filter(|d| d.denied > 0).count();
    let denied: u64 = mine.values().map(|d| d.denied).sum();
    let mut words = format!("active on {} of {} days", mine.len(), all_days.len());
    if let Some((day, c)) = busiest {
        words.push_str(&format!("; busiest {day} ({} request(s))", c.requests));
    }
    if denied > 0 {
        words.push_str(&format!("; {denied} denied on {denied_days} day(s)"));
    }
    (bars, words)
}

/// The body of each caller's `<details>` (escaped HTML), in the order of
/// `r.callers`.
pub(super) fn details(r: &Report) -> Vec<String> {
    let mut reads: Reads<'_> = HashMap::new();
    for a in &r.access {
        for x in &a.readers {
            reads
                .entry((x.appid.as_deref(), x.oid.as_deref(), x.upn.as_deref()))
                .or_default()
                .push((
                    format!(
                        "{} {} in {}",
                        a.object_type,
                        a.object_name,
                        a.vault.as_deref().unwrap_or("?")
                    ),
                    x.reads,
                    x.last_read.as_deref(),
                ));
        }
    }
    let mut denied: HashMap<Key<'_>, Vec<String>> = HashMap::new();
    for f in &r.findings {
        if matches!(f.evidence, Evidence::DeniedAccess(_)) {
            let p = &f.principal;
            denied
                .entry((p.appid.as_deref(), p.oid.as_deref(), p.upn.as_deref()))
                .or_default()
                .extend(words::evidence(f));
        }
    }
    let activity: HashMap<Key<'_>, &CallerActivity> = r
        .activity
        .iter()
        .map(|a| ((a.appid.as_deref(), a.oid.as_deref(), a.upn.as_deref()), a))
        .collect();
    let all_days: Vec<&String> = r.summary.per_day.keys().collect();
    r.callers
        .iter()
        .map(|c| {
            let key = (c.appid.as_deref(), c.oid.as_deref(), c.upn.as_deref());
            let ids = [("appid", &c.appid), ("oid", &c.oid), ("upn", &c.upn)]
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k} {v}")))
                .collect::<Vec<_>>()
                .join(", ");
            let read = reads.get_mut(&key).map_or_else(
                || "nothing".to_string(),
                |list| {
                    list.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                    let mut text = list
                        .iter()
                        .take(OBJECTS_SHOWN)
                        .map(|(what, n, last)| {
                            format!("{what}: {n} read(s), last {}", cell_time(*last))
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    if list.len() > OBJECTS_SHOWN {
                        text.push_str(&format!(" (+{} more)", list.len() - OBJECTS_SHOWN));
                    }
                    text
                },
            );
            let act = activity.get(&key);
            let ips = act.map_or_else(String::new, |a| {
                let more = a.ip_count.saturating_sub(a.ips.len() as u64);
                if more > 0 {
                    format!("{} (+{more} more)", a.ips.join(", "))
                } else {
                    a.ips.join(", ")
                }
            });
            let denials = denied.get(&key).map_or_else(
                || "none left unresolved".to_string(),
                |l| words::list(l, DENIALS_SHOWN),
            );
            let (bars, days) = act.map_or_else(
                || (String::new(), String::new()),
                |a| timeline(&all_days, &a.per_day),
            );
            let mut o = String::from("<dl>");
            let facts = [
                ("ids", ids),
                ("requests", format!("{} ({} denied)", c.events, c.denied)),
                (
                    "seen (UTC)",
                    format!(
                        "{} to {}",
                        human_time(&c.first_seen),
                        human_time(&c.last_seen)
                    ),
                ),
                ("vaults", c.vault_names.join(", ")),
                ("operations", c.operations.join(", ")),
                ("objects read", read),
            ];
            for (k, v) in facts {
                o.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v)));
            }
            o.push_str(&format!(
                "<dt>requests per day (UTC)</dt><dd><span class=\"spark\" aria-hidden=\"true\">{}</span> {}</dd>",
                esc(&bars),
                esc(&days)
            ));
            for (k, v) in [
                ("clients", words::list(&c.clients, CLIENTS_SHOWN)),
                ("IP addresses", ips),
                ("denials", denials),
            ] {
                o.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v)));
            }
            o.push_str("</dl>");
            o
        })
        .collect()
}
