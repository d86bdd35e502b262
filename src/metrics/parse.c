/* Parsers for the machine-wide /proc files and the few /etc files the engine reads.
 *
 * Each takes a buffer and its length (no terminator needed), never reads past it, and treats the
 * content as hostile: numbers saturate instead of overflowing, lines and names are bounded, and
 * a file that is not what it claims is -EINVAL. Unknown lines and extra columns are ignored, so a
 * newer kernel's additions do not break us. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/vec.h"
#include "metrics/metrics-internal.h"

#define MAX_CORES   8192  /* more "cpuN" lines than this is not a real /proc/stat */
#define MAX_ENTRIES 65536 /* interfaces, disks, mounts, labels */

/* A cursor over one line. */
struct cur {
    const char *p, *end;
};

static void skip_blanks(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

/* A decimal unsigned number, saturating at UINT64_MAX. -EINVAL when there is none. */
static int next_u64(struct cur *c, uint64_t *ret)
{
    uint64_t v = 0;
    const char *start;

    skip_blanks(c);
    start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        c->p++;
    }
    if (c->p == start)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* A decimal fraction "12.34": enough for loadavg and uptime. */
static int next_double(struct cur *c, double *ret)
{
    uint64_t whole, frac = 0;
    double scale = 1;

    if (next_u64(c, &whole) < 0)
        return -EINVAL;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (scale < 1e15) {
                frac = frac * 10 + (uint64_t)(*c->p - '0');
                scale *= 10;
            }
            c->p++;
        }
    }
    *ret = (double)whole + (double)frac / scale;
    return 0;
}

/* The next blank-separated word, as a pointer and length. */
static size_t next_word(struct cur *c, const char **ret)
{
    skip_blanks(c);
    *ret = c->p;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
        c->p++;
    return (size_t)(c->p - *ret);
}

static bool word_is(const char *w, size_t n, const char *want)
{
    return strlen(want) == n && !memcmp(w, want, n);
}

/* Calls fn on each line (without its newline); stops early when fn returns < 0. */
static int each_line(const char *buf, size_t len, int (*fn)(struct cur *line, void *ud), void *ud)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct cur line = {p, nl ? nl : end};
        int r = fn(&line, ud);
        if (r < 0)
            return r;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* Grows *v (of *n elements of size sz) by one zeroed element; NULL when out of memory or past
 * MAX_ENTRIES. */
static void *push(void **v, size_t *n, size_t *cap, size_t sz)
{
    if (*n >= MAX_ENTRIES)
        return NULL;
    if (vec_reserve(v, cap, *n + 1, sz) < 0)
        return NULL;
    void *e = (char *)*v + *n * sz;
    memset(e, 0, sz);
    (*n)++;
    return e;
}

static void copy_word(char *dst, size_t size, const char *w, size_t n)
{
    if (n >= size)
        n = size - 1;
    memcpy(dst, w, n);
    dst[n] = '\0';
}

/* ---- /proc/stat --------------------------------------------------------------------------- */

struct stat_ctx {
    struct metrics_system *s;
    size_t cap;
    bool total;
};

static int cpu_line(struct cur *c, struct metrics_cpu *cpu)
{
    /* Kernels before 2.6.11 have fewer columns; the missing ones stay 0. */
    for (int i = 0; i < METRICS_CPU_MODES; i++)
        if (next_u64(c, &cpu->ticks[i]) < 0)
            return i >= 4 ? 0 : -EINVAL;
    return 0;
}

