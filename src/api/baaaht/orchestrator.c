/* orchestrator.v1.OrchestratorService: sessions (the agent hub's conversations), their messages
 * and StreamMessages, the event stream, health and status; the container RPCs are in
 * containers.c. Errors carry upstream's words (agents/ makes them). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/baaaht/baaaht-internal.h"
#include "api/msg.h"
#include "api/status.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "container/container.h"

#define SERVICE "orchestrator.v1.OrchestratorService"

static struct ag_conv *need_conv(struct grpc_call *call, struct ag_mgr *m, const char *id)
{
    struct ag_conv *c = NULL;
    if (!id || !*id)
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "session_id is required");
    else if (!(c = ag_conv_find(m, id)))
        grpc_call_finish(call, GRPC_NOT_FOUND, "session not found: %s", id);
    return c;
}

static void create_session(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__CreateSessionRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_meta meta;
    struct ag_config config;
    struct ag_conv *c;
    char err[AG_ERR_MAX] = "";
    if (!m)
        return;
    bh_meta_in(&a, q->metadata, &meta);
    bh_config_in(&a, q->config, &config);
    int r = ag_conv_create(m, &meta, &config, &c, err, sizeof err);
    if (r < 0)
        return arena_free(&a), bh_fail(call, r, err);
    Orchestrator__V1__CreateSessionResponse *resp =
        arena_msg(&a, &orchestrator__v1__create_session_response__descriptor);
    resp->session = bh_conv_out(&a, c);
    resp->session_id = resp->session->id;
    arena_reply(call, &a, &resp->base);
}

static void get_session(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__GetSessionRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct ag_conv *c = m ? need_conv(call, m, q->session_id) : NULL;
    struct api_arena a = {0};
    if (!c)
        return;
    Orchestrator__V1__GetSessionResponse *resp =
        arena_msg(&a, &orchestrator__v1__get_session_response__descriptor);
    resp->session = bh_conv_out(&a, c);
    arena_reply(call, &a, &resp->base);
}

static void list_sessions(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__ListSessionsRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_filter f = {0};
    size_t all = 0, n = 0;
    if (!m)
        return;
    if (q->filter) {
        f.state = (enum ag_state)q->filter->state;
        f.status = (enum ag_status)q->filter->status;
        f.owner_id = q->filter->owner_id;
        f.labels = q->filter->n_labels
                       ? arena_map_in(&a, (void *const *)q->filter->labels, q->filter->n_labels)
                       : NULL;
    }
    (void)ag_mgr_count(m, &all);
    Orchestrator__V1__ListSessionsResponse *resp =
        arena_msg(&a, &orchestrator__v1__list_sessions_response__descriptor);
    resp->sessions = all ? arena_alloc(&a, all * sizeof *resp->sessions) : NULL;
    for (struct ag_conv *c = ag_conv_next(m, NULL, &f); c && n < all; c = ag_conv_next(m, c, &f))
        resp->sessions[n++] = bh_conv_out(&a, c);
    resp->n_sessions = n;
    resp->total_count = (int32_t)n;
    arena_reply(call, &a, &resp->base);
}

static void update_session(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__UpdateSessionRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct ag_conv *c = m ? need_conv(call, m, q->session_id) : NULL;
    struct api_arena a = {0};
    char err[AG_ERR_MAX] = "";
    if (!c)
        return;
    if (q->metadata || (q->context && q->context->preferences)) {
        struct ag_conv_info i;
        struct ag_meta meta;
        struct ag_prefs prefs = {0}, *pp = NULL;
        ag_conv_info(c, &i);
        if (q->metadata)
            bh_meta_in(&a, q->metadata, &meta);
        else
            meta = *i.meta; /* only the preferences change */
        if (q->context && q->context->preferences) {
            const Orchestrator__V1__UserPreferences *p = q->context->preferences;
            prefs = (struct ag_prefs){p->timezone, p->language, p->theme, p->notifications};
            pp = &prefs;
        }
        int r = ag_conv_update(c, &meta, pp, err, sizeof err);
        if (r < 0)
            return arena_free(&a), bh_fail(call, r, err);
    } else {
        struct ag_conv_info i;
        ag_conv_info(c, &i);
        if (i.state == AG_CLOSED)
            return grpc_call_finish(call, GRPC_FAILED_PRECONDITION, "cannot update closed session");
    }
    Orchestrator__V1__UpdateSessionResponse *resp =
        arena_msg(&a, &orchestrator__v1__update_session_response__descriptor);
    resp->session = bh_conv_out(&a, c);
    arena_reply(call, &a, &resp->base);
}

