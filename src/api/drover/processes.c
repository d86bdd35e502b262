/* drover.v1.Processes: the running-process operations over gRPC, with the seed's own request
 * and response messages. Each method decodes its request (the gRPC server does that against the
 * op's descriptor) and runs the same handler the running-process door runs; the answer becomes
 * the reply, or a status from the same errno table with the handler's message. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/drover/drover-internal.h"
#include "base/macro.h"
#include "api/rp/ops.h"
#include "api/status.h"
#include "grpc/grpc.h"
#include "drover/v1/processes.pb-c.h"
#include "running_process/daemon/v1/daemon.pb-c.h"

#define SERVICE "drover.v1.Processes"

/* One call: the rp_call plus the gRPC call it answers (NULL once the client went away). */
struct pcall {
    struct rp_call rp;      /* what the handler sees */
    struct grpc_call *call; /* the gRPC call */
    bool closed;            /* on_close ran */
};

static void pcall_done(struct rp_call *rp, int r, const char *msg, const ProtobufCMessage *resp)
{
    struct pcall *pc = rp->door;

    if (r < 0)
        api_finish_errno(pc->call, r, "%s", msg ? msg : strerror(-r));
    else
        grpc_call_reply(pc->call, resp);
}

void rp_grpc_unary_message(struct grpc_call *call, const ProtobufCMessage *msg)
{
    const char *path = grpc_call_path(call);
    const char *slash = strrchr(path, '/');
    const struct rp_op *op = slash ? rp_op_find_method(slash + 1) : NULL;
    struct pcall *pc;

    if (!op)
        return grpc_call_finish(call, GRPC_UNIMPLEMENTED, "unknown method %s", path);
    pc = calloc(1, sizeof *pc);
    if (!pc)
        return grpc_call_finish(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    pc->call = call;
    pc->rp = (struct rp_call){
        .host = grpc_call_service_data(call),
        .client_name = "drover-grpc",
        .done = pcall_done,
        .door = pc,
    };
    grpc_call_set_data(call, pc);
    op->run(&pc->rp, msg);
}

void rp_grpc_unary_close(struct grpc_call *call)
{
    struct pcall *pc = grpc_call_get_data(call);
    if (!pc)
        return;
    /* A handler still running (a kill-tree) finishes without us. */
    if (!pc->rp.answered)
        rp_call_abandon(&pc->rp);
    free(pc);
}

static const struct grpc_method methods[] = {
    RP_GRPC_UNARY("Register", register_request),
    RP_GRPC_UNARY("Unregister", unregister_request),
    RP_GRPC_UNARY("SpawnDaemon", spawn_daemon_request),
    RP_GRPC_UNARY("ListActive", list_active_request),
    RP_GRPC_UNARY("ListByOriginator", list_by_originator_request),
    RP_GRPC_UNARY("GetProcessTree", get_process_tree_request),
    RP_GRPC_UNARY("KillZombies", kill_zombies_request),
    RP_GRPC_UNARY("KillTree", kill_tree_request),
};

const struct grpc_service api_drover_processes = {SERVICE, methods, ARRAY_SIZE(methods),
                                                  &drover__v1__processes__descriptor};
