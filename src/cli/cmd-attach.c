/* drover attach and drover run: this terminal (or this process's stdin, stdout and stderr)
 * attached to a session droverd owns, over drover.v1.Sessions' AttachPty and AttachPipe streams.
 *
 * attach puts the terminal in raw mode and restores it on every way out: a detach (Ctrl-\, as in
 * dtach), the session's end, a stolen attachment, droverd going away, SIGTERM, SIGHUP or SIGINT.
 * The signals it cares about (those, and SIGWINCH for the window size) are blocked and read from
 * a signalfd in the same poll(2) as the terminal and the connection, so no handler runs at an
 * awkward moment. A pipe session gets this process's stdin through WriteStdin, and its stdout
 * and stderr streams go to ours; a stream that ended before the attach is replayed from its
 * backlog. The exit code is the session's (128 + signal for a signal), 0 after a detach.
 *
 * Staying attached. Each stream counts the output position it has printed up to (the attach
 * answer's position, then every byte and missed byte). When droverd ends the streams to upgrade
 * in place, or the connection drops while droverd comes back, the loop connects again and
 * re-attaches from there (stealing its own stale attachment), the terminal still raw and nothing
 * printed: the user sees a pause at most, and no byte twice (drover_resume bounds the wait).
 * cmd-sessions.c names the sessions (cli_session_operand) and fetches backlogs. */
#include <errno.h>
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

#define DETACH_KEY 0x1c /* Ctrl-\ */

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

/* ---- attach loops ---- */

struct stream {
    struct drover_call *call; /* AttachPty or AttachPipe */
    bool pty;                 /* which */
    int out_fd;               /* where output goes */
    bool done;                /* the call ended */
    bool too_late;            /* the session exited before this attach: print its backlog */
    bool resume;              /* it ended for droverd going away for a moment: attach again */
    bool have_pos;            /* the attach was answered: pos is known */
    uint64_t pos;             /* the output position after the last byte printed (or missed) */
    struct buf out;           /* output of this round, written at its end (fewer writes) */
};

struct attach {
    struct cli *cli;             /* for the calls */
    const char *id;              /* the session */
    bool steal;                  /* attach --steal */
    struct stream s[2];          /* PTY, or stdout and stderr */
    size_t n;                    /* streams */
    bool exited;                 /* the session's exit was seen */
    int exit_code;               /* its code */
    bool detached;               /* ended by a detach (ours or someone else's) */
    char end_msg[256];           /* why it ended otherwise, for stderr */
    bool failed;                 /* a call failed */
    struct drover_resume resume; /* reconnecting after droverd went away */
    struct drover_status gone;   /* how the streams to resume ended, should that fail */
};

static void missed_note(struct stream *st, uint64_t n)
{
    char msg[96];
    int k = snprintf(msg, sizeof msg, "%s[drover: %llu bytes missed]%s", st->pty ? "\r\n" : "",
                     (unsigned long long)n, st->pty ? "\r\n" : "\n");
    (void)cli_write_all(st->pty ? st->out_fd : STDERR_FILENO, msg, (size_t)k);
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
    if (v->bytes)
        st->pos += v->bytes->len;
    st->pos += v->missed;
    if (v->bytes && buf_append(&st->out, v->bytes->data, v->bytes->len) < 0)
        (void)cli_write_all(st->out_fd, v->bytes->data, v->bytes->len);
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
        (void)cli_write_all(st->out_fd, b->data, b->len);
        st->pos = m->position + b->len;
        st->have_pos = true;
        drover_resume_answered(&at->resume);
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
    if (s && drover_resume_wanted(&at->resume, st)) {
        s->resume = true; /* droverd upgrading in place, or restarting: nothing to say yet */
        at->gone = *st;
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
            (void)cli_write_all(st->out_fd, buf_head(&st->out), st->out.len);
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
    if (drover_client_unary(cli->client, CLI_SESSIONS "WriteStdin", &req.base,
                            &running_process__daemon__v1__write_pipe_stdin_response__descriptor,
                            &resp, &(struct drover_status){0}, 30000) == 0 &&
        resp)
        protobuf_c_message_free_unpacked(resp, NULL);
}

/* The session's exit code as this process's: 128 + the signal for a signal (negative). */
static int exit_status(const struct attach *at)
{
    return at->exit_code < 0 ? 128 - at->exit_code : at->exit_code & 0xff;
}

/* Signals read from the signalfd: SIGWINCH resizes the session's terminal; the others end the
 * attach cleanly, the session running on. */
static void on_signals(struct attach *at, int sfd, bool keys)
{
    struct signalfd_siginfo si;

    while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH && keys)
            (void)send_input(at, NULL, 0,
                             RUNNING_PROCESS__DAEMON__V1__PTY_INPUT_FRAME__FRAME_RESIZE);
        else if (si.ssi_signo != SIGWINCH) {
            /* Leave cleanly: the session runs on. */
            for (size_t i = 0; i < at->n; i++)
                if (!at->s[i].done)
                    drover_call_free(at->s[i].call), at->s[i].call = NULL, at->s[i].done = true;
            at->detached = true;
        }
    }
}

