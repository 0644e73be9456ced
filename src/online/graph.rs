//! Online name resolution (`--resolve`): asks Microsoft Graph for display
//! names, servicePrincipalType and accountEnabled of the principals in the
//! logs. Answers are cached in a local file with an expiry, so repeated runs
//! do not ask again.

use super::http::{json_body, request_error};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::identify::{Catalog, DirectoryEntry};
use crate::parse::is_guid;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

use std::path::PathBuf;
use std::time::Duration;

pub struct GraphConfig {
    pub endpoint: String,
    pub token: String,
    pub cache: PathBuf,
    pub ttl: chrono::Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    fetched_at: chrono::DateTime<chrono::Utc>,
    /// None when Graph knows no such object.
    display_name: Option<String>,
    sp_type: Option<String>,
    user_type: Option<String>,
    account_enabled: Option<bool>,
}

impl Cached {
    fn entry(&self) -> DirectoryEntry {
        DirectoryEntry {
            display_name: self.display_name.clone(),
            sp_type: self.sp_type.clone(),
            user_type: self.user_type.clone(),
            account_enabled: self.account_enabled,
        }
    }
}

fn from_object(o: &Value, now: chrono::DateTime<chrono::Utc>) -> Cached {
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    Cached {
        fetched_at: now,
        display_name: s("displayName").or_else(|| s("userPrincipalName")),
        sp_type: s("servicePrincipalType"),
        user_type: s("userType"),
        account_enabled: o.get("accountEnabled").and_then(Value::as_bool),
    }
}

/// The default cache file: `$XDG_CACHE_HOME/kvaudit/graph.json` or `~/.cache/...`.
pub fn default_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("kvaudit")
        .join("graph.json")
}

/// The Graph token: KVAUDIT_GRAPH_TOKEN, else the az CLI.
pub fn graph_token() -> Result<String> {
    if let Some(t) = std::env::var("KVAUDIT_GRAPH_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(t.trim().to_string());
    }
    super::http::az_token("https://graph.microsoft.com")?.ok_or_else(|| {
        Error::Usage(
            "--resolve needs a Microsoft Graph token: set KVAUDIT_GRAPH_TOKEN or log in to the az CLI".into(),
        )
    })
}

/// Resolves the principals of `events` into `catalog`. Returns how many
/// objects were fetched from Graph and how many principals got a name.
/// The (appid, oid) of every caller in `events`, for [`resolve`].
pub fn principals(events: &[Event]) -> Vec<(Option<&str>, Option<&str>)> {
    events
        .iter()
        .map(|e| (e.caller_appid.as_deref(), e.caller_oid.as_deref()))
        .collect()
}

