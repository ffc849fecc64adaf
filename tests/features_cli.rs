//! Features from the command line to the lock: `add --features`, the table
//! it writes to ggen.toml, the optional dependency a feature brings in, the
//! lock's `features`, `tree` and `info` showing them, `install --locked`
//! agreeing, and a feature no version has refused with ggen.toml untouched.
//!
//! The real binary against a real index directory with real archives.

mod support;

use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use support::fixture::{Package, Registry, assert_ok, assert_refused, market};

/// `ggen-market --registry INDEX ARGS… --project P` with its own home.
fn run(registry: &Registry, project: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--registry", registry.index.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--project", project.to_str().unwrap()]);
    market(&registry.home("user"), &all)
}

/// `io.ggen.web` 1.0.0 whose `tls` feature turns on the optional
/// `io.ggen.tls`, and whose `default` is `fast`.
fn registry_with_features() -> Registry {
    let mut registry = Registry::new();
    registry.publish(&Package::new("io.ggen.tls", "1.0.0"));
    registry.publish(&Package::new("io.ggen.web", "1.0.0").dep("io.ggen.tls", "^1"));
    registry.edit_entry("io.ggen.web", "1.0.0", |entry| {
        entry["deps"][0]["optional"] = json!(true);
        entry["features"] = json!({"default": ["fast"], "fast": [], "tls": ["dep:io.ggen.tls"]});
    });
    registry.sign_all(&registry.key.clone());
    assert_ok(&registry.publisher(&["index", "check", registry.index.to_str().unwrap()]));
    registry
}

fn lock_package<'a>(lock: &'a toml::Value, name: &str) -> Option<&'a toml::Value> {
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
}

#[test]
fn a_feature_brings_its_optional_dependency_into_the_lock_and_the_tree() {
    let registry = registry_with_features();
    let project = registry.project("app");

    // Default features only: the optional dependency stays out.
    assert_ok(&run(&registry, &project, &["add", "io.ggen.web"]));
    let lock: toml::Value = toml::from_str(&fs::read_to_string(project.join("ggen.lock")).unwrap()).unwrap();
    assert!(lock_package(&lock, "io.ggen.tls").is_none(), "{lock}");
    let web = lock_package(&lock, "io.ggen.web").unwrap();
    assert_eq!(
        web["features"].as_array().unwrap(),
        &vec![toml::Value::from("default"), "fast".into()]
    );

    // Asking for `tls` without the defaults writes a table and locks tls.
    let out = run(
        &registry,
        &project,
        &["add", "io.ggen.web", "--features", "tls", "--no-default-features"],
    );
    assert!(assert_ok(&out).contains("with features tls (no default features)"));
    let manifest = fs::read_to_string(project.join("ggen.toml")).unwrap();
    assert!(
        manifest.contains(r#""io.ggen.web" = { version = "^1.0.0", features = ["tls"], default-features = false }"#),
        "{manifest}"
    );
    let lock: toml::Value = toml::from_str(&fs::read_to_string(project.join("ggen.lock")).unwrap()).unwrap();
    assert_eq!(
        lock_package(&lock, "io.ggen.tls").unwrap()["version"].as_str(),
        Some("1.0.0")
    );
    let web = lock_package(&lock, "io.ggen.web").unwrap();
    assert_eq!(web["features"].as_array().unwrap(), &vec![toml::Value::from("tls")]);
    assert_eq!(
        web["dependencies"].as_array().unwrap(),
        &vec![toml::Value::from("io.ggen.tls 1.0.0")]
    );

    let tree: Value = serde_json::from_str(&assert_ok(&run(&registry, &project, &["tree", "--json"]))).unwrap();
    assert_eq!(tree[0]["features"], json!(["tls"]));
    assert_eq!(tree[0]["dependencies"][0]["name"], "io.ggen.tls");

    // The lock installs unchanged, and verifies.
    assert_ok(&run(&registry, &project, &["install", "--locked"]));
    assert_ok(&run(&registry, &project, &["verify"]));
}

#[test]
fn info_lists_features_and_a_missing_feature_is_refused_with_nothing_written() {
    let registry = registry_with_features();
    let project = registry.project("app");

    let index = registry.index.to_str().unwrap();
    let info = market(
        &registry.home("user"),
        &["--registry", index, "info", "io.ggen.web", "--json"],
    );
    let info: Value = serde_json::from_str(&assert_ok(&info)).unwrap();
    assert_eq!(info["versions"][0]["features"]["tls"], json!(["dep:io.ggen.tls"]));
    assert_eq!(info["versions"][0]["features"]["default"], json!(["fast"]));

    let out = run(&registry, &project, &["add", "io.ggen.web", "--features", "xml"]);
    assert_refused(
        &out,
        &["`io.ggen.web 1.0.0` with feature `xml` cannot be used: it has no feature `xml`"],
    );
    assert!(
        !project.join("ggen.toml").exists() || !fs::read_to_string(project.join("ggen.toml")).unwrap().contains("xml")
    );
    assert!(!project.join("ggen.lock").exists());

    let out = run(
        &registry,
        &project,
        &["add", "io.ggen.web", "io.ggen.tls", "--features", "tls"],
    );
    assert_refused(&out, &["apply to one package"]);
}
