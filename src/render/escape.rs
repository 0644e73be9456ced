//! Log values are hostile: before one reaches a terminal, Markdown or HTML
//! it is made inert for that place here (control characters, escape
//! sequences and bidirectional overrides shown as escapes; Markdown and
//! HTML syntax escaped).

pub use crate::output::printable;

/// Text for a Markdown paragraph or table cell: printable, one line, with
/// HTML escaped and the characters that end a cell, open a code span or
/// make a link escaped (emphasis is left alone: it cannot carry content).
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in printable(s).chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` as a Markdown code span: the fence is longer than any run of
/// backticks inside, so the value cannot close it.
pub fn md_code(s: &str) -> String {
    let text = printable(s).replace(['\n', '\r'], " ");
    let fence = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// `s` as a fenced code block of `lang`, fenced past any backtick run.
pub fn md_block(lang: &str, s: &str) -> String {
    let text = printable(s);
    let fence = "`".repeat((longest_run(&text, '`') + 1).max(3));
    format!("{fence}{lang}\n{text}\n{fence}")
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        run = if c == ch { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// Text for HTML element content and quoted attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in printable(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_cannot_reach_a_terminal() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(printable("line\nbreak"), "line\nbreak");
    }

    #[test]
    fn markdown_and_html_are_inert() {
        assert_eq!(md_text("<script>|[x](y)"), "&lt;script&gt;\\|\\[x\\](y)");
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("`x"), "`` `x ``");
        assert!(md_block("sh", "```\nrm").starts_with("````sh\n"));
        assert_eq!(html("<a href=\"x\">'"), "&lt;a href=&quot;x&quot;&gt;&#39;");
    }
}
