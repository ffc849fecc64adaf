//! Self-test of the test harness in `tests/support`: every server really
//! starts on 127.0.0.1, answers as the other integration tests expect, and
//! leaves no process behind when dropped; the binary runs isolated from the
//! test's environment.

mod support;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fixture::{BIN, assert_ok, assert_refused, command, isolate, serve};
use support::http::{self, HttpConnection};
use support::servers::{
    self, AccessLogLine, CORPUS_BRANCH, CORPUS_FILTERED_COMMIT, CORPUS_FULL_COMMIT, Fault, FaultPlan, FaultyServer,
    GitDaemon, GitHttpServer, StaticServer, commit_all, git, init_bare_from_worktree, init_worktree, write_file,
};
use tempfile::TempDir;

/// After a server is dropped, neither it nor any process it spawned may run.
fn assert_no_process_left(pid: u32) {
    let left = servers::process_group_members(pid);
    assert!(left.is_empty(), "processes of group {pid} still running: {left:?}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "server process {pid} was not reaped"
    );
}

/// A worktree with one commit and its bare clone `served/repo.git`.
/// Returns (tempdir, served dir, commit id).
fn served_repo() -> (TempDir, std::path::PathBuf, String) {
    let tmp = TempDir::new().unwrap();
    let work = init_worktree(&tmp.path().join("work"));
    write_file(&work, "config.json", r#"{"dl":"https://example.invalid/{crate}"}"#);
    write_file(&work, "3/s/syn", "{\"name\":\"syn\",\"vers\":\"1.0.0\"}\n");
    let commit = commit_all(&work, "first");
    let served = tmp.path().join("served");
    init_bare_from_worktree(&work, &served.join("repo.git"));
    (tmp, served, commit)
}

/// Clones `url`, adds a commit, pushes it to `main`; returns the new id.
fn clone_commit_push(tmp: &Path, url: &str) -> String {
    let clone = tmp.join("pusher");
    git(tmp, &["clone", "-q", url, clone.to_str().unwrap()]);
    write_file(&clone, "3/s/serde", "{\"name\":\"serde\",\"vers\":\"1.0.0\"}\n");
    let id = commit_all(&clone, "add serde");
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);
    id
}

#[test]
fn git_fixtures_use_the_fixed_identity() {
    let tmp = TempDir::new().unwrap();
    let work = init_worktree(&tmp.path().join("w"));
    write_file(&work, "a/b/c.txt", "x");
    let id = commit_all(&work, "msg");
    assert_eq!(
        git(&work, &["log", "-1", "--format=%an <%ae> %s"]),
        "ggen test <test@ggen.invalid> msg"
    );
    assert_eq!(git(&work, &["branch", "--show-current"]), "main");
    // Fixed dates make the same tree give the same commit id every time.
    let again = init_worktree(&tmp.path().join("w2"));
    write_file(&again, "a/b/c.txt", "x");
    assert_eq!(commit_all(&again, "msg"), id);
}

#[test]
fn git_daemon_serves_ls_remote_and_clone() {
    let (tmp, served, commit) = served_repo();
    let daemon = GitDaemon::start(&served);
    let pid = daemon.pid();
    assert_eq!(daemon.url(), format!("git://127.0.0.1:{}/", daemon.port()));
    let url = daemon.repo_url("repo.git");

    let refs = git(tmp.path(), &["ls-remote", &url]);
    assert!(
        refs.contains(&format!("{commit}\trefs/heads/main")),
        "ls-remote: {refs}"
    );

    let clone = tmp.path().join("clone");
    git(tmp.path(), &["clone", "-q", &url, clone.to_str().unwrap()]);
    assert!(clone.join("3/s/syn").is_file());

    // Read-only by default: a push is refused.
    let push = servers::git_command(&clone)
        .args(["push", "origin", "HEAD:refs/heads/other"])
        .output()
        .unwrap();
    assert!(!push.status.success(), "push to a read-only git daemon succeeded");

    let log = std::fs::read_to_string(daemon.log_path()).unwrap();
    assert!(
        log.contains("Ready to rumble") || log.contains("Connection from"),
        "{log}"
    );
    drop(daemon);
    assert_no_process_left(pid);
}

