//! `ggen-market add / remove / install / update / tree / verify`, end to end:
//! the real binary against registries built with the real publishing
//! commands (`package`, `index init`, `keygen`, `sign`), served from a plain
//! directory or by real servers on 127.0.0.1 (nginx, a fault-injecting
//! server). Hostile archives and index entries, SIGKILL in the middle of an
//! install, and concurrent installs into one `GGEN_HOME`.
//!
//! Oracles are independent of the code under test: checksums are computed
//! here with SHA-256 over the bytes on disk, the expected resolution is the
//! newest matching version of each requirement in the fixture's own
//! catalog, and "nothing changed" is a byte-and-mode snapshot of whole trees.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::fixture::{
    Package, Registry, assert_ok, assert_refused, check_installed, check_package_dirs, files_under, lock_of, market,
    package_dir_name, sha256_hex, snapshot,
};
use support::servers::{Fault, FaultPlan, FaultyServer, StaticServer};

/// Tarballs written header by header, so a test can build what the `tar`
/// crate's builder refuses to write.
mod tarball {
    use std::io::Write;

    use flate2::{Compress, Compression, Crc, FlushCompress, Status};

    pub struct Entry {
        path: Vec<u8>,
        kind: u8,
        mode: u32,
        data: Vec<u8>,
        link: Vec<u8>,
        device: Option<(u32, u32)>,
        /// The header's size field when it differs from `data` (the data
        /// then follows separately).
        declared_size: Option<u64>,
    }

    pub fn file(path: &str, data: impl AsRef<[u8]>) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            kind: b'0',
            mode: 0o644,
            data: data.as_ref().to_vec(),
            link: Vec::new(),
            device: None,
            declared_size: None,
        }
    }

    pub fn special(path: &str, kind: u8) -> Entry {
        Entry { kind, ..file(path, "") }
    }

    impl Entry {
        pub fn mode(mut self, mode: u32) -> Entry {
            self.mode = mode;
            self
        }

        pub fn link(mut self, target: &str) -> Entry {
            self.link = target.as_bytes().to_vec();
            self
        }

        pub fn device(mut self, major: u32, minor: u32) -> Entry {
            self.device = Some((major, minor));
            self
        }
    }

    /// The entries' headers and data, without the end-of-archive marker.
    /// Paths and link targets over 100 bytes get GNU long-name entries.
    pub fn headers(entries: &[Entry]) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in entries {
            if entry.path.len() > 100 {
                push(&mut out, &long_name(b'L', &entry.path));
            }
            if entry.link.len() > 100 {
                push(&mut out, &long_name(b'K', &entry.link));
            }
            push(&mut out, entry);
        }
        out
    }

    fn long_name(kind: u8, name: &[u8]) -> Entry {
        let mut data = name.to_vec();
        data.push(0);
        Entry {
            kind,
            ..file("././@LongLink", data)
        }
    }

    fn push(out: &mut Vec<u8>, entry: &Entry) {
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        let path = &entry.path[..entry.path.len().min(100)];
        old.name[..path.len()].copy_from_slice(path);
        let link = &entry.link[..entry.link.len().min(100)];
        old.linkname[..link.len()].copy_from_slice(link);
        header.set_mode(entry.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(entry.declared_size.unwrap_or(entry.data.len() as u64));
        header.set_entry_type(tar::EntryType::new(entry.kind));
        if let Some((major, minor)) = entry.device {
            header.set_device_major(major).unwrap();
            header.set_device_minor(minor).unwrap();
        }
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&entry.data);
        out.resize(out.len().next_multiple_of(512), 0);
    }

    pub fn tar(entries: &[Entry]) -> Vec<u8> {
        let mut out = headers(entries);
        out.extend_from_slice(&[0; 1024]);
        out
    }

    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    pub fn tar_gz(entries: &[Entry]) -> Vec<u8> {
        gzip(&tar(entries))
    }

    /// A valid .tar.gz of a manifest and a file of `mib` MiB of zeros, made
    /// in a fraction of a second: one compressed MiB of zeros, ended with a
    /// sync flush so it refers to nothing before it, is repeated `mib`
    /// times in the deflate stream.
    pub fn bomb(prefix: &str, manifest: &str, mib: u64) -> Vec<u8> {
        let mut head = headers(&[file(&format!("{prefix}/ggen.toml"), manifest)]);
        head.extend(headers(&[Entry {
            declared_size: Some(mib << 20),
            ..file(&format!("{prefix}/zeros"), "")
        }]));
        let zeros = vec![0u8; 1 << 20];
        let end = [0u8; 1024];
        let mut crc = Crc::new();
        let mut deflated = deflate_piece(&head, false);
        crc.update(&head);
        let block = deflate_piece(&zeros, false);
        for _ in 0..mib {
            deflated.extend_from_slice(&block);
            crc.update(&zeros);
        }
        deflated.extend(deflate_piece(&end, true));
        crc.update(&end);
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        gz.extend(deflated);
        gz.extend(crc.sum().to_le_bytes());
        gz.extend(crc.amount().to_le_bytes());
        gz
    }

    /// Raw deflate of `input` by a fresh compressor: a sync flush (byte
    /// aligned, not final) or, for the `last` piece, the final block.
    fn deflate_piece(input: &[u8], last: bool) -> Vec<u8> {
        let mut compress = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(input.len() + 4096);
        let flush = if last {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let status = compress.compress_vec(input, &mut out, flush).unwrap();
        assert_eq!(compress.total_in(), input.len() as u64);
        if last {
            assert_eq!(status, Status::StreamEnd);
        }
        out
    }
}

fn registry_arg(registry: &Registry) -> String {
    registry.index.to_str().unwrap().to_owned()
}

/// `ggen-market --registry R ARGS… --project P`.
fn in_project(home: &Path, registry: &str, project: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--registry", registry];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--project", project.to_str().unwrap()]);
    market(home, &all)
}

/// The lockfile's (name, version, source, checksum, dependencies) must be
/// the expected closure, with the registry's identity (config.json `id`,
/// whatever URL it was read from) and checksums of the archives on disk.
fn check_lock(registry: &Registry, project: &Path, expected: &BTreeMap<String, Package>) {
    let source = registry.id();
    let source = source.as_str();
    let lock = lock_of(project);
    assert_eq!(
        lock.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the locked packages"
    );
    for (name, package) in expected {
        let locked = &lock[name];
        assert_eq!(locked["version"].as_str(), Some(package.version.as_str()), "{name}");
        assert_eq!(locked["source"].as_str(), Some(source), "{name}");
        let archive = fs::read(registry.archive_path(name, &package.version)).unwrap();
        assert_eq!(
            locked["checksum"].as_str(),
            Some(sha256_hex(&archive).as_str()),
            "{name}"
        );
        let mut deps: Vec<String> = package
            .deps
            .iter()
            .map(|(dep, _)| format!("{dep} {}", expected[dep].version))
            .collect();
        deps.sort();
        let locked_deps: Vec<String> = locked
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(locked_deps, deps, "{name}");
    }
}

