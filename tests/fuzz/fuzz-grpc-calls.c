/* Fuzz target, structure-aware: gRPC calls into every method of every face — drover.v1,
 * superviz's daemon.v1, stratavore.v1, baaaht's orchestrator, agent, gateway, llm and tool
 * services, health, reflection — over the real core: services, sessions, tracked processes,
 * metrics, runners, the agent hub, the database; so that the handlers are fuzzed, not only the
 * framers. Runners' and the hub's ids are numbered, afresh for each input (fuzz-ids.h), so that
 * an input can name what it made.
 *
 * The input is not bytes on the wire but a list of calls, which this target turns into valid
 * HTTP/2 (an nghttp2 client session) with valid gRPC framing; libFuzzer's mutations so land in
 * the protobuf bodies and in which methods are called in which order:
 *
 *   u8 method   index into every method the server has, modulo their number (the list, in
 *               order: FUZZ_GRPC_CALLS_LIST=1 with any input prints it; make-corpus.py uses it)
 *   u8 how      bits 0-1: 0 the message then end of stream; 1 the message, the stream left
 *               open (until the hang-up); 2 the message, then RST_STREAM(CANCEL); 3 the message
 *               twice, then end of stream.
 *               bit 2: the call carries x-fuzz-scopes with bits 4-5 as its scopes (see
 *               fuzz-core.h): callers without read or control.
 *               bit 3: the loop runs until the calls so far are answered before the next one.
 *               bit 6: the message's compressed flag is set (droverd has no compression).
 *               bit 7: the call carries a baaaht agent token (authorization: Bearer):
 *               FUZZ_TOKEN_BOUND, or FUZZ_TOKEN_FREE with bit 4 (see fuzz-ids.h).
 *   u16 length  little-endian; what is left of the input when it says more
 *   body        the request message
 *
 * Sessions' ids are made of the time they were made and a count: an input names one as
 * "pty-@@@@@@@@@@@@@@@@-00000001" (or pipe-), sixteen '@' for the time, which the target
 * replaces with the time of the session of that count before the call is sent (the same
 * length: the message stays valid).
 *
 * Nothing the input names may touch the machine. Every program spawned runs /bin/true in "/"
 * (-Wl,--wrap=proc_spawn) without cgroups or identity changes, but for "cat" with its input
 * from droverd (a session), which runs /bin/cat; an input gets SPAWNS of them, and its further
 * spawns fail with EAGAIN (each costs a fork of this large process: a crash-looping service
 * would otherwise take most of the time, and spawn failures are paths too); signals reach only this
 * process's own children (--wrap=kill, --wrap=pidfd_send_signal); and before the first input
 * the process moves into a mount namespace of its own where every mount is read-only but a
 * tmpfs for droverd's state (emptied after each input), the directories libFuzzer writes to
 * (its corpus and artifacts, as its arguments name them) and $TMPDIR if set (libFuzzer's merge
 * files): a tee to /etc/passwd or a service logging to /bin/sh fails as on a read-only
 * disk. Without the privilege to do that (root, or user namespaces) the target refuses to run. */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <nghttp2/nghttp2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "api/baaaht/baaaht.h"
#include "api/drover/drover.h"
#include "api/stratavore/stratavore.h"
#include "api/superviz/superviz.h"
#include "auth/auth.h"
#include "base/buf.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "daemon/config.h"
#include "descriptor-set.h"
#include "events/events.h"
#include "fuzz-core.h"
#define FUZZ_IDS_RUNNERS
#define FUZZ_IDS_AGENTS
#include "fuzz-ids.h"
#include "fuzz.h"
#include "grpc/grpc.h"
#include "metrics/metrics.h"
#include "net/net.h"
#include "proc/proc.h"
#include "session/session.h"
#include "store/store.h"
#include "supervise/supervise.h"
#include "track/track.h"

