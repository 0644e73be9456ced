//! Reads a raw diagnostic record straight from its JSON line, a byte at a
//! time, for the lines large exports are made of: serde's derived reader
//! spent half of the parsing threads' time on them. It takes only what it
//! can read exactly as serde would (no escapes, no control characters,
//! plain integers, each field once); for anything else it gives None and
//! the line is read by serde as before, which also explains errors.

use super::schema::{claim_slot, FastIdentity, FastProps, FastRaw, Scalar, Slots};
use std::borrow::Cow;

/// The record on `line` (valid UTF-8, trimmed), or None to leave it to
/// serde.
pub(super) fn raw_record(line: &str) -> Option<FastRaw<'_>> {
    // An object (lines are trimmed), without control characters anywhere:
    // then no string holds one.
    let (control, escapes) = scan(line.as_bytes());
    if control || !line.starts_with('{') {
        return None;
    }
    let mut c = Cursor {
        text: line,
        at: 0,
        depth: 0,
        // Without a backslash, a string ends at the next quote.
        escapes,
    };
    let mut raw = FastRaw::default();
    let mut seen = 0u32;
    c.object(|c, key| {
        let field = match key {
            "time" => 0,
            "resourceId" => 1,
            "category" => 2,
            "operationName" => 3,
            "resultSignature" => 4,
            "resultDescription" => 5,
            "callerIpAddress" => 6,
            "correlationId" => 7,
            "durationMs" => 8,
            "properties" => 9,
            "httpStatusCode" => 10,
            "clientInfo" => 11,
            "requestUri" => 12,
            "identity" => 13,
            _ => return c.skip(),
        };
        // A field given twice is an error of serde's (the general path
        // then reads the line).
        if seen & (1 << field) != 0 {
            return None;
        }
        seen |= 1 << field;
        match field {
            0 => raw.time = c.text_or_null()?,
            1 => raw.resource_id = c.text_or_null()?,
            2 => raw.category = c.text_or_null()?,
            3 => raw.operation_name = c.text_or_null()?,
            4 => raw.result_signature = c.text_or_null()?,
            5 => raw.result_description = c.text_or_null()?,
            6 => raw.caller_ip_address = c.text_or_null()?,
            7 => raw.correlation_id = c.text_or_null()?,
            8 => raw.duration_ms = c.scalar()?,
            9 => raw.properties = c.properties()?,
            10 => raw.http_status_code = c.scalar()?,
            11 => raw.client_info = c.text_or_null()?,
            12 => raw.request_uri = c.text_or_null()?,
            _ => raw.identity = c.identity()?,
        }
        Some(())
    })?;
    c.space();
    (c.at == line.len()).then_some(raw)
}

/// Whether any byte is below 0x20, and whether any is a backslash (in
/// one pass, which the compiler vectorises).
fn scan(b: &[u8]) -> (bool, bool) {
    b.iter().fold((false, false), |(control, escape), &x| {
        (control | (x < 0x20), escape | (x == b'\\'))
    })
}

/// Nesting deeper than this is left to serde (whose own limit is 128).
const DEPTH: u32 = 64;