fn check_all_installed(registry: &Registry, packages: &Path, expected: &BTreeMap<String, Package>) {
    for package in expected.values() {
        let archive = fs::read(registry.archive_path(&package.name, &package.version)).unwrap();
        check_installed(packages, package, &sha256_hex(&archive));
    }
}

/// (parent, child) edges of `tree --json`'s output.
fn tree_edges(nodes: &serde_json::Value, parent: Option<&str>, edges: &mut BTreeSet<(String, String)>) {
    for node in nodes.as_array().unwrap() {
        let id = format!(
            "{} {}",
            node["name"].as_str().unwrap(),
            node["version"].as_str().unwrap()
        );
        if let Some(parent) = parent {
            edges.insert((parent.to_owned(), id.clone()));
        }
        if node["repeated"] == true {
            assert!(
                node["dependencies"].as_array().unwrap().is_empty(),
                "a repeated node is not expanded"
            );
        }
        tree_edges(&node["dependencies"], Some(&id), edges);
    }
}

fn expected_edges(expected: &BTreeMap<String, Package>) -> BTreeSet<(String, String)> {
    expected
        .values()
        .flat_map(|p| {
            p.deps.iter().map(|(dep, _)| {
                (
                    format!("{} {}", p.name, p.version),
                    format!("{dep} {}", expected[dep].version),
                )
            })
        })
        .collect()
}

#[test]
fn local_directory_install_lifecycle() {
    let mut registry = Registry::with_catalog();
    let index = registry_arg(&registry);
    let home = registry.home("first");
    let packages = home.join("packages");
    let project = registry.project("app");

    // add: ggen.toml, ggen.lock, the package and its dependencies.
    let out = assert_ok(&in_project(&home, &index, &project, &["add", "io.ggen.rust.axum"]));
    assert!(out.contains("Adding io.ggen.rust.axum = \"^0.4.2\""), "{out}");
    let manifest = fs::read_to_string(project.join("ggen.toml")).unwrap();
    let parsed: toml::Table = toml::from_str(&manifest).unwrap();
    assert_eq!(parsed["dependencies"]["io.ggen.rust.axum"].as_str(), Some("^0.4.2"));
    let expected = registry.closure(&[("io.ggen.rust.axum", "^0.4.2")]);
    assert_eq!(expected.len(), 3);
    check_lock(&registry, &project, &expected);
    for locked in lock_of(&project).values() {
        assert_eq!(locked["signer"].as_str(), Some(registry.key.id.as_str()));
    }
    check_all_installed(&registry, &packages, &expected);
    assert_eq!(check_package_dirs(&packages).len(), 3, "nothing else installed");
    let lock_after_add = fs::read(project.join("ggen.lock")).unwrap();

    // tree: the graph the packages declare.
    let tree = assert_ok(&market(
        &home,
        &["tree", "--json", "--project", project.to_str().unwrap()],
    ));
    let mut edges = BTreeSet::new();
    tree_edges(&serde_json::from_str(&tree).unwrap(), None, &mut edges);
    assert_eq!(edges, expected_edges(&expected));
    let text = assert_ok(&market(&home, &["tree", "--project", project.to_str().unwrap()]));
    assert!(text.starts_with("io.ggen.rust.axum 0.4.2\n"), "{text}");
    assert!(text.contains("└── io.ggen.rust.cli 0.3.0\n"), "{text}");

    // verify: intact.
    let verified = assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
    assert_eq!(verified.matches(" ok ").count(), 3, "{verified}");

    // install --locked on a fresh home: the same packages, byte for byte.
    let fresh = registry.home("fresh");
    assert_ok(&in_project(&fresh, &index, &project, &["install", "--locked"]));
    assert_eq!(snapshot(&fresh.join("packages"), &[]), snapshot(&packages, &[]));
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock_after_add);

    // --dry-run writes nothing, anywhere.
    let before = (snapshot(&registry.root, &[]), snapshot(&home, &[]));
    let out = assert_ok(&in_project(
        &home,
        &index,
        &project,
        &["add", "io.ggen.tools", "--dry-run"],
    ));
    assert!(out.contains("Would install io.ggen.tools 1.2.0"), "{out}");
    assert!(out.contains("ggen.lock would change"), "{out}");
    assert_eq!((snapshot(&registry.root, &[]), snapshot(&home, &[])), before);

    // install --locked refuses a ggen.toml the lock no longer matches.
    fs::write(
        project.join("ggen.toml"),
        format!("{manifest}\"io.ggen.tools\" = \"^1\"\n"),
    )
    .unwrap();
    let out = in_project(&home, &index, &project, &["install", "--locked"]);
    assert_refused(&out, &["ggen.lock is out of date", "add io.ggen.tools 1.2.0"]);
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock_after_add);
    assert!(!packages.join("io.ggen.tools-1.2.0").exists());
    fs::write(project.join("ggen.toml"), &manifest).unwrap();

    // add then remove: the lock grows, then shrinks back to what it was.
    assert_ok(&in_project(&home, &index, &project, &["add", "io.ggen.tools"]));
    assert!(lock_of(&project).contains_key("io.ggen.tools"));
    check_installed(
        &packages,
        registry.package("io.ggen.tools", "1.2.0"),
        lock_of(&project)["io.ggen.tools"]["checksum"].as_str().unwrap(),
    );
    let out = assert_ok(&in_project(&home, &index, &project, &["remove", "io.ggen.tools"]));
    assert!(out.contains("Unlocking io.ggen.tools 1.2.0"), "{out}");
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock_after_add);
    assert!(
        !fs::read_to_string(project.join("ggen.toml"))
            .unwrap()
            .contains("io.ggen.tools")
    );

    // A new compatible release: install keeps the lock, update moves to it.
    registry.publish(&Package::new("io.ggen.base", "1.1.0").file("templates/license.tmpl", "Apache-2.0\n"));
    registry.sign_all(&registry.key.clone());
    let out = assert_ok(&in_project(&home, &index, &project, &["install"]));
    assert!(out.contains("ggen.lock is up to date"), "{out}");
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock_after_add);
    let out = in_project(&home, &index, &project, &["update", "io.ggen.bsae"]);
    assert_refused(&out, &["`io.ggen.bsae` is not in ggen.lock"]);
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock_after_add);
    let out = assert_ok(&in_project(&home, &index, &project, &["update", "io.ggen.base"]));
    assert!(out.contains("Locking io.ggen.base 1.1.0"), "{out}");
    let updated = registry.closure(&[("io.ggen.rust.axum", "^0.4.2")]);
    assert_eq!(updated["io.ggen.base"].version, "1.1.0");
    check_lock(&registry, &project, &updated);
    check_all_installed(&registry, &packages, &updated);
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));

    // --into copies the packages, without install records.
    let vendor = registry.root.join("vendor");
    assert_ok(&in_project(
        &home,
        &index,
        &project,
        &["install", "--into", vendor.to_str().unwrap()],
    ));
    let mut copied: Vec<String> = fs::read_dir(&vendor)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    copied.sort();
    let wanted: Vec<String> = updated
        .values()
        .map(|p| package_dir_name(&p.name, &p.version))
        .collect();
    assert_eq!(copied, wanted);
    for package in updated.values() {
        let dir = vendor.join(package_dir_name(&package.name, &package.version));
        let mut files = files_under(&dir);
        files.sort();
        let mut want: Vec<String> = package.all_files().into_iter().map(|(p, ..)| p).collect();
        want.sort();
        assert_eq!(files, want, "{}", dir.display());
        for (path, contents, _) in package.all_files() {
            assert_eq!(fs::read(dir.join(&path)).unwrap(), contents);
        }
    }

    // verify notices a changed file.
    let template = packages.join("io.ggen.rust.cli-0.3.0/templates/cli.tmpl");
    fs::set_permissions(&template, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&template, "tampered\n").unwrap();
    let out = market(&home, &["verify", "--project", project.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("io.ggen.rust.cli 0.3.0: templates/cli.tmpl was modified"),
        "{stdout}"
    );
}

