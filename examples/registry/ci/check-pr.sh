#!/bin/sh
# The pull-request gate of this ggen-marketplace index: check only what a
# change between two commits does, with `ggen-market index check --base --head`.
#
#   ci/check-pr.sh BASE HEAD
#
# Exit status: 0 pass (may be merged without a person), 1 refused (a rule is
# broken), 3 needs review (legal, but a maintainer must look: a config.json
# change, a version that skips, a yank without its owner's signed notice),
# 2 usage error. BASE and HEAD are git revisions (commit ids, branches,
# tags). Any CI can call this script; it needs git and ggen-market (set
# GGEN_MARKET to use one that is not on PATH). GGEN_MARKET_FORMAT=github
# prints GitHub Actions annotations so findings show on the PR's lines.
set -eu

me=check-pr

usage() {
    cat <<USAGE
usage: ci/check-pr.sh BASE_REV HEAD_REV

Runs the pull-request gate 'ggen-market index check . --base BASE --head HEAD'.
USAGE
}

fail() {
    printf '%s: error: %s\n' "$me" "$1" >&2
    exit 2
}

case "${1-}" in
    -h | --help)
        usage
        exit 0
        ;;
esac
[ "$#" -eq 2 ] || { usage >&2; exit 2; }

ggen_market=${GGEN_MARKET:-ggen-market}
if ! command -v "$ggen_market" >/dev/null 2>&1; then
    fail "'$ggen_market' not found. Install it with
    cargo install --locked --git <ggen-marketplace repository URL> ggen-marketplace
or set GGEN_MARKET to its path."
fi

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
[ -f config.json ] || fail "no config.json in $root: this script must stay in the ci/ folder of an index."
for rev in "$1" "$2"; do
    if ! git rev-parse --verify --quiet "$rev^{commit}" >/dev/null; then
        fail "'$rev' is not a commit of this repository. In CI, fetch the full history (GitHub Actions: actions/checkout with fetch-depth: 0)."
    fi
done

printf '%s: checking the change %s..%s in %s\n' "$me" "$1" "$2" "$root"
status=0
"$ggen_market" index check . --base "$1" --head "$2" --format "${GGEN_MARKET_FORMAT:-text}" || status=$?
case "$status" in
    0) printf '%s: passed\n' "$me" ;;
    3) printf '%s: NEEDS REVIEW: a maintainer must look at the findings above before merging\n' "$me" >&2 ;;
    *) printf '%s: REFUSED (ggen-market exit status %s); the findings above say what to fix\n' "$me" "$status" >&2 ;;
esac
exit "$status"
