/* The gRPC server: one nghttp2 session per connection, one struct grpc_call per HTTP/2 stream.
 *
 * Data path. Bytes from the peer go to nghttp2_session_mem_recv; its callbacks collect request
 * headers into the call, resolve the method when the headers end, deframe DATA into messages,
 * decode them and hand them to the handler. Responses are packed into the call's queue (out)
 * and pulled by nghttp2 through a data provider as flow control allows; when the queue is empty
 * the provider defers, and grpc_call_send resumes it. Trailers are submitted from the data
 * provider once the queue is empty and the call finished.
 *
 * Bounds. Receive windows are consumed by hand (no automatic WINDOW_UPDATE): bytes of complete
 * messages are released at once, bytes of a partial message only when it completes, so what a
 * connection can make us hold is capped by its connection window. Output handed to the socket is
 * capped per connection (OUT_HIGH; reading pauses above it), and each call's queue is capped
 * (CALL_HIGH; grpc_call_send says -ENOBUFS and on_ready follows).
 *
 * Re-entrancy. Handlers run inside nghttp2 callbacks and may submit responses there. A
 * connection is flushed and closed only from top-level contexts: the end of a read, a write
 * completion, or the server's idle handle, which runs the connections marked dirty by calls made
 * from timers and other events. */
#include "grpc/grpc.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/gzip.h"
#include "base/log.h"
#include "net/net.h"

#define OUT_HIGH  (256 * 1024) /* bytes queued to a socket before we stop producing and reading */
#define CALL_HIGH (256 * 1024) /* bytes queued in one call before grpc_call_send refuses */
#define CALL_LOW  (64 * 1024)  /* a call's queue below this asks its handler for more */

struct metadata {
    char *key;   /* lowercase header name */
    char *value; /* NUL-terminated; -bin values decoded (and may contain NULs) */
    size_t len;  /* bytes in value */
};

struct service_entry {
    const struct grpc_service *svc; /* the face's table */
    void *userdata;                 /* the face's state */
};

struct gconn;

struct grpc_call {
    struct gconn *conn;                  /* the connection carrying this stream */
    int32_t stream_id;                   /* HTTP/2 stream */
    const struct grpc_method *method;    /* resolved when the request headers end */
    const struct service_entry *service; /* the method's service */
    char *path;                          /* :path */
    struct metadata *md;                 /* request metadata, in arrival order */
    size_t n_md;                         /* entries in md */
    size_t header_bytes;                 /* HPACK-accounted size of the request headers */
    enum grpc_status_code reject;        /* a header problem found while parsing, or OK */
    char *reject_msg;                    /* its message */
    bool bad_method;                     /* :method was not POST */
    bool bad_content_type;               /* content-type was not application/grpc[+...] */
    bool gzip;                           /* grpc-encoding: gzip */
    bool has_timeout;                    /* grpc-timeout was given */
    uint64_t timeout_ms;                 /* its value */
    struct grpc_deframer in;             /* request messages being assembled */
    uint32_t n_requests;                 /* messages received */
    ProtobufCMessage *request;           /* unary and server-streaming: held until half-close */
    struct buf out;                      /* framed responses nghttp2 has not taken yet */
    enum grpc_status_code status;        /* final status, once finished */
    char *status_msg;                    /* final message (percent-encoded when sent) */
    uv_timer_t *deadline;                /* armed for grpc-timeout; closed with the call */
    void *data;                          /* the handler's state */
    bool started;                        /* the method was resolved and the handler attached */
    bool response_started;               /* response HEADERS submitted with a data provider */
    bool finished;                       /* status set; no more messages */
    bool deferred;                       /* the data provider is waiting for output */
    bool handler_live;                   /* on_close not yet called */
    bool cancelled;                      /* ended by the client, a deadline or the server */
    bool ready_pending;                  /* on_ready should run at the next flush */
    bool audited;                        /* the authorizer saw it: the audit hook hears the end */
    char *principal;                     /* who the authorizer says the caller is, or NULL */
    struct grpc_call *next;              /* the connection's list of calls */
    struct grpc_call *prev;
};

