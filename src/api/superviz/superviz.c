/* superviz's daemon.v1: DaemonService and MetricsService over the metrics engine and the
 * supervised services.
 *
 * A ProcessMetrics is a supervised service: pid is its main process, CPU and memory add up its
 * whole tree (cgroup or session members), the state follows the service's state machine. Every
 * field is filled, including those upstream leaves empty (usage percentages, load, num_cpus,
 * Kubernetes labels).
 *
 * Streams (api/stream.c) send one message at once and then one per interval (default 5 s; zero
 * or negative is INVALID_ARGUMENT, below 100 ms is raised to 100 ms). StreamAllProcessMetrics
 * sends one ProcessMetrics per service per tick; a batch the queue cannot take at once resumes
 * from on_ready, and ticks are skipped until it is out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "container/container.h"
#include "api/msg.h"
#include "api/superviz/superviz.h"
#include "api/status.h"
#include "api/stream.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "daemon/v1/daemon.pb-c.h"
#include "grpc/grpc.h"
#include "metrics/metrics.h"
#include "proc/proc.h"
#include "supervise/supervise.h"

#define DEFAULT_INTERVAL_MS 5000

static uint64_t ticks_to_ns(uint64_t ticks)
{
    return ticks * (1000000000u / proc_ticks_per_second());
}

/* How old a sample a request accepts: the configured TTL, and for a stream at most half its
 * interval so that each tick sees new figures. */
static uint32_t max_age(const struct api_host *h, uint64_t interval_ms)
{
    uint64_t half = interval_ms ? interval_ms / 2 : UINT32_MAX;
    return (uint32_t)MIN((uint64_t)h->metrics_ttl_ms, half);
}

/* ---- SystemMetrics ----------------------------------------------------------------------------
 */

struct sys_msg {
    Daemon__V1__SystemMetrics m;
    Daemon__V1__SystemCPU cpu;
    Daemon__V1__SystemMemory mem;
    Daemon__V1__LoadAverage load;
    Google__Protobuf__Timestamp ts;
};

static int sys_fill(struct api_host *h, uint32_t age, struct sys_msg *b)
{
    const struct metrics_system *s;
    int r = metrics_system(h->metrics, age, &s);
    if (r < 0)
        return r;
    const uint64_t *t = s->cpu.ticks;
    const struct metrics_mem *mm = &s->mem;
    *b = (struct sys_msg){
        .m = DAEMON__V1__SYSTEM_METRICS__INIT,
        .cpu = DAEMON__V1__SYSTEM_CPU__INIT,
        .mem = DAEMON__V1__SYSTEM_MEMORY__INIT,
        .load = DAEMON__V1__LOAD_AVERAGE__INIT,
        .ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
    };
    b->cpu.user_ns = ticks_to_ns(t[METRICS_CPU_USER]);
    b->cpu.nice_ns = ticks_to_ns(t[METRICS_CPU_NICE]);
    b->cpu.system_ns = ticks_to_ns(t[METRICS_CPU_SYSTEM]);
    b->cpu.idle_ns = ticks_to_ns(t[METRICS_CPU_IDLE]);
    b->cpu.iowait_ns = ticks_to_ns(t[METRICS_CPU_IOWAIT]);
    b->cpu.irq_ns = ticks_to_ns(t[METRICS_CPU_IRQ]);
    b->cpu.softirq_ns = ticks_to_ns(t[METRICS_CPU_SOFTIRQ]);
    b->cpu.steal_ns = ticks_to_ns(t[METRICS_CPU_STEAL]);
    b->cpu.usage_percent = s->cpu.usage_pct;
    b->mem.total_bytes = mm->total;
    b->mem.available_bytes = mm->available;
    b->mem.used_bytes = mm->used;
    b->mem.free_bytes = mm->free;
    b->mem.buffers_bytes = mm->buffers;
    b->mem.cached_bytes = mm->cached;
    b->mem.shared_bytes = mm->shared;
    b->mem.swap_total_bytes = mm->swap_total;
    b->mem.swap_used_bytes = mm->swap_used;
    b->mem.swap_free_bytes = mm->swap_free;
    b->mem.usage_percent = mm->total ? 100.0 * (double)mm->used / (double)mm->total : 0;
    b->load.load1 = s->load[0];
    b->load.load5 = s->load[1];
    b->load.load15 = s->load[2];
    api_timestamp(&b->ts, s->real_ms * 1000000u);
    b->m.cpu = &b->cpu;
    b->m.memory = &b->mem;
    b->m.load = &b->load;
    b->m.timestamp = &b->ts;
    return 0;
}

