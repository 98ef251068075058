/*
 * conf.h - the region configuration (JSON) and its validation.
 *
 * The region's types are in conf_types.h (the adapters read them without
 * depending on this parser, which calls the adapters' own key checks).
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
 * municipality, locality, operator ("private"|"region"), phone, website, address,
 * booking {adapter, url, booking_url, time_type_id, time_type_name,
 * actor, location, token_file, search, page_cap, time_types,
 * discover_time_types, endpoints, tls} (absent = no web
 * booking; the keys after time_type_name are each one adapter's, checked
 * by it: adapter.h conf_keys), sim {profile} (read by the simulator only).
 * docs/config.md documents each key.
 */
#ifndef SLOTFEED_CONF_H
#define SLOTFEED_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "slotfeed/conf_types.h"
#include "slotfeed/confcheck.h"

/* struct conf_errors (confcheck.h): every problem found, in file order.
 * Frees the lines and empties the list. NULL ok. */
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

/*
 * conf_parse() of a file; unreadable files are reported in errs too.
 * Then, on a clean parse, each adapter reads what its bookings name and
 * polls need (adapter.h conf_load: fhir-slot's bearer token), reported
 * by JSON path like any other problem; conf_parse() reads none of it.
 */
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
#define CONF_ERRORS_MAX CONFCHECK_ERRORS_MAX
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

#endif
