/* A container's life. droverd runs `runtime create` (the container's init is then droverd's
 * child, blocked before exec), adopts the init, runs `runtime start`, reaps the init, reads its
 * memory group's OOM count, runs `runtime delete`, and unmounts the overlay root. At most one
 * runtime call is in flight per container; what a client asks meanwhile (start, stop, remove)
 * is recorded in want_* and done by ctr_advance once the call returns:
 *
 *   CREATING --create ok--> CREATED --start ok--> RUNNING --stop--> STOPPING
 *       |                      |                     |                  |
 *       +--fails: gone         +----- init exits ----+------------------+--> (delete) EXITED
 *   EXITED --start--> CREATING (anew, over its own writable layer)   any --remove--> gone
 *
 * A stop sends the stop signal to the init through its pidfd (an init that installed no handler
 * ignores it: PID 1 of a namespace), and SIGKILL after the timeout, which ends every process of
 * the namespace. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/errmsg.h"
#include "base/fdpass.h"
#include "base/log.h"
#include "base/macro.h"
#include "base/strv.h"
#include "container/container-internal.h"
#include "session/session.h"

double ctr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *ctr_state_name(enum ctr_state s)
{
    static const char *const names[] = {"", "creating", "created", "starting", "running",
                                        "stopping", "exited", "removing"};
    return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

void ctr_changed(struct container *c)
{
    if (c->gone)
        return;
    (void)ctr_db_put_container(c->m, c);
    if (c->m->watch)
        c->m->watch(c, c->m->watch_data);
}

static void set_error(struct container *c, const char *msg)
{
    free(c->error);
    c->error = msg ? strdup(msg) : NULL;
}

char *ctr_path(const struct container *c, const char *name)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", c->dir, name) < 0 ? NULL : p;
}

/* ---- the overlay root ---- */

int ctr_mount_root(struct container *c, char *err, size_t err_size)
{
    char *rootfs = ctr_path(c, "rootfs"), *upper = ctr_path(c, "upper"), *work = ctr_path(c, "work");
    char *opts = NULL;
    int r = 0;

    if (!rootfs || !upper || !work ||
        asprintf(&opts, "lowerdir=%s,upperdir=%s,workdir=%s", c->lower, upper, work) < 0)
        r = errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    else if (access(c->lower, F_OK) < 0)
        r = errmsg_fail(err, err_size, -ENOENT, "the image's unpacked root '%s' is gone "
                        "(import the image again)", c->lower);
    else if (mount("overlay", rootfs, "overlay", 0, opts) < 0)
        r = errmsg_fail(err, err_size, -errno, "cannot mount the container's overlay root on "
                        "'%s': %s", rootfs, strerror(errno));
    else
        c->mounted = true;
    free(rootfs);
    free(upper);
    free(work);
    free(opts);
    return r;
}

void ctr_unmount_root(struct container *c)
{
    char *rootfs = ctr_path(c, "rootfs");
    if (c->mounted && rootfs && umount2(rootfs, 0) < 0 && errno != EINVAL && errno != ENOENT)
        (void)umount2(rootfs, MNT_DETACH); /* busy: gone once its last user lets go */
    c->mounted = false;
    free(rootfs);
}

/* ---- the init ---- */

static void close_console(struct container *c)
{
    if (c->console_fd >= 0)
        close(c->console_fd);
    c->console_fd = -1;
    if (c->console_path)
        (void)unlink(c->console_path);
    free(c->console_path);
    c->console_path = NULL;
}

static void stop_timer(struct container *c)
{
    if (c->timer)
        uv_timer_stop(c->timer);
}

