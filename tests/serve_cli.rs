//! `ggen-market serve` as a real process on 127.0.0.1: validators and 304s,
//! content types, HEAD, keep-alive, methods, every way out of the root
//! refused, many concurrent connections, slow clients cut off, and the
//! real client installing from it.
//!
//! Oracles: nginx serving the same directory (same bodies, same lengths,
//! same found / not found), the bytes on disk, and `verify` after install.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::fixture::{Registry, assert_ok, files_under, lock_of, market, serve};
use support::http::{HttpConnection, HttpResponse, get};
use support::servers::StaticServer;

/// A catalog registry with a few more kinds of file: a mirror.toml, an
/// owner-keys file, a .crate, a `.git` directory, and symlinks — one inside,
/// two leading out of the root. Returns the registry and the directory
/// outside the root that holds a secret.
fn served_tree() -> (Registry, PathBuf) {
    let registry = Registry::with_catalog();
    let index = &registry.index;
    fs::write(
        index.join("mirror.toml"),
        "[upstream]\nurl = \"https://example.invalid/\"\n",
    )
    .unwrap();
    fs::create_dir_all(index.join("_keys/io/.g")).unwrap();
    fs::write(
        index.join("_keys/io/.g/io.ggen.base"),
        format!("{{\"key\":\"{}\"}}\n", registry.key.public),
    )
    .unwrap();
    fs::create_dir_all(index.join("crates/serde")).unwrap();
    fs::write(index.join("crates/serde/serde-1.0.0.crate"), b"\x1f\x8b not really").unwrap();
    fs::create_dir_all(index.join(".git")).unwrap();
    fs::write(index.join(".git/config"), "SECRET-GIT-CONFIG\n").unwrap();
    let outside = registry.root.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret.txt"), "SECRET-OUTSIDE\n").unwrap();
    std::os::unix::fs::symlink(&outside, index.join("leak")).unwrap();
    std::os::unix::fs::symlink("../outside/secret.txt", index.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink("config.json", index.join("alias.json")).unwrap();
    (registry, outside)
}

fn check_headers(response: &HttpResponse, path: &str) {
    assert!(response.header("etag").is_some_and(|e| e.starts_with('"')), "{path}");
    assert!(
        response.header("last-modified").is_some_and(|d| d.ends_with(" GMT")),
        "{path}"
    );
    assert!(response.header("date").is_some(), "{path}");
}

#[test]
fn validators_content_types_and_methods() {
    let (registry, _) = served_tree();
    let server = serve(&registry.index, &[]);
    assert_eq!(server.url(), format!("sparse+http://127.0.0.1:{}/", server.port()));
    let mut conn = HttpConnection::connect(server.port());

    for (path, kind) in [
        ("/config.json", "application/json"),
        ("/io/.g/io.ggen.rust.axum", "text/plain; charset=utf-8"),
        ("/_keys/io/.g/io.ggen.base", "text/plain; charset=utf-8"),
        ("/archives/io.ggen.base/io.ggen.base-1.0.0.tar.gz", "application/gzip"),
        ("/crates/serde/serde-1.0.0.crate", "application/gzip"),
        ("/mirror.toml", "application/toml"),
    ] {
        let response = conn.get(path, &[]);
        let on_disk = fs::read(registry.index.join(&path[1..])).unwrap();
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.body, on_disk, "{path}");
        assert_eq!(response.header("content-type"), Some(kind), "{path}");
        assert_eq!(
            response.header("content-length"),
            Some(on_disk.len().to_string().as_str())
        );
        check_headers(&response, path);
    }
    assert!(!conn.is_closed(), "one keep-alive connection served them all");

    // ETag and Last-Modified revalidate with 304 and no body.
    let first = conn.get("/config.json", &[]);
    let etag = first.header("etag").unwrap().to_owned();
    let modified = first.header("last-modified").unwrap().to_owned();
    let again = conn.get("/config.json", &[("If-None-Match", &etag)]);
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let again = conn.get("/config.json", &[("If-None-Match", &format!("\"other\", W/{etag}"))]);
    assert_eq!(again.status, 304);
    let again = conn.get("/config.json", &[("If-Modified-Since", &modified)]);
    assert_eq!(again.status, 304);
    let old = conn.get(
        "/config.json",
        &[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")],
    );
    assert_eq!(old.status, 200);
    // A changed file has a new ETag: the old one no longer matches.
    registry.edit_config(|config| config["name"] = "renamed".into());
    let changed = conn.get("/config.json", &[("If-None-Match", &etag)]);
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert!(changed.text().contains("renamed"));

    // HEAD: the same headers, no body.
    let head = conn.request("HEAD", "/config.json", &[]).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), changed.header("content-length"));
    assert_eq!(head.header("etag"), changed.header("etag"));
    assert!(head.body.is_empty());

    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let response = conn.request(method, "/config.json", &[]).unwrap();
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("GET, HEAD"));
    }
    assert_eq!(conn.get("/no/such/file", &[]).status, 404);
    assert_eq!(conn.get("/io/", &[]).status, 404, "no directory listings");
    assert_eq!(
        conn.get("/alias.json", &[]).body,
        changed.body,
        "a symlink inside the root is served"
    );
    assert!(!conn.is_closed());
    let last = conn.get("/config.json", &[("Connection", "close")]);
    assert_eq!(last.header("connection"), Some("close"));
    assert!(conn.is_closed());
    assert!(
        server.stderr().contains("\"GET /config.json\" 304 0"),
        "{}",
        server.stderr()
    );
}

