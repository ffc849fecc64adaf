//! Publishing by pull request, end to end from the real binary: an index
//! made by `index init` in a bare repository served over smart HTTP with
//! push enabled (lighttpd + git http-backend on 127.0.0.1); an author
//! clones it, runs `new` and `publish --push`; the template's own CI script
//! gates each pushed branch exactly as CI would; the test merges; a
//! consumer syncs and installs. Then a yank, a deprecation, an owner change
//! and a key rotation, each through the gate and seen by the consumer.
//!
//! Oracles: git's own view of the repositories (branches, files), the
//! installed bytes against the package sources, the JSON Schemas for the
//! notice and owner-key lines the binary wrote, and exit codes.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::fixture::{assert_ok, assert_refused, command, isolate, throwaway_home};
use support::servers::{GitHttpServer, enable_http_push, git, init_bare_from_worktree, init_worktree};

/// The people and places of one scenario, all under one temp dir.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        World { _tmp: tmp, root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// `ggen-market ARGS` with `GGEN_HOME=homes/LABEL` and git's test
    /// environment (an author identity, no user config), from `root`.
    fn market(&self, home: &str, args: &[&str]) -> Output {
        command(&self.path(&format!("homes/{home}")), args)
            .current_dir(&self.root)
            .output()
            .unwrap()
    }

    /// A key pair made by `keygen --unencrypted`: (secret path, public path, id).
    fn keygen(&self, name: &str) -> (PathBuf, PathBuf, String) {
        let dir = self.path("keys");
        let out = self.market(
            "author",
            &[
                "keygen",
                "--unencrypted",
                "--out-dir",
                dir.to_str().unwrap(),
                "--name",
                name,
                "--json",
            ],
        );
        let made: Value = serde_json::from_str(&assert_ok(&out)).unwrap();
        (
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.pub")),
            made["key_id"].as_str().unwrap().to_owned(),
        )
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The gate run exactly as the template's CI runs it: `ci/check-pr.sh`
/// in a fresh clone, on the pushed branch merged state (`origin/main` vs
/// the branch).
fn ci_gate(ci: &Path, branch: &str) -> Output {
    git(ci, &["fetch", "--quiet", "origin"]);
    let mut cmd = Command::new(ci.join("ci/check-pr.sh"));
    isolate(&mut cmd, &throwaway_home())
        .current_dir(ci)
        .args(["origin/main", &format!("origin/{branch}")])
        .env("GGEN_MARKET", env!("CARGO_BIN_EXE_ggen-market"));
    cmd.output().unwrap()
}

/// Merges `branch` into main on the server, as a maintainer (or auto-merge) would.
fn merge(ci: &Path, branch: &str) {
    git(ci, &["checkout", "--quiet", "main"]);
    git(ci, &["merge", "--quiet", "--ff-only", &format!("origin/{branch}")]);
    git(ci, &["push", "--quiet", "origin", "main"]);
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(name);
    let schema: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn last_line(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn an_author_publishes_yanks_deprecates_and_rotates_keys_through_pull_requests() {
    let world = World::new();
    // The index: `index init`, committed, bare on a smart-HTTP server with push.
    let init = world.path("init");
    assert_ok(&world.market(
        "operator",
        &["index", "init", init.to_str().unwrap(), "--id", "io.acme.index"],
    ));
    init_worktree(&init);
    git(&init, &["add", "-A"]);
    git(&init, &["commit", "--quiet", "-m", "index init"]);
    let served = world.path("served");
    let bare = init_bare_from_worktree(&init, &served.join("index.git"));
    enable_http_push(&bare);
    let server = GitHttpServer::start(&served, true);
    let url = server.repo_url("index.git");
    let clone = world.path("clone");
    let ci = world.path("ci");
    git(&world.root, &["clone", "--quiet", &url, clone.to_str().unwrap()]);
    git(&world.root, &["clone", "--quiet", &url, ci.to_str().unwrap()]);
    let registry = format!("git+{url}");
    let (me, me_pub, me_id) = world.keygen("me");
    let (ci_key, ci_pub, ci_id) = world.keygen("ci");

    // new + publish --push: one branch on the server, gated by the template's CI.
    let web = world.path("web");
    assert_ok(&world.market("author", &["new", "io.acme.web", "--dir", web.to_str().unwrap()]));
    fs::write(web.join("templates/index.html.tmpl"), "<h1>{{ project_name }}</h1>\n").unwrap();
    let publish = |home: &str, key: &Path, extra: &[&str]| {
        let mut args = vec!["publish", web.to_str().unwrap(), "--index", clone.to_str().unwrap()];
        args.extend(["--key", key.to_str().unwrap()]);
        args.extend(extra);
        world.market(home, &args)
    };
    let out = assert_ok(&publish("author", &me, &["--push"]));
    assert!(
        out.contains("Archive committed at archives/io.acme.web/io.acme.web-0.1.0.tar.gz"),
        "{out}"
    );
    assert!(out.contains("The index's gate passes this change."), "{out}");
    let heads = git(&bare, &["for-each-ref", "--format=%(refname)", "refs/heads"]);
    assert!(heads.contains("refs/heads/publish/io.acme.web-0.1.0"), "{heads}");
    assert_eq!(
        git(&clone, &["status", "--porcelain"]),
        "",
        "the author's checkout is untouched"
    );
    let gate = ci_gate(&ci, "publish/io.acme.web-0.1.0");
    assert_eq!(code(&gate), Some(0), "{}", stdout(&gate));
    merge(&ci, "publish/io.acme.web-0.1.0");

    // A consumer installs it from the git index: line, owner key and archive
    // all come from the merged commit.
    let project = world.path("project");
    let reader = |args: &[&str]| {
        let mut all = vec!["--registry", registry.as_str()];
        all.extend_from_slice(args);
        world.market("consumer", &all)
    };
    let consumer = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--project", project.to_str().unwrap()]);
        reader(&all)
    };
    let out = assert_ok(&consumer(&["add", "io.acme.web"]));
    assert!(out.contains(&format!("io.acme.web 0.1.0 (signed by {me_id})")), "{out}");
    let installed = world.path("homes/consumer/packages/io.acme.web-0.1.0");
    assert_eq!(
        fs::read(installed.join("templates/index.html.tmpl")).unwrap(),
        fs::read(web.join("templates/index.html.tmpl")).unwrap()
    );
    assert_ok(&consumer(&["verify"]));

    // 0.2.0, then a signed yank of 0.1.0.
    git(&clone, &["pull", "--quiet", "--ff-only"]);
    fs::write(
        web.join("ggen.toml"),
        fs::read_to_string(web.join("ggen.toml"))
            .unwrap()
            .replace("0.1.0", "0.2.0"),
    )
    .unwrap();
    assert_ok(&publish("author", &me, &["--push"]));
    assert_eq!(code(&ci_gate(&ci, "publish/io.acme.web-0.2.0")), Some(0));
    merge(&ci, "publish/io.acme.web-0.2.0");
    git(&clone, &["pull", "--quiet", "--ff-only"]);
    let yank = |extra: &[&str]| {
        let mut args = vec!["yank", "io.acme.web@0.1.0", "--index", clone.to_str().unwrap()];
        args.extend(extra);
        world.market("author", &args)
    };
    // Without an owner's signature the gate asks for review (exit 3).
    let unsigned = yank(&["--dry-run"]);
    assert_eq!(code(&unsigned), Some(3), "{}", stdout(&unsigned));
    assert!(stdout(&unsigned).contains("unsigned_yank"), "{}", stdout(&unsigned));
    assert_ok(&yank(&["--key", me.to_str().unwrap(), "--push"]));
    assert_eq!(code(&ci_gate(&ci, "yank/io.acme.web-0.1.0")), Some(0));
    merge(&ci, "yank/io.acme.web-0.1.0");
    let notice = last_line(&ci.join("_notices/io/.a/io.acme.web"));
    assert!(schema("notice.schema.json").is_valid(&notice), "{notice}");
    assert_ok(&reader(&["sync"]));
    let info: Value = serde_json::from_str(&assert_ok(&reader(&["info", "io.acme.web", "--json"]))).unwrap();
    assert_eq!(info["versions"][1]["version"], "0.1.0");
    assert_eq!(info["versions"][1]["yanked"], true);
    // The lock still installs the yanked version; a new resolution never picks it.
    fs::remove_dir_all(world.path("homes/consumer/packages")).unwrap();
    assert_ok(&consumer(&["install", "--locked"]));
    assert!(installed.is_dir());
    let fresh = world.path("fresh-project");
    let out = reader(&[
        "add",
        "io.acme.web@=0.1.0",
        "--dry-run",
        "--project",
        fresh.to_str().unwrap(),
    ]);
    assert_refused(&out, &["io.acme.web"]);

    // A deprecation: shown by info, search and install.
    git(&clone, &["pull", "--quiet", "--ff-only"]);
    let out = world.market(
        "author",
        &[
            "deprecate",
            "io.acme.web",
            "--message",
            "use io.acme.site",
            "--index",
            clone.to_str().unwrap(),
        ]
        .into_iter()
        .chain(["--key", me.to_str().unwrap(), "--push"])
        .collect::<Vec<_>>(),
    );
    assert_ok(&out);
    assert_eq!(code(&ci_gate(&ci, "deprecate/io.acme.web")), Some(0));
    merge(&ci, "deprecate/io.acme.web");
    assert_ok(&reader(&["sync"]));
    let info: Value = serde_json::from_str(&assert_ok(&reader(&["info", "io.acme.web", "--json"]))).unwrap();
    assert_eq!(info["deprecated"]["message"], "use io.acme.site");
    assert_eq!(info["deprecated"]["signer"], me_id.as_str());
    let search: Value = serde_json::from_str(&assert_ok(&reader(&["search", "acme", "--json"]))).unwrap();
    assert_eq!(search["hits"][0]["deprecated"]["message"], "use io.acme.site");
    let install = consumer(&["install"]);
    assert_ok(&install);
    assert!(String::from_utf8_lossy(&install.stderr).contains("io.acme.web is deprecated: use io.acme.site"));

    // Key rotation: `me` vouches for `ci`, then withdraws itself.
    git(&clone, &["pull", "--quiet", "--ff-only"]);
    let owner = |verb: &str, pubkey: &Path, key: &Path| {
        world.market(
            "author",
            &[
                "owner",
                verb,
                "io.acme.web",
                pubkey.to_str().unwrap(),
                "--index",
                clone.to_str().unwrap(),
            ]
            .into_iter()
            .chain(["--key", key.to_str().unwrap(), "--push"])
            .collect::<Vec<_>>(),
        )
    };
    // An owner change signed by a key that is not an owner is refused locally.
    let (stranger, _, _) = world.keygen("stranger");
    let refused = owner("add", &ci_pub, &stranger);
    assert_refused(&refused, &["unvouched_owner_change", "no branch was made"]);
    assert_ok(&owner("add", &ci_pub, &me));
    let branch = format!("owner-add/io.acme.web-{ci_id}");
    assert_eq!(code(&ci_gate(&ci, &branch)), Some(0));
    merge(&ci, &branch);
    git(&clone, &["pull", "--quiet", "--ff-only"]);
    assert_ok(&owner("remove", &me_pub, &me));
    let branch = format!("owner-remove/io.acme.web-{me_id}");
    assert_eq!(code(&ci_gate(&ci, &branch)), Some(0));
    merge(&ci, &branch);
    let owners_file = ci.join("_keys/io/.a/io.acme.web");
    let owner_keys = schema("owner-keys.schema.json");
    for line in fs::read_to_string(&owners_file).unwrap().lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        assert!(owner_keys.is_valid(&line), "{line}");
    }
    git(&clone, &["pull", "--quiet", "--ff-only"]);
    let listed: Value = serde_json::from_str(&assert_ok(&world.market(
        "author",
        &[
            "owner",
            "list",
            "io.acme.web",
            "--index",
            clone.to_str().unwrap(),
            "--json",
        ],
    )))
    .unwrap();
    let active: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["active"] == true)
        .map(|l| l["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(active, [ci_id.as_str()]);

    // The withdrawn key can no longer publish; the new one can, and a
    // consumer that pinned the old key follows the vouch.
    fs::write(
        web.join("ggen.toml"),
        fs::read_to_string(web.join("ggen.toml"))
            .unwrap()
            .replace("0.2.0", "0.3.0"),
    )
    .unwrap();
    assert_refused(&publish("author", &me, &["--dry-run"]), &["signature_refused", &me_id]);
    assert_ok(&publish("author", &ci_key, &["--push"]));
    assert_eq!(code(&ci_gate(&ci, "publish/io.acme.web-0.3.0")), Some(0));
    merge(&ci, "publish/io.acme.web-0.3.0");
    assert_ok(&reader(&["sync"]));
    let out = assert_ok(&consumer(&["add", "io.acme.web@^0.3"]));
    assert!(out.contains(&format!("io.acme.web 0.3.0 (signed by {ci_id})")), "{out}");
    let pins = fs::read_to_string(world.path("homes/consumer/trust/pins.json")).unwrap();
    assert!(
        pins.contains(&me_id) && pins.contains(&ci_id),
        "the vouched key is pinned too: {pins}"
    );
    assert_ok(&consumer(&["verify"]));
}

/// A base index with one published package, in a plain repository.
struct Base {
    world: World,
    repo: PathBuf,
    key: PathBuf,
}

impl Base {
    fn new() -> Base {
        let world = World::new();
        let repo = world.path("index");
        assert_ok(&world.market(
            "operator",
            &["index", "init", repo.to_str().unwrap(), "--id", "io.gate.test"],
        ));
        init_worktree(&repo);
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "--quiet", "-m", "init"]);
        let (key, _, _) = world.keygen("owner");
        let base = Base { world, repo, key };
        let web = base.package("io.gate.web", "1.0.0", &[], "MIT");
        let out = base.world.market(
            "author",
            &["publish", web.to_str().unwrap(), "--index", base.repo.to_str().unwrap()]
                .into_iter()
                .chain(["--key", base.key.to_str().unwrap(), "--branch", "first"])
                .collect::<Vec<_>>(),
        );
        assert_ok(&out);
        git(&base.repo, &["merge", "--quiet", "--ff-only", "first"]);
        base
    }

    /// A package directory with a manifest and one template.
    fn package(&self, name: &str, version: &str, deps: &[(&str, &str)], license: &str) -> PathBuf {
        let dir = self.world.path(&format!("src/{name}-{version}"));
        fs::create_dir_all(dir.join("templates")).unwrap();
        let mut manifest = format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"Templates\"\nlicense = \"{license}\"\n\n[dependencies]\n"
        );
        for (dep, req) in deps {
            manifest.push_str(&format!("\"{dep}\" = \"{req}\"\n"));
        }
        fs::write(dir.join("ggen.toml"), manifest).unwrap();
        fs::write(dir.join("templates/a.tmpl"), format!("{name} {version}\n")).unwrap();
        dir
    }

    /// A new branch from main, edited by `edit` (in the work tree) and
    /// committed with plain git; returns the gate's exit code and report.
    fn pull_request(&self, branch: &str, edit: impl FnOnce(&Path)) -> (Option<i32>, Value) {
        git(&self.repo, &["checkout", "--quiet", "-B", branch, "main"]);
        edit(&self.repo);
        git(&self.repo, &["add", "-A"]);
        git(&self.repo, &["commit", "--quiet", "--allow-empty", "-m", branch]);
        git(&self.repo, &["checkout", "--quiet", "main"]);
        let out = self.world.market(
            "ci",
            &[
                "index",
                "check",
                self.repo.to_str().unwrap(),
                "--base",
                "main",
                "--head",
                branch,
                "--json",
            ],
        );
        (
            code(&out),
            serde_json::from_str(&stdout(&out)).unwrap_or_else(|_| panic!("{out:?}")),
        )
    }

    /// A line and its archive for `dir`'s package, as `publish --dry-run`
    /// would write them, from a scratch copy of the index: (line, archive).
    fn signed_line(&self, dir: &Path, key: &Path) -> (String, Vec<u8>) {
        let scratch = self.world.path(&format!("scratch-{}", rand_suffix()));
        git(
            &self.world.root,
            &[
                "clone",
                "--quiet",
                self.repo.to_str().unwrap(),
                scratch.to_str().unwrap(),
            ],
        );
        let out = self.world.market(
            "author",
            &["publish", dir.to_str().unwrap(), "--index", scratch.to_str().unwrap()]
                .into_iter()
                .chain(["--key", key.to_str().unwrap(), "--branch", "scratch", "--json"])
                .collect::<Vec<_>>(),
        );
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|_| panic!("{out:?}"));
        let name = report["name"].as_str().unwrap();
        let version = report["version"].as_str().unwrap();
        git(&scratch, &["checkout", "--quiet", "scratch"]);
        let file = scratch.join(ggen_marketplace::format::name::index_path(name));
        let line = fs::read_to_string(file).unwrap().lines().last().unwrap().to_owned();
        let archive = fs::read(scratch.join(format!("archives/{name}/{name}-{version}.tar.gz"))).unwrap();
        (line, archive)
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}

