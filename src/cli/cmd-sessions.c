/* drover sessions, send, backlog, kill, purge: detachable sessions over drover.v1.Sessions, and
 * the naming of a session every session command shares (cli_session_operand).
 *
 * A session is named by its id, or by the originator given at `run --name`: a live session wins
 * over exited ones of that name, and two live ones make the name ambiguous. PTY and pipe sessions
 * are listed by two calls (ListPty, ListPipe), and shown together. drover attach and drover run
 * are in cmd-attach.c. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"
#include "cli/cli.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

#define SEND_CHUNK (1u << 20)

/* ---- naming ---- */

/* Both lists of sessions, PTY and pipe: 0 with both set, or -1 after the error was printed. */
static int list_sessions(struct cli *cli,
                         RunningProcess__Daemon__V1__ListPtySessionsResponse **ret_pty,
                         RunningProcess__Daemon__V1__ListPipeSessionsResponse **ret_pipe)
{
    RunningProcess__Daemon__V1__ListPtySessionsRequest lr =
        RUNNING_PROCESS__DAEMON__V1__LIST_PTY_SESSIONS_REQUEST__INIT;
    RunningProcess__Daemon__V1__ListPipeSessionsRequest lp =
        RUNNING_PROCESS__DAEMON__V1__LIST_PIPE_SESSIONS_REQUEST__INIT;
    ProtobufCMessage *a = NULL, *b = NULL;

    if (cli_unary(cli, CLI_SESSIONS "ListPty", &lr.base,
                  &running_process__daemon__v1__list_pty_sessions_response__descriptor, &a) < 0)
        return -1;
    if (cli_unary(cli, CLI_SESSIONS "ListPipe", &lp.base,
                  &running_process__daemon__v1__list_pipe_sessions_response__descriptor, &b) < 0) {
        protobuf_c_message_free_unpacked(a, NULL);
        return -1;
    }
    *ret_pty = (void *)a;
    *ret_pipe = (void *)b;
    return 0;
}

/* Finds a session by id, else the live session whose originator is the name (or the newest
 * exited one if none is live). */
static int resolve(struct cli *cli, const char *name, struct cli_session *ret)
{
    RunningProcess__Daemon__V1__ListPtySessionsResponse *pa;
    RunningProcess__Daemon__V1__ListPipeSessionsResponse *pb;
    int found = 0, live = 0, r = -1;

    if (list_sessions(cli, &pa, &pb) < 0)
        return -1;
    for (int pass = 0; pass < 2 && !found; pass++) { /* ids first, then names */
        for (size_t i = 0; i < pa->n_sessions + pb->n_sessions; i++) {
            bool pty = i < pa->n_sessions;
            const char *id =
                pty ? pa->sessions[i]->session_id : pb->sessions[i - pa->n_sessions]->session_id;
            const char *orig =
                pty ? pa->sessions[i]->originator : pb->sessions[i - pa->n_sessions]->originator;
            bool exited = pty ? pa->sessions[i]->exited : pb->sessions[i - pa->n_sessions]->exited;
            if (strcmp(pass ? orig : id, name) != 0)
                continue;
            if (found && live && exited) /* a live one wins over exited ones */
                continue;
            if (found && !exited && live) {
                cli_error("'%s' names several live sessions: use an id (drover sessions)", name);
                goto out;
            }
            found++;
            live |= !exited;
            snprintf(ret->id, sizeof ret->id, "%s", id);
            ret->pty = pty;
            ret->exited = exited;
            ret->merged = !pty && pb->sessions[i - pa->n_sessions]->merge_stderr_into_stdout;
        }
    }
    if (!found)
        cli_error("no session '%s' (drover sessions lists them)", name);
    else
        r = 0;
out:
    protobuf_c_message_free_unpacked(&pa->base, NULL);
    protobuf_c_message_free_unpacked(&pb->base, NULL);
    return r;
}

int cli_session_operand(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                        const struct cli_option *opts,
                        int (*on_option)(void *, const struct cli_option *, const char *),
                        void *ctx, struct cli_session *ret)
{
    int i = cli_need_operand(cmd, cli_parse(cli, cmd, argc, argv, 1, opts, on_option, ctx), argc,
                             "SESSION", NULL);

    if (i < 0)
        return i;
    if (resolve(cli, argv[i], ret) < 0)
        return CLI_FAILED;
    return 0;
}

