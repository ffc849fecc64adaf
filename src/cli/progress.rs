//! Progress bars for people: drawn on stderr only when it is a terminal, so
//! scripts and `--json` output never see them.

use std::io::IsTerminal;

use ggen_marketplace::util::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// An indicatif bar behind the library's `Progress` trait.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar that draws when stderr is a terminal and is hidden otherwise.
    pub fn for_terminal() -> Self {
        let bar = ProgressBar::hidden();
        if std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Bar { bar }
    }
}

impl Progress for Bar {
    fn start(&self, task: &str, total: u64) {
        let template = if total > 0 {
            "{msg:>12} [{bar:30}] {pos}/{len} ({eta})"
        } else {
            "{msg:>12} {spinner} {pos}"
        };
        let style = ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_message(task.to_owned());
        self.bar.reset_eta();
    }

    fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
