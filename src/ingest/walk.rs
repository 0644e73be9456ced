//! Lists a downloaded storage archive on every core: the tree holds one
//! folder per vault and hour (y=/m=/d=/h=/m=00, 15,000 folders for 7,300
//! blobs), and listing them one after another took a quarter of the time
//! of reading it. Plain trees only: at the first symbolic link or error the
//! caller walks the tree the careful way (loops found, errors named).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

/// A regular file found, with its (device, inode) so that a file reached
/// twice (a hard link) is read once, and its size.
pub(super) type Found = (PathBuf, (u64, u64), u64);

#[derive(Default)]
struct Shared {
    /// Folders still to list.
    queue: Vec<PathBuf>,
    /// Folders being listed.
    busy: usize,
    files: Vec<Found>,
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

/// Every regular, non-hidden file under `root`, in the order of a walk
/// that sorts each folder by name (paths compare component by
/// component), listed by `threads` threads; None when the tree has a
/// symbolic link or an entry that cannot be read.
pub(super) fn files(root: &std::path::Path, threads: usize) -> Option<Vec<Found>> {
    let state = Mutex::new(Shared {
        queue: vec![root.to_path_buf()],
        ..Default::default()
    });
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let (state, wake) = (&state, &wake);
            let spawned = std::thread::Builder::new()
                .name("kvaudit-walk".into())
                .spawn_scoped(scope, move || loop {
                    let dir = {
                        let Ok(mut s) = state.lock() else { return };
                        loop {
                            if s.give_up {
                                return;
                            }
                            if let Some(d) = s.queue.pop() {
                                s.busy += 1;
                                break d;
                            }
                            if s.busy == 0 {
                                return;
                            }
                            s = match wake.wait(s) {
                                Ok(s) => s,
                                Err(_) => return,
                            };
                        }
                    };
                    let listed = list(&dir);
                    let Ok(mut s) = state.lock() else { return };
                    s.busy -= 1;
                    match listed {
                        Some((files, dirs)) => {
                            s.files.extend(files);
                            s.queue.extend(dirs);
                        }
                        None => s.give_up = true,
                    }
                    wake.notify_all();
                });
            if spawned.is_err() {
                if let Ok(mut s) = state.lock() {
                    s.give_up = true;
                }
                wake.notify_all();
            }
        }
    });
    let s = state.into_inner().ok()?;
    if s.give_up {
        return None;
    }
    let mut files = s.files;
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Some(files)
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
                .into_iter()
                .map(|f| f.0)
                .collect();
            assert_eq!(got, want, "{threads} thread(s)");
        }
        std::os::unix::fs::symlink(root.join("a"), root.join("a-b/link")).expect("symlink");
        assert!(files(root, 2).is_none());
    }
}
