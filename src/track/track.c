/* The registry of tracked processes (see track.h). Rows are kept in memory in registration order
 * and mirrored in SQLite; every change is written through before it is applied in memory, so a
 * failed write changes nothing.
 *
 * The zombie pass has upstream's verdicts and wording, with one rule upstream lacks: a pid whose
 * start time no longer matches its registration belongs to another process now; that row is
 * dropped and reported, the process is never signalled. The periodic pass is a timer that runs
 * only while there are rows: an empty registry never wakes droverd. */
#include "track/track.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/macro.h"
#include "base/strpack.h"
#include "base/time-util.h"
#include "base/vec.h"
#include "events/events.h"
#include "proc/proc.h"
#include "store/store.h"

/* How far a registrant's created_at may be from the start time /proc reports and still be the
 * same process, when we have nothing better (upstream's tolerance). */
#define CREATED_SLACK_MS 2000

struct track {
    struct store *store;      /* the database */
    struct track_proc *v;     /* rows, in registration order */
    size_t n, cap;            /* rows used and allocated */
    sqlite3_stmt *insert;     /* INSERT OR REPLACE a row */
    sqlite3_stmt *delete_pid; /* DELETE by pid */
    struct watch *watches;    /* SPAWN_DAEMON children we wait for */
    uv_timer_t timer;         /* the periodic zombie pass */
    uint32_t interval_ms;     /* its period; 0: never */
    bool timer_running;       /* whether it is armed */
    struct ev_bus *bus;       /* where registrations are told, or NULL */
};

static double now_s(void)
{
    return (double)now_ns(CLOCK_REALTIME) / 1e9;
}

void track_proc_done(struct track_proc *p)
{
    free(p->kind); /* the block that holds all five strings (proc_copy) */
    *p = (struct track_proc){0};
}

/* A copy of src whose five strings share one block, owned through kind; NULL strings become
 * empty, an empty containment "contained". dst is written only on success. */
static int proc_copy(struct track_proc *dst, const struct track_proc *src)
{
    struct track_proc c = *src;
    const char *from[] = {
        src->kind,
        src->command,
        src->cwd,
        src->originator,
        src->containment && *src->containment ? src->containment : "contained",
    };
    char **to[] = {&c.kind, &c.command, &c.cwd, &c.originator, &c.containment};
    int r = strpack_copy(to, from, ARRAY_SIZE(from));

    if (r < 0)
        return r;
    *dst = c;
    return 0;
}

static void on_pass(uv_timer_t *timer);

/* Arms the periodic pass when the first row arrives, disarms it when the last one goes. */
static void update_timer(struct track *t)
{
    bool want = t->n > 0 && t->interval_ms > 0;
    if (want == t->timer_running)
        return;
    t->timer_running = want;
    if (want)
        uv_timer_start(&t->timer, on_pass, t->interval_ms, t->interval_ms);
    else
        uv_timer_stop(&t->timer);
}

/* ---- identity ---- */

/* What /proc says about a row's pid now. */
struct seen {
    bool exists;       /* /proc/<pid> is there */
    bool same;         /* and it is the registered process */
    char state;        /* its state letter */
    pid_t ppid;        /* its parent now */
    uint64_t start_ms; /* its start time, ms since the epoch */
};

static struct seen look(const struct track_proc *p)
{
    struct proc_stat st;
    struct seen s = {0};

    if (proc_read_stat(p->pid, &st) < 0)
        return s;
    s.exists = true;
    s.state = st.state;
    s.ppid = st.ppid;
    s.start_ms = proc_ticks_to_epoch_ms(st.starttime);
    if (p->start_ticks)
        s.same = st.starttime == p->start_ticks;
    else
        s.same = llabs((long long)s.start_ms - (long long)p->created_at_ms) <= CREATED_SLACK_MS;
    return s;
}

static bool parent_alive(const struct track_proc *p)
{
    struct proc_stat st;
    if (p->ppid <= 0)
        return false;
    return proc_read_stat(p->ppid, &st) == 0 && st.state != 'Z' &&
           (!p->ppid_start_ticks || st.starttime == p->ppid_start_ticks);
}

/* ---- storage ---- */

