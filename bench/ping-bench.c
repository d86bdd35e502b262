/* Benchmark client: unary drover.v1.Admin/Ping over the unix socket with N calls in flight on
 * one connection, through libdrover-client. Prints calls/s and latency percentiles.
 * Usage: ping-bench SOCKET CONCURRENCY CALLS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    struct drover_client *c;

    if (argc != 4) {
        fprintf(stderr, "usage: ping-bench SOCKET CONCURRENCY CALLS\n");
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
    double secs = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    qsort(run.lat, run.done, sizeof *run.lat, cmp);
    printf("streams=%zu calls=%zu failed=%zu seconds=%.3f calls_per_s=%.0f p50_us=%.1f "
           "p99_us=%.1f\n",
           conc, run.done, run.failed, secs, (double)run.done / secs,
           (double)run.lat[run.done / 2] / 1e3, (double)run.lat[run.done * 99 / 100] / 1e3);
    drover_client_free(c);
    free(slots);
    free(run.lat);
    return run.failed != 0;
}
