/* The running-process door: DaemonRequest/DaemonResponse as 4-byte big-endian length-prefixed
 * protobuf on a unix socket, exactly as running-process's Rust client speaks it. This file is
 * the translation only: the connections (limits, idle timeout, back-pressure, closing after the
 * replies are out, graceful shutdown) are the framed server's (net/framed.c), which hands us one
 * frame at a time and holds the connection while an operation's answer is pending. droverd
 * opens it with api_rp_listen (daemon/daemon.c); the rp-door fuzzer feeds it socketpairs.
 *
 * Each connection handles its requests strictly in order: one request runs at a time, and the
 * next frame is not looked at until the reply of the previous one is queued. A reply is always
 * written before a connection is closed (upstream's client notices a silent close only after
 * its 30 s timeout). A client that does not read its replies (running-process's fire-and-forget
 * register client never does) is not read from while OUT_HIGH bytes wait for it.
 *
 * Errors as upstream: an oversized frame gets request_id 0, INVALID_ARGUMENT and a close; a frame
 * that is not a DaemonRequest gets request_id 0, INVALID_ARGUMENT and the connection goes on;
 * type 0 and unknown types are UNKNOWN_REQUEST; a type whose feature is not built yet is
 * UNIMPLEMENTED; a missing payload the operation needs is INVALID_ARGUMENT. A connection past
 * the limit, or one that asks during shutdown, gets UNAVAILABLE and a close.
 *
 * An attach (ATTACH_PTY_SESSION, ATTACH_PIPE_STREAM) turns the connection into a stream for the
 * rest of its life, as upstream: one DaemonResponse with the backlog, then framed
 * PtyStreamFrame / PipeStreamFrame messages out and PtyInputFrame messages in. Output is pulled
 * from the session's ring only while fewer than OUT_HIGH bytes wait for the client, so a client
 * that stops reading holds no memory but the ring's; one that falls a ring behind gets a
 * missed_bytes frame. Input is taken only while the session's input queue is under IN_HIGH. A
 * failed attach answers, then closes; at shutdown a stream ends with a last frame. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/rp/rp.h"
#include "api/authz.h"
#include "api/rp/ops.h"
#include "api/status.h"
#include "base/log.h"
#include "base/macro.h"
#include "net/lenframe.h"
#include "net/net.h"
#include "running_process/daemon/v1/daemon.pb-c.h"
#include "session/session.h"

#define MAX_FRAME       (4u << 20)   /* upstream's server cap */
#define OUT_HIGH        (256u << 10) /* stop reading a client this far behind */
#define REFUSED_IDLE_MS 5000         /* a refused connection gets this long to ask */
#define IN_HIGH         (256u << 10) /* stop taking keys while this much input waits */

struct rp_conn {
    struct rp_server *srv;    /* owner */
    struct lenframe_conn *fc; /* the framed connection */
    struct rp_call call;      /* the request running, if busy */
    uint64_t request_id;      /* its id, echoed */
    int type;                 /* its type: the reply's payload field */
    bool busy;                /* a request is running (fc is held) */
    bool refused;             /* over the connection limit: answer once, then close */
    unsigned scopes;          /* what the peer may do (SO_PEERCRED, api/authz.c) */
    char who[32];             /* "uid:N", for refusals and audit lines */
    struct sess_attach *att;  /* streaming: the attachment */
    bool pty;                 /* streaming a PTY (input frames are read) */
    struct sess_write resume; /* streaming: waits for the session's input queue to drain */
};

struct rp_server {
    struct api_host *host;      /* the daemon */
    struct lenframe_server *fs; /* the connections */
    bool stopping;              /* shutdown began: requests get UNAVAILABLE */
};

/* Queues one DaemonResponse. A reply that cannot be sent (out of memory) closes the connection:
 * the client would otherwise wait for it forever. */
static void reply(struct rp_conn *c, uint64_t id, rp_status code, const char *msg,
                  const ProtobufCMessage *payload)
{
    RunningProcess__Daemon__V1__DaemonResponse resp =
        RUNNING_PROCESS__DAEMON__V1__DAEMON_RESPONSE__INIT;

    resp.request_id = id;
    resp.code = code;
    resp.message = (char *)(msg ? msg : "");
    const ProtobufCFieldDescriptor *f =
        payload ? protobuf_c_message_descriptor_get_field(
                      &running_process__daemon__v1__daemon_response__descriptor, (unsigned)c->type)
                : NULL;
    if (f && f->descriptor == payload->descriptor)
        *(const ProtobufCMessage **)((char *)&resp + f->offset) = payload;
    int r = lenframe_conn_send(c->fc, &resp.base);
    if (r < 0) {
        log_warning_errno(r, "cannot send a running-process reply: closing");
        lenframe_conn_close(c->fc);
    }
}

static void on_done(struct rp_call *call, int r, const char *msg, const ProtobufCMessage *resp)
{
    struct rp_conn *c = call->door;

    reply(c, c->request_id, api_rp_status(r), msg ? msg : r < 0 ? strerror(-r) : NULL, resp);
    c->busy = false;
    /* From a timer (a kill-tree), this takes the next request now, or closes: c may be gone. */
    lenframe_conn_release(c->fc);
}

