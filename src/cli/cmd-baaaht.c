/* drover baaaht sessions, agents, tasks, events: read-only views of the agent hub that serves
 * baaaht's API. Sessions and events come from baaaht's own orchestrator.v1 (served on drover's
 * socket too); agents and tasks from drover.v1.Agents, as baaaht's API lists no agents and
 * lists tasks one agent at a time. `events` follows the stream until interrupted (or --count). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "baaaht/orchestrator.pb-c.h"
#include "cli/cli.h"
#include "client/client.h"
#include "drover/v1/agents.pb-c.h"
#include "grpc/wire.h"

#define ORCH   "/orchestrator.v1.OrchestratorService/"
#define AGENTS "/drover.v1.Agents/"

/* "SESSION_STATE_ACTIVE" as "active". */
static const char *short_word(const ProtobufCEnumDescriptor *d, int v, const char *prefix,
                              char *buf, size_t n)
{
    const char *w = cli_enum_word(d, v, buf, n);
    size_t k = strlen(prefix);
    return !strncasecmp(w, prefix, k) ? w + k : w;
}

static void print_list(struct cli *cli, ProtobufCMessage **items, size_t n,
                       void (*row)(const ProtobufCMessage *m))
{
    if (cli->json) {
        json_t *a = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(a, cli_pb_json(items[k]));
        cli_print_json(a);
        return;
    }
    for (size_t k = 0; k < n; k++)
        row(items[k]);
}

static void session_row(const ProtobufCMessage *m)
{
    const Orchestrator__V1__Session *s = (const void *)m;
    char state[48], age[32];
    cli_format_duration(cli_ts_age(s->created_at), age, sizeof age);
    printf("%-10.8s %-20.20s %-9s %-12.12s %6zu %-6zu %s\n", s->id,
           s->metadata && *s->metadata->name ? s->metadata->name : "-",
           short_word(&orchestrator__v1__session_state__descriptor, s->state, "session_state_",
                      state, sizeof state),
           s->metadata && *s->metadata->owner_id ? s->metadata->owner_id : "-",
           s->context ? s->context->n_messages : 0, s->n_container_ids, age);
}

