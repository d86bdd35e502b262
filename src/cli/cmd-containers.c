/* drover container run, create, start, stop, rm, ls, inspect, logs, exec, attach, stats, wait:
 * containers from OCI images (drover.v1.Containers), with podman's and docker's option names.
 * A container is named by its id, a prefix of it, or its name. `run` without -d stays with the
 * container: with -t attached to its terminal (Ctrl-\ detaches), else printing its output until
 * it exits, and exits with its code (128 + the signal that killed it). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/macro.h"
#include "cli/cli.h"
#include "drover/v1/containers.pb-c.h"
#include "grpc/wire.h"

#define CONTAINERS "/drover.v1.Containers/"

/* ---- sizes and lists ---- */

/* "512m", "1g", "100000": bytes (k, m, g: powers of 1024). */
static int parse_size(const char *cmd, const char *opt, const char *v, uint64_t *ret)
{
    char *end;
    double x = strtod(v, &end);
    uint64_t mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'm': case 'M': mul = 1ull << 20; end++; break;
    case 'g': case 'G': mul = 1ull << 30; end++; break;
    default: break;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (end == v || *end || x < 0 || x * (double)mul > 1e18) {
        cli_error("%s: %s wants a size (512m, 1g, bytes), not '%s'", cmd, opt, v);
        return -1;
    }
    *ret = (uint64_t)(x * (double)mul);
    return 0;
}

static void push(char ***v, size_t *n, const char *s)
{
    if (!(*v = realloc(*v, (*n + 1) * sizeof **v)))
        abort();
    (*v)[(*n)++] = (char *)s;
}

/* ---- create and run ---- */

struct spec_args {
    Drover__V1__ContainerSpec spec;
    Drover__V1__ContainerResources res;
    struct cli_map labels;
    Drover__V1__Mount *mounts; /* storage behind spec.mounts */
    bool detach, interactive;
    const char *cmd;           /* "container run" or "container create" */
};

static const struct cli_option spec_opts[] = {
    {"--name", "NAME", "the container's name (default: its id)"},
    {"-e", "K=V", "environment over the image's (repeatable)"},
    {"--env", "K=V", "the same"},
    {"-m", "SIZE", "memory limit (512m, 1g): the OOM killer acts past it"},
    {"--memory", "SIZE", "the same"},
    {"--memory-swap", "SIZE", "memory + swap limit (default: no swap)"},
    {"--cpus", "N", "CPU limit (1.5: one and a half CPUs)"},
    {"--cpu-shares", "N", "relative CPU weight"},
    {"--pids", "N", "processes and threads at most"},
    {"--pids-limit", "N", "the same"},
    {"--read-only", NULL, "a read-only root (with a tmpfs on /tmp)"},
    {"--network", "MODE", "none (only lo; the default) or host"},
    {"-v", "SRC:DST[:ro]", "a bind mount (SRC absolute) or a named volume (repeatable)"},
    {"--volume", "SRC:DST[:ro]", "the same"},
    {"--tmpfs", "PATH", "a tmpfs there (repeatable)"},
    {"-t", NULL, "a terminal (the container is a session: attach, detach)"},
    {"--tty", NULL, "the same"},
    {"-i", NULL, "(with -t: accepted for docker's -it)"},
    {"-w", "DIR", "working directory (default: the image's)"},
    {"--workdir", "DIR", "the same"},
    {"-u", "USER", "uid[:gid] or a name in the image"},
    {"--user", "USER", "the same"},
    {"--hostname", "NAME", "host name (default: the container's name)"},
    {"--cap-add", "CAP", "a capability to add (repeatable; ALL)"},
    {"--cap-drop", "CAP", "a capability to drop from the default set (repeatable; ALL)"},
    {"--entrypoint", "PROG", "the program to run instead of the image's entrypoint"},
    {"--rm", NULL, "remove the container once it exits"},
    {"--stop-signal", "SIG", "the signal stop sends (default: the image's, else SIGTERM)"},
    {"--stop-timeout", "S", "seconds before stop sends SIGKILL (default 10)"},
    {"--label", "K=V", "a label (repeatable)"},
    {"--no-seccomp", NULL, "no system call filter"},
    {"--new-privileges", NULL, "allow setuid programs to gain privileges"},
    {"-d", NULL, "run: do not wait; print the id"},
    {"--detach", NULL, "the same"},
    {0},
};

