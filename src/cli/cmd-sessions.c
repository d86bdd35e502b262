/* drover run, attach, sessions, send, backlog, kill, purge: detachable sessions over
 * drover.v1.Sessions.
 *
 * attach puts the terminal in raw mode and restores it on every way out: a detach (Ctrl-\, as in
 * dtach), the session's end, a stolen attachment, droverd going away, SIGTERM, SIGHUP or SIGINT.
 * The signals it cares about (those, and SIGWINCH for the window size) are blocked and read from
 * a signalfd in the same poll(2) as the terminal and the connection, so no handler runs at an
 * awkward moment. A session is named by its id, or by the originator given at `run --name`. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/macro.h"
#include "cli/cli.h"
#include "drover/v1/sessions.pb-c.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

#define SESSIONS                      "/drover.v1.Sessions/"
#define DETACH_KEY                    0x1c /* Ctrl-\ */
#define SEND_CHUNK                    (1u << 20)
#define RunningProcess__Daemon__V1__T RunningProcess__Daemon__V1__##T

/* ---- terminal ---- */

static struct termios saved_tio;
static bool tio_raw;

static void restore_terminal(void)
{
    if (tio_raw) {
        (void)tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
        tio_raw = false;
    }
}

static void raw_terminal(void)
{
    struct termios t;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
        return;
    t = saved_tio;
    cfmakeraw(&t);
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0) {
        tio_raw = true;
        atexit(restore_terminal);
    }
}

static void window_size(uint32_t *rows, uint32_t *cols)
{
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- naming ---- */

struct target {
    char id[64]; /* the session id */
    bool pty;    /* its kind */
    bool exited; /* already exited */
    bool merged; /* pipe: stderr merged into stdout (no stderr stream) */
};

/* Finds a session by id, else the live session whose originator is the name (or the newest
 * exited one if none is live). */
static int resolve(struct cli *cli, const char *name, struct target *ret)
{
    ProtobufCMessage *a = NULL, *b = NULL;
    RunningProcess__Daemon__V1__ListPtySessionsRequest lr =
        RUNNING_PROCESS__DAEMON__V1__LIST_PTY_SESSIONS_REQUEST__INIT;
    RunningProcess__Daemon__V1__ListPipeSessionsRequest lp =
        RUNNING_PROCESS__DAEMON__V1__LIST_PIPE_SESSIONS_REQUEST__INIT;
    int found = 0, live = 0, r = -1;

    if (cli_unary(cli, SESSIONS "ListPty", &lr.base,
                  &running_process__daemon__v1__list_pty_sessions_response__descriptor, &a) < 0 ||
        cli_unary(cli, SESSIONS "ListPipe", &lp.base,
                  &running_process__daemon__v1__list_pipe_sessions_response__descriptor, &b) < 0)
        goto out;
    const RunningProcess__Daemon__V1__ListPtySessionsResponse *pa = (const void *)a;
    const RunningProcess__Daemon__V1__ListPipeSessionsResponse *pb = (const void *)b;
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
    if (a)
        protobuf_c_message_free_unpacked(a, NULL);
    if (b)
        protobuf_c_message_free_unpacked(b, NULL);
    return r;
}

/* ---- attach loops ---- */

struct stream {
    struct drover_call *call; /* AttachPty or AttachPipe */
    bool pty;                 /* which */
    int out_fd;               /* where output goes */
    bool done;                /* the call ended */
    bool too_late;            /* the session exited before this attach: print its backlog */
    struct buf out;           /* output of this round, written at its end (fewer writes) */
};

struct attach {
    struct cli *cli;
    const char *id;     /* the session */
    struct stream s[2]; /* PTY, or stdout and stderr */
    size_t n;           /* streams */
    bool exited;        /* the session's exit was seen */
    int exit_code;      /* its code */
    bool detached;      /* ended by a detach (ours or someone else's) */
    char end_msg[256];  /* why it ended otherwise, for stderr */
    bool failed;        /* a call failed */
};

static void missed_note(struct stream *st, uint64_t n)
{
    char msg[96];
    int k = snprintf(msg, sizeof msg, "%s[drover: %llu bytes missed]%s", st->pty ? "\r\n" : "",
                     (unsigned long long)n, st->pty ? "\r\n" : "\n");
    (void)write_all(st->pty ? st->out_fd : STDERR_FILENO, msg, (size_t)k);
}

/* A stream frame of either kind, reduced to what the CLI does with it. */
struct frame_view {
    const ProtobufCBinaryData *bytes; /* output, or NULL */
    uint64_t missed;                  /* missed_bytes */
    bool exited;                      /* exit_code is set */
    int exit_code;                    /* with exited */
    const char *stolen;               /* stolen_by, or NULL */
    const char *error;                /* error, or NULL */
};

static void on_frame(struct attach *at, struct stream *st, const struct frame_view *v)
{
    if (v->bytes && buf_append(&st->out, v->bytes->data, v->bytes->len) < 0)
        (void)write_all(st->out_fd, v->bytes->data, v->bytes->len);
    else if (v->missed)
        missed_note(st, v->missed);
    else if (v->exited)
        at->exited = true, at->exit_code = v->exit_code;
    else if (v->stolen)
        snprintf(at->end_msg, sizeof at->end_msg, "another client took over %s", at->id);
    else if (v->error && st->pty && strcmp(v->error, "detached") == 0)
        at->detached = true;
    else if (v->error)
        snprintf(at->end_msg, sizeof at->end_msg, "%s: %s", at->id, v->error);
    /* else eof: the stream ended */
}

/* Reads a PtyStreamFrame or a PipeStreamFrame (the same oneof under other numbers) by its
 * descriptor: the member set, by name. */
static void view_of(const ProtobufCMessage *f, struct frame_view *v)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    const char *base = (const char *)f;

    *v = (struct frame_view){0};
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
            *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue;
        const void *val = base + fd->offset;
        if (fd->type == PROTOBUF_C_TYPE_BYTES)
            v->bytes = val;
        else if (!strcmp(fd->name, "missed_bytes"))
            v->missed = *(const uint64_t *)val;
        else if (!strcmp(fd->name, "exit_code"))
            v->exited = true, v->exit_code = *(const int32_t *)val;
        else if (!strcmp(fd->name, "stolen_by"))
            v->stolen = *(char *const *)val;
        else if (!strcmp(fd->name, "error"))
            v->error = *(char *const *)val;
    }
}