static void init_exited(struct container *c, int status)
{
    struct proc_group_stats gs;

    c->init = NULL;
    c->exited = true;
    c->exit_known = status != PROC_EXIT_UNKNOWN;
    c->exit_code = c->exit_known ? status : 0;
    c->finished_at = ctr_now();
    /* The memory group goes with `runtime delete`: its OOM count is read now. */
    c->oom_killed = proc_group_stats(c->cgroup, &gs) == 0 && gs.oom_kills > 0;
    stop_timer(c);
    log_info("container %s (%s) exited: %s %d%s", c->spec.name, c->id,
             !c->exit_known ? "status unknown" : status < 0 ? "signal" : "code",
             status < 0 && c->exit_known ? -status : c->exit_known ? status : 0,
             c->oom_killed ? " (OOM killed)" : "");
    ctr_advance(c);
}

static void on_init_exit(struct proc_child *child, int status, void *userdata)
{
    (void)child;
    init_exited(userdata, status);
}

static void on_sess_exit(struct session *s, int status, void *userdata)
{
    (void)s;
    init_exited(userdata, status);
}

static const struct sess_owner_ops owner_ops = {.on_exit = on_sess_exit};

static int kill_init(struct container *c)
{
    if (c->sess)
        return sess_kill(c->sess);
    return c->init ? proc_child_signal(c->init, SIGKILL) : -ESRCH;
}

static int signal_init(struct container *c, int sig)
{
    if (c->sess && sig != SIGKILL) { /* the session knows its program's pid, not a pidfd */
        struct sess_info si;
        sess_info(c->sess, &si);
        return si.exited ? -ESRCH : kill(si.pid, sig) < 0 ? -errno : 0;
    }
    if (sig == SIGKILL)
        return kill_init(c);
    return c->init ? proc_child_signal(c->init, sig) : -ESRCH;
}

static void on_timeout(uv_timer_t *t)
{
    struct container *c = t->data;
    log_info("container %s did not stop within %u ms: SIGKILL", c->spec.name, c->stop_timeout_ms);
    c->force_kill = true;
    (void)signal_init(c, SIGKILL);
}

/* ---- runtime calls ---- */

static void on_created(int status, const char *out, void *userdata);
static void on_started(int status, const char *out, void *userdata);
static void on_deleted(int status, const char *out, void *userdata);

static int run_runtime(struct container *c, char **argv, int out_fd, ctr_cmd_fn done,
                       char *err, size_t err_size)
{
    if (!argv)
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    int r = ctr_cmd_run(c->m, argv, out_fd, done, c, &c->cmd);
    strv_free(argv);
    if (r < 0)
        return errmsg_fail(err, err_size, r, "cannot run %s: %s", c->m->rt.path, strerror(-r));
    return 0;
}

static int open_console(struct container *c, char *err, size_t err_size)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (asprintf(&c->console_path, "%s/c-%s.sock", c->m->console_dir, c->id) < 0) {
        c->console_path = NULL;
        return errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    }
    if (strlen(c->console_path) >= sizeof sa.sun_path)
        return errmsg_fail(err, err_size, -ENAMETOOLONG, "the console socket path '%s' is too "
                           "long for a unix socket", c->console_path);
    memcpy(sa.sun_path, c->console_path, strlen(c->console_path));
    (void)unlink(c->console_path);
    c->console_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->console_fd < 0 || bind(c->console_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(c->console_fd, 4) < 0)
        return errmsg_fail(err, err_size, -errno, "cannot listen on the console socket '%s': %s",
                           c->console_path, strerror(errno));
    return 0;
}

