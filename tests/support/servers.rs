//! Real servers on 127.0.0.1 for the integration tests, plus git fixtures.
//!
//! Every server here
//! - listens on a free port of 127.0.0.1 only (never another address),
//! - keeps its config, pid file, logs and scratch space in its own tempdir,
//! - is ready when `start` returns: the port accepts connections (bounded
//!   wait; on failure the panic message carries the server's logs),
//! - is stopped and reaped in `Drop`, together with every process it
//!   spawned (each external server runs in its own process group).
//!
//! | type | what | URL |
//! |---|---|---|
//! | [`GitDaemon`] | `git daemon` (git:// protocol) | `git://127.0.0.1:P/` |
//! | [`GitHttpServer`] | lighttpd + `git http-backend` (smart HTTP) | `http://127.0.0.1:P/git/` |
//! | [`StaticServer`] | nginx, static files with ETag / Last-Modified (TLS with a test CA: `start_tls`) | `http://127.0.0.1:P/`, `https://…` |
//! | [`TlsProxy`] | nginx terminating TLS (a test CA) in front of another of these | `https://127.0.0.1:P/` |
//! | [`FaultyServer`] | in-process HTTP/1.1 file server that injects faults | `http://127.0.0.1:P/` |
//! | [`MarketServer`] | `ggen-market serve` (the binary under test) | `sparse+http://127.0.0.1:P/` |
//!
//! Missing server binaries are a test failure, never a skip: `.ci/run`
//! installs them (`.ci/run --install-only` does the same on a dev machine).
//!
//! Keep each server in a local of the test that uses it, not in a `static`:
//! statics are never dropped, so their servers would outlive the test run.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

// ===========================================================================
// Process plumbing shared by the external servers
// ===========================================================================

/// How long a server may take to accept connections. Generous because CI
/// runs many tests in parallel on 2 cores.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server gets to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// A free port is found by binding port 0 and releasing it, so another
/// process can grab it before the server binds it; retry that many times.
const PORT_ATTEMPTS: usize = 3;
/// How much of each log file a start-up panic message quotes.
const LOG_TAIL_BYTES: usize = 4000;

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

// std has no way to signal a process group (`Child::kill` only SIGKILLs the
// leader); `kill(2)` from the C library std already links is the smallest
// way to stop a server together with its CGI / upload-pack children.
unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Sends `sig` to every process of group `pgid`. Errors (no such group) are
/// expected during shutdown and ignored.
fn signal_group(pgid: u32, sig: i32) {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    unsafe {
        kill(-(pgid as i32), sig);
    }
}

/// Pids of the live (non-zombie) processes whose process group is `pgid`,
/// read from /proc. Tests use it to prove a stopped server left nothing.
pub fn process_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // Fields after "(comm)": state ppid pgrp ...; comm may hold spaces.
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                return false;
            };
            let mut fields = rest.split(' ');
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
            state != Some("Z") && pgrp == Some(pgid)
        })
        .collect()
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0 to find a free port")
}

/// Finds a server binary on PATH or in the sbin directories (Debian puts
/// nginx and lighttpd in /usr/sbin, which a non-root PATH lacks). Panics
/// with the install hint: tests never skip because a tool is missing.
pub fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found on PATH or in /usr/sbin: the integration tests need it. \
                 Run `.ci/run --install-only` (installs lighttpd, nginx-light, minisign, git, openssl)."
            )
        })
}

/// The last `LOG_TAIL_BYTES` of each log, labelled, for panic messages.
fn describe_logs(logs: &[PathBuf]) -> String {
    let mut out = String::new();
    for log in logs {
        let text = match fs::read(log) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => "<not written>".to_string(),
            Err(e) => format!("<unreadable: {e}>"),
        };
        let start = text.len().saturating_sub(LOG_TAIL_BYTES);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        out.push_str(&format!("\n--- {} ---\n{}", log.display(), &text[start..]));
    }
    out
}

/// A server process running in its own process group, killed with all its
/// children on drop.
struct ServerProcess {
    name: &'static str,
    child: Child,
    port: u16,
    /// Files quoted in panic messages: stdout/stderr plus the server's logs.
    logs: Vec<PathBuf>,
}

/// Why a start attempt failed.
enum StartFailure {
    /// The port was taken between `free_port` and the server's bind.
    PortTaken,
    Fatal(String),
}

