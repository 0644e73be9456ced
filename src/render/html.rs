//! One self-contained HTML file (no scripts, no external assets; works
//! offline and printed): summary, requests and denials per day as an
//! inline SVG chart with axes, findings with their evidence and fix,
//! callers. Dark mode, a print stylesheet, severity in words as well as
//! colour.

use super::fit::human_time;
use super::{Renderer, View};
use crate::error::{Error, Result};
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

/// The page's only script: a filter box over every table and finding,
/// sortable columns (`aria-sort`, keyboard too) and a Copy button per fix.
/// Static text, no log content; the page reads the same without it.
const SCRIPT: &str = r#"(function(){
var q=document.getElementById('q');q.hidden=false;
var groups={severity:{},kind:{},vault:{}};var bar=document.getElementById('chips');
function values(el,g){var v=el.getAttribute('data-'+g);return v===null?null:(g==='vault'?v.split(' '):[v]);}
function apply(){var t=q.value.toLowerCase();
document.querySelectorAll('tbody tr, section.finding').forEach(function(r){var ok=!t||r.textContent.toLowerCase().indexOf(t)>=0;
Object.keys(groups).forEach(function(g){var on=Object.keys(groups[g]).filter(function(k){return groups[g][k];});var v=values(r,g);
if(on.length&&v!==null&&!v.some(function(x){return on.indexOf(x)>=0;})){ok=false;}});r.hidden=!ok;});}
q.addEventListener('input',apply);
Object.keys(groups).forEach(function(g){var seen={};document.querySelectorAll('[data-'+g+']').forEach(function(el){(values(el,g)||[]).forEach(function(v){if(v){seen[v]=1;}});});
var keys=Object.keys(seen).sort();if(keys.length<2){return;}var label=document.createElement('span');label.textContent=g+':';bar.appendChild(label);
keys.forEach(function(k){var b=document.createElement('button');b.type='button';b.className='chip';b.textContent=k;b.setAttribute('aria-pressed','false');
b.addEventListener('click',function(){groups[g][k]=!groups[g][k];b.setAttribute('aria-pressed',groups[g][k]?'true':'false');apply();});bar.appendChild(b);});});
bar.hidden=false;
document.querySelectorAll('table.sortable thead th').forEach(function(th,i){th.tabIndex=0;
function go(){var tb=th.closest('table').tBodies[0];var asc=th.getAttribute('aria-sort')!=='ascending';
th.parentNode.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');var num=th.classList.contains('num');
var rows=Array.prototype.slice.call(tb.rows);rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent;
var c=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);return asc?c:-c;});rows.forEach(function(r){tb.appendChild(r);});}
th.addEventListener('click',go);th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();go();}});});
document.querySelectorAll('tr[data-principal]').forEach(function(r){r.style.cursor='pointer';r.tabIndex=0;
function open(){var d=document.querySelector('details.caller[data-principal="'+r.getAttribute('data-principal')+'"]');if(d){d.open=true;d.scrollIntoView();}}
r.addEventListener('click',open);r.addEventListener('keydown',function(e){if(e.key==='Enter'){open();}});});
window.addEventListener('beforeprint',function(){document.querySelectorAll('details').forEach(function(d){d.open=true;});});
document.querySelectorAll('pre>code').forEach(function(c){var b=document.createElement('button');b.type='button';b.className='copy';b.textContent='Copy';
b.addEventListener('click',function(){if(navigator.clipboard){navigator.clipboard.writeText(c.textContent).then(function(){b.textContent='Copied';});}});
c.parentNode.parentNode.insertBefore(b,c.parentNode);});
})();"#;