static int db_insert(struct track *t, const struct track_proc *p)
{
    sqlite3_stmt *st = t->insert;
    sqlite3_bind_int64(st, 1, p->pid);
    sqlite3_bind_int64(st, 2, p->created_at_ms);
    sqlite3_bind_text(st, 3, p->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->command, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, p->cwd, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, p->originator, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, p->containment, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 8, p->registered_at);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)p->start_ticks);
    sqlite3_bind_int64(st, 10, p->ppid);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)p->ppid_start_ticks);
    return store_run(t->store, t->insert);
}

static int db_delete(struct track *t, pid_t pid)
{
    sqlite3_bind_int64(t->delete_pid, 1, pid);
    return store_run(t->store, t->delete_pid);
}

/* "process.registered" or "process.unregistered", about row p. */
static void publish(struct track *t, const char *type, const struct track_proc *p)
{
    char pid[16];
    if (!t->bus)
        return;
    snprintf(pid, sizeof pid, "%d", (int)p->pid);
    char *data[] = {
        "pid", pid, "command", p->command, "originator", p->originator ? p->originator : "", NULL};
    struct ev e = {.type = type, .source = "processes", .data = data};
    (void)ev_publish(t->bus, &e, NULL);
}

void track_set_bus(struct track *t, struct ev_bus *bus)
{
    t->bus = bus;
}

static void remove_at(struct track *t, size_t i)
{
    publish(t, "process.unregistered", &t->v[i]);
    track_proc_done(&t->v[i]);
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
    t->n--;
    update_timer(t);
}

static ssize_t find_pid(const struct track *t, pid_t pid)
{
    for (size_t i = t->n; i-- > 0;)
        if (t->v[i].pid == pid)
            return (ssize_t)i;
    return -1;
}

static int append(struct track *t, const struct track_proc *p)
{
    if (VEC_RESERVE(t->v, t->cap, t->n + 1) < 0)
        return -ENOMEM;
    int r = proc_copy(&t->v[t->n], p);
    if (r < 0)
        return r;
    publish(t, "process.registered", &t->v[t->n]);
    t->n++;
    update_timer(t);
    return 0;
}

int track_register(struct track *t, const struct track_proc *p)
{
    struct track_proc row = *p;
    struct proc_stat st;
    int r;

    if (p->pid <= 0)
        return -EINVAL;
    if (!p->command || !*p->command)
        return -EINVAL;
    row.registered_at = now_s();
    row.start_ticks = row.ppid_start_ticks = 0;
    row.ppid = 0;
    if (proc_read_stat(p->pid, &st) == 0) {
        row.start_ticks = st.starttime;
        row.ppid = st.ppid;
        struct proc_stat pst;
        if (st.ppid > 0 && proc_read_stat(st.ppid, &pst) == 0)
            row.ppid_start_ticks = pst.starttime;
    }
    if (!row.containment || !*row.containment)
        row.containment = "contained";
    /* One row per pid: a new registration replaces the old one (the pid was reused). */
    if ((r = db_delete(t, p->pid)) < 0 || (r = db_insert(t, &row)) < 0)
        return r;
    ssize_t i = find_pid(t, p->pid);
    if (i >= 0)
        remove_at(t, (size_t)i);
    return append(t, &row);
}

int track_unregister(struct track *t, pid_t pid)
{
    ssize_t i = find_pid(t, pid);
    int r;

    if (i < 0)
        return -ENOENT;
    if ((r = db_delete(t, pid)) < 0)
        return r;
    remove_at(t, (size_t)i);
    return 0;
}

void track_unregister_exact(struct track *t, pid_t pid, int64_t created_at_ms)
{
    ssize_t i = find_pid(t, pid);
    if (i >= 0 && t->v[i].created_at_ms == created_at_ms && db_delete(t, pid) == 0)
        remove_at(t, (size_t)i);
}

size_t track_count(const struct track *t)
{
    return t->n;
}

