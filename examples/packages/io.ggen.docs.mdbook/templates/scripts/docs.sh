#!/bin/sh
# Build, preview or check the {{ project_name }} book.
#
#   scripts/docs.sh build   write the HTML book to docs/book/
#   scripts/docs.sh serve   serve it on http://localhost:3000, rebuilding on change
#   scripts/docs.sh test    check the book builds and its Rust code samples compile
set -eu
cd "$(dirname "$0")/.."

if ! command -v mdbook >/dev/null 2>&1; then
    echo "docs.sh: mdbook not found; install it with: cargo install mdbook --locked" >&2
    exit 1
fi

case "${1:-build}" in
    build) mdbook build ;;
    serve) mdbook serve --open ;;
    test) mdbook build && mdbook test ;;
    *)
        echo "usage: scripts/docs.sh [build|serve|test]" >&2
        exit 2
        ;;
esac
