//! `--redact`: keyed pseudonyms for every identifier a report can carry,
//! so it can be shared. Applied to the report's data before any format is
//! rendered (so escaping cannot hide a value from it), to every string:
//! upns and e-mail addresses, GUIDs (oids, appids of tenant applications,
//! tenant and subscription ids), IPv4 and IPv6 addresses, and whole JWTs.
//! Pseudonyms are HMAC-SHA256 of the value under a key, cut to 64 bits:
//! without the key nobody can test a guess; with the same key (`--redact-key
//! FILE`) two reports name the same principal the same way.

use crate::error::{Error, Result};
use crate::identify::Catalog;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::OnceLock;

/// Bytes of a key kvaudit generates.
const KEY_BYTES: usize = 32;
/// The shortest key accepted from a file.
const MIN_KEY_BYTES: usize = 16;

/// Replaces identifiers with keyed pseudonyms.
pub struct Redactor {
    key: Vec<u8>,
    /// Microsoft application ids are public: never redacted.
    microsoft: Catalog,
}

fn pattern() -> &'static regex::Regex {
    static P: OnceLock<regex::Regex> = OnceLock::new();
    P.get_or_init(|| {
        regex::Regex::new(concat!(
            // A JWT: header and payload start with base64url of `{"`.
            r"(?P<jwt>eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)",
            r"|(?P<mail>[A-Za-z0-9._%+#'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
            r"|(?P<guid>\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b)",
            r"|(?P<v4>\b\d{1,3}(?:\.\d{1,3}){3}\b)",
            r"|(?P<v6>\b[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}\b)",
        ))
        .expect("static regex")
    })
}

impl Redactor {
    /// A redactor with `key` (at least 16 bytes).
    pub fn new(key: Vec<u8>) -> Result<Self> {
        if key.len() < MIN_KEY_BYTES {
            return Err(Error::Usage(format!(
                "the redaction key must be at least {MIN_KEY_BYTES} bytes"
            )));
        }
        Ok(Redactor {
            key,
            microsoft: Catalog::bundled(),
        })
    }

    /// A redactor with a random key that is kept nowhere: pseudonyms are
    /// stable within this report only.
    pub fn random() -> Result<Self> {
        Self::new(random_key()?)
    }

