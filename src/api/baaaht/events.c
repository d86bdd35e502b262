/* Event streams (SubscribeEvents, SubscribeToEvents): a position on the daemon's event bus,
 * read while the call is writable. A subscriber that falls a whole ring behind ends
 * RESOURCE_EXHAUSTED; publishers never wait for one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "base/time-util.h"

static void pump(struct bh_sub *s)
{
    const struct ev *e;
    uint64_t missed;
    while (grpc_call_writable(s->call) && ev_next(s->ev, &e, &missed) == 1) {
        if (missed)
            return grpc_call_finish(s->call, GRPC_RESOURCE_EXHAUSTED,
                                    "subscriber fell %llu events behind",
                                    (unsigned long long)missed);
        if (s->end_ns && e->ns > s->end_ns)
            return grpc_call_finish(s->call, GRPC_OK, NULL); /* past its end_time */
        if ((s->start_ns && e->ns < s->start_ns) ||
            (s->scope[0] && strcmp(s->scope, e->session_id)))
            continue;
        if (s->send(s, e) < 0)
            return;
    }
}

static void ready(struct ev_sub *ev, void *userdata)
{
    (void)ev;
    pump(userdata);
}

/* A copy of a message (protobuf-c 1.4 has no duplicate): packed and unpacked again. */
static ProtobufCMessage *copy_msg(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n ? n : 1);
    ProtobufCMessage *c = NULL;
    if (b && protobuf_c_message_pack(m, b) == n)
        c = protobuf_c_message_unpack(m->descriptor, NULL, n, b);
    free(b);
    return c;
}

static uint64_t ts_ns(const Google__Protobuf__Timestamp *t)
{
    return t && t->seconds > 0 ? (uint64_t)t->seconds * 1000000000ull + (uint64_t)t->nanos : 0;
}

struct bh_sub *bh_subscribe(struct grpc_call *call, const ProtobufCMessage *filter,
                            const Google__Protobuf__Timestamp *start,
                            const Google__Protobuf__Timestamp *end, const char *scope,
                            int (*send)(struct bh_sub *s, const struct ev *e))
{
    struct api_host *h = grpc_call_service_data(call);
    struct bh_sub *s = calloc(1, sizeof *s);
    if (!s) {
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    s->call = call;
    s->send = send;
    s->start_ns = ts_ns(start);
    s->end_ns = ts_ns(end);
    snprintf(s->scope, sizeof s->scope, "%s", scope ? scope : "");
    grpc_call_set_data(call, s);
    if (filter && !(s->filter = copy_msg(filter))) {
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    if (!h->bus) {
        grpc_call_finish(call, GRPC_UNAVAILABLE, "no event bus in this droverd");
        return NULL;
    }
    if (s->end_ns && s->end_ns < now_ns(CLOCK_REALTIME)) {
        grpc_call_finish(call, GRPC_OK, NULL); /* its window has passed: nothing to send */
        return NULL;
    }
    if (!(s->ev = ev_subscribe(h->bus, 0, ready, s))) {
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    (void)grpc_call_send_headers(call); /* from now on nothing is missed */
    return s;
}

void bh_sub_writable(struct grpc_call *call)
{
    struct bh_sub *s = grpc_call_get_data(call);
    if (s && s->ev)
        pump(s);
}

void bh_sub_close(struct grpc_call *call)
{
    struct bh_sub *s = grpc_call_get_data(call);
    if (!s)
        return;
    ev_unsubscribe(s->ev);
    if (s->filter)
        protobuf_c_message_free_unpacked(s->filter, NULL);
    free(s);
    grpc_call_set_data(call, NULL);
}