int ctr_run_create(struct container *c, char *err, size_t err_size)
{
    char *rlog = ctr_path(c, "runtime.log"), *pidf = ctr_path(c, "init.pid");
    int r = 0, fd = -1;

    if (!rlog || !pidf)
        r = errmsg_fail(err, err_size, -ENOMEM, "out of memory");
    if (r == 0 && !c->mounted)
        r = ctr_mount_root(c, err, err_size);
    if (r == 0 && c->spec.tty)
        r = open_console(c, err, err_size);
    if (r == 0) {
        (void)unlink(pidf);
        (void)truncate(rlog, 0);
        fd = open(c->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            r = errmsg_fail(err, err_size, -errno, "cannot open '%s': %s", c->log_path,
                            strerror(errno));
    }
    if (r == 0)
        r = run_runtime(c,
                        c->spec.tty ? ctr_runtime_argv(&c->m->rt, rlog, "create", "--bundle", c->dir,
                                                       "--pid-file", pidf, "--console-socket",
                                                       c->console_path, c->id, NULL)
                                    : ctr_runtime_argv(&c->m->rt, rlog, "create", "--bundle", c->dir,
                                                       "--pid-file", pidf, c->id, NULL),
                        fd, on_created, err, err_size);
    if (fd >= 0)
        close(fd);
    free(rlog);
    free(pidf);
    if (r < 0) {
        close_console(c);
        ctr_unmount_root(c);
        return r;
    }
    c->state = CTR_CREATING;
    c->exited = false;
    return 0;
}

/* The terminal runc or crun sent: the message's payload is a name, the descriptor is what
 * counts. */
static int take_console(struct container *c)
{
    int conn = accept4(c->console_fd, NULL, NULL, SOCK_CLOEXEC);
    int fds[FDPASS_MAX], n = 0;
    char buf[256];
    if (conn < 0)
        return -errno;
    ssize_t len = fdpass_recv(conn, buf, sizeof buf, fds, &n);
    close(conn);
    if (len < 0)
        return (int)len;
    for (int i = 1; i < n; i++)
        close(fds[i]);
    if (n < 1)
        return -EPROTO;
    struct winsize ws = {.ws_row = c->spec.rows ? c->spec.rows : 24,
                         .ws_col = c->spec.cols ? c->spec.cols : 80};
    (void)ioctl(fds[0], TIOCSWINSZ, &ws);
    return fds[0];
}

static int adopt_init(struct container *c, int master)
{
    if (master < 0)
        return proc_adopt(c->m->reaper, c->pid, c->starttime, NULL, on_init_exit, c, &c->init);
    char origin[128];
    snprintf(origin, sizeof origin, "container:%s", c->spec.name);
    struct sess_adopt so = {
        .master_fd = master,
        .pid = c->pid,
        .starttime = c->starttime,
        .command = c->spec.name,
        .originator = origin,
        .rows = c->spec.rows ? c->spec.rows : 24,
        .cols = c->spec.cols ? c->spec.cols : 80,
        .hold = true,
    };
    int r = sess_adopt(c->m->sessions, &so, &c->sess);
    if (r < 0)
        return r;
    sess_set_owner(c->sess, &owner_ops, c);
    struct sess_info si;
    sess_info(c->sess, &si);
    free(c->session_id);
    c->session_id = strdup(si.id);
    uint64_t h;
    struct sess_tee_opts t = {.stream = SESS_OUT, .path = c->log_path, .suppress_markers = true};
    (void)sess_tee_add(c->sess, &t, &h);
    return 0;
}

/* The create failed: a container never created goes; one that ran before is EXITED again. */
static void create_failed(struct container *c, int r, const char *msg)
{
    log_info("container %s (%s): %s", c->spec.name, c->id, msg);
    set_error(c, msg);
    close_console(c);
    ctr_unmount_root(c);
    proc_group_prune(c->cgroup);
    c->want_start = false;
    ctr_wait_finish(&c->waits_run, r, msg);
    if (c->started_at == 0) {
        c->want_remove = true;
        c->state = CTR_EXITED;
    } else {
        c->state = CTR_EXITED;
        ctr_changed(c);
    }
    ctr_advance(c);
}

static void on_created(int status, const char *out, void *userdata)
{
    struct container *c = userdata;
    char msg[CTR_ERR_MAX], *rlog = ctr_path(c, "runtime.log"), *pidf = ctr_path(c, "init.pid");
    char *why = status != 0 && rlog ? ctr_runtime_log_error(rlog) : NULL;
    FILE *f = status == 0 && pidf ? fopen(pidf, "re") : NULL;
    int pid = 0, master = -1, r = 0;

    c->cmd = NULL;
    free(rlog);
    free(pidf);
    if (status != 0) {
        snprintf(msg, sizeof msg, "%s could not create the container: %s", c->m->rt.name,
                 why ? why : *out ? out : "no reason given");
        free(why);
        return create_failed(c, -ENOEXEC, msg);
    }
    if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
        if (f)
            fclose(f);
        return create_failed(c, -EPROTO, "the runtime wrote no pid file");
    }
    fclose(f);
    struct proc_stat st;
    c->pid = pid;
    c->starttime = proc_read_stat(pid, &st) == 0 ? st.starttime : 0;
    if (c->spec.tty && (master = take_console(c)) < 0)
        r = master;
    close_console(c);
    if (r == 0)
        r = adopt_init(c, master);
    if (r < 0) { /* nothing watches it: it must not run unseen */
        (void)kill(pid, SIGKILL);
        snprintf(msg, sizeof msg, "cannot take charge of the container's init: %s",
                 strerror(-r));
        c->exited = true;
        c->exit_known = false;
        set_error(c, msg);
        ctr_wait_finish(&c->waits_run, -EPROTO, msg);
        c->state = CTR_CREATED;
        return ctr_advance(c);
    }
    c->state = CTR_CREATED;
    if (!c->want_start)
        ctr_wait_finish(&c->waits_run, 0, NULL);
    ctr_changed(c);
    ctr_advance(c);
}

