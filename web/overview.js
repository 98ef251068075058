/*
 * overview.js - the vårdvalsenhet's overview at /overview: how many
 * clinics expose web booking (by operator and by municipality), how many
 * have a free slot within the care guarantee right now, and which booking
 * systems are stale or unreachable. One source, /v1/availability; tables
 * carry the numbers, the inline SVG chart repeats them for the eye.
 */
'use strict';

(function () {
    var el = SF.el;
    var SVG_NS = 'http://www.w3.org/2000/svg';
    var feed = null;

    /*
     * Every clinic falls in exactly one chart category, so that the
     * segments of a bar add up to the municipality's clinics.
     */
    var CATS = [
        /* Dark and light alternate (3.8:1, 4.2:1, 6.0:1 between
         * neighbours), and segments are 2 px apart on white: the dark ones
         * stand 7.5:1 / 8.4:1 against white, the light ones get a dark
         * outline (7.5:1), so every segment edge is at least 3:1 whichever
         * segments meet (WCAG 1.4.11). */
        {key: 'within', label: 'Webbokning, ledig tid inom garantin', color: '#1b6131'},
        {key: 'open', label: 'Webbokning, ingen ledig tid inom garantin', color: '#8fbce6',
         edge: '#33393f'},
        {key: 'problem', label: 'Webbokning, tidboken kunde inte nås', color: '#7a3d00'},
        {key: 'none', label: 'Ingen webbokning', color: '#d5dade', edge: '#33393f'}
    ];

    function $(id) {
        return document.getElementById(id);
    }

    function category(c) {
        if (c.web_booking === 'none')
            return 'none';
        if (c.within_guarantee === true)
            return 'within';
        if (c.within_guarantee === false)
            return 'open';
        return 'problem';
    }

    /* Stale, no data, or the booking system unreachable. */
    function isProblem(c) {
        return c.web_booking !== 'none' &&
               (c.status === 'stale' || c.status === 'error' ||
                c.web_booking === 'unreachable' || c.web_booking === 'unknown');
    }

    function emptyCounts() {
        return {clinics: 0, web: 0, none: 0, within: 0, open: 0, problem: 0,
                problems: 0};
    }

    function add(cnt, c) {
        var cat = category(c);
        cnt.clinics++;
        if (c.web_booking === 'none')
            cnt.none++;
        else
            cnt.web++;
        if (cat !== 'none')
            cnt[cat]++;
        if (isProblem(c))
            cnt.problems++;
    }

    function groupBy(clinics, keyOf) {
        var groups = {};
        var order = [];
        clinics.forEach(function (c) {
            var k = keyOf(c);
            if (!groups[k]) {
                groups[k] = emptyCounts();
                order.push(k);
            }
            add(groups[k], c);
        });
        return {groups: groups, order: order};
    }

    function pct(part, whole) {
        return whole ? Math.round(100 * part / whole) + ' %' : '–';
    }

    function guaranteeLabel() {
        var d = feed.guarantee && typeof feed.guarantee.days === 'number' ? feed.guarantee.days : 3;
        var working = feed.guarantee && feed.guarantee.counting === 'working';
        return 'inom ' + d + (working ? ' vardagar' : ' dagar');
    }

    /* ---------------------------------------------------------------- */

    function figure(value, label, id) {
        return el('li', {'class': 'figure', id: id},
                  [el('span', {'class': 'figure-value'}, String(value)),
                   el('span', {'class': 'figure-label'}, label)]);
    }

    function renderFigures(total) {
        var ul = $('figures');
        SF.clear(ul);
        ul.appendChild(figure(total.clinics, 'mottagningar i vårdvalet', 'fig-clinics'));
        ul.appendChild(figure(total.web, 'har webbokning (' + pct(total.web, total.clinics) + ')',
                              'fig-web'));
        ul.appendChild(figure(total.within, 'har en ledig tid ' + guaranteeLabel() + ' just nu',
                              'fig-within'));
        ul.appendChild(figure(total.problems, 'tidböcker inaktuella eller ej nåbara',
                              'fig-problems'));
        ul.appendChild(figure(total.none, 'saknar webbokning', 'fig-none'));
    }

    function countTable(caption, firstCol, rows, total) {
        var t = el('table', {'class': 'data-table'});
        t.appendChild(el('caption', null, caption));
        var heads = [firstCol, 'Mottagningar', 'Med webbokning', 'Andel med webbokning',
                     'Ledig tid ' + guaranteeLabel(), 'Inaktuella / ej nåbara',
                     'Utan webbokning'];
        t.appendChild(el('thead', null, el('tr', null, heads.map(function (h, i) {
            return el('th', {scope: 'col', 'class': i ? 'num' : null}, h);
        }))));
        function row(name, cnt, tag) {
            return el('tr', null, [
                el('th', {scope: 'row'}, name),
                el(tag, {'class': 'num'}, String(cnt.clinics)),
                el(tag, {'class': 'num'}, String(cnt.web)),
                el(tag, {'class': 'num'}, pct(cnt.web, cnt.clinics)),
                el(tag, {'class': 'num'}, String(cnt.within)),
                el(tag, {'class': 'num'}, String(cnt.problems)),
                el(tag, {'class': 'num'}, String(cnt.none))
            ]);
        }
        var tb = el('tbody');
        rows.forEach(function (r) {
            tb.appendChild(row(r.name, r.cnt, 'td'));
        });
        t.appendChild(tb);
        t.appendChild(el('tfoot', null, row('Totalt', total, 'td')));
        return t;
    }

    /* ---------------------------------------------------------------- */

    function svg(tag, attrs, text) {
        var e = document.createElementNS(SVG_NS, tag);
        var k;
        for (k in attrs)
            if (Object.prototype.hasOwnProperty.call(attrs, k))
                e.setAttribute(k, String(attrs[k]));
        if (text !== undefined)
            e.textContent = text;
        return e;
    }

    function renderChart(byMuni) {
        var fig = $('chart');
        var names = byMuni.order.slice().sort(function (a, b) {
            return a.localeCompare(b, 'sv');
        });
        var max = 1;
        names.forEach(function (n) {
            max = Math.max(max, byMuni.groups[n].clinics);
        });
        var labelW = 150, barH = 22, gap = 10, top = 24, right = 40, width = 720;
        var plotW = width - labelW - right;
        var height = top + names.length * (barH + gap) + 10;
        var root = svg('svg', {viewBox: '0 0 ' + width + ' ' + height, role: 'img',
                               'aria-labelledby': 'chart-title chart-desc',
                               preserveAspectRatio: 'xMinYMin meet'});
        root.appendChild(svg('title', {id: 'chart-title'}, 'Mottagningar per kommun'));
        root.appendChild(svg('desc', {id: 'chart-desc'},
                             'Staplat stapeldiagram: för varje kommun antal mottagningar med ledig tid ' +
                             guaranteeLabel() + ', utan sådan tid, med tidbok som inte kunde nås och utan webbokning. Se tabellen Per kommun för siffrorna.'));

        /* Grid lines at whole clinics. */
        var step = max > 10 ? 5 : max > 5 ? 2 : 1;
        for (var v = 0; v <= max; v += step) {
            var x = labelW + plotW * v / max;
            root.appendChild(svg('line', {x1: x, x2: x, y1: top - 6, y2: height - 8,
                                          stroke: '#dde3e9', 'stroke-width': 1}));
            root.appendChild(svg('text', {x: x, y: top - 10, 'text-anchor': 'middle',
                                          'font-size': 11, fill: '#505a64'}, String(v)));
        }

        names.forEach(function (n, i) {
            var cnt = byMuni.groups[n];
            var y = top + i * (barH + gap);
            var g = svg('g', {'data-municipality': n});
            g.appendChild(svg('text', {x: labelW - 8, y: y + barH / 2 + 4, 'text-anchor': 'end',
                                       'font-size': 13, fill: '#1f2328'}, n));
            var x0 = labelW;
            CATS.forEach(function (cat) {
                var k = cat.key === 'none' ? cnt.none : cnt[cat.key];
                if (!k)
                    return;
                var w = plotW * k / max;
                var attrs = {x: x0 + (cat.edge ? 0.5 : 0), y: y + (cat.edge ? 0.5 : 0),
                             width: Math.max(w - (cat.edge ? 3 : 2), 1),
                             height: barH - (cat.edge ? 1 : 0), fill: cat.color,
                             'data-cat': cat.key, 'data-count': k};
                if (cat.edge) {
                    attrs.stroke = cat.edge;
                    attrs['stroke-width'] = 1;
                }
                var r = svg('rect', attrs);
                r.appendChild(svg('title', {}, n + ': ' + k + ' – ' + cat.label.toLowerCase()));
                g.appendChild(r);
                x0 += w;
            });
            g.appendChild(svg('text', {x: x0 + 6, y: y + barH / 2 + 4, 'font-size': 12,
                                       fill: '#505a64'}, String(cnt.clinics)));
            root.appendChild(g);
        });

        SF.clear(fig);
        fig.appendChild(root);
        var legend = el('ul', {'class': 'legend', 'aria-hidden': 'true'});
        CATS.forEach(function (cat) {
            var sw = el('span', {'class': 'swatch'});
            sw.style.background = cat.color;
            legend.appendChild(el('li', null, [sw, cat.label]));
        });
        fig.appendChild(legend);
    }

    /* ---------------------------------------------------------------- */

    var WB_TEXT = {open: 'svarar', none: 'ingen', unreachable: 'ej nåbar', unknown: 'okänd'};
    var STATUS_TEXT = {ok: 'aktuell', stale: 'inaktuell', error: 'inga uppgifter'};
    var ERR_TEXT = {transport: 'kunde inte ansluta', timeout: 'svarade inte i tid',
                    too_large: 'för stort svar', http: 'felsvar', parse: 'oläsbart svar',
                    hostile: 'otillåtet svar', fault: 'fel i bokningssystemet',
                    not_connected: 'inte ansluten', implausible: 'misstänkt tomt svar',
                    config: 'fel i inställningarna', nomem: 'internt fel', internal: 'internt fel'};

    function renderProblems(clinics) {
        var box = $('table-problems');
        var rows = clinics.filter(isProblem);
        SF.clear(box);
        if (!rows.length) {
            box.appendChild(el('p', {'class': 'empty'}, 'Alla tidböcker med webbokning svarar och har aktuella uppgifter.'));
            return;
        }
        var t = el('table', {'class': 'data-table', id: 'problems'});
        t.appendChild(el('caption', null, rows.length + (rows.length === 1 ? ' mottagning' : ' mottagningar')));
        t.appendChild(el('thead', null, el('tr', null,
            ['Mottagning', 'Kommun', 'Driftform', 'Webbokning', 'Uppgifter', 'Senast bekräftade', 'Senaste fel']
                .map(function (h) {
                    return el('th', {scope: 'col'}, h);
                }))));
        var tb = el('tbody');
        rows.forEach(function (c) {
            tb.appendChild(el('tr', {'data-id': c.id}, [
                el('th', {scope: 'row'}, c.name),
                el('td', null, c.municipality || ''),
                el('td', null, c.operator === 'private' ? 'privat' : c.operator === 'region' ? 'regionen' : '–'),
                el('td', null, el('span', {'class': 'status-pill status-' + c.web_booking},
                                  WB_TEXT[c.web_booking] || String(c.web_booking))),
                el('td', null, el('span', {'class': 'status-pill status-' + c.status},
                                  STATUS_TEXT[c.status] || String(c.status))),
                el('td', null, c.valid_at ? el('time', {datetime: c.valid_at}, SF.shortInstant(c.valid_at)) : 'aldrig'),
                el('td', {'class': 'error-text'}, c.error ? (ERR_TEXT[c.error['class']] || 'fel') + ' (' + c.error.message + ')' : '–')
            ]));
        });
        t.appendChild(tb);
        box.appendChild(t);
    }

    function renderNone(clinics) {
        var box = $('table-none');
        var rows = clinics.filter(function (c) {
            return c.web_booking === 'none';
        });
        SF.clear(box);
        if (!rows.length) {
            box.appendChild(el('p', {'class': 'empty'}, 'Alla mottagningar har webbokning.'));
            return;
        }
        var t = el('table', {'class': 'data-table', id: 'none'});
        t.appendChild(el('caption', null, rows.length + (rows.length === 1 ? ' mottagning' : ' mottagningar')));
        t.appendChild(el('thead', null, el('tr', null,
            ['Mottagning', 'Kommun', 'Driftform', 'Telefon', 'Webbplats'].map(function (h) {
                return el('th', {scope: 'col'}, h);
            }))));
        var tb = el('tbody');
        rows.forEach(function (c) {
            var web = SF.safeUrl(c.website);
            tb.appendChild(el('tr', {'data-id': c.id}, [
                el('th', {scope: 'row'}, c.name),
                el('td', null, c.municipality || ''),
                el('td', null, c.operator === 'private' ? 'privat' : c.operator === 'region' ? 'regionen' : '–'),
                el('td', null, c.phone || '–'),
                el('td', null, web ? el('a', {href: web, rel: 'noopener noreferrer'}, web) : '–')
            ]));
        });
        t.appendChild(tb);
        box.appendChild(t);
    }

    function renderFreshness() {
        var p = $('freshness');
        SF.clear(p);
        if (!feed)
            return;
        p.appendChild(document.createTextNode('Uppdaterad '));
        p.appendChild(el('time', {datetime: feed.generated_at, title: SF.shortInstant(feed.generated_at)},
                         SF.relativeAge(Date.now() - Date.parse(feed.generated_at))));
        if (feed.guarantee && feed.guarantee.deadline)
            p.appendChild(document.createTextNode(' · vårdgarantin räknas till och med ' +
                                                  SF.weekdayDate(feed.guarantee.deadline)));
    }

    function render() {
        var clinics = feed.clinics;
        var total = emptyCounts();
        clinics.forEach(function (c) {
            add(total, c);
        });
        $('region-name').textContent = feed.region || 'Vårdval fysioterapi';
        renderFreshness();
        renderFigures(total);

        var byOp = groupBy(clinics, function (c) {
            return c.operator || '';
        });
        var opRows = ['private', 'region', ''].filter(function (k) {
            return byOp.groups[k];
        }).map(function (k) {
            return {name: k === 'private' ? 'Privata vårdgivare' : k === 'region' ? 'Regionens mottagningar' : 'Okänd driftform',
                    cnt: byOp.groups[k]};
        });
        var opBox = $('table-operator');
        SF.clear(opBox);
        opBox.appendChild(countTable('Webbokning per driftform', 'Driftform', opRows, total));

        var byMuni = groupBy(clinics, function (c) {
            return c.municipality || '(ingen kommun)';
        });
        var muniRows = byMuni.order.slice().sort(function (a, b) {
            return a.localeCompare(b, 'sv');
        }).map(function (k) {
            return {name: k, cnt: byMuni.groups[k]};
        });
        var muBox = $('table-municipality');
        SF.clear(muBox);
        muBox.appendChild(countTable('Webbokning per kommun', 'Kommun', muniRows, total));
        renderChart(byMuni);
        renderProblems(clinics);
        renderNone(clinics);
    }

    function load() {
        SF.getJson('/v1/availability').then(function (r) {
            var err = $('load-error');
            if (r.status === 200 && r.body && Array.isArray(r.body.clinics)) {
                feed = r.body;
                err.hidden = true;
                render();
            } else {
                err.textContent = 'Uppgifterna kunde inte hämtas (svar ' + r.status + '). Sidan försöker igen.';
                err.hidden = false;
            }
        }, function () {
            var err = $('load-error');
            err.textContent = 'Uppgifterna kunde inte hämtas. Sidan försöker igen.';
            err.hidden = false;
        });
    }

    function init() {
        load();
        setInterval(load, 60000);
        setInterval(renderFreshness, 15000);
    }

    if (document.readyState === 'loading')
        document.addEventListener('DOMContentLoaded', init);
    else
        init();
}());
