//! `ggen-market keygen` and `sign`, run as a binary, checked against the
//! `minisign` CLI (apt `minisign`) as an independent implementation: keys
//! and signatures must work both ways.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ggen_marketplace::format::canonical::canonical_form;
use ggen_marketplace::format::{IndexConfig, IndexEntry, SignaturePolicy};
use ggen_marketplace::trust::{AllowedKeys, KeyId, OwnerKeys, PublicKey, TrustError, Verified, verify_entry};
use support::fixture::{command, throwaway_home};

const CKSUM: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const PASSWORD: &str = "interop password";

fn entry_line(vers: &str, deps: &str) -> String {
    format!(r#"{{"name":"demo","vers":"{vers}","deps":[{deps}],"cksum":"{CKSUM}","features":{{}},"yanked":false}}"#)
}

fn base_dep() -> &'static str {
    r#"{"name":"base","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}"#
}

/// A fresh index made by `index init`, holding package `demo` with two
/// versions and, if given, an owner-keys file for it.
struct Index {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Index {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("index");
        let out = ggen(&["index", "init", root.to_str().unwrap()], &[]);
        assert_success(&out);
        std::fs::create_dir_all(root.join("de/mo")).unwrap();
        let text = format!("{}\n{}\n", entry_line("1.0.0", base_dep()), entry_line("1.1.0", ""));
        std::fs::write(root.join("de/mo/demo"), text).unwrap();
        Index { _dir: dir, root }
    }

    fn demo_file(&self) -> String {
        std::fs::read_to_string(self.root.join("de/mo/demo")).unwrap()
    }

    fn demo_line(&self, vers: &str) -> String {
        let wanted = format!(r#""vers":"{vers}""#);
        self.demo_file()
            .lines()
            .find(|l| l.contains(&wanted))
            .unwrap()
            .to_owned()
    }

    fn allow(&self, key: &PublicKey) {
        let path = self.root.join("_keys/de/mo/demo");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            path,
            format!("{{\"key\":\"{}\",\"id\":\"{}\"}}\n", key.base64(), key.id()),
        )
        .unwrap();
    }

    /// Verifies a line with this index's config (made `required`) and owner keys.
    fn verify(&self, line: &str) -> Result<Verified, TrustError> {
        let mut config =
            IndexConfig::from_json(&std::fs::read_to_string(self.root.join("config.json")).unwrap()).unwrap();
        config.signatures = SignaturePolicy::Required;
        let owners_text = std::fs::read_to_string(self.root.join("_keys/de/mo/demo")).unwrap_or_default();
        let owners = OwnerKeys::parse("_keys/de/mo/demo", &owners_text).unwrap();
        let allowed = AllowedKeys::new("demo", &config, owners).unwrap();
        verify_entry(line, &IndexEntry::from_line(line).unwrap(), &allowed)
    }

    fn sign(&self, key: &Path, targets: &[&str], env: &[(&str, &str)]) -> Output {
        let mut args = vec!["sign", "--key", key.to_str().unwrap(), self.root.to_str().unwrap()];
        args.extend_from_slice(targets);
        ggen(&args, env)
    }
}

/// The isolated binary (no home unless `env` names one) with `env` on top.
fn ggen(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(&throwaway_home(), args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Runs the minisign CLI, feeding `stdin` (passwords) to it.
fn minisign(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("minisign")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the minisign CLI is needed for interop tests: apt-get install -y minisign");
    // minisign reads no password for some commands (e.g. -W) and may exit
    // before the write: a broken pipe is then expected, not a failure.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing to minisign: {e}"),
        _ => {}
    }
    child.wait_with_output().unwrap()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sig_of(line: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["sig"].as_str().expect("the line is signed").to_owned()
}

fn with_sig(line: &str, sig: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["sig"] = sig.into();
    value.to_string()
}

/// `minisign -V` on an entry line: its canonical form as the message, its
/// `sig` as the signature file.
fn minisign_verifies(dir: &Path, public_key_file: &Path, line: &str) -> bool {
    let message = dir.join("canonical.txt");
    let signature = dir.join("canonical.txt.minisig");
    std::fs::write(&message, canonical_form(line).unwrap()).unwrap();
    std::fs::write(&signature, sig_of(line)).unwrap();
    let out = minisign(
        &[
            "-V",
            "-p",
            public_key_file.to_str().unwrap(),
            "-m",
            message.to_str().unwrap(),
            "-x",
            signature.to_str().unwrap(),
        ],
        "",
    );
    out.status.success()
}

/// The key id minisign wrote in a `.pub` file's comment: an oracle for ours
/// (minisign drops leading zeros there; `KeyId` parsing pads them back).
fn id_in_minisign_comment(pub_file: &Path) -> KeyId {
    let text = std::fs::read_to_string(pub_file).unwrap();
    let comment = text.lines().next().unwrap();
    comment.rsplit(' ').next().unwrap().parse().unwrap()
}

fn add_dependency(line: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
    value["deps"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name":"evil","req":"*","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}));
    value.to_string()
}

