/* agent.v1.AgentService: agents register, heartbeat (missed heartbeats terminate them) and
 * unregister; StreamAgent binds an agent's stream (messages for it, its replies and reports);
 * SendMessage reaches it there; health, status and capabilities. The task RPCs are in
 * tasks.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "api/msg.h"
#include "api/status.h"
#include "base/macro.h"
#include "base/strv.h"
#include "base/time-util.h"

#define SERVICE "agent.v1.AgentService"

static Common__V1__ResourceLimits *limits_out(struct api_arena *a, const struct ag_limits *l)
{
    Common__V1__ResourceLimits *o = arena_msg(a, &common__v1__resource_limits__descriptor);
    o->nano_cpus = l->nano_cpus;
    o->memory_bytes = l->memory_bytes;
    o->memory_swap = l->memory_swap;
    o->pids_limit = l->pids_limit;
    return o;
}

static Agent__V1__AgentCapabilities *caps_out(struct api_arena *a, const struct ag_agent_spec *s)
{
    Agent__V1__AgentCapabilities *c = arena_msg(a, &agent__v1__agent_capabilities__descriptor);
    c->supported_tasks = s->supported_tasks;
    c->n_supported_tasks = strv_length(s->supported_tasks);
    c->supported_tools = s->supported_tools;
    c->n_supported_tools = strv_length(s->supported_tools);
    c->supported_protocols = s->supported_protocols;
    c->n_supported_protocols = strv_length(s->supported_protocols);
    c->max_concurrent_tasks = s->max_concurrent_tasks;
    c->resource_limits = limits_out(a, &s->limits);
    c->supports_streaming = s->supports_streaming;
    c->supports_cancellation = s->supports_cancellation;
    return c;
}

static Agent__V1__Agent *agent_out(struct api_arena *a, const struct ag_agent *ag)
{
    struct ag_agent_info i;
    ag_agent_info(ag, &i);
    Agent__V1__Agent *o = arena_msg(a, &agent__v1__agent__descriptor);
    Agent__V1__AgentMetadata *md = arena_msg(a, &agent__v1__agent_metadata__descriptor);
    o->id = (char *)i.id;
    o->name = bh_out(i.spec->name);
    o->type = (Agent__V1__AgentType)i.spec->type;
    o->state = (Agent__V1__AgentState)i.state;
    o->status = (Common__V1__Status)i.status;
    o->registered_at = arena_ts(a, i.registered_ns);
    o->last_heartbeat = arena_ts(a, i.heartbeat_ns);
    md->version = bh_out(i.spec->version);
    md->description = bh_out(i.spec->description);
    md->owner_id = bh_out(i.spec->owner_id);
    md->hostname = bh_out(i.spec->hostname);
    md->pid = bh_out(i.spec->pid);
    md->labels = (Agent__V1__AgentMetadata__LabelsEntry **)arena_map_out(
        a, &agent__v1__agent_metadata__labels_entry__descriptor, i.spec->labels, &md->n_labels);
    md->tags = i.spec->tags;
    md->n_tags = strv_length(i.spec->tags);
    o->metadata = md;
    o->capabilities = caps_out(a, i.spec);
    return o;
}

static void register_(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__RegisterRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_agent *ag;
    char err[AG_ERR_MAX] = "";
    if (!m)
        return;
    const Agent__V1__AgentMetadata *md = q->metadata;
    const Agent__V1__AgentCapabilities *c = q->capabilities;
    struct ag_agent_spec s = {.name = bh_in(q->name), .type = (int)q->type};
    if (md) {
        s.version = bh_in(md->version);
        s.description = bh_in(md->description);
        s.owner_id = bh_in(md->owner_id);
        s.hostname = bh_in(md->hostname);
        s.pid = bh_in(md->pid);
        s.labels = md->n_labels ? arena_map_in(&a, (void *const *)md->labels, md->n_labels) : NULL;
        s.tags = arena_strv_in(&a, md->tags, md->n_tags, true);
    }
    if (c) {
        s.supported_tasks = arena_strv_in(&a, c->supported_tasks, c->n_supported_tasks, true);
        s.supported_tools = arena_strv_in(&a, c->supported_tools, c->n_supported_tools, true);
        s.supported_protocols =
            arena_strv_in(&a, c->supported_protocols, c->n_supported_protocols, true);
        s.max_concurrent_tasks = c->max_concurrent_tasks;
        s.supports_streaming = c->supports_streaming;
        s.supports_cancellation = c->supports_cancellation;
        if (c->resource_limits)
            s.limits =
                (struct ag_limits){c->resource_limits->nano_cpus, c->resource_limits->memory_bytes,
                                   c->resource_limits->memory_swap, c->resource_limits->pids_limit};
    }
    if (!bh_agent_allowed(call, m, NULL))
        return arena_free(&a);
    int r = ag_agent_register(m, &s, &ag, err, sizeof err);
    if (r < 0)
        return arena_free(&a), bh_fail(call, r, err);
    if (bh_own_token(call)) { /* the token is this agent's from now on */
        struct ag_agent_info ai;
        ag_agent_info(ag, &ai);
        ag_token_bind(m, bh_own_token(call), ai.id);
    }
    Agent__V1__RegisterResponse *resp = arena_msg(&a, &agent__v1__register_response__descriptor);
    resp->agent = agent_out(&a, ag);
    resp->agent_id = resp->agent->id;
    resp->registration_token = resp->agent->id; /* upstream's: nothing checks it */
    arena_reply(call, &a, &resp->base);
}

