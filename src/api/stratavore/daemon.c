/* stratavore.v1.DaemonService: droverd's status as Stratavore's daemon, its components, the
 * metrics engine's figures, health, and reconcile on demand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/stratavore/stratavore-internal.h"
#include "base/macro.h"
#include "base/time-util.h"
#include "metrics/metrics.h"
#include "proc/proc.h"
#include "store/store.h"

struct counts {
    int32_t active_runners, total_runners, active_sessions, total_sessions;
};

static void count(struct sv *sv, struct counts *c)
{
    *c = (struct counts){0};
    for (struct rn_runner *r = NULL; (r = rn_runner_next(sv->m, r));) {
        c->total_runners++;
        c->active_runners += rn_runner_live(r);
    }
    for (struct rn_conv *s = NULL; (s = rn_conv_next(sv->m, s));) {
        c->total_sessions++;
        c->active_sessions += rn_conv_status(sv->m, s) == RN_CONV_ACTIVE;
    }
}

/* ---- components ---- */

enum {
    C_RUNNERS = 1,
    C_DATABASE,
    C_EVENTS,
    C_RECONCILER,
    C_API,
    C_METRICS,
    C_TRANSCRIPTS,
    C_RESOURCES
};

static const char *const component_names[] = {
    NULL,         "runner_manager", "database",         "event_bus",           "reconciler",
    "api_server", "metrics",        "transcript_store", "resource_controller",
};

static Stratavore__V1__ComponentStatus *component(struct sv *sv, struct api_arena *a, int type)
{
    Stratavore__V1__ComponentStatus *c =
        arena_msg(a, &stratavore__v1__component_status__descriptor);
    char *d[16];
    size_t k = 0;
    uint64_t now = now_ns(CLOCK_REALTIME);
    struct counts n;

    c->type = (Stratavore__V1__ComponentType)type;
    c->name = (char *)component_names[type];
    c->health = STRATAVORE__V1__HEALTH_STATUS__HEALTH_STATUS_HEALTHY;
    c->last_check = arena_ts(a, now);
    c->message = "";
    switch (type) {
    case C_RUNNERS:
        count(sv, &n);
        c->message = arena_printf(a, "%d of %d runners live", n.active_runners, n.total_runners);
        d[k++] = "projects";
        d[k++] = arena_printf(a, "%zu", rn_project_count(sv->m));
        break;
    case C_DATABASE: {
        struct store_stats st = {0};
        if (sv->h->store) {
            store_get_stats(sv->h->store, &st);
            d[k++] = "path";
            d[k++] = (char *)store_path(sv->h->store);
            d[k++] = "bytes";
            d[k++] = arena_printf(a, "%llu", (unsigned long long)st.db_bytes);
        }
        if (!sv->h->store) {
            c->health = STRATAVORE__V1__HEALTH_STATUS__HEALTH_STATUS_DEGRADED;
            c->message = "no database: state is not kept across restarts";
        } else if (st.last_error && now - st.last_error_ns < 60ull * 1000000000u) {
            c->health = STRATAVORE__V1__HEALTH_STATUS__HEALTH_STATUS_DEGRADED;
            c->message = arena_printf(a, "a write failed %llu s ago: %s",
                                      (unsigned long long)((now - st.last_error_ns) / 1000000000u),
                                      strerror(-st.last_error));
        } else {
            c->message = "SQLite, WAL";
        }
        break;
    }
    case C_EVENTS: {
        c->message = arena_printf(a, "%zu subscribers", sv->n_subs);
        d[k++] = "next_sequence";
        d[k++] = arena_printf(a, "%lld", (long long)sv->next_seq);
        d[k++] = "ring";
        d[k++] = arena_printf(a, "%d", RN_EVENT_RING);
        break;
    }
    case C_RECONCILER:
        c->message = "heartbeat TTLs checked periodically and on demand";
        break;
    case C_API: {
        struct grpc_server_stats st;
        grpc_server_get_stats(sv->h->grpc, &st);
        c->message =
            arena_printf(a, "%u connections, %u calls", st.open_connections, st.active_calls);
        d[k++] = "socket";
        d[k++] = (char *)(sv->h->socket_path ? sv->h->socket_path : "");
        break;
    }
    case C_METRICS:
        c->message = "measured on demand";
        break;
    case C_TRANSCRIPTS:
        if (!sv->h->state_dir || access(sv->h->state_dir, W_OK) < 0) {
            c->health = STRATAVORE__V1__HEALTH_STATUS__HEALTH_STATUS_DEGRADED;
            c->message = "the state directory is not writable: no transcripts";
        } else {
            c->message = arena_printf(a, "%s/stratavore/sessions", sv->h->state_dir);
        }
        break;
    case C_RESOURCES: {
        const char *mode = proc_reaper_cgroup_mode(sv->h->reaper);
        char limits[96];
        proc_reaper_limits_mode(sv->h->reaper, limits, sizeof limits);
        c->message = arena_printf(a, "trees: %s; limits: %s", mode, limits);
        if (strcmp(mode, "none") == 0)
            c->health = STRATAVORE__V1__HEALTH_STATUS__HEALTH_STATUS_DEGRADED;
        break;
    }
    }
    d[k] = NULL;
    c->details = (Stratavore__V1__ComponentStatus__DetailsEntry **)arena_map_out(
        a, &stratavore__v1__component_status__details_entry__descriptor, d, &c->n_details);
    return c;
}

