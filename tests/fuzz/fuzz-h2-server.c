/* Fuzz target: raw bytes from a client into a server-side HTTP/2 session carrying the real
 * services (Admin, health, reflection), over a socketpair on a real libuv loop. Whatever the
 * bytes, droverd must neither crash nor leak, and the connection must come down cleanly. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/drover/drover-internal.h"
#include "descriptor-set.h"
#include "fuzz-core.h"
#include "fuzz.h"
#include "grpc/grpc.h"
#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grpc_server_limits lim = FUZZ_GRPC_LIMITS;
    uv_loop_t loop;
    int sv[2];

    if (size > 1 << 16 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    /* As in droverd: a peer that hangs up must not kill us mid-write. */
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    struct grpc_server *srv = grpc_server_new(&loop, &lim);
    struct api_host host = fuzz_host(&loop, srv);
    struct health *h = grpc_health_new(srv);
    struct reflection *rf =
        grpc_reflection_new(srv, drover_descriptor_set, drover_descriptor_set_len);
    grpc_server_add_service(srv, &api_drover_admin, &host);
    grpc_health_register(srv, h);
    grpc_reflection_register(srv, rf);

    struct net_conn *conn;
    if (net_conn_from_fd(&loop, sv[0], &conn) == 0)
        grpc_server_accept(srv, conn, NULL);
    fuzz_feed(&loop, sv[1], data, size);

    grpc_server_free(srv);
    grpc_health_free(h);
    grpc_reflection_free(rf);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}
