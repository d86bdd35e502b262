/* drover.v1.Metrics: Get and Watch, the snapshots `drover top` and `drover metrics` show.
 *
 * One snapshot combines the system sample (per-core CPU, memory, load), every service's tree
 * and, when asked, the process list sorted and cut to the client's limit, the file systems,
 * block devices and network interfaces: the engine's caches
 * make a hundred watchers cost about one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/drover/drover-internal.h"
#include "api/msg.h"
#include "api/status.h"
#include "api/stream.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "drover/v1/metrics.pb-c.h"
#include "grpc/grpc.h"
#include "metrics/metrics.h"
#include "container/container.h"
#include "supervise/supervise.h"

#define DEFAULT_INTERVAL_MS 1000

/* A snapshot message and what it points to. Its cores, services and processes lists are each
 * one allocation (api_msg_list), owned here. */
struct snap {
    Drover__V1__MetricsSnapshot m;  /* the message */
    Google__Protobuf__Timestamp ts; /* m.timestamp */
    Drover__V1__CpuUsage cpu;       /* m.cpu, all cores together */
    char (*states)[2];              /* one-letter state strings of the processes */
};

static void snap_done(struct snap *b)
{
    free(b->m.cores);
    free(b->m.services);
    free(b->m.containers);
    free(b->m.processes);
    free(b->m.filesystems);
    free(b->m.disk_io);
    free(b->m.network);
    free(b->states);
}

static void cpu_fill(Drover__V1__CpuUsage *w, const struct metrics_cpu *c)
{
    *w = (Drover__V1__CpuUsage)DROVER__V1__CPU_USAGE__INIT;
    const double *p = c->mode_pct;
    w->id = c->id;
    w->usage_percent = c->usage_pct;
    w->user_percent = p[METRICS_CPU_USER] + p[METRICS_CPU_NICE];
    w->system_percent = p[METRICS_CPU_SYSTEM] + p[METRICS_CPU_IRQ] + p[METRICS_CPU_SOFTIRQ];
    w->iowait_percent = p[METRICS_CPU_IOWAIT];
    w->steal_percent = p[METRICS_CPU_STEAL];
}

/* A service's or a container's row: its tree added up. */
static void usage_fill(Drover__V1__ServiceUsage *w, const char *name, const char *state, pid_t pid,
                       const struct metrics_tree *t, uint32_t restarts, bool healthy, double uptime)
{
    w->name = (char *)name;
    w->state = (char *)state;
    w->pid = pid;
    w->cpu_percent = t->cpu_pct;
    w->rss_bytes = t->mem.rss;
    w->processes = t->processes;
    w->restarts = restarts;
    w->healthy = healthy;
    w->uptime_seconds = uptime;
}

static int services_fill(struct api_host *h, uint32_t age, struct snap *b)
{
    size_t n = svc_count(h->services);
    double now = (double)now_ns(CLOCK_REALTIME) / 1e9;
    b->m.services =
        (Drover__V1__ServiceUsage **)api_msg_list(&drover__v1__service_usage__descriptor, n, 0);
    if (!b->m.services)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct svc *s = svc_at(h->services, i);
        struct svc_status st;
        struct metrics_tree t = {0};
        Drover__V1__ServiceUsage *w = b->m.services[i];
        svc_get_status(s, &st);
        int r = svc_tree(s, h->metrics, true, age, &t);
        if (r < 0)
            return r;
        usage_fill(w, svc_name(s), svc_state_name(st.state), st.pid, &t, st.restarts_total,
                   svc_healthy(&st),
                   st.pid && st.last_started_at > 0 ? MAX(0.0, now - st.last_started_at) : 0);
    }
    b->m.n_services = n;
    return 0;
}

/* Containers, each its cgroup's processes added up (after the services: the same snapshot). */
static int containers_fill(struct api_host *h, uint32_t age, struct snap *b)
{
    size_t n = h->containers ? ctr_mgr_count(h->containers, NULL) : 0, k = 0;
    double now = (double)now_ns(CLOCK_REALTIME) / 1e9;
    if (!n)
        return 0;
    b->m.containers =
        (Drover__V1__ServiceUsage **)api_msg_list(&drover__v1__service_usage__descriptor, n, 0);
    if (!b->m.containers)
        return -ENOMEM;
    for (struct container *c = ctr_next(h->containers, NULL); c && k < n;
         c = ctr_next(h->containers, c), k++) {
        struct ctr_info i;
        struct metrics_tree t = {0};
        pid_t *pids = NULL;
        size_t np = 0;
        ctr_info(c, &i);
        if (ctr_members(c, &pids, &np) == 0 && np) {
            int r = metrics_tree(h->metrics, pids, np, true, age, &t);
            free(pids);
            if (r < 0)
                return r;
        } else
            free(pids);
        Drover__V1__ServiceUsage *w = b->m.containers[k];
        usage_fill(w, i.name, ctr_state_name(i.state), i.pid, &t, i.restarts,
                   i.state == CTR_RUNNING,
                   i.pid && i.started_at > 0 ? MAX(0.0, now - i.started_at) : 0);
    }
    b->m.n_containers = k;
    return 0;
}

