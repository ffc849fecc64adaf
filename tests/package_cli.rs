//! `ggen-market package` end to end: the real binary, real files, and
//! independent tools (`sha256sum`, GNU `tar`) as oracles.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use support::fixture::{command, throwaway_home};

fn ggen_market(args: &[&std::ffi::OsStr]) -> Output {
    command(&throwaway_home(), &[])
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs `package DIR --out OUT --json` and returns the parsed JSON.
fn package_json(dir: &Path, out: &Path) -> serde_json::Value {
    let output = ggen_market(&[
        "package".as_ref(),
        dir.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("--json prints one JSON document")
}

fn write(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// A package of a few nested files, one executable.
fn sample_package(root: &Path) -> PathBuf {
    let dir = root.join("pkg");
    write(
        &dir,
        "ggen.toml",
        "[package]\nname = \"io.ggen.sample\"\nversion = \"0.4.2\"\ndescription = \"A sample\"\n\n[dependencies]\n\"io.ggen.base\" = \"^1\"\n",
    );
    write(
        &dir,
        "templates/main.rs.tmpl",
        "fn main() { println!(\"{{ greeting }}\"); }\n",
    );
    write(&dir, "templates/lib/mod.rs.tmpl", "pub mod {{ name }};\n");
    write(&dir, "hooks/post.sh", "#!/bin/sh\necho done\n");
    write(&dir, "README.md", "# sample\n");
    fs::set_permissions(dir.join("hooks/post.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    dir
}

fn every_path(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            every_path(&path, out);
        }
        out.push(path);
    }
}

fn sha256sum(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum is installed");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn the_same_tree_packs_to_the_same_bytes_after_touch_and_chown() {
    let root = tempfile::tempdir().unwrap();
    let dir = sample_package(root.path());
    let first = package_json(&dir, &root.path().join("out1"));
    let second = package_json(&dir, &root.path().join("out2"));

    let mut paths = Vec::new();
    every_path(&dir, &mut paths);
    paths.push(dir.clone());
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    for path in &paths {
        if path.is_file() {
            fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        std::os::unix::fs::chown(path, Some(4321), Some(8765)).expect("tests run as root");
    }
    for path in &paths {
        let metadata = fs::metadata(path).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&metadata),
            4321,
            "the chown took effect"
        );
    }
    let touched = package_json(&dir, &root.path().join("out3"));

    let bytes = |value: &serde_json::Value| fs::read(value["path"].as_str().unwrap()).unwrap();
    assert_eq!(bytes(&first), bytes(&second));
    assert_eq!(
        bytes(&first),
        bytes(&touched),
        "mtimes and owners must not reach the archive"
    );
    assert_eq!(first["sha256"], touched["sha256"]);
}

#[test]
fn the_default_output_directory_is_inside_the_package_and_never_packed() {
    let root = tempfile::tempdir().unwrap();
    let dir = sample_package(root.path());
    // DIR defaults to the working directory.
    let in_dir = |args: &[&str]| command(&throwaway_home(), args).current_dir(&dir).output().unwrap();
    let first = in_dir(&["package", "--json"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let archive = dir.join("target/package/io.ggen.sample-0.4.2.tar.gz");
    assert_eq!(dir.join(first["path"].as_str().unwrap()), archive);
    let first_bytes = fs::read(&archive).unwrap();
    let second = in_dir(&["package", "--json"]);
    let second: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(first["files"], second["files"]);
    assert_eq!(
        fs::read(&archive).unwrap(),
        first_bytes,
        "the first archive is not inside the second"
    );
}

#[test]
fn json_output_matches_the_file_and_sha256sum() {
    let root = tempfile::tempdir().unwrap();
    let dir = sample_package(root.path());
    let out = root.path().join("dist");
    let json = package_json(&dir, &out);
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["name", "version", "sha256", "path", "size", "files"]);
    let path = PathBuf::from(json["path"].as_str().unwrap());
    assert_eq!(path, out.join("io.ggen.sample-0.4.2.tar.gz"));
    assert_eq!(json["name"], "io.ggen.sample");
    assert_eq!(json["version"], "0.4.2");
    assert_eq!(json["sha256"].as_str().unwrap(), sha256sum(&path));
    assert_eq!(json["size"].as_u64().unwrap(), fs::metadata(&path).unwrap().len());
    let mut files = Vec::new();
    every_path(&dir, &mut files);
    let file_count = files.iter().filter(|p| p.is_file()).count() as u64;
    assert_eq!(json["files"].as_u64().unwrap(), file_count);
}

#[test]
fn people_output_names_the_package_checksum_and_path() {
    let root = tempfile::tempdir().unwrap();
    let dir = sample_package(root.path());
    let out = root.path().join("dist");
    let output = ggen_market(&["package".as_ref(), dir.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let archive = out.join("io.ggen.sample-0.4.2.tar.gz");
    assert!(text.contains("io.ggen.sample 0.4.2"), "{text}");
    assert!(text.contains(&sha256sum(&archive)), "{text}");
    assert!(text.contains(&archive.display().to_string()), "{text}");
    assert!(text.lines().count() <= 4, "a tidy few lines: {text}");
}

/// GNU tar as an independent extractor: the archive holds exactly the
/// tree, under `{name}-{version}/`.
#[test]
fn gnu_tar_extracts_exactly_the_tree() {
    let root = tempfile::tempdir().unwrap();
    let dir = sample_package(root.path());
    let json = package_json(&dir, &root.path().join("dist"));
    let unpacked = root.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(json["path"].as_str().unwrap())
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(status.success());
    let top = unpacked.join("io.ggen.sample-0.4.2");
    let relative = |base: &Path| {
        let mut paths = Vec::new();
        every_path(base, &mut paths);
        let mut files: Vec<String> = paths
            .iter()
            .filter(|p| p.is_file())
            .map(|p| p.strip_prefix(base).unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        files
    };
    assert_eq!(relative(&top), relative(&dir));
    for file in relative(&dir) {
        assert_eq!(
            fs::read(top.join(&file)).unwrap(),
            fs::read(dir.join(&file)).unwrap(),
            "{file}"
        );
    }
    let mode = fs::metadata(top.join("hooks/post.sh")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o111, 0o111, "executable for everyone after extraction");
}

/// Runs `package` expecting a refusal; returns stderr after checking the
/// exit code and that no archive was written.
fn refusal(dir: &Path, out: &Path) -> String {
    let output = ggen_market(&["package".as_ref(), dir.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty());
    assert!(
        !out.exists() || fs::read_dir(out).unwrap().next().is_none(),
        "no archive written"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

#[test]
fn refuses_a_directory_without_a_manifest() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("empty");
    write(&dir, "templates/a.tmpl", "a");
    let stderr = refusal(&dir, &root.path().join("out"));
    assert!(stderr.contains("has no ggen.toml"), "{stderr}");
    assert!(stderr.contains(&dir.display().to_string()), "{stderr}");
}

#[test]
fn refuses_bad_names_and_versions() {
    let root = tempfile::tempdir().unwrap();
    let dir = sample_package(root.path());
    write(
        &dir,
        "ggen.toml",
        "[package]\nname = \"Sample Pack\"\nversion = \"1.0.0\"\n",
    );
    let stderr = refusal(&dir, &root.path().join("out"));
    assert!(stderr.contains("Sample Pack"), "{stderr}");
    assert!(stderr.contains("ggen.toml"), "{stderr}");

    write(&dir, "ggen.toml", "[package]\nname = \"sample\"\nversion = \"1.0\"\n");
    let stderr = refusal(&dir, &root.path().join("out"));
    assert!(stderr.contains("`1.0` is not semver"), "{stderr}");
}

#[test]
fn refuses_a_symlink_in_the_tree() {
    let root = tempfile::tempdir().unwrap();
    let dir = sample_package(root.path());
    std::os::unix::fs::symlink("/etc/passwd", dir.join("templates/lib/passwd")).unwrap();
    let stderr = refusal(&dir, &root.path().join("out"));
    assert!(stderr.contains("templates/lib/passwd"), "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
}
