/*
 * history.js - "Månadsrapport" on /overview: the vårdvalsenhet's two
 * questions answered on the page, from /v1/reports/web-booking and
 * /v1/reports/guarantee (docs/compliance-method.md):
 *   - how many clinics had web booking this month compared with last
 *     month, per municipality and per operator (tables + a paired chart);
 *   - which clinics failed the 3-day offer most this month (table ranked
 *     worst first with coverage, median and p90 days, inferred bookings).
 * Plus the daily share as a line chart, CSV downloads of the reports
 * (the server names the file) and of the current-state tables (built
 * here from the table on the page). No library; text goes in through
 * textContent only. Every table sits in a focusable, named region.
 */
(function () {
    'use strict';
    var NS = 'http://www.w3.org/2000/svg';
    /* Adjacent marks differ by at least 3:1 (WCAG 1.4.11) and every mark
     * has a dark outline against the white background. */
    var C_PREV = '#8fbce6', C_NOW = '#1b3f73', C_OK = '#1b6131', C_LOW = '#7a3d00',
        C_EDGE = '#33393f';
    var OP_NAME = {'private': 'Privata vårdgivare', 'region': 'Regionens mottagningar'};
    var MONTHS = ['januari', 'februari', 'mars', 'april', 'maj', 'juni', 'juli', 'augusti',
                  'september', 'oktober', 'november', 'december'];

    function el(ns, tag, attrs, text) {
        var e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
        Object.keys(attrs || {}).forEach(function (k) {
            if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
        });
        if (text !== undefined) e.textContent = text;
        return e;
    }

    function pct(x) {
        return x === null || x === undefined ? '–' : (x * 100).toFixed(1).replace('.', ',') + ' %';
    }
    function num(x) {
        return x === null || x === undefined ? '–' : String(x).replace('.', ',');
    }
    function monthName(m) {
        var p = m.split('-');
        return MONTHS[+p[1] - 1] + ' ' + p[0];
    }
    function lastDay(month) {
        var p = month.split('-');
        var d = new Date(Date.UTC(+p[0], +p[1], 0));
        return month + '-' + String(d.getUTCDate()).padStart(2, '0');
    }
    function prevMonth(month) {
        var p = month.split('-'), y = +p[0], m = +p[1] - 1;
        if (m === 0) { m = 12; y -= 1; }
        return y + '-' + String(m).padStart(2, '0');
    }

    /* A scrollable region a keyboard can reach, named by its heading. */
    function region(id, label, child) {
        var d = el(null, 'div', {'class': 'table-wrap', id: id, tabindex: '0', role: 'region',
                                 'aria-label': label});
        d.appendChild(child);
        return d;
    }

    function table(caption, heads, rows, foot) {
        var t = el(null, 'table', {'class': 'data-table'});
        t.appendChild(el(null, 'caption', {}, caption));
        var tr = el(null, 'tr');
        heads.forEach(function (h, i) { tr.appendChild(el(null, 'th', {scope: 'col', 'class': i ? 'num' : null}, h)); });
        t.appendChild(el(null, 'thead')).appendChild(tr);
        function row(cells, parent) {
            var r = el(null, 'tr');
            cells.forEach(function (c, i) {
                r.appendChild(el(null, i ? 'td' : 'th', i ? {'class': 'num'} : {scope: 'row'}, c));
            });
            parent.appendChild(r);
        }
        var tb = el(null, 'tbody');
        rows.forEach(function (c) { row(c, tb); });
        t.appendChild(tb);
        if (foot) row(foot, t.appendChild(el(null, 'tfoot')));
        return t;
    }

    /* --- month over month --------------------------------------------- */

    function byGroup(periods, i) {
        var out = {};
        ((periods[i] || {}).groups || []).forEach(function (g) { out[g.group] = g; });
        return out;
    }

    function momRows(doc, nameOf) {
        var ps = doc.periods || [], a = byGroup(ps, 0), b = byGroup(ps, 1), keys = [];
        Object.keys(a).concat(Object.keys(b)).forEach(function (k) {
            if (keys.indexOf(k) < 0) keys.push(k);
        });
        keys.sort(function (x, y) { return nameOf(x).localeCompare(nameOf(y), 'sv'); });
        return keys.map(function (k) {
            var p = a[k] || {}, n = b[k] || {};
            return {name: nameOf(k), prev: p, now: n};
        });
    }

    function cellPair(g) {
        return g.clinics === undefined ? '–' : g.open + ' av ' + g.clinics;
    }
    function change(p, n) {
        if (p.open === undefined || n.open === undefined) return '–';
        var d = n.open - p.open;
        return d > 0 ? '+' + d : String(d);
    }

    function momTable(title, first, rows, doc, prev, month) {
        var ps = doc.periods || [], tp = ps[0] || {}, tn = ps[1] || {};
        return table(title, [first, 'Med webbokning ' + monthName(prev), 'Andel ' + monthName(prev),
                             'Med webbokning ' + monthName(month), 'Andel ' + monthName(month),
                             'Förändring (mottagningar)'],
                     rows.map(function (r) {
                         return [r.name, cellPair(r.prev), pct(r.prev.share), cellPair(r.now),
                                 pct(r.now.share), change(r.prev, r.now)];
                     }),
                     ['Hela regionen', cellPair(tp), pct(tp.share), cellPair(tn), pct(tn.share),
                      change(tp, tn)]);
    }

    /* Paired bars per group: last month (light) above this month (dark). */
    function momChart(rows, prev, month) {
        var rh = 38, l = 170, w = 640, bw = w - l - 70, h = rows.length * rh + 40;
        var root = el(NS, 'svg', {viewBox: '0 0 ' + w + ' ' + h, role: 'img',
                                  'aria-labelledby': 'mom-title', 'class': 'hist-chart'});
        root.appendChild(el(NS, 'title', {id: 'mom-title'},
                            'Andel mottagningar med webbokning per kommun, ' + monthName(prev) +
                            ' och ' + monthName(month) + '. Siffrorna finns i tabellen.'));
        [[C_PREV, monthName(prev)], [C_NOW, monthName(month)]].forEach(function (k, i) {
            root.appendChild(el(NS, 'rect', {x: l + i * 200, y: 4, width: 14, height: 14, fill: k[0],
                                             stroke: C_EDGE}));
            root.appendChild(el(NS, 'text', {x: l + i * 200 + 20, y: 16, 'font-size': 14}, k[1]));
        });
        rows.forEach(function (r, i) {
            var y = 30 + i * rh;
            root.appendChild(el(NS, 'text', {x: l - 8, y: y + 20, 'font-size': 14, 'text-anchor': 'end'},
                                r.name));
            [[r.prev, C_PREV, 0], [r.now, C_NOW, 16]].forEach(function (k) {
                var s = k[0].share || 0;
                var bar = el(NS, 'rect', {x: l, y: y + k[2], width: Math.max(s * bw, 1), height: 14,
                                          fill: k[1], stroke: C_EDGE, 'stroke-width': 1});
                root.appendChild(bar);
                root.appendChild(el(NS, 'text', {x: l + Math.max(s * bw, 1) + 6, y: y + k[2] + 12,
                                                 'font-size': 13}, pct(k[0].share)));
            });
        });
        return root;
    }

    /* --- guarantee, worst first ---------------------------------------- */

    function worstFirst(clinics) {
        return clinics.filter(function (c) { return c.web_booking !== 'none'; })
            .sort(function (a, b) {
                var x = a.share_within, y = b.share_within;
                if (x === null && y === null) return a.name.localeCompare(b.name, 'sv');
                if (x === null) return 1;      /* no data: after every measured one */
                if (y === null) return -1;
                return x - y || a.name.localeCompare(b.name, 'sv');
            });
    }

    function guaranteeTable(g, month) {
        var rows = worstFirst(g.clinics || []).map(function (c) {
            return [c.name, c.municipality || '–', pct(c.share_within), pct(c.coverage),
                    c.reliable ? 'ja' : 'nej, bara indikation', num(c.median_days), num(c.p90_days),
                    num(c.bookings_within), num(c.bookings_later)];
        });
        var t = g.total || {};
        return table('Vårdgarantin ' + monthName(month) + ', sämst först',
                     ['Mottagning', 'Kommun', 'Andel av tiden med ledig tid inom 3 dagar',
                      'Datatäckning', 'Tillförlitlig', 'Median dagar till första lediga tid',
                      '90:e percentilen dagar', 'Bokade inom garantin (härlett)',
                      'Bokade senare (härlett)'],
                     rows,
                     ['Hela regionen', '', pct(t.share_within), pct(t.coverage),
                      t.reliable ? 'ja' : 'nej', num(t.median_days), num(t.p90_days),
                      num(t.bookings_within), num(t.bookings_later)]);
    }

    /* Line chart of the daily share (0..1). */
    function lineChart(periods) {
        var w = 640, h = 220, l = 56, b = 30, n = periods.length;
        var root = el(NS, 'svg', {viewBox: '0 0 ' + w + ' ' + h, role: 'img',
                                  'aria-labelledby': 'hist-web-title', 'class': 'hist-chart'});
        root.appendChild(el(NS, 'title', {id: 'hist-web-title'},
                            'Andel mottagningar med öppen webbokning per dag'));
        [0, 0.5, 1].forEach(function (v) {
            var y = (h - b) - v * (h - b - 12);
            root.appendChild(el(NS, 'line', {x1: l, x2: w, y1: y, y2: y, stroke: '#767676'}));
            root.appendChild(el(NS, 'text', {x: 2, y: y + 5, 'font-size': 14}, (v * 100) + ' %'));
        });
        var pts = [];
        periods.forEach(function (p, i) {
            if (p.share === null) return;
            var x = l + (n > 1 ? i * (w - l - 12) / (n - 1) : 0);
            var y = (h - b) - p.share * (h - b - 12);
            pts.push(x.toFixed(1) + ',' + y.toFixed(1));
            var c = el(NS, 'circle', {cx: x, cy: y, r: 3.5, fill: C_NOW});
            c.appendChild(el(NS, 'title', {}, p.period + ': ' + p.open + ' av ' + p.clinics + ' (' + pct(p.share) + ')'));
            root.appendChild(c);
            if (i === 0 || i === n - 1)
                root.appendChild(el(NS, 'text', {x: i ? w - 4 : l, y: h - 8, 'font-size': 14,
                                                 'text-anchor': i ? 'end' : 'start'}, p.period));
        });
        root.insertBefore(el(NS, 'polyline', {points: pts.join(' '), fill: 'none', stroke: C_NOW,
                                              'stroke-width': 2.5}), root.firstChild.nextSibling);
        return root;
    }

    function getJson(url) {
        return fetch(url).then(function (r) {
            if (!r.ok) throw new Error('svar ' + r.status);
            return r.json();
        });
    }

    function link(href, text) {
        return el(null, 'a', {href: href, download: ''}, text);
    }

    function render(out, month, prev, muni, ops, days, g) {
        var muniRows = momRows(muni, function (k) { return k; });
        var opRows = momRows(ops, function (k) { return OP_NAME[k] || k; });
        out.appendChild(el(null, 'h3', {}, 'Webbokning ' + monthName(month) + ' jämfört med ' + monthName(prev)));
        out.appendChild(region('hist-mom-muni', 'Tabell: webbokning per kommun',
                               momTable('Per kommun', 'Kommun', muniRows, muni, prev, month)));
        out.appendChild(region('hist-mom-op', 'Tabell: webbokning per driftform',
                               momTable('Per driftform', 'Driftform', opRows, ops, prev, month)));
        out.appendChild(region('hist-mom-chart', 'Diagram: webbokning per kommun (rullbart)',
                               momChart(muniRows, prev, month)));
        out.appendChild(el(null, 'h3', {}, 'Vilka mottagningar klarade vårdgarantin sämst?'));
        out.appendChild(el(null, 'p', {'class': 'section-intro'},
            'Regionen: ledig nybesökstid inom 3 dagar ' + pct((g.total || {}).share_within) +
            ' av tiden vi har uppgifter för (datatäckning ' + pct((g.total || {}).coverage) + '). ' +
            'Mottagningar utan uppgifter står sist. Tid utan uppgifter räknas aldrig som uppfylld.'));
        out.appendChild(region('hist-guarantee', 'Tabell: vårdgarantin per mottagning, sämst först',
                               guaranteeTable(g, month)));
        out.appendChild(el(null, 'h3', {}, 'Öppen webbokning per dag, ' + monthName(month)));
        out.appendChild(region('hist-daily', 'Diagram: öppen webbokning per dag (rullbart)',
                               lineChart(days.periods || [])));
        var links = el(null, 'p', {'class': 'export'});
        links.appendChild(link('/v1/reports/guarantee?month=' + month + '&format=csv',
                               'Ladda ner vårdgarantin (CSV)'));
        links.appendChild(document.createTextNode(' · '));
        links.appendChild(link('/v1/reports/web-booking?from=' + prev + '-01&to=' + lastDay(month) +
                               '&per=month&by=municipality&format=csv',
                               'Ladda ner webbokning per kommun (CSV)'));
        links.appendChild(document.createTextNode(' · '));
        links.appendChild(link('/v1/reports/guarantee?month=' + month + '&format=html',
                               'Vårdgarantin som utskriftsvänlig tabell'));
        out.appendChild(links);
    }

    function load() {
        var month = document.getElementById('hist-month').value;
        var out = document.getElementById('hist-out');
        var status = document.getElementById('hist-status');
        if (!/^\d{4}-\d{2}$/.test(month)) return;
        var prev = prevMonth(month), span = 'from=' + prev + '-01&to=' + lastDay(month);
        status.textContent = 'Hämtar …';
        out.replaceChildren();
        Promise.all([
            getJson('/v1/reports/web-booking?' + span + '&per=month&by=municipality'),
            getJson('/v1/reports/web-booking?' + span + '&per=month&by=operator'),
            getJson('/v1/reports/web-booking?from=' + month + '-01&to=' + lastDay(month)),
            getJson('/v1/reports/guarantee?month=' + month)
        ]).then(function (res) {
            status.textContent = 'Månadsrapport för ' + monthName(month) + ' visas.';
            render(out, month, prev, res[0], res[1], res[2], res[3]);
        }).catch(function (e) {
            status.textContent = 'Historiken kunde inte hämtas (' + e.message + ').';
        });
    }

    /* --- CSV of a table on the page (the current-state tables) ----------- */

    function csvCell(s) {
        s = s.replace(/\s+/g, ' ').trim();
        return /[",;\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    }

    function tableCsv(t) {
        var lines = [];
        t.querySelectorAll('tr').forEach(function (tr) {
            var cells = [];
            tr.querySelectorAll('th, td').forEach(function (c) { cells.push(csvCell(c.textContent)); });
            lines.push(cells.join(','));
        });
        return '\ufeff' + lines.join('\r\n') + '\r\n';   /* BOM: Excel reads UTF-8 */
    }

    function initExports() {
        document.querySelectorAll('[data-csv-for]').forEach(function (a) {
            a.hidden = false;
            a.addEventListener('click', function (ev) {
                var t = document.querySelector('#' + a.getAttribute('data-csv-for') + ' table');
                if (!t) { ev.preventDefault(); return; }
                var day = new Intl.DateTimeFormat('sv-SE', {timeZone: 'Europe/Stockholm'}).format(new Date());
                a.setAttribute('download', a.getAttribute('data-name') + '-' + day + '.csv');
                a.href = 'data:text/csv;charset=utf-8,' + encodeURIComponent(tableCsv(t));
            });
        });
    }

    document.addEventListener('DOMContentLoaded', function () {
        var m = document.getElementById('hist-month');
        var form = document.getElementById('hist-form');
        initExports();
        if (!m) return;
        var q = new URLSearchParams(location.search).get('month');
        if (q && /^\d{4}-\d{2}$/.test(q)) m.value = q;
        if (!m.value) {
            var d = new Intl.DateTimeFormat('sv-SE', {timeZone: 'Europe/Stockholm'}).format(new Date());
            m.value = d.slice(0, 7);
        }
        form.querySelectorAll('.noscript-only').forEach(function (b) { b.textContent = 'Visa'; });
        form.addEventListener('submit', function (ev) { ev.preventDefault(); load(); });
        m.addEventListener('change', load);
        load();
    });
})();
