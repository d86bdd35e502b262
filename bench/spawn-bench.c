/* Benchmark: spawning and killing processes.
 *
 *   spawn-bench bare N            fork + execve("/bin/true") + waitpid, N times: the machine's
 * limit spawn-bench core N            droverd's spawn path (proc_spawn, SIGCHLD on a libuv loop,
 *                                 pidfd, reaper dispatch, cgroup per tree), N times in a row
 *   spawn-bench rpc SOCKET N      drover.v1.Processes/SpawnDaemon of "/bin/true" through a running
 *                                 droverd (includes /bin/sh -lc, as SPAWN_DAEMON runs), waiting
 *                                 for each to exit; compared with `bare-sh N` below
 *   spawn-bench bare-sh N         fork + execve("/bin/sh -lc /bin/true") + waitpid
 *   spawn-bench killtree SOCKET W a tree of about 100 processes (W double-forked orphans among
 *                                 them) started through droverd, then KillTree: wall time until
 *                                 nothing of it is left, checked in /proc
 *   spawn-bench stamp FILE        appends CLOCK_REALTIME in ns to FILE, then waits to be killed:
 *                                 a service that says to the nanosecond when it started
 *   spawn-bench exec-latency N F  the limit for a restart: from just before posix_spawn (vfork and
 *                                 exec: the cheapest spawn there is) to the stamp of a fresh
 *                                 `spawn-bench stamp F`, N times (median, p99)
 * Prints one line of key=value figures. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/time-util.h"
#include "client/client.h"
#include "proc/proc.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

static double since(uint64_t t0)
{
    return (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
}

static void bare(long n, char *const *argv)
{
    extern char **environ;
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execve(argv[0], argv, environ);
            _exit(127);
        }
        waitpid(pid, NULL, 0);
    }
    double s = since(t0);
    printf("spawns=%ld seconds=%.3f per_second=%.0f\n", n, s, n / s);
}

struct core_run {
    struct proc_reaper *r; /* the reaper */
    long left;             /* spawns to go */
    long failed;           /* non-zero exits */
};

static char *true_argv[] = {"/bin/true", NULL};

static void spawn_next(struct core_run *c);

static void on_exit_cb(struct proc_child *child, int status, void *userdata)
{
    struct core_run *c = userdata;
    (void)child;
    c->failed += status != 0;
    spawn_next(c);
}

static void spawn_next(struct core_run *c)
{
    extern char **environ;
    struct proc_spawn_opts o = {
        .argv = true_argv,
        .envp = environ,
        .umask = -1,
        .cgroup = true,
        .stdio = {PROC_STDIO_NULL, PROC_STDIO_NULL, PROC_STDIO_NULL},
    };
    if (c->left-- > 0 && proc_spawn(c->r, &o, on_exit_cb, c, NULL, NULL) < 0) {
        perror("proc_spawn");
        exit(1);
    }
}

static void core(long n)
{
    uv_loop_t loop;
    struct core_run c = {.left = n};

    uv_loop_init(&loop);
    if (proc_reaper_new(&loop, &c.r) < 0)
        exit(1);
    const char *mode = proc_reaper_cgroup_mode(c.r);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    spawn_next(&c);
    while (c.left >= 0)
        uv_run(&loop, UV_RUN_ONCE);
    double s = since(t0);
    printf("spawns=%ld seconds=%.3f per_second=%.0f failed=%ld cgroups=%s\n", n, s, n / s, c.failed,
           mode);
    proc_reaper_free(c.r);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static struct drover_client *connect_or_die(const char *sock)
{
    struct drover_client *cl;
    if (drover_client_connect(sock, &cl) < 0) {
        fprintf(stderr, "spawn-bench: no droverd at %s\n", sock);
        exit(1);
    }
    return cl;
}

static uint32_t spawn_daemon(struct drover_client *cl, const char *command)
{
    RunningProcess__Daemon__V1__SpawnDaemonRequest req =
        RUNNING_PROCESS__DAEMON__V1__SPAWN_DAEMON_REQUEST__INIT;
    RunningProcess__Daemon__V1__SpawnDaemonResponse *resp;
    struct drover_status st;

    req.command = (char *)command;
    if (drover_client_unary(cl, "/drover.v1.Processes/SpawnDaemon", &req.base,
                            &running_process__daemon__v1__spawn_daemon_response__descriptor,
                            (ProtobufCMessage **)&resp, &st, 10000) < 0 ||
        st.code != 0) {
        fprintf(stderr, "spawn-bench: SpawnDaemon failed: %s\n", st.message);
        exit(1);
    }
    uint32_t pid = resp->pid;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return pid;
}

/* Whether pid is gone (or a zombie about to be reaped by droverd). */
static bool gone(pid_t pid)
{
    struct proc_stat st;
    return proc_read_stat(pid, &st) < 0 || st.state == 'Z';
}

static void rpc(const char *sock, long n)
{
    struct drover_client *cl = connect_or_die(sock);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) {
        pid_t pid = (pid_t)spawn_daemon(cl, "/bin/true");
        while (!gone(pid))
            usleep(50);
    }
    double s = since(t0);
    printf("spawns=%ld seconds=%.3f per_second=%.0f\n", n, s, n / s);
    drover_client_free(cl);
}

