//! Where output goes: stdout (data) or a file written atomically (temporary
//! file, then rename), never over an existing file unless asked, never over
//! one of the inputs. Also decides colour, and is the one place that
//! prints: data to stdout, messages to stderr.

use crate::error::{Error, Result};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub enum Target {
    Stdout,
    File { path: PathBuf, force: bool },
}

impl Target {
    /// Validates `-o FILE` against the inputs before any work is done.
    pub fn new(output: Option<&str>, force: bool, inputs: &[String]) -> Result<Self> {
        let Some(o) = output.filter(|o| *o != "-") else {
            return Ok(Target::Stdout);
        };
        let path = PathBuf::from(o);
        let canon_out = std::fs::canonicalize(&path).ok();
        for i in inputs {
            if i == "-" {
                continue;
            }
            if let (Some(a), Ok(b)) = (&canon_out, std::fs::canonicalize(i)) {
                if *a == b || a.starts_with(&b) {
                    return Err(Error::Usage(format!(
                        "refusing to write {o}: it is one of the inputs"
                    )));
                }
            }
        }
        if path.exists() && !force {
            return Err(Error::Usage(format!(
                "{o} already exists; pass --force to replace it"
            )));
        }
        Ok(Target::File { path, force })
    }

    pub fn is_stdout(&self) -> bool {
        matches!(self, Target::Stdout)
    }

    /// Writes all bytes: to stdout, or to a temporary file renamed over FILE.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        match self {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)
                    .and_then(|_| out.flush())
                    .map_err(|e| Error::io("<stdout>", e))
            }
            Target::File { path, force } => write_atomic(path, *force, |w| w.write_all(bytes)),
        }
    }
}

/// Writes through `f` to a temporary file beside `path`, then renames it.
pub fn write_atomic(
    path: &Path,
    force: bool,
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    if path.exists() && !force {
        return Err(Error::Usage(format!(
            "{} already exists; pass --force to replace it",
            path.display()
        )));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.kvaudit-{}.tmp", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        f(&mut w)?;
        w.flush()?;
        w.into_inner()
            .map_err(std::io::IntoInnerError::into_error)?
            .sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// Colour on stdout: `always`, `never`, or auto (a terminal and no NO_COLOR).
pub fn use_color(when: ColorWhen) -> bool {
    use ColorWhen::*;
    match when {
        Always => true,
        Never => false,
        Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// A message line on stderr: `note!("kvaudit: ...")`. Messages, warnings
/// and progress never go to stdout, which is data that may be piped.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use note;

/// Writes to stderr; a failed write (stderr closed) is not an error.
pub fn stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}
