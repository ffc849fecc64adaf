//! Cargo itself as a client of our mirrors: real `.crate` files from this
//! machine's Cargo cache are indexed with `index add` into an upstream in
//! the crates.io format, mirrored with `mirror create`, and a tiny real
//! project that uses them is locked, fetched and built by Cargo — once from
//! the mirror served as a sparse registry by nginx on 127.0.0.1, once as a
//! Cargo local registry with no server at all.
//!
//! Cargo never reaches crates.io: `[source.crates-io] replace-with` sends
//! every request to the mirror, and CARGO_HOME is a fresh directory.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::fixture::{assert_ok, market};
use support::servers::StaticServer;

/// The crates of the test project and what they pull in: normal
/// dependencies (lock_api → scopeguard), a build dependency (num-traits →
/// autocfg), renamed optional ones (`core` = rustc-std-workspace-core),
/// `dep:` features (memchr), links-free, small.
const CRATES: [&str; 8] = [
    "itoa",
    "memchr",
    "cfg-if",
    "smallvec",
    "num-traits",
    "autocfg",
    "lock_api",
    "scopeguard",
];

const MAIN_RS: &str = r#"
fn main() {
    let mut buffer = itoa::Buffer::new();
    let printed = buffer.format(4242u64).to_owned();
    let found = memchr::memchr(b'2', printed.as_bytes());
    let mut small: smallvec::SmallVec<[u8; 4]> = smallvec::SmallVec::new();
    small.extend_from_slice(printed.as_bytes());
    let zero: u32 = num_traits::Zero::zero();
    let guard_size = std::mem::size_of::<lock_api::GuardNoSend>();
    cfg_if::cfg_if! {
        if #[cfg(unix)] { let os = "unix"; } else { let os = "other"; }
    }
    println!("{printed} {found:?} {} {zero} {guard_size} {os}", small.len());
}
"#;

/// The newest `.crate` of each of [`CRATES`] in Cargo's download cache, in
/// that order.
fn cached_crates() -> Vec<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").expect("HOME is set")).join(".cargo"));
    let cache = cargo_home.join("registry/cache");
    let files: Vec<PathBuf> = fs::read_dir(&cache)
        .unwrap_or_else(|e| {
            panic!(
                "no Cargo download cache at {}: {e}; build this repository once",
                cache.display()
            )
        })
        .flat_map(|registry| fs::read_dir(registry.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .collect();
    CRATES
        .iter()
        .map(|name| {
            files
                .iter()
                .filter_map(|path| {
                    let file = path.file_name()?.to_str()?;
                    let version = file.strip_prefix(&format!("{name}-"))?.strip_suffix(".crate")?;
                    Some((semver::Version::parse(version).ok()?, path.clone()))
                })
                .max()
                .unwrap_or_else(|| {
                    panic!(
                        "{name}-*.crate is not in {}: these tests need {CRATES:?} there (a `cargo fetch` of this repository puts them there)",
                        cache.display()
                    )
                })
                .1
        })
        .collect()
}

/// Runs Cargo on `project` with its own CARGO_HOME and target directory.
fn cargo(project: &Path, cargo_home: &Path, offline: bool, args: &[&str]) -> String {
    let binary = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let mut command = Command::new(&binary);
    let rustc = binary.with_file_name("rustc");
    if rustc.is_file() {
        command.env("RUSTC", rustc);
    }
    for inherited in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_REGISTRY_DEFAULT",
        "CARGO_HTTP_PROXY",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
    ] {
        command.env_remove(inherited);
    }
    let out = command
        .args(args)
        .current_dir(project)
        .env("CARGO_HOME", cargo_home)
        .env("CARGO_TARGET_DIR", project.join("target"))
        .env("CARGO_NET_OFFLINE", if offline { "true" } else { "false" })
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "cargo {args:?} in {} failed:\n{stderr}",
        project.display()
    );
    stderr
}

/// A project using every crate, with `.cargo/config.toml` replacing
/// crates.io by `source` (the lines of a `[source.mirror]` table).
fn project(dir: &Path, source: &str) -> PathBuf {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::create_dir_all(dir.join(".cargo")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"mirror-smoke\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\
         itoa = \"1\"\nmemchr = \"2\"\ncfg-if = \"1\"\nsmallvec = \"1\"\nnum-traits = \"0.2\"\nlock_api = \"0.4\"\n",
    )
    .unwrap();
    fs::write(dir.join("src/main.rs"), MAIN_RS).unwrap();
    fs::write(
        dir.join(".cargo/config.toml"),
        format!("[source.crates-io]\nreplace-with = \"mirror\"\n\n[source.mirror]\n{source}\n"),
    )
    .unwrap();
    dir.to_owned()
}

/// (name, version, checksum) of every registry package of a Cargo.lock.
fn locked(project: &Path) -> Vec<(String, String, String)> {
    let lock: toml::Table = toml::from_str(&fs::read_to_string(project.join("Cargo.lock")).unwrap()).unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let checksum = p.get("checksum")?.as_str()?.to_owned();
            Some((
                p["name"].as_str()?.to_owned(),
                p["version"].as_str()?.to_owned(),
                checksum,
            ))
        })
        .collect()
}

