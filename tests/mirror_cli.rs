//! `mirror create | update | verify`: the real binary against an upstream
//! read as a plain directory, over git (smart HTTP by lighttpd and
//! git://) and sparse (nginx), all on 127.0.0.1.
//!
//! Oracles: the upstream's own lines and archives (a mirror holds them byte
//! for byte), byte snapshots of whole mirrors, `index check`, the
//! `mirror.toml` schema, and installs with `--locked --offline` from the
//! mirror followed by `verify`.

mod support;

use std::fs;
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use support::fixture::{
    Package, Registry, assert_ok, assert_refused, copy_tree, lock_of, market, sha256_hex, snapshot,
};
use support::servers::{
    Fault, FaultPlan, FaultyServer, GitDaemon, GitHttpServer, StaticServer, commit_all, git, init_bare_from_worktree,
    init_worktree,
};

/// `ggen-market mirror ARGS…` with `GGEN_HOME=home`.
fn mirror(home: &Path, args: &[&str]) -> Output {
    let mut all = vec!["mirror"];
    all.extend_from_slice(args);
    market(home, &all)
}

/// `mirror create DIR --from FROM SELECTION… --json`, asserted to succeed.
fn create(registry: &Registry, dir: &Path, from: &str, selection: &[&str]) -> Value {
    let mut args = vec!["create", dir.to_str().unwrap(), "--from", from, "--json"];
    args.extend_from_slice(selection);
    serde_json::from_str(&assert_ok(&mirror(&registry.home("operator"), &args))).unwrap()
}

fn verify_json(registry: &Registry, dir: &Path) -> (Option<i32>, Value) {
    let out = mirror(&registry.home("operator"), &["verify", dir.to_str().unwrap(), "--json"]);
    (out.status.code(), serde_json::from_slice(&out.stdout).unwrap())
}

/// The upstream's line of `name@version`, as stored.
fn upstream_line(registry: &Registry, name: &str, version: &str) -> String {
    fs::read_to_string(registry.entry_file(name))
        .unwrap()
        .lines()
        .find(|line| serde_json::from_str::<Value>(line).unwrap()["vers"] == version)
        .unwrap_or_else(|| panic!("{name}@{version} is not upstream"))
        .to_owned()
}

