#!/usr/bin/env bash
# W4 end to end: one `ggen-market add NAME --dry-run --json` process per root,
# for the N most depended-upon crates of the crates.io index of 2019-11-10
# (corpus commit 5343e085), read in place from a plain directory — side by
# side with one `cargo generate-lockfile` per root against the same index
# served by nginx on 127.0.0.1 as a sparse alternative registry, with a
# warmed, dedicated CARGO_HOME (the warm-cache case: every index file is
# revalidated, 304).
#
#   benches/resolve_e2e.sh [--roots N] [--runs R] [--req REQ] [--show K]
#
#   --roots N   the N most depended-upon crates (default 100)
#   --runs R    runs per root and tool, taking turns; a root's time is its
#               median run (default 3)
#   --req REQ   the requirement on each root: `add NAME@REQ` for us,
#               `version = "REQ"` for Cargo (default `*`, as the in-process
#               bench). `--req ''` runs a bare `add NAME` (we write
#               ^newest, Cargo still gets `*`)
#   --show K    print the package-set differences of K roots (default 5)
#
# Needs git, nginx, cargo and python3 (statistics and the comparison only).
# The roots come from `cargo bench --bench resolve -- --list-roots N`
# (distinct dependent packages over normal dependencies). The binary is
# built with `cargo build --release` (in CARGO_TARGET_DIR if set) unless
# GGEN_MARKET names one. GGEN_BENCH_INDEX may name an existing plain export of
# the corpus at 5343e085 (not a git checkout: ggen-market clones a path
# that holds a repository; a plain directory is read in place), e.g.
#   git --git-dir=crates-io-index-2019.git archive 5343e085 | tar -x -C DIR
# Otherwise the corpus tarball (GGEN_CORPUS_TAR, or shared/corpora/… in the
# nearest ancestor of the repository that has it) is unpacked into a temp
# dir and 5343e085 exported from it.
#
# Cargo may only talk to 127.0.0.1: every proxy variable points at a closed
# loopback port (no_proxy=127.0.0.1), and nginx's log must show that Cargo
# fetched nothing but config.json and index files. CARGO_NET_OFFLINE is unset.
set -euo pipefail

roots=100
runs=3
req='*'
show=5
while [ $# -gt 0 ]; do
    case "$1" in
        --roots) roots=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --req) req=$2; shift 2 ;;
        --show) show=$2; shift 2 ;;
        *) echo "usage: $0 [--roots N] [--runs R] [--req REQ] [--show K]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
