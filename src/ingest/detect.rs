//! Which shape an input is, decided from its content (never the file name),
//! and the reader each shape goes to.

use super::accounting::FileStats;
use super::collector::Collector;
use super::interner::Interner;
use super::options::ReadOptions;
use super::progress::Progress;
use super::shape::Shape;
use super::source::{strip_bom, Source};
use super::{csv, json};
use crate::error::{Error, Result};
use crate::pipeline::Sink;

/// Reads one input: detects its shape and hands it to that shape's reader.
pub(super) fn read_source(
    label: &str,
    src: Source,
    opts: &ReadOptions,
    interner: &mut Interner,
    events: &mut dyn Sink,
    progress: &mut Progress,
) -> Result<FileStats> {
    // A small file read whole among many (an archive tree's blob) that is
    // JSON Lines: parsed where it lies, not copied.
    if opts.inline {
        if let Source::Bytes(b) = &src {
            let body = strip_bom(b);
            let start = body.iter().position(|c| !c.is_ascii_whitespace());
            let lines = start.filter(|&f| body[f] == b'{').and_then(|f| {
                if json::starts_with_raw_record(&body[f..]) {
                    Some(Shape::RawJsonLines)
                } else if json::looks_like_lines(&body[f..]) {
                    Some(json::lines_shape(&body[f..body.len().min(f + (1 << 16))]))
                } else {
                    None
                }
            });
            if let Some(shape) = lines {
                let Source::Bytes(all) = src else {
                    unreachable!("matched above")
                };
                let mut c = Collector::new(label, interner, events, progress, opts);
                json::read_lines_owned(all, shape, &mut c)?;
                let mut stats = c.stats;
                stats.shape = shape.name().to_string();
                return Ok(stats);
            }
        }
    }
    let head = src.head(1 << 16)?;
    let head_body = strip_bom(&head);
    let Some(first) = head_body.iter().position(|b| !b.is_ascii_whitespace()) else {
        // The head is blank: the file is empty or whitespace only.
        let all = src.bytes()?;
        if strip_bom(&all).iter().all(u8::is_ascii_whitespace) {
            return Err(Error::Empty { path: label.into() });
        }
        return Err(Error::Unrecognised {
            path: label.into(),
            tried: Shape::tried(),
        });
    };
    let mut c = Collector::new(label, interner, events, progress, opts);
    // Parquet: its magic, at the very start.
    if head.starts_with(b"PAR1") {
        let shape = match src {
            Source::File(p) => super::parquet::read(|| std::fs::File::open(&p), &mut c)?,
            Source::Bytes(b) => {
                super::parquet::read(|| Ok(std::io::Cursor::new(b.clone())), &mut c)?
            }
            Source::Stream { .. } => {
                return Err(Error::Other(format!(
                    "{label}: Parquet is read from a file (its footer is at the end); write the stream to a file first"
                )))
            }
        };
        let mut stats = c.stats;
        stats.shape = shape.name().to_string();
        return Ok(stats);
    }
    let shape = match head_body[first] {
        // JSON Lines in a file stream line by line; other JSON is one
        // document and is read whole.
        b'{' if matches!(src, Source::File(_) | Source::Stream { .. })
            && json::is_lines(&head_body[first..]) =>
        {
            json::read_lines(src.reader()?, &head_body[first..], &mut c)?
        }

        b'{' | b'[' => {
            let all = src.bytes()?;
            json::read(strip_bom(&all), &mut c)?
        }
        _ => csv::read(&src, head_body, &mut c)?,
    };
    let mut stats = c.stats;
    stats.shape = shape.name().to_string();
    Ok(stats)
}

/// Why an input with no Key Vault AuditEvent row in it gives nothing: its
/// rows (if any) by skip reason. None when it has events.
pub(super) fn no_rows(stats: &FileStats) -> Option<Error> {
    if stats.rows_kept == 0 {
        let detail = if stats.rows_read == 0 {
            " (no rows at all)".to_string()
        } else {
            let skipped: Vec<String> = stats
                .rows_skipped
                .iter()
                .map(|(k, v)| format!("{v} skipped: {k}"))
                .collect();
            format!(" ({} rows read; {})", stats.rows_read, skipped.join(", "))
        };
        return Some(Error::NoKeyVaultRows {
            path: stats.source.clone(),
            detail,
        });
    }
    None
}