fn append(path: &Path, line: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = fs::read_to_string(path).unwrap_or_default();
    text.push_str(line);
    text.push('\n');
    fs::write(path, text).unwrap();
}

fn kinds(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_rule_of_the_gate_refuses_a_hand_made_pull_request_that_breaks_it() {
    let base = Base::new();
    let web_file = |repo: &Path| repo.join("io/.g/io.gate.web");
    let archive_of = |name: &str, version: &str| format!("archives/{name}/{name}-{version}.tar.gz");
    let (stranger, _, _) = base.world.keygen("stranger");

    // A clean pull request passes: the next version, signed, with its archive.
    let next = base.package("io.gate.web", "1.1.0", &[], "MIT");
    let (line, archive) = base.signed_line(&next, &base.key);
    let (exit, report) = base.pull_request("clean", |repo| {
        append(&web_file(repo), &line);
        fs::write(repo.join(archive_of("io.gate.web", "1.1.0")), &archive).unwrap();
    });
    assert_eq!((exit, kinds(&report)), (Some(0), Vec::<String>::new()), "{report}");
    assert_eq!(report["new_versions"][0]["version"], "1.1.0");

    let expect = |branch: &str, wanted_code: i32, kind: &str, edit: &dyn Fn(&Path)| {
        let (exit, report) = base.pull_request(branch, edit);
        assert_eq!(exit, Some(wanted_code), "{branch}: {report}");
        assert!(
            kinds(&report).iter().any(|k| k == kind),
            "{branch}: expected {kind} in {report}"
        );
    };
    let with_archive = |line: &str, archive: &[u8], name: &str, version: &str| {
        let line = line.to_owned();
        let archive = archive.to_vec();
        let path = archive_of(name, version);
        let file = ggen_marketplace::format::name::index_path(name);
        move |repo: &Path| {
            append(&repo.join(&file), &line);
            fs::create_dir_all(repo.join(&path).parent().unwrap()).unwrap();
            fs::write(repo.join(&path), &archive).unwrap();
        }
    };

    expect("unexpected-file", 1, "unexpected_file", &|repo| {
        fs::write(repo.join("NOTES.md"), "hi\n").unwrap()
    });
    expect("config", 3, "config_changed", &|repo| {
        let text = fs::read_to_string(repo.join("config.json")).unwrap();
        fs::write(repo.join("config.json"), text.replace("\"optional\"", "\"required\"")).unwrap();
    });
    expect("deleted", 1, "file_deleted", &|repo| {
        fs::remove_file(web_file(repo)).unwrap()
    });
    expect("rewritten", 1, "line_rewritten", &|repo| {
        let text = fs::read_to_string(web_file(repo)).unwrap();
        fs::write(web_file(repo), text.replace("\"Templates\"", "\"Other\"")).unwrap();
    });
    expect("unsigned-yank", 3, "unsigned_yank", &|repo| {
        let text = fs::read_to_string(web_file(repo)).unwrap();
        fs::write(web_file(repo), text.replace("\"yanked\":false", "\"yanked\":true")).unwrap();
    });
    // Cargo reads upper case; publishing refuses it.
    let (clean_line, _) = base.signed_line(&next, &base.key);
    let bad_name = clean_line.replace("\"io.gate.web\"", "\"Io.Gate.Loud\"");
    expect("bad-name", 1, "invalid_new_name", &|repo| {
        append(&repo.join("io/.g/io.gate.loud"), &bad_name)
    });
    let confusable = base.package("io.gate.wed", "0.1.0", &[], "MIT");
    let (line, archive) = base.signed_line_unchecked(&confusable, &base.key);
    expect(
        "confusable",
        1,
        "confusable_name",
        &with_archive(&line, &archive, "io.gate.wed", "0.1.0"),
    );
    expect("duplicate", 1, "duplicate_version", &|repo| {
        let first = fs::read_to_string(web_file(repo))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned();
        append(&web_file(repo), &first);
    });
    let skip = base.package("io.gate.web", "3.0.0", &[], "MIT");
    let (line, archive) = base.signed_line(&skip, &base.key);
    expect(
        "skip",
        3,
        "version_skip",
        &with_archive(&line, &archive, "io.gate.web", "3.0.0"),
    );
    let (line, archive) = base.signed_line_unchecked(&next, &stranger);
    expect(
        "stranger",
        1,
        "signature_refused",
        &with_archive(&line, &archive, "io.gate.web", "1.1.0"),
    );
    let owners = |repo: &Path| repo.join("_keys/io/.g/io.gate.web");
    let stranger_pub = fs::read_to_string(base.world.path("keys/stranger.pub")).unwrap();
    let stranger_line = format!("{{\"key\":\"{}\"}}", stranger_pub.lines().nth(1).unwrap());
    expect("owner", 1, "unvouched_owner_change", &|repo| {
        append(&owners(repo), &stranger_line)
    });
    expect("notice", 1, "unsigned_notice", &|repo| {
        append(
            &repo.join("_notices/io/.g/io.gate.web"),
            r#"{"package":"io.gate.web","action":"deprecate","message":"gone"}"#,
        )
    });
    let (line, archive) = base.signed_line(&next, &base.key);
    expect("no-archive", 1, "archive_missing", &|repo| {
        append(&web_file(repo), &line)
    });
    expect(
        "wrong-archive",
        1,
        "archive_checksum",
        &with_archive(&line, b"not the archive", "io.gate.web", "1.1.0"),
    );
    let unsafe_archive = hostile_archive("io.gate.web", "1.1.0");
    let unsafe_line = resign(&base, &line, &unsafe_archive, |_| {});
    expect(
        "unsafe",
        1,
        "archive_unsafe",
        &with_archive(&unsafe_line, &unsafe_archive, "io.gate.web", "1.1.0"),
    );
    let mismatched = resign(&base, &line, &archive, |entry| {
        entry["deps"] = serde_json::json!([{"name":"io.gate.web","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}]);
    });
    expect(
        "mismatch",
        1,
        "archive_mismatch",
        &with_archive(&mismatched, &archive, "io.gate.web", "1.1.0"),
    );
    let missing_dep = resign(&base, &clean_line, &archive, |entry| {
        entry["deps"] = serde_json::json!([{"name":"io.gate.nope","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}]);
    });
    expect(
        "missing-dep",
        1,
        "missing_dependency",
        &with_archive(&missing_dep, &archive, "io.gate.web", "1.1.0"),
    );
    let unresolvable = base.package("io.gate.app", "0.1.0", &[("io.gate.web", "^7")], "MIT");
    let (line, archive) = base.signed_line_unchecked(&unresolvable, &base.key);
    expect(
        "unresolvable",
        1,
        "unresolvable",
        &with_archive(&line, &archive, "io.gate.app", "0.1.0"),
    );
    let bad_license = base.package("io.gate.web", "1.1.0", &[], "Proprietary-ish licence");
    let (line, archive) = base.signed_line_unchecked(&bad_license, &base.key);
    expect(
        "license",
        1,
        "invalid_license",
        &with_archive(&line, &archive, "io.gate.web", "1.1.0"),
    );
    let no_description = base.package("io.gate.web", "1.1.0", &[], "MIT");
    let manifest = fs::read_to_string(no_description.join("ggen.toml")).unwrap();
    fs::write(
        no_description.join("ggen.toml"),
        manifest.replace("description = \"Templates\"\n", ""),
    )
    .unwrap();
    let (line, archive) = base.signed_line_unchecked(&no_description, &base.key);
    expect(
        "description",
        1,
        "missing_description",
        &with_archive(&line, &archive, "io.gate.web", "1.1.0"),
    );

    // --format github: annotations on the PR's lines.
    let out = base.world.market(
        "ci",
        &[
            "index",
            "check",
            base.repo.to_str().unwrap(),
            "--base",
            "main",
            "--head",
            "stranger",
            "--format",
            "github",
        ],
    );
    assert_eq!(code(&out), Some(1));
    assert!(
        stdout(&out).contains("::error file=io/.g/io.gate.web,line=2,title=signature_refused::"),
        "{}",
        stdout(&out)
    );
}

impl Base {
    /// Like [`Base::signed_line`], for packages `publish` itself refuses
    /// (its local gate): the line `index add --sign-key` writes instead.
    fn signed_line_unchecked(&self, dir: &Path, key: &Path) -> (String, Vec<u8>) {
        let scratch = self.world.path(&format!("scratch-{}", rand_suffix()));
        git(
            &self.world.root,
            &[
                "clone",
                "--quiet",
                self.repo.to_str().unwrap(),
                scratch.to_str().unwrap(),
            ],
        );
        let out_dir = self.world.path(&format!("packed-{}", rand_suffix()));
        let packed: Value = serde_json::from_str(&assert_ok(&self.world.market(
            "author",
            &[
                "package",
                dir.to_str().unwrap(),
                "--out",
                out_dir.to_str().unwrap(),
                "--json",
            ],
        )))
        .unwrap();
        let archive_path = packed["path"].as_str().unwrap();
        let added: Value = serde_json::from_str(&assert_ok(
            &self.world.market(
                "author",
                &["index", "add", scratch.to_str().unwrap(), archive_path, "--json"]
                    .into_iter()
                    .chain(["--sign-key", key.to_str().unwrap()])
                    .collect::<Vec<_>>(),
            ),
        ))
        .unwrap();
        let file = scratch.join(added["added"][0]["file"].as_str().unwrap());
        let line = fs::read_to_string(file).unwrap().lines().last().unwrap().to_owned();
        (line, fs::read(archive_path).unwrap())
    }
}

/// `line` with `cksum` set to `archive`'s SHA-256 and `edit` applied,
/// signed again by the base's key (with `ggen-market sign` on a scratch index).
fn resign(base: &Base, line: &str, archive: &[u8], edit: impl FnOnce(&mut Value)) -> String {
    use sha2::{Digest, Sha256};
    let mut entry: Value = serde_json::from_str(line).unwrap();
    entry.as_object_mut().unwrap().remove("sig");
    entry["cksum"] = Sha256::digest(archive)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into();
    edit(&mut entry);
    let scratch = base.world.path(&format!("resign-{}", rand_suffix()));
    fs::create_dir_all(&scratch).unwrap();
    fs::write(
        scratch.join("config.json"),
        r#"{"dl":"archives/{crate}/{crate}-{version}.tar.gz"}"#,
    )
    .unwrap();
    let name = entry["name"].as_str().unwrap().to_owned();
    let version = entry["vers"].as_str().unwrap().to_owned();
    let file = scratch.join(ggen_marketplace::format::name::index_path(&name));
    append(&file, &entry.to_string());
    assert_ok(&base.world.market(
        "author",
        &[
            "sign",
            "--key",
            base.key.to_str().unwrap(),
            scratch.to_str().unwrap(),
            &format!("{name}@{version}"),
        ],
    ));
    fs::read_to_string(file).unwrap().lines().next().unwrap().to_owned()
}

/// A .tar.gz with the package's manifest and an entry that climbs out.
fn hostile_archive(name: &str, version: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let manifest =
        format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"x\"\nlicense = \"MIT\"\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, format!("{name}-{version}/ggen.toml"), manifest.as_bytes())
        .unwrap();
    let evil = b"pwned\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(evil.len() as u64);
    header.set_mode(0o644);
    let path = format!("{name}-{version}/../../evil.txt");
    header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_cksum();
    builder.append(&header, &evil[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

#[test]
fn an_entry_signed_with_the_minisign_cli_passes_the_gate() {
    let base = Base::new();
    let keys = base.world.path("minisign");
    fs::create_dir_all(&keys).unwrap();
    let (public, secret) = (keys.join("mini.pub"), keys.join("mini.key"));
    let minisign = |args: &[&str]| {
        let out = Command::new("minisign")
            .args(args)
            .output()
            .expect("the minisign CLI is installed");
        assert!(
            out.status.success(),
            "minisign {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    minisign(&[
        "-G",
        "-W",
        "-p",
        public.to_str().unwrap(),
        "-s",
        secret.to_str().unwrap(),
    ]);
    let public_line = fs::read_to_string(&public).unwrap().lines().nth(1).unwrap().to_owned();
    // A new package whose first owner is the minisign key; its line is
    // written unsigned, then signed with minisign over `info --canonical`.
    let dir = base.package("io.gate.mini", "0.1.0", &[], "Apache-2.0");
    let out_dir = base.world.path("packed-mini");
    let packed: Value = serde_json::from_str(&assert_ok(&base.world.market(
        "author",
        &[
            "package",
            dir.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--json",
        ],
    )))
    .unwrap();
    let (exit, report) = base.pull_request("minisign", |repo| {
        assert_ok(&base.world.market(
            "author",
            &["index", "add", repo.to_str().unwrap(), packed["path"].as_str().unwrap()],
        ));
        append(
            &repo.join("_keys/io/.g/io.gate.mini"),
            &format!("{{\"key\":\"{public_line}\"}}"),
        );
        // A plain copy of the work tree (a git path would be read at HEAD).
        let plain = keys.join("plain");
        git(
            repo,
            &["checkout-index", "--all", &format!("--prefix={}/", plain.display())],
        );
        for file in ["config.json", "io/.g/io.gate.mini"] {
            fs::create_dir_all(plain.join(file).parent().unwrap()).unwrap();
            fs::copy(repo.join(file), plain.join(file)).unwrap();
        }
        let canonical = base.world.market(
            "author",
            &[
                "--registry",
                plain.to_str().unwrap(),
                "info",
                "--canonical",
                "io.gate.mini@0.1.0",
            ],
        );
        assert_ok(&canonical);
        let message = keys.join("message");
        fs::write(&message, &canonical.stdout).unwrap();
        let signature = keys.join("message.minisig");
        minisign(&[
            "-S",
            "-s",
            secret.to_str().unwrap(),
            "-m",
            message.to_str().unwrap(),
            "-x",
            signature.to_str().unwrap(),
        ]);
        let file = repo.join("io/.g/io.gate.mini");
        let mut entry: Value = serde_json::from_str(fs::read_to_string(&file).unwrap().trim()).unwrap();
        entry["sig"] = fs::read_to_string(&signature).unwrap().into();
        fs::write(&file, format!("{entry}\n")).unwrap();
    });
    assert_eq!((exit, kinds(&report)), (Some(0), Vec::<String>::new()), "{report}");
}