impl ServerProcess {
    /// Starts a server, retrying with a new port if the port was taken.
    ///
    /// `prepare(port)` writes whatever config the port needs and returns the
    /// command; `logs` are extra log files (beside stdout/stderr captured
    /// into `dir`) to quote if the server fails to come up.
    fn start(
        name: &'static str,
        dir: &Path,
        logs: &[PathBuf],
        mut prepare: impl FnMut(u16) -> Command,
    ) -> ServerProcess {
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let command = prepare(port);
            let mut server = Self::spawn(name, dir, logs, port, command);
            match server.wait_until_listening() {
                Ok(()) => return server,
                Err(StartFailure::PortTaken) => {
                    last_error = format!("port {port} was taken{}", describe_logs(&server.logs))
                }
                Err(StartFailure::Fatal(message)) => panic!("{message}"),
            }
        }
        panic!("{name} could not get a free port in {PORT_ATTEMPTS} attempts: {last_error}");
    }

    fn spawn(name: &'static str, dir: &Path, logs: &[PathBuf], port: u16, mut command: Command) -> ServerProcess {
        let stdout = dir.join(format!("{name}.stdout.log"));
        let stderr = dir.join(format!("{name}.stderr.log"));
        let open = |p: &Path| fs::File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        command
            .stdin(Stdio::null())
            .stdout(open(&stdout))
            .stderr(open(&stderr))
            // Own process group, so Drop can signal the server's children
            // (CGI processes, upload-pack) too.
            .process_group(0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {name} ({command:?}): {e}"));
        let mut all_logs = vec![stdout, stderr];
        all_logs.extend_from_slice(logs);
        ServerProcess {
            name,
            child,
            port,
            logs: all_logs,
        }
    }

    /// Polls until the port accepts a connection while the process is still
    /// alive (so we know it is *our* server listening, not a port thief).
    fn wait_until_listening(&mut self) -> Result<(), StartFailure> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait on server") {
                let logs = describe_logs(&self.logs);
                if logs.contains("in use") {
                    return Err(StartFailure::PortTaken);
                }
                return Err(StartFailure::Fatal(format!(
                    "{} exited during start-up ({status}) on port {}:{logs}",
                    self.name, self.port
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StartFailure::Fatal(format!(
                    "{} did not accept connections on 127.0.0.1:{} within {:?}:{}",
                    self.name,
                    self.port,
                    START_TIMEOUT,
                    describe_logs(&self.logs)
                )));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM to the whole group, SIGKILL if it lingers, reap the leader,
    /// then make sure no member of the group survives.
    fn stop(&mut self) {
        let pgid = self.child.id();
        if self.child.try_wait().ok().flatten().is_none() {
            signal_group(pgid, SIGTERM);
            if !wait_for_exit(&mut self.child, STOP_TIMEOUT) {
                signal_group(pgid, SIGKILL);
            }
        }
        let _ = self.child.wait();
        // Children (e.g. a CGI still writing) may outlive the leader briefly.
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut killed = false;
        while !process_group_members(pgid).is_empty() {
            let now = Instant::now();
            if !killed && now > deadline {
                signal_group(pgid, SIGKILL);
                killed = true;
            } else if killed && now > deadline + Duration::from_secs(2) {
                break; // unkillable (D state): nothing more we can do
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `child` until it exits or `timeout` passes; true if it exited.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

fn new_server_dir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ggen-test-{name}-"))
        .tempdir()
        .expect("create server tempdir")
}

/// Canonical absolute form of a directory the caller passes in; servers
/// compare request paths against it, so symlinks must be resolved.
fn canonical_dir(path: &Path) -> PathBuf {
    let dir = path
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(dir.is_dir(), "{} is not a directory", dir.display());
    dir
}

/// Quotes a string for lighttpd and nginx config files.
fn conf_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
}

// ===========================================================================
// git daemon (git://)
// ===========================================================================

/// `git daemon` exporting every repository under a base path.
pub struct GitDaemon {
    // Field order matters: the process stops before its tempdir is removed.
    process: ServerProcess,
    dir: TempDir,
    base_path: PathBuf,
}

impl GitDaemon {
    /// Serves (fetch/clone only) every repository under `base_path`:
    /// `git://127.0.0.1:P/name.git` is `base_path/name.git`.
    pub fn start(base_path: &Path) -> GitDaemon {
        Self::start_with(base_path, false)
    }

    /// Like [`start`](Self::start) but also accepts `git push`
    /// (`--enable=receive-pack`).
    pub fn start_with_push(base_path: &Path) -> GitDaemon {
        Self::start_with(base_path, true)
    }

    fn start_with(base_path: &Path, allow_push: bool) -> GitDaemon {
        let base_path = canonical_dir(base_path);
        let dir = new_server_dir("git-daemon");
        let git = find_program("git");
        let pid_file = dir.path().join("git-daemon.pid");
        let process = ServerProcess::start("git-daemon", dir.path(), &[], |port| {
            let mut cmd = Command::new(&git);
            apply_git_env(&mut cmd);
            cmd.arg("daemon")
                .arg(format!("--base-path={}", base_path.display()))
                .arg("--export-all")
                .arg("--reuseaddr")
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg("--informative-errors")
                .arg("--verbose")
                .arg(format!("--pid-file={}", pid_file.display()));
            if allow_push {
                cmd.arg("--enable=receive-pack");
            }
            // The whitelist: only repositories below base_path.
            cmd.arg(&base_path);
            cmd
        });
        GitDaemon {
            process,
            dir,
            base_path,
        }
    }

    /// `git://127.0.0.1:P/` (with the trailing slash).
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/", self.port())
    }

    /// `git://127.0.0.1:P/{name}`, e.g. `repo_url("index.git")`.
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}{}", self.url(), name.trim_start_matches('/'))
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// Pid (and process-group id) of the daemon.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The canonical base path being served.
    pub fn base_path(&self) -> &Path {
        &self.base_path
    }

    /// The daemon's log (`--verbose` output goes to stderr). Its first
    /// "hung up unexpectedly" entry is the readiness probe's connection.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("git-daemon.stderr.log")
    }
}

// ===========================================================================
// lighttpd + git http-backend (smart HTTP)
// ===========================================================================

/// lighttpd running git's own `git http-backend` as a CGI: real smart HTTP,
/// the same protocol GitHub and friends speak.
pub struct GitHttpServer {
    process: ServerProcess,
    dir: TempDir,
    project_root: PathBuf,
}

impl GitHttpServer {
    /// Serves every repository under `project_root` at
    /// `http://127.0.0.1:P/git/<name>`. With `allow_push`, every repository
    /// directly under `project_root` gets `http.receivepack=true` and the CGI
    /// sees `REMOTE_USER=test`, so `git push` works without auth
    /// (a repository created after `start` needs [`enable_http_push`]).
    pub fn start(project_root: &Path, allow_push: bool) -> GitHttpServer {
        let project_root = canonical_dir(project_root);
        if allow_push {
            for repo in git_dirs_under(&project_root) {
                enable_http_push(&repo);
            }
        }
        let dir = new_server_dir("lighttpd");
        let lighttpd = find_program("lighttpd");
        let backend = http_backend_path();
        let conf = dir.path().join("lighttpd.conf");
        let error_log = dir.path().join("error.log");
        let logs = [error_log.clone(), dir.path().join("cgi-stderr.log")];
        let process = ServerProcess::start("lighttpd", dir.path(), &logs, |port| {
            let text = lighttpd_conf(dir.path(), port, &backend, &project_root, allow_push);
            fs::write(&conf, text).expect("write lighttpd.conf");
            let mut cmd = Command::new(&lighttpd);
            cmd.arg("-D").arg("-f").arg(&conf);
            cmd
        });
        GitHttpServer {
            process,
            dir,
            project_root,
        }
    }

    /// `http://127.0.0.1:P/git/` (with the trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/git/", self.port())
    }

    /// `http://127.0.0.1:P/git/{name}`, e.g. `repo_url("index.git")`.
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}{}", self.url(), name.trim_start_matches('/'))
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn project_root(&self) -> &Path {
        &self.project_root
    }

    /// lighttpd's error log.
    pub fn error_log_path(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// What `git http-backend` wrote to stderr.
    pub fn cgi_log_path(&self) -> PathBuf {
        self.dir.path().join("cgi-stderr.log")
    }

    /// Access log: `status METHOD uri PROTOCOL`, one request a line.
    /// lighttpd buffers it and flushes about once a second: read it with
    /// [`wait_for_access_log`](Self::wait_for_access_log).
    pub fn access_log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// The access log once it contains `needle` (bounded wait; panics with
    /// the log if `needle` never shows up).
    pub fn wait_for_access_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = fs::read_to_string(self.access_log_path()).unwrap_or_default();
            if log.contains(needle) {
                return log;
            }
            if Instant::now() > deadline {
                panic!("lighttpd access log never contained {needle:?}:\n{log}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `$(git --exec-path)/git-http-backend` of the git on PATH, so the server
/// side runs the same git as the test's client commands.
fn http_backend_path() -> PathBuf {
    let out = Command::new(find_program("git"))
        .arg("--exec-path")
        .output()
        .expect("run git --exec-path");
    assert!(out.status.success(), "git --exec-path failed");
    let exec_path = String::from_utf8(out.stdout).expect("exec-path is UTF-8");
    let backend = Path::new(exec_path.trim()).join("git-http-backend");
    assert!(
        backend.is_file(),
        "{} does not exist: this git has no http-backend",
        backend.display()
    );
    backend
}

/// The lighttpd config: mod_alias maps `/git` onto the http-backend binary,
/// mod_cgi runs it (`"" => ""`: execute the file itself), mod_setenv passes
/// the http-backend's settings. mod_staticfile is not listed: lighttpd
/// appends it after the listed modules, so it never shadows mod_cgi.
fn lighttpd_conf(dir: &Path, port: u16, backend: &Path, project_root: &Path, allow_push: bool) -> String {
    let htdocs = dir.join("htdocs");
    let uploads = dir.join("uploads");
    for d in [&htdocs, &uploads] {
        fs::create_dir_all(d).expect("create lighttpd dirs");
    }
    let q = |p: &Path| conf_quote(path_str(p));
    let mut env = vec![
        format!("\"GIT_PROJECT_ROOT\" => {}", q(project_root)),
        "\"GIT_HTTP_EXPORT_ALL\" => \"1\"".to_string(),
    ];
    if allow_push {
        // http-backend refuses receive-pack for anonymous users even when
        // http.receivepack is true; this stands in for real authentication.
        env.push("\"REMOTE_USER\" => \"test\"".to_string());
    }
    format!(
        r#"server.modules = ( "mod_alias", "mod_setenv", "mod_cgi", "mod_accesslog" )
server.bind = "127.0.0.1"
server.port = {port}
server.document-root = {htdocs}
server.upload-dirs = ( {uploads} )
server.errorlog = {error_log}
server.breakagelog = {cgi_log}
accesslog.filename = {access_log}
accesslog.format = "%s %r"
alias.url = ( "/git" => {backend} )
$HTTP["url"] =~ "^/git" {{
    cgi.assign = ( "" => "" )
    setenv.add-environment = ( {env} )
}}
"#,
        htdocs = q(&htdocs),
        uploads = q(&uploads),
        error_log = q(&dir.join("error.log")),
        cgi_log = q(&dir.join("cgi-stderr.log")),
        access_log = q(&dir.join("access.log")),
        backend = q(backend),
        env = env.join(", "),
    )
}

/// Git directories directly under `root` (bare repos and worktrees' `.git`).
fn git_dirs_under(root: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter_map(|p| {
            if p.join("HEAD").is_file() && p.join("objects").is_dir() {
                Some(p)
            } else if p.join(".git/HEAD").is_file() {
                Some(p.join(".git"))
            } else {
                None
            }
        })
        .collect()
}

// ===========================================================================
// nginx (static files, ETag / Last-Modified)
// ===========================================================================

/// One line of [`StaticServer`]'s access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogLine {
    /// Serial number of the TCP connection (nginx `$connection`): requests
    /// with the same number were served on one kept-alive connection.
    pub connection: u64,
    /// Position of the request on its connection, from 1
    /// (`$connection_requests`).
    pub connection_requests: u64,
    pub status: u16,
    pub method: String,
    /// The request target as sent (`/3/s/serde`, with any query string).
    pub path: String,
    pub body_bytes: u64,
}

/// nginx serving a directory as static files, with its default ETag and
/// Last-Modified headers, so sparse-protocol clients can revalidate (304).
pub struct StaticServer {
    process: ServerProcess,
    dir: TempDir,
    root: PathBuf,
    tls: bool,
}

impl StaticServer {
    /// Serves `root` at `http://127.0.0.1:P/`; missing files are 404.
    pub fn start(root: &Path) -> StaticServer {
        StaticServer::start_with(root, false)
    }

    /// Serves `root` at `https://127.0.0.1:P/`, with a certificate for
    /// 127.0.0.1 issued by a CA made for this server alone
    /// ([`ca_file`](Self::ca_file)), which nothing trusts by default.
    pub fn start_tls(root: &Path) -> StaticServer {
        StaticServer::start_with(root, true)
    }

    fn start_with(root: &Path, tls: bool) -> StaticServer {
        let root = canonical_dir(root);
        let dir = new_server_dir("nginx");
        let process = start_nginx(&dir, Site::Files(&root), tls);
        StaticServer {
            process,
            dir,
            root,
            tls,
        }
    }

    /// `http://127.0.0.1:P/` (`https` for [`start_tls`](Self::start_tls);
    /// with the trailing slash).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/", self.port())
    }

    /// The PEM certificate of the CA that issued a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn access_log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    pub fn error_log_path(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// Every request logged so far. nginx writes a line after it has sent
    /// the response, so a client may see the response a moment before the
    /// line exists: use [`wait_for_access_log_lines`](Self::wait_for_access_log_lines)
    /// right after a request.
    pub fn access_log_lines(&self) -> Vec<AccessLogLine> {
        let text = fs::read_to_string(self.access_log_path()).unwrap_or_default();
        text.lines()
            .map(|line| {
                parse_access_log_line(line).unwrap_or_else(|| panic!("unparseable nginx access log line {line:?}"))
            })
            .collect()
    }

    /// The access log once it holds at least `count` lines (bounded wait;
    /// panics with the log if it never gets there).
    pub fn wait_for_access_log_lines(&self, count: usize) -> Vec<AccessLogLine> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.access_log_lines();
            if lines.len() >= count {
                return lines;
            }
            if Instant::now() > deadline {
                panic!(
                    "nginx logged {} requests, expected at least {count}: {lines:#?}",
                    lines.len()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Starts nginx in `dir` for `site`, over TLS with certificates made for
/// it when `tls`.
fn start_nginx(dir: &TempDir, site: Site<'_>, tls: bool) -> ServerProcess {
    if tls {
        make_test_certificates(dir.path());
    }
    let nginx = find_program("nginx");
    let conf = dir.path().join("nginx.conf");
    let error_log = dir.path().join("error.log");
    let logs = [error_log.clone()];
    ServerProcess::start("nginx", dir.path(), &logs, |port| {
        fs::write(&conf, nginx_conf(dir.path(), port, &site, tls)).expect("write nginx.conf");
        let mut cmd = Command::new(&nginx);
        // -p: relative paths resolve in our dir; -e: the error log nginx
        // opens before it reads the config (else /var/log/nginx/...).
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(&error_log)
            .arg("-c")
            .arg(&conf);
        cmd
    })
}

/// What an nginx server does with a request.
enum Site<'a> {
    /// Answers it from the files under this directory.
    Files(&'a Path),
    /// Passes it on to the HTTP server on this port of 127.0.0.1.
    ProxyTo(u16),
}

/// nginx in front of another server on 127.0.0.1, terminating TLS with a
/// certificate issued by a CA made for it alone: an https face for a
/// server that speaks only http (lighttpd + `git http-backend`, say).
pub struct TlsProxy {
    process: ServerProcess,
    dir: TempDir,
}

impl TlsProxy {
    /// Passes every request on to `http://127.0.0.1:{upstream_port}`.
    pub fn start(upstream_port: u16) -> TlsProxy {
        let dir = new_server_dir("nginx-tls");
        let process = start_nginx(&dir, Site::ProxyTo(upstream_port), true);
        TlsProxy { process, dir }
    }

    /// `https://127.0.0.1:P/` (with the trailing slash).
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.process.port)
    }

    /// The PEM certificate of the CA that issued the proxy's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// nginx config for an unprivileged-style, single-process, foreground run:
/// every path (pid, logs, temp dirs) inside `dir`, nothing under /var.
/// Tab-separated access log: `$request` goes last because it contains spaces
/// (nginx escapes tabs and quotes inside variables, so tabs split safely).
fn nginx_conf(dir: &Path, port: u16, site: &Site<'_>, tls: bool) -> String {
    let q = |name: &str| conf_quote(path_str(&dir.join(name)));
    let site = match site {
        Site::Files(root) => format!(
            "root {};\n        location / {{\n            try_files $uri =404;\n        }}",
            conf_quote(path_str(root))
        ),
        Site::ProxyTo(upstream) => format!(
            "location / {{\n            proxy_pass http://127.0.0.1:{upstream};\n            \
             proxy_buffering off;\n            proxy_request_buffering off;\n        }}"
        ),
    };
    let tls = if tls {
        format!(
            "listen 127.0.0.1:{port} ssl;\n        ssl_certificate {};\n        ssl_certificate_key {};",
            q("server.pem"),
            q("server.key")
        )
    } else {
        format!("listen 127.0.0.1:{port};")
    };
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {pid};
error_log {error_log} info;
events {{
    worker_connections 512;
}}
http {{
    default_type application/octet-stream;
    log_format harness '$connection\t$connection_requests\t$status\t$body_bytes_sent\t$request';
    access_log {access_log} harness;
    client_body_temp_path {client_body};
    proxy_temp_path {proxy};
    fastcgi_temp_path {fastcgi};
    uwsgi_temp_path {uwsgi};
    scgi_temp_path {scgi};
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {{
        {tls}
        server_name localhost;
        {site}
    }}
}}
"#,
        pid = q("nginx.pid"),
        error_log = q("error.log"),
        access_log = q("access.log"),
        client_body = q("client_body_temp"),
        proxy = q("proxy_temp"),
        fastcgi = q("fastcgi_temp"),
        uwsgi = q("uwsgi_temp"),
        scgi = q("scgi_temp"),
    )
}

/// Writes into `dir` a CA (`ca.pem`) and a certificate for 127.0.0.1 that
/// it issued (`server.pem`, `server.key`), with the `openssl` CLI.
fn make_test_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let output = Command::new(find_program("openssl"))
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let subject_ip = "subjectAltName=IP:127.0.0.1";
    fs::write(dir.join("server.ext"), format!("{subject_ip}\n")).expect("write server.ext");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ggen test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// Parses `connection\tconnection_requests\tstatus\tbytes\tMETHOD /path HTTP/1.1`.
fn parse_access_log_line(line: &str) -> Option<AccessLogLine> {
    let mut fields = line.splitn(5, '\t');
    let connection = fields.next()?.parse().ok()?;
    let connection_requests = fields.next()?.parse().ok()?;
    let status = fields.next()?.parse().ok()?;
    let body_bytes = fields.next()?.parse().ok()?;
    let request = fields.next()?;
    let mut parts = request.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    Some(AccessLogLine {
        connection,
        connection_requests,
        status,
        method,
        path,
        body_bytes,
    })
}

// ===========================================================================
// FaultyServer: in-process HTTP/1.1 file server with injected faults
// ===========================================================================

/// A fault the [`FaultyServer`] injects instead of (or before) a normal
/// response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer `503 Service Unavailable` (empty body, connection kept).
    Status503,
    /// Read the request, then close the connection without answering.
    DropConnection,
    /// Send the full headers (real Content-Length) but only the first half
    /// of the body, then close.
    TruncateBody,
    /// Wait this long, then answer normally (for client timeouts).
    Delay(Duration),
    /// Answer `200` with `Transfer-Encoding: chunked` (no Content-Length),
    /// send half the body as one chunk, then close without the last chunk:
    /// the connection dropped mid-body, with no length to notice it by.
    DropMidBody,
    /// Answer normally but with every body byte's lowest bit flipped: the
    /// same length, different bytes (a checksum mismatch; not JSON either).
    WrongBytes,
    /// Send the head (real Content-Length) at once, then one body byte per
    /// this interval, until the client gives up.
    SlowDrip(Duration),
    /// Answer `200` with no Content-Length (`Connection: close`) and repeat
    /// the file (or filler) forever, until the client gives up.
    EndlessBody,
    /// Answer `200` with `Content-Type: text/html` and an HTML error page,
    /// as a proxy or captive portal does, whatever was asked for.
    HtmlErrorPage,
    /// Answer `302` leading through a chain of this many redirects (absolute
    /// URLs on this server, hops under `/.redirect/`, exempt from the plan)
    /// that ends at the file, served normally.
    Redirects(usize),
    /// Answer `302` to the very URL asked for: with [`FaultPlan::always`],
    /// a redirect loop.
    RedirectToSelf,
}

/// The path prefix of redirect hops: `/.redirect/K/PATH` redirects on to
/// `/.redirect/K-1/PATH`, and `/.redirect/0/PATH` serves PATH unfaulted.
const REDIRECT_HOPS: &str = "/.redirect/";

/// What [`Fault::HtmlErrorPage`] serves.
pub const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1><p>The proxy could not reach the upstream server.</p></body></html>\n";

/// Which requests get a fault: per path, the first `fail_first_n` requests
/// (counted since the plan was set) get `fault`; later ones are served
/// normally, so a client that retries more than `fail_first_n` times wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    /// `0`: no faults; `usize::MAX`: every request.
    pub fail_first_n: usize,
    pub fault: Fault,
    /// Only paths starting with this prefix get faults (`None`: all paths).
    pub path_prefix: Option<String>,
}

