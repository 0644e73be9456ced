//! The subcommands. Each file owns its clap arguments and a `run` that turns
//! them into validated library options, calls the library and says what
//! the process exits with. [`Cli`] is the whole command line.

mod access;
mod args;
mod attribute;
mod callers;
mod events;
mod explain;
mod plan_rbac;
mod pull;
mod report;
mod rights;
mod shell;
mod synth;
mod token;

use crate::error::Result;
use crate::exit::Exit;
use crate::output::{use_color, ColorWhen};
use clap::{Parser, Subcommand, ValueEnum};

/// `--version`: the package version, and the commit and date built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KVAUDIT_BUILD"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "kvaudit",
    version = VERSION,
    about = "Who is really calling your Azure Key Vault, as which identity, and why was it denied?",
    max_term_width = 100,
    after_help = "Exit codes: 0 ok, 1 error, 2 usage error, 3 findings at or above --fail-on.\nInputs: Key Vault AuditEvent logs as raw records (PT1H.json, JSON Lines), or AzureDiagnostics / AZKVAuditLogs exported from Log Analytics (CSV, JSON, API response). - reads stdin; a directory is walked."
)]
pub struct Cli {
    /// When to use colour: auto honours NO_COLOR, CLICOLOR_FORCE and whether stdout is a terminal (the width comes from COLUMNS or the terminal).
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, global = true)]
    pub color: ColorArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

impl From<ColorArg> for ColorWhen {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Auto => ColorWhen::Auto,
            ColorArg::Always => ColorWhen::Always,
            ColorArg::Never => ColorWhen::Never,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write every input as canonical events (one clean table from any export).
    #[command(
        after_help = "Examples:\n  kvaudit events insights-logs-auditevent/ > events.jsonl\n  kvaudit events export.csv --format csv -o events.csv\n  kvaudit events logs/ --since 7d --status 403 | jq .caller_upn"
    )]
    Events(events::EventsArgs),
    /// One row per caller identity: kind, events, denials, vaults, objects, clients.
    #[command(
        after_help = "Examples:\n  kvaudit callers fixtures/shapes/azurediagnostics-portal.csv\n  kvaudit callers logs/ --kind user --sort last-seen --limit 20 --wide\n  kvaudit callers export.csv --directory sp.json -o callers.csv"
    )]
    Callers(callers::CallersArgs),
    /// Explain every denial: who needs which role or permission, at which scope, with the exact command.
    #[command(
        after_help = "Examples:\n  kvaudit explain fixtures/scenarios/s2-airflow-spn-forbidden.jsonl\n  kvaudit explain --message \"Caller: appid=3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55;oid=8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44 Action: Microsoft.KeyVault/vaults/secrets/getSecret/action ForbiddenByRbac\"\n  kvaudit explain logs/ --vault kv-data-prod --since 24h --format markdown"
    )]
    Explain(explain::ExplainArgs),
    /// Who read each secret, key and certificate, and when last (or, --by caller, what each caller read).
    #[command(
        after_help = "Examples:\n  kvaudit access fixtures/scenarios/s1-s9-three-weeks.jsonl\n  kvaudit access logs/ --by caller --kind user\n  kvaudit access logs/ --objects secrets.json --format json -o access.json\n\nA read is a successful operation that returns or uses the object: SecretGet (and, for a\ncertificate, a read of the secret of the same name, which returns its private key), KeyGet and\nCertificateGet (public material), and key operations (sign, decrypt, unwrap...). Lists and\nattributes are counted apart, as metadata."
    )]
    Access(access::AccessArgs),
    /// Role assignments against use: who holds a broader role or scope than the logs show they use.
    #[command(
        after_help = "Examples:\n  kvaudit rights fixtures/rights/rights.jsonl --assignments fixtures/rights/assignments.json\n  az role assignment list --all -o json > assignments.json && kvaudit rights logs/ --since 90d --assignments assignments.json\n\nVerdicts: broader_than_used (the role grants more than was used), scope_broader_than_used\n(the right role over more objects than used), unused (no call the role serves in the window),\nnot_data_plane (Owner, Contributor...: no data action), least. Group assignments and custom\nroles are not judged (said on stderr)."
    )]
    Rights(rights::RightsArgs),
    /// What an access-policy vault needs before it is switched to Azure RBAC: a role per principal, then the switch.
    #[command(
        name = "plan-rbac",
        after_help = "Examples:\n  kvaudit plan-rbac fixtures/access/events.jsonl\n  kvaudit plan-rbac logs/ --vault kv-legacy --since 90d --vault-json kv-legacy.json\n\nOnly vaults whose records carry isAccessPolicyMatch are planned (never one whose records carry\nisRbacAuthorized). Each principal gets the least built-in role covering the data actions it\nused, at the vault; run the switch only after the grants have propagated."
    )]
    PlanRbac(plan_rbac::PlanRbacArgs),
    /// Name the person behind the AzureDatabricks application: join the workspace's secrets audit with the vault's log.
    #[command(
        after_help = "Examples:\n  kvaudit attribute fixtures/databricks/vault.jsonl --databricks fixtures/databricks/databricks-secrets.csv --scopes fixtures/databricks/scopes.json\n  kvaudit attribute logs/ --databricks audit.jsonl --tolerance 10 --format json\n\nEach successful SecretGet by AzureDatabricks (2ff814a6-3304-4ab8-85cb-cd0e6f879c1d) is matched to\nthe getSecret of the same scope's vault and key closest in time within --tolerance seconds (default\n5), one to one; reads without one are unattributed, reads an event matches equally are ambiguous."
    )]
    Attribute(attribute::AttributeArgs),
    /// Findings for security reviews and scheduled compliance runs.
    #[command(
        after_help = "Examples:\n  kvaudit report logs/ --from 2026-03 --to 2026-04 -o march.html\n  kvaudit report logs/ --since 30d --fail-on medium --format json -o report.json\n  kvaudit report logs/ --redact --redact-key ~/.config/kvaudit.key --format markdown"
    )]
    Report(report::ReportArgs),
    /// Decode an access token (from stdin, --file or KVAUDIT_TOKEN) and tie it to the logs.
    #[command(
        after_help = "Examples:\n  az account get-access-token --resource https://vault.azure.net --query accessToken -o tsv | kvaudit token\n  kvaudit token --file token.txt --verify --tenant 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a\n  kvaudit token --file token.txt --logs logs/"
    )]
    Token(token::TokenArgs),
    /// Generate realistic audit logs of any size (benchmarks, demos), deterministic for a seed.
    #[command(
        after_help = "Examples:\n  kvaudit synth --rows 50000 -o synth.csv\n  kvaudit synth --rows 1000000 --shape raw-jsonl --messy -o messy.jsonl"
    )]
    Synth(synth::SynthArgs),
    /// Run the export query in a Log Analytics workspace and write the API response (readable by every command).
    #[command(
        after_help = "Examples:\n  kvaudit pull --workspace <workspace-id> --timespan 7d -o week.json\n  kvaudit pull --workspace <workspace-id> --timespan P1D -o - | kvaudit callers -"
    )]
    Pull(pull::PullArgs),
    /// Print shell completions (bash, zsh, fish, powershell, elvish) to stdout.
    #[command(
        after_help = "Examples:\n  kvaudit completions bash > ~/.local/share/bash-completion/completions/kvaudit\n  kvaudit completions zsh > \"${fpath[1]}/_kvaudit\""
    )]
    Completions(shell::CompletionsArgs),
    /// Print the man page (roff) to stdout.
    #[command(
        after_help = "Examples:\n  kvaudit man > ~/.local/share/man/man1/kvaudit.1\n  kvaudit man | man -l -"
    )]
    Man(shell::ManArgs),
}

