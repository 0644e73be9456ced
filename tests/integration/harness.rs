//! A small harness over the real binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn fixture(rel: &str) -> String {
    root()
        .join("fixtures")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

pub(crate) fn kvaudit(args: &[&str]) -> Out {
    kvaudit_stdin(args, None)
}

pub(crate) fn kvaudit_stdin(args: &[&str], stdin: Option<&[u8]>) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvaudit"))
        .args(args)
        .env_remove("KVAUDIT_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kvaudit");
    {
        let mut sin = child.stdin.take().unwrap();
        if let Some(b) = stdin {
            sin.write_all(b).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub(crate) fn jsonl(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

/// Writes `rows` rows of `kvaudit synth` logs of `shape` with `seed` in
/// `dir`; the file's path.
pub(crate) fn synth(dir: &Path, shape: &str, rows: u32, seed: u32) -> String {
    let p = dir
        .join(format!("{shape}-{rows}-{seed}"))
        .to_string_lossy()
        .into_owned();
    let (rows, seed) = (rows.to_string(), seed.to_string());
    let out = kvaudit(&[
        "synth", "--rows", &rows, "--shape", shape, "--seed", &seed, "-o", &p,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    p
}
