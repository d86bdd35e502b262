/* The running-process door: DaemonRequest/DaemonResponse as 4-byte big-endian length-prefixed
 * protobuf on a unix socket, exactly as running-process's Rust client speaks it.
 *
 * Each connection handles its requests strictly in order: one request runs at a time, and the
 * next frame is not looked at until the reply of the previous one is queued. A reply is always
 * written before a connection is closed (upstream's client notices a silent close only after
 * its 30 s timeout). Flow control per connection: while more than OUT_HIGH bytes of replies wait
 * for a client that does not read (running-process's fire-and-forget register client never
 * does), or a whole frame's worth of input is buffered, that connection stops being read; nobody
 * else notices.
 *
 * Errors as upstream: an oversized frame gets request_id 0, INVALID_ARGUMENT and a close; a frame
 * that is not a DaemonRequest gets request_id 0, INVALID_ARGUMENT and the connection goes on;
 * type 0 and unknown types are UNKNOWN_REQUEST; a type whose feature is not built yet is
 * UNIMPLEMENTED; a missing payload the operation needs is INVALID_ARGUMENT.
 *
 * An attach (ATTACH_PTY_SESSION, ATTACH_PIPE_STREAM) turns the connection into a stream for the
 * rest of its life, as upstream: one DaemonResponse with the backlog, then framed
 * PtyStreamFrame / PipeStreamFrame messages out and PtyInputFrame messages in. Output is pulled
 * from the session's ring only while fewer than OUT_HIGH bytes wait for the client, so a client
 * that stops reading holds no memory but the ring's; one that falls a ring behind gets a
 * missed_bytes frame. Input is read only while the session's input queue is under IN_HIGH. A
 * failed attach answers, then closes. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/rp/rp.h"
#include "api/authz.h"
#include "api/rp/ops.h"
#include "api/status.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/paths.h"
#include "grpc/wire.h"
#include "net/lenframe.h"
#include "net/net.h"
#include "running_process/daemon/v1/daemon.pb-c.h"
#include "session/session.h"

#define MAX_FRAME        (4u << 20)               /* upstream's server cap */
#define IN_CAP           (MAX_FRAME + (1u << 20)) /* one whole frame plus what a read may add */
#define OUT_HIGH         (256u << 10)             /* stop reading a client this far behind */
#define REFUSED_IDLE_MS  5000                     /* a refused connection gets this long to ask */
#define IN_HIGH          (256u << 10) /* stop reading keys while this much input waits */
#define TYPE_ATTACH_PTY  RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_ATTACH_PTY_SESSION
#define TYPE_ATTACH_PIPE RUNNING_PROCESS__DAEMON__V1__REQUEST_TYPE__REQUEST_TYPE_ATTACH_PIPE_STREAM

struct rp_conn {
    struct rp_server *srv;       /* owner */
    struct rp_conn *next, *prev; /* in srv->conns */
    struct net_conn *conn;       /* the socket */
    struct buf in;               /* bytes received and not yet handled */
    uv_timer_t idle;             /* closes a connection that asks nothing; frees us on close */
    struct rp_call call;         /* the request running, if busy */
    uint64_t request_id;         /* its id, echoed */
    int type;                    /* its type: the reply's payload field */
    bool busy;                   /* a request is running */
    bool in_process;             /* inside process(): closing is deferred to its end */
    bool eof;                    /* the peer will send nothing more */
    bool close_pending;          /* close (flushing) once nothing runs */
    bool refused;                /* over the connection limit: answer once, then close */
    unsigned scopes;             /* what the peer may do (SO_PEERCRED, api/authz.c) */
    char who[32];                /* "uid:N", for refusals and audit lines */
    struct sess_attach *att;     /* streaming: the attachment */
    bool pty;                    /* streaming a PTY (input frames are read) */
    struct sess_write resume;    /* streaming: waits for the session's input queue to drain */
};

struct rp_server {
    struct api_host *host;  /* the daemon */
    struct net_listener *l; /* the socket */
    struct rp_conn *conns;  /* open connections */
    struct rp_limits lim;   /* limits */
    bool stopping;          /* shutdown began */
    void (*done)(void *);   /* shutdown finished */
    void *done_data;        /* its argument */
};

static void process(struct rp_conn *c);
static void pump(struct rp_conn *c);

static void conn_freed(uv_handle_t *h)
{
    free(h->data);
}

static void maybe_done(struct rp_server *s)
{
    if (s->stopping && !s->conns && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_data);
    }
}

