//! Printing shared by every command.

use std::error::Error;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use ggen_marketplace::sources::fallback::WarningSink;

/// Prints `error: …` with every cause on its own line, skipping causes
/// whose text the message above already includes (most of our errors
/// quote their cause).
pub fn print_error(err: &dyn Error) {
    let mut shown = err.to_string();
    eprintln!("error: {shown}");
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
            shown.push_str(&text);
        }
        source = cause.source();
    }
}

/// Prints a value as one line of JSON on stdout, written as it is
/// serialized (an `index check` report of a large index is megabytes; it is
/// never held whole in memory). Like `println!`, a stdout that cannot be
/// written to is fatal, except a closed pipe (`| head`): the reader is gone,
/// and the command ends as it would have.
pub fn print_json(value: &impl serde::Serialize) {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_writer(&mut out, value)
        .map_err(io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => panic!("failed printing to stdout: {e}"),
        _ => {}
    }
}

/// Warnings (a registry's mirror that failed, and what was tried next) on
/// stderr as `warning: …`.
pub fn warnings() -> WarningSink {
    Arc::new(|message: &str| eprintln!("warning: {message}"))
}
