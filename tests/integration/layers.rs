//! The source keeps the shape of the data flow: a module imports only from
//! its own stage and the stages before it (ingest → identify → analyze →
//! render; online beside them; commands on top; the foundation under all),
//! and no source file imports, directly or through others, a file that
//! imports it. A folder's `mod.rs` declaring its children (`mod x;`) and
//! re-exporting them (`pub use x::...`) does not count as an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The folders and files of `src/` by stage, and the stages each may import.
const STAGES: &[(&str, &[&str])] = &[
    ("foundation", &["foundation"]),
    ("ingest", &["foundation", "ingest"]),
    ("identify", &["foundation", "identify"]),
    ("analyze", &["foundation", "ingest", "identify", "analyze"]),
    (
        "render",
        &["foundation", "ingest", "identify", "analyze", "render"],
    ),
    ("online", &["foundation", "identify", "online"]),
    ("synth", &["foundation", "synth"]),
    (
        "commands",
        &[
            "foundation",
            "ingest",
            "identify",
            "analyze",
            "render",
            "online",
            "synth",
            "commands",
        ],
    ),
    (
        "lib",
        &[
            "foundation",
            "ingest",
            "identify",
            "analyze",
            "render",
            "online",
            "synth",
            "commands",
            "lib",
        ],
    ),
];

/// The stage of a module path (`["analyze", "explain"]`).
fn stage(module: &[String]) -> &'static str {
    match module.first().map(String::as_str) {
        None => "lib",
        Some("ingest") => "ingest",
        Some("identify") => "identify",
        Some("analyze") => "analyze",
        Some("render") => "render",
        Some("online") => "online",
        Some("synth") => "synth",
        Some("commands") => "commands",
        Some("main") => "lib",
        Some(
            "error" | "exit" | "event" | "parse" | "pipeline" | "output" | "collections" | "limits",
        ) => "foundation",
        Some(other) => panic!(
            "src/{other}: a module in no stage; place it in tests/integration/layers.rs::stage"
        ),
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file with its module path.
fn files() -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.insert(module_of(&p), p);
            }
        }
    }
    out
}

fn module_of(p: &Path) -> Vec<String> {
    let rel = p.strip_prefix(src()).unwrap().with_extension("");
    let mut m: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(m.last().map(String::as_str), Some("mod" | "lib")) {
        m.pop();
    }
    m
}

/// The code of a file without comments, string literals and its unit tests
/// (`#[cfg(test)] mod tests` at the end of a file may use anything).
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'r' && b.get(i + 1) == Some(&b'#') || b[i] == b'"' {
            // A string literal (raw or not): skipped whole.
            if b[i] == b'r' {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let start = i + 1 + hashes + 1;
                let end = text[start..]
                    .find(std::str::from_utf8(&close).unwrap())
                    .map_or(b.len(), |k| start + k + close.len());
                i = end;
            } else {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A character literal such as '"'.
            out.push_str("' '");
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            let end = text[i + 2..].find('\'').map_or(b.len(), |k| i + 2 + k + 1);
            out.push_str("' '");
            i = end;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The paths named by `use` items (braces expanded) and written inline
/// with `crate::`, `super::` or `self::`, each with whether it is a
/// re-export (`pub use`).
fn paths(code: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    // The code with its use items blanked, for the inline paths.
    let mut rest = code.to_string();
    let mut i = 0;
    while let Some(k) = code[i..].find("use ") {
        let at = i + k;
        i = at + 4;
        let word_start =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        if !word_start {
            continue;
        }
        let line_start = code[..at].rfind('\n').map_or(0, |n| n + 1);
        let before = code[line_start..at].trim();
        if !(before.is_empty() || before.starts_with("pub")) {
            continue;
        }
        let reexport = before.starts_with("pub");
        let end = code[at..].find(';').map_or(code.len(), |e| at + e);
        expand("", &code[at + 4..end], &mut |p| out.push((p, reexport)));
        rest.replace_range(at..end, &" ".repeat(end - at));
        i = end;
    }
    let code = rest.as_str();
    let bytes = code.as_bytes();
    for prefix in ["crate::", "super::", "self::"] {
        let mut j = 0;
        while let Some(k) = code[j..].find(prefix) {
            let at = j + k;
            j = at + prefix.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            out.push((code[at..end].trim_end_matches(':').to_string(), false));
        }
    }
    out
}

/// Expands `a::{b, c::{d}}` into `a::b`, `a::c::d`.
fn expand(prefix: &str, tree: &str, out: &mut dyn FnMut(String)) {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        let name = tree.split(" as ").next().unwrap_or(&tree);
        out(format!("{prefix}{name}"));
        return;
    };
    let head = &tree[..open];
    let inner = &tree[open + 1..tree.len() - 1];
    let mut depth = 0;
    let mut start = 0;
    let parts: Vec<&str> = inner
        .char_indices()
        .filter_map(|(i, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    let part = &inner[start..i];
                    start = i + 1;
                    return Some(part);
                }
                _ => {}
            }
            None
        })
        .collect::<Vec<_>>()
        .into_iter()
        .chain(std::iter::once(&inner[start..]))
        .collect();
    for p in parts.into_iter().filter(|p| !p.is_empty()) {
        expand(&format!("{prefix}{head}"), p, out);
    }
}

