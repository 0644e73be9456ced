//! Generates realistic Key Vault audit logs of any size (`kvaudit synth`)
//! for benchmarks and demos: callers of every kind, a 200/401/403/404 mix
//! with the real description texts, several vaults, weeks of time. Output is
//! deterministic for a seed and written as it is generated (constant
//! memory), in the export shapes kvaudit reads.

use crate::output::csv_io;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthShape {
    /// AzureDiagnostics exported from the portal as CSV.
    AzdiagCsv,
    /// AZKVAuditLogs as a Log Analytics query API response.
    AzkvApi,
    /// Raw diagnostic records as JSON Lines (storage-account export).
    RawJsonl,
}

#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub rows: u64,
    pub shape: SynthShape,
    pub seed: u64,
    /// Days of activity, starting 2025-03-01.
    pub days: u32,
    /// Share of records (0 to 1) that carry real-world oddities (see
    /// `Oddity`); 0 writes clean exports.
    pub messy: f64,
    pub profile: SynthProfile,
}

/// Which mix of callers and denials to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynthProfile {
    /// About 195 callers; 7.5% 403s from a few misconfigurations retried
    /// over and over.
    #[default]
    Default,
    /// About 2,000 callers of which a few dominate, 3% 403s spread across
    /// callers, vaults and secrets (about 10,000 unresolved denials at 1M
    /// rows): the heavy mix of a large tenant.
    Denials,
}

/// What a messy record looks like (`kvaudit synth --messy`), as met in
/// real archives and exports.
#[derive(Debug, Clone, Copy)]
enum Oddity {
    /// An Activity Log record before it (skipped by kvaudit).
    ActivityLogBefore,
    /// A policy-evaluation record before it (skipped).
    PolicyRecordBefore,
    /// A control-plane `VaultPut` without a status before it (kept).
    ControlPlaneBefore,
    /// `identity` as JSON text.
    IdentityAsText,
    /// Claims under their flattened URI names.
    FlattenedClaims,
    /// Seven fractional digits and an offset in the time; `durationMs` as a
    /// number; an unknown key.
    Drift,
}

const ODDITIES: [Oddity; 6] = [
    Oddity::ActivityLogBefore,
    Oddity::PolicyRecordBefore,
    Oddity::ControlPlaneBefore,
    Oddity::IdentityAsText,
    Oddity::FlattenedClaims,
    Oddity::Drift,
];

/// Which records are messy, from a generator of its own so the clean
/// records are the same with or without `--messy`.
struct Mess {
    rng: Rng,
    share: f64,
}

impl Mess {
    fn new(cfg: &SynthConfig) -> Self {
        Mess {
            rng: Rng(cfg.seed ^ 0x6d65_7373_7900_0000),
            share: cfg.messy,
        }
    }

    fn next(&mut self) -> Option<Oddity> {
        if self.share <= 0.0 || self.rng.unit() >= self.share {
            return None;
        }
        Some(ODDITIES[self.rng.below(ODDITIES.len() as u64) as usize])
    }
}

const SUB: &str = "7d3b2c1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d";
const TENANT: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const RG: &str = "rg-data-prod";
const AZ_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const PORTAL: &str = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";
const POWERSHELL: &str = "1950a258-227b-4e31-a9cf-717495945fc2";
const DATABRICKS: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
const SDK_PY: &str = "azsdk-python-keyvault-secrets/4.7.0 Python/3.10.12 (Linux-5.15.0-1057-azure-x86_64-with-glibc2.35)";
const SPARK: &str = "azsdk-java-azure-security-keyvault-secrets/4.6.2 (11.0.20; Linux; 5.15.0-1051-azure) Synapse/Spark";
const ADF_CLIENT: &str = "FxVersion/4.8.4645.0 OSName/Windows AzureDataFactory";
const DBX_CLIENT: &str = "Jersey/2.32 (HttpUrlConnection 1.8.0_382)";
const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0";
const AZCLI_CLIENT: &str = "AZURECLI/2.58.0 (DEB) azsdk-python-keyvault-secrets/4.7.0";

