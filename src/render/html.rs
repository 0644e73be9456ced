//! One self-contained HTML file (no scripts, no external assets; works
//! offline): summary, requests and denials per day as an inline SVG chart,
//! callers by kind, findings.

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
        .max(1) as f64;
    let (w, h, pad) = (900.0, 220.0, 30.0);
    let bw = (w - 2.0 * pad) / n as f64;
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" role=\"img\" aria-label=\"requests and denials per day\">", h + 40.0);
    for (i, (day, d)) in per_day.iter().enumerate() {
        let x = pad + i as f64 * bw;
        let rh = d.requests as f64 / max * h;
        let dh = d.denied as f64 / max * h;
        let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{rh:.1}\" fill=\"#4e79a7\"><title>{day}: {} requests</title></rect>", h - rh + 10.0, (bw * 0.8).max(1.0), d.requests);
        let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{dh:.1}\" fill=\"#e15759\"><title>{day}: {} denied</title></rect>", h - dh + 10.0, (bw * 0.8).max(1.0), d.denied);
        if n <= 31 || i % (n / 15 + 1) == 0 {
            let _ = write!(svg, "<text x=\"{x:.1}\" y=\"{}\" font-size=\"9\" transform=\"rotate(45 {x:.1} {})\">{}</text>", h + 22.0, h + 22.0, esc(&day[5..]));
        }
    }
    svg.push_str("</svg>");
    svg
}

impl Renderer for Html {
    fn render(&self, view: &View) -> Result<Vec<u8>> {
        let View::Report(r) = view else {
            return Err(Error::Output(
                "HTML is available for `kvaudit report` only".into(),
            ));
        };
        let s = &r.summary;
        let mut o = String::new();
        let _ = write!(o, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>kvaudit report</title><style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}.high{{color:#b00;font-weight:bold}}.medium{{color:#b60}}.low{{color:#555}}.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head><body>");
        let _ = write!(
            o,
            "<h1>Key Vault access report</h1><p>Period {} to {}; generated {}.</p>",
            esc(r.period.from.as_deref().unwrap_or("-")),
            esc(r.period.to.as_deref().unwrap_or("-")),
            esc(&r.generated_at)
        );
        let _ = write!(o, "<h2>Summary</h2><table><tr><th>events</th><td>{}</td></tr><tr><th>callers</th><td>{}</td></tr><tr><th>findings</th><td>{}</td></tr>", s.events, s.callers, r.findings.len());
        for (k, v) in &s.denials_by_kind {
            let _ = write!(o, "<tr><th>denials: {}</th><td>{v}</td></tr>", esc(k));
        }
        o.push_str("</table><h2>Requests and denials per day</h2><div class=\"legend\"><span style=\"background:#4e79a7\"></span>requests<span style=\"background:#e15759\"></span>denied (403)</div>");
        o.push_str(&chart(&s.per_day));
        o.push_str("<h2>Callers by kind</h2><table><tr><th>kind</th><th>callers</th></tr>");
        for (k, v) in &s.callers_by_kind {
            let _ = write!(o, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
        }
        o.push_str("</table><h2>Findings</h2><table><tr><th>severity</th><th>type</th><th>principal</th><th>vault</th><th>recommendation</th></tr>");
        for f in &r.findings {
            let p = &f.principal;
            let who = p
                .name
                .clone()
                .or(p.upn.clone())
                .or(p.appid.clone())
                .unwrap_or_default();
            let sev = format!("{:?}", f.severity).to_lowercase();
            let _ = write!(o, "<tr><td class=\"{sev}\">{sev}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td></tr>", esc(f.kind.as_str()), esc(&who), esc(&p.kind), esc(f.vault.as_deref().unwrap_or("")), esc(&f.recommendation));
        }
        o.push_str("</table><h2>Callers</h2><table><tr><th>caller</th><th>kind</th><th>events</th><th>denied</th><th>vaults</th></tr>");
        for c in &r.callers {
            let who = c
                .name
                .clone()
                .or(c.upn.clone())
                .or(c.appid.clone())
                .unwrap_or_else(|| "(no identity)".into());
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&who),
                esc(&c.kind),
                c.events,
                c.denied,
                esc(&c.vault_names.join(", "))
            );
        }
        o.push_str("</table></body></html>\n");
        Ok(o.into_bytes())
    }
}
