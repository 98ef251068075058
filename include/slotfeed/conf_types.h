/*
 * conf_types.h - the region configuration as every module reads it: the
 * region, its clinics and their booking blocks (conf.h parses, validates
 * and frees them; docs/config.md documents each key).
 *
 * Kept apart from conf.h so that the adapters, which read a clinic's
 * booking block, do not depend on the config parser, which calls the
 * adapters' own key checks (adapter.h conf_keys): the types are below
 * both.
 */
#ifndef SLOTFEED_CONF_TYPES_H
#define SLOTFEED_CONF_TYPES_H

#include <stdbool.h>
#include <stddef.h>

#include "slotfeed/availability.h"

#define CONF_HSA_ID_MAX 31

/* rivta-scheduling: one local time type of the clinic (booking.time_types). */
struct conf_time_type {
    char *id;       /* the producer's local timeTypeID */
    char *service;  /* published service name, e.g. "Nybesök ..." */
    bool new_visit; /* counts for first_free and the guarantee */
};

/* rivta-scheduling: override of one contract's endpoint (booking.endpoints). */
struct conf_endpoint {
    char *contract;    /* "GetAvailableDates", "GetAvailableTimeslots",
                              "GetAllTimeTypes" */
    char *url;         /* full endpoint URL, or NULL (default) */
    char *soap_action; /* SOAPAction value (unquoted), or NULL */
};

struct conf_booking {
    char *adapter;        /* "rivta-scheduling", ... (adapter_find name) */
    char *url;            /* adapter endpoint base */
    char *booking_url;    /* patient-facing booking page, or NULL */
    char *time_type_id;   /* RIV timeTypeID to ask for, or NULL */
    char *time_type_name; /* published service name, or NULL */
    /* fhir-slot: reference whose slots count ("Location/123"); required. */
    char *actor;
    /* smart-bulk: the publisher's Location.id of this clinic; required. */
    char *location;
    /* fhir-slot: file holding a bearer token, or NULL (no Authorization). */
    char *token_file;
    /* fhir-slot: that file's token, read by conf_load (never by
     * conf_parse) so that polls do no file I/O; a changed file takes
     * effect at the next reload. NULL without token_file. A secret:
     * never logged or quoted, zeroed when freed. */
    char *token;
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
    char *id; /* HSA-id, normalised to upper case */
    char *name;
    char *municipality;
    char *locality;              /* may be NULL */
    char *operator_kind;         /* "private" or "region" */
    char *phone;                 /* may be NULL */
    char *website;               /* may be NULL */
    char *address;               /* street address, "Street 1, 123 45 Town"
                            * by convention; free text; may be NULL */
    bool has_booking;            /* false: no web booking */
    struct conf_booking booking; /* valid when has_booking */
    char *sim_profile;           /* simulator behaviour, or NULL ("normal") */
};

/*
 * Politeness towards one upstream host (sched.h applies it). Zero fields
 * in a region built by hand mean "the default" (CONF_DEFAULT_POLITE_*).
 */
struct conf_politeness {
    double rate_per_s; /* requests per second per host */
    int burst;         /* token bucket size */
    int max_concurrent_per_host;
    int backoff_base_s; /* full-jitter backoff after failures */
    int backoff_max_s;
    int breaker_failures;   /* consecutive failures opening it */
    int breaker_cooldown_s; /* open this long before one probe */
};

/*
 * plausibility: when an empty answer is held back as a likely platform
 * fault (plaus.h). Zero fields in a region built by hand mean the
 * default (CONF_DEFAULT_PLAUS_*). Read at each decision: a reload
 * applies at once.
 */
struct conf_plausibility {
    int min_clinics;   /* fewest clinics of a host emptying */
    double fraction;   /* share of the host's clinics with slots */
    int confirm_polls; /* empty answers in a row then accepted */
};

/* politeness.hosts: "host:port" or "host" (any port), lowercase; every
 * key not given in the file is inherited from the top-level values. */
struct conf_host_politeness {
    char *host;
    struct conf_politeness p;
};

struct conf_region {
    char *name;
    char *timezone; /* always "Europe/Stockholm" today */
    struct avail_rule guarantee;
    int horizon_days;    /* default 28 */
    int poll_interval_s; /* default 60 */
    /* The public snapshot (and its ETags) changes at most this often;
     * 0 = at every change (feed.h feed_cadence). Follows a reload.
     * Default CONF_DEFAULT_PUBLISH_INTERVAL_S = the feed's max-age. */
    int publish_interval_s;
    int connect_timeout_ms; /* default 3000 */
    int timeout_ms;         /* default 10000 */
    long max_body_bytes;    /* default 4 MiB */
    char *user_agent;       /* default "slotfeed/<version> (+contact)" */
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
    char *riv_subject_of_care; /* query identity; never logged */
    char *riv_actor_type;      /* default "subject_of_care" */
    char *listen;              /* default "127.0.0.1:8080" */
    struct conf_clinic *clinics;
    size_t nclinics;
    /* History store (store.h): SQLite file path, relative paths resolved
     * against the working directory; default CONF_DEFAULT_STORE. */
    char *store;
    int retention_days; /* default 400 (CONF_DEFAULT_RETENTION_DAYS) */
    /* Place table for near= (geo.h). conf_load resolves it against the
     * configuration file's directory and, without the key, uses
     * CONF_DEFAULT_GEO there if it exists; NULL = none. */
    char *geo;
    struct conf_politeness politeness;         /* defaults filled */
    struct conf_plausibility plausibility;     /* defaults filled */
    struct conf_host_politeness *polite_hosts; /* politeness.hosts */
    size_t npolite_hosts;
};

/* Limits of booking values (the adapters check them, conf.h lists the
 * rest). */
#define CONF_DEFAULT_PAGE_CAP 20
#define CONF_PAGE_CAP_MAX 1000
/* Longest FHIR logical id (FHIR R4 id datatype: [A-Za-z0-9\-\.]{1,64}). */
#define CONF_FHIR_ID_MAX 64
/* Most entries of booking.time_types. */
#define CONF_TIME_TYPES_MAX 64

#endif
