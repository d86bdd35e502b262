/* Sessions across an upgrade in place: droverd re-executes itself keeping its pid, its children
 * and the sessions' descriptors (PTY masters, pipes, tee files), and this file carries the rest
 * over in a byte stream the daemon puts in a memfd: ids, commands, times, originators, each
 * output ring's bytes and positions, the drain marks and missed counts, the input not yet
 * written, tees with what they had queued, and who each program is (pid, start time, tree
 * group). Attachments are not carried: their clients were told droverd is going
 * (sess_mgr_detach_all) and attach again to the next image, which replays the backlog since
 * their previous attach as usual.
 *
 * The stream is written by the same build family that reads it, on the same machine: fields are
 * in host byte order, behind a magic number and a format version. The reader still checks every
 * length and value (a damaged stream restores nothing rather than something wrong), and every
 * descriptor it names must be open.
 *
 * The next image reads the stream before the reaper's first pass, so it can peek (WNOWAIT) at the
 * exit status of a program that ended during the exec: the reaper would reap it as an unknown
 * orphan. Programs still running are adopted (proc_adopt): they are droverd's children, so their
 * real exit status arrives as for any spawned program.
 *
 * Called by daemon/upgrade.c: sess_mgr_detach_all when the drain starts, sess_handover_save right
 * before exec, sess_handover_load first thing in the next image and sess_handover_restore once
 * the session manager exists. */
#include "session/session-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/vec.h"
#include "proc/proc.h"

#define MAGIC       0x53455353u /* "SESS" */
#define VERSION     1u
#define FLUSH_AT    (256u << 10) /* buffered bytes written out at once */
#define STRING_MAX  (64u << 10)  /* longest string field read back */
#define NO_DEADLINE UINT64_MAX   /* grace_left when no terminate is under way */

/* ---- writing ----------------------------------------------------------------------------- */

struct wr {
    struct buf b;       /* bytes not yet written out */
    int fd;             /* where they go */
    int err;            /* the first failure, then nothing more is written */
    int *kept;          /* descriptors kept across the exec */
    size_t n_kept, cap; /* used and allocated */
};

/* The next image takes fd over: it stays open across the exec, and is listed. */
static void keep_fd(struct wr *w, int fd)
{
    if (fd < 0)
        return;
    (void)fcntl(fd, F_SETFD, 0);
    if (VEC_RESERVE(w->kept, w->cap, w->n_kept + 1) < 0)
        w->err = -ENOMEM;
    else
        w->kept[w->n_kept++] = fd;
}