int cli_session_backlog(struct cli *cli, const char *id, bool err,
                        RunningProcess__Daemon__V1__GetSessionBacklogResponse **ret)
{
    RunningProcess__Daemon__V1__GetSessionBacklogRequest req =
        RUNNING_PROCESS__DAEMON__V1__GET_SESSION_BACKLOG_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_id = (char *)id;
    req.pipe_stream = err ? RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDERR
                          : RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDOUT;
    if (cli_unary(cli, CLI_SESSIONS "GetBacklog", &req.base,
                  &running_process__daemon__v1__get_session_backlog_response__descriptor,
                  &resp) < 0)
        return -1;
    *ret = (void *)resp;
    return 0;
}

/* ---- sessions ---- */

static const char *outcome_word(int o)
{
    static const char *const w[] = {"", "natural", "terminated", "killed"};
    return (unsigned)o < ARRAY_SIZE(w) ? w[o] : "";
}

static void age(double created, char *buf, size_t n)
{
    double now = (double)time(NULL);
    cli_format_duration(now > created ? (uint64_t)(now - created) : 0, buf, n);
}

static json_t *pty_json(const RunningProcess__Daemon__V1__PtySessionInfo *s)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:f, s:b, s:b, s:i, s:f, s:s, s:i, s:i, s:b, "
                     "s:s}",
                     "id", s->session_id, "kind", "pty", "pid", (int)s->pid, "command", s->command,
                     "cwd", s->cwd, "originator", s->originator, "created_at", s->created_at,
                     "attached", s->attached, "exited", s->exited, "exit_code", s->exit_code,
                     "exited_at", s->exited_at, "outcome", outcome_word(s->termination_outcome),
                     "rows", (int)s->rows, "cols", (int)s->cols, "attached_is_tty",
                     s->attached_is_tty, "attached_term", s->attached_term);
}

static json_t *pipe_json(const RunningProcess__Daemon__V1__PipeSessionInfo *s)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:f, s:b, s:b, s:b, s:i, s:f, s:s, s:b}", "id",
                     s->session_id, "kind", "pipe", "pid", (int)s->pid, "command", s->command,
                     "cwd", s->cwd, "originator", s->originator, "created_at", s->created_at,
                     "stdout_attached", s->stdout_attached, "stderr_attached", s->stderr_attached,
                     "exited", s->exited, "exit_code", s->exit_code, "exited_at", s->exited_at,
                     "outcome", outcome_word(s->termination_outcome), "merge_stderr",
                     s->merge_stderr_into_stdout);
}

#define ROW_FORMAT "%-32s %-4s %-8s %-16s %-8s %-8s %-14s %s\n"

/* One line of the table: state is "exited CODE" or running_state; created is its start. */
static void print_row(const char *id, const char *kind, uint32_t pid, bool exited, int exit_code,
                      const char *running_state, const char *attached, double created,
                      const char *originator, const char *command)
{
    char p[16], st[32], ag[32];

    snprintf(p, sizeof p, "%u", pid);
    if (exited)
        snprintf(st, sizeof st, "exited %d", exit_code);
    else
        snprintf(st, sizeof st, "%s", running_state);
    age(created, ag, sizeof ag);
    printf(ROW_FORMAT, id, kind, p, st, attached, ag, originator, command);
}

static void print_pty(const RunningProcess__Daemon__V1__PtySessionInfo *s)
{
    char running[32];

    snprintf(running, sizeof running, "running %ux%u", s->cols, s->rows);
    print_row(s->session_id, "pty", s->pid, s->exited, s->exit_code, running,
              s->attached ? "yes" : "-", s->created_at, s->originator, s->command);
}

static void print_pipe(const RunningProcess__Daemon__V1__PipeSessionInfo *s)
{
    char att[16];

    snprintf(att, sizeof att, "%s%s%s", s->stdout_attached ? "out" : "",
             s->stdout_attached && s->stderr_attached ? "+" : "", s->stderr_attached ? "err" : "");
    print_row(s->session_id, "pipe", s->pid, s->exited, s->exit_code, "running", att[0] ? att : "-",
              s->created_at, s->originator, s->command);
}

