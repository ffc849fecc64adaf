//! `ggen-market mirror export` / `mirror import`, the real binary: a full
//! export lands byte-identical, a signed one is checked against a trusted
//! key (and independently by the `minisign` CLI), every damaged or
//! altered file is refused with the directory byte-for-byte unchanged, a
//! delta applies to its base only and gives the same tree as a full
//! export, and the imported tree serves installs through `serve`.
//!
//! Oracles: byte snapshots of the trees, GNU tar and minisign reading the
//! export file, and `verify` after installing from the imported tree.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::fixture::{
    Key, Package, Registry, assert_ok, assert_refused, check_installed, market, serve, sha256_hex, snapshot,
};

const MANIFEST: &str = "ggen-mirror-manifest.json";
const SIGNATURE: &str = "ggen-mirror-manifest.json.minisig";

/// `mirror export INDEX FILE ARGS… --json`, parsed.
fn export(registry: &Registry, file: &Path, args: &[&str]) -> Value {
    let mut all = vec![
        "mirror",
        "export",
        registry.index.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&assert_ok(&registry.publisher(&all))).unwrap()
}

/// `mirror import FILE DIR ARGS… --json`.
fn import(registry: &Registry, file: &Path, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["mirror", "import", file.to_str().unwrap(), dir.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push("--json");
    market(&registry.root.join("importer-home"), &all)
}

fn import_ok(registry: &Registry, file: &Path, dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&assert_ok(&import(registry, file, dir, args))).unwrap()
}

/// The index as an export carries it: without the index's lock file.
fn tree(registry: &Registry) -> BTreeMap<String, String> {
    snapshot(&registry.index, &[&registry.index.join(".ggen-index.lock")])
}

fn public_key_file(key: &Key) -> String {
    key.secret.with_extension("pub").to_str().unwrap().to_owned()
}

/// A catalog registry with a mirror.toml, as `mirror create` writes one.
fn registry() -> Registry {
    let registry = Registry::with_catalog();
    fs::write(
        registry.index.join("mirror.toml"),
        "[upstream]\nurl = \"https://example.invalid/index/\"\n",
    )
    .unwrap();
    registry
}

/// One tar member, for writing altered export files.
struct Member {
    path: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
}

fn members(file: &Path) -> Vec<Member> {
    let mut archive = tar::Archive::new(fs::File::open(file).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            Member {
                path: entry.path_bytes().into_owned(),
                kind: entry.header().entry_type(),
                data,
            }
        })
        .collect()
}

/// Writes `members` as a tar, names set raw (the tar crate's builder
/// refuses `..`, which is the point of some of these files).
fn write_tar(file: &Path, members: &[Member]) {
    let mut builder = tar::Builder::new(fs::File::create(file).unwrap());
    for member in members {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..member.path.len()].copy_from_slice(&member.path);
        header.set_entry_type(member.kind);
        header.set_size(member.data.len() as u64);
        header.set_mode(0o644);
        if member.kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        builder.append(&header, member.data.as_slice()).unwrap();
    }
    builder.finish().unwrap();
}

fn member(path: &str, kind: tar::EntryType, data: &[u8]) -> Member {
    Member {
        path: path.as_bytes().to_vec(),
        kind,
        data: data.to_vec(),
    }
}

