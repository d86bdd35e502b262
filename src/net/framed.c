/* A server of 4-byte length-prefixed frames on net_conn: connection handling for protocols
 * that speak one framed message at a time (the contract is in lenframe.h). It knows nothing of
 * what the frames carry; the running-process door (api/rp/door.c) is its owner in droverd, and
 * tests/unit/test-lenframe.c drives it over socketpairs.
 *
 * Re-entrancy: `depth` counts this file's frames on the stack for a connection (an event from
 * libuv, an owner's call in from outside). Frames are handed over, and a connection is closed,
 * only by the outermost of them on its way out (leave), so the owner never sees on_frame inside
 * on_frame and never has its state freed under a callback it is still running. Everything the
 * owner asks for from inside a callback (release, close, resume) is recorded and acted on there.
 *
 * A closed connection's memory lives until its idle timer's close callback (a loop iteration
 * later), so a pointer kept across a close still points at a struct that says it is closed;
 * every public function checks that. */
#include "net/lenframe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/list.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/paths.h"
#include "net/net.h"

#define IN_SLACK  (1u << 20)  /* what reads may add past a whole frame before reading pauses */
#define BIG_INPUT (64u << 10) /* a connection holding this much input is part of a flood */
/* Frames handed over per connection per loop turn: a pipelining client's next ones wait for
 * the next turn (its reading paused meanwhile), so that it never delays the others by more. */
#define TURN_FRAMES 32

struct lenframe_conn {
    struct lenframe_server *srv;    /* the server, until we are closed */
    DLIST_LINK(lenframe_conn) link; /* in srv->conns while open */
    DLIST_LINK(lenframe_conn) turn; /* in srv->turns while frames wait for the next turn */
    struct net_conn *conn;          /* the socket */
    struct buf in;                  /* bytes received and not yet handed over */
    uv_timer_t idle;                /* the idle timeout; its close callback frees us */
    void *data;                     /* the owner's, passed to its callbacks */
    unsigned depth;                 /* our frames on the stack: closing waits for 0 */
    bool opened;                    /* on_open took us: on_close is owed */
    bool refused;                   /* past max_connections: not counted */
    bool held;                      /* the owner owes the peer an answer */
    bool stream;                    /* streaming: no idle timeout, no output gate */
    bool paused;                    /* the owner does not take frames now */
    bool eof;                       /* the peer sends nothing more */
    bool close_pending;             /* close, flushing, once nothing holds us */
    bool abort;                     /* close now, output dropped (error, idle) */
    bool closed;                    /* closed: only memory is left */
};

struct lenframe_server {
    uv_loop_t *loop;                  /* for timers */
    struct lenframe_limits lim;       /* limits */
    const struct lenframe_handler *h; /* the owner's callbacks */
    void *userdata;                   /* the owner's argument to on_open */
    struct net_listener *l;           /* the socket, or NULL */
    struct lenframe_conn *conns;      /* open connections */
    struct lenframe_conn *turns;      /* of them, those with frames for the next turn */
    uv_idle_t *turn;                  /* runs them; freed by its close callback */
    uint32_t n_open;                  /* of them, not refused */
    bool stopping;                    /* shutdown began */
    bool trim_owed;                   /* a connection that held much input closed: give the
                                         memory back once none holds much */
    void (*done)(void *);             /* shutdown finished */
    void *done_data;                  /* its argument */
};

static void conn_freed(uv_handle_t *h)
{
    free(h->data);
}

static void handle_freed(uv_handle_t *h)
{
    free(h);
}

static void maybe_done(struct lenframe_server *s)
{
    if (s->stopping && !s->conns && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_data);
    }
}

/* The only place a connection ends. Never with our frames on its stack but the caller's. */
static void do_close(struct lenframe_conn *c)
{
    struct lenframe_server *s = c->srv;

    c->closed = true;
    DLIST_REMOVE(c, link);
    DLIST_REMOVE(c, turn);
    if (!c->refused)
        s->n_open--;
    net_conn_close(c->conn, !c->abort);
    s->trim_owed |= c->in.alloc >= BIG_INPUT;
    buf_done(&c->in);
    if (s->trim_owed) {
        bool big = false;
        for (struct lenframe_conn *o = s->conns; o && !big; o = o->link.next)
            big = o->in.alloc >= BIG_INPUT;
        if (!big) { /* glibc keeps freed pages otherwise: RSS would stay at the flood's */
            s->trim_owed = false;
            malloc_trim(0);
        }
    }
    uv_close((uv_handle_t *)&c->idle, conn_freed);
    if (c->opened)
        s->h->on_close(c, c->data);
    maybe_done(s);
}

