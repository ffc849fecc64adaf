//! The JSON Schemas in schemas/ against real files: the bundled example
//! registry and packages, the index template, files the binary writes
//! (a lockfile, an owner-keys line), and a slice of the real crates.io
//! index. Each schema also rejects a broken instance, so a schema that
//! accepts everything would fail here.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::fixture::{command, throwaway_home};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn validator(schema_file: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("schemas").join(schema_file)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{schema_file} is not a valid schema: {e}"))
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what} does not validate: {errors:?}\n{instance}");
}

fn toml_as_json(path: &Path) -> Value {
    let value: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::to_value(value).unwrap()
}

/// Every package file under an index root (files at their shard path).
fn package_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !(dir == root && (name.starts_with('.') || name.starts_with('_'))) {
                    pending.push(path);
                }
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                if relative == ggen_marketplace::format::name::index_path(&name) {
                    files.push(path);
                }
            }
        }
    }
    files
}

#[test]
fn example_registry_entries_and_configs_validate() {
    let entries = validator("index-entry.schema.json");
    let registry = repo().join("examples/registry");
    let files = package_files(&registry);
    assert!(
        files.len() >= 12,
        "the example registry has a dozen packages, found {}",
        files.len()
    );
    for file in files {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            assert_valid(
                &entries,
                &serde_json::from_str(line).unwrap(),
                &file.display().to_string(),
            );
        }
    }
    let configs = validator("config.schema.json");
    for config in [registry.join("config.json"), repo().join("index-template/config.json")] {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_valid(&configs, &value, &config.display().to_string());
    }
    assert!(!configs.is_valid(&json!({"dl": "x", "signatures": "sometimes"})));
    assert!(!entries.is_valid(&json!({"name": "a", "vers": "1.0.0", "deps": [], "features": {}, "yanked": false})));
}

#[test]
fn example_manifests_validate() {
    let manifests = validator("manifest.schema.json");
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("examples/packages")).unwrap() {
        let manifest = entry.unwrap().path().join("ggen.toml");
        assert_valid(&manifests, &toml_as_json(&manifest), &manifest.display().to_string());
        seen += 1;
    }
    assert!(seen >= 12);
    assert!(!manifests.is_valid(&json!({"package": {"name": "Bad Name", "version": "1.0.0"}})));
}

#[test]
fn a_lockfile_and_an_owner_key_written_by_the_binary_validate() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let registry = repo().join("examples/registry");
    let out = command(
        &dir.path().join("home"),
        &[
            "--offline",
            "--registry",
            registry.to_str().unwrap(),
            "add",
            "io.ggen.rust.cli",
            "--project",
        ],
    )
    .arg(&project)
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lockfiles = validator("lockfile.schema.json");
    let lock = toml_as_json(&project.join("ggen.lock"));
    assert!(lock["package"].as_array().is_some_and(|p| p.len() >= 2), "{lock}");
    assert_valid(&lockfiles, &lock, "ggen.lock");
    assert!(!lockfiles.is_valid(&json!({"version": 1, "package": [{"name": "a"}]})));

    let keys = dir.path().join("keys");
    let out = command(
        &throwaway_home(),
        &["keygen", "--unencrypted", "--json", "--name", "owner", "--out-dir"],
    )
    .arg(&keys)
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = json!({"key": generated["public_key"], "id": generated["key_id"], "owner": "alice@example.org"});
    let owner_keys = validator("owner-keys.schema.json");
    assert_valid(&owner_keys, &line, "owner-key line");
    assert!(!owner_keys.is_valid(&json!({"key": "not a key"})));
}

#[test]
fn a_slice_of_the_real_crates_io_index_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = support::servers::unpack_corpus(tmp.path());
    let entries = validator("index-entry.schema.json");
    // A spread of files: old and new, with and without `kind`, renamed deps.
    let mut checked = 0;
    for path in [
        "se/rd/serde",
        "3/l/log",
        "in/fl/inflector",
        "to/ki/tokio",
        "wi/na/winapi",
        "ra/nd/rand",
    ] {
        let text = support::servers::git(
            &bare,
            &["show", &format!("{}:{path}", support::servers::CORPUS_FULL_COMMIT)],
        );
        for line in text.lines() {
            assert_valid(&entries, &serde_json::from_str(line).unwrap(), path);
            checked += 1;
        }
    }
    assert!(checked > 300, "checked {checked} lines");
    let config = support::servers::git(
        &bare,
        &["show", &format!("{}:config.json", support::servers::CORPUS_FULL_COMMIT)],
    );
    assert_valid(
        &validator("config.schema.json"),
        &serde_json::from_str(&config).unwrap(),
        "crates.io config.json",
    );
}

#[test]
fn mirror_export_manifests_written_by_the_binary_validate() {
    let dir = tempfile::tempdir().unwrap();
    let market = |args: &[&str]| {
        let out = command(&dir.path().join("home"), args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let registry = repo().join("examples/registry");
    let full = dir.path().join("full.tar");
    market(&["mirror", "export", registry.to_str().unwrap(), full.to_str().unwrap()]);
    // A delta of a changed copy: `since` set, some files not carried.
    let copy = dir.path().join("copy");
    market(&["mirror", "import", full.to_str().unwrap(), copy.to_str().unwrap()]);
    std::fs::write(copy.join("README.md"), "changed\n").unwrap();
    let delta = dir.path().join("delta.tar");
    let base = dir.path().join("full.tar.manifest.json");
    market(&[
        "mirror",
        "export",
        copy.to_str().unwrap(),
        delta.to_str().unwrap(),
        "--since",
        base.to_str().unwrap(),
    ]);
    let manifests = validator("mirror-export-manifest.schema.json");
    let read = |path: &Path| -> Value { serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap() };
    let full_manifest = read(&base);
    let delta_manifest = read(&dir.path().join("delta.tar.manifest.json"));
    assert_valid(&manifests, &full_manifest, "full export manifest");
    assert_valid(&manifests, &delta_manifest, "delta export manifest");
    assert!(delta_manifest["since"].is_string());
    assert!(
        delta_manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["carried"] == false)
    );

    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut value = full_manifest.clone();
        edit(&mut value);
        value
    };
    for (what, instance) in [
        ("format_version 2", broken(&|m| m["format_version"] = json!(2))),
        ("an unknown field", broken(&|m| m["extra"] = json!(true))),
        (
            "an uppercase checksum",
            broken(&|m| m["files"][0]["sha256"] = json!("AB".repeat(32))),
        ),
        ("a bad since", broken(&|m| m["since"] = json!("yesterday"))),
        (
            "a full export not carrying a file",
            broken(&|m| m["files"][0]["carried"] = json!(false)),
        ),
        (
            "a missing carried",
            broken(&|m| {
                m["files"][0].as_object_mut().unwrap().remove("carried");
            }),
        ),
    ] {
        assert!(!manifests.is_valid(&instance), "{what} must not validate");
    }
    for path in [
        "../x",
        "a/../b",
        "/etc/passwd",
        "a//b",
        "a/",
        "./a",
        "a\\b",
        ".git/config",
        "x/.GIT/HEAD",
        "ggen-mirror-manifest.json",
    ] {
        let instance = broken(&|m| m["files"][0]["path"] = json!(path));
        assert!(!manifests.is_valid(&instance), "path {path:?} must not validate");
    }
    for path in ["io/.g/io.ggen.base", ".github/x.yml", "..x/x..", "a.git"] {
        let instance = broken(&|m| m["files"][0]["path"] = json!(path));
        assert_valid(&manifests, &instance, path);
    }
}
