/* Runners under way: metadata and limits changed, paused and resumed, failed, stopped with
 * droverd, bound again after an upgrade in place, measured. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/strv.h"
#include "metrics/metrics.h"
#include "runner/runner-internal.h"
#include "session/session.h"

/* ---- update: metadata, limits, pause and resume ---- */

static int set_paused(struct rn_mgr *m, struct rn_runner *r, bool pause, char *err, size_t size)
{
    bool freezer = false;
    int x;

    if (pause && r->status == RN_PAUSED)
        return 0;
    if (!pause && r->status != RN_PAUSED)
        return r->status == RN_RUNNING || r->status == RN_STARTING
                   ? 0
                   : (snprintf(err, size, "runner %s is not paused", r->id), -EBUSY);
    if (pause && (r->status != RN_RUNNING && r->status != RN_STARTING))
        return snprintf(err, size, "runner %s is not running", r->id), -EBUSY;
    if (!r->sess || (x = sess_freeze(r->sess, pause, &freezer)) < 0)
        return snprintf(err, size, "cannot %s runner %s", pause ? "pause" : "resume", r->id),
               -EBUSY;
    r->status = pause ? RN_PAUSED : RN_RUNNING;
    rn_runner_set_reason(r, pause ? (freezer ? "paused (cgroup freezer)" : "paused (SIGSTOP)")
                                  : "resumed");
    rn_runner_changed(m, r);
    rn_runner_emit(m, r, pause ? RN_EV_RUNNER_PAUSED : RN_EV_RUNNER_RESUMED, NULL);
    return 0;
}

int rn_runner_update(struct rn_mgr *m, struct rn_runner *r, const struct rn_runner *in,
                     unsigned mask, char *err, size_t size)
{
    char **meta = NULL, *model = NULL;
    int x;

    if ((mask & RN_R_STATUS) && in->status != RN_PAUSED && in->status != RN_RUNNING)
        return snprintf(err, size,
                        "desired_status must be PAUSED or RUNNING (stop with "
                        "StopRunner)"),
               -EINVAL;
    if ((mask & RN_R_TEMPERATURE) && in->has_temperature &&
        (!isfinite(in->temperature) || in->temperature < 0 || in->temperature > 2))
        return snprintf(err, size, "temperature must be between 0 and 2"), -EINVAL;
    if (((mask & RN_R_MAX_TOKENS) && in->max_tokens < 0) ||
        ((mask & RN_R_MAX_RESTARTS) && in->max_restarts < 0) ||
        ((mask & RN_R_TTL) && in->ttl_s < 0))
        return snprintf(err, size,
                        "max_tokens, max_restart_attempts and heartbeat_ttl_seconds "
                        "must not be negative"),
               -EINVAL;
    if ((mask & RN_R_POLICY) && (in->policy < RN_POLICY_INHERIT || in->policy > RN_ALWAYS))
        return snprintf(err, size, "restart_policy %d is not a policy", in->policy), -EINVAL;
    if ((mask & RN_R_QUOTA) &&
        (in->quota.max_memory_mb < 0 || in->quota.max_cpu_pct < 0 || in->quota.max_pids < 0 ||
         in->quota.max_runners < 0 || in->quota.max_tokens_day < 0))
        return snprintf(err, size, "quota values must not be negative"), -EINVAL;
    if ((mask & RN_R_METADATA) && rn_map_valid(in->metadata) < 0)
        return snprintf(err, size, "metadata is not a map"), -EINVAL;
    if ((mask & RN_R_STATUS) && (x = set_paused(m, r, in->status == RN_PAUSED, err, size)) < 0)
        return x;
    struct proc_limits lim;
    if ((mask & RN_R_QUOTA) && r->sess &&
        (rn_quota_limits(&in->quota, &lim) || rn_quota_limits(&r->quota, &lim))) {
        (void)rn_quota_limits(&in->quota, &lim);
        if ((x = sess_set_limits(r->sess, &lim)) < 0)
            return snprintf(err, size, "cannot apply the limits to runner %s: %s", r->id,
                            x == -EOPNOTSUPP ? "it runs without a cgroup for them (restart it)"
                                             : strerror(-x)),
                   x == -EOPNOTSUPP ? -EOPNOTSUPP : -EBUSY;
    }
    if (((mask & RN_R_METADATA) && !(meta = strv_copy(in->metadata))) ||
        ((mask & RN_R_MODEL) && !(model = strdup(in->model ? in->model : "")))) {
        strv_free(meta);
        return -ENOMEM;
    }
    if (mask & RN_R_METADATA) {
        strv_free(r->metadata);
        r->metadata = meta;
    }
    if (mask & RN_R_MODEL) {
        free(r->model);
        r->model = model;
    }
    if (mask & RN_R_QUOTA)
        r->quota = in->quota;
    if (mask & RN_R_MAX_RESTARTS)
        r->max_restarts = in->max_restarts ? in->max_restarts : RN_DEF_MAX_RESTARTS;
    if (mask & RN_R_POLICY)
        r->policy = in->policy ? in->policy : RN_NEVER;
    if (mask & RN_R_TTL)
        r->ttl_s = in->ttl_s ? in->ttl_s : RN_DEF_TTL_S;
    if (mask & RN_R_TEMPERATURE) {
        r->has_temperature = in->has_temperature;
        r->temperature = in->temperature;
    }
    if (mask & RN_R_MAX_TOKENS) {
        r->has_max_tokens = true;
        r->max_tokens = in->max_tokens;
    }
    rn_runner_changed(m, r);
    if (mask & ~(unsigned)RN_R_STATUS)
        rn_runner_emit(m, r, RN_EV_RUNNER_UPDATED, NULL);
    return 0;
}

