//! Pulls Key Vault audit logs straight from a Log Analytics workspace with
//! the query API: the workspace filters, kvaudit analyses. Retries 429 and
//! 5xx (honouring Retry-After), splits the time range when a response hits
//! the row limit, reports partial errors, and explains 401/403.

use super::http::{body, json_body, request_error};
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::time::Duration as StdDuration;

pub const AZDIAG_QUERY: &str = include_str!("../../queries/azurediagnostics-export.kql");
pub const AZKV_QUERY: &str = include_str!("../../queries/azkvauditlogs-export.kql");

pub struct PullConfig {
    pub endpoint: String,
    pub workspace: String,
    pub query: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub token: String,
    /// Rows at which a response is taken as truncated (API limit 500,000).
    pub row_limit: usize,
    /// Requests at most (splitting can multiply them).
    pub max_requests: u32,
    pub max_attempts: u32,
    pub timeout: StdDuration,
    /// Upper bound for one backoff sleep.
    pub max_backoff: StdDuration,
}

/// Parses `P7D`, `PT24H`, `P1DT12H`, `PT30M` (ISO 8601 durations) and the
/// durations every other command takes (`30m`, `24h`, `7d`, `2w`).
pub fn parse_timespan(s: &str) -> Result<Duration> {
    let err = || {
        Error::Usage(format!(
            "--timespan: expected a duration like 7d, 24h, P7D or PT24H, found {s:?}"
        ))
    };
    let Some(rest) = s.strip_prefix('P') else {
        return crate::parse::parse_duration_short(s).ok_or_else(err);
    };
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = Duration::zero();
    let mut take = |part: &str, units: &[(char, Duration)]| -> Result<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| *u == c).ok_or_else(err)?;
                let n: i32 = num.parse().map_err(|_| err())?;
                total += unit.1 * n;
                num.clear();
            }
        }
        if num.is_empty() {
            Ok(())
        } else {
            Err(err())
        }
    };
    take(date, &[('D', Duration::days(1)), ('W', Duration::weeks(1))])?;
    take(
        time,
        &[
            ('H', Duration::hours(1)),
            ('M', Duration::minutes(1)),
            ('S', Duration::seconds(1)),
        ],
    )?;
    if total <= Duration::zero() {
        return Err(err());
    }
    Ok(total)
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Runs the query over [from, to), splitting on truncation; returns one
/// response in the API's shape with all rows.
pub fn pull(cfg: &PullConfig) -> Result<Value> {
    let client = super::http::client(cfg.timeout, StdDuration::from_secs(15))?;
    let mut columns: Option<Value> = None;
    let mut rows: Vec<Value> = Vec::new();
    let mut errors: Vec<Value> = Vec::new();
    let mut stack = vec![(cfg.from, cfg.to)];
    let mut requests = 0;
    while let Some((from, to)) = stack.pop() {
        if requests >= cfg.max_requests {
            return Err(Error::Other(format!(
                "stopped after {requests} requests (--max-requests): splitting the time range at the row limit would need more; pull a shorter --timespan at a time, filter the query, or raise --max-requests (rows pulled so far: {})",
                rows.len()
            )));
        }
        requests += 1;
        let resp = query_once(&client, cfg, from, to)?;
        if let Some(e) = resp.get("error").filter(|e| !e.is_null()) {
            crate::output::note!(
                "kvaudit: warning: partial result for {} to {}: {}",
                iso(from),
                iso(to),
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
            );
            errors.push(e.clone());
        }
        let table = resp["tables"]
            .get(0)
            .cloned()
            .ok_or_else(|| Error::Other("the query API returned no tables".into()))?;
        let got = table["rows"].as_array().cloned().unwrap_or_default();
        if got.len() >= cfg.row_limit && to - from > Duration::seconds(1) {
            let mid = from + (to - from) / 2;
            crate::output::note!(
                "kvaudit: {} rows (the row limit) for {} to {}: splitting the time range",
                got.len(),
                iso(from),
                iso(to)
            );
            // Later half first on the stack so earlier rows come first.
            stack.push((mid, to));
            stack.push((from, mid));
            continue;
        }
        if columns.is_none() {
            columns = Some(table["columns"].clone());
        }
        rows.extend(got);
    }
    crate::output::note!(
        "kvaudit: pulled {} rows in {requests} request(s)",
        rows.len()
    );
    let mut out = json!({"tables": [{"name": "PrimaryResult", "columns": columns.unwrap_or(json!([])), "rows": rows}]});
    if !errors.is_empty() {
        out["error"] = json!({"code": "PartialError", "message": format!("{} request(s) returned partial results", errors.len()), "details": errors});
    }
    Ok(out)
}

