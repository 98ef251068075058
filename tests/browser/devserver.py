#!/usr/bin/env python3
"""Development-only stand-in for the daemon: serves web/ and a made-up
Feed v1 (docs/feed.md) built from a region file, so the page can be worked
on without slotfeed running. Not used by any test.

  python3 tests/browser/devserver.py [--port 8099] [--config conf/demo-region.json]

Clinic states are varied on purpose (stale, unreachable, unknown, none,
full) so that every branch of the page can be looked at. ?near= answers
with made-up distances; "okänd" (or anything with "x") gets a 400.
With --api URL, /v1/* is proxied to a running daemon instead.
"""
import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
NAMES = ["Dalmo, Jacob", "Dahl, Ann", "Lind, Eva", "Berg, Oskar", "Nyström, Sara"]


def stockholm_offset(d):
    # EU rule: summer time from last Sunday of March to last Sunday of October.
    def last_sunday(y, m):
        x = dt.date(y, m + 1, 1) - dt.timedelta(days=1) if m < 12 else dt.date(y, 12, 31)
        return x - dt.timedelta(days=(x.weekday() + 1) % 7)
    return 2 if last_sunday(d.year, 3) <= d.date() < last_sunday(d.year, 10) else 1


def iso(t):
    off = stockholm_offset(t)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + "+%02d:00" % off