static int by_cpu(const void *a, const void *b)
{
    const struct metrics_proc *x = *(const struct metrics_proc *const *)a;
    const struct metrics_proc *y = *(const struct metrics_proc *const *)b;
    if (x->cpu_pct != y->cpu_pct)
        return x->cpu_pct < y->cpu_pct ? 1 : -1;
    return (x->rss < y->rss) - (x->rss > y->rss);
}

static int by_mem(const void *a, const void *b)
{
    const struct metrics_proc *x = *(const struct metrics_proc *const *)a;
    const struct metrics_proc *y = *(const struct metrics_proc *const *)b;
    if (x->rss != y->rss)
        return x->rss < y->rss ? 1 : -1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static int processes_fill(struct api_host *h, const Drover__V1__MetricsRequest *req, uint32_t age,
                          struct snap *b)
{
    const struct metrics_procs *p;
    int r = metrics_procs(h->metrics, age, &p);
    if (r < 0)
        return r;
    for (size_t i = 0; i < p->n; i++)
        b->m.running += p->v[i].state == 'R';
    b->m.process_count = (uint32_t)p->n;
    if (!req->processes)
        return 0;
    _cleanup_free_ const struct metrics_proc **order = calloc(p->n ? p->n : 1, sizeof *order);
    size_t n = p->n;
    if (!order)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        order[i] = &p->v[i];
    if (req->sort == DROVER__V1__PROCESS_SORT__PROCESS_SORT_CPU)
        qsort(order, n, sizeof *order, by_cpu);
    else if (req->sort == DROVER__V1__PROCESS_SORT__PROCESS_SORT_MEMORY)
        qsort(order, n, sizeof *order, by_mem);
    if (req->process_limit && n > req->process_limit)
        n = req->process_limit;
    b->m.processes =
        (Drover__V1__ProcessUsage **)api_msg_list(&drover__v1__process_usage__descriptor, n, 0);
    b->states = calloc(n ? n : 1, sizeof *b->states);
    if (!b->m.processes || !b->states)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct metrics_proc *e = order[i];
        Drover__V1__ProcessUsage *w = b->m.processes[i];
        b->states[i][0] = e->state;
        w->pid = e->pid;
        w->ppid = e->ppid;
        w->name = (char *)e->comm;
        w->state = b->states[i];
        w->cpu_percent = e->cpu_pct;
        w->rss_bytes = e->rss;
        w->vms_bytes = e->vsize;
        w->threads = e->threads;
    }
    b->m.n_processes = n;
    return 0;
}

/* File systems and block devices, as the engine sampled them (its strings, not copied). */
static int disks_fill(struct api_host *h, uint32_t age, struct snap *b)
{
    const struct metrics_disks *d;
    int r = metrics_disks(h->metrics, age, &d);
    if (r < 0)
        return r;
    b->m.filesystems = (Drover__V1__FilesystemUsage **)api_msg_list(
        &drover__v1__filesystem_usage__descriptor, d->n_fs, 0);
    b->m.disk_io =
        (Drover__V1__DiskIo **)api_msg_list(&drover__v1__disk_io__descriptor, d->n_io, 0);
    if (!b->m.filesystems || !b->m.disk_io)
        return -ENOMEM;
    for (size_t i = 0; i < d->n_fs; i++) {
        const struct metrics_fs *f = &d->fs[i];
        Drover__V1__FilesystemUsage *w = b->m.filesystems[i];
        w->mountpoint = f->mountpoint;
        w->device = f->device;
        w->fstype = f->fstype;
        w->readonly = f->readonly;
        w->size_bytes = f->size;
        w->used_bytes = f->size > f->free ? f->size - f->free : 0;
        w->avail_bytes = f->avail;
    }
    b->m.n_filesystems = d->n_fs;
    for (size_t i = 0; i < d->n_io; i++) {
        const struct metrics_diskio *io = &d->io[i];
        Drover__V1__DiskIo *w = b->m.disk_io[i];
        w->name = (char *)io->name;
        w->read_bytes = io->read_bytes;
        w->written_bytes = io->written_bytes;
        w->reads = io->reads;
        w->writes = io->writes;
        w->io_ms = io->io_ms;
    }
    b->m.n_disk_io = d->n_io;
    return 0;
}

static int network_fill(struct api_host *h, uint32_t age, struct snap *b)
{
    const struct metrics_net *n;
    int r = metrics_net(h->metrics, age, &n);
    if (r < 0)
        return r;
    b->m.network = (Drover__V1__NetworkInterface **)api_msg_list(
        &drover__v1__network_interface__descriptor, n->n, 0);
    if (!b->m.network)
        return -ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const struct metrics_netif *e = &n->v[i];
        Drover__V1__NetworkInterface *w = b->m.network[i];
        w->name = (char *)e->name;
        w->rx_bytes = e->rx_bytes;
        w->tx_bytes = e->tx_bytes;
        w->rx_packets = e->rx_packets;
        w->tx_packets = e->tx_packets;
        w->rx_errors = e->rx_errs;
        w->tx_errors = e->tx_errs;
        w->rx_dropped = e->rx_drop;
        w->tx_dropped = e->tx_drop;
    }
    b->m.n_network = n->n;
    return 0;
}

