//! One self-contained HTML file a reviewer works in, offline and printed
//! (inline style and script written for it, no external asset): summary,
//! requests and denials per day as an SVG chart with axes, findings with
//! their evidence and fix, denials, who read each object, callers and each
//! caller's detail. Dark mode, a print stylesheet, severity in words as
//! well as colour.

mod caller;
mod pack;

use super::fit::human_time;
use super::{Renderer, View};
use crate::analyze::findings::{Evidence, Finding};
use crate::analyze::report::Report;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fmt::Write;

pub struct Html;

fn esc(s: &str) -> String {
    super::escape::html(s)
}

fn chart(per_day: &std::collections::BTreeMap<String, crate::analyze::report::DayCount>) -> String {
    let n = per_day.len().max(1);
    let max = per_day
        .values()
        .map(|d| d.requests)
        .max()
        .unwrap_or(1)
        .max(1);
    // Drawn in a viewBox: the chart scales to the page (and to A4).
    let (w, h, left, top) = (900.0, 220.0, 56.0, 10.0);
    let bw = (w - left - 10.0) / n as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-labelledby=\"chart-title\"><title id=\"chart-title\">Requests and denied requests (403) per day, UTC; the highest day has {max} requests</title>",
        h + 60.0
    );
    // The y axis: 0, half and the maximum.
    for (frac, label) in [(0.0, 0), (0.5, max / 2), (1.0, max)] {
        let y = top + h - frac * h;
        let _ = write!(svg, "<line x1=\"{left}\" x2=\"{w}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"axis\">{label}</text>", left - 6.0, y + 4.0);
    }
    for (i, (day, d)) in per_day.iter().enumerate() {
        let x = left + i as f64 * bw;
        let rh = d.requests as f64 / max as f64 * h;
        let dh = d.denied as f64 / max as f64 * h;
        let bar = (bw * 0.8).max(1.0);
        let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{rh:.1}\" class=\"req\"><title>{}: {} requests, {} denied</title></rect>", top + h - rh, esc(day), d.requests, d.denied);
        let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{dh:.1}\" class=\"den\"><title>{}: {} denied</title></rect>", top + h - dh, esc(day), d.denied);
        if n <= 31 || i % (n / 15 + 1) == 0 {
            let (lx, ly) = (x + bar / 2.0, top + h + 14.0);
            let _ = write!(svg, "<text x=\"{lx:.1}\" y=\"{ly:.1}\" class=\"axis\" transform=\"rotate(45 {lx:.1} {ly:.1})\">{}</text>", esc(day.get(5..).unwrap_or(day)));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The page's only script: a filter box and chips over every table and
/// finding, sortable columns (`aria-sort`, keyboard too), a caller's detail
/// opened from its row, and a Copy button per fix. Static text, no log
/// content; the page reads the same without it.
const SCRIPT: &str = include_str!("script.js");

const STYLE: &str = include_str!("style.css");

/// What a caller row or detail is keyed by in the page
/// (`data-principal`): its oid, or its appid when it has none.
fn principal_attr(appid: Option<&str>, oid: Option<&str>) -> String {
    esc(oid.or(appid).unwrap_or(""))
}

fn severity(f: &Finding) -> String {
    format!("{:?}", f.severity).to_lowercase()
}

/// The ids the filter box also matches (`data-ids`): appids and oids.
fn ids_attr<'a>(ids: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut v: Vec<&str> = ids.flatten().collect();
    v.sort_unstable();
    v.dedup();
    esc(&v.join(" "))
}

/// The UTC time to the minute, without the zone, for table cells.
fn cell_time(t: Option<&str>) -> String {
    t.map_or("-".into(), |t| {
        let h = human_time(t);
        h.get(..16).map_or(h.clone(), str::to_string)
    })
}

/// An identity kind as a word and as an attribute value.
fn kind_word(kind: &str) -> String {
    kind.replace('_', " ")
}

