/*
 * history.js - "Historik" on /overview: web-booking share per day and the
 * care-guarantee figures per clinic for one month, from
 * /v1/reports/web-booking and /v1/reports/guarantee (docs/compliance-
 * method.md), drawn as inline SVG. No library; text goes in through
 * textContent only. Owner: reports engineer (issue 6).
 */
(function () {
    'use strict';
    var NS = 'http://www.w3.org/2000/svg';

    function el(ns, tag, attrs, text) {
        var e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
        Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
        if (text !== undefined) e.textContent = text;
        return e;
    }

    function pct(x) { return x === null || x === undefined ? '–' : (x * 100).toFixed(1) + ' %'; }

    function lastDay(month) {
        var p = month.split('-');
        var d = new Date(Date.UTC(+p[0], +p[1], 0));
        return month + '-' + String(d.getUTCDate()).padStart(2, '0');
    }

    /* Line chart of share (0..1) per day. */
    function lineChart(periods) {
        var w = 640, h = 200, l = 40, b = 24, n = periods.length;
        var root = el(NS, 'svg', {viewBox: '0 0 ' + w + ' ' + h, role: 'img',
                                  'aria-labelledby': 'hist-web-title', 'class': 'hist-chart'});
        root.appendChild(el(NS, 'title', {id: 'hist-web-title'},
                            'Andel mottagningar med öppen webbokning per dag'));
        [0, 0.5, 1].forEach(function (v) {
            var y = (h - b) - v * (h - b - 10);
            root.appendChild(el(NS, 'line', {x1: l, x2: w, y1: y, y2: y, stroke: '#ccc'}));
            root.appendChild(el(NS, 'text', {x: 2, y: y + 4, 'font-size': 11}, (v * 100) + ' %'));
        });
        var pts = [];
        periods.forEach(function (p, i) {
            if (p.share === null) return;
            var x = l + (n > 1 ? i * (w - l - 10) / (n - 1) : 0);
            var y = (h - b) - p.share * (h - b - 10);
            pts.push(x.toFixed(1) + ',' + y.toFixed(1));
            var c = el(NS, 'circle', {cx: x, cy: y, r: 3, fill: '#1f5fa8'});
            c.appendChild(el(NS, 'title', {}, p.period + ': ' + p.open + ' av ' + p.clinics + ' (' + pct(p.share) + ')'));
            root.appendChild(c);
            if (i === 0 || i === n - 1)
                root.appendChild(el(NS, 'text', {x: x - 20, y: h - 6, 'font-size': 11}, p.period));
        });
        root.insertBefore(el(NS, 'polyline', {points: pts.join(' '), fill: 'none', stroke: '#1f5fa8',
                                              'stroke-width': 2}), root.firstChild.nextSibling);
        return root;
    }

    /* Bars per clinic: share_within (of covered time), coverage as a thin bar. */
    function barChart(clinics) {
        var rows = clinics.filter(function (c) { return c.web_booking !== 'none'; });
        var rh = 22, l = 260, w = 640, h = rows.length * rh + 10;
        var root = el(NS, 'svg', {viewBox: '0 0 ' + w + ' ' + h, role: 'img',
                                  'aria-labelledby': 'hist-g-title', 'class': 'hist-chart'});
        root.appendChild(el(NS, 'title', {id: 'hist-g-title'},
                            'Andel av öppettiden med ledig tid inom vårdgarantin, per mottagning'));
        rows.forEach(function (c, i) {
            var y = 5 + i * rh, bw = w - l - 60;
            root.appendChild(el(NS, 'text', {x: 0, y: y + 13, 'font-size': 11}, c.name.slice(0, 40)));
            root.appendChild(el(NS, 'rect', {x: l, y: y + 2, width: bw, height: 12, fill: '#eee'}));
            var r = el(NS, 'rect', {x: l, y: y + 2, width: (c.share_within || 0) * bw, height: 12,
                                    fill: c.reliable ? '#2e7d32' : '#b58900'});
            r.appendChild(el(NS, 'title', {}, c.name + ': ' + pct(c.share_within) +
                             ' av observerad tid, täckning ' + pct(c.coverage)));
            root.appendChild(r);
            root.appendChild(el(NS, 'rect', {x: l, y: y + 15, width: (c.coverage || 0) * bw,
                                             height: 3, fill: '#555'}));
            root.appendChild(el(NS, 'text', {x: l + bw + 4, y: y + 13, 'font-size': 11}, pct(c.share_within)));
        });
        return root;
    }

    function load() {
        var month = document.getElementById('hist-month').value;
        var out = document.getElementById('hist-out');
        var status = document.getElementById('hist-status');
        if (!/^\d{4}-\d{2}$/.test(month)) return;
        status.textContent = 'Hämtar …';
        out.replaceChildren();
        Promise.all([
            fetch('/v1/reports/web-booking?from=' + month + '-01&to=' + lastDay(month))
                .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); }),
            fetch('/v1/reports/guarantee?month=' + month)
                .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
        ]).then(function (res) {
            var web = res[0], g = res[1], t = g.total || {};
            status.textContent = '';
            out.appendChild(el(null, 'h3', {}, 'Öppen webbokning per dag'));
            out.appendChild(lineChart(web.periods || []));
            out.appendChild(el(null, 'h3', {}, 'Ledig tid inom vårdgarantin (3 dagar) under öppettid'));
            out.appendChild(el(null, 'p', {'class': 'section-intro'},
                'Regionen: ' + pct(t.share_within) + ' av den observerade öppettiden, datatäckning ' +
                pct(t.coverage) + '. Grön stapel: täckning minst 90 %; gul: lägre, visas bara som en ' +
                'indikation. Den tunna grå linjen är täckningen. Glapp räknas aldrig som uppfyllt.'));
            out.appendChild(barChart(g.clinics || []));
            var links = el(null, 'p', {});
            links.appendChild(el(null, 'a', {href: '/v1/reports/guarantee?month=' + month + '&format=csv'}, 'Vårdgaranti (CSV)'));
            links.appendChild(document.createTextNode(' · '));
            links.appendChild(el(null, 'a', {href: '/v1/reports/web-booking?from=' + month + '-01&to=' +
                                             lastDay(month) + '&format=csv'}, 'Webbokning (CSV)'));
            out.appendChild(links);
        }).catch(function (e) {
            status.textContent = 'Historiken kunde inte hämtas (' + e.message + ').';
        });
    }

    document.addEventListener('DOMContentLoaded', function () {
        var m = document.getElementById('hist-month');
        if (!m) return;
        var q = new URLSearchParams(location.search).get('month');
        if (q && /^\d{4}-\d{2}$/.test(q)) m.value = q;
        if (!m.value) {
            var d = new Intl.DateTimeFormat('sv-SE', {timeZone: 'Europe/Stockholm'}).format(new Date());
            m.value = d.slice(0, 7);
        }
        m.addEventListener('change', load);
        load();
    });
})();
