/* drover start, stop, restart, delete, ls, describe, logs, flush, save, resurrect: services,
 * pm2-style, over drover.v1.Services. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"
#include "cli/cli.h"
#include "drover/v1/services.pb-c.h"
#include "grpc/wire.h"

#define SERVICES "/drover.v1.Services/"
#define MAX_ENV  256

static const char *state_word(Drover__V1__ServiceState st)
{
    static const char *const words[] = {"stopped",  "starting", "online",
                                        "stopping", "backoff",  "errored"};
    return (unsigned)st < sizeof words / sizeof *words ? words[st] : "unknown";
}

static const char *probe_kind_word(Drover__V1__Probe__Kind k)
{
    return k == DROVER__V1__PROBE__KIND__KIND_TCP    ? "tcp"
           : k == DROVER__V1__PROBE__KIND__KIND_HTTP ? "http"
                                                     : "exec";
}

/* "GET 127.0.0.1:8080/healthz", "localhost:5432", "[::1]:80", "pg_isready -q" */
static void probe_target(const Drover__V1__Probe *p, char *buf, size_t size)
{
    bool http = p->kind == DROVER__V1__PROBE__KIND__KIND_HTTP;
    const char *host = *p->host ? p->host : "localhost";
    size_t n = 0;

    buf[0] = '\0';
    if (p->kind == DROVER__V1__PROBE__KIND__KIND_EXEC) {
        for (size_t k = 0; k < p->n_cmd && n < size; k++)
            n += (size_t)snprintf(buf + n, size - n, "%s%s", k ? " " : "", p->cmd[k]);
        return;
    }
    snprintf(buf, size, "%s%s%s%s%s:%u%s", http ? (*p->method ? p->method : "GET") : "",
             http ? " " : "", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
             p->port, http ? (*p->path ? p->path : "/") : "");
}

static json_t *probes_json(const Drover__V1__ServiceSpec *sp)
{
    json_t *a = json_array();
    for (size_t i = 0; sp && i < sp->n_probes; i++) {
        const Drover__V1__Probe *p = sp->probes[i];
        char target[512];
        probe_target(p, target, sizeof target);
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:i, s:i}", "name", p->name, "type",
                         probe_kind_word(p->kind), "target", target, "status", (int)p->status,
                         "interval_ms", (json_int_t)p->interval_ms, "timeout_ms",
                         (json_int_t)p->timeout_ms, "failure_threshold", (int)p->failure_threshold,
                         "success_threshold", (int)p->success_threshold));
    }
    return a;
}

static json_t *survivors_json(const Drover__V1__Service *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n_survivors; i++)
        json_array_append_new(a, json_integer(s->survivors[i]));
    return a;
}

static json_t *service_json(const Drover__V1__Service *s)
{
    json_t *cmd = json_array(), *env = json_object();
    const Drover__V1__ServiceSpec *sp = s->spec;
    for (size_t i = 0; sp && i < sp->n_cmd; i++)
        json_array_append_new(cmd, json_string(sp->cmd[i]));
    for (size_t i = 0; sp && i < sp->n_env; i++)
        json_object_set_new(env, sp->env[i]->name, json_string(sp->env[i]->value));
    json_t *deps = json_array();
    for (size_t i = 0; sp && i < sp->n_depends_on; i++)
        json_array_append_new(deps, json_string(sp->depends_on[i]));
    return json_pack(
        "{s:i, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:f, s:I, s:f, s:i, s:s, s:s, s:o, s:s, "
        "s:o, s:o, s:b, s:b, s:b, s:o, s:o}",
        "id", (int)s->id, "name", s->name, "state", state_word(s->state), "status", s->status,
        "pid", s->pid, "restarts", (int)s->restarts, "restarts_total", (int)s->restarts_total,
        "last_exit", s->last_exit, "last_error", s->last_error, "uptime_seconds", s->uptime_seconds,
        "rss_bytes", (json_int_t)s->rss_bytes, "cpu_seconds", s->cpu_seconds, "processes",
        (int)s->processes, "stdout_log", s->stdout_log, "stderr_log", s->stderr_log, "cmd", cmd,
        "cwd", sp ? sp->cwd : "", "env", env, "depends_on", deps, "autostart", sp && sp->autostart,
        "probed", s->probed, "healthy", s->healthy, "probes", probes_json(sp), "survivors",
        survivors_json(s));
}

