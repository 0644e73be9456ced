//! Decides who a caller is: a user (member or guest), a service principal, a
//! managed identity (system or user assigned), a Microsoft first-party
//! application, or nobody (the 401 challenge). Names come from the bundled
//! catalog of Microsoft application ids and an optional directory export.

pub mod token;

use crate::collections::{CallerIdRef, CallerMap};
use crate::event::{caller_id, CallerId, Event, Text};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const MICROSOFT_APPS: &str = include_str!("../../data/microsoft-apps.csv");
const KEYVAULT_APPS: &str = include_str!("../../data/first-party-apps-keyvault.csv");
/// Microsoft client apps whose tokens are always a signed-in user's.
const DELEGATED_CLIENTS: &str = include_str!("../../data/delegated-client-apps.csv");
const MICROSOFT_TENANTS: [&str; 2] = [
    "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    "72f988bf-86f1-41af-91ab-2d7cd011db47",
];

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    User,
    GuestUser,
    ServicePrincipal,
    ManagedIdentity,
    MicrosoftApp,
    Unauthenticated,
    #[default]
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::GuestUser => "guest_user",
            Kind::ServicePrincipal => "service_principal",
            Kind::ManagedIdentity => "managed_identity",
            Kind::MicrosoftApp => "microsoft_app",
            Kind::Unauthenticated => "unauthenticated",
            Kind::Unknown => "unknown",
        }
    }
    pub fn is_user(self) -> bool {
        matches!(self, Kind::User | Kind::GuestUser)
    }
    /// `--assignee-principal-type` for role assignments.
    pub fn principal_type(self) -> &'static str {
        if self.is_user() {
            "User"
        } else {
            "ServicePrincipal"
        }
    }
}

/// Who a caller is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub kind: Kind,
    pub mi_type: Option<String>,
    pub name: Option<String>,
    /// For delegated (user) tokens: the client application's name.
    pub client_app: Option<String>,
    /// Why the kind is `unknown`.
    pub reason: Option<String>,
    /// From the directory or Graph (`--resolve`), when known.
    pub account_enabled: Option<bool>,
}

/// A directory entry from `az ad sp list` / `az ad user list`.
#[derive(Debug, Clone, Default)]
pub struct DirectoryEntry {
    pub display_name: Option<String>,
    pub sp_type: Option<String>,
    pub user_type: Option<String>,
    pub account_enabled: Option<bool>,
}

/// Names for application ids and object ids.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    microsoft: HashMap<String, String>,
    /// Appids (lower-case) of `data/delegated-client-apps.csv`.
    delegated_clients: std::collections::HashSet<String>,
    /// by object id and by app id, lower-case.
    directory: HashMap<String, DirectoryEntry>,
}

impl Catalog {
    /// The bundled Microsoft application catalog.
    pub fn bundled() -> Self {
        let mut microsoft = HashMap::new();
        for (text, curated) in [(MICROSOFT_APPS, false), (KEYVAULT_APPS, true)] {
            let mut r = csv::Reader::from_reader(text.as_bytes());
            for rec in r.records().flatten() {
                let (Some(id), Some(name)) = (rec.get(0), rec.get(1)) else {
                    continue;
                };
                let owner = rec.get(2).unwrap_or("");
                let source = rec.get(3).unwrap_or("");
                if curated || source == "Graph" || MICROSOFT_TENANTS.contains(&owner) {
                    microsoft.insert(id.to_ascii_lowercase(), name.to_string());
                }
            }
        }
        let mut delegated_clients = std::collections::HashSet::new();
        let mut r = csv::Reader::from_reader(DELEGATED_CLIENTS.as_bytes());
        for rec in r.records().flatten() {
            if let Some(id) = rec.get(0) {
                delegated_clients.insert(id.to_ascii_lowercase());
            }
        }
        Catalog {
            microsoft,
            delegated_clients,
            directory: HashMap::new(),
        }
    }

