/* A gRPC call's life and its response side: one struct grpc_call per HTTP/2 stream, from the first
 * request HEADERS (grpc_call_new, from request.c) to the stream's close (grpc_call_free, from
 * request.c's stream-close callback or server.c closing the connection).
 *
 * Responses. grpc_call_send packs each message into the call's queue (out), or, for a carried
 * call whose carrier has an encode hook, has the carrier write it there in its own encoding
 * (append_encoded: a Connect JSON answer is never packed to be unpacked again); the first submits
 * the response HEADERS with a data provider, which nghttp2 pulls as flow control allows. When the
 * queue is empty the provider defers and the next send or finish resumes it. Each queue is capped
 * (CALL_HIGH: grpc_call_send says -ENOBUFS) and the handler's on_ready runs again once nghttp2 has
 * taken it below CALL_LOW.
 *
 * Finishing. A call finishes once (grpc_call_finish is idempotent). If the response had begun,
 * the trailers are submitted from the data provider once the queue is empty: the last DATA frame
 * carries NGHTTP2_DATA_FLAG_EOF | NO_END_STREAM and nghttp2_submit_trailer ends the stream. If
 * nothing was sent yet, the status goes out as a trailers-only response, one HEADERS frame with
 * END_STREAM. Either way the stream ends with a complete response, and nothing here resets a
 * stream (RST_STREAM) once its response is complete.
 *
 * The handler. on_close runs exactly once per call that reached a handler (call_detach): when
 * the server aborts the call, or when the call is freed. It never runs inside grpc_call_send or
 * grpc_call_finish, so handlers may finish and keep their state until on_close. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc-internal.h"
#include "net/net.h"

#define CALL_HIGH      (256 * 1024) /* bytes queued in one call before grpc_call_send refuses */
#define CALL_LOW       (64 * 1024)  /* a call's queue below this asks its handler for more */
#define BUDGET_DEFAULT (64u << 20)  /* every call's queue together (queue_budget 0) */

/* The server's budget: past it streaming calls wait; they are woken below three quarters. */
static size_t budget(const struct grpc_server *s)
{
    return s->lim.queue_budget ? (size_t)s->lim.queue_budget : BUDGET_DEFAULT;
}

static bool streaming(const struct grpc_call *call)
{
    return call->method &&
           (call->method->kind == GRPC_SERVER_STREAM || call->method->kind == GRPC_BIDI);
}

/* Whether the budget refuses call more now: past it, a streaming call that holds CALL_LOW or
 * more waits (those whose clients read keep going), and is woken with room. */
static bool over_budget(struct grpc_call *call)
{
    struct grpc_server *s = call->srv;
    if (!streaming(call) || s->queued < budget(s) || call->out.len < CALL_LOW)
        return false; /* a call that keeps up goes on: the ones holding much wait */
    if (!call->starved) {
        call->starved = true;
        s->n_starved++;
    }
    return true;
}

/* Room again: every call the budget refused hears on_ready at its connection's next flush. */
static void wake_starved(struct grpc_server *s)
{
    for (struct gconn *c = s->conns; c && s->n_starved; c = c->link.next)
        for (struct grpc_call *call = c->calls; call && s->n_starved; call = call->link.next) {
            if (!call->starved)
                continue;
            call->starved = false;
            s->n_starved--;
            if (call->handler_live && !call->finished && call->method->on_ready &&
                !call->ready_pending) {
                call->ready_pending = true;
                c->n_ready++;
                grpc_conn_mark_dirty(c);
            }
        }
    for (struct grpc_call *call = s->carried; call && s->n_starved; call = call->link.next)
        if (call->starved) {
            call->starved = false;
            s->n_starved--;
            call->ready_pending = true;
            grpc_call_mark_dirty(call);
        }
}

struct grpc_call *grpc_call_new(struct gconn *c, int32_t stream_id)
{
    struct grpc_call *call = calloc(1, sizeof *call);

