/* The Connect protocol (connectrpc.com) on the HTTP door: every method of every registered gRPC
 * service at POST /<package>.<Service>/<Method>, callable from a browser's fetch or curl.
 *
 * Unary methods take application/json (proto3's JSON mapping, src/grpc/json.h) or
 * application/proto, and answer 200 with the response in the same encoding; an error is a JSON
 * body {"code": "not_found", "message": "..."} with the HTTP status Connect maps the code to.
 * Server-streaming methods take application/connect+json or application/connect+proto: the
 * request and each response are enveloped (a flags byte and a 4-byte length), the responses
 * come as HTTP/1.1 chunks as they are made, and an end-of-stream envelope (flags 2) carries the
 * error, if any. Client and bidi streams need HTTP/2 and are refused.
 *
 * A unary method a read token may call (one that changes nothing) may also be a GET, as Connect
 * allows for methods without side effects: GET /<package>.<Service>/<Method>?encoding=json&
 * message=<the request, percent-encoded> (or base64=1 and the message in base64url, the only
 * form for encoding=proto; compression=gzip for a compressed one; connect=v1). Methods that
 * change something answer a GET with 405.
 *
 * Each call is the gRPC server's own (grpc_server_carry): the same handler, scopes per method,
 * bearer tokens (the Authorization header), deadline (Connect-Timeout-Ms), limits and audit as
 * on the gRPC doors. Request headers other than the protocol's become the call's metadata. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/authz.h"
#include "api/web/web-internal.h"
#include "base/buf.h"
#include "base/gzip.h"
#include "base/macro.h"
#include "grpc/grpc.h"
#include "grpc/json.h"
#include "grpc/wire.h"
#include "http1/http1.h"

#define STREAM_HIGH (256u << 10) /* bytes queued on the connection before a stream waits */
#define GZIP_MIN    1024         /* answers shorter than this go uncompressed */
#define MAX_MD      64           /* request headers passed on as metadata */
#define INFLATE_MAX (16u << 20)  /* a compressed request may inflate to this */

enum codec { CODEC_JSON, CODEC_PROTO };

struct connect_call {
    struct api_web *w;        /* the face */
    struct http_request *req; /* the request, until its answer ends or its connection goes */
    struct grpc_call *call;   /* the gRPC server's call */
    enum codec codec;         /* both ways */
    bool streaming;           /* enveloped messages, chunks, an end-of-stream envelope */
    bool started;             /* streaming: the head went out */
    struct buf unary;         /* unary: the response, kept until the status comes */
    bool have_unary;          /* it came */
};

/* ---- codes ------------------------------------------------------------------------------- */

static const struct {
    const char *name; /* Connect's name for the gRPC code */
    int http;         /* the HTTP status of a unary error */
} codes[] = {
    [GRPC_OK] = {"ok", 200},
    [GRPC_CANCELLED] = {"canceled", 499},
    [GRPC_UNKNOWN] = {"unknown", 500},
    [GRPC_INVALID_ARGUMENT] = {"invalid_argument", 400},
    [GRPC_DEADLINE_EXCEEDED] = {"deadline_exceeded", 504},
    [GRPC_NOT_FOUND] = {"not_found", 404},
    [GRPC_ALREADY_EXISTS] = {"already_exists", 409},
    [GRPC_PERMISSION_DENIED] = {"permission_denied", 403},
    [GRPC_RESOURCE_EXHAUSTED] = {"resource_exhausted", 429},
    [GRPC_FAILED_PRECONDITION] = {"failed_precondition", 400},
    [GRPC_ABORTED] = {"aborted", 409},
    [GRPC_OUT_OF_RANGE] = {"out_of_range", 400},
    [GRPC_UNIMPLEMENTED] = {"unimplemented", 501},
    [GRPC_INTERNAL] = {"internal", 500},
    [GRPC_UNAVAILABLE] = {"unavailable", 503},
    [GRPC_DATA_LOSS] = {"data_loss", 500},
    [GRPC_UNAUTHENTICATED] = {"unauthenticated", 401},
};

static enum grpc_status_code known(enum grpc_status_code code)
{
    return (unsigned)code < ARRAY_SIZE(codes) ? code : GRPC_UNKNOWN;
}