struct gconn {
    struct grpc_server *srv; /* owner */
    struct net_conn *nc;     /* transport */
    nghttp2_session *h2;     /* HTTP/2 state */
    struct buf out;          /* frames from nghttp2 not yet handed to the socket */
    struct grpc_call *calls; /* streams with a call */
    unsigned n_calls;        /* length of calls */
    unsigned n_ready;        /* calls with ready_pending set */
    struct gconn *next;      /* server's list */
    struct gconn *prev;
    void *door;               /* what the door said at accept, for the authorizer */
    struct gconn *dirty_next; /* server's list of connections to flush from the idle handle */
    bool dirty;               /* on that list */
    bool in_recv;             /* inside mem_recv: flushing is left to the end of the read */
};

struct grpc_server {
    uv_loop_t *loop;                /* the daemon's loop */
    struct grpc_server_limits lim;  /* limits for every connection */
    struct service_entry *services; /* registered services */
    size_t n_services;              /* entries in services */
    struct gconn *conns;            /* open connections */
    struct gconn *dirty;            /* connections to flush */
    struct grpc_server_stats stats; /* counters for Status */
    struct grpc_auth_hooks auth;    /* access control and audit, or all NULL */
    uv_idle_t idle;                 /* runs flushes requested outside a read */
    uv_timer_t shutdown_timer;      /* bounds a graceful shutdown */
    bool shutting_down;             /* GOAWAY sent; the server closes when calls end */
    void (*done)(void *userdata);   /* called once the last connection is gone */
    void *done_userdata;            /* its argument */
    int handles_open;               /* embedded handles not yet closed by grpc_server_free */
};

static void conn_flush(struct gconn *c);
static void conn_close(struct gconn *c);
static void on_idle(uv_idle_t *idle);

/* ---- small helpers ---------------------------------------------------------------------- */

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE             \
    }

static void conn_mark_dirty(struct gconn *c)
{
    struct grpc_server *s = c->srv;

    if (c->dirty || c->in_recv)
        return;
    c->dirty = true;
    c->dirty_next = s->dirty;
    s->dirty = c;
    uv_idle_start(&s->idle, on_idle);
}

static const struct service_entry *find_service(const struct grpc_server *s, const char *name,
                                                size_t len)
{
    for (size_t i = 0; i < s->n_services; i++)
        if (strlen(s->services[i].svc->name) == len &&
            memcmp(s->services[i].svc->name, name, len) == 0)
            return &s->services[i];
    return NULL;
}

/* ---- calls ------------------------------------------------------------------------------- */

static struct grpc_call *call_new(struct gconn *c, int32_t stream_id)
{
    struct grpc_call *call = calloc(1, sizeof *call);

    if (!call)
        return NULL;
    call->conn = c;
    call->stream_id = stream_id;
    grpc_deframer_init(&call->in, c->srv->lim.max_message_size);
    buf_init(&call->out, 0);
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->n_calls++;
    c->srv->stats.active_calls++;
    return call;
}

static void timer_free(uv_handle_t *h)
{
    free(h);
}

/* Runs the handler's on_close once; afterwards the handler never hears of this call again. */
static void call_detach(struct grpc_call *call)
{
    if (!call->handler_live)
        return;
    call->handler_live = false;
    if (call->method->on_close)
        call->method->on_close(call);
}

static void call_free(struct grpc_call *call)
{
    struct gconn *c = call->conn;
    struct grpc_server *s = c->srv;

    if (!call->finished) {
        call->cancelled = true;
        call->status = GRPC_CANCELLED;
    }
    call->finished = true;
    if (call->audited && s->auth.audit)
        s->auth.audit(call, call->status, call->status_msg, s->auth.userdata);
    free(call->principal);
    call_detach(call);
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    c->n_calls--;
    c->srv->stats.active_calls--;
    if (call->ready_pending)
        c->n_ready--;
    if (call->deadline) {
        call->deadline->data = NULL;
        uv_close((uv_handle_t *)call->deadline, timer_free);
    }
    for (size_t i = 0; i < call->n_md; i++) {
        free(call->md[i].key);
        free(call->md[i].value);
    }
    free(call->md);
    free(call->path);
    free(call->reject_msg);
    free(call->status_msg);
    if (call->request)
        protobuf_c_message_free_unpacked(call->request, NULL);
    grpc_deframer_done(&call->in);
    buf_done(&call->out);
    free(call);
}

