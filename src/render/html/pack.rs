//! Keeps a very large report page small: above a budget, the denial rows
//! past the first [`super::DENIALS_INLINE`] and the caller details (the
//! bulk of a page with thousands of denials, and very repetitive) go into
//! one raw-deflate, base64 block that the page's script unpacks with the
//! browser's `DecompressionStream`. Everything else stays in the page as
//! HTML; below the budget nothing is packed.

use crate::error::{Error, Result};
use base64::Engine;

pub(super) struct Pack {
    pub(super) packed: bool,
    /// Denial rows (escaped HTML).
    pub(super) rows: String,
    /// How many denial rows are packed.
    pub(super) row_count: usize,
    details: Vec<String>,
}

impl Pack {
    pub(super) fn new(packed: bool) -> Self {
        Pack {
            packed,
            rows: String::new(),
            row_count: 0,
            details: Vec::new(),
        }
    }

    /// A caller detail's body (escaped HTML): the attribute that points into
    /// the pack, or the body itself to write inline.
    pub(super) fn detail(&mut self, body: String) -> (String, Option<String>) {
        if !self.packed {
            return (String::new(), Some(body));
        }
        self.details.push(body);
        (format!(" data-d=\"{}\"", self.details.len() - 1), None)
    }

    /// The pack as a `<script type="text/plain">` block (base64: nothing in
    /// it can close the element), or nothing.
    pub(super) fn finish(self) -> Result<String> {
        if !self.packed {
            return Ok(String::new());
        }
        let json = serde_json::json!({ "rows": self.rows, "details": self.details });
        let text = serde_json::to_vec(&json).map_err(|e| Error::Output(e.to_string()))?;
        let raw = miniz_oxide::deflate::compress_to_vec(&text, 9);
        Ok(format!(
            "<script type=\"text/plain\" id=\"kv-packed\">{}</script>",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_unpacks_to_its_rows_and_details() {
        let mut p = Pack::new(true);
        p.rows.push_str("<tr><td>a &amp; b</tr>");
        let (attr, inline) = p.detail("<dl><dt>x</dt></dl>".into());
        assert_eq!((attr.as_str(), inline), (" data-d=\"0\"", None));
        let html = p.finish().unwrap();
        let b64 = html
            .strip_prefix("<script type=\"text/plain\" id=\"kv-packed\">")
            .and_then(|s| s.strip_suffix("</script>"))
            .unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let text = miniz_oxide::inflate::decompress_to_vec(&raw).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(v["rows"], "<tr><td>a &amp; b</tr>");
        assert_eq!(v["details"][0], "<dl><dt>x</dt></dl>");
    }

    #[test]
    fn below_the_budget_nothing_is_packed() {
        let mut p = Pack::new(false);
        let (attr, inline) = p.detail("<dl></dl>".into());
        assert_eq!((attr.as_str(), inline.as_deref()), ("", Some("<dl></dl>")));
        assert_eq!(p.finish().unwrap(), "");
    }
}
