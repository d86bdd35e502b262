/* Tees: a copy of one of a session's streams written to a file, running-process's session
 * telemetry. Each tee has a queue of chunks (one per read of the program's output), written
 * from the loop with non-blocking writes: a regular file takes them at once (the page cache), a
 * FIFO or a device that is full makes us poll until it has room. The loop never blocks on a
 * tee, and nothing is left in flight in another thread when droverd stops.
 *
 * A full queue (queue_chunks chunks, or TEE_MAX_BYTES) either drops its oldest chunk and counts
 * the bytes (the file then gets a "missed N bytes" marker where they were, unless suppressed),
 * or, for a blocking tee on an output stream, stops the session reading its program until the
 * file catches up: the program then blocks on its own output. Input tees never block: input
 * comes from clients, who are not held up for a file.
 *
 * A tee lives in its stream's list until unregistered, so its status stays readable after the
 * stream ended (disconnected). Once a write fails the tee stops and is disconnected. */
#include "session/session-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"

static void pump(struct tee *t);

static void drop_queue(struct tee *t)
{
    while (t->chunks.first) {
        struct tee_chunk *c = t->chunks.first;
        DQUEUE_REMOVE(&t->chunks, c, link);
        free(c);
    }
    t->n = 0;
    t->bytes = 0;
}

static void poll_closed(uv_handle_t *h)
{
    free(h->data);
}

static void tee_free(struct tee *t)
{
    drop_queue(t);
    if (t->poll_open)
        uv_poll_stop(&t->poll); /* before its fd closes */
    if (t->fd >= 0)
        close(t->fd);
    if (t->poll_open) { /* the memory goes with the handle */
        t->poll.data = t;
        uv_close((uv_handle_t *)&t->poll, poll_closed);
        return;
    }
    free(t);
}

static void close_file(struct tee *t)
{
    if (t->poll_open)
        uv_poll_stop(&t->poll);
    t->busy = false;
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    t->disconnected = true;
}

static void disconnect(struct tee *t)
{
    drop_queue(t);
    close_file(t);
}

static void on_writable(uv_poll_t *p, int status, int events)
{
    struct tee *t = p->data;
    (void)status, (void)events;
    t->busy = false;
    uv_poll_stop(p);
    pump(t);
}

/* Waits for the file to take more. */
static void wait_writable(struct tee *t)
{
    if (!t->poll_open) {
        if (uv_poll_init(t->loop, &t->poll, t->fd) < 0)
            return disconnect(t);
        t->poll.data = t;
        t->poll_open = true;
    }
    if (uv_poll_start(&t->poll, UV_WRITABLE, on_writable) < 0)
        return disconnect(t);
    t->busy = true;
}

/* Pops the head chunk once it is all written; a blocking tee that made room may let the
 * session read again. */
static void pop_head(struct tee *t)
{
    struct tee_chunk *c = t->chunks.first;
    bool was_full = t->block && (t->n >= t->cap || t->bytes >= TEE_MAX_BYTES);
    DQUEUE_REMOVE(&t->chunks, c, link);
    t->n--;
    t->bytes -= c->len;
    free(c);
    if (was_full && t->s)
        sess_update_polls(t->s);
}

/* Writes what the queue holds (a marker first where bytes were dropped) until it is empty, the
 * file is full (then polls), or a write fails (then disconnects). */