    /// Whether `appid` is a Microsoft client whose tokens are always a
    /// signed-in user's (Azure CLI, Azure PowerShell, the portal...).
    pub fn is_delegated_client(&self, appid: &str) -> bool {
        self.delegated_clients.contains(&appid.to_ascii_lowercase())
    }

    pub fn microsoft_app(&self, appid: &str) -> Option<&str> {
        self.microsoft
            .get(&appid.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn directory(&self, id: &str) -> Option<&DirectoryEntry> {
        self.directory.get(&id.to_ascii_lowercase())
    }

    /// Adds one directory entry (from `--resolve`).
    pub fn insert_directory(&mut self, id: &str, entry: DirectoryEntry) {
        self.directory.insert(id.to_ascii_lowercase(), entry);
    }

    /// Adds the JSON output of `az ad sp list --all` or `az ad user list`.
    pub fn load_directory(&mut self, text: &str, source: &str) -> Result<usize, String> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("{source}: expected the JSON output of `az ad sp list --all` or `az ad user list`: {e}"))?;
        let items = v
            .as_array()
            .or_else(|| v.get("value").and_then(|x| x.as_array()))
            .ok_or_else(|| format!("{source}: expected a JSON array of directory objects"))?;
        let mut n = 0;
        for it in items {
            let s = |k: &str| it.get(k).and_then(|x| x.as_str()).map(str::to_string);
            let entry = DirectoryEntry {
                display_name: s("displayName").or_else(|| s("userPrincipalName")),
                sp_type: s("servicePrincipalType"),
                user_type: s("userType"),
                account_enabled: it
                    .get("accountEnabled")
                    .and_then(serde_json::Value::as_bool),
            };
            for key in ["id", "objectId", "appId"] {
                if let Some(id) = s(key) {
                    self.directory
                        .insert(id.to_ascii_lowercase(), entry.clone());
                }
            }
            n += 1;
        }
        Ok(n)
    }
}

/// The claims that decide an identity.
#[derive(Debug, Clone, Default)]
pub struct Claims<'a> {
    pub appid: Option<&'a str>,
    pub oid: Option<&'a str>,
    pub upn: Option<&'a str>,
    pub idtyp: Option<&'a str>,
    pub scp: Option<&'a str>,
    pub mirid: Option<&'a str>,
}

impl<'a> Claims<'a> {
    pub fn of(e: &'a Event) -> Self {
        Claims {
            appid: e.caller_appid.as_deref(),
            oid: e.caller_oid.as_deref(),
            upn: e.caller_upn.as_deref(),
            idtyp: e.caller_idtyp.as_deref(),
            scp: e.caller_scp.as_deref(),
            mirid: e.caller_mirid.as_deref(),
        }
    }
}

/// `.../providers/Microsoft.DataFactory/factories/adf-prod` → `factories/adf-prod`.
pub fn mi_name(mirid: &str) -> String {
    let segs: Vec<&str> = mirid.trim_end_matches('/').rsplit('/').take(2).collect();
    match segs.as_slice() {
        [name, kind] => format!("{kind}/{name}"),
        [name] => name.to_string(),
        _ => mirid.to_string(),
    }
}

pub fn is_guest_upn(upn: &str) -> bool {
    upn.contains("#EXT#") || upn.to_ascii_lowercase().starts_with("live.com#")
}

