//! `serve`: a small synchronous static file server for an index or a
//! mirror directory, speaking what the sparse protocol needs and nothing
//! more: GET and HEAD, `ETag` / `Last-Modified` with 304 answers to
//! `If-None-Match` / `If-Modified-Since`, content types, keep-alive.
//! For development and small air-gapped sites; nginx does the same job at
//! scale (see the README).
//!
//! - Paths never leave the root: `..`, encoded separators, backslashes and
//!   NUL are refused (400), and a symlink resolving outside the root is
//!   not found (404). Dot-directories are served (`io/.g/…` holds
//!   namespaced package files) but anything under `.git` is not (404).
//!   Directories are not listed (404).
//! - A fixed pool of [`ServeOptions::max_connections`] threads serves
//!   connections; up to eight times as many wait in a queue, and beyond
//!   that a connection is answered 503 at once. Each request head must
//!   arrive within [`ServeOptions::read_timeout`] and
//!   [`ServeOptions::max_head_bytes`], so slow clients cannot hold a
//!   thread. Keep-alive connections are kept while nobody waits: an idle
//!   one is closed after the same timeout, or as soon as another
//!   connection waits for a thread, and a response is sent with
//!   `Connection: close` when others wait (clients reconnect, as HTTP
//!   allows).
//! - Request bodies are never read: a request announcing one is answered
//!   and its connection closed.
//!
//! ```
//! use std::io::{Read, Write};
//! use ggen_marketplace::workflows::serve::{ServeOptions, Server};
//!
//! let root = tempfile::tempdir().unwrap();
//! std::fs::write(root.path().join("config.json"), r#"{"dl":"archives/{crate}/{crate}-{version}.tar.gz"}"#).unwrap();
//! let options = ServeOptions { addr: "127.0.0.1:0".parse().unwrap(), ..ServeOptions::default() };
//! let server = Server::bind(root.path(), &options).unwrap();
//! let url = server.url(); // sparse+http://127.0.0.1:PORT/
//! let (addr, stopper) = (server.local_addr(), server.stopper());
//! let running = std::thread::spawn(move || server.run(&|_log| {}));
//!
//! let mut client = std::net::TcpStream::connect(addr).unwrap();
//! client.write_all(b"GET /config.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//! let mut answer = String::new();
//! client.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(answer.contains("Content-Type: application/json\r\n") && answer.contains("ETag: \""));
//! assert!(url.starts_with("sparse+http://127.0.0.1:"));
//!
//! stopper.stop();
//! running.join().unwrap();
//! ```

mod file;
mod http;
mod path;

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use self::file::{Validators, content_type};
use self::http::{HeadError, Request, ResponseHead};
use self::path::Refusal;
use crate::format::CONFIG_FILE;
use crate::util::time::http_date;

/// Connections that may wait for a free thread, per thread.
const QUEUE_PER_CONNECTION: usize = 8;
/// The `Server` header.
const SERVER_NAME: &str = concat!("ggen-market/", env!("CARGO_PKG_VERSION"));

/// How to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The address to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Connections served at once (one thread each).
    pub max_connections: usize,
    /// The longest wait for a request head, and for an idle keep-alive
    /// connection's next request; also bounds each write to the client.
    pub read_timeout: Duration,
    /// The largest request head (request line and headers) accepted.
    pub max_head_bytes: usize,
}

impl Default for ServeOptions {
    /// 127.0.0.1:8080, 32 connections, 10 s, 16 KiB.
    fn default() -> Self {
        ServeOptions {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            max_connections: 32,
            read_timeout: Duration::from_secs(10),
            max_head_bytes: 16 * 1024,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // the #[error] messages name each field
pub enum ServeError {
    /// The directory to serve cannot be opened.
    #[error("cannot serve {}: {source}; pass the directory that holds config.json", path.display())]
    Root { path: PathBuf, source: io::Error },
    /// The path to serve is not a directory.
    #[error("cannot serve {}: not a directory; pass the directory that holds config.json", path.display())]
    NotADirectory { path: PathBuf },
    /// The address cannot be listened on.
    #[error(
        "cannot listen on {addr}: {source}; is another server using that port? `--addr 127.0.0.1:0` picks a free one"
    )]
    Bind { addr: SocketAddr, source: io::Error },
    /// The listening socket failed.
    #[error("the listening socket on {addr} failed: {source}")]
    Accept { addr: SocketAddr, source: io::Error },
}

/// One answered request (or refused connection), for an access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The request line's method and target (`GET /config.json`), or `-`
    /// when no request was read (a connection refused as busy, a head too
    /// large or too slow).
    pub request: String,
    /// The status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    root: PathBuf,
    listener: TcpListener,
    addr: SocketAddr,
    options: ServeOptions,
    stopping: Arc<AtomicBool>,
    /// Connections accepted and waiting for a thread.
    waiting: AtomicUsize,
}

