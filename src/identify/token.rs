//! Decodes an access token (JWT) the way someone troubleshooting a 403
//! needs: who it says the caller is (with the same classifier as the logs),
//! for which audience, until when. Optionally verifies the signature against
//! a JWKS ([`crate::online::jwks`]). Never prints the signature or the whole token, errors included.

use crate::error::{Error, Result};
use crate::identify::{self, Catalog, Claims};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

pub const KEY_VAULT_AUDIENCES: [&str; 3] = [
    "https://vault.azure.net",
    "https://vault.azure.net/",
    "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
];

#[derive(Debug, Clone, Serialize)]
pub struct Decoded {
    pub verified: bool,
    pub algorithm: Option<String>,
    pub key_id: Option<String>,
    pub version: String,
    pub issuer: Option<String>,
    pub tenant: Option<String>,
    pub audience: Option<String>,
    pub audience_is_key_vault: bool,
    pub kind: String,
    pub mi_type: Option<String>,
    pub appid: Option<String>,
    pub app_name: Option<String>,
    pub oid: Option<String>,
    pub upn: Option<String>,
    pub idtyp: Option<String>,
    pub appidacr: Option<String>,
    pub client_auth: Option<String>,
    pub roles: Vec<String>,
    pub scp: Option<String>,
    pub xms_mirid: Option<String>,
    pub issued_at: Option<String>,
    pub not_before: Option<String>,
    pub expires: Option<String>,
    pub expired: Option<bool>,
    pub warnings: Vec<String>,
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| {
            Error::Other(format!(
                "token: the {what} (part {}) is not valid base64url",
                if what == "header" { 1 } else { 2 }
            ))
        })
}

/// Splits and decodes header and claims, with errors that never echo the token.
pub fn parse(token: &str) -> Result<(Map<String, Value>, Map<String, Value>)> {
    let token = token.trim().trim_start_matches("Bearer ").trim();
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() == 5 {
        return Err(Error::Other("token: this is an encrypted token (JWE, five parts); only signed JWTs (three parts) can be decoded".into()));
    }
    if parts.len() != 3 || parts.iter().take(2).any(|p| p.is_empty()) {
        return Err(Error::Other(format!(
            "token: expected a JWT of three base64url parts separated by dots, found {} part(s)",
            parts.len()
        )));
    }
    let header: Value = serde_json::from_slice(&b64(parts[0], "header")?)
        .map_err(|_| Error::Other("token: the header (part 1) is not JSON".into()))?;
    let claims: Value = serde_json::from_slice(&b64(parts[1], "claims")?)
        .map_err(|_| Error::Other("token: the claims (part 2) are not JSON".into()))?;
    match (header, claims) {
        (Value::Object(h), Value::Object(c)) => Ok((h, c)),
        _ => Err(Error::Other(
            "token: header and claims must be JSON objects".into(),
        )),
    }
}

pub(crate) fn s(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn time(m: &Map<String, Value>, k: &str) -> Option<DateTime<Utc>> {
    m.get(k)
        .and_then(Value::as_i64)
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

pub fn describe(
    header: &Map<String, Value>,
    c: &Map<String, Value>,
    catalog: &Catalog,
    now: DateTime<Utc>,
    verified: bool,
) -> Decoded {
    let appid = s(c, "appid").or_else(|| s(c, "azp"));
    let upn = s(c, "upn")
        .or_else(|| s(c, "unique_name"))
        .or_else(|| s(c, "preferred_username"));
    let scp = s(c, "scp");
    let mirid = s(c, "xms_mirid");
    let id = identify::classify(
        &Claims {
            appid: appid.as_deref(),
            oid: s(c, "oid").as_deref(),
            upn: upn.as_deref(),
            idtyp: s(c, "idtyp").as_deref(),
            scp: scp.as_deref(),
            mirid: mirid.as_deref(),
        },
        catalog,
    );
    let iss = s(c, "iss");
    let version = match s(c, "ver").as_deref() {
        Some("2.0") => "v2".to_string(),
        Some("1.0") => "v1".to_string(),
        _ if iss.as_deref().is_some_and(|i| i.ends_with("/v2.0")) => "v2".into(),
        _ => "v1".into(),
    };
    let aud = match c.get("aud") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .next()
            .map(str::to_string),
        _ => s(c, "aud"),
    };
    let aud_kv = aud
        .as_deref()
        .is_some_and(|a| KEY_VAULT_AUDIENCES.contains(&a));
    let acr = s(c, "appidacr").or_else(|| s(c, "azpacr"));
    let mut warnings = Vec::new();
    if !verified {
        warnings.push("decoded without verifying the signature (use --verify)".into());
    }
    if !aud_kv {
        warnings.push(format!(
            "the audience is {}, not https://vault.azure.net: Key Vault rejects this token (request one for the resource https://vault.azure.net)",
            aud.as_deref().unwrap_or("missing")
        ));
    }
    let exp = time(c, "exp");
    if exp.is_some_and(|e| e <= now) {
        warnings.push("the token has expired".into());
    }
    let fmt = |t: Option<DateTime<Utc>>| t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    Decoded {
        verified,
        algorithm: s(header, "alg"),
        key_id: s(header, "kid"),
        version,
        tenant: s(c, "tid").or_else(|| iss.as_deref().and_then(tenant_from_issuer)),
        issuer: iss,
        audience: aud,
        audience_is_key_vault: aud_kv,
        kind: id.kind.as_str().into(),
        mi_type: id.mi_type,
        app_name: appid
            .as_deref()
            .and_then(|a| catalog.microsoft_app(a))
            .map(str::to_string)
            .or(id.client_app)
            .or(if id.kind.is_user() { None } else { id.name }),
        appid,
        oid: s(c, "oid"),
        upn,
        idtyp: s(c, "idtyp"),
        client_auth: acr.as_deref().map(|a| match a {
            "0" => "public client (no secret)".to_string(),
            "1" => "client secret".to_string(),
            "2" => "certificate (or managed identity)".to_string(),
            other => other.to_string(),
        }),
        appidacr: acr,
        roles: c
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        scp,
        xms_mirid: mirid,
        issued_at: fmt(time(c, "iat")),
        not_before: fmt(time(c, "nbf")),
        expires: fmt(exp),
        expired: exp.map(|e| e <= now),
        warnings,
    }
}

pub(crate) fn tenant_from_issuer(iss: &str) -> Option<String> {
    let rest = iss.split("://").nth(1)?;
    rest.split('/')
        .nth(1)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}
