//! Which events a command looks at: the selection flags every command that
//! reads logs shares (`--since`, `--from`/`--to`, `--vault`, `--principal`,
//! `--kind`, `--operation`, `--status`), applied as events are read, on the
//! parsing threads too, with the events left out counted.

use crate::error::{Error, Result};
use crate::event::Event;
use crate::identify::{self, Catalog, Claims, Kind};
use crate::pipeline::{take_part, Sink, ThreadFold};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::sync::Arc;

/// A time window: events with from <= time < to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Window {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|x| t < x)
    }

    pub fn is_all(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// The window of `--since`, `--from` and `--to` (`--to` exclusive); a
    /// window that holds no time is a usage error.
    pub fn of(
        since: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Window> {
        let w = Window {
            from: match (since, from) {
                (Some(s), _) => Some(now - parse_since(s)?),
                (None, Some(f)) => Some(parse_instant("--from", f)?),
                _ => None,
            },
            to: to.map(|t| parse_instant("--to", t)).transpose()?,
        };
        if let (Some(f), Some(t)) = (w.from, w.to) {
            if f >= t {
                return Err(Error::Usage(format!(
                    "the period is empty: --from/--since ({}) is not before --to ({}); swap them?",
                    crate::event::format_time(&f),
                    crate::event::format_time(&t)
                )));
            }
        }
        Ok(w)
    }
}

/// `30m`, `24h`, `7d`, `2w` → duration.
pub fn parse_since(s: &str) -> Result<Duration> {
    crate::parse::parse_duration_short(s).ok_or_else(|| {
        Error::Usage(format!(
            "expected a duration above zero like 30m, 24h, 7d or 2w, found {:?}",
            s.trim()
        ))
    })
}

/// `2025-03-01` (midnight UTC), `2025-03` (the month's first day) or RFC
/// 3339.
pub fn parse_instant(flag: &str, s: &str) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok());
    day.and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{flag}: expected a date (2025-03-01), a month (2025-03) or an RFC 3339 time, found {s:?}"
            ))
        })
}

/// Which statuses `--status` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// One code, e.g. 403.
    Code(u16),
    /// A class, e.g. 4 for `4xx`.
    Class(u16),
    /// Anything but 2xx (`failed`).
    Failed,
}

impl StatusFilter {
    pub fn parse(s: &str) -> Result<Self> {
        let l = s.trim().to_ascii_lowercase();
        if l == "failed" {
            return Ok(StatusFilter::Failed);
        }
        if let Some(c) = l.strip_suffix("xx").and_then(|c| c.parse::<u16>().ok()) {
            if (1..=5).contains(&c) {
                return Ok(StatusFilter::Class(c));
            }
        }
        match l.parse::<u16>() {
            Ok(c) if (100..600).contains(&c) => Ok(StatusFilter::Code(c)),
            _ => Err(Error::Usage(format!(
                "--status: expected a code (403), a class (4xx) or failed, found {s:?}"
            ))),
        }
    }

    fn keeps(self, status: Option<u16>) -> bool {
        match (self, status) {
            (StatusFilter::Code(c), Some(s)) => s == c,
            (StatusFilter::Class(c), Some(s)) => s / 100 == c,
            (StatusFilter::Failed, Some(s)) => !(200..300).contains(&s),
            (_, None) => false,
        }
    }
}

/// What a command is asked to look at.
#[derive(Default)]
pub struct Selection {
    pub window: Window,
    /// Vault names (any of them), lower-case.
    pub vaults: Vec<String>,
    /// An appid, oid or upn, or a part of a upn or managed identity name.
    pub principal: Option<String>,
    pub kinds: Vec<Kind>,
    /// Operation names (any of them), as logged, any case.
    pub operations: Vec<String>,
    pub status: Option<StatusFilter>,
    /// Names principals for `--kind` and `--principal`.
    pub catalog: Option<Arc<Catalog>>,
}

impl Selection {
    /// Whether every event is selected (nothing to filter).
    pub fn is_everything(&self) -> bool {
        self.window.is_all()
            && self.vaults.is_empty()
            && self.principal.is_none()
            && self.kinds.is_empty()
            && self.operations.is_empty()
            && self.status.is_none()
    }

    /// Whether `e` is selected; `window` says whether the time window is
    /// checked here (the report applies its own, to count outside rows).
    pub fn matches(&self, e: &Event, window: bool) -> bool {
        if window && !self.window.contains(e.time) {
            return false;
        }
        if !self.vaults.is_empty()
            && !e
                .vault
                .as_deref()
                .is_some_and(|v| self.vaults.iter().any(|x| x.eq_ignore_ascii_case(v)))
        {
            return false;
        }
        if !self.operations.is_empty()
            && !self
                .operations
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&e.operation))
        {
            return false;
        }
        if let Some(s) = self.status {
            if !s.keeps(e.status) {
                return false;
            }
        }
        if let Some(p) = &self.principal {
            if !self.principal_matches(e, p) {
                return false;
            }
        }
        if !self.kinds.is_empty() {
            let id = identify::classify(&Claims::of(e), self.catalog());
            if !self.kinds.contains(&id.kind) {
                return false;
            }
        }
        true
    }

    fn catalog(&self) -> &Catalog {
        // The bundled one built once, not once per event asked about.
        static BUNDLED: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        self.catalog
            .as_deref()
            .unwrap_or_else(|| BUNDLED.get_or_init(Catalog::bundled))
    }

    fn principal_matches(&self, e: &Event, p: &str) -> bool {
        let lower = p.to_lowercase();
        let exact = [&e.caller_appid, &e.caller_oid, &e.caller_upn]
            .into_iter()
            .flatten()
            .any(|v| v.eq_ignore_ascii_case(p));
        let part = [&e.caller_upn, &e.caller_mirid]
            .into_iter()
            .flatten()
            .any(|v| v.to_lowercase().contains(&lower));
        exact
            || part
            || identify::classify(&Claims::of(e), self.catalog())
                .name
                .is_some_and(|n| n.to_lowercase().contains(&lower))
    }
}

