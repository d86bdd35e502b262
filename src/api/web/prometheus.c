/* Prometheus text exposition (version 0.0.4) of the machine, the supervised services and
 * droverd itself, for GET /metrics.
 *
 * Machine metrics carry node_exporter's names, types and labels where node_exporter has them
 * (node_cpu_seconds_total{cpu,mode}, node_memory_MemAvailable_bytes, node_load1,
 * node_filesystem_*{device,fstype,mountpoint}, node_disk_*{device}, node_network_*{device},
 * node_hwmon_temp_celsius{chip,sensor}), so existing dashboards and alerts work unchanged.
 * Services are drover_service_*{service}, containers drover_container_*{container,image} (from
 * their cgroups); droverd's own process is process_* (the client
 * libraries' convention) and drover_*. A scrape reads only counters: no process snapshot, so its
 * cost does not grow with the number of processes on the machine. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "container/container.h"
#include "api/web/web.h"
#include "base/buf.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "grpc/grpc.h"
#include "http1/http1.h"
#include "metrics/metrics.h"
#include "proc/proc.h"
#include "session/session.h"
#include "supervise/supervise.h"
#include "track/track.h"

struct prom {
    struct buf *out; /* the page */
    int error;       /* the first append failure */
    double hz;       /* clock ticks per second */
};

static void vemit(struct prom *p, const char *fmt, va_list ap)
{
    char line[1024];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (p->error || n < 0)
        goto out;
    if ((size_t)n >= sizeof line) {
        /* Only label values (paths, names) can be long: build those lines in a bigger buffer. */
        char *big = malloc((size_t)n + 1);
        if (!big) {
            p->error = -ENOMEM;
            goto out;
        }
        vsnprintf(big, (size_t)n + 1, fmt, again);
        p->error = buf_append(p->out, big, (size_t)n);
        free(big);
        goto out;
    }
    p->error = buf_append(p->out, line, (size_t)n);
out:
    va_end(again);
}

static void emit(struct prom *p, const char *fmt, ...) _printf_(2, 3);
static void emit(struct prom *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(p, fmt, ap);
    va_end(ap);
}