fn summary(o: &mut String, r: &Report) {
    let s = &r.summary;
    let n = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let by = |m: &BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{v} {}", kind_word(k)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    o.push_str("<h2>Summary</h2><table><tbody>");
    let rows: Vec<(&str, String)> = vec![
        ("Events", s.events.to_string()),
        (
            "Rows read / kept / skipped / outside the period",
            format!(
                "{} / {} / {} / {}",
                s.rows_read,
                s.rows_kept,
                s.rows_skipped.values().sum::<u64>(),
                s.rows_outside_period
            ),
        ),
        (
            "Callers",
            format!("{} ({})", s.callers, by(&s.callers_by_kind)),
        ),
        (
            "Findings",
            format!(
                "{} high, {} medium, {} low",
                n(&s.findings_by_severity, "high"),
                n(&s.findings_by_severity, "medium"),
                n(&s.findings_by_severity, "low")
            ),
        ),
        ("Denials by class", by(&s.denials_by_kind)),
        (
            "Secrets, keys and certificates",
            format!(
                "{} ({} read in the period{})",
                r.access.len(),
                r.access.iter().filter(|a| a.reads > 0).count(),
                if r.access.iter().any(|a| a.unused
                    && a.denied == 0
                    && a.writes == 0
                    && a.deletes == 0
                    && a.metadata == 0)
                {
                    "; with the objects --objects listed"
                } else {
                    ""
                }
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = write!(
            o,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(k),
            esc(&v)
        );
    }
    o.push_str("</tbody></table>");
}

fn is_denial(f: &Finding) -> bool {
    matches!(f.evidence, Evidence::DeniedAccess(_))
}

/// Findings other than denials, as sections; denials go to their table.
fn findings(o: &mut String, r: &Report) {
    let _ = write!(
        o,
        "<h2>Findings</h2><p>{}</p>",
        esc(super::findings_line(r).trim_end())
    );
    // What to do about each type, said once (a report can hold thousands
    // of findings of a type); fix commands stay with theirs.
    let mut advice: BTreeMap<&str, &str> = BTreeMap::new();
    for f in r.findings.iter().filter(|f| !is_denial(f)) {
        if !f.recommendation.starts_with("az ") {
            advice.entry(f.kind.as_str()).or_insert(&f.recommendation);
        }
    }
    if !advice.is_empty() {
        o.push_str("<dl class=\"advice\">");
        for (kind, text) in &advice {
            let _ = write!(
                o,
                "<dt id=\"do-{}\">{}</dt><dd>{}</dd>",
                esc(kind),
                esc(kind),
                esc(text)
            );
        }
        o.push_str("</dl>");
    }
    let denials = r.findings.iter().filter(|f| is_denial(f)).count();
    if denials > 0 {
        let _ = write!(
            o,
            "<p>{denials} denied_access finding(s), each with its fix, are in <a href=\"#denials\">Denials</a>.</p>"
        );
    }
    let mut list: Vec<_> = r.findings.iter().filter(|f| !is_denial(f)).collect();
    list.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in list {
        let sev = severity(f);
        let _ = write!(
            o,
            "<section class=\"finding\" data-severity=\"{sev}\" data-kind=\"{}\" data-vault=\"{}\" data-ids=\"{}\"><h3><b class=\"sev\">{sev}</b> {}: {} ({}){}</h3><ul>",
            esc(&kind_word(&f.principal.kind)),
            esc(f.vault.as_deref().unwrap_or("")),
            ids_attr([f.principal.appid.as_deref(), f.principal.oid.as_deref()].into_iter()),
            esc(f.kind.as_str()),
            esc(&super::words::principal(&f.principal)),
            esc(&kind_word(&f.principal.kind)),
            f.vault.as_deref().map(|v| format!(" on {}", esc(v))).unwrap_or_default()
        );
        for line in super::words::evidence(f) {
            let _ = write!(o, "<li>{}</li>", esc(&line));
        }
        o.push_str("</ul>");
        if f.recommendation.starts_with("az ") {
            let _ = write!(
                o,
                "<p>Fix:</p><pre><code>{}</code></pre>",
                esc(&f.recommendation)
            );
        }
        let cmds = super::words::commands(f);
        if !cmds.is_empty() {
            let _ = write!(
                o,
                "<p>Fix:</p><pre><code>{}</code></pre>",
                esc(&cmds.join("\n"))
            );
        }
        o.push_str("</section>");
    }
}

/// The fix cell of a denial: the command, or what to do when no command
/// fixes it (network, throttling, a value that may be forged).
fn fix_cell(f: &Finding) -> String {
    if f.recommendation.starts_with("az ") {
        format!(
            "<td class=\"fix\"><pre><code>{}</code></pre>",
            esc(&f.recommendation)
        )
    } else {
        format!("<td>{}", esc(&f.recommendation))
    }
}

/// Denial rows written in the page when the rest are packed: the most
/// severe and most repeated.
pub(super) const DENIALS_INLINE: usize = 1_000;

/// A principal's name in a busy table: a bare id is shortened (the full id
/// is in `data-ids`, matched by the filter box, and in the caller's
/// detail).
fn short_who(
    name: Option<&str>,
    upn: Option<&str>,
    appid: Option<&str>,
    oid: Option<&str>,
) -> String {
    if name.is_none() && upn.is_none() {
        oid.or(appid)
            .map_or_else(|| "(no identity)".into(), super::words::short_id)
    } else {
        super::words::who(name, upn, appid, oid)
    }
}

/// The unresolved denials (denied_access findings), one row each with its
/// fix, most severe and most repeated first (end tags the HTML standard
/// makes optional are left out: a large report has thousands of rows).
fn denials(o: &mut String, r: &Report, pack: &mut pack::Pack) {
    o.push_str("<h2 id=\"denials\">Denials</h2>");
    let mut rows: Vec<(&Finding, &crate::analyze::findings::denied_access::Evidence)> = r
        .findings
        .iter()
        .filter_map(|f| match &f.evidence {
            Evidence::DeniedAccess(e) => Some((f, e)),
            _ => None,
        })
        .collect();
    if rows.is_empty() {
        o.push_str("<p>No denial left unresolved in the period.</p>");
        return;
    }
    rows.sort_by(|(f, e), (g, d)| {
        g.severity
            .cmp(&f.severity)
            .then(d.count.cmp(&e.count))
            .then_with(|| d.last_seen.cmp(&e.last_seen))
    });
    let _ = write!(o, "<p>{} denial(s) no later success resolved. The fix is the command in each row: review it before running it.</p>", rows.len());
    if pack.packed {
        let _ = write!(o, "<noscript><p>This report is large: the first {DENIALS_INLINE} denials (the most severe and most repeated) are below; the other {} need JavaScript to show. Every denial and its fix is also in the JSON report (<code>kvaudit report -o report.json</code>).</p></noscript>", rows.len().saturating_sub(DENIALS_INLINE));
    }
    o.push_str("<table class=\"sortable\" id=\"denial-table\"><thead><tr><th scope=\"col\">severity</th><th scope=\"col\">caller</th><th scope=\"col\">vault</th><th scope=\"col\">class</th><th scope=\"col\">operation and object</th><th scope=\"col\" class=\"num\">times</th><th scope=\"col\">last (UTC)</th><th scope=\"col\">fix</th></tr></thead><tbody>");
    for (i, (f, e)) in rows.into_iter().enumerate() {
        let sev = severity(f);
        let p = &f.principal;
        let row = format!(
            "<tr data-severity=\"{sev}\" data-kind=\"{}\" data-vault=\"{}\" data-ids=\"{}\"><td>{sev}<td>{}<td>{}<td>{}<td>{}{}<td>{}<td>{}{}</tr>",
            esc(&kind_word(&p.kind)),
            esc(f.vault.as_deref().unwrap_or("")),
            ids_attr([p.appid.as_deref(), p.oid.as_deref()].into_iter()),
            esc(&short_who(p.name.as_deref(), p.upn.as_deref(), p.appid.as_deref(), p.oid.as_deref())),
            esc(f.vault.as_deref().unwrap_or("-")),
            esc(&kind_word(&e.denial)),
            esc(e.operation.as_deref().unwrap_or("?")),
            e.object.as_deref().map(|v| format!(" {}", esc(v))).unwrap_or_default(),
            e.count,
            esc(&cell_time(e.last_seen.as_deref())),
            fix_cell(f),
        );
        if pack.packed && i >= DENIALS_INLINE {
            pack.rows.push_str(&row);
            pack.row_count += 1;
        } else {
            o.push_str(&row);
        }
    }
    o.push_str("</tbody></table>");
}

/// Readers named per object in the table (the JSON has them all).
const READERS_SHOWN: usize = 3;

/// Who read each secret, key and certificate, and when last.
fn objects(o: &mut String, r: &Report) {
    o.push_str("<h2 id=\"objects\">Who read each secret, key and certificate</h2>");
    if r.access.is_empty() {
        o.push_str("<p>The log names no object.</p>");
        return;
    }
    let listed = r
        .access
        .iter()
        .any(|a| a.unused && a.denied == 0 && a.writes == 0 && a.deletes == 0 && a.metadata == 0);
    o.push_str(if listed {
        "<p>Objects the log names, and those the vaults' listings (<code>--objects</code>) name that nobody touched (read: never). "
    } else {
        "<p>Only objects the log names are listed: an object nobody touched in the period is not here (pass <code>--objects</code> with <code>az keyvault secret list</code> output to list them). "
    });
    o.push_str("Reads return or use the object (KeyGet and CertificateGet return only public material); metadata lists are not reads.</p><table class=\"sortable\" id=\"object-table\"><thead><tr><th scope=\"col\">object</th><th scope=\"col\">vault</th><th scope=\"col\" class=\"num\">reads</th><th scope=\"col\">read most by</th><th scope=\"col\">last read (UTC)</th><th scope=\"col\" class=\"num\">writes</th><th scope=\"col\" class=\"num\">deletes</th><th scope=\"col\" class=\"num\">denied</th></tr></thead><tbody>");
    for a in &r.access {
        let readers: Vec<String> = a
            .readers
            .iter()
            .map(|x| {
                format!(
                    "{} ({})",
                    short_who(
                        x.name.as_deref(),
                        x.upn.as_deref(),
                        x.appid.as_deref(),
                        x.oid.as_deref()
                    ),
                    x.reads
                )
            })
            .collect();
        let _ = write!(
            o,
            "<tr data-vault=\"{}\"><td>{} <span class=\"muted\">{}</span><td>{}<td>{}<td>{}<td>{}<td>{}<td>{}<td>{}</tr>",
            esc(a.vault.as_deref().unwrap_or("")),
            esc(&a.object_name),
            esc(&a.object_type),
            esc(a.vault.as_deref().unwrap_or("-")),
            a.reads,
            esc(&super::words::list(&readers, READERS_SHOWN)),
            if a.unused && a.last_read.is_none() {
                "never".to_string()
            } else {
                esc(&cell_time(a.last_read.as_deref()))
            },
            a.writes,
            a.deletes,
            a.denied
        );
    }
    o.push_str("</tbody></table>");
}

fn callers_table(o: &mut String, r: &Report) {
    o.push_str("<h2>Callers</h2><p>Each caller's detail is under Caller details (selecting a row opens it).</p><table class=\"sortable\" id=\"caller-table\"><thead><tr><th scope=\"col\">caller</th><th scope=\"col\">kind</th><th scope=\"col\" class=\"num\">events</th><th scope=\"col\" class=\"num\">denied</th><th scope=\"col\">vaults</th><th scope=\"col\">last seen (UTC)</th></tr></thead><tbody>");
    for c in &r.callers {
        let _ = write!(
            o,
            "<tr data-principal=\"{}\" data-kind=\"{}\" data-vault=\"{}\" data-ids=\"{}\"><td>{}<td>{}<td>{}<td>{}<td>{}<td>{}</tr>",
            principal_attr(c.appid.as_deref(), c.oid.as_deref()),
            esc(&kind_word(&c.kind)),
            esc(&c.vault_names.join(" ")),
            ids_attr([c.appid.as_deref(), c.oid.as_deref(), c.upn.as_deref()].into_iter()),
            esc(&super::words::caller(c)),
            esc(&kind_word(&c.kind)),
            c.events,
            c.denied,
            esc(&c.vault_names.join(", ")),
            esc(&cell_time(Some(&c.last_seen)))
        );
    }
    o.push_str("</tbody></table>");
}

/// Above this many bytes, a page packs its fix commands and caller
/// details (see [`pack::Pack`]).
const INLINE_BUDGET: usize = 3 * 1024 * 1024;

impl Renderer for Html {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let View::Report(r) = view else {
            return Err(Error::Output(
                "HTML is available for `kvaudit report` only".into(),
            ));
        };
        let details = caller::details(r);
        // About what the details and denial rows weigh.
        let bulky = details.iter().map(String::len).sum::<usize>()
            + r.findings
                .iter()
                .filter(|f| is_denial(f))
                .map(|f| f.recommendation.len() + 250)
                .sum::<usize>();
        let mut pack = pack::Pack::new(bulky > INLINE_BUDGET);
        let mut o = String::new();
        let _ = write!(o, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\"><title>Key Vault access report</title><style>{STYLE}</style></head><body><main>");
        let period = |t: &Option<String>| t.as_deref().map_or("-".into(), human_time);
        let _ = write!(
            o,
            "<h1>Key Vault access report</h1><p>{} to {}. Generated {}.</p>",
            esc(&period(&r.period.from)),
            esc(&period(&r.period.to)),
            esc(&human_time(&r.generated_at))
        );
        // Shown by the script: without it there is nothing to filter with.
        o.push_str("<input type=\"search\" id=\"q\" placeholder=\"Filter tables and findings (name, upn, id, vault, secret…)\" aria-label=\"Filter tables and findings\" hidden><div id=\"chips\" role=\"group\" aria-label=\"Show only\" hidden></div>");
        summary(&mut o, r);
        o.push_str("<h2>Requests and denials per day (UTC)</h2><p class=\"legend\"><span style=\"background:var(--req)\"></span>requests<span style=\"background:var(--den)\"></span>denied (403)</p>");
        o.push_str(&chart(&r.summary.per_day));
        findings(&mut o, r);
        denials(&mut o, r, &mut pack);
        objects(&mut o, r);
        callers_table(&mut o, r);
        o.push_str("<h2>Caller details</h2>");
        if pack.packed {
            o.push_str("<noscript><p>This report is large: each caller's detail is packed and needs JavaScript to show. The tables above and the JSON report hold the same facts.</p></noscript>");
        }
        for (c, body) in r.callers.iter().zip(details) {
            let (attr, inline) = pack.detail(body);
            let _ = write!(
                o,
                "<details class=\"caller\" data-principal=\"{}\"{attr}><summary>{} ({})</summary>{}</details>",
                principal_attr(c.appid.as_deref(), c.oid.as_deref()),
                esc(&super::words::caller(c)),
                esc(&kind_word(&c.kind)),
                inline.unwrap_or_default()
            );
        }
        o.push_str("</main>");
        o.push_str(&pack.finish()?);
        let _ = writeln!(o, "<script>{SCRIPT}</script></body></html>");
        Ok(o.into_bytes())
    }
}