/// splitmix64: small, fast, deterministic; no dependency needed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone, Default)]
struct Principal {
    appid: Option<String>,
    oid: Option<String>,
    upn: Option<String>,
    scp: Option<String>,
    idtyp: Option<String>,
    appidacr: Option<String>,
    mirid: Option<String>,
    client: &'static str,
    ip: String,
    /// Workload identities read a few secrets of one vault, as real jobs
    /// do (empty: reads anything, like people browsing and the backup job).
    home: Option<(&'static str, Vec<u16>)>,
}

fn guid(rng: &mut Rng) -> String {
    let a = rng.next();
    let b = rng.next();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// A workload's vault and the 2 to 8 secrets it reads.
fn home(rng: &mut Rng) -> (&'static str, Vec<u16>) {
    let vault = RBAC_VAULTS[rng.below(RBAC_VAULTS.len() as u64) as usize];
    let n = 2 + rng.below(7);
    (vault, (0..n).map(|_| rng.below(400) as u16).collect())
}

fn population(rng: &mut Rng) -> Vec<Principal> {
    let mut out = Vec::new();
    let ip = |rng: &mut Rng| {
        format!(
            "{}.{}.{}.{}",
            20 + rng.below(40),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        )
    };
    for i in 0..20 {
        let (appid, client) = match i % 3 {
            _ if i == 0 => (AZ_CLI, SDK_PY),
            0 => (AZ_CLI, AZCLI_CLIENT),
            1 => (PORTAL, BROWSER),
            _ => (POWERSHELL, SDK_PY),
        };
        out.push(Principal {
            appid: Some(appid.into()),
            oid: Some(guid(rng)),
            upn: Some(format!("user{i:02}@contoso.com")),
            scp: Some("user_impersonation".into()),
            idtyp: Some("user".into()),
            appidacr: Some("0".into()),
            client,
            ip: ip(rng),
            ..Default::default()
        });
    }
    for i in 0..3 {
        out.push(Principal {
            appid: Some(PORTAL.into()),
            oid: Some(guid(rng)),
            upn: Some(format!(
                "guest{i}_fabrikam.com#EXT#@contoso.onmicrosoft.com"
            )),
            scp: Some("user_impersonation".into()),
            idtyp: Some("user".into()),
            appidacr: Some("0".into()),
            client: BROWSER,
            ip: ip(rng),
            ..Default::default()
        });
    }
    for i in 0..150 {
        out.push(Principal {
            appid: Some(guid(rng)),
            oid: Some(guid(rng)),
            idtyp: Some("app".into()),
            appidacr: Some(if i % 4 == 0 { "2" } else { "1" }.into()),
            client: if i % 2 == 0 { SDK_PY } else { SPARK },
            ip: ip(rng),
            // The first one is a backup job reading every secret of one
            // vault (S9: mass secret retrieval).
            home: Some(if i == 0 {
                ("kv-shared", (0..400).collect())
            } else {
                home(rng)
            }),
            ..Default::default()
        });
    }
    for i in 0..20 {
        let mirid = if i % 2 == 0 {
            format!("/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.DataFactory/factories/adf-{i:02}")
        } else {
            format!("/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-{i:02}")
        };
        out.push(Principal {
            appid: Some(guid(rng)),
            oid: Some(guid(rng)),
            idtyp: Some("app".into()),
            appidacr: Some("2".into()),
            mirid: Some(mirid),
            client: if i % 2 == 0 { ADF_CLIENT } else { SDK_PY },
            ip: ip(rng),
            home: Some(home(rng)),
            ..Default::default()
        });
    }
    out.push(Principal {
        appid: Some(DATABRICKS.into()),
        oid: Some(guid(rng)),
        idtyp: Some("app".into()),
        appidacr: Some("2".into()),
        client: DBX_CLIENT,
        ip: ip(rng),
        ..Default::default()
    });
    out
}

/// The service principals and managed identities of a large tenant
/// ([`SynthProfile::Denials`]), each with a home vault.
fn extra_workloads(rng: &mut Rng) -> Vec<Principal> {
    (0..EXTRA_WORKLOADS)
        .map(|i| {
            let ip = format!("10.{}.{}.{}", rng.below(256), rng.below(256), 1 + rng.below(254));
            let mirid = (i % 3 == 0).then(|| {
                format!("/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-{i:04}")
            });
            Principal {
                appid: Some(guid(rng)),
                oid: Some(guid(rng)),
                idtyp: Some("app".into()),
                appidacr: Some(if mirid.is_some() { "2" } else { "1" }.into()),
                mirid,
                client: if i % 2 == 0 { SDK_PY } else { SPARK },
                ip,
                home: Some(home(rng)),
                ..Default::default()
            }
        })
        .collect()
}

/// One generated request, in the terms of the export shapes.
struct Row<'a> {
    time: DateTime<Utc>,
    op: &'static str,
    status: u16,
    who: Option<&'a Principal>,
    vault: &'a str,
    obj: Option<(&'static str, String)>,
    desc: Option<String>,
    client: &'a str,
    ip: &'a str,
    rbac: Option<bool>,
    ap: Option<bool>,
    corr: String,
    dur: u32,
}

impl Row<'_> {
    fn sig(&self) -> &'static str {
        match self.status {
            200 => "OK",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            _ => "TooManyRequests",
        }
    }
    fn uri(&self) -> String {
        match &self.obj {
            Some((kind, name)) => {
                format!(
                    "https://{}.vault.azure.net/{kind}/{name}/?api-version=7.4",
                    self.vault
                )
            }
            None if self.op == "SecretList" => {
                format!(
                    "https://{}.vault.azure.net/secrets?api-version=7.4",
                    self.vault
                )
            }
            None => format!("https://{}.vault.azure.net/?api-version=7.4", self.vault),
        }
    }
    fn id(&self) -> Option<String> {
        self.obj.as_ref().map(|(kind, name)| {
            let version = if self.status == 200 {
                "/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
            } else {
                ""
            };
            format!(
                "https://{}.vault.azure.net/{kind}/{name}{version}",
                self.vault
            )
        })
    }
}