struct Cursor<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
    /// The line has a backslash.
    escapes: bool,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after any white space.
    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.bytes().get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    /// A string (the cursor is at its quote), borrowed when it has no
    /// escapes. Escapes are decoded as serde decodes them, but for a
    /// `\u` escape of half a surrogate pair, left to serde.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let (text, b) = (self.text, self.bytes());
        let start = self.at + 1;
        let rest = b.get(start..)?;
        let len = if self.escapes {
            memchr::memchr2(b'"', b'\\', rest)?
        } else {
            memchr::memchr(b'"', rest)?
        };
        if rest[len] == b'"' {
            self.at = start + len + 1;
            return text.get(start..start + len).map(Cow::Borrowed);
        }
        self.decode(start, len)
    }

    /// The rest of [`Cursor::string`] for a string with escapes, its first
    /// `len` bytes from `start` plain (kept out of the common path).
    #[cold]
    #[inline(never)]
    fn decode(&mut self, start: usize, len: usize) -> Option<Cow<'a, str>> {
        let (text, b) = (self.text, self.bytes());
        let mut out = String::with_capacity(len + 16);
        out.push_str(text.get(start..start + len)?);
        let mut i = start + len;
        loop {
            // At a backslash.
            let escaped = *b.get(i + 1)?;
            i += 2;
            out.push(match escaped {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = text.get(i..i + 4)?;
                    if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                        return None;
                    }
                    i += 4;
                    char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
                }
                _ => return None,
            });
            let run = memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
            out.push_str(text.get(i..i + run)?);
            i += run;
            if b[i] == b'"' {
                self.at = i + 1;
                return Some(Cow::Owned(out));
            }
        }
    }

    /// `word` (`true`, `false`, `null`) at the cursor.
    fn word(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes().get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// A number as JSON writes it, its text: `-?(0|[1-9][0-9]*)(.[0-9]+)?
    /// ([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<&'a str> {
        let b = self.bytes();
        let start = self.at;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.at = i;
        self.text.get(start..i)
    }

    /// A plain integer that fits in 64 bits, its text (serde writes it
    /// back the same): anything else is left to serde.
    fn integer(&mut self) -> Option<(&'a str, u64)> {
        let t = self.number()?;
        Some((t, t.parse().ok()?))
    }

    /// Any value, checked and passed over.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            b'{' => self.object(|c, _| c.skip()),
            b'[' => self.array(),
            _ => self.number().map(drop),
        }
    }

    fn array(&mut self) -> Option<()> {
        self.nest()?;
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                self.skip()?;
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn nest(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= DEPTH).then_some(())
    }

    /// An object, `each(cursor, key)` reading each key's value.
    fn object(&mut self, mut each: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        self.nest()?;
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                self.eat(b':')?;
                self.space();
                each(self, &key)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// A text field: a string or null (None), as `borrowed_text` reads it.
    fn text_or_null(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' => self.word("null").map(|()| None),
            _ => None,
        }
    }

    /// A string, number or boolean field, or null (None).
    fn scalar(&mut self) -> Option<Option<Scalar<'a>>> {
        Some(Some(match self.peek()? {
            b'"' => Scalar::Str(self.string()?),
            b't' => self.word("true").map(|()| Scalar::Bool(true))?,
            b'f' => self.word("false").map(|()| Scalar::Bool(false))?,
            b'n' => return self.word("null").map(|()| None),
            _ => Scalar::Num(self.integer()?.1.into()),
        }))
    }

    /// `properties`: an object or null.
    fn properties(&mut self) -> Option<Option<FastProps<'a>>> {
        if self.peek()? == b'n' {
            return self.word("null").map(|()| None);
        }
        let mut p = FastProps::default();
        let mut seen = 0u8;
        self.object(|c, key| {
            let field = match key {
                "httpStatusCode" => 0,
                "clientInfo" => 1,
                "isRbacAuthorized" => 2,
                "isAccessPolicyMatch" => 3,
                "appliedAssignmentId" => 4,
                "requestUri" => 5,
                "id" => 6,
                _ => return c.skip(),
            };
            if seen & (1 << field) != 0 {
                return None;
            }
            seen |= 1 << field;
            match field {
                0 => p.http_status_code = c.scalar()?,
                1 => p.client_info = c.text_or_null()?,
                2 => p.is_rbac_authorized = c.scalar()?,
                3 => p.is_access_policy_match = c.scalar()?,
                4 => p.applied_assignment_id = c.text_or_null()?,
                5 => p.request_uri = c.text_or_null()?,
                _ => p.id = c.text_or_null()?,
            }
            Some(())
        })?;
        Some(Some(p))
    }

    /// `identity`: an object or null. Its claims are those of its `claim`
    /// object when it has one, else those at its top; of a claim given
    /// twice, the last (as serde's reader of it).
    fn identity(&mut self) -> Option<Option<FastIdentity<'a>>> {
        if self.peek()? == b'n' {
            return self.word("null").map(|()| None);
        }
        // Claims at the top are rare: their slots are made when one comes.
        let mut top: Option<Slots<'a>> = None;
        let mut claim: Option<Slots<'a>> = None;
        self.object(|c, key| {
            if key == "claim" {
                let mut inner = empty_slots();
                c.object(|c, key| c.claim(key, &mut inner))?;
                claim = Some(inner);
                return Some(());
            }
            if claim_slot(key).is_none() {
                return c.skip();
            }
            c.claim(key, top.get_or_insert_with(empty_slots))
        })?;
        Some(Some(FastIdentity {
            slots: claim.or(top).unwrap_or_else(empty_slots),
        }))
    }

    /// The value of `key` in a claims object: into its slot when it names
    /// one (null, a string, a boolean or an integer), else passed over.
    fn claim(&mut self, key: &str, slots: &mut Slots<'a>) -> Option<()> {
        let Some(slot) = claim_slot(key) else {
            return self.skip();
        };
        let value = match self.peek()? {
            b'"' => Some(self.string()?),
            b't' => self.word("true").map(|()| Some(Cow::Borrowed("true")))?,
            b'f' => self.word("false").map(|()| Some(Cow::Borrowed("false")))?,
            b'n' => self.word("null").map(|()| None)?,
            _ => Some(Cow::Owned(self.integer()?.0.to_owned())),
        };
        slots[slot] = Some(value);
        Some(())
    }
}

