//! Progress on stderr for long reads (rows, rows/s), only on a terminal.

/// Progress on stderr for long reads: rows and rate, redrawn at most a few
/// times a second, only when stderr is a terminal.
pub(super) struct Progress {
    enabled: bool,
    rows: u64,
    started: std::time::Instant,
    last: std::time::Instant,
    shown: bool,
    /// Files read of how many (shown when there are several).
    files_done: usize,
    files_total: usize,
}

impl Progress {
    pub(super) fn new() -> Self {
        use std::io::IsTerminal;
        let enabled =
            std::io::stderr().is_terminal() && std::env::var_os("KVAUDIT_NO_PROGRESS").is_none();
        Progress {
            enabled,
            ..Self::hidden()
        }
    }

    /// No progress (and no look at the terminal: a file read among many
    /// makes one).
    pub(super) fn hidden() -> Self {
        let now = std::time::Instant::now();
        Progress {
            enabled: false,
            rows: 0,
            started: now,
            last: now,
            shown: false,
            files_done: 0,
            files_total: 0,
        }
    }

    pub(super) fn tick(&mut self) {
        self.rows += 1;
        if !self.enabled || !self.rows.is_multiple_of(16384) {
            return;
        }
        self.draw();
    }

    /// `n` rows at once (folded on a parsing thread).
    pub(super) fn tick_n(&mut self, n: u64) {
        let before = self.rows / 16384;
        self.rows += n;
        if self.enabled && self.rows / 16384 != before {
            self.draw();
        }
    }

    /// How many files the read holds.
    pub(super) fn files(&mut self, total: usize) {
        self.files_total = total;
    }

    /// One more file read.
    pub(super) fn file_done(&mut self) {
        self.files_done += 1;
        if self.enabled && self.files_total > 1 {
            self.draw();
        }
    }

    fn draw(&mut self) {
        let now = std::time::Instant::now();
        if now.duration_since(self.last).as_millis() < 250 {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.started).as_secs_f64().max(1e-6);
        let files = if self.files_total > 1 {
            format!(", {} of {} files", self.files_done, self.files_total)
        } else {
            String::new()
        };
        crate::output::stderr_control(format_args!(
            "\r\x1b[2Kkvaudit: read {} rows ({:.0} rows/s{files})",
            self.rows,
            self.rows as f64 / secs
        ));
        self.shown = true;
    }

    pub(super) fn done(&mut self) {
        if self.shown {
            crate::output::stderr_control(format_args!("\r\x1b[2K"));
            self.shown = false;
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