#[test]
fn git_daemon_with_push_accepts_push() {
    let (tmp, served, _) = served_repo();
    let daemon = GitDaemon::start_with_push(&served);
    let pid = daemon.pid();
    let pushed = clone_commit_push(tmp.path(), &daemon.repo_url("repo.git"));
    assert_eq!(servers::rev_parse(&served.join("repo.git"), "main"), pushed);
    drop(daemon);
    assert_no_process_left(pid);
}

#[test]
fn git_http_serves_clone_and_ls_remote_read_only() {
    let (tmp, served, commit) = served_repo();
    let server = GitHttpServer::start(&served, false);
    let pid = server.pid();
    assert_eq!(server.url(), format!("http://127.0.0.1:{}/git/", server.port()));
    let url = server.repo_url("repo.git");

    let refs = git(tmp.path(), &["ls-remote", &url]);
    assert!(
        refs.contains(&format!("{commit}\trefs/heads/main")),
        "ls-remote: {refs}"
    );

    let clone = tmp.path().join("clone");
    git(tmp.path(), &["clone", "-q", &url, clone.to_str().unwrap()]);
    assert!(clone.join("3/s/syn").is_file());

    // Smart HTTP, not the dumb protocol: the advertisement is git's.
    let adv = http::get(server.port(), "/git/repo.git/info/refs?service=git-upload-pack");
    assert_eq!(adv.status, 200);
    assert_eq!(
        adv.header("content-type"),
        Some("application/x-git-upload-pack-advertisement")
    );

    write_file(&clone, "new", "x");
    commit_all(&clone, "new");
    let push = servers::git_command(&clone)
        .args(["push", "origin", "HEAD:main"])
        .output()
        .unwrap();
    assert!(!push.status.success(), "push to a read-only http server succeeded");

    server.wait_for_access_log("200 GET /git/repo.git/info/refs?service=git-upload-pack");
    drop(server);
    assert_no_process_left(pid);
}

#[test]
fn git_http_with_push_accepts_push() {
    let (tmp, served, _) = served_repo();
    let server = GitHttpServer::start(&served, true);
    let pid = server.pid();
    let pushed = clone_commit_push(tmp.path(), &server.repo_url("repo.git"));
    assert_eq!(servers::rev_parse(&served.join("repo.git"), "main"), pushed);
    drop(server);
    assert_no_process_left(pid);
}

#[test]
fn static_server_revalidates_with_etag_and_logs_requests() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "config.json", "{\"dl\":\"/dl\"}");
    write_file(root.path(), "io/.g/io.ggen.rust.axum", "line\n");
    let server = StaticServer::start(root.path());
    let pid = server.pid();
    assert_eq!(server.url(), format!("http://127.0.0.1:{}/", server.port()));

    let mut conn = HttpConnection::connect(server.port());
    let first = conn.get("/config.json", &[]);
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "{\"dl\":\"/dl\"}");
    assert!(first.header("last-modified").is_some(), "{:?}", first.headers);
    let etag = first.header("etag").expect("nginx sends an ETag").to_string();

    let second = conn.get("/config.json", &[("If-None-Match", &etag)]);
    assert_eq!(second.status, 304);
    assert!(second.body.is_empty());

    let lm = first.header("last-modified").unwrap().to_string();
    assert_eq!(conn.get("/config.json", &[("If-Modified-Since", &lm)]).status, 304);
    assert_eq!(conn.get("/io/.g/io.ggen.rust.axum", &[]).text(), "line\n");
    assert_eq!(conn.get("/missing", &[]).status, 404);
    assert_eq!(conn.get("/io/", &[]).status, 404, "directories are not listed");
    assert!(!conn.is_closed(), "nginx closed a keep-alive connection");

    // A second connection gets a new serial number.
    assert_eq!(http::get(server.port(), "/config.json").status, 200);

    let lines = server.wait_for_access_log_lines(7);
    let statuses: Vec<u16> = lines.iter().map(|l| l.status).collect();
    assert_eq!(statuses, [200, 304, 304, 200, 404, 404, 200]);
    let first_conn = lines[0].connection;
    assert!(lines[..6].iter().all(|l| l.connection == first_conn), "{lines:#?}");
    assert_ne!(lines[6].connection, first_conn);
    assert_eq!(
        lines[1],
        AccessLogLine {
            connection: first_conn,
            connection_requests: 2,
            status: 304,
            method: "GET".into(),
            path: "/config.json".into(),
            body_bytes: 0,
        }
    );
    drop(server);
    assert_no_process_left(pid);
}

