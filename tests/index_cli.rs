//! `ggen-market index add` and `index check` end to end: the real binary on
//! real files, with `sha256sum` and GNU `tar` as independent tools.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::fixture::{command, isolate, throwaway_home};

fn ggen_market<S: AsRef<OsStr>>(args: &[S]) -> Output {
    command(&throwaway_home(), &[])
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeed<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let output = ggen_market(args);
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    output
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("--json prints exactly one JSON document")
}

fn write(path: &Path, contents: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// A scratch area with an index made by `index init`.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        let scene = Scene {
            dir: tempfile::tempdir().unwrap(),
        };
        succeed(&["index".as_ref(), "init".as_ref(), scene.index().as_os_str()]);
        scene
    }

    fn index(&self) -> PathBuf {
        self.dir.path().join("index")
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Packs a package with `ggen-market package` into `out` (relative to
    /// the scene) and returns the archive's path.
    fn pack(&self, manifest: &str, extra_file: &str, out: &str) -> PathBuf {
        let source = tempfile::tempdir_in(self.dir.path()).unwrap();
        write(&source.path().join("ggen.toml"), manifest);
        write(&source.path().join("templates/main.tmpl"), extra_file);
        let output = succeed(&[
            "package".as_ref(),
            source.path().as_os_str(),
            "--out".as_ref(),
            self.path(out).as_os_str(),
            "--json".as_ref(),
        ]);
        PathBuf::from(json_of(&output)["path"].as_str().unwrap())
    }

    /// An archive made with GNU tar, bypassing our packer's checks.
    fn tar_by_hand(&self, top: &str, manifest: &str) -> PathBuf {
        let source = tempfile::tempdir_in(self.dir.path()).unwrap();
        write(&source.path().join(top).join("ggen.toml"), manifest);
        let archive = self.path(&format!("hand/{top}.tar.gz"));
        fs::create_dir_all(archive.parent().unwrap()).unwrap();
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(source.path())
            .arg(top)
            .status()
            .unwrap();
        assert!(status.success());
        archive
    }

    fn add<S: AsRef<OsStr>>(&self, archives: &[S]) -> Output {
        let mut args: Vec<std::ffi::OsString> = vec!["index".into(), "add".into(), self.index().into()];
        args.extend(archives.iter().map(|archive| archive.as_ref().to_owned()));
        ggen_market(&args)
    }

    fn check_json(&self) -> Value {
        let output = ggen_market(&[
            "index".as_ref(),
            "check".as_ref(),
            self.index().as_os_str(),
            "--json".as_ref(),
        ]);
        json_of(&output)
    }
}

fn manifest(name: &str, version: &str, deps: &[(&str, &str)]) -> String {
    let mut text = format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n\n[dependencies]\n");
    for (dep, req) in deps {
        text.push_str(&format!("\"{dep}\" = \"{req}\"\n"));
    }
    text
}

/// `sha256sum FILE`: an implementation independent of ours.
fn sha256sum(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(output.status.success());
    stdout(&output).split_whitespace().next().unwrap().to_owned()
}

/// Every file and directory under `root` with a digest of its contents:
/// two equal snapshots mean a byte-for-byte identical tree.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                out.insert(relative + "/", String::new());
                walk(root, &path, out);
            } else {
                let digest = Sha256::digest(fs::read(&path).unwrap());
                out.insert(relative, digest.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn lines_of(index: &Path, file: &str) -> Vec<Value> {
    fs::read_to_string(index.join(file))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_batch_is_added_in_semver_order_and_the_index_then_passes_check() {
    let scene = Scene::new();
    let base_11 = scene.pack(&manifest("io.ggen.base", "1.1.0", &[]), "b11", "batch");
    let base_10 = scene.pack(&manifest("io.ggen.base", "1.0.0", &[]), "b10", "batch");
    let web = scene.pack(
        &(manifest("io.ggen.web", "0.1.0", &[("io.ggen.base", "^1.0"), ("foo_bar", "0.1")])
            .replace(
                "[dependencies]",
                "description = \"A web app\"\nlicense = \"MIT\"\nkeywords = [\"web\"]\ncategories = [\"servers\"]\nrepository = \"https://example.com/web\"\n\n[dependencies]",
            )),
        "web",
        "single",
    );
    let foo = scene.pack(&manifest("foo_bar", "0.1.0", &[]), "foo", "batch");
    // Only *.tar.gz files of a directory argument are archives.
    write(&scene.path("batch/notes.txt"), "not an archive");

    let output = succeed(&[
        "index".as_ref(),
        "add".as_ref(),
        scene.index().as_os_str(),
        scene.path("batch").as_os_str(),
        web.as_os_str(),
        "--json".as_ref(),
    ]);
    let report = json_of(&output);
    assert_eq!(report["packages"], 3);
    let added: Vec<(String, String, String, String)> = report["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let field = |key: &str| a[key].as_str().unwrap().to_owned();
            (field("name"), field("version"), field("cksum"), field("file"))
        })
        .collect();
    let expected = [
        ("foo_bar", "0.1.0", &foo, "fo/o_/foo_bar"),
        ("io.ggen.base", "1.0.0", &base_10, "io/.g/io.ggen.base"),
        ("io.ggen.base", "1.1.0", &base_11, "io/.g/io.ggen.base"),
        ("io.ggen.web", "0.1.0", &web, "io/.g/io.ggen.web"),
    ];
    assert_eq!(added.len(), expected.len());
    for ((name, version, cksum, file), (want_name, want_version, archive, want_file)) in added.iter().zip(expected) {
        assert_eq!(
            (name.as_str(), version.as_str(), file.as_str()),
            (want_name, want_version, want_file)
        );
        assert_eq!(cksum, &sha256sum(archive), "cksum of {}", archive.display());
    }

    let index = scene.index();
    let base = lines_of(&index, "io/.g/io.ggen.base");
    assert_eq!(base.len(), 2);
    assert_eq!(
        (base[0]["vers"].as_str(), base[1]["vers"].as_str()),
        (Some("1.0.0"), Some("1.1.0"))
    );
    let web_line = &lines_of(&index, "io/.g/io.ggen.web")[0];
    assert_eq!(web_line["cksum"].as_str().unwrap(), sha256sum(&web));
    assert_eq!(web_line["description"], "A web app");
    assert_eq!(web_line["keywords"], serde_json::json!(["web"]));
    assert_eq!(web_line["categories"], serde_json::json!(["servers"]));
    assert_eq!(web_line["license"], "MIT");
    assert_eq!(web_line["repository"], "https://example.com/web");
    assert_eq!(web_line["features"], serde_json::json!({}));
    assert_eq!(web_line["yanked"], false);
    assert!(web_line.get("v").is_none() && web_line.get("sig").is_none());
    let deps = web_line["deps"].as_array().unwrap();
    assert_eq!(deps.len(), 2);
    let base_dep = deps.iter().find(|d| d["name"] == "io.ggen.base").unwrap();
    assert_eq!(base_dep["req"], "^1.0");
    assert_eq!(base_dep["kind"], "normal");

    let check = scene.check_json();
    assert_eq!(
        (check["packages"].as_u64(), check["versions"].as_u64()),
        (Some(3), Some(4))
    );
    assert_eq!(check["errors"], 0, "{check}");
    assert_eq!(check["warnings"], 0, "{check}");

    // A later batch appends to an existing package file.
    let base_20 = scene.pack(&manifest("io.ggen.base", "2.0.0", &[]), "b20", "later");
    let output = succeed(&[
        "index".as_ref(),
        "add".as_ref(),
        scene.index().as_os_str(),
        base_20.as_os_str(),
    ]);
    assert_eq!(
        stdout(&output).lines().collect::<Vec<_>>(),
        [
            "added io.ggen.base 2.0.0 (io/.g/io.ggen.base)",
            &format!("added 1 versions of 1 packages to {}", scene.index().display()),
        ]
    );
    let base = lines_of(&index, "io/.g/io.ggen.base");
    assert_eq!(base.len(), 3);
    assert_eq!(base[2]["cksum"].as_str().unwrap(), sha256sum(&base_20));
    assert_eq!(scene.check_json()["errors"], 0);
}

/// Every refused batch: non-zero exit, the offending archive's path in the
/// message, and the index exactly as before.
#[test]
fn refused_batches_leave_the_index_byte_for_byte_unchanged() {
    let scene = Scene::new();
    let base = scene.pack(&manifest("io.ggen.base", "1.0.0", &[]), "base", "first");
    let foo = scene.pack(&manifest("foo_bar", "1.0.0", &[]), "foo", "first");
    succeed(&[
        "index".as_ref(),
        "add".as_ref(),
        scene.index().as_os_str(),
        base.as_os_str(),
        foo.as_os_str(),
    ]);
    let before = snapshot(&scene.index());
    let good = scene.pack(
        &manifest("io.ggen.good", "1.0.0", &[("io.ggen.base", "1")]),
        "good",
        "good",
    );

    let again = scene.pack(&manifest("io.ggen.base", "1.0.0", &[]), "other bytes", "again");
    let build = scene.pack(&manifest("io.ggen.base", "1.0.0+rebuild", &[]), "base", "build");
    let twice_a = scene.pack(&manifest("io.ggen.new", "0.2.0", &[]), "a", "twice-a");
    let twice_b = scene.pack(&manifest("io.ggen.new", "0.2.0", &[]), "b", "twice-b");
    let confusable = scene.pack(&manifest("foo-bar", "2.0.0", &[]), "c", "confusable");
    let pair_a = scene.pack(&manifest("new-pair", "1.0.0", &[]), "p", "pair-a");
    let pair_b = scene.pack(&manifest("new_pair", "1.0.0", &[]), "p", "pair-b");
    let missing_dep = scene.pack(
        &manifest("io.ggen.lonely", "1.0.0", &[("io.ggen.nowhere", "1")]),
        "l",
        "lonely",
    );
    let corrupt = scene.path("corrupt/broken-1.0.0.tar.gz");
    write(&corrupt, "this is not gzip at all");
    let truncated = scene.path("truncated/io.ggen.good-1.0.0.tar.gz");
    let good_bytes = fs::read(&good).unwrap();
    fs::create_dir_all(truncated.parent().unwrap()).unwrap();
    fs::write(&truncated, &good_bytes[..20]).unwrap();
    let bad_version = scene.tar_by_hand("bad-1.0", "[package]\nname = \"bad\"\nversion = \"1.0\"\n");
    let bad_name = scene.tar_by_hand("Bad-1.0.0", "[package]\nname = \"Bad\"\nversion = \"1.0.0\"\n");
    let not_toml = scene.tar_by_hand("junk-1.0.0", "[package\nname = ");
    let missing = scene.path("nowhere/ghost-1.0.0.tar.gz");

    let cases: Vec<(Vec<&Path>, Vec<&Path>, &str)> = vec![
        (vec![&good, &again], vec![&again], "already in the index"),
        (vec![&build, &good], vec![&build], "already in the index"),
        (vec![&twice_a, &twice_b, &good], vec![&twice_b, &twice_a], "twice"),
        (vec![&confusable], vec![&confusable], "confusable with `foo_bar`"),
        (vec![&pair_a, &pair_b], vec![&pair_b], "same name"),
        (vec![&missing_dep, &good], vec![&missing_dep], "io.ggen.nowhere"),
        (vec![&good, &corrupt], vec![&corrupt], "not a gzip file"),
        (vec![&truncated], vec![&truncated], "corrupt"),
        (vec![&bad_version, &good], vec![&bad_version], "not semver"),
        (vec![&bad_name], vec![&bad_name], "`Bad`"),
        (vec![&not_toml], vec![&not_toml], "not valid TOML"),
        (vec![&good, &missing], vec![&missing], "cannot read"),
    ];
    for (batch, culprits, words) in cases {
        let output = scene.add(&batch);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{batch:?}: {message}");
        assert!(message.contains("nothing was added"), "{message}");
        assert!(message.contains(words), "{batch:?} should say {words}: {message}");
        for culprit in culprits {
            assert!(
                message.contains(&culprit.display().to_string()),
                "{message} should name {}",
                culprit.display()
            );
        }
        assert_eq!(snapshot(&scene.index()), before, "{batch:?} changed the index");
    }
    // The good archive alone is accepted: the refusals were about the others.
    assert!(scene.add(&[&good]).status.success(), "the good archive adds");
    assert_ne!(snapshot(&scene.index()), before);
}

#[test]
fn an_index_needs_a_config_json() {
    let scene = Scene::new();
    let archive = scene.pack(&manifest("io.ggen.base", "1.0.0", &[]), "x", "out");
    let not_an_index = scene.path("plain");
    fs::create_dir_all(&not_an_index).unwrap();
    let output = ggen_market(&[
        "index".as_ref(),
        "add".as_ref(),
        not_an_index.as_os_str(),
        archive.as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("config.json"), "{}", stderr(&output));
    assert_eq!(fs::read_dir(&not_an_index).unwrap().count(), 0, "nothing written");
}

#[test]
fn check_prints_every_finding_and_fails_only_on_errors() {
    let scene = Scene::new();
    let index = scene.index();
    let line = |name: &str, vers: &str, dep: &str| {
        format!(
            r#"{{"name":"{name}","vers":"{vers}","deps":[{{"name":"{dep}","req":"^1","features":[],"optional":false,"default_features":true,"target":null}}],"cksum":"{}","features":{{}},"yanked":false}}"#,
            "ab".repeat(32)
        )
    };
    write(&index.join("3/b/bar"), &format!("{}\n", line("bar", "1.0.0", "bar")));
    write(
        &index.join("de/mo/demo"),
        &format!("{}\n{}\n", line("demo", "1.0.0", "bar"), line("demo", "1.0.0+b", "bar")),
    );
    // Warnings only: exit 0, one line per finding, then the summary.
    let output = ggen_market(&["index".as_ref(), "check".as_ref(), index.as_os_str()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("de/mo/demo:2: warning[build_metadata_duplicate]: "),
        "{text}"
    );
    assert_eq!(lines[1], "checked 2 packages, 3 versions: 0 errors, 1 warnings");

    write(
        &index.join("3/b/bar"),
        &format!(
            "{}\nnot json\n{}\n",
            line("bar", "1.0.0", "gone"),
            line("bar", "1.0.0", "bar")
        ),
    );
    let output = ggen_market(&["index".as_ref(), "check".as_ref(), index.as_os_str(), "--json".as_ref()]);
    assert_eq!(output.status.code(), Some(1));
    let report = json_of(&output);
    assert_eq!(
        (report["packages"].as_u64(), report["versions"].as_u64()),
        (Some(2), Some(5))
    );
    assert_eq!(
        (report["errors"].as_u64(), report["warnings"].as_u64()),
        (Some(3), Some(1))
    );
    let findings: Vec<(String, Value, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
            (
                f["file"].as_str().unwrap().to_owned(),
                f["line"].clone(),
                f["kind"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = |file: &str, line: u64, kind: &str, severity: &str| {
        (file.to_owned(), Value::from(line), kind.to_owned(), severity.to_owned())
    };
    assert_eq!(
        findings,
        vec![
            expect("3/b/bar", 1, "missing_dependency", "error"),
            expect("3/b/bar", 2, "invalid_json", "error"),
            expect("3/b/bar", 3, "duplicate_version", "error"),
            expect("de/mo/demo", 2, "build_metadata_duplicate", "warning"),
        ]
    );

    let output = ggen_market(&["index".as_ref(), "check".as_ref(), scene.path("nope").as_os_str()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).starts_with("error: "), "{}", stderr(&output));
}

#[test]
fn sign_key_signs_every_new_entry_so_that_minisign_and_our_verifier_accept_it() {
    let scene = Scene::new();
    let keys = scene.path("keys");
    let generated = json_of(&succeed(&[
        "keygen".as_ref(),
        "--unencrypted".as_ref(),
        "--json".as_ref(),
        "--name".as_ref(),
        "op".as_ref(),
        "--out-dir".as_ref(),
        keys.as_os_str(),
    ]));
    let archive = scene.pack(&manifest("signed-pkg", "1.0.0", &[]), "x", "out");
    let mut args: Vec<std::ffi::OsString> = vec!["index".into(), "add".into(), "--sign-key".into()];
    args.extend([
        keys.join("op.key").into_os_string(),
        scene.index().into_os_string(),
        archive.into_os_string(),
    ]);
    let out = ggen_market(&args);
    assert!(out.status.success(), "{}", stderr(&out));

    let line = fs::read_to_string(scene.index().join("si/gn/signed-pkg")).unwrap();
    let info = json_of(&succeed(&[
        "--registry".as_ref(),
        scene.index().as_os_str(),
        "info".as_ref(),
        "signed-pkg".as_ref(),
        "--json".as_ref(),
    ]));
    assert_eq!(info["versions"][0]["signer"], generated["key_id"]);

    // The minisign CLI, an independent verifier, accepts the signature over
    // the canonical message `info --canonical` prints.
    let message = succeed(&[
        "--registry".as_ref(),
        scene.index().as_os_str(),
        "info".as_ref(),
        "--canonical".as_ref(),
        "signed-pkg@1.0.0".as_ref(),
    ]);
    fs::write(scene.path("message"), &message.stdout).unwrap();
    let entry: Value = serde_json::from_str(line.trim()).unwrap();
    fs::write(scene.path("message.minisig"), entry["sig"].as_str().unwrap()).unwrap();
    let verified = Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(keys.join("op.pub"))
        .arg("-m")
        .arg(scene.path("message"))
        .arg("-x")
        .arg(scene.path("message.minisig"))
        .output()
        .expect("the minisign CLI is needed: apt-get install -y minisign");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// The CI script `index init` writes runs the real check: it passes on a
/// good index and fails, with ggen-market's exit status, on a broken one.
#[test]
fn the_template_ci_scripts_check_the_index_and_gate_a_change() {
    let scene = Scene::new();
    let archive = scene.pack(&manifest("gated", "1.0.0", &[]), "x", "out");
    assert!(scene.add(&[archive]).status.success());
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.org",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(scene.index())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    let run = |script: &str, args: &[&str]| {
        isolate(&mut Command::new(scene.index().join(script)), &throwaway_home())
            .args(args)
            .env("GGEN_MARKET", env!("CARGO_BIN_EXE_ggen-market"))
            .output()
            .unwrap()
    };
    let passed = run("ci/check-index.sh", &[]);
    assert!(passed.status.success(), "{}", stderr(&passed));
    let unchanged = run("ci/check-pr.sh", &["HEAD", "HEAD"]);
    assert!(unchanged.status.success(), "{}", stderr(&unchanged));
    assert_eq!(run("ci/check-pr.sh", &["HEAD"]).status.code(), Some(2), "usage");

    // A file at a shard path its name does not shard to: the whole-index
    // check finds it, and the gate refuses the commit that adds it.
    let file = scene.index().join("3/g/gated");
    let good = fs::read_to_string(scene.index().join("ga/te/gated")).unwrap();
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, good).unwrap();
    let failed = run("ci/check-index.sh", &[]);
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    assert!(stdout(&failed).contains("wrong_path"), "{}", stdout(&failed));
    git(&["add", "-A"]);
    git(&["commit", "-qm", "misplaced"]);
    let refused = run("ci/check-pr.sh", &["HEAD~1", "HEAD"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    assert!(stdout(&refused).contains("3/g/gated"), "{}", stdout(&refused));
}
