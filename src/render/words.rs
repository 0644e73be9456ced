//! What the human views (terminal and Markdown) say in words: a principal's
//! best name, a finding's evidence, a denial's headline. One place, so the
//! table and the Markdown say the same thing.

use super::fit::human_time;
use crate::analyze::callers::CallerRow;
use crate::analyze::explain::Denial;
use crate::analyze::findings::{Evidence, Finding, Principal};

/// The first eight characters of an id, then `…`.
pub fn short_id(id: &str) -> String {
    match id.char_indices().nth(8) {
        Some((i, _)) => format!("{}…", &id[..i]),
        None => id.to_string(),
    }
}

/// A principal's best name: its name, upn, or id; with the id shortened
/// after a name.
pub fn who(
    name: Option<&str>,
    upn: Option<&str>,
    appid: Option<&str>,
    oid: Option<&str>,
) -> String {
    let id = oid.or(appid);
    match (name, upn, id) {
        // `alice@contoso.com via AzureDatabricks` already says who.
        (Some(n), Some(u), _) if n != u && !n.contains(u) => format!("{n} ({u})"),
        (Some(n), _, Some(i)) if !n.contains(i) => format!("{n} ({})", short_id(i)),
        (Some(n), _, _) => n.to_string(),
        (None, Some(u), _) => u.to_string(),
        (None, None, Some(i)) => i.to_string(),
        (None, None, None) => "(no identity)".to_string(),
    }
}

/// A caller row's best name (see [`who`]).
pub fn caller(c: &CallerRow) -> String {
    who(
        c.name.as_deref(),
        c.upn.as_deref(),
        c.appid.as_deref(),
        c.oid.as_deref(),
    )
}

pub fn principal(p: &Principal) -> String {
    who(
        p.name.as_deref(),
        p.upn.as_deref(),
        p.appid.as_deref(),
        p.oid.as_deref(),
    )
}

/// The last two segments of an ARM scope (`vaults/kv-data-prod`), or the
/// whole of a short one.
pub fn short_scope(scope: &str) -> String {
    let parts: Vec<&str> = scope.trim_matches('/').split('/').collect();
    if parts.len() <= 2 {
        return scope.to_string();
    }
    parts[parts.len() - 2..].join("/")
}

/// Up to `max` items, then `(+N more)`.
pub fn list(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!("{} (+{} more)", items[..max].join(", "), items.len() - max)
    }
}

/// `report --databricks`: how many AzureDatabricks reads were named, and
/// by whom.
pub fn attribution(a: &crate::analyze::attribute::Attribution) -> String {
    let named: u64 = a.people.iter().map(|p| p.reads).sum();
    let people: Vec<String> = a
        .people
        .iter()
        .map(|p| format!("{} {}", p.user, p.reads))
        .collect();
    format!(
        "behind AzureDatabricks: {named} of {} read(s) named{}; {} unattributed, {} ambiguous",
        a.reads,
        if people.is_empty() {
            String::new()
        } else {
            format!(" ({})", list(&people, 5))
        },
        a.unattributed,
        a.ambiguous
    )
}

fn span(first: Option<&str>, last: Option<&str>) -> String {
    match (first, last) {
        (Some(f), Some(l)) if f != l => format!("{} to {}", human_time(f), human_time(l)),
        (Some(f), _) => human_time(f),
        (None, Some(l)) => human_time(l),
        (None, None) => "-".into(),
    }
}

