/*
 * url.c - see url.h. One parse with libcurl's URL API and a few rules
 * libcurl leaves open (it accepts port 0, any scheme, long hosts).
 */
#include "slotfeed/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

int url_check(const char *url, unsigned flags, char *why, size_t whysz)
{
    CURLU *u = NULL;
    CURLUcode uc;
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL;
    char dummy[8];
    int rc = -1;

    if (why == NULL || whysz == 0) {
        why = dummy;
        whysz = sizeof(dummy);
    }
    why[0] = '\0';
    if (url == NULL || url[0] == '\0') {
        snprintf(why, whysz, "empty URL");
        return -1;
    }
    u = curl_url();
    if (u == NULL) {
        snprintf(why, whysz, "out of memory");
        return -1;
    }
    uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        /* curl's texts name the part ("Port number was not a decimal
         * number between 0 and 65535", "Bad IPv6 address"). */
        snprintf(why, whysz, "not a valid URL (%s)", curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        /* curl allows only [A-Za-z0-9+.-] in a scheme: safe to show. */
        snprintf(why, whysz, "scheme \"%.16s\" is not http or https",
                 scheme ? scheme : "");
        goto out;
    }
    uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (uc != CURLUE_OK || host == NULL || host[0] == '\0') {
        snprintf(why, whysz, "no host");
        goto out;
    }
    if (strlen(host) > URL_HOST_MAX) {
        snprintf(why, whysz, "host longer than %d characters", URL_HOST_MAX);
        goto out;
    }
    /* No port given is fine (the scheme's default); CURLUE_NO_PORT. */
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK &&
        port != NULL) {
        char *end = NULL;
        long n = strtol(port, &end, 10);

        if (end == port || *end != '\0' || n < 1 || n > 65535) {
            snprintf(why, whysz, "port %.8s is not in 1..65535", port);
            goto out;
        }
    }
    if ((flags & URL_NO_USERINFO) != 0 &&
        (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
         curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)) {
        snprintf(why, whysz,
                 "has a user name or password (user:pass@): "
                 "credentials do not belong in a URL");
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    return rc;
}
