/* drover.v1.Agents: read-only views of the agent hub (baaaht's agents and tasks) for `drover
 * baaaht`, which baaaht's own API cannot give (it lists no agents, and tasks per agent only). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "api/api.h"
#include "api/arena.h"
#include "api/drover/drover-internal.h"
#include "api/msg.h"
#include "baaaht/agent.pb-c.h"
#include "base/macro.h"
#include "base/strv.h"
#include "drover/v1/agents.pb-c.h"

/* An agent.v1 enum's value as a word: AGENT_TYPE_WORKER is "worker". */
static char *word(struct api_arena *a, const ProtobufCEnumDescriptor *d, int v, const char *prefix)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    const char *name = e ? e->name : "";
    if (!strncmp(name, prefix, strlen(prefix)))
        name += strlen(prefix);
    char *w = arena_strdup(a, name);
    for (char *p = w; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return w;
}

static struct ag_mgr *hub(struct grpc_call *call)
{
    struct api_host *h = grpc_call_service_data(call);
    if (!h->agents)
        grpc_call_finish(call, GRPC_UNAVAILABLE, "the agent hub is not set up in this droverd");
    return h->agents;
}

static void list_agents(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct ag_mgr *m = hub(call);
    struct api_arena a = {0};
    size_t n = 0, all;
    (void)msg;
    if (!m)
        return;
    all = ag_agents_count(m, NULL);
    Drover__V1__ListAgentsResponse *o =
        arena_msg(&a, &drover__v1__list_agents_response__descriptor);
    o->agents = all ? arena_alloc(&a, all * sizeof *o->agents) : NULL;
    for (struct ag_agent *ag = ag_agent_next(m, NULL); ag && n < all; ag = ag_agent_next(m, ag)) {
        struct ag_agent_info i;
        struct ag_task_filter f = {.agent_id = NULL};
        ag_agent_info(ag, &i);
        f.agent_id = i.id;
        Drover__V1__HubAgent *x = arena_msg(&a, &drover__v1__hub_agent__descriptor);
        x->id = (char *)i.id;
        x->name = i.spec->name ? i.spec->name : "";
        x->type = word(&a, &agent__v1__agent_type__descriptor, i.spec->type, "AGENT_TYPE_");
        x->state = word(&a, &agent__v1__agent_state__descriptor, i.state, "AGENT_STATE_");
        x->registered_at = arena_ts(&a, i.registered_ns);
        x->last_heartbeat = arena_ts(&a, i.heartbeat_ns);
        x->streaming = i.streaming;
        x->labels = (Drover__V1__HubAgent__LabelsEntry **)arena_map_out(
            &a, &drover__v1__hub_agent__labels_entry__descriptor, i.spec->labels, &x->n_labels);
        x->supported_tasks = i.spec->supported_tasks;
        x->n_supported_tasks = strv_length(i.spec->supported_tasks);
        for (struct ag_task *t = ag_task_next(m, NULL, &f); t; t = ag_task_next(m, t, &f)) {
            struct ag_task_info ti;
            ag_task_info(t, &ti);
            x->active_tasks += !ag_task_state_final(ti.state);
        }
        o->agents[n++] = x;
    }
    o->n_agents = n;
    arena_reply(call, &a, &o->base);
}

static void list_tasks(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__ListHubTasksRequest *q = (const void *)msg;
    struct ag_mgr *m = hub(call);
    struct api_arena a = {0};
    struct ag_task_filter f = {.agent_id = *q->agent_id ? q->agent_id : NULL,
                               .session_id = q->session_id};
    size_t n = 0, all;
    if (!m)
        return;
    all = ag_tasks_count(m, NULL);
    Drover__V1__ListHubTasksResponse *o =
        arena_msg(&a, &drover__v1__list_hub_tasks_response__descriptor);
    o->tasks = all ? arena_alloc(&a, all * sizeof *o->tasks) : NULL;
    for (struct ag_task *t = ag_task_next(m, NULL, &f); t && n < all; t = ag_task_next(m, t, &f)) {
        struct ag_task_info i;
        ag_task_info(t, &i);
        Drover__V1__HubTask *x = arena_msg(&a, &drover__v1__hub_task__descriptor);
        x->id = (char *)i.id;
        x->name = (char *)i.name;
        x->session_id = (char *)i.session_id;
        x->agent_id = (char *)i.agent_id;
        x->state = word(&a, &agent__v1__task_state__descriptor, i.state, "TASK_STATE_");
        x->type = word(&a, &agent__v1__task_type__descriptor, i.type, "TASK_TYPE_");
        x->pid = i.pid;
        x->has_exit_code = i.result != NULL;
        x->exit_code = i.result ? i.result->exit_code : 0;
        x->created_at = arena_ts(&a, i.created_ns);
        x->started_at = arena_ts(&a, i.started_ns);
        x->completed_at = arena_ts(&a, i.completed_ns);
        x->error = i.error ? arena_printf(&a, "%s: %s", i.error->code ? i.error->code : "",
                                          i.error->message ? i.error->message : "")
                           : "";
        x->progress = i.progress;
        o->tasks[n++] = x;
    }
    o->n_tasks = n;
    arena_reply(call, &a, &o->base);
}

static const struct grpc_method methods[] = {
    {"ListAgents", GRPC_UNARY, &drover__v1__list_agents_request__descriptor, list_agents, NULL,
     NULL, NULL},
    {"ListTasks", GRPC_UNARY, &drover__v1__list_hub_tasks_request__descriptor, list_tasks, NULL,
     NULL, NULL},
};

const struct grpc_service api_drover_agents = {"drover.v1.Agents", methods, ARRAY_SIZE(methods),
                                               &drover__v1__agents__descriptor};
