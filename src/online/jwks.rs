//! Verifies an access token's signature against a JWKS, from a file or
//! fetched by OpenID discovery from the authority.

use super::http::client;
use crate::error::{Error, Result};
use crate::identify::token::{s, tenant_from_issuer};
use serde_json::{Map, Value};
use std::time::Duration;

/// Where to get signing keys.
pub enum KeySource {
    File(String),
    /// Base URL of the authority, e.g. `https://login.microsoftonline.com`.
    Discovery(String),
}

fn get_json(client: &reqwest::blocking::Client, url: &str) -> Result<Value> {
    let r = client
        .get(url)
        .send()
        .map_err(|e| Error::Other(format!("GET {url}: {e}")))?;
    let status = r.status();
    if !status.is_success() {
        return Err(Error::Other(format!("GET {url}: HTTP {status}")));
    }
    r.json()
        .map_err(|e| Error::Other(format!("GET {url}: expected JSON: {e}")))
}

/// Verifies signature, issuer, audience and times. Returns Ok(()) or why not.
pub fn verify(
    token: &str,
    claims: &Map<String, Value>,
    source: &KeySource,
    audience: &str,
) -> Result<()> {
    let token = token.trim().trim_start_matches("Bearer ").trim();
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| Error::Other(format!("token: cannot read the header: {e}")))?;
    let tenant = s(claims, "tid")
        .or_else(|| s(claims, "iss").as_deref().and_then(tenant_from_issuer))
        .unwrap_or_else(|| "common".into());
    let jwks: Value = match source {
        KeySource::File(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            serde_json::from_str(&text).map_err(|e| {
                Error::Other(format!("{p}: expected a JWKS (JSON with \"keys\"): {e}"))
            })?
        }
        KeySource::Discovery(base) => {
            let client = client(Duration::from_secs(20), Duration::from_secs(10))?;
            let url = format!(
                "{}/{tenant}/v2.0/.well-known/openid-configuration",
                base.trim_end_matches('/')
            );
            let doc = get_json(&client, &url)?;
            let jwks_uri = doc["jwks_uri"].as_str().ok_or_else(|| {
                Error::Other(format!("{url}: no jwks_uri in the discovery document"))
            })?;
            get_json(&client, jwks_uri)?
        }
    };
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks)
        .map_err(|e| Error::Other(format!("the JWKS is not valid: {e}")))?;
    let jwk = match &header.kid {
        Some(kid) => set
            .find(kid)
            .ok_or_else(|| Error::Other(format!("no key with kid {kid} in the JWKS")))?,
        None => set
            .keys
            .first()
            .ok_or_else(|| Error::Other("the JWKS holds no keys".into()))?,
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
        .map_err(|e| Error::Other(format!("unusable key in the JWKS: {e}")))?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[
        audience,
        audience.trim_end_matches('/'),
        &format!("{}/", audience.trim_end_matches('/')),
    ]);
    v.set_issuer(&[
        format!("https://sts.windows.net/{tenant}/"),
        format!("https://login.microsoftonline.com/{tenant}/v2.0"),
    ]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|_| ())
        .map_err(|e| Error::Other(format!("token verification failed: {e}")))
}
