//! Command-line arguments (clap derive). Only parsing lives here; the
//! validated [`crate::config`] is what the library sees.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kvaudit",
    version,
    about = "Who is really calling your Azure Key Vault, as which identity, and why was it denied?",
    max_term_width = 100,
    after_help = "Exit codes: 0 ok, 1 error, 2 usage error, 3 findings at or above --fail-on.\nInputs: Key Vault AuditEvent logs as raw records (PT1H.json, JSON Lines), or AzureDiagnostics / AZKVAuditLogs exported from Log Analytics (CSV, JSON, API response). - reads stdin; a directory is walked."
)]
pub struct Cli {
    /// When to use colour: auto honours NO_COLOR and whether stdout is a terminal.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    pub color: ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// Log exports to read: files, directories (walked), or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Skip malformed records (counted and reported on stderr) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Print rows read, kept and skipped (by reason) to stderr.
    #[arg(long)]
    pub stats: bool,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write to FILE instead of stdout (atomically; - means stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<String>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Online name resolution through Microsoft Graph.
#[derive(Debug, Args, Clone)]
pub struct ResolveArgs {
    /// Ask Microsoft Graph for names, servicePrincipalType and accountEnabled (token: KVAUDIT_GRAPH_TOKEN or the az CLI).
    #[arg(long)]
    pub resolve: bool,
    /// Microsoft Graph base URL.
    #[arg(
        long,
        default_value = "https://graph.microsoft.com",
        value_name = "URL"
    )]
    pub graph_endpoint: String,
    /// Cache file for Graph answers (default ~/.cache/kvaudit/graph.json).
    #[arg(long, value_name = "FILE")]
    pub resolve_cache: Option<String>,
    /// Hours a cached answer stays valid.
    #[arg(long, default_value_t = 24)]
    pub resolve_ttl_hours: i64,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum EventsFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CallersFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExplainFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Table,
    Json,
    Markdown,
    Html,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Level {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TokenFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Table {
    Azurediagnostics,
    Azkvauditlogs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write every input as canonical events (one clean table from any export).
    Events {
        #[command(flatten)]
        input: InputArgs,
        #[arg(long, value_enum, default_value_t = EventsFormat::Jsonl)]
        format: EventsFormat,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One row per caller identity: kind, events, denials, vaults, objects, clients.
    Callers {
        #[command(flatten)]
        input: InputArgs,
        #[arg(long, value_enum, default_value_t = CallersFormat::Table)]
        format: CallersFormat,
        /// JSON from `az ad sp list --all` / `az ad user list` to name principals (repeatable).
        #[arg(long, value_name = "FILE")]
        directory: Vec<String>,
        #[command(flatten)]
        resolve: ResolveArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Explain every denial: who needs which role or permission, at which scope, with the exact command.
    Explain {
        /// Log exports to read (files, directories, or - for stdin).
        #[arg(value_name = "PATH", required_unless_present = "message")]
        paths: Vec<String>,
        /// Explain a pasted error message instead of logs (- reads stdin).
        #[arg(long, value_name = "TEXT", conflicts_with = "paths")]
        message: Option<String>,
        /// Skip malformed records (counted and reported on stderr) instead of stopping at the first.
        #[arg(long)]
        skip_invalid: bool,
        /// Print rows read, kept and skipped (by reason) to stderr.
        #[arg(long)]
        stats: bool,
        #[arg(long, value_enum, default_value_t = ExplainFormat::Table)]
        format: ExplainFormat,
        /// JSON from `az ad sp list --all` / `az ad user list` to name principals (repeatable).
        #[arg(long, value_name = "FILE")]
        directory: Vec<String>,
        /// JSON from `az role assignment list --all`: say what each denied principal already holds (wrong scope, missing action, propagation).
        #[arg(long, value_name = "FILE")]
        assignments: Option<String>,
        #[command(flatten)]
        resolve: ResolveArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Findings for security reviews and scheduled compliance runs.
    Report {
        #[command(flatten)]
        input: InputArgs,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
        /// Policy file (kvaudit.toml): allowed user-bound principals, thresholds, severities, ignored principals.
        #[arg(long, value_name = "FILE")]
        policy: Option<String>,
        /// Exit 3 when a finding at or above this severity remains.
        #[arg(long, value_enum)]
        fail_on: Option<Level>,
        /// Replace upns, oids, tenant-principal appids, IPs, tenant and subscription ids with stable pseudonyms.
        #[arg(long)]
        redact: bool,
        /// A previous report (JSON): principals absent from it are new callers.
        #[arg(long, value_name = "FILE")]
        baseline: Option<String>,
        /// Only events in the last DURATION (30d, 12h, 2w), counted back from now.
        #[arg(long, value_name = "DURATION", conflicts_with = "from")]
        since: Option<String>,
        /// Only events at or after this date/time (2025-03-01 or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Only events before this date/time.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_name = "FILE")]
        directory: Vec<String>,
        #[command(flatten)]
        resolve: ResolveArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Decode an access token (from stdin, --file or KVAUDIT_TOKEN) and tie it to the logs.
    Token {
        /// The token itself (discouraged: command lines are visible to other users).
        #[arg(value_name = "TOKEN")]
        token: Option<String>,
        /// Read the token from FILE.
        #[arg(long, value_name = "FILE")]
        file: Option<String>,
        /// Verify the signature, issuer, audience and times.
        #[arg(long)]
        verify: bool,
        /// JWKS file to verify with (default: fetched by OpenID discovery).
        #[arg(long, value_name = "FILE")]
        jwks: Option<String>,
        /// Authority base URL for discovery.
        #[arg(
            long,
            default_value = "https://login.microsoftonline.com",
            value_name = "URL"
        )]
        authority: String,
        /// Expected audience when verifying.
        #[arg(long, default_value = "https://vault.azure.net")]
        audience: String,
        /// Logs to search for this identity's events.
        #[arg(long, value_name = "PATH", num_args = 1..)]
        logs: Vec<String>,
        #[arg(long, value_enum, default_value_t = TokenFormat::Table)]
        format: TokenFormat,
    },
    /// Generate realistic audit logs of any size (benchmarks, demos), deterministic for a seed.
    Synth {
        /// Number of requests to generate.
        #[arg(long, default_value_t = 10_000)]
        rows: u64,
        /// Export shape to write.
        #[arg(long, value_enum, default_value_t = crate::synth::SynthShape::AzdiagCsv)]
        shape: crate::synth::SynthShape,
        /// Seed: the same seed always writes the same file.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days of activity (from 2025-03-01).
        #[arg(long, default_value_t = 28)]
        days: u32,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Run the export query in a Log Analytics workspace and write the API response (readable by every command).
    Pull {
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
        /// Attempts per request on 429 and 5xx.
        #[arg(long, default_value_t = 5)]
        retries: u32,
        /// Seconds before one request times out.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
        #[command(flatten)]
        output: OutputArgs,
    },
}