static int stat_line(struct cur *c, void *ud)
{
    struct stat_ctx *x = ud;
    struct metrics_system *s = x->s;
    const char *w;
    size_t n = next_word(c, &w);

    if (n >= 3 && !memcmp(w, "cpu", 3)) {
        if (n == 3) {
            s->cpu.id = -1;
            x->total = true;
            return cpu_line(c, &s->cpu);
        }
        struct cur id = {w + 3, w + n};
        uint64_t v;
        if (next_u64(&id, &v) < 0 || id.p != id.end || v >= MAX_CORES)
            return -EINVAL;
        struct metrics_cpu *cpu = push((void **)&s->cores, &s->n_cores, &x->cap, sizeof *cpu);
        if (!cpu)
            return s->n_cores >= MAX_ENTRIES ? -EINVAL : -ENOMEM;
        cpu->id = (int32_t)v;
        return cpu_line(c, cpu);
    }
    uint64_t v;
    if (word_is(w, n, "ctxt") && next_u64(c, &v) == 0)
        s->ctxt = v;
    else if (word_is(w, n, "intr") && next_u64(c, &v) == 0)
        s->intr = v;
    else if (word_is(w, n, "processes") && next_u64(c, &v) == 0)
        s->forks = v;
    else if (word_is(w, n, "btime") && next_u64(c, &v) == 0)
        s->boot_time_s = v;
    else if (word_is(w, n, "procs_running") && next_u64(c, &v) == 0)
        s->procs_running = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    else if (word_is(w, n, "procs_blocked") && next_u64(c, &v) == 0)
        s->procs_blocked = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    return 0;
}

int metrics_parse_stat(const char *buf, size_t len, struct metrics_system *ret)
{
    struct stat_ctx x = {.s = ret};
    ret->cores = NULL;
    ret->n_cores = 0;
    int r = each_line(buf, len, stat_line, &x);
    if (r >= 0 && !x.total)
        r = -EINVAL;
    if (r < 0) {
        free(ret->cores);
        ret->cores = NULL;
        ret->n_cores = 0;
    }
    return r;
}

/* ---- /proc/meminfo ------------------------------------------------------------------------- */

const struct metrics_mem_field metrics_mem_fields[METRICS_MEM_FIELDS] = {
    {"MemTotal", offsetof(struct metrics_mem, total)},
    {"MemFree", offsetof(struct metrics_mem, free)},
    {"MemAvailable", offsetof(struct metrics_mem, available)},
    {"Buffers", offsetof(struct metrics_mem, buffers)},
    {"Cached", offsetof(struct metrics_mem, cached)},
    {"Shmem", offsetof(struct metrics_mem, shared)},
    {"SReclaimable", offsetof(struct metrics_mem, reclaimable)},
    {"SwapTotal", offsetof(struct metrics_mem, swap_total)},
    {"SwapFree", offsetof(struct metrics_mem, swap_free)},
    {"SwapCached", offsetof(struct metrics_mem, swap_cached)},
};

struct mem_ctx {
    struct metrics_mem *m;
    bool total, available;
};

static int mem_line(struct cur *c, void *ud)
{
    struct mem_ctx *x = ud;
    const char *w;
    size_t n = next_word(c, &w);
    uint64_t kb;

    /* A key is a field's name and a colon. */
    if (n == 0 || w[n - 1] != ':')
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(metrics_mem_fields); i++) {
        if (!word_is(w, n - 1, metrics_mem_fields[i].name))
            continue;
        if (next_u64(c, &kb) < 0)
            return 0;
        uint64_t *f = (uint64_t *)((char *)x->m + metrics_mem_fields[i].off);
        *f = kb > UINT64_MAX / 1024 ? UINT64_MAX : kb * 1024;
        x->total |= f == &x->m->total;
        x->available |= f == &x->m->available;
        return 0;
    }
    return 0;
}

int metrics_parse_meminfo(const char *buf, size_t len, struct metrics_mem *ret)
{
    struct metrics_mem m = {0};
    struct mem_ctx x = {.m = &m};
    each_line(buf, len, mem_line, &x);
    if (!x.total)
        return -EINVAL;
    /* Before Linux 3.14 there is no MemAvailable: free plus what the kernel can take back. */
    if (!x.available)
        m.available = m.free + m.buffers + m.cached + m.reclaimable;
    if (m.available > m.total)
        m.available = m.total;
    m.used = m.total - m.available;
    m.swap_used = m.swap_total > m.swap_free ? m.swap_total - m.swap_free : 0;
    *ret = m;
    return 0;
}

/* ---- /proc/loadavg, /proc/uptime ----------------------------------------------------------- */