impl FaultPlan {
    /// No faults: a plain static file server.
    pub fn none() -> FaultPlan {
        FaultPlan::first(0, Fault::Status503)
    }

    /// The first `n` requests of each path get `fault`.
    pub fn first(n: usize, fault: Fault) -> FaultPlan {
        FaultPlan {
            fail_first_n: n,
            fault,
            path_prefix: None,
        }
    }

    /// Every request gets `fault`.
    pub fn always(fault: Fault) -> FaultPlan {
        FaultPlan::first(usize::MAX, fault)
    }

    /// Restricts the faults to paths starting with `prefix`.
    pub fn only_under(mut self, prefix: &str) -> FaultPlan {
        self.path_prefix = Some(prefix.to_string());
        self
    }

    fn applies_to(&self, path: &str) -> bool {
        self.path_prefix
            .as_deref()
            .is_none_or(|prefix| path.starts_with(prefix))
    }
}

/// One request the [`FaultyServer`] received, recorded before it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Serial number of the connection, from 1.
    pub connection: usize,
    pub method: String,
    /// Decoded path without the query string.
    pub path: String,
    /// The status line sent (200 even if the body was truncated); `None`
    /// when the connection was dropped without an answer.
    pub status: Option<u16>,
    pub fault: Option<Fault>,
}

