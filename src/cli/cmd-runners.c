/* drover runner create, ls, get, stop, restart, rm, pause, resume, attach, events, and drover
 * transcript, over stratavore.v1's RunnerService and SessionService; with cmd-projects.c, the
 * helpers they share. A runner or session is named by its id or its start (ls shows 8
 * characters). `runner attach` is drover attach (cmd-attach.c) of the runner's session.
 * `runner events` without -f replays what droverd keeps and exits: droverd answers an unkept
 * since_sequence with OUT_OF_RANGE naming the kept range "events A to B", so one call asks for
 * one past any, then the replay stops at B, the newest event when it began, and takes every
 * event (filtered here) so that B comes whatever the filters. -f resumes across upgrades. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"
#include "cli/cli.h"
#include "grpc/wire.h"
#include "stratavore/v1/stratavore.pb-c.h"

#define RUNNERS "/stratavore.v1.RunnerService/"
#define SV_SESS "/stratavore.v1.SessionService/"
#define ID_MAX  64
#define RUNNER_STATUS(r, buf)                                                                      \
    cli_enum_word(&stratavore__v1__runner_status__descriptor, (r)->status, buf, sizeof buf)

/* ---- helpers cli.h declares (with those of cmd-projects.c) ---- */

int cli_list(struct cli *cli, const char *path, ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp, const char *items,
             void (*fn)(void *ctx, const ProtobufCMessage *item), void *ctx)
{
    const ProtobufCFieldDescriptor *it =
        protobuf_c_message_descriptor_get_field_by_name(resp, items);
    const ProtobufCFieldDescriptor *more =
        protobuf_c_message_descriptor_get_field_by_name(resp, "has_more");
    char *q = (char *)req;
    int32_t *offset =
        (int32_t *)(q + protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "offset")
                            ->offset);

    *(int32_t *)(q + protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "limit")
                         ->offset) = 1000;
    for (bool go = true; go;) {
        ProtobufCMessage *m = NULL;
        if (cli_unary(cli, path, req, resp, &m) < 0)
            return -1;
        size_t n = *(size_t *)((char *)m + it->quantifier_offset);
        for (size_t k = 0; k < n; k++)
            fn(ctx, (*(ProtobufCMessage ***)((char *)m + it->offset))[k]);
        go = n && *(protobuf_c_boolean *)((char *)m + more->offset);
        *offset += (int32_t)n;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return 0;
}

void cli_format_ts(const Google__Protobuf__Timestamp *t, char *out, size_t len)
{
    if (!t || (!t->seconds && !t->nanos))
        snprintf(out, len, "-");
    else
        cli_format_time(t->seconds, t->nanos, out, len);
}

uint64_t cli_ts_age(const Google__Protobuf__Timestamp *t)
{
    time_t now = time(NULL);
    return t && t->seconds && now > t->seconds ? (uint64_t)(now - t->seconds) : 0;
}

char *cli_abs_path(const char *dir)
{
    char *p = NULL, cwd[4096];
    if (dir[0] == '/' || (p = realpath(dir, NULL)))
        return p ? p : strdup(dir);
    return asprintf(&p, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : "", dir) < 0 ? NULL : p;
}

void cli_warnings(char **w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cli_error("warning: %s", w[i]);
}

/* ---- naming runners and sessions ---- */

struct prefix {
    const char *prefix;
    char id[ID_MAX]; /* the first match */
    int n;           /* matches */
};

/* A Runner or a Session: their ids are their first fields. */
static void match(void *ctx, const ProtobufCMessage *m)
{
    struct prefix *p = ctx;
    const char *id = *(char *const *)((const char *)m + m->descriptor->fields[0].offset);
    if (!strncmp(id, p->prefix, strlen(p->prefix)) && !p->n++)
        snprintf(p->id, sizeof p->id, "%s", id);
}

