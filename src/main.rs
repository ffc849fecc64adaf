//! `ggen-market`: the command-line face of ggen_marketplace. All logic lives
//! in the library; this only parses, calls and prints.

mod cli;

fn main() {
    exit_quietly_on_closed_stdout();
    std::process::exit(cli::run());
}

/// Rust ignores SIGPIPE, so `ggen-market info serde | head` would make
/// every later `println!` panic with "Broken pipe". Restore the default
/// action, as other command-line tools have it: the process just ends.
#[cfg(unix)]
fn exit_quietly_on_closed_stdout() {
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // `signal(2)` from the C library std already links; std has no wrapper.
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    // SAFETY: installs the default disposition; no Rust handler runs.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

#[cfg(not(unix))]
fn exit_quietly_on_closed_stdout() {}