static void wr_flush(struct wr *w)
{
    while (w->b.len && !w->err) {
        ssize_t n = write(w->fd, buf_head(&w->b), w->b.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            w->err = -errno;
        else
            buf_consume(&w->b, (size_t)n);
    }
}

static void put(struct wr *w, const void *p, size_t n)
{
    if (!w->err && buf_append(&w->b, p, n) < 0)
        w->err = -ENOMEM;
    if (w->b.len >= FLUSH_AT)
        wr_flush(w);
}

static void put_u8(struct wr *w, uint8_t v)
{
    put(w, &v, sizeof v);
}

static void put_u32(struct wr *w, uint32_t v)
{
    put(w, &v, sizeof v);
}

static void put_u64(struct wr *w, uint64_t v)
{
    put(w, &v, sizeof v);
}

static void put_bytes(struct wr *w, const void *p, size_t n)
{
    put_u64(w, n);
    put(w, p, n);
}

static void put_str(struct wr *w, const char *s)
{
    put_bytes(w, s, strlen(s));
}

/* The ring's kept bytes, with the position of the first. */
static void put_ring(struct wr *w, const struct ring *r)
{
    put_u64(w, r->cap);
    put_u64(w, r->start);
    put_u64(w, r->end - r->start);
    for (uint64_t pos = r->start; pos < r->end;) {
        const uint8_t *p;
        size_t n = ring_peek(r, pos, &p);
        put(w, p, n);
        pos += n;
    }
}

/* ---- reading ----------------------------------------------------------------------------- */

struct rd {
    const uint8_t *p; /* the next byte */
    size_t n;         /* bytes left */
    bool bad;         /* something did not check out: the rest is not read */
};

static const uint8_t *take(struct rd *r, uint64_t n)
{
    if (r->bad || n > r->n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}

/* n bytes into dst (zeros once something did not check out). */
static void get(struct rd *r, void *dst, size_t n)
{
    const uint8_t *p = take(r, n);

    if (p)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

static uint8_t get_u8(struct rd *r)
{
    uint8_t v;
    get(r, &v, sizeof v);
    return v;
}

static uint32_t get_u32(struct rd *r)
{
    uint32_t v;
    get(r, &v, sizeof v);
    return v;
}

static uint64_t get_u64(struct rd *r)
{
    uint64_t v;
    get(r, &v, sizeof v);
    return v;
}

static bool get_flag(struct rd *r)
{
    uint8_t v = get_u8(r);
    r->bad |= v > 1;
    return v == 1;
}

static const uint8_t *get_bytes(struct rd *r, size_t max, size_t *ret_len)
{
    uint64_t n = get_u64(r);
    if (n > max)
        r->bad = true;
    *ret_len = r->bad ? 0 : (size_t)n;
    return take(r, *ret_len);
}

/* A string without NULs, into a malloc'd copy (NULL when bad). */
static char *get_str(struct rd *r)
{
    size_t n;
    const uint8_t *p = get_bytes(r, STRING_MAX, &n);
    if (!p || memchr(p, 0, n)) {
        r->bad = true;
        return NULL;
    }
    char *s = strndup((const char *)p, n);
    r->bad |= !s;
    return s;
}

/* A descriptor number that must be open in this process (or -1). */
static int get_fd(struct rd *r)
{
    int fd = (int)get_u32(r);
    if (fd < -1 || (fd >= 0 && fcntl(fd, F_GETFD) < 0))
        r->bad = true;
    return r->bad ? -1 : fd;
}

static void get_ring(struct rd *r, struct ring *ring)
{
    uint64_t cap = get_u64(r), start = get_u64(r);
    size_t n;
    const uint8_t *p;

    if (cap > SIZE_MAX / 2) {
        r->bad = true;
        return;
    }
    ring_init(ring, (size_t)cap);
    p = get_bytes(r, ring->cap, &n);
    if (!p || start > UINT64_MAX - n)
        return (void)(r->bad = true);
    /* Positions are absolute: the ring goes on from where the previous image's was. */
    ring->start = ring->end = start;
    if (n && ring_write(ring, p, n) < 0)
        r->bad = true;
}

/* ---- saving ------------------------------------------------------------------------------ */

static void save_out(struct wr *w, const struct sess_out *o)
{
    put_ring(w, &o->ring);
    put_u64(w, o->mark);
    put_u64(w, o->missed);
    put_u8(w, o->eof);
}

/* One tee (list: 0 and 1 the output streams', 2 the input's) with what it has not written. */
static void save_tee(struct wr *w, uint8_t list, const struct tee *t)
{
    put_u8(w, list);
    put_u64(w, t->handle);
    put_u8(w, (uint8_t)t->stream);
    put_u32(w, (uint32_t)t->fd);
    put_u8(w, t->block);
    put_u8(w, t->markers);
    put_u32(w, t->cap);
    put_u64(w, t->missed);
    put_u64(w, t->unmarked);
    put_u8(w, t->closing);
    put_u8(w, t->disconnected);
    put_bytes(w, t->marker + t->marker_off, t->marker_len ? t->marker_len - t->marker_off : 0);
    put_u32(w, t->n);
    for (const struct tee_chunk *c = t->chunks.first; c; c = c->link.next)
        put_bytes(w, c->data + c->off, c->len - c->off);
}

static void save_tees(struct wr *w, struct session *s)
{
    struct tee *lists[3] = {s->out[0].tees, s->out[1].tees, s->in_tees};
    uint32_t n = 0;

    for (int i = 0; i < 3; i++)
        for (struct tee *t = lists[i]; t; t = t->link.next)
            n++;
    put_u32(w, n);
    for (int i = 0; i < 3; i++)
        for (struct tee *t = lists[i]; t; t = t->link.next) {
            save_tee(w, (uint8_t)i, t);
            keep_fd(w, t->fd); /* the next image writes on */
        }
}

static void save_session(struct wr *w, struct session *s)
{
    const char *cgroup = s->child ? proc_child_cgroup(s->child) : NULL;

    put_str(w, s->id);
    put_u8(w, (uint8_t)s->kind);
    put_u8(w, s->merge_stderr);
    put_str(w, s->command);
    put_str(w, s->cwd);
    put_str(w, s->originator);
    put_u32(w, (uint32_t)s->pid);
    put_u64(w, s->child ? proc_child_starttime(s->child) : 0);
    put_str(w, cgroup ? cgroup : "");
    put(w, &s->created_at, sizeof s->created_at);
    put(w, &s->exited_at, sizeof s->exited_at);
    put_u8(w, s->exited);
    put_u32(w, (uint32_t)s->exit_code);
    put_u8(w, s->terminating);
    put_u8(w, s->hard_killed);
    put_u64(w, s->grace_open && uv_is_active((uv_handle_t *)&s->grace)
                   ? uv_timer_get_due_in(&s->grace)
                   : NO_DEADLINE);
    put_u32(w, s->rows);
    put_u32(w, s->cols);
    for (int i = 0; i < 3; i++) {
        put_u32(w, (uint32_t)s->fds[i].fd);
        keep_fd(w, s->fds[i].fd);
    }
    for (int i = 0; i < 2; i++)
        save_out(w, &s->out[i]);
    put_bytes(w, buf_head(&s->input), s->input.len);
    put_u64(w, s->in_queued);
    put_u64(w, s->in_written);
    put_u8(w, s->stdin_closing);
    put_u8(w, s->stdin_closed);
    put_u64(w, s->next_tee);
    save_tees(w, s);
}

int sess_handover_save(struct sess_mgr *m, int fd, int **ret_fds, size_t *ret_n)
{
    struct wr w = {.fd = fd};

    buf_init(&w.b, 0);
    put_u32(&w, MAGIC);
    put_u32(&w, VERSION);
    put_u32(&w, m->counter);
    put_u64(&w, m->count);
    for (struct session *s = m->sessions.first; s; s = s->link.next)
        save_session(&w, s);
    wr_flush(&w);
    buf_done(&w.b);
    if (w.err < 0) { /* nothing is handed over: the descriptors end with this image */
        for (size_t i = 0; i < w.n_kept; i++)
            (void)fcntl(w.kept[i], F_SETFD, FD_CLOEXEC);
        free(w.kept);
        return w.err;
    }
    *ret_fds = w.kept;
    *ret_n = w.n_kept;
    return 0;
}

void sess_mgr_detach_all(struct sess_mgr *m)
{
    for (struct session *s = m->sessions.first, *next; s; s = next) {
        s->refs++; /* a client's callback may purge it */
        for (int i = 0; i < 2; i++)
            sess_evict(s, i, SESS_END_GONE);
        next = s->link.next;
        sess_unref(s);
    }
}

/* ---- loading ----------------------------------------------------------------------------- */

/* A session read back, until restore puts it in a manager. */
struct handed {
    struct session *s;   /* built, not yet listed; its descriptors not yet watched */
    int fds[3];          /* they are these (s->fds are opened at restore) */
    uint64_t starttime;  /* the program's identity, with s->pid */
    char *cgroup;        /* its tree's group, or NULL */
    uint64_t grace_left; /* ms left of a terminate's grace, or NO_DEADLINE */
    bool peeked;         /* the program had ended when the stream was read: */
    int peeked_status;   /* its status, which the reaper's first pass would lose */
};

struct sess_handover {
    struct handed *v; /* sessions, oldest first */
    size_t n, cap;    /* used and allocated */
    uint32_t counter; /* the previous image's id counter */
};

/* The status of our child pid if it has ended, without reaping it. */
static bool peek_exit(pid_t pid, int *ret)
{
    siginfo_t info = {0};

    if (pid <= 0 || waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 ||
        info.si_pid != pid)
        return false;
    *ret = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
    return true;
}

static struct tee **tee_list(struct session *s, uint8_t i)
{
    return i < 2 ? &s->out[i].tees : &s->in_tees;
}

/* Appends t at the end of the list: the order is the previous image's. */
static void append_tee(struct tee **list, struct tee *t)
{
    while (*list)
        list = &(*list)->link.next;
    DLIST_PREPEND(list, t, link);
}

static void load_chunks(struct rd *r, struct tee *t)
{
    uint32_t n = get_u32(r);

    for (uint32_t i = 0; i < n && !r->bad; i++) {
        size_t len;
        const uint8_t *p = get_bytes(r, TEE_MAX_BYTES, &len);
        struct tee_chunk *c = p ? malloc(sizeof *c + len) : NULL;
        if (!c) {
            r->bad = true;
            return;
        }
        *c = (struct tee_chunk){.len = len};
        memcpy(c->data, p, len);
        DQUEUE_APPEND(&t->chunks, c, link);
        t->n++;
        t->bytes += len;
    }
}

static void load_tee(struct rd *r, struct session *s)
{
    uint8_t list = get_u8(r);
    struct tee *t = calloc(1, sizeof *t);

    if (!t || list > 2) {
        free(t);
        r->bad = true;
        return;
    }
    t->s = s;
    t->fd = -1;
    append_tee(tee_list(s, list), t); /* freed with the session from now on */
    t->handle = get_u64(r);
    t->stream = (enum sess_stream)get_u8(r);
    t->fd = get_fd(r);
    t->block = get_flag(r);
    t->markers = get_flag(r);
    t->cap = get_u32(r);
    t->missed = get_u64(r);
    t->unmarked = get_u64(r);
    t->closing = get_flag(r);
    t->disconnected = get_flag(r);
    const uint8_t *m = get_bytes(r, sizeof t->marker, &t->marker_len);
    if (m)
        memcpy(t->marker, m, t->marker_len);
    load_chunks(r, t);
    r->bad |= t->stream > SESS_IN || t->cap == 0;
}

static void load_out(struct rd *r, struct sess_out *o)
{
    get_ring(r, &o->ring);
    o->mark = get_u64(r);
    o->missed = get_u64(r);
    o->eof = get_flag(r);
    r->bad |= o->mark > o->ring.end;
}

/* The program's side: who it is, how it ended or is being ended. */
static void load_program(struct rd *r, struct handed *x)
{
    struct session *s = x->s;

    s->pid = (pid_t)get_u32(r);
    x->starttime = get_u64(r);
    x->cgroup = get_str(r);
    if (x->cgroup && !*x->cgroup) {
        free(x->cgroup);
        x->cgroup = NULL;
    }
    get(r, &s->created_at, sizeof s->created_at);
    get(r, &s->exited_at, sizeof s->exited_at);
    s->exited = get_flag(r);
    s->exit_code = (int)get_u32(r);
    s->terminating = get_flag(r);
    s->hard_killed = get_flag(r);
    x->grace_left = get_u64(r);
    r->bad |= s->pid <= 0;
}

static void load_io(struct rd *r, struct handed *x)
{
    struct session *s = x->s;
    uint32_t rows = get_u32(r), cols = get_u32(r);
    size_t n;

    r->bad |= rows > UINT16_MAX || cols > UINT16_MAX;
    s->rows = (uint16_t)rows;
    s->cols = (uint16_t)cols;
    for (int i = 0; i < 3; i++)
        x->fds[i] = get_fd(r);
    /* A PTY has one descriptor; pipes have three different ones. */
    r->bad |= s->kind == SESS_PTY
                  ? x->fds[1] >= 0 || x->fds[2] >= 0
                  : (x->fds[0] >= 0 && (x->fds[0] == x->fds[1] || x->fds[0] == x->fds[2])) ||
                        (x->fds[1] >= 0 && x->fds[1] == x->fds[2]);
    for (int i = 0; i < 2; i++)
        load_out(r, &s->out[i]);
    const uint8_t *p = get_bytes(r, SIZE_MAX, &n);
    if (p && n && buf_append(&s->input, p, n) < 0)
        r->bad = true;
    s->in_queued = get_u64(r);
    s->in_written = get_u64(r);
    s->stdin_closing = get_flag(r);
    s->stdin_closed = get_flag(r);
    s->next_tee = get_u64(r);
    uint32_t tees = get_u32(r);
    for (uint32_t i = 0; i < tees && !r->bad; i++)
        load_tee(r, s);
}

static void load_session(struct rd *r, struct handed *x)
{
    struct session *s = x->s;
    char *id = get_str(r);

    if (id && strlen(id) < sizeof s->id)
        strcpy(s->id, id);
    else
        r->bad = true;
    free(id);
    uint8_t kind = get_u8(r);
    s->kind = kind == SESS_PTY ? SESS_PTY : SESS_PIPE;
    s->merge_stderr = get_flag(r);
    s->command = get_str(r);
    s->cwd = get_str(r);
    s->originator = get_str(r);
    r->bad |= kind > SESS_PIPE || (s->merge_stderr && s->kind == SESS_PTY);
    load_program(r, x);
    load_io(r, x);
    if (!r->bad && !s->exited)
        x->peeked = peek_exit(s->pid, &x->peeked_status);
}

/* A session shell for load_session: empty, not in a manager, holding its list's reference. */
static struct session *session_shell(void)
{
    struct session *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->refs = 1;
    for (int i = 0; i < 3; i++)
        s->fds[i].fd = -1;
    buf_init(&s->input, 0);
    s->attached_term = strdup("");
    if (!s->attached_term) {
        free(s);
        return NULL;
    }
    return s;
}

int sess_handover_load(const void *p, size_t len, struct sess_handover **ret)
{
    struct rd r = {.p = p, .n = len};
    struct sess_handover *h = calloc(1, sizeof *h);

    if (!h)
        return -ENOMEM;
    r.bad = get_u32(&r) != MAGIC || get_u32(&r) != VERSION;
    h->counter = get_u32(&r);
    uint64_t n = get_u64(&r);
    for (uint64_t i = 0; i < n && !r.bad; i++) {
        struct session *s = session_shell();
        if (!s || VEC_RESERVE(h->v, h->cap, h->n + 1) < 0) {
            if (s)
                sess_unref(s);
            r.bad = true;
            break;
        }
        struct handed *x = &h->v[h->n++];
        *x = (struct handed){.s = s, .fds = {-1, -1, -1}};
        load_session(&r, x);
    }
    if (r.bad || r.n) {
        sess_handover_free(h);
        return -EBADMSG;
    }
    *ret = h;
    return 0;
}

/* ---- restoring --------------------------------------------------------------------------- */

/* The program goes on under this droverd: adopted if it runs, else ended with what is known. */
static void restore_program(struct sess_mgr *m, struct handed *x)
{
    struct session *s = x->s;
    int status = PROC_EXIT_UNKNOWN;

    if (s->exited)
        return;
    int r = proc_adopt(m->reaper, s->pid, x->starttime, x->cgroup, sess_child_exited, s, &s->child);
    if (r == -EXDEV) /* out of its group: watch it alone rather than lose it */
        r = proc_adopt(m->reaper, s->pid, x->starttime, NULL, sess_child_exited, s, &s->child);
    if (r >= 0) {
        if (s->terminating && x->grace_left != NO_DEADLINE)
            (void)sess_arm_grace(s, x->grace_left);
        return;
    }
    /* It ended: a zombie the reaper has not collected yet tells its status now, else it ended
     * before the reaper's first pass and was seen at load. */
    if (!peek_exit(s->pid, &status) && x->peeked)
        status = x->peeked_status;
    sess_child_exited(NULL, status, s);
}

/* Watches what the previous image watched, from this image's loop. */
static void restore_fds(struct handed *x)
{
    struct session *s = x->s;

    for (int i = 0; i < 3; i++) {
        int fd = x->fds[i];
        x->fds[i] = -1;
        if (fd < 0)
            continue;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || sess_fd_open(s, &s->fds[i], fd) < 0) {
            close(fd);
            s->fds[i].fd = -1;
        }
    }
    sess_wire_streams(s);
}

/* Tees write on from this image's loop, starting with what they had queued. */
static void restore_tees(struct session *s)
{
    for (uint8_t i = 0; i < 3; i++)
        for (struct tee *t = *tee_list(s, i); t; t = t->link.next) {
            t->loop = s->m->loop;
            if (t->fd >= 0 && fcntl(t->fd, F_SETFD, FD_CLOEXEC) < 0) {
                t->fd = -1;
                t->disconnected = true;
            }
        }
}

int sess_handover_add_held(struct sess_handover **hp, const char *id, size_t backlog,
                           const struct sess_held *e, const int fds[3])
{
    struct sess_handover *h = *hp ? *hp : calloc(1, sizeof *h);
    struct session *s = h ? session_shell() : NULL;

    if (!s || strlen(id) >= sizeof s->id || VEC_RESERVE(h->v, h->cap, h->n + 1) < 0) {
        if (s)
            sess_unref(s);
        if (h && !*hp)
            free(h);
        for (int i = 0; i < 3; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return -ENOMEM;
    }
    *hp = h;
    struct handed *x = &h->v[h->n++];
    *x = (struct handed){.s = s,
                         .fds = {fds[0], fds[1], fds[2]},
                         .starttime = e->starttime,
                         .grace_left = NO_DEADLINE};
    strcpy(s->id, id);
    s->kind = e->kind;
    s->merge_stderr = e->kind == SESS_PIPE && e->merge_stderr;
    s->pid = e->pid;
    s->rows = e->rows;
    s->cols = e->cols;
    s->created_at = e->created_at;
    s->held = true;
    s->command = strdup(e->command ? e->command : "");
    s->cwd = strdup(e->cwd ? e->cwd : "");
    s->originator = strdup(e->originator ? e->originator : "");
    x->cgroup = e->cgroup && *e->cgroup ? strdup(e->cgroup) : NULL;
    /* What it wrote while droverd was away is still in the terminal or the pipe: the backlog
     * starts there. */
    for (int i = 0; i < 2; i++)
        ring_init(&s->out[i].ring, backlog);
    if (!s->command || !s->cwd || !s->originator)
        return -ENOMEM; /* freed with h */
    return 0;
}

int sess_handover_restore(struct sess_mgr *m, struct sess_handover *h)
{
    int n = 0;

    m->counter = MAX(m->counter, h->counter);
    for (size_t i = 0; i < h->n; i++) {
        struct handed *x = &h->v[i];
        struct session *s = x->s;
        if (!s)
            continue;
        s->m = m;
        restore_fds(x);
        restore_tees(s);
        s->listed = true; /* the list takes the shell's reference */
        DQUEUE_APPEND(&m->sessions, s, link);
        m->count++;
        s->refs++; /* the program's end may be reported at once */
        restore_program(m, x);
        sess_update_polls(s);
        for (uint8_t k = 0; k < 3; k++)
            tee_pump_all(*tee_list(s, k));
        sess_unref(s);
        x->s = NULL; /* the manager's now */
        n++;
    }
    return n;
}

void sess_handover_free(struct sess_handover *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        struct handed *x = &h->v[i];
        for (int k = 0; k < 3; k++)
            if (x->fds[k] >= 0)
                close(x->fds[k]);
        if (x->s)
            sess_unref(x->s); /* its tees close their files */
        free(x->cgroup);
    }
    free(h->v);
    free(h);
}
