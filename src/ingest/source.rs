//! Where input bytes come from: files (read by path, so large files are
//! never loaded whole), stdin and pipes (read once), and directories walked
//! for a downloaded storage archive.

use crate::error::{Error, Result};
use crate::limits;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Expands arguments: `-` is stdin, a directory is walked (sorted, hidden
/// files skipped). Each path comes with whether it was found by walking a
/// directory. An entry of a walked directory that cannot be read (a symlink
/// loop, a dangling link, no permission) is an error naming it, or with
/// `skip_unreadable` a warning, and is listed in the second value.
pub fn expand_paths(args: &[String], skip_unreadable: bool) -> Result<Expanded> {
    if args.is_empty() {
        return Err(Error::NoInput);
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    // Delta tables whose files or folders were given.
    let mut within = Within::default();
    // Whether every input is a file of a plain tree no larger than the file
    // workers take (their folds then run on those workers).
    let mut all_small = true;
    for a in args {
        if a == "-" {
            all_small = false;
            out.push((a.clone(), false, None));
            continue;
        }
        let p = Path::new(a);
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if meta.is_dir() && super::delta::is_table(p) {
            if let Some(outer) = within.table_of(p, true) {
                crate::output::note!(
                    "kvaudit: warning: the Delta table {a} lies inside the Delta table {}: it is read as its own table, and the outer one's log may add its files too",
                    outer.display()
                );
            }
            all_small = false;
            out.extend(delta_table(p)?);
        } else if meta.is_dir() {
            within.check(p, true);
            // A plain tree is listed on every core, with each file's id.
            if let Some(walked) = super::walk::files(p, super::blocks::workers()) {
                let found = walked.files;
                if found.is_empty() {
                    return Err(Error::Other(format!("{a}: the directory holds no files")));
                }
                // Delta tables in it are read as tables, not as files.
                let tables = tables_among(p, &walked.logs);
                all_small &= tables.is_empty();
                all_small &= found.iter().all(|f| f.2 <= crate::limits::SMALL_FILE);
                out.extend(
                    found
                        .into_iter()
                        .filter(|f| !tables.iter().any(|t| f.0.starts_with(t)))
                        .map(|(f, id, _)| (f.to_string_lossy().into_owned(), true, Some(id))),
                );
                for t in &tables {
                    out.extend(delta_table(t)?);
                }
                continue;
            }
            all_small = false;
            let mut files = Vec::new();
            let mut logs = Vec::new();
            for entry in walkdir::WalkDir::new(p)
                .follow_links(true)
                .sort_by_file_name()
            {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => {
                        let path = e.path().map_or_else(|| p.to_path_buf(), Path::to_path_buf);
                        let msg = e.to_string();
                        let err = Error::io(
                            &path,
                            e.into_io_error()
                                .unwrap_or_else(|| std::io::Error::other(msg)),
                        );
                        if !skip_unreadable {
                            return Err(err);
                        }
                        crate::output::note!("kvaudit: warning: skipping {err}");
                        skipped.push(path.to_string_lossy().into_owned());
                        continue;
                    }
                };
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if entry.file_type().is_dir() && super::walk::is_log(entry.path()) {
                    logs.push(entry.path().to_path_buf());
                }
                if entry.file_type().is_file() && !hidden {
                    files.push(entry.path().to_string_lossy().into_owned());
                }
            }
            if files.is_empty() {
                return Err(Error::Other(format!("{a}: the directory holds no files")));
            }
            let tables = tables_among(p, &logs);
            // Links may lead into a table: its files are read through the
            // table when the walk found it, else with a warning.
            let real: Vec<PathBuf> = tables
                .iter()
                .filter_map(|t| t.canonicalize().ok())
                .collect();
            for f in files {
                let path = Path::new(&f);
                if tables.iter().any(|t| path.starts_with(t)) {
                    continue;
                }
                match within.table_of(path, false) {
                    Some(t) if real.contains(&t) => continue,
                    Some(t) => within.warn(path, &t),
                    None => {}
                }
                out.push((f, true, None));
            }
            for t in &tables {
                out.extend(delta_table(t)?);
            }
        } else {
            within.check(p, false);
            all_small = false;
            out.push((a.clone(), false, None));
        }
    }
    Ok(Expanded {
        paths: once_each(out),
        unreadable: skipped,
        all_small,
    })
}

/// The files of the latest snapshot of the Delta table `dir`, each one
/// named (an error in one is an error, not a skip).
fn delta_table(dir: &Path) -> Result<Vec<Listed>> {
    let files = super::delta::active_files(dir)?;
    if files.is_empty() {
        // A table just made, or emptied: no rows, as a quiet hour has.
        crate::output::note!(
            "kvaudit: warning: {}: the Delta table's latest snapshot holds no file",
            dir.display()
        );
    }
    Ok(files
        .into_iter()
        .map(|f| (f.to_string_lossy().into_owned(), false, None))
        .collect())
}

/// Delta tables that given files or folders lie inside, found once per
/// folder (a glob may name thousands of blobs of one folder; a walk that
/// follows links, tens of thousands of folders).
#[derive(Default)]
struct Within {
    /// A folder as named -> the table it lies in or is.
    looked: std::collections::HashMap<PathBuf, Option<PathBuf>>,
    /// A real folder -> the nearest table at or above it.
    nearest: std::collections::HashMap<PathBuf, Option<PathBuf>>,
    warned: std::collections::BTreeSet<PathBuf>,
}

impl Within {
    /// The Delta table the file or folder `p` lies in once links are
    /// resolved (a folder above it holding a `_delta_log/`).
    fn table_of(&mut self, p: &Path, is_dir: bool) -> Option<PathBuf> {
        if is_dir {
            let real = p.canonicalize().ok()?;
            return self.nearest(real.parent()?);
        }
        // A link is resolved; a file is looked up by its folder as named.
        let linked = std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
        let real;
        let p = if linked {
            real = p.canonicalize().ok()?;
            real.as_path()
        } else {
            p
        };
        let folder = p.parent().filter(|f| !f.as_os_str().is_empty());
        let folder = folder.unwrap_or(Path::new("."));
        if let Some(t) = self.looked.get(folder) {
            return t.clone();
        }
        let t = folder
            .canonicalize()
            .ok()
            .and_then(|real| self.nearest(&real));
        self.looked.insert(folder.to_path_buf(), t.clone());
        t
    }

    /// The nearest table at or above the real folder `folder`, each
    /// folder looked at once.
    fn nearest(&mut self, folder: &Path) -> Option<PathBuf> {
        let mut chain = Vec::new();
        let mut found = None;
        for a in folder.ancestors() {
            if let Some(t) = self.nearest.get(a) {
                found = t.clone();
                break;
            }
            chain.push(a);
            if super::delta::is_table(a) {
                found = Some(a.to_path_buf());
                break;
            }
        }
        for a in chain {
            self.nearest.insert(a.to_path_buf(), found.clone());
        }
        found
    }

    /// Warns, once per table, that the file or folder `p` given lies
    /// inside a Delta table: its files are read one by one, removed ones
    /// too.
    fn check(&mut self, p: &Path, is_dir: bool) {
        if let Some(table) = self.table_of(p, is_dir) {
            self.warn(p, &table);
        }
    }

    fn warn(&mut self, p: &Path, table: &Path) {
        if self.warned.insert(table.to_path_buf()) {
            crate::output::note!(
                "kvaudit: warning: {} is inside the Delta table {}: its files are read one by one, removed ones too; give the table's folder to read its latest snapshot",
                p.display(),
                table.display()
            );
        }
    }
}

/// The Delta tables of the walk of `root` that found the log folders
/// `logs` (named `_delta_log`, empty ones too): each one's folder, at or
/// below `root`, but for folders inside a table, whose files are read as
/// far as the outer table's log adds them (with a warning).
fn tables_among(root: &Path, logs: &[PathBuf]) -> std::collections::BTreeSet<PathBuf> {
    let found: std::collections::BTreeSet<&Path> = logs
        .iter()
        .filter_map(|log| log.parent())
        .filter(|table| table.starts_with(root))
        .collect();
    // In path order a table comes before what lies inside it.
    let mut tables: std::collections::BTreeSet<PathBuf> = Default::default();
    for t in found {
        match tables.iter().find(|outer| t.starts_with(outer)) {
            Some(outer) => crate::output::note!(
                "kvaudit: warning: {} holds a Delta log inside the table {}: its files are read only as that table's log adds them",
                t.display(),
                outer.display()
            ),
            None => {
                tables.insert(t.to_path_buf());
            }
        }
    }
    tables
}

/// A path, whether a directory walk found it, and its (device, inode) when
/// the walk already looked.
type Listed = (String, bool, Option<(u64, u64)>);

/// The paths without repeats: a file named twice (or reached through a
/// directory and by name, a link, a hard link) is read once, with a warning,
/// so its rows are not counted twice. A file listed with its (device,
/// inode) is not looked at again.
fn once_each(paths: Vec<Listed>) -> Vec<(String, bool)> {
    use std::os::unix::fs::MetadataExt;
    // Each file's place in `out`.
    let mut seen: std::collections::HashMap<(u64, u64), usize> = Default::default();
    let mut stdin = false;
    let mut out: Vec<(String, bool)> = Vec::with_capacity(paths.len());
    for (p, walked, id) in paths {
        if p == "-" {
            if std::mem::replace(&mut stdin, true) {
                crate::output::note!(
                    "kvaudit: warning: - (stdin) is given more than once; read once"
                );
                continue;
            }
        } else if let Some(id) = id.or_else(|| {
            std::fs::metadata(&p)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| (m.dev(), m.ino()))
        }) {
            if let Some(first) = seen.get(&id).and_then(|&i| out.get(i)) {
                crate::output::note!(
                    "kvaudit: warning: {p} is the same file as {}; read once",
                    first.0
                );
                continue;
            }
            seen.insert(id, out.len());
        }
        out.push((p, walked));
    }
    out
}

