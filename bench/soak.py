#!/usr/bin/env python3
"""Soak helper for bench/soak.sh (issue 7 part 4; owner: soak engineer).

Two subcommands, python3 stdlib only:

  soak.py region OUT N STORE SEED
      A region of N simulated clinics (RIV / FHIR / SMART, about 10 %
      without web booking) with a deterministic mix of faults, 10 s polls
      and the history store at STORE. Booking URLs point at
      http://127.0.0.1:1; soak.sh swaps in the simulator's port.

  soak.py drive BASE PID SECONDS OUTDIR
      Steady client load on the feed at BASE while sampling the daemon
      (PID) every SOAK_SAMPLE_S seconds: RSS, peak RSS, fds, threads, and
      /metrics counters. Prints the samples, the load's figures and the
      verdict; exit 0 = within bounds, 1 = growth / errors, 2 = setup.

Knobs (environment): SOAK_RATE (requests/s, default 150), SOAK_WORKERS
(4), SOAK_SAMPLE_S (10), SOAK_WARMUP_MIN_S (15: at least one poll cycle),
SOAK_RSS_TOL_KIB (2048), SOAK_RSS_TOL_PCT (5), SOAK_FD_TOL (8),
SOAK_RSS_CHECK (1; 0 reports RSS without judging it, e.g. under ASan whose
quarantine keeps freed memory resident by design).
"""

import datetime
import gzip
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time

# The simulator reads the same file, so the placeholder must parse as a
# URL: port 1, swapped for the simulator's port by soak.sh.
SIM = "http://127.0.0.1:1"
MUNICIPALITIES = [
    "Arvika", "Eda", "Filipstad", "Forshaga", "Grums", "Hagfors",
    "Hammarö", "Karlstad", "Kil", "Kristinehamn", "Munkfors", "Storfors",
    "Sunne", "Säffle", "Torsby", "Årjäng",
]


# --- region ---------------------------------------------------------------

def fault_for(rnd):
    """One clinic's sim object: mostly healthy, a fifth or so faulty."""
    x = rnd.random()
    if x < 0.50:
        s = {"profile": "normal"}
        if rnd.random() < 0.5:          # schedules change during the run
            s["change_every_s"] = rnd.choice([20, 30, 60, 120])
        if rnd.random() < 0.2:
            s["latency_ms"] = rnd.choice([50, 200, 800])
        if rnd.random() < 0.1:
            s["fail_rate"] = 0.2
        return s
    if x < 0.60:
        return {"profile": "busy", "change_every_s": 45}
    if x < 0.66:
        return {"profile": "full"}
    if x < 0.72:
        return {"profile": "flaky", "fail_rate": 0.3, "latency_ms": 150,
                "change_every_s": 30}
    if x < 0.74:
        # Retry-After holds the whole (shared) host: keep it short.
        return {"profile": "http429", "retry_after_s": 1}
    if x < 0.78:
        return {"profile": "truncated"}
    if x < 0.82:
        return {"profile": "garbage"}
    if x < 0.85:
        return {"profile": "error"}
    if x < 0.88:
        return {"profile": "reset"}
    if x < 0.90:
        # Not "http503": its Retry-After: 60 holds the whole host, and
        # every clinic here shares the simulator's one host, so polling
        # would pause for a minute at a time. fail_rate answers 503
        # without Retry-After instead.
        return {"profile": "normal", "fail_rate": 0.5}
    if x < 0.92:
        return {"profile": "hostile"}
    if x < 0.95:
        return {"profile": rnd.choice(["vp004", "vp007"])}
    if x < 0.96:
        return {"profile": "hang"}
    if x < 0.97:
        return {"profile": "huge", "body_bytes": 8 << 20}
    if x < 0.99 and os.environ.get("SOAK_NO_HOSTILE") != "1":
        # Hostile transport (simulators from issue 7 on).
        return {"profile": "gzip-bomb" if x < 0.98 else "redirect-loop",
                **({"body_bytes": 64 << 20} if x < 0.98 else {})}
    return {"profile": "drip", "drip_bytes_per_s": 2048}