chmod 755 "$work" # nginx's workers (not root) read the index inside
nginx_pid=
cleanup() {
    if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${GGEN_MARKET:-}" ]; then
    market=$GGEN_MARKET
else
    cargo build --release --quiet
    market=${CARGO_TARGET_DIR:-$repo/target}/release/ggen-market
fi

if [ -n "${GGEN_BENCH_INDEX:-}" ]; then
    index=$GGEN_BENCH_INDEX
    if [ -e "$index/.git" ]; then
        echo "GGEN_BENCH_INDEX=$index is a git checkout; give a plain export (see the top of $0)" >&2
        exit 2
    fi
else
    corpus_tar=${GGEN_CORPUS_TAR:-}
    dir=$repo
    while [ -z "$corpus_tar" ] && [ "$dir" != / ]; do
        [ -f "$dir/shared/corpora/crates-io-index-2019.git.tar" ] && corpus_tar=$dir/shared/corpora/crates-io-index-2019.git.tar
        dir=$(dirname "$dir")
    done
    [ -n "$corpus_tar" ] || { echo "no corpus: set GGEN_CORPUS_TAR or GGEN_BENCH_INDEX" >&2; exit 2; }
    tar -xf "$corpus_tar" -C "$work"
    index=$work/index
    mkdir "$index"
    git --git-dir="$work/crates-io-index-2019.git" archive 5343e085 | tar -x -C "$index"
fi

echo "counting dependents over the index for the top $roots roots..." >&2
GGEN_CORPUS_WORKTREE=$index cargo bench --quiet --bench resolve -- --list-roots "$roots" >"$work/roots.txt"
mapfile -t names < <(cut -d' ' -f1 "$work/roots.txt")

# nginx serving the index on a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  log_format bench '\$msec \$status \$request_uri';
  client_body_temp_path $work/nginx/tmp; proxy_temp_path $work/nginx/tmp; fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
  server { listen 127.0.0.1:$port; root $index; access_log $work/nginx/access.log bench; }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

# One throwaway Cargo project per root.
for name in "${names[@]}"; do
    dir=$work/cargo/$name
    mkdir -p "$dir/src" "$dir/.cargo"
    : >"$dir/src/lib.rs"
    printf '[registries.corpus]\nindex = "sparse+http://127.0.0.1:%s/"\n' "$port" >"$dir/.cargo/config.toml"
    printf '[package]\nname = "peer"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n%s = { version = "%s", registry = "corpus" }\n' \
        "$name" "${req:-*}" >"$dir/Cargo.toml"
done

dead_proxy=http://127.0.0.1:9
cargo_lockfile() { # NAME: generate the lockfile of NAME's throwaway project (run from it:
    # Cargo reads .cargo/config.toml from the working directory)
    cd "$work/cargo/$1"
    env -u CARGO_NET_OFFLINE CARGO_HOME="$work/cargo-home" \
        http_proxy=$dead_proxy https_proxy=$dead_proxy HTTP_PROXY=$dead_proxy HTTPS_PROXY=$dead_proxy \
        ALL_PROXY=$dead_proxy all_proxy=$dead_proxy no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 \
        cargo generate-lockfile --quiet || { cd "$repo"; return 1; }
    cd "$repo"
}
ours_add() { # NAME PROJECT: resolve NAME for the (fresh) PROJECT dir, JSON to ours/NAME.json
    GGEN_HOME=$work/ggen-home "$market" --registry "$index" add "$1${req:+@$req}" --dry-run --json --project "$2" \
        >"$work/ours/$1.json"
}

mkdir -p "$work/ours" "$work/errors"
echo "warming: one untimed run of each tool per root..." >&2
for name in "${names[@]}"; do
    mkdir "$work/project"
    ours_add "$name" "$work/project" 2>"$work/errors/ours-$name" || true
    rm -rf "$work/project"
    cargo_lockfile "$name" 2>"$work/errors/cargo-$name" || true
done
warm_mark=$(wc -l <"$work/nginx/access.log")

# Timed runs, taking turns so that a busy machine slows both alike. One
# line per run: tool, root, start, end, exit status; and in cpu.txt the
# user and system time of finished children before and after (bash's
# `times`, a builtin: no fork), since the machine may be busy.
echo "timing $runs runs per root and tool..." >&2
for _ in $(seq "$runs"); do
    for name in "${names[@]}"; do
        mkdir "$work/project"
        times >>"$work/cpu.txt"
        start=$EPOCHREALTIME
        status=0
        ours_add "$name" "$work/project" 2>"$work/errors/ours-$name" || status=$?
        end=$EPOCHREALTIME
        times >>"$work/cpu.txt"
        rm -rf "$work/project"
        echo "ours $name $start $end $status" >>"$work/times.txt"
        rm -f "$work/cargo/$name/Cargo.lock"
        times >>"$work/cpu.txt"
        start=$EPOCHREALTIME
        status=0
        cargo_lockfile "$name" 2>"$work/errors/cargo-$name" || status=$?
        end=$EPOCHREALTIME
        times >>"$work/cpu.txt"
        echo "cargo $name $start $end $status" >>"$work/times.txt"
    done
done
# nginx logs a request just after answering it.
sleep 0.5

python3 - "$work" "$index" "$port" "$warm_mark" "$show" "$runs" "add NAME${req:+@$req}" <<'PY'
import json, os, re, statistics, sys

work, index, port, warm_mark, show, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
roots = [line.split()[0] for line in open(f"{work}/roots.txt")]

def seconds(text):  # bash `times`: 0m0.123s
    minutes, secs = text.rstrip("s").split("m")
    return 60 * int(minutes) + float(secs)

def children_cpu(lines):  # the second line of `times`: children's user and system time
    return sum(seconds(t) for t in lines[1].split())

cpu_lines = open(f"{work}/cpu.txt").read().splitlines()
times, cpu = {}, {}
failed = {"ours": set(), "cargo": set()}
for i, line in enumerate(open(f"{work}/times.txt")):
    tool, name, start, end, status = line.split()
    times.setdefault((tool, name), []).append(float(end) - float(start))
    before, after = cpu_lines[4 * i : 4 * i + 2], cpu_lines[4 * i + 2 : 4 * i + 4]
    cpu.setdefault((tool, name), []).append(children_cpu(after) - children_cpu(before))
    if status != "0":
        failed[tool].add(name)

def per_root(tool, measure=times):
    return {name: statistics.median(measure[(tool, name)]) for name in roots}

def p95(values):
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]

ours, cargo = per_root("ours"), per_root("cargo")
ours_cpu, cargo_cpu = per_root("ours", cpu), per_root("cargo", cpu)
with open("/proc/loadavg") as f:
    load = f.read().split()[:3]
print(f"W4 end to end: {len(roots)} roots of the crates.io index 2019-11-10 (5343e085), median of {runs} runs per root; "
      f"{os.cpu_count()} cores, load average now {' '.join(load)}")
