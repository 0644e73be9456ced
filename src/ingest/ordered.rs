//! Work on every core, results in order: the pool behind the archive-tree
//! reader (batches of files) and the Parquet reader (row groups). Workers
//! take jobs from a shared counter, a bounded number of results wait to be
//! handed on, and the calling thread gets them in job order, so what it
//! does with them (events, counts, the first error) is what a sequential
//! read does.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

/// What a worker of [`map_in_order`] does with its state besides jobs.
pub(super) struct Hooks<B, F> {
    /// After each result it sends (see
    /// [`crate::pipeline::ThreadFold::between`]).
    pub between: B,
    /// Once no job is left.
    pub finish: F,
}

/// Runs `work(job, state)` for jobs `0..jobs` on `workers` threads (each
/// with its own `init()` state), at most `in_flight` results done and not
/// yet handed on, and calls `each(job, result)` on the calling thread in
/// job order. A worker runs `hooks.between(state)` after each result it
/// sends, `hooks.finish(state)` once no job is left. Returns the workers'
/// states once every job is handed on, or the first error `each` returns
/// (the workers then stop).
pub(super) fn map_in_order<S: Send, T: Send>(
    jobs: usize,
    workers: usize,
    in_flight: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(usize, &mut S) -> T + Sync,
    hooks: Hooks<impl Fn(&mut S) + Sync, impl Fn(&mut S) + Sync>,
    mut each: impl FnMut(usize, T) -> Result<()>,
) -> Result<Vec<S>> {
    let workers = workers.clamp(1, jobs.max(1));
    let in_flight = in_flight.max(1);
    let (res_tx, res_rx) = mpsc::channel::<(usize, std::thread::Result<T>)>();
    let (tok_tx, tok_rx) = mpsc::sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = tok_tx.send(());
    }
    let tok_rx = Mutex::new(tok_rx);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Owned here: when this returns early (an error, a closed pipe) the
        // tokens end, and the workers waiting for one stop.
        let tok_tx = tok_tx;
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let res_tx = res_tx.clone();
            let (tok_rx, next, init, work) = (&tok_rx, &next, &init, &work);
            let (between, finish) = (&hooks.between, &hooks.finish);
            let h = std::thread::Builder::new()
                .name("kvaudit-read".into())
                .spawn_scoped(scope, move || {
                    let mut state = init();
                    loop {
                        // A token per result in flight; none left: the
                        // calling thread stopped.
                        if tok_rx
                            .lock()
                            .map(|rx| rx.recv())
                            .map_or(true, |r| r.is_err())
                        {
                            return state;
                        }
                        let job = next.fetch_add(1, Ordering::Relaxed);
                        if job >= jobs {
                            finish(&mut state);
                            return state;
                        }
                        // A panic in a reader (a library meeting what it
                        // cannot decode) is sent on as the job's result: the
                        // calling thread would otherwise wait for it forever.
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            work(job, &mut state)
                        }));
                        if res_tx.send((job, result)).is_err() {
                            return state;
                        }
                        between(&mut state);
                    }
                })
                .map_err(|e| Error::Other(format!("cannot start a thread: {e}")))?;
            handles.push(h);
        }
        drop(res_tx);
        let mut pending: BTreeMap<usize, std::thread::Result<T>> = BTreeMap::new();
        for job in 0..jobs {
            let result = loop {
                if let Some(r) = pending.remove(&job) {
                    break r;
                }
                match res_rx.recv() {
                    Ok((j, r)) => {
                        pending.insert(j, r);
                    }
                    Err(_) => return Err(Error::Other("a reading thread stopped early".into())),
                }
            };
            let _ = tok_tx.send(());
            let result = result.map_err(|panic| {
                Error::Other(format!(
                    "a reading thread failed on input it could not decode ({})",
                    panic_message(&*panic)
                ))
            })?;
            each(job, result)?;
        }
        // Every job was handed on: the workers end at their next token.
        drop(tok_tx);
        Ok(handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect())
    })
}

/// What a caught panic said.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Runs `f`, a panic in it (a library meeting input it cannot decode)
/// becoming an error message; the panic's own report still goes to
/// stderr (it may be kvaudit's bug).
pub(super) fn caught<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|p| format!("could not be decoded ({})", panic_message(&*p)))
}

/// [`caught`] for a decoder's own call alone (polars reading a footer or
/// a row group), whose panic is the input's fault: its report is not
/// printed, the error says it all.
pub(super) fn decoded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    quiet_hook();
    let was = QUIET.with(|q| q.replace(true));
    let r = caught(f);
    QUIET.with(|q| q.set(was));
    r
}

thread_local! {
    /// Whether this thread is in [`decoded`], whose panics are errors.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once, a panic hook that stays silent on a thread in
/// [`decoded`] and reports every other panic as before.
fn quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                before(info);
            }
        }));
    });
}