fn vault_id(v: &str) -> String {
    format!(
        "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/{}/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{}",
        SUB.to_uppercase(),
        RG.to_uppercase(),
        v.to_uppercase()
    )
}

fn arm_scope(v: &str) -> String {
    format!("/subscriptions/{SUB}/resourcegroups/{RG}/providers/microsoft.keyvault/vaults/{v}")
}

fn rbac_desc(p: &Principal, action: &str, vault: &str, obj: &str) -> String {
    format!(
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss=https://sts.windows.net/{TENANT}/\r\nAction: '{action}'\r\nResource: '{}/{obj}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: {vault};location=westeurope\r\n",
        p.appid.as_deref().unwrap_or(""),
        p.oid.as_deref().unwrap_or(""),
        arm_scope(vault)
    )
}

fn ap_desc(p: &Principal, perm: &str, vault: &str) -> String {
    format!(
        "The user, group or application 'appid={};oid={};numgroups=0;iss=https://sts.windows.net/{TENANT}/' does not have {perm} permission on key vault '{vault};location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
        p.appid.as_deref().unwrap_or(""),
        p.oid.as_deref().unwrap_or("")
    )
}

fn fw_desc(p: &Principal, ip: &str, vault: &str) -> String {
    format!(
        "Client address is not authorized and caller is not a trusted service.\r\nClient address: {ip}\r\nCaller: appid={};oid={};iss=https://sts.windows.net/{TENANT}/\r\nVault: {vault};location=westeurope",
        p.appid.as_deref().unwrap_or(""),
        p.oid.as_deref().unwrap_or("")
    )
}