int cmd_sessions(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    RunningProcess__Daemon__V1__ListPtySessionsResponse *pa;
    RunningProcess__Daemon__V1__ListPipeSessionsResponse *pb;
    int i = cli_parse_common(cli, self, argc, argv, 0);

    if (i < 0)
        return cli_exit_code(i);
    if (list_sessions(cli, &pa, &pb) < 0)
        return 1;
    if (cli->json) {
        json_t *arr = json_array();
        for (size_t k = 0; k < pa->n_sessions; k++)
            json_array_append_new(arr, pty_json(pa->sessions[k]));
        for (size_t k = 0; k < pb->n_sessions; k++)
            json_array_append_new(arr, pipe_json(pb->sessions[k]));
        cli_print_json(arr);
    } else if (pa->n_sessions + pb->n_sessions == 0) {
        printf("no sessions\n");
    } else {
        printf(ROW_FORMAT, "ID", "KIND", "PID", "STATE", "ATTACHED", "AGE", "ORIGINATOR",
               "COMMAND");
        for (size_t k = 0; k < pa->n_sessions; k++)
            print_pty(pa->sessions[k]);
        for (size_t k = 0; k < pb->n_sessions; k++)
            print_pipe(pb->sessions[k]);
    }
    protobuf_c_message_free_unpacked(&pa->base, NULL);
    protobuf_c_message_free_unpacked(&pb->base, NULL);
    return 0;
}

/* ---- send ---- */

struct send_opts {
    bool newline, close; /* flags */
};

static const struct cli_option send_opts[] = {
    {"--newline", NULL, "append a newline (Enter)"},
    {"--close", NULL, "pipes: close stdin afterwards"},
    {0},
};

static int send_option(void *ctx, const struct cli_option *o, const char *value)
{
    struct send_opts *s = ctx;
    (void)value;
    if (!strcmp(o->name, "--newline"))
        s->newline = true;
    else
        s->close = true;
    return 0;
}

static int send_bytes(struct cli *cli, const char *id, const void *p, size_t n, bool close_after)
{
    RunningProcess__Daemon__V1__WritePipeStdinRequest req =
        RUNNING_PROCESS__DAEMON__V1__WRITE_PIPE_STDIN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_id = (char *)id;
    req.data.data = (uint8_t *)p;
    req.data.len = n;
    req.close = close_after;
    if (cli_unary(cli, CLI_SESSIONS "Send", &req.base,
                  &running_process__daemon__v1__write_pipe_stdin_response__descriptor, &resp) < 0)
        return -1;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int cmd_send(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    struct send_opts o = {0};
    struct cli_session t;
    int i = cli_parse(cli, self, argc, argv, 2, send_opts, send_option, &o);

    if (i < 0)
        return cli_exit_code(i);
    if (argc - i != 2) {
        cli_error("send: needs SESSION and TEXT (or - for stdin)");
        return EXIT_USAGE;
    }
    if (resolve(cli, argv[i], &t) < 0)
        return 1;
    cli->deadline_ms = 60000; /* a program slow to read its input */
    if (strcmp(argv[i + 1], "-") != 0) {
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "%s%s", argv[i + 1], o.newline ? "\n" : "") < 0)
            return 1;
        return send_bytes(cli, t.id, text, strlen(text), o.close) < 0 ? 1 : 0;
    }
    _cleanup_free_ uint8_t *buf = malloc(SEND_CHUNK);
    if (!buf)
        return 1;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, SEND_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("send: cannot read stdin: %s", strerror(errno));
            return 1;
        }
        if (n == 0)
            return (o.close || o.newline) &&
                           send_bytes(cli, t.id, "\n", o.newline ? 1 : 0, o.close) < 0
                       ? 1
                       : 0;
        if (send_bytes(cli, t.id, buf, (size_t)n, false) < 0)
            return 1;
    }
}

/* ---- backlog ---- */

