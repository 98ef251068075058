#!/usr/bin/env bash
# Install the Debian packages slotfeed builds, tests and demos with.
# Idempotent: does nothing (and needs no network) when all are present.
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config
    libevent-dev libcurl4-openssl-dev libxml2-dev libxml2-utils
    libcjson-dev libsqlite3-dev zlib1g-dev libcmocka-dev
    curl ca-certificates tzdata python3 python3-jsonschema
    # fuzzing (scripts/fuzz.sh): clang 14 and its libFuzzer runtime
    clang libclang-rt-14-dev
    # browser test of the patient page
    chromium chromium-driver python3-selenium
)
# benchmarks only (bash scripts/deps.sh --bench): load generator and the
# reference static server the feed is measured against
# Debian packaging (bash scripts/deps.sh --package; scripts/package.sh and
# the test command, whose tests/cli/package.sh builds and installs the .deb)
for arg in "$@"; do
    case $arg in
        --bench) pkgs+=(wrk nginx-light) ;;
        --package) pkgs+=(debhelper dpkg-dev fakeroot lintian) ;;
        *) echo "deps: unknown option $arg (--bench, --package)" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