#[test]
fn a_keygen_key_signs_and_minisign_verifies_the_entry() {
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    let out = ggen(
        &["keygen", "--json"],
        &[("GGEN_HOME", home_str), ("GGEN_KEY_PASSWORD", PASSWORD)],
    );
    assert_success(&out);
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret_file = PathBuf::from(made["secret_key_file"].as_str().unwrap());
    let public_file = PathBuf::from(made["public_key_file"].as_str().unwrap());
    assert_eq!(secret_file, home.path().join("keys/ggen.key"));
    assert_eq!(public_file, home.path().join("keys/ggen.pub"));
    let public = PublicKey::read_file(&public_file).unwrap();
    assert_eq!(made["key_id"], public.id().to_string());
    assert_eq!(made["public_key"], public.base64());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let index = Index::new();
    index.allow(&public);
    let before = index.demo_file();
    let out = index.sign(&secret_file, &["demo@1.0.0"], &[("GGEN_KEY_PASSWORD", PASSWORD)]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("demo@1.0.0 with key {}", public.id())));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // Only the signed line changed.
    let signed = index.demo_line("1.0.0");
    assert_eq!(
        index.demo_file().replace(&signed, &entry_line("1.0.0", base_dep())),
        before
    );

    // minisign agrees: the signature covers the canonical form...
    assert!(minisign_verifies(home.path(), &public_file, &signed));
    // ...and an added dependency is caught by minisign and by us.
    let tampered = add_dependency(&signed);
    assert!(!minisign_verifies(home.path(), &public_file, &tampered));
    assert!(matches!(
        index.verify(&tampered),
        Err(TrustError::InvalidSignature { .. })
    ));
    assert_eq!(index.verify(&signed).unwrap().key_id, Some(public.id()));

    // minisign signs with our encrypted key too, and we accept its signature.
    let message = home.path().join("m.txt");
    std::fs::write(&message, canonical_form(&index.demo_line("1.1.0")).unwrap()).unwrap();
    let out = minisign(
        &[
            "-S",
            "-s",
            secret_file.to_str().unwrap(),
            "-m",
            message.to_str().unwrap(),
            "-t",
            "demo@1.1.0",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert_success(&out);
    let sig = std::fs::read_to_string(home.path().join("m.txt.minisig")).unwrap();
    let line = with_sig(&index.demo_line("1.1.0"), &sig);
    assert_eq!(index.verify(&line).unwrap().key_id, Some(public.id()));
}

#[test]
fn an_unencrypted_keygen_key_works_with_minisign() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = ggen(
        &[
            "keygen",
            "--out-dir",
            keys.to_str().unwrap(),
            "--name",
            "ci",
            "--unencrypted",
        ],
        &[],
    );
    assert_success(&out);
    let index = Index::new();
    let out = index.sign(&keys.join("ci.key"), &["demo@1.1.0"], &[]);
    assert_success(&out);
    // The key is not listed for demo: signing works, with a warning.
    assert!(stderr(&out).contains("warning: key"), "{}", stderr(&out));
    assert!(stderr(&out).contains("_keys/de/mo/demo"));
    assert!(minisign_verifies(
        dir.path(),
        &keys.join("ci.pub"),
        &index.demo_line("1.1.0")
    ));

    // minisign signs with it without asking for a password.
    let message = dir.path().join("m.txt");
    std::fs::write(&message, "hello").unwrap();
    let out = minisign(
        &[
            "-S",
            "-s",
            keys.join("ci.key").to_str().unwrap(),
            "-m",
            message.to_str().unwrap(),
        ],
        "",
    );
    assert_success(&out);
}

#[test]
fn minisign_keys_sign_with_ggen_market_encrypted_or_not() {
    let dir = tempfile::tempdir().unwrap();
    for (name, flags, password) in [("enc", vec![], Some(PASSWORD)), ("plain", vec!["-W"], None)] {
        let (public_file, secret_file) = (
            dir.path().join(format!("{name}.pub")),
            dir.path().join(format!("{name}.key")),
        );
        let mut args = vec![
            "-G",
            "-p",
            public_file.to_str().unwrap(),
            "-s",
            secret_file.to_str().unwrap(),
        ];
        args.extend(flags);
        let out = minisign(&args, &format!("{PASSWORD}\n{PASSWORD}\n"));
        assert_success(&out);
        let public = PublicKey::read_file(&public_file).unwrap();
        assert_eq!(
            public.id(),
            id_in_minisign_comment(&public_file),
            "{name}: key id as minisign prints it"
        );

        let index = Index::new();
        index.allow(&public);
        let env: Vec<(&str, &str)> = password.map(|p| ("GGEN_KEY_PASSWORD", p)).into_iter().collect();
        let out = index.sign(&secret_file, &["demo@1.0.0", "demo@1.1.0"], &env);
        assert_success(&out);
        for vers in ["1.0.0", "1.1.0"] {
            let line = index.demo_line(vers);
            assert!(minisign_verifies(dir.path(), &public_file, &line), "{name} {vers}");
            assert_eq!(index.verify(&line).unwrap().key_id, Some(public.id()), "{name} {vers}");
        }
    }
}