int track_list(struct track *t, const char *prefix, struct track_view **ret, size_t *ret_n)
{
    struct track_view *v = calloc(t->n ? t->n : 1, sizeof *v);
    size_t n = 0, plen = prefix ? strlen(prefix) : 0;
    double now = now_s();

    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        const struct track_proc *p = &t->v[i];
        if (prefix && strncmp(p->originator, prefix, plen) != 0)
            continue;
        struct seen s = look(p);
        v[n++] = (struct track_view){
            .p = p,
            .state = !s.exists || !s.same ? TRACK_DEAD
                     : s.state == 'Z'     ? TRACK_ZOMBIE
                                          : TRACK_ALIVE,
            .parent_alive = parent_alive(p),
            .uptime_seconds = MAX(0.0, now - p->registered_at),
            .validated_at = now,
        };
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- zombie pass ---- */

static bool classify(const struct track_proc *p, struct track_zombie *z)
{
    struct seen s = look(p);

    z->pid = p->pid;
    if (!s.exists) {
        z->verdict = TRACK_GONE;
        snprintf(z->reason, sizeof z->reason, "process %d no longer exists", (int)p->pid);
    } else if (!s.same) {
        z->verdict = TRACK_REUSED;
        snprintf(z->reason, sizeof z->reason,
                 "PID %d reused: registered creation_time=%lldms, OS creation_time=%llums",
                 (int)p->pid, (long long)p->created_at_ms, (unsigned long long)s.start_ms);
    } else if (s.state == 'Z') {
        z->verdict = TRACK_DEFUNCT;
        snprintf(z->reason, sizeof z->reason,
                 "process %d is a zombie (exited, not reaped by parent PID %d)", (int)p->pid,
                 (int)s.ppid);
    } else if (s.ppid > 0 && kill(s.ppid, 0) < 0 && errno == ESRCH) {
        z->verdict = TRACK_ORPHAN;
        snprintf(z->reason, sizeof z->reason, "parent PID %d of process %d is dead", (int)s.ppid,
                 (int)p->pid);
    } else {
        return false;
    }
    return true;
}

/* SIGKILLs an orphan only while it is still the registered process. */
static bool kill_orphan(const struct track_proc *p)
{
    struct seen s = look(p);
    if (!s.exists)
        return true;
    return s.same && kill(p->pid, SIGKILL) == 0;
}

void track_zombies_free(struct track_zombie *z, size_t n)
{
    for (size_t i = 0; z && i < n; i++)
        free(z[i].command);
    free(z);
}

int track_zombies(struct track *t, bool dry_run, struct track_zombie **ret, size_t *ret_n)
{
    struct track_zombie *z = calloc(t->n ? t->n : 1, sizeof *z);
    size_t n = 0;

    if (!z)
        return -ENOMEM;
    for (size_t i = 0; i < t->n;) {
        struct track_zombie *cur = &z[n];
        if (!classify(&t->v[i], cur)) {
            i++;
            continue;
        }
        if (!(cur->command = strdup(t->v[i].command))) {
            track_zombies_free(z, n);
            return -ENOMEM;
        }
        n++;
        if (dry_run) {
            i++;
            continue;
        }
        cur->killed =
            cur->verdict == TRACK_GONE || (cur->verdict == TRACK_ORPHAN && kill_orphan(&t->v[i]));
        if (db_delete(t, t->v[i].pid) == 0)
            remove_at(t, i);
        else
            i++;
    }
    *ret = z;
    *ret_n = n;
    return 0;
}

static void on_pass(uv_timer_t *timer)
{
    struct track *t = timer->data;
    struct track_zombie *z;
    size_t n;

    if (track_zombies(t, false, &z, &n) == 0)
        track_zombies_free(z, n);
}

/* ---- loading ---- */

static int load(struct track *t)
{
    sqlite3_stmt *st;
    int r = store_prepare(t->store,
                          "SELECT pid, created_at_ms, kind, command, cwd, originator, containment,"
                          " registered_at, start_ticks, ppid, ppid_start_ticks"
                          " FROM tracked_processes ORDER BY registered_at",
                          &st);
    if (r < 0)
        return r;
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct track_proc p = {
            .pid = (pid_t)sqlite3_column_int64(st, 0),
            .created_at_ms = sqlite3_column_int64(st, 1),
            .kind = (char *)store_column_text(st, 2),
            .command = (char *)store_column_text(st, 3),
            .cwd = (char *)store_column_text(st, 4),
            .originator = (char *)store_column_text(st, 5),
            .containment = (char *)store_column_text(st, 6),
            .registered_at = sqlite3_column_double(st, 7),
            .start_ticks = (uint64_t)sqlite3_column_int64(st, 8),
            .ppid = (pid_t)sqlite3_column_int64(st, 9),
            .ppid_start_ticks = (uint64_t)sqlite3_column_int64(st, 10),
        };
        /* Recovery: a process that ended, or whose pid was reused, while we were not looking. */
        struct seen s = look(&p);
        if (!s.exists || !s.same) {
            (void)db_delete(t, p.pid);
            continue;
        }
        if ((r = append(t, &p)) < 0)
            break;
    }
    sqlite3_finalize(st);
    return r;
}