int cmd_backlog(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    bool err = false;
    static const struct cli_option opts[] = {{"--stderr", NULL, "pipes: the stderr stream"}, {0}};
    RunningProcess__Daemon__V1__GetSessionBacklogResponse *b;
    struct cli_session t;
    int r = cli_session_operand(cli, self, argc, argv, opts, cli_option_flag, &err, &t);

    if (r < 0)
        return cli_exit_code(r);
    if (cli_session_backlog(cli, t.id, err, &b) < 0)
        return 1;
    if (cli->json) {
        cli_print_json(json_pack("{s:s, s:s%, s:I, s:b, s:i}", "session_id", t.id, "backlog",
                                 (const char *)b->backlog.data, b->backlog.len, "bytes_missed",
                                 (json_int_t)b->bytes_missed, "exited", b->exited, "exit_code",
                                 b->exit_code));
    } else {
        if (b->bytes_missed)
            fprintf(stderr, "[drover: %llu earlier bytes were dropped]\n",
                    (unsigned long long)b->bytes_missed);
        (void)cli_write_all(STDOUT_FILENO, b->backlog.data, b->backlog.len);
    }
    protobuf_c_message_free_unpacked(&b->base, NULL);
    return 0;
}

/* ---- kill ---- */

#define SAME_FIELD(f)                                                                              \
    (offsetof(RunningProcess__Daemon__V1__TerminatePtySessionRequest, f) ==                        \
     offsetof(RunningProcess__Daemon__V1__TerminatePipeSessionRequest, f))
_Static_assert(sizeof(RunningProcess__Daemon__V1__TerminatePtySessionRequest) ==
                       sizeof(RunningProcess__Daemon__V1__TerminatePipeSessionRequest) &&
                   SAME_FIELD(session_id) && SAME_FIELD(grace_ms),
               "the two Terminate requests have one layout");

static int grace_option(void *ctx, const struct cli_option *o, const char *value)
{
    (void)o;
    if (cli_parse_u32(value, 0, UINT32_MAX, ctx) < 0) {
        cli_error("kill: --grace needs milliseconds, not '%s'", value);
        return -1;
    }
    return 0;
}

int cmd_kill(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--grace", "MS", "SIGKILL after MS milliseconds (default 2000; 0: the default)"}, {0}};
    uint32_t grace = 0;
    ProtobufCMessage *resp = NULL;
    struct cli_session t;
    int r = cli_session_operand(cli, self, argc, argv, opts, grace_option, &grace, &t);

    if (r < 0)
        return cli_exit_code(r);
    /* TerminatePipeSessionRequest has the same fields at the same places (asserted above): the
     * descriptor alone tells the two apart. */
    RunningProcess__Daemon__V1__TerminatePtySessionRequest req =
        RUNNING_PROCESS__DAEMON__V1__TERMINATE_PTY_SESSION_REQUEST__INIT;
    req.session_id = t.id;
    req.grace_ms = grace;
    if (!t.pty)
        req.base.descriptor =
            &running_process__daemon__v1__terminate_pipe_session_request__descriptor;
    if (cli_unary(cli, t.pty ? CLI_SESSIONS "TerminatePty" : CLI_SESSIONS "TerminatePipe",
                  &req.base,
                  t.pty ? &running_process__daemon__v1__terminate_pty_session_response__descriptor
                        : &running_process__daemon__v1__terminate_pipe_session_response__descriptor,
                  &resp) < 0)
        return 1;
    protobuf_c_message_free_unpacked(resp, NULL);
    if (!cli->json)
        printf("%s: %s\n", t.id, t.exited ? "already exited" : "terminating");
    return 0;
}

/* ---- purge ---- */

int cmd_purge(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--originator", "O", "only sessions with this originator"}, {0}};
    const char *orig = NULL;
    RunningProcess__Daemon__V1__PurgeExitedSessionsRequest req =
        RUNNING_PROCESS__DAEMON__V1__PURGE_EXITED_SESSIONS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int i = cli_parse(cli, self, argc, argv, 0, opts, cli_option_value, &orig);

    if (i < 0)
        return cli_exit_code(i);
    req.originator = (char *)(orig ? orig : "");
    if (cli_unary(cli, CLI_SESSIONS "PurgeExited", &req.base,
                  &running_process__daemon__v1__purge_exited_sessions_response__descriptor,
                  &resp) < 0)
        return 1;
    const RunningProcess__Daemon__V1__PurgeExitedSessionsResponse *p = (const void *)resp;
    if (cli->json)
        cli_print_json(json_pack("{s:i, s:i}", "pty_purged", (int)p->pty_purged, "pipe_purged",
                                 (int)p->pipe_purged));
    else
        printf("purged %u exited sessions (%u pty, %u pipe)\n", p->pty_purged + p->pipe_purged,
               p->pty_purged, p->pipe_purged);
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}
