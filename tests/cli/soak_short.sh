#!/usr/bin/env bash
# Short soak for CI: bench/soak.sh
# for 30 s on a 40-clinic faulty region at 80 requests/s, sampling every
# second. Fails when RSS (plain build only) or open fds grow after the
# warm-up, the daemon answers 5xx, a client request fails, the daemon does
# not exit 0 within 20 s of SIGTERM, or its stderr holds a sanitizer report
# (in the ASan build LeakSanitizer runs at exit; ASAN_OPTIONS should carry
# detect_leaks=1). Bounded: about 40 s, also under ASan.
set -euo pipefail

src=${SLOTFEED_SOURCE_DIR:?SLOTFEED_SOURCE_DIR not set}
: "${SLOTFEED_BIN:?SLOTFEED_BIN not set}"
: "${SLOTFEED_SIM_BIN:?SLOTFEED_SIM_BIN not set}"
export SLOTFEED_BIN SLOTFEED_SIM_BIN
command -v python3 >/dev/null || { echo "SKIPPED: python3 missing"; exit 77; }

# Warm-up: the first 12 s (startup pass plus one full 10 s poll cycle).
SOAK_CLINICS=${SOAK_CLINICS:-40} SOAK_RATE=${SOAK_RATE:-80} \
SOAK_WORKERS=${SOAK_WORKERS:-2} SOAK_SAMPLE_S=1 SOAK_WARMUP_MIN_S=12 \
SOAK_TERM_S=20 \
    timeout 100 bash "$src/bench/soak.sh" 30
