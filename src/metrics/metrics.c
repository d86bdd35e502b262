/* The engine: TTL caches over the samplers of the machine (CPU, memory, load), its disks,
 * network interfaces and temperature sensors, and the host's identity.
 *
 * A request names how old a sample it accepts; a fresh enough sample is returned as is, else a
 * new one replaces it. CPU usage is computed against the sample being replaced, so the window is
 * the time between two requests that needed a new sample. All reads are synchronous: procfs and
 * sysfs answer from memory, and the only file systems that could block (network mounts) are left
 * out of the disk list. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/macro.h"
#include "base/strpack.h"
#include "base/time-util.h"
#include "base/vec.h"
#include "metrics/metrics-internal.h"
#include "proc/proc.h"

#define READ_MAX (4u << 20)

struct metrics *metrics_new(const struct metrics_roots *roots)
{
    const struct metrics_roots real = {0}, *r = roots ? roots : &real;
    const char *from[] = {
        r->proc ? r->proc : "/proc",
        r->sys ? r->sys : "/sys",
        r->etc ? r->etc : "/etc",
        r->podinfo ? r->podinfo : "/etc/podinfo",
    };
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    char **to[] = {&m->proc_root, &m->sys_root, &m->etc_root, &m->podinfo_dir};
    if (strpack_copy(to, from, ARRAY_SIZE(from)) < 0) {
        free(m);
        return NULL;
    }
    m->proc_fd = -1;
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    m->hz = hz > 0 ? (unsigned)hz : 100;
    m->page = page > 0 ? (uint64_t)page : 4096;
    return m;
}

static void host_done(struct metrics_host *h)
{
    free(h->pod_name);
    free(h->pod_namespace);
    free(h->node_name);
    metrics_labels_free(h->labels, h->n_labels);
}

static void release_closed(uv_handle_t *h)
{
    free(h);
}

static void on_release(uv_timer_t *t)
{
    metrics_procs_release(t->data);
}

int metrics_attach_loop(struct metrics *m, uv_loop_t *loop, uint32_t release_ms)
{
    m->release_ms = release_ms;
    m->release = malloc(sizeof *m->release);
    if (!m->release)
        return -ENOMEM;
    uv_timer_init(loop, m->release);
    m->release->data = m;
    uv_unref((uv_handle_t *)m->release); /* never what keeps the loop running */
    return 0;
}

void metrics_arm_release(struct metrics *m)
{
    if (m->release)
        uv_timer_start(m->release, on_release, m->release_ms, 0);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    if (m->release) /* the handle outlives us until libuv is done with it */
        uv_close((uv_handle_t *)m->release, release_closed);
    free(m->sys.cores);
    free(m->sys_base.cores);
    metrics_procs_done(m);
    metrics_fs_free(m->disks.fs, m->disks.n_fs);
    free(m->disks.io);
    free(m->net.v);
    free(m->temps.v);
    free(m->gpus.v);
    host_done(&m->host);
    if (m->proc_fd >= 0)
        close(m->proc_fd);
    free(m->buf);
    free(m->proc_root); /* and the other roots: one block (metrics_new) */
    free(m);
}

void metrics_get_counters(const struct metrics *m, struct metrics_counters *ret)
{
    *ret = (struct metrics_counters){
        .system = m->sys_cache.taken,
        .procs = m->procs_cache.taken,
        .disks = m->disks_cache.taken,
        .net = m->net_cache.taken,
        .temps = m->temps_cache.taken,
    };
}

/* ---- reading files ------------------------------------------------------------------------ */