#[test]
fn faulty_server_without_faults_is_a_static_host() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "3/s/syn", "syn lines\n");
    let server = FaultyServer::start(root.path(), FaultPlan::none());
    let mut conn = HttpConnection::connect(server.port());

    let ok = conn.get("/3/s/syn", &[]);
    assert_eq!((ok.status, ok.text()), (200, "syn lines\n"));
    let etag = ok.header("etag").expect("etag").to_string();
    let lm = ok.header("last-modified").expect("last-modified").to_string();
    assert!(lm.ends_with(" GMT") && lm.len() == 29, "not an IMF-fixdate: {lm}");

    assert_eq!(conn.get("/3/s/syn", &[("If-None-Match", &etag)]).status, 304);
    assert_eq!(conn.get("/3/s/syn", &[("If-None-Match", "\"other\"")]).status, 200);
    assert_eq!(conn.get("/3/s/syn", &[("If-Modified-Since", &lm)]).status, 304);
    assert_eq!(conn.get("/3/s/missing", &[]).status, 404);
    assert_eq!(conn.get("/3/s/../s/syn", &[]).status, 404, "dot segments refused");
    assert_eq!(conn.get("/3/s", &[]).status, 404, "directories are not files");
    let head = conn.request("HEAD", "/3/s/syn", &[]).unwrap();
    assert_eq!((head.status, head.header("content-length")), (200, Some("10")));
    assert!(!conn.is_closed());

    assert_eq!(http::get(server.port(), "/3/s/syn").status, 200);
    assert_eq!(server.connections_accepted(), 2);
    assert_eq!(server.request_count("/3/s/syn"), 6);
    assert_eq!(server.total_requests(), 9);
    let statuses: Vec<_> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 304, 200, 304, 404, 404, 404, 200, 200].map(Some));
    assert_eq!(server.requests()[7].method, "HEAD");
}

#[test]
fn faulty_server_503_for_the_first_n_requests_per_path() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "a", "A");
    write_file(root.path(), "b", "B");
    let server = FaultyServer::start(root.path(), FaultPlan::first(2, Fault::Status503));
    let mut conn = HttpConnection::connect(server.port());
    let statuses: Vec<u16> = ["/a", "/a", "/a", "/b", "/b", "/b", "/a"]
        .iter()
        .map(|p| conn.get(p, &[]).status)
        .collect();
    assert_eq!(statuses, [503, 503, 200, 503, 503, 200, 200]);
    assert_eq!(server.connections_accepted(), 1, "503 keeps the connection");
    assert_eq!(server.request_count("/a"), 4);

    // A new plan starts counting again, and can target a prefix.
    server.set_plan(FaultPlan::always(Fault::Status503).only_under("/b"));
    assert_eq!(conn.get("/a", &[]).status, 200);
    assert_eq!(conn.get("/b", &[]).status, 503);
    assert_eq!(conn.get("/b", &[]).status, 503);
}

#[test]
fn faulty_server_drops_connections() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "f", "data");
    let server = FaultyServer::start(root.path(), FaultPlan::first(1, Fault::DropConnection));
    let mut conn = HttpConnection::connect(server.port());
    let err = conn.request("GET", "/f", &[]).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset),
        "{err:?}"
    );
    let retry = HttpConnection::connect(server.port()).get("/f", &[]);
    assert_eq!((retry.status, retry.text()), (200, "data"));
    assert_eq!(server.connections_accepted(), 2);
    let records = server.requests();
    assert_eq!(records[0].status, None);
    assert_eq!(records[0].fault, Some(Fault::DropConnection));
    assert_eq!(records[1].status, Some(200));
}

#[test]
fn faulty_server_truncates_bodies() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "f", "0123456789");
    let server = FaultyServer::start(root.path(), FaultPlan::first(1, Fault::TruncateBody));
    // Read by hand: the full Content-Length, then half the body, then EOF.
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    stream.write_all(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.contains("Content-Length: 10\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n01234"), "{raw}");

    let err = HttpConnection::connect(server.port()).request("GET", "/f", &[]);
    assert_eq!(err.unwrap().text(), "0123456789", "only the first request is truncated");
}

#[test]
fn faulty_server_delays_answers() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "f", "slow");
    let plan = FaultPlan::always(Fault::Delay(Duration::from_millis(300)));
    let server = FaultyServer::start(root.path(), plan);
    let started = Instant::now();
    assert_eq!(http::get(server.port(), "/f").text(), "slow");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// Sends `GET path` on a fresh connection and reads the raw answer until
