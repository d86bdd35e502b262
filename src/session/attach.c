/* Attachments (see session.h): one client per output stream, stealing, detaching, the backlog
 * since the previous attach (or a position to resume from instead: the ring's positions are
 * absolute, and survive an upgrade in place), pulling bytes from the ring at the client's pace,
 * and stalls: a client that takes nothing for stall_ms stops holding the program back, and
 * from then on is told what the ring dropped before it could take it. Also purge and the
 * backlog snapshot, which act on the same positions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "events/events.h"
#include "session/session-internal.h"

void sess_mgr_set_bus(struct sess_mgr *m, struct ev_bus *bus)
{
    m->bus = bus;
}

void sess_publish(struct session *s, const char *what)
{
    char type[32], pid[16], code[16];
    if (!s->m->bus)
        return;
    snprintf(type, sizeof type, "%s.%s", s->kind == SESS_PTY ? "pty" : "pipe", what);
    snprintf(pid, sizeof pid, "%d", (int)s->pid);
    snprintf(code, sizeof code, "%d", s->exit_code);
    char *data[] = {"pid",
                    pid,
                    "originator",
                    s->originator ? s->originator : "",
                    s->exited ? "exit_code" : NULL,
                    code,
                    NULL};
    struct ev e = {.type = type, .source = "sessions", .session_id = s->id, .data = data};
    (void)ev_publish(s->m->bus, &e, NULL);
}

static struct sess_attach *take_attachment(struct session *s, enum sess_stream st)
{
    struct sess_attach *a = s->out[st].att;
    s->out[st].att = NULL;
    if (a)
        sess_publish(s, "detached");
    if (a && st == SESS_OUT && s->kind == SESS_PTY) {
        s->attached_is_tty = false;
        s->attached_term[0] = '\0';
        free(s->attached_caps);
        s->attached_caps = NULL;
        s->attached_caps_len = 0;
    }
    return a;
}

/* Ends the attachment at once with why and tells its owner. */
void sess_evict(struct session *s, enum sess_stream st, enum sess_end why)
{
    struct sess_attach *a = take_attachment(s, st);
    if (!a)
        return;
    sess_end_attachment(a, why, true, 0);
    a->ops->on_ready(a, a->userdata);
}

void sess_detach(struct session *s, enum sess_stream st)
{
    if ((unsigned)st < 2)
        sess_evict(s, st, SESS_END_DETACHED);
}

void sess_purge(struct session *s)
{
    sess_unlist(s);
}

int sess_backlog(struct session *s, enum sess_stream st, uint8_t **ret, size_t *ret_len,
                 uint64_t *ret_missed)
{
    struct sess_out *o = &s->out[(unsigned)st < 2 ? st : SESS_OUT];
    uint64_t from = MAX(o->mark, o->ring.start);
    size_t n = (size_t)(o->ring.end - from);
    uint8_t *p = NULL;

    if (n) {
        p = malloc(n);
        if (!p)
            return -ENOMEM;
        ring_copy(&o->ring, from, p);
    }
    *ret = p;
    *ret_len = n;
    *ret_missed = o->missed;
    return 0;
}

/* ---- attachments -------------------------------------------------------------------------- */

/* Checks that st can take an attachment now (stealing the one it has with steal). */
static int attachable(struct session *s, enum sess_stream st, bool steal, bool exited_too)
{
    if ((unsigned)st >= 2 || !s->out[st].src)
        return -EINVAL;
    if (s->exited && !exited_too)
        return -ESRCH;
    if (s->out[st].att && !steal)
        return -EALREADY;
    return 0;
}

/* Makes a the stream's attachment, pulling from pos on (a steals the previous one). */
static struct sess_attach *attach_at(struct session *s, enum sess_stream st, struct sess_attach *a,
                                     uint64_t pos, const struct sess_attach_ops *ops,
                                     void *userdata)
{
    struct sess_out *o = &s->out[st];

    sess_evict(s, st, SESS_END_STOLEN);
    *a = (struct sess_attach){.s = s, .stream = st, .pos = pos, .ops = ops, .userdata = userdata};
    o->mark = o->ring.end; /* the backlog is consumed */
    o->att = a;
    s->refs++;
    sess_publish(s, "attached");
    return a;
}

int sess_attach(struct session *s, enum sess_stream st, bool steal,
                const struct sess_attach_ops *ops, void *userdata, struct sess_attach **ret,
                uint8_t **ret_backlog, size_t *ret_backlog_len, uint64_t *ret_missed)
{
    int r = attachable(s, st, steal, false);
    if (r < 0)
        return r;
    struct sess_attach *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    r = sess_backlog(s, st, ret_backlog, ret_backlog_len, ret_missed);
    if (r < 0) {
        free(a);
        return r;
    }
    *ret = attach_at(s, st, a, s->out[st].ring.end, ops, userdata);
    return 0;
}