ssize_t metrics_read(struct metrics *m, int dir, const char *path)
{
    _cleanup_close_ int fd = openat(dir, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    size_t n = 0;

    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    for (;;) {
        if (n + 1 >= m->buf_cap) {
            if (m->buf_cap >= READ_MAX)
                return -EFBIG;
            size_t cap = m->buf_cap ? m->buf_cap * 2 : 16384;
            char *b = realloc(m->buf, cap);
            if (!b)
                return -ENOMEM;
            m->buf = b;
            m->buf_cap = cap;
        }
        ssize_t k = proc_read_fd(fd, m->buf + n, m->buf_cap - n, false);
        if (k < 0)
            return k;
        n += (size_t)k;
        if (n + 1 < m->buf_cap)
            return (ssize_t)n; /* the end of the file came before the end of the buffer */
    }
}

int metrics_proc_fd(struct metrics *m)
{
    if (m->proc_fd < 0) {
        m->proc_fd = open(m->proc_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (m->proc_fd < 0)
            return -errno;
    }
    return m->proc_fd;
}

ssize_t metrics_read_proc(struct metrics *m, const char *path)
{
    int fd = metrics_proc_fd(m);
    return fd < 0 ? fd : metrics_read(m, fd, path);
}

/* ---- system ------------------------------------------------------------------------------- */

int metrics_refresh(struct metrics *m, struct metrics_cache *c, uint64_t at_ms, uint32_t max_age_ms,
                    int (*sample)(struct metrics *m))
{
    if (c->have && mono_ms() - at_ms <= max_age_ms)
        return 0;
    int r = sample(m);
    if (r < 0)
        return r;
    c->have = true;
    c->taken++;
    return 0;
}

/* Fills cur's percentages from the ticks since prev (NULL: since boot). */
static void cpu_usage(struct metrics_cpu *cur, const struct metrics_cpu *prev)
{
    uint64_t d[METRICS_CPU_MODES], total = 0;
    for (int i = 0; i < METRICS_CPU_MODES; i++) {
        uint64_t before = prev ? prev->ticks[i] : 0;
        /* A counter that went backwards (a CPU brought back online restarts at 0) is read as
         * no time at all rather than as an enormous interval. */
        d[i] = cur->ticks[i] >= before ? cur->ticks[i] - before : 0;
        total += d[i];
    }
    memset(cur->mode_pct, 0, sizeof cur->mode_pct);
    cur->usage_pct = 0;
    if (!total)
        return;
    for (int i = 0; i < METRICS_CPU_MODES; i++)
        cur->mode_pct[i] = 100.0 * (double)d[i] / (double)total;
    uint64_t idle = d[METRICS_CPU_IDLE] + d[METRICS_CPU_IOWAIT];
    cur->usage_pct = 100.0 * (double)(total - idle) / (double)total;
}

static const struct metrics_cpu *core_by_id(const struct metrics_system *s, int32_t id)
{
    for (size_t i = 0; i < s->n_cores; i++)
        if (s->cores[i].id == id)
            return &s->cores[i];
    return NULL;
}

static int sample_system(struct metrics *m)
{
    struct metrics_system s = {0};
    ssize_t n;
    int r = 0;

    if ((n = metrics_read_proc(m, "stat")) < 0 ||
        (r = metrics_parse_stat(m->buf, (size_t)n, &s)) < 0 ||
        (n = metrics_read_proc(m, "meminfo")) < 0 ||
        (r = metrics_parse_meminfo(m->buf, (size_t)n, &s.mem)) < 0 ||
        (n = metrics_read_proc(m, "loadavg")) < 0 ||
        (r = metrics_parse_loadavg(m->buf, (size_t)n, &s)) < 0 ||
        (n = metrics_read_proc(m, "uptime")) < 0 ||
        (r = metrics_parse_uptime(m->buf, (size_t)n, &s.uptime_s)) < 0) {
        free(s.cores);
        return n < 0 ? (int)n : r;
    }
    /* The baseline: the latest sample if it is old enough, else the one before it. */
    uint64_t now = mono_ms();
    bool rotate = m->sys_cache.have && now - m->sys.mono_ms >= METRICS_MIN_WINDOW_MS;
    const struct metrics_system *prev = rotate ? &m->sys : m->have_sys_base ? &m->sys_base : NULL;
    cpu_usage(&s.cpu, prev ? &prev->cpu : NULL);
    for (size_t i = 0; i < s.n_cores; i++)
        cpu_usage(&s.cores[i], prev ? core_by_id(prev, s.cores[i].id) : NULL);
    s.mono_ms = now;
    s.real_ms = now_ns(CLOCK_REALTIME) / 1000000u;
    s.window_ms = prev ? now - prev->mono_ms : 0;
    if (rotate) {
        free(m->sys_base.cores);
        m->sys_base = m->sys;
        m->have_sys_base = true;
    } else {
        free(m->sys.cores);
    }
    m->sys = s;
    return 0;
}

METRICS_GETTER(metrics_system, struct metrics_system, sys, sample_system)

/* ---- disks and network ------------------------------------------------------------------- */

static int sample_disks(struct metrics *m)
{
    struct metrics_disks d = {0};
    ssize_t n = metrics_read_proc(m, "self/mounts");
    int r;

    if (n < 0)
        return (int)n;
    r = metrics_parse_mounts(m->buf, (size_t)n, &d.fs, &d.n_fs);
    if (r < 0)
        return r;
    /* Mount points that statvfs cannot see (gone since, or not ours to look at) are dropped. */
    size_t k = 0;
    for (size_t i = 0; i < d.n_fs; i++) {
        struct statvfs v;
        struct metrics_fs *f = &d.fs[i];
        if (statvfs(f->mountpoint, &v) < 0 || v.f_blocks == 0) {
            free(f->device);
            free(f->mountpoint);
            free(f->fstype);
            continue;
        }
        uint64_t frsize = v.f_frsize ? v.f_frsize : v.f_bsize;
        f->size = (uint64_t)v.f_blocks * frsize;
        f->free = (uint64_t)v.f_bfree * frsize;
        f->avail = (uint64_t)v.f_bavail * frsize;
        f->files = v.f_files;
        f->files_free = v.f_ffree;
        d.fs[k++] = *f;
    }
    d.n_fs = k;
    n = metrics_read_proc(m, "diskstats");
    if (n >= 0)
        r = metrics_parse_diskstats(m->buf, (size_t)n, &d.io, &d.n_io);
    if (n < 0 || r < 0) {
        /* Containers may hide diskstats; file systems are still worth reporting. */
        d.io = NULL;
        d.n_io = 0;
    }
    d.mono_ms = mono_ms();
    metrics_fs_free(m->disks.fs, m->disks.n_fs);
    free(m->disks.io);
    m->disks = d;
    return 0;
}

METRICS_GETTER(metrics_disks, struct metrics_disks, disks, sample_disks)

static int sample_net(struct metrics *m)
{
    struct metrics_netif *v;
    size_t n_v;
    ssize_t n = metrics_read_proc(m, "net/dev");
    int r = n < 0 ? (int)n : metrics_parse_netdev(m->buf, (size_t)n, &v, &n_v);

    if (r < 0)
        return r;
    free(m->net.v);
    m->net = (struct metrics_net){.mono_ms = mono_ms(), .v = v, .n = n_v};
    return 0;
}

METRICS_GETTER(metrics_net, struct metrics_net, net, sample_net)

/* ---- temperatures ------------------------------------------------------------------------- */

/* A small sysfs attribute as text, newline removed; -errno if unreadable. */
static int read_attr(struct metrics *m, int dir, const char *name, char *out, size_t size)
{
    ssize_t n = metrics_read(m, dir, name);
    if (n < 0)
        return (int)n;
    while (n > 0 && (m->buf[n - 1] == '\n' || m->buf[n - 1] == ' '))
        n--;
    snprintf(out, size, "%.*s", (int)n, m->buf);
    return 0;
}

static bool cpu_sensor(const struct metrics_temp *t)
{
    static const char *const words[] = {"package", "tctl", "tdie", "cpu", "k10temp", "coretemp"};
    for (size_t i = 0; i < ARRAY_SIZE(words); i++)
        if (strcasestr(t->label, words[i]) || strcasestr(t->chip, words[i]))
            return true;
    return false;
}

/* Sensors of one hwmon device: tempN_input with optional tempN_label and tempN_crit. */
static int hwmon_device(struct metrics *m, int dir, struct metrics_temps *t, size_t *cap)
{
    char chip[32] = "", attr[64], val[64];
    _cleanup_close_ int dfd = dup(dir);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    struct dirent *de;

    if (!d)
        return -errno;
    TAKE_FD(dfd);
    (void)read_attr(m, dir, "name", chip, sizeof chip);
    while ((de = readdir(d))) {
        unsigned idx;
        char tail[16];
        if (sscanf(de->d_name, "temp%u_%15s", &idx, tail) != 2 || strcmp(tail, "input") != 0)
            continue;
        char *end;
        if (read_attr(m, dir, de->d_name, val, sizeof val) < 0)
            continue;
        double milli = strtod(val, &end);
        if (end == val)
            continue; /* a driver error string, not a reading */
        if (VEC_RESERVE(t->v, *cap, t->n + 1) < 0)
            break;
        struct metrics_temp *e = &t->v[t->n];
        *e = (struct metrics_temp){.celsius = milli / 1000.0};
        snprintf(e->chip, sizeof e->chip, "%s", chip);
        snprintf(attr, sizeof attr, "temp%u_label", idx);
        if (read_attr(m, dir, attr, e->label, sizeof e->label) < 0)
            snprintf(e->label, sizeof e->label, "temp%u", idx);
        snprintf(attr, sizeof attr, "temp%u_crit", idx);
        if (read_attr(m, dir, attr, val, sizeof val) == 0)
            e->crit = strtod(val, NULL) / 1000.0;
        if (t->cpu < 0 && cpu_sensor(e))
            t->cpu = (int)t->n;
        t->n++;
    }
    closedir(d);
    return 0;
}

static int sample_temps(struct metrics *m)
{
    struct metrics_temps t = {.cpu = -1};
    size_t cap = 0;
    char path[4096];
    DIR *d;
    struct dirent *de;

    snprintf(path, sizeof path, "%s/class/hwmon", m->sys_root);
    d = opendir(path);
    /* No hwmon (containers, VMs): no sensors, which is an answer, not an error. */
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "hwmon", 5) != 0)
            continue;
        _cleanup_close_ int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
            (void)hwmon_device(m, fd, &t, &cap);
    }
    if (d)
        closedir(d);
    t.mono_ms = mono_ms();
    free(m->temps.v);
    m->temps = t;
    return 0;
}

