//! `ggen-market`: the command-line face of ggen_marketplace. All logic lives
//! in the library; this only parses, calls and prints.

mod cli;

fn main() {
    exit_quietly_on_closed_stdout();
    std::process::exit(cli::run());
}

/// `ggen-market info serde | head` closes stdout early, and `println!` then
/// panics with "Broken pipe". End quietly instead, with the status a shell
/// gives a process killed by SIGPIPE. SIGPIPE itself stays ignored (Rust's
/// default): restoring it would also kill the process when a git or HTTP
/// peer closes its end of a pipe or socket, which must be an error instead.
fn exit_quietly_on_closed_stdout() {
    const SIGPIPE_STATUS: i32 = 128 + 13;
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(SIGPIPE_STATUS);
        }
        default_hook(info);
    }));
}
