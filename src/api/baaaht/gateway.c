/* gateway.v1.GatewayService: gateway sessions (the agent hub's handles on conversations), their
 * messages, their events, health and status. StreamChat and StreamResponses are in chat.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "api/msg.h"
#include "base/macro.h"
#include "base/strv.h"
#include "base/time-util.h"

#define SERVICE "gateway.v1.GatewayService"

struct ag_gw *bh_need_gw(struct grpc_call *call, struct ag_mgr *m, const char *id)
{
    struct ag_gw *g = NULL;
    if (!id || !*id)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "session_id is required");
    else if (!(g = ag_gw_find(m, id)))
        grpc_call_finish(call, GRPC_NOT_FOUND, "gateway session not found");
    return g;
}

void bh_gw_msg_in(struct api_arena *a, const Gateway__V1__GatewayMessage *q, struct ag_msg *m)
{
    /* Roles map one to one, UNSPECIFIED as USER; the metadata as upstream maps it (its
     * session_id lands in container_id). */
    *m = (struct ag_msg){.role = q->role ? (int)q->role : AG_USER, .content = q->content};
    snprintf(m->id, sizeof m->id, "%s", q->id);
    if (q->timestamp && q->timestamp->seconds > 0)
        m->ts_ns = (uint64_t)q->timestamp->seconds * 1000000000ull + (uint64_t)q->timestamp->nanos;
    if (q->metadata) {
        m->tool_name = bh_in(q->metadata->model);
        m->tool_call_id = bh_in(q->metadata->correlation_id);
        m->container_id = bh_in(q->metadata->session_id);
        m->extra = arena_map_in(a, (void *const *)q->metadata->extra, q->metadata->n_extra);
    }
}

static Gateway__V1__GatewaySession *gw_out(struct api_arena *a, const struct ag_gw *g)
{
    struct ag_gw_info i;
    ag_gw_info(g, &i);
    Gateway__V1__GatewaySession *s = arena_msg(a, &gateway__v1__gateway_session__descriptor);
    Gateway__V1__GatewaySessionMetadata *md =
        arena_msg(a, &gateway__v1__gateway_session_metadata__descriptor);
    Gateway__V1__GatewaySessionConfig *cf =
        arena_msg(a, &gateway__v1__gateway_session_config__descriptor);
    Gateway__V1__StreamConfig *sc = arena_msg(a, &gateway__v1__stream_config__descriptor);
    Gateway__V1__SessionSecurity *sec = arena_msg(a, &gateway__v1__session_security__descriptor);
    s->id = (char *)i.id;
    s->state = (Gateway__V1__GatewaySessionState)i.state;
    s->status = (Common__V1__Status)i.status;
    s->created_at = arena_ts(a, i.created_ns);
    s->updated_at = arena_ts(a, i.updated_ns);
    s->expires_at = arena_ts(a, i.expires_ns);
    s->closed_at = arena_ts(a, i.closed_ns);
    s->orchestrator_session_id = (char *)i.conv_id;
    md->name = bh_out(i.meta->name);
    md->description = bh_out(i.meta->description);
    md->user_id = bh_out(i.meta->user_id);
    md->client_type = bh_out(i.meta->client_type);
    md->client_version = bh_out(i.meta->client_version);
    md->labels = (Gateway__V1__GatewaySessionMetadata__LabelsEntry **)arena_map_out(
        a, &gateway__v1__gateway_session_metadata__labels_entry__descriptor, i.meta->labels,
        &md->n_labels);
    md->tags = i.meta->tags;
    md->n_tags = strv_length(i.meta->tags);
    s->metadata = md;
    cf->timeout_ns = i.config->timeout_ns;
    cf->idle_timeout_ns = i.config->idle_timeout_ns;
    cf->enable_streaming = i.config->enable_streaming;
    cf->max_message_size = i.config->max_message_size;
    sc->chunk_size = i.config->chunk_size;
    sc->chunk_delay_ns = i.config->chunk_delay_ns;
    sc->enable_delta = i.config->enable_delta;
    cf->stream_config = sc;
    sec->require_auth = i.config->require_auth;
    sec->enable_encryption = i.config->enable_encryption;
    sec->allowed_origins = i.config->allowed_origins;
    sec->n_allowed_origins = strv_length(i.config->allowed_origins);
    cf->security = sec;
    s->config = cf;
    return s;
}