/* Live processes of session sid, orphans included. */
static int session_count(pid_t sid)
{
    struct proc_table t;
    int n = 0;
    if (proc_table_read(&t, NULL) < 0)
        return -1;
    for (size_t i = 0; i < t.n; i++)
        n += t.v[i].session == sid && t.v[i].state != 'Z';
    proc_table_done(&t);
    return n;
}

static void killtree(const char *sock, int orphans)
{
    struct drover_client *cl = connect_or_die(sock);
    char cmd[512];
    /* 19 subshells with 4 sleeps each (95), the orphans, the root shell: about 100. */
    snprintf(cmd, sizeof cmd,
             "for i in $(seq 19); do sh -c 'sleep 1000 & sleep 1000 & sleep 1000 & "
             "sleep 1000 & wait' & done; for i in $(seq %d); do (sleep 1000 &); done; wait",
             orphans);
    pid_t root = (pid_t)spawn_daemon(cl, cmd);
    int want = 1 + 19 * 5 + orphans, n = 0;
    for (int i = 0; i < 5000 && (n = session_count(root)) < want; i++)
        usleep(1000);

    RunningProcess__Daemon__V1__KillTreeRequest req =
        RUNNING_PROCESS__DAEMON__V1__KILL_TREE_REQUEST__INIT;
    RunningProcess__Daemon__V1__KillTreeResponse *resp;
    struct drover_status st;
    req.pid = (uint32_t)root;
    req.timeout_seconds = 10;
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    if (drover_client_unary(cl, "/drover.v1.Processes/KillTree", &req.base,
                            &running_process__daemon__v1__kill_tree_response__descriptor,
                            (ProtobufCMessage **)&resp, &st, 20000) < 0 ||
        st.code != 0) {
        fprintf(stderr, "spawn-bench: KillTree failed: %s\n", st.message);
        exit(1);
    }
    double reply_ms = since(t0) * 1000;
    int left;
    while ((left = session_count(root)) > 0 && since(t0) < 10)
        usleep(100);
    printf("tree_processes=%d killed=%u reply_ms=%.2f zero_survivors_ms=%.2f survivors=%d\n", n,
           resp->processes_killed, reply_ms, since(t0) * 1000, left);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    drover_client_free(cl);
}

static void stamp(const char *path)
{
    char line[32];
    FILE *f = fopen(path, "a");
    if (!f)
        exit(1);
    int n = snprintf(line, sizeof line, "%llu\n", (unsigned long long)now_ns(CLOCK_REALTIME));
    fwrite(line, 1, (size_t)n, f);
    fclose(f);
    for (;;)
        pause();
}

/* The newest stamp in path once there are more than `had` lines; 0 until then. */
static uint64_t newest_stamp(const char *path, size_t had)
{
    FILE *f = fopen(path, "r");
    unsigned long long v, last = 0;
    size_t n = 0;
    while (f && fscanf(f, "%llu", &v) == 1) {
        last = v;
        n++;
    }
    if (f)
        fclose(f);
    return n > had ? last : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void exec_latency(long n, const char *path, const char *self)
{
    double *ms = calloc((size_t)n, sizeof *ms);
    char *argv[] = {(char *)self, "stamp", (char *)path, NULL};
    for (long i = 0; i < n; i++) {
        uint64_t t0 = now_ns(CLOCK_REALTIME), at;
        pid_t pid;
        if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0)
            exit(1);
        while (!(at = newest_stamp(path, (size_t)i)))
            usleep(200);
        ms[i] = (double)(at - t0) / 1e6;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    printf("spawns=%ld median_ms=%.2f p99_ms=%.2f\n", n, ms[n / 2], ms[(size_t)(n * 99 / 100)]);
    free(ms);
}

int main(int argc, char **argv)
{
    static char *sh_argv[] = {"/bin/sh", "-lc", "/bin/true", NULL};
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && !strcmp(argv[1], "bare"))
        bare(atol(argv[2]), true_argv);
    else if (argc == 3 && !strcmp(argv[1], "bare-sh"))
        bare(atol(argv[2]), sh_argv);
    else if (argc == 3 && !strcmp(argv[1], "core"))
        core(atol(argv[2]));
    else if (argc == 4 && !strcmp(argv[1], "rpc"))
        rpc(argv[2], atol(argv[3]));
    else if (argc == 4 && !strcmp(argv[1], "killtree"))
        killtree(argv[2], atoi(argv[3]));
    else if (argc == 3 && !strcmp(argv[1], "stamp"))
        stamp(argv[2]);
    else if (argc == 4 && !strcmp(argv[1], "exec-latency"))
        exec_latency(atol(argv[2]), argv[3], "/proc/self/exe");
    else {
        fprintf(stderr, "usage: spawn-bench bare|bare-sh|core N | rpc SOCKET N | killtree SOCKET W "
                        "| stamp FILE | exec-latency N FILE\n");
        return 2;
    }
    return 0;
}
