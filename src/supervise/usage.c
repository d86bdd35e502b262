/* What a service's tree uses, measured by the metrics engine, and what "healthy" means: the one
 * answer every face reports (daemon.v1, drover.v1 Metrics, Prometheus). */
#include <stdlib.h>

#include "base/macro.h"
#include "base/time-util.h"
#include "metrics/metrics.h"
#include "proc/proc.h"
#include "supervise/supervise-internal.h"

/* Reading a tree's members and their /proc entries is all kernel work (~20 µs a service): a
 * measurement serves every face and client for this long. */
#define USAGE_TTL_MS 500

int svc_usage(struct svc *s, struct svc_usage *ret)
{
    pid_t *pids;
    size_t n;
    uint64_t now = mono_ms();

    *ret = (struct svc_usage){0};
    if (!s->child)
        return 0;
    if (s->usage_at_ms && now - s->usage_at_ms < USAGE_TTL_MS) {
        *ret = s->usage;
        return 0;
    }
    int r = proc_child_members(s->child, &pids, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        struct proc_stat st;
        uint64_t rss = 0;
        if (proc_read_stat(pids[i], &st) < 0 || st.state == 'Z')
            continue;
        /* stat's rss field leaves out the per-CPU counts not yet folded in (up to 32 pages a
         * CPU a counter since Linux 6.2): a fresh process reads as 0. statm sums them. */
        (void)proc_rss_bytes(pids[i], &rss);
        ret->processes++;
        ret->rss_bytes += rss;
        ret->cpu_seconds += (double)(st.utime + st.stime) / proc_ticks_per_second();
    }
    free(pids);
    s->usage = *ret;
    s->usage_at_ms = now;
    return 0;
}

int svc_members(struct svc *s, pid_t **ret, size_t *ret_n)
{
    if (!s->child) {
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    return proc_child_members(s->child, ret, ret_n);
}

bool svc_healthy(const struct svc_status *st)
{
    return st->state == SVC_ONLINE && (!st->probed || st->healthy);
}

int svc_tree(struct svc *s, struct metrics *m, bool usage, uint32_t max_age_ms,
             struct metrics_tree *ret)
{
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;

    *ret = (struct metrics_tree){0};
    int r = svc_members(s, &pids, &n);
    return r < 0 || !n ? r : metrics_tree(m, pids, n, usage, max_age_ms, ret);
}