/* AttachPtyResponse and AttachPipeResponse: `attached` (the backlog), then `frame`s. */
static void on_stream_message(struct drover_call *call, const ProtobufCMessage *msg, void *userdata)
{
    struct attach *at = userdata;
    struct stream *st = at->s[0].call == call ? &at->s[0] : &at->s[1];
    const Drover__V1__AttachPtyResponse *m = (const void *)msg; /* same layout for pipes */
    struct frame_view v;

    if (m->msg_case == DROVER__V1__ATTACH_PTY_RESPONSE__MSG_ATTACHED) {
        const RunningProcess__Daemon__V1__AttachPtySessionResponse *a = m->attached;
        const ProtobufCBinaryData *b =
            st->pty ? &a->backlog
                    : &((const RunningProcess__Daemon__V1__AttachPipeStreamResponse *)(void *)a)
                           ->backlog;
        (void)write_all(st->out_fd, b->data, b->len);
    } else if (m->msg_case == DROVER__V1__ATTACH_PTY_RESPONSE__MSG_FRAME) {
        view_of(&m->frame->base, &v);
        on_frame(at, st, &v);
    }
}

static void on_stream_done(struct drover_call *call, const struct drover_status *st, void *userdata)
{
    struct attach *at = userdata;
    struct stream *s = NULL;
    for (size_t i = 0; i < at->n; i++)
        if (at->s[i].call == call)
            s = &at->s[i];
    if (s)
        s->done = true;
    if (s && st->code == 5 /* NOT_FOUND */ && strstr(st->message, "already exited")) {
        s->too_late = true; /* it ran to its end before we attached: nothing is lost */
        return;
    }
    if (st->code != 0 && st->code != 1 /* CANCELLED: ours */) {
        restore_terminal();
        cli_error("attach %s: %s", at->id, st->message);
        at->failed = true;
    }
}

