//! Verifies an access token's signature, issuer, audience and times. The
//! tenant, the issuer and the keys come from configuration (`--tenant`,
//! `--issuer`, `--jwks` or discovery at `--authority`), never from the
//! token, and only RS256 (what Microsoft Entra signs with) is accepted.

use super::http::{client, get_json};
use crate::error::{Error, Result};
use crate::limits;
use crate::parse::is_guid;
use serde_json::{Map, Value};
use std::time::Duration;

/// Where to get signing keys.
pub enum KeySource {
    File(String),
    /// Base URL of the authority, e.g. `https://login.microsoftonline.com`.
    Discovery(String),
}

/// What a token must match, all of it from the command line.
pub struct Expected {
    /// The tenant the token must come from (a GUID).
    pub tenant: String,
    /// Issuers accepted exactly; by default the v1 and v2 issuers of
    /// `tenant` in the public cloud.
    pub issuers: Vec<String>,
    pub audience: String,
    pub keys: KeySource,
}

impl Expected {
    /// Checks `tenant` is a GUID and fills in the default issuers.
    pub fn new(
        tenant: &str,
        issuer: Option<String>,
        audience: String,
        keys: KeySource,
    ) -> Result<Self> {
        if !is_guid(tenant) {
            return Err(Error::Usage(format!(
                "--tenant: expected the tenant id (a GUID), found {tenant:?}"
            )));
        }
        let tenant = tenant.to_ascii_lowercase();
        let issuers = match issuer {
            Some(i) => vec![i],
            None => vec![
                format!("https://sts.windows.net/{tenant}/"),
                format!("https://login.microsoftonline.com/{tenant}/v2.0"),
            ],
        };
        Ok(Expected {
            tenant,
            issuers,
            audience,
            keys,
        })
    }
}

/// The scheme, host and port of a URL (`https://host:443`).
fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?,
        u.port_or_known_default()?
    ))
}

fn keys(expected: &Expected) -> Result<Value> {
    match &expected.keys {
        KeySource::File(p) => {
            let text = limits::read_file(p, limits::CONFIG_FILE, "a JWKS")?;
            serde_json::from_str(&text).map_err(|e| {
                Error::Other(format!("{p}: expected a JWKS (JSON with \"keys\"): {e}"))
            })
        }
        KeySource::Discovery(base) => {
            let timeout = Duration::from_secs(20);
            let client = client(timeout, Duration::from_secs(10))?;
            // The tenant is a GUID checked in Expected::new: nothing in the
            // token reaches this URL.
            let url = format!(
                "{}/{}/v2.0/.well-known/openid-configuration",
                base.trim_end_matches('/'),
                expected.tenant
            );
            let doc = get_json(&client, &url, limits::HTTP_KEYS, timeout)?;
            let jwks_uri = doc["jwks_uri"].as_str().ok_or_else(|| {
                Error::Other(format!("{url}: no jwks_uri in the discovery document"))
            })?;
            if origin(jwks_uri).is_none() || origin(jwks_uri) != origin(base) {
                return Err(Error::Other(format!(
                    "{url}: the discovery document points its keys to another host ({}); refusing keys not served by --authority",
                    crate::parse::truncate(jwks_uri)
                )));
            }
            get_json(&client, jwks_uri, limits::HTTP_KEYS, timeout)
        }
    }
}

/// Verifies signature (RS256 only), issuer (exactly one of the expected),
/// tenant, audience and times. Returns Ok(()) or why not.
pub fn verify(
    token: &str,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    expected: &Expected,
) -> Result<()> {
    let fail = |why: String| Error::Other(format!("token verification failed: {why}"));
    let token = token.trim().trim_start_matches("Bearer ").trim();
    match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => {}
        Some(other) => {
            return Err(fail(format!(
                "the token is signed with {:?}; only RS256, which Microsoft Entra uses, is accepted (never none or HMAC)",
                crate::parse::truncate(other)
            )))
        }
        None => return Err(fail("the header names no algorithm".into())),
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("the header names no key (kid)".into()))?;
    // The tid must be there, a GUID, and the configured tenant.
    let tid = match claims.get("tid") {
        Some(Value::String(t)) => Some(t.clone()),
        None => None,
        Some(_) => return Err(fail("the tid claim is not a string".into())),
    };
    match tid {
        None => {
            return Err(fail(
                "the token has no tid claim: it cannot be tied to --tenant".into(),
            ))
        }
        Some(t) if !is_guid(&t) => {
            return Err(fail(format!(
                "the tid claim {:?} is not a tenant id (a GUID)",
                crate::parse::truncate(&t)
            )))
        }
        Some(t) if !t.eq_ignore_ascii_case(&expected.tenant) => {
            return Err(fail(format!(
                "the token is from tenant {t}, not {} (--tenant)",
                expected.tenant
            )))
        }
        _ => {}
    }
    let jwks = keys(expected)?;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks)
        .map_err(|e| Error::Other(format!("the JWKS is not valid: {e}")))?;
    let jwk = set.find(kid).ok_or_else(|| {
        fail(format!(
            "no key with kid {:?} in the JWKS",
            crate::parse::truncate(kid)
        ))
    })?;
    let signing = jwk
        .common
        .public_key_use
        .as_ref()
        .is_none_or(|u| matches!(u, jsonwebtoken::jwk::PublicKeyUse::Signature));
    let rs256 = jwk
        .common
        .key_algorithm
        .is_none_or(|a| a == jsonwebtoken::jwk::KeyAlgorithm::RS256);
    if !signing || !rs256 {
        return Err(fail(format!(
            "the key {:?} in the JWKS is not an RS256 signing key (use, alg)",
            crate::parse::truncate(kid)
        )));
    }
    if !matches!(
        jwk.algorithm,
        jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
    ) {
        return Err(fail(format!(
            "the key {:?} in the JWKS is not an RSA key",
            crate::parse::truncate(kid)
        )));
    }
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
        .map_err(|e| Error::Other(format!("unusable key in the JWKS: {e}")))?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    let audience = expected.audience.trim_end_matches('/');
    v.set_audience(&[audience.to_string(), format!("{audience}/")]);
    v.set_issuer(&expected.issuers);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v.validate_nbf = true;
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|_| ())
        .map_err(|e| fail(e.to_string()))
}