static void on_started(int status, const char *out, void *userdata)
{
    struct container *c = userdata;
    char msg[CTR_ERR_MAX], *rlog = ctr_path(c, "runtime.log");
    char *why = status != 0 && rlog ? ctr_runtime_log_error(rlog) : NULL;

    c->cmd = NULL;
    free(rlog);
    c->want_start = false;
    if (status != 0) {
        snprintf(msg, sizeof msg, "%s could not start the container: %s", c->m->rt.name,
                 why ? why : *out ? out : "no reason given");
        free(why);
        set_error(c, msg);
        (void)signal_init(c, SIGKILL); /* still blocked before exec: it goes */
        ctr_wait_finish(&c->waits_run, -ENOEXEC, msg);
        return ctr_advance(c);
    }
    if (!c->exited)
        c->state = CTR_RUNNING;
    c->started_at = ctr_now();
    set_error(c, NULL);
    ctr_wait_finish(&c->waits_run, 0, NULL);
    ctr_changed(c);
    ctr_advance(c);
}

static void remove_now(struct container *c);

static void on_deleted(int status, const char *out, void *userdata)
{
    struct container *c = userdata;
    (void)out;
    c->cmd = NULL;
    if (status != 0)
        log_info("container %s: the runtime's delete failed (%d); going on", c->spec.name, status);
    ctr_unmount_root(c);
    proc_group_prune(c->cgroup);
    if (c->sess) {
        sess_set_owner(c->sess, NULL, NULL);
        sess_purge(c->sess);
        c->sess = NULL;
    }
    c->pid = 0;
    c->state = CTR_EXITED;
    c->exited = false;
    c->want_stop = false;
    c->force_kill = false;
    if (c->spec.auto_remove)
        c->want_remove = true;
    ctr_wait_finish(&c->waits_run, c->started_at ? 0 : -ECHILD,
                    c->started_at ? NULL : "the container ended before it started");
    ctr_changed(c);
    ctr_wait_finish(&c->waits_exit, 0, NULL);
    ctr_advance(c);
}

/* The init ended (or never will run): the runtime lets go of the container. */
static void begin_delete(struct container *c)
{
    char err[CTR_ERR_MAX];
    if (run_runtime(c, ctr_runtime_argv(&c->m->rt, NULL, "delete", "--force", c->id, NULL), -1,
                    on_deleted, err, sizeof err) < 0) {
        log_warning("container %s: %s", c->spec.name, err);
        on_deleted(-1, "", c);
    }
}