/// How long an idle kept-alive connection may wait for its next request
/// before its thread gives up (keeps thread count bounded).
const FAULTY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Caps on what one request may send, so a broken client cannot make a
/// connection thread allocate without bound.
const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// A small HTTP/1.1 static file server (one thread per connection,
/// keep-alive, ETag / If-None-Match / Last-Modified, 404s) that injects the
/// faults of a [`FaultPlan`], for testing a client's retries.
pub struct FaultyServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

/// State shared by the accept thread, connection threads and the test.
struct Shared {
    root: PathBuf,
    /// Where the server listens, for absolute redirect URLs.
    addr: SocketAddr,
    stopping: AtomicBool,
    connections_accepted: AtomicUsize,
    state: Mutex<FaultState>,
    /// Clones of open connections, so Drop can unblock their reads.
    open: Mutex<HashMap<usize, TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct FaultState {
    plan: FaultPlan,
    /// Requests per path since the plan was set: decides the faults.
    since_plan: HashMap<String, usize>,
    log: Vec<RequestRecord>,
}

impl FaultyServer {
    /// Serves the files under `root` at `http://127.0.0.1:P/` with `plan`.
    pub fn start(root: &Path, plan: FaultPlan) -> FaultyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            root: canonical_dir(root),
            addr,
            stopping: AtomicBool::new(false),
            connections_accepted: AtomicUsize::new(0),
            state: Mutex::new(FaultState {
                plan,
                since_plan: HashMap::new(),
                log: Vec::new(),
            }),
            open: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("faulty-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("spawn accept thread");
        FaultyServer {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// `http://127.0.0.1:P/` (with the trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replaces the plan; its "first N" counts start again from zero.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.shared.state.lock().unwrap();
        state.plan = plan;
        state.since_plan.clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.state.lock().unwrap().log.clone()
    }

    /// Requests received for `path` (decoded, without query), faulted or not.
    pub fn request_count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    /// Requests per path.
    pub fn request_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for record in self.requests() {
            *counts.entry(record.path).or_insert(0) += 1;
        }
        counts
    }

