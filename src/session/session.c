/* Sessions (see session.h): spawning a program on a PTY or pipes, reading its output into
 * rings, writing its input, attachments, terminate with a grace period, exit.
 *
 * Output is read straight into the ring (read(2) into ring_space), up to READ_BUDGET bytes per
 * wake-up so one chatty session cannot starve the loop; then the attachments are told.
 *
 * Flow control: while a client is attached and reading, the session never overwrites bytes it
 * has not sent: when the client is a ring behind, reading stops and the program waits in
 * write(2), as it would on a pipe to a slow reader; `drover run -- cmd > file` loses nothing.
 * A client that takes nothing at all for stall_ms stops holding the program back: from then on
 * the ring drops its oldest bytes and the client is told how many it missed, until it catches
 * up. Memory is the ring's either way.
 *
 * When the program exits, what it wrote is still in the kernel's buffers: the exit handler reads
 * it (as flow control allows; the rest as the client takes it), and a stream ends when its
 * buffer is empty. Descriptors close then (processes the program left behind lose their
 * terminal or get SIGPIPE, as with dtach).
 *
 * Lifetime: a session is referenced by the manager's list, each attachment, and each libuv
 * handle until its close callback; the last unref frees it. Purging only unlists. */
#include "session/session-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/time-util.h"
#include "proc/proc.h"

#define READ_CHUNK  (64u << 10)  /* most bytes one read(2) asks for */
#define READ_BUDGET (256u << 10) /* most bytes read from one fd per wake-up */

static double now_epoch(void)
{
    return (double)now_ns(CLOCK_REALTIME) / 1e9;
}

int sess_mgr_new(uv_loop_t *loop, struct proc_reaper *reaper, const struct sess_limits *lim,
                 struct sess_mgr **ret)
{
    struct sess_mgr *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->loop = loop;
    m->reaper = reaper;
    m->lim = *lim;
    m->hold_fd = -1;
    *ret = m;
    return 0;
}

size_t sess_mgr_count(const struct sess_mgr *m)
{
    return m->count;
}

