//! Never panic, never lose a row: arbitrary input to every reader and
//! parser (proptest), and the accounting read = kept + skipped.

use crate::harness::*;
use kvaudit::ingest::{read_all, ReadOptions};
use proptest::prelude::*;

fn read_bytes(bytes: &[u8], skip: bool) -> Result<(u64, u64, u64), String> {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "input", bytes);
    match read_all(
        &[p],
        &ReadOptions {
            skip_invalid: skip,
            ..Default::default()
        },
    ) {
        Ok(ing) => {
            let kept = ing.events.len() as u64;
            let skipped: u64 = ing.rows_skipped().values().sum();
            Ok((ing.rows_read(), kept, skipped))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn seeds() -> Vec<Vec<u8>> {
    [
        "shapes/raw-records.jsonl",
        "shapes/azurediagnostics-portal.csv",
        "shapes/azkvauditlogs-api.json",
        "shapes/azurediagnostics-azcli.json",
    ]
    .iter()
    .map(|f| std::fs::read(fixture(f)).unwrap())
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_bytes(&bytes, false);
        let _ = read_bytes(&bytes, true);
    }

    #[test]
    fn mutated_exports_never_panic_and_account_for_every_row(seed in 0usize..4, pos in any::<prop::sample::Index>(), len in 0usize..64, fill in any::<u8>()) {
        let mut b = seeds()[seed].clone();
        let start = pos.index(b.len());
        let end = (start + len).min(b.len());
        for x in &mut b[start..end] {
            *x = fill;
        }
        if let Ok((read, kept, skipped)) = read_bytes(&b, true) {
            prop_assert_eq!(read, kept + skipped);
        }
    }

    #[test]
    fn description_parser_never_panics(s in ".{0,400}") {
        let _ = kvaudit::analyze::explain::parse_description(&s);
    }

    #[test]
    fn token_errors_never_echo_input(s in "[A-Za-z0-9_.-]{0,200}") {
        if let Err(e) = kvaudit::identify::token::parse(&s) {
            let msg = e.to_string();
            for part in s.split('.').filter(|p| p.len() >= 6) {
                prop_assert!(!msg.contains(part));
            }
        }
    }
}

#[test]
fn stats_account_for_every_row() {
    let (read, kept, skipped) = read_bytes(
        &std::fs::read(fixture("shapes/azurediagnostics-portal.csv")).unwrap(),
        false,
    )
    .unwrap();
    assert_eq!((read, kept, skipped), (14, 13, 1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// `--redact`: for any generated population (identifiers depend on the
    /// seed), no upn, oid, IP, tenant, subscription or non-Microsoft appid of
    /// the input survives in any report format.
    #[test]
    fn redacted_reports_hold_no_original_identifier(seed in 0u64..1_000_000) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("logs.jsonl").to_string_lossy().into_owned();
        let out = kvaudit(&["synth", "--rows", "400", "--shape", "raw-jsonl", "--seed", &seed.to_string(), "-o", &p]);
        prop_assert_eq!(out.code, 0);
        let catalog = kvaudit::identify::Catalog::bundled();
        let mut originals = std::collections::BTreeSet::new();
        for e in jsonl(&kvaudit(&["events", &p]).stdout) {
            for k in ["caller_upn", "caller_oid", "caller_ip", "caller_tenant"] {
                if let Some(v) = e[k].as_str() {
                    originals.insert(v.to_ascii_lowercase());
                }
            }
            if let Some(a) = e["caller_appid"].as_str().filter(|a| catalog.microsoft_app(a).is_none()) {
                originals.insert(a.to_ascii_lowercase());
            }
        }
        originals.insert("7d3b2c1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d".into());
        prop_assert!(originals.len() > 50);
        for format in ["json", "markdown", "html"] {
            let out = kvaudit(&["report", "--redact", "--format", format, &p]);
            prop_assert_eq!(out.code, 0, "{}", out.stderr);
            let text = out.stdout.to_ascii_lowercase();
            for o in &originals {
                prop_assert!(!text.contains(o.as_str()), "{} survived in {}", o, format);
            }
        }
    }
}