/* Each spawn forks this process (under ASan droverd forks rather than vforks): what it has
 * mapped is what a fork copies, and ASan's quarantine of freed memory (256 MB by default) was
 * most of it. A smaller one keeps use-after-free detection for what was freed recently. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=32";
}

/* ---- nothing the input names runs, and signals reach only our own children ---- */

int __real_proc_spawn(struct proc_reaper *r, const struct proc_spawn_opts *o, proc_exit_fn on_exit,
                      void *userdata, struct proc_spawn_io *ret_io, struct proc_child **ret);
int __wrap_proc_spawn(struct proc_reaper *r, const struct proc_spawn_opts *o, proc_exit_fn on_exit,
                      void *userdata, struct proc_spawn_io *ret_io, struct proc_child **ret);
int __real_kill(pid_t pid, int sig);
int __wrap_kill(pid_t pid, int sig);
int __real_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned flags);
int __wrap_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned flags);

#define SPAWNS 16
static unsigned spawns_left;

int __wrap_proc_spawn(struct proc_reaper *r, const struct proc_spawn_opts *o, proc_exit_fn on_exit,
                      void *userdata, struct proc_spawn_io *ret_io, struct proc_child **ret)
{
    static char *const true_argv[] = {"/bin/true", NULL}, *const cat_argv[] = {"/bin/cat", NULL};
    struct proc_spawn_opts safe = *o;
    const char *base = o->argv && o->argv[0] ? strrchr(o->argv[0], '/') : NULL;
    bool input = o->stdio[0] == PROC_STDIO_PIPE || o->stdio[0] == PROC_STDIO_PTY;

    base = base ? base + 1 : o->argv && o->argv[0] ? o->argv[0] : "";
    /* A session of "cat" lives until its input ends: attached, written to, resized. */
    if (spawns_left == 0)
        return -EAGAIN;
    spawns_left--;
    safe.argv = input && !strcmp(base, "cat") ? cat_argv : true_argv;
    safe.cwd = "/";
    safe.set_ids = false;
    safe.cgroup = false;
    return __real_proc_spawn(r, &safe, on_exit, userdata, ret_io, ret);
}

/* Whether pid is a child of this process. */
static bool our_child(pid_t pid)
{
    struct proc_stat st;
    return proc_read_stat(pid, &st) == 0 && st.ppid == getpid();
}

int __wrap_kill(pid_t pid, int sig)
{
    /* A process group is ours when its leader is (sessions and services lead their own). */
    pid_t target = pid < 0 ? -pid : pid;
    if (sig != 0 && (target <= 1 || !our_child(target))) {
        errno = EPERM;
        return -1;
    }
    return __real_kill(pid, sig);
}

/* The pid a pidfd refers to, from its fdinfo; 0 when unknown. */
static pid_t pidfd_pid(int pidfd)
{
    char path[64], line[128];
    pid_t pid = 0;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Pid: %d", &pid) == 1)
            break;
    fclose(f);
    return pid;
}

int __wrap_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned flags)
{
    pid_t pid = pidfd_pid(pidfd);
    if (sig != 0 && (pid <= 1 || !our_child(pid))) {
        errno = EPERM;
        return -1;
    }
    return __real_pidfd_send_signal(pidfd, sig, info, flags);
}

/* ---- a read-only machine around a writable state directory ---- */

/* One name for every run: each mounts its own tmpfs there, seen only in its own namespace. */
static const char state_dir[] = "/tmp/drover-fuzz-grpc-calls";
static char logs_dir[sizeof state_dir + 8];
static const char *writable[16]; /* what libFuzzer writes to: its arguments that are directories */
static size_t n_writable;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 1; i < *argc && n_writable < 15; i++) { /* room for $TMPDIR */
        const char *a = (*argv)[i];
        struct stat st;
        if (!strncmp(a, "-artifact_prefix=", 17))
            a += 17;
        else if (a[0] == '-')
            continue;
        char *dir = strdup(a);
        if (dir && stat(dir, &st) < 0) /* a prefix: its directory */
            *(strrchr(dir, '/') ? strrchr(dir, '/') : dir) = '\0';
        if (dir && *dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            writable[n_writable++] = realpath(dir, NULL);
        free(dir);
    }
    return 0;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) {
    }
    if (fd >= 0)
        close(fd);
}

