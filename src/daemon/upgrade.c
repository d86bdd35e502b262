/* Upgrade in place: droverd re-executes its binary and stays the same process (pid, children,
 * listening sockets, the sessions' PTYs and pipes), and hands over what only its memory holds.
 *
 * The old image (upgrade_start, from Admin.Upgrade or SIGUSR2):
 *   1. Runs the new binary once, `BINARY --check-upgrade` with droverd's settings, on the loop
 *      (the reaper reports its end; a time limit kills it): it loads the configuration, checks
 *      the database's schema, and prints its version and the handover format it reads. Any
 *      failure is the request's answer, and nothing has changed.
 *   2. Writes every service row, answers (the version about to run), blocks the signals that stop
 *      or reload droverd (pending ones reach the new image), and drains: each door hands over a
 *      duplicate of its listening socket and closes its connections gracefully (GOAWAY; session
 *      clients are told droverd is going). Clients that connect meanwhile wait in the sockets'
 *      backlogs for the next image.
 *   3. Once the last connection is gone, from the loop: the rows are written again, the sessions
 *      are serialized into a memfd, the descriptors to keep lose FD_CLOEXEC, and droverd executes
 *      the binary with its own arguments and DROVER_HANDOVER naming the descriptors. If that
 *      fails, the running binary (opened through /proc/self/exe at step 2, so a binary replaced
 *      on disk does not matter) is executed the same way, with the error in DROVER_UPGRADE_ERROR
 *      for the log: droverd comes back as it was. If even that fails, droverd ends, and its
 *      services run on for the next droverd to adopt.
 *
 * The new image (upgrade_new, in daemon_new) takes the variables out of the environment, reads
 * the sessions before the reaper's first pass, and from then on the daemon takes each inherited
 * socket and the lock instead of binding and locking anew. Services come back through the
 * restore every start does (adoption by pid, start time and group: the same processes, and
 * being droverd's children still, with real exit statuses); sessions through
 * upgrade_restore_sessions. What cannot be read is logged and left out: droverd comes up with
 * the rest. Descriptors the new image does not take are closed. */
#include "daemon/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/macro.h"
#include "base/strv.h"
#include "base/vec.h"
#include "net/net.h"
#include "proc/proc.h"
#include "session/session.h"
#include "store/store.h"

#define HANDOVER_FORMAT 1 /* what DROVER_HANDOVER and the memfd hold */
#define ENV_HANDOVER    "DROVER_HANDOVER"
#define ENV_ERROR       "DROVER_UPGRADE_ERROR"
#define CHECK_LIMIT_MS  30000       /* a check that takes longer is killed */
#define CHECK_OUT_MAX   4096        /* bytes of the check's output read */
#define CMDLINE_MAX     (256 << 10) /* droverd's own command line, read to run it again */

static const char *const door_keys[UPGRADE_N_DOORS] = {"grpc", "tcp", "http", "rp"};

enum phase {
    IDLE,     /* nothing under way */
    STOPPED,  /* droverd is stopping: no upgrade any more */
    CHECKING, /* the new binary's check runs */
    DRAINING, /* answered; the doors are closing their connections */
    EXECUTING /* the doors are gone: the exec comes next */
};

struct upgrade {
    uv_loop_t *loop;                /* the daemon's */
    const struct upgrade_ops *ops;  /* the daemon's part */
    void *userdata;                 /* its argument */
    enum phase phase;               /* where an upgrade is */
    struct upgrade_env env;         /* what it works with */
    char *binary;                   /* the droverd to execute */
    char version[64];               /* what its check printed */
    upgrade_answer_fn answer;       /* the request's, until it is answered */
    void *answer_data;              /* its argument */
    struct proc_child *check;       /* the check, while it runs */
    bool check_killed;              /* it ran out of time */
    int check_out;                  /* a memfd holding its output, or -1 */
    int self_fd;                    /* the running binary, executed when the new one cannot be */
    char **argv;                    /* droverd's command line, for the exec */
    uv_timer_t timer;               /* the check's time limit; then the exec, from the loop */
    int draining;                   /* doors still closing their connections */
    bool in_drain;                  /* ops->drain runs: doors may finish before it says how many */
    int doors[UPGRADE_N_DOORS];     /* listening sockets handed over or inherited, or -1 */
    int lock_fd;                    /* the inherited lock, until taken, or -1 */
    char from[64];                  /* the previous image's version, "" when none */
    struct sess_handover *sessions; /* the sessions handed over, until restored */
    int *session_fds;               /* their descriptors (closed if the state cannot be read) */
    size_t n_session_fds;           /* how many */
    size_t n_session_fds_cap;       /* allocated */
};

