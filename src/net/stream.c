/* Listeners (unix sockets and TCP) and stream connections on libuv.
 *
 * Ownership: a net_conn is created at accept, handed to the accept callback, and freed in the
 * uv_close callback after net_conn_close. Writes own their buffers until their callback runs.
 * The liveness probe (net_unix_alive) is a blocking connect(2) to a local socket: it runs only
 * at start-up, before the loop, never while serving.
 *
 * The descriptor reserve: a connection accepted while fewer than the reserve of descriptors are
 * free is closed at once, so that connections alone can never use up what spawning a service
 * needs. Counting the open descriptors (/proc/self/fd) costs a directory read of the whole
 * table, so it is done at most once a second; in between, the connections opened and closed
 * here (the only descriptors a peer can make us open) keep the count up to date. */
#include "net/net-internal.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/macro.h"

#define FD_COUNT_MS 1000 /* /proc/self/fd is read at most this often */
/* Connections a listener accepts in one loop turn: a flood of connects waits for the next turn
 * rather than keep the loop in libuv's accept loop, serving nobody else. */
#define ACCEPT_TURN_MAX 64
#define TCP_SNDBUF      (128 << 10) /* bytes a TCP connection's socket holds for its peer */

/* The descriptor table is the process's, and so is its reserve: one state for every listener. */
static struct {
    unsigned reserve;    /* descriptors kept free; 0: no check */
    net_fd_low_fn fn;    /* told when refusing starts and ends */
    void *userdata;      /* its argument */
    bool low;            /* refusing now */
    bool counted;        /* open is a count, of counted_ms */
    long open;           /* descriptors open at the last count */
    long conns;          /* connections open now, every listener's */
    long conns_then;     /* connections open at the last count */
    uint64_t counted_ms; /* uv_now of the last count */
} fds;

/* Bytes every connection holds for its peer, together. Past FLOOD_MARK a flood is noted; once
 * it is back under TRIM_MARK the memory it took goes back to the system (glibc keeps freed
 * pages of its arenas otherwise: RSS would stay at the flood's peak). */
#define FLOOD_MARK (8u << 20)
#define TRIM_MARK  (1u << 20)
static size_t held_all;
static bool held_flood;

static void hold(struct net_conn *c, size_t n)
{
    c->pending += n;
    held_all += n;
    held_flood |= held_all > FLOOD_MARK;
}

static void release(struct net_conn *c, size_t n)
{
    c->pending -= n;
    held_all -= n;
    if (held_flood && held_all < TRIM_MARK) {
        held_flood = false;
        malloc_trim(0);
    }
}

struct write_req {
    uv_write_t req;     /* libuv request */
    struct net_conn *c; /* for the pending count */
    uint8_t *data;      /* heap storage to free */
    size_t len;         /* bytes in this write */
};

bool net_unix_alive(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;

    if (strlen(path) >= sizeof sa.sun_path)
        return false;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    return connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
}

static int start_listening(struct net_listener *l, int r, struct net_listener **ret);