/* The table `drover ls` prints; colour only on a terminal. */
static void print_table(Drover__V1__Service **v, size_t n)
{
    bool tty = isatty(STDOUT_FILENO);
    if (n == 0) {
        printf("no services (define one with: drover start CMD...)\n");
        return;
    }
    printf("%-4s %-20s %-9s %-8s %-8s %-8s %-6s %s\n", "ID", "NAME", "STATUS", "PID", "UPTIME",
           "RESTARTS", "CPU", "MEMORY");
    for (size_t i = 0; i < n; i++) {
        const Drover__V1__Service *s = v[i];
        char up[32] = "-", mem[32] = "-", cpu[16] = "-", pid[16] = "-";
        const char *colour = "";
        if (s->pid) {
            snprintf(pid, sizeof pid, "%d", s->pid);
            cli_format_duration((uint64_t)s->uptime_seconds, up, sizeof up);
            cli_format_bytes(s->rss_bytes, mem, sizeof mem);
            /* Average over its life: instantaneous figures come with the metrics engine. */
            snprintf(cpu, sizeof cpu, "%.0f%%",
                     s->uptime_seconds > 0 ? 100 * s->cpu_seconds / s->uptime_seconds : 0.0);
        }
        if (tty)
            colour = s->state == DROVER__V1__SERVICE_STATE__SERVICE_STATE_ONLINE    ? "\033[32m"
                     : s->state == DROVER__V1__SERVICE_STATE__SERVICE_STATE_ERRORED ? "\033[31m"
                     : s->state == DROVER__V1__SERVICE_STATE__SERVICE_STATE_STOPPED ? "\033[2m"
                                                                                    : "\033[33m";
        printf("%-4u %-20s %s%-9s%s %-8s %-8s %-8u %-6s %s\n", s->id, s->name, colour,
               state_word(s->state), tty ? "\033[0m" : "", pid, up, s->restarts_total, cpu, mem);
    }
}

/* A ServiceList, the answer of most calls here: JSON or the table. */
static int show_list(struct cli *cli, const ProtobufCMessage *m)
{
    const Drover__V1__ServiceList *list = (const void *)m;

    if (!cli->json) {
        print_table(list->services, list->n_services);
        return 0;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < list->n_services; i++)
        json_array_append_new(a, service_json(list->services[i]));
    cli_print_json(a);
    return 0;
}

/* A stop that left processes running (they escaped the service's tree) says so on stderr. */
static void warn_survivors(const Drover__V1__ServiceList *list)
{
    for (size_t i = 0; i < list->n_services; i++) {
        const Drover__V1__Service *s = list->services[i];
        char pids[512] = "";
        for (size_t k = 0, n = 0; k < s->n_survivors && n < sizeof pids; k++)
            n +=
                (size_t)snprintf(pids + n, sizeof pids - n, "%s%d", k ? ", " : "", s->survivors[k]);
        if (s->survivors_total)
            cli_error("warning: service '%s' stopped, but processes that left its tree still "
                      "run (%u): %s",
                      s->name, s->survivors_total, pids);
    }
}

static int call_list(struct cli *cli, const char *method, const ProtobufCMessage *req)
{
    ProtobufCMessage *list = NULL;
    char path[64];
    snprintf(path, sizeof path, SERVICES "%s", method);
    if (cli_unary(cli, path, req, &drover__v1__service_list__descriptor, &list) < 0)
        return 1;
    show_list(cli, list);
    if (strcmp(method, "Stop") == 0 || strcmp(method, "Restart") == 0 ||
        strcmp(method, "Delete") == 0)
        warn_survivors((const Drover__V1__ServiceList *)list);
    protobuf_c_message_free_unpacked(list, NULL);
    return 0;
}

/* ---- start ---- */