pub fn resolve(
    principals: &[(Option<&str>, Option<&str>)],
    catalog: &mut Catalog,
    cfg: &GraphConfig,
) -> Result<(usize, usize)> {
    let now = chrono::Utc::now();
    // A missing or unreadable cache is rebuilt; a huge one is an error.
    let cache_path = cfg.cache.to_string_lossy();
    let mut cache: BTreeMap<String, Cached> = if cfg.cache.is_file() {
        crate::limits::read_file(&cache_path, crate::limits::EXPORT_FILE, "a Graph cache")
            .map(|t| serde_json::from_str(&t).unwrap_or_default())?
    } else {
        BTreeMap::new()
    };
    let fresh = |c: &Cached| now - c.fetched_at < cfg.ttl;
    // Only GUIDs are sent: anything else in a log is not an object id.
    let oids: BTreeSet<String> = principals
        .iter()
        .filter_map(|(_, oid)| *oid)
        .filter(|o| is_guid(o))
        .map(str::to_ascii_lowercase)
        .collect();
    let appids: BTreeSet<String> = principals
        .iter()
        .filter(|(_, oid)| oid.is_none())
        .filter_map(|(appid, _)| *appid)
        .filter(|a| is_guid(a) && catalog.microsoft_app(a).is_none())
        .map(str::to_ascii_lowercase)
        .collect();
    let want_oids: Vec<String> = oids
        .iter()
        .filter(|o| !cache.get(*o).is_some_and(fresh))
        .cloned()
        .collect();
    let want_apps: Vec<String> = appids
        .iter()
        .filter(|a| !cache.get(*a).is_some_and(fresh))
        .cloned()
        .collect();
    let mut fetched = 0;
    if !want_oids.is_empty() || !want_apps.is_empty() {
        let client = super::http::client(TIMEOUT, Duration::from_secs(30))?;
        let base = cfg.endpoint.trim_end_matches('/');
        for chunk in want_oids.chunks(1000) {
            let url = format!("{base}/v1.0/directoryObjects/getByIds");
            let body = json!({"ids": chunk, "types": ["user", "servicePrincipal", "group"]});
            let v = send(
                || client.post(&url).bearer_auth(&cfg.token).json(&body),
                &url,
            )?;
            for id in chunk {
                cache.insert(
                    id.clone(),
                    Cached {
                        fetched_at: now,
                        display_name: None,
                        sp_type: None,
                        user_type: None,
                        account_enabled: None,
                    },
                );
            }
            for o in v["value"].as_array().cloned().unwrap_or_default() {
                // Only the objects asked for, by exact id.
                if let Some(id) = o
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| chunk.iter().any(|c| c.eq_ignore_ascii_case(id)))
                {
                    cache.insert(id.to_ascii_lowercase(), from_object(&o, now));
                    fetched += 1;
                }
            }
        }
        for appid in &want_apps {
            // The appid is a GUID (checked above); the filter is still
            // encoded as a query parameter, and only an exact match counts.
            let filter = format!("appId eq '{}'", appid.replace('\'', "''"));
            let url = reqwest::Url::parse_with_params(
                &format!("{base}/v1.0/servicePrincipals"),
                [("$filter", filter.as_str())],
            )
            .map_err(|e| Error::Usage(format!("--graph-endpoint {base}: not a URL: {e}")))?;
            let v = send(
                || client.get(url.clone()).bearer_auth(&cfg.token),
                url.as_str(),
            )?;
            let c = v["value"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| {
                    o.get("appId")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.eq_ignore_ascii_case(appid))
                })
                .map(|o| from_object(o, now))
                .unwrap_or(Cached {
                    fetched_at: now,
                    display_name: None,
                    sp_type: None,
                    user_type: None,
                    account_enabled: None,
                });
            cache.insert(appid.clone(), c);
            fetched += 1;
        }
        if let Some(dir) = cfg.cache.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let text = serde_json::to_vec_pretty(&cache).map_err(|e| Error::Output(e.to_string()))?;
        crate::output::write_atomic(&cfg.cache, true, |w| w.write_all(&text))?;
    }
    let mut named: usize = 0;
    for id in oids.iter().chain(appids.iter()) {
        if let Some(c) = cache
            .get(id)
            .filter(|c| c.display_name.is_some() || c.sp_type.is_some())
        {
            catalog.insert_directory(id, c.entry());
            named += 1;
        }
    }
    Ok((fetched, named))
}

/// The most one Graph request may take, answer included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts at one Graph request when it answers 429 or 503.
const ATTEMPTS: u32 = 4;

/// Sends the request `make` builds, retrying 429 and 503 (Retry-After
/// honoured, at most 30 s a wait), and returns the bounded JSON body.
fn send(make: impl Fn() -> reqwest::blocking::RequestBuilder, url: &str) -> Result<Value> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let deadline = std::time::Instant::now() + TIMEOUT;
        let r = make().send().map_err(|e| request_error(url, &e))?;
        let status = r.status().as_u16();
        if status == 401 || status == 403 {
            return Err(Error::Other(format!(
                "Microsoft Graph refused {url} (HTTP {status}): the token needs Directory.Read.All (or Application.Read.All and User.Read.All) for https://graph.microsoft.com"
            )));
        }
        if matches!(status, 429 | 503) && attempt < ATTEMPTS {
            let wait = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1u64 << attempt)
                .min(30);
            crate::output::note!(
                "kvaudit: Microsoft Graph answered HTTP {status}; retrying in {wait}s (attempt {attempt} of {ATTEMPTS})"
            );
            std::thread::sleep(Duration::from_secs(wait));
            continue;
        }
        if !(200..300).contains(&status) {
            return Err(Error::Other(format!(
                "{url}: HTTP {status} after {attempt} attempt(s)"
            )));
        }
        return json_body(r, crate::limits::HTTP_GRAPH, url, deadline);
    }
}
