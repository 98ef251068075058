#!/usr/bin/env bash
# conf/nginx/slotfeed.conf in front of slotfeed (issue 15 §4): slotfeed-sim
# and the daemon (http.max_age_s 2, an admin listener) on loopback, nginx
# with the shipped config (listen port, upstream port and cache path
# replaced) and a prefix of its own under the build directory. Then:
# 1. the operator's routes (/metrics, /v1/reports/..., /overview) are 404
#    through nginx and never reach slotfeed;
# 2. 200 client requests over about 5 s (2.5 max-ages) on 14 cache keys,
#    half with If-None-Match: every 304 is for the ETag sent, every 200
#    is for another one; slotfeed sees at most one request per cache key
#    per max-age window (its /metrics request counters on the admin
#    port), and revalidations are answered 304 by slotfeed;
# 3. slotfeed stopped, nginx still serves the last feed (STALE).
# No fixed sleeps: readiness and expiry are polled with deadlines.
set -euo pipefail

src=${SLOTFEED_SOURCE_DIR:?SLOTFEED_SOURCE_DIR not set}
bindir=${SLOTFEED_BINARY_DIR:?SLOTFEED_BINARY_DIR not set}
slotfeed=${SLOTFEED_BIN:?SLOTFEED_BIN not set}
sim=${SLOTFEED_SIM_BIN:?SLOTFEED_SIM_BIN not set}

nginx=$(command -v nginx || true)
[ -n "$nginx" ] || [ ! -x /usr/sbin/nginx ] || nginx=/usr/sbin/nginx
if [ -z "$nginx" ]; then
    echo "nginx_proxy.sh: SKIP: no nginx (apt-get install nginx-light)"
    exit 77
fi

exec python3 - "$src" "$bindir" "$slotfeed" "$sim" "$nginx" <<'EOF'
import http.client, json, math, os, re, shutil, signal, socket
import subprocess, sys, time

src, bindir, slotfeed, sim, nginx = sys.argv[1:6]
sys.path.insert(0, os.path.join(src, "tests", "helpers"))
import harness  # noqa: E402
from harness import fail, procs, read, user_args, wait_for, write_json  # noqa: E402,E501

