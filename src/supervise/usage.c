/* What a service's tree uses, measured by the metrics engine, and what "healthy" means: the one
 * answer every face reports (daemon.v1, drover.v1 Metrics, Prometheus). */
#include <stdlib.h>

#include "base/macro.h"
#include "metrics/metrics.h"
#include "supervise/supervise.h"

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
