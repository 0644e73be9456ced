//! How Azure spells values in logs and API responses: the time formats,
//! `403`/`403.0` statuses, ARM ids and data-plane URIs, the tenant in a
//! denial description. Shared by every reader, the explanation of denials
//! and the online clients.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::borrow::Cow;

/// Trims; empty strings become None.
pub fn clean(s: Option<&str>) -> Option<&str> {
    Some(trim(s?)).filter(|s| !s.is_empty())
}

/// `str::trim`, skipping the Unicode-aware scan when the value starts and
/// ends with a visible ASCII character (nearly always).
pub fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let visible = |c: u8| c > b' ' && c < 0x7f;
    if b.first().copied().is_some_and(visible) && b.last().copied().is_some_and(visible) {
        return s;
    }
    s.trim()
}

/// Parses the time formats seen in exports: RFC 3339 (any number of
/// fractional digits), the portal's `5/25/2023, 4:32:49.469 AM`, and naive
/// ISO (taken as UTC).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = trim(s);
    if let Some(t) = strict_iso_time(s.as_bytes()) {
        return Some(t);
    }
    if let Some(t) = parse_portal_time(s) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // DuckDB's TIMESTAMPTZ as text: `2025-03-19 08:05:21.448+00`.
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%m/%d/%Y, %I:%M:%S%.f %p",
        "%m/%d/%Y %I:%M:%S%.f %p",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.fZ",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Fast path for the portal's `5/25/2023, 4:32:49.469 AM` (the format of
/// every row of a large CSV export): the canonical spelling read byte by
/// byte, anything else by [`parse_portal_time_split`].
fn parse_portal_time(s: &str) -> Option<DateTime<Utc>> {
    strict_portal_time(s.as_bytes()).or_else(|| parse_portal_time_split(s))
}

/// `M/D/YYYY, h:mm:ss[.f] AM|PM` with one or two digits for month, day and
/// hour, two for minutes and seconds, up to nine for the fraction; None for
/// any other spelling (including impossible dates), which the general
/// parser then reads.
/// Reads `min..=max` digits at `*i`.
fn digits(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *i;
    let mut v = 0u32;
    while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
        v = v * 10 + u32::from(b[*i] - b'0');
        *i += 1;
    }
    (*i - start >= min).then_some(v)
}

/// Whether `sep` is at `*i` (moving past it).
fn sep(b: &[u8], i: &mut usize, sep: &[u8]) -> Option<()> {
    let ok = b.get(*i..*i + sep.len()) == Some(sep);
    *i += sep.len();
    ok.then_some(())
}

/// An optional `.` and 1 to 9 fractional digits at `*i`, as nanoseconds.
fn fraction(b: &[u8], i: &mut usize) -> Option<u32> {
    if b.get(*i) != Some(&b'.') {
        return Some(0);
    }
    *i += 1;
    let start = *i;
    let f = digits(b, i, 1, 9)?;
    Some(f * 10u32.pow(9 - (*i - start) as u32))
}