static void on_idle(uv_timer_t *t)
{
    struct lenframe_conn *c = t->data;
    const struct lenframe_limits *lim = &c->srv->lim;

    log_debug("framed connection idle for %u ms: closing",
              c->refused ? lim->refused_idle_ms : lim->idle_timeout_ms);
    /* Output the peer has not read in all that time is dropped rather than waited on. */
    c->abort = net_conn_pending(c->conn) > 0;
    do_close(c);
}

static void arm_idle(struct lenframe_conn *c)
{
    const struct lenframe_limits *lim = &c->srv->lim;
    uint32_t ms = c->refused ? lim->refused_idle_ms : lim->idle_timeout_ms;

    if (ms && !c->held && !c->stream && !c->closed)
        uv_timer_start(&c->idle, on_idle, ms, 0);
}

static void on_turn(uv_idle_t *idle);

/* Hands whole frames over while the owner takes them and (unless streaming) the peer keeps up
 * with its output, up to TURN_FRAMES: the rest wait for the next turn. */
static void deliver(struct lenframe_conn *c)
{
    struct lenframe_server *s = c->srv;
    const struct lenframe_limits *lim = &s->lim;
    const struct lenframe_handler *h = s->h;

    for (unsigned handed = 0; !c->held && !c->paused && !c->close_pending && !c->abort &&
                              (c->stream || net_conn_pending(c->conn) < lim->out_high);
         handed++) {
        uint32_t n;
        int r = lenframe_next(buf_head(&c->in), c->in.len, lim->max_frame, &n);
        if (r == 0)
            return;
        if (handed == TURN_FRAMES) {
            if (!DLIST_LINKED(c, turn))
                DLIST_PREPEND(&s->turns, c, turn);
            uv_idle_start(s->turn, on_turn);
            return;
        }
        if (r < 0) { /* nothing after it can be found: the stream ends here */
            if (h->on_oversize)
                h->on_oversize(c, n, c->data);
            c->close_pending = true;
            return;
        }
        /* LENFRAME_LATER leaves the frame: the owner paused us (the loop ends), or resumed us
         * again during the call (it is handed straight back). */
        if (h->on_frame(c, buf_head(&c->in) + LENFRAME_HEADER, n, c->data) != LENFRAME_LATER)
            buf_consume(&c->in, LENFRAME_HEADER + n);
    }
}

/* After the outermost frame: closes what should close, else decides whether to read on. */
static void settle(struct lenframe_conn *c)
{
    const struct lenframe_limits *lim = &c->srv->lim;
    uint32_t n;

    if (c->closed)
        return;
    if (c->abort)
        return do_close(c);
    /* A peer that ended its side is closed once nothing it sent can be handed over any more:
     * no whole frame is left (an oversized one still gets its answer), or the owner paused. */
    bool more = lenframe_next(buf_head(&c->in), c->in.len, lim->max_frame, &n) != 0;
    if (!c->held && (c->close_pending || (c->eof && (c->paused || !more))))
        return do_close(c);
    if (c->eof || c->paused || c->close_pending || DLIST_LINKED(c, turn) ||
        c->in.len > (size_t)lim->max_frame + LENFRAME_HEADER ||
        (!c->stream && net_conn_pending(c->conn) >= lim->out_high))
        net_conn_pause(c->conn);
    else
        net_conn_resume(c->conn);
}

static void enter(struct lenframe_conn *c)
{
    c->depth++;
}

static void leave(struct lenframe_conn *c)
{
    if (c->depth == 1 && !c->closed)
        deliver(c);
    if (--c->depth == 0)
        settle(c);
}