/* ---- attach streams ---- */

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
    while (lenframe_conn_pending(c->fc) + out.len < OUT_HIGH) {
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
    if (out.len && lenframe_conn_write(c->fc, &out) < 0)
        end = true; /* the same: bytes lost */
    buf_done(&out);
    if (end) {
        sess_attach_close(c->att);
        c->att = NULL;
        lenframe_conn_close(c->fc); /* from a session event: c may be gone */
    }
}

static void on_attach_ready(struct sess_attach *a, void *userdata)
{
    (void)a;
    pump(userdata);
}

static const struct sess_attach_ops attach_ops = {on_attach_ready};

static void attach(struct rp_conn *c, const RunningProcess__Daemon__V1__DaemonRequest *req)
{
    bool pty = req->type == RP_TYPE(ATTACH_PTY_SESSION);
    const ProtobufCMessage *payload = pty ? (const ProtobufCMessage *)req->attach_pty_session
                                          : (const ProtobufCMessage *)req->attach_pipe_stream;
    union rp_frame_storage st;
    struct rp_attach ra;
    char msg[256];

    if (!payload) {
        snprintf(msg, sizeof msg, "missing %s payload",
                 pty ? "attach_pty_session" : "attach_pipe_stream");
        reply(c, req->id, RP_INVALID_ARGUMENT, msg, NULL);
        lenframe_conn_close(c->fc);
        return;
    }
    int r = rp_attach_start(c->srv->host, pty, payload, NULL, &attach_ops, c, &ra, msg, sizeof msg);
    if (r < 0) { /* upstream: the default payload with the code, then the connection closes */
        ra = (struct rp_attach){.pty = pty};
        reply(c, req->id, api_rp_status(r), msg, rp_attach_response(&ra, &st));
        lenframe_conn_close(c->fc);
        return;
    }
    reply(c, req->id, RP_OK, NULL, rp_attach_response(&ra, &st));
    rp_attach_response_done(&ra);
    c->att = ra.a;
    c->pty = pty;
    lenframe_conn_stream(c->fc);
    pump(c);
}

static void on_input_drained(struct sess_write *w, int r)
{
    struct rp_conn *c = container_of(w, struct rp_conn, resume);
    (void)r;
    lenframe_conn_resume(c->fc);
}

/* A client's frame on an attach stream: a PtyInputFrame for a PTY, ignored for a pipe (as
 * upstream). Left for later while the session's input queue is full. */
static int stream_frame(struct rp_conn *c, const uint8_t *p, uint32_t n)
{
    struct session *s = sess_attach_session(c->att);
    int detach = 0;

    if (sess_input_pending(s) >= IN_HIGH) {
        lenframe_conn_pause(c->fc);
        if (!c->resume.s) /* resumed by on_input_drained (not at all if input ended) */
            (void)sess_write(s, NULL, 0, &c->resume);
        return LENFRAME_LATER;
    }
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
    if (detach == 1) {
        /* A clean detach: the session goes on; the daemon just closes. */
        sess_attach_close(c->att);
        c->att = NULL;
        lenframe_conn_close(c->fc);
    } else if (detach < 0) {
        log_debug("running-process attach: input dropped: %s", strerror(-detach));
    }
    return 0;
}

/* ---- requests ---- */

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
    net_conn_peer_address(lenframe_conn_net(c->fc), peer, sizeof peer);
    authz_audit(c->srv->host->authz, "running-process", peer, c->who, what, msg);
    reply(c, id, RP_ERROR, msg, NULL);
}

/* Runs op with the request's payload, or a default one when the operation can do without. */
static void run(struct rp_conn *c, const struct rp_op *op,
                const RunningProcess__Daemon__V1__DaemonRequest *req)
{
    union {
        ProtobufCMessage m;
        max_align_t align;
        char bytes[256];
    } def;
    char msg[160];
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &running_process__daemon__v1__daemon_request__descriptor, (unsigned)op->type);
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
    lenframe_conn_hold(c->fc);
    op->run(&c->call, payload);
}

static void dispatch(struct rp_conn *c, const RunningProcess__Daemon__V1__DaemonRequest *req)
{
    char msg[160];
    int type = (int)req->type;

    c->request_id = req->id;
    c->type = type;
    if (c->refused || c->srv->stopping) {
        reply(c, req->id, RP_UNAVAILABLE,
              c->refused ? "too many connections; try again later" : "shutting down", NULL);
        lenframe_conn_close(c->fc);
        return;
    }
    if (type == RP_TYPE(UNSPECIFIED))
        return reply(c, req->id, RP_UNKNOWN_REQUEST, "unspecified request type", NULL);
    unsigned need = authz_rp_scope(type);
    if ((c->scopes & need) != need)
        return refuse(c, req->id, type, need);
    if (type == RP_TYPE(ATTACH_PTY_SESSION) || type == RP_TYPE(ATTACH_PIPE_STREAM))
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
    run(c, op, req);
}

