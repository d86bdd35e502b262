/* stratavore.v1 messages to and from the runner core's structs, built in an arena: an answer is
 * many small pieces (timestamps, map entries, strings), freed together once it is sent. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/msg.h"
#include "api/status.h"
#include "api/stratavore/stratavore-internal.h"
#include "base/macro.h"
#include "base/strv.h"
#include "base/time-util.h"
#include "metrics/metrics.h"

/* ---- answers ---- */

void sv_fail(struct grpc_call *call, int x, const char *err)
{
    api_finish_errno(call, x, "%s", err && *err ? err : strerror(-x));
}

bool sv_page_begin(struct grpc_call *call, int32_t limit, int32_t offset, int status,
                   int max_status, struct sv_page *pg)
{
    if (limit < 0 || offset < 0) {
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "limit and offset must not be negative");
        return false;
    }
    if (status < 0 || status > max_status) {
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "status %d is not a status", status);
        return false;
    }
    *pg = (struct sv_page){.limit = limit == 0 ? 100 : (size_t)MIN(limit, 1000),
                           .offset = (size_t)offset};
    return true;
}

bool sv_page_take(struct sv_page *pg)
{
    if (pg->total++ < pg->offset || pg->n >= pg->limit)
        return false;
    pg->n++;
    return true;
}

void sv_page_end(const struct sv_page *pg, int32_t *total_count, protobuf_c_boolean *has_more)
{
    *total_count = (int32_t)MIN(pg->total, (size_t)INT32_MAX);
    *has_more = pg->offset + pg->n < pg->total;
}

int sv_mask(const Google__Protobuf__FieldMask *mask, const char *const *names, unsigned *ret,
            char *err, size_t size)
{
    *ret = 0;
    for (size_t i = 0; mask && i < mask->n_paths; i++) {
        size_t k = 0;
        while (names[k] && strcmp(names[k], mask->paths[i]) != 0)
            k++;
        if (!names[k])
            return snprintf(err, size, "update_mask: unknown field '%s'", mask->paths[i]), -EINVAL;
        *ret |= 1u << k;
    }
    return 0;
}

/* ---- quotas ---- */

Stratavore__V1__ResourceQuota *sv_quota_out(struct api_arena *a, const struct rn_quota *q)
{
    Stratavore__V1__ResourceQuota *m = arena_msg(a, &stratavore__v1__resource_quota__descriptor);
    m->max_concurrent_runners = q->max_runners;
    m->max_memory_mb = q->max_memory_mb;
    m->max_cpu_percent = q->max_cpu_pct;
    m->max_tokens_per_day = q->max_tokens_day;
    m->max_pids = q->max_pids;
    return m;
}

void sv_quota_in(struct rn_quota *q, const Stratavore__V1__ResourceQuota *m)
{
    *q = (struct rn_quota){0};
    if (!m)
        return;
    q->max_runners = m->max_concurrent_runners;
    q->max_memory_mb = m->max_memory_mb;
    q->max_cpu_pct = m->max_cpu_percent;
    q->max_tokens_day = m->max_tokens_per_day;
    q->max_pids = m->max_pids;
}

/* ---- runners ---- */