/// The inputs named on the command line, directories expanded.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Each file, with whether it was found by walking a directory.
    pub paths: Vec<(String, bool)>,
    /// Entries of walked directories that could not be read (skipped).
    pub unreadable: Vec<String>,
    /// Every path is a file of a plain walked tree of at most
    /// [`crate::limits::SMALL_FILE`] bytes.
    pub all_small: bool,
}

/// An input: a file on disk (read by path, so large CSV files are not
/// loaded whole) or bytes already in memory (stdin).
pub(super) enum Source {
    File(PathBuf),
    Bytes(Vec<u8>),
    /// stdin or a pipe larger than its head: read once, streamed. Error
    /// positions in it are record numbers (lines cannot be re-counted).
    Stream {
        head: Vec<u8>,
        rest: std::sync::Mutex<Option<Box<dyn Read + Send>>>,
        label: String,
    },
}

/// How much of a pipe is read ahead for shape detection; a smaller input is
/// kept in memory whole.
const PIPE_HEAD: usize = 1 << 16;

/// Reads up to PIPE_HEAD bytes of `r`; a shorter input ends as bytes, a
/// longer one streams.
fn from_pipe(mut r: Box<dyn Read + Send>, label: &str) -> Result<Source> {
    let mut head = Vec::with_capacity(PIPE_HEAD);
    (&mut r)
        .take(PIPE_HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(label, e))?;
    if head.len() < PIPE_HEAD {
        return Ok(Source::Bytes(head));
    }
    Ok(Source::Stream {
        head,
        rest: std::sync::Mutex::new(Some(r)),
        label: label.to_string(),
    })
}

