/* baaaht's messages to and from the agent hub's structs, built in an arena. */
#include <stdlib.h>
#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "api/msg.h"
#include "api/status.h"
#include "base/strv.h"
#include "base/time-util.h"

void bh_times(struct grpc_call *call, Google__Protobuf__Timestamp *started,
              Google__Protobuf__Timestamp *uptime)
{
    struct api_host *h = grpc_call_service_data(call);
    api_timestamp(started, h->started_real_ns);
    api_timestamp(uptime, now_ns(CLOCK_MONOTONIC) - h->started_mono_ns);
}

void bh_meta_in(struct api_arena *a, const Orchestrator__V1__SessionMetadata *q, struct ag_meta *m)
{
    *m = (struct ag_meta){0};
    if (!q)
        return;
    m->name = bh_in(q->name);
    m->description = bh_in(q->description);
    m->owner_id = bh_in(q->owner_id);
    m->labels = q->n_labels ? arena_map_in(a, (void *const *)q->labels, q->n_labels) : NULL;
    m->tags = arena_strv_in(a, q->tags, q->n_tags, true);
}

void bh_config_in(struct api_arena *a, const Orchestrator__V1__SessionConfig *q,
                  struct ag_config *c)
{
    *c = (struct ag_config){0};
    if (!q)
        return;
    c->max_containers = q->max_containers;
    c->max_duration_ns = q->max_duration_ns;
    c->idle_timeout_ns = q->idle_timeout_ns;
    if (q->resource_limits)
        c->limits =
            (struct ag_limits){q->resource_limits->nano_cpus, q->resource_limits->memory_bytes,
                               q->resource_limits->memory_swap, q->resource_limits->pids_limit};
    c->allowed_images = arena_strv_in(a, q->allowed_images, q->n_allowed_images, true);
    if (q->policy) {
        c->allow_network = q->policy->allow_network;
        c->allow_volume_mount = q->policy->allow_volume_mount;
        c->require_approval = q->policy->require_approval;
        c->allowed_networks =
            arena_strv_in(a, q->policy->allowed_networks, q->policy->n_allowed_networks, true);
        c->allowed_paths =
            arena_strv_in(a, q->policy->allowed_paths, q->policy->n_allowed_paths, true);
    }
}

void bh_msg_in(struct api_arena *a, const Orchestrator__V1__Message *q, struct ag_msg *m)
{
    *m = (struct ag_msg){.role = (int)q->role, .content = q->content};
    snprintf(m->id, sizeof m->id, "%s", q->id);
    if (q->timestamp)
        m->ts_ns = (uint64_t)q->timestamp->seconds * 1000000000ull + (uint64_t)q->timestamp->nanos;
    if (q->metadata) {
        m->container_id = bh_in(q->metadata->container_id);
        m->tool_name = bh_in(q->metadata->tool_name);
        m->tool_call_id = bh_in(q->metadata->tool_call_id);
        m->extra = q->metadata->n_extra
                       ? arena_map_in(a, (void *const *)q->metadata->extra, q->metadata->n_extra)
                       : NULL;
    }
}

Orchestrator__V1__Message *bh_msg_out(struct api_arena *a, const struct ag_msg *m)
{
    Orchestrator__V1__Message *o = arena_msg(a, &orchestrator__v1__message__descriptor);
    Orchestrator__V1__MessageMetadata *md =
        arena_msg(a, &orchestrator__v1__message_metadata__descriptor);
    o->id = arena_strdup(a, m->id);
    o->timestamp = arena_ts(a, m->ts_ns);
    o->role = (Orchestrator__V1__MessageRole)m->role;
    o->content = bh_out(m->content);
    md->container_id = bh_out(m->container_id);
    md->tool_name = bh_out(m->tool_name);
    md->tool_call_id = bh_out(m->tool_call_id);
    md->extra = (Orchestrator__V1__MessageMetadata__ExtraEntry **)arena_map_out(
        a, &orchestrator__v1__message_metadata__extra_entry__descriptor, m->extra, &md->n_extra);
    o->metadata = md;
    return o;
}