/* {"code": ..., "message": ...} into out (emptied first). */
static void error_json(struct buf *out, enum grpc_status_code code, const char *msg)
{
    json_t *j = json_pack("{s:s}", "code", codes[known(code)].name);
    if (j && msg && *msg)
        json_object_set_new(j, "message", json_string(msg));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    buf_reset(out, 0);
    if (!s || buf_append(out, s, strlen(s)) < 0) {
        buf_reset(out, 0);
        (void)buf_append(out, "{\"code\":\"internal\"}", 19);
    }
    free(s);
    json_decref(j);
}

/* A unary error, or a refusal before any call began: the code's HTTP status, a JSON body. */
static void respond_error(struct http_request *req, enum grpc_status_code code, const char *msg)
{
    struct buf b;
    buf_init(&b, 0);
    error_json(&b, code, msg);
    http_respond(req, codes[known(code)].http, NULL, "application/json", buf_head(&b), b.len);
    buf_done(&b);
}

/* ---- messages ---------------------------------------------------------------------------- */

/* A response in the call's encoding, appended to out: bytes already in it (the carrier's encode
 * hook wrote them, or the call is protobuf) as they are, a packed message queued as such
 * (grpc_call_send_packed) converted. */
static int encode(struct connect_call *cc, const uint8_t *bytes, size_t len, bool encoded,
                  struct buf *out, char *err, size_t size)
{
    if (encoded || cc->codec == CODEC_PROTO)
        return buf_append(out, bytes, len);
    const ProtobufCMessageDescriptor *d = grpc_call_output_type(cc->call);
    if (!d)
        return snprintf(err, size, "this service gives no response type for JSON"), -ENOTSUP;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, bytes);
    if (!m)
        return snprintf(err, size, "cannot read the response"), -EBADMSG;
    int r = pbjson_encode(m, connect_types(cc->w), out, err, size);
    protobuf_c_message_free_unpacked(m, NULL);
    return r;
}

/* The carrier's encode hook for JSON calls: the handler's message straight into JSON, not packed
 * and unpacked again on the way. */
static int encode_json(struct grpc_call *call, void *io, const ProtobufCMessage *msg,
                       struct buf *out, char *err, size_t size)
{
    struct connect_call *cc = io;
    (void)call;
    return pbjson_encode(msg, connect_types(cc->w), out, err, size);
}

/* The request message from its encoding; NULL with the reason in err. */
static ProtobufCMessage *decode(struct connect_call *cc, const uint8_t *p, size_t len, char *err,
                                size_t size)
{
    const ProtobufCMessageDescriptor *d = grpc_call_method(cc->call)->input;
    ProtobufCMessage *m = NULL;
    if (cc->codec == CODEC_JSON) {
        char why[400];
        if (pbjson_decode(d, connect_types(cc->w), (const char *)p, len, &m, why, sizeof why) < 0)
            snprintf(err, size, "request is not a valid %s: %s", d->name, why);
        return m;
    }
    if (!(m = protobuf_c_message_unpack(d, NULL, len, p)))
        snprintf(err, size, "request is not a valid %s", d->name);
    return m;
}

/* One envelope: flags, a big-endian length, the message. */
static int envelope(struct buf *out, uint8_t flags, const void *p, size_t len)
{
    uint8_t h[5] = {flags, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                    (uint8_t)len};
    int r = buf_append(out, h, sizeof h);
    return r < 0 ? r : buf_append(out, p, len);
}

/* ---- the call's end ---------------------------------------------------------------------- */

static void cc_free(struct connect_call *cc)
{
    buf_done(&cc->unary);
    free(cc);
}

static void answer_unary(struct connect_call *cc, enum grpc_status_code code, const char *msg)
{
    struct http_request *req = cc->req;
    const char *type = cc->codec == CODEC_JSON ? "application/json" : "application/proto";
    struct buf gz;

    if (code != GRPC_OK)
        return respond_error(req, code, msg);
    if (!cc->have_unary)
        return respond_error(req, GRPC_UNIMPLEMENTED, "the method answered with no message");
    buf_init(&gz, 0);
    if (cc->unary.len >= GZIP_MIN && http_request_accepts_gzip(req) &&
        gzip_deflate(buf_head(&cc->unary), cc->unary.len, &gz) == 0)
        http_respond(req, 200, "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n", type,
                     buf_head(&gz), gz.len);
    else
        http_respond(req, 200, "Vary: Accept-Encoding\r\n", type, buf_head(&cc->unary),
                     cc->unary.len);
    buf_done(&gz);
}