/* The process list points into the engine's snapshot: send before asking the engine again. */
static int snap_fill(struct api_host *h, const Drover__V1__MetricsRequest *req, uint32_t age,
                     struct snap *b)
{
    const struct metrics_system *s;
    *b = (struct snap){.m = DROVER__V1__METRICS_SNAPSHOT__INIT,
                       .ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT};
    int r = metrics_system(h->metrics, age, &s);
    if (r < 0)
        return r;
    const struct metrics_host *mh = metrics_host(h->metrics);
    api_timestamp(&b->ts, s->real_ms * 1000000u);
    b->m.timestamp = &b->ts;
    b->m.window_ms = s->window_ms;
    b->m.hostname = (char *)mh->hostname;
    b->m.num_cpus = mh->n_cpus;
    b->m.uptime_seconds = s->uptime_s;
    cpu_fill(&b->cpu, &s->cpu);
    b->m.cpu = &b->cpu;
    b->m.cores =
        (Drover__V1__CpuUsage **)api_msg_list(&drover__v1__cpu_usage__descriptor, s->n_cores, 0);
    if (!b->m.cores)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_cores; i++)
        cpu_fill(b->m.cores[i], &s->cores[i]);
    b->m.n_cores = s->n_cores;
    b->m.mem_total_bytes = s->mem.total;
    b->m.mem_used_bytes = s->mem.used;
    b->m.mem_available_bytes = s->mem.available;
    b->m.mem_cached_bytes = s->mem.cached;
    b->m.mem_buffers_bytes = s->mem.buffers;
    b->m.swap_total_bytes = s->mem.swap_total;
    b->m.swap_used_bytes = s->mem.swap_used;
    b->m.load1 = s->load[0];
    b->m.load5 = s->load[1];
    b->m.load15 = s->load[2];
    /* Services first: their trees take the process snapshot the list then reuses. */
    if ((r = services_fill(h, age, b)) < 0 || (r = containers_fill(h, age, b)) < 0 ||
        (r = processes_fill(h, req, age, b)) < 0)
        return r;
    if (req->disks && (r = disks_fill(h, age, b)) < 0)
        return r;
    if (req->network && (r = network_fill(h, age, b)) < 0)
        return r;
    return 0;
}

static void get(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    struct snap b;
    int r = snap_fill(h, (const Drover__V1__MetricsRequest *)msg, h->metrics_ttl_ms, &b);
    if (r < 0)
        api_finish_errno(call, r, "measuring");
    else
        grpc_call_reply(call, &b.m.base);
    snap_done(&b);
}

struct watch {
    struct api_host *host;          /* where the figures come from */
    Drover__V1__MetricsRequest req; /* what to include (the plain fields, copied) */
    uint32_t age;                   /* how old a sample each tick accepts */
};

static int watch_tick(struct grpc_call *call, void *arg)
{
    struct watch *w = arg;
    struct snap b;
    int r = snap_fill(w->host, &w->req, w->age, &b);
    if (r >= 0)
        r = grpc_call_send(call, &b.m.base);
    snap_done(&b);
    return r;
}

static const struct api_stream_ops watch_ops = {watch_tick, NULL, NULL, free};

static void watch(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Drover__V1__MetricsRequest *req = (const Drover__V1__MetricsRequest *)msg;
    struct api_host *h = grpc_call_service_data(call);
    uint64_t ms;

    if (api_interval(call, req->interval, DEFAULT_INTERVAL_MS, &ms) < 0)
        return;
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    w->host = h;
    w->req = (Drover__V1__MetricsRequest)DROVER__V1__METRICS_REQUEST__INIT;
    w->req.processes = req->processes;
    w->req.process_limit = req->process_limit;
    w->req.sort = req->sort;
    w->req.disks = req->disks;
    w->req.network = req->network;
    w->age = (uint32_t)MIN((uint64_t)h->metrics_ttl_ms, ms / 2);
    api_stream_start(call, h->loop, ms, &watch_ops, w);
}

static const struct grpc_method methods[] = {
    {"Get", GRPC_UNARY, &drover__v1__metrics_request__descriptor, get, NULL, NULL, NULL},
    {"Watch", GRPC_SERVER_STREAM, &drover__v1__metrics_request__descriptor, watch, NULL,
     api_stream_ready, api_stream_close},
};

const struct grpc_service api_drover_metrics = {"drover.v1.Metrics", methods, ARRAY_SIZE(methods),
                                                &drover__v1__metrics__descriptor};
