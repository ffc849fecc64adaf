#!/bin/sh
# Check this whole ggen-marketplace index with `ggen-market index check`:
# every line of every package file. For pull requests, ci/check-pr.sh runs
# the gate, which checks only what a change does.
#
#   ci/check-index.sh
#
# Any CI can call this script; it needs only ggen-market (set GGEN_MARKET to
# use one that is not on PATH). Exit status 0 when the index has no errors.
set -eu

me=check-index

case "${1-}" in
    -h | --help)
        echo "usage: ci/check-index.sh    (checks the whole index)"
        exit 0
        ;;
esac
[ "$#" -eq 0 ] || { echo "usage: ci/check-index.sh (no arguments; for a pull request use ci/check-pr.sh BASE HEAD)" >&2; exit 2; }

ggen_market=${GGEN_MARKET:-ggen-market}
if ! command -v "$ggen_market" >/dev/null 2>&1; then
    printf '%s: error: %s\n' "$me" "'$ggen_market' not found; install it (cargo install --locked --git <ggen-marketplace repository URL> ggen-marketplace) or set GGEN_MARKET" >&2
    exit 2
fi
root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
status=0
"$ggen_market" index check . || status=$?
if [ "$status" -eq 0 ]; then
    printf '%s: passed\n' "$me"
else
    printf '%s: FAILED (ggen-market exit status %s); the messages above say what to fix\n' "$me" "$status" >&2
fi
exit "$status"
