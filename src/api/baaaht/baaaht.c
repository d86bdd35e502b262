/* baaaht's services, registered together (see baaaht.h). */
#include "api/baaaht/baaaht.h"

#include <string.h>

#include "api/baaaht/baaaht-internal.h"
#include "api/status.h"
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

int api_baaaht_register(struct grpc_server *s, struct api_host *host)
{
    static const struct grpc_service *const each[] = {&bh_orchestrator_service,
                                                      &bh_agent_service, &bh_gateway_service};
    for (size_t i = 0; i < ARRAY_SIZE(each); i++) {
        int r = grpc_server_add_service(s, each[i], host);
        if (r < 0)
            return r;
    }
    return 0;
}