static void create_session(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Gateway__V1__CreateGatewaySessionRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_gw_meta meta = {0};
    struct ag_gw_config config = {0};
    struct ag_gw *g;
    char err[AG_ERR_MAX] = "";
    if (!m)
        return;
    if (q->metadata) {
        const Gateway__V1__GatewaySessionMetadata *md = q->metadata;
        meta = (struct ag_gw_meta){bh_in(md->name),
                                   bh_in(md->description),
                                   bh_in(md->user_id),
                                   bh_in(md->client_type),
                                   bh_in(md->client_version),
                                   arena_map_in(&a, (void *const *)md->labels, md->n_labels),
                                   arena_strv_in(&a, md->tags, md->n_tags, true)};
    }
    if (q->config) {
        const Gateway__V1__GatewaySessionConfig *c = q->config;
        config = (struct ag_gw_config){.timeout_ns = c->timeout_ns,
                                       .idle_timeout_ns = c->idle_timeout_ns,
                                       .enable_streaming = c->enable_streaming,
                                       .max_message_size = c->max_message_size};
        if (c->stream_config) {
            config.chunk_size = c->stream_config->chunk_size;
            config.chunk_delay_ns = c->stream_config->chunk_delay_ns;
            config.enable_delta = c->stream_config->enable_delta;
        }
        if (c->security) {
            config.require_auth = c->security->require_auth;
            config.enable_encryption = c->security->enable_encryption;
            config.allowed_origins = arena_strv_in(&a, c->security->allowed_origins,
                                                   c->security->n_allowed_origins, true);
        }
    }
    int r = a.failed ? -ENOMEM : ag_gw_create(m, &meta, &config, &g, err, sizeof err);
    if (r < 0)
        return arena_free(&a), bh_fail(call, r, err);
    Gateway__V1__CreateGatewaySessionResponse *resp =
        arena_msg(&a, &gateway__v1__create_gateway_session_response__descriptor);
    resp->session = gw_out(&a, g);
    resp->session_id = resp->session->id;
    arena_reply(call, &a, &resp->base);
}

static void get_session(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Gateway__V1__GetGatewaySessionRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct ag_gw *g = m ? bh_need_gw(call, m, q->session_id) : NULL;
    struct api_arena a = {0};
    if (!g)
        return;
    Gateway__V1__GetGatewaySessionResponse *resp =
        arena_msg(&a, &gateway__v1__get_gateway_session_response__descriptor);
    resp->session = gw_out(&a, g);
    arena_reply(call, &a, &resp->base);
}

static void list_sessions(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Gateway__V1__ListGatewaySessionsRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_gw_filter f = {0};
    size_t n = 0, all;
    if (!m)
        return;
    if (q->filter)
        f = (struct ag_gw_filter){
            (enum ag_state)q->filter->state, (enum ag_status)q->filter->status, q->filter->user_id,
            arena_map_in(&a, (void *const *)q->filter->labels, q->filter->n_labels)};
    all = ag_gw_count(m, NULL);
    Gateway__V1__ListGatewaySessionsResponse *resp =
        arena_msg(&a, &gateway__v1__list_gateway_sessions_response__descriptor);
    resp->sessions = all ? arena_alloc(&a, all * sizeof *resp->sessions) : NULL;
    for (struct ag_gw *g = ag_gw_next(m, NULL, &f); g && n < all; g = ag_gw_next(m, g, &f))
        resp->sessions[n++] = gw_out(&a, g);
    resp->n_sessions = n;
    resp->total_count = (int32_t)n;
    arena_reply(call, &a, &resp->base);
}

static void close_session(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Gateway__V1__CloseGatewaySessionRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct ag_gw *g = m ? bh_need_gw(call, m, q->session_id) : NULL;
    char err[AG_ERR_MAX] = "";
    if (!g)
        return;
    int r = ag_gw_close(g, q->reason, err, sizeof err);
    if (r < 0)
        return bh_fail(call, r, err);
    Gateway__V1__CloseGatewaySessionResponse resp =
        GATEWAY__V1__CLOSE_GATEWAY_SESSION_RESPONSE__INIT;
    resp.session_id = q->session_id;
    resp.state = GATEWAY__V1__GATEWAY_SESSION_STATE__GATEWAY_SESSION_STATE_CLOSED;
    grpc_call_reply(call, &resp.base);
}

