//! The grids of `access`, `rights` and `plan-rbac` (see [`super::grid`]):
//! which fields become columns, which stay in JSON only, which commands
//! are printed whole.

use super::fit::human_time;
use super::grid::{Grid, GridColumn as C};
use super::words;
use crate::analyze::access::{CallerObjects, ObjectAccess, Who};
use crate::error::{Error, Result};

/// A principal's best name.
pub fn who_name(w: &Who) -> String {
    words::who(
        w.name.as_deref(),
        w.upn.as_deref(),
        w.appid.as_deref(),
        w.oid.as_deref(),
    )
}

fn time(t: Option<&str>) -> String {
    t.map(|t| human_time(t).trim_end_matches(" UTC").to_string())
        .unwrap_or_default()
}

fn records<T: serde::Serialize>(rows: &[T]) -> Result<Vec<String>> {
    rows.iter()
        .map(|r| serde_json::to_string(r).map_err(|e| Error::Output(e.to_string())))
        .collect()
}

/// A principal's ids for a data cell: `oid`, else `appid`, else `upn`.
fn id_of(appid: &Option<String>, oid: &Option<String>, upn: &Option<String>) -> String {
    oid.clone()
        .or_else(|| appid.clone())
        .or_else(|| upn.clone())
        .unwrap_or_default()
}

/// `kvaudit access --by object`.
pub fn access_objects(rows: &[ObjectAccess], title: String) -> Result<Grid> {
    let columns = vec![
        C::fixed("vault"),
        C::fixed("type").named("object_type"),
        C::text("object").at_least(16).named("object_name"),
        C::number("reads"),
        C::number("public_reads").data_only(),
        C::number("private_key_reads").data_only(),
        C::number("metadata").data_only(),
        C::number("writes").from_width(100),
        C::number("deletes").data_only(),
        C::number("denied").from_width(100),
        C::fixed("first_read").data_only(),
        C::fixed("last read UTC").human_only(),
        C::fixed("last_read").data_only(),
        C::fixed("last_write").data_only(),
        C::fixed("unused").data_only(),
        C::text("readers").at_least(8).human_only(),
        // `oid-or-appid:reads` per reader, most reads first.
        C::fixed("readers").data_only(),
    ];
    let cells = rows
        .iter()
        .map(|r| {
            let names: Vec<String> = r
                .readers
                .iter()
                .map(|x| {
                    format!(
                        "{} ({})",
                        who_name(&Who {
                            appid: x.appid.clone(),
                            oid: x.oid.clone(),
                            upn: x.upn.clone(),
                            kind: x.kind.clone(),
                            name: x.name.clone(),
                        }),
                        x.reads
                    )
                })
                .collect();
            let ids: Vec<String> = r
                .readers
                .iter()
                .map(|x| format!("{}:{}", id_of(&x.appid, &x.oid, &x.upn), x.reads))
                .collect();
            vec![
                r.vault.clone().unwrap_or_default(),
                r.object_type.clone(),
                r.object_name.clone(),
                r.reads.to_string(),
                r.public_reads.to_string(),
                r.private_key_reads.to_string(),
                r.metadata.to_string(),
                r.writes.to_string(),
                r.deletes.to_string(),
                r.denied.to_string(),
                r.first_read.clone().unwrap_or_default(),
                if r.unused {
                    "never".into()
                } else {
                    time(r.last_read.as_deref())
                },
                r.last_read.clone().unwrap_or_default(),
                r.last_write.clone().unwrap_or_default(),
                r.unused.to_string(),
                words::list(&names, 2),
                ids.join(";"),
            ]
        })
        .collect();
    Ok(Grid {
        title,
        columns,
        rows: cells,
        records: records(rows)?,
        ..Grid::default()
    })
}

