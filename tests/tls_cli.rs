//! https registries: the real binary against nginx with TLS on 127.0.0.1,
//! its certificate issued by a CA made for the test, serving a sparse index
//! itself or standing in front of lighttpd + `git http-backend`. The binary
//! trusts what the system trusts (as cargo and git do), so that CA is
//! refused until `SSL_CERT_FILE` names it, the way an internal CA is added.

mod support;

use support::fixture::{Registry, assert_ok, assert_refused, command};
use support::servers::{GitHttpServer, StaticServer, TlsProxy, write_file};

const LINE: &str = r#"{"name":"demo","vers":"1.0.0","deps":[],"cksum":"00","features":{},"yanked":false}"#;

#[test]
fn an_https_registry_is_read_once_its_ca_is_trusted_and_refused_before() {
    let served = tempfile::tempdir().unwrap();
    write_file(
        served.path(),
        "config.json",
        r#"{"dl":"https://127.0.0.1/{crate}-{version}.tar.gz"}"#,
    );
    write_file(served.path(), "de/mo/demo", format!("{LINE}\n"));
    let server = StaticServer::start_tls(served.path());
    let registry = format!("sparse+{}", server.url());
    assert!(registry.starts_with("sparse+https://127.0.0.1:"), "{registry}");
    let home = tempfile::tempdir().unwrap();
    let info = ["--registry", registry.as_str(), "info", "demo", "--json"];

    let untrusted = command(home.path(), &info).output().unwrap();
    let refused = assert_refused(&untrusted, &[&server.url(), "certificate", "SSL_CERT_FILE"]);
    assert!(!refused.contains("time(s)"), "a certificate is not retried: {refused}");

    let trusted = command(home.path(), &info)
        .env("SSL_CERT_FILE", server.ca_file())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&assert_ok(&trusted)).unwrap();
    assert_eq!(report["name"], "demo", "{report}");
    let requests = server.wait_for_access_log_lines(1);
    assert!(
        requests.iter().any(|r| r.path == "/de/mo/demo" && r.status == 200),
        "{requests:#?}"
    );
}

#[test]
fn a_git_index_over_https_is_fetched_once_its_ca_is_trusted_and_refused_before() {
    let registry = Registry::with_catalog();
    let (_, served) = registry.index_in_git("index");
    let git = GitHttpServer::start(&served, false);
    let proxy = TlsProxy::start(git.port());
    let url = format!("git+{}git/index.git", proxy.url());
    let search = ["--registry", url.as_str(), "search", "rust"];

    let untrusted = command(&registry.home("untrusted"), &search).output().unwrap();
    assert_refused(&untrusted, &["certificate", "SSL_CERT_FILE"]);

    let trusted = command(&registry.home("trusted"), &search)
        .env("SSL_CERT_FILE", proxy.ca_file())
        .output()
        .unwrap();
    let found = assert_ok(&trusted);
    assert!(found.contains("io.ggen.rust.axum"), "{found}");
    let requests = git.wait_for_access_log("POST /git/index.git/git-upload-pack");
    assert!(
        requests.contains("GET /git/index.git/info/refs?service=git-upload-pack"),
        "{requests}"
    );
}
