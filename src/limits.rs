//! Every read from a file named by a flag, from stdin or from the network
//! has an upper bound, written down here (and in SECURITY.md), so an
//! endless or huge input ends in a clear error instead of exhausted memory.
//! Log inputs in streamed shapes (JSON Lines, CSV, raw records) have no
//! bound: they are read in blocks and never held whole.

use crate::error::{Error, Result};
use std::io::Read;

const MIB: u64 = 1 << 20;

/// A token, or an error message pasted into `explain --message`.
pub const TOKEN: u64 = MIB;
/// Small configuration: `--policy`, `--jwks`, `token --file`.
pub const CONFIG_FILE: u64 = MIB;
/// Exports given by a flag: `--baseline`, `--assignments`, `--directory`,
/// the Graph cache.
pub const EXPORT_FILE: u64 = 256 * MIB;
/// Files of a walked tree up to this size are read whole by the file
/// workers; larger ones by the block reader, which splits them itself.
pub const SMALL_FILE: u64 = 8 * MIB;
/// A log input that is one JSON document (an API response, a JSON array),
/// which is read whole; `KVAUDIT_MAX_DOCUMENT_MIB` changes it.
pub const DOCUMENT: u64 = 1024 * MIB;
/// The footer of a Parquet file (its metadata, held whole by the
/// decoder, in memory ten to twenty times its size): real ones are
/// kilobytes, a table of thousands of row groups a few megabytes.
pub const PARQUET_FOOTER: u64 = 16 * MIB;
/// One action (line) of a Delta log commit, which is read line by line:
/// an `add` with its statistics is kilobytes.
pub const DELTA_ACTION: u64 = 16 * MIB;
/// An OpenID discovery document or a JWKS.
pub const HTTP_KEYS: u64 = MIB;
/// One Microsoft Graph response.
pub const HTTP_GRAPH: u64 = 16 * MIB;
/// One Log Analytics query response (the API returns at most ~100 MiB).
pub const HTTP_QUERY: u64 = 256 * MIB;
/// Requests one `pull` may make while splitting its time range (default
/// of `--max-requests`).
pub const PULL_REQUESTS: u32 = 500;

/// The bound on a JSON document read whole.
pub fn document() -> u64 {
    std::env::var("KVAUDIT_MAX_DOCUMENT_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(DOCUMENT, |m| m.saturating_mul(MIB))
}

/// `n` bytes as people read them (`1 MiB`, `256 MiB`).
pub fn shown(n: u64) -> String {
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// Reads all of `r`, at most `limit` bytes; past it, an error naming
/// `label`, `what` it is and the limit.
pub fn read_to_limit(r: impl Read, limit: u64, label: &str, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(label, e))?;
    if buf.len() as u64 > limit {
        return Err(Error::Other(format!(
            "{label}: {what} is larger than {}, the limit for it; is this the right file?",
            shown(limit)
        )));
    }
    Ok(buf)
}

/// Calls `each` with every line of `r` (numbered from 1, without its
/// `\n`) as it is read, each at most `limit` bytes: a longer one ends the
/// read with `long(n)`, after at most `limit + 1` bytes of it were read.
pub fn each_line(
    mut r: impl std::io::BufRead,
    limit: u64,
    label: &str,
    long: impl Fn(u64) -> Error,
    mut each: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    use std::io::BufRead;
    let mut buf = Vec::new();
    for n in 1u64.. {
        buf.clear();
        let got = (&mut r)
            .take(limit.saturating_add(1))
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(label, e))?;
        if got == 0 {
            break;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.len() as u64 > limit {
            return Err(long(n));
        }
        each(n, line)?;
    }
    Ok(())
}

/// The text of a file, at most `limit` bytes.
pub fn read_file(path: &str, limit: u64, what: &str) -> Result<String> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let bytes = read_to_limit(f, limit, path, what)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::Other(format!(
            "{path}: expected {what} as UTF-8 text; invalid byte at offset {}",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// All of stdin as text, at most `limit` bytes.
pub fn read_stdin(limit: u64, what: &str) -> Result<String> {
    let bytes = read_to_limit(std::io::stdin().lock(), limit, "<stdin>", what)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::Other(format!(
            "<stdin>: expected {what} as UTF-8 text; invalid byte at offset {}",
            e.utf8_error().valid_up_to()
        ))
    })
}
