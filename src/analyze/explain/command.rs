//! The fix commands `explain` prints for a person to paste into a shell.
//! Every value taken from a log is checked against what Azure allows for
//! it, then quoted for a POSIX shell, so a crafted secret name cannot become
//! a second command; a value that fails its check yields no command at all.

use std::sync::OnceLock;

/// What a value placed in a command must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A vault or Managed HSM name: 3-24 letters, digits and dashes,
    /// starting with a letter, not ending with a dash.
    VaultName,
    /// A secret, key or certificate name: 1-127 letters, digits and dashes.
    ObjectName,
    /// An object id or application id.
    Guid,
    /// An IPv4 or IPv6 address, optionally with a CIDR prefix.
    IpAddress,
    /// An ARM scope of a vault or of an object in it (placeholders allowed).
    Scope,
    /// A Managed HSM local RBAC scope: `/`, `/keys` or `/keys/<name>`.
    HsmScope,
    /// An RBAC data action such as `Microsoft.KeyVault/vaults/secrets/getSecret/action`.
    Action,
    /// An access-policy permission such as `get` or `list`.
    Permission,
    /// An ARM scope a role can be assigned at, from a subscription down to
    /// a secret, key or certificate.
    AnyScope,
    /// A role assignment's ARM id.
    AssignmentId,
    /// A resource group name: 1-90 letters, digits, `-_.()`.
    ResourceGroup,
}

impl Check {
    fn describe(self) -> &'static str {
        match self {
            Check::VaultName => "vault name (3-24 letters, digits and dashes)",
            Check::ObjectName => "secret, key or certificate name (letters, digits and dashes)",
            Check::Guid => "object or application id (a GUID)",
            Check::IpAddress => "IP address",
            Check::Scope => "Key Vault resource id",
            Check::HsmScope => "Managed HSM scope (/, /keys or /keys/<name>)",
            Check::Action => "RBAC data action",
            Check::Permission => "access-policy permission",
            Check::AnyScope => "Azure scope (subscription, resource group, vault or object)",
            Check::AssignmentId => "role assignment id",
            Check::ResourceGroup => "resource group name",
        }
    }

    /// Whether `v` is what Azure allows for this kind of value.
    pub fn allows(self, v: &str) -> bool {
        match self {
            Check::VaultName => is_vault_name(v),
            Check::ObjectName => {
                (1..=127).contains(&v.len())
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }
            Check::Guid => is_guid(v),
            // One host: a bare address, or /32 and /128 (a wider range
            // would open the firewall to more than the caller).
            Check::IpAddress => match v.split_once('/') {
                None => v.parse::<std::net::IpAddr>().is_ok(),
                Some((a, "32")) => a.parse::<std::net::Ipv4Addr>().is_ok(),
                Some((a, "128")) => a.parse::<std::net::Ipv6Addr>().is_ok(),
                Some(_) => false,
            },
            Check::Scope => scope_pattern().is_match(v),
            Check::HsmScope => match v.strip_prefix("/keys") {
                _ if v == "/" => true,
                Some("") => true,
                Some(rest) => rest
                    .strip_prefix('/')
                    .is_some_and(|n| Check::ObjectName.allows(n)),
                None => false,
            },
            Check::Action => {
                (1..=256).contains(&v.len())
                    && v.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'_' | b'-')
                    })
            }
            Check::Permission => PERMISSIONS.iter().any(|p| p.eq_ignore_ascii_case(v)),
            Check::AnyScope => any_scope_pattern().is_match(v),
            Check::AssignmentId => assignment_id_pattern().is_match(v),
            Check::ResourceGroup => {
                (1..=90).contains(&v.len())
                    && !v.ends_with('.')
                    && v.chars()
                        .all(|c| c.is_alphanumeric() || "-_.()".contains(c))
            }
        }
    }
}

/// Access-policy permissions `az keyvault set-policy` takes (keys,
/// secrets, certificates and storage together).
const PERMISSIONS: &[&str] = &[
    "all",
    "backup",
    "create",
    "decrypt",
    "delete",
    "deleteissuers",
    "deletesas",
    "encrypt",
    "get",
    "getissuers",
    "getrotationpolicy",
    "getsas",
    "import",
    "list",
    "listissuers",
    "listsas",
    "managecontacts",
    "manageissuers",
    "purge",
    "recover",
    "regeneratekey",
    "release",
    "restore",
    "rotate",
    "set",
    "setissuers",
    "setrotationpolicy",
    "setsas",
    "sign",
    "unwrapkey",
    "update",
    "verify",
    "wrapkey",
];