#[test]
fn sparse_http_install_equals_the_local_install() {
    let registry = Registry::with_catalog();
    let index = registry_arg(&registry);
    let roots = ["add", "io.ggen.rust.axum", "io.ggen.tools"];
    let local_home = registry.home("local");
    let local = registry.project("local");
    assert_ok(&in_project(&local_home, &index, &local, &roots));

    let server = StaticServer::start(&registry.index);
    let url = format!("sparse+{}", server.url());
    let http_home = registry.home("http");
    let http = registry.project("http");
    assert_ok(&in_project(&http_home, &url, &http, &roots));

    assert_eq!(
        snapshot(&http_home.join("packages"), &[]),
        snapshot(&local_home.join("packages"), &[]),
        "the same packages, byte for byte"
    );
    assert_eq!(
        fs::read_to_string(http.join("ggen.toml")).unwrap(),
        fs::read_to_string(local.join("ggen.toml")).unwrap()
    );
    let local_lock = fs::read_to_string(local.join("ggen.lock"))
        .unwrap()
        .replace(&format!("\"dir+file://{index}\""), &format!("\"{url}\""));
    assert_eq!(fs::read_to_string(http.join("ggen.lock")).unwrap(), local_lock);
    assert_ok(&market(&http_home, &["verify", "--project", http.to_str().unwrap()]));

    // The archives came over HTTP, where the relative `dl` points, once each.
    let expected = registry.closure(&[("io.ggen.rust.axum", "^0.4.2"), ("io.ggen.tools", "^1.2.0")]);
    let log = server.wait_for_access_log_lines(expected.len());
    for package in expected.values() {
        let path = format!("/archives/{0}/{0}-{1}.tar.gz", package.name, package.version);
        let gets: Vec<_> = log.iter().filter(|line| line.path == path).collect();
        assert_eq!(gets.len(), 1, "{path} in {log:#?}");
        assert_eq!((gets[0].method.as_str(), gets[0].status), ("GET", 200));
    }
}

#[test]
fn offline_install_uses_only_the_caches() {
    let mut registry = Registry::with_catalog();
    registry.publish(&Package::new("io.ggen.never", "1.0.0"));
    registry.sign_all(&registry.key.clone());
    let home = registry.home("h");
    let packages = home.join("packages");
    let online = registry.project("online");
    let url = {
        let server = StaticServer::start(&registry.index);
        let url = format!("sparse+{}", server.url());
        assert_ok(&in_project(&home, &url, &online, &["add", "io.ggen.rust.axum"]));
        // io.ggen.tools is resolved and installed once, then its archive is
        // dropped from the cache (as a cache clean-up would).
        let elsewhere = registry.project("elsewhere");
        assert_ok(&in_project(&home, &url, &elsewhere, &["add", "io.ggen.tools"]));
        let cksum = lock_of(&elsewhere)["io.ggen.tools"]["checksum"]
            .as_str()
            .unwrap()
            .to_owned();
        fs::remove_file(home.join(format!("archives/{cksum}.tar.gz"))).unwrap();
        fs::remove_dir_all(packages.join("io.ggen.tools-1.2.0")).unwrap();
        url
    }; // the server is stopped here: nothing answers on its port any more

    // A fresh project with the same ggen.toml and ggen.lock installs from
    // the caches alone (the packages are removed so they must be extracted
    // again from the archive cache).
    let installed = snapshot(&packages, &[]);
    fs::remove_dir_all(&packages).unwrap();
    let offline = registry.project("offline");
    for file in ["ggen.toml", "ggen.lock"] {
        fs::copy(online.join(file), offline.join(file)).unwrap();
    }
    assert_ok(&in_project(
        &home,
        &url,
        &offline,
        &["--offline", "install", "--locked"],
    ));
    assert_eq!(snapshot(&packages, &[]), installed);
    assert_ok(&market(&home, &["verify", "--project", offline.to_str().unwrap()]));

    // A package whose index file was never fetched.
    let never = registry.project("never");
    fs::write(never.join("ggen.toml"), "[dependencies]\n\"io.ggen.never\" = \"^1\"\n").unwrap();
    let out = in_project(&home, &url, &never, &["--offline", "install"]);
    assert_refused(
        &out,
        &[
            "package `io.ggen.never`",
            "offline",
            "ggen-market sync io.ggen.never",
            "while online",
        ],
    );
    assert!(!never.join("ggen.lock").exists());

    // A package whose index files are cached but whose archive is not;
    // `[net] offline = true` in config.toml must stop the download as
    // surely as --offline does.
    let tools = registry.project("tools");
    fs::write(tools.join("ggen.toml"), "[dependencies]\n\"io.ggen.tools\" = \"^1\"\n").unwrap();
    let out = in_project(&home, &url, &tools, &["--offline", "install"]);
    assert_refused(
        &out,
        &[
            "io.ggen.tools 1.2.0 is not in the archive cache",
            "--offline",
            "while online",
        ],
    );
    fs::write(home.join("config.toml"), "[net]\noffline = true\n").unwrap();
    let out = in_project(&home, &url, &tools, &["install"]);
    assert_refused(
        &out,
        &["io.ggen.tools 1.2.0 is not in the archive cache", "while online"],
    );
    assert!(!tools.join("ggen.lock").exists());
    assert_eq!(snapshot(&packages, &[]), installed, "nothing was added");
}

