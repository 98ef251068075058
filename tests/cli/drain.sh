#!/usr/bin/env bash
# SIGTERM drains: `slotfeed run --poll-now` against slotfeed-sim, one
# clinic answering at once (F) and three slowly (600 ms per request, 1200
# in the sanitizer build; a RIV poll over 7 days is two or three
# requests). When F's poll is logged the slow ones are normally in
# flight; SIGTERM then must: close the HTTP port at once, let the polls
# in flight finish (drain_end reason=idle finished=N aborted=0 for the N
# drain_start counted, at least one: a slow machine may finish some
# before the signal, which is not what is tested), exit 0 within the 5 s
# drain bound, and leave all four polls in the store (read with python3's
# sqlite3). Second run: a clinic that answers after 20 s -> drain_end
# reason=timeout aborted=1 and exit 0 after ~5 s. Third run: two SIGTERMs
# -> shutdown_now, exit 0 at once. Upper time bounds are times
# SLOTFEED_TEST_TIME_SCALE (harness.time_scale). Bounded: about 15 s.
set -euo pipefail

src=${SLOTFEED_SOURCE_DIR:?SLOTFEED_SOURCE_DIR not set}
slotfeed=${SLOTFEED_BIN:?SLOTFEED_BIN not set}
sim=${SLOTFEED_SIM_BIN:?SLOTFEED_SIM_BIN not set}
python3 -c 'import sqlite3' 2>/dev/null || { echo "SKIPPED: python3 sqlite3 missing"; exit 77; }

exec python3 - "$src" "$slotfeed" "$sim" <<'EOF'
import json, os, re, signal, socket, sqlite3, subprocess, sys, tempfile
import time

src, slotfeed, sim = sys.argv[1:4]
sys.path.insert(0, os.path.join(src, "tests", "helpers"))
import harness  # noqa: E402
from harness import (cleanup, fail, procs, read, time_scale,  # noqa: E402
                     user_args, wait_for, write_json)

work = harness.init("drain")
scale = time_scale()


