/* Unit tests of src/supervise: the service state machine against real processes on a real loop.
 * Restart policies, backoff ordering and counts, min_uptime, max_restarts, stop with a child that
 * ignores SIGTERM, orphans dying with their service, byte-exact log files. Waiting is on states,
 * never on fixed sleeps. */
#include "unit.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/time-util.h"
#include "proc/proc.h"
#include "supervise/supervise.h"

static uv_loop_t loop;
static uv_timer_t tick;
static struct proc_reaper *reaper;
static struct svc_engine *engine;
static char dir[64];
static int changes;

static void on_change(struct svc *s, void *userdata)
{
    (void)s, (void)userdata;
    changes++;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/drover-svc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5); /* keeps uv_run(ONCE) from blocking forever */
    ck_assert_int_eq(proc_reaper_new(&loop, &reaper), 0);
    ck_assert_int_eq(svc_engine_new(&loop, reaper, dir, on_change, NULL, &engine), 0);
}

static void teardown(void)
{
    svc_engine_free(engine);
    proc_reaper_free(reaper);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void on_settled_flag(struct svc *s, void *userdata)
{
    (void)s;
    *(int *)userdata = 1;
}

static void on_done_flag(void *userdata)
{
    *(int *)userdata = 1;
}

static enum svc_state state(struct svc *s)
{
    struct svc_status st;
    svc_get_status(s, &st);
    return st.state;
}

/* Runs the loop until s reaches want (10 s at most). */
static void wait_state(struct svc *s, enum svc_state want)
{
    uint64_t deadline = mono_ms() + 10000;
    while (state(s) != want && mono_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_msg(state(s) == want, "'%s' is %s, not %s", svc_name(s), svc_state_name(state(s)),
                  svc_state_name(want));
}

/* A service running `sh -c script` in dir. */
static struct svc *add(const char *name, const char *script, enum svc_restart policy,
                       uint32_t max_restarts, uint32_t delay_ms)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    char *env[] = {"LC_ALL=C", NULL};
    struct svc_config c = {
        .name = (char *)name,
        .argv = argv,
        .cwd = dir,
        .env = env,
        .restart = policy,
        .max_restarts = max_restarts,
        .restart_delay_ms = delay_ms,
        .restart_delay_max_ms = 30000,
        .min_uptime_ms = 2000,
        .kill_timeout_ms = 3000,
    };
    struct svc *s;
    ck_assert_int_eq(svc_add(engine, 0, &c, &s), 0);
    return s;
}

static size_t count_lines(const char *file)
{
    char path[128], buf[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    size_t n = 0;
    while (f && fgets(buf, sizeof buf, f))
        n++;
    if (f)
        fclose(f);
    return n;
}

START_TEST(policies)
{
    struct svc_status st;

    /* always, delay 0, at most 3 restarts: 4 runs, then errored. */
    struct svc *a = add("always", "echo run >> always.runs; exit 3", SVC_RESTART_ALWAYS, 3, 0);
    svc_start(a);
    wait_state(a, SVC_ERRORED);
    svc_get_status(a, &st);
    ck_assert_uint_eq(count_lines("always.runs"), 4);
    ck_assert_uint_eq(st.restarts_total, 3);
    ck_assert_int_eq(st.last_exit, 3);
    ck_assert_int_eq(st.pid, 0);

    /* on-failure: a clean exit is the end. */
    struct svc *b = add("clean", "echo run >> clean.runs; exit 0", SVC_RESTART_ON_FAILURE, 0, 0);
    svc_start(b);
    wait_state(b, SVC_STOPPED);
    ck_assert_uint_eq(count_lines("clean.runs"), 1);

    /* on-failure: a signal death is a failure. */
    struct svc *c = add("sig", "echo run >> sig.runs; kill -KILL $$", SVC_RESTART_ON_FAILURE, 1, 0);
    svc_start(c);
    wait_state(c, SVC_ERRORED);
    svc_get_status(c, &st);
    ck_assert_uint_eq(count_lines("sig.runs"), 2);
    ck_assert_int_eq(st.last_exit, -SIGKILL);

    /* never: one run, the exit code kept. */
    struct svc *d = add("never", "echo run >> never.runs; exit 7", SVC_RESTART_NEVER, 0, 0);
    svc_start(d);
    wait_state(d, SVC_STOPPED);
    svc_get_status(d, &st);
    ck_assert_uint_eq(count_lines("never.runs"), 1);
    ck_assert_int_eq(st.last_exit, 7);
    ck_assert_double_gt(st.last_exited_at, st.last_started_at - 0.001);

    /* A program that cannot run is errored at once, with the reason. */
    char *argv[] = {"/nonexistent/program", NULL};
    struct svc_config bad = {.name = "bad", .argv = argv, .restart = SVC_RESTART_ALWAYS};
    struct svc *e;
    ck_assert_int_eq(svc_add(engine, 0, &bad, &e), 0);
    svc_start(e);
    ck_assert_int_eq(state(e), SVC_ERRORED);
    svc_get_status(e, &st);
    ck_assert_int_eq(st.last_error, -ENOENT);

    /* Names are unique; configs are checked. */
    ck_assert_int_eq(svc_add(engine, 0, &bad, NULL), -EEXIST);
    struct svc_config empty = {.name = "", .argv = argv};
    ck_assert_int_eq(svc_add(engine, 0, &empty, NULL), -EINVAL);
    ck_assert_uint_eq(svc_id(a), 1);
    ck_assert_uint_eq(svc_id(e), 5);
    ck_assert_ptr_eq(svc_find_id(engine, 2), b);
    ck_assert_uint_eq(svc_count(engine), 5);
    ck_assert_ptr_eq(svc_find(engine, "never"), d);
}
END_TEST

/* Backoff doubles per consecutive restart: the gaps between runs grow in order. */
START_TEST(backoff_order)
{
    struct svc *s = add("backoff", "date +%s%N >> times; exit 1", SVC_RESTART_ALWAYS, 3, 40);
    svc_start(s);
    wait_state(s, SVC_ERRORED);
    char path[128];
    snprintf(path, sizeof path, "%s/times", dir);
    FILE *f = fopen(path, "r");
    long long t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(fscanf(f, "%lld", &t[i]), 1);
    fclose(f);
    long long g1 = t[1] - t[0], g2 = t[2] - t[1], g3 = t[3] - t[2];
    ck_assert_msg(g1 >= 40000000 && g2 > g1 && g3 > g2, "gaps %lld %lld %lld ns", g1, g2, g3);
}
END_TEST

/* A run that lasts min_uptime resets the count: max_restarts never trips. */
START_TEST(min_uptime_resets)
{
    struct svc *s =
        add("steady", "echo run >> steady.runs; sleep 0.15; exit 1", SVC_RESTART_ALWAYS, 1, 0);
    struct svc_config *c = (struct svc_config *)svc_get_config(s);
    c->min_uptime_ms = 100;
    svc_start(s);
    uint64_t deadline = mono_ms() + 10000;
    while (count_lines("steady.runs") < 4 && mono_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_ge(count_lines("steady.runs"), 4);
    ck_assert_int_ne(state(s), SVC_ERRORED);
    struct svc_status st;
    svc_get_status(s, &st);
    ck_assert_uint_le(st.restarts, 1);
    ck_assert_uint_ge(st.restarts_total, 3);
    svc_stop(s);
    wait_state(s, SVC_STOPPED);
}
END_TEST

static bool gone(pid_t pid)
{
    struct proc_stat st;
    return proc_read_stat(pid, &st) < 0 || st.state == 'Z';
}

/* Stop: a child that ignores SIGTERM is SIGKILLed after kill_timeout, and a double-forked
 * grandchild dies with it. */
START_TEST(stop_kills_tree)
{
    struct svc *s = add("stubborn",
                        "trap '' TERM; (sleep 300 & echo $! > orphan.pid); echo up > ready; "
                        "while :; do sleep 1; done",
                        SVC_RESTART_ALWAYS, 0, 0);
    struct svc_config *c = (struct svc_config *)svc_get_config(s);
    c->kill_timeout_ms = 200;
    svc_start(s);
    ck_assert_int_eq(state(s), SVC_ONLINE);
    uint64_t deadline = mono_ms() + 10000;
    while (count_lines("ready") < 1 && mono_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    char path[128];
    snprintf(path, sizeof path, "%s/orphan.pid", dir);
    FILE *f = fopen(path, "r");
    int orphan = 0;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%d", &orphan), 1);
    fclose(f);
    ck_assert(!gone(orphan));

    uint64_t t0 = mono_ms();
    svc_stop(s);
    ck_assert_int_eq(state(s), SVC_STOPPING);
    wait_state(s, SVC_STOPPED);
    /* SIGTERM was ignored: the timeout ran (the loop's clock may lag ours by a few ms). */
    ck_assert_uint_ge(mono_ms() - t0, 190);
    struct svc_status st;
    svc_get_status(s, &st);
    ck_assert_int_eq(st.last_exit, -SIGKILL);
    deadline = mono_ms() + 5000;
    while (!gone(orphan) && mono_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_msg(gone(orphan), "orphan %d survived its service", orphan);
}
END_TEST

/* Restart: a new process; a start during a stop brings it back up. */
START_TEST(restart_and_start_while_stopping)
{
    struct svc_status a, b;
    struct svc *s = add("sleeper", "exec sleep 300", SVC_RESTART_ALWAYS, 0, 0);
    svc_start(s);
    svc_get_status(s, &a);
    ck_assert_int_gt(a.pid, 0);
    svc_restart(s);
    ck_assert_int_eq(state(s), SVC_STOPPING);
    wait_state(s, SVC_ONLINE);
    svc_get_status(s, &b);
    ck_assert_int_ne(a.pid, b.pid);
    ck_assert_uint_eq(b.restarts_total, 1);

    svc_stop(s);
    svc_start(s);
    ck_assert_int_eq(state(s), SVC_STOPPING);
    wait_state(s, SVC_ONLINE);
    svc_stop(s);
    wait_state(s, SVC_STOPPED);
    ck_assert_int_gt(changes, 4);
}
END_TEST

/* Output lands byte for byte in the log files, NULs and unfinished lines included. */
START_TEST(logs_byte_exact)
{
    struct svc *s = add("weird name/../x", "printf 'a\\000b\\nno newline'; printf 'err\\n' >&2",
                        SVC_RESTART_NEVER, 0, 0);
    svc_start(s);
    wait_state(s, SVC_STOPPED);
    const char *out = svc_log_path(s, 1);
    ck_assert_msg(strstr(out, "/weird_name_.._x-out.log") != NULL, "%s", out);
    char buf[64];
    int fd = open(out, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    ck_assert_int_eq(n, 14);
    ck_assert_mem_eq(buf, "a\0b\nno newline", 14);
    fd = open(svc_log_path(s, 2), O_RDONLY);
    n = read(fd, buf, sizeof buf);
    close(fd);
    ck_assert_int_eq(n, 4);
    ck_assert_mem_eq(buf, "err\n", 4);
    struct stat stt;
    ck_assert_int_eq(stat(out, &stt), 0);
    ck_assert_uint_eq(stt.st_mode & 0777, 0640);
}
END_TEST

/* depends_on: dependencies start first and stop last; a restart takes dependents along. */
START_TEST(dependencies)
{
    char *a_argv[] = {"/bin/sleep", "300", NULL};
    char *b_argv[] = {"/bin/sleep", "301", NULL};
    char *none[] = {NULL}, *needs_a[] = {"a", NULL}, *needs_x[] = {"x", NULL};
    struct svc_config a = {.name = "a",
                           .argv = a_argv,
                           .cwd = dir,
                           .env = none,
                           .restart = SVC_RESTART_ALWAYS,
                           .restart_delay_max_ms = 1000,
                           .kill_timeout_ms = 3000};
    struct svc_config b = a;
    b.name = "b";
    b.argv = b_argv;
    b.depends_on = needs_a;
    struct svc *sa, *sb, *sc;
    /* b is defined first: definition order is not start order. */
    ck_assert_int_eq(svc_add(engine, 0, &b, &sb), 0);
    ck_assert_int_eq(svc_add(engine, 0, &a, &sa), 0);

    svc_start(sb); /* starts a first */
    wait_state(sb, SVC_ONLINE);
    ck_assert_int_eq(state(sa), SVC_ONLINE);
    /* a was spawned before b ("online" is "spawned" until probes exist). */
    struct svc_status as, bs;
    svc_get_status(sa, &as);
    svc_get_status(sb, &bs);
    ck_assert_double_le(as.last_started_at, bs.last_started_at);

    /* Stopping a stops b first; a's own stop waits for b, and so does a's settling. */
    int settled = 0;
    svc_stop(sa);
    ck_assert_int_eq(state(sb), SVC_STOPPING);
    ck_assert_int_eq(svc_on_settled(sa, on_settled_flag, &settled), 0);
    ck_assert_int_eq(settled, 0);
    wait_state(sa, SVC_STOPPED);
    ck_assert_int_eq(settled, 1);
    ck_assert_int_eq(state(sb), SVC_STOPPED);

    /* A restart of a restarts b after it. */
    svc_start(sb);
    wait_state(sb, SVC_ONLINE);
    struct svc_status b1, b2;
    svc_get_status(sb, &b1);
    svc_restart(sa);
    wait_state(sa, SVC_ONLINE);
    wait_state(sb, SVC_ONLINE);
    svc_get_status(sb, &b2);
    ck_assert_int_ne(b1.pid, b2.pid);

    /* A dependency that does not exist: errored, with the reason. */
    struct svc_config c = a;
    c.name = "c";
    c.depends_on = needs_x;
    ck_assert_int_eq(svc_add(engine, 0, &c, &sc), 0);
    svc_start(sc);
    ck_assert_int_eq(state(sc), SVC_ERRORED);
    struct svc_status cs;
    svc_get_status(sc, &cs);
    ck_assert_str_eq(cs.reason, "depends on 'x', which is not defined");

    /* Shutdown: everything stops, dependents first. */
    int done = 0;
    svc_engine_shutdown(engine, on_done_flag, &done);
    uint64_t deadline = mono_ms() + 10000;
    while (!done && mono_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(state(sa), SVC_STOPPED);
    ck_assert_int_eq(state(sb), SVC_STOPPED);
}
END_TEST

/* An exec probe: healthy once its command succeeds; a dependent waits for that; failures in a
 * row restart the service. */
START_TEST(probes)
{
    char ready[128], cmd[160];
    snprintf(ready, sizeof ready, "%s/ready", dir);
    snprintf(cmd, sizeof cmd, "test -f %s", ready);
    char *probe_argv[] = {"/bin/sh", "-c", cmd, NULL};
    struct svc_probe probe = {.kind = SVC_PROBE_EXEC,
                              .argv = probe_argv,
                              .interval_ms = 20,
                              .timeout_ms = 1000,
                              .failure_threshold = 1000};
    char *argv[] = {"/bin/sleep", "300", NULL}, *none[] = {NULL}, *needs_p[] = {"p", NULL};
    struct svc_config pc = {.name = "p",
                            .argv = argv,
                            .env = none,
                            .depends_on = none,
                            .restart = SVC_RESTART_ALWAYS,
                            .restart_delay_max_ms = 1000,
                            .kill_timeout_ms = 3000,
                            .probes = &probe,
                            .n_probes = 1};
    struct svc_config dc = pc;
    dc.name = "dependent";
    dc.probes = NULL;
    dc.n_probes = 0;
    dc.depends_on = needs_p;
    struct svc *p, *dep;
    struct svc_status st;
    ck_assert_int_eq(svc_add(engine, 0, &pc, &p), 0);
    ck_assert_int_eq(svc_add(engine, 0, &dc, &dep), 0);

    svc_start(dep);
    ck_assert_int_eq(state(p), SVC_ONLINE);
    ck_assert_int_eq(state(dep), SVC_STARTING); /* p runs, but is not healthy yet */
    for (int i = 0; i < 20; i++) /* checks fail, below the threshold: nothing happens */
        uv_run(&loop, UV_RUN_ONCE);
    svc_get_status(p, &st);
    ck_assert(st.probed && !st.healthy);
    pid_t first = st.pid;
    FILE *f = fopen(ready, "w");
    fclose(f);
    wait_state(dep, SVC_ONLINE);
    svc_get_status(p, &st);
    ck_assert(st.healthy);
    ck_assert_int_eq(st.pid, first);

    /* Unhealthy twice in a row: restarted (and its dependent with it). */
    ((struct svc_config *)svc_get_config(p))->probes[0].failure_threshold = 2;
    unlink(ready);
    uint64_t deadline = mono_ms() + 10000;
    do {
        uv_run(&loop, UV_RUN_ONCE);
        svc_get_status(p, &st);
    } while (st.pid == first && mono_ms() < deadline);
    ck_assert_int_ne(st.pid, first);
    ck_assert_uint_ge(st.restarts_total, 1);
    svc_stop(p);
    wait_state(p, SVC_STOPPED);
    ck_assert_int_eq(state(dep), SVC_STOPPED);
}
END_TEST

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    *len = 0;
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

/* Rotation while a writer keeps appending: the rotated files and the live one, oldest first,
 * hold every byte exactly once (on file systems that collapse ranges, such as ext4 here; on
 * others the copy-truncate fallback can lose an instant). */
START_TEST(log_rotation)
{
    char path[128], cmd[256];
    snprintf(path, sizeof path, "%s/rot-out.log", dir);
    snprintf(cmd, sizeof cmd,
             "i=0; while [ $i -lt 30000 ]; do echo line-$i; i=$((i+1)); done >> %s", path);
    ck_assert_int_eq(svc_log_rotate(path, 100, 3), 0); /* missing: nothing to do */
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int rotations = 0, status;
    while (waitpid(pid, &status, WNOHANG) == 0)
        rotations += svc_log_rotate(path, 16384, 1000) > 0;
    rotations += svc_log_rotate(path, 16384, 1000) > 0;
    ck_assert_int_gt(rotations, 2);

    /* Reassemble: path.N ... path.1, then the live file. */
    size_t total = 0, cap = 1 << 20;
    char *all = malloc(cap);
    for (int i = 1000; i >= 0; i--) {
        char p[160];
        size_t len;
        if (i)
            snprintf(p, sizeof p, "%s.%d", path, i);
        else
            snprintf(p, sizeof p, "%s", path);
        char *part = slurp(p, &len);
        if (total + len > cap)
            all = realloc(all, cap = (total + len) * 2);
        memcpy(all + total, part, len);
        total += len;
        free(part);
    }
    size_t at = 0;
    for (int i = 0; i < 30000; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "line-%d\n", i);
        ck_assert_msg(at + (size_t)n <= total && !memcmp(all + at, want, (size_t)n),
                      "line %d missing or out of place", i);
        at += (size_t)n;
    }
    ck_assert_uint_eq(at, total);
    free(all);

    /* keep: only that many rotated files stay. */
    char p4[160];
    snprintf(path, sizeof path, "%s/keep-out.log", dir);
    for (int i = 0; i < 6; i++) {
        FILE *f = fopen(path, "a");
        for (int k = 0; k < 2000; k++)
            fputs("0123456789abcdef\n", f);
        fclose(f);
        ck_assert_int_eq(svc_log_rotate(path, 1000, 3), 1);
    }
    snprintf(p4, sizeof p4, "%s.4", path);
    ck_assert_int_ne(access(p4, F_OK), 0);
    snprintf(p4, sizeof p4, "%s.3", path);
    ck_assert_int_eq(access(p4, F_OK), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("supervise");
    TCase *tc = tcase_create("supervise");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, policies);
    tcase_add_test(tc, backoff_order);
    tcase_add_test(tc, min_uptime_resets);
    tcase_add_test(tc, stop_kills_tree);
    tcase_add_test(tc, restart_and_start_while_stopping);
    tcase_add_test(tc, logs_byte_exact);
    tcase_add_test(tc, dependencies);
    tcase_add_test(tc, probes);
    tcase_add_test(tc, log_rotation);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
