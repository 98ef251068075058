/*
 * conf.h - the region configuration (JSON) and its validation.
 *
 * conf_load()/conf_parse() read a region file with cJSON, validate every
 * field, and either return a fully owned struct conf_region or the list of
 * every problem found, each prefixed with its JSON path
 * ("$.clinics[3].id: not a valid HSA-id ..."). Its owner may still change
 * a region before handing it on -- history_generate points the booking
 * URLs at its simulator and caps the horizon and politeness; app_reload
 * writes the running start-up-only keys (listen, store, fetch and http
 * limits) back into a new region -- but once given to app_new,
 * app_reload or collector_new it is read-only: the modules borrow
 * pointers into it. A region given to app_new stays its caller's to free
 * after app_free; one given to app_reload becomes the app's on success,
 * freed when the last borrower let go (app.h).
 *
 * Top-level keys: name, timezone ("Europe/Stockholm"), guarantee {days,
 * counting}, horizon_days, poll_interval_s, publish_interval_s, fetch {connect_timeout_ms,
 * timeout_ms, max_body_bytes, user_agent, max_decompress_ratio},
 * http {request_timeout_ms, max_connections, public_base_url,
 * admin_listen, max_age_s}, riv {subject_of_care,
 * actor_type}, listen, store, retention_days, geo, politeness {rate_per_s, burst,
 * max_concurrent_per_host, backoff_base_s, backoff_max_s,
 * breaker_failures, breaker_cooldown_s, hosts {"host[:port]": {same}}},
 * plausibility {min_clinics, fraction, confirm_polls}, clinics[]. Per clinic: id (HSA-id), name,
 * municipality, locality, operator ("private"|"region"), phone, website,
 * booking {adapter, url, booking_url, time_type_id, time_type_name,
 * actor, location, token_file, search, page_cap, time_types,
 * discover_time_types, endpoints, tls} (absent = no web
 * booking), sim {profile} (read by the simulator only).
 * docs/config.md documents each key.
 */
#ifndef SLOTFEED_CONF_H
#define SLOTFEED_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "slotfeed/availability.h"

#define CONF_HSA_ID_MAX 31

/* rivta-scheduling: one local time type of the clinic (booking.time_types). */
struct conf_time_type {
    char *id;              /* the producer's local timeTypeID */
    char *service;         /* published service name, e.g. "Nybesök ..." */
    bool new_visit;        /* counts for first_free and the guarantee */
};

/* rivta-scheduling: override of one contract's endpoint (booking.endpoints). */
struct conf_endpoint {
    char *contract;        /* "GetAvailableDates", "GetAvailableTimeslots",
                              "GetAllTimeTypes" */
    char *url;             /* full endpoint URL, or NULL (default) */
    char *soap_action;     /* SOAPAction value (unquoted), or NULL */
};

struct conf_booking {
    char *adapter;         /* "rivta-scheduling", ... (adapter_find name) */
    char *url;             /* adapter endpoint base */
    char *booking_url;     /* patient-facing booking page, or NULL */
    char *time_type_id;    /* RIV timeTypeID to ask for, or NULL */
    char *time_type_name;  /* published service name, or NULL */
    /* fhir-slot: reference whose slots count ("Location/123"); required. */
    char *actor;
    /* smart-bulk: the publisher's Location.id of this clinic; required. */
    char *location;
    /* fhir-slot: file holding a bearer token, or NULL (no Authorization). */
    char *token_file;
    /* fhir-slot: extra search parameters "a=b&c=d" appended verbatim. */
    char *search;
    /* fhir-slot: most result pages read per poll (default 20). */
    int page_cap;
    /* rivta-scheduling: local time type -> published service, in file
     * order; none (n 0) = no mapping (time_type_id / every type). */
    struct conf_time_type *time_types;
    size_t ntime_types;
    /* rivta-scheduling: ask GetAllTimeTypes first even with one mapping. */
    bool discover_time_types;
    /* rivta-scheduling: per-contract endpoint overrides. */
    struct conf_endpoint *endpoints;
    size_t nendpoints;
    /* rivta-scheduling: mutual TLS files (PEM), each NULL when absent;
     * checked readable when the config is loaded. */
    char *tls_cert;
    char *tls_key;
    char *tls_ca;
};

struct conf_clinic {
    char *id;              /* HSA-id, normalised to upper case */
    char *name;
    char *municipality;
    char *locality;        /* may be NULL */
    char *operator_kind;   /* "private" or "region" */
    char *phone;           /* may be NULL */
    char *website;         /* may be NULL */
    bool has_booking;      /* false: no web booking */
    struct conf_booking booking;  /* valid when has_booking */
    char *sim_profile;     /* simulator behaviour, or NULL ("normal") */
};