/* m with its strings copied into the arena: for messages lent only until the answer is built. */
static struct ag_msg msg_in_arena(struct api_arena *a, const struct ag_msg *m)
{
    struct ag_msg x = *m;
    x.content = m->content ? arena_strdup(a, m->content) : NULL;
    x.container_id = m->container_id ? arena_strdup(a, m->container_id) : NULL;
    x.tool_name = m->tool_name ? arena_strdup(a, m->tool_name) : NULL;
    x.tool_call_id = m->tool_call_id ? arena_strdup(a, m->tool_call_id) : NULL;
    size_t n = strv_length(m->extra);
    x.extra = n ? arena_alloc(a, (n + 1) * sizeof *x.extra) : NULL;
    for (size_t k = 0; k < n; k++)
        x.extra[k] = arena_strdup(a, m->extra[k]);
    return x;
}

Orchestrator__V1__Session *bh_conv_out(struct api_arena *a, const struct ag_conv *c)
{
    struct ag_conv_info i;
    ag_conv_info(c, &i);
    Orchestrator__V1__Session *s = arena_msg(a, &orchestrator__v1__session__descriptor);
    Orchestrator__V1__SessionMetadata *md =
        arena_msg(a, &orchestrator__v1__session_metadata__descriptor);
    Orchestrator__V1__SessionContext *cx =
        arena_msg(a, &orchestrator__v1__session_context__descriptor);
    Orchestrator__V1__SessionConfig *cf =
        arena_msg(a, &orchestrator__v1__session_config__descriptor);
    Orchestrator__V1__SessionPolicy *po =
        arena_msg(a, &orchestrator__v1__session_policy__descriptor);
    Orchestrator__V1__UserPreferences *pr =
        arena_msg(a, &orchestrator__v1__user_preferences__descriptor);
    Common__V1__ResourceLimits *rl = arena_msg(a, &common__v1__resource_limits__descriptor);
    s->id = (char *)i.id;
    s->state = (Orchestrator__V1__SessionState)i.state;
    s->status = (Common__V1__Status)i.status;
    s->created_at = arena_ts(a, i.created_ns);
    s->updated_at = arena_ts(a, i.updated_ns);
    s->expires_at = arena_ts(a, i.expires_ns);
    s->closed_at = arena_ts(a, i.closed_ns);
    md->name = bh_out(i.meta->name);
    md->description = bh_out(i.meta->description);
    md->owner_id = bh_out(i.meta->owner_id);
    md->labels = (Orchestrator__V1__SessionMetadata__LabelsEntry **)arena_map_out(
        a, &orchestrator__v1__session_metadata__labels_entry__descriptor, i.meta->labels,
        &md->n_labels);
    md->tags = i.meta->tags;
    md->n_tags = strv_length(i.meta->tags);
    s->metadata = md;
    struct ag_history h;
    if (ag_conv_history(c, &h) < 0)
        a->failed = true; /* the answer is not sent without its history */
    cx->n_messages = h.n;
    cx->messages = h.n ? arena_alloc(a, h.n * sizeof *cx->messages) : NULL;
    for (size_t k = 0; k < h.n; k++) {
        struct ag_msg m = h.owned ? msg_in_arena(a, &h.msgs[k]) : h.msgs[k];
        cx->messages[k] = bh_msg_out(a, &m);
    }
    ag_history_done(&h);
    cx->current_task_id = (char *)i.current_task_id;
    cx->task_history = (char **)i.task_history;
    cx->n_task_history = strv_length(i.task_history);
    pr->timezone = bh_out(i.prefs->timezone);
    pr->language = bh_out(i.prefs->language);
    pr->theme = bh_out(i.prefs->theme);
    pr->notifications = i.prefs->notifications;
    cx->preferences = pr;
    cf->max_containers = i.config->max_containers;
    cf->max_duration_ns = i.config->max_duration_ns;
    cf->idle_timeout_ns = i.config->idle_timeout_ns;
    *rl = (Common__V1__ResourceLimits)COMMON__V1__RESOURCE_LIMITS__INIT;
    rl->nano_cpus = i.config->limits.nano_cpus;
    rl->memory_bytes = i.config->limits.memory_bytes;
    rl->memory_swap = i.config->limits.memory_swap;
    rl->pids_limit = i.config->limits.pids_limit;
    cf->resource_limits = rl;
    cf->allowed_images = i.config->allowed_images;
    cf->n_allowed_images = strv_length(i.config->allowed_images);
    po->allow_network = i.config->allow_network;
    po->allow_volume_mount = i.config->allow_volume_mount;
    po->require_approval = i.config->require_approval;
    po->allowed_networks = i.config->allowed_networks;
    po->n_allowed_networks = strv_length(i.config->allowed_networks);
    po->allowed_paths = i.config->allowed_paths;
    po->n_allowed_paths = strv_length(i.config->allowed_paths);
    cf->policy = po;
    cx->config = cf;
    s->context = cx;
    s->container_ids = (char **)i.container_ids;
    s->n_container_ids = strv_length(i.container_ids);
    return s;
}

