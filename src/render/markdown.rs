//! Markdown a reviewer can paste into a ticket.

use super::escape::{md_block, md_code, md_text};
use super::fit::human_time;
use super::{Renderer, View};
use crate::error::Result;
use std::fmt::Write;

pub struct Markdown;

/// Log text in a paragraph or table cell (escaped: see [`md_text`]).
fn cell(s: &str) -> String {
    md_text(s)
}

/// The callers as a Markdown table.
fn callers_table(rows: &[crate::analyze::callers::CallerRow], out: &mut String) {
    out.push_str("| caller | kind | events | denied | vaults |\n|---|---|---:|---:|---|\n");
    for c in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(&super::words::caller(c)),
            cell(&c.kind),
            c.events,
            c.denied,
            cell(&c.vault_names.join(", "))
        );
    }
}

/// A [`super::grid::Grid`] as a heading, a table of every column, its
/// commands in code blocks and its footer.
fn grid(g: &super::grid::Grid, out: &mut String) {
    let _ = writeln!(out, "## {}\n", cell(&g.title));
    if g.rows.is_empty() {
        out.push_str("No rows.\n");
    } else {
        // The columns a person reads (the terminal's, every width).
        let keep: Vec<usize> = (0..g.columns.len())
            .filter(|i| g.columns[*i].human)
            .collect();
        let head: Vec<String> = keep
            .iter()
            .map(|i| cell(g.columns[*i].fit.header))
            .collect();
        let rule: Vec<&str> = keep
            .iter()
            .map(|i| {
                if g.columns[*i].fit.right {
                    "---:"
                } else {
                    "---"
                }
            })
            .collect();
        let _ = writeln!(out, "| {} |\n|{}|", head.join(" | "), rule.join("|"));
        for r in &g.rows {
            let cells: Vec<String> = keep
                .iter()
                .map(|i| cell(r.get(*i).map_or("", String::as_str)))
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    for (what, cmd) in &g.commands {
        let _ = writeln!(out, "\n{}", cell(what));
        if !cmd.is_empty() {
            let _ = writeln!(out, "\n{}", md_block("sh", cmd));
        }
    }
    for f in &g.footer {
        let _ = writeln!(out, "\n> {}", cell(f));
    }
}

impl Renderer for Markdown {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let mut out = String::new();
        match view {
            View::Callers(rows) => {
                callers_table(rows, &mut out);
            }
            View::Grid(g) => grid(g, &mut out),
            View::Report(r) => {
                let s = &r.summary;
                let _ = writeln!(out, "# Key Vault access report\n");
                let _ = writeln!(
                    out,
                    "Period: {} to {}. Generated {}.\n",
                    cell(&r.period.from.as_deref().map_or("-".into(), human_time)),
                    cell(&r.period.to.as_deref().map_or("-".into(), human_time)),
                    r.generated_at
                );
                let _ = writeln!(
                    out,
                    "## Summary\n\n| | |\n|---|---:|\n| events | {} |\n| callers | {} |",
                    s.events, s.callers
                );
                for (k, v) in &s.callers_by_kind {
                    let _ = writeln!(out, "| callers: {} | {v} |", cell(k));
                }
                for (k, v) in &s.denials_by_kind {
                    let _ = writeln!(out, "| denials: {} | {v} |", cell(k));
                }
                if let Some(a) = &r.attribution {
                    let named: u64 = a.people.iter().map(|p| p.reads).sum();
                    let _ = writeln!(
                        out,
                        "| reads behind AzureDatabricks named ({} people; {} unattributed, {} ambiguous) | {named} of {} |",
                        a.people.len(),
                        a.unattributed,
                        a.ambiguous,
                        a.reads
                    );
                }
                let _ = writeln!(
                    out,
                    "\n## Findings\n\n{}",
                    super::findings_line(r).trim_end()
                );
                if r.findings.is_empty() {
                    out.push_str("\nNone.\n");
                }
                let mut findings: Vec<_> = r.findings.iter().collect();
                findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
                for f in findings {
                    let _ = writeln!(
                        out,
                        "\n### {} {}:{}{}\n",
                        format!("{:?}", f.severity).to_uppercase(),
                        f.kind,
                        super::words::subject(f)
                            .map(|s| format!(" {}", cell(&s)))
                            .unwrap_or_default(),
                        f.vault
                            .as_deref()
                            .map(|v| format!(" on {}", cell(v)))
                            .unwrap_or_default()
                    );
                    for line in super::words::evidence(f) {
                        let _ = writeln!(out, "- {}", cell(&line));
                    }
                    let cmds = super::words::commands(f);
                    if !cmds.is_empty() {
                        let _ = writeln!(out, "\n{}", md_block("sh", &cmds.join("\n")));
                    }
                    if f.recommendation.starts_with("az ") {
                        let _ = writeln!(out, "\n{}", md_block("sh", &f.recommendation));
                    } else {
                        let _ = writeln!(out, "\n> {}", cell(&f.recommendation));
                    }
                }
                let _ = writeln!(out, "\n## Callers\n");
                callers_table(&r.callers, &mut out);
                let _ = write!(out, "\n{}", super::findings_line(r));
            }
            View::Denials(findings) => {
                if findings.is_empty() {
                    out.push_str("No denials.\n");
                }
                for (i, f) in findings.iter().enumerate() {
                    let p = &f.principal;
                    let who = super::words::who(
                        p.name.as_deref(),
                        p.upn.as_deref(),
                        p.appid.as_deref(),
                        p.oid.as_deref(),
                    );
                    let _ = writeln!(
                        out,
                        "### {}. {} denial: {} ({}) on {}\n",
                        i + 1,
                        f.denial,
                        cell(&who),
                        cell(&p.kind),
                        cell(f.vault.as_deref().unwrap_or("?"))
                    );
                    let _ = writeln!(
                        out,
                        "- **Operation**: {} ({})",
                        cell(f.operation.as_deref().unwrap_or("?")),
                        md_code(f.action.as_deref().unwrap_or("?"))
                    );
                    let _ = writeln!(
                        out,
                        "- **Principal**: appid {}, oid {}, tenant {}",
                        md_code(p.appid.as_deref().unwrap_or("-")),
                        md_code(p.oid.as_deref().unwrap_or("-")),
                        md_code(p.tenant.as_deref().unwrap_or("-"))
                    );
                    let _ = writeln!(out, "- **Scope**: {}", md_code(&f.scope));
                    if let Some(r) = &f.role {
                        let _ = writeln!(out, "- **Role needed**: {}", cell(r));
                    }
                    if let Some(pm) = &f.permission {
                        let _ = writeln!(out, "- **Permission needed**: {}", cell(pm));
                    }
                    let status = match &f.resolved_at {
                        Some(r) => format!("resolved at {r}"),
                        None => "unresolved".into(),
                    };
                    let _ = writeln!(
                        out,
                        "- **Seen**: {} time(s), {} to {}; {status}",
                        f.count,
                        cell(f.first_seen.as_deref().unwrap_or("-")),
                        cell(f.last_seen.as_deref().unwrap_or("-"))
                    );
                    let _ = writeln!(out, "\n{}\n", md_block("sh", &f.fix));
                    for h in &f.hints {
                        let _ = writeln!(out, "> {}\n", cell(h));
                    }
                }
            }
        }
        Ok(out.into_bytes())
    }
}