/// `YYYY-MM-DD[T ]hh:mm:ss[.f][Z]` (what system tables, Spark and kvaudit
/// itself write; without a zone it is UTC), read byte by byte; None for
/// any other spelling (offsets, more digits), which the general parsers
/// then read.
fn strict_iso_time(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 19 || b[4] != b'-' {
        return None;
    }
    let i = &mut 0usize;
    let year = digits(b, i, 4, 4)?;
    sep(b, i, b"-")?;
    let month = digits(b, i, 2, 2)?;
    sep(b, i, b"-")?;
    let day = digits(b, i, 2, 2)?;
    if !matches!(b.get(*i), Some(b'T' | b' ')) {
        return None;
    }
    *i += 1;
    let hour = digits(b, i, 2, 2)?;
    sep(b, i, b":")?;
    let minute = digits(b, i, 2, 2)?;
    sep(b, i, b":")?;
    let second = digits(b, i, 2, 2)?;
    let nanos = fraction(b, i)?;
    match b.get(*i..)? {
        b"" | b"Z" => {}
        _ => return None,
    }
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

fn strict_portal_time(b: &[u8]) -> Option<DateTime<Utc>> {
    let i = &mut 0usize;
    let month = digits(b, i, 1, 2)?;
    sep(b, i, b"/")?;
    let day = digits(b, i, 1, 2)?;
    sep(b, i, b"/")?;
    let year = digits(b, i, 4, 4)?;
    sep(b, i, b", ")?;
    let hour12 = digits(b, i, 1, 2)?;
    sep(b, i, b":")?;
    let minute = digits(b, i, 2, 2)?;
    sep(b, i, b":")?;
    let second = digits(b, i, 2, 2)?;
    let nanos = fraction(b, i)?;
    if !(1..=12).contains(&hour12) {
        return None;
    }
    let hour = match b.get(*i..)? {
        b" AM" => hour12 % 12,
        b" PM" => hour12 % 12 + 12,
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// The portal format read by splitting (any digit counts, a sign).
fn parse_portal_time_split(s: &str) -> Option<DateTime<Utc>> {
    let (date, rest) = s.split_once(", ")?;
    let mut d = date.splitn(3, '/');
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let year: i32 = d.next()?.parse().ok()?;
    let (clock, ampm) = rest.split_once(' ')?;
    let mut c = clock.splitn(3, ':');
    let hour12: u32 = c.next()?.parse().ok()?;
    let minute: u32 = c.next()?.parse().ok()?;
    let sec_field = c.next()?;
    let (sec, frac) = sec_field.split_once('.').unwrap_or((sec_field, ""));
    let second: u32 = sec.parse().ok()?;
    if !(1..=12).contains(&hour12) || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
    };
    let hour = match ampm {
        "AM" => hour12 % 12,
        "PM" => hour12 % 12 + 12,
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// `403`, `403.0`, `"403"` → 403.
pub fn parse_status(s: &str) -> Option<u16> {
    let s = trim(s);
    if let Ok(v) = s.parse::<u16>() {
        return (100..=599).contains(&v).then_some(v);
    }
    let f: f64 = s.parse().ok()?;
    (f.fract() == 0.0 && (100.0..=599.0).contains(&f)).then_some(f as u16)
}

pub fn parse_bool(s: &str) -> Option<bool> {
    let s = trim(s);
    if s.eq_ignore_ascii_case("true") || s == "1" {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" {
        Some(false)
    } else {
        None
    }
}

/// `30m`, `24h`, `7d`, `2w` as a duration above zero.
pub fn parse_duration_short(s: &str) -> Option<chrono::Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    let d = match unit {
        "m" => chrono::Duration::try_minutes(n)?,
        "h" => chrono::Duration::try_hours(n)?,
        "d" => chrono::Duration::try_days(n)?,
        "w" => chrono::Duration::try_weeks(n)?,
        _ => return None,
    };
    (d > chrono::Duration::zero()).then_some(d)
}

pub fn parse_duration(s: &str) -> Option<i64> {
    let s = trim(s);
    s.parse::<i64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
    })
}

/// The vault name in an ARM id (`.../vaults/<name>` or
/// `.../managedHSMs/<name>`), lower-case.
pub fn vault_from_resource_id(id: &str) -> Option<String> {
    vault_of_resource_id(id).map(|(v, _)| v)
}

/// [`vault_from_resource_id`], and whether it is a Managed HSM.
pub fn vault_of_resource_id(id: &str) -> Option<(String, bool)> {
    let b = id.as_bytes();
    let (idx, len) = memchr::memchr_iter(b'/', b).find_map(|i| {
        let at = &b[i..];
        if at
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"/vaults/"))
        {
            Some((i, 8))
        } else if at
            .get(..13)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"/managedhsms/"))
        {
            Some((i, 13))
        } else {
            None
        }
    })?;
    let rest = &id[idx + len..];
    let name = rest.split(['/', '?']).next()?;
    (!name.is_empty()).then(|| (name.to_ascii_lowercase(), len == 13))
}

