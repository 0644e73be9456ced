//! The one HTTP client setup every online call shares (timeouts, rustls),
//! and tokens from the az CLI.

use crate::error::{Error, Result};
use std::time::Duration;

/// A blocking client with a whole-request `timeout` and a `connect` timeout.
pub(super) fn client(timeout: Duration, connect: Duration) -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect)
        .build()
        .map_err(|e| Error::Other(format!("cannot start the HTTP client: {e}")))
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
