//! W3: fetching the dependency closure of the 20 most depended-upon crates
//! of the 2019 crates.io index over the sparse protocol, from nginx on
//! loopback, with a cold cache and a warm one (every file 304) — side by
//! side with Cargo doing the same (`cargo generate-lockfile` against the
//! same server as an alternative registry, with its own cold or warm
//! CARGO_HOME).
//!
//! Run: `cargo bench --bench sparse_fetch` (needs `nginx` and `git`).
//! `GGEN_BENCH_RUNS` sets the runs per case (default 5; the median is
//! reported); `GGEN_BENCH_INDEX` points at an existing checkout of the
//! corpus at 5343e085 to skip unpacking it; `GGEN_BENCH_CONNECTIONS` sets
//! our `max_connections` (default 16).
//!
//! Figures per case: wall time (ours: resolving the 20 roots, `*` with
//! default features, straight from the server — what `add` and `install`
//! do; Cargo's: the whole command, startup and resolution included), the span of the
//! requests in nginx's log (first to last request served), requests and
//! connections seen by nginx.

mod support {
    #[allow(dead_code)] // shared with the index benches, which use all of it
    pub mod corpus;
}

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ggen_marketplace::resolve::{Request, resolve};
use ggen_marketplace::sources::sparse::{SparseOptions, SparseSource};
use nginx::{AccessLog, Nginx};

const TOP_20: [&str; 20] = [
    "serde",
    "serde_json",
    "log",
    "serde_derive",
    "libc",
    "clap",
    "lazy_static",
    "rand",
    "failure",
    "futures",
    "regex",
    "chrono",
    "byteorder",
    "hyper",
    "syn",
    "quote",
    "url",
    "reqwest",
    "winapi",
    "proc-macro2",
];
const CORPUS_COMMIT: &str = support::corpus::FULL_2019;

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    span: Duration,
    cpu: Duration,
    requests: usize,
    connections: usize,
    not_modified: usize,
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not and
    // only checks that the harness builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("sparse_fetch: run with `cargo bench --bench sparse_fetch`");
        return;
    }
    let runs = env_number("GGEN_BENCH_RUNS").unwrap_or(5);
    let scratch = tempfile::tempdir().expect("temp dir");
    let index = match std::env::var_os("GGEN_BENCH_INDEX") {
        Some(dir) => PathBuf::from(dir),
        None => support::corpus::worktree_at(scratch.path(), "corpus", Some(support::corpus::FULL_2019)),
    };
    let nginx = Nginx::start(&index, scratch.path()).expect("nginx starts");
    let url = format!("sparse+http://127.0.0.1:{}/", nginx.port());
    let roots: Vec<String> = TOP_20.iter().map(|s| s.to_string()).collect();

    let project = cargo_project(scratch.path(), &url);
    let warm_cache = scratch.path().join("ours-warm");
    let warm_home = scratch.path().join("cargo-home-warm");
    fetch_with_ours(&url, &warm_cache, &roots);
    generate_lockfile(&project, &warm_home);

    // The cases take turns, so that a busy machine slows them alike.
    let mut cases: [(&str, Vec<Run>); 4] = [
        ("ours cold", Vec::new()),
        ("cargo cold", Vec::new()),
        ("ours warm", Vec::new()),
        ("cargo warm", Vec::new()),
    ];
    for i in 0..runs.max(1) {
        let cold_cache = scratch.path().join(format!("ours-cold-{i}"));
        let cold_home = scratch.path().join(format!("cargo-home-cold-{i}"));
        cases[0]
            .1
            .push(measure(&nginx, || fetch_with_ours(&url, &cold_cache, &roots)));
        cases[1]
            .1
            .push(measure(&nginx, || generate_lockfile(&project, &cold_home)));
        cases[2]
            .1
            .push(measure(&nginx, || fetch_with_ours(&url, &warm_cache, &roots)));
        cases[3]
            .1
            .push(measure(&nginx, || generate_lockfile(&project, &warm_home)));
    }

    println!(
        "W3 sparse fetch of the closure of the top 20 crates (corpus {CORPUS_COMMIT}), nginx on loopback, median of {runs} (min-max wall)"
    );
    println!(
        "{:<11} {:>8} {:>15} {:>8} {:>8} {:>9} {:>12} {:>5}",
        "case", "wall ms", "range", "span ms", "cpu ms", "requests", "connections", "304s"
    );
    for (name, mut runs) in cases {
        runs.sort_by_key(|r| r.wall);
        let run = runs[runs.len() / 2];
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<11} {:>8.1} {:>15} {:>8.1} {:>8.0} {:>9} {:>12} {:>5}",
            name,
            ms(run.wall),
            format!("{:.0}-{:.0}", ms(runs[0].wall), ms(runs[runs.len() - 1].wall)),
            ms(run.span),
            ms(run.cpu),
            run.requests,
            run.connections,
            run.not_modified
        );
    }
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

/// Runs one case, with what nginx saw of it and the CPU time it took (this
/// process's for ours, its children's for Cargo).
fn measure(nginx: &Nginx, case: impl FnOnce() -> Duration) -> Run {
    let mark = nginx.log_mark();
    let cpu_before = cpu_time();
    let wall = case();
    let cpu = cpu_time() - cpu_before;
    let log: AccessLog = nginx.log_since(mark);
    Run {
        wall,
        span: log.span(),
        cpu,
        requests: log.requests(),
        connections: log.connections(),
        not_modified: log.with_status(304),
    }
}

