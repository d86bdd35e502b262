/* stratavore.v1 (see stratavore.h). */
#include "api/stratavore/stratavore.h"

#include <stdlib.h>
#include <unistd.h>

#include "api/stratavore/stratavore-internal.h"
#include "base/macro.h"

int api_stratavore_register(struct grpc_server *s, struct api_host *host,
                            struct api_stratavore **ret)
{
    static const struct grpc_service *const each[] = {&sv_runner_service, &sv_project_service,
                                                      &sv_session_service, &sv_daemon_service};
    struct sv *sv = calloc(1, sizeof *sv);

    if (!sv)
        return -ENOMEM;
    sv->h = host;
    if (gethostname(sv->hostname, sizeof sv->hostname - 1) < 0)
        snprintf(sv->hostname, sizeof sv->hostname, "localhost");
    for (size_t i = 0; i < ARRAY_SIZE(each); i++) {
        int r = grpc_server_add_service(s, each[i], sv);
        if (r < 0) {
            free(sv);
            return r;
        }
    }
    *ret = (struct api_stratavore *)sv;
    return 0;
}

void api_stratavore_bind(struct api_stratavore *p)
{
    struct sv *sv = (struct sv *)p;
    sv->m = sv->h->runners;
    sv_events_init(sv);
    rn_mgr_watch(sv->m, sv_on_event, sv);
}

void api_stratavore_free(struct api_stratavore *p)
{
    struct sv *sv = (struct sv *)p;
    if (!sv)
        return;
    sv_events_done(sv);
    free(sv);
}