/* The components asked for (0: all) as a map's entries of type d (key, message value). */
static void **components(struct sv *sv, struct api_arena *a, const ProtobufCMessageDescriptor *d,
                         int which, size_t *ret_n, int *ret_worst)
{
    void **v = arena_alloc(a, ARRAY_SIZE(component_names) * sizeof *v);
    size_t n = 0;
    *ret_worst = STRATAVORE__V1__HEALTH_STATUS__HEALTH_STATUS_HEALTHY;
    for (int t = 1; t < (int)ARRAY_SIZE(component_names); t++) {
        if (which && which != t)
            continue;
        Stratavore__V1__ComponentStatus *c = component(sv, a, t);
        char *e = arena_msg(a, d);
        *(char **)(e + d->fields[0].offset) = c->name;
        *(Stratavore__V1__ComponentStatus **)(e + d->fields[1].offset) = c;
        v[n++] = e;
        *ret_worst = MAX(*ret_worst, (int)c->health);
    }
    *ret_n = n;
    return v;
}

static Stratavore__V1__SystemMetrics *system_metrics(struct sv *sv, struct api_arena *a)
{
    Stratavore__V1__SystemMetrics *m = arena_msg(a, &stratavore__v1__system_metrics__descriptor);
    const struct metrics_system *s;
    const struct metrics_procs *ps;

    if (metrics_system(sv->h->metrics, sv->h->metrics_ttl_ms, &s) == 0) {
        m->cpu_percent = s->cpu.usage_pct;
        m->cpu_count = (int32_t)s->n_cores;
        m->load_average_1m = s->load[0];
        m->load_average_5m = s->load[1];
        m->load_average_15m = s->load[2];
        m->memory_total_mb = (int64_t)(s->mem.total >> 20);
        m->memory_used_mb = (int64_t)(s->mem.used >> 20);
        m->memory_available_mb = (int64_t)(s->mem.available >> 20);
        m->swap_total_mb = (int64_t)(s->mem.swap_total >> 20);
        m->swap_used_mb = (int64_t)(s->mem.swap_used >> 20);
        m->uptime_seconds = (int64_t)s->uptime_s;
        m->process_count = (int32_t)s->entities;
    }
    if (metrics_procs(sv->h->metrics, sv->h->metrics_ttl_ms, &ps) == 0)
        m->process_count = (int32_t)ps->n;
    for (struct rn_runner *r = NULL; (r = rn_runner_next(sv->m, r));) {
        struct rn_usage u;
        if (r->pid && rn_runner_usage(sv->m, r, sv->h->metrics, sv->h->metrics_ttl_ms, &u) == 0) {
            m->runners_cpu_percent += u.cpu_pct;
            m->runners_memory_mb += (int64_t)(u.memory_bytes >> 20);
        }
    }
    m->collected_at = arena_ts(a, now_ns(CLOCK_REALTIME));
    return m;
}

