#!/bin/sh
# Check this ggen-marketplace index with `ggen-market index check`.
#
#   ci/check-index.sh                check the whole index as it is now
#   ci/check-index.sh BASE [HEAD]    the pull-request gate: the whole index as
#                                    HEAD leaves it (BASE, HEAD must exist)
#
# BASE and HEAD are git revisions (commit ids, branches, tags). Any CI can
# call this script; it needs only git and ggen-market. Set GGEN_MARKET to use
# a ggen-market that is not on PATH. The exit status is ggen-market's: 0 when
# the index (or the change) is acceptable.
set -eu

me=check-index

usage() {
    cat <<USAGE
usage: ci/check-index.sh [BASE_REV [HEAD_REV]]

Checks the whole index with 'ggen-market index check'. BASE_REV and
HEAD_REV (default HEAD), as a pull request gives them, must be commits of
this repository; they name the change in the log.
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
if [ "$#" -gt 2 ]; then
    usage >&2
    exit 2
fi

ggen_market=${GGEN_MARKET:-ggen-market}
if ! command -v "$ggen_market" >/dev/null 2>&1; then
    fail "'$ggen_market' not found. Install it with
    cargo install --locked --git <ggen-marketplace repository URL> ggen-marketplace
or set GGEN_MARKET to its path."
fi

# Work from the index root (the directory above ci/), wherever we are called from.
root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
[ -f config.json ] || fail "no config.json in $root: this script must stay in the ci/ folder of an index."

if [ "$#" -eq 0 ]; then
    printf '%s: checking the whole index in %s\n' "$me" "$root"
    set -- index check .
else
    base=$1
    head=${2:-HEAD}
    for rev in "$base" "$head"; do
        if ! git rev-parse --verify --quiet "$rev^{commit}" >/dev/null; then
            fail "'$rev' is not a commit of this repository. In CI, fetch the full history (GitHub Actions: actions/checkout with fetch-depth: 0)."
        fi
    done
    # This ggen-market checks the whole index as the pull request leaves it;
    # the per-change rules of DESIGN §5 (append-only, new versions greater
    # than published ones) are not enforced by it yet.
    printf '%s: checking the index at %s (changes since %s) in %s\n' "$me" "$head" "$base" "$root"
    set -- index check .
fi

status=0
"$ggen_market" "$@" || status=$?
if [ "$status" -eq 0 ]; then
    printf '%s: passed\n' "$me"
else
    printf '%s: FAILED (ggen-market exit status %s); the messages above say what to fix\n' "$me" "$status" >&2
fi
exit "$status"
