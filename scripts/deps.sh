#!/usr/bin/env bash
# Install the Debian packages slotfeed builds, tests and demos with.
# Idempotent: does nothing (and needs no network) when all are present.
set -euo pipefail

pkgs=(
    build-essential cmake pkg-config
    libevent-dev libcurl4-openssl-dev libxml2-dev libxml2-utils
    libcjson-dev libsqlite3-dev zlib1g-dev libcmocka-dev
    curl ca-certificates tzdata python3 python3-jsonschema
    # the house style (scripts/format.sh, tests/cli/format.sh)
    clang-format
    # fuzzing (scripts/fuzz.sh): clang 14 and its libFuzzer runtime
    clang libclang-rt-14-dev
    # browser test of the patient page
    chromium chromium-driver python3-selenium
    # promtool for the alert-rule tests (conf/prometheus/) and nginx for
    # the caching-proxy test (conf/nginx/): their services are not
    # started (see below), the tests run their own instances
    prometheus nginx-light
)
# benchmarks only (bash scripts/deps.sh --bench): the load generator (the
# reference static server, nginx, is in the list above)
# Debian packaging (bash scripts/deps.sh --package; scripts/package.sh and
# the test command, whose tests/cli/package.sh builds and installs the .deb)
# --browser: also axe-core from the npm registry (pinned) into .cache/axe/,
# which tests/cli/browser.sh injects to check WCAG 2.1 A/AA on the page
axe=""
for arg in "$@"; do
    case $arg in
        --bench) pkgs+=(wrk) ;;
        --package) pkgs+=(debhelper dpkg-dev fakeroot lintian) ;;
        --browser)  # npm: the Debian one only when none is on PATH
            axe=4.14.1
            command -v npm >/dev/null 2>&1 || pkgs+=(npm) ;;
        *) echo "deps: unknown option $arg (--bench, --package, --browser)" >&2; exit 2 ;;
    esac
done

# npm packages after the Debian ones (npm itself may be among those).
install_axe() {
    local root
    root=$(cd "$(dirname "$0")/.." && pwd)
    [ -n "$axe" ] || return 0
    [ -f "$root/.cache/axe/node_modules/axe-core/axe.min.js" ] && return 0
    echo "deps: installing axe-core@$axe (npm) into .cache/axe" >&2
    # Not fatal: without it the browser test says the scan was skipped.
    npm install --prefix "$root/.cache/axe" --no-audit --no-fund --no-save \
        "axe-core@$axe" >&2 ||
        echo "deps: axe-core could not be installed; the browser test" \
             "will skip its accessibility scan" >&2
}

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    install_axe
    exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# prometheus and nginx start their system services on install where
# invoke-rc.d may (ports 9090 and 80, a server nobody asked for on a CI or
# container machine). Where no policy says otherwise, deny service starts
# for this install only (policy-rc.d exit 101: "action forbidden").
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
    own_policy=1
    trap '[ -z "$own_policy" ] || $SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
install_axe