fn is_vault_name(v: &str) -> bool {
    let b = v.as_bytes();
    (3..=24).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1] != b'-'
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

pub use crate::parse::is_guid;

fn scope_pattern() -> &'static regex::Regex {
    static P: OnceLock<regex::Regex> = OnceLock::new();
    P.get_or_init(|| {
        regex::Regex::new(concat!(
            r"(?i-u)^/subscriptions/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|<subscription-id>)",
            r"/resourceGroups/(?:[-\w.()]{1,90}|<resource-group>)",
            r"/providers/Microsoft\.KeyVault/(?:vaults|managedHSMs)/(?:[a-z][a-z0-9-]{1,22}[a-z0-9]|<vault>)",
            r"(?:/(?:secrets|keys|certificates)/[a-z0-9-]{1,127})?$"
        ))
        .expect("static regex")
    })
}

fn any_scope_pattern() -> &'static regex::Regex {
    static P: OnceLock<regex::Regex> = OnceLock::new();
    P.get_or_init(|| {
        regex::Regex::new(concat!(
            r"(?i-u)^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            r"(?:/resourceGroups/[-\w.()]{1,90}",
            r"(?:/providers/Microsoft\.KeyVault/vaults/[a-z][a-z0-9-]{1,22}[a-z0-9]",
            r"(?:/(?:secrets|keys|certificates)/[a-z0-9-]{1,127})?)?)?$"
        ))
        .expect("static regex")
    })
}

fn assignment_id_pattern() -> &'static regex::Regex {
    static P: OnceLock<regex::Regex> = OnceLock::new();
    P.get_or_init(|| {
        regex::Regex::new(concat!(
            r"(?i-u)^(?:/[-\w.()]{1,128}){0,12}",
            r"/providers/Microsoft\.Authorization/roleAssignments/",
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
        ))
        .expect("static regex")
    })
}