/* A message into the wrapped conversation: a user's is routed to the assistant (its reply then
 * read with StreamResponses); the others are stored. */
static void send_message(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Gateway__V1__GatewaySendMessageRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_msg in, out;
    char err[AG_ERR_MAX] = "";
    if (!m)
        return;
    if (!*q->session_id)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "session_id is required");
    if (!q->message)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "message is required");
    struct ag_gw *g = bh_need_gw(call, m, q->session_id);
    if (!g)
        return;
    bh_gw_msg_in(&a, q->message, &in);
    int r = a.failed ? -ENOMEM : ag_gw_say(g, &in, &out, err, sizeof err);
    if (r < 0)
        return arena_free(&a), bh_fail(call, r, err);
    Gateway__V1__GatewaySendMessageResponse *resp =
        arena_msg(&a, &gateway__v1__gateway_send_message_response__descriptor);
    resp->message_id = arena_strdup(&a, out.id);
    resp->session_id = q->session_id;
    resp->timestamp = arena_ts(&a, out.ts_ns);
    arena_reply(call, &a, &resp->base);
}

/* ---- SubscribeToEvents: its conversation's events only ---- */

static int gw_event_type(const struct ev *e)
{
    static const char *const session[] = {NULL, "session.created", "session.updated",
                                          "session.closed"};
    for (int i = 1; i < 4; i++)
        if (!strcmp(e->type, session[i]))
            return i;
    if (!strcmp(e->type, "message.sent")) {
        for (size_t i = 0; e->data && e->data[i] && e->data[i + 1]; i += 2)
            if (!strcmp(e->data[i], "role"))
                return !strcmp(e->data[i + 1], "user")        ? 4
                       : !strcmp(e->data[i + 1], "assistant") ? 5
                                                              : 0;
    }
    return 0;
}

static const char *data_get(char *const *d, const char *k)
{
    for (size_t i = 0; d && d[i] && d[i + 1]; i += 2)
        if (!strcmp(d[i], k))
            return d[i + 1];
    return "";
}

static int send_gw_event(struct bh_sub *s, const struct ev *e)
{
    const Gateway__V1__GatewayEventFilter *f = (const void *)s->filter;
    int type = gw_event_type(e), prio = e->priority ? e->priority : 2;
    if (f) {
        bool ok = (!f->type || (int)f->type == type) &&
                  (!*f->source || !strcmp(f->source, e->source)) &&
                  (!f->priority || (int)f->priority == prio);
        for (size_t i = 0; ok && i < f->n_labels; i++)
            ok = !strcmp(data_get(e->labels, f->labels[i]->key), f->labels[i]->value) &&
                 *f->labels[i]->value;
        if (!ok)
            return 0;
    }
    struct api_arena a = {0};
    Gateway__V1__GatewayEvent *o = arena_msg(&a, &gateway__v1__gateway_event__descriptor);
    Gateway__V1__GatewayEventMetadata *md =
        arena_msg(&a, &gateway__v1__gateway_event_metadata__descriptor);
    size_t nd = strv_length(e->data);
    char **d = arena_alloc(&a, (nd + 3) * sizeof *d);
    if (nd)
        memcpy(d, e->data, nd * sizeof *d);
    if (!type) { /* what it is, as the orchestrator's stream says it */
        d[nd++] = "type";
        d[nd++] = (char *)e->type;
    }
    o->id = arena_strdup(&a, e->id);
    o->type = (Gateway__V1__GatewayEventType)type;
    o->source = arena_strdup(&a, e->source);
    o->timestamp = arena_ts(&a, e->ns);
    o->data = (Gateway__V1__GatewayEvent__DataEntry **)arena_map_out(
        &a, &gateway__v1__gateway_event__data_entry__descriptor, d, &o->n_data);
    md->session_id = s->userdata; /* the gateway session's id, as upstream */
    md->message_id = arena_strdup(&a, data_get(e->data, "message_id"));
    md->user_id = arena_strdup(&a, e->user_id);
    md->correlation_id = arena_strdup(&a, e->correlation_id);
    md->labels = (Gateway__V1__GatewayEventMetadata__LabelsEntry **)arena_map_out(
        &a, &gateway__v1__gateway_event_metadata__labels_entry__descriptor, e->labels,
        &md->n_labels);
    md->priority = (Common__V1__Priority)prio;
    o->metadata = md;
    int r = a.failed ? -ENOMEM : grpc_call_send(s->call, &o->base);
    arena_free(&a);
    return r;
}