/* ---- ProcessMetrics -----------------------------------------------------------------------------
 */

struct proc_msg {
    Daemon__V1__ProcessMetrics m;
    Daemon__V1__ProcessCPU cpu;
    Daemon__V1__ProcessMemory mem;
    Google__Protobuf__Timestamp start, ts;
    Google__Protobuf__Duration uptime;
    char error[160];
    char name[160]; /* a container's "container:NAME" */
};

static Daemon__V1__ProcessState state_of(enum svc_state st)
{
    switch (st) {
    case SVC_STOPPED:
        return DAEMON__V1__PROCESS_STATE__PROCESS_STATE_STOPPED;
    case SVC_STARTING:
        return DAEMON__V1__PROCESS_STATE__PROCESS_STATE_STARTING;
    case SVC_ONLINE:
        return DAEMON__V1__PROCESS_STATE__PROCESS_STATE_RUNNING;
    case SVC_STOPPING:
        return DAEMON__V1__PROCESS_STATE__PROCESS_STATE_STOPPING;
    default: /* crashed and waiting to restart, or given up */
        return DAEMON__V1__PROCESS_STATE__PROCESS_STATE_FAILED;
    }
}

static void last_error(const struct svc_status *st, char *out, size_t size)
{
    out[0] = '\0';
    if (st->reason[0])
        snprintf(out, size, "%s", st->reason);
    else if (st->last_error)
        snprintf(out, size, "%s", strerror(-st->last_error));
    else if (st->last_exited_at > 0 && st->last_exit == SVC_EXIT_UNKNOWN)
        snprintf(out, size, "%s", SVC_EXIT_UNKNOWN_TEXT);
    else if (st->last_exited_at > 0 && st->last_exit > 0)
        snprintf(out, size, "exited with code %d", st->last_exit);
    else if (st->last_exited_at > 0 && st->last_exit < 0)
        snprintf(out, size, "killed by signal %d", -st->last_exit);
}

/* What every process message has: its tree's figures, start and uptime, the time. */
static void proc_common(struct proc_msg *b, const struct metrics_tree *t, pid_t pid,
                        double started_at, uint32_t restarts, uint64_t now)
{
    *b = (struct proc_msg){
        .m = DAEMON__V1__PROCESS_METRICS__INIT,
        .cpu = DAEMON__V1__PROCESS_CPU__INIT,
        .mem = DAEMON__V1__PROCESS_MEMORY__INIT,
        .start = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
        .ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
        .uptime = GOOGLE__PROTOBUF__DURATION__INIT,
    };
    b->m.pid = pid;
    b->cpu.user_time_ns = t->user_ns;
    b->cpu.system_time_ns = t->system_ns;
    b->cpu.total_time_ns = t->user_ns + t->system_ns;
    b->cpu.usage_percent = t->cpu_pct;
    b->mem.rss_bytes = t->mem.rss;
    b->mem.vms_bytes = t->mem.vms;
    b->mem.swap_bytes = t->mem.swap;
    b->mem.shared_bytes = t->mem.shared;
    b->mem.data_bytes = t->mem.data;
    b->mem.stack_bytes = t->mem.stack;
    b->m.cpu = &b->cpu;
    b->m.memory = &b->mem;
    if (started_at > 0) {
        uint64_t started = (uint64_t)(started_at * 1000.0);
        api_timestamp(&b->start, started * 1000000u);
        b->m.start_time = &b->start;
        if (pid) {
            api_duration_ms(&b->uptime, now > started ? now - started : 0);
            b->m.uptime = &b->uptime;
        }
    }
    b->m.restart_count = restarts > INT32_MAX ? INT32_MAX : (int32_t)restarts;
    b->m.last_error = b->error;
    api_timestamp(&b->ts, now * 1000000u);
    b->m.timestamp = &b->ts;
}