/// Installs `io.ggen.rust.axum` (and `extra`) from `tree` served by
/// `ggen-market serve`, checks every installed file and runs `verify`.
fn install_from_served(registry: &Registry, tree: &Path, label: &str, extra: &[&str]) {
    let server = serve(tree, &["--quiet"]);
    let home = registry.home(label);
    let project = registry.project(label);
    let project_arg = project.to_str().unwrap();
    let mut args = vec!["--registry", server.url(), "add", "io.ggen.rust.axum"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--project", project_arg]);
    assert_ok(&market(&home, &args));
    let roots: Vec<(&str, &str)> = std::iter::once("io.ggen.rust.axum")
        .chain(extra.iter().copied())
        .map(|name| (name, "*"))
        .collect();
    for package in registry.closure(&roots).values() {
        let archive = fs::read(registry.archive_path(&package.name, &package.version)).unwrap();
        check_installed(&home.join("packages"), package, &sha256_hex(&archive));
    }
    assert_ok(&market(&home, &["verify", "--project", project_arg]));
}

#[test]
fn a_full_export_lands_byte_identical_and_serves_installs() {
    let registry = registry();
    let file = registry.root.join("usb/index.tar");
    let exported = export(&registry, &file, &[]);
    let source = tree(&registry);
    let file_count = source.values().filter(|what| what.starts_with("file ")).count();
    assert_eq!(exported["kind"], "full");
    assert_eq!(exported["files"], file_count);
    assert_eq!(exported["carried_files"], file_count);
    assert_eq!(exported["signed_by"], Value::Null);
    let manifest = fs::read(registry.root.join("usb/index.tar.manifest.json")).unwrap();
    assert_eq!(exported["manifest_sha256"], sha256_hex(&manifest));
    assert!(
        source.contains_key("ci/check-index.sh") && source["ci/check-index.sh"].starts_with("file 755"),
        "the template's executable script travels with its mode: {source:?}"
    );

    // GNU tar reads the file: the manifest first, then every file.
    let listing = Command::new("tar").arg("-tf").arg(&file).output().unwrap();
    let listing = assert_ok(&listing);
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(names[0], MANIFEST);
    assert_eq!(names.len(), 1 + file_count);

    let air = registry.root.join("air/index");
    let imported = import_ok(&registry, &file, &air, &[]);
    assert_eq!(imported["kind"], "full");
    assert_eq!(imported["files"], file_count);
    assert_eq!(imported["manifest_sha256"], exported["manifest_sha256"]);
    assert_eq!(imported["signature_verified"], false);
    assert_eq!(snapshot(&air, &[]), source);
    let beside: Vec<String> = fs::read_dir(air.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside.len(), 2, "the tree and its import lock only: {beside:?}");

    // The same file compressed with gzip imports the same.
    let gz = registry.root.join("usb/index.tar.gz");
    let mut encoder = flate2::write::GzEncoder::new(fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    encoder.write_all(&fs::read(&file).unwrap()).unwrap();
    encoder.finish().unwrap();
    let again = registry.root.join("air2/index");
    import_ok(&registry, &gz, &again, &[]);
    assert_eq!(snapshot(&again, &[]), source);

    install_from_served(&registry, &air, "served", &[]);
}

#[test]
fn signatures_are_checked_and_every_bad_file_changes_nothing() {
    let registry = registry();
    let key = registry.key.clone();
    let stranger = registry.keygen("stranger");
    let usb = registry.root.join("usb");
    let signed = usb.join("signed.tar");
    let exported = export(&registry, &signed, &["--sign-key", key.secret.to_str().unwrap()]);
    assert_eq!(exported["signed_by"], key.id.as_str());

    // The minisign CLI verifies the signature on its own.
    let extracted = registry.root.join("extracted");
    fs::create_dir_all(&extracted).unwrap();
    let tar = Command::new("tar")
        .arg("-xf")
        .arg(&signed)
        .arg("-C")
        .arg(&extracted)
        .args([MANIFEST, SIGNATURE])
        .output()
        .unwrap();
    assert_ok(&tar);
    let minisign = Command::new("minisign")
        .args(["-V", "-p", &public_key_file(&key), "-m"])
        .arg(extracted.join(MANIFEST))
        .arg("-x")
        .arg(extracted.join(SIGNATURE))
        .output()
        .expect("the minisign CLI is needed for interop tests: apt-get install -y minisign");
    let said = assert_ok(&minisign);
    assert!(said.contains("Trusted comment: ggen-market mirror export"), "{said}");
    assert_eq!(
        fs::read(extracted.join(MANIFEST)).unwrap(),
        fs::read(usb.join("signed.tar.manifest.json")).unwrap()
    );

    let air = registry.root.join("air/index");
    let trusted = public_key_file(&key);
    let imported = import_ok(&registry, &signed, &air, &["--trusted-key", &trusted]);
    assert_eq!(imported["signature_verified"], true);
    assert_eq!(imported["signed_by"], key.id.as_str());
    let before = snapshot(air.parent().unwrap(), &[]);
    let refuse = |file: &Path, args: &[&str], needles: &[&str]| {
        assert_refused(&import(&registry, file, &air, args), needles);
        assert_eq!(snapshot(air.parent().unwrap(), &[]), before, "{}", file.display());
    };

    // Unsigned, or signed by another key.
    let unsigned = usb.join("unsigned.tar");
    export(&registry, &unsigned, &[]);
    refuse(&unsigned, &["--trusted-key", &trusted], &["is not signed", &key.id]);
    let other = usb.join("other.tar");
    export(&registry, &other, &["--sign-key", stranger.secret.to_str().unwrap()]);
    refuse(&other, &["--trusted-key", &trusted], &[&stranger.id, &key.id]);

    // One byte of a file changed, or of the signed manifest.
    let bytes = fs::read(&signed).unwrap();
    let config = fs::read(registry.index.join("config.json")).unwrap();
    let at = bytes
        .windows(config.len())
        .position(|w| w == config.as_slice())
        .expect("config.json is in the tar");
    let mut tampered = bytes.clone();
    tampered[at + 5] ^= 0x01;
    let tampered_file = usb.join("tampered.tar");
    fs::write(&tampered_file, &tampered).unwrap();
    refuse(
        &tampered_file,
        &["--trusted-key", &trusted],
        &["`config.json`", "SHA-256"],
    );
    refuse(&tampered_file, &[], &["`config.json`", "SHA-256"]);
    let manifest_text = fs::read(usb.join("signed.tar.manifest.json")).unwrap();
    let at = bytes
        .windows(manifest_text.len())
        .position(|w| w == manifest_text.as_slice())
        .unwrap();
    let created = manifest_text.windows(9).position(|w| w == b"\"created\"").unwrap();
    let mut tampered = bytes.clone();
    tampered[at + created + 13] ^= 0x01; // a digit of the year
    fs::write(&tampered_file, &tampered).unwrap();
    refuse(
        &tampered_file,
        &["--trusted-key", &trusted],
        &["does not verify", &key.id],
    );

    // Cut in the middle of a member, or cleanly between two members.
    let truncated = usb.join("truncated.tar");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    refuse(&truncated, &[], &["truncated"]);
    let mut archive = tar::Archive::new(bytes.as_slice());
    let third = archive
        .entries()
        .unwrap()
        .nth(2)
        .unwrap()
        .unwrap()
        .raw_header_position();
    fs::write(&truncated, &bytes[..third as usize]).unwrap();
    refuse(&truncated, &[], &["truncated", "ends before"]);

    // Members the manifest does not list, or that could escape or link.
    let original = members(&signed);
    let altered = usb.join("altered.tar");
    for (extra, needles) in [
        (
            member("evil.txt", tar::EntryType::Regular, b"x"),
            &["`evil.txt`", "does not list"][..],
        ),
        (
            member("../escaped.txt", tar::EntryType::Regular, b"x"),
            &["`../escaped.txt`", "`..`"][..],
        ),
        (
            member("/tmp/absolute.txt", tar::EntryType::Regular, b"x"),
            &["absolute"][..],
        ),
        (
            member("link", tar::EntryType::Symlink, b""),
            &["`link`", "symbolic link"][..],
        ),
        (member("dev", tar::EntryType::Char, b""), &["`dev`", "device"][..]),
        (
            member("config.json", tar::EntryType::Regular, b"{}"),
            &["`config.json`", "twice"][..],
        ),
    ] {
        let mut changed: Vec<Member> = original
            .iter()
            .map(|m| Member {
                path: m.path.clone(),
                kind: m.kind,
                data: m.data.clone(),
            })
            .collect();
        // Last, so the staging tree is complete when the refusal comes.
        changed.push(extra);
        write_tar(&altered, &changed);
        refuse(&altered, &["--trusted-key", &trusted], needles);
    }
    assert!(!registry.root.join("air/escaped.txt").exists());
    let mut no_manifest = members(&signed);
    no_manifest.remove(0);
    write_tar(&altered, &no_manifest);
    refuse(&altered, &[], &["not a mirror export", MANIFEST]);
}

#[test]
fn a_delta_applies_to_its_base_only_and_equals_the_full_tree() {
    let mut registry = registry();
    let usb = registry.root.join("usb");
    let full = export(&registry, &usb.join("full.tar"), &[]);
    let air = registry.root.join("air/index");
    import_ok(&registry, &usb.join("full.tar"), &air, &[]);
    let other = registry.root.join("other/index");
    import_ok(&registry, &usb.join("full.tar"), &other, &[]);

    // Upstream moves on: a new package, a yanked version, a file removed.
    registry.publish(&Package::new("io.ggen.extra", "0.1.0").dep("io.ggen.base", "^1"));
    registry.sign_all(&registry.key.clone());
    registry.edit_entry("io.ggen.tools", "1.2.0", |entry| entry["yanked"] = true.into());
    fs::remove_file(registry.index.join("mirror.toml")).unwrap();

    let base = usb.join("full.tar.manifest.json");
    let delta = export(&registry, &usb.join("delta.tar"), &["--since", base.to_str().unwrap()]);
    assert_eq!(delta["kind"], "delta");
    assert_eq!(delta["since"], full["manifest_sha256"]);
    assert_eq!(delta["files"], full["files"].as_u64().unwrap() + 2 - 1);
    let manifest: Value = serde_json::from_slice(&fs::read(usb.join("delta.tar.manifest.json")).unwrap()).unwrap();
    let carried: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["carried"] == true)
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        carried,
        [
            "archives/io.ggen.extra/io.ggen.extra-0.1.0.tar.gz",
            "io/.g/io.ggen.extra",
            "io/.g/io.ggen.tools"
        ]
    );

    // Against the wrong base: refused, naming the file and the base.
    fs::write(other.join("config.json"), "{}").unwrap();
    let before = snapshot(other.parent().unwrap(), &[]);
    let out = import(&registry, &usb.join("delta.tar"), &other, &[]);
    assert_refused(
        &out,
        &[
            "wrong delta",
            "is not at the base this delta was made from",
            "`config.json`",
            full["manifest_sha256"].as_str().unwrap(),
        ],
    );
    assert_eq!(snapshot(other.parent().unwrap(), &[]), before);
    let empty = registry.root.join("empty/index");
    assert_refused(
        &import(&registry, &usb.join("delta.tar"), &empty, &[]),
        &["wrong delta"],
    );
    assert!(!empty.exists());

    // On its base: the same tree as the source, and as a full export.
    let applied = import_ok(&registry, &usb.join("delta.tar"), &air, &[]);
    assert_eq!(applied["kind"], "delta");
    assert_eq!(applied["carried_files"], 3);
    assert_eq!(applied["reused_files"], delta["files"].as_u64().unwrap() - 3);
    assert_eq!(snapshot(&air, &[]), tree(&registry));
    let full_again = export(&registry, &usb.join("full2.tar"), &[]);
    let full_manifest: Value = serde_json::from_slice(&fs::read(usb.join("full2.tar.manifest.json")).unwrap()).unwrap();
    let without_carried = |m: &Value| -> Vec<Value> {
        m["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f.as_object_mut().unwrap().remove("carried");
                f
            })
            .collect()
    };
    assert_eq!(without_carried(&manifest), without_carried(&full_manifest));
    assert_eq!(full_again["files"], delta["files"]);
    let fresh = registry.root.join("fresh/index");
    import_ok(&registry, &usb.join("full2.tar"), &fresh, &[]);
    assert_eq!(snapshot(&fresh, &[]), snapshot(&air, &[]));

    install_from_served(&registry, &air, "after-delta", &["io.ggen.extra"]);
}

/// A full import replaces the whole directory, so it refuses one that is
/// neither empty nor an index, and a git work tree.
#[test]
fn a_full_import_refuses_directories_it_would_clobber() {
    let registry = registry();
    let file = registry.root.join("usb/index.tar");
    export(&registry, &file, &[]);
    let home_like: PathBuf = registry.root.join("documents");
    fs::create_dir_all(&home_like).unwrap();
    fs::write(home_like.join("thesis.txt"), "years of work").unwrap();
    assert_refused(&import(&registry, &file, &home_like, &[]), &["holds no config.json"]);
    assert_eq!(
        fs::read_to_string(home_like.join("thesis.txt")).unwrap(),
        "years of work"
    );
    let work_tree = registry.root.join("work-tree");
    fs::create_dir_all(work_tree.join(".git")).unwrap();
    fs::write(work_tree.join("config.json"), "{}").unwrap();
    assert_refused(&import(&registry, &file, &work_tree, &[]), &["git work tree"]);
    assert!(work_tree.join(".git").is_dir());
}
