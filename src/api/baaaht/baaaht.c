/* baaaht's services, registered together (see baaaht.h). */
#include "api/baaaht/baaaht.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "api/authz.h"
#include "api/status.h"
#include "auth/auth.h"
#include "base/macro.h"

struct ag_mgr *bh_hub(struct grpc_call *call)
{
    struct api_host *h = grpc_call_service_data(call);
    if (!h->agents)
        grpc_call_finish(call, GRPC_UNAVAILABLE, "the agent hub is not set up in this droverd");
    return h->agents;
}

void bh_fail(struct grpc_call *call, int r, const char *err)
{
    api_finish_errno(call, r, "%s", err && *err ? err : strerror(-r));
}

const char *bh_own_token(struct grpc_call *call)
{
    size_t len;
    const char *v = grpc_call_metadata(call, "authorization", &len);
    const char *t = v && len > 7 ? v + 7 : NULL;
    return t && !strncmp(t, AUTHZ_AGENT_TOKEN_PREFIX, strlen(AUTHZ_AGENT_TOKEN_PREFIX)) ? t : NULL;
}

bool bh_agent_allowed(struct grpc_call *call, struct ag_mgr *m, const char *agent_id)
{
    const char *token = bh_own_token(call);
    if (token && agent_id && !*agent_id) {
        grpc_call_finish(call, GRPC_INVALID_ARGUMENT, "agent_id is required");
        return false;
    }
    if (token) {
        int r = ag_token_check(m, token, agent_id);
        if (r == 0)
            return true;
        if (r == -EPERM)
            grpc_call_finish(call, GRPC_PERMISSION_DENIED, "this token is not agent %s's",
                             agent_id);
        else
            grpc_call_finish(call, GRPC_UNAUTHENTICATED, "invalid authentication token");
        return false;
    }
    if (grpc_call_scopes(call) & AUTH_CONTROL)
        return true;
    grpc_call_finish(call, GRPC_PERMISSION_DENIED,
                     "%s needs scope control, or the agent's own token ('authorization: Bearer "
                     "$BAAAHT_CONTAINER_TOKEN')",
                     grpc_call_path(call));
    return false;
}

void *bh_call_state(struct grpc_call *call, size_t size)
{
    void *s = grpc_call_get_data(call);
    if (s)
        return s;
    if (!(s = calloc(1, size))) {
        grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    *(struct grpc_call **)s = call;
    grpc_call_set_data(call, s);
    return s;
}

void bh_half_close_ok(struct grpc_call *call)
{
    grpc_call_finish(call, GRPC_OK, NULL);
}

int api_baaaht_register(struct grpc_server *s, struct api_host *host)
{
    static const struct grpc_service *const each[] = {&bh_orchestrator_service, &bh_agent_service,
                                                      &bh_gateway_service, &bh_llm_service,
                                                      &bh_tool_service};
    for (size_t i = 0; i < ARRAY_SIZE(each); i++) {
        int r = grpc_server_add_service(s, each[i], host);
        if (r < 0)
            return r;
    }
    return 0;
}