work = harness.init("nginx_proxy")
MAX_AGE = 2
scale = harness.time_scale()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, headers=None, conn=None):
    """(status, headers dict lower-cased, body) or (None, {}, b"")."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    except OSError:
        if conn is not None:
            conn.close()
        return None, {}, b""
    finally:
        if conn is None:
            c.close()


def origin_counts(admin):
    """slotfeed_http_requests_total by route, and by (route, code)."""
    st, _, body = get(admin, "/metrics")
    if st != 200:
        fail("admin /metrics: %s" % st)
    by_route, by_code = {}, {}
    for m in re.finditer(r'^slotfeed_http_requests_total\{route="(\w+)",'
                         r'code="(\d+)"\} (\d+)$', body.decode(), re.M):
        n = int(m.group(3))
        by_route[m.group(1)] = by_route.get(m.group(1), 0) + n
        by_code[(m.group(1), m.group(2))] = n
    return by_route, by_code


nginx_proc = None
prefix = os.path.join(bindir, "nginx_proxy")
try:
    # --- slotfeed-sim and the daemon -------------------------------------
    demo = json.load(open(os.path.join(src, "conf/demo-region.json"),
                          encoding="utf-8"))
    region = {k: v for k, v in demo.items() if k != "clinics"}
    booked = [c for c in demo["clinics"] if c.get("booking")][:3]
    region["clinics"] = booked
    # Polled once at start (--poll-now), then not within the test: the
    # documents keep their content, revalidations can be answered 304.
    region["poll_interval_s"] = 3600
    region["politeness"] = {"rate_per_s": 500, "burst": 100,
                            "max_concurrent_per_host": 8}
    region["store"] = os.path.join(work, "h.db")
    admin = free_port()
    region["http"] = {"admin_listen": "127.0.0.1:%d" % admin,
                      "max_age_s": MAX_AGE,
                      "public_base_url": "https://feed.example.se"}
    write_json("region.json", region)
    simp = subprocess.Popen(
        [sim, "--config", os.path.join(work, "region.json"),
         "--listen", "127.0.0.1:0"], cwd=work,
        stdout=open(os.path.join(work, "sim.out"), "w"),
        stderr=open(os.path.join(work, "sim.err"), "w"))
    procs.append(simp)
    m = wait_for("sim listening", lambda: re.search(
        r"listening on (http://127\.0\.0\.1:\d+)/", read("sim.out")),
        10 * scale, simp)
    text = read("region.json").replace("http://127.0.0.1:18471/",
                                       m.group(1) + "/")
    if m.group(1) not in text:
        fail("could not point the region copy at the sim")
    write_json("region.json", json.loads(text))
    run = subprocess.Popen(
        [slotfeed, "run", "--config", os.path.join(work, "region.json"),
         *user_args, "--listen", "127.0.0.1:0", "--poll-now"], cwd=work,
        stdout=open(os.path.join(work, "run.out"), "w"),
        stderr=open(os.path.join(work, "run.err"), "w"))
    procs.append(run)
    m = wait_for("daemon serving", lambda: re.search(
        r"http://127\.0\.0\.1:(\d+)/", read("run.out")), 10 * scale, run)
    origin = int(m.group(1))

    def all_polled():
        st, _, body = get(origin, "/v1/availability")
        if st != 200:
            return None
        doc = json.loads(body)
        return doc if all(c["checked_at"] is not None
                          for c in doc["clinics"]) else None
    doc = wait_for("every clinic polled", all_polled, 20 * scale, run)
    ids = [c["id"] for c in doc["clinics"]]

    # --- nginx with the shipped config -----------------------------------
    shutil.rmtree(prefix, ignore_errors=True)
    os.makedirs(os.path.join(prefix, "logs"))
    os.chmod(prefix, 0o755)
    proxy = free_port()
    conf = open(os.path.join(src, "conf/nginx/slotfeed.conf"),
                encoding="utf-8").read()
    for old, new in (("listen 80;", "listen 127.0.0.1:%d;" % proxy),
                     ("server 127.0.0.1:8080 ", "server 127.0.0.1:%d "
                      % origin),
                     ("/var/cache/nginx/slotfeed",
                      os.path.join(prefix, "cache"))):
        if conf.count(old) != 1:
            fail("conf/nginx/slotfeed.conf: %r not found once" % old)
        conf = conf.replace(old, new)
    open(os.path.join(prefix, "slotfeed.conf"), "w").write(conf)
    open(os.path.join(prefix, "nginx.conf"), "w").write(
        "worker_processes 1;\n"
        "pid %(p)s/nginx.pid;\n"
        "error_log %(p)s/logs/error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "  log_format c '$request_uri $upstream_cache_status $status';\n"
        "  access_log %(p)s/logs/access.log c;\n"
        "  client_body_temp_path %(p)s/tmp/body;\n"
        "  proxy_temp_path %(p)s/tmp/proxy;\n"
        "  fastcgi_temp_path %(p)s/tmp/fastcgi;\n"
        "  uwsgi_temp_path %(p)s/tmp/uwsgi;\n"
        "  scgi_temp_path %(p)s/tmp/scgi;\n"
        "  include %(p)s/slotfeed.conf;\n"
        "}\n" % {"p": prefix})
    os.makedirs(os.path.join(prefix, "tmp"))
    args = [nginx, "-p", prefix, "-e", os.path.join(prefix, "logs/error.log"),
            "-c", os.path.join(prefix, "nginx.conf"), "-g", "daemon off;"]
    t = subprocess.run(args[:-2] + ["-t"], capture_output=True, text=True)
    if t.returncode != 0:
        fail("nginx -t: %s" % t.stderr)
    nginx_proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(prefix, "logs/stderr"), "w"))
    procs.append(nginx_proc)
    wait_for("nginx serving", lambda: get(proxy, "/healthz")[0] == 200,
             10 * scale, nginx_proc)

    # --- 1. the operator's routes stay off the public side ----------------
    before, _ = origin_counts(admin)
    for path in ("/metrics", "/v1/reports/guarantee?month=2026-01",
                 "/overview", "/overview.js", "/history.js",
                 "/overview.html", "/nothing"):
        st, _, _ = get(proxy, path)
        if st != 404:
            fail("through nginx %s: %s, want 404" % (path, st))
    after, _ = origin_counts(admin)
    leaked = {r: after.get(r, 0) - before.get(r, 0) for r in after
              if r != "metrics" and after.get(r, 0) != before.get(r, 0)}
    if leaked:
        fail("operator routes reached slotfeed through nginx: %s" % leaked)

    # --- 2. bounded client load --------------------------------------------
    paths = {"availability": ["/v1/availability"],
             "clinic": ["/v1/clinics/" + ids[0], "/v1/clinics/" + ids[1]],
             "slots": ["/v1/clinics/%s/slots" % ids[0]],
             "bulk": ["/$bulk-publish", "/bulk/Slot.ndjson",
                      "/bulk/Location.ndjson"]}
    static = ["/", "/app.js"]
    keys = [(r, p, enc) for r, ps in paths.items() for p in ps
            for enc in ("gzip", None)] + \
           [("static", p, None) for p in static]
    before, codes_before = origin_counts(admin)
    etags = {}
    n_req, n200, n304, duration = 200, 0, 0, 5.0
    conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=5)
    t0 = time.monotonic()
    for i in range(n_req):
        route, path, enc = keys[i % len(keys)]
        h = {"Accept-Encoding": "gzip"} if enc else {}
        sent = etags.get((path, enc)) if (i // len(keys)) % 2 else None
        if sent:
            h["If-None-Match"] = sent
        st, hd, body = get(proxy, path, h, conn)
        if st is None:
            conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=5)
            st, hd, body = get(proxy, path, h, conn)
        tag = hd.get("etag")
        if st == 304:
            n304 += 1
            if sent is None or tag != sent or body:
                fail("%s: 304 for If-None-Match %s, ETag %s" %
                     (path, sent, tag))
        elif st == 200:
            n200 += 1
            if not body or tag is None or tag == sent:
                fail("%s: 200 with ETag %s for If-None-Match %s" %
                     (path, tag, sent))
            # The feed and clinic documents have a gzip copy; the others
            # are served as they are.
            if (enc == "gzip") != (hd.get("content-encoding") == "gzip") \
                    and route in ("availability", "clinic"):
                fail("%s: Content-Encoding %s for Accept-Encoding %s" %
                     (path, hd.get("content-encoding"), enc))
            etags[(path, enc)] = tag
        else:
            fail("%s through nginx: %s" % (path, st))
        # Pace the load over `duration` (shape of the load, not a wait).
        ahead = t0 + duration * (i + 1) / n_req - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    elapsed = time.monotonic() - t0
    after, codes_after = origin_counts(admin)
    # A key reaches slotfeed once when first missed, then at most once
    # per expiry, max-age after the last fetch: 1 + elapsed / max-age,
    # +1 because nginx dates entries by its whole-second clock (an entry
    # fetched at 0.9 s expires at 2.0 s).
    windows = math.floor(elapsed / MAX_AGE) + 2
    report = []
    for route in list(paths) + ["static"]:
        nkeys = sum(1 for k in keys if k[0] == route)
        seen = after.get(route, 0) - before.get(route, 0)
        report.append("%s %d (keys %d)" % (route, seen, nkeys))
        if seen > nkeys * windows:
            fail("slotfeed saw %d %s requests for %d keys in %.1f s "
                 "(max-age %d s): more than one per key per max-age" %
                 (seen, route, nkeys, elapsed, MAX_AGE))
        if seen < 1:
            fail("slotfeed saw no %s request at all" % route)
    origin_total = sum(after.get(r, 0) - before.get(r, 0)
                       for r in list(paths) + ["static"])
    # Revalidations: nginx asked with the cached ETag, slotfeed said 304.
    reval = sum(codes_after.get(k, 0) - codes_before.get(k, 0)
                for k in codes_after if k[1] == "304")
    if reval < 1:
        fail("no revalidation answered 304 by slotfeed in %.1f s "
             "(proxy_cache_revalidate)" % elapsed)
    if n304 < 1 or n200 < 1:
        fail("clients got %d 200 and %d 304" % (n200, n304))

    # --- 3. slotfeed stopped: the last feed from the cache -----------------
    st, hd, last = get(proxy, "/v1/availability")
    if st != 200:
        fail("feed through nginx: %s" % st)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=15 * scale)

    def stale():
        s, h, b = get(proxy, "/v1/availability")
        if s != 200:
            fail("feed through nginx with slotfeed stopped: %s" % s)
        return (h, b) if h.get("x-cache-status") == "STALE" else None
    h, body = wait_for("a stale copy served", stale, (MAX_AGE + 10) * scale)
    if body != last or h.get("etag") != hd.get("etag"):
        fail("the stale copy is not the last feed served")
    statuses = {}
    for line in open(os.path.join(prefix, "logs/access.log")):
        f = line.split()
        if len(f) == 3:
            statuses[f[1]] = statuses.get(f[1], 0) + 1
    print("nginx_proxy.sh: %d requests in %.1f s (max-age %d s): "
          "%d x 200, %d x 304 to clients; slotfeed saw %d (%s), %d of them "
          "revalidations answered 304; nginx cache statuses %s; slotfeed "
          "stopped: the last feed still served (STALE)" %
          (n_req, elapsed, MAX_AGE, n200, n304, origin_total,
           ", ".join(report), reval, json.dumps(statuses, sort_keys=True)))
finally:
    # nginx's master stops its workers on SIGTERM; a SIGKILL (the
    # harness' way) would leave them running, orphaned.
    if nginx_proc is not None and nginx_proc.poll() is None:
        nginx_proc.terminate()
        try:
            nginx_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    harness.cleanup()
    shutil.rmtree(prefix, ignore_errors=True)
EOF