static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR2};

/* Blocks (or unblocks) the signals that would stop or reload droverd: during the exec they
 * would kill it (the default action), so they wait, pending, for the new image's handlers. */
static void mask_signals(int how)
{
    sigset_t set;

    sigemptyset(&set);
    for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
        sigaddset(&set, stop_signals[i]);
    (void)sigprocmask(how, &set, NULL);
}

/* ---- the new image's side ---------------------------------------------------------------- */

/* A descriptor named in DROVER_HANDOVER: open in this process, or -1. */
static int parse_fd(const char *v)
{
    char *end;
    long fd = strtol(v, &end, 10);

    if (*end || fd < 0 || fd > INT32_MAX || fcntl((int)fd, F_GETFD) < 0)
        return -1;
    (void)fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* ours again, never a child's */
    return (int)fd;
}

/* "18.19.20": the sessions' descriptors. */
static void parse_fd_list(struct upgrade *u, char *v)
{
    for (char *save = NULL, *n = strtok_r(v, ".", &save); n; n = strtok_r(NULL, ".", &save)) {
        int fd = parse_fd(n);
        if (fd >= 0 && VEC_RESERVE(u->session_fds, u->n_session_fds_cap, u->n_session_fds + 1) >= 0)
            u->session_fds[u->n_session_fds++] = fd;
    }
}

/* The sessions cannot come back: their descriptors go, so their programs see their terminal or
 * pipes close instead of running on unseen. */
static void close_session_fds(struct upgrade *u)
{
    for (size_t i = 0; i < u->n_session_fds; i++)
        (void)close(u->session_fds[i]);
    u->n_session_fds = 0;
}