/// the server closes or `limit` bytes have arrived.
fn raw_get(port: u16, path: &str, limit: u64) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    stream.take(limit).read_to_end(&mut raw).unwrap();
    String::from_utf8(raw).unwrap()
}

#[test]
fn faulty_server_sends_wrong_bytes_and_html_pages() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "f", "0123456789");
    let server = FaultyServer::start(root.path(), FaultPlan::first(1, Fault::WrongBytes));
    let mut conn = HttpConnection::connect(server.port());
    let wrong = conn.get("/f", &[]);
    assert_eq!(
        (wrong.status, wrong.text()),
        (200, "1032547698"),
        "same length, every byte changed"
    );
    assert_eq!(conn.get("/f", &[]).text(), "0123456789");

    server.set_plan(FaultPlan::always(Fault::HtmlErrorPage));
    for path in ["/f", "/missing"] {
        let page = conn.get(path, &[]);
        assert_eq!((page.status, page.text()), (200, servers::HTML_ERROR_PAGE), "{path}");
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    }
    assert!(!conn.is_closed());
}

#[test]
fn faulty_server_drops_chunked_bodies_midway() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "f", "0123456789");
    let server = FaultyServer::start(root.path(), FaultPlan::first(1, Fault::DropMidBody));
    let raw = raw_get(server.port(), "/f", 1 << 20);
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(
        raw.contains("Transfer-Encoding: chunked\r\n") && !raw.contains("Content-Length"),
        "{raw}"
    );
    assert!(
        raw.ends_with("\r\n\r\n5\r\n01234\r\n"),
        "half a body and no last chunk: {raw}"
    );
    assert_eq!(http::get(server.port(), "/f").text(), "0123456789");
}

#[test]
fn faulty_server_drips_and_streams_without_end() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "f", "0123456789");
    let server = FaultyServer::start(
        root.path(),
        FaultPlan::first(1, Fault::SlowDrip(Duration::from_millis(10))),
    );
    let raw = raw_get(server.port(), "/f", 1 << 20);
    assert!(raw.contains("Content-Length: 10\r\n"), "{raw}");
    assert!(
        raw.ends_with("\r\n\r\n0123456789"),
        "the whole body, a byte at a time: {raw}"
    );
    assert_eq!(
        server.requests()[0].fault,
        Some(Fault::SlowDrip(Duration::from_millis(10)))
    );

    // An endless body: far more than the file, still coming, no length.
    server.set_plan(FaultPlan::first(1, Fault::EndlessBody));
    let limit = 4 << 20;
    let raw = raw_get(server.port(), "/f", limit);
    assert_eq!(raw.len() as u64, limit, "the server was still sending");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && !head.contains("Content-Length"),
        "{head}"
    );
    assert!(body.starts_with("01234567890123456789"), "the file, repeated");
}

#[test]
fn faulty_server_redirects_through_a_chain_or_in_a_loop() {
    let root = TempDir::new().unwrap();
    write_file(root.path(), "dir/f", "data");
    let server = FaultyServer::start(root.path(), FaultPlan::first(1, Fault::Redirects(2)));
    let base = format!("http://127.0.0.1:{}", server.port());
    let mut conn = HttpConnection::connect(server.port());
    let first = conn.get("/dir/f", &[]);
    assert_eq!(first.status, 302);
    assert_eq!(
        first.header("location"),
        Some(format!("{base}/.redirect/1/dir/f").as_str())
    );
    let second = conn.get("/.redirect/1/dir/f", &[]);
    assert_eq!(
        second.header("location"),
        Some(format!("{base}/.redirect/0/dir/f").as_str())
    );
    let last = conn.get("/.redirect/0/dir/f", &[]);
    assert_eq!((last.status, last.text()), (200, "data"));
    assert_eq!(
        server.request_count("/dir/f"),
        1,
        "the hops are not faulted nor counted as the file"
    );

    server.set_plan(FaultPlan::always(Fault::RedirectToSelf));
    for _ in 0..3 {
        let again = conn.get("/dir/f", &[]);
        assert_eq!(again.status, 302);
        assert_eq!(again.header("location"), Some(format!("{base}/dir/f").as_str()));
    }
    let statuses: Vec<_> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [302, 302, 200, 302, 302, 302].map(Some));
}