static int send_input(struct attach *at, const void *p, size_t n, int what)
{
    Drover__V1__AttachPtyRequest req = DROVER__V1__ATTACH_PTY_REQUEST__INIT;
    RunningProcess__Daemon__V1__PtyInputFrame f =
        RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__INIT;
    RunningProcess__Daemon__V1__PtyResize rs = RUNNING_PROCESS__DAEMON__V1__PTY_RESIZE__INIT;

    req.msg_case = DROVER__V1__ATTACH_PTY_REQUEST__MSG_INPUT;
    req.input = &f;
    f.frame_case = what;
    if (what == RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_INPUT) {
        f.input.data = (uint8_t *)p;
        f.input.len = n;
    } else if (what == RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_RESIZE) {
        window_size(&rs.rows, &rs.cols);
        f.resize = &rs;
    } else {
        f.detach = true;
    }
    return drover_call_send(at->s[0].call, &req.base);
}

/* Keys from the terminal: everything up to the detach key goes to the session; the key
 * detaches. Returns true on a detach. */
static bool forward_keys(struct attach *at, const uint8_t *p, size_t n, bool tty)
{
    const uint8_t *k = tty ? memchr(p, DETACH_KEY, n) : NULL;
    size_t len = k ? (size_t)(k - p) : n;
    if (len)
        (void)send_input(at, p, len, RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_INPUT);
    if (!k)
        return false;
    (void)send_input(at, NULL, 0, RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_DETACH);
    return true;
}

/* Writes out what a round of frames brought. */
static void flush_output(struct attach *at)
{
    for (size_t i = 0; i < at->n; i++) {
        struct stream *st = &at->s[i];
        if (st->out.len)
            (void)write_all(st->out_fd, buf_head(&st->out), st->out.len);
        buf_reset(&st->out, 1u << 20);
    }
}

static bool all_done(const struct attach *at)
{
    for (size_t i = 0; i < at->n; i++)
        if (!at->s[i].done)
            return false;
    return true;
}

/* Input for a pipe session's stdin (drover run without --pty): sent with Send, closed at EOF. */
static void pipe_stdin(struct cli *cli, const char *id, bool *open)
{
    uint8_t buf[65536];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    RunningProcess__Daemon__V1__WritePipeStdinRequest req =
        RUNNING_PROCESS__DAEMON__V1__WRITE_PIPE_STDIN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    req.session_id = (char *)id;
    if (n > 0) {
        req.data.data = buf;
        req.data.len = (size_t)n;
    } else {
        req.close = true;
        *open = false;
    }
    /* The session may have exited meanwhile: its output still comes, so no error here. */
    if (drover_client_unary(cli->client, SESSIONS "WriteStdin", &req.base,
                            &running_process__daemon__v1__write_pipe_stdin_response__descriptor,
                            &resp, &(struct drover_status){0}, 30000) == 0 &&
        resp)
        protobuf_c_message_free_unpacked(resp, NULL);
}

/* Runs the attach until it ends; returns the exit code for the CLI. */
static int attach_loop(struct cli *cli, struct attach *at, bool keys, bool forward_stdin)
{
    sigset_t mask;
    bool tty = isatty(STDIN_FILENO), stdin_open = keys || forward_stdin;
    int sfd;

    sigemptyset(&mask);
    sigaddset(&mask, SIGWINCH);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (keys)
        raw_terminal();
    while (!all_done(at)) {
        struct pollfd p[3];
        if (drover_client_pollfd(cli->client, &p[0]) < 0)
            break;
        p[1] = (struct pollfd){.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN};
        p[2] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGWINCH && keys)
                    (void)send_input(at, NULL, 0,
                                     RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_RESIZE);
                else if (si.ssi_signo != SIGWINCH) {
                    /* Leave cleanly: the session runs on. */
                    for (size_t i = 0; i < at->n; i++)
                        if (!at->s[i].done)
                            drover_call_free(at->s[i].call), at->s[i].call = NULL,
                                                             at->s[i].done = true;
                    at->detached = true;
                }
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            uint8_t buf[4096];
            if (!keys) {
                pipe_stdin(cli, at->id, &stdin_open);
            } else {
                ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
                if (n <= 0 && errno != EINTR && errno != EAGAIN)
                    stdin_open = false; /* no more keys; the output goes on */
                else if (n > 0 && forward_keys(at, buf, (size_t)n, tty))
                    at->detached = true, stdin_open = false;
            }
        }
        if (drover_client_ready(cli->client, p[0].revents) < 0)
            break;
        flush_output(at);
    }
    flush_output(at);
    restore_terminal();
    if (sfd >= 0)
        close(sfd);
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    if (at->detached) {
        fprintf(stderr, "[detached from %s]\n", at->id);
        return 0;
    }
    if (at->end_msg[0]) {
        cli_error("%s", at->end_msg);
        return 1;
    }
    if (at->failed)
        return 1;
    if (!at->exited)
        return 0;
    return at->exit_code < 0 ? 128 - at->exit_code : at->exit_code & 0xff;
}