// ---------------------------------------------------------------------------
// Hostile archives and index entries
// ---------------------------------------------------------------------------

const EVIL: &str = "io.ggen.evil";

fn evil_prefix(version: &str) -> String {
    format!("{EVIL}-{version}")
}

fn evil_manifest(name: &str, version: &str, deps: &[(&str, &str)]) -> String {
    let mut text = format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n");
    if !deps.is_empty() {
        text.push_str("[dependencies]\n");
        for (dep, req) in deps {
            text.push_str(&format!("\"{dep}\" = \"{req}\"\n"));
        }
    }
    text
}

/// A manifest of `io.ggen.evil@version` and one harmless template, then
/// `hostile` entries.
fn evil_archive(version: &str, hostile: Vec<tarball::Entry>) -> Vec<u8> {
    let prefix = evil_prefix(version);
    let mut entries = vec![
        tarball::file(&format!("{prefix}/ggen.toml"), evil_manifest(EVIL, version, &[])),
        tarball::file(&format!("{prefix}/templates/ok.tmpl"), "harmless\n"),
    ];
    entries.extend(hostile);
    tarball::tar_gz(&entries)
}

/// One refused install: `add io.ggen.evil@=VERSION` must fail naming the
/// problem with every needle.
struct Refusal {
    version: String,
    needles: Vec<String>,
}

fn refusal(version: &str, needles: &[&str]) -> Refusal {
    Refusal {
        version: version.into(),
        needles: needles.iter().map(|n| n.to_string()).collect(),
    }
}

/// Installs the catalog's axum into a project, then tries each refusal in
/// turn and checks that nothing changed: not the project (its ggen.toml and
/// ggen.lock), not the installed packages (no new directory, no staging
/// leftover), not anything outside GGEN_HOME.
fn refuse_each(registry: &Registry, refusals: &[Refusal]) {
    let index = registry_arg(registry);
    let home = registry.home("victim");
    let packages = home.join("packages");
    let project = registry.project("victim");
    assert_ok(&in_project(&home, &index, &project, &["add", "io.ggen.rust.axum"]));
    for case in refusals {
        let outside_home = snapshot(&registry.root, &[&home]);
        let installed = snapshot(&packages, &[]);
        let spec = format!("{EVIL}@={}", case.version);
        let out = in_project(&home, &index, &project, &["add", &spec]);
        let needles: Vec<&str> = case.needles.iter().map(String::as_str).collect();
        let stderr = assert_refused(&out, &needles);
        let (id, id_at) = (format!("{EVIL} {}", case.version), format!("{EVIL}@{}", case.version));
        assert!(
            stderr.contains(&id) || stderr.contains(&id_at),
            "the error names the package version:\n{stderr}"
        );
        assert!(
            snapshot(&registry.root, &[&home]) == outside_home,
            "{spec}: something outside GGEN_HOME changed (project, index or beyond):\n{stderr}"
        );
        assert!(
            snapshot(&packages, &[]) == installed,
            "{spec}: the installed packages changed:\n{stderr}"
        );
    }
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
}

/// A registry with the catalog, and `outside/victim.txt` beside it for the
/// archives to aim at.
fn hostile_registry() -> (Registry, PathBuf) {
    let registry = Registry::with_catalog();
    let outside = registry.root.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim.txt"), "precious\n").unwrap();
    (registry, outside)
}

#[test]
fn archives_that_escape_or_hold_special_files_are_refused() {
    let (registry, outside) = hostile_registry();
    let outside = outside.to_str().unwrap().to_owned();
    let climb = "../".repeat(16);
    let p = |version: &str| evil_prefix(version);
    let cases: Vec<(&str, Vec<tarball::Entry>, &[&str])> = vec![
        (
            "1.0.1",
            vec![tarball::file(
                &format!("{}/{climb}{}/dotdot.txt", p("1.0.1"), &outside[1..]),
                "pwned",
            )],
            &["climbs out of its directory with `..`"],
        ),
        (
            "1.0.2",
            vec![tarball::file(&format!("{outside}/absolute.txt"), "pwned")],
            &["has an absolute path"],
        ),
        (
            "1.0.3",
            vec![tarball::file(&format!("{}/..\\..\\backslash.txt", p("1.0.3")), "pwned")],
            &["has a backslash in its path"],
        ),
        (
            "1.0.4",
            // Another package's file: an archive may only fill its own directory.
            vec![tarball::file("io.ggen.base-1.0.0/templates/base.tmpl", "pwned")],
            &["lies outside `io.ggen.evil-1.0.4/`"],
        ),
        (
            "1.0.5",
            vec![
                tarball::special(&format!("{}/linked", p("1.0.5")), b'2').link(&outside),
                tarball::file(&format!("{}/linked/through-symlink.txt", p("1.0.5")), "pwned"),
            ],
            &["is a symbolic link"],
        ),
        (
            "1.0.6",
            vec![
                tarball::special(&format!("{}/victim.txt", p("1.0.6")), b'1').link(&format!("{outside}/victim.txt")),
                tarball::file(&format!("{}/victim.txt", p("1.0.6")), "overwritten through a hard link"),
            ],
            &["is a hard link"],
        ),
        (
            "1.0.7",
            vec![tarball::special(&format!("{}/null", p("1.0.7")), b'3').device(1, 3)],
            &["is a device file"],
        ),
        (
            "1.0.8",
            vec![tarball::special(&format!("{}/disk", p("1.0.8")), b'4').device(8, 0)],
            &["is a device file"],
        ),
        (
            "1.0.9",
            vec![tarball::special(&format!("{}/pipe", p("1.0.9")), b'6')],
            &["is a fifo"],
        ),
    ];
    let mut refusals = Vec::new();
    for (version, hostile, needles) in cases {
        registry.index_archive(EVIL, version, &[], &evil_archive(version, hostile));
        refusals.push(refusal(version, needles));
    }
    registry.sign_all(&registry.key);
    refuse_each(&registry, &refusals);
    assert_eq!(
        fs::read_to_string(registry.root.join("outside/victim.txt")).unwrap(),
        "precious\n"
    );
}