/* Writes grpc-status (and grpc-message, when there is one) for a finished call into out, which
 * has room for two; code is storage for the number. Trailers and trailers-only responses both
 * end with these. Returns how many were written. */
static size_t status_headers(const struct grpc_call *call, char code[12], nghttp2_nv *out)
{
    size_t n = 0;

    snprintf(code, 12, "%d", (int)call->status);
    out[n++] = (nghttp2_nv)NV("grpc-status", code);
    if (call->status_msg && *call->status_msg)
        out[n++] = (nghttp2_nv)NV("grpc-message", call->status_msg);
    return n;
}

static ssize_t data_read(nghttp2_session *h2, int32_t stream_id, uint8_t *dst, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *userdata)
{
    struct grpc_call *call = source->ptr;
    size_t n = MIN(length, call->out.len);
    (void)userdata;

    if (n) {
        memcpy(dst, buf_head(&call->out), n);
        buf_consume(&call->out, n);
        if (call->out.len == 0)
            buf_reset(&call->out, 64 * 1024);
    }
    if (call->out.len == 0 && call->finished) {
        char code[12];
        nghttp2_nv trailers[2];
        size_t nt = status_headers(call, code, trailers);
        if (nghttp2_submit_trailer(h2, stream_id, trailers, nt) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        return (ssize_t)n;
    }
    if (n == 0) {
        call->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (call->out.len < CALL_LOW && call->handler_live && !call->finished &&
        call->method->on_ready && !call->ready_pending) {
        call->ready_pending = true;
        call->conn->n_ready++;
    }
    return (ssize_t)n;
}

static int start_response(struct grpc_call *call)
{
    nghttp2_nv nva[] = {
        NV(":status", "200"),
        NV("content-type", "application/grpc"),
        NV("grpc-accept-encoding", "identity,gzip"),
    };
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = data_read};
    int r = nghttp2_submit_response(call->conn->h2, call->stream_id, nva, ARRAY_SIZE(nva), &prd);

    if (r != 0)
        return -ENOMEM;
    call->response_started = true;
    return 0;
}

/* Wakes the data provider after output or a status was queued. */
static void call_kick(struct grpc_call *call)
{
    if (call->deferred) {
        call->deferred = false;
        nghttp2_session_resume_data(call->conn->h2, call->stream_id);
    }
    conn_mark_dirty(call->conn);
}

int grpc_call_send(struct grpc_call *call, const ProtobufCMessage *msg)
{
    int r;

    if (call->finished)
        return -EPIPE;
    if (protobuf_c_message_get_packed_size(msg) > call->conn->srv->lim.max_message_size)
        return -EMSGSIZE;
    if (call->out.len >= CALL_HIGH)
        return -ENOBUFS;
    r = grpc_frame_append_message(&call->out, msg);
    if (r < 0)
        return r;
    if (!call->response_started) {
        r = start_response(call);
        if (r < 0)
            return r;
    }
    call_kick(call);
    return 0;
}

bool grpc_call_writable(const struct grpc_call *call)
{
    return !call->finished && call->out.len < CALL_HIGH;
}

static void finish_v(struct grpc_call *call, enum grpc_status_code code, const char *fmt,
                     va_list ap)
{
    char msg[1024] = "";

    if (call->finished)
        return;
    if (fmt)
        vsnprintf(msg, sizeof msg, fmt, ap);
    call->finished = true;
    call->status = code;
    call->status_msg = grpc_percent_encode(msg);
    if (call->deadline)
        uv_timer_stop(call->deadline);
    if (call->ready_pending) {
        call->ready_pending = false;
        call->conn->n_ready--;
    }

    if (call->response_started) {
        call_kick(call);
        return;
    }
    /* Nothing was sent yet: a trailers-only response, one HEADERS frame with END_STREAM. */
    char code_s[12];
    nghttp2_nv nva[4] = {
        NV(":status", "200"),
        NV("content-type", "application/grpc"),
    };
    size_t n = 2 + status_headers(call, code_s, nva + 2);
    call->response_started = true;
    nghttp2_submit_response(call->conn->h2, call->stream_id, nva, n, NULL);
    conn_mark_dirty(call->conn);
}

void grpc_call_finish(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    finish_v(call, code, fmt, ap);
    va_end(ap);
}

void grpc_call_reply(struct grpc_call *call, const ProtobufCMessage *msg)
{
    int r = grpc_call_send(call, msg);

    if (r == -EMSGSIZE)
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "response exceeds the %u-byte limit",
                         call->conn->srv->lim.max_message_size);
    else if (r < 0)
        grpc_call_finish(call, r == -EPIPE ? GRPC_UNAVAILABLE : GRPC_RESOURCE_EXHAUSTED,
                         "could not queue the response: %s", strerror(-r));
    else
        grpc_call_finish(call, GRPC_OK, NULL);
}

