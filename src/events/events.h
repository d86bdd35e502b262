/* The event bus: one ring of the newest events for the whole daemon, which any core publishes
 * to and any face reads from. A subscriber is a position in the ring, not a queue: publishing
 * copies the event once and tells each subscriber that was waiting, and never waits for anyone;
 * a subscriber that falls a whole ring behind is told how many events it missed and goes on
 * from the oldest kept. Filters are the readers' (a face applies its API's).
 *
 * Base only below it: any core module may publish. Nothing here blocks or logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_bus;
struct ev_sub;

/* An event as published (strings copied) and as read (pointers valid until the next ev_next
 * of that subscriber, or the ring overwrites it: copy what is kept). */
struct ev {
    uint64_t seq;               /* from 1, set by the bus */
    uint64_t ns;                /* wall clock at publish (CLOCK_REALTIME), set by the bus */
    char id[33];                /* 32 hex digits, set by the bus */
    const char *type;           /* "session.created", "container.stopped", ... */
    const char *source;         /* who published: "orchestrator", "containers" */
    const char *session_id;     /* what it is about, "" when none */
    const char *container_id;
    const char *task_id;
    const char *agent_id;
    const char *correlation_id;
    const char *user_id;
    char *const *labels;        /* map: "k1","v1",...,NULL (or NULL) */
    char *const *data;          /* map */
    int priority;               /* 1 low .. 4 critical; 0 normal */
};

/* A bus keeping the newest ring events (at least 16). */
int ev_bus_new(size_t ring, struct ev_bus **ret);
void ev_bus_free(struct ev_bus *b);
/* Copies e in (-ENOMEM: not published); its seq is returned in *ret_seq when asked. */
int ev_publish(struct ev_bus *b, const struct ev *e, uint64_t *ret_seq);
/* The newest seq published (0: none yet). */
uint64_t ev_bus_last(const struct ev_bus *b);

/* A subscriber from the next event on (from_seq 0), or from from_seq if the ring still holds
 * it. on_ready runs (from ev_publish) when an event comes while the subscriber had read all;
 * it must not publish or unsubscribe others from there. */
struct ev_sub *ev_subscribe(struct ev_bus *b, uint64_t from_seq,
                            void (*on_ready)(struct ev_sub *s, void *userdata), void *userdata);
/* The next event: 1 and *ret (and *ret_missed, events dropped before it), or 0 when there is
 * none now (on_ready will run when there is). */
int ev_next(struct ev_sub *s, const struct ev **ret, uint64_t *ret_missed);
void ev_unsubscribe(struct ev_sub *s);
/* Subscribers now. */
size_t ev_bus_subscribers(const struct ev_bus *b);