static int set_writable(const char *path, bool on)
{
    struct mount_attr a = {.attr_set = on ? 0 : MOUNT_ATTR_RDONLY,
                           .attr_clr = on ? MOUNT_ATTR_RDONLY : 0};
    return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, on ? 0 : AT_RECURSIVE, &a, sizeof a);
}

/* Without a namespace of its own the target must not run: libFuzzer stops, a replay (a test of
 * make test) is skipped, saying why, as a test that needs what the host lacks is. */
static void no_sandbox(const char *why)
{
    if (&fuzz_replaying && fuzz_replaying) {
        printf("1..0 # SKIP fuzz-grpc-calls needs a mount namespace of its own: %s\n", why);
        exit(0);
    }
    fprintf(stderr,
            "fuzz-grpc-calls: needs a mount namespace of its own (root, or user "
            "namespaces) to keep its inputs off this machine's files: %s\n",
            why);
    exit(1);
}

static void sandbox(void)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();

    if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
        abort();
    if (unshare(CLONE_NEWNS) < 0) {
        char map[64];
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
            no_sandbox(strerror(errno));
        write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof map, "%u %u 1", (unsigned)uid, (unsigned)uid);
        write_file("/proc/self/uid_map", map);
        snprintf(map, sizeof map, "%u %u 1", (unsigned)gid, (unsigned)gid);
        write_file("/proc/self/gid_map", map);
    }
    const char *tmp = getenv("TMPDIR");
    if (tmp && n_writable < 16)
        writable[n_writable++] = realpath(tmp, NULL);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", state_dir, "tmpfs", 0, "mode=0700,size=64m") < 0)
        goto fail;
    for (size_t i = 0; i < n_writable; i++)
        if (writable[i] && mount(writable[i], writable[i], NULL, MS_BIND | MS_REC, NULL) < 0)
            goto fail;
    if (set_writable("/", false) < 0 || set_writable(state_dir, true) < 0)
        goto fail;
    for (size_t i = 0; i < n_writable; i++)
        if (writable[i] && set_writable(writable[i], true) < 0)
            goto fail;
    snprintf(logs_dir, sizeof logs_dir, "%s/logs", state_dir);
    return;
fail:
    no_sandbox(strerror(errno));
}

/* ---- the host ---- */

/* As droverd's services: every change recorded (through the same marks droverd flushes once
 * per loop turn, flushed at once here), a client's change written before it is made. */
struct recorder {
    struct svc_db *db;
    struct svc_engine *e; /* set once made: the engine reports nothing while it is made */
};

static void on_service_change(struct svc *s, void *userdata)
{
    struct recorder *r = userdata;
    svc_db_mark(r->db, svc_id(s));
    (void)svc_db_flush(r->db, r->e);
}

static int persist(const struct svc_intent *v, size_t n, void *userdata)
{
    return svc_db_persist(userdata, v, n);
}

static size_t unsynced(void *userdata)
{
    return svc_db_unsynced(userdata);
}

/* ---- the client: calls turned into HTTP/2 ---- */

struct body {
    uint8_t prefix[5];
    const uint8_t *data;
    size_t len, sent; /* of prefix + data, as many times as repeat */
    unsigned repeat;
    bool end;
};