/// What follows the first `://` of a URI, up to a second one.
fn after_scheme(uri: &str) -> Option<&str> {
    let i = if uri.starts_with("https://") {
        5
    } else {
        memchr::memmem::find(uri.as_bytes(), b"://")?
    };
    let rest = &uri[i + 3..];
    // Nearly always no second `://` (not even a `:`).
    if memchr::memchr(b':', rest.as_bytes()).is_none() {
        return Some(rest);
    }
    Some(match memchr::memmem::find(rest.as_bytes(), b"://") {
        Some(j) => &rest[..j],
        None => rest,
    })
}

/// 8-4-4-4-12 hexadecimal digits.
pub fn is_guid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `s` starts with the lower-case ASCII `prefix`, in any case.
fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The vault name from a data-plane URI host (`<name>.vault.azure.net`) or an
/// ARM URI path.
pub fn vault_from_uri(uri: &str) -> Option<String> {
    vault_of_uri(uri).map(|(v, _)| v)
}

/// [`vault_from_uri`], and whether it is a Managed HSM.
pub fn vault_of_uri(uri: &str) -> Option<(String, bool)> {
    let after = after_scheme(uri).unwrap_or(uri);
    let host = after.split(['/', '?', ':']).next().unwrap_or("");
    if let Some((name, domain)) = host.split_once('.') {
        let hsm = starts_with_ci(domain, "managedhsm.");
        if starts_with_ci(domain, "vault.") || hsm {
            return (!name.is_empty()).then(|| (name.to_ascii_lowercase(), hsm));
        }
    }
    vault_of_resource_id(uri)
}

/// The non-empty `/`-separated segments of a path (as
/// `split('/').filter(|s| !s.is_empty())`, with memchr).
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'/', rest.as_bytes()).unwrap_or(rest.len());
        let seg = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        if !seg.is_empty() {
            return Some(seg);
        }
    })
}

/// Object type and name from a data-plane URI: `/secrets/<name>/<version>`.
pub fn object_from_uri(uri: &str) -> Option<(Cow<'static, str>, Option<&str>)> {
    let after = after_scheme(uri)?;
    let host = &after[..memchr::memchr(b'/', after.as_bytes()).unwrap_or(after.len())];
    if starts_with_ci(host, "management.") {
        return None;
    }
    let rest = &after[host.len()..];
    let path = &rest[..memchr::memchr(b'?', rest.as_bytes()).unwrap_or(rest.len())];
    let mut segs = segments(path);
    let kind = segs.next()?;
    const KINDS: [(&str, &str); 8] = [
        ("secrets", "secret"),
        ("keys", "key"),
        ("certificates", "certificate"),
        ("deletedsecrets", "deletedsecret"),
        ("deletedkeys", "deletedkey"),
        ("deletedcertificates", "deletedcertificate"),
        ("storage", "storage"),
        ("rng", "rng"),
    ];
    let Some((_, singular)) = KINDS.iter().find(|(k, _)| kind.eq_ignore_ascii_case(k)) else {
        return Some((Cow::Owned(kind.to_ascii_lowercase()), None));
    };
    let name = segs
        .next()
        .filter(|n| !n.eq_ignore_ascii_case("issuers") && !n.eq_ignore_ascii_case("contacts"));
    Some((Cow::Borrowed(singular), name))
}

/// Object type from the operation name, when no URI says it.
pub fn object_type_from_operation(op: &str) -> Option<&'static str> {
    let prefixes: [(&str, &str); 4] = [
        ("Secret", "secret"),
        ("Key", "key"),
        ("Certificate", "certificate"),
        ("Vault", "vault"),
    ];
    prefixes
        .iter()
        .find(|(p, _)| op.starts_with(p))
        .map(|(_, t)| *t)
        .or_else(|| (op == "Authentication").then_some("vault"))
}

