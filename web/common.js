/*
 * common.js - helpers shared by the patient page (app.js) and the
 * overview (overview.js): Swedish date texts, relative age, a DOM builder
 * and JSON fetching.
 *
 * Dates in the feed are local Europe/Stockholm dates ("2026-03-31") and
 * instants carry their local offset ("2026-03-31T10:00:00+02:00"), so
 * local dates and times are read from the strings themselves; the
 * browser's own time zone never enters (it may not be Sweden's). Calendar
 * arithmetic runs on UTC dates for the same reason.
 *
 * Every text from the feed goes through textContent (el() below), never
 * innerHTML, and only http(s) URLs become links (safeUrl).
 *
 * Language: the page's own <html lang> (the server chose it from ?lang=
 * or Accept-Language); t(sv, en) picks the text, the date words follow.
 */
'use strict';

var SF = (function () {
    var EN = typeof document !== 'undefined' &&
             document.documentElement.lang === 'en';

    function t(sv, en) {
        return EN ? en : sv;
    }

    /* 1177 writes "MARS", "MAJ", "JUNI", "JULI" in full. */
    var MONTHS_SHORT = EN
        ? ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep',
           'Oct', 'Nov', 'Dec']
        : ['jan', 'feb', 'mars', 'apr', 'maj', 'juni', 'juli', 'aug', 'sep',
           'okt', 'nov', 'dec'];
    var MONTHS = EN
        ? ['January', 'February', 'March', 'April', 'May', 'June', 'July',
           'August', 'September', 'October', 'November', 'December']
        : ['januari', 'februari', 'mars', 'april', 'maj', 'juni', 'juli',
           'augusti', 'september', 'oktober', 'november', 'december'];
    /* Monday first, as in Sweden. */
    var WEEKDAYS = EN
        ? ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday',
           'Saturday', 'Sunday']
        : ['måndag', 'tisdag', 'onsdag', 'torsdag', 'fredag', 'lördag',
           'söndag'];
    var WEEKDAYS_SHORT = EN
        ? ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']
        : ['mån', 'tis', 'ons', 'tor', 'fre', 'lör', 'sön'];

    /* "YYYY-MM-DD" (or the date part of an instant) -> {y, m (1-12), d}. */
    function parseDate(s) {
        var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(typeof s === 'string' ? s : '');
        if (!m)
            return null;
        var y = +m[1], mo = +m[2], d = +m[3];
        if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo))
            return null;
        return {y: y, m: mo, d: d};
    }

    function pad2(n) {
        return (n < 10 ? '0' : '') + n;
    }

    function isoDate(y, m, d) {
        return y + '-' + pad2(m) + '-' + pad2(d);
    }

    function isoMonth(y, m) {
        return y + '-' + pad2(m);
    }

    function daysInMonth(y, m) {
        return new Date(Date.UTC(y, m, 0)).getUTCDate();
    }

    /* 0 = Monday ... 6 = Sunday. */
    function weekday(y, m, d) {
        return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
    }

    /* {y, m} of the month after / before. */
    function addMonths(y, m, n) {
        var i = y * 12 + (m - 1) + n;
        return {y: Math.floor(i / 12), m: (i % 12) + 1};
    }

    /* "31 mars" (shown in small caps by CSS as 1177 does). */
    function shortDate(s) {
        var p = parseDate(s);
        return p ? p.d + ' ' + MONTHS_SHORT[p.m - 1] : '';
    }

    /* "31 mars 2026". */
    function longDate(s) {
        var p = parseDate(s);
        return p ? p.d + ' ' + MONTHS[p.m - 1] + ' ' + p.y : '';
    }

    /* "tisdag 31 mars". */
    function weekdayDate(s) {
        var p = parseDate(s);
        if (!p)
            return '';
        return WEEKDAYS[weekday(p.y, p.m, p.d)] + ' ' + p.d + ' ' +
               MONTHS[p.m - 1];
    }

    function monthName(y, m) {
        return MONTHS[m - 1] + ' ' + y;
    }

    /* Local "HH:MM" of an instant with offset: the string already is local. */
    function localTime(instant) {
        var m = /T(\d{2}:\d{2})/.exec(typeof instant === 'string' ? instant : '');
        return m ? m[1] : '';
    }

    /* "tis 31 mars kl. 10:00" / "Tue 31 March, 10:00" for an instant. */
    function shortInstant(instant) {
        var p = parseDate(instant);
        if (!p)
            return '';
        return WEEKDAYS_SHORT[weekday(p.y, p.m, p.d)] + ' ' + p.d + ' ' +
               MONTHS[p.m - 1] + t(' kl. ', ', ') + localTime(instant);
    }

    /* Age of ageMs milliseconds as "för 2 min sedan" (never negative). */
    function relativeAge(ageMs) {
        var min = Math.floor(Math.max(0, ageMs) / 60000);
        if (min < 1)
            return t('nyss', 'just now');
        if (min < 60)
            return t('för ' + min + ' min sedan', min + ' min ago');
        var h = Math.floor(min / 60);
        if (h < 24)
            return t('för ' + h + (h === 1 ? ' timme' : ' timmar') + ' sedan',
                     h + (h === 1 ? ' hour' : ' hours') + ' ago');
        var d = Math.floor(h / 24);
        return t('för ' + d + (d === 1 ? ' dag' : ' dagar') + ' sedan',
                 d + (d === 1 ? ' day' : ' days') + ' ago');
    }

    /*
     * Build an element: attrs sets attributes (false/null skip them, true
     * sets an empty one), children are nodes or strings (text nodes).
     */
    function el(tag, attrs, children) {
        var e = document.createElement(tag);
        var k, i, c;
        if (attrs) {
            for (k in attrs) {
                if (!Object.prototype.hasOwnProperty.call(attrs, k))
                    continue;
                if (attrs[k] === null || attrs[k] === undefined ||
                    attrs[k] === false)
                    continue;
                e.setAttribute(k, attrs[k] === true ? '' : String(attrs[k]));
            }
        }
        if (children !== undefined && children !== null) {
            if (!Array.isArray(children))
                children = [children];
            for (i = 0; i < children.length; i++) {
                c = children[i];
                if (c === null || c === undefined || c === false)
                    continue;
                e.appendChild(typeof c === 'string' || typeof c === 'number'
                              ? document.createTextNode(String(c)) : c);
            }
        }
        return e;
    }

    function clear(node) {
        while (node.firstChild)
            node.removeChild(node.firstChild);
    }

    /* Only absolute http(s) URLs may become links (no javascript: etc.). */
    function safeUrl(u) {
        if (typeof u !== 'string' || !/^https?:\/\/[^\s]+$/i.test(u))
            return null;
        return u;
    }

    /*
     * GET url as JSON. Resolves {status, body} (body null when not JSON);
     * rejects only on network failure. "no-cache" revalidates with the
     * server's ETag, so an unchanged feed costs a 304.
     */
    function getJson(url) {
        return fetch(url, {cache: 'no-cache',
                           headers: {'Accept': 'application/json'}})
            .then(function (r) {
                return r.text().then(function (t) {
                    var body = null;
                    try {
                        body = JSON.parse(t);
                    } catch (e) {
                        body = null;
                    }
                    return {status: r.status, body: body};
                });
            });
    }

    function operatorText(op) {
        if (op === 'private')
            return t('Privat vårdgivare', 'Private provider');
        if (op === 'region')
            return t('Regionens mottagning', 'Run by the region');
        return t('Driftform okänd', 'Operator unknown');
    }

    /* "Sverige-format" for a distance: "2,4 km". */
    function km(x) {
        if (typeof x !== 'number' || !isFinite(x))
            return '';
        var v = x < 10 ? Math.round(x * 10) / 10 : Math.round(x);
        return (EN ? String(v) : String(v).replace('.', ',')) + ' km';
    }

    return {
        en: EN, t: t, MONTHS_SHORT: MONTHS_SHORT, MONTHS: MONTHS, WEEKDAYS: WEEKDAYS,
        WEEKDAYS_SHORT: WEEKDAYS_SHORT,
        parseDate: parseDate, isoDate: isoDate, isoMonth: isoMonth,
        daysInMonth: daysInMonth, weekday: weekday, addMonths: addMonths,
        shortDate: shortDate, longDate: longDate, weekdayDate: weekdayDate,
        monthName: monthName, localTime: localTime,
        shortInstant: shortInstant, relativeAge: relativeAge,
        el: el, clear: clear, safeUrl: safeUrl, getJson: getJson,
        operatorText: operatorText, km: km
    };
}());
