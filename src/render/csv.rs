//! CSV and TSV output for spreadsheets and `cut`/`awk`: one row per
//! caller or denial, lists joined with `;`.

use super::{Renderer, View};
use crate::error::{Error, Result};

pub struct Csv {
    /// Tab-separated (TSV): tabs and line breaks in values become spaces.
    pub tabs: bool,
}

fn join(v: &[String]) -> String {
    v.join(";")
}

/// A cell a spreadsheet will not run: text starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'` (OWASP's advice for
/// CSV injection); control characters are shown as escapes.
fn inert(v: String) -> String {
    let v = super::escape::printable(&v).replace('\n', " ");
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v
    }
}

impl Renderer for Csv {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let mut w = csv::WriterBuilder::new()
            .delimiter(if self.tabs { b'\t' } else { b',' })
            .quote_style(if self.tabs {
                csv::QuoteStyle::Never
            } else {
                csv::QuoteStyle::Necessary
            })
            .from_writer(Vec::new());
        let tabs = self.tabs;
        let inert = |v: String| {
            let v = inert(v);
            if tabs {
                v.replace(['\t', '\n', '\r'], " ")
            } else {
                v
            }
        };
        let err = |e: csv::Error| Error::Output(e.to_string());
        match view {
            View::Grid(g) => {
                let keep: Vec<usize> = (0..g.columns.len())
                    .filter(|i| g.columns[*i].data)
                    .collect();
                w.write_record(keep.iter().map(|i| g.columns[*i].name))
                    .map_err(err)?;
                for r in &g.rows {
                    w.write_record(
                        keep.iter()
                            .map(|i| inert(r.get(*i).cloned().unwrap_or_default())),
                    )
                    .map_err(err)?;
                }
            }
            View::Report(_) => {
                return Err(Error::Output("the report has no CSV form; use json".into()))
            }
            View::Denials(denials) => {
                w.write_record([
                    "denial",
                    "vault",
                    "operation",
                    "action",
                    "appid",
                    "oid",
                    "upn",
                    "kind",
                    "name",
                    "object_type",
                    "object_name",
                    "scope",
                    "role",
                    "permission",
                    "fix",
                    "suspicious",
                    "count",
                    "first_seen",
                    "last_seen",
                    "resolved_at",
                    "client_address",
                ])
                .map_err(err)?;
                for d in denials.iter() {
                    let o = |v: &Option<String>| v.clone().unwrap_or_default();
                    let p = &d.principal;
                    let cells = [
                        d.denial.clone(),
                        o(&d.vault),
                        o(&d.operation),
                        o(&d.action),
                        o(&p.appid),
                        o(&p.oid),
                        o(&p.upn),
                        p.kind.clone(),
                        o(&p.name),
                        o(&d.object_type),
                        o(&d.object_name),
                        d.scope.clone(),
                        o(&d.role),
                        o(&d.permission),
                        d.fix.clone(),
                        d.suspicious.to_string(),
                        d.count.to_string(),
                        o(&d.first_seen),
                        o(&d.last_seen),
                        o(&d.resolved_at),
                        o(&d.client_address),
                    ];
                    w.write_record(cells.map(inert)).map_err(err)?;
                }
            }
            View::Callers(rows) => {
                w.write_record([
                    "appid",
                    "oid",
                    "upn",
                    "kind",
                    "mi_type",
                    "name",
                    "client_app",
                    "events",
                    "denied",
                    "vaults",
                    "vault_names",
                    "secrets",
                    "keys",
                    "certificates",
                    "operations",
                    "first_seen",
                    "last_seen",
                    "clients",
                ])
                .map_err(err)?;
                for r in rows.iter() {
                    let o = |v: &Option<String>| v.clone().unwrap_or_default();
                    let cells = [
                        o(&r.appid),
                        o(&r.oid),
                        o(&r.upn),
                        r.kind.clone(),
                        o(&r.mi_type),
                        o(&r.name),
                        o(&r.client_app),
                        r.events.to_string(),
                        r.denied.to_string(),
                        r.vaults.to_string(),
                        join(&r.vault_names),
                        r.secrets.to_string(),
                        r.keys.to_string(),
                        r.certificates.to_string(),
                        join(&r.operations),
                        r.first_seen.clone(),
                        r.last_seen.clone(),
                        join(&r.clients),
                    ];
                    w.write_record(cells.map(inert)).map_err(err)?;
                }
            }
        }
        w.into_inner().map_err(|e| Error::Output(e.to_string()))
    }
}