struct session *sess_find(struct sess_mgr *m, const char *id)
{
    for (struct session *s = m->sessions.first; s; s = s->link.next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

struct session *sess_next(struct sess_mgr *m, struct session *prev)
{
    return prev ? prev->link.next : m->sessions.first;
}

void sess_free(struct session *s)
{
    sess_tees_release(s);
    for (int i = 0; i < 2; i++)
        ring_done(&s->out[i].ring);
    buf_done(&s->input);
    free(s->command);
    free(s->cwd);
    free(s->originator);
    free(s->attached_term);
    free(s->attached_caps);
    free(s);
}

void sess_unref(struct session *s)
{
    if (--s->refs == 0)
        sess_free(s);
}

void sess_unlist(struct session *s)
{
    struct sess_mgr *m = s->m;
    if (!s->listed)
        return;
    s->listed = false;
    DQUEUE_REMOVE(&m->sessions, s, link);
    m->count--;
    sess_publish(s, "removed");
    sess_unref(s);
}

/* ---- descriptors -------------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    sess_unref(h->data);
}

static void fd_close(struct sess_fd *f)
{
    if (f->handle_open) {
        f->handle_open = false;
        f->poll.data = f->s;
        uv_close((uv_handle_t *)&f->poll, handle_closed);
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    f->events = 0;
}

static bool is_reader(const struct session *s, const struct sess_fd *f, int *ret_stream)
{
    for (int i = 0; i < 2; i++)
        if (s->out[i].src == f) {
            *ret_stream = i;
            return true;
        }
    return false;
}

static void poll_cb(uv_poll_t *p, int status, int events);
void sess_arm_stall(struct session *s);

/* Bytes the stream may read before it would overwrite what its attached client has not taken
 * (SIZE_MAX when nobody holds it back). */
static size_t room_for(const struct sess_out *o)
{
    const struct sess_attach *a = o->att;
    /* An attachment told to end after its last byte (the program exited) still reads: it
     * holds the stream back until it has taken everything, or stalls. */
    if (!a || a->lossy || (a->end != SESS_END_NONE && a->end_now))
        return SIZE_MAX;
    uint64_t behind = o->ring.end - a->pos;
    return behind >= o->ring.cap ? 0 : (size_t)(o->ring.cap - behind);
}

/* Whether the attached client holds the stream back now (with some hysteresis: reading
 * resumes once a useful amount of room is free). */
bool sess_held_back(const struct sess_out *o)
{
    return room_for(o) < MIN((size_t)READ_CHUNK, o->ring.cap / 4);
}

static void update_fd(struct sess_fd *f)
{
    struct session *s = f->s;
    int want = 0, st;

    if (f->fd < 0)
        return;
    if (is_reader(s, f, &st) && !s->out[st].eof && !tee_blocked(s->out[st].tees)) {
        if (!sess_held_back(&s->out[st]))
            want |= UV_READABLE;
        else
            sess_arm_stall(s);
    }
    if (f == s->in && s->input.len)
        want |= UV_WRITABLE;
    if (want == f->events)
        return;
    f->events = want;
    if (want)
        uv_poll_start(&f->poll, want, poll_cb);
    else
        uv_poll_stop(&f->poll);
}

void sess_update_polls(struct session *s)
{
    for (int i = 0; i < 3; i++)
        update_fd(&s->fds[i]);
}

int sess_fd_open(struct session *s, struct sess_fd *f, int fd)
{
    f->s = s;
    f->fd = fd;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int r = uv_poll_init(s->m->loop, &f->poll, fd);
    if (r < 0)
        return r;
    f->poll.data = f;
    f->handle_open = true;
    s->refs++; /* dropped by the close callback */
    return 0;
}

/* ---- output ------------------------------------------------------------------------------- */

static void notify(struct sess_out *o)
{
    struct sess_attach *a = o->att;
    if (a)
        a->ops->on_ready(a, a->userdata);
}

/* Keeps the drain mark and the missed count true after the ring dropped its oldest bytes. */
static void account_drop(struct sess_out *o, uint64_t start_before)
{
    uint64_t from = MAX(start_before, o->mark);
    if (o->ring.start > from)
        o->missed += o->ring.start - from;
    o->mark = MAX(o->mark, o->ring.start);
}

/* Reads what the source has, up to budget bytes and as flow control allows. Returns bytes
 * read; sets eof at end of file (EIO on a PTY whose other side is closed) and *ret_empty when
 * the source had nothing more to give. */
static size_t read_out(struct sess_out *o, size_t budget, bool *ret_empty)
{
    size_t total = 0;

    *ret_empty = false;
    while (total < budget && o->src && o->src->fd >= 0 && !o->eof) {
        uint8_t *p;
        size_t room, lim = room_for(o);
        if (sess_held_back(o) || ring_space(&o->ring, READ_CHUNK, &p, &room) < 0)
            break;
        ssize_t n = read(o->src->fd, p, MIN(room, lim));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            *ret_empty = true;
            break;
        }
        if (n <= 0) {
            o->eof = true;
            break;
        }
        uint64_t start = o->ring.start;
        ring_commit(&o->ring, (size_t)n);
        account_drop(o, start);
        tee_feed(o->tees, p, (size_t)n);
        struct session *s = o->src->s;
        if (s->owner && s->owner->on_data)
            s->owner->on_data(s, (enum sess_stream)(o - s->out), p, (size_t)n, s->owner_data);
        total += (size_t)n;
        /* A short read emptied the buffer: asking again only to hear EAGAIN costs a PTY a
         * wait for the kernel's flush worker (n_tty_read), a third of the throughput. */
        if (tee_blocked(o->tees) || (size_t)n < MIN(room, lim))
            break;
    }
    return total;
}

void sess_end_attachment(struct sess_attach *a, enum sess_end why, bool now, int code)
{
    if (!a || a->end != SESS_END_NONE)
        return;
    a->end = why;
    a->end_now = now;
    a->exit_code = code;
}

static void on_out_eof(struct session *s, struct sess_out *o)
{
    /* A PTY's end of output is not the end of its attachment: the exit is. */
    if (s->kind == SESS_PIPE)
        sess_end_attachment(o->att, SESS_END_EOF, false, 0);
    tee_close_all(&o->tees, false);
    if (o->src && (s->exited || !(s->kind == SESS_PTY && o->src == s->in)))
        fd_close(o->src);
}

/* ---- input -------------------------------------------------------------------------------- */

static void finish_writes(struct session *s, int r)
{
    while (s->writes && (r < 0 || s->writes->target <= s->in_written)) {
        struct sess_write *w = s->writes;
        s->writes = w->next;
        w->next = NULL;
        w->s = NULL;
        w->done(w, r);
    }
}

static void close_stdin_now(struct session *s)
{
    s->stdin_closed = true;
    s->stdin_closing = false;
    if (s->kind == SESS_PIPE && s->in)
        fd_close(s->in);
    if (s->held) /* the holder's copy of stdin would keep the program from seeing its end */
        sess_hold_put(s);
}

static void flush_input(struct session *s)
{
    int r = 0;

    while (s->input.len && s->in && s->in->fd >= 0) {
        ssize_t n = write(s->in->fd, buf_head(&s->input), s->input.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno != EAGAIN)
                r = -errno;
            break;
        }
        buf_consume(&s->input, (size_t)n);
        s->in_written += (size_t)n;
    }
    if (r < 0) { /* the program closed its input (EPIPE) or the terminal went (EIO) */
        buf_reset(&s->input, 0);
        s->in_written = s->in_queued;
        finish_writes(s, -EPIPE);
        if (s->kind == SESS_PIPE)
            close_stdin_now(s);
        return;
    }
    if (!s->input.len)
        buf_reset(&s->input, 64u << 10);
    finish_writes(s, 0);
    if (!s->input.len && s->stdin_closing)
        close_stdin_now(s);
}