static void pump(struct tee *t)
{
    while (!t->busy && t->fd >= 0) {
        struct tee_chunk *c = t->chunks.first;
        const char *p;
        size_t n;
        if (!t->marker_len && t->unmarked && t->markers) {
            int k = snprintf(t->marker, sizeof t->marker,
                             "\n[running-process tee missed %" PRIu64 " bytes]\n", t->unmarked);
            t->marker_len = (size_t)k;
            t->marker_off = 0;
        }
        t->unmarked = 0; /* in the marker being written, or not wanted */
        if (t->marker_len) {
            p = t->marker + t->marker_off;
            n = t->marker_len - t->marker_off;
        } else if (c) {
            p = (const char *)c->data + c->off;
            n = c->len - c->off;
        } else {
            if (t->closing)
                close_file(t);
            return;
        }
        ssize_t w = write(t->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return wait_writable(t);
        if (w < 0)
            return disconnect(t);
        if (t->marker_len) {
            t->marker_off += (size_t)w;
            if (t->marker_off == t->marker_len)
                t->marker_len = 0;
        } else if ((c->off += (size_t)w) == c->len) {
            pop_head(t);
        }
    }
}

void tee_feed(struct tee *list, const uint8_t *p, size_t n)
{
    for (struct tee *t = list; t; t = t->link.next) {
        if (t->fd < 0 || t->closing)
            continue;
        struct tee_chunk *c = malloc(sizeof *c + n);
        if (!c) {
            t->missed += n;
            t->unmarked += n;
            continue;
        }
        c->len = n;
        c->off = 0;
        memcpy(c->data, p, n);
        DQUEUE_APPEND(&t->chunks, c, link);
        t->n++;
        t->bytes += n;
        /* Over the bounds: drop the oldest chunks (not one half written). A blocking output
         * tee only gets here by one read's worth; reading stops until it drains. */
        while (!(t->block && t->stream != SESS_IN) && (t->n > t->cap || t->bytes > TEE_MAX_BYTES)) {
            struct tee_chunk *head = t->chunks.first;
            struct tee_chunk *old = head->off ? head->link.next : head;
            if (!old)
                break;
            DQUEUE_REMOVE(&t->chunks, old, link);
            t->n--;
            t->bytes -= old->len;
            t->missed += old->len - old->off;
            t->unmarked += old->len - old->off;
            free(old);
        }
        pump(t);
    }
}

bool tee_blocked(const struct tee *list)
{
    for (const struct tee *t = list; t; t = t->link.next)
        if (t->block && t->fd >= 0 && (t->n >= t->cap || t->bytes >= TEE_MAX_BYTES))
            return true;
    return false;
}

void tee_pump_all(struct tee *list)
{
    for (struct tee *t = list; t; t = t->link.next)
        pump(t);
}

void tee_close_all(struct tee **list, bool now)
{
    for (struct tee *t = *list; t; t = t->link.next) {
        t->closing = true;
        if (now)
            drop_queue(t);
        pump(t);
    }
}

/* Unlinks and frees every tee of a list (the session is going). */
static void tee_release(struct tee **list)
{
    while (*list) {
        struct tee *t = *list;
        DLIST_REMOVE(t, link);
        t->s = NULL;
        tee_free(t);
    }
}

static struct tee **list_of(struct session *s, enum sess_stream st)
{
    if (st == SESS_IN)
        return s->in ? &s->in_tees : NULL;
    if ((unsigned)st < 2 && s->out[st].src)
        return &s->out[st].tees;
    return NULL;
}

int sess_tee_add(struct session *s, const struct sess_tee_opts *o, uint64_t *ret_handle)
{
    struct tee **list = list_of(s, o->stream);

    if (!list)
        return -EINVAL;
    if (!o->path || !*o->path)
        return -EINVAL;
    struct tee *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    /* Non-blocking: a FIFO without a reader fails at once (ENXIO) instead of stopping the
     * loop, and a full one makes us poll. */
    int flags =
        O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (o->truncate ? O_TRUNC : O_APPEND);
    t->fd = open(o->path, flags, 0644);
    if (t->fd < 0) {
        int r = -errno;
        free(t);
        return r;
    }
    t->s = s;
    t->loop = s->m->loop;
    t->handle = ++s->next_tee;
    t->stream = o->stream;
    t->block = o->block;
    t->markers = !o->suppress_markers;
    t->cap = o->queue_chunks ? o->queue_chunks : s->m->lim.tee_queue;
    if (!t->cap)
        t->cap = 1024;
    /* A stream that already ended (or a session that exited) gets a tee that is at once
     * disconnected, but still has a status. */
    bool ended = s->exited || (o->stream == SESS_IN ? s->stdin_closed : s->out[o->stream].eof);
    DLIST_PREPEND(list, t, link);
    if (ended) {
        t->closing = true;
        pump(t);
    }
    *ret_handle = t->handle;
    return 0;
}

static struct tee *find(struct session *s, uint64_t handle)
{
    struct tee *lists[3] = {s->out[0].tees, s->out[1].tees, s->in_tees};
    for (int i = 0; i < 3; i++)
        for (struct tee *t = lists[i]; t; t = t->link.next)
            if (t->handle == handle)
                return t;
    return NULL;
}

int sess_tee_remove(struct session *s, uint64_t handle)
{
    struct tee *t = find(s, handle);
    if (!t)
        return -ENOENT;
    DLIST_REMOVE(t, link);
    t->s = NULL;
    tee_free(t);
    /* A blocking tee gone may unblock reading. */
    sess_update_polls(s);
    return 0;
}

int sess_tee_status(struct session *s, uint64_t handle, struct sess_tee_status *ret)
{
    const struct tee *t = find(s, handle);
    if (!t)
        return -ENOENT;
    *ret = (struct sess_tee_status){
        .stream = t->stream,
        .missed = t->missed,
        .disconnected = t->disconnected,
    };
    return 0;
}

void sess_tees_release(struct session *s)
{
    tee_release(&s->out[0].tees);
    tee_release(&s->out[1].tees);
    tee_release(&s->in_tees);
}