const STYLE: &str = "
:root{--fg:#1b1b1b;--bg:#fff;--muted:#555;--line:#c8c8c8;--req:#3b6ea8;--den:#b3261e;--high:#9b1c1c;--medium:#7a4a00;--low:#444;--code:#f3f3f3}
@media (prefers-color-scheme: dark){:root{--fg:#e8e8e8;--bg:#161616;--muted:#b0b0b0;--line:#444;--req:#7fa8d8;--den:#ff8a80;--high:#ff9b9b;--medium:#f0c060;--low:#c8c8c8;--code:#262626}}
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:var(--fg);background:var(--bg);line-height:1.45}
table{border-collapse:collapse;margin:1em 0;width:100%}
td,th{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:var(--code)}
td.num,th.num{text-align:right}
.nowrap{white-space:nowrap}
.sev{font-weight:bold;text-transform:uppercase}
[data-severity=high] .sev{color:var(--high)}[data-severity=medium] .sev{color:var(--medium)}[data-severity=low] .sev{color:var(--low)}
.finding{border:1px solid var(--line);border-left-width:6px;padding:.5em 1em;margin:1em 0}
.finding[data-severity=high]{border-left-color:var(--high)}.finding[data-severity=medium]{border-left-color:var(--medium)}.finding[data-severity=low]{border-left-color:var(--low)}
.finding h3{margin:.2em 0;font-size:1.05em;color:var(--fg);overflow-wrap:anywhere}
.finding li{overflow-wrap:anywhere}
pre{background:var(--code);padding:.6em;overflow-x:auto;white-space:pre;max-width:100%}
.chart{width:100%;height:auto}
.chart .req{fill:var(--req)}.chart .den{fill:var(--den)}
.chart .axis{fill:var(--fg);font-size:11px}.chart .grid{stroke:var(--line);stroke-width:1}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.muted{color:var(--muted)}
dl.advice dt{font-weight:bold;margin-top:.4em}dl.advice dd{margin:0 0 0 1em}
a{color:var(--req)}
details.caller{border:1px solid var(--line);padding:.3em .8em;margin:.3em 0}
details.caller dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:.5em 0}
details.caller dt{font-weight:bold}details.caller dd{margin:0;overflow-wrap:anywhere}
#q{width:100%;max-width:30em;padding:.4em;margin:.5em 0;font:inherit}
button.copy{font:inherit;padding:.1em .6em;margin:.2em 0;cursor:pointer}
#chips{margin:.3em 0}#chips span{margin:0 .3em 0 .8em;font-weight:bold}
button.chip{font:inherit;padding:.1em .6em;margin:.15em;border:1px solid var(--line);border-radius:1em;background:var(--bg);color:var(--fg);cursor:pointer}
button.chip[aria-pressed=true]{background:var(--fg);color:var(--bg)}
th[tabindex]{cursor:pointer}th[aria-sort=ascending]::after{content:' ▲'}th[aria-sort=descending]::after{content:' ▼'}
@media print{#q,#chips,button.copy{display:none}body{margin:0;max-width:none;font-size:10pt}pre{white-space:pre-wrap;word-break:break-all}table{font-size:9pt}td,th{padding:2px 4px}.finding{break-inside:avoid}}
";

impl Renderer for Html {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let View::Report(r) = view else {
            return Err(Error::Output(
                "HTML is available for `kvaudit report` only".into(),
            ));
        };
        let s = &r.summary;
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
        let n =
            |m: &std::collections::BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
        o.push_str("<h2>Summary</h2><table><tbody>");
        let rows: Vec<(String, String)> = vec![
            ("Events".into(), s.events.to_string()),
            (
                "Rows read / kept / skipped / outside the period".into(),
                format!(
                    "{} / {} / {} / {}",
                    s.rows_read,
                    s.rows_kept,
                    s.rows_skipped.values().sum::<u64>(),
                    s.rows_outside_period
                ),
            ),
            (
                "Callers".into(),
                format!(
                    "{} ({})",
                    s.callers,
                    s.callers_by_kind
                        .iter()
                        .map(|(k, v)| format!("{v} {}", k.replace('_', " ")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (
                "Findings".into(),
                format!(
                    "{} high, {} medium, {} low",
                    n(&s.findings_by_severity, "high"),
                    n(&s.findings_by_severity, "medium"),
                    n(&s.findings_by_severity, "low")
                ),
            ),
            (
                "Denials by class".into(),
                if s.denials_by_kind.is_empty() {
                    "none".into()
                } else {
                    s.denials_by_kind
                        .iter()
                        .map(|(k, v)| format!("{v} {}", k.replace('_', " ")))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
        ];
        for (k, v) in rows {
            let _ = write!(
                o,
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                esc(&k),
                esc(&v)
            );
        }
        o.push_str("</tbody></table><h2>Requests and denials per day (UTC)</h2><p class=\"legend\"><span style=\"background:var(--req)\"></span>requests<span style=\"background:var(--den)\"></span>denied (403)</p>");
        o.push_str(&chart(&s.per_day));
        let _ = write!(
            o,
            "<h2>Findings</h2><p>{}</p>",
            esc(super::findings_line(r).trim_end())
        );
        // What to do about each type, said once (a report can hold
        // thousands of findings of a type); fix commands stay with theirs.
        let mut advice: std::collections::BTreeMap<&str, &str> = Default::default();
        for f in &r.findings {
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
        let mut findings: Vec<_> = r.findings.iter().collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        for f in findings {
            let sev = format!("{:?}", f.severity).to_lowercase();
            let _ = write!(
                o,
                "<section class=\"finding\" data-severity=\"{sev}\" data-kind=\"{}\" data-vault=\"{}\"><h3><b class=\"sev\">{sev}</b> {}: {} ({}){}</h3><ul>",
                esc(&f.principal.kind.replace('_', " ")),
                esc(f.vault.as_deref().unwrap_or("")),
                esc(f.kind.as_str()),
                esc(&super::words::principal(&f.principal)),
                esc(&f.principal.kind.replace('_', " ")),
                f.vault.as_deref().map(|v| format!(" on {}", esc(v))).unwrap_or_default()
            );
            for line in super::words::evidence(f) {
                let _ = write!(o, "<li>{}</li>", esc(&line));
            }
            o.push_str("</ul>");
            // Other advice is said once, in the list above the findings.
            if f.recommendation.starts_with("az ") {
                let _ = write!(
                    o,
                    "<p>Fix:</p><pre><code>{}</code></pre>",
                    esc(&f.recommendation)
                );
            }
            o.push_str("</section>");
        }
        o.push_str("<h2>Callers</h2><table class=\"sortable\"><thead><tr><th scope=\"col\">caller</th><th scope=\"col\">kind</th><th scope=\"col\" class=\"num\">events</th><th scope=\"col\" class=\"num\">denied</th><th scope=\"col\">vaults</th><th scope=\"col\">last seen (UTC)</th></tr></thead><tbody>");
        for c in &r.callers {
            let who = super::words::caller(c);
            let _ = write!(
                o,
                "<tr data-principal=\"{}\" data-kind=\"{}\" data-vault=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td></tr>",
                esc(c.oid.as_deref().or(c.appid.as_deref()).unwrap_or("")),
                esc(&c.kind.replace('_', " ")),
                esc(&c.vault_names.join(" ")),
                esc(&who),
                esc(&c.kind.replace('_', " ")),
                c.events,
                c.denied,
                esc(&c.vault_names.join(", ")),
                esc(human_time(&c.last_seen).trim_end_matches(" UTC"))
            );
        }
        o.push_str("</tbody></table><h2>Caller details</h2>");
        for c in &r.callers {
            let who = super::words::caller(c);
            let _ = write!(
                o,
                "<details class=\"caller\" data-principal=\"{}\"><summary>{} ({})</summary><dl>",
                esc(c.oid.as_deref().or(c.appid.as_deref()).unwrap_or("")),
                esc(&who),
                esc(&c.kind.replace('_', " "))
            );
            let ids = [("appid", &c.appid), ("oid", &c.oid), ("upn", &c.upn)]
                .iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k} {v}")))
                .collect::<Vec<_>>()
                .join(", ");
            let facts = [
                ("ids", ids),
                ("requests", format!("{} ({} denied)", c.events, c.denied)),
                (
                    "seen (UTC)",
                    format!(
                        "{} to {}",
                        human_time(&c.first_seen),
                        human_time(&c.last_seen)
                    ),
                ),
                ("vaults", c.vault_names.join(", ")),
                (
                    "objects",
                    format!(
                        "{} secrets, {} keys, {} certificates",
                        c.secrets, c.keys, c.certificates
                    ),
                ),
                ("operations", c.operations.join(", ")),
                ("clients", c.clients.join("; ")),
            ];
            for (k, v) in facts {
                let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
            }
            o.push_str("</dl></details>");
        }
        o.push_str("</main>");
        let _ = writeln!(o, "<script>{SCRIPT}</script></body></html>");

        Ok(o.into_bytes())
    }
}
