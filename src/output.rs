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
        check_output(&path, force, inputs, "")?;
        Ok(Target::File { path, force })
    }

    pub fn is_stdout(&self) -> bool {
        matches!(self, Target::Stdout)
    }

    /// Whether what is written goes to a terminal (stdout, on one).
    pub fn is_terminal(&self) -> bool {
        self.is_stdout() && std::io::IsTerminal::is_terminal(&std::io::stdout())
    }

    /// Writes all bytes: to stdout, or to a temporary file renamed over FILE.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        self.write_with(|w| w.write_all(bytes))
    }

    /// Writes what `f` writes, through a buffer: to stdout, or to a
    /// temporary file renamed over FILE. An error of kvaudit's own that `f`
    /// returns inside the I/O error (`std::io::Error::other`) comes out as
    /// itself, not as a failure to write. When `f` fails, what it wrote
    /// and is still buffered is dropped; stdout (or a device or FIFO) may
    /// already hold the part written before, a FILE is left as it was.
    pub fn write_with(&self, f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        match self {
            Target::Stdout => buffered(std::io::stdout().lock(), Path::new("<stdout>"), f),
            Target::File { path, force } => write_atomic(path, *force, f),
        }
    }
}

/// Writes what `f` writes to `w` through a buffer, flushed only when `f`
/// succeeds; errors name `path` (see [`write_error`]).
fn buffered(
    w: impl Write,
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, w);
    match f(&mut out) {
        Ok(()) => out.flush().map_err(|e| write_error(path, e)),
        Err(e) => {
            // Dropped unflushed: a failed rendering adds nothing more.
            drop(out.into_parts());
            Err(write_error(path, e))
        }
    }
}

/// A failure to write to `path`, or the error of kvaudit's own carried in
/// `e` (see [`Target::write_with`]).
fn write_error(path: &Path, e: std::io::Error) -> Error {
    match e.downcast::<Error>() {
        Ok(own) => own,
        Err(e) => Error::write(path, e),
    }
}

/// What is at a path kvaudit is asked to write.
enum Existing {
    Nothing,
    /// A regular file (permissions kept when it is replaced).
    File(std::fs::Permissions),
    /// A character device or a FIFO: written into, never replaced.
    Stream,
}

fn existing(path: &Path) -> Result<Existing> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Existing::File(m.permissions())),
        Ok(m) if m.file_type().is_char_device() || m.file_type().is_fifo() => Ok(Existing::Stream),
        Ok(_) => Err(Error::Usage(format!(
            "refusing to write {}: it is not a regular file (a directory, block device or socket)",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(Error::write(path, e)),
    }
}

/// Checks a file kvaudit is about to write (`-o`, a cache): never one of
/// the `inputs` (same path, a path inside an input directory, or a hard
/// link to one), never a directory or block device, and an existing
/// regular file only with `force`. `what` names it in messages ("the
/// cache ").
pub fn check_output(path: &Path, force: bool, inputs: &[String], what: &str) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let out_meta = std::fs::metadata(path).ok();
    // A file not yet there: its folder, resolved, and its name.
    let canon_out = std::fs::canonicalize(path).ok().or_else(|| {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = std::fs::canonicalize(dir.unwrap_or(Path::new("."))).ok()?;
        Some(dir.join(path.file_name()?))
    });
    for i in inputs.iter().filter(|i| *i != "-") {
        let same_file = match (&out_meta, std::fs::metadata(i)) {
            (Some(a), Ok(b)) => a.is_file() && a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        let inside = match (&canon_out, std::fs::canonicalize(i)) {
            (Some(a), Ok(b)) => *a == b || a.starts_with(&b),
            _ => false,
        };
        if same_file || inside {
            return Err(Error::Usage(format!(
                "refusing to write {what}{shown}: it is one of the inputs ({i})"
            )));
        }
    }
    match existing(path)? {
        Existing::File(_) if !force => Err(Error::Usage(format!(
            "{what}{shown} already exists; pass --force to replace it"
        ))),
        _ => Ok(()),
    }
}

/// Temporary files being written, removed on Ctrl-C or SIGTERM.
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Installs the handler that removes half-written temporary files when the
/// process is interrupted (SIGINT, SIGTERM, SIGHUP), then exits 130.
pub fn remove_partial_files_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        if let Ok(live) = LIVE.lock() {
            for p in live.iter() {
                let _ = std::fs::remove_file(p);
            }
        }
        std::process::exit(130);
    });
}