struct client {
    nghttp2_session *h2;
    struct buf out;       /* what the client has to send */
    struct body **bodies; /* every call's, freed after the session */
    size_t n_bodies;
    uv_loop_t *loop;
    struct sess_mgr *sessions;
    size_t pending; /* calls that end by themselves, not answered yet */
    int fd;
};

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *p)
{
    struct client *c = p;
    (void)s, (void)flags;
    return buf_append(&c->out, data, len) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)len;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *p)
{
    struct body *b = src->ptr;
    size_t one = 5 + b->len, total = one * b->repeat, n = 0;
    (void)s, (void)id, (void)p;
    while (n < len && b->sent < total) {
        size_t at = b->sent % one;
        size_t k = at < 5 ? MIN(5 - at, len - n) : MIN(one - at, len - n);
        memcpy(buf + n, at < 5 ? b->prefix + at : b->data + (at - 5), k);
        n += k;
        b->sent += k;
    }
    if (b->sent == total)
        *flags |= b->end ? NGHTTP2_DATA_FLAG_EOF
                         : NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return (ssize_t)n;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *p)
{
    struct client *c = p;
    (void)code;
    if (nghttp2_session_get_stream_user_data(s, id))
        c->pending--;
    return 0;
}

/* FUZZ_GRPC_CALLS_TRACE=1: each call and how it ended, on stderr (to check the seeds). */
static bool trace;

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *p)
{
    (void)s, (void)flags, (void)p;
    if (nlen >= 11 && !memcmp(name, "grpc-", 5))
        fprintf(stderr, "  stream %d: %.*s: %.*s\n", (int)f->hd.stream_id, (int)nlen, name,
                (int)vlen, value);
    return 0;
}

/* Sends what the client has, runs the loop and reads the answers (for flow control), turns
 * times over; says how many bytes came. */
static size_t pump(struct client *c, int turns)
{
    uint8_t in[65536];
    size_t got = 0;
    (void)nghttp2_session_send(c->h2);
    for (int i = 0; i < turns; i++) {
        if (c->out.len) {
            ssize_t n = write(c->fd, buf_head(&c->out), c->out.len);
            if (n > 0)
                buf_consume(&c->out, (size_t)n);
        }
        uv_run(c->loop, UV_RUN_NOWAIT);
        ssize_t n;
        while ((n = read(c->fd, in, sizeof in)) > 0) {
            got += (size_t)n;
            (void)nghttp2_session_mem_recv(c->h2, in, (size_t)n);
        }
        (void)nghttp2_session_send(c->h2);
    }
    return got;
}

/* Puts the time of the session of each count named in the body (see the top). */
static void name_sessions(struct sess_mgr *sessions, uint8_t *body, size_t len)
{
    static const char marks[] = "@@@@@@@@@@@@@@@@";
    const size_t k = sizeof marks - 1;
    uint8_t *p = body;

    while (len > k + 9 && (p = memmem(p, len - (size_t)(p - body), marks, k)) &&
           (size_t)(p - body) + k + 9 <= len) {
        for (struct session *s = NULL; (s = sess_next(sessions, s));) {
            struct sess_info si;
            sess_info(s, &si);
            const char *id = si.id, *dash = strchr(id, '-');
            if (dash && strlen(dash + 1) == k + 9 && !memcmp(dash + 1 + k, p + k, 9)) {
                memcpy(p, dash + 1, k);
                break;
            }
        }
        p += k;
    }
}