/// `kvaudit access --by caller`.
pub fn access_callers(rows: &[CallerObjects], title: String) -> Result<Grid> {
    let columns = vec![
        C::text("caller").at_least(16).human_only(),
        C::fixed("kind"),
        C::number("objects"),
        C::number("reads"),
        C::number("writes").data_only(),
        C::number("denied"),
        C::number("lists").from_width(100),
        C::fixed("last read UTC").from_width(100).human_only(),
        C::fixed("last_read").data_only(),
        C::text("most read").at_least(10).human_only(),
        // `vault/type/name:reads` per object.
        C::fixed("objects_read").data_only(),
        C::fixed("appid").data_only(),
        C::fixed("oid").data_only(),
        C::fixed("upn").data_only(),
        C::fixed("name").data_only(),
    ];
    let cells = rows
        .iter()
        .map(|r| {
            let most: Vec<String> = r
                .objects
                .iter()
                .filter(|o| o.reads > 0)
                .map(|o| {
                    format!(
                        "{}/{} ({})",
                        o.vault.as_deref().unwrap_or("?"),
                        o.object_name,
                        o.reads
                    )
                })
                .collect();
            let all: Vec<String> = r
                .objects
                .iter()
                .filter(|o| o.reads > 0)
                .map(|o| {
                    format!(
                        "{}/{}/{}:{}",
                        o.vault.as_deref().unwrap_or(""),
                        o.object_type,
                        o.object_name,
                        o.reads
                    )
                })
                .collect();
            let last = r
                .objects
                .iter()
                .filter_map(|o| o.last_read.as_deref())
                .max();
            let p = &r.principal;
            vec![
                who_name(p),
                p.kind.clone(),
                r.objects.len().to_string(),
                r.reads.to_string(),
                r.objects.iter().map(|o| o.writes).sum::<u64>().to_string(),
                r.objects.iter().map(|o| o.denied).sum::<u64>().to_string(),
                r.lists.to_string(),
                time(last),
                last.unwrap_or_default().to_string(),
                words::list(&most, 2),
                all.join(";"),
                p.appid.clone().unwrap_or_default(),
                p.oid.clone().unwrap_or_default(),
                p.upn.clone().unwrap_or_default(),
                p.name.clone().unwrap_or_default(),
            ]
        })
        .collect();
    Ok(Grid {
        title,
        columns,
        rows: cells,
        records: records(rows)?,
        ..Grid::default()
    })
}

/// A built-in role's name with `Key Vault ` shortened to `KV ` (so Key
/// Vault Contributor stays apart from Contributor).
fn short_role(role: &str) -> String {
    match role.strip_prefix("Key Vault ") {
        Some(r) => format!("KV {r}"),
        None => role.to_string(),
    }
}

