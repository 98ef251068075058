#!/usr/bin/env bash
# Browser test of the patient page, the clinicians' page and the overview:
# slotfeed-sim and `slotfeed run --poll-now` on ephemeral loopback ports
# against a copy of the demo region, then tests/browser/page_test.py drives headless
# Chromium (chromedriver + python3-selenium) and compares what the page
# shows with the API. Screenshots go to $SLOTFEED_BINARY_DIR/screenshots/.
#
# The region copy points every booking URL at the sim, turns one clinic's
# booking system into a failing one ("error") and one into "not connected"
# (vp004, so web_booking none), and gives one clinic a name full of markup
# (must show as text). Skips (exit 77, "SKIPPED: ...", which CTest reports
# as skipped) only when Chromium, chromedriver or selenium are missing.
# Bounded: about 45 s (about 100 s with the axe scan of every view at two
# widths), hard limit 260 s.
set -euo pipefail

src=${SLOTFEED_SOURCE_DIR:?SLOTFEED_SOURCE_DIR not set}
bin=${SLOTFEED_BINARY_DIR:?SLOTFEED_BINARY_DIR not set}
slotfeed=${SLOTFEED_BIN:?SLOTFEED_BIN not set}
sim=${SLOTFEED_SIM_BIN:?SLOTFEED_SIM_BIN not set}
chromium=${CHROMIUM_BIN:-/usr/bin/chromium}
chromedriver=${CHROMEDRIVER_BIN:-/usr/bin/chromedriver}

# Debian's selenium lives in the system Python; a python3 earlier in PATH
# (pyenv, venv) may not have it.
py=""
for cand in /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import selenium' >/dev/null 2>&1; then
        py=$cand
        break
    fi
done
[ -x "$chromium" ] || { echo "SKIPPED: chromium not found at $chromium"; exit 77; }
[ -x "$chromedriver" ] || { echo "SKIPPED: chromedriver not found at $chromedriver"; exit 77; }
[ -n "$py" ] || { echo "SKIPPED: python3 with selenium (python3-selenium) not found"; exit 77; }

fail() {
    echo "browser.sh: FAIL: $*" >&2
    exit 1
}

[ -x "$slotfeed" ] || fail "slotfeed binary $slotfeed missing"
[ -x "$sim" ] || fail "slotfeed-sim binary $sim missing"