static void call(struct client *c, const struct grpc_service *svc, const struct grpc_method *m,
                 unsigned how, uint8_t *body, size_t len)
{
    char path[256], scopes[8];
    snprintf(path, sizeof path, "/%s/%s", svc->name, m->name);
    snprintf(scopes, sizeof scopes, "%u", (how >> 4) & AUTH_SCOPES_ALL);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv h[8] = {NV(":method", "POST"),
                       NV(":scheme", "http"),
                       NV(":path", path),
                       NV(":authority", "localhost"),
                       NV("content-type", "application/grpc"),
                       NV("te", "trailers")};
    size_t n_h = 6;
    if (how & 4)
        h[n_h++] = (nghttp2_nv)NV("x-fuzz-scopes", scopes);
    if (how & 0x80)
        h[n_h++] = (nghttp2_nv)NV("authorization", how & 0x10 ? "Bearer " FUZZ_TOKEN_FREE
                                                              : "Bearer " FUZZ_TOKEN_BOUND);
#undef NV
    name_sessions(c->sessions, body, len);
    struct body *b = calloc(1, sizeof *b);
    struct body **v = realloc(c->bodies, (c->n_bodies + 1) * sizeof *v);
    if (!b || !v) {
        free(b);
        return;
    }
    c->bodies = v;
    c->bodies[c->n_bodies++] = b;
    b->prefix[0] = how & 0x40 ? 1 : 0;
    b->prefix[1] = (uint8_t)(len >> 24), b->prefix[2] = (uint8_t)(len >> 16);
    b->prefix[3] = (uint8_t)(len >> 8), b->prefix[4] = (uint8_t)len;
    b->data = body;
    b->len = len;
    b->repeat = (how & 3) == 3 ? 2 : 1;
    b->end = (how & 3) != 1;
    nghttp2_data_provider dp = {.source.ptr = b, .read_callback = read_body};
    /* A unary call that the client ends is marked (non-NULL stream data) and counted: settle
     * waits for its answer (streams may never end). */
    bool ends = (how & 3) != 1 && m->kind == GRPC_UNARY;
    int32_t id = nghttp2_submit_request(c->h2, NULL, h, n_h, &dp, ends ? c : NULL);
    c->pending += ends && id >= 0;
    if (trace)
        fprintf(stderr, "stream %d: %s (%zu bytes, how 0x%02x)\n", (int)id, path, len, how);
    if (id < 0)
        return;
    pump(c, 2);
    if ((how & 3) == 2)
        (void)nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    pump(c, how & 8 ? 8 : 1);
}

/* ---- the methods ---- */

struct method_ref {
    const struct grpc_service *svc;
    const struct grpc_method *m;
};

static size_t list_methods(struct grpc_server *srv, struct method_ref *v, size_t max)
{
    size_t n = 0;
    const struct grpc_service *svc;
    for (size_t i = 0; (svc = grpc_server_service_at(srv, i)); i++)
        for (size_t j = 0; j < svc->n_methods && n < max; j++)
            v[n++] = (struct method_ref){svc, &svc->methods[j]};
    if (getenv("FUZZ_GRPC_CALLS_LIST")) {
        for (size_t i = 0; i < n; i++)
            printf("%zu /%s/%s %s\n", i, v[i].svc->name, v[i].m->name, v[i].m->input->name);
        exit(0);
    }
    return n;
}

/* ---- the database: made once (its schema costs most of an input under ASan), emptied after
 * each input ---- */

static struct store *the_store(void)
{
    static struct store *st;
    if (!st && store_open(":memory:", 0, &st) < 0)
        abort();
    return st;
}