Stratavore__V1__Runner *sv_runner_out(struct sv *sv, struct api_arena *a, const struct rn_runner *r)
{
    Stratavore__V1__Runner *m = arena_msg(a, &stratavore__v1__runner__descriptor);
    struct rn_project *p = rn_project_find(sv->m, r->project);
    Stratavore__V1__ResourceUsage *u = arena_msg(a, &stratavore__v1__resource_usage__descriptor);

    m->id = (char *)r->id;
    m->project_name = r->project;
    m->status = (Stratavore__V1__RunnerStatus)r->status;
    m->model = r->model;
    m->temperature = r->has_temperature ? r->temperature : 0;
    m->max_tokens = r->has_max_tokens ? r->max_tokens : 0;
    m->runtime_id = r->pid ? arena_printf(a, "%d", (int)r->pid) : "";
    m->created_at = arena_ts(a, r->created_ns);
    m->updated_at = arena_ts(a, r->updated_ns);
    m->last_heartbeat = arena_ts(a, r->heartbeat_ns);
    m->metadata = (Stratavore__V1__Runner__MetadataEntry **)arena_map_out(
        a, &stratavore__v1__runner__metadata_entry__descriptor, r->metadata, &m->n_metadata);
    u->tokens_used = r->tokens_used;
    u->last_updated = arena_ts(a, r->heartbeat_ns);
    m->resource_usage = u;
    m->runtime_type = (Stratavore__V1__RuntimeType)r->runtime;
    m->node_id = sv->hostname;
    m->project_path = p ? p->path : "";
    m->n_flags = strv_length(r->flags);
    m->flags = r->flags;
    m->n_capabilities = strv_length(r->caps);
    m->capabilities = r->caps;
    m->environment = (Stratavore__V1__Runner__EnvironmentEntry **)arena_map_out(
        a, &stratavore__v1__runner__environment_entry__descriptor, r->env, &m->n_environment);
    m->session_id = (char *)r->conv_id;
    m->conversation_mode = (Stratavore__V1__ConversationMode)r->mode;
    m->restart_attempts = r->restarts;
    m->max_restart_attempts = r->max_restarts;
    m->restart_policy = (Stratavore__V1__RestartPolicy)r->policy;
    m->heartbeat_ttl_seconds = r->ttl_s;
    m->started_at = arena_ts(a, r->started_ns);
    m->terminated_at = arena_ts(a, r->terminated_ns);
    if (r->has_exit_code) {
        m->_exit_code_case = STRATAVORE__V1__RUNNER___EXIT_CODE_EXIT_CODE;
        m->exit_code = r->exit_code;
    }
    if (r->has_exit_signal) {
        m->_exit_signal_case = STRATAVORE__V1__RUNNER___EXIT_SIGNAL_EXIT_SIGNAL;
        m->exit_signal = r->exit_signal;
    }
    m->pid = r->pid;
    m->n_command = strv_length(r->command);
    m->command = r->command;
    m->quota = sv_quota_out(a, &r->quota);
    m->status_reason = r->reason ? r->reason : "";
    m->attach_session_id = (char *)r->sess_id;
    m->working_directory = r->workdir;
    return m;
}

Stratavore__V1__RunnerMetrics *sv_runner_metrics(struct sv *sv, struct api_arena *a,
                                                 const struct rn_runner *r)
{
    Stratavore__V1__RunnerMetrics *m = arena_msg(a, &stratavore__v1__runner_metrics__descriptor);
    struct rn_usage u;
    struct rn_project *p = rn_project_find(sv->m, r->project);
    uint64_t now = now_ns(CLOCK_REALTIME);

    m->runner_id = (char *)r->id;
    if (rn_runner_usage(sv->m, (struct rn_runner *)r, sv->h->metrics, sv->h->metrics_ttl_ms, &u) ==
        0) {
        m->cpu_percent = u.cpu_pct;
        m->cpu_time_ms = (int64_t)(u.cpu_ns / 1000000u);
        m->memory_mb = (int64_t)(u.memory_bytes >> 20);
        m->pids = (int32_t)u.pids;
        m->io_read_bytes = (int64_t)u.read_bytes;
        m->io_write_bytes = (int64_t)u.write_bytes;
        m->memory_peak_mb = (int64_t)(u.memory_peak >> 20);
    }
    m->oom_kills = r->oom_kills + (int32_t)u.oom_kills;
    m->tokens_used = r->tokens_used;
    m->tokens_used_today = p ? p->tokens_today : 0;
    m->uptime_seconds =
        r->pid && r->started_ns ? (int64_t)((now - r->started_ns) / 1000000000u) : 0;
    m->restart_attempts = r->restarts;
    m->heartbeats_received = r->heartbeats;
    m->last_heartbeat = arena_ts(a, r->heartbeat_ns);
    m->memory_limit_mb = r->quota.max_memory_mb;
    m->collected_at = arena_ts(a, now);
    return m;
}