static void end_stream(struct connect_call *cc, enum grpc_status_code code, const char *msg)
{
    struct buf end, err;
    buf_init(&end, 0);
    buf_init(&err, 0);
    if (code != GRPC_OK) {
        error_json(&err, code, msg);
        (void)buf_append(&end, "{\"error\":", 9);
        (void)buf_append(&end, buf_head(&err), err.len);
        (void)buf_append(&end, "}", 1);
    } else {
        (void)buf_append(&end, "{}", 2);
    }
    struct buf env;
    buf_init(&env, 0);
    if (envelope(&env, 2, buf_head(&end), end.len) == 0)
        (void)http_stream_write(cc->req, buf_head(&env), env.len);
    http_stream_end(cc->req);
    buf_done(&env);
    buf_done(&end);
    buf_done(&err);
}

static const struct http_later later;

/* The call has responses or its status: pass them on. */
static void wake(struct grpc_call *call, void *io)
{
    struct connect_call *cc = io;
    const uint8_t *p;
    size_t len;
    bool encoded;
    char err[512] = "";

    if (cc->streaming && !cc->started) {
        if (http_stream_begin(cc->req, 200, NULL,
                              cc->codec == CODEC_JSON ? "application/connect+json"
                                                      : "application/connect+proto") < 0)
            goto gone;
        cc->started = true;
    }
    while ((!cc->streaming || http_request_pending(cc->req) < STREAM_HIGH) &&
           grpc_call_take_response(call, &p, &len, &encoded)) {
        if (!cc->streaming) {
            buf_reset(&cc->unary, 0);
            cc->have_unary = encode(cc, p, len, encoded, &cc->unary, err, sizeof err) >= 0;
            if (!cc->have_unary)
                grpc_call_finish(call, GRPC_INTERNAL, "%s", err);
            continue;
        }
        struct buf msg, env;
        buf_init(&msg, 0);
        buf_init(&env, 0);
        int r = encode(cc, p, len, encoded, &msg, err, sizeof err);
        if (r >= 0)
            r = envelope(&env, 0, buf_head(&msg), msg.len);
        if (r >= 0 && http_stream_write(cc->req, buf_head(&env), env.len) < 0) {
            buf_done(&msg);
            buf_done(&env);
            goto gone;
        }
        buf_done(&msg);
        buf_done(&env);
        if (r < 0)
            grpc_call_finish(call, GRPC_INTERNAL, "%s", *err ? err : "out of memory");
    }
    enum grpc_status_code code;
    const char *msg;
    if (!grpc_call_status(call, &code, &msg))
        return; /* more to come: the next wake, or the connection's drain */
    if (cc->streaming)
        end_stream(cc, code, msg);
    else
        answer_unary(cc, code, msg);
gone:
    grpc_call_release(call);
    cc_free(cc);
}

/* JSON calls take the handler's messages in JSON; protobuf ones as they are packed. */
static const struct grpc_carrier carrier_json = {wake, encode_json};
static const struct grpc_carrier carrier_proto = {wake, NULL};

/* The connection went before the answer ended: the call is cancelled. */
static void on_gone(void *arg)
{
    struct connect_call *cc = arg;
    grpc_call_release(cc->call);
    cc_free(cc);
}

/* Room again on the connection: a stream takes more. */
static void on_drain(void *arg)
{
    struct connect_call *cc = arg;
    if (cc->streaming && http_request_pending(cc->req) < STREAM_HIGH / 2)
        wake(cc->call, cc);
}

static const struct http_later later = {on_gone, on_drain};

/* ---- the request ------------------------------------------------------------------------- */

/* Whether path looks like /<package>.<Service>/<Method>. */
bool connect_path(const char *path)
{
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    return slash && slash[1] && !strchr(slash + 1, '/') &&
           memchr(path + 1, '.', (size_t)(slash - path));
}

/* Headers that are the protocol's, not the call's metadata. */
static bool protocol_header(const char *name, size_t n)
{
    static const char *const skip[] = {
        "host",
        "content-type",
        "content-length",
        "content-encoding",
        "connection",
        "accept",
        "accept-encoding",
        "user-agent",
        "origin",
        "referer",
        "cookie",
        "te",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "cache-control",
        "pragma",
        "accept-language",
        "dnt",
    };
    if ((n > 8 && !strncasecmp(name, "connect-", 8)) || (n > 4 && !strncasecmp(name, "sec-", 4)) ||
        (n > 5 && !strncasecmp(name, "grpc-", 5)))
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
        if (strlen(skip[i]) == n && !strncasecmp(skip[i], name, n))
            return true;
    return false;
}

