/* The daemon's event bus and the agent hub (baaaht's conversations, agents and tasks): made
 * with the core, their rows loaded. */
#include <errno.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

#include "agents/agents.h"
#include "api/authz.h"
#include "base/log.h"
#include "base/paths.h"
#include "daemon/daemon-internal.h"
#include "events/events.h"
#include "grpc/grpc.h"
#include "net/net.h"
#include "session/session.h"
#include "track/track.h"

#define BAAAHT_DEFAULT_SOCKET "/tmp/baaaht-grpc.sock"

int daemon_start_agents(struct daemon *d)
{
    char err[AG_ERR_MAX] = "";
    int r = ev_bus_new(d->cfg.event_ring, &d->bus);
    if (r < 0)
        return log_error_errno(r, "cannot set up the event bus");
    d->host.bus = d->bus;
    sess_mgr_set_bus(d->sessions, d->bus);
    track_set_bus(d->track, d->bus);
    struct ag_settings set = {
        .max_conversations = d->cfg.agents_max_sessions,
        .idle_timeout_ns = (uint64_t)d->cfg.agents_idle_timeout_ms * 1000000u,
        .agent_ttl_ns = (uint64_t)d->cfg.agents_agent_ttl_ms * 1000000u,
        .route_timeout_ns = (uint64_t)d->cfg.agents_route_timeout_ms * 1000000u,
    };
    r = ag_mgr_new(&d->loop, d->store, d->bus, &set, &d->agents, err, sizeof err);
    if (r < 0)
        return log_error_errno(r, "cannot set up the agent hub: %s", err);
    d->host.agents = d->agents;
    ag_mgr_use(d->agents, d->sessions, d->containers);
    r = ag_mgr_restore(d->agents);
    if (r < 0)
        return log_error_errno(r, "cannot load the agent hub's conversations");
    return 0;
}

static void on_baaaht_accept(struct net_listener *l, struct net_conn *conn, void *userdata)
{
    struct daemon *d = userdata;
    (void)l;
    grpc_server_accept(d->grpc, conn, authz_door(d->authz, AUTHZ_DOOR_BAAAHT));
}

int daemon_listen_baaaht(struct daemon *d)
{
    const char *path = d->cfg.baaaht_socket;
    if (!path || !*path)
        return 0;
    if (!strcmp(path, "default"))
        path = BAAAHT_DEFAULT_SOCKET;
    int r = paths_mkdir_parent(path, 0755, false);
    if (r == 0)
        r = net_listen_unix(&d->loop, path, 0660, on_baaaht_accept, d, &d->baaaht_l);
    if (r < 0)
        return log_error_errno(r, "cannot listen on baaaht's socket '%s'", path);
    if (d->cfg.baaaht_socket_group) {
        struct group *g = getgrnam(d->cfg.baaaht_socket_group);
        if (!g || chown(path, (uid_t)-1, g->gr_gid) < 0)
            return log_error_errno(g ? -errno : -ENOENT,
                                   "baaaht_socket_group: cannot give '%s' to group '%s'", path,
                                   d->cfg.baaaht_socket_group);
    }
    log_notice("baaaht's API on '%s' (mode 0660%s%s, %s)", path,
               d->cfg.baaaht_socket_group ? ", group " : "",
               d->cfg.baaaht_socket_group ? d->cfg.baaaht_socket_group : "",
               d->cfg.baaaht_auth && !strcmp(d->cfg.baaaht_auth, "bearer")
                   ? "a bearer token from everyone"
                   : "droverd's user, root and the group pass; others show a bearer token");
    return 0;
}

void daemon_baaaht_health(struct daemon *d)
{
    static const char *const names[][2] = {
        {"orchestrator", "orchestrator.v1.OrchestratorService"},
        {"agent", "agent.v1.AgentService"},
        {"gateway", "gateway.v1.GatewayService"},
        {"llm", "llm.v1.LLMService"},
        {"tool", "tool.v1.ToolService"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (grpc_health_alias(d->health, names[i][0], names[i][1]) < 0)
            log_warning("health: cannot answer for '%s'", names[i][0]);
}