/* The server ends a call on its own (bad request, deadline, shutdown): the handler is told
 * through on_close, then the status goes out. */
static void call_abort(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
    _printf_(3, 4);
static void call_abort(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
{
    va_list ap;

    if (call->finished)
        return;
    call->cancelled = true;
    va_start(ap, fmt);
    finish_v(call, code, fmt, ap);
    va_end(ap);
    call_detach(call);
}

bool grpc_call_finished(const struct grpc_call *call)
{
    return call->finished;
}

void *grpc_call_service_data(const struct grpc_call *call)
{
    return call->service->userdata;
}

void grpc_call_set_data(struct grpc_call *call, void *data)
{
    call->data = data;
}

void *grpc_call_get_data(const struct grpc_call *call)
{
    return call->data;
}

const char *grpc_call_path(const struct grpc_call *call)
{
    return call->path;
}

const struct ucred *grpc_call_peer(const struct grpc_call *call)
{
    return net_conn_peer(call->conn->nc);
}

struct net_conn *grpc_call_conn(const struct grpc_call *call)
{
    return call->conn->nc;
}

void *grpc_call_door(const struct grpc_call *call)
{
    return call->conn->door;
}

void grpc_call_set_principal(struct grpc_call *call, const char *name)
{
    free(call->principal);
    call->principal = name ? strdup(name) : NULL;
}

const char *grpc_call_principal(const struct grpc_call *call)
{
    return call->principal;
}

void grpc_server_set_auth(struct grpc_server *s, const struct grpc_auth_hooks *h)
{
    s->auth = *h;
}

const char *grpc_call_metadata(const struct grpc_call *call, const char *key, size_t *ret_len)
{
    for (size_t i = 0; i < call->n_md; i++)
        if (strcmp(call->md[i].key, key) == 0) {
            if (ret_len)
                *ret_len = call->md[i].len;
            return call->md[i].value;
        }
    return NULL;
}

/* ---- request headers ------------------------------------------------------------------- */

static void reject(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
    _printf_(3, 4);
static void reject(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    char msg[512];

    if (call->reject != GRPC_OK)
        return; /* Keep the first problem. */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    call->reject = code;
    call->reject_msg = strdup(msg);
}

static bool content_type_ok(const uint8_t *v, size_t len)
{
    static const char ct[] = "application/grpc";
    size_t n = sizeof ct - 1;

    return len >= n && memcmp(v, ct, n) == 0 && (len == n || v[n] == '+' || v[n] == ';');
}

static int add_metadata(struct grpc_call *call, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen)
{
    bool bin = namelen > 4 && memcmp(name + namelen - 4, "-bin", 4) == 0;
    struct metadata *md = reallocarray(call->md, call->n_md + 1, sizeof *md);

    if (!md)
        return -ENOMEM;
    call->md = md;
    struct metadata *m = &md[call->n_md];
    m->key = strndup((const char *)name, namelen);
    m->value = malloc(valuelen + 1);
    if (!m->key || !m->value) {
        free(m->key);
        free(m->value);
        return -ENOMEM;
    }
    if (bin) {
        long n = base64_decode((const char *)value, valuelen, (uint8_t *)m->value);
        if (n < 0) {
            reject(call, GRPC_INVALID_ARGUMENT, "metadata '%s' is not valid base64", m->key);
            n = 0;
        }
        m->len = (size_t)n;
    } else {
        memcpy(m->value, value, valuelen);
        m->len = valuelen;
    }
    m->value[m->len] = '\0';
    call->n_md++;
    return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *userdata)
{
    struct gconn *c = userdata;
    struct grpc_call *call = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    (void)flags;

    if (!call || call->started || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* Trailers from a client carry nothing we use. */
    call->header_bytes += namelen + valuelen + 32; /* RFC 7541 entry size */
    if (call->header_bytes > c->srv->lim.max_header_list_size) {
        reject(call, GRPC_RESOURCE_EXHAUSTED, "request headers exceed %u bytes",
               c->srv->lim.max_header_list_size);
        return 0;
    }

#define IS(s) (namelen == sizeof(s) - 1 && memcmp(name, s, sizeof(s) - 1) == 0)
    if (IS(":path")) {
        free(call->path);
        call->path = strndup((const char *)value, valuelen);
        return call->path ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (IS(":method")) {
        call->bad_method = !(valuelen == 4 && memcmp(value, "POST", 4) == 0);
        return 0;
    }
    if (name[0] == ':' || IS("te") || IS("grpc-accept-encoding"))
        return 0;
    if (IS("content-type")) {
        call->bad_content_type = !content_type_ok(value, valuelen);
        return 0;
    }
    if (IS("grpc-timeout")) {
        if (grpc_timeout_parse((const char *)value, valuelen, &call->timeout_ms) < 0)
            reject(call, GRPC_INVALID_ARGUMENT, "malformed grpc-timeout '%.*s'",
                   (int)MIN(valuelen, 32), value);
        else
            call->has_timeout = true;
        return 0;
    }
    if (IS("grpc-encoding")) {
        if (valuelen == 4 && memcmp(value, "gzip", 4) == 0)
            call->gzip = true;
        else if (!(valuelen == 8 && memcmp(value, "identity", 8) == 0))
            reject(call, GRPC_UNIMPLEMENTED,
                   "grpc-encoding '%.*s' is not supported (identity and gzip are)",
                   (int)MIN(valuelen, 64), value);
        return 0;
    }
#undef IS
    return add_metadata(call, name, namelen, value, valuelen) < 0
               ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE
               : 0;
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *userdata)
{
    struct gconn *c = userdata;
    struct grpc_call *call;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    call = call_new(c, frame->hd.stream_id);
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, call);
    return 0;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static void on_deadline(uv_timer_t *t)
{
    struct grpc_call *call = t->data;

    if (!call)
        return;
    call_abort(call, GRPC_DEADLINE_EXCEEDED, "deadline of %llu ms exceeded",
               (unsigned long long)call->timeout_ms);
    conn_mark_dirty(call->conn);
}

static void http_reject(struct grpc_call *call, const char *status)
{
    nghttp2_nv nva[] = {NV(":status", status)};

    call->finished = true;
    call->response_started = true;
    nghttp2_submit_response(call->conn->h2, call->stream_id, nva, 1, NULL);
}

/* The request headers are complete: find the method and attach the handler, or answer. */
static void call_begin(struct grpc_call *call)
{
    struct grpc_server *s = call->conn->srv;

    if (call->bad_method)
        return http_reject(call, "405");
    if (call->bad_content_type)
        return http_reject(call, "415");
    s->stats.calls_total++;
    if (call->reject != GRPC_OK)
        return grpc_call_finish(call, call->reject, "%s", call->reject_msg);

    const char *path = call->path ? call->path : "";
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    if (!slash)
        return grpc_call_finish(call, GRPC_UNIMPLEMENTED, "malformed method path '%s'", path);
    const struct service_entry *se = find_service(s, path + 1, (size_t)(slash - path - 1));
    if (!se)
        return grpc_call_finish(call, GRPC_UNIMPLEMENTED, "unknown service '%.*s'",
                                (int)(slash - path - 1), path + 1);
    for (size_t i = 0; i < se->svc->n_methods; i++)
        if (strcmp(se->svc->methods[i].name, slash + 1) == 0)
            call->method = &se->svc->methods[i];
    if (!call->method)
        return grpc_call_finish(call, GRPC_UNIMPLEMENTED, "unknown method '%s' in service '%s'",
                                slash + 1, se->svc->name);
    if (s->auth.authorize) {
        char msg[512] = "";
        call->audited = true;
        enum grpc_status_code code = s->auth.authorize(call, se->svc->name, call->method->name, msg,
                                                       sizeof msg, s->auth.userdata);
        if (code != GRPC_OK)
            return grpc_call_finish(call, code, "%s", msg);
    }

    call->service = se;
    call->started = true;
    call->handler_live = true;
    if (call->has_timeout) {
        call->deadline = malloc(sizeof *call->deadline);
        if (!call->deadline)
            return call_abort(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        uv_timer_init(s->loop, call->deadline);
        call->deadline->data = call;
        uv_timer_start(call->deadline, on_deadline, call->timeout_ms, 0);
    }
}

static int on_request_message(void *userdata, bool compressed, const uint8_t *data, size_t len)
{
    struct grpc_call *call = userdata;
    const struct grpc_method *m = call->method;
    struct buf plain;

    buf_init(&plain, 0);
    if (compressed) {
        if (!call->gzip) {
            call_abort(call, GRPC_INTERNAL, "compressed message without grpc-encoding");
            return -ECANCELED;
        }
        int r = gzip_inflate(data, len, call->conn->srv->lim.max_message_size, &plain);
        if (r < 0) {
            buf_done(&plain);
            if (r == -EMSGSIZE)
                call_abort(call, GRPC_RESOURCE_EXHAUSTED,
                           "decompressed request exceeds the %u-byte limit",
                           call->conn->srv->lim.max_message_size);
            else
                call_abort(call, GRPC_INVALID_ARGUMENT, "request message is not valid gzip");
            return -ECANCELED;
        }
        data = buf_head(&plain);
        len = plain.len;
    }

    ProtobufCMessage *msg = protobuf_c_message_unpack(m->input, NULL, len, data);
    buf_done(&plain);
    if (!msg) {
        call_abort(call, GRPC_INVALID_ARGUMENT, "request is not a valid %s", m->input->name);
        return -ECANCELED;
    }
    call->n_requests++;
    if (m->kind == GRPC_UNARY || m->kind == GRPC_SERVER_STREAM) {
        if (call->request) {
            protobuf_c_message_free_unpacked(msg, NULL);
            call_abort(call, GRPC_INVALID_ARGUMENT, "%s takes one request message, got more",
                       m->name);
            return -ECANCELED;
        }
        call->request = msg;
        return 0;
    }
    m->on_message(call, msg);
    protobuf_c_message_free_unpacked(msg, NULL);
    return call->finished ? -ECANCELED : 0;
}

static void call_half_close(struct grpc_call *call)
{
    const struct grpc_method *m = call->method;

    if (!call->started || call->finished)
        return;
    if (grpc_deframer_pending(&call->in) > 0)
        return call_abort(call, GRPC_INTERNAL, "request ended inside a message");
    if (m->kind == GRPC_UNARY || m->kind == GRPC_SERVER_STREAM) {
        if (!call->request)
            return call_abort(call, GRPC_INVALID_ARGUMENT, "%s takes one request message, got 0",
                              m->name);
        m->on_message(call, call->request);
        protobuf_c_message_free_unpacked(call->request, NULL);
        call->request = NULL;
        return;
    }
    if (m->on_half_close)
        m->on_half_close(call);
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *userdata)
{
    struct grpc_call *call;
    (void)userdata;

    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    call = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!call)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        call_begin(call);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        call_half_close(call);
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *userdata)
{
    struct gconn *c = userdata;
    struct grpc_call *call = nghttp2_session_get_stream_user_data(h2, stream_id);
    size_t before, consumed = len;
    uint32_t size = 0;
    (void)flags;

    if (call && call->started && !call->finished) {
        before = grpc_deframer_pending(&call->in);
        int r = grpc_deframer_feed(&call->in, data, len, on_request_message, call, &size);
        if (r == -EMSGSIZE)
            call_abort(call, GRPC_RESOURCE_EXHAUSTED,
                       "request message of %u bytes exceeds the %u-byte limit", size,
                       c->srv->lim.max_message_size);
        else if (r == -EPROTO)
            call_abort(call, GRPC_INTERNAL, "invalid message flag");
        else if (r < 0 && r != -ECANCELED)
            call_abort(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        if (call->finished) {
            consumed = before + len; /* Nothing more of this stream will be read. */
            grpc_deframer_done(&call->in);
            grpc_deframer_init(&call->in, 0);
        } else {
            consumed = before + len - grpc_deframer_pending(&call->in);
        }
    }
    if (consumed)
        nghttp2_session_consume(h2, stream_id, consumed);
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code,
                           void *userdata)
{
    struct grpc_call *call = nghttp2_session_get_stream_user_data(h2, stream_id);
    (void)userdata;
    (void)error_code;

    if (call)
        call_free(call);
    return 0;
}

/* ---- connections --------------------------------------------------------------------------- */

static void conn_on_read(struct net_conn *nc, const uint8_t *data, size_t len, void *userdata)
{
    struct gconn *c = userdata;
    (void)nc;

    c->in_recv = true;
    ssize_t r = nghttp2_session_mem_recv(c->h2, data, len);
    c->in_recv = false;
    if (r < 0) {
        log_debug("grpc: closing a connection: %s", nghttp2_strerror((int)r));
        nghttp2_session_terminate_session(c->h2, NGHTTP2_PROTOCOL_ERROR);
    }
    conn_flush(c);
}

static void conn_on_end(struct net_conn *nc, int error, void *userdata)
{
    (void)nc;
    if (error < 0)
        log_debug_errno(error, "grpc: connection failed");
    conn_close(userdata);
}

static void conn_on_drain(struct net_conn *nc, void *userdata)
{
    (void)nc;
    conn_flush(userdata);
}

static const struct net_conn_handler conn_handler = {
    .on_read = conn_on_read,
    .on_end = conn_on_end,
    .on_drain = conn_on_drain,
};

static void run_ready(struct gconn *c)
{
    for (struct grpc_call *call = c->calls, *next; call && c->n_ready; call = next) {
        next = call->next;
        if (!call->ready_pending)
            continue;
        call->ready_pending = false;
        c->n_ready--;
        if (call->handler_live && !call->finished)
            call->method->on_ready(call);
    }
}

static void conn_flush(struct gconn *c)
{
    struct grpc_server *s = c->srv;

    for (int round = 0; round < 8; round++) {
        while (net_conn_pending(c->nc) + c->out.len < OUT_HIGH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->h2, &data);
            if (n < 0 || (n > 0 && buf_append(&c->out, data, (size_t)n) < 0))
                return conn_close(c);
            if (n == 0)
                break;
        }
        if (c->out.len > 0 && net_conn_write_buf(c->nc, &c->out) < 0)
            return conn_close(c);
        if (c->n_ready == 0)
            break;
        run_ready(c);
    }
    if (c->n_ready)
        conn_mark_dirty(c);

    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
        return conn_close(c);
    if (s->shutting_down && c->n_calls == 0 && net_conn_pending(c->nc) == 0)
        return conn_close(c);
    /* A peer that does not read its answers stops being read from. */
    if (net_conn_pending(c->nc) >= OUT_HIGH)
        net_conn_pause(c->nc);
    else
        net_conn_resume(c->nc);
}

static void server_maybe_done(struct grpc_server *s)
{
    if (s->shutting_down && !s->conns && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        uv_timer_stop(&s->shutdown_timer);
        done(s->done_userdata);
    }
}

static void conn_close(struct gconn *c)
{
    struct grpc_server *s = c->srv;

    if (c->dirty) {
        struct gconn **pp = &s->dirty;
        while (*pp != c)
            pp = &(*pp)->dirty_next;
        *pp = c->dirty_next;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->stats.open_connections--;

    /* nghttp2_session_del does not report stream closes: end the calls ourselves. */
    while (c->calls)
        call_free(c->calls);
    nghttp2_session_del(c->h2);
    net_conn_close(c->nc, !s->shutting_down && net_conn_pending(c->nc) > 0);
    buf_done(&c->out);
    free(c);
    server_maybe_done(s);
}

static void on_idle(uv_idle_t *idle)
{
    struct grpc_server *s = idle->data;

    uv_idle_stop(idle);
    while (s->dirty) {
        struct gconn *c = s->dirty;
        s->dirty = c->dirty_next;
        c->dirty = false;
        conn_flush(c);
    }
}

void grpc_server_accept(struct grpc_server *s, struct net_conn *nc, void *door)
{
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    struct gconn *c = NULL;

    if (s->shutting_down || s->stats.open_connections >= s->lim.max_connections) {
        log_warning("grpc: refusing a connection: %s",
                    s->shutting_down ? "shutting down" : "connection limit reached");
        net_conn_close(nc, false);
        return;
    }
    c = calloc(1, sizeof *c);
    if (!c || nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
        goto fail;
    c->srv = s;
    c->nc = nc;
    c->door = door;
    buf_init(&c->out, 0);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    if (nghttp2_session_server_new2(&c->h2, cbs, c, opt) != 0)
        goto fail;
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);

    /* A stream may hold one whole message unconsumed; the connection about two. */
    uint32_t stream_window = s->lim.max_message_size + GRPC_FRAME_HEADER;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->lim.max_concurrent_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, s->lim.max_header_list_size},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, MIN(stream_window, (uint32_t)INT32_MAX)},
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, ARRAY_SIZE(iv));
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
                                          (int32_t)MIN(2u * stream_window, (uint32_t)INT32_MAX));

    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->stats.open_connections++;
    net_conn_start(nc, &conn_handler, c);
    conn_flush(c);
    return;

fail:
    log_warning("grpc: refusing a connection: out of memory");
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    free(c);
    net_conn_close(nc, false);
}

/* ---- server -------------------------------------------------------------------------------- */

struct grpc_server *grpc_server_new(uv_loop_t *loop, const struct grpc_server_limits *limits)
{
    struct grpc_server *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->loop = loop;
    s->lim = *limits;
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    uv_timer_init(loop, &s->shutdown_timer);
    s->shutdown_timer.data = s;
    s->handles_open = 2;
    return s;
}

int grpc_server_add_service(struct grpc_server *s, const struct grpc_service *svc, void *userdata)
{
    struct service_entry *e = reallocarray(s->services, s->n_services + 1, sizeof *e);

    if (!e)
        return -ENOMEM;
    s->services = e;
    e[s->n_services++] = (struct service_entry){svc, userdata};
    return 0;
}

const char *grpc_server_service_name(const struct grpc_server *s, size_t i)
{
    return i < s->n_services ? s->services[i].svc->name : NULL;
}

const struct grpc_service *grpc_server_service_at(const struct grpc_server *s, size_t i)
{
    return i < s->n_services ? s->services[i].svc : NULL;
}

bool grpc_server_has_service(const struct grpc_server *s, const char *name)
{
    return find_service(s, name, strlen(name)) != NULL;
}

void grpc_server_get_stats(const struct grpc_server *s, struct grpc_server_stats *ret)
{
    *ret = s->stats;
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    struct grpc_server *s = t->data;

    log_warning("grpc: shutdown timeout: cancelling %u call(s) still in flight",
                s->stats.active_calls);
    for (struct gconn *c = s->conns; c; c = c->next)
        for (struct grpc_call *call = c->calls; call; call = call->next)
            call_abort(call, GRPC_UNAVAILABLE, "droverd is shutting down");
    /* One last chance for the statuses to reach the peers, then close whatever is left. */
    while (s->conns) {
        struct gconn *c = s->conns;
        conn_flush(c);
        if (s->conns == c)
            conn_close(c);
    }
}

void grpc_server_shutdown(struct grpc_server *s, void (*done)(void *userdata), void *userdata)
{
    if (s->shutting_down)
        return;
    s->shutting_down = true;
    s->done = done;
    s->done_userdata = userdata;
    for (struct gconn *c = s->conns; c; c = c->next) {
        nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->h2), NGHTTP2_NO_ERROR,
                              NULL, 0);
        conn_mark_dirty(c);
    }
    uv_timer_start(&s->shutdown_timer, on_shutdown_timeout, s->lim.shutdown_timeout_ms, 0);
    server_maybe_done(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct grpc_server *s = h->data;

    if (--s->handles_open == 0) {
        free(s->services);
        free(s);
    }
}

void grpc_server_free(struct grpc_server *s)
{
    if (!s)
        return;
    s->done = NULL;
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->idle, on_handle_closed);
    uv_close((uv_handle_t *)&s->shutdown_timer, on_handle_closed);
}