    if (!call)
        return NULL;
    call->srv = c->srv;
    call->conn = c;
    call->door = c->door;
    call->nc = c->nc;
    call->stream_id = stream_id;
    grpc_deframer_init(&call->in, c->srv->lim.max_message_size);
    buf_init(&call->out, 0);
    DLIST_PREPEND(&c->calls, call, link);
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

static void free_principal(struct grpc_call *call)
{
    if (call->principal != call->principal_buf)
        free(call->principal);
    call->principal = NULL;
}

void grpc_call_free(struct grpc_call *call)
{
    struct gconn *c = call->conn;
    struct grpc_server *s = call->srv;

    if (!call->finished) {
        call->cancelled = true;
        call->status = GRPC_CANCELLED;
    }
    call->finished = true;
    if (call->audited && s->auth.audit)
        s->auth.audit(call, call->status, call->status_msg, s->auth.userdata);
    free_principal(call);
    call_detach(call);
    DLIST_REMOVE(call, link);
    DLIST_REMOVE(call, dirty_link);
    if (c) {
        c->n_calls--;
        if (call->ready_pending)
            c->n_ready--;
    }
    s->stats.active_calls--;
    if (call->starved)
        s->n_starved--;
    s->queued -= call->out.len;
    if (s->n_starved && s->queued < budget(s) / 4 * 3)
        wake_starved(s);
    if (call->deadline) {
        call->deadline->data = NULL;
        uv_close((uv_handle_t *)call->deadline, timer_free);
    }
    for (size_t i = 0; i < call->n_md; i++) {
        free(call->md[i].key); /* the value shares its allocation */
    }
    free(call->md);
    free(call->path);
    free(call->reject_msg);
    free(call->status_msg);
    free(call->status_text);
    if (call->request)
        protobuf_c_message_free_unpacked(call->request, NULL);
    grpc_deframer_done(&call->in);
    buf_done(&call->out);
    free(call);
}

/* ---- the send queue and the data provider ------------------------------------------------- */

/* Writes grpc-status (and grpc-message, when there is one) for a finished call into out, which
 * has room for two; code is storage for the number. Trailers and trailers-only responses both
 * end with these. Returns how many were written. */
static size_t status_headers(const struct grpc_call *call, char code[12], nghttp2_nv *out)
{
    static const char *const codes[] = {"0", "1",  "2",  "3",  "4",  "5",  "6",  "7", "8",
                                        "9", "10", "11", "12", "13", "14", "15", "16"};
    size_t n = 0;

    const char *v = code;
    if ((unsigned)call->status < ARRAY_SIZE(codes))
        v = codes[call->status]; /* the usual case, without formatting */
    else
        snprintf(code, 12, "%d", (int)call->status);
    out[n++] = (nghttp2_nv)NV("grpc-status", v);
    if (call->status_msg && *call->status_msg)
        out[n++] = (nghttp2_nv)NV("grpc-message", call->status_msg);
    return n;
}

void grpc_call_took(struct grpc_call *call, size_t n)
{
    struct grpc_server *s = call->srv;

    buf_consume(&call->out, n);
    if (call->out.len == 0)
        buf_reset(&call->out, 64 * 1024);
    s->queued -= n;
    if (s->n_starved && s->queued < budget(s) / 4 * 3)
        wake_starved(s);
    if (call->out.len < CALL_LOW && call->handler_live && !call->finished &&
        call->method->on_ready && !call->ready_pending) {
        call->ready_pending = true;
        if (call->conn) /* inside its connection's flush, which runs on_ready next */
            call->conn->n_ready++;
        else
            grpc_call_mark_dirty(call);
    }
}

static ssize_t data_read(nghttp2_session *h2, int32_t stream_id, uint8_t *dst, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *userdata)
{
    struct grpc_call *call = source->ptr;
    size_t n = MIN(length, call->out.len);
    (void)userdata;

    if (n) {
        memcpy(dst, buf_head(&call->out), n);
        grpc_call_took(call, n);
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

/* Wakes the data provider after output or a status was queued (a carrier, for a carried
 * call). */
static void call_kick(struct grpc_call *call)
{
    if (!call->conn)
        return grpc_call_mark_dirty(call);
    if (call->deferred) {
        call->deferred = false;
        nghttp2_session_resume_data(call->conn->h2, call->stream_id);
    }
    grpc_conn_mark_dirty(call->conn);
}

/* Queues a frame once the checks pass: append writes it into the call's queue (len: its size
 * when known beforehand, else 0 and append keeps to the cap itself). */
static int send_frame(struct grpc_call *call, size_t len,
                      int (*append)(struct grpc_call *call, const void *arg, size_t len),
                      const void *arg)
{
    int r;

    if (call->finished)
        return -EPIPE;
    if (len > call->srv->lim.max_message_size)
        return -EMSGSIZE;
    if (call->out.len >= CALL_HIGH || over_budget(call))
        return -ENOBUFS;
    size_t was = call->out.len;
    r = append(call, arg, len);
    if (r < 0)
        return r;
    call->srv->queued += call->out.len - was;
    if (!call->response_started) {
        r = call->conn ? start_response(call) : (call->response_started = true, 0);
        if (r < 0)
            return r;
    }
    call_kick(call);
    return 0;
}

int grpc_call_send_headers(struct grpc_call *call)
{
    if (call->finished)
        return -EPIPE;
    if (call->response_started)
        return 0;
    int r = call->conn ? start_response(call) : (call->response_started = true, 0);
    if (r == 0)
        grpc_call_mark_dirty(call);
    return r;
}

static int append_message(struct grpc_call *call, const void *msg, size_t len)
{
    return grpc_frame_append_sized(&call->out, msg, len);
}

static int append_packed(struct grpc_call *call, const void *bytes, size_t len)
{
    return grpc_frame_append(&call->out, false, bytes, len);
}

/* A carried call's message in its carrier's encoding: a frame marked GRPC_FRAME_CARRIED whose
 * length is known once the carrier wrote it; the cap stops an encoding too large as it grows. */
static int append_encoded(struct grpc_call *call, const void *msg, size_t len)
{
    struct buf *out = &call->out;
    size_t at = out->len, cap = out->cap;
    char err[512] = "";
    uint8_t *h;
    (void)len;

    int r = buf_reserve(out, GRPC_FRAME_HEADER, &h);
    if (r < 0)
        return r;
    buf_commit(out, GRPC_FRAME_HEADER);
    out->cap = MIN(cap, out->len + call->srv->lim.max_message_size);
    r = call->carrier->encode(call, call->carrier_io, msg, out, err, sizeof err);
    out->cap = cap;
    if (r < 0) {
        out->len = at; /* nothing half-written stays */
        if (r == -ENOBUFS || r == -EMSGSIZE)
            return -EMSGSIZE;
        if (r == -ENOMEM)
            return r;
        grpc_call_finish(call, GRPC_INTERNAL, "%s", *err ? err : "cannot encode the response");
        return -EPIPE;
    }
    size_t n = out->len - at - GRPC_FRAME_HEADER;
    h = buf_head(out) + at;
    h[0] = GRPC_FRAME_CARRIED;
    h[1] = (uint8_t)(n >> 24);
    h[2] = (uint8_t)(n >> 16);
    h[3] = (uint8_t)(n >> 8);
    h[4] = (uint8_t)n;
    return 0;
}

int grpc_call_send(struct grpc_call *call, const ProtobufCMessage *msg)
{
    if (call->carrier && call->carrier->encode)
        return send_frame(call, 0, append_encoded, msg);
    return send_frame(call, protobuf_c_message_get_packed_size(msg), append_message, msg);
}

int grpc_call_send_packed(struct grpc_call *call, const uint8_t *bytes, size_t len)
{
    return send_frame(call, len, append_packed, bytes);
}

bool grpc_call_writable(struct grpc_call *call)
{
    return !call->finished && call->out.len < CALL_HIGH && !over_budget(call);
}

/* ---- finishing ------------------------------------------------------------------------------ */

void grpc_call_finishv(struct grpc_call *call, enum grpc_status_code code, const char *fmt,
                       va_list ap)
{
    char msg[1024] = "";

    if (call->finished)
        return;
    if (fmt)
        vsnprintf(msg, sizeof msg, fmt, ap);
    call->finished = true;
    call->status = code;
    call->status_msg = *msg ? grpc_percent_encode(msg) : NULL;
    if (call->deadline)
        uv_timer_stop(call->deadline);
    if (call->ready_pending) {
        call->ready_pending = false;
        if (call->conn)
            call->conn->n_ready--;
    }

    if (call->response_started || !call->conn) {
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
    grpc_conn_mark_dirty(call->conn);
}

void grpc_call_finish(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    grpc_call_finishv(call, code, fmt, ap);
    va_end(ap);
}

void grpc_call_reply(struct grpc_call *call, const ProtobufCMessage *msg)
{
    int r = grpc_call_send(call, msg);

    if (r == -EMSGSIZE)
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "response exceeds the %u-byte limit",
                         call->srv->lim.max_message_size);
    else if (r < 0)
        grpc_call_finish(call, r == -EPIPE ? GRPC_UNAVAILABLE : GRPC_RESOURCE_EXHAUSTED,
                         "could not queue the response: %s", strerror(-r));
    else
        grpc_call_finish(call, GRPC_OK, NULL);
}

void grpc_call_abort(struct grpc_call *call, enum grpc_status_code code, const char *fmt, ...)
{
    va_list ap;

    if (call->finished)
        return;
    call->cancelled = true;
    va_start(ap, fmt);
    grpc_call_finishv(call, code, fmt, ap);
    va_end(ap);
    call_detach(call);
}

/* ---- accessors ------------------------------------------------------------------------------ */

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
    return net_conn_peer(call->nc);
}

struct net_conn *grpc_call_conn(const struct grpc_call *call)
{
    return call->nc;
}

void *grpc_call_door(const struct grpc_call *call)
{
    return call->door;
}

void grpc_call_set_principal(struct grpc_call *call, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    free_principal(call);
    if (name && n < sizeof call->principal_buf)
        call->principal = memcpy(call->principal_buf, name, n + 1);
    else if (name)
        call->principal = strdup(name);
}

void grpc_call_set_scopes(struct grpc_call *call, unsigned scopes)
{
    call->scopes = scopes;
}

unsigned grpc_call_scopes(const struct grpc_call *call)
{
    return call->scopes;
}

const char *grpc_call_principal(const struct grpc_call *call)
{
    return call->principal;
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
