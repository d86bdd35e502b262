/* drover.v1 (see drover.h). */
#include "api/drover/drover.h"

#include "api/drover/drover-internal.h"
#include "base/macro.h"

int api_drover_register(struct grpc_server *s, struct api_host *host)
{
    static const struct grpc_service *const each[] = {
        &api_drover_admin,    &api_drover_processes,  &api_drover_sessions, &api_drover_metrics,
        &api_drover_services, &api_drover_containers, &api_drover_images,   &api_drover_agents,
    };
    for (size_t i = 0; i < ARRAY_SIZE(each); i++) {
        int r = grpc_server_add_service(s, each[i], host);
        if (r < 0)
            return r;
    }
    return 0;
}
