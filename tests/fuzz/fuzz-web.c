/* Fuzz target: raw bytes from a client into the HTTP door with droverd's real routes — /healthz,
 * /metrics (rendered from the real machine, a service engine and the gRPC server's counters)
 * and socktop's agent on /ws (every text and JSON request, answered from the real /proc) —
 * over a socketpair on a real libuv loop. Two doors take turns, by the input's first byte: one
 * open to everyone, one that asks for a bearer token with scope read (tokens "fuzz-read" and
 * "fuzz-none" are known, the latter without read; socktop's own token is "fuzz-agent").
 * Whatever the bytes, nothing may crash or leak and the connection must come down cleanly. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "api/authz.h"
#include "api/web/web.h"
#include "auth/auth.h"
#include "base/time-util.h"
#include "fuzz-core.h"
#include "fuzz.h"
#include "grpc/grpc.h"
#include "http1/http1.h"
#include "metrics/metrics.h"
#include "net/net.h"
#include "supervise/supervise.h"

/* The service engine's log directory: empty. */
static char logs[] = "/tmp/drover-fuzz-web-logs-XXXXXX";

/* Bearer tokens: a file of their hashes, written once per process, read by auth_new. */
static char tokens_path[] = "/tmp/drover-fuzz-web-XXXXXX";

static void remove_tokens(void)
{
    unlink(tokens_path);
}

static struct auth *tokens(void)
{
    static bool made;
    char text[512], read_hash[65], none_hash[65], err[256];
    struct auth *a;

    if (!made) {
        if (auth_token_hash("fuzz-read", 9, read_hash, err, sizeof err) < 0 ||
            auth_token_hash("fuzz-none", 9, none_hash, err, sizeof err) < 0)
            abort();
        snprintf(text, sizeof text, "reader read sha256:%s\nnobody none sha256:%s\n", read_hash,
                 none_hash);
        int fd = mkstemp(tokens_path);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
            abort();
        close(fd);
        atexit(remove_tokens);
        made = true;
    }
    if (auth_new(&(struct auth_opts){.tokens_file = tokens_path}, &a, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz-web: %s\n", err);
        abort();
    }
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_limits lim = {4, 4096, 4096, 1000, 1000};
    struct grpc_server_limits glim = FUZZ_GRPC_LIMITS;
    struct socktop_opts so = {.ttl_metrics_ms = 250,
                              .ttl_disks_ms = 1000,
                              .ttl_processes_ms = 1500,
                              .ttl_details_ms = 250,
                              .ttl_journal_ms = 1000,
                              .temp = true};
    struct svc_engine *services = NULL;
    struct grpc_server *grpc = NULL;
    struct http_server *srv = NULL;
    struct api_web *web = NULL;
    struct authz *authz = NULL;
    struct metrics *mx = NULL;
    char err[256];
    uv_loop_t loop;
    int sv[2];

    if (size < 1 || size > 1 << 16 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    bool accepted = false;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    struct authz_opts ao = {.own_uid = geteuid(), .read_group = (gid_t)-1};
    bool closed_door = data[0] & 1;
    if (svc_engine_new(&loop, NULL, fuzz_temp_dir(logs), NULL, NULL, &services) < 0 ||
        !(grpc = grpc_server_new(&loop, &glim)) || !(mx = metrics_new(NULL)) ||
        authz_new(&ao, tokens(), &authz, err, sizeof err) < 0)
        goto out;
    struct api_host host = fuzz_host(&loop, grpc);
    host.services = services;
    host.metrics = mx;
    host.authz = authz;
    struct api_web_opts wo = {.socktop = so,
                              .socktop_token = closed_door ? "fuzz-agent" : NULL,
                              .require_token = closed_door};
    if (!(web = api_web_new(&host, &wo)) ||
        !(srv = http_server_new(&loop, &lim, api_http_handle, web)))
        goto out;
    host.http = srv;
    struct net_conn *conn;
    if (net_conn_from_fd(&loop, sv[0], &conn) == 0) {
        http_server_accept(srv, conn);
        accepted = true;
    }
    fuzz_feed(&loop, sv[1], data + 1, size - 1); /* closes sv[1] */
    sv[1] = -1;

out:
    if (!accepted)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    http_server_free(srv);
    api_web_free(web);
    grpc_server_free(grpc);
    svc_engine_free(services);
    metrics_free(mx);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    authz_free(authz);
    return 0;
}
