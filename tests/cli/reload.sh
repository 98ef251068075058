#!/usr/bin/env bash
# SIGHUP reloads the config without losing state. slotfeed-sim serves
# four clinics (A B C D); `slotfeed run --poll-now` starts on A B C. When
# all three are polled, the config is rewritten: C removed, D added, B's
# booking_url changed, A untouched; then SIGHUP. /v1/availability must
# show A B D (polled until a deadline, no fixed sleeps), A with the
# valid_at it had before (not reset to null), D first unknown and then
# polled within its stagger (poll_interval_s 10), the log one line
# "reload ok added=1 removed=1 changed=1 kept=1". Then a config with an
# error + SIGHUP: the error is logged with its JSON path, the daemon keeps
# running on the previous config. Bounded: about 20 s.
set -euo pipefail

src=${SLOTFEED_SOURCE_DIR:?SLOTFEED_SOURCE_DIR not set}
slotfeed=${SLOTFEED_BIN:?SLOTFEED_BIN not set}
sim=${SLOTFEED_SIM_BIN:?SLOTFEED_SIM_BIN not set}

exec python3 - "$src" "$slotfeed" "$sim" <<'EOF'
import json, os, re, signal, subprocess, sys, tempfile, time, urllib.request

src, slotfeed, sim = sys.argv[1:4]
sys.path.insert(0, os.path.join(src, "tests", "helpers"))
import harness  # noqa: E402
from harness import (cleanup, fail, procs, read, user_args,  # noqa: E402
                     wait_for, write_json)

work = harness.init("reload")


try:
    demo = json.load(open(os.path.join(src, "conf/demo-region.json"),
                           encoding="utf-8"))
    booked = [c for c in demo["clinics"]
              if c.get("booking", {}).get("adapter") == "rivta-scheduling"]
    booked = [c for c in booked
              if c.get("sim", {}).get("profile", "normal") == "normal"][:4]
    if len(booked) < 4:
        fail("demo region has fewer than 4 normal RIV clinics")
    A, B, C, D = booked
    region = {k: v for k, v in demo.items() if k != "clinics"}
    region["poll_interval_s"] = 10
    region["store"] = os.path.join(work, "h.db")

    # The simulator knows all four.
    write_json("sim.json", dict(region, clinics=[A, B, C, D]))
    simp = subprocess.Popen(
        [sim, "--config", os.path.join(work, "sim.json"),
         "--listen", "127.0.0.1:0"],
        stdout=open(os.path.join(work, "sim.out"), "w"),
        stderr=open(os.path.join(work, "sim.err"), "w"))
    procs.append(simp)
    m = wait_for("sim listening", lambda: re.search(
        r"listening on (http://\S+)", read("sim.out")), 10, simp)
    sim_url = m.group(1)
    for c in (A, B, C, D):
        c["booking"]["url"] = sim_url

    write_json("region.json", dict(region, clinics=[A, B, C]))
    cfg = os.path.join(work, "region.json")
    run = subprocess.Popen(
        [slotfeed, "run", "--config", cfg, *user_args, "--listen", "127.0.0.1:0",
         "--poll-now"], cwd=work,
        stdout=open(os.path.join(work, "run.out"), "w"),
        stderr=open(os.path.join(work, "run.err"), "w"))
    procs.append(run)
    m = wait_for("daemon serving", lambda: re.search(
        r"http://127\.0\.0\.1:(\d+)/", read("run.out")), 10, run)
    feed_url = "http://127.0.0.1:%s/v1/availability" % m.group(1)

    def feed():
        try:
            with urllib.request.urlopen(feed_url, timeout=2) as r:
                doc = json.load(r)
        except OSError:
            return None
        return {c["id"]: c for c in doc["clinics"]}

    ids = lambda f: sorted(f) if f else None
    f = wait_for("A B C polled", lambda: (lambda f: f if f and all(
        f[c["id"]]["valid_at"] for c in (A, B, C)) else None)(feed()),
        20, run)
    a_valid = f[A["id"]]["valid_at"]

    # Reload: C out, D in, B's booking changed, A as it was.
    B2 = json.loads(json.dumps(B))
    B2["booking"]["booking_url"] = "https://example.invalid/boka/" + B["id"]
    write_json("region.json", dict(region, clinics=[A, B2, D]))
    run.send_signal(signal.SIGHUP)
    want = sorted([A["id"], B["id"], D["id"]])
    f = wait_for("new clinic set after SIGHUP",
                 lambda: (lambda f: f if ids(f) == want else None)(feed()),
                 10, run)
    # The first document with the new set: A's state carried over
    # (a reset state has valid_at null until its next poll).
    if not f[A["id"]]["valid_at"] or f[A["id"]]["valid_at"] < a_valid:
        fail("kept clinic A lost its state: valid_at %r before, %r after"
             % (a_valid, f[A["id"]]["valid_at"]))
    if f[A["id"]]["web_booking"] != "open":
        fail("kept clinic A: web_booking %r" % f[A["id"]]["web_booking"])
    if not f[B["id"]]["valid_at"]:
        fail("changed clinic B lost its slots/state")
    if C["id"] in f:
        fail("removed clinic C still in the feed")
    line = wait_for("reload summary line", lambda: re.search(
        r"event=reload .*", read("run.err")), 5, run)
    if not re.search(r"added=1 removed=1 changed=1 kept=1", line.group(0)):
        fail("reload summary: %s" % line.group(0))
    # The added clinic gets its first poll within its stagger (< 10 s).
    wait_for("added clinic D polled", lambda: (lambda f: f and f.get(
        D["id"], {}).get("valid_at"))(feed()), 15, run)

    # A config with an error: logged with its JSON path, old one kept.
    bad = dict(region, clinics=[A, B2, D])
    bad["poll_interval_s"] = "often"
    write_json("region.json", bad)
    run.send_signal(signal.SIGHUP)
    wait_for("reload_failed logged",
             lambda: "event=reload_failed" in read("run.err"), 10, run)
    if not re.search(r"event=reload_config_error .*\$\.poll_interval_s",
                     read("run.err")):
        fail("the config error is not logged with its JSON path")
    if ids(feed()) != want:
        fail("after a bad reload the feed changed: %s" % ids(feed()))
    if len(re.findall(r"event=reload ", read("run.err"))) != 1:
        fail("a bad config was applied")

    # And still stops cleanly.
    run.send_signal(signal.SIGTERM)
    try:
        rc = run.wait(timeout=10)
    except subprocess.TimeoutExpired:
        fail("no exit within 10 s of SIGTERM")
    if rc != 0:
        fail("exit code %d after SIGTERM" % rc)
    if "ERROR: AddressSanitizer" in read("run.err"):
        fail("sanitizer report")
    print("reload.sh: ok")
finally:
    cleanup()
EOF
