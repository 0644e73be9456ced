//! JSON output: the public contract scripts parse.

use super::{Renderer, View};
use crate::error::{Error, Result};
use std::io::Write as _;

pub struct Json;

impl Renderer for Json {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let mut out = match view {
            View::Callers(rows) => serde_json::to_vec_pretty(rows),
            View::Denials(f) => serde_json::to_vec_pretty(f),
            View::Report(r) => serde_json::to_vec_pretty(r),
            View::Grid(g) => g.pretty_json(),
        }
        .map_err(|e| Error::Output(e.to_string()))?;
        out.push(b'\n');
        Ok(out)
    }

    fn render_to(&self, view: &View, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let View::Report(r) = view else {
            return super::write_rendered(self, view, out);
        };
        // The serializer's many small writes (a key, an indent, a comma)
        // go to a buffer whose type it knows, inlined, rather than each
        // through `out`'s vtable: a large report renders faster.
        let mut buffer = std::io::BufWriter::with_capacity(1 << 16, &mut *out);
        let written = serde_json::to_writer_pretty(&mut buffer, r)
            .map_err(|e| {
                if e.is_io() {
                    std::io::Error::from(e)
                } else {
                    std::io::Error::other(Error::Output(e.to_string()))
                }
            })
            .and_then(|()| buffer.write_all(b"\n"));
        match written {
            Ok(()) => buffer.flush(),
            Err(e) => {
                // Not flushed: a failed rendering adds nothing more.
                drop(buffer.into_parts());
                Err(e)
            }
        }
    }
}
