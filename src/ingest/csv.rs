//! Reader for Log Analytics portal CSV exports of AzureDiagnostics and
//! AZKVAuditLogs: checks the header, then streams the rows through the
//! parallel block reader (records split by the `csv` crate's rules, exact
//! lines in errors).

use super::blocks::{self, Block, Cutter, Worker};
use super::collector::Collector;
use super::schema::{require_columns, Field, FlatSchema};
use super::shape::Shape;
use super::source::Source;
use crate::error::{Error, Location, Result};
use std::borrow::Cow;

pub(super) fn read(src: &Source, head: &[u8], c: &mut Collector) -> Result<Shape> {
    if let Some(sep) = other_delimiter(head) {
        return Err(Error::Malformed {
            at: Location {
                source: c.source().to_string(),
                position: "line 1 (the header)".into(),
            },
            message: format!(
                "expected comma-separated values, found columns separated by {sep} (re-export from Log Analytics as CSV, or convert the delimiter to a comma)"
            ),
        });
    }
    let names = header(head).ok_or_else(|| Error::Unrecognised {
        path: c.source().to_string(),
        tried: Shape::tried(),
    })?;
    if let Some(msg) = duplicate_column(&names) {
        return Err(Error::Malformed {
            at: Location {
                source: c.source().to_string(),
                position: "line 1 (the header)".into(),
            },
            message: msg,
        });
    }
    let schema = FlatSchema::resolve(names.iter().map(String::as_str));
    require_columns(&schema, c.source())?;
    let shape = if schema.has(Field::IdentityJson)
        || names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("HttpStatusCode"))
    {
        Shape::AzkvAuditLogsCsv
    } else {
        Shape::AzureDiagnosticsCsv
    };
    read_streaming(src, &schema, &names, c)?;
    Ok(shape)
}

/// A column name given twice makes every value of it ambiguous.
fn duplicate_column(names: &[String]) -> Option<String> {
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for (i, n) in names.iter().enumerate() {
        if let Some(first) = seen.insert(n.to_ascii_lowercase(), i) {
            return Some(format!(
                "duplicate column {n} (columns {} and {}); expected each column name once",
                first + 1,
                i + 1
            ));
        }
    }
    None
}

/// The 1-based line of the record starting at `byte` of the (BOM-stripped)
/// content (on CRLF files the `csv` crate puts that start on the previous
/// line's `\n`, so the byte itself is counted).
/// Computed only when an error is shown: the `csv` crate's own line count
/// is off by one on CRLF files.
fn line_of(src: &Source, byte: u64) -> Option<u64> {
    if !src.rereadable() {
        return None;
    }
    let Ok(r) = src.reader() else { return None };
    let mut newlines = 0u64;
    let mut buf = [0u8; 1 << 16];
    let mut left = byte + 1;
    let mut r = std::io::Read::take(r, byte + 1);
    while left > 0 {
        match std::io::Read::read(&mut r, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                newlines += buf[..k].iter().filter(|b| **b == b'\n').count() as u64;
                left -= k as u64;
            }
        }
    }
    Some(newlines + 1)
}

/// A Key Vault export header saved with another delimiter (Excel in a
/// locale with a decimal comma writes `;`), named for the message.
fn other_delimiter(head: &[u8]) -> Option<&'static str> {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]).to_ascii_lowercase();
    if !line.contains("operationname") || line.contains(',') {
        return None;
    }
    [(';', "semicolons"), ('\t', "tabs"), ('|', "pipes")]
        .into_iter()
        .find(|(c, _)| line.contains(*c))
        .map(|(_, name)| name)
}

/// The header row, if this looks like a Key Vault export CSV.
fn header(head: &[u8]) -> Option<Vec<String>> {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let lower = line.to_ascii_lowercase();
    // An export, or kvaudit's own canonical events (`events --format csv`).
    let own = lower.starts_with("time,") && lower.split(',').any(|c| c == "operation");
    if !line.contains(',') || !(lower.contains("operationname") || own) {
        return None;
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.trim_end_matches('\r').as_bytes());
    let rec = r.records().next()?.ok()?;
    Some(rec.iter().map(|s| s.trim().to_string()).collect())
}

/// What every record is checked against.
struct Layout<'a> {
    /// The header's schema, restricted to the columns decoded.
    schema: FlatSchema,
    names: &'a [String],
}