/* The next loop turn: each connection that had more frames gets its next ones. */
static void on_turn(uv_idle_t *idle)
{
    struct lenframe_server *s = idle->data;
    struct lenframe_conn *list = s->turns;

    s->turns = NULL;
    if (list)
        list->turn.pprev = &list;
    uv_idle_stop(idle);
    while (list) { /* a close in a callback takes its connection off this list */
        struct lenframe_conn *c = list;
        DLIST_REMOVE(c, turn);
        enter(c);
        leave(c);
    }
}

/* ---- the socket's events ---- */

static void on_read(struct net_conn *conn, const uint8_t *data, size_t len, void *userdata)
{
    struct lenframe_conn *c = userdata;
    (void)conn;

    enter(c);
    if (buf_append(&c->in, data, len) < 0)
        c->close_pending = true; /* cannot happen: reading pauses well before the cap */
    arm_idle(c);
    leave(c);
}

static void on_end(struct net_conn *conn, int error, void *userdata)
{
    struct lenframe_conn *c = userdata;
    (void)conn;

    enter(c);
    if (error)
        c->abort = true;
    else
        c->eof = true; /* a half close: what it sent is still answered */
    leave(c);
}

static void on_drain(struct net_conn *conn, void *userdata)
{
    struct lenframe_conn *c = userdata;
    (void)conn;

    /* A backlogged request connection waits until most of it is gone, not for every write. */
    if (!c->stream && net_conn_pending(c->conn) >= c->srv->lim.out_high / 4)
        return;
    enter(c);
    if (c->stream && c->srv->h->on_drain)
        c->srv->h->on_drain(c, c->data);
    leave(c);
}

static const struct net_conn_handler conn_handler = {on_read, on_end, on_drain};

/* ---- the server ---- */

struct lenframe_server *lenframe_server_new(uv_loop_t *loop, const struct lenframe_limits *lim,
                                            const struct lenframe_handler *h, void *userdata)
{
    struct lenframe_server *s = calloc(1, sizeof *s);

    uv_idle_t *turn = calloc(1, sizeof *turn);

    if (!s || !turn) {
        free(s);
        free(turn);
        return NULL;
    }
    *s = (struct lenframe_server){
        .loop = loop, .lim = *lim, .h = h, .userdata = userdata, .turn = turn};
    uv_idle_init(loop, turn);
    turn->data = s;
    return s;
}

void lenframe_server_accept(struct lenframe_server *s, struct net_conn *conn)
{
    struct lenframe_conn *c = calloc(1, sizeof *c);

    if (!c) {
        net_conn_close(conn, false);
        return;
    }
    c->srv = s;
    c->conn = conn;
    c->data = s->userdata;
    buf_init(&c->in, (size_t)s->lim.max_frame + LENFRAME_HEADER + IN_SLACK);
    uv_timer_init(s->loop, &c->idle);
    c->idle.data = c;
    c->refused = s->n_open >= s->lim.max_connections;
    if (!c->refused)
        s->n_open++;
    DLIST_PREPEND(&s->conns, c, link);
    enter(c);
    if (s->h->on_open(c, s->userdata) < 0) {
        c->depth--;
        c->abort = true;
        do_close(c);
        return;
    }
    c->opened = true;
    net_conn_start(conn, &conn_handler, c);
    arm_idle(c);
    leave(c);
}

static void on_accept(struct net_listener *l, struct net_conn *conn, void *userdata)
{
    (void)l;
    lenframe_server_accept(userdata, conn);
}

/* Fills err and returns r. */
static int fail(int r, char *err, size_t err_size, const char *fmt, ...) _printf_(4, 5);
static int fail(int r, char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return r;
}

/* The socket's directory must be a directory of ours with mode 0700 exactly: the permissions
 * are what keeps other users out. Created if missing. */
static int check_dir(const char *path, const char *what, char *err, size_t err_size)
{
    _cleanup_free_ char *dir = strdup(path);
    struct stat st;

    if (!dir)
        return fail(-ENOMEM, err, err_size, "out of memory");
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return fail(-EINVAL, err, err_size, "%s '%s' needs a directory of its own", what, path);
    *slash = '\0';
    int r = paths_mkdir_parent(path, 0700, true);
    if (r < 0)
        return fail(r, err, err_size, "cannot create '%s'", dir);
    if (lstat(dir, &st) < 0)
        return fail(-errno, err, err_size, "cannot stat '%s'", dir);
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 07777) != 0700)
        return fail(-EPERM, err, err_size,
                    "'%s' is not owner-private (a directory of ours with mode 0700): refusing to "
                    "put the %s there",
                    dir, what);
    return 0;
}