static int spec_option(void *ctx, const struct cli_option *o, const char *v)
{
    struct spec_args *a = ctx;
    Drover__V1__ContainerSpec *s = &a->spec;
    const char *n = o->name;
    uint32_t u;

    if (!strcmp(n, "--name"))
        s->name = (char *)v;
    else if (!strcmp(n, "-e") || !strcmp(n, "--env"))
        push(&s->env, &s->n_env, v);
    else if (!strcmp(n, "-m") || !strcmp(n, "--memory"))
        return parse_size(a->cmd, n, v, &a->res.memory_bytes);
    else if (!strcmp(n, "--memory-swap"))
        return parse_size(a->cmd, n, v, &a->res.memory_swap_bytes);
    else if (!strcmp(n, "--cpus")) {
        char *end;
        a->res.cpus = strtod(v, &end);
        if (end == v || *end || a->res.cpus <= 0) {
            cli_error("%s: --cpus wants a positive number, not '%s'", a->cmd, v);
            return -1;
        }
    } else if (!strcmp(n, "--cpu-shares") || !strcmp(n, "--pids") || !strcmp(n, "--pids-limit") ||
               !strcmp(n, "--stop-timeout")) {
        if (cli_parse_u32(v, 1, UINT32_MAX / 1000, &u) < 0) {
            cli_error("%s: %s wants a positive number, not '%s'", a->cmd, n, v);
            return -1;
        }
        if (!strcmp(n, "--cpu-shares"))
            a->res.cpu_shares = u;
        else if (!strcmp(n, "--stop-timeout"))
            s->stop_timeout_ms = u * 1000;
        else
            a->res.pids = u;
    } else if (!strcmp(n, "--read-only"))
        s->read_only = true;
    else if (!strcmp(n, "--network"))
        s->network = (char *)v;
    else if (!strcmp(n, "-v") || !strcmp(n, "--volume") || !strcmp(n, "--tmpfs")) {
        if (!(a->mounts = realloc(a->mounts, (s->n_mounts + 1) * sizeof *a->mounts)))
            abort();
        Drover__V1__Mount *m = &a->mounts[s->n_mounts++];
        drover__v1__mount__init(m);
        if (!strcmp(n, "--tmpfs")) {
            m->type = DROVER__V1__MOUNT_TYPE__MOUNT_TYPE_TMPFS;
            m->destination = (char *)v;
            return 0;
        }
        char *c1 = strdup(v), *c2 = c1 ? strchr(c1, ':') : NULL;
        char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
        if (!c2 || c2 == c1 || !c2[1] || (c3 && strcmp(c3, ":ro") && strcmp(c3, ":rw"))) {
            cli_error("%s: %s wants SRC:DST[:ro], not '%s'", a->cmd, n, v);
            free(c1);
            return -1;
        }
        *c2 = '\0';
        if (c3)
            *c3 = '\0';
        m->source = c1; /* freed with the process */
        m->destination = c2 + 1;
        m->read_only = c3 && !strcmp(c3 + 1, "ro");
        m->type = c1[0] == '/' ? DROVER__V1__MOUNT_TYPE__MOUNT_TYPE_BIND
                               : DROVER__V1__MOUNT_TYPE__MOUNT_TYPE_VOLUME;
    } else if (!strcmp(n, "-t") || !strcmp(n, "--tty"))
        s->tty = true;
    else if (!strcmp(n, "-i"))
        a->interactive = true;
    else if (!strcmp(n, "-w") || !strcmp(n, "--workdir"))
        s->cwd = (char *)v;
    else if (!strcmp(n, "-u") || !strcmp(n, "--user"))
        s->user = (char *)v;
    else if (!strcmp(n, "--hostname"))
        s->hostname = (char *)v;
    else if (!strcmp(n, "--cap-add"))
        push(&s->cap_add, &s->n_cap_add, v);
    else if (!strcmp(n, "--cap-drop"))
        push(&s->cap_drop, &s->n_cap_drop, v);
    else if (!strcmp(n, "--entrypoint")) {
        s->entrypoint_set = true;
        if (*v)
            push(&s->entrypoint, &s->n_entrypoint, v);
    } else if (!strcmp(n, "--rm"))
        s->auto_remove = true;
    else if (!strcmp(n, "--stop-signal"))
        s->stop_signal = (char *)v;
    else if (!strcmp(n, "--label"))
        return cli_map_add(&a->labels, a->cmd, n, v);
    else if (!strcmp(n, "--no-seccomp"))
        s->no_seccomp = true;
    else if (!strcmp(n, "--new-privileges"))
        s->new_privileges = true;
    else
        a->detach = true;
    return 0;
}

