/* drover.v1.Admin/Events: a position on the daemon's event bus, read while the call is
 * writable, filtered by type prefix. The console re-lists sessions and tracked processes when
 * one of their events comes, instead of asking every few seconds. A subscriber that falls a
 * whole ring behind is ended RESOURCE_EXHAUSTED; publishers never wait for one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/arena.h"
#include "api/drover/drover-internal.h"
#include "drover/v1/admin.pb-c.h"
#include "events/events.h"
#include "grpc/grpc.h"

struct events_sub {
    struct grpc_call *call;
    struct ev_sub *ev;
    char **types; /* prefixes kept, NULL-terminated; NULL or empty: all */
};

static bool wanted(const struct events_sub *s, const char *type)
{
    if (!s->types || !s->types[0])
        return true;
    for (char **p = s->types; *p; p++)
        if (!strncmp(type, *p, strlen(*p)))
            return true;
    return false;
}

static int send_event(struct events_sub *s, const struct ev *e)
{
    struct api_arena a = {0};
    Drover__V1__Event *o = arena_msg(&a, &drover__v1__event__descriptor);
    o->seq = e->seq;
    o->time = arena_ts(&a, e->ns);
    o->type = arena_strdup(&a, e->type);
    o->source = arena_strdup(&a, e->source);
    const char *subject = !strncmp(e->type, "container.", 10) ? e->container_id
                          : !strncmp(e->type, "task.", 5)     ? e->task_id
                          : !strncmp(e->type, "agent.", 6)    ? e->agent_id
                          : *e->session_id                    ? e->session_id
                          : *e->container_id                  ? e->container_id
                          : *e->task_id                       ? e->task_id
                                                              : e->agent_id;
    o->subject = arena_strdup(&a, subject);
    o->session_id = arena_strdup(&a, e->session_id);
    o->container_id = arena_strdup(&a, e->container_id);
    o->task_id = arena_strdup(&a, e->task_id);
    o->agent_id = arena_strdup(&a, e->agent_id);
    o->data = (Drover__V1__Event__DataEntry **)arena_map_out(
        &a, &drover__v1__event__data_entry__descriptor, e->data, &o->n_data);
    int r = a.failed ? -ENOMEM : grpc_call_send(s->call, &o->base);
    arena_free(&a);
    return r;
}

static void pump(struct events_sub *s)
{
    const struct ev *e;
    uint64_t missed;
    while (grpc_call_writable(s->call) && ev_next(s->ev, &e, &missed) == 1) {
        if (missed)
            return grpc_call_finish(s->call, GRPC_RESOURCE_EXHAUSTED,
                                    "this stream fell %llu events behind: list again and "
                                    "subscribe anew",
                                    (unsigned long long)missed);
        if (wanted(s, e->type) && send_event(s, e) < 0)
            return;
    }
}

static void ready(struct ev_sub *ev, void *userdata)
{
    (void)ev;
    pump(userdata);
}

static void events_free(struct events_sub *s)
{
    if (s->ev)
        ev_unsubscribe(s->ev);
    for (char **p = s->types; p && *p; p++)
        free(*p);
    free(s->types);
    free(s);
}

void api_drover_events(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__EventsRequest *q = (const Drover__V1__EventsRequest *)msg;
    struct api_host *h = grpc_call_service_data(call);
    struct events_sub *s = calloc(1, sizeof *s);

    if (!h->bus) {
        free(s);
        return grpc_call_finish(call, GRPC_UNAVAILABLE, "no event bus in this droverd");
    }
    if (!s || !(s->types = calloc(q->n_types + 1, sizeof *s->types))) {
        free(s);
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    s->call = call;
    grpc_call_set_data(call, s);
    for (size_t i = 0; i < q->n_types; i++)
        if (!(s->types[i] = strdup(q->types[i])))
            return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    /* Sequence numbers start again at 1 with each droverd: one past the newest event is not a
     * place to wait at, it is another run's (or no) event. */
    if (q->after_seq > ev_bus_last(h->bus))
        return grpc_call_finish(call, GRPC_OUT_OF_RANGE,
                                "after_seq %llu is past the newest event (%llu): droverd started "
                                "again since; subscribe without it",
                                (unsigned long long)q->after_seq,
                                (unsigned long long)ev_bus_last(h->bus));
    uint64_t from = q->after_seq ? q->after_seq + 1 : 0;
    if (!(s->ev = ev_subscribe(h->bus, from, ready, s)))
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    (void)grpc_call_send_headers(call); /* from now on nothing is missed */
    pump(s);
}

void api_drover_events_ready(struct grpc_call *call)
{
    struct events_sub *s = grpc_call_get_data(call);
    if (s && s->ev)
        pump(s);
}

void api_drover_events_close(struct grpc_call *call)
{
    struct events_sub *s = grpc_call_get_data(call);
    if (s)
        events_free(s);
    grpc_call_set_data(call, NULL);
}
