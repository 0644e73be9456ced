//! The one HTTP client setup every online call shares (timeouts, rustls,
//! no redirects), bounded response bodies, errors that name timeouts, and
//! tokens from the az CLI.

use crate::error::{Error, Result};
use crate::limits;
use serde_json::Value;
use std::time::{Duration, Instant};

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
/// reading more when the server announces the length), read completely
/// before `deadline` (a server sending a byte at a time cannot hold the
/// request open past it).
pub(super) fn body(
    mut resp: reqwest::blocking::Response,
    limit: u64,
    what: &str,
    deadline: Instant,
) -> Result<Vec<u8>> {
    use std::io::Read;
    let too_large = || {
        Error::Other(format!(
            "{what}: the response is larger than {}, the limit for it",
            limits::shown(limit)
        ))
    };
    let timed_out = || Error::Other(format!("{what}: timed out while reading the response"));
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        if Instant::now() > deadline {
            return Err(timed_out());
        }
        let n = match resp.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(timed_out()),
            Err(e) => return Err(Error::Other(format!("{what}: {e}"))),
        };
        if (out.len() + n) as u64 > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// A bounded body parsed as JSON, read before `deadline`.
pub(super) fn json_body(
    resp: reqwest::blocking::Response,
    limit: u64,
    what: &str,
    deadline: Instant,
) -> Result<Value> {
    let bytes = body(resp, limit, what, deadline)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Other(format!("{what}: expected JSON: {e}")))
}

/// GET `url` as JSON, the body at most `limit` bytes, all of it within
/// `timeout`.
pub(super) fn get_json(
    client: &reqwest::blocking::Client,
    url: &str,
    limit: u64,
    timeout: Duration,
) -> Result<Value> {
    let deadline = Instant::now() + timeout;
    let what = format!("GET {url}");
    let r = client
        .get(url)
        .send()
        .map_err(|e| request_error(&what, &e))?;
    let status = r.status();
    if !status.is_success() {
        return Err(Error::Other(format!("{what}: HTTP {status}")));
    }
    json_body(r, limit, &what, deadline)
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