/// The user whose account runs a nightly job (user-bound automation).
const SCHEDULED_USER: &str = "user00@contoso.com";

/// RBAC vaults, access-policy vaults and one behind a firewall.
const RBAC_VAULTS: &[&str] = &[
    "kv-data-prod",
    "kv-data-dev",
    "kv-app-prod",
    "kv-app-dev",
    "kv-ml-prod",
    "kv-shared",
    "kv-etl",
    "kv-bi",
];
const POLICY_VAULTS: &[&str] = &["kv-legacy", "kv-legacy-eu"];
const FIREWALL_VAULT: &str = "kv-locked";

struct Generator {
    rng: Rng,
    people: Vec<Principal>,
    start: DateTime<Utc>,
    span_secs: u64,
    n: u64,
    /// Denials come from a few misconfigurations retried over and over, as
    /// in real vaults: (principal, vault, secret) missing an RBAC role...
    rbac_gaps: Vec<(usize, &'static str, String)>,
    /// ... or an access policy ...
    policy_gaps: Vec<(usize, &'static str, String)>,
    /// ... or calling from outside the firewall.
    outside: Vec<usize>,
    profile: SynthProfile,
    /// Where the bands of RBAC, access-policy and firewall 403s end (`r`
    /// below the first is a 401 challenge; above the last, successes).
    bands: [f64; 3],
}

/// Principals added by [`SynthProfile::Denials`].
const EXTRA_WORKLOADS: usize = 1_800;

impl Generator {
    fn new(cfg: &SynthConfig) -> Self {
        let mut rng = Rng(cfg.seed ^ 0x6b76_6175_6469_7421);
        let mut people = population(&mut rng);
        if cfg.profile == SynthProfile::Denials {
            people.extend(extra_workloads(&mut rng));
        }
        // Workload identities (after the 23 people).
        let workload = |rng: &mut Rng| 23 + rng.below(people.len() as u64 - 23) as usize;
        let mut gaps = |n: usize, vaults: &[&'static str]| -> Vec<(usize, &'static str, String)> {
            (0..n)
                .map(|_| {
                    let v = vaults[rng.below(vaults.len() as u64) as usize];
                    let who = workload(&mut rng);
                    (who, v, format!("secret-{:03}", rng.below(400)))
                })
                .collect()
        };
        let (rbac, policy, out, bands) = match cfg.profile {
            SynthProfile::Default => (12, 4, 3, [0.11, 0.12, 0.125]),
            SynthProfile::Denials => (7_000, 2_000, 1_000, [0.071, 0.077, 0.08]),
        };
        let rbac_gaps = gaps(rbac, RBAC_VAULTS);
        let policy_gaps = gaps(policy, POLICY_VAULTS);
        let outside = (0..out).map(|_| workload(&mut rng)).collect();
        Generator {
            rng,
            people,
            start: Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap(),
            span_secs: u64::from(cfg.days.max(1)) * 86_400,
            n: 0,
            rbac_gaps,
            policy_gaps,
            outside,
            profile: cfg.profile,
            bands,
        }
    }

    fn row(&mut self) -> Row<'_> {
        self.n += 1;
        let rng = &mut self.rng;
        let r = rng.unit();
        // Service principals and managed identities do most of the work.
        let workloads = self.people.len() as u64 - 23;
        let who = if rng.unit() < 0.15 {
            &self.people[rng.below(23) as usize]
        } else if self.profile == SynthProfile::Denials {
            // A few workloads do most of the work.
            let u = rng.unit();
            &self.people[23 + ((workloads as f64 * u * u * u) as usize).min(workloads as usize - 1)]
        } else {
            &self.people[23 + rng.below(workloads) as usize]
        };
        let mut secs = rng.below(self.span_secs);
        if who.upn.as_deref() == Some(SCHEDULED_USER) {
            // A job scheduled under a person's account: 02:00 every day.
            secs = secs / 86_400 * 86_400 + 2 * 3600 + rng.below(300);
        } else if who.upn.is_some() && rng.unit() < 0.9 {
            // People work office hours, most of the time.
            secs = secs / 86_400 * 86_400 + 8 * 3600 + rng.below(9 * 3600);
        }
        let time = self.start
            + Duration::seconds(secs as i64)
            + Duration::milliseconds(rng.below(1000) as i64);
        let (vault_rbac, secret) = match &who.home {
            Some((vault, secrets)) => (*vault, secrets[rng.below(secrets.len() as u64) as usize]),
            None => (
                RBAC_VAULTS[rng.below(RBAC_VAULTS.len() as u64) as usize],
                rng.below(400) as u16,
            ),
        };
        let secret = ("secrets", format!("secret-{secret:03}"));
        let corr = guid(rng);
        let dur = 5 + rng.below(60) as u32;
        let mut row = Row {
            time,
            op: "SecretGet",
            status: 200,
            who: Some(who),
            vault: vault_rbac,
            obj: Some(secret),
            desc: None,
            client: who.client,
            ip: &who.ip,
            rbac: Some(true),
            ap: None,
            corr,
            dur,
        };
        if r < 0.05 {
            // The bearer challenge: no identity, not a denial.
            row.op = "Authentication";
            row.status = 401;
            row.who = None;
            row.obj = None;
            row.rbac = None;
        } else if r < self.bands[0] {
            let (i, v, secret) = &self.rbac_gaps[rng.below(self.rbac_gaps.len() as u64) as usize];
            let p = &self.people[*i];
            (row.who, row.client, row.ip, row.vault) = (Some(p), p.client, &p.ip, v);
            row.obj = Some(("secrets", secret.clone()));
            row.status = 403;
            row.rbac = Some(false);
            row.desc = Some(rbac_desc(
                p,
                "Microsoft.KeyVault/vaults/secrets/getSecret/action",
                v,
                &format!("secrets/{secret}"),
            ));
        } else if r < self.bands[1] {
            let (i, v, secret) =
                &self.policy_gaps[rng.below(self.policy_gaps.len() as u64) as usize];
            let p = &self.people[*i];
            (row.who, row.client, row.ip, row.vault) = (Some(p), p.client, &p.ip, v);
            row.obj = Some(("secrets", secret.clone()));
            row.status = 403;
            row.rbac = None;
            row.ap = Some(false);
            row.desc = Some(ap_desc(p, "secrets get", v));
        } else if r < self.bands[2] {
            let p = &self.people[self.outside[rng.below(self.outside.len() as u64) as usize]];
            (row.who, row.client, row.ip, row.vault) = (Some(p), p.client, &p.ip, FIREWALL_VAULT);
            row.obj = Some(("secrets", "app-config".to_string()));
            row.status = 403;
            row.rbac = None;
            row.desc = Some(fw_desc(p, &p.ip, FIREWALL_VAULT));
        } else if r < 0.155 {
            row.status = 404;
            let name = row.obj.as_ref().map(|(_, n)| n.clone()).unwrap_or_default();
            row.desc = Some(format!("A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"));
        } else if r < 0.2 {
            row.op = "SecretList";
            row.obj = None;
        } else if r < 0.22 {
            let v = POLICY_VAULTS[rng.below(POLICY_VAULTS.len() as u64) as usize];
            row.vault = v;
            row.rbac = None;
            row.ap = Some(true);
        } else if r < 0.3 {
            row.op = "KeyGet";
            row.obj = Some(("keys", format!("key-{:02}", rng.below(20))));
        } else if r < 0.32 {
            row.op = "CertificateGet";
            row.obj = Some(("certificates", format!("cert-{:02}", rng.below(10))));
        } else if r < 0.33 {
            row.op = "KeyUnwrap";
            row.obj = Some(("keys", format!("cmk-{:02}", rng.below(5))));
        }
        // A misconfiguration never succeeds: that principal reads another secret.
        if row.status == 200 {
            if let (Some(w), Some((_, name))) = (row.who, &row.obj) {
                let gap = self
                    .rbac_gaps
                    .iter()
                    .chain(&self.policy_gaps)
                    .any(|(i, v, s)| {
                        std::ptr::eq(&self.people[*i], w) && *v == row.vault && s == name
                    });
                if gap {
                    row.obj = Some(("secrets", format!("{name}-b")));
                }
            }
        }
        row
    }
}

fn portal_time(t: &DateTime<Utc>) -> String {
    t.format("%-m/%-d/%Y, %-I:%M:%S%.3f %p").to_string()
}

fn iso(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

const AZDIAG_COLS: &[&str] = &[
    "TenantId",
    "TimeGenerated [UTC]",
    "ResourceId",
    "Category",
    "ResourceGroup",
    "SubscriptionId",
    "ResourceProvider",
    "Resource",
    "ResourceType",
    "OperationName",
    "ResultType",
    "CorrelationId",
    "ResultDescription",
    "requestUri_s",
    "DurationMs",
    "CallerIPAddress",
    "OperationVersion",
    "ResultSignature",
    "id_s",
    "clientInfo_s",
    "httpStatusCode_d",
    "isRbacAuthorized_b",
    "isAccessPolicyMatch_b",
    "tlsVersion_s",
    "identity_claim_appid_g",
    "identity_claim_oid_g",
    "identity_claim_upn_s",
    "identity_claim_scp_s",
    "identity_claim_idtyp_s",
    "identity_claim_appidacr_s",
    "identity_claim_xms_mirid_s",
    "_ResourceId",
    "Type",
];

fn write_azdiag_csv(
    g: &mut Generator,
    rows: u64,
    mess: &mut Mess,
    out: &mut dyn Write,
) -> io::Result<()> {
    out.write_all(b"\xEF\xBB\xBF")?;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(AZDIAG_COLS).map_err(csv_io)?;
    let b = |v: Option<bool>| v.map_or("", |b| if b { "true" } else { "false" });
    for _ in 0..rows {
        let r = g.row();
        if let Some(o) = mess.next() {
            // In a CSV export the oddities are other categories' rows.
            if matches!(o, Oddity::ActivityLogBefore | Oddity::PolicyRecordBefore) {
                let mut cells = vec![String::new(); AZDIAG_COLS.len()];
                cells[0] = TENANT.to_string();
                cells[1] = portal_time(&r.time);
                cells[2] = vault_id(r.vault);
                cells[3] = "AzurePolicyEvaluationDetails".to_string();
                cells[9] = "AzurePolicyEvaluation".to_string();
                w.write_record(&cells).map_err(csv_io)?;
            }
        }
        let who = r.who.cloned().unwrap_or_default();
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        w.write_record([
            TENANT,
            &portal_time(&r.time),
            &vault_id(r.vault),
            "AuditEvent",
            &RG.to_uppercase(),
            SUB,
            "MICROSOFT.KEYVAULT",
            &r.vault.to_uppercase(),
            "VAULTS",
            r.op,
            "Success",
            &r.corr,
            r.desc.as_deref().unwrap_or(""),
            &r.uri(),
            &r.dur.to_string(),
            r.ip,
            "7.4",
            r.sig(),
            &r.id().unwrap_or_default(),
            r.client,
            &r.status.to_string(),
            b(r.rbac),
            b(r.ap),
            "TLS1_3",
            &s(&who.appid),
            &s(&who.oid),
            &s(&who.upn),
            &s(&who.scp),
            &s(&who.idtyp),
            &s(&who.appidacr),
            &s(&who.mirid),
            &arm_scope(r.vault),
            "AzureDiagnostics",
        ])
        .map_err(csv_io)?;
    }
    w.flush()
}

#[derive(Serialize)]
struct Claim<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    appid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idtyp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    appidacr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xms_mirid: Option<&'a str>,
}

fn claim(p: &Principal) -> Claim<'_> {
    Claim {
        appid: p.appid.as_deref(),
        oid: p.oid.as_deref(),
        upn: p.upn.as_deref(),
        scp: p.scp.as_deref(),
        idtyp: p.idtyp.as_deref(),
        appidacr: p.appidacr.as_deref(),
        xms_mirid: p.mirid.as_deref(),
    }
}

