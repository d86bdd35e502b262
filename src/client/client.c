/* libdrover-client: see client.h.
 *
 * One nghttp2 client session over a non-blocking socket: droverd's unix socket, or a TCP door,
 * TLS (tls.c) unless the door is plaintext; a bearer token goes with every call. Requests are
 * queued per call and pulled by a data provider (deferred while the queue is empty and the caller
 * may still send). Responses are deframed and decoded as they arrive. A call's status comes from
 * grpc-status in the trailers (or in the only HEADERS of a trailers-only response); a stream that
 * ends without one is reported as the HTTP/2 reset or HTTP status it got. Deadlines are sent as
 * grpc-timeout and also enforced here, so a silent server can not hang a caller. */
#include "client/client.h"

#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/gzip.h"
#include "base/buf.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "client/connect.h"
#include "client/tls.h"
#include "grpc/wire.h"

struct drover_client {
    int fd;                    /* connected socket, -1 once closed */
    nghttp2_session *h2;       /* HTTP/2 state */
    struct buf out;            /* bytes nghttp2 produced that the socket has not taken */
    struct drover_call *calls; /* calls not yet freed */
    bool dead;                 /* the connection failed or closed */
    struct drover_tls *tls;    /* TLS over a TCP door, or NULL */
    char *authority;           /* :authority ("localhost" on the unix socket) */
    char *bearer;              /* "Bearer TOKEN" for every call, or NULL */
};

struct drover_call {
    struct drover_client *c;                /* connection */
    int32_t stream_id;                      /* HTTP/2 stream, -1 before submit or after free */
    const ProtobufCMessageDescriptor *resp; /* response type */
    drover_message_fn on_message;           /* per response */
    drover_done_fn on_done;                 /* at the end */
    void *userdata;                         /* callbacks' argument */
    struct buf out;                         /* framed requests not yet taken by nghttp2 */
    struct grpc_deframer in;                /* responses being assembled */
    uint64_t deadline_ms;                   /* monotonic deadline, 0 for none */
    int http_status;                        /* :status */
    bool have_status;                       /* grpc-status was received */
    bool send_closed;                       /* drover_call_close_send was called */
    bool deferred;                          /* the data provider waits for requests */
    bool done;                              /* status final, on_done called */
    struct drover_status status;            /* final status */
    struct drover_call *next;               /* client's list */
};

static void call_end(struct drover_call *call, int code, const char *fmt, ...) _printf_(3, 4);
static void call_end(struct drover_call *call, int code, const char *fmt, ...)
{
    if (call->done)
        return;
    if (!call->have_status) {
        va_list ap;
        va_start(ap, fmt);
        call->status.code = code;
        vsnprintf(call->status.message, sizeof call->status.message, fmt, ap);
        va_end(ap);
    }
    call->done = true;
    if (call->on_done)
        call->on_done(call, &call->status, call->userdata);
}