/* A runner (or session) id, whole (36 characters) or its start. -1 after saying why not. */
static int resolve(struct cli *cli, bool session, const char *arg, char id[ID_MAX])
{
    Stratavore__V1__ListRunnersRequest lr = STRATAVORE__V1__LIST_RUNNERS_REQUEST__INIT;
    Stratavore__V1__ListSessionsRequest ls = STRATAVORE__V1__LIST_SESSIONS_REQUEST__INIT;
    struct prefix p = {.prefix = arg};
    const char *what = session ? "session" : "runner";

    if (!*arg || strlen(arg) >= 36) {
        memmove(id, arg, MIN(strlen(arg) + 1, (size_t)ID_MAX));
        id[ID_MAX - 1] = '\0';
        return 0;
    }
    if (cli_list(cli, session ? SV_SESS "ListSessions" : RUNNERS "ListRunners",
                 session ? &ls.base : &lr.base,
                 session ? &stratavore__v1__list_sessions_response__descriptor
                         : &stratavore__v1__list_runners_response__descriptor,
                 session ? "sessions" : "runners", match, &p) < 0)
        return -1;
    if (p.n == 1) {
        snprintf(id, ID_MAX, "%s", p.id);
        return 0;
    }
    if (p.n)
        cli_error("'%s' starts %d %s ids: give more of it", arg, p.n, what);
    else
        cli_error("no %s '%s' (drover runner ls lists them)", what, arg);
    return -1;
}

/* "exit code 0", "signal 9", "" */
static const char *exit_words(const Stratavore__V1__Runner *r, char *buf, size_t n)
{
    if (r->_exit_code_case == STRATAVORE__V1__RUNNER___EXIT_CODE_EXIT_CODE)
        snprintf(buf, n, ", exit code %d", r->exit_code);
    else if (r->_exit_signal_case == STRATAVORE__V1__RUNNER___EXIT_SIGNAL_EXIT_SIGNAL)
        snprintf(buf, n, ", signal %d", r->exit_signal);
    else
        buf[0] = '\0';
    return buf;
}

/* ---- create ---- */

struct create_args {
    Stratavore__V1__CreateRunnerRequest req;
    struct cli_map env, meta; /* --env, --meta */
};

static const struct cli_option create_opts[] = {
    {"--model", "M", "the model, for {model} and STRATAVORE_MODEL"},
    {"--temperature", "T", "0 to 2, for {temperature}"},
    {"--max-tokens", "N", "for {max_tokens}"},
    {"--session", "ID", "the session to go on with (with --continue or --resume)"},
    {"--cwd", "DIR", "working directory (default: the project's path)"},
    {"--restart", "POLICY", "never, on-failure or always (default: the project's)"},
    {"--max-restarts", "N", "automatic restarts in a row (0: the project's)"},
    {"--ttl", "S", "heartbeat TTL in seconds (0: the project's)"},
    {"--continue", NULL, "continue a conversation: the project's continue_args"},
    {"--resume", NULL, "resume --session: the project's resume_args"},
    {"--env", "K=V", "environment over the project's (repeatable)"},
    {"--meta", "K=V", "metadata (repeatable)"},
    {"--flag", "F", "an argument appended to the command (repeatable)"},
    {0},
};
/* The fields the options set, up to --continue; the others are handled one by one. */
static const char *const create_fields[] = {
    "model",
    "temperature",
    "max_tokens",
    "session_id",
    "working_directory",
    "restart_policy",
    "max_restart_attempts",
    "heartbeat_ttl_seconds",
};

static int create_option(void *ctx, const struct cli_option *o, const char *v)
{
    struct create_args *a = ctx;
    Stratavore__V1__CreateRunnerRequest *q = &a->req;
    size_t k = (size_t)(o - create_opts);

    if (k < ARRAY_SIZE(create_fields))
        return cli_set_field("runner create", o->name, &q->base, create_fields[k], v) < 0 ? -1 : 0;
    if (!strcmp(o->name, "--continue") || !strcmp(o->name, "--resume"))
        return cli_set_field("runner create", o->name, &q->base, "conversation_mode", o->name + 2);
    if (strcmp(o->name, "--flag") != 0)
        return cli_map_add(!strcmp(o->name, "--env") ? &a->env : &a->meta, "runner create", o->name,
                           v);
    if (!(q->flags = realloc(q->flags, (q->n_flags + 1) * sizeof *q->flags)))
        abort();
    q->flags[q->n_flags++] = (char *)v;
    return 0;
}

/* Where "-- CMD" starts (a "--" that is not an option's value), or argc. */
static int command_start(int argc, char **argv, const struct cli_option *opts)
{
    for (int j = 1; j < argc; j++) {
        if (!strcmp(argv[j], "--"))
            return j;
        for (size_t k = 0; opts[k].name; k++)
            if (opts[k].arg && !strcmp(argv[j], opts[k].name)) {
                j++;
                break;
            }
    }
    return argc;
}

