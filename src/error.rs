//! Typed errors of the library: every message names the file, the record and
//! what was expected, because users act on them without reading the code.

use std::path::PathBuf;

/// Where in an input something went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub source: String,
    /// "line 12", "record 3", "row 7": the unit depends on the shape.
    pub position: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.position)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is empty")]
    Empty { path: String },
    #[error("{path}: unrecognised input; tried {tried}")]
    Unrecognised { path: String, tried: String },
    #[error("{at}: {message}")]
    Malformed { at: Location, message: String },
    #[error("{path}: missing required column {column} (expected one of: {expected})")]
    MissingColumn {
        path: String,
        column: String,
        expected: String,
    },
    #[error("{path}: no Key Vault AuditEvent rows{detail}")]
    NoKeyVaultRows { path: String, detail: String },
    #[error("no input: give one or more files or directories, or - for stdin")]
    NoInput,
    #[error("{0}")]
    Usage(String),
    #[error("output error: {0}")]
    Output(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            source,
        }
    }

    /// True when the error is a broken pipe on stdout (`kvaudit ... | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } | Error::Write { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