static void listener_maybe_free(struct net_listener *l)
{
    /* Both must be over: the listening handle (whose close callback still uses l) and every
     * connection (which share its read buffer). */
    if (l->closed && l->n_conns == 0 && l->handle_gone && (!l->resume || l->resume_gone)) {
        free(l->resume);
        free(l->read_buf);
        free(l);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct net_conn *c = h->data;
    struct net_listener *l = c->listener;
    (void)suggested;

    if (!l->read_buf)
        l->read_buf = malloc(READ_BUF_SIZE);
    *buf = uv_buf_init((char *)l->read_buf, l->read_buf ? READ_BUF_SIZE : 0);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct net_conn *c = s->data;
    (void)buf;

    if (n == 0 || !c->handler)
        return;
    if (n < 0) {
        uv_read_stop(s);
        c->reading = false;
        c->ended = true;
        c->handler->on_end(c, n == UV_EOF ? 0 : (int)n, c->userdata);
        return;
    }
    if (!c->tls) {
        c->handler->on_read(c, (const uint8_t *)buf->base, (size_t)n, c->userdata);
        return;
    }
    int r = tls_conn_recv(c, (const uint8_t *)buf->base, (size_t)n);
    if (r < 0 && c->handler) {
        uv_read_stop(s);
        c->reading = false;
        c->ended = true;
        c->handler->on_end(c, r, c->userdata);
    }
}

static void update_reading(struct net_conn *c)
{
    bool want = c->handler && !c->paused && !c->closing && !c->ended;

    if (want && !c->reading)
        c->reading = uv_read_start(&c->h.stream, on_alloc, on_read) == 0;
    else if (!want && c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = false;
    }
}

void net_conn_start(struct net_conn *c, const struct net_conn_handler *h, void *userdata)
{
    c->handler = h;
    c->userdata = userdata;
    update_reading(c);
}

void net_conn_pause(struct net_conn *c)
{
    c->paused = true;
    update_reading(c);
}

void net_conn_resume(struct net_conn *c)
{
    c->paused = false;
    update_reading(c);
}

size_t net_conn_pending(const struct net_conn *c)
{
    return c->pending + (c->tls ? tls_conn_queued(c) : 0);
}

const struct ucred *net_conn_peer(const struct net_conn *c)
{
    return &c->peer;
}

static int start_write(struct net_conn *c, struct buf *b);

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = container_of(req, struct write_req, req);
    struct net_conn *c = w->c;

    release(c, w->len);
    c->writing = false;
    free(w->data);
    free(w);
    /* What came while this write was out goes as one write now (dropped if this one failed). */
    if (c->queued.len > 0) {
        struct buf q = c->queued;
        buf_init(&c->queued, 0);
        release(c, q.len);
        if (status < 0 || start_write(c, &q) < 0)
            buf_done(&q);
    }
    if (status == 0 && c->handler && c->handler->on_drain)
        c->handler->on_drain(c, c->userdata);
    /* A write that fails is the peer gone (EPIPE, ECONNRESET): said at once, as a read's EOF
     * would be. An owner that stopped reading a peer that does not read its answers would not
     * hear of it otherwise. */
    if (status < 0 && status != UV_ECANCELED && c->handler && !c->closing && !c->ended) {
        if (c->reading)
            uv_read_stop(&c->h.stream);
        c->reading = false;
        c->ended = true;
        c->handler->on_end(c, status, c->userdata);
    }
}

int net_conn_write_buf(struct net_conn *c, struct buf *b)
{
    if (c->closing)
        return -EPIPE;
    if (b->len == 0)
        return 0;
    return c->tls ? tls_conn_send(c, b) : net_raw_write(c, b);
}

/* One uv_write of b's bytes; takes b's storage. */
static int start_write(struct net_conn *c, struct buf *b)
{
    struct write_req *w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    *w = (struct write_req){.c = c, .data = b->data, .len = b->len};
    uv_buf_t ub = uv_buf_init((char *)b->data + b->start, (unsigned)b->len);
    int r = uv_write(&w->req, &c->h.stream, &ub, 1, on_write);
    if (r < 0) {
        free(w);
        return r;
    }
    hold(c, b->len);
    c->writing = true;
    /* The write owns the storage now. */
    b->data = NULL;
    b->start = b->len = b->alloc = 0;
    return 0;
}

/* While a write is out, what comes is appended to one buffer and written as one when it is done:
 * a burst of small answers (a pipelining client's) costs one write request and one allocation,
 * not one each, and what a connection holds is its bytes. */
int net_raw_write(struct net_conn *c, struct buf *b)
{
    if (b->len == 0)
        return 0;
    if (!c->writing)
        return start_write(c, b);
    if (buf_append(&c->queued, buf_head(b), b->len) < 0)
        return -ENOMEM;
    hold(c, b->len);
    buf_done(b);
    return 0;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct net_conn *c = h->data;
    struct net_listener *l = c->listener;

    if (!c->uncounted)
        fds.conns--;
    release(c, c->queued.len); /* never written */
    tls_conn_free(c->tls);
    buf_done(&c->queued);
    free(c);
    l->n_conns--;
    listener_maybe_free(l);
}

/* Closes the connection's handle. libuv closes the descriptor now and calls back on a later
 * turn: the descriptor count follows the descriptor, not the callback (a flood of refused
 * connections would otherwise look like a descriptor shortage until the callbacks ran). */
static void linger_freed(uv_handle_t *h)
{
    free(h->data);
}