#[test]
fn archives_that_exhaust_limits_or_are_damaged_are_refused() {
    let (registry, _) = hostile_registry();
    // Over the default 512 MiB limit, by really inflating 513 MiB.
    let bomb = tarball::bomb(&evil_prefix("1.1.0"), &evil_manifest(EVIL, "1.1.0", &[]), 513);
    assert!(bomb.len() < 1 << 20, "the bomb itself is small: {} bytes", bomb.len());
    registry.index_archive(EVIL, "1.1.0", &[], &bomb);
    // 100,001 entries, over the default limit of 100,000. Pax global headers
    // write nothing, so the test stays fast; file entries against a small
    // limit are covered by the unit tests of archive::unpack.
    let prefix = evil_prefix("1.1.1");
    let mut many = vec![tarball::file(
        &format!("{prefix}/ggen.toml"),
        evil_manifest(EVIL, "1.1.1", &[]),
    )];
    many.extend((0..100_000).map(|i| tarball::special(&format!("{prefix}/meta{i}"), b'g')));
    registry.index_archive(EVIL, "1.1.1", &[], &tarball::tar_gz(&many));
    // Cut in the middle of the gzip stream.
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let whole = evil_archive(
        "1.1.2",
        vec![tarball::file(&format!("{}/noise.bin", evil_prefix("1.1.2")), &noise)],
    );
    registry.index_archive(EVIL, "1.1.2", &[], &whole[..whole.len() / 2]);
    // A tar that was never gzipped.
    let plain = tarball::tar(&[tarball::file(
        &format!("{}/ggen.toml", evil_prefix("1.1.3")),
        evil_manifest(EVIL, "1.1.3", &[]),
    )]);
    registry.index_archive(EVIL, "1.1.3", &[], &plain);
    registry.sign_all(&registry.key);

    let started = Instant::now();
    refuse_each(
        &registry,
        &[
            refusal(
                "1.1.0",
                &["io.ggen.evil-1.1.0/zeros", "over the limit of 536870912 bytes"],
            ),
            refusal(
                "1.1.1",
                &["io.ggen.evil-1.1.1/meta99999", "over the limit of 100000 entries"],
            ),
            refusal("1.1.2", &["the archive is truncated"]),
            refusal("1.1.3", &["not a gzip file"]),
        ],
    );
    eprintln!("limits and damage: {:?}", started.elapsed());
}

#[test]
fn archives_whose_manifest_disagrees_with_the_index_are_refused() {
    let (registry, _) = hostile_registry();
    let tools = [("io.ggen.tools".to_owned(), "^1".to_owned())];
    let with_manifest = |version: &str, manifest: String| {
        let prefix = evil_prefix(version);
        tarball::tar_gz(&[
            tarball::file(&format!("{prefix}/ggen.toml"), manifest),
            tarball::file(&format!("{prefix}/templates/ok.tmpl"), "harmless\n"),
        ])
    };
    let no_manifest = tarball::tar_gz(&[tarball::file(
        &format!("{}/templates/ok.tmpl", evil_prefix("1.2.0")),
        "no manifest\n",
    )]);
    registry.index_archive(EVIL, "1.2.0", &[], &no_manifest);
    registry.index_archive(
        EVIL,
        "1.2.1",
        &[],
        &with_manifest("1.2.1", evil_manifest("io.ggen.other", "1.2.1", &[])),
    );
    registry.index_archive(
        EVIL,
        "1.2.2",
        &[],
        &with_manifest("1.2.2", evil_manifest(EVIL, "9.9.9", &[])),
    );
    // The archive pulls in a dependency its index entry does not declare…
    registry.index_archive(
        EVIL,
        "1.2.3",
        &[],
        &with_manifest("1.2.3", evil_manifest(EVIL, "1.2.3", &[("io.ggen.tools", "^1")])),
    );
    // …or the entry declares one the archive does not have.
    registry.index_archive(
        EVIL,
        "1.2.4",
        &tools,
        &with_manifest("1.2.4", evil_manifest(EVIL, "1.2.4", &[])),
    );
    registry.sign_all(&registry.key);
    refuse_each(
        &registry,
        &[
            refusal("1.2.0", &["has no `io.ggen.evil-1.2.0/ggen.toml`"]),
            refusal(
                "1.2.1",
                &["manifest is for io.ggen.other 1.2.1, not the expected io.ggen.evil 1.2.1"],
            ),
            refusal(
                "1.2.2",
                &["manifest is for io.ggen.evil 9.9.9, not the expected io.ggen.evil 1.2.2"],
            ),
            refusal("1.2.3", &["does not match its index entry", "dependencies differ"]),
            refusal("1.2.4", &["does not match its index entry", "dependencies differ"]),
        ],
    );
}

#[test]
fn tampered_and_untrusted_index_entries_are_refused() {
    let (mut registry, _) = hostile_registry();
    let publisher = registry.key.clone();
    let stranger = registry.keygen("stranger");
    for version in ["2.0.0", "2.0.1", "2.1.0", "2.2.0"] {
        registry.publish(&Package::new(EVIL, version));
    }
    registry.sign_all(&publisher);
    // The archive host serves other bytes than the signed cksum describes.
    fs::copy(
        registry.archive_path(EVIL, "2.0.1"),
        registry.archive_path(EVIL, "2.0.0"),
    )
    .unwrap();
    // The index's cksum is changed (with the archive, consistently) after signing.
    let other = fs::read(registry.archive_path(EVIL, "2.0.1")).unwrap();
    fs::write(registry.archive_path(EVIL, "2.1.0"), &other).unwrap();
    registry.edit_entry(EVIL, "2.1.0", |entry| entry["cksum"] = sha256_hex(&other).into());
    // A dependency is added to a signed entry.
    registry.edit_entry(EVIL, "2.2.0", |entry| {
        entry["deps"].as_array_mut().unwrap().push(serde_json::json!({
            "name": "io.ggen.tools", "req": "^1", "features": [], "optional": false,
            "default_features": true, "target": null, "kind": "normal"
        }))
    });
    // Signed by a key neither config.json nor an owner-keys file allows.
    registry.publish(&Package::new(EVIL, "2.3.0"));
    registry.sign(&stranger, &format!("{EVIL}@2.3.0"));
    // Not signed at all, though the index requires signatures.
    registry.publish(&Package::new(EVIL, "2.4.0"));

    refuse_each(
        &registry,
        &[
            refusal("2.0.0", &["the index says", "corrupted or tampered with"]),
            refusal("2.1.0", &["does not match the entry; it was changed after signing"]),
            refusal("2.2.0", &["does not match the entry; it was changed after signing"]),
            refusal(
                "2.3.0",
                &[&format!("signed by key {}, which may not sign {EVIL}", stranger.id)],
            ),
            refusal("2.4.0", &["is not signed, and this index requires signatures"]),
        ],
    );
}

