/* Unit tests of src/proc: every /proc parser on real and hostile input, the process table's
 * links and descendant order (on a forged /proc), environment layering, and spawning, reaping
 * and kill-tree against real processes. */
#include "unit.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/proc.h"

START_TEST(statm)
{
    static const struct {
        const char *in;
        int r;
        uint64_t resident;
    } cases[] = {
        {"2745 640 512 27 0 190 0\n", 0, 640},
        {"1 2 3 4 5", 0, 2},
        {"1 2 3 4", -EINVAL, 0},
        {"", -EINVAL, 0},
        {"a b c d e f g", -EINVAL, 0},
        {"1 2x 3 4 5 6 7", -EINVAL, 0},
        {"99999999999999999999999 1 1 1 1", -ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proc_statm st = {0};
        int r = proc_statm_parse(cases[i].in, strlen(cases[i].in), &st);
        ck_assert_msg(r == cases[i].r, "'%s': %d", cases[i].in, r);
        if (r == 0)
            ck_assert_uint_eq(st.resident, cases[i].resident);
    }
    uint64_t rss = 0;
    ck_assert_int_eq(proc_rss_bytes(0, &rss), 0);
    ck_assert_uint_gt(rss, 0);
}
END_TEST

#define STAT_TAIL                                                                                  \
    " 0 0 0 0 0 5 7 0 0 20 0 3 0 12345 8192000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 "  \
    "17 1 0 0\n"

START_TEST(stat_parse)
{
    static const struct {
        const char *in; /* the file */
        int r;          /* expected result */
        const char *comm;
        char state;
        pid_t ppid;
    } cases[] = {
        {"42 (bash) S 1 42 42 34816 42" STAT_TAIL, 0, "bash", 'S', 1},
        {"7 (a b) c) R 3 7 7 0 -1" STAT_TAIL, 0, "a b) c", 'R', 3},
        {"8 () Z 2 8 8 0 -1" STAT_TAIL, 0, "", 'Z', 2},
        {"9 ((x)) S 1 9 9 0 -1" STAT_TAIL, 0, "(x)", 'S', 1},
        {"10 (x) S 1 10 10 0 -1 0 0", -EINVAL, NULL, 0, 0},       /* truncated */
        {"11 (x", -EINVAL, NULL, 0, 0},                           /* no ')' */
        {"(x) S 1" STAT_TAIL, -EINVAL, NULL, 0, 0},               /* no pid */
        {"-3 (x) S 1 1 1 0 -1" STAT_TAIL, -EINVAL, NULL, 0, 0},   /* negative pid */
        {"12 (x) S -1 1 1 0 -1" STAT_TAIL, -EINVAL, NULL, 0, 0},  /* negative ppid */
        {"13 (x) S 1 1 1 0 -1 z" STAT_TAIL, -EINVAL, NULL, 0, 0}, /* garbage field */
        {"", -EINVAL, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct proc_stat st = {0};
        int r = proc_stat_parse(cases[i].in, strlen(cases[i].in), &st);
        ck_assert_msg(r == cases[i].r, "case %zu: %d", i, r);
        if (r < 0)
            continue;
        ck_assert_str_eq(st.comm, cases[i].comm);
        ck_assert_int_eq(st.state, cases[i].state);
        ck_assert_int_eq(st.ppid, cases[i].ppid);
        ck_assert_uint_eq(st.utime, 5);
        ck_assert_uint_eq(st.stime, 7);
        ck_assert_uint_eq(st.starttime, 12345);
        ck_assert_uint_eq(st.vsize, 8192000);
        ck_assert_int_eq(st.rss, 300);
        ck_assert_int_eq(st.num_threads, 3);
    }
    /* A comm longer than the buffer is cut, not overflowed. */
    char big[600];
    int n = snprintf(big, sizeof big, "5 (%0200d) S 1 5 5 0 -1" STAT_TAIL, 0);
    struct proc_stat st;
    ck_assert_int_eq(proc_stat_parse(big, (size_t)n, &st), 0);
    ck_assert_uint_eq(strlen(st.comm), PROC_COMM_MAX - 1);
    /* Our own stat, for real. */
    ck_assert_int_eq(proc_read_stat(0, &st), 0);
    ck_assert_int_eq(st.pid, getpid());
    ck_assert_int_eq(st.ppid, getppid());
    ck_assert_int_eq(proc_read_stat(999999999, &st), -ESRCH);
}
END_TEST

START_TEST(status_io_btime_cmdline)
{
    const char *status = "Name:\tmy (proc)\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t77\n"
                         "PPid:\t1\nUid:\t1000\t1001\t1000\t1000\nGid:\t50\t51\t50\t50\n"
                         "VmRSS:\t  1234 kB\nRssFile:\t 100 kB\nRssShmem:\t 5 kB\n"
                         "VmSwap:\t 9 kB\nThreads:\t4\nvoluntary_ctxt_switches:\t10\n";
    struct proc_status s;
    ck_assert_int_eq(proc_status_parse(status, strlen(status), &s), 0);
    ck_assert_str_eq(s.name, "my (proc)");
    ck_assert_int_eq(s.state, 'S');
    ck_assert_int_eq(s.tgid, 77);
    ck_assert_int_eq(s.ppid, 1);
    ck_assert_uint_eq(s.ruid, 1000);
    ck_assert_uint_eq(s.euid, 1001);
    ck_assert_uint_eq(s.egid, 51);
    ck_assert_uint_eq(s.vm_rss_kb, 1234);
    ck_assert_uint_eq(s.rss_shmem_kb, 105);
    ck_assert_uint_eq(s.vm_swap_kb, 9);
    ck_assert_uint_eq(s.threads, 4);
    ck_assert_uint_eq(s.vol_ctxt, 10);
    ck_assert_int_eq(proc_status_parse("Name:\tx\n", 8, &s), -EINVAL); /* no PPid */
    ck_assert_int_eq(proc_status_parse("garbage", 7, &s), -EINVAL);
    ck_assert_int_eq(proc_read_status(0, &s), 0);
    ck_assert_int_eq(s.tgid, getpid());

    const char *io = "rchar: 100\nwchar: 200\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\n"
                     "write_bytes: 8192\ncancelled_write_bytes: 0\n";
    struct proc_io pio;
    ck_assert_int_eq(proc_io_parse(io, strlen(io), &pio), 0);
    ck_assert_uint_eq(pio.rchar, 100);
    ck_assert_uint_eq(pio.write_bytes, 8192);
    ck_assert_int_eq(proc_io_parse("rchar: 1\n", 9, &pio), -EINVAL); /* cut short */
    ck_assert_int_eq(proc_io_parse("rchar: x\nwchar: 1\n", 18, &pio), -EINVAL);

    uint64_t bt = 0;
    const char *pstat = "cpu  1 2 3\nintr 1 2 3\nbtime 1700000000\nprocesses 5\n";
    ck_assert_int_eq(proc_btime_parse(pstat, strlen(pstat), &bt), 0);
    ck_assert_uint_eq(bt, 1700000000);
    ck_assert_int_eq(proc_btime_parse("cpu 1\n", 6, &bt), -EINVAL);
    ck_assert_int_eq(proc_btime_parse("btime x\n", 8, &bt), -EINVAL);
    /* Our start time is in the past, and not before 2020. */
    struct proc_stat st;
    ck_assert_int_eq(proc_read_stat(0, &st), 0);
    uint64_t ms = proc_ticks_to_epoch_ms(st.starttime);
    ck_assert_uint_gt(ms, 1577836800000ull);
    ck_assert_uint_le(ms, (uint64_t)time(NULL) * 1000 + 1000);

    char out[16];
    ck_assert_uint_eq(proc_cmdline_join("ls\0-l\0a b\0", 11, out, sizeof out), 9);
    ck_assert_str_eq(out, "ls -l a b");
    ck_assert_uint_eq(proc_cmdline_join("", 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(proc_cmdline_join("aaaaaaaaaaaaaaaaaaaa", 20, out, sizeof out), 15);
}
END_TEST

/* A forged /proc: 1 ← 10 ← 11 ← 12, 10 ← 13, and 20 whose "parent" 10 started after it (a
 * reused pid: not a child). */
static void forge(const char *root, int pid, int ppid, int start)
{
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/%d", root, pid);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/stat", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d (p%d) S %d %d %d 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 %d 100 10\n", pid, pid, ppid,
            pid, pid, start);
    fclose(f);
}

START_TEST(table)
{
    char root[] = "/tmp/drover-proc-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    forge(root, 1, 0, 1);
    forge(root, 10, 1, 100);
    forge(root, 11, 10, 110);
    forge(root, 12, 11, 120);
    forge(root, 13, 10, 130);
    forge(root, 20, 10, 50);
    struct proc_table t;
    ck_assert_int_eq(proc_table_read(&t, root), 0);
    ck_assert_uint_eq(t.n, 6);
    const struct proc_entry *e = proc_table_find(&t, 10);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->comm, "p10");
    int32_t *d;
    size_t n;
    ck_assert_int_eq(proc_table_descendants(&t, (size_t)(e - t.v), &d, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(t.v[d[0]].pid, 12); /* deepest first */
    ck_assert_int_eq(t.v[d[1]].pid, 11);
    ck_assert_int_eq(t.v[d[2]].pid, 13);
    free(d);
    ck_assert_int_eq(proc_table_find(&t, 20)->parent, -1);
    ck_assert_ptr_null(proc_table_find(&t, 99));
    proc_table_done(&t);

    /* The real one holds us, linked to our parent. */
    ck_assert_int_eq(proc_table_read(&t, NULL), 0);
    e = proc_table_find(&t, getpid());
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(t.v[e->parent].pid, getppid());
    proc_table_done(&t);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(env_layering)
{
    char *base[] = {"PATH=/x", "HOME=/h", "LANG=C.UTF-8", "LC_ALL=C", "SECRET=1", "BAD", NULL};
    struct proc_env e;

    ck_assert_int_eq(proc_env_init(&e, PROC_ENV_INHERIT, base), 0);
    ck_assert_uint_eq(e.n, 5); /* "BAD" has no '=' */
    ck_assert_int_eq(proc_env_set(&e, "HOME", "/first"), 0);
    ck_assert_int_eq(proc_env_set(&e, "NEW", "1"), 0);
    ck_assert_int_eq(proc_env_set(&e, "HOME", "/last"), 0);
    ck_assert_str_eq(proc_env_get(&e, "HOME"), "/last");
    ck_assert_str_eq(e.v[1], "HOME=/last"); /* kept its place */
    ck_assert_uint_eq(e.n, 6);
    ck_assert_int_eq(proc_env_set(&e, "A=B", "x"), -EINVAL);
    ck_assert_int_eq(proc_env_set(&e, "", "x"), -EINVAL);
    ck_assert_int_eq(proc_env_unset(&e, "PATH"), 0);
    ck_assert_ptr_null(proc_env_get(&e, "PATH"));
    ck_assert_ptr_null(e.v[e.n]);
    proc_env_done(&e);

    ck_assert_int_eq(proc_env_init(&e, PROC_ENV_CLEAR, base), 0);
    ck_assert_uint_eq(e.n, 0);
    ck_assert_ptr_null(e.v[0]);
    proc_env_done(&e);

    ck_assert_int_eq(proc_env_init(&e, PROC_ENV_USER_BASELINE, base), 0);
    ck_assert_ptr_nonnull(proc_env_get(&e, "USER"));
    ck_assert_str_eq(proc_env_get(&e, "PATH"),
                     "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    ck_assert_str_eq(proc_env_get(&e, "LANG"), "C.UTF-8");
    ck_assert_str_eq(proc_env_get(&e, "LC_ALL"), "C");
    ck_assert_ptr_null(proc_env_get(&e, "SECRET"));
    proc_env_done(&e);
    ck_assert_int_eq(proc_env_init(&e, 42, base), -EINVAL);
}
END_TEST

/* ---- spawning and killing, for real ---- */

struct exit_record {
    int status; /* exit status */
    int calls;  /* on_exit calls */
};

static void on_exit_cb(struct proc_child *c, int status, void *ud)
{
    struct exit_record *x = ud;
    (void)c;
    x->status = status;
    x->calls++;
}

static void run_until(uv_loop_t *loop, const int *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++)
        uv_run(loop, UV_RUN_ONCE);
}

static uv_loop_t loop;
static struct proc_reaper *reaper;

static void setup(void)
{
    uv_loop_init(&loop);
    ck_assert_int_eq(proc_reaper_new(&loop, &reaper), 0);
}

static void teardown(void)
{
    proc_reaper_free(reaper);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static int spawn_sh(const char *script, struct exit_record *x, struct proc_spawn_io *io,
                    enum proc_stdio out, struct proc_child **ret)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "FOO=bar", NULL};
    struct proc_spawn_opts o = {
        .argv = argv,
        .envp = envp,
        .stdio = {PROC_STDIO_NULL, out, PROC_STDIO_NULL},
        .umask = -1,
        .cgroup = true,
    };
    return proc_spawn(reaper, &o, on_exit_cb, x, io, ret);
}

static size_t read_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t k;
    while (n + 1 < size && (k = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    return n;
}

START_TEST(spawn_exit_codes)
{
    struct exit_record x = {0};
    struct proc_child *c;
    char *missing[] = {"drover-no-such-program", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct proc_spawn_opts o = {.argv = missing, .envp = envp, .umask = -1};

    ck_assert_int_eq(proc_spawn(reaper, &o, on_exit_cb, &x, NULL, &c), -ENOENT);
    char *notexec[] = {"/etc/passwd", NULL};
    o.argv = notexec;
    ck_assert_int_eq(proc_spawn(reaper, &o, on_exit_cb, &x, NULL, &c), -EACCES);
    char *sh[] = {"sh", "-c", "exit 0", NULL};
    o.argv = sh;
    o.cwd = "/nonexistent-dir";
    ck_assert_int_eq(proc_spawn(reaper, &o, on_exit_cb, &x, NULL, &c), -ENOENT);
    ck_assert_uint_eq(proc_reaper_count(reaper), 0);

    ck_assert_int_eq(spawn_sh("exit 7", &x, NULL, PROC_STDIO_NULL, &c), 0);
    ck_assert_uint_eq(proc_reaper_count(reaper), 1);
    run_until(&loop, &x.calls);
    ck_assert_int_eq(x.status, 7);
    ck_assert_uint_eq(proc_reaper_count(reaper), 0);

    x = (struct exit_record){0};
    ck_assert_int_eq(spawn_sh("kill -TERM $$", &x, NULL, PROC_STDIO_NULL, &c), 0);
    run_until(&loop, &x.calls);
    ck_assert_int_eq(x.status, -SIGTERM);
    ck_assert_int_eq(x.calls, 1);
}
END_TEST

/* Children that end together are each reported once, with their own status (each is reaped
 * through its pidfd), and an orphan re-parented to us is reaped too (by the SIGCHLD walk): no
 * zombie is left behind. */
START_TEST(reap_many_and_orphans)
{
    enum { N = 24 };
    struct exit_record x[N] = {{0}};
    struct proc_child *c;
    char script[64];
    int left = N;

    for (int i = 0; i < N; i++) {
        snprintf(script, sizeof script, "sleep 0.2; exit %d", i);
        ck_assert_int_eq(spawn_sh(script, &x[i], NULL, PROC_STDIO_NULL, &c), 0);
    }
    struct proc_spawn_io io;
    struct exit_record parent = {0};
    ck_assert_int_eq(
        spawn_sh("(sleep 0.3 & echo $!) ; echo ready", &parent, &io, PROC_STDIO_PIPE, &c), 0);
    char buf[64] = "";
    size_t n = read_all(io.fd[1], buf, sizeof buf);
    close(io.fd[1]);
    ck_assert_msg(n > 0 && strstr(buf, "ready"), "%s", buf);
    pid_t orphan = atoi(buf);
    ck_assert_int_gt(orphan, 1);
    run_until(&loop, &parent.calls);
    ck_assert_int_eq(parent.status, 0);

    for (int k = 0; k < 4000 && left; k++) {
        uv_run(&loop, UV_RUN_ONCE);
        left = 0;
        for (int i = 0; i < N; i++)
            left += x[i].calls == 0;
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(x[i].calls, 1);
        ck_assert_int_eq(x[i].status, i);
    }
    ck_assert_uint_eq(proc_reaper_count(reaper), 0);
    /* The orphan exits 0.3 s after it started: then it is reaped, not left a zombie. */
    struct proc_stat st;
    for (int i = 0; i < 300 && proc_read_stat(orphan, &st) == 0; i++)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(10000);
    ck_assert_msg(proc_read_stat(orphan, &st) < 0, "orphan %d left in state %c", orphan, st.state);
}
END_TEST

START_TEST(spawn_stdio_env_fds)
{
    struct exit_record x = {0};
    struct proc_spawn_io io;
    struct proc_child *c;
    char buf[4096];

    /* The child sees its environment, a new session, default dispositions, an empty signal mask
     * and no fd beyond 0..2. SIGPIPE is ignored here first: the child must not inherit that. */
    signal(SIGPIPE, SIG_IGN);
    int leak = open("/dev/null", O_RDONLY); /* not CLOEXEC, yet the child must not get it */
    ck_assert_int_eq(spawn_sh("echo \"$FOO\"; ls /proc/self/fd | wc -l; "
                              "grep -E '^(SigBlk|SigIgn)' /proc/self/status; "
                              "ps -o sid= -p $$ | tr -d ' '; echo $$",
                              &x, &io, PROC_STDIO_PIPE, &c),
                     0);
    close(leak);
    ck_assert_int_ge(io.fd[1], 0);
    size_t n = read_all(io.fd[1], buf, sizeof buf);
    close(io.fd[1]);
    run_until(&loop, &x.calls);
    ck_assert_int_eq(x.status, 0);
    ck_assert_uint_gt(n, 0);
    char foo[16], sigblk[32], sigign[32];
    int nfd, sid, pid;
    ck_assert_int_eq(sscanf(buf, "%15s %d SigBlk: %31s SigIgn: %31s %d %d", foo, &nfd, sigblk,
                            sigign, &sid, &pid),
                     6);
    ck_assert_str_eq(foo, "bar");
    ck_assert_int_eq(nfd, 4); /* 0, 1, 2 and the directory ls reads */
    ck_assert_str_eq(sigblk, "0000000000000000");
    ck_assert_str_eq(sigign, "0000000000000000");
    ck_assert_int_eq(sid, pid);
}
END_TEST

/* A PTY child: its stdio is the terminal, of the size asked, and it leads its own session. */
START_TEST(spawn_pty_umask_rlimit)
{
    struct exit_record x = {0};
    struct proc_spawn_io io;
    struct proc_child *c;
    char *argv[] = {"sh", "-c", "tty; stty size; umask; ulimit -n", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct proc_spawn_opts o = {
        .argv = argv,
        .envp = envp,
        .stdio = {PROC_STDIO_PTY, PROC_STDIO_PTY, PROC_STDIO_PTY},
        .rows = 33,
        .cols = 111,
        .umask = 027,
        .n_rlimits = 1,
    };
    o.rlimits[0].resource = RLIMIT_NOFILE;
    o.rlimits[0].lim = (struct rlimit){77, 77};

    ck_assert_int_eq(proc_spawn(reaper, &o, on_exit_cb, &x, &io, &c), 0);
    ck_assert_int_ge(io.fd[0], 0);
    ck_assert_int_eq(io.fd[1], -1);
    char buf[512];
    size_t n = 0;
    ssize_t k;
    /* A PTY master reads EIO, not EOF, once the child side is closed. */
    while ((k = read(io.fd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(io.fd[0]);
    run_until(&loop, &x.calls);
    ck_assert_int_eq(x.status, 0);
    ck_assert_msg(strstr(buf, "/dev/pts/") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "33 111") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "0027") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "\r\n77\r\n") != NULL, "%s", buf);

    /* A new process group in our session. */
    char *pg[] = {"sh", "-c",
                  "exit $(( $(ps -o pgid= -p $$) == $$ && $(ps -o sid= -p $$) != $$ ? 0 : 1 ))",
                  NULL};
    struct proc_spawn_opts g = {.argv = pg, .envp = envp, .group = PROC_GROUP_PGRP, .umask = -1};
    x = (struct exit_record){0};
    ck_assert_int_eq(proc_spawn(reaper, &g, on_exit_cb, &x, NULL, &c), 0);
    run_until(&loop, &x.calls);
    ck_assert_int_eq(x.status, 0);
}
END_TEST

/* Identity: as root, a child can become another user (nobody here). */
START_TEST(spawn_as_other_user)
{
    struct exit_record x = {0};
    struct proc_child *c;
    char *argv[] = {"sh", "-c", "test \"$(id -u):$(id -g):$(id -G)\" = 65534:65534:65534", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct proc_spawn_opts o = {
        .argv = argv, .envp = envp, .umask = -1, .set_ids = true, .uid = 65534, .gid = 65534};

    if (geteuid() != 0)
        return; /* needs privilege; nothing to check as an ordinary user */
    ck_assert_int_eq(proc_spawn(reaper, &o, on_exit_cb, &x, NULL, &c), 0);
    run_until(&loop, &x.calls);
    ck_assert_int_eq(x.status, 0);
}
END_TEST

static void on_killed(uint32_t killed, uint32_t survivors, void *ud)
{
    int *r = ud;
    r[0] = 1;
    r[1] = (int)killed;
    r[2] = (int)survivors;
}

/* A tree with a double-forked orphan: the orphan's parent exits, so only the cgroup (or the
 * session) still ties it to the tree. */
START_TEST(kill_tree_orphans)
{
    static const char *const modes[] = {"auto", "v1", "none"};
    struct exit_record x = {0};

    /* Each way of finding the orphan: the best cgroup, a v1 hierarchy, sessions only. */
    setenv("DROVER_CGROUP", modes[_i], 1);
    proc_reaper_free(reaper);
    ck_assert_int_eq(proc_reaper_new(&loop, &reaper), 0);
    struct proc_spawn_io io;
    struct proc_child *c;
    char buf[256];
    int done[3] = {0};

    ck_assert_int_eq(spawn_sh("sleep 300 & (sleep 301 & echo $!) ; sleep 302 & echo ready; wait",
                              &x, &io, PROC_STDIO_PIPE, &c),
                     0);
    /* Read the orphan's pid and "ready". */
    size_t n = 0;
    while (!strstr(buf, "ready")) {
        ssize_t k = read(io.fd[1], buf + n, sizeof buf - 1 - n);
        ck_assert_int_gt(k, 0);
        n += (size_t)k;
        buf[n] = '\0';
    }
    close(io.fd[1]);
    pid_t orphan = atoi(buf);
    ck_assert_int_gt(orphan, 1);
    struct proc_stat st;
    ck_assert_int_eq(proc_read_stat(orphan, &st), 0);
    ck_assert_int_eq(st.ppid, getpid()); /* re-parented to us, the subreaper */

    ck_assert_int_eq(proc_kill_tree(reaper, proc_child_pid(c), 3000, on_killed, done, NULL), 0);
    ck_assert_int_eq(done[0], 0); /* never inside the call */
    run_until(&loop, &done[0]);
    ck_assert_int_eq(done[2], 0);
    ck_assert_int_ge(done[1], 4); /* sh, two sleeps, the orphan */
    run_until(&loop, &x.calls);
    ck_assert_int_eq(x.status, -SIGKILL);
    for (int i = 0; i < 100 && proc_read_stat(orphan, &st) == 0 && st.state != 'Z'; i++)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(10000);
    ck_assert_msg(proc_read_stat(orphan, &st) < 0 || st.state == 'Z', "orphan %d survived", orphan);

    /* A pid that is not running finishes with nothing killed. */
    done[0] = 0;
    ck_assert_int_eq(proc_kill_tree(reaper, 999999999, 1000, on_killed, done, NULL), 0);
    run_until(&loop, &done[0]);
    ck_assert_int_eq(done[1], 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("parsers");
    tcase_add_test(tc, statm);
    tcase_add_test(tc, stat_parse);
    tcase_add_test(tc, status_io_btime_cmdline);
    tcase_add_test(tc, table);
    tcase_add_test(tc, env_layering);
    suite_add_tcase(s, tc);
    TCase *live = tcase_create("live");
    tcase_add_checked_fixture(live, setup, teardown);
    tcase_add_test(live, spawn_exit_codes);
    tcase_add_test(live, reap_many_and_orphans);
    tcase_add_test(live, spawn_stdio_env_fds);
    tcase_add_test(live, spawn_pty_umask_rlimit);
    tcase_add_test(live, spawn_as_other_user);
    tcase_add_loop_test(live, kill_tree_orphans, 0, 3);
    suite_add_tcase(s, live);
    return unit_run(s);
}