/// User + system time of this process and of its finished children, from
/// /proc/self/stat (in clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the parenthesised command name comes field 3 (state); fields
    // 14-17 are utime, stime, cutime, cstime.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..15)
        .map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10)
}

fn fetch_with_ours(url: &str, cache: &Path, roots: &[String]) -> Duration {
    let start = Instant::now();
    let options = SparseOptions {
        max_connections: env_number("GGEN_BENCH_CONNECTIONS").unwrap_or(16),
        ..SparseOptions::default()
    };
    let source = SparseSource::open(url, cache, false, options).expect("open");
    // What `add`/`install` do: resolve the roots (`*`, default features)
    // straight from the server, reading only the files the resolver reaches.
    let request = Request::new(roots.iter().map(|name| (name.as_str(), "*")));
    let resolution = resolve(&source, &request).expect("resolve");
    let wall = start.elapsed();
    assert!(
        resolution.packages.len() >= roots.len(),
        "{}",
        resolution.packages.len()
    );
    wall
}

fn generate_lockfile(project: &Path, cargo_home: &Path) -> Duration {
    let start = Instant::now();
    let output = Command::new(env!("CARGO"))
        .args(["generate-lockfile", "--quiet"])
        .current_dir(project)
        .env("CARGO_HOME", cargo_home)
        .output()
        .expect("cargo runs");
    let wall = start.elapsed();
    assert!(
        output.status.success(),
        "cargo generate-lockfile: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    wall
}

/// A throwaway project depending on the 20 crates (`*`) from the index as
/// an alternative registry.
fn cargo_project(scratch: &Path, url: &str) -> PathBuf {
    let dir = scratch.join("cargo-peer");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(
        dir.join(".cargo/config.toml"),
        format!("[registries.corpus]\nindex = \"{url}\"\n"),
    )
    .unwrap();
    let mut manifest =
        String::from("[package]\nname = \"peer\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n");
    for name in TOP_20 {
        manifest.push_str(&format!("{name} = {{ version = \"*\", registry = \"corpus\" }}\n"));
    }
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    dir
}

/// nginx serving a directory on a free loopback port, logging each request
/// as `msec connection status uri`. One process (`master_process off`), so
/// killing it leaves no worker behind.
mod nginx {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub struct Nginx {
        child: Child,
        port: u16,
        log: PathBuf,
    }

    impl Nginx {
        pub fn start(root: &Path, scratch: &Path) -> std::io::Result<Nginx> {
            let dir = scratch.join("nginx");
            std::fs::create_dir_all(dir.join("tmp"))?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let log = dir.join("access.log");
            let d = dir.display();
            let config = format!(
                "worker_processes 1;\nmaster_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n  log_format bench '$msec $connection $status $request_uri';\n\
                 client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
                 uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
                 server {{ listen 127.0.0.1:{port}; root {root}; access_log {log} bench; }}\n}}\n",
                root = root.display(),
                log = log.display(),
            );
            std::fs::write(dir.join("nginx.conf"), config)?;
            let child = Command::new("nginx")
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "nginx did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            // The probe connection above is not a request: it leaves no log line.
            Ok(Nginx { child, port, log })
        }

        pub fn port(&self) -> u16 {
            self.port
        }

        /// The log's current length, to read what comes after.
        pub fn log_mark(&self) -> u64 {
            std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
        }

        /// The requests logged since `mark`. nginx writes a request's line
        /// just after sending the answer, so the last lines may come a
        /// little after the client is done: wait until the log stops growing.
        pub fn log_since(&self, mark: u64) -> AccessLog {
            let mut length = self.log_mark();
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let now = self.log_mark();
                if now == length {
                    break;
                }
                length = now;
            }
            let text = std::fs::read(&self.log).unwrap_or_default();
            let lines = String::from_utf8_lossy(&text[mark as usize..])
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split(' ');
                    let msec: f64 = fields.next()?.parse().ok()?;
                    let connection: u64 = fields.next()?.parse().ok()?;
                    let status: u16 = fields.next()?.parse().ok()?;
                    Some((msec, connection, status))
                })
                .collect();
            AccessLog { lines }
        }
    }

    impl Drop for Nginx {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub struct AccessLog {
        lines: Vec<(f64, u64, u16)>,
    }

    impl AccessLog {
        pub fn requests(&self) -> usize {
            self.lines.len()
        }

        pub fn connections(&self) -> usize {
            let mut ids: Vec<u64> = self.lines.iter().map(|l| l.1).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        }

        pub fn with_status(&self, status: u16) -> usize {
            self.lines.iter().filter(|l| l.2 == status).count()
        }

        /// From the first request's end to the last's, as nginx saw it.
        pub fn span(&self) -> Duration {
            let first = self.lines.iter().map(|l| l.0).fold(f64::INFINITY, f64::min);
            let last = self.lines.iter().map(|l| l.0).fold(0.0, f64::max);
            Duration::from_secs_f64((last - first).max(0.0))
        }
    }
}