static void conn_close(struct rp_conn *c, bool flush)
{
    struct rp_server *s = c->srv;

    if (c->busy)
        rp_call_abandon(&c->call);
    sess_write_cancel(&c->resume);
    if (c->att) {
        sess_attach_close(c->att);
        c->att = NULL;
    }
    if (c->next)
        c->next->prev = c->prev;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (!c->refused)
        s->host->rp_connections--;
    net_conn_close(c->conn, flush);
    buf_done(&c->in);
    uv_close((uv_handle_t *)&c->idle, conn_freed);
    maybe_done(s);
}

static void on_idle(uv_timer_t *t)
{
    struct rp_conn *c = t->data;
    log_debug("running-process connection idle for %u ms: closing", c->srv->lim.idle_timeout_ms);
    /* Replies it has not read in all that time are dropped rather than waited on forever. */
    conn_close(c, net_conn_pending(c->conn) == 0);
}

static void arm_idle(struct rp_conn *c)
{
    uint32_t ms = c->refused ? REFUSED_IDLE_MS : c->srv->lim.idle_timeout_ms;
    if (ms && !c->busy)
        uv_timer_start(&c->idle, on_idle, ms, 0);
}

/* Queues one DaemonResponse. A reply that cannot be built (out of memory) closes the
 * connection: the client would otherwise wait for it forever. */
static void reply(struct rp_conn *c, uint64_t id, int code, const char *msg,
                  const ProtobufCMessage *payload)
{
    RunningProcess__Daemon__V1__DaemonResponse resp =
        RUNNING_PROCESS__DAEMON__V1__DAEMON_RESPONSE__INIT;
    struct buf out;

    resp.request_id = id;
    resp.code = code;
    resp.message = (char *)(msg ? msg : "");
    const ProtobufCFieldDescriptor *f =
        payload ? protobuf_c_message_descriptor_get_field(
                      &running_process__daemon__v1__daemon_response__descriptor, (unsigned)c->type)
                : NULL;
    if (f && f->descriptor == payload->descriptor)
        *(const ProtobufCMessage **)((char *)&resp + f->offset) = payload;
    buf_init(&out, 0);
    int r = lenframe_append_message(&out, &resp.base);
    if (r < 0) {
        buf_done(&out);
        log_warning_errno(r, "cannot build a running-process reply: closing");
        c->close_pending = true;
        return;
    }
    (void)net_conn_write_buf(c->conn, &out);
    buf_done(&out);
}

static void on_done(struct rp_call *call, int r, const char *msg, const ProtobufCMessage *resp)
{
    struct rp_conn *c = call->door;

    reply(c, c->request_id, api_rp_status(r), msg ? msg : r < 0 ? strerror(-r) : NULL, resp);
    c->busy = false;
    arm_idle(c);
    if (!c->in_process)
        process(c); /* an operation that finished later, from a timer: take the next request */
}

/* ---- attach streams ---- */

static void on_attach_ready(struct sess_attach *a, void *userdata)
{
    (void)a;
    pump(userdata);
}

static const struct sess_attach_ops attach_ops = {on_attach_ready};

static void attach(struct rp_conn *c, const RunningProcess__Daemon__V1__DaemonRequest *req)
{
    bool pty = req->type == TYPE_ATTACH_PTY;
    const ProtobufCMessage *payload = pty ? (const ProtobufCMessage *)req->attach_pty_session
                                          : (const ProtobufCMessage *)req->attach_pipe_stream;
    union rp_frame_storage st;
    struct rp_attach ra;
    char msg[256];

    if (!payload) {
        snprintf(msg, sizeof msg, "missing %s payload",
                 pty ? "attach_pty_session" : "attach_pipe_stream");
        reply(c, req->id, RP_INVALID_ARGUMENT, msg, NULL);
        c->close_pending = true;
        return;
    }
    int r = rp_attach_start(c->srv->host, pty, payload, &attach_ops, c, &ra, msg, sizeof msg);
    if (r < 0) { /* upstream: the default payload with the code, then the connection closes */
        ra = (struct rp_attach){.pty = pty};
        reply(c, req->id, api_rp_status(r), msg, rp_attach_response(&ra, &st));
        c->close_pending = true;
        return;
    }
    reply(c, req->id, 0, NULL, rp_attach_response(&ra, &st));
    rp_attach_response_done(&ra);
    c->att = ra.a;
    c->pty = pty;
    uv_timer_stop(&c->idle); /* attach streams have no idle timeout */
    pump(c);
}