    /// The pseudonym of `value` (case-insensitive), 64 bits of the keyed
    /// hash.
    fn digest(&self, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(value.to_ascii_lowercase().as_bytes());
        let d = mac.finalize().into_bytes();
        d[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The pseudonym a principal key (oid or appid) has in a redacted
    /// report, for comparing with a redacted `--baseline`.
    pub fn principal_key(&self, key: &str) -> String {
        self.apply(key).to_ascii_lowercase()
    }

    /// `text` with every identifier replaced.
    pub fn apply(&self, text: &str) -> String {
        self.apply_with(text, &[])
    }

    /// [`Redactor::apply`], after replacing the `known` values (upns and
    /// user names found in the report, whatever characters they hold).
    fn apply_with(&self, text: &str, known: &[(String, String)]) -> String {
        let mut text = std::borrow::Cow::Borrowed(text);
        for (value, pseudonym) in known {
            if text.contains(value.as_str()) {
                text = std::borrow::Cow::Owned(text.replace(value.as_str(), pseudonym));
            }
        }
        pattern()
            .replace_all(&text, |c: &regex::Captures<'_>| {
                let m = c.get(0).map_or("", |m| m.as_str());
                if c.name("jwt").is_some() {
                    "jwt-redacted".to_string()
                } else if c.name("mail").is_some() {
                    format!("user-{}@redacted", self.digest(m))
                } else if c.name("guid").is_some() {
                    if self.microsoft.microsoft_app(m).is_some() {
                        m.to_string()
                    } else {
                        format!("id-{}", self.digest(m))
                    }
                } else if c.name("v4").is_some() {
                    match m.parse::<std::net::Ipv4Addr>() {
                        Ok(_) => format!("ip-{}", self.digest(m)),
                        Err(_) => m.to_string(),
                    }
                } else {
                    match m.parse::<std::net::Ipv6Addr>() {
                        Ok(_) if m.len() > 2 => format!("ip-{}", self.digest(m)),
                        _ => m.to_string(),
                    }
                }
            })
            .into_owned()
    }

    /// Redacts every string of a JSON tree (a report as data), keys too;
    /// upns and the names of users (display names from a directory or
    /// Graph) are replaced wherever they appear.
    pub fn tree(&self, v: &mut Value) {
        let mut known = Vec::new();
        self.collect(v, &mut known);
        // Longest first, so a upn is replaced before a part of it.
        known.sort_by(|a: &(String, String), b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        known.dedup();
        self.value(v, &known);
    }

    /// Every upn, and the name of every user, with its pseudonym: they are
    /// replaced wherever they appear, whatever characters they hold.
    fn collect(&self, v: &Value, known: &mut Vec<(String, String)>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| self.collect(x, known)),
            Value::Object(o) => {
                if let Some(u) = o
                    .get("upn")
                    .and_then(Value::as_str)
                    .filter(|u| u.len() >= 3)
                {
                    known.push((u.to_string(), format!("user-{}@redacted", self.digest(u))));
                }
                let is_user = o
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| matches!(k, "user" | "guest_user"));
                if let Some(n) = o
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| is_user && n.len() >= 3)
                {
                    known.push((n.to_string(), format!("user-{}", self.digest(n))));
                }
                o.values().for_each(|x| self.collect(x, known));
            }
            _ => {}
        }
    }

    fn value(&self, v: &mut Value, known: &[(String, String)]) {
        match v {
            Value::String(s) => *s = self.apply_with(s, known),
            Value::Array(a) => a.iter_mut().for_each(|x| self.value(x, known)),
            Value::Object(o) => {
                let keys: Vec<String> = o.keys().cloned().collect();
                for k in keys {
                    let Some(mut x) = o.remove(&k) else { continue };
                    self.value(&mut x, known);
                    o.insert(self.apply_with(&k, known), x);
                }
            }
            _ => {}
        }
    }
}

fn random_key() -> Result<Vec<u8>> {
    let mut key = vec![0u8; KEY_BYTES];
    getrandom::getrandom(&mut key)
        .map_err(|e| Error::Other(format!("cannot get random bytes for a redaction key: {e}")))?;
    Ok(key)
}

/// The key in `path` (`--redact-key FILE`); when the file does not exist, a
/// new random key is written there, readable by its owner only.
pub fn key_file(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display().to_string();
    if path.exists() {
        let text = crate::limits::read_file(&shown, 4096, "a redaction key")?;
        return Ok(text.trim().as_bytes().to_vec());
    }
    let key = random_key()?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::write(path, e))?;
    f.write_all(format!("{hex}\n").as_bytes())
        .map_err(|e| Error::write(path, e))?;
    crate::output::note!(
        "kvaudit: wrote a new redaction key to {shown}: keep it private; reports redacted with it name principals the same way"
    );
    Ok(hex.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identifier_is_replaced_and_stable_under_a_key() {
        let r = Redactor::new(b"0123456789abcdef0123".to_vec()).unwrap();
        let text = "alice@contoso.com from 203.0.113.7 and 2001:db8::1 as 8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44 via Azure CLI 04b07795-8ddb-461a-bbee-02f9e1bf7b46 token eyJhbGciOi.eyJvaWQiOi.c2lnbmF0dXJl at 10:30:00";
        let out = r.apply(text);
        for secret in [
            "alice",
            "203.0.113.7",
            "2001:db8::1",
            "8e4f1a5d",
            "c2lnbmF0dXJl",
        ] {
            assert!(!out.contains(secret), "{secret} survived: {out}");
        }
        assert!(
            out.contains("04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            "{out}"
        );
        assert!(out.contains("10:30:00"), "{out}");
        assert_eq!(out, r.apply(text));
        let other = Redactor::new(b"another key of 16+ bytes".to_vec()).unwrap();
        assert_ne!(out, other.apply(text));
        // 64 bits: 16 hex digits.
        assert!(out.contains(&format!("user-{}@redacted", r.digest("ALICE@contoso.com"))));
        assert_eq!(r.digest("x").len(), 16);
    }
}
