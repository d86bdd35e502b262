/* socktop's per-process requests: get_process_metrics (DetailedProcessInfo, its children one
 * level down, its threads) and get_journal_entries (the systemd journal of one pid).
 *
 * The journal is read through libsystemd's sd-journal, loaded with dlopen on the first request:
 * droverd does not link it (it would cost every daemon its relocations and its compression
 * libraries), and a host without it, or without a journal, gets an empty list and a notice. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/web/socktop-internal.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "metrics/metrics.h"
#include "proc/proc.h"

#define JOURNAL_LINES 100

static const char *status_word(char state)
{
    switch (state) {
    case 'R':
        return "Running";
    case 'S':
        return "Sleeping";
    case 'D':
        return "Disk Sleep";
    case 'Z':
        return "Zombie";
    case 'T':
        return "Stopped";
    case 't':
        return "Tracing Stop";
    case 'X':
    case 'x':
        return "Dead";
    case 'I':
        return "Idle";
    default:
        return "Unknown";
    }
}

/* Ticks to microseconds, as socktop 1.60 reports CPU times. */
static json_int_t ticks_us(uint64_t ticks)
{
    return (json_int_t)(ticks * (1000000u / proc_ticks_per_second()));
}

/* A link under /proc/PID (cwd, exe) as a JSON string, or null when we may not read it. */
static json_t *proc_link(pid_t pid, const char *name)
{
    char path[64], target[4096];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return json_null();
    target[n] = '\0';
    return json_string(target);
}

static json_t *fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return json_null();
    json_int_t n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return json_integer(n);
}

static json_t *threads_json(pid_t pid)
{
    char path[64], buf[1024];
    json_t *a = json_array();
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    for (struct dirent *de; a && d && (de = readdir(d));) {
        struct proc_stat st;
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int sfd = fd >= 0 ? openat(fd, "stat", O_RDONLY | O_CLOEXEC) : -1;
        ssize_t n = sfd >= 0 ? read(sfd, buf, sizeof buf - 1) : -1;
        if (sfd >= 0)
            close(sfd);
        if (fd >= 0)
            close(fd);
        if (n <= 0 || proc_stat_parse(buf, (size_t)n, &st) < 0)
            continue; /* the thread ended meanwhile */
        json_array_append_new(a, json_pack("{s:i, s:s, s:I, s:I, s:s}", "tid", (int)st.pid, "name",
                                           st.comm, "cpu_time_user", ticks_us(st.utime),
                                           "cpu_time_system", ticks_us(st.stime), "status",
                                           status_word(st.state)));
    }
    if (d)
        closedir(d);
    return a;
}

/* DetailedProcessInfo; with deep, its children (one level, shallow) and its threads. */
static json_t *detail(const struct metrics_procs *snap, pid_t pid, bool deep)
{
    struct proc_stat st;
    struct proc_status ps;
    struct proc_io io;
    char cmd[4096];

    if (proc_read_stat(pid, &st) < 0 || proc_read_status(pid, &ps) < 0)
        return NULL;
    if (proc_read_cmdline(pid, cmd, sizeof cmd) < 0)
        cmd[0] = '\0';
    bool have_io = proc_read_io(pid, &io) == 0;
    const struct metrics_proc *e = snap ? metrics_proc_find(snap, pid) : NULL;
    json_t *children = json_array();
    if (deep && snap)
        for (size_t i = 0; children && i < snap->n; i++) {
            if (snap->v[i].ppid != pid)
                continue;
            json_t *c = detail(snap, snap->v[i].pid, false);
            if (c)
                json_array_append_new(children, c);
        }
    return json_pack(
        "{s:i, s:s, s:s, s:f, s:I, s:I, s:I, s:i, s:o, s:s, s:o, s:i, s:i, s:I, s:I, s:I, s:o, "
        "s:o, s:o, s:o, s:o, s:o}",
        "pid", (int)pid, "name", ps.name, "command", cmd, "cpu_usage",
        e && e->starttime == st.starttime ? (double)e->cpu_pct : 0.0, "mem_bytes",
        (json_int_t)(ps.vm_rss_kb * 1024), "virtual_mem_bytes", (json_int_t)st.vsize,
        "shared_mem_bytes", (json_int_t)(ps.rss_shmem_kb * 1024), "thread_count", (int)ps.threads,
        "fd_count", fd_count(pid), "status", status_word(st.state), "parent_pid",
        st.ppid > 0 ? json_integer(st.ppid) : json_null(), "user_id", (int)ps.ruid, "group_id",
        (int)ps.rgid, "start_time", (json_int_t)(proc_ticks_to_epoch_ms(st.starttime) / 1000),
        "cpu_time_user", ticks_us(st.utime), "cpu_time_system", ticks_us(st.stime), "read_bytes",
        have_io ? json_integer((json_int_t)io.rchar) : json_null(), "write_bytes",
        have_io ? json_integer((json_int_t)io.wchar) : json_null(), "working_directory",
        proc_link(pid, "cwd"), "executable_path", proc_link(pid, "exe"), "child_processes",
        children, "threads", deep ? threads_json(pid) : json_array());
}

json_t *socktop_process_details(struct metrics *m, pid_t pid)
{
    const struct metrics_procs *snap = NULL;
    (void)metrics_procs(m, 1000, &snap);
    json_t *p = detail(snap, pid, true);
    if (!p)
        return NULL;
    return json_pack("{s:o, s:I}", "process", p, "cached_at",
                     (json_int_t)(now_ns(CLOCK_REALTIME) / 1000000000u));
}