fn empty_slots<'a>() -> Slots<'a> {
    Box::new(std::array::from_fn(|_| None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde's reader makes of `line`.
    fn by_serde(line: &str) -> Option<super::super::schema::RawRow<'_>> {
        FastRaw::of_text(line).and_then(FastRaw::into_row)
    }

    /// What this reader makes of `line`, checked against serde's: when it
    /// reads a line at all, serde reads it too, to the same fields.
    fn read(line: &str) -> Option<super::super::schema::RawRow<'_>> {
        let quick = raw_record(line);
        if let Some(raw) = &quick {
            assert_eq!(Some(raw), FastRaw::of_text(line).as_ref(), "{line}");
        }
        let row = quick.and_then(FastRaw::into_row);
        if row.is_some() {
            assert_eq!(row, by_serde(line), "{line}");
        }
        row
    }

    const RECORD: &str = r#"{"time":"2025-03-01T12:12:15.427Z","category":"AuditEvent","operationName":"SecretGet","resultType":"Success","correlationId":"c4440976-3683-44c5-8a5d-1d81f0dee995","callerIpAddress":"34.82.43.32","identity":{"claim":{"appid":"64a547d4-c3f5-4c9d-90d6-20290f899c45","oid":"0866734f-9151-48a9-ae51-15d0e40a24db","idtyp":"app","appidacr":"1"}},"properties":{"clientInfo":"azsdk-java/4.6.2 (11.0.20; Linux)","httpStatusCode":200,"requestUri":"https://kv-ml-prod.vault.azure.net/secrets/secret-351/?api-version=7.4","id":"https://kv-ml-prod.vault.azure.net/secrets/secret-351/0f1e2d3c","isRbacAuthorized":true,"tlsVersion":"TLS1_3"},"resourceId":"/SUBSCRIPTIONS/7D3B2C1A/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-ML-PROD","operationVersion":"7.4","resultSignature":"OK","durationMs":"18"}"#;

    #[test]
    fn a_raw_record_reads_as_serde_reads_it() {
        let row = read(RECORD).expect("read here, not left to serde");
        assert_eq!(row.status.as_deref(), Some("200"));
        assert_eq!(row.rbac_authorized.as_deref(), Some("true"));
        assert_eq!(
            row.oid.as_deref(),
            Some("0866734f-9151-48a9-ae51-15d0e40a24db")
        );
        assert_eq!(row.duration_ms.as_deref(), Some("18"));
        // Borrowed from the line, not copied.
        assert!(matches!(row.request_uri, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn every_kind_of_value_reads_as_serde_reads_it_or_is_left_to_serde() {
        let cases = [
            // Read here.
            (
                r#"{"operationName":"SecretGet","time":null,"properties":null}"#,
                true,
            ),
            (
                r#"{ "operationName" : "SecretGet" , "durationMs" : 1234 } "#,
                true,
            ),
            (
                r#"{"operationName":"X","properties":{"httpStatusCode":"403","isRbacAuthorized":false,"x":[1,{"a":[]},-0.5e+3,null,true]}}"#,
                true,
            ),
            (
                r#"{"operationName":"X","identity":{"upn":"a@b","claim":{"oid":"1","claim":{"oid":"2"},"oid":null}}}"#,
                true,
            ),
            (
                r#"{"operationName":"X","identity":{"upn":"a@b","oid":7,"appid":false,"appid":true}}"#,
                true,
            ),
            (
                r#"{"operationName":"X","identity":null,"httpStatusCode":0,"clientInfo":"c"}"#,
                true,
            ),
            (
                r#"{"operationName":"X","properties":{},"identity":{}}"#,
                true,
            ),
            (r#"{"time":"t","properties":{"id":"x"}}"#, true),
            (r#"{"operationName":"","time":"  "}"#, true),
            // Escapes decoded as serde decodes them (a key's too).
            (
                r#"{"operationName":"Secret\"Get","resultDescription":"a\r\nb\t\/\\\b\f\u00e9\u20AC"}"#,
                true,
            ),
            (
                r#"{"operation\u004eame":"X","identity":{"claim":{"u\u0070n":"\u0041"}}}"#,
                true,
            ),
            (r#"{"operationName":"X","x":"\"","y":{"\"":"\\"}}"#, true),
            // Managed HSM's top-level fields, and claims at the top.
            (
                r#"{"operationName":"X","httpStatusCode":403,"clientInfo":"c","requestUri":"u","identity":{"http://schemas.microsoft.com/identity/claims/objectidentifier":"o","azp":"a"}}"#,
                true,
            ),
            (
                r#"{"operationName":"X","x":[1E2,-0,0.5e-7,123456789012345678901234567890]}"#,
                true,
            ),
            // Left to serde (or not a record at all).
            (r#"{"operationName":"X","operationName":"Y"}"#, false),
            (r#" {"operationName":"X"}"#, false),
            (r#"{"operationName":"X","operation\u004eame":"Y"}"#, false),
            (r#"{"operationName":"X","identity":{"oid":-1}}"#, false),
            (
                r#"{"operationName":"X","identity":{"oid":18446744073709551616}}"#,
                false,
            ),
            (r#"{"operationName":"X","httpStatusCode":1E2}"#, false),
            (
                r#"{"operationName":"X","time":"t","properties":[403]}"#,
                false,
            ),
            (r#"{"operationName":"X","x":"\ud83d\ude00"}"#, false),
            (r#"{"operationName":"X","x":"\ud800"}"#, false),
            (r#"{"operationName":"X","x":"\x"}"#, false),
            (r#"{"operationName":"X","x":"\u12G4"}"#, false),
            (r#"{"operationName":"X","x":"\u+123"}"#, false),
            (r#"{"operationName":"X","x":"\"}"#, false),
            (r#"{"operationName":"X\"}"#, false),
            (
                r#"{"operationName":"X","properties":{"id":"a","id":"b"}}"#,
                false,
            ),
            (r#"{"operationName":"X","durationMs":-5}"#, false),
            (r#"{"operationName":"X","durationMs":1.5}"#, false),
            (
                r#"{"operationName":"X","durationMs":18446744073709551616}"#,
                false,
            ),
            (r#"{"operationName":"X","durationMs":007}"#, false),
            (r#"{"operationName":"X","x":01}"#, false),
            (r#"{"operationName":"X","x":1.}"#, false),
            (r#"{"operationName":"X","x":1e}"#, false),
            (r#"{"operationName":"X","x":-}"#, false),
            (r#"{"operationName":"X","x":tru}"#, false),
            (r#"{"operationName":"X","x":[1,]}"#, false),
            (r#"{"operationName":"X",}"#, false),
            (r#"{"operationName":"X"} x"#, false),
            (r#"{"operationName":"X"}}"#, false),
            (r#"{"operationName":5}"#, false),
            (r#"{"operationName":"X","identity":"{}"}"#, false),
            (r#"{"operationName":"X","identity":{"claim":null}}"#, false),
            (r#"{"operationName":"X","identity":{"oid":{}}}"#, false),
            (r#"{"operationName":"X","properties":[200]}"#, false),
            ("{\"operationName\":\"X\u{1}\"}", false),
            ("{\"operationName\":\"X\",\t\"time\":\"t\"}", false),
            (r#"{"category":"AuditEvent"}"#, false),
            (r#"["operationName"]"#, false),
            ("", false),
        ];
        for (line, here) in cases {
            assert_eq!(
                raw_record(line).and_then(FastRaw::into_row).is_some(),
                here,
                "{line}"
            );
            read(line);
        }
        let deep = format!(
            r#"{{"operationName":"X","x":{}{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(raw_record(&deep).is_none());
        let shallow = format!(
            r#"{{"operationName":"X","x":{}{}}}"#,
            "[".repeat(20),
            "]".repeat(20)
        );
        assert!(read(&shallow).is_some());
    }

    /// Lines made by changing a record at random: whatever this reader
    /// takes, serde reads to the same row.
    #[test]
    fn mangled_records_read_as_serde_reads_them_or_not_at_all() {
        let pieces = [
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            "\\",
            " ",
            "0",
            "-",
            ".",
            "e",
            "1",
            "null",
            "true",
            "claim",
            "\"oid\":",
            "\"id\":",
            "\"properties\":{",
            "\u{e9}",
            "\\n",
            "\\u00e9",
            "\\ud800",
            "\\u",
            "\\u0074",
            "1E2",
            "-1",
            "18446744073709551616",
            "[]",
            "\"httpStatusCode\":",
        ];
        // A denial's description has escapes.
        let denied = RECORD.replace(
            r#""resultSignature":"OK""#,
            r#""resultSignature":"Forbidden","resultDescription":"Caller is not authorized.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'""#,
        );
        // Managed HSM's: no `properties`, its fields at the top.
        let hsm = r#"{"time":"2025-03-01T12:12:15.427Z","operationName":"KeyGet","httpStatusCode":200,"clientInfo":"c","requestUri":"https://h.managedhsm.azure.net/keys/k","identity":{"claim":{"appid":"a","http://schemas.microsoft.com/identity/claims/objectidentifier":"o"}},"resourceId":"/x"}"#;
        let records = [RECORD, denied.as_str(), hsm];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut here, mut escaped, mut total) = (0, 0, 0);
        for i in 0..20_000 {
            let mut line = records[i % 3].to_owned();
            for _ in 0..1 + next() % 3 {
                let chars: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
                let at = chars[(next() as usize) % chars.len()];
                let end = line[at..]
                    .chars()
                    .next()
                    .map_or(at, |ch| at + ch.len_utf8());
                let piece = pieces[(next() as usize) % pieces.len()];
                match next() % 3 {
                    0 => line.replace_range(at..end, ""),
                    1 => line.insert_str(at, piece),
                    _ => line.replace_range(at..end, piece),
                }
            }
            total += 1;
            if read(&line).is_some() {
                here += 1;
                escaped += usize::from(line.contains('\\'));
            }
        }
        // Many changes still make a record this reader takes, escapes
        // and all.
        assert!(here > total / 10, "{here} of {total}");
        assert!(escaped > total / 10, "{escaped} of {total}");
    }
}