static int runner_create(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    Stratavore__V1__CreateRunnerResponse *resp = NULL;
    struct create_args a = {
        .env.entry = &stratavore__v1__create_runner_request__environment_entry__descriptor,
        .meta.entry = &stratavore__v1__create_runner_request__metadata_entry__descriptor};
    Stratavore__V1__CreateRunnerRequest *q = &a.req;
    _cleanup_free_ char *cwd = NULL;
    int end = command_start(argc, argv, create_opts), r = 1, i;
    char w[32];

    stratavore__v1__create_runner_request__init(q);
    i = cli_need_operand(self, cli_parse(cli, self, end, argv, 1, create_opts, create_option, &a),
                         end, "the PROJECT", NULL);
    const char *bad =
        i < 0                                     ? NULL
        : end + 1 == argc                         ? "no command after '--'"
        : *q->session_id && !q->conversation_mode ? "--session needs --continue or --resume"
        : !*q->session_id &&
                q->conversation_mode == STRATAVORE__V1__CONVERSATION_MODE__CONVERSATION_MODE_RESUME
            ? "--resume needs --session ID"
            : NULL;
    if (bad) {
        cli_error("runner create: %s", bad);
        i = CLI_USAGE;
    }
    if (i < 0 || (*q->working_directory && !(cwd = cli_abs_path(q->working_directory)))) {
        r = i < 0 ? cli_exit_code(i) : 1;
        goto out;
    }
    q->project_name = argv[i];
    q->environment = (Stratavore__V1__CreateRunnerRequest__EnvironmentEntry **)a.env.v;
    q->n_environment = a.env.n;
    q->metadata = (Stratavore__V1__CreateRunnerRequest__MetadataEntry **)a.meta.v;
    q->n_metadata = a.meta.n;
    q->working_directory = cwd ? cwd : "";
    q->command = end < argc ? argv + end + 1 : NULL;
    q->n_command = end < argc ? (size_t)(argc - end - 1) : 0;
    cli->deadline_ms = 60000; /* the answer waits for the exec */
    if (cli_unary(cli, RUNNERS "CreateRunner", &q->base,
                  &stratavore__v1__create_runner_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        goto out;
    if (cli->json)
        cli_print_pb(&resp->base, false);
    else
        printf("runner %s (%s, pid %d)\nsession %s\n", resp->runner->id,
               RUNNER_STATUS(resp->runner, w), resp->runner->pid, resp->runner->session_id);
    cli_warnings(resp->warnings, resp->n_warnings);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    r = 0;
out:
    cli_map_free(&a.env);
    cli_map_free(&a.meta);
    free(q->flags);
    return r;
}

/* ---- ls ---- */

#define RUNNER_ROW "%-8.8s  %-16s %-10s %-7s %-8s  %-8s %-8s %s\n"

struct ls_run {
    json_t *all; /* --json: the runners */
    size_t n;
};

static void ls_one(void *ctx, const ProtobufCMessage *m)
{
    const Stratavore__V1__Runner *r = (const void *)m;
    struct ls_run *l = ctx;
    char w[32], pid[16] = "-", restarts[16], age[32];

    if (l->all) {
        json_array_append_new(l->all, cli_pb_json(m));
        l->n++;
        return;
    }
    if (!l->n++)
        printf(RUNNER_ROW, "ID", "PROJECT", "STATUS", "PID", "SESSION", "RESTARTS", "AGE",
               "REASON");
    if (r->pid)
        snprintf(pid, sizeof pid, "%d", r->pid);
    snprintf(restarts, sizeof restarts, "%d", r->restart_attempts);
    cli_format_duration(cli_ts_age(r->created_at), age, sizeof age);
    printf("%-8.8s  %-16s %-10s %-7s %-8.8s  %-8s %-8s %s\n", r->id, r->project_name,
           RUNNER_STATUS(r, w), pid, *r->session_id ? r->session_id : "-", restarts, age,
           *r->status_reason ? r->status_reason : "-");
}

static int ls_option(void *ctx, const struct cli_option *o, const char *v)
{
    return cli_set_field("runner ls", o->name, ctx,
                         !strcmp(o->name, "--project") ? "project_name" : "status", v) < 0
               ? -1
               : 0;
}

static int runner_ls(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--project", "P", "only the runners of project P"},
        {"--status", "S", "only those starting, running, paused, stopping, terminated or failed"},
        {0},
    };
    Stratavore__V1__ListRunnersRequest req = STRATAVORE__V1__LIST_RUNNERS_REQUEST__INIT;
    struct ls_run l = {0};
    int i = cli_parse(cli, self, argc, argv, 0, opts, ls_option, &req);

    if (i < 0)
        return cli_exit_code(i);
    if ((cli->json && !(l.all = json_array())) ||
        cli_list(cli, RUNNERS "ListRunners", &req.base,
                 &stratavore__v1__list_runners_response__descriptor, "runners", ls_one, &l) < 0) {
        json_decref(l.all);
        return 1;
    }
    if (cli->json)
        cli_print_json(json_pack("{s:o, s:i, s:b}", "runners", l.all, "total_count", (int)l.n,
                                 "has_more", false));
    else if (!l.n)
        printf("no runners (start one with: drover runner create PROJECT)\n");
    return 0;
}

/* ---- get, stop, restart, rm, pause, resume: one call about one runner ---- */

static const struct cli_option get_opts[] = {{"--metrics", NULL, "also its cgroup's metrics"}, {0}};
static const struct cli_option stop_opts[] = {
    {"--force", NULL, "SIGKILL at once"},
    {"--timeout", "S", "SIGTERM to its group, then SIGKILL after S seconds (default 10)"},
    {0},
};
static const struct cli_option restart_opts[] = {
    {"--keep-session", NULL, "go on with its session (continue mode); else a new one"},
    {"--force", NULL, "SIGKILL at once"},
    {"--timeout", "S", "SIGTERM to its group, then SIGKILL after S seconds (default 10)"},
    {0},
};
static const struct cli_option rm_opts[] = {
    {"--force", NULL, "stop it first if it is live (else that fails)"},
    {"--sessions", NULL, "also delete its sessions (kept by default)"},
    {0},
};

/* The request field each option sets. */
static const char *const option_fields[][2] = {
    {"--metrics", "include_metrics"},  {"--force", "force"},
    {"--timeout", "timeout_seconds"},  {"--keep-session", "preserve_session"},
    {"--sessions", "delete_sessions"},
};

struct action {
    const char *name; /* the subcommand */
    const char *method;
    const ProtobufCMessageDescriptor *req, *resp;
    const char *did;    /* "stopped" */
    const char *status; /* pause, resume: the desired_status */
};

static const struct action actions[] = {
    {"runner get", "GetRunner", &stratavore__v1__get_runner_request__descriptor,
     &stratavore__v1__get_runner_response__descriptor, NULL, NULL},
    {"runner stop", "StopRunner", &stratavore__v1__stop_runner_request__descriptor,
     &stratavore__v1__stop_runner_response__descriptor, "stopped", NULL},
    {"runner restart", "RestartRunner", &stratavore__v1__restart_runner_request__descriptor,
     &stratavore__v1__restart_runner_response__descriptor, "restarted", NULL},
    {"runner rm", "DeleteRunner", &stratavore__v1__delete_runner_request__descriptor,
     &stratavore__v1__delete_runner_response__descriptor, "deleted", NULL},
    {"runner pause", "UpdateRunner", &stratavore__v1__update_runner_request__descriptor,
     &stratavore__v1__update_runner_response__descriptor, "paused", "paused"},
    {"runner resume", "UpdateRunner", &stratavore__v1__update_runner_request__descriptor,
     &stratavore__v1__update_runner_response__descriptor, "resumed", "running"},
};

static int act_option(void *ctx, const struct cli_option *o, const char *v)
{
    for (size_t k = 0; k < ARRAY_SIZE(option_fields); k++)
        if (!strcmp(option_fields[k][0], o->name))
            return cli_set_field("runner", o->name, ctx, option_fields[k][1], v) < 0 ? -1 : 0;
    return 0;
}

/* A field of m by name, or NULL if its type has none. */
static void *field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    return f ? (char *)m + f->offset : NULL;
}

