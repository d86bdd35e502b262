/* Shared by the files of src/supervise: the probe's side of the engine. */
#pragma once

#include "supervise/supervise.h"

struct probe;

/* Starts probing s (its config's probe) until probe_free; the first check comes soon. */
struct probe *probe_new(struct svc *s, const struct svc_probe *cfg, uv_loop_t *loop,
                        struct proc_reaper *r);
/* Stops probing; a check in flight is abandoned. NULL is a no-op. */
void probe_free(struct probe *p);
bool probe_healthy(const struct probe *p);
/* A check ended (probe.c calls it on itself). */
void probe_result(struct probe *p, bool ok);
/* The engine's side: one of s's probes became healthy or unhealthy (failures > 0 when its
 * threshold was reached: s must restart). */
void svc_probe_changed(struct svc *s, uint32_t failures);