int sess_write(struct session *s, const void *data, size_t n, struct sess_write *w)
{
    if (s->exited || s->stdin_closed || s->stdin_closing || !s->in || s->in->fd < 0)
        return -EPIPE;
    if (s->input.len + n > s->m->lim.input_max)
        return -ENOBUFS;
    if (n) {
        int r = buf_append(&s->input, data, n);
        if (r < 0)
            return r;
        s->in_queued += n;
        tee_feed(s->in_tees, data, n);
        if (s->owner && s->owner->on_data)
            s->owner->on_data(s, SESS_IN, data, n, s->owner_data);
    }
    if (w) {
        w->s = s;
        w->target = s->in_queued;
        w->next = NULL;
        struct sess_write **pp = &s->writes;
        while (*pp)
            pp = &(*pp)->next;
        *pp = w;
    }
    flush_input(s);
    update_fd(s->in);
    return 0;
}

void sess_write_cancel(struct sess_write *w)
{
    if (!w->s)
        return;
    for (struct sess_write **pp = &w->s->writes; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    w->s = NULL;
    w->next = NULL;
}

size_t sess_input_pending(const struct session *s)
{
    return s->input.len;
}

int sess_close_stdin(struct session *s)
{
    if (s->kind != SESS_PIPE)
        return -EINVAL;
    if (s->stdin_closed || s->stdin_closing || s->exited)
        return 0;
    s->stdin_closing = true;
    if (!s->input.len)
        close_stdin_now(s);
    return 0;
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    struct sess_fd *f = p->data;
    struct session *s = f->s;
    int st;

    s->refs++; /* attachments' callbacks may purge */
    if (status < 0)
        events = UV_READABLE | (f == s->in ? UV_WRITABLE : 0); /* find out by reading */
    if ((events & UV_WRITABLE) && f == s->in)
        flush_input(s);
    if ((events & UV_READABLE) && is_reader(s, f, &st)) {
        struct sess_out *o = &s->out[st];
        bool empty;
        size_t n = read_out(o, READ_BUDGET, &empty);
        if (empty && s->exited) /* after the exit, an empty buffer is the end */
            o->eof = true;
        if (o->eof)
            on_out_eof(s, o);
        if (n || o->eof)
            notify(o);
    }
    sess_update_polls(s);
    sess_unref(s);
}

/* ---- spawning ----------------------------------------------------------------------------- */

static char *join_argv(char *const *argv)
{
    size_t n = 1;
    for (size_t i = 0; argv[i]; i++)
        n += strlen(argv[i]) + 1;
    char *s = malloc(n), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; argv[i]; i++)
        p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
    *p = '\0';
    return s;
}

