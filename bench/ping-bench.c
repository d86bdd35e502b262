/* Benchmark client: unary drover.v1.Admin/Ping over the unix socket through libdrover-client.
 * Prints calls/s and latency percentiles.
 *   ping-bench SOCKET CONCURRENCY CALLS          CONCURRENCY calls in flight on one connection
 *   ping-bench --conns SOCKET CONNECTIONS CALLS [--sync]
 *       CONNECTIONS connections (as many clients), each with one call in flight, driven by one
 *       epoll loop. Each connection's first call is a warm-up, not counted. With --sync, prints
 *       "connected" once every connection is warm and waits for a line on stdin before the timed
 *       calls, so that a caller can measure droverd over them alone. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/time-util.h"
#include "client/client.h"
#include "drover/v1/admin.pb-c.h"

struct slot {
    struct drover_call *call; /* in flight, or NULL */
    uint64_t start_ns;        /* when it was sent */
};

struct run {
    uint64_t *lat; /* latency of each completed call, ns */
    size_t done;   /* completed calls */
    size_t failed; /* calls that did not end OK */
};

static struct run run;

static void on_done(struct drover_call *call, const struct drover_status *st, void *userdata)
{
    struct slot *s = userdata;
    (void)call;
    run.lat[run.done++] = now_ns(CLOCK_MONOTONIC) - s->start_ns;
    if (st->code != 0)
        run.failed++;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void start(struct drover_client *c, struct slot *s)
{
    Drover__V1__PingRequest req = DROVER__V1__PING_REQUEST__INIT;

    s->start_ns = now_ns(CLOCK_MONOTONIC);
    s->call = drover_call_start(c, "/drover.v1.Admin/Ping", &drover__v1__ping_response__descriptor,
                                NULL, on_done, s, 0);
    if (!s->call) {
        fprintf(stderr, "ping-bench: cannot start a call\n");
        exit(1);
    }
    drover_call_send(s->call, &req.base);
    drover_call_close_send(s->call);
}

static void report(const char *what, size_t n, double secs)
{
    qsort(run.lat, run.done, sizeof *run.lat, cmp);
    printf("%s=%zu calls=%zu failed=%zu seconds=%.3f calls_per_s=%.0f p50_us=%.1f p99_us=%.1f\n",
           what, n, run.done, run.failed, secs, (double)run.done / secs,
           (double)run.lat[run.done / 2] / 1e3, (double)run.lat[run.done * 99 / 100] / 1e3);
}

/* One client: its own connection, with at most one call in flight. */
struct conn {
    struct drover_client *c; /* the connection */
    struct slot s;           /* its call */
    uint32_t events;         /* what epoll waits for on its fd */
};

/* Tells epoll what conn i waits for now (POLLOUT while output is queued); flushes its output. */
static int arm(int ep, struct conn *v, size_t i, bool add)
{
    struct pollfd pfd;
    if (drover_client_pollfd(v[i].c, &pfd) < 0)
        return -1;
    uint32_t want = (pfd.events & POLLOUT) ? EPOLLIN | EPOLLOUT : EPOLLIN;
    if (!add && want == v[i].events)
        return 0;
    struct epoll_event ev = {.events = want, .data.u64 = i};
    v[i].events = want;
    return epoll_ctl(ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, pfd.fd, &ev);
}

static int warm_up(struct drover_client *c)
{
    Drover__V1__PingRequest req = DROVER__V1__PING_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct drover_status st;

    if (drover_client_unary(c, "/drover.v1.Admin/Ping", &req.base,
                            &drover__v1__ping_response__descriptor, &resp, &st, 10000) < 0 ||
        st.code != 0)
        return -1;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

static int run_conns(const char *sock, size_t nconn, size_t total, bool sync)
{
    struct conn *v = calloc(nconn, sizeof *v);
    struct epoll_event evs[256];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    size_t started = 0;

    for (size_t i = 0; i < nconn; i++)
        if (drover_client_connect(sock, &v[i].c) < 0 || warm_up(v[i].c) < 0 ||
            arm(ep, v, i, true) < 0) {
            fprintf(stderr, "ping-bench: connection %zu failed\n", i + 1);
            return 1;
        }
    if (sync) {
        char line[64];
        printf("connected=%zu\n", nconn);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            return 1;
    }
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    for (size_t i = 0; i < nconn && started < total; i++, started++) {
        start(v[i].c, &v[i].s);
        arm(ep, v, i, false);
    }
    while (run.done < total) {
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n <= 0) {
            fprintf(stderr, "ping-bench: no answer in 10 s\n");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            size_t i = evs[k].data.u64;
            /* EPOLLIN, EPOLLOUT, EPOLLERR and EPOLLHUP have poll's values. */
            if (drover_client_ready(v[i].c, (short)evs[k].events) < 0) {
                fprintf(stderr, "ping-bench: connection %zu lost\n", i + 1);
                return 1;
            }
            if (v[i].s.call && drover_call_done(v[i].s.call)) {
                drover_call_free(v[i].s.call);
                v[i].s.call = NULL;
                if (started < total) {
                    start(v[i].c, &v[i].s);
                    started++;
                }
            }
            if (arm(ep, v, i, false) < 0)
                return 1;
        }
    }
    report("connections", nconn, (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
    for (size_t i = 0; i < nconn; i++)
        drover_client_free(v[i].c);
    free(v);
    close(ep);
    return run.failed != 0;
}

int main(int argc, char **argv)
{
    struct drover_client *c;

    if ((argc == 5 || (argc == 6 && !strcmp(argv[5], "--sync"))) && !strcmp(argv[1], "--conns")) {
        size_t nconn = strtoul(argv[3], NULL, 10), total = strtoul(argv[4], NULL, 10);
        if (nconn == 0 || total < nconn) {
            fprintf(stderr, "ping-bench: bad arguments\n");
            return 1;
        }
        run.lat = calloc(total, sizeof *run.lat);
        int r = run_conns(argv[2], nconn, total, argc == 6);
        free(run.lat);
        return r;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: ping-bench SOCKET CONCURRENCY CALLS\n"
                        "       ping-bench --conns SOCKET CONNECTIONS CALLS [--sync]\n");
        return 2;
    }
    size_t conc = strtoul(argv[2], NULL, 10), total = strtoul(argv[3], NULL, 10);
    if (conc == 0 || total < conc || drover_client_connect(argv[1], &c) < 0) {
        fprintf(stderr, "ping-bench: bad arguments or no droverd at %s\n", argv[1]);
        return 1;
    }
    run.lat = calloc(total, sizeof *run.lat);
    struct slot *slots = calloc(conc, sizeof *slots);
    size_t started = 0;
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    for (size_t i = 0; i < conc; i++, started++)
        start(c, &slots[i]);
    while (run.done < total) {
        if (drover_client_poll(c, 1000) < 0) {
            fprintf(stderr, "ping-bench: connection lost\n");
            return 1;
        }
        for (size_t i = 0; i < conc; i++)
            if (slots[i].call && drover_call_done(slots[i].call)) {
                drover_call_free(slots[i].call);
                slots[i].call = NULL;
                if (started < total) {
                    start(c, &slots[i]);
                    started++;
                }
            }
    }
    report("streams", conc, (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
    drover_client_free(c);
    free(slots);
    free(run.lat);
    return run.failed != 0;
}
