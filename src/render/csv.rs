//! CSV output for spreadsheets.

use super::{Renderer, View};
use crate::error::{Error, Result};

pub struct Csv;

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
        let mut w = csv::Writer::from_writer(Vec::new());
        let err = |e: csv::Error| Error::Output(e.to_string());
        match view {
            View::Denials(_) | View::Report(_) => {
                return Err(Error::Output("this view has no CSV form; use json".into()))
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