/*
 * Politeness towards one upstream host (sched.h applies it). Zero fields
 * in a region built by hand mean "the default" (CONF_DEFAULT_POLITE_*).
 */
struct conf_politeness {
    double rate_per_s;          /* requests per second per host */
    int burst;                  /* token bucket size */
    int max_concurrent_per_host;
    int backoff_base_s;         /* full-jitter backoff after failures */
    int backoff_max_s;
    int breaker_failures;       /* consecutive failures opening it */
    int breaker_cooldown_s;     /* open this long before one probe */
};

/*
 * plausibility: when an empty answer is held back as a likely platform
 * fault (plaus.h). Zero fields in a region built by hand mean the
 * default (CONF_DEFAULT_PLAUS_*). Read at each decision: a reload
 * applies at once.
 */
struct conf_plausibility {
    int min_clinics;            /* fewest clinics of a host emptying */
    double fraction;            /* share of the host's clinics with slots */
    int confirm_polls;          /* empty answers in a row then accepted */
};

/* politeness.hosts: "host:port" or "host" (any port), lowercase; every
 * key not given in the file is inherited from the top-level values. */
struct conf_host_politeness {
    char *host;
    struct conf_politeness p;
};

struct conf_region {
    char *name;
    char *timezone;             /* always "Europe/Stockholm" today */
    struct avail_rule guarantee;
    int horizon_days;           /* default 28 */
    int poll_interval_s;        /* default 60 */
    /* The public snapshot (and its ETags) changes at most this often;
     * 0 = at every change (feed.h feed_cadence). Follows a reload.
     * Default CONF_DEFAULT_PUBLISH_INTERVAL_S = the feed's max-age. */
    int publish_interval_s;
    int connect_timeout_ms;     /* default 3000 */
    int timeout_ms;             /* default 10000 */
    long max_body_bytes;        /* default 4 MiB */
    char *user_agent;           /* default "slotfeed/<version> (+contact)" */
    /* fetch.max_decompress_ratio: decoded:received cap past 1 MiB
     * (fetch.h); default CONF_DEFAULT_MAX_DECOMPRESS_RATIO. */
    long max_decompress_ratio;
    /* http {request_timeout_ms, max_connections}: the public server's
     * slow-client deadline and connection cap (http.h); defaults
     * CONF_DEFAULT_HTTP_REQUEST_TIMEOUT_MS, CONF_DEFAULT_HTTP_MAX_CONNECTIONS. */
    int http_request_timeout_ms;
    int http_max_connections;
    /* http.max_age_s: Cache-Control max-age of the feed, clinic and SMART
     * documents (http.h); default CONF_DEFAULT_HTTP_MAX_AGE_S. */
    int http_max_age_s;
    /*
     * http.public_base_url: the absolute http(s) URL the public reaches
     * the feed at ("https://feed.example.se/vardval", no credentials,
     * query or fragment; a trailing slash is dropped), from which the
     * $bulk-publish manifest builds its URLs. NULL = the listen address.
     * Never taken from a request (Host): that would let one request
     * poison shared caches. Follows a reload.
     */
    char *http_public_base_url;
    /*
     * http.admin_listen: HOST:PORT of a second listener for the operator
     * and the vardvalsenhet; when set, /metrics, /v1/reports/... and the
     * /overview page answer 404 on the public listener and are served
     * here (with everything else). NULL = one listener serves all (the
     * demo default). Restart-only.
     */
    char *http_admin_listen;
    char *riv_subject_of_care;  /* query identity; never logged */
    char *riv_actor_type;       /* default "subject_of_care" */
    char *listen;               /* default "127.0.0.1:8080" */
    struct conf_clinic *clinics;
    size_t nclinics;
    /* History store (store.h): SQLite file path, relative paths resolved
     * against the working directory; default CONF_DEFAULT_STORE. */
    char *store;
    int retention_days;         /* default 400 (CONF_DEFAULT_RETENTION_DAYS) */
    /* Place table for near= (geo.h). conf_load resolves it against the
     * configuration file's directory and, without the key, uses
     * CONF_DEFAULT_GEO there if it exists; NULL = none. */
    char *geo;
    struct conf_politeness politeness;          /* defaults filled */
    struct conf_plausibility plausibility;      /* defaults filled */
    struct conf_host_politeness *polite_hosts;  /* politeness.hosts */
    size_t npolite_hosts;
};

