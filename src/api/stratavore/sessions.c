/* stratavore.v1.SessionService over the runner core's conversations and transcripts. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/stratavore/stratavore-internal.h"
#include "base/buf.h"
#include "base/macro.h"
#include "google/protobuf/timestamp.pb-c.h"

static struct rn_conv *find(struct grpc_call *call, struct sv *sv, const char *id)
{
    struct rn_conv *c = id && *id ? rn_conv_find(sv->m, id) : NULL;
    if (!id || !*id)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "session_id is required");
    else if (!c)
        grpc_call_finish(call, GRPC_NOT_FOUND, "session %s not found", id);
    return c;
}

static Stratavore__V1__Session *session_out(struct sv *sv, struct api_arena *a,
                                            const struct rn_conv *c)
{
    Stratavore__V1__Session *m = sv_session_out(sv, a, c);
    char *path = rn_transcript_path(sv->m, c->project, c->id);
    m->details->transcript_path = arena_strdup(a, path ? path : "");
    m->details->transcript_size_bytes = rn_transcript_size(sv->m, c);
    free(path);
    return m;
}

static void create(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__CreateSessionRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct rn_create launch;
    struct rn_conv *c = NULL;
    struct rn_runner *r = NULL;
    char err[RN_ERR_MAX] = "";

    if (q->launch)
        sv_create_in(&a, &launch, q->launch);
    int x = rn_conv_create(sv->m, q->project_name, q->runner_id, q->model,
                           arena_map_in(&a, (void *const *)q->metadata, q->n_metadata),
                           q->launch ? &launch : NULL, &c, &r, err, sizeof err);
    if (x < 0)
        return arena_free(&a), sv_fail(call, x, err);
    Stratavore__V1__CreateSessionResponse *m =
        arena_msg(&a, &stratavore__v1__create_session_response__descriptor);
    m->session = session_out(sv, &a, c);
    if (r)
        m->runner = sv_runner_out(sv, &a, r);
    arena_reply(call, &a, &m->base);
}

static void get(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__GetSessionRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct rn_conv *c = find(call, sv, q->session_id);
    struct api_arena a = {0};

    if (!c)
        return;
    Stratavore__V1__GetSessionResponse *m =
        arena_msg(&a, &stratavore__v1__get_session_response__descriptor);
    m->session = session_out(sv, &a, c);
    struct rn_runner *r = q->include_runner ? rn_runner_find(sv->m, c->runner_id) : NULL;
    if (r)
        m->runner = sv_runner_out(sv, &a, r);
    arena_reply(call, &a, &m->base);
}

static void list(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__ListSessionsRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct sv_page pg;

    if (!sv_page_begin(call, q->limit, q->offset, q->status,
                       STRATAVORE__V1__SESSION_STATUS__SESSION_STATUS_ENDED, &pg))
        return;
    Stratavore__V1__ListSessionsResponse *m =
        arena_msg(&a, &stratavore__v1__list_sessions_response__descriptor);
    m->sessions = arena_alloc(&a, pg.limit * sizeof *m->sessions);
    for (struct rn_conv *c = NULL; (c = rn_conv_next(sv->m, c));) {
        enum rn_conv_status st = rn_conv_status(sv->m, c);
        bool ran = false;
        for (size_t i = 0; *q->runner_id && c->runner_ids && c->runner_ids[i]; i++)
            ran |= strcmp(c->runner_ids[i], q->runner_id) == 0;
        if ((*q->project_name && strcmp(c->project, q->project_name) != 0) ||
            (*q->runner_id && !ran) || (q->status && (int)st != (int)q->status) ||
            (q->resumable_only && st == RN_CONV_ENDED) || !sv_page_take(&pg))
            continue;
        m->sessions[pg.n - 1] = session_out(sv, &a, c);
    }
    m->n_sessions = pg.n;
    sv_page_end(&pg, &m->total_count, &m->has_more);
    arena_reply(call, &a, &m->base);
}

static void resume(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__ResumeSessionRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct rn_conv *c = find(call, sv, q->session_id);
    struct api_arena a = {0};
    struct rn_create over;
    struct rn_runner *r = NULL;
    bool was_active;
    char err[RN_ERR_MAX] = "";

    if (!c)
        return;
    sv_create_in(&a, &over, q->overrides);
    if (q->overrides && *q->overrides->project_name &&
        strcmp(q->overrides->project_name, c->project) != 0)
        return arena_free(&a),
               grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                "overrides.project_name %s is not the session's project %s",
                                q->overrides->project_name, c->project);
    int x = rn_conv_resume(sv->m, c, q->overrides ? &over : NULL, q->force_new_runner, &r,
                           &was_active, err, sizeof err);
    if (x < 0)
        return arena_free(&a), sv_fail(call, x, err);
    Stratavore__V1__ResumeSessionResponse *m =
        arena_msg(&a, &stratavore__v1__resume_session_response__descriptor);
    m->session = session_out(sv, &a, c);
    m->runner = sv_runner_out(sv, &a, r);
    m->runner_was_active = was_active;
    arena_reply(call, &a, &m->base);
}

/* ---- transcripts ---- */

/* A rendering: appends that remember a failure instead of stopping at each. */
struct out {
    struct buf b;
    bool failed;
};

static void put(struct out *o, const void *p, size_t n)
{
    o->failed |= buf_append(&o->b, p, n) < 0;
}