/// Tenant id from the `iss=` of a denial description: the first
/// `iss=https://` of `sts.windows.net` or `login.microsoftonline.com`
/// followed by `/`, letters, digits or `-`, and `/` (what the regex
/// `iss=https://(?:sts\.windows\.net|login\.microsoftonline\.com)/([0-9A-Za-z-]+)/`
/// captures, found with memchr's substring search: this runs on every
/// failed request).
pub fn tenant_from_description(d: &str) -> Option<&str> {
    const ISS: &str = "iss=https://";
    for at in memchr::memmem::find_iter(d.as_bytes(), ISS) {
        let rest = &d[at + ISS.len()..];
        let Some(after) = ["sts.windows.net/", "login.microsoftonline.com/"]
            .iter()
            .find_map(|h| rest.strip_prefix(h))
        else {
            continue;
        };
        let n = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
            .count();
        if n > 0 && after.as_bytes().get(n) == Some(&b'/') {
            return Some(&after[..n]);
        }
    }
    None
}

/// Shortens a value quoted in an error message (never echo 10 MB back).
pub fn truncate(s: &str) -> String {
    if s.chars().count() <= 80 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(80).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_time_formats() {
        let a = parse_time("5/25/2023, 4:32:49.469 AM").unwrap();
        assert_eq!(crate::event::format_time(&a), "2023-05-25T04:32:49.469000Z");
        let b = parse_time("5/25/2023, 4:32:49.469 PM").unwrap();
        assert_eq!(crate::event::format_time(&b), "2023-05-25T16:32:49.469000Z");
        let c = parse_time("2024-02-01T10:34:54.5732801Z").unwrap();
        assert_eq!(crate::event::format_time(&c), "2024-02-01T10:34:54.573280Z");
        assert!(parse_time("yesterday").is_none());
        // DuckDB's TIMESTAMPTZ cast to text, offset in hours or minutes.
        for (text, utc) in [
            ("2025-03-19 08:05:21.448+00", "2025-03-19T08:05:21.448000Z"),
            ("2025-03-19 10:05:21+02", "2025-03-19T08:05:21.000000Z"),
            ("2025-03-19 08:35:21.5+00:30", "2025-03-19T08:05:21.500000Z"),
        ] {
            let t = parse_time(text).unwrap();
            assert_eq!(crate::event::format_time(&t), utc, "{text}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// Wherever the byte parser answers, the split parser agrees.
        #[test]
        fn strict_portal_time_equals_split_parser(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "5", "12", "31", "0", "2023", "20231", "/", ", ", ",", " ", ":", ".", "469",
                "1234567890", " AM", " PM", "AM", "XM", "a", "+1", "00", "07", "59", "2",
            ]), 0..14),
        ) {
            let s: String = parts.concat();
            if let Some(t) = strict_portal_time(s.as_bytes()) {
                proptest::prop_assert_eq!(Some(t), parse_portal_time_split(&s), "{}", s);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// Well-formed and out-of-range portal times: both parsers agree.
        #[test]
        fn portal_parsers_agree_on_structured_times(
            m in 0u32..14, d in 0u32..33, y in 1990u32..2100, h in 0u32..14,
            mi in 0u32..61, sec in 0u32..61, frac in proptest::option::of("[0-9]{1,10}"),
            pm in proptest::bool::ANY, pad in proptest::bool::ANY,
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let ampm = if pm { "PM" } else { "AM" };
            let s = if pad {
                format!("{m:02}/{d:02}/{y}, {h:02}:{mi:02}:{sec:02}{frac} {ampm}")
            } else {
                format!("{m}/{d}/{y}, {h}:{mi:02}:{sec:02}{frac} {ampm}")
            };
            proptest::prop_assert_eq!(parse_portal_time(&s), parse_portal_time_split(&s), "{}", s);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// ISO times with and without `T`, fraction and `Z`, in and out of
        /// range: the byte parser agrees with chrono's wherever it answers,
        /// and answers for every well-formed one.
        #[test]
        fn strict_iso_time_equals_chrono(
            y in 1990u32..2100, m in 0u32..14, d in 0u32..33, h in 0u32..25,
            mi in 0u32..61, sec in 0u32..61, frac in proptest::option::of("[0-9]{1,10}"),
            t in proptest::bool::ANY, z in proptest::bool::ANY,
        ) {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let s = format!(
                "{y}-{m:02}-{d:02}{}{h:02}:{mi:02}:{sec:02}{frac}{}",
                if t { "T" } else { " " },
                if z { "Z" } else { "" }
            );
            let general = NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%d %H:%M:%S%.f"))
                .ok()
                .map(|t| t.and_utc());
            match strict_iso_time(s.as_bytes()) {
                Some(fast) => proptest::prop_assert_eq!(Some(fast), general, "{}", s),
                None => proptest::prop_assert!(general.is_none() || frac.len() > 10 || sec == 60, "{}", s),
            }
        }
    }

    #[test]
    fn strict_portal_time_takes_the_canonical_spelling() {
        for s in [
            "5/25/2023, 4:32:49.469 AM",
            "12/31/2023, 12:00:00 PM",
            "1/1/2024, 1:02:03.1234567 PM",
        ] {
            assert!(strict_portal_time(s.as_bytes()).is_some(), "{s}");
            assert_eq!(
                strict_portal_time(s.as_bytes()),
                parse_portal_time_split(s),
                "{s}"
            );
        }
    }

    #[test]
    fn portal_fast_path_agrees_with_chrono() {
        for s in [
            "5/25/2023, 4:32:49.469 AM",
            "5/25/2023, 4:32:49 AM",
            "12/31/2023, 12:00:00.000 AM",
            "1/1/2024, 12:59:59.9999999 PM",
            "2/29/2024, 11:05:07.1 PM",
        ] {
            let slow = NaiveDateTime::parse_from_str(s, "%m/%d/%Y, %I:%M:%S%.f %p")
                .unwrap()
                .and_utc();
            assert_eq!(parse_portal_time(s), Some(slow), "{s}");
        }
        for bad in [
            "2/30/2024, 1:00:00 AM",
            "5/25/2023, 13:00:00 AM",
            "5/25/2023, 4:32:49.x AM",
            "5/25/2023, 4:32 XM",
        ] {
            assert_eq!(parse_portal_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_status_spellings() {
        assert_eq!(parse_status("403"), Some(403));
        assert_eq!(parse_status("403.0"), Some(403));
        assert_eq!(parse_status(" 200 "), Some(200));
        assert_eq!(parse_status("403.5"), None);
        assert_eq!(parse_status("Forbidden"), None);
        assert_eq!(parse_status("99999"), None);
    }

    /// The implementations before they stopped allocating, kept as the
    /// reference the fast ones are checked against.
    fn reference_vault_from_resource_id(id: &str) -> Option<String> {
        let lower = id.to_ascii_lowercase();
        let idx = lower.find("/vaults/")?;
        let rest = &lower[idx + "/vaults/".len()..];
        let name = rest.split(['/', '?']).next()?;
        (!name.is_empty()).then(|| name.to_string())
    }

    fn reference_vault_from_uri(uri: &str) -> Option<String> {
        let lower = uri.to_ascii_lowercase();
        let after_scheme = lower.split("://").nth(1).unwrap_or(&lower);
        let host = after_scheme.split(['/', '?', ':']).next().unwrap_or("");
        if let Some((name, domain)) = host.split_once('.') {
            if domain.starts_with("vault.") || domain.starts_with("managedhsm.") {
                return (!name.is_empty()).then(|| name.to_string());
            }
        }
        reference_vault_from_resource_id(&lower)
    }

    fn reference_object_from_uri(uri: &str) -> Option<(String, Option<String>)> {
        let after_scheme = uri.split("://").nth(1)?;
        let host = after_scheme.split('/').next()?.to_ascii_lowercase();
        if host.starts_with("management.") {
            return None;
        }
        let path = after_scheme[host.len()..].split('?').next().unwrap_or("");
        let mut segs = path.split('/').filter(|s| !s.is_empty());
        let kind = segs.next()?.to_ascii_lowercase();
        let singular = match kind.as_str() {
            "secrets" => "secret",
            "keys" => "key",
            "certificates" => "certificate",
            "deletedsecrets" => "deletedsecret",
            "deletedkeys" => "deletedkey",
            "deletedcertificates" => "deletedcertificate",
            "storage" => "storage",
            "rng" => "rng",
            other => return Some((other.to_string(), None)),
        };
        let name = segs
            .next()
            .filter(|n| !matches!(n.to_ascii_lowercase().as_str(), "issuers" | "contacts"))
            .map(str::to_string);
        Some((singular.to_string(), name))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// URIs and ids built from the pieces that matter, in any case.
        #[test]
        fn uri_parsing_equals_reference(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "https://", "https", "://", "kv-One", ".vault.azure.net", ".managedhsm.azure.net",
                "management.azure.com", "/", "?", ":", "secrets", "Keys", "deletedsecrets",
                "rng", "issuers", "Contacts", "x", "/VAULTS/", "/vaults/", ".", "é",
            ]), 0..10),
        ) {
            let s: String = parts.concat();
            proptest::prop_assert_eq!(vault_from_resource_id(&s), reference_vault_from_resource_id(&s), "{}", s);
            proptest::prop_assert_eq!(vault_from_uri(&s), reference_vault_from_uri(&s), "{}", s);
            let fast = object_from_uri(&s).map(|(t, n)| (t.into_owned(), n.map(str::to_string)));
            proptest::prop_assert_eq!(fast, reference_object_from_uri(&s), "{}", s);
        }
    }

    #[test]
    fn derives_vault_and_object() {
        assert_eq!(
            vault_from_resource_id(
                "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-ONE"
            ),
            Some("kv-one".into())
        );
        assert_eq!(
            vault_from_uri("https://kv-two.vault.azure.net/secrets/a?api-version=7.4"),
            Some("kv-two".into())
        );
        assert_eq!(
            object_from_uri("https://kv.vault.azure.net/secrets/db-pass/abc123"),
            Some(("secret".into(), Some("db-pass")))
        );
        assert_eq!(
            object_from_uri("https://kv.vault.azure.net/keys?api-version=7.0"),
            Some(("key".into(), None))
        );
        assert_eq!(
            object_from_uri("https://management.azure.com/subscriptions/x"),
            None
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        /// The substring search finds what the regex it replaced captures.
        #[test]
        fn tenant_search_equals_the_regex(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "iss=", "https://", "iss=https://", "sts.windows.net", "sts.windows.net/",
                "login.microsoftonline.com/", "login.microsoftonline.com", "/", "-",
                "72f988bf", "AbC-9", ";", " ", "é", "x", "iss=https://sts.windows.net/",
            ]), 0..12)
        ) {
            let d: String = parts.concat();
            let re = regex::Regex::new(
                r"iss=https://(?:sts\.windows\.net|login\.microsoftonline\.com)/([0-9A-Za-z-]+)/",
            ).unwrap();
            let want = re.captures(&d).and_then(|c| c.get(1)).map(|m| m.as_str());
            proptest::prop_assert_eq!(tenant_from_description(&d), want, "{:?}", d);
        }
    }

    #[test]
    fn tenant_from_iss() {
        let d = "Caller: appid=a;oid=b;iss=https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/";
        assert_eq!(
            tenant_from_description(d),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
    }
}
