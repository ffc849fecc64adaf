//! Printing shared by every command.

use std::error::Error;
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

/// Prints a value as one line of JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(value).expect("results always serialize"));
}

/// Warnings (a registry's mirror that failed, and what was tried next) on
/// stderr as `warning: …`.
pub fn warnings() -> WarningSink {
    Arc::new(|message: &str| eprintln!("warning: {message}"))
}