/* stdin is readable: keys for a PTY session, else input for a pipe session's stdin. */
static void on_stdin(struct cli *cli, struct attach *at, bool keys, bool tty, bool *stdin_open)
{
    uint8_t buf[4096];

    if (!keys) {
        pipe_stdin(cli, at->id, stdin_open);
        return;
    }
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0 && errno != EINTR && errno != EAGAIN)
        *stdin_open = false; /* no more keys; the output goes on */
    else if (n > 0 && forward_keys(at, buf, (size_t)n, tty))
        at->detached = true, *stdin_open = false;
}

/* Polls the connection, the keys (or stdin) and the signals until every stream ended or the
 * connection failed. */
static void run_streams(struct cli *cli, struct attach *at, int sfd, bool keys, bool *stdin_open)
{
    bool tty = isatty(STDIN_FILENO);

    while (!all_done(at)) {
        struct pollfd p[3];
        if (drover_client_pollfd(cli->client, &p[0]) < 0)
            break;
        p[1] = (struct pollfd){.fd = *stdin_open ? STDIN_FILENO : -1, .events = POLLIN};
        p[2] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        /* The connection first: keys read after a stream's end (droverd upgrading) wait in the
         * terminal for the stream that resumes it, instead of going to the one that ended. */
        if (drover_client_ready(cli->client, p[0].revents) < 0)
            break;
        if (p[2].revents & POLLIN)
            on_signals(at, sfd, keys);
        if ((p[1].revents & (POLLIN | POLLHUP)) && !all_done(at))
            on_stdin(cli, at, keys, tty, stdin_open);
        flush_output(at);
    }
    flush_output(at);
}

static int start_stream(struct cli *cli, struct attach *at, size_t i, bool steal);

/* Streams that ended for droverd going away attach again, on a new connection, from the
 * position each printed up to. Returns whether they did; if not, why is reported. */
static bool reattach(struct cli *cli, struct attach *at)
{
    bool any = false;

    for (size_t i = 0; i < at->n; i++)
        any |= at->s[i].resume;
    if (!any || at->detached)
        return false;
    /* Every call goes with the old connection: the ones to resume are made again. */
    for (size_t i = 0; i < at->n; i++) {
        drover_call_free(at->s[i].call);
        at->s[i].call = NULL;
    }
    if (drover_resume_connect(&at->resume, &cli->target, &cli->client) < 0) {
        restore_terminal();
        cli_error("attach %s: %s", at->id, at->gone.message);
        at->failed = true;
        return false;
    }
    for (size_t i = 0; i < at->n; i++) {
        struct stream *st = &at->s[i];
        if (!st->resume)
            continue;
        st->resume = st->done = false;
        /* The attachment the previous connection left, if droverd still has it, is ours. */
        if (start_stream(cli, at, i, true) < 0)
            st->resume = st->done = true; /* the new connection failed too: the next round */
    }
    return true;
}

/* Runs the attach until it ends; returns the exit code for the CLI. */
static int attach_loop(struct cli *cli, struct attach *at, bool keys, bool forward_stdin)
{
    sigset_t mask;
    bool stdin_open = keys || forward_stdin;
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
    do
        run_streams(cli, at, sfd, keys, &stdin_open);
    while (reattach(cli, at));
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
    return exit_status(at);
}

/* The position to resume stream i from, as AttachPipe takes it (metadata), in buf. */
static size_t resume_header(const struct stream *st, char buf[24], struct drover_header *ret)
{
    if (!st->have_pos)
        return 0;
    snprintf(buf, 24, "%llu", (unsigned long long)st->pos);
    *ret = (struct drover_header){"drover-resume-from", buf};
    return 1;
}

/* Starts stream i's attach call: a first attach, or (once answered) a resume from its
 * position. */
