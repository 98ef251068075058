#!/usr/bin/env bash
# Every C file is as scripts/format.sh (.clang-format) leaves it. The
# style is defined by clang-format 14 (Debian 12, scripts/deps.sh installs
# it); another major version formats some constructs differently, so the
# check skips (77) rather than fail on a machine with another one.
set -euo pipefail
src=${SLOTFEED_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src"

if ! command -v clang-format >/dev/null 2>&1; then
    echo "SKIPPED: clang-format not installed (bash scripts/deps.sh)"
    exit 77
fi
ver=$(clang-format --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$ver" != 14 ]; then
    echo "SKIPPED: clang-format $ver, the style is defined by version 14"
    exit 77
fi
bash scripts/format.sh --check
echo "ok: every C file formatted"