static void close_session(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__CloseSessionRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct ag_conv *c = m ? need_conv(call, m, q->session_id) : NULL;
    char err[AG_ERR_MAX] = "";
    if (!c)
        return;
    int r = ag_conv_close(c, q->reason, err, sizeof err);
    if (r < 0)
        return bh_fail(call, r, err);
    Orchestrator__V1__CloseSessionResponse resp = ORCHESTRATOR__V1__CLOSE_SESSION_RESPONSE__INIT;
    resp.session_id = q->session_id;
    resp.state = ORCHESTRATOR__V1__SESSION_STATE__SESSION_STATE_CLOSED;
    grpc_call_reply(call, &resp.base);
}

static void send_message(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__SendMessageRequest *q = (const void *)msg;
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
    struct ag_conv *c = need_conv(call, m, q->session_id);
    if (!c)
        return;
    bh_msg_in(&a, q->message, &in);
    int r = ag_conv_append(c, &in, &out, err, sizeof err);
    if (r < 0)
        return arena_free(&a), bh_fail(call, r, err);
    Orchestrator__V1__SendMessageResponse *resp =
        arena_msg(&a, &orchestrator__v1__send_message_response__descriptor);
    resp->message_id = arena_strdup(&a, out.id);
    resp->session_id = q->session_id;
    resp->timestamp = arena_ts(&a, out.ts_ns);
    arena_reply(call, &a, &resp->base);
}

/* ---- StreamMessages: a conversation's stream (its replies, failures and heartbeats) ---- */

struct conv_stream {
    struct grpc_call *call;
    struct ag_conv *c;       /* bound, or NULL */
    struct ag_conv_sub *sub; /* NULL once the conversation closed */
};

static void send_payload(struct conv_stream *s, Orchestrator__V1__StreamMessageResponse *o,
                         struct api_arena *a)
{
    if (!a->failed)
        (void)grpc_call_send(s->call, &o->base);
    arena_free(a);
}

static void on_reply(void *userdata, const struct ag_msg *msg)
{
    struct api_arena a = {0};
    Orchestrator__V1__StreamMessageResponse *o =
        arena_msg(&a, &orchestrator__v1__stream_message_response__descriptor);
    o->payload_case = ORCHESTRATOR__V1__STREAM_MESSAGE_RESPONSE__PAYLOAD_MESSAGE;
    o->message = bh_msg_out(&a, msg);
    send_payload(userdata, o, &a);
}

/* A message that could not be routed or stored: an inline event, as upstream sends it. */
static void on_failed(void *userdata, int r, const char *why)
{
    struct api_arena a = {0};
    char id[AG_ID_LEN];
    Orchestrator__V1__StreamMessageResponse *o =
        arena_msg(&a, &orchestrator__v1__stream_message_response__descriptor);
    Orchestrator__V1__Event *e = arena_msg(&a, &orchestrator__v1__event__descriptor);
    char *data[] = {"error", bh_err_text(&a, r, why), NULL};
    ag_new_id(id);
    e->id = arena_strdup(&a, id);
    e->type = ORCHESTRATOR__V1__EVENT_TYPE__EVENT_TYPE_TASK_FAILED;
    e->source = "orchestrator";
    e->timestamp = arena_ts(&a, now_ns(CLOCK_REALTIME));
    e->data = (Orchestrator__V1__Event__DataEntry **)arena_map_out(
        &a, &orchestrator__v1__event__data_entry__descriptor, data, &e->n_data);
    o->payload_case = ORCHESTRATOR__V1__STREAM_MESSAGE_RESPONSE__PAYLOAD_EVENT;
    o->event = e;
    send_payload(userdata, o, &a);
}