/// nginx, serving the same directory, is the oracle for what a static file
/// server answers: the same bytes for every file (so the same lengths), and
/// both find every file in the tree.
#[test]
fn serves_every_file_as_nginx_does() {
    let registry = Registry::with_catalog();
    let ours = serve(&registry.index, &[]);
    let nginx = StaticServer::start(&registry.index);
    let files = files_under(&registry.index);
    assert!(files.iter().any(|f| f.contains("/.g/")), "{files:?}");
    for file in files.iter().filter(|f| !f.starts_with(".ggen-")) {
        let path = format!("/{file}");
        let (a, b) = (get(ours.port(), &path), get(nginx.port(), &path));
        assert_eq!((a.status, b.status), (200, 200), "{path}");
        assert_eq!(a.body, b.body, "{path}");
        assert_eq!(a.header("content-length"), b.header("content-length"), "{path}");
    }
}

#[test]
fn no_request_leaves_the_root() {
    let (registry, outside) = served_tree();
    let server = serve(&registry.index, &[]);
    let outside_name = outside.file_name().unwrap().to_str().unwrap();
    let targets = [
        "/../outside/secret.txt".to_owned(),
        format!("/../{outside_name}/secret.txt"),
        "/io/../../outside/secret.txt".into(),
        "/%2e%2e/outside/secret.txt".into(),
        "/%2E%2E/%2E%2E/etc/passwd".into(),
        "/io%2f..%2f..%2foutside%2fsecret.txt".into(),
        "/..%2foutside%2fsecret.txt".into(),
        "/..\\outside\\secret.txt".into(),
        "/%5c..%5coutside%5csecret.txt".into(),
        "/config.json%00".into(),
        "/config.json\0".into(),
        "//etc/passwd".into(),
        "/etc/passwd".into(),
        format!("/{}", outside.join("secret.txt").display()),
        format!("http://127.0.0.1:{}/../outside/secret.txt", server.port()),
        "/leak/secret.txt".into(),
        "/leak.txt".into(),
        "/.git/config".into(),
        "/.GIT/config".into(),
        "/%2egit/config".into(),
        "/./config.json".into(),
    ];
    for target in &targets {
        let mut conn = HttpConnection::connect(server.port());
        let response = conn.request("GET", target, &[("Connection", "close")]).unwrap();
        assert!(
            matches!(response.status, 400 | 404),
            "{target:?}: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        let body = String::from_utf8_lossy(&response.body);
        assert!(
            !body.contains("SECRET") && !body.contains("root:"),
            "{target:?}: {body}"
        );
    }
    // Dot-directories that are not .git are served.
    assert_eq!(get(server.port(), "/io/.g/io.ggen.rust.cli").status, 200);
}

/// 200 clients connect at once to 32 threads: every request is answered
/// 200 with the right bytes (none refused), keep-alive connections giving
/// their thread up to waiting ones; a client reconnects when told to
/// close, as HTTP clients do.
#[test]
fn many_concurrent_connections_are_all_answered() {
    let registry = Registry::with_catalog();
    let server = serve(&registry.index, &["--quiet"]);
    let files: Vec<String> = files_under(&registry.index)
        .into_iter()
        .filter(|f| !f.starts_with(".ggen-"))
        .collect();
    let expected: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(registry.index.join(f)).unwrap())
        .collect();
    const CLIENTS: usize = 200;
    const REQUESTS: usize = 5;
    let barrier = std::sync::Barrier::new(CLIENTS);
    let reconnects = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (barrier, files, expected, reconnects) = (&barrier, &files, &expected, &reconnects);
            let port = server.port();
            scope.spawn(move || {
                let mut conn = HttpConnection::connect(port);
                barrier.wait();
                for round in 0..REQUESTS {
                    if conn.is_closed() {
                        conn = HttpConnection::connect(port);
                        reconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let i = (client * REQUESTS + round) % files.len();
                    let response = conn.get(&format!("/{}", files[i]), &[]);
                    assert_eq!(response.status, 200, "client {client}, {}", files[i]);
                    assert_eq!(response.body, expected[i], "client {client}, {}", files[i]);
                }
            });
        }
    });
    eprintln!("{} reconnects", reconnects.into_inner());
}