static void spec_args_free(struct spec_args *a)
{
    free(a->spec.env);
    free(a->spec.cap_add);
    free(a->spec.cap_drop);
    free(a->spec.entrypoint);
    free(a->spec.mounts);
    free(a->mounts);
    cli_map_free(&a->labels);
}

static Drover__V1__Container *get(struct cli *cli, const char *ref)
{
    Drover__V1__ContainerRef q = DROVER__V1__CONTAINER_REF__INIT;
    Drover__V1__Container *c = NULL;
    q.container = (char *)ref;
    if (cli_unary(cli, CONTAINERS "Get", &q.base, &drover__v1__container__descriptor,
                  (ProtobufCMessage **)&c) < 0)
        return NULL;
    return c;
}

/* ---- logs ---- */

struct logs_run {
    bool exited;
    int code; /* with exited: the container's exit code (128 + signal) */
    uint64_t next;
    struct drover_status st;
};

static void on_chunk(struct drover_call *call, const ProtobufCMessage *msg, void *userdata)
{
    const Drover__V1__ContainerLogChunk *c = (const void *)msg;
    struct logs_run *l = userdata;
    (void)call;
    if (c->data.len && cli_write_all(STDOUT_FILENO, c->data.data, c->data.len) < 0)
        exit(1);
    l->next = c->offset + c->data.len;
    if (c->exited) {
        l->exited = true;
        l->code = c->exit_signal ? 128 + c->exit_signal : c->exit_code;
    }
}

/* Streams a container's log; 0 when the call ended OK (*ret_code: its exit code if it exited,
 * else -1). */
