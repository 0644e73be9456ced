//! Large values freed on a thread of their own: a command is done once its
//! output is written, so whoever drops them should not wait for it.

/// A value freed on a thread of its own when dropped, so that whoever
/// drops it does not wait (the process may end first: a command is done
/// once its output is written); freed in place when no thread can be
/// started.
pub struct FreedAside<T: Send + 'static>(pub Option<T>);

impl<T: Send + 'static> Drop for FreedAside<T> {
    fn drop(&mut self) {
        if let Some(v) = self.0.take() {
            // A thread that cannot start drops its closure, and `v` with it.
            let _ = std::thread::Builder::new()
                .name("kvaudit-free".into())
                .spawn(move || drop(v));
        }
    }
}

impl<T: Send + 'static> std::ops::Deref for FreedAside<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            Some(v) => v,
            None => unreachable!("taken only when dropped"),
        }
    }
}

impl<T: Send + 'static> std::ops::DerefMut for FreedAside<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.0 {
            Some(v) => v,
            None => unreachable!("taken only when dropped"),
        }
    }
}

/// Frees `v` on a thread of its own (see [`FreedAside`]).
pub fn free_aside<T: Send + 'static>(v: T) {
    drop(FreedAside(Some(v)));
}