static ssize_t data_read(nghttp2_session *h2, int32_t stream_id, uint8_t *dst, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *userdata)
{
    struct drover_call *call = source->ptr;
    size_t n = MIN(length, call->out.len);
    (void)h2, (void)stream_id, (void)userdata;

    memcpy(dst, buf_head(&call->out), n);
    buf_consume(&call->out, n);
    if (call->out.len == 0 && call->send_closed)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0) {
        call->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static int on_message(void *userdata, bool compressed, const uint8_t *data, size_t len)
{
    struct drover_call *call = userdata;
    struct buf plain;
    ProtobufCMessage *msg;

    buf_init(&plain, 0);
    if (compressed) {
        if (gzip_inflate(data, len, GRPC_MAX_MESSAGE, &plain) < 0) {
            buf_done(&plain);
            return -EBADMSG;
        }
        data = buf_head(&plain);
        len = plain.len;
    }
    msg = protobuf_c_message_unpack(call->resp, NULL, len, data);
    buf_done(&plain);
    if (!msg)
        return -EBADMSG;
    if (call->on_message)
        call->on_message(call, msg, call->userdata);
    protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *userdata)
{
    struct drover_call *call = nghttp2_session_get_stream_user_data(h2, stream_id);
    (void)flags, (void)userdata;

    if (!call || call->done)
        return 0;
    int r = grpc_deframer_feed(&call->in, data, len, on_message, call, NULL);
    if (r < 0) {
        call_end(call, GRPC_INTERNAL, "the response does not decode as %s", call->resp->name);
        nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    }
    return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *userdata)
{
    struct drover_call *call = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    (void)flags, (void)userdata;

    if (!call)
        return 0;
    if (namelen == 7 && !memcmp(name, ":status", 7)) {
        call->http_status = atoi((const char *)value);
    } else if (namelen == 11 && !memcmp(name, "grpc-status", 11)) {
        call->have_status = true;
        call->status.code = atoi((const char *)value);
    } else if (namelen == 12 && !memcmp(name, "grpc-message", 12)) {
        char *m = grpc_percent_decode((const char *)value, valuelen);
        if (m) {
            snprintf(call->status.message, sizeof call->status.message, "%s", m);
            free(m);
        }
    }
    return 0;
}

/* The server ended the call (trailers) or the stream: the status it sent, or why none came. */
static void end_from_server(struct drover_call *call, uint32_t error_code)
{
    if (call->have_status)
        call_end(call, call->status.code, "%s", call->status.message);
    else if (error_code)
        call_end(call, error_code == NGHTTP2_REFUSED_STREAM ? GRPC_UNAVAILABLE : GRPC_INTERNAL,
                 "stream reset by the server (HTTP/2 error %u)", error_code);
    else
        call_end(call, call->http_status == 200 ? GRPC_INTERNAL : GRPC_UNKNOWN,
                 "the response has no grpc-status (HTTP %d)", call->http_status);
}

static int on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code,
                           void *userdata)
{
    struct drover_call *call = nghttp2_session_get_stream_user_data(h2, stream_id);
    (void)userdata;

    if (!call)
        return 0;
    call->stream_id = -1;
    end_from_server(call, error_code);
    return 0;
}

static void call_kick(struct drover_call *call);

/* END_STREAM from the server ends the call even while our side is open (a bidi stream the
 * server finished): half-close ours too, so the stream closes without a reset. */
static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *userdata)
{
    struct drover_client *c = userdata;
    struct drover_call *call;

    if (c->tls) /* droverd speaks HTTP/2 to us: it took us, certificate or not */
        drover_tls_accepted(c->tls);
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA))
        return 0;
    call = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!call || call->done)
        return 0;
    if (!call->send_closed) {
        call->send_closed = true;
        call_kick(call);
    }
    end_from_server(call, 0);
    return 0;
}

static struct drover_client *session_new(int fd)
{
    nghttp2_session_callbacks *cbs;
    struct drover_client *c = calloc(1, sizeof *c);
    if (!c || nghttp2_session_callbacks_new(&cbs) != 0) {
        free(c);
        return NULL;
    }
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    int r = nghttp2_session_client_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (r != 0) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    buf_init(&c->out, 0);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, ARRAY_SIZE(iv));
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 8 << 20);
    return c;
}

int drover_client_open(const struct drover_target *t, struct drover_client **ret, char *err,
                       size_t err_size)
{
    char name[256];
    const char *port = NULL;
    struct drover_tls *tls = NULL;
    int fd;

    if (t->host && client_split_host(t->host, name, sizeof name, &port) < 0)
        return client_errf(err, err_size, -EINVAL, "not HOST:PORT: %s", t->host);
    fd = t->host ? client_connect_tcp(name, port, err, err_size)
                 : client_connect_unix(t->socket_path, err, err_size);
    if (fd < 0)
        return fd;
    if (t->host && !t->plaintext) {
        struct drover_tls_opts o = {.name = name,
                                    .ca = t->tls_ca,
                                    .cert = t->cert,
                                    .key = t->key,
                                    .timeout_ms = CONNECT_TIMEOUT_MS};
        int r = drover_tls_connect(fd, &o, &tls, err, err_size);
        if (r < 0) {
            close(fd);
            return r;
        }
    }
    struct drover_client *c = session_new(fd);
    if (!c) {
        drover_tls_free(tls);
        close(fd);
        return client_errf(err, err_size, -ENOMEM, "out of memory");
    }
    c->tls = tls;
    c->authority = strdup(t->host ? t->host : "localhost");
    bool token = t->token && *t->token;
    if (token && asprintf(&c->bearer, "Bearer %s", t->token) < 0)
        c->bearer = NULL;
    if (!c->authority || (token && !c->bearer)) {
        drover_client_free(c);
        return client_errf(err, err_size, -ENOMEM, "out of memory");
    }
    *ret = c;
    return 0;
}

