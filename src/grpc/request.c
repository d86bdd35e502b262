/* The request side of a gRPC call: the nghttp2 callbacks that nghttp2_session_mem_recv (server.c)
 * runs as a connection's bytes arrive, and what they do to the stream's call.
 *
 * Headers. A request HEADERS frame makes the call (on_begin_headers); each header is checked as it
 * comes (on_header), and what is wrong is remembered to be answered once the headers end: a bad
 * :method or content-type at the HTTP level (405, 415), the first other problem with its gRPC
 * status. Headers gRPC does not consume become metadata, -bin values decoded. Their total is
 * capped at max_header_list_size, counted as HPACK does.
 *
 * Dispatch. When the headers end (call_begin) the path is resolved to a method, the authorizer
 * asked, the deadline armed and the handler attached. DATA is deframed into messages, each
 * inflated when compressed and decoded into the method's request type; a unary or
 * server-streaming request is held until the client half-closes, the others go to on_message as
 * they come.
 *
 * Flow control. Receive windows are consumed by hand (server.c turns automatic WINDOW_UPDATE
 * off): bytes of complete messages are released at once, bytes of a partial message only when it
 * completes, so what a connection can make us hold is capped by its connection window. Once a
 * call is finished its remaining DATA is consumed and dropped: the stream is left to end by
 * itself, never reset. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/gzip.h"
#include "base/vec.h"
#include "grpc/grpc-internal.h"

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

int grpc_call_add_metadata(struct grpc_call *call, const uint8_t *name, size_t namelen,
                           const uint8_t *value, size_t valuelen)
{
    bool bin = namelen > 4 && memcmp(name + namelen - 4, "-bin", 4) == 0;

    if (VEC_RESERVE(call->md, call->cap_md, call->n_md + 1) < 0)
        return -ENOMEM;
    struct metadata *m = &call->md[call->n_md];
    /* Key and value in one allocation (the value's decoded form is never longer). */
    if (!(m->key = malloc(namelen + 1 + valuelen + 1)))
        return -ENOMEM;
    memcpy(m->key, name, namelen);
    m->key[namelen] = '\0';
    m->value = m->key + namelen + 1;
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
    return grpc_call_add_metadata(call, name, namelen, value, valuelen) < 0
               ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE
               : 0;
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *userdata)
{
    struct gconn *c = userdata;
    struct grpc_call *call;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    call = grpc_call_new(c, frame->hd.stream_id);
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
    grpc_call_abort(call, GRPC_DEADLINE_EXCEEDED, "deadline of %llu ms exceeded",
                    (unsigned long long)call->timeout_ms);
    grpc_call_mark_dirty(call);
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
    if (call->bad_method)
        return http_reject(call, "405");
    if (call->bad_content_type)
        return http_reject(call, "415");
    call->srv->stats.calls_total++;
    if (call->reject != GRPC_OK)
        return grpc_call_finish(call, call->reject, "%s", call->reject_msg);
    (void)grpc_call_resolve(call);
}