/// The versions in the mirror's file of `name`.
fn mirrored_versions(dir: &Path, name: &str) -> Vec<String> {
    let Ok(text) = fs::read_to_string(dir.join(ggen_marketplace::format::name::index_path(name))) else {
        return Vec::new();
    };
    text.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["vers"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Sets `yanked` of `name@version` in the upstream, keeping every other byte.
fn yank(registry: &Registry, name: &str, version: &str) {
    let file = registry.entry_file(name);
    let line = upstream_line(registry, name, version);
    let yanked = line.replace("\"yanked\":false", "\"yanked\":true");
    assert_ne!(line, yanked);
    fs::write(&file, fs::read_to_string(&file).unwrap().replace(&line, &yanked)).unwrap();
}

/// The catalog plus io.ggen.base 2.0.0 (which cli's `^1` does not match)
/// and a package depending on one the upstream lacks; every entry signed,
/// io.ggen.tools with an owner-keys file.
fn upstream() -> Registry {
    let mut registry = Registry::new();
    for package in support::fixture::catalog() {
        registry.publish(&package);
    }
    registry.publish(&Package::new("io.ggen.base", "2.0.0"));
    registry.publish(&Package::new("io.ggen.lonely", "0.1.0").dep("io.ggen.ghost", "^1"));
    registry.sign_all(&registry.key.clone());
    let keys = registry.index.join("_keys/io/.g/io.ggen.tools");
    fs::create_dir_all(keys.parent().unwrap()).unwrap();
    fs::write(
        &keys,
        format!("{{\"key\":\"{}\",\"owner\":\"publisher\"}}\n", registry.key.public),
    )
    .unwrap();
    registry
}

#[test]
fn a_plain_directory_git_over_smart_http_and_sparse_give_the_same_mirror() {
    let registry = upstream();
    let (worktree, served) = registry.index_in_git("index with its archives");
    let lighttpd = GitHttpServer::start(&served, false);
    let nginx = StaticServer::start(&registry.index);
    let selection = ["--closure", "io.ggen.rust.axum", "--packages", "io.ggen.tools"];

    let mut mirrors = Vec::new();
    for (label, from) in [
        ("dir", registry.index.to_str().unwrap().to_owned()),
        ("git", format!("git+{}", lighttpd.repo_url("index.git"))),
        ("sparse", format!("sparse+{}", nginx.url())),
    ] {
        let dir = registry.root.join("mirrors").join(label);
        let report = create(&registry, &dir, &from, &selection);
        assert_eq!(report["packages"], 4, "{label}: {report}");
        assert_eq!(report["versions"], 4, "{label}");
        assert_eq!(report["archives"], 4, "{label}");
        assert_eq!(report["identity"], registry.id().as_str(), "{label}");
        assert_eq!(report["missing_dependencies"], json!([]), "{label}");
        mirrors.push(dir);
    }
    let record =
        |dir: &Path| -> toml::Table { toml::from_str(&fs::read_to_string(dir.join("mirror.toml")).unwrap()).unwrap() };
    let git_record = record(&mirrors[1]);
    assert_eq!(
        git_record["upstream"]["commit"].as_str(),
        Some(support::servers::rev_parse(&worktree, "HEAD").as_str())
    );
    for dir in &mirrors[1..] {
        assert_eq!(
            snapshot(dir, &[&dir.join("mirror.toml")]),
            snapshot(&mirrors[0], &[&mirrors[0].join("mirror.toml")]),
            "{} differs from the mirror of the plain directory",
            dir.display()
        );
        assert_eq!(
            record(dir)["upstream"]["files"],
            record(&mirrors[0])["upstream"]["files"]
        );
    }

    // What the mirror holds: the upstream's lines byte for byte, pruned to
    // the versions selected, their archives, and the owner keys.
    let dir = &mirrors[0];
    assert_eq!(
        mirrored_versions(dir, "io.ggen.base"),
        ["1.0.0"],
        "2.0.0 is not reached"
    );
    assert_eq!(
        fs::read_to_string(dir.join("io/.g/io.ggen.base")).unwrap(),
        format!("{}\n", upstream_line(&registry, "io.ggen.base", "1.0.0"))
    );
    assert_eq!(
        fs::read(dir.join("io/.g/io.ggen.rust.axum")).unwrap(),
        fs::read(registry.entry_file("io.ggen.rust.axum")).unwrap()
    );
    assert_eq!(
        fs::read(dir.join("archives/io.ggen.rust.cli/io.ggen.rust.cli-0.3.0.tar.gz")).unwrap(),
        fs::read(registry.archive_path("io.ggen.rust.cli", "0.3.0")).unwrap()
    );
    assert_eq!(
        fs::read(dir.join("_keys/io/.g/io.ggen.tools")).unwrap(),
        fs::read(registry.index.join("_keys/io/.g/io.ggen.tools")).unwrap()
    );
    assert!(!dir.join("io/.g/io.ggen.lonely").exists());
    let config: Value = serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let upstream_config: Value =
        serde_json::from_str(&fs::read_to_string(registry.index.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["id"], upstream_config["id"]);
    assert_eq!(config["keys"], upstream_config["keys"]);
    assert_eq!(config["signatures"], "required");
    assert_eq!(config["dl"], "archives/{crate}/{crate}-{version}.tar.gz");
    assert_ok(&registry.publisher(&["index", "check", dir.to_str().unwrap()]));
    for dir in &mirrors {
        assert_eq!(
            verify_json(&registry, dir),
            (Some(0), verify_json(&registry, &mirrors[0]).1)
        );
    }

    // mirror.toml as JSON validates against its schema; a broken one does not.
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/mirror.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for dir in &mirrors {
        let instance = serde_json::to_value(record(dir)).unwrap();
        let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", dir.display());
    }
    let mut broken = serde_json::to_value(record(dir)).unwrap();
    broken["format"] = json!("zip");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn every_selection_kind_prunes_and_reports_what_is_missing() {
    let registry = upstream();
    let from = registry.index.to_str().unwrap();
    let dir = |label: &str| registry.root.join("mirrors").join(label);

    let all = create(&registry, &dir("all"), from, &["--all"]);
    assert_eq!((all["packages"].as_u64(), all["versions"].as_u64()), (Some(5), Some(6)));
    assert_eq!(
        all["missing_dependencies"],
        json!([{"name": "io.ggen.ghost", "reason": "not_in_upstream",
                "required_by": [{"name": "io.ggen.lonely", "version": "0.1.0", "req": "^1", "kind": "normal", "optional": false}]}])
    );
    for package in ["io.ggen.base", "io.ggen.rust.cli", "io.ggen.tools"] {
        assert_eq!(
            fs::read(dir("all").join(ggen_marketplace::format::name::index_path(package))).unwrap(),
            fs::read(registry.entry_file(package)).unwrap(),
            "--all copies whole files"
        );
    }

    // An approved list: exactly what it names; a dependency outside it is
    // reported, in text and JSON, and recorded in mirror.toml.
    let listed = create(
        &registry,
        &dir("listed"),
        from,
        &["--packages", "io.ggen.rust.cli,io.ggen.base@^2"],
    );
    assert_eq!(mirrored_versions(&dir("listed"), "io.ggen.base"), ["2.0.0"]);
    assert_eq!(listed["missing_dependencies"][0]["name"], "io.ggen.base");
    assert_eq!(listed["missing_dependencies"][0]["reason"], "no_matching_version");
    let text = assert_ok(&mirror(
        &registry.home("operator"),
        &[
            "create",
            dir("text").to_str().unwrap(),
            "--from",
            from,
            "--packages",
            "io.ggen.rust.cli",
        ],
    ));
    assert!(
        text.contains("io.ggen.base (in the upstream but not selected): required by io.ggen.rust.cli 0.3.0 (^1)"),
        "{text}"
    );
    assert!(
        fs::read_to_string(dir("text").join("mirror.toml"))
            .unwrap()
            .contains("reason = \"not_selected\"")
    );
    assert_eq!(
        verify_json(&registry, &dir("text")).0,
        Some(0),
        "a recorded missing dependency is no problem"
    );

    // A closure follows dependencies, pruned to the versions they accept.
    let closure = create(
        &registry,
        &dir("closure"),
        from,
        &["--closure", "io.ggen.rust.axum,io.ggen.lonely"],
    );
    assert_eq!(closure["versions"], 4);
    assert_eq!(mirrored_versions(&dir("closure"), "io.ggen.base"), ["1.0.0"]);
    assert_eq!(closure["missing_dependencies"][0]["name"], "io.ggen.ghost");

    // A lockfile: exactly its versions (io.ggen.base 1.0.0, not 2.0.0).
    let project = registry.project("p");
    assert_ok(&market(
        &registry.home("user"),
        &[
            "--registry",
            from,
            "add",
            "io.ggen.rust.cli",
            "--project",
            project.to_str().unwrap(),
        ],
    ));
    let lockfile = project.join("ggen.lock");
    let locked = create(
        &registry,
        &dir("locked"),
        from,
        &["--lockfile", lockfile.to_str().unwrap(), "--packages", "io.ggen.tools"],
    );
    assert_eq!(
        (locked["packages"].as_u64(), locked["versions"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(mirrored_versions(&dir("locked"), "io.ggen.base"), ["1.0.0"]);

    // Unknown names and unmatched requirements are refused, and nothing is made.
    let out = mirror(
        &registry.home("operator"),
        &[
            "create",
            dir("bad").to_str().unwrap(),
            "--from",
            from,
            "--packages",
            "io.ggen.nope,io.ggen.tools@^9",
        ],
    );
    assert_refused(&out, &["io.ggen.nope", "io.ggen.tools@^9"]);
    assert!(!dir("bad").exists());
    let out = mirror(
        &registry.home("operator"),
        &["create", dir("none").to_str().unwrap(), "--from", from],
    );
    assert_refused(&out, &["--closure", "--lockfile"]);
}

#[test]
fn a_tampered_upstream_archive_never_enters_a_mirror() {
    let registry = upstream();
    let archive = registry.archive_path("io.ggen.base", "1.0.0");
    let mut bytes = fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&archive, &bytes).unwrap();
    let parent = registry.root.join("mirrors");
    let dir = parent.join("m");
    let out = mirror(
        &registry.home("operator"),
        &[
            "create",
            dir.to_str().unwrap(),
            "--from",
            registry.index.to_str().unwrap(),
            "--closure",
            "io.ggen.rust.cli",
        ],
    );
    assert_refused(&out, &["io.ggen.base 1.0.0", &sha256_hex(&bytes), "tampered"]);
    assert!(!dir.exists(), "no half-made mirror");
    assert_eq!(
        fs::read_dir(&parent).unwrap().count(),
        0,
        "no staging directory left behind"
    );

    // A line whose signature no longer verifies is refused the same way.
    let registry = upstream();
    registry.edit_entry("io.ggen.tools", "1.2.0", |entry| {
        entry["description"] = json!("changed after signing")
    });
    let out = mirror(
        &registry.home("operator"),
        &[
            "create",
            dir.to_str().unwrap(),
            "--from",
            registry.index.to_str().unwrap(),
            "--all",
        ],
    );
    assert_refused(&out, &["io.ggen.tools 1.2.0", "signature"]);
    assert!(!dir.exists());
}

#[test]
fn verify_names_a_flipped_byte_a_missing_and_an_extra_archive() {
    let registry = upstream();
    let dir = registry.root.join("m");
    create(&registry, &dir, registry.index.to_str().unwrap(), &["--all"]);
    assert_eq!(verify_json(&registry, &dir).0, Some(0));

    let flipped = "archives/io.ggen.base/io.ggen.base-1.0.0.tar.gz";
    let mut bytes = fs::read(dir.join(flipped)).unwrap();
    bytes[10] ^= 0x40;
    fs::write(dir.join(flipped), bytes).unwrap();
    let missing = "archives/io.ggen.tools/io.ggen.tools-1.2.0.tar.gz";
    fs::remove_file(dir.join(missing)).unwrap();
    let extra = "archives/io.ggen.tools/io.ggen.tools-0.9.0.tar.gz";
    fs::write(dir.join(extra), b"not named by any line").unwrap();

    let (code, report) = verify_json(&registry, &dir);
    assert_eq!(code, Some(1));
    assert_eq!(report["intact"], false);
    let problems: Vec<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("checksum_mismatch".to_owned(), flipped.to_owned()),
            ("missing_archive".to_owned(), missing.to_owned()),
            ("extra_file".to_owned(), extra.to_owned()),
        ]
    );
    let out = mirror(&registry.home("operator"), &["verify", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    for path in [flipped, missing, extra] {
        assert!(text.contains(path), "{text}");
    }
    assert!(text.contains("3 problems"), "{text}");

    // A line edited in the mirror breaks its signature.
    let file = dir.join("io/.g/io.ggen.rust.cli");
    fs::write(&file, fs::read_to_string(&file).unwrap().replace("^1", "^1.0")).unwrap();
    let (_, report) = verify_json(&registry, &dir);
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "signature"),
        "{report}"
    );
}

#[test]
fn update_takes_new_versions_and_yanks_and_refuses_rewritten_history_until_accepted() {
    let mut registry = upstream();
    // The upstream is a git repository served by git daemon; its history
    // is squashed later, which must not matter.
    let worktree = registry.root.join("worktree");
    let served = registry.root.join("served");
    let publish_upstream = |registry: &Registry, message: &str| {
        if !worktree.exists() {
            init_worktree(&worktree);
        }
        for (relative, _) in snapshot(&worktree, &[&worktree.join(".git")]) {
            let path = worktree.join(&relative);
            if path.is_file() {
                fs::remove_file(path).unwrap();
            }
        }
        copy_tree(&registry.index, &worktree);
        commit_all(&worktree, message);
        let bare = served.join("index.git");
        if bare.exists() {
            git(
                &worktree,
                &["push", "-q", "--force", bare.to_str().unwrap(), "HEAD:main"],
            );
        } else {
            init_bare_from_worktree(&worktree, &bare);
        }
    };
    publish_upstream(&registry, "first");
    let daemon = GitDaemon::start(&served);
    let from = daemon.repo_url("index.git");
    let dir = registry.root.join("m");
    create(
        &registry,
        &dir,
        &from,
        &["--closure", "io.ggen.rust.axum,io.ggen.tools"],
    );
    let operator = registry.home("operator");
    let update = |extra: &[&str]| {
        let mut args = vec!["update", dir.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let out = mirror(&operator, &args);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out, report)
    };
    let (out, report) = update(&[]);
    assert_ok(&out);
    assert_eq!(report["changed"], false, "{report}");

    // A new version and a yank upstream, then the history squashed.
    registry.publish(&Package::new("io.ggen.tools", "1.3.0"));
    registry.sign(&registry.key.clone(), "io.ggen.tools@1.3.0");
    yank(&registry, "io.ggen.base", "1.0.0");
    publish_upstream(&registry, "tools 1.3.0, yank base 1.0.0");
    git(&worktree, &["checkout", "-q", "--orphan", "squashed"]);
    commit_all(&worktree, "squashed history");
    git(
        &worktree,
        &[
            "push",
            "-q",
            "--force",
            served.join("index.git").to_str().unwrap(),
            "squashed:main",
        ],
    );
    let before = snapshot(&dir, &[]);
    let (out, report) = update(&[]);
    assert_ok(&out);
    assert_eq!(
        report["added"],
        json!([{"name": "io.ggen.tools", "version": "1.3.0"}]),
        "{report}"
    );
    assert_eq!(report["yanked"], json!([{"name": "io.ggen.base", "version": "1.0.0"}]));
    assert_eq!(report["archives"], 1, "only the new archive is fetched");
    assert_eq!(report["rewrites"], json!([]));
    assert_eq!(
        fs::read(dir.join("io/.g/io.ggen.tools")).unwrap(),
        fs::read(registry.entry_file("io.ggen.tools")).unwrap()
    );
    assert!(
        fs::read_to_string(dir.join("io/.g/io.ggen.base"))
            .unwrap()
            .contains("\"yanked\":true")
    );
    assert!(dir.join("archives/io.ggen.tools/io.ggen.tools-1.3.0.tar.gz").exists());
    assert_eq!(
        before
            .iter()
            .filter(|(path, what)| snapshot(&dir, &[]).get(*path) != Some(what))
            .count(),
        // Changed: two package files and mirror.toml.
        3
    );
    assert_eq!(verify_json(&registry, &dir).0, Some(0));

    // The upstream rewrites a published release (new archive, new cksum,
    // signed again): refused and reported, the mirror keeps it as it was.
    let new_archive = b"a different archive".to_vec();
    let cksum = sha256_hex(&new_archive);
    fs::write(registry.archive_path("io.ggen.rust.cli", "0.3.0"), &new_archive).unwrap();
    registry.edit_entry("io.ggen.rust.cli", "0.3.0", |entry| {
        entry["cksum"] = json!(cksum);
        entry.as_object_mut().unwrap().remove("sig");
    });
    registry.sign(&registry.key.clone(), "io.ggen.rust.cli@0.3.0");
    publish_upstream(&registry, "rewrite cli 0.3.0");
    let before = snapshot(&dir, &[&dir.join("mirror.toml")]);
    let (out, report) = update(&[]);
    assert_refused(&out, &["io.ggen.rust.cli", "--accept-upstream-rewrite"]);
    assert_eq!(report["rewrites"][0]["name"], "io.ggen.rust.cli");
    assert_eq!(report["rewrites"][0]["accepted"], false);
    assert!(
        report["rewrites"][0]["changes"][0]
            .as_str()
            .unwrap()
            .contains("`cksum`"),
        "{report}"
    );
    assert_eq!(
        snapshot(&dir, &[&dir.join("mirror.toml")]),
        before,
        "kept at its last good state"
    );
    assert_eq!(verify_json(&registry, &dir).0, Some(0));

    let (out, report) = update(&["--accept-upstream-rewrite"]);
    assert_ok(&out);
    assert_eq!(report["rewrites"][0]["accepted"], true);
    assert_eq!(
        fs::read(dir.join("io/.g/io.ggen.rust.cli")).unwrap(),
        fs::read(registry.entry_file("io.ggen.rust.cli")).unwrap()
    );
    assert_eq!(
        fs::read(dir.join("archives/io.ggen.rust.cli/io.ggen.rust.cli-0.3.0.tar.gz")).unwrap(),
        new_archive
    );
    assert_eq!(verify_json(&registry, &dir).0, Some(0));
}

#[test]
fn a_project_locked_against_the_upstream_installs_offline_from_a_mirror_of_its_lock() {
    let registry = upstream();
    let from = registry.index.to_str().unwrap();
    let origin = registry.project("origin");
    assert_ok(&market(
        &registry.home("origin"),
        &[
            "--registry",
            from,
            "add",
            "io.ggen.rust.axum",
            "--project",
            origin.to_str().unwrap(),
        ],
    ));
    let lock = fs::read(origin.join("ggen.lock")).unwrap();
    let packages = snapshot(&registry.home("origin").join("packages"), &[]);
    // Upstream yanks a locked version afterwards.
    yank(&registry, "io.ggen.base", "1.0.0");

    let dir = registry.root.join("carried/mirror");
    let report = create(
        &registry,
        &dir,
        from,
        &["--lockfile", origin.join("ggen.lock").to_str().unwrap()],
    );
    assert_eq!(report["versions"], lock_of(&origin).len());
    assert!(
        fs::read_to_string(dir.join("io/.g/io.ggen.base"))
            .unwrap()
            .contains("\"yanked\":true")
    );

    // Another machine: a fresh home, the mirror only, no network.
    let project = registry.project("elsewhere");
    for file in ["ggen.toml", "ggen.lock"] {
        fs::copy(origin.join(file), project.join(file)).unwrap();
    }
    let home = registry.home("air-gapped");
    let out = assert_ok(&market(
        &home,
        &[
            "--offline",
            "--registry",
            dir.to_str().unwrap(),
            "install",
            "--locked",
            "--project",
            project.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("ggen.lock is up to date"), "{out}");
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock, "exactly the lock");
    assert_eq!(snapshot(&home.join("packages"), &[]), packages);
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
}

#[test]
fn a_registry_falls_back_to_its_mirrors_on_5xx_and_on_an_archive_that_does_not_match() {
    let registry = upstream();
    let dir = registry.root.join("m");
    create(&registry, &dir, registry.index.to_str().unwrap(), &["--all"]);
    let nginx = StaticServer::start(&dir);
    let with_config = |label: &str, url: &str, mirrors: &[String]| {
        let home = registry.home(label);
        fs::create_dir_all(&home).unwrap();
        let mirrors: Vec<String> = mirrors.iter().map(|m| format!("{m:?}")).collect();
        fs::write(
            home.join("config.toml"),
            format!("[registries.corp]\nurl = {url:?}\nmirrors = [{}]\n", mirrors.join(", ")),
        )
        .unwrap();
        home
    };

    // The registry answers 503 to everything: its sparse mirror serves.
    let failing = FaultyServer::start(&registry.index, FaultPlan::always(Fault::Status503));
    let home = with_config(
        "down",
        &format!("sparse+{}", failing.url()),
        &[format!("sparse+{}", nginx.url())],
    );
    let project = registry.project("down");
    let out = market(
        &home,
        &[
            "--registry",
            "corp",
            "add",
            "io.ggen.rust.axum",
            "--project",
            project.to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: ") && stderr.contains(&failing.url()) && stderr.contains("503"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|line| line.contains(&failing.url())).count(),
        1,
        "warned once, then skipped: {stderr}"
    );
    assert!(
        lock_of(&project)
            .values()
            .all(|p| p["source"].as_str() == Some(registry.id().as_str()))
    );
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));

    // The registry serves a tampered archive: the mirror's copy is taken.
    let tampered = copy_tree(&registry.index, &registry.root.join("tampered"));
    let archive = tampered.join("archives/io.ggen.base/io.ggen.base-1.0.0.tar.gz");
    let mut bytes = fs::read(&archive).unwrap();
    bytes[20] ^= 0x08;
    fs::write(&archive, bytes).unwrap();
    let bad = StaticServer::start(&tampered);
    let home = with_config(
        "tampered",
        &format!("sparse+{}", bad.url()),
        &[dir.display().to_string()],
    );
    let project = registry.project("tampered");
    let out = market(
        &home,
        &[
            "--registry",
            "corp",
            "add",
            "io.ggen.rust.cli",
            "--project",
            project.to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}archives/io.ggen.base/io.ggen.base-1.0.0.tar.gz", bad.url()))
            && stderr.contains("does not match its checksum"),
        "{stderr}"
    );
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
}
