//! Reads what a vault holds, as `az keyvault secret list`, `key list` and
//! `certificate list` print it, so `kvaudit access --objects` can list the
//! objects the log never mentions (Key Vault keeps no last-accessed time:
//! an object nobody touched in the window is only visible this way).

use crate::error::{Error, Result};

/// One object a listing names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The vault's name, lower case (as events carry it).
    pub vault: String,
    /// `secret`, `key` or `certificate`.
    pub object_type: String,
    pub object_name: String,
}

/// Parses one listing: a JSON array of objects each with an `id` (secrets,
/// certificates) or `kid` (keys) such as
/// `https://kv-data-prod.vault.azure.net/secrets/db-password`. Managed
/// secrets (the ones backing certificates) are kept: they are secrets the
/// log names too. An item without a Key Vault object URL is an error
/// naming its record.
pub fn parse(text: &str, path: &str) -> Result<Vec<Listed>> {
    let v: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        Error::Other(format!(
            "{path}: expected the JSON array printed by `az keyvault secret list` (or key list, certificate list): {e}"
        ))
    })?;
    let items = v.as_array().ok_or_else(|| {
        Error::Other(format!(
            "{path}: expected a JSON array of secrets, keys or certificates (az keyvault secret list --vault-name NAME), found a JSON {}",
            if v.is_object() { "object" } else { "scalar" }
        ))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let id = item
                .get("id")
                .or_else(|| item.get("kid"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            object_url(id).ok_or_else(|| {
                let shown: String = id.chars().take(80).collect();
                Error::Other(format!(
                    "{path}: record {}: expected an `id` or `kid` like https://<vault>.vault.azure.net/secrets/<name>, found {shown:?}",
                    i + 1,
                ))
            })
        })
        .collect()
}

/// `https://<vault>.vault.azure.net/<secrets|keys|certificates>/<name>[/<version>]`.
fn object_url(id: &str) -> Option<Listed> {
    let rest = id.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let vault = host.split('.').next()?.to_string();
    let sovereign = [
        ".vault.azure.net",
        ".vault.azure.cn",
        ".vault.usgovcloudapi.net",
        ".vault.microsoftazure.de",
    ];
    if !sovereign.iter().any(|s| host.ends_with(s)) || vault.is_empty() {
        return None;
    }
    let mut parts = path.split('/');
    let object_type = match parts.next()? {
        "secrets" => "secret",
        "keys" => "key",
        "certificates" => "certificate",
        _ => return None,
    };
    let name = parts.next()?;
    let ok = (1..=127).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| Listed {
        vault,
        object_type: object_type.into(),
        object_name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_secret_key_and_certificate_listings() {
        let text = r#"[
          {"id": "https://KV-Data-Prod.vault.azure.net/secrets/db-password", "name": "db-password"},
          {"kid": "https://kv-data-prod.vault.azure.net/keys/cmk/0123abcd", "name": "cmk"},
          {"id": "https://kv-data-prod.vault.azure.net/certificates/web-tls"}
        ]"#;
        let got = parse(text, "list.json").unwrap();
        let t: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|l| {
                (
                    l.vault.as_str(),
                    l.object_type.as_str(),
                    l.object_name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            t,
            [
                ("kv-data-prod", "secret", "db-password"),
                ("kv-data-prod", "key", "cmk"),
                ("kv-data-prod", "certificate", "web-tls")
            ]
        );
    }

    #[test]
    fn a_record_without_an_object_url_is_named() {
        let e = parse(
            r#"[{"id": "https://evil.example.com/secrets/x"}]"#,
            "l.json",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("l.json: record 1"), "{e}");
        let e = parse(r#"{"value": []}"#, "l.json").unwrap_err().to_string();
        assert!(e.contains("found a JSON object"), "{e}");
    }
}
