//! End-to-end tests: run the built binary as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_{{ project_name }}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn greets_by_name() {
    let out = run(&["greet", "Ada"], b"");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, Ada!\n");
}

#[test]
fn shouts() {
    let out = run(&["greet", "--shout"], b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO, WORLD!\n");
}

#[test]
fn counts_standard_input() {
    let out = run(&["count"], b"one two\nthree\n");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 3 14 -\n");
}

#[test]
fn a_missing_file_is_an_error() {
    let out = run(&["count", "does-not-exist.txt"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read does-not-exist.txt"),
        "{stderr}"
    );
}
