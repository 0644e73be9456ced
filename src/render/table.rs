//! The terminal views: callers as a fitted table, denials as diagnostics
//! (headline, facts, the fix to paste, hints), the report as a summary and
//! findings with their evidence. Everything fits `width` (see [`super::fit`])
//! except a single command argument longer than the terminal.

use super::fit::{self, human_time, paint, wrap, Cell, Column, Style};
use super::words::{self, command_lines};
use super::{Renderer, View};
use crate::analyze::callers::CallerRow;
use crate::analyze::explain::Denial;
use crate::analyze::findings::Severity;
use crate::analyze::report::Report;
use crate::error::Result;
use std::fmt::Write;

/// The terminal view of each kind of result.
pub struct Table {
    pub color: bool,
    /// Columns available; None: a pipe or a file, nothing cut or wrapped.
    pub width: Option<usize>,
    /// Every column of `callers`, not only the compact ones.
    pub wide: bool,
}

impl Renderer for Table {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let text = match view {
            View::Callers(rows) => self.callers(rows),
            View::Denials(denials) => self.denials(denials),
            View::Report(r) => self.report(r),
            View::Grid(g) => self.grid(g),
        };
        Ok(text.into_bytes())
    }
}

/// A person behind the AzureDatabricks application (`callers
/// --databricks`): named by upn, the platform said in the kind column.
fn via_databricks(r: &CallerRow) -> bool {
    r.kind == "user"
        && r.oid.is_none()
        && r.upn.is_some()
        && r.appid.as_deref() == Some(crate::analyze::attribute::AZURE_DATABRICKS)
}

fn kind(r: &CallerRow) -> String {
    if via_databricks(r) {
        return "user (Databricks)".into();
    }
    let k = r.kind.replace('_', " ");
    match &r.mi_type {
        Some(m) => format!("{} ({m})", k.replace("managed identity", "managed id")),
        None => k,
    }
}

/// `2025-03-10 14:05:00` (UTC said in the header).
fn day_time(t: &str) -> String {
    human_time(t).trim_end_matches(" UTC").to_string()
}

/// `2025-03-10 14:05`.
fn day_minute(t: &str) -> String {
    let s = day_time(t);
    s.get(..16).unwrap_or(&s).to_string()
}

impl Table {
    fn callers(&self, rows: &[CallerRow]) -> String {
        if rows.is_empty() {
            return "No callers.\n".into();
        }
        let denied = |n: u64| Cell::styled(n, if n > 0 { Style::Red } else { Style::Plain });
        let (cols, cells): (Vec<Column>, Vec<Vec<Cell>>) = if self.wide {
            let cols = vec![
                Column::text("caller"),
                Column::fixed("kind"),
                Column::fixed("appid").at_least(36),
                Column::fixed("oid").at_least(36),
                Column::number("events"),
                Column::number("denied"),
                Column::text("vaults"),
                Column::fixed("secrets/keys/certs"),
                Column::text("operations"),
                Column::fixed("first seen (UTC)"),
                Column::fixed("last seen (UTC)"),
                Column::text("clients"),
            ];
            let cells = rows
                .iter()
                .map(|r| {
                    vec![
                        Cell::new(words::who(r.name.as_deref(), r.upn.as_deref(), None, None)),
                        Cell::new(kind(r)),
                        Cell::new(r.appid.as_deref().unwrap_or("")),
                        Cell::new(r.oid.as_deref().unwrap_or("")),
                        Cell::new(r.events),
                        denied(r.denied),
                        Cell::new(words::list(&r.vault_names, 3)),
                        Cell::new(format!("{}/{}/{}", r.secrets, r.keys, r.certificates)),
                        Cell::new(words::list(&r.operations, 4)),
                        Cell::new(day_time(&r.first_seen)),
                        Cell::new(day_time(&r.last_seen)),
                        Cell::new(words::list(&r.clients, 2)),
                    ]
                })
                .collect();
            (cols, cells)
        } else {
            // Under 100 columns the time gives way to the name.
            let with_time = self.width.is_none_or(|w| w >= 100);
            let mut cols = vec![
                Column::text("caller").at_least(24),
                Column::fixed("kind"),
                Column::number("events"),
                Column::number("denied"),
                Column::text("vaults").at_least(12),
            ];
            if with_time {
                cols.push(Column::fixed("last seen UTC"));
            }
            let cells = rows
                .iter()
                .map(|r| {
                    let who = match (via_databricks(r), r.upn.as_deref()) {
                        (true, Some(upn)) => upn.to_string(),
                        _ => words::caller(r),
                    };
                    vec![
                        Cell::new(who),
                        Cell::new(kind(r)),
                        Cell::new(r.events),
                        denied(r.denied),
                        Cell::new(words::list(&r.vault_names, 2)),
                        Cell::new(day_minute(&r.last_seen)),
                    ]
                    .into_iter()
                    .take(cols.len())
                    .collect()
                })
                .collect();
            (cols, cells)
        };
        fit::table(&cols, &cells, self.width, self.color)
    }

