#!/usr/bin/env bash
# W6 scale: the whole-index check and resolution on the crates.io corpus
# (1x: 31,839 packages, 184,437 versions) and on a synthetic index ten times
# its size (318,390 packages, 1,844,370 versions) made from it by
# benches/make_synthetic_index.py: time and peak memory of
# `ggen-market index check`, and the in-process resolution bench on both.
#
#   benches/scale.sh [--copies K] [--runs R]
#
# Needs python3 and GNU time (/usr/bin/time). The binary is built with
# `cargo build --release` unless GGEN_MARKET names one. GGEN_BENCH_INDEX may
# name a plain export of the corpus at 5343e085 (see benches/resolve_e2e.sh);
# GGEN_BENCH_SCALED an existing output of the generator (it is made in a
# temp dir otherwise, ~2.6 GB for K=10).
set -euo pipefail

copies=10
runs=3
while [ $# -gt 0 ]; do
    case "$1" in
        --copies) copies=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        *) echo "usage: $0 [--copies K] [--runs R]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "${GGEN_MARKET:-}" ]; then
    market=$GGEN_MARKET
else
    cargo build --release --quiet
    market=${CARGO_TARGET_DIR:-$(pwd)/target}/release/ggen-market
fi

index=${GGEN_BENCH_INDEX:-}
if [ -z "$index" ]; then
    corpus_tar=${GGEN_CORPUS_TAR:-}
    dir=$(pwd)
    while [ -z "$corpus_tar" ] && [ "$dir" != / ]; do
        [ -f "$dir/shared/corpora/crates-io-index-2019.git.tar" ] && corpus_tar=$dir/shared/corpora/crates-io-index-2019.git.tar
        [ -f "$dir/../shared/corpora/crates-io-index-2019.git.tar" ] && corpus_tar=$dir/../shared/corpora/crates-io-index-2019.git.tar
        dir=$(dirname "$dir")
    done
    tar -xf "$corpus_tar" -C "$work"
    index=$work/export
    mkdir -p "$index"
    git --git-dir="$work/crates-io-index-2019.git" archive 5343e085 | tar -x -C "$index"
fi
scaled=${GGEN_BENCH_SCALED:-}
if [ -z "$scaled" ]; then
    scaled=$work/scaled
    python3 benches/make_synthetic_index.py "$index" "$scaled" "$copies"
fi

# Median wall seconds and maximum peak RSS (KB) of R runs of `index check`.
check() {
    local dir=$1 walls=() rss=0
    for _ in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$work/time" "$market" index check "$dir" --json >"$work/report.json" || true
        # GNU time says "Command exited with non-zero status 1" first when the
        # index has errors (the corpus has some): the figures are the last line.
        read -r wall peak < <(tail -n 1 "$work/time")
        walls+=("$wall")
        [ "$peak" -gt "$rss" ] && rss=$peak
    done
    local median
    median=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
    python3 - "$work/report.json" "$median" "$rss" "$dir" <<'PY'
import json, sys
report, median, rss, dir = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
counts = {k: report.get(k) for k in ("packages", "versions", "errors", "warnings") if k in report}
print(f"index check {dir}: median {median:.2f} s, peak RSS {rss / 1024:.0f} MB, {counts}")
PY
}

echo "W6: index check, median of $runs runs; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
check "$index"
check "$scaled"
# The same roots on both: the 1x ranking (the copies would crowd the 10x one).
roots=$(GGEN_CORPUS_WORKTREE=$index cargo bench --quiet --bench resolve -- --list-roots 100 2>/dev/null | awk 'NF {print $1}' | paste -sd,)
echo "W6: resolution of the 100 most depended-upon roots of 1x, on 1x then ${copies}x"
GGEN_CORPUS_WORKTREE=$index GGEN_BENCH_ROOTS=$roots cargo bench --quiet --bench resolve 2>/dev/null | sed -n 1,3p
GGEN_CORPUS_WORKTREE=$scaled GGEN_BENCH_ROOTS=$roots cargo bench --quiet --bench resolve 2>/dev/null | sed -n 1,3p