print(f"{'per root':28} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'total s':>8} {'cpu median ms':>14} {'cpu total s':>12} {'failed':>7}")
for tool, label, wall, used in (("ours", "ggen-market add --dry-run", ours, ours_cpu), ("cargo", "cargo generate-lockfile", cargo, cargo_cpu)):
    v, c = list(wall.values()), list(used.values())
    print(f"{label:28} {statistics.median(v)*1e3:>10.1f} {p95(v)*1e3:>8.1f} {max(v)*1e3:>8.1f} {sum(v):>8.2f} "
          f"{statistics.median(c)*1e3:>14.1f} {sum(c):>12.2f} {len(failed[tool]):>7}")
ratios = [cargo[n] / ours[n] for n in roots]
print(f"ratio cargo/ours, wall: of medians {statistics.median(cargo.values())/statistics.median(ours.values()):.1f}x, "
      f"of p95s {p95(cargo.values())/p95(ours.values()):.1f}x, of totals {sum(cargo.values())/sum(ours.values()):.1f}x, "
      f"per root median {statistics.median(ratios):.1f}x, min {min(ratios):.1f}x; "
      f"cpu: of totals {sum(cargo_cpu.values())/max(sum(ours_cpu.values()), 1e-9):.1f}x")
for tool in ("ours", "cargo"):
    for name in sorted(failed[tool]):
        err = open(f"{work}/errors/{tool}-{name}").read().strip().splitlines()
        print(f"  {tool} failed on {name}: {' / '.join(err[:2])}")

# What nginx served to Cargo in the timed runs: config.json and index files only.
index_file = re.compile(r"^/(config\.json|1/[^/]+|2/[^/]+|3/[^/]/[^/]+|[^/]{2}/[^/]{2}/[^/]+)$")
statuses, strange, full_answers = {}, [], {}
for line in open(f"{work}/nginx/access.log").read().splitlines()[warm_mark:]:
    _, status, uri = line.split(" ", 2)
    statuses[status] = statuses.get(status, 0) + 1
    if status == "200":
        full_answers[uri] = full_answers.get(uri, 0) + 1
    if not index_file.match(uri):
        strange.append(uri)
requests = sum(statuses.values())
print(f"nginx, timed runs: {requests} requests ({requests / (len(roots) * runs):.0f} per cargo run), by status {dict(sorted(statuses.items()))}; "
      + ("only config.json and index files" if not strange else f"OTHER URIS: {strange[:5]}")
      + f"; 200s: {', '.join(f'{u} x{c}' for u, c in sorted(full_answers.items())[:5])}")

# Resolved package sets, from ours' JSON and Cargo.lock (names lowercased).
def ours_set(name):
    try:
        return {(p["name"].lower(), p["version"]) for p in json.load(open(f"{work}/ours/{name}.json"))["packages"]}
    except (OSError, ValueError, KeyError):
        return None

def cargo_lock(name):
    """The registry packages of a Cargo.lock, each with its dependencies as (name, version)."""
    try:
        text = open(f"{work}/cargo/{name}/Cargo.lock").read()
    except OSError:
        return None
    packages = []
    for block in text.split("[[package]]")[1:]:
        fields = dict(re.findall(r'^(name|version|source) = "([^"]*)"', block, re.M))
        deps = re.search(r"^dependencies = \[(.*?)\]", block, re.M | re.S)
        refs = re.findall(r'"([^"]+)"', deps.group(1)) if deps else []
        packages.append((fields["name"].lower(), fields["version"], "source" in fields, [r.split(" ")[:2] for r in refs]))
    versions = {}
    for n, v, _, _ in packages:
        versions.setdefault(n, []).append(v)
    graph = {}
    for n, v, registry, refs in packages:
        edges = [(r[0].lower(), r[1] if len(r) > 1 else versions[r[0].lower()][0]) for r in refs]
        graph[(n, v, registry)] = edges
    return graph

same, differs = 0, []
for name in roots:
    ours_packages, graph = ours_set(name), cargo_lock(name)
    if ours_packages is None or graph is None:
        continue
    cargo_packages = {(n, v) for (n, v, registry) in graph if registry}
    same += ours_packages == cargo_packages
    if ours_packages != cargo_packages:
        differs.append((name, sorted(cargo_packages - ours_packages), sorted(ours_packages - cargo_packages)))
print(f"package sets (`{sys.argv[7]}`, default features, all targets): identical to Cargo.lock's for {same} of {len(roots)} roots")
for name, only_cargo, only_ours in differs[:show]:
    print(f"  {name}: only in Cargo.lock {', '.join(f'{n} {v}' for n, v in only_cargo) or 'nothing'}; "
          f"only in ours {', '.join(f'{n} {v}' for n, v in only_ours) or 'nothing'}")
sys.exit(1 if failed["ours"] or failed["cargo"] or strange or differs else 0)
PY