/* The sessions' stream, mapped and read. */
static void load_sessions(struct upgrade *u, int fd)
{
    struct stat st;
    void *p = MAP_FAILED;
    int r = fstat(fd, &st) < 0 ? -errno : 0;

    if (r == 0 && st.st_size > 0 &&
        (p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        r = -errno;
    if (r == 0)
        r = sess_handover_load(p == MAP_FAILED ? "" : p, p == MAP_FAILED ? 0 : (size_t)st.st_size,
                               &u->sessions);
    if (p != MAP_FAILED)
        munmap(p, (size_t)st.st_size);
    close(fd);
    if (r < 0) {
        log_error_errno(r, "the sessions handed over cannot be read (%s): they are lost",
                        strerror(-r));
        close_session_fds(u);
    }
}

/* DROVER_HANDOVER: "state=N,lock=N,from=VERSION,grpc=N,tcp=N,http=N,rp=N,fds=N.N..." (-1:
 * none): the sessions' stream, the socket's lock, the listening sockets, the sessions'
 * descriptors. */
static void parse_handover(struct upgrade *u, char *spec)
{
    int state = -1;

    for (char *save = NULL, *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *v = strchr(kv, '=');
        if (!v)
            continue;
        *v++ = '\0';
        if (!strcmp(kv, "from"))
            snprintf(u->from, sizeof u->from, "%s", v);
        else if (!strcmp(kv, "state"))
            state = parse_fd(v);
        else if (!strcmp(kv, "lock"))
            u->lock_fd = parse_fd(v);
        else if (!strcmp(kv, "fds"))
            parse_fd_list(u, v);
        for (int i = 0; i < UPGRADE_N_DOORS; i++)
            if (!strcmp(kv, door_keys[i]))
                u->doors[i] = parse_fd(v);
    }
    if (!u->from[0])
        snprintf(u->from, sizeof u->from, "?");
    if (state >= 0) {
        load_sessions(u, state);
    } else {
        log_error("the previous droverd handed over no state: its sessions are lost");
        close_session_fds(u);
    }
}

int upgrade_new(uv_loop_t *loop, const struct upgrade_ops *ops, void *userdata,
                struct upgrade **ret)
{
    struct upgrade *u = calloc(1, sizeof *u);

    if (!u)
        return -ENOMEM;
    *u = (struct upgrade){.loop = loop,
                          .ops = ops,
                          .userdata = userdata,
                          .check_out = -1,
                          .self_fd = -1,
                          .lock_fd = -1};
    for (int i = 0; i < UPGRADE_N_DOORS; i++)
        u->doors[i] = -1;
    uv_timer_init(loop, &u->timer);
    u->timer.data = u;
    const char *spec = getenv(ENV_HANDOVER), *failed = getenv(ENV_ERROR);
    if (failed && *failed)
        log_error("the upgrade failed and this droverd came back instead: %s", failed);
    if (spec) {
        char *copy = strdup(spec);
        if (copy)
            parse_handover(u, copy);
        free(copy);
    }
    /* Nothing droverd spawns is to think it was handed anything. */
    unsetenv(ENV_HANDOVER);
    unsetenv(ENV_ERROR);
    *ret = u;
    return 0;
}

const char *upgrade_from(const struct upgrade *u)
{
    return u && u->from[0] ? u->from : NULL;
}

int upgrade_take_lock(struct upgrade *u)
{
    int fd = u->lock_fd;
    u->lock_fd = -1;
    return fd;
}

/* Whether a TCP socket is bound where "HOST:PORT" says (port 0: any port on that address). */
static bool tcp_bound_at(const struct sockaddr_storage *ss, const char *address)
{
    struct sockaddr_storage want;

    if (net_parse_addr(address, &want) < 0 || want.ss_family != ss->ss_family)
        return false;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss, *b = (const void *)&want;
        return a->sin_addr.s_addr == b->sin_addr.s_addr &&
               (!b->sin_port || a->sin_port == b->sin_port);
    }
    const struct sockaddr_in6 *a = (const void *)ss, *b = (const void *)&want;
    return !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) &&
           (!b->sin6_port || a->sin6_port == b->sin6_port);
}

/* The inherited listening socket of a door, or -1: none, or bound elsewhere than address (a
 * unix socket's path, or TCP "HOST:PORT") says now (it is then closed). */
static int take_door(struct upgrade *u, enum upgrade_door door, const char *address)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = u->doors[door];

    if (fd < 0)
        return -1;
    u->doors[door] = -1;
    bool ok = address && getsockname(fd, (struct sockaddr *)&ss, &len) == 0;
    if (ok && ss.ss_family == AF_UNIX)
        ok = !strncmp(((struct sockaddr_un *)&ss)->sun_path, address,
                      sizeof((struct sockaddr_un *)&ss)->sun_path);
    else if (ok)
        ok = tcp_bound_at(&ss, address);
    if (!ok) {
        log_notice("the %s door's settings changed: its socket from before the upgrade is "
                   "closed",
                   door_keys[door]);
        close(fd);
        return -1;
    }
    return fd;
}

int upgrade_listen(struct upgrade *u, enum upgrade_door door, const char *address,
                   net_accept_fn on_accept, void *userdata, struct net_listener **ret)
{
    int fd = take_door(u, door, address);

    if (fd < 0)
        return 0;
    int r = net_listen_fd(u->loop, fd, on_accept, userdata, ret);
    if (r < 0) {
        log_warning_errno(r,
                          "cannot listen on the %s door's socket from before the upgrade: "
                          "binding it anew",
                          door_keys[door]);
        return 0;
    }
    return 1;
}