static void __attribute__((format(printf, 2, 3))) putf(struct out *o, const char *fmt, ...)
{
    char small[512], *p = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return (void)(o->failed = true);
    if ((size_t)n >= sizeof small) {
        if (!(p = malloc((size_t)n + 1)))
            return (void)(o->failed = true);
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    put(o, p, (size_t)n);
    if (p != small)
        free(p);
}

static void put_json_string(struct out *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\')
            snprintf(esc, sizeof esc, "\\%c", *p);
        else if (*p == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (*p < 0x20)
            snprintf(esc, sizeof esc, "\\u%04x", *p);
        else {
            put(b, p, 1);
            continue;
        }
        put(b, esc, strlen(esc));
    }
    put(b, "\"", 1);
}

static void stamp(char *out, size_t size, uint64_t ns, bool rfc3339)
{
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (rfc3339) {
        char s[32];
        strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out, size, "%s.%03uZ", s, (unsigned)(ns / 1000000u % 1000u));
    } else {
        strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
    }
}

/* The page rendered as the format asks: proto3 JSON, text lines, or Markdown. */
static int render(struct out *b, int format, const struct rn_tmsg *v, size_t n, bool meta)
{
    char ts[48];
    if (format == STRATAVORE__V1__TRANSCRIPT_FORMAT__TRANSCRIPT_FORMAT_TEXT) {
        for (size_t i = 0; i < n; i++) {
            stamp(ts, sizeof ts, v[i].ns, false);
            putf(b, "[%s] %s: %s\n", ts, v[i].role, v[i].content);
        }
    } else if (format == STRATAVORE__V1__TRANSCRIPT_FORMAT__TRANSCRIPT_FORMAT_MARKDOWN) {
        for (size_t i = 0; i < n; i++) {
            stamp(ts, sizeof ts, v[i].ns, false);
            putf(b, "**%s** · %s\n\n```\n%s\n```\n\n", v[i].role, ts, v[i].content);
        }
    } else {
        put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            stamp(ts, sizeof ts, v[i].ns, true);
            putf(b, "%s{\"role\":", i ? "," : "");
            put_json_string(b, v[i].role);
            putf(b, ",\"content\":");
            put_json_string(b, v[i].content);
            putf(b, ",\"timestamp\":\"%s\",\"sequence\":\"%lld\"", ts, (long long)v[i].seq);
            if (meta) {
                putf(b, ",\"runnerId\":");
                put_json_string(b, v[i].runner_id);
                putf(b, ",\"stream\":");
                put_json_string(b, v[i].stream);
            }
            put(b, "}", 1);
        }
        put(b, "]", 1);
    }
    return b->failed ? -ENOMEM : 0;
}

static void transcript(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__GetSessionTranscriptRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct rn_conv *c = find(call, sv, q->session_id);
    struct api_arena a = {0};
    struct rn_tmsg *v = NULL;
    size_t n = 0, limit = 0;
    int64_t total;
    struct out b = {.failed = false};
    int x;

    if (!c)
        return;
    if (q->offset < 0 || q->limit < 0)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                "limit and offset must not be negative");
    if (q->format < 0 || q->format > STRATAVORE__V1__TRANSCRIPT_FORMAT__TRANSCRIPT_FORMAT_MARKDOWN)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "format %d is not a format",
                                q->format);
    limit = q->limit == 0 ? 100 : (size_t)MIN(q->limit, 1000);
    if ((x = rn_transcript_read(sv->m, c, (size_t)q->offset, limit, &v, &n, &total)) < 0)
        return sv_fail(call, x, "cannot read the transcript");
    Stratavore__V1__GetSessionTranscriptResponse *m =
        arena_msg(&a, &stratavore__v1__get_session_transcript_response__descriptor);
    m->session_id = (char *)c->id;
    m->messages = arena_alloc(&a, (n ? n : 1) * sizeof *m->messages);
    for (size_t i = 0; i < n; i++) {
        Stratavore__V1__TranscriptMessage *t =
            arena_msg(&a, &stratavore__v1__transcript_message__descriptor);
        t->role = v[i].role;
        t->content = v[i].content;
        t->timestamp = arena_ts(&a, v[i].ns);
        t->sequence = v[i].seq;
        if (q->include_metadata) {
            t->runner_id = v[i].runner_id;
            t->stream = v[i].stream;
        }
        m->messages[i] = t;
    }
    m->n_messages = n;
    if (q->include_metadata)
        m->metadata = session_out(sv, &a, c)->details;
    m->total_tokens = c->tokens;
    m->created_at = arena_ts(&a, c->created_ns);
    m->updated_at = arena_ts(&a, c->updated_ns);
    m->has_more = (int64_t)q->offset + (int64_t)n < total;
    buf_init(&b.b, 64u << 20);
    if (render(&b, q->format, v, n, q->include_metadata) < 0) {
        a.failed = true;
    } else {
        m->content.data = buf_head(&b.b);
        m->content.len = b.b.len;
    }
    m->content_type = q->format == STRATAVORE__V1__TRANSCRIPT_FORMAT__TRANSCRIPT_FORMAT_TEXT
                          ? "text/plain"
                      : q->format == STRATAVORE__V1__TRANSCRIPT_FORMAT__TRANSCRIPT_FORMAT_MARKDOWN
                          ? "text/markdown"
                          : "application/json";
    arena_reply(call, &a, &m->base);
    buf_done(&b.b);
    rn_tmsgs_free(v, n);
}

#define UNARY(n, f, T)                                                                             \
    {                                                                                              \
        n, GRPC_UNARY, &stratavore__v1__##T##__descriptor, f, NULL, NULL, NULL                     \
    }

static const struct grpc_method methods[] = {
    UNARY("CreateSession", create, create_session_request),
    UNARY("GetSession", get, get_session_request),
    UNARY("ListSessions", list, list_sessions_request),
    UNARY("ResumeSession", resume, resume_session_request),
    UNARY("GetSessionTranscript", transcript, get_session_transcript_request),
};

const struct grpc_service sv_session_service = {"stratavore.v1.SessionService", methods,
                                                ARRAY_SIZE(methods),
                                                &stratavore__v1__session_service__descriptor};