int metrics_parse_loadavg(const char *buf, size_t len, struct metrics_system *ret)
{
    struct cur c = {buf, buf + len};
    double l[3];
    uint64_t run, all;

    for (int i = 0; i < 3; i++)
        if (next_double(&c, &l[i]) < 0)
            return -EINVAL;
    if (next_u64(&c, &run) < 0 || c.p >= c.end || *c.p != '/')
        return -EINVAL;
    c.p++;
    if (next_u64(&c, &all) < 0)
        return -EINVAL;
    memcpy(ret->load, l, sizeof l);
    ret->runnable = run > UINT32_MAX ? UINT32_MAX : (uint32_t)run;
    ret->entities = all > UINT32_MAX ? UINT32_MAX : (uint32_t)all;
    return 0;
}

int metrics_parse_uptime(const char *buf, size_t len, double *ret)
{
    struct cur c = {buf, buf + len};
    return next_double(&c, ret);
}

/* ---- /proc/net/dev ------------------------------------------------------------------------- */

struct list_ctx {
    void *v;
    size_t n, cap;
};

/* Collects a list with fn called on each line; on failure drop frees what was built (NULL:
 * plain free). */
static int parse_list(const char *buf, size_t len, int (*fn)(struct cur *line, void *ud),
                      void (*drop)(void *v, size_t n), void **ret, size_t *ret_n)
{
    struct list_ctx x = {0};
    int r = each_line(buf, len, fn, &x);
    if (r < 0) {
        if (drop)
            drop(x.v, x.n);
        else
            free(x.v);
        return r;
    }
    *ret = x.v;
    *ret_n = x.n;
    return 0;
}

const struct metrics_netif_field metrics_netif_fields[METRICS_NETIF_FIELDS] = {
    {"receive_bytes", 0, offsetof(struct metrics_netif, rx_bytes)},
    {"receive_packets", 1, offsetof(struct metrics_netif, rx_packets)},
    {"receive_errs", 2, offsetof(struct metrics_netif, rx_errs)},
    {"receive_drop", 3, offsetof(struct metrics_netif, rx_drop)},
    {"transmit_bytes", 8, offsetof(struct metrics_netif, tx_bytes)},
    {"transmit_packets", 9, offsetof(struct metrics_netif, tx_packets)},
    {"transmit_errs", 10, offsetof(struct metrics_netif, tx_errs)},
    {"transmit_drop", 11, offsetof(struct metrics_netif, tx_drop)},
};

static int netdev_line(struct cur *c, void *ud)
{
    struct list_ctx *x = ud;
    const char *colon = memchr(c->p, ':', (size_t)(c->end - c->p));
    uint64_t f[16];

    if (!colon)
        return 0; /* the two header lines */
    struct cur name = {c->p, colon};
    const char *w;
    size_t n = next_word(&name, &w);
    if (!n)
        return 0;
    c->p = colon + 1;
    for (int i = 0; i < 16; i++)
        if (next_u64(c, &f[i]) < 0)
            return 0;
    struct metrics_netif *e = push(&x->v, &x->n, &x->cap, sizeof *e);
    if (!e)
        return x->n >= MAX_ENTRIES ? 0 : -ENOMEM;
    for (size_t i = 0; i < ARRAY_SIZE(metrics_netif_fields); i++) {
        const struct metrics_netif_field *nf = &metrics_netif_fields[i];
        *(uint64_t *)((char *)e + nf->off) = f[nf->column];
    }
    copy_word(e->name, sizeof e->name, w, n);
    return 0;
}

int metrics_parse_netdev(const char *buf, size_t len, struct metrics_netif **ret, size_t *ret_n)
{
    return parse_list(buf, len, netdev_line, NULL, (void **)ret, ret_n);
}

/* ---- /proc/diskstats ------------------------------------------------------------------------ */