METRICS_GETTER(metrics_temps, struct metrics_temps, temps, sample_temps)

/* ---- host --------------------------------------------------------------------------------- */

/* uname's machine in Go's GOARCH words, which superviz's clients know. */
static const char *goarch(const char *machine)
{
    static const struct {
        const char *uname, *go;
    } map[] = {
        {"x86_64", "amd64"},    {"aarch64", "arm64"},   {"i386", "386"},
        {"i686", "386"},        {"armv7l", "arm"},      {"armv6l", "arm"},
        {"riscv64", "riscv64"}, {"ppc64le", "ppc64le"}, {"s390x", "s390x"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (!strcmp(machine, map[i].uname))
            return map[i].go;
    return machine;
}

static char *env_dup(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? strdup(v) : NULL;
}

static void read_host(struct metrics *m)
{
    struct metrics_host *h = &m->host;
    struct utsname u;
    char path[4096];
    ssize_t n;

    snprintf(h->os, sizeof h->os, "linux");
    if (uname(&u) == 0) {
        snprintf(h->arch, sizeof h->arch, "%.15s", goarch(u.machine));
        snprintf(h->kernel, sizeof h->kernel, "%s", u.release);
    }
    snprintf(path, sizeof path, "%s/os-release", m->etc_root);
    n = metrics_read(m, AT_FDCWD, path);
    if (n < 0)
        n = metrics_read(m, AT_FDCWD, "/usr/lib/os-release");
    if (n >= 0)
        metrics_parse_os_release(m->buf, (size_t)n, h->os_name, sizeof h->os_name);
    h->pod_name = env_dup("POD_NAME");
    h->pod_namespace = env_dup("POD_NAMESPACE");
    h->node_name = env_dup("NODE_NAME");
    h->in_kubernetes = h->pod_name || getenv("KUBERNETES_SERVICE_HOST");
    if (!h->pod_namespace && h->in_kubernetes) {
        n = metrics_read(m, AT_FDCWD, "/var/run/secrets/kubernetes.io/serviceaccount/namespace");
        if (n > 0)
            h->pod_namespace = strndup(m->buf, strcspn(m->buf, "\n"));
    }
    snprintf(path, sizeof path, "%s/labels", m->podinfo_dir);
    n = metrics_read(m, AT_FDCWD, path);
    if (n >= 0 && metrics_parse_labels(m->buf, (size_t)n, &h->labels, &h->n_labels) < 0)
        h->n_labels = 0;
}

const struct metrics_host *metrics_host(struct metrics *m)
{
    struct metrics_host *h = &m->host;
    if (!m->have_host) {
        read_host(m);
        m->have_host = true;
    }
    if (gethostname(h->hostname, sizeof h->hostname - 1) < 0)
        h->hostname[0] = '\0';
    h->hostname[sizeof h->hostname - 1] = '\0';
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    h->n_cpus = n > 0 ? (uint32_t)n : 1;
    return h;
}

int metrics_block_parent(struct metrics *m, const char *dev, char *out, size_t size)
{
    char path[4096], target[4096];
    struct stat st;
    if (!*dev || strchr(dev, '/') || dev[0] == '.')
        return -EINVAL;
    snprintf(path, sizeof path, "%s/class/block/%s/partition", m->sys_root, dev);
    if (stat(path, &st) < 0)
        return -ENOENT;
    /* /sys/class/block/sda1 links to .../block/sda/sda1: the parent is the directory above. */
    snprintf(path, sizeof path, "%s/class/block/%s", m->sys_root, dev);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return -ENOENT;
    target[n] = '\0';
    char *slash = strrchr(target, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    const char *parent = strrchr(target, '/');
    snprintf(out, size, "%s", parent ? parent + 1 : target);
    return 0;
}