static int proc_fill(struct api_host *h, struct svc *s, uint32_t age, struct proc_msg *b)
{
    struct svc_status st;
    struct metrics_tree t = {0};
    uint64_t now = now_ns(CLOCK_REALTIME) / 1000000u;

    svc_get_status(s, &st);
    int r = svc_tree(s, h->metrics, true, age, &t);
    if (r < 0)
        return r;
    proc_common(b, &t, st.pid, st.last_started_at, st.restarts_total, now);
    b->m.service_name = (char *)svc_name(s);
    b->m.state = state_of(st.state);
    b->m.healthy = svc_healthy(&st);
    last_error(&st, b->error, sizeof b->error);
    return 0;
}

/* A container is a process here too, named "container:NAME": its cgroup's processes. */
#define CONTAINER_PREFIX "container:"

static struct container *container_named(struct api_host *h, const char *name)
{
    size_t n = strlen(CONTAINER_PREFIX);
    return h->containers && !strncmp(name, CONTAINER_PREFIX, n) ? ctr_find(h->containers, name + n)
                                                                : NULL;
}

static int container_fill(struct api_host *h, struct container *c, uint32_t age, struct proc_msg *b)
{
    struct ctr_info i;
    struct metrics_tree t = {0};
    pid_t *pids = NULL;
    size_t n = 0;
    int r = 0;

    ctr_info(c, &i);
    if (ctr_members(c, &pids, &n) == 0 && n)
        r = metrics_tree(h->metrics, pids, n, true, age, &t);
    free(pids);
    if (r < 0)
        return r;
    proc_common(b, &t, i.pid, i.started_at, i.restarts, now_ns(CLOCK_REALTIME) / 1000000u);
    snprintf(b->name, sizeof b->name, CONTAINER_PREFIX "%s", i.name);
    b->m.service_name = b->name;
    b->m.state = i.state == CTR_RUNNING    ? DAEMON__V1__PROCESS_STATE__PROCESS_STATE_RUNNING
                 : i.state == CTR_STOPPING ? DAEMON__V1__PROCESS_STATE__PROCESS_STATE_STOPPING
                 : i.state == CTR_EXITED && i.exit_known && i.exit_code
                     ? DAEMON__V1__PROCESS_STATE__PROCESS_STATE_FAILED
                 : i.state == CTR_EXITED ? DAEMON__V1__PROCESS_STATE__PROCESS_STATE_STOPPED
                                         : DAEMON__V1__PROCESS_STATE__PROCESS_STATE_STARTING;
    b->m.healthy = i.state == CTR_RUNNING;
    if (*i.error)
        snprintf(b->error, sizeof b->error, "%s", i.error);
    else if (i.state == CTR_EXITED && i.oom_killed)
        snprintf(b->error, sizeof b->error, "killed by the OOM killer");
    else if (i.state == CTR_EXITED && i.exit_known && i.exit_code)
        snprintf(b->error, sizeof b->error,
                 i.exit_code > 0 ? "exited with code %d" : "killed by signal %d",
                 i.exit_code > 0 ? i.exit_code : -i.exit_code);
    return 0;
}

/* The i-th process: services first, then containers. */
static size_t procs_count(struct api_host *h)
{
    return svc_count(h->services) + (h->containers ? ctr_mgr_count(h->containers, NULL) : 0);
}

static int proc_fill_at(struct api_host *h, size_t i, uint32_t age, struct proc_msg *b)
{
    size_t ns = svc_count(h->services);
    if (i < ns)
        return proc_fill(h, svc_at(h->services, i), age, b);
    struct container *c = ctr_next(h->containers, NULL);
    for (i -= ns; c && i; i--)
        c = ctr_next(h->containers, c);
    return c ? container_fill(h, c, age, b) : -ENOENT;
}

/* Every service's and container's ProcessMetrics: arrays freed by the caller (also on
 * failure). */
static int procs_fill(struct api_host *h, uint32_t age, struct proc_msg **ret,
                      Daemon__V1__ProcessMetrics ***ret_p, size_t *ret_n)
{
    size_t n = procs_count(h);
    *ret = calloc(n ? n : 1, sizeof **ret);
    *ret_p = calloc(n ? n : 1, sizeof **ret_p);
    *ret_n = 0;
    if (!*ret || !*ret_p)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int r = proc_fill_at(h, i, age, &(*ret)[i]);
        if (r < 0)
            return r;
        (*ret_p)[i] = &(*ret)[i].m;
    }
    *ret_n = n;
    return 0;
}

/* ---- DaemonState ------------------------------------------------------------------------------
 */