/* The request's metadata: lowercase name, value pairs in storage (NULL-terminated). */
static void metadata(struct http_request *req, char *names, const char **pairs)
{
    const char *name, *value;
    size_t n, k = 0;
    for (size_t i = 0; k < 2 * MAX_MD && http_request_header_at(req, i, &name, &n, &value); i++) {
        if (protocol_header(name, n) || n >= 64)
            continue;
        char *lower = names + (k / 2) * 64;
        for (size_t j = 0; j < n; j++)
            lower[j] = (char)(name[j] >= 'A' && name[j] <= 'Z' ? name[j] - 'A' + 'a' : name[j]);
        lower[n] = '\0';
        pairs[k++] = lower;
        pairs[k++] = value;
    }
    pairs[k] = NULL;
}

/* The request's bytes (p, n), inflated when the client compressed them. */
static int body_of(const uint8_t *p, size_t n, const char *encoding, struct buf *plain,
                   const uint8_t **ret, size_t *ret_len, char *err, size_t size)
{
    *ret = p;
    *ret_len = n;
    if (!encoding || !strcasecmp(encoding, "identity"))
        return 0;
    if (strcasecmp(encoding, "gzip"))
        return snprintf(err, size, "encoding '%s' is not supported (identity and gzip are)",
                        encoding),
               -ENOTSUP;
    int r = gzip_inflate(p, *ret_len, INFLATE_MAX, plain);
    if (r < 0)
        return snprintf(err, size, "%s",
                        r == -EMSGSIZE ? "request inflates past 16 MiB"
                                       : "request body is not valid gzip"),
               r;
    *ret = buf_head(plain);
    *ret_len = plain->len;
    return 0;
}

/* A POST's codec and kind from its Content-Type, parameters aside; false for another type. */
static bool media_type(const char *type, enum codec *codec, bool *streaming)
{
    size_t n = type ? strcspn(type, "; ") : 0;
#define IS(s) (n == sizeof(s) - 1 && !strncasecmp(type, s, n))
    *streaming = IS("application/connect+json") || IS("application/connect+proto");
    *codec = IS("application/json") || IS("application/connect+json") ? CODEC_JSON : CODEC_PROTO;
    return *streaming || IS("application/json") || IS("application/proto");
#undef IS
}

/* A GET's request, from its query: the codec, the protocol version, the compression and the
 * message's bytes (in msg). 0, or an HTTP status with the reason in err. */
static int get_form(struct http_request *req, enum codec *codec, char *comp, size_t comp_size,
                    struct buf *msg, char *err, size_t size)
{
    char small[16];
    const char *v = http_request_query(req, "encoding", small, sizeof small);
    if (!v || (strcmp(v, "json") && strcmp(v, "proto")))
        return snprintf(err, size, "a GET names its encoding: ?encoding=json or proto"), 415;
    *codec = !strcmp(v, "json") ? CODEC_JSON : CODEC_PROTO;
    v = http_request_query(req, "connect", small, sizeof small);
    if (v && strcmp(v, "v1"))
        return snprintf(err, size, "connect must be v1"), 400;
    v = http_request_query(req, "compression", comp, comp_size);
    if (!v)
        *comp = '\0';
    bool b64 = (v = http_request_query(req, "base64", small, sizeof small)) && !strcmp(v, "1");
    if (*codec == CODEC_PROTO && !b64)
        return snprintf(err, size, "a GET's protobuf message is base64 (base64=1)"), 400;
    size_t room = http_request_target_len(req) + 1;
    uint8_t *p;
    if (buf_reserve(msg, room, &p) < 0)
        return snprintf(err, size, "out of memory"), 503;
    if (!(v = http_request_query(req, "message", (char *)p, room)))
        return snprintf(err, size, "a GET carries its request in ?message="), 400;
    long n = (long)strlen(v);
    if (b64 && (n = base64url_decode(v, (size_t)n, p)) < 0)
        return snprintf(err, size, "message is not valid base64url"), 400;
    buf_commit(msg, (size_t)n);
    return 0;
}

