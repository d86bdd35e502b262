/* drover.v1 (see drover.h). */
#include "api/drover/drover.h"

#include "api/drover/drover-internal.h"
#include "base/macro.h"

int api_drover_register(struct grpc_server *s, struct api_host *host)
{
    int (*const each[])(struct grpc_server *, struct api_host *) = {
        api_admin_register,   api_processes_register, api_sessions_register,
        api_metrics_register, api_services_register,
    };
    for (size_t i = 0; i < ARRAY_SIZE(each); i++) {
        int r = each[i](s, host);
        if (r < 0)
            return r;
    }
    return 0;
}