static void subscribe(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Gateway__V1__SubscribeToEventsRequest *q = (const void *)msg;
    const Gateway__V1__GatewayEventFilter *f = q->filter;
    struct ag_mgr *m = bh_hub(call);
    struct ag_gw *g = m ? bh_need_gw(call, m, q->session_id) : NULL;
    struct ag_gw_info i;
    if (!g)
        return;
    ag_gw_info(g, &i);
    struct bh_sub *s = bh_subscribe(call, f ? &f->base : NULL, f ? f->start_time : NULL,
                                    f ? f->end_time : NULL, i.conv_id, send_gw_event);
    if (s && !(s->userdata = strdup(i.id)))
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

static void subscribe_close(struct grpc_call *call)
{
    struct bh_sub *s = grpc_call_get_data(call);
    if (s)
        free(s->userdata);
    bh_sub_close(call);
}

/* ---- health and status ---- */

static void health_check(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    static char *subsystems[] = {"session_manager", "event_bus", "gateway_registry"};
    Gateway__V1__GatewayHealthCheckResponse resp = GATEWAY__V1__GATEWAY_HEALTH_CHECK_RESPONSE__INIT;
    (void)msg;
    resp.health = h->agents && h->bus ? COMMON__V1__HEALTH__HEALTH_HEALTHY
                                      : COMMON__V1__HEALTH__HEALTH_UNHEALTHY;
    resp.version = (char *)h->version;
    resp.subsystems = subsystems;
    resp.n_subsystems = ARRAY_SIZE(subsystems);
    grpc_call_reply(call, &resp.base);
}

static void get_status(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    Gateway__V1__GatewayStatusResponse resp = GATEWAY__V1__GATEWAY_STATUS_RESPONSE__INIT;
    Google__Protobuf__Timestamp started = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                uptime = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    size_t open = 0;
    (void)msg;
    if (h->agents)
        (void)ag_gw_count(h->agents, &open);
    resp.status = COMMON__V1__STATUS__STATUS_RUNNING;
    resp.active_sessions = (int32_t)open;
    resp.active_streams = (int32_t)h->gateway_streams;
    bh_times(call, &started, &uptime);
    resp.started_at = &started;
    resp.uptime = &uptime;
    grpc_call_reply(call, &resp.base);
}

#define UNARY(n, f, T)                                                                             \
    {                                                                                              \
        n, GRPC_UNARY, &gateway__v1__##T##__descriptor, f, NULL, NULL, NULL                        \
    }

static const struct grpc_method methods[] = {
    UNARY("CreateGatewaySession", create_session, create_gateway_session_request),
    UNARY("GetGatewaySession", get_session, get_gateway_session_request),
    UNARY("ListGatewaySessions", list_sessions, list_gateway_sessions_request),
    UNARY("CloseGatewaySession", close_session, close_gateway_session_request),
    UNARY("GatewaySendMessage", send_message, gateway_send_message_request),
    {"StreamChat", GRPC_BIDI, &gateway__v1__stream_chat_request__descriptor, bh_stream_chat,
     bh_stream_chat_half_close, bh_gw_stream_ready, bh_gw_stream_close},
    {"StreamResponses", GRPC_SERVER_STREAM, &gateway__v1__stream_responses_request__descriptor,
     bh_stream_responses, NULL, bh_gw_stream_ready, bh_gw_stream_close},
    {"SubscribeToEvents", GRPC_SERVER_STREAM, &gateway__v1__subscribe_to_events_request__descriptor,
     subscribe, NULL, bh_sub_writable, subscribe_close},
    {"HealthCheck", GRPC_UNARY, &google__protobuf__empty__descriptor, health_check, NULL, NULL,
     NULL},
    {"GetStatus", GRPC_UNARY, &google__protobuf__empty__descriptor, get_status, NULL, NULL, NULL},
};

const struct grpc_service bh_gateway_service = {SERVICE, methods, ARRAY_SIZE(methods),
                                                &gateway__v1__gateway_service__descriptor};