/* ---- events ---- */

static const char *const event_types[] = {
    NULL,
    "container.created",
    "container.started",
    "container.stopped",
    "container.removed",
    "container.error",
    "session.created",
    "session.updated",
    "session.closed",
    "task.created",
    "task.updated",
    "task.completed",
    "task.failed",
    "ipc.message",
    "policy.violation",
    "resource.threshold",
    "system.startup",
    "system.shutdown",
};

int bh_event_type(const char *type)
{
    for (size_t i = 1; type && i < sizeof event_types / sizeof *event_types; i++)
        if (strcmp(type, event_types[i]) == 0)
            return (int)i;
    return 0;
}

Orchestrator__V1__Event *bh_event_out(struct api_arena *a, const struct ev *e)
{
    Orchestrator__V1__Event *o = arena_msg(a, &orchestrator__v1__event__descriptor);
    Orchestrator__V1__EventMetadata *md =
        arena_msg(a, &orchestrator__v1__event_metadata__descriptor);
    o->id = arena_strdup(a, e->id);
    o->type = (Orchestrator__V1__EventType)bh_event_type(e->type);
    o->source = arena_strdup(a, e->source);
    o->timestamp = arena_ts(a, e->ns);
    /* Events of no wire type still say what they are, as upstream's do in their data. */
    size_t nd = strv_length(e->data);
    char **d = arena_alloc(a, (nd + 3) * sizeof *d);
    if (nd)
        memcpy(d, e->data, nd * sizeof *d);
    if (!o->type) {
        d[nd++] = "type";
        d[nd++] = (char *)e->type;
    }
    d[nd] = NULL;
    o->data = (Orchestrator__V1__Event__DataEntry **)arena_map_out(
        a, &orchestrator__v1__event__data_entry__descriptor, d, &o->n_data);
    md->correlation_id = arena_strdup(a, e->correlation_id);
    md->session_id = arena_strdup(a, e->session_id);
    md->container_id = arena_strdup(a, e->container_id);
    md->user_id = arena_strdup(a, e->user_id);
    md->labels = (Orchestrator__V1__EventMetadata__LabelsEntry **)arena_map_out(
        a, &orchestrator__v1__event_metadata__labels_entry__descriptor, e->labels, &md->n_labels);
    md->priority = (Common__V1__Priority)(e->priority ? e->priority : 2);
    o->metadata = md;
    return o;
}

/* ---- agent messages ---- */

static uint64_t ts_in(const Google__Protobuf__Timestamp *t)
{
    return t && t->seconds >= 0 ? (uint64_t)t->seconds * 1000000000ull + (uint64_t)t->nanos : 0;
}

void bh_amsg_in(struct api_arena *a, const Agent__V1__AgentMessage *q, struct ag_amsg *m)
{
    *m = (struct ag_amsg){.id = q->id,
                          .source_id = q->source_id,
                          .target_id = q->target_id,
                          .type = (int)q->type,
                          .ts_ns = ts_in(q->timestamp),
                          .payload = (int)q->payload_case};
    if (q->metadata) {
        m->correlation_id = q->metadata->correlation_id;
        m->session_id = q->metadata->session_id;
        m->priority = q->metadata->priority;
        m->headers = arena_map_in(a, (void *const *)q->metadata->headers, q->metadata->n_headers);
    }
    switch (q->payload_case) {
    case AGENT__V1__AGENT_MESSAGE__PAYLOAD_TASK_MESSAGE:
        m->task.task_id = q->task_message->task_id;
        m->task.session_id = q->task_message->session_id;
        m->task.state = (int)q->task_message->state;
        m->task.progress = q->task_message->progress;
        m->task.status_message = q->task_message->status_message;
        m->task.output = q->task_message->output.data;
        m->task.output_len = q->task_message->output.len;
        break;
    case AGENT__V1__AGENT_MESSAGE__PAYLOAD_CONTROL_MESSAGE:
        m->control.command = (int)q->control_message->command;
        m->control.params = arena_map_in(a, (void *const *)q->control_message->parameters,
                                         q->control_message->n_parameters);
        break;
    case AGENT__V1__AGENT_MESSAGE__PAYLOAD_DATA_MESSAGE:
        m->data.content_type = q->data_message->content_type;
        m->data.data = q->data_message->data.data;
        m->data.len = q->data_message->data.len;
        m->data.headers =
            arena_map_in(a, (void *const *)q->data_message->headers, q->data_message->n_headers);
        break;
    case AGENT__V1__AGENT_MESSAGE__PAYLOAD_EVENT_MESSAGE:
        m->event.event_type = q->event_message->event_type;
        m->event.source = q->event_message->source;
        m->event.data =
            arena_map_in(a, (void *const *)q->event_message->data, q->event_message->n_data);
        break;
    default:
        m->payload = AG_PAY_NONE;
        break;
    }
}