int drover_client_connect(const char *socket_path, struct drover_client **ret)
{
    return drover_client_open(&(struct drover_target){.socket_path = socket_path}, ret, NULL, 0);
}

static void client_fail(struct drover_client *c, const char *why)
{
    c->dead = true;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    for (struct drover_call *call = c->calls; call; call = call->next)
        call_end(call, GRPC_UNAVAILABLE, LOST_MESSAGE ": %s", why);
}

/* Why the connection failed with r: TLS's reason when it has one. After a failed write, a TLS
 * server that refused us (no client certificate) may have said why in an alert already waiting
 * in the socket: it is read first. */
static const char *lost_why(struct drover_client *c, int r, bool wrote)
{
    uint8_t rest[4096];
    if (!c->tls)
        return strerror(-r);
    if (wrote && !*drover_tls_why(c->tls))
        (void)drover_tls_recv(c->tls, rest, sizeof rest);
    return *drover_tls_why(c->tls) ? drover_tls_why(c->tls) : strerror(-r);
}

static ssize_t io_send(struct drover_client *c, const void *data, size_t len)
{
    if (c->tls)
        return drover_tls_send(c->tls, data, len);
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    return n < 0 ? -errno : n;
}

static ssize_t io_recv(struct drover_client *c, void *data, size_t len)
{
    if (c->tls)
        return drover_tls_recv(c->tls, data, len);
    ssize_t n = recv(c->fd, data, len, MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

/* Moves nghttp2's output to the socket until either runs dry. Every frame nghttp2 has ready
 * goes out in one send (up to FLUSH_BATCH bytes): a frame per send would cost the server a
 * socket buffer per frame to read and free. */
#define FLUSH_BATCH (64u << 10)
static int flush(struct drover_client *c)
{
    for (;;) {
        while (c->out.len < FLUSH_BATCH) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->h2, &data);
            if (n < 0)
                return -EPROTO;
            if (n == 0)
                break;
            if (buf_append(&c->out, data, (size_t)n) < 0)
                return -ENOMEM;
        }
        if (c->out.len == 0)
            return 0;
        ssize_t w = io_send(c, buf_head(&c->out), c->out.len);
        if (w == -EAGAIN)
            return 0;
        if (w < 0)
            return (int)w;
        buf_consume(&c->out, (size_t)w);
    }
}

/* The headers every call sends (the token's too), then md: at most n + REQUEST_HEADERS + 1
 * entries in nva. */
#define REQUEST_HEADERS 8
static size_t request_headers(const struct drover_client *c, const char *path, const char *timeout,
                              const struct drover_header *md, size_t n, nghttp2_nv *nva)
{
#define HDR(n, v)                                                                                  \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }
    const nghttp2_nv fixed[REQUEST_HEADERS] = {
        HDR(":method", "POST"),
        HDR(":scheme", c->tls ? "https" : "http"),
        HDR(":path", path),
        HDR(":authority", c->authority),
        HDR("content-type", "application/grpc"),
        HDR("te", "trailers"),
        HDR("user-agent", "drover/" DROVER_VERSION),
        HDR("grpc-timeout", timeout),
    };
    size_t k = REQUEST_HEADERS - !*timeout;

    memcpy(nva, fixed, sizeof fixed);
    if (c->bearer)
        nva[k++] = (nghttp2_nv)HDR("authorization", c->bearer);
    for (size_t i = 0; i < n; i++)
        nva[k++] = (nghttp2_nv)HDR(md[i].name, md[i].value);
#undef HDR
    return k;
}

