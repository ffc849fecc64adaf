//! Progress bars on a terminal: the CLI's implementation of the library's
//! `Progress`. Scripts and CI logs (stderr not a terminal) get nothing.

use std::io::IsTerminal;

use ggen_marketplace::util::progress::{NoProgress, Progress};
use indicatif::{ProgressBar, ProgressStyle};

/// The progress reporter for this run: a bar on stderr when it is a
/// terminal, silence otherwise.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(TerminalBar::new())
    } else {
        Box::new(NoProgress)
    }
}

/// A bar drawn on stderr, reused for each task of a run.
struct TerminalBar {
    bar: ProgressBar,
}

impl TerminalBar {
    fn new() -> Self {
        let bar = ProgressBar::hidden();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        TerminalBar { bar }
    }
}

impl Progress for TerminalBar {
    fn start(&self, task: &str, total: u64) {
        let template = if total > 0 {
            "{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)"
        } else {
            "{spinner} {msg} {pos}"
        };
        let style = ProgressStyle::with_template(template)
            .expect("the templates above are valid")
            .progress_chars("=> ");
        self.bar.reset();
        self.bar.set_style(style);
        self.bar.set_length(total);
        self.bar.set_message(task.to_owned());
    }

    fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