void upgrade_restore_sessions(struct upgrade *u, struct sess_mgr *m)
{
    int n = u->sessions ? sess_handover_restore(m, u->sessions) : 0;

    sess_handover_free(TAKE_PTR(u->sessions));
    if (upgrade_from(u))
        log_notice("upgraded in place from droverd %s: %d sessions handed over, services "
                   "adopted from the database",
                   u->from, n);
}

void upgrade_signals_ready(struct upgrade *u)
{
    if (upgrade_from(u))
        mask_signals(SIG_UNBLOCK);
}

/* ---- the old image's side ---------------------------------------------------------------- */

static void answer(struct upgrade *u, int r, const char *fmt, ...) _printf_(3, 4);
static void answer(struct upgrade *u, int r, const char *fmt, ...)
{
    upgrade_answer_fn fn = u->answer;
    char err[1024] = "";
    va_list ap;

    u->answer = NULL;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(err, sizeof err, fmt, ap);
        va_end(ap);
    }
    if (r < 0) {
        log_warning("upgrade refused: %s", err);
        u->phase = IDLE;
    }
    if (fn)
        fn(r, u->binary, u->version, err, u->answer_data);
}

/* The droverd /proc/self/exe names: the installed one, even after a package replaced it (the
 * link then reads "PATH (deleted)"). */
static char *installed_binary(void)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    const char *gone = " (deleted)";

    if (n <= 0)
        return NULL;
    path[n] = '\0';
    size_t k = strlen(gone);
    if ((size_t)n > k && !strcmp(path + n - k, gone))
        path[n - k] = '\0';
    return strdup(path);
}

/* droverd's own arguments, as it was started, to start it the same way again. */
static char **own_argv(void)
{
    _cleanup_close_ int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *buf = malloc(CMDLINE_MAX);
    char **v = NULL;
    size_t len = 0, n = 0;
    ssize_t k;

    if (fd < 0 || !buf)
        return NULL;
    while (len < CMDLINE_MAX - 1 && (k = read(fd, buf + len, CMDLINE_MAX - 1 - len)) > 0)
        len += (size_t)k;
    buf[len] = '\0';
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
        if (strv_push(&v, &n, strdup(buf + i)) < 0) {
            strv_free(v);
            return NULL;
        }
    return v;
}

/* `BINARY --check-upgrade --config FILE --key=value...`: the settings droverd runs with. */
static char **check_argv(const struct upgrade *u)
{
    const struct upgrade_env *e = &u->env;
    char **v = NULL;
    size_t n = 0;
    int r = strv_push(&v, &n, strdup(u->binary));

    if (r >= 0)
        r = strv_push(&v, &n, strdup("--check-upgrade"));
    if (r >= 0 && e->config_path) {
        char *arg = NULL;
        r = asprintf(&arg, "--config=%s", e->config_path) < 0 ? -ENOMEM : 0;
        r = r < 0 ? r : strv_push(&v, &n, arg);
    }
    for (size_t i = 0; r >= 0 && i < e->n_flags; i++) {
        char *arg = NULL;
        if (asprintf(&arg, "--%s=%s", e->flags[i].opt->key, e->flags[i].value) < 0)
            r = -ENOMEM;
        for (char *p = arg ? arg + 2 : NULL; p && *p != '='; p++)
            *p = *p == '_' ? '-' : *p;
        r = r < 0 ? r : strv_push(&v, &n, arg);
    }
    if (r < 0) {
        strv_free(v);
        return NULL;
    }
    return v;
}

/* The last line of the check's output, for the answer: what a failing droverd said last. */
static void last_line(char *out, size_t len, char *ret, size_t size)
{
    while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        len--;
    out[len] = '\0';
    char *nl = strrchr(out, '\n');
    snprintf(ret, size, "%s%s", len ? ": " : "", nl ? nl + 1 : out);
}

static void on_check_timeout(uv_timer_t *t)
{
    struct upgrade *u = t->data;
    if (u->check)
        u->check_killed = proc_child_signal(u->check, SIGKILL) == 0;
}

static void drain(struct upgrade *u);
static void on_exec_time(uv_timer_t *t);

