/* drover ps, tree, kill-tree, zombies, spawn: the drover.v1.Processes calls, which carry
 * running-process's own messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

#define PROCESSES "/drover.v1.Processes/"

static const char *state_name(RunningProcess__Daemon__V1__ProcessState s)
{
    switch (s) {
    case RUNNING_PROCESS__DAEMON__V1__PROCESS_STATE__PROCESS_STATE_ALIVE:
        return "alive";
    case RUNNING_PROCESS__DAEMON__V1__PROCESS_STATE__PROCESS_STATE_DEAD:
        return "dead";
    case RUNNING_PROCESS__DAEMON__V1__PROCESS_STATE__PROCESS_STATE_ZOMBIE:
        return "zombie";
    default:
        return "unknown";
    }
}

/* The PID operand at argv[i], after the options: a positive decimal that fits. Returns 0, or
 * CLI_HELP or CLI_USAGE. */
static int pid_operand(const struct cli_command *self, int i, int argc, char **argv, uint32_t *ret)
{
    i = cli_need_operand(self, i, argc, self->args, NULL);
    if (i < 0)
        return i;
    if (cli_parse_u32(argv[i], 1, INT32_MAX, ret) < 0) {
        cli_error("%s: '%s' is not a process id", self->name, argv[i]);
        return CLI_USAGE;
    }
    return 0;
}

/* ---- ps ---- */

static const struct cli_option ps_opts[] = {
    {"--originator", "TOOL", "only processes whose originator starts with TOOL:"},
    {0},
};

static json_t *tracked_json(const RunningProcess__Daemon__V1__TrackedProcess *p)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:b, s:f}", "pid",
                     (int)p->pid, "state", state_name(p->state), "command", p->command, "cwd",
                     p->cwd, "kind", p->kind, "originator", p->originator, "containment",
                     p->containment, "created_at", p->created_at, "registered_at", p->registered_at,
                     "uptime_seconds", p->uptime_seconds, "parent_alive", p->parent_alive,
                     "last_validated_at", p->last_validated_at);
}