/// A sink that passes on only the selected events, counting the others.
pub struct Selected<'s> {
    inner: &'s mut dyn Sink,
    sel: Arc<Selection>,
    window: bool,
    /// Events left out.
    pub outside: u64,
}

impl<'s> Selected<'s> {
    /// Selects for `inner`; `window`: whether this checks the time window.
    pub fn new(inner: &'s mut dyn Sink, sel: Arc<Selection>, window: bool) -> Self {
        Selected {
            inner,
            sel,
            window,
            outside: 0,
        }
    }
}

/// A parsing thread's share of [`Selected`].
struct SelectedPart {
    inner: Box<dyn ThreadFold>,
    sel: Arc<Selection>,
    window: bool,
    outside: u64,
}

impl ThreadFold for SelectedPart {
    fn add(&mut self, e: &Event, order: u64) -> bool {
        if !self.sel.matches(e, self.window) {
            self.outside += 1;
            return false;
        }
        self.inner.add(e, order)
    }
    // Events alike but for their times are selected or not together: the
    // selection but for the window reads only what they share.
    fn takes_like(&self) -> bool {
        (!self.window || self.sel.window.is_all()) && self.inner.takes_like()
    }
    fn add_like(&mut self, e: &Event, n: u64, times: (i64, i64), orders: (u64, u64)) {
        if self.sel.matches(e, false) {
            self.inner.add_like(e, n, times, orders);
        } else {
            self.outside += n;
        }
    }
    fn takes_rows(&self, e: &Event) -> bool {
        // The window is checked row by row.
        !self.window && (!self.sel.matches(e, false) || self.inner.takes_rows(e))
    }
    fn add_rows(&mut self, e: &Event, rows: &mut Vec<crate::event::Occurrence>) -> bool {
        if self.window {
            return false;
        }
        if !self.sel.matches(e, false) {
            self.outside += rows.len() as u64;
            return true;
        }
        self.inner.add_rows(e, rows)
    }
    fn done(&mut self) {
        self.inner.done();
    }
    fn between(&mut self) {
        self.inner.between();
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

impl Sink for Selected<'_> {
    fn event(&mut self, e: Event) -> Result<()> {
        if self.sel.matches(&e, self.window) {
            self.inner.event(e)
        } else {
            self.outside += 1;
            Ok(())
        }
    }

    fn fork(&mut self) -> Option<Box<dyn ThreadFold>> {
        let inner = self.inner.fork()?;
        Some(Box::new(SelectedPart {
            inner,
            sel: self.sel.clone(),
            window: self.window,
            outside: 0,
        }))
    }

    fn join(&mut self, part: Box<dyn ThreadFold>) -> Result<()> {
        let p: SelectedPart = take_part(part)?;
        self.outside += p.outside;
        self.inner.join(p.inner)
    }

    /// Forwarded events were selected by the part.
    fn forwarded(&mut self, e: Event) -> Result<()> {
        self.inner.forwarded(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_dates_months_and_statuses() {
        assert_eq!(parse_since("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_since("2w").unwrap(), Duration::weeks(2));
        assert!(parse_since("7x").is_err() && parse_since("0d").is_err());
        let m = parse_instant("--from", "2026-03").unwrap();
        assert_eq!(crate::event::format_time(&m), "2026-03-01T00:00:00.000000Z");
        assert!(parse_instant("--from", "March").is_err());
        let now = Utc::now();
        assert!(Window::of(None, Some("2025-03-12"), Some("2025-03-01"), now).is_err());
        assert_eq!(StatusFilter::parse("4xx").unwrap(), StatusFilter::Class(4));
        assert!(StatusFilter::parse("4xx").unwrap().keeps(Some(403)));
        assert!(!StatusFilter::parse("failed").unwrap().keeps(Some(204)));
        assert!(StatusFilter::parse("abc").is_err());
    }

    /// A selected part passes on the pause between pieces of the input to
    /// the part it selects for (`report --from` folds its held events
    /// there, not within a piece).
    #[test]
    fn a_selected_part_passes_between_on() {
        #[derive(Default)]
        struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl ThreadFold for Counted {
            fn add(&mut self, _: &Event, _: u64) -> bool {
                false
            }
            fn between(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
                self
            }
        }
        let inner = Counted::default();
        let seen = inner.0.clone();
        let mut part = SelectedPart {
            inner: Box::new(inner),
            sel: Arc::new(Selection::default()),
            window: true,
            outside: 0,
        };
        part.between();
        part.between();
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    /// `--kind` and `--principal` ask the catalog about every event: the
    /// bundled one is built once (it was built for each event, and
    /// `callers --kind user` on 1M rows took minutes).
    #[test]
    fn the_bundled_catalog_is_built_once() {
        let (a, b) = (Selection::default(), Selection::default());
        assert!(std::ptr::eq(a.catalog(), b.catalog()));
    }
}