/* The check ended: a droverd that starts, and that can read what we hand over, or a refusal. */
static void on_check_exit(struct proc_child *c, int status, void *userdata)
{
    struct upgrade *u = userdata;
    char out[CHECK_OUT_MAX + 1], said[CHECK_OUT_MAX + 4];
    struct stat st;
    /* A droverd that passes prints two lines; one that fails says why last. */
    off_t from = status != 0 && fstat(u->check_out, &st) == 0 && st.st_size > CHECK_OUT_MAX
                     ? st.st_size - CHECK_OUT_MAX
                     : 0;
    ssize_t n = pread(u->check_out, out, CHECK_OUT_MAX, from);
    const char *v;
    unsigned format = 0;
    (void)c;

    u->check = NULL;
    uv_timer_stop(&u->timer);
    close(u->check_out);
    u->check_out = -1;
    out[n > 0 ? n : 0] = '\0';
    if ((v = strstr(out, "droverd ")) && (v == out || v[-1] == '\n'))
        snprintf(u->version, sizeof u->version, "%.*s", (int)strcspn(v + 8, " \n"), v + 8);
    if ((v = strstr(out, "\nhandover ")))
        format = (unsigned)strtoul(v + 10, NULL, 10);
    last_line(out, n > 0 ? (size_t)n : 0, said, sizeof said);
    if (u->check_killed)
        return answer(u, -ETIMEDOUT, "'%s --check-upgrade' did not finish within %d s", u->binary,
                      CHECK_LIMIT_MS / 1000);
    if (status != 0)
        return answer(u, -EINVAL, "'%s --check-upgrade' failed (%s %d)%s", u->binary,
                      status < 0 ? "killed by signal" : "exit code", status < 0 ? -status : status,
                      said);
    if (!u->version[0])
        return answer(u, -EINVAL, "'%s' is not a droverd: its --check-upgrade printed no version",
                      u->binary);
    if (format != HANDOVER_FORMAT)
        return answer(u, -EINVAL,
                      "'%s' (droverd %s) cannot take this droverd's state over "
                      "(handover format %u, it reads %u)",
                      u->binary, u->version, HANDOVER_FORMAT, format);
    drain(u);
}

/* Runs the check on the loop: its output goes to a memfd, read once it ends. */
static int start_check(struct upgrade *u)
{
    char **argv = check_argv(u);
    struct proc_spawn_opts o = {
        .argv = argv,
        .envp = environ,
        .stdio = {PROC_STDIO_NULL, PROC_STDIO_FD, PROC_STDIO_FD},
        .group = PROC_GROUP_SESSION,
        .umask = -1,
    };

    if (!argv)
        return -ENOMEM;
    u->check_out = memfd_create("drover-check", MFD_CLOEXEC);
    o.fd[1] = o.fd[2] = u->check_out;
    int r = u->check_out < 0 ? -errno
                             : proc_spawn(u->env.reaper, &o, on_check_exit, u, NULL, &u->check);
    strv_free(argv);
    if (r < 0)
        return r;
    uv_timer_start(&u->timer, on_check_timeout, CHECK_LIMIT_MS, 0);
    return 0;
}

void upgrade_start(struct upgrade *u, const struct upgrade_env *env, const char *binary,
                   upgrade_answer_fn fn, void *userdata)
{
    if (u->phase != IDLE) {
        int r = u->phase == STOPPED ? -ESHUTDOWN : -EBUSY;
        const char *why =
            r == -ESHUTDOWN ? "droverd is shutting down" : "an upgrade is already under way";
        log_warning("upgrade refused: %s", why);
        if (fn)
            fn(r, binary ? binary : "", "", why, userdata);
        return;
    }
    free(u->binary);
    u->binary = binary && *binary ? strdup(binary) : installed_binary();
    u->version[0] = '\0';
    u->check_killed = false;
    u->env = *env;
    u->answer = fn;
    u->answer_data = userdata;
    u->phase = CHECKING;
    if (!u->binary)
        return answer(u, -ENOMEM, "cannot find droverd's own binary");
    if (u->binary[0] != '/')
        return answer(u, -EINVAL, "'%s' is not an absolute path", u->binary);
    if (access(u->binary, X_OK) < 0) {
        int r = -errno;
        return answer(u, r, "cannot run '%s': %s", u->binary, strerror(-r));
    }
    log_notice("upgrade to '%s' asked: checking it", u->binary);
    int r = start_check(u);
    if (r < 0) {
        if (u->check_out >= 0)
            close(u->check_out);
        u->check_out = -1;
        return answer(u, r, "cannot run '%s': %s", u->binary, strerror(-r));
    }
}