#[test]
fn setuid_setgid_and_sticky_bits_are_stripped_not_refused() {
    let (registry, _) = hostile_registry();
    let prefix = evil_prefix("3.0.0");
    let archive = evil_archive(
        "3.0.0",
        vec![
            tarball::file(&format!("{prefix}/hooks/setuid.sh"), "#!/bin/sh\n").mode(0o4755),
            tarball::file(&format!("{prefix}/hooks/setgid.sh"), "#!/bin/sh\n").mode(0o2755),
            tarball::file(&format!("{prefix}/sticky.txt"), "sticky\n").mode(0o1644),
        ],
    );
    let cksum = registry.index_archive(EVIL, "3.0.0", &[], &archive);
    registry.sign_all(&registry.key);
    let home = registry.home("h");
    let project = registry.project("p");
    assert_ok(&in_project(&home, &registry_arg(&registry), &project, &["add", EVIL]));
    let installed = home.join("packages").join(&prefix);
    for (file, mode) in [
        ("hooks/setuid.sh", 0o555),
        ("hooks/setgid.sh", 0o555),
        ("sticky.txt", 0o444),
    ] {
        let found = fs::metadata(installed.join(file)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(found, mode, "{file}: {found:o}");
    }
    assert_eq!(lock_of(&project)[EVIL]["checksum"].as_str(), Some(cksum.as_str()));
    check_package_dirs(&home.join("packages"));
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
}

#[test]
fn a_new_unvouched_signing_key_is_refused_until_accepted() {
    let mut registry = Registry::with_catalog();
    let index = registry_arg(&registry);
    let first = registry.key.clone();
    let successor = registry.keygen("successor");
    // The new key may sign (the index lists it), but nobody vouched for it.
    registry.allow(&successor);
    let home = registry.home("h");
    let project = registry.project("p");
    assert_ok(&in_project(&home, &index, &project, &["add", "io.ggen.base"]));
    assert_eq!(
        lock_of(&project)["io.ggen.base"]["signer"].as_str(),
        Some(first.id.as_str())
    );
    let old = snapshot(&project, &[]);
    let installed = snapshot(&home.join("packages"), &[]);

    registry.publish(&Package::new("io.ggen.base", "1.1.0"));
    registry.sign(&successor, "io.ggen.base@1.1.0");

    // Refused by the signer ggen.lock records…
    let out = in_project(&home, &index, &project, &["update"]);
    assert_refused(
        &out,
        &[
            &format!("io.ggen.base 1.1.0 is signed by key {}", successor.id),
            &format!("ggen.lock records {} for io.ggen.base", first.id),
            "--accept-new-key",
        ],
    );
    assert_eq!(snapshot(&project, &[]), old);
    assert_eq!(snapshot(&home.join("packages"), &[]), installed);

    // …by the pin in GGEN_HOME/trust, for a project without that lock…
    let other = registry.project("other");
    let out = in_project(&home, &index, &other, &["add", "io.ggen.base"]);
    assert_refused(
        &out,
        &[
            &format!("io.ggen.base@1.1.0 is signed by key {}", successor.id),
            &format!("first seen signed by key {}", first.id),
            "--accept-new-key",
        ],
    );
    assert!(snapshot(&other, &[]).is_empty());
    assert_eq!(snapshot(&home.join("packages"), &[]), installed);

    // …and by the lock alone on a machine that never saw the package.
    let fresh = registry.home("fresh");
    let out = in_project(&fresh, &index, &project, &["update"]);
    assert_refused(
        &out,
        &[
            &format!("ggen.lock records {} for io.ggen.base", first.id),
            "--accept-new-key",
        ],
    );
    assert_eq!(snapshot(&project, &[]), old);
    assert!(!fresh.join("packages/io.ggen.base-1.1.0").exists());

    // Accepted when asked for explicitly; the new key is then recorded.
    let out = assert_ok(&in_project(&home, &index, &project, &["update", "--accept-new-key"]));
    assert!(
        out.contains(&format!("io.ggen.base 1.1.0 (signed by {})", successor.id)),
        "{out}"
    );
    let lock = lock_of(&project);
    assert_eq!(lock["io.ggen.base"]["version"].as_str(), Some("1.1.0"));
    assert_eq!(lock["io.ggen.base"]["signer"].as_str(), Some(successor.id.as_str()));
    check_installed(
        &home.join("packages"),
        registry.package("io.ggen.base", "1.1.0"),
        lock["io.ggen.base"]["checksum"].as_str().unwrap(),
    );
}

// ---------------------------------------------------------------------------
// SIGKILL mid-install, and concurrent installs
// ---------------------------------------------------------------------------

fn spawn_in_project(home: &Path, registry: &str, project: &Path, args: &[&str]) -> Child {
    let mut all = vec!["--registry", registry];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--project", project.to_str().unwrap()]);
    support::fixture::command(home, &all)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Polls `ready` every millisecond and SIGKILLs `child` as soon as it holds.
fn kill_when(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    use std::os::unix::process::ExitStatusExt;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the install ended ({status}) before {what}");
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9), "killed by SIGKILL");
}

