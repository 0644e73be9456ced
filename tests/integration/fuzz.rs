//! Bounded-time fuzzing with proptest (cargo-fuzz needs a nightly toolchain,
//! which this project does not require). Each target runs until its time is
//! up (`KVAUDIT_FUZZ_SECONDS`, default 2 so the normal test run stays quick;
//! `scripts/fuzz.sh` runs longer). A failing input is shrunk by proptest,
//! saved under `tests/fuzz-regressions/<target>/`, and replayed by
//! `regressions_replay_clean` on every test run from then on.

use kvaudit::ingest::{read_bytes, ReadOptions};
use kvaudit::pipeline::Fields;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The targets: each takes arbitrary bytes and must not panic; where it
/// reads, read = kept + skipped must hold.
fn run_target(name: &str, input: &[u8]) -> Result<(), TestCaseError> {
    match name {
        // Shape detection and every reader; `la_response` starts from Log
        // Analytics query API responses (what `pull` writes).
        "ingest" | "la_response" => {
            for (skip, detail) in [
                (false, Fields::Full),
                (true, Fields::Full),
                (true, Fields::Analysis),
                (true, Fields::Callers),
            ] {
                let opts = ReadOptions {
                    skip_invalid: skip,
                    fields: detail,
                    ..Default::default()
                };
                if let Ok(ing) = read_bytes("fuzz", input.to_vec(), &opts) {
                    let skipped: u64 = ing.rows_skipped().values().sum();
                    prop_assert_eq!(ing.rows_read(), ing.rows_kept() + skipped);
                    prop_assert_eq!(ing.rows_kept(), ing.events.len() as u64);
                }
            }
        }
        "description" => {
            let text = String::from_utf8_lossy(input);
            let _ = kvaudit::analyze::explain::parse_description(&text);
            let catalog = kvaudit::identify::Catalog::bundled();
            let _ = kvaudit::analyze::explain::explain_message(&text, &catalog);
        }
        "jwt" => {
            let text = String::from_utf8_lossy(input);
            if let Err(e) = kvaudit::identify::token::parse(&text) {
                let msg = e.to_string();
                for part in text.split('.').filter(|p| p.len() >= 8) {
                    prop_assert!(!msg.contains(part), "error echoes the token: {msg}");
                }
            }
        }
        other => panic!("unknown fuzz target {other}"),
    }
    Ok(())
}

const TARGETS: &[&str] = &["ingest", "la_response", "description", "jwt"];

fn regressions_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files: &[&str] = match target {
        "ingest" => &[
            "fixtures/shapes/raw-records.jsonl",
            "fixtures/shapes/raw-records-PT1H.json",
            "fixtures/shapes/azurediagnostics-portal.csv",
            "fixtures/shapes/azkvauditlogs-portal.csv",
            "fixtures/shapes/azurediagnostics-api.json",
            "fixtures/shapes/azkvauditlogs-api.json",
            "fixtures/shapes/azurediagnostics-azcli.json",
            "fixtures/shapes/azurediagnostics-value.json",
        ],
        "la_response" => &[
            "fixtures/shapes/azurediagnostics-api.json",
            "fixtures/shapes/azkvauditlogs-api.json",
        ],
        _ => &[],
    };
    let mut out: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(root.join(f)).unwrap())
        .collect();
    if target == "description" {
        out.push(b"Caller: appid=3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55;oid=8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44;iss=https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/ Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action' Resource: '/subscriptions/x/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv/secrets/db' Assignment: (not found) DecisionReason: 'DeniedWithNoValidRBAC' Vault: kv;location=westeurope".to_vec());
        out.push(b"The user, group or application 'appid=a;oid=b;iss=https://sts.windows.net/t/' does not have secrets get permission on key vault 'kv;location=westeurope'.".to_vec());
    }
    if target == "jwt" {
        out.push(b"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL3ZhdWx0LmF6dXJlLm5ldCIsImFwcGlkIjoiYSJ9.c2lnbmF0dXJl".to_vec());
    }
    out
}

/// Inputs: arbitrary bytes, and seeds with a run of bytes overwritten or a
/// slice cut out (most of the interesting structure survives).
fn strategy(target: &str) -> BoxedStrategy<Vec<u8>> {
    let s = seeds(target);
    let arbitrary = proptest::collection::vec(any::<u8>(), 0..4096).boxed();
    if s.is_empty() {
        return arbitrary;
    }
    let n = s.len();
    let mutated = (
        0..n,
        any::<prop::sample::Index>(),
        0usize..96,
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(move |(i, pos, len, fill, cut)| {
            let mut b = s[i].clone();
            let start = pos.index(b.len().max(1)).min(b.len());
            let end = (start + len).min(b.len());
            if cut {
                b.drain(start..end);
            } else {
                for x in &mut b[start..end] {
                    *x = fill;
                }
            }
            b
        })
        .boxed();
    prop_oneof![1 => arbitrary, 3 => mutated].boxed()
}

fn fuzz(target: &str) {
    let secs: u64 = std::env::var("KVAUDIT_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let strategy = strategy(target);
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config {
            cases: 32,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, |input| run_target(target, &input)) {
            let dir = regressions_dir(target);
            std::fs::create_dir_all(&dir).unwrap();
            let detail = format!("{e}");
            let input = match e {
                proptest::test_runner::TestError::Fail(_, input) => input,
                proptest::test_runner::TestError::Abort(_) => Vec::new(),
            };
            let name = format!("crash-{:016x}", fxhash(&input));
            std::fs::write(dir.join(&name), &input).unwrap();
            panic!("fuzz target {target} failed; input saved as tests/fuzz-regressions/{target}/{name}: {detail}");
        }
        rounds += 1;
    }
    // The fuzz script reads this summary.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("fuzz {target}: {} cases in {secs}s, clean", rounds * 32);
    }
}

fn fxhash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, x| {
        (h ^ *x as u64).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn fuzz_ingest() {
    fuzz("ingest");
}

#[test]
fn fuzz_la_response() {
    fuzz("la_response");
}

#[test]
fn fuzz_description() {
    fuzz("description");
}

#[test]
fn fuzz_jwt() {
    fuzz("jwt");
}

/// Every input that ever failed is replayed.
#[test]
fn regressions_replay_clean() {
    let mut replayed = 0;
    for target in TARGETS {
        let Ok(entries) = std::fs::read_dir(regressions_dir(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            run_target(target, &input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} saved fuzz input(s)");
}