struct drover_call *drover_call_start_md(struct drover_client *c, const char *path,
                                         const ProtobufCMessageDescriptor *resp,
                                         drover_message_fn on_msg, drover_done_fn on_done,
                                         void *userdata, uint64_t timeout_ms,
                                         const struct drover_header *md, size_t n)
{
    struct drover_call *call;
    char timeout[16] = "";

    if (c->dead)
        return NULL;
    call = calloc(1, sizeof *call);
    nghttp2_nv *nva = calloc(REQUEST_HEADERS + 1 + n, sizeof *nva);
    if (!call || !nva) {
        free(call);
        free(nva);
        return NULL;
    }
    *call = (struct drover_call){.c = c,
                                 .resp = resp,
                                 .on_message = on_msg,
                                 .on_done = on_done,
                                 .userdata = userdata,
                                 .stream_id = -1};
    buf_init(&call->out, 0);
    grpc_deframer_init(&call->in, GRPC_MAX_MESSAGE);
    if (timeout_ms) {
        call->deadline_ms = mono_ms() + timeout_ms;
        grpc_timeout_format(timeout_ms, timeout);
    }

    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = data_read};
    size_t n_nva = request_headers(c, path, timeout, md, n, nva);
    int32_t id = nghttp2_submit_request(c->h2, NULL, nva, n_nva, &prd, call); /* copies nva */
    free(nva);
    if (id < 0) {
        buf_done(&call->out);
        grpc_deframer_done(&call->in);
        free(call);
        return NULL;
    }
    call->stream_id = id;
    call->next = c->calls;
    c->calls = call;
    return call;
}

struct drover_call *drover_call_start(struct drover_client *c, const char *path,
                                      const ProtobufCMessageDescriptor *resp,
                                      drover_message_fn on_msg, drover_done_fn on_done,
                                      void *userdata, uint64_t timeout_ms)
{
    return drover_call_start_md(c, path, resp, on_msg, on_done, userdata, timeout_ms, NULL, 0);
}

static void call_kick(struct drover_call *call)
{
    if (call->deferred && call->stream_id > 0) {
        call->deferred = false;
        nghttp2_session_resume_data(call->c->h2, call->stream_id);
    }
}

int drover_call_send(struct drover_call *call, const ProtobufCMessage *msg)
{
    int r;

    if (call->done || call->send_closed)
        return -EPIPE;
    r = grpc_frame_append_message(&call->out, msg);
    if (r < 0)
        return r;
    call_kick(call);
    return 0;
}

int drover_call_close_send(struct drover_call *call)
{
    call->send_closed = true;
    call_kick(call);
    return 0;
}

bool drover_call_done(const struct drover_call *call)
{
    return call->done;
}

const struct drover_status *drover_call_status(const struct drover_call *call)
{
    return &call->status;
}

void drover_call_free(struct drover_call *call)
{
    struct drover_client *c;

    if (!call)
        return;
    c = call->c;
    if (call->stream_id > 0 && !c->dead) {
        nghttp2_session_set_stream_user_data(c->h2, call->stream_id, NULL);
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
        (void)flush(c);
    }
    for (struct drover_call **pp = &c->calls; *pp; pp = &(*pp)->next)
        if (*pp == call) {
            *pp = call->next;
            break;
        }
    buf_done(&call->out);
    grpc_deframer_done(&call->in);
    free(call);
}

/* The earliest deadline among running calls, as a poll timeout no later than limit. */
static int next_timeout(struct drover_client *c, int limit)
{
    uint64_t now = mono_ms();
    int t = limit;

    for (struct drover_call *call = c->calls; call; call = call->next) {
        if (call->done || !call->deadline_ms)
            continue;
        int left = call->deadline_ms > now ? (int)MIN(call->deadline_ms - now, INT32_MAX) : 0;
        if (t < 0 || left < t)
            t = left;
    }
    return t;
}

static void expire(struct drover_client *c)
{
    uint64_t now = mono_ms();

    for (struct drover_call *call = c->calls; call; call = call->next)
        if (!call->done && call->deadline_ms && now >= call->deadline_ms) {
            call_end(call, GRPC_DEADLINE_EXCEEDED, "deadline exceeded (client side)");
            if (call->stream_id > 0) {
                nghttp2_session_set_stream_user_data(c->h2, call->stream_id, NULL);
                nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, call->stream_id,
                                          NGHTTP2_CANCEL);
                call->stream_id = -1;
            }
        }
}