static int start_pty(struct cli *cli, struct attach *at, bool steal)
{
    Drover__V1__AttachPtyRequest req = DROVER__V1__ATTACH_PTY_REQUEST__INIT;
    RunningProcess__Daemon__V1__AttachPtySessionRequest a =
        RUNNING_PROCESS__DAEMON__V1__ATTACH_PTY_SESSION_REQUEST__INIT;

    req.msg_case = DROVER__V1__ATTACH_PTY_REQUEST__MSG_ATTACH;
    req.attach = &a;
    a.session_id = (char *)at->id;
    a.steal = steal;
    a.is_tty = isatty(STDOUT_FILENO);
    a.term = getenv("TERM") ? getenv("TERM") : "";
    window_size(&a.rows, &a.cols);
    at->n = 1;
    at->s[0] = (struct stream){.pty = true, .out_fd = STDOUT_FILENO};
    at->s[0].call = drover_call_start(cli->client, SESSIONS "AttachPty",
                                      &drover__v1__attach_pty_response__descriptor,
                                      on_stream_message, on_stream_done, at, 0);
    if (!at->s[0].call || drover_call_send(at->s[0].call, &req.base) < 0)
        return -1;
    return 0;
}

static int start_pipe(struct cli *cli, struct attach *at, bool steal, bool merged)
{
    at->n = merged ? 1 : 2;
    for (size_t i = 0; i < at->n; i++) {
        RunningProcess__Daemon__V1__AttachPipeStreamRequest req =
            RUNNING_PROCESS__DAEMON__V1__ATTACH_PIPE_STREAM_REQUEST__INIT;
        req.session_id = (char *)at->id;
        req.stream = i ? RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDERR
                       : RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDOUT;
        req.steal = steal;
        at->s[i] = (struct stream){.out_fd = i ? STDERR_FILENO : STDOUT_FILENO};
        at->s[i].call = drover_call_start(cli->client, SESSIONS "AttachPipe",
                                          &drover__v1__attach_pipe_response__descriptor,
                                          on_stream_message, on_stream_done, at, 0);
        if (!at->s[i].call || drover_call_send(at->s[i].call, &req.base) < 0 ||
            drover_call_close_send(at->s[i].call) < 0)
            return -1;
    }
    return 0;
}

/* GetBacklog of one stream: the response (free it with protobuf_c_message_free_unpacked), or
 * NULL after the error was printed. */
static RunningProcess__Daemon__V1__GetSessionBacklogResponse *get_backlog(struct cli *cli,
                                                                          const char *id, bool err)
{
    RunningProcess__Daemon__V1__GetSessionBacklogRequest req =
        RUNNING_PROCESS__DAEMON__V1__GET_SESSION_BACKLOG_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.session_id = (char *)id;
    req.pipe_stream = err ? RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDERR
                          : RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDOUT;
    if (cli_unary(cli, SESSIONS "GetBacklog", &req.base,
                  &running_process__daemon__v1__get_session_backlog_response__descriptor,
                  &resp) < 0)
        return NULL;
    return (void *)resp;
}