/* ---- the journal ---------------------------------------------------------------------------- */

typedef struct sd_journal sd_journal;

struct sdj {
    void *lib;
    int (*open)(sd_journal **j, int flags);
    void (*close)(sd_journal *j);
    int (*add_match)(sd_journal *j, const void *data, size_t size);
    int (*seek_tail)(sd_journal *j);
    int (*previous)(sd_journal *j);
    int (*get_data)(sd_journal *j, const char *field, const void **data, size_t *len);
    int (*realtime)(sd_journal *j, uint64_t *usec);
};

static int sdj_load(struct sdj *s)
{
    if (s->lib)
        return 0;
    void *lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return -ENOENT;
    s->open = (int (*)(sd_journal **, int))dlsym(lib, "sd_journal_open");
    s->close = (void (*)(sd_journal *))dlsym(lib, "sd_journal_close");
    s->add_match = (int (*)(sd_journal *, const void *, size_t))dlsym(lib, "sd_journal_add_match");
    s->seek_tail = (int (*)(sd_journal *))dlsym(lib, "sd_journal_seek_tail");
    s->previous = (int (*)(sd_journal *))dlsym(lib, "sd_journal_previous");
    s->get_data = (int (*)(sd_journal *, const char *, const void **, size_t *))dlsym(
        lib, "sd_journal_get_data");
    s->realtime = (int (*)(sd_journal *, uint64_t *))dlsym(lib, "sd_journal_get_realtime_usec");
    if (!s->open || !s->close || !s->add_match || !s->seek_tail || !s->previous || !s->get_data ||
        !s->realtime) {
        dlclose(lib);
        return -ENOENT;
    }
    s->lib = lib;
    return 0;
}

/* A field's value ("FIELD=value" in the journal) as JSON, or null. */
static json_t *field(struct sdj *s, sd_journal *j, const char *name, bool number)
{
    const void *data;
    size_t len, n = strlen(name);
    if (s->get_data(j, name, &data, &len) < 0 || len <= n + 1)
        return json_null();
    const char *v = (const char *)data + n + 1;
    size_t vlen = len - n - 1;
    if (!number)
        return json_stringn_nocheck(v, vlen);
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.*s", (int)MIN(vlen, sizeof tmp - 1), v);
    return json_integer(strtoll(tmp, NULL, 10));
}

static const char *priority_word(json_t *p)
{
    static const char *const words[] = {"Emergency", "Alert",  "Critical", "Error",
                                        "Warning",   "Notice", "Info",     "Debug"};
    const char *v = json_string_value(p);
    int i = v && v[0] >= '0' && v[0] <= '7' && !v[1] ? v[0] - '0' : 6;
    return words[i];
}

static json_t *entry(struct sdj *s, sd_journal *j)
{
    uint64_t usec = 0;
    char when[64];
    (void)s->realtime(j, &usec);
    time_t secs = (time_t)(usec / 1000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + k, sizeof when - k, ".%06uZ", (unsigned)(usec % 1000000u));
    json_t *prio = field(s, j, "PRIORITY", false), *msg = field(s, j, "MESSAGE", false);
    json_t *v = json_pack("{s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "timestamp", when,
                          "timestamp_us", (json_int_t)usec, "priority", priority_word(prio),
                          "message", json_is_null(msg) ? json_string("") : msg, "unit",
                          field(s, j, "_SYSTEMD_UNIT", false), "pid", field(s, j, "_PID", true),
                          "comm", field(s, j, "_COMM", false), "uid", field(s, j, "_UID", true),
                          "gid", field(s, j, "_GID", true));
    json_decref(prio);
    if (json_is_null(msg))
        json_decref(msg);
    return v;
}

static bool journal_present(void)
{
    struct stat st;
    return stat("/run/log/journal", &st) == 0 || stat("/var/log/journal", &st) == 0;
}

json_t *socktop_journal(pid_t pid)
{
    static struct sdj s; /* one library per process */
    json_t *entries = json_array();
    const char *notice = NULL;
    sd_journal *j = NULL;
    char match[32];

    if (!entries)
        return NULL;
    if (!journal_present())
        notice = "no systemd journal on this host";
    else if (sdj_load(&s) < 0)
        notice = "the systemd journal cannot be read here (libsystemd.so.0 is not installed)";
    else if (s.open(&j, 1 /* SD_JOURNAL_LOCAL_ONLY */) < 0)
        notice = "the systemd journal could not be opened";
    if (j) {
        snprintf(match, sizeof match, "_PID=%d", (int)pid);
        if (s.add_match(j, match, 0) == 0 && s.seek_tail(j) == 0)
            for (int i = 0; i < JOURNAL_LINES && s.previous(j) > 0; i++)
                json_array_append_new(entries, entry(&s, j));
        s.close(j);
    }
    size_t n = json_array_size(entries);
    json_t *v = json_pack("{s:o, s:i, s:b, s:I}", "entries", entries, "total_count", (int)n,
                          "truncated", n >= JOURNAL_LINES, "cached_at",
                          (json_int_t)(now_ns(CLOCK_REALTIME) / 1000000000u));
    if (v && notice)
        json_object_set_new(v, "notice", json_string(notice));
    return v;
}