/* Whether a GET may call path: a method a read token may call changes nothing. Unknown ones
 * pass, for the server to say what they are. */
static bool get_allowed(const char *path)
{
    char service[256];
    const char *slash = strrchr(path, '/');
    size_t n = slash && slash > path ? (size_t)(slash - path - 1) : 0;
    if (!n || n >= sizeof service)
        return true;
    memcpy(service, path + 1, n);
    service[n] = '\0';
    int scope = authz_method_scope(service, slash + 1);
    return scope == AUTH_READ || scope == AUTHZ_PUBLIC || scope < 0;
}

/* One call; a GET's message is read into query_msg, which the caller frees. */
static void handle(struct api_web *w, struct http_request *req, struct buf *query_msg)
{
    const char *type = http_request_header(req, "Content-Type");
    const char *path = http_request_path(req);
    char err[512] = "", names[MAX_MD * 64];
    const char *pairs[2 * MAX_MD + 1];
    enum codec codec;
    bool streaming = false, get = !strcmp(http_request_method(req), "GET");
    char comp[16];

    if (!get && strcmp(http_request_method(req), "POST"))
        return http_respond(req, 405, "Allow: GET, POST\r\n", "text/plain",
                            "Connect calls are POST requests (or GET for those that read)\n", 62);
    if (get && !get_allowed(path)) {
        static const char why[] = "this method changes things: call it with POST\n";
        return http_respond(req, 405, "Allow: POST\r\n", "text/plain", why, sizeof why - 1);
    }
    if (get) {
        int status = get_form(req, &codec, comp, sizeof comp, query_msg, err, sizeof err);
        if (status)
            return http_respond(req, status, NULL, "text/plain", err, strlen(err));
    } else if (!media_type(type, &codec, &streaming)) {
        static const char why[] = "Connect calls are application/json or application/proto "
                                  "(application/connect+json or +proto for streams)\n";
        return http_respond(req, 415, "Accept-Post: application/json, application/proto\r\n",
                            "text/plain", why, sizeof why - 1);
    }
    const char *version = http_request_header(req, "Connect-Protocol-Version");
    if (version && strcmp(version, "1"))
        return respond_error(req, GRPC_INVALID_ARGUMENT, "Connect-Protocol-Version must be 1");
    const char *timeout = http_request_header(req, "Connect-Timeout-Ms");
    uint64_t timeout_ms = 0;
    if (timeout) {
        char *end;
        timeout_ms = strtoull(timeout, &end, 10);
        if (!*timeout || *end || timeout_ms == 0 || strlen(timeout) > 10)
            return respond_error(req, GRPC_INVALID_ARGUMENT,
                                 "Connect-Timeout-Ms must be a positive number of milliseconds");
    }
    metadata(req, names, pairs);

    struct connect_call *cc = calloc(1, sizeof *cc);
    if (!cc)
        return respond_error(req, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    *cc = (struct connect_call){.w = w, .req = req, .codec = codec, .streaming = streaming};
    buf_init(&cc->unary, 0);
    /* From here the answer may come later: an error keeps the connection open. */
    http_defer(req, &later, cc);

    enum grpc_status_code code;
    struct grpc_carried how = {
        .path = path,
        .timeout_ms = timeout_ms,
        .door = authz_door(connect_host(w)->authz, AUTHZ_DOOR_HTTP),
        .conn = http_request_conn(req),
        .metadata = pairs,
    };
    cc->call = grpc_server_carry(connect_host(w)->grpc, &how,
                                 codec == CODEC_JSON ? &carrier_json : &carrier_proto, cc, &code,
                                 err, sizeof err);
    if (!cc->call) {
        cc_free(cc);
        return respond_error(req, code, err);
    }
    const struct grpc_method *m = grpc_call_method(cc->call);
    if (m->kind == GRPC_CLIENT_STREAM || m->kind == GRPC_BIDI) {
        grpc_call_finish(cc->call, GRPC_UNIMPLEMENTED,
                         "%s streams requests: call it over gRPC (HTTP/2)", m->name);
        return;
    }
    if (streaming != (m->kind == GRPC_SERVER_STREAM)) {
        grpc_call_finish(cc->call, GRPC_INVALID_ARGUMENT,
                         streaming ? "%s is unary: use application/json or application/proto"
                                   : "%s streams its answers: use application/connect+json or "
                                     "application/connect+proto",
                         m->name);
        return;
    }

    struct buf plain;
    const uint8_t *p;
    size_t len;
    buf_init(&plain, 0);
    const char *enc =
        get ? (*comp ? comp : NULL)
            : http_request_header(req, streaming ? "Connect-Content-Encoding" : "Content-Encoding");
    size_t raw_len = query_msg->len;
    const uint8_t *raw = get ? buf_head(query_msg) : http_request_body(req, &raw_len);
    int r = body_of(raw, raw_len, streaming ? NULL : enc, &plain, &p, &len, err, sizeof err);
    if (r == 0 && streaming) { /* one envelope, the request */
        size_t n =
            len >= 5 ? (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4] : 0;
        if (len < 5 || len != 5 + n || (p[0] & ~1u))
            r = -EINVAL, snprintf(err, sizeof err, "a stream's request is one envelope");
        else if ((p[0] & 1) && (!enc || strcasecmp(enc, "gzip")))
            r = -EINVAL, snprintf(err, sizeof err,
                                  "compressed envelope without "
                                  "Connect-Content-Encoding: gzip");
        else if (p[0] & 1) {
            if (gzip_inflate(p + 5, n, INFLATE_MAX, &plain) < 0)
                r = -EINVAL, snprintf(err, sizeof err, "the request envelope is not valid gzip");
            p = buf_head(&plain);
            len = plain.len;
        } else {
            p += 5;
            len = n;
        }
    }
    ProtobufCMessage *msg = r == 0 ? decode(cc, p, len, err, sizeof err) : NULL;
    buf_done(&plain);
    if (!msg) {
        grpc_call_finish(cc->call, r == -ENOTSUP ? GRPC_UNIMPLEMENTED : GRPC_INVALID_ARGUMENT, "%s",
                         err);
        return;
    }
    grpc_call_give(cc->call, msg, true);
}

void connect_handle(struct api_web *w, struct http_request *req)
{
    struct buf query_msg;
    buf_init(&query_msg, 0);
    handle(w, req, &query_msg);
    buf_done(&query_msg);
}

/* ---- message types by name, for Any ----------------------------------------------------- */

struct connect_types {
    struct pbjson_types find;                   /* what the codec calls */
    const ProtobufCMessageDescriptor **by_name; /* every type the services use, sorted */
    size_t n, cap;                              /* entries, room */
};

static int add_type(struct connect_types *t, const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->by_name[i] == d)
            return 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        const ProtobufCMessageDescriptor **n = realloc(t->by_name, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        t->by_name = n;
        t->cap = cap;
    }
    t->by_name[t->n++] = d;
    for (unsigned i = 0; i < d->n_fields; i++) /* and every type within it */
        if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE &&
            add_type(t, d->fields[i].descriptor) < 0)
            return -ENOMEM;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const ProtobufCMessageDescriptor *const *)a)->name,
                  (*(const ProtobufCMessageDescriptor *const *)b)->name);
}