int drover_client_ready(struct drover_client *c, short revents)
{
    uint8_t data[64 * 1024];
    int r;

    if (c->dead)
        return -ECONNRESET;
    /* What has arrived, up to a bound so the caller gets to its other descriptors. */
    for (int i = 0; i < 16 && (revents & (POLLIN | POLLHUP | POLLERR)); i++) {
        ssize_t n = io_recv(c, data, sizeof data);
        if (n == -EAGAIN || n == -EINTR)
            break;
        if (n <= 0)
            return client_fail(c, n == 0 ? "closed by droverd" : lost_why(c, (int)n, false)),
                   -ECONNRESET;
        if (nghttp2_session_mem_recv(c->h2, data, (size_t)n) < 0)
            return client_fail(c, "HTTP/2 protocol error"), -ECONNRESET;
        if ((size_t)n < sizeof data && !c->tls) /* TLS gives a record at a time: read on */
            break;
    }
    expire(c);
    r = flush(c);
    if (r < 0)
        return client_fail(c, lost_why(c, r, true)), -ECONNRESET;
    return 0;
}

int drover_client_pollfd(struct drover_client *c, struct pollfd *ret)
{
    if (c->dead)
        return -ECONNRESET;
    int r = flush(c);
    if (r < 0)
        return client_fail(c, lost_why(c, r, true)), -ECONNRESET;
    *ret = (struct pollfd){.fd = c->fd, .events = POLLIN};
    if (c->out.len || nghttp2_session_want_write(c->h2))
        ret->events |= POLLOUT;
    return 0;
}

int drover_client_poll(struct drover_client *c, int timeout_ms)
{
    struct pollfd pfd;
    int r = drover_client_pollfd(c, &pfd);

    if (r < 0)
        return r;
    r = poll(&pfd, 1, next_timeout(c, timeout_ms));
    if (r < 0 && errno != EINTR)
        return client_fail(c, strerror(errno)), -ECONNRESET;
    return drover_client_ready(c, r > 0 ? pfd.revents : 0);
}

int drover_client_wait(struct drover_client *c, struct drover_call *call)
{
    while (!call->done) {
        int r = drover_client_poll(c, -1);
        if (r < 0 && !call->done)
            return r;
    }
    return 0;
}

static void keep_first(struct drover_call *call, const ProtobufCMessage *msg, void *userdata)
{
    ProtobufCMessage **ret = userdata;
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *tmp;
    (void)call;

    if (*ret || !(tmp = malloc(n ? n : 1)))
        return;
    /* The message is freed after this callback: keep a copy by re-decoding its bytes. */
    protobuf_c_message_pack(msg, tmp);
    *ret = protobuf_c_message_unpack(msg->descriptor, NULL, n, tmp);
    free(tmp);
}

int drover_client_unary(struct drover_client *c, const char *path, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp, ProtobufCMessage **ret_resp,
                        struct drover_status *ret_status, uint64_t timeout_ms)
{
    ProtobufCMessage *got = NULL;
    struct drover_call *call;
    int r;

    call = drover_call_start(c, path, resp, keep_first, NULL, &got, timeout_ms);
    if (!call)
        return c->dead ? -ECONNRESET : -ENOMEM;
    r = drover_call_send(call, req);
    if (r >= 0)
        r = drover_call_close_send(call);
    if (r >= 0)
        r = drover_client_wait(c, call);
    if (r >= 0 || call->done) {
        r = 0;
        *ret_status = call->status;
        if (call->status.code == GRPC_OK && !got) {
            ret_status->code = GRPC_INTERNAL;
            snprintf(ret_status->message, sizeof ret_status->message, "no response message");
        }
    }
    if (r == 0 && ret_status->code == GRPC_OK)
        *ret_resp = TAKE_PTR(got);
    if (got)
        protobuf_c_message_free_unpacked(got, NULL);
    drover_call_free(call);
    return r;
}

void drover_client_free(struct drover_client *c)
{
    if (!c)
        return;
    while (c->calls)
        drover_call_free(c->calls);
    nghttp2_session_del(c->h2);
    drover_tls_free(c->tls);
    if (c->fd >= 0)
        close(c->fd);
    buf_done(&c->out);
    free(c->authority);
    free(c->bearer);
    free(c);
}
