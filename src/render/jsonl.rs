//! JSON Lines: one JSON object per row (a caller, a denial), for `jq`,
//! log shippers and SIEMs; the report is one line.

use super::{Renderer, View};
use crate::error::{Error, Result};

pub struct Jsonl;

fn line<T: serde::Serialize>(v: &T, out: &mut Vec<u8>) -> Result<()> {
    serde_json::to_writer(&mut *out, v).map_err(|e| Error::Output(e.to_string()))?;
    out.push(b'\n');
    Ok(())
}

impl Renderer for Jsonl {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match view {
            View::Callers(rows) => rows.iter().try_for_each(|r| line(r, &mut out))?,
            View::Denials(d) => d.iter().try_for_each(|r| line(r, &mut out))?,
            View::Report(r) => line(r, &mut out)?,
            View::Grid(g) => g.records.iter().for_each(|r| {
                out.extend_from_slice(r.as_bytes());
                out.push(b'\n');
            }),
        }
        Ok(out)
    }
}