    pub fn total_requests(&self) -> usize {
        self.shared.state.lock().unwrap().log.len()
    }

    /// TCP connections accepted so far (keep-alive reuse keeps this low).
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections_accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyServer {
    /// Sets the stop flag, wakes `accept` by connecting to ourselves, then
    /// shuts down every open connection and joins all threads.
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5));
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
        for stream in self.shared.open.lock().unwrap().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let threads = std::mem::take(&mut *self.shared.threads.lock().unwrap());
        for handle in threads {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // E.g. out of file descriptors: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = shared.connections_accepted.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(clone) = stream.try_clone() {
            shared.open.lock().unwrap().insert(id, clone);
        }
        let conn_shared = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name(format!("faulty-conn-{id}"))
            .spawn(move || {
                serve_connection(stream, id, &conn_shared);
                conn_shared.open.lock().unwrap().remove(&id);
            })
            .expect("spawn connection thread");
        let mut threads = shared.threads.lock().unwrap();
        // Dropping a finished thread's handle frees it; Drop joins the rest.
        threads.retain(|t| !t.is_finished());
        threads.push(handle);
    }
}

/// A parsed request head.
#[derive(Clone)]
struct Request {
    method: String,
    /// Decoded path, query stripped; `None` if it could not be decoded.
    path: Option<String>,
    raw_target: String,
    keep_alive: bool,
    /// Lowercased names.
    headers: HashMap<String, String>,
}