def make_region(out, n, store, seed):
    rnd = random.Random(seed)
    clinics = []
    for i in range(1, n + 1):
        cid = "SE2321000156-S%03d" % i
        muni = MUNICIPALITIES[i % len(MUNICIPALITIES)]
        c = {"id": cid, "name": "Soak fysio %d" % i, "municipality": muni,
             "operator": "private" if i % 3 else "region"}
        x = rnd.random()
        if x < 0.10:
            clinics.append(c)           # no web booking
            continue
        book = "https://e-tjanster.1177.se/demo/boka-tid/" + cid
        if x < 0.65:
            c["booking"] = {"adapter": "rivta-scheduling", "url": SIM + "/vp",
                            "booking_url": book, "time_type_id": "NYB",
                            "time_type_name": "Nybesök fysioterapeut"}
            c["sim"] = fault_for(rnd)
        elif x < 0.88:
            c["booking"] = {"adapter": "fhir-slot",
                            "url": SIM + "/fhir/%s" % "abc"[i % 3],
                            "booking_url": book, "actor": "Location/s%03d" % i,
                            "time_type_name": "Nybesök fysioterapeut"}
            c["sim"] = fault_for(rnd)
        else:
            # A SMART publisher's first clinic decides its faults: keep
            # them to schedule changes so the publishers stay mostly up.
            c["booking"] = {"adapter": "smart-bulk",
                            "url": SIM + "/smart/p%d/$bulk-publish" % (i % 3),
                            "booking_url": book, "location": "loc-s%03d" % i,
                            "time_type_name": "Nybesök fysioterapeut"}
            c["sim"] = {"profile": rnd.choice(["normal", "busy", "flaky"]),
                        "change_every_s": 40}
        clinics.append(c)
    region = {
        "name": "Soak region (%d simulated clinics)" % n,
        "timezone": "Europe/Stockholm",
        "guarantee": {"days": 3, "counting": "calendar"},
        "horizon_days": 28,
        "poll_interval_s": 10,
        "store": store,
        "fetch": {"connect_timeout_ms": 1000, "timeout_ms": 4000},
        # One loopback host serves every clinic: let it take the load, and
        # keep backoff short (the host is held after failures in a row,
        # which a fifth of faulty clinics produce) so polls keep flowing.
        "politeness": {"rate_per_s": 500, "burst": 50,
                       "max_concurrent_per_host": 16, "backoff_base_s": 1,
                       "backoff_max_s": 2, "breaker_failures": 50,
                       "breaker_cooldown_s": 5},
        "riv": {"subject_of_care": "191212121212"},
        "clinics": clinics,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(region, f, ensure_ascii=False, indent=1)


# --- daemon sampling --------------------------------------------------------

def proc_status(pid):
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                d[k] = int(v.split()[0])
    d["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return d


def parse_metrics(text):
    m = {"polls": 0, "poll_err": 0, "http": 0, "http_odd": 0, "http_5xx": 0,
         "fail_by_class": {}, "by_code": {}}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name, _, val = line.rpartition(" ")
        try:
            v = float(val)
        except ValueError:
            continue
        if name == "slotfeed_polls_total":
            m["polls"] = int(v)
        elif name.startswith("slotfeed_poll_failures_total{"):
            m["poll_err"] += int(v)
            cls = name.split('class="', 1)[1].split('"', 1)[0]
            m["fail_by_class"][cls] = int(v)
        elif name.startswith("slotfeed_http_requests_total{"):
            code = int(name.split('code="', 1)[1].split('"', 1)[0])
            m["http"] += int(v)
            m["by_code"][code] = m["by_code"].get(code, 0) + int(v)
            if not (200 <= code < 300 or code == 304):
                m["http_odd"] += int(v)
            if code >= 500:
                m["http_5xx"] += int(v)
    return m


# --- load -------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat = {}          # route -> [seconds]
        self.codes = {}        # route -> {code: n}
        self.errors = []       # (route, text), first few
        self.nerr = 0
        self.unexpected = 0    # 5xx, or a status the route must not give
        self.total = 0

    def add(self, route, code, dt, ok):
        with self.lock:
            self.total += 1
            self.lat.setdefault(route, []).append(dt)
            c = self.codes.setdefault(route, {})
            c[code] = c.get(code, 0) + 1
            if not ok:
                self.unexpected += 1
                if len(self.errors) < 10:
                    self.errors.append((route, "HTTP %d" % code))

    def fail(self, route, text):
        with self.lock:
            self.total += 1
            self.nerr += 1
            if len(self.errors) < 10:
                self.errors.append((route, text))


class Feed:
    """What the workers know of the feed: clinic ids and the latest ETag."""

    def __init__(self):
        self.ids = []
        self.etag = None


def build_mix(feed, today):
    month = today.strftime("%Y-%m")
    frm = (today - datetime.timedelta(days=7)).isoformat()
    to = today.isoformat()
    # (weight, route label, path function, headers function, ok statuses)
    return [
        (14, "avail", lambda r: "/v1/availability", lambda r: {},
         (200,)),
        (14, "avail-gz", lambda r: "/v1/availability",
         lambda r: {"Accept-Encoding": "gzip"}, (200,)),
        (20, "avail-304", lambda r: "/v1/availability",
         lambda r: {"If-None-Match": feed.etag or '"none"'}, (200, 304)),
        (10, "avail-filter",
         lambda r: "/v1/availability?municipality=%s&within_guarantee=true"
         % r.choice(["Karlstad", "Arvika", "Kil", "Torsby", "Sunne"]),
         lambda r: {"Accept-Encoding": "gzip"} if r.random() < 0.5 else {},
         (200,)),
        (14, "clinic",
         lambda r: "/v1/clinics/" + (r.choice(feed.ids) if feed.ids
                                     else "SE2321000156-S001"),
         lambda r: {}, (200,)),
        (2, "clinic-404", lambda r: "/v1/clinics/SE2321000156-NOSUCH",
         lambda r: {}, (404,)),
        (5, "bulk", lambda r: "/$bulk-publish", lambda r: {}, (200,)),
        (3, "bulk-ndjson", lambda r: "/bulk/Slot.ndjson",
         lambda r: {"Accept-Encoding": "gzip"}, (200,)),
        (3, "metrics", lambda r: "/metrics", lambda r: {}, (200,)),
        (8, "healthz", lambda r: "/healthz", lambda r: {}, (200,)),
        (2, "overview", lambda r: "/overview", lambda r: {}, (200,)),
        (2, "report-web",
         lambda r: "/v1/reports/web-booking?from=%s&to=%s" % (frm, to),
         lambda r: {}, (200,)),
        (2, "report-guar",
         lambda r: "/v1/reports/guarantee?month=%s" % month,
         lambda r: {}, (200,)),
    ]


def worker(host, port, rate, stop_at, mix, feed, stats, seed):
    rnd = random.Random(seed)
    weights = [m[0] for m in mix]
    conn = None
    period = 1.0 / rate
    nxt = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= stop_at:
            break
        if nxt > now:
            time.sleep(nxt - now)
        # Steady rate: a late worker catches up by at most one second.
        nxt = max(nxt + period, time.monotonic() - 1.0)
        _, route, pathf, hdrf, oks = rnd.choices(mix, weights)[0]
        path = pathf(rnd)
        hdrs = hdrf(rnd)
        # One request in 20 on a fresh connection (accept/close paths).
        if conn is None or rnd.random() < 0.05:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=10)
        t0 = time.monotonic()
        try:
            conn.request("GET", path, headers=hdrs)
            resp = conn.getresponse()
            body = resp.read()
            dt = time.monotonic() - t0
            code = resp.status
            if route.startswith("avail") and code == 200:
                et = resp.getheader("ETag")
                if et and route == "avail":
                    feed.etag = et
            if (code == 200 and resp.getheader("Content-Encoding") == "gzip"
                    and rnd.random() < 0.1):
                gzip.decompress(body)       # occasionally check the bytes
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
            stats.add(route, code, dt, code in oks and code < 500)
        except (OSError, http.client.HTTPException, EOFError) as e:
            stats.fail(route, "%s: %s" % (type(e).__name__, e))
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def get(host, port, path, timeout=10):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read(), r.getheader("ETag")
    finally:
        c.close()


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def drive(base, pid, seconds, outdir):
    env = os.environ.get
    rate = float(env("SOAK_RATE", "150"))
    nworkers = int(env("SOAK_WORKERS", "4"))
    sample_s = float(env("SOAK_SAMPLE_S", "10"))
    warm_min = float(env("SOAK_WARMUP_MIN_S", "15"))
    tol_kib = int(env("SOAK_RSS_TOL_KIB", "2048"))
    tol_pct = float(env("SOAK_RSS_TOL_PCT", "5"))
    fd_tol = int(env("SOAK_FD_TOL", "8"))
    rss_check = env("SOAK_RSS_CHECK", "1") != "0"

    hp = base.split("://", 1)[1].rstrip("/")
    host, port = hp.rsplit(":", 1)
    port = int(port)

    feed = Feed()
    try:
        code, body, et = get(host, port, "/v1/availability")
        doc = json.loads(body)
        feed.ids = [c["id"] for c in doc["clinics"]]
        feed.etag = et
    except (OSError, ValueError, KeyError) as e:
        print("soak: cannot read the feed at %s: %s" % (base, e))
        return 2

    stats = Stats()
    mix = build_mix(feed, datetime.date.today())
    t_start = time.monotonic()
    stop_at = t_start + seconds
    threads = [threading.Thread(target=worker, daemon=True,
                                args=(host, port, rate / nworkers, stop_at,
                                      mix, feed, stats, 1000 + i))
               for i in range(nworkers)]
    for t in threads:
        t.start()

    samples = []
    next_sample = t_start
    dead = False
    while True:
        now = time.monotonic()
        if now < next_sample:
            time.sleep(min(next_sample - now, max(0.0, stop_at - now)))
        t = time.monotonic() - t_start
        try:
            st = proc_status(pid)
        except OSError:
            dead = True
            print("soak: the daemon (pid %d) is gone at t=%.0f s" % (pid, t))
            break
        try:
            _, mb, _ = get(host, port, "/metrics")
            mt = parse_metrics(mb.decode("utf-8", "replace"))
        except (OSError, http.client.HTTPException) as e:
            mt = None
            print("soak: /metrics failed at t=%.0f s: %s" % (t, e))
        samples.append({"t": t, "rss": st["VmRSS"], "hwm": st["VmHWM"],
                        "fds": st["fds"], "thr": st["Threads"],
                        "load": stats.total, "m": mt})
        if time.monotonic() >= stop_at:
            break
        next_sample += sample_s
        if next_sample > stop_at:
            next_sample = stop_at
    for th in threads:
        th.join(timeout=15)
    elapsed = time.monotonic() - t_start

    with open(os.path.join(outdir, "samples.json"), "w") as f:
        json.dump(samples, f)

    # --- table ---
    print("%7s %9s %9s %5s %4s %8s %8s %9s %7s %8s" % (
        "t_s", "rss_kib", "hwm_kib", "fds", "thr", "polls", "poll_err",
        "http_req", "non2xx", "load_req"))
    for s in samples:
        m = s["m"] or {}
        print("%7.0f %9d %9d %5d %4d %8s %8s %9s %7s %8d" % (
            s["t"], s["rss"], s["hwm"], s["fds"], s["thr"],
            m.get("polls", "-"), m.get("poll_err", "-"), m.get("http", "-"),
            m.get("http_odd", "-"), s["load"]))

    # --- load figures ---
    all_lat = [x for v in stats.lat.values() for x in v]
    print()
    print("load: %d requests in %.0f s (%.0f req/s, target %.0f), "
          "%d transport errors, %d unexpected statuses" % (
              stats.total, elapsed, stats.total / max(elapsed, 1e-9), rate,
              stats.nerr, stats.unexpected))
    print("%-13s %7s %8s %8s %8s %8s  %s" % ("route", "n", "p50_ms",
                                            "p90_ms", "p99_ms", "max_ms",
                                            "statuses"))
    for route in sorted(stats.lat):
        v = stats.lat[route]
        print("%-13s %7d %8.2f %8.2f %8.2f %8.2f  %s" % (
            route, len(v), pct(v, 50) * 1e3, pct(v, 90) * 1e3,
            pct(v, 99) * 1e3, max(v) * 1e3,
            " ".join("%d:%d" % kv for kv in sorted(stats.codes[route].items()))))
    if all_lat:
        print("%-13s %7d %8.2f %8.2f %8.2f %8.2f" % (
            "all", len(all_lat), pct(all_lat, 50) * 1e3,
            pct(all_lat, 90) * 1e3, pct(all_lat, 99) * 1e3,
            max(all_lat) * 1e3))
    for route, text in stats.errors:
        print("  error: %s: %s" % (route, text))

    # --- verdict ---
    bad = []
    warm = max(0.2 * seconds, warm_min)
    post = [s for s in samples if s["t"] >= warm]
    print()
    if dead:
        bad.append("the daemon died during the run")
    if len(post) < 4:
        bad.append("only %d samples after the %.0f s warm-up (run longer)"
                   % (len(post), warm))
    else:
        early = post[:max(1, len(post) // 4)]
        last3 = post[-3:]
        base_rss = max(s["rss"] for s in early)
        med_rss = statistics.median(s["rss"] for s in post)
        end_rss = min(s["rss"] for s in last3)
        tol = max(tol_kib, base_rss * tol_pct / 100.0)
        # Least-squares slope of RSS over the post-warm-up samples.
        ts = [s["t"] for s in post]
        rs = [s["rss"] for s in post]
        mt_, mr = statistics.mean(ts), statistics.mean(rs)
        den = sum((x - mt_) ** 2 for x in ts) or 1.0
        slope = sum((x - mt_) * (y - mr) for x, y in zip(ts, rs)) / den * 60
        print("warm-up: first %.0f s; post-warm-up samples: %d" % (
            warm, len(post)))
        print("RSS: after warm-up (max of first quarter) %d KiB, median %d "
              "KiB, end (min of last 3) %d KiB, growth %+d KiB "
              "(bound +%d KiB), slope %+.1f KiB/min, peak (VmHWM) %d KiB" % (
                  base_rss, med_rss, end_rss, end_rss - base_rss, tol, slope,
                  samples[-1]["hwm"]))
        if end_rss - base_rss > tol:
            msg = "RSS grew %d KiB after warm-up (bound %d KiB)" % (
                end_rss - base_rss, tol)
            if rss_check:
                bad.append(msg)
            else:
                print("  (not judged: SOAK_RSS_CHECK=0) " + msg)
        base_fd = max(s["fds"] for s in early)
        end_fd = min(s["fds"] for s in last3)
        print("fds: after warm-up max %d, end (min of last 3) %d, max "
              "post-warm-up %d (bound +%d)" % (
                  base_fd, end_fd, max(s["fds"] for s in post), fd_tol))
        if end_fd - base_fd > fd_tol:
            bad.append("open fds grew from %d to %d" % (base_fd, end_fd))
        base_thr = max(s["thr"] for s in early)
        end_thr = min(s["thr"] for s in last3)
        print("threads: after warm-up %d, end %d" % (base_thr, end_thr))
        if end_thr - base_thr > 2:
            bad.append("threads grew from %d to %d" % (base_thr, end_thr))
    ms = [s["m"] for s in samples if s["m"]]
    if ms:
        m = ms[-1]
        print("daemon /metrics at the end: %d polls, %d poll errors (%s), "
              "%d HTTP requests, %d not 2xx/304 (%s), %d 5xx" % (
                  m["polls"], m["poll_err"],
                  ", ".join("%s %d" % kv for kv in
                            sorted(m["fail_by_class"].items()) if kv[1]),
                  m["http"], m["http_odd"],
                  ", ".join("%d: %d" % kv for kv in sorted(m["by_code"].items())
                            if not (200 <= kv[0] < 300 or kv[0] == 304)),
                  m["http_5xx"]))
        if m["http_5xx"]:
            bad.append("the daemon answered %d requests with 5xx"
                       % m["http_5xx"])
        if m["polls"] == 0:
            bad.append("no polls finished")
        if len(ms) >= 2 and ms[-1]["polls"] <= ms[0]["polls"]:
            bad.append("polls stopped (%d at the first sample, %d at the "
                       "end)" % (ms[0]["polls"], ms[-1]["polls"]))
    else:
        bad.append("/metrics never answered")
    if stats.nerr:
        bad.append("%d client transport errors" % stats.nerr)
    if stats.unexpected:
        bad.append("%d unexpected HTTP statuses" % stats.unexpected)
    if stats.total < 0.5 * rate * elapsed:
        bad.append("load reached only %d of ~%d requests" % (
            stats.total, rate * elapsed))
    for b in bad:
        print("soak: FAIL: " + b)
    if not bad:
        print("soak: load and growth bounds ok")
    return 1 if bad else 0


def main(argv):
    if len(argv) == 6 and argv[1] == "region":
        make_region(argv[2], int(argv[3]), argv[4], int(argv[5]))
        return 0
    if len(argv) == 6 and argv[1] == "drive":
        return drive(argv[2], int(argv[3]), float(argv[4]), argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
