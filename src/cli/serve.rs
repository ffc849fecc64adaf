//! `ggen-market serve`: serve an index or mirror directory over HTTP.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::CommandResult;
use ggen_marketplace::workflows::serve::{RequestLog, ServeOptions, Server};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The directory to serve: an index or a mirror (the one holding config.json).
    dir: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value_t = ServeOptions::default().addr)]
    addr: SocketAddr,
    /// Connections served at once; up to eight times as many wait, further ones get 503.
    #[arg(long, default_value_t = ServeOptions::default().max_connections)]
    max_connections: usize,
    /// Seconds a client may take to send a request, and an idle keep-alive
    /// connection may stay open (while no other connection waits).
    #[arg(long, value_name = "SECONDS", default_value_t = ServeOptions::default().read_timeout.as_secs())]
    read_timeout: u64,
    /// Do not log requests on stderr.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: ServeArgs) -> CommandResult {
    let options = ServeOptions {
        addr: args.addr,
        max_connections: args.max_connections,
        read_timeout: Duration::from_secs(args.read_timeout.max(1)),
        ..ServeOptions::default()
    };
    let server = Server::bind(&args.dir, &options)?;
    println!("Serving {} at {}", server.root().display(), server.url());
    println!("Use it with: ggen-market --registry {} search QUERY", server.url());
    std::io::stdout().flush()?;
    if !server.serves_an_index() {
        eprintln!(
            "warning: {} has no config.json, so clients will not take it for an index",
            server.root().display()
        );
    }
    let quiet = args.quiet;
    server.run(&move |log: &RequestLog| {
        if !quiet {
            let peer = log.peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
            eprintln!("{peer} \"{}\" {} {}", log.request, log.status, log.bytes);
        }
    })?;
    Ok(0)
}