static bool component_ok(struct grpc_call *call, int c)
{
    if (c < 0 || c >= (int)ARRAY_SIZE(component_names)) {
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "component %d is not a component", c);
        return false;
    }
    return true;
}

static void get_status(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__GetStatusRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct counts n;
    int worst;

    if (!component_ok(call, q->component))
        return;
    count(sv, &n);
    Stratavore__V1__GetStatusResponse *m =
        arena_msg(&a, &stratavore__v1__get_status_response__descriptor);
    Stratavore__V1__DaemonStatus *d = arena_msg(&a, &stratavore__v1__daemon_status__descriptor);
    uint64_t now = now_ns(CLOCK_REALTIME);
    uint64_t up = now_ns(CLOCK_MONOTONIC) - sv->h->started_mono_ns;
    m->components = (Stratavore__V1__GetStatusResponse__ComponentsEntry **)components(
        sv, &a, &stratavore__v1__get_status_response__components_entry__descriptor, q->component,
        &m->n_components, &worst);
    d->healthy = worst == STRATAVORE__V1__HEALTH_STATUS__HEALTH_STATUS_HEALTHY;
    d->active_runners = n.active_runners;
    d->total_projects = (int32_t)rn_project_count(sv->m);
    d->uptime = arena_ts(&a, up ? up : 1); /* a duration, as Stratavore's seed has it */
    d->version = (char *)sv->h->version;
    d->started_at = arena_ts(&a, sv->h->started_real_ns);
    d->daemon_id = arena_printf(&a, "%s:%d", sv->hostname, (int)getpid());
    d->hostname = sv->hostname;
    d->active_sessions = n.active_sessions;
    d->total_runners = n.total_runners;
    m->daemon_status = d;
    if (q->include_detailed)
        m->system_metrics = system_metrics(sv, &a);
    m->last_updated = arena_ts(&a, now);
    arena_reply(call, &a, &m->base);
}

static Stratavore__V1__ProjectMetrics *project_metrics(struct sv *sv, struct api_arena *a,
                                                       struct rn_project *p)
{
    Stratavore__V1__ProjectMetrics *m = arena_msg(a, &stratavore__v1__project_metrics__descriptor);
    struct rn_project_stats st;
    int live = 0;

    rn_project_stats(sv->m, p, &st);
    m->project_name = p->name;
    m->active_runners = st.active_runners;
    m->tokens_used = st.tokens_total;
    m->tokens_used_today = st.tokens_today;
    m->quota = sv_quota_out(a, &p->quota);
    for (struct rn_runner *r = NULL; (r = rn_runner_next(sv->m, r));) {
        struct rn_usage u;
        if (strcmp(r->project, p->name) || !r->pid ||
            rn_runner_usage(sv->m, r, sv->h->metrics, sv->h->metrics_ttl_ms, &u) < 0)
            continue;
        live++;
        m->avg_cpu_percent += u.cpu_pct;
        m->total_memory_mb += (int64_t)(u.memory_bytes >> 20);
    }
    if (live)
        m->avg_cpu_percent /= live;
    return m;
}