static void close_handle(struct net_conn *c)
{
    if (c->linger) {
        c->linger->magic = 0;
        uv_close((uv_handle_t *)&c->linger->timer, linger_freed);
        c->linger = NULL;
    }
    if (!c->uncounted) {
        c->uncounted = true;
        fds.conns--;
    }
    uv_close(&c->h.handle, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct net_conn *c = req->data;
    (void)status;
    /* ECANCELED when net_handle_close closed the handle under the shutdown. */
    if (!uv_is_closing(&c->h.handle))
        close_handle(c);
}

void net_handle_close(uv_handle_t *h)
{
    if (uv_is_closing(h))
        return;
    if (h->type == UV_TIMER && h->data == h &&
        ((struct net_linger *)h)->magic == NET_LINGER_MAGIC) {
        close_handle(((struct net_linger *)h)->conn); /* closes the timer with its connection */
        return;
    }
    if ((h->type == UV_NAMED_PIPE || h->type == UV_TCP) && h->data) {
        struct net_conn *c = h->data;
        if (&c->h.handle == h && c->magic == NET_CONN_MAGIC) {
            close_handle(c);
            return;
        }
    }
    uv_close(h, NULL);
}

static uint32_t linger_ms = 10000;

void net_set_linger_ms(uint32_t ms)
{
    linger_ms = ms;
}

/* The peer has not taken the output in all that time: it is dropped with the connection (the
 * pending shutdown ends ECANCELED). */
static void on_linger(uv_timer_t *t)
{
    close_handle(((struct net_linger *)t->data)->conn);
}

/* Bounds a flushing close; without memory for the timer the close just waits. */
static void arm_linger(struct net_conn *c)
{
    struct net_linger *l = malloc(sizeof *l);
    if (!l)
        return;
    *l = (struct net_linger){.magic = NET_LINGER_MAGIC, .conn = c};
    uv_timer_init(c->h.handle.loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_linger, linger_ms, 0);
    uv_unref((uv_handle_t *)&l->timer); /* the connection's handle keeps the loop alive */
    c->linger = l;
}

void net_conn_close(struct net_conn *c, bool flush)
{
    if (c->closing)
        return;
    c->handler = NULL;
    update_reading(c);
    if (flush && c->tls)
        tls_conn_shutdown(c); /* close_notify, written before the socket closes */
    c->closing = true;
    c->shutdown_req.data = c;
    if (flush && c->queued.len > 0) { /* behind the write in flight, before the shutdown */
        struct buf q = c->queued;
        buf_init(&c->queued, 0);
        release(c, q.len);
        c->writing = false;
        if (start_write(c, &q) < 0)
            buf_done(&q);
    }
    if (flush && c->pending > 0 && uv_shutdown(&c->shutdown_req, &c->h.stream, on_shutdown) == 0) {
        arm_linger(c);
        return;
    }
    close_handle(c);
}

/* Sets up c on its handle for listener l: credentials (unix sockets only), counts. */
static void conn_init(struct net_conn *c, struct net_listener *l)
{
    uv_os_fd_t fd;
    socklen_t len = sizeof c->peer;

    c->h.handle.data = c;
    c->magic = NET_CONN_MAGIC;
    c->listener = l;
    buf_init(&c->queued, 0);
    fds.conns++;
    l->n_conns++;
    c->peer = (struct ucred){.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
    if (uv_fileno(&c->h.handle, &fd) == 0)
        (void)getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len);
}

int net_conn_from_fd(uv_loop_t *loop, int fd, struct net_conn **ret)
{
    /* A connection without a listener still needs one for its read buffer: a closed listener
     * with no socket, freed with its last connection. */
    struct net_listener *l = calloc(1, sizeof *l);
    struct net_conn *c = calloc(1, sizeof *c);

    if (!l || !c) {
        free(l);
        free(c);
        return -ENOMEM;
    }
    l->closed = true;
    l->handle_gone = true;
    uv_pipe_init(loop, &c->h.pipe, 0);
    int r = uv_pipe_open(&c->h.pipe, fd);
    conn_init(c, l);
    if (r < 0) {
        c->closing = true;
        close_handle(c);
        return r;
    }
    *ret = c;
    return 0;
}

void net_set_fd_reserve(unsigned reserve, net_fd_low_fn fn, void *userdata)
{
    fds.reserve = reserve;
    fds.fn = fn;
    fds.userdata = userdata;
    fds.low = fds.counted = false;
}

/* Descriptors open now, or -errno (-EMFILE: not even one to read the directory with). */
static long count_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    long n = 0;

    if (!d)
        return -errno;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

/* Free descriptors, as far as the last count and the connections since tell. */
static unsigned long fds_free(uv_loop_t *loop)
{
    struct rlimit rl;
    uint64_t now = uv_now(loop);

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return ULONG_MAX;
    if (!fds.counted || now - fds.counted_ms >= FD_COUNT_MS) {
        long n = count_open();
        if (n < 0)
            return 0;
        fds.open = n;
        fds.conns_then = fds.conns;
        fds.counted_ms = now;
        fds.counted = true;
    }
    long open = fds.open + fds.conns - fds.conns_then;
    return open >= (long)rl.rlim_cur ? 0 : (unsigned long)((long)rl.rlim_cur - open);
}

/* Whether a new connection may stay; the owner hears when that changes, not at each one. */
static bool reserve_ok(uv_loop_t *loop)
{
    unsigned long free = fds.reserve ? fds_free(loop) : ULONG_MAX;
    bool low = free < fds.reserve;

    if (low != fds.low) {
        fds.low = low;
        if (fds.fn)
            fds.fn(low, free, fds.userdata);
    }
    return !low;
}

static void on_connection(uv_stream_t *server, int status);

static void on_resume(uv_timer_t *t)
{
    struct net_listener *l = t->data;
    l->turn = uv_now(t->loop);
    l->turn_accepts = 0;
    if (!l->closed)
        on_connection(&l->h.stream, 0); /* the one left waiting; libuv then listens again */
}

static void on_resume_closed(uv_handle_t *h)
{
    struct net_listener *l = h->data;
    l->resume_gone = true;
    listener_maybe_free(l);
}

/* A turn's worth accepted: the connection stays in libuv (which stops listening meanwhile) and
 * is taken on the next turn. False when that cannot be arranged: accept it now. */
static bool defer_accept(struct net_listener *l, uv_loop_t *loop)
{
    if (!l->resume) {
        if (!(l->resume = malloc(sizeof *l->resume)))
            return false;
        uv_timer_init(loop, l->resume);
        l->resume->data = l;
    }
    return uv_timer_start(l->resume, on_resume, 0, 0) == 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct net_listener *l = server->data;
    struct net_conn *c;

    if (status < 0 || l->closed)
        return;
    if (l->turn != uv_now(server->loop)) {
        l->turn = uv_now(server->loop);
        l->turn_accepts = 0;
    }
    if (++l->turn_accepts > ACCEPT_TURN_MAX && defer_accept(l, server->loop))
        return;
    c = calloc(1, sizeof *c);
    if (!c)
        return; /* The connection waits in the backlog; it is retried on the next event. */
    if (l->h.handle.type == UV_TCP)
        uv_tcp_init(server->loop, &c->h.tcp);
    else
        uv_pipe_init(server->loop, &c->h.pipe, 0);
    int r = uv_accept(server, &c->h.stream);
    conn_init(c, l);
    if (r == 0 && !reserve_ok(server->loop))
        r = -EMFILE;
    if (r == 0 && l->tls && !(c->tls = tls_conn_new(l->tls)))
        r = -ENOMEM;
    /* Protocols above write a frame header and its payload in separate writes (wslay does):
     * Nagle would hold the second back for the peer's delayed ACK. */
    if (r == 0 && l->h.handle.type == UV_TCP)
        (void)uv_tcp_nodelay(&c->h.tcp, 1);
    /* A fixed send buffer instead of the kernel's autotuning, which lets a client that never
     * reads hold up to tcp_wmem's maximum (4 MB) of answers in its socket: 200 of them held
     * 561 MB of kernel memory. The kernel doubles it for its bookkeeping. */
    int sndbuf = TCP_SNDBUF;
    if (r == 0 && l->h.handle.type == UV_TCP)
        (void)uv_send_buffer_size(&c->h.handle, &sndbuf);
    if (r < 0) {
        c->closing = true;
        close_handle(c);
        return;
    }
    l->on_accept(l, c, l->userdata);
}

int net_listen_unix(uv_loop_t *loop, const char *path, unsigned mode, net_accept_fn on_accept,
                    void *userdata, struct net_listener **ret)
{
    struct sockaddr_un sa;
    struct stat st;
    int r;

    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    if (net_unix_alive(path))
        return -EADDRINUSE;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST; /* Never remove something that is not a socket. */
        if (unlink(path) < 0)
            return -errno;
    }

    struct net_listener *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->path = strdup(path);
    if (!l->path) {
        free(l);
        return -ENOMEM;
    }
    l->on_accept = on_accept;
    l->userdata = userdata;
    uv_pipe_init(loop, &l->h.pipe, 0);
    l->h.handle.data = l;
    l->magic = NET_LISTENER_MAGIC;

    /* Bound here rather than with uv_pipe_bind, whose handle would unlink the path at close
     * whatever file is there by then: net_listener_close decides, and a socket handed over to
     * the next image (net_listener_dup) keeps its file. The umask makes the file 0600 from the
     * start: no window where others could connect before a chmod. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sa = (struct sockaddr_un){.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    mode_t old = umask(0777 & ~mode);
    r = fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? -errno : 0;
    umask(old);
    if (r == 0 && stat(path, &st) == 0) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    if (r == 0)
        r = uv_pipe_open(&l->h.pipe, fd);
    if (r < 0 && fd >= 0)
        close(fd);
    return start_listening(l, r, ret);
}

/* After the bind (result r): listens, or closes the listener on failure. */
static int start_listening(struct net_listener *l, int r, struct net_listener **ret)
{
    if (r == 0)
        r = uv_listen(&l->h.stream, 256, on_connection);
    if (r < 0) {
        l->closed = true;
        net_listener_close(l);
        return r;
    }
    *ret = l;
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct net_listener *l = h->data;

    free(l->path);
    l->path = NULL;
    l->handle_gone = true;
    listener_maybe_free(l);
}

void net_listener_close(struct net_listener *l)
{
    struct stat st;

    if (!l)
        return;
    if (l->path && l->ino && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->path);
    l->closed = true;
    if (l->resume)
        uv_close((uv_handle_t *)l->resume, on_resume_closed);
    uv_close(&l->h.handle, on_listener_closed);
}

/* ---- handing listeners over (upgrade in place) --------------------------------------------- */

int net_listener_dup(struct net_listener *l)
{
    uv_os_fd_t fd;
    int r = uv_fileno(&l->h.handle, &fd);

    if (r < 0)
        return r;
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup < 0)
        return -errno;
    /* The socket file now belongs to whoever takes the duplicate: closing must not unlink it. */
    l->ino = 0;
    return dup;
}