int cmd_ps(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    const char *tool = NULL;
    ProtobufCMessage *resp = NULL;
    RunningProcess__Daemon__V1__TrackedProcess **rows;
    size_t n;
    int i = cli_parse(cli, self, argc, argv, 0, ps_opts, cli_option_value, &tool);

    if (i < 0)
        return cli_exit_code(i);
    if (tool) {
        RunningProcess__Daemon__V1__ListByOriginatorRequest req =
            RUNNING_PROCESS__DAEMON__V1__LIST_BY_ORIGINATOR_REQUEST__INIT;
        req.tool = (char *)tool;
        if (cli_unary(cli, PROCESSES "ListByOriginator", &req.base,
                      &running_process__daemon__v1__list_by_originator_response__descriptor,
                      &resp) < 0)
            return 1;
        rows = ((RunningProcess__Daemon__V1__ListByOriginatorResponse *)resp)->processes;
        n = ((RunningProcess__Daemon__V1__ListByOriginatorResponse *)resp)->n_processes;
    } else {
        RunningProcess__Daemon__V1__ListActiveRequest req =
            RUNNING_PROCESS__DAEMON__V1__LIST_ACTIVE_REQUEST__INIT;
        if (cli_unary(cli, PROCESSES "ListActive", &req.base,
                      &running_process__daemon__v1__list_active_response__descriptor, &resp) < 0)
            return 1;
        rows = ((RunningProcess__Daemon__V1__ListActiveResponse *)resp)->processes;
        n = ((RunningProcess__Daemon__V1__ListActiveResponse *)resp)->n_processes;
    }
    if (cli->json) {
        json_t *a = json_array();
        for (size_t k = 0; a && k < n; k++)
            json_array_append_new(a, tracked_json(rows[k]));
        cli_print_json(a);
    } else if (n == 0) {
        printf("no tracked processes\n");
    } else {
        printf("%-8s %-7s %-9s %-20s %s\n", "PID", "STATE", "UPTIME", "ORIGINATOR", "COMMAND");
        for (size_t k = 0; k < n; k++) {
            char up[32];
            cli_format_duration((uint64_t)rows[k]->uptime_seconds, up, sizeof up);
            printf("%-8u %-7s %-9s %-20s %s\n", rows[k]->pid, state_name(rows[k]->state), up,
                   rows[k]->originator[0] ? rows[k]->originator : "-", rows[k]->command);
        }
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* ---- tree ---- */

int cmd_tree(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    RunningProcess__Daemon__V1__GetProcessTreeRequest req =
        RUNNING_PROCESS__DAEMON__V1__GET_PROCESS_TREE_REQUEST__INIT;
    RunningProcess__Daemon__V1__GetProcessTreeResponse *resp = NULL;
    int r = pid_operand(self, cli_parse_common(cli, self, argc, argv, 1), argc, argv, &req.pid);

    if (r < 0)
        return cli_exit_code(r);
    if (cli_unary(cli, PROCESSES "GetProcessTree", &req.base,
                  &running_process__daemon__v1__get_process_tree_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    /* The daemon answers OK with this text for a pid that does not exist. */
    char missing[64];
    snprintf(missing, sizeof missing, "Process %u not found", req.pid);
    bool found = strcmp(resp->tree_display, missing) != 0;
    if (cli->json)
        cli_print_json(json_pack("{s:i, s:b, s:s}", "pid", (int)req.pid, "found", found, "tree",
                                 resp->tree_display));
    else if (found)
        printf("%s\n", resp->tree_display);
    else
        cli_error("tree: no process %u", req.pid);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return found ? 0 : 1;
}

/* ---- kill-tree ---- */

static const struct cli_option kill_opts[] = {
    {"--timeout", "S", "give up after S seconds (default 3, at most 30)"},
    {0},
};

static int kill_option(void *ctx, const struct cli_option *o, const char *value)
{
    char *end;
    double v = strtod(value, &end);
    (void)o;
    if (end == value || *end || !(v > 0) || v > 30) {
        cli_error("kill-tree: --timeout wants seconds between 0 and 30, not '%s'", value);
        return -1;
    }
    *(double *)ctx = v;
    return 0;
}

int cmd_kill_tree(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    RunningProcess__Daemon__V1__KillTreeRequest req =
        RUNNING_PROCESS__DAEMON__V1__KILL_TREE_REQUEST__INIT;
    RunningProcess__Daemon__V1__KillTreeResponse *resp = NULL;
    double timeout = 3;
    int r = pid_operand(self, cli_parse(cli, self, argc, argv, 1, kill_opts, kill_option, &timeout),
                        argc, argv, &req.pid);

    if (r < 0)
        return cli_exit_code(r);
    req.timeout_seconds = timeout;
    cli->deadline_ms = (uint32_t)(timeout * 1000) + 10000;
    if (cli_unary(cli, PROCESSES "KillTree", &req.base,
                  &running_process__daemon__v1__kill_tree_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (cli->json)
        cli_print_json(json_pack("{s:i, s:i}", "pid", (int)req.pid, "processes_killed",
                                 (int)resp->processes_killed));
    else if (resp->processes_killed == 0)
        printf("no process %u: nothing to kill\n", req.pid);
    else
        printf("killed %u process%s in the tree of %u\n", resp->processes_killed,
               resp->processes_killed == 1 ? "" : "es", req.pid);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

/* ---- zombies ---- */

static const struct cli_option zombie_opts[] = {
    {"--kill", NULL, "kill the orphans and drop every row found (default: only report)"},
    {0},
};

int cmd_zombies(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    RunningProcess__Daemon__V1__KillZombiesRequest req =
        RUNNING_PROCESS__DAEMON__V1__KILL_ZOMBIES_REQUEST__INIT;
    RunningProcess__Daemon__V1__KillZombiesResponse *resp = NULL;
    bool kill = false;
    int i = cli_parse(cli, self, argc, argv, 0, zombie_opts, cli_option_flag, &kill);

    if (i < 0)
        return cli_exit_code(i);
    req.dry_run = !kill;
    if (cli_unary(cli, PROCESSES "KillZombies", &req.base,
                  &running_process__daemon__v1__kill_zombies_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (cli->json) {
        json_t *a = json_array();
        for (size_t k = 0; a && k < resp->n_zombies; k++) {
            const RunningProcess__Daemon__V1__ZombieReport *z = resp->zombies[k];
            json_array_append_new(a,
                                  json_pack("{s:i, s:s, s:s, s:b}", "pid", (int)z->pid, "command",
                                            z->command, "reason", z->reason, "killed", z->killed));
        }
        cli_print_json(a);
    } else if (resp->n_zombies == 0) {
        printf("no zombies among the tracked processes\n");
    } else {
        for (size_t k = 0; k < resp->n_zombies; k++) {
            const RunningProcess__Daemon__V1__ZombieReport *z = resp->zombies[k];
            printf("%-8u %s%s (%s)\n", z->pid, z->reason, kill && z->killed ? ": killed" : "",
                   z->command);
        }
        if (!kill)
            printf("(dry run: nothing was killed or dropped; use --kill)\n");
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

/* ---- spawn ---- */

#define SPAWN_MAX_ENV 256

struct spawn_args {
    RunningProcess__Daemon__V1__SpawnDaemonRequest req;       /* being filled */
    RunningProcess__Daemon__V1__KeyValue kv[SPAWN_MAX_ENV];   /* --env entries */
    RunningProcess__Daemon__V1__KeyValue *pkv[SPAWN_MAX_ENV]; /* pointers to them */
};

static const struct cli_option spawn_opts[] = {
    {"--cwd", "DIR", "working directory"},
    {"--env", "K=V", "set an environment variable (repeatable; the last one wins)"},
    {"--clear-env", NULL, "start from an empty environment, not droverd's"},
    {"--originator", "O", "originator tag (default: drover-grpc)"},
    {0},
};

static int spawn_option(void *ctx, const struct cli_option *o, const char *value)
{
    struct spawn_args *a = ctx;

    if (!strcmp(o->name, "--cwd")) {
        a->req.cwd = (char *)value;
    } else if (!strcmp(o->name, "--clear-env")) {
        a->req.clear_inherited_env = true;
    } else if (!strcmp(o->name, "--originator")) {
        a->req.originator = (char *)value;
    } else {
        const char *eq = strchr(value, '=');
        if (!eq || eq == value) {
            cli_error("spawn: --env wants NAME=VALUE, not '%s'", value);
            return -1;
        }
        if (a->req.n_env == SPAWN_MAX_ENV) {
            cli_error("spawn: at most %d --env options", SPAWN_MAX_ENV);
            return -1;
        }
        RunningProcess__Daemon__V1__KeyValue *kv = &a->kv[a->req.n_env];
        running_process__daemon__v1__key_value__init(kv);
        kv->key = strndup(value, (size_t)(eq - value));
        kv->value = (char *)eq + 1;
        if (!kv->key)
            abort();
        a->pkv[a->req.n_env++] = kv;
    }
    return 0;
}

/* One operand is a shell command as it is; several are words, quoted for /bin/sh so that it
 * runs exactly that argv. */
static char *shell_command(int n, char **words)
{
    size_t len = 1;
    for (int k = 0; k < n; k++)
        len += 3 + 4 * strlen(words[k]);
    char *s = malloc(len), *p = s;
    if (!s)
        abort();
    if (n == 1)
        return strcpy(s, words[0]);
    for (int k = 0; k < n; k++) {
        if (k)
            *p++ = ' ';
        *p++ = '\'';
        for (const char *c = words[k]; *c; c++) {
            if (*c == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else {
                *p++ = *c;
            }
        }
        *p++ = '\'';
    }
    *p = '\0';
    return s;
}

int cmd_spawn(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    struct spawn_args a;
    RunningProcess__Daemon__V1__SpawnDaemonResponse *resp = NULL;
    int r = 1;

    running_process__daemon__v1__spawn_daemon_request__init(&a.req);
    a.req.env = a.pkv;
    int i =
        cli_need_operand(self, cli_parse(cli, self, argc, argv, -1, spawn_opts, spawn_option, &a),
                         argc, "the command", NULL);
    if (i < 0) {
        r = cli_exit_code(i);
        goto out;
    }
    a.req.command = shell_command(argc - i, argv + i);
    if (cli_unary(cli, PROCESSES "SpawnDaemon", &a.req.base,
                  &running_process__daemon__v1__spawn_daemon_response__descriptor,
                  (ProtobufCMessage **)&resp) == 0) {
        if (cli->json)
            cli_print_json(json_pack("{s:i, s:f, s:s, s:s, s:s, s:s}", "pid", (int)resp->pid,
                                     "created_at", resp->created_at, "command", resp->command,
                                     "cwd", resp->cwd, "originator", resp->originator,
                                     "containment", resp->containment));
        else
            printf("started %u: %s\n", resp->pid, resp->command);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        r = 0;
    }
    free(a.req.command);
out:
    for (size_t k = 0; k < a.req.n_env; k++)
        free(a.kv[k].key);
    return r;
}