struct state_msg {
    Daemon__V1__DaemonState m;
    Google__Protobuf__Timestamp start;
    Google__Protobuf__Duration uptime;
    struct sys_msg sys;
    Daemon__V1__HostInfo host;
    Daemon__V1__KubernetesInfo k8s;
    Daemon__V1__KubernetesInfo__LabelsEntry *labels;
    Daemon__V1__KubernetesInfo__LabelsEntry **plabels;
    struct proc_msg *procs;
    Daemon__V1__ProcessMetrics **pprocs;
};

static void state_done(struct state_msg *b)
{
    free(b->labels);
    free(b->plabels);
    free(b->procs);
    free(b->pprocs);
}

static int kubernetes_fill(const struct metrics_host *mh, struct state_msg *b)
{
    b->k8s = (Daemon__V1__KubernetesInfo)DAEMON__V1__KUBERNETES_INFO__INIT;
    b->k8s.pod_name = mh->pod_name ? mh->pod_name : "";
    b->k8s.namespace_ = mh->pod_namespace ? mh->pod_namespace : "";
    b->k8s.node_name = mh->node_name ? mh->node_name : "";
    size_t n = mh->n_labels;
    b->labels = calloc(n ? n : 1, sizeof *b->labels);
    b->plabels = calloc(n ? n : 1, sizeof *b->plabels);
    if (!b->labels || !b->plabels)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        b->labels[i] = (Daemon__V1__KubernetesInfo__LabelsEntry)
            DAEMON__V1__KUBERNETES_INFO__LABELS_ENTRY__INIT;
        b->labels[i].key = mh->labels[i].key;
        b->labels[i].value = mh->labels[i].value;
        b->plabels[i] = &b->labels[i];
    }
    b->k8s.labels = b->plabels;
    b->k8s.n_labels = n;
    b->m.kubernetes = &b->k8s;
    return 0;
}

static int state_fill(struct api_host *h, uint32_t age, struct state_msg *b)
{
    size_t n;
    int r;

    *b = (struct state_msg){
        .m = DAEMON__V1__DAEMON_STATE__INIT,
        .start = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
        .uptime = GOOGLE__PROTOBUF__DURATION__INIT,
        .host = DAEMON__V1__HOST_INFO__INIT,
    };
    if ((r = sys_fill(h, age, &b->sys)) < 0 ||
        (r = procs_fill(h, age, &b->procs, &b->pprocs, &n)) < 0)
        return r;
    b->m.version = (char *)h->version;
    api_timestamp(&b->start, h->started_real_ns / 1000000u * 1000000u);
    api_duration_ms(&b->uptime, (now_ns(CLOCK_MONOTONIC) - h->started_mono_ns) / 1000000u);
    b->m.start_time = &b->start;
    b->m.uptime = &b->uptime;
    /* Healthy when every service that is meant to run does, probes passing; a stopped service
     * was stopped on purpose. (Upstream also calls a daemon without services unhealthy.) */
    b->m.healthy = true;
    for (size_t i = 0; i < n; i++) {
        struct svc_status st;
        svc_get_status(svc_at(h->services, i), &st);
        if (st.state != SVC_STOPPED && !svc_healthy(&st))
            b->m.healthy = false;
    }
    b->m.processes = b->pprocs;
    b->m.n_processes = n;
    b->m.system = &b->sys.m;
    const struct metrics_host *mh = metrics_host(h->metrics);
    b->host.hostname = (char *)mh->hostname;
    b->host.os = (char *)mh->os;
    b->host.arch = (char *)mh->arch;
    b->host.num_cpus = (int32_t)MIN(mh->n_cpus, (uint32_t)INT32_MAX);
    b->m.host = &b->host;
    /* Outside Kubernetes the field stays unset, as upstream leaves it. */
    if (mh->in_kubernetes)
        return kubernetes_fill(mh, b);
    return 0;
}

/* ---- requests ----------------------------------------------------------------------------------
 */

/* The process a request names: a service, or a container ("container:NAME"); false after
 * answering NOT_FOUND or INVALID_ARGUMENT. */
static bool process_of(struct grpc_call *call, struct api_host *h, const char *name,
                       struct svc **ret_s, struct container **ret_c)
{
    *ret_s = NULL;
    *ret_c = NULL;
    if (!*name) {
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "service_name is required");
        return false;
    }
    if ((*ret_c = container_named(h, name)))
        return true;
    struct svc *s = svc_find(h->services, name);
    if (!s || svc_is_removed(s)) {
        grpc_call_finish(call, GRPC_NOT_FOUND, "no service named '%s'", name);
        return false;
    }
    *ret_s = s;
    return true;
}

