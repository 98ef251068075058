/*
 * app.js - the patient page "Sök lediga tider": two entries (within the
 * care guarantee / all clinics), filters, clinic cards and a clinic's day
 * view with a month calendar. Reads Feed v1 (docs/feed.md):
 * /v1/availability for the list, ?near= for distances, /v1/clinics/{id}
 * for the day view. We never book: every slot links to the clinic's
 * booking_url.
 *
 * Routing is in the location hash so that the back button works:
 *   #/alla?kommun=K&nara=Q        general search (also "" and "#/")
 *   #/inom-3-dagar?kommun=K&...   only clinics within the guarantee
 *   #/klinik/ID                   day view, first day with free times
 *   #/klinik/ID/YYYY-MM           day view, a month
 *   #/klinik/ID/YYYY-MM-DD        day view, a day
 *
 * Unknown availability (within_guarantee null) is never shown as "no
 * free times" (feed.md rule 1).
 */
'use strict';

(function () {
    var el = SF.el;
    var T = SF.t;
    var REFRESH_MS = 60000;
    var AGE_TICK_MS = 15000;
    /* A feed older than this is itself suspect (the publisher is stuck). */
    var FEED_OLD_MS = 10 * 60000;

    var state = {
        feed: null,          /* last good /v1/availability */
        feedError: null,     /* text shown while the feed is unavailable */
        near: null,          /* {query, doc, error} for the active near= */
        detail: {},          /* id -> {doc, error, status} */
        route: null,
        lastListHash: '#/alla',
        listScroll: 0,
        lastStatusText: ''
    };

    function $(id) {
        return document.getElementById(id);
    }

    /* ---------------------------------------------------------------- */
    /* Routes                                                           */

    function parseQuery(q) {
        var out = {};
        if (!q)
            return out;
        q.split('&').forEach(function (part) {
            var i = part.indexOf('=');
            var k = i < 0 ? part : part.slice(0, i);
            var v = i < 0 ? '' : part.slice(i + 1);
            try {
                out[decodeURIComponent(k)] =
                    decodeURIComponent(v.replace(/\+/g, ' '));
            } catch (e) {
                /* malformed escape: ignore that parameter */
            }
        });
        return out;
    }

    function parseRoute(hash) {
        var h = (hash || '').replace(/^#/, '');
        /* No route in the hash: the server rendered this page for its
         * query (/?kommun=K&nara=Q&vy=inom-3-dagar), so take that. */
        if ((h === '' || h === '/') && location.search) {
            var sq = parseQuery(location.search.slice(1));
            return {
                view: 'list',
                mode: sq.vy === 'inom-3-dagar' ? 'guarantee' : 'all',
                municipality: sq.kommun || '',
                near: (sq.nara || '').trim()
            };
        }
        var qi = h.indexOf('?');
        var path = qi < 0 ? h : h.slice(0, qi);
        var q = parseQuery(qi < 0 ? '' : h.slice(qi + 1));
        var parts = path.split('/').filter(function (s) {
            return s !== '';
        });
        var m;

        if (parts[0] === 'klinik' && parts[1]) {
            var r = {view: 'day', id: '', date: null, month: null};
            try {
                r.id = decodeURIComponent(parts[1]);
            } catch (e) {
                r.id = parts[1];
            }
            if (parts[2] && SF.parseDate(parts[2]) &&
                /^\d{4}-\d{2}-\d{2}$/.test(parts[2]))
                r.date = parts[2];
            else if (parts[2] && (m = /^(\d{4})-(\d{2})$/.exec(parts[2])) &&
                     +m[2] >= 1 && +m[2] <= 12)
                r.month = {y: +m[1], m: +m[2]};
            return r;
        }
        return {
            view: 'list',
            mode: parts[0] === 'inom-3-dagar' ? 'guarantee' : 'all',
            municipality: q.kommun || '',
            near: (q.nara || '').trim()
        };
    }

    function listHash(mode, municipality, near) {
        var h = mode === 'guarantee' ? '#/inom-3-dagar' : '#/alla';
        var q = [];
        if (municipality)
            q.push('kommun=' + encodeURIComponent(municipality));
        if (near)
            q.push('nara=' + encodeURIComponent(near));
        return q.length ? h + '?' + q.join('&') : h;
    }

    function clinicHash(id, suffix) {
        return '#/klinik/' + encodeURIComponent(id) + (suffix ? '/' + suffix : '');
    }

    /* ---------------------------------------------------------------- */
    /* Data                                                             */

    function loadFeed() {
        return SF.getJson('/v1/availability').then(function (r) {
            if (r.status === 200 && r.body && Array.isArray(r.body.clinics)) {
                state.feed = r.body;
                state.feedError = null;
            } else if (r.status === 503) {
                state.feedError = T('Tjänsten startar just nu. Sidan försöker igen om en stund.',
                                    'The service is starting. The page tries again shortly.');
                setTimeout(refresh, 5000);
            } else {
                state.feedError = T('Lediga tider kunde inte hämtas just nu (fel ' + r.status + '). Försök igen om en stund.',
                                    'Free times could not be fetched just now (error ' + r.status + '). Try again shortly.');
            }
        }, function () {
            state.feedError = T('Lediga tider kunde inte hämtas just nu. Kontrollera din anslutning och försök igen.',
                                'Free times could not be fetched just now. Check your connection and try again.');
        });
    }

    function NEAR_DOWN() {
        return T('Avstånd kunde inte beräknas just nu. Mottagningarna visas utan avstånd.',
                 'Distances cannot be computed just now. The clinics are shown without distances.');
    }

    function loadNear(query) {
        var url = '/v1/availability?near=' + encodeURIComponent(query);
        return SF.getJson(url).then(function (r) {
            var n = {query: query, doc: null, error: null};
            if (r.status === 200 && r.body && Array.isArray(r.body.clinics))
                n.doc = r.body;
            else if (r.status >= 400 && r.status < 500)
                n.error = T('Vi känner inte igen ”' + query + '”. Skriv namnet på en kommun eller ort i regionen, eller ett postnummer med fem siffror.',
                            'We do not know “' + query + '”. Enter a municipality or town in the region, or a five-digit postcode.');
            else
                n.error = NEAR_DOWN();
            state.near = n;
        }, function () {
            state.near = {query: query, doc: null,
                          error: NEAR_DOWN()};
        });
    }

    function loadDetail(id) {
        return SF.getJson('/v1/clinics/' + encodeURIComponent(id)).then(function (r) {
            if (r.status === 200 && r.body && r.body.id)
                state.detail[id] = {doc: r.body, error: null, status: 200};
            else
                state.detail[id] = {doc: null, status: r.status,
                                    error: r.status === 404 || r.status === 400
                                        ? T('Mottagningen finns inte i listan.', 'The clinic is not in the list.')
                                        : T('Tiderna för mottagningen kunde inte hämtas just nu. Försök igen om en stund.',
                                            'The clinic\'s times could not be fetched just now. Try again shortly.')};
        }, function () {
            state.detail[id] = {doc: null, status: 0,
                                error: T('Tiderna för mottagningen kunde inte hämtas just nu. Kontrollera din anslutning.',
                                         'The clinic\'s times could not be fetched just now. Check your connection.')};
        });
    }

    /* Fetch what the route needs that we do not have yet (or all: force). */
    function ensureData(route, force) {
        var jobs = [];
        if (force || !state.feed)
            jobs.push(loadFeed());
        if (route.view === 'list' && route.near &&
            (force || !state.near || state.near.query !== route.near))
            jobs.push(loadNear(route.near));
        if (route.view === 'day' && (force || !state.detail[route.id]))
            jobs.push(loadDetail(route.id));
        return Promise.all(jobs);
    }

    /* ---------------------------------------------------------------- */
    /* Texts                                                            */

    function guaranteeDays() {
        var g = state.feed && state.feed.guarantee;
        return g && typeof g.days === 'number' ? g.days : 3;
    }

    /* "3 dagar", or "3 vardagar" when the region counts working days. */
    function guaranteeSpan() {
        var g = state.feed && state.feed.guarantee;
        var n = guaranteeDays();
        var working = g && g.counting === 'working';
        if (SF.en)
            return n + (working ? ' working day' : ' day') + (n === 1 ? '' : 's');
        return n + (working ? ' vardag' : ' dag') + (n === 1 ? '' : 'ar');
    }

    function placeText(c) {
        var parts = [];
        if (c.locality && c.locality !== c.municipality)
            parts.push(c.locality);
        if (c.municipality)
            parts.push(c.municipality + (parts.length ? '' : T(' kommun', ' municipality')));
        return parts.join(', ');
    }

    /* ---------------------------------------------------------------- */
    /* Freshness                                                        */

    function renderFreshness() {
        var p = $('freshness');
        SF.clear(p);
        if (!state.feed) {
            p.appendChild(document.createTextNode(state.feedError ? '' : T('Hämtar lediga tider …', 'Fetching free times …')));
            return;
        }
        var gen = state.feed.generated_at;
        var age = Date.now() - Date.parse(gen);
        p.appendChild(document.createTextNode(T('Uppdaterad ', 'Updated ')));
        p.appendChild(el('time', {datetime: gen, title: SF.shortInstant(gen)},
                         SF.relativeAge(age)));
        p.classList.toggle('freshness-old', age > FEED_OLD_MS);
        if (age > FEED_OLD_MS)
            p.appendChild(document.createTextNode(T(' – uppgifterna kan vara inaktuella', ' – the information may be out of date')));
    }

    /* ---------------------------------------------------------------- */
    /* Clinic cards                                                     */

    function upcomingDays(c) {
        var p = el('p', {'class': 'upcoming-days'});
        c.upcoming_days.forEach(function (d, i) {
            if (i > 0)
                p.appendChild(document.createTextNode(' '));
            p.appendChild(el('time', {datetime: d, 'class': 'day'}, SF.shortDate(d)));
        });
        /* "(+14)" said nothing to a screen reader or a phone: words. */
        if (typeof c.more_days === 'number' && c.more_days > 0) {
            p.appendChild(document.createTextNode(' '));
            p.appendChild(el('span', {'class': 'more-days'},
                             T('och ', 'and ') + c.more_days + ' ' +
                             (c.more_days === 1 ? T('dag till', 'more day')
                                                : T('dagar till', 'more days'))));
        }
        return p;
    }

    function phoneLink(phone, cls) {
        var tel = String(phone).replace(/[^0-9+]/g, '');
        return tel ? el('a', {href: 'tel:' + tel, 'class': 'tel' + (cls ? ' ' + cls : '')}, phone)
                   : document.createTextNode(phone);
    }

    function staleNote(c) {
        var t = T('Uppgifterna kan vara inaktuella', 'This information may be out of date');
        if (c.valid_at)
            t += T(' (senast bekräftade ', ' (last confirmed ') +
                 SF.relativeAge(Date.now() - Date.parse(c.valid_at)) + ')';
        return el('p', {'class': 'note note-stale'}, t);
    }

    /*
     * Every card and day view ends with a way to reach the clinic (the
     * server's contact_block): phone, website, address; "contact the
     * clinic" only when the feed has none of them.
     */
    function contactBlock(c, none) {
        var out = [];
        var web = SF.safeUrl(c.website);
        if (c.phone)
            out.push(el('p', {'class': 'contact'},
                        [none ? T('Ingen webbokning — ring ', 'No web booking — call ')
                              : T('Telefon ', 'Phone '), phoneLink(c.phone)]));
        else if (none)
            out.push(el('p', {'class': 'contact'}, T('Ingen webbokning', 'No web booking')));
        if (web)
            out.push(el('p', {'class': 'contact'},
                        el('a', {href: web, 'class': 'site-link', rel: 'noopener noreferrer'},
                           [T('Mottagningens webbplats', 'The clinic\'s website'),
                            el('span', {'class': 'visually-hidden'}, ' (' + c.name + ')')])));
        if (c.address)
            out.push(el('p', {'class': 'contact address'},
                        T('Adress: ', 'Address: ') + c.address));
        if (!c.phone && !web && !c.address && none)
            out.push(el('p', {'class': 'contact'},
                        T('Kontakta mottagningen för att boka.', 'Contact the clinic to book.')));
        return out;
    }

    /* The availability part of a web-booking clinic card or day view. */
    function availabilityBlock(c) {
        var box = el('div', {'class': 'availability'});
        if (c.within_guarantee === null || c.within_guarantee === undefined ||
            !Array.isArray(c.upcoming_days)) {
            box.appendChild(el('p', {'class': 'no-data'},
                               T('Tidboken kunde inte nås just nu',
                                 'The booking system could not be reached just now')));
            return box;
        }
        if (c.upcoming_days.length > 0) {
            box.appendChild(el('p', {'class': 'label'},
                               T('Kommande dagar med lediga tider', 'Upcoming days with free times')));
            box.appendChild(upcomingDays(c));
        } else {
            box.appendChild(el('p', {'class': 'no-times'},
                               T('Just nu finns inga lediga tider', 'No free times just now')));
        }
        return box;
    }

    function cardMeta(c) {
        var meta = el('p', {'class': 'meta'});
        var place = placeText(c);
        if (place)
            meta.appendChild(el('span', {'class': 'place'}, place));
        meta.appendChild(el('span', {'class': 'operator operator-' + (c.operator || 'unknown')},
                            SF.operatorText(c.operator)));
        if (typeof c.distance_km === 'number')
            meta.appendChild(el('span', {'class': 'distance'},
                                c.distance_km < 1 ? T('mindre än 1 km bort', 'less than 1 km away')
                                                  : SF.km(c.distance_km) + T(' bort', ' away')));
        return meta;
    }

    /* "Boka tid" straight from the card (not only through the day view). */
    function bookAction(c) {
        var url = SF.safeUrl(c.booking_url);
        if (!url)
            return null;
        return el('p', {'class': 'book'},
                  [el('a', {'class': 'button book-link', href: url, rel: 'noopener noreferrer'},
                      [T('Boka tid', 'Book a time'),
                       el('span', {'class': 'visually-hidden'}, T(' hos ', ' at ') + c.name)]),
                   ' ',
                   el('span', {'class': 'hint'}, T('(i mottagningens tidbok)',
                                                   '(in the clinic\'s booking system)'))]);
    }

    function clinicCard(c) {
        var li = el('li', {'class': 'clinic-card', 'data-id': c.id});
        var head = el('div', {'class': 'card-head'});
        head.appendChild(el('h3', {'class': 'clinic-name'},
                            el('a', {href: clinicHash(c.id), 'class': 'clinic-link',
                                     'data-focus': 'card:' + c.id}, c.name)));
        if (c.within_guarantee === true)
            head.appendChild(el('span', {'class': 'badge badge-ok'},
                                T('Ledig tid inom ', 'Free time within ') + guaranteeSpan()));
        li.appendChild(head);
        li.appendChild(cardMeta(c));
        if (c.status === 'stale' && c.within_guarantee !== null)
            li.appendChild(staleNote(c));
        li.appendChild(availabilityBlock(c));
        if (c.first_free)
            li.appendChild(el('p', {'class': 'first-free'},
                              [T('Första lediga tid: ', 'First free time: '),
                               el('time', {datetime: c.first_free}, SF.shortInstant(c.first_free))]));
        var book = bookAction(c);
        if (book)
            li.appendChild(book);
        contactBlock(c, false).forEach(function (n) {
            li.appendChild(n);
        });
        return li;
    }

    function noneCard(c) {
        var li = el('li', {'class': 'clinic-card clinic-card-none', 'data-id': c.id});
        li.appendChild(el('h3', {'class': 'clinic-name'}, c.name));
        li.appendChild(cardMeta(c));
        contactBlock(c, true).forEach(function (n) {
            li.appendChild(n);
        });
        return li;
    }

    /* ---------------------------------------------------------------- */
    /* List view                                                        */

    function byName(a, b) {
        return String(a.name).localeCompare(String(b.name), 'sv');
    }

    function byFirstFree(a, b) {
        var x = a.first_free ? Date.parse(a.first_free) : Infinity;
        var y = b.first_free ? Date.parse(b.first_free) : Infinity;
        return x < y ? -1 : x > y ? 1 : byName(a, b);
    }

    function fillMunicipalities(route) {
        var sel = $('municipality');
        var seen = {};
        var names = [];
        state.feed.clinics.forEach(function (c) {
            if (c.municipality && !seen[c.municipality]) {
                seen[c.municipality] = true;
                names.push(c.municipality);
            }
        });
        names.sort(function (a, b) {
            return a.localeCompare(b, 'sv');
        });
        if (route.municipality && !seen[route.municipality])
            names.unshift(route.municipality);   /* keep an unknown choice visible */
        var want = [''].concat(names).join('\n');
        var have = Array.prototype.map.call(sel.options, function (o) {
            return o.value;
        }).join('\n');
        if (want !== have) {
            SF.clear(sel);
            sel.appendChild(el('option', {value: ''}, T('Alla kommuner', 'All municipalities')));
            names.forEach(function (n) {
                sel.appendChild(el('option', {value: n}, n));
            });
        }
        sel.value = route.municipality;
    }

    function setStatus(text) {
        /* Only a changed text is announced (the live region re-reads it). */
        if (text !== state.lastStatusText) {
            $('result-status').textContent = text;
            state.lastStatusText = text;
        }
    }

    function renderList(route) {
        var feed = state.feed;
        var source = feed.clinics;
        var nearErr = $('near-error');
        var usedDistance = false;
        var span = guaranteeSpan();

        fillMunicipalities(route);
        if (document.activeElement !== $('near'))
            $('near').value = route.near;

        nearErr.hidden = true;
        if (route.near && state.near && state.near.query === route.near) {
            if (state.near.doc) {
                source = state.near.doc.clinics;
                usedDistance = source.some(function (c) {
                    return typeof c.distance_km === 'number';
                });
                if (!usedDistance) {
                    nearErr.textContent = T('Avstånd kunde inte beräknas för ”' + route.near + '”. Mottagningarna visas utan avstånd.',
                                            'Distances could not be computed for “' + route.near + '”. The clinics are shown without distances.');
                    nearErr.hidden = false;
                }
            } else if (state.near.error) {
                nearErr.textContent = state.near.error;
                nearErr.hidden = false;
            }
        }

        var inMuni = source.filter(function (c) {
            return !route.municipality || c.municipality === route.municipality;
        });
        var web = inMuni.filter(function (c) {
            return c.web_booking !== 'none' &&
                   (route.mode !== 'guarantee' || c.within_guarantee === true);
        });
        var none = inMuni.filter(function (c) {
            return c.web_booking === 'none';
        });
        /* With a place, the API's order (nearest first) stands, as on
         * the server-rendered page. */
        if (!usedDistance) {
            web.sort(route.mode === 'guarantee' ? byFirstFree : byName);
            none.sort(byName);
        }

        var where = route.municipality ? T(' i ', ' in ') + route.municipality : '';
        var deadline = feed.guarantee && feed.guarantee.deadline;
        var place = usedDistance ? (state.near.doc.filters && state.near.doc.filters.near &&
                                    state.near.doc.filters.near.place) || route.near : '';
        if (route.mode === 'guarantee') {
            $('heading-web').textContent = T('Ledig tid inom ', 'Free time within ') + span + where;
            $('intro-web').textContent = T('Mottagningar med en ledig tid senast ',
                                           'Clinics with a free time on or before ') +
                (deadline ? SF.weekdayDate(deadline) : '') + T(' (vårdgarantin, ', ' (the care guarantee, ') +
                span + '), ' +
                (usedDistance ? T('närmast först.', 'nearest first.')
                              : T('den tidigaste tiden först.', 'earliest time first.'));
        } else {
            $('heading-web').textContent = T('Mottagningar med webbokning', 'Clinics with web booking') + where;
            $('intro-web').textContent = usedDistance
                ? T('Närmast först. Välj en mottagning för att se alla lediga tider.',
                    'Nearest first. Choose a clinic to see all its free times.')
                : T('Välj en mottagning för att se dess lediga tider dag för dag.',
                    'Choose a clinic to see its free times day by day.');
        }

        var list = $('clinic-list');
        SF.clear(list);
        web.forEach(function (c) {
            list.appendChild(clinicCard(c));
        });
        var empty = $('empty-web');
        SF.clear(empty);
        empty.hidden = web.length > 0;
        if (!web.length) {
            if (route.mode === 'guarantee') {
                empty.appendChild(document.createTextNode(
                    T('Just nu har ingen mottagning' + where + ' en ledig tid inom ' + span + '. ',
                      'No clinic' + where + ' has a free time within ' + span + ' just now. ')));
                empty.appendChild(el('a', {href: listHash('all', route.municipality, route.near)},
                                     T('Sök bland alla lediga tider', 'Search all free times')));
            } else {
                empty.textContent = T('Ingen mottagning' + where + ' har webbokning.',
                                      'No clinic' + where + ' has web booking.');
            }
        }

        var noneList = $('clinic-list-none');
        SF.clear(noneList);
        none.forEach(function (c) {
            noneList.appendChild(noneCard(c));
        });
        $('section-none').hidden = none.length === 0;

        /* Kommun and Nära mig together show only that municipality: say so. */
        var note = $('filter-note');
        if (route.municipality && place) {
            if (!note) {
                note = el('p', {'class': 'note', id: 'filter-note'});
                $('near-error').parentNode.insertBefore(note, $('near-error').nextSibling);
            }
            note.textContent = T('Du har valt både kommun och plats: bara mottagningar i ' + route.municipality +
                                 ' visas. Välj Alla kommuner för att se alla mottagningar nära ' + place + '.',
                                 'You chose both a municipality and a place: only clinics in ' + route.municipality +
                                 ' are shown. Choose All municipalities to see every clinic near ' + place + '.');
        } else if (note) {
            note.parentNode.removeChild(note);
        }
        var langLink = $('lang-link');
        if (langLink) {
            var lq = (route.mode === 'guarantee' ? '&vy=inom-3-dagar' : '') +
                     (route.municipality ? '&kommun=' + encodeURIComponent(route.municipality) : '') +
                     (route.near ? '&nara=' + encodeURIComponent(route.near) : '') +
                     (SF.en ? '' : '&lang=en');
            langLink.setAttribute('href', lq ? '/?' + lq.slice(1) : '/');
        }

        /* The live region: count, place and order (the server's words). */
        var n = web.length;
        var order = place ? T(', sorterat efter avstånd från ', ', sorted by distance from ') + place
                  : route.mode === 'guarantee' ? T(', den tidigaste tiden först', ', earliest time first')
                  : T(', i bokstavsordning', ', in alphabetical order');
        setStatus((route.mode === 'guarantee'
            ? n + (n === 1 ? T(' mottagning har en ledig tid inom ', ' clinic has a free time within ')
                           : T(' mottagningar har en ledig tid inom ', ' clinics have a free time within ')) +
              span + where
            : T('Visar ', 'Showing ') + n +
              (n === 1 ? T(' mottagning med webbokning', ' clinic with web booking')
                       : T(' mottagningar med webbokning', ' clinics with web booking')) + where +
              (none.length ? T(' och ' + none.length + ' utan', ' and ' + none.length + ' without') : '')) +
            order + '.');
    }

    /* ---------------------------------------------------------------- */
    /* Day view                                                         */

    function slotsByDate(days) {
        var m = {};
        (days || []).forEach(function (d) {
            if (d && d.date && Array.isArray(d.slots) && d.slots.length)
                m[d.date] = d.slots;
        });
        return m;
    }

    function monthOf(dateStr) {
        var p = SF.parseDate(dateStr);
        return p ? {y: p.y, m: p.m} : null;
    }

    function monthKey(mo) {
        return mo.y * 12 + mo.m;
    }

    function calendar(doc, shown, selected, free, minMo, maxMo) {
        var box = el('section', {'class': 'calendar', 'aria-labelledby': 'cal-title'});
        var nav = el('div', {'class': 'cal-nav'});
        var prev = SF.addMonths(shown.y, shown.m, -1);
        var next = SF.addMonths(shown.y, shown.m, 1);

        function navLink(mo, label, cls, sym, enabled) {
            var content = [el('span', {'aria-hidden': 'true'}, sym),
                           el('span', {'class': 'visually-hidden'}, label + ': ' + SF.monthName(mo.y, mo.m))];
            if (!enabled)
                return el('span', {'class': 'cal-step ' + cls, 'aria-disabled': 'true'}, content);
            return el('a', {'class': 'cal-step ' + cls, href: clinicHash(doc.id, SF.isoMonth(mo.y, mo.m)),
                            'data-focus': 'nav:' + cls}, content);
        }

        nav.appendChild(navLink(prev, T('Föregående månad', 'Previous month'), 'cal-prev', '‹', monthKey(prev) >= monthKey(minMo)));
        nav.appendChild(el('h3', {id: 'cal-title', 'class': 'cal-title', tabindex: '-1'},
                           SF.monthName(shown.y, shown.m)));
        nav.appendChild(navLink(next, T('Nästa månad', 'Next month'), 'cal-next', '›', monthKey(next) <= monthKey(maxMo)));
        box.appendChild(nav);

        var table = el('table', {'class': 'cal-grid'});
        table.appendChild(el('caption', {'class': 'visually-hidden'},
                             T('Dagar med lediga tider i ', 'Days with free times in ') + SF.monthName(shown.y, shown.m) +
                             T('. Dagar med lediga tider är länkar. Piltangenterna flyttar mellan dagarna.',
                               '. Days with free times are links. The arrow keys move between the days.')));
        var hr = el('tr');
        SF.WEEKDAYS.forEach(function (w, i) {
            hr.appendChild(el('th', {scope: 'col', abbr: w}, SF.WEEKDAYS_SHORT[i]));
        });
        table.appendChild(el('thead', null, hr));
        var tbody = el('tbody');
        var first = SF.weekday(shown.y, shown.m, 1);
        var n = SF.daysInMonth(shown.y, shown.m);
        var today = doc.guarantee ? doc.guarantee.contact_day : '';
        var row = el('tr');
        var i, d, cell, iso, nSlots;
        for (i = 0; i < first; i++)
            row.appendChild(el('td', {'class': 'cal-empty'}));
        /* One day is in the tab order (roving tabindex): the selected
         * one, else the first with free times, else day 1; the arrow
         * keys move between days (onCalendarKey). */
        var roving = selected && SF.parseDate(selected) && monthOf(selected).m === shown.m &&
                     monthOf(selected).y === shown.y ? selected : null;
        for (d = 1; d <= n && !roving; d++)
            if (free[SF.isoDate(shown.y, shown.m, d)])
                roving = SF.isoDate(shown.y, shown.m, d);
        roving = roving || SF.isoDate(shown.y, shown.m, 1);
        for (d = 1; d <= n; d++) {
            iso = SF.isoDate(shown.y, shown.m, d);
            nSlots = free[iso] ? free[iso].length : 0;
            var cls = 'cal-day' + (iso === today ? ' cal-today' : '') +
                      (iso < today ? ' cal-past' : '');
            /* Today is marked as today; the chosen day by its class
             * and, for a reader, the slot list's heading. */
            var current = iso === today ? 'date' : null;
            var tab = iso === roving ? '0' : '-1';
            if (nSlots) {
                cell = el('td', {'class': cls + ' cal-free' + (iso === selected ? ' cal-selected' : '')},
                          el('a', {href: clinicHash(doc.id, iso), 'data-date': iso,
                                   'data-focus': 'day:' + iso, tabindex: tab,
                                   'aria-current': current,
                                   'aria-label': SF.weekdayDate(iso) + ', ' + nSlots +
                                                 (nSlots === 1 ? T(' ledig tid', ' free time')
                                                               : T(' lediga tider', ' free times'))},
                             String(d)));
            } else {
                /* A plain day: no aria-label on a span (axe
                 * aria-prohibited-attr); the column header names it. */
                cell = el('td', {'class': cls + (iso === selected ? ' cal-selected' : '')},
                          el('span', {'data-date': iso, 'data-focus': 'day:' + iso, tabindex: tab,
                                      'aria-current': current}, String(d)));
            }
            row.appendChild(cell);
            if ((first + d) % 7 === 0) {
                tbody.appendChild(row);
                row = el('tr');
            }
        }
        if (row.childNodes.length) {
            while (row.childNodes.length < 7)
                row.appendChild(el('td', {'class': 'cal-empty'}));
            tbody.appendChild(row);
        }
        table.appendChild(tbody);
        table.addEventListener('keydown', onCalendarKey);
        box.appendChild(table);
        box.appendChild(el('p', {'class': 'cal-legend'},
                           [el('span', {'class': 'legend-free', 'aria-hidden': 'true'}),
                            T(' Dag med lediga tider', ' Day with free times')]));
        return box;
    }

    /* "10:00–10:30" of a slot (the feed's local instants). */
    function slotTime(s) {
        var end = SF.localTime(s.end);
        return (s.time || SF.localTime(s.start)) + (end ? '–' + end : '');
    }

    function slotList(doc, date, slots) {
        var box = el('section', {'class': 'slots', 'aria-labelledby': 'slots-title'});
        box.appendChild(el('h3', {id: 'slots-title', tabindex: '-1'},
                           T('Lediga tider den ', 'Free times on ') + SF.longDate(date)));
        var url = SF.safeUrl(doc.booking_url);
        var ul = el('ul', {'class': 'slot-list', id: 'slot-list'});
        slots.forEach(function (s) {
            var text = slotTime(s) + (s.practitioner ? ', ' + s.practitioner : '');
            /* The slot's own deep link when the booking system gives one. */
            var slotUrl = SF.safeUrl(s.booking_url) || url;
            var kind = s.service ? el('span', {'class': 'slot-service'}, s.service) : null;
            var item = slotUrl
                ? el('a', {href: slotUrl, 'class': 'slot', target: '_blank',
                           rel: 'noopener noreferrer', 'aria-describedby': 'slot-note',
                           'data-focus': 'slot:' + s.start + ':' + (s.practitioner || ''),
                           'data-start': s.start}, [el('span', {'class': 'slot-time'}, text), kind])
                : el('span', {'class': 'slot slot-nolink', 'data-start': s.start},
                     [el('span', {'class': 'slot-time'}, text), kind]);
            ul.appendChild(el('li', null, item));
        });
        box.appendChild(ul);
        box.appendChild(el('p', {'class': 'hint', id: 'slot-note'},
                           url ? T('Tiden bokar du hos mottagningen. Länken öppnar deras tidbokning i en ny flik.',
                                   'You book the time with the clinic. The link opens their booking in a new tab.')
                               : T('Mottagningen har ingen bokningslänk. Ring för att boka.',
                                   'The clinic has no booking link. Call to book.')));
        return box;
    }

    /* Arrow keys in the calendar: move focus a day (left/right), a week
     * (up/down), to the week's ends (Home/End), within the month. */
    function onCalendarKey(e) {
        var steps = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7};
        var t = e.target;
        var from = t && t.getAttribute && t.getAttribute('data-date');
        var p = from && SF.parseDate(from);
        var to;
        if (!p)
            return;
        if (steps[e.key] !== undefined)
            to = p.d + steps[e.key];
        else if (e.key === 'Home')
            to = p.d - SF.weekday(p.y, p.m, p.d);
        else if (e.key === 'End')
            to = p.d + 6 - SF.weekday(p.y, p.m, p.d);
        else
            return;
        e.preventDefault();
        to = Math.max(1, Math.min(SF.daysInMonth(p.y, p.m), to));
        var next = document.querySelector('.cal-grid [data-date="' + SF.isoDate(p.y, p.m, to) + '"]');
        if (!next)
            return;
        t.setAttribute('tabindex', '-1');
        next.setAttribute('tabindex', '0');
        next.focus();
    }

    function renderDay(route) {
        var view = $('day-view');
        var d = state.detail[route.id];
        var back = el('p', {'class': 'back'},
                      el('a', {href: state.lastListHash, 'data-focus': 'back'},
                         [el('span', {'aria-hidden': 'true'}, '← '), T('Tillbaka till mottagningarna', 'Back to the clinics')]));
        SF.clear(view);
        view.appendChild(back);
        if (!d || !d.doc) {
            view.appendChild(el('h2', {id: 'view-title', tabindex: '-1'}, T('Lediga tider', 'Free times')));
            view.appendChild(el('p', {'class': 'alert', role: 'alert'},
                                d ? d.error : T('Hämtar tider …', 'Fetching times …')));
            return;
        }
        var doc = d.doc;
        /* Lets a reader (or the browser test) tell which snapshot is shown. */
        view.setAttribute('data-generated-at', doc.generated_at || '');
        document.title = doc.name + T(' – lediga tider', ' – free times');
        view.appendChild(el('h2', {id: 'view-title', tabindex: '-1', 'class': 'clinic-title'}, doc.name));
        view.appendChild(cardMeta(doc));

        var book = doc.web_booking !== 'none' ? bookAction(doc) : null;
        if (book)
            view.appendChild(book);
        contactBlock(doc, doc.web_booking === 'none').forEach(function (n) {
            view.appendChild(n);
        });

        if (doc.web_booking === 'none') {
            view.appendChild(el('p', {'class': 'note'},
                                T('Mottagningen har ingen webbokning. Ring eller besök webbplatsen för att boka.',
                                  'The clinic has no web booking. Call or visit its website to book.')));
            return;
        }
        if (doc.status === 'stale' && doc.within_guarantee !== null)
            view.appendChild(staleNote(doc));
        if (doc.within_guarantee === null || !Array.isArray(doc.days)) {
            view.appendChild(el('p', {'class': 'no-data'},
                                T('Tidboken kunde inte nås just nu', 'The booking system could not be reached just now')));
            view.appendChild(el('p', null, T('Försök igen om en stund', 'Try again shortly') +
                                (doc.phone ? T(', eller ring mottagningen.', ', or call the clinic.') : '.')));
            return;
        }
        if (doc.within_guarantee === true)
            view.appendChild(el('p', {'class': 'badge badge-ok'}, T('Ledig tid inom ', 'Free time within ') + guaranteeSpan()));

        var free = slotsByDate(doc.days);
        var dates = Object.keys(free).sort();
        var contactDay = (doc.guarantee && doc.guarantee.contact_day) ||
                         (doc.generated_at || '').slice(0, 10);
        var minMo = monthOf(contactDay) || monthOf(dates[0]) || {y: 2000, m: 1};
        var lastMo = dates.length ? monthOf(dates[dates.length - 1]) : minMo;
        var maxMo = monthKey(lastMo) > monthKey(minMo) ? lastMo : SF.addMonths(minMo.y, minMo.m, 1);

        var selected = null;
        var shown;
        if (route.date) {
            selected = route.date;
            shown = monthOf(route.date);
        } else if (route.month) {
            shown = route.month;
            selected = dates.filter(function (x) {
                var mo = monthOf(x);
                return mo.y === shown.y && mo.m === shown.m;
            })[0] || null;
        } else {
            selected = dates[0] || null;
            shown = selected ? monthOf(selected) : minMo;
        }

        var layout = el('div', {'class': 'day-layout'});
        var side = el('div', {'class': 'day-slots'});
        layout.appendChild(calendar(doc, shown, selected, free, minMo, maxMo));
        layout.appendChild(side);
        view.appendChild(layout);

        var inMonth = dates.filter(function (x) {
            var mo = monthOf(x);
            return mo.y === shown.y && mo.m === shown.m;
        });
        var next = SF.addMonths(shown.y, shown.m, 1);
        var nextLink = el('a', {href: clinicHash(doc.id, SF.isoMonth(next.y, next.m)),
                                'data-focus': 'next-month'},
                          T('Visa lediga tider i ', 'Show free times in ') + SF.MONTHS[next.m - 1]);
        if (selected && free[selected]) {
            side.appendChild(slotList(doc, selected, free[selected]));
            if (inMonth[inMonth.length - 1] === selected)
                side.appendChild(el('p', {'class': 'last-day', id: 'last-day-hint'},
                                    [T('Just nu är det här sista dagen med lediga tider den här månaden. ',
                                       'Just now this is the last day with free times this month. '), nextLink]));
        } else if (selected) {
            var box = el('section', {'class': 'slots', 'aria-labelledby': 'slots-title'});
            box.appendChild(el('h3', {id: 'slots-title', tabindex: '-1'},
                               T('Lediga tider den ', 'Free times on ') + SF.longDate(selected)));
            box.appendChild(el('p', {'class': 'no-times'}, T('Just nu finns inga lediga tider den här dagen.',
                                                              'No free times on this day just now.')));
            side.appendChild(box);
        } else {
            var later = dates.filter(function (x) {
                return monthKey(monthOf(x)) > monthKey(shown);
            })[0];
            var none = el('section', {'class': 'slots', 'aria-labelledby': 'slots-title'});
            none.appendChild(el('h3', {id: 'slots-title', tabindex: '-1'},
                                T('Inga lediga tider i ', 'No free times in ') + SF.monthName(shown.y, shown.m)));
            if (later)
                none.appendChild(el('p', null,
                                    [T('Nästa lediga tid finns den ', 'The next free time is on ') + SF.longDate(later) + '. ',
                                     el('a', {href: clinicHash(doc.id, later)}, T('Visa den dagen', 'Show that day'))]));
            else
                none.appendChild(el('p', {'class': 'no-times'}, T('Just nu finns inga lediga tider', 'No free times just now')));
            side.appendChild(none);
        }
    }

    /* ---------------------------------------------------------------- */
    /* Rendering and focus                                              */

    function render(opts) {
        var route = state.route;
        var err = $('load-error');
        var focusKey = opts && opts.keepFocus && document.activeElement
            ? document.activeElement.getAttribute('data-focus') : null;

        err.hidden = !state.feedError;
        err.textContent = state.feedError || '';
        renderFreshness();

        if (state.feed) {
            /* The script has taken over the server's page (tests and
             * styles may tell the two apart). */
            document.documentElement.setAttribute('data-script-rendered', state.feed.generated_at);
            $('region-name').textContent = state.feed.region || T('Vårdval fysioterapi', 'Physiotherapy');
            $('guarantee-days').textContent = guaranteeSpan().replace(/ .*/, '');
            $('entry-guarantee').querySelector('.entry-title').lastChild.textContent =
                ' ' + guaranteeSpan().replace(/^\S+ /, '');
            $('guarantee-note').textContent =
                T('Vårdgarantin innebär att du ska få en bedömning inom ',
                  'The care guarantee (vårdgarantin) means that you are to be assessed within ') +
                guaranteeSpan() + T(' från att du kontaktat vården.', ' of contacting the care provider.');
        }

        var isList = route.view === 'list';
        $('list-view').hidden = !isList;
        $('day-view').hidden = isList;
        document.querySelector('.entries').hidden = !isList;
        $('entry-guarantee').setAttribute('aria-current',
            isList && route.mode === 'guarantee' ? 'page' : 'false');
        $('entry-all').setAttribute('aria-current',
            isList && route.mode === 'all' ? 'page' : 'false');

        if (isList) {
            document.title = (route.mode === 'guarantee'
                ? T('Boka tid till fysioterapeut inom ', 'Book a physiotherapist within ') + guaranteeSpan()
                : T('Sök lediga tider hos fysioterapeut', 'Find free physiotherapy appointments'));
            if (state.feed)
                renderList(route);
        } else {
            renderDay(route);
        }

        if (focusKey) {
            var f = document.querySelector('[data-focus="' + focusKey.replace(/["\\]/g, '') + '"]');
            if (f)
                f.focus();
        }
    }

    function focusFor(prev, route) {
        var t;
        if (route.view === 'day' && prev && prev.view === 'day' && prev.id === route.id) {
            /* Same clinic: a day or month changed; keep the eye near it. */
            t = route.date ? $('slots-title') : $('cal-title');
        } else if (route.view === 'day') {
            t = $('view-title');
            window.scrollTo(0, 0);
        } else if (prev && prev.view === 'day') {
            window.scrollTo(0, state.listScroll);
            t = prev.id ? document.querySelector('[data-focus="card:' + prev.id.replace(/["\\]/g, '') + '"]') : null;
            t = t || $('page-title');
        }
        if (t)
            t.focus({preventScroll: route.view === 'list'});
    }

    function onRoute() {
        var prev = state.route;
        var route = parseRoute(location.hash);
        if (prev && prev.view === 'list' && route.view === 'day')
            state.listScroll = window.scrollY;
        if (route.view === 'list')
            state.lastListHash = location.hash && location.hash !== '#/' ? location.hash : '#/alla';
        state.route = route;
        render();
        ensureData(route, false).then(function () {
            if (state.route === route) {
                render();
                if (prev)
                    focusFor(prev, route);
            }
        });
        if (prev && route.view === 'day')
            focusFor(prev, route);
    }

    function refresh() {
        var route = state.route;
        return ensureData(route, true).then(function () {
            if (state.route === route)
                render({keepFocus: true});
        });
    }

    /* ---------------------------------------------------------------- */
    /* Events                                                           */

    function currentMode() {
        return state.route && state.route.view === 'list' ? state.route.mode : 'all';
    }

    function init() {
        /* The server already put this text in the live region. */
        state.lastStatusText = $('result-status').textContent;
        $('filters').addEventListener('submit', function (e) {
            e.preventDefault();
            location.hash = listHash(currentMode(), $('municipality').value, $('near').value.trim());
        });
        $('municipality').addEventListener('change', function () {
            /* Filtering in place; replace so that Back leaves the page state sane. */
            var h = listHash(currentMode(), $('municipality').value,
                             state.route && state.route.near || '');
            history.replaceState(null, '', h);
            onRoute();
        });
        $('clear-filters').addEventListener('click', function (e) {
            e.preventDefault();
            $('near').value = '';
            $('municipality').value = '';
            location.hash = listHash(currentMode(), '', '');
        });
        /* Keep filters when switching entry. */
        ['entry-guarantee', 'entry-all'].forEach(function (id) {
            $(id).addEventListener('click', function (e) {
                var r = state.route && state.route.view === 'list' ? state.route : {};
                e.preventDefault();
                location.hash = listHash(id === 'entry-guarantee' ? 'guarantee' : 'all',
                                         r.municipality || '', r.near || '');
            });
        });
        window.addEventListener('hashchange', onRoute);
        onRoute();
        setInterval(refresh, REFRESH_MS);
        setInterval(renderFreshness, AGE_TICK_MS);
        document.addEventListener('visibilitychange', function () {
            if (!document.hidden && state.feed &&
                Date.now() - Date.parse(state.feed.generated_at) > REFRESH_MS)
                refresh();
        });
    }

    if (document.readyState === 'loading')
        document.addEventListener('DOMContentLoaded', init);
    else
        init();
}());
