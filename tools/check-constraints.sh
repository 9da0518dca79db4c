#!/bin/sh
# Check that constraints/py3XX.txt pins resolve to wheels for a Python version and platform,
# without installing anything (pip --dry-run fetches only the wheels' metadata):
#
#   tools/check-constraints.sh 3.11 aarch64      # Raspberry Pi OS Bookworm (glibc 2.36)
#   tools/check-constraints.sh 3.13 aarch64      # Debian 13 Trixie (glibc 2.41)
#   tools/check-constraints.sh 3.11 x86_64
#
# Prints the resolved set's size and any package the pins do not cover; exits non-zero if pip
# cannot resolve (a pin without a wheel for that Python and platform).
set -eu
py=${1:?python version, e.g. 3.11}; arch=${2:?aarch64 or x86_64}
here=$(cd "$(dirname "$0")/.." && pwd)
pip=${PIP:-$here/.venv/bin/pip}
[ -x "$pip" ] || pip=$(command -v pip3)
constraints=$here/constraints/py$(echo "$py" | tr -d .).txt
[ -f "$constraints" ] || { echo "no $constraints" >&2; exit 2; }
glibc_max=36; [ "$py" = 3.13 ] && glibc_max=41
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$here/pyproject.toml" > "$work/reqs.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
reqs = list(project["dependencies"])
for extra in ("kiosk", "ledger", "test"):
    reqs += [r for r in project["optional-dependencies"][extra] if not r.startswith("smilepay")]
print("\n".join(dict.fromkeys(reqs)))
print("simplejpeg")
PY
set -- --platform "manylinux2014_$arch"
for v in 17 27 28 31 34 35 36 38 39 41; do
    [ "$v" -le "$glibc_max" ] && set -- "$@" --platform "manylinux_2_${v}_$arch"
done
nice -n 19 "$pip" install --dry-run --ignore-installed --quiet --report "$work/report.json" \
    --only-binary=:all: --python-version "$py" --implementation cp --target "$work/t" "$@" \
    -r "$work/reqs.txt" -c "$constraints"
python3 - "$work/report.json" "$constraints" <<'PY'
import json, re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
got = {norm(i["metadata"]["name"]): i["metadata"]["version"] for i in json.load(open(sys.argv[1]))["install"]}
pins = dict(l.strip().split("==") for l in open(sys.argv[2]) if "==" in l and not l.startswith("#"))
unpinned = sorted(set(got) - {norm(p) for p in pins})
print(f"resolved {len(got)} packages; unpinned: {unpinned or 'none'}")
sys.exit(1 if unpinned else 0)
PY
