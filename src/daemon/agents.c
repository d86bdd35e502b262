/* The daemon's event bus and the agent hub (baaaht's conversations, agents and tasks): made
 * with the core, their rows loaded. */
#include "agents/agents.h"
#include "base/log.h"
#include "daemon/daemon-internal.h"
#include "events/events.h"

int daemon_start_agents(struct daemon *d)
{
    char err[AG_ERR_MAX] = "";
    int r = ev_bus_new(d->cfg.event_ring, &d->bus);
    if (r < 0)
        return log_error_errno(r, "cannot set up the event bus");
    d->host.bus = d->bus;
    struct ag_settings set = {
        .max_conversations = d->cfg.agents_max_sessions,
        .idle_timeout_ns = (uint64_t)d->cfg.agents_idle_timeout_ms * 1000000u,
    };
    r = ag_mgr_new(&d->loop, d->store, d->bus, &set, &d->agents, err, sizeof err);
    if (r < 0)
        return log_error_errno(r, "cannot set up the agent hub: %s", err);
    d->host.agents = d->agents;
    r = ag_mgr_restore(d->agents);
    if (r < 0)
        return log_error_errno(r, "cannot load the agent hub's conversations");
    return 0;
}