static int diskstats_line(struct cur *c, void *ud)
{
    struct list_ctx *x = ud;
    uint64_t major, minor, f[11];
    const char *w;
    size_t n;

    if (next_u64(c, &major) < 0 || next_u64(c, &minor) < 0)
        return 0;
    n = next_word(c, &w);
    if (!n)
        return 0;
    for (int i = 0; i < 11; i++)
        if (next_u64(c, &f[i]) < 0)
            return 0;
    /* ram and loop devices have counters but no storage anyone asks about (node_exporter's
     * default exclusion, too). */
    if ((n > 3 && !memcmp(w, "ram", 3)) || (n > 4 && !memcmp(w, "loop", 4)))
        return 0;
    struct metrics_diskio *e = push(&x->v, &x->n, &x->cap, sizeof *e);
    if (!e)
        return x->n >= MAX_ENTRIES ? 0 : -ENOMEM;
    *e = (struct metrics_diskio){
        .reads = f[0],
        .reads_merged = f[1],
        .read_bytes = f[2] > UINT64_MAX / 512 ? UINT64_MAX : f[2] * 512,
        .read_ms = f[3],
        .writes = f[4],
        .writes_merged = f[5],
        .written_bytes = f[6] > UINT64_MAX / 512 ? UINT64_MAX : f[6] * 512,
        .write_ms = f[7],
        .in_progress = f[8],
        .io_ms = f[9],
        .weighted_ms = f[10],
    };
    copy_word(e->name, sizeof e->name, w, n);
    return 0;
}

int metrics_parse_diskstats(const char *buf, size_t len, struct metrics_diskio **ret, size_t *ret_n)
{
    return parse_list(buf, len, diskstats_line, NULL, (void **)ret, ret_n);
}

/* ---- /proc/self/mounts ---------------------------------------------------------------------- */

/* File systems without storage of their own (node_exporter's list and a few more), and network
 * file systems: statvfs on a dead NFS server blocks, and the loop must not. */
static const char *const skipped_fstypes[] = {
    "autofs",      "binfmt_misc", "bpf",        "cgroup",     "cgroup2",
    "configfs",    "debugfs",     "devpts",     "devtmpfs",   "fusectl",
    "hugetlbfs",   "mqueue",      "nsfs",       "proc",       "procfs",
    "pstore",      "rpc_pipefs",  "securityfs", "selinuxfs",  "squashfs",
    "sysfs",       "tracefs",     "efivarfs",   "ramfs",      "overlay",
    "nfs",         "nfs4",        "cifs",       "smb3",       "smbfs",
    "9p",          "ceph",        "glusterfs",  "fuse.sshfs", "fuse.gvfsd-fuse",
    "fuse.portal", "fuse.lxcfs",  "iso9660",    "none",
};

/* mounts escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *w, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (w[i] == '\\' && i + 3 < n && w[i + 1] >= '0' && w[i + 1] <= '3' && w[i + 2] >= '0' &&
            w[i + 2] <= '7' && w[i + 3] >= '0' && w[i + 3] <= '7') {
            *o++ = (char)((w[i + 1] - '0') * 64 + (w[i + 2] - '0') * 8 + (w[i + 3] - '0'));
            i += 3;
        } else {
            *o++ = w[i];
        }
    }
    *o = '\0';
    return out;
}

static bool skipped_fstype(const char *w, size_t n)
{
    for (size_t i = 0; i < ARRAY_SIZE(skipped_fstypes); i++)
        if (word_is(w, n, skipped_fstypes[i]))
            return true;
    return false;
}

/* Mount points under /proc, /sys and /dev hold nothing a disk report wants. */
static bool skipped_mountpoint(const char *m)
{
    static const char *const prefixes[] = {"/proc", "/sys", "/dev", "/run/credentials"};
    for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
        size_t k = strlen(prefixes[i]);
        if (!strncmp(m, prefixes[i], k) && (m[k] == '\0' || m[k] == '/'))
            return true;
    }
    return false;
}