/* What a call did, in words: "stopped runner ID: terminated, exit code 0". */
static void say(const struct action *a, const char *id, const ProtobufCMessage *resp)
{
    Stratavore__V1__Runner *const *r = field(resp, "runner");
    const protobuf_c_boolean *was = field(resp, "was_running");
    const ProtobufCFieldDescriptor *warnings =
        protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "warnings");
    char w[32], e[64];

    /* stop: the runner was not running; rm: it was, and was stopped first */
    if (was && *was != !strcmp(a->method, "StopRunner"))
        printf(*was ? "deleted runner %s, stopped first" : "runner %s was not running", id);
    else
        printf("%s runner %s", a->did, id);
    if (r && *r && (*r)->pid)
        printf(": %s, pid %d", RUNNER_STATUS(*r, w), (*r)->pid);
    else if (r && *r)
        printf(": %s%s", RUNNER_STATUS(*r, w), exit_words(*r, e, sizeof e));
    printf("\n");
    if (warnings)
        cli_warnings(*(char ***)((char *)resp + warnings->offset),
                     *(size_t *)((char *)resp + warnings->quantifier_offset));
}

static int runner_act(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    const struct action *a = actions;
    while (strcmp(a->name, self->name) != 0)
        a++;
    _cleanup_free_ ProtobufCMessage *req = calloc(1, a->req->sizeof_message);
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    ProtobufCMessage *resp = NULL;
    char *path = "desired_status", id[ID_MAX];
    if (!req)
        return 1;
    protobuf_c_message_init(a->req, req);
    const struct cli_option *opts = !strcmp(a->method, "GetRunner")       ? get_opts
                                    : !strcmp(a->method, "StopRunner")    ? stop_opts
                                    : !strcmp(a->method, "RestartRunner") ? restart_opts
                                    : !strcmp(a->method, "DeleteRunner")  ? rm_opts
                                                                          : NULL;
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, 1, opts, act_option, req), argc,
                             "the runner's ID", NULL);

    if (i < 0)
        return cli_exit_code(i);
    if (resolve(cli, false, argv[i], id) < 0)
        return 1;
    *(char **)field(req, "runner_id") = id;
    if (field(req, "include_session"))
        *(protobuf_c_boolean *)field(req, "include_session") = true;
    if (a->status) { /* UpdateRunner of desired_status alone */
        cli_set_field(a->name, a->name, req, "desired_status", a->status);
        mask.paths = &path;
        mask.n_paths = 1;
        ((Stratavore__V1__UpdateRunnerRequest *)req)->update_mask = &mask;
    }
    int32_t *timeout = field(req, "timeout_seconds");
    cli->deadline_ms = (uint32_t)((timeout && *timeout ? *timeout : 10) + 60) * 1000u;
    char method[96];
    snprintf(method, sizeof method, RUNNERS "%s", a->method);
    if (cli_unary(cli, method, req, a->resp, &resp) < 0)
        return 1;
    if (cli->json || !a->did)
        cli_show_pb(cli, resp);
    else
        say(a, id, resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* ---- attach ---- */

/* GetRunner: its session to attach to while it is live (else ""), and once it has ended the
 * exit status drover attach would give (128 + signal). 1 if it has ended, -1 after an error. */
static int attach_info(struct cli *cli, const char *id, char session[ID_MAX], int *code)
{
    Stratavore__V1__GetRunnerRequest req = STRATAVORE__V1__GET_RUNNER_REQUEST__INIT;
    Stratavore__V1__GetRunnerResponse *resp = NULL;

    req.runner_id = (char *)id;
    if (cli_unary(cli, RUNNERS "GetRunner", &req.base,
                  &stratavore__v1__get_runner_response__descriptor, (ProtobufCMessage **)&resp) < 0)
        return -1;
    const Stratavore__V1__Runner *r = resp->runner;
    int ended = r->status == STRATAVORE__V1__RUNNER_STATUS__RUNNER_STATUS_TERMINATED ||
                r->status == STRATAVORE__V1__RUNNER_STATUS__RUNNER_STATUS_FAILED;
    snprintf(session, ID_MAX, "%s", ended ? "" : r->attach_session_id);
    *code = r->_exit_signal_case ? 128 + r->exit_signal : r->exit_code;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return ended;
}

static int runner_attach(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--steal", NULL, "take the session from the client attached now"}, {0}};
    bool steal = false;
    char id[ID_MAX], session[ID_MAX];
    int code, i = cli_need_operand(
                  self, cli_parse(cli, self, argc, argv, 1, opts, cli_option_flag, &steal), argc,
                  "the runner's ID", NULL);

    if (i < 0)
        return cli_exit_code(i);
    if (resolve(cli, false, argv[i], id) < 0 || (i = attach_info(cli, id, session, &code)) < 0)
        return 1;
    if (i || !*session) {
        cli_error("runner %s is not live: nothing to attach to (see drover transcript)", id);
        return 1;
    }
    char *args[] = {(char *)self->name, steal ? "--steal" : session, session, NULL};
    int r = cmd_attach(cli, self, steal ? 3 : 2, args); /* drover attach [--steal] SESSION */
    /* A pipes runner's session goes with its program, before attach has its exit status. */
    return attach_info(cli, id, session, &code) == 1 ? code : r;
}

/* ---- events ---- */

struct events_run {
    struct cli *cli;
    Stratavore__V1__StreamRunnerEventsRequest req; /* the filters, and since_sequence */
    Stratavore__V1__EventType types[64];           /* --type */
    bool follow;                                   /* -f */
    bool filter;                                   /* filter here: the call takes every event */
    int64_t until;                                 /* stop after this sequence (0: never) */
    bool stop;                                     /* it is time */
    int64_t last_seq;                              /* the last event that came */
    struct drover_resume resume;                   /* reconnecting */
    struct drover_status st;                       /* how the last call ended */
};

static int events_option(void *ctx, const struct cli_option *o, const char *v)
{
    static const char *const fields[][2] = {{"--project", "project_name"},
                                            {"--runner", "runner_id"},
                                            {"--session", "session_id"},
                                            {"--since", "since_sequence"}};
    struct events_run *ev = ctx;
    Stratavore__V1__RunnerEvent one = STRATAVORE__V1__RUNNER_EVENT__INIT;

    if (!o->arg)
        return ev->follow = true, 0;
    for (size_t k = 0; k < ARRAY_SIZE(fields); k++)
        if (!strcmp(fields[k][0], o->name))
            return cli_set_field("runner events", o->name, &ev->req.base, fields[k][1], v) < 0 ? -1
                                                                                               : 0;
    /* --type: parsed as a RunnerEvent's event_type */
    if (ev->req.n_event_types == ARRAY_SIZE(ev->types) ||
        cli_set_field("runner events", o->name, &one.base, "event_type", v) < 0)
        return -1;
    ev->types[ev->req.n_event_types++] = one.event_type;
    return 0;
}

static bool event_wanted(const Stratavore__V1__StreamRunnerEventsRequest *q,
                         const Stratavore__V1__RunnerEvent *e)
{
    bool type = !q->n_event_types &&
                e->event_type != STRATAVORE__V1__EVENT_TYPE__EVENT_TYPE_RUNNER_HEARTBEAT;
    for (size_t k = 0; k < q->n_event_types; k++)
        type |= q->event_types[k] == e->event_type;
    return type && (!*q->project_name || !strcmp(q->project_name, e->project_name)) &&
           (!*q->runner_id || !strcmp(q->runner_id, e->runner_id)) &&
           (!*q->session_id || !strcmp(q->session_id, e->session_id));
}

/* SEQ TIME TYPE RUNNER PROJECT REASON (ROUTING-KEY) */
static void print_event(struct cli *cli, const Stratavore__V1__RunnerEvent *e)
{
    const char *reason = NULL, *key = "";
    char t[64], w[48];

    if (cli->json) {
        cli_print_pb(&e->base, true);
        return;
    }
    for (size_t k = 0; k < e->n_metadata; k++) {
        if (!strcmp(e->metadata[k]->key, "reason"))
            reason = e->metadata[k]->value;
        else if (!strcmp(e->metadata[k]->key, "routing_key"))
            key = e->metadata[k]->value;
    }
    cli_format_ts(e->timestamp, t, sizeof t);
    printf("%" PRId64 " %s %-18s %-8.8s %-16s %s%s%s%s\n", e->sequence, t,
           cli_enum_word(&stratavore__v1__event_type__descriptor, e->event_type, w, sizeof w),
           *e->runner_id ? e->runner_id : "-", *e->project_name ? e->project_name : "-",
           reason ? reason : key, reason ? " (" : "", reason ? key : "", reason ? ")" : "");
    fflush(stdout);
}

static void on_event(struct drover_call *call, const ProtobufCMessage *msg, void *userdata)
{
    const Stratavore__V1__RunnerEvent *e = (const void *)msg;
    struct events_run *ev = userdata;
    (void)call;

    drover_resume_answered(&ev->resume);
    if (ev->stop) /* (past the replay's end, in the same read) */
        return;
    ev->last_seq = e->sequence;
    if (!ev->filter || event_wanted(&ev->req, e))
        print_event(ev->cli, e);
    if (ev->until && e->sequence >= ev->until)
        ev->stop = true;
}

/* One StreamRunnerEvents call from since, until it ends or ev->stop (its status in ev->st; OK
 * for a stop). -1 if the connection failed. */
static int stream_events(struct cli *cli, struct events_run *ev, int64_t since, int timeout_ms)
{
    Stratavore__V1__StreamRunnerEventsRequest every =
        STRATAVORE__V1__STREAM_RUNNER_EVENTS_REQUEST__INIT;
    Stratavore__V1__EventType all[64];
    const ProtobufCEnumDescriptor *d = &stratavore__v1__event_type__descriptor;

    for (unsigned k = 0; k < d->n_values && every.n_event_types < ARRAY_SIZE(all); k++)
        if (d->values[k].value)
            all[every.n_event_types++] = d->values[k].value;
    every.event_types = all;
    Stratavore__V1__StreamRunnerEventsRequest *q = ev->filter ? &every : &ev->req;
    q->since_sequence = since;
    struct drover_call *call = drover_call_start(cli->client, RUNNERS "StreamRunnerEvents",
                                                 &stratavore__v1__runner_event__descriptor,
                                                 on_event, NULL, ev, (uint64_t)timeout_ms);
    if (!call || drover_call_send(call, &q->base) < 0 || drover_call_close_send(call) < 0) {
        drover_call_free(call);
        return -1;
    }
    for (ev->stop = false; !drover_call_done(call) && !ev->stop;)
        if (drover_client_poll(cli->client, -1) < 0 && !drover_call_done(call))
            break;
    int r = drover_call_done(call) || ev->stop ? 0 : -1;
    ev->st = drover_call_done(call) ? *drover_call_status(call) : (struct drover_status){0};
    drover_call_free(call);
    return r;
}

static int events_failed(const struct events_run *ev, int r)
{
    if (r < 0)
        cli_error("runner events: the connection to droverd at %s failed", ev->cli->socket_path);
    else if (ev->st.code != GRPC_OK)
        cli_error("StreamRunnerEvents: %s%s%s", grpc_status_name(ev->st.code),
                  ev->st.message[0] ? ": " : "", ev->st.message);
    return r < 0 || ev->st.code != GRPC_OK;
}

/* Without -f: the kept range from droverd's OUT_OF_RANGE answer to one past any event, then
 * the replay up to its end. */
static int replay_events(struct cli *cli, struct events_run *ev)
{
    int64_t oldest, newest, since = ev->req.since_sequence;
    int r;

    ev->filter = true;
    if ((r = stream_events(cli, ev, INT64_MAX, 10000)) < 0 || ev->st.code != GRPC_OUT_OF_RANGE)
        return events_failed(ev, r) ? 1 : 0;
    if (sscanf(ev->st.message, "since_sequence %*d is not kept: events %" SCNd64 " to %" SCNd64,
               &oldest, &newest) != 2) {
        cli_error("runner events: droverd did not say which events it keeps (%s); -f follows "
                  "new ones",
                  ev->st.message);
        return 1;
    }
    since = since ? since : oldest - 1;
    if (newest <= since) /* nothing after it */
        return 0;
    ev->until = newest;
    return events_failed(ev, stream_events(cli, ev, since, 0));
}

static int runner_events(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"-f", NULL, "follow: print events as they come, until interrupted"},
        {"--follow", NULL, "the same"},
        {"--project", "P", "only events of project P"},
        {"--runner", "ID", "only events of this runner"},
        {"--session", "ID", "only events of this session"},
        {"--type", "TYPE", "only this type, e.g. runner-failed (repeatable)"},
        {"--since", "SEQ", "the kept events after sequence SEQ first (default: all; -f: none)"},
        {0},
    };
    struct events_run ev = {.cli = cli};
    char runner[ID_MAX];
    bool resumed = false;
    int r;

    stratavore__v1__stream_runner_events_request__init(&ev.req);
    ev.req.event_types = ev.types;
    if ((r = cli_parse(cli, self, argc, argv, 0, opts, events_option, &ev)) < 0)
        return cli_exit_code(r);
    if (*ev.req.runner_id && resolve(cli, false, ev.req.runner_id, runner) < 0)
        return 1;
    ev.req.runner_id = *ev.req.runner_id ? runner : "";
    if (cli_connect(cli) < 0)
        return 1;
    if (!ev.follow)
        return replay_events(cli, &ev);
    /* On after droverd upgrades in place or the stream falls behind, from the last event. */
    for (int64_t since = ev.req.since_sequence; (r = stream_events(cli, &ev, since, 0)) == 0;) {
        if (drover_resume_wanted(&ev.resume, &ev.st)) {
            if (drover_resume_connect(&ev.resume, &cli->target, &cli->client) < 0)
                break;
        } else if (ev.st.code == GRPC_OUT_OF_RANGE && resumed) {
            fprintf(stderr, "[drover: events were missed: droverd restarted, or this stream "
                            "fell behind]\n");
            ev.last_seq = since = 0;
            resumed = false;
            continue;
        } else if (ev.st.code != GRPC_RESOURCE_EXHAUSTED) {
            break;
        }
        if (ev.last_seq)
            since = ev.last_seq, resumed = true;
    }
    return events_failed(&ev, r);
}

