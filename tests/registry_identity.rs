//! A `ggen.lock` names its registry by identity (config.json's `id`), not by
//! URL, so a lock made against a registry installs unchanged from a plain
//! copy of it, from the same files served sparse by nginx, and through a
//! `replace-with` mirror; a lock of an unrelated registry is refused under
//! `--locked` with both identities named; locks written before identities
//! existed (URL sources) still install and are migrated on the next write.
//!
//! The real binary against a git daemon and nginx on 127.0.0.1. Oracles: the
//! lock's bytes before and after, byte snapshots of the installed trees, and
//! `verify`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::fixture::{Package, Registry, assert_ok, assert_refused, copy_tree, lock_of, market, snapshot};
use support::servers::{GitDaemon, StaticServer, commit_all};

/// `ggen-market --registry R ARGS… --project P` with `GGEN_HOME=home`.
fn in_project(home: &Path, registry: &str, project: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--registry", registry];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--project", project.to_str().unwrap()]);
    market(home, &all)
}

/// A project that holds `lock_from`'s ggen.toml and ggen.lock.
fn project_with_lock_of(registry: &Registry, label: &str, lock_from: &Path) -> PathBuf {
    let project = registry.project(label);
    for file in ["ggen.toml", "ggen.lock"] {
        fs::copy(lock_from.join(file), project.join(file)).unwrap();
    }
    project
}

/// Sets `yanked` of `name@version` in the package file under `index`.
fn yank(index: &Path, name: &str, version: &str) {
    let file = index.join(ggen_marketplace::format::name::index_path(name));
    let text: String = fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|line| {
            let mut entry: serde_json::Value = serde_json::from_str(line).unwrap();
            if entry["vers"] == version {
                entry["yanked"] = true.into();
            }
            format!("{entry}\n")
        })
        .collect();
    fs::write(file, text).unwrap();
}

#[test]
fn a_lock_made_over_git_installs_unchanged_from_a_copy_and_from_nginx() {
    let registry = Registry::with_catalog();
    // The index as a publisher keeps it: archives committed beside the
    // package files, where the relative `dl` of `index init` points.
    let (worktree, served) = registry.index_in_git("index with its archives");
    let daemon = GitDaemon::start(&served);
    let git_url = daemon.repo_url("index.git");

    let origin_home = registry.home("origin");
    let origin = registry.project("origin");
    assert_ok(&in_project(
        &origin_home,
        &git_url,
        &origin,
        &["add", "io.ggen.rust.axum", "io.ggen.tools"],
    ));
    let lock = fs::read(origin.join("ggen.lock")).unwrap();
    assert!(
        lock_of(&origin)
            .values()
            .all(|p| p["source"].as_str() == Some(registry.id().as_str()))
    );
    let packages = snapshot(&origin_home.join("packages"), &[]);
    assert_eq!(packages.keys().filter(|p| !p.contains('/')).count(), 4, "{packages:?}");

    // Upstream yanks a locked version later; every copy carries the yank.
    yank(&worktree, "io.ggen.base", "1.0.0");
    commit_all(&worktree, "yank io.ggen.base 1.0.0");

    // (a) A plain copy on another path, with a fresh home and no network.
    let copy = copy_tree(&worktree, &registry.root.join("elsewhere/copy"));
    let home = registry.home("copy");
    let project = project_with_lock_of(&registry, "copy", &origin);
    let out = assert_ok(&in_project(
        &home,
        copy.to_str().unwrap(),
        &project,
        &["--offline", "install", "--locked"],
    ));
    assert!(out.contains("ggen.lock is up to date"), "{out}");
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock);
    assert_eq!(snapshot(&home.join("packages"), &[]), packages);
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));

    // (b) The same files served sparse by nginx, then offline from caches.
    let nginx = StaticServer::start(&copy);
    let sparse = format!("sparse+{}", nginx.url());
    let home = registry.home("sparse");
    let project = project_with_lock_of(&registry, "sparse", &origin);
    assert_ok(&in_project(&home, &sparse, &project, &["install", "--locked"]));
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock);
    assert_eq!(snapshot(&home.join("packages"), &[]), packages);
    drop(nginx);
    fs::remove_dir_all(home.join("packages")).unwrap();
    assert_ok(&in_project(
        &home,
        &sparse,
        &project,
        &["--offline", "install", "--locked"],
    ));
    assert_eq!(snapshot(&home.join("packages"), &[]), packages);
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));

    // A new resolution never picks the yanked version, on any copy.
    let fresh = registry.project("fresh");
    let out = in_project(
        &registry.home("fresh"),
        copy.to_str().unwrap(),
        &fresh,
        &["add", "io.ggen.base"],
    );
    assert_refused(&out, &["io.ggen.base"]);
}

#[test]
fn pins_follow_the_identity_across_transports() {
    let mut registry = Registry::with_catalog();
    let (_, served) = registry.index_in_git("index");
    let daemon = GitDaemon::start(&served);
    let home = registry.home("h");
    let project = registry.project("p");
    assert_ok(&in_project(
        &home,
        &daemon.repo_url("index.git"),
        &project,
        &["add", "io.ggen.tools"],
    ));
    let pins: serde_json::Value = serde_json::from_slice(&fs::read(home.join("trust/pins.json")).unwrap()).unwrap();
    let registries: Vec<&String> = pins["registries"].as_object().unwrap().keys().collect();
    assert_eq!(registries, [&registry.id()], "pinned under the identity, not the URL");

    // A later version signed by a key the pinned one never vouched for,
    // read through another transport (the directory itself): still refused.
    let stranger = registry.keygen("stranger");
    registry.allow(&stranger);
    registry.publish(&Package::new("io.ggen.tools", "1.3.0"));
    registry.sign(&stranger, "io.ggen.tools@1.3.0");
    let index = registry.index.to_str().unwrap().to_owned();
    let other = registry.project("other");
    let out = in_project(&home, &index, &other, &["add", "io.ggen.tools@^1.3"]);
    assert_refused(&out, &[&stranger.id, "--accept-new-key"]);
    // A home that never pinned anything accepts it as first seen.
    assert_ok(&in_project(
        &registry.home("new"),
        &index,
        &other,
        &["add", "io.ggen.tools@^1.3"],
    ));
}

