//! Progress reporting, passed in by the caller and never global: the library
//! reports, the CLI decides whether and how to draw it.

/// Receives progress of one long task.
pub trait Progress: Sync {
    /// A task with `total` steps (0 if unknown) starts.
    fn start(&self, task: &str, total: u64);
    /// `steps` more steps are done.
    fn advance(&self, steps: u64);
    /// The task is over.
    fn finish(&self);
}

/// Reports nothing: for library callers and scripts.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _task: &str, _total: u64) {}
    fn advance(&self, _steps: u64) {}
    fn finish(&self) {}
}