static int stream_logs(struct cli *cli, const char *ref, uint64_t tail, bool follow, int *ret_code)
{
    Drover__V1__ContainerLogsRequest q = DROVER__V1__CONTAINER_LOGS_REQUEST__INIT;
    struct logs_run l = {0};
    q.container = (char *)ref;
    q.tail_bytes = tail;
    q.follow = follow;
    if (cli_connect(cli) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    struct drover_call *call =
        drover_call_start(cli->client, CONTAINERS "Logs",
                          &drover__v1__container_log_chunk__descriptor, on_chunk, NULL, &l, 0);
    int r = call && drover_call_send(call, &q.base) >= 0 && drover_call_close_send(call) >= 0 &&
                    drover_client_wait(cli->client, call) >= 0
                ? 0
                : -1;
    if (r == 0)
        l.st = *drover_call_status(call);
    drover_call_free(call);
    if (r < 0)
        cli_error("logs: the connection to droverd at %s failed", cli->socket_path);
    else if (l.st.code != 0)
        cli_error("Logs: %s%s%s", grpc_status_name(l.st.code), l.st.message[0] ? ": " : "",
                  l.st.message);
    if (ret_code)
        *ret_code = l.exited ? l.code : -1;
    return r < 0 || l.st.code != 0 ? -1 : 0;
}

static int exit_code_of(const Drover__V1__Container *c)
{
    return c->exit_signal ? 128 + c->exit_signal : c->exit_code;
}

static int remove_one(struct cli *cli, const char *ref, bool force)
{
    Drover__V1__RemoveContainerRequest q = DROVER__V1__REMOVE_CONTAINER_REQUEST__INIT;
    Drover__V1__RemoveContainerResponse *resp = NULL;
    q.container = (char *)ref;
    q.force = force;
    cli->deadline_ms = 60000;
    if (cli_unary(cli, CONTAINERS "Remove", &q.base,
                  &drover__v1__remove_container_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return -1;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

/* run without -d: with the container until it exits (or the terminal detaches). The code is
 * what the end of its stream says (the container may be gone at once with --rm). */
static int stay(struct cli *cli, const struct cli_command *self, Drover__V1__Container *c,
                bool auto_remove)
{
    char id[64];
    int code = -1;
    snprintf(id, sizeof id, "%s", c->id);
    if (c->spec && c->spec->tty && *c->session_id) {
        char *args[] = {"attach", c->session_id, NULL};
        code = cmd_attach(cli, self, 2, args);
    } else if (stream_logs(cli, id, 0, true, &code) < 0)
        return 1;
    Drover__V1__ContainerRef q = DROVER__V1__CONTAINER_REF__INIT;
    Drover__V1__Container *now = NULL;
    struct drover_status st;
    q.container = id;
    if (drover_client_unary(cli->client, CONTAINERS "Get", &q.base,
                            &drover__v1__container__descriptor, (ProtobufCMessage **)&now, &st,
                            10000) < 0)
        return 1;
    if (!now) /* gone: --rm took it */
        return auto_remove && code >= 0 ? code : 1;
    bool exited = now->state == DROVER__V1__CONTAINER_STATE__CONTAINER_STATE_EXITED;
    if (exited)
        code = exit_code_of(now);
    else if (!cli->json)
        fprintf(stderr, "drover: container %s goes on running (drover container attach %s)\n",
                id, id);
    protobuf_c_message_free_unpacked(&now->base, NULL);
    return exited ? code : 0;
}

static int create_or_run(struct cli *cli, const struct cli_command *self, int argc, char **argv,
                         bool run)
{
    struct spec_args a = {.cmd = self->name,
                          .labels.entry = &drover__v1__container_spec__labels_entry__descriptor};
    Drover__V1__CreateContainerRequest q = DROVER__V1__CREATE_CONTAINER_REQUEST__INIT;
    Drover__V1__Container *c = NULL;
    int r = 1;

    drover__v1__container_spec__init(&a.spec);
    drover__v1__container_resources__init(&a.res);
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, -1, spec_opts, spec_option, &a),
                             argc, "the IMAGE", NULL);
    if (i < 0) {
        spec_args_free(&a);
        return cli_exit_code(i);
    }
    a.spec.image = argv[i];
    a.spec.command = argv + i + 1;
    a.spec.n_command = (size_t)(argc - i - 1);
    a.spec.resources = &a.res;
    a.spec.labels = (Drover__V1__ContainerSpec__LabelsEntry **)a.labels.v;
    a.spec.n_labels = a.labels.n;
    if (a.spec.n_mounts && !(a.spec.mounts = calloc(a.spec.n_mounts, sizeof *a.spec.mounts)))
        abort();
    for (size_t k = 0; k < a.spec.n_mounts; k++)
        a.spec.mounts[k] = &a.mounts[k];
    if (a.spec.tty && isatty(STDIN_FILENO)) {
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
            a.spec.rows = ws.ws_row;
            a.spec.cols = ws.ws_col;
        }
    }
    q.spec = &a.spec;
    q.start = run;
    cli->deadline_ms = 120000; /* the answer waits for the runtime */
    if (cli_unary(cli, CONTAINERS "Create", &q.base, &drover__v1__container__descriptor,
                  (ProtobufCMessage **)&c) < 0)
        goto out;
    if (cli->json && (!run || a.detach))
        cli_print_pb(&c->base, false);
    else if (!run || a.detach)
        printf("%s\n", c->id);
    r = !run || a.detach ? 0 : stay(cli, self, c, a.spec.auto_remove);
    protobuf_c_message_free_unpacked(&c->base, NULL);
out:
    spec_args_free(&a);
    return r;
}

static int ctr_run(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return create_or_run(cli, self, argc, argv, true);
}

static int ctr_create(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return create_or_run(cli, self, argc, argv, false);
}

/* ---- the rest ---- */

static int one_ref(struct cli *cli, const struct cli_command *self, int argc, char **argv,
                   const struct cli_option *opts, void *ctx,
                   int (*on_option)(void *, const struct cli_option *, const char *))
{
    static const struct cli_option none[] = {{0}};
    return cli_need_operand(self,
                            cli_parse(cli, self, argc, argv, 1, opts ? opts : none,
                                      on_option ? on_option : cli_option_flag, ctx),
                            argc, "the CONTAINER", "an id, a prefix of one, or a name");
}

static int show_container(struct cli *cli, Drover__V1__Container *c)
{
    if (!c)
        return 1;
    cli_show_pb(cli, &c->base);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    return 0;
}

static int ctr_inspect(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    int i = one_ref(cli, self, argc, argv, NULL, NULL, NULL);
    return i < 0 ? cli_exit_code(i) : show_container(cli, get(cli, argv[i]));
}

static int ref_call(struct cli *cli, const char *method, const char *ref, bool quiet)
{
    Drover__V1__ContainerRef q = DROVER__V1__CONTAINER_REF__INIT;
    Drover__V1__Container *c = NULL;
    q.container = (char *)ref;
    cli->deadline_ms = 86400000; /* Wait waits as long as the container runs */
    if (cli_unary(cli, method, &q.base, &drover__v1__container__descriptor,
                  (ProtobufCMessage **)&c) < 0)
        return -1;
    int code = exit_code_of(c);
    if (cli->json)
        cli_print_pb(&c->base, false);
    else if (!quiet)
        printf("%s\n", c->id);
    else
        printf("%d\n", code);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    return code;
}

static int ctr_start(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    int i = one_ref(cli, self, argc, argv, NULL, NULL, NULL);
    return i < 0 ? cli_exit_code(i) : ref_call(cli, CONTAINERS "Start", argv[i], false) < 0;
}

static int ctr_wait(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    int i = one_ref(cli, self, argc, argv, NULL, NULL, NULL);
    return i < 0 ? cli_exit_code(i) : ref_call(cli, CONTAINERS "Wait", argv[i], true) < 0;
}

struct stop_args {
    const char *signal, *time;
    bool force;
};

static int stop_option(void *ctx, const struct cli_option *o, const char *v)
{
    struct stop_args *a = ctx;
    if (!strcmp(o->name, "--signal") || !strcmp(o->name, "-s"))
        a->signal = v;
    else if (!strcmp(o->name, "-t") || !strcmp(o->name, "--time"))
        a->time = v;
    else
        a->force = true;
    return 0;
}

static int ctr_stop(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"-s", "SIG", "the signal to send first (default: its stop signal)"},
        {"--signal", "SIG", "the same"},
        {"-t", "S", "seconds before SIGKILL (default: its stop timeout; 0: SIGKILL now)"},
        {"--time", "S", "the same"},
        {0},
    };
    struct stop_args a = {0};
    Drover__V1__StopContainerRequest q = DROVER__V1__STOP_CONTAINER_REQUEST__INIT;
    Drover__V1__Container *c = NULL;
    uint32_t s = 0;
    int i = one_ref(cli, self, argc, argv, opts, &a, stop_option);
    if (i < 0)
        return cli_exit_code(i);
    if (a.time && cli_parse_u32(a.time, 0, 86400, &s) < 0) {
        cli_error("container stop: -t wants seconds, not '%s'", a.time);
        return EXIT_USAGE;
    }
    q.container = argv[i];
    q.signal = (char *)(a.signal ? a.signal : "");
    q.timeout_ms = a.time ? (s ? (int32_t)(s * 1000) : -1) : 0;
    cli->deadline_ms = 86400000; /* the answer comes once it exited */
    if (cli_unary(cli, CONTAINERS "Stop", &q.base, &drover__v1__container__descriptor,
                  (ProtobufCMessage **)&c) < 0)
        return 1;
    if (cli->json)
        cli_print_pb(&c->base, false);
    else
        printf("%s\n", c->id);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    return 0;
}

