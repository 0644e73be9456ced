//! Tables for people, drawn with comfy-table.

use super::escape::printable;
use super::{Renderer, View};
use crate::error::Result;
use comfy_table::{presets, Cell, Color, ContentArrangement, Table as Ct};

pub struct Table {
    pub color: bool,
}

impl Table {
    fn new_table(&self, header: &[&str]) -> Ct {
        let mut t = Ct::new();
        t.load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        if !self.color {
            t.force_no_tty();
        }
        t.set_header(header.iter().map(Cell::new));

        t
    }

    fn denied_cell(&self, n: u64) -> Cell {
        let c = Cell::new(n);
        if self.color && n > 0 {
            c.fg(Color::Red)
        } else {
            c
        }
    }
}

/// A cell whose text came (in part) from a log: control characters and
/// escape sequences are shown, never sent to the terminal.
fn cell(v: impl std::fmt::Display) -> Cell {
    Cell::new(printable(&v.to_string()))
}

fn short(v: &[String], max: usize) -> String {
    if v.len() <= max {
        v.join(", ")
    } else {
        format!("{} (+{} more)", v[..max].join(", "), v.len() - max)
    }
}

/// Client strings are long (SDK, runtime, OS): the table shows the start of
/// each, one per line; JSON and CSV keep them whole.
fn clients(v: &[String], max: usize) -> String {
    let cut = |c: &String| {
        if c.chars().count() > 48 {
            format!("{}…", c.chars().take(47).collect::<String>())
        } else {
            c.clone()
        }
    };
    let mut out: Vec<String> = v.iter().take(max).map(cut).collect();
    if v.len() > max {
        out.push(format!("(+{} more)", v.len() - max));
    }
    out.join("\n")
}

impl Renderer for Table {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let text = match view {
            View::Callers(rows) => {
                let mut t = self.new_table(&[
                    "caller",
                    "kind",
                    "events",
                    "denied",
                    "vaults",
                    "secrets/keys/certs",
                    "operations",
                    "first seen",
                    "last seen",
                    "clients",
                ]);
                for r in rows.iter() {
                    let mut who = Vec::new();
                    if let Some(n) = &r.name {
                        who.push(n.clone());
                    }
                    if let Some(u) = &r.upn {
                        if r.name.as_deref() != Some(u) {
                            who.push(u.clone());
                        }
                    }
                    if let Some(a) = &r.appid {
                        let via = r
                            .client_app
                            .as_ref()
                            .map(|c| format!(" ({c})"))
                            .unwrap_or_default();
                        who.push(format!("appid {a}{via}"));
                    }
                    if let Some(o) = &r.oid {
                        who.push(format!("oid {o}"));
                    }
                    if who.is_empty() {
                        who.push("(no identity)".into());
                    }
                    let kind = match &r.mi_type {
                        Some(m) => format!("{} ({m})", r.kind),
                        None => r.kind.clone(),
                    };
                    t.add_row(vec![
                        cell(who.join("\n")),
                        cell(kind),
                        cell(r.events),
                        self.denied_cell(r.denied),
                        cell(short(&r.vault_names, 3)),
                        cell(format!("{}/{}/{}", r.secrets, r.keys, r.certificates)),
                        cell(short(&r.operations, 4)),
                        cell(&r.first_seen[..r.first_seen.len().min(19)]),
                        cell(&r.last_seen[..r.last_seen.len().min(19)]),
                        cell(clients(&r.clients, 2)),
                    ]);
                }
                t.to_string()
            }
            View::Report(r) => {
                let mut t =
                    self.new_table(&["severity", "type", "principal", "vault", "recommendation"]);
                for f in &r.findings {
                    let p = &f.principal;
                    let who = p
                        .name
                        .clone()
                        .or(p.upn.clone())
                        .or(p.appid.clone())
                        .unwrap_or_default();
                    t.add_row(vec![
                        cell(format!("{:?}", f.severity).to_lowercase()),
                        cell(f.kind),
                        cell(format!("{who}\n{}", p.kind)),
                        cell(f.vault.as_deref().unwrap_or("")),
                        cell(&f.recommendation),
                    ]);
                }
                let s = &r.summary;
                format!(
                    "{} events, {} callers, {} findings ({} to {})\n{t}",
                    s.events,
                    s.callers,
                    r.findings.len(),
                    printable(r.period.from.as_deref().unwrap_or("-")),
                    printable(r.period.to.as_deref().unwrap_or("-"))
                )
            }
            View::Denials(findings) => {
                if findings.is_empty() {
                    return Ok(b"No denials.\n".to_vec());
                }
                let mut t = self.new_table(&["denial", "who", "what", "where", "fix", "seen"]);
                for f in findings.iter() {
                    let p = &f.principal;
                    let mut who = vec![format!(
                        "{} {}",
                        p.kind,
                        p.name.as_deref().or(p.upn.as_deref()).unwrap_or("")
                    )];
                    if let Some(a) = &p.appid {
                        who.push(format!("appid {a}"));
                    }
                    if let Some(o) = &p.oid {
                        who.push(format!("oid {o}"));
                    }
                    let what = [f.operation.as_deref(), f.action.as_deref()]
                        .iter()
                        .flatten()
                        .copied()
                        .collect::<Vec<_>>()
                        .join("\n");
                    let mut fix = f.fix.clone();
                    for h in &f.hints {
                        fix.push_str(&format!("\nhint: {h}"));
                    }
                    let seen = match &f.resolved_at {
                        Some(r) => format!("{}x, resolved {}", f.count, &r[..r.len().min(19)]),
                        None => format!("{}x, unresolved", f.count),
                    };
                    let denial = cell(&f.denial);
                    t.add_row(vec![
                        if self.color && f.resolved_at.is_none() {
                            denial.fg(Color::Red)
                        } else {
                            denial
                        },
                        cell(who.join("\n")),
                        cell(what),
                        cell(&f.scope),
                        cell(fix),
                        cell(seen),
                    ]);
                }
                t.to_string()
            }
        };
        Ok(format!("{text}\n").into_bytes())
    }
}