/* A process by name, measured into b. */
static int fill_named(struct api_host *h, struct svc *s, struct container *c, uint32_t age,
                      struct proc_msg *b)
{
    return c ? container_fill(h, c, age, b) : proc_fill(h, s, age, b);
}

static void get_state(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    struct state_msg b;
    (void)msg;
    int r = state_fill(h, h->metrics_ttl_ms, &b);
    api_reply_or_errno(call, r, &b.m.base, "reading the machine's state");
    state_done(&b);
}

static void list_processes(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    Daemon__V1__ListProcessesResponse resp = DAEMON__V1__LIST_PROCESSES_RESPONSE__INIT;
    struct proc_msg *b = NULL;
    Daemon__V1__ProcessMetrics **p = NULL;
    size_t n;
    (void)msg;
    int r = procs_fill(h, h->metrics_ttl_ms, &b, &p, &n);
    resp.processes = p;
    resp.n_processes = r < 0 ? 0 : n;
    api_reply_or_errno(call, r, &resp.base, "measuring the services");
    free(b);
    free(p);
}

static void get_process(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Daemon__V1__GetProcessRequest *req = (const Daemon__V1__GetProcessRequest *)msg;
    struct api_host *h = grpc_call_service_data(call);
    struct proc_msg b;
    struct svc *s;
    struct container *c;
    if (!process_of(call, h, req->service_name, &s, &c))
        return;
    int r = fill_named(h, s, c, h->metrics_ttl_ms, &b);
    api_reply_or_errno(call, r, &b.m.base, "measuring '%s'", req->service_name);
}

static void get_system(struct grpc_call *call, const ProtobufCMessage *msg)
{
    struct api_host *h = grpc_call_service_data(call);
    struct sys_msg b;
    (void)msg;
    int r = sys_fill(h, h->metrics_ttl_ms, &b);
    api_reply_or_errno(call, r, &b.m.base, "reading the system's metrics");
}

/* ---- streams -----------------------------------------------------------------------------------
 */

enum stream_kind {
    STREAM_STATE,
    STREAM_SYSTEM,
    STREAM_PROCESS,
    STREAM_ALL,
};

struct stream {
    struct api_host *host; /* where the figures come from */
    enum stream_kind kind; /* what each tick sends */
    char *service;         /* STREAM_PROCESS: the service's name */
    uint32_t age;          /* how old a sample each tick accepts */
    size_t cursor;         /* STREAM_ALL: the next service of a batch not yet sent */
    bool batch;            /* STREAM_ALL: a batch is under way */
};

/* Sends the rest of a StreamAllProcessMetrics batch; stops at a full queue (on_ready resumes). */
static int send_batch(struct grpc_call *call, void *arg)
{
    struct stream *st = arg;
    while (st->batch && st->cursor < procs_count(st->host)) {
        struct proc_msg b;
        if (!grpc_call_writable(call))
            return 0;
        int r = proc_fill_at(st->host, st->cursor, st->age, &b);
        if (r < 0 || (r = grpc_call_send(call, &b.m.base)) < 0)
            return r;
        st->cursor++;
    }
    st->batch = false;
    return 0;
}

static bool batch_busy(void *arg)
{
    return ((struct stream *)arg)->batch;
}

/* One tick's message(s). */
static int emit(struct grpc_call *call, void *arg)
{
    struct stream *st = arg;
    int r;

    switch (st->kind) {
    case STREAM_STATE: {
        struct state_msg b;
        r = state_fill(st->host, st->age, &b);
        if (r >= 0)
            r = grpc_call_send(call, &b.m.base);
        state_done(&b);
        return r;
    }
    case STREAM_SYSTEM: {
        struct sys_msg b;
        r = sys_fill(st->host, st->age, &b);
        return r < 0 ? r : grpc_call_send(call, &b.m.base);
    }
    case STREAM_PROCESS: {
        struct proc_msg b;
        struct container *c = container_named(st->host, st->service);
        struct svc *s = c ? NULL : svc_find(st->host->services, st->service);
        if (!c && (!s || svc_is_removed(s))) {
            grpc_call_finish(call, GRPC_NOT_FOUND, "'%s' was deleted", st->service);
            return 0;
        }
        r = fill_named(st->host, s, c, st->age, &b);
        return r < 0 ? r : grpc_call_send(call, &b.m.base);
    }
    case STREAM_ALL:
        st->cursor = 0;
        st->batch = true;
        return send_batch(call, st);
    }
    return 0;
}

