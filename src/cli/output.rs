//! Printing shared by every command.

use std::error::Error;

/// Prints `error: …` with every cause on its own line, except causes the
/// line above already quotes (many messages read `{what}: {source}`, and
/// the same words twice help nobody).
pub fn print_error(err: &dyn Error) {
    let mut above = err.to_string();
    eprintln!("error: {above}");
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !above.contains(&text) {
            eprintln!("  caused by: {text}");
        }
        above = text;
        source = cause.source();
    }
}

/// Prints a value as one line of JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(value).expect("results always serialize"));
}