/// `kvaudit rights`.
pub fn rights(rows: &[crate::analyze::rights::RightsRow], title: String) -> Result<Grid> {
    let columns = vec![
        C::text("principal").at_least(20).human_only(),
        C::fixed("kind").data_only(),
        C::fixed("appid").data_only(),
        C::fixed("oid").data_only(),
        C::fixed("upn").data_only(),
        C::fixed("role").human_only(),
        C::fixed("role").data_only(),
        C::text("scope").at_least(12).human_only(),
        C::fixed("scope").data_only(),
        C::fixed("verdict"),
        C::fixed("least role").from_width(110).human_only(),
        C::fixed("least_role").data_only(),
        C::text("used").at_least(12).from_width(110).human_only(),
        // `Operation:count` of the calls this role served.
        C::fixed("operations").data_only(),
        C::fixed("used_actions").data_only(),
        C::fixed("least_scope").data_only(),
        C::fixed("assignment_id").data_only(),
        C::fixed("created_on").data_only(),
        C::fixed("condition").data_only(),
        C::fixed("window_from").data_only(),
        C::fixed("window_to").data_only(),
        C::fixed("window_days").data_only(),
        C::fixed("evidence").data_only(),
        C::fixed("caution").data_only(),
        C::fixed("fix").data_only(),
    ];
    let mut commands = Vec::new();
    let cells = rows
        .iter()
        .map(|r| {
            let p = &r.principal;
            let used: Vec<String> = r
                .operations
                .iter()
                .map(|(o, n)| format!("{o} {n}"))
                .collect();
            if let Some(fix) = &r.fix {
                let mut lines = fix.lines();
                let what = format!(
                    "{} holds {} at {}: {}. Seen: {}.",
                    who_name(p),
                    r.assignment.role,
                    words::short_scope(&r.assignment.scope),
                    r.verdict.as_str().replace('_', " "),
                    r.evidence
                );
                let first = lines.next().unwrap_or_default();
                let (label, then) = if r.verdict == crate::analyze::rights::Verdict::Unused {
                    (
                        format!("{what} Remove it (after checking with its owner):"),
                        "",
                    )
                } else {
                    (
                        format!("{what} Grant what was used:"),
                        "then remove the broad one:",
                    )
                };
                commands.push((label, first.to_string()));
                for l in lines {
                    commands.push((then.to_string(), l.to_string()));
                }
                if let Some(c) = &r.caution {
                    commands.push((format!("Caution: {c}."), String::new()));
                }
            }
            vec![
                who_name(p),
                p.kind.clone(),
                p.appid.clone().unwrap_or_default(),
                p.oid.clone().unwrap_or_default(),
                p.upn.clone().unwrap_or_default(),
                short_role(&r.assignment.role),
                r.assignment.role.clone(),
                words::short_scope(&r.assignment.scope),
                r.assignment.scope.clone(),
                r.verdict.as_str().to_string(),
                short_role(r.least_role.as_deref().unwrap_or_default()),
                r.least_role.clone().unwrap_or_default(),
                if used.is_empty() {
                    "-".into()
                } else {
                    words::list(&used, 2)
                },
                r.operations
                    .iter()
                    .map(|(o, n)| format!("{o}:{n}"))
                    .collect::<Vec<_>>()
                    .join(";"),
                r.used_actions.join(";"),
                r.least_scope.clone().unwrap_or_default(),
                r.assignment.id.clone().unwrap_or_default(),
                r.assignment.created_on.clone().unwrap_or_default(),
                r.assignment.condition.clone().unwrap_or_default(),
                r.window.from.clone().unwrap_or_default(),
                r.window.to.clone().unwrap_or_default(),
                r.window.days.to_string(),
                r.evidence.clone(),
                r.caution.clone().unwrap_or_default(),
                // One line in a cell: the delete runs only if the grant did.
                r.fix.clone().unwrap_or_default().replace('\n', " && "),
            ]
        })
        .collect();
    Ok(Grid {
        title,
        columns,
        rows: cells,
        records: records(rows)?,
        commands,
        footer: Vec::new(),
    })
}

/// `kvaudit plan-rbac`: a row per role a principal needs, the commands,
/// then the switch, what no role covers and the policy review.
pub fn plan(plans: &[crate::analyze::plan::VaultPlan], title: String) -> Result<Grid> {
    let columns = vec![
        C::fixed("vault").from_width(100),
        C::text("principal").at_least(20).human_only(),
        C::fixed("kind").from_width(120),
        C::text("operations").at_least(16).human_only(),
        C::fixed("operations").data_only(),
        C::fixed("role").human_only(),
        C::fixed("role").data_only(),
        C::fixed("appid").data_only(),
        C::fixed("oid").data_only(),
        C::fixed("upn").data_only(),
        C::fixed("data_actions").data_only(),
        C::fixed("scope").data_only(),
        C::fixed("command").data_only(),
    ];
    let mut rows = Vec::new();
    let mut commands = Vec::new();
    let mut footer = Vec::new();
    for v in plans {
        for p in &v.principals {
            let ops: Vec<String> = p
                .operations
                .iter()
                .map(|(o, n)| format!("{o} {n}"))
                .collect();
            let w = &p.principal;
            rows.push(vec![
                v.vault.clone(),
                who_name(w),
                w.kind.clone(),
                words::list(&ops, 3),
                p.operations
                    .iter()
                    .map(|(o, n)| format!("{o}:{n}"))
                    .collect::<Vec<_>>()
                    .join(";"),
                p.role
                    .as_deref()
                    .map_or_else(|| "(none covers it)".into(), short_role),
                p.role.clone().unwrap_or_default(),
                w.appid.clone().unwrap_or_default(),
                w.oid.clone().unwrap_or_default(),
                w.upn.clone().unwrap_or_default(),
                p.data_actions.join(";"),
                p.scope.clone().unwrap_or_default(),
                p.command.clone().unwrap_or_default(),
            ]);
            match &p.command {
                Some(c) => commands.push((
                    format!(
                        "{}: grant {} {} ({})",
                        v.vault,
                        who_name(w),
                        p.role.as_deref().unwrap_or("?"),
                        ops.join(", ")
                    ),
                    c.clone(),
                )),
                None => footer.push(format!(
                    "{}: no command for {}: {}",
                    v.vault,
                    who_name(w),
                    if w.oid.is_none() {
                        "the log gives no object id; find it with az ad sp show --id <appid>"
                    } else {
                        "no built-in role covers what it used, or the log gives no vault id"
                    }
                )),
            }
        }
        if let Some(c) = &v.switch_command {
            commands.push((
                format!(
                    "{}: last, once every grant above has propagated (up to 10 minutes; cached tokens longer), switch the vault to RBAC (its access policies stop applying):",
                    v.vault
                ),
                c.clone(),
            ));
        }
        for u in &v.uncovered {
            footer.push(format!(
                "{}: {} used {} {} time(s): {}",
                v.vault,
                who_name(&u.principal),
                u.operation,
                u.count,
                u.advice
            ));
        }
        if let Some(r) = &v.policies {
            for p in &r.unused_policies {
                footer.push(format!(
                    "{}: the access policy of {} ({}) was not used in the window: no role is planned for it",
                    v.vault,
                    p.object_id,
                    p.permissions.join(", ")
                ));
            }
            for p in &r.unused_permissions {
                footer.push(format!(
                    "{}: {} never used {} of its access policy",
                    v.vault,
                    p.object_id,
                    p.permissions.join(", ")
                ));
            }
            for d in &r.denied_principals {
                let ops: Vec<String> = d
                    .operations
                    .iter()
                    .map(|(o, n)| format!("{o} {n}"))
                    .collect();
                footer.push(format!(
                    "{}: {} is denied today ({}): the plan grants it nothing",
                    v.vault,
                    who_name(&d.principal),
                    ops.join(", ")
                ));
            }
        }
    }
    Ok(Grid {
        title,
        columns,
        rows,
        records: records(plans)?,
        commands,
        footer,
    })
}

