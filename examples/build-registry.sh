#!/usr/bin/env bash
# Rebuilds examples/registry from examples/packages with ggen-market itself:
# package every directory reproducibly, index the archives in one batch,
# sign every entry with a fresh example key, and keep the archives where the
# index's relative `dl` points. The example key's secret half is thrown
# away: only its public key stays, in config.json `keys`.
#
#   examples/build-registry.sh            (uses target/release/ggen-market)
#   GGEN_MARKET=path/to/ggen-market examples/build-registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
market=${GGEN_MARKET:-target/release/ggen-market}
[ -x "$market" ] || { echo "build it first: cargo build --release" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
registry=examples/registry

"$market" index init "$work/registry" --name "ggen example registry" --id io.ggen.examples >/dev/null
for package in examples/packages/*/; do
    "$market" package "$package" --out "$work/archives" >/dev/null
done
"$market" keygen --unencrypted --out-dir "$work/keys" --name example >/dev/null
"$market" index add --sign-key "$work/keys/example.key" "$work/registry" "$work/archives" >/dev/null
python3 - "$work/registry/config.json" "$work/keys/example.pub" <<'PY'
import json, sys
config_path, pub_path = sys.argv[1], sys.argv[2]
config = json.load(open(config_path))
config["keys"] = [open(pub_path).read().splitlines()[1].strip()]
config["signatures"] = "required"
open(config_path, "w").write(json.dumps(config, indent=2) + "\n")
PY

# Archives go where config.json's relative `dl` points.
for package in examples/packages/*/; do
    name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$package/ggen.toml" | head -n 1)
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$package/ggen.toml" | head -n 1)
    mkdir -p "$work/registry/archives/$name"
    cp "$work/archives/$name-$version.tar.gz" "$work/registry/archives/$name/"
done

rm -rf "$registry"
mv "$work/registry" "$registry"
"$market" index check "$registry"