static int start_stream(struct cli *cli, struct attach *at, size_t i, bool steal)
{
    struct stream *st = &at->s[i];
    const ProtobufCMessage *m;
    Drover__V1__AttachPtyRequest req = DROVER__V1__ATTACH_PTY_REQUEST__INIT;
    RunningProcess__Daemon__V1__AttachPtySessionRequest a =
        RUNNING_PROCESS__DAEMON__V1__ATTACH_PTY_SESSION_REQUEST__INIT;
    Google__Protobuf__UInt64Value from = GOOGLE__PROTOBUF__UINT64_VALUE__INIT;
    RunningProcess__Daemon__V1__AttachPipeStreamRequest p =
        RUNNING_PROCESS__DAEMON__V1__ATTACH_PIPE_STREAM_REQUEST__INIT;
    struct drover_header md;
    char pos[24];
    size_t n_md = 0;

    if (st->pty) {
        req.msg_case = DROVER__V1__ATTACH_PTY_REQUEST__MSG_ATTACH;
        req.attach = &a;
        a.session_id = (char *)at->id;
        a.steal = steal;
        a.is_tty = isatty(STDOUT_FILENO);
        a.term = getenv("TERM") ? getenv("TERM") : "";
        window_size(&a.rows, &a.cols);
        from.value = st->pos;
        req.resume_from = st->have_pos ? &from : NULL;
        m = &req.base;
    } else {
        p.session_id = (char *)at->id;
        p.stream = i ? RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDERR
                     : RUNNING_PROCESS__DAEMON__V1__PIPE_STREAM_KIND__PIPE_STREAM_KIND_STDOUT;
        p.steal = steal;
        n_md = resume_header(st, pos, &md);
        m = &p.base;
    }
    st->call = drover_call_start_md(cli->client,
                                    st->pty ? CLI_SESSIONS "AttachPty" : CLI_SESSIONS "AttachPipe",
                                    st->pty ? &drover__v1__attach_pty_response__descriptor
                                            : &drover__v1__attach_pipe_response__descriptor,
                                    on_stream_message, on_stream_done, at, 0, &md, n_md);
    if (!st->call || drover_call_send(st->call, m) < 0 ||
        (!st->pty && drover_call_close_send(st->call) < 0))
        return -1;
    return 0;
}

static int start_attach(struct cli *cli, struct attach *at, bool pty, bool merged)
{
    at->n = pty || merged ? 1 : 2;
    for (size_t i = 0; i < at->n; i++) {
        at->s[i] = (struct stream){.pty = pty, .out_fd = i ? STDERR_FILENO : STDOUT_FILENO};
        if (start_stream(cli, at, i, at->steal) < 0)
            return -1;
    }
    return 0;
}

/* Prints the backlog of a stream that ended before its attach, and takes the exit code. */
static void replay(struct cli *cli, struct attach *at, struct stream *s, bool err)
{
    RunningProcess__Daemon__V1__GetSessionBacklogResponse *b;

    if (cli_session_backlog(cli, at->id, err, &b) < 0) {
        at->failed = true;
        return;
    }
    (void)cli_write_all(s->out_fd, b->backlog.data, b->backlog.len);
    at->exited = b->exited;
    at->exit_code = b->exit_code;
    protobuf_c_message_free_unpacked(&b->base, NULL);
}

/* A pipe session's streams may end (eof) before its exit is known: ask until it is. */
static void wait_exit(struct cli *cli, struct attach *at)
{
    for (int delay_ms = 2; !at->exited && !at->detached && !at->end_msg[0] && delay_ms < 60000;
         delay_ms = MIN(delay_ms * 2, 200)) {
        RunningProcess__Daemon__V1__GetSessionBacklogResponse *b;
        if (cli_session_backlog(cli, at->id, false, &b) < 0)
            return;
        at->exited = b->exited;
        at->exit_code = b->exit_code;
        protobuf_c_message_free_unpacked(&b->base, NULL);
        if (!at->exited)
            nanosleep(&(struct timespec){0, delay_ms * 1000000L}, NULL);
    }
}

static int attach_session(struct cli *cli, const struct cli_session *t, bool steal, bool stdin_pipe)
{
    struct attach at = {.cli = cli, .id = t->id, .steal = steal};
    if (t->exited) {
        cli_error("session %s has already exited (drover backlog %s shows its output)", t->id,
                  t->id);
        return 1;
    }
    if (start_attach(cli, &at, t->pty, t->merged) < 0) {
        cli_error("attach %s: the connection to droverd failed", t->id);
        return 1;
    }
    int code = attach_loop(cli, &at, t->pty, stdin_pipe);
    for (size_t i = 0; i < at.n; i++)
        if (at.s[i].too_late) {
            replay(cli, &at, &at.s[i], i == 1);
            code = exit_status(&at);
        }
    if (!t->pty && !at.failed && !at.detached) {
        wait_exit(cli, &at);
        code = exit_status(&at);
    }
    for (size_t i = 0; i < at.n; i++) {
        if (at.s[i].call)
            drover_call_free(at.s[i].call);
        buf_done(&at.s[i].out);
    }
    return code;
}

/* ---- attach ---- */

static const struct cli_option attach_opts[] = {
    {"--steal", NULL, "take the session from the client attached now"},
    {0},
};