    /// One diagnostic per denial: unresolved first, then by count.
    fn denials(&self, denials: &[Denial]) -> String {
        if denials.is_empty() {
            return "No denials.\n".into();
        }
        let mut order: Vec<&Denial> = denials.iter().collect();
        order.sort_by(|a, b| {
            a.resolved_at
                .is_some()
                .cmp(&b.resolved_at.is_some())
                .then(b.count.cmp(&a.count))
        });
        let mut out = String::new();
        for d in order {
            self.denial(d, &mut out);
            out.push('\n');
        }
        out.push_str(&summary_line(denials));
        out
    }

    fn denial(&self, d: &Denial, out: &mut String) {
        let w = self.width;
        let resolved = d.resolved_at.is_some();
        let (label, style) = match (resolved, d.suspicious) {
            (_, true) => (format!("suspicious {}", d.denial), Style::Yellow),
            (true, _) => (format!("resolved {}", d.denial), Style::Green),
            (false, _) => (format!("denied {}", d.denial), Style::Red),
        };
        let head = wrap(
            &format!("{label}: {}", words::denial_headline(d)),
            "",
            "  ",
            w,
        );
        out.push_str(&paint(head.trim_end(), style, self.color));
        out.push('\n');
        let p = &d.principal;
        let mut ids = Vec::new();
        for (k, v) in [
            ("appid", &p.appid),
            ("oid", &p.oid),
            ("upn", &p.upn),
            ("tenant", &p.tenant),
        ] {
            if let Some(v) = v {
                ids.push(format!("{k} {v}"));
            }
        }
        let fact = |k: &str, v: &str, out: &mut String| {
            out.push_str(&wrap(v, &format!("  {k:<9} "), "            ", w));
        };
        if !ids.is_empty() {
            fact("who", &ids.join(", "), out);
        }
        if let Some(a) = &d.action {
            fact("action", a, out);
        }
        if let Some(r) = &d.role {
            fact("needs", &format!("role {r}"), out);
        }
        if let Some(pm) = &d.permission {
            fact("needs", &format!("access-policy permission {pm}"), out);
        }
        if !d.fix.contains(&d.scope) {
            fact("scope", &d.scope, out);
        }
        if let Some(ip) = &d.client_address {
            fact("from", ip, out);
        }
        let seen = format!(
            "{} time(s), {}{}",
            d.count,
            match (&d.first_seen, &d.last_seen) {
                (Some(f), Some(l)) if f != l => format!("{} to {}", human_time(f), human_time(l)),
                (Some(f), _) => human_time(f),
                _ => "in the text given".into(),
            },
            match &d.resolved_at {
                Some(r) => format!("; resolved at {}", human_time(r)),
                None => "; unresolved".into(),
            }
        );
        fact("seen", &seen, out);
        let fix_label = if resolved {
            "  fix (only if it recurs):"
        } else {
            "  fix:"
        };
        let _ = writeln!(out, "{}", paint(fix_label, Style::Bold, self.color));
        out.push_str(&command_lines(&d.fix, "    ", w));
        for h in &d.hints {
            out.push_str(&wrap(h, "  hint: ", "        ", w));
        }
    }