Agent__V1__AgentMessage *bh_amsg_out(struct api_arena *a, const struct ag_amsg *m)
{
    Agent__V1__AgentMessage *o = arena_msg(a, &agent__v1__agent_message__descriptor);
    Agent__V1__AgentMessageMetadata *md =
        arena_msg(a, &agent__v1__agent_message_metadata__descriptor);
    o->id = bh_out(m->id);
    o->type = (Agent__V1__MessageType)m->type;
    o->timestamp = arena_ts(a, m->ts_ns);
    o->source_id = bh_out(m->source_id);
    o->target_id = bh_out(m->target_id);
    md->correlation_id = bh_out(m->correlation_id);
    md->session_id = bh_out(m->session_id);
    md->priority = m->priority;
    md->headers = (Agent__V1__AgentMessageMetadata__HeadersEntry **)arena_map_out(
        a, &agent__v1__agent_message_metadata__headers_entry__descriptor, m->headers,
        &md->n_headers);
    o->metadata = md;
    o->payload_case = (Agent__V1__AgentMessage__PayloadCase)m->payload;
    switch (m->payload) {
    case AG_PAY_TASK: {
        Agent__V1__TaskMessage *t = arena_msg(a, &agent__v1__task_message__descriptor);
        t->task_id = bh_out(m->task.task_id);
        t->session_id = bh_out(m->task.session_id);
        t->state = (Agent__V1__TaskState)m->task.state;
        t->progress = m->task.progress;
        t->status_message = bh_out(m->task.status_message);
        t->output.data = (uint8_t *)m->task.output;
        t->output.len = m->task.output_len;
        o->task_message = t;
        break;
    }
    case AG_PAY_CONTROL: {
        Agent__V1__ControlMessage *c = arena_msg(a, &agent__v1__control_message__descriptor);
        c->command = (Agent__V1__ControlCommand)m->control.command;
        c->parameters = (Agent__V1__ControlMessage__ParametersEntry **)arena_map_out(
            a, &agent__v1__control_message__parameters_entry__descriptor, m->control.params,
            &c->n_parameters);
        o->control_message = c;
        break;
    }
    case AG_PAY_DATA: {
        Agent__V1__DataMessage *d = arena_msg(a, &agent__v1__data_message__descriptor);
        d->content_type = bh_out(m->data.content_type);
        d->data.data = (uint8_t *)m->data.data;
        d->data.len = m->data.len;
        d->headers = (Agent__V1__DataMessage__HeadersEntry **)arena_map_out(
            a, &agent__v1__data_message__headers_entry__descriptor, m->data.headers, &d->n_headers);
        o->data_message = d;
        break;
    }
    case AG_PAY_EVENT: {
        Agent__V1__EventMessage *e = arena_msg(a, &agent__v1__event_message__descriptor);
        e->event_type = bh_out(m->event.event_type);
        e->source = bh_out(m->event.source);
        e->data = (Agent__V1__EventMessage__DataEntry **)arena_map_out(
            a, &agent__v1__event_message__data_entry__descriptor, m->event.data, &e->n_data);
        o->event_message = e;
        break;
    }
    default:
        o->payload_case = AGENT__V1__AGENT_MESSAGE__PAYLOAD__NOT_SET;
        break;
    }
    return o;
}

char *bh_err_text(struct api_arena *a, int r, const char *why)
{
    return arena_printf(a, "%s: %s", grpc_status_name(api_grpc_status(r)), why);
}
