#!/usr/bin/env bash
# Regions federated into a national feed through SMART Scheduling Links
# (docs/operations.md, "The national shape"). slotfeed-sim serves the
# demo region; two regional daemons poll it, split 20 + 21; clinic F001
# of region A is served by a second simulator that is restarted with the
# "garbage" profile after F001's first good poll, so region A shows it
# stale (open, parse error) for good. `slotfeed federate` writes the
# national config from both manifests (keeping the head we wrote: poll
# interval, politeness), check-config accepts it, a re-run with a clinic
# removed lists it as added; a national daemon polls both regions.
# Checked clinic by clinic: the national feed equals the regional ones
# (web_booking, status, error, valid_at when stale, availability, contacts)
# with none, unreachable, stale and error all present; then region B is
# stopped: its clinics turn stale (or stay error) nationally with the
# valid_at they had, region A's stay ok and equal to region A's feed. Deadlines, no fixed sleeps.
set -euo pipefail

src=${SLOTFEED_SOURCE_DIR:?SLOTFEED_SOURCE_DIR not set}
slotfeed=${SLOTFEED_BIN:?SLOTFEED_BIN not set}
sim=${SLOTFEED_SIM_BIN:?SLOTFEED_SIM_BIN not set}

exec python3 - "$src" "$slotfeed" "$sim" <<'EOF'
import datetime, json, os, re, subprocess, sys, urllib.request

src, slotfeed, sim = sys.argv[1:4]
sys.path.insert(0, os.path.join(src, "tests", "helpers"))
import harness  # noqa: E402
from harness import (cleanup, fail, procs, read, user_args,  # noqa: E402
                     wait_for, write_json)

work = harness.init("federation")
scale = harness.time_scale()


def start(name, argv):
    p = subprocess.Popen(argv, cwd=work,
                         stdout=open(os.path.join(work, name + ".out"), "w"),
                         stderr=open(os.path.join(work, name + ".err"), "w"))
    procs.append(p)
    return p


def start_sim(name, cfg, listen="127.0.0.1:0"):
    p = start(name, [sim, "--config", os.path.join(work, cfg),
                     "--listen", listen])
    m = wait_for(name + " listening", lambda: re.search(
        r"listening on (http://127\.0\.0\.1:(\d+))", read(name + ".out")),
        10 * scale, p)
    return p, m.group(1)


def start_daemon(name, cfg):
    p = start(name, [slotfeed, "run", "--config", os.path.join(work, cfg),
                     *user_args, "--listen", "127.0.0.1:0", "--poll-now"])
    m = wait_for(name + " serving", lambda: re.search(
        r"http://127\.0\.0\.1:(\d+)/", read(name + ".out")), 10 * scale, p)
    return p, "http://127.0.0.1:%s" % m.group(1)


def feed(base):
    try:
        with urllib.request.urlopen(base + "/v1/availability",
                                    timeout=2) as r:
            return {c["id"]: c for c in json.load(r)["clinics"]}
    except OSError:
        return None


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=10 * scale)
    except subprocess.TimeoutExpired:
        fail("no exit within 10 s of SIGTERM")