#[test]
fn cargo_locks_fetches_and_builds_from_a_sparse_mirror_and_from_a_local_registry() {
    let crates = cached_crates();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let home = root.join("ggen-home");

    // An upstream in the crates.io format, built from the .crate files.
    let upstream = root.join("upstream");
    assert_ok(&market(
        &home,
        &["index", "init", upstream.to_str().unwrap(), "--id", "io.example.crates"],
    ));
    let config_path = upstream.join("config.json");
    let mut config: Value = serde_json::from_str(&fs::read_to_string(&config_path).unwrap()).unwrap();
    config["dl"] = "crates/{crate}/{crate}-{version}.crate".into();
    fs::write(&config_path, config.to_string()).unwrap();
    let mut args = vec!["index".to_owned(), "add".to_owned(), upstream.display().to_string()];
    for (package, file) in CRATES.iter().zip(&crates) {
        let dest = upstream.join("crates").join(package).join(file.file_name().unwrap());
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(file, &dest).unwrap();
        args.push(dest.display().to_string());
    }
    args.push("--json".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let added: Value = serde_json::from_str(&assert_ok(&market(&home, &args))).unwrap();
    assert_eq!(added["added"].as_array().unwrap().len(), CRATES.len());
    assert_ok(&market(&home, &["index", "check", upstream.to_str().unwrap()]));
    let line = fs::read_to_string(upstream.join("me/mc/memchr")).unwrap();
    assert!(line.contains(r#""features2":{"#) && line.contains(r#""v":2"#), "{line}");
    assert!(line.contains(r#""package":"rustc-std-workspace-core""#), "{line}");

    // The mirror, served sparse by nginx, with an absolute dl for Cargo.
    let served = root.join("served");
    fs::create_dir_all(&served).unwrap();
    let nginx = StaticServer::start(&served);
    let base = format!("{}mirror/", nginx.url());
    let mirror_dir = served.join("mirror");
    let report: Value = serde_json::from_str(&assert_ok(&market(
        &home,
        &[
            "mirror",
            "create",
            mirror_dir.to_str().unwrap(),
            "--from",
            upstream.to_str().unwrap(),
            "--closure",
            "itoa,memchr,cfg-if,smallvec,num-traits,lock_api",
            "--base-url",
            &base,
            "--json",
        ],
    )))
    .unwrap();
    assert_eq!(report["versions"], CRATES.len(), "{report}");
    let missing: Vec<&str> = report["missing_dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        missing.contains(&"rustc-std-workspace-core"),
        "optional dependencies outside the upstream are reported: {missing:?}"
    );
    assert!(mirror_dir.join("crates/itoa").is_dir());
    assert_ok(&market(&home, &["mirror", "verify", mirror_dir.to_str().unwrap()]));

    let sparse = project(&root.join("sparse-project"), &format!("registry = \"sparse+{base}\""));
    let cargo_home = root.join("cargo-home-sparse");
    cargo(&sparse, &cargo_home, false, &["generate-lockfile"]);
    cargo(&sparse, &cargo_home, false, &["fetch"]);
    cargo(&sparse, &cargo_home, true, &["build", "--offline"]);
    let lock = locked(&sparse);
    assert_eq!(
        lock.len(),
        CRATES.len(),
        "the six, lock_api's scopeguard, num-traits' autocfg: {lock:?}"
    );
    let requests: Vec<String> = nginx.access_log_lines().into_iter().map(|l| l.path).collect();
    assert!(requests.iter().any(|p| p == "/mirror/config.json"), "{requests:?}");
    assert!(requests.iter().any(|p| p.ends_with(".crate")), "{requests:?}");
    let output = Command::new(sparse.join("target/debug/mirror-smoke")).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("4242 Some(1) 4 0"));

    // The same, as a Cargo local registry made from the Cargo.lock: no server.
    drop(nginx);
    let local_dir = root.join("local-registry");
    assert_ok(&market(
        &home,
        &[
            "mirror",
            "create",
            local_dir.to_str().unwrap(),
            "--from",
            upstream.to_str().unwrap(),
            "--lockfile",
            sparse.join("Cargo.lock").to_str().unwrap(),
            "--format",
            "cargo-local",
        ],
    ));
    assert!(local_dir.join("index/it/oa/itoa").is_file());
    assert_ok(&market(&home, &["mirror", "verify", local_dir.to_str().unwrap()]));
    let local = project(
        &root.join("local-project"),
        &format!("local-registry = \"{}\"", local_dir.display()),
    );
    let cargo_home = root.join("cargo-home-local");
    cargo(&local, &cargo_home, true, &["generate-lockfile"]);
    cargo(&local, &cargo_home, true, &["fetch"]);
    cargo(&local, &cargo_home, true, &["build", "--offline"]);
    assert_eq!(locked(&local), lock, "the same versions and checksums");
}
