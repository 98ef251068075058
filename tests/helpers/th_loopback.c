/* th_loopback.c - see th_loopback.h. */
#include "th_loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

static int th_lo_socket(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

struct evhttp *th_lo_http(struct event_base *base,
                          void (*cb)(struct evhttp_request *, void *),
                          void *arg, int *port)
{
    struct evhttp *http = evhttp_new(base);
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd, one = 1;

    if (http == NULL)
        return NULL;
    bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (bs == NULL) {
        evhttp_free(http);
        return NULL;
    }
    fd = evhttp_bound_socket_get_fd(bs);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        evhttp_free(http);
        return NULL;
    }
    *port = ntohs(sa.sin_port);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, cb, arg);
    return http;
}

int th_lo_refused_port(void)
{
    int port = -1;
    int fd = th_lo_socket(&port);

    /* bound but never listened on, then closed: connect() is refused */
    if (fd >= 0)
        close(fd);
    return port;
}

int th_lo_black_hole(int *port)
{
    int fd = th_lo_socket(port);

    if (fd >= 0 && listen(fd, 64) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

char *th_lo_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *s = malloc(n + 1);

    if (s == NULL)
        return NULL;
    evbuffer_copyout(in, s, n);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

static void th_lo_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

int th_lo_run_until(struct event_base *base, const int *flag, long ms)
{
    struct timeval step = { 0, 10000 };
    struct timeval start, now;
    struct event *tick = event_new(base, -1, EV_PERSIST, th_lo_tick, base);

    if (tick == NULL)
        return *flag;
    event_add(tick, &step);
    evutil_gettimeofday(&start, NULL);
    while (*flag == 0) {
        long el;

        event_base_loop(base, EVLOOP_ONCE);
        evutil_gettimeofday(&now, NULL);
        el = (now.tv_sec - start.tv_sec) * 1000 +
             (now.tv_usec - start.tv_usec) / 1000;
        if (el >= ms)
            break;
    }
    event_free(tick);
    return *flag;
}
