//! The one HTTP client setup every online call shares (timeouts, rustls,
//! no redirects), bounded response bodies, errors that name timeouts, and
//! tokens from the az CLI.

use crate::error::{Error, Result};
use crate::limits;
use serde_json::Value;
use std::time::Duration;

/// A blocking client with a whole-request `timeout` and a `connect`
/// timeout. Redirects are not followed: every endpoint is configured.
pub(super) fn client(timeout: Duration, connect: Duration) -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Other(format!("cannot start the HTTP client: {e}")))
}

/// A failed request, saying so plainly when it timed out.
pub(super) fn request_error(what: &str, e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Other(format!(
            "{what}: timed out (no complete answer within the time limit)"
        ))
    } else if e.is_connect() {
        Error::Other(format!("{what}: cannot connect: {e}"))
    } else {
        Error::Other(format!("{what}: {e}"))
    }
}

/// The body of `resp`, at most `limit` bytes (an error past it, before
/// reading more when the server announces the length).
pub(super) fn body(resp: reqwest::blocking::Response, limit: u64, what: &str) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Error::Other(format!(
            "{what}: the response is larger than {}, the limit for it",
            limits::shown(limit)
        )));
    }
    limits::read_to_limit(resp, limit, what, "the response").map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::TimedOut => {
            Error::Other(format!("{what}: timed out while reading the response"))
        }
        Error::Io { source, .. } => Error::Other(format!("{what}: {source}")),
        other => other,
    })
}

/// A bounded body parsed as JSON.
pub(super) fn json_body(
    resp: reqwest::blocking::Response,
    limit: u64,
    what: &str,
) -> Result<Value> {
    let bytes = body(resp, limit, what)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Other(format!("{what}: expected JSON: {e}")))
}

/// GET `url` as JSON, the body at most `limit` bytes.
pub(super) fn get_json(client: &reqwest::blocking::Client, url: &str, limit: u64) -> Result<Value> {
    let what = format!("GET {url}");
    let r = client
        .get(url)
        .send()
        .map_err(|e| request_error(&what, &e))?;
    let status = r.status();
    if !status.is_success() {
        return Err(Error::Other(format!("{what}: HTTP {status}")));
    }
    json_body(r, limit, &what)
}

/// `az account get-access-token --resource RESOURCE`, trimmed; `Ok(None)`
/// when the az CLI is not installed.
pub(super) fn az_token(resource: &str) -> Result<Option<String>> {
    let out = std::process::Command::new("az")
        .args([
            "account",
            "get-access-token",
            "--resource",
            resource,
            "--query",
            "accessToken",
            "-o",
            "tsv",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            Ok(Some(String::from_utf8_lossy(&o.stdout).trim().to_string()))
        }
        Ok(o) => Err(Error::Other(format!(
            "az account get-access-token failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(_) => Ok(None),
    }
}
