#!/usr/bin/env python3
"""W6: a synthetic index K times the size of a real one.

    benches/make_synthetic_index.py SOURCE_INDEX OUT_DIR K

SOURCE_INDEX is a plain directory holding a Cargo-format index (e.g. a
`git archive` export of the 2019 crates.io corpus at 5343e085). OUT_DIR gets
K copies of every package: copy 0 keeps the real names, copy k > 0 renames
package `name` to `name-xk` and points every dependency on a package of the
index at the same copy (through `package`, so feature values keep working), so each copy is a closed world with the real shapes (the same
version histories, requirements, features, targets, yanks) and the whole is K
times the versions. Lines are rewritten only where a name changes; config.json
is copied. Names that the suffix would push past 64 characters are left out of
the copies (with their dependents' lines left as they are, so they point at the
original). Prints the packages and versions written.
"""

import json
import os
import sys


def index_path(name):
    lower = name.lower()
    if len(lower) <= 2:
        return os.path.join(str(len(lower)), lower)
    if len(lower) == 3:
        return os.path.join("3", lower[0], lower)
    return os.path.join(lower[:2], lower[2:4], lower)


def package_files(root):
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        for file in files:
            if directory == root:
                continue  # config.json and other root files
            yield os.path.join(directory, file)


def main():
    source, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(source, "config.json"), "rb") as f:
        config = f.read()
    with open(os.path.join(out, "config.json"), "wb") as f:
        f.write(config)
    files = list(package_files(source))
    names = {os.path.basename(path).lower() for path in files}
    packages = versions = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        if not lines:
            continue
        base = json.loads(lines[0])["name"]
        for k in range(copies):
            suffix = "" if k == 0 else f"-x{k}"
            if len(base) + len(suffix) > 64:
                continue
            if k == 0:
                text = "\n".join(lines) + "\n"
            else:
                text = "".join(rename(line, suffix, names) + "\n" for line in lines)
            target = os.path.join(out, index_path(base + suffix))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)
            packages += 1
            versions += len(lines)
    print(f"{packages} packages, {versions} versions in {out}")


def rename(line, suffix, names):
    entry = json.loads(line)
    entry["name"] = entry["name"] + suffix
    for dep in entry.get("deps", []):
        if dep.get("registry"):
            continue
        real = dep.get("package") or dep["name"]
        if real.lower() not in names or len(real) + len(suffix) > 64:
            continue
        # Through `package`, so the name features use (`dep/feat`) stays.
        dep["package"] = real + suffix
    return json.dumps(entry, separators=(",", ":"))


if __name__ == "__main__":
    main()