/// A response ready to write (body already read from disk).
struct Response {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// Serves requests on one connection until the client closes, a fault or
/// `Connection: close` ends it, the idle timeout passes, or the server stops.
fn serve_connection(stream: TcpStream, connection: usize, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(FAULTY_IDLE_TIMEOUT));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while !shared.stopping.load(Ordering::SeqCst) {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => break,
        };
        let response = respond(shared, &request);
        let fault = shared.record(connection, &request, response.status);
        let keep_going = match fault {
            None => write_response(&mut writer, &request, response, None),
            Some(Fault::Status503) => {
                write_response(&mut writer, &request, status_only(503, "Service Unavailable"), None)
            }
            Some(Fault::DropConnection) => false,
            Some(Fault::TruncateBody) => {
                let half = response.body.len() / 2;
                write_response(&mut writer, &request, response, Some(half));
                false
            }
            Some(Fault::Delay(delay)) => {
                thread::sleep(delay);
                write_response(&mut writer, &request, response, None)
            }
            Some(Fault::DropMidBody) => {
                write_chunked_half(&mut writer, &response);
                false
            }
            Some(Fault::WrongBytes) => {
                let mut response = response;
                response.body.iter_mut().for_each(|byte| *byte ^= 1);
                write_response(&mut writer, &request, response, None)
            }
            Some(Fault::SlowDrip(interval)) => {
                drip(&mut writer, &response, interval, &shared.stopping);
                false
            }
            Some(Fault::EndlessBody) => {
                endless(&mut writer, &response.body, &shared.stopping);
                false
            }
            Some(Fault::HtmlErrorPage) => write_response(&mut writer, &request, html_error_page(), None),
            Some(Fault::Redirects(0)) => write_response(&mut writer, &request, response, None),
            Some(Fault::Redirects(hops)) => {
                let target = request.raw_target.split(['?', '#']).next().unwrap_or_default();
                let location = format!("{REDIRECT_HOPS}{}{target}", hops - 1);
                write_response(&mut writer, &request, redirect(shared.addr, &location), None)
            }
            Some(Fault::RedirectToSelf) => {
                write_response(&mut writer, &request, redirect(shared.addr, &request.raw_target), None)
            }
        };
        if !keep_going || !request.keep_alive {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

impl Shared {
    /// Logs the request and decides its fault under one lock, before any
    /// byte of the answer is sent: a client that saw the answer can rely on
    /// the counts.
    fn record(&self, connection: usize, request: &Request, status: u16) -> Option<Fault> {
        let mut state = self.state.lock().unwrap();
        let path = request.path.clone().unwrap_or_else(|| request.raw_target.clone());
        let seen = state.since_plan.entry(path.clone()).or_insert(0);
        let index = *seen;
        *seen += 1;
        let plan = &state.plan;
        let hop = path.starts_with(REDIRECT_HOPS);
        let fault = (index < plan.fail_first_n && plan.applies_to(&path) && !hop).then(|| plan.fault.clone());
        let status = match fault {
            Some(Fault::Status503) => Some(503),
            Some(Fault::DropConnection) => None,
            Some(Fault::HtmlErrorPage | Fault::DropMidBody | Fault::EndlessBody) => Some(200),
            Some(Fault::Redirects(hops)) if hops > 0 => Some(302),
            Some(Fault::RedirectToSelf) => Some(302),
            _ => Some(status),
        };
        state.log.push(RequestRecord {
            connection,
            method: request.method.clone(),
            path,
            status,
            fault: fault.clone(),
        });
        fault
    }
}

/// Reads one request head (and discards any body). `Ok(None)` on a clean
/// close before the next request.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader
            .by_ref()
            .take((MAX_HEADER_BYTES - head.len()) as u64)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                head.clear(); // stray empty line between requests
                continue;
            }
            break;
        }
        if head.len() >= MAX_HEADER_BYTES {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
    let request = parse_request_head(&String::from_utf8_lossy(&head))?;
    discard_body(reader, &request)?;
    Ok(Some(request))
}

fn parse_request_head(head: &str) -> io::Result<Request> {
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(io::ErrorKind::InvalidData.into());
    };
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let connection = headers
        .get("connection")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let path_part = target.split(['?', '#']).next().unwrap_or_default();
    Ok(Request {
        method: method.to_string(),
        path: percent_decode(path_part),
        raw_target: target.to_string(),
        keep_alive,
        headers,
    })
}

fn discard_body(reader: &mut impl BufRead, request: &Request) -> io::Result<()> {
    if request.headers.contains_key("transfer-encoding") {
        // Not needed by any test client; refuse rather than misparse.
        return Err(io::ErrorKind::InvalidData.into());
    }
    let len: u64 = match request.headers.get("content-length") {
        Some(v) => v.parse().map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?,
        None => 0,
    };
    if len > MAX_BODY_BYTES {
        return Err(io::ErrorKind::InvalidData.into());
    }
    io::copy(&mut reader.by_ref().take(len), &mut io::sink())?;
    Ok(())
}

/// `%XX` decoding; `None` for malformed escapes or non-UTF-8 results.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The normal answer to `request`, as a static host would give it.
fn respond(shared: &Shared, request: &Request) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        let mut response = status_only(405, "Method Not Allowed");
        response.headers.push(("Allow", "GET, HEAD".into()));
        return response;
    }
    if let Some((hops_left, rest)) = request.path.as_deref().and_then(redirect_hop) {
        return match hops_left {
            0 => respond(
                shared,
                &Request {
                    path: Some(rest.to_owned()),
                    ..request.clone()
                },
            ),
            _ => redirect(shared.addr, &format!("{REDIRECT_HOPS}{}{rest}", hops_left - 1)),
        };
    }
    let Some(file) = request.path.as_deref().and_then(|p| resolve(&shared.root, p)) else {
        return not_found();
    };
    let Ok(meta) = fs::metadata(&file) else {
        return not_found();
    };
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let etag = etag(meta.len(), mtime);
    let last_modified = http_date(mtime);
    let validators = vec![("ETag", etag.clone()), ("Last-Modified", last_modified.clone())];
    if not_modified(&request.headers, &etag, &last_modified) {
        let mut response = status_only(304, "Not Modified");
        response.headers.extend(validators);
        return response;
    }
    let Ok(body) = fs::read(&file) else {
        return not_found();
    };
    let mut headers = vec![("Content-Type", "application/octet-stream".to_string())];
    headers.extend(validators);
    Response {
        status: 200,
        reason: "OK",
        headers,
        body,
    }
}

/// Maps a decoded URL path onto a regular file under `root`, refusing `..`,
/// `.` and empty segments (so nothing outside `root` is reachable).
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = path.strip_prefix('/')?;
    let mut file = root.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
            return None;
        }
        file.push(segment);
    }
    file.is_file().then_some(file)
}

/// `If-None-Match` wins over `If-Modified-Since` (RFC 9110); the date is
/// compared exactly, like nginx's default `if_modified_since exact`.
fn not_modified(headers: &HashMap<String, String>, etag: &str, last_modified: &str) -> bool {
    if let Some(tags) = headers.get("if-none-match") {
        return tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag);
    }
    headers
        .get("if-modified-since")
        .is_some_and(|since| since == last_modified)
}