/* The check passed: the rows are written, the request answered, and the doors drain. */
static void drain(struct upgrade *u)
{
    int r = u->ops->save(u->userdata);

    if (r < 0)
        return answer(u, r, "cannot record the services before the exec: %s", strerror(-r));
    strv_free(u->argv);
    u->argv = own_argv();
    if (!u->argv)
        return answer(u, -ENOMEM, "cannot read droverd's own command line");
    if (u->self_fd < 0)
        u->self_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    u->phase = DRAINING;
    answer(u, 0, NULL);
    log_notice("upgrading in place to droverd %s ('%s'): closing connections", u->version,
               u->binary);
    mask_signals(SIG_BLOCK);
    /* A door may finish inside drain, before it says how many there are: the count may go
     * below zero meanwhile, and reaching zero counts only afterwards. */
    u->draining = 0;
    u->in_drain = true;
    unsigned n = u->ops->drain(u->userdata);
    u->in_drain = false;
    u->draining += (int)n;
    if (u->draining == 0)
        uv_timer_start(&u->timer, on_exec_time, 0, 0);
}

void upgrade_keep_listener(struct upgrade *u, enum upgrade_door door, struct net_listener *l)
{
    if (!l || u->doors[door] >= 0)
        return;
    u->doors[door] = net_listener_dup(l);
    if (u->doors[door] < 0)
        log_error_errno(u->doors[door],
                        "cannot keep the %s door's socket: the next droverd "
                        "binds it anew",
                        door_keys[door]);
}

