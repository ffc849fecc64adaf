#!/bin/sh
# Check that a fresh clone of {{ project_name }} builds, is formatted, lints
# clean and passes its tests. Run it once after cloning, and before pushing.
set -eu
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "bootstrap: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi

# With rustup, the first cargo command installs the toolchain and the
# components named in rust-toolchain.toml.
echo "bootstrap: fetching dependencies"
cargo fetch
echo "bootstrap: checking formatting"
cargo fmt --all -- --check
echo "bootstrap: linting"
cargo clippy --all-targets -- -D warnings
echo "bootstrap: testing"
cargo test
echo "bootstrap: {{ project_name }} is ready"