/* Appends one frame to out. */
static int add_frame(struct buf *out, bool pty, const struct sess_pull *p)
{
    union rp_frame_storage st;
    const ProtobufCMessage *m = rp_attach_frame(pty, p, &st);
    return m ? lenframe_append_message(out, m) : 0;
}

/* Sends what the attachment has while the client keeps up; after the terminal frame the
 * attachment ends and the connection closes once the frame is out. */
static void pump(struct rp_conn *c)
{
    struct buf out;
    bool end = false;

    if (!c->att)
        return;
    buf_init(&out, 0);
    while (net_conn_pending(c->conn) + out.len < OUT_HIGH) {
        struct sess_pull p;
        sess_attach_next(c->att, RP_FRAME_CHUNK, &p);
        if (!p.missed && !p.len && p.end == SESS_END_NONE)
            break;
        if (add_frame(&out, c->pty, &p) < 0) {
            end = true; /* out of memory: end the stream rather than lose bytes silently */
            break;
        }
        sess_attach_consume(c->att, p.len);
        if (p.end != SESS_END_NONE && !p.missed && !p.len) {
            end = true;
            break;
        }
    }
    if (out.len)
        (void)net_conn_write_buf(c->conn, &out);
    buf_done(&out);
    if (end) {
        sess_attach_close(c->att);
        c->att = NULL;
        c->close_pending = true;
        if (!c->in_process)
            conn_close(c, true);
    }
}

static void on_input_drained(struct sess_write *w, int r)
{
    struct rp_conn *c = container_of(w, struct rp_conn, resume);
    (void)r;
    if (!c->in_process)
        process(c);
}

/* The client's frames on an attach stream: PtyInputFrame for a PTY, ignored for a pipe (as
 * upstream). Stops at a detach, or while the session's input queue is full. */
static void stream_input(struct rp_conn *c)
{
    while (c->att && !c->close_pending) {
        struct session *s = sess_attach_session(c->att);
        if (sess_input_pending(s) >= IN_HIGH) {
            if (!c->resume.s) /* resumed by on_input_drained (not at all if input ended) */
                (void)sess_write(s, NULL, 0, &c->resume);
            break;
        }
        uint32_t n;
        int r = lenframe_next(buf_head(&c->in), c->in.len, MAX_FRAME, &n);
        if (r == 0)
            break;
        if (r < 0) {
            c->close_pending = true; /* a frame past the cap: nothing sane follows */
            break;
        }
        const uint8_t *p = buf_head(&c->in) + LENFRAME_HEADER;
        int detach = 0;
        if (c->pty) {
            RunningProcess__Daemon__V1__PtyInputFrame *f =
                running_process__daemon__v1__pty_input_frame__unpack(NULL, n, p);
            if (f) { /* one that does not decode is skipped, as upstream */
                detach = rp_attach_input(c->att, &f->base);
                running_process__daemon__v1__pty_input_frame__free_unpacked(f, NULL);
            } else {
                log_debug("running-process attach: skipping a frame that is not a PtyInputFrame");
            }
        }
        buf_consume(&c->in, LENFRAME_HEADER + n);
        if (detach == 1) {
            /* A clean detach: the session goes on; the daemon just closes. */
            sess_attach_close(c->att);
            c->att = NULL;
            c->close_pending = true;
        } else if (detach < 0) {
            log_debug("running-process attach: input dropped: %s", strerror(-detach));
        }
    }
    if (c->eof && c->att) { /* the client went: its attachment goes with it */
        sess_attach_close(c->att);
        c->att = NULL;
        c->close_pending = true;
    }
}

static const char *type_name(int type)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &running_process__daemon__v1__request_type__descriptor, type);
    return v ? v->name : NULL;
}

/* A request the peer's credentials do not allow: an error naming why, and an audit line.
 * (running-process has no PERMISSION_DENIED status; ERROR with the reason is the closest.) */
static void refuse(struct rp_conn *c, uint64_t id, int type, unsigned need)
{
    char msg[200], what[64], peer[48];
    const char *name = type_name(type);

    if (c->scopes)
        snprintf(msg, sizeof msg, "permission denied: %s has scope %s; %s needs %s", c->who,
                 auth_scopes_name(c->scopes), name ? name : "this request",
                 need == AUTH_CONTROL ? "control" : "read");
    else
        snprintf(msg, sizeof msg, "permission denied: %s may not use this socket", c->who);
    snprintf(what, sizeof what, "%s", name ? name : "?");
    net_conn_peer_address(c->conn, peer, sizeof peer);
    authz_audit(c->srv->host->authz, "running-process", peer, c->who, what, msg);
    reply(c, id, RP_ERROR, msg, NULL);
}