/* Writes the sessions into a memfd the next image reads; -1 when that fails (they are lost). */
static int save_sessions(struct upgrade *u)
{
    int fd = memfd_create("drover-handover", MFD_CLOEXEC);
    int r = fd < 0 ? -errno
                   : sess_handover_save(u->env.sessions, fd, &u->session_fds, &u->n_session_fds);

    if (r < 0) {
        log_error_errno(r, "cannot hand the sessions over (%s): they are lost", strerror(-r));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The environment of the next image: droverd's own and DROVER_HANDOVER naming what it takes. */
static int handover_env(struct upgrade *u, int state, struct proc_env *ret)
{
    _cleanup_free_ char *spec = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&spec, &len);

    if (!f)
        return -ENOMEM;
    fprintf(f, "state=%d,lock=%d,from=%s", state, u->env.lock_fd, DROVER_VERSION);
    for (int i = 0; i < UPGRADE_N_DOORS; i++)
        fprintf(f, ",%s=%d", door_keys[i], u->doors[i]);
    for (size_t i = 0; i < u->n_session_fds; i++)
        fprintf(f, "%s%d", i ? "." : ",fds=", u->session_fds[i]);
    if (fclose(f) != 0)
        return -ENOMEM;
    int r = proc_env_init(ret, PROC_ENV_INHERIT, environ);
    if (r >= 0)
        r = proc_env_set(ret, ENV_HANDOVER, spec);
    if (r >= 0)
        r = proc_env_unset(ret, ENV_ERROR);
    return r;
}

/* Keeps fd open across the exec. */
static void keep(int fd)
{
    if (fd >= 0)
        (void)fcntl(fd, F_SETFD, 0);
}

static void on_exec_time(uv_timer_t *t)
{
    struct upgrade *u = t->data;
    struct proc_env env = {0};
    char why[512];

    u->phase = EXECUTING;
    int r = u->ops->save(u->userdata);
    if (r < 0)
        log_warning_errno(r, "cannot record the services before the exec; the database has "
                             "every change until now but this last pass");
    int state = save_sessions(u);
    keep(state);
    keep(u->env.lock_fd);
    for (int i = 0; i < UPGRADE_N_DOORS; i++)
        keep(u->doors[i]);
    if (handover_env(u, state, &env) < 0) {
        log_error("cannot build the next droverd's environment: out of memory");
    } else {
        log_notice("executing '%s'", u->binary);
        execve(u->binary, u->argv, env.v);
        snprintf(why, sizeof why, "cannot execute '%s': %s", u->binary, strerror(errno));
        log_error("%s; executing the running droverd again", why);
        if (u->self_fd >= 0 && proc_env_set(&env, ENV_ERROR, why) >= 0)
            fexecve(u->self_fd, u->argv, env.v);
        log_error("cannot execute the running droverd either (%s): stopping; the services run "
                  "on, and the next droverd adopts them",
                  strerror(errno));
    }
    proc_env_done(&env);
    mask_signals(SIG_UNBLOCK);
    u->ops->abandon(u->userdata);
}

void upgrade_door_done(void *userdata)
{
    struct upgrade *u = userdata;

    /* From the loop, not from inside the door that finished last. */
    if (--u->draining == 0 && !u->in_drain)
        uv_timer_start(&u->timer, on_exec_time, 0, 0);
}

void upgrade_cancel(struct upgrade *u)
{
    if (!u || u->phase == STOPPED)
        return;
    if (u->phase != CHECKING) {
        u->phase = u->phase == IDLE ? STOPPED : u->phase;
        return;
    }
    if (u->check) {
        (void)proc_child_signal(u->check, SIGKILL);
        proc_child_forget(u->check);
        u->check = NULL;
    }
    if (u->check_out >= 0)
        close(u->check_out);
    u->check_out = -1;
    uv_timer_stop(&u->timer);
    answer(u, -ESHUTDOWN, "droverd is shutting down");
    u->phase = STOPPED;
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void upgrade_free(struct upgrade *u)
{
    if (!u)
        return;
    upgrade_cancel(u);
    for (int i = 0; i < UPGRADE_N_DOORS; i++)
        if (u->doors[i] >= 0)
            close(u->doors[i]);
    if (u->lock_fd >= 0)
        close(u->lock_fd);
    if (u->self_fd >= 0)
        close(u->self_fd);
    sess_handover_free(u->sessions);
    free(u->session_fds);
    strv_free(u->argv);
    free(u->binary);
    uv_close((uv_handle_t *)&u->timer, timer_closed);
}

/* ---- `droverd --check-upgrade` ----------------------------------------------------------- */

/* The database's schema must be one this droverd can open (an older droverd cannot). */
static int check_schema(const char *path, char *err, size_t size)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int version = 0, r = 0;

    if (access(path, F_OK) < 0)
        return 0; /* a first start creates it */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        snprintf(err, size, "cannot read the database '%s': %s", path, sqlite3_errmsg(db));
        r = -EIO;
    } else if ((version = sqlite3_column_int(st, 0)) > store_schema_version()) {
        snprintf(err, size,
                 "'%s' was written by a newer droverd (schema %d, this one reads up to %d)", path,
                 version, store_schema_version());
        r = -EPROTO;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

int upgrade_check_main(const char *config_path, const struct config_flag *flags, size_t n_flags)
{
    char err[CONFIG_ERROR_MAX] = "";
    struct config c;
    int r = config_load_all(&c, config_path, flags, n_flags, err);

    if (r >= 0)
        r = check_schema(c.db_path, err, sizeof err);
    config_done(&c);
    if (r < 0) {
        fprintf(stderr, "droverd: %s\n", err[0] ? err : strerror(-r));
        return 1;
    }
    printf("droverd %s\nhandover %d\n", DROVER_VERSION, HANDOVER_FORMAT);
    return 0;
}