def port_open(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


try:
    demo = json.load(open(os.path.join(src, "conf/demo-region.json"),
                           encoding="utf-8"))
    booked = [c for c in demo["clinics"]
              if c.get("booking", {}).get("adapter") == "rivta-scheduling"
              and c.get("sim", {}).get("profile", "normal") == "normal"][:5]
    if len(booked) < 5:
        fail("demo region has fewer than 5 normal RIV clinics")
    F, S1, S2, S3, H = booked
    for c in (S1, S2, S3):
        # Three requests at most must still fit in the 5 s drain.
        c["sim"] = {"profile": "normal", "latency_ms": 600 * min(scale, 2)}
    H["sim"] = {"profile": "normal", "latency_ms": 20000}
    region = {k: v for k, v in demo.items() if k != "clinics"}
    region["poll_interval_s"] = 600
    region["horizon_days"] = 7   # a poll: dates + one or two timeslot spans
    region["fetch"] = {"timeout_ms": 30000}

    write_json("sim.json", dict(region, clinics=[F, S1, S2, S3, H]))
    simp = subprocess.Popen(
        [sim, "--config", os.path.join(work, "sim.json"),
         "--listen", "127.0.0.1:0"],
        stdout=open(os.path.join(work, "sim.out"), "w"),
        stderr=open(os.path.join(work, "sim.err"), "w"))
    procs.append(simp)
    m = wait_for("sim listening", lambda: re.search(
        r"listening on (http://\S+)", read("sim.out")), 10, simp)
    for c in (F, S1, S2, S3, H):
        c["booking"]["url"] = m.group(1)

    def start(name, clinics):
        db = os.path.join(work, name + ".db")
        write_json(name + ".json", dict(region, clinics=clinics, store=db))
        for f in ("run.out", "run.err"):
            if os.path.exists(os.path.join(work, f)):
                os.rename(os.path.join(work, f),
                          os.path.join(work, name + "." + f))
        p = subprocess.Popen(
            [slotfeed, "run", "--config", os.path.join(work, name + ".json"),
             *user_args,
             "--listen", "127.0.0.1:0", "--poll-now"], cwd=work,
            stdout=open(os.path.join(work, "run.out"), "w"),
            stderr=open(os.path.join(work, "run.err"), "w"))
        procs.append(p)
        m = wait_for("daemon serving", lambda: re.search(
            r"http://127\.0\.0\.1:(\d+)/", read("run.out")), 10, p)
        # F answers at once: when its poll is logged, the slow ones (and
        # H) are in flight.
        wait_for("fast clinic polled", lambda: re.search(
            r"event=poll clinic=%s outcome=ok" % F["id"], read("run.err")),
            10, p)
        return p, int(m.group(1)), db

    def stopped(p, bound, t0):
        """Wait for p's exit; seconds since t0 (the SIGTERM)."""
        try:
            rc = p.wait(timeout=bound + 3)
        except subprocess.TimeoutExpired:
            fail("no exit within %.1f s" % (bound + 3))
        took = time.monotonic() - t0
        if rc != 0:
            fail("exit code %d" % rc)
        if "ERROR: AddressSanitizer" in read("run.err"):
            fail("sanitizer report")
        return took

    # 1. Polls in flight finish within the drain bound and are stored.
    p, port, db = start("idle", [F, S1, S2, S3])
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    wait_for("drain_start", lambda: "event=drain_start" in read("run.err"),
             5, None)
    m = re.search(r"event=drain_start in_flight=(\d+) ", read("run.err"))
    if not m or not 1 <= int(m.group(1)) <= 3:
        fail("drain_start should count 1..3 polls in flight (the slow "
             "ones): %s" % (m.group(0) if m else "missing"))
    in_flight = m.group(1)
    if p.poll() is None and port_open(port):
        fail("the HTTP port still accepts connections while draining")
    took = stopped(p, 5 + scale, t0)
    log = read("run.err")
    m = re.search(r"event=drain_end reason=(\w+) finished=(\d+) "
                  r"aborted=(\d+)", log)
    if not m or m.groups() != ("idle", in_flight, "0"):
        fail("drain_end: %s (in flight at the start: %s)"
             % (m.group(0) if m else "missing", in_flight))
    if took > 5 + 0.5 * scale:
        fail("drain took %.1f s (bound 5 s)" % took)
    c = sqlite3.connect(db)
    rows = dict(c.execute("SELECT c.hsa_id, sum(p.n) FROM poll p JOIN "
                          "clinic c ON c.id = p.clinic_id GROUP BY c.hsa_id"))
    c.close()
    for x in (F, S1, S2, S3):
        if rows.get(x["id"], 0) < 1:
            fail("clinic %s: its poll is not in the store (%r)"
                 % (x["id"], rows))
    print("drain.sh: idle drain of %s polls in %.2f s, 4 polls stored"
          % (in_flight, took))

    # 2. A poll that does not finish: aborted at the drain timeout.
    p, port, db = start("timeout", [F, H])
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    took = stopped(p, 5 + 2 * scale, t0)
    m = re.search(r"event=drain_end reason=(\w+) finished=(\d+) "
                  r"aborted=(\d+)", read("run.err"))
    if not m or m.groups() != ("timeout", "0", "1"):
        fail("drain_end: %s" % (m.group(0) if m else "missing"))
    if not 4.5 <= took <= 5 + 2 * scale:
        fail("timeout drain took %.1f s, want about 5" % took)
    c = sqlite3.connect(db)
    n = c.execute("SELECT count(*) FROM poll").fetchone()[0]
    c.close()
    if n != 1:
        fail("timeout run: want only F's poll stored, got %d runs" % n)
    print("drain.sh: timeout drain in %.2f s" % took)

    # 3. A second SIGTERM stops at once.
    p, port, db = start("twice", [F, H])
    p.send_signal(signal.SIGTERM)
    wait_for("drain_start", lambda: "event=drain_start" in read("run.err"),
             5, None)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    took = stopped(p, 1 + scale, t0)
    if took > 1 + scale or "event=shutdown_now" not in read("run.err"):
        fail("second SIGTERM: exit after %.1f s, shutdown_now %s" % (
            took, "event=shutdown_now" in read("run.err")))
    print("drain.sh: ok")
finally:
    cleanup()
EOF
