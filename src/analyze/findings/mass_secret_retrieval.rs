//! `mass_secret_retrieval`: one caller reading more distinct secrets in a
//! day than the threshold (default 25): a migration, a backup job, or
//! credential harvesting.

use super::{severity, Caller, Finding, FindingKind, Rules, Severity};
use crate::collections::{digest, DigestMap};
use crate::event::Text;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the finding shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub day: String,
    pub distinct_secrets: u32,
    pub threshold: usize,
}

pub(super) fn check(c: &Caller<'_>, rules: &Rules<'_>, out: &mut Vec<Finding>) {
    let threshold = rules.policy.mass_secret_threshold.unwrap_or(25);
    let busy = c
        .acc
        .per_day
        .counts()
        .into_iter()
        .filter(|(_, n)| *n as usize > threshold);
    for ((day, vault), names) in busy {
        let kind = FindingKind::MassSecretRetrieval;
        out.push(Finding {
            kind,
            severity: severity(rules.policy, kind, Severity::High),
            vault: Some(vault.as_deref().unwrap_or("").to_string()),
            principal: c.principal.clone(),
            evidence: super::Evidence::MassSecretRetrieval(Evidence {
                day: day.to_string(),
                distinct_secrets: names,
                threshold,
            }),
            recommendation: "One caller read more distinct secrets in a day than the threshold: check it is expected (a migration, a backup job) and not credential harvesting.".into(),
        });
    }
}

/// How many distinct secrets a caller read per (day, vault): for each
/// secret read (by the digest of its vault and name), the days it was read
/// on, as bits. A read is one lookup in a table as large as the caller's
/// secrets (not its secrets times days), which most callers keep small
/// enough to stay in cache; the counts are made at the end.
#[derive(Default)]
pub(super) struct DistinctPerDay {
    secrets: DigestMap<ReadDays>,
}

/// The days one secret was read on, as (days from the Common Era / 64,
/// one bit per day) words: the first two held inline (most logs span a few
/// weeks, so a read touches no other memory), any others sorted in `far`.
struct ReadDays {
    vault: Text,
    /// A word with no bits is free.
    near: [(i32, u64); 2],
    far: Vec<(i32, u64)>,
}

impl ReadDays {
    fn set(&mut self, word: i32, bits: u64) {
        for w in &mut self.near {
            if w.1 == 0 {
                *w = (word, bits);
                return;
            }
            if w.0 == word {
                w.1 |= bits;
                return;
            }
        }
        match self.far.binary_search_by_key(&word, |w| w.0) {
            Ok(i) => self.far[i].1 |= bits,
            Err(i) => self.far.insert(i, (word, bits)),
        }
    }

    fn words(&self) -> impl Iterator<Item = &(i32, u64)> {
        self.near.iter().filter(|w| w.1 != 0).chain(&self.far)
    }
}

impl DistinctPerDay {
    pub(super) fn add(&mut self, day: NaiveDate, vault: &Text, secret: &str) {
        let key = digest(&(vault.as_deref(), Some(secret)));
        let n = day.num_days_from_ce();
        self.secrets
            .entry(key)
            .or_insert_with(|| ReadDays {
                vault: vault.clone(),
                near: [(0, 0); 2],
                far: Vec::new(),
            })
            .set(n.div_euclid(64), 1 << n.rem_euclid(64));
    }

    pub(super) fn merge(&mut self, o: DistinctPerDay) {
        for (key, days) in o.secrets {
            match self.secrets.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut mine) => {
                    for &(w, bits) in days.words() {
                        mine.get_mut().set(w, bits);
                    }
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(days);
                }
            }
        }
    }

    /// (day, vault) → how many distinct secrets were read.
    fn counts(&self) -> BTreeMap<(NaiveDate, Text), u32> {
        let mut out: BTreeMap<(NaiveDate, Text), u32> = BTreeMap::new();
        for d in self.secrets.values() {
            for &(w, bits) in d.words() {
                let mut b = bits;
                while b != 0 {
                    let day = w * 64 + b.trailing_zeros() as i32;
                    b &= b - 1;
                    if let Some(day) = NaiveDate::from_num_days_from_ce_opt(day) {
                        *out.entry((day, d.vault.clone())).or_default() += 1;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn distinct_secrets_per_day_count_each_secret_once_a_day_across_parts() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (a, b): (Text, Text) = (Some(Arc::from("kv-a")), Some(Arc::from("kv-b")));
        // Days 63 days apart fall in different 64-day words.
        let reads = [
            ("2025-01-01", &a, "s1"),
            ("2025-01-01", &a, "s1"),
            ("2025-01-01", &a, "s2"),
            ("2025-01-01", &b, "s1"),
            ("2025-03-05", &a, "s1"),
            ("2025-03-06", &a, "s1"),
            ("1999-12-31", &a, "s3"),
            // More than the two words held inline, out of order.
            ("2026-01-01", &a, "s1"),
            ("2025-06-01", &a, "s1"),
            ("2025-06-01", &a, "s1"),
        ];
        let mut whole = DistinctPerDay::default();
        let (mut p1, mut p2) = (DistinctPerDay::default(), DistinctPerDay::default());
        for (i, (d, v, s)) in reads.iter().enumerate() {
            whole.add(day(d), v, s);
            if i % 2 == 0 { &mut p1 } else { &mut p2 }.add(day(d), v, s);
        }
        p1.merge(p2);
        let want: BTreeMap<(NaiveDate, Text), u32> = [
            ((day("1999-12-31"), a.clone()), 1),
            ((day("2025-01-01"), a.clone()), 2),
            ((day("2025-01-01"), b.clone()), 1),
            ((day("2025-03-05"), a.clone()), 1),
            ((day("2025-03-06"), a.clone()), 1),
            ((day("2025-06-01"), a.clone()), 1),
            ((day("2026-01-01"), a.clone()), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(whole.counts(), want);
        assert_eq!(p1.counts(), want);
    }
}