def build(region, now):
    today = now.date()
    g = region.get("guarantee", {"days": 3})
    deadline = today + dt.timedelta(days=g["days"])
    clinics, details = [], {}
    for i, c in enumerate(region["clinics"]):
        rnd = random.Random(int(hashlib.sha1(c["id"].encode()).hexdigest()[:8], 16))
        booking = c.get("booking")
        prof = (c.get("sim") or {}).get("profile", "normal")
        wb, status, err = ("open", "ok", None) if booking else ("none", "ok", None)
        if booking and i % 11 == 7:
            wb, status = "unreachable", "stale"
            err = {"class": "transport", "message": "clinic %s: connect: refused" % c["id"]}
        if booking and i % 13 == 9:
            wb, status = "unknown", "error"
        slots = []
        if booking and status != "error":
            p = {"normal": 0.35, "busy": 0.07, "full": 0.0}.get(prof, 0.3)
            for dd in range(28):
                day = today + dt.timedelta(days=dd)
                if day.weekday() >= 5:
                    continue
                for h in range(8, 17):
                    for mm in (0, 30):
                        t = dt.datetime.combine(day, dt.time(h, mm))
                        if t > now and h != 12 and rnd.random() < p:
                            slots.append((t, rnd.choice(NAMES[:3 + i % 3])))
        days = {}
        for t, who in slots:
            days.setdefault(t.date().isoformat(), []).append(
                {"start": iso(t), "end": iso(t + dt.timedelta(minutes=30)),
                 "time": t.strftime("%H:%M"), "practitioner": who, "service": "Nybesök"})
        known = booking is not None and status != "error"
        dates = sorted(days)
        within = [s for s in slots if s[0].date() <= deadline]
        checked = iso(now - dt.timedelta(seconds=30)) if booking and status != "error" else None
        valid = iso(now - dt.timedelta(minutes=25 if status == "stale" else 0, seconds=30)) if checked else None
        obj = {
            "id": c["id"], "name": c["name"], "municipality": c.get("municipality"),
            "locality": c.get("locality"), "operator": c.get("operator"),
            "web_booking": wb, "status": status, "checked_at": checked, "valid_at": valid,
            "changed_at": valid, "error": err,
            "first_free": iso(slots[0][0]) if known and slots else None,
            "within_guarantee": (len(within) > 0) if known else None,
            "guarantee_deadline": deadline.isoformat(),
            "upcoming_days": dates[:3] if known else None,
            "more_days": max(0, len(dates) - 3) if known else None,
            "free_slots_within_guarantee": len(within) if known else None,
            "free_slots": len(slots) if known else None,
            "booking_url": booking.get("booking_url") if booking else None,
            "phone": c.get("phone"), "website": c.get("website"),
            "services": [booking.get("time_type_name", "Nybesök")] if booking else [],
        }
        clinics.append(obj)
        details[c["id"]] = dict(obj, days=[{"date": d, "slots": days[d]} for d in dates] if known else None)
    guarantee = {"days": g["days"], "counting": g.get("counting", "calendar"),
                 "contact_day": today.isoformat(), "deadline": deadline.isoformat()}
    wbc = {k: sum(1 for c in clinics if c["web_booking"] == k) for k in ("open", "none", "unreachable", "unknown")}
    feed = {"version": 1, "generated_at": iso(now - dt.timedelta(minutes=2)),
            "timezone": "Europe/Stockholm", "region": "Region Värmland", "guarantee": guarantee,
            "summary": {"clinics": len(clinics), "web_booking": wbc,
                        "with_free_slots": sum(1 for c in clinics if c["free_slots"]),
                        "within_guarantee": sum(1 for c in clinics if c["within_guarantee"] is True),
                        "stale": sum(1 for c in clinics if c["status"] == "stale"),
                        "error": sum(1 for c in clinics if c["status"] == "error")},
            "clinics": clinics}
    for k, v in details.items():
        v.update({"version": 1, "generated_at": feed["generated_at"],
                  "timezone": "Europe/Stockholm", "guarantee": guarantee})
    return feed, details


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body, ctype="application/json; charset=utf-8"):
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def proxy(self):
        req = urllib.request.Request(self.server.api + self.path)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return self.send(r.status, r.read(), r.headers.get("Content-Type"))
        except urllib.error.HTTPError as e:
            return self.send(e.code, e.read(), e.headers.get("Content-Type"))

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if self.server.api and u.path.startswith("/v1/"):
            return self.proxy()
        feed, details = self.server.data
        if u.path == "/v1/availability":
            if "near" in q:
                where = q["near"][0].lower()
                if "x" in where or "okänd" in where:
                    return self.send(400, {"type": "about:blank", "title": "Bad Request", "status": 400,
                                           "detail": "near: unknown place"})
                seed = int(hashlib.sha1(where.encode()).hexdigest()[:6], 16)
                f = json.loads(json.dumps(feed))
                for c in f["clinics"]:
                    c["distance_km"] = round((int(hashlib.sha1((c["id"] + str(seed)).encode()).hexdigest()[:4], 16) % 900) / 10, 1)
                f["clinics"].sort(key=lambda c: c["distance_km"])
                return self.send(200, f)
            return self.send(200, feed)
        if u.path.startswith("/v1/clinics/"):
            d = details.get(u.path.rsplit("/", 1)[1].upper())
            return self.send(200, d) if d else self.send(404, {"status": 404, "title": "Not Found"})
        name = {"/": "index.html", "/overview": "overview.html"}.get(u.path, u.path.lstrip("/"))
        path = os.path.join(ROOT, "web", os.path.basename(name))
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                return self.send(200, fh.read(), TYPES.get(os.path.splitext(path)[1], "application/octet-stream"))
        self.send(404, {"status": 404})

    def log_message(self, *a):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--config", default=os.path.join(ROOT, "conf", "demo-region.json"))
    ap.add_argument("--now", help="local time YYYY-MM-DDTHH:MM (default: now)")
    ap.add_argument("--api", help="proxy /v1/* to a running daemon, e.g. http://127.0.0.1:8080")
    a = ap.parse_args()
    now = dt.datetime.fromisoformat(a.now) if a.now else dt.datetime.now().replace(microsecond=0)
    with open(a.config, encoding="utf-8") as fh:
        region = json.load(fh)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.data = build(region, now)
    srv.api = a.api.rstrip("/") if a.api else None
    print("devserver: http://127.0.0.1:%d/" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