/// Streams the CSV in blocks parsed on every core (the `csv` crate within a
/// block, exact positions), checked and normalised in the workers, applied
/// in order.
fn read_streaming(
    src: &Source,
    schema: &FlatSchema,
    names: &[String],
    c: &mut Collector,
) -> Result<()> {
    let width = names.len();
    let mut needed = vec![false; width];
    // Columns that feed only fields the command drops are not decoded.
    let detail = c.fields();
    let dropped = |f: &Field| !super::normalize::reads(*f, detail, false);
    for (f, i) in &schema.slots {
        if *i < width && !dropped(f) {
            needed[*i] = true;
        }
    }
    let schema = FlatSchema {
        slots: schema
            .slots
            .iter()
            .filter(|(_, i)| needed.get(*i).copied().unwrap_or(false))
            .copied()
            .collect(),
        names: Vec::new(),
    };
    let layout = Layout { schema, names };
    let position = |n: u64, byte: Option<u64>| match byte.and_then(|b| line_of(src, b)) {
        Some(line) => format!("line {line} (record {n})"),
        None => format!("record {n}"),
    };
    blocks::run(
        src.reader()?,
        Quoted::default(),
        |block, w| parse_block(block, &layout, w),
        c,
        position,
    )
}

/// Cuts CSV after a newline outside quotes, following the `csv` crate's
/// rules exactly: a quote opens a quoted field only at the start of a field
/// (elsewhere it is a literal character), and `""` inside one is a quote.
#[derive(Default)]
struct Quoted {
    /// Where scanning resumes.
    pos: usize,
    quoted: bool,
    /// End of the last complete record found.
    last: usize,
}

impl Cutter for Quoted {
    fn cut(&mut self, buf: &[u8]) -> usize {
        loop {
            let rest = &buf[self.pos..];
            if self.quoted {
                let Some(i) = memchr::memchr(b'"', rest) else {
                    self.pos = buf.len();
                    return self.last;
                };
                let q = self.pos + i;
                match buf.get(q + 1) {
                    // Whether it closes the field is known with the next byte.
                    None => {
                        self.pos = q;
                        return self.last;
                    }
                    Some(b'"') => self.pos = q + 2,
                    Some(_) => {
                        self.quoted = false;
                        self.pos = q + 1;
                    }
                }
            } else {
                let Some(i) = memchr::memchr2(b'"', b'\n', rest) else {
                    self.pos = buf.len();
                    return self.last;
                };
                let p = self.pos + i;
                if buf[p] == b'\n' {
                    self.last = p + 1;
                } else if p == 0 || matches!(buf[p - 1], b',' | b'\n' | b'\r') {
                    self.quoted = true;
                }
                self.pos = p + 1;
            }
        }
    }

    fn consumed(&mut self, n: usize) {
        // At the end of the input everything is handed on, cut or not.
        self.pos = self.pos.saturating_sub(n);
        self.last = self.last.saturating_sub(n);
    }
}

/// Parses one block (the first starts with the header, which is skipped);
/// returns how many data records it held.
fn parse_block(block: &Block, l: &Layout, w: &mut Worker) -> u64 {
    let d = &block.data[..];
    let mut header = block.start == 0;
    let mut n = 0u64;
    let mut fields = Vec::with_capacity(l.names.len());
    let mut split = Fields {
        data: d,
        pos: 0,
        separators: Separators::new(),
    };
    loop {
        match split.next(&mut fields) {
            Ok(None) => return n,
            Ok(Some(at)) => {
                if std::mem::take(&mut header) {
                    continue;
                }
                n += 1;
                // One UTF-8 check per record, just split (so in cache);
                // fields are then sliced from it.
                let bytes = &d[at..split.pos];
                let text = RecordText {
                    bytes,
                    str: simdutf8::basic::from_utf8(bytes).ok(),
                };
                record(&fields, n, block.start + at as u64, &text, l, w);
            }
            Err(at) => {
                // A quote right after a closing quote: the csv crate's rules
                // for the rest of the block (its fields are its own copies,
                // each checked for UTF-8 on its own).
                let text = RecordText {
                    bytes: d,
                    str: None,
                };
                let mut r = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(&d[at..]);
                let mut rec = csv::ByteRecord::new();
                // Reading a slice cannot fail: the csv crate reports only I/O
                // errors for byte records of a flexible reader.
                while let Ok(true) = r.read_byte_record(&mut rec) {
                    if std::mem::take(&mut header) {
                        continue;
                    }
                    n += 1;
                    let byte = (at as u64) + rec.position().map_or(0, csv::Position::byte);
                    let cells: Vec<Cow<[u8]>> = rec.iter().map(Cow::Borrowed).collect();
                    record(&cells, n, block.start + byte, &text, l, w);
                }
                return n;
            }
        }
    }
}

/// Splits records by the csv crate's rules (empty lines skipped; `\r`,
/// `\n` or `\r\n` end a record; a quote opens a quoted field only at its
/// start, `""` in it is a quote), finding separators with memchr and
/// borrowing every field that has no `""`.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
    separators: Separators,
}