void ctr_advance(struct container *c)
{
    char err[CTR_ERR_MAX];

    if (c->cmd || c->gone)
        return;
    bool live = c->state == CTR_CREATED || c->state == CTR_STARTING ||
                c->state == CTR_RUNNING || c->state == CTR_STOPPING;
    if (live && c->exited)
        return begin_delete(c);
    if (live && (c->want_remove || c->want_stop)) {
        bool never_started = c->state == CTR_CREATED;
        if (never_started || c->force_kill || c->state == CTR_RUNNING) {
            int sig = never_started || c->force_kill ? SIGKILL : c->stop_signal;
            if (c->state == CTR_RUNNING && c->timer && sig != SIGKILL)
                uv_timer_start(c->timer, on_timeout, c->stop_timeout_ms, 0);
            if (signal_init(c, sig) == -ESRCH && !c->init && !c->sess)
                c->exited = true; /* nothing to wait for */
            if (c->state == CTR_RUNNING) {
                c->state = CTR_STOPPING;
                ctr_changed(c);
            }
            if (c->exited)
                return begin_delete(c);
        }
        return;
    }
    if (c->state == CTR_CREATED && c->want_start) {
        c->state = CTR_STARTING;
        if (run_runtime(c, ctr_runtime_argv(&c->m->rt, NULL, "start", c->id, NULL), -1,
                        on_started, err, sizeof err) < 0) {
            c->state = CTR_CREATED;
            c->want_start = false;
            set_error(c, err);
            ctr_wait_finish(&c->waits_run, -ENOEXEC, err);
        }
        return;
    }
    if (c->state == CTR_EXITED && c->want_remove)
        return remove_now(c);
    if (c->state == CTR_EXITED && c->want_start) {
        int r = ctr_run_create(c, err, sizeof err);
        if (r < 0) {
            c->want_start = false;
            set_error(c, err);
            ctr_wait_finish(&c->waits_run, r, err);
            ctr_changed(c);
            return;
        }
        c->restarts++;
        ctr_changed(c);
    }
}

/* ---- removal ---- */