int track_new(struct uv_loop_s *loop, struct store *s, uint32_t interval_ms, struct track **ret)
{
    struct track *t = calloc(1, sizeof *t);
    int r;

    if (!t)
        return -ENOMEM;
    t->store = s;
    t->interval_ms = interval_ms;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    if ((r = store_prepare(s,
                           "INSERT OR REPLACE INTO tracked_processes (pid, created_at_ms, kind,"
                           " command, cwd, originator, containment, registered_at, start_ticks,"
                           " ppid, ppid_start_ticks) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                           &t->insert)) < 0 ||
        (r = store_prepare(s, "DELETE FROM tracked_processes WHERE pid = ?", &t->delete_pid)) < 0 ||
        (r = load(t)) < 0) {
        track_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

/* ---- SPAWN_DAEMON ---- */

/* Waits for a daemon we spawned, to drop its row when it exits. */
struct watch {
    struct watch *next, **pprev; /* in track->watches */
    struct track *t;             /* owner */
    pid_t pid;                   /* the registration to drop */
    int64_t created_at_ms;       /* ...exactly this one */
};

static void watch_free(struct watch *w)
{
    if (w->next)
        w->next->pprev = w->pprev;
    *w->pprev = w->next;
    free(w);
}

static void daemon_exited(struct proc_child *c, int status, void *userdata)
{
    struct watch *w = userdata;
    (void)c, (void)status;
    track_unregister_exact(w->t, w->pid, w->created_at_ms);
    watch_free(w);
}

static const char *trim(const char *s, size_t *ret_len)
{
    size_t n;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    *ret_len = n;
    return s;
}

int track_spawn_daemon(struct track *t, struct proc_reaper *r, const char *command, const char *cwd,
                       struct proc_env *env, const char *originator, struct track_proc *ret)
{
    size_t len;
    const char *cmd = trim(command ? command : "", &len);
    _cleanup_free_ char *trimmed = strndup(cmd, len);
    struct proc_child *c;
    int e;

    if (!trimmed)
        return -ENOMEM;
    if (!*trimmed)
        return -EINVAL;
    if ((e = proc_env_set(env, "RUNNING_PROCESS_ORIGINATOR", originator)) < 0 ||
        (e = proc_env_set(env, "RUNNING_PROCESS_IS_DAEMON", "1")) < 0)
        return e;
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    char *argv[] = {"/bin/sh", "-lc", trimmed, NULL};
    struct proc_spawn_opts o = {
        .argv = argv,
        .cwd = cwd && *cwd ? cwd : NULL,
        .envp = env->v,
        .stdio = {PROC_STDIO_NULL, PROC_STDIO_NULL, PROC_STDIO_NULL},
        .group = PROC_GROUP_SESSION,
        .umask = -1,
        .cgroup = true,
    };
    e = proc_spawn(r, &o, daemon_exited, w, NULL, &c);
    if (e < 0) {
        free(w);
        return e;
    }
    struct track_proc p = {
        .pid = proc_child_pid(c),
        .created_at_ms = (int64_t)proc_ticks_to_epoch_ms(proc_child_starttime(c)),
        .kind = "subprocess",
        .command = trimmed,
        .cwd = (char *)(cwd ? cwd : ""),
        .originator = (char *)originator,
        .containment = "detached",
    };
    *w = (struct watch){.next = t->watches,
                        .pprev = &t->watches,
                        .t = t,
                        .pid = p.pid,
                        .created_at_ms = p.created_at_ms};
    if (t->watches)
        t->watches->pprev = &w->next;
    t->watches = w;
    e = track_register(t, &p);
    if (e >= 0)
        e = proc_copy(ret, &t->v[t->n - 1]);
    if (e < 0) {
        /* It runs but we could not record it: stop watching, let it be. */
        proc_child_forget(c);
        watch_free(w);
    }
    return e;
}

static void track_closed(uv_handle_t *h)
{
    free(h->data);
}

void track_free(struct track *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        track_proc_done(&t->v[i]);
    free(t->v);
    /* The reaper was freed first and forgot these children: they outlive us, unwatched. */
    while (t->watches)
        watch_free(t->watches);
    sqlite3_finalize(t->insert);
    sqlite3_finalize(t->delete_pid);
    uv_close((uv_handle_t *)&t->timer, track_closed);
}
