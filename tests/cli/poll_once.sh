#!/usr/bin/env bash
# The demo region end to end through the two binaries: slotfeed-sim on an
# ephemeral loopback port, `slotfeed poll --once` against it on a fixed
# "now", the feed validated against docs/feed.schema.json and every
# clinic's flags checked against what its config says it should be.
set -euo pipefail
bin=${SLOTFEED_BIN:?}
sim=${SLOTFEED_SIM_BIN:?}
src=${SLOTFEED_SOURCE_DIR:?}
now=2026-03-31T09:00:00+02:00
tmp=$(mktemp -d)
cleanup() { [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

"$sim" --config "$src/conf/demo-region.json" --listen 127.0.0.1:0 --now "$now" \
    >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
for _ in $(seq 1 200); do
    grep -q "listening on" "$tmp/sim.out" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$tmp/sim.err" >&2; exit 1; }
    sleep 0.05
done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sim.out")
[ -n "$port" ] || { echo "no port in: $(cat "$tmp/sim.out")" >&2; exit 1; }

sed "s#http://127.0.0.1:18471/#http://127.0.0.1:$port/#g" \
    "$src/conf/demo-region.json" >"$tmp/region.json"
"$bin" poll --once --config "$tmp/region.json" --now "$now" \
    >"$tmp/feed.json" 2>"$tmp/poll.err"

/usr/bin/python3 - "$tmp/feed.json" "$tmp/region.json" \
    "$src/docs/feed.schema.json" <<'PY'
import json, sys
import jsonschema
feed = json.load(open(sys.argv[1]))
region = json.load(open(sys.argv[2]))
schema = json.load(open(sys.argv[3]))
jsonschema.validators.validator_for(schema)(schema).validate(feed)

assert len(feed["clinics"]) == 41 == len(region["clinics"])
assert feed["generated_at"] == "2026-03-31T09:00:00+02:00", feed["generated_at"]
assert feed["guarantee"]["deadline"] == "2026-04-03", feed["guarantee"]
by_id = {c["id"]: c for c in feed["clinics"]}
counts = {"open": 0, "none": 0, "unreachable": 0, "unknown": 0}
for rc in region["clinics"]:
    c = by_id[rc["id"].upper()]
    counts[c["web_booking"]] += 1
    b = rc.get("booking")
    profile = rc.get("sim", {}).get("profile", "normal")
    if b is None or profile in ("vp004", "vp007"):
        want = ("none", None)
    elif ":9/" in b["url"] or profile in ("garbage", "hostile", "hang", "error", "http503",
                                          "http429", "reset", "truncated", "huge"):
        want = ("unknown", "error")
    else:
        want = ("open", "ok")
    assert c["web_booking"] == want[0], (rc["id"], c["web_booking"], want)
    if want[1]:
        assert c["status"] == want[1], (rc["id"], c["status"], c.get("error"))
    if c["web_booking"] == "open":
        assert isinstance(c["within_guarantee"], bool)
        if profile == "full":
            assert c["first_free"] is None and c["within_guarantee"] is False
        if profile == "normal":
            assert c["first_free"] is not None, rc["id"]
            assert c["first_free"] > "2026-03-31T09:00", c["first_free"]
    else:
        assert c["within_guarantee"] is None, rc["id"]
# The demo mixes every adapter, and each of them yields open clinics.
for ad in ("rivta-scheduling", "fhir-slot", "smart-bulk"):
    ids = [rc["id"].upper() for rc in region["clinics"]
           if rc.get("booking", {}).get("adapter") == ad]
    assert any(by_id[i]["web_booking"] == "open" for i in ids), ad
s = feed["summary"]
assert s["clinics"] == 41
assert s["web_booking"] == counts, (s["web_booking"], counts)
assert s["within_guarantee"] == sum(1 for c in feed["clinics"] if c["within_guarantee"] is True)
print("poll --once: ok:", counts)
PY