static void stream_free(void *arg)
{
    struct stream *st = arg;
    free(st->service);
    free(st);
}

static const struct api_stream_ops stream_ops = {emit, send_batch, batch_busy, stream_free};

static void stream_start(struct grpc_call *call, enum stream_kind kind,
                         const Google__Protobuf__Duration *interval, const char *service)
{
    struct api_host *h = grpc_call_service_data(call);
    struct stream *st;
    uint64_t ms;

    if (api_interval(call, interval, DEFAULT_INTERVAL_MS, &ms) < 0)
        return;
    struct svc *s;
    struct container *c;
    if (kind == STREAM_PROCESS && !process_of(call, h, service, &s, &c))
        return;
    st = calloc(1, sizeof *st);
    if (!st || (service && !(st->service = strdup(service)))) {
        free(st);
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    st->host = h;
    st->kind = kind;
    st->age = max_age(h, ms);
    api_stream_start(call, h->loop, ms, &stream_ops, st);
}

static void stream_state(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Daemon__V1__StreamStateRequest *req = (const Daemon__V1__StreamStateRequest *)msg;
    stream_start(call, STREAM_STATE, req->interval, NULL);
}

static void stream_system(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Daemon__V1__StreamMetricsRequest *req = (const Daemon__V1__StreamMetricsRequest *)msg;
    stream_start(call, STREAM_SYSTEM, req->interval, NULL);
}

static void stream_all(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Daemon__V1__StreamMetricsRequest *req = (const Daemon__V1__StreamMetricsRequest *)msg;
    stream_start(call, STREAM_ALL, req->interval, NULL);
}

static void stream_process(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Daemon__V1__StreamProcessMetricsRequest *req =
        (const Daemon__V1__StreamProcessMetricsRequest *)msg;
    stream_start(call, STREAM_PROCESS, req->interval, req->service_name);
}

/* ---- registration ------------------------------------------------------------------------------
 */

#define UNARY(n, in, fn)                                                                           \
    {                                                                                              \
        n, GRPC_UNARY, &in, fn, NULL, NULL, NULL                                                   \
    }
#define STREAM(n, in, fn)                                                                          \
    {                                                                                              \
        n, GRPC_SERVER_STREAM, &in, fn, NULL, api_stream_ready, api_stream_close                   \
    }

static const struct grpc_method daemon_methods[] = {
    UNARY("GetState", google__protobuf__empty__descriptor, get_state),
    STREAM("StreamState", daemon__v1__stream_state_request__descriptor, stream_state),
    UNARY("ListProcesses", google__protobuf__empty__descriptor, list_processes),
    UNARY("GetProcess", daemon__v1__get_process_request__descriptor, get_process),
    STREAM("StreamProcessMetrics", daemon__v1__stream_process_metrics_request__descriptor,
           stream_process),
};

static const struct grpc_method metrics_methods[] = {
    UNARY("GetSystemMetrics", google__protobuf__empty__descriptor, get_system),
    STREAM("StreamSystemMetrics", daemon__v1__stream_metrics_request__descriptor, stream_system),
    STREAM("StreamProcessMetrics", daemon__v1__stream_process_metrics_request__descriptor,
           stream_process),
    STREAM("StreamAllProcessMetrics", daemon__v1__stream_metrics_request__descriptor, stream_all),
};

static const struct grpc_service daemon_service = {"daemon.v1.DaemonService", daemon_methods,
                                                   ARRAY_SIZE(daemon_methods),
                                                   &daemon__v1__daemon_service__descriptor};
static const struct grpc_service metrics_service = {"daemon.v1.MetricsService", metrics_methods,
                                                    ARRAY_SIZE(metrics_methods),
                                                    &daemon__v1__metrics_service__descriptor};

int api_superviz_register(struct grpc_server *s, struct api_host *host)
{
    int r = grpc_server_add_service(s, &daemon_service, host);
    return r < 0 ? r : grpc_server_add_service(s, &metrics_service, host);
}