/// What every command may use besides its own arguments.
pub struct Context {
    /// Whether stdout may be coloured (`--color`, `NO_COLOR`,
    /// `CLICOLOR_FORCE`, a terminal).
    pub color: bool,
    /// The terminal's width (`COLUMNS`), None when stdout is not one.
    pub width: Option<usize>,
}

impl Context {
    /// How human views are shown on `target`: a file gets no colour and
    /// no width.
    pub fn human(&self, target: &crate::output::Target, wide: bool) -> crate::render::Human {
        let stdout = target.is_stdout();
        crate::render::Human {
            color: self.color && stdout,
            width: self.width.filter(|_| stdout),
            wide,
        }
    }
}

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<Exit> {
    let ctx = Context {
        color: use_color(cli.color.into()),
        width: crate::output::width(),
    };
    match cli.command {
        Command::Events(a) => events::run(a, &ctx),
        Command::Callers(a) => callers::run(a, &ctx),
        Command::Explain(a) => explain::run(a, &ctx),
        Command::Report(a) => report::run(a, &ctx),
        Command::Access(a) => access::run(a, &ctx),
        Command::Attribute(a) => attribute::run(a, &ctx),
        Command::Rights(a) => rights::run(a, &ctx),
        Command::PlanRbac(a) => plan_rbac::run(a, &ctx),
        Command::Token(a) => token::run(a, &ctx),
        Command::Synth(a) => synth::run(a, &ctx),
        Command::Pull(a) => pull::run(a, &ctx),
        Command::Completions(a) => shell::completions(a, &ctx),
        Command::Man(a) => shell::man(a, &ctx),
    }
}
