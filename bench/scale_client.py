#!/usr/bin/env python3
"""Client side of bench/scale.sh: load, probes and a report client against
a live slotfeed daemon, for a fixed duration; prints key=value figures.

    scale_client.py PUBLIC_PORT ADMIN_PORT SECONDS LOAD_RPS

Threads, each on its own keep-alive connection:
  prober      GET /healthz every 20 ms (latency = what a load balancer sees)
  revalidate  GET /v1/availability once a second with the last ETag
              (the share answered 304 is what a cache in front gets)
  load        GET /v1/availability (gzip) at LOAD_RPS, paced, not closed-loop
  report      GET /v1/reports/guarantee on the admin listener, in a loop
Latencies are wall-clock per request, in ms.
"""
import http.client
import sys
import threading
import time

pub, adm, dur, rps = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                      float(sys.argv[4]))
stop = time.monotonic() + dur
lock = threading.Lock()
res = {"health": [], "health_fail": 0, "reval_200": 0, "reval_304": 0,
       "reval_fail": 0, "load": [], "load_fail": 0, "report_200": 0,
       "report_503": 0, "report_other": 0, "report_ms": []}


def conn(port, timeout=30):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def request(c, path, headers, port):
    """One GET; returns (status, headers, ms, conn) reopening on failure."""
    t0 = time.monotonic()
    try:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status, r, (time.monotonic() - t0) * 1000, c
    except (OSError, http.client.HTTPException):
        c.close()
        return None, None, (time.monotonic() - t0) * 1000, conn(port)


def prober():
    c = conn(pub, timeout=10)
    while time.monotonic() < stop:
        t = time.monotonic()
        st, _, ms, c = request(c, "/healthz", {}, pub)
        with lock:
            if st is None:
                res["health_fail"] += 1
            res["health"].append(ms)
        time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))


def revalidate():
    c, etag = conn(pub), None
    while time.monotonic() < stop:
        t = time.monotonic()
        h = {"Accept-Encoding": "gzip"}
        if etag:
            h["If-None-Match"] = etag
        st, r, _, c = request(c, "/v1/availability", h, pub)
        with lock:
            if st == 304:
                res["reval_304"] += 1
            elif st == 200:
                res["reval_200"] += 1
                etag = r.getheader("ETag")
            else:
                res["reval_fail"] += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))


def load():
    c, period, nxt = conn(pub), 1.0 / rps, time.monotonic()
    while time.monotonic() < stop:
        st, _, ms, c = request(c, "/v1/availability",
                               {"Accept-Encoding": "gzip"}, pub)
        with lock:
            res["load"].append(ms)
            if st != 200:
                res["load_fail"] += 1
        nxt += period
        time.sleep(max(0.0, nxt - time.monotonic()))


def report():
    c = conn(adm, timeout=120)
    while time.monotonic() < stop:
        st, _, ms, c = request(c, "/v1/reports/guarantee?month=" + time.strftime("%Y-%m"), {},
                               adm)
        with lock:
            if st == 200:
                res["report_200"] += 1
                res["report_ms"].append(ms)
            elif st == 503:
                res["report_503"] += 1
                time.sleep(0.2)
            else:
                res["report_other"] += 1
                time.sleep(0.2)


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


threads = [threading.Thread(target=f) for f in (prober, revalidate, report)]
threads += [threading.Thread(target=load) for _ in range(2 if rps > 0 else 0)]
if rps > 0:
    rps /= 2
for t in threads:
    t.start()
for t in threads:
    t.join()
h, ld = res["health"], res["load"]
reval = res["reval_200"] + res["reval_304"]
print("healthz_n=%d" % len(h))
print("healthz_fail=%d" % res["health_fail"])
print("healthz_p50_ms=%.1f" % pct(h, 50))
print("healthz_p99_ms=%.1f" % pct(h, 99))
print("healthz_max_ms=%.1f" % (max(h) if h else float("nan")))
print("load_n=%d" % len(ld))
print("load_fail=%d" % res["load_fail"])
print("load_p99_ms=%.1f" % pct(ld, 99))
print("reval_n=%d" % reval)
print("reval_fail=%d" % res["reval_fail"])
print("share_304=%.3f" % (res["reval_304"] / reval if reval else float("nan")))
print("report_200=%d" % res["report_200"])
print("report_503=%d" % res["report_503"])
print("report_other=%d" % res["report_other"])
print("report_p50_ms=%.0f" % pct(res["report_ms"], 50))