static void get_metrics(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__GetMetricsRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct counts n;
    struct rn_runner *only = NULL;

    if (*q->project_name && !rn_project_find(sv->m, q->project_name))
        return grpc_call_finish(call, GRPC_NOT_FOUND, "project %s not found", q->project_name);
    if (*q->runner_id && !(only = rn_runner_find(sv->m, q->runner_id)))
        return grpc_call_finish(call, GRPC_NOT_FOUND, "runner %s not found", q->runner_id);
    count(sv, &n);
    Stratavore__V1__GetMetricsResponse *m =
        arena_msg(&a, &stratavore__v1__get_metrics_response__descriptor);
    Stratavore__V1__GlobalMetrics *g = arena_msg(&a, &stratavore__v1__global_metrics__descriptor);
    size_t np = rn_project_count(sv->m), nr = (size_t)n.total_runners;
    m->projects = arena_alloc(&a, (np ? np : 1) * sizeof *m->projects);
    for (struct rn_project *p = NULL; (p = rn_project_next(sv->m, p));) {
        struct rn_project_stats st;
        rn_project_stats(sv->m, p, &st);
        g->active_projects += st.active_runners > 0;
        g->tokens_used += st.tokens_total;
        g->tokens_used_today += st.tokens_today;
        g->token_limit += p->quota.max_tokens_day;
        if (!*q->project_name || strcmp(p->name, q->project_name) == 0)
            m->projects[m->n_projects++] = project_metrics(sv, &a, p);
    }
    g->active_runners = n.active_runners;
    g->total_sessions = n.total_sessions;
    m->metrics = g;
    if (q->include_runners || only) {
        m->runners = arena_alloc(&a, (nr ? nr : 1) * sizeof *m->runners);
        for (struct rn_runner *r = NULL; (r = rn_runner_next(sv->m, r));)
            if ((!only || r == only) &&
                (!*q->project_name || strcmp(r->project, q->project_name) == 0))
                m->runners[m->n_runners++] = sv_runner_metrics(sv, &a, r);
    }
    m->system = system_metrics(sv, &a);
    m->collected_at = arena_ts(&a, now_ns(CLOCK_REALTIME));
    arena_reply(call, &a, &m->base);
}

static void health(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__HealthCheckRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    int worst;

    if (!component_ok(call, q->component))
        return;
    Stratavore__V1__HealthCheckResponse *m =
        arena_msg(&a, &stratavore__v1__health_check_response__descriptor);
    m->components = (Stratavore__V1__HealthCheckResponse__ComponentsEntry **)components(
        sv, &a, &stratavore__v1__health_check_response__components_entry__descriptor, q->component,
        &m->n_components, &worst);
    m->status = (Stratavore__V1__HealthStatus)worst;
    m->version = (char *)sv->h->version;
    m->timestamp = arena_ts(&a, now_ns(CLOCK_REALTIME));
    arena_reply(call, &a, &m->base);
}

static void reconcile(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const Stratavore__V1__ReconcileRequest *q = (const void *)msg;
    struct sv *sv = grpc_call_service_data(call);
    struct api_arena a = {0};
    struct rn_reconcile rc;

    if (*q->project_name && !rn_project_find(sv->m, q->project_name))
        return grpc_call_finish(call, GRPC_NOT_FOUND, "project %s not found", q->project_name);
    int x = rn_reconcile(sv->m, q->project_name, q->dry_run, &rc);
    if (x < 0)
        return sv_fail(call, x, NULL);
    Stratavore__V1__ReconcileResponse *m =
        arena_msg(&a, &stratavore__v1__reconcile_response__descriptor);
    m->reconciled_count = rc.reconciled;
    for (m->n_failed_runner_ids = 0; rc.failed[m->n_failed_runner_ids];)
        m->n_failed_runner_ids++;
    m->failed_runner_ids = rc.failed;
    for (m->n_adopted_runner_ids = 0; rc.adopted[m->n_adopted_runner_ids];)
        m->n_adopted_runner_ids++;
    m->adopted_runner_ids = rc.adopted;
    for (m->n_restarted_runner_ids = 0; rc.restarted[m->n_restarted_runner_ids];)
        m->n_restarted_runner_ids++;
    m->restarted_runner_ids = rc.restarted;
    m->started_at = arena_ts(&a, rc.started_ns);
    m->duration_ms = (int64_t)(rc.duration_ns / 1000000u);
    arena_reply(call, &a, &m->base);
    rn_reconcile_done(&rc);
}

#define UNARY(n, f, T)                                                                             \
    {                                                                                              \
        n, GRPC_UNARY, &stratavore__v1__##T##__descriptor, f, NULL, NULL, NULL                     \
    }

static const struct grpc_method methods[] = {
    UNARY("GetStatus", get_status, get_status_request),
    UNARY("GetMetrics", get_metrics, get_metrics_request),
    UNARY("HealthCheck", health, health_check_request),
    UNARY("Reconcile", reconcile, reconcile_request),
};

const struct grpc_service sv_daemon_service = {"stratavore.v1.DaemonService", methods,
                                               ARRAY_SIZE(methods),
                                               &stratavore__v1__daemon_service__descriptor};