/* ---- failure, shutdown, restore ---- */

void rn_runner_fail(struct rn_mgr *m, struct rn_runner *r, const char *reason)
{
    rn_runner_set_reason(r, reason);
    r->failing = true;
    if (!r->sess) {
        r->failing = false;
        r->status = RN_FAILED;
        r->terminated_ns = rn_now();
        rn_runner_changed(m, r);
        rn_runner_emit(m, r, RN_EV_RUNNER_FAILED, NULL);
        rn_conv_runner_ended(m, r);
        return;
    }
    /* FAILED now (it no longer counts against the quota); RUNNER_FAILED is reported once the
     * program is gone, with how it ended. */
    bool paused = r->status == RN_PAUSED;
    r->status = RN_FAILED;
    rn_runner_changed(m, r);
    if (paused)
        (void)sess_freeze(r->sess, false, NULL);
    (void)sess_terminate(r->sess, r->stop_timeout_ms, false);
}

size_t rn_runner_stop_all(struct rn_mgr *m)
{
    size_t n = 0;
    for (struct rn_runner *r = m->runners.first; r; r = r->link.next) {
        bool was = false;
        if (r->timer_armed) {
            uv_timer_stop(&r->timer);
            r->timer_armed = false;
        }
        if (r->sess && !r->stop_asked)
            (void)rn_runner_stop(m, r, false, 0, "daemon shutdown", NULL, &was);
        n += r->sess != NULL;
    }
    return n;
}

void rn_runner_restore(struct rn_mgr *m, struct rn_runner *r)
{
    struct session *s = r->sess_id[0] ? sess_find(m->sessions, r->sess_id) : NULL;
    struct sess_info si;

    r->m = m;
    if (!rn_runner_live(r))
        return;
    if (s) {
        sess_info(s, &si);
        if (si.pid == r->pid && !si.exited) { /* handed over by an upgrade in place */
            rn_runner_bind(m, r, s);
            return;
        }
        if (si.pid == r->pid && si.exited) { /* it ended while droverd re-executed itself */
            r->sess = s;
            rn_runner_exited(s, si.exit_code, r);
            return;
        }
    }
    rn_runner_fail(m, r, "lost");
}

int rn_runner_usage(struct rn_mgr *m, struct rn_runner *r, struct metrics *mx, uint32_t max_age_ms,
                    struct rn_usage *ret)
{
    struct metrics_tree t = {0};
    pid_t *pids;
    size_t n;
    int x;

    (void)m;
    *ret = (struct rn_usage){0};
    if (!r->sess || !mx)
        return -ESRCH;
    if ((x = sess_members(r->sess, &pids, &n)) < 0)
        return x;
    x = metrics_tree(mx, pids, n, true, max_age_ms, &t);
    free(pids);
    if (x < 0)
        return x;
    ret->cpu_pct = t.cpu_pct;
    ret->cpu_ns = t.user_ns + t.system_ns;
    ret->memory_bytes = t.mem.rss;
    ret->read_bytes = t.read_bytes;
    ret->write_bytes = t.write_bytes;
    ret->pids = t.processes;
    struct proc_res_usage ru;
    if (sess_res_usage(r->sess, &ru) == 0) {
        ret->has_memory_group = true;
        ret->memory_peak = ru.memory_peak;
        ret->oom_kills = ru.oom_kills;
    }
    return 0;
}

size_t rn_purge_exited(struct rn_mgr *m, uint64_t older_than_ns)
{
    uint64_t now = rn_now();
    size_t n = 0;
    for (struct rn_runner *r = m->runners.first; r; r = r->link.next) {
        struct session *s = !r->sess && r->sess_id[0] ? sess_find(m->sessions, r->sess_id) : NULL;
        struct sess_info si;
        if (!s || (sess_info(s, &si), !si.exited) || r->terminated_ns + older_than_ns > now)
            continue;
        sess_purge(s);
        n++;
    }
    return n;
}