#[derive(Serialize)]
struct Identity<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    claim: Option<Claim<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Props<'a> {
    client_info: &'a str,
    http_status_code: u16,
    request_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_rbac_authorized: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_access_policy_match: Option<bool>,
    tls_version: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Raw<'a> {
    time: String,
    category: &'a str,
    operation_name: &'a str,
    result_type: &'a str,
    correlation_id: &'a str,
    caller_ip_address: &'a str,
    identity: Identity<'a>,
    properties: Props<'a>,
    resource_id: String,
    operation_version: &'a str,
    result_signature: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_description: Option<&'a str>,
    duration_ms: String,
}

fn write_raw_jsonl(
    g: &mut Generator,
    rows: u64,
    mess: &mut Mess,
    out: &mut dyn Write,
) -> io::Result<()> {
    for _ in 0..rows {
        let r = g.row();
        let oddity = mess.next();
        let rec = Raw {
            time: iso(&r.time),
            category: "AuditEvent",
            operation_name: r.op,
            result_type: "Success",
            correlation_id: &r.corr,
            caller_ip_address: r.ip,
            identity: Identity {
                claim: r.who.map(claim),
            },
            properties: Props {
                client_info: r.client,
                http_status_code: r.status,
                request_uri: r.uri(),
                id: r.id(),
                is_rbac_authorized: r.rbac,
                is_access_policy_match: r.ap,
                tls_version: "TLS1_3",
            },
            resource_id: vault_id(r.vault),
            operation_version: "7.4",
            result_signature: r.sig(),
            result_description: r.desc.as_deref(),
            duration_ms: r.dur.to_string(),
        };
        match oddity {
            None => serde_json::to_writer(&mut *out, &rec)?,
            Some(o) => write_messy_raw(&rec, o, &r.time, out)?,
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes `rec` with oddity `o` (and the extra record it brings).
fn write_messy_raw(
    rec: &Raw<'_>,
    o: Oddity,
    time: &DateTime<Utc>,
    out: &mut dyn Write,
) -> io::Result<()> {
    use serde_json::{json, Value};
    let mut v = serde_json::to_value(rec)?;
    let before = match o {
        Oddity::ActivityLogBefore => Some(json!({
            "time": v["time"], "resourceId": v["resourceId"], "operationName": "MICROSOFT.KEYVAULT/VAULTS/WRITE",
            "category": "Administrative", "resultType": "Success", "resultSignature": "Succeeded.OK",
            "correlationId": v["correlationId"], "level": "Information",
            "identity": {"authorization": {"action": "Microsoft.KeyVault/vaults/write"}, "claims": {"aud": "https://management.core.windows.net/"}},
            "properties": {"statusCode": "OK"}
        })),
        Oddity::PolicyRecordBefore => Some(json!({
            "time": v["time"], "resourceId": v["resourceId"], "operationName": "AzurePolicyEvaluation",
            "category": "AzurePolicyEvaluationDetails", "resultType": "Success",
            "correlationId": v["correlationId"], "properties": {"ObjectName": "x", "ObjectType": "Secret"}
        })),
        Oddity::ControlPlaneBefore => Some(json!({
            "time": v["time"], "resourceId": v["resourceId"], "operationName": "VaultPut",
            "category": "AuditEvent", "resultType": "Success", "correlationId": v["correlationId"],
            "identity": {"claim": {"http://schemas.microsoft.com/identity/claims/objectidentifier": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "appid": AZ_CLI}},
            "properties": {"addedIpRule": {"value": "198.51.100.0/24"}, "clientInfo": "AzureCLI/2.60.0"},
            "durationMs": 2450
        })),
        _ => None,
    };
    if let Some(b) = before {
        serde_json::to_writer(&mut *out, &b)?;
        out.write_all(b"\n")?;
    }
    match o {
        Oddity::IdentityAsText => {
            let text = v["identity"].to_string();
            v["identity"] = Value::String(text);
        }
        Oddity::FlattenedClaims => {
            if let Some(claim) = v["identity"]["claim"].as_object_mut() {
                if let Some(oid) = claim.remove("oid") {
                    claim.insert(
                        "http_schemas_microsoft_com_identity_claims_objectidentifier".into(),
                        oid,
                    );
                }
            }
        }
        Oddity::Drift => {
            v["time"] = Value::String(time.format("%Y-%m-%dT%H:%M:%S%.6f0+00:00").to_string());
            let ms: i64 = v["durationMs"]
                .as_str()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            v["durationMs"] = Value::from(ms);
            v["exportedBy"] = json!({"pipeline": "eventhub-capture", "version": 2});
        }
        _ => {}
    }
    serde_json::to_writer(&mut *out, &v)?;
    Ok(())
}

const AZKV_COLS: &[(&str, &str)] = &[
    ("TenantId", "string"),
    ("TimeGenerated", "datetime"),
    ("OperationName", "string"),
    ("OperationVersion", "string"),
    ("ResultType", "string"),
    ("ResultSignature", "string"),
    ("ResultDescription", "string"),
    ("DurationMs", "long"),
    ("CallerIpAddress", "string"),
    ("CorrelationId", "string"),
    ("Identity", "dynamic"),
    ("HttpStatusCode", "int"),
    ("Id", "string"),
    ("RequestUri", "string"),
    ("ClientInfo", "string"),
    ("IsRbacAuthorized", "bool"),
    ("IsAccessPolicyMatch", "bool"),
    ("_ResourceId", "string"),
    ("_SubscriptionId", "string"),
    ("SourceSystem", "string"),
    ("Type", "string"),
];

fn write_azkv_api(g: &mut Generator, rows: u64, out: &mut dyn Write) -> io::Result<()> {
    let columns: Vec<serde_json::Value> = AZKV_COLS
        .iter()
        .map(|(n, t)| serde_json::json!({"name": n, "type": t}))
        .collect();
    write!(
        out,
        "{{\"tables\":[{{\"name\":\"PrimaryResult\",\"columns\":{},\"rows\":[",
        serde_json::Value::Array(columns)
    )?;
    for i in 0..rows {
        let r = g.row();
        let identity = serde_json::to_string(&Identity {
            claim: r.who.map(claim),
        })?;
        let row = serde_json::json!([
            TENANT,
            iso(&r.time),
            r.op,
            "7.4",
            "Success",
            r.sig(),
            r.desc.as_deref().unwrap_or(""),
            r.dur,
            r.ip,
            r.corr,
            identity,
            r.status,
            r.id().unwrap_or_default(),
            r.uri(),
            r.client,
            r.rbac,
            r.ap,
            arm_scope(r.vault),
            SUB,
            "Azure",
            "AZKVAuditLogs"
        ]);
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut *out, &row)?;
    }
    out.write_all(b"\n]}]}\n")
}

/// Writes `cfg.rows` generated requests to `out` in `cfg.shape`.
pub fn synth(cfg: &SynthConfig, out: &mut dyn Write) -> io::Result<()> {
    let mut g = Generator::new(cfg);
    let mut mess = Mess::new(cfg);
    match cfg.shape {
        SynthShape::AzdiagCsv => write_azdiag_csv(&mut g, cfg.rows, &mut mess, out),
        SynthShape::RawJsonl => write_raw_jsonl(&mut g, cfg.rows, &mut mess, out),
        SynthShape::AzkvApi => write_azkv_api(&mut g, cfg.rows, out),
    }?;
    out.flush()
}