/// Finds the next `,`, `\r` or `\n`: the AVX2 searcher when the CPU has it
/// (made once per block, without memchr's per-call dispatch), else the
/// portable one.
enum Separators {
    #[cfg(target_arch = "x86_64")]
    Avx2(memchr::arch::x86_64::avx2::memchr::Three),
    Portable,
}

impl Separators {
    fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = memchr::arch::x86_64::avx2::memchr::Three::new(b',', b'\r', b'\n') {
            return Separators::Avx2(t);
        }
        Separators::Portable
    }

    fn find(&self, haystack: &[u8]) -> Option<usize> {
        match self {
            #[cfg(target_arch = "x86_64")]
            Separators::Avx2(t) => t.find(haystack),
            Separators::Portable => memchr::memchr3(b',', b'\r', b'\n', haystack),
        }
    }
}

impl<'a> Fields<'a> {
    /// Fills `out` with the next record's fields and returns where it
    /// starts; `Ok(None)` at the end; `Err(start)` for a record with bytes
    /// after a closing quote, which the csv crate reads instead.
    fn next(&mut self, out: &mut Vec<Cow<'a, [u8]>>) -> std::result::Result<Option<usize>, usize> {
        let d = self.data;
        while self.pos < d.len() && matches!(d[self.pos], b'\r' | b'\n') {
            self.pos += 1;
        }
        if self.pos >= d.len() {
            return Ok(None);
        }
        let start = self.pos;
        out.clear();
        let mut p = start;
        loop {
            if d.get(p) == Some(&b'"') {
                let mut owned: Option<Vec<u8>> = None;
                let mut seg = p + 1;
                let close = loop {
                    let Some(i) = memchr::memchr(b'"', &d[seg..]) else {
                        // The input ends inside the quotes.
                        break None;
                    };
                    let q = seg + i;
                    if d.get(q + 1) == Some(&b'"') {
                        owned
                            .get_or_insert_with(Vec::new)
                            .extend_from_slice(&d[seg..=q]);
                        seg = q + 2;
                        continue;
                    }
                    break Some(q);
                };
                let end = close.unwrap_or(d.len());
                out.push(match owned {
                    Some(mut o) => {
                        o.extend_from_slice(&d[seg..end]);
                        Cow::Owned(o)
                    }
                    None => Cow::Borrowed(&d[seg..end]),
                });
                let Some(q) = close else {
                    self.pos = d.len();
                    return Ok(Some(start));
                };
                p = q + 1;
                match d.get(p) {
                    Some(b',') => p += 1,
                    None | Some(b'\r' | b'\n') => {
                        self.pos = p;
                        return Ok(Some(start));
                    }
                    Some(_) => {
                        self.pos = start;
                        return Err(start);
                    }
                }
            } else {
                match self.separators.find(&d[p..]) {
                    None => {
                        out.push(Cow::Borrowed(&d[p..]));
                        self.pos = d.len();
                        return Ok(Some(start));
                    }
                    Some(i) => {
                        let e = p + i;
                        out.push(Cow::Borrowed(&d[p..e]));
                        if d[e] != b',' {
                            self.pos = e;
                            return Ok(Some(start));
                        }
                        p = e + 1;
                    }
                }
            }
        }
    }
}

/// A record's bytes and, when they are valid UTF-8, the same bytes as text.
struct RecordText<'a> {
    bytes: &'a [u8],
    str: Option<&'a str>,
}

impl<'a> RecordText<'a> {
    /// A field as text: sliced from the record's text when it lies in the
    /// record (fields end at ASCII separators, so on character boundaries),
    /// else checked on its own (unescaped or read by the csv crate).
    fn get<'f>(&self, f: &'f [u8]) -> Option<&'f str>
    where
        'a: 'f,
    {
        if let Some(t) = self.str {
            let off = (f.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
            if off <= self.bytes.len() && f.len() <= self.bytes.len() - off {
                if let Some(s) = t.get(off..off + f.len()) {
                    return Some(s);
                }
            }
        }
        std::str::from_utf8(f).ok()
    }
}