static void send_heartbeat(struct conv_stream *s)
{
    Orchestrator__V1__StreamMessageResponse o = ORCHESTRATOR__V1__STREAM_MESSAGE_RESPONSE__INIT;
    Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
    o.payload_case = ORCHESTRATOR__V1__STREAM_MESSAGE_RESPONSE__PAYLOAD_HEARTBEAT;
    o.heartbeat = &e;
    (void)grpc_call_send(s->call, &o.base);
}

static void on_heartbeat(void *userdata)
{
    send_heartbeat(userdata);
}

static void on_conv_closed(void *userdata, const char *reason)
{
    struct conv_stream *s = userdata;
    (void)reason;
    s->sub = NULL;
    s->c = NULL;
    grpc_call_finish(s->call, GRPC_OK, NULL);
}

static const struct ag_conv_ops conv_ops = {on_reply, on_failed, on_heartbeat, on_conv_closed};

static void stream_messages(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__StreamMessageRequest *q = (const void *)msg;
    struct ag_mgr *m = grpc_call_finished(call) ? NULL : bh_hub(call);
    struct conv_stream *s = m ? bh_call_state(call, sizeof *s) : NULL;
    char err[AG_ERR_MAX] = "";
    if (!s)
        return;
    bool beat = q->payload_case == ORCHESTRATOR__V1__STREAM_MESSAGE_REQUEST__PAYLOAD_HEARTBEAT;
    if (beat && s->c)
        return ag_conv_heartbeat(s->c); /* to every stream of the session */
    if (beat)
        return send_heartbeat(s);
    if (!s->c) {
        if (!*q->session_id)
            return grpc_call_finish(call, GRPC_INVALID_ARGUMENT,
                                    "first message must contain session_id");
        int r = ag_conv_check_live(m, q->session_id, &s->c, err, sizeof err);
        if (r == 0 && (r = ag_conv_subscribe(s->c, &conv_ops, s, &s->sub)) < 0)
            snprintf(err, sizeof err, "out of memory");
        if (r < 0) {
            s->c = NULL;
            return bh_fail(call, r, err);
        }
        (void)grpc_call_send_headers(call);
    }
    if (q->payload_case == ORCHESTRATOR__V1__STREAM_MESSAGE_REQUEST__PAYLOAD_MESSAGE) {
        struct api_arena a = {0};
        struct ag_msg in;
        bh_msg_in(&a, q->message, &in);
        (void)ag_conv_say(s->c, &in, NULL, err, sizeof err); /* failures: on_failed */
        arena_free(&a);
    }
}

static void stream_messages_close(struct grpc_call *call)
{
    struct conv_stream *s = grpc_call_get_data(call);
    if (!s)
        return;
    ag_conv_unsubscribe(s->sub);
    free(s);
    grpc_call_set_data(call, NULL);
}

/* ---- SubscribeEvents ---- */

static bool labels_have(char *const *have, Orchestrator__V1__EventFilter__LabelsEntry **want,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        for (size_t j = 0; have && have[j] && have[j + 1] && !ok; j += 2)
            ok = !strcmp(have[j], want[i]->key) && !strcmp(have[j + 1], want[i]->value);
        if (!ok)
            return false;
    }
    return true;
}

