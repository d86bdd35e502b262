/* Periodic server streams, shared by the faces that send measurements (daemon.v1, drover.v1
 * Metrics): the first message at once, then one per interval. Ticks fall on multiples of the
 * interval on the monotonic clock, so streams of the same interval tick together and share one
 * sample of the metrics engine. A tick that finds the client's queue full sends nothing: a slow
 * reader gets fewer messages, never more memory. */
#pragma once

#include <stdint.h>

#include "google/protobuf/duration.pb-c.h"
#include "grpc/grpc.h"

/* Sends one tick's message(s); -ENOBUFS (queue full) is not an error. Another -errno ends the
 * call with that error. */
typedef int (*api_tick_fn)(struct grpc_call *call, void *arg);

struct api_stream_ops {
    api_tick_fn tick;        /* each tick, when the client's queue has room */
    api_tick_fn ready;       /* optional: the queue drained (to finish a batch) */
    bool (*busy)(void *arg); /* optional: a batch is still going out; skip the tick */
    void (*free)(void *arg); /* optional: frees arg when the call is over */
};

/* A request's interval: absent is default_ms, zero or negative ends the call with
 * INVALID_ARGUMENT (returns -EINVAL), below 100 ms is raised to 100 ms. */
int api_interval(struct grpc_call *call, const Google__Protobuf__Duration *d, uint64_t default_ms,
                 uint64_t *ret);
/* Starts the stream: the first tick runs now. arg is the face's state (ops->free frees it, also
 * when starting fails). The method's on_ready and on_close must be api_stream_ready and
 * api_stream_close. */
void api_stream_start(struct grpc_call *call, uv_loop_t *loop, uint64_t interval_ms,
                      const struct api_stream_ops *ops, void *arg);
void api_stream_ready(struct grpc_call *call);
void api_stream_close(struct grpc_call *call);