/// Stops a running server from another thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    stopping: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl Stopper {
    /// Asks the server to stop: it accepts no more connections, answers
    /// the requests in progress (closing their connections) and
    /// [`Server::run`] returns once every thread is done, within
    /// [`ServeOptions::read_timeout`].
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        let wake = match self.addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, a.port())),
            SocketAddr::V6(a) if a.ip().is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, a.port())),
            other => other,
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}

impl Server {
    /// Opens `root` and listens on `options.addr`.
    pub fn bind(root: &Path, options: &ServeOptions) -> Result<Server, ServeError> {
        let canonical = root.canonicalize().map_err(|source| ServeError::Root {
            path: root.to_owned(),
            source,
        })?;
        if !canonical.is_dir() {
            return Err(ServeError::NotADirectory { path: root.to_owned() });
        }
        let bind_error = |source| ServeError::Bind {
            addr: options.addr,
            source,
        };
        let listener = TcpListener::bind(options.addr).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        Ok(Server {
            root: canonical,
            listener,
            addr,
            options: ServeOptions {
                max_connections: options.max_connections.max(1),
                ..options.clone()
            },
            stopping: Arc::new(AtomicBool::new(false)),
            waiting: AtomicUsize::new(0),
        })
    }

    /// The address listened on (with the port chosen, if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registry URL clients use: `sparse+http://ADDR/`.
    pub fn url(&self) -> String {
        format!("sparse+http://{}/", self.addr)
    }

    /// The directory served, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the root holds a `config.json`, without which clients do
    /// not take it for an index.
    pub fn serves_an_index(&self) -> bool {
        self.root.join(CONFIG_FILE).is_file()
    }

