#!/usr/bin/env python3
"""hostile.py - hostile-network client for a running slotfeed (stdlib only).

Driven by bench/hostile.sh (which starts the daemon); usable on its own:

  hostile.py --port P [--pid PID] [--n 1000] [--deadline 10]

1. Opens N slowloris connections: each sends a partial request (request
   line and one header) and then one more header byte every second, so
   the server's idle timeout never fires.
2. Meanwhile 50 GET /healthz, one every 100 ms, each on a fresh
   connection: latency p50/p99/max, and failures.
3. Keeps dripping until every slow connection is closed by the server or
   deadline + 5 s pass; prints how many are open each second and when
   they were dropped (seconds after their connect).
4. Hostile single requests (huge header, long URL, many headers, bodies,
   pipelined garbage, HTTP/0.9, invalid method, binary junk): each must be
   answered 4xx (501 for an unknown method, RFC 9110 15.6.2) or closed.
5. /healthz again.

Exit 0 when all checks hold, 1 otherwise. --max-ms sets the /healthz
latency bound (default 100).
"""
import argparse
import errno
import os
import resource
import select
import socket
import sys
import threading
import time

PARTIAL = b"GET /v1/availability HTTP/1.1\r\nHost: slow\r\n"
DRIP = b"X-Slow-Header-Drip: abcdefghijklmnopqrstuvwxyz0123456789\r\n"


def rss_kib(pid):
    if not pid:
        return None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fds_of(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid)) if pid else None
    except OSError:
        return None