int cmd_attach(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    bool steal = false;
    struct cli_session t;
    int r = cli_session_operand(cli, self, argc, argv, attach_opts, cli_option_flag, &steal, &t);

    if (r < 0)
        return cli_exit_code(r);
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

/* This process's environment, for a command that runs as if started here. */
struct run_env {
    RunningProcess__Daemon__V1__KeyValue *kv;   /* the variables; their keys are ours */
    RunningProcess__Daemon__V1__KeyValue **pkv; /* pointers to them, as the requests want */
    size_t n;                                   /* how many */
};

static int run_env_init(struct run_env *env)
{
    extern char **environ;
    size_t n_env = 0;

    while (environ[n_env])
        n_env++;
    *env = (struct run_env){.kv = calloc(n_env + 1, sizeof *env->kv),
                            .pkv = calloc(n_env + 1, sizeof *env->pkv)};
    if (!env->kv || !env->pkv) {
        free(env->kv);
        free(env->pkv);
        return -ENOMEM;
    }
    for (size_t e = 0; e < n_env; e++) {
        char *eq = strchr(environ[e], '=');
        if (!eq || eq == environ[e])
            continue;
        RunningProcess__Daemon__V1__KeyValue *kv = &env->kv[env->n];
        running_process__daemon__v1__key_value__init(kv);
        kv->key = strndup(environ[e], (size_t)(eq - environ[e]));
        kv->value = eq + 1;
        env->pkv[env->n++] = kv;
    }
    return 0;
}

static void run_env_done(struct run_env *env)
{
    for (size_t e = 0; e < env->n; e++)
        free(env->kv[e].key);
    free(env->kv);
    free(env->pkv);
}

/* SpawnPty or SpawnPipe of the command line argv: the new session in *ret. Returns -1 after the
 * error was printed (or on out-of-memory). */
static int spawn_session(struct cli *cli, const struct run_opts *o, int argc, char **argv,
                         struct cli_session *ret)
{
    const char *originator = o->name ? o->name : "client:drover";
    ProtobufCMessage *resp = NULL;
    struct run_env env;
    int r;

    if (run_env_init(&env) < 0)
        return -1;
/* The fields both spawn requests have. */
#define SPAWN_COMMON(req)                                                                          \
    ((req).argv = argv, (req).n_argv = (size_t)argc, (req).cwd = (char *)o->cwd,                   \
     (req).env = env.pkv, (req).n_env = env.n, (req).clear_inherited_env = true,                   \
     (req).originator = (char *)originator)
    if (o->pty) {
        RunningProcess__Daemon__V1__SpawnPtySessionRequest req =
            RUNNING_PROCESS__DAEMON__V1__SPAWN_PTY_SESSION_REQUEST__INIT;
        SPAWN_COMMON(req);
        window_size(&req.rows, &req.cols);
        r = cli_unary(cli, CLI_SESSIONS "SpawnPty", &req.base,
                      &running_process__daemon__v1__spawn_pty_session_response__descriptor, &resp);
        if (r == 0)
            snprintf(ret->id, sizeof ret->id, "%s",
                     ((RunningProcess__Daemon__V1__SpawnPtySessionResponse *)resp)->session_id);
    } else {
        RunningProcess__Daemon__V1__SpawnPipeSessionRequest req =
            RUNNING_PROCESS__DAEMON__V1__SPAWN_PIPE_SESSION_REQUEST__INIT;
        SPAWN_COMMON(req);
        req.merge_stderr_into_stdout = o->merge;
        r = cli_unary(cli, CLI_SESSIONS "SpawnPipe", &req.base,
                      &running_process__daemon__v1__spawn_pipe_session_response__descriptor, &resp);
        if (r == 0)
            snprintf(ret->id, sizeof ret->id, "%s",
                     ((RunningProcess__Daemon__V1__SpawnPipeSessionResponse *)resp)->session_id);
    }
#undef SPAWN_COMMON
    run_env_done(&env);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (r < 0)
        return r;
    ret->pty = o->pty;
    ret->merged = o->merge;
    ret->exited = false;
    return 0;
}

int cmd_run(struct cli *cli, const struct cli_command *self, int argc, char **argv)
{
    struct run_opts o = {0};
    char cwd[4096] = "";
    struct cli_session t = {0};
    int i = cli_need_operand(self, cli_parse(cli, self, argc, argv, -1, run_opts, run_option, &o),
                             argc, "the command", "drover run [--pty] -- CMD [ARG]...");

    if (i < 0)
        return cli_exit_code(i);
    if (!o.cwd)
        o.cwd = getcwd(cwd, sizeof cwd) ? cwd : "";
    if (spawn_session(cli, &o, argc - i, argv + i, &t) < 0)
        return 1;
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