static void family(struct prom *p, const char *name, const char *type, const char *help)
{
    emit(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample without labels, whose value value_fmt formats. */
static void scalar(struct prom *p, const char *name, const char *type, const char *help,
                   const char *value_fmt, ...) _printf_(5, 6);
static void scalar(struct prom *p, const char *name, const char *type, const char *help,
                   const char *value_fmt, ...)
{
    va_list ap;
    family(p, name, type, help);
    emit(p, "%s ", name);
    va_start(ap, value_fmt);
    vemit(p, value_fmt, ap);
    va_end(ap);
    emit(p, "\n");
}

static unsigned long long u64_at(const void *base, size_t off)
{
    return *(const uint64_t *)((const char *)base + off);
}

/* Declares the family of one field of a struct, named and described from name_fmt and help_fmt
 * with the field's name (node_exporter names its memory and network families so); the family's
 * name goes to name. */
static void field_family(struct prom *p, char name[static 64], const char *name_fmt,
                         const char *help_fmt, const char *type, const char *field)
{
    char help[96];
    snprintf(name, 64, name_fmt, field);
    snprintf(help, sizeof help, help_fmt, field);
    family(p, name, type, help);
}

/* A label value escaped as the format requires (backslash, quote, newline), in a rotating set of
 * static buffers so that a line can hold a few. */
static const char *esc(const char *v)
{
    static char bufs[4][1024];
    static unsigned k;
    char *o = bufs[k++ % 4], *end = o + sizeof bufs[0] - 2;
    char *start = o;
    for (; *v && o < end; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            *o++ = '\\';
            *o++ = *v == '\n' ? 'n' : *v;
        } else {
            *o++ = *v;
        }
    }
    *o = '\0';
    return start;
}

/* ---- the machine ---------------------------------------------------------------------------- */

static const char *const cpu_modes[METRICS_CPU_MODES] = {
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
};

static void system_metrics(struct prom *p, const struct metrics_system *s)
{
    family(p, "node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.");
    for (size_t i = 0; i < s->n_cores; i++)
        for (int m = 0; m < METRICS_CPU_MODES; m++)
            emit(p, "node_cpu_seconds_total{cpu=\"%d\",mode=\"%s\"} %.2f\n", s->cores[i].id,
                 cpu_modes[m], (double)s->cores[i].ticks[m] / p->hz);

    for (size_t i = 0; i < ARRAY_SIZE(metrics_mem_fields); i++) {
        const struct metrics_mem_field *f = &metrics_mem_fields[i];
        char name[64];
        field_family(p, name, "node_memory_%s_bytes", "Memory information field %s_bytes.", "gauge",
                     f->name);
        emit(p, "%s %llu\n", name, u64_at(&s->mem, f->off));
    }

    static const char *const loads[] = {"node_load1", "node_load5", "node_load15"};
    for (int i = 0; i < 3; i++)
        scalar(p, loads[i], "gauge", "Load average.", "%.2f", s->load[i]);
    scalar(p, "node_boot_time_seconds", "gauge", "Node boot time, in unixtime.", "%llu",
           (unsigned long long)s->boot_time_s);
    scalar(p, "node_time_seconds", "gauge", "System time in seconds since epoch (1970).", "%.3f",
           (double)s->real_ms / 1000.0);
    scalar(p, "node_context_switches_total", "counter", "Total number of context switches.", "%llu",
           (unsigned long long)s->ctxt);
    scalar(p, "node_intr_total", "counter", "Total number of interrupts serviced.", "%llu",
           (unsigned long long)s->intr);
    scalar(p, "node_forks_total", "counter", "Total number of forks.", "%llu",
           (unsigned long long)s->forks);
    scalar(p, "node_procs_running", "gauge", "Number of processes in runnable state.", "%u",
           s->procs_running);
    scalar(p, "node_procs_blocked", "gauge", "Number of processes blocked waiting for I/O.", "%u",
           s->procs_blocked);
}

static void fs_family(struct prom *p, const struct metrics_disks *d, const char *name,
                      const char *help, size_t off, bool is_bool)
{
    family(p, name, "gauge", help);
    for (size_t i = 0; i < d->n_fs; i++) {
        const struct metrics_fs *f = &d->fs[i];
        unsigned long long v = is_bool ? f->readonly : u64_at(f, off);
        emit(p, "%s{device=\"%s\",fstype=\"%s\",mountpoint=\"%s\"} %llu\n", name, esc(f->device),
             esc(f->fstype), esc(f->mountpoint), v);
    }
}

static void disk_metrics(struct prom *p, const struct metrics_disks *d)
{
    fs_family(p, d, "node_filesystem_size_bytes", "Filesystem size in bytes.",
              offsetof(struct metrics_fs, size), false);
    fs_family(p, d, "node_filesystem_free_bytes", "Filesystem free space in bytes.",
              offsetof(struct metrics_fs, free), false);
    fs_family(p, d, "node_filesystem_avail_bytes",
              "Filesystem space available to non-root users in bytes.",
              offsetof(struct metrics_fs, avail), false);
    fs_family(p, d, "node_filesystem_files", "Filesystem total file nodes.",
              offsetof(struct metrics_fs, files), false);
    fs_family(p, d, "node_filesystem_files_free", "Filesystem total free file nodes.",
              offsetof(struct metrics_fs, files_free), false);
    fs_family(p, d, "node_filesystem_readonly", "Filesystem read-only status.", 0, true);

    static const struct {
        const char *name, *help;
        size_t off;
        bool ms; /* milliseconds, exposed as seconds */
    } io[] = {
        {"node_disk_reads_completed_total", "The total number of reads completed successfully.",
         offsetof(struct metrics_diskio, reads), false},
        {"node_disk_reads_merged_total", "The total number of reads merged.",
         offsetof(struct metrics_diskio, reads_merged), false},
        {"node_disk_read_bytes_total", "The total number of bytes read successfully.",
         offsetof(struct metrics_diskio, read_bytes), false},
        {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
         offsetof(struct metrics_diskio, read_ms), true},
        {"node_disk_writes_completed_total", "The total number of writes completed successfully.",
         offsetof(struct metrics_diskio, writes), false},
        {"node_disk_writes_merged_total", "The number of writes merged.",
         offsetof(struct metrics_diskio, writes_merged), false},
        {"node_disk_written_bytes_total", "The total number of bytes written successfully.",
         offsetof(struct metrics_diskio, written_bytes), false},
        {"node_disk_write_time_seconds_total",
         "This is the total number of seconds spent by all writes.",
         offsetof(struct metrics_diskio, write_ms), true},
        {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.",
         offsetof(struct metrics_diskio, io_ms), true},
        {"node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
         offsetof(struct metrics_diskio, weighted_ms), true},
    };
    for (size_t k = 0; k < ARRAY_SIZE(io); k++) {
        family(p, io[k].name, "counter", io[k].help);
        for (size_t i = 0; i < d->n_io; i++) {
            uint64_t v = u64_at(&d->io[i], io[k].off);
            if (io[k].ms)
                emit(p, "%s{device=\"%s\"} %.3f\n", io[k].name, esc(d->io[i].name),
                     (double)v / 1000.0);
            else
                emit(p, "%s{device=\"%s\"} %llu\n", io[k].name, esc(d->io[i].name),
                     (unsigned long long)v);
        }
    }
    family(p, "node_disk_io_now", "gauge", "The number of I/Os currently in progress.");
    for (size_t i = 0; i < d->n_io; i++)
        emit(p, "node_disk_io_now{device=\"%s\"} %llu\n", esc(d->io[i].name),
             (unsigned long long)d->io[i].in_progress);
}

static void net_metrics(struct prom *p, const struct metrics_net *n)
{
    for (size_t k = 0; k < ARRAY_SIZE(metrics_netif_fields); k++) {
        const struct metrics_netif_field *f = &metrics_netif_fields[k];
        char name[64];
        field_family(p, name, "node_network_%s_total", "Network device statistic %s.", "counter",
                     f->name);
        for (size_t i = 0; i < n->n; i++)
            emit(p, "%s{device=\"%s\"} %llu\n", name, esc(n->v[i].name), u64_at(&n->v[i], f->off));
    }
}

static void temp_metrics(struct prom *p, const struct metrics_temps *t)
{
    family(p, "node_hwmon_temp_celsius", "gauge", "Hardware monitor for temperature (input)");
    for (size_t i = 0; i < t->n; i++)
        emit(p, "node_hwmon_temp_celsius{chip=\"%s\",sensor=\"%s\"} %.3f\n", esc(t->v[i].chip),
             esc(t->v[i].label), t->v[i].celsius);
    family(p, "node_hwmon_temp_crit_celsius", "gauge", "Hardware monitor for temperature (crit)");
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].crit > 0)
            emit(p, "node_hwmon_temp_crit_celsius{chip=\"%s\",sensor=\"%s\"} %.3f\n",
                 esc(t->v[i].chip), esc(t->v[i].label), t->v[i].crit);
}