/// Quotes `word` for a POSIX shell: as is when it holds only characters no
/// shell treats specially, else in single quotes (a `'` inside becomes
/// `'\''`).
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
                )
        });
    if plain {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// A command as the words its program receives, built from fixed words
/// and checked values; rendered only when every value passed its check.
#[derive(Debug, Clone, Default)]
pub struct ShellCommand {
    words: Vec<String>,
    /// The first value that failed its check, and why.
    problem: Option<String>,
}

impl ShellCommand {
    /// A command from fixed words (kvaudit's own text, never log content).
    pub fn new(words: &[&str]) -> Self {
        ShellCommand {
            words: words.iter().map(|w| (*w).to_string()).collect(),
            problem: None,
        }
    }

    /// Adds fixed words (kvaudit's own text or data files).
    pub fn fixed(mut self, words: &[&str]) -> Self {
        self.words.extend(words.iter().map(|w| (*w).to_string()));
        self
    }

    /// Adds `flag` and a value from a log, checked as `check`.
    pub fn value(mut self, flag: &str, check: Check, what: &str, v: &str) -> Self {
        if !check.allows(v) && self.problem.is_none() {
            self.problem = Some(format!(
                "the {what} {} is not a valid {}",
                shown(v),
                check.describe()
            ));
        }
        self.words.push(flag.to_string());
        self.words.push(v.to_string());
        self
    }

    /// [`ShellCommand::value`], or kvaudit's own `placeholder` (such as
    /// `<vault>`) when the log gave no value.
    pub fn value_or(
        self,
        flag: &str,
        check: Check,
        what: &str,
        v: Option<&str>,
        placeholder: &str,
    ) -> Self {
        match v {
            Some(v) => self.value(flag, check, what, v),
            None => self.fixed(&[flag, placeholder]),
        }
    }

    /// The words the program receives (the first is the program).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Why no command can be printed, if a value failed its check.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// The command line to paste, or, when a value failed its check, a
    /// shell comment saying why (pasted, it does nothing).
    pub fn render(&self) -> String {
        match &self.problem {
            Some(p) => format!("# no command: {p}; this record may be forged, check who sent it"),
            None => self
                .words
                .iter()
                .map(|w| quote(w))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// A log value as it may be shown in a message: printable, quoted, at most
/// 80 characters (the first and last 40 of a longer one, where a forged
/// suffix would be), with no way to end a shell comment line.
pub fn shown(v: &str) -> String {
    let n = v.chars().count();
    let s: String = if n <= 80 {
        v.to_string()
    } else {
        let head: String = v.chars().take(40).collect();
        let tail: String = v.chars().skip(n - 40).collect();
        format!("{head}…{tail}")
    };
    format!("{:?}", s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_values_pass_and_crafted_ones_do_not() {
        assert!(Check::VaultName.allows("kv-data-prod"));
        assert!(!Check::VaultName.allows("kv;rm"));
        assert!(!Check::VaultName.allows("1kv"));
        assert!(Check::ObjectName.allows("db-password"));
        assert!(!Check::ObjectName.allows("x;touch${IFS}PWNED;"));
        assert!(Check::Guid.allows("8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44"));
        assert!(!Check::Guid.allows("8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d4;"));
        assert!(Check::IpAddress.allows("203.0.113.7"));
        assert!(Check::IpAddress.allows("2001:db8::1"));
        assert!(Check::IpAddress.allows("203.0.113.7/32"));
        for wide in [
            "0.0.0.0/0",
            "::/0",
            "1.2.3.4/+8",
            "1.2.3.4/128",
            "10.0.0.0/8",
        ] {
            assert!(!Check::IpAddress.allows(wide), "{wide}");
        }
        assert!(!Check::Permission.allows("getX"));
        assert!(Check::Permission.allows("Get"));
        assert!(!Check::Scope.allows("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-\u{212a}ocked"));
        assert!(!Check::IpAddress.allows("203.0.113.7 $(id)"));
        assert!(Check::Scope.allows("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-data(1)/providers/Microsoft.KeyVault/vaults/kv-data/secrets/db-password"));
        assert!(Check::Scope.allows("/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.KeyVault/vaults/<vault>"));
        assert!(!Check::Scope.allows(
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv;id"
        ));
    }

    #[test]
    fn quoting_leaves_plain_words_and_wraps_the_rest() {
        assert_eq!(quote("kv-data"), "kv-data");
        assert_eq!(quote("Key Vault Secrets User"), "'Key Vault Secrets User'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn a_failed_check_prints_a_comment_not_a_command() {
        let c = ShellCommand::new(&["az", "keyvault", "set-policy"]).value(
            "--name",
            Check::VaultName,
            "vault name",
            "kv\n$(touch x)",
        );
        let r = c.render();
        assert!(r.starts_with("# no command: the vault name "), "{r}");
        assert!(!r.contains('\n'));
    }

    /// What a POSIX shell passes to `az` for `line`: `az` is a function
    /// printing its arguments NUL-separated.
    fn shell_split(line: &str) -> Vec<String> {
        let script = format!("az() {{ printf '%s\\0' \"$@\"; }}\n{line}\n");
        let dir = tempfile::tempdir().expect("temp dir");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir.path())
            .output()
            .expect("sh runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words: Vec<String> = text.split('\0').map(str::to_string).collect();
        words.pop();
        words
    }

    fn value_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            "[a-z][a-z0-9-]{1,20}[a-z0-9]",
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[a-z]{1,8}",
            "[^\u{0}]{0,24}",
            "[-a-z;$`'\"\\\\|&<>(){}* \n]{0,16}",
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Every quoted word comes back from the shell exactly.
        #[test]
        fn quoted_words_survive_the_shell(word in "[^\u{0}]{0,40}") {
            let got = shell_split(&format!("az {}", quote(&word)));
            proptest::prop_assert_eq!(got, vec![word]);
        }

        /// A built command is either a comment the shell ignores or splits
        /// into exactly the intended arguments.
        #[test]
        fn commands_split_into_exactly_their_words(
            vault in value_strategy(),
            oid in value_strategy(),
            perm in value_strategy(),
        ) {
            let cmd = ShellCommand::new(&["az", "keyvault", "set-policy"])
                .value("--name", Check::VaultName, "vault name", &vault)
                .value("--object-id", Check::Guid, "object id", &oid)
                .value("--secret-permissions", Check::Permission, "permission", &perm);
            let line = cmd.render();
            proptest::prop_assert!(!line.contains('\n'));
            let got = shell_split(&line);
            if cmd.problem().is_some() {
                proptest::prop_assert!(line.starts_with("# no command: "));
                proptest::prop_assert!(got.is_empty());
            } else {
                proptest::prop_assert_eq!(&got[..], &cmd.words()[1..]);
            }
        }
    }
}
