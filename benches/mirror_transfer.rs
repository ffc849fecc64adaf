//! W7: mirror export and import of a synthetic mirror, side by side with
//! GNU tar on the same tree.
//!
//! The tree: 300 package archives of 20-500 KB (random bytes, as
//! incompressible as the gzip archives they stand for; sizes spread evenly
//! by a fixed seed), each with its package file at its shard path
//! (`io/.g/io.bench.pNNN`, one JSON line) and an owner-keys file under
//! `_keys/`, plus config.json: 901 files of about 78 MB.
//!
//! Timed in rounds, every case once per round so that a busy machine slows
//! them alike (median and range of GGEN_BENCH_RUNS rounds, default 5), the
//! tree in the page cache:
//! - `mirror::export` (in-process: walk, SHA-256 of every file in parallel,
//!   tar written with every file re-hashed, fsync, manifest beside it)
//!   against `tar -cf` (no hashing, no fsync);
//! - `mirror::import` into a new directory (in-process: manifest, every
//!   member hashed and checked, staging tree, fsync of every file and
//!   directory, rename) against `tar -xf`, and against `tar -xf` followed
//!   by `sync -f` (the same durability as ours);
//! - a delta of 3 changed files: export and import.
//!
//! MB/s is tree bytes (archives and index files) per wall second.
//!
//! Run: `cargo bench --bench mirror_transfer`. `GGEN_BENCH_RUNS` sets the
//! rounds; `GGEN_BENCH_TMP` where the scratch space goes (default the
//! system temp dir; the file system decides much of the time, so the output
//! names it).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use ggen_marketplace::format::name::index_path;
use ggen_marketplace::util::progress::NoProgress;
use ggen_marketplace::workflows::mirror::{ExportOptions, ImportOptions, export, import};

const ARCHIVES: usize = 300;
const MIN_SIZE: usize = 20 * 1024;
const MAX_SIZE: usize = 500 * 1024;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not and
    // only checks that the harness builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("mirror_transfer: run with `cargo bench --bench mirror_transfer`");
        return;
    }
    let runs = std::env::var("GGEN_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let scratch = match std::env::var_os("GGEN_BENCH_TMP") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("create the scratch directory");
    let root = scratch.path();
    let tree = root.join("mirror");
    let (files, bytes) = make_tree(&tree);
    let mb = bytes as f64 / 1e6;
    println!(
        "W7 mirror transfer: {files} files, {mb:.1} MB ({ARCHIVES} archives of {}-{} KB), scratch {} ({}), {runs} rounds",
        MIN_SIZE / 1024,
        MAX_SIZE / 1024,
        root.display(),
        file_system(root)
    );

    let usb = root.join("usb");
    fs::create_dir_all(&usb).unwrap();
    let ours_file = usb.join("mirror.tar");
    let tar_file = usb.join("plain.tar");
    let mut cases: Vec<(&str, Vec<Duration>)> = [
        "export (ours)",
        "tar -cf",
        "import (ours, fsync)",
        "tar -xf",
        "tar -xf + sync -f",
    ]
    .iter()
    .map(|name| (*name, Vec::new()))
    .collect();
    let options = ExportOptions {
        since: None,
        sign_key: None,
        now: SystemTime::now(),
    };
    for round in 0..runs {
        let into = |label: &str| root.join(format!("round{round}-{label}/mirror"));
        cases[0].1.push(timed(|| {
            export(&tree, &ours_file, &options, &NoProgress).expect("export");
        }));
        cases[1].1.push(timed(|| {
            run(Command::new("tar")
                .arg("-cf")
                .arg(&tar_file)
                .arg("-C")
                .arg(&tree)
                .arg("."));
        }));
        let ours_dir = into("ours");
        cases[2].1.push(timed(|| {
            import(&ours_file, &ours_dir, &ImportOptions::default(), &NoProgress).expect("import");
        }));
        let tar_dir = into("tar");
        fs::create_dir_all(&tar_dir).unwrap();
        cases[3].1.push(timed(|| {
            run(Command::new("tar").arg("-xf").arg(&tar_file).arg("-C").arg(&tar_dir));
        }));
        let synced_dir = into("tar-sync");
        fs::create_dir_all(&synced_dir).unwrap();
        cases[4].1.push(timed(|| {
            run(Command::new("tar").arg("-xf").arg(&tar_file).arg("-C").arg(&synced_dir));
            run(Command::new("sync").arg("-f").arg(&synced_dir));
        }));
        for dir in [ours_dir, tar_dir, synced_dir] {
            fs::remove_dir_all(dir.parent().unwrap()).unwrap();
        }
    }

    println!("| case | median s | range s | MB/s (median) |");
    println!("|---|---|---|---|");
    for (name, times) in &mut cases {
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "| {name} | {:.3} | {:.3}-{:.3} | {:.0} |",
            median.as_secs_f64(),
            times[0].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
            mb / median.as_secs_f64()
        );
    }

    // A delta: one archive added, one package file changed, one removed.
    let base = PathBuf::from(format!("{}.manifest.json", ours_file.display()));
    let air = root.join("air/mirror");
    import(&ours_file, &air, &ImportOptions::default(), &NoProgress).expect("import the base");
    fs::write(tree.join("archives/new.tar.gz"), random_bytes(250 * 1024, 7)).unwrap();
    fs::write(tree.join(index_path("io.bench.p001")), "{\"changed\":true}\n").unwrap();
    fs::remove_file(tree.join(index_path("io.bench.p002"))).unwrap();
    let delta_file = usb.join("delta.tar");
    let since = ExportOptions {
        since: Some(&base),
        ..options
    };
    let mut delta_export = Vec::new();
    let mut delta_import = Vec::new();
    let mut delta = None;
    for _ in 0..runs {
        delta_export.push(timed(|| {
            delta = Some(export(&tree, &delta_file, &since, &NoProgress).expect("delta export"));
        }));
        let target = root.join("delta-target/mirror");
        import(&ours_file, &target, &ImportOptions::default(), &NoProgress).expect("import the base");
        delta_import.push(timed(|| {
            import(&delta_file, &target, &ImportOptions::default(), &NoProgress).expect("delta import");
        }));
        fs::remove_dir_all(target.parent().unwrap()).unwrap();
    }
    delta_export.sort();
    delta_import.sort();
    let delta = delta.expect("at least one round");
    println!(
        "delta ({} files, {} bytes carried; {} files in the tree): export {:.3} s, import {:.3} s (medians; the import re-hashes the {} files it keeps)",
        delta.carried_files,
        delta.carried_bytes,
        delta.files,
        delta_export[runs / 2].as_secs_f64(),
        delta_import[runs / 2].as_secs_f64(),
        delta.files - delta.carried_files
    );
}