static void host_metrics(struct prom *p, const struct metrics_host *h)
{
    family(p, "node_uname_info", "gauge",
           "Labeled system information as provided by the uname system call.");
    emit(p, "node_uname_info{machine=\"%s\",nodename=\"%s\",release=\"%s\",sysname=\"Linux\"} 1\n",
         esc(h->arch), esc(h->hostname), esc(h->kernel));
    family(p, "node_os_info", "gauge", "A metric with a constant '1' value labeled by os-release.");
    emit(p, "node_os_info{pretty_name=\"%s\"} 1\n", esc(h->os_name));
}

/* ---- services ----------------------------------------------------------------------------- */

struct svc_row {
    struct svc *s;         /* the service */
    struct svc_status st;  /* its status */
    struct metrics_tree t; /* its tree's counters (zeros when not running) */
};

static void service_metrics(struct prom *p, struct api_host *h)
{
    size_t n = svc_count(h->services);
    struct svc_row *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) {
        p->error = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct svc_row *r = &rows[i];
        r->s = svc_at(h->services, i);
        svc_get_status(r->s, &r->st);
        (void)svc_tree(r->s, h->metrics, false, 0, &r->t);
    }
#define EACH for (size_t i = 0; i < n; i++)
#define NAME esc(svc_name(rows[i].s))
    family(p, "drover_service_up", "gauge", "1 when the service's main process runs.");
    EACH emit(p, "drover_service_up{service=\"%s\"} %d\n", NAME, rows[i].st.pid != 0);
    family(p, "drover_service_healthy", "gauge", "1 when the service runs and its probes pass.");
    EACH emit(p, "drover_service_healthy{service=\"%s\"} %d\n", NAME, svc_healthy(&rows[i].st));
    family(p, "drover_service_state", "gauge", "The service's state (1 for the current one).");
    EACH for (int s = 0; s < SVC_N_STATES; s++)
        emit(p, "drover_service_state{service=\"%s\",state=\"%s\"} %d\n", NAME,
             svc_state_name((enum svc_state)s), rows[i].st.state == (enum svc_state)s);
    family(p, "drover_service_restarts_total", "counter",
           "Restarts since the service was defined.");
    EACH emit(p, "drover_service_restarts_total{service=\"%s\"} %u\n", NAME,
              rows[i].st.restarts_total);
    family(p, "drover_service_cpu_seconds_total", "counter",
           "CPU time of the service's live processes, user and system.");
    EACH emit(p, "drover_service_cpu_seconds_total{service=\"%s\"} %.2f\n", NAME,
              (double)(rows[i].t.user_ns + rows[i].t.system_ns) / 1e9);
    family(p, "drover_service_resident_memory_bytes", "gauge",
           "Resident memory of the service's processes.");
    EACH emit(p, "drover_service_resident_memory_bytes{service=\"%s\"} %llu\n", NAME,
              (unsigned long long)rows[i].t.mem.rss);
    family(p, "drover_service_processes", "gauge", "Live processes in the service's tree.");
    EACH emit(p, "drover_service_processes{service=\"%s\"} %u\n", NAME, rows[i].t.processes);
    family(p, "drover_service_start_time_seconds", "gauge",
           "When the service last started, in unixtime (0: never).");
    EACH emit(p, "drover_service_start_time_seconds{service=\"%s\"} %.3f\n", NAME,
              rows[i].st.last_started_at);