/// Classifies one caller from its claims.
pub fn classify(c: &Claims, catalog: &Catalog) -> Identity {
    let dir_name = |id: Option<&str>| {
        id.and_then(|i| catalog.directory(i))
            .and_then(|d| d.display_name.clone())
    };
    if c.appid.is_none() && c.oid.is_none() && c.upn.is_none() && c.mirid.is_none() {
        return Identity {
            kind: Kind::Unauthenticated,
            ..Default::default()
        };
    }
    if let Some(mirid) = c.mirid {
        let user_assigned = mirid
            .to_ascii_lowercase()
            .contains("/microsoft.managedidentity/userassignedidentities/");
        return Identity {
            kind: Kind::ManagedIdentity,
            mi_type: Some(if user_assigned { "user" } else { "system" }.into()),
            name: Some(mi_name(mirid)),
            ..Default::default()
        };
    }
    // A Microsoft public client with an oid is a person who came through
    // that tool (a pasted error carries no user claims).
    let delegated = c.upn.is_some()
        || c.scp.is_some()
        || c.idtyp.is_some_and(|t| t.eq_ignore_ascii_case("user"))
        || (c.oid.is_some()
            && !c.idtyp.is_some_and(|t| t.eq_ignore_ascii_case("app"))
            && c.appid.is_some_and(|a| catalog.is_delegated_client(a)));
    if delegated {
        let guest = c.upn.is_some_and(is_guest_upn)
            || c.oid
                .and_then(|o| catalog.directory(o))
                .and_then(|d| d.user_type.as_deref())
                .is_some_and(|t| t.eq_ignore_ascii_case("guest"));
        return Identity {
            account_enabled: c
                .oid
                .and_then(|o| catalog.directory(o))
                .and_then(|d| d.account_enabled),
            kind: if guest { Kind::GuestUser } else { Kind::User },
            name: c.upn.map(str::to_string).or_else(|| dir_name(c.oid)),
            client_app: c.appid.and_then(|a| {
                catalog
                    .microsoft_app(a)
                    .map(str::to_string)
                    .or_else(|| dir_name(Some(a)))
            }),
            ..Default::default()
        };
    }
    let app_only = c.idtyp.is_some_and(|t| t.eq_ignore_ascii_case("app")) || c.oid.is_some();
    if let Some(name) = c.appid.and_then(|a| catalog.microsoft_app(a)) {
        return Identity {
            kind: Kind::MicrosoftApp,
            name: Some(name.to_string()),
            ..Default::default()
        };
    }
    let dir = c
        .oid
        .and_then(|o| catalog.directory(o))
        .or_else(|| c.appid.and_then(|a| catalog.directory(a)));
    if dir
        .and_then(|d| d.sp_type.as_deref())
        .is_some_and(|t| t.eq_ignore_ascii_case("ManagedIdentity"))
    {
        return Identity {
            kind: Kind::ManagedIdentity,
            name: dir.and_then(|d| d.display_name.clone()),
            ..Default::default()
        };
    }
    if app_only {
        return Identity {
            account_enabled: dir.and_then(|d| d.account_enabled),
            kind: Kind::ServicePrincipal,
            name: dir.and_then(|d| d.display_name.clone()),
            ..Default::default()
        };
    }
    Identity {
        kind: Kind::Unknown,
        reason: Some("only an application id that is not a known Microsoft application, and no object id, upn or token type".into()),
        name: dir.and_then(|d| d.display_name.clone()),
        ..Default::default()
    }
}

pub type CallerKey = (Option<String>, Option<String>, Option<String>);

pub fn caller_key(e: &Event) -> CallerKey {
    owned_key(&caller_id(e))
}

/// Whether `e` carries delegated claims (upn, scp or idtyp user): only
/// users' tokens do.
pub fn delegated(e: &Event) -> bool {
    e.caller_upn.is_some()
        || e.caller_scp.is_some()
        || e.caller_idtyp
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("user"))
}

/// The owned form of a [`CallerId`], as maps of identities are keyed.
pub fn owned_key(c: &CallerId) -> CallerKey {
    let s = |t: &Text| t.as_deref().map(str::to_string);
    (s(&c.0), s(&c.1), s(&c.2))
}

/// Identity of every caller (appid, oid, upn) in the events, merging the
/// claims seen across its events.
pub fn identities(events: &[Event], catalog: &Catalog) -> HashMap<CallerKey, Identity> {
    let mut fold = IdentityFold::default();
    events.iter().for_each(|e| fold.add(e));
    fold.identities(catalog)
}