/// The commands a finding's evidence carries (beyond a recommendation that
/// is itself a command), to be shown whole, in order.
pub fn commands(f: &Finding) -> Vec<String> {
    let fix = match &f.evidence {
        Evidence::BroaderThanUsed(e) => e.fix.as_deref(),
        Evidence::UnusedAssignment(e) => e.fix.as_deref(),
        _ => None,
    };
    fix.map(|f| f.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Who a finding is about, with its kind: `alice@contoso.com (user)`; a
/// finding about a vault itself names none (its vault says it).
pub fn subject(f: &Finding) -> Option<String> {
    (f.principal.kind != "vault")
        .then(|| format!("{} ({})", principal(&f.principal), f.principal.kind))
}

/// A finding's evidence as readable lines.
pub fn evidence(f: &Finding) -> Vec<String> {
    match &f.evidence {
        Evidence::UserBoundAutomation(e) => vec![
            format!(
                "reads {} secret(s) ({}) {}: first read of the day at {} UTC on {} of {} days; {} read(s), {} outside working hours",
                e.secrets.len(),
                list(&e.secrets, 5),
                e.cadence.pattern,
                e.cadence.time_of_day_utc,
                e.cadence.days_at_that_time,
                e.days_seen,
                e.reads,
                e.reads_outside_working_hours
            ),
            format!(
                "seen {}; clients: {}{}",
                span(e.first_seen.as_deref(), e.last_seen.as_deref()),
                list(&e.clients, 2),
                match e.account_enabled {
                    Some(false) => "; the account is DISABLED",
                    _ => "",
                }
            ),
        ],
        Evidence::MassSecretRetrieval(e) => vec![format!(
            "{} distinct secrets on {} (threshold {})",
            e.distinct_secrets, e.day, e.threshold
        )],
        Evidence::SensitiveOperation(e) => vec![format!(
            "{} x{}{}; at {}",
            e.operation,
            e.count,
            if e.objects.is_empty() {
                String::new()
            } else {
                format!(" on {}", list(&e.objects, 5))
            },
            e.times
                .iter()
                .take(3)
                .map(|t| human_time(t))
                .collect::<Vec<_>>()
                .join(", ")
                + if e.times.len() > 3 { ", …" } else { "" }
        )],
        Evidence::DeniedAccess(e) => vec![format!(
            "{} denial of {}{}, {} time(s), {}",
            e.denial,
            e.operation.as_deref().unwrap_or("?"),
            e.object
                .as_deref()
                .map(|o| format!(" on {o}"))
                .unwrap_or_default(),
            e.count,
            span(e.first_seen.as_deref(), e.last_seen.as_deref())
        )],
        Evidence::NewCaller(e) => vec![format!(
            "{} event(s), first at {}",
            e.events,
            human_time(&e.first_seen)
        )],
        Evidence::GuestAccess(e) => vec![format!(
            "{} read(s) of {} on {}",
            e.reads,
            list(&e.secrets, 5),
            list(&e.vaults, 3)
        )],
        Evidence::BroaderThanUsed(e) => {
            let ops: Vec<String> = e.operations.iter().map(|(o, n)| format!("{o} x{n}")).collect();
            let mut v = vec![
                format!(
                    "holds {} at {}; used {} in {} days ({})",
                    e.role,
                    short_scope(&e.scope),
                    ops.join(", "),
                    e.window_days,
                    span(e.window_from.as_deref(), e.window_to.as_deref())
                ),
                format!(
                    "{}: {} at {} would do",
                    e.verdict.replace('_', " "),
                    e.least_role.as_deref().unwrap_or(&e.role),
                    short_scope(e.least_scope.as_deref().unwrap_or(&e.scope))
                ),
            ];
            v.extend(e.caution.iter().map(|c| format!("caution: {c}")));
            v
        }
        Evidence::UnusedAssignment(e) => {
            let mut v = vec![format!(
                "{} at {}: {}",
                e.role,
                short_scope(&e.scope),
                e.evidence
            )];
            v.extend(e.caution.iter().map(|c| format!("caution: {c}")));
            v
        }
        Evidence::AccessPolicyVault(e) => {
            let roles: Vec<String> = e.roles.iter().map(|(r, n)| format!("{r} x{n}")).collect();
            vec![format!(
                "access policies; {} principal(s) to grant before the switch ({}){}",
                e.principals,
                roles.join(", "),
                if e.uncovered > 0 {
                    format!("; {} operation(s) no built-in role grants", e.uncovered)
                } else {
                    String::new()
                }
            )]
        }
        Evidence::DormantObject(e) => {
            let mut v = vec![format!(
                "{} object(s) nobody read {}: {}",
                e.count,
                span(e.window_from.as_deref(), e.window_to.as_deref()),
                list(&e.objects, 5)
            )];
            v.extend(e.caution.iter().map(|c| format!("caution: {c}")));
            v
        }
    }
}

/// A denial's headline: what was denied to whom, where.
pub fn denial_headline(d: &Denial) -> String {
    let p = &d.principal;
    let who = who(
        p.name.as_deref(),
        p.upn.as_deref(),
        p.appid.as_deref(),
        p.oid.as_deref(),
    );
    let target = match (&d.vault, &d.object_name) {
        (Some(v), Some(o)) => format!("{v}/{o}"),
        (Some(v), None) => v.clone(),
        (None, Some(o)) => o.clone(),
        (None, None) => "a vault the text does not name".into(),
    };
    if p.kind == "unknown" && p.appid.is_none() && p.oid.is_none() && p.upn.is_none() {
        return format!(
            "a caller the text does not name was denied {} on {target}",
            d.operation.as_deref().unwrap_or("a request")
        );
    }
    format!(
        "{} {} was denied {} on {}",
        p.kind.replace('_', " "),
        who,
        d.operation.as_deref().unwrap_or("a request"),
        target
    )
}

/// The words of a command as kvaudit quotes them (single-quoted words may
/// hold spaces and `'\''`), for breaking a long command between them.
pub fn command_words(cmd: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in cmd.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                cur.push(c);
            }
            ' ' if !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// A command laid out to paste: on one line when it fits `width` (after
/// `indent`), else broken between arguments with ` \` (a flag stays with
/// its value), so pasting the lines runs the same command.
pub fn command_lines(cmd: &str, indent: &str, width: Option<usize>) -> String {
    let fits = width.is_none_or(|w| super::fit::width_of(indent) + super::fit::width_of(cmd) <= w);
    if cmd.starts_with('#') || fits {
        return format!("{indent}{cmd}\n");
    }
    let words = command_words(cmd);
    // Groups: the program and its subcommands, then each flag with its value.
    let mut groups: Vec<String> = Vec::new();
    for w in words {
        match groups.last_mut() {
            Some(g) if !w.starts_with("--") && !g.contains(" --") && !g.starts_with("--") => {
                g.push(' ');
                g.push_str(&w);
            }
            Some(g) if g.starts_with("--") && !g.contains(' ') && !w.starts_with("--") => {
                g.push(' ');
                g.push_str(&w);
            }
            _ => groups.push(w),
        }
    }
    let mut out = String::new();
    let last = groups.len().saturating_sub(1);
    for (i, g) in groups.iter().enumerate() {
        let lead = if i == 0 {
            indent.to_string()
        } else {
            format!("{indent}  ")
        };
        out.push_str(&lead);
        out.push_str(g);
        out.push_str(if i < last { " \\\n" } else { "\n" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_break_between_arguments() {
        let cmd = "az role assignment create --role 'Key Vault Secrets User' --assignee-object-id 8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44 --scope /subscriptions/x";
        let lines = command_lines(cmd, "    ", Some(60));
        assert!(
            lines.starts_with(
                "    az role assignment create \\\n      --role 'Key Vault Secrets User' \\\n"
            ),
            "{lines}"
        );
        let joined = lines
            .lines()
            .map(|l| l.trim().trim_end_matches(" \\"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(joined, cmd);
        assert_eq!(command_lines(cmd, "", None), format!("{cmd}\n"));
    }
}