#undef EACH
#undef NAME
    free(rows);
}

/* Containers: drover_container_*{container,image}, the figures from each running one's cgroup
 * (read now: a container that exits meanwhile is left out). */
static void container_metrics(struct prom *p, struct api_host *h)
{
    struct crow {
        struct ctr_info i;
        struct ctr_stats st;
        bool live;
    };
    size_t n = h->containers ? ctr_mgr_count(h->containers, NULL) : 0, k = 0;
    struct crow *rows = n ? calloc(n, sizeof *rows) : NULL;
    if (n && !rows) {
        p->error = -ENOMEM;
        return;
    }
    for (struct container *c = h->containers ? ctr_next(h->containers, NULL) : NULL; c && k < n;
         c = ctr_next(h->containers, c), k++) {
        ctr_info(c, &rows[k].i);
        rows[k].live = ctr_get_stats(c, &rows[k].st) == 0;
    }
    scalar(p, "drover_containers", "gauge", "Containers kept, running or not.", "%zu", k);
#define EACH for (size_t i = 0; i < k; i++)
#define LABELS "container=\"%s\",image=\"%s\""
#define VALUES esc(rows[i].i.name), esc(rows[i].i.image)
    family(p, "drover_container_up", "gauge", "1 while the container's program runs.");
    EACH emit(p, "drover_container_up{" LABELS "} %d\n", VALUES, rows[i].i.state == CTR_RUNNING);
    family(p, "drover_container_oom_killed", "gauge",
           "1 when the OOM killer ended the container's last run.");
    EACH emit(p, "drover_container_oom_killed{" LABELS "} %d\n", VALUES, rows[i].i.oom_killed);
    family(p, "drover_container_restarts_total", "counter", "Times started again after exiting.");
    EACH emit(p, "drover_container_restarts_total{" LABELS "} %u\n", VALUES, rows[i].i.restarts);
    family(p, "drover_container_cpu_seconds_total", "counter", "CPU time of its cgroup.");
    EACH if (rows[i].live && rows[i].st.g.has_cpu)
        emit(p, "drover_container_cpu_seconds_total{" LABELS "} %.3f\n", VALUES,
             (double)rows[i].st.g.cpu_usage_ns / 1e9);
    family(p, "drover_container_memory_bytes", "gauge", "Memory its cgroup uses.");
    EACH if (rows[i].live && rows[i].st.g.has_memory)
        emit(p, "drover_container_memory_bytes{" LABELS "} %llu\n", VALUES,
             (unsigned long long)rows[i].st.g.memory_current);
    family(p, "drover_container_memory_limit_bytes", "gauge", "Its memory limit (0: none).");
    EACH if (rows[i].live && rows[i].st.g.has_memory)
        emit(p, "drover_container_memory_limit_bytes{" LABELS "} %llu\n", VALUES,
             (unsigned long long)rows[i].st.g.memory_max);
    family(p, "drover_container_pids", "gauge", "Processes and threads in its cgroup.");
    EACH if (rows[i].live && rows[i].st.g.has_pids)
        emit(p, "drover_container_pids{" LABELS "} %llu\n", VALUES,
             (unsigned long long)rows[i].st.g.pids_current);
#undef EACH
#undef LABELS
#undef VALUES
    free(rows);
}