work=$(mktemp -d)
. "$src/tests/helpers/proc.sh"
sim_pid=""
run_pid=""
cleanup() {
    local rc=$?
    # Only the two processes this script started.
    if [ -n "$run_pid" ]; then stop "$run_pid"; fi
    if [ -n "$sim_pid" ]; then stop "$sim_pid"; fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hostile='Fysio <img src=x onerror="window.__xss=1"> & <b>Test</b>'

# 1. The region copy, a few clinics varied; the sim reads the profiles and
#    names from it too.
"$py" - "$src/conf/demo-region.json" "$work/region.json" "$hostile" \
    "$src/conf/geo-varmland.json" "$work/slotfeed.db" <<'EOF'
import json, sys
src, dst, hostile, geo, store = sys.argv[1:6]
with open(src, encoding="utf-8") as f:
    r = json.load(f)
booked = [c for c in r["clinics"] if c.get("booking")]
booked[1].setdefault("sim", {})["profile"] = "error"
booked[2].setdefault("sim", {})["profile"] = "vp004"
booked[3]["name"] = hostile
# --poll-now asks every clinic at startup; a long interval keeps later
# polls (and feed rebuilds) from shifting the data under the browser.
r["poll_interval_s"] = 3600
r["geo"] = geo          # the place table for near=
r["store"] = store      # history store in the scratch dir
# All clinics share the sim's one host: lift the per-host politeness
# (default 1 request/s) so the startup pass takes seconds, not minutes.
r["politeness"] = {"rate_per_s": 500, "burst": 100,
                   "max_concurrent_per_host": 8}
with open(dst, "w", encoding="utf-8") as f:
    json.dump(r, f, ensure_ascii=False, indent=1)
EOF

# 2. The simulator on a free port; then every booking URL points at it.
"$sim" --config "$work/region.json" --listen 127.0.0.1:0 \
    >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
wait_line "$work/sim.out" "listening on" "$sim_pid" 10 ||
    fail "slotfeed-sim did not start: $(cat "$work/sim.err")"
sim_url=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$work/sim.out")
[ -n "$sim_url" ] || fail "cannot read the sim's URL from: $(cat "$work/sim.out")"
# Every adapter's URL (RIV /vp, FHIR /fhir/r4, SMART /smart/...) lives on
# the sim's one port: swap the demo's 18471 for it.
sim_origin=${sim_url%/vp}
sed -i "s|http://127\.0\.0\.1:18471/|$sim_origin/|g" "$work/region.json"
grep -q "$sim_origin/" "$work/region.json" ||
    fail "could not point the region copy at the sim"
! grep -q ":18471/" "$work/region.json" ||
    fail "the region copy still points at port 18471"

# 3. The daemon, polling every clinic once at startup.
# In $work: the daemon keeps its state store in its working directory.
user_args=$(service_user_args "$work")
# shellcheck disable=SC2086 # empty or two words
(cd "$work" && exec "$slotfeed" run --config "$work/region.json" $user_args \
    --listen 127.0.0.1:0 --poll-now >"$work/run.out" 2>"$work/run.err") &
run_pid=$!
if ! wait_line "$work/run.out" "serving" "$run_pid" 10; then
    if grep -qi "poll-now" "$work/run.err"; then
        fail "slotfeed run does not accept --poll-now (this test needs it): $(head -3 "$work/run.err")"
    fi
    fail "slotfeed run did not start: $(head -5 "$work/run.err")"
fi
base=$(sed -n 's|.*serving .* at \(http://[^/ ]*\)/.*|\1|p' "$work/run.out")
case $base in
    http://127.0.0.1:[1-9]*) ;;
    *) fail "cannot read the daemon's address from: $(cat "$work/run.out")" ;;
esac

# 4. Until every clinic with booking has been asked once (bounded).
# (The here-document starts on the line after <<, so the failure branch
# comes after it, as an if.)
if ! "$py" - "$base" <<'EOF'
import json, sys, time, urllib.request
base = sys.argv[1]
deadline = time.monotonic() + 25
todo, last = None, None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(base + "/v1/availability", timeout=3) as r:
            doc = json.load(r)
        todo = [c["id"] for c in doc["clinics"]
                if c["services"] and c["checked_at"] is None
                and c["web_booking"] != "none"]
        if doc["clinics"] and not todo:
            print("browser.sh: %d clinics, all checked" % len(doc["clinics"]))
            sys.exit(0)
    except (OSError, ValueError) as e:
        last = e
    time.sleep(0.2)
print("browser.sh: still unchecked:", todo if todo is not None else last,
      file=sys.stderr)
sys.exit(1)
EOF
then
    fail "the feed never showed every clinic checked; daemon log ends:
$(tail -n 8 "$work/run.err")"
fi

# 5. The browser.
mkdir -p "$bin/screenshots"
# axe-core, when scripts/deps.sh --browser installed it: a WCAG 2.1 A/AA
# scan of every view (patient page, /narmast, /overview and its month
# report, the HTML reports, the no-script pages) at 1200 and 390 px
# (page_test.py says so when it is missing).
export AXE_JS=${AXE_JS:-$src/.cache/axe/node_modules/axe-core/axe.min.js}
timeout 260 "$py" "$src/tests/browser/page_test.py" "$base" "$bin/screenshots" "$hostile" ||
    fail "page test failed (screenshots in $bin/screenshots); daemon log ends:
$(tail -n 30 "$work/run.err")"