/* ---- transcript ---- */

static int transcript_option(void *ctx, const struct cli_option *o, const char *v)
{
    return cli_set_field("transcript", o->name, ctx, o->name + 2, v) < 0 ? -1 : 0;
}

int cmd_transcript(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--format", "F", "text (default), markdown or json, as droverd renders it"},
        {"--offset", "N", "from message N (default 0)"},
        {"--limit", "N", "at most N messages (default 100, at most 1000)"},
        {0},
    };
    Stratavore__V1__GetSessionTranscriptRequest req =
        STRATAVORE__V1__GET_SESSION_TRANSCRIPT_REQUEST__INIT;
    Stratavore__V1__GetSessionTranscriptResponse *resp = NULL;
    char id[ID_MAX];
    int i;

    req.format = STRATAVORE__V1__TRANSCRIPT_FORMAT__TRANSCRIPT_FORMAT_TEXT;
    i = cli_need_operand(self, cli_parse(cli, self, argc, argv, 1, opts, transcript_option, &req),
                         argc, "the SESSION", NULL);
    if (i < 0)
        return cli_exit_code(i);
    if (resolve(cli, true, argv[i], id) < 0)
        return 1;
    req.session_id = id;
    req.include_metadata = true;
    if (cli_unary(cli, SV_SESS "GetSessionTranscript", &req.base,
                  &stratavore__v1__get_session_transcript_response__descriptor,
                  (ProtobufCMessage **)&resp) < 0)
        return 1;
    if (cli->json)
        cli_print_pb(&resp->base, false);
    else if (resp->content.len) /* (and a newline after the last line, as a terminal wants) */
        (void)(cli_write_all(1, resp->content.data, resp->content.len) ||
               (resp->content.data[resp->content.len - 1] != '\n' && cli_write_all(1, "\n", 1)));
    if (resp->has_more)
        cli_error("more messages follow: --offset %lld",
                  (long long)(req.offset + (int64_t)resp->n_messages));
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static const struct cli_command runner_cmds[] = {
    {"runner create", runner_create, "PROJECT [OPTION]... [-- CMD [ARG]...]",
     "Launch a runner in a project (CMD instead of the project's command); prints its id and "
     "its session's."},
    {"runner ls", runner_ls, "[--project P] [--status S]",
     "List runners: id, project, status, pid, session, restarts, age, reason."},
    {"runner get", runner_act, "[--metrics] ID", "Show everything about a runner."},
    {"runner stop", runner_act, "[--force] [--timeout S] ID",
     "Stop a runner: SIGTERM to its group, SIGKILL after the timeout; waits for its exit."},
    {"runner restart", runner_act, "[--keep-session] [--force] [--timeout S] ID",
     "Stop a runner and start it again (same id, new pid)."},
    {"runner rm", runner_act, "[--force] [--sessions] ID",
     "Delete a runner (a live one needs --force); --sessions deletes its sessions too."},
    {"runner pause", runner_act, "ID", "Freeze a runner's processes."},
    {"runner resume", runner_act, "ID", "Thaw a paused runner."},
    {"runner attach", runner_attach, "[--steal] ID",
     "Attach to a runner's terminal or pipes, as drover attach does (Ctrl-\\ detaches)."},
    {"runner events", runner_events,
     "[-f] [--project P] [--runner ID] [--session ID] [--type TYPE]... [--since SEQ]",
     "Print events, a line each: SEQ TIME TYPE RUNNER PROJECT REASON (ROUTING-KEY); --json: a "
     "JSON object a line. Without -f: the events droverd keeps (its last 1024, or those after "
     "--since) up to the newest when it began, then it exits. -f: the events to come (after "
     "--since SEQ first, if given), until interrupted; it goes on across droverd's upgrades."},
};

int cmd_runner(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    return cli_subcommand(cli, self, runner_cmds, ARRAY_SIZE(runner_cmds), argc, argv);
}