struct session *sess_alloc(struct sess_mgr *m, const struct sess_spawn *o)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->m = m;
    s->kind = o->kind;
    s->command = join_argv(o->argv);
    s->cwd = strdup(o->cwd ? o->cwd : "");
    s->originator = strdup(o->originator ? o->originator : "");
    s->attached_term = strdup("");
    if (!s->command || !s->cwd || !s->originator || !s->attached_term) {
        sess_free(s);
        return NULL;
    }
    s->rows = o->rows ? o->rows : 24;
    s->cols = o->cols ? o->cols : 80;
    s->merge_stderr = o->kind == SESS_PIPE && o->merge_stderr;
    for (int i = 0; i < 3; i++)
        s->fds[i].fd = -1;
    for (int i = 0; i < 2; i++)
        ring_init(&s->out[i].ring, m->lim.backlog_bytes);
    buf_init(&s->input, 0);
    s->created_at = now_epoch();
    snprintf(s->id, sizeof s->id, "%s-%016llx-%08x", o->kind == SESS_PTY ? "pty" : "pipe",
             (unsigned long long)now_ns(CLOCK_REALTIME), ++m->counter);
    return s;
}

void sess_wire_streams(struct session *s)
{
    s->out[SESS_OUT].src = &s->fds[0];
    if (s->kind == SESS_PTY) {
        s->in = &s->fds[0];
        return;
    }
    s->out[SESS_ERR].src = s->merge_stderr ? NULL : &s->fds[1];
    s->in = &s->fds[2];
}

static int wire_fds(struct session *s, const struct proc_spawn_io *io)
{
    int r = 0;
    sess_wire_streams(s);
    if (s->kind == SESS_PTY)
        return sess_fd_open(s, &s->fds[0], io->fd[0]);
    for (int i = 0; i < 3 && r == 0; i++)
        if (io->fd[i == 2 ? 0 : i + 1] >= 0)
            r = sess_fd_open(s, &s->fds[i], io->fd[i == 2 ? 0 : i + 1]);
    return r;
}

int sess_spawn(struct sess_mgr *m, const struct sess_spawn *o, struct session **ret)
{
    struct proc_spawn_opts so = {
        .argv = o->argv,
        .cwd = o->cwd && *o->cwd ? o->cwd : NULL,
        .envp = o->envp,
        .group = PROC_GROUP_SESSION,
        .rows = o->rows,
        .cols = o->cols,
        .umask = -1,
        .cgroup = true,
        .slice = o->slice,
        .limits = o->limits,
    };
    struct proc_spawn_io io;
    struct session *s;

    if (!o->argv || !o->argv[0])
        return -EINVAL;
    if (m->count >= m->lim.max_sessions)
        return -EMFILE;
    for (int i = 0; i < 3; i++)
        so.stdio[i] = o->kind == SESS_PTY ? PROC_STDIO_PTY : PROC_STDIO_PIPE;
    if (o->kind == SESS_PIPE && o->merge_stderr)
        so.stdio[2] = PROC_STDIO_MERGE;
    if (o->cpu_seconds) {
        so.rlimits[0].resource = RLIMIT_CPU;
        so.rlimits[0].lim = (struct rlimit){o->cpu_seconds, (rlim_t)o->cpu_seconds + 1};
        so.n_rlimits = 1;
    }
    s = sess_alloc(m, o);
    if (!s)
        return -ENOMEM;
    s->refs = 1; /* the list */
    int r = proc_spawn(m->reaper, &so, sess_child_exited, s, &io, &s->child);
    if (r < 0) {
        sess_free(s);
        return r;
    }
    s->pid = proc_child_pid(s->child);
    struct proc_res_usage ru;
    s->has_res = proc_child_usage(s->child, &ru) == 0;
    r = wire_fds(s, &io);
    if (r < 0) {
        /* Cannot watch it: do not leave it running unseen. */
        for (int i = 0; i < 3; i++)
            if (io.fd[i] >= 0 && (s->kind == SESS_PIPE || i == 0)) {
                bool owned = false;
                for (int k = 0; k < 3; k++)
                    owned |= s->fds[k].fd == io.fd[i];
                if (!owned)
                    close(io.fd[i]);
            }
        (void)proc_child_signal(s->child, SIGKILL);
        (void)proc_child_kill_remains(s->child);
        proc_child_forget(s->child);
        s->child = NULL;
        for (int i = 0; i < 3; i++)
            fd_close(&s->fds[i]);
        sess_unref(s);
        return r;
    }
    sess_enlist(s, o->hold);
    *ret = s;
    return 0;
}