bool grpc_call_resolve(struct grpc_call *call)
{
    struct grpc_server *s = call->srv;
    const char *path = call->path ? call->path : "";
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    if (!slash) {
        grpc_call_finish(call, GRPC_UNIMPLEMENTED, "malformed method path '%s'", path);
        return false;
    }
    const struct service_entry *se =
        grpc_server_find_service(s, path + 1, (size_t)(slash - path - 1));
    if (!se) {
        grpc_call_finish(call, GRPC_UNIMPLEMENTED, "unknown service '%.*s'",
                         (int)(slash - path - 1), path + 1);
        return false;
    }
    for (size_t i = 0; i < se->svc->n_methods; i++)
        if (strcmp(se->svc->methods[i].name, slash + 1) == 0)
            call->method = &se->svc->methods[i];
    if (!call->method) {
        grpc_call_finish(call, GRPC_UNIMPLEMENTED, "unknown method '%s' in service '%s'", slash + 1,
                         se->svc->name);
        return false;
    }
    call->service = se;
    if (s->auth.authorize) {
        char msg[512] = "";
        call->audited = true;
        enum grpc_status_code code = s->auth.authorize(call, se->svc->name, call->method->name, msg,
                                                       sizeof msg, s->auth.userdata);
        if (code != GRPC_OK) {
            grpc_call_finish(call, code, "%s", msg);
            return false;
        }
    }

    call->started = true;
    call->handler_live = true;
    if (call->has_timeout) {
        call->deadline = malloc(sizeof *call->deadline);
        if (!call->deadline) {
            grpc_call_abort(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
            return false;
        }
        uv_timer_init(s->loop, call->deadline);
        call->deadline->data = call;
        uv_timer_start(call->deadline, on_deadline, call->timeout_ms, 0);
    }
    return true;
}

/* ---- request messages ------------------------------------------------------------------- */

static int on_request_message(void *userdata, bool compressed, const uint8_t *data, size_t len)
{
    struct grpc_call *call = userdata;
    const struct grpc_method *m = call->method;
    struct buf plain;

    buf_init(&plain, 0);
    if (compressed) {
        if (!call->gzip) {
            grpc_call_abort(call, GRPC_INTERNAL, "compressed message without grpc-encoding");
            return -ECANCELED;
        }
        int r = gzip_inflate(data, len, call->srv->lim.max_message_size, &plain);
        if (r < 0) {
            buf_done(&plain);
            if (r == -EMSGSIZE)
                grpc_call_abort(call, GRPC_RESOURCE_EXHAUSTED,
                                "decompressed request exceeds the %u-byte limit",
                                call->srv->lim.max_message_size);
            else
                grpc_call_abort(call, GRPC_INVALID_ARGUMENT, "request message is not valid gzip");
            return -ECANCELED;
        }
        data = buf_head(&plain);
        len = plain.len;
    }

    ProtobufCMessage *msg = protobuf_c_message_unpack(m->input, NULL, len, data);
    buf_done(&plain);
    if (!msg) {
        grpc_call_abort(call, GRPC_INVALID_ARGUMENT, "request is not a valid %s", m->input->name);
        return -ECANCELED;
    }
    return grpc_call_take_request(call, msg) ? 0 : -ECANCELED;
}

bool grpc_call_take_request(struct grpc_call *call, ProtobufCMessage *msg)
{
    const struct grpc_method *m = call->method;

    call->n_requests++;
    if (m->kind == GRPC_UNARY || m->kind == GRPC_SERVER_STREAM) {
        if (call->request) {
            protobuf_c_message_free_unpacked(msg, NULL);
            grpc_call_abort(call, GRPC_INVALID_ARGUMENT, "%s takes one request message, got more",
                            m->name);
            return false;
        }
        call->request = msg;
        return true;
    }
    m->on_message(call, msg);
    protobuf_c_message_free_unpacked(msg, NULL);
    return !call->finished;
}

void grpc_call_half_close(struct grpc_call *call)
{
    const struct grpc_method *m = call->method;

    if (!call->started || call->finished)
        return;
    if (grpc_deframer_pending(&call->in) > 0)
        return grpc_call_abort(call, GRPC_INTERNAL, "request ended inside a message");
    if (m->kind == GRPC_UNARY || m->kind == GRPC_SERVER_STREAM) {
        if (!call->request)
            return grpc_call_abort(call, GRPC_INVALID_ARGUMENT,
                                   "%s takes one request message, got 0", m->name);
        m->on_message(call, call->request);
        protobuf_c_message_free_unpacked(call->request, NULL);
        call->request = NULL;
        return;
    }
    if (m->on_half_close)
        m->on_half_close(call);
}

/* ---- frames and streams ----------------------------------------------------------------- */

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *userdata)
{
    struct grpc_call *call;
    struct gconn *c = userdata;

    c->preface_seen = true; /* a whole frame came: the preface was good */
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    call = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!call)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        call_begin(call);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        grpc_call_half_close(call);
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
            grpc_call_abort(call, GRPC_RESOURCE_EXHAUSTED,
                            "request message of %u bytes exceeds the %u-byte limit", size,
                            c->srv->lim.max_message_size);
        else if (r == -EPROTO)
            grpc_call_abort(call, GRPC_INTERNAL, "invalid message flag");
        else if (r < 0 && r != -ECANCELED)
            grpc_call_abort(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
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
        grpc_call_free(call);
    return 0;
}

void grpc_request_set_callbacks(nghttp2_session_callbacks *cbs)
{
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
}