/// `kvaudit attribute`: one row per person.
pub fn attribution(a: &crate::analyze::attribute::Attribution, title: String) -> Result<Grid> {
    let columns = vec![
        C::text("user").at_least(16),
        C::fixed("platform").data_only(),
        C::number("reads"),
        C::text("secrets").at_least(12).human_only(),
        // `vault/name:reads` per secret.
        C::fixed("objects").data_only(),
        C::fixed("first seen UTC").human_only().from_width(100),
        C::fixed("first_seen").data_only(),
        C::fixed("last seen UTC").human_only(),
        C::fixed("last_seen").data_only(),
        C::fixed("workspaces").data_only(),
    ];
    let rows = a
        .people
        .iter()
        .map(|p| {
            let names: Vec<String> = p
                .objects
                .iter()
                .map(|o| format!("{}/{} ({})", o.vault, o.object_name, o.reads))
                .collect();
            vec![
                p.user.clone(),
                p.platform.clone(),
                p.reads.to_string(),
                words::list(&names, 2),
                p.objects
                    .iter()
                    .map(|o| format!("{}/{}:{}", o.vault, o.object_name, o.reads))
                    .collect::<Vec<_>>()
                    .join(";"),
                time(Some(&p.first_seen)),
                p.first_seen.clone(),
                time(Some(&p.last_seen)),
                p.last_seen.clone(),
                p.workspaces.join(";"),
            ]
        })
        .collect();
    let mut footer = vec![format!(
        "{} AzureDatabricks read(s): {} attributed ({:.1}%), {} unattributed (no getSecret within {} s), {} ambiguous (an event as close to another read).{}",
        a.reads,
        a.people.iter().map(|p| p.reads).sum::<u64>(),
        a.matched_share.unwrap_or(0.0) * 100.0,
        a.unattributed,
        a.tolerance_seconds,
        a.ambiguous,
        if a.scopes_mapped {
            ""
        } else {
            " Matched on the secret name alone: pass --scopes (databricks secrets list-scopes --output json) to match each scope's vault."
        }
    )];
    if !a.events_skipped.is_empty() {
        let why: Vec<String> = a
            .events_skipped
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        footer.push(format!(
            "Workspace events not matched against: {}.",
            why.join(", ")
        ));
    }
    Ok(Grid {
        title,
        columns,
        rows,
        records: records(&a.people)?,
        commands: Vec::new(),
        footer,
    })
}