/// nginx-style strong ETag: hex mtime seconds and hex size.
fn etag(size: u64, mtime: SystemTime) -> String {
    let secs = mtime.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("\"{secs:x}-{size:x}\"")
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) without a date crate.
fn http_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize]
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn status_only(status: u16, reason: &'static str) -> Response {
    Response {
        status,
        reason,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn not_found() -> Response {
    let mut response = status_only(404, "Not Found");
    response.body = b"not found\n".to_vec();
    response.headers.push(("Content-Type", "text/plain".to_string()));
    response
}

/// `/.redirect/K/PATH` → (K, `/PATH`).
fn redirect_hop(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix(REDIRECT_HOPS)?;
    let (hops, rest) = rest.split_at(rest.find('/')?);
    Some((hops.parse().ok()?, rest))
}

/// `302 Found` to `target` (a path) on this server, as an absolute URL.
fn redirect(addr: SocketAddr, target: &str) -> Response {
    let mut response = status_only(302, "Found");
    response.headers.push(("Location", format!("http://{addr}{target}")));
    response
}

fn html_error_page() -> Response {
    Response {
        status: 200,
        reason: "OK",
        headers: vec![("Content-Type", "text/html; charset=utf-8".to_string())],
        body: HTML_ERROR_PAGE.as_bytes().to_vec(),
    }
}

/// The status line and headers of `response`, then `framing` (the
/// Content-Length or Transfer-Encoding line) and `Connection: close`.
fn closing_head(response: &Response, framing: &str) -> String {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nServer: ggen-faulty-test-server\r\n",
        response.status, response.reason
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(framing);
    head.push_str("Connection: close\r\n\r\n");
    head
}

/// [`Fault::DropMidBody`]: half the body as one chunk, no last chunk.
fn write_chunked_half(writer: &mut TcpStream, response: &Response) {
    let half = &response.body[..response.body.len() / 2];
    let mut bytes = closing_head(response, "Transfer-Encoding: chunked\r\n").into_bytes();
    if !half.is_empty() {
        bytes.extend_from_slice(format!("{:x}\r\n", half.len()).as_bytes());
        bytes.extend_from_slice(half);
        bytes.extend_from_slice(b"\r\n");
    }
    let _ = writer.write_all(&bytes).and_then(|()| writer.flush());
}

/// Sleeps `duration` in short steps; false if the server began to stop.
fn sleep_unless_stopping(duration: Duration, stopping: &AtomicBool) -> bool {
    let deadline = Instant::now() + duration;
    while !stopping.load(Ordering::SeqCst) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(Duration::from_millis(50)));
    }
    false
}

/// [`Fault::SlowDrip`]: the head, then a byte per `interval`.
fn drip(writer: &mut TcpStream, response: &Response, interval: Duration, stopping: &AtomicBool) {
    let head = closing_head(response, &format!("Content-Length: {}\r\n", response.body.len()));
    if writer.write_all(head.as_bytes()).and_then(|()| writer.flush()).is_err() {
        return;
    }
    for byte in &response.body {
        if !sleep_unless_stopping(interval, stopping)
            || writer.write_all(&[*byte]).and_then(|()| writer.flush()).is_err()
        {
            return;
        }
    }
}

/// [`Fault::EndlessBody`]: `body` (or filler) repeated until the client
/// goes away or the server stops.
fn endless(writer: &mut TcpStream, body: &[u8], stopping: &AtomicBool) {
    let ok = Response {
        status: 200,
        reason: "OK",
        headers: vec![("Content-Type", "application/octet-stream".to_string())],
        body: Vec::new(),
    };
    let unit: &[u8] = if body.is_empty() { b"0123456789abcdef" } else { body };
    let block: Vec<u8> = unit.iter().copied().cycle().take(64 * 1024).collect();
    if writer.write_all(closing_head(&ok, "").as_bytes()).is_err() {
        return;
    }
    while !stopping.load(Ordering::SeqCst) && writer.write_all(&block).is_ok() {}
}

/// Writes `response` (only `truncate_to` body bytes if set). Returns whether
/// the connection can carry another request.
fn write_response(writer: &mut TcpStream, request: &Request, response: Response, truncate_to: Option<usize>) -> bool {
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, response.reason);
    head.push_str("Server: ggen-faulty-test-server\r\n");
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if response.status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    let close = !request.keep_alive || truncate_to.is_some();
    head.push_str(if close {
        "Connection: close\r\n"
    } else {
        "Connection: keep-alive\r\n"
    });
    head.push_str("\r\n");
    let body: &[u8] = match (request.method.as_str(), response.status) {
        ("HEAD", _) | (_, 304) => &[],
        _ => &response.body[..truncate_to.unwrap_or(response.body.len())],
    };
    let sent = writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(body))
        .and_then(|()| writer.flush());
    sent.is_ok() && !close
}

// ===========================================================================
// ggen-market serve (the binary under test as a server)
// ===========================================================================

/// `ggen-market serve ROOT --addr 127.0.0.1:0 …`, on the free port it
/// picked and printed (`Serving ROOT at sparse+http://127.0.0.1:P/`).
/// Tests start it with `fixture::serve`.
pub struct MarketServer {
    // Field order matters: the process stops before its tempdir is removed.
    process: ServerProcess,
    _dir: TempDir,
    url: String,
}

impl MarketServer {
    /// Runs `command`, a `ggen-market serve … --addr 127.0.0.1:0`, and
    /// waits for the URL it prints.
    pub fn start(command: Command) -> MarketServer {
        let dir = new_server_dir("market-serve");
        let mut process = ServerProcess::spawn("ggen-market-serve", dir.path(), &[], 0, command);
        let deadline = Instant::now() + START_TIMEOUT;
        let url = loop {
            let stdout = fs::read_to_string(&process.logs[0]).unwrap_or_default();
            let printed = stdout.lines().find_map(|line| {
                let (_, url) = line.strip_prefix("Serving ")?.rsplit_once(" at ")?;
                Some(url.to_owned())
            });
            if let Some(url) = printed {
                break url;
            }
            if let Some(status) = process.child.try_wait().expect("try_wait on server") {
                panic!("ggen-market serve exited ({status}):{}", describe_logs(&process.logs));
            }
            assert!(
                Instant::now() < deadline,
                "ggen-market serve printed no URL within {START_TIMEOUT:?}:{}",
                describe_logs(&process.logs)
            );
            thread::sleep(Duration::from_millis(25));
        };
        process.port = url
            .strip_prefix("sparse+http://127.0.0.1:")
            .and_then(|rest| rest.strip_suffix('/'))
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected URL printed: {url}"));
        MarketServer {
            process,
            _dir: dir,
            url,
        }
    }

