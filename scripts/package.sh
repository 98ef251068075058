#!/usr/bin/env bash
# Build slotfeed's Debian packages (debian/: debhelper, compat 13) into
# dist/ and check them with lintian: slotfeed_VERSION_ARCH.deb (daemon,
# unit, example config, man pages, docs) and slotfeed-sim (the simulator
# and the demo region). Installs what packaging needs (scripts/deps.sh
# --package).
#
# It builds from a copy of the tree as git sees it (tracked files, as
# edited, plus untracked ones not ignored), so build/, build-asan/ and any
# earlier dist/ never leak in, and the working tree gets no debian/ build
# leftovers. The version is the project's (CMakeLists.txt's project
# VERSION, which `slotfeed version` prints): debian/changelog must name the
# same one, or this stops.
#
#   bash scripts/package.sh [--out DIR]   # default dist/
#   sudo apt install ./dist/slotfeed_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/dist
if [ "${1:-}" = "--out" ] && [ -n "${2:-}" ]; then
    mkdir -p "$2"
    out=$(cd "$2" && pwd)
elif [ $# -gt 0 ]; then
    echo "usage: bash scripts/package.sh [--out DIR]" >&2
    exit 2
fi

bash scripts/deps.sh --package

version=$(sed -n 's/^project(slotfeed VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "package: no project VERSION in CMakeLists.txt" >&2; exit 1; }
deb_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [ "$deb_version" != "$version" ]; then
    echo "package: debian/changelog is at $deb_version, the project at" \
         "$version: add a changelog entry (dch -v $version)" >&2
    exit 1
fi
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/slotfeed-$version
mkdir "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            [ -e "$f" ] && printf '%s\0' "$f"   # not deleted
        done | tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude='./build*' --exclude=./dist --exclude='./obj-*' -cf - . |
        tar -xf - -C "$src"
fi

echo "== dpkg-buildpackage slotfeed $version (commit $commit)"
if ! (cd "$src" && SLOTFEED_COMMIT=$commit \
        dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$work/build.log" 2>&1; then
    tail -60 "$work/build.log" >&2
    echo "package: dpkg-buildpackage failed (last 60 lines above)" >&2
    exit 1
fi

mkdir -p "$out"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
changes=slotfeed_${version}_${arch}.changes
cp "$work"/*.deb "$work/$changes" "$work"/*.buildinfo "$out/"

# Errors and warnings fail the build; debian/*.lintian-overrides explain
# the ones we keep. info tags are shown, not fatal.
echo "== lintian"
lintian --fail-on error,warning --display-info "$out/$changes"
ls -l "$out"/slotfeed*_"$version"_"$arch".deb