void sv_create_in(struct api_arena *a, struct rn_create *q,
                  const Stratavore__V1__CreateRunnerRequest *m)
{
    *q = (struct rn_create){0};
    if (!m)
        return;
    q->project = m->project_name;
    q->model = m->model;
    q->has_temperature =
        m->_temperature_case == STRATAVORE__V1__CREATE_RUNNER_REQUEST___TEMPERATURE_TEMPERATURE;
    q->temperature = q->has_temperature ? m->temperature : 0;
    q->has_max_tokens =
        m->_max_tokens_case == STRATAVORE__V1__CREATE_RUNNER_REQUEST___MAX_TOKENS_MAX_TOKENS;
    q->max_tokens = q->has_max_tokens ? m->max_tokens : 0;
    q->metadata = arena_map_in(a, (void *const *)m->metadata, m->n_metadata);
    q->flags = arena_strv_in(a, m->flags, m->n_flags, false);
    q->caps = arena_strv_in(a, m->capabilities, m->n_capabilities, false);
    q->env = arena_map_in(a, (void *const *)m->environment, m->n_environment);
    q->runtime_id = m->runtime_id;
    sv_quota_in(&q->quota, m->quota);
    q->conv_id = m->session_id;
    q->mode = (enum rn_mode)m->conversation_mode;
    q->runtime = (enum rn_runtime)m->runtime_type;
    q->command = arena_strv_in(a, m->command, m->n_command, true);
    q->policy = (enum rn_policy)m->restart_policy;
    q->max_restarts = m->max_restart_attempts;
    q->ttl_s = m->heartbeat_ttl_seconds;
    q->workdir = m->working_directory;
}

/* ---- projects ---- */

static Stratavore__V1__ProjectConfig *launch_out(struct api_arena *a, const struct rn_launch *l)
{
    Stratavore__V1__ProjectConfig *c = arena_msg(a, &stratavore__v1__project_config__descriptor);
    c->n_command = strv_length(l->command);
    c->command = l->command;
    c->environment = (Stratavore__V1__ProjectConfig__EnvironmentEntry **)arena_map_out(
        a, &stratavore__v1__project_config__environment_entry__descriptor, l->env,
        &c->n_environment);
    c->n_flags = strv_length(l->flags);
    c->flags = l->flags;
    c->n_capabilities = strv_length(l->caps);
    c->capabilities = l->caps;
    c->default_model = l->model ? l->model : "";
    if (l->has_temperature) {
        c->_default_temperature_case =
            STRATAVORE__V1__PROJECT_CONFIG___DEFAULT_TEMPERATURE_DEFAULT_TEMPERATURE;
        c->default_temperature = l->temperature;
    }
    if (l->has_max_tokens) {
        c->_default_max_tokens_case =
            STRATAVORE__V1__PROJECT_CONFIG___DEFAULT_MAX_TOKENS_DEFAULT_MAX_TOKENS;
        c->default_max_tokens = l->max_tokens;
    }
    c->restart_policy = (Stratavore__V1__RestartPolicy)l->policy;
    c->max_restart_attempts = rn_launch_max_restarts(l);
    c->restart_backoff_ms = rn_launch_backoff(l);
    c->heartbeat_ttl_seconds = rn_launch_ttl(l);
    c->heartbeat_required = l->heartbeat_required;
    c->stop_timeout_seconds = (int32_t)(rn_launch_stop_ms(l) / 1000u);
    c->use_pipes = l->use_pipes;
    c->n_continue_args = strv_length(l->continue_args);
    c->continue_args = l->continue_args;
    c->n_resume_args = strv_length(l->resume_args);
    c->resume_args = l->resume_args;
    c->usage_parser = l->usage_parser && *l->usage_parser ? l->usage_parser : "none";
    c->transcript_max_bytes = l->transcript_max;
    return c;
}

void sv_launch_in(struct api_arena *a, struct rn_launch *l, const Stratavore__V1__ProjectConfig *c)
{
    *l = (struct rn_launch){0};
    if (!c)
        return;
    l->command = arena_strv_in(a, c->command, c->n_command, true);
    l->env = arena_map_in(a, (void *const *)c->environment, c->n_environment);
    l->flags = arena_strv_in(a, c->flags, c->n_flags, true);
    l->caps = arena_strv_in(a, c->capabilities, c->n_capabilities, true);
    l->model = c->default_model;
    l->has_temperature = c->_default_temperature_case ==
                         STRATAVORE__V1__PROJECT_CONFIG___DEFAULT_TEMPERATURE_DEFAULT_TEMPERATURE;
    l->temperature = l->has_temperature ? c->default_temperature : 0;
    l->has_max_tokens = c->_default_max_tokens_case ==
                        STRATAVORE__V1__PROJECT_CONFIG___DEFAULT_MAX_TOKENS_DEFAULT_MAX_TOKENS;
    l->max_tokens = l->has_max_tokens ? c->default_max_tokens : 0;
    l->policy = (enum rn_policy)c->restart_policy;
    l->max_restarts = c->max_restart_attempts;
    l->backoff_ms = c->restart_backoff_ms;
    l->ttl_s = c->heartbeat_ttl_seconds;
    l->heartbeat_required = c->heartbeat_required;
    l->stop_timeout_s = c->stop_timeout_seconds;
    l->use_pipes = c->use_pipes;
    l->continue_args = arena_strv_in(a, c->continue_args, c->n_continue_args, true);
    l->resume_args = arena_strv_in(a, c->resume_args, c->n_resume_args, true);
    l->usage_parser = c->usage_parser;
    l->transcript_max = c->transcript_max_bytes;
}