static void empty_store(struct store *st)
{
    sqlite3 *db = store_db(st);
    sqlite3_stmt *q;
    char sql[64][96];
    int n = 0;

    if (sqlite3_prepare_v2(db,
                           "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                           "LIKE 'sqlite_stat%'",
                           -1, &q, NULL) != SQLITE_OK)
        abort();
    while (n < 64 && sqlite3_step(q) == SQLITE_ROW)
        snprintf(sql[n++], sizeof sql[0], "DELETE FROM \"%s\"", sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    for (int i = 0; i < n; i++)
        if (sqlite3_exec(db, sql[i], NULL, NULL, NULL) != SQLITE_OK)
            abort();
}

/* ---- one input ---- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* The calls are all made: time for the unary ones to be answered (stops and restarts wait on
 * their programs, /bin/true), until 10 ms pass without one answered or 100 ms in all; streams
 * stay as they are. */
static void settle(struct client *c)
{
    uv_timer_t tick;
    uint64_t now = now_ns(CLOCK_MONOTONIC), end = now + 100000000u, quiet = now + 10000000u;

    uv_timer_init(c->loop, &tick);
    uv_timer_start(&tick, on_tick, 2, 2);
    while (c->pending > 0 && (now = now_ns(CLOCK_MONOTONIC)) < end && now < quiet) {
        size_t before = c->pending;
        uv_run(c->loop, UV_RUN_ONCE);
        (void)pump(c, 1);
        if (c->pending < before)
            quiet = now_ns(CLOCK_MONOTONIC) + 10000000u;
    }
    uv_close((uv_handle_t *)&tick, NULL);
    pump(c, 4);
}

static void on_agents_stopped(void *p)
{
    *(bool *)p = true;
}

/* As droverd stops: the tasks still running are ended (FAILED "lost") while the connection is
 * still up, for up to 100 ms. */
static void stop_agents(struct client *c, struct ag_mgr *agents)
{
    bool stopped = false;
    uv_timer_t tick;
    uint64_t end = now_ns(CLOCK_MONOTONIC) + 100000000u;

    ag_mgr_shutdown(agents, on_agents_stopped, &stopped);
    uv_timer_init(c->loop, &tick);
    uv_timer_start(&tick, on_tick, 2, 2);
    while (!stopped && now_ns(CLOCK_MONOTONIC) < end) {
        uv_run(c->loop, UV_RUN_ONCE);
        (void)pump(c, 1);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    (void)pump(c, 1); /* the close done before tick goes with this frame */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool sandboxed;
    struct grpc_server_limits lim = FUZZ_GRPC_LIMITS;
    struct sess_limits sl = FUZZ_SESS_LIMITS;
    struct grpc_auth_hooks hooks = {.authorize = fuzz_authorize};
    struct method_ref methods[256];
    struct proc_reaper *reaper = NULL;
    struct sess_mgr *sessions = NULL;
    struct svc_engine *services = NULL;
    struct recorder rec = {0};
    struct svc_db *db = NULL;
    struct grpc_server *srv = NULL;
    struct health *health = NULL;
    struct reflection *refl = NULL;
    struct metrics *mx = NULL;
    struct track *tr = NULL;
    struct rn_mgr *runners = NULL;
    struct api_stratavore *sv = NULL;
    struct ev_bus *bus = NULL;
    struct ag_mgr *agents = NULL;
    struct store *st = the_store();
    struct ag_settings as = FUZZ_AGENT_SETTINGS;
    char err[256];
    struct net_conn *conn;
    struct client c = {0};
    uint8_t *copy = NULL;
    uv_loop_t loop;
    int fds[2];

    if (size > 1 << 16)
        return 0;
    if (!sandboxed) {
        sandbox();
        sandboxed = true;
    }
    signal(SIGPIPE, SIG_IGN);
    spawns_left = SPAWNS;
    fuzz_ids_reset();
    uv_loop_init(&loop);
    /* As droverd's start_core and start_services build them. */
    if (track_new(&loop, st, 0, &tr) < 0 || proc_reaper_new(&loop, &reaper) < 0 ||
        sess_mgr_new(&loop, reaper, &sl, &sessions) < 0 || svc_db_new(st, &db) < 0 ||
        svc_engine_new(&loop, reaper, logs_dir, on_service_change, &rec, &services) < 0 ||
        !(srv = grpc_server_new(&loop, &lim)) || !(mx = metrics_new(NULL)) ||
        fuzz_agent_tokens(st) < 0 || ev_bus_new(64, &bus) < 0 ||
        ag_mgr_new(&loop, st, bus, &as, &agents, err, sizeof err) < 0)
        goto out;
    rec = (struct recorder){db, services};
    ag_mgr_use(agents, sessions, NULL);
    if (ag_mgr_restore(agents) < 0)
        goto out;
    svc_engine_set_persist(services, &(struct svc_persist){persist, unsynced, db});
    char snapshot[sizeof state_dir + 32];
    snprintf(snapshot, sizeof snapshot, "%s/services.snapshot.json", state_dir);
    if (svc_engine_set_snapshot_path(services, snapshot) < 0)
        goto out;
    struct api_host host = fuzz_host(&loop, srv);
    host.state_dir = state_dir;
    host.store = st;
    host.track = tr;
    host.reaper = reaper;
    host.services = services;
    host.sessions = sessions;
    host.metrics = mx;
    host.parse_services = config_parse_services_err;
    host.agents = agents;
    host.bus = bus;
    struct rn_config rc = {.socket_path = "-", .state_dir = state_dir};
    grpc_server_set_auth(srv, &hooks);
    health = grpc_health_new(srv);
    refl = grpc_reflection_new(srv, drover_descriptor_set, drover_descriptor_set_len);
    if (!health || !refl || api_drover_register(srv, &host) < 0 ||
        api_superviz_register(srv, &host) < 0 || grpc_health_register(srv, health) < 0 ||
        grpc_reflection_register(srv, refl) < 0 || api_stratavore_register(srv, &host, &sv) < 0 ||
        api_baaaht_register(srv, &host) < 0 ||
        rn_mgr_new(&loop, reaper, sessions, st, &rc, &runners, err, sizeof err) < 0)
        goto out;
    host.runners = runners;
    api_stratavore_bind(sv);
    if (rn_mgr_restore(runners) < 0)
        goto out;
    size_t n_methods = list_methods(srv, methods, sizeof methods / sizeof *methods);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        goto out;
    if (net_conn_from_fd(&loop, fds[0], &conn) == 0)
        grpc_server_accept(srv, conn, NULL);
    else
        close(fds[0]);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);

    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    if ((trace = getenv("FUZZ_GRPC_CALLS_TRACE")))
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    c = (struct client){.loop = &loop, .sessions = sessions, .fd = fds[1]};
    buf_init(&c.out, 0);
    nghttp2_session_client_new(&c.h2, cb, &c);
    nghttp2_session_callbacks_del(cb);
    (void)nghttp2_submit_settings(c.h2, NGHTTP2_FLAG_NONE, NULL, 0);

    /* A copy: the bodies get the sessions' names. */
    if (!(copy = malloc(size ? size : 1)))
        goto out;
    memcpy(copy, data, size);
    for (uint8_t *p = copy; size >= 4 && n_methods > 0;) {
        const struct method_ref *m = &methods[p[0] % n_methods];
        size_t len = MIN((size_t)(p[2] | p[3] << 8), size - 4);
        call(&c, m->svc, m->m, p[1], p + 4, len);
        p += 4 + len;
        size -= 4 + len;
    }
    settle(&c);
    stop_agents(&c, agents);
    nghttp2_session_del(c.h2);
    for (size_t i = 0; i < c.n_bodies; i++)
        free(c.bodies[i]);
    free(c.bodies);
    buf_done(&c.out);
    close(fds[1]);
    uv_run(&loop, UV_RUN_NOWAIT);

out:
    /* As droverd comes down: the doors, then the core, then the faces. */
    grpc_server_free(srv);
    grpc_health_free(health);
    grpc_reflection_free(refl);
    rn_mgr_free(runners);
    ag_mgr_free(agents); /* before the bus and the sessions it uses */
    ev_bus_free(bus);
    svc_engine_free(services);
    svc_db_free(db);
    sess_mgr_free(sessions);
    track_free(tr);
    proc_reaper_free(reaper);
    api_stratavore_free(sv);
    metrics_free(mx);
    free(copy);
    uv_run(&loop, UV_RUN_DEFAULT);
    empty_store(st);
    uv_loop_close(&loop);
    fuzz_empty_dir(state_dir);
    /* What was killed as the core came down, and whatever the reaper forgot. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return 0;
}
