/* Service measurements shared by the faces (see measure.h). */
#include "api/measure.h"

#include "base/macro.h"

bool api_svc_healthy(const struct svc_status *st)
{
    return st->state == SVC_ONLINE && (!st->probed || st->healthy);
}

int api_svc_tree(struct api_host *h, struct svc *s, const struct svc_status *st, bool usage,
                 uint32_t max_age_ms, struct metrics_tree *ret)
{
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;

    *ret = (struct metrics_tree){0};
    if (!st->pid)
        return 0;
    int r = svc_members(s, &pids, &n);
    return r < 0 ? r : metrics_tree(h->metrics, pids, n, usage, max_age_ms, ret);
}