/// Writes the tree; returns its file count and bytes.
fn make_tree(tree: &Path) -> (usize, u64) {
    fs::create_dir_all(tree).unwrap();
    let config = "{\"dl\":\"archives/{crate}/{crate}-{version}.tar.gz\",\"id\":\"io.bench\"}\n";
    fs::write(tree.join("config.json"), config).unwrap();
    let mut bytes = config.len() as u64;
    let mut files = 1;
    for i in 0..ARCHIVES {
        let name = format!("io.bench.p{i:03}");
        // Sizes spread evenly over the range, in a shuffled order.
        let size = MIN_SIZE + (i * 7919 % ARCHIVES) * (MAX_SIZE - MIN_SIZE) / (ARCHIVES - 1);
        let archive = tree.join(format!("archives/{name}/{name}-1.0.0.tar.gz"));
        fs::create_dir_all(archive.parent().unwrap()).unwrap();
        fs::write(&archive, random_bytes(size, i as u64 + 1)).unwrap();
        let line = format!(
            "{{\"name\":\"{name}\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"{}\",\"features\":{{}},\"yanked\":false}}\n",
            "0".repeat(64)
        );
        let keys = "{\"key\":\"RWRlEYRWT2QoaMfnPGnOLmANabNxjYmV2qNKT2S7wnax4WYWa6Xkl+GX\"}\n";
        for (path, text) in [
            (tree.join(index_path(&name)), line.as_str()),
            (tree.join("_keys").join(index_path(&name)), keys),
        ] {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, text).unwrap();
            bytes += text.len() as u64;
        }
        bytes += size as u64;
        files += 3;
    }
    (files, bytes)
}

/// `len` bytes of xorshift64* output from `seed`: as incompressible as a
/// gzip archive.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn timed(work: impl FnOnce()) -> Duration {
    let started = Instant::now();
    work();
    started.elapsed()
}

fn run(command: &mut Command) {
    let status = command.status().expect("run a tool");
    assert!(status.success(), "{command:?}: {status}");
}

/// The file system type of `dir`, as `stat -f` names it.
fn file_system(dir: &Path) -> String {
    Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}