#[test]
fn a_slow_client_cannot_hold_the_only_thread() {
    let registry = Registry::with_catalog();
    let server = serve(&registry.index, &["--max-connections", "1", "--read-timeout", "1"]);
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    slow.write_all(b"GET /config.json HTTP/1.1\r\nHost: 127").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Waits for the slow one's timeout, then is served.
    let response = get(server.port(), "/config.json");
    assert_eq!(response.status, 200);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let mut status = String::new();
    BufReader::new(&slow).read_line(&mut status).unwrap();
    assert_eq!(status, "HTTP/1.1 408 Request Timeout\r\n");
}

/// The example registry, served by `serve`, installs with the real client
/// (resolve, download, checksums, signatures) and verifies; a second sync
/// revalidates every package file with 304s.
#[test]
fn the_client_installs_from_serve() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/registry");
    let server = serve(&examples, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let project = tmp.path().join("project");
    fs::create_dir_all(&project).unwrap();
    let project_arg = project.to_str().unwrap();
    let out = market(
        &home,
        &[
            "--registry",
            server.url(),
            "add",
            "io.ggen.rust.axum",
            "--project",
            project_arg,
        ],
    );
    assert_ok(&out);
    let lock = lock_of(&project);
    assert!(
        lock.contains_key("io.ggen.rust.axum") && lock.contains_key("io.ggen.base"),
        "{lock:?}"
    );
    assert!(lock.values().all(|p| p["source"].as_str() == Some("io.ggen.examples")));
    assert_ok(&market(&home, &["verify", "--project", project_arg]));
    assert!(
        server.stderr().contains("\"GET /archives/io.ggen.rust.axum/"),
        "{}",
        server.stderr()
    );

    let sync = assert_ok(&market(
        &home,
        &["--registry", server.url(), "sync", "io.ggen.rust.axum", "--json"],
    ));
    let sync: serde_json::Value = serde_json::from_str(&sync).unwrap();
    assert!(sync["not_modified"].as_u64().unwrap() >= 4, "{sync}");
    assert_eq!(sync["fetched"], 0, "{sync}");
}