    fn report(&self, r: &Report) -> String {
        let w = self.width;
        let s = &r.summary;
        let mut out = String::new();
        let title = format!(
            "Key Vault access report, {} to {}",
            r.period.from.as_deref().map_or("-".into(), human_time),
            r.period.to.as_deref().map_or("-".into(), human_time)
        );
        let _ = writeln!(
            out,
            "{}",
            paint(&fit::line(&title, w), Style::Bold, self.color)
        );
        let kinds: Vec<String> = s
            .callers_by_kind
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        out.push_str(&wrap(
            &format!(
                "{} events from {} callers ({}); {} rows read: {} outside the selection, {} skipped",
                s.events,
                s.callers,
                kinds.join(", "),
                s.rows_read,
                s.rows_outside_period,
                s.rows_skipped.values().sum::<u64>()
            ),
            "",
            "",
            w,
        ));
        if !s.denials_by_kind.is_empty() {
            let d: Vec<String> = s
                .denials_by_kind
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            out.push_str(&wrap(&format!("denials: {}", d.join(", ")), "", "", w));
        }
        if let Some(a) = &r.attribution {
            out.push_str(&wrap(&super::words::attribution(a), "", "", w));
        }
        out.push('\n');
        let mut findings: Vec<_> = r.findings.iter().collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        if findings.is_empty() {
            out.push_str("No findings.\n");
        }
        for f in findings {
            let style = match f.severity {
                Severity::High => Style::Red,
                Severity::Medium => Style::Yellow,
                Severity::Low => Style::Dim,
            };
            let sev = format!("{:?}", f.severity).to_uppercase();
            let head = format!(
                "{sev:<6} {}:{}{}",
                f.kind,
                words::subject(f)
                    .map(|s| format!(" {s}"))
                    .unwrap_or_default(),
                f.vault
                    .as_deref()
                    .map(|v| format!(" on {v}"))
                    .unwrap_or_default()
            );
            let head = wrap(&head, "", "       ", w);
            out.push_str(&paint(head.trim_end(), style, self.color));
            out.push('\n');
            for line in words::evidence(f) {
                out.push_str(&wrap(&line, "       ", "       ", w));
            }
            let cmds = words::commands(f);
            if !cmds.is_empty() {
                out.push_str("       fix:\n");
            }
            for c in cmds {
                out.push_str(&command_lines(&c, "         ", w));
            }
            if f.recommendation.starts_with("az ") {
                out.push_str("       fix:\n");
                out.push_str(&command_lines(&f.recommendation, "         ", w));
            } else {
                out.push_str(&wrap(&f.recommendation, "       → ", "         ", w));
            }
        }
        out.push('\n');
        let _ = writeln!(out, "{}", paint("Callers", Style::Bold, self.color));
        out.push_str(&self.callers(&r.callers));
        out.push('\n');
        out.push_str(&findings_line(r));
        out
    }
}

impl Table {
    /// A [`super::grid::Grid`]: its title, the table of its human columns,
    /// then its commands whole, then its footer.
    fn grid(&self, g: &super::grid::Grid) -> String {
        let w = self.width;
        let mut out = String::new();
        let title = wrap(&g.title, "", "", w);
        let _ = writeln!(out, "{}", paint(title.trim_end(), Style::Bold, self.color));
        if g.rows.is_empty() {
            out.push_str("No rows.\n");
        } else {
            let keep: Vec<usize> = (0..g.columns.len())
                .filter(|i| g.columns[*i].human)
                .filter(|i| w.is_none_or(|w| w >= g.columns[*i].from_width))
                .collect();
            let cols: Vec<Column> = keep.iter().map(|i| g.columns[*i].fit).collect();
            let cells: Vec<Vec<Cell>> = g
                .rows
                .iter()
                .map(|r| {
                    keep.iter()
                        .map(|i| Cell::new(r.get(*i).map_or("", String::as_str)))
                        .collect()
                })
                .collect();
            out.push_str(&fit::table(&cols, &cells, w, self.color));
        }
        for (what, cmd) in &g.commands {
            // A lead-in of a command that continues the one before.
            if !what.starts_with("then ") {
                out.push('\n');
            }
            let lead = if what.starts_with("then ") { "  " } else { "" };
            out.push_str(&wrap(what, lead, "  ", w));
            if !cmd.is_empty() {
                out.push_str(&command_lines(cmd, "    ", w));
            }
        }
        if !g.footer.is_empty() {
            out.push('\n');
        }
        for f in &g.footer {
            out.push_str(&wrap(f, "", "  ", w));
        }
        out
    }
}

/// `4 denials: 2 rbac, 1 access policy, 1 firewall; 1 already resolved`.
pub fn summary_line(denials: &[Denial]) -> String {
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for d in denials {
        *by.entry(d.denial.as_str()).or_default() += 1;
    }
    let parts: Vec<String> = by
        .iter()
        .map(|(k, v)| format!("{v} {}", k.replace('_', " ")))
        .collect();
    let resolved = denials.iter().filter(|d| d.resolved_at.is_some()).count();
    format!(
        "{} denial{}: {}; {} already resolved\n",
        denials.len(),
        if denials.len() == 1 { "" } else { "s" },
        parts.join(", "),
        resolved
    )
}

/// `6 findings: 4 high, 2 medium, 0 low`.
pub fn findings_line(r: &Report) -> String {
    let n = |k: &str| r.summary.findings_by_severity.get(k).copied().unwrap_or(0);
    format!(
        "{} finding{}: {} high, {} medium, {} low\n",
        r.findings.len(),
        if r.findings.len() == 1 { "" } else { "s" },
        n("high"),
        n("medium"),
        n("low")
    )
}
