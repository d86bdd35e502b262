/* /proc readers. Each parser takes the bytes of one file (not NUL-terminated, possibly cut short
 * or forged by a test) and fills a struct, or says -EINVAL; readers open the file and call it.
 * A process can name itself anything, including ") R 1 (": stat's comm therefore runs from the
 * first '(' to the last ')', and nothing after it is trusted until it parses as numbers.
 * Callers: the process table, kill-tree, the registry's liveness checks, metrics. */
#include "proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/macro.h"

/* A cursor over a byte range. */
struct scan {
    const char *p;   /* next byte */
    const char *end; /* one past the last */
};

static void skip_spaces(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
        s->p++;
}

/* An unsigned decimal followed by a separator (space, tab, newline) or the end. */
static int scan_u64(struct scan *s, uint64_t *ret)
{
    uint64_t v = 0;

    skip_spaces(s);
    if (s->p == s->end || *s->p < '0' || *s->p > '9')
        return -EINVAL;
    for (; s->p < s->end && *s->p >= '0' && *s->p <= '9'; s->p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*s->p - '0');
    }
    if (s->p < s->end && *s->p != ' ' && *s->p != '\t' && *s->p != '\n')
        return -EINVAL;
    *ret = v;
    return 0;
}

static int scan_i64(struct scan *s, int64_t *ret)
{
    bool neg = false;
    uint64_t v;
    int r;

    skip_spaces(s);
    if (s->p < s->end && *s->p == '-') {
        neg = true;
        s->p++;
    }
    r = scan_u64(s, &v);
    if (r < 0)
        return r;
    if (v > (uint64_t)INT64_MAX)
        return -ERANGE;
    *ret = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* Reads n signed numbers into v. */
static int scan_i64s(struct scan *s, int64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = scan_i64(s, &v[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

int proc_statm_parse(const char *buf, size_t len, struct proc_statm *ret)
{
    struct scan s = {buf, buf + len};
    uint64_t v[5];

    for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
        int r = scan_u64(&s, &v[i]);
        if (r < 0)
            return r;
    }
    *ret = (struct proc_statm){v[0], v[1], v[2], v[3], v[4]};
    return 0;
}

int proc_stat_parse(const char *buf, size_t len, struct proc_stat *ret)
{
    const char *open = memchr(buf, '(', len), *close = NULL;
    struct proc_stat st = {0};
    int64_t pid, f[21];
    int r;

    if (!open)
        return -EINVAL;
    for (const char *p = buf + len; p > open + 1; p--)
        if (p[-1] == ')') {
            close = p - 1;
            break;
        }
    if (!close)
        return -EINVAL;
    struct scan s = {buf, open};
    r = scan_i64(&s, &pid);
    if (r < 0 || pid <= 0 || pid > INT32_MAX)
        return -EINVAL;
    skip_spaces(&s);
    if (s.p != open)
        return -EINVAL;
    snprintf(st.comm, sizeof st.comm, "%.*s", (int)(close - open - 1), open + 1);
    st.pid = (pid_t)pid;

    s = (struct scan){close + 1, buf + len};
    skip_spaces(&s);
    if (s.p == s.end || *s.p < 'A' || *s.p > 'z')
        return -EINVAL;
    st.state = *s.p++;
    if (s.p < s.end && *s.p != ' ')
        return -EINVAL;
    /* Fields 4 (ppid) to 24 (rss); processor (39) is read if present. */
    r = scan_i64s(&s, f, ARRAY_SIZE(f));
    if (r < 0)
        return r;
    st.ppid = (pid_t)f[0];
    st.pgrp = (pid_t)f[1];
    st.session = (pid_t)f[2];
    st.tty_nr = (int)f[3];
    st.tpgid = (pid_t)f[4];
    st.minflt = (uint64_t)f[6];
    st.majflt = (uint64_t)f[8];
    st.utime = (uint64_t)f[10];
    st.stime = (uint64_t)f[11];
    st.cutime = f[12];
    st.cstime = f[13];
    st.priority = f[14];
    st.nice = f[15];
    st.num_threads = f[16];
    st.starttime = (uint64_t)f[18];
    st.vsize = (uint64_t)f[19];
    st.rss = f[20];
    if (f[0] < 0 || f[10] < 0 || f[11] < 0 || f[18] < 0 || f[19] < 0)
        return -EINVAL;
    int64_t more[15];
    if (scan_i64s(&s, more, ARRAY_SIZE(more)) == 0)
        st.processor = (int)more[14];
    *ret = st;
    return 0;
}

/* Splits "Key:<spaces>value\n" lines; calls fn for each. */
static void each_line(const char *buf, size_t len,
                      void (*fn)(const char *key, size_t klen, struct scan *val, void *ud),
                      void *ud)
{
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
            struct scan v = {colon + 1, eol};
            skip_spaces(&v);
            fn(p, (size_t)(colon - p), &v, ud);
        }
        p = nl ? nl + 1 : end;
    }
}

static bool key_is(const char *key, size_t klen, const char *want)
{
    return strlen(want) == klen && memcmp(key, want, klen) == 0;
}

struct status_ctx {
    struct proc_status *st; /* being filled */
    unsigned seen;          /* bit 0: Name, bit 1: PPid */
};

static void status_kb(struct scan *v, uint64_t *ret)
{
    uint64_t kb;
    if (scan_u64(v, &kb) == 0)
        *ret = kb;
}

static void status_line(const char *key, size_t klen, struct scan *v, void *ud)
{
    struct status_ctx *c = ud;
    struct proc_status *st = c->st;
    uint64_t a, b, x;

    if (key_is(key, klen, "Name")) {
        snprintf(st->name, sizeof st->name, "%.*s", (int)(v->end - v->p), v->p);
        c->seen |= 1;
    } else if (key_is(key, klen, "State")) {
        st->state = v->p < v->end ? *v->p : 0;
    } else if (key_is(key, klen, "Tgid")) {
        if (scan_u64(v, &x) == 0 && x <= INT32_MAX)
            st->tgid = (pid_t)x;
    } else if (key_is(key, klen, "PPid")) {
        if (scan_u64(v, &x) == 0 && x <= INT32_MAX) {
            st->ppid = (pid_t)x;
            c->seen |= 2;
        }
    } else if (key_is(key, klen, "Uid") || key_is(key, klen, "Gid")) {
        if (scan_u64(v, &a) == 0 && scan_u64(v, &b) == 0 && a <= UINT32_MAX && b <= UINT32_MAX) {
            if (key[0] == 'U')
                st->ruid = (uid_t)a, st->euid = (uid_t)b;
            else
                st->rgid = (gid_t)a, st->egid = (gid_t)b;
        }
    } else if (key_is(key, klen, "VmSize")) {
        status_kb(v, &st->vm_size_kb);
    } else if (key_is(key, klen, "VmRSS")) {
        status_kb(v, &st->vm_rss_kb);
    } else if (key_is(key, klen, "VmSwap")) {
        status_kb(v, &st->vm_swap_kb);
    } else if (key_is(key, klen, "RssFile") || key_is(key, klen, "RssShmem")) {
        x = 0;
        status_kb(v, &x);
        st->rss_shmem_kb += x;
    } else if (key_is(key, klen, "VmData")) {
        status_kb(v, &st->vm_data_kb);
    } else if (key_is(key, klen, "VmStk")) {
        status_kb(v, &st->vm_stk_kb);
    } else if (key_is(key, klen, "Threads")) {
        if (scan_u64(v, &x) == 0 && x <= UINT32_MAX)
            st->threads = (uint32_t)x;
    } else if (key_is(key, klen, "voluntary_ctxt_switches")) {
        status_kb(v, &st->vol_ctxt);
    } else if (key_is(key, klen, "nonvoluntary_ctxt_switches")) {
        status_kb(v, &st->nonvol_ctxt);
    }
}

int proc_status_parse(const char *buf, size_t len, struct proc_status *ret)
{
    struct proc_status st = {0};
    struct status_ctx c = {&st, 0};

    each_line(buf, len, status_line, &c);
    if (c.seen != 3)
        return -EINVAL;
    *ret = st;
    return 0;
}

struct io_ctx {
    struct proc_io *io; /* being filled */
    unsigned seen;      /* one bit per field found */
};

static void io_line(const char *key, size_t klen, struct scan *v, void *ud)
{
    struct io_ctx *c = ud;
    uint64_t *const fields[] = {
        &c->io->rchar,
        &c->io->wchar,
        &c->io->syscr,
        &c->io->syscw,
        &c->io->read_bytes,
        &c->io->write_bytes,
        &c->io->cancelled_write_bytes,
    };
    static const char *const keys[] = {
        "rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes", "cancelled_write_bytes",
    };

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (key_is(key, klen, keys[i]) && scan_u64(v, fields[i]) == 0)
            c->seen |= 1u << i;
}

int proc_io_parse(const char *buf, size_t len, struct proc_io *ret)
{
    struct proc_io io = {0};
    struct io_ctx c = {&io, 0};

    each_line(buf, len, io_line, &c);
    if ((c.seen & 3) != 3) /* rchar and wchar at least */
        return -EINVAL;
    *ret = io;
    return 0;
}

int proc_btime_parse(const char *buf, size_t len, uint64_t *ret)
{
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol - p > 6 && memcmp(p, "btime ", 6) == 0) {
            struct scan s = {p + 6, eol};
            uint64_t v;
            if (scan_u64(&s, &v) < 0 || v == 0)
                return -EINVAL;
            *ret = v;
            return 0;
        }
        p = nl ? nl + 1 : end;
    }
    return -EINVAL;
}

