//! Human output that fits the terminal: tables whose rows are one line each
//! (columns as wide as their content until the width runs out, then the
//! flexible ones shrink and long values end in `…`, never wrapped), prose
//! wrapped at word boundaries, and the ANSI styles, applied after the
//! widths are measured. Without a width (stdout is a pipe or a file)
//! nothing is cut or wrapped.

use super::escape::printable;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Spaces between columns.
const GAP: usize = 2;

/// A column of a fitted table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    /// Numbers: aligned right.
    pub right: bool,
    /// May shrink (ending values in `…`) when the table is too wide.
    pub flex: bool,
    /// Never narrower than this (nor than its header).
    pub min: usize,
}

impl Column {
    pub const fn text(header: &'static str) -> Self {
        Column {
            header,
            right: false,
            flex: true,
            min: 8,
        }
    }
    pub const fn fixed(header: &'static str) -> Self {
        Column {
            header,
            right: false,
            flex: false,
            min: 4,
        }
    }
    pub const fn number(header: &'static str) -> Self {
        Column {
            header,
            right: true,
            flex: false,
            min: 4,
        }
    }
    /// The same column, never narrower than `min`.
    pub const fn at_least(self, min: usize) -> Self {
        Column { min, ..self }
    }
}

/// How a piece of text is shown when colour is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Style {
    #[default]
    Plain,
    Bold,
    Dim,
    Red,
    Yellow,
    Green,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Plain => "",
            Style::Bold => "\x1b[1m",
            Style::Dim => "\x1b[2m",
            Style::Red => "\x1b[31m",
            Style::Yellow => "\x1b[33m",
            Style::Green => "\x1b[32m",
        }
    }
}

/// `text` in `style` when `color`.
pub fn paint(text: &str, style: Style, color: bool) -> String {
    if !color || style == Style::Plain || text.is_empty() {
        text.to_string()
    } else {
        format!("{}{text}\x1b[0m", style.code())
    }
}

/// One cell: its text (made printable, one line) and style.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    text: String,
    style: Style,
}

impl Cell {
    pub fn new(text: impl std::fmt::Display) -> Self {
        Cell {
            text: printable(&text.to_string()).replace(['\n', '\r'], " "),
            style: Style::Plain,
        }
    }
    pub fn styled(text: impl std::fmt::Display, style: Style) -> Self {
        Cell {
            style,
            ..Cell::new(text)
        }
    }
}

/// One line of log-derived text, made printable and cut to `width`.
pub fn line(text: &str, width: Option<usize>) -> String {
    let t = printable(text).replace(['\n', '\r'], " ");
    match width {
        Some(w) => cut(&t, w),
        None => t,
    }
}

/// Display width of `s`.
pub fn width_of(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `w` columns, ending in `…` when cut.
pub fn cut(s: &str, w: usize) -> String {
    if width_of(s) <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

/// The widths the columns get within `width`: their content's, the
/// flexible ones (then the others) shrunk one column at a time, widest
/// first, never below their header or 4.
fn widths(cols: &[Column], rows: &[Vec<Cell>], width: Option<usize>) -> Vec<usize> {
    let mut w: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|cell| width_of(&cell.text))
                .chain([width_of(c.header)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let Some(limit) = width else { return w };
    let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
    let floor = |i: usize| width_of(cols[i].header).max(cols[i].min);
    for flexible_only in [true, false] {
        while total(&w) > limit {
            // The column with the most room above its floor gives first.
            let widest = (0..w.len())
                .filter(|i| (!flexible_only || cols[*i].flex) && w[*i] > floor(*i))
                .max_by_key(|i| w[*i] - floor(*i));
            match widest {
                Some(i) => w[i] -= 1,
                None => break,
            }
        }
    }
    w
}

/// A table fitted to `width`: a header, then one line per row.
pub fn table(cols: &[Column], rows: &[Vec<Cell>], width: Option<usize>, color: bool) -> String {
    let w = widths(cols, rows, width);
    let mut out = String::new();
    let line = |cells: Vec<(String, Style, bool)>, out: &mut String| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (t, style, right)) in cells.into_iter().enumerate() {
            let t = cut(&t, w[i]);
            let pad = w[i].saturating_sub(width_of(&t));
            let shown = paint(&t, style, color);
            if right {
                text.push_str(&" ".repeat(pad));
                text.push_str(&shown);
            } else {
                text.push_str(&shown);
                if i < last {
                    text.push_str(&" ".repeat(pad));
                }
            }
            if i < last {
                text.push_str(&" ".repeat(GAP));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(
        cols.iter()
            .map(|c| (c.header.to_string(), Style::Bold, c.right))
            .collect(),
        &mut out,
    );
    for r in rows {
        line(
            cols.iter()
                .enumerate()
                .map(|(i, c)| {
                    let cell = r.get(i).cloned().unwrap_or_default();
                    (cell.text, cell.style, c.right)
                })
                .collect(),
            &mut out,
        );
    }
    out
}

/// `text` (made printable) wrapped at spaces to `width` columns, each line
/// starting with `indent` (the first with `first`); a word longer than a
/// line is cut with `…`. Without a width, one line.
pub fn wrap(text: &str, first: &str, indent: &str, width: Option<usize>) -> String {
    let text = printable(text).replace(['\n', '\r'], " ");
    let Some(width) = width else {
        return format!("{first}{text}\n");
    };
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let room = width.saturating_sub(width_of(&line));
        let need = width_of(word) + usize::from(!empty);
        if !empty && need > room {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
            empty = true;
        }
        let room = width.saturating_sub(width_of(&line));
        let word = if width_of(word) > room {
            cut(word, room)
        } else {
            word.to_string()
        };
        if !empty {
            line.push(' ');
        }
        line.push_str(&word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// A time as people read it: `2026-10-21 06:15:03 UTC` (from RFC 3339).
pub fn human_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_fit_and_cut_with_an_ellipsis() {
        let cols = [Column::text("name"), Column::number("n")];
        let rows = vec![vec![
            Cell::new("a-very-long-principal-name@contoso.com"),
            Cell::new(12),
        ]];
        let t = table(&cols, &rows, Some(20), false);
        assert!(t.lines().all(|l| width_of(l) <= 20), "{t}");
        assert!(t.contains('…'));
        let unlimited = table(&cols, &rows, None, false);
        assert!(unlimited.contains("a-very-long-principal-name@contoso.com"));
    }

    #[test]
    fn prose_wraps_at_spaces() {
        let w = wrap("one two three four five six", "- ", "  ", Some(12));
        assert_eq!(w, "- one two\n  three four\n  five six\n");
        assert_eq!(
            human_time("2026-10-21T06:15:03.000000Z"),
            "2026-10-21 06:15:03 UTC"
        );
    }
}