/// Checks one record (record `n` of its block, at `byte`) and hands it on.
fn record(rec: &[Cow<[u8]>], n: u64, byte: u64, text: &RecordText, l: &Layout, w: &mut Worker) {
    let (schema, names) = (&l.schema, l.names);
    let width = names.len();
    let at = Some(byte);
    if rec.first().is_some_and(|f| f.starts_with(b"\xEF\xBB\xBF")) {
        return w.invalid(
            n,
            at,
            "found a byte-order mark at the start of this row; expected a data row (were two exports concatenated? remove the second header)".into(),
        );
    }
    if rec.len() == width && rec.iter().zip(names).all(|(a, b)| **a == *b.as_bytes()) {
        return w.invalid(
            n,
            at,
            "found the header again; expected a data row (were two exports concatenated? remove the second header)".into(),
        );
    }
    if rec.len() != width {
        return w.invalid(
            n,
            at,
            format!(
                "expected {width} fields as in the header, found {}",
                rec.len()
            ),
        );
    }
    // One pass over the decoded columns (the schema holds only those)
    // builds the row and checks each value, reporting as a pass in column
    // order would: the first over-long column, the last one not UTF-8.
    let (mut long, mut bad_utf8): (Option<usize>, Option<usize>) = (None, None);
    let row = schema.row(|i| {
        let f = rec.get(i)?;
        if f.is_empty() {
            // Nothing to check, and an empty value is never stored.
            return None;
        }
        if f.len() > super::schema::MAX_FIELD_BYTES {
            long = Some(long.map_or(i, |l| l.min(i)));
        }
        let t = text.get(f);
        if t.is_none() {
            bad_utf8 = Some(bad_utf8.map_or(i, |b| b.max(i)));
        }
        t
    });
    if let Some(msg) = long.and_then(|i| super::schema::too_long(&names[i], rec[i].len())) {
        return w.invalid(n, at, msg);
    }
    if let Some(i) = bad_utf8 {
        return w.invalid(
            n,
            at,
            format!("expected UTF-8 text in column {}, found other bytes (is the file Latin-1? re-export it as UTF-8)", i + 1),
        );
    }
    w.push(row, n, at);
}

#[cfg(test)]
mod tests {
    use super::{Cutter, Quoted};
    use proptest::prelude::*;

    fn records(data: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        let mut out = Vec::new();
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).unwrap() {
            out.push(rec.iter().map(<[u8]>::to_vec).collect());
        }
        out
    }

    /// Cuts `data` as the block reader does, the buffer growing by `steps`.
    fn blocks(data: &[u8], steps: &[usize]) -> Vec<Vec<u8>> {
        let mut cutter = Quoted::default();
        let (mut buf, mut read, mut out) = (Vec::new(), 0, Vec::new());
        for step in steps.iter().cycle() {
            let eof = read == data.len();
            let end = (read + step).min(data.len());
            buf.extend_from_slice(&data[read..end]);
            read = end;
            let cut = if eof { buf.len() } else { cutter.cut(&buf) };
            if cut > 0 {
                out.push(buf.drain(..cut).collect());
                cutter.consumed(cut);
            }
            if eof {
                break;
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Parsing the blocks one by one gives exactly the records of the
        /// whole input, whatever the quoting (well-formed or not).
        #[test]
        fn blocks_end_on_record_boundaries(
            data in proptest::collection::vec(prop::sample::select(b"ab,\"\n\r".to_vec()), 0..300),
            steps in proptest::collection::vec(1usize..40, 1..5),
        ) {
            let whole = records(&data);
            let pieces: Vec<_> = blocks(&data, &steps).iter().flat_map(|b| records(b)).collect();
            prop_assert_eq!(pieces, whole);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// The memchr splitter gives the csv crate's records (or hands the
        /// record over to it), whatever the quoting.
        #[test]
        fn splitter_equals_the_csv_crate(
            data in proptest::collection::vec(prop::sample::select(b"ab,\"\n\r".to_vec()), 0..200),
        ) {
            let mut split = super::Fields {
                data: &data,
                pos: 0,
                separators: super::Separators::new(),
            };
            let mut fields = Vec::new();
            let mut got = Vec::new();
            loop {
                match split.next(&mut fields) {
                    Ok(None) => break,
                    Ok(Some(_)) => got.push(fields.iter().map(|f| f.to_vec()).collect::<Vec<_>>()),
                    Err(at) => {
                        got.extend(records(&data[at..]));
                        break;
                    }
                }
            }
            prop_assert_eq!(got, records(&data));
        }
    }

    #[test]
    fn quoted_newlines_and_literal_quotes() {
        let data = b"a,\"x\ny\",b\nc,d\"e\n\"f\"\"\ng\",h\n";
        let mut q = Quoted::default();
        // The first newline is inside quotes; the second ends record 1; the
        // quote in d"e is literal; the quoted field with "" spans a newline.
        assert_eq!(q.cut(data), data.len());
        assert_eq!(
            records(&data[..10]),
            vec![vec![b"a".to_vec(), b"x\ny".to_vec(), b"b".to_vec()]]
        );
        let mut q = Quoted::default();
        assert_eq!(q.cut(&data[..8]), 0);
    }
}
