#!/usr/bin/env bash
# http.admin_listen and http.public_base_url through `slotfeed run` (issue
# 11 §5, §6): with an admin listener, /metrics, /v1/reports/* and
# /overview answer 404 on the public port and are served on the admin
# one (both bound before --user when run as root); the $bulk-publish
# manifest names the configured base whatever the request's Host says.
# SIGHUP: a changed admin_listen is restart-only (logged, old port kept),
# a changed public_base_url is followed. Bounded: about 10 s.
set -euo pipefail

src=${SLOTFEED_SOURCE_DIR:?SLOTFEED_SOURCE_DIR not set}
slotfeed=${SLOTFEED_BIN:?SLOTFEED_BIN not set}

exec python3 - "$src" "$slotfeed" <<'EOF'
import json, os, re, signal, socket, subprocess, sys, urllib.error
import urllib.request

src, slotfeed = sys.argv[1:3]
sys.path.insert(0, os.path.join(src, "tests", "helpers"))
import harness  # noqa: E402
from harness import cleanup, fail, procs, read, user_args, wait_for, write_json  # noqa: E402,E501

work = harness.init("admin_listen")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, host=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if host is not None:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


try:
    demo = json.load(open(os.path.join(src, "conf/demo-region.json"),
                          encoding="utf-8"))
    region = {k: v for k, v in demo.items() if k != "clinics"}
    # Two clinics without web booking: nothing to poll, the feed is built.
    region["clinics"] = [{k: v for k, v in c.items() if k != "booking"}
                         for c in demo["clinics"][:2]]
    region["store"] = os.path.join(work, "h.db")
    admin = free_port()
    region["http"] = {"admin_listen": "127.0.0.1:%d" % admin,
                      "public_base_url": "https://feed.example.se/vardval/"}
    write_json("region.json", region)
    run = subprocess.Popen(
        [slotfeed, "run", "--config", os.path.join(work, "region.json"),
         *user_args, "--listen", "127.0.0.1:0"], cwd=work,
        stdout=open(os.path.join(work, "run.out"), "w"),
        stderr=open(os.path.join(work, "run.err"), "w"))
    procs.append(run)
    m = wait_for("daemon serving", lambda: re.search(
        r"http://127\.0\.0\.1:(\d+)/", read("run.out")), 10, run)
    pub = int(m.group(1))
    wait_for("public feed", lambda: get(pub, "/healthz")[0] == 200, 10, run)
    if "event=listening_admin" not in read("run.err"):
        fail("no listening_admin log line")

    for path in ("/metrics", "/v1/reports/guarantee?month=2026-01",
                 "/overview", "/overview.js", "/history.js"):
        st, _ = get(pub, path)
        if st != 404:
            fail("public %s: %s, want 404" % (path, st))
        st, _ = get(admin, path)
        if st in (None, 404):
            fail("admin %s: %s, want it served" % (path, st))
    for path in ("/v1/availability", "/", "/healthz"):
        for port in (pub, admin):
            if get(port, path)[0] != 200:
                fail("%s on port %d is not 200" % (path, port))
    st, body = get(admin, "/metrics")
    if st != 200 or "slotfeed_http_requests_total" not in body:
        fail("admin /metrics: %s" % st)

    def manifest_request(host):
        st, body = get(pub, "/$bulk-publish", host)
        if st != 200:
            fail("manifest: %s" % st)
        if "evil" in body:
            fail("the manifest took the Host header: %s" % body)
        return json.loads(body)["request"]

    want = "https://feed.example.se/vardval/$bulk-publish"
    if manifest_request("evil.example") != want:
        fail("manifest request URL is not the configured base")

    # Reload: admin_listen is restart-only, public_base_url follows.
    region["http"] = {"admin_listen": "127.0.0.1:%d" % free_port(),
                      "public_base_url": "https://other.example.se"}
    write_json("region.json", region)
    run.send_signal(signal.SIGHUP)
    wait_for("reload", lambda: "event=reload " in read("run.err"), 10, run)
    if not re.search(r"event=reload_needs_restart key=http\.admin_listen",
                     read("run.err")):
        fail("a changed admin_listen is not reported as restart-only")
    if get(admin, "/metrics")[0] != 200 or get(pub, "/metrics")[0] != 404:
        fail("after SIGHUP the listeners changed")
    if manifest_request("evil.example") != \
            "https://other.example.se/$bulk-publish":
        fail("public_base_url did not follow the reload")

    run.send_signal(signal.SIGTERM)
    try:
        rc = run.wait(timeout=10)
    except subprocess.TimeoutExpired:
        fail("no exit within 10 s of SIGTERM")
    if rc != 0:
        fail("exit code %d after SIGTERM" % rc)
    if "ERROR: AddressSanitizer" in read("run.err"):
        fail("sanitizer report")
    print("admin_listen.sh: ok")
finally:
    cleanup()
EOF