/// The file a path names: the longest module prefix that is a file.
fn resolve(
    path: &str,
    here: &[String],
    is_folder: bool,
    children: &BTreeSet<String>,
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    // The module the path starts from.
    let mut base: Vec<String> = if is_folder {
        here.to_vec()
    } else {
        here[..here.len().saturating_sub(1)].to_vec()
    };
    match segs.first().copied() {
        Some("crate") => {
            base.clear();
            segs.remove(0);
        }
        Some("self") => {
            base = here.to_vec();
            segs.remove(0);
        }
        Some("super") => {
            base = here.to_vec();
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
        }
        Some(first) if children.contains(first) => base = here.to_vec(),
        // An external crate or std.
        _ => return None,
    }
    let mut best = None;
    let mut m = base.clone();
    if files.contains_key(&m) {
        best = Some(m.clone());
    }
    for s in segs {
        m.push(s.to_string());
        if files.contains_key(&m) {
            best = Some(m.clone());
        } else {
            break;
        }
    }
    best
}

/// Every import edge between source files (file → file it imports).
fn edges() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = files();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, path) in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let is_folder = name == "mod.rs" || name == "lib.rs";
        let code = code(&std::fs::read_to_string(path).unwrap());
        let children: BTreeSet<String> = if is_folder {
            code.lines()
                .filter_map(|l| {
                    let l = l.trim();
                    let l = l.strip_prefix("pub ").unwrap_or(l);
                    l.strip_prefix("mod ")
                        .and_then(|r| r.strip_suffix(';'))
                        .map(str::to_string)
                })
                .collect()
        } else {
            BTreeSet::new()
        };
        let mut to = BTreeSet::new();
        for (p, reexport) in paths(&code) {
            let Some(target) = resolve(&p, module, is_folder, &children, &files) else {
                continue;
            };
            let child = target.len() > module.len() && target.starts_with(module);
            if target == *module || (is_folder && reexport && child) {
                continue;
            }
            to.insert(target);
        }
        graph.insert(module.clone(), to);
    }
    graph
}

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("::")
    }
}

#[test]
fn modules_import_only_from_earlier_stages() {
    let graph = edges();
    assert!(graph.len() > 30, "only {} source files found", graph.len());
    let mut wrong = Vec::new();
    for (from, tos) in &graph {
        let s = stage(from);
        let allowed = STAGES.iter().find(|(n, _)| *n == s).unwrap().1;
        for to in tos {
            let t = stage(to);
            if !allowed.contains(&t) {
                wrong.push(format!("{} ({s}) imports {} ({t})", show(from), show(to)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the flow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_file_imports_one_that_imports_it() {
    let graph = edges();
    // Depth-first search for a cycle, reporting one.
    fn visit(
        n: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|m| m == n).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(n.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, &graph, &mut state, &mut Vec::new()) {
            let shown: Vec<String> = c.iter().map(|m| show(m)).collect();
            panic!("import cycle: {}", shown.join(" -> "));
        }
    }
}

#[test]
fn the_checker_sees_imports_and_cycles() {
    // The checks above must be able to fail: the parser finds grouped,
    // nested, re-exported and inline paths.
    let found = paths(&code(
        "use crate::a::{b, c::{d, e}};\npub use x::Y;\nfn f() { crate::g::h(); super::i::j(); let s = \"crate::no\"; }\n",
    ));
    let names: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "crate::a::b",
        "crate::a::c::d",
        "crate::a::c::e",
        "x::Y",
        "crate::g::h",
        "super::i::j",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("no")), "{names:?}");
    assert!(found.iter().any(|(p, re)| p == "x::Y" && *re));
    // And the real graph has edges to check.
    let graph = edges();
    let ingest_mod = graph.get(&vec!["ingest".to_string()]).unwrap();
    assert!(!ingest_mod.is_empty());
    assert!(graph
        .get(&vec!["commands".to_string(), "report".to_string()])
        .unwrap()
        .contains(&vec!["analyze".to_string(), "report".to_string()]));
}
