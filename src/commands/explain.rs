//! `kvaudit explain`: every denial in the logs, or one pasted error, with
//! who needs which role at which scope and the exact command.

use super::args::{
    format_for, load_catalog, read_file, read_into, read_stdin, resolve_into, InputArgs,
    NamingArgs, OutputArgs, RowFormat, SelectArgs,
};
use super::Context;
use crate::analyze::explain::{assignments, explain_message, ExplainFold};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::limits;
use crate::output::note;
use crate::pipeline::Fields;
use crate::render::{renderer_for, View};
use clap::Args;

#[derive(Debug, Args)]
pub struct ExplainArgs {
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
    #[command(flatten)]
    select: SelectArgs,
    /// Output format (default table; or from the -o file's extension).
    #[arg(long, value_enum)]
    format: Option<RowFormat>,
    /// Show at most N denials (unresolved first, then the most frequent).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// JSON from `az role assignment list --all`: say what each denied principal already holds (wrong scope, missing action, propagation).
    #[arg(long, value_name = "FILE")]
    assignments: Option<String>,
    #[command(flatten)]
    naming: NamingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

pub(super) fn run(args: ExplainArgs, ctx: &Context) -> Result<Exit> {
    let input = InputArgs {
        paths: args.paths,
        skip_invalid: args.skip_invalid,
        stats: args.stats,
        select: args.select,
        window_in_fold: false,
    };
    // Nothing kvaudit writes may replace what it reads.
    let protected = [
        &input.paths[..],
        &args.naming.directory[..],
        args.assignments.as_slice(),
    ]
    .concat();
    let target = args.output.target(&protected)?;
    let format = format_for(args.format, args.output.single()?, RowFormat::Table)?;
    args.naming.resolve.cache(&protected)?;
    let mut catalog = load_catalog(&args.naming.directory)?;
    let held = match &args.assignments {
        Some(p) => assignments::parse(
            &read_file(p, limits::EXPORT_FILE, "a role assignment list")?,
            p,
        )?,
        None => Vec::new(),
    };
    let mut denials = match args.message {
        Some(m) => {
            let text = if m == "-" {
                read_stdin(limits::TOKEN, "an error message")?
            } else {
                m
            };
            match explain_message(&text, &catalog) {
                Some(f) => vec![f],
                None => {
                    return Err(Error::Other(
                        "this text is not a Key Vault authorization error: expected \"Caller is not authorized\" / ForbiddenByRbac, \"does not have ... permission on key vault\", or \"Client address is not authorized\"".into(),
                    ))
                }
            }
        }
        None => {
            // Streams: denials are grouped as they are read.
            let mut fold = ExplainFold::default();
            read_into(
                &input.named_by(&catalog, args.naming.resolve.resolve),
                &mut fold,
                Fields::Analysis,
            )?;
            resolve_into(
                &mut catalog,
                &args.naming.resolve,
                &fold.principals(),
                &protected,
            )?;
            let ex = fold.finish(&catalog);
            let n = &ex.not_denials;
            let other: Vec<String> = [
                (n.bearer_challenges, "bearer challenge(s) (401)"),
                (n.not_found, "not found (404)"),
                (n.conflict, "conflict(s) (409)"),
                (n.bad_request, "bad request(s) (400)"),
            ]
            .iter()
            .filter(|(c, _)| *c > 0)
            .map(|(c, what)| format!("{c} {what}"))
            .collect();
            if !other.is_empty() {
                note!("kvaudit: not denials, counted apart: {}", other.join(", "));
            }
            ex.denials
        }
    };
    assignments::apply(&mut denials, &held);
    // Unresolved first, then the most frequent: in every format.
    denials.sort_by(|a, b| {
        a.resolved_at
            .is_some()
            .cmp(&b.resolved_at.is_some())
            .then(b.count.cmp(&a.count))
    });
    let total = denials.len();
    if let Some(n) = args.limit {
        denials.truncate(n);
        if n < total {
            note!("kvaudit: {total} denials ({n} shown)");
        }
    }
    let renderer = renderer_for(format.into(), ctx.human(&target, false));
    target.write(&renderer.render(&View::Denials(&denials))?)?;
    Ok(Exit::Ok)
}