/* Prints the backlog of a stream that ended before its attach, and takes the exit code. */
static void replay(struct cli *cli, struct attach *at, struct stream *s, bool err)
{
    RunningProcess__Daemon__V1__GetSessionBacklogResponse *b = get_backlog(cli, at->id, err);

    if (!b) {
        at->failed = true;
        return;
    }
    (void)write_all(s->out_fd, b->backlog.data, b->backlog.len);
    at->exited = b->exited;
    at->exit_code = b->exit_code;
    protobuf_c_message_free_unpacked(&b->base, NULL);
}

/* A pipe session's streams may end (eof) before its exit is known: ask until it is. */
static void wait_exit(struct cli *cli, struct attach *at)
{
    for (int delay_ms = 2; !at->exited && !at->detached && !at->end_msg[0] && delay_ms < 60000;
         delay_ms = MIN(delay_ms * 2, 200)) {
        RunningProcess__Daemon__V1__GetSessionBacklogResponse *b = get_backlog(cli, at->id, false);
        if (!b)
            return;
        at->exited = b->exited;
        at->exit_code = b->exit_code;
        protobuf_c_message_free_unpacked(&b->base, NULL);
        if (!at->exited)
            nanosleep(&(struct timespec){0, delay_ms * 1000000L}, NULL);
    }
}

static int attach_session(struct cli *cli, const struct target *t, bool steal, bool stdin_pipe)
{
    struct attach at = {.cli = cli, .id = t->id};
    if (t->exited) {
        cli_error("session %s has already exited (drover backlog %s shows its output)", t->id,
                  t->id);
        return 1;
    }
    if ((t->pty ? start_pty(cli, &at, steal) : start_pipe(cli, &at, steal, t->merged)) < 0) {
        cli_error("attach %s: the connection to droverd failed", t->id);
        return 1;
    }
    int code = attach_loop(cli, &at, t->pty, stdin_pipe);
    for (size_t i = 0; i < at.n; i++)
        if (at.s[i].too_late) {
            replay(cli, &at, &at.s[i], i == 1);
            code = at.exit_code < 0 ? 128 - at.exit_code : at.exit_code & 0xff;
        }
    if (!t->pty && !at.failed && !at.detached) {
        wait_exit(cli, &at);
        code = at.exit_code < 0 ? 128 - at.exit_code : at.exit_code & 0xff;
    }
    for (size_t i = 0; i < at.n; i++) {
        if (at.s[i].call)
            drover_call_free(at.s[i].call);
        buf_done(&at.s[i].out);
    }
    return code;
}

/* Options, then one SESSION operand, found: true to go on, else false with *ret_code set (0
 * after --help, 2 for a usage error, 1 when no such session). */
static bool session_operand(struct cli *cli, const struct cli_command *self, int argc, char **argv,
                            const struct cli_option *opts,
                            int (*on_option)(void *, const struct cli_option *, const char *),
                            void *ctx, struct target *t, int *ret_code)
{
    int i = cli_parse(cli, self, argc, argv, 1, opts, on_option, ctx);

    if (i < 0)
        return *ret_code = cli_exit_code(i), false;
    if (i >= argc) {
        cli_error("%s: missing SESSION (see drover %s --help)", self->name, self->name);
        return *ret_code = EXIT_USAGE, false;
    }
    if (resolve(cli, argv[i], t) < 0)
        return *ret_code = 1, false;
    return true;
}

/* ---- attach ---- */

static const struct cli_option attach_opts[] = {
    {"--steal", NULL, "take the session from the client attached now"},
    {0},
};

static int flag_option(void *ctx, const struct cli_option *o, const char *value)
{
    (void)o;
    (void)value;
    *(bool *)ctx = true;
    return 0;
}

int cmd_attach(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    bool steal = false;
    struct target t;
    int code;

    if (!session_operand(cli, self, argc, argv, attach_opts, flag_option, &steal, &t, &code))
        return code;
    return attach_session(cli, &t, steal, false);
}

/* ---- run ---- */

struct run_opts {
    bool pty, detach, merge; /* flags */
    const char *name, *cwd;  /* values */
};

static const struct cli_option run_opts[] = {
    {"--pty", NULL, "run on a terminal (attach with Ctrl-\\ to detach)"},
    {"--name", "NAME", "a name to attach, send, kill by (the session's originator)"},
    {"--cwd", "DIR", "working directory (default: the current one)"},
    {"--detach", NULL, "print the session id and leave it running"},
    {"--merge", NULL, "pipes: stderr into stdout"},
    {0},
};

