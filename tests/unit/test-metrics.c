/* Unit tests of src/metrics: every parser on real and hostile input, the engine on a forged
 * /proc (exact CPU percentages from two samples, TTL sharing, the since-boot first sample), and
 * live processes: a busy loop reads about one core, a sleeper about nothing, a child that touches
 * 64 MB reads 64 MB. */
#include "unit.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/macro.h"
#include "base/time-util.h"
#include "metrics/metrics.h"

#define PARSE(fn, s, ...) fn(s, strlen(s), __VA_ARGS__)

static const char real_stat[] = "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\n"
                                "cpu0 1393280 32966 572056 13366565 1589 0 11584 0 0 0\n"
                                "cpu1 1335897 31478 488342 13358624 4185 0 2331 0 0 0\n"
                                "cpu3 1 2 3 4 5 6 7 8\n"
                                "intr 1462898 32 2 0 0 0 0\n"
                                "ctxt 2629318\n"
                                "btime 1700000000\n"
                                "processes 26442\n"
                                "procs_running 3\n"
                                "procs_blocked 1\n"
                                "softirq 1 2 3\n";

START_TEST(parse_stat)
{
    struct metrics_system s = {0};
    ck_assert_int_eq(PARSE(metrics_parse_stat, real_stat, &s), 0);
    ck_assert_int_eq(s.cpu.id, -1);
    ck_assert_uint_eq(s.cpu.ticks[METRICS_CPU_USER], 10132153);
    ck_assert_uint_eq(s.cpu.ticks[METRICS_CPU_STEAL], 0);
    ck_assert_uint_eq(s.n_cores, 3);
    ck_assert_int_eq(s.cores[2].id, 3); /* cpu2 offline: ids are kept, not renumbered */
    ck_assert_uint_eq(s.cores[2].ticks[METRICS_CPU_STEAL], 8);
    ck_assert_uint_eq(s.ctxt, 2629318);
    ck_assert_uint_eq(s.intr, 1462898);
    ck_assert_uint_eq(s.boot_time_s, 1700000000);
    ck_assert_uint_eq(s.forks, 26442);
    ck_assert_uint_eq(s.procs_running, 3);
    ck_assert_uint_eq(s.procs_blocked, 1);
    free(s.cores);

    static const char *const bad[] = {
        "",
        "cpu0 1 2 3 4 5 6 7 8\n",
        "cpu 1 2\n",
        "cpux 1 2 3 4 5 6 7 8\ncpu 1 2 3 4\n",
        "cpu 1 2 3 4\ncpu99999999 1 2 3 4\n",
        "intr 5\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = (struct metrics_system){0};
        ck_assert_msg(PARSE(metrics_parse_stat, bad[i], &s) == -EINVAL, "'%s'", bad[i]);
        ck_assert_ptr_null(s.cores);
    }
    /* Old kernels: four columns. Huge numbers saturate. */
    s = (struct metrics_system){0};
    ck_assert_int_eq(PARSE(metrics_parse_stat, "cpu 1 2 3 99999999999999999999999\n", &s), 0);
    ck_assert_uint_eq(s.cpu.ticks[METRICS_CPU_IDLE], UINT64_MAX);
    free(s.cores);
}
END_TEST