fn entries_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|listing| {
            listing
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every archive in the cache is named by its own SHA-256, and nothing
/// else is there.
fn check_archive_cache(home: &Path) {
    for name in entries_of(&home.join("archives")) {
        let bytes = fs::read(home.join("archives").join(&name)).unwrap();
        assert_eq!(
            name,
            format!("{}.tar.gz", sha256_hex(&bytes)),
            "archive cache entry {name}"
        );
    }
}

#[test]
fn sigkill_between_packages_leaves_complete_packages_and_the_old_lock() {
    let registry = Registry::with_catalog();
    let server = FaultyServer::start(&registry.index, FaultPlan::none());
    let url = format!("sparse+{}", server.url());
    let home = registry.home("h");
    let packages = home.join("packages");
    let project = registry.project("p");
    // One download at a time, each slowed down: packages land one by one.
    fs::create_dir_all(&home).unwrap();
    fs::write(home.join("config.toml"), "[net]\nmax-connections = 1\n").unwrap();
    assert_ok(&in_project(&home, &url, &project, &["add", "io.ggen.base"]));
    let before = snapshot(&project, &[]);
    server.set_plan(FaultPlan::always(Fault::Delay(Duration::from_millis(400))).only_under("/archives/"));

    let add = ["add", "io.ggen.rust.axum", "io.ggen.tools"];
    let mut child = spawn_in_project(&home, &url, &project, &add);
    let new_packages = || {
        check_package_dirs(&packages)
            .into_iter()
            .filter(|name| name != "io.ggen.base-1.0.0")
            .count()
    };
    kill_when(&mut child, "a new package was placed", || {
        entries_of(&packages)
            .iter()
            .any(|name| name != "io.ggen.base-1.0.0" && packages.join(name).join(".ggen-install.json").exists())
    });

    let placed = new_packages();
    assert!(
        (1..3).contains(&placed),
        "killed between packages: {placed} of 3 placed"
    );
    assert_eq!(
        snapshot(&project, &[]),
        before,
        "ggen.toml and ggen.lock are the old ones"
    );
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
    check_archive_cache(&home);

    server.set_plan(FaultPlan::none());
    assert_ok(&in_project(&home, &url, &project, &add));
    let expected = registry.closure(&[("io.ggen.rust.axum", "^0.4.2"), ("io.ggen.tools", "^1.2.0")]);
    check_lock(&registry, &project, &expected);
    check_all_installed(&registry, &packages, &expected);
    assert_eq!(check_package_dirs(&packages).len(), 4);
    assert!(
        entries_of(&packages).iter().all(|name| !name.starts_with('.')),
        "{:?}",
        entries_of(&packages)
    );
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
    check_archive_cache(&home);
}

#[test]
fn sigkill_during_extraction_leaves_no_partial_package() {
    let mut registry = Registry::with_catalog();
    // Enough files that extracting, hashing and sealing them takes a while.
    let mut big = Package::new("io.ggen.big", "1.0.0").dep("io.ggen.base", "^1");
    for i in 0..1000 {
        big = big.file(
            &format!("templates/part{}/file{i}.tmpl", i / 100),
            format!("{{{{ part {i} }}}}\n"),
        );
    }
    let started = Instant::now();
    registry.publish(&big);
    registry.sign_all(&registry.key.clone());
    eprintln!("published {} files in {:?}", big.files.len(), started.elapsed());
    let index = registry_arg(&registry);
    let home = registry.home("h");
    let packages = home.join("packages");
    let project = registry.project("p");
    assert_ok(&in_project(&home, &index, &project, &["add", "io.ggen.base"]));
    let before = snapshot(&project, &[]);

    let mut child = spawn_in_project(&home, &index, &project, &["add", "io.ggen.big"]);
    kill_when(&mut child, "extraction started", || {
        entries_of(&packages).iter().any(|name| name.starts_with(".staging-"))
    });

    let left = entries_of(&packages);
    assert!(
        left.iter().any(|name| name.starts_with(".staging-")) && !left.contains(&"io.ggen.big-1.0.0".to_owned()),
        "killed during extraction: {left:?}"
    );
    assert_eq!(check_package_dirs(&packages), ["io.ggen.base-1.0.0"]);
    assert_eq!(
        snapshot(&project, &[]),
        before,
        "ggen.toml and ggen.lock are the old ones"
    );
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));

    // The rerun clears the leftover and installs.
    let started = Instant::now();
    assert_ok(&in_project(&home, &index, &project, &["add", "io.ggen.big"]));
    eprintln!("installed {} files in {:?}", big.files.len(), started.elapsed());
    assert_eq!(entries_of(&packages), ["io.ggen.base-1.0.0", "io.ggen.big-1.0.0"]);
    let lock = lock_of(&project);
    check_installed(&packages, &big, lock["io.ggen.big"]["checksum"].as_str().unwrap());
    assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
}