    /// `sparse+http://127.0.0.1:P/`, as printed.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// What the server wrote on stderr so far (its request log).
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.process.logs[1]).unwrap_or_default()
    }
}

// ===========================================================================
// git fixtures
// ===========================================================================

/// Fixed identity and dates: commits made by the fixtures are reproducible.
const TEST_NAME: &str = "ggen test";
const TEST_EMAIL: &str = "test@ggen.invalid";
const TEST_DATE: &str = "2024-01-01T00:00:00Z";

/// Variables of a surrounding git process (tests run from a hook, say) or
/// of the developer's shell that would redirect our git commands to another
/// repository, bring in another config, or ask someone for a password.
const INHERITED_GIT_VARS: [&str; 11] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_PARAMETERS",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
];

/// Proxy settings would send the test's requests for 127.0.0.1 elsewhere
/// (and an inherited exclusion list would hide that the others are gone).
const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
];

/// Other trusted roots for https (git's OpenSSL and the binary's rustls
/// both read them): a test that trusts its own CA sets them itself.
const TLS_ROOT_VARS: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// A HOME for git with no config in it, shared by all tests of a run, so a
/// developer's ~/.gitconfig (signing, hooks, url rewrites) cannot leak in.
pub fn git_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let base = option_env!("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let home = base.join("ggen-test-git-home");
        fs::create_dir_all(&home).unwrap_or_else(|e| panic!("{}: {e}", home.display()));
        home
    })
}

/// Puts the test git environment on `cmd`: fixed identity and dates,
/// isolated HOME, no system or user config, no proxy, the system's TLS
/// roots only, `main` as default
/// branch, C locale (stable messages), never prompting.
pub fn apply_git_env(cmd: &mut Command) -> &mut Command {
    for var in INHERITED_GIT_VARS.iter().chain(&PROXY_VARS).chain(&TLS_ROOT_VARS) {
        cmd.env_remove(var);
    }
    let home = git_home();
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", TEST_NAME)
        .env("GIT_AUTHOR_EMAIL", TEST_EMAIL)
        .env("GIT_AUTHOR_DATE", TEST_DATE)
        .env("GIT_COMMITTER_NAME", TEST_NAME)
        .env("GIT_COMMITTER_EMAIL", TEST_EMAIL)
        .env("GIT_COMMITTER_DATE", TEST_DATE)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "init.defaultBranch")
        .env("GIT_CONFIG_VALUE_0", "main")
        .env("GIT_CONFIG_KEY_1", "advice.detachedHead")
        .env("GIT_CONFIG_VALUE_1", "false")
}

/// A `git` command in `dir` with the test environment.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    apply_git_env(&mut cmd).current_dir(dir);
    cmd
}

/// Runs `git args…` in `dir`; returns stdout, trimmed. Panics with the
/// command and its stderr if git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {} (in {}) failed with {}:\n{}{}",
        args.join(" "),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `contents` to `root/relative`, creating parent directories.
pub fn write_file(root: &Path, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// `git init` a worktree at `dir` (created if missing), branch `main`.
pub fn init_worktree(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    git(dir, &["init", "-q", "-b", "main"]);
    dir.to_path_buf()
}

/// Stages everything in `worktree` and commits it; returns the commit id.
pub fn commit_all(worktree: &Path, message: &str) -> String {
    git(worktree, &["add", "-A"]);
    git(worktree, &["commit", "-q", "--allow-empty", "-m", message]);
    rev_parse(worktree, "HEAD")
}

/// Full object id of `rev` in `repo` (worktree or bare).
pub fn rev_parse(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", "--verify", &format!("{rev}^{{commit}}")])
}

/// A bare clone of `worktree` at `bare` (e.g. `served/index.git`), ready
/// to be served by [`GitDaemon`] or [`GitHttpServer`]. Returns `bare`.
pub fn init_bare_from_worktree(worktree: &Path, bare: &Path) -> PathBuf {
    let parent = bare.parent().expect("bare path has a parent");
    fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    let bare_str = path_str(bare);
    git(parent, &["clone", "-q", "--bare", path_str(worktree), bare_str]);
    bare.to_path_buf()
}

/// Lets `git http-backend` accept pushes into `repo` (a bare repo or .git).
pub fn enable_http_push(repo: &Path) {
    git(repo, &["config", "http.receivepack", "true"]);
}

/// The corpus commit with the full crates.io registry of 2019-11-10.
pub const CORPUS_FULL_COMMIT: &str = "5343e085f18dd41f0b1128960fff56e966518284";
/// The corpus HEAD ("Filtered LTS"), a child of [`CORPUS_FULL_COMMIT`].
pub const CORPUS_FILTERED_COMMIT: &str = "b28bb168d0d57f91da2a5a18b7e48d13cf9960f5";
/// The corpus repository's only branch (HEAD points at it).
pub const CORPUS_BRANCH: &str = "master";

/// The corpus tarball: `$GGEN_CORPUS_TAR`, or `shared/corpora/…` beside the
/// nearest ancestor of the crate that has it.
pub fn corpus_tar() -> PathBuf {
    const RELATIVE: &str = "shared/corpora/crates-io-index-2019.git.tar";
    if let Some(tar) = std::env::var_os("GGEN_CORPUS_TAR") {
        return PathBuf::from(tar);
    }
    // shared/ sits beside the checkout (CI), or further up for a git
    // worktree of it.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join(RELATIVE))
        .find(|tar| tar.is_file())
        .unwrap_or_else(|| panic!("the corpus {RELATIVE} is beside no ancestor of the crate; set GGEN_CORPUS_TAR"))
}

/// Unpacks the crates.io-index 2019 corpus into `tmp` and returns the bare
/// repository `tmp/crates-io-index-2019.git` (HEAD = filtered commit).
/// `--no-same-owner`: files owned by us, or git (and gix) would refuse the
/// repository as "dubious ownership" when tests run as root.
pub fn unpack_corpus(tmp: &Path) -> PathBuf {
    let status = Command::new("tar")
        .arg("--no-same-owner")
        .arg("-xf")
        .arg(corpus_tar())
        .arg("-C")
        .arg(tmp)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar -xf corpus into {} failed", tmp.display());
    let repo = tmp.join("crates-io-index-2019.git");
    assert!(
        repo.join("HEAD").is_file(),
        "corpus did not unpack to {}",
        repo.display()
    );
    repo
}
