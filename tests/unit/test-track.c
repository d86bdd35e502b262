/* Unit tests of src/track, the registry of tracked processes, against real children: register,
 * replace and unregister; the /proc identity taken at registration, so that a pid the kernel
 * handed to another process is "someone else" (made on demand with clone3's set_tid) and never
 * signalled; alive, zombie and dead as /proc says; the zombie pass and its verdicts; rows kept
 * through the store across a reopen, and dropped there when their process went while nobody
 * looked; the periodic pass that runs only while rows exist; SPAWN_DAEMON. Each case has its own
 * SQLite file in a mkdtemp directory. */
#include "unit.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/proc.h"
#include "store/store.h"
#include "track/track.h"

static char dir[32];        /* this case's directory */
static char db[64];         /* the database in it */
static uv_loop_t loop;      /* the registry's loop */
static struct store *store; /* the database, open */
static struct track *t;     /* the registry on it */

static void open_track(uint32_t interval_ms)
{
    int r = track_new(&loop, store, interval_ms, &t);
    ck_assert_msg(r == 0, "track_new: %s", strerror(-r));
}

/* track_free closes its timer through the loop: run it so the registry is really gone. */
static void close_track(void)
{
    track_free(t);
    t = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void setup(void)
{
    strcpy(dir, "/tmp/drover-track-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/drover.db", dir);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(store_open(db, 0, &store), 0);
    open_track(0);
}

static void teardown(void)
{
    char cmd[64];
    close_track();
    store_close(store);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- processes to register ---- */

/* In a new child: wait to be killed, and die with the test if a check fails first. */
static _Noreturn void linger(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;)
        pause();
}

static pid_t child(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        linger();
    return pid;
}

static void kill_reap(pid_t pid)
{
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

/* Kills a child and waits until it is a zombie, without reaping it. */
static void make_zombie(pid_t pid)
{
    siginfo_t si;
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
}

/* A pid nothing runs under: a child's, once reaped. */
static pid_t free_pid(void)
{
    pid_t pid = child();
    kill_reap(pid);
    return pid;
}

static uint64_t start_ticks(pid_t pid)
{
    struct proc_stat st;
    ck_assert_int_eq(proc_read_stat(pid, &st), 0);
    return st.starttime;
}

/* A new child with exactly the pid of one already reaped, which had started at old_ticks: the
 * kernel reusing a pid, on demand (clone3's set_tid needs CAP_SYS_ADMIN). Start times count clock
 * ticks, so a process made within the same tick as the old one could not be told from it: made
 * again until it can. */
static pid_t child_at(pid_t pid, uint64_t old_ticks)
{
    for (int i = 0; i < 1000; i++) {
        struct clone_args ca = {
            .exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&pid, .set_tid_size = 1};
        long r = syscall(SYS_clone3, &ca, sizeof ca);
        if (r == 0)
            linger();
        ck_assert_msg(r == pid, "clone3 at %d: %ld (%s)", (int)pid, r, strerror(errno));
        if (start_ticks(pid) != old_ticks)
            return pid;
        kill_reap(pid);
        usleep(1000);
    }
    ck_abort_msg("pid %d: still the same clock tick", (int)pid);
    return -1;
}

/* A registration as running-process's clients send it, created when the process started. */
static struct track_proc row_for(pid_t pid, const char *originator)
{
    struct proc_stat st;
    int64_t created = proc_read_stat(pid, &st) == 0 ? (int64_t)proc_ticks_to_epoch_ms(st.starttime)
                                                    : (int64_t)time(NULL) * 1000;
    return (struct track_proc){.pid = pid,
                               .created_at_ms = created,
                               .kind = "subprocess",
                               .command = "sleep infinity",
                               .cwd = "/tmp",
                               .originator = (char *)originator,
                               .containment = "contained"};
}

static void reg(pid_t pid, const char *originator)
{
    struct track_proc p = row_for(pid, originator);
    ck_assert_int_eq(track_register(t, &p), 0);
}

/* The first row sql (with ?1 for pid) finds in the database, stepped to; the caller finalizes. */
static sqlite3_stmt *db_row(const char *sql, pid_t pid)
{
    sqlite3_stmt *st;
    ck_assert_msg(sqlite3_prepare_v2(store_db(store), sql, -1, &st, NULL) == SQLITE_OK, "%s", sql);
    sqlite3_bind_int(st, 1, pid);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    return st;
}

/* Rows in the database for pid (all rows for 0). */
static long long db_rows(pid_t pid)
{
    sqlite3_stmt *st =
        db_row("SELECT count(*) FROM tracked_processes WHERE ?1 = 0 OR pid = ?1", pid);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The registry as track_list sees it now; the caller frees. */
static struct track_view *list(const char *prefix, size_t *ret_n)
{
    struct track_view *v;
    ck_assert_int_eq(track_list(t, prefix, &v, ret_n), 0);
    ck_assert_ptr_nonnull(v);
    return v;
}

static enum track_state state_of(pid_t pid)
{
    size_t n;
    struct track_view *v = list(NULL, &n);
    enum track_state s = TRACK_UNKNOWN;
    for (size_t i = 0; i < n; i++)
        if (v[i].p->pid == pid)
            s = v[i].state;
    free(v);
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- registering ---- */

START_TEST(register_rejects_bad_rows)
{
    pid_t a = child();
    struct track_proc p = row_for(a, "tool:1");
    const pid_t bad_pids[] = {0, -1, -a};
    for (size_t i = 0; i < sizeof bad_pids / sizeof bad_pids[0]; i++) {
        p.pid = bad_pids[i];
        ck_assert_int_eq(track_register(t, &p), -EINVAL);
    }
    p.pid = a;
    p.command = NULL;
    ck_assert_int_eq(track_register(t, &p), -EINVAL);
    p.command = "";
    ck_assert_int_eq(track_register(t, &p), -EINVAL);
    ck_assert_uint_eq(track_count(t), 0);
    ck_assert_int_eq(db_rows(0), 0);
    ck_assert_int_eq(track_unregister(t, a), -ENOENT);
    kill_reap(a);
}
END_TEST

/* Fields are copied; registered_at and the identity come from us and /proc, not the caller. */
START_TEST(register_copies_and_records_identity)
{
    pid_t a = child();
    char command[] = "my command", originator[] = "tool:9";
    struct track_proc p = row_for(a, originator);
    p.command = command;
    p.containment = NULL; /* the default */
    p.registered_at = 1;  /* ignored */
    p.start_ticks = 2;
    p.ppid = 3;
    p.ppid_start_ticks = 4;

    double before = now_s();
    ck_assert_int_eq(track_register(t, &p), 0);
    double after = now_s();
    memset(command, 'x', sizeof command - 1);
    memset(originator, 'x', sizeof originator - 1);
    ck_assert_uint_eq(track_count(t), 1);

    size_t n;
    struct track_view *v = list(NULL, &n);
    ck_assert_uint_eq(n, 1);
    const struct track_proc *r = v[0].p;
    ck_assert_int_eq(r->pid, a);
    ck_assert_int_eq(r->created_at_ms, p.created_at_ms);
    ck_assert_str_eq(r->command, "my command");
    ck_assert_str_eq(r->originator, "tool:9");
    ck_assert_str_eq(r->kind, "subprocess");
    ck_assert_str_eq(r->cwd, "/tmp");
    ck_assert_str_eq(r->containment, "contained");
    ck_assert(r->registered_at >= before && r->registered_at <= after);
    ck_assert_uint_eq(r->start_ticks, start_ticks(a));
    ck_assert_int_eq(r->ppid, getpid());
    ck_assert_uint_eq(r->ppid_start_ticks, start_ticks(getpid()));
    ck_assert_int_eq(v[0].state, TRACK_ALIVE);
    ck_assert(v[0].parent_alive);
    ck_assert(v[0].uptime_seconds >= 0);
    ck_assert(v[0].validated_at >= r->registered_at);
    free(v);

    /* Written through, identity and all. */
    sqlite3_stmt *st = db_row("SELECT command, containment, start_ticks, ppid, ppid_start_ticks"
                              " FROM tracked_processes WHERE pid = ?1",
                              a);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "my command");
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "contained");
    ck_assert_uint_eq((uint64_t)sqlite3_column_int64(st, 2), start_ticks(a));
    ck_assert_int_eq(sqlite3_column_int(st, 3), getpid());
    ck_assert_uint_eq((uint64_t)sqlite3_column_int64(st, 4), start_ticks(getpid()));
    sqlite3_finalize(st);

    /* A pid nothing runs under is taken, with no identity, and is dead from the start. */
    pid_t gone = free_pid();
    p = row_for(gone, "");
    p.containment = "";
    ck_assert_int_eq(track_register(t, &p), 0);
    v = list(NULL, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(v[1].p->start_ticks, 0);
    ck_assert_int_eq(v[1].p->ppid, 0);
    ck_assert_str_eq(v[1].p->containment, "contained");
    ck_assert_int_eq(v[1].state, TRACK_DEAD);
    ck_assert(!v[1].parent_alive);
    free(v);
    kill_reap(a);
}
END_TEST

/* One row per pid, in registration order; a new registration of a pid replaces the old and goes
 * to the end. */
START_TEST(one_row_per_pid_in_order)
{
    pid_t a = child(), b = child(), c = child();
    size_t n;
    struct track_view *v;

    reg(a, "tool:1");
    reg(b, "other:1");
    reg(c, "tool:2");
    static const struct {
        const char *prefix;
        size_t n;
        int first, second; /* indices into {a, b, c} */
    } filters[] = {
        {NULL, 3, 0, 1},      {"", 3, 0, 1},       {"tool:", 2, 0, 2},
        {"other:", 1, 1, -1}, {"nope", 0, -1, -1}, {"tool:1x", 0, -1, -1},
    };
    pid_t pids[] = {a, b, c};
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        v = list(filters[i].prefix, &n);
        ck_assert_msg(n == filters[i].n, "'%s': %zu", filters[i].prefix, n);
        if (n > 0)
            ck_assert_int_eq(v[0].p->pid, pids[filters[i].first]);
        if (n > 1)
            ck_assert_int_eq(v[1].p->pid, pids[filters[i].second]);
        free(v);
    }

    struct track_proc p = row_for(a, "tool:1");
    p.created_at_ms += 5; /* whatever created_at says */
    p.command = "second";
    ck_assert_int_eq(track_register(t, &p), 0);
    ck_assert_uint_eq(track_count(t), 3);
    v = list(NULL, &n);
    ck_assert_int_eq(v[0].p->pid, b);
    ck_assert_int_eq(v[1].p->pid, c);
    ck_assert_int_eq(v[2].p->pid, a);
    ck_assert_str_eq(v[2].p->command, "second");
    ck_assert_int_eq(v[2].p->created_at_ms, p.created_at_ms);
    free(v);
    ck_assert_int_eq(db_rows(a), 1);
    ck_assert_int_eq(db_rows(0), 3);

    ck_assert_int_eq(track_unregister(t, b), 0);
    ck_assert_int_eq(track_unregister(t, b), -ENOENT);
    ck_assert_int_eq(db_rows(b), 0);
    ck_assert_uint_eq(track_count(t), 2);

    /* Exact: only this very registration. */
    struct track_proc pc = row_for(c, "tool:2");
    track_unregister_exact(t, c, pc.created_at_ms + 1);
    track_unregister_exact(t, b, pc.created_at_ms);
    ck_assert_uint_eq(track_count(t), 2);
    track_unregister_exact(t, c, pc.created_at_ms);
    ck_assert_uint_eq(track_count(t), 1);
    ck_assert_int_eq(db_rows(c), 0);
    ck_assert_int_eq(db_rows(0), 1);
    kill_reap(a);
    kill_reap(b);
    kill_reap(c);
}
END_TEST

/* ---- what /proc says ---- */

START_TEST(alive_zombie_dead)
{
    pid_t a = child();
    reg(a, "tool:1");
    ck_assert_int_eq(state_of(a), TRACK_ALIVE);
    make_zombie(a);
    ck_assert_int_eq(state_of(a), TRACK_ZOMBIE);
    ck_assert_int_eq(waitpid(a, NULL, 0), a);
    ck_assert_int_eq(state_of(a), TRACK_DEAD);
    ck_assert_uint_eq(track_count(t), 1); /* listing changes nothing */
}
END_TEST

/* The parent a process had at registration: once it is gone the process is re-parented, which
 * the view shows; the process itself is still alive, and no pass signals it. */
START_TEST(parent_gone_after_registration)
{
    int fds[2], life[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(pipe(life), 0);
    pid_t mid = fork();
    ck_assert_int_ge(mid, 0);
    if (mid == 0) {
        pid_t g = fork();
        if (g == 0) { /* no death signal, it must outlive mid: it ends when we do */
            char c;
            close(life[1]);
            _exit((int)read(life[0], &c, 1));
        }
        if (write(fds[1], &g, sizeof g) != sizeof g)
            _exit(1);
        linger();
    }
    pid_t g;
    ck_assert_int_eq(read(fds[0], &g, sizeof g), (ssize_t)sizeof g);
    close(fds[0]);
    close(fds[1]);

    reg(g, "tool:1");
    size_t n;
    struct track_view *v = list(NULL, &n);
    ck_assert_int_eq(v[0].p->ppid, mid);
    ck_assert(v[0].parent_alive);
    free(v);
    uint64_t mid_ticks = start_ticks(mid);
    kill_reap(mid);
    v = list(NULL, &n);
    ck_assert(!v[0].parent_alive);
    ck_assert_int_eq(v[0].state, TRACK_ALIVE);
    free(v);
    /* Nor is another process that took the parent's pid (clone3's set_tid needs privilege). */
    if (geteuid() == 0) {
        pid_t other = child_at(mid, mid_ticks);
        v = list(NULL, &n);
        ck_assert(!v[0].parent_alive);
        free(v);
        kill_reap(other);
    }
    struct track_zombie *z;
    ck_assert_int_eq(track_zombies(t, false, &z, &n), 0);
    ck_assert_uint_eq(n, 0);
    track_zombies_free(z, n);
    ck_assert_int_eq(kill(g, 0), 0);
    ck_assert_int_eq(kill(g, SIGKILL), 0);
    close(life[0]);
    close(life[1]);
}
END_TEST

/* A pid the kernel gave to another process: dead to the registry, reported as reused, never
 * signalled, and dropped when loaded from the database. */
START_TEST(reused_pid_is_someone_else)
{
    if (geteuid() != 0)
        return; /* clone3's set_tid needs privilege; nothing to check as an ordinary user */
    pid_t a = child();
    uint64_t a_ticks = start_ticks(a);
    reg(a, "tool:1");
    kill_reap(a);
    pid_t b = child_at(a, a_ticks);
    ck_assert_int_eq(state_of(b), TRACK_DEAD);

    struct track_zombie *z;
    size_t n;
    char want[80];
    snprintf(want, sizeof want, "PID %d reused: registered creation_time=", (int)a);
    for (int dry = 1; dry >= 0; dry--) {
        ck_assert_int_eq(track_zombies(t, dry, &z, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(z[0].pid, a);
        ck_assert_int_eq(z[0].verdict, TRACK_REUSED);
        ck_assert_msg(strncmp(z[0].reason, want, strlen(want)) == 0, "%s", z[0].reason);
        ck_assert(!z[0].killed);
        ck_assert_str_eq(z[0].command, "sleep infinity");
        track_zombies_free(z, n);
        ck_assert_uint_eq(track_count(t), dry ? 1u : 0u);
    }
    ck_assert_int_eq(db_rows(0), 0);
    ck_assert_int_eq(waitpid(b, NULL, WNOHANG), 0); /* the other process lives on */

    /* The same while droverd was not running: the row goes when the registry loads. */
    uint64_t b_ticks = start_ticks(b);
    reg(b, "tool:2");
    close_track();
    kill_reap(b);
    pid_t c = child_at(b, b_ticks);
    open_track(0);
    ck_assert_uint_eq(track_count(t), 0);
    ck_assert_int_eq(db_rows(0), 0);
    ck_assert_int_eq(waitpid(c, NULL, WNOHANG), 0);
    kill_reap(c);
}
END_TEST

/* ---- the zombie pass ---- */

START_TEST(zombie_pass_verdicts)
{
    pid_t gone = child(), zombie = child(), alive = child();
    reg(gone, "tool:1");
    reg(zombie, "tool:1");
    reg(alive, "tool:1");
    kill_reap(gone);
    make_zombie(zombie);

    char reason_gone[160], reason_zombie[160];
    snprintf(reason_gone, sizeof reason_gone, "process %d no longer exists", (int)gone);
    snprintf(reason_zombie, sizeof reason_zombie,
             "process %d is a zombie (exited, not reaped by parent PID %d)", (int)zombie,
             (int)getpid());
    for (int dry = 1; dry >= 0; dry--) {
        struct track_zombie *z;
        size_t n;
        ck_assert_int_eq(track_zombies(t, dry, &z, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_int_eq(z[0].pid, gone);
        ck_assert_int_eq(z[0].verdict, TRACK_GONE);
        ck_assert_str_eq(z[0].reason, reason_gone);
        ck_assert(z[0].killed == !dry); /* gone counts as killed, but a dry run kills nothing */
        ck_assert_int_eq(z[1].pid, zombie);
        ck_assert_int_eq(z[1].verdict, TRACK_DEFUNCT);
        ck_assert_str_eq(z[1].reason, reason_zombie);
        ck_assert(!z[1].killed); /* dead already: nothing to signal */
        track_zombies_free(z, n);
        ck_assert_uint_eq(track_count(t), dry ? 3u : 1u);
        ck_assert_int_eq(db_rows(0), dry ? 3 : 1);
    }
    size_t n;
    struct track_view *v = list(NULL, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(v[0].p->pid, alive);
    ck_assert_int_eq(v[0].state, TRACK_ALIVE); /* not signalled */
    free(v);
    struct track_zombie *z;
    ck_assert_int_eq(track_zombies(t, false, &z, &n), 0);
    ck_assert_uint_eq(n, 0);
    track_zombies_free(z, n);
    track_zombies_free(NULL, 0);
    ck_assert_int_eq(waitpid(zombie, NULL, 0), zombie);
    kill_reap(alive);
}
END_TEST

/* The periodic pass is a timer armed only while there are rows: an empty registry keeps the
 * loop idle. */
START_TEST(periodic_pass_only_while_rows)
{
    close_track();
    open_track(1);
    ck_assert(!uv_loop_alive(&loop));
    reg(free_pid(), "tool:1");
    ck_assert(uv_loop_alive(&loop));
    for (int i = 0; i < 10000 && track_count(t) > 0; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(track_count(t), 0);
    ck_assert_int_eq(db_rows(0), 0);
    ck_assert(!uv_loop_alive(&loop));

    /* A living row keeps it armed, pass after pass. */
    pid_t a = child();
    reg(a, "tool:1");
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(track_count(t), 1);
    ck_assert(uv_loop_alive(&loop));
    ck_assert_int_eq(track_unregister(t, a), 0);
    ck_assert(!uv_loop_alive(&loop));
    kill_reap(a);
}
END_TEST

/* ---- through the store ---- */

/* Inserts a row the way running-process wrote them: no identity of ours. */
static void raw_row(pid_t pid, int64_t created_at_ms, double registered_at)
{
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(store_db(store),
                                        "INSERT INTO tracked_processes (pid, created_at_ms,"
                                        " command, registered_at) VALUES (?, ?, 'rp', ?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, pid);
    sqlite3_bind_int64(st, 2, created_at_ms);
    sqlite3_bind_double(st, 3, registered_at);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

START_TEST(rows_survive_reopen)
{
    pid_t a = child(), b = child(), c = child(), d = child(), e = child();
    struct track_proc pb = row_for(b, "tool:b");
    pb.kind = "pty";
    pb.cwd = "";
    pb.containment = "detached";
    ck_assert_int_eq(track_register(t, &pb), 0); /* registration order, not pid order */
    reg(a, "tool:a");
    reg(c, "tool:c");
    kill_reap(c); /* gone while droverd was not looking */
    /* Rows with no start time: within two seconds of created_at is the same process. */
    int64_t d_ms = (int64_t)proc_ticks_to_epoch_ms(start_ticks(d));
    int64_t e_ms = (int64_t)proc_ticks_to_epoch_ms(start_ticks(e));
    raw_row(d, d_ms + 1500, now_s() + 100);
    raw_row(e, e_ms - 10000, now_s() + 101);

    size_t n;
    struct track_view *v = list(NULL, &n);
    ck_assert_uint_eq(n, 3);
    struct track_proc before[2];
    before[0] = *v[0].p;
    before[1] = *v[1].p;
    free(v);

    close_track();
    store_close(store);
    ck_assert_int_eq(store_open(db, 0, &store), 0);
    open_track(0);
    ck_assert_uint_eq(track_count(t), 3);
    v = list(NULL, &n);
    for (size_t i = 0; i < 2; i++) {
        const struct track_proc *r = v[i].p;
        ck_assert_int_eq(r->pid, before[i].pid);
        ck_assert_int_eq(r->created_at_ms, before[i].created_at_ms);
        ck_assert(r->registered_at == before[i].registered_at);
        ck_assert_uint_eq(r->start_ticks, before[i].start_ticks);
        ck_assert_int_eq(r->ppid, before[i].ppid);
        ck_assert_uint_eq(r->ppid_start_ticks, before[i].ppid_start_ticks);
        ck_assert_int_eq(v[i].state, TRACK_ALIVE);
    }
    ck_assert_int_eq(v[0].p->pid, b);
    ck_assert_str_eq(v[0].p->kind, "pty");
    ck_assert_str_eq(v[0].p->cwd, "");
    ck_assert_str_eq(v[0].p->containment, "detached");
    ck_assert_int_eq(v[1].p->pid, a);
    ck_assert_str_eq(v[1].p->originator, "tool:a");
    ck_assert_int_eq(v[2].p->pid, d);
    ck_assert_str_eq(v[2].p->command, "rp");
    ck_assert_str_eq(v[2].p->containment, "contained"); /* the column's default */
    ck_assert_int_eq(v[2].state, TRACK_ALIVE);
    free(v);
    ck_assert_int_eq(db_rows(c), 0); /* dropped from the database too */
    ck_assert_int_eq(db_rows(e), 0);
    ck_assert_int_eq(db_rows(0), 3);
    kill_reap(a);
    kill_reap(b);
    kill_reap(d);
    kill_reap(e);
}
END_TEST

/* ---- SPAWN_DAEMON ---- */

static void write_fifo(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

START_TEST(spawn_daemon_registers_until_exit)
{
    struct proc_reaper *reaper;
    struct proc_env env;
    struct track_proc p;
    char fifo[64], fifo2[64], out[64], got[256];

    ck_assert_int_eq(proc_reaper_new(&loop, &reaper), 0);
    ck_assert_int_eq(proc_env_init(&env, PROC_ENV_CLEAR, NULL), 0);
    ck_assert_int_eq(proc_env_set(&env, "PATH", "/usr/bin:/bin"), 0);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(fifo2, sizeof fifo2, "%s/fifo2", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkfifo(fifo2, 0600), 0);

    ck_assert_int_eq(track_spawn_daemon(t, reaper, " \t\n ", dir, &env, "tool:7", &p), -EINVAL);
    ck_assert_int_eq(track_spawn_daemon(t, reaper, NULL, dir, &env, "tool:7", &p), -EINVAL);
    ck_assert_int_eq(track_spawn_daemon(t, reaper, "true", "/nonexistent-dir", &env, "tool:7", &p),
                     -ENOENT);
    ck_assert_uint_eq(track_count(t), 0);

    const char *cmd = "\n  cat fifo > out; echo \"$RUNNING_PROCESS_ORIGINATOR "
                      "$RUNNING_PROCESS_IS_DAEMON $$\" >> out \t\r\n";
    ck_assert_int_eq(track_spawn_daemon(t, reaper, cmd, dir, &env, "tool:7", &p), 0);
    ck_assert_str_eq(p.command, "cat fifo > out; echo \"$RUNNING_PROCESS_ORIGINATOR "
                                "$RUNNING_PROCESS_IS_DAEMON $$\" >> out");
    ck_assert_str_eq(p.kind, "subprocess");
    ck_assert_str_eq(p.containment, "detached");
    ck_assert_str_eq(p.cwd, dir);
    ck_assert_str_eq(p.originator, "tool:7");
    ck_assert_uint_eq(p.start_ticks, start_ticks(p.pid));
    ck_assert_int_eq(getsid(p.pid), p.pid); /* its own session */
    ck_assert_uint_eq(track_count(t), 1);
    ck_assert_int_eq(state_of(p.pid), TRACK_ALIVE);

    write_fifo(fifo, "hello\n");
    for (int i = 0; i < 100000 && track_count(t) > 0; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(track_count(t), 0); /* dropped when it exited */
    ck_assert_int_eq(db_rows(0), 0);
    FILE *f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    char want[64];
    snprintf(want, sizeof want, "hello\ntool:7 1 %d\n", (int)p.pid);
    ck_assert_str_eq(got, want);
    track_proc_done(&p);

    /* Its exit drops only the registration it made: one made since stays. */
    ck_assert_int_eq(track_spawn_daemon(t, reaper, "cat fifo2", dir, &env, "tool:8", &p), 0);
    struct track_proc again = row_for(p.pid, "tool:other");
    again.created_at_ms = p.created_at_ms + 1;
    ck_assert_int_eq(track_register(t, &again), 0);
    write_fifo(fifo2, "");
    for (int i = 0; i < 100000 && proc_reaper_count(reaper) > 0; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(proc_reaper_count(reaper), 0);
    ck_assert_uint_eq(track_count(t), 1);
    ck_assert_int_eq(state_of(p.pid), TRACK_DEAD);
    track_proc_done(&p);
    track_proc_done(&p); /* twice is harmless */

    proc_env_done(&env);
    proc_reaper_free(reaper); /* first, as droverd does: the registry outlives its children */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("track");
    TCase *tc = tcase_create("track");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, register_rejects_bad_rows);
    tcase_add_test(tc, register_copies_and_records_identity);
    tcase_add_test(tc, one_row_per_pid_in_order);
    tcase_add_test(tc, alive_zombie_dead);
    tcase_add_test(tc, parent_gone_after_registration);
    tcase_add_test(tc, reused_pid_is_someone_else);
    tcase_add_test(tc, zombie_pass_verdicts);
    tcase_add_test(tc, periodic_pass_only_while_rows);
    tcase_add_test(tc, rows_survive_reopen);
    tcase_add_test(tc, spawn_daemon_registers_until_exit);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
