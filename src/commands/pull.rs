//! `kvaudit pull`: runs the export query in a Log Analytics workspace and
//! writes the API response, which every command reads.

use super::args::{read_file, read_stdin, OutputArgs};
use super::Context;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::limits;
use crate::online::log_analytics::{
    parse_timespan, pull, token_from_env, PullConfig, AZDIAG_QUERY, AZKV_QUERY,
};
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Log Analytics workspace id (GUID).
    #[arg(long)]
    workspace: String,
    #[arg(long, value_enum, default_value_t = Table::Azurediagnostics)]
    table: Table,
    /// KQL file to run instead of the bundled export query.
    #[arg(long, value_name = "FILE")]
    query: Option<String>,
    /// How far back, ISO 8601 (P7D, PT24H).
    #[arg(long, default_value = "P7D")]
    timespan: String,
    /// Query API base URL.
    #[arg(long, default_value = "https://api.loganalytics.io")]
    endpoint: String,
    /// Read the bearer token from stdin (else KVAUDIT_TOKEN, else the az CLI).
    #[arg(long)]
    token_stdin: bool,
    /// Rows at which a response counts as truncated and the range is split.
    #[arg(long, default_value_t = 500_000)]
    row_limit: usize,
    /// Most requests to make while splitting the time range at the row limit.
    #[arg(long, default_value_t = crate::limits::PULL_REQUESTS)]
    max_requests: u32,
    /// Attempts per request on 429 and 5xx.
    #[arg(long, default_value_t = 5)]
    retries: u32,
    /// Seconds before one request times out.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Table {
    Azurediagnostics,
    Azkvauditlogs,
}

pub(super) fn run(args: PullArgs, _ctx: &Context) -> Result<Exit> {
    let target = args.output.target(&[])?;
    let query = match &args.query {
        Some(f) => read_file(f, limits::CONFIG_FILE, "a KQL query")?,
        None => match args.table {
            Table::Azurediagnostics => AZDIAG_QUERY.to_string(),
            Table::Azkvauditlogs => AZKV_QUERY.to_string(),
        },
    };
    let token = if args.token_stdin {
        read_stdin(limits::TOKEN, "a token")?.trim().to_string()
    } else {
        token_from_env()?
    };
    let to = chrono::Utc::now();
    let cfg = PullConfig {
        endpoint: args.endpoint,
        workspace: args.workspace,
        query,
        from: to - parse_timespan(&args.timespan)?,
        to,
        token,
        row_limit: args.row_limit.max(1),
        max_requests: args.max_requests.max(1),
        max_attempts: args.retries.max(1),
        timeout: std::time::Duration::from_secs(args.timeout),
        max_backoff: std::time::Duration::from_secs(60),
    };
    let resp = pull(&cfg)?;
    let mut bytes = serde_json::to_vec(&resp).map_err(|e| Error::Output(e.to_string()))?;
    bytes.push(b'\n');
    target.write(&bytes)?;
    Ok(Exit::Ok)
}