void sess_enlist(struct session *s, bool hold)
{
    struct sess_mgr *m = s->m;
    s->listed = true;
    DQUEUE_APPEND(&m->sessions, s, link);
    m->count++;
    sess_update_polls(s);
    if (hold)
        sess_hold_put(s);
    sess_publish(s, "started");
}

/* ---- exit --------------------------------------------------------------------------------- */

static void close_grace(struct session *s)
{
    if (s->grace_open) {
        s->grace_open = false;
        s->grace.data = s;
        uv_close((uv_handle_t *)&s->grace, handle_closed);
    }
}

static void close_stall(struct session *s)
{
    if (s->stall_open) {
        s->stall_open = false;
        uv_close((uv_handle_t *)&s->stall, handle_closed);
    }
}

void sess_child_exited(struct proc_child *c, int status, void *userdata)
{
    struct session *s = userdata;

    s->refs++;
    sess_hold_drop(s);
    if (c && s->has_res) /* the group goes with the child: read it now (an OOM kill, say) */
        (void)proc_child_usage(c, &s->res_at_exit);
    /* A terminate asked for the whole tree to go: what the program leaves behind (a
     * double-forked daemon that ignores SIGTERM) goes now, not at the end of the grace. */
    if (s->terminating && c)
        (void)proc_child_kill_remains(c);
    s->child = NULL;
    s->exited = true;
    /* What the program wrote before it exited is in the pipes or the terminal: take it, as far
     * as flow control lets us now; a stream held back is read on as its client takes more. */
    for (int i = 0; i < 2; i++) {
        struct sess_out *o = &s->out[i];
        bool empty = false;
        while (o->src && o->src->fd >= 0 && !o->eof && read_out(o, SIZE_MAX, &empty) && !empty)
            ;
        if (o->src && (empty || o->src->fd < 0))
            o->eof = true;
        if (o->src && o->eof) /* (again, if it ended earlier: each step is idempotent) */
            on_out_eof(s, o);
    }
    s->exit_code = status;
    s->exited_at = now_epoch();
    close_grace(s);
    buf_reset(&s->input, 0);
    finish_writes(s, -EPIPE);
    tee_close_all(&s->in_tees, false);
    for (int i = 0; i < 3; i++) { /* all but sources still being drained */
        struct sess_fd *f = &s->fds[i];
        int st;
        if (!is_reader(s, f, &st) || s->out[st].eof)
            fd_close(f);
    }
    for (int i = 0; i < 2; i++) {
        sess_end_attachment(s->out[i].att, SESS_END_EXIT, false, status);
        notify(&s->out[i]);
    }
    sess_update_polls(s);
    sess_publish(s, "exited");
    if (s->owner && s->owner->on_exit)
        s->owner->on_exit(s, status, s->owner_data);
    sess_unref(s);
}

/* ---- control ------------------------------------------------------------------------------ */

int sess_resize(struct session *s, uint16_t rows, uint16_t cols)
{
    if (s->kind != SESS_PTY)
        return -EINVAL;
    if (s->exited || s->fds[0].fd < 0)
        return -ESRCH;
    struct winsize ws = {.ws_row = rows ? rows : s->rows, .ws_col = cols ? cols : s->cols};
    if (ioctl(s->fds[0].fd, TIOCSWINSZ, &ws) < 0)
        return -errno;
    s->rows = ws.ws_row;
    s->cols = ws.ws_col;
    return 0;
}