struct start_args {
    Drover__V1__ServiceSpec spec;              /* being filled */
    Drover__V1__EnvVar env[MAX_ENV];           /* --env */
    Drover__V1__EnvVar *penv[MAX_ENV];         /* pointers to them */
    Google__Protobuf__UInt32Value delay, kill; /* --restart-delay, --kill-timeout */
    bool defines;                              /* an option only a definition takes */
};

static const struct cli_option start_opts[] = {
    {"--name", "NAME", "service name (default: the program's base name)"},
    {"--cwd", "DIR", "working directory"},
    {"--env", "K=V", "environment variable (repeatable)"},
    {"--no-autorestart", NULL, "do not restart it when it exits"},
    {"--on-failure", NULL, "restart only after a failure (non-zero exit or signal)"},
    {"--max-restarts", "N", "give up after N consecutive restarts (0: never)"},
    {"--restart-delay", "MS", "first restart delay, doubled each time (default 500)"},
    {"--kill-timeout", "MS", "stop signal, then SIGKILL after MS (default 3000)"},
    {"--stop-signal", "SIG", "TERM (default), INT, QUIT, HUP..."},
    {"--autostart", NULL, "start it whenever droverd starts"},
    {0},
};

static int parse_u32(const char *cmd, const char *opt, const char *v, uint32_t *ret)
{
    if (cli_parse_u32(v, 0, UINT32_MAX, ret) < 0) {
        cli_error("%s: %s wants a number, not '%s'", cmd, opt, v);
        return -1;
    }
    return 0;
}

static int start_option(void *ctx, const struct cli_option *o, const char *v)
{
    struct start_args *a = ctx;
    const char *n = o->name;

    a->defines = true;
    if (!strcmp(n, "--name"))
        a->spec.name = (char *)v;
    else if (!strcmp(n, "--cwd"))
        a->spec.cwd = (char *)v;
    else if (!strcmp(n, "--no-autorestart"))
        a->spec.restart = DROVER__V1__RESTART_POLICY__RESTART_POLICY_NEVER;
    else if (!strcmp(n, "--on-failure"))
        a->spec.restart = DROVER__V1__RESTART_POLICY__RESTART_POLICY_ON_FAILURE;
    else if (!strcmp(n, "--max-restarts"))
        return parse_u32("start", n, v, &a->spec.max_restarts);
    else if (!strcmp(n, "--restart-delay")) {
        a->spec.restart_delay_ms = &a->delay;
        return parse_u32("start", n, v, &a->delay.value);
    } else if (!strcmp(n, "--kill-timeout")) {
        a->spec.kill_timeout_ms = &a->kill;
        return parse_u32("start", n, v, &a->kill.value);
    } else if (!strcmp(n, "--stop-signal"))
        a->spec.stop_signal = (char *)v;
    else if (!strcmp(n, "--autostart"))
        a->spec.autostart = true;
    else {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || a->spec.n_env == MAX_ENV) {
            cli_error("start: --env wants NAME=VALUE, not '%s'", v);
            return -1;
        }
        Drover__V1__EnvVar *e = &a->env[a->spec.n_env];
        drover__v1__env_var__init(e);
        if (!(e->name = strndup(v, (size_t)(eq - v))))
            abort();
        e->value = (char *)eq + 1;
        a->penv[a->spec.n_env++] = e;
    }
    return 0;
}

/* A lone operand naming a .yaml or .yml file that exists: a file of services. */
static bool is_services_file(const char *arg)
{
    size_t n = strlen(arg);
    return ((n > 5 && !strcmp(arg + n - 5, ".yaml")) || (n > 4 && !strcmp(arg + n - 4, ".yml"))) &&
           access(arg, F_OK) == 0;
}

#define SERVICES_FILE_MAX (4u << 20)

/* drover start FILE.yaml: the file's text goes to StartFile, which parses it as droverd parses
 * its own configuration. */