Stratavore__V1__Project *sv_project_out(struct sv *sv, struct api_arena *a, struct rn_project *p,
                                        bool stats)
{
    Stratavore__V1__Project *m = arena_msg(a, &stratavore__v1__project__descriptor);
    struct rn_project_stats st;

    rn_project_stats(sv->m, p, &st);
    m->name = p->name;
    m->description = p->description;
    m->path = p->path;
    m->status = p->archived         ? STRATAVORE__V1__PROJECT_STATUS__PROJECT_STATUS_ARCHIVED
                : st.active_runners ? STRATAVORE__V1__PROJECT_STATUS__PROJECT_STATUS_ACTIVE
                                    : STRATAVORE__V1__PROJECT_STATUS__PROJECT_STATUS_IDLE;
    m->quota = sv_quota_out(a, &p->quota);
    m->config = launch_out(a, &p->launch);
    if (stats) {
        Stratavore__V1__ProjectStatistics *s =
            arena_msg(a, &stratavore__v1__project_statistics__descriptor);
        s->active_runners = st.active_runners;
        s->total_runners = st.total_runners;
        s->total_sessions = st.total_convs;
        s->total_tokens_used = st.tokens_total;
        s->tokens_used_today = st.tokens_today;
        s->active_sessions = st.active_convs;
        for (struct rn_runner *r = NULL; (r = rn_runner_next(sv->m, r));) {
            struct rn_usage u;
            if (strcmp(r->project, p->name) == 0 && r->pid &&
                rn_runner_usage(sv->m, r, sv->h->metrics, sv->h->metrics_ttl_ms, &u) == 0) {
                s->cpu_percent += u.cpu_pct;
                s->memory_mb += (int64_t)(u.memory_bytes >> 20);
            }
        }
        m->statistics = s;
    }
    m->created_at = arena_ts(a, p->created_ns);
    m->updated_at = arena_ts(a, p->updated_ns);
    m->metadata = (Stratavore__V1__Project__MetadataEntry **)arena_map_out(
        a, &stratavore__v1__project__metadata_entry__descriptor, p->metadata, &m->n_metadata);
    m->n_tags = strv_length(p->tags);
    m->tags = p->tags;
    m->last_accessed_at = arena_ts(a, p->accessed_ns);
    m->archived_at = arena_ts(a, p->archived_ns);
    return m;
}

/* ---- sessions ---- */

Stratavore__V1__Session *sv_session_out(struct sv *sv, struct api_arena *a, const struct rn_conv *c)
{
    Stratavore__V1__Session *m = arena_msg(a, &stratavore__v1__session__descriptor);
    Stratavore__V1__SessionMetadata *d = arena_msg(a, &stratavore__v1__session_metadata__descriptor);

    m->id = (char *)c->id;
    m->runner_id = (char *)c->runner_id;
    m->project_name = c->project;
    m->status = (Stratavore__V1__SessionStatus)rn_conv_status(sv->m, c);
    m->token_count = c->tokens;
    m->created_at = arena_ts(a, c->created_ns);
    m->updated_at = arena_ts(a, c->updated_ns);
    m->last_activity = arena_ts(a, c->activity_ns);
    m->model = c->model;
    m->metadata = (Stratavore__V1__Session__MetadataEntry **)arena_map_out(
        a, &stratavore__v1__session__metadata_entry__descriptor, c->metadata, &m->n_metadata);
    d->message_count = c->messages;
    d->resumable = c->resumable && !c->ended_ns;
    d->resumed_from = (char *)c->resumed_from;
    d->summary = c->summary;
    d->started_at = arena_ts(a, c->started_ns);
    d->ended_at = arena_ts(a, c->ended_ns);
    d->transcript_path = "";
    d->n_runner_ids = strv_length(c->runner_ids);
    d->runner_ids = c->runner_ids;
    d->conversation_mode = (Stratavore__V1__ConversationMode)c->mode;
    m->details = d;
    return m;
}