START_TEST(parse_meminfo_loadavg_uptime)
{
    struct metrics_mem m;
    ck_assert_int_eq(PARSE(metrics_parse_meminfo,
                           "MemTotal:       16000000 kB\nMemFree:         1000000 kB\n"
                           "MemAvailable:    6000000 kB\nBuffers:          100000 kB\n"
                           "Cached:          4000000 kB\nSwapCached:            0 kB\n"
                           "Shmem:            200000 kB\nSReclaimable:     300000 kB\n"
                           "SwapTotal:       2000000 kB\nSwapFree:        1500000 kB\n",
                           &m),
                     0);
    ck_assert_uint_eq(m.total, 16000000ull * 1024);
    ck_assert_uint_eq(m.used, 10000000ull * 1024);
    ck_assert_uint_eq(m.swap_used, 500000ull * 1024);
    ck_assert_uint_eq(m.shared, 200000ull * 1024);
    /* No MemAvailable (before 3.14): free + buffers + cached + reclaimable. */
    ck_assert_int_eq(PARSE(metrics_parse_meminfo,
                           "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 20 kB\n"
                           "SReclaimable: 5 kB\n",
                           &m),
                     0);
    ck_assert_uint_eq(m.available, 135 * 1024);
    /* Available above total (a lying file) is clamped, so used never wraps. */
    ck_assert_int_eq(PARSE(metrics_parse_meminfo, "MemTotal: 10 kB\nMemAvailable: 99 kB\n", &m), 0);
    ck_assert_uint_eq(m.used, 0);
    ck_assert_int_eq(PARSE(metrics_parse_meminfo, "MemFree: 10 kB\n", &m), -EINVAL);
    ck_assert_int_eq(PARSE(metrics_parse_meminfo, "", &m), -EINVAL);

    struct metrics_system s = {0};
    ck_assert_int_eq(PARSE(metrics_parse_loadavg, "0.52 1.05 12.50 3/812 12345\n", &s), 0);
    ck_assert(s.load[0] == 0.52 && s.load[1] == 1.05 && s.load[2] == 12.5);
    ck_assert_uint_eq(s.runnable, 3);
    ck_assert_uint_eq(s.entities, 812);
    ck_assert_int_eq(PARSE(metrics_parse_loadavg, "0.52 1.05 12.50 3 12345\n", &s), -EINVAL);
    ck_assert_int_eq(PARSE(metrics_parse_loadavg, "x", &s), -EINVAL);
    double up = 0;
    ck_assert_int_eq(PARSE(metrics_parse_uptime, "350735.47 234388.90\n", &up), 0);
    ck_assert(up > 350735.46 && up < 350735.48);
    ck_assert_int_eq(PARSE(metrics_parse_uptime, "", &up), -EINVAL);
}
END_TEST

START_TEST(parse_netdev_diskstats)
{
    struct metrics_netif *n = NULL;
    size_t nn = 0;
    ck_assert_int_eq(
        PARSE(
            metrics_parse_netdev,
            "Inter-|   Receive                                                |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
            "packets errs drop fifo colls carrier compressed\n"
            "    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
            "  eth0:123456789 2000 3 4 0 0 0 0 987654321 1000 5 6 0 0 0 0\n"
            "bad: 1 2 3\n"
            "a-very-long-interface-name-that-is-not-real: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
            &n, &nn),
        0);
    ck_assert_uint_eq(nn, 3);
    ck_assert_str_eq(n[1].name, "eth0");
    ck_assert_uint_eq(n[1].rx_bytes, 123456789);
    ck_assert_uint_eq(n[1].rx_errs, 3);
    ck_assert_uint_eq(n[1].tx_bytes, 987654321);
    ck_assert_uint_eq(n[1].tx_drop, 6);
    ck_assert_uint_eq(strlen(n[2].name), 31); /* truncated, terminated */
    free(n);

    struct metrics_diskio *d = NULL;
    size_t nd = 0;
    ck_assert_int_eq(PARSE(metrics_parse_diskstats,
                           "   7       0 loop0 1 0 2 0 0 0 0 0 0 0 0\n"
                           " 259       0 nvme0n1 100 5 2000 30 200 10 4000 60 1 90 120 0 0 0 0\n"
                           " 259       1 nvme0n1p1 1 2 3 4 5 6 7 8 9 10 11\n"
                           "   8       0 sda 1 2\n",
                           &d, &nd),
                     0);
    ck_assert_uint_eq(nd, 2);
    ck_assert_str_eq(d[0].name, "nvme0n1");
    ck_assert_uint_eq(d[0].read_bytes, 2000 * 512);
    ck_assert_uint_eq(d[0].written_bytes, 4000 * 512);
    ck_assert_uint_eq(d[0].io_ms, 90);
    ck_assert_uint_eq(d[0].weighted_ms, 120);
    free(d);
}
END_TEST

