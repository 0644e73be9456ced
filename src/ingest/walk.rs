//! Lists a downloaded storage archive on every core: the tree holds one
//! folder per vault and hour (y=/m=/d=/h=/m=00, 15,000 folders for 7,300
//! blobs), and listing them one after another took a quarter of the time
//! of reading it. Plain trees only: at the first symbolic link or error the
//! caller walks the tree the careful way (loops found, errors named).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// A regular file found, with its (device, inode) so that a file reached
/// twice (a hard link) is read once, and its size.
pub(super) type Found = (PathBuf, (u64, u64), u64);

#[derive(Default)]
struct Shared {
    /// Folders handed out for any thread to list.
    queue: Vec<PathBuf>,
    /// Threads waiting for a folder.
    waiting: usize,
    /// Every folder is listed (or a link or an error was met).
    over: bool,
    /// A link or an error was met: the caller walks instead.
    give_up: bool,
}

/// What one folder holds: its files and sub-folders; None for a symbolic
/// link or anything unreadable.
fn list(dir: &std::path::Path) -> Option<(Vec<Found>, Vec<PathBuf>)> {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let kind = entry.file_type().ok()?;
        if kind.is_symlink() {
            return None;
        }
        if kind.is_dir() {
            dirs.push(entry.path());
        } else if kind.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
            let m = entry.metadata().ok()?;
            files.push((entry.path(), (m.dev(), m.ino()), m.len()));
        }
    }
    Some((files, dirs))
}

/// The next folder for a thread whose own are all listed: one handed out,
/// else None once every thread waits (the walk is over) or it gave up.
fn next_shared(
    state: &Mutex<Shared>,
    wake: &Condvar,
    waiting: &AtomicUsize,
    threads: usize,
) -> Option<PathBuf> {
    let mut s = state.lock().ok()?;
    s.waiting += 1;
    waiting.store(s.waiting, Ordering::Relaxed);
    loop {
        if s.over {
            return None;
        }
        if let Some(d) = s.queue.pop() {
            s.waiting -= 1;
            waiting.store(s.waiting, Ordering::Relaxed);
            return Some(d);
        }
        if s.waiting == threads {
            s.over = true;
            wake.notify_all();
            return None;
        }
        s = wake.wait(s).ok()?;
    }
}

/// One walking thread: lists its own folders depth first, and hands half
/// of those waiting to be listed to the others when one of them is idle
/// (few hand-overs: a tree of 15,000 folders is mostly one chain per hour).
/// Gives the files found and the Delta logs (folders named `_delta_log`).
fn walker(
    state: &Mutex<Shared>,
    wake: &Condvar,
    (waiting, stop): (&AtomicUsize, &AtomicBool),
    threads: usize,
) -> Walked {
    let mut own: Vec<PathBuf> = Vec::new();
    let mut found = Walked::default();
    loop {
        // Another thread gave up: the caller walks instead.
        if stop.load(Ordering::Relaxed) {
            return found;
        }
        let Some(dir) = own
            .pop()
            .or_else(|| next_shared(state, wake, waiting, threads))
        else {
            return found;
        };
        let Some((files, dirs)) = list(&dir) else {
            stop.store(true, Ordering::Relaxed);
            if let Ok(mut s) = state.lock() {
                s.give_up = true;
                s.over = true;
            }
            wake.notify_all();
            return found;
        };
        found.files.extend(files);
        found
            .logs
            .extend(dirs.iter().filter(|d| is_log(d)).cloned());
        own.extend(dirs);
        if own.len() > 1 && waiting.load(Ordering::Relaxed) > 0 {
            let Ok(mut s) = state.lock() else {
                return found;
            };
            if s.over {
                return found;
            }
            // The first listed: the highest of this thread's folders.
            let half = own.len() / 2;
            s.queue.extend(own.drain(..half));
            wake.notify_all();
        }
    }
}

/// What a walk found: every regular, non-hidden file, and every folder
/// named `_delta_log` (a Delta table's log, empty ones too).
#[derive(Default)]
pub(super) struct Walked {
    pub files: Vec<Found>,
    pub logs: Vec<PathBuf>,
}

/// Whether `dir` is named as a Delta table's log folder.
pub(super) fn is_log(dir: &std::path::Path) -> bool {
    dir.file_name().is_some_and(|n| n == "_delta_log")
}

/// Every regular, non-hidden file under `root`, in the order of a walk
/// that sorts each folder by name (paths compare component by
/// component), and the Delta log folders, listed by `threads` threads;
/// None when the tree has a symbolic link or an entry that cannot be
/// read.
pub(super) fn files(root: &std::path::Path, threads: usize) -> Option<Walked> {
    let threads = threads.max(1);
    let state = Mutex::new(Shared {
        queue: vec![root.to_path_buf()],
        ..Default::default()
    });
    let (wake, waiting, stop) = (Condvar::new(), AtomicUsize::new(0), AtomicBool::new(false));
    let mut walked = Walked::default();
    let mut started = 0;
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for _ in 0..threads {
            let (state, wake, flags) = (&state, &wake, (&waiting, &stop));
            match std::thread::Builder::new()
                .name("kvaudit-walk".into())
                .spawn_scoped(scope, move || walker(state, wake, flags, threads))
            {
                Ok(h) => {
                    handles.push(h);
                    started += 1;
                }
                Err(_) => break,
            }
        }
        if started < threads {
            // The walk cannot end without every thread waiting.
            stop.store(true, Ordering::Relaxed);
            if let Ok(mut s) = state.lock() {
                s.give_up = true;
                s.over = true;
            }
            wake.notify_all();
        }
        for h in handles {
            match h.join() {
                Ok(w) => {
                    walked.files.extend(w.files);
                    walked.logs.extend(w.logs);
                }
                Err(_) => started = 0,
            }
        }
    });
    let s = state.into_inner().ok()?;
    if s.give_up || started < threads {
        return None;
    }
    walked.files.sort_by_cached_key(|f| component_order(&f.0));
    Some(walked)
}

/// A path's key for sorting in the order of its components (as
/// [`std::path::Path`]'s `Ord`) the clean paths a walk builds: its bytes
/// with the separator below every other byte (no name holds a NUL), so
/// that keys compare as plain bytes.
fn component_order(p: &std::path::Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str()
        .as_bytes()
        .iter()
        .map(|&b| if b == b'/' { 0 } else { b })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same files in the same order as walkdir sorting each folder by
    /// name (names chosen so that string order and component order differ:
    /// `a-b` sorts before `a/` as text, after `a` as a name).
    #[test]
    fn lists_in_sorted_walk_order_and_gives_up_on_links() {
        let d = tempfile::tempdir().expect("temp dir");
        let root = d.path();
        for f in [
            "a/x.json",
            "a-b/y.json",
            "a/c/z.json",
            "b.json",
            "a/.hidden",
            "a/c/d/e/f.json",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, "{}").expect("write");
        }
        let want: Vec<PathBuf> = walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .filter_map(std::result::Result::ok)
            .filter(|e| {
                e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with('.')
            })
            .map(|e| e.path().to_path_buf())
            .collect();
        for threads in [1, 2, 4] {
            let got: Vec<PathBuf> = files(root, threads)
                .expect("a plain tree")
                .files
                .into_iter()
                .map(|f| f.0)
                .collect();
            assert_eq!(got, want, "{threads} thread(s)");
        }
        std::os::unix::fs::symlink(root.join("a"), root.join("a-b/link")).expect("symlink");
        assert!(files(root, 2).is_none());
    }
}