static int run_option(void *ctx, const struct cli_option *o, const char *value)
{
    struct run_opts *r = ctx;
    if (!strcmp(o->name, "--pty"))
        r->pty = true;
    else if (!strcmp(o->name, "--detach"))
        r->detach = true;
    else if (!strcmp(o->name, "--merge"))
        r->merge = true;
    else if (!strcmp(o->name, "--name"))
        r->name = value;
    else
        r->cwd = value;
    return 0;
}

int cmd_run(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    extern char **environ;
    struct run_opts o = {0};
    char cwd[4096] = "";
    ProtobufCMessage *resp = NULL;
    struct target t = {0};
    size_t n_env = 0;
    int i = cli_parse(cli, self, argc, argv, -1, run_opts, run_option, &o);

    if (i < 0)
        return cli_exit_code(i);
    if (i >= argc) {
        cli_error("run: missing the command (drover run [--pty] -- CMD [ARG]...)");
        return EXIT_USAGE;
    }
    if (!o.cwd)
        o.cwd = getcwd(cwd, sizeof cwd) ? cwd : "";
    /* The command runs with this shell's environment, as if started here. */
    while (environ[n_env])
        n_env++;
    _cleanup_free_ RunningProcess__Daemon__V1__KeyValue *kv = calloc(n_env + 1, sizeof *kv);
    _cleanup_free_ RunningProcess__Daemon__V1__KeyValue **pkv = calloc(n_env + 1, sizeof *pkv);
    if (!kv || !pkv)
        return 1;
    size_t k = 0;
    for (size_t e = 0; e < n_env; e++) {
        char *eq = strchr(environ[e], '=');
        if (!eq || eq == environ[e])
            continue;
        running_process__daemon__v1__key_value__init(&kv[k]);
        kv[k].key = strndup(environ[e], (size_t)(eq - environ[e]));
        kv[k].value = eq + 1;
        pkv[k] = &kv[k];
        k++;
    }
    const char *originator = o.name ? o.name : "client:drover";
    int r;
/* The fields both spawn requests have. */
#define SPAWN_COMMON(req)                                                                          \
    ((req).argv = argv + i, (req).n_argv = (size_t)(argc - i), (req).cwd = (char *)o.cwd,          \
     (req).env = pkv, (req).n_env = k, (req).clear_inherited_env = true,                           \
     (req).originator = (char *)originator)
    if (o.pty) {
        RunningProcess__Daemon__V1__SpawnPtySessionRequest req =
            RUNNING_PROCESS__DAEMON__V1__SPAWN_PTY_SESSION_REQUEST__INIT;
        SPAWN_COMMON(req);
        window_size(&req.rows, &req.cols);
        r = cli_unary(cli, SESSIONS "SpawnPty", &req.base,
                      &running_process__daemon__v1__spawn_pty_session_response__descriptor, &resp);
        if (r == 0)
            snprintf(t.id, sizeof t.id, "%s",
                     ((RunningProcess__Daemon__V1__SpawnPtySessionResponse *)resp)->session_id);
    } else {
        RunningProcess__Daemon__V1__SpawnPipeSessionRequest req =
            RUNNING_PROCESS__DAEMON__V1__SPAWN_PIPE_SESSION_REQUEST__INIT;
        SPAWN_COMMON(req);
        req.merge_stderr_into_stdout = o.merge;
        r = cli_unary(cli, SESSIONS "SpawnPipe", &req.base,
                      &running_process__daemon__v1__spawn_pipe_session_response__descriptor, &resp);
        if (r == 0)
            snprintf(t.id, sizeof t.id, "%s",
                     ((RunningProcess__Daemon__V1__SpawnPipeSessionResponse *)resp)->session_id);
    }
    for (size_t e = 0; e < k; e++)
        free(kv[e].key);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (r < 0)
        return 1;
    t.pty = o.pty;
    t.merged = o.merge;
    if (o.detach) {
        if (cli->json)
            cli_print_json(
                json_pack("{s:s, s:s}", "session_id", t.id, "kind", o.pty ? "pty" : "pipe"));
        else
            printf("%s\n", t.id);
        return 0;
    }
    return attach_session(cli, &t, false, !o.pty);
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

int cmd_sessions(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    ProtobufCMessage *a = NULL, *b = NULL;
    RunningProcess__Daemon__V1__ListPtySessionsRequest lr =
        RUNNING_PROCESS__DAEMON__V1__LIST_PTY_SESSIONS_REQUEST__INIT;
    RunningProcess__Daemon__V1__ListPipeSessionsRequest lp =
        RUNNING_PROCESS__DAEMON__V1__LIST_PIPE_SESSIONS_REQUEST__INIT;
    int i = cli_parse_common(cli, self, argc, argv, 0);

    if (i < 0)
        return cli_exit_code(i);
    if (cli_unary(cli, SESSIONS "ListPty", &lr.base,
                  &running_process__daemon__v1__list_pty_sessions_response__descriptor, &a) < 0 ||
        cli_unary(cli, SESSIONS "ListPipe", &lp.base,
                  &running_process__daemon__v1__list_pipe_sessions_response__descriptor, &b) < 0) {
        if (a)
            protobuf_c_message_free_unpacked(a, NULL);
        return 1;
    }
    const RunningProcess__Daemon__V1__ListPtySessionsResponse *pa = (const void *)a;
    const RunningProcess__Daemon__V1__ListPipeSessionsResponse *pb = (const void *)b;
    json_t *arr = cli->json ? json_array() : NULL;
    if (!cli->json && pa->n_sessions + pb->n_sessions == 0)
        printf("no sessions\n");
    else if (!cli->json)
        printf("%-32s %-4s %-8s %-16s %-8s %-8s %-14s %s\n", "ID", "KIND", "PID", "STATE",
               "ATTACHED", "AGE", "ORIGINATOR", "COMMAND");
    for (size_t k = 0; k < pa->n_sessions; k++) {
        const RunningProcess__Daemon__V1__PtySessionInfo *s = pa->sessions[k];
        if (arr) {
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:f, s:b, s:b, s:i, s:f, s:s, "
                               "s:i, s:i, s:b, s:s}",
                               "id", s->session_id, "kind", "pty", "pid", (int)s->pid, "command",
                               s->command, "cwd", s->cwd, "originator", s->originator, "created_at",
                               s->created_at, "attached", s->attached, "exited", s->exited,
                               "exit_code", s->exit_code, "exited_at", s->exited_at, "outcome",
                               outcome_word(s->termination_outcome), "rows", (int)s->rows, "cols",
                               (int)s->cols, "attached_is_tty", s->attached_is_tty, "attached_term",
                               s->attached_term));
            continue;
        }
        char st[32], ag[32];
        if (s->exited)
            snprintf(st, sizeof st, "exited %d", s->exit_code);
        else
            snprintf(st, sizeof st, "running %ux%u", s->cols, s->rows);
        age(s->created_at, ag, sizeof ag);
        printf("%-32s %-4s %-8u %-16s %-8s %-8s %-14s %s\n", s->session_id, "pty", s->pid, st,
               s->attached ? "yes" : "-", ag, s->originator, s->command);
    }
    for (size_t k = 0; k < pb->n_sessions; k++) {
        const RunningProcess__Daemon__V1__PipeSessionInfo *s = pb->sessions[k];
        if (arr) {
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:f, s:b, s:b, s:b, s:i, s:f, "
                               "s:s, s:b}",
                               "id", s->session_id, "kind", "pipe", "pid", (int)s->pid, "command",
                               s->command, "cwd", s->cwd, "originator", s->originator, "created_at",
                               s->created_at, "stdout_attached", s->stdout_attached,
                               "stderr_attached", s->stderr_attached, "exited", s->exited,
                               "exit_code", s->exit_code, "exited_at", s->exited_at, "outcome",
                               outcome_word(s->termination_outcome), "merge_stderr",
                               s->merge_stderr_into_stdout));
            continue;
        }
        char st[32], ag[32], att[16];
        if (s->exited)
            snprintf(st, sizeof st, "exited %d", s->exit_code);
        else
            snprintf(st, sizeof st, "running");
        snprintf(att, sizeof att, "%s%s%s", s->stdout_attached ? "out" : "",
                 s->stdout_attached && s->stderr_attached ? "+" : "",
                 s->stderr_attached ? "err" : "");
        age(s->created_at, ag, sizeof ag);
        printf("%-32s %-4s %-8u %-16s %-8s %-8s %-14s %s\n", s->session_id, "pipe", s->pid, st,
               att[0] ? att : "-", ag, s->originator, s->command);
    }
    if (arr)
        cli_print_json(arr);
    protobuf_c_message_free_unpacked(a, NULL);
    protobuf_c_message_free_unpacked(b, NULL);
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
    if (cli_unary(cli, SESSIONS "Send", &req.base,
                  &running_process__daemon__v1__write_pipe_stdin_response__descriptor, &resp) < 0)
        return -1;
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int cmd_send(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    struct send_opts o = {0};
    struct target t;
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
    struct target t;
    int code;

    if (!session_operand(cli, self, argc, argv, opts, flag_option, &err, &t, &code))
        return code;
    RunningProcess__Daemon__V1__GetSessionBacklogResponse *b = get_backlog(cli, t.id, err);
    if (!b)
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
        (void)write_all(STDOUT_FILENO, b->backlog.data, b->backlog.len);
    }
    protobuf_c_message_free_unpacked(&b->base, NULL);
    return 0;
}