/* Listens on a bound socket's descriptor: a unix socket (the file it is bound at is recorded,
 * so that closing removes it while it is still that one) or TCP. */
int net_listen_fd(uv_loop_t *loop, int fd, net_accept_fn on_accept, void *userdata,
                  struct net_listener **ret)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    struct stat st;

    struct net_listener *l = calloc(1, sizeof *l);
    if (!l || getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int r = l ? -errno : -ENOMEM;
        free(l);
        close(fd);
        return r;
    }
    l->on_accept = on_accept;
    l->userdata = userdata;
    l->magic = NET_LISTENER_MAGIC;
    int r;
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *sa = (const struct sockaddr_un *)&ss;
        uv_pipe_init(loop, &l->h.pipe, 0);
        l->h.handle.data = l;
        r = uv_pipe_open(&l->h.pipe, fd);
        l->path = sa->sun_path[0] ? strndup(sa->sun_path, sizeof sa->sun_path) : NULL;
        if (r == 0 && l->path && stat(l->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            l->dev = st.st_dev;
            l->ino = st.st_ino;
        }
    } else {
        uv_tcp_init(loop, &l->h.tcp);
        l->h.handle.data = l;
        r = uv_tcp_open(&l->h.tcp, fd);
    }
    if (r < 0)
        close(fd); /* the handle did not take it */
    return start_listening(l, r, ret);
}