    /// A handle that stops [`run`](Server::run) from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            stopping: Arc::clone(&self.stopping),
            addr: self.addr,
        }
    }

    /// Serves until stopped, calling `log` after every request.
    pub fn run(self, log: &(dyn Fn(&RequestLog) + Sync)) -> Result<(), ServeError> {
        let queue = self.options.max_connections * QUEUE_PER_CONNECTION;
        let (sender, receiver) = mpsc::sync_channel::<TcpStream>(queue);
        let receiver = Mutex::new(receiver);
        std::thread::scope(|scope| {
            for _ in 0..self.options.max_connections {
                scope.spawn(|| {
                    loop {
                        let next = receiver.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match next {
                            Ok(stream) => {
                                self.waiting.fetch_sub(1, Ordering::SeqCst);
                                self.serve_connection(stream, log);
                            }
                            Err(_) => return,
                        }
                    }
                });
            }
            let result = self.accept_loop(&sender, log);
            drop(sender);
            result
        })
    }

    fn accept_loop(
        &self,
        queue: &mpsc::SyncSender<TcpStream>,
        log: &(dyn Fn(&RequestLog) + Sync),
    ) -> Result<(), ServeError> {
        let mut failures = 0;
        for stream in self.listener.incoming() {
            if self.stopping.load(Ordering::SeqCst) {
                return Ok(());
            }
            match stream {
                Ok(stream) => {
                    failures = 0;
                    self.waiting.fetch_add(1, Ordering::SeqCst);
                    if let Err(TrySendError::Full(stream) | TrySendError::Disconnected(stream)) = queue.try_send(stream)
                    {
                        self.waiting.fetch_sub(1, Ordering::SeqCst);
                        self.refuse_busy(stream, log);
                    }
                }
                // Out of file descriptors, or a connection reset before it
                // was accepted: wait a moment and go on; give up only if
                // the socket keeps failing.
                Err(source) => {
                    failures += 1;
                    if failures > 100 {
                        return Err(ServeError::Accept {
                            addr: self.addr,
                            source,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        Ok(())
    }

    /// Answers 503 on a connection no thread or queue slot is free for.
    fn refuse_busy(&self, mut stream: TcpStream, log: &(dyn Fn(&RequestLog) + Sync)) {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let body = "503 Service Unavailable: too many connections; try again\n";
        let head = self
            .common_head(503, false)
            .header("Retry-After", "1")
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("Content-Length", body.len().to_string());
        let _ = head
            .write_to(&mut stream)
            .and_then(|()| stream.write_all(body.as_bytes()));
        log(&RequestLog {
            peer: stream.peer_addr().ok(),
            request: "-".into(),
            status: 503,
            bytes: body.len() as u64,
        });
    }

    fn serve_connection(&self, stream: TcpStream, log: &(dyn Fn(&RequestLog) + Sync)) {
        let peer = stream.peer_addr().ok();
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(self.options.read_timeout));
        let Ok(read_half) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(read_half);
        let mut writer = stream;
        let others_wait = || self.waiting.load(Ordering::SeqCst) > 0 || self.stopping.load(Ordering::SeqCst);
        let mut first = true;
        loop {
            let deadline = Instant::now() + self.options.read_timeout;
            // The first request is what the connection waited for; later
            // ones may be given up for connections still waiting.
            let give_up: &dyn Fn() -> bool = if first { &|| false } else { &others_wait };
            first = false;
            let head = http::read_head(&mut reader, self.options.max_head_bytes, deadline, give_up);
            let request = match head {
                Ok(head) => Request::parse(&head).map_err(|why| (400, why)),
                Err(HeadError::Gone | HeadError::Io) => return,
                Err(HeadError::Timeout) => Err((408, "request head not received in time")),
                Err(HeadError::TooLarge) => Err((431, "request head too large")),
            };
            let request = match request {
                Ok(request) => request,
                Err((status, why)) => {
                    let bytes = self.send_error(&mut writer, status, false, false, why);
                    log(&RequestLog {
                        peer,
                        request: "-".into(),
                        status,
                        bytes,
                    });
                    return;
                }
            };
            let keep_alive = request.keep_alive() && !others_wait();
            let answered = self.answer(&request, &mut writer, keep_alive);
            let (status, bytes) = answered.as_ref().map_or((500, 0), |sent| *sent);
            log(&RequestLog {
                peer,
                request: format!("{} {}", request.method, request.target),
                status,
                bytes,
            });
            if answered.is_err() || !keep_alive {
                return;
            }
        }
    }

    /// Writes the answer to one request; returns the status and body bytes
    /// sent, or an error after which the connection must close.
    fn answer(&self, request: &Request, out: &mut TcpStream, keep_alive: bool) -> io::Result<(u16, u64)> {
        let head_only = request.method == "HEAD";
        if !head_only && request.method != "GET" {
            let body = "405 Method Not Allowed: only GET and HEAD\n";
            self.common_head(405, keep_alive)
                .header("Allow", "GET, HEAD")
                .header("Content-Type", "text/plain; charset=utf-8")
                .header("Content-Length", body.len().to_string())
                .write_to(out)?;
            out.write_all(body.as_bytes())?;
            return Ok((405, body.len() as u64));
        }
        let found = path::segments(&request.target).and_then(|segments| {
            let real = path::resolve(&self.root, &segments)?;
            let file = File::open(&real).map_err(|_| Refusal::NotFound)?;
            let meta = file.metadata().map_err(|_| Refusal::NotFound)?;
            if !meta.is_file() {
                return Err(Refusal::NotFound);
            }
            Ok((segments.join("/"), file, meta))
        });
        let (relative, file, meta) = match found {
            Ok(found) => found,
            Err(Refusal::BadRequest(why)) => {
                return Ok((400, self.send_error(out, 400, keep_alive, head_only, why)));
            }
            Err(Refusal::NotFound) => {
                return Ok((404, self.send_error(out, 404, keep_alive, head_only, "no such file")));
            }
        };
        let validators = Validators::of(&meta);
        let head = |status| {
            self.common_head(status, keep_alive)
                .header("ETag", validators.etag.clone())
                .header("Last-Modified", validators.last_modified())
        };
        if validators.not_modified(request.header("if-none-match"), request.header("if-modified-since")) {
            head(304).write_to(out)?;
            return Ok((304, 0));
        }
        let len = meta.len();
        head(200)
            .header("Content-Type", content_type(&relative))
            .header("Content-Length", len.to_string())
            .write_to(out)?;
        if head_only {
            return Ok((200, 0));
        }
        // std turns this into sendfile(2) on Linux.
        let sent = io::copy(&mut file.take(len), out)?;
        if sent != len {
            // The file shrank while being sent: the promised length cannot
            // be kept, so the connection must end.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being sent",
            ));
        }
        Ok((200, sent))
    }

    /// Sends a short text error; returns the body bytes sent.
    fn send_error(&self, out: &mut TcpStream, status: u16, keep_alive: bool, head_only: bool, why: &str) -> u64 {
        let body = format!("{status}: {why}\n");
        let head = self
            .common_head(status, keep_alive)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("Content-Length", body.len().to_string());
        let sent = head.write_to(out).and_then(|()| {
            if head_only {
                Ok(0)
            } else {
                out.write_all(body.as_bytes()).map(|()| body.len() as u64)
            }
        });
        sent.unwrap_or(0)
    }

    fn common_head(&self, status: u16, keep_alive: bool) -> ResponseHead {
        ResponseHead::new(status)
            .header("Date", http_date(SystemTime::now()))
            .header("Server", SERVER_NAME)
            .header("Connection", if keep_alive { "keep-alive" } else { "close" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A server on a free port of 127.0.0.1, stopped and joined on drop.
    struct Running {
        addr: SocketAddr,
        stopper: Stopper,
        thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
        _root: tempfile::TempDir,
    }

    impl Running {
        fn start(options: ServeOptions) -> Running {
            let root = tempfile::tempdir().unwrap();
            std::fs::write(root.path().join("config.json"), "{}").unwrap();
            let options = ServeOptions {
                addr: "127.0.0.1:0".parse().unwrap(),
                ..options
            };
            let server = Server::bind(root.path(), &options).unwrap();
            let (addr, stopper) = (server.local_addr(), server.stopper());
            let thread = std::thread::spawn(move || server.run(&|_| {}));
            Running {
                addr,
                stopper,
                thread: Some(thread),
                _root: root,
            }
        }

        fn connect(&self) -> TcpStream {
            let stream = TcpStream::connect(self.addr).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            stream
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.stopper.stop();
            self.thread.take().unwrap().join().unwrap().unwrap();
        }
    }

    fn status_line(stream: &TcpStream) -> String {
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    }

    fn get(stream: &mut TcpStream, path: &str) {
        write!(stream, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    }

    #[test]
    fn a_silent_or_slow_client_is_cut_off_and_the_next_one_served() {
        let server = Running::start(ServeOptions {
            max_connections: 1,
            read_timeout: Duration::from_millis(300),
            ..ServeOptions::default()
        });
        let started = Instant::now();
        let mut slow = server.connect();
        slow.write_all(b"GET /config.json HTTP/1.1\r\nHost:").unwrap();
        let mut waiting = server.connect();
        get(&mut waiting, "/config.json");
        assert_eq!(status_line(&slow), "HTTP/1.1 408 Request Timeout\r\n");
        assert_eq!(status_line(&waiting), "HTTP/1.1 200 OK\r\n");
        assert!(started.elapsed() < Duration::from_secs(10));

        // A connection that sends nothing is closed without an answer.
        let silent = server.connect();
        let mut rest = Vec::new();
        (&silent).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn connections_beyond_threads_and_queue_get_503() {
        let server = Running::start(ServeOptions {
            max_connections: 1,
            read_timeout: Duration::from_secs(3),
            ..ServeOptions::default()
        });
        // One silent connection holds the only thread, four fill the queue.
        let mut held = vec![server.connect()];
        std::thread::sleep(Duration::from_millis(300));
        held.extend((0..QUEUE_PER_CONNECTION).map(|_| server.connect()));
        std::thread::sleep(Duration::from_millis(300));
        // Answered at once, before it even sends its request.
        let refused = server.connect();
        assert_eq!(status_line(&refused), "HTTP/1.1 503 Service Unavailable\r\n");
        drop(held);
    }

    #[test]
    fn oversized_heads_are_refused() {
        let server = Running::start(ServeOptions {
            max_head_bytes: 512,
            ..ServeOptions::default()
        });
        let mut stream = server.connect();
        write!(
            stream,
            "GET /config.json HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(600)
        )
        .unwrap();
        assert_eq!(status_line(&stream), "HTTP/1.1 431 Request Header Fields Too Large\r\n");
    }
}