/* ---- kill ---- */

static int grace_option(void *ctx, const struct cli_option *o, const char *value)
{
    char *end;
    (void)o;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (errno || end == value || *end || v > UINT32_MAX || value[0] == '-') {
        cli_error("kill: --grace needs milliseconds, not '%s'", value);
        return -1;
    }
    *(uint32_t *)ctx = (uint32_t)v;
    return 0;
}

int cmd_kill(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--grace", "MS", "SIGKILL after MS milliseconds (default 2000; 0: the default)"}, {0}};
    uint32_t grace = 0;
    ProtobufCMessage *resp = NULL;
    struct target t;
    int code;

    if (!session_operand(cli, self, argc, argv, opts, grace_option, &grace, &t, &code))
        return code;
    int r;
    if (t.pty) {
        RunningProcess__Daemon__V1__TerminatePtySessionRequest req =
            RUNNING_PROCESS__DAEMON__V1__TERMINATE_PTY_SESSION_REQUEST__INIT;
        req.session_id = t.id;
        req.grace_ms = grace;
        r = cli_unary(cli, SESSIONS "TerminatePty", &req.base,
                      &running_process__daemon__v1__terminate_pty_session_response__descriptor,
                      &resp);
    } else {
        RunningProcess__Daemon__V1__TerminatePipeSessionRequest req =
            RUNNING_PROCESS__DAEMON__V1__TERMINATE_PIPE_SESSION_REQUEST__INIT;
        req.session_id = t.id;
        req.grace_ms = grace;
        r = cli_unary(cli, SESSIONS "TerminatePipe", &req.base,
                      &running_process__daemon__v1__terminate_pipe_session_response__descriptor,
                      &resp);
    }
    if (r < 0)
        return 1;
    protobuf_c_message_free_unpacked(resp, NULL);
    if (!cli->json)
        printf("%s: %s\n", t.id, t.exited ? "already exited" : "terminating");
    return 0;
}

/* ---- purge ---- */

static int value_option(void *ctx, const struct cli_option *o, const char *value)
{
    (void)o;
    *(const char **)ctx = value;
    return 0;
}

int cmd_purge(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    static const struct cli_option opts[] = {
        {"--originator", "O", "only sessions with this originator"}, {0}};
    const char *orig = NULL;
    RunningProcess__Daemon__V1__PurgeExitedSessionsRequest req =
        RUNNING_PROCESS__DAEMON__V1__PURGE_EXITED_SESSIONS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int i = cli_parse(cli, self, argc, argv, 0, opts, value_option, &orig);

    if (i < 0)
        return cli_exit_code(i);
    req.originator = (char *)(orig ? orig : "");
    if (cli_unary(cli, SESSIONS "PurgeExited", &req.base,
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