static void remove_now(struct container *c)
{
    struct ctr_mgr *m = c->m;
    c->state = CTR_REMOVING;
    if (m->watch)
        m->watch(c, m->watch_data);
    ctr_unmount_root(c);
    close_console(c);
    (void)ctr_rm_rf(c->dir);
    (void)ctr_db_delete(m, "container", c->id);
    for (struct ctr_image *img = m->images; img; img = img->next)
        if (c->image_id && strcmp(img->id, c->image_id) == 0 && img->users)
            img->users--;
    struct container **pp = &m->containers;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    c->gone = true;
    log_info("container %s (%s) removed", c->spec.name, c->id);
    ctr_wait_finish(&c->waits_run, -ENOENT, "the container was removed");
    ctr_wait_finish(&c->waits_exit, 0, NULL);
    ctr_wait_finish(&c->waits_gone, 0, NULL);
    ctr_unref_free(c);
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

void ctr_unref_free(struct container *c)
{
    ctr_cmd_cancel(c->cmd);
    if (c->init)
        proc_child_forget(c->init);
    if (c->sess)
        sess_set_owner(c->sess, NULL, NULL);
    if (c->timer)
        uv_close((uv_handle_t *)c->timer, timer_closed);
    close_console(c);
    ctr_spec_done(&c->spec);
    free(c->image_id);
    free(c->lower);
    free(c->dir);
    free(c->log_path);
    free(c->cgroup);
    free(c->session_id);
    free(c->error);
    free(c);
}

int ctr_start(struct container *c, struct ctr_wait *w, char *err, size_t err_size)
{
    if (c->m->stopping)
        return errmsg_fail(err, err_size, -ESHUTDOWN, "droverd is stopping");
    if (c->state == CTR_RUNNING || c->state == CTR_STARTING ||
        (c->state == CTR_CREATING && c->want_start))
        return errmsg_fail(err, err_size, -EALREADY, "container %s is running", c->spec.name);
    if (c->state == CTR_STOPPING || c->state == CTR_REMOVING || c->want_remove)
        return errmsg_fail(err, err_size, -EBUSY, "container %s is %s", c->spec.name,
                           ctr_state_name(c->state));
    c->want_start = true;
    c->want_stop = false;
    ctr_wait_push(&c->waits_run, w);
    ctr_advance(c);
    return 0;
}

int ctr_stop(struct container *c, int sig, uint32_t timeout_ms, struct ctr_wait *w, char *err,
             size_t err_size)
{
    (void)err;
    (void)err_size;
    if (c->state == CTR_EXITED && !c->want_start)
        return 1; /* stopped already */
    if (sig)
        c->stop_signal = sig;
    if (timeout_ms != UINT32_MAX)
        c->stop_timeout_ms = timeout_ms;
    c->want_start = false;
    c->want_stop = true;
    if (sig == SIGKILL || (c->state == CTR_STOPPING && timeout_ms == 0))
        c->force_kill = true;
    if (c->state == CTR_STOPPING && c->force_kill)
        (void)signal_init(c, SIGKILL);
    ctr_wait_push(&c->waits_exit, w);
    ctr_advance(c);
    return 0;
}

int ctr_remove(struct container *c, bool force, struct ctr_wait *w, char *err, size_t err_size)
{
    if (c->state != CTR_EXITED && !force)
        return errmsg_fail(err, err_size, -EBUSY, "container %s is %s (stop it first, or "
                           "force)", c->spec.name, ctr_state_name(c->state));
    c->want_remove = true;
    c->want_start = false;
    if (c->state != CTR_EXITED) {
        c->force_kill = true;
        if (c->state == CTR_STOPPING)
            (void)signal_init(c, SIGKILL);
    }
    ctr_wait_push(&c->waits_gone, w);
    ctr_advance(c);
    return 0;
}

void ctr_wait_exit(struct container *c, struct ctr_wait *w)
{
    ctr_wait_push(&c->waits_exit, w);
    if (c->state == CTR_EXITED && !c->want_start && !c->cmd)
        ctr_wait_finish(&c->waits_exit, 0, NULL);
}

/* Adopts what a droverd before us left running (mgr restore). */
void ctr_adopt(struct container *c)
{
    bool live = c->state == CTR_CREATED || c->state == CTR_STARTING ||
                c->state == CTR_RUNNING || c->state == CTR_STOPPING;
    if (c->state == CTR_CREATING) { /* it stopped half-way: the runtime lets go of it */
        set_error(c, "droverd stopped while the container was being created");
        c->state = CTR_CREATED;
        c->exited = true;
        c->exit_known = false;
        live = true;
    } else if (live && c->pid > 0) {
        struct session *s = c->session_id ? sess_find(c->m->sessions, c->session_id) : NULL;
        struct sess_info si;
        int r = -ESRCH;
        if (s) {
            sess_info(s, &si);
            if (!si.exited && si.pid == c->pid) {
                c->sess = s;
                sess_set_owner(s, &owner_ops, c);
                r = 0;
            }
        }
        if (r < 0)
            r = proc_adopt(c->m->reaper, c->pid, c->starttime, NULL, on_init_exit, c, &c->init);
        if (r < 0) {
            c->exited = true;
            c->exit_known = false;
            c->finished_at = ctr_now();
        } else if (c->state == CTR_STARTING) {
            char comm[PROC_COMM_MAX] = "";
            struct proc_stat st;
            if (proc_read_stat(c->pid, &st) == 0)
                snprintf(comm, sizeof comm, "%s", st.comm);
            c->state = strncmp(comm, "runc:", 5) == 0 ? CTR_CREATED : CTR_RUNNING;
        }
        if (c->state == CTR_STOPPING && !c->exited) {
            c->want_stop = true;
            uv_timer_start(c->timer, on_timeout, c->stop_timeout_ms, 0);
        }
        log_info("container %s (%s) %s", c->spec.name, c->id,
                 c->exited ? "ended while droverd was away" : "adopted");
    } else if (live) {
        c->exited = true;
        c->exit_known = false;
    }
    if (c->state == CTR_EXITED && c->mounted)
        ctr_unmount_root(c);
    if (c->state == CTR_REMOVING)
        c->state = CTR_EXITED, c->want_remove = true;
    ctr_advance(c);
}