/* ---- the framed server's callbacks ---- */

static int on_open(struct lenframe_conn *fc, void *userdata)
{
    struct rp_server *s = userdata;
    struct rp_conn *c = calloc(1, sizeof *c);

    if (!c)
        return -ENOMEM;
    c->srv = s;
    c->fc = fc;
    c->scopes = authz_peer_scopes(s->host->authz, lenframe_conn_net(fc), c->who, sizeof c->who);
    c->resume.done = on_input_drained;
    c->refused = lenframe_conn_refused(fc);
    if (c->refused)
        log_warning_ratelimited("running-process door: %u connections open, refusing one more",
                                s->host->rp_connections);
    else
        s->host->rp_connections++;
    lenframe_conn_set_data(fc, c);
    return 0;
}

static int on_frame(struct lenframe_conn *fc, const uint8_t *p, uint32_t n, void *data)
{
    struct rp_conn *c = data;
    (void)fc;

    if (c->att)
        return stream_frame(c, p, n);
    RunningProcess__Daemon__V1__DaemonRequest *req =
        running_process__daemon__v1__daemon_request__unpack(NULL, n, p);
    if (!req) {
        c->type = 0;
        reply(c, 0, RP_INVALID_ARGUMENT, "protobuf decode error: the frame is not a DaemonRequest",
              NULL);
        return 0;
    }
    dispatch(c, req);
    running_process__daemon__v1__daemon_request__free_unpacked(req, NULL);
    return 0;
}

static void on_oversize(struct lenframe_conn *fc, uint32_t n, void *data)
{
    struct rp_conn *c = data;
    char msg[128];
    (void)fc;

    if (c->att)
        return; /* a stream just ends: there is no request to answer */
    snprintf(msg, sizeof msg, "frame decode error: frame of %u bytes exceeds the %u-byte limit", n,
             MAX_FRAME);
    c->type = 0;
    reply(c, 0, RP_INVALID_ARGUMENT, msg, NULL);
}

static void on_drain(struct lenframe_conn *fc, void *data)
{
    (void)fc;
    pump(data);
}

/* An attach stream ends with a last frame that says why. */
static void on_shutdown(struct lenframe_conn *fc, void *data)
{
    struct rp_conn *c = data;
    struct sess_pull p = {.end = SESS_END_GONE};
    struct buf out;

    if (!c->att)
        return;
    buf_init(&out, 0);
    if (add_frame(&out, c->pty, &p) == 0)
        (void)lenframe_conn_write(fc, &out);
    buf_done(&out);
    sess_attach_close(c->att);
    c->att = NULL;
}

static void on_close(struct lenframe_conn *fc, void *data)
{
    struct rp_conn *c = data;
    (void)fc;

    if (c->busy)
        rp_call_abandon(&c->call);
    sess_write_cancel(&c->resume);
    if (c->att)
        sess_attach_close(c->att);
    if (!c->refused)
        c->srv->host->rp_connections--;
    free(c);
}

static const struct lenframe_handler handler = {
    .on_open = on_open,
    .on_frame = on_frame,
    .on_oversize = on_oversize,
    .on_drain = on_drain,
    .on_shutdown = on_shutdown,
    .on_close = on_close,
};

/* ---- the door ---- */

struct rp_server *api_rp_new(struct api_host *host, const struct rp_limits *lim)
{
    const struct lenframe_limits fl = {
        .max_frame = MAX_FRAME,
        .max_connections = lim->max_connections,
        .idle_timeout_ms = lim->idle_timeout_ms,
        .refused_idle_ms = REFUSED_IDLE_MS,
        .out_high = OUT_HIGH,
    };
    struct rp_server *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->host = host;
    s->fs = lenframe_server_new(host->loop, &fl, &handler, s);
    if (!s->fs) {
        free(s);
        return NULL;
    }
    return s;
}

void api_rp_accept(struct rp_server *s, struct net_conn *conn)
{
    lenframe_server_accept(s->fs, conn);
}

int api_rp_listen(struct api_host *host, const char *path, const struct rp_limits *lim,
                  struct rp_server **ret)
{
    /* The socket's directory must be ours and 0700 exactly: upstream's rule. */
    static const struct lenframe_listen_opts o = {
        .mode = 0600, .private_dir = true, .what = "running-process socket"};
    char err[512];
    struct rp_server *s = api_rp_new(host, lim);

    if (!s)
        return -ENOMEM;
    int r = lenframe_server_listen(s->fs, path, &o, err, sizeof err);
    if (r < 0) {
        api_rp_free(s);
        if (r == -EADDRINUSE)
            return log_error_errno(r, "a running-process daemon already answers on '%s'", path);
        return log_error_errno(r, "%s", err);
    }
    *ret = s;
    return 0;
}

void api_rp_shutdown(struct rp_server *s, void (*done)(void *userdata), void *userdata)
{
    s->stopping = true;
    lenframe_server_shutdown(s->fs, done, userdata);
}

void api_rp_free(struct rp_server *s)
{
    if (!s)
        return;
    lenframe_server_free(s->fs);
    free(s);
}