fn query_once(
    client: &reqwest::blocking::Client,
    cfg: &PullConfig,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Value> {
    let url = format!(
        "{}/v1/workspaces/{}/query",
        cfg.endpoint.trim_end_matches('/'),
        cfg.workspace
    );
    let body = json!({"query": cfg.query, "timespan": format!("{}/{}", iso(from), iso(to))});
    let mut attempt = 0;
    loop {
        attempt += 1;
        let deadline = std::time::Instant::now() + cfg.timeout;
        let sent = client.post(&url).bearer_auth(&cfg.token).json(&body).send();
        let resp = match sent {
            Ok(r) => r,
            Err(e) if attempt < cfg.max_attempts && (e.is_timeout() || e.is_connect()) => {
                std::thread::sleep(backoff(attempt, None, cfg.max_backoff));
                continue;
            }
            Err(e) => return Err(request_error(&format!("POST {url}"), &e)),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        match status {
            200..=299 => {
                return json_body(
                    resp,
                    crate::limits::HTTP_QUERY,
                    &format!("POST {url}"),
                    deadline,
                );
            }
            401 | 403 => {
                let text = error_text(resp);
                let detail = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or_default();
                return Err(Error::Other(format!(
                    "the Log Analytics API refused the request (HTTP {status}{}): the identity behind the token needs the Log Analytics Reader role on workspace {} (and the token must be for https://api.loganalytics.io: az account get-access-token --resource https://api.loganalytics.io)",
                    if detail.is_empty() { String::new() } else { format!(": {detail}") },
                    cfg.workspace
                )));
            }
            429 | 500..=599 if attempt < cfg.max_attempts => {
                let wait = backoff(attempt, retry_after, cfg.max_backoff);
                crate::output::note!("kvaudit: HTTP {status} from the query API; retrying in {:.1}s (attempt {attempt} of {})", wait.as_secs_f64(), cfg.max_attempts);
                std::thread::sleep(wait);
            }
            _ => {
                let text = error_text(resp);
                return Err(Error::Other(format!(
                    "POST {url}: HTTP {status} after {attempt} attempt(s): {}",
                    crate::parse::truncate(&text)
                )));
            }
        }
    }
}

/// The start of an error response's body (at most 64 KiB is read).
fn error_text(resp: reqwest::blocking::Response) -> String {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
    body(resp, 64 << 10, "error response", deadline)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Retry-After when given, else exponential from 1 s; capped.
fn backoff(attempt: u32, retry_after: Option<u64>, cap: StdDuration) -> StdDuration {
    let d = match retry_after {
        Some(s) => StdDuration::from_secs(s),
        None => StdDuration::from_millis(1000u64.saturating_mul(1 << attempt.min(6))),
    };
    d.min(cap)
}

/// The bearer token: KVAUDIT_TOKEN, else the az CLI when installed.
pub fn token_from_env() -> Result<String> {
    if let Some(t) = std::env::var("KVAUDIT_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(t.trim().to_string());
    }
    super::http::az_token("https://api.loganalytics.io")?.ok_or_else(|| {
        Error::Usage(
            "no token: set KVAUDIT_TOKEN, pipe one on stdin with --token-stdin, or install and log in to the az CLI".into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("P7D").unwrap(), Duration::days(7));
        assert_eq!(parse_timespan("PT24H").unwrap(), Duration::hours(24));
        assert_eq!(parse_timespan("P1DT12H").unwrap(), Duration::hours(36));
        assert_eq!(parse_timespan("7d").unwrap(), Duration::days(7));
        assert!(parse_timespan("7x").is_err());
        assert!(parse_timespan("P").is_err());
    }
}