static int ctr_rm(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"-f", NULL, "a running one too (SIGKILL)"}, {"--force", NULL, "the same"}, {0}};
    bool force = false;
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, 64, opts, cli_option_flag,
                                             &force),
                             argc, "the CONTAINER", "an id, a prefix of one, or a name");
    int r = i < 0 ? cli_exit_code(i) : 0;
    for (; i >= 0 && i < argc; i++) {
        if (remove_one(cli, argv[i], force) < 0)
            r = 1;
        else if (!cli->json)
            printf("%s\n", argv[i]);
    }
    return r;
}

struct logs_args {
    bool follow;
    const char *tail;
};

static int logs_option(void *ctx, const struct cli_option *o, const char *v)
{
    struct logs_args *a = ctx;
    if (o->arg)
        a->tail = v;
    else
        a->follow = true;
    return 0;
}

static int ctr_logs(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"-f", NULL, "then what it writes, until it exits"},
        {"--follow", NULL, "the same"},
        {"--tail-bytes", "N", "only its last N bytes"},
        {0},
    };
    struct logs_args a = {0};
    uint64_t tail = 0;
    int i = one_ref(cli, self, argc, argv, opts, &a, logs_option);
    if (i < 0)
        return cli_exit_code(i);
    if (a.tail && parse_size("container logs", "--tail-bytes", a.tail, &tail) < 0)
        return EXIT_USAGE;
    return stream_logs(cli, argv[i], tail, a.follow, NULL) < 0;
}