/// The claims of every caller merged event by event (the first value seen
/// of idtyp, scp and xms_mirid), for commands that stream.
#[derive(Debug, Default)]
pub struct IdentityFold {
    merged: CallerMap<[Text; 3]>,
}

impl IdentityFold {
    pub fn add(&mut self, e: &Event) {
        let m = self.merged.entry_ref(&CallerIdRef::of(e)).or_default();
        for (slot, v) in m
            .iter_mut()
            .zip([&e.caller_idtyp, &e.caller_scp, &e.caller_mirid])
        {
            if slot.is_none() {
                slot.clone_from(v);
            }
        }
    }

    pub fn principals(&self) -> Vec<(Option<&str>, Option<&str>)> {
        self.merged
            .keys()
            .map(|(a, o, _)| (a.as_deref(), o.as_deref()))
            .collect()
    }

    pub fn identities(&self, catalog: &Catalog) -> HashMap<CallerKey, Identity> {
        self.merged
            .iter()
            .map(|((appid, oid, upn), [idtyp, scp, mirid])| {
                let c = Claims {
                    appid: appid.as_deref(),
                    oid: oid.as_deref(),
                    upn: upn.as_deref(),
                    idtyp: idtyp.as_deref(),
                    scp: scp.as_deref(),
                    mirid: mirid.as_deref(),
                };
                let key = (
                    appid.as_deref().map(str::to_string),
                    oid.as_deref().map(str::to_string),
                    upn.as_deref().map(str::to_string),
                );
                (key, classify(&c, catalog))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalog {
        Catalog::bundled()
    }

    #[test]
    fn kinds() {
        let c = cat();
        let user = Claims {
            appid: Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            oid: Some("o"),
            upn: Some("a@b.com"),
            scp: Some("user_impersonation"),
            ..Default::default()
        };
        let id = classify(&user, &c);
        assert_eq!(id.kind, Kind::User);
        assert_eq!(id.client_app.as_deref(), Some("Microsoft Azure CLI"));
        let guest = Claims {
            upn: Some("live.com#x@outlook.com"),
            ..Default::default()
        };
        assert_eq!(classify(&guest, &c).kind, Kind::GuestUser);
        let sp = Claims {
            appid: Some("11111111-2222-3333-4444-555555555555"),
            oid: Some("o"),
            idtyp: Some("app"),
            ..Default::default()
        };
        assert_eq!(classify(&sp, &c).kind, Kind::ServicePrincipal);
        let mi = Claims { appid: Some("a"), oid: Some("o"), mirid: Some("/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-etl"), ..Default::default() };
        let id = classify(&mi, &c);
        assert_eq!(
            (id.kind, id.mi_type.as_deref(), id.name.as_deref()),
            (
                Kind::ManagedIdentity,
                Some("user"),
                Some("userAssignedIdentities/uami-etl")
            )
        );
        let adf = Claims { mirid: Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-prod"), ..Default::default() };
        let id = classify(&adf, &c);
        assert_eq!(
            (id.mi_type.as_deref(), id.name.as_deref()),
            (Some("system"), Some("factories/adf-prod"))
        );
        let dbx = Claims {
            appid: Some("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"),
            oid: Some("o"),
            idtyp: Some("app"),
            ..Default::default()
        };
        assert_eq!(classify(&dbx, &c).kind, Kind::MicrosoftApp);
        assert_eq!(classify(&Claims::default(), &c).kind, Kind::Unauthenticated);
        let unknown = Claims {
            appid: Some("zzz"),
            ..Default::default()
        };
        assert_eq!(classify(&unknown, &c).kind, Kind::Unknown);
    }

    #[test]
    fn catalog_skips_non_app_guids() {
        // Key Vault Administrator role id is an EntraDocs row, not an app.
        assert!(cat()
            .microsoft_app("00482a5a-887f-4fb3-b363-3b7fe8e74483")
            .is_none());
    }
}