impl Source {
    /// Whether the content can be read again (to count lines for a message).
    pub(crate) fn rereadable(&self) -> bool {
        !matches!(self, Source::Stream { .. })
    }

    pub(super) fn open(path: &str) -> Result<Self> {
        if path == "-" {
            from_pipe(Box::new(std::io::stdin()), "<stdin>")
        } else {
            let p = PathBuf::from(path);
            let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
            let regular = f.metadata().is_ok_and(|m| m.is_file());
            if !regular {
                // A pipe or device (`<(zcat ...)`, /dev/stdin) can be read
                // only once.
                return from_pipe(Box::new(f), path);
            }
            Ok(Source::File(p))
        }
    }

    /// The first `n` bytes, for shape detection.
    pub(super) fn head(&self, n: usize) -> Result<Vec<u8>> {
        match self {
            Source::Bytes(b) | Source::Stream { head: b, .. } => Ok(b[..b.len().min(n)].to_vec()),
            Source::File(p) => {
                let f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
                let mut buf = Vec::with_capacity(n);
                f.take(n as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::io(p, e))?;
                Ok(buf)
            }
        }
    }

    /// The whole content, which must not exceed [`limits::document`]: a
    /// JSON document is read whole, so an endless one must stop somewhere.
    pub(super) fn bytes(self) -> Result<Vec<u8>> {
        let limit = limits::document();
        let what = "a JSON document (read whole; JSON Lines and CSV stream without a limit)";
        match self {
            Source::Bytes(b) => Ok(b),
            Source::Stream { head, rest, label } => {
                let taken = rest.into_inner().ok().flatten();
                match taken {
                    Some(r) => limits::read_to_limit(head.chain(r), limit, &label, what),
                    None => Ok(head),
                }
            }
            Source::File(p) => {
                let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
                limits::read_to_limit(f, limit, &p.to_string_lossy(), what)
            }
        }
    }

    /// A streaming reader over the content.
    pub(crate) fn reader(&self) -> Result<Box<dyn Read + Send + '_>> {
        match self {
            Source::Bytes(b) => Ok(Box::new(strip_bom(b))),
            Source::Stream { head, rest, label } => {
                let r = rest.lock().ok().and_then(|mut g| g.take()).ok_or_else(|| {
                    Error::io(label, std::io::Error::other("a pipe can be read only once"))
                })?;
                Ok(Box::new(strip_bom(head).chain(r)))
            }
            Source::File(p) => {
                // Unbuffered: its readers read large blocks themselves.
                use std::io::Seek;
                let mut f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
                let mut bom = Vec::with_capacity(3);
                (&mut f)
                    .take(3)
                    .read_to_end(&mut bom)
                    .map_err(|e| Error::io(p, e))?;
                if bom != b"\xEF\xBB\xBF" {
                    f.rewind().map_err(|e| Error::io(p, e))?;
                }
                Ok(Box::new(f))
            }
        }
    }
}

pub fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}