static void dispatch(struct rp_conn *c, const RunningProcess__Daemon__V1__DaemonRequest *req)
{
    union {
        ProtobufCMessage m;
        max_align_t align;
        char bytes[256];
    } def;
    char msg[160];
    int type = (int)req->type;

    c->request_id = req->id;
    c->type = type;
    if (c->refused || c->srv->stopping) {
        reply(c, req->id, RP_UNAVAILABLE,
              c->refused ? "too many connections; try again later" : "shutting down", NULL);
        c->close_pending = true;
        return;
    }
    if (type == 0)
        return reply(c, req->id, RP_UNKNOWN_REQUEST, "unspecified request type", NULL);
    unsigned need = authz_rp_scope(type);
    if ((c->scopes & need) != need)
        return refuse(c, req->id, type, need);
    if (type == TYPE_ATTACH_PTY || type == TYPE_ATTACH_PIPE)
        return attach(c, req);
    const struct rp_op *op = rp_op_find(type);
    if (!op) {
        const char *name = type_name(type);
        if (name)
            snprintf(msg, sizeof msg, "request type %s (%d) is not implemented yet", name, type);
        else
            snprintf(msg, sizeof msg, "unknown request type: %d", type);
        return reply(c, req->id, name ? RP_UNIMPLEMENTED : RP_UNKNOWN_REQUEST, msg, NULL);
    }
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &running_process__daemon__v1__daemon_request__descriptor, (unsigned)type);
    const ProtobufCMessage *payload = *(ProtobufCMessage *const *)((const char *)req + f->offset);
    if (!payload) {
        if (op->needs_payload || op->req->sizeof_message > sizeof def) {
            snprintf(msg, sizeof msg, "missing %s payload", op->payload);
            return reply(c, req->id, RP_INVALID_ARGUMENT, msg, NULL);
        }
        protobuf_c_message_init(op->req, &def);
        payload = &def.m;
    }
    c->call = (struct rp_call){
        .host = c->srv->host,
        .client_name = req->client_name,
        .done = on_done,
        .door = c,
    };
    c->busy = true;
    uv_timer_stop(&c->idle);
    op->run(&c->call, payload);
}

/* Handles whole frames while nothing runs and the client keeps up with its replies, then
 * decides whether to keep reading. */
static void process(struct rp_conn *c)
{
    c->in_process = true;
    if (c->att)
        stream_input(c);
    while (!c->att && !c->busy && !c->close_pending && net_conn_pending(c->conn) < OUT_HIGH) {
        uint32_t n;
        int r = lenframe_next(buf_head(&c->in), c->in.len, MAX_FRAME, &n);
        if (r == 0)
            break;
        if (r < 0) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "frame decode error: frame of %u bytes exceeds the %u-byte limit", n,
                     MAX_FRAME);
            c->type = 0;
            reply(c, 0, RP_INVALID_ARGUMENT, msg, NULL);
            c->close_pending = true;
            break;
        }
        RunningProcess__Daemon__V1__DaemonRequest *req =
            running_process__daemon__v1__daemon_request__unpack(NULL, n,
                                                                buf_head(&c->in) + LENFRAME_HEADER);
        buf_consume(&c->in, LENFRAME_HEADER + n);
        if (!req) {
            c->type = 0;
            reply(c, 0, RP_INVALID_ARGUMENT,
                  "protobuf decode error: the frame is not a DaemonRequest", NULL);
            continue;
        }
        dispatch(c, req);
        running_process__daemon__v1__daemon_request__free_unpacked(req, NULL);
    }
    c->in_process = false;
    if (c->close_pending || (c->eof && !c->busy && c->in.len < LENFRAME_HEADER)) {
        if (!c->busy)
            conn_close(c, true);
        return;
    }
    if (c->in.len > MAX_FRAME + LENFRAME_HEADER || c->eof || c->resume.s ||
        (!c->att && net_conn_pending(c->conn) >= OUT_HIGH))
        net_conn_pause(c->conn);
    else
        net_conn_resume(c->conn);
}

static void on_read(struct net_conn *conn, const uint8_t *data, size_t len, void *userdata)
{
    struct rp_conn *c = userdata;
    (void)conn;
    if (buf_append(&c->in, data, len) < 0) {
        c->close_pending = true; /* cannot happen: reading pauses well before the cap */
    }
    if (!c->att)
        arm_idle(c);
    process(c);
}

