//! The client's rough edges, tried as a new user would, from the real
//! binary: a wrong sparse URL fails naming it, a bare `https://` URL is a git
//! repository (as in Cargo), a mistyped package name gets the closest ones,
//! `sync --offline` behaves alike on every transport, and shell completions.

mod support;

use std::process::Command;

use support::fixture::{Registry, assert_ok, assert_refused, market};
use support::servers::{GitHttpServer, StaticServer, free_port};

#[test]
fn an_unreachable_sparse_url_is_an_error_naming_it() {
    let registry = Registry::with_catalog();
    let url = format!("sparse+http://127.0.0.1:{}/", free_port());
    for args in [vec!["search", "ggen"], vec!["info", "io.ggen.base"]] {
        let mut all = vec!["--registry", url.as_str()];
        all.extend(args);
        assert_refused(
            &market(&registry.home("h"), &all),
            &[url.trim_start_matches("sparse+"), "config.json"],
        );
    }
}

#[test]
fn a_bare_http_url_is_a_git_repository_and_typos_get_the_closest_names() {
    let registry = Registry::with_catalog();
    let (_, served) = registry.index_in_git("index");
    let server = GitHttpServer::start(&served, false);
    let url = server.repo_url("index.git");
    assert!(url.starts_with("http://"), "{url}");
    let out = assert_ok(&market(&registry.home("h"), &["--registry", &url, "search", "rust"]));
    assert!(out.contains("io.ggen.rust.axum"), "{out}");
    let out = market(&registry.home("h"), &["--registry", &url, "info", "io.ggen.rust.axm"]);
    assert_refused(&out, &["did you mean", "`io.ggen.rust.axum`"]);
    let out = market(
        &registry.home("h"),
        &["--registry", &url, "info", "zzzz-nothing-like-it"],
    );
    let stderr = assert_refused(&out, &["ggen-market search zzzz-nothing-like-it"]);
    assert!(!stderr.contains("did you mean"), "{stderr}");
}

#[test]
fn sync_offline_fetches_nothing_on_every_transport() {
    let registry = Registry::with_catalog();
    let (_, served) = registry.index_in_git("index");
    let git = GitHttpServer::start(&served, false);
    let nginx = StaticServer::start(&registry.index);
    let transports = [
        ("git", format!("git+{}", git.repo_url("index.git"))),
        ("sparse", format!("sparse+{}", nginx.url())),
    ];
    for (label, url) in &transports {
        let home = registry.home(label);
        assert_ok(&market(&home, &["--registry", url, "sync", "io.ggen.rust.axum"]));
        let out = assert_ok(&market(&home, &["--registry", url, "--offline", "sync", "--json"]));
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["changed"], false, "{label}: {out}");
        assert!(
            report["summary"]
                .as_str()
                .unwrap()
                .starts_with("offline: nothing fetched"),
            "{label}: {out}"
        );
        // …and the cached state still answers offline.
        assert_ok(&market(
            &home,
            &["--registry", url, "--offline", "info", "io.ggen.rust.axum"],
        ));
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let script = assert_ok(&market(home.path(), &["completions", shell]));
        for command in ["publish", "mirror", "install", "serve"] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
    let bash = home.path().join("ggen-market.bash");
    std::fs::write(&bash, assert_ok(&market(home.path(), &["completions", "bash"]))).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));
    let out = market(home.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn stats_count_a_registry_and_say_when_a_sparse_one_is_partial() {
    let registry = Registry::with_catalog();
    let index = registry.index.to_str().unwrap().to_owned();
    let out = assert_ok(&market(&registry.home("h"), &["--registry", &index, "stats", "--json"]));
    let figures: serde_json::Value = serde_json::from_str(&out).unwrap();
    let published = registry.published.len();
    assert_eq!(figures["packages"], 4);
    assert_eq!(figures["versions"], published);
    assert_eq!(figures["signed"], published, "with_catalog signs every entry");
    assert_eq!(figures["complete"], true);
    // io.ggen.base is depended upon by io.ggen.rust.cli and io.ggen.rust.axum.
    assert_eq!(figures["most_depended_upon"][0]["name"], "io.ggen.base");
    assert_eq!(figures["most_depended_upon"][0]["count"], 2);
    let nginx = StaticServer::start(&registry.index);
    let url = format!("sparse+{}", nginx.url());
    assert_ok(&market(
        &registry.home("s"),
        &["--registry", &url, "sync", "io.ggen.rust.cli"],
    ));
    let out = assert_ok(&market(&registry.home("s"), &["--registry", &url, "stats", "--json"]));
    let partial: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (partial["complete"].clone(), partial["packages"].clone()),
        (false.into(), 2.into())
    );
}

#[test]
fn doctor_finds_a_healthy_registry_healthy_and_names_each_problem_with_its_fix() {
    let registry = Registry::with_catalog();
    let nginx = StaticServer::start(&registry.index);
    let url = format!("sparse+{}", nginx.url());
    let home = registry.home("h");
    let doctor = |url: &str| market(&home, &["--registry", url, "doctor", "--json"]);
    let checks = |out: &std::process::Output| -> serde_json::Value { serde_json::from_slice(&out.stdout).unwrap() };
    let status = |report: &serde_json::Value, name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap().to_owned())
    };
    assert_ok(&market(
        &home,
        &["--registry", &url, "sync", "io.ggen.rust.axum", "io.ggen.tools"],
    ));
    let healthy = doctor(&url);
    let report = checks(&healthy);
    assert_eq!(healthy.status.code(), Some(0), "{report}");
    for name in [
        "config",
        "registry",
        "reachable",
        "index",
        "archives",
        "clock",
        "pins",
        "disk",
    ] {
        assert_eq!(status(&report, name).as_deref(), Some("ok"), "{name}: {report}");
    }

    // Archives that no longer match their lines.
    for package in &registry.published {
        std::fs::write(registry.archive_path(&package.name, &package.version), b"tampered").unwrap();
    }
    let sick = doctor(&url);
    let report = checks(&sick);
    assert_eq!(sick.status.code(), Some(1), "{report}");
    assert_eq!(status(&report, "archives").as_deref(), Some("fail"), "{report}");

    // A damaged pin store, and a registry that is not there.
    std::fs::create_dir_all(home.join("trust")).unwrap();
    std::fs::write(home.join("trust/pins.json"), "{ not json").unwrap();
    let gone = format!("sparse+http://127.0.0.1:{}/", free_port());
    let report = checks(&doctor(&gone));
    assert_eq!(status(&report, "reachable").as_deref(), Some("fail"), "{report}");
    assert_eq!(status(&report, "pins").as_deref(), Some("fail"), "{report}");
    let fix = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pins")
        .unwrap()["fix"]
        .clone();
    assert!(fix.as_str().unwrap().contains("move"), "{report}");
}