size_t proc_cmdline_join(const char *buf, size_t len, char *out, size_t out_size)
{
    size_t n = 0;

    if (out_size == 0)
        return 0;
    while (len > 0 && buf[len - 1] == '\0')
        len--;
    for (size_t i = 0; i < len && n + 1 < out_size; i++)
        out[n++] = buf[i] ? buf[i] : ' ';
    out[n] = '\0';
    return n;
}

ssize_t proc_read_fd(int fd, char *buf, size_t size, bool once)
{
    size_t n = 0;

    while (n + 1 < size) {
        ssize_t k = read(fd, buf + n, size - 1 - n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno == ESRCH ? -ESRCH : -errno;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (once)
            break;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

/* Reads /proc/PID/NAME into buf (terminated; a missing process is -ESRCH). once: one read(2)
 * is the whole file (stat and statm, which procfs renders in a single pass), so no second read
 * is spent on the end of file. */
static int read_file_n(pid_t pid, const char *name, char *buf, size_t size, size_t *ret_len,
                       bool once)
{
    char path[64];
    _cleanup_close_ int fd = -1;

    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/%s", name);
    else
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    ssize_t n = proc_read_fd(fd, buf, size, once);
    if (n < 0)
        return (int)n;
    *ret_len = (size_t)n;
    return 0;
}

static int read_file(pid_t pid, const char *name, char *buf, size_t size, size_t *ret_len)
{
    return read_file_n(pid, name, buf, size, ret_len, false);
}

int proc_read_stat(pid_t pid, struct proc_stat *ret)
{
    char buf[1024];
    size_t n;
    int r = read_file_n(pid, "stat", buf, sizeof buf, &n, true);
    return r < 0 ? r : proc_stat_parse(buf, n, ret);
}

int proc_read_status(pid_t pid, struct proc_status *ret)
{
    char buf[4096];
    size_t n;
    int r = read_file(pid, "status", buf, sizeof buf, &n);
    return r < 0 ? r : proc_status_parse(buf, n, ret);
}

int proc_read_io(pid_t pid, struct proc_io *ret)
{
    char buf[512];
    size_t n;
    int r = read_file(pid, "io", buf, sizeof buf, &n);
    return r < 0 ? r : proc_io_parse(buf, n, ret);
}

int proc_read_cmdline(pid_t pid, char *out, size_t out_size)
{
    char buf[4096];
    size_t n;
    int r = read_file(pid, "cmdline", buf, sizeof buf, &n);
    if (r < 0)
        return r;
    proc_cmdline_join(buf, n, out, out_size);
    return 0;
}

int proc_rss_bytes(pid_t pid, uint64_t *ret_bytes)
{
    char buf[256];
    struct proc_statm st;
    size_t n;
    int r = read_file(pid, "statm", buf, sizeof buf, &n);
    if (r < 0)
        return r;
    r = proc_statm_parse(buf, n, &st);
    if (r < 0)
        return r;
    *ret_bytes = st.resident * (uint64_t)sysconf(_SC_PAGESIZE);
    return 0;
}

unsigned proc_ticks_per_second(void)
{
    static unsigned hz;
    if (!hz) {
        long v = sysconf(_SC_CLK_TCK);
        hz = v > 0 ? (unsigned)v : 100;
    }
    return hz;
}

/* Boot time is a constant of the running kernel: read once. /proc/stat's interrupt line can
 * be tens of kilobytes before "btime", so the whole file is read. */
static uint64_t boot_time_s(void)
{
    static uint64_t btime;
    if (!btime) {
        size_t size = 1 << 16, n = 0;
        _cleanup_free_ char *buf = malloc(size);
        _cleanup_close_ int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
        ssize_t k = 0;
        while (buf && fd >= 0 && n < size && (k = read(fd, buf + n, size - n)) > 0)
            n += (size_t)k;
        if (!buf || proc_btime_parse(buf, n, &btime) < 0)
            btime = 0;
    }
    return btime;
}

uint64_t proc_ticks_to_epoch_ms(uint64_t starttime)
{
    unsigned hz = proc_ticks_per_second();
    return boot_time_s() * 1000 + starttime / hz * 1000 + starttime % hz * 1000 / hz;
}
