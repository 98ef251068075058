#!/usr/bin/env python3
"""A hostile booking upstream for tests/cli/no_pii_public.sh.

Serves, on 127.0.0.1 (a free port, printed as "listening on PORT"), the
three protocols slotfeed polls, each carrying the made-up personnummer
19811218-9876 (Luhn: 811218987 -> 6) where upstreams put outside text:

  POST /vp      RIV crm:scheduling; by LogicalAddress:
                X001..X004: SOAP Fault "subject <number> unknown" with the
                number bare (10 digits), with a space, with an en dash and
                with '-'; X005: dates and one slot whose performerName,
                timeTypeName and timeTypeID hold the number.
  GET /fhir/... 404 with an OperationOutcome "Patient 19811218-9876 not
                found".
  GET /smart-bad/$bulk-publish  a manifest whose Slot output URL holds it.
  GET /smart/...                a valid publication (Location/Schedule
                from tests/fixtures/smart/pnr) with one slot tomorrow
                whose deep link and phone hold it.

Slots are tomorrow (Europe/Stockholm), so the daemon's real clock sees
them in its window.
"""
import datetime
import http.server
import json
import os
import re
import sys
import zoneinfo

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures", "smart", "pnr")
TZ = zoneinfo.ZoneInfo("Europe/Stockholm")
TOMORROW = (datetime.datetime.now(TZ) + datetime.timedelta(days=1)).date()

FAULTS = {
    "SE2321000156-X001": "8112189876",
    "SE2321000156-X002": "19811218 9876",
    "SE2321000156-X003": "19811218\u20139876",
    "SE2321000156-X004": "19811218-9876",
}
ENV = ('<?xml version="1.0" encoding="UTF-8"?>'
       '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
       'envelope/"><soap:Body>%s</soap:Body></soap:Envelope>')


def riv_dates():
    d = "".join(
        "<performerAvailabilityByDate><healthcare_facility>"
        "SE2321000156-X005</healthcare_facility><date>%s</date>"
        "</performerAvailabilityByDate>" %
        (TOMORROW + datetime.timedelta(days=k)).strftime("%Y%m%d")
        for k in (0, 1))
    return ENV % ('<GetAvailableDatesResponse xmlns="urn:riv:crm:scheduling:'
                  'GetAvailableDatesResponder:1">%s'
                  '</GetAvailableDatesResponse>' % d)


def riv_slots():
    day = TOMORROW.strftime("%Y%m%d")
    slot = ('<timeslotDetail xmlns:c="urn:riv:crm:scheduling:1">'
            '<c:startTimeInclusive>%s100000</c:startTimeInclusive>'
            '<c:endTimeExclusive>%s103000</c:endTimeExclusive>'
            '<c:healthcare_facility>SE2321000156-X005</c:healthcare_facility>'
            '<c:performerName>leg. Anna 19811218 9876 Berg</c:performerName>'
            '<c:timeTypeName>Nybes\u00f6k f\u00f6r 19811218\u20139876'
            '</c:timeTypeName>'
            '<c:timeTypeID>T-8112189876</c:timeTypeID>'
            '</timeslotDetail>' % (day, day))
    return ENV % ('<GetAvailableTimeslotsResponse xmlns="urn:riv:crm:'
                  'scheduling:GetAvailableTimeslotsResponder:1">%s'
                  '</GetAvailableTimeslotsResponse>' % slot)


def smart_slots():
    start = datetime.datetime.combine(TOMORROW, datetime.time(9, 0),
                                      tzinfo=TZ)
    ext = "http://fhir-registry.smarthealthit.org/StructureDefinition/"
    lines = []
    for i, (link, phone) in enumerate([
            ("https://boka.example/slot?id=1&pnr=19811218-9876",
             "19811218 9876"),
            ("https://boka.example/p/8112189876/slot%2019811218%E2%80%939876",
             "811218\u20139876")]):
        s = start + datetime.timedelta(hours=i)
        lines.append(json.dumps({
            "resourceType": "Slot", "id": "p%d" % i,
            "schedule": {"reference": "Schedule/sch-a"}, "status": "free",
            "start": s.isoformat(),
            "end": (s + datetime.timedelta(minutes=45)).isoformat(),
            "extension": [
                {"url": ext + "booking-deep-link", "valueUrl": link},
                {"url": ext + "booking-phone", "valueString": phone}]},
            ensure_ascii=False))
    return "\n".join(lines) + "\n"


def manifest(slot_url):
    return json.dumps({
        "transactionTime": "2026-01-01T00:00:00Z",
        "request": "x", "error": [],
        "output": [{"type": "Location", "url": "locations.ndjson"},
                   {"type": "Schedule", "url": "schedules.ndjson"},
                   {"type": "Slot", "url": slot_url}]})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, ctype, body):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        m = re.search(r"LogicalAddress[^>]*>([^<]+)<", body)
        la = m.group(1) if m else ""
        action = self.headers.get("SOAPAction", "")
        xml = "text/xml; charset=UTF-8"
        if la in FAULTS:
            self.send(500, xml, ENV % (
                "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>"
                "subject %s unknown</faultstring></soap:Fault>" % FAULTS[la]))
        elif la == "SE2321000156-X005" and "GetAvailableDates" in action:
            self.send(200, xml, riv_dates())
        elif la == "SE2321000156-X005":
            self.send(200, xml, riv_slots())
        else:
            self.send(400, "text/plain", "unknown")

    def do_GET(self):
        p = self.path.split("?")[0]
        nd = "application/fhir+ndjson"
        if p.startswith("/fhir/"):
            self.send(404, "application/fhir+json", json.dumps({
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "not-found",
                           "diagnostics":
                           "Patient 19811218-9876 not found"}]}))
        elif p == "/smart-bad/$bulk-publish":
            self.send(200, "application/json",
                      manifest("ftp://127.0.0.1/p/19811218-9876/s.ndjson"))
        elif p == "/smart/$bulk-publish":
            self.send(200, "application/json", manifest("slots.ndjson"))
        elif p in ("/smart/locations.ndjson", "/smart/schedules.ndjson"):
            with open(os.path.join(FIX, p.split("/")[-1]),
                      encoding="utf-8") as f:
                self.send(200, nd, f.read())
        elif p == "/smart/slots.ndjson":
            self.send(200, nd, smart_slots())
        else:
            self.send(404, "text/plain", "not found")


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
