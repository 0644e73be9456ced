//! `kvaudit synth`: realistic, deterministic logs of any size.

use super::args::{emit, OutputArgs};
use super::Context;
use crate::error::Result;
use crate::exit::Exit;
use crate::synth::{synth, SynthConfig, SynthShape};
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
    #[command(flatten)]
    output: OutputArgs,
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
    };
    emit(&target, |w: &mut dyn Write| synth(&cfg, w))?;
    Ok(Exit::Ok)
}