static int start_file(struct cli *cli, const char *path)
{
    Drover__V1__StartFileRequest req = DROVER__V1__START_FILE_REQUEST__INIT;
    _cleanup_free_ char *text = malloc(SERVICES_FILE_MAX + 1), *dir = realpath(path, NULL);
    _cleanup_fclose_ FILE *f = fopen(path, "re");

    if (!text || !dir || !f) {
        cli_error("start: cannot read '%s': %s", path, strerror(errno));
        return 1;
    }
    size_t len = fread(text, 1, SERVICES_FILE_MAX + 1, f);
    if (ferror(f) || len > SERVICES_FILE_MAX || memchr(text, '\0', len)) {
        cli_error("start: '%s' is not a YAML file of at most %u MiB", path,
                  SERVICES_FILE_MAX >> 20);
        return 1;
    }
    text[len] = '\0';
    *strrchr(dir, '/') = '\0';
    req.yaml = text;
    req.name = (char *)path;
    req.dir = *dir ? dir : "/";
    return call_list(cli, "StartFile", &req.base);
}

int cmd_start(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__StartServiceRequest req = DROVER__V1__START_SERVICE_REQUEST__INIT;
    Drover__V1__Service *resp = NULL;
    struct start_args a;
    int r = 1;

    memset(&a, 0, sizeof a);
    drover__v1__service_spec__init(&a.spec);
    google__protobuf__uint32_value__init(&a.delay);
    google__protobuf__uint32_value__init(&a.kill);
    a.spec.env = a.penv;
    int i =
        cli_need_operand(self, cli_parse(cli, self, argc, argv, -1, start_opts, start_option, &a),
                         argc, "the command or the service", NULL);
    if (i < 0) {
        r = cli_exit_code(i);
        goto out;
    }
    if (!a.defines && !*a.spec.name && argc - i == 1 && is_services_file(argv[i])) {
        r = start_file(cli, argv[i]);
        goto out;
    }
    if (!a.defines && argc - i == 1 && !strchr(argv[i], '/')) {
        /* One word and no definition options: an existing service, if there is one. */
        Drover__V1__ServiceTarget t = DROVER__V1__SERVICE_TARGET__INIT;
        Drover__V1__Service *s = NULL;
        struct drover_status st;
        t.target = argv[i];
        if (cli_connect(cli) < 0)
            goto out;
        if (drover_client_unary(cli->client, SERVICES "Get", &t.base,
                                &drover__v1__service__descriptor, (ProtobufCMessage **)&s, &st,
                                10000) == 0 &&
            st.code == 0) {
            protobuf_c_message_free_unpacked(&s->base, NULL);
            req.target = argv[i];
        }
    }
    if (!*req.target) {
        const char *base = strrchr(argv[i], '/');
        if (!*a.spec.name)
            a.spec.name = (char *)(base ? base + 1 : argv[i]);
        a.spec.n_cmd = (size_t)(argc - i);
        a.spec.cmd = argv + i;
        req.spec = &a.spec;
    }
    if (cli_unary(cli, SERVICES "Start", &req.base, &drover__v1__service__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        goto out;
    if (cli->json)
        cli_print_json(service_json(resp));
    else
        printf("started %s (id %u, pid %d)\n", resp->name, resp->id, resp->pid);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    r = 0;
out:
    for (size_t k = 0; k < a.spec.n_env; k++)
        free(a.env[k].name);
    return r;
}

/* ---- stop, restart, delete, flush, describe ---- */

static int targeted(struct cli *cli, const struct cli_command *self, int argc, char **argv,
                    const char *method, bool optional)
{
    Drover__V1__ServiceTarget t = DROVER__V1__SERVICE_TARGET__INIT;
    int i = cli_parse_common(cli, self, argc, argv, 1);

    if (!optional)
        i = cli_need_operand(self, i, argc, "the service", "a name, an id, or all");
    if (i < 0)
        return cli_exit_code(i);
    t.target = i < argc ? argv[i] : "all";
    cli->deadline_ms = 120000; /* stops wait for kill timeouts */
    return call_list(cli, method, &t.base);
}

int cmd_stop(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return targeted(cli, self, argc, argv, "Stop", false);
}

int cmd_restart(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return targeted(cli, self, argc, argv, "Restart", false);
}

int cmd_delete(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return targeted(cli, self, argc, argv, "Delete", false);
}

int cmd_flush(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return targeted(cli, self, argc, argv, "Flush", true);
}

const struct cli_simple cli_ls = {SERVICES "List", &drover__v1__list_services_request__descriptor,
                                  &drover__v1__service_list__descriptor, show_list};

int cmd_describe(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__ServiceTarget t = DROVER__V1__SERVICE_TARGET__INIT;
    Drover__V1__Service *s = NULL;
    int i = cli_need_operand(self, cli_parse_common(cli, self, argc, argv, 1), argc, "the service",
                             "a name or an id");

    if (i < 0)
        return cli_exit_code(i);
    t.target = argv[i];
    if (cli_unary(cli, SERVICES "Get", &t.base, &drover__v1__service__descriptor,
                  (ProtobufCMessage **)&s) < 0)
        return 1;
    if (cli->json) {
        cli_print_json(service_json(s));
    } else {
        const Drover__V1__ServiceSpec *sp = s->spec;
        char up[32] = "-", mem[32] = "-";
        cli_format_duration((uint64_t)s->uptime_seconds, up, sizeof up);
        cli_format_bytes(s->rss_bytes, mem, sizeof mem);
        printf("%s (id %u): %s\n", s->name, s->id, state_word(s->state));
        printf("  command:      ");
        for (size_t k = 0; sp && k < sp->n_cmd; k++)
            printf("%s%s", k ? " " : "", sp->cmd[k]);
        printf("\n  cwd:          %s\n", sp && *sp->cwd ? sp->cwd : "(droverd's)");
        if (s->pid)
            printf("  pid:          %d, up %s, %u process%s, %s resident, %.2f s CPU\n", s->pid, up,
                   s->processes, s->processes == 1 ? "" : "es", mem, s->cpu_seconds);
        printf("  restarts:     %u in a row, %u in all\n", s->restarts, s->restarts_total);
        if (s->last_exit == INT32_MIN) /* droverd adopted it after a restart: status unknown */
            printf("  last exit:    unknown%s%s\n", *s->last_error ? "; last error: " : "",
                   s->last_error);
        else
            printf("  last exit:    %d%s%s\n", s->last_exit, *s->last_error ? "; last error: " : "",
                   s->last_error);
        printf("  logs:         %s\n                %s\n", s->stdout_log, s->stderr_log);
        for (size_t k = 0; sp && k < sp->n_depends_on; k++)
            printf("%s%s", k ? ", " : "  depends on:   ", sp->depends_on[k]);
        if (sp && sp->n_depends_on)
            printf("\n");
        for (size_t k = 0; sp && k < sp->n_probes; k++) {
            const Drover__V1__Probe *p = sp->probes[k];
            char target[512];
            probe_target(p, target, sizeof target);
            printf("  %s %s %s every %u ms, %u failure%s restart%s%s%s\n",
                   k ? "             " : "probes:     ", probe_kind_word(p->kind), target,
                   p->interval_ms, p->failure_threshold, p->failure_threshold == 1 ? "" : "s",
                   p->failure_threshold == 1 ? "s" : "", *p->name ? " — " : "", p->name);
        }
        if (sp && sp->n_probes)
            printf("  health:       %s\n", !s->pid ? "-" : s->healthy ? "healthy" : "not healthy");
    }
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return 0;
}

/* ---- save, resurrect ---- */

static int show_saved(struct cli *cli, const ProtobufCMessage *m)
{
    const Drover__V1__SaveServicesResponse *resp = (const void *)m;

    if (cli->json)
        cli_print_json(json_pack("{s:s, s:i}", "path", resp->path, "count", (int)resp->count));
    else
        printf("saved %u service%s to %s\n", resp->count, resp->count == 1 ? "" : "s", resp->path);
    return 0;
}

const struct cli_simple cli_save = {SERVICES "Save", &drover__v1__save_services_request__descriptor,
                                    &drover__v1__save_services_response__descriptor, show_saved};

const struct cli_simple cli_resurrect = {SERVICES "Resurrect",
                                         &drover__v1__resurrect_services_request__descriptor,
                                         &drover__v1__service_list__descriptor, show_list};

/* ---- logs ---- */

struct logs_args {
    uint32_t lines; /* -n */
    bool follow;    /* -f */
    bool failed;    /* a bad value */
};

static const struct cli_option logs_opts[] = {
    {"-n", "N", "lines of each stream from the end (default 100)"},
    {"--lines", "N", "the same"},
    {"-f", NULL, "then follow new output until interrupted"},
    {"--follow", NULL, "the same"},
    {0},
};

static int logs_option(void *ctx, const struct cli_option *o, const char *v)
{
    struct logs_args *a = ctx;
    if (o->arg)
        return parse_u32("logs", o->name, v, &a->lines);
    a->follow = true;
    return 0;
}

/* A Logs call that goes on from where it was when droverd goes away for a moment. */
struct logs_run {
    uint64_t next[2];            /* per stream, the file offset after the last byte printed */
    bool seen[2];                /* a chunk of the stream came: next is known */
    struct drover_resume resume; /* reconnecting */
    struct drover_status st;     /* how the last call ended */
};

static void on_chunk(struct drover_call *call, const ProtobufCMessage *msg, void *userdata)
{
    const Drover__V1__LogChunk *c = (const void *)msg;
    struct logs_run *l = userdata;
    int i = c->stream == DROVER__V1__LOG_CHUNK__STREAM__STREAM_STDERR;
    FILE *f = i ? stderr : stdout;
    (void)call;

    if (c->data.len) /* (the first chunk may be empty: it says where the stream starts) */
        fwrite(c->data.data, 1, c->data.len, f);
    fflush(f);
    l->next[i] = c->offset + c->data.len;
    l->seen[i] = true;
    drover_resume_answered(&l->resume);
}

/* One Logs call, from where each stream got to if it got anywhere; its status in l->st.
 * Returns -1 when the connection failed before the call could end. */
static int logs_call(struct cli *cli, Drover__V1__LogsRequest *req, struct logs_run *l)
{
    Google__Protobuf__UInt64Value from[2] = {GOOGLE__PROTOBUF__UINT64_VALUE__INIT,
                                             GOOGLE__PROTOBUF__UINT64_VALUE__INIT};
    for (int i = 0; i < 2; i++)
        from[i].value = l->next[i];
    req->stdout_from = l->seen[0] ? &from[0] : NULL;
    req->stderr_from = l->seen[1] ? &from[1] : NULL;
    struct drover_call *call = drover_call_start(
        cli->client, SERVICES "Logs", &drover__v1__log_chunk__descriptor, on_chunk, NULL, l, 0);
    int r = call && drover_call_send(call, &req->base) >= 0 && drover_call_close_send(call) >= 0 &&
                    drover_client_wait(cli->client, call) >= 0
                ? 0
                : -1;
    if (r == 0)
        l->st = *drover_call_status(call);
    drover_call_free(call);
    return r;
}

int cmd_logs(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__LogsRequest req = DROVER__V1__LOGS_REQUEST__INIT;
    struct logs_args a = {0};
    struct logs_run l = {0};
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, 1, logs_opts, logs_option, &a),
                             argc, "the service", "a name or an id");

    if (i < 0)
        return cli_exit_code(i);
    req.target = argv[i];
    req.lines = a.lines;
    req.follow = a.follow;
    if (cli_connect(cli) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    /* droverd upgrading in place (or restarting) ends the call: go on from the offsets printed. */
    int r;
    while ((r = logs_call(cli, &req, &l)) == 0 && drover_resume_wanted(&l.resume, &l.st) &&
           drover_resume_connect(&l.resume, &cli->target, &cli->client) == 0)
        ;
    if (r < 0) {
        cli_error("logs: the connection to droverd at %s failed", cli->socket_path);
        return 1;
    }
    if (l.st.code != 0)
        cli_error("Logs: %s%s%s", grpc_status_name(l.st.code), l.st.message[0] ? ": " : "",
                  l.st.message);
    return l.st.code == 0 ? 0 : 1;
}
