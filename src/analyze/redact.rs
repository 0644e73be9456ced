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
            // A JWT: header and payload are base64url of JSON (`ey...`).
            r"(?P<jwt>ey[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*)",
            // E-mail addresses and upns, Unicode included, `%40` for `@`.
            r#"|(?P<mail>"[^"\n]{1,64}"@[\w-]+(?:\.[\w-]+)+|[\w.%+#'-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+)"#,
            // GUIDs, with or without dashes, wherever they stand.
            r"|(?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})",
            // IPv6 candidates: at least two colons (checked by parsing).
            r"|(?P<v6>[0-9A-Fa-f:.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)",
            r"|(?P<v4>\d{1,3}(?:\.\d{1,3}){3})",
        ))
        .expect("static regex")
    })
}

fn v4_pattern() -> &'static regex::Regex {
    static P: OnceLock<regex::Regex> = OnceLock::new();
    P.get_or_init(|| regex::Regex::new(r"\d{1,3}(?:\.\d{1,3}){3}").expect("static regex"))
}

/// Four dot-separated numbers of at most 255 (leading zeros allowed).
fn is_v4(s: &str) -> bool {
    s.split('.').count() == 4
        && s.split('.')
            .all(|o| o.parse::<u16>().is_ok_and(|n| n <= 255))
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
        self.apply_with(text, &Known::default())
    }

    /// [`Redactor::apply`], after replacing the `known` values (upns and
    /// user names found in the report, in any case, whatever characters
    /// they hold).
    fn apply_with(&self, text: &str, known: &Known) -> String {
        let text = match &known.pattern {
            Some(p) => p.replace_all(text, |c: &regex::Captures<'_>| {
                let m = c.get(0).map_or("", |m| m.as_str());
                known
                    .pseudonyms
                    .get(&m.to_lowercase())
                    .cloned()
                    .unwrap_or_else(|| format!("user-{}", self.digest(m)))
            }),
            None => std::borrow::Cow::Borrowed(text),
        };
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
                        format!("id-{}", self.digest(&m.replace('-', "")))
                    }
                } else if c.name("v6").is_some() {
                    self.v6(m)
                } else if is_v4(m) {
                    format!("ip-{}", self.digest(m))
                } else {
                    m.to_string()
                }
            })
            .into_owned()
    }

    /// An IPv6 candidate: the address found in it (up to four leading
    /// hex digits and trailing dots or colons are not part of it) is
    /// replaced; otherwise any IPv4 address in it.
    fn v6(&self, m: &str) -> String {
        let end = m.trim_end_matches(['.', ':']).len();
        for skip in 0..=4.min(end) {
            let Some(core) = m.get(skip..end) else {
                continue;
            };
            if core.len() > 2 && core.parse::<std::net::Ipv6Addr>().is_ok() {
                return format!("{}ip-{}{}", &m[..skip], self.digest(core), &m[end..]);
            }
        }
        v4_pattern()
            .replace_all(m, |c: &regex::Captures<'_>| {
                let v = c.get(0).map_or("", |v| v.as_str());
                if is_v4(v) {
                    format!("ip-{}", self.digest(v))
                } else {
                    v.to_string()
                }
            })
            .into_owned()
    }

    /// Redacts every string of a JSON tree (a report as data), keys too;
    /// upns and the names of users (display names from a directory or
    /// Graph) are replaced wherever they appear.
    pub fn tree(&self, v: &mut Value) {
        let mut found = Vec::new();
        self.collect(v, &mut found);
        let known = Known::new(found);
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

    fn value(&self, v: &mut Value, known: &Known) {
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

/// Values known to be identifiers (upns, user names) and their
/// pseudonyms, matched in any case.
#[derive(Default)]
struct Known {
    pattern: Option<regex::Regex>,
    /// Lower-cased value → pseudonym.
    pseudonyms: std::collections::HashMap<String, String>,
}

impl Known {
    fn new(mut found: Vec<(String, String)>) -> Self {
        // Longest first, so a upn is replaced before a part of it.
        found.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        found.dedup_by(|a, b| a.0.to_lowercase() == b.0.to_lowercase());
        if found.is_empty() {
            return Known::default();
        }
        let alternatives: Vec<String> = found.iter().map(|(v, _)| regex::escape(v)).collect();
        let pattern = regex::RegexBuilder::new(&alternatives.join("|"))
            .case_insensitive(true)
            .size_limit(64 << 20)
            .build()
            .ok();
        let pseudonyms = found
            .into_iter()
            .map(|(v, p)| (v.to_lowercase(), p))
            .collect();
        Known {
            pattern,
            pseudonyms,
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