/* Every problem found, in file order. Strings owned by the list. */
struct conf_errors {
    char **v;
    size_t n;
};

void conf_errors_free(struct conf_errors *errs);

/*
 * Parse and validate region JSON. On success returns 0 and *out owns a new
 * region (free with conf_free). On any error returns -1, *out is NULL, and
 * errs holds at least one "PATH: message" line, PATH being the JSON path
 * ("$.clinics[3].id"); no file name is prefixed, callers print that.
 * errs must be zeroed first.
 */
int conf_parse(const char *text, size_t len, struct conf_region **out,
               struct conf_errors *errs);

/* conf_parse() of a file; unreadable files are reported in errs too. */
int conf_load(const char *path, struct conf_region **out,
              struct conf_errors *errs);

void conf_free(struct conf_region *r);

/* Index of the clinic with HSA-id id (compared case-insensitively), or
 * -1 when absent or r or id is NULL. */
long conf_clinic_index(const struct conf_region *r, const char *id);

/* ^SE[0-9]{10}-[A-Za-z0-9]+$ and at most 31 characters. */
bool conf_valid_hsa_id(const char *s);

/*
 * Limits and defaults (added by the conf module; docs/config.md lists them).
 * conf_load()/conf_parse() refuse input larger than CONF_FILE_MAX bytes;
 * after CONF_ERRORS_MAX problems one last line says the rest were skipped.
 */
#define CONF_FILE_MAX (16L * 1024 * 1024)
#define CONF_ERRORS_MAX 100
#define CONF_CLINICS_MAX 100000
#define CONF_DEFAULT_TIMEZONE "Europe/Stockholm"
#define CONF_DEFAULT_GUARANTEE_DAYS 3
#define CONF_DEFAULT_HORIZON_DAYS 28
#define CONF_DEFAULT_POLL_INTERVAL_S 60
#define CONF_DEFAULT_PUBLISH_INTERVAL_S 30
#define CONF_PUBLISH_INTERVAL_MAX_S 3600
#define CONF_DEFAULT_CONNECT_TIMEOUT_MS 3000
#define CONF_DEFAULT_TIMEOUT_MS 10000
#define CONF_DEFAULT_MAX_BODY_BYTES (4L * 1024 * 1024)
#define CONF_DEFAULT_MAX_DECOMPRESS_RATIO 100L
#define CONF_DEFAULT_HTTP_REQUEST_TIMEOUT_MS 10000
#define CONF_DEFAULT_HTTP_MAX_CONNECTIONS 1024
#define CONF_DEFAULT_HTTP_MAX_AGE_S 30
#define CONF_DEFAULT_ACTOR_TYPE "subject_of_care"
#define CONF_DEFAULT_LISTEN "127.0.0.1:8080"
/* Longest http.public_base_url (smartpub.h SMARTPUB_BASE_URL_MAX). */
#define CONF_PUBLIC_BASE_URL_MAX 1024
#define CONF_DEFAULT_GEO "geo-varmland.json"
#define CONF_DEFAULT_PAGE_CAP 20
#define CONF_PAGE_CAP_MAX 1000
/* Most entries of booking.time_types. */
#define CONF_TIME_TYPES_MAX 64
#define CONF_DEFAULT_POLITE_RATE_PER_S 1.0
#define CONF_DEFAULT_POLITE_BURST 2
#define CONF_DEFAULT_POLITE_MAX_CONCURRENT 2
#define CONF_DEFAULT_POLITE_BACKOFF_BASE_S 30
#define CONF_DEFAULT_POLITE_BACKOFF_MAX_S 1800
#define CONF_DEFAULT_POLITE_BREAKER_FAILURES 5
#define CONF_DEFAULT_POLITE_BREAKER_COOLDOWN_S 300
#define CONF_POLITE_HOSTS_MAX 1000
#define CONF_DEFAULT_PLAUS_MIN_CLINICS 5
#define CONF_DEFAULT_PLAUS_FRACTION 0.6
#define CONF_DEFAULT_PLAUS_CONFIRM_POLLS 3
#define CONF_DEFAULT_STORE "slotfeed.db"
#define CONF_DEFAULT_RETENTION_DAYS 400
#define CONF_RETENTION_DAYS_MAX 36500
/* Longest FHIR logical id (FHIR R4 id datatype: [A-Za-z0-9\-\.]{1,64}). */
#define CONF_FHIR_ID_MAX 64

#endif