static int send_event(struct bh_sub *s, const struct ev *e)
{
    const Orchestrator__V1__EventFilter *f = (const void *)s->filter;
    if (f && !((!f->type || (int)f->type == bh_event_type(e->type)) &&
               (!*f->source || !strcmp(f->source, e->source)) &&
               (!*f->session_id || !strcmp(f->session_id, e->session_id)) &&
               (!*f->container_id || !strcmp(f->container_id, e->container_id)) &&
               (!f->priority || (int)f->priority == (e->priority ? e->priority : 2)) &&
               labels_have(e->labels, f->labels, f->n_labels)))
        return 0;
    struct api_arena a = {0};
    Orchestrator__V1__Event *o = bh_event_out(&a, e);
    int r = a.failed ? -ENOMEM : grpc_call_send(s->call, &o->base);
    arena_free(&a);
    return r;
}

static void subscribe_events(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Orchestrator__V1__SubscribeEventsRequest *q = (const void *)msg;
    const Orchestrator__V1__EventFilter *f = q->filter;
    bh_subscribe(call, f ? &f->base : NULL, f ? f->start_time : NULL, f ? f->end_time : NULL, NULL,
                 send_event);
}

/* ---- health and status ---- */

static void health_check(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    static char *subsystems[] = {"session_manager", "event_bus", "ipc_broker"};
    Orchestrator__V1__HealthCheckResponse resp = ORCHESTRATOR__V1__HEALTH_CHECK_RESPONSE__INIT;
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
    Orchestrator__V1__StatusResponse resp = ORCHESTRATOR__V1__STATUS_RESPONSE__INIT;
    Google__Protobuf__Timestamp started = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                uptime = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    size_t running = 0;
    (void)msg;
    resp.status = COMMON__V1__STATUS__STATUS_RUNNING;
    resp.active_sessions = h->agents ? (int32_t)ag_mgr_count(h->agents, NULL) : 0;
    if (h->containers)
        (void)ctr_mgr_count(h->containers, &running);
    resp.active_containers = (int32_t)running;
    bh_times(call, &started, &uptime);
    resp.started_at = &started;
    resp.uptime = &uptime;
    grpc_call_reply(call, &resp.base);
}

#define UNARY(n, f, T)                                                                             \
    {                                                                                              \
        n, GRPC_UNARY, &orchestrator__v1__##T##__descriptor, f, NULL, NULL, NULL                   \
    }

static const struct grpc_method methods[] = {
    UNARY("CreateSession", create_session, create_session_request),
    UNARY("GetSession", get_session, get_session_request),
    UNARY("ListSessions", list_sessions, list_sessions_request),
    UNARY("UpdateSession", update_session, update_session_request),
    UNARY("CloseSession", close_session, close_session_request),
    UNARY("SendMessage", send_message, send_message_request),
    {"CreateContainer", GRPC_UNARY, &orchestrator__v1__create_container_request__descriptor,
     bh_create_container, NULL, NULL, bh_ctr_call_close},
    UNARY("GetContainer", bh_get_container, get_container_request),
    UNARY("ListContainers", bh_list_containers, list_containers_request),
    {"StopContainer", GRPC_UNARY, &orchestrator__v1__stop_container_request__descriptor,
     bh_stop_container, NULL, NULL, bh_ctr_call_close},
    {"RemoveContainer", GRPC_UNARY, &orchestrator__v1__remove_container_request__descriptor,
     bh_remove_container, NULL, NULL, bh_ctr_call_close},
    {"StreamMessages", GRPC_BIDI, &orchestrator__v1__stream_message_request__descriptor,
     stream_messages, bh_half_close_ok, NULL, stream_messages_close},
    {"SubscribeEvents", GRPC_SERVER_STREAM, &orchestrator__v1__subscribe_events_request__descriptor,
     subscribe_events, NULL, bh_sub_writable, bh_sub_close},
    {"HealthCheck", GRPC_UNARY, &google__protobuf__empty__descriptor, health_check, NULL, NULL,
     NULL},
    {"GetStatus", GRPC_UNARY, &google__protobuf__empty__descriptor, get_status, NULL, NULL, NULL},
};

const struct grpc_service bh_orchestrator_service = {
    SERVICE, methods, ARRAY_SIZE(methods), &orchestrator__v1__orchestrator_service__descriptor};