static const ProtobufCMessageDescriptor *find_type(const char *name, void *userdata)
{
    struct connect_types *t = userdata;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t->by_name[mid]->name, name);
        if (c == 0)
            return t->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct connect_types *connect_types_new(struct grpc_server *s)
{
    struct connect_types *t = calloc(1, sizeof *t);
    const struct grpc_service *svc;

    if (!t)
        return NULL;
    t->find = (struct pbjson_types){find_type, t};
    for (size_t i = 0; (svc = grpc_server_service_at(s, i)); i++) {
        const ProtobufCServiceDescriptor *d = svc->descriptor;
        for (unsigned j = 0; d && j < d->n_methods; j++)
            if (add_type(t, d->methods[j].input) < 0 || add_type(t, d->methods[j].output) < 0)
                goto fail;
        for (size_t j = 0; svc->any_types && svc->any_types[j]; j++)
            if (add_type(t, svc->any_types[j]) < 0)
                goto fail;
    }
    qsort(t->by_name, t->n, sizeof *t->by_name, by_name);
    return t;
fail:
    connect_types_free(t);
    return NULL;
}

void connect_types_free(struct connect_types *t)
{
    if (!t)
        return;
    free(t->by_name);
    free(t);
}

const struct pbjson_types *connect_types_of(const struct connect_types *t)
{
    return t ? &t->find : NULL;
}