#[test]
fn faulty_server_stops_with_idle_connections_open() {
    let root = TempDir::new().unwrap();
    let server = FaultyServer::start(root.path(), FaultPlan::none());
    let port = server.port();
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut busy = HttpConnection::connect(port);
    assert_eq!(busy.get("/nothing", &[]).status, 404);
    // Wait until the idle connection has its thread, so Drop must end it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connections_accepted() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drop waited for idle clients"
    );
    // The server closed the idle connection: the client reads EOF.
    use std::io::Read;
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(idle.read(&mut [0; 16]).unwrap(), 0, "idle connection left open");
}

#[test]
fn corpus_unpacks_with_both_commits_and_serves_over_git_daemon() {
    let tmp = TempDir::new().unwrap();
    let repo = servers::unpack_corpus(tmp.path());
    assert_eq!(servers::rev_parse(&repo, "HEAD"), CORPUS_FILTERED_COMMIT);
    assert_eq!(servers::rev_parse(&repo, CORPUS_BRANCH), CORPUS_FILTERED_COMMIT);
    assert_eq!(servers::rev_parse(&repo, "HEAD~1"), CORPUS_FULL_COMMIT);
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%s", CORPUS_FULL_COMMIT]),
        "Registry at 2019-11-10"
    );

    let daemon = GitDaemon::start(tmp.path());
    let refs = git(tmp.path(), &["ls-remote", &daemon.repo_url("crates-io-index-2019.git")]);
    assert!(refs.contains(&format!("{CORPUS_FILTERED_COMMIT}\tHEAD")), "{refs}");
}

/// `fixture::isolate` removes what would change the binary's behaviour,
/// inherited or set on the command before it. The control: each variable
/// alone, set after isolation, makes the command fail; all of them set
/// before isolation change nothing.
#[test]
fn the_binary_runs_isolated_from_registry_offline_proxy_and_password_variables() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/registry");
    let server = serve(&examples, &[]);
    let tmp = TempDir::new().unwrap();
    // A fresh home per run, its default registry the served examples (no
    // run finds what another one cached), no retries (a refused connection
    // fails at once).
    let mut homes = 0;
    let mut fresh_home = || -> PathBuf {
        homes += 1;
        let home = tmp.path().join(format!("home-{homes}"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join("config.toml"),
            format!("default-registry = {:?}\n[net]\nretries = 0\n", server.url()),
        )
        .unwrap();
        home
    };
    // A proxy that refuses connections: nothing listens on a port just freed.
    let proxy = format!("http://127.0.0.1:{}", servers::free_port());
    // (variable, value, what the failure it causes names)
    let hostile = [
        ("GGEN_REGISTRY", "/nonexistent/registry", "/nonexistent/registry"),
        ("GGEN_OFFLINE", "1", "offline mode forbids the network"),
        ("http_proxy", &proxy, "Connection refused"),
        ("HTTPS_PROXY", &proxy, "Connection refused"),
        ("all_proxy", &proxy, "Connection refused"),
    ];
    let info = ["info", "io.ggen.base", "--json"];
    for (name, value, named) in hostile {
        let out = command(&fresh_home(), &info).env(name, value).output().unwrap();
        assert_refused(&out, &[named]);
    }
    let mut before = Command::new(BIN);
    before
        .envs(hostile.map(|(name, value, _)| (name, value)))
        .env("GGEN_HOME", "/nonexistent/ggen-home");
    let out = isolate(&mut before, &fresh_home()).args(info).output().unwrap();
    let answer: Value = serde_json::from_str(&assert_ok(&out)).unwrap();
    assert_eq!(answer["name"], "io.ggen.base", "{answer}");

    // A key password set before isolation is gone: keygen, with stdin
    // empty, has none and refuses; set after, keygen uses it.
    let keys = tmp.path().join("keys");
    let keygen = ["keygen", "--out-dir", keys.to_str().unwrap()];
    let mut before = Command::new(BIN);
    before.env("GGEN_KEY_PASSWORD", "not for the binary");
    let out = isolate(&mut before, &fresh_home()).args(keygen).output().unwrap();
    assert_refused(&out, &["GGEN_KEY_PASSWORD"]);
    assert!(!keys.join("ggen.key").exists());
    let out = command(&fresh_home(), &keygen)
        .env("GGEN_KEY_PASSWORD", "given on top")
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(keys.join("ggen.key").exists());
}