struct find {
    const char *path;           /* the socket file asked for */
    struct net_listener *found; /* the answer */
};

static void find_listener(uv_handle_t *h, void *arg)
{
    struct find *f = arg;
    struct net_listener *l = h->data;

    /* Connections share the listener's layout (handle, then magic): the magic tells them
     * apart. */
    if (f->found || h->type != UV_NAMED_PIPE || !l || uv_is_closing(h) || &l->h.handle != h)
        return;
    if (l->magic == NET_LISTENER_MAGIC && !l->closed && l->path && !strcmp(l->path, f->path))
        f->found = l;
}

struct net_listener *net_listener_find(uv_loop_t *loop, const char *path)
{
    struct find f = {path, NULL};

    uv_walk(loop, find_listener, &f);
    return f.found;
}

/* ---- TCP ---------------------------------------------------------------------------------- */

int net_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr, net_accept_fn on_accept,
                   void *userdata, struct net_listener **ret)
{
    struct net_listener *l = calloc(1, sizeof *l);
    int r;

    if (!l)
        return -ENOMEM;
    l->on_accept = on_accept;
    l->userdata = userdata;
    uv_tcp_init(loop, &l->h.tcp);
    l->h.handle.data = l;
    l->magic = NET_LISTENER_MAGIC;
    /* IPv6 sockets take only IPv6: "[::]:N" next to "0.0.0.0:N" is two listeners, as asked. */
    r = uv_tcp_bind(&l->h.tcp, addr, addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    return start_listening(l, r, ret);
}

void net_listener_set_tls(struct net_listener *l, struct net_tls *t)
{
    l->tls = t;
}