/* ---- droverd itself -------------------------------------------------------------------------- */

static void self_metrics(struct prom *p, struct api_host *h)
{
    struct proc_stat st;
    uint64_t rss = 0;
    if (proc_read_stat(0, &st) == 0 && proc_rss_bytes(0, &rss) == 0) {
        scalar(p, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.", "%.2f",
               (double)(st.utime + st.stime) / p->hz);
        scalar(p, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
               "%llu", (unsigned long long)rss);
        scalar(p, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", "%llu",
               (unsigned long long)st.vsize);
        scalar(p, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.", "%.2f",
               (double)h->started_real_ns / 1e9);
    }
    struct grpc_server_stats gs;
    grpc_server_get_stats(h->grpc, &gs);
    scalar(p, "drover_grpc_connections", "gauge", "Open gRPC connections.", "%u",
           gs.open_connections);
    scalar(p, "drover_grpc_calls_total", "counter", "gRPC calls started.", "%llu",
           (unsigned long long)gs.calls_total);
    if (h->http) {
        struct http_stats hs;
        http_server_get_stats(h->http, &hs);
        scalar(p, "drover_http_connections", "gauge", "Open HTTP connections.", "%u",
               hs.open_connections);
        scalar(p, "drover_http_requests_total", "counter", "HTTP requests answered.", "%llu",
               (unsigned long long)hs.requests_total);
    }
    struct metrics_counters mc;
    metrics_get_counters(h->metrics, &mc);
    family(p, "drover_metrics_samples_total", "counter",
           "Samples the metrics engine took, by kind (the rest were served from its cache).");
    emit(p, "drover_metrics_samples_total{kind=\"system\"} %llu\n", (unsigned long long)mc.system);
    emit(p, "drover_metrics_samples_total{kind=\"processes\"} %llu\n",
         (unsigned long long)mc.procs);
    emit(p, "drover_metrics_samples_total{kind=\"disks\"} %llu\n", (unsigned long long)mc.disks);
    emit(p, "drover_metrics_samples_total{kind=\"network\"} %llu\n", (unsigned long long)mc.net);
    emit(p, "drover_metrics_samples_total{kind=\"temperatures\"} %llu\n",
         (unsigned long long)mc.temps);
    scalar(p, "drover_sessions", "gauge", "PTY and pipe sessions kept.", "%zu",
           h->sessions ? sess_mgr_count(h->sessions) : 0);
    scalar(p, "drover_tracked_processes", "gauge", "Processes registered by other tools.", "%zu",
           h->track ? track_count(h->track) : 0);
    scalar(p, "drover_services", "gauge", "Services defined.", "%zu", svc_count(h->services));
}

int api_prometheus_render(struct api_host *h, struct buf *out)
{
    struct prom p = {.out = out, .hz = (double)proc_ticks_per_second()};
    const struct metrics_system *s;
    const struct metrics_disks *d;
    const struct metrics_net *n;
    const struct metrics_temps *t;
    uint32_t age = h->metrics_ttl_ms;
    int r = metrics_system(h->metrics, age, &s);
    if (r < 0)
        return r;
    system_metrics(&p, s);
    if (metrics_disks(h->metrics, age, &d) == 0)
        disk_metrics(&p, d);
    if (metrics_net(h->metrics, age, &n) == 0)
        net_metrics(&p, n);
    if (metrics_temps(h->metrics, age, &t) == 0)
        temp_metrics(&p, t);
    host_metrics(&p, metrics_host(h->metrics));
    service_metrics(&p, h);
    container_metrics(&p, h);
    self_metrics(&p, h);
    return p.error;
}