static int mounts_line(struct cur *c, void *ud)
{
    struct list_ctx *x = ud;
    const char *dev, *mnt, *type, *opts;
    size_t nd = next_word(c, &dev), nm = next_word(c, &mnt), nt = next_word(c, &type),
           no = next_word(c, &opts);

    if (!nd || !nm || !nt || !no || skipped_fstype(type, nt))
        return 0;
    _cleanup_free_ char *d = unescape(dev, nd), *m = unescape(mnt, nm), *t = unescape(type, nt);
    if (!d || !m || !t)
        return -ENOMEM;
    if (skipped_mountpoint(m))
        return 0;
    /* tmpfs has no device to tell instances apart: each mount is its own. Otherwise a device
     * mounted twice (bind mounts) is listed once, at its first mount point. */
    if (strcmp(t, "tmpfs") != 0) {
        struct metrics_fs *v = x->v;
        for (size_t i = 0; i < x->n; i++)
            if (!strcmp(v[i].device, d))
                return 0;
    }
    struct metrics_fs *e = push(&x->v, &x->n, &x->cap, sizeof *e);
    if (!e)
        return x->n >= MAX_ENTRIES ? 0 : -ENOMEM;
    e->device = TAKE_PTR(d);
    e->mountpoint = TAKE_PTR(m);
    e->fstype = TAKE_PTR(t);
    e->readonly = (no == 2 && !memcmp(opts, "ro", 2)) || (no > 2 && !memcmp(opts, "ro,", 3));
    return 0;
}

static void drop_fs(void *v, size_t n)
{
    metrics_fs_free(v, n);
}

int metrics_parse_mounts(const char *buf, size_t len, struct metrics_fs **ret, size_t *ret_n)
{
    return parse_list(buf, len, mounts_line, drop_fs, (void **)ret, ret_n);
}

void metrics_fs_free(struct metrics_fs *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].device);
        free(v[i].mountpoint);
        free(v[i].fstype);
    }
    free(v);
}

/* ---- /etc/podinfo/labels, /etc/os-release --------------------------------------------------- */

/* A double-quoted value with backslash escapes (\" \\ \n \t), as the downward API writes it and
 * os-release allows. Unquoted values run to the end of the line. */
static char *value_of(const char *p, const char *end)
{
    char *out = malloc((size_t)(end - p) + 1), *o = out;
    if (!out)
        return NULL;
    if (p < end && (*p == '"' || *p == '\'')) {
        char q = *p++;
        for (; p < end && *p != q; p++) {
            if (*p == '\\' && p + 1 < end) {
                p++;
                *o++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            } else {
                *o++ = *p;
            }
        }
    } else {
        while (p < end && end[-1] == ' ')
            end--;
        memcpy(o, p, (size_t)(end - p));
        o += end - p;
    }
    *o = '\0';
    return out;
}

static int label_line(struct cur *c, void *ud)
{
    struct list_ctx *x = ud;
    skip_blanks(c);
    const char *eq = memchr(c->p, '=', (size_t)(c->end - c->p));
    if (!eq || eq == c->p || *c->p == '#')
        return 0;
    _cleanup_free_ char *k = strndup(c->p, (size_t)(eq - c->p)), *v = value_of(eq + 1, c->end);
    if (!k || !v)
        return -ENOMEM;
    struct metrics_label *e = push(&x->v, &x->n, &x->cap, sizeof *e);
    if (!e)
        return x->n >= MAX_ENTRIES ? 0 : -ENOMEM;
    e->key = TAKE_PTR(k);
    e->value = TAKE_PTR(v);
    return 0;
}

static void drop_labels(void *v, size_t n)
{
    metrics_labels_free(v, n);
}

int metrics_parse_labels(const char *buf, size_t len, struct metrics_label **ret, size_t *ret_n)
{
    return parse_list(buf, len, label_line, drop_labels, (void **)ret, ret_n);
}

void metrics_labels_free(struct metrics_label *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].value);
    }
    free(v);
}

struct os_ctx {
    char *out;
    size_t size;
};

static int os_line(struct cur *c, void *ud)
{
    struct os_ctx *x = ud;
    static const char key[] = "PRETTY_NAME=";
    if ((size_t)(c->end - c->p) < sizeof key - 1 || memcmp(c->p, key, sizeof key - 1))
        return 0;
    _cleanup_free_ char *v = value_of(c->p + sizeof key - 1, c->end);
    if (v)
        snprintf(x->out, x->size, "%s", v);
    return 0;
}

void metrics_parse_os_release(const char *buf, size_t len, char *out, size_t out_size)
{
    struct os_ctx x = {out, out_size};
    out[0] = '\0';
    each_line(buf, len, os_line, &x);
}