static void unregister(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__UnregisterRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    char err[AG_ERR_MAX] = "", text[300];
    if (!m || !bh_agent_allowed(call, m, q->agent_id))
        return;
    int r = ag_agent_unregister(m, q->agent_id, q->reason, err, sizeof err);
    if (r < 0)
        return bh_fail(call, r, err);
    Agent__V1__UnregisterResponse resp = AGENT__V1__UNREGISTER_RESPONSE__INIT;
    snprintf(text, sizeof text, *q->reason ? "Agent unregistered: %s" : "Agent unregistered",
             q->reason);
    resp.success = true;
    resp.message = text;
    grpc_call_reply(call, &resp.base);
}

static void heartbeat(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__HeartbeatRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    char err[AG_ERR_MAX] = "";
    uint64_t at;
    if (!m || !bh_agent_allowed(call, m, q->agent_id))
        return;
    char **pending = NULL;
    int r = ag_agent_heartbeat(m, q->agent_id, &at, &pending, err, sizeof err);
    if (r < 0)
        return bh_fail(call, r, err);
    Agent__V1__HeartbeatResponse resp = AGENT__V1__HEARTBEAT_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    api_timestamp(&ts, at);
    resp.timestamp = &ts;
    resp.pending_tasks = pending;
    resp.n_pending_tasks = strv_length(pending);
    grpc_call_reply(call, &resp.base);
    strv_free(pending);
}

/* ---- StreamAgent: the agent's own stream ---- */

struct agent_stream {
    struct grpc_call *call;
    struct ag_agent *agent; /* bound, or NULL */
};

static int deliver(void *userdata, const struct ag_amsg *msg)
{
    struct agent_stream *s = userdata;
    struct api_arena a = {0};
    Agent__V1__StreamAgentResponse *o =
        arena_msg(&a, &agent__v1__stream_agent_response__descriptor);
    o->payload_case = AGENT__V1__STREAM_AGENT_RESPONSE__PAYLOAD_MESSAGE;
    o->message = bh_amsg_out(&a, msg);
    int r = a.failed ? -ENOMEM : grpc_call_send(s->call, &o->base);
    arena_free(&a);
    return r;
}

static void ended(void *userdata, const char *why)
{
    struct agent_stream *s = userdata;
    s->agent = NULL;
    grpc_call_finish(s->call, GRPC_UNAVAILABLE, "%s", why);
}

static const struct ag_agent_ops agent_ops = {deliver, ended};

static void stream_agent(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__StreamAgentRequest *q = (const void *)msg;
    struct ag_mgr *m = grpc_call_finished(call) ? NULL : bh_hub(call);
    struct agent_stream *s = m ? bh_call_state(call, sizeof *s) : NULL;
    char err[AG_ERR_MAX] = "";
    if (!s)
        return;
    if (q->payload_case == AGENT__V1__STREAM_AGENT_REQUEST__PAYLOAD_HEARTBEAT) {
        Agent__V1__StreamAgentResponse o = AGENT__V1__STREAM_AGENT_RESPONSE__INIT;
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
        if (s->agent)
            ag_agent_receive(s->agent, NULL);
        o.payload_case = AGENT__V1__STREAM_AGENT_RESPONSE__PAYLOAD_HEARTBEAT;
        o.heartbeat = &e;
        (void)grpc_call_send(call, &o.base);
        return;
    }
    if (!s->agent) {
        if (*q->agent_id && !bh_agent_allowed(call, m, q->agent_id))
            return;
        int r = ag_agent_bind(m, q->agent_id, &agent_ops, s, &s->agent, err, sizeof err);
        if (r < 0)
            return bh_fail(call, r, err);
        (void)grpc_call_send_headers(call); /* bound: the agent knows it is listened to */
    }
    if (q->payload_case == AGENT__V1__STREAM_AGENT_REQUEST__PAYLOAD_MESSAGE) {
        struct api_arena a = {0};
        struct ag_amsg am;
        bh_amsg_in(&a, q->message, &am);
        if (!a.failed)
            ag_agent_receive(s->agent, &am);
        arena_free(&a);
    }
}

static void stream_agent_close(struct grpc_call *call)
{
    struct agent_stream *s = grpc_call_get_data(call);
    if (!s)
        return;
    ag_agent_unbind(s->agent, s);
    free(s);
    grpc_call_set_data(call, NULL);
}