/// Keeps `path` in [`LIVE`] while it exists.
struct Registered(PathBuf);

impl Registered {
    fn new(path: &Path) -> Self {
        if let Ok(mut l) = LIVE.lock() {
            l.push(path.to_path_buf());
        }
        Registered(path.to_path_buf())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut l) = LIVE.lock() {
            l.retain(|p| *p != self.0);
        }
    }
}

/// Writes through `f` to `path`. A regular file is written to a temporary
/// file beside it (unpredictable name, created exclusively, never through
/// a symlink; the replaced file's permissions kept) and renamed over it;
/// the temporary file is removed on any error and on interrupt. A character
/// device or FIFO (`/dev/null`, a named pipe) is written into, never
/// replaced.
pub fn write_atomic(
    path: &Path,
    force: bool,
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let perms = match existing(path)? {
        Existing::Stream => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::write(path, e))?;
            return buffered(file, path, f);
        }
        Existing::File(_) if !force => {
            return Err(Error::Usage(format!(
                "{} already exists; pass --force to replace it",
                path.display()
            )))
        }
        Existing::File(p) => Some(p),
        Existing::Nothing => None,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Created with its final mode, so no other user can open it meanwhile:
    // 0666 less the umask for a new file, as any tool creates one; the
    // replaced file's permission bits (never setuid, setgid or sticky).
    use std::os::unix::fs::PermissionsExt;
    let perms = perms.map(|p| std::fs::Permissions::from_mode(p.mode() & 0o777));
    let mode = perms.as_ref().map_or(0o666, PermissionsExt::mode);
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(".kvaudit.tmp")
        .permissions(std::fs::Permissions::from_mode(mode));
    let tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::write(path, e))?;
    let guard = Registered::new(tmp.path());
    let result = (|| {
        if let Some(p) = perms {
            tmp.as_file().set_permissions(p)?;
        }
        let mut w = std::io::BufWriter::new(tmp.as_file());
        f(&mut w)?;
        w.flush()?;
        drop(w);
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    })();
    drop(guard);
    result.map_err(|e| write_error(path, e))
}

/// The I/O error inside a CSV error, kind kept (a closed pipe stays a
/// broken pipe, which ends the run quietly with exit 0).
pub fn csv_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
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

/// Colour on stdout: `always`, `never`, or auto: not when `NO_COLOR` is
/// set; when `CLICOLOR_FORCE` is set (not `0`) or stdout is a terminal.
pub fn use_color(when: ColorWhen) -> bool {
    use ColorWhen::*;
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
    match when {
        Always => true,
        Never => false,
        Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && (set("CLICOLOR_FORCE") || std::io::stdout().is_terminal())
        }
    }
}

/// How wide human output may be: `COLUMNS` when set, else the terminal's
/// width when stdout is one; None (no limit, nothing wrapped or cut) when
/// stdout is a pipe or a file. Decided apart from colour.
pub fn width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c >= 20)
    {
        return Some(c);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(cols, _)| usize::from(cols))
        .filter(|c| *c >= 20)
}

/// A message line on stderr: `note!("kvaudit: ...")`. Messages, warnings
/// and progress never go to stdout, which is data that may be piped.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use note;

/// Whether `c` could change what a terminal or an editor shows: C0 and C1
/// controls (ESC starts escape sequences), DEL, and the bidirectional
/// overrides and isolates that reorder text.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `s` with every unsafe character written as `\u{..}` (line breaks kept:
/// kvaudit's own cells use them).
pub fn printable(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes to stderr, log values made printable (messages quote them); a
/// failed write (stderr closed) is not an error.
pub fn stderr(args: std::fmt::Arguments<'_>) {
    // One message, one line: a newline inside (a file name, a log value)
    // cannot forge a line of its own.
    let raw = args.to_string();
    let body = raw.strip_suffix('\n').unwrap_or(&raw);
    let mut text = printable(&body.replace('\n', "\\n"));
    // On a terminal, wrapped at spaces to its width (continuations
    // indented), like the views beside it.
    if std::io::stderr().is_terminal() {
        if let Some(w) = width() {
            text = wrap_message(&text, w);
        }
    }
    if raw.ends_with('\n') {
        text.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `text` broken at spaces into lines of at most `width` characters, the
/// continuations indented by two; a word longer than a line stays whole.
fn wrap_message(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from("  ");
        } else if len > 0 && line != "  " {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

/// Writes kvaudit's own terminal control (the progress line's carriage
/// return and erase) to stderr; never log content.
pub fn stderr_control(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}