START_TEST(parse_mounts_labels_os)
{
    struct metrics_fs *f = NULL;
    size_t n = 0;
    ck_assert_int_eq(PARSE(metrics_parse_mounts,
                           "proc /proc proc rw,nosuid 0 0\n"
                           "/dev/sda1 / ext4 rw,relatime 0 0\n"
                           "/dev/sda1 /srv/bind ext4 rw,relatime 0 0\n"
                           "tmpfs /run tmpfs rw 0 0\n"
                           "tmpfs /tmp tmpfs rw 0 0\n"
                           "/dev/sdb1 /mnt/My\\040Disk vfat ro,noatime 0 0\n"
                           "server:/x /net nfs4 rw 0 0\n"
                           "/dev/sdc /sys/fs/x ext4 rw 0 0\n"
                           "short\n",
                           &f, &n),
                     0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(f[0].mountpoint, "/");
    ck_assert_str_eq(f[1].mountpoint, "/run");
    ck_assert_str_eq(f[2].mountpoint, "/tmp");
    ck_assert_str_eq(f[3].mountpoint, "/mnt/My Disk");
    ck_assert(f[3].readonly && !f[0].readonly);
    metrics_fs_free(f, n);

    struct metrics_label *l = NULL;
    ck_assert_int_eq(PARSE(metrics_parse_labels,
                           "app=\"web\"\npod-template-hash=\"5d7f\\\"x\\\\\"\n\nbroken\n=x\n", &l,
                           &n),
                     0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(l[0].key, "app");
    ck_assert_str_eq(l[0].value, "web");
    ck_assert_str_eq(l[1].value, "5d7f\"x\\");
    metrics_labels_free(l, n);

    char os[64];
    metrics_parse_os_release("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", 52, os,
                             sizeof os);
    ck_assert_str_eq(os, "Debian GNU/Linux 12 (bookworm)");
    metrics_parse_os_release("ID=debian\n", 10, os, sizeof os);
    ck_assert_str_eq(os, "");
}
END_TEST

/* ---- the engine on a forged /proc ------------------------------------------------------------ */

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void msleep(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

START_TEST(engine_system_windows)
{
    char root[] = "/tmp/test-metrics-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    put(root, "stat", "cpu 100 0 100 800 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0\n");
    put(root, "meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\n");
    put(root, "loadavg", "1.00 0.50 0.25 1/10 99\n");
    put(root, "uptime", "100.00 50.00\n");
    struct metrics *m =
        metrics_new(&(struct metrics_roots){.proc = root, .sys = root, .etc = root});
    const struct metrics_system *s;

    /* First sample: averages since boot (200 busy of 1000). */
    ck_assert_int_eq(metrics_system(m, 1000, &s), 0);
    ck_assert_uint_eq(s->window_ms, 0);
    ck_assert(s->cpu.usage_pct > 19.99 && s->cpu.usage_pct < 20.01);
    ck_assert_uint_eq(s->mem.used, 750 * 1024);
    /* Within the TTL the same sample answers, even if the files changed. */
    put(root, "stat", "cpu 200 0 200 900 100 0 0 0\ncpu0 200 0 200 900 100 0 0 0\n");
    ck_assert_int_eq(metrics_system(m, 60000, &s), 0);
    struct metrics_counters c;
    metrics_get_counters(m, &c);
    ck_assert_uint_eq(c.system, 1);
    /* A new sample after the minimum window: 200 busy of 400 since the first; iowait is idle. */
    msleep(120);
    ck_assert_int_eq(metrics_system(m, 0, &s), 0);
    ck_assert_uint_ge(s->window_ms, 100);
    ck_assert(s->cpu.usage_pct > 49.99 && s->cpu.usage_pct < 50.01);
    ck_assert(s->cores[0].mode_pct[METRICS_CPU_IOWAIT] > 24.99);
    /* Right away again: within 100 ms of the last sample the window still starts at the first
     * one (300 busy of 500); a loaded machine may take longer, and then it starts at the last
     * sample (100 of 100). Either way never a window of a few milliseconds. */
    uint64_t first = s->mono_ms - s->window_ms;
    put(root, "stat", "cpu 300 0 200 900 100 0 0 0\ncpu0 300 0 200 900 100 0 0 0\n");
    msleep(5); /* a sample "no older than 0 ms" is reused within the same millisecond */
    ck_assert_int_eq(metrics_system(m, 0, &s), 0);
    ck_assert_uint_ge(s->window_ms, 100);
    if (s->mono_ms - s->window_ms == first)
        ck_assert(s->cpu.usage_pct > 59.99 && s->cpu.usage_pct < 60.01);
    else
        ck_assert(s->cpu.usage_pct > 99.99);
    /* A missing file is an error, and the old sample stays. */
    char path[512];
    snprintf(path, sizeof path, "%s/loadavg", root);
    unlink(path);
    msleep(120);
    ck_assert_int_eq(metrics_system(m, 0, &s), -ESRCH);
    metrics_free(m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(engine_host_disks_net)
{
    struct metrics *m = metrics_new(NULL);
    const struct metrics_host *h = metrics_host(m);
    char name[256];
    gethostname(name, sizeof name);
    ck_assert_str_eq(h->hostname, name);
    ck_assert_str_eq(h->os, "linux");
    ck_assert_uint_ge(h->n_cpus, 1);
    ck_assert_uint_gt(strlen(h->arch), 0);

    const struct metrics_disks *d;
    ck_assert_int_eq(metrics_disks(m, 1000, &d), 0);
    bool root = false;
    for (size_t i = 0; i < d->n_fs; i++) {
        root |= !strcmp(d->fs[i].mountpoint, "/");
        ck_assert_uint_ge(d->fs[i].size, d->fs[i].free);
        ck_assert_uint_ge(d->fs[i].free, d->fs[i].avail);
    }
    ck_assert_msg(root || d->n_fs > 0, "no file system found");
    const struct metrics_net *n;
    ck_assert_int_eq(metrics_net(m, 1000, &n), 0);
    bool lo = false;
    for (size_t i = 0; i < n->n; i++)
        lo |= !strcmp(n->v[i].name, "lo");
    ck_assert(lo);
    const struct metrics_temps *t;
    ck_assert_int_eq(metrics_temps(m, 1000, &t), 0); /* none here is an answer too */
    ck_assert(t->cpu < (int)t->n);
    metrics_free(m);
}
END_TEST

START_TEST(engine_temps_on_forged_sys)
{
    char root[] = "/tmp/test-metrics-XXXXXX", dir[600], cmd[700];
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(dir, sizeof dir, "%s/class/hwmon/hwmon0", root);
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s/class/hwmon/hwmon1", dir, root);
    ck_assert_int_eq(system(cmd), 0);
    put(dir, "name", "nvme\n");
    put(dir, "temp1_input", "38850\n");
    put(dir, "temp1_label", "Composite\n");
    put(dir, "temp1_crit", "84850\n");
    put(dir, "temp2_input", "garbage\n"); /* not a reading: skipped */
    snprintf(dir, sizeof dir, "%s/class/hwmon/hwmon1", root);
    put(dir, "name", "coretemp\n");
    put(dir, "temp1_input", "51000\n");
    put(dir, "temp1_label", "Package id 0\n");
    put(dir, "temp3_max", "99000\n"); /* no input: not a sensor reading */
    struct metrics *m = metrics_new(&(struct metrics_roots){.sys = root});
    const struct metrics_temps *t;
    ck_assert_int_eq(metrics_temps(m, 1000, &t), 0);
    ck_assert_uint_eq(t->n, 2);
    ck_assert_int_ge(t->cpu, 0);
    ck_assert_str_eq(t->v[t->cpu].chip, "coretemp");
    ck_assert_str_eq(t->v[t->cpu].label, "Package id 0");
    ck_assert(t->v[t->cpu].celsius > 50.99 && t->v[t->cpu].celsius < 51.01);
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].label, "Composite"))
            ck_assert(t->v[i].crit > 84.8 && t->v[i].crit < 84.9);
    metrics_free(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- live processes ------------------------------------------------------------------------- */

static pid_t child(int kind)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (kind == 0)
            for (volatile unsigned long i = 0;; i++)
                ;
        if (kind == 1) {
            size_t len = 64u << 20;
            char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            for (size_t i = 0; i < len; i += 4096)
                p[i] = 1;
        }
        pause();
        _exit(0);
    }
    return pid;
}

/* CPU time the scheduler has given pid, in ns (schedstat's first field). */
static double run_ns(pid_t pid)
{
    char path[64];
    double v = 0;
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lf", &v), 1);
    fclose(f);
    return v;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

START_TEST(live_cpu_and_memory)
{
    uint64_t born = now_ns(CLOCK_MONOTONIC);
    pid_t busy = child(0), idle = child(2), big = child(1);
    struct metrics *m = metrics_new(NULL);
    const struct metrics_procs *p;

    /* Seen for the first time after 300 ms of spinning: its average since it started, not 0.
     * The truth to compare with is the scheduler's own account (schedstat, in ns) over the
     * same span: a loaded CI machine may give the loop much less than a core. */
    msleep(300);
    ck_assert_int_eq(metrics_procs(m, 0, &p), 0);
    const struct metrics_proc *e = metrics_proc_find(p, busy);
    ck_assert_ptr_nonnull(e);
    double truth = 100.0 * run_ns(busy) / (double)(now_ns(CLOCK_MONOTONIC) - born);
    ck_assert_msg(e->cpu_pct > 5 && fabs(e->cpu_pct - truth) < 20,
                  "first sighting of a busy loop: %.1f%%, the scheduler says %.1f%%", e->cpu_pct,
                  truth);
    ck_assert_uint_eq(p->window_ms, 0);

    double run0 = run_ns(busy);
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    msleep(500);
    ck_assert_int_eq(metrics_procs(m, 0, &p), 0);
    truth = 100.0 * (run_ns(busy) - run0) / (double)(now_ns(CLOCK_MONOTONIC) - t0);
    ck_assert_uint_ge(p->window_ms, 500);
    e = metrics_proc_find(p, busy);
    /* About one core on an idle machine; whatever the scheduler gave it on a busy one. */
    ck_assert_msg(e->cpu_pct <= 105 && fabs(e->cpu_pct - truth) < 15,
                  "busy loop: %.1f%%, the scheduler says %.1f%%", e->cpu_pct, truth);
    e = metrics_proc_find(p, idle);
    ck_assert_msg(e && e->cpu_pct < 5, "sleeper: %.1f%%", e ? e->cpu_pct : -1);
    ck_assert_str_eq(e->comm, "test-metrics");
    ck_assert_ptr_null(metrics_proc_find(p, 0));

    /* The 64 MB child, once it has touched every page. */
    struct metrics_tree t;
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(metrics_tree(m, &big, 1, true, 0, &t), 0);
        if (t.mem.rss >= 64u << 20)
            break;
        msleep(10);
    }
    ck_assert_msg(t.mem.rss >= 64u << 20 && t.mem.rss < 80u << 20, "rss %lu",
                  (unsigned long)t.mem.rss);
    ck_assert_uint_ge(t.mem.vms, 64u << 20);
    ck_assert_uint_ge(t.mem.data, 64u << 20);
    ck_assert_uint_eq(t.processes, 1);
    ck_assert_uint_ge(t.fds, 3);
    e = metrics_proc_find(p, big);
    ck_assert_ptr_nonnull(e);

    /* A tree of both, one pid gone: the gone one is left out. */
    pid_t set[3] = {busy, idle, 999999999};
    ck_assert_int_eq(metrics_tree(m, set, 3, false, 0, &t), 0);
    ck_assert_uint_eq(t.processes, 2);
    ck_assert_uint_gt(t.user_ns, 0);
    reap(busy);
    reap(idle);
    reap(big);
    metrics_free(m);
}
END_TEST

static size_t open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void noop(uv_timer_t *t)
{
    (void)t;
}

START_TEST(kept_files_released_after_a_quiet_spell)
{
    uv_loop_t loop;
    uv_timer_t alive; /* the release timer does not keep a loop running: this does, as droverd's
                         other handles do */
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &alive);
    uv_timer_start(&alive, noop, 5, 5);
    struct metrics *m = metrics_new(NULL);
    ck_assert_int_eq(metrics_attach_loop(m, &loop, 50), 0);
    size_t before = open_fds();
    const struct metrics_procs *p;
    ck_assert_int_eq(metrics_procs(m, 0, &p), 0);
    size_t during = open_fds();
    /* stat (and statm for user processes) stay open between passes, for as many processes as
     * RLIMIT_NOFILE leaves room for (what is left after 512, two files each). */
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    size_t budget = rl.rlim_cur == RLIM_INFINITY ? 8192
                    : rl.rlim_cur > 512           ? MIN((size_t)(rl.rlim_cur - 512) / 2, 8192)
                                                  : 0;
    ck_assert_uint_ge(during, before + MIN(p->n, budget));
    msleep(2);
    ck_assert_int_eq(metrics_procs(m, 0, &p), 0);
    ck_assert_uint_le(open_fds(), during + 8); /* reused, not opened again */
    /* Nothing happens while nothing is asked: the timer fires once, then the loop is idle. */
    uint64_t t0 = mono_ms();
    while (open_fds() > before + 2 && mono_ms() - t0 < 5000)
        uv_run(&loop, UV_RUN_NOWAIT), msleep(10);
    ck_assert_uint_le(open_fds(), before + 2);
    metrics_free(m);
    uv_close((uv_handle_t *)&alive, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("parsers");
    tcase_add_test(tc, parse_stat);
    tcase_add_test(tc, parse_meminfo_loadavg_uptime);
    tcase_add_test(tc, parse_netdev_diskstats);
    tcase_add_test(tc, parse_mounts_labels_os);
    tcase_add_test(tc, engine_system_windows);
    tcase_add_test(tc, engine_host_disks_net);
    tcase_add_test(tc, engine_temps_on_forged_sys);
    suite_add_tcase(s, tc);
    TCase *live = tcase_create("live");
    tcase_add_test(live, live_cpu_and_memory);
    tcase_add_test(live, kept_files_released_after_a_quiet_spell);
    suite_add_tcase(s, live);
    return unit_run(s);
}