static void on_end(struct net_conn *conn, int error, void *userdata)
{
    struct rp_conn *c = userdata;
    (void)conn;
    if (error) {
        conn_close(c, false);
        return;
    }
    /* The client half-closed: answer what it already sent, then close. */
    c->eof = true;
    process(c);
}

static void on_drain(struct net_conn *conn, void *userdata)
{
    struct rp_conn *c = userdata;
    (void)conn;
    if (c->att)
        pump(c);
    else if (net_conn_pending(c->conn) < OUT_HIGH / 4)
        process(c);
}

static const struct net_conn_handler handler = {on_read, on_end, on_drain};

void api_rp_accept(struct rp_server *s, struct net_conn *conn)
{
    struct rp_conn *c = calloc(1, sizeof *c);

    if (!c) {
        net_conn_close(conn, false);
        return;
    }
    c->srv = s;
    c->conn = conn;
    c->scopes = authz_peer_scopes(s->host->authz, conn, c->who, sizeof c->who);
    c->resume.done = on_input_drained;
    buf_init(&c->in, IN_CAP);
    uv_timer_init(s->host->loop, &c->idle);
    c->idle.data = c;
    if (s->host->rp_connections >= s->lim.max_connections) {
        c->refused = true;
        log_warning("running-process door: %u connections open, refusing one more",
                    s->host->rp_connections);
    } else {
        s->host->rp_connections++;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    net_conn_start(conn, &handler, c);
    arm_idle(c);
}

static void on_accept(struct net_listener *l, struct net_conn *conn, void *userdata)
{
    (void)l;
    api_rp_accept(userdata, conn);
}

struct rp_server *api_rp_new(struct api_host *host, const struct rp_limits *lim)
{
    struct rp_server *s = calloc(1, sizeof *s);
    if (s) {
        s->host = host;
        s->lim = *lim;
    }
    return s;
}

/* The socket's directory must be a directory of ours with mode 0700 exactly: the permissions
 * are what keeps other users out (upstream's rule). Created if missing. */
static int check_dir(const char *path)
{
    _cleanup_free_ char *dir = strdup(path);
    struct stat st;

    if (!dir)
        return -ENOMEM;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return log_error_errno(-EINVAL, "running-process socket '%s' needs a directory of its own",
                               path);
    *slash = '\0';
    int r = paths_mkdir_parent(path, 0700, true);
    if (r < 0)
        return log_error_errno(r, "cannot create '%s'", dir);
    if (lstat(dir, &st) < 0)
        return log_error_errno(-errno, "cannot stat '%s'", dir);
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 07777) != 0700)
        return log_error_errno(-EPERM,
                               "'%s' is not owner-private (a directory of ours with mode "
                               "0700): refusing to put the running-process socket there",
                               dir);
    return 0;
}

int api_rp_listen(struct api_host *host, const char *path, const struct rp_limits *lim,
                  struct rp_server **ret)
{
    struct rp_server *s;
    int r = check_dir(path);

    if (r < 0)
        return r;
    s = api_rp_new(host, lim);
    if (!s)
        return -ENOMEM;
    r = net_listen_unix(host->loop, path, 0600, on_accept, s, &s->l);
    if (r < 0) {
        free(s);
        if (r == -EADDRINUSE)
            return log_error_errno(r, "a running-process daemon already answers on '%s'", path);
        return log_error_errno(r, "cannot listen on '%s'", path);
    }
    *ret = s;
    return 0;
}

void api_rp_shutdown(struct rp_server *s, void (*done)(void *userdata), void *userdata)
{
    s->stopping = true;
    s->done = done;
    s->done_data = userdata;
    net_listener_close(s->l);
    s->l = NULL;
    for (struct rp_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->att) { /* an attach stream ends with a last frame that says why */
            struct sess_pull p = {.end = SESS_END_GONE};
            struct buf out;
            buf_init(&out, 0);
            if (add_frame(&out, c->pty, &p) == 0)
                (void)net_conn_write_buf(c->conn, &out);
            buf_done(&out);
            sess_attach_close(c->att);
            c->att = NULL;
        }
        c->close_pending = true;
        if (!c->in_process && !c->busy)
            conn_close(c, true);
    }
    maybe_done(s);
}

void api_rp_free(struct rp_server *s)
{
    if (!s)
        return;
    net_listener_close(s->l);
    while (s->conns)
        conn_close(s->conns, false);
    free(s);
}