#[test]
fn concurrent_installs_into_one_home_all_succeed() {
    let registry = Registry::with_catalog();
    // A little latency on every request so the runs overlap.
    let server = FaultyServer::start(
        &registry.index,
        FaultPlan::always(Fault::Delay(Duration::from_millis(20))),
    );
    let url = format!("sparse+{}", server.url());
    let home = registry.home("shared");
    let packages = home.join("packages");
    let first = registry.project("first");
    let second = registry.project("second");
    fs::write(
        first.join("ggen.toml"),
        "[dependencies]\n\"io.ggen.rust.axum\" = \"^0.4\"\n",
    )
    .unwrap();
    fs::write(
        second.join("ggen.toml"),
        "[dependencies]\n\"io.ggen.rust.cli\" = \"^0.3\"\n\"io.ggen.tools\" = \"^1\"\n",
    )
    .unwrap();

    // Two runs on the first project, one on the second, all at once.
    let runs: Vec<_> = [&first, &first, &second]
        .into_iter()
        .map(|project| {
            let mut all = vec!["--registry", url.as_str(), "install", "--project"];
            all.push(project.to_str().unwrap());
            support::fixture::command(&home, &all)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        assert_ok(&run.wait_with_output().unwrap());
    }

    let one = registry.closure(&[("io.ggen.rust.axum", "^0.4")]);
    let two = registry.closure(&[("io.ggen.rust.cli", "^0.3"), ("io.ggen.tools", "^1")]);
    check_lock(&registry, &first, &one);
    check_lock(&registry, &second, &two);
    let mut all = one.clone();
    all.extend(two.clone());
    check_all_installed(&registry, &packages, &all);
    let wanted: Vec<String> = all.values().map(|p| package_dir_name(&p.name, &p.version)).collect();
    assert_eq!(entries_of(&packages), wanted, "each package once, no leftovers");
    assert_eq!(check_package_dirs(&packages), wanted);
    for project in [&first, &second] {
        assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
    }
    check_archive_cache(&home);
    let pins: serde_json::Value = serde_json::from_slice(&fs::read(home.join("trust/pins.json")).unwrap()).unwrap();
    let pinned = pins["registries"][&registry.id()].as_object().unwrap();
    assert_eq!(pinned.len(), all.len(), "every package pinned once: {pins:#}");
}

#[test]
fn a_failed_install_restores_the_package_it_replaced() {
    // Two registries publish different archives as io.ggen.base 1.0.0; both
    // install into GGEN_HOME/packages/io.ggen.base-1.0.0/.
    let first = Registry::with_catalog();
    let mut second = Registry::new();
    second.publish(&Package::new("io.ggen.base", "1.0.0").file("templates/other.tmpl", "another archive\n"));
    // A package that needs it and fails late: its manifest disagrees with its entry.
    let prefix = evil_prefix("1.0.0");
    let archive = tarball::tar_gz(&[tarball::file(
        &format!("{prefix}/ggen.toml"),
        evil_manifest(EVIL, "1.0.0", &[]),
    )]);
    second.index_archive(EVIL, "1.0.0", &[("io.ggen.base".into(), "^1".into())], &archive);
    second.sign_all(&second.key);

    let home = first.home("shared");
    let packages = home.join("packages");
    // One package at a time, in name order: base is placed before evil fails.
    fs::create_dir_all(&home).unwrap();
    fs::write(home.join("config.toml"), "[net]\nmax-connections = 1\n").unwrap();
    let a = first.project("a");
    assert_ok(&in_project(&home, &registry_arg(&first), &a, &["add", "io.ggen.base"]));
    let installed = snapshot(&packages, &[]);

    let b = first.project("b");
    let out = in_project(&home, &registry_arg(&second), &b, &["add", EVIL]);
    assert_refused(&out, &["does not match its index entry"]);
    assert_eq!(
        snapshot(&packages, &[]),
        installed,
        "project a's io.ggen.base is back as it was"
    );
    assert_ok(&market(&home, &["verify", "--project", a.to_str().unwrap()]));

    // A successful replacement leaves nothing set aside; project a then
    // sees the other archive (one directory per name and version).
    assert_ok(&in_project(&home, &registry_arg(&second), &b, &["add", "io.ggen.base"]));
    assert_eq!(entries_of(&packages), ["io.ggen.base-1.0.0"]);
    check_installed(
        &packages,
        second.package("io.ggen.base", "1.0.0"),
        lock_of(&b)["io.ggen.base"]["checksum"].as_str().unwrap(),
    );
    let out = market(&home, &["verify", "--project", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("installed from another archive than ggen.lock names"));
}

/// Copies the index files of the registry (not its archives) into a new
/// git worktree, commits them, and makes `served/index.git` from it
/// (replacing an earlier one: git servers read it afresh per request).
fn serve_index_from_git(registry: &Registry) -> PathBuf {
    let (worktree, served) = (registry.root.join("git-worktree"), registry.root.join("served"));
    for dir in [&worktree, &served] {
        if dir.exists() {
            fs::remove_dir_all(dir).unwrap();
        }
    }
    let worktree = support::servers::init_worktree(&worktree);
    for (relative, what) in snapshot(&registry.index, &[&registry.index.join("archives")]) {
        let to = worktree.join(&relative);
        if what.starts_with("dir ") {
            fs::create_dir_all(&to).unwrap();
        } else {
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(registry.index.join(&relative), &to).unwrap();
        }
    }
    support::servers::commit_all(&worktree, "index");
    support::servers::init_bare_from_worktree(&worktree, &served.join("index.git"));
    served
}

#[test]
fn git_installs_equal_the_local_install_and_work_offline() {
    let registry = Registry::with_catalog();
    let index = registry_arg(&registry);
    let roots = ["add", "io.ggen.rust.axum", "io.ggen.tools"];
    let local_home = registry.home("local");
    let local = registry.project("local");
    assert_ok(&in_project(&local_home, &index, &local, &roots));
    let local_packages = snapshot(&local_home.join("packages"), &[]);
    let local_lock = fs::read_to_string(local.join("ggen.lock")).unwrap();

    // A git remote serves no plain files: a relative `dl` cannot work…
    let served = serve_index_from_git(&registry);
    let daemon = support::servers::GitDaemon::start(&served);
    let smart_http = support::servers::GitHttpServer::start(&served, false);
    let refused = registry.project("relative-dl");
    let out = in_project(
        &registry.home("relative-dl"),
        &daemon.repo_url("index.git"),
        &refused,
        &["add", "io.ggen.base"],
    );
    assert_refused(&out, &["cannot download git://", "absolute http(s) `dl`"]);
    assert!(snapshot(&refused, &[]).is_empty());
    // …so `dl` points at an archive host.
    let archives = StaticServer::start(&registry.index);
    registry.edit_config(|config| {
        config["dl"] = format!("{}archives/{{crate}}/{{crate}}-{{version}}.tar.gz", archives.url()).into();
    });
    serve_index_from_git(&registry);
    let transports = [
        ("daemon", daemon.repo_url("index.git")),
        ("smart-http", format!("git+{}", smart_http.repo_url("index.git"))),
        ("file", format!("file://{}", served.join("index.git").display())),
    ];
    for (label, url) in &transports {
        let home = registry.home(label);
        let project = registry.project(label);
        assert_ok(&in_project(&home, url, &project, &roots));
        assert_eq!(
            snapshot(&home.join("packages"), &[]),
            local_packages,
            "{label}: the same packages"
        );
        // The lock names the registry by identity, not by transport.
        assert_eq!(
            fs::read_to_string(project.join("ggen.lock")).unwrap(),
            local_lock,
            "{label}"
        );
        assert_ok(&market(&home, &["verify", "--project", project.to_str().unwrap()]));
    }

    // With every server stopped, the clone and the archive cache suffice.
    let (daemon_url, home) = (transports[0].1.clone(), registry.home("daemon"));
    drop((daemon, smart_http, archives));
    fs::remove_dir_all(home.join("packages")).unwrap();
    let offline = registry.project("daemon-offline");
    for file in ["ggen.toml", "ggen.lock"] {
        fs::copy(registry.root.join("projects/daemon").join(file), offline.join(file)).unwrap();
    }
    assert_ok(&in_project(
        &home,
        &daemon_url,
        &offline,
        &["--offline", "install", "--locked"],
    ));
    assert_eq!(snapshot(&home.join("packages"), &[]), local_packages);
}

#[test]
fn a_locked_yanked_version_still_installs_but_is_never_chosen_anew() {
    let mut registry = Registry::with_catalog();
    let index = registry_arg(&registry);
    let home = registry.home("h");
    let project = registry.project("p");
    assert_ok(&in_project(&home, &index, &project, &["add", "io.ggen.base"]));
    let lock = fs::read(project.join("ggen.lock")).unwrap();
    registry.publish(&Package::new("io.ggen.base", "1.0.1"));
    registry.sign_all(&registry.key.clone());
    // Yanking flips a field the signature does not cover.
    registry.edit_entry("io.ggen.base", "1.0.0", |entry| entry["yanked"] = true.into());

    let fresh = registry.home("fresh");
    assert_ok(&in_project(&fresh, &index, &project, &["install", "--locked"]));
    assert_eq!(fs::read(project.join("ggen.lock")).unwrap(), lock);
    let cksum = sha256_hex(&fs::read(registry.archive_path("io.ggen.base", "1.0.0")).unwrap());
    check_installed(
        &fresh.join("packages"),
        registry.package("io.ggen.base", "1.0.0"),
        &cksum,
    );

    let other = registry.project("other");
    let out = assert_ok(&in_project(&fresh, &index, &other, &["add", "io.ggen.base@^1.0.0"]));
    assert!(out.contains("Locking io.ggen.base 1.0.1"), "{out}");
    let out = assert_ok(&in_project(&fresh, &index, &project, &["update"]));
    assert!(
        out.contains("Unlocking io.ggen.base 1.0.0") && out.contains("Locking io.ggen.base 1.0.1"),
        "{out}"
    );
}