int lenframe_server_listen(struct lenframe_server *s, const char *path,
                           const struct lenframe_listen_opts *o, char *err, size_t err_size)
{
    const char *what = o->what ? o->what : "socket";
    int r = o->private_dir ? check_dir(path, what, err, err_size) : 0;

    if (r < 0)
        return r;
    r = net_listen_unix(s->loop, path, o->mode, on_accept, s, &s->l);
    if (r == -EADDRINUSE)
        snprintf(err, err_size, "something already answers on '%s'", path);
    else if (r < 0)
        snprintf(err, err_size, "cannot listen on '%s'", path);
    return r;
}

void lenframe_server_shutdown(struct lenframe_server *s, void (*done)(void *userdata),
                              void *userdata)
{
    s->stopping = true;
    s->done = done;
    s->done_data = userdata;
    net_listener_close(s->l);
    s->l = NULL;
    /* A connection closed under us keeps its memory (and its next) until the loop runs. */
    for (struct lenframe_conn *c = s->conns, *next; c; c = next) {
        next = c->link.next;
        if (c->closed)
            continue;
        enter(c);
        if (s->h->on_shutdown)
            s->h->on_shutdown(c, c->data);
        c->close_pending = true;
        leave(c);
    }
    maybe_done(s);
}

void lenframe_server_free(struct lenframe_server *s)
{
    if (!s)
        return;
    s->done = NULL; /* whoever frees us is not waiting for a shutdown any more */
    net_listener_close(s->l);
    while (s->conns) {
        s->conns->abort = true;
        do_close(s->conns);
    }
    uv_close((uv_handle_t *)s->turn, handle_freed);
    free(s);
}

/* ---- a connection, for its owner ---- */

void lenframe_conn_set_data(struct lenframe_conn *c, void *data)
{
    c->data = data;
}

struct net_conn *lenframe_conn_net(const struct lenframe_conn *c)
{
    return c->conn;
}

bool lenframe_conn_refused(const struct lenframe_conn *c)
{
    return c->refused;
}

int lenframe_conn_write(struct lenframe_conn *c, struct buf *b)
{
    return c->closed ? -EPIPE : net_conn_write_buf(c->conn, b);
}

int lenframe_conn_send(struct lenframe_conn *c, const ProtobufCMessage *msg)
{
    struct buf out;

    buf_init(&out, 0);
    int r = lenframe_append_message(&out, msg);
    if (r >= 0)
        r = lenframe_conn_write(c, &out);
    buf_done(&out);
    return r;
}

size_t lenframe_conn_pending(const struct lenframe_conn *c)
{
    return c->closed ? 0 : net_conn_pending(c->conn);
}

/* Sets one of c's flags that stop the idle timer (held, stream). */
static void quiet(struct lenframe_conn *c, bool *flag)
{
    if (c->closed)
        return;
    *flag = true;
    uv_timer_stop(&c->idle);
}

/* Sets one of c's flags and runs c through enter/leave: from inside a callback that only
 * records the change; from outside it hands frames over and settles at once. */
static void update(struct lenframe_conn *c, bool *flag, bool value)
{
    if (c->closed)
        return;
    *flag = value;
    enter(c);
    leave(c);
}

void lenframe_conn_hold(struct lenframe_conn *c)
{
    quiet(c, &c->held);
}

void lenframe_conn_release(struct lenframe_conn *c)
{
    if (c->closed || !c->held)
        return;
    c->held = false;
    arm_idle(c);
    update(c, &c->held, false);
}

void lenframe_conn_stream(struct lenframe_conn *c)
{
    quiet(c, &c->stream);
}

void lenframe_conn_pause(struct lenframe_conn *c)
{
    update(c, &c->paused, true);
}

void lenframe_conn_resume(struct lenframe_conn *c)
{
    update(c, &c->paused, false);
}

void lenframe_conn_close(struct lenframe_conn *c)
{
    update(c, &c->close_pending, true);
}