#[test]
fn an_unrelated_registry_is_refused_under_locked_naming_both_identities() {
    let a = Registry::with_catalog();
    let b = Registry::with_catalog();
    assert_ne!(a.id(), b.id(), "index init gives every index its own identity");
    let home = a.home("h");
    let project = a.project("p");
    let a_index = a.index.to_str().unwrap();
    assert_ok(&in_project(&home, a_index, &project, &["add", "io.ggen.rust.cli"]));
    let before = snapshot(&project, &[]);
    let packages = snapshot(&home.join("packages"), &[]);

    let other_home = a.home("other");
    let out = in_project(
        &other_home,
        b.index.to_str().unwrap(),
        &project,
        &["install", "--locked"],
    );
    let stderr = assert_refused(
        &out,
        &[&a.id(), &b.id(), &format!("\"id\": \"{}\"", a.id()), "without --locked"],
    );
    assert!(
        stderr.contains(b.index.to_str().unwrap()),
        "names where B was read: {stderr}"
    );
    assert_eq!(snapshot(&project, &[]), before, "nothing written");
    assert!(!other_home.join("packages").exists(), "nothing installed");
    assert_eq!(snapshot(&home.join("packages"), &[]), packages);

    // Without --locked the lock moves to B, saying what it did.
    let out = assert_ok(&in_project(
        &other_home,
        b.index.to_str().unwrap(),
        &project,
        &["install"],
    ));
    assert!(out.contains("wrote ggen.lock"), "{out}");
    assert!(
        lock_of(&project)
            .values()
            .all(|p| p["source"].as_str() == Some(b.id().as_str()))
    );
}

#[test]
fn url_locks_of_earlier_versions_install_and_migrate_and_replace_with_maps_them() {
    let registry = Registry::with_catalog();
    // An index without an identity: locks name its location, as before.
    registry.edit_config(|config| {
        config.as_object_mut().unwrap().remove("id");
    });
    let upstream = registry.index.to_str().unwrap().to_owned();
    let home = registry.home("h");
    let project = registry.project("p");
    assert_ok(&in_project(&home, &upstream, &project, &["add", "io.ggen.rust.axum"]));
    let url_lock = fs::read_to_string(project.join("ggen.lock")).unwrap();
    let location = format!("dir+file://{upstream}");
    assert!(
        lock_of(&project)
            .values()
            .all(|p| p["source"].as_str() == Some(location.as_str()))
    );

    // A copy elsewhere, still without an id, is another registry…
    let mirror = copy_tree(&registry.index, &registry.root.join("mirror"));
    let mirror_str = mirror.to_str().unwrap();
    let out = in_project(&home, mirror_str, &project, &["--offline", "install", "--locked"]);
    assert_refused(&out, &[&location, &format!("dir+file://{mirror_str}"), "replace-with"]);
    // …until config.toml says it serves the upstream. The upstream then
    // loses a package, to show that only the mirror is read.
    fs::create_dir_all(&home).unwrap();
    fs::write(
        home.join("config.toml"),
        format!(
            "[registries.upstream]\nurl = \"{upstream}\"\nreplace-with = \"mirror\"\n\n[registries.mirror]\nurl = \"{mirror_str}\"\n"
        ),
    )
    .unwrap();
    fs::remove_file(registry.entry_file("io.ggen.rust.axum")).unwrap();
    let lock_before = fs::read(project.join("ggen.lock")).unwrap();
    fs::remove_dir_all(home.join("packages")).unwrap();
    for chosen in ["upstream", "mirror", mirror_str] {
        assert_ok(&in_project(
            &home,
            chosen,
            &project,
            &["--offline", "install", "--locked"],
        ));
        assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock_before, "{chosen}");
        assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
    }

    // A lock that recorded a URL reads as the identity of the registry at
    // that URL: `--locked` installs it without writing; the next write
    // migrates it to the id.
    let identified = copy_tree(&mirror, &registry.root.join("identified"));
    fs::write(
        identified.join("config.json"),
        fs::read_to_string(mirror.join("config.json")).unwrap().replacen(
            '{',
            "{\n  \"id\": \"io.example.identified\",",
            1,
        ),
    )
    .unwrap();
    let identified_str = identified.to_str().unwrap();
    let old = registry.project("old");
    for file in ["ggen.toml", "ggen.lock"] {
        let text = fs::read_to_string(project.join(file))
            .unwrap()
            .replace(&location, &format!("dir+file://{identified_str}"));
        fs::write(old.join(file), text).unwrap();
    }
    let old_lock = fs::read(old.join("ggen.lock")).unwrap();
    let home = registry.home("migrating");
    assert_ok(&in_project(&home, identified_str, &old, &["install", "--locked"]));
    assert_eq!(
        fs::read(old.join("ggen.lock")).unwrap(),
        old_lock,
        "--locked never writes"
    );
    let out = assert_ok(&in_project(&home, identified_str, &old, &["install"]));
    assert!(out.contains("wrote ggen.lock"), "{out}");
    let migrated = fs::read_to_string(old.join("ggen.lock")).unwrap();
    assert_eq!(
        migrated,
        url_lock.replace(&location, "io.example.identified"),
        "only the sources changed"
    );
}