#[test]
fn a_wrong_or_missing_password_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().to_str().unwrap();
    assert_success(&ggen(
        &["keygen", "--out-dir", keys],
        &[("GGEN_KEY_PASSWORD", PASSWORD)],
    ));
    let secret_file = dir.path().join("ggen.key");
    let index = Index::new();
    let before = index.demo_file();

    let out = index.sign(&secret_file, &["demo@1.0.0"], &[("GGEN_KEY_PASSWORD", "not it")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));

    let out = index.sign(&secret_file, &["demo@1.0.0"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("GGEN_KEY_PASSWORD"), "{}", stderr(&out));
    assert_eq!(index.demo_file(), before);
}

#[test]
fn minisign_signatures_over_the_canonical_message_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (public_file, secret_file) = (dir.path().join("k.pub"), dir.path().join("k.key"));
    assert_success(&minisign(
        &[
            "-G",
            "-W",
            "-p",
            public_file.to_str().unwrap(),
            "-s",
            secret_file.to_str().unwrap(),
        ],
        "",
    ));
    let index = Index::new();
    let public = PublicKey::read_file(&public_file).unwrap();
    index.allow(&public);

    let line = index.demo_line("1.0.0");
    let message = dir.path().join("canonical.txt");
    std::fs::write(&message, canonical_form(&line).unwrap()).unwrap();
    assert_success(&minisign(
        &[
            "-S",
            "-s",
            secret_file.to_str().unwrap(),
            "-m",
            message.to_str().unwrap(),
        ],
        "",
    ));
    let sig = std::fs::read_to_string(dir.path().join("canonical.txt.minisig")).unwrap();
    let signed = with_sig(&line, &sig);
    assert_eq!(
        index.verify(&signed).unwrap().key_id,
        Some(id_in_minisign_comment(&public_file))
    );

    // Yanking does not break it; a different cksum does.
    let yanked = signed.replace(r#""yanked":false"#, r#""yanked":true"#);
    assert!(index.verify(&yanked).is_ok());
    let recksummed = signed.replace(CKSUM, &"0".repeat(64));
    assert!(matches!(
        index.verify(&recksummed),
        Err(TrustError::InvalidSignature { .. })
    ));
}

#[test]
fn keygen_refuses_to_overwrite_and_to_prompt_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().to_str().unwrap();
    let out = ggen(&["keygen", "--out-dir", keys], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("GGEN_KEY_PASSWORD"), "{}", stderr(&out));
    assert!(!dir.path().join("ggen.key").exists());

    assert_success(&ggen(&["keygen", "--out-dir", keys, "--unencrypted"], &[]));
    let first = std::fs::read(dir.path().join("ggen.key")).unwrap();
    let out = ggen(&["keygen", "--out-dir", keys, "--unencrypted"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.path().join("ggen.key")).unwrap(), first);

    assert_success(&ggen(&["keygen", "--out-dir", keys, "--unencrypted", "--force"], &[]));
    assert_ne!(std::fs::read(dir.path().join("ggen.key")).unwrap(), first);
}

#[test]
fn sign_all_unsigned_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().to_str().unwrap();
    assert_success(&ggen(&["keygen", "--out-dir", keys, "--unencrypted"], &[]));
    let key = dir.path().join("ggen.key");
    let index = Index::new();

    let out = ggen(
        &["sign", "--key", key.to_str().unwrap(), index.root.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "neither versions nor --all-unsigned");

    let out = ggen(
        &[
            "sign",
            "--key",
            key.to_str().unwrap(),
            index.root.to_str().unwrap(),
            "--all-unsigned",
            "--json",
        ],
        &[],
    );
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["signed"].as_array().unwrap().len(), 2);
    let public = PublicKey::read_file(&dir.path().join("ggen.pub")).unwrap();
    assert_eq!(report["key_id"], public.id().to_string());
    for vers in ["1.0.0", "1.1.0"] {
        assert!(minisign_verifies(
            dir.path(),
            &dir.path().join("ggen.pub"),
            &index.demo_line(vers)
        ));
    }

    let out = index.sign(&key, &["demo@3.0.0"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("1.0.0, 1.1.0"), "{}", stderr(&out));
}