#define ROW "%-12s  %-20.20s %-20.20s %-9s %-7s %-10s %s\n"

static int ctr_ls(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"-a", NULL, "exited ones too"}, {"--all", NULL, "the same"}, {0}};
    Drover__V1__ListContainersRequest q = DROVER__V1__LIST_CONTAINERS_REQUEST__INIT;
    Drover__V1__ListContainersResponse *resp = NULL;
    bool all = false;
    int i = cli_parse(cli, self, argc, argv, 0, opts, cli_option_flag, &all);
    if (i < 0)
        return cli_exit_code(i);
    q.all = all;
    if (cli_unary(cli, CONTAINERS "List", &q.base, &drover__v1__list_containers_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (cli->json) {
        json_t *a = json_array();
        for (size_t k = 0; k < resp->n_containers; k++)
            json_array_append_new(a, cli_pb_json(&resp->containers[k]->base));
        cli_print_json(a);
    } else {
        printf(ROW, "ID", "NAME", "IMAGE", "STATE", "PID", "AGE", "STATUS");
        for (size_t k = 0; k < resp->n_containers; k++) {
            const Drover__V1__Container *c = resp->containers[k];
            char w[32], pid[16] = "-", age[32], status[64] = "";
            if (c->pid)
                snprintf(pid, sizeof pid, "%d", c->pid);
            cli_format_duration(cli_ts_age(c->created_at), age, sizeof age);
            if (c->state == DROVER__V1__CONTAINER_STATE__CONTAINER_STATE_EXITED)
                snprintf(status, sizeof status, "%s%s%s",
                         !c->exit_known ? "exit unknown"
                         : c->exit_signal ? "killed by signal"
                                          : "exited",
                         c->oom_killed ? " (OOM)" : "", "");
            if (c->state == DROVER__V1__CONTAINER_STATE__CONTAINER_STATE_EXITED && c->exit_known)
                snprintf(status + strlen(status), sizeof status - strlen(status), " %d",
                         c->exit_signal ? c->exit_signal : c->exit_code);
            printf(ROW, c->id, c->name, c->image,
                   cli_enum_word(&drover__v1__container_state__descriptor, (int)c->state, w,
                                 sizeof w),
                   pid, age, status);
        }
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int ctr_stats(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__ContainerRef q = DROVER__V1__CONTAINER_REF__INIT;
    Drover__V1__ContainerStats *s = NULL;
    int i = one_ref(cli, self, argc, argv, NULL, NULL, NULL);
    if (i < 0)
        return cli_exit_code(i);
    q.container = argv[i];
    if (cli_unary(cli, CONTAINERS "Stats", &q.base, &drover__v1__container_stats__descriptor,
                  (ProtobufCMessage **)&s) < 0)
        return 1;
    cli_show_pb(cli, &s->base);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return 0;
}

/* Attaches to the session an Exec or Attach answered with; the command's exit code. */
static int attach_answer(struct cli *cli, const struct cli_command *self, const char *method,
                         const ProtobufCMessage *q)
{
    Drover__V1__ExecContainerResponse *resp = NULL;
    if (cli_unary(cli, method, q, &drover__v1__exec_container_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    char *args[] = {"attach", resp->session_id, NULL};
    int code = cmd_attach(cli, self, 2, args);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return code;
}

struct exec_args {
    Drover__V1__ExecContainerRequest req;
};

static int exec_option(void *ctx, const struct cli_option *o, const char *v)
{
    Drover__V1__ExecContainerRequest *q = &((struct exec_args *)ctx)->req;
    if (o->arg)
        push(&q->env, &q->n_env, v);
    else if (strcmp(o->name, "-i"))
        q->tty = true;
    return 0;
}

static int ctr_exec(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"-t", NULL, "on a terminal"}, {"--tty", NULL, "the same"},
        {"-i", NULL, "(accepted for docker's -it)"},
        {"-e", "K=V", "environment (repeatable)"}, {"--env", "K=V", "the same"}, {0}};
    struct exec_args a = {0};
    drover__v1__exec_container_request__init(&a.req);
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, -1, opts, exec_option, &a),
                             argc, "the CONTAINER", NULL);
    if (i >= 0 && i + 1 >= argc) {
        cli_error("container exec: no command to run");
        i = CLI_USAGE;
    }
    if (i < 0) {
        free(a.req.env);
        return cli_exit_code(i);
    }
    a.req.container = argv[i];
    a.req.command = argv + i + 1;
    a.req.n_command = (size_t)(argc - i - 1);
    struct winsize ws;
    if (a.req.tty && isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
        a.req.rows = ws.ws_row;
        a.req.cols = ws.ws_col;
    }
    int code = attach_answer(cli, self, CONTAINERS "Exec", &a.req.base);
    free(a.req.env);
    return code;
}

static int ctr_attach(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Drover__V1__ContainerRef q = DROVER__V1__CONTAINER_REF__INIT;
    int i = one_ref(cli, self, argc, argv, NULL, NULL, NULL);
    if (i < 0)
        return cli_exit_code(i);
    q.container = argv[i];
    return attach_answer(cli, self, CONTAINERS "Attach", &q.base);
}

static const struct cli_command container_cmds[] = {
    {"container run", ctr_run, "[OPTION]... IMAGE [CMD [ARG]...]",
     "Create and start a container; without -d stay with it until it exits."},
    {"container create", ctr_create, "[OPTION]... IMAGE [CMD [ARG]...]",
     "Create a container, not started."},
    {"container start", ctr_start, "CONTAINER", "Start a created or exited container."},
    {"container stop", ctr_stop, "[-s SIG] [-t S] CONTAINER",
     "Stop signal, then SIGKILL after the timeout; waits until it exited."},
    {"container rm", ctr_rm, "[-f] CONTAINER...", "Remove containers (-f: running ones too)."},
    {"container ls", ctr_ls, "[-a]", "List containers (-a: exited ones too)."},
    {"container inspect", ctr_inspect, "CONTAINER", "Show everything about a container."},
    {"container logs", ctr_logs, "[-f] [--tail-bytes N] CONTAINER", "Print a container's output."},
    {"container exec", ctr_exec, "[-t] [-e K=V]... CONTAINER CMD [ARG]...",
     "Run a command inside a running container."},
    {"container attach", ctr_attach, "CONTAINER",
     "Attach to a container's terminal (Ctrl-\\ detaches)."},
    {"container stats", ctr_stats, "CONTAINER", "Memory, CPU and processes from its cgroup."},
    {"container wait", ctr_wait, "CONTAINER", "Wait until it exits; print its exit code."},
};

int cmd_container(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return cli_subcommand(cli, self, container_cmds, ARRAY_SIZE(container_cmds), argc, argv);
}