def exchange(port, data, timeout=3.0, shut=False):
    """Send data on a fresh connection, read until close or timeout.
    Returns (bytes, 'closed'|'timeout'|'reset')."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    how = "closed"
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                how = "timeout"
                break
            s.settimeout(left)
            try:
                k = s.recv(65536)
            except socket.timeout:
                how = "timeout"
                break
            except ConnectionResetError:
                how = "reset"
                break
            if not k:
                break
            out += k
    finally:
        s.close()
    return out, how


def healthz(port):
    """One GET /healthz on a fresh connection; (ms, ok)."""
    t0 = time.monotonic()
    try:
        out, how = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: h\r\n"
                            b"Connection: close\r\n\r\n", timeout=2.0)
    except OSError:
        return (time.monotonic() - t0) * 1000, False
    ms = (time.monotonic() - t0) * 1000
    return ms, out.startswith(b"HTTP/1.1 200 ") and how != "timeout"


def metric(port, name):
    try:
        out, _ = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: h\r\n"
                          b"Connection: close\r\n\r\n", timeout=2.0)
    except OSError:
        return None
    for line in out.decode("latin-1").splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def hostile_cases():
    big = b"A" * 65536
    return [
        ("huge header (64 KiB)", b"GET /healthz HTTP/1.1\r\nHost: h\r\n"
         b"X-Big: " + big + b"\r\n\r\n", False),
        ("long URL (3000 B, our 414)", b"GET /" + b"a" * 3000 +
         b" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", False),
        ("long URL (20 KiB, over the header cap)", b"GET /" + b"a" * 20000 +
         b" HTTP/1.1\r\nHost: h\r\n\r\n", False),
        ("many headers (1000, 17 KiB)", b"GET /healthz HTTP/1.1\r\n"
         b"Host: h\r\n" + b"X-M: 1234567890\r\n" * 1000 + b"\r\n", False),
        ("many small headers (400, under the cap)", b"GET /healthz HTTP/1.1"
         b"\r\nHost: h\r\n" + b"X: 1\r\n" * 400 + b"\r\n", False),
        ("body on GET over the cap", b"GET /healthz HTTP/1.1\r\nHost: h\r\n"
         b"Content-Length: 100000\r\n\r\n" + b"x" * 4096, False),
        ("POST with a small body", b"POST /healthz HTTP/1.1\r\nHost: h\r\n"
         b"Content-Length: 5\r\nConnection: close\r\n\r\nhello", False),
        ("chunked body, huge chunk", b"POST /healthz HTTP/1.1\r\nHost: h\r\n"
         b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n" + b"x" * 4096,
         False),
        ("pipelined garbage after a good request",
         b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
         b"\x00\x01garbage garbage\r\n\r\n", False),
        ("HTTP/0.9 request", b"GET /healthz\r\n", False),
        ("invalid method", b"FOO@BAR /healthz HTTP/1.1\r\nHost: h\r\n\r\n",
         False),
        ("unknown method token", b"BREW /healthz HTTP/1.1\r\nHost: h\r\n"
         b"\r\n", False),
        ("header without colon", b"GET /healthz HTTP/1.1\r\nHost h\r\n\r\n",
         False),
        ("binary junk (TLS hello)", bytes(range(0x16, 0x16 + 200)) +
         b"\r\n\r\n", True),
        ("bad version", b"GET /healthz HTTP/9.9\r\nHost: h\r\n\r\n", False),
        ("HTTP/1.9 (505 as HTTP/1.1)", b"GET /healthz HTTP/1.9\r\n"
         b"Host: h\r\n\r\n", False),
        ("no Host in HTTP/1.1", b"GET /healthz HTTP/1.1\r\n\r\n", False),
        ("two Host headers", b"GET /healthz HTTP/1.1\r\nHost: h\r\n"
         b"Host: evil.example\r\n\r\n", False),
    ] + [("smuggling: " + n, b"GET /healthz HTTP/1.1\r\nHost: h\r\n" + h +
          b"\r\n" + HIDDEN, False) for n, h in SMUGGLE]


# Request smuggling (issue 11): each hides HIDDEN behind framing a proxy
# may read differently; it must be refused (400/501) and never answered.
HIDDEN = b"GET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
SMUGGLE = [
    ("two Content-Length", b"Content-Length: 0\r\nContent-Length: %d\r\n"
     % len(HIDDEN)),
    ("space before colon", b"Content-Length : %d\r\n" % len(HIDDEN)),
    ("Transfer-Encoding: xchunked", b"Transfer-Encoding: xchunked\r\n"),
    ("Transfer-Encoding: gzip", b"Transfer-Encoding: gzip\r\n"),
]


def judge(name, out, how):
    """A hostile request must be answered 4xx (or 501) or closed - and a
    good request pipelined in front is answered 200 first."""
    if how == "timeout":
        return False, "left hanging (no answer, not closed)"
    statuses = [ln.split(b" ")[1] for ln in out.split(b"\r\n")
                if ln.startswith(b"HTTP/1.") and len(ln.split(b" ")) > 1]
    if name.startswith("pipelined"):
        if not statuses or statuses[0] != b"200":
            return False, "good request not answered 200: %r" % statuses
        statuses = statuses[1:]
    if name.startswith("many small"):
        # Within the 8 KiB cap: served, then the idle keep-alive
        # connection is closed at the request deadline (not hanging).
        return (statuses == [b"200"] and how != "timeout",
                "answered %r, then %s" % (statuses, how))
    if not statuses:
        return True, "closed (%s) without an answer%s" % (
            how, " to the garbage" if name.startswith("pipelined") else "")
    for st in statuses:
        if not (st.startswith(b"4") or st in (b"501", b"505")):
            return False, "answered %s" % st.decode()
    return True, "answered %s, then %s" % (
        b",".join(statuses).decode(), how)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--deadline", type=float, default=10.0)
    ap.add_argument("--probes", type=int, default=50)
    ap.add_argument("--max-ms", type=float, default=100.0)
    a = ap.parse_args()
    port, ok = a.port, True

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.n + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (min(want, hard) if hard != resource.RLIM_INFINITY
                            else want, hard))

    rss0, fds0 = rss_kib(a.pid), fds_of(a.pid)
    print("daemon before: rss %s KiB, fds %s" % (rss0, fds0))

    # 1. The slow clients.
    slow = {}                     # fd -> [sock, opened_at, next_drip, i]
    t_open = time.monotonic()
    for _ in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(PARTIAL)
        except OSError as e:
            print("FAIL: slow connect: %s" % e)
            s.close()
            ok = False
            break
        s.setblocking(False)
        now = time.monotonic()
        slow[s.fileno()] = [s, now, now + 1.0, 0]
    t_last = time.monotonic()
    # (Connects may wait for SYN retries when the listen backlog is full:
    # each connection's deadline runs from its own accept.)
    print("opened %d slow connections in %.2f s" %
          (len(slow), t_last - t_open))
    poller = select.poll()
    for fd in slow:
        poller.register(fd, select.POLLIN)
    dropped_after = []
    answered = 0

    def service(until):
        """Drip and watch the slow ones until `until` (monotonic)."""
        nonlocal answered
        while True:
            now = time.monotonic()
            if now >= until:
                return
            for fd, ev in poller.poll(max(0, min(50, (until - now) * 1000))):
                c = slow.pop(fd, None)
                if c is None:
                    continue
                poller.unregister(fd)
                try:
                    k = c[0].recv(4096)
                except OSError:
                    k = b""
                if k:
                    answered += 1
                c[0].close()
                dropped_after.append(time.monotonic() - c[1])
            now = time.monotonic()
            for c in slow.values():
                if now >= c[2]:
                    try:
                        c[0].send(DRIP[c[3] % len(DRIP):c[3] % len(DRIP) + 1])
                    except OSError:
                        pass
                    c[3] += 1
                    c[2] += 1.0

    service(time.monotonic() + 0.5)
    open_conns = metric(port, "slotfeed_http_connections")
    print("server counts %s open connections (slow ones + this request)"
          % open_conns)

    # 2. /healthz while they are held.
    lat, fails = [], 0
    nxt = time.monotonic()
    for i in range(a.probes):
        service(nxt)
        ms, good = healthz(port)
        lat.append(ms)
        fails += not good
        nxt += 0.1
    rss1, fds1 = rss_kib(a.pid), fds_of(a.pid)
    held = len(slow)
    print("healthz with %d slow clients held: n=%d p50=%.2f ms p99=%.2f ms "
          "max=%.2f ms failures=%d" % (held, len(lat), pct(lat, 50),
                                       pct(lat, 99), max(lat), fails))
    print("daemon with them held: rss %s KiB, fds %s" % (rss1, fds1))
    if fails or max(lat) >= a.max_ms:
        print("FAIL: a /healthz failed or took >= %.0f ms" % a.max_ms)
        ok = False
    if dropped_after and min(dropped_after) < a.deadline - 0.5:
        print("FAIL: slow connections dropped before the deadline")
        ok = False

    # 3. Until the deadline has dropped them all.
    end = t_last + a.deadline + 5
    while slow and time.monotonic() < end:
        service(min(end, time.monotonic() + 1.0))
        print("t=%5.1f s: %d slow connections open" %
              (time.monotonic() - t_open, len(slow)))
    if slow:
        print("FAIL: %d slow connections still open %.0f s after connect" %
              (len(slow), a.deadline + 5))
        ok = False
        for c in slow.values():
            c[0].close()
    if dropped_after:
        print("dropped %d after %.2f..%.2f s (deadline %.0f s); %d got an "
              "answer" % (len(dropped_after), min(dropped_after),
                          max(dropped_after), a.deadline, answered))
        if min(dropped_after) < a.deadline - 0.5 or \
                max(dropped_after) > a.deadline + 3:
            print("FAIL: not dropped at the deadline")
            ok = False
        if answered:
            print("FAIL: slow clients got an answer")
            ok = False
    dropped = metric(port, "slotfeed_http_slow_clients_dropped_total")
    print("server: slotfeed_http_slow_clients_dropped_total %s, open %s, "
          "rss %s KiB, fds %s" % (dropped, metric(port,
                                  "slotfeed_http_connections"),
                                  rss_kib(a.pid), fds_of(a.pid)))

    # 4. Hostile single requests; the one the server keeps alive waits
    #    for the deadline in a thread while the others run.
    results = {}

    def run_case(name, data, shut, timeout):
        try:
            out, how = exchange(port, data, timeout=timeout, shut=shut)
            results[name] = judge(name, out, how)
        except OSError as e:
            results[name] = (True, "refused/reset at send (%s)" % (
                errno.errorcode.get(e.errno, e)))

    cases = hostile_cases()
    threads = []
    for name, data, shut in cases:
        if name.startswith("many small"):
            t = threading.Thread(target=run_case, args=(
                name, data, shut, a.deadline + 3))
            t.start()
            threads.append(t)
        else:
            run_case(name, data, shut, 3.0)
    for t in threads:
        t.join()
    for name, _, _ in cases:
        good, what = results[name]
        print("%-4s %-40s %s" % ("ok" if good else "FAIL", name, what))
        ok = ok and good

    # 5. Still healthy.
    ms, good = healthz(port)
    print("healthz after: %s in %.2f ms" % ("200" if good else "FAILED", ms))
    ok = ok and good
    print("RESULT: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