int sess_attach_from(struct session *s, enum sess_stream st, bool steal, uint64_t from,
                     const struct sess_attach_ops *ops, void *userdata, struct sess_attach **ret)
{
    int r = attachable(s, st, steal, true);
    if (r < 0)
        return r;
    if (from > s->out[st].ring.end)
        return -ERANGE;
    struct sess_attach *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    /* A position the ring dropped comes out of sess_attach_next as a missed count first. */
    *ret = attach_at(s, st, a, from, ops, userdata);
    /* The program is gone (while its client was away): the rest of its output, then its end. */
    if (s->exited)
        sess_end_attachment(a,
                            s->kind == SESS_PIPE && s->out[st].eof ? SESS_END_EOF : SESS_END_EXIT,
                            false, s->exit_code);
    return 0;
}

uint64_t sess_attach_pos(const struct sess_attach *a)
{
    return a->pos;
}

int sess_attach_describe(struct sess_attach *a, bool is_tty, const char *term, const void *caps,
                         size_t caps_len)
{
    struct session *s = a->s;
    if (s->out[a->stream].att != a)
        return 0;
    char *t = strdup(term ? term : "");
    void *c = caps_len ? malloc(caps_len) : NULL;
    if (!t || (caps_len && !c)) {
        free(t);
        free(c);
        return -ENOMEM;
    }
    if (caps_len)
        memcpy(c, caps, caps_len);
    free(s->attached_term);
    free(s->attached_caps);
    s->attached_term = t;
    s->attached_caps = c;
    s->attached_caps_len = caps_len;
    s->attached_is_tty = is_tty;
    return 0;
}

struct session *sess_attach_session(struct sess_attach *a)
{
    return a->s;
}

void sess_attach_next(struct sess_attach *a, size_t max, struct sess_pull *ret)
{
    struct sess_out *o = &a->s->out[a->stream];

    *ret = (struct sess_pull){0};
    if (a->end != SESS_END_NONE && a->end_now) {
        ret->end = a->end;
        return;
    }
    if (a->pos < o->ring.start) {
        ret->missed = o->ring.start - a->pos;
        a->pos = o->ring.start;
        return;
    }
    size_t n = ring_peek(&o->ring, a->pos, &ret->data);
    ret->len = MIN(n, max);
    if (ret->len == 0) {
        ret->data = NULL;
        /* The exit comes after the last byte: a stream still being drained is not done. */
        if (a->end != SESS_END_EXIT || !o->src || o->eof) {
            ret->end = a->end;
            ret->exit_code = a->exit_code;
        }
    }
}

void sess_attach_consume(struct sess_attach *a, size_t n)
{
    struct sess_out *o = &a->s->out[a->stream];
    bool was = sess_held_back(o);

    a->pos += n;
    if (a->lossy && a->pos == o->ring.end)
        a->lossy = false; /* caught up: it holds the program back again */
    if (was && !sess_held_back(o))
        sess_update_polls(a->s);
}

/* ---- stalls ------------------------------------------------------------------------------- */

/* A client that took nothing for stall_ms becomes lossy, but only after one more pass of the
 * loop's I/O: timers run before polling, so a droverd that was itself descheduled (a loaded
 * machine) would otherwise blame a client whose data is waiting to be read. */
static void on_stall(uv_timer_t *t)
{
    struct session *s = t->data;
    bool again = false, idle = false;

    for (int i = 0; i < 2; i++) {
        struct sess_attach *a = s->out[i].att;
        if (!a || !sess_held_back(&s->out[i]))
            continue;
        if (a->pos != a->stall_pos)
            again = true;
        else if (s->stall_confirm) /* took nothing all this time: stop waiting for it */
            a->lossy = true;
        else
            idle = true;
    }
    if (idle) {
        /* 1 ms, not 0: a timer due now would run again before the poll. */
        s->stall_confirm = true;
        uv_timer_start(&s->stall, on_stall, 1, 0);
        return;
    }
    s->stall_confirm = false;
    sess_update_polls(s);
    if (again)
        sess_arm_stall(s);
}

/* Starts the stall clock for every attachment that holds its stream back (once). */
void sess_arm_stall(struct session *s)
{
    if (!s->stall_open) {
        if (uv_timer_init(s->m->loop, &s->stall) < 0)
            return;
        s->stall.data = s;
        s->stall_open = true;
        s->refs++;
    }
    if (uv_is_active((uv_handle_t *)&s->stall))
        return;
    for (int i = 0; i < 2; i++)
        if (s->out[i].att)
            s->out[i].att->stall_pos = s->out[i].att->pos;
    s->stall_confirm = false;
    uv_timer_start(&s->stall, on_stall, s->m->lim.stall_ms ? s->m->lim.stall_ms : 1000, 0);
}

void sess_attach_close(struct sess_attach *a)
{
    struct session *s = a->s;
    if (s->out[a->stream].att == a)
        (void)take_attachment(s, a->stream);
    free(a);
    sess_unref(s);
}
