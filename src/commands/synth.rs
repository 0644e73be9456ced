//! `kvaudit synth`: realistic, deterministic logs of any size.

use super::args::{emit, OutputArgs};
use super::Context;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::synth::{synth, SynthConfig, SynthProfile, SynthShape};
use clap::{Args, ValueEnum};
use std::io::Write;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of requests to generate.
    #[arg(long, default_value_t = 10_000)]
    rows: u64,
    /// Export shape to write.
    #[arg(long, value_enum, default_value_t = Shape::AzdiagCsv)]
    shape: Shape,
    /// Seed: the same seed always writes the same file.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Days of activity (from 2025-03-01).
    #[arg(long, default_value_t = 28)]
    days: u32,
    /// Give this percentage of records real-world oddities: Activity Log and policy records between them, control-plane records without a status, identities as JSON text, flattened claims, 7-digit times with offsets (raw-jsonl; azdiag-csv gets other categories' rows).
    #[arg(long, value_name = "PERCENT", num_args = 0..=1, default_missing_value = "5")]
    messy: Option<f64>,
    /// The mix: `default` (about 195 callers, denials from a few retried misconfigurations) or `denials` (about 2,000 callers of which a few dominate, 3% 403s spread across callers, vaults and secrets: about 10,000 findings at 1M rows).
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    profile: Profile,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Profile {
    Default,
    Denials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Shape {
    /// AzureDiagnostics exported from the portal as CSV.
    AzdiagCsv,
    /// AZKVAuditLogs as a Log Analytics query API response.
    AzkvApi,
    /// Raw diagnostic records as JSON Lines (storage-account export).
    RawJsonl,
}

pub(super) fn run(args: SynthArgs, _ctx: &Context) -> Result<Exit> {
    let target = args.output.target(&[])?;
    let cfg = SynthConfig {
        rows: args.rows,
        shape: match args.shape {
            Shape::AzdiagCsv => SynthShape::AzdiagCsv,
            Shape::AzkvApi => SynthShape::AzkvApi,
            Shape::RawJsonl => SynthShape::RawJsonl,
        },
        seed: args.seed,
        days: args.days,
        profile: match args.profile {
            Profile::Default => SynthProfile::Default,
            Profile::Denials => SynthProfile::Denials,
        },
        messy: match args.messy {
            None => 0.0,
            Some(p) if (0.0..=100.0).contains(&p) && args.shape != Shape::AzkvApi => p / 100.0,
            Some(_) if args.shape == Shape::AzkvApi => {
                return Err(Error::Usage(
                    "--messy applies to --shape raw-jsonl and azdiag-csv".into(),
                ))
            }
            Some(p) => {
                return Err(Error::Usage(format!(
                    "--messy: expected a percentage from 0 to 100, found {p}"
                )))
            }
        },
    };
    emit(&target, |w: &mut dyn Write| synth(&cfg, w))?;
    Ok(Exit::Ok)
}
