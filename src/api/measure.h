/* What the faces that report on services share (daemon.v1, drover.v1 Metrics, Prometheus): a
 * service's tree added up, and what "healthy" means. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "metrics/metrics.h"
#include "supervise/supervise.h"

/* Running, and passing its probes if it has any. */
bool api_svc_healthy(const struct svc_status *st);
/* The service's tree (cgroup or session members) added up; zeros when it is not running.
 * With usage, CPU % comes from a process snapshot no older than max_age_ms. */
int api_svc_tree(struct api_host *h, struct svc *s, const struct svc_status *st, bool usage,
                 uint32_t max_age_ms, struct metrics_tree *ret);
