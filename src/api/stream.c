/* Periodic server streams: the timer, the grid, the full-queue rule (see stream.h). */
#include "api/status.h"
#include "api/stream.h"

#include <errno.h>
#include <stdlib.h>

#include "base/macro.h"

#define MIN_INTERVAL_MS 100
#define MAX_DURATION_S  315576000000LL /* google.protobuf.Duration's own bound */

struct stream {
    uv_timer_t timer;                 /* the next tick; the struct is freed in its close callback */
    struct grpc_call *call;           /* NULL once the call is over */
    const struct api_stream_ops *ops; /* the face's callbacks */
    void *arg;                        /* the face's state */
    uint64_t interval_ms;             /* between ticks */
};

int api_interval(struct grpc_call *call, const Google__Protobuf__Duration *d, uint64_t default_ms,
                 uint64_t *ret)
{
    if (!d) {
        *ret = default_ms;
        return 0;
    }
    if (d->nanos <= -1000000000 || d->nanos >= 1000000000 || (d->seconds > 0 && d->nanos < 0) ||
        (d->seconds < 0 && d->nanos > 0) || d->seconds > MAX_DURATION_S) {
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "interval is not a valid duration");
        return -EINVAL;
    }
    if (d->seconds < 0 || (d->seconds == 0 && d->nanos <= 0)) {
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "interval must be positive (got %llds %dns)",
                         (long long)d->seconds, d->nanos);
        return -EINVAL;
    }
    uint64_t ms = (uint64_t)d->seconds * 1000 + (uint64_t)d->nanos / 1000000;
    *ret = MAX(ms, (uint64_t)MIN_INTERVAL_MS);
    return 0;
}

static void tick(uv_timer_t *t);

/* Arms the timer for the next multiple of the interval, skipping one closer than half an
 * interval (right after the first message, which went out off the grid). */
static void schedule(struct stream *st)
{
    uint64_t now = uv_now(st->timer.loop), delay = st->interval_ms - now % st->interval_ms;
    if (delay < st->interval_ms / 2)
        delay += st->interval_ms;
    uv_timer_start(&st->timer, tick, delay, 0);
}

static void run(struct stream *st)
{
    /* A client that has not taken the previous messages gets nothing this time. */
    if (grpc_call_writable(st->call) && !(st->ops->busy && st->ops->busy(st->arg))) {
        int r = st->ops->tick(st->call, st->arg);
        if (r < 0 && r != -ENOBUFS)
            return api_finish_errno(st->call, r, "measuring");
    }
    if (!grpc_call_finished(st->call))
        schedule(st);
}

static void tick(uv_timer_t *t)
{
    struct stream *st = t->data;
    if (st->call)
        run(st);
}

void api_stream_ready(struct grpc_call *call)
{
    struct stream *st = grpc_call_get_data(call);
    if (st && st->ops->ready) {
        int r = st->ops->ready(call, st->arg);
        if (r < 0 && r != -ENOBUFS)
            api_finish_errno(call, r, "measuring");
    }
}

static void freed(uv_handle_t *h)
{
    struct stream *st = h->data;
    if (st->ops->free)
        st->ops->free(st->arg);
    free(st);
}

void api_stream_close(struct grpc_call *call)
{
    struct stream *st = grpc_call_get_data(call);
    if (!st)
        return;
    st->call = NULL;
    uv_close((uv_handle_t *)&st->timer, freed);
}

void api_stream_start(struct grpc_call *call, uv_loop_t *loop, uint64_t interval_ms,
                      const struct api_stream_ops *ops, void *arg)
{
    struct stream *st = calloc(1, sizeof *st);
    if (!st) {
        if (ops->free)
            ops->free(arg);
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    *st = (struct stream){.call = call, .ops = ops, .arg = arg, .interval_ms = interval_ms};
    uv_timer_init(loop, &st->timer);
    st->timer.data = st;
    grpc_call_set_data(call, st);
    run(st);
}