int sess_interrupt(struct session *s)
{
    if (s->kind != SESS_PTY)
        return -EINVAL;
    if (s->exited || s->fds[0].fd < 0)
        return -ESRCH;
    pid_t pg = tcgetpgrp(s->fds[0].fd);
    if (pg > 0 && kill(-pg, SIGINT) == 0)
        return 0;
    return sess_write(s, "\x03", 1, NULL); /* no foreground group known: type Ctrl-C */
}

static void kill_now(struct session *s)
{
    (void)proc_child_signal(s->child, SIGKILL);
    (void)proc_child_kill_remains(s->child);
}

static void on_grace(uv_timer_t *t)
{
    struct session *s = t->data;
    if (s->exited || !s->child)
        return;
    s->hard_killed = true;
    kill_now(s);
}

int sess_arm_grace(struct session *s, uint64_t ms)
{
    if (!s->grace_open) {
        int r = uv_timer_init(s->m->loop, &s->grace);
        if (r < 0)
            return r;
        s->grace.data = s;
        s->grace_open = true;
        s->refs++;
    }
    uv_timer_start(&s->grace, on_grace, ms, 0);
    return 0;
}

static void signal_tree(struct session *s, int sig)
{
    pid_t *pids = NULL;
    size_t n = 0;

    /* Children first, the program last: a shell that dies first would leave its children to
     * be found again. */
    if (proc_child_members(s->child, &pids, &n) == 0)
        for (size_t i = n; i-- > 0;)
            if (pids[i] != s->pid)
                (void)kill(pids[i], sig);
    free(pids);
    (void)proc_child_signal(s->child, sig);
}

int sess_terminate(struct session *s, uint32_t grace_ms, bool notify_attached)
{
    if (s->exited || !s->child)
        return 0;
    if (notify_attached)
        for (int i = 0; i < 2; i++)
            if (s->out[i].att) {
                sess_end_attachment(s->out[i].att, SESS_END_TERMINATED, true, 0);
                notify(&s->out[i]);
            }
    if (s->terminating)
        return 0;
    int r = sess_arm_grace(s, grace_ms);
    if (r < 0)
        return r;
    s->terminating = true;
    signal_tree(s, SIGTERM);
    return 0;
}

int sess_kill(struct session *s)
{
    if (s->exited || !s->child)
        return 0;
    s->terminating = true;
    s->hard_killed = true;
    kill_now(s);
    return 0;
}

/* ---- shutdown ----------------------------------------------------------------------------- */

void sess_mgr_kill_all(struct sess_mgr *m)
{
    if (!m)
        return;
    for (struct session *s = m->sessions.first; s; s = s->link.next)
        if (s->child && !s->owner) { /* an owner stops its own */
            s->terminating = s->hard_killed = true;
            kill_now(s);
        }
}

void sess_mgr_free(struct sess_mgr *m)
{
    if (!m)
        return;
    int hold_fd = m->hold_fd;
    while (m->sessions.first) {
        struct session *s = m->sessions.first;
        s->refs++;
        if (s->child && s->held && m->hold_fd >= 0) {
            /* Not a graceful stop (droverd failed after taking them back): the holder keeps
             * them for the next droverd. */
            proc_child_forget(s->child);
            s->child = NULL;
        }
        if (s->child) {
            kill_now(s);
            proc_child_forget(s->child);
            s->child = NULL;
        }
        finish_writes(s, -EPIPE);
        for (int i = 0; i < 2; i++) {
            tee_close_all(&s->out[i].tees, true);
            sess_evict(s, i, SESS_END_GONE);
        }
        tee_close_all(&s->in_tees, true);
        for (int i = 0; i < 3; i++)
            fd_close(&s->fds[i]);
        close_grace(s);
        close_stall(s);
        sess_unlist(s);
        sess_unref(s);
    }
    if (hold_fd >= 0)
        close(hold_fd);
    free(m);
}