static int sessions(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Orchestrator__V1__ListSessionsRequest q = ORCHESTRATOR__V1__LIST_SESSIONS_REQUEST__INIT;
    Orchestrator__V1__ListSessionsResponse *resp = NULL;
    int i = cli_parse_common(cli, self, argc, argv, 0);
    if (i < 0)
        return cli_exit_code(i);
    if (cli_unary(cli, ORCH "ListSessions", &q.base,
                  &orchestrator__v1__list_sessions_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (!cli->json)
        printf("%-10s %-20s %-9s %-12s %6s %-6s %s\n", "ID", "NAME", "STATE", "OWNER", "MSGS",
               "CTRS", "AGE");
    print_list(cli, (ProtobufCMessage **)resp->sessions, resp->n_sessions, session_row);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static void agent_row(const ProtobufCMessage *m)
{
    const Drover__V1__HubAgent *a = (const void *)m;
    char seen[32];
    cli_format_duration(cli_ts_age(a->last_heartbeat), seen, sizeof seen);
    printf("%-10.8s %-20.20s %-8s %-10s %-6s %5d %s ago\n", a->id, a->name, a->type, a->state,
           a->streaming ? "yes" : "no", a->active_tasks, seen);
}

static int agents(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__ListAgentsRequest q = DROVER__V1__LIST_AGENTS_REQUEST__INIT;
    Drover__V1__ListAgentsResponse *resp = NULL;
    int i = cli_parse_common(cli, self, argc, argv, 0);
    if (i < 0)
        return cli_exit_code(i);
    if (cli_unary(cli, AGENTS "ListAgents", &q.base, &drover__v1__list_agents_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (!cli->json)
        printf("%-10s %-20s %-8s %-10s %-6s %5s %s\n", "ID", "NAME", "TYPE", "STATE", "STREAM",
               "TASKS", "HEARD");
    print_list(cli, (ProtobufCMessage **)resp->agents, resp->n_agents, agent_row);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static void task_row(const ProtobufCMessage *m)
{
    const Drover__V1__HubTask *t = (const void *)m;
    char code[16] = "-", age[32];
    if (t->has_exit_code)
        snprintf(code, sizeof code, "%d", t->exit_code);
    cli_format_duration(cli_ts_age(t->created_at), age, sizeof age);
    printf("%-10.8s %-16.16s %-10s %-10.8s %-10.8s %7d %5s %-6s %s\n", t->id, t->name, t->state,
           *t->agent_id ? t->agent_id : "droverd", t->session_id, t->pid, code, age, t->error);
}

static int tasks_option(void *ctx, const struct cli_option *o, const char *v)
{
    const char *field = !strcmp(o->name, "--agent") ? "agent_id" : "session_id";
    return cli_set_field("baaaht tasks", o->name, ctx, field, v) < 0 ? -1 : 0;
}

static int tasks(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {{"--agent", "ID", "only this agent's tasks"},
                                             {"--session", "ID", "only this session's tasks"},
                                             {0}};
    Drover__V1__ListHubTasksRequest q = DROVER__V1__LIST_HUB_TASKS_REQUEST__INIT;
    Drover__V1__ListHubTasksResponse *resp = NULL;
    int i = cli_parse(cli, self, argc, argv, 0, opts, tasks_option, &q);
    if (i < 0)
        return cli_exit_code(i);
    if (cli_unary(cli, AGENTS "ListTasks", &q.base,
                  &drover__v1__list_hub_tasks_response__descriptor, (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (!cli->json)
        printf("%-10s %-16s %-10s %-10s %-10s %7s %5s %-6s %s\n", "ID", "NAME", "STATE", "AGENT",
               "SESSION", "PID", "EXIT", "AGE", "ERROR");
    print_list(cli, (ProtobufCMessage **)resp->tasks, resp->n_tasks, task_row);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

/* ---- events ---- */

struct follow {
    struct cli *cli;
    uint32_t left; /* events still to print; 0: no limit */
    bool stop;
};

static void on_event(struct drover_call *call, const ProtobufCMessage *msg, void *userdata)
{
    const Orchestrator__V1__Event *e = (const void *)msg;
    struct follow *f = userdata;
    (void)call;
    if (f->stop)
        return;
    if (f->cli->json) {
        cli_print_pb(msg, true);
    } else {
        char when[64], type[48];
        cli_format_time(e->timestamp ? e->timestamp->seconds : 0,
                        e->timestamp ? e->timestamp->nanos : 0, when, sizeof when);
        const char *t = e->type ? short_word(&orchestrator__v1__event_type__descriptor, e->type,
                                             "event_type_", type, sizeof type)
                                : "";
        for (size_t k = 0; !e->type && k < e->n_data; k++)
            if (!strcmp(e->data[k]->key, "type"))
                t = e->data[k]->value;
        printf("%s %-22s %-12s", when, t, e->source);
        for (size_t k = 0; k < e->n_data; k++)
            if (strcmp(e->data[k]->key, "type"))
                printf(" %s=%s", e->data[k]->key, e->data[k]->value);
        printf("\n");
    }
    fflush(stdout);
    if (f->left && --f->left == 0)
        f->stop = true;
}

static int count_option(void *ctx, const struct cli_option *o, const char *v)
{
    (void)o;
    return cli_parse_u32(v, 1, UINT32_MAX, &((struct follow *)ctx)->left) < 0 ? -1 : 0;
}

static int events(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--count", "N", "stop after N events (default: follow until interrupted)"}, {0}};
    Orchestrator__V1__SubscribeEventsRequest q = ORCHESTRATOR__V1__SUBSCRIBE_EVENTS_REQUEST__INIT;
    struct follow f = {.cli = cli};
    int i = cli_parse(cli, self, argc, argv, 0, opts, count_option, &f);
    if (i < 0)
        return cli_exit_code(i);
    return cli_follow(cli, ORCH "SubscribeEvents", &q.base, &orchestrator__v1__event__descriptor,
                      on_event, &f, &f.stop) < 0;
}

static const struct cli_command baaaht_cmds[] = {
    {"baaaht sessions", sessions, "", "baaaht's sessions (conversations), closed ones too."},
    {"baaaht agents", agents, "", "Agents that registered, terminated ones too."},
    {"baaaht tasks", tasks, "[--agent ID] [--session ID]", "Tasks, run by agents or by droverd."},
    {"baaaht events", events, "[--count N]",
     "Follow the event stream (every event of the daemon)."},
};

int cmd_baaaht(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return cli_subcommand(cli, self, baaaht_cmds, ARRAY_SIZE(baaaht_cmds), argc, argv);
}