try:
    demo = json.load(open(os.path.join(src, "conf/demo-region.json"),
                          encoding="utf-8"))
    head = {k: v for k, v in demo.items() if k != "clinics"}
    head.update(poll_interval_s=10, publish_interval_s=0)
    head.pop("listen", None)
    clinics = demo["clinics"]
    X = clinics[0]                       # F001, normal RIV: made stale
    assert X["id"] == "SE2321000156-F001" and "booking" in X

    write_json("sim.json", dict(head, clinics=clinics))
    _, sim_url = start_sim("sim", "sim.json")
    write_json("sim2.json", dict(head, clinics=[X]))
    sim2, sim2_url = start_sim("sim2", "sim2.json")
    for c in clinics:
        b = c.get("booking")
        if b is not None:
            b["url"] = b["url"].replace("http://127.0.0.1:18471", sim_url)
    X["booking"]["url"] = sim2_url + "/vp"

    write_json("a.json", dict(head, name="Region A", clinics=clinics[:20]))
    write_json("b.json", dict(head, name="Region B", clinics=clinics[20:]))
    ra, a_url = start_daemon("a", "a.json")
    rb, b_url = start_daemon("b", "b.json")
    harness_logs = ("a.err", "b.err", "n.err")

    # F001 polled once with data, then its upstream turns to garbage.
    wait_for("region A has F001", lambda: (lambda f: f and f[X["id"]][
        "status"] == "ok")(feed(a_url)), 15 * scale, ra)
    stop(sim2)
    X2 = json.loads(json.dumps(X))
    X2["sim"] = {"profile": "garbage"}
    write_json("sim2.json", dict(head, clinics=[X2]))
    start_sim("sim2b", "sim2.json", sim2_url[len("http://"):])
    wait_for("region A shows F001 stale", lambda: (lambda f: f and f[X["id"]][
        "status"] == "stale")(feed(a_url)), 25 * scale, ra)

    # F040 (port 9, refused) turns unreachable at its third failed poll.
    U = clinics[39]
    assert U["id"] == "SE2321000156-F040" and ":9/" in U["booking"]["url"]
    wait_for("region B shows F040 unreachable", lambda: (lambda f: f and f[
        U["id"]]["web_booking"] == "unreachable")(feed(b_url)), 40 * scale,
        rb)

    # The national config: our head, the clinics from both manifests.
    write_json("n.json", dict(head, name="National", clinics=[]))
    fed = [slotfeed, "federate", "--output", os.path.join(work, "n.json"),
           a_url + "/$bulk-publish", b_url + "/$bulk-publish"]
    r = subprocess.run(fed, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        fail("federate: %d %s" % (r.returncode, r.stderr))
    if "41 clinics, 41 added/removed/changed" not in r.stdout:
        fail("federate summary: %r" % r.stdout)
    r = subprocess.run([slotfeed, "check-config", os.path.join(work,
                        "n.json")], capture_output=True, text=True)
    if r.returncode != 0:
        fail("check-config of the federated config: %s" % r.stderr)
    national = json.load(open(os.path.join(work, "n.json")))
    if national["poll_interval_s"] != 10 or "politeness" not in national:
        fail("federate did not keep the config head")
    # A re-run lists what changed: one clinic taken out comes back "+".
    gone = national["clinics"][5]["id"]
    write_json("n2.json", dict(national, clinics=[
        c for c in national["clinics"] if c["id"] != gone]))
    r = subprocess.run(fed[:2] + ["--dry-run", "--output",
                       os.path.join(work, "n2.json")] + fed[4:],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or not re.search(r"^\+ %s " % gone, r.stdout,
                                          re.M) or \
            "41 clinics, 1 added" not in r.stdout:
        fail("re-run diff: %r %r" % (r.stdout, r.stderr))

    rn, n_url = start_daemon("n", "n.json")
    FIELDS = ("name", "municipality", "locality", "operator", "web_booking",
              "status", "error", "first_free", "within_guarantee",
              "upcoming_days", "more_days", "free_slots", "booking_url",
              "phone", "website", "services")

    def diff(reg, nat):
        out = []
        for cid, c in reg.items():
            n = nat.get(cid)
            if n is None:
                out.append((cid, "missing"))
                continue
            for k in FIELDS:
                if c[k] != n[k]:
                    out.append((cid, k, c[k], n[k]))
            if c["status"] != "ok" and c["valid_at"] != n["valid_at"]:
                out.append((cid, "valid_at", c["valid_at"], n["valid_at"]))
        return out

    last = []

    def equal():
        fa, fb, fn = feed(a_url), feed(b_url), feed(n_url)
        if not (fa and fb and fn):
            return None
        d = diff(fa, fn) + diff(fb, fn)
        last[:] = d
        return None if d else (fa, fb, fn)

    end = None
    try:
        end = wait_for("national equals regional", equal, 40 * scale, rn)
    finally:
        if end is None:
            print("differences:", last[:8], file=sys.stderr)
    fa, fb, fn = end
    states = {(c["web_booking"], c["status"]) for c in fn.values()}
    webs = {w for w, _ in states}
    stats = {s for _, s in states}
    for want in ("none", "unreachable", "open"):
        if want not in webs:
            fail("no %s clinic in the national feed: %s" % (want, states))
    for want in ("ok", "stale", "error"):
        if want not in stats:
            fail("no %s clinic in the national feed: %s" % (want, states))
    if sum(1 for c in fn.values() if c["web_booking"] == "none") != 19:
        fail("national none count: %s" % states)

    # Region B goes away: its clinics turn stale nationally, A's do not.
    stop(rb)
    # Region B gone: nothing it says can be newer than this. (A body the
    # national fetched just before may still serve the clinics that share
    # it within its freshness window, so valid_at may move once, but
    # never past the stop.)
    stopped = datetime.datetime.now(datetime.timezone.utc)

    def b_down():
        f = feed(n_url)
        if not f:
            return None
        for cid, c in fb.items():
            n = f[cid]
            want = "error" if c["status"] == "error" else "stale"
            if n["status"] != want:
                return None
            # A clinic without booking has no regional valid_at: the
            # national's own good polls date it (a shared copy fetched
            # before the stop may serve one more), so only data the region
            # dated is held to the stop.
            if c["valid_at"] is not None and n["valid_at"] is not None and \
                    datetime.datetime.fromisoformat(n["valid_at"]) > stopped:
                fail("%s: valid_at %s after region B stopped" %
                     (cid, n["valid_at"]))
        return f

    f = wait_for("region B's clinics stale nationally", b_down, 25 * scale,
                 rn)
    # Region A keeps polling a simulator whose availability moves, so its
    # feed and the national copy may be one poll apart at any instant: A's
    # clinics must stay ok nationally and converge to A's feed again.
    for cid, c in fa.items():
        if c["status"] == "ok" and f[cid]["status"] != "ok":
            fail("region A's %s turned %s when B stopped" %
                 (cid, f[cid]["status"]))
    a_last = []

    def a_same():
        ga, gn = feed(a_url), feed(n_url)
        if not (ga and gn):
            return None
        a_last[:] = diff(ga, gn)
        return None if a_last else True

    ok = None
    try:
        ok = wait_for("region A's clinics equal nationally after B stopped",
                      a_same, 30 * scale, rn)
    finally:
        if ok is None:
            print("differences:", a_last[:8], file=sys.stderr)
    for p in (ra, rn):
        stop(p)
    for log in harness_logs:
        if "ERROR: AddressSanitizer" in read(log):
            fail("sanitizer report in " + log)
    print("federation.sh: ok: %d clinics, states %s" % (len(fn),
                                                        sorted(states)))
finally:
    cleanup()
EOF