/* SendMessage: a message for an agent, over its stream. */
static void send_message(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Agent__V1__AgentSendMessageRequest *q = (const void *)msg;
    struct ag_mgr *m = bh_hub(call);
    struct api_arena a = {0};
    struct ag_amsg am;
    char err[AG_ERR_MAX] = "", id[AG_ID_LEN];
    if (!m)
        return;
    if (!*q->agent_id)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "agent_id is required");
    if (!q->message)
        return grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "message is required");
    bh_amsg_in(&a, q->message, &am);
    if (!*am.id) {
        ag_new_id(id);
        am.id = id;
    }
    if (!am.ts_ns)
        am.ts_ns = now_ns(CLOCK_REALTIME);
    if (!*am.target_id)
        am.target_id = q->agent_id;
    int r = a.failed ? -ENOMEM : ag_agent_send(m, q->agent_id, &am, err, sizeof err);
    if (r < 0)
        return arena_free(&a), bh_fail(call, r, err);
    Agent__V1__AgentSendMessageResponse *resp =
        arena_msg(&a, &agent__v1__agent_send_message_response__descriptor);
    resp->message_id = (char *)am.id;
    resp->timestamp = arena_ts(&a, now_ns(CLOCK_REALTIME));
    arena_reply(call, &a, &resp->base);
}

static void health_check(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    static char *subsystems[] = {"agent_registry", "task_manager"};
    Agent__V1__AgentHealthCheckResponse resp = AGENT__V1__AGENT_HEALTH_CHECK_RESPONSE__INIT;
    (void)msg;
    resp.status = h->agents ? COMMON__V1__STATUS__STATUS_RUNNING : COMMON__V1__STATUS__STATUS_ERROR;
    resp.version = (char *)h->version;
    resp.subsystems = subsystems;
    resp.n_subsystems = ARRAY_SIZE(subsystems);
    grpc_call_reply(call, &resp.base);
}

static void get_status(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    Agent__V1__AgentStatusResponse resp = AGENT__V1__AGENT_STATUS_RESPONSE__INIT;
    Google__Protobuf__Timestamp started = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                uptime = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    (void)msg;
    resp.status = COMMON__V1__STATUS__STATUS_RUNNING;
    size_t active = 0;
    if (h->agents)
        (void)ag_tasks_count(h->agents, &active);
    resp.active_tasks = (int32_t)active;
    resp.state = active ? AGENT__V1__AGENT_STATE__AGENT_STATE_BUSY
                        : AGENT__V1__AGENT_STATE__AGENT_STATE_IDLE;
    bh_times(call, &started, &uptime);
    resp.started_at = &started;
    resp.uptime = &uptime;
    grpc_call_reply(call, &resp.base);
}

static void get_capabilities(struct grpc_call *call, const ProtobufCMessage *msg)
{
    static char *tasks[] = {"code_execution", "file_operation", "tool_execution"};
    static char *protocols[] = {"grpc", "uds"};
    Agent__V1__CapabilitiesResponse resp = AGENT__V1__CAPABILITIES_RESPONSE__INIT;
    Agent__V1__AgentCapabilities caps = AGENT__V1__AGENT_CAPABILITIES__INIT;
    (void)msg;
    /* What droverd itself offers as the orchestrator: programs as supervised processes. */
    caps.supported_tasks = tasks;
    caps.n_supported_tasks = ARRAY_SIZE(tasks);
    caps.supported_protocols = protocols;
    caps.n_supported_protocols = ARRAY_SIZE(protocols);
    caps.max_concurrent_tasks = 0; /* no limit of its own */
    caps.supports_streaming = true;
    caps.supports_cancellation = true;
    resp.capabilities = &caps;
    grpc_call_reply(call, &resp.base);
}

#define UNARY(n, f, T)                                                                             \
    {                                                                                              \
        n, GRPC_UNARY, &agent__v1__##T##__descriptor, f, NULL, NULL, NULL                          \
    }

static const struct grpc_method methods[] = {
    UNARY("Register", register_, register_request),
    UNARY("Unregister", unregister, unregister_request),
    UNARY("Heartbeat", heartbeat, heartbeat_request),
    UNARY("ExecuteTask", bh_execute_task, execute_task_request),
    {"StreamTask", GRPC_BIDI, &agent__v1__stream_task_request__descriptor, bh_stream_task,
     bh_stream_task_half_close, bh_stream_task_ready, bh_stream_task_close},
    UNARY("CancelTask", bh_cancel_task, cancel_task_request),
    UNARY("ListTasks", bh_list_tasks, list_tasks_request),
    UNARY("GetTaskStatus", bh_get_task_status, get_task_status_request),
    {"StreamAgent", GRPC_BIDI, &agent__v1__stream_agent_request__descriptor, stream_agent,
     bh_half_close_ok, NULL, stream_agent_close},
    UNARY("SendMessage", send_message, agent_send_message_request),
    {"HealthCheck", GRPC_UNARY, &google__protobuf__empty__descriptor, health_check, NULL, NULL,
     NULL},
    {"GetStatus", GRPC_UNARY, &google__protobuf__empty__descriptor, get_status, NULL, NULL, NULL},
    {"GetCapabilities", GRPC_UNARY, &google__protobuf__empty__descriptor, get_capabilities, NULL,
     NULL, NULL},
};

const struct grpc_service bh_agent_service = {SERVICE, methods, ARRAY_SIZE(methods),
                                              &agent__v1__agent_service__descriptor};
