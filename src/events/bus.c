/* The event bus (see events.h): a ring of events, each copied into one allocation (its strings
 * and map vectors together), and subscribers that are positions in it. */
#include "events/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/list.h"

struct ev_sub {
    struct ev_bus *bus;
    DLIST_LINK(ev_sub) link;
    uint64_t next;   /* the seq it reads next */
    bool waiting;    /* it read all: tell it of the next one */
    void (*on_ready)(struct ev_sub *s, void *userdata);
    void *userdata;
};

struct ev_bus {
    struct ev *ring;    /* slot seq % size; .seq 0: empty */
    void **blocks;      /* each slot's allocation */
    size_t size;
    uint64_t last;      /* the newest seq */
    uint64_t id_base;   /* random: ids are unique across droverds */
    struct ev_sub *subs;
    size_t n_subs;
};

int ev_bus_new(size_t ring, struct ev_bus **ret)
{
    struct ev_bus *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->size = ring < 16 ? 16 : ring;
    b->ring = calloc(b->size, sizeof *b->ring);
    b->blocks = calloc(b->size, sizeof *b->blocks);
    if (!b->ring || !b->blocks) {
        ev_bus_free(b);
        return -ENOMEM;
    }
    if (getrandom(&b->id_base, sizeof b->id_base, 0) != (ssize_t)sizeof b->id_base)
        b->id_base = (uint64_t)time(NULL) * 2654435761u;
    *ret = b;
    return 0;
}

void ev_bus_free(struct ev_bus *b)
{
    if (!b)
        return;
    while (b->subs)
        ev_unsubscribe(b->subs);
    for (size_t i = 0; b->blocks && i < b->size; i++)
        free(b->blocks[i]);
    free(b->blocks);
    free(b->ring);
    free(b);
}

static size_t map_len(char *const *m)
{
    size_t n = 0;
    while (m && m[n] && m[n + 1])
        n += 2;
    return n;
}

static size_t str_size(const char *s)
{
    return strlen(s ? s : "") + 1;
}

static char *put(char **p, const char *s)
{
    char *at = *p;
    *p = stpcpy(*p, s ? s : "") + 1;
    return at;
}

/* e copied into one block: the two map vectors, then every string. */
static void *pack(const struct ev *e, struct ev *out)
{
    const char *const strs[] = {e->type,     e->source,         e->session_id, e->container_id,
                                e->task_id,  e->agent_id,       e->correlation_id,
                                e->user_id};
    size_t nl = map_len(e->labels), nd = map_len(e->data);
    size_t size = (nl + 1 + nd + 1) * sizeof(char *);
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        size += str_size(strs[i]);
    for (size_t i = 0; i < nl; i++)
        size += str_size(e->labels[i]);
    for (size_t i = 0; i < nd; i++)
        size += str_size(e->data[i]);
    char **vec = malloc(size);
    if (!vec)
        return NULL;
    char **labels = vec, **data = vec + nl + 1, *p = (char *)(data + nd + 1);
    *out = *e;
    out->type = put(&p, e->type);
    out->source = put(&p, e->source);
    out->session_id = put(&p, e->session_id);
    out->container_id = put(&p, e->container_id);
    out->task_id = put(&p, e->task_id);
    out->agent_id = put(&p, e->agent_id);
    out->correlation_id = put(&p, e->correlation_id);
    out->user_id = put(&p, e->user_id);
    for (size_t i = 0; i < nl; i++)
        labels[i] = put(&p, e->labels[i]);
    labels[nl] = NULL;
    for (size_t i = 0; i < nd; i++)
        data[i] = put(&p, e->data[i]);
    data[nd] = NULL;
    out->labels = labels;
    out->data = data;
    return vec;
}

int ev_publish(struct ev_bus *b, const struct ev *e, uint64_t *ret_seq)
{
    struct ev copy;
    void *block = pack(e, &copy);
    if (!block)
        return -ENOMEM;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    copy.seq = ++b->last;
    copy.ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    snprintf(copy.id, sizeof copy.id, "%016llx%016llx", (unsigned long long)b->id_base,
             (unsigned long long)copy.seq);
    size_t slot = copy.seq % b->size;
    free(b->blocks[slot]);
    b->blocks[slot] = block;
    b->ring[slot] = copy;
    if (ret_seq)
        *ret_seq = copy.seq;
    /* Tell those that had read everything; on_ready may read (and so re-arm) at once. */
    for (struct ev_sub *s = b->subs, *next; s; s = next) {
        next = s->link.next;
        if (s->waiting) {
            s->waiting = false;
            if (s->on_ready)
                s->on_ready(s, s->userdata);
        }
    }
    return 0;
}

uint64_t ev_bus_last(const struct ev_bus *b)
{
    return b->last;
}

struct ev_sub *ev_subscribe(struct ev_bus *b, uint64_t from_seq,
                            void (*on_ready)(struct ev_sub *s, void *userdata), void *userdata)
{
    struct ev_sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->bus = b;
    s->next = from_seq ? from_seq : b->last + 1;
    s->on_ready = on_ready;
    s->userdata = userdata;
    s->waiting = s->next > b->last;
    DLIST_PREPEND(&b->subs, s, link);
    b->n_subs++;
    return s;
}

int ev_next(struct ev_sub *s, const struct ev **ret, uint64_t *ret_missed)
{
    struct ev_bus *b = s->bus;
    uint64_t oldest = b->last >= b->size ? b->last - b->size + 1 : 1;
    *ret_missed = 0;
    if (s->next > b->last) {
        s->waiting = true;
        return 0;
    }
    if (s->next < oldest) {
        *ret_missed = oldest - s->next;
        s->next = oldest;
    }
    *ret = &b->ring[s->next % b->size];
    s->next++;
    return 1;
}

void ev_unsubscribe(struct ev_sub *s)
{
    if (!s)
        return;
    DLIST_REMOVE(s, link);
    s->bus->n_subs--;
    free(s);
}

size_t ev_bus_subscribers(const struct ev_bus *b)
{
    return b->n_subs;
}
